//! Cubbyhole: per-token private secret storage, mounted by default at `cubbyhole/`. It behaves
//! like KV version 1 without the lease hint, but every path is private to the calling token: no
//! other token, root included, can see or list it, and revoking the token deletes it.
//!
//! Storage: a secret lives at `<token_scope>/<key>` in the mount's view, encoded as KV v1
//! encodes secrets. The scope is the token's salted hash given by the core
//! (`EngineRequest::token_scope`), never the token itself; but the key follows it in clear, so
//! **the untrusted storage sees the secret names inside each token's scope** (never values:
//! the barrier encrypts those), as in Vault.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_barrier::View;
use coffer_core::engine::{Engine, EngineFactory, EngineRequest, MountInfo};
use coffer_core::request::Reply;
use coffer_core::{Error, Result};

use crate::kv::v1::{self, LeaseHint, SecretFolder};

/// Builds the cubbyhole engine (type `cubbyhole`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CubbyholeFactory;

/// The per-token private secret store of one mount. It keeps no state: everything is in
/// storage, under each token's scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct CubbyholeEngine;

impl EngineFactory for CubbyholeFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["cubbyhole"]
    }

    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String> {
        if options.get("version").is_some_and(|v| !v.is_empty()) {
            return Err(Error::invalid(format!(
                "secrets engine {kind:?} does not allow setting a version"
            )));
        }
        Ok(kind.to_owned())
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        "per-token private secret storage"
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    fn build(&self, _mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(CubbyholeEngine))
    }
}

#[async_trait]
impl Engine for CubbyholeEngine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let folder = token_folder(storage, request.token_scope).ok_or(Error::PermissionDenied)?;
        v1::serve(&folder, &request, LeaseHint::None).await
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        let folder = token_folder(storage, request.token_scope).ok_or(Error::PermissionDenied)?;
        v1::exists(&folder, request.path).await.map(Some)
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        // No option changes the layout.
        Ok(())
    }

    async fn token_revoked(&self, token_scope: &str, storage: &View) -> Result<()> {
        // A scope that could not hold data has nothing to delete.
        match token_folder(storage, token_scope) {
            Some(folder) => folder.delete_all().await,
            None => Ok(()),
        }
    }
}

/// The folder of one token's secrets, or `None` when `token_scope` cannot name one: empty, or
/// containing `/` (it would reach into another scope), or a `.`/`..` segment.
fn token_folder(storage: &View, token_scope: &str) -> Option<SecretFolder> {
    let valid = !token_scope.is_empty()
        && !token_scope.contains('/')
        && token_scope != "."
        && token_scope != "..";
    valid.then(|| SecretFolder::new(storage, token_scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        fn check(options: &[(&str, &str)], expect: std::result::Result<&str, &str>) {
            let mut options: BTreeMap<String, String> = options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let got = CubbyholeFactory
                .normalize("cubbyhole", &mut options)
                .map_err(|e| e.to_string());
            assert_eq!(got.as_deref(), expect.map_err(str::to_owned).as_deref());
        }
        check(&[], Ok("cubbyhole"));
        check(&[("version", "")], Ok("cubbyhole"));
        check(
            &[("version", "2")],
            Err("secrets engine \"cubbyhole\" does not allow setting a version"),
        );
    }

    #[test]
    fn description_and_kinds() {
        assert_eq!(CubbyholeFactory.kinds(), ["cubbyhole"]);
        assert_eq!(
            CubbyholeFactory.default_description("cubbyhole"),
            "per-token private secret storage"
        );
    }
}
