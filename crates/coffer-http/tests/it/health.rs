//! The unauthenticated status endpoints: `sys/health` (codes, query overrides, HEAD),
//! `sys/seal-status` and `sys/leader`, through the node's lifecycle.

use axum::http::StatusCode;
use coffer_core::VERSION;
use serde_json::json;

use crate::support::{Node, START_UNIX, errors, header, is_uuid, request, send_request};

#[tokio::test]
async fn health_is_501_while_uninitialized() {
    let node = Node::uninitialized().await;
    let (status, headers, body) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(
        body,
        json!({
            "initialized": false,
            "sealed": true,
            "standby": true,
            "replication_performance_mode": "unknown",
            "replication_dr_mode": "unknown",
            "server_time_utc": START_UNIX,
            "version": VERSION,
        })
    );
}

#[tokio::test]
async fn health_is_503_while_sealed() {
    let node = Node::unsealed().await;
    node.seal().await;
    let (status, _, body) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({
            "initialized": true,
            "sealed": true,
            "standby": true,
            "replication_performance_mode": "unknown",
            "replication_dr_mode": "unknown",
            "server_time_utc": START_UNIX,
            "version": VERSION,
        })
    );
}

#[tokio::test]
async fn health_is_200_while_active() {
    let node = Node::unsealed().await;
    node.clock.advance(std::time::Duration::from_secs(5));
    let (status, _, body) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let cluster_name = body["cluster_name"].as_str().unwrap_or("").to_owned();
    let cluster_id = body["cluster_id"].as_str().unwrap_or("").to_owned();
    assert!(cluster_name.starts_with("coffer-cluster-"), "{body}");
    assert!(is_uuid(&cluster_id), "{body}");
    assert_eq!(
        body,
        json!({
            "initialized": true,
            "sealed": false,
            "standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": START_UNIX + 5,
            "version": VERSION,
            "cluster_name": cluster_name,
            "cluster_id": cluster_id,
        })
    );
}

/// The node states a health check can meet.
#[derive(Clone, Copy, Debug)]
enum State {
    Uninitialized,
    Sealed,
    Active,
}

async fn node_in(state: State) -> Node {
    match state {
        State::Uninitialized => Node::uninitialized().await,
        State::Sealed => {
            let node = Node::unsealed().await;
            node.seal().await;
            node
        }
        State::Active => Node::unsealed().await,
    }
}

#[tokio::test]
async fn health_query_overrides() {
    use State::*;
    let cases: &[(State, &str, u16)] = &[
        (Uninitialized, "", 501),
        (Uninitialized, "?uninitcode=200", 200),
        (Uninitialized, "?sealedcode=200&uninitcode=200", 200),
        (Uninitialized, "?sealedcode=200", 501),
        (Uninitialized, "?uninitcode=abc", 400),
        (Uninitialized, "?uninitcode=", 400),
        (Uninitialized, "?uninitcode=99", 400),
        // Vault parses every override before it looks at the state.
        (Uninitialized, "?activecode=abc", 400),
        (Sealed, "", 503),
        (Sealed, "?sealedcode=200", 200),
        (Sealed, "?sealedcode=200&uninitcode=200", 200),
        (Sealed, "?uninitcode=200", 503),
        (Sealed, "?sealedcode=-1", 400),
        (Sealed, "?uninitcode=x", 400),
        (Active, "", 200),
        (Active, "?activecode=204", 204),
        (Active, "?activecode=299&sealedcode=500", 299),
        (Active, "?sealedcode=200&uninitcode=200", 200),
        (Active, "?activecode=abc", 400),
        (Active, "?standbycode=abc", 400),
        (Active, "?standbyok=true", 200),
    ];
    for &(state, query, expected) in cases {
        let node = node_in(state).await;
        let (status, _, body) = node
            .send("GET", &format!("/v1/sys/health{query}"), None, None)
            .await;
        assert_eq!(status.as_u16(), expected, "{state:?} {query:?}: {body}");
        if expected == 400 {
            let message = body["errors"][0].as_str().unwrap_or("");
            assert!(message.starts_with("invalid "), "{query:?}: {body}");
        } else if expected != 204 {
            assert_eq!(
                body["initialized"],
                json!(!matches!(state, Uninitialized)),
                "{state:?} {query:?}"
            );
        }
    }
}

#[tokio::test]
async fn health_head_has_the_status_and_no_body() {
    for (state, query, expected) in [
        (State::Uninitialized, "", 501),
        (State::Sealed, "", 503),
        (State::Sealed, "?sealedcode=200", 200),
        (State::Active, "", 200),
    ] {
        let node = node_in(state).await;
        let head = request("HEAD", &format!("/v1/sys/health{query}"))
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let (status, _, bytes) = send_request(&node.app, head).await;
        assert_eq!(status.as_u16(), expected, "{state:?} {query:?}");
        assert!(bytes.is_empty(), "{state:?}: {bytes:?}");
    }
}

#[tokio::test]
async fn status_endpoints_refuse_other_methods() {
    let node = Node::unsealed().await;
    for (method, path) in [
        ("PUT", "/v1/sys/health"),
        ("POST", "/v1/sys/health"),
        ("DELETE", "/v1/sys/health"),
        ("PUT", "/v1/sys/seal-status"),
        ("DELETE", "/v1/sys/init"),
        ("GET", "/v1/sys/unseal"),
        ("POST", "/v1/sys/leader"),
    ] {
        let (status, headers, body) = node.send(method, path, Some(&node.root), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(body, errors(&[]), "{method} {path}");
        assert_eq!(header(&headers, "content-type"), "application/json");
    }
}

#[tokio::test]
async fn seal_status_through_the_lifecycle() {
    let node = Node::uninitialized().await;
    let uninitialized = json!({
        "type": "shamir",
        "initialized": false,
        "sealed": true,
        "t": 0,
        "n": 0,
        "progress": 0,
        "nonce": "",
        "version": VERSION,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": "inmem",
    });
    let (status, _, body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, uninitialized);

    let (status, _, init) = node
        .send(
            "PUT",
            "/v1/sys/init",
            None,
            Some(json!({"secret_shares": 3, "secret_threshold": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut sealed = uninitialized.clone();
    sealed["initialized"] = json!(true);
    sealed["t"] = json!(2);
    sealed["n"] = json!(3);
    let (_, _, body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(body, sealed);

    for key in init["keys"].as_array().into_iter().flatten().take(2) {
        node.send("PUT", "/v1/sys/unseal", None, Some(json!({"key": key})))
            .await;
    }
    let (status, _, body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut unsealed = sealed.clone();
    unsealed["sealed"] = json!(false);
    unsealed["cluster_name"] = body["cluster_name"].clone();
    unsealed["cluster_id"] = body["cluster_id"].clone();
    assert!(is_uuid(body["cluster_id"].as_str().unwrap_or("")), "{body}");
    assert_eq!(body, unsealed);

    // The health endpoint reports the same cluster.
    let (_, _, health) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(health["cluster_id"], body["cluster_id"]);
    assert_eq!(health["cluster_name"], body["cluster_name"]);
}

#[tokio::test]
async fn leader_is_503_while_sealed_and_reports_no_ha_when_unsealed() {
    let node = Node::uninitialized().await;
    let (status, _, body) = node.send("GET", "/v1/sys/leader", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, errors(&["Vault is sealed"]));

    let node = Node::unsealed().await;
    let (status, _, body) = node.send("GET", "/v1/sys/leader", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": "0001-01-01T00:00:00Z",
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        })
    );

    node.seal().await;
    let (status, _, body) = node.send("GET", "/v1/sys/leader", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, errors(&["Vault is sealed"]));
}
