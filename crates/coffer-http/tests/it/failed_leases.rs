//! Failed lease revocations: an engine whose `lease_ended` fails (a database that is down) does
//! not make the core forget the lease. It is kept, no longer active, listed by
//! `sys/leases/failed`, retried by the reaper with exponential backoff on the manual clock,
//! given up on (irrevocable) after `MAX_REVOKE_ATTEMPTS`, retried at once by an explicit
//! revoke, removed by `revoke-force`, and all of it survives a restart on SQLite.
//!
//! The failing engine is a real engine registered beside the stock ones: it issues leases
//! through the core's `LeaseScope` and fails to release them as often as the test says, the way
//! a database engine fails while its database is unreachable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::Router;
use axum::http::StatusCode;
use coffer_barrier::View;
use coffer_core::clock::ManualClock;
use coffer_core::engine::{Engine, EngineFactory, EngineRequest, MountInfo};
use coffer_core::lease::{LeaseRecord, LeaseScope, LeaseSpec, MAX_REVOKE_ATTEMPTS};
use coffer_core::request::{LeaseGrant, Operation, Reply, Response};
use coffer_core::{Core, CoreConfig, EngineRegistry, Error};
use coffer_http::{HttpConfig, app};
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;
use coffer_storage::sqlite::{SqliteBackend, SqliteConfig};
use serde_json::{Map, Value, json};

use crate::support::{START_UNIX, send, strings};

/// What the flaky engine's "database" saw: how many releases are still to fail, and the leases
/// it released (the users it dropped).
#[derive(Default)]
struct Database {
    failures_left: AtomicU32,
    attempts: AtomicU32,
    released: Mutex<Vec<String>>,
}

impl Database {
    fn fail_next(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    fn released(&self) -> Vec<String> {
        self.released
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }
}

struct FlakyFactory(Arc<Database>);

impl EngineFactory for FlakyFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["flaky-db"]
    }

    fn normalize(
        &self,
        kind: &str,
        _options: &mut std::collections::BTreeMap<String, String>,
    ) -> coffer_core::Result<String> {
        Ok(kind.to_owned())
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        "a database engine whose database goes away"
    }

    fn build(&self, _mount: &MountInfo) -> coffer_core::Result<Arc<dyn Engine>> {
        Ok(Arc::new(FlakyEngine(self.0.clone())))
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }
}

struct FlakyEngine(Arc<Database>);

#[async_trait]
impl Engine for FlakyEngine {
    /// `PUT creds` issues a lease of `ttl` seconds to the caller.
    async fn handle(
        &self,
        request: EngineRequest<'_>,
        _storage: &View,
    ) -> coffer_core::Result<Reply> {
        if request.path != "creds" || request.operation != Operation::Update {
            return Ok(Reply::NotFound);
        }
        let ttl = request
            .data
            .get("ttl")
            .and_then(Value::as_u64)
            .unwrap_or(60);
        let scope = request
            .leases
            .ok_or_else(|| Error::invalid("no leases here"))?;
        let identity = request
            .identity
            .cloned()
            .ok_or_else(|| Error::invalid("no identity"))?;
        let lease = scope
            .issue(
                LeaseSpec {
                    path: "creds".into(),
                    ttl: Duration::from_secs(ttl),
                    max_ttl: Duration::from_secs(ttl * 10),
                    renewable: true,
                    identity,
                    purpose: None,
                    internal: Map::new(),
                },
                request.now,
            )
            .await?;
        let mut data = Map::new();
        data.insert("username".into(), json!(format!("v-{}", lease.nonce())));
        Ok(Reply::ok(Response {
            data: Some(data),
            lease: Some(LeaseGrant {
                id: lease.id.clone(),
                duration: lease.remaining(request.now),
                renewable: lease.renewable,
                identity: lease.identity(),
                purpose: None,
            }),
            ..Response::default()
        }))
    }

    async fn exists(
        &self,
        _request: EngineRequest<'_>,
        _storage: &View,
    ) -> coffer_core::Result<Option<bool>> {
        Ok(None)
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> coffer_core::Result<()> {
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> coffer_core::Result<()> {
        Ok(())
    }

    async fn lease_ended(
        &self,
        lease: &LeaseRecord,
        _storage: &View,
        _leases: &LeaseScope,
        _now: SystemTime,
    ) -> coffer_core::Result<()> {
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .0
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(Error::Refused(
                "database unreachable: connection refused".into(),
            ));
        }
        self.0
            .released
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(lease.id.clone());
        Ok(())
    }
}

/// A node with the flaky engine mounted at `db/`.
struct Node {
    app: Router,
    core: Arc<Core>,
    storage: Storage,
    clock: Arc<ManualClock>,
    db: Arc<Database>,
    keys: Vec<String>,
    root: String,
}

impl Node {
    async fn build(storage: Storage, clock: Arc<ManualClock>, db: Arc<Database>) -> Node {
        let mut factories = coffer_engines::factories();
        factories.push(Arc::new(FlakyFactory(db.clone())));
        let core = Core::new(CoreConfig {
            storage: storage.clone(),
            clock: clock.clone(),
            auto_unseal: None,
            engines: EngineRegistry::new(factories),
            audit_devices: Vec::new(),
            ha: None,
        })
        .await
        .expect("the core builds");
        let app = app(core.clone(), HttpConfig::vault_defaults());
        Node {
            app,
            core,
            storage,
            clock,
            db,
            keys: Vec::new(),
            root: String::new(),
        }
    }

