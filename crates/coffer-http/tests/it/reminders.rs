//! Rotation reminders and expiry warnings delivered as events (issue #5, point 4): each
//! `(credential, version, event)` is written once to the audit log as a `notify` line and POSTed,
//! signed, to the webhook notifiers of `sys/notifiers`, with retries. The manual clock moves the
//! days; `Core::deliver_reminders` stands for the background timer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{Node, START_UNIX};

const DAY: Duration = Duration::from_secs(86_400);
const HOOK_SECRET: &str = "whsec-7f3a9c1e-NEVER-SHOWN";

/// A node with a file audit device in `dir`; returns the log's path.
async fn audited_node(dir: &tempfile::TempDir) -> (Node, std::path::PathBuf) {
    let node = Node::unsealed().await;
    let log = dir.path().join("audit.log");
    let device = json!({"type": "file", "options": {"file_path": log.display().to_string()}});
    let (status, _, body) = node
        .send("PUT", "/v1/sys/audit/file", Some(&node.root), Some(device))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    (node, log)
}

async fn create(node: &Node, name: &str, body: Value) {
    let (status, _, reply) = node
        .send(
            "POST",
            &format!("/v1/credentials/{name}"),
            Some(&node.root),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "create {name}: {reply}");
}

/// Delivers what is due now and returns how many events were new.
async fn deliver(node: &Node) -> usize {
    node.core
        .deliver_reminders()
        .await
        .expect("reminders are delivered")
}

