//! Wire types of the typed credentials engine (`credentials/`) and of Coffer's lease API
//! (`sys/leases/*`), as DESIGN.md §4 fixes them: the engine's payloads use camelCase field
//! names, `sys/leases/lookup` keeps Vault's snake_case. Secret values travel in
//! [`SecretString`], which never shows in `Debug`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// A secret string (a credential's value or passphrase): zeroed on drop, redacted in `Debug`,
/// no `Display`. Serialized as the plain string, since that is what the wire carries.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> SecretString {
        SecretString(Zeroizing::new(secret.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// A lease id: the path that issued the lease plus a random part, e.g.
/// `credentials/db/lease/3f2a…`. Reading that same path returns the lease.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseId(String);

impl LeaseId {
    /// A lease id as given, without surrounding whitespace and slashes.
    pub fn new(id: impl AsRef<str>) -> LeaseId {
        LeaseId(id.as_ref().trim().trim_matches('/').to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a token or a lease stands for: `{type, name}`, e.g. `agent:deploy`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// `user`, `agent`, `token`, or another kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user's or agent's name.
    pub name: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// The holder of a lease as a lease shows it (and as a broker names it when asking for one):
/// an identity plus the purpose given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseIdentity {
    /// `user`, `agent`, or another kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user's or agent's name.
    pub name: String,
    /// Why the lease was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// A credential's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Current and leasable.
    Active,
    /// Replaced by a newer version (versions only).
    Rotated,
    /// Ended: no version can be leased or read.
    Revoked,
}

impl CredentialState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialState::Active => "active",
            CredentialState::Rotated => "rotated",
            CredentialState::Revoked => "revoked",
        }
    }
}

/// Rotation reminders of a credential policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    /// Whether reminders are raised.
    pub enabled: bool,
    /// How often to rotate, e.g. `90d`.
    pub period: String,
    /// How long before the due date to remind, e.g. `7d`.
    pub notify_before: String,
}

/// A credential's policy as the server reports it; absent fields fall back to the tenant's
/// defaults (`credentials/config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialPolicy {
    /// Lease TTL when the request names none, e.g. `30m`.
    #[serde(
        rename = "defaultLeaseTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_lease_ttl: Option<String>,
    /// Longest lease TTL; longer requests are capped.
    #[serde(
        rename = "maxLeaseTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_lease_ttl: Option<String>,
    /// Most active leases at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_leases: Option<u64>,
    /// Identity patterns (`*` globs) that may hold leases; anyone the ACL admits when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_identities: Option<Vec<Identity>>,
    /// Rotation reminders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPolicy>,
}

/// A credential, never with its value (`GET credentials/<name>` and the replies of create,
/// patch, rotate and revoke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Stable id.
    pub id: String,
    /// The name, unique in its mount.
    pub name: String,
    /// `api-key`, `oauth-token`, `ssh-key`, `tls-certificate`, `database-url` or
    /// `generic-secret`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The caller's metadata merged with the facts extracted from the value.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The lease policy.
    #[serde(default)]
    pub policy: CredentialPolicy,
    /// Lifecycle state.
    pub state: CredentialState,
    /// The current version.
    pub version: u64,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Who created it.
    pub created_by: Identity,
    /// When the current value expires (certificates, OAuth tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// The reply of `POST credentials/<name>/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatedCredential {
    /// The credential after rotation.
    #[serde(flatten)]
    pub credential: Credential,
    /// The version that was current before.
    pub previous_version: u64,
    /// Active leases still holding the previous version (it is kept until they end).
    pub previous_version_leases: u64,
}

/// The reply of `POST credentials/<name>/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokedCredential {
    /// The credential after revocation.
    #[serde(flatten)]
    pub credential: Credential,
    /// How many active leases ended with it.
    pub revoked_leases: u64,
}

/// `POST credentials/<name>`: a new credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialCreateRequest {
    /// The credential type, e.g. `api-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value, validated by the type.
    pub value: SecretString,
    /// Caller metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The lease policy: an object with `defaultLeaseTTL`, `maxLeaseTTL`, `maxLeases`,
    /// `allowedIdentities`, `rotation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Map<String, Value>>,
    /// The passphrase of an encrypted private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<SecretString>,
}

/// `PATCH credentials/<name>` (a JSON merge patch): metadata keys set to `null` are removed,
/// policy fields set to `null` are cleared.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialPatch {
    /// Metadata changes: a string sets a key, `null` removes it.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Policy changes.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub policy: Map<String, Value>,
}

/// `POST credentials/<name>/rotate`: the new value (same type).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateRequest {
    /// The new value (`None` with `generate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<SecretString>,
    /// Let the server make the new value: for a `database-url` credential whose policy names a
    /// database config, a new login with a generated password (`newValue` must be absent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generate: bool,
    /// The passphrase of the new value, when it is an encrypted private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<SecretString>,
}

/// What `LIST credentials` shows of one credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSummary {
    /// The credential type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Lifecycle state.
    pub state: CredentialState,
    /// The current version.
    pub version: u64,
    /// When it last changed.
    pub updated_at: String,
}

