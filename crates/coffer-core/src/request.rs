//! A logical request as the core sees it (built once at the edge, immutable afterwards) and the
//! reply a backend gives. No HTTP here: the edge maps methods, headers and status codes.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::token::Accessor;

/// What a request does, Vault's logical operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GET.
    Read,
    /// POST/PUT on something that does not exist yet.
    Create,
    /// POST/PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST or `?list=true`.
    List,
    /// SCAN or `?scan=true` (recursive list).
    Scan,
}

impl Operation {
    /// Vault's lowercase name, as written in audit logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Scan => "scan",
        }
    }

    /// The policy operation checked for this request.
    pub(crate) fn policy_operation(self) -> coffer_policy::Operation {
        match self {
            Operation::Read => coffer_policy::Operation::Read,
            Operation::Create => coffer_policy::Operation::Create,
            Operation::Update => coffer_policy::Operation::Update,
            Operation::Patch => coffer_policy::Operation::Patch,
            Operation::Delete => coffer_policy::Operation::Delete,
            Operation::List => coffer_policy::Operation::List,
            Operation::Scan => coffer_policy::Operation::Scan,
        }
    }
}

/// A request path below `/v1/`, validated: no leading slash, no `.`/`..` segments, no empty
/// segments except a single trailing slash (folders), no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalPath(String);

impl LogicalPath {
    /// Validates a raw path (already percent-decoded).
    pub fn parse(raw: &str) -> crate::Result<LogicalPath> {
        let path = raw.strip_prefix('/').unwrap_or(raw);
        if path.chars().any(char::is_control) {
            return Err(crate::Error::invalid(
                "invalid path: control characters are not allowed",
            ));
        }
        let body = path.strip_suffix('/').unwrap_or(path);
        if !body.is_empty() {
            for segment in body.split('/') {
                match segment {
                    "" => {
                        return Err(crate::Error::invalid(format!(
                            "invalid path {path:?}: empty path segment"
                        )));
                    }
                    "." | ".." => {
                        return Err(crate::Error::invalid(format!(
                            "invalid path {path:?}: '.' and '..' segments are not allowed"
                        )));
                    }
                    _ => {}
                }
            }
        }
        Ok(LogicalPath(path.to_owned()))
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request id (a UUID), echoed in the envelope and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id: a version 4 UUID, unique in this process and, with a random per-process seed,
    /// across processes.
    ///
    /// It names a request in replies and the audit log; nothing relies on it being
    /// unpredictable, so it is derived from the seed and a counter rather than costing a call to
    /// the system's random source on every request.
    pub fn generate() -> Self {
        static SEED: OnceLock<(u64, u64)> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (high_seed, low_seed) = *SEED.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // `mix` is a bijection, so distinct counters give distinct ids.
        let high = mix(high_seed.wrapping_add(n));
        let low = mix(low_seed ^ n.rotate_left(32));
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        RequestId(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string(),
        )
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SplitMix64's finalizer: a bijection of `u64` that spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client token as presented by a caller or returned once at creation. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientToken(Zeroizing<String>);

impl ClientToken {
    /// Wraps token text.
    pub fn new(text: impl Into<String>) -> Self {
        ClientToken(Zeroizing::new(text.into()))
    }

    /// The token text, for the one place that must send it (a reply to its creator).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientToken(<redacted>)")
    }
}

/// A logical request, immutable once built. Its `Debug` shows the body's keys, never values.
#[derive(Clone)]
pub struct Request {
    /// The request id.
    pub id: RequestId,
    /// What it does.
    pub operation: Operation,
    /// Where.
    pub path: LogicalPath,
    /// The JSON body's fields, plus query parameters on reads.
    pub data: Map<String, Value>,
    /// The caller's token, if any.
    pub token: Option<ClientToken>,
    /// The caller's address.
    pub remote_addr: Option<SocketAddr>,
    /// `X-Vault-Wrap-TTL`: wrap the reply in a single-use token living this long.
    pub wrap_ttl: Option<crate::ttl::Ttl>,
    /// `X-Vault-Namespace` as the caller sent it (`acme`, `acme/team1/`); `None` is the root.
    /// Leading path segments naming child namespaces select a namespace too.
    pub namespace: Option<String>,
}

impl Request {
    /// A request with no body, token or address; tests and internal calls add what they need.
    pub fn new(operation: Operation, path: LogicalPath) -> Self {
        Request {
            id: RequestId::generate(),
            operation,
            path,
            data: Map::new(),
            token: None,
            remote_addr: None,
            wrap_ttl: None,
            namespace: None,
        }
    }

    /// The same request sent to a namespace (as with `X-Vault-Namespace`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The same request with a token.
    pub fn with_token(mut self, token: ClientToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The same request with a body.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }
}

/// The `auth` block of a reply: a token that was just issued or renewed.
#[derive(Debug, Clone)]
pub struct AuthResponse {
    /// The token (secret; only its creator sees it).
    pub client_token: ClientToken,
    /// Its accessor.
    pub accessor: Accessor,
    /// Effective policies.
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Policies from the token's identity entity and its groups (evaluated per request).
    pub identity_policies: Vec<String>,
    /// Metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Remaining lifetime in seconds (0 = never expires).
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// Remaining uses (0 = unlimited).
    pub num_uses: u32,
    /// Identity entity id (empty until identities exist).
    pub entity_id: String,
}

/// A backend's successful answer. Its `Debug` shows the data's keys, never values.
#[derive(Clone, Default)]
pub struct Response {
    /// The `data` payload.
    pub data: Option<Map<String, Value>>,
    /// A token issued or renewed by this request.
    pub auth: Option<AuthResponse>,
    /// Warnings for the caller.
    pub warnings: Vec<String>,
    /// A lease duration hint in seconds without a lease (KV v1's `ttl`); 0 when none.
    pub lease_duration: u64,
    /// Set when the reply was wrapped: the wrapping token stands in for the payload.
    pub wrap_info: Option<WrapInfo>,
    /// The lease this reply issued or renewed (envelope `lease_id`, `lease_duration`,
    /// `renewable`).
    pub lease: Option<LeaseGrant>,
}

/// A lease as the envelope and the audit log show it.
#[derive(Debug, Clone)]
pub struct LeaseGrant {
    /// The lease id.
    pub id: String,
    /// Seconds it is valid for.
    pub duration: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// Who holds it.
    pub identity: crate::engine::Identity,
    /// Why the holder asked for it.
    pub purpose: Option<String>,
}

/// The `wrap_info` of a wrapped reply.
#[derive(Debug, Clone)]
pub struct WrapInfo {
    /// The single-use wrapping token (secret).
    pub token: ClientToken,
    /// Its accessor.
    pub accessor: Accessor,
    /// Lifetime in seconds.
    pub ttl: u64,
    /// When it was created.
    pub creation_time: std::time::SystemTime,
    /// The request path whose reply it wraps.
    pub creation_path: String,
    /// The accessor of the token inside, when the wrapped reply issued one.
    pub wrapped_accessor: Option<Accessor>,
}

impl Response {
    /// A reply carrying `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Response {
            data: Some(data),
            ..Response::default()
        }
    }
}

