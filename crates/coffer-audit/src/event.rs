//! What the core hands the audit broker: one `AuditEvent` per request line and per response
//! line (and per notification the server raises, as a `notify` response line), in plain values. Tokens and data are still clear here; the `Debug` output of every type
//! that can hold them is redacted, and a `Device` replaces them by HMACs before anything is
//! written.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde_json::{Map, Value};

/// Who made the request (from the token), or who a login or token creation produced.
#[derive(Clone, PartialEq)]
pub struct AuditAuth {
    /// The token itself: always written as an HMAC.
    pub client_token: Option<String>,
    /// The token's accessor: written as an HMAC unless the device has `hmac_accessor=false`.
    pub accessor: Option<String>,
    /// Clear.
    pub display_name: String,
    /// Clear.
    pub policies: Vec<String>,
    /// Clear.
    pub token_policies: Vec<String>,
    /// Clear.
    pub metadata: BTreeMap<String, String>,
    /// Clear.
    pub entity_id: String,
    /// Coffer's identity `(type, name)`, e.g. `("user", "alice")`; clear.
    pub identity: Option<(String, String)>,
    /// `service`, `batch`, or `default` for a request without a valid token.
    pub token_type: String,
    /// Seconds; clear.
    pub token_ttl: u64,
    /// The ACL decision, when one was made.
    pub policy_results: Option<PolicyResults>,
}

/// The ACL decision for a request, with the names of the policies that granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResults {
    /// Whether the request was allowed.
    pub allowed: bool,
    /// Names of the policies whose rules granted the capability.
    pub granting_policies: Vec<String>,
}

/// The request as the audit log sees it.
#[derive(Clone, PartialEq)]
pub struct AuditRequest {
    /// The request id (a UUID), the same on the request and the response line.
    pub id: String,
    /// Vault's operation name: `create`, `read`, `update`, `patch`, `delete`, `list`, ...
    pub operation: String,
    /// The path below `/v1/` (and below the namespace).
    pub path: String,
    /// The mount the path resolved to, e.g. `secret/`.
    pub mount_point: Option<String>,
    /// The mount's type, e.g. `kv`.
    pub mount_type: Option<String>,
    /// The mount's accessor, e.g. `kv_e6f12778`.
    pub mount_accessor: Option<String>,
    /// The namespace id; `root` for the root namespace.
    pub namespace: String,
    /// The namespace path with a trailing slash (`acme/`); empty for the root namespace.
    pub namespace_path: String,
    /// The request body: every string in it is written as an HMAC.
    pub data: Option<Map<String, Value>>,
    /// The client's address; clear.
    pub remote_address: Option<String>,
    /// The client's port; clear.
    pub remote_port: Option<u16>,
    /// The wrapping TTL the client asked for, in seconds.
    pub wrap_ttl: Option<u64>,
}

/// The response as the audit log sees it.
#[derive(Clone, PartialEq)]
pub struct AuditResponse {
    /// The HTTP status the client gets (a Coffer addition to Vault's record).
    pub status: u16,
    /// The response body's `data`: every string in it is written as an HMAC.
    pub data: Option<Map<String, Value>>,
    /// A token issued by this request (login, token creation): its token and accessor are
    /// written as HMACs.
    pub auth: Option<AuditAuth>,
    /// The lease issued or renewed with the response; clear (lease ids, identities and purposes
    /// are not secret).
    pub lease: Option<AuditLease>,
    /// The wrapping token, when the response was wrapped: written as an HMAC.
    pub wrap_token: Option<String>,
    /// What the server announced, on `notify` records (rotation reminders); clear.
    pub notification: Option<AuditNotification>,
}

/// A notification the server raised by itself (no client asked), e.g. a credential due for
/// rotation. Every field is clear: names, types, versions and dates are not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNotification {
    /// The event name, e.g. `rotation-due`.
    pub event: String,
    /// The item it is about, e.g. a credential's name.
    pub name: String,
    /// The item's type, e.g. `tls-certificate`.
    pub item_type: String,
    /// The item's version the event is about.
    pub version: u64,
    /// When rotation falls due or the value expires.
    pub at: SystemTime,
    /// Where the schedule comes from, e.g. `policy.rotation`.
    pub source: String,
}

