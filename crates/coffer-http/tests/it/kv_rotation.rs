//! Rotation of KV version 2 secrets from their custom metadata (issue #7, the rotation policy of
//! `coffer secrets`): `rotation-due` and `rotation-overdue` reminders delivered once through the
//! audit log, and `coffer:generate` secrets the server rotates itself when due, raising
//! `rotated`. The manual clock moves the days; `Core::deliver_reminders` stands for the
//! background timer (which is also the rotation pass).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::reminders::{Captured, receiver, verify_signature};
use crate::support::Node;

const DAY: Duration = Duration::from_secs(86_400);
const HOOK_SECRET: &str = "whsec-kv-rotation-NEVER-SHOWN";

/// An unsealed node with a KV version 2 mount at `secret/` and a file audit device in `dir`;
/// returns the audit log's path.
async fn node_with_kv(dir: &tempfile::TempDir) -> (Node, std::path::PathBuf) {
    let node = Node::unsealed().await;
    let log = dir.path().join("audit.log");
    let device = json!({"type": "file", "options": {"file_path": log.display().to_string()}});
    let (status, _, body) = node
        .send("PUT", "/v1/sys/audit/file", Some(&node.root), Some(device))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    mount_kv(&node).await;
    (node, log)
}

/// Mounts KV version 2 at `secret/`.
async fn mount_kv(node: &Node) {
    let (status, _, body) = node
        .send(
            "POST",
            "/v1/sys/mounts/secret",
            Some(&node.root),
            Some(json!({"type": "kv-v2"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

/// Writes a new version of `path` holding `data`.
async fn write(node: &Node, path: &str, data: Value) {
    let (status, _, body) = node
        .send(
            "POST",
            &format!("/v1/secret/data/{path}"),
            Some(&node.root),
            Some(json!({ "data": data })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "write {path}: {body}");
}

/// Replaces the custom metadata of `path`.
async fn set_metadata(node: &Node, path: &str, custom: Value) {
    let (status, _, body) = node
        .send(
            "POST",
            &format!("/v1/secret/metadata/{path}"),
            Some(&node.root),
            Some(json!({ "custom_metadata": custom })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "metadata {path}: {body}");
}

/// A secret with a value and custom metadata.
async fn create(node: &Node, path: &str, value: &str, custom: Value) {
    write(node, path, json!({ "value": value })).await;
    set_metadata(node, path, custom).await;
}

/// The latest version of `path`: its number and its `value` field.
async fn latest(node: &Node, path: &str) -> (u64, String) {
    let (status, _, body) = node
        .send(
            "GET",
            &format!("/v1/secret/data/{path}"),
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "read {path}: {body}");
    let version = body["data"]["metadata"]["version"]
        .as_u64()
        .unwrap_or_default();
    let value = body["data"]["data"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (version, value)
}

/// Delivers what is due now and returns how many events were new.
async fn deliver(node: &Node) -> usize {
    node.core
        .deliver_reminders()
        .await
        .expect("reminders are delivered")
}

/// `(event, name, version, source, path)` of every `notify` line of the audit log.
fn notify_lines(log: &std::path::Path) -> Vec<(String, String, u64, String, String)> {
    let text = std::fs::read_to_string(log).expect("the audit log is readable");
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("audit lines are JSON"))
        .filter(|record| record["request"]["operation"] == "notify")
        .map(|record| {
            let n = &record["response"]["notification"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&n["event"]),
                text(&n["name"]),
                n["version"].as_u64().unwrap_or_default(),
                text(&n["source"]),
                text(&record["request"]["path"]),
            )
        })
        .collect()
}

fn line(
    event: &str,
    name: &str,
    version: u64,
    source: &str,
) -> (String, String, u64, String, String) {
    (
        event.to_owned(),
        name.to_owned(),
        version,
        source.to_owned(),
        format!("secret/{name}"),
    )
}

const PERIOD_SOURCE: &str = "custom_metadata.coffer:rotation-period";
const GENERATE_SOURCE: &str = "custom_metadata.coffer:generate";

#[tokio::test]
async fn issue_7_rotation_metadata_reminds_once_per_version_and_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = node_with_kv(&dir).await;
    create(
        &node,
        "production/API_KEY",
        "prod_key_4f9a2c-NEVER-LOGGED",
        json!({
            "coffer:rotation-enabled": "true",
            "coffer:rotation-period": "30d",
            "coffer:rotation-notify-before": "7d",
            "owner": "backend-team"
        }),
    )
    .await;

    assert_eq!(deliver(&node).await, 0, "nothing is due on day 0");
    node.clock.advance(22 * DAY);
    assert_eq!(deliver(&node).await, 0, "day 22 is before the notice");
    node.clock.advance(2 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 24: rotation-due");
    assert_eq!(deliver(&node).await, 0, "delivered once, not twice");
    node.clock.advance(7 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 31: rotation-overdue");
    assert_eq!(deliver(&node).await, 0);

    // What was sent survives a seal: nothing is resent.
    node.seal().await;
    node.unseal().await;
    assert_eq!(deliver(&node).await, 0, "a restart does not resend");

    // A new version (the user rotated the key) starts the schedule afresh.
    write(
        &node,
        "production/API_KEY",
        json!({"value": "prod_key_b71e03-NEVER-LOGGED"}),
    )
    .await;
    assert_eq!(deliver(&node).await, 0, "a new version is not due");
    node.clock.advance(24 * DAY);
    assert_eq!(deliver(&node).await, 1, "version 2 is due in its turn");

    assert_eq!(
        notify_lines(&log),
        vec![
            line("rotation-due", "production/API_KEY", 1, PERIOD_SOURCE),
            line("rotation-overdue", "production/API_KEY", 1, PERIOD_SOURCE),
            line("rotation-due", "production/API_KEY", 2, PERIOD_SOURCE),
        ]
    );
    let audit = std::fs::read_to_string(&log).expect("the audit log is readable");
    assert!(
        !audit.contains("NEVER-LOGGED"),
        "a value reached the audit log"
    );

    // Switching rotation off silences the secret.
    set_metadata(
        &node,
        "production/API_KEY",
        json!({"coffer:rotation-enabled": "false", "coffer:rotation-period": "30d"}),
    )
    .await;
    node.clock.advance(30 * DAY);
    assert_eq!(deliver(&node).await, 0, "rotation disabled: no overdue");
}

#[tokio::test]
async fn issue_7_generated_secret_rotates_itself_once_per_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = node_with_kv(&dir).await;
    create(
        &node,
        "svc/SESSION_KEY",
        "first-value-NEVER-LOGGED",
        json!({
            "coffer:rotation-period": "30d",
            "coffer:rotation-notify-before": "7d",
            "coffer:generate": "32"
        }),
    )
    .await;

    node.clock.advance(24 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 24: rotation-due");
    assert_eq!(latest(&node, "svc/SESSION_KEY").await.0, 1);

    node.clock.advance(6 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 30: rotated");
    let (version, second) = latest(&node, "svc/SESSION_KEY").await;
    assert_eq!(version, 2, "the server wrote a new version");
    assert_ne!(second, "first-value-NEVER-LOGGED");
    assert_generated(&second, 32);

    // The same pass again, and the next days, change nothing: once per period.
    assert_eq!(deliver(&node).await, 0);
    node.clock.advance(DAY);
    assert_eq!(deliver(&node).await, 0);
    assert_eq!(latest(&node, "svc/SESSION_KEY").await, (2, second.clone()));

    // Version 2 runs its own period: due at day 53, rotated at day 60.
    node.clock.advance(22 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 53: rotation-due of version 2");
    node.clock.advance(7 * DAY);
    assert_eq!(deliver(&node).await, 1, "day 60: rotated again");
    assert_eq!(deliver(&node).await, 0);
    let (version, third) = latest(&node, "svc/SESSION_KEY").await;
    assert_eq!(version, 3);
    assert_ne!(third, second);
    assert_generated(&third, 32);

    // The earlier versions stay readable (a rollback remains possible).
    let (status, _, body) = node
        .send(
            "GET",
            "/v1/secret/data/svc/SESSION_KEY?version=1",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["data"]["value"], "first-value-NEVER-LOGGED");

    // The metadata says which version the server generated.
    let (status, _, body) = node
        .send(
            "GET",
            "/v1/secret/metadata/svc/SESSION_KEY",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["custom_metadata"]["coffer:rotated-version"],
        "3"
    );
    assert_eq!(body["data"]["custom_metadata"]["coffer:generate"], "32");

    assert_eq!(
        notify_lines(&log),
        vec![
            line("rotation-due", "svc/SESSION_KEY", 1, PERIOD_SOURCE),
            line("rotated", "svc/SESSION_KEY", 2, GENERATE_SOURCE),
            line("rotation-due", "svc/SESSION_KEY", 2, PERIOD_SOURCE),
            line("rotated", "svc/SESSION_KEY", 3, GENERATE_SOURCE),
        ]
    );
    let audit = std::fs::read_to_string(&log).expect("the audit log is readable");
    for value in ["first-value-NEVER-LOGGED", second.as_str(), third.as_str()] {
        assert!(!audit.contains(value), "a value reached the audit log");
    }
}

#[tokio::test]
async fn issue_7_a_client_write_resets_a_generated_secret_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _log) = node_with_kv(&dir).await;
    create(
        &node,
        "TOKEN",
        "v1",
        json!({"coffer:rotation-period": "30d", "coffer:generate": "16"}),
    )
    .await;
    node.clock.advance(29 * DAY);
    write(&node, "TOKEN", json!({"value": "written-by-hand"})).await;
    node.clock.advance(2 * DAY);
    assert_eq!(deliver(&node).await, 0, "version 2 is 2 days old");
    assert_eq!(
        latest(&node, "TOKEN").await,
        (2, "written-by-hand".to_owned())
    );
    node.clock.advance(28 * DAY);
    assert_eq!(deliver(&node).await, 1, "version 2 rotated at its own time");
    let (version, value) = latest(&node, "TOKEN").await;
    assert_eq!(version, 3);
    assert_generated(&value, 16);
}

#[tokio::test]
async fn issue_7_secrets_without_or_with_bad_rotation_metadata_raise_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = node_with_kv(&dir).await;
    write(&node, "plain", json!({"value": "no metadata at all"})).await;
    create(&node, "owned", "x", json!({"owner": "backend-team"})).await;
    create(
        &node,
        "bad/period",
        "x",
        json!({"coffer:rotation-period": "1x"}),
    )
    .await;
    create(
        &node,
        "bad/notice",
        "x",
        json!({"coffer:rotation-period": "30d", "coffer:rotation-notify-before": "soon"}),
    )
    .await;
    create(
        &node,
        "bad/enabled",
        "x",
        json!({"coffer:rotation-period": "30d", "coffer:rotation-enabled": "yes"}),
    )
    .await;
    create(
        &node,
        "bad/generate",
        "keep-me",
        json!({"coffer:rotation-period": "30d", "coffer:generate": "many"}),
    )
    .await;
    create(
        &node,
        "disabled",
        "x",
        json!({"coffer:rotation-period": "30d", "coffer:rotation-enabled": "false"}),
    )
    .await;
    // A secret whose latest version was deleted is not served, so it is not reminded about.
    create(
        &node,
        "deleted",
        "x",
        json!({"coffer:rotation-period": "30d"}),
    )
    .await;
    let (status, _, body) = node
        .send("DELETE", "/v1/secret/data/deleted", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // One good secret: the pass goes on past the bad ones.
    create(&node, "good", "x", json!({"coffer:rotation-period": "30d"})).await;

    node.clock.advance(31 * DAY);
    assert_eq!(deliver(&node).await, 1, "only the good secret is overdue");
    assert_eq!(
        notify_lines(&log),
        vec![line("rotation-overdue", "good", 1, PERIOD_SOURCE)]
    );
    assert_eq!(
        latest(&node, "bad/generate").await,
        (1, "keep-me".to_owned()),
        "a bad generate setting rotates nothing"
    );
}

#[tokio::test]
async fn issue_7_reminders_page_through_many_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = node_with_kv(&dir).await;
    // More than one page (256 secrets) of the engine's reminder pass.
    for i in 0..300 {
        create(
            &node,
            &format!("many/S{i:03}"),
            "x",
            json!({"coffer:rotation-period": "1d"}),
        )
        .await;
    }
    node.clock.advance(2 * DAY);
    assert_eq!(deliver(&node).await, 300);
    assert_eq!(deliver(&node).await, 0);
    let mut names: Vec<String> = notify_lines(&log).into_iter().map(|l| l.1).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 300);
}

#[tokio::test]
async fn issue_7_rotated_reaches_webhooks_and_no_value_reaches_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _log) = node_with_kv(&dir).await;
    let (url, mut received) = receiver(0).await;
    let (status, _, reply) = node
        .send(
            "POST",
            "/v1/sys/notifiers/ops",
            Some(&node.root),
            Some(json!({"url": url, "secret": HOOK_SECRET, "events": ["rotated"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    create(
        &node,
        "production/DB_KEY",
        "initial-NEVER-LOGGED",
        json!({"coffer:rotation-period": "30d", "coffer:generate": "24"}),
    )
    .await;
    create(
        &node,
        "production/BROKEN",
        "x",
        json!({"coffer:rotation-period": "1x"}),
    )
    .await;

    node.clock.advance(30 * DAY);
    assert_eq!(
        deliver(&node).await,
        1,
        "rotated (rotation-due was skipped over)"
    );
    node.core.wait_for_webhooks().await;
    let (version, value) = latest(&node, "production/DB_KEY").await;
    assert_eq!(version, 2);
    assert_generated(&value, 24);

    let (headers, body) = received.try_recv().expect("the webhook got the event");
    assert!(received.try_recv().is_err(), "one event, one request");
    let signature = headers["x-coffer-signature"]
        .to_str()
        .expect("an ASCII signature");
    assert!(verify_signature(HOOK_SECRET, &body, signature));
    let event: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(event["event"], "rotated");
    assert_eq!(event["credential"], "production/DB_KEY");
    assert_eq!(event["type"], "secret");
    assert_eq!(event["version"], 2);
    assert_eq!(event["mount"], "secret/");
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains(&value) && !text.contains("NEVER-LOGGED"),
        "{text}"
    );

    // The bad secret is named in a warning, with the setting that cannot be read.
    let logged = logs.text();
    let warning = logged
        .lines()
        .find(|line| line.contains("rotation metadata cannot be read"))
        .unwrap_or_else(|| panic!("no warning in {logged}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("production/BROKEN"), "{warning}");
    assert!(warning.contains("coffer:rotation-period"), "{warning}");
    assert!(logged.contains("generated secret rotated"), "{logged}");
    assert!(!logged.contains(&value) && !logged.contains("NEVER-LOGGED"));
}

/// `value` is `length` bytes in base64url without padding.
fn assert_generated(value: &str, length: usize) {
    assert_eq!(value.len(), (length * 4).div_ceil(3), "{value}");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not base64url: {value}"
    );
}

/// The minute-by-minute pass reads the metadata of every secret of every mount. It goes a page
/// at a time and lets other requests run between pages: a read sent while the pass runs is
/// answered before the pass is over, even when the store answers without ever waiting (memory
/// here; SQLite and PostgreSQL behind the read cache), on a single thread.
#[tokio::test(flavor = "current_thread")]
async fn issue_9_reminder_pass_lets_requests_run_between_pages() {
    // No audit device: its writer would make the read wait on another thread.
    let node = Node::unsealed().await;
    mount_kv(&node).await;
    // Several pages of secrets, none of them with rotation metadata.
    for n in 0..1_200 {
        write(&node, &format!("many/k{n}"), json!({ "value": "v" })).await;
    }
    let pass_over = std::cell::Cell::new(false);
    let pass = async {
        let delivered = deliver(&node).await;
        pass_over.set(true);
        delivered
    };
    let read = async {
        let (status, _, body) = node
            .send("GET", "/v1/secret/data/many/k7", Some(&node.root), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["data"]["value"], "v");
        pass_over.get()
    };
    // The pass is polled first; the read gets its turn when the pass first lets go.
    let (delivered, read_after_pass) = tokio::join!(pass, read);
    assert_eq!(delivered, 0, "no secret asks for a reminder");
    assert!(
        !read_after_pass,
        "the read was answered only after the whole reminder pass"
    );
}
