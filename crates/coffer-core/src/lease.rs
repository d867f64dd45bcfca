//! Leases: time-limited handles that engines issue on their secrets (a credential lease names
//! the credential version it serves). The store is durable and keeps nothing in memory:
//!
//! - `id/<namespace>/<lease id>` → the [`LeaseRecord`] (behind the barrier);
//! - `time/<expiry unix nanos, 20 digits>/<nonce>` → the record key, so the reaper finds what is
//!   due in order without reading every lease;
//! - `who/<hex of kind:name>/<nonce>` → the record key, for the per-identity list and the kill
//!   switch;
//! - `failed/<nonce>` → the record key, only for leases whose engine failed to release them
//!   (`sys/leases/failed`).
//!
//! A lease and its index entries are written and removed in one transaction, so a crash
//! neither loses a lease nor leaves one that cannot be found.
//!
//! **Failed revocations.** When an engine cannot release an ended lease (its
//! [`crate::engine::Engine::lease_ended`] fails: a database that is down), the lease is not
//! forgotten: its record gets a [`RevocationFailure`] (attempts, the engine's message, the next
//! attempt), it stops being active (no lookup, renewal or use), its `time/` entry moves to the
//! next attempt so the reaper retries it with exponential backoff ([`retry_delay`]: 1 s, 2 s,
//! 4 s, … capped at 10 minutes), and it is indexed under `failed/`. After
//! [`MAX_REVOKE_ATTEMPTS`] failures it has no `time/` entry any more: it is *irrevocable*, as
//! Vault calls it, retried only by an explicit `sys/leases/revoke` and removed without the
//! engine by `sys/leases/revoke-force`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coffer_barrier::{BarrierOp, View};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::Identity;
use crate::{Error, Result};

/// The namespace id of the root namespace in lease keys.
pub const ROOT_NAMESPACE: &str = "root";

/// How many leases one reaper transaction removes.
const REAP_BATCH: usize = 256;

/// How many failed attempts to release a lease the reaper makes before it stops retrying by
/// itself and leaves the lease listed as irrevocable (Vault gives up after 6 as well).
pub const MAX_REVOKE_ATTEMPTS: u32 = 6;

/// The longest wait between two automatic attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// The longest engine message kept with a failed lease.
const MAX_ERROR_LEN: usize = 512;

/// The wait after the `attempts`-th failure: 1 s, 2 s, 4 s, … doubling, capped at
/// [`MAX_RETRY_DELAY`].
pub fn retry_delay(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    Duration::from_secs(1u64 << exponent).min(MAX_RETRY_DELAY)
}

/// Why and since when the engine could not release an ended lease. Holds the engine's error
/// message as the core's error type prints it (paths and reasons, never values).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevocationFailure {
    /// Failed attempts so far.
    pub attempts: u32,
    /// The engine's message for the last failure.
    pub last_error: String,
    /// The first failure, unix nanoseconds.
    pub first_failed_nanos: u64,
    /// The last failure, unix nanoseconds.
    pub last_attempt_nanos: u64,
    /// When the reaper tries again, unix nanoseconds; `None` once it gave up (irrevocable).
    #[serde(default)]
    pub next_attempt_nanos: Option<u64>,
}

impl RevocationFailure {
    /// When the reaper tries again (`None`: irrevocable, only an explicit revoke retries).
    pub fn next_attempt(&self) -> Option<SystemTime> {
        self.next_attempt_nanos.map(from_nanos)
    }

    /// When the last attempt failed.
    pub fn last_attempt(&self) -> SystemTime {
        from_nanos(self.last_attempt_nanos)
    }

    /// When the first attempt failed.
    pub fn first_failed(&self) -> SystemTime {
        from_nanos(self.first_failed_nanos)
    }
}

