//! The root key: the 32-byte AES-256 key that seals the keyring, and that Shamir shares rebuild.

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Length of the root key in bytes (AES-256).
pub(crate) const ROOT_KEY_LEN: usize = 32;

/// The root key. Its bytes are zeroized on drop and never printed.
pub struct RootKey {
    bytes: Zeroizing<[u8; ROOT_KEY_LEN]>,
}

impl RootKey {
    /// A fresh random root key from the operating system's generator.
    pub fn generate() -> Result<RootKey> {
        let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Random)?;
        Ok(RootKey { bytes })
    }

    /// A root key from exactly 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<RootKey> {
        let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        if b.len() != ROOT_KEY_LEN {
            return Err(Error::RootKeyLength {
                expected: ROOT_KEY_LEN,
                actual: b.len(),
            });
        }
        bytes.copy_from_slice(b);
        Ok(RootKey { bytes })
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; ROOT_KEY_LEN] {
        &self.bytes
    }
}

impl PartialEq for RootKey {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(other.bytes.as_ref()).into()
    }
}

impl Eq for RootKey {}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_checks_the_length() {
        fn check(len: usize, expected: Option<usize>) {
            let input = vec![7u8; len];
            match (RootKey::from_bytes(&input), expected) {
                (Ok(key), None) => assert_eq!(key.as_bytes(), &[7u8; 32]),
                (
                    Err(Error::RootKeyLength {
                        expected: 32,
                        actual,
                    }),
                    Some(want),
                ) => {
                    assert_eq!(actual, want)
                }
                (other, _) => panic!("length {len}: unexpected {other:?}"),
            }
        }
        check(32, None);
        check(0, Some(0));
        check(16, Some(16));
        check(31, Some(31));
        check(33, Some(33));
        check(64, Some(64));
    }

    #[test]
    fn generated_keys_differ_and_compare_by_value() {
        let a = RootKey::generate().expect("rng");
        let b = RootKey::generate().expect("rng");
        assert_ne!(a, b);
        let a_again = RootKey::from_bytes(a.as_bytes()).expect("32 bytes");
        assert_eq!(a, a_again);
    }

    #[test]
    fn debug_redacts() {
        let key = RootKey::from_bytes(&[0xAB; 32]).expect("32 bytes");
        let shown = format!("{key:?}");
        assert_eq!(shown, "RootKey(<redacted>)");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
    }
}
