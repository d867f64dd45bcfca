//! KV version 2: the versioned key/value secrets engine, wire-compatible with OpenBao 2.7's.
//!
//! Paths below the mount: `config`, `data/<key>`, `metadata/<key>` (and LIST/SCAN of
//! `metadata/<folder>`), `detailed-metadata/<folder>`, `delete/<key>`, `undelete/<key>`,
//! `destroy/<key>` and `subkeys/<key>`. Anything else answers 404 with Vault's warning about
//! v1-style paths. Storage never shows a secret's name: see `keyspace` for the layout and for
//! how every write is one transaction guarded against concurrent writers.
//!
//! Module map: `data` (values and version operations), `metadata` (key settings, listing),
//! `config` (mount settings), `keyspace` (storage layout and transactions), `record` (stored
//! records and their codec), `wire` (reply shapes), `input` (Vault's weak field parsing),
//! `duration` (Go durations), `patch` (JSON merge patch), `migrate` (upgrade from version 1),
//! `rotation` (rotation reminders and self-rotating generated secrets, from custom metadata;
//! the core's reminder pass is also the rotation pass).

use std::borrow::Cow;
use std::time::SystemTime;

use async_trait::async_trait;
use coffer_barrier::View;
use coffer_core::engine::{Engine, EngineRequest, EventPage, MountInfo};
use coffer_core::{Error, Operation, Reply, Response, Result};
use tokio::sync::OnceCell;

use self::keyspace::{KeyName, Keyspace, Salt};
use self::record::Timestamp;

mod config;
mod data;
mod duration;
mod input;
mod keyspace;
mod metadata;
mod migrate;
mod patch;
mod record;
mod rotation;
mod wire;

/// The versioned key/value engine of one mount.
#[derive(Debug)]
pub struct KvV2Engine {
    /// The mount path, for logs.
    mount_path: String,
    /// The mount's HMAC salt, loaded (or created) on first use.
    salt: OnceCell<Salt>,
}

impl KvV2Engine {
    /// The engine of `mount`.
    pub fn new(mount: &MountInfo) -> KvV2Engine {
        KvV2Engine {
            mount_path: mount.path.clone(),
            salt: OnceCell::new(),
        }
    }

    /// The mount's storage, addressed through its salt.
    async fn keyspace<'a>(&self, view: &'a View) -> Result<Keyspace<'a>> {
        let salt = self
            .salt
            .get_or_try_init(|| Salt::load_or_create(view))
            .await?;
        Ok(Keyspace::new(view, salt))
    }

    /// The mount's storage if it ever held anything (a salt exists); creates nothing.
    async fn existing_keyspace<'a>(&self, view: &'a View) -> Result<Option<Keyspace<'a>>> {
        if let Some(salt) = self.salt.get() {
            return Ok(Some(Keyspace::new(view, salt)));
        }
        let Some(salt) = Salt::load(view).await? else {
            return Ok(None);
        };
        let salt = self.salt.get_or_init(|| async { salt }).await;
        Ok(Some(Keyspace::new(view, salt)))
    }
}

#[async_trait]
impl Engine for KvV2Engine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let operation = request.operation;
        let path = request_path(operation, request.path);
        let fields = request.data;
        let now = Timestamp::from_system(request.now);
        let route = Route::parse(&path);
        match route {
            Route::Config => {
                return match operation {
                    Operation::Read => config::read(storage).await,
                    Operation::Create | Operation::Update => config::write(storage, fields).await,
                    _ => Err(Error::UnsupportedOperation),
                };
            }
            Route::Root | Route::Unknown => return Ok(invalid_path(route, operation)),
            _ => {}
        }
        let keyspace = self.keyspace(storage).await?;
        let keyspace = &keyspace;
        match (route, operation) {
            (Route::Data(key), Operation::Read) => data::read(keyspace, key, fields, now).await,
            (Route::Data(key), Operation::Create | Operation::Update) => {
                data::write(keyspace, key, fields, now).await
            }
            (Route::Data(key), Operation::Patch) => data::patch(keyspace, key, fields, now).await,
            (Route::Data(key), Operation::Delete) => data::delete_latest(keyspace, key, now).await,
            (Route::Metadata(key), Operation::Read) => metadata::read(keyspace, key).await,
            (Route::Metadata(key), Operation::Create | Operation::Update) => {
                metadata::write(keyspace, key, fields, now).await
            }
            (Route::Metadata(key), Operation::Patch) => {
                metadata::patch(keyspace, key, fields, now).await
            }
            (Route::Metadata(key), Operation::Delete) => metadata::delete(keyspace, key).await,
            (Route::Metadata(folder), Operation::List) => {
                metadata::list(keyspace, folder, fields).await
            }
            (Route::Metadata(folder), Operation::Scan) => metadata::scan(keyspace, folder).await,
            (Route::DetailedMetadata(folder), Operation::List) => {
                metadata::detailed_list(keyspace, folder, fields).await
            }
            (Route::Delete(key), Operation::Create | Operation::Update) => {
                data::delete_versions(keyspace, key, fields, now).await
            }
            (Route::Undelete(key), Operation::Create | Operation::Update) => {
                data::undelete_versions(keyspace, key, fields, now).await
            }
            (Route::Destroy(key), Operation::Create | Operation::Update) => {
                data::destroy_versions(keyspace, key, fields).await
            }
            (Route::Subkeys(key), Operation::Read) => {
                data::subkeys(keyspace, key, fields, now).await
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        let (Route::Data(raw) | Route::Metadata(raw)) = Route::parse(request.path) else {
            return Ok(None);
        };
        let Some(key) = KeyName::parse(raw) else {
            return Ok(Some(false));
        };
        let keyspace = self.keyspace(storage).await?;
        Ok(Some(keyspace.metadata(&key).await?.is_some()))
    }

    async fn tuned(&self, previous: &MountInfo, storage: &View) -> Result<()> {
        let previous_version = previous.options.get(super::VERSION_OPTION);
        if !matches!(previous_version.map(String::as_str), None | Some("" | "1")) {
            return Ok(());
        }
        let keyspace = self.keyspace(storage).await?;
        let moved = migrate::from_v1(&keyspace, Timestamp::from_system(SystemTime::now())).await?;
        tracing::info!(
            mount = %self.mount_path,
            secrets = moved,
            "upgraded the mount's KV version 1 secrets to version 2"
        );
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        // Nothing here belongs to a token.
        Ok(())
    }

    /// Rotation reminders from the secrets' custom metadata; this pass also rotates the
    /// secrets the server generates (see `rotation`).
    async fn reminders(
        &self,
        storage: &View,
        now: SystemTime,
        after: Option<&str>,
    ) -> Result<EventPage> {
        let Some(keyspace) = self.existing_keyspace(storage).await? else {
            return Ok(EventPage::default());
        };
        rotation::page(&keyspace, &self.mount_path, now, after).await
    }
}