/// One lease as stored. Holds no secret: engines keep values in their own storage and name
/// them in `internal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseRecord {
    /// The lease id, e.g. `credentials/stripe/lease/4f0c…` (mount path, engine path, nonce).
    pub id: String,
    /// The namespace id (`root` for the root namespace).
    pub namespace: String,
    /// The accessor of the mount whose engine issued it.
    pub mount_accessor: String,
    /// Issue time, unix nanoseconds.
    pub issued_nanos: u64,
    /// Expiry, unix nanoseconds.
    pub expires_nanos: u64,
    /// The hard end no renewal passes, unix nanoseconds.
    pub max_expires_nanos: u64,
    /// Last renewal, unix nanoseconds.
    #[serde(default)]
    pub renewed_nanos: Option<u64>,
    /// Whether `sys/leases/renew` may extend it.
    pub renewable: bool,
    /// The holder's identity kind (`user`, `agent`, …).
    pub identity_kind: String,
    /// The holder's identity name.
    pub identity_name: String,
    /// Why the holder asked for it.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Engine facts (e.g. credential name and version); never secret values.
    #[serde(default)]
    pub internal: Map<String, Value>,
    /// Set once the lease ended but its engine failed to release it (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationFailure>,
}

impl LeaseRecord {
    /// The last segment of the id: unique across leases.
    pub fn nonce(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or(&self.id)
    }

    /// Who holds it.
    pub fn identity(&self) -> Identity {
        Identity {
            kind: self.identity_kind.clone(),
            name: self.identity_name.clone(),
        }
    }

    /// When it was issued.
    pub fn issued(&self) -> SystemTime {
        from_nanos(self.issued_nanos)
    }

    /// When it expires.
    pub fn expires(&self) -> SystemTime {
        from_nanos(self.expires_nanos)
    }

    /// When it was last renewed.
    pub fn renewed(&self) -> Option<SystemTime> {
        self.renewed_nanos.map(from_nanos)
    }

    /// Whether it is still valid at `now`: not expired, and not ended with a failed release.
    pub fn is_active(&self, now: SystemTime) -> bool {
        self.revocation.is_none() && nanos(now) < self.expires_nanos
    }

    /// This lease after one more failed attempt at `now` to release it, with the engine's
    /// message: retried after [`retry_delay`], or irrevocable after [`MAX_REVOKE_ATTEMPTS`].
    pub fn failed_release(&self, error: &str, now: SystemTime) -> LeaseRecord {
        let at = nanos(now);
        let previous = self.revocation.as_ref();
        let attempts = previous.map_or(0, |f| f.attempts).saturating_add(1);
        let next_attempt_nanos = (attempts < MAX_REVOKE_ATTEMPTS)
            .then(|| at.saturating_add(duration_nanos(retry_delay(attempts))));
        let mut failed = self.clone();
        failed.revocation = Some(RevocationFailure {
            attempts,
            last_error: safe_message(error),
            first_failed_nanos: previous.map_or(at, |f| f.first_failed_nanos),
            last_attempt_nanos: at,
            next_attempt_nanos,
        });
        failed
    }

    /// Seconds left at `now` (0 once expired).
    pub fn remaining(&self, now: SystemTime) -> u64 {
        self.expires_nanos
            .saturating_sub(nanos(now))
            .div_ceil(1_000_000_000)
    }

    /// An engine fact as text.
    pub fn internal_str(&self, key: &str) -> Option<&str> {
        self.internal.get(key).and_then(Value::as_str)
    }

    fn key(&self) -> String {
        record_key(&self.namespace, &self.id)
    }

    /// Where the reaper finds it: at its expiry, or, once a release failed, at the next
    /// attempt (none once irrevocable).
    fn time_key(&self) -> Option<String> {
        match &self.revocation {
            None => Some(time_key(self.expires_nanos, self.nonce())),
            Some(failure) => failure
                .next_attempt_nanos
                .map(|at| time_key(at, self.nonce())),
        }
    }

    fn failed_key(&self) -> String {
        failed_key(self.nonce())
    }

    fn who_key(&self) -> String {
        who_key(&self.identity_kind, &self.identity_name, self.nonce())
    }
}

