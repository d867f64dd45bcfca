//! Request bodies as Vault reads them: at most the configured number of bytes (413 beyond), JSON
//! whether or not a Content-Type says so, and always a JSON object (an empty body or `null` is an
//! empty object).

use axum::body::{Body, Bytes, to_bytes};
use axum::http::StatusCode;
use axum::response::Response;
use coffer_api::ErrorBody;
use coffer_core::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::router::json_response;

/// Reads a whole body, or answers 413 when it is larger than `limit` bytes.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, Response> {
    to_bytes(body, limit).await.map_err(|_| {
        let body = ErrorBody {
            errors: vec!["http: request body too large".into()],
        };
        json_response(StatusCode::PAYLOAD_TOO_LARGE, &body)
    })
}

/// Parses a body as a JSON object.
pub(crate) fn object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
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

/// Parses a body as a JSON object into a wire type whose fields all have defaults.
pub(crate) fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_value(Value::Object(object(bytes)?))
        .map_err(|e| Error::invalid(format!("failed to parse JSON input: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies() {
        assert!(object(b"").map(|m| m.is_empty()).unwrap_or(false));
        assert!(object(b" null ").map(|m| m.is_empty()).unwrap_or(false));
        assert!(object(b"{\"a\":1}").is_ok());
        assert!(object(b"[1]").is_err());
        assert!(object(b"nope").is_err());
        assert!(object(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn typed_bodies_must_be_objects() {
        let parsed: Result<coffer_api::UnsealRequest, _> = typed(b"{\"reset\":true}");
        assert!(parsed.map(|r| r.reset).unwrap_or(false));
        // serde would read a sequence into a struct; Vault's parser would not.
        assert!(typed::<coffer_api::UnsealRequest>(b"[\"key\"]").is_err());
        assert!(typed::<coffer_api::InitRequest>(b"").is_ok());
        assert!(typed::<coffer_api::InitRequest>(b"{\"secret_shares\":-1}").is_err());
    }
}
