//! Barrier key rotation over HTTP: `sys/rotate` and `sys/rotate/keyring`, and `sys/key-status`
//! with Vault's top-level duplication of `data`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors};

async fn key_status(node: &Node) -> Value {
    let (status, _, body) = node
        .send("GET", "/v1/sys/key-status", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn key_status_duplicates_data_at_the_top_level() {
    let node = Node::unsealed().await;
    let body = key_status(&node).await;
    assert_eq!(body["data"]["term"], json!(1));
    for field in ["term", "install_time", "encryptions"] {
        assert!(!body["data"][field].is_null(), "data.{field}: {body}");
        assert_eq!(body[field], body["data"][field], "{field}");
    }
    assert!(body["data"]["encryptions"].as_u64().is_some(), "{body}");
    assert!(body["data"]["install_time"].as_str().is_some(), "{body}");
    // The envelope fields are still there.
    assert_eq!(body["lease_id"], json!(""));
    assert_eq!(body["auth"], Value::Null);
}

#[tokio::test]
async fn rotation_adds_a_term_and_old_data_stays_readable() {
    let node = Node::unsealed().await;
    let before = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;

    let (status, _, body) = node
        .send("POST", "/v1/sys/rotate", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);
    let after_one = key_status(&node).await;
    assert_eq!(after_one["term"], json!(2));
    assert_eq!(after_one["data"]["term"], json!(2));

    let (status, _, _) = node
        .send("PUT", "/v1/sys/rotate/keyring", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(key_status(&node).await["term"], json!(3));

    // A token written under term 1 still works once the caches are gone.
    node.seal().await;
    node.unseal().await;
    assert_eq!(key_status(&node).await["term"], json!(3));
    assert_eq!(node.lookup_self_status(&before.token).await, StatusCode::OK);
    let after = node.create_token(&node.root, json!({})).await;
    assert_eq!(node.lookup_self_status(&after.token).await, StatusCode::OK);
}

#[tokio::test]
async fn rotation_needs_sudo() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    for path in ["/v1/sys/rotate", "/v1/sys/rotate/keyring"] {
        let (status, _, _) = node.send("POST", path, Some(&child.token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _, _) = node
        .send("GET", "/v1/sys/key-status", Some(&child.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(key_status(&node).await["term"], json!(1));
    // Reading `sys/rotate` is not an operation it supports.
    let (status, _, body) = node
        .send("GET", "/v1/sys/rotate", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        body,
        errors(&["1 error occurred:\n\t* unsupported operation\n\n"])
    );
}
