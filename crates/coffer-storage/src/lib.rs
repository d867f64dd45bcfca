//! Untrusted durable bytes. This crate stores opaque `(key, value)` records with ordered prefix
//! listing and atomic transactions, behind the small [`Backend`] trait, and ships three backends:
//! in-memory, SQLite (embedded default) and PostgreSQL. It never sees plaintext (the barrier
//! encrypts above it) and knows nothing of HTTP, tokens or secrets.
//!
//! Every backend passes the one conformance suite in [`testing`].

mod backend;
pub mod cache;
mod error;
pub mod ha;
mod key;
pub mod memory;
pub mod migration;
pub mod postgres;
mod postgres_tls;
pub mod sqlite;
pub mod testing;

pub use backend::{Backend, Record, Storage, TxOp};
pub use error::{Error, Result};
pub use ha::{ChangeClassifier, HaBackend, HaLeader, HaNode};
pub use key::MAX_KEY_BYTES;
