//! The seal lifecycle over HTTP: `sys/init`, `sys/unseal` (progress, nonce, duplicates, reset,
//! bad keys), `sys/seal`, and the 503 every logical request gets while sealed.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors, is_uuid, strings};

async fn init(node: &Node, body: Value) -> (StatusCode, Value) {
    let (status, _, reply) = node.send("PUT", "/v1/sys/init", None, Some(body)).await;
    (status, reply)
}

async fn unseal(node: &Node, body: Value) -> (StatusCode, Value) {
    let (status, _, reply) = node.send("PUT", "/v1/sys/unseal", None, Some(body)).await;
    (status, reply)
}

#[tokio::test]
async fn init_returns_shares_and_a_root_token() {
    let node = Node::uninitialized().await;
    let (status, _, body) = node.send("GET", "/v1/sys/init", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"initialized": false}));

    let (status, body) = init(&node, json!({"secret_shares": 5, "secret_threshold": 3})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut fields: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(fields, ["keys", "keys_base64", "root_token"]);
    let keys = strings(&body["keys"]);
    let keys_base64 = strings(&body["keys_base64"]);
    assert_eq!(keys.len(), 5);
    assert_eq!(keys_base64.len(), 5);
    for key in &keys {
        assert_eq!(key.len(), 66, "33 bytes in hex: {key}");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{key}"
        );
    }
    for key in &keys_base64 {
        assert_eq!(key.len(), 44, "33 bytes in padded base64: {key}");
    }
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "every share differs");
    let root = body["root_token"].as_str().unwrap_or("");
    assert!(root.starts_with("s.") && root.len() == 26, "{root}");

    let (status, _, body) = node.send("GET", "/v1/sys/init", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"initialized": true}));
    // Initialized but still sealed.
    assert!(node.core.is_sealed());

    // The base64 forms are the same shares: three of them unseal, and the root token works.
    for (i, key) in keys_base64.iter().take(3).enumerate() {
        let (status, reply) = unseal(&node, json!({"key": key})).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["sealed"], json!(i < 2), "{reply}");
    }
    assert_eq!(node.lookup_self_status(root).await, StatusCode::OK);
}

