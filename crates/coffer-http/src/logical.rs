//! The logical catch-all: every `/v1/<path>` that is not a status endpoint becomes a core
//! [`Request`] (method → operation, token header, JSON body, query) and its reply becomes Vault's
//! envelope.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request as HttpRequest, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_api::{Auth, Envelope};
use coffer_core::ttl::Ttl;
use coffer_core::{ClientToken, Error, LogicalPath, Operation, Reply, Request, RequestId};
use serde_json::Value;

use crate::body;
use crate::error_table::error_response;
use crate::router::{AppState, json_response, method_not_allowed};

/// Paths whose reply repeats `data`'s keys at the top level, as Vault's legacy endpoints do.
const LEGACY_TOP_LEVEL: &[&str] = &[
    "sys/key-status",
    "sys/capabilities",
    "sys/capabilities-self",
    "sys/capabilities-accessor",
];

/// Where a batch read is sent (`{"paths": [...]}`).
const BATCH_READ_PATH: &str = "sys/batch/read";
/// The most paths one batch read may name.
const BATCH_READ_LIMIT: usize = 256;

/// Handles any method on `/v1/<path>`.
pub(crate) async fn handle(State(state): State<AppState>, request: HttpRequest) -> Response {
    let (parts, body) = request.into_parts();
    let id = RequestId::generate();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let query = match query {
        Ok(query) => query,
        Err(error) => return error_response(&error),
    };
    let flag = |name: &str| {
        query
            .iter()
            .any(|(k, v)| k == name && (v == "true" || v == "1" || v.is_empty()))
    };
    let operation = match parts.method.as_str() {
        "GET" if flag("list") => Operation::List,
        "GET" if flag("scan") => Operation::Scan,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "SCAN" => Operation::Scan,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        _ => return method_not_allowed().await,
    };
    let wrap_ttl = match wrap_ttl_from(&parts.headers) {
        Ok(ttl) => ttl,
        Err(error) => return error_response(&error),
    };
    if parts.method == Method::PATCH {
        let content_type = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/merge-patch+json") {
            let body = coffer_api::ErrorBody {
                errors: vec![format!(
                    "PATCH requires Content-Type of application/merge-patch+json, provided {content_type}"
                )],
            };
            return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &body);
        }
    }
    let raw_path = parts.uri.path().strip_prefix("/v1/").unwrap_or("");
    let path = match percent_decode(raw_path).and_then(|p| logical_path(&p)) {
        Ok(path) => path,
        Err(error) => return error_response(&error),
    };
    let bytes = match body::read(body, state.config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(too_large) => return too_large,
    };
    let mut data = match body::object(&bytes) {
        Ok(data) => data,
        Err(error) => return error_response(&error),
    };
    if matches!(parts.method, Method::GET)
        || parts.method.as_str() == "LIST"
        || parts.method.as_str() == "SCAN"
    {
        for (key, value) in query {
            if key != "list" && key != "scan" {
                data.entry(key).or_insert(Value::String(value));
            }
        }
    }
    let namespace = match namespace_from(&parts.headers) {
        Ok(namespace) => namespace,
        Err(error) => return error_response(&error),
    };
    if path.as_str() == BATCH_READ_PATH && operation == Operation::Update {
        return batch_read(&state, token_from(&parts.headers), namespace, &data).await;
    }
    let core_request = Request {
        id: id.clone(),
        operation,
        path: path.clone(),
        data,
        token: token_from(&parts.headers),
        remote_addr: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        wrap_ttl,
        namespace,
    };
    match state.core.handle(core_request).await {
        Ok(Reply::Ok(response)) => envelope_response(&id, path.as_str(), *response),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Ok(Reply::NotFound) => crate::router::not_found().await,
        Ok(Reply::NotFoundWithBody(response)) => {
            let mut reply = envelope_response(&id, path.as_str(), *response);
            *reply.status_mut() = StatusCode::NOT_FOUND;
            reply
        }
        Ok(Reply::NotFoundEmpty) => StatusCode::NOT_FOUND.into_response(),
        Ok(Reply::Login(_)) => login_escaped(),
        Err(error) => error_response(&error),
    }
}

