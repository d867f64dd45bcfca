//! The PostgreSQL backend: conformance in a fresh schema, two nodes sharing a table, and
//! connection errors.

use std::time::Duration;

use coffer_storage::postgres::{PostgresBackend, PostgresConfig, PostgresHa};
use coffer_storage::testing::{self, postgres_test_schema};
use coffer_storage::{Error, HaBackend, HaNode, Storage, TxOp};

async fn connect(config: PostgresConfig) -> Storage {
    match PostgresBackend::connect(config).await {
        Ok(backend) => Storage::new(backend),
        Err(error) => panic!("cannot connect to the test PostgreSQL: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_twice_on_one_backend() {
    let (config, _schema) = postgres_test_schema().await;
    let storage = connect(config).await;
    assert_eq!(storage.kind(), "postgresql");
    testing::exercise_backend(&storage).await;
    testing::exercise_backend(&storage).await;
    assert_eq!(
        storage.scan("", None, 10).await.ok(),
        Some(Vec::new()),
        "the suite cleans up"
    );
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

/// Two pools on one table stand for two HA nodes: increments through both lose nothing.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_a_table_without_lost_updates() {
    let (mut config, _schema) = postgres_test_schema().await;
    config.table = "shared_kv".to_owned();
    config.max_connections = 4;
    let first = connect(config.clone()).await;
    let second = connect(config).await;
    first
        .put("counter", b"0")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));

    let mut tasks = Vec::new();
    for n in 0..8 {
        let storage = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                loop {
                    let current = storage.get("counter").await?;
                    let number: u64 = current
                        .as_deref()
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .and_then(|text| text.parse().ok())
                        .unwrap_or_else(|| panic!("counter holds {current:?}"));
                    let ops = vec![
                        TxOp::Expect {
                            key: "counter".to_owned(),
                            value: current,
                        },
                        TxOp::Put {
                            key: "counter".to_owned(),
                            value: (number + 1).to_string().into_bytes(),
                        },
                    ];
                    match storage.transaction(ops).await {
                        Ok(()) => break,
                        Err(Error::Conflict { .. }) => continue,
                        Err(error) => return Err(error),
                    }
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        let outcome = task.await.unwrap_or_else(|error| panic!("task: {error}"));
        assert!(outcome.is_ok(), "increment failed: {outcome:?}");
    }
    assert_eq!(second.get("counter").await.ok(), Some(Some(b"40".to_vec())));
    // Data written through one node is visible, in order, through the other.
    second
        .put("z/2", b"b")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));
    first
        .put("z/1", b"a")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));
    assert_eq!(
        first.list("z/").await.ok(),
        Some(vec!["1".to_owned(), "2".to_owned()])
    );
    first
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
    second
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

