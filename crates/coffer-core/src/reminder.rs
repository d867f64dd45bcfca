//! Reminder delivery: on a slow timer (and on demand, [`crate::Core::deliver_reminders`]) every
//! secrets mount's engine is asked for its reminders ([`crate::engine::Engine::reminders`], page
//! by page), and each `(mount, name, version, event)` is delivered once: recorded in the audit log
//! as a `notify` line first (nothing is announced that was not audited), then remembered, then
//! handed to the webhook notifiers (`notifier.rs`).
//!
//! What was sent is kept behind the barrier at `sys/reminders/sent/<mount uuid>/<name>`: the
//! version and the events already sent for it. A restart therefore does not resend, and a new
//! version (a rotation) starts afresh, so it can raise the same events again.

use std::time::SystemTime;

use coffer_barrier::View;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::audit::{self, MountFacts};
use crate::engine::EngineEvent;
use crate::mount::Mounted;
use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::notifier::Notification;
use crate::{Error, Result};

/// The events engines raise by themselves: the reminders in the order of their urgency, then
/// `rotated` (the server rotated a self-rotating secret).
pub const REMINDER_EVENTS: [&str; 5] = [
    "rotation-due",
    "rotation-overdue",
    "expiring",
    "expired",
    "rotated",
];

/// What was sent about one item: the version, and the events already delivered for it.
#[derive(Debug, Serialize, Deserialize)]
struct SentRecord {
    version: u64,
    events: Vec<String>,
}

/// The delivery state of one unsealed core: the "sent" markers, and a lock so two passes (the
/// timer and an on-demand call) never deliver the same event twice.
pub(crate) struct ReminderLog {
    view: View,
    pass: Mutex<()>,
}

impl ReminderLog {
    /// The log over its view (`sys/reminders/`).
    pub(crate) fn new(view: View) -> ReminderLog {
        ReminderLog {
            view,
            pass: Mutex::new(()),
        }
    }
}

/// One delivery pass over every secrets mount at `now`; returns how many events were new (each
/// audited, remembered and handed to the notifiers). A mount whose engine fails is logged and
/// skipped; an audit failure stops the pass (the event stays unsent and is retried next time).
pub(crate) async fn deliver(state: &Unsealed, now: SystemTime) -> Result<usize> {
    let _pass = state.reminders.pass.lock().await;
    let hooks = state.notifiers.load().await?;
    let mut delivered = 0;
    let mounts = state
        .namespaces
        .all()
        .into_iter()
        .flat_map(|ns| ns.mounts.list().into_iter().map(move |m| (ns.clone(), m)));
    for (ns, mounted) in mounts {
        match deliver_mount(state, &ns, &mounted, &hooks, now).await {
            Ok(count) => delivered += count,
            Err(Error::AuditFailed) => return Err(Error::AuditFailed),
            Err(error) => tracing::warn!(
                mount = %mounted.entry.path,
                %error,
                "collecting reminders failed; the mount is skipped this time"
            ),
        }
    }
    Ok(delivered)
}

async fn deliver_mount(
    state: &Unsealed,
    ns: &NamespaceState,
    mounted: &Mounted,
    hooks: &[crate::notifier::Hook],
    now: SystemTime,
) -> Result<usize> {
    let facts = MountFacts {
        point: mounted.entry.path.clone(),
        kind: mounted.entry.kind.clone(),
        accessor: mounted.entry.accessor.clone(),
    };
    let mut delivered = 0;
    let mut after: Option<String> = None;
    loop {
        let page = mounted
            .engine
            .reminders(&mounted.view, now, after.as_deref())
            .await?;
        for event in &page.events {
            if deliver_one(state, ns, mounted, &facts, hooks, event, now).await? {
                delivered += 1;
            }
        }
        match page.next {
            // A cursor that does not move would loop forever.
            Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
            _ => return Ok(delivered),
        }
        // A page from an in-memory or cached store is read without waiting, so the pass would
        // otherwise hold its worker thread for every page of every mount (about a second per
        // 100,000 secrets) while requests queue behind it.
        tokio::task::yield_now().await;
    }
}

/// Delivers one event unless it was sent already; returns whether it was new.
async fn deliver_one(
    state: &Unsealed,
    ns: &NamespaceState,
    mounted: &Mounted,
    facts: &MountFacts,
    hooks: &[crate::notifier::Hook],
    event: &EngineEvent,
    now: SystemTime,
) -> Result<bool> {
    let key = format!("sent/{}/{}", mounted.entry.uuid, event.name);
    let location = format!("sys/reminders/{key}");
    let sent = match state
        .reminders
        .view
        .get(&key)
        .await
        .map_err(Error::from_barrier)?
    {
        Some(bytes) => Some(crate::record::decode::<SentRecord>(&bytes, &location)?),
        None => None,
    };
    let mut record = match sent {
        Some(record) if record.version == event.version => record,
        // An older version's reminder after a newer one was seen: stale, skip it.
        Some(record) if record.version > event.version => return Ok(false),
        _ => SentRecord {
            version: event.version,
            events: Vec::new(),
        },
    };
    if record.events.iter().any(|e| e == event.event) {
        return Ok(false);
    }
    let id = uuid::Uuid::new_v4().to_string();
    state
        .audit
        .record(&audit::notification_event(now, &id, ns, facts, event))
        .await?;
    record.events.push(event.event.to_owned());
    state
        .reminders
        .view
        .put(&key, &crate::record::encode(&record))
        .await
        .map_err(Error::from_barrier)?;
    tracing::info!(
        mount = %facts.point,
        name = %event.name,
        version = event.version,
        event = event.event,
        "reminder delivered"
    );
    let notification = Notification {
        id,
        event,
        mount: &facts.point,
        namespace: ns.path(),
        delivered_at: now,
    };
    state.notifiers.dispatch(hooks, &notification).await;
    Ok(true)
}
