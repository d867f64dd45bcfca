//! The crate's one error type. No variant ever carries a secret: reasons are static text, and
//! the only dynamic parts are non-secret facts (a type name, a URL scheme, an algorithm name).

use crate::kind::CredentialType;

/// Why a credential name, type or value was rejected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credential type string is not one of the six known types.
    #[error("unknown credential type {0:?}")]
    UnknownType(String),
    /// The credential name breaks the naming rules.
    #[error("invalid credential name: {reason}")]
    InvalidName {
        /// What is wrong with the name.
        reason: &'static str,
    },
    /// The credential name is reserved for the engine's own use.
    #[error("credential name {0:?} is reserved")]
    ReservedName(&'static str),
    /// The value is larger than [`crate::MAX_VALUE_BYTES`].
    #[error("value is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Size of the rejected value in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The value is empty or only whitespace.
    #[error("{kind} value is empty")]
    Empty {
        /// The credential type being validated.
        kind: CredentialType,
    },
    /// The value is not a valid credential of its type.
    #[error("invalid {kind}: {reason}")]
    Invalid {
        /// The credential type being validated.
        kind: CredentialType,
        /// What is wrong, in words that never quote the value.
        reason: &'static str,
    },
    /// A database URL that the URL parser rejects.
    #[error("invalid database-url: {0}")]
    Url(#[source] url::ParseError),
    /// A database URL whose scheme is not a known database engine.
    #[error("unsupported database scheme {0:?}")]
    UnsupportedScheme(String),
    /// A key algorithm this crate cannot check.
    #[error("unsupported {kind} key algorithm: {algorithm}")]
    UnsupportedKey {
        /// The credential type being validated.
        kind: CredentialType,
        /// The algorithm name or object identifier.
        algorithm: String,
    },
    /// The given passphrase does not decrypt the encrypted SSH key.
    #[error("the passphrase does not decrypt the ssh-key")]
    WrongPassphrase,
    /// The TLS private key does not belong to the leaf certificate.
    #[error("the private key does not match the leaf certificate's public key")]
    KeyMismatch,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
