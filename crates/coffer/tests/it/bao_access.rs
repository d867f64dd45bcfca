//! The KV guide's "Access Control" section (`seeds/vault-kv-guide.txt`) run unchanged with the
//! stock OpenBao CLI against a real `bao server -dev` and against `coffer server -dev`: root
//! stores three secrets, writes the seed's `myapp-policy` from a heredoc on stdin, enables
//! userpass and creates `myapp-user`; that user logs in (the CLI keeps the token in its token
//! file, in a HOME of its own) and may read what the policy allows and nothing else. Every step
//! must give the same exit code and the same output once volatile values are masked.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::support::{BaoServer, TestServer, bao, bao_with_stdin, normalize};

/// The seed's heredoc, verbatim.
const MYAPP_POLICY: &str = r#"path "secret/data/myapp/*" {
capabilities = ["read"]
}
path "secret/data/api-keys/openai" {
capabilities = ["read"]
}
"#;

/// Who runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The root token, in root's HOME.
    Root,
    /// No token in the environment, in the user's HOME: the CLI uses the token file there.
    User,
}

/// One step: who runs it, its arguments, and its stdin.
struct Command {
    who: Who,
    args: &'static [&'static str],
    stdin: Option<&'static str>,
}

const fn root(args: &'static [&'static str]) -> Command {
    Command {
        who: Who::Root,
        args,
        stdin: None,
    }
}

const fn user(args: &'static [&'static str]) -> Command {
    Command {
        who: Who::User,
        args,
        stdin: None,
    }
}

const FLOW: &[Command] = &[
    // Secrets for the policy to allow and to refuse (the guide's own values).
    root(&[
        "kv",
        "put",
        "secret/myapp/config",
        "app_secret=your-app-secret-key",
        "jwt_secret=jwt-signing-key",
        "encryption_key=aes-256-key",
    ]),
    root(&[
        "kv",
        "put",
        "secret/api-keys/openai",
        "api_key=sk-proj-your-openai-key-here",
        "organization=your-org-id",
    ]),
    root(&[
        "kv",
        "put",
        "secret/api-keys/github",
        "token=ghp_your-github-token",
        "username=your-github-username",
    ]),
    // Access Control: the policy, from stdin.
    Command {
        who: Who::Root,
        args: &["policy", "write", "myapp-policy", "-"],
        stdin: Some(MYAPP_POLICY),
    },
    root(&["policy", "list"]),
    root(&["policy", "list", "-format=json"]),
    root(&["policy", "read", "myapp-policy"]),
    root(&["policy", "read", "-format=json", "myapp-policy"]),
    // The authentication method and the user the policy is applied to.
    root(&["auth", "enable", "userpass"]),
    root(&["auth", "enable", "userpass"]),
    root(&["auth", "list"]),
    root(&["auth", "list", "-format=json"]),
    root(&[
        "write",
        "auth/userpass/users/myapp-user",
        "password=secure-password",
        "policies=myapp-policy",
    ]),
    root(&["read", "-format=json", "auth/userpass/users/myapp-user"]),
    root(&["list", "auth/userpass/users"]),
    // The application logs in and works with what it was given.
    user(&[
        "login",
        "-method=userpass",
        "username=myapp-user",
        "password=secure-password",
    ]),
    user(&["kv", "get", "secret/myapp/config"]),
    user(&["kv", "get", "-field=app_secret", "secret/myapp/config"]),
    user(&["kv", "get", "-format=json", "secret/myapp/config"]),
    user(&["kv", "get", "secret/api-keys/openai"]),
    user(&["kv", "get", "-field=api_key", "secret/api-keys/openai"]),
    user(&["kv", "get", "secret/api-keys/github"]),
    user(&["kv", "get", "-field=token", "secret/api-keys/github"]),
    user(&["kv", "put", "secret/myapp/config", "x=y"]),
    user(&["kv", "put", "secret/myapp/new", "x=y"]),
    user(&["kv", "list", "secret/"]),
    user(&["policy", "list"]),
    // A wrong password is refused and leaves the stored token in place.
    user(&[
        "login",
        "-method=userpass",
        "username=myapp-user",
        "password=wrong-password",
    ]),
    user(&[
        "login",
        "-method=userpass",
        "username=nobody",
        "password=secure-password",
    ]),
    user(&["kv", "get", "-field=jwt_secret", "secret/myapp/config"]),
    // Nothing the user was refused happened.
    root(&["kv", "get", "-format=json", "secret/myapp/config"]),
    root(&[
        "kv",
        "metadata",
        "get",
        "-format=json",
        "secret/myapp/config",
    ]),
    root(&["kv", "get", "-format=json", "secret/myapp/new"]),
];

