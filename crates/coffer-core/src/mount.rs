//! The mount tables and router: which engine serves which path prefix. There are two tables per
//! namespace: secrets engines (persisted at `core/mounts`, storage views `logical/<uuid>/`) and
//! auth methods (persisted at `core/auth`, paths below `auth/`, views `auth/<uuid>/`), all inside
//! the namespace's storage view (the whole barrier for the root namespace). Each engine gets its
//! view and nothing else. Routing is longest-prefix.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use coffer_barrier::{BarrierOp, View};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::engine::{Engine, EngineFactory, MountInfo};
use crate::token::RevocationHook;
use crate::{Error, Result};

/// Which of the two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    /// Secrets engines, mounted at the top level.
    Secrets,
    /// Auth methods, mounted below `auth/`.
    Auth,
}

impl TableKind {
    fn storage_path(self) -> &'static str {
        match self {
            TableKind::Secrets => "core/mounts",
            TableKind::Auth => "core/auth",
        }
    }

    fn view_prefix(self) -> &'static str {
        match self {
            TableKind::Secrets => "logical",
            TableKind::Auth => "auth",
        }
    }

    fn is_reserved(self, path: &str) -> bool {
        match self {
            TableKind::Secrets => {
                RESERVED.iter().any(|r| path.starts_with(r)) || path.starts_with("cubbyhole/")
            }
            TableKind::Auth => path == "token/",
        }
    }
}
/// Paths no engine may be mounted at (served by the core itself).
const RESERVED: &[&str] = &["sys/", "auth/", "identity/"];

/// The engine factories known to this build, by type name.
#[derive(Clone, Default)]
pub struct EngineRegistry {
    factories: HashMap<&'static str, Arc<dyn EngineFactory>>,
}

impl std::fmt::Debug for EngineRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.factories.keys().collect();
        kinds.sort();
        f.debug_struct("EngineRegistry")
            .field("kinds", &kinds)
            .finish()
    }
}

impl EngineRegistry {
    /// A registry with these factories.
    pub fn new(factories: impl IntoIterator<Item = Arc<dyn EngineFactory>>) -> Self {
        let mut registry = EngineRegistry::default();
        for factory in factories {
            for kind in factory.kinds() {
                registry.factories.insert(kind, factory.clone());
            }
        }
        registry
    }

    fn get(&self, kind: &str) -> Option<&Arc<dyn EngineFactory>> {
        self.factories.get(kind)
    }
}

/// A mount as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MountEntry {
    pub(crate) path: String,
    pub(crate) kind: String,
    pub(crate) accessor: String,
    pub(crate) uuid: String,
    pub(crate) description: String,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) default_lease_ttl: u64,
    pub(crate) max_lease_ttl: u64,
    pub(crate) local: bool,
    pub(crate) seal_wrap: bool,
}

impl Mounted {
    /// Whether `rest` (the path below the mount) is served without a token.
    pub(crate) fn is_unauthenticated(&self, rest: &str) -> bool {
        self.unauthenticated
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => rest.starts_with(prefix),
                None => rest == *pattern,
            })
    }
}

impl MountEntry {
    pub(crate) fn info(&self) -> MountInfo {
        MountInfo {
            path: self.path.clone(),
            kind: self.kind.clone(),
            accessor: self.accessor.clone(),
            options: self.options.clone(),
            default_lease_ttl: self.default_lease_ttl,
            max_lease_ttl: self.max_lease_ttl,
        }
    }
}

/// A live mount: its entry, its engine and its storage view.
pub(crate) struct Mounted {
    /// Paths below the mount served without a token (auth engines' login).
    pub(crate) unauthenticated: &'static [&'static str],
    pub(crate) entry: MountEntry,
    pub(crate) info: MountInfo,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) view: View,
}

/// What a new mount asks for.
#[derive(Debug, Clone)]
pub(crate) struct MountRequest {
    pub(crate) path: String,
    pub(crate) kind: String,
    pub(crate) description: String,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) default_lease_ttl: u64,
    pub(crate) max_lease_ttl: u64,
    pub(crate) local: bool,
    pub(crate) seal_wrap: bool,
}

