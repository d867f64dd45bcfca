//! One Coffer node's core: the storage, the barrier over it, the seal lifecycle, and — while
//! unsealed — the token store and policy store. Requests enter through [`Core::handle`]
//! (`pipeline.rs`); lifecycle calls (`init`, `unseal`, `seal`) are methods here.

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
}

/// What `sys/health` reports.
#[derive(Debug, Clone)]
pub struct HealthStatus {
    /// Whether the server is initialized.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Whether this node is a standby (always false until HA exists).
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
    pub(crate) audit: AuditLog,
    pub(crate) grants: GrantStore,
    pub(crate) identity: IdentityStore,
    pub(crate) namespaces: Namespaces,
    /// Leases of every namespace (each record names its namespace).
    pub(crate) leases: LeaseStore,
    pub(crate) notifiers: Notifiers,
    pub(crate) reminders: ReminderLog,
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
        let core = Arc::new(Core {
            storage: config.storage,
            barrier,
            clock: config.clock,
            auto_unseal: config.auto_unseal,
            engines: config.engines,
            audit_devices: config.audit_devices,
            lifecycle: Mutex::new(Lifecycle::default()),
            state: RwLock::new(None),
        });
        if let Some(key) = &core.auto_unseal
            && let Some(root) = key.load_root(&core.storage).await?
        {
            core.barrier.unseal(&root).await.map_err(|e| match e {
                    coffer_barrier::Error::WrongKey => Error::invalid(
                        "the auto-unseal copy of the root key does not open the keyring: storage and key do not match",
                    ),
                    other => Error::from_barrier(other),
                })?;
            core.post_unseal().await?;
            tracing::info!("unsealed with the auto-unseal key");
        }
        Ok(core)
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
            audit,
            grants,
            identity,
            namespaces,
            leases: LeaseStore::new(self.barrier.view("sys/expire/")),
            notifiers: Notifiers::new(self.barrier.view("sys/notifiers/"), self.clock.clone()),
            reminders: ReminderLog::new(self.barrier.view("sys/reminders/")),
            cluster,
        });
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
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
            standby: false,
            server_time: self.clock.now(),
            cluster: state.map(|s| s.cluster.clone()),
        })
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
        tracing::info!("sealed");
        Ok(())
    }

    fn seal_locked(&self, lifecycle: &mut Lifecycle) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = None;
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

    /// Ends every lease due at the clock's time, one batch (one transaction) at a time, telling
    /// each lease's engine; returns how many ended.
    async fn reap_leases(&self, state: &Unsealed) -> Result<usize> {
        let mut ended = 0;
        loop {
            let due = state.leases.due(self.clock.now()).await?;
            if due.is_empty() {
                return Ok(ended);
            }
            ended += due.len();
            crate::sys_leases::end(state, due, self.clock.now()).await?;
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
                match self.deliver_reminders().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "reminders delivered"),
                    Err(error) => tracing::warn!(%error, "delivering reminders failed"),
                }
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = reaper => {}
            () = reminders => {}
        }
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
        self.storage.close().await?;
        Ok(())
    }
}

pub(crate) fn strip_invalid_key(message: String) -> String {
    let text: Zeroizing<String> = Zeroizing::new(message);
    text.trim_start_matches("invalid key: ").to_owned()
}
