//! Storage errors.

/// What can go wrong below the barrier.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A transaction's `Expect` step did not hold; nothing was applied.
    #[error("transaction conflict on {key:?}: nothing was written")]
    Conflict { key: String },
    /// A key that no backend can store (empty, NUL byte, too long).
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The SQLite database file could not be created or opened (for example, its directory is
    /// missing or not writable).
    #[error("cannot open sqlite storage file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    /// SQLite failed; `path` names the database file.
    #[error("sqlite storage at {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection. `target` is
    /// `host:port` and `reason` the cause; neither ever holds the password.
    #[error("cannot connect to postgresql at {target}: {reason}")]
    PostgresConnect { target: String, reason: String },
    /// A PostgreSQL statement failed.
    #[error("postgresql storage: {}", chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The group commit this transaction was part of failed as a whole, so nothing of the group
    /// was written; every transaction of the group shares the cause.
    #[error(transparent)]
    Group(std::sync::Arc<Error>),
    /// A bad backend configuration (an invalid table name, an unsupported `sslmode`, ...).
    #[error("storage configuration: {0}")]
    Config(String),
    /// A backend could not start one of its worker threads.
    #[error("cannot start a storage worker thread: {0}")]
    Worker(std::io::Error),
    /// The backend was closed or its worker stopped.
    #[error("storage backend is closed")]
    Closed,
    /// Another process (a running server) has the SQLite database at `path` open.
    #[error("sqlite storage file {path} is in use by another process: stop the server first")]
    InUse { path: String },
    /// A migration found data in its destination that it did not write.
    #[error(
        "the migration destination is not empty (it holds {key:?}) and holds no checkpoint of \
         this migration"
    )]
    DestinationNotEmpty { key: String },
    /// A migration checkpoint that cannot be resumed here (unreadable, or from another source).
    #[error("migration checkpoint at {key}: {reason}")]
    Checkpoint { key: String, reason: &'static str },
    /// A record read back from a migration destination differs from the source.
    #[error("migration verification failed at {key:?}: {reason}")]
    Mismatch { key: String, reason: &'static str },
}

/// Storage result.
pub type Result<T> = std::result::Result<T, Error>;

/// `error` and its causes, joined by `": "`. `tokio_postgres::Error` shows only its kind ("db
/// error") and keeps the server's message in its source.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}
