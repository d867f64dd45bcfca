//! The token backend end to end with Vault's shapes (reference §1.6): create, create-orphan,
//! lookups, renewal, the revoke family, limited-use tokens, what a `default`-policy token may
//! do, and `sys/capabilities-self`.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Issued, Node, errors};

/// POSTs `body` to `auth/token/<path>` with `token`.
async fn post(node: &Node, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, reply) = node
        .send(
            "POST",
            &format!("/v1/auth/token/{path}"),
            Some(token),
            Some(body),
        )
        .await;
    (status, reply)
}

#[tokio::test]
async fn create_with_policies_ttl_meta_and_display_name() {
    let node = Node::unsealed().await;
    let (status, body) = post(
        &node,
        "create",
        &node.root,
        json!({
            "policies": ["App-RW"],
            "ttl": "1h",
            "renewable": true,
            "display_name": "agent1",
            "meta": {"purpose": "test"},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let accessor = body["auth"]["accessor"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        body["auth"],
        json!({
            "client_token": token,
            "accessor": accessor,
            "policies": ["app-rw", "default"],
            "token_policies": ["app-rw", "default"],
            "metadata": {"purpose": "test"},
            "lease_duration": 3600,
            "renewable": true,
            "entity_id": "",
            "token_type": "service",
            "orphan": false,
            "mfa_requirement": null,
            "num_uses": 0,
        })
    );
    assert_eq!(body["data"], Value::Null);

    node.clock.advance(Duration::from_secs(600));
    assert_eq!(
        node.lookup_self(&token).await,
        json!({
            "accessor": accessor,
            "creation_time": 1_700_000_000,
            "creation_ttl": 3600,
            "display_name": "token-agent1",
            "entity_id": "",
            "expire_time": "2023-11-14T23:13:20.000000000Z",
            "explicit_max_ttl": 0,
            "id": token,
            "issue_time": "2023-11-14T22:13:20.000000000Z",
            "meta": {"purpose": "test"},
            "num_uses": 0,
            "orphan": false,
            "path": "auth/token/create",
            "policies": ["app-rw", "default"],
            "renewable": true,
            "ttl": 3000,
            "type": "service",
        })
    );
}

#[tokio::test]
async fn root_token_lookup() {
    let node = Node::unsealed().await;
    let data = node.lookup_self(&node.root).await;
    let accessor = data["accessor"].clone();
    assert_eq!(
        data,
        json!({
            "accessor": accessor,
            "creation_time": 1_700_000_000,
            "creation_ttl": 0,
            "display_name": "root",
            "entity_id": "",
            "expire_time": null,
            "explicit_max_ttl": 0,
            "id": node.root,
            "issue_time": "2023-11-14T22:13:20.000000000Z",
            "meta": null,
            "num_uses": 0,
            "orphan": true,
            "path": "auth/token/root",
            "policies": ["root"],
            "ttl": 0,
            "type": "service",
        })
    );
}

#[tokio::test]
async fn display_names_and_policies_are_normalized() {
    let node = Node::unsealed().await;
    let cases: &[(Value, &str, Value)] = &[
        (json!({}), "token", json!(["root"])),
        (json!({"display_name": ""}), "token", json!(["root"])),
        (
            json!({"display_name": "agent1"}),
            "token-agent1",
            json!(["root"]),
        ),
        (
            json!({"display_name": "my agent"}),
            "token-my-agent",
            json!(["root"]),
        ),
        (
            json!({"display_name": "a_b.c"}),
            "token-a-b-c",
            json!(["root"]),
        ),
        (
            json!({"display_name": "agent!"}),
            "token-agent",
            json!(["root"]),
        ),
        (json!({"display_name": "x--"}), "token-x-", json!(["root"])),
        (
            json!({"display_name": "café"}),
            "token-caf",
            json!(["root"]),
        ),
        (
            json!({"policies": ["b", "a"]}),
            "token",
            json!(["a", "b", "default"]),
        ),
        (
            json!({"policies": "b, a,A"}),
            "token",
            json!(["a", "b", "default"]),
        ),
        (
            json!({"policies": ["default"]}),
            "token",
            json!(["default"]),
        ),
        (
            json!({"policies": ["x"], "no_default_policy": true}),
            "token",
            json!(["x"]),
        ),
        (json!({"policies": ["root"]}), "token", json!(["root"])),
    ];
    for (body, display_name, policies) in cases {
        let issued = node.create_token(&node.root, body.clone()).await;
        // Looked up by root: a token without `default` may not look itself up.
        let (status, reply) =
            post(&node, "lookup", &node.root, json!({"token": issued.token})).await;
        assert_eq!(status, StatusCode::OK, "{body}: {reply}");
        assert_eq!(reply["data"]["display_name"], json!(display_name), "{body}");
        assert_eq!(reply["data"]["policies"], *policies, "{body}");
    }
    let bare = node
        .create_token(
            &node.root,
            json!({"policies": ["x"], "no_default_policy": true}),
        )
        .await;
    assert_eq!(
        node.lookup_self_status(&bare.token).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn create_orphan() {
    let node = Node::unsealed().await;
    let (status, body) = post(
        &node,
        "create-orphan",
        &node.root,
        json!({"policies": ["a"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["orphan"], json!(true));
    assert_eq!(body["auth"]["policies"], json!(["a", "default"]));
    let token = body["auth"]["client_token"].as_str().unwrap_or("");
    let data = node.lookup_self(token).await;
    assert_eq!(data["orphan"], json!(true));
    assert_eq!(data["path"], json!("auth/token/create-orphan"));

    // `no_parent` on `create` does the same for root.
    let (_, body) = post(&node, "create", &node.root, json!({"no_parent": true})).await;
    assert_eq!(body["auth"]["orphan"], json!(true), "{body}");
    // A child is not an orphan, and revoking root's tree spares orphans.
    let child = node.create_token(&node.root, json!({})).await;
    assert_eq!(node.lookup_self(&child.token).await["orphan"], json!(false));
}

#[tokio::test]
async fn lookup_and_lookup_accessor() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"ttl": "1h", "display_name": "x"}))
        .await;
    let own = node.lookup_self(&issued.token).await;

    let (status, body) = post(&node, "lookup", &node.root, json!({"token": issued.token})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], own);

    let (status, body) = post(
        &node,
        "lookup-accessor",
        &node.root,
        json!({"accessor": issued.accessor}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut by_accessor = own.clone();
    by_accessor["id"] = json!("");
    assert_eq!(body["data"], by_accessor);

    let (status, _, body) = node
        .send(
            "GET",
            &format!("/v1/auth/token/lookup-accessor/{}", issued.accessor),
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], by_accessor);

    let cases: &[(&str, Value, u16, &str)] = &[
        ("lookup", json!({"token": "s.unknown"}), 403, "bad token"),
        ("lookup", json!({}), 400, "missing token to look up"),
        (
            "lookup-accessor",
            json!({"accessor": "nope"}),
            400,
            "invalid accessor",
        ),
        ("lookup-accessor", json!({}), 400, "missing accessor"),
    ];
    for (path, body, code, message) in cases {
        let (status, reply) = post(&node, path, &node.root, body.clone()).await;
        assert_eq!(status.as_u16(), *code, "{path} {body}: {reply}");
        assert_eq!(reply, errors(&[message]), "{path} {body}");
    }
}

#[tokio::test]
async fn renew_self_is_capped_by_explicit_max_ttl() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(
            &node.root,
            json!({"policies": ["default"], "ttl": "1h", "explicit_max_ttl": "90m"}),
        )
        .await;

    let (status, body) = post(
        &node,
        "renew-self",
        &issued.token,
        json!({"increment": "30m"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["lease_duration"], json!(1800));
    assert_eq!(body["auth"]["client_token"], json!(issued.token));
    assert_eq!(body["auth"]["accessor"], json!(issued.accessor));
    assert_eq!(body["auth"]["renewable"], json!(true));
    assert_eq!(body["data"], Value::Null);

    // Asking for more than the cap gets the cap: 90 minutes from creation.
    let (_, body) = post(
        &node,
        "renew-self",
        &issued.token,
        json!({"increment": "3h"}),
    )
    .await;
    assert_eq!(body["auth"]["lease_duration"], json!(5400), "{body}");

    node.clock.advance(Duration::from_secs(3600));
    let (_, body) = post(
        &node,
        "renew-self",
        &issued.token,
        json!({"increment": 7200}),
    )
    .await;
    assert_eq!(body["auth"]["lease_duration"], json!(1800), "{body}");

    let data = node.lookup_self(&issued.token).await;
    assert_eq!(data["ttl"], json!(1800));
    assert_eq!(data["explicit_max_ttl"], json!(5400));
    assert_eq!(data["expire_time"], json!("2023-11-14T23:43:20.000000000Z"));
    assert_eq!(
        data["last_renewal"],
        json!("2023-11-14T23:13:20.000000000Z")
    );
    assert_eq!(data["last_renewal_time"], json!(1_700_003_600));

    // Renewal by the token itself through `renew` works the same way.
    let (status, body) = post(
        &node,
        "renew",
        &node.root,
        json!({"token": issued.token, "increment": "10m"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["lease_duration"], json!(600));

    let (status, body) = post(
        &node,
        "renew-self",
        &issued.token,
        json!({"increment": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn renewing_a_non_renewable_token_is_400() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(
            &node.root,
            json!({"policies": ["default"], "ttl": "1h", "renewable": false}),
        )
        .await;
    assert_eq!(
        node.lookup_self(&issued.token).await["renewable"],
        json!(false)
    );
    let (status, body) = post(&node, "renew-self", &issued.token, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["lease is not renewable"]));
    let (status, _) = post(&node, "renew", &node.root, json!({"token": issued.token})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The refusal changed nothing.
    assert_eq!(node.lookup_self(&issued.token).await["ttl"], json!(3600));
}

/// Root creates `parent` (root policy, so it may create tokens) and `parent` creates `child`.
async fn family(node: &Node) -> (Issued, Issued) {
    let parent = node
        .create_token(&node.root, json!({"policies": ["root"], "ttl": "10h"}))
        .await;
    let child = node
        .create_token(
            &parent.token,
            json!({"policies": ["default"], "ttl": "10h"}),
        )
        .await;
    assert_eq!(node.lookup_self(&child.token).await["orphan"], json!(false));
    (parent, child)
}

#[tokio::test]
async fn revoking_a_parent_revokes_its_children() {
    let node = Node::unsealed().await;
    let (parent, child) = family(&node).await;
    let (status, body) = post(&node, "revoke", &node.root, json!({"token": parent.token})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);
    for token in [&parent.token, &child.token] {
        let (status, _, body) = node
            .send("GET", "/v1/auth/token/lookup-self", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, errors(&["permission denied"]));
    }
    // Revoking an unknown (or already revoked) token is not an error.
    let (status, _) = post(&node, "revoke", &node.root, json!({"token": parent.token})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = post(&node, "revoke", &node.root, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["missing token to look up"]));
    assert_eq!(node.lookup_self_status(&node.root).await, StatusCode::OK);
}

#[tokio::test]
async fn revoke_accessor() {
    let node = Node::unsealed().await;
    let (parent, child) = family(&node).await;
    let (status, _) = post(
        &node,
        "revoke-accessor",
        &node.root,
        json!({"accessor": parent.accessor}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        node.lookup_self_status(&parent.token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        node.lookup_self_status(&child.token).await,
        StatusCode::FORBIDDEN
    );
    let (status, _) = post(
        &node,
        "lookup-accessor",
        &node.root,
        json!({"accessor": child.accessor}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoke_orphan_keeps_the_children() {
    let node = Node::unsealed().await;
    let (parent, child) = family(&node).await;
    let (status, body) = post(
        &node,
        "revoke-orphan",
        &node.root,
        json!({"token": parent.token}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        node.lookup_self_status(&parent.token).await,
        StatusCode::FORBIDDEN
    );
    let data = node.lookup_self(&child.token).await;
    assert_eq!(data["orphan"], json!(true));

    // It needs sudo, which a default-policy token lacks.
    let (status, _) = post(
        &node,
        "revoke-orphan",
        &child.token,
        json!({"token": child.token}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(node.lookup_self_status(&child.token).await, StatusCode::OK);
}

#[tokio::test]
async fn revoke_self() {
    let node = Node::unsealed().await;
    let (parent, child) = family(&node).await;
    let (status, body) = post(&node, "revoke-self", &child.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        node.lookup_self_status(&child.token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(node.lookup_self_status(&parent.token).await, StatusCode::OK);
    let (status, _) = post(&node, "revoke-self", &parent.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        node.lookup_self_status(&parent.token).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_default_policy_token_can_only_do_what_default_allows() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    assert_eq!(
        node.lookup_self(&child.token).await["policies"],
        json!(["default"])
    );
    let denied = errors(&["1 error occurred:\n\t* permission denied\n\n"]);
    for (method, path) in [
        ("POST", "/v1/auth/token/create"),
        ("POST", "/v1/auth/token/create-orphan"),
        ("POST", "/v1/auth/token/lookup"),
        ("PUT", "/v1/sys/seal"),
        ("GET", "/v1/sys/key-status"),
        ("LIST", "/v1/auth/token/accessors"),
        ("GET", "/v1/nomount/foo"),
    ] {
        let (status, _, body) = node
            .send(method, path, Some(&child.token), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body, denied, "{method} {path}");
    }
    assert!(!node.core.is_sealed());
    // A missing or unknown token is the plain message.
    let (_, _, body) = node
        .send("PUT", "/v1/sys/seal", Some("s.unknown"), None)
        .await;
    assert_eq!(body, errors(&["permission denied"]));
}

#[tokio::test]
async fn limited_use_tokens() {
    let node = Node::unsealed().await;
    let issued = node
        .create_token(&node.root, json!({"policies": ["default"], "num_uses": 2}))
        .await;
    assert_eq!(node.lookup_self_status(&issued.token).await, StatusCode::OK);
    assert_eq!(node.lookup_self_status(&issued.token).await, StatusCode::OK);
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
    // The last use revoked it.
    let (status, _) = post(
        &node,
        "lookup-accessor",
        &node.root,
        json!({"accessor": issued.accessor}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A limited-use token cannot create children.
    let limited = node
        .create_token(&node.root, json!({"policies": ["root"], "num_uses": 5}))
        .await;
    let (status, body) = post(&node, "create", &limited.token, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        errors(&["tokens with limited uses cannot create child tokens"])
    );
}

async fn capabilities_self(node: &Node, token: &str, path: &str) -> Value {
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities-self",
            Some(token),
            Some(json!({"paths": [path]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn capabilities_self_by_policy() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let cases: &[(&str, &str, Value)] = &[
        (&child.token, "auth/token/lookup-self", json!(["read"])),
        (&child.token, "auth/token/renew-self", json!(["update"])),
        (&child.token, "secret/x", json!(["deny"])),
        (&child.token, "sys/seal", json!(["deny"])),
        (&node.root, "secret/x", json!(["root"])),
        (&node.root, "auth/token/lookup-self", json!(["root"])),
    ];
    for (token, path, expected) in cases {
        let body = capabilities_self(&node, token, path).await;
        assert_eq!(body["data"][*path], *expected, "{path}: {body}");
        assert_eq!(body["data"]["capabilities"], *expected, "{path}");
        // Vault repeats `data` at the top level on this endpoint.
        assert_eq!(body[*path], *expected, "{path}");
        assert_eq!(body["capabilities"], *expected, "{path}");
        assert_eq!(body["auth"], Value::Null);
    }

    // `sys/capabilities` answers for another token, by root.
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities",
            Some(&node.root),
            Some(json!({"token": child.token, "path": "auth/token/lookup-self"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capabilities"], json!(["read"]));
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities-accessor",
            Some(&node.root),
            Some(json!({"accessor": child.accessor, "path": "secret/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capabilities"], json!(["deny"]));
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/capabilities-self",
            Some(&child.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["missing paths"]));
}
