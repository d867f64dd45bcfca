//! Time-limited grants (`sys/grants`): extra capabilities on one path for one identity until an
//! exact expiry, tested with the manual clock; revocation; bad input writing nothing.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::Node;

async fn setup() -> (Node, String, String) {
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
            "/v1/secret/data/DATABASE_URL",
            root,
            Some(json!({"data": {"value": "postgresql://db"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let john = node
        .create_token(
            &node.root,
            json!({"identity": "user:john@example.com", "policies": ["default"]}),
        )
        .await
        .token;
    let jane = node.create_token(&node.root, json!({"identity": {"type": "user", "name": "jane@example.com"}, "policies": ["default"]})).await.token;
    (node, john, jane)
}

#[tokio::test]
async fn issue_4_grant_allows_one_identity_until_exact_expiry() {
    let (node, john, jane) = setup().await;
    let root = Some(node.root.as_str());
    let (_, _, body) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&john), None)
        .await;
    assert_eq!(
        body["data"]["identity"],
        json!({"type": "user", "name": "john@example.com"})
    );
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no grant yet");

    let grant = json!({"identity": "user:john@example.com", "path": "secret/data/DATABASE_URL", "duration": "1h"});
    let (status, _, body) = node.send("POST", "/v1/sys/grants", root, Some(grant)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["capabilities"],
        json!(["read"]),
        "read by default"
    );
    assert_eq!(
        body["data"]["expires_at"],
        json!("2023-11-14T23:13:20.000000000Z")
    );
    let id = body["data"]["id"].as_str().expect("grant id").to_owned();

    let (status, _, body) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["data"]["value"], json!("postgresql://db"));
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/secret/data/DATABASE_URL",
            Some(&john),
            Some(json!({"data": {"value": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only read was granted");
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&jane), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the grant is for john only");

    let (status, _, body) = node.send("LIST", "/v1/sys/grants", root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["keys"], json!([id]));

    node.clock.advance(Duration::from_secs(3599));
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::OK, "one second before expiry");
    node.clock.advance(Duration::from_secs(1));
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "expired exactly at the hour");

    assert!(node.core.reap_expired().await.expect("reap") >= 1);
    let (status, _, _) = node.send("LIST", "/v1/sys/grants", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = node
        .send("GET", &format!("/v1/sys/grants/{id}"), root, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn issue_4_grants_are_revocable_and_survive_a_restart() {
    let (node, john, _) = setup().await;
    let root = Some(node.root.as_str());
    let grant = json!({"identity": "user:john@example.com", "path": "secret/data/*", "capabilities": ["read", "update"], "duration": "30m"});
    let (_, _, body) = node.send("POST", "/v1/sys/grants", root, Some(grant)).await;
    let id = body["data"]["id"].as_str().expect("grant id").to_owned();
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/secret/data/DATABASE_URL",
            Some(&john),
            Some(json!({"data": {"value": "new"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a prefix grant with update");

    node.seal().await;
    node.unseal().await;
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::OK, "grants are stored durably");

    let (status, _, _) = node
        .send("DELETE", &format!("/v1/sys/grants/{id}"), root, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "revoked at once");
}

#[tokio::test]
async fn issue_4_bad_grants_write_nothing() {
    let (node, john, _) = setup().await;
    let root = Some(node.root.as_str());
    let cases = [
        (
            json!({"identity": "user:john", "path": "secret/data/x", "duration": "1x"}),
            "duration",
        ),
        (
            json!({"identity": "user:john", "path": "secret/data/x", "duration": "0s"}),
            "longer than zero",
        ),
        (
            json!({"identity": "user:john", "path": "secret/data/x", "duration": "1h", "capabilities": ["sudo"]}),
            "cannot be granted",
        ),
        (
            json!({"identity": "john", "path": "secret/data/x", "duration": "1h"}),
            "identity must be",
        ),
        (
            json!({"identity": "user:john", "duration": "1h"}),
            "path must name",
        ),
        (
            json!({"identity": "user:john", "path": "secret/*/x", "duration": "1h"}),
            "no other '*'",
        ),
        (
            json!({"identity": "user:john", "path": "secret/data/x"}),
            "duration is required",
        ),
        (
            json!({"identity": "user:john", "path": "secret/data/x", "duration": "9999h"}),
            "at most",
        ),
    ];
    for (body, message) in cases {
        let (status, _, reply) = node
            .send("POST", "/v1/sys/grants", root, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            reply["errors"][0]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{body}: {reply}"
        );
    }
    let (status, _, _) = node.send("LIST", "/v1/sys/grants", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");
    let grant = json!({"identity": "user:john@example.com", "path": "secret/data/DATABASE_URL", "duration": "1h"});
    let (status, _, _) = node
        .send("POST", "/v1/sys/grants", Some(&john), Some(grant))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a default-policy token cannot grant itself access"
    );
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/token/create",
            Some(&john),
            Some(json!({"identity": "user:mallory"})),
        )
        .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
        "{body}"
    );
}

#[tokio::test]
async fn issue_4_grants_and_their_use_are_audited() {
    let (node, john, _) = setup().await;
    let root = Some(node.root.as_str());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let device = json!({"type": "file", "options": {"file_path": log.display().to_string()}});
    let (status, _, body) = node
        .send("PUT", "/v1/sys/audit/file", root, Some(device))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let grant = json!({"identity": "user:john@example.com", "path": "secret/data/DATABASE_URL", "duration": "1h"});
    let (_, _, body) = node.send("POST", "/v1/sys/grants", root, Some(grant)).await;
    let id = body["data"]["id"].as_str().expect("grant id").to_owned();
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/DATABASE_URL", Some(&john), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "response" && r["request"]["path"] == "sys/grants"),
        "the grant's creation is recorded"
    );
    let used = records
        .iter()
        .find(|r| r["type"] == "request" && r["request"]["path"] == "secret/data/DATABASE_URL")
        .expect("the granted read is recorded");
    assert_eq!(
        used["auth"]["identity"],
        json!({"type": "user", "name": "john@example.com"})
    );
    let granting = used["auth"]["policy_results"]["granting_policies"].to_string();
    assert!(
        granting.contains(&format!("grant:{id}")),
        "the record names the grant that allowed it: {used}"
    );
}
