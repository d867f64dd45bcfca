//! High availability on a shared backend (PostgreSQL with `ha_enabled`): every node serves
//! reads and writes from the database; one *active* node, holding a lock row with a lease,
//! runs the background jobs. Caches of records other nodes may change (the barrier's keyring,
//! mount tables, policies, namespaces, identities, grants, audit devices, tokens) follow the
//! backend's change counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_storage::{HaBackend, HaNode};

/// How long the active lock lasts without renewal (judged on the database's clock).
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(10);
/// How often a node takes or renews the lock.
pub(crate) const LOCK_INTERVAL: Duration = Duration::from_secs(2);
/// How often a node polls the change counters.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// An active node stops acting this long before its lease could have run out, in case its
/// last renewal failed silently or the clocks drift.
const SAFETY_MARGIN: Duration = Duration::from_secs(3);

/// The cache kind of tokens (their entries are cached per namespace).
pub(crate) const TOKENS: &str = "tokens";
/// The cache kind of the barrier's keyring (rotated on another node).
pub(crate) const KEYRING: &str = "keyring";
/// The cache kind of audit devices.
pub(crate) const AUDIT: &str = "audit";
/// The cache kind of everything else loaded at unseal: mount tables, policies, namespaces,
/// identities and grants.
pub(crate) const CONFIG: &str = "config";

/// Which cache a storage key belongs to: the classifier a shared backend bumps counters with.
/// Keys inside a namespace (`namespaces/<uuid>/…`) are classified by what follows.
pub fn cache_kind(key: &str) -> Option<&'static str> {
    let local = key
        .strip_prefix("namespaces/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(key, |(_, below)| below);
    if key == "core/keyring" {
        Some(KEYRING)
    } else if local.starts_with("sys/token/") {
        Some(TOKENS)
    } else if local.starts_with("core/audit/") {
        Some(AUDIT)
    } else if local == "core/mounts"
        || local == "core/auth"
        || local.starts_with("core/namespaces/")
        || local.starts_with("sys/policy/")
        || local.starts_with("identity/")
        || local.starts_with("sys/grants/")
    {
        Some(CONFIG)
    } else {
        None
    }
}

/// This node's addresses, as `sys/leader` reports them to the others.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// The API address (`api_addr`, or the listener's).
    pub api_addr: String,
    /// The cluster address (`cluster_addr`, or the API address).
    pub cluster_addr: String,
}

/// What `sys/leader` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderStatus {
    /// Whether HA is enabled.
    pub ha_enabled: bool,
    /// Whether this node is the active one.
    pub is_self: bool,
    /// The active node's API address (empty when unknown).
    pub leader_address: String,
    /// The active node's cluster address (empty when unknown).
    pub leader_cluster_address: String,
}

/// One node's HA state.
pub(crate) struct Ha {
    pub(crate) backend: Arc<dyn HaBackend>,
    pub(crate) node: HaNode,
    active: AtomicBool,
    /// When the lock was last taken or renewed by this node.
    renewed: Mutex<Option<Instant>>,
    leader: Mutex<Option<HaNode>>,
    /// The change counters the caches were last loaded or refreshed at (`None` while sealed).
    pub(crate) seen: Mutex<Option<BTreeMap<String, i64>>>,
}

impl Ha {
    pub(crate) fn new(backend: Arc<dyn HaBackend>, config: HaConfig) -> Self {
        Self {
            backend,
            node: HaNode {
                id: uuid::Uuid::new_v4().to_string(),
                api_addr: config.api_addr,
                cluster_addr: config.cluster_addr,
            },
            active: AtomicBool::new(false),
            renewed: Mutex::new(None),
            leader: Mutex::new(None),
            seen: Mutex::new(None),
        }
    }

    /// Whether this node holds the lock with time to spare.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
            && self
                .renewed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| at.elapsed() + SAFETY_MARGIN < LOCK_TTL)
    }

    /// Takes or renews the lock; on failure this node stops being active.
    pub(crate) async fn hold(&self) {
        let started = Instant::now();
        match self.backend.hold_lock(&self.node, LOCK_TTL).await {
            Ok(leader) => {
                let was = self.active.swap(leader.is_self, Ordering::SeqCst);
                if leader.is_self {
                    *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
                    if !was {
                        tracing::info!(node = %self.node.id, "this node is now the active node");
                    }
                } else if was {
                    tracing::warn!(node = %self.node.id, "lost the active lock; now a standby");
                }
                *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = Some(leader.node);
            }
            Err(error) => {
                if self.active.swap(false, Ordering::SeqCst) {
                    tracing::warn!(%error, "cannot renew the active lock; now a standby");
                } else {
                    tracing::warn!(%error, "cannot read the active lock");
                }
            }
        }
    }

    /// Gives the lock up (sealed or shutting down).
    pub(crate) async fn release(&self) {
        if self.active.swap(false, Ordering::SeqCst) {
            *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = None;
            if let Err(error) = self.backend.release_lock(&self.node.id).await {
                tracing::warn!(%error, "cannot release the active lock; it expires on its own");
            }
        }
    }

    pub(crate) fn status(&self) -> LeaderStatus {
        let leader = self
            .leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let is_self = self.is_active();
        let (leader_address, leader_cluster_address) = match leader {
            Some(node) => (node.api_addr, node.cluster_addr),
            None if is_self => (self.node.api_addr.clone(), self.node.cluster_addr.clone()),
            None => (String::new(), String::new()),
        };
        LeaderStatus {
            ha_enabled: true,
            is_self,
            leader_address,
            leader_cluster_address,
        }
    }
}

/// The kinds whose counter differs between `before` and `now`.
pub(crate) fn changed_kinds(
    before: &BTreeMap<String, i64>,
    now: &BTreeMap<String, i64>,
) -> Vec<String> {
    now.iter()
        .filter(|(kind, counter)| before.get(*kind) != Some(counter))
        .map(|(kind, _)| kind.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_the_caches_that_hold_them() {
        let cases = [
            ("sys/token/id/abc", Some(TOKENS)),
            ("namespaces/1234-5678/sys/token/accessor/x", Some(TOKENS)),
            ("core/mounts", Some(CONFIG)),
            ("namespaces/u/core/auth", Some(CONFIG)),
            ("core/namespaces/u", Some(CONFIG)),
            ("sys/policy/admin", Some(CONFIG)),
            ("namespaces/u/sys/policy/admin", Some(CONFIG)),
            ("identity/entity/e", Some(CONFIG)),
            ("sys/grants/g", Some(CONFIG)),
            ("core/audit/file", Some(AUDIT)),
            ("core/keyring", Some(KEYRING)),
            ("namespaces/u/core/keyring", None),
            ("logical/uuid/data/x", None),
            ("sys/expire/root/lease", None),
            ("core/mounts-other", None),
            ("namespaces/u/logical/v/sys/token/x", None),
        ];
        for (key, expected) in cases {
            assert_eq!(cache_kind(key), expected, "{key}");
        }
    }

    #[test]
    fn changed_kinds_include_new_and_bumped_counters() {
        let before = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        let now = BTreeMap::from([
            ("a".to_owned(), 1),
            ("b".to_owned(), 3),
            ("c".to_owned(), 1),
        ]);
        assert_eq!(changed_kinds(&before, &now), vec!["b", "c"]);
    }
}