/// What an engine asks for when it issues a lease.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    /// Path below the mount the lease hangs under, e.g. `stripe/lease`.
    pub path: String,
    /// Lifetime from now.
    pub ttl: Duration,
    /// Hard lifetime cap from now (renewals never pass it); at least `ttl`.
    pub max_ttl: Duration,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// The holder.
    pub identity: Identity,
    /// Why the holder asked for it.
    pub purpose: Option<String>,
    /// Engine facts.
    pub internal: Map<String, Value>,
}

/// The durable lease store (`sys/expire/`).
#[derive(Clone)]
pub(crate) struct LeaseStore {
    view: View,
}

impl LeaseStore {
    pub(crate) fn new(view: View) -> LeaseStore {
        LeaseStore { view }
    }

    /// Writes a new lease with its index entries, durably, in one transaction.
    pub(crate) async fn insert(&self, record: &LeaseRecord) -> Result<()> {
        let key = record.key();
        let mut ops = vec![
            BarrierOp::Put {
                path: key.clone(),
                value: crate::record::encode(record).into(),
            },
            BarrierOp::Put {
                path: record.who_key(),
                value: key.clone().into_bytes().into(),
            },
        ];
        if let Some(time_key) = record.time_key() {
            ops.push(BarrierOp::Put {
                path: time_key,
                value: key.into_bytes().into(),
            });
        }
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)
    }

    /// The lease with this id in `namespace`, expired or not (until it is reaped).
    pub(crate) async fn get(&self, namespace: &str, id: &str) -> Result<Option<LeaseRecord>> {
        if !valid_id(id) {
            return Ok(None);
        }
        self.load(&record_key(namespace, id)).await
    }

    async fn load(&self, key: &str) -> Result<Option<LeaseRecord>> {
        match self.view.get(key).await.map_err(Error::from_barrier)? {
            Some(bytes) => Ok(Some(crate::record::decode(
                &bytes,
                &format!("sys/expire/{key}"),
            )?)),
            None => Ok(None),
        }
    }

    /// Every lease whose id starts with `prefix` (a folder, ending in `/`) in `namespace`.
    pub(crate) async fn list_prefix(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<LeaseRecord>> {
        let folder = format!("id/{namespace}/{prefix}");
        if !prefix.is_empty() && !valid_id(prefix) {
            return Ok(Vec::new());
        }
        Ok(crate::record::load_all(&self.view, &folder, "sys/expire/")
            .await?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }

    /// Visits the leases below `prefix` in `namespace` page by page (bounded memory) until
    /// `visit` returns `false`.
    pub(crate) async fn visit_prefix(
        &self,
        namespace: &str,
        prefix: &str,
        mut visit: impl FnMut(&LeaseRecord) -> bool + Send,
    ) -> Result<()> {
        if !prefix.is_empty() && !valid_id(prefix) {
            return Ok(());
        }
        let folder = format!("id/{namespace}/{prefix}");
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .view
                .scan(&folder, after.as_deref(), 256)
                .await
                .map_err(Error::from_barrier)?;
            let Some(last) = keys.last().cloned() else {
                return Ok(());
            };
            for key in keys {
                // A lease removed between the scan and the read is simply gone.
                if let Some(record) = self.load(&key).await?
                    && !visit(&record)
                {
                    return Ok(());
                }
            }
            after = Some(last);
        }
    }

    /// Every lease held by `identity`, in any namespace.
    pub(crate) async fn held_by(&self, identity: &Identity) -> Result<Vec<LeaseRecord>> {
        let folder = format!("who/{}/", identity_hex(&identity.kind, &identity.name));
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .view
                .scan(&folder, after.as_deref(), 256)
                .await
                .map_err(Error::from_barrier)?;
            let Some(last) = keys.last().cloned() else {
                return Ok(out);
            };
            for index in keys {
                if let Some(record) = self.follow(&index).await? {
                    out.push(record);
                }
            }
            after = Some(last);
        }
    }

    /// The record an index entry points at.
    async fn follow(&self, index_key: &str) -> Result<Option<LeaseRecord>> {
        let Some(target) = self
            .view
            .get(index_key)
            .await
            .map_err(Error::from_barrier)?
        else {
            return Ok(None);
        };
        let target = String::from_utf8(target.to_vec()).map_err(|_| Error::CorruptRecord {
            path: format!("sys/expire/{index_key}"),
            reason: "index entry is not UTF-8".into(),
        })?;
        self.load(&target).await
    }

    /// Removes leases and their index entries in one transaction.
    pub(crate) async fn remove(&self, records: &[LeaseRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::with_capacity(records.len() * 4);
        for r in records {
            ops.push(BarrierOp::Delete { path: r.key() });
            ops.push(BarrierOp::Delete { path: r.who_key() });
            if let Some(time_key) = r.time_key() {
                ops.push(BarrierOp::Delete { path: time_key });
            }
            if r.revocation.is_some() {
                ops.push(BarrierOp::Delete {
                    path: r.failed_key(),
                });
            }
        }
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)
    }

    /// Records failed releases: each `(before, after)` pair replaces the lease `before` with
    /// `after` (which carries a [`RevocationFailure`]), moving its `time/` entry to the next
    /// attempt (or dropping it once irrevocable) and indexing it under `failed/`, all in one
    /// transaction. A lease that is gone by now (ended elsewhere meanwhile) is left gone.
    pub(crate) async fn mark_failed(&self, pairs: &[(LeaseRecord, LeaseRecord)]) -> Result<()> {
        let mut ops = Vec::with_capacity(pairs.len() * 4);
        for (before, after) in pairs {
            let key = after.key();
            if self
                .view
                .get(&key)
                .await
                .map_err(Error::from_barrier)?
                .is_none()
            {
                continue;
            }
            if let Some(old) = before.time_key()
                && Some(&old) != after.time_key().as_ref()
            {
                ops.push(BarrierOp::Delete { path: old });
            }
            if let Some(new) = after.time_key() {
                ops.push(BarrierOp::Put {
                    path: new,
                    value: key.clone().into_bytes().into(),
                });
            }
            ops.push(BarrierOp::Put {
                path: after.failed_key(),
                value: key.clone().into_bytes().into(),
            });
            ops.push(BarrierOp::Put {
                path: key,
                value: crate::record::encode(after).into(),
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)
    }

    /// Every lease whose release failed (retrying or irrevocable), in any namespace, page by
    /// page through the `failed/` index.
    pub(crate) async fn failed(&self) -> Result<Vec<LeaseRecord>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .view
                .scan("failed/", after.as_deref(), 256)
                .await
                .map_err(Error::from_barrier)?;
            let Some(last) = keys.last().cloned() else {
                return Ok(out);
            };
            for index in keys {
                match self.follow(&index).await? {
                    Some(record) if record.revocation.is_some() => out.push(record),
                    // A stale entry (the lease ended elsewhere): drop it.
                    _ => self
                        .view
                        .delete(&index)
                        .await
                        .map_err(Error::from_barrier)?,
                }
            }
            after = Some(last);
        }
    }

    /// Moves a lease's expiry (a renewal), index entry included, in one transaction.
    pub(crate) async fn update_expiry(
        &self,
        record: &LeaseRecord,
        expires_nanos: u64,
        now: SystemTime,
    ) -> Result<LeaseRecord> {
        let mut renewed = record.clone();
        renewed.expires_nanos = expires_nanos;
        renewed.renewed_nanos = Some(nanos(now));
        let key = renewed.key();
        let mut ops = Vec::with_capacity(3);
        if let Some(old) = record.time_key() {
            ops.push(BarrierOp::Delete { path: old });
        }
        if let Some(new) = renewed.time_key() {
            ops.push(BarrierOp::Put {
                path: new,
                value: key.clone().into_bytes().into(),
            });
        }
        ops.push(BarrierOp::Put {
            path: key,
            value: crate::record::encode(&renewed).into(),
        });
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)?;
        Ok(renewed)
    }

    /// Up to one batch of leases whose expiry (or, for a failed release, whose next attempt)
    /// is at or before `now`, oldest first. Index
    /// entries whose lease is gone (a crash between writes cannot cause this, but a manual
    /// storage edit can) are deleted on the way.
    pub(crate) async fn due(&self, now: SystemTime) -> Result<Vec<LeaseRecord>> {
        let bound = format!("time/{:020}/~", nanos(now));
        let keys = self
            .view
            .scan("time/", None, REAP_BATCH)
            .await
            .map_err(Error::from_barrier)?;
        let mut out = Vec::new();
        for key in keys.into_iter().filter(|k| k.as_str() < bound.as_str()) {
            match self.follow(&key).await? {
                Some(record) if record.time_key().as_deref() == Some(key.as_str()) => {
                    out.push(record);
                }
                _ => self.view.delete(&key).await.map_err(Error::from_barrier)?,
            }
        }
        Ok(out)
    }
}