/// `LIST credentials`: names and a summary of each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialList {
    /// The names, sorted.
    #[serde(default)]
    pub keys: Vec<String>,
    /// A summary per name.
    #[serde(default)]
    pub key_info: BTreeMap<String, CredentialSummary>,
}

/// Filters of `LIST credentials`; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialFilter {
    /// Only this type.
    pub kind: Option<String>,
    /// Only this state (`rotated`: credentials that still keep a rotated version).
    pub state: Option<CredentialState>,
    /// Only credentials whose metadata has every one of these values.
    pub metadata: BTreeMap<String, String>,
}

/// One version of a credential (`GET credentials/<name>/versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialVersion {
    /// The version number.
    pub version: u64,
    /// `active`, `rotated` or `revoked`.
    pub state: CredentialState,
    /// When it was written.
    pub created_at: String,
    /// Who wrote it.
    pub created_by: Identity,
    /// When a newer version replaced it.
    #[serde(default)]
    pub rotated_at: Option<String>,
    /// Whether its value has been destroyed (rotated and no longer leased).
    #[serde(default)]
    pub destroyed: bool,
    /// When its value expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The database login Coffer created for this version (`rotate` with `generate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_user: Option<String>,
    /// Active leases on it.
    #[serde(default)]
    pub active_leases: u64,
}

/// `GET credentials/<name>/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialVersions {
    /// The credential.
    pub name: String,
    /// Its current version.
    pub current_version: u64,
    /// Every version, newest first.
    pub versions: Vec<CredentialVersion>,
}

/// The tenant defaults at `credentials/config`. In a reply every TTL is filled in; in a write
/// only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsConfig {
    /// Lease TTL when neither the request nor the credential says, e.g. `1h`.
    #[serde(
        rename = "defaultLeaseTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_lease_ttl: Option<String>,
    /// Longest lease TTL.
    #[serde(
        rename = "maxLeaseTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_lease_ttl: Option<String>,
    /// Most active leases per credential.
    #[serde(rename = "maxLeases", default, skip_serializing_if = "Option::is_none")]
    pub max_leases: Option<u64>,
}

/// A rotation reminder or expiry warning (`GET credentials/config/due`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// The credential.
    pub credential: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The version concerned.
    pub version: u64,
    /// `rotation-due`, `rotation-overdue`, `expiring` or `expired`.
    pub event: String,
    /// When rotation is due or the value expires (RFC 3339).
    pub at: String,
    /// `policy.rotation`, `metadata.rotateEvery` or `value`.
    pub source: String,
}

/// `GET credentials/config/due`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminders {
    /// Soonest first.
    #[serde(default)]
    pub reminders: Vec<Reminder>,
}

/// `POST credentials/<name>/lease`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRequest {
    /// Requested TTL, e.g. `30m` (capped at the policy's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Another identity to lease for (needs `sudo` on the lease path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<LeaseIdentity>,
    /// Why the lease is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Also return the key's passphrase.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_passphrase: bool,
}

/// A lease and the value it grants (`POST credentials/<name>/lease`,
/// `GET credentials/<name>/lease/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The lease id.
    pub lease_id: LeaseId,
    /// The credential.
    pub credential_name: String,
    /// The version leased.
    pub version: u64,
    /// The value.
    pub value: SecretString,
    /// The passphrase, when asked for and the value has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<SecretString>,
    /// Seconds left.
    pub ttl: u64,
    /// When it was issued.
    pub issued_at: String,
    /// When it ends unless renewed.
    pub expires_at: String,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Who holds it.
    pub identity: LeaseIdentity,
}

/// What lease listings show of a lease (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSummary {
    /// The lease id.
    pub lease_id: LeaseId,
    /// Who holds it.
    pub identity: Identity,
    /// Why it was taken.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The credential (in identity listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// The version leased.
    #[serde(default)]
    pub version: Option<u64>,
    /// When it was issued.
    pub issued_at: String,
    /// When it ends unless renewed.
    pub expires_at: String,
    /// Seconds left.
    pub ttl: u64,
    /// Whether it can be renewed (in identity listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable: Option<bool>,
}

/// `LIST credentials/<name>/lease` (keys are the random parts of the ids) and
/// `LIST sys/leases/by-identity/<type>/<name>` (keys are whole lease ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseList {
    /// The keys.
    #[serde(default)]
    pub keys: Vec<String>,
    /// A summary per key.
    #[serde(default)]
    pub key_info: BTreeMap<String, LeaseSummary>,
}

