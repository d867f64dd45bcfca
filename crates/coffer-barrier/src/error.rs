//! The barrier's error type: what can go wrong sealing, unsealing and reading through the barrier.

use crate::keyring::Term;

/// What can go wrong in the barrier. No variant ever carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data method was called while the barrier is sealed.
    #[error("the barrier is sealed")]
    Sealed,
    /// `core/keyring` does not exist: the barrier was never initialized.
    #[error("the barrier is not initialized")]
    NotInitialized,
    /// `initialize` found an existing keyring.
    #[error("the barrier is already initialized")]
    AlreadyInitialized,
    /// The root key does not open the keyring.
    #[error("the root key does not open the keyring")]
    WrongKey,
    /// A stored entry cannot be decrypted; `path` is the full storage path.
    #[error("stored entry {path:?} is corrupt: {reason}")]
    Corrupt { path: String, reason: Corruption },
    /// Root key bytes of the wrong length.
    #[error("a root key is {expected} bytes, got {actual}")]
    RootKeyLength { expected: usize, actual: usize },
    /// An unseal key share that cannot be parsed or used (the wording follows Vault's
    /// `invalid key: ...` messages).
    #[error("invalid key: {0}")]
    InvalidShare(&'static str),
    /// The same share was given twice to `combine`.
    #[error("invalid key: the same share was given more than once")]
    DuplicateShare,
    /// Bad `shares`/`threshold` for a Shamir split.
    #[error("invalid key split: {0}")]
    InvalidSplit(&'static str),
    /// A path a view or the barrier refuses (escaping a view, or reserved for the keyring).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A transaction's `Expect` did not hold (or the keyring changed under a rotation);
    /// nothing was written.
    #[error("transaction conflict on {path:?}: nothing was written")]
    Conflict { path: String },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// AES-GCM refused to seal a value (it is larger than AES-GCM allows).
    #[error("cannot encrypt the entry for {path:?}: value too large")]
    Encrypt { path: String },
    /// Every term number has been used; the keyring cannot rotate any further.
    #[error("the keyring has used every term number")]
    TermsExhausted,
    /// The storage below the barrier failed.
    #[error("storage: {0}")]
    Storage(#[from] coffer_storage::Error),
}

/// Why a stored frame could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// Fewer bytes than a frame's header and tag.
    #[error("frame is truncated ({len} bytes)")]
    Truncated { len: usize },
    /// A version byte this barrier does not know.
    #[error("unknown frame version {0:#04x}")]
    UnknownVersion(u8),
    /// A term the keyring does not hold.
    #[error("unknown key term {0}")]
    UnknownTerm(Term),
    /// AES-GCM authentication failed: the bytes were altered or belong to another path.
    #[error("authentication failed (altered, or copied from another path)")]
    Authentication,
    /// The decrypted keyring does not decode.
    #[error("keyring does not decode: {0}")]
    Keyring(&'static str),
}

/// Barrier result.
pub type Result<T> = std::result::Result<T, Error>;
