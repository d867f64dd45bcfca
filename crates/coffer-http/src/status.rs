//! The unauthenticated status and lifecycle endpoints: `sys/health`, `sys/seal-status`,
//! `sys/init`, `sys/unseal`, `sys/leader`. Vault serves them outside the logical pipeline (no
//! token, not audited), with their own reply shapes rather than the envelope.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_api::{
    Health, InitRequest, InitResponse, InitStatus, Leader, SealStatus, UnsealRequest,
};
use coffer_core::clock::unix_seconds;
use coffer_core::{Error, InitParams, SealConfig, VERSION};

use crate::body;
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

/// The status `sys/health` answers with in each state, after the query's overrides.
struct HealthCodes {
    uninit: StatusCode,
    sealed: StatusCode,
    standby: StatusCode,
    active: StatusCode,
}

impl HealthCodes {
    fn from_query(query: &HashMap<String, String>) -> Result<HealthCodes, Error> {
        let code = |name: &str, default: StatusCode| -> Result<StatusCode, Error> {
            let Some(text) = query.get(name) else {
                return Ok(default);
            };
            let value = text.parse::<u16>().map_err(|_| {
                Error::invalid(format!("invalid {name} value {text:?}: must be a number"))
            })?;
            StatusCode::from_u16(value).map_err(|_| {
                Error::invalid(format!("invalid {name} value {value}: not a status code"))
            })
        };
        Ok(HealthCodes {
            uninit: code("uninitcode", StatusCode::NOT_IMPLEMENTED)?,
            sealed: code("sealedcode", StatusCode::SERVICE_UNAVAILABLE)?,
            standby: code("standbycode", StatusCode::TOO_MANY_REQUESTS)?,
            active: code("activecode", StatusCode::OK)?,
        })
    }
}

/// `GET|HEAD sys/health` with Vault's status codes and query overrides.
pub(crate) async fn health(
    State(state): State<AppState>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // Vault parses every override before it looks at the state, so a bad one is always a 400.
    let codes = match HealthCodes::from_query(&query) {
        Ok(codes) => codes,
        Err(error) => return error_response(&error),
    };
    let health = match state.core.health().await {
        Ok(health) => health,
        Err(error) => return error_response(&error),
    };
    let status = if !health.initialized {
        codes.uninit
    } else if health.sealed {
        codes.sealed
    } else if health.standby
        && !query
            .get("standbyok")
            .is_some_and(|v| v == "true" || v.is_empty())
    {
        codes.standby
    } else {
        codes.active
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
        audit_devices_failing: state.core.failing_audit_devices().into_iter().collect(),
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

/// `PUT sys/init`.
pub(crate) async fn init(State(state): State<AppState>, body: Body) -> Response {
    let bytes = match body::read(body, state.config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(too_large) => return too_large,
    };
    let request: InitRequest = match body::typed(&bytes) {
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
pub(crate) async fn unseal(State(state): State<AppState>, body: Body) -> Response {
    let bytes = match body::read(body, state.config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(too_large) => return too_large,
    };
    let request: UnsealRequest = match body::typed(&bytes) {
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
    let leader = state.core.leader();
    let body = Leader {
        ha_enabled: leader.ha_enabled,
        is_self: leader.is_self,
        active_time: "0001-01-01T00:00:00Z".into(),
        leader_address: leader.leader_address,
        leader_cluster_address: leader.leader_cluster_address,
        performance_standby: false,
        performance_standby_last_remote_wal: 0,
    };
    json_response(StatusCode::OK, &body)
}
