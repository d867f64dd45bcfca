//! Leases survive `kill -9`: 10,000 credential leases are issued against a real server on
//! SQLite (half short, half long), the server is killed without warning, and after a restart
//! every unexpired lease still serves its value, every expired one is reaped, and none is lost
//! or resurrected.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use coffer_client::Client;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::TestServer;

const CREDENTIALS: usize = 20;
const LEASES_PER_CREDENTIAL: usize = 500;

async fn ok(client: &Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let reply = client
        .raw(method, path, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert!(
        reply.status < 300,
        "{method} {path}: {} {:?}",
        reply.status,
        reply.body
    );
    reply.body.unwrap_or(Value::Null)
}

async fn unsealed(dir: &std::path::Path, keys: &[String]) -> TestServer {
    let server = TestServer::sqlite(dir);
    for key in keys.iter().take(2) {
        server.client().unseal(key).await.expect("unseal");
    }
    server
}

/// Every lease id the store holds below `credentials/` (expired-but-unreaped ones included).
async fn stored_lease_ids(client: &Client) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for c in 0..CREDENTIALS {
        let prefix = format!("credentials/crash-{c}/lease/");
        let reply = client
            .raw("LIST", &format!("sys/leases/lookup/{prefix}"), None)
            .await
            .expect("list leases");
        if reply.status == 404 {
            continue;
        }
        let body = reply.body.expect("a body");
        for key in body["data"]["keys"].as_array().expect("keys") {
            ids.insert(format!("{prefix}{}", key.as_str().expect("key")));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_5_ten_thousand_leases_survive_kill_9_and_expired_ones_are_reaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::sqlite(dir.path());
    let init = server.client().init(3, 2).await.expect("init");
    let keys = init.keys_base64.clone();
    let root = init.root_token.clone();
    let server = {
        drop(server);
        unsealed(dir.path(), &keys).await
    };
    let client = server.client().with_token(root.clone());
    for c in 0..CREDENTIALS {
        ok(
            &client,
            "POST",
            &format!("credentials/crash-{c}"),
            Some(json!({"type": "generic-secret", "value": format!("value-{c}")})),
        )
        .await;
    }

    // Issue 10,000 leases, 32 at a time: even ones live an hour, odd ones one second.
    let permits = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..CREDENTIALS * LEASES_PER_CREDENTIAL {
        let client = client.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let ttl = if i % 2 == 0 { "1h" } else { "1s" };
            let body = ok(
                &client,
                "POST",
                &format!("credentials/crash-{}/lease", i % CREDENTIALS),
                Some(json!({"ttl": ttl, "identity": format!("agent:worker-{}", i % 7)})),
            )
            .await;
            (i, body["lease_id"].as_str().expect("lease id").to_owned())
        }));
    }
    let mut long = BTreeSet::new();
    let mut short = BTreeSet::new();
    for task in tasks {
        let (i, id) = task.await.expect("task");
        if i % 2 == 0 {
            long.insert(id);
        } else {
            short.insert(id);
        }
    }
    assert_eq!(
        long.len() + short.len(),
        CREDENTIALS * LEASES_PER_CREDENTIAL
    );

    // No warning, no flush.
    server.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = unsealed(dir.path(), &keys).await;
    let client = server.client().with_token(root);

    // The reaper ends every short lease; the long ones all remain.
    let mut stored = stored_lease_ids(&client).await;
    for _ in 0..120 {
        if stored.len() == long.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stored = stored_lease_ids(&client).await;
    }
    assert_eq!(
        stored.len(),
        long.len(),
        "every expired lease reaped, none lost"
    );
    assert_eq!(stored, long, "exactly the unexpired leases remain");
    assert!(stored.is_disjoint(&short), "no expired lease resurrected");

    // Each unexpired lease still serves its value.
    let permits = Arc::new(Semaphore::new(32));
    let mut checks = Vec::new();
    for id in long {
        let client = client.clone();
        let permits = permits.clone();
        checks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let body = ok(&client, "GET", &id, None).await;
            let credential = id.split('/').nth(1).expect("credential in id").to_owned();
            let suffix = credential.trim_start_matches("crash-");
            assert_eq!(body["data"]["value"], format!("value-{suffix}"), "{id}");
            assert_eq!(body["data"]["leaseId"], id.as_str());
        }));
    }
    for check in checks {
        check.await.expect("lease check");
    }
    server.kill9();
}
