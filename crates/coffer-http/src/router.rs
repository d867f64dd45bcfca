//! The router: the unauthenticated status endpoints, the logical catch-all under `/v1/`, 404 for
//! everything else, and the headers every reply carries.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use coffer_api::ErrorBody;
use coffer_core::Core;
use serde::Serialize;

use crate::{logical, status};

/// Limits of the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// Largest accepted request body (Vault's default is 32 MiB).
    pub max_request_bytes: usize,
}

impl HttpConfig {
    /// Vault's defaults.
    pub fn vault_defaults() -> Self {
        HttpConfig {
            max_request_bytes: 32 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) core: Arc<Core>,
    pub(crate) config: HttpConfig,
}

/// The whole HTTP application for one core.
pub fn app(core: Arc<Core>, config: HttpConfig) -> Router {
    let state = AppState { core, config };
    Router::new()
        .route(
            "/v1/sys/health",
            get(status::health)
                .head(status::health)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/sys/seal-status",
            get(status::seal_status).fallback(method_not_allowed),
        )
        .route(
            "/v1/sys/init",
            get(status::init_status)
                .put(status::init)
                .post(status::init)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/sys/unseal",
            axum::routing::put(status::unseal)
                .post(status::unseal)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/sys/leader",
            get(status::leader).fallback(method_not_allowed),
        )
        .route("/v1/{*path}", any(logical::handle))
        .fallback(not_found)
        .layer(middleware::from_fn(common_headers))
        .with_state(state)
}

/// Serializes `body` as a JSON reply with `status`.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "failed to serialize a reply");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// 404 with an empty error list, as Vault answers unknown top-level paths.
pub(crate) async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, &ErrorBody::default())
}

/// 405 with an empty error list.
pub(crate) async fn method_not_allowed() -> Response {
    json_response(StatusCode::METHOD_NOT_ALLOWED, &ErrorBody::default())
}

async fn common_headers(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    response
}