#[tokio::test]
async fn second_init_is_refused() {
    let node = Node::unsealed().await;
    let (status, body) = init(&node, json!({"secret_shares": 1, "secret_threshold": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["Vault is already initialized"]));
    // Sealed, it is still refused and nothing changes.
    node.seal().await;
    let (status, body) = init(&node, json!({"secret_shares": 1, "secret_threshold": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, errors(&["Vault is already initialized"]));
    node.unseal().await;
    assert_eq!(node.lookup_self_status(&node.root).await, StatusCode::OK);
}

#[tokio::test]
async fn bad_share_counts_are_refused() {
    let cases: &[(Value, &str)] = &[
        (
            json!({}),
            "invalid seal configuration: secret shares must be at least one",
        ),
        (
            json!({"secret_shares": 0, "secret_threshold": 0}),
            "invalid seal configuration: secret shares must be at least one",
        ),
        (
            json!({"secret_shares": 3, "secret_threshold": 0}),
            "invalid seal configuration: secret threshold must be at least one",
        ),
        (
            json!({"secret_shares": 3, "secret_threshold": 5}),
            "invalid seal configuration: secret threshold cannot be larger than secret shares",
        ),
        (
            json!({"secret_shares": 3, "secret_threshold": 1}),
            "invalid seal configuration: threshold must be greater than one for multiple shares",
        ),
        (
            json!({"secret_shares": 256, "secret_threshold": 3}),
            "invalid seal configuration: secret shares must be at most 255",
        ),
    ];
    let node = Node::uninitialized().await;
    for (body, message) in cases {
        let (status, reply) = init(&node, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply, errors(&[message]), "{body}");
    }
    for body in [json!({"secret_shares": -1}), json!({"secret_shares": "x"})] {
        let (status, reply) = init(&node, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = reply["errors"][0].as_str().unwrap_or("");
        assert!(message.starts_with("failed to parse JSON input"), "{reply}");
    }
    let (_, _, body) = node.send("GET", "/v1/sys/init", None, None).await;
    assert_eq!(body, json!({"initialized": false}));
}

#[tokio::test]
async fn unseal_progress_nonce_duplicates_and_reset() {
    let node = Node::uninitialized().await;
    let (_, init) = init(&node, json!({"secret_shares": 5, "secret_threshold": 3})).await;
    let keys = strings(&init["keys"]);
    let keys_base64 = strings(&init["keys_base64"]);

    let (status, first) = unseal(&node, json!({"key": keys[0]})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["sealed"], json!(true));
    assert_eq!(first["t"], json!(3));
    assert_eq!(first["n"], json!(5));
    assert_eq!(first["progress"], json!(1));
    let nonce = first["nonce"].as_str().unwrap_or("").to_owned();
    assert!(is_uuid(&nonce), "{first}");

    // The same share again, in either encoding, is not counted.
    for again in [&keys[0], &keys_base64[0]] {
        let (status, reply) = unseal(&node, json!({"key": again})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(reply["progress"], json!(1), "{reply}");
        assert_eq!(reply["nonce"], json!(nonce));
    }

    let (_, second) = unseal(&node, json!({"key": keys_base64[1]})).await;
    assert_eq!(second["progress"], json!(2), "{second}");
    assert_eq!(
        second["nonce"],
        json!(nonce),
        "the nonce is stable within an attempt"
    );

    // seal-status reports the same attempt.
    let (_, _, status_body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(status_body["progress"], json!(2));
    assert_eq!(status_body["nonce"], json!(nonce));

    let (status, reset) = unseal(&node, json!({"reset": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reset["progress"], json!(0));
    assert_eq!(reset["nonce"], json!(""));
    assert_eq!(reset["sealed"], json!(true));

    // A new attempt gets a new nonce and unseals at the threshold.
    let (_, restart) = unseal(&node, json!({"key": keys[2]})).await;
    let new_nonce = restart["nonce"].as_str().unwrap_or("");
    assert!(is_uuid(new_nonce) && new_nonce != nonce, "{restart}");
    unseal(&node, json!({"key": keys[3]})).await;
    assert!(node.core.is_sealed(), "two of three shares do not unseal");
    let (status, done) = unseal(&node, json!({"key": keys[4]})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["sealed"], json!(false));
    assert_eq!(done["progress"], json!(0));
    assert_eq!(done["nonce"], json!(""));
    assert!(!node.core.is_sealed());

    // Unsealing an unsealed node just reports the status.
    let (status, again) = unseal(&node, json!({"key": keys[0]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["sealed"], json!(false));
    assert_eq!(again["progress"], json!(0));
}

#[tokio::test]
async fn bad_unseal_requests() {
    let node = Node::unsealed().await;
    node.seal().await;
    let (_, first) = unseal(&node, json!({"key": node.keys[0]})).await;
    assert_eq!(first["progress"], json!(1));
    let missing = "'key' must be specified in request body as JSON, or 'reset' set to true";
    let cases: &[(Value, &str)] = &[
        (
            json!({"key": "abcd"}),
            "invalid key: key is shorter than minimum 16 bytes",
        ),
        (
            json!({"key": "not a key!"}),
            "invalid key: key must be a valid hex or base64 string",
        ),
        (
            json!({"key": "ab".repeat(40)}),
            "invalid key: key is longer than maximum 33 bytes",
        ),
        (json!({"key": ""}), missing),
        (json!({}), missing),
        (json!({"reset": false}), missing),
    ];
    for (body, message) in cases {
        let (status, reply) = unseal(&node, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply, errors(&[message]), "{body}");
    }
    let (status, _, reply) = node.send("PUT", "/v1/sys/unseal", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply, errors(&[missing]));
    let (status, reply) = unseal(&node, json!(["nope"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["errors"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("failed to parse JSON input"),
        "{reply}"
    );
    // Rejected keys do not disturb the attempt in progress.
    let (_, _, status_body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(status_body["progress"], json!(1));
    let (status, done) = unseal(&node, json!({"key": node.keys[1]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["sealed"], json!(false));
}

#[tokio::test]
async fn unseal_before_init_is_refused() {
    let node = Node::uninitialized().await;
    let (status, reply) = unseal(&node, json!({"key": "ab".repeat(33)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply, errors(&["Vault is not initialized"]));
}

#[tokio::test]
async fn shares_of_another_node_do_not_unseal() {
    let node = Node::unsealed().await;
    let other = Node::unsealed().await;
    node.seal().await;
    unseal(&node, json!({"key": other.keys[0]})).await;
    let (status, reply) = unseal(&node, json!({"key": other.keys[1]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply,
        errors(&[
            "failed to unseal: the unseal keys do not match this server's root key; progress was reset"
        ])
    );
    assert!(node.core.is_sealed());
    let (_, _, status_body) = node.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(status_body["progress"], json!(0));
    node.unseal().await;
}

#[tokio::test]
async fn logical_requests_are_503_while_sealed() {
    let node = Node::uninitialized().await;
    let sealed = errors(&["Vault is sealed"]);
    let (status, _, body) = node
        .send(
            "GET",
            "/v1/auth/token/lookup-self",
            Some("s.whatever"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, sealed);

    let node = Node::unsealed().await;
    node.seal().await;
    for (method, path, token) in [
        (
            "GET",
            "/v1/auth/token/lookup-self",
            Some(node.root.as_str()),
        ),
        ("GET", "/v1/auth/token/lookup-self", None),
        ("POST", "/v1/auth/token/create", Some(node.root.as_str())),
        ("LIST", "/v1/auth/token/accessors", Some(node.root.as_str())),
        ("GET", "/v1/sys/key-status", Some(node.root.as_str())),
        ("PUT", "/v1/sys/seal", Some(node.root.as_str())),
        ("GET", "/v1/nomount/foo", Some(node.root.as_str())),
        ("GET", "/v1/sys/nonexistent", None),
    ] {
        let (status, _, body) = node.send(method, path, token, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert_eq!(body, sealed, "{method} {path}");
    }
}

#[tokio::test]
async fn seal_needs_sudo_then_everything_is_503() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let (status, _, body) = node
        .send("PUT", "/v1/sys/seal", Some(&child.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!node.core.is_sealed());

    let (status, headers, body) = node
        .send("PUT", "/v1/sys/seal", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(
        crate::support::header(&headers, "cache-control"),
        "no-store"
    );
    assert!(node.core.is_sealed());
    let (status, _, health) = node.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["sealed"], json!(true));
    for token in [&node.root, &child.token] {
        let (status, _, body) = node
            .send("GET", "/v1/auth/token/lookup-self", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, errors(&["Vault is sealed"]));
    }
    // Both tokens survive a seal.
    node.unseal().await;
    assert_eq!(node.lookup_self_status(&node.root).await, StatusCode::OK);
    assert_eq!(node.lookup_self_status(&child.token).await, StatusCode::OK);
}
