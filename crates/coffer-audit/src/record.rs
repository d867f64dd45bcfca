//! Turns an `AuditEvent` into the record a device writes: Vault's file-audit JSON (§3 of the
//! Vault reference) with every token, accessor and data string replaced by its HMAC, plus
//! Coffer's additions: `auth.identity`, `response.status`, `response.notification` (on the
//! `notify` lines of server-raised events, in clear), and the chain fields `seq` and
//! `prev_hash`, filled in by the device when the line takes its place in the chain.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::{AuditAuth, AuditEvent, AuditRequest, AuditResponse};
use crate::salt::Salt;

/// How a device hashes what it logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hashing {
    /// Whether accessors are hashed (Vault's `hmac_accessor`, default true).
    pub(crate) hmac_accessor: bool,
    /// Whether a list response's `keys` (and `key_info`) become a count.
    pub(crate) elide_list_responses: bool,
}

/// One request or response line, fields in the order they are written.
#[derive(Debug, Serialize)]
pub(crate) struct Record {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthRecord>,
    request: RequestRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    pub(crate) seq: u64,
    pub(crate) prev_hash: String,
}

impl Record {
    /// The record of `event`, hashed with `salt`; `seq` and `prev_hash` are set later.
    pub(crate) fn new(event: &AuditEvent, salt: &Salt, hashing: Hashing) -> Record {
        let request = &event.request;
        let auth = event
            .auth
            .as_ref()
            .map(|auth| AuthRecord::new(auth, &request.namespace, salt, hashing));
        let client_token = event
            .auth
            .as_ref()
            .and_then(|a| a.client_token.as_deref())
            .map(|t| salt.hash(t));
        let client_token_accessor = event
            .auth
            .as_ref()
            .and_then(|a| a.accessor.as_deref())
            .map(|a| hash_accessor(a, salt, hashing));
        Record {
            time: rfc3339(event.time),
            kind: event.kind.as_str(),
            auth,
            request: RequestRecord::new(request, client_token, client_token_accessor, salt),
            response: event
                .response
                .as_ref()
                .map(|r| ResponseRecord::new(r, request, salt, hashing)),
            error: event.error.clone(),
            seq: 0,
            prev_hash: String::new(),
        }
    }

    /// The record's time, as written (checkpoints reuse it).
    pub(crate) fn time(&self) -> &str {
        &self.time
    }
}

/// `time` as RFC 3339 UTC with nanoseconds, clamped to what the format can express.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    // The format stops at the end of year 9999 and starts at the epoch.
    const MAX_SECS: u64 = 253_402_300_799;
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let clamped = if since_epoch.as_secs() > MAX_SECS {
        SystemTime::UNIX_EPOCH + Duration::from_secs(MAX_SECS)
    } else {
        SystemTime::UNIX_EPOCH + since_epoch
    };
    humantime::format_rfc3339_nanos(clamped).to_string()
}

fn hash_accessor(accessor: &str, salt: &Salt, hashing: Hashing) -> String {
    if hashing.hmac_accessor {
        salt.hash(accessor)
    } else {
        accessor.to_owned()
    }
}

fn hash_data(data: &Map<String, Value>, salt: &Salt) -> Map<String, Value> {
    data.iter()
        .map(|(k, v)| (k.clone(), salt.hash_value(v)))
        .collect()
}

#[derive(Debug, Serialize)]
struct AuthRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessor: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    display_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResultsRecord>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<IdentityRecord>,
    #[serde(skip_serializing_if = "String::is_empty")]
    token_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    token_ttl: u64,
}

