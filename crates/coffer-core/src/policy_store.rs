//! The policy store: resolves a token's policy names into a compiled ACL, cached per distinct
//! set of names. Today it knows the built-in `root` and `default` policies; a name it does not
//! know grants nothing, as in Vault.

use std::collections::HashMap;
use std::sync::Mutex;

use coffer_policy::{Acl, Policy};

use crate::wrapping::{WRAPPING_POLICY, WRAPPING_POLICY_HCL};
use crate::{Error, Result};

/// Policies and the ACL cache of one unsealed core.
pub(crate) struct PolicyStore {
    default_policy: Policy,
    wrapping_policy: Policy,
    cache: Mutex<HashMap<Vec<String>, Acl>>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore").finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// A store with the built-in policies.
    pub(crate) fn new() -> Result<PolicyStore> {
        let default_policy = Policy::parse("default", coffer_policy::DEFAULT_POLICY_HCL)
            .map_err(|e| Error::invalid(format!("built-in default policy: {e}")))?;
        let wrapping_policy = Policy::parse(WRAPPING_POLICY, WRAPPING_POLICY_HCL)
            .map_err(|e| Error::invalid(format!("built-in response-wrapping policy: {e}")))?;
        Ok(PolicyStore {
            default_policy,
            wrapping_policy,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The compiled ACL for a set of policy names.
    pub(crate) fn acl(&self, names: &[String]) -> Acl {
        if names.iter().any(|n| n == "root") {
            return Acl::root();
        }
        let mut key: Vec<String> = names.to_vec();
        key.sort();
        key.dedup();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(acl) = cache.get(&key) {
            return acl.clone();
        }
        let policies: Vec<Policy> = key
            .iter()
            .filter_map(|name| match name.as_str() {
                "default" => Some(self.default_policy.clone()),
                WRAPPING_POLICY => Some(self.wrapping_policy.clone()),
                _ => None,
            })
            .collect();
        let acl = Acl::new(&policies);
        cache.insert(key, acl.clone());
        acl
    }
}
