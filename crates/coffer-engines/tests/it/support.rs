//! Shared fixtures: an unsealed barrier over in-memory storage, mount descriptions, and a
//! builder that turns a JSON literal into an `EngineRequest` and summarizes the reply as JSON so
//! tests can compare whole outcomes in one `assert_eq!`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use coffer_barrier::{Barrier, RootKey, View};
use coffer_core::engine::{Engine, EngineRequest, MountInfo};
use coffer_core::{Operation, Reply};
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;
use serde_json::{Map, Value, json};

/// The token scope requests carry unless a test picks another.
pub(crate) const SCOPE: &str = "scope-a";

/// The storage prefix of the test mount's view.
pub(crate) const VIEW_PREFIX: &str = "logical/test/";

/// A storage view `logical/test/` of a fresh, initialized and unsealed barrier.
pub(crate) async fn view() -> View {
    fixture().await.view
}

/// A fresh, initialized and unsealed barrier, the test mount's view of it, and the raw storage
/// below it (to check what an untrusted storage sees: keys, and that values are not plaintext).
pub(crate) struct Fixture {
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) view: View,
    pub(crate) storage: Storage,
}

/// See [`Fixture`].
pub(crate) async fn fixture() -> Fixture {
    let storage = Storage::new(MemoryBackend::new());
    let barrier = Arc::new(Barrier::new(storage.clone()));
    let root = RootKey::generate().expect("the system random generator works in tests");
    barrier
        .initialize(&root)
        .await
        .expect("a fresh barrier initializes");
    barrier
        .unseal(&root)
        .await
        .expect("the root key just set unseals");
    Fixture {
        view: barrier.view(VIEW_PREFIX),
        barrier,
        storage,
    }
}

/// A mount at `test/` of type `kind` with `options` (pairs), default TTLs.
pub(crate) fn mount(kind: &str, options: &[(&str, &str)]) -> MountInfo {
    MountInfo {
        path: "test/".to_owned(),
        kind: kind.to_owned(),
        accessor: format!("{kind}_0000test"),
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        default_lease_ttl: 0,
        max_lease_ttl: 0,
    }
}

/// The owned parts of a request; borrow them as an `EngineRequest` with [`Call::send`].
#[derive(Debug, Clone)]
pub(crate) struct Call {
    operation: Operation,
    path: String,
    data: Map<String, Value>,
    token_scope: String,
    now: SystemTime,
}

/// A request for `operation` on `path` (below the mount) with `body` (a JSON object, or `null`
/// for none), from the token scope [`SCOPE`].
pub(crate) fn request(operation: Operation, path: &str, body: Value) -> Call {
    let data = match body {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => panic!("a request body is a JSON object or null, not {other}"),
    };
    Call {
        operation,
        path: path.to_owned(),
        data,
        token_scope: SCOPE.to_owned(),
        now: SystemTime::now(),
    }
}

impl Call {
    /// The same request from another token scope.
    pub(crate) fn scope(mut self, token_scope: &str) -> Call {
        self.token_scope = token_scope.to_owned();
        self
    }

    /// The same request at another time.
    #[allow(
        dead_code,
        reason = "for engines whose replies depend on the time (KV v2)"
    )]
    pub(crate) fn at(mut self, now: SystemTime) -> Call {
        self.now = now;
        self
    }

    /// The request as the engine sees it.
    pub(crate) fn engine_request<'a>(&'a self, mount: &'a MountInfo) -> EngineRequest<'a> {
        EngineRequest {
            operation: self.operation,
            path: &self.path,
            data: &self.data,
            mount,
            now: self.now,
            token_scope: &self.token_scope,
            identity: None,
            sudo: false,
            leases: None,
            peers: None,
        }
    }

    /// Sends it to `engine` and summarizes the reply with [`outcome`].
    pub(crate) async fn send(&self, engine: &dyn Engine, mount: &MountInfo, view: &View) -> Value {
        outcome(engine.handle(self.engine_request(mount), view).await)
    }

    /// Asks `engine` whether the path exists.
    pub(crate) async fn exists(
        &self,
        engine: &dyn Engine,
        mount: &MountInfo,
        view: &View,
    ) -> coffer_core::Result<Option<bool>> {
        engine.exists(self.engine_request(mount), view).await
    }
}

/// Sends each request in turn and checks its outcome (see [`outcome`]); a failure names the
/// step.
pub(crate) async fn script(
    engine: &dyn Engine,
    mount: &MountInfo,
    view: &View,
    steps: &[(Call, Value)],
) {
    for (index, (call, expect)) in steps.iter().enumerate() {
        let got = call.send(engine, mount, view).await;
        assert_eq!(
            &got, expect,
            "step {index}: {:?} {:?} (scope {:?})",
            call.operation, call.path, call.token_scope
        );
    }
}

/// A reply (or error) as JSON: `{"status": 200, "data": …, "lease_duration": …, "warnings": […]}`
/// for a body, `{"status": 204}`, `{"status": 404}` (`{"errors":[]}`), `{"status": 404, "data":
/// …, …}` for a 404 with a body, `{"status": 404, "empty": true}` for a bodiless 404, and
/// `{"error": "<message>"}` for an error.
pub(crate) fn outcome(result: coffer_core::Result<Reply>) -> Value {
    fn body(status: u16, response: &coffer_core::Response) -> Value {
        json!({
            "status": status,
            "data": response.data,
            "lease_duration": response.lease_duration,
            "warnings": response.warnings,
        })
    }
    match result {
        Ok(Reply::Ok(response)) => body(200, &response),
        Ok(Reply::NoContent) => json!({"status": 204}),
        Ok(Reply::NotFound) => json!({"status": 404}),
        Ok(Reply::NotFoundWithBody(response)) => body(404, &response),
        Ok(Reply::NotFoundEmpty) => json!({"status": 404, "empty": true}),
        Ok(Reply::Login(grant)) => json!({
            "login": {
                "policies": grant.policies,
                "identity": {"kind": grant.identity.kind, "name": grant.identity.name},
                "display_name": grant.display_name,
                "metadata": grant.metadata,
                "ttl": grant.ttl.as_secs(),
                "max_ttl": grant.max_ttl.as_secs(),
                "period": grant.period.as_secs(),
                "num_uses": grant.num_uses,
                "no_default_policy": grant.no_default_policy,
            }
        }),
        Err(error) => json!({"error": error.to_string()}),
    }
}

/// The `{"status": 200, …}` outcome of a successful read returning `data`.
pub(crate) fn ok(data: Value, lease_duration: u64) -> Value {
    json!({"status": 200, "data": data, "lease_duration": lease_duration, "warnings": []})
}

/// The outcome of a `{"keys": […]}` listing.
pub(crate) fn keys(keys: &[&str]) -> Value {
    ok(json!({ "keys": keys }), 0)
}

/// The outcome of a 204.
pub(crate) fn no_content() -> Value {
    json!({"status": 204})
}

/// The outcome of a plain 404.
pub(crate) fn not_found() -> Value {
    json!({"status": 404})
}

/// The outcome of a login grant: every field of the `LoginGrant` (TTLs in seconds).
pub(crate) fn login(grant: Value) -> Value {
    json!({ "login": grant })
}

/// The outcome of an error with `message`.
pub(crate) fn error(message: &str) -> Value {
    json!({ "error": message })
}
