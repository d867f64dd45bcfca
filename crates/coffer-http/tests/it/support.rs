//! The test harness: a core over in-memory storage with a manual clock, the HTTP app on top of
//! it, and helpers that drive the app with `tower::ServiceExt::oneshot` and decode the reply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use coffer_core::clock::ManualClock;
use coffer_core::{Core, CoreConfig};
use coffer_http::{HttpConfig, app};
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Where every test clock starts: 2023-11-14T22:13:20Z.
pub(crate) const START_UNIX: u64 = 1_700_000_000;

/// One node: the app, the core behind it and the clock the core reads. `keys` and `root` are
/// filled in by [`Node::unsealed`] (empty for an uninitialized node).
pub(crate) struct Node {
    pub(crate) app: Router,
    pub(crate) core: Arc<Core>,
    /// The physical storage under the barrier (to check what is stored).
    pub(crate) storage: Storage,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) keys: Vec<String>,
    pub(crate) root: String,
}

/// A token issued by `auth/token/create`: its text and its accessor.
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) accessor: String,
}

impl Node {
    /// A fresh, uninitialized node.
    pub(crate) async fn uninitialized() -> Node {
        Node::uninitialized_over(Storage::new(MemoryBackend::new())).await
    }

    /// A fresh, uninitialized node over `storage` (empty).
    pub(crate) async fn uninitialized_over(storage: Storage) -> Node {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(START_UNIX),
        ));
        let core = Core::new(CoreConfig {
            storage: storage.clone(),
            clock: clock.clone(),
            auto_unseal: None,
            engines: coffer_core::EngineRegistry::new(coffer_engines::factories()),
            audit_devices: Vec::new(),
            ha: None,
        })
        .await
        .expect("a core over empty memory storage builds");
        let app = app(core.clone(), HttpConfig::vault_defaults());
        Node {
            app,
            core,
            storage,
            clock,
            keys: Vec::new(),
            root: String::new(),
        }
    }

    /// A node initialized with 3 shares (threshold 2) and unsealed; `keys` holds the hex shares
    /// and `root` the root token.
    pub(crate) async fn unsealed() -> Node {
        Node::unsealed_over(Storage::new(MemoryBackend::new())).await
    }

    /// [`Node::unsealed`] over `storage` (empty).
    pub(crate) async fn unsealed_over(storage: Storage) -> Node {
        let mut node = Node::uninitialized_over(storage).await;
        let (status, _, body) = node
            .send(
                "PUT",
                "/v1/sys/init",
                None,
                Some(json!({"secret_shares": 3, "secret_threshold": 2})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "init: {body}");
        node.keys = strings(&body["keys"]);
        node.root = body["root_token"]
            .as_str()
            .expect("init returns a root token")
            .to_owned();
        node.unseal().await;
        node
    }

    /// Sends one request; see [`send`].
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        send(&self.app, method, path, token, body).await
    }

    /// Unseals with the first two of `keys` and checks that it worked.
    pub(crate) async fn unseal(&self) {
        for key in self.keys.iter().take(2) {
            let (status, _, body) = self
                .send("PUT", "/v1/sys/unseal", None, Some(json!({"key": key})))
                .await;
            assert_eq!(status, StatusCode::OK, "unseal: {body}");
        }
        assert!(!self.core.is_sealed(), "two of three shares unseal");
    }

    /// Seals through `sys/seal` with the root token.
    pub(crate) async fn seal(&self) {
        let (status, _, body) = self
            .send("PUT", "/v1/sys/seal", Some(&self.root), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "seal: {body}");
        assert!(self.core.is_sealed());
    }

    /// Creates a token as `parent` through `auth/token/create` (or `create-orphan` when `path`
    /// says so) and returns it; fails the test unless the reply is 200.
    pub(crate) async fn create_token_at(&self, path: &str, parent: &str, body: Value) -> Issued {
        let (status, _, reply) = self
            .send("POST", &format!("/v1/{path}"), Some(parent), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        let auth = &reply["auth"];
        Issued {
            token: auth["client_token"]
                .as_str()
                .expect("auth.client_token is a string")
                .to_owned(),
            accessor: auth["accessor"]
                .as_str()
                .expect("auth.accessor is a string")
                .to_owned(),
        }
    }

    /// Creates a child of `parent` through `auth/token/create`.
    pub(crate) async fn create_token(&self, parent: &str, body: Value) -> Issued {
        self.create_token_at("auth/token/create", parent, body)
            .await
    }

    /// The status of `GET auth/token/lookup-self` for `token` (200 while it is alive).
    pub(crate) async fn lookup_self_status(&self, token: &str) -> StatusCode {
        self.send("GET", "/v1/auth/token/lookup-self", Some(token), None)
            .await
            .0
    }

    /// `data` of `GET auth/token/lookup-self` for a live token.
    pub(crate) async fn lookup_self(&self, token: &str) -> Value {
        let (status, _, body) = self
            .send("GET", "/v1/auth/token/lookup-self", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "lookup-self: {body}");
        body["data"].clone()
    }
}

/// Sends `method path` to `app` with an optional `X-Vault-Token` and an optional JSON body
/// (sent without a Content-Type, as the Vault CLI does), and returns the status, the headers
/// and the body parsed as JSON (`Value::Null` for an empty body).
pub(crate) async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut builder = request(method, path);
    if let Some(token) = token {
        builder = builder.header("x-vault-token", token);
    }
    let body = match body {
        Some(value) => Body::from(value.to_string()),
        None => Body::empty(),
    };
    let request = builder.body(body).expect("a valid test request");
    let (status, headers, bytes) = send_request(app, request).await;
    (status, headers, json_of(&bytes))
}

/// A request builder for `method path` (methods such as `LIST` are allowed).
pub(crate) fn request(method: &str, path: &str) -> axum::http::request::Builder {
    let method = Method::from_bytes(method.as_bytes()).expect("a valid HTTP method");
    Request::builder().method(method).uri(path)
}

/// Sends a prepared request and returns the status, headers and raw body.
pub(crate) async fn send_request(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, HeaderMap, Bytes) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a reply body can be read");
    (status, headers, bytes)
}

/// Parses a reply body as JSON; an empty body is `Value::Null`.
pub(crate) fn json_of(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "reply is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// The strings of a JSON array.
pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v.as_str().expect("an array of strings").to_owned())
        .collect()
}

/// `{"errors":[...]}` with these messages.
pub(crate) fn errors(messages: &[&str]) -> Value {
    json!({ "errors": messages })
}

/// Whether `text` is a hyphenated UUID.
pub(crate) fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}

/// A header's value as text ("" when absent).
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Every key of the physical storage with its bytes.
pub(crate) async fn snapshot(storage: &Storage) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let keys = storage
            .scan("", after.as_deref(), 500)
            .await
            .expect("memory storage scans");
        let Some(last) = keys.last().cloned() else {
            return all;
        };
        for key in keys {
            let value = storage
                .get(&key)
                .await
                .expect("memory storage reads")
                .unwrap_or_else(|| panic!("{key} vanished between scan and get"));
            all.insert(key, value);
        }
        after = Some(last);
    }
}
