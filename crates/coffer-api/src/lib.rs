//! Wire types of Coffer's Vault-compatible HTTP API, shared by the server's HTTP edge and the
//! client. Field names and shapes follow Vault/OpenBao exactly (see `reference/vault-api.md`).
//! Pure data: no IO, no HTTP library, no core types.

pub mod credentials;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The envelope of every JSON reply on logical paths.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Envelope {
    /// The request id.
    #[serde(default)]
    pub request_id: String,
    /// Lease id ("" when none).
    #[serde(default)]
    pub lease_id: String,
    /// Whether the lease is renewable.
    #[serde(default)]
    pub renewable: bool,
    /// Lease duration in seconds.
    #[serde(default)]
    pub lease_duration: u64,
    /// The payload.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// Response-wrapping information.
    #[serde(default)]
    pub wrap_info: Option<Value>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// A token issued or renewed.
    #[serde(default)]
    pub auth: Option<Auth>,
}

/// The `auth` block.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct Auth {
    /// The token (secret).
    pub client_token: String,
    /// Its accessor.
    pub accessor: String,
    /// Effective policies.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Token policies.
    #[serde(default)]
    pub token_policies: Vec<String>,
    /// Policies from the identity's entity and groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_policies: Vec<String>,
    /// Metadata (null when empty).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub lease_duration: u64,
    /// Whether it can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Identity entity id.
    #[serde(default)]
    pub entity_id: String,
    /// `service` or `batch`.
    #[serde(default)]
    pub token_type: String,
    /// Whether it has no parent.
    #[serde(default)]
    pub orphan: bool,
    /// MFA requirement (always null).
    #[serde(default)]
    pub mfa_requirement: Option<Value>,
    /// Remaining uses.
    #[serde(default)]
    pub num_uses: u32,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .finish_non_exhaustive()
    }
}

/// The error body: `{"errors":[...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ErrorBody {
    /// Messages (may be empty, e.g. a 404).
    #[serde(default)]
    pub errors: Vec<String>,
}

/// `GET sys/seal-status` (and the reply of `sys/unseal`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealStatus {
    /// Always "shamir".
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: u8,
    /// Shares.
    pub n: u8,
    /// Unseal progress.
    pub progress: usize,
    /// Current unseal attempt nonce.
    pub nonce: String,
    /// Server version.
    pub version: String,
    /// Build date.
    #[serde(default)]
    pub build_date: String,
    /// Always false.
    #[serde(default)]
    pub migration: bool,
    /// Always false.
    #[serde(default)]
    pub recovery_seal: bool,
    /// Cluster name (when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Storage kind.
    #[serde(default)]
    pub storage_type: String,
}

/// `GET sys/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// Whether initialized.
    pub initialized: bool,
    /// Whether sealed.
    pub sealed: bool,
    /// Whether a standby.
    pub standby: bool,
    /// Always "disabled" (or "unknown" when sealed).
    pub replication_performance_mode: String,
    /// Always "disabled" (or "unknown" when sealed).
    pub replication_dr_mode: String,
    /// Server time, Unix seconds.
    pub server_time_utc: u64,
    /// Server version.
    pub version: String,
    /// Cluster name (when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Coffer's addition: audit devices whose last write failed, with the error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_devices_failing: BTreeMap<String, String>,
}

/// `PUT sys/init` request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct InitRequest {
    /// Number of shares.
    #[serde(default)]
    pub secret_shares: u64,
    /// Threshold.
    #[serde(default)]
    pub secret_threshold: u64,
}

/// `PUT sys/init` reply.
#[derive(Clone, Serialize, Deserialize)]
pub struct InitResponse {
    /// Shares in hex.
    pub keys: Vec<String>,
    /// Shares in base64.
    pub keys_base64: Vec<String>,
    /// The root token.
    pub root_token: String,
}

impl std::fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// `GET sys/init` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitStatus {
    /// Whether initialized.
    pub initialized: bool,
}

/// `PUT sys/unseal` request.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct UnsealRequest {
    /// One share, hex or base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Forget the current attempt.
    #[serde(default)]
    pub reset: bool,
}

impl std::fmt::Debug for UnsealRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsealRequest")
            .field("reset", &self.reset)
            .finish_non_exhaustive()
    }
}

/// `GET sys/leader`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Leader {
    /// Whether HA is enabled.
    pub ha_enabled: bool,
    /// Whether this node is the active one.
    pub is_self: bool,
    /// When it became active.
    pub active_time: String,
    /// The active node's address.
    pub leader_address: String,
    /// The active node's cluster address.
    pub leader_cluster_address: String,
    /// Always false.
    pub performance_standby: bool,
    /// Always 0.
    pub performance_standby_last_remote_wal: u64,
}

/// `POST auth/token/create` request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TokenCreateRequest {
    /// Policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// TTL, e.g. "1h".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Explicit max TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_max_ttl: Option<String>,
    /// Period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_uses: Option<u32>,
    /// Renewable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable: Option<bool>,
    /// No default policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_default_policy: bool,
    /// Create an orphan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_parent: bool,
}
