//! Webhook notifiers: `sys/notifiers/<name>` (LIST, GET, POST, DELETE; sudo) configures where
//! reminder events (`reminder.rs`) are POSTed, and [`Notifiers::dispatch`] delivers them.
//!
//! A notifier is `{url, secret, events?}`, stored behind the barrier at `sys/notifiers/<name>`.
//! The secret is write-only: never returned, never logged; it keys the signature
//! `X-Coffer-Signature: sha256=<hex HMAC-SHA256(secret, body)>` of every delivery, so a receiver
//! can tell Coffer's calls from forgeries. A delivery is retried with exponential backoff (1 s,
//! 2 s, 4 s, …, [`ATTEMPTS`] attempts) in a background task, never on the request path; at most
//! [`MAX_IN_FLIGHT`] run at once. Failures are logged without the secret (and without the URL,
//! which may itself be a bearer secret) and reported in the notifier's `delivery` status.
//!
//! This is the core's one outbound HTTP use (`reqwest` with rustls, the system's CA bundle).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use coffer_barrier::View;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{OnceCell, Semaphore};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::clock::{Clock, rfc3339};
use crate::engine::EngineEvent;
use crate::reminder::REMINDER_EVENTS;
use crate::request::{Operation, Reply, Response};
use crate::{Error, Result, params};

/// How many times one delivery is tried before it is given up.
pub(crate) const ATTEMPTS: u32 = 6;
/// How many deliveries run at once; further ones wait (the reminder pass waits with them).
pub(crate) const MAX_IN_FLIGHT: usize = 16;
/// The wait before the first retry; it doubles after each failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_NAME_LEN: usize = 64;
const MAX_URL_LEN: usize = 2048;
/// Where the system keeps its CA bundle, by distribution (the first found is used).
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// A notifier as stored; zeroed on drop, never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct NotifierRecord {
    url: String,
    secret: String,
    /// The events it wants; empty means all.
    events: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl std::fmt::Debug for NotifierRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierRecord")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// A notifier loaded for one delivery pass.
pub(crate) struct Hook {
    name: String,
    record: NotifierRecord,
}

impl Hook {
    fn wants(&self, event: &str) -> bool {
        self.record.events.is_empty() || self.record.events.iter().any(|e| e == event)
    }
}

/// One event to announce.
pub(crate) struct Notification<'a> {
    /// The delivery id (the `id` of the audit line, the same on every retry).
    pub(crate) id: String,
    pub(crate) event: &'a EngineEvent,
    /// The mount path, e.g. `credentials/`.
    pub(crate) mount: &'a str,
    /// The namespace path (`""` for the root namespace, `acme/` for a tenant).
    pub(crate) namespace: &'a str,
    pub(crate) delivered_at: SystemTime,
}

impl Notification<'_> {
    /// The body every notifier receives.
    fn body(&self) -> Vec<u8> {
        let event = self.event;
        let body = json!({
            "id": self.id,
            "event": event.event,
            "credential": event.name,
            "type": event.item_type,
            "version": event.version,
            "at": rfc3339(event.at),
            "source": event.source,
            "mount": self.mount,
            "namespace": if self.namespace.is_empty() { "root" } else { self.namespace },
            "deliveredAt": rfc3339(self.delivered_at),
        });
        body.to_string().into_bytes()
    }
}

/// How a notifier's deliveries went since the server unsealed.
#[derive(Debug, Clone, Default)]
struct DeliveryStatus {
    delivered: u64,
    failed_attempts: u64,
    abandoned: u64,
    last_delivered_at: Option<SystemTime>,
    last_failure_at: Option<SystemTime>,
    last_error: Option<String>,
}

type Statuses = Arc<Mutex<BTreeMap<String, DeliveryStatus>>>;

/// The notifiers of one unsealed core.
pub(crate) struct Notifiers {
    view: View,
    clock: Arc<dyn Clock>,
    client: OnceCell<reqwest::Client>,
    in_flight: Arc<Semaphore>,
    statuses: Statuses,
}

