//! The v-secure Secret Management Guide (issue #7's seed) against a real dev server: every
//! `vsecure secrets:*` / `audit:logs` command of the guide, in order, run as `coffer …`, with
//! what each one must do checked through the CLI and the KV v2 API underneath; plus expiry
//! actually enforced, listing by tag and environment, and bad input refused with nothing written.

use serde_json::Value;

use crate::support::{DevCli as Cli, stdout};

impl Cli {
    /// The KV v2 record at `secret/data/<path>` as `coffer kv get` shows it (data + metadata).
    fn kv(&self, path: &str) -> Value {
        self.json(&["kv", "get", &format!("secret/{path}")])
    }

    /// The KV v2 metadata at `secret/metadata/<path>`.
    fn kv_metadata(&self, path: &str) -> Value {
        self.json(&["kv", "metadata", "get", &format!("secret/{path}")])
    }

    /// `secrets:get NAME [args] -format=json`.
    fn get(&self, name: &str, args: &[&str]) -> Value {
        let mut all = vec!["secrets:get", name];
        all.extend_from_slice(args);
        self.json(&all)
    }

    /// The version numbers `secrets:versions` lists, and the current one.
    fn versions(&self, name: &str, args: &[&str]) -> (Vec<u64>, u64) {
        let mut all = vec!["secrets:versions", name];
        all.extend_from_slice(args);
        let listed = self.json(&all);
        let items = listed.as_array().expect("versions array");
        let numbers = items
            .iter()
            .map(|v| v["version"].as_u64().expect("version"))
            .collect();
        let current = items
            .iter()
            .find(|v| v["current"] == true)
            .and_then(|v| v["version"].as_u64())
            .expect("a current version");
        (numbers, current)
    }
}

