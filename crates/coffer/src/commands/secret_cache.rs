//! The local encrypted cache behind `coffer run -cache` and `coffer inject -cache` (off by
//! default; also `COFFER_CACHE=1`): what was read from the server, kept for offline fallback.
//!
//! One file per server address and namespace in `$XDG_CACHE_HOME/coffer/` (else
//! `~/.cache/coffer/`), mode 0600 in a 0700 directory, replaced atomically. Layout: a version
//! byte (1), a 16-byte random salt, a 12-byte random nonce, then AES-256-GCM ciphertext and tag
//! of a JSON map `{"<request>": {"at": <unix secs>, "data": ...}}`. The key is derived from the
//! token with HKDF-SHA256 (salt from the file, info `coffer cache v1`): tokens are random,
//! high-entropy strings, so a slow password hash adds nothing. Without the token the file is
//! noise; a file written under another token or damaged reads as an empty cache.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const INFO: &[u8] = b"coffer cache v1";

/// An opened cache: its file, the token that keys it, and the entries it held.
pub(crate) struct Cache {
    file: PathBuf,
    aad: Vec<u8>,
    token: Zeroizing<String>,
    entries: Map<String, Value>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The cache directory: `$XDG_CACHE_HOME/coffer` or `$HOME/.cache/coffer`.
fn directory() -> anyhow::Result<PathBuf> {
    if let Some(base) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(base).join("coffer"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("the cache needs HOME or XDG_CACHE_HOME")?;
    Ok(PathBuf::from(home).join(".cache").join("coffer"))
}

impl Cache {
    /// Opens the cache of `address` and `namespace`, keyed by `token`. A missing, foreign or
    /// damaged file is an empty cache; an unreadable one is an error.
    pub(crate) fn open(
        address: &str,
        namespace: Option<&str>,
        token: &str,
    ) -> anyhow::Result<Cache> {
        let identity = format!("{address}\n{}", namespace.unwrap_or(""));
        let digest = ring::digest::digest(&ring::digest::SHA256, identity.as_bytes());
        let file = directory()?.join(format!("{}.cache", hex::encode(&digest.as_ref()[..16])));
        let mut cache = Cache {
            file,
            aad: identity.into_bytes(),
            token: Zeroizing::new(token.to_owned()),
            entries: Map::new(),
        };
        match std::fs::read(&cache.file) {
            Ok(bytes) => cache.entries = cache.decrypt(&bytes).unwrap_or_default(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the cache {}", cache.file.display()));
            }
        }
        Ok(cache)
    }

    /// The file holding this cache.
    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// The cached answer to `request` and when it was stored (unix seconds).
    pub(crate) fn get(&self, request: &str) -> Option<(&Value, u64)> {
        let entry = self.entries.get(request)?;
        let at = entry.get("at").and_then(Value::as_u64).unwrap_or(0);
        Some((entry.get("data")?, at))
    }

    /// Records the answer to `request` (saved by [`Cache::save`]).
    pub(crate) fn put(&mut self, request: &str, data: Value) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut entry = Map::new();
        entry.insert("at".into(), Value::from(at));
        entry.insert("data".into(), data);
        self.entries
            .insert(request.to_owned(), Value::Object(entry));
    }

    /// Encrypts the entries and replaces the file atomically (temp file, fsync, rename).
    pub(crate) fn save(&self) -> anyhow::Result<()> {
        let dir = self
            .file
            .parent()
            .context("the cache file has no directory")?;
        create_private_dir(dir)?;
        let bytes = self.encrypt()?;
        write_private_atomically(&self.file, &bytes)
            .with_context(|| format!("writing the cache {}", self.file.display()))
    }

    fn key(&self, salt: &[u8]) -> anyhow::Result<LessSafeKey> {
        let prk = Salt::new(HKDF_SHA256, salt).extract(self.token.as_bytes());
        let okm = prk
            .expand(&[INFO], &AES_256_GCM)
            .map_err(|_| anyhow::anyhow!("deriving the cache key failed"))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }

    fn encrypt(&self) -> anyhow::Result<Vec<u8>> {
        let random = SystemRandom::new();
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        random
            .fill(&mut salt)
            .and_then(|()| random.fill(&mut nonce))
            .map_err(|_| anyhow::anyhow!("no randomness for the cache"))?;
        let mut sealed = Zeroizing::new(serde_json::to_vec(&self.entries)?);
        self.key(&salt)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&self.aad),
                &mut *sealed,
            )
            .map_err(|_| anyhow::anyhow!("encrypting the cache failed"))?;
        let mut out = Vec::with_capacity(1 + SALT_LEN + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The entries of an encrypted file; `None` if it is not ours to read.
    fn decrypt(&self, bytes: &[u8]) -> Option<Map<String, Value>> {
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < SALT_LEN + NONCE_LEN {
            return None;
        }
        let (salt, rest) = rest.split_at(SALT_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key(salt)
            .ok()?
            .open_in_place(nonce, Aad::from(&self.aad), &mut buffer)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating the cache directory {}", dir.display()))
}

/// Writes `bytes` to `path` with mode 0600 through a temporary file in the same directory and a
/// rename, so readers see the old file or the new one, never a part.
pub(crate) fn write_private_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".coffer-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .context("setting mode 0600")?;
    }
    temp.write_all(bytes)
        .context("writing the temporary file")?;
    temp.as_file()
        .sync_all()
        .context("syncing the temporary file")?;
    temp.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cache(token: &str) -> Cache {
        Cache {
            file: PathBuf::from("unused"),
            aad: b"http://x\n".to_vec(),
            token: Zeroizing::new(token.to_owned()),
            entries: Map::new(),
        }
    }

    #[test]
    fn round_trips_only_under_the_same_token() {
        let mut writer = cache("s.token-one");
        writer.put("read secret/data/a", json!({"value": "hunter2"}));
        let bytes = writer.encrypt().expect("encrypts");
        assert!(
            !bytes.windows(7).any(|w| w == b"hunter2"),
            "the value is not stored in clear"
        );
        let entries = cache("s.token-one")
            .decrypt(&bytes)
            .expect("same token reads");
        assert_eq!(entries["read secret/data/a"]["data"]["value"], "hunter2");
        assert!(cache("s.token-two").decrypt(&bytes).is_none());
        let mut damaged = bytes.clone();
        if let Some(last) = damaged.last_mut() {
            *last ^= 1;
        }
        assert!(cache("s.token-one").decrypt(&damaged).is_none());
        assert!(cache("s.token-one").decrypt(&bytes[..10]).is_none());
    }
}
