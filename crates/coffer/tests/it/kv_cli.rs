//! `coffer secrets …` and `coffer kv …` against a real dev server: the KV guide seed's steps
//! 1–4 (engines, storing, reading, versions, deletes, patches, rollback), YAML output, KV v1
//! mounts, values from files and stdin, exit codes, and flags after positional arguments.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support::{TestServer, coffer_bin, coffer_cli, stderr, stdout, stdout_json};

/// A dev server with root token `root`, and the CLI pointed at it.
struct Kv {
    // Fields drop in order: the server stops before its directory is removed.
    server: TestServer,
    home: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kv {
    fn start() -> Kv {
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
        Kv {
            server,
            home,
            _dir: dir,
        }
    }

    /// Runs the CLI with the root token.
    fn run(&self, args: &[&str]) -> Output {
        coffer_cli(&self.home, &self.server.addr, Some("root"), args)
    }

    /// Runs the CLI, asserts exit 0 and returns stdout.
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

    /// Runs the CLI with `input` on stdin.
    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(coffer_bin())
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("COFFER_ADDR", &self.server.addr)
            .env("COFFER_TOKEN", "root")
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
}

/// Replaces the timestamps in a table (`created_time`, `deletion_time`, …) with `<time>`.
fn redact_times(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once("_time ") {
            Some((key, rest)) if rest.trim() != "n/a" => {
                let width = key.len() + "_time ".len() + rest.len() - rest.trim_start().len();
                format!("{:<width$}<time>", format!("{key}_time"))
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn kv_guide_steps_1_to_4() {
    let kv = Kv::start();

    // Step 1: engines.
    let list = kv.ok(&["secrets", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["Path", "Type", "Accessor", "Description"]),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("secret/ ") && l.contains(" kv ")),
        "{list}"
    );
    assert!(lines.iter().any(|l| l.starts_with("cubbyhole/ ")), "{list}");
    assert_eq!(
        kv.ok(&["secrets", "enable", "-path=apps", "kv-v2"]),
        "Success! Enabled the kv secrets engine at: apps/\n"
    );
    let mounts = kv.json(&["secrets", "list"]);
    assert_eq!(mounts["apps/"]["type"], json!("kv"));
    assert_eq!(mounts["apps/"]["options"]["version"], json!("2"));
    assert!(
        kv.ok(&["secrets", "list", "-detailed"])
            .contains("map[version:2]")
    );

    // Step 2: store.
    let puts: [&[&str]; 6] = [
        &[
            "secret/api-keys/openai",
            "api_key=sk-proj-your-openai-key-here",
            "organization=your-org-id",
        ],
        &[
            "secret/api-keys/anthropic",
            "api_key=your-anthropic-key-here",
        ],
        &[
            "secret/api-keys/github",
            "token=ghp_your-github-token",
            "username=your-github-username",
        ],
        &[
            "secret/myapp/database",
            "username=db_admin",
            "password=secure_db_password",
            "host=db.example.com",
            "port=5432",
        ],
        &[
            "secret/myapp/config",
            "app_secret=your-app-secret-key",
            "jwt_secret=jwt-signing-key",
            "encryption_key=aes-256-key",
        ],
        &[
            "secret/api-keys/stripe",
            "api_key=sk_live_your-stripe-key",
            "webhook_secret=whsec_webhook-secret",
            "created_date=2025-09-25",
            "environment=production",
            "owner=finance-team",
        ],
    ];
    for args in puts {
        let mut command = vec!["kv", "put"];
        command.extend_from_slice(args);
        let out = kv.ok(&command);
        assert!(out.contains("version            1"), "{out}");
    }
    let out = kv.ok(&["kv", "put", "secret/api-keys/old-service", "key=one"]);
    assert_eq!(
        redact_times(&out),
        "========== Secret Path ==========\n\
         secret/data/api-keys/old-service\n\
         \n\
         ======= Metadata =======\n\
         Key                Value\n\
         ---                -----\n\
         created_time       <time>\n\
         custom_metadata    <nil>\n\
         deletion_time      n/a\n\
         destroyed          false\n\
         version            1\n"
    );

    // Step 3: retrieve.
    let out = kv.ok(&["kv", "get", "secret/api-keys/openai"]);
    assert_eq!(
        redact_times(&out),
        "======= Secret Path =======\n\
         secret/data/api-keys/openai\n\
         \n\
         ======= Metadata =======\n\
         Key                Value\n\
         ---                -----\n\
         created_time       <time>\n\
         custom_metadata    <nil>\n\
         deletion_time      n/a\n\
         destroyed          false\n\
         version            1\n\
         \n\
         ======== Data ========\n\
         Key             Value\n\
         ---             -----\n\
         api_key         sk-proj-your-openai-key-here\n\
         organization    your-org-id\n"
    );
    let secret = kv.json(&["kv", "get", "secret/api-keys/openai"]);
    assert_eq!(
        secret["data"]["data"],
        json!({"api_key": "sk-proj-your-openai-key-here", "organization": "your-org-id"})
    );
    assert_eq!(secret["data"]["metadata"]["version"], json!(1));
    assert!(secret.get("auth").is_none() && secret.get("wrap_info").is_none());
    assert_eq!(
        kv.ok(&["kv", "get", "-field=api_key", "secret/api-keys/openai"]),
        "sk-proj-your-openai-key-here"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "-field=password", "secret/myapp/database"]),
        "secure_db_password"
    );
    assert_eq!(
        kv.ok(&["kv", "list", "secret/"]),
        "Keys\n----\napi-keys/\nmyapp/\n"
    );
    assert_eq!(
        kv.json(&["kv", "list", "secret/api-keys/"]),
        json!(["anthropic", "github", "old-service", "openai", "stripe"])
    );
    assert_eq!(
        kv.json(&["kv", "list", "-mount=secret", "myapp"]),
        json!(["config", "database"])
    );

    // Step 4: versions.
    let metadata = kv.ok(&["kv", "metadata", "get", "secret/api-keys/openai"]);
    assert!(
        metadata.starts_with("======== Metadata Path ========\nsecret/metadata/api-keys/openai\n"),
        "{metadata}"
    );
    assert!(
        metadata.contains("\n====== Version 1 ======\n"),
        "{metadata}"
    );
    assert!(!metadata.contains("Version 2"), "{metadata}");
    kv.ok(&[
        "kv",
        "put",
        "secret/api-keys/openai",
        "api_key=sk-proj-updated-key",
        "organization=new-org-id",
    ]);
    assert_eq!(
        kv.ok(&[
            "kv",
            "get",
            "-version=1",
            "-field=api_key",
            "secret/api-keys/openai"
        ]),
        "sk-proj-your-openai-key-here"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "-field=api_key", "secret/api-keys/openai"]),
        "sk-proj-updated-key"
    );
    let metadata = kv.json(&["kv", "metadata", "get", "secret/api-keys/openai"]);
    assert_eq!(metadata["data"]["current_version"], json!(2));
    assert!(
        kv.ok(&["kv", "metadata", "get", "secret/api-keys/openai"])
            .contains("Version 2"),
        "the table lists every version"
    );

    // Lifecycle: soft delete, delete versions, destroy, undelete.
    kv.ok(&["kv", "put", "secret/api-keys/old-service", "key=two"]);
    kv.ok(&["kv", "put", "secret/api-keys/old-service", "key=three"]);
    assert_eq!(
        kv.ok(&["kv", "delete", "secret/api-keys/old-service"]),
        "Success! Data deleted (if it existed) at: secret/data/api-keys/old-service\n"
    );
    let deleted = kv.ok(&["kv", "get", "secret/api-keys/old-service"]);
    assert!(!deleted.contains("Data"), "{deleted}");
    assert!(
        deleted
            .lines()
            .any(|l| l.starts_with("deletion_time") && !l.ends_with("n/a")),
        "{deleted}"
    );
    assert_eq!(
        kv.ok(&["kv", "delete", "-versions=1,2", "secret/api-keys/openai"]),
        "Success! Data deleted (if it existed) at: secret/data/api-keys/openai\n"
    );
    let versions =
        &kv.json(&["kv", "metadata", "get", "secret/api-keys/openai"])["data"]["versions"];
    assert_ne!(versions["1"]["deletion_time"], json!(""));
    assert_ne!(versions["2"]["deletion_time"], json!(""));
    let out = kv.run(&["kv", "get", "-field=api_key", "secret/api-keys/openai"]);
    assert_eq!(out.status.code(), Some(2), "no data in a deleted version");
    assert_eq!(
        kv.ok(&["kv", "destroy", "-versions=1,2", "secret/api-keys/openai"]),
        "Success! Data written to: secret/destroy/api-keys/openai\n"
    );
    let versions =
        &kv.json(&["kv", "metadata", "get", "secret/api-keys/openai"])["data"]["versions"];
    assert_eq!(
        (&versions["1"]["destroyed"], &versions["2"]["destroyed"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        kv.ok(&[
            "kv",
            "undelete",
            "-versions=3",
            "secret/api-keys/old-service"
        ]),
        "Success! Data written to: secret/undelete/api-keys/old-service\n"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "-field=key", "secret/api-keys/old-service"]),
        "three"
    );

    // Patch keeps the other keys.
    let out = kv.ok(&[
        "kv",
        "patch",
        "secret/api-keys/stripe",
        "api_key=sk_live_new-stripe-key",
    ]);
    assert!(out.contains("version            2"), "{out}");
    let stripe = kv.json(&["kv", "get", "secret/api-keys/stripe"]);
    assert_eq!(
        stripe["data"]["data"]["api_key"],
        json!("sk_live_new-stripe-key")
    );
    assert_eq!(stripe["data"]["data"]["owner"], json!("finance-team"));
    kv.ok(&[
        "kv",
        "patch",
        "secret/myapp/config",
        "redis_url=redis://cache.example.com:6379",
    ]);
    let config = kv.json(&["kv", "get", "secret/myapp/config"])["data"]["data"].clone();
    assert_eq!(config["redis_url"], json!("redis://cache.example.com:6379"));
    assert_eq!(config["jwt_secret"], json!("jwt-signing-key"));
    let out = kv.run(&[
        "kv",
        "patch",
        "-cas=1",
        "secret/api-keys/stripe",
        "api_key=x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("check-and-set"), "{}", stderr(&out));
    kv.ok(&[
        "kv",
        "patch",
        "-method=rw",
        "-remove-data=environment",
        "secret/api-keys/stripe",
        "extra=1",
    ]);
    let stripe = kv.json(&["kv", "get", "secret/api-keys/stripe"])["data"].clone();
    assert_eq!(stripe["metadata"]["version"], json!(3));
    assert_eq!(stripe["data"]["extra"], json!("1"));
    assert!(stripe["data"].get("environment").is_none(), "{stripe}");

    // Rollback writes version 1's data as version 4.
    let out = kv.ok(&["kv", "rollback", "-version=1", "secret/api-keys/stripe"]);
    assert!(out.contains("version            4"), "{out}");
    let stripe = kv.json(&["kv", "get", "secret/api-keys/stripe"])["data"].clone();
    assert_eq!(stripe["metadata"]["version"], json!(4));
    assert_eq!(stripe["data"]["api_key"], json!("sk_live_your-stripe-key"));
    assert_eq!(stripe["data"]["environment"], json!("production"));
    let out = kv.run(&["kv", "rollback", "-version=1", "secret/api-keys/openai"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("destroyed"), "{}", stderr(&out));
}

#[test]
fn kv_yaml_output() {
    let kv = Kv::start();
    kv.ok(&[
        "kv",
        "put",
        "secret/app/db",
        "host=db.example.com",
        "port=5432",
        "enabled=true",
        "empty=",
        "note=a: b",
    ]);
    let yaml = kv.ok(&["kv", "get", "-format=yaml", "secret/app/db"]);
    let lines: Vec<&str> = yaml.lines().collect();
    for expected in [
        "data:",
        "  data:",
        "    empty: \"\"",
        "    enabled: \"true\"",
        "    host: db.example.com",
        "    note: \"a: b\"",
        "    port: \"5432\"",
        "  metadata:",
        "    custom_metadata: null",
        "    deletion_time: \"\"",
        "    destroyed: false",
        "    version: 1",
        "lease_duration: 0",
        "warnings: null",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{yaml}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    created_time: \"") && l.ends_with('"')),
        "{yaml}"
    );
    kv.ok(&["kv", "put", "secret/app/other", "a=b"]);
    assert_eq!(
        kv.ok(&["kv", "list", "secret/app", "-format=yaml"]),
        "- db\n- other\n"
    );
    let mounts = kv.ok(&["secrets", "list", "-format=yaml"]);
    assert!(mounts.lines().any(|l| l == "secret/:"), "{mounts}");
    assert!(
        mounts.lines().any(|l| l == "    version: \"2\""),
        "{mounts}"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "-format=yaml", "-field=port", "secret/app/db"]),
        "\"5432\""
    );
    let metadata = kv.ok(&["kv", "metadata", "get", "-format=yaml", "secret/app/db"]);
    assert!(metadata.lines().any(|l| l == "  versions:"), "{metadata}");
    assert!(metadata.lines().any(|l| l == "    \"1\":"), "{metadata}");
}

