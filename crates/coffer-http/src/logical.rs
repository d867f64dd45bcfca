//! The logical catch-all: every `/v1/<path>` that is not a status endpoint becomes a core
//! [`Request`] (method → operation, token header, JSON body, query) and its reply becomes Vault's
//! envelope.

use std::net::SocketAddr;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request as HttpRequest, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_api::{Auth, Envelope};
use coffer_core::{ClientToken, Error, LogicalPath, Operation, Reply, Request, RequestId};
use serde_json::{Map, Value};

use crate::error_table::error_response;
use crate::router::{AppState, json_response, method_not_allowed};

/// Paths whose reply repeats `data`'s keys at the top level, as Vault's legacy endpoints do.
const LEGACY_TOP_LEVEL: &[&str] = &[
    "sys/key-status",
    "sys/capabilities",
    "sys/capabilities-self",
    "sys/capabilities-accessor",
];

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
    let raw_path = parts.uri.path().strip_prefix("/v1/").unwrap_or("");
    let path = match percent_decode(raw_path).and_then(|p| LogicalPath::parse(&p)) {
        Ok(path) => path,
        Err(error) => return error_response(&error),
    };
    let bytes = match to_bytes(body, state.config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let body = coffer_api::ErrorBody {
                errors: vec!["http: request body too large".into()],
            };
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, &body);
        }
    };
    let mut data = match parse_json_object(&bytes) {
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
    };
    match state.core.handle(core_request).await {
        Ok(Reply::Ok(response)) => envelope_response(&id, path.as_str(), *response),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Ok(Reply::NotFound) => crate::router::not_found().await,
        Err(error) => error_response(&error),
    }
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

fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::invalid(
            "failed to parse JSON input: the request body must be a JSON object",
        )),
        Err(e) => Err(Error::invalid(format!("failed to parse JSON input: {e}"))),
    }
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
        lease_id: String::new(),
        renewable: false,
        lease_duration: 0,
        data: response.data,
        wrap_info: None,
        warnings: (!response.warnings.is_empty()).then_some(response.warnings),
        auth,
    };
    if LEGACY_TOP_LEVEL.contains(&path) {
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
    fn json_bodies() {
        assert!(
            parse_json_object(b"")
                .map(|m| m.is_empty())
                .unwrap_or(false)
        );
        assert!(parse_json_object(b"{\"a\":1}").is_ok());
        assert!(parse_json_object(b"[1]").is_err());
        assert!(parse_json_object(b"nope").is_err());
        assert!(parse_json_object(b"{\"a\":\"\xff\"}").is_err());
    }
}
