//! `oauth-token`: a bare access token or a token-response JSON object. When the access token is
//! a JWT its claims are decoded (the signature is not verified: this is metadata, not trust).

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::kind::CredentialType;
use crate::{Inspection, timestamp};

const KIND: CredentialType = CredentialType::OauthToken;

fn invalid(reason: &'static str) -> Error {
    Error::Invalid { kind: KIND, reason }
}

/// Validates the token and records `hasRefreshToken`, `scopes`, `tokenType`, `expiresAt` and
/// the JWT claims `jwtIssuer`, `jwtSubject`, `jwtAudience`, `jwtAlgorithm`.
pub(crate) fn inspect(value: &str, now: SystemTime, inspection: &mut Inspection) -> Result<()> {
    let value = value.trim();
    let mut expiries = Vec::new();
    let json: Value;
    let access_token = if value.starts_with('{') {
        json = serde_json::from_str(value).map_err(|_| invalid("the token JSON is malformed"))?;
        let object = json
            .as_object()
            .ok_or_else(|| invalid("the token JSON is not an object"))?;
        inspect_response(object, now, inspection, &mut expiries)?
    } else {
        if value.chars().any(char::is_whitespace) {
            return Err(invalid("a bare token must not contain whitespace"));
        }
        inspection.set("hasRefreshToken", "false");
        value
    };
    if let Some(claims) = jwt_claims(access_token)? {
        inspect_claims(&claims, inspection, &mut expiries);
    }
    // The token stops working at the earliest expiry any source states.
    if let Some(expires) = expiries.into_iter().min() {
        inspection.set("expiresAt", timestamp::rfc3339(expires));
        inspection.expires_at = timestamp::from_unix_seconds(expires);
        if expires <= timestamp::unix_seconds(now) {
            inspection.warn(format!(
                "the token expired at {}",
                timestamp::rfc3339(expires)
            ));
        }
    }
    Ok(())
}

/// Reads an RFC 6749 token response; returns the access token.
fn inspect_response<'a>(
    object: &'a Map<String, Value>,
    now: SystemTime,
    inspection: &mut Inspection,
    expiries: &mut Vec<i64>,
) -> Result<&'a str> {
    let access_token = match object.get("access_token") {
        Some(Value::String(token)) if !token.trim().is_empty() => token.trim(),
        Some(Value::String(_)) | None => return Err(invalid("access_token is missing or empty")),
        Some(_) => return Err(invalid("access_token must be a string")),
    };
    let has_refresh = match object.get("refresh_token") {
        None | Some(Value::Null) => false,
        Some(Value::String(token)) => !token.trim().is_empty(),
        Some(_) => return Err(invalid("refresh_token must be a string")),
    };
    inspection.set("hasRefreshToken", has_refresh.to_string());
    match object.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(token_type)) => inspection.set("tokenType", token_type.as_str()),
        Some(_) => return Err(invalid("token_type must be a string")),
    }
    match object.get("scope") {
        None | Some(Value::Null) => {}
        Some(Value::String(scope)) => set_scopes(inspection, scope.split_whitespace()),
        Some(_) => return Err(invalid("scope must be a space-separated string")),
    }
    if let Some(expires_in) = object.get("expires_in").filter(|v| !v.is_null()) {
        let seconds =
            seconds_field(expires_in).ok_or_else(|| invalid("expires_in must be whole seconds"))?;
        expiries.push(timestamp::unix_seconds(now).saturating_add(seconds));
    }
    if let Some(expires_at) = object.get("expires_at").filter(|v| !v.is_null()) {
        let at = seconds_field(expires_at)
            .or_else(|| rfc3339_field(expires_at))
            .ok_or_else(|| invalid("expires_at must be Unix seconds or an RFC 3339 time"))?;
        expiries.push(at);
    }
    Ok(access_token)
}

/// A whole number of seconds, given as a JSON number or a string of digits.
fn seconds_field(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn rfc3339_field(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    let time = humantime::parse_rfc3339_weak(text.trim()).ok()?;
    Some(timestamp::unix_seconds(time))
}

fn set_scopes<'a>(inspection: &mut Inspection, scopes: impl Iterator<Item = &'a str>) {
    let scopes: Vec<&str> = scopes.filter(|s| !s.is_empty()).collect();
    if !scopes.is_empty() {
        inspection.set("scopes", scopes.join(","));
    }
}

/// Decoded JWT header `alg` and claims.
struct Claims {
    algorithm: String,
    payload: Map<String, Value>,
}

/// `Some` when `token` is a JWS compact JWT (three base64url parts whose header is a JSON
/// object with `alg`); an error when it looks like one but its payload is not a JSON object.
fn jwt_claims(token: &str) -> Result<Option<Claims>> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Some(Value::Object(header)) = decode_json(header) else {
        return Ok(None);
    };
    let Some(Value::String(algorithm)) = header.get("alg") else {
        return Ok(None);
    };
    let Some(Value::Object(payload)) = decode_json(payload) else {
        return Err(invalid("the JWT payload is not base64url-encoded JSON"));
    };
    Ok(Some(Claims {
        algorithm: algorithm.clone(),
        payload,
    }))
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn inspect_claims(claims: &Claims, inspection: &mut Inspection, expiries: &mut Vec<i64>) {
    inspection.set("jwtAlgorithm", claims.algorithm.as_str());
    let payload = &claims.payload;
    if let Some(Value::String(issuer)) = payload.get("iss") {
        inspection.set("jwtIssuer", issuer.as_str());
    }
    if let Some(Value::String(subject)) = payload.get("sub") {
        inspection.set("jwtSubject", subject.as_str());
    }
    match payload.get("aud") {
        Some(Value::String(audience)) => inspection.set("jwtAudience", audience.as_str()),
        Some(Value::Array(audiences)) => {
            let audiences: Vec<&str> = audiences.iter().filter_map(Value::as_str).collect();
            inspection.set("jwtAudience", audiences.join(","));
        }
        _ => {}
    }
    // A scope in the token response wins over the JWT's own claim.
    if !inspection.metadata.contains_key("scopes") {
        match payload.get("scope").or_else(|| payload.get("scp")) {
            Some(Value::String(scope)) => set_scopes(inspection, scope.split_whitespace()),
            Some(Value::Array(scopes)) => {
                set_scopes(inspection, scopes.iter().filter_map(Value::as_str));
            }
            _ => {}
        }
    }
    // `exp` is a NumericDate: seconds, possibly fractional.
    if let Some(exp) = payload
        .get("exp")
        .and_then(Value::as_f64)
        .filter(|e| e.is_finite())
    {
        // Float-to-int `as` saturates, so absurd values cannot wrap.
        expiries.push(exp.floor() as i64);
    }
}