    /// Initializes, unseals and mounts the flaky engine at `db/`.
    async fn start(storage: Storage) -> Node {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(START_UNIX),
        ));
        let mut node = Node::build(storage, clock, Arc::new(Database::default())).await;
        let (status, body) = node
            .call(
                "PUT",
                "sys/init",
                json!({"secret_shares": 1, "secret_threshold": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "init: {body}");
        node.keys = strings(&body["keys"]);
        node.root = body["root_token"].as_str().unwrap_or_default().to_owned();
        node.unseal().await;
        let (status, body) = node
            .call("POST", "sys/mounts/db", json!({"type": "flaky-db"}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "mount: {body}");
        node
    }

    async fn unseal(&self) {
        for key in &self.keys {
            let (status, body) = self.call("PUT", "sys/unseal", json!({"key": key})).await;
            assert_eq!(status, StatusCode::OK, "unseal: {body}");
        }
        assert!(!self.core.is_sealed());
    }

    /// `method /v1/path` as root.
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(&self.root, method, path, body).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let body = (!body.is_null()).then_some(body);
        let token = (!token.is_empty()).then_some(token);
        let (status, _, reply) = send(&self.app, method, &format!("/v1/{path}"), token, body).await;
        (status, reply)
    }

    /// Issues a lease of `ttl` seconds; returns its id.
    async fn issue(&self, ttl: u64) -> String {
        let (status, body) = self.call("PUT", "db/creds", json!({"ttl": ttl})).await;
        assert_eq!(status, StatusCode::OK, "issue: {body}");
        body["lease_id"].as_str().unwrap_or_default().to_owned()
    }

    /// `LIST sys/leases/failed` as root: lease id → its details (empty on 404).
    async fn failed(&self) -> BTreeMap<String, Value> {
        let (status, body) = self.call("LIST", "sys/leases/failed", Value::Null).await;
        if status == StatusCode::NOT_FOUND {
            return BTreeMap::new();
        }
        assert_eq!(status, StatusCode::OK, "failed: {body}");
        let info = body["data"]["key_info"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            strings(&body["data"]["keys"]),
            info.keys().cloned().collect::<Vec<_>>()
        );
        info.into_iter().collect()
    }

    async fn reap(&self) -> usize {
        self.core.reap_expired().await.expect("the reaper runs")
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    fn at(&self, from_now: u64) -> String {
        humantime::format_rfc3339_nanos(
            coffer_core::clock::Clock::now(&*self.clock) + Duration::from_secs(from_now),
        )
        .to_string()
    }
}

#[tokio::test]
async fn an_expired_lease_whose_release_fails_is_kept_and_retried_with_backoff() {
    let node = Node::start(Storage::new(MemoryBackend::new())).await;
    let id = node.issue(60).await;
    node.db.fail_next(2);
    node.advance(61);
    assert_eq!(node.reap().await, 0, "nothing released");

    let failed = node.failed().await;
    let entry = &failed[&id];
    assert_eq!(entry["state"], "retrying");
    assert_eq!(entry["attempts"], 1);
    assert_eq!(
        entry["lastError"],
        "database unreachable: connection refused"
    );
    assert_eq!(entry["nextAttemptAt"], node.at(1));
    assert_eq!(entry["path"], "db/creds");
    assert_eq!(entry["identity"]["type"], "token");

    // No longer served or renewable as active.
    let (status, body) = node
        .call("PUT", "sys/leases/lookup", json!({"lease_id": id}))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["invalid lease"]})
        )
    );
    let (status, _) = node
        .call("PUT", "sys/leases/renew", json!({"lease_id": id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Not retried before its time.
    assert_eq!(node.reap().await, 0);
    assert_eq!(node.db.attempts(), 1);

    // Second attempt after 1 s fails too and waits 2 s.
    node.advance(1);
    assert_eq!(node.reap().await, 0);
    assert_eq!(node.db.attempts(), 2);
    let entry = &node.failed().await[&id];
    assert_eq!(entry["attempts"], 2);
    assert_eq!(entry["nextAttemptAt"], node.at(2));
    node.advance(1);
    assert_eq!(node.reap().await, 0);
    assert_eq!(node.db.attempts(), 2, "backoff: not due yet");

    // The database is back: the third attempt releases it and the lease is gone.
    node.advance(1);
    assert_eq!(node.reap().await, 1);
    assert_eq!(node.db.released(), vec![id.clone()]);
    assert!(node.failed().await.is_empty());
    let (status, _) = node
        .call("LIST", "sys/leases/lookup/db/creds/", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no lease left");
}

#[tokio::test]
async fn after_the_last_attempt_a_lease_stays_listed_until_revoke_force() {
    let node = Node::start(Storage::new(MemoryBackend::new())).await;
    let id = node.issue(60).await;
    let healthy = node.issue(3600).await;
    node.db.fail_next(u32::MAX);
    node.advance(61);
    for _ in 0..MAX_REVOKE_ATTEMPTS {
        node.reap().await;
        node.advance(600);
    }
    assert_eq!(node.db.attempts(), MAX_REVOKE_ATTEMPTS);
    let entry = &node.failed().await[&id];
    assert_eq!(entry["state"], "irrevocable");
    assert_eq!(entry["attempts"], MAX_REVOKE_ATTEMPTS);
    assert_eq!(entry["nextAttemptAt"], Value::Null);

    // No automatic attempt any more.
    node.advance(3600 * 24);
    node.reap().await;
    // (the healthy lease expired meanwhile and failed once, the irrevocable one was not tried)
    assert_eq!(node.db.attempts(), MAX_REVOKE_ATTEMPTS + 1);
    assert_eq!(node.failed().await[&id]["attempts"], MAX_REVOKE_ATTEMPTS);
    assert_eq!(node.failed().await[&healthy]["attempts"], 1);

    // An explicit revoke retries at once and reports the engine's message.
    let (status, body) = node
        .call("PUT", "sys/leases/revoke", json!({"lease_id": id}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"errors": [format!(
            "failed to revoke entry {id}: database unreachable: connection refused; it is kept and retried (see sys/leases/failed)"
        )]})
    );
    assert_eq!(node.db.attempts(), MAX_REVOKE_ATTEMPTS + 2);
    let entry = &node.failed().await[&id];
    assert_eq!(entry["attempts"], MAX_REVOKE_ATTEMPTS + 1);
    assert_eq!(entry["state"], "irrevocable");

    // revoke-prefix reports the failures too.
    let (status, body) = node
        .call("PUT", "sys/leases/revoke-prefix/db/", Value::Null)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("failed to revoke 2 of 2 leases"),
        "{body}"
    );
    let attempts = node.db.attempts();

    // revoke-force removes them without asking the engine about failed leases again.
    let (status, body) = node
        .call("PUT", "sys/leases/revoke-force/db/", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(node.db.attempts(), attempts);
    assert!(node.failed().await.is_empty());
    assert!(node.db.released().is_empty());
}

#[tokio::test]
async fn an_explicit_revoke_that_fails_is_reported_and_the_next_one_succeeds() {
    let node = Node::start(Storage::new(MemoryBackend::new())).await;
    let id = node.issue(3600).await;
    node.db.fail_next(1);
    let (status, body) = node
        .call("PUT", "sys/leases/revoke", json!({"lease_id": id}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let entry = &node.failed().await[&id];
    assert_eq!(entry["attempts"], 1);
    assert_eq!(entry["nextAttemptAt"], node.at(1));

    let (status, body) = node
        .call("PUT", "sys/leases/revoke", json!({"lease_id": id}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(node.failed().await.is_empty());
    assert_eq!(node.db.released(), vec![id]);
    // The reaper's old entry for it is gone too.
    node.advance(10);
    assert_eq!(node.reap().await, 0);
    assert_eq!(node.db.attempts(), 2);
}

#[tokio::test]
async fn listing_failed_leases_needs_sudo() {
    let node = Node::start(Storage::new(MemoryBackend::new())).await;
    let (status, body) = node
        .call(
            "PUT",
            "sys/policies/acl/ops",
            json!({"policy": "path \"sys/leases/failed\" { capabilities = [\"list\", \"read\"] }"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = node
        .call("POST", "auth/token/create", json!({"policies": ["ops"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["auth"]["client_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = node
        .call_as(&token, "LIST", "sys/leases/failed", Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Root (sudo) sees an empty list as Vault's LIST does: 404.
    let (status, _) = node.call("LIST", "sys/leases/failed", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failed_leases_survive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("coffer.db");
    let open = || {
        let config = SqliteConfig::new(&path);
        async move { Storage::new(SqliteBackend::open(config).await.expect("SQLite opens")) }
    };
    let node = Node::start(open().await).await;
    let id = node.issue(60).await;
    node.db.fail_next(1);
    node.advance(61);
    assert_eq!(node.reap().await, 0);
    assert_eq!(node.failed().await[&id]["attempts"], 1);
    let (keys, root, clock, db) = (
        node.keys.clone(),
        node.root.clone(),
        node.clock.clone(),
        node.db.clone(),
    );
    let storage = node.storage.clone();
    drop(node);
    storage.close().await.expect("SQLite closes");

    let mut node = Node::build(open().await, clock, db).await;
    node.keys = keys;
    node.root = root;
    node.unseal().await;
    let entry = &node.failed().await[&id];
    assert_eq!(entry["attempts"], 1);
    assert_eq!(
        entry["lastError"],
        "database unreachable: connection refused"
    );

    node.advance(1);
    assert_eq!(node.reap().await, 1);
    assert_eq!(node.db.released(), vec![id]);
    assert!(node.failed().await.is_empty());
}
