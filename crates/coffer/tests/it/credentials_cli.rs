//! `coffer credentials …` and `coffer lease …` against a real dev server: credentials of
//! several types from flags, files and stdin (values never printed back), filters, metadata and
//! policy updates, rotation with leases that keep the old value, lease renew/revoke/list, the
//! per-identity kill switch, revocation ending every lease, reminders, tenant defaults, and bad
//! input refused with a clear message and a non-zero exit code.

use serde_json::json;

use crate::support::{DevCli as Cli, stderr, stdout};

const OPENAI_KEY: &str = "sk-proj-cli-test-key-0001";
const OPENAI_KEY_2: &str = "sk-proj-cli-test-key-0002";
const DB_PASSWORD: &str = "pw-never-shown-42";
const GENERIC: &str = "generic-secret-from-stdin";

/// The `Key  Value` rows of a table as pairs.
fn table(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|line| !line.starts_with("Key"))
        .skip(2)
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn row<'a>(rows: &'a [(String, String)], key: &str) -> &'a str {
    rows.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} row in {rows:?}"))
}

#[test]
fn issue_5_credentials_and_leases_from_the_cli() {
    let cli = Cli::start();

    // Create: three types, the value from a flag, a file and stdin; never printed back.
    let out = cli.ok(&[
        "credentials",
        "create",
        "openai",
        "-type=api-key",
        &format!("-value={OPENAI_KEY}"),
        "-metadata",
        "team=ml",
        "-default-ttl=30m",
        "-max-ttl=4h",
        "-max-leases=5",
        "-allow=agent:deploy-*",
        "-allow=token:root",
    ]);
    assert!(
        out.starts_with("Success! Created credential openai (api-key, version 1)"),
        "{out}"
    );
    let rows = table(&out);
    assert_eq!(row(&rows, "state"), "active");
    assert_eq!(row(&rows, "metadata.service"), "openai");
    assert_eq!(row(&rows, "metadata.team"), "ml");
    assert_eq!(row(&rows, "policy.maxLeases"), "5");
    assert_eq!(
        row(&rows, "policy.allowedIdentities"),
        "[agent:deploy-* token:root]"
    );
    assert!(
        !out.contains(OPENAI_KEY),
        "create never echoes the value: {out}"
    );

    let db_file = cli.file(
        "db-url",
        &format!("postgresql://app:{DB_PASSWORD}@db.internal:5432/orders\n"),
    );
    let created = cli.json(&[
        "credentials",
        "create",
        "orders-db",
        "-type=database-url",
        &format!("-value-file={db_file}"),
    ]);
    assert_eq!(created["type"], json!("database-url"));
    assert_eq!(created["metadata"]["host"], json!("db.internal"));
    assert!(created.get("value").is_none(), "{created}");
    assert!(!created.to_string().contains(DB_PASSWORD), "{created}");

    let out = cli.run_stdin(
        &[
            "credentials",
            "create",
            "webhook",
            "-type=generic-secret",
            "-value-stdin",
            "-policy",
            r#"{"rotation": {"period": "90d", "notifyBefore": "7d"}}"#,
        ],
        &format!("{GENERIC}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains(GENERIC));

    // Get: the facts, never the value; one field alone with -field.
    let out = cli.ok(&["credentials", "get", "orders-db"]);
    assert!(!out.contains(DB_PASSWORD), "{out}");
    assert_eq!(row(&table(&out), "metadata.database"), "orders");
    assert_eq!(
        cli.ok(&["credentials", "get", "openai", "-field=metadata.service"]),
        "openai"
    );
    let got = cli.json(&["credentials", "get", "webhook"]);
    assert_eq!(got["policy"]["rotation"]["period"], json!("90d"));
    assert_eq!(got["createdBy"], json!({"type": "token", "name": "root"}));

    // List, with filters.
    let listed = cli.json(&["credentials", "list"]);
    assert_eq!(listed["keys"], json!(["openai", "orders-db", "webhook"]));
    assert_eq!(
        listed["key_info"]["orders-db"]["type"],
        json!("database-url")
    );
    let out = cli.ok(&["credentials", "list", "-type=database-url"]);
    assert!(
        out.contains("orders-db") && !out.contains("openai"),
        "{out}"
    );
    let listed = cli.json(&["credentials", "list", "-metadata", "team=ml"]);
    assert_eq!(listed["keys"], json!(["openai"]));
    assert_eq!(
        cli.ok(&["credentials", "list", "-state=revoked"]).trim(),
        "No credentials found"
    );

    // Update: metadata set and removed, policy changed; value and type untouched.
    let updated = cli.json(&[
        "credentials",
        "update",
        "openai",
        "-metadata",
        "team=",
        "-metadata",
        "owner=bob",
        "-policy",
        r#"{"maxLeaseTTL": "2h"}"#,
        "-max-leases=4",
    ]);
    assert_eq!(updated["metadata"]["owner"], json!("bob"));
    assert!(updated["metadata"].get("team").is_none(), "{updated}");
    assert_eq!(updated["policy"]["maxLeaseTTL"], json!("2h"));
    assert_eq!(updated["policy"]["maxLeases"], json!(4));
    assert_eq!(updated["policy"]["defaultLeaseTTL"], json!("30m"));
    assert_eq!(updated["version"], json!(1));

    // A lease shows the value, like `vault read database/creds/…`.
    let out = cli.ok(&["lease", "create", "openai", "-ttl=10m", "-purpose=ci"]);
    let rows = table(&out);
    assert_eq!(row(&rows, "value"), OPENAI_KEY);
    assert_eq!(row(&rows, "lease_duration"), "10m");
    assert_eq!(row(&rows, "identity"), "token:root (ci)");
    let first = row(&rows, "lease_id").to_owned();
    assert!(first.starts_with("credentials/openai/lease/"), "{first}");
    assert_eq!(
        cli.ok(&["lease", "create", "openai", "-field=value"]),
        OPENAI_KEY
    );
    let lease = cli.json(&["lease", "create", "openai", "-ttl=8h"]);
    assert_eq!(lease["value"], json!(OPENAI_KEY));
    assert_eq!(lease["ttl"], json!(7200), "capped at the policy's 2h");
    assert_eq!(lease["version"], json!(1));

    // Get, lookup, renew.
    let again = cli.json(&["lease", "get", &first]);
    assert_eq!(again["value"], json!(OPENAI_KEY));
    assert_eq!(again["identity"]["purpose"], json!("ci"));
    assert_eq!(
        cli.ok(&["lease", "get", &first, "-field=value"]),
        OPENAI_KEY
    );
    let lookup = cli.json(&["lease", "lookup", &first]);
    assert_eq!(lookup["id"], json!(first));
    assert_eq!(lookup["identity"], json!({"type": "token", "name": "root"}));
    assert!(lookup.get("value").is_none(), "{lookup}");
    let renewed = cli.json(&["lease", "renew", &first, "-increment=1h"]);
    assert_eq!(renewed["lease_id"], json!(first));
    let duration = renewed["lease_duration"].as_u64().expect("a duration");
    assert!(duration > 600 && duration <= 3600, "{renewed}");

    // Rotate: new leases get the new value; the old lease keeps the old one.
    let new_key = cli.file("new-key", &format!("{OPENAI_KEY_2}\n"));
    let out = cli.ok(&[
        "credentials",
        "rotate",
        "openai",
        &format!("-value-file={new_key}"),
    ]);
    assert!(
        out.starts_with("Success! Rotated credential openai to version 2; version 1 stays readable by its 3 active lease(s)"),
        "{out}"
    );
    assert!(!out.contains(OPENAI_KEY_2), "{out}");
    let versions = cli.json(&["credentials", "versions", "openai"]);
    assert_eq!(versions["currentVersion"], json!(2));
    assert_eq!(versions["versions"][0]["version"], json!(2));
    assert_eq!(versions["versions"][0]["state"], json!("active"));
    assert_eq!(versions["versions"][1]["version"], json!(1));
    assert_eq!(versions["versions"][1]["state"], json!("rotated"));
    assert_eq!(versions["versions"][1]["activeLeases"], json!(3));
    let out = cli.ok(&["credentials", "versions", "openai"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("1 ") && l.contains("rotated")),
        "{out}"
    );
    assert_eq!(
        cli.ok(&["lease", "get", &first, "-field=value"]),
        OPENAI_KEY
    );
    assert_eq!(
        cli.ok(&["lease", "create", "openai", "-field=value"]),
        OPENAI_KEY_2
    );

    // maxLeases (4, after the update) counts the active leases of every version.
    let error = cli.fails_with(&["lease", "create", "openai"], 2);
    assert!(error.contains("maxLeases 4"), "{error}");

    // Lists by credential and by identity.
    let listed = cli.json(&["lease", "list", "-credential=openai"]);
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(4), "{listed}");
    let out = cli.ok(&["lease", "list", "-identity=token:root"]);
    assert!(out.contains(&first), "{out}");
    assert!(!out.contains(OPENAI_KEY), "lists never show values: {out}");

    // Revoke one lease: reading it fails afterwards.
    let out = cli.ok(&["lease", "revoke", &first]);
    assert!(out.starts_with("Success! Revoked lease"), "{out}");
    let error = cli.fails_with(&["lease", "get", &first], 2);
    assert!(error.contains("is not active"), "{error}");

    // The kill switch: leases a broker (root, with sudo) took for an agent end at once.
    for _ in 0..2 {
        cli.ok(&["lease", "create", "orders-db", "-identity=agent:deploy-1"]);
    }
    let listed = cli.json(&["lease", "list", "-identity=agent:deploy-1"]);
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(2), "{listed}");
    let out = cli.ok(&["lease", "revoke-identity", "agent:deploy-1"]);
    assert_eq!(
        out.trim(),
        "Success! Revoked 2 lease(s) held by agent:deploy-1"
    );
    let revoked = cli.json(&["lease", "revoke-identity", "agent:deploy-1"]);
    assert_eq!(revoked["count"], json!(0));
    assert_eq!(
        cli.ok(&["lease", "list", "-identity=agent:deploy-1"])
            .trim(),
        "No active leases"
    );

    // Revoking the credential ends its leases and refuses new ones.
    let lease = cli.json(&["lease", "create", "webhook"]);
    let lease_id = lease["leaseId"].as_str().expect("a lease id").to_owned();
    assert_eq!(lease["value"], json!(GENERIC));
    let out = cli.ok(&["credentials", "revoke", "webhook"]);
    assert_eq!(
        out.trim(),
        "Success! Revoked credential webhook; 1 active lease(s) ended"
    );
    cli.fails_with(&["lease", "get", &lease_id], 2);
    let error = cli.fails_with(&["lease", "create", "webhook"], 2);
    assert!(error.contains("revoked"), "{error}");
    assert_eq!(
        cli.json(&["credentials", "list", "-state=revoked"])["keys"],
        json!(["webhook"])
    );

    // Reminders and tenant defaults.
    cli.ok(&[
        "credentials",
        "create",
        "signing",
        "-type=generic-secret",
        "-value=s3cr3t-signing",
        "-policy",
        r#"{"rotation": {"period": "30d", "notifyBefore": "3d"}}"#,
    ]);
    assert_eq!(
        cli.ok(&["credentials", "due"]).trim(),
        "No credentials are due for rotation or expiring"
    );
    let due = cli.json(&["credentials", "due", "-within=29d"]);
    assert_eq!(due["reminders"][0]["credential"], json!("signing"));
    assert_eq!(due["reminders"][0]["event"], json!("rotation-due"));
    let config = cli.json(&["credentials", "config"]);
    assert_eq!(config["defaultLeaseTTL"], json!("1h"));
    let config = cli.json(&[
        "credentials",
        "config",
        "-default-ttl=20m",
        "-max-leases=10",
    ]);
    assert_eq!(config["defaultLeaseTTL"], json!("20m"));
    assert_eq!(config["maxLeases"], json!(10));
    let lease = cli.json(&["lease", "create", "signing"]);
    assert_eq!(lease["ttl"], json!(1200), "the tenant default applies");

    let logs = cli.server.logs();
    for secret in [OPENAI_KEY, OPENAI_KEY_2, DB_PASSWORD, GENERIC] {
        assert!(!logs.contains(secret), "the server log holds a value");
    }
}

