//! ACL policies over HTTP: `sys/policies/acl` and legacy `sys/policy` CRUD with Vault's shapes,
//! the precedence experiment of `reference/vault-api.md` §2 reproduced through
//! `sys/capabilities`, and policy changes taking effect on live tokens at once.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::Node;

const P1: &str = r#"
path "secret/data/team/*" { capabilities = ["read"] }
path "secret/data/team/+/config" { capabilities = ["update"] }
path "secret/data/team/a*" { capabilities = ["list"] }
path "secret/data/team/abc" { capabilities = ["create"] }
path "secret/data/+/shared" { capabilities = ["read", "update"] }
path "secret/data/deny/*" { capabilities = ["deny"] }
path "secret/data/exact" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["list"] }
"#;

const P2: &str = r#"
path "secret/data/team/*" { capabilities = ["delete"] }
path "secret/data/deny/x" { capabilities = ["read", "sudo"] }
"#;

const P3: &str = r#"
path "secret/data/team/*" { capabilities = ["deny"] }
"#;

async fn write(node: &Node, name: &str, text: &str) {
    let (status, _, body) = node
        .send(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(&node.root),
            Some(json!({"policy": text})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "write {name}: {body}");
}

async fn capabilities(node: &Node, token: &str, path: &str) -> Value {
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities",
            Some(&node.root),
            Some(json!({"token": token, "paths": [path]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][path].clone()
}

#[tokio::test]
async fn issue_4_precedence_table_through_sys_capabilities() {
    let node = Node::unsealed().await;
    write(&node, "p1", P1).await;
    write(&node, "p2", P2).await;
    write(&node, "p3", P3).await;
    let only_p1 = node
        .create_token(
            &node.root,
            json!({"policies": ["p1"], "no_default_policy": true}),
        )
        .await
        .token;
    let p1_p2 = node
        .create_token(
            &node.root,
            json!({"policies": ["p1", "p2"], "no_default_policy": true}),
        )
        .await
        .token;
    let with_p3 = node
        .create_token(
            &node.root,
            json!({"policies": ["p1", "p2", "p3"], "no_default_policy": true}),
        )
        .await
        .token;

    // (path under secret/data/, p1 only, p1 + p2) — reference §2.
    let table: &[(&str, &[&str], &[&str])] = &[
        ("team/x", &["read"], &["delete", "read"]),
        ("team/x/config", &["update"], &["update"]),
        ("team/x/y/config", &["read"], &["delete", "read"]),
        ("team/abc", &["create"], &["create"]),
        ("team/abd", &["list"], &["list"]),
        ("team", &["deny"], &["deny"]),
        ("foo/bar/shared", &["deny"], &["deny"]),
        ("deny/x", &["deny"], &["read", "sudo"]),
        ("x/shared", &["read", "update"], &["read", "update"]),
        ("exact", &["read"], &["read"]),
    ];
    for (path, want_p1, want_p1_p2) in table {
        let full = format!("secret/data/{path}");
        assert_eq!(
            capabilities(&node, &only_p1, &full).await,
            json!(want_p1),
            "p1 on {full}"
        );
        assert_eq!(
            capabilities(&node, &p1_p2, &full).await,
            json!(want_p1_p2),
            "p1+p2 on {full}"
        );
    }
    assert_eq!(
        capabilities(&node, &with_p3, "secret/data/team/x").await,
        json!(["deny"]),
        "same-pattern deny wins"
    );
    assert_eq!(
        capabilities(&node, &node.root, "secret/data/anything").await,
        json!(["root"])
    );

    // capabilities-self answers for the caller, with the legacy `capabilities` key.
    let with_default = node
        .create_token(&node.root, json!({"policies": ["p1", "p2"]}))
        .await
        .token;
    let (_, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities-self",
            Some(&with_default),
            Some(json!({"paths": ["secret/data/team/x"]})),
        )
        .await;
    assert_eq!(body["data"]["capabilities"], json!(["delete", "read"]));
}

#[tokio::test]
async fn issue_4_policy_crud_shapes() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let (status, _, body) = node.send("LIST", "/v1/sys/policies/acl", root, None).await;
    assert_eq!(
        (status, body["data"]["keys"].clone()),
        (StatusCode::OK, json!(["default", "root"]))
    );
    let (status, _, _) = node.send("GET", "/v1/sys/policies/acl", root, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    write(
        &node,
        "App-RW",
        r#"path "secret/data/app/*" { capabilities = ["read", "update"] }"#,
    )
    .await;
    let (status, _, body) = node
        .send("GET", "/v1/sys/policies/acl/app-rw", root, None)
        .await;
    assert_eq!(status, StatusCode::OK, "names are lowercased: {body}");
    assert_eq!(body["data"]["name"], json!("app-rw"));
    assert!(
        body["data"]["policy"]
            .as_str()
            .is_some_and(|p| p.contains("secret/data/app/*"))
    );
    assert_eq!(body["data"]["version"], json!(1));

    let bad = [
        (
            r#"path "x" { capabilities = ["bogus"] }"#,
            "invalid capability \"bogus\"",
        ),
        (
            r#"path "x" { capabilities = ["read"] "#,
            "failed to parse policy",
        ),
    ];
    for (text, message) in bad {
        let (status, _, body) = node
            .send(
                "PUT",
                "/v1/sys/policies/acl/broken",
                root,
                Some(json!({"policy": text})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(
            body["errors"][0]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{body}"
        );
    }
    let (status, _, _) = node
        .send("GET", "/v1/sys/policies/acl/broken", root, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");

    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/sys/policies/acl/root",
            root,
            Some(json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["cannot update \"root\" policy"])
        )
    );
    let (status, _, body) = node
        .send("DELETE", "/v1/sys/policies/acl/root", root, None)
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["cannot delete \"root\" policy"])
        )
    );

    // Legacy API: `rules`, and `policies` beside `keys`.
    let (_, _, body) = node.send("GET", "/v1/sys/policy", root, None).await;
    assert_eq!(
        body["data"]["policies"],
        json!(["app-rw", "default", "root"])
    );
    let (_, _, body) = node.send("GET", "/v1/sys/policy/app-rw", root, None).await;
    assert!(
        body["data"]["rules"]
            .as_str()
            .is_some_and(|p| p.contains("secret/data/app/*"))
    );

    let (status, _, _) = node
        .send("DELETE", "/v1/sys/policies/acl/app-rw", root, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = node
        .send("DELETE", "/v1/sys/policies/acl/app-rw", root, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "idempotent");
    let (status, _, _) = node
        .send("GET", "/v1/sys/policies/acl/app-rw", root, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn issue_4_policy_changes_apply_to_live_tokens_and_survive_restart() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    node.send(
        "POST",
        "/v1/sys/mounts/secret",
        root,
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    node.send(
        "PUT",
        "/v1/secret/data/app/db",
        root,
        Some(json!({"data": {"password": "p"}})),
    )
    .await;
    write(
        &node,
        "reader",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    )
    .await;
    let reader = node
        .create_token(&node.root, json!({"policies": ["reader"]}))
        .await
        .token;

    let (status, _, _) = node
        .send("GET", "/v1/secret/data/app/db", Some(&reader), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/secret/data/app/db",
            Some(&reader),
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["errors"],
        json!(["1 error occurred:\n\t* permission denied\n\n"])
    );
    let (_, _, body) = node.send("GET", "/v1/secret/data/app/db", root, None).await;
    assert_eq!(
        body["data"]["data"]["password"],
        json!("p"),
        "the denied write changed nothing"
    );

    write(
        &node,
        "reader",
        r#"path "secret/data/other/*" { capabilities = ["read"] }"#,
    )
    .await;
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/app/db", Some(&reader), None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the new policy text applies at once"
    );

    node.seal().await;
    node.unseal().await;
    let (_, _, body) = node
        .send("GET", "/v1/sys/policies/acl/reader", root, None)
        .await;
    assert!(
        body["data"]["policy"]
            .as_str()
            .is_some_and(|p| p.contains("secret/data/other/*")),
        "stored durably"
    );
    assert_eq!(body["data"]["version"], json!(2));
}