/// What an engine may do with leases: issue them under its own mount, find and list its own,
/// and revoke its own (e.g. every lease of a revoked credential). Scoped to one mount in one
/// namespace; it never sees another mount's leases.
#[derive(Clone)]
pub struct LeaseScope {
    store: LeaseStore,
    namespace: String,
    mount_path: String,
    mount_accessor: String,
    /// Leases being ended right now (the scope handed to `Engine::lease_ended`): the engine
    /// releases them before they are removed, so it must not see them as still held.
    ending: Option<Arc<BTreeSet<String>>>,
    /// The namespace's other mounts, when the core knows them.
    peers: Option<crate::engine::Peers>,
}

impl std::fmt::Debug for LeaseScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseScope")
            .field("namespace", &self.namespace)
            .field("mount", &self.mount_path)
            .finish()
    }
}

impl LeaseScope {
    pub(crate) fn new(
        store: LeaseStore,
        namespace: &str,
        mount_path: &str,
        mount_accessor: &str,
    ) -> LeaseScope {
        LeaseScope {
            store,
            namespace: namespace.to_owned(),
            mount_path: mount_path.to_owned(),
            mount_accessor: mount_accessor.to_owned(),
            ending: None,
            peers: None,
        }
    }

    /// The same scope able to reach the namespace's other mounts.
    pub(crate) fn with_peers(mut self, peers: crate::engine::Peers) -> LeaseScope {
        self.peers = Some(peers);
        self
    }

