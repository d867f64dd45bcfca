//! `coffer policy …`, `coffer auth …`, `coffer login -method=…`, the generic
//! `read|write|list|delete` commands and `coffer access apply|show` against a real dev server.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support::{TestServer, coffer_bin, coffer_cli, stderr, stdout, stdout_json};

/// The seed's role-based access example.
const SEED_ACCESS: &str = r#"{"secrets": {"production/*": {"read": ["engineers", "devops"],
    "write": ["devops"], "delete": ["admins"]}}}"#;

/// A dev server with root token `root`, and the CLI pointed at it.
struct Cli {
    // Fields drop in order: the server stops before its directory is removed.
    server: TestServer,
    home: PathBuf,
    dir: tempfile::TempDir,
}

impl Cli {
    fn start() -> Cli {
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
        Cli { server, home, dir }
    }

    /// Runs the CLI with the root token.
    fn run(&self, args: &[&str]) -> Output {
        coffer_cli(&self.home, &self.server.addr, Some("root"), args)
    }

    /// Runs the CLI with no token in the environment (the token file, if any, is used).
    fn run_as_stored(&self, args: &[&str]) -> Output {
        coffer_cli(&self.home, &self.server.addr, None, args)
    }

    /// Runs the CLI with the root token, asserts exit 0 and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: stdout={} stderr={}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs the CLI with `-format=json` appended, asserts exit 0 and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("-format=json");
        let out = self.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout_json(&out)
    }

    /// Runs the CLI with `token` (if any) and `input` on stdin.
    fn run_stdin(&self, token: Option<&str>, args: &[&str], input: &str) -> Output {
        let mut command = Command::new(coffer_bin());
        command
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("COFFER_ADDR", &self.server.addr);
        if let Some(token) = token {
            command.env("COFFER_TOKEN", token);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coffer CLI");
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("coffer CLI output")
    }

    /// Writes a file in the test directory and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// The sorted policy names on the server.
    fn policies(&self) -> Vec<String> {
        names(&self.json(&["policy", "list"]))
    }

    /// An identity group's data, or `None` when it does not exist.
    fn group(&self, name: &str) -> Option<Value> {
        let out = self.run(&[
            "read",
            &format!("identity/group/name/{name}"),
            "-format=json",
        ]);
        match out.status.code() {
            Some(0) => Some(stdout_json(&out)["data"].clone()),
            _ => None,
        }
    }
}