#[test]
fn kv_missing_keys_and_errors() {
    let kv = Kv::start();
    let out = kv.run(&["kv", "get", "secret/app/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "No value found at secret/data/app/nonexistent\n"
    );
    let out = kv.run(&["kv", "get", "-mount=secret", "app/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("No value found at secret/data/app/nonexistent"));

    kv.ok(&["kv", "put", "secret/app/cli", "user=bob", "pass=p1"]);
    let out = kv.run(&["kv", "get", "-field=nope", "secret/app/cli"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Field \"nope\" not present in secret"),
        "{}",
        stderr(&out)
    );

    let out = kv.run(&["kv", "list", "secret/nothing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("No value found at secret/metadata/nothing"));
    let out = kv.run(&["kv", "list", "-format=json", "secret/nothing"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_json(&out), json!({}));

    let out = kv.run(&["kv", "metadata", "get", "secret/app/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    let out = kv.run(&["kv", "patch", "secret/app/nonexistent", "a=b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("No value found at secret/data/app/nonexistent"));

    // Check-and-set.
    let out = kv.run(&["kv", "put", "-cas=0", "secret/app/cli", "user=eve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("check-and-set"), "{}", stderr(&out));
    kv.ok(&["kv", "put", "-cas=1", "secret/app/cli", "user=eve"]);

    // API errors exit 2: no mount (preflight) and a bogus token.
    let out = kv.run(&["kv", "get", "nomount/x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = coffer_cli(
        &kv.home,
        &kv.server.addr,
        Some("s.bogus"),
        &["kv", "get", "secret/app/cli"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Code: 403"), "{}", stderr(&out));

    // Usage errors exit 1.
    let out = kv.run(&["kv", "put", "secret/app/cli"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Must supply data"),
        "{}",
        stderr(&out)
    );
    let out = kv.run(&["kv", "put", "secret/app/cli", "not-a-pair"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("not-a-pair"), "{}", stderr(&out));
    let out = kv.run(&["kv", "undelete", "secret/app/cli"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn kv_values_from_files_stdin_and_flags_after_positionals() {
    let kv = Kv::start();
    let file = kv.home.join("cert.pem");
    std::fs::write(&file, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write");
    let at_file = format!("cert=@{}", file.display());
    let out = kv.run_stdin(
        &["kv", "put", "secret/app/files", &at_file, "password=-"],
        "from stdin\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let data = kv.json(&["kv", "get", "secret/app/files"])["data"]["data"].clone();
    assert_eq!(
        data,
        json!({"cert": "-----BEGIN CERTIFICATE-----\nMIIB\n", "password": "from stdin\n"})
    );

    let out = kv.run_stdin(
        &["kv", "put", "-mount=secret", "app/json", "-"],
        r#"{"user": "bob", "n": 3, "nested": {"a": [1, 2]}}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let data = kv.json(&["kv", "get", "secret/app/json"])["data"]["data"].clone();
    assert_eq!(
        data,
        json!({"user": "bob", "n": 3, "nested": {"a": [1, 2]}})
    );
    assert_eq!(
        kv.ok(&["kv", "get", "secret/app/json", "-field=nested"]),
        "map[a:[1 2]]"
    );

    // Flags after the path and the data.
    let written = kv.json(&["kv", "put", "secret/app/late", "a=1", "-cas=0"]);
    assert_eq!(written["data"]["version"], json!(1));
    kv.ok(&["kv", "put", "secret/app/late", "a=2"]);
    assert_eq!(
        kv.ok(&["kv", "get", "secret/app/late", "-field=a", "-version=1"]),
        "1"
    );
    assert_eq!(
        kv.ok(&["kv", "delete", "secret/app/late", "-versions=2"]),
        "Success! Data deleted (if it existed) at: secret/data/app/late\n"
    );
    let versions =
        kv.json(&["kv", "metadata", "get", "secret/app/late"])["data"]["versions"].clone();
    assert_eq!(versions["1"]["deletion_time"], json!(""));
    assert_ne!(versions["2"]["deletion_time"], json!(""));
    assert_eq!(
        kv.json(&["kv", "list", "app", "-mount=secret"]),
        json!(["files", "json", "late"])
    );
}

#[test]
fn kv_v1_mounts_and_metadata() {
    let kv = Kv::start();
    assert_eq!(
        kv.ok(&[
            "secrets",
            "enable",
            "-path=kv1",
            "-description=v1 store",
            "kv"
        ]),
        "Success! Enabled the kv secrets engine at: kv1/\n"
    );
    let mounts = kv.json(&["secrets", "list"]);
    assert_eq!(mounts["kv1/"]["description"], json!("v1 store"));
    assert_eq!(
        kv.ok(&["kv", "put", "kv1/app/x", "a=b"]),
        "Success! Data written to: kv1/app/x\n"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "kv1/app/x"]),
        "== Data ==\nKey    Value\n---    -----\na      b\n"
    );
    assert_eq!(
        kv.ok(&["kv", "get", "-mount=kv1", "app/x", "-field=a"]),
        "b"
    );
    assert_eq!(kv.ok(&["kv", "list", "kv1/"]), "Keys\n----\napp/\n");
    assert_eq!(kv.json(&["kv", "list", "-mount=kv1"]), json!(["app/"]));
    let out = kv.run(&["kv", "patch", "kv1/app/x", "a=c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("version 2 for patch"),
        "{}",
        stderr(&out)
    );
    let out = kv.run(&["kv", "metadata", "get", "kv1/app/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        kv.ok(&["kv", "delete", "kv1/app/x"]),
        "Success! Data deleted (if it existed) at: kv1/app/x\n"
    );
    let out = kv.run(&["kv", "get", "kv1/app/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("No value found at kv1/app/x"));

    // Tune: description and TTLs, then upgrade to v2.
    assert_eq!(
        kv.ok(&[
            "secrets",
            "tune",
            "-description=tuned",
            "-default-lease-ttl=1h",
            "-max-lease-ttl=24h",
            "kv1",
        ]),
        "Success! Tuned the secrets engine at: kv1/\n"
    );
    let mounts = kv.json(&["secrets", "list"]);
    assert_eq!(mounts["kv1/"]["description"], json!("tuned"));
    assert_eq!(mounts["kv1/"]["config"]["default_lease_ttl"], json!(3600));
    kv.ok(&["secrets", "tune", "-options=version=2", "kv1"]);
    let out = kv.ok(&["kv", "put", "kv1/app/y", "a=b"]);
    assert!(out.contains("kv1/data/app/y"), "{out}");

    // Metadata put and patch.
    kv.ok(&["secrets", "enable", "-path=kv2", "-version=2", "kv"]);
    kv.ok(&["kv", "put", "kv2/app/cli", "user=bob"]);
    assert_eq!(
        kv.ok(&[
            "kv",
            "metadata",
            "put",
            "-max-versions=5",
            "-custom-metadata=owner=team-a",
            "-custom-metadata=env=prod",
            "-delete-version-after=720h",
            "kv2/app/cli",
        ]),
        "Success! Data written to: kv2/metadata/app/cli\n"
    );
    let metadata = kv.json(&["kv", "metadata", "get", "kv2/app/cli"])["data"].clone();
    assert_eq!(metadata["max_versions"], json!(5));
    assert_eq!(metadata["delete_version_after"], json!("720h0m0s"));
    assert_eq!(
        metadata["custom_metadata"],
        json!({"owner": "team-a", "env": "prod"})
    );
    kv.ok(&[
        "kv",
        "metadata",
        "patch",
        "-custom-metadata=tier=1",
        "-remove-custom-metadata=env",
        "-cas-required",
        "kv2/app/cli",
    ]);
    let metadata = kv.json(&["kv", "metadata", "get", "kv2/app/cli"])["data"].clone();
    assert_eq!(
        metadata["custom_metadata"],
        json!({"owner": "team-a", "tier": "1"})
    );
    assert_eq!(metadata["cas_required"], json!(true));
    assert_eq!(metadata["max_versions"], json!(5));
    let out = kv.run(&["kv", "put", "kv2/app/cli", "user=eve"]);
    assert_eq!(out.status.code(), Some(2), "cas is required now");
    assert_eq!(
        kv.ok(&["kv", "metadata", "delete", "kv2/app/cli"]),
        "Success! Data deleted (if it existed) at: kv2/metadata/app/cli\n"
    );
    let out = kv.run(&["kv", "get", "kv2/app/cli"]);
    assert_eq!(out.status.code(), Some(2));

    assert_eq!(
        kv.ok(&["secrets", "disable", "kv2"]),
        "Success! Disabled the secrets engine (if it existed) at: kv2/\n"
    );
    assert!(kv.json(&["secrets", "list"]).get("kv2/").is_none());
    let out = kv.run(&["secrets", "enable", "-path=kv1", "kv"]);
    assert_eq!(out.status.code(), Some(2), "the path is in use");
}
