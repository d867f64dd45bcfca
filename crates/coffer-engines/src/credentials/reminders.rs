//! Rotation reminders and expiry warnings: which credentials are due (or overdue) for rotation
//! under `policy.rotation {period, notifyBefore}` or the `rotateEvery` metadata convention, and
//! which values (certificates, OAuth tokens) expire soon or have expired.

use std::time::{Duration, SystemTime};

use coffer_barrier::View;
use coffer_core::engine::{EngineEvent, EngineRequest, EventPage};
use coffer_core::request::{Reply, Response};
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde_json::{Map, Value, json};

use super::record::{self, CredentialRecord, State};

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReminderKind {
    /// Rotation falls due within the notice period.
    RotationDue,
    /// The rotation date has passed.
    RotationOverdue,
    /// The value (certificate, OAuth token) expires within the notice period.
    Expiring,
    /// The value has expired.
    Expired,
}

impl ReminderKind {
    /// The event name, e.g. `rotation-due`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::RotationDue => "rotation-due",
            ReminderKind::RotationOverdue => "rotation-overdue",
            ReminderKind::Expiring => "expiring",
            ReminderKind::Expired => "expired",
        }
    }
}

/// One reminder about one credential version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The credential.
    pub credential: String,
    /// Its type.
    pub credential_type: String,
    /// The version the reminder is about.
    pub version: u64,
    /// What it is about.
    pub kind: ReminderKind,
    /// When rotation is due or the value expires.
    pub at: SystemTime,
    /// Where the schedule comes from: `policy.rotation`, `metadata.rotateEvery` or `value`.
    pub source: &'static str,
}

impl Reminder {
    /// The wire form.
    pub fn to_json(&self) -> Value {
        json!({
            "credential": self.credential,
            "type": self.credential_type,
            "version": self.version,
            "event": self.kind.as_str(),
            "at": record::timestamp(self.at),
            "source": self.source,
        })
    }
}

/// Notice ahead of an expiry when no rotation policy says: 30 days for certificates, 5 minutes
/// for OAuth tokens (they live for hours), 7 days otherwise.
fn expiry_notice(kind: &str) -> Duration {
    match kind {
        "tls-certificate" => Duration::from_secs(30 * 86_400),
        "oauth-token" => Duration::from_secs(300),
        _ => Duration::from_secs(7 * 86_400),
    }
}

impl Reminder {
    /// The event the core delivers (audit log, webhooks).
    pub fn to_event(&self) -> EngineEvent {
        EngineEvent {
            event: self.kind.as_str(),
            name: self.credential.clone(),
            item_type: self.credential_type.clone(),
            version: self.version,
            at: self.at,
            source: self.source,
        }
    }
}

/// How many credentials one page of [`page`] reads.
const PAGE_SIZE: usize = 256;

/// The reminders of the credentials after the cursor `after` (a storage key below the mount),
/// one page of at most [`PAGE_SIZE`] credentials, so memory stays bounded however many there
/// are.
pub(crate) async fn page(
    storage: &View,
    now: SystemTime,
    after: Option<&str>,
) -> Result<EventPage> {
    let keys = storage
        .scan("cred/", after, PAGE_SIZE)
        .await
        .map_err(crate::barrier_error)?;
    let mut events = Vec::new();
    for key in &keys {
        let Some(name) = key.strip_prefix("cred/") else {
            continue;
        };
        // A credential deleted between the scan and the read raises nothing.
        if let Some((credential, _)) = record::load(storage, name).await? {
            events.extend(
                reminders_of(&credential, now)
                    .iter()
                    .map(Reminder::to_event),
            );
        }
    }
    let next = (keys.len() == PAGE_SIZE)
        .then(|| keys.last().cloned())
        .flatten();
    Ok(EventPage { events, next })
}

/// The reminders one credential raises at `now`.
pub(crate) fn reminders_of(record: &CredentialRecord, now: SystemTime) -> Vec<Reminder> {
    let mut out = Vec::new();
    if record.state == State::Revoked {
        return out;
    }
    let Some(current) = record.current() else {
        return out;
    };
    let remind = |kind, at, source| Reminder {
        credential: record.name.clone(),
        credential_type: record.kind.clone(),
        version: current.version,
        kind,
        at,
        source,
    };
    let schedule = match &record.policy.rotation {
        Some(rotation) if rotation.enabled => Some((
            Duration::from_secs(rotation.period_secs),
            Duration::from_secs(rotation.notify_before_secs),
            "policy.rotation",
        )),
        Some(_) => None,
        None => record
            .metadata
            .get("rotateEvery")
            .and_then(|text| Ttl::parse(text).ok())
            .filter(|ttl| !ttl.is_zero())
            .map(|ttl| {
                let period = ttl.duration();
                (period, period / 10, "metadata.rotateEvery")
            }),
    };
    if let (Some((period, notice, source)), Ok(since)) =
        (schedule, humantime::parse_rfc3339(&current.created_at))
    {
        let due = since + period;
        if now >= due {
            out.push(remind(ReminderKind::RotationOverdue, due, source));
        } else if now + notice >= due {
            out.push(remind(ReminderKind::RotationDue, due, source));
        }
    }
    if let Some(expires) = current
        .expires_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
    {
        let notice = record
            .policy
            .rotation
            .as_ref()
            .map(|r| Duration::from_secs(r.notify_before_secs))
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| expiry_notice(&record.kind));
        if now >= expires {
            out.push(remind(ReminderKind::Expired, expires, "value"));
        } else if now + notice >= expires {
            out.push(remind(ReminderKind::Expiring, expires, "value"));
        }
    }
    out
}

/// Every reminder of a mount at `now`, soonest first.
pub(crate) async fn all(storage: &View, now: SystemTime) -> Result<Vec<Reminder>> {
    let mut out = Vec::new();
    for name in record::names(storage).await? {
        if let Some((credential, _)) = record::load(storage, &name).await? {
            out.extend(reminders_of(&credential, now));
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then(a.credential.cmp(&b.credential)));
    Ok(out)
}

/// `GET config/due`: the reminders at the request's time; `?within=30d` looks ahead.
pub(super) async fn due(request: &EngineRequest<'_>, storage: &View) -> Result<Reply> {
    let ahead = match request.data.get("within") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(value) => Ttl::from_json(value)
            .map_err(|e| Error::invalid(format!("within: {e}")))?
            .duration(),
    };
    let reminders = all(storage, request.now + ahead).await?;
    let mut data = Map::new();
    data.insert(
        "reminders".into(),
        Value::Array(reminders.iter().map(Reminder::to_json).collect()),
    );
    Ok(Reply::ok(Response::with_data(data)))
}
