//! Errors of the core: what a request can fail with, in Coffer's own vocabulary. The HTTP edge
//! maps each variant to a status code in exactly one table (`coffer-http`).

use std::time::Duration;

/// What a request or a lifecycle call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The barrier is sealed (or the server is not initialized yet).
    #[error("Vault is sealed")]
    Sealed,
    /// `sys/init` on an initialized server.
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// An operation that needs an initialized server.
    #[error("Vault is not initialized")]
    NotInitialized,
    /// The unseal shares combined into a key that does not open the keyring.
    #[error(
        "failed to unseal: the unseal keys do not match this server's root key; progress was reset"
    )]
    WrongUnsealKeys,
    /// An unseal share that cannot be parsed.
    #[error("invalid key: {0}")]
    InvalidUnsealKey(String),
    /// No token, or an unknown, expired or revoked token.
    #[error("permission denied")]
    PermissionDenied,
    /// A valid token whose policies do not grant the operation (or `sudo`) on the path. Vault
    /// words this one as a Go multierror; clients match on the "permission denied" substring.
    #[error("1 error occurred:\n\t* permission denied\n\n")]
    PolicyDenied,
    /// The CLI's preflight (`sys/internal/ui/mounts/<path>`) found no mount the caller may use.
    #[error(
        "preflight capability check returned 403, please ensure client's policies grant access to path \"{path}\""
    )]
    PreflightDenied { path: String },
    /// A token lookup of a token that does not exist.
    #[error("bad token")]
    BadToken,
    /// Input the endpoint cannot accept; the message says what is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// A request path that no backend serves.
    #[error("no handler for route {path:?}. route entry not found.")]
    NoHandler { path: String },
    /// The `X-Vault-Namespace` header names a namespace that does not exist.
    #[error("namespace not found")]
    NamespaceNotFound,
    /// A `sys/` or `auth/token/` path that does not exist.
    #[error("1 error occurred:\n\t* unsupported path\n\n")]
    UnsupportedPath,
    /// The path exists but does not support the operation (e.g. LIST on `sys/seal`).
    #[error("1 error occurred:\n\t* unsupported operation\n\n")]
    UnsupportedOperation,
    /// A stored record that cannot be decoded; names the storage path, never the content.
    #[error("corrupt record at {path:?}: {reason}")]
    CorruptRecord { path: String, reason: String },
    /// The barrier failed (decryption, tampering, storage).
    #[error(transparent)]
    Barrier(#[from] coffer_barrier::Error),
    /// Physical storage failed outside the barrier (seal configuration).
    #[error(transparent)]
    Storage(#[from] coffer_storage::Error),
    /// Audit devices are enabled and none could record the request, so it was refused.
    #[error("no audit device could record the request, so it was refused")]
    AuditFailed,
    /// A concurrent update won; the caller may retry.
    #[error("the record changed while it was being updated; retry")]
    Conflict,
    /// The named thing does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this; the message says why (never which secret it holds).
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The target's state refuses the request (a revoked credential, a lease limit reached).
    #[error("{0}")]
    Refused(String),
    /// An engine could not release ended leases (e.g. its database is down). The leases are
    /// kept, no longer active, and retried with backoff; `sys/leases/failed` lists them.
    /// `what` names the lease (or counts them), `reason` is the engine's message (paths and
    /// reasons, never values).
    #[error("failed to revoke {what}: {reason}; it is kept and retried (see sys/leases/failed)")]
    RevocationFailed { what: String, reason: String },
    /// An external system an engine drives (a database server) could not be reached or refused
    /// the operation; the message says which and why, never a secret.
    #[error("{0}")]
    Upstream(String),
    /// A duration outside what the server accepts.
    #[error("duration {0:?} is out of range")]
    DurationOutOfRange(Duration),
}

/// Core result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidRequest(message.into())
    }

    /// Maps a barrier error, turning a concurrent-update conflict into [`Error::Conflict`] and
    /// the sealed state into [`Error::Sealed`].
    pub(crate) fn from_barrier(error: coffer_barrier::Error) -> Self {
        match error {
            coffer_barrier::Error::Sealed => Error::Sealed,
            coffer_barrier::Error::Conflict { .. } => Error::Conflict,
            other => Error::Barrier(other),
        }
    }
}
