//! `coffer secrets export|import` against real dev servers: lossless round trips in dotenv,
//! JSON and YAML (tags, metadata, expiry, rotation, all versions), encrypted exports and a wrong
//! passphrase, import refusing to overwrite, malformed files importing nothing, and progress
//! lines on a 1,000-secret import.

use serde_json::{Value, json};

use crate::support::{DevCli as Cli, stderr, stdout, stdout_json};

impl Cli {
    /// Every secret below `secret/` (one folder deep) with its metadata and all versions' data,
    /// as the Vault KV API shows them.
    fn snapshot(&self) -> Value {
        let mut out = serde_json::Map::new();
        let list = |path: &str| -> Vec<String> {
            let output = self.run(&["kv", "list", "-format=json", path]);
            if output.status.code() != Some(0) {
                return Vec::new();
            }
            serde_json::from_str(&stdout(&output)).expect("kv list JSON")
        };
        let mut paths = Vec::new();
        for key in list("secret/") {
            match key.strip_suffix('/') {
                Some(folder) => {
                    for inner in list(&format!("secret/{folder}/")) {
                        paths.push(format!("{folder}/{inner}"));
                    }
                }
                None => paths.push(key),
            }
        }
        for path in paths {
            let metadata = stdout_json(&self.run(&[
                "kv",
                "metadata",
                "get",
                "-format=json",
                &format!("secret/{path}"),
            ]));
            let metadata = &metadata["data"];
            let current = metadata["current_version"]
                .as_u64()
                .expect("current_version");
            let mut versions = Vec::new();
            for version in 1..=current {
                let read = self.run(&[
                    "kv",
                    "get",
                    "-format=json",
                    &format!("-version={version}"),
                    &format!("secret/{path}"),
                ]);
                if read.status.code() == Some(0) {
                    versions.push(stdout_json(&read)["data"]["data"].clone());
                }
            }
            out.insert(
                path,
                json!({
                    "custom_metadata": metadata["custom_metadata"],
                    "delete_version_after": metadata["delete_version_after"],
                    "versions": versions,
                }),
            );
        }
        Value::Object(out)
    }

    /// Seeds secrets in two environments with tags, metadata, expiry, rotation and history.
    fn seed(&self) {
        self.ok(&[
            "kv",
            "put",
            "secret/production/API_KEY",
            "value=old prod key",
        ]);
        self.ok(&[
            "kv",
            "put",
            "secret/production/API_KEY",
            "value=prod key with spaces # and \"quotes\"\nand a second line",
        ]);
        self.ok(&[
            "kv",
            "metadata",
            "put",
            "-custom-metadata=coffer:tags=api,production",
            "-custom-metadata=owner=backend-team",
            "-custom-metadata=coffer:expires-in=30d",
            "-custom-metadata=coffer:rotation-enabled=true",
            "-custom-metadata=coffer:rotation-period=30d",
            "-custom-metadata=coffer:rotation-notify-before=7d",
            "-delete-version-after=720h",
            "secret/production/API_KEY",
        ]);
        self.ok(&["kv", "put", "secret/development/API_KEY", "value=dev_key"]);
        self.ok(&[
            "kv",
            "metadata",
            "put",
            "-custom-metadata=coffer:tags=api,development",
            "secret/development/API_KEY",
        ]);
        // Expiry set before the versions: live versions carry a future deletion_time.
        self.ok(&[
            "kv",
            "metadata",
            "put",
            "-custom-metadata=coffer:expires-in=30d",
            "-delete-version-after=720h",
            "secret/DB_URL",
        ]);
        self.ok(&[
            "kv",
            "put",
            "secret/DB_URL",
            "value=postgres://u:p@db/app?x=1&y=$HOME",
        ]);
        self.ok(&["kv", "put", "secret/DB_URL", "value=postgres://u:p2@db/app"]);
    }
}

/// The current versions only, for comparing exports made without -versions.
fn current_only(snapshot: &Value) -> Value {
    let mut out = snapshot.clone();
    for entry in out.as_object_mut().expect("object").values_mut() {
        let last = entry["versions"]
            .as_array()
            .and_then(|versions| versions.last().cloned())
            .expect("a version");
        entry["versions"] = json!([last]);
    }
    out
}