/// `X-Vault-Wrap-TTL`: a duration (`5m`) or seconds (`300`).
fn wrap_ttl_from(headers: &HeaderMap) -> Result<Option<Ttl>, Error> {
    let Some(value) = headers.get("x-vault-wrap-ttl") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Error::invalid("invalid X-Vault-Wrap-TTL header"))?;
    let ttl =
        Ttl::parse(text).map_err(|e| Error::invalid(format!("invalid X-Vault-Wrap-TTL: {e}")))?;
    Ok((!ttl.is_zero()).then_some(ttl))
}

/// `X-Vault-Namespace`: the namespace the request is for (`acme`, `acme/team1/`); absent or
/// empty is the root namespace. The core resolves it.
fn namespace_from(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get("x-vault-namespace") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Error::invalid("invalid X-Vault-Namespace header"))?;
    Ok((!text.trim().is_empty()).then(|| text.to_owned()))
}

/// The core turns every login grant into a token before replying; one reaching the edge is a bug.
fn login_escaped() -> Response {
    tracing::error!("a login grant reached the HTTP edge without a token being issued");
    let body = coffer_api::ErrorBody {
        errors: vec!["internal error".to_owned()],
    };
    json_response(StatusCode::INTERNAL_SERVER_ERROR, &body)
}

fn token_from(headers: &HeaderMap) -> Option<ClientToken> {
    if let Some(value) = headers.get("x-vault-token").and_then(|v| v.to_str().ok())
        && !value.is_empty()
    {
        return Some(ClientToken::new(value));
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then(|| ClientToken::new(token))
}

/// The logical path below `/v1/`. `LogicalPath::parse` forgives one leading slash (for callers
/// that write `/sys/...`); on the wire that slash is an empty segment (`/v1//sys/...`).
fn logical_path(decoded: &str) -> Result<LogicalPath, Error> {
    if decoded.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid path {decoded:?}: empty path segment"
        )));
    }
    LogicalPath::parse(decoded)
}

fn percent_decode(raw: &str) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let byte =
                    hex.ok_or_else(|| Error::invalid("invalid path: malformed percent-encoding"))?;
                out.push(byte);
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("invalid path: not valid UTF-8"))
}

fn parse_query(query: &str) -> Result<Vec<(String, String)>, Error> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn envelope_response(id: &RequestId, path: &str, response: coffer_core::Response) -> Response {
    let auth = response.auth.map(|auth| Auth {
        client_token: auth.client_token.expose().to_owned(),
        accessor: auth.accessor.to_string(),
        policies: auth.policies,
        token_policies: auth.token_policies,
        identity_policies: auth.identity_policies,
        metadata: (!auth.metadata.is_empty()).then_some(auth.metadata),
        lease_duration: auth.lease_duration,
        renewable: auth.renewable,
        entity_id: auth.entity_id,
        token_type: "service".into(),
        orphan: auth.orphan,
        mfa_requirement: None,
        num_uses: auth.num_uses,
    });
    let envelope = Envelope {
        request_id: id.to_string(),
        lease_id: response
            .lease
            .as_ref()
            .map(|l| l.id.clone())
            .unwrap_or_default(),
        renewable: response.lease.as_ref().is_some_and(|l| l.renewable),
        lease_duration: response
            .lease
            .as_ref()
            .map_or(response.lease_duration, |l| l.duration),
        data: response.data,
        wrap_info: response.wrap_info.as_ref().map(wrap_info_json),
        warnings: (!response.warnings.is_empty()).then_some(response.warnings),
        auth,
    };
    if LEGACY_TOP_LEVEL.contains(&path)
        || path == "sys/mounts"
        || path.starts_with("sys/mounts/")
        || path == "sys/auth"
        || path.starts_with("sys/auth/")
    {
        let mut value = match serde_json::to_value(&envelope) {
            Ok(Value::Object(map)) => map,
            _ => return json_response(StatusCode::OK, &envelope),
        };
        if let Some(Value::Object(data)) = value.get("data").cloned() {
            for (key, field) in data {
                value.entry(key).or_insert(field);
            }
        }
        return json_response(StatusCode::OK, &value);
    }
    json_response(StatusCode::OK, &envelope)
}

