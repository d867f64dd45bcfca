//! Namespaces from the command line: the stock OpenBao CLI (`bao namespace …`, `-namespace=`)
//! run side by side against a real `bao server -dev` and `coffer server -dev`, and the `coffer`
//! CLI's own `namespace` commands with its `-namespace` flag and `COFFER_NAMESPACE`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support::{
    BaoServer, TestServer, bao, coffer_bin, coffer_cli, normalize, stderr, stdout, stdout_json,
};

/// The flow, each step run with the root token.
const FLOW: &[&[&str]] = &[
    &["namespace", "list"],
    &["namespace", "create", "acme"],
    &[
        "namespace",
        "create",
        "-custom-metadata=team=blue",
        "globex",
    ],
    &["namespace", "list"],
    &["namespace", "list", "-format=json"],
    &["namespace", "lookup", "globex"],
    &["namespace", "lookup", "-format=json", "acme"],
    &["namespace", "create", "-namespace=acme", "team1"],
    &["namespace", "list", "-namespace=acme"],
    &[
        "secrets",
        "enable",
        "-namespace=acme",
        "-path=secret",
        "kv-v2",
    ],
    &[
        "kv",
        "put",
        "-namespace=acme",
        "secret/app",
        "password=acme-pw",
    ],
    &["kv", "get", "-namespace=acme", "secret/app"],
    &[
        "kv",
        "get",
        "-namespace=acme/",
        "-field=password",
        "secret/app",
    ],
    &["kv", "get", "-field=password", "acme/secret/app"],
    &["kv", "get", "-namespace=globex", "secret/app"],
    &["namespace", "delete", "acme"],
    &["namespace", "delete", "-namespace=acme", "team1"],
    &["namespace", "delete", "acme"],
    &["namespace", "lookup", "acme"],
    &["namespace", "delete", "nope"],
    &["namespace", "list", "-format=json"],
];

/// One step as a user sees it: the exit code and stdout with volatile values masked.
#[derive(Debug, PartialEq)]
struct Step {
    args: String,
    code: Option<i32>,
    stdout: Value,
}

/// Masks namespace ids (random per server) in normalized output.
fn mask_ids(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if key == "id" {
                        json!("<id>")
                    } else {
                        mask_ids(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_ids).collect()),
        Value::String(line) if line.starts_with("id ") => json!("id <id>"),
        other => other,
    }
}

/// Sorts the names of a JSON list. OpenBao answers `namespace list -format=json` in no fixed
/// order (seen: `["globex/","acme/"]` about one run in eight; its table output is sorted), so
/// the comparison is by content (Coffer answers sorted, as the table shows them).
fn sorted_list(value: Value) -> Value {
    match value {
        Value::Array(mut items) if items.iter().all(Value::is_string) => {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            Value::Array(items)
        }
        other => other,
    }
}

fn run_flow(addr: &str, home: &Path) -> Vec<Step> {
    FLOW.iter()
        .map(|args| {
            let output = bao(home, addr, Some("root"), args);
            let mut shown = mask_ids(normalize(&stdout(&output), addr));
            if args.starts_with(&["namespace", "list"]) && args.contains(&"-format=json") {
                shown = sorted_list(shown);
            }
            Step {
                args: args.join(" "),
                code: output.status.code(),
                stdout: shown,
            }
        })
        .collect()
}

#[test]
fn bao_namespace_commands_behave_as_on_openbao() {
    let bao_dir = tempfile::tempdir().expect("tempdir");
    let coffer_dir = tempfile::tempdir().expect("tempdir");

    let peer = BaoServer::dev(bao_dir.path());
    let expected = run_flow(&peer.addr, bao_dir.path());
    drop(peer);

    let server = TestServer::spawn_args(
        coffer_dir.path(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    let got = run_flow(&server.addr, coffer_dir.path());
    for (want, got) in expected.iter().zip(&got) {
        assert_eq!(got, want, "step `bao {}`", want.args);
    }
    assert_eq!(got.len(), expected.len());

    // The namespace's own mount table, as `bao secrets list` shows it. (OpenBao names its
    // built-in engines `ns_cubbyhole`, … inside namespaces and serves identity there; Coffer's
    // identities are global, and every namespace gets its own typed `credentials/` engine.)
    let output = bao(
        coffer_dir.path(),
        &server.addr,
        Some("root"),
        &["namespace", "create", "tenant"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = bao(
        coffer_dir.path(),
        &server.addr,
        Some("root"),
        &["secrets", "list", "-namespace=tenant", "-format=json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let mounts = stdout_json(&output);
    let mut paths: Vec<&String> = mounts.as_object().expect("mounts").keys().collect();
    paths.sort();
    assert_eq!(paths, ["credentials/", "cubbyhole/", "sys/"]);
}

/// Runs the `coffer` CLI like [`coffer_cli`] with extra environment variables.
fn coffer_with_env(
    home: &Path,
    addr: &str,
    token: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut command = Command::new(coffer_bin());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("COFFER_ADDR", addr)
        .env("COFFER_TOKEN", token)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .stdin(Stdio::null())
        .output()
        .expect("run coffer CLI")
}

#[test]
fn coffer_namespace_commands_and_the_namespace_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let server = TestServer::spawn_args(
        home,
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    let addr = server.addr.as_str();
    let run = |args: &[&str]| coffer_cli(home, addr, Some("root"), args);

    let output = run(&["namespace", "list"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output).trim(), "No namespaces found");

    let output = run(&[
        "namespace",
        "create",
        "-custom-metadata=owner=ops",
        "-format=json",
        "acme",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let created = stdout_json(&output);
    assert_eq!(created["path"], "acme/");
    assert_eq!(created["custom_metadata"], json!({"owner": "ops"}));

    let output = run(&["namespace", "lookup", "acme"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|line| line.split_whitespace().eq(["path", "acme/"])),
        "{text}"
    );
    assert!(
        text.contains(created["id"].as_str().expect("an id")),
        "{text}"
    );

    // `-namespace` (single dash, as Vault's CLI spells it) and the environment select it.
    let output = run(&[
        "secrets",
        "enable",
        "-namespace=acme",
        "-path=secret",
        "kv-v2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["--namespace", "acme", "kv", "put", "secret/app", "pw=one"]);
    assert!(output.status.success(), "{}", stderr(&output));
    for variable in ["COFFER_NAMESPACE", "VAULT_NAMESPACE"] {
        let output = coffer_with_env(
            home,
            addr,
            "root",
            &[(variable, "acme")],
            &["kv", "get", "-field=pw", "secret/app"],
        );
        assert!(output.status.success(), "{variable}: {}", stderr(&output));
        assert_eq!(stdout(&output), "one", "{variable}");
    }
    let output = run(&["kv", "get", "-field=pw", "secret/app"]);
    assert!(
        !output.status.success(),
        "the root namespace has no such secret"
    );

    let output = run(&["namespace", "create", "-namespace=acme", "team1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["namespace", "list", "-namespace=acme", "-format=json"]);
    assert_eq!(stdout_json(&output), json!(["team1/"]));
    let output = run(&["namespace", "list"]);
    assert_eq!(stdout(&output), "Keys\n----\nacme/\n");

    let output = run(&["namespace", "delete", "acme"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("containing child namespaces"),
        "{}",
        stderr(&output)
    );
    let output = run(&["namespace", "delete", "-namespace=acme", "team1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["namespace", "delete", "acme"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Success! Namespace deleted: acme/\n");
    let output = run(&["namespace", "lookup", "acme"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output).trim(), "Namespace not found");
}