/// One step as a user sees it: the exit code and what was printed, normalized.
#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    exit: Option<i32>,
    stdout: Value,
    stderr: Value,
}

fn run_flow(addr: &str, dir: &Path) -> Vec<Step> {
    let root_home = dir.join("root-home");
    let user_home = dir.join("user-home");
    std::fs::create_dir_all(&root_home).expect("root home");
    std::fs::create_dir_all(&user_home).expect("user home");
    FLOW.iter()
        .map(|command| {
            let (home, token) = match command.who {
                Who::Root => (&root_home, Some("root")),
                Who::User => (&user_home, None),
            };
            let output = match command.stdin {
                Some(input) => bao_with_stdin(home, addr, token, command.args, input),
                None => bao(home, addr, token, command.args),
            };
            step(command, addr, &output)
        })
        .collect()
}

fn step(command: &Command, addr: &str, output: &Output) -> Step {
    let prefix = match command.who {
        Who::Root => "(root)",
        Who::User => "(myapp-user)",
    };
    let mut stdout = mask_credentials(normalize(&String::from_utf8_lossy(&output.stdout), addr));
    if command.args.starts_with(&["auth", "list"]) {
        stdout = auth_listing_facts(stdout);
    }
    Step {
        command: format!("{prefix} {}", command.args.join(" ")),
        exit: output.status.code(),
        stdout,
        stderr: normalize(&String::from_utf8_lossy(&output.stderr), addr),
    }
}

/// Masks what a login prints that differs on every run: the token and its accessor, in the
/// table (`token  s.…`, `token_accessor  …`) and in JSON (`auth.client_token`, `auth.accessor`).
fn mask_credentials(output: Value) -> Value {
    match output {
        Value::Array(lines) => Value::Array(
            lines
                .into_iter()
                .map(|line| match line.as_str().and_then(|l| l.split_once(' ')) {
                    Some(("token", _)) => json!("token <token>"),
                    Some(("token_accessor", _)) => json!("token_accessor <accessor>"),
                    _ => line,
                })
                .collect(),
        ),
        Value::Object(mut fields) => {
            if let Some(Value::Object(auth)) = fields.get_mut("auth") {
                for (key, mask) in [("client_token", "<token>"), ("accessor", "<accessor>")] {
                    if auth.contains_key(key) {
                        auth.insert(key.to_owned(), json!(mask));
                    }
                }
            }
            Value::Object(fields)
        }
        other => other,
    }
}

