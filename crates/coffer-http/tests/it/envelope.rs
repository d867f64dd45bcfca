//! Vault's reply envelope on logical paths, the headers every reply carries, 204s, and the two
//! ways a client presents its token.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors, header, is_uuid, json_of, request, send_request};

#[tokio::test]
async fn token_create_reply_is_the_full_envelope() {
    let node = Node::unsealed().await;
    let (status, headers, body) = node
        .send(
            "POST",
            "/v1/auth/token/create",
            Some(&node.root),
            Some(json!({"policies": ["app"], "ttl": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(
        header(&headers, "strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    let request_id = body["request_id"].as_str().unwrap_or("").to_owned();
    assert!(is_uuid(&request_id), "{body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let accessor = body["auth"]["accessor"].as_str().unwrap_or("").to_owned();
    assert!(token.starts_with("s.") && token.len() == 26, "{token}");
    assert_eq!(accessor.len(), 24, "{accessor}");
    assert_eq!(
        body,
        json!({
            "request_id": request_id,
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": null,
            "wrap_info": null,
            "warnings": null,
            "auth": {
                "client_token": token,
                "accessor": accessor,
                "policies": ["app", "default"],
                "token_policies": ["app", "default"],
                "metadata": null,
                "lease_duration": 3600,
                "renewable": true,
                "entity_id": "",
                "token_type": "service",
                "orphan": false,
                "mfa_requirement": null,
                "num_uses": 0,
            },
        })
    );
}

#[tokio::test]
async fn read_reply_has_data_and_null_auth() {
    let node = Node::unsealed().await;
    let (status, headers, first) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    let mut fields: Vec<&String> = first
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(
        fields,
        [
            "auth",
            "data",
            "lease_duration",
            "lease_id",
            "renewable",
            "request_id",
            "warnings",
            "wrap_info"
        ]
    );
    assert_eq!(first["auth"], Value::Null);
    assert_eq!(first["wrap_info"], Value::Null);
    assert_eq!(first["warnings"], Value::Null);
    assert_eq!(first["lease_id"], json!(""));
    assert_eq!(first["renewable"], json!(false));
    assert_eq!(first["lease_duration"], json!(0));
    assert!(first["data"].is_object());

    let (_, _, second) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&node.root), None)
        .await;
    let (a, b) = (
        first["request_id"].as_str().unwrap_or(""),
        second["request_id"].as_str().unwrap_or(""),
    );
    assert!(is_uuid(a) && is_uuid(b), "{a} {b}");
    assert_ne!(a, b, "every request gets its own id");
}

#[tokio::test]
async fn revoke_is_204_without_a_body() {
    let node = Node::unsealed().await;
    let child = node.create_token(&node.root, json!({})).await;
    let revoke = request("POST", "/v1/auth/token/revoke")
        .header("x-vault-token", &node.root)
        .body(Body::from(json!({"token": child.token}).to_string()))
        .expect("a valid request");
    let (status, headers, bytes) = send_request(&node.app, revoke).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(bytes.is_empty(), "{bytes:?}");
    assert_eq!(header(&headers, "content-type"), "");
    assert_eq!(header(&headers, "cache-control"), "no-store");
}

#[tokio::test]
async fn errors_are_json_with_the_same_headers() {
    let node = Node::unsealed().await;
    let (status, headers, body) = node
        .send("GET", "/v1/auth/token/lookup-self", None, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, errors(&["permission denied"]));
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(
        header(&headers, "strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
}

/// Sends `lookup-self` with one extra header (or none) and checks status and body.
async fn check_token_header(node: &Node, header: Option<(&str, String)>, expected: u16) {
    let mut builder = request("GET", "/v1/auth/token/lookup-self");
    if let Some((name, value)) = &header {
        builder = builder.header(*name, value);
    }
    let (status, _, bytes) = send_request(
        &node.app,
        builder.body(Body::empty()).expect("a valid request"),
    )
    .await;
    let body = json_of(&bytes);
    assert_eq!(status.as_u16(), expected, "{header:?}: {body}");
    if expected == 403 {
        assert_eq!(body, errors(&["permission denied"]), "{header:?}");
    } else {
        assert_eq!(body["data"]["policies"], json!(["root"]), "{header:?}");
    }
}

#[tokio::test]
async fn token_in_either_header() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    let cases: Vec<(Option<(&str, String)>, u16)> = vec![
        (Some(("x-vault-token", root.clone())), 200),
        (Some(("X-Vault-Token", root.clone())), 200),
        (Some(("authorization", format!("Bearer {root}"))), 200),
        (Some(("authorization", format!("bearer {root}"))), 200),
        (None, 403),
        (
            Some(("x-vault-token", "s.bogus0000000000000000000".into())),
            403,
        ),
        (Some(("x-vault-token", String::new())), 403),
        (Some(("authorization", "Bearer s.bogus".into())), 403),
        (Some(("authorization", "Bearer ".into())), 403),
        (Some(("authorization", format!("Basic {root}"))), 403),
        (Some(("authorization", root.clone())), 403),
    ];
    for (header, expected) in cases {
        check_token_header(&node, header, expected).await;
    }
}

#[tokio::test]
async fn x_vault_token_wins_over_authorization() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let lookup = request("GET", "/v1/auth/token/lookup-self")
        .header("x-vault-token", &child.token)
        .header("authorization", format!("Bearer {}", node.root))
        .body(Body::empty())
        .expect("a valid request");
    let (status, _, bytes) = send_request(&node.app, lookup).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&bytes)["data"]["accessor"], json!(child.accessor));
}
