//! Leases: time-limited handles that engines issue on their secrets (a credential lease names
//! the credential version it serves). The store is durable and keeps nothing in memory:
//!
//! - `id/<namespace>/<lease id>` → the [`LeaseRecord`] (behind the barrier);
//! - `time/<expiry unix nanos, 20 digits>/<nonce>` → the record key, so the reaper finds what is
//!   due in order without reading every lease;
//! - `who/<hex of kind:name>/<nonce>` → the record key, for the per-identity list and the kill
//!   switch.
//!
//! A lease and its two index entries are written and removed in one transaction, so a crash
//! neither loses a lease nor leaves one that cannot be found.

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

    /// Whether it is still valid at `now`.
    pub fn is_active(&self, now: SystemTime) -> bool {
        nanos(now) < self.expires_nanos
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

    fn time_key(&self) -> String {
        time_key(self.expires_nanos, self.nonce())
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
        self.view
            .transaction(vec![
                BarrierOp::Put {
                    path: key.clone(),
                    value: crate::record::encode(record).into(),
                },
                BarrierOp::Put {
                    path: record.time_key(),
                    value: key.clone().into_bytes().into(),
                },
                BarrierOp::Put {
                    path: record.who_key(),
                    value: key.into_bytes().into(),
                },
            ])
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
        let ops = records
            .iter()
            .flat_map(|r| {
                [
                    BarrierOp::Delete { path: r.key() },
                    BarrierOp::Delete { path: r.time_key() },
                    BarrierOp::Delete { path: r.who_key() },
                ]
            })
            .collect();
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)
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
        self.view
            .transaction(vec![
                BarrierOp::Delete {
                    path: record.time_key(),
                },
                BarrierOp::Put {
                    path: renewed.time_key(),
                    value: key.clone().into_bytes().into(),
                },
                BarrierOp::Put {
                    path: key,
                    value: crate::record::encode(&renewed).into(),
                },
            ])
            .await
            .map_err(Error::from_barrier)?;
        Ok(renewed)
    }

    /// Up to one batch of leases whose expiry is at or before `now`, oldest first. Index
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
                Some(record) if record.time_key() == key => out.push(record),
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
        }
    }

    /// Issues a lease at `now`; it is durable when this returns.
    pub async fn issue(&self, spec: LeaseSpec, now: SystemTime) -> Result<LeaseRecord> {
        let nonce = random_nonce()?;
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
            .filter(|r| r.mount_accessor == self.mount_accessor))
    }

    /// This mount's leases below `path` (a folder below the mount, e.g. `stripe/lease/`).
    pub async fn list(&self, path: &str) -> Result<Vec<LeaseRecord>> {
        let prefix = format!("{}{}", self.mount_path, folder(path));
        Ok(self
            .store
            .list_prefix(&self.namespace, &prefix)
            .await?
            .into_iter()
            .filter(|r| r.mount_accessor == self.mount_accessor)
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
                if record.mount_accessor == self.mount_accessor && matches(record) {
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

fn who_key(kind: &str, name: &str, nonce: &str) -> String {
    format!("who/{}/{nonce}", identity_hex(kind, name))
}

fn identity_hex(kind: &str, name: &str) -> String {
    hex::encode(format!("{kind}:{name}"))
}

fn random_nonce() -> Result<String> {
    let mut buf = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| Error::invalid("the system random number generator failed"))?;
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        buf,
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
        };
        assert_eq!(record.remaining(from_nanos(10_000_000_000)), 1);
        assert_eq!(record.remaining(from_nanos(11_000_000_000)), 0);
        assert!(!record.is_active(from_nanos(10_500_000_000)));
        assert_eq!(record.nonce(), "n");
    }
}