/// `running_plugin_version` names the product that runs the method (`…+builtin.bao` or
/// `…+builtin.coffer`); everything else of every auth method is compared.
fn auth_listing_facts(listing: Value) -> Value {
    match listing {
        Value::Object(methods) => Value::Object(
            methods
                .into_iter()
                .map(|(path, method)| {
                    let method = match method {
                        Value::Object(mut fields) => {
                            fields.remove("running_plugin_version");
                            Value::Object(fields)
                        }
                        other => other,
                    };
                    (path, method)
                })
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn mask_credentials_hides_tokens_and_keeps_facts() {
    fn check(input: Value, expected: Value) {
        assert_eq!(mask_credentials(input.clone()), expected, "{input}");
    }
    check(
        json!([
            "token s.SvCVAQXrBZ6ku96jbWycPSMX",
            "token_accessor ZH5Vq2",
            "token_duration 768h",
            "token_policies [\"default\" \"myapp-policy\"]"
        ]),
        json!([
            "token <token>",
            "token_accessor <accessor>",
            "token_duration 768h",
            "token_policies [\"default\" \"myapp-policy\"]"
        ]),
    );
    check(
        json!({"auth": {"client_token": "s.x", "accessor": "y", "policies": ["default"]}}),
        json!({"auth": {"client_token": "<token>", "accessor": "<accessor>", "policies": ["default"]}}),
    );
    check(json!({"auth": null}), json!({"auth": null}));
    check(json!(["tokens s.x"]), json!(["tokens s.x"]));
}

/// The exit code of `command` in `steps`.
fn exit_of(steps: &[Step], command: &str) -> Option<i32> {
    steps
        .iter()
        .find(|s| s.command == command)
        .unwrap_or_else(|| panic!("no step {command}"))
        .exit
}

/// Checks on one run what the seed promises: the user reads what the policy allows, is refused
/// the rest with `permission denied`, a wrong password is refused, and nothing refused happened.
fn assert_access_control(steps: &[Step], server: &str) {
    let find = |command: &str| {
        steps
            .iter()
            .find(|s| s.command == command)
            .unwrap_or_else(|| panic!("{server}: no step {command}"))
    };
    for command in [
        "(root) policy write myapp-policy -",
        "(root) auth enable userpass",
        "(root) write auth/userpass/users/myapp-user password=secure-password policies=myapp-policy",
        "(myapp-user) login -method=userpass username=myapp-user password=secure-password",
        "(myapp-user) kv get secret/myapp/config",
        "(myapp-user) kv get secret/api-keys/openai",
        "(myapp-user) kv get -field=jwt_secret secret/myapp/config",
    ] {
        assert_eq!(exit_of(steps, command), Some(0), "{server}: {command}");
    }
    assert_eq!(
        find("(myapp-user) kv get -field=app_secret secret/myapp/config").stdout,
        json!(["your-app-secret-key"]),
        "{server}"
    );
    for command in [
        "(myapp-user) kv get secret/api-keys/github",
        "(myapp-user) kv put secret/myapp/config x=y",
        "(myapp-user) kv put secret/myapp/new x=y",
    ] {
        let step = find(command);
        assert_eq!(step.exit, Some(2), "{server}: {command}");
        assert!(
            step.stderr.to_string().contains("permission denied"),
            "{server}: {command}: {}",
            step.stderr
        );
    }
    for command in [
        "(myapp-user) login -method=userpass username=myapp-user password=wrong-password",
        "(myapp-user) login -method=userpass username=nobody password=secure-password",
    ] {
        let step = find(command);
        assert_eq!(step.exit, Some(2), "{server}: {command}");
        assert!(
            step.stderr
                .to_string()
                .contains("invalid username or password"),
            "{server}: {command}: {}",
            step.stderr
        );
    }
    let config = &find("(root) kv get -format=json secret/myapp/config").stdout;
    assert_eq!(
        config["data"]["data"],
        json!({"app_secret": "your-app-secret-key", "jwt_secret": "jwt-signing-key", "encryption_key": "aes-256-key"}),
        "{server}: the denied write changed nothing"
    );
    assert_eq!(config["data"]["metadata"]["version"], json!(1), "{server}");
    assert_eq!(
        exit_of(steps, "(root) kv get -format=json secret/myapp/new"),
        Some(2),
        "{server}: the denied create created nothing"
    );
}

#[test]
fn access_control_with_bao_cli_matches_openbao_dev_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let coffer_dir = dir.path().join("coffer");
    let bao_dir = dir.path().join("bao");
    std::fs::create_dir_all(&coffer_dir).expect("mkdir");
    std::fs::create_dir_all(&bao_dir).expect("mkdir");

    let peer = BaoServer::dev(&bao_dir);
    let expected = run_flow(&peer.addr, &bao_dir);
    drop(peer);
    assert_access_control(&expected, "openbao");

    let server = TestServer::spawn_args(
        &coffer_dir,
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    let got = run_flow(&server.addr, &coffer_dir);
    assert_access_control(&got, "coffer");

    let differences: Vec<String> = got
        .iter()
        .zip(&expected)
        .filter(|(got, want)| got != want)
        .map(|(got, want)| {
            format!(
                "step `bao {}`\n  openbao: {:?} {} {}\n  coffer:  {:?} {} {}",
                want.command, want.exit, want.stdout, want.stderr, got.exit, got.stdout, got.stderr
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    assert!(
        differences.is_empty(),
        "{} of {} steps differ from OpenBao:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
}
