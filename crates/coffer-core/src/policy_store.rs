//! The policy store: ACL policies persisted behind the barrier at `sys/policy/<name>`, the
//! built-in `root` (all-powerful, immutable) and `default` (editable, undeletable) policies, and
//! a cache of compiled ACLs per distinct set of policy names that is cleared whenever a policy
//! changes. A name it does not know grants nothing, as in Vault.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use coffer_barrier::View;
use coffer_policy::{Acl, Policy};
use serde::{Deserialize, Serialize};

use crate::wrapping::{WRAPPING_POLICY, WRAPPING_POLICY_HCL};
use crate::{Error, Result};

/// A stored policy and its bookkeeping.
#[derive(Clone)]
pub(crate) struct StoredPolicy {
    pub(crate) policy: Policy,
    pub(crate) version: u64,
    pub(crate) modified: SystemTime,
}

#[derive(Serialize, Deserialize)]
struct PolicyRecord {
    name: String,
    text: String,
    version: u64,
    modified_nanos: u64,
}

/// Policies and the ACL cache of one unsealed core.
pub(crate) struct PolicyStore {
    view: View,
    policies: RwLock<BTreeMap<String, StoredPolicy>>,
    wrapping_policy: Policy,
    /// Whether the `root` policy means anything here: only in the root namespace.
    root_allowed: bool,
    cache: Mutex<HashMap<Vec<String>, Acl>>,
    changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore").finish_non_exhaustive()
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn builtin_default(now: SystemTime) -> Result<StoredPolicy> {
    let policy = Policy::parse("default", coffer_policy::DEFAULT_POLICY_HCL)
        .map_err(|e| Error::invalid(format!("built-in default policy: {e}")))?;
    Ok(StoredPolicy {
        policy,
        version: 0,
        modified: now,
    })
}

/// Parses policy text, accepting it base64-encoded too (as Vault's API does).
fn parse_text(name: &str, text: &str) -> Result<Policy> {
    match Policy::parse(name, text) {
        Ok(policy) => Ok(policy),
        Err(first) => {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match decoded {
                Some(decoded) => {
                    Policy::parse(name, &decoded).map_err(|_| Error::invalid(first.to_string()))
                }
                None => Err(Error::invalid(first.to_string())),
            }
        }
    }
}

impl PolicyStore {
    /// Loads every stored policy from `view`, adding the built-in `default` when absent. Outside
    /// the root namespace (`root_allowed` false) the name `root` grants nothing.
    pub(crate) async fn load(
        view: View,
        now: SystemTime,
        root_allowed: bool,
    ) -> Result<Arc<PolicyStore>> {
        let wrapping_policy = Policy::parse(WRAPPING_POLICY, WRAPPING_POLICY_HCL)
            .map_err(|e| Error::invalid(format!("built-in response-wrapping policy: {e}")))?;
        let mut policies = BTreeMap::new();
        for (key, record) in
            crate::record::load_all::<PolicyRecord>(&view, "", "sys/policy/").await?
        {
            let policy =
                Policy::parse(&record.name, &record.text).map_err(|e| Error::CorruptRecord {
                    path: format!("sys/policy/{key}"),
                    reason: format!("stored policy does not parse: {e}"),
                })?;
            let modified =
                SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(record.modified_nanos);
            policies.insert(
                record.name,
                StoredPolicy {
                    policy,
                    version: record.version,
                    modified,
                },
            );
        }
        if !policies.contains_key("default") {
            policies.insert("default".to_owned(), builtin_default(now)?);
        }
        Ok(Arc::new(PolicyStore {
            view,
            policies: RwLock::new(policies),
            wrapping_policy,
            root_allowed,
            cache: Mutex::new(HashMap::new()),
            changes: tokio::sync::Mutex::new(()),
        }))
    }

    /// The compiled ACL for a set of policy names.
    pub(crate) fn acl(&self, names: &[String]) -> Acl {
        if self.root_allowed && names.iter().any(|n| n == "root") {
            return Acl::root();
        }
        let mut key: Vec<String> = names.to_vec();
        key.sort();
        key.dedup();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(acl) = cache.get(&key) {
            return acl.clone();
        }
        let stored = self.policies.read().unwrap_or_else(|p| p.into_inner());
        let policies: Vec<Policy> = key
            .iter()
            .filter_map(|name| match name.as_str() {
                WRAPPING_POLICY => Some(self.wrapping_policy.clone()),
                other => stored.get(other).map(|s| s.policy.clone()),
            })
            .collect();
        drop(stored);
        let acl = Acl::new(&policies);
        cache.insert(key, acl.clone());
        acl
    }

    /// Every policy name, with `root` in the root namespace, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        if self.root_allowed {
            names.push("root".to_owned());
        }
        names.sort();
        names
    }

    /// One policy (`None` when unknown; `root` has no text).
    pub(crate) fn get(&self, name: &str) -> Option<StoredPolicy> {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Creates or replaces a policy; durable before it returns.
    pub(crate) async fn put(&self, name: &str, text: &str, now: SystemTime) -> Result<()> {
        let name = name.trim().to_lowercase();
        if name == "root" {
            return Err(Error::invalid("cannot update \"root\" policy"));
        }
        let policy = parse_text(&name, text)?;
        let _guard = self.changes.lock().await;
        let version = self.get(&name).map(|p| p.version + 1).unwrap_or(1);
        let record = PolicyRecord {
            name: name.clone(),
            text: policy.text().to_owned(),
            version,
            modified_nanos: nanos(now),
        };
        let bytes = crate::record::encode(&record);
        self.view
            .put(&name, &bytes)
            .await
            .map_err(Error::from_barrier)?;
        self.policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name,
                StoredPolicy {
                    policy,
                    version,
                    modified: now,
                },
            );
        self.invalidate();
        Ok(())
    }

    /// Deletes a policy; unknown names are not an error.
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        let name = name.trim().to_lowercase();
        match name.as_str() {
            "root" => return Err(Error::invalid("cannot delete \"root\" policy")),
            "default" => return Err(Error::invalid("cannot delete \"default\" policy")),
            _ => {}
        }
        let _guard = self.changes.lock().await;
        self.view.delete(&name).await.map_err(Error::from_barrier)?;
        self.policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        self.invalidate();
        Ok(())
    }

    fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
