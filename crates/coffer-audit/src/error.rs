//! The audit crate's error type: what can go wrong configuring devices, writing records and
//! reading a log back. No variant ever carries a clear token or a logged value.

/// What can go wrong in auditing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A device's configuration (kind, options, mode, salt) is not acceptable.
    #[error("invalid audit device configuration: {0}")]
    Config(String),
    /// A device failed to record a line (or to reopen). `name` is the device's path (or, from a
    /// bare sink, its target) and `reason` says what the operating system or peer reported.
    #[error("audit device {name:?} failed: {reason}")]
    Device { name: String, reason: String },
    /// Devices are enabled but none of them recorded the event (Vault fails the request then).
    #[error("no audit device succeeded in logging the request")]
    NoDevice,
    /// A device with this path is already enabled (Vault's wording).
    #[error("path already in use")]
    Duplicate(String),
    /// The last line of an existing log does not let the hash chain resume.
    #[error("cannot resume the audit hash chain: {0}")]
    Resume(&'static str),
    /// A line of a log being queried is not an audit record (`line` counts from 1).
    #[error("malformed audit record at line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    /// A name given for a filter (`resource`, `action`, `result`, actor) is not known.
    #[error("unknown {kind} {name:?}")]
    UnknownName { kind: &'static str, name: String },
    /// The operating system's random number generator failed (generating a salt).
    #[error("the system random number generator failed")]
    Random,
    /// Reading or writing a log file failed.
    #[error("audit log I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded audit store (SQLite) failed while being read.
    #[error("audit store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A record could not be encoded as JSON.
    #[error("audit record JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Audit result.
pub type Result<T> = std::result::Result<T, Error>;
