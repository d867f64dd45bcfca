//! `coffer operator migrate` (#8): a real server's SQLite store copied to PostgreSQL and back,
//! then read through the API of a server started on the copy and unsealed with the same share;
//! an interrupted migration resumed; the refusals (a running server, a non-empty destination).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use coffer_client::Client;
use coffer_storage::Storage;
use coffer_storage::postgres::{PostgresBackend, PostgresConfig};
use coffer_storage::sqlite::{SqliteBackend, SqliteConfig};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::lifecycle::init_unsealed;
use crate::support::{TestServer, coffer_bin, run_to_exit, sqlite_config, stderr, stdout};

const SECRETS: usize = 10_000;
const CREDENTIALS: usize = 5;
const LEASES: usize = 20;

async fn ok(client: &Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let reply = client
        .raw(method, path, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert!(
        reply.status < 300,
        "{method} {path}: {} {:?}",
        reply.status,
        reply.body
    );
    reply.body.unwrap_or(Value::Null)
}

/// Secret `i` has three versions when `i % 10 == 0`, one otherwise.
fn versions_of(i: usize) -> usize {
    if i.is_multiple_of(10) { 3 } else { 1 }
}

fn secret_value(i: usize, version: usize) -> Value {
    json!({"value": format!("secret {i} version {version}"), "n": i})
}

/// A PostgreSQL server config using `schema` (a file in `dir`).
fn postgres_config(pg: &PostgresConfig, schema: &str) -> String {
    format!(
        "storage \"postgresql\" {{\n connection_url = \"{}\"\n schema = \"{schema}\"\n}}\nlistener \"tcp\" {{\n address = \"127.0.0.1:0\"\n tls_disable = true\n}}\n",
        pg.connection_url
    )
}

fn write_file(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write config");
    path.to_owned()
}

fn migrate(args: &[&str]) -> Output {
    run_to_exit(
        Command::new(coffer_bin())
            .args(["operator", "migrate"])
            .args(args),
    )
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Writes secrets (with versions), credentials and leases; returns the lease ids.
async fn fill(client: &Client) -> Vec<String> {
    ok(
        client,
        "POST",
        "sys/mounts/kv",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    let permits = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..SECRETS {
        let client = client.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            for version in 1..=versions_of(i) {
                ok(
                    &client,
                    "POST",
                    &format!("kv/data/s-{i}"),
                    Some(json!({"data": secret_value(i, version)})),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("write task");
    }
    for c in 0..CREDENTIALS {
        ok(
            client,
            "POST",
            &format!("credentials/cred-{c}"),
            Some(json!({"type": "generic-secret", "value": format!("first-{c}")})),
        )
        .await;
    }
    ok(
        client,
        "POST",
        "credentials/cred-0/rotate",
        Some(json!({"newValue": "second-0"})),
    )
    .await;
    let mut leases = Vec::new();
    for l in 0..LEASES {
        let body = ok(
            client,
            "POST",
            &format!("credentials/cred-{}/lease", l % CREDENTIALS),
            Some(json!({"ttl": "1h", "identity": format!("agent:worker-{l}")})),
        )
        .await;
        leases.push(body["lease_id"].as_str().expect("lease id").to_owned());
    }
    leases
}

/// What the API shows of the credentials: each one's record and versions (no values).
async fn credentials_view(client: &Client) -> Vec<Value> {
    let mut view = Vec::new();
    for c in 0..CREDENTIALS {
        let record = ok(client, "GET", &format!("credentials/cred-{c}"), None).await;
        let versions = ok(
            client,
            "GET",
            &format!("credentials/cred-{c}/versions"),
            None,
        )
        .await;
        view.push(json!([record["data"], versions["data"]]));
    }
    view
}

/// Every version of every secret reads back as written; every lease still serves its value.
async fn check_everything(client: &Client, leases: &[String], credentials: &[Value]) {
    let permits = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..SECRETS {
        let client = client.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            for version in 1..=versions_of(i) {
                let body = ok(
                    &client,
                    "GET",
                    &format!("kv/data/s-{i}?version={version}"),
                    None,
                )
                .await;
                assert_eq!(
                    body["data"]["data"],
                    secret_value(i, version),
                    "s-{i} v{version}"
                );
            }
            let meta = ok(&client, "GET", &format!("kv/metadata/s-{i}"), None).await;
            assert_eq!(meta["data"]["current_version"], versions_of(i), "s-{i}");
        }));
    }
    for task in tasks {
        task.await.expect("read task");
    }
    assert_eq!(credentials_view(client).await, credentials);
    for (l, id) in leases.iter().enumerate() {
        let body = ok(client, "GET", id, None).await;
        let c = l % CREDENTIALS;
        let expected = if c == 0 {
            "second-0".to_owned()
        } else {
            format!("first-{c}")
        };
        assert_eq!(body["data"]["value"], expected.as_str(), "{id}");
        assert_eq!(body["data"]["leaseId"], id.as_str());
    }
}

/// Every key and value of a store, in key order.
async fn dump(storage: &Storage) -> Vec<(String, Vec<u8>)> {
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = storage
            .scan("", after.as_deref(), 1000)
            .await
            .expect("scan");
        let Some(last) = keys.last().cloned() else {
            return records;
        };
        for key in keys {
            let value = storage.get(&key).await.expect("get").expect("present");
            records.push((key, value));
        }
        after = Some(last);
    }
}

async fn open_sqlite(path: &Path) -> Storage {
    Storage::new(
        SqliteBackend::open(SqliteConfig::new(path))
            .await
            .expect("open sqlite"),
    )
}

async fn open_postgres(pg: &PostgresConfig) -> Storage {
    Storage::new(
        PostgresBackend::connect(pg.clone())
            .await
            .expect("connect postgresql"),
    )
}

/// Progress lines: `[===>   ] 1,234/10,000 keys`.
fn progress_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.starts_with('[') && line.ends_with(" keys"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_8_migrate_sqlite_to_postgresql_and_back_keeps_every_record() {
    let (pg, schema_guard) = coffer_storage::testing::postgres_test_schema().await;
    let schema = schema_guard.name().to_owned();
    let root_dir = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = ["sqlite", "postgresql", "back"]
        .iter()
        .map(|name| {
            let dir = root_dir.path().join(name);
            std::fs::create_dir(&dir).expect("mkdir");
            dir
        })
        .collect();
    let (sqlite_dir, pg_dir, back_dir) = (&dirs[0], &dirs[1], &dirs[2]);

    let server = TestServer::sqlite(sqlite_dir);
    let init = init_unsealed(&server).await;
    let root = server.client().with_token(init.root_token.clone());
    let leases = fill(&root).await;
    let credentials = credentials_view(&root).await;

    // A running server holds the SQLite file: refused, nothing written.
    let from = sqlite_dir.join("coffer.hcl");
    let to = write_file(&pg_dir.join("coffer.hcl"), &postgres_config(&pg, &schema));
    let refused = migrate(&["-from", &arg(&from), "-to", &arg(&to)]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("is in use by another process: stop the server first"),
        "{}",
        stderr(&refused)
    );
    server.terminate();

    // SQLite → PostgreSQL, with progress lines on stderr (not a terminal here).
    let copied = migrate(&["-from", &arg(&from), "-to", &arg(&to)]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    let copied_stderr = stderr(&copied);
    let lines = progress_lines(&copied_stderr);
    assert!(lines.len() >= 3, "{copied_stderr}");
    assert!(lines[0].starts_with("[>"), "{lines:?}");
    let last = lines.last().expect("a last line");
    assert!(last.starts_with(&format!("[{}]", "=".repeat(30))), "{last}");
    assert!(
        stdout(&copied).contains("every record verified"),
        "{}",
        stdout(&copied)
    );

    // The copy holds exactly the source's records, and no checkpoint is left behind.
    let source = open_sqlite(&sqlite_dir.join("coffer.db")).await;
    let destination = open_postgres(&PostgresConfig {
        schema: Some(schema.clone()),
        ..pg.clone()
    })
    .await;
    let records = dump(&source).await;
    assert!(records.len() > SECRETS * 2, "{} records", records.len());
    assert_eq!(dump(&destination).await, records);
    source.close().await.expect("close");
    destination.close().await.expect("close");

    // A server on PostgreSQL, unsealed with the same share, serves everything.
    let server = TestServer::with_config(pg_dir, &postgres_config(&pg, &schema));
    let status = server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    assert!(!status.sealed);
    assert_eq!(status.storage_type, "postgresql");
    let root = server.client().with_token(init.root_token.clone());
    check_everything(&root, &leases, &credentials).await;
    server.terminate();

    // And back: PostgreSQL → a new SQLite file, from one Vault-style migration config.
    let back_db = back_dir.join("coffer.db");
    let migration = write_file(
        &back_dir.join("migrate.hcl"),
        &format!(
            "storage_source \"postgresql\" {{\n connection_url = \"{}\"\n schema = \"{schema}\"\n}}\nstorage_destination \"sqlite\" {{\n path = \"{}\"\n}}\n",
            pg.connection_url,
            back_db.display()
        ),
    );
    let copied = migrate(&["-config", &arg(&migration)]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    let server = TestServer::with_config(back_dir, &sqlite_config(back_dir));
    server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    let root = server.client().with_token(init.root_token.clone());
    check_everything(&root, &leases, &credentials).await;
    server.terminate();

    let back = open_sqlite(&back_db).await;
    assert_eq!(dump(&back).await, records);
    back.close().await.expect("close");
    drop(schema_guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_8_an_interrupted_migration_resumes_and_a_used_destination_is_refused() {
    let (pg, schema_guard) = coffer_storage::testing::postgres_test_schema().await;
    let schema = schema_guard.name().to_owned();
    let pg = PostgresConfig {
        schema: Some(schema.clone()),
        ..pg
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::sqlite(dir.path());
    let init = init_unsealed(&server).await;
    let root = server.client().with_token(init.root_token.clone());
    ok(
        &root,
        "POST",
        "sys/mounts/kv",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    for i in 0..500 {
        ok(
            &root,
            "POST",
            &format!("kv/data/s-{i}"),
            Some(json!({"data": secret_value(i, 1)})),
        )
        .await;
    }
    server.terminate();
    let from = dir.path().join("coffer.hcl");
    let to = write_file(&dir.path().join("pg.hcl"), &postgres_config(&pg, &schema));

    // One record per transaction, so the copy is still running when the first progress line
    // past zero appears; it is killed there.
    let mut child = Command::new(coffer_bin())
        .args(["operator", "migrate", "-batch-size", "1"])
        .args(["-from", &arg(&from), "-to", &arg(&to)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn migrate");
    let progress = BufReader::new(child.stderr.take().expect("stderr piped"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in progress.lines() {
            let Ok(line) = line else { break };
            if line.starts_with("[=") {
                let _ = tx.send(line);
                break;
            }
        }
    });
    let seen = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a progress line past zero");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(status.code().is_none(), "killed, not finished: {seen}");

    let source = open_sqlite(&dir.path().join("coffer.db")).await;
    let records = dump(&source).await;
    source.close().await.expect("close");
    let destination = open_postgres(&pg).await;
    let partial = dump(&destination).await;
    assert!(
        partial.iter().any(|(key, _)| key == "core/migration"),
        "the checkpoint marks the unfinished copy"
    );
    assert!(partial.len() < records.len(), "interrupted midway: {seen}");
    assert!((1000..10_000).contains(&records.len()), "{}", records.len());

    // A server does not start on the half-copied store.
    let pg_config = write_file(
        &dir.path().join("pg-server.hcl"),
        &postgres_config(&pg, &schema),
    );
    let refused = run_to_exit(
        Command::new(coffer_bin()).args(["server", &format!("-config={}", arg(&pg_config))]),
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("destination of an unfinished `coffer operator migrate`"),
        "{}",
        stderr(&refused)
    );

    // The rerun continues after the checkpoint and ends with exactly the source's records.
    let resumed = migrate(&["-from", &arg(&from), "-to", &arg(&to)]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("Resumed an interrupted migration after key"),
        "{}",
        stderr(&resumed)
    );
    let first = progress_lines(&stderr(&resumed))[0].to_owned();
    assert!(!first.starts_with("[> "), "starts past zero: {first}");
    assert_eq!(dump(&destination).await, records);

    // The finished destination is not empty: refused, then erased and copied with -reset.
    let refused = migrate(&["-from", &arg(&from), "-to", &arg(&to)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("pass -reset to erase the destination first"),
        "{}",
        stderr(&refused)
    );
    let reset = migrate(&["-from", &arg(&from), "-to", &arg(&to), "-reset"]);
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert!(
        stderr(&reset).contains(&format!(
            "Erased {},{:03} keys",
            records.len() / 1000,
            records.len() % 1000
        )),
        "{}",
        stderr(&reset)
    );
    assert_eq!(dump(&destination).await, records);
    destination.close().await.expect("close");

    let server = TestServer::with_config(dir.path(), &postgres_config(&pg, &schema));
    server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    let root = server.client().with_token(init.root_token.clone());
    for i in [0, 250, 499] {
        let body = ok(&root, "GET", &format!("kv/data/s-{i}"), None).await;
        assert_eq!(body["data"]["data"], secret_value(i, 1));
    }
    drop(server);
    drop(schema_guard);
}