#[test]
fn issue_7_json_and_yaml_round_trips_are_lossless() {
    let source = Cli::start();
    source.seed();
    let before = source.snapshot();
    assert_eq!(before.as_object().map(|m| m.len()), Some(3), "{before:#}");

    for format in ["json", "yaml"] {
        for with_versions in [false, true] {
            let file = source.path(&format!("export-{with_versions}.{format}"));
            let mut args = vec!["secrets", "export", "-format-out", format, "-o", &file];
            if with_versions {
                args.push("-versions");
            }
            source.ok(&args);
            let text = std::fs::read_to_string(&file).expect("export file");
            assert!(text.contains("backend-team"), "{text}");

            let target = Cli::start();
            let out = target.ok(&["secrets", "import", &file]);
            assert!(out.contains("Imported 3 secrets"), "{out}");
            let after = target.snapshot();
            if with_versions {
                assert_eq!(after, before, "{format} with -versions:\n{text}");
            } else {
                assert_eq!(after, current_only(&before), "{format}:\n{text}");
            }
        }
    }
}

#[test]
fn issue_7_dotenv_round_trip_and_env_filter() {
    let source = Cli::start();
    source.seed();
    let file = source.path("prod.env");
    source.ok(&[
        "secrets",
        "export",
        "-env",
        "production",
        "-format-out=dotenv",
        "-o",
        &file,
    ]);
    let text = std::fs::read_to_string(&file).expect("dotenv");
    assert_eq!(
        text,
        "API_KEY=\"prod key with spaces # and \\\"quotes\\\"\\nand a second line\"\n"
    );

    // Without -env the same name in two environments cannot be one dotenv file.
    let all = source.path("all.env");
    let error = source.fails_with(&["secrets", "export", "-format-out=dotenv", "-o", &all], 1);
    assert!(
        error.contains("API_KEY exists in several environments"),
        "{error}"
    );

    // Tag filter: only the development key carries `development`.
    let dev = source.path("dev.env");
    source.ok(&[
        "secrets",
        "export",
        "-tags",
        "development",
        "-format-out=dotenv",
        "-o",
        &dev,
    ]);
    assert_eq!(
        std::fs::read_to_string(&dev).expect("dev"),
        "API_KEY=dev_key\n"
    );

    let target = Cli::start();
    target.ok(&["secrets", "import", &file, "-env", "staging"]);
    let got = stdout_json(&target.run(&["kv", "get", "-format=json", "secret/staging/API_KEY"]));
    assert_eq!(
        got["data"]["data"]["value"],
        "prod key with spaces # and \"quotes\"\nand a second line"
    );

    // dotenv from stdin, with comments, export prefixes and quotes.
    let out = target.run_stdin(
        &["secrets", "import", "-format-in=dotenv", "-"],
        "# app\nexport A='single $x'\nB=\"esc\\tape\" # note\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let b = stdout_json(&target.run(&["kv", "get", "-format=json", "secret/B"]));
    assert_eq!(b["data"]["data"]["value"], "esc\tape");
    let a = stdout_json(&target.run(&["kv", "get", "-format=json", "secret/A"]));
    assert_eq!(a["data"]["data"]["value"], "single $x");
}

#[test]
fn issue_7_encrypted_export_round_trip_and_wrong_passphrase() {
    let source = Cli::start();
    source.seed();
    let before = source.snapshot();
    let pass = source.file("pass", "correct horse battery staple\n");
    let file = source.path("backup.enc");
    source.ok(&[
        "secrets",
        "export",
        "-format-out=yaml",
        "-versions",
        "-passphrase-file",
        &pass,
        "-o",
        &file,
    ]);
    let text = std::fs::read_to_string(&file).expect("export");
    assert!(
        text.starts_with("-----BEGIN COFFER-EXPORT-1-----\n"),
        "{text}"
    );
    assert!(!text.contains("dev_key") && !text.contains("backend-team"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let target = Cli::start();
    let wrong = target.file("wrong", "tr0ub4dor&3\n");
    let error = target.fails_with(&["secrets", "import", &file, "-passphrase-file", &wrong], 1);
    assert!(
        error.contains("cannot decrypt the export: wrong passphrase, or the file was modified"),
        "{error}"
    );
    assert_eq!(target.snapshot(), json!({}));

    // The passphrase can also come on stdin when it is not a terminal.
    let out = target.run_stdin(
        &["secrets", "import", &file],
        "correct horse battery staple\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(target.snapshot(), before);

    // -encrypt reads the passphrase from stdin when it is not a terminal.
    let prompted = source.path("prompted.enc");
    let out = source.run_stdin(
        &[
            "secrets",
            "export",
            "-encrypt",
            "-env",
            "development",
            "-o",
            &prompted,
        ],
        "another passphrase\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let third = Cli::start();
    let pass = third.file("pass", "another passphrase");
    third.ok(&["secrets", "import", &prompted, "-passphrase-file", &pass]);
    let got = stdout_json(&third.run(&["kv", "get", "-format=json", "secret/development/API_KEY"]));
    assert_eq!(got["data"]["data"]["value"], "dev_key");
}

#[test]
fn issue_7_import_never_overwrites_without_the_flag() {
    let cli = Cli::start();
    cli.seed();
    let before = cli.snapshot();
    let file = cli.file(
        "clash.json",
        &json!({"coffer_export": 1, "secrets": [
            {"name": "NEW_ONE", "value": "n"},
            {"name": "API_KEY", "env": "production", "value": "replaced", "tags": ["production"]},
            {"name": "DB_URL", "value": "replaced too"},
        ]})
        .to_string(),
    );
    let error = cli.fails_with(&["secrets", "import", &file], 1);
    assert!(
        error.contains("2 secrets already exist in secret/: production/API_KEY, DB_URL; nothing was imported (use -overwrite"),
        "{error}"
    );
    assert_eq!(cli.snapshot(), before, "nothing written, not even NEW_ONE");

    let out = cli.ok(&["secrets", "import", &file, "-overwrite"]);
    assert!(
        out.contains("Imported 3 secrets (3 versions) into secret/, 2 of them replaced"),
        "{out}"
    );
    let after = cli.snapshot();
    assert_eq!(after["NEW_ONE"]["versions"], json!([{"value": "n"}]));
    let key = &after["production/API_KEY"];
    assert_eq!(
        key["versions"].as_array().map(Vec::len),
        Some(3),
        "a new version: {key}"
    );
    assert_eq!(key["versions"][2], json!({"value": "replaced"}));
    assert_eq!(key["custom_metadata"], json!({"coffer:tags": "production"}));
}

#[test]
fn issue_7_malformed_files_import_nothing() {
    let cli = Cli::start();
    let dotenv = cli.file("bad.env", "GOOD=1\nALSO_GOOD=\"two\"\nthis line is wrong\n");
    let error = cli.fails_with(&["secrets", "import", &dotenv], 1);
    assert!(error.contains("line 3: expected NAME=value"), "{error}");
    assert!(error.contains("nothing was imported"), "{error}");

    let unclosed = cli.file("open.env", "A=1\nB=\"never closed secret-text\n");
    let error = cli.fails_with(&["secrets", "import", &unclosed], 1);
    assert!(
        error.contains("line 2: the double-quoted value of B is never closed"),
        "{error}"
    );
    assert!(
        !error.contains("secret-text"),
        "values never appear in errors: {error}"
    );

    let json_type = cli.file(
        "bad.json",
        r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "ok"}, {"name": "B", "value": 42}]}"#,
    );
    let error = cli.fails_with(&["secrets", "import", &json_type], 1);
    assert!(
        error.contains("secrets[1].value: expected a string"),
        "{error}"
    );

    let yaml = cli.file(
        "bad.yaml",
        "coffer_export: 1\nsecrets:\n  - name: A\n    value: ok\n  - name: B\n    value: [1, 2]\n",
    );
    let error = cli.fails_with(&["secrets", "import", &yaml], 1);
    assert!(error.contains("line 6: "), "{error}");

    let bad_tag = cli.file(
        "tag.json",
        r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "ok", "tags": ["Not Valid"]}]}"#,
    );
    let error = cli.fails_with(&["secrets", "import", &bad_tag], 1);
    assert!(
        error.contains("secrets[0].tags[0]: \"Not Valid\" is not a valid tag"),
        "{error}"
    );

    assert_eq!(cli.snapshot(), json!({}));
}

#[test]
fn issue_7_large_import_shows_progress() {
    let cli = Cli::start();
    let mut text = String::new();
    for index in 0..1000 {
        text.push_str(&format!("KEY_{index:04}=value-{index}\n"));
    }
    let file = cli.file("big.env", &text);
    let out = cli.run(&["secrets", "import", &file, "-env", "bulk"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Imported 1000 secrets"),
        "{}",
        stdout(&out)
    );
    let progress: Vec<String> = stderr(&out)
        .lines()
        .filter(|line| line.starts_with("importing ["))
        .map(str::to_owned)
        .collect();
    assert_eq!(progress.len(), 10, "{progress:#?}");
    assert_eq!(
        progress.last().map(String::as_str),
        Some(format!("importing [{}] 1000/1000", "=".repeat(30)).as_str())
    );
    assert!(progress[0].ends_with("] 100/1000"), "{progress:#?}");
    let got = stdout_json(&cli.run(&["kv", "get", "-format=json", "secret/bulk/KEY_0999"]));
    assert_eq!(got["data"]["data"]["value"], "value-999");
}