/// How a request ended when it did not fail.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A reply with a body (the Vault envelope at the edge).
    Ok(Box<Response>),
    /// Success with nothing to say (204).
    NoContent,
    /// Nothing there (404 `{"errors":[]}`).
    NotFound,
    /// Nothing there, but with an envelope body, as Vault answers for deleted KV versions and
    /// for v1-style paths on a KV v2 mount (404 with `data` and/or `warnings`).
    NotFoundWithBody(Box<Response>),
    /// Nothing there, with no body at all (404, as Vault answers a PATCH of a missing KV key).
    NotFoundEmpty,
    /// A successful login: the core issues the token (never reaches the edge).
    Login(Box<crate::engine::LoginGrant>),
}

/// The keys of a JSON map, for `Debug` output that must not show values.
pub(crate) fn keys_only(map: &Map<String, Value>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &keys_only(&self.data))
            .field("token", &self.token)
            .field("remote_addr", &self.remote_addr)
            .field("wrap_ttl", &self.wrap_ttl)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("data_keys", &self.data.as_ref().map(keys_only))
            .field("auth", &self.auth)
            .field("warnings", &self.warnings)
            .field("lease_duration", &self.lease_duration)
            .field("wrap_info", &self.wrap_info)
            .finish()
    }
}

impl Reply {
    /// A reply with a body.
    pub fn ok(response: Response) -> Reply {
        Reply::Ok(Box::new(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: Vec<RequestId> = (0..10_000).map(|_| RequestId::generate()).collect();
        let distinct: std::collections::HashSet<&str> = ids.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in ids.iter().take(100) {
            let parsed = uuid::Uuid::parse_str(id.as_str()).expect("a request id is a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    fn check(raw: &str, expect: Result<&str, ()>) {
        let got = LogicalPath::parse(raw)
            .map(|p| p.as_str().to_owned())
            .map_err(|_| ());
        assert_eq!(got.as_deref().map_err(|_| ()), expect, "path {raw:?}");
    }

    #[test]
    fn paths() {
        check("sys/health", Ok("sys/health"));
        check("/sys/health", Ok("sys/health"));
        check("secret/metadata/", Ok("secret/metadata/"));
        check("secret/a b/é", Ok("secret/a b/é"));
        check("", Ok(""));
        check("secret//x", Err(()));
        check("secret/../sys", Err(()));
        check("secret/./x", Err(()));
        check("secret/x//", Err(()));
        check("secret/\u{0}x", Err(()));
        check("..", Err(()));
    }

    #[test]
    fn requests_and_responses_never_debug_values() {
        let mut data = Map::new();
        data.insert("password".into(), Value::String("hunter2-secret".into()));
        let path = LogicalPath::parse("secret/data/x").unwrap_or_else(|e| panic!("{e}"));
        let request = Request::new(Operation::Update, path)
            .with_data(data.clone())
            .with_token(ClientToken::new("s.tok"));
        let text = format!("{request:?} {:?}", Response::with_data(data));
        assert!(text.contains("password"), "keys are shown: {text}");
        assert!(
            !text.contains("hunter2-secret") && !text.contains("s.tok"),
            "values are not: {text}"
        );
    }

    #[test]
    fn client_token_is_redacted() {
        let token = ClientToken::new("s.supersecret");
        assert_eq!(format!("{token:?}"), "ClientToken(<redacted>)");
    }
}
