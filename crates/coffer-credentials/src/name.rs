//! Credential name rules: `[A-Za-z0-9._-]{1,128}`, with `config` reserved.

use crate::error::{Error, Result};

/// Longest allowed credential name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// The name reserved for the tenant's credential defaults (`credentials/config`).
pub const RESERVED_NAME: &str = "config";

/// Checks a credential name: 1 to 128 characters from `[A-Za-z0-9._-]`, not `config`, and not
/// the path segments `.` or `..`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidName {
            reason: "the name is empty",
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidName {
            reason: "the name is longer than 128 characters",
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Error::InvalidName {
            reason: "the name may only contain letters, digits, '.', '_' and '-'",
        });
    }
    if name == "." || name == ".." {
        return Err(Error::InvalidName {
            reason: "'.' and '..' are not names",
        });
    }
    if name == RESERVED_NAME {
        return Err(Error::ReservedName(RESERVED_NAME));
    }
    Ok(())
}
