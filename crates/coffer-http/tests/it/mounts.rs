//! Mounts through the HTTP edge: `sys/mounts` (list, enable, read, tune, disable), the CLI's
//! preflight `sys/internal/ui/mounts`, cubbyhole privacy and cleanup on revocation, and response
//! wrapping.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::Node;

async fn logical_keys(node: &Node) -> usize {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let keys = node
            .storage
            .scan("logical/", after.as_deref(), 1000)
            .await
            .expect("scan storage");
        let Some(last) = keys.last().cloned() else {
            return count;
        };
        count += keys.len();
        after = Some(last);
    }
}

#[tokio::test]
async fn issue_3_mount_lifecycle() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());

    let (status, _, body) = node.send("GET", "/v1/sys/mounts", root, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["cubbyhole/"]["type"], json!("cubbyhole"));
    assert_eq!(
        body["data"]["cubbyhole/"]["description"],
        json!("per-token private secret storage")
    );
    assert_eq!(body["data"]["sys/"]["type"], json!("system"));
    assert_eq!(
        body["cubbyhole/"], body["data"]["cubbyhole/"],
        "legacy top-level copy"
    );
    assert!(
        body["data"].get("secret/").is_none(),
        "a non-dev server has no secret/ mount"
    );

    let enable = json!({"type": "kv", "options": {"version": "2"}, "description": "team kv"});
    let (status, _, body) = node
        .send("POST", "/v1/sys/mounts/kv2", root, Some(enable.clone()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = node
        .send("POST", "/v1/sys/mounts/kv2", root, Some(enable))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"], json!(["path is already in use at kv2/"]));
    let (status, _, body) = node
        .send("POST", "/v1/sys/mounts/other", root, Some(json!({})))
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["backend type must be specified as a string"])
        )
    );
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/mounts/other",
            root,
            Some(json!({"type": "nope"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!(["plugin not found in the catalog: nope"])
        )
    );
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/mounts/sys",
            root,
            Some(json!({"type": "kv"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "sys/ is reserved");

    let (status, _, body) = node.send("GET", "/v1/sys/mounts/kv2", root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["type"], json!("kv"));
    assert_eq!(body["data"]["options"], json!({"version": "2"}));
    assert_eq!(body["data"]["description"], json!("team kv"));
    assert!(
        body["data"]["accessor"]
            .as_str()
            .is_some_and(|a| a.starts_with("kv_"))
    );

    let (_, _, body) = node
        .send("GET", "/v1/sys/mounts/kv2/tune", root, None)
        .await;
    assert_eq!(
        (
            body["data"]["default_lease_ttl"].clone(),
            body["data"]["max_lease_ttl"].clone()
        ),
        (json!(2_764_800), json!(2_764_800))
    );
    let tune = json!({"default_lease_ttl": "1h", "max_lease_ttl": "24h", "description": "tuned"});
    let (status, _, _) = node
        .send("POST", "/v1/sys/mounts/kv2/tune", root, Some(tune))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = node
        .send("GET", "/v1/sys/mounts/kv2/tune", root, None)
        .await;
    assert_eq!(body["data"]["default_lease_ttl"], json!(3600));
    assert_eq!(body["data"]["max_lease_ttl"], json!(86400));
    assert_eq!(body["data"]["description"], json!("tuned"));

    // Data is written, then the mount is disabled: its data goes with it.
    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/kv2/data/app/db",
            root,
            Some(json!({"data": {"password": "s3cr3t"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(logical_keys(&node).await > 0);
    let (status, _, _) = node.send("DELETE", "/v1/sys/mounts/kv2", root, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        logical_keys(&node).await,
        0,
        "disabling a mount deletes its data"
    );
    let (status, _, body) = node.send("GET", "/v1/kv2/data/app/db", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["errors"],
        json!(["no handler for route \"kv2/data/app/db\". route entry not found."])
    );
    let (status, _, _) = node
        .send("DELETE", "/v1/sys/mounts/never-there", root, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "disabling a missing mount is not an error"
    );
    let (status, _, _) = node
        .send("DELETE", "/v1/sys/mounts/cubbyhole", root, None)
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "cubbyhole cannot be disabled"
    );
}

#[tokio::test]
async fn issue_3_kv_v1_upgrades_to_v2_keeping_data() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/mounts/kv",
            root,
            Some(json!({"type": "kv"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = node.send("GET", "/v1/sys/mounts/kv", root, None).await;
    assert_eq!(
        body["data"]["options"],
        Value::Null,
        "a v1 mount shows options: null"
    );
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/kv/app/one",
            root,
            Some(json!({"foo": "bar", "ttl": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = node.send("GET", "/v1/kv/app/one", root, None).await;
    assert_eq!(
        (body["data"]["foo"].clone(), body["lease_duration"].clone()),
        (json!("bar"), json!(3600))
    );

    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/mounts/kv/tune",
            root,
            Some(json!({"options": {"version": "2"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = node.send("GET", "/v1/kv/data/app/one", root, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["data"]["foo"], json!("bar"));
    assert_eq!(body["data"]["metadata"]["version"], json!(1));
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/mounts/kv/tune",
            root,
            Some(json!({"options": {"version": "1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no downgrade");
}

#[tokio::test]
async fn issue_3_preflight_for_the_cli() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let enable = json!({"type": "kv-v2"});
    node.send("POST", "/v1/sys/mounts/secret", root, Some(enable))
        .await;

    let (status, _, body) = node
        .send("GET", "/v1/sys/internal/ui/mounts/secret/app/x", root, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["path"], json!("secret/"));
    assert_eq!(body["data"]["type"], json!("kv"));
    assert_eq!(body["data"]["options"]["version"], json!("2"));

    let (status, _, body) = node
        .send("GET", "/v1/sys/internal/ui/mounts/nomount/x", root, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["errors"],
        json!([
            "preflight capability check returned 403, please ensure client's policies grant access to path \"nomount/x/\""
        ])
    );

    // A token with only the default policy can use its cubbyhole but not secret/.
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let token = Some(child.token.as_str());
    let (status, _, _) = node
        .send("GET", "/v1/sys/internal/ui/mounts/cubbyhole/x", token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = node
        .send("GET", "/v1/sys/internal/ui/mounts/secret/x", token, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = node
        .send("GET", "/v1/sys/internal/ui/mounts", token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["secret"].get("cubbyhole/").is_some());
    assert!(
        body["data"]["secret"].get("secret/").is_none(),
        "only mounts the token can use are listed"
    );
}

#[tokio::test]
async fn issue_3_cubbyhole_is_private_and_goes_with_its_token() {
    let node = Node::unsealed().await;
    let alice = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let bob = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let before = logical_keys(&node).await;

    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/cubbyhole/note",
            Some(&alice.token),
            Some(json!({"secret": "alice's"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, _, body) = node
        .send("GET", "/v1/cubbyhole/note", Some(&alice.token), None)
        .await;
    assert_eq!(body["data"]["secret"], json!("alice's"));
    let (status, _, _) = node
        .send("GET", "/v1/cubbyhole/note", Some(&bob.token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "bob cannot see alice's cubbyhole"
    );
    let (status, _, _) = node
        .send("LIST", "/v1/cubbyhole/", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(logical_keys(&node).await > before);

    let (status, _, _) = node
        .send(
            "POST",
            "/v1/auth/token/revoke-self",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        logical_keys(&node).await,
        before,
        "alice's cubbyhole is deleted with her token"
    );
}

#[tokio::test]
async fn issue_3_response_wrapping_is_single_use() {
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
        "/v1/secret/data/app",
        root,
        Some(json!({"data": {"k": "v"}})),
    )
    .await;

    let request = crate::support::request("GET", "/v1/secret/data/app")
        .header("x-vault-token", &node.root)
        .header("x-vault-wrap-ttl", "5m")
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, _, bytes) = crate::support::send_request(&node.app, request).await;
    let wrapped: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(status, StatusCode::OK, "{wrapped}");
    assert_eq!(
        wrapped["data"],
        Value::Null,
        "the payload is not in the reply"
    );
    assert_eq!(wrapped["wrap_info"]["ttl"], json!(300));
    assert_eq!(
        wrapped["wrap_info"]["creation_path"],
        json!("secret/data/app")
    );
    let wrap_token = wrapped["wrap_info"]["token"]
        .as_str()
        .expect("wrapping token")
        .to_owned();

    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/wrapping/lookup",
            root,
            Some(json!({"token": wrap_token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["data"]["creation_ttl"].clone(),
            body["data"]["creation_path"].clone()
        ),
        (json!(300), json!("secret/data/app"))
    );

    // Unwrap with the wrapping token itself, no body: the original reply, once.
    let (status, _, body) = node
        .send("POST", "/v1/sys/wrapping/unwrap", Some(&wrap_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["data"]["k"], json!("v"));
    assert_eq!(body["data"]["metadata"]["version"], json!(1));
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/wrapping/unwrap",
            root,
            Some(json!({"token": wrap_token})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"],
        json!(["wrapping token is not valid or does not exist"])
    );

    // Wrapping a token creation: the unwrapped reply carries the auth block.
    let request = crate::support::request("POST", "/v1/auth/token/create")
        .header("x-vault-token", &node.root)
        .header("x-vault-wrap-ttl", "120")
        .body(axum::body::Body::from(
            json!({"policies": ["default"]}).to_string(),
        ))
        .expect("request");
    let (_, _, bytes) = crate::support::send_request(&node.app, request).await;
    let wrapped: Value = serde_json::from_slice(&bytes).expect("json");
    assert!(
        wrapped["wrap_info"]["wrapped_accessor"].is_string(),
        "{wrapped}"
    );
    let wrap_token = wrapped["wrap_info"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, _, body) = node
        .send(
            "POST",
            "/v1/sys/wrapping/unwrap",
            root,
            Some(json!({"token": wrap_token})),
        )
        .await;
    let token = body["auth"]["client_token"]
        .as_str()
        .expect("unwrapped token")
        .to_owned();
    assert_eq!(node.lookup_self_status(&token).await, StatusCode::OK);

    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/wrapping/wrap",
            root,
            Some(json!({"a": "b"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"],
        json!(["endpoint requires response wrapping to be used"])
    );
}

#[tokio::test]
async fn issue_4_auth_methods_tune_through_both_paths() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    node.send(
        "POST",
        "/v1/sys/auth/userpass",
        root,
        Some(json!({"type": "userpass"})),
    )
    .await;
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/mounts/auth/userpass/tune",
            root,
            Some(json!({"default_lease_ttl": "2h"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = node
        .send("GET", "/v1/sys/auth/userpass/tune", root, None)
        .await;
    assert_eq!(body["data"]["default_lease_ttl"], json!(7200));
    let (_, _, body) = node
        .send("GET", "/v1/sys/mounts/auth/userpass/tune", root, None)
        .await;
    assert_eq!(body["data"]["default_lease_ttl"], json!(7200));
}

#[tokio::test]
async fn issue_5_credentials_is_mounted_once_and_an_unmount_sticks() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let mounts = |node: &Node| {
        let app = node.app.clone();
        let root = node.root.clone();
        async move {
            let (_, _, body) =
                crate::support::send(&app, "GET", "/v1/sys/mounts", Some(&root), None).await;
            body["data"]
                .as_object()
                .expect("mounts")
                .contains_key("credentials/")
        }
    };
    assert!(mounts(&node).await, "a new store has credentials/");
    let (status, _, _) = node
        .send("DELETE", "/v1/sys/mounts/credentials", root, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    node.seal().await;
    node.unseal().await;
    assert!(
        !mounts(&node).await,
        "an operator's unmount survives unsealing"
    );

    // A store written before the credentials engine existed gets it once.
    node.storage
        .delete("core/default-mounts")
        .await
        .expect("delete the marker");
    node.seal().await;
    node.unseal().await;
    assert!(mounts(&node).await, "an older store gains credentials/");
}
