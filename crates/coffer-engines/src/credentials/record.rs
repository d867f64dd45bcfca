//! What the credentials engine stores in its mount's view (all behind the barrier):
//!
//! - `cred/<name>` → [`CredentialRecord`]: type, metadata (the caller's and the extracted,
//!   kept apart so extraction never overwrites the caller), policy, state, versions;
//! - `value/<name>/<version>` → [`StoredValue`]: the value and optional passphrase of one
//!   version, deleted ("destroyed") once a rotated version has no lease left;
//! - `config` → the tenant defaults.

use std::collections::BTreeMap;
use std::time::SystemTime;

use coffer_barrier::View;
use coffer_core::clock::rfc3339;
use coffer_core::engine::Identity;
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::policy::{CredentialPolicy, TenantDefaults};
use crate::barrier_error;

/// A credential's or a version's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Available for leasing.
    Active,
    /// Replaced by a newer version; its leases run out, no new ones.
    Rotated,
    /// Permanently disabled; every lease was invalidated.
    Revoked,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Rotated => "rotated",
            State::Revoked => "revoked",
        }
    }
}

/// One version of a credential's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) version: u64,
    pub(crate) state: State,
    pub(crate) created_at: String,
    pub(crate) created_by: Identity,
    #[serde(default)]
    pub(crate) rotated_at: Option<String>,
    /// Whether the value was deleted (a rotated version no lease holds any more).
    #[serde(default)]
    pub(crate) destroyed: bool,
    /// What extraction learned from this version's value.
    #[serde(default)]
    pub(crate) extracted: BTreeMap<String, String>,
    /// When the value says it stops working (certificates, OAuth tokens), RFC 3339.
    #[serde(default)]
    pub(crate) expires_at: Option<String>,
    /// Whether a passphrase is stored with the value.
    #[serde(default)]
    pub(crate) has_passphrase: bool,
    /// The database login Coffer created for this version (`rotate` with `generate`), dropped
    /// when the value is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) database_login: Option<super::dblogin::VersionLogin>,
}

/// A credential without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// What the caller set.
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) policy: CredentialPolicy,
    pub(crate) state: State,
    pub(crate) version: u64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) created_by: Identity,
    #[serde(default)]
    pub(crate) revoked_at: Option<String>,
    pub(crate) versions: Vec<VersionRecord>,
}

impl CredentialRecord {
    /// The current version.
    pub(crate) fn current(&self) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.version == self.version)
    }

    pub(crate) fn version_mut(&mut self, version: u64) -> Option<&mut VersionRecord> {
        self.versions.iter_mut().find(|v| v.version == version)
    }

    /// Caller metadata over the current version's extracted facts: extraction never
    /// overwrites a key the caller set.
    pub(crate) fn merged_metadata(&self) -> BTreeMap<String, String> {
        let mut merged = self
            .current()
            .map(|v| v.extracted.clone())
            .unwrap_or_default();
        merged.extend(self.metadata.clone());
        merged
    }

    /// The wire form (never the value).
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("name".into(), json!(self.name));
        out.insert("type".into(), json!(self.kind));
        out.insert("metadata".into(), json!(self.merged_metadata()));
        out.insert("policy".into(), self.policy.to_json());
        out.insert("state".into(), json!(self.state.as_str()));
        out.insert("version".into(), json!(self.version));
        out.insert("createdAt".into(), json!(self.created_at));
        out.insert("updatedAt".into(), json!(self.updated_at));
        out.insert("createdBy".into(), json!(self.created_by));
        if let Some(at) = self.current().and_then(|v| v.expires_at.clone()) {
            out.insert("expiresAt".into(), json!(at));
        }
        if let Some(at) = &self.revoked_at {
            out.insert("revokedAt".into(), json!(at));
        }
        out
    }
}

/// One version's secret parts; zeroed on drop, never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct StoredValue {
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) passphrase: Option<String>,
}

impl std::fmt::Debug for StoredValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredValue(<redacted>)")
    }
}

/// Time as the API shows it.
pub(crate) fn timestamp(now: SystemTime) -> String {
    rfc3339(now)
}

pub(crate) fn credential_key(name: &str) -> String {
    format!("cred/{name}")
}

pub(crate) fn value_key(name: &str, version: u64) -> String {
    format!("value/{name}/{version}")
}

const CONFIG_KEY: &str = "config";

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], storage: &View, key: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::CorruptRecord {
        path: format!("{}{key}", storage.prefix()),
        reason: format!("bad record: {e}"),
    })
}

/// Encodes a record (JSON); values go through `Zeroizing` buffers.
pub(crate) fn encode<T: Serialize>(record: &T) -> Zeroizing<Vec<u8>> {
    // Records are strings, numbers and string maps: serializing cannot fail.
    Zeroizing::new(serde_json::to_vec(record).expect("credential records always serialize"))
}

/// Loads a credential, with the stamp a conditional write needs.
pub(crate) async fn load(
    storage: &View,
    name: &str,
) -> Result<Option<(CredentialRecord, coffer_barrier::Stamp)>> {
    let key = credential_key(name);
    match storage.get_stamped(&key).await.map_err(barrier_error)? {
        Some((bytes, stamp)) => Ok(Some((decode(&bytes, storage, &key)?, stamp))),
        None => Ok(None),
    }
}

/// Loads one version's value; `None` once destroyed.
pub(crate) async fn load_value(
    storage: &View,
    name: &str,
    version: u64,
) -> Result<Option<StoredValue>> {
    let key = value_key(name, version);
    match storage.get(&key).await.map_err(barrier_error)? {
        Some(bytes) => Ok(Some(decode(&bytes, storage, &key)?)),
        None => Ok(None),
    }
}

/// Every credential name, sorted.
pub(crate) async fn names(storage: &View) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = storage
            .scan("cred/", after.as_deref(), 512)
            .await
            .map_err(barrier_error)?;
        let Some(last) = keys.last().cloned() else {
            names.sort();
            return Ok(names);
        };
        names.extend(
            keys.iter()
                .filter_map(|k| k.strip_prefix("cred/"))
                .map(str::to_owned),
        );
        after = Some(last);
    }
}

/// The tenant defaults (empty when never set).
pub(crate) async fn load_config(storage: &View) -> Result<TenantDefaults> {
    match storage.get(CONFIG_KEY).await.map_err(barrier_error)? {
        Some(bytes) => decode(&bytes, storage, CONFIG_KEY),
        None => Ok(TenantDefaults::default()),
    }
}

/// Stores the tenant defaults.
pub(crate) async fn save_config(storage: &View, config: &TenantDefaults) -> Result<()> {
    storage
        .put(CONFIG_KEY, &encode(config))
        .await
        .map_err(barrier_error)
}
