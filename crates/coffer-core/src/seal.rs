//! The seal lifecycle: initialization (root key, Shamir shares, root token), unseal progress
//! with a nonce, sealing, and the unattended auto-unseal key. The seal configuration lives in
//! plain storage at `core/seal-config` (it must be readable while sealed); the auto-unseal copy
//! of the root key at `core/auto-unseal` is sealed under the auto-unseal key.

use std::fmt;

use coffer_barrier::RootKey;
use coffer_barrier::shamir::{self, Share};
use coffer_storage::Storage;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::request::ClientToken;
use crate::{Error, Result};

const SEAL_CONFIG_PATH: &str = "core/seal-config";
const AUTO_UNSEAL_PATH: &str = "core/auto-unseal";

/// How the root key is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealConfig {
    /// Number of shares.
    pub shares: u8,
    /// Shares needed to unseal.
    pub threshold: u8,
}

#[derive(Serialize, Deserialize)]
struct SealConfigRecord {
    shares: u8,
    threshold: u8,
}

impl SealConfig {
    /// Validates share and threshold counts as Vault does.
    pub fn new(shares: u64, threshold: u64) -> Result<SealConfig> {
        if shares == 0 {
            return Err(Error::invalid(
                "invalid seal configuration: secret shares must be at least one",
            ));
        }
        if shares > 255 {
            return Err(Error::invalid(
                "invalid seal configuration: secret shares must be at most 255",
            ));
        }
        if threshold == 0 {
            return Err(Error::invalid(
                "invalid seal configuration: secret threshold must be at least one",
            ));
        }
        if threshold > shares {
            return Err(Error::invalid(
                "invalid seal configuration: secret threshold cannot be larger than secret shares",
            ));
        }
        if shares > 1 && threshold == 1 {
            return Err(Error::invalid(
                "invalid seal configuration: threshold must be greater than one for multiple shares",
            ));
        }
        Ok(SealConfig {
            shares: shares as u8,
            threshold: threshold as u8,
        })
    }

    pub(crate) async fn load(storage: &Storage) -> Result<Option<SealConfig>> {
        let Some(bytes) = storage.get(SEAL_CONFIG_PATH).await? else {
            return Ok(None);
        };
        let record: SealConfigRecord = crate::record::decode(&bytes, SEAL_CONFIG_PATH)?;
        SealConfig::new(record.shares.into(), record.threshold.into())
            .map(Some)
            .map_err(|_| Error::CorruptRecord {
                path: SEAL_CONFIG_PATH.into(),
                reason: "invalid share counts".into(),
            })
    }

    pub(crate) async fn store(&self, storage: &Storage) -> Result<()> {
        let record = SealConfigRecord {
            shares: self.shares,
            threshold: self.threshold,
        };
        storage
            .put(SEAL_CONFIG_PATH, &crate::record::encode(&record))
            .await?;
        Ok(())
    }
}

/// The key that unseals the server unattended (a key file or environment variable). Whoever
/// holds it and the storage holds every secret: this trades security for unattended restarts.
pub struct AutoUnsealKey(RootKey);

impl AutoUnsealKey {
    /// Parses 32 key bytes written as base64 or hex.
    pub fn parse(text: &str) -> Result<AutoUnsealKey> {
        let text = text.trim();
        let bytes = decode_key_text(text).ok_or_else(|| {
            Error::invalid("auto-unseal key must be 32 bytes written as base64 or hex")
        })?;
        let key = RootKey::from_bytes(&bytes)
            .map_err(|_| Error::invalid("auto-unseal key must be 32 bytes"))?;
        Ok(AutoUnsealKey(key))
    }

    pub(crate) async fn store_root(&self, storage: &Storage, root: &RootKey) -> Result<()> {
        let sealed = coffer_barrier::seal_with_key(&self.0, AUTO_UNSEAL_PATH, root.as_bytes())?;
        storage.put(AUTO_UNSEAL_PATH, &sealed).await?;
        Ok(())
    }

    pub(crate) async fn load_root(&self, storage: &Storage) -> Result<Option<RootKey>> {
        let Some(sealed) = storage.get(AUTO_UNSEAL_PATH).await? else {
            return Ok(None);
        };
        let opened = coffer_barrier::open_with_key(&self.0, AUTO_UNSEAL_PATH, &sealed).map_err(|_| {
            Error::invalid("the auto-unseal key does not open core/auto-unseal: wrong key for this storage")
        })?;
        Ok(Some(RootKey::from_bytes(&opened)?))
    }
}

impl fmt::Debug for AutoUnsealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AutoUnsealKey(<redacted>)")
    }
}

fn decode_key_text(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    if text.len() == 64
        && let Ok(bytes) = hex::decode(text)
    {
        return Some(Zeroizing::new(bytes));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .map(Zeroizing::new)
}

/// Parameters of `sys/init`.
#[derive(Debug, Clone, Copy)]
pub struct InitParams {
    /// How to split the root key.
    pub seal: SealConfig,
}

/// What `sys/init` hands out, once.
pub struct InitResult {
    /// The unseal shares.
    pub shares: Vec<Share>,
    /// The initial root token.
    pub root_token: ClientToken,
}

impl fmt::Debug for InitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResult")
            .field("shares", &self.shares.len())
            .finish_non_exhaustive()
    }
}

/// Unseal progress: the shares received so far for the current attempt.
#[derive(Default)]
pub(crate) struct UnsealProgress {
    nonce: Option<String>,
    shares: Vec<Share>,
}

impl UnsealProgress {
    pub(crate) fn reset(&mut self) {
        self.nonce = None;
        self.shares.clear();
    }

    pub(crate) fn progress(&self) -> usize {
        self.shares.len()
    }

    pub(crate) fn nonce(&self) -> &str {
        self.nonce.as_deref().unwrap_or("")
    }

    /// Adds a share unless it was already given; returns whether it was new.
    pub(crate) fn add(&mut self, share: Share) -> bool {
        if self.shares.contains(&share) {
            return false;
        }
        if self.nonce.is_none() {
            self.nonce = Some(uuid::Uuid::new_v4().to_string());
        }
        self.shares.push(share);
        true
    }

    /// Combines the shares into a key and resets progress.
    pub(crate) fn take_key(&mut self) -> Result<RootKey> {
        let key = shamir::combine(&self.shares);
        self.reset();
        key.map_err(|e| Error::InvalidUnsealKey(crate::node::strip_invalid_key(e.to_string())))
    }
}

/// The seal status, as `sys/seal-status` reports it.
#[derive(Debug, Clone)]
pub struct SealStatus {
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Threshold (0 when uninitialized).
    pub threshold: u8,
    /// Shares (0 when uninitialized).
    pub shares: u8,
    /// Shares received in the current unseal attempt.
    pub progress: usize,
    /// The current attempt's nonce ("" when none).
    pub nonce: String,
    /// Cluster name and id, known once unsealed.
    pub cluster: Option<ClusterInfo>,
    /// Storage backend kind.
    pub storage_type: &'static str,
}

/// The cluster's name and id, generated at init and stored behind the barrier.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// Human name.
    pub name: String,
    /// UUID.
    pub id: String,
}
