//! The crate's one error type. Parse errors read like Vault's (`failed to parse policy: ...`) so
//! they can be returned to API clients verbatim.

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong turning text into policies. Looking rules up never fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy text is neither valid JSON nor valid HCL; the position is 1-based.
    #[error("failed to parse policy: At {line}:{column}: {message}")]
    Syntax {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The HCL parser's description.
        message: String,
    },
    /// The policy text starts with `{` but is neither valid JSON nor HCL; JSON was meant.
    #[error("failed to parse policy: {0}")]
    Json(serde_json::Error),
    /// The HCL library failed in a way other than a syntax error.
    #[error("failed to parse policy: {0}")]
    Hcl(hcl::Error),
    /// A top-level key other than `path` (or the ignored `name`).
    #[error("failed to parse policy: invalid key {key:?}")]
    UnknownTopLevelKey {
        /// The offending key.
        key: String,
    },
    /// The top level has the right key but the wrong shape (e.g. `path` without a label).
    #[error("failed to parse policy: {what}")]
    MalformedTopLevel {
        /// What was expected.
        what: &'static str,
    },
    /// A capability name Vault does not know.
    #[error("failed to parse policy: path {path:?}: invalid capability {capability:?}")]
    InvalidCapability {
        /// The rule's path pattern.
        path: String,
        /// The unknown capability.
        capability: String,
    },
    /// A legacy `policy = "..."` value other than `deny`, `read`, `write` or `sudo`.
    #[error("failed to parse policy: path {path:?}: invalid policy {value:?}")]
    InvalidLegacyPolicy {
        /// The rule's path pattern.
        path: String,
        /// The unknown shorthand.
        value: String,
    },
    /// A rule with neither `capabilities` nor `policy`.
    #[error("failed to parse policy: path {path:?}: missing \"capabilities\"")]
    MissingCapabilities {
        /// The rule's path pattern.
        path: String,
    },
    /// The path pattern itself is unusable (empty, or a `*` that is not the last character).
    #[error("failed to parse policy: path {path:?}: {reason}")]
    InvalidPattern {
        /// The rule's path pattern.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A key inside a `path` block that Vault's policy language does not have.
    #[error("failed to parse policy: path {path:?}: invalid key {key:?}")]
    UnknownRuleKey {
        /// The rule's path pattern.
        path: String,
        /// The offending key.
        key: String,
    },
    /// A Vault Enterprise key (`control_group`, `mfa_methods`) that Coffer does not implement.
    #[error("failed to parse policy: path {path:?}: {key:?} is not supported")]
    UnsupportedRuleKey {
        /// The rule's path pattern.
        path: String,
        /// The unsupported key.
        key: String,
    },
    /// A known key whose value has the wrong type.
    #[error("failed to parse policy: path {path:?}: {key:?} must be {expected}")]
    InvalidRuleValue {
        /// The rule's path pattern.
        path: String,
        /// The key whose value is wrong.
        key: &'static str,
        /// A description of the accepted values.
        expected: &'static str,
    },
    /// A wrapping TTL that is not a Go-style duration or a number of seconds.
    #[error("failed to parse policy: path {path:?}: invalid {key}: {value:?}")]
    InvalidDuration {
        /// The rule's path pattern.
        path: String,
        /// `min_wrapping_ttl` or `max_wrapping_ttl`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// `max_wrapping_ttl` below `min_wrapping_ttl`.
    #[error(
        "failed to parse policy: path {path:?}: max_wrapping_ttl cannot be less than min_wrapping_ttl"
    )]
    WrappingTtlOrder {
        /// The rule's path pattern.
        path: String,
    },
    /// A policy name that cannot be used.
    #[error("invalid policy name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The built-in `root` policy has no text and cannot be written.
    #[error("cannot update \"root\" policy")]
    RootPolicyImmutable,
    /// A capability name given outside policy text (e.g. `"bogus".parse::<Capability>()`).
    #[error("invalid capability {0:?}")]
    UnknownCapability(String),
}

impl From<hcl::Error> for Error {
    fn from(error: hcl::Error) -> Error {
        match error {
            hcl::Error::Parse(error) => Error::Syntax {
                line: error.location().line(),
                column: error.location().column(),
                message: error.message().to_owned(),
            },
            other => Error::Hcl(other),
        }
    }
}