    /// The namespace's other mounts (see [`crate::engine::Peers`]), so an engine releasing a
    /// lease in [`crate::engine::Engine::lease_ended`] can reach them; `None` when unknown.
    pub fn peers(&self) -> Option<&crate::engine::Peers> {
        self.peers.as_ref()
    }

    /// The same scope with the leases `ending` hidden from `get`, `list` and `count`.
    pub(crate) fn hiding(mut self, ending: Arc<BTreeSet<String>>) -> LeaseScope {
        self.ending = Some(ending);
        self
    }

    /// Whether `record` is this mount's and not one being ended.
    fn sees(&self, record: &LeaseRecord) -> bool {
        record.mount_accessor == self.mount_accessor
            && !self
                .ending
                .as_ref()
                .is_some_and(|ending| ending.contains(&record.id))
    }

    /// Issues a lease at `now`; it is durable when this returns.
    pub async fn issue(&self, spec: LeaseSpec, now: SystemTime) -> Result<LeaseRecord> {
        let nonce = lease_nonce(now)?;
        let path = spec.path.trim_matches('/');
        let issued = nanos(now);
        let max_ttl = spec.max_ttl.max(spec.ttl);
        let record = LeaseRecord {
            id: format!("{}{path}/{nonce}", self.mount_path),
            namespace: self.namespace.clone(),
            mount_accessor: self.mount_accessor.clone(),
            issued_nanos: issued,
            expires_nanos: issued.saturating_add(duration_nanos(spec.ttl)),
            max_expires_nanos: issued.saturating_add(duration_nanos(max_ttl)),
            renewed_nanos: None,
            renewable: spec.renewable,
            identity_kind: spec.identity.kind,
            identity_name: spec.identity.name,
            purpose: spec.purpose,
            internal: spec.internal,
            revocation: None,
        };
        self.store.insert(&record).await?;
        Ok(record)
    }

