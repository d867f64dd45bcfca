//! The unauthenticated status and lifecycle endpoints: `sys/health`, `sys/seal-status`,
//! `sys/init`, `sys/unseal`, `sys/leader`. Vault serves them outside the logical pipeline (no
//! token, not audited), with their own reply shapes rather than the envelope.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_api::{
    Health, InitRequest, InitResponse, InitStatus, Leader, SealStatus, UnsealRequest,
};
use coffer_core::clock::unix_seconds;
use coffer_core::{Error, InitParams, SealConfig, VERSION};

use crate::error_table::error_response;
use crate::router::{AppState, json_response};

fn seal_status_wire(status: coffer_core::SealStatus) -> SealStatus {
    SealStatus {
        seal_type: "shamir".into(),
        initialized: status.initialized,
        sealed: status.sealed,
        t: status.threshold,
        n: status.shares,
        progress: status.progress,
        nonce: status.nonce,
        version: VERSION.into(),
        build_date: String::new(),
        migration: false,
        recovery_seal: false,
        cluster_name: status.cluster.as_ref().map(|c| c.name.clone()),
        cluster_id: status.cluster.map(|c| c.id),
        storage_type: status.storage_type.into(),
    }
}

/// `GET|HEAD sys/health` with Vault's status codes and query overrides.
pub(crate) async fn health(
    State(state): State<AppState>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let health = match state.core.health().await {
        Ok(health) => health,
        Err(error) => return error_response(&error),
    };
    let code = |name: &str, default: u16| -> Result<StatusCode, Error> {
        let value = match query.get(name) {
            None => default,
            Some(text) => text.parse::<u16>().map_err(|_| {
                Error::invalid(format!("invalid {name} value {text:?}: must be a number"))
            })?,
        };
        StatusCode::from_u16(value)
            .map_err(|_| Error::invalid(format!("invalid {name} value {value}: not a status code")))
    };
    let status = if !health.initialized {
        code("uninitcode", 501)
    } else if health.sealed {
        code("sealedcode", 503)
    } else if health.standby
        && !query
            .get("standbyok")
            .is_some_and(|v| v == "true" || v.is_empty())
    {
        code("standbycode", 429)
    } else {
        code("activecode", 200)
    };
    let status = match status {
        Ok(status) => status,
        Err(error) => return error_response(&error),
    };
    if method == Method::HEAD {
        return status.into_response();
    }
    let unknown = health.sealed;
    let body = Health {
        initialized: health.initialized,
        sealed: health.sealed,
        standby: health.standby || health.sealed,
        replication_performance_mode: if unknown { "unknown" } else { "disabled" }.into(),
        replication_dr_mode: if unknown { "unknown" } else { "disabled" }.into(),
        server_time_utc: unix_seconds(health.server_time),
        version: VERSION.into(),
        cluster_name: health.cluster.as_ref().map(|c| c.name.clone()),
        cluster_id: health.cluster.map(|c| c.id),
    };
    json_response(status, &body)
}

/// `GET sys/seal-status`.
pub(crate) async fn seal_status(State(state): State<AppState>) -> Response {
    match state.core.seal_status().await {
        Ok(status) => json_response(StatusCode::OK, &seal_status_wire(status)),
        Err(error) => error_response(&error),
    }
}

/// `GET sys/init`.
pub(crate) async fn init_status(State(state): State<AppState>) -> Response {
    match state.core.is_initialized().await {
        Ok(initialized) => json_response(StatusCode::OK, &InitStatus { initialized }),
        Err(error) => error_response(&error),
    }
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("failed to parse JSON input: {e}")))
}

/// `PUT sys/init`.
pub(crate) async fn init(State(state): State<AppState>, body: Bytes) -> Response {
    let request: InitRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let seal = match SealConfig::new(request.secret_shares, request.secret_threshold) {
        Ok(seal) => seal,
        Err(error) => return error_response(&error),
    };
    match state.core.init(InitParams { seal }).await {
        Ok(result) => {
            let reply = InitResponse {
                keys: result
                    .shares
                    .iter()
                    .map(|s| s.to_hex().to_string())
                    .collect(),
                keys_base64: result
                    .shares
                    .iter()
                    .map(|s| s.to_base64().to_string())
                    .collect(),
                root_token: result.root_token.expose().to_owned(),
            };
            json_response(StatusCode::OK, &reply)
        }
        Err(error) => error_response(&error),
    }
}

/// `PUT sys/unseal`.
pub(crate) async fn unseal(State(state): State<AppState>, body: Bytes) -> Response {
    let request: UnsealRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let result = if request.reset {
        state.core.unseal_reset().await
    } else {
        match request.key.as_deref() {
            Some(key) if !key.is_empty() => state.core.unseal(key).await,
            _ => Err(Error::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            )),
        }
    };
    match result {
        Ok(status) => json_response(StatusCode::OK, &seal_status_wire(status)),
        Err(error) => error_response(&error),
    }
}

/// `GET sys/leader`.
pub(crate) async fn leader(State(state): State<AppState>) -> Response {
    if state.core.is_sealed() {
        return error_response(&Error::Sealed);
    }
    let body = Leader {
        ha_enabled: false,
        is_self: false,
        active_time: "0001-01-01T00:00:00Z".into(),
        leader_address: String::new(),
        leader_cluster_address: String::new(),
        performance_standby: false,
        performance_standby_last_remote_wal: 0,
    };
    json_response(StatusCode::OK, &body)
}
