//! Audit through real processes: the stock `bao` CLI enables a file device (seed 004), the file
//! holds paired request/response records with values and tokens HMAC'd, `sys/audit-hash`
//! reproduces a logged hash, `coffer audit verify` names tampering, and `coffer audit logs`
//! answers seed 003's "who accessed secrets".

use std::path::Path;

use serde_json::Value;

use crate::support::{TestServer, bao, coffer_cli, stderr, stdout, stdout_json};

const ROOT: &str = "s.AuditRootToken0123456789";

fn dev_server(dir: &Path) -> TestServer {
    TestServer::spawn_args(
        dir,
        &[
            "server",
            "-dev",
            &format!("-dev-root-token-id={ROOT}"),
            "-dev-listen-address=127.0.0.1:0",
        ],
    )
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit log")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

#[test]
fn issue_6_bao_enables_a_file_device_and_secrets_never_appear_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let server = dev_server(dir.path());
    let log = dir.path().join("audit.log");

    let out = bao(
        &home,
        &server.addr,
        Some(ROOT),
        &[
            "audit",
            "enable",
            "file",
            &format!("file_path={}", log.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&log).expect("log exists").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the audit file is private");
    let out = bao(
        &home,
        &server.addr,
        Some(ROOT),
        &["kv", "put", "secret/app/db", "password=s3cr3t-Value"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = records(&log).len();
    let out = bao(
        &home,
        &server.addr,
        Some(ROOT),
        &["kv", "get", "secret/app/db"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        !text.contains("s3cr3t-Value"),
        "the value never appears in clear"
    );
    assert!(!text.contains(ROOT), "the token never appears in clear");
    let all = records(&log);
    let new: Vec<&Value> = all[before..]
        .iter()
        .filter(|r| r["request"]["path"] == "secret/data/app/db")
        .collect();
    let kinds: Vec<&str> = new.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["request", "response"],
        "one request and one response line for the read"
    );
    assert_eq!(
        new[0]["request"]["id"], new[1]["request"]["id"],
        "same request id"
    );
    assert_eq!(new[0]["request"]["operation"], "read");
    assert!(
        new[0]["auth"]["client_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("hmac-sha256:"))
    );
    let logged = new[1]["response"]["data"]["data"]["password"]
        .as_str()
        .expect("the value's hash")
        .to_owned();
    assert!(logged.starts_with("hmac-sha256:"), "{logged}");

    let out = bao(
        &home,
        &server.addr,
        Some(ROOT),
        &[
            "write",
            "-format=json",
            "sys/audit-hash/file",
            "input=s3cr3t-Value",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["data"]["hash"].as_str(),
        Some(logged.as_str()),
        "sys/audit-hash reproduces the logged hash"
    );

    let out = bao(
        &home,
        &server.addr,
        Some(ROOT),
        &["audit", "list", "-format=json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["file/"]["type"], "file");
}

#[test]
fn issue_6_verify_names_each_kind_of_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let server = dev_server(dir.path());
    let log = dir.path().join("audit.log");
    let root = Some(ROOT);
    let out = coffer_cli(
        &home,
        &server.addr,
        root,
        &[
            "audit",
            "enable",
            "file",
            &format!("file_path={}", log.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for i in 0..5 {
        let out = coffer_cli(
            &home,
            &server.addr,
            root,
            &["kv", "put", &format!("secret/k{i}"), "v=1"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    drop(server);
    let out = coffer_cli(
        &home,
        "http://127.0.0.1:1",
        None,
        &["audit", "verify", &log.display().to_string()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "intact: {} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("OK"), "{}", stdout(&out));

    let original = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() >= 8, "enough records: {}", lines.len());
    let variants: Vec<(&str, String, &str)> = vec![
        (
            "one byte edited",
            {
                let mut l: Vec<String> = lines.iter().map(|x| (*x).to_owned()).collect();
                let at = l[3].find("\"time\":\"").expect("every record has a time") + 9;
                let mut bytes = l[3].clone().into_bytes();
                bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
                l[3] = String::from_utf8(bytes).expect("utf-8");
                l.join("\n") + "\n"
            },
            "line 4 was modified",
        ),
        (
            "one line deleted",
            {
                let mut l = lines.clone();
                l.remove(4);
                l.join("\n") + "\n"
            },
            "removed",
        ),
        (
            "two lines swapped",
            {
                let mut l = lines.clone();
                l.swap(5, 6);
                l.join("\n") + "\n"
            },
            "line 6",
        ),
    ];
    for (what, text, expected) in variants {
        let copy = dir.path().join("tampered.log");
        std::fs::write(&copy, text).expect("write copy");
        let out = coffer_cli(
            &home,
            "http://127.0.0.1:1",
            None,
            &["audit", "verify", &copy.display().to_string()],
        );
        assert_ne!(out.status.code(), Some(0), "{what} is detected");
        assert!(
            stdout(&out).contains("TAMPERED") && stdout(&out).contains(expected),
            "{what}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn issue_6_audit_logs_answers_who_accessed_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let server = dev_server(dir.path());
    let addr = server.addr.clone();
    let root = Some(ROOT);
    let log = dir.path().join("audit.log");
    let run = |token: Option<&str>, args: &[&str]| {
        let out = coffer_cli(&home, &addr, token, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        out
    };
    run(
        root,
        &[
            "audit",
            "enable",
            "file",
            &format!("file_path={}", log.display()),
        ],
    );
    run(root, &["kv", "put", "secret/API_KEY", "value=sk_live_123"]);
    let policy = dir.path().join("reader.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/*\" {\n  capabilities = [\"read\"]\n}\n",
    )
    .expect("policy");
    run(
        root,
        &["policy", "write", "reader", &policy.display().to_string()],
    );
    run(root, &["auth", "enable", "userpass"]);
    run(
        root,
        &[
            "write",
            "auth/userpass/users/alice",
            "password=pw-alice-1",
            "token_policies=reader",
        ],
    );
    let out = run(
        None,
        &[
            "login",
            "-method=userpass",
            "-no-store",
            "-field=token",
            "username=alice",
            "password=pw-alice-1",
        ],
    );
    let alice = stdout(&out).trim().to_owned();
    run(Some(&alice), &["kv", "get", "secret/API_KEY"]);
    let denied = coffer_cli(
        &home,
        &addr,
        Some(&alice),
        &["kv", "put", "secret/API_KEY", "value=x"],
    );
    assert_eq!(denied.status.code(), Some(2));

    let out = run(
        root,
        &[
            "audit",
            "logs",
            "--resource",
            "secrets",
            "--action",
            "accessed",
            "-format=json",
        ],
    );
    let found = stdout_json(&out);
    let rows = found.as_array().expect("records");
    assert!(
        rows.iter()
            .any(|r| r["actor"] == "user:alice" && r["path"] == "secret/data/API_KEY"),
        "{found}"
    );
    let out = run(
        root,
        &[
            "audit",
            "logs",
            "--actor",
            "user:alice",
            "--action",
            "denied",
            "-format=json",
        ],
    );
    let found = stdout_json(&out);
    let rows = found.as_array().expect("records");
    assert!(
        !rows.is_empty()
            && rows
                .iter()
                .all(|r| r["actor"] == "user:alice" && r["result"] == "failure"),
        "{found}"
    );
    let out = run(
        root,
        &["audit", "logs", "--resource", "secrets", "--since", "1h"],
    );
    assert!(stdout(&out).contains("user:alice"), "{}", stdout(&out));
    let bad = coffer_cli(
        &home,
        &addr,
        root,
        &["audit", "logs", "--action", "exploded"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
