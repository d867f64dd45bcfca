//! Namespaces, Vault's tenants: isolated trees of mounts, auth methods, ACL policies and tokens
//! inside one server. The root namespace keeps the historical layout at the top of the barrier;
//! a namespace `N` keeps the same layout under its own prefix `namespaces/<uuid>/` (`core/mounts`,
//! `core/auth`, `logical/…`, `auth/…`, `sys/token/`, `sys/policy/`, `sys/wrapping/`), so deleting
//! it is one prefix delete. The registry of namespaces is global: `core/namespaces/<uuid>` in the
//! root, one record per namespace, nested ones included (their `path` says where they sit).
//!
//! Tokens and accessors issued in a namespace end with `.<namespace id>`, so the store that holds
//! a presented token is found from the token text alone. A token works in its own namespace and
//! in its descendants; there its ACL paths are matched with the namespace's path relative to the
//! token's (a root policy on `acme/secret/*` governs `secret/*` in `acme`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use coffer_barrier::{Barrier, View};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::mount::{EngineRegistry, MountTable, TableKind, delete_all};
use crate::policy_store::PolicyStore;
use crate::token::TokenStore;
use crate::wrapping::Revocations;
use crate::{Error, Result};

/// The root namespace's id, as Vault names it in audit records.
pub(crate) const ROOT_ID: &str = "root";
/// Where namespace records live, in the root namespace's storage.
const RECORDS: &str = "core/namespaces/";
/// Where each namespace's own storage lives: `namespaces/<uuid>/`.
const DATA_PREFIX: &str = "namespaces";
/// Length of a namespace id (OpenBao's: one more than Vault Enterprise's five).
const ID_LENGTH: usize = 6;
/// The longest namespace name (one path segment).
const NAME_MAX: usize = 64;
/// Names that would shadow paths the core serves itself.
const RESERVED: &[&str] = &["root", "sys", "audit", "auth", "cubbyhole", "identity"];
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A namespace's short public id (`root`, or six letters and digits), the suffix of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NamespaceId(String);

impl NamespaceId {
    /// The id text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A namespace as stored in `core/namespaces/<uuid>`.
#[derive(Serialize, Deserialize)]
struct NamespaceRecord {
    id: String,
    uuid: String,
    path: String,
    custom_metadata: BTreeMap<String, String>,
}

/// One live namespace: its identity, its metadata and its own stores.
pub(crate) struct NamespaceState {
    id: NamespaceId,
    /// Empty for the root; the storage prefix id otherwise.
    uuid: String,
    /// `""` for the root, `acme/` or `acme/team1/` otherwise.
    path: String,
    custom_metadata: RwLock<BTreeMap<String, String>>,
    /// The namespace's whole storage (the barrier's root for the root namespace).
    base: View,
    pub(crate) mounts: Arc<MountTable>,
    pub(crate) auth: Arc<MountTable>,
    pub(crate) wrapping: View,
    pub(crate) tokens: TokenStore,
    pub(crate) policies: Arc<PolicyStore>,
}

impl std::fmt::Debug for NamespaceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceState")
            .field("id", &self.id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl NamespaceState {
    /// Opens (creating on first use) the stores of a namespace inside `base`.
    async fn open(
        record: &NamespaceRecord,
        base: View,
        clock: Arc<dyn Clock>,
        engines: EngineRegistry,
    ) -> Result<Arc<NamespaceState>> {
        let mounts = MountTable::load(TableKind::Secrets, base.clone(), engines.clone()).await?;
        let auth = MountTable::load(TableKind::Auth, base.clone(), engines).await?;
        let wrapping = base.sub("sys/wrapping/");
        let hook = Arc::new(Revocations {
            wrapping: wrapping.clone(),
            mounts: mounts.clone(),
        });
        let suffix = if record.id == ROOT_ID {
            String::new()
        } else {
            format!(".{}", record.id)
        };
        let now = clock.now();
        let tokens = TokenStore::open(base.sub("sys/token/"), clock, hook, suffix).await?;
        let policies =
            PolicyStore::load(base.sub("sys/policy/"), now, record.id == ROOT_ID).await?;
        Ok(Arc::new(NamespaceState {
            id: NamespaceId(record.id.clone()),
            uuid: record.uuid.clone(),
            path: record.path.clone(),
            custom_metadata: RwLock::new(record.custom_metadata.clone()),
            base,
            mounts,
            auth,
            wrapping,
            tokens,
            policies,
        }))
    }

    /// The namespace id (`root` for the root namespace).
    pub(crate) fn id(&self) -> &NamespaceId {
        &self.id
    }

    /// The internal UUID (empty for the root namespace).
    pub(crate) fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The full path with a trailing slash (`""` for the root namespace).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Whether this is the root namespace.
    pub(crate) fn is_root(&self) -> bool {
        self.path.is_empty()
    }

    /// Whether `other` is this namespace or one of its descendants.
    pub(crate) fn contains(&self, other: &NamespaceState) -> bool {
        other.path.starts_with(&self.path)
    }

    /// The path of `other` relative to this namespace (`""` for itself). Only meaningful when
    /// [`NamespaceState::contains`] holds.
    pub(crate) fn relative<'a>(&self, other: &'a NamespaceState) -> &'a str {
        other.path.get(self.path.len()..).unwrap_or("")
    }

