//! One Coffer node's core: the storage, the barrier over it, the seal lifecycle, and — while
//! unsealed — the token store and policy store. Requests enter through [`Core::handle`]
//! (`pipeline.rs`); lifecycle calls (`init`, `unseal`, `seal`) are methods here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use coffer_barrier::shamir::{self, Share};
use coffer_barrier::{Barrier, RootKey};
use coffer_storage::Storage;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::grants::GrantStore;
use crate::ha::{self, Ha, HaConfig, LeaderStatus};
use crate::identity::IdentityStore;
use crate::lease::LeaseStore;
use crate::mount::{EngineRegistry, MountRequest};
use crate::namespace::Namespaces;
use crate::notifier::Notifiers;
use crate::reminder::ReminderLog;
use crate::request::ClientToken;
use crate::seal::{
    AutoUnsealKey, ClusterInfo, InitParams, InitResult, SealConfig, SealStatus, UnsealProgress,
};
use crate::token::TokenRequest;
use crate::ttl::Ttl;
use crate::{Error, Result};

const CLUSTER_PATH: &str = "core/cluster";
/// How often the background task delivers reminders (rotation due, values expiring).
const REMINDER_INTERVAL: Duration = Duration::from_secs(60);

/// How a core is built.
pub struct CoreConfig {
    /// Physical storage.
    pub storage: Storage,
    /// The clock (the system clock in production, a manual one in tests).
    pub clock: Arc<dyn Clock>,
    /// The unattended-unseal key, if configured.
    pub auto_unseal: Option<AutoUnsealKey>,
    /// The secrets engines this node can mount.
    pub engines: EngineRegistry,
    /// Audit devices declared in the server configuration (they cannot be disabled over the API).
    pub audit_devices: Vec<coffer_audit::DeviceConfig>,
    /// This node's addresses for HA; used when the storage can elect an active node.
    pub ha: Option<HaConfig>,
}

/// What `sys/health` reports.
#[derive(Debug, Clone)]
pub struct HealthStatus {
    /// Whether the server is initialized.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Whether this node is an unsealed HA standby.
    pub standby: bool,
    /// The server's clock.
    pub server_time: SystemTime,
    /// Cluster name and id when unsealed.
    pub cluster: Option<ClusterInfo>,
}

/// What dev mode prints at start.
pub struct DevInit {
    /// The single unseal key.
    pub unseal_key: Share,
    /// The root token.
    pub root_token: ClientToken,
}

/// What exists only while unsealed. Audit devices, identities and grants are global; mounts,
/// auth methods, policies and tokens belong to a namespace (`namespaces`).
pub(crate) struct Unsealed {
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) grants: GrantStore,
    pub(crate) identity: IdentityStore,
    pub(crate) namespaces: Namespaces,
    /// Leases of every namespace (each record names its namespace).
    pub(crate) leases: LeaseStore,
    pub(crate) notifiers: Arc<Notifiers>,
    pub(crate) reminders: Arc<ReminderLog>,
    pub(crate) cluster: ClusterInfo,
}

#[derive(Default)]
struct Lifecycle {
    progress: UnsealProgress,
}

#[derive(Serialize, Deserialize)]
struct ClusterRecord {
    name: String,
    id: String,
}