/// `(event, credential, version, source)` of every `notify` line of the audit log.
fn notify_lines(log: &std::path::Path) -> Vec<(String, String, u64, String)> {
    let text = std::fs::read_to_string(log).expect("the audit log is readable");
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("audit lines are JSON"))
        .filter(|record| record["request"]["operation"] == "notify")
        .map(|record| {
            let n = &record["response"]["notification"];
            (
                n["event"].as_str().unwrap_or_default().to_owned(),
                n["name"].as_str().unwrap_or_default().to_owned(),
                n["version"].as_u64().unwrap_or_default(),
                n["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn line(event: &str, name: &str, version: u64, source: &str) -> (String, String, u64, String) {
    (
        event.to_owned(),
        name.to_owned(),
        version,
        source.to_owned(),
    )
}

#[tokio::test]
async fn issue_5_rotation_policy_reminds_once_per_version_and_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = audited_node(&dir).await;
    create(
        &node,
        "stripe",
        json!({
            "type": "api-key",
            "value": "sk_live_51Habcdefghijklmnop",
            "policy": {"rotation": {"period": "30d", "notifyBefore": "7d"}}
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

    // Sealing drops every cache: what was sent is remembered in storage.
    node.seal().await;
    node.unseal().await;
    assert_eq!(deliver(&node).await, 0, "a restart does not resend");

    let (status, _, body) = node
        .send(
            "POST",
            "/v1/credentials/stripe/rotate",
            Some(&node.root),
            Some(json!({"newValue": "sk_live_51Hqrstuvwxyz0123456"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(deliver(&node).await, 0, "rotating resets the schedule");
    node.clock.advance(24 * DAY);
    assert_eq!(deliver(&node).await, 1, "version 2 is due in its turn");

    assert_eq!(
        notify_lines(&log),
        vec![
            line("rotation-due", "stripe", 1, "policy.rotation"),
            line("rotation-overdue", "stripe", 1, "policy.rotation"),
            line("rotation-due", "stripe", 2, "policy.rotation"),
        ]
    );

    // The records are ordinary chained responses: the chain verifies, and
    // `coffer audit logs --resource credentials --action notify` finds them.
    let file = std::fs::File::open(&log).expect("the audit log opens");
    let report = coffer_audit::verify(std::io::BufReader::new(file)).expect("the log reads");
    assert_eq!(report.problem, None);
    let (status, _, body) = node
        .send(
            "GET",
            "/v1/sys/audit-logs?resource=credentials&action=notify",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["data"]["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 3, "{body}");
    for entry in &entries {
        assert_eq!(entry["path"], "credentials/stripe");
        assert_eq!(entry["actor"], "system:reminders");
        assert_eq!(entry["action"], "notify");
        assert_eq!(entry["result"], "success");
    }
}

#[tokio::test]
async fn issue_5_rotate_every_metadata_schedules_reminders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = audited_node(&dir).await;
    create(
        &node,
        "github-deploy",
        json!({
            "type": "generic-secret",
            "value": "ghp-deploy-token-0123456789",
            "metadata": {"rotateEvery": "90d"}
        }),
    )
    .await;
    // Notice is a tenth of the period: 9 days.
    node.clock.advance(80 * DAY);
    assert_eq!(deliver(&node).await, 0);
    node.clock.advance(2 * DAY);
    assert_eq!(deliver(&node).await, 1);
    node.clock.advance(8 * DAY);
    assert_eq!(deliver(&node).await, 1);
    assert_eq!(
        notify_lines(&log),
        vec![
            line("rotation-due", "github-deploy", 1, "metadata.rotateEvery"),
            line(
                "rotation-overdue",
                "github-deploy",
                1,
                "metadata.rotateEvery"
            ),
        ]
    );
}

/// A self-signed certificate and its key, valid until 2024-01-13 (59 days after the clock's
/// start).
fn certificate() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .expect("ring generates the key");
    let mut params = rcgen::CertificateParams::new(vec!["api.example.com".to_owned()])
        .expect("static SANs are valid");
    params.not_before = rcgen::date_time_ymd(2023, 1, 1);
    params.not_after = rcgen::date_time_ymd(2024, 1, 13);
    let cert = params.self_signed(&key).expect("rcgen signs");
    format!("{}{}", cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn issue_5_expiring_certificate_raises_expiring_then_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = audited_node(&dir).await;
    create(
        &node,
        "api-tls",
        json!({"type": "tls-certificate", "value": certificate()}),
    )
    .await;
    assert_eq!(deliver(&node).await, 0, "59 days left: no warning yet");
    node.clock.advance(30 * DAY);
    assert_eq!(deliver(&node).await, 1, "29 days left: expiring");
    node.clock.advance(30 * DAY);
    assert_eq!(deliver(&node).await, 1, "expired");
    assert_eq!(deliver(&node).await, 0);
    assert_eq!(
        notify_lines(&log),
        vec![
            line("expiring", "api-tls", 1, "value"),
            line("expired", "api-tls", 1, "value"),
        ]
    );
    let text = std::fs::read_to_string(&log).expect("the audit log is readable");
    let expired = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["response"]["notification"]["event"] == "expired")
        .expect("an expired line");
    assert_eq!(
        expired["response"]["notification"]["at"],
        "2024-01-13T00:00:00.000000000Z"
    );
    assert_eq!(
        expired["response"]["notification"]["type"],
        "tls-certificate"
    );
}

/// What the test receiver saw: one entry per request.
type Seen = mpsc::UnboundedSender<(HeaderMap, Bytes)>;

/// A webhook receiver on 127.0.0.1 that answers 500 to its first `failures` requests, then 204;
/// returns its URL and the requests it receives.
pub(crate) async fn receiver(
    failures: usize,
) -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(Mutex::new(0usize));
    let handler = move |headers: HeaderMap, body: Bytes| {
        let tx: Seen = tx.clone();
        let count = count.clone();
        async move {
            let _ = tx.send((headers, body));
            let mut seen = count.lock().unwrap_or_else(|p| p.into_inner());
            *seen += 1;
            if *seen <= failures {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NO_CONTENT
            }
        }
    };
    let app = Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hook"), rx)
}

/// Captures every log line written while the guard lives (on this thread: the test runtime
/// is single-threaded, so spawned deliveries log here too).
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

pub(crate) fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(mac) = hex::decode(hex_mac) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &mac).is_ok()
}

#[tokio::test]
async fn issue_5_webhook_gets_a_signed_body_with_retries_and_the_secret_never_shows() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("tempdir");
    let (node, log) = audited_node(&dir).await;
    let root = Some(node.root.as_str());
    let (url, mut received) = receiver(2).await;
    let (expired_url, mut expired_received) = receiver(0).await;

    // Bad input is refused and writes nothing.
    for (body, message) in [
        (
            json!({"url": "ftp://example.com/x", "secret": "s"}),
            "url must be http:// or https://, not ftp://",
        ),
        (
            json!({"url": "not a url", "secret": "s"}),
            "url is not a valid URL: relative URL without a base",
        ),
        (json!({"url": url}), "missing secret"),
        (json!({"secret": "s"}), "missing url"),
        (
            json!({"url": url, "secret": "s", "events": ["rotation-late"]}),
            "unknown event \"rotation-late\" (use rotation-due, rotation-overdue, expiring, expired, rotated)",
        ),
    ] {
        let (status, _, reply) = node
            .send("POST", "/v1/sys/notifiers/ops", root, Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert_eq!(reply, json!({"errors": [message]}));
    }
    let (status, _, _) = node.send("GET", "/v1/sys/notifiers/ops", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Configuring notifiers needs sudo.
    let plain = node
        .create_token(&node.root, json!({"policies": ["default"]}))
        .await;
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/notifiers/ops",
            Some(&plain.token),
            Some(json!({"url": url, "secret": HOOK_SECRET})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, reply) = node
        .send(
            "POST",
            "/v1/sys/notifiers/ops",
            root,
            Some(json!({"url": url, "secret": HOOK_SECRET, "events": ["rotation-due"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    let (status, _, reply) = node
        .send(
            "POST",
            "/v1/sys/notifiers/certs",
            root,
            Some(json!({"url": expired_url, "secret": "other-secret", "events": "expired"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    let (status, _, listed) = node.send("LIST", "/v1/sys/notifiers", root, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["keys"], json!(["certs", "ops"]));

    create(
        &node,
        "stripe",
        json!({
            "type": "api-key",
            "value": "sk_live_51Habcdefghijklmnop",
            "policy": {"rotation": {"period": "30d", "notifyBefore": "7d"}}
        }),
    )
    .await;
    node.clock.advance(24 * DAY);
    assert_eq!(deliver(&node).await, 1);
    node.core.wait_for_webhooks().await;

    // Two failures, then the retry that succeeds: three identical, signed requests.
    let mut attempts = Vec::new();
    while let Ok(request) = received.try_recv() {
        attempts.push(request);
    }
    assert_eq!(attempts.len(), 3, "two failures and a retry that worked");
    let (headers, body) = &attempts[2];
    for (earlier, earlier_body) in &attempts[..2] {
        assert_eq!(earlier_body, body, "every retry sends the same body");
        assert_eq!(earlier["x-coffer-signature"], headers["x-coffer-signature"]);
    }
    assert_eq!(headers["x-coffer-event"], "rotation-due");
    assert_eq!(headers["content-type"], "application/json");
    let signature = headers["x-coffer-signature"]
        .to_str()
        .expect("an ASCII signature");
    assert!(
        verify_signature(HOOK_SECRET, body, signature),
        "{signature}"
    );
    assert!(!verify_signature("another secret", body, signature));
    let payload: Value = serde_json::from_slice(body).expect("the body is JSON");
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    assert!(crate::support::is_uuid(&id), "{payload}");
    assert_eq!(headers["x-coffer-delivery"], id.as_str());
    let due_at = humantime::format_rfc3339_nanos(
        std::time::UNIX_EPOCH + Duration::from_secs(START_UNIX) + 30 * DAY,
    )
    .to_string();
    let delivered_at = humantime::format_rfc3339_nanos(
        std::time::UNIX_EPOCH + Duration::from_secs(START_UNIX) + 24 * DAY,
    )
    .to_string();
    assert_eq!(
        payload,
        json!({
            "id": id,
            "event": "rotation-due",
            "credential": "stripe",
            "type": "api-key",
            "version": 1,
            "at": due_at,
            "source": "policy.rotation",
            "mount": "credentials/",
            "namespace": "root",
            "deliveredAt": delivered_at,
        })
    );
    assert!(
        expired_received.try_recv().is_err(),
        "a notifier gets only the events it asked for"
    );

    // The audit line carries the same id as the webhook.
    let text = std::fs::read_to_string(&log).expect("the audit log is readable");
    assert!(
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|r| r["request"]["operation"] == "notify" && r["request"]["id"] == id.as_str()),
        "the notify line has the delivery id"
    );

    // The notifier reports how delivery went, and never shows its secret.
    let (status, _, reply) = node.send("GET", "/v1/sys/notifiers/ops", root, None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let data = &reply["data"];
    assert_eq!(data["url"], url.as_str());
    assert_eq!(data["events"], json!(["rotation-due"]));
    assert!(data.get("secret").is_none(), "{data}");
    assert_eq!(data["delivery"]["delivered"], 1);
    assert_eq!(data["delivery"]["failedAttempts"], 2);
    assert_eq!(data["delivery"]["abandoned"], 0);
    assert_eq!(
        data["delivery"]["lastError"],
        "the receiver answered HTTP 500"
    );

    // An update without a secret keeps it.
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/notifiers/ops",
            root,
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, reply) = node.send("GET", "/v1/sys/notifiers/ops", root, None).await;
    assert_eq!(reply["data"]["events"], json!([]));

    let logged = logs.text();
    assert!(
        logged.contains("webhook delivery failed"),
        "failures are logged"
    );
    for (place, text) in [
        ("the logs", logged.as_str()),
        ("the audit log", text.as_str()),
        ("the GET reply", &reply.to_string()),
    ] {
        assert!(
            !text.contains(HOOK_SECRET),
            "the secret leaked into {place}"
        );
    }

    let (status, _, _) = node
        .send("DELETE", "/v1/sys/notifiers/ops", root, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = node.send("GET", "/v1/sys/notifiers/ops", root, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
