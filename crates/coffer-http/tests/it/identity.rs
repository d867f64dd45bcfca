//! Identities through logins: userpass logins are `user:NAME`, approle logins `agent:ROLE`; each
//! gets an entity, and the policies of the entity's groups apply to its live tokens at once.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::Node;

#[tokio::test]
async fn issue_4_group_policies_apply_to_logged_in_identities() {
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
        "/v1/secret/data/production/db",
        root,
        Some(json!({"data": {"password": "p"}})),
    )
    .await;
    let policy = r#"path "secret/data/production/*" { capabilities = ["read"] }"#;
    node.send(
        "PUT",
        "/v1/sys/policies/acl/prod-read",
        root,
        Some(json!({"policy": policy})),
    )
    .await;
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/auth/userpass",
            root,
            Some(json!({"type": "userpass"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/userpass/users/alice",
            root,
            Some(json!({"password": "pw-alice-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/userpass/login/alice",
            None,
            Some(json!({"password": "pw-alice-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login needs no token: {body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let entity_id = body["auth"]["entity_id"]
        .as_str()
        .expect("entity id")
        .to_owned();
    assert!(!entity_id.is_empty());
    assert_eq!(body["auth"]["orphan"], json!(true));
    assert_eq!(body["auth"]["metadata"], json!({"username": "alice"}));
    let (_, _, body) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .await;
    assert_eq!(
        body["data"]["identity"],
        json!({"type": "user", "name": "alice"})
    );
    assert_eq!(body["data"]["entity_id"], json!(entity_id));

    let (status, _, _) = node
        .send("GET", "/v1/secret/data/production/db", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = node
        .send(
            "GET",
            &format!("/v1/identity/entity/id/{entity_id}"),
            root,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["data"]["name"].clone(), body["data"]["type"].clone()),
        (json!("alice"), json!("user"))
    );

    let group =
        json!({"name": "engineers", "policies": ["prod-read"], "member_entity_ids": [entity_id]});
    let (status, _, body) = node
        .send("POST", "/v1/identity/group", root, Some(group))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = node
        .send("GET", "/v1/secret/data/production/db", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the group's policy applies to the live token: {body}"
    );

    let (status, _, _) = node
        .send(
            "POST",
            "/v1/identity/group/name/engineers",
            root,
            Some(json!({"member_entity_ids": []})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/production/db", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "leaving the group takes the policy away at once"
    );

    // A second login reuses the entity.
    let (_, _, body) = node
        .send(
            "POST",
            "/v1/auth/userpass/login/alice",
            None,
            Some(json!({"password": "pw-alice-1"})),
        )
        .await;
    assert_eq!(body["auth"]["entity_id"], json!(entity_id));
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/userpass/login/alice",
            None,
            Some(json!({"password": "wrong"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["invalid username or password"])
        )
    );
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/userpass/login/nobody",
            None,
            Some(json!({"password": "wrong"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["invalid username or password"])
        )
    );
    let (status, _, _) = node
        .send("GET", "/v1/auth/userpass/users/alice", None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only login is unauthenticated"
    );
}

#[tokio::test]
async fn issue_4_approle_logins_are_agents() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    node.send(
        "POST",
        "/v1/sys/auth/approle",
        root,
        Some(json!({"type": "approle"})),
    )
    .await;
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/auth/approle/role/deploy-bot",
            root,
            Some(json!({"token_policies": ["default"], "secret_id_num_uses": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, _, body) = node
        .send(
            "GET",
            "/v1/auth/approle/role/deploy-bot/role-id",
            root,
            None,
        )
        .await;
    let role_id = body["data"]["role_id"]
        .as_str()
        .expect("role id")
        .to_owned();
    let (_, _, body) = node
        .send(
            "POST",
            "/v1/auth/approle/role/deploy-bot/secret-id",
            root,
            None,
        )
        .await;
    let secret_id = body["data"]["secret_id"]
        .as_str()
        .expect("secret id")
        .to_owned();

    let login = json!({"role_id": role_id, "secret_id": secret_id});
    let (status, _, body) = node
        .send("POST", "/v1/auth/approle/login", None, Some(login.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, _, body) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .await;
    assert_eq!(
        body["data"]["identity"],
        json!({"type": "agent", "name": "deploy-bot"})
    );
    let (status, _, body) = node
        .send("POST", "/v1/auth/approle/login", None, Some(login))
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (StatusCode::BAD_REQUEST, json!(["invalid secret id"])),
        "single use"
    );

    let (_, _, body) = node.send("GET", "/v1/sys/auth", root, None).await;
    assert_eq!(body["data"]["approle/"]["type"], json!("approle"));
    assert_eq!(body["data"]["token/"]["type"], json!("token"));
}