/// One node's core.
pub struct Core {
    storage: Storage,
    barrier: Arc<Barrier>,
    clock: Arc<dyn Clock>,
    auto_unseal: Option<AutoUnsealKey>,
    engines: EngineRegistry,
    audit_devices: Vec<coffer_audit::DeviceConfig>,
    lifecycle: Mutex<Lifecycle>,
    state: RwLock<Option<Arc<Unsealed>>>,
    /// HA on a shared backend; `None` for a single node.
    ha: Option<Ha>,
    /// Set when the auto-unseal key found nothing to unseal at start (the store was not
    /// initialized yet): an HA node keeps trying, so it joins once another node initializes.
    auto_unseal_pending: AtomicBool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("storage", &self.storage)
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl Core {
    /// Builds a core over storage. When an auto-unseal key is configured and the server is
    /// initialized, it unseals before returning.
    pub async fn new(config: CoreConfig) -> Result<Arc<Core>> {
        let barrier = Arc::new(Barrier::new(config.storage.clone()));
        let ha = match (config.storage.ha(), config.ha) {
            (Some(backend), Some(addresses)) => Some(Ha::new(backend.clone(), addresses)),
            _ => None,
        };
        let core = Arc::new(Core {
            storage: config.storage,
            barrier,
            clock: config.clock,
            auto_unseal: config.auto_unseal,
            engines: config.engines,
            audit_devices: config.audit_devices,
            lifecycle: Mutex::new(Lifecycle::default()),
            state: RwLock::new(None),
            ha,
            auto_unseal_pending: AtomicBool::new(false),
        });
        if !core.try_auto_unseal().await? && core.auto_unseal.is_some() {
            core.auto_unseal_pending.store(true, Ordering::SeqCst);
        }
        Ok(core)
    }

    /// Unseals with the auto-unseal key when one is configured and the store holds its copy of
    /// the root key; returns whether it unsealed.
    async fn try_auto_unseal(&self) -> Result<bool> {
        if let Some(key) = &self.auto_unseal
            && let Some(root) = key.load_root(&self.storage).await?
        {
            let core = self;
            core.barrier.unseal(&root).await.map_err(|e| match e {
                    coffer_barrier::Error::WrongKey => Error::invalid(
                        "the auto-unseal copy of the root key does not open the keyring: storage and key do not match",
                    ),
                    other => Error::from_barrier(other),
                })?;
            core.post_unseal().await?;
            tracing::info!("unsealed with the auto-unseal key");
            return Ok(true);
        }
        Ok(false)
    }

    /// The barrier (for the sys backend).
    pub(crate) fn barrier(&self) -> &Barrier {
        &self.barrier
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The storage kind (`sqlite`, `postgresql`, `inmem`).
    pub fn storage_type(&self) -> &'static str {
        self.storage.kind()
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    pub(crate) fn unsealed(&self) -> Result<Arc<Unsealed>> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(Error::Sealed)
    }

    async fn post_unseal(&self) -> Result<Arc<Unsealed>> {
        // Read before the caches load, so a change made meanwhile is seen as one.
        let counters = match &self.ha {
            Some(ha) => Some(ha.backend.change_counters().await?),
            None => None,
        };
        let cluster = match self
            .barrier
            .get(CLUSTER_PATH)
            .await
            .map_err(Error::from_barrier)?
        {
            Some(bytes) => {
                let record: ClusterRecord = crate::record::decode(&bytes, CLUSTER_PATH)?;
                ClusterInfo {
                    name: record.name,
                    id: record.id,
                }
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let name = format!("coffer-cluster-{}", &id[..8]);
                let bytes = crate::record::encode(&ClusterRecord {
                    name: name.clone(),
                    id: id.clone(),
                });
                self.barrier
                    .put(CLUSTER_PATH, &bytes)
                    .await
                    .map_err(Error::from_barrier)?;
                ClusterInfo { name, id }
            }
        };
        let namespaces =
            Namespaces::load(&self.barrier, self.clock.clone(), self.engines.clone()).await?;
        let identity = IdentityStore::load(self.barrier.view("identity/")).await?;
        let grants = GrantStore::load(self.barrier.view("sys/grants/")).await?;
        let audit = AuditLog::load(self.barrier.view("core/audit/"), &self.audit_devices).await?;
        let state = Arc::new(Unsealed {
            audit: Arc::new(audit),
            grants,
            identity,
            namespaces,
            leases: LeaseStore::new(self.barrier.view("sys/expire/")),
            notifiers: Arc::new(Notifiers::new(
                self.barrier.view("sys/notifiers/"),
                self.clock.clone(),
            )),
            reminders: Arc::new(ReminderLog::new(self.barrier.view("sys/reminders/"))),
            cluster,
        });
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
        if let Some(ha) = &self.ha {
            *ha.seen.lock().unwrap_or_else(|p| p.into_inner()) = counters;
        }
        Ok(state)
    }

    /// Whether `sys/init` has run.
    pub async fn is_initialized(&self) -> Result<bool> {
        self.barrier
            .is_initialized()
            .await
            .map_err(Error::from_barrier)
    }

    /// `sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let lifecycle = self.lifecycle.lock().await;
        self.seal_status_locked(&lifecycle).await
    }