/// What a path below the mount names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Config,
    Data(&'a str),
    Metadata(&'a str),
    DetailedMetadata(&'a str),
    Delete(&'a str),
    Undelete(&'a str),
    Destroy(&'a str),
    Subkeys(&'a str),
    /// `data`, `metadata`, `delete`, `undelete` or `destroy` without a key.
    Root,
    /// Anything else, e.g. a v1-style `app/db`.
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Route<'a> {
        if path == "config" {
            return Route::Config;
        }
        match path.split_once('/') {
            Some(("data", rest)) => Route::Data(rest),
            Some(("metadata", rest)) => Route::Metadata(rest),
            Some(("detailed-metadata", rest)) => Route::DetailedMetadata(rest),
            Some(("delete", rest)) => Route::Delete(rest),
            Some(("undelete", rest)) => Route::Undelete(rest),
            Some(("destroy", rest)) => Route::Destroy(rest),
            Some(("subkeys", rest)) => Route::Subkeys(rest),
            Some(_) => Route::Unknown,
            None => match path {
                "data" | "metadata" | "delete" | "undelete" | "destroy" => Route::Root,
                _ => Route::Unknown,
            },
        }
    }
}

/// The path as Vault routes it: a LIST or SCAN always names a folder, so it gets a trailing
/// `/` (`metadata/app` lists `app/`, `metadata` lists the root).
fn request_path(operation: Operation, path: &str) -> Cow<'_, str> {
    let listing = matches!(operation, Operation::List | Operation::Scan);
    if listing && !path.is_empty() && !path.ends_with('/') {
        Cow::Owned(format!("{path}/"))
    } else {
        Cow::Borrowed(path)
    }
}

/// Vault's 404 with a warning for paths a versioned mount does not serve.
fn invalid_path(route: Route<'_>, operation: Operation) -> Reply {
    let warning = if route == Route::Root {
        "Non-listing operations on the root of a K/V v2 mount are not supported.".to_owned()
    } else {
        let command = match operation {
            Operation::Create | Operation::Update => "put",
            Operation::Patch => "patch",
            Operation::Read => "get",
            Operation::List => "list",
            Operation::Scan => "scan",
            Operation::Delete => "delete",
        };
        format!(
            "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the OpenBao CLI, use 'bao kv {command}' for this operation."
        )
    };
    Reply::NotFoundWithBody(Box::new(Response {
        warnings: vec![warning],
        ..Response::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        fn check(operation: Operation, path: &str, expect: Route<'_>) {
            let path = request_path(operation, path);
            assert_eq!(Route::parse(&path), expect, "{operation:?} {path:?}");
        }
        use Operation::{List, Read, Scan, Update};
        check(Read, "config", Route::Config);
        check(Read, "data/app/db", Route::Data("app/db"));
        check(Read, "data/", Route::Data(""));
        check(List, "data", Route::Data(""));
        check(Read, "metadata/app", Route::Metadata("app"));
        check(List, "metadata/app", Route::Metadata("app/"));
        check(List, "metadata", Route::Metadata(""));
        check(Scan, "metadata/a", Route::Metadata("a/"));
        check(List, "detailed-metadata/x/", Route::DetailedMetadata("x/"));
        check(Update, "delete/k", Route::Delete("k"));
        check(Update, "undelete/k", Route::Undelete("k"));
        check(Update, "destroy/k", Route::Destroy("k"));
        check(Read, "subkeys/k", Route::Subkeys("k"));
        check(Read, "data", Route::Root);
        check(Update, "destroy", Route::Root);
        check(Read, "app/db", Route::Unknown);
        check(Read, "subkeys", Route::Unknown);
        check(List, "config", Route::Unknown);
        check(Read, "", Route::Unknown);
        check(List, "", Route::Unknown);
    }
}
