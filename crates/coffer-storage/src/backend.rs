//! The `Backend` plug point and the `Storage` façade the rest of Coffer holds.

use std::sync::Arc;

use async_trait::async_trait;

use crate::Result;
use crate::ha::HaBackend;

/// A stored record: its key and its value.
pub type Record = (String, Vec<u8>);

/// One step of an atomic transaction.
///
/// A transaction is a list of steps applied all-or-nothing, in order: if any `Expect` or
/// `ExpectEmpty` does not hold, the backend applies nothing and returns
/// [`crate::Error::Conflict`]. Both see the steps before them in the same transaction.
/// Transactions that touch a common key (any step naming it) behave as if they ran one after the
/// other, so two writers can never both pass the same `Expect`; transactions that only `Expect`
/// a key do not wait for each other.
#[derive(Clone, PartialEq, Eq)]
pub enum TxOp {
    /// Write `value` at `key`, replacing what is there.
    Put { key: String, value: Vec<u8> },
    /// Remove `key`; removing a missing key is not an error.
    Delete { key: String },
    /// Require that `key` currently holds exactly `value` (`None`: that it is absent).
    Expect { key: String, value: Option<Vec<u8>> },
    /// Require that no key starts with `prefix`.
    ///
    /// Every backend checks it against everything committed before the transaction took its
    /// locks. The SQLite and in-memory stores apply one transaction at a time, so nothing can
    /// slip in afterwards; on PostgreSQL a transaction adding a key under `prefix` is ordered
    /// against this one only when the two share a key (one writes a key the other `Expect`s or
    /// writes), so callers make every writer under `prefix` touch a guard key that the
    /// transaction checking emptiness deletes or writes.
    ExpectEmpty { prefix: String },
}

impl TxOp {
    /// The key this step touches (for `ExpectEmpty`, the prefix it checks).
    pub fn key(&self) -> &str {
        match self {
            TxOp::Put { key, .. } | TxOp::Delete { key } | TxOp::Expect { key, .. } => key,
            TxOp::ExpectEmpty { prefix } => prefix,
        }
    }

    /// Checks the step's key (a prefix may be any key fragment, the empty one included).
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            TxOp::ExpectEmpty { prefix } => crate::key::validate_fragment(prefix),
            other => crate::key::validate(other.key()),
        }
    }
}

impl std::fmt::Debug for TxOp {
    // Values are ciphertext, but they are still never worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxOp::Put { key, value } => write!(f, "Put({key:?}, {} bytes)", value.len()),
            TxOp::Delete { key } => write!(f, "Delete({key:?})"),
            TxOp::Expect { key, value } => {
                write!(
                    f,
                    "Expect({key:?}, {:?} bytes)",
                    value.as_ref().map(Vec::len)
                )
            }
            TxOp::ExpectEmpty { prefix } => write!(f, "ExpectEmpty({prefix:?})"),
        }
    }
}

/// A durable, ordered key/value store. Keys are UTF-8 strings compared byte-wise; `/` separates
/// folders for [`Backend::list`]. Every method returns only after the change is durable.
///
/// A key must be non-empty, hold no NUL byte and be at most [`crate::MAX_KEY_BYTES`] long;
/// otherwise the call fails with [`crate::Error::InvalidKey`] (prefixes and scan cursors may be
/// empty but obey the other two rules).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The value at `key`, or `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes `value` at `key`.
    async fn put(&self, key: &str, value: &[u8]) -> Result<()>;

    /// Removes `key`; a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// The immediate children of `prefix`, sorted byte-wise and de-duplicated: a key
    /// `prefix + "a"` yields `"a"`, and any key `prefix + "b/..."` yields the folder `"b/"`. A
    /// key equal to `prefix` is not its own child. A missing prefix lists as empty.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Every full key starting with `prefix` and sorting strictly after `after` (when given),
    /// in byte order, at most `limit` of them. Used for recursive listing, reaping and migration.
    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// What [`Backend::scan`] finds, each key with its value: one read for a whole range (a
    /// folder index, say) instead of a read per key.
    async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>>;

    /// Applies `ops` atomically and durably, or nothing at all.
    async fn transaction(&self, ops: Vec<TxOp>) -> Result<()>;

    /// A short name for logs and `sys/seal-status` (`inmem`, `sqlite`, `postgresql`).
    fn kind(&self) -> &'static str;

    /// Flushes and releases resources; later calls may fail. Called once at shutdown.
    async fn close(&self) -> Result<()>;
}

/// The storage façade: a cheap-to-clone handle over one backend.
#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
    ha: Option<Arc<dyn HaBackend>>,
}

impl Storage {
    /// Wraps a backend.
    pub fn new(backend: impl Backend) -> Self {
        Self {
            backend: Arc::new(backend),
            ha: None,
        }
    }

    /// Wraps an already shared backend.
    pub fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Self { backend, ha: None }
    }

    /// Wraps a backend that several nodes share and that can elect the active one.
    pub fn with_ha<B: Backend + HaBackend>(backend: Arc<B>) -> Self {
        Self {
            backend: backend.clone(),
            ha: Some(backend),
        }
    }

    /// The same store behind a read cache of at most about `budget_bytes` (see
    /// [`crate::cache`]). Only for a store this process alone writes: a store with HA enabled
    /// is shared by several nodes and is returned unchanged.
    pub fn with_read_cache(self, budget_bytes: usize) -> Self {
        if self.ha.is_some() {
            return self;
        }
        Self {
            backend: Arc::new(crate::cache::CachedBackend::new(self.backend, budget_bytes)),
            ha: self.ha,
        }
    }

    /// The HA ability, when the backend has it and HA is enabled.
    pub fn ha(&self) -> Option<&Arc<dyn HaBackend>> {
        self.ha.as_ref()
    }

    /// See [`Backend::get`].
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.backend.get(key).await
    }

    /// See [`Backend::put`].
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.backend.put(key, value).await
    }

    /// See [`Backend::delete`].
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.backend.delete(key).await
    }

    /// See [`Backend::list`].
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.backend.list(prefix).await
    }

    /// See [`Backend::scan`].
    pub async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.backend.scan(prefix, after, limit).await
    }

    /// See [`Backend::scan_records`].
    pub async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.backend.scan_records(prefix, after, limit).await
    }

    /// See [`Backend::transaction`].
    pub async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
        self.backend.transaction(ops).await
    }

    /// See [`Backend::kind`].
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// See [`Backend::close`].
    pub async fn close(&self) -> Result<()> {
        self.backend.close().await
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("kind", &self.kind())
            .field("ha", &self.ha.is_some())
            .finish()
    }
}