fn custom(meta: &Value, key: &str) -> Option<String> {
    meta["data"]["custom_metadata"][key]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn every_command_of_the_secret_management_guide() {
    let cli = Cli::start();

    // Basic Secret Creation: `secrets:create API_KEY "sk_live_..." --tags production,api`.
    let out = cli.ok(&[
        "secrets:create",
        "API_KEY",
        "sk_live_...",
        "--tags",
        "production,api",
    ]);
    assert!(out.contains("production/API_KEY"), "{out}");
    let record = cli.kv("production/API_KEY");
    assert_eq!(record["data"]["data"]["value"], "sk_live_...");
    let meta = cli.kv_metadata("production/API_KEY");
    assert_eq!(
        custom(&meta, "coffer:tags").as_deref(),
        Some("api,production")
    );
    // Creating it again is refused; the value is unchanged.
    let err = cli.fails_nonzero(&["secrets:create", "API_KEY", "other", "--tags", "production"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(cli.get("API_KEY", &[])["value"], "sk_live_...");

    // With Metadata.
    cli.ok(&[
        "secrets:create",
        "DATABASE_URL",
        "postgresql://...",
        "--tags",
        "production,database",
        "--metadata",
        "owner=backend-team",
        "--metadata",
        "service=user-api",
    ]);
    let db = cli.get("DATABASE_URL", &[]);
    assert_eq!(db["value"], "postgresql://...");
    assert_eq!(db["env"], "production");
    assert_eq!(db["metadata"]["owner"], "backend-team");
    assert_eq!(db["metadata"]["service"], "user-api");
    assert_eq!(db["tags"], serde_json::json!(["database", "production"]));

    // With Expiration: the server deletes each version 30 days after it is written.
    cli.ok(&[
        "secrets:create",
        "TEMP_TOKEN",
        "xyz123",
        "--expires-in",
        "30d",
    ]);
    let meta = cli.kv_metadata("TEMP_TOKEN");
    assert_eq!(custom(&meta, "coffer:expires-in").as_deref(), Some("30d"));
    assert_eq!(meta["data"]["delete_version_after"], "720h0m0s");
    let temp = cli.get("TEMP_TOKEN", &[]);
    assert_eq!(temp["value"], "xyz123");
    assert!(temp["deletion_time"].is_string(), "{temp}");

    // Tags for environment, service, team and type.
    cli.ok(&[
        "secrets:create",
        "DB_PASSWORD",
        "secure123",
        "--tags",
        "production,database,backend,password",
    ]);
    assert_eq!(
        cli.get("DB_PASSWORD", &["--env", "production"])["tags"],
        serde_json::json!(["backend", "database", "password", "production"])
    );

    // Manual Rotation: update (a new version), versions, rollback --version 2.
    let out = cli.ok(&["secrets:update", "API_KEY", "new_key_value"]);
    assert!(out.contains("version 2"), "{out}");
    cli.ok(&["secrets:update", "API_KEY", "third_value"]);
    assert_eq!(cli.versions("API_KEY", &[]), (vec![1, 2, 3], 3));
    let out = cli.ok(&["secrets:versions", "API_KEY"]);
    assert!(out.contains("Version") && out.contains("Created"), "{out}");
    let out = cli.ok(&["secrets:rollback", "API_KEY", "--version", "2"]);
    assert!(
        out.contains("version 2") && out.contains("version 4"),
        "{out}"
    );
    let current = cli.get("API_KEY", &[]);
    assert_eq!(current["value"], "new_key_value");
    assert_eq!(current["version"], 4);
    // The rollback kept the tags.
    assert_eq!(current["tags"], serde_json::json!(["api", "production"]));

    // Time-Limited Access: a grant on the secret's real path, usable by the user for an hour.
    let grant = cli.json(&[
        "secrets:grant-access",
        "DATABASE_URL",
        "--user",
        "john@example.com",
        "--duration",
        "1h",
    ]);
    assert_eq!(grant["path"], "secret/data/production/DATABASE_URL");
    assert_eq!(grant["identity"]["name"], "john@example.com");
    assert!(grant["expires_at"].is_string(), "{grant}");

    // Version Control: versions, get --version 2, diff --from 1 --to 2.
    cli.ok(&["secrets:update", "DATABASE_URL", "postgresql://v2"]);
    cli.ok(&["secrets:update", "DATABASE_URL", "postgresql://v3"]);
    assert_eq!(cli.versions("DATABASE_URL", &[]), (vec![1, 2, 3], 3));
    let v2 = cli.get("DATABASE_URL", &["--version", "2"]);
    assert_eq!(v2["value"], "postgresql://v2");
    assert_eq!(v2["version"], 2);
    let raw = cli.ok(&[
        "secrets:get",
        "DATABASE_URL",
        "--version",
        "1",
        "-field=value",
    ]);
    assert_eq!(raw.trim_end(), "postgresql://...");

    let diff = cli.json(&["secrets:diff", "DATABASE_URL", "--from", "1", "--to", "2"]);
    let changes = diff["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{diff}");
    assert_eq!(changes[0]["key"], "value");
    assert_eq!(changes[0]["change"], "changed");
    let from_fp = changes[0]["from_sha256"].as_str().expect("fingerprint");
    assert_eq!(from_fp.len(), 12);
    assert_ne!(changes[0]["from_sha256"], changes[0]["to_sha256"]);
    assert!(changes[0].get("from_value").is_none(), "{diff}");
    let text = cli.ok(&["secrets:diff", "DATABASE_URL", "--from", "1", "--to", "2"]);
    assert!(
        !text.contains("postgresql://"),
        "values only with --reveal: {text}"
    );
    assert!(text.contains(from_fp), "{text}");
    let revealed = cli.json(&[
        "secrets:diff",
        "DATABASE_URL",
        "--from",
        "1",
        "--to",
        "2",
        "--reveal",
    ]);
    assert_eq!(revealed["changes"][0]["from_value"], "postgresql://...");
    assert_eq!(revealed["changes"][0]["to_value"], "postgresql://v2");

    // Rollback to the previous version, then to version 3.
    let out = cli.ok(&["secrets:rollback", "DATABASE_URL"]);
    assert!(out.contains("version 2"), "{out}");
    assert_eq!(cli.get("DATABASE_URL", &[])["value"], "postgresql://v2");
    cli.ok(&["secrets:rollback", "DATABASE_URL", "--version", "3"]);
    let db = cli.get("DATABASE_URL", &[]);
    assert_eq!(db["value"], "postgresql://v3");
    assert_eq!(db["version"], 5);

    // Environment-specific secrets: two secrets named API_KEY. The production one exists
    // already, so the guide's pair is run for development and a fresh name for both.
    for (name, value, tag) in [
        ("API_KEY", "dev_key", "development"),
        ("SESSION_KEY", "dev_key", "development"),
        ("SESSION_KEY", "prod_key", "production"),
    ] {
        cli.ok(&["secrets:create", name, value, "--tags", tag]);
    }
    assert_eq!(
        cli.get("SESSION_KEY", &["--env", "development"])["value"],
        "dev_key"
    );
    assert_eq!(
        cli.get("SESSION_KEY", &["--env", "production"])["value"],
        "prod_key"
    );
    assert_eq!(
        cli.kv("development/SESSION_KEY")["data"]["data"]["value"],
        "dev_key"
    );
    let err = cli.fails_nonzero(&["secrets:get", "SESSION_KEY"]);
    assert!(
        err.contains("development") && err.contains("production") && err.contains("--env"),
        "{err}"
    );

    // Implement Rotation: `secrets:update STRIPE_KEY --expires-in 90d` changes only the policy.
    cli.ok(&["secrets:create", "STRIPE_KEY", "sk_test_stripe"]);
    let out = cli.ok(&["secrets:update", "STRIPE_KEY", "--expires-in", "90d"]);
    assert!(out.contains("policy only"), "{out}");
    assert!(out.contains("versions written from now on"), "{out}");
    let stripe = cli.get("STRIPE_KEY", &[]);
    assert_eq!(stripe["version"], 1);
    assert_eq!(stripe["value"], "sk_test_stripe");
    assert_eq!(stripe["expires_in"], "90d");
    assert_eq!(
        cli.kv_metadata("STRIPE_KEY")["data"]["delete_version_after"],
        "2160h0m0s"
    );

    // Monitor Access: with an audit device, reads of secrets are listed as `accessed`.
    let log = cli.dir.path().join("audit.log");
    cli.ok(&[
        "audit",
        "enable",
        "file",
        &format!("file_path={}", log.display()),
    ]);
    cli.ok(&["secrets:get", "DB_PASSWORD", "-field=value"]);
    let records = cli.json(&[
        "audit:logs",
        "--resource",
        "secrets",
        "--action",
        "accessed",
    ]);
    let records = records.as_array().expect("records");
    assert!(
        records
            .iter()
            .any(|r| r["path"] == "secret/data/production/DB_PASSWORD" && r["action"] == "read"),
        "{records:?}"
    );
    assert!(records.iter().all(|r| r["action"] == "read"), "{records:?}");
    let text = std::fs::read_to_string(&log).expect("audit log");
    assert!(!text.contains("secure123"), "values are HMAC'd in the log");

    // Use Metadata. API_KEY exists in two environments; this one is a third, top-level secret.
    cli.ok(&[
        "secrets:create",
        "PAYMENT_API_KEY",
        "...",
        "--metadata",
        "owner=john@example.com",
        "--metadata",
        "purpose=Payment processing",
        "--metadata",
        "documentation=https://wiki.company.com/api",
    ]);
    let payment = cli.get("PAYMENT_API_KEY", &[]);
    assert_eq!(payment["metadata"]["owner"], "john@example.com");
    assert_eq!(payment["metadata"]["purpose"], "Payment processing");
    assert_eq!(
        payment["metadata"]["documentation"],
        "https://wiki.company.com/api"
    );
    assert_eq!(payment["env"], Value::Null);
}

#[test]
fn expiry_is_enforced_by_the_server() {
    let cli = Cli::start();
    cli.ok(&[
        "secrets:create",
        "SHORT_LIVED",
        "gone-soon",
        "--expires-in",
        "1s",
    ]);
    // Both the named-secret read and a plain KV read stop serving it once it is older than 1s.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let err = cli.fails_nonzero(&["secrets:get", "SHORT_LIVED"]);
    assert!(err.contains("expired"), "{err}");
    assert!(!err.contains("gone-soon"), "{err}");
    let out = cli.run(&["kv", "get", "-field=value", "secret/SHORT_LIVED"]);
    assert!(!stdout(&out).contains("gone-soon"));
}

#[test]
fn list_filters_by_tag_and_environment() {
    let cli = Cli::start();
    cli.ok(&["secrets:create", "A", "1", "--tags", "production,api"]);
    cli.ok(&["secrets:create", "B", "2", "--tags", "production,database"]);
    cli.ok(&["secrets:create", "C", "3", "--tags", "staging,api"]);
    cli.ok(&["secrets:create", "D", "4", "--tags", "cache"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["secrets:list"];
        all.extend_from_slice(args);
        let mut names: Vec<String> = cli
            .json(&all)
            .as_array()
            .expect("list")
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s["env"].as_str().unwrap_or("-"),
                    s["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&[]),
        ["-/D", "production/A", "production/B", "staging/C"]
    );
    assert_eq!(names(&["--tags", "api"]), ["production/A", "staging/C"]);
    assert_eq!(names(&["--tags", "api,production"]), ["production/A"]);
    assert_eq!(
        names(&["--env", "production"]),
        ["production/A", "production/B"]
    );
    assert!(names(&["--tags", "nothing"]).is_empty());
    // The table, and `secrets list` still being Vault's mount listing.
    let table = cli.ok(&["secrets", "list-secrets", "--tags", "cache"]);
    assert!(
        table.contains('D') && !table.contains("production"),
        "{table}"
    );
    let mounts = cli.ok(&["secrets", "list"]);
    assert!(mounts.contains("secret/"), "{mounts}");
    // Delete removes every version.
    cli.ok(&["secrets:delete", "D"]);
    assert!(
        cli.fails_nonzero(&["secrets:get", "D"])
            .contains("not found")
    );
    assert_eq!(names(&["--tags", "cache"]), Vec::<String>::new());
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let cli = Cli::start();
    for (args, expect) in [
        (
            vec!["secrets:create", "X", "v", "--tags", "Production"],
            "invalid tag",
        ),
        (
            vec!["secrets:create", "X", "v", "--tags", "api,,db"],
            "invalid tag",
        ),
        (
            vec!["secrets:create", "X", "v", "--expires-in", "1x"],
            "invalid duration",
        ),
        (
            vec!["secrets:create", "X", "v", "--rotation-period", "30"],
            "invalid duration",
        ),
        (
            vec!["secrets:create", "X", "v", "--metadata", "novalue"],
            "key=value",
        ),
        (
            vec!["secrets:create", "X", "v", "--metadata", "coffer:tags=x"],
            "coffer:",
        ),
        (
            vec!["secrets:create", "X", "v", "--tags", "production,staging"],
            "several environment tags",
        ),
        (vec!["secrets:create", "a/b", "v"], "invalid secret name"),
        (
            vec![
                "secrets:create",
                "X",
                "v",
                "--rotation-period",
                "7d",
                "--notify-before",
                "30d",
            ],
            "shorter",
        ),
    ] {
        let err = cli.fails_nonzero(&args);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Nothing was written anywhere in the mount.
    let out = cli.run(&["kv", "list", "secret/"]);
    assert!(!stdout(&out).contains('X'), "{}", stdout(&out));
    assert!(
        cli.json(&["secrets:list"])
            .as_array()
            .expect("list")
            .is_empty()
    );

    // An update with a bad duration leaves the secret as it was.
    cli.ok(&["secrets:create", "KEEP", "v1", "--expires-in", "30d"]);
    let err = cli.fails_nonzero(&["secrets:update", "KEEP", "v2", "--expires-in", "1x"]);
    assert!(err.contains("invalid duration"), "{err}");
    let keep = cli.get("KEEP", &[]);
    assert_eq!(keep["value"], "v1");
    assert_eq!(keep["expires_in"], "30d");
    // Reading a version that does not exist, or a missing secret, fails clearly.
    assert!(
        cli.fails_nonzero(&["secrets:get", "KEEP", "--version", "9"])
            .contains("version 9")
    );
    assert!(
        cli.fails_nonzero(&["secrets:get", "MISSING"])
            .contains("not found")
    );
    assert!(
        cli.fails_nonzero(&["secrets:rollback", "KEEP"])
            .contains("no version before")
    );
    assert!(
        cli.fails_nonzero(&["secrets:update", "KEEP"])
            .contains("nothing to update")
    );
}
