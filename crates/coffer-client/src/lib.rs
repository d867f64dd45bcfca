//! Typed async client for Coffer's Vault-compatible HTTP API: the Rust SDK, also used by the
//! `coffer` CLI and the integration tests. It speaks only the wire types of `coffer-api`.

mod credentials;
mod leases;
pub mod secrets;

use std::time::Duration;

use coffer_api::{
    Envelope, ErrorBody, Health, InitRequest, InitResponse, Leader, SealStatus, TokenCreateRequest,
    UnsealRequest,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use credentials::CredentialsApi;
pub use secrets::{
    RotationPolicy, Secret, SecretFilter, SecretSpec, SecretSummary, SecretVersion, SecretsApi,
};

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("Error making API request.\n\nURL: {method} {url}\nCode: {status}. Errors:\n\n{}", format_errors(.errors))]
    Api {
        /// HTTP method.
        method: String,
        /// Full URL.
        url: String,
        /// Status code.
        status: u16,
        /// The server's messages.
        errors: Vec<String>,
    },
    /// The request could not be sent or the reply not received.
    #[error("error talking to {url}: {source}")]
    Transport {
        /// Full URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The reply was not the JSON expected.
    #[error("unexpected reply from {url}: {reason}")]
    Decode {
        /// Full URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A bad client configuration (address, CA file).
    #[error("client configuration: {0}")]
    Config(String),
    /// A name the client refuses to put in a path (empty, or with a `/`), before sending.
    #[error("invalid {what} {name:?}: it must be non-empty and contain no '/'")]
    InvalidName {
        /// What the name names, e.g. `credential name`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Input refused before anything was sent (a bad tag, duration, name or metadata).
    #[error("{0}")]
    InvalidInput(String),
    /// No secret of that name (in any environment looked at).
    #[error("secret {name} not found")]
    SecretNotFound {
        /// The name.
        name: String,
    },
    /// A secret of that name already exists where create would write it.
    #[error("secret {name} already exists (at {path}); use update to change it")]
    SecretExists {
        /// The name.
        name: String,
        /// Its KV path.
        path: String,
    },
    /// The name exists in several environments and none was chosen.
    #[error("secret {name} exists in several environments ({}); choose one with --env", environments.join(", "))]
    AmbiguousSecret {
        /// The name.
        name: String,
        /// The environments holding it (`(none)` for the top level).
        environments: Vec<String>,
    },
    /// The version asked for is not served: deleted, expired, destroyed or missing.
    #[error("version {version} of secret {name} is not available: {reason}")]
    SecretUnavailable {
        /// The name.
        name: String,
        /// The version.
        version: u64,
        /// Why.
        reason: String,
    },
}

fn format_errors(errors: &[String]) -> String {
    errors
        .iter()
        .map(|e| format!("* {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Client result.
pub type Result<T> = std::result::Result<T, Error>;

/// How to reach a server.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base address, e.g. `http://127.0.0.1:8200`.
    pub address: String,
    /// Token sent as `X-Vault-Token`.
    pub token: Option<String>,
    /// Namespace sent as `X-Vault-Namespace` (e.g. `acme` or `acme/team1`); `None` is the root.
    pub namespace: Option<String>,
    /// PEM CA certificate to trust for HTTPS.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Skip TLS verification (testing only).
    pub tls_skip_verify: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration for `address` with no token.
    pub fn new(address: impl Into<String>) -> Self {
        ClientConfig {
            address: address.into(),
            token: None,
            namespace: None,
            ca_cert_pem: None,
            tls_skip_verify: false,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A reply: the status code and the parsed body (`None` for 204).
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status.
    pub status: u16,
    /// JSON body, if any.
    pub body: Option<Value>,
}

/// A reply's payload with the warnings the server sent along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithWarnings<T> {
    /// The payload (`data` of the envelope).
    pub data: T,
    /// The envelope's `warnings`.
    pub warnings: Vec<String>,
}

/// A client for one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    namespace: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client.
    pub fn new(config: ClientConfig) -> Result<Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Config(format!("bad CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        if config.tls_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| Error::Config(e.to_string()))?;
        let base = config.address.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "address {base:?} must start with http:// or https://"
            )));
        }
        Ok(Client {
            http,
            base,
            token: config.token,
            namespace: config.namespace.filter(|n| !n.trim().is_empty()),
        })
    }

    /// The same client with another token.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// The same client addressing namespace `namespace` (`X-Vault-Namespace`).
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Client {
        Client {
            namespace: Some(namespace.into()),
            ..self.clone()
        }
    }

    /// The base address.
    pub fn address(&self) -> &str {
        &self.base
    }

    /// Sends any request to `/v1/<path>` and returns the status and JSON body; error statuses
    /// become [`Error::Api`] except 404, which is returned as a reply so callers can tell
    /// "missing" from "failed".
    pub async fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<RawReply> {
        self.send(method, path, &[], body, None).await
    }

    /// `PATCH /v1/<path>` with `Content-Type: application/merge-patch+json` (RFC 7386), as KV v2
    /// data and metadata patches require. Replies like [`Client::raw`]: a 404 without errors
    /// (a missing key) comes back as a reply.
    pub async fn merge_patch(&self, path: &str, body: &Value) -> Result<RawReply> {
        self.send(
            "PATCH",
            path,
            &[],
            Some(body),
            Some("application/merge-patch+json"),
        )
        .await
    }

    /// Sends a request to `/v1/<path>` with `query` parameters (percent-encoded here); replies
    /// like [`Client::raw`].
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> Result<RawReply> {
        let url = format!("{}/v1/{}", self.base, path.trim_start_matches('/'));
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::Config(format!("bad method {method}")))?;
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("X-Vault-Request", "true");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        if let Some(content_type) = content_type {
            // Set before `json`, which only adds `application/json` when no type is present.
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        let parsed: Option<Value> = if bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                url: url.clone(),
                reason: e.to_string(),
            })?)
        };
        if status.is_success()
            || status == StatusCode::NOT_FOUND && errors_of(parsed.as_ref()).is_empty()
        {
            return Ok(RawReply {
                status: status.as_u16(),
                body: parsed,
            });
        }
        Err(Error::Api {
            method: method.to_string(),
            url,
            status: status.as_u16(),
            errors: errors_of(parsed.as_ref()),
        })
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let url = format!("{}/v1/{}", self.base, path);
        let reply = self.raw(method, path, body).await?;
        if reply.status == 404 {
            return Err(Error::Api {
                method: method.into(),
                url,
                status: 404,
                errors: Vec::new(),
            });
        }
        let body = reply.body.ok_or_else(|| Error::Decode {
            url: url.clone(),
            reason: "empty body".into(),
        })?;
        serde_json::from_value(body).map_err(|e| Error::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// Reads a logical path; `None` when it does not exist.
    pub async fn read(&self, path: &str) -> Result<Option<Envelope>> {
        let reply = self.raw("GET", path, None).await?;
        envelope_of(reply, &self.base, path)
    }

    /// Writes to a logical path; `None` for 204.
    pub async fn write(&self, path: &str, data: &Map<String, Value>) -> Result<Option<Envelope>> {
        let reply = self
            .raw("PUT", path, Some(&Value::Object(data.clone())))
            .await?;
        envelope_of(reply, &self.base, path)
    }

    /// Lists a logical path; `None` when empty.
    pub async fn list(&self, path: &str) -> Result<Option<Envelope>> {
        let reply = self.raw("LIST", path, None).await?;
        envelope_of(reply, &self.base, path)
    }

    /// Deletes a logical path.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.raw("DELETE", path, None).await.map(|_| ())
    }

    /// `sys/health` (any status code is a valid answer here).
    pub async fn health(&self) -> Result<(u16, Health)> {
        let url = format!("{}/v1/sys/health", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        let health = response.json().await.map_err(|e| Error::Decode {
            url,
            reason: e.to_string(),
        })?;
        Ok((status, health))
    }

    /// `sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        self.typed("GET", "sys/seal-status", None).await
    }

    /// `sys/leader`.
    pub async fn leader(&self) -> Result<Leader> {
        self.typed("GET", "sys/leader", None).await
    }

    /// `sys/init`.
    pub async fn init(&self, shares: u64, threshold: u64) -> Result<InitResponse> {
        let body = to_value(&InitRequest {
            secret_shares: shares,
            secret_threshold: threshold,
        })?;
        self.typed("PUT", "sys/init", Some(&body)).await
    }

    /// `sys/unseal` with one share.
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let body = to_value(&UnsealRequest {
            key: Some(key.to_owned()),
            reset: false,
        })?;
        self.typed("PUT", "sys/unseal", Some(&body)).await
    }

    /// `sys/unseal` with `reset`.
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        let body = to_value(&UnsealRequest {
            key: None,
            reset: true,
        })?;
        self.typed("PUT", "sys/unseal", Some(&body)).await
    }

    /// `sys/seal`.
    pub async fn seal(&self) -> Result<()> {
        self.raw("PUT", "sys/seal", None).await.map(|_| ())
    }

    /// `sys/rotate`.
    pub async fn rotate(&self) -> Result<()> {
        self.raw("PUT", "sys/rotate", None).await.map(|_| ())
    }

    /// `sys/key-status` data.
    pub async fn key_status(&self) -> Result<Map<String, Value>> {
        let envelope: Envelope = self.typed("GET", "sys/key-status", None).await?;
        Ok(envelope.data.unwrap_or_default())
    }

    /// `auth/token/create` (or `create-orphan`).
    pub async fn token_create(
        &self,
        request: &TokenCreateRequest,
        orphan: bool,
    ) -> Result<Envelope> {
        let path = if orphan {
            "auth/token/create-orphan"
        } else {
            "auth/token/create"
        };
        self.typed("POST", path, Some(&to_value(request)?)).await
    }

    /// `auth/token/lookup-self`.
    pub async fn token_lookup_self(&self) -> Result<Envelope> {
        self.typed("GET", "auth/token/lookup-self", None).await
    }

    /// `auth/token/lookup`.
    pub async fn token_lookup(&self, token: &str) -> Result<Envelope> {
        self.typed(
            "POST",
            "auth/token/lookup",
            Some(&serde_json::json!({ "token": token })),
        )
        .await
    }

    /// `auth/token/lookup-accessor`.
    pub async fn token_lookup_accessor(&self, accessor: &str) -> Result<Envelope> {
        self.typed(
            "POST",
            "auth/token/lookup-accessor",
            Some(&serde_json::json!({ "accessor": accessor })),
        )
        .await
    }

    /// `auth/token/renew-self`.
    pub async fn token_renew_self(&self, increment: Option<&str>) -> Result<Envelope> {
        let body = match increment {
            Some(i) => serde_json::json!({ "increment": i }),
            None => serde_json::json!({}),
        };
        self.typed("POST", "auth/token/renew-self", Some(&body))
            .await
    }

    /// `auth/token/renew`.
    pub async fn token_renew(&self, token: &str, increment: Option<&str>) -> Result<Envelope> {
        let mut body = serde_json::json!({ "token": token });
        if let (Some(i), Some(map)) = (increment, body.as_object_mut()) {
            map.insert("increment".into(), Value::String(i.to_owned()));
        }
        self.typed("POST", "auth/token/renew", Some(&body)).await
    }

    /// `auth/token/revoke`.
    pub async fn token_revoke(&self, token: &str) -> Result<()> {
        self.raw(
            "POST",
            "auth/token/revoke",
            Some(&serde_json::json!({ "token": token })),
        )
        .await
        .map(|_| ())
    }

    /// `auth/token/revoke-self`.
    pub async fn token_revoke_self(&self) -> Result<()> {
        self.raw("POST", "auth/token/revoke-self", None)
            .await
            .map(|_| ())
    }

    /// `auth/token/revoke-accessor`.
    pub async fn token_revoke_accessor(&self, accessor: &str) -> Result<()> {
        self.raw(
            "POST",
            "auth/token/revoke-accessor",
            Some(&serde_json::json!({ "accessor": accessor })),
        )
        .await
        .map(|_| ())
    }

    /// `auth/token/revoke-orphan`.
    pub async fn token_revoke_orphan(&self, token: &str) -> Result<()> {
        self.raw(
            "POST",
            "auth/token/revoke-orphan",
            Some(&serde_json::json!({ "token": token })),
        )
        .await
        .map(|_| ())
    }
}

