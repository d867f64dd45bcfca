//! Namespaces (tenants) through the HTTP edge: `sys/namespaces`, selecting a namespace with
//! `X-Vault-Namespace` or a path prefix, isolation of mounts, policies and tokens between
//! namespaces, and deletion of everything a namespace stored.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors, json_of, request, send_request, snapshot};

/// Sends a request to `namespace` (as `X-Vault-Namespace`), like [`Node::send`].
async fn send_ns(
    node: &Node,
    namespace: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut builder = request(method, path).header("x-vault-namespace", namespace);
    if let Some(token) = token {
        builder = builder.header("x-vault-token", token);
    }
    if method == "PATCH" {
        builder = builder.header("content-type", "application/merge-patch+json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let request = builder.body(body).expect("a valid test request");
    let (status, _, bytes) = send_request(&node.app, request).await;
    (status, json_of(&bytes))
}

/// Creates namespace `name` inside `parent` ("" for the root) and returns its `data`.
async fn create_namespace(node: &Node, parent: &str, name: &str) -> Value {
    let (status, body) = send_ns(
        node,
        parent,
        "POST",
        &format!("/v1/sys/namespaces/{name}"),
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "create {parent}/{name}: {body}");
    body["data"].clone()
}

/// Mounts KV v2 at `secret/` in `namespace`.
async fn mount_kv(node: &Node, namespace: &str) {
    let (status, body) = send_ns(
        node,
        namespace,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&node.root),
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "mount in {namespace}: {body}"
    );
}

/// Writes `secret/data/app` = `{"v": value}` in `namespace` with the root token.
async fn put_secret(node: &Node, namespace: &str, value: &str) {
    let (status, body) = send_ns(
        node,
        namespace,
        "PUT",
        "/v1/secret/data/app",
        Some(&node.root),
        Some(json!({"data": {"v": value}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "write in {namespace}: {body}");
}

/// Creates a token in `namespace` with the root token, carrying `policies`.
async fn token_in(node: &Node, namespace: &str, policies: &[&str]) -> String {
    let (status, body) = send_ns(
        node,
        namespace,
        "POST",
        "/v1/auth/token/create",
        Some(&node.root),
        Some(json!({"policies": policies})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "token in {namespace}: {body}");
    body["auth"]["client_token"]
        .as_str()
        .expect("a client token")
        .to_owned()
}

/// Writes an ACL policy into `namespace`'s policy store.
async fn put_policy(node: &Node, namespace: &str, name: &str, text: &str) {
    let (status, body) = send_ns(
        node,
        namespace,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(&node.root),
        Some(json!({"policy": text})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "policy in {namespace}: {body}"
    );
}

const READ_SECRETS: &str = r#"path "secret/*" { capabilities = ["read", "list"] }"#;

#[tokio::test]
async fn create_list_read_patch_and_delete() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/namespaces/acme",
            root,
            Some(json!({"custom_metadata": {"owner": "ops"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created = body["data"].clone();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 6, "{created}");
    assert_eq!(created["path"], "acme/");
    assert_eq!(created["custom_metadata"], json!({"owner": "ops"}));

    let (status, _, body) = node.send("LIST", "/v1/sys/namespaces", root, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["keys"], json!(["acme/"]));
    assert_eq!(body["data"]["key_info"]["acme/"]["id"], json!(id));
    assert_eq!(body["data"]["key_info"]["acme/"]["path"], "acme/");

    let (status, _, body) = node
        .send("GET", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], created);

    let (status, body) = send_ns(
        &node,
        "",
        "PATCH",
        "/v1/sys/namespaces/acme",
        root,
        Some(json!({"custom_metadata": {"owner": null, "tier": "gold"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["custom_metadata"], json!({"tier": "gold"}));

    // Writing an existing namespace again keeps it (same id) and sets its metadata, as OpenBao.
    let (status, _, body) = node
        .send("POST", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], json!(id));
    assert_eq!(body["data"]["custom_metadata"], json!({}));

    let (status, _, body) = node
        .send("DELETE", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "deleted");
    let (status, _, _) = node
        .send("GET", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = node.send("LIST", "/v1/sys/namespaces", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an empty list is 404");
    let (status, _, body) = node
        .send("DELETE", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["warnings"],
        json!(["requested namespace does not exist"])
    );
}

#[tokio::test]
async fn the_same_kv_path_holds_different_values_in_two_namespaces() {
    let node = Node::unsealed().await;
    create_namespace(&node, "", "acme").await;
    create_namespace(&node, "", "globex").await;
    for namespace in ["acme", "globex"] {
        mount_kv(&node, namespace).await;
        put_secret(&node, namespace, &format!("{namespace}-value")).await;
    }
    for namespace in ["acme", "globex"] {
        let (status, body) = send_ns(
            &node,
            namespace,
            "GET",
            "/v1/secret/data/app",
            Some(&node.root),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["data"]["v"],
            json!(format!("{namespace}-value"))
        );
    }
    // Each namespace has its own mount table: the root has no `secret/`, new namespaces get
    // the default mounts.
    let (status, _, _) = node
        .send("GET", "/v1/secret/data/app", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/sys/mounts",
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut paths: Vec<&String> = body["data"].as_object().expect("mounts").keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        ["credentials/", "cubbyhole/", "secret/", "sys/"],
        "identity is global; each namespace has its own credentials/"
    );
}

#[tokio::test]
async fn a_token_works_in_its_namespace_and_below_only() {
    let node = Node::unsealed().await;
    let acme = create_namespace(&node, "", "acme").await;
    create_namespace(&node, "acme", "team1").await;
    create_namespace(&node, "", "globex").await;
    for namespace in ["acme", "acme/team1", "globex"] {
        mount_kv(&node, namespace).await;
        put_secret(&node, namespace, namespace).await;
    }
    mount_kv(&node, "").await;
    put_secret(&node, "", "root").await;
    for namespace in ["", "acme", "acme/team1", "globex"] {
        put_policy(&node, namespace, "reader", READ_SECRETS).await;
    }

    let token = token_in(&node, "acme", &["reader"]).await;
    let suffix = format!(".{}", acme["id"].as_str().expect("an id"));
    assert!(token.ends_with(&suffix), "{token} names its namespace");
    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/secret/data/app",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "allowed in acme: {body}");
    assert_eq!(body["data"]["data"]["v"], "acme");
    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["namespace_path"], "acme/");

    for namespace in ["globex", ""] {
        let (status, body) = send_ns(
            &node,
            namespace,
            "GET",
            "/v1/secret/data/app",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "refused in {namespace:?}");
        assert_eq!(body, errors(&["permission denied"]));
    }
    // Below acme the token works, with acme's policies matched against `team1/…`: `reader`
    // names `secret/*`, which in acme/team1 is `team1/secret/*` from acme's point of view.
    let (status, _) = send_ns(
        &node,
        "acme/team1",
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a descendant accepts the token");
    let (status, _) = send_ns(
        &node,
        "acme/team1",
        "GET",
        "/v1/secret/data/app",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "its policy names acme's secret/"
    );

    // The root token works everywhere.
    for namespace in ["", "acme", "acme/team1", "globex"] {
        let (status, body) = send_ns(
            &node,
            namespace,
            "GET",
            "/v1/secret/data/app",
            Some(&node.root),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let expected = if namespace.is_empty() {
            "root"
        } else {
            namespace
        };
        assert_eq!(body["data"]["data"]["v"], expected);
    }
}

#[tokio::test]
async fn header_and_path_prefix_address_the_same_namespace() {
    let node = Node::unsealed().await;
    create_namespace(&node, "", "acme").await;
    create_namespace(&node, "acme", "team1").await;
    mount_kv(&node, "acme/").await;
    mount_kv(&node, "acme/team1").await;
    put_secret(&node, "acme", "acme").await;
    put_secret(&node, "acme/team1/", "team1").await;
    let root = Some(node.root.as_str());

    for (namespace, path, expected) in [
        ("", "/v1/acme/secret/data/app", "acme"),
        ("acme/", "/v1/secret/data/app", "acme"),
        ("", "/v1/acme/team1/secret/data/app", "team1"),
        ("acme", "/v1/team1/secret/data/app", "team1"),
        ("acme/team1", "/v1/secret/data/app", "team1"),
    ] {
        let (status, body) = send_ns(&node, namespace, "GET", path, root, None).await;
        assert_eq!(status, StatusCode::OK, "{namespace:?} {path}: {body}");
        assert_eq!(body["data"]["data"]["v"], expected, "{namespace:?} {path}");
    }
    // The prefix works for sys/ too.
    let (status, _, body) = node.send("GET", "/v1/acme/sys/mounts", root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["secret/"].is_object(), "{body}");
}

#[tokio::test]
async fn nested_namespaces_are_created_from_their_parent() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    create_namespace(&node, "", "acme").await;
    let team1 = create_namespace(&node, "acme", "team1").await;
    assert_eq!(team1["path"], "acme/team1/");
    let (status, _, body) = node
        .send("POST", "/v1/acme/sys/namespaces/team2", root, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["path"], "acme/team2/");

    let (status, body) = send_ns(&node, "acme", "LIST", "/v1/sys/namespaces", root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["keys"], json!(["team1/", "team2/"]));
    assert_eq!(body["data"]["key_info"]["team1/"]["path"], "acme/team1/");
    let (_, _, body) = node.send("LIST", "/v1/sys/namespaces", root, None).await;
    assert_eq!(
        body["data"]["keys"],
        json!(["acme/"]),
        "only direct children"
    );
    let (_, _, body) = node.send("SCAN", "/v1/sys/namespaces", root, None).await;
    assert_eq!(
        body["data"]["keys"],
        json!(["acme/", "acme/team1/", "acme/team2/"])
    );
    // A nested name is not a namespace name.
    let (status, _, body) = node
        .send("POST", "/v1/sys/namespaces/acme/team3", root, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["namespace name cannot contain /"]));

    let (status, _, body) = node
        .send("DELETE", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        errors(&["cannot delete namespace (\"acme/\") containing child namespaces"])
    );
    for child in ["team1", "team2"] {
        let (status, _) = send_ns(
            &node,
            "acme",
            "DELETE",
            &format!("/v1/sys/namespaces/{child}"),
            root,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = node
        .send("DELETE", "/v1/sys/namespaces/acme", root, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_root_policy_on_a_prefixed_path_governs_the_namespace() {
    let node = Node::unsealed().await;
    for namespace in ["acme", "globex"] {
        create_namespace(&node, "", namespace).await;
        mount_kv(&node, namespace).await;
        put_secret(&node, namespace, namespace).await;
    }
    mount_kv(&node, "").await;
    put_secret(&node, "", "root").await;
    put_policy(
        &node,
        "",
        "acme-reader",
        r#"
        path "acme/secret/*" { capabilities = ["read"] }
        path "acme/sys/capabilities-self" { capabilities = ["update"] }
        "#,
    )
    .await;
    let token = token_in(&node, "", &["acme-reader"]).await;

    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/secret/data/app",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["data"]["v"], "acme");
    let (status, _, _) = node
        .send("GET", "/v1/acme/secret/data/app", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the path prefix too");
    for namespace in ["globex", ""] {
        let (status, _) = send_ns(
            &node,
            namespace,
            "GET",
            "/v1/secret/data/app",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not in {namespace:?}");
    }
    let (status, body) = send_ns(
        &node,
        "acme",
        "POST",
        "/v1/sys/capabilities-self",
        Some(&token),
        Some(json!({"path": "secret/data/app"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["capabilities"], json!(["read"]));
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_data_and_its_tokens() {
    let node = Node::unsealed().await;
    let acme = create_namespace(&node, "", "acme").await;
    let uuid = acme["uuid"].as_str().expect("a uuid").to_owned();
    mount_kv(&node, "acme").await;
    put_secret(&node, "acme", "doomed").await;
    put_policy(&node, "acme", "reader", READ_SECRETS).await;
    let token = token_in(&node, "acme", &["reader"]).await;
    let prefix = format!("namespaces/{uuid}/");
    let stored = snapshot(&node.storage).await;
    assert!(
        stored.keys().filter(|k| k.starts_with(&prefix)).count() > 5,
        "the namespace's mounts, data, policies and tokens live under {prefix}"
    );
    assert!(stored.contains_key(&format!("core/namespaces/{uuid}")));

    let (status, _, body) = node
        .send("DELETE", "/v1/sys/namespaces/acme", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = snapshot(&node.storage).await;
    let left: Vec<&String> = stored
        .keys()
        .filter(|k| k.starts_with(&prefix) || k.contains(&uuid))
        .collect();
    assert!(left.is_empty(), "nothing is left: {left:?}");

    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/secret/data/app",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, errors(&["namespace not found"]));
    let (status, _, _) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the token is gone");

    // A namespace created again under the same name starts empty.
    create_namespace(&node, "", "acme").await;
    let (status, _) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/secret/data/app",
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an old token does not come back"
    );
}

#[tokio::test]
async fn bad_names_and_conflicts_are_refused() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let long = "x".repeat(65);
    for name in [
        "sys",
        "root",
        "auth",
        "identity",
        "cubbyhole",
        "a.b",
        "a%20b",
        &long,
    ] {
        let (status, _, body) = node
            .send("POST", &format!("/v1/sys/namespaces/{name}"), root, None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
    }
    let (_, _, body) = node
        .send("POST", "/v1/sys/namespaces/sys", root, None)
        .await;
    assert_eq!(
        body,
        errors(&["\"sys/\" is a reserved path and cannot be used as a namespace name"])
    );
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/namespaces/acme",
            root,
            Some(json!({"custom_metadata": {"n": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["custom_metadata values must be strings"]));

    // A namespace and a mount cannot take the same first path segment.
    mount_kv(&node, "").await;
    let (status, _, body) = node
        .send("POST", "/v1/sys/namespaces/secret", root, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        errors(&["new namespace conflicts with existing mount: secret/"])
    );
    create_namespace(&node, "", "acme").await;
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/mounts/acme/kv",
            root,
            Some(json!({"type": "kv"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn an_unknown_namespace_is_404() {
    let node = Node::unsealed().await;
    let (status, body) = send_ns(
        &node,
        "nope",
        "GET",
        "/v1/sys/mounts",
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, errors(&["namespace not found"]));
    // As a path prefix, an unknown name is just a path.
    let (status, _, body) = node
        .send("GET", "/v1/nope/secret/data/x", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        errors(&["no handler for route \"nope/secret/data/x\". route entry not found."])
    );
}

#[tokio::test]
async fn managing_namespaces_needs_sudo() {
    let node = Node::unsealed().await;
    put_policy(
        &node,
        "",
        "ns-writer",
        r#"path "sys/namespaces/*" { capabilities = ["create", "update", "read", "list"] }"#,
    )
    .await;
    let token = token_in(&node, "", &["ns-writer"]).await;
    let (status, _, body) = node
        .send("POST", "/v1/sys/namespaces/acme", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    put_policy(
        &node,
        "",
        "ns-admin",
        r#"path "sys/namespaces/*" { capabilities = ["create", "update", "sudo"] }"#,
    )
    .await;
    let token = token_in(&node, "", &["ns-admin"]).await;
    let (status, _, body) = node
        .send("POST", "/v1/sys/namespaces/acme", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn global_endpoints_answer_in_the_root_namespace_only() {
    let node = Node::unsealed().await;
    create_namespace(&node, "", "acme").await;
    for (method, path) in [
        ("GET", "/v1/sys/audit"),
        ("GET", "/v1/sys/key-status"),
        ("PUT", "/v1/sys/seal"),
        ("LIST", "/v1/sys/grants"),
        ("LIST", "/v1/identity/entity/id"),
    ] {
        let (status, body) = send_ns(&node, "acme", method, path, Some(&node.root), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(
            body,
            errors(&["operation only available in root namespace"])
        );
    }
    assert!(!node.core.is_sealed());
}

#[tokio::test]
async fn logins_through_a_namespace_auth_method_issue_its_tokens() {
    let node = Node::unsealed().await;
    let acme = create_namespace(&node, "", "acme").await;
    let root = Some(node.root.as_str());
    let (status, body) = send_ns(
        &node,
        "acme",
        "POST",
        "/v1/sys/auth/userpass",
        root,
        Some(json!({"type": "userpass"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    put_policy(&node, "acme", "reader", READ_SECRETS).await;
    mount_kv(&node, "acme").await;
    put_secret(&node, "acme", "for-alice").await;
    let (status, body) = send_ns(
        &node,
        "acme",
        "POST",
        "/v1/auth/userpass/users/alice",
        root,
        Some(json!({"password": "correct horse", "token_policies": ["reader"]})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/acme/auth/userpass/login/alice",
            None,
            Some(json!({"password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["auth"]["client_token"].as_str().expect("a token");
    assert!(token.ends_with(&format!(".{}", acme["id"].as_str().expect("id"))));
    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/secret/data/app",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = send_ns(
        &node,
        "acme",
        "GET",
        "/v1/auth/token/lookup-self",
        Some(token),
        None,
    )
    .await;
    assert_eq!(
        body["data"]["identity"],
        json!({"type": "user", "name": "acme/alice"}),
        "identities are global, so a tenant's user is named with its namespace"
    );
    let (status, _, _) = node
        .send("GET", "/v1/auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not in the root namespace");
}

#[tokio::test]
async fn audit_records_carry_the_namespace() {
    let node = Node::unsealed().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let device = json!({"type": "file", "options": {"file_path": log.display().to_string()}});
    let (status, _, body) = node
        .send("PUT", "/v1/sys/audit/file", Some(&node.root), Some(device))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let acme = create_namespace(&node, "", "acme").await;
    mount_kv(&node, "acme").await;
    let text = std::fs::read_to_string(&log).expect("the audit log");
    let record: Value = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|r| r["type"] == "response" && r["request"]["path"] == "sys/mounts/secret")
        .expect("the mount request is recorded");
    assert_eq!(
        record["request"]["namespace"],
        json!({"id": acme["id"], "path": "acme/"})
    );
    let root_record: Value = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|r| r["request"]["path"] == "sys/namespaces/acme")
        .expect("the namespace creation is recorded");
    assert_eq!(root_record["request"]["namespace"], json!({"id": "root"}));
}

#[tokio::test]
async fn the_root_policy_exists_in_the_root_namespace_only() {
    let node = Node::unsealed().await;
    create_namespace(&node, "", "acme").await;
    let (status, body) = send_ns(
        &node,
        "acme",
        "POST",
        "/v1/auth/token/create",
        Some(&node.root),
        Some(json!({"policies": ["root"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        errors(&["the root policy can only be assigned in the root namespace"])
    );
    let (status, body) = send_ns(
        &node,
        "acme",
        "LIST",
        "/v1/sys/policies/acl",
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["keys"], json!(["default"]));
}

#[tokio::test]
async fn issue_5_tenants_keep_credentials_and_leases_apart() {
    let node = Node::unsealed().await;
    create_namespace(&node, "", "acme").await;
    create_namespace(&node, "", "globex").await;
    let agent_policy =
        r#"path "credentials/*" { capabilities = ["create", "read", "update", "list"] }"#;
    let mut tokens = Vec::new();
    for (tenant, value) in [("acme", "sk-acme-111"), ("globex", "sk-globex-222")] {
        // Every namespace has its own `credentials/` mount and tenant defaults.
        let (status, body) = send_ns(
            &node,
            tenant,
            "POST",
            "/v1/credentials/stripe-key",
            Some(&node.root),
            Some(json!({"type": "api-key", "value": value})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tenant}: {body}");
        let (status, _) = send_ns(
            &node,
            tenant,
            "POST",
            "/v1/credentials/config",
            Some(&node.root),
            Some(json!({"defaultLeaseTTL": if tenant == "acme" { "10m" } else { "20m" }})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        put_policy(&node, tenant, "agent", agent_policy).await;
        tokens.push(token_in(&node, tenant, &["agent"]).await);
    }
    let (acme, globex) = (&tokens[0], &tokens[1]);

    // Same name, different credentials: each tenant's token leases its own value.
    let (status, lease) = send_ns(
        &node,
        "acme",
        "POST",
        "/v1/credentials/stripe-key/lease",
        Some(acme),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["data"]["value"], "sk-acme-111");
    assert_eq!(lease["lease_duration"], 600, "acme's tenant default");
    let acme_lease = lease["lease_id"].as_str().unwrap().to_owned();
    let (_, lease) = send_ns(
        &node,
        "globex",
        "POST",
        "/v1/credentials/stripe-key/lease",
        Some(globex),
        None,
    )
    .await;
    assert_eq!(lease["data"]["value"], "sk-globex-222");
    assert_eq!(lease["lease_duration"], 1200);

    // A token never crosses: not into the other tenant, not into the root, not by path prefix.
    for (namespace, path) in [
        ("globex", "/v1/credentials/stripe-key/lease"),
        ("", "/v1/credentials/stripe-key/lease"),
        ("", "/v1/globex/credentials/stripe-key/lease"),
    ] {
        let (status, body) = send_ns(&node, namespace, "POST", path, Some(acme), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{namespace} {path}: {body}");
        assert!(!body.to_string().contains("sk-globex"));
    }
    let (status, _) = send_ns(
        &node,
        "globex",
        "GET",
        &format!("/v1/{acme_lease}"),
        Some(globex),
        None,
    )
    .await;
    assert_ne!(
        status,
        StatusCode::OK,
        "acme's lease id means nothing in globex"
    );
    let (status, body) = send_ns(
        &node,
        "acme",
        "GET",
        &format!("/v1/{acme_lease}"),
        Some(acme),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // sys/leases in one tenant does not reach the other's leases.
    let (status, _) = send_ns(
        &node,
        "globex",
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&node.root),
        Some(json!({"lease_id": acme_lease})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send_ns(
        &node,
        "acme",
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&node.root),
        Some(json!({"lease_id": acme_lease})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Deleting a tenant takes its leases with it.
    let (_, acme_ns) = send_ns(
        &node,
        "",
        "GET",
        "/v1/sys/namespaces/acme",
        Some(&node.root),
        None,
    )
    .await;
    let acme_id = acme_ns["data"]["id"].as_str().expect("an id").to_owned();
    let lease_key = format!("sys/expire/id/{acme_id}/");
    let stored = crate::support::snapshot(&node.storage).await;
    assert!(
        stored.keys().any(|k| k.contains(&lease_key)),
        "acme's lease is stored under its id"
    );
    let (status, _) = send_ns(
        &node,
        "",
        "DELETE",
        "/v1/sys/namespaces/acme",
        Some(&node.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored = crate::support::snapshot(&node.storage).await;
    assert!(
        !stored.keys().any(|k| k.contains(&lease_key)),
        "no lease of acme is left"
    );
    assert_eq!(
        stored
            .keys()
            .filter(|k| k.contains("sys/expire/time/"))
            .count(),
        1,
        "only globex's lease is still indexed"
    );
}