    /// The user-provided metadata.
    pub(crate) fn custom_metadata(&self) -> BTreeMap<String, String> {
        self.custom_metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self) -> NamespaceRecord {
        NamespaceRecord {
            id: self.id.0.clone(),
            uuid: self.uuid.clone(),
            path: self.path.clone(),
            custom_metadata: self.custom_metadata(),
        }
    }
}

/// Every namespace of one unsealed core.
pub(crate) struct Namespaces {
    barrier: Arc<Barrier>,
    records: View,
    clock: Arc<dyn Clock>,
    engines: EngineRegistry,
    root: Arc<NamespaceState>,
    /// Every namespace but the root, by full path.
    children: RwLock<BTreeMap<String, Arc<NamespaceState>>>,
    /// Namespace id → full path.
    ids: RwLock<HashMap<String, String>>,
    changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces").finish_non_exhaustive()
    }
}

/// Checks one namespace name (a single path segment, trailing slash allowed).
pub(crate) fn validate_name(raw: &str) -> Result<String> {
    let name = raw.strip_suffix('/').unwrap_or(raw);
    if name.is_empty() {
        return Err(Error::invalid("namespace name must not be empty"));
    }
    if name.contains('/') {
        return Err(Error::invalid("namespace name cannot contain /"));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(Error::invalid(format!(
            "{name:?} contains space characters that cannot be used in a namespace name"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(Error::invalid(format!(
            "\"{name}/\" is a reserved path and cannot be used as a namespace name"
        )));
    }
    if name.len() > NAME_MAX {
        return Err(Error::invalid(format!(
            "namespace name is longer than {NAME_MAX} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(format!(
            "{name:?}: a namespace name may only contain letters, digits, '-' and '_'"
        )));
    }
    Ok(name.to_owned())
}

/// What a global endpoint (audit devices, seal, keys, identities, grants) answers inside a
/// namespace, in OpenBao's words.
pub(crate) fn root_only() -> Error {
    Error::invalid("operation only available in root namespace")
}

fn random_id() -> Result<String> {
    let mut out = String::with_capacity(ID_LENGTH);
    let limit = 256 - (256 % ID_ALPHABET.len());
    while out.len() < ID_LENGTH {
        let mut buf = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
            .map_err(|_| Error::invalid("the system random number generator failed"))?;
        for byte in buf {
            if usize::from(byte) < limit && out.len() < ID_LENGTH {
                out.push(char::from(
                    ID_ALPHABET[usize::from(byte) % ID_ALPHABET.len()],
                ));
            }
        }
    }
    Ok(out)
}

impl Namespaces {
    /// Opens the root namespace and every stored namespace.
    pub(crate) async fn load(
        barrier: &Arc<Barrier>,
        clock: Arc<dyn Clock>,
        engines: EngineRegistry,
    ) -> Result<Namespaces> {
        let root_record = NamespaceRecord {
            id: ROOT_ID.to_owned(),
            uuid: String::new(),
            path: String::new(),
            custom_metadata: BTreeMap::new(),
        };
        let root = NamespaceState::open(
            &root_record,
            barrier.view(""),
            clock.clone(),
            engines.clone(),
        )
        .await?;
        let records = barrier.view(RECORDS);
        let mut children = BTreeMap::new();
        let mut ids = HashMap::new();
        for (key, record) in
            crate::record::load_all::<NamespaceRecord>(&records, "", RECORDS).await?
        {
            if record.uuid != key || record.path.is_empty() || !record.path.ends_with('/') {
                return Err(Error::CorruptRecord {
                    path: format!("{RECORDS}{key}"),
                    reason: "namespace record does not match its key".into(),
                });
            }
            let base = barrier.view(&format!("{DATA_PREFIX}/{}/", record.uuid));
            let state = NamespaceState::open(&record, base, clock.clone(), engines.clone()).await?;
            ids.insert(record.id.clone(), record.path.clone());
            children.insert(record.path.clone(), state);
        }
        Ok(Namespaces {
            barrier: barrier.clone(),
            records,
            clock,
            engines,
            root,
            children: RwLock::new(children),
            ids: RwLock::new(ids),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// The root namespace.
    pub(crate) fn root(&self) -> &Arc<NamespaceState> {
        &self.root
    }

    /// The namespace at a full path (`""` is the root).
    pub(crate) fn by_path(&self, path: &str) -> Option<Arc<NamespaceState>> {
        if path.is_empty() {
            return Some(self.root.clone());
        }
        self.children
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned()
    }

    /// Every namespace, the root first.
    pub(crate) fn all(&self) -> Vec<Arc<NamespaceState>> {
        let mut all = vec![self.root.clone()];
        all.extend(
            self.children
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned(),
        );
        all
    }

    /// The namespace a request addresses: the `X-Vault-Namespace` header's (relative to the
    /// root), then as many leading segments of `path` as name existing child namespaces, as in
    /// Vault. Returns it with the rest of the path. An unknown header namespace is
    /// [`Error::NamespaceNotFound`].
    pub(crate) fn resolve(
        &self,
        header: Option<&str>,
        path: &str,
    ) -> Result<(Arc<NamespaceState>, String)> {
        let mut current = match header.map(|h| h.trim().trim_matches('/')) {
            None | Some("") | Some(ROOT_ID) => self.root.clone(),
            Some(name) => self
                .by_path(&format!("{name}/"))
                .ok_or(Error::NamespaceNotFound)?,
        };
        let (below, rest) = self.descend(&current, path);
        if let Some(below) = below {
            current = below;
        }
        Ok((current, rest.to_owned()))
    }

    /// Follows the leading segments of `path` that name namespaces below `from`: the deepest
    /// namespace found (`None` when the first segment names none) and the rest of the path.
    pub(crate) fn descend<'p>(
        &self,
        from: &NamespaceState,
        path: &'p str,
    ) -> (Option<Arc<NamespaceState>>, &'p str) {
        let mut found: Option<Arc<NamespaceState>> = None;
        let mut rest = path;
        while let Some((segment, after)) = rest.split_once('/') {
            let base = found.as_ref().map_or(from.path(), |ns| ns.path());
            match self.by_path(&format!("{base}{segment}/")) {
                Some(child) => {
                    found = Some(child);
                    rest = after;
                }
                None => break,
            }
        }
        (found, rest)
    }

    /// The namespace whose store holds a token or accessor: the one named by its
    /// `.<namespace id>` suffix, else the root.
    pub(crate) fn home_of(&self, token_or_accessor: &str) -> Arc<NamespaceState> {
        let Some((_, suffix)) = token_or_accessor.rsplit_once('.') else {
            return self.root.clone();
        };
        if suffix.len() != ID_LENGTH {
            return self.root.clone();
        }
        let path = self
            .ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(suffix)
            .cloned();
        path.and_then(|p| self.by_path(&p))
            .unwrap_or_else(|| self.root.clone())
    }

    /// The namespaces directly below `parent` (or every descendant when `recursive`), by path.
    pub(crate) fn children_of(
        &self,
        parent: &NamespaceState,
        recursive: bool,
    ) -> Vec<Arc<NamespaceState>> {
        self.children
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|child| {
                let Some(below) = child.path.strip_prefix(parent.path.as_str()) else {
                    return false;
                };
                !below.is_empty() && (recursive || below.matches('/').count() == 1)
            })
            .cloned()
            .collect()
    }

    /// Creates the namespace `name` below `parent`, or — as OpenBao does — replaces the custom
    /// metadata of an existing one. Returns it.
    pub(crate) async fn create(
        &self,
        parent: &NamespaceState,
        name: &str,
        custom_metadata: BTreeMap<String, String>,
    ) -> Result<Arc<NamespaceState>> {
        let name = validate_name(name)?;
        let _guard = self.changes.lock().await;
        let path = format!("{}{name}/", parent.path);
        if let Some(existing) = self.by_path(&path) {
            self.store_metadata(&existing, custom_metadata).await?;
            return Ok(existing);
        }
        if let Some(mounted) = parent
            .mounts
            .list()
            .into_iter()
            .find(|m| m.entry.path.split('/').next() == Some(name.as_str()))
        {
            return Err(Error::invalid(format!(
                "new namespace conflicts with existing mount: {}",
                mounted.entry.path
            )));
        }
        let id = loop {
            let candidate = random_id()?;
            if !self
                .ids
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&candidate)
            {
                break candidate;
            }
        };
        let record = NamespaceRecord {
            id,
            uuid: uuid::Uuid::new_v4().to_string(),
            path: path.clone(),
            custom_metadata,
        };
        let base = self
            .barrier
            .view(&format!("{DATA_PREFIX}/{}/", record.uuid));
        // The stores come first, the record last: a namespace is visible (after a restart too)
        // only once it is complete.
        let state = match NamespaceState::open(
            &record,
            base.clone(),
            self.clock.clone(),
            self.engines.clone(),
        )
        .await
        {
            Ok(state) => state,
            Err(error) => {
                let _ = delete_all(&base).await;
                return Err(error);
            }
        };
        if let Err(error) = self
            .records
            .put(&record.uuid, &crate::record::encode(&record))
            .await
        {
            let _ = delete_all(&base).await;
            return Err(Error::from_barrier(error));
        }
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.id.clone(), path.clone());
        self.children
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.clone(), state.clone());
        tracing::info!(namespace = %path, id = %record.id, "namespace created");
        Ok(state)
    }

    /// Replaces a namespace's custom metadata; durable before it returns.
    pub(crate) async fn set_metadata(
        &self,
        namespace: &NamespaceState,
        custom_metadata: BTreeMap<String, String>,
    ) -> Result<()> {
        let _guard = self.changes.lock().await;
        self.store_metadata(namespace, custom_metadata).await
    }

    async fn store_metadata(
        &self,
        namespace: &NamespaceState,
        custom_metadata: BTreeMap<String, String>,
    ) -> Result<()> {
        let mut record = namespace.record();
        record.custom_metadata = custom_metadata.clone();
        self.records
            .put(&record.uuid, &crate::record::encode(&record))
            .await
            .map_err(Error::from_barrier)?;
        *namespace
            .custom_metadata
            .write()
            .unwrap_or_else(|p| p.into_inner()) = custom_metadata;
        Ok(())
    }

    /// Deletes a namespace with everything stored for it (mounts and their data, auth methods,
    /// policies, tokens). Refused while it has child namespaces.
    pub(crate) async fn delete(&self, namespace: &NamespaceState) -> Result<()> {
        if namespace.is_root() {
            return Err(Error::invalid("unable to delete root namespace"));
        }
        let _guard = self.changes.lock().await;
        if !self.children_of(namespace, false).is_empty() {
            return Err(Error::invalid(format!(
                "cannot delete namespace ({:?}) containing child namespaces",
                namespace.path
            )));
        }
        // The record goes first (durably): a crash midway leaves unreachable data, never a
        // namespace with half its data.
        self.records
            .delete(&namespace.uuid)
            .await
            .map_err(Error::from_barrier)?;
        self.children
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&namespace.path);
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(namespace.id.as_str());
        delete_all(&namespace.base).await?;
        tracing::info!(namespace = %namespace.path, "namespace deleted with its data");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names() {
        for good in ["acme", "acme/", "team_1", "a-b", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "/",
            "a/b",
            "a b",
            "a.b",
            "é",
            "sys",
            "root/",
            "auth",
            "identity",
            "cubbyhole",
            "audit",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
