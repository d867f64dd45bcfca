//! The in-memory backend.

use coffer_storage::memory::MemoryBackend;
use coffer_storage::{Storage, testing};

#[tokio::test(flavor = "multi_thread")]
async fn conformance_twice_on_one_backend() {
    let storage = Storage::new(MemoryBackend::new());
    assert_eq!(storage.kind(), "inmem");
    testing::exercise_backend(&storage).await;
    testing::exercise_backend(&storage).await;
    assert_eq!(
        storage.scan("", None, 10).await.ok(),
        Some(Vec::new()),
        "the suite cleans up"
    );
}

#[tokio::test]
async fn empty_store_lists_nothing() {
    let storage = Storage::new(MemoryBackend::new());
    assert_eq!(storage.list("").await.ok(), Some(Vec::new()));
    assert_eq!(storage.scan("", None, 10).await.ok(), Some(Vec::new()));
}
