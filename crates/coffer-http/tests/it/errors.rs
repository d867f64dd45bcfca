//! What the edge refuses before the core sees a request, and how: bodies (JSON with or without
//! a Content-Type, malformed, not an object, not UTF-8, too large), paths (unknown mounts,
//! unknown prefixes, `.`/`..`/empty segments, percent-encoding) and methods (LIST and
//! `?list=true`, unsupported verbs).

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, errors, header, json_of, request, send_request, strings};

const MIB: usize = 1024 * 1024;

/// Posts `body` to `auth/token/create` as root, with an optional Content-Type.
async fn create_with(
    node: &Node,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut builder = request("POST", "/v1/auth/token/create").header("x-vault-token", &node.root);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    let (status, _, bytes) = send_request(
        &node.app,
        builder.body(Body::from(body)).expect("a valid request"),
    )
    .await;
    (status, json_of(&bytes))
}

/// How a body case should end.
enum Expect {
    /// 200, and the created token has this display name.
    Created(&'static str),
    /// 400 whose one message starts with this text.
    Invalid(&'static str),
}

#[tokio::test]
async fn request_bodies() {
    use Expect::*;
    let json_ct = Some("application/json");
    let cases: Vec<(Option<&str>, &[u8], Expect)> = vec![
        (None, br#"{"display_name":"a"}"#, Created("token-a")),
        (json_ct, br#"{"display_name":"b"}"#, Created("token-b")),
        (
            Some("text/plain"),
            br#"{"display_name":"c"}"#,
            Created("token-c"),
        ),
        (None, b"", Created("token")),
        (json_ct, b"", Created("token")),
        (None, b"  \n\t ", Created("token")),
        (None, b"null", Created("token")),
        (None, b"{}", Created("token")),
        (
            None,
            br#"{"display_name":"#,
            Invalid("failed to parse JSON input: "),
        ),
        (json_ct, b"nope", Invalid("failed to parse JSON input: ")),
        (
            None,
            br#"{"a":1}x"#,
            Invalid("failed to parse JSON input: "),
        ),
        (
            None,
            b"[1, 2]",
            Invalid("failed to parse JSON input: the request body must be a JSON object"),
        ),
        (
            None,
            br#""text""#,
            Invalid("failed to parse JSON input: the request body must be a JSON object"),
        ),
        (
            None,
            b"42",
            Invalid("failed to parse JSON input: the request body must be a JSON object"),
        ),
        (
            None,
            b"{\"display_name\":\"\xff\"}",
            Invalid("failed to parse JSON input: "),
        ),
        (None, b"\xff\xfe", Invalid("failed to parse JSON input: ")),
        (
            None,
            br#"{"policies":{"a":1}}"#,
            Invalid("error converting input for field \"policies\""),
        ),
    ];
    let node = Node::unsealed().await;
    for (content_type, body, expect) in cases {
        let shown = String::from_utf8_lossy(body).into_owned();
        let (status, reply) = create_with(&node, content_type, body.to_vec()).await;
        match expect {
            Created(display_name) => {
                assert_eq!(status, StatusCode::OK, "{shown:?}: {reply}");
                let token = reply["auth"]["client_token"].as_str().unwrap_or("");
                assert_eq!(
                    node.lookup_self(token).await["display_name"],
                    json!(display_name),
                    "{shown:?}"
                );
            }
            Invalid(prefix) => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{shown:?}: {reply}");
                let messages = strings(&reply["errors"]);
                assert_eq!(messages.len(), 1, "{reply}");
                assert!(messages[0].starts_with(prefix), "{shown:?}: {reply}");
            }
        }
    }
}

#[tokio::test]
async fn bodies_over_32_mib_are_413() {
    let node = Node::unsealed().await;
    let accessors_before = accessors(&node).await.len();
    let mut body = b"{\"display_name\":\"".to_vec();
    body.resize(33 * MIB, b'a');
    body.extend_from_slice(b"\"}");
    let (status, reply) = create_with(&node, None, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply, errors(&["http: request body too large"]));
    assert_eq!(
        accessors(&node).await.len(),
        accessors_before,
        "nothing was created"
    );

    // Exactly at the limit is accepted.
    let (status, reply) = create_with(&node, None, vec![b' '; 32 * MIB]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn status_endpoints_share_the_body_limit() {
    let node = Node::unsealed().await;
    node.seal().await;
    // Larger than axum's default limit, within Vault's: parsed, and refused as a bad key.
    let key = "0".repeat(3 * MIB);
    let (status, _, reply) = node
        .send("PUT", "/v1/sys/unseal", None, Some(json!({"key": key})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(
        reply,
        errors(&["invalid key: key is longer than maximum 33 bytes"])
    );
    // Over the limit: 413 with Vault's error body.
    let huge = request("PUT", "/v1/sys/unseal")
        .body(Body::from(vec![b' '; 33 * MIB]))
        .expect("a valid request");
    let (status, headers, bytes) = send_request(&node.app, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(json_of(&bytes), errors(&["http: request body too large"]));
    let huge = request("PUT", "/v1/sys/init")
        .body(Body::from(vec![b' '; 33 * MIB]))
        .expect("a valid request");
    let (status, _, bytes) = send_request(&node.app, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(&bytes), errors(&["http: request body too large"]));
}

async fn accessors(node: &Node) -> Vec<String> {
    let (status, _, body) = node
        .send("LIST", "/v1/auth/token/accessors", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    strings(&body["data"]["keys"])
}

const UNSUPPORTED_PATH: &str = "1 error occurred:\n\t* unsupported path\n\n";
const UNSUPPORTED_OPERATION: &str = "1 error occurred:\n\t* unsupported operation\n\n";

/// How a path case should end.
enum Outcome {
    /// 200 from `lookup-self` of the root token.
    Root,
    /// This status with exactly this error body.
    Error(u16, &'static [&'static str]),
    /// 400 with one message that starts with `invalid path`.
    InvalidPath,
}

#[tokio::test]
async fn paths_and_methods() {
    use Outcome::*;
    let cases: &[(&str, &str, Outcome)] = &[
        ("GET", "/v1/auth/token/lookup-self", Root),
        ("GET", "/v1/auth/%74oken/lookup-self", Root),
        ("GET", "/v1/auth/token/lookup-self?unused=1", Root),
        (
            "GET",
            "/v1/nomount/foo",
            Error(
                404,
                &["no handler for route \"nomount/foo\". route entry not found."],
            ),
        ),
        ("GET", "/v2/x", Error(404, &[])),
        ("GET", "/foo", Error(404, &[])),
        ("GET", "/", Error(404, &[])),
        ("GET", "/v1", Error(404, &[])),
        ("POST", "/v2/sys/seal", Error(404, &[])),
        (
            "GET",
            "/v1/sys/nonexistent",
            Error(404, &[UNSUPPORTED_PATH]),
        ),
        (
            "GET",
            "/v1/auth/token/nonexistent",
            Error(404, &[UNSUPPORTED_PATH]),
        ),
        ("GET", "/v1/auth/token//lookup-self", InvalidPath),
        ("GET", "/v1//auth/token/lookup-self", InvalidPath),
        ("GET", "/v1/auth/token/./lookup-self", InvalidPath),
        ("GET", "/v1/auth/token/../token/lookup-self", InvalidPath),
        (
            "GET",
            "/v1/auth/token/%2e%2e/token/lookup-self",
            InvalidPath,
        ),
        ("GET", "/v1/auth/token/%2E/lookup-self", InvalidPath),
        ("GET", "/v1/auth/token/lookup-self/..", InvalidPath),
        ("GET", "/v1/auth/token/lookup-self%00", InvalidPath),
        ("GET", "/v1/auth/token/lookup-self%zz", InvalidPath),
        ("GET", "/v1/auth/token/lookup-self%ff", InvalidPath),
        ("OPTIONS", "/v1/auth/token/lookup-self", Error(405, &[])),
        ("TRACE", "/v1/auth/token/lookup-self", Error(405, &[])),
        ("CONNECT", "/v1/auth/token/lookup-self", Error(405, &[])),
        (
            "DELETE",
            "/v1/auth/token/lookup-self",
            Error(405, &[UNSUPPORTED_OPERATION]),
        ),
        (
            "DELETE",
            "/v1/sys/seal",
            Error(405, &[UNSUPPORTED_OPERATION]),
        ),
        (
            "GET",
            "/v1/auth/token/create",
            Error(405, &[UNSUPPORTED_OPERATION]),
        ),
        (
            "GET",
            "/v1/auth/token/accessors",
            Error(405, &[UNSUPPORTED_OPERATION]),
        ),
    ];
    let node = Node::unsealed().await;
    for (method, path, outcome) in cases {
        let (status, headers, body) = node.send(method, path, Some(&node.root), None).await;
        match outcome {
            Root => {
                assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
                assert_eq!(body["data"]["policies"], json!(["root"]), "{method} {path}");
            }
            Error(code, messages) => {
                assert_eq!(status.as_u16(), *code, "{method} {path}: {body}");
                assert_eq!(body, errors(messages), "{method} {path}");
                assert_eq!(header(&headers, "content-type"), "application/json");
            }
            InvalidPath => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
                let messages = strings(&body["errors"]);
                assert_eq!(messages.len(), 1, "{body}");
                assert!(messages[0].starts_with("invalid path"), "{path}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn head_on_a_logical_path_is_405_without_a_body() {
    let node = Node::unsealed().await;
    let head = request("HEAD", "/v1/auth/token/lookup-self")
        .header("x-vault-token", &node.root)
        .body(Body::empty())
        .expect("a valid request");
    let (status, _, bytes) = send_request(&node.app, head).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(bytes.is_empty(), "a HEAD reply has no body: {bytes:?}");
}

#[tokio::test]
async fn rejected_paths_do_nothing() {
    let node = Node::unsealed().await;
    let before = accessors(&node).await;
    for (method, path) in [
        ("PUT", "/v1/sys/seal/."),
        ("PUT", "/v1/sys//seal"),
        ("PUT", "/v1/sys/%2e%2e/sys/seal"),
        ("PUT", "/v1/auth/token/create/.."),
        ("POST", "/v1/auth/token//create"),
        ("POST", "/v1/auth/token/%2E%2E/token/create"),
        ("POST", "/v1/auth/token/./create-orphan"),
    ] {
        let (status, _, body) = node
            .send(method, path, Some(&node.root), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
    }
    assert!(!node.core.is_sealed(), "no seal went through");
    assert_eq!(accessors(&node).await, before, "no token was created");
}

#[tokio::test]
async fn list_verb_and_list_query_reach_list_handlers() {
    let node = Node::unsealed().await;
    let root_accessor = node.lookup_self(&node.root).await["accessor"].clone();
    let child = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let mut expected = vec![
        root_accessor.as_str().unwrap_or("").to_owned(),
        child.accessor.clone(),
    ];
    expected.sort();
    for (method, path) in [
        ("LIST", "/v1/auth/token/accessors"),
        ("LIST", "/v1/auth/token/accessors/"),
        ("GET", "/v1/auth/token/accessors?list=true"),
        ("GET", "/v1/auth/token/accessors/?list=true"),
        ("GET", "/v1/auth/token/accessors?list=1"),
        ("GET", "/v1/auth/token/accessors?list"),
    ] {
        let (status, _, body) = node.send(method, path, Some(&node.root), None).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        let mut keys = strings(&body["data"]["keys"]);
        keys.sort();
        assert_eq!(keys, expected, "{method} {path}");
    }
    // `?list=false` is a plain read, which the endpoint does not support.
    let (status, _, _) = node
        .send(
            "GET",
            "/v1/auth/token/accessors?list=false",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // Listing accessors needs sudo.
    for (method, path) in [
        ("LIST", "/v1/auth/token/accessors"),
        ("GET", "/v1/auth/token/accessors?list=true"),
    ] {
        let (status, _, body) = node.send(method, path, Some(&child.token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn query_parameters_feed_reads() {
    let node = Node::unsealed().await;
    let child = node
        .create_token(&node.root, json!({"display_name": "q"}))
        .await;
    let (status, _, body) = node
        .send(
            "GET",
            &format!("/v1/auth/token/lookup?token={}", child.token),
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["display_name"], json!("token-q"));
    assert_eq!(body["data"]["id"], json!(child.token));
    // Writes ignore the query string: only the body counts.
    let (status, _, body) = node
        .send(
            "POST",
            &format!("/v1/auth/token/lookup?token={}", child.token),
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body, errors(&["missing token to look up"]));
}
