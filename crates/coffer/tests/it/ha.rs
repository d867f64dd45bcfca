//! High availability on PostgreSQL (issue #8): three real `coffer` processes share one fresh
//! schema on the local PostgreSQL and unseal themselves with the static auto-unseal key. Every
//! node serves reads and writes; exactly one is active; caches follow changes made on other
//! nodes; the active node's death hands the background jobs to a standby; concurrent KV v2
//! `cas` writers on different nodes never lose an update.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_client::Client;
use coffer_storage::testing::{PostgresTestSchema, postgres_test_schema};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::TestServer;

/// A fixed 32-byte auto-unseal key (base64).
const UNSEAL_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n";

struct Cluster {
    nodes: Vec<Option<TestServer>>,
    root: String,
    config: String,
    dirs: Vec<tempfile::TempDir>,
    _schema: PostgresTestSchema,
}

impl Cluster {
    /// Starts nodes A and B, initializes through A, then starts C; B and C unseal themselves.
    async fn start() -> Cluster {
        let (pg, schema) = postgres_test_schema().await;
        let key_dir = tempfile::tempdir().expect("tempdir");
        let key_file = key_dir.path().join("unseal.key");
        std::fs::write(&key_file, UNSEAL_KEY).expect("write key");
        let config = format!(
            "storage \"postgresql\" {{\n connection_url = \"{}\"\n schema = \"{}\"\n ha_enabled = true\n max_connections = 8\n}}\n\
             listener \"tcp\" {{\n address = \"127.0.0.1:0\"\n tls_disable = true\n}}\n\
             seal \"static\" {{ key_file = \"{}\" }}\n",
            pg.connection_url,
            schema.name(),
            key_file.display()
        );
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root: String::new(),
            config,
            dirs: vec![key_dir],
            _schema: schema,
        };
        // B starts before the store is initialized: it stays sealed until A initializes it.
        cluster.add_node();
        cluster.add_node();
        let first = cluster.nodes[0].as_ref().expect("running").client();
        cluster.root = first.init(1, 1).await.expect("init").root_token;
        let second = cluster.nodes[1].as_ref().expect("running").client();
        eventually(
            "a node started before init unseals itself",
            Duration::from_secs(10),
            || async { !second.seal_status().await.expect("status").sealed },
        )
        .await;
        cluster.add_node();
        for node in cluster.live() {
            assert!(
                !node.client().seal_status().await.expect("status").sealed,
                "every node unsealed itself"
            );
        }
        cluster
    }

    fn add_node(&mut self) {
        let dir = tempfile::tempdir().expect("tempdir");
        self.nodes
            .push(Some(TestServer::with_config(dir.path(), &self.config)));
        self.dirs.push(dir);
    }

    fn live(&self) -> impl Iterator<Item = &TestServer> {
        self.nodes.iter().flatten()
    }

    fn root(&self, index: usize) -> Client {
        self.nodes[index]
            .as_ref()
            .expect("node running")
            .client()
            .with_token(self.root.clone())
    }

    /// Waits until exactly one live, unsealed node says it is active and every such node names
    /// it as the leader; returns its index.
    async fn active(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let mut actives = Vec::new();
            let mut addresses = BTreeSet::new();
            for (index, node) in self.nodes.iter().enumerate() {
                let Some(node) = node else { continue };
                let leader = match node.client().leader().await {
                    Ok(leader) => leader,
                    // A sealed node takes no part.
                    Err(coffer_client::Error::Api { status: 503, .. }) => continue,
                    Err(error) => panic!("sys/leader: {error}"),
                };
                assert!(leader.ha_enabled, "sys/leader: ha_enabled");
                if leader.is_self {
                    actives.push((index, node.addr.clone()));
                }
                addresses.insert(leader.leader_address);
            }
            if let [(index, addr)] = actives.as_slice()
                && addresses.len() == 1
                && addresses.contains(addr)
            {
                return *index;
            }
            assert!(
                Instant::now() < deadline,
                "no single active node within {within:?}: active {actives:?}, leaders {addresses:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The status and body of a call; error statuses are answers too.
async fn call(client: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    match client.raw(method, path, body.as_ref()).await {
        Ok(reply) => (reply.status, reply.body.unwrap_or(Value::Null)),
        Err(coffer_client::Error::Api { status, errors, .. }) => (status, json!(errors)),
        Err(error) => panic!("{method} {path}: {error}"),
    }
}

async fn ok(client: &Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, body) = call(client, method, path, body).await;
    assert!(status < 300, "{method} {path}: {status} {body}");
    body
}

/// Polls `check` until it holds, failing after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_8_three_nodes_share_one_postgresql_store() {
    let cluster = Cluster::start().await;
    let (a, b, c) = (cluster.root(0), cluster.root(1), cluster.root(2));

    // Exactly one active node; the others are standbys, as sys/health reports them.
    let active = cluster.active(Duration::from_secs(15)).await;
    for (index, node) in cluster.nodes.iter().enumerate() {
        let node = node.as_ref().expect("running");
        let (code, health) = node.client().health().await.expect("health");
        let standby_ok = call(&node.client(), "GET", "sys/health?standbyok=true", None).await;
        if index == active {
            assert_eq!((code, health.standby), (200, false), "the active node");
        } else {
            assert_eq!((code, health.standby), (429, true), "a standby");
            assert_eq!(standby_ok.0, 200, "standbyok=true turns a standby into 200");
            assert_eq!(standby_ok.1["standby"], true);
        }
    }

    // A mount made on A is usable on B and C; a write on A reads back on B and C.
    ok(
        &a,
        "POST",
        "sys/mounts/secret",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    for node in [&b, &c] {
        eventually("the new mount is seen", Duration::from_secs(1), || async {
            call(node, "GET", "sys/mounts/secret/tune", None).await.0 == 200
        })
        .await;
    }
    ok(
        &a,
        "POST",
        "secret/data/app",
        Some(json!({"data": {"password": "from-a"}})),
    )
    .await;
    for node in [&b, &c] {
        let body = ok(node, "GET", "secret/data/app", None).await;
        assert_eq!(body["data"]["data"]["password"], "from-a");
    }

    // A keyring rotated on B: what B then writes under the new term reads on A and C.
    ok(&b, "POST", "sys/rotate", None).await;
    ok(
        &b,
        "POST",
        "secret/data/rotated",
        Some(json!({"data": {"term": "new"}})),
    )
    .await;
    for node in [&a, &c] {
        eventually("the new term is known", Duration::from_secs(1), || async {
            call(node, "GET", "secret/data/rotated", None).await.0 == 200
        })
        .await;
    }

    // A token used (and cached) on A, revoked on B, is refused on A within a second.
    let created = ok(
        &a,
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["default"]})),
    )
    .await;
    let token = created["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let holder = cluster.nodes[0]
        .as_ref()
        .expect("running")
        .client()
        .with_token(token.clone());
    ok(&holder, "GET", "auth/token/lookup-self", None).await;
    ok(
        &b,
        "POST",
        "auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;
    eventually(
        "the revoked token is refused on A",
        Duration::from_secs(1),
        || async { call(&holder, "GET", "auth/token/lookup-self", None).await.0 == 403 },
    )
    .await;

    // A policy change on A is in force on C within a second.
    let narrow = r#"path "secret/data/app" { capabilities = ["read"] }"#;
    ok(
        &a,
        "PUT",
        "sys/policies/acl/reader",
        Some(json!({"policy": narrow})),
    )
    .await;
    let created = ok(
        &a,
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["reader"]})),
    )
    .await;
    let reader = cluster.nodes[2]
        .as_ref()
        .expect("running")
        .client()
        .with_token(created["auth"]["client_token"].as_str().expect("token"));
    ok(
        &a,
        "POST",
        "secret/data/other",
        Some(json!({"data": {"v": 1}})),
    )
    .await;
    eventually(
        "the reader token works on C",
        Duration::from_secs(1),
        || async { call(&reader, "GET", "secret/data/app", None).await.0 == 200 },
    )
    .await;
    assert_eq!(call(&reader, "GET", "secret/data/other", None).await.0, 403);
    let wide = r#"path "secret/data/*" { capabilities = ["read"] }"#;
    ok(
        &a,
        "PUT",
        "sys/policies/acl/reader",
        Some(json!({"policy": wide})),
    )
    .await;
    eventually(
        "the widened policy applies on C",
        Duration::from_secs(1),
        || async { call(&reader, "GET", "secret/data/other", None).await.0 == 200 },
    )
    .await;

    // Concurrent check-and-set increments through all three nodes never lose an update.
    const WRITERS_PER_NODE: usize = 2;
    const INCREMENTS: u64 = 15;
    ok(
        &a,
        "POST",
        "secret/data/counter",
        Some(json!({"data": {"n": 0}})),
    )
    .await;
    let mut writers = Vec::new();
    for client in [&a, &b, &c] {
        for _ in 0..WRITERS_PER_NODE {
            let client = client.clone();
            writers.push(tokio::spawn(async move {
                let mut done = 0;
                while done < INCREMENTS {
                    let body = ok(&client, "GET", "secret/data/counter", None).await;
                    let version = body["data"]["metadata"]["version"]
                        .as_u64()
                        .expect("version");
                    let n = body["data"]["data"]["n"].as_u64().expect("n");
                    let (status, reply) = call(
                        &client,
                        "POST",
                        "secret/data/counter",
                        Some(json!({"options": {"cas": version}, "data": {"n": n + 1}})),
                    )
                    .await;
                    match status {
                        200 | 204 => done += 1,
                        400 => {} // Another writer got there first: read again.
                        other => panic!("cas write: {other} {reply}"),
                    }
                }
            }));
        }
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let body = ok(&c, "GET", "secret/data/counter", None).await;
    assert_eq!(
        body["data"]["data"]["n"].as_u64(),
        Some(3 * WRITERS_PER_NODE as u64 * INCREMENTS),
        "every increment landed exactly once"
    );

    // A sealed node answers 503 and stays sealed; the others keep serving.
    let standby = (0..3).find(|index| *index != active).expect("a standby");
    let sealed = cluster.root(standby);
    ok(&sealed, "PUT", "sys/seal", None).await;
    assert_eq!(call(&sealed, "GET", "secret/data/app", None).await.0, 503);
    assert_eq!(
        call(
            &sealed,
            "POST",
            "secret/data/app",
            Some(json!({"data": {"x": 1}}))
        )
        .await
        .0,
        503
    );
    let (code, health) = sealed.health().await.expect("health");
    assert_eq!((code, health.sealed), (503, true));
    ok(
        &cluster.root(active),
        "POST",
        "secret/data/app",
        Some(json!({"data": {"x": 2}})),
    )
    .await;
    assert_eq!(cluster.active(Duration::from_secs(15)).await, active);
    assert!(
        sealed.seal_status().await.expect("status").sealed,
        "no auto-unseal after a seal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_8_kill_9_the_active_node_a_standby_takes_over_and_reaps_every_lease() {
    const LEASES: usize = 1000;
    let mut cluster = Cluster::start().await;
    let active = cluster.active(Duration::from_secs(15)).await;
    let survivors: Vec<usize> = (0..3).filter(|index| *index != active).collect();
    let issuers = [cluster.root(0), cluster.root(1), cluster.root(2)];
    ok(
        &issuers[0],
        "POST",
        "credentials/ha-db",
        Some(json!({"type": "generic-secret", "value": "s3cret"})),
    )
    .await;

    // 1,000 short leases, issued through all three nodes.
    let permits = Arc::new(Semaphore::new(24));
    let mut tasks = Vec::new();
    for i in 0..LEASES {
        let client = issuers[i % 3].clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let body = ok(
                &client,
                "POST",
                "credentials/ha-db/lease",
                Some(json!({"ttl": "5s", "identity": "agent:ha"})),
            )
            .await;
            body["lease_id"].as_str().expect("lease id").to_owned()
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.expect("task"));
    }
    assert_eq!(ids.len(), LEASES);
    let (_, listed) = call(
        &issuers[active],
        "LIST",
        "sys/leases/lookup/credentials/ha-db/lease/",
        None,
    )
    .await;
    assert!(
        listed["data"]["keys"]
            .as_array()
            .is_some_and(|keys| !keys.is_empty()),
        "leases are outstanding when the active node dies: {listed}"
    );

    // The active node dies without warning; another takes over.
    cluster.nodes[active].take().expect("running").kill9();
    let killed = Instant::now();
    let next = cluster.active(Duration::from_secs(15)).await;
    assert!(survivors.contains(&next));
    let client = cluster.root(next);

    // Every lease ends within a bounded delay after its expiry: none listed, none readable.
    let stored = || async {
        let (status, body) = call(
            &client,
            "LIST",
            "sys/leases/lookup/credentials/ha-db/lease/",
            None,
        )
        .await;
        match status {
            404 => 0,
            200 => body["data"]["keys"].as_array().map_or(0, Vec::len),
            other => panic!("list leases: {other} {body}"),
        }
    };
    let within = Duration::from_secs(30).saturating_sub(killed.elapsed()) + Duration::from_secs(15);
    eventually("every lease reaped", within, || async {
        stored().await == 0
    })
    .await;
    for id in &ids {
        let (status, _) = call(&client, "GET", id, None).await;
        assert!(status >= 400, "an expired lease still reads: {id} {status}");
    }
    let other = survivors
        .iter()
        .find(|index| **index != next)
        .expect("other survivor");
    let (status, _) = call(
        &cluster.root(*other),
        "GET",
        ids.first().expect("a lease"),
        None,
    )
    .await;
    assert!(status >= 400, "the standby agrees");
}
