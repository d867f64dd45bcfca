//! Token expiry driven by the manual clock: expired tokens stop working, the reaper revokes
//! them (and their children), and their accessors stop resolving.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors};

const HOUR: Duration = Duration::from_secs(3600);

async fn lookup_accessor(node: &Node, accessor: &str) -> (StatusCode, Value) {
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/token/lookup-accessor",
            Some(&node.root),
            Some(json!({"accessor": accessor})),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn the_reaper_revokes_expired_tokens() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"policies": ["default"], "ttl": "1h"}))
        .await;
    assert_eq!(node.lookup_self_status(&issued.token).await, StatusCode::OK);
    node.clock.advance(HOUR / 2);
    assert_eq!(node.core.reap_expired().await.ok(), Some(0));
    assert_eq!(node.lookup_self_status(&issued.token).await, StatusCode::OK);

    node.clock.advance(2 * HOUR);
    let reaped = node.core.reap_expired().await.expect("the reaper runs");
    assert!(reaped >= 1, "reaped {reaped}");
    let (status, _, body) = node
        .send(
            "GET",
            "/v1/auth/token/lookup-self",
            Some(&issued.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, errors(&["permission denied"]));
    let (status, body) = lookup_accessor(&node, &issued.accessor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["invalid accessor"]));
    // Nothing is left to reap, and the root token never expires.
    assert_eq!(node.core.reap_expired().await.ok(), Some(0));
    assert_eq!(node.lookup_self_status(&node.root).await, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused_before_the_reaper_runs() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"policies": ["default"], "ttl": "1h"}))
        .await;
    node.clock.advance(2 * HOUR);
    assert_eq!(
        node.lookup_self_status(&issued.token).await,
        StatusCode::FORBIDDEN
    );
    let (status, _) = lookup_accessor(&node, &issued.accessor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/token/lookup",
            Some(&node.root),
            Some(json!({"token": issued.token})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, errors(&["bad token"]));
}

#[tokio::test]
async fn exactly_at_expiry_the_token_is_gone() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"policies": ["default"], "ttl": 60}))
        .await;
    node.clock.advance(Duration::from_secs(59));
    assert_eq!(node.lookup_self(&issued.token).await["ttl"], json!(1));
    node.clock.advance(Duration::from_secs(1));
    assert_eq!(
        node.lookup_self_status(&issued.token).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_parents_expiry_revokes_its_children() {
    let node = Node::unsealed().await;
    let parent = node
        .create_token(&node.root, json!({"policies": ["root"], "ttl": "1h"}))
        .await;
    let child = node
        .create_token(
            &parent.token,
            json!({"policies": ["default"], "ttl": "10h"}),
        )
        .await;
    let grandchild = node
        .create_token(&parent.token, json!({"policies": ["default"]}))
        .await;
    node.clock.advance(2 * HOUR);
    let reaped = node.core.reap_expired().await.expect("the reaper runs");
    assert!(reaped >= 1, "reaped {reaped}");
    for issued in [&parent, &child, &grandchild] {
        assert_eq!(
            node.lookup_self_status(&issued.token).await,
            StatusCode::FORBIDDEN
        );
        let (status, _) = lookup_accessor(&node, &issued.accessor).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn renewal_moves_expiry() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"policies": ["default"], "ttl": "1h"}))
        .await;
    node.clock.advance(HOUR / 2);
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/token/renew-self",
            Some(&issued.token),
            Some(json!({"increment": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["lease_duration"], json!(3600));
    // Past the original expiry, within the renewed one.
    node.clock.advance(HOUR * 3 / 4);
    assert_eq!(node.core.reap_expired().await.ok(), Some(0));
    assert_eq!(node.lookup_self_status(&issued.token).await, StatusCode::OK);
    node.clock.advance(HOUR / 2);
    assert_eq!(node.core.reap_expired().await.ok(), Some(1));
    assert_eq!(
        node.lookup_self_status(&issued.token).await,
        StatusCode::FORBIDDEN
    );
}
