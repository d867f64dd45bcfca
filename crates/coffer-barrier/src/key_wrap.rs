//! Sealing one small value directly under a 32-byte key, outside the keyring: used for the
//! auto-unseal copy of the root key, which must open before any keyring exists in memory. Same
//! frame format as the barrier, with term 0 and the storage path as associated data.

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use crate::keyring::Term;
use crate::{Error, Result, RootKey, frame};

fn aead(key: &RootKey) -> Result<LessSafeKey> {
    let unbound =
        UnboundKey::new(&AES_256_GCM, key.as_bytes()).map_err(|_| Error::RootKeyLength {
            expected: 32,
            actual: key.as_bytes().len(),
        })?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `plaintext` under `key`, bound to `path`.
pub fn seal_with_key(key: &RootKey, path: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    frame::seal(
        &aead(key)?,
        Term::new(0),
        path,
        plaintext,
        &SystemRandom::new(),
    )
}

/// Opens a value sealed by [`seal_with_key`] for the same `path`; a wrong key, another path or
/// altered bytes are [`Error::Corrupt`].
pub fn open_with_key(key: &RootKey, path: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let corrupt = |reason| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let parsed = frame::parse(sealed).map_err(corrupt)?;
    frame::open(&aead(key)?, &parsed, path).map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = RootKey::generate().expect("key");
        let other = RootKey::generate().expect("key");
        let sealed = seal_with_key(&key, "core/auto-unseal", b"secret").expect("seal");
        let opened = open_with_key(&key, "core/auto-unseal", &sealed).expect("open");
        assert_eq!(opened.as_slice(), b"secret");
        assert!(matches!(
            open_with_key(&other, "core/auto-unseal", &sealed),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            open_with_key(&key, "core/elsewhere", &sealed),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            open_with_key(&key, "core/auto-unseal", &sealed[..10]),
            Err(Error::Corrupt { .. })
        ));
    }
}
