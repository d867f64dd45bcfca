//! High availability: the optional ability of a backend several nodes share to elect one active
//! node (a lock row with a lease) and to tell nodes when cached records changed (a counter per
//! cache kind, bumped in the same transaction as the write).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// Names the cache a storage key belongs to (`Some("tokens")`), or `None` when no node caches
/// it. Given by the layer that knows what keys mean; the backend only counts.
pub type ChangeClassifier = fn(&str) -> Option<&'static str>;

/// One node as the lock row names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaNode {
    /// A random id, unique per process.
    pub id: String,
    /// The address clients use for this node's API.
    pub api_addr: String,
    /// The address other nodes use for this node (informational).
    pub cluster_addr: String,
}

/// Who holds the active lock after a [`HaBackend::hold_lock`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaLeader {
    /// The holder.
    pub node: HaNode,
    /// Whether the holder is the calling node.
    pub is_self: bool,
}

/// A backend that several nodes share and that can elect one of them.
#[async_trait]
pub trait HaBackend: Send + Sync + 'static {
    /// Takes the active lock for `node` when it is free or expired, or renews it when `node`
    /// holds it, for `ttl` measured on the database's clock; returns the holder either way.
    async fn hold_lock(&self, node: &HaNode, ttl: Duration) -> Result<HaLeader>;

    /// Gives the lock up if `node_id` holds it (at shutdown or seal), so a standby need not
    /// wait for the lease to run out.
    async fn release_lock(&self, node_id: &str) -> Result<()>;

    /// The change counter of every cache kind written so far.
    async fn change_counters(&self) -> Result<BTreeMap<String, i64>>;
}