fn wrap_info_json(info: &coffer_core::request::WrapInfo) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(
        "token".into(),
        Value::String(info.token.expose().to_owned()),
    );
    map.insert("accessor".into(), Value::String(info.accessor.to_string()));
    map.insert("ttl".into(), Value::from(info.ttl));
    map.insert(
        "creation_time".into(),
        Value::String(coffer_core::clock::rfc3339(info.creation_time)),
    );
    map.insert(
        "creation_path".into(),
        Value::String(info.creation_path.clone()),
    );
    if let Some(accessor) = &info.wrapped_accessor {
        map.insert(
            "wrapped_accessor".into(),
            Value::String(accessor.to_string()),
        );
    }
    Value::Object(map)
}

/// `sys/batch/read`: many reads in one HTTP request. Each path is read as its own request through
/// the core (token, ACL and audit apply to each); the reply lists each outcome in order.
async fn batch_read(
    state: &AppState,
    token: Option<ClientToken>,
    namespace: Option<String>,
    data: &serde_json::Map<String, Value>,
) -> Response {
    let paths: Vec<String> = match data.get("paths") {
        Some(Value::Array(items)) => {
            let mut paths = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(p) => paths.push(p.clone()),
                    _ => return error_response(&Error::invalid("paths must be a list of strings")),
                }
            }
            paths
        }
        _ => {
            return error_response(&Error::invalid(
                "missing paths: send {\"paths\": [\"secret/data/a\", ...]}",
            ));
        }
    };
    if paths.len() > BATCH_READ_LIMIT {
        return error_response(&Error::invalid(format!(
            "a batch read accepts at most {BATCH_READ_LIMIT} paths"
        )));
    }
    let mut results = Vec::with_capacity(paths.len());
    for raw in paths {
        let outcome = match logical_path(&raw) {
            Err(error) => Err(error),
            Ok(path) => {
                let request = Request {
                    id: RequestId::generate(),
                    operation: Operation::Read,
                    path,
                    data: serde_json::Map::new(),
                    token: token.clone(),
                    remote_addr: None,
                    wrap_ttl: None,
                    namespace: namespace.clone(),
                };
                state.core.handle(request).await
            }
        };
        results.push(batch_item(raw, outcome));
    }
    let mut data = serde_json::Map::new();
    data.insert("responses".into(), Value::Array(results));
    let id = RequestId::generate();
    envelope_response(&id, BATCH_READ_PATH, coffer_core::Response::with_data(data))
}

fn batch_item(path: String, outcome: Result<Reply, Error>) -> Value {
    let mut item = serde_json::Map::new();
    item.insert("path".into(), Value::String(path));
    let (status, data, warnings, errors) = match outcome {
        Ok(Reply::Ok(response)) => (
            200,
            response.data.map(Value::Object),
            response.warnings,
            None,
        ),
        Ok(Reply::NoContent) => (204, None, Vec::new(), None),
        Ok(Reply::NotFound) | Ok(Reply::NotFoundEmpty) => (404, None, Vec::new(), Some(Vec::new())),
        Ok(Reply::Login(_)) => (
            500,
            None,
            Vec::new(),
            Some(vec!["internal error".to_owned()]),
        ),
        Ok(Reply::NotFoundWithBody(response)) => (
            404,
            response.data.map(Value::Object),
            response.warnings,
            None,
        ),
        Err(error) => (
            crate::error_table::status_for(&error).as_u16(),
            None,
            Vec::new(),
            Some(vec![crate::error_table::client_message(&error)]),
        ),
    };
    item.insert("status".into(), Value::from(status));
    if let Some(data) = data {
        item.insert("data".into(), data);
    }
    if !warnings.is_empty() {
        item.insert("warnings".into(), Value::from(warnings));
    }
    if let Some(errors) = errors {
        item.insert("errors".into(), Value::from(errors));
    }
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths() {
        assert_eq!(
            percent_decode("a%20b/%C3%A9").ok().as_deref(),
            Some("a b/é")
        );
        assert!(percent_decode("bad%zz").is_err());
        assert!(percent_decode("bad%").is_err());
        assert!(percent_decode("%FF%FE").is_err());
    }

    #[test]
    fn wire_paths() {
        assert!(logical_path("sys/seal").is_ok());
        assert!(logical_path("secret/metadata/").is_ok());
        assert!(logical_path("/sys/seal").is_err());
        assert!(logical_path("sys//seal").is_err());
    }
}