impl Notifiers {
    /// The notifiers stored in `view` (`sys/notifiers/`).
    pub(crate) fn new(view: View, clock: Arc<dyn Clock>) -> Notifiers {
        Notifiers {
            view,
            clock,
            client: OnceCell::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            statuses: Arc::default(),
        }
    }

    /// Serves `sys/notifiers` and `sys/notifiers/<name>`; `None` for other paths.
    pub(crate) async fn handle(
        &self,
        operation: Operation,
        data: &Map<String, Value>,
        rest: &str,
    ) -> Option<Result<Reply>> {
        let name = match rest.strip_prefix("notifiers") {
            Some("" | "/") => None,
            Some(tail) => Some(tail.strip_prefix('/')?.trim_end_matches('/')),
            None => return None,
        };
        Some(match (name, operation) {
            (None, Operation::List) => self.list().await,
            (Some(name), Operation::Read) => self.read(name).await,
            (Some(name), Operation::Create | Operation::Update) => self.write(name, data).await,
            (Some(name), Operation::Delete) => self.delete(name).await,
            _ => Err(Error::UnsupportedOperation),
        })
    }

    async fn get(&self, name: &str) -> Result<Option<NotifierRecord>> {
        match self.view.get(name).await.map_err(Error::from_barrier)? {
            Some(bytes) => Ok(Some(crate::record::decode(
                &bytes,
                &format!("sys/notifiers/{name}"),
            )?)),
            None => Ok(None),
        }
    }