/// Changes of `sys/mounts/<path>/tune`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tuning {
    pub(crate) description: Option<String>,
    pub(crate) default_lease_ttl: Option<u64>,
    pub(crate) max_lease_ttl: Option<u64>,
    pub(crate) options: Option<BTreeMap<String, String>>,
}

/// The mount table of one unsealed core.
pub(crate) struct MountTable {
    kind: TableKind,
    /// The namespace's storage view the table and its mounts' views live in.
    base: View,
    registry: EngineRegistry,
    mounts: RwLock<Arc<Vec<Arc<Mounted>>>>,
    changes: tokio::sync::Mutex<()>,
}

/// Normalizes a mount path: no leading slash, one trailing slash.
pub(crate) fn normalize_path(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid("path cannot be empty"));
    }
    if trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(Error::invalid(format!("invalid mount path {path:?}")));
    }
    Ok(format!("{trimmed}/"))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| Error::invalid("the system random number generator failed"))?;
    Ok(hex::encode(buf))
}

impl MountTable {
    /// Loads the table stored in a namespace's storage view `base`, creating the default
    /// `cubbyhole/` mount on first use (so every new namespace gets the root's default mounts).
    pub(crate) async fn load(
        kind: TableKind,
        base: View,
        registry: EngineRegistry,
    ) -> Result<Arc<MountTable>> {
        let table = Arc::new(MountTable {
            kind,
            base,
            registry,
            mounts: RwLock::new(Arc::new(Vec::new())),
            changes: tokio::sync::Mutex::new(()),
        });
        let stored = table
            .base
            .get(table.kind.storage_path())
            .await
            .map_err(Error::from_barrier)?;
        let entries = match stored {
            Some(bytes) => decode(&bytes, table.kind.storage_path())?,
            None => Vec::new(),
        };
        let mut mounted = Vec::new();
        for entry in entries {
            match table.instantiate(entry.clone()) {
                Ok(m) => mounted.push(m),
                Err(error) => {
                    tracing::error!(path = %entry.path, kind = %entry.kind, %error, "cannot start mount")
                }
            }
        }
        table.publish(mounted);
        if kind == TableKind::Secrets {
            table.ensure_default_mounts().await?;
        }
        Ok(table)
    }

    /// The mounts every table starts with: `cubbyhole/` (always present, cannot be removed) and
    /// `credentials/` (added once — to a new table, or to a table written before the credentials
    /// engine existed — and recorded in `core/default-mounts`, so an operator may unmount it).
    async fn ensure_default_mounts(&self) -> Result<()> {
        const APPLIED: &str = "core/default-mounts";
        let mut applied: Vec<String> =
            match self.base.get(APPLIED).await.map_err(Error::from_barrier)? {
                Some(bytes) => crate::record::decode(&bytes, APPLIED)?,
                None => Vec::new(),
            };
        let before = applied.len();
        for (path, kind) in [("cubbyhole/", "cubbyhole"), ("credentials/", "credentials")] {
            let once = kind != "cubbyhole";
            if (once && applied.iter().any(|a| a == kind)) || self.registry.get(kind).is_none() {
                continue;
            }
            if once {
                applied.push(kind.to_owned());
            }
            if self.find_exact(path).is_some() {
                continue;
            }
            let description = match kind {
                // Vault's own cubbyhole description comes from the mount code, not the request.
                "cubbyhole" => String::new(),
                _ => self
                    .registry
                    .get(kind)
                    .map(|f| f.default_description(kind).to_owned())
                    .unwrap_or_default(),
            };
            let request = MountRequest {
                path: path.into(),
                kind: kind.into(),
                description,
                options: BTreeMap::new(),
                default_lease_ttl: 0,
                max_lease_ttl: 0,
                local: kind == "cubbyhole",
                seal_wrap: false,
            };
            self.mount(request, kind == "cubbyhole").await?;
        }
        if applied.len() != before {
            self.base
                .put(APPLIED, &crate::record::encode(&applied))
                .await
                .map_err(Error::from_barrier)?;
        }
        Ok(())
    }