#[test]
fn issue_5_bad_credential_input_is_refused_clearly() {
    let cli = Cli::start();

    // Refused before anything is sent: exit code 1 and a message naming the problem.
    let error = cli.fails_with(
        &["credentials", "create", "x", "-type=password", "-value=abc"],
        1,
    );
    assert!(error.contains("invalid value 'password'"), "{error}");
    assert!(error.contains("api-key, oauth-token, ssh-key"), "{error}");
    let error = cli.fails_with(&["credentials", "create", "x", "-type=api-key"], 1);
    assert!(error.contains("--value"), "{error}");
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value=a",
            "-value-stdin",
        ],
        1,
    );
    assert!(error.contains("cannot be used with"), "{error}");
    let out = cli.run_stdin(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value-stdin",
        ],
        "\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the value is empty"),
        "{}",
        stderr(&out)
    );
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value-file=/nonexistent/key",
        ],
        1,
    );
    assert!(
        error.contains("reading the value from /nonexistent/key"),
        "{error}"
    );
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value=sk-abc",
            "-default-ttl=1x",
        ],
        1,
    );
    assert!(
        error.contains("-default-ttl: invalid duration \"1x\""),
        "{error}"
    );
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value=sk-abc",
            "-allow=deploy",
        ],
        1,
    );
    assert!(error.contains("-allow must look like type:name"), "{error}");
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "x",
            "-type=api-key",
            "-value=sk-abc",
            "-policy={oops",
        ],
        1,
    );
    assert!(error.contains("-policy is not valid JSON"), "{error}");
    let error = cli.fails_with(&["credentials", "update", "x"], 1);
    assert!(error.contains("nothing to change"), "{error}");
    let error = cli.fails_with(&["lease", "create", "x", "-ttl=1x"], 1);
    assert!(error.contains("-ttl: invalid duration \"1x\""), "{error}");
    let error = cli.fails_with(&["lease", "list"], 1);
    assert!(error.contains("exactly one of -credential"), "{error}");
    let error = cli.fails_with(&["lease", "revoke-identity", "deploy"], 1);
    assert!(error.contains("type:name"), "{error}");
    let error = cli.fails_with(&["credentials", "due", "-within=soon"], 1);
    assert!(error.contains("-within: invalid duration"), "{error}");

    // Refused by the server: exit code 2, the server's reason, never the value.
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "db",
            "-type=database-url",
            "-value=not-a-url-with-pw-hunter2",
        ],
        2,
    );
    assert!(error.contains("Code: 400"), "{error}");
    assert!(
        !error.contains("hunter2"),
        "errors never repeat a value: {error}"
    );
    let error = cli.fails_with(
        &[
            "credentials",
            "create",
            "bad/name",
            "-type=api-key",
            "-value=sk-abc",
        ],
        1,
    );
    assert!(
        error.contains("invalid credential name \"bad/name\""),
        "{error}"
    );
    let error = cli.fails_with(&["credentials", "get", "missing"], 2);
    assert!(error.contains("No credential named \"missing\""), "{error}");
    let error = cli.fails_with(&["credentials", "rotate", "missing", "-value=sk-x"], 2);
    assert!(error.contains("not found"), "{error}");
    let error = cli.fails_with(&["lease", "create", "missing"], 2);
    assert!(error.contains("not found"), "{error}");

    // Nothing was stored by the failed commands.
    assert_eq!(
        cli.ok(&["credentials", "list"]).trim(),
        "No credentials found"
    );
}