impl AuthRecord {
    fn new(auth: &AuditAuth, namespace: &str, salt: &Salt, hashing: Hashing) -> AuthRecord {
        AuthRecord {
            client_token: auth.client_token.as_deref().map(|t| salt.hash(t)),
            accessor: auth
                .accessor
                .as_deref()
                .map(|a| hash_accessor(a, salt, hashing)),
            display_name: auth.display_name.clone(),
            policies: auth.policies.clone(),
            token_policies: auth.token_policies.clone(),
            policy_results: auth.policy_results.as_ref().map(|r| PolicyResultsRecord {
                allowed: r.allowed,
                granting_policies: r
                    .granting_policies
                    .iter()
                    .map(|name| GrantingPolicy {
                        name: name.clone(),
                        namespace_id: namespace.to_owned(),
                        kind: "acl",
                    })
                    .collect(),
            }),
            metadata: auth.metadata.clone(),
            entity_id: auth.entity_id.clone(),
            identity: auth.identity.as_ref().map(|(kind, name)| IdentityRecord {
                kind: kind.clone(),
                name: name.clone(),
            }),
            token_type: auth.token_type.clone(),
            token_ttl: auth.token_ttl,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
struct PolicyResultsRecord {
    allowed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    granting_policies: Vec<GrantingPolicy>,
}

#[derive(Debug, Serialize)]
struct GrantingPolicy {
    name: String,
    namespace_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct IdentityRecord {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

#[derive(Debug, Serialize)]
struct RequestRecord {
    id: String,
    operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_accessor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token_accessor: Option<String>,
    namespace: NamespaceRecord,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_ttl: Option<u64>,
}

impl RequestRecord {
    fn new(
        request: &AuditRequest,
        client_token: Option<String>,
        client_token_accessor: Option<String>,
        salt: &Salt,
    ) -> RequestRecord {
        RequestRecord {
            id: request.id.clone(),
            operation: request.operation.clone(),
            mount_point: request.mount_point.clone(),
            mount_type: request.mount_type.clone(),
            mount_accessor: request.mount_accessor.clone(),
            client_token,
            client_token_accessor,
            namespace: NamespaceRecord {
                id: request.namespace.clone(),
                path: request.namespace_path.clone(),
            },
            path: request.path.clone(),
            data: request.data.as_ref().map(|d| hash_data(d, salt)),
            remote_address: request.remote_address.clone(),
            remote_port: request.remote_port,
            wrap_ttl: request.wrap_ttl,
        }
    }
}

/// Vault's `namespace` object: the id, and the path outside the root namespace.
#[derive(Debug, Serialize)]
struct NamespaceRecord {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
}

#[derive(Debug, Serialize)]
struct ResponseRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_accessor: Option<String>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<WrapInfoRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<NotificationRecord>,
}

impl ResponseRecord {
    fn new(
        response: &AuditResponse,
        request: &AuditRequest,
        salt: &Salt,
        hashing: Hashing,
    ) -> ResponseRecord {
        let elide = hashing.elide_list_responses && request.operation == "list";
        ResponseRecord {
            mount_point: request.mount_point.clone(),
            mount_type: request.mount_type.clone(),
            mount_accessor: request.mount_accessor.clone(),
            status: response.status,
            auth: response
                .auth
                .as_ref()
                .map(|auth| AuthRecord::new(auth, &request.namespace, salt, hashing)),
            secret: response.lease.as_ref().map(|lease| SecretRecord {
                lease_id: lease.id.clone(),
                identity: IdentityRecord {
                    kind: lease.identity_type.clone(),
                    name: lease.identity_name.clone(),
                },
                purpose: lease.purpose.clone(),
            }),
            data: response.data.as_ref().map(|data| {
                let mut hashed = hash_data(data, salt);
                if elide {
                    elide_list(&mut hashed);
                }
                hashed
            }),
            wrap_info: response.wrap_token.as_deref().map(|token| WrapInfoRecord {
                token: salt.hash(token),
            }),
            notification: response.notification.as_ref().map(|n| NotificationRecord {
                event: n.event.clone(),
                name: n.name.clone(),
                kind: n.item_type.clone(),
                version: n.version,
                at: rfc3339(n.at),
                source: n.source.clone(),
            }),
        }
    }
}

/// Vault's `elide_list_responses`: `keys` becomes the number of keys, `key_info` the number of
/// entries.
fn elide_list(data: &mut Map<String, Value>) {
    if let Some(keys) = data.get_mut("keys")
        && let Value::Array(items) = keys
    {
        *keys = Value::from(items.len());
    }
    if let Some(info) = data.get_mut("key_info")
        && let Value::Object(entries) = info
    {
        *info = Value::from(entries.len());
    }
}

#[derive(Debug, Serialize)]
struct SecretRecord {
    lease_id: String,
    identity: IdentityRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
}

#[derive(Debug, Serialize)]
struct WrapInfoRecord {
    token: String,
}

/// A notification, clear: it names an item and a date, never a value.
#[derive(Debug, Serialize)]
struct NotificationRecord {
    event: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    at: String,
    source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_nanos_and_clamped() {
        let check = |time: SystemTime, expected: &str| assert_eq!(rfc3339(time), expected);
        let epoch = SystemTime::UNIX_EPOCH;
        check(epoch, "1970-01-01T00:00:00.000000000Z");
        check(
            epoch + Duration::new(1_795_180_287, 706_226_844),
            "2026-11-20T13:11:27.706226844Z",
        );
        check(
            epoch - Duration::from_secs(5),
            "1970-01-01T00:00:00.000000000Z",
        );
        check(
            epoch + Duration::from_secs(400_000_000_000),
            "9999-12-31T23:59:59.000000000Z",
        );
    }
}
