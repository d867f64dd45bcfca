//! Integration tests of the barrier over the in-memory storage backend.

mod frames;
mod lifecycle;
mod transactions;
mod views;

use std::sync::Arc;

use coffer_barrier::{Barrier, RootKey};
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;

/// A barrier over fresh in-memory storage, initialized and unsealed, with the raw storage (to
/// inspect and tamper with frames) and the root key.
async fn unsealed() -> (Arc<Barrier>, Storage, RootKey) {
    let storage = Storage::new(MemoryBackend::new());
    let barrier = Arc::new(Barrier::new(storage.clone()));
    let root = RootKey::generate().expect("system rng");
    barrier.initialize(&root).await.expect("initialize");
    barrier.unseal(&root).await.expect("unseal");
    (barrier, storage, root)
}

/// The term number at the front of a stored frame.
fn stored_term(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[..4].try_into().expect("a frame has a 4-byte term"))
}