/// `coffer lease list -failed` (issue #10) against a server whose engines all release their
/// leases: an empty list in both forms, flags that do not combine refused, and `revoke -prefix
/// -force` accepted. Rows of failed leases are covered by the table test in `commands/lease.rs`
/// and the failing engine of `coffer-http`'s `failed_leases` tests.
#[test]
fn issue_10_lease_list_failed_from_the_cli() {
    let cli = Cli::start();
    assert_eq!(
        cli.ok(&["lease", "list", "-failed"]).trim(),
        "No failed lease revocations"
    );
    assert_eq!(
        cli.json(&["lease", "list", "-failed"]),
        json!({"keys": [], "key_info": {}})
    );
    cli.ok(&[
        "credentials",
        "create",
        "pg",
        "-type=generic-secret",
        "-value=v1",
    ]);
    let lease = cli.json(&["lease", "create", "pg"]);
    let id = lease["leaseId"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("credentials/pg/"), "{lease}");
    // Released at once by the credentials engine: nothing failed.
    cli.ok(&["lease", "revoke", &id]);
    assert_eq!(
        cli.json(&["lease", "list", "-failed"]),
        json!({"keys": [], "key_info": {}})
    );
    let error = cli.fails_nonzero(&["lease", "list", "-failed", "-credential=pg"]);
    assert!(error.contains("cannot be used with"), "{error}");
    let error = cli.fails_nonzero(&["lease", "revoke", "-force", &id]);
    assert!(error.contains("--prefix"), "{error}");
    assert!(
        cli.ok(&["lease", "revoke", "-prefix", "-force", "credentials/pg/"])
            .contains("Force-revoked every lease under credentials/pg/")
    );
}
