//! `coffer secrets grant-access` (seed 003 "Time-Limited Access") against a dev server: a grant
//! for one user on one secret, listed and revoked; bad input writes nothing.

use crate::support::{TestServer, coffer_cli, stderr, stdout, stdout_json};

#[tokio::test]
async fn issue_4_grant_access_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let server = TestServer::spawn_args(
        dir.path(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    let addr = server.addr.clone();
    let root = Some("root");
    let out = coffer_cli(
        &home,
        &addr,
        root,
        &["kv", "put", "secret/DATABASE_URL", "value=postgresql://db"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = coffer_cli(
        &home,
        &addr,
        root,
        &[
            "secrets",
            "grant-access",
            "DATABASE_URL",
            "--user",
            "john@example.com",
            "--duration",
            "1x",
        ],
    );
    assert_ne!(out.status.code(), Some(0), "a bad duration fails");
    assert!(stderr(&out).contains("duration"), "{}", stderr(&out));
    let out = coffer_cli(&home, &addr, root, &["secrets", "grants"]);
    assert!(
        stdout(&out).contains("No grants"),
        "nothing was written: {}",
        stdout(&out)
    );

    let out = coffer_cli(
        &home,
        &addr,
        root,
        &[
            "secrets",
            "grant-access",
            "DATABASE_URL",
            "--user",
            "john@example.com",
            "--duration",
            "1h",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = coffer_cli(&home, &addr, root, &["secrets", "grants", "-format=json"]);
    let grants = stdout_json(&out);
    let (id, grant) = grants
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("one grant");
    assert_eq!(grant["path"], serde_json::json!("secret/data/DATABASE_URL"));
    assert_eq!(
        grant["identity"],
        serde_json::json!({"type": "user", "name": "john@example.com"})
    );
    assert_eq!(grant["capabilities"], serde_json::json!(["read"]));

    // john (a token standing for user:john@example.com) can read it now.
    let out = coffer_cli(
        &home,
        &addr,
        root,
        &[
            "write",
            "auth/token/create",
            "policies=default",
            "identity=user:john@example.com",
            "-format=json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let john = stdout_json(&out)["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let out = coffer_cli(
        &home,
        &addr,
        Some(&john),
        &["kv", "get", "-field=value", "secret/DATABASE_URL"],
    );
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "postgresql://db".to_owned()),
        "{}",
        stderr(&out)
    );

    let out = coffer_cli(&home, &addr, root, &["secrets", "revoke-grant", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = coffer_cli(
        &home,
        &addr,
        Some(&john),
        &["kv", "get", "secret/DATABASE_URL"],
    );
    assert_eq!(out.status.code(), Some(2), "revoked: {}", stderr(&out));
    assert!(stderr(&out).contains("Code: 403"), "{}", stderr(&out));
}