    /// One of this mount's leases by its path below the mount (e.g. `stripe/lease/4f0c…`).
    pub async fn get(&self, path: &str) -> Result<Option<LeaseRecord>> {
        let id = format!("{}{}", self.mount_path, path.trim_start_matches('/'));
        Ok(self
            .store
            .get(&self.namespace, &id)
            .await?
            .filter(|r| self.sees(r)))
    }

    /// This mount's leases below `path` (a folder below the mount, e.g. `stripe/lease/`).
    pub async fn list(&self, path: &str) -> Result<Vec<LeaseRecord>> {
        let prefix = format!("{}{}", self.mount_path, folder(path));
        Ok(self
            .store
            .list_prefix(&self.namespace, &prefix)
            .await?
            .into_iter()
            .filter(|r| self.sees(r))
            .collect())
    }

    /// How many of this mount's leases below `path` satisfy `matches`, counting no further than
    /// `limit` (reading page by page and stopping there, so a check such as "is any lease left
    /// on version 1" or "are there already `maxLeases`" stays cheap with many leases).
    pub async fn count(
        &self,
        path: &str,
        limit: usize,
        matches: impl Fn(&LeaseRecord) -> bool + Send + Sync,
    ) -> Result<usize> {
        let prefix = format!("{}{}", self.mount_path, folder(path));
        let mut found = 0;
        self.store
            .visit_prefix(&self.namespace, &prefix, |record| {
                if self.sees(record) && matches(record) {
                    found += 1;
                }
                found < limit
            })
            .await?;
        Ok(found)
    }

    /// Removes these leases at once (the engine has already dealt with what they held).
    pub async fn revoke(&self, records: &[LeaseRecord]) -> Result<()> {
        let own: Vec<LeaseRecord> = records
            .iter()
            .filter(|r| r.mount_accessor == self.mount_accessor && r.namespace == self.namespace)
            .cloned()
            .collect();
        for chunk in own.chunks(REAP_BATCH) {
            self.store.remove(chunk).await?;
        }
        Ok(())
    }
}

fn folder(path: &str) -> String {
    let path = path.trim_matches('/');
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('/')
        && id.split('/').all(|seg| seg != ".." && seg != ".")
        && !id.contains("//")
}

fn record_key(namespace: &str, id: &str) -> String {
    format!("id/{namespace}/{id}")
}

fn time_key(expires_nanos: u64, nonce: &str) -> String {
    format!("time/{expires_nanos:020}/{nonce}")
}

fn failed_key(nonce: &str) -> String {
    format!("failed/{nonce}")
}