    async fn list(&self) -> Result<Reply> {
        let hooks = self.load().await?;
        if hooks.is_empty() {
            return Ok(Reply::NotFound);
        }
        let mut info = Map::new();
        for hook in &hooks {
            info.insert(
                hook.name.clone(),
                json!({"url": hook.record.url, "events": hook.record.events}),
            );
        }
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            json!(hooks.iter().map(|h| &h.name).collect::<Vec<_>>()),
        );
        data.insert("key_info".into(), Value::Object(info));
        Ok(Reply::ok(Response::with_data(data)))
    }

    async fn read(&self, name: &str) -> Result<Reply> {
        check_name(name)?;
        let Some(record) = self.get(name).await? else {
            return Ok(Reply::NotFound);
        };
        let status = self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default();
        let time = |t: Option<SystemTime>| t.map(rfc3339);
        let mut data = Map::new();
        data.insert("name".into(), json!(name));
        data.insert("url".into(), json!(record.url));
        data.insert("events".into(), json!(record.events));
        data.insert("createdAt".into(), json!(record.created_at));
        data.insert("updatedAt".into(), json!(record.updated_at));
        data.insert(
            "delivery".into(),
            json!({
                "delivered": status.delivered,
                "failedAttempts": status.failed_attempts,
                "abandoned": status.abandoned,
                "lastDeliveredAt": time(status.last_delivered_at),
                "lastFailureAt": time(status.last_failure_at),
                "lastError": status.last_error,
            }),
        );
        Ok(Reply::ok(Response::with_data(data)))
    }

    /// Creates or updates a notifier; on update, fields left out keep their values.
    async fn write(&self, name: &str, data: &Map<String, Value>) -> Result<Reply> {
        check_name(name)?;
        if let Some(field) = data
            .keys()
            .find(|k| !["url", "secret", "events"].contains(&k.as_str()))
        {
            return Err(Error::invalid(format!(
                "unknown field {field:?} (accepted: url, secret, events)"
            )));
        }
        let now = rfc3339(self.clock.now());
        let existing = self.get(name).await?;
        let url = match params::string(data, "url")? {
            Some(url) => check_url(&url)?,
            None => match &existing {
                Some(record) => record.url.clone(),
                None => return Err(Error::invalid("missing url")),
            },
        };
        let secret = match data.get("secret") {
            Some(Value::String(secret)) if !secret.is_empty() => secret.clone(),
            Some(Value::String(_)) => return Err(Error::invalid("secret must not be empty")),
            None | Some(Value::Null) => match &existing {
                Some(record) => record.secret.clone(),
                None => return Err(Error::invalid("missing secret")),
            },
            Some(_) => return Err(Error::invalid("secret must be a string")),
        };
        let events = match params::string_list(data, "events")? {
            Some(events) => check_events(events)?,
            None => existing
                .as_ref()
                .map(|r| r.events.clone())
                .unwrap_or_default(),
        };
        let record = NotifierRecord {
            url,
            secret,
            events,
            created_at: existing
                .as_ref()
                .map(|r| r.created_at.clone())
                .unwrap_or_else(|| now.clone()),
            updated_at: now,
        };
        let bytes = Zeroizing::new(crate::record::encode(&record));
        self.view
            .put(name, &bytes)
            .await
            .map_err(Error::from_barrier)?;
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default();
        tracing::info!(notifier = %name, "notifier saved");
        Ok(Reply::NoContent)
    }

    async fn delete(&self, name: &str) -> Result<Reply> {
        check_name(name)?;
        self.view.delete(name).await.map_err(Error::from_barrier)?;
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(Reply::NoContent)
    }

    /// Every notifier, sorted by name.
    pub(crate) async fn load(&self) -> Result<Vec<Hook>> {
        Ok(
            crate::record::load_all::<NotifierRecord>(&self.view, "", "sys/notifiers/")
                .await?
                .into_iter()
                .map(|(name, record)| Hook { name, record })
                .collect(),
        )
    }

    /// Starts the delivery of `notification` to every hook that wants it, each in its own task;
    /// waits only while [`MAX_IN_FLIGHT`] deliveries are already running.
    pub(crate) async fn dispatch(&self, hooks: &[Hook], notification: &Notification<'_>) {
        let event = notification.event.event;
        let wanted: Vec<&Hook> = hooks.iter().filter(|h| h.wants(event)).collect();
        if wanted.is_empty() {
            return;
        }
        let client = match self.client().await {
            Ok(client) => client.clone(),
            Err(reason) => {
                tracing::error!(%reason, "no HTTP client for webhook notifiers; nothing sent");
                return;
            }
        };
        let body = notification.body();
        {
            let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            for hook in &wanted {
                statuses.entry(hook.name.clone()).or_default();
            }
        }
        for hook in wanted {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return;
            };
            let delivery = Delivery {
                client: client.clone(),
                notifier: hook.name.clone(),
                url: hook.record.url.clone(),
                event,
                id: notification.id.clone(),
                signature: signature(hook.record.secret.as_bytes(), &body),
                body: body.clone(),
                statuses: self.statuses.clone(),
                clock: self.clock.clone(),
            };
            tokio::spawn(async move {
                delivery.run().await;
                drop(permit);
            });
        }
    }

    /// Waits until every delivery started so far has finished (delivered or given up).
    pub(crate) async fn settle(&self) {
        // Fair semaphore: taking every permit waits for all earlier holders.
        let all = u32::try_from(MAX_IN_FLIGHT).expect("MAX_IN_FLIGHT fits in u32");
        drop(self.in_flight.acquire_many(all).await);
    }

    async fn client(&self) -> std::result::Result<&reqwest::Client, String> {
        self.client.get_or_try_init(build_client).await
    }
}

/// One delivery to one notifier, with its retries.
struct Delivery {
    client: reqwest::Client,
    notifier: String,
    url: String,
    event: &'static str,
    id: String,
    signature: String,
    body: Vec<u8>,
    statuses: Statuses,
    clock: Arc<dyn Clock>,
}

