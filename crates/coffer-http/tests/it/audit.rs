//! Audit fail-closed behaviour through the HTTP edge: when the only device cannot record, every
//! request is refused and storage does not change; a second, working device is enough; the failure
//! shows in `sys/health`.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Node, snapshot};

#[tokio::test]
async fn issue_6_unwritable_only_device_refuses_requests_and_changes_nothing() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    node.send(
        "POST",
        "/v1/sys/mounts/secret",
        root,
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/secret/data/app",
            root,
            Some(json!({"data": {"v": "1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // /dev/full accepts the open and fails every write, like a full disk.
    let device = json!({"type": "file", "options": {"file_path": "/dev/full"}});
    node.send("PUT", "/v1/sys/audit/full", root, Some(device))
        .await;
    let before = snapshot(&node.storage).await;

    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/secret/data/app",
            root,
            Some(json!({"data": {"v": "2"}})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        body["errors"],
        json!(["no audit device could record the request, so it was refused"])
    );
    let (status, _, _) = node.send("GET", "/v1/secret/data/app", root, None).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "reads are refused too"
    );
    let (status, _, _) = node
        .send("DELETE", "/v1/secret/metadata/app", root, None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        snapshot(&node.storage).await,
        before,
        "nothing changed in storage"
    );

    let (status, _, body) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["audit_devices_failing"]["full/"].is_string(),
        "health says which device fails: {body}"
    );
}

#[tokio::test]
async fn issue_6_one_working_device_is_enough() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let good = json!({"type": "file", "options": {"file_path": log.display().to_string()}});
    let (status, _, body) = node
        .send("PUT", "/v1/sys/audit/good", root, Some(good))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let bad = json!({"type": "file", "options": {"file_path": "/dev/full"}});
    node.send("PUT", "/v1/sys/audit/bad", root, Some(bad)).await;
    node.send(
        "POST",
        "/v1/sys/mounts/secret",
        root,
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/secret/data/app",
            root,
            Some(json!({"data": {"v": "1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "one device recorded it: {body}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("secret/data/app"));
    assert!(!text.contains(&node.root), "no token in clear");

    let (status, _, body) = node.send("PUT", "/v1/sys/audit/exec", root, Some(json!({"type": "file", "options": {"file_path": log.display().to_string(), "mode": "0755"}}))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "executable modes are refused: {body}"
    );
    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/sys/audit/good",
            root,
            Some(json!({"type": "file", "options": {"file_path": "/tmp/x"}})),
        )
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (StatusCode::BAD_REQUEST, json!(["path already in use"]))
    );
    let token = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await
        .token;
    let (status, _, _) = node.send("GET", "/v1/sys/audit", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "listing devices needs sudo");
    let (status, _, _) = node.send("DELETE", "/v1/sys/audit/bad", root, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
