//! `PolicyName`: a validated, lowercased policy name, plus the two built-in names.

use std::fmt;

use crate::error::{Error, Result};

/// Name of the built-in policy that grants everything and has no text.
pub const ROOT_POLICY: &str = "root";

/// Name of the built-in policy attached to every token unless `no_default_policy` is set.
pub const DEFAULT_POLICY: &str = "default";

/// The name of a policy. Like Vault, names are trimmed and lowercased; they must be non-empty,
/// and may not contain `/` (they are the last segment of `sys/policies/acl/<name>`) or control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);

impl PolicyName {
    /// Validates and normalises `name`.
    pub fn new(name: &str) -> Result<PolicyName> {
        let invalid = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let normalised = name.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if normalised.contains('/') {
            return Err(invalid("must not contain '/'"));
        }
        if normalised.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        Ok(PolicyName(normalised))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the built-in `root` policy.
    pub fn is_root(&self) -> bool {
        self.0 == ROOT_POLICY
    }

    /// Whether this is the built-in `default` policy.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_POLICY
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PolicyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The name `root`.
pub fn root_policy_name() -> PolicyName {
    PolicyName(ROOT_POLICY.to_owned())
}

/// The name `default`.
pub fn default_policy_name() -> PolicyName {
    PolicyName(DEFAULT_POLICY.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: std::result::Result<&str, &str>) {
        let actual = PolicyName::new(input).map(|name| name.as_str().to_owned());
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected, "input {input:?}"),
            (Err(Error::InvalidName { reason, .. }), Err(expected)) => {
                assert_eq!(reason, expected, "input {input:?}")
            }
            (actual, expected) => panic!("input {input:?}: got {actual:?}, want {expected:?}"),
        }
    }

    #[test]
    fn names() {
        check("app-rw", Ok("app-rw"));
        check("  App_RW ", Ok("app_rw"));
        check("ROOT", Ok("root"));
        check("", Err("must not be empty"));
        check("   ", Err("must not be empty"));
        check("a/b", Err("must not contain '/'"));
        check("a\nb", Err("must not contain control characters"));
        assert!(root_policy_name().is_root());
        assert!(default_policy_name().is_default());
        assert!(!default_policy_name().is_root());
    }
}