/// A lease whose engine could not release it (`sys/leases/failed`): ended, no longer active,
/// retried with backoff until it is released or the server gives up (`irrevocable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedLease {
    /// The lease id.
    pub lease_id: LeaseId,
    /// The id without its random last segment, e.g. `database/creds/readonly`.
    #[serde(default)]
    pub path: String,
    /// The namespace path (empty for the root namespace).
    #[serde(default)]
    pub namespace: String,
    /// Who held it.
    pub identity: Identity,
    /// Why it was taken.
    #[serde(default)]
    pub purpose: Option<String>,
    /// When it was issued.
    pub issued_at: String,
    /// When it expired (or would have).
    pub expires_at: String,
    /// `retrying` or `irrevocable` (no automatic attempt any more).
    pub state: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The engine's message for the last failure.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the first attempt failed.
    #[serde(default)]
    pub first_failed_at: Option<String>,
    /// When the last attempt failed.
    #[serde(default)]
    pub last_attempt_at: Option<String>,
    /// When the server tries again (`None` once irrevocable).
    #[serde(default)]
    pub next_attempt_at: Option<String>,
}

/// `LIST sys/leases/failed`: keys are whole lease ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedLeaseList {
    /// The lease ids.
    #[serde(default)]
    pub keys: Vec<String>,
    /// The details per lease id.
    #[serde(default)]
    pub key_info: BTreeMap<String, FailedLease>,
}

/// `PUT sys/leases/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseLookup {
    /// The lease id.
    pub id: LeaseId,
    /// When it was issued.
    pub issue_time: String,
    /// When it ends unless renewed.
    pub expire_time: String,
    /// When it was last renewed.
    #[serde(default)]
    pub last_renewal: Option<String>,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Seconds left.
    pub ttl: u64,
    /// Who holds it.
    pub identity: Identity,
    /// Why it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// The envelope of `PUT sys/leases/renew`: the lease's new duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRenewal {
    /// The lease id.
    pub lease_id: LeaseId,
    /// Seconds left after the renewal.
    pub lease_duration: u64,
    /// Whether it can be renewed again.
    pub renewable: bool,
    /// Warnings, e.g. the increment was capped at the lease's maximum.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// The reply of `POST sys/leases/revoke-identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRevocation {
    /// How many leases ended.
    pub count: u64,
    /// Whose.
    pub identity: Identity,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let lease: Lease = serde_json::from_value(json!({
            "leaseId": "credentials/db/lease/abc",
            "credentialName": "db",
            "version": 1,
            "value": "hunter2-value",
            "passphrase": "hunter2-pass",
            "ttl": 60,
            "issuedAt": "2026-01-01T00:00:00Z",
            "expiresAt": "2026-01-01T00:01:00Z",
            "renewable": true,
            "identity": {"type": "agent", "name": "ci", "purpose": "deploy"}
        }))
        .expect("a lease decodes");
        let debug = format!("{lease:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(lease.value.expose(), "hunter2-value");
        let request = CredentialCreateRequest {
            kind: "api-key".into(),
            value: SecretString::new("sk-secret"),
            metadata: BTreeMap::new(),
            policy: None,
            passphrase: Some(SecretString::new("pass-secret")),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(!debug.contains("pass-secret"), "{debug}");
        assert_eq!(
            serde_json::to_value(&request).expect("encodes"),
            json!({"type": "api-key", "value": "sk-secret", "passphrase": "pass-secret"})
        );
    }

    #[test]
    fn rotated_and_revoked_replies_flatten_the_credential() {
        let credential = json!({
            "id": "7", "name": "db", "type": "database-url",
            "metadata": {"engine": "postgresql"},
            "policy": {"defaultLeaseTTL": "30m", "allowedIdentities": [{"type": "agent", "name": "deploy-*"}]},
            "state": "active", "version": 2,
            "createdAt": "t0", "updatedAt": "t1", "createdBy": {"type": "token", "name": "root"}
        });
        let mut rotated = credential.clone();
        rotated["previousVersion"] = json!(1);
        rotated["previousVersionLeases"] = json!(0);
        let rotated: RotatedCredential = serde_json::from_value(rotated).expect("decodes");
        assert_eq!(rotated.credential.version, 2);
        assert_eq!(
            rotated.credential.policy.default_lease_ttl.as_deref(),
            Some("30m")
        );
        assert_eq!(rotated.previous_version, 1);
        let mut revoked = credential;
        revoked["state"] = json!("revoked");
        revoked["revokedLeases"] = json!(3);
        let revoked: RevokedCredential = serde_json::from_value(revoked).expect("decodes");
        assert_eq!(revoked.credential.state, CredentialState::Revoked);
        assert_eq!(revoked.revoked_leases, 3);
    }

    #[test]
    fn lease_requests_send_only_what_is_set() {
        assert_eq!(
            serde_json::to_value(LeaseRequest::default()).expect("encodes"),
            json!({})
        );
        let request = LeaseRequest {
            ttl: Some("30m".into()),
            identity: Some(LeaseIdentity {
                kind: "agent".into(),
                name: "ci".into(),
                purpose: None,
            }),
            purpose: Some("deploy".into()),
            include_passphrase: true,
        };
        assert_eq!(
            serde_json::to_value(request).expect("encodes"),
            json!({"ttl": "30m", "identity": {"type": "agent", "name": "ci"}, "purpose": "deploy", "includePassphrase": true})
        );
        assert_eq!(
            LeaseId::new(" /credentials/x/lease/a/ ").as_str(),
            "credentials/x/lease/a"
        );
    }
}