/// The strings of a JSON array.
fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts an exit code and that stderr contains `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout={} stderr={}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(needle),
        "{needle:?} in {}",
        stderr(out)
    );
}

/// The first whitespace-separated words of each line, to compare tables without widths.
fn words(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn policy_write_read_list_delete_fmt() {
    let cli = Cli::start();
    let file = cli.file(
        "app.hcl",
        "path \"secret/data/app/*\" {capabilities=[\"read\",\"create\"]}\n",
    );
    assert_eq!(
        cli.ok(&["policy", "write", "app", path_str(&file)]),
        "Success! Uploaded policy: app\n"
    );
    let out = cli.run_stdin(
        Some("root"),
        &["policy", "write", "from-stdin", "-"],
        "path \"x\" { capabilities = [\"list\"] }",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(
        cli.ok(&["policy", "read", "app"]),
        "path \"secret/data/app/*\" {capabilities=[\"read\",\"create\"]}\n"
    );
    let read = cli.json(&["policy", "read", "app"]);
    assert_eq!(read["name"], json!("app"));
    assert_eq!(
        read["policy"],
        json!("path \"secret/data/app/*\" {capabilities=[\"read\",\"create\"]}\n")
    );
    assert_eq!(
        cli.ok(&["policy", "list"]),
        "app\ndefault\nfrom-stdin\nroot\n"
    );
    assert_eq!(cli.policies(), ["app", "default", "from-stdin", "root"]);

    assert_fails(
        &cli.run(&["policy", "read", "nope"]),
        2,
        "No policy named: nope",
    );
    let bad = cli.file("bad.hcl", "path \"x\" { capabilities = [\"bogus\"] }");
    assert_fails(
        &cli.run(&["policy", "write", "bad", path_str(&bad)]),
        2,
        "invalid capability \"bogus\"",
    );

    assert_eq!(
        cli.ok(&["policy", "delete", "app"]),
        "Success! Deleted policy: app\n"
    );
    assert_eq!(cli.policies(), ["default", "from-stdin", "root"]);
    assert_eq!(
        cli.ok(&["policy", "delete", "app"]),
        "Success! Deleted policy: app\n",
        "deleting is idempotent"
    );

    // fmt rewrites a valid file canonically (and the result still uploads)…
    let messy = cli.file(
        "messy.hcl",
        "# comment\npath \"b\" {\n capabilities=[\"update\",\"read\"]\n}\npath \"a/*\"{policy=\"deny\"}",
    );
    assert_eq!(
        cli.ok(&["policy", "fmt", path_str(&messy)]),
        format!("Success! Formatted policy: {}\n", messy.display())
    );
    let formatted = std::fs::read_to_string(&messy).expect("read formatted");
    assert_eq!(
        formatted,
        "path \"b\" {\n  capabilities = [\"read\", \"update\"]\n}\n\n\
         path \"a/*\" {\n  capabilities = [\"deny\"]\n}\n"
    );
    cli.ok(&["policy", "fmt", path_str(&messy)]);
    assert_eq!(
        std::fs::read_to_string(&messy).expect("read again"),
        formatted
    );
    cli.ok(&["policy", "write", "formatted", path_str(&messy)]);

    // …and leaves an invalid one untouched.
    let broken_text = "path \"x\" { capabilities = [\"read\"]";
    let broken = cli.file("broken.hcl", broken_text);
    assert_fails(
        &cli.run(&["policy", "fmt", path_str(&broken)]),
        1,
        "is not a valid policy: failed to parse policy",
    );
    assert_eq!(
        std::fs::read_to_string(&broken).expect("read broken"),
        broken_text
    );
}

#[test]
fn auth_enable_list_disable() {
    let cli = Cli::start();
    assert_eq!(
        cli.ok(&[
            "auth",
            "enable",
            "-path=people",
            "-description=staff logins",
            "userpass"
        ]),
        "Success! Enabled userpass auth method at: people/\n"
    );
    let table = words(&cli.ok(&["auth", "list"]));
    assert_eq!(
        table.first().map(Vec::as_slice),
        Some(
            ["Path", "Type", "Accessor", "Description"]
                .map(String::from)
                .as_slice()
        )
    );
    let people = table
        .iter()
        .find(|row| row.first().map(String::as_str) == Some("people/"))
        .expect("people/ listed");
    assert_eq!(people.get(1).map(String::as_str), Some("userpass"));
    assert_eq!(
        people.get(3..).map(|rest| rest.join(" ")),
        Some("staff logins".to_owned())
    );
    let listed = cli.json(&["auth", "list"]);
    assert_eq!(listed["people/"]["type"], json!("userpass"));
    assert_eq!(listed["token/"]["type"], json!("token"));

    assert_fails(
        &cli.run(&["auth", "enable", "-path=people", "userpass"]),
        2,
        "path is already in use",
    );
    assert_eq!(
        cli.ok(&["auth", "disable", "people"]),
        "Success! Disabled the auth method (if it existed) at: people/\n"
    );
    assert!(cli.json(&["auth", "list"]).get("people/").is_none());
}

#[test]
fn generic_read_write_list_delete() {
    let cli = Cli::start();
    // KV v2 through its API paths: a JSON body on stdin, the reply's metadata as a table.
    let out = cli.run_stdin(
        Some("root"),
        &["write", "secret/data/x", "-"],
        r#"{"data": {"user": "bob", "pass": "p1"}}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = words(&stdout(&out));
    assert!(
        table.contains(&vec!["version".to_owned(), "1".to_owned()]),
        "{table:?}"
    );

    let read = cli.ok(&["read", "secret/data/x"]);
    assert_eq!(
        words(&read).first(),
        Some(&vec!["Key".into(), "Value".into()])
    );
    assert!(read.contains("map[pass:p1 user:bob]"), "{read}");
    let out = cli.run(&["read", "secret/data/x", "-field=data", "-format=json"]);
    assert_eq!(stdout_json(&out), json!({"pass": "p1", "user": "bob"}));
    let envelope = cli.json(&["read", "secret/data/x"]);
    assert_eq!(envelope["data"]["data"]["user"], json!("bob"));
    assert!(envelope.get("auth").is_none(), "null auth is left out");

    assert_eq!(cli.ok(&["list", "secret/metadata"]), "Keys\n----\nx\n");
    assert_eq!(cli.json(&["list", "secret/metadata/"]), json!(["x"]));
    assert_eq!(
        cli.ok(&["list", "sys/policies/acl"]),
        "Keys\n----\ndefault\nroot\n"
    );
    assert_fails(
        &cli.run(&["list", "secret/metadata/nothing"]),
        2,
        "No value found at secret/metadata/nothing",
    );

    // A 204 reply: `Success! Data written to`, and k=v data as the body.
    assert_eq!(
        cli.ok(&[
            "write",
            "sys/policies/acl/w",
            "policy=path \"a\" { capabilities = [\"read\"] }"
        ]),
        "Success! Data written to: sys/policies/acl/w\n"
    );
    assert_eq!(cli.ok(&["read", "sys/policies/acl/w", "-field=name"]), "w");
    assert_fails(
        &cli.run(&["write", "secret/data/y"]),
        1,
        "Must supply data or use -force",
    );
    assert_fails(
        &cli.run(&["write", "secret/data/y", "data=x"]),
        2,
        "Code: 400",
    );

    assert_eq!(
        cli.ok(&["delete", "secret/metadata/x"]),
        "Success! Data deleted (if it existed) at: secret/metadata/x\n"
    );
    assert_fails(
        &cli.run(&["read", "secret/data/x"]),
        2,
        "No value found at secret/data/x",
    );
    assert_fails(
        &cli.run(&["read", "secret/data/x", "-format=json"]),
        2,
        "No value found at secret/data/x",
    );
}

#[test]
fn access_apply_show_reapply_and_retire() {
    let cli = Cli::start();
    // An existing group keeps its members and other policies.
    let entity = cli.json(&["write", "identity/entity", "name=dana"]);
    let entity_id = entity["data"]["id"].as_str().expect("entity id").to_owned();
    cli.ok(&[
        "write",
        "identity/group/name/devops",
        "policies=ops-extra",
        &format!("member_entity_ids={entity_id}"),
    ]);
    let before = cli.policies();

    // A bad file writes nothing.
    let bad = cli.file(
        "bad.json",
        r#"{"secrets": {"production/*": {"read": ["engineers"], "list": ["devops"]}}}"#,
    );
    assert_fails(
        &cli.run(&["access", "apply", path_str(&bad)]),
        1,
        "unknown action \"list\"",
    );
    for bad_text in [
        r#"{"secrets": {"": {"read": ["engineers"]}}}"#,
        r#"{"secrets": {"a/*": {"read": "engineers"}}}"#,
        r#"{"secrets": {"a/*": {"read": ["ok"]}, "b": {"write": ["no/slash"]}}}"#,
        "not json",
    ] {
        let bad = cli.file("bad.json", bad_text);
        let out = cli.run(&["access", "apply", path_str(&bad)]);
        assert_eq!(out.status.code(), Some(1), "{bad_text}: {}", stderr(&out));
    }
    assert_eq!(cli.policies(), before);
    assert!(cli.group("engineers").is_none());
    assert!(cli.group("ok").is_none());

    let file = cli.file("access.json", SEED_ACCESS);
    let applied = words(&cli.ok(&["access", "apply", path_str(&file)]));
    assert_eq!(
        applied.first(),
        Some(
            &["Group", "Policy", "Paths", "Status"]
                .map(String::from)
                .to_vec()
        )
    );
    let status = |rows: &[Vec<String>], group: &str| {
        rows.iter()
            .find(|row| row.first().map(String::as_str) == Some(group))
            .and_then(|row| row.last().cloned())
    };
    for group in ["admins", "devops", "engineers"] {
        assert_eq!(
            status(&applied, group).as_deref(),
            Some("created"),
            "{applied:?}"
        );
    }
    assert_eq!(
        cli.policies(),
        [
            "access-admins",
            "access-devops",
            "access-engineers",
            "default",
            "root"
        ]
    );
    assert_eq!(
        cli.ok(&["policy", "read", "access-engineers"]),
        "path \"secret/data/production/*\" {\n  capabilities = [\"read\"]\n}\n\n\
         path \"secret/metadata/production/*\" {\n  capabilities = [\"list\", \"read\"]\n}\n"
    );
    let devops = cli.group("devops").expect("devops group");
    assert_eq!(devops["policies"], json!(["access-devops", "ops-extra"]));
    assert_eq!(devops["member_entity_ids"], json!([entity_id]));
    let engineers = cli.group("engineers").expect("engineers group created");
    assert_eq!(engineers["policies"], json!(["access-engineers"]));

    let show = cli.ok(&["access", "show"]);
    assert_eq!(
        words(&show),
        [
            vec!["Path", "Group", "Capabilities"],
            vec!["----", "-----", "------------"],
            vec!["secret/data/production/*", "admins", "delete"],
            vec![
                "secret/data/production/*",
                "devops",
                "create,",
                "patch,",
                "read,",
                "update"
            ],
            vec!["secret/data/production/*", "engineers", "read"],
            vec!["secret/delete/production/*", "admins", "update"],
            vec!["secret/metadata/production/*", "admins", "delete"],
            vec!["secret/metadata/production/*", "devops", "list,", "read"],
            vec!["secret/metadata/production/*", "engineers", "list,", "read"],
        ]
        .map(|row| row.into_iter().map(String::from).collect::<Vec<_>>())
    );
    let shown = cli.json(&["access", "show"]);
    assert_eq!(
        shown.get(1),
        Some(
            &json!({"path": "secret/data/production/*", "group": "devops",
                     "policy": "access-devops",
                     "capabilities": ["create", "patch", "read", "update"]})
        )
    );
    assert_eq!(
        cli.ok(&["access", "show", "-mount=kv"]),
        "No access rules found under kv/\n"
    );

    // Applying again changes nothing.
    let again = cli.json(&["access", "apply", path_str(&file)]);
    let statuses: Vec<&str> = again
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row["status"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(statuses, ["unchanged", "unchanged", "unchanged"]);
    assert_eq!(
        cli.group("devops").expect("devops")["policies"],
        devops["policies"]
    );
    assert_eq!(cli.ok(&["access", "show"]), show);

    // Groups dropped from the file lose their policy, which is deleted.
    let smaller = cli.file(
        "smaller.json",
        r#"{"secrets": {"production/*": {"read": ["engineers"]}, "shared/*": {"write": ["engineers"]}}}"#,
    );
    let applied = words(&cli.ok(&["access", "apply", path_str(&smaller)]));
    assert_eq!(status(&applied, "engineers").as_deref(), Some("updated"));
    assert_eq!(status(&applied, "devops").as_deref(), Some("removed"));
    assert_eq!(status(&applied, "admins").as_deref(), Some("removed"));
    assert_eq!(cli.policies(), ["access-engineers", "default", "root"]);
    let devops = cli.group("devops").expect("devops group kept");
    assert_eq!(devops["policies"], json!(["ops-extra"]));
    assert_eq!(devops["member_entity_ids"], json!([entity_id]));
    assert_eq!(
        cli.group("admins").expect("admins group kept")["policies"],
        json!([])
    );
    assert!(
        cli.ok(&["access", "show"]).contains("secret/data/shared/*"),
        "new rules shown"
    );

    // A mount that is not KV v2 is refused before anything is written.
    cli.ok(&["secrets", "enable", "-path=kv1", "kv"]);
    assert_fails(
        &cli.run(&["access", "apply", "-mount=kv1", path_str(&file)]),
        1,
        "kv1/ is not a KV v2 mount",
    );
    assert_eq!(cli.policies(), ["access-engineers", "default", "root"]);
}

#[test]
fn login_with_userpass_and_approle() {
    let cli = Cli::start();
    cli.ok(&["auth", "enable", "userpass"]);
    cli.ok(&["kv", "put", "secret/production/db", "password=p1"]);
    cli.ok(&["kv", "put", "secret/staging/db", "password=p2"]);
    let file = cli.file("access.json", SEED_ACCESS);
    cli.ok(&["access", "apply", path_str(&file)]);
    cli.ok(&[
        "write",
        "auth/userpass/users/alice",
        "password=pw",
        "token_policies=default",
    ]);

    // A wrong password is the server's error, exit 2; nothing is stored.
    let out = cli.run_as_stored(&[
        "login",
        "-method=userpass",
        "username=alice",
        "password=wrong",
    ]);
    assert_fails(&out, 2, "invalid username or password");
    assert!(!cli.home.join(".coffer-token").exists());

    // The password comes from stdin when it is not given; the token is stored.
    let out = cli.run_stdin(
        None,
        &["login", "-method=userpass", "username=alice"],
        "pw\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.starts_with("Success! You are now authenticated."),
        "{printed}"
    );
    assert!(printed.contains("token_meta_username"), "{printed}");
    let stored = std::fs::read_to_string(cli.home.join(".coffer-token")).expect("token stored");
    assert!(printed.contains(&stored), "{printed}");

    // Alice's entity (made at her first login) joins the engineers group; after logging in
    // again she may read production secrets only. (The server adds group policies to a token
    // when it is issued, so the token from before joining would not have them.)
    let entity = cli.json(&["read", "identity/entity/name/alice"]);
    let entity_id = entity["data"]["id"].as_str().expect("alice's entity");
    cli.ok(&[
        "write",
        "identity/group/name/engineers",
        &format!("member_entity_ids={entity_id}"),
    ]);
    let out = cli.run_as_stored(&["login", "-method=userpass", "username=alice", "password=pw"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let relogged = std::fs::read_to_string(cli.home.join(".coffer-token")).expect("token stored");
    assert_ne!(relogged, stored, "the new token replaces the old one");
    let out = cli.run_as_stored(&["kv", "get", "-field=password", "secret/production/db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "p1");
    assert_fails(
        &cli.run_as_stored(&["read", "secret/data/staging/db"]),
        2,
        "permission denied",
    );
    assert_fails(
        &cli.run_as_stored(&["kv", "put", "secret/production/db", "password=x"]),
        2,
        "permission denied",
    );

    // -no-store with -field prints only the token and keeps the stored one.
    let out = cli.run_as_stored(&[
        "login",
        "-method=userpass",
        "-no-store",
        "-field=token",
        "username=alice",
        "password=pw",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("s."), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(cli.home.join(".coffer-token")).expect("token file"),
        relogged
    );

    // AppRole at a custom path.
    cli.ok(&["auth", "enable", "-path=ci", "approle"]);
    cli.ok(&[
        "write",
        "auth/ci/role/build",
        "token_policies=access-engineers",
    ]);
    let role_id = cli.ok(&["read", "-field=role_id", "auth/ci/role/build/role-id"]);
    let secret_id = cli.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/ci/role/build/secret-id",
    ]);
    let out = cli.run_as_stored(&[
        "login",
        "-method=approle",
        "-path=ci",
        "-format=json",
        &format!("role_id={role_id}"),
        &format!("secret_id={secret_id}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let login = stdout_json(&out);
    assert_eq!(
        login["auth"]["token_policies"],
        json!(["access-engineers", "default"])
    );
    let out = cli.run_as_stored(&["kv", "get", "-field=password", "secret/production/db"]);
    assert_eq!(stdout(&out), "p1", "{}", stderr(&out));
    assert_fails(
        &cli.run_as_stored(&[
            "login",
            "-method=approle",
            "-path=ci",
            &format!("role_id={role_id}"),
            "secret_id=wrong",
        ]),
        2,
        "Code: 400",
    );

    // Logging in with a token still works.
    let out = cli.run_as_stored(&["login", "root"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(cli.home.join(".coffer-token")).expect("token file"),
        "root"
    );
}