/// An engine's message as kept with a failed lease: one line, printable, at most
/// `MAX_ERROR_LEN` bytes.
fn safe_message(error: &str) -> String {
    let mut out = String::with_capacity(error.len().min(MAX_ERROR_LEN));
    for c in error.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_ERROR_LEN {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

fn who_key(kind: &str, name: &str, nonce: &str) -> String {
    format!("who/{}/{nonce}", identity_hex(kind, name))
}

fn identity_hex(kind: &str, name: &str) -> String {
    hex::encode(format!("{kind}:{name}"))
}

/// A lease's nonce: the issue time in milliseconds (12 hex digits, so nonces sort by issue
/// time) and 96 random bits (16 base64url characters).
///
/// The time comes first so that the leases of one credential, and those of one identity, are
/// stored one after the other: a store writes new leases at the end of their range instead of
/// all over it, which on SQLite is the difference between a page or two per group commit and a
/// page per lease. The random part keeps nonces unique and unguessable.
fn lease_nonce(now: SystemTime) -> Result<String> {
    let mut buf = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| Error::invalid("the system random number generator failed"))?;
    let millis = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    // 48 bits of milliseconds last until the year 10889.
    let millis = u64::try_from(millis).unwrap_or(u64::MAX) & 0xffff_ffff_ffff;
    Ok(format!(
        "{millis:012x}{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, buf)
    ))
}

/// Unix nanoseconds (0 before the epoch).
pub(crate) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(duration_nanos)
        .unwrap_or(0)
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_by_expiry() {
        let a = time_key(5, "zzz");
        let b = time_key(40, "aaa");
        let c = time_key(1_700_000_000_000_000_000, "aaa");
        assert!(a < b && b < c);
        // The reaper's bound includes every lease expiring exactly at `now`.
        assert!(time_key(40, "zz_-") < format!("time/{:020}/~", 40));
    }

    #[test]
    fn nonces_sort_by_issue_time_and_are_unique() {
        let early = from_nanos(1_700_000_000_000_000_000);
        let later = early + Duration::from_millis(1);
        let first = lease_nonce(early).expect("random bytes");
        let second = lease_nonce(early).expect("random bytes");
        let third = lease_nonce(later).expect("random bytes");
        assert_ne!(first, second);
        assert_eq!(first.len(), 28);
        assert!(
            first.clone().max(second) < third,
            "a later lease sorts after"
        );
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{first}"
        );
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let delays: Vec<u64> = (1..=12).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        let mut record = sample();
        let start = from_nanos(100_000_000_000);
        for attempt in 1..=MAX_REVOKE_ATTEMPTS {
            record = record.failed_release("database down:\nconnection refused", start);
            let failure = record
                .revocation
                .clone()
                .unwrap_or_else(|| panic!("marked"));
            assert_eq!(failure.attempts, attempt);
            assert_eq!(failure.last_error, "database down: connection refused");
            assert!(!record.is_active(start));
            if attempt < MAX_REVOKE_ATTEMPTS {
                assert_eq!(failure.next_attempt(), Some(start + retry_delay(attempt)));
                assert!(record.time_key().is_some());
            } else {
                assert_eq!(failure.next_attempt(), None, "irrevocable");
                assert_eq!(record.time_key(), None);
            }
        }
        let long = "x".repeat(2000);
        let kept = sample().failed_release(&long, start);
        assert_eq!(
            kept.revocation.map(|f| f.last_error.len()),
            Some(MAX_ERROR_LEN)
        );
    }

    #[test]
    fn records_without_a_failure_encode_as_before() {
        let bytes = crate::record::encode(&sample());
        assert!(!String::from_utf8_lossy(&bytes).contains("revocation"));
    }

    fn sample() -> LeaseRecord {
        LeaseRecord {
            id: "db/creds/x/n".into(),
            namespace: ROOT_NAMESPACE.into(),
            mount_accessor: "a".into(),
            issued_nanos: 0,
            expires_nanos: 10_000_000_000,
            max_expires_nanos: 20_000_000_000,
            renewed_nanos: None,
            renewable: true,
            identity_kind: "agent".into(),
            identity_name: "bot".into(),
            purpose: None,
            internal: Map::new(),
            revocation: None,
        }
    }

    #[test]
    fn ids_that_could_escape_are_not_looked_up() {
        for bad in ["", "/x", "a/../b", "a//b", "./a"] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert!(valid_id("credentials/x/lease/abc"));
    }

    #[test]
    fn remaining_rounds_up_and_stops_at_zero() {
        let record = LeaseRecord {
            id: "credentials/x/lease/n".into(),
            namespace: ROOT_NAMESPACE.into(),
            mount_accessor: "a".into(),
            issued_nanos: 0,
            expires_nanos: 10_500_000_000,
            max_expires_nanos: 20_000_000_000,
            renewed_nanos: None,
            renewable: true,
            identity_kind: "agent".into(),
            identity_name: "bot".into(),
            purpose: None,
            internal: Map::new(),
            revocation: None,
        };
        assert_eq!(record.remaining(from_nanos(10_000_000_000)), 1);
        assert_eq!(record.remaining(from_nanos(11_000_000_000)), 0);
        assert!(!record.is_active(from_nanos(10_500_000_000)));
        assert_eq!(record.nonce(), "n");
    }
}