/// A lease in a response record: who holds it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLease {
    /// The lease id.
    pub id: String,
    /// The holder's identity kind (`user`, `agent`, …).
    pub identity_type: String,
    /// The holder's identity name.
    pub identity_name: String,
    /// Why the holder asked for it.
    pub purpose: Option<String>,
}

/// Which of the two lines of a request an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Logged before the request is handled (nothing happens unless it is recorded).
    Request,
    /// Logged after the request was handled.
    Response,
}

impl EventKind {
    /// The record's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::Response => "response",
        }
    }
}

/// One line to record: the request, and on response lines the response.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When it happened (the record's `time`).
    pub time: SystemTime,
    /// Request or response line.
    pub kind: EventKind,
    /// The caller, or `None` for an unauthenticated request.
    pub auth: Option<AuditAuth>,
    /// The request.
    pub request: AuditRequest,
    /// The response, on response lines.
    pub response: Option<AuditResponse>,
    /// The error returned to the client, logged in clear as Vault does.
    pub error: Option<String>,
}

/// Shows whether a secret is present without showing it.
struct Redacted<'a, T>(&'a Option<T>);

impl<T> fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for AuditAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditAuth")
            .field("client_token", &Redacted(&self.client_token))
            .field("accessor", &Redacted(&self.accessor))
            .field("display_name", &self.display_name)
            .field("policies", &self.policies)
            .field("token_policies", &self.token_policies)
            .field("metadata", &self.metadata)
            .field("entity_id", &self.entity_id)
            .field("identity", &self.identity)
            .field("token_type", &self.token_type)
            .field("token_ttl", &self.token_ttl)
            .field("policy_results", &self.policy_results)
            .finish()
    }
}

impl fmt::Debug for AuditRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditRequest")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("mount_point", &self.mount_point)
            .field("mount_type", &self.mount_type)
            .field("mount_accessor", &self.mount_accessor)
            .field("namespace", &self.namespace)
            .field("namespace_path", &self.namespace_path)
            .field("data", &Redacted(&self.data))
            .field("remote_address", &self.remote_address)
            .field("remote_port", &self.remote_port)
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

impl fmt::Debug for AuditResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditResponse")
            .field("status", &self.status)
            .field("data", &Redacted(&self.data))
            .field("auth", &self.auth)
            .field("lease", &self.lease)
            .field("wrap_token", &Redacted(&self.wrap_token))
            .field("notification", &self.notification)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_tokens_and_data() {
        let auth = AuditAuth {
            client_token: Some("s.TOKEN-SECRET".into()),
            accessor: Some("ACCESSOR-SECRET".into()),
            display_name: "userpass-alice".into(),
            policies: vec!["default".into()],
            token_policies: vec!["default".into()],
            metadata: BTreeMap::new(),
            entity_id: String::new(),
            identity: None,
            token_type: "service".into(),
            token_ttl: 60,
            policy_results: None,
        };
        let mut data = Map::new();
        data.insert("password".into(), Value::String("VALUE-SECRET".into()));
        let event = AuditEvent {
            time: SystemTime::UNIX_EPOCH,
            kind: EventKind::Response,
            auth: Some(auth.clone()),
            request: AuditRequest {
                id: "r1".into(),
                operation: "update".into(),
                path: "secret/data/x".into(),
                mount_point: None,
                mount_type: None,
                mount_accessor: None,
                namespace: "root".into(),
                namespace_path: String::new(),
                data: Some(data.clone()),
                remote_address: None,
                remote_port: None,
                wrap_ttl: None,
            },
            response: Some(AuditResponse {
                status: 200,
                data: Some(data),
                auth: Some(auth),
                lease: None,
                wrap_token: Some("WRAP-SECRET".into()),
                notification: None,
            }),
            error: None,
        };
        let shown = format!("{event:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("userpass-alice"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