#[tokio::test]
async fn data_survives_reconnect_and_key_value_strings_work() {
    let (config, schema) = postgres_test_schema().await;
    let storage = connect(config).await;
    storage
        .put("kept", b"value")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
    assert!(
        matches!(storage.get("kept").await, Err(Error::Closed)),
        "calls after close fail"
    );

    let mut config =
        PostgresConfig::new("host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable");
    if std::env::var("COFFER_TEST_POSTGRES_URL").is_ok() {
        // A custom server: reuse its URL form rather than guess its key=value spelling.
        config.connection_url = testing::postgres_test_url();
    }
    config.schema = Some(schema.name().to_owned());
    let reopened = connect(config).await;
    assert_eq!(
        reopened.get("kept").await.ok(),
        Some(Some(b"value".to_vec()))
    );
    reopened
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

#[tokio::test]
async fn unreachable_server_fails_fast_without_the_password() {
    let config = PostgresConfig::new("postgres://postgres:hunter2@127.0.0.1:1/test");
    let error = PostgresBackend::connect(config).await.err();
    match &error {
        Some(Error::PostgresConnect { target, reason }) => {
            assert_eq!(target, "127.0.0.1:1");
            assert!(!reason.is_empty(), "a reason is given");
        }
        other => panic!("expected Error::PostgresConnect, got {other:?}"),
    }
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn bad_configs_are_rejected_before_connecting() {
    async fn check(config: PostgresConfig, needle: &str) {
        match PostgresBackend::connect(config).await {
            Err(Error::Config(message)) => {
                assert!(message.contains(needle), "{message:?} mentions {needle:?}")
            }
            other => panic!("expected Error::Config mentioning {needle:?}, got {other:?}"),
        }
    }
    let url = testing::postgres_test_url();
    for table in ["", "bad-name", "kv; DROP TABLE x", "9lives", "quo\"te"] {
        let mut config = PostgresConfig::new(url.clone());
        config.table = table.to_owned();
        check(config, "table").await;
    }
    let mut config = PostgresConfig::new(url.clone());
    config.schema = Some("public.evil".to_owned());
    check(config, "schema").await;
    let mut config = PostgresConfig::new(url.clone());
    config.max_connections = 0;
    check(config, "max_connections").await;
    check(
        PostgresConfig::new("postgres://postgres@127.0.0.1/test?sslmode=sometimes"),
        "sslmode=sometimes",
    )
    .await;
    check(
        PostgresConfig::new(
            "postgres://postgres@127.0.0.1/test?sslmode=verify-full&sslrootcert=/nonexistent.pem",
        ),
        "sslrootcert /nonexistent.pem",
    )
    .await;
    check(
        PostgresConfig::new("postgres://postgres@127.0.0.1/test?nonsense=1"),
        "connection string",
    )
    .await;
}

#[test]
fn config_debug_hides_the_connection_string() {
    let config = PostgresConfig::new("postgres://alice:hunter2@db/coffer");
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("coffer_kv"), "{shown}");
}

/// The test server's URL with `settings` added to its query.
fn with_settings(url: &str, settings: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{settings}")
}

/// The local test server's self-signed certificate (`ssl = on` with Debian's snakeoil pair).
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread")]
async fn issue_8_tls_when_the_url_asks_for_it() {
    let (mut config, _schema) = postgres_test_schema().await;
    let url = config.connection_url.clone();
    // `require` encrypts without checking the certificate, as libpq does.
    config.connection_url = with_settings(&url, "sslmode=require");
    let storage = connect(config.clone()).await;
    storage
        .put("tls/a", b"over tls")
        .await
        .unwrap_or_else(|e| panic!("put: {e}"));
    assert_eq!(
        storage.get("tls/a").await.ok(),
        Some(Some(b"over tls".to_vec()))
    );
    storage
        .close()
        .await
        .unwrap_or_else(|e| panic!("close: {e}"));

    // `verify-ca` with the server's own certificate as the root passes.
    config.connection_url =
        with_settings(&url, &format!("sslmode=verify-ca&sslrootcert={SNAKEOIL}"));
    let storage = connect(config.clone()).await;
    assert_eq!(
        storage.get("tls/a").await.ok(),
        Some(Some(b"over tls".to_vec()))
    );
    storage
        .close()
        .await
        .unwrap_or_else(|e| panic!("close: {e}"));

    // `verify-full` also checks the name: the certificate is for `localhost`, not 127.0.0.1.
    if url.contains("@127.0.0.1:") {
        config.connection_url =
            with_settings(&url, &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"));
        match PostgresBackend::connect(config.clone()).await {
            Err(Error::PostgresConnect { reason, .. }) => {
                assert!(reason.contains("not valid for name"), "{reason}")
            }
            other => panic!("expected a name mismatch, got {other:?}"),
        }
        config.connection_url = config.connection_url.replace("@127.0.0.1:", "@localhost:");
        connect(config.clone())
            .await
            .close()
            .await
            .unwrap_or_else(|e| panic!("close: {e}"));
    }

    // `verify-full` against the system roots (which never signed the self-signed certificate)
    // fails, and says why.
    config.connection_url = with_settings(&url, "sslmode=verify-full");
    match PostgresBackend::connect(config).await {
        Err(Error::PostgresConnect { reason, .. }) => assert!(
            reason.contains("certificate"),
            "the reason names the certificate: {reason}"
        ),
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

fn cache_kind(key: &str) -> Option<&'static str> {
    key.strip_prefix("cached/").map(|_| "cached")
}

async fn ha_backend(config: &PostgresConfig) -> PostgresBackend {
    let mut config = config.clone();
    config.ha = Some(PostgresHa {
        ha_table: "ha_locks".to_owned(),
        classify: cache_kind,
    });
    PostgresBackend::connect(config)
        .await
        .unwrap_or_else(|error| panic!("connect: {error}"))
}

fn node(id: &str) -> HaNode {
    HaNode {
        id: id.to_owned(),
        api_addr: format!("http://{id}:8200"),
        cluster_addr: format!("https://{id}:8201"),
    }
}

/// Two backends on one schema stand for two nodes: one lock holder at a time, handed over on
/// release; writes of classified keys bump their counter, others do not.
#[tokio::test(flavor = "multi_thread")]
async fn issue_8_ha_lock_and_change_counters() {
    let (config, _schema) = postgres_test_schema().await;
    let (one, two) = (ha_backend(&config).await, ha_backend(&config).await);
    let ttl = Duration::from_secs(60);
    let held = |leader: coffer_storage::Result<coffer_storage::HaLeader>| {
        leader.unwrap_or_else(|error| panic!("hold_lock: {error}"))
    };
    let first = held(one.hold_lock(&node("one"), ttl).await);
    assert!(first.is_self);
    let second = held(two.hold_lock(&node("two"), ttl).await);
    assert_eq!((second.is_self, second.node), (false, node("one")));
    assert!(
        held(one.hold_lock(&node("one"), ttl).await).is_self,
        "renewal"
    );
    one.release_lock("one")
        .await
        .unwrap_or_else(|error| panic!("release: {error}"));
    assert!(
        held(two.hold_lock(&node("two"), ttl).await).is_self,
        "handed over"
    );
    let third = held(one.hold_lock(&node("one"), ttl).await);
    assert_eq!((third.is_self, third.node), (false, node("two")));

    assert!(counters(&two).await.is_empty());
    let storage = Storage::with_ha(std::sync::Arc::new(one));
    storage
        .put("cached/a", b"1")
        .await
        .unwrap_or_else(|e| panic!("put: {e}"));
    storage
        .put("plain/a", b"1")
        .await
        .unwrap_or_else(|e| panic!("put: {e}"));
    storage
        .transaction(vec![
            TxOp::Put {
                key: "cached/b".to_owned(),
                value: b"2".to_vec(),
            },
            TxOp::Delete {
                key: "cached/a".to_owned(),
            },
        ])
        .await
        .unwrap_or_else(|e| panic!("transaction: {e}"));
    let seen = counters(&two).await;
    assert_eq!(
        seen.get("cached"),
        Some(&2),
        "one bump per transaction: {seen:?}"
    );
    assert_eq!(seen.len(), 1, "unclassified keys bump nothing: {seen:?}");
}

async fn counters(backend: &PostgresBackend) -> std::collections::BTreeMap<String, i64> {
    backend
        .change_counters()
        .await
        .unwrap_or_else(|error| panic!("counters: {error}"))
}