/// The `data` of an envelope decoded as `T`, with its warnings; `None` for a 404.
pub(crate) fn data_of<T: DeserializeOwned>(
    reply: RawReply,
    base: &str,
    path: &str,
) -> Result<Option<WithWarnings<T>>> {
    let decode = |reason: String| Error::Decode {
        url: format!("{base}/v1/{path}"),
        reason,
    };
    let Some(envelope) = envelope_of(reply, base, path)? else {
        return Ok(None);
    };
    let data = envelope
        .data
        .ok_or_else(|| decode("the reply has no data".into()))?;
    let data = serde_json::from_value(Value::Object(data)).map_err(|e| decode(e.to_string()))?;
    Ok(Some(WithWarnings {
        data,
        warnings: envelope.warnings.unwrap_or_default(),
    }))
}

/// Like [`data_of`], where a 404 is an error: the server said the thing is missing.
pub(crate) fn required_data<T: DeserializeOwned>(
    reply: RawReply,
    method: &str,
    base: &str,
    path: &str,
) -> Result<WithWarnings<T>> {
    data_of(reply, base, path)?.ok_or_else(|| Error::Api {
        method: method.to_owned(),
        url: format!("{base}/v1/{path}"),
        status: 404,
        errors: Vec::new(),
    })
}

/// A name as one path segment: refused when empty or holding a `/`, percent-encoded otherwise
/// (everything but RFC 3986's unreserved characters).
pub(crate) fn segment(what: &'static str, name: &str) -> Result<String> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Config(e.to_string()))
}

fn errors_of(body: Option<&Value>) -> Vec<String> {
    body.and_then(|b| serde_json::from_value::<ErrorBody>(b.clone()).ok())
        .map(|e| e.errors)
        .unwrap_or_default()
}

fn envelope_of(reply: RawReply, base: &str, path: &str) -> Result<Option<Envelope>> {
    match (reply.status, reply.body) {
        (404, _) | (_, None) => Ok(None),
        (_, Some(body)) => serde_json::from_value(body)
            .map(Some)
            .map_err(|e| Error::Decode {
                url: format!("{base}/v1/{path}"),
                reason: e.to_string(),
            }),
    }
}