impl Delivery {
    async fn run(self) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match self.attempt().await {
                Ok(()) => {
                    self.update(|s, now| {
                        s.delivered += 1;
                        s.last_delivered_at = Some(now);
                    });
                    tracing::info!(notifier = %self.notifier, event = self.event, id = %self.id, attempt, "webhook delivered");
                    return;
                }
                Err(reason) => {
                    tracing::warn!(notifier = %self.notifier, event = self.event, id = %self.id, attempt, %reason, "webhook delivery failed");
                    self.update(|s, now| {
                        s.failed_attempts += 1;
                        s.last_failure_at = Some(now);
                        s.last_error = Some(reason.clone());
                    });
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        self.update(|s, _| s.abandoned += 1);
        tracing::error!(notifier = %self.notifier, event = self.event, id = %self.id, attempts = ATTEMPTS, "webhook delivery given up");
    }

    /// One POST; `Err` says why it failed, without the URL.
    async fn attempt(&self) -> std::result::Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Coffer-Event", self.event)
            .header("X-Coffer-Delivery", &self.id)
            .header("X-Coffer-Signature", &self.signature)
            .body(self.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", status.as_u16()))
        }
    }

    /// Updates the notifier's status, unless it was deleted meanwhile.
    fn update(&self, change: impl FnOnce(&mut DeliveryStatus, SystemTime)) {
        let now = self.clock.now();
        if let Some(status) = self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.notifier)
        {
            change(status, now);
        }
    }
}

/// A transport error with its causes, without the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

/// The client deliveries use: rustls with the system's CA bundle, no redirects (a receiver
/// that moved must be reconfigured, not followed).
async fn build_client() -> std::result::Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("coffer/{}", crate::VERSION));
    let mut roots = 0;
    for path in CA_BUNDLES {
        let Ok(pem) = tokio::fs::read(path).await else {
            continue;
        };
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certificates) => {
                roots = certificates.len();
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
                break;
            }
            Err(error) => tracing::warn!(path, %error, "unreadable CA bundle; trying the next"),
        }
    }
    if roots == 0 {
        tracing::warn!("no system CA bundle found: https webhooks will fail to verify");
    }
    builder.build().map_err(describe)
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "a notifier name is 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-'"
        )))
    }
}

/// An `http://` or `https://` URL with a host and no user name or password.
fn check_url(text: &str) -> Result<String> {
    if text.len() > MAX_URL_LEN {
        return Err(Error::invalid(format!(
            "url is longer than {MAX_URL_LEN} bytes"
        )));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| Error::invalid(format!("url is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(format!(
            "url must be http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid("url has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "url must not carry a user name or password; the secret signs every delivery",
        ));
    }
    Ok(url.to_string())
}

fn check_events(events: Vec<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for event in events {
        if !REMINDER_EVENTS.contains(&event.as_str()) {
            return Err(Error::invalid(format!(
                "unknown event {event:?} (use {})",
                REMINDER_EVENTS.join(", ")
            )));
        }
        if !out.contains(&event) {
            out.push(event);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        let check = |text: &str| match check_url(text) {
            Ok(url) => format!("ok {url}"),
            Err(error) => format!("err {error}"),
        };
        assert_eq!(
            check("https://hooks.example.com/x?a=1"),
            "ok https://hooks.example.com/x?a=1"
        );
        assert_eq!(check("http://127.0.0.1:8080"), "ok http://127.0.0.1:8080/");
        assert_eq!(
            check("ftp://example.com/"),
            "err url must be http:// or https://, not ftp://"
        );
        assert_eq!(
            check("file:///etc/passwd"),
            "err url must be http:// or https://, not file://"
        );
        assert!(check("not a url").starts_with("err url is not a valid URL"));
        assert!(check("https://user:pw@example.com/").starts_with("err url must not carry"));
    }

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn events_are_known_names() {
        assert_eq!(
            check_events(vec![
                "expired".into(),
                "expired".into(),
                "rotation-due".into()
            ])
            .ok(),
            Some(vec!["expired".to_owned(), "rotation-due".to_owned()])
        );
        assert!(check_events(vec!["rotated".into()]).is_ok());
        assert!(check_events(vec!["rotation-late".into()]).is_err());
    }
}