    fn instantiate(&self, entry: MountEntry) -> Result<Arc<Mounted>> {
        let factory = self.registry.get(&entry.kind).ok_or_else(|| {
            Error::invalid(format!("plugin not found in the catalog: {}", entry.kind))
        })?;
        let engine = factory.build(&entry.info())?;
        let view = self
            .base
            .sub(&format!("{}/{}/", self.kind.view_prefix(), entry.uuid));
        Ok(Arc::new(Mounted {
            unauthenticated: factory.unauthenticated_paths(),
            info: entry.info(),
            entry,
            engine,
            view,
        }))
    }

    fn publish(&self, mut mounts: Vec<Arc<Mounted>>) {
        mounts.sort_by(|a, b| {
            b.entry
                .path
                .len()
                .cmp(&a.entry.path.len())
                .then(a.entry.path.cmp(&b.entry.path))
        });
        *self.mounts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(mounts);
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Mounted>>> {
        self.mounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every mount, sorted by path.
    pub(crate) fn list(&self) -> Vec<Arc<Mounted>> {
        let mut all: Vec<_> = self.snapshot().iter().cloned().collect();
        all.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
        all
    }

    /// The mount at exactly `path` (normalized with a trailing slash).
    pub(crate) fn find_exact(&self, path: &str) -> Option<Arc<Mounted>> {
        self.snapshot()
            .iter()
            .find(|m| m.entry.path == path)
            .cloned()
    }

    /// The mount serving a request path, and the path below it.
    pub(crate) fn route(&self, path: &str) -> Option<(Arc<Mounted>, String)> {
        for mounted in self.snapshot().iter() {
            let prefix = &mounted.entry.path;
            if let Some(rest) = path.strip_prefix(prefix.as_str()) {
                return Some((mounted.clone(), rest.to_owned()));
            }
            if path.len() + 1 == prefix.len() && prefix.starts_with(path) {
                return Some((mounted.clone(), String::new()));
            }
        }
        None
    }

    async fn persist(&self, mounts: &[Arc<Mounted>]) -> Result<()> {
        let entries: Vec<&MountEntry> = mounts.iter().map(|m| &m.entry).collect();
        let bytes = crate::record::encode(&entries);
        self.base
            .put(self.kind.storage_path(), &bytes)
            .await
            .map_err(Error::from_barrier)
    }

    /// Mounts an engine. `internal` allows the reserved default mounts.
    pub(crate) async fn mount(&self, request: MountRequest, internal: bool) -> Result<()> {
        let _guard = self.changes.lock().await;
        let path = normalize_path(&request.path)?;
        if !internal && self.kind.is_reserved(&path) {
            return Err(Error::invalid(format!("cannot mount {path:?}")));
        }
        if request.max_lease_ttl != 0 && request.default_lease_ttl > request.max_lease_ttl {
            return Err(Error::invalid(
                "given default lease TTL greater than given max lease TTL",
            ));
        }
        for existing in self.snapshot().iter() {
            let other = &existing.entry.path;
            if path.starts_with(other.as_str()) || other.starts_with(path.as_str()) {
                return Err(Error::invalid(format!("path is already in use at {other}")));
            }
        }
        let factory = self
            .registry
            .get(&request.kind)
            .ok_or_else(|| {
                Error::invalid(format!("plugin not found in the catalog: {}", request.kind))
            })?
            .clone();
        let mut options = request.options;
        let kind = factory.normalize(&request.kind, &mut options)?;
        let description = if request.description.is_empty() && internal {
            factory.default_description(&kind).to_owned()
        } else {
            request.description
        };
        let entry = MountEntry {
            path,
            accessor: format!("{kind}_{}", random_hex(4)?),
            kind,
            uuid: uuid::Uuid::new_v4().to_string(),
            description,
            options,
            default_lease_ttl: request.default_lease_ttl,
            max_lease_ttl: request.max_lease_ttl,
            local: request.local,
            seal_wrap: request.seal_wrap,
        };
        let mounted = self.instantiate(entry)?;
        let mut all: Vec<_> = self.snapshot().iter().cloned().collect();
        all.push(mounted);
        self.persist(&all).await?;
        tracing::info!(path = %all.last().map(|m| m.entry.path.clone()).unwrap_or_default(), "mounted");
        self.publish(all);
        Ok(())
    }

    /// Unmounts and deletes the mount's data; unknown paths are not an error.
    pub(crate) async fn unmount(&self, path: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let path = normalize_path(path)?;
        if self.kind.is_reserved(&path) {
            return Err(Error::invalid(format!("cannot unmount {path:?}")));
        }
        let Some(target) = self.find_exact(&path) else {
            return Ok(());
        };
        let remaining: Vec<_> = self
            .snapshot()
            .iter()
            .filter(|m| m.entry.path != path)
            .cloned()
            .collect();
        // The entry goes first (durably), so a crash mid-way leaves unreachable data, never a
        // mount with half its data.
        self.persist(&remaining).await?;
        self.publish(remaining);
        delete_all(&target.view).await?;
        tracing::info!(%path, "unmounted and its data deleted");
        Ok(())
    }

    /// Applies tuning to a mount.
    pub(crate) async fn tune(&self, path: &str, tuning: Tuning) -> Result<()> {
        let _guard = self.changes.lock().await;
        let path = normalize_path(path)?;
        let current = self.find_exact(&path).ok_or_else(|| {
            Error::invalid(format!(
                "tune of path {path:?} failed: no mount entry found"
            ))
        })?;
        let mut entry = current.entry.clone();
        if let Some(description) = tuning.description {
            entry.description = description;
        }
        if let Some(ttl) = tuning.default_lease_ttl {
            entry.default_lease_ttl = ttl;
        }
        if let Some(ttl) = tuning.max_lease_ttl {
            entry.max_lease_ttl = ttl;
        }
        if entry.max_lease_ttl != 0 && entry.default_lease_ttl > entry.max_lease_ttl {
            return Err(Error::invalid(format!(
                "backend max lease TTL of {} would be less than backend default lease TTL of {}",
                entry.max_lease_ttl, entry.default_lease_ttl
            )));
        }
        let options_changed = match tuning.options {
            Some(mut options) => {
                let factory = self
                    .registry
                    .get(&entry.kind)
                    .ok_or_else(|| {
                        Error::invalid(format!("plugin not found in the catalog: {}", entry.kind))
                    })?
                    .clone();
                let mut merged = entry.options.clone();
                merged.append(&mut options);
                factory.normalize(&entry.kind, &mut merged)?;
                let old = entry
                    .options
                    .get("version")
                    .map(String::as_str)
                    .unwrap_or("1");
                let new = merged.get("version").map(String::as_str).unwrap_or("1");
                if entry.kind == "kv" && old == "2" && new == "1" {
                    return Err(Error::invalid(
                        "cannot downgrade mount from KV version 2 to version 1",
                    ));
                }
                let changed = merged != entry.options;
                entry.options = merged;
                changed
            }
            None => false,
        };
        let previous = current.entry.info();
        let mounted = self.instantiate(entry)?;
        if options_changed {
            mounted.engine.tuned(&previous, &mounted.view).await?;
        }
        let all: Vec<_> = self
            .snapshot()
            .iter()
            .map(|m| {
                if m.entry.path == path {
                    mounted.clone()
                } else {
                    m.clone()
                }
            })
            .collect();
        self.persist(&all).await?;
        self.publish(all);
        Ok(())
    }
}

#[async_trait]
impl RevocationHook for MountTable {
    async fn token_revoked(&self, token_scope: &str) -> Result<()> {
        for mounted in self.snapshot().iter() {
            mounted
                .engine
                .token_revoked(token_scope, &mounted.view)
                .await?;
        }
        Ok(())
    }
}

/// Deletes every key in a view, in batches.
pub(crate) async fn delete_all(view: &View) -> Result<()> {
    loop {
        let keys = view
            .scan("", None, 512)
            .await
            .map_err(Error::from_barrier)?;
        if keys.is_empty() {
            return Ok(());
        }
        let ops = keys
            .into_iter()
            .map(|path| BarrierOp::Delete { path })
            .collect();
        view.transaction(ops).await.map_err(Error::from_barrier)?;
    }
}

fn decode(bytes: &Zeroizing<Vec<u8>>, path: &str) -> Result<Vec<MountEntry>> {
    crate::record::decode(bytes, path)
}