    async fn seal_status_locked(&self, lifecycle: &Lifecycle) -> Result<SealStatus> {
        let initialized = self.is_initialized().await?;
        let config = if initialized {
            SealConfig::load(&self.storage).await?
        } else {
            None
        };
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(SealStatus {
            initialized,
            sealed: state.is_none(),
            threshold: config.map(|c| c.threshold).unwrap_or(0),
            shares: config.map(|c| c.shares).unwrap_or(0),
            progress: lifecycle.progress.progress(),
            nonce: lifecycle.progress.nonce().to_owned(),
            cluster: state.map(|s| s.cluster.clone()),
            storage_type: self.storage.kind(),
        })
    }

    /// `sys/health`.
    pub async fn health(&self) -> Result<HealthStatus> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let initialized = match &state {
            Some(_) => true,
            None => self.is_initialized().await?,
        };
        Ok(HealthStatus {
            initialized,
            sealed: state.is_none(),
            standby: state.is_some() && !self.is_active(),
            server_time: self.clock.now(),
            cluster: state.map(|s| s.cluster.clone()),
        })
    }

    /// Whether this node runs the background jobs: always without HA; with HA, while it holds
    /// the active lock.
    pub fn is_active(&self) -> bool {
        self.ha.as_ref().is_none_or(Ha::is_active)
    }

    /// `sys/leader`.
    pub fn leader(&self) -> LeaderStatus {
        match &self.ha {
            Some(ha) => ha.status(),
            None => LeaderStatus {
                ha_enabled: false,
                is_self: false,
                leader_address: String::new(),
                leader_cluster_address: String::new(),
            },
        }
    }

    /// `sys/init`: creates the root key, splits it, creates the keyring and the root token.
    /// The server stays sealed afterwards unless an auto-unseal key is configured.
    pub async fn init(&self, params: InitParams) -> Result<InitResult> {
        let mut lifecycle = self.lifecycle.lock().await;
        let (shares, root_token) = self.initialize(params.seal, None).await?;
        if self.auto_unseal.is_none() {
            self.seal_locked(&mut lifecycle);
        }
        Ok(InitResult { shares, root_token })
    }

    async fn initialize(
        &self,
        seal: SealConfig,
        root_token_id: Option<String>,
    ) -> Result<(Vec<Share>, ClientToken)> {
        if self.is_initialized().await? {
            return Err(Error::AlreadyInitialized);
        }
        let root = RootKey::generate()?;
        let shares = shamir::split(&root, seal.shares, seal.threshold)
            .map_err(|e| Error::invalid(e.to_string()))?;
        seal.store(&self.storage).await?;
        self.barrier.initialize(&root).await.map_err(|e| match e {
            coffer_barrier::Error::AlreadyInitialized => Error::AlreadyInitialized,
            other => Error::from_barrier(other),
        })?;
        self.barrier
            .unseal(&root)
            .await
            .map_err(Error::from_barrier)?;
        let state = self.post_unseal().await?;
        let issued = state
            .namespaces
            .root()
            .tokens
            .create(
                TokenRequest {
                    policies: vec!["root".into()],
                    meta: Default::default(),
                    display_name: "root".into(),
                    num_uses: 0,
                    ttl: Ttl::ZERO,
                    explicit_max_ttl: Ttl::ZERO,
                    period: Ttl::ZERO,
                    renewable: false,
                    path: "auth/token/root".into(),
                    id: root_token_id.map(ClientToken::new),
                    identity: None,
                    entity_id: String::new(),
                },
                None,
            )
            .await?;
        if let Some(key) = &self.auto_unseal {
            key.store_root(&self.storage, &root).await?;
        }
        tracing::info!(
            shares = seal.shares,
            threshold = seal.threshold,
            "initialized"
        );
        Ok((shares, issued.token))
    }

    /// Dev mode: initializes with one share, stays unsealed, and uses `root_token_id` as the root
    /// token when given.
    pub async fn dev_init(&self, root_token_id: Option<String>) -> Result<DevInit> {
        let _lifecycle = self.lifecycle.lock().await;
        let seal = SealConfig::new(1, 1)?;
        let (mut shares, root_token) = self.initialize(seal, root_token_id).await?;
        let unseal_key = shares
            .pop()
            .ok_or_else(|| Error::invalid("dev init produced no unseal key"))?;
        // Like Vault's dev mode: `secret/` is a KV version 2 mount.
        let state = self.unsealed()?;
        let root = state.namespaces.root();
        if root.mounts.find_exact("secret/").is_none() {
            let mut options = std::collections::BTreeMap::new();
            options.insert("version".to_owned(), "2".to_owned());
            let request = MountRequest {
                path: "secret/".into(),
                kind: "kv".into(),
                description: "key/value secret storage".into(),
                options,
                default_lease_ttl: 0,
                max_lease_ttl: 0,
                local: false,
                seal_wrap: false,
            };
            root.mounts.mount(request, false).await?;
        }
        Ok(DevInit {
            unseal_key,
            root_token,
        })
    }

    /// `sys/unseal` with one share: adds it to the attempt and unseals at the threshold.
    pub async fn unseal(&self, key_text: &str) -> Result<SealStatus> {
        let mut lifecycle = self.lifecycle.lock().await;
        if !self.is_initialized().await? {
            return Err(Error::NotInitialized);
        }
        if !self.is_sealed() {
            return self.seal_status_locked(&lifecycle).await;
        }
        let config =
            SealConfig::load(&self.storage)
                .await?
                .ok_or_else(|| Error::CorruptRecord {
                    path: "core/seal-config".into(),
                    reason: "initialized but the seal configuration is missing".into(),
                })?;
        let share = Share::parse(key_text)
            .map_err(|e| Error::InvalidUnsealKey(strip_invalid_key(e.to_string())))?;
        lifecycle.progress.add(share);
        if lifecycle.progress.progress() < usize::from(config.threshold) {
            return self.seal_status_locked(&lifecycle).await;
        }
        let root = lifecycle.progress.take_key()?;
        match self.barrier.unseal(&root).await {
            Ok(()) => {}
            Err(coffer_barrier::Error::WrongKey) => return Err(Error::WrongUnsealKeys),
            Err(other) => return Err(Error::from_barrier(other)),
        }
        self.post_unseal().await?;
        if let Some(key) = &self.auto_unseal {
            key.store_root(&self.storage, &root).await?;
        }
        tracing::info!("unsealed");
        self.seal_status_locked(&lifecycle).await
    }

    /// `sys/unseal` with `reset`: forgets the shares of the current attempt.
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        let mut lifecycle = self.lifecycle.lock().await;
        lifecycle.progress.reset();
        self.seal_status_locked(&lifecycle).await
    }

    /// Seals: drops the keyring and everything derived from it.
    pub async fn seal_now(&self) -> Result<()> {
        let mut lifecycle = self.lifecycle.lock().await;
        self.seal_locked(&mut lifecycle);
        self.auto_unseal_pending.store(false, Ordering::SeqCst);
        if let Some(ha) = &self.ha {
            ha.release().await;
        }
        tracing::info!("sealed");
        Ok(())
    }

    fn seal_locked(&self, lifecycle: &mut Lifecycle) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(ha) = &self.ha {
            *ha.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        self.barrier.seal();
        lifecycle.progress.reset();
    }

    /// Revokes expired tokens now; returns how many were found. The background task calls this
    /// on a timer; tests call it after moving a manual clock.
    pub async fn reap_expired(&self) -> Result<usize> {
        match self.unsealed() {
            Ok(state) => {
                let mut reaped = state.grants.reap_expired(self.clock.now()).await?;
                reaped += self.reap_leases(&state).await?;
                for namespace in state.namespaces.all() {
                    reaped += namespace.tokens.reap_expired().await?;
                }
                Ok(reaped)
            }
            Err(_) => Ok(0),
        }
    }

    /// Ends every lease due at the clock's time (expired, or a failed release whose next
    /// attempt has come), one batch (one transaction) at a time, telling each lease's engine;
    /// returns how many were released. A release that fails again is rescheduled after `now`,
    /// so one pass tries each lease at most once.
    async fn reap_leases(&self, state: &Unsealed) -> Result<usize> {
        let now = self.clock.now();
        let mut released = 0;
        loop {
            let due = state.leases.due(now).await?;
            if due.is_empty() {
                return Ok(released);
            }
            released += crate::sys_leases::end(state, due, now).await?.released;
            // Let requests run between batches (an in-memory store never makes this wait).
            tokio::task::yield_now().await;
        }
    }

    /// Delivers the reminders due at the clock's time (rotation due or overdue, values expiring
    /// or expired) that were not delivered before: each is written to the audit log, then
    /// POSTed to the webhook notifiers in the background. Returns how many were new (0 while
    /// sealed). The background task calls this every minute; tests call it after moving a manual
    /// clock.
    pub async fn deliver_reminders(&self) -> Result<usize> {
        match self.unsealed() {
            Ok(state) => crate::reminder::deliver(&state, self.clock.now()).await,
            Err(_) => Ok(0),
        }
    }

    /// Waits until every webhook delivery started so far has finished (delivered, or given up
    /// after its retries).
    pub async fn wait_for_webhooks(&self) {
        if let Ok(state) = self.unsealed() {
            state.notifiers.settle().await;
        }
    }

    /// Runs the background jobs until `shutdown` resolves: expiry every `interval`, and reminder
    /// delivery every minute, side by side (a slow webhook receiver never delays expiry).
    pub async fn run_background(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let reaper = async {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if !self.is_active() {
                    continue;
                }
                match self.reap_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "revoked expired tokens"),
                    Err(error) => tracing::warn!(%error, "reaping expired tokens failed"),
                }
            }
        };
        let reminders = async {
            let mut ticker = tokio::time::interval(REMINDER_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if !self.is_active() {
                    continue;
                }
                match self.deliver_reminders().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "reminders delivered"),
                    Err(error) => tracing::warn!(%error, "delivering reminders failed"),
                }
            }
        };
        let election = async {
            let mut ticker = tokio::time::interval(ha::LOCK_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                self.ha_tick().await;
            }
        };
        let watcher = async {
            let mut ticker = tokio::time::interval(ha::WATCH_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = self.refresh_caches().await {
                    tracing::warn!(%error, "refreshing caches from the shared storage failed");
                }
            }
        };
        if self.ha.is_some() {
            tokio::select! {
                () = shutdown => {}
                () = reaper => {}
                () = reminders => {}
                () = election => {}
                () = watcher => {}
            }
        } else {
            tokio::select! {
                () = shutdown => {}
                () = reaper => {}
                () = reminders => {}
            }
        }
    }

    /// One election round: a sealed node joins once another node initialized the store (with
    /// the auto-unseal key) and otherwise never holds the lock; an unsealed one takes or renews
    /// it.
    async fn ha_tick(&self) {
        let Some(ha) = &self.ha else { return };
        if self.is_sealed() && self.auto_unseal_pending.load(Ordering::SeqCst) {
            let _lifecycle = self.lifecycle.lock().await;
            if self.is_sealed() && self.auto_unseal_pending.load(Ordering::SeqCst) {
                match self.try_auto_unseal().await {
                    Ok(true) => self.auto_unseal_pending.store(false, Ordering::SeqCst),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "auto-unseal failed"),
                }
            }
        }
        if self.is_sealed() {
            ha.release().await;
        } else {
            ha.hold().await;
        }
    }

    /// Reloads what other nodes changed since the caches were loaded: the keyring is read
    /// again, token caches are dropped, and mount tables, policies, namespaces, identities and grants (and audit
    /// devices) are loaded again. A no-op without HA or while sealed.
    pub async fn refresh_caches(&self) -> Result<()> {
        let Some(ha) = &self.ha else { return Ok(()) };
        // The lifecycle lock keeps a seal from racing the swap below.
        let _lifecycle = self.lifecycle.lock().await;
        let Ok(state) = self.unsealed() else {
            return Ok(());
        };
        let Some(before) = ha.seen.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        let now = ha.backend.change_counters().await?;
        let changed = ha::changed_kinds(&before, &now);
        if changed.is_empty() {
            return Ok(());
        }
        if changed.iter().any(|kind| kind == ha::KEYRING) {
            self.barrier
                .reload_keyring()
                .await
                .map_err(Error::from_barrier)?;
        }
        let config = changed.iter().any(|kind| kind == ha::CONFIG);
        let audit = changed.iter().any(|kind| kind == ha::AUDIT);
        let tokens = changed.iter().any(|kind| kind == ha::TOKENS);
        if config || audit {
            let namespaces =
                Namespaces::load(&self.barrier, self.clock.clone(), self.engines.clone()).await?;
            let identity = IdentityStore::load(self.barrier.view("identity/")).await?;
            let grants = GrantStore::load(self.barrier.view("sys/grants/")).await?;
            let audit_log = if audit {
                Arc::new(
                    AuditLog::load(self.barrier.view("core/audit/"), &self.audit_devices).await?,
                )
            } else {
                state.audit.clone()
            };
            let fresh = Arc::new(Unsealed {
                audit: audit_log,
                grants,
                identity,
                namespaces,
                leases: state.leases.clone(),
                notifiers: state.notifiers.clone(),
                reminders: state.reminders.clone(),
                cluster: state.cluster.clone(),
            });
            *self.state.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
            tracing::debug!(?changed, "reloaded caches changed by another node");
        } else if tokens {
            for namespace in state.namespaces.all() {
                namespace.tokens.forget_cached();
            }
        }
        *ha.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        Ok(())
    }

    /// SIGHUP: reopens audit files (for log rotation).
    pub async fn reopen_audit(&self) {
        if let Ok(state) = self.unsealed() {
            state.audit.reopen().await;
        }
    }

    /// Audit devices whose last write failed, with the error (for `sys/health`).
    pub fn failing_audit_devices(&self) -> Vec<(String, String)> {
        self.unsealed()
            .map(|state| state.audit.failing())
            .unwrap_or_default()
    }

    /// Seals and closes storage; call once at shutdown after in-flight requests finished.
    pub async fn shutdown(&self) -> Result<()> {
        {
            let mut lifecycle = self.lifecycle.lock().await;
            self.seal_locked(&mut lifecycle);
        }
        if let Some(ha) = &self.ha {
            ha.release().await;
        }
        self.storage.close().await?;
        Ok(())
    }
}

pub(crate) fn strip_invalid_key(message: String) -> String {
    let text: Zeroizing<String> = Zeroizing::new(message);
    text.trim_start_matches("invalid key: ").to_owned()
}
