//! [`SecretValue`]: a credential value or passphrase that never prints.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string: zeroed on drop, redacted in `Debug`, no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wraps `value`; the string is zeroed when the `SecretValue` is dropped.
    pub fn new(value: String) -> Self {
        SecretValue(Zeroizing::new(value))
    }

    /// The secret text. Callers must not log or echo it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::new(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        SecretValue::new(value.to_owned())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}
