//! Coffer's own CLI against a real server: status exit codes, init/unseal, tokens, login with
//! a 0600 token file, `-format=json`, `-field`, flags after positionals, API errors exit 2.

use crate::support::{TestServer, coffer_cli, stderr, stdout, stdout_json};

#[test]
fn issue_2_cli_lifecycle_and_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let server = TestServer::sqlite(dir.path());
    let addr = server.addr.clone();

    let out = coffer_cli(&home, &addr, None, &["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "uninitialized/sealed status exits 2"
    );
    assert!(
        stdout(&out).contains("Initialized     false") || stdout(&out).contains("false"),
        "{}",
        stdout(&out)
    );

    let out = coffer_cli(
        &home,
        &addr,
        None,
        &[
            "operator",
            "init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let init = stdout_json(&out);
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let root = init["root_token"].as_str().expect("root token").to_owned();
    assert_eq!(
        (keys.len(), init["unseal_threshold"].as_u64()),
        (3, Some(2))
    );

    let out = coffer_cli(&home, &addr, None, &["operator", "unseal", &keys[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Unseal Progress    1/2"),
        "{}",
        stdout(&out)
    );
    let out = coffer_cli(
        &home,
        &addr,
        None,
        &["operator", "unseal", "-format=json", &keys[1]],
    );
    assert_eq!(stdout_json(&out)["sealed"], serde_json::json!(false));

    let out = coffer_cli(&home, &addr, None, &["status", "-format=json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout_json(&out)["storage_type"],
        serde_json::json!("sqlite")
    );

    // API errors exit 2: a bogus token.
    let out = coffer_cli(&home, &addr, Some("s.bogus"), &["token", "lookup"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Code: 403"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );

    // Login stores the token with mode 0600; later commands use it.
    let out = coffer_cli(&home, &addr, None, &["login", &root]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let token_file = home.join(".coffer-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file)
            .expect("token file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(!stdout(&out).is_empty());

    // Flags after positional arguments; -field prints the bare value.
    let out = coffer_cli(
        &home,
        &addr,
        None,
        &[
            "token",
            "create",
            "-ttl=30m",
            "-policy=default",
            "-field=token",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let child = stdout(&out);
    assert!(
        child.starts_with("s.") && !child.ends_with('\n'),
        "{child:?}"
    );
    let out = coffer_cli(
        &home,
        &addr,
        None,
        &["token", "lookup", &child, "-format=json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lookup = stdout_json(&out);
    assert_eq!(lookup["data"]["policies"], serde_json::json!(["default"]));
    assert_eq!(lookup["data"]["creation_ttl"], serde_json::json!(1800));

    // The child (default policy) may look itself up but not create tokens.
    let out = coffer_cli(&home, &addr, Some(&child), &["token", "lookup"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("display_name"), "{}", stdout(&out));
    let out = coffer_cli(&home, &addr, Some(&child), &["token", "create"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );

    let out = coffer_cli(
        &home,
        &addr,
        None,
        &["token", "renew", &child, "-increment=10m", "-format=json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["auth"]["lease_duration"],
        serde_json::json!(600)
    );

    let out = coffer_cli(&home, &addr, None, &["token", "revoke", &child]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = coffer_cli(&home, &addr, None, &["token", "lookup", &child]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad token"), "{}", stderr(&out));

    let out = coffer_cli(&home, &addr, None, &["operator", "rotate", "-format=json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["term"], serde_json::json!(2));

    let out = coffer_cli(&home, &addr, None, &["operator", "seal"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = coffer_cli(&home, &addr, None, &["status"]);
    assert_eq!(out.status.code(), Some(2));

    // Usage errors exit 1.
    let out = coffer_cli(&home, &addr, None, &["token", "frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
}
