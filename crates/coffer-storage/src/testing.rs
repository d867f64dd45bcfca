//! The conformance suite every storage backend passes (like OpenBao's `ExerciseBackend`), and the
//! PostgreSQL test-schema helper other crates' tests use.
//!
//! Each `exercise_*` function panics with a message naming the backend and the broken promise.
//! Each call works under its own fresh prefix (`conformance-<random>/…`) and deletes what it wrote,
//! so the suite can run twice on one backend, or beside other data.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::postgres::PostgresConfig;
use crate::{Error, Storage, TxOp};

/// Runs the whole conformance suite against `storage`.
pub async fn exercise_backend(storage: &Storage) {
    exercise_crud(storage).await;
    exercise_list(storage).await;
    exercise_scan(storage).await;
    exercise_ordering(storage).await;
    exercise_transactions(storage).await;
    exercise_expect_empty(storage).await;
    exercise_concurrency(storage).await;
    exercise_large_values(storage).await;
    exercise_keys(storage).await;
}

/// Put, get, overwrite, delete, delete of a missing key, get of a missing key.
pub async fn exercise_crud(storage: &Storage) {
    let probe = Probe::new(storage, "crud");
    let key = probe.key("item");
    let other = probe.key("other");

    probe
        .assert_value(&key, None, "get of a key never written")
        .await;
    probe.put(&key, b"one").await;
    probe
        .assert_value(&key, Some(b"one"), "get after put")
        .await;
    probe.put(&key, b"two").await;
    probe
        .assert_value(&key, Some(b"two"), "get after overwrite")
        .await;
    probe.put(&other, b"kept").await;
    probe.delete(&key).await;
    probe.assert_value(&key, None, "get after delete").await;
    probe
        .assert_value(&other, Some(b"kept"), "a delete touched another key")
        .await;
    probe.delete(&key).await;
    probe.delete(&probe.key("never-written")).await;
    probe
        .assert_value(&key, None, "get after deleting a missing key")
        .await;
    probe.cleanup().await;
}

/// Immediate children with folders, nested folders, a missing prefix, the root, and folders
/// vanishing with their last key.
pub async fn exercise_list(storage: &Storage) {
    let probe = Probe::new(storage, "list");
    for relative in ["a", "b/c", "b/d/e", "b/d/f", "c/", "d", "x/y/z", "d-", "d0"] {
        probe.put(&probe.key(relative), relative.as_bytes()).await;
    }
    probe
        .assert_list(&probe.base, &["a", "b/", "c/", "d", "d-", "d0", "x/"])
        .await;
    probe.assert_list(&probe.key("b/"), &["c", "d/"]).await;
    probe.assert_list(&probe.key("b/d/"), &["e", "f"]).await;
    probe.assert_list(&probe.key("x/"), &["y/"]).await;
    probe.assert_list(&probe.key("x/y/"), &["z"]).await;
    probe.assert_list(&probe.key("c/"), &[]).await;
    probe.assert_list(&probe.key("missing/"), &[]).await;
    probe
        .assert_list(&format!("no-such-root-{}/", unique_hex()), &[])
        .await;

    let root = probe.list("").await;
    assert!(
        root.contains(&probe.top),
        "[{}] list(\"\") does not show the suite's top folder {:?}: {root:?}",
        probe.kind,
        probe.top
    );
    probe.assert_sorted_unique(&root, "list(\"\")");
    for child in &root {
        let slashes = child.matches('/').count();
        assert!(
            !child.is_empty() && (slashes == 0 || (slashes == 1 && child.ends_with('/'))),
            "[{}] list(\"\") returned {child:?}, which is not an immediate child",
            probe.kind
        );
    }

    probe.delete(&probe.key("b/d/e")).await;
    probe.assert_list(&probe.key("b/"), &["c", "d/"]).await;
    probe.delete(&probe.key("b/d/f")).await;
    probe.assert_list(&probe.key("b/"), &["c"]).await;
    probe.delete(&probe.key("b/c")).await;
    probe
        .assert_list(&probe.base, &["a", "c/", "d", "d-", "d0", "x/"])
        .await;
    probe.cleanup().await;
}

/// `scan` with a prefix, `after` and `limit`, and paging through everything.
pub async fn exercise_scan(storage: &Storage) {
    let probe = Probe::new(storage, "scan");
    let mut all: Vec<String> = (0..25).map(|n| probe.key(&format!("k{n:02}"))).collect();
    all.push(probe.key("k1/nested/deep"));
    all.push(probe.key("l"));
    for key in &all {
        probe.put(key, b"v").await;
    }
    all.sort();

    probe.assert_scan(&probe.base, None, 1000, &all).await;
    probe.assert_scan(&probe.base, None, 10, &all[..10]).await;
    probe.assert_scan(&probe.base, None, 0, &[]).await;
    probe
        .assert_scan(&probe.base, Some(&all[9]), 3, &all[10..13])
        .await;
    probe
        .assert_scan(&probe.base, Some(&probe.key("k12x")), 2, &all[14..16])
        .await;
    let last = all.last().cloned().unwrap_or_default();
    probe.assert_scan(&probe.base, Some(&last), 10, &[]).await;
    // A cursor before the prefix starts at the prefix.
    probe
        .assert_scan(&probe.base, Some("!"), 2, &all[..2])
        .await;

    let tens: Vec<String> = all
        .iter()
        .filter(|key| key.starts_with(&probe.key("k1")))
        .cloned()
        .collect();
    assert_eq!(
        tens.len(),
        11,
        "[{}] test setup: k10..k19 and k1/nested/deep",
        probe.kind
    );
    let (tens_prefix, missing) = (probe.key("k1"), probe.key("missing"));
    probe.assert_scan(&tens_prefix, None, 100, &tens).await;
    probe.assert_scan(&missing, None, 100, &[]).await;

    for page_size in [1, 4, 7, 100] {
        let paged = probe.scan_all(&probe.base, page_size).await;
        assert_eq!(
            paged, all,
            "[{}] paging through scan with limit {page_size}",
            probe.kind
        );
    }

    // `scan_records` finds what `scan` finds, each key with its value.
    for (n, key) in all.iter().enumerate() {
        probe.put(key, format!("value {n}").as_bytes()).await;
    }
    let cases: [(&str, Option<&str>, usize); 5] = [
        (&probe.base, None, 1000),
        (&probe.base, Some(&all[9]), 3),
        (&tens_prefix, None, 100),
        (&probe.base, None, 0),
        (&missing, None, 10),
    ];
    for (prefix, after, limit) in cases {
        let keys = probe.scan(prefix, after, limit).await;
        let records = match storage.scan_records(prefix, after, limit).await {
            Ok(records) => records,
            Err(error) => panic!("[{}] scan_records({prefix:?}) failed: {error}", probe.kind),
        };
        let expected: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|key| {
                let n = all.iter().position(|k| k == key).unwrap_or(usize::MAX);
                (key.clone(), format!("value {n}").into_bytes())
            })
            .collect();
        assert_eq!(
            records, expected,
            "[{}] scan_records({prefix:?}, {after:?}, {limit}) against scan and the values",
            probe.kind
        );
    }
    probe.cleanup().await;
}

/// Keys come out of `scan` and `list` in byte order, whatever their case, punctuation or script.
pub async fn exercise_ordering(storage: &Storage) {
    let probe = Probe::new(storage, "ordering");
    let relative = ["z", "日本/x", "a0", "B", "a/b", "é", "aa", "a-", "a/", "a"];
    for key in relative {
        probe.put(&probe.key(key), key.as_bytes()).await;
    }
    let in_byte_order = ["B", "a", "a-", "a/", "a/b", "a0", "aa", "z", "é", "日本/x"];
    let expected: Vec<String> = in_byte_order.iter().map(|key| probe.key(key)).collect();
    probe.assert_scan(&probe.base, None, 100, &expected).await;
    assert_eq!(
        probe.scan_all(&probe.base, 1).await,
        expected,
        "[{}] paging one key at a time keeps byte order",
        probe.kind
    );
    probe
        .assert_list(
            &probe.base,
            &["B", "a", "a-", "a/", "a0", "aa", "z", "é", "日本/"],
        )
        .await;
    probe.assert_list(&probe.key("a/"), &["b"]).await;
    probe.cleanup().await;
}

/// Multi-put commit, `Expect` holding and failing (nothing applied), `Expect` absent, deletes,
/// steps seeing earlier steps, the empty transaction and invalid keys.
pub async fn exercise_transactions(storage: &Storage) {
    let probe = Probe::new(storage, "transactions");
    let (a, b, c) = (probe.key("a"), probe.key("b"), probe.key("c"));

    probe
        .transact(
            vec![put(&a, b"1"), put(&b, b"2"), put(&c, b"3")],
            "multi-put",
        )
        .await;
    probe.assert_value(&a, Some(b"1"), "multi-put a").await;
    probe.assert_value(&b, Some(b"2"), "multi-put b").await;
    probe.assert_value(&c, Some(b"3"), "multi-put c").await;

    probe
        .transact(
            vec![expect(&a, Some(b"1")), put(&a, b"10"), delete(&b)],
            "expect that holds",
        )
        .await;
    probe
        .assert_value(&a, Some(b"10"), "put after a passing expect")
        .await;
    probe
        .assert_value(&b, None, "delete inside a transaction")
        .await;

    let fresh = probe.key("fresh");
    let outcome = storage
        .transaction(vec![
            put(&fresh, b"x"),
            expect(&a, Some(b"wrong")),
            put(&a, b"11"),
            delete(&c),
        ])
        .await;
    probe.assert_conflict(outcome, &a, "expect with the wrong value");
    probe
        .assert_value(&fresh, None, "a failed transaction applied an earlier put")
        .await;
    probe
        .assert_value(&a, Some(b"10"), "a failed transaction applied a later put")
        .await;
    probe
        .assert_value(&c, Some(b"3"), "a failed transaction applied a delete")
        .await;

    let outcome = storage
        .transaction(vec![expect(&a, None), put(&fresh, b"x")])
        .await;
    probe.assert_conflict(outcome, &a, "expect absent on a present key");
    let outcome = storage
        .transaction(vec![expect(&b, Some(b"2")), put(&fresh, b"x")])
        .await;
    probe.assert_conflict(outcome, &b, "expect a value on a deleted key");
    probe
        .assert_value(&fresh, None, "a failed transaction applied a put")
        .await;

    let created = probe.key("created-once");
    probe
        .transact(
            vec![expect(&created, None), put(&created, b"first")],
            "expect absent",
        )
        .await;
    let outcome = storage
        .transaction(vec![expect(&created, None), put(&created, b"second")])
        .await;
    probe.assert_conflict(outcome, &created, "expect absent after the key was created");
    probe
        .assert_value(&created, Some(b"first"), "create-once kept the first value")
        .await;

    probe
        .transact(
            vec![
                put(&fresh, b"staged"),
                expect(&fresh, Some(b"staged")),
                delete(&fresh),
                expect(&fresh, None),
            ],
            "steps see earlier steps of the same transaction",
        )
        .await;
    probe
        .assert_value(&fresh, None, "put then delete in one transaction")
        .await;
    probe
        .transact(
            vec![delete(&probe.key("never-written"))],
            "delete of a missing key",
        )
        .await;
    probe.transact(Vec::new(), "the empty transaction").await;

    let outcome = storage
        .transaction(vec![put(&fresh, b"x"), put("", b"y")])
        .await;
    assert!(
        matches!(outcome, Err(Error::InvalidKey { .. })),
        "[{}] a transaction with an empty key: expected InvalidKey, got {outcome:?}",
        probe.kind
    );
    probe
        .assert_value(
            &fresh,
            None,
            "a transaction with an invalid key applied a put",
        )
        .await;
    probe.cleanup().await;
}

/// `ExpectEmpty`: holds on a prefix with no key below it (keys beside the prefix do not count),
/// fails naming the prefix and applies nothing otherwise, and sees the earlier steps of its own
/// transaction. Then the guard-key protocol under concurrency: writers adding below a prefix
/// `Expect` a guard key while one transaction deletes the guard if the prefix is empty; the
/// guard is never gone while a key remains below the prefix.
pub async fn exercise_expect_empty(storage: &Storage) {
    const ADDERS: usize = 24;
    let probe = Probe::new(storage, "expect-empty");
    let folder = probe.key("folder/");
    let (inside, beside, marker) = (
        probe.key("folder/a"),
        probe.key("folder0"),
        probe.key("marker"),
    );
    probe.put(&beside, b"beside").await;
    probe
        .put(&probe.key("folder"), b"the folder's own name")
        .await;
    probe
        .transact(
            vec![expect_empty(&folder), put(&marker, b"1")],
            "expect-empty of a prefix with keys only beside it",
        )
        .await;
    probe.put(&inside, b"a").await;
    let outcome = storage
        .transaction(vec![put(&marker, b"2"), expect_empty(&folder)])
        .await;
    probe.assert_conflict(outcome, &folder, "expect-empty of a prefix holding a key");
    probe
        .assert_value(&marker, Some(b"1"), "a failed expect-empty applied a put")
        .await;
    probe
        .transact(
            vec![delete(&inside), expect_empty(&folder), put(&marker, b"3")],
            "expect-empty after deleting the last key below it",
        )
        .await;
    probe
        .assert_value(&marker, Some(b"3"), "put after a passing expect-empty")
        .await;
    let outcome = storage
        .transaction(vec![put(&inside, b"staged"), expect_empty(&folder)])
        .await;
    probe.assert_conflict(outcome, &folder, "expect-empty after a put below it");
    probe
        .assert_value(&inside, None, "a failed expect-empty applied a staged put")
        .await;

    let guard = probe.key("guard");
    let below = probe.key("guarded/");
    probe.put(&guard, b"present").await;
    let mut adders = Vec::new();
    for n in 0..ADDERS {
        let (storage, guard, key) = (storage.clone(), guard.clone(), format!("{below}{n:03}"));
        adders.push(tokio::spawn(async move {
            storage
                .transaction(vec![expect(&guard, Some(b"present")), put(&key, b"x")])
                .await
        }));
    }
    let pruner = {
        let (storage, guard, below) = (storage.clone(), guard.clone(), below.clone());
        tokio::spawn(async move {
            storage
                .transaction(vec![delete(&guard), expect_empty(&below)])
                .await
        })
    };
    let mut added = 0;
    for adder in adders {
        match adder.await {
            Ok(Ok(())) => added += 1,
            Ok(Err(Error::Conflict { .. })) => {}
            Ok(Err(error)) => panic!("[{}] guarded put failed: {error}", probe.kind),
            Err(join) => panic!("[{}] guarded put panicked: {join}", probe.kind),
        }
    }
    let pruned = match pruner.await {
        Ok(Ok(())) => true,
        Ok(Err(Error::Conflict { .. })) => false,
        Ok(Err(error)) => panic!("[{}] guarded delete failed: {error}", probe.kind),
        Err(join) => panic!("[{}] guarded delete panicked: {join}", probe.kind),
    };
    let remaining = probe.scan_all(&below, 100).await;
    assert_eq!(
        remaining.len(),
        added,
        "[{}] guarded puts that reported success",
        probe.kind
    );
    let guard_now = probe.get(&guard).await;
    assert_eq!(
        guard_now.is_none(),
        pruned,
        "[{}] the guard's state against the pruner's outcome",
        probe.kind
    );
    assert!(
        !(pruned && added > 0),
        "[{}] the guard was deleted while {added} keys were below the prefix",
        probe.kind
    );
    probe.cleanup().await;
}

/// Many tasks writing distinct keys all land, and tasks incrementing one counter with
/// `Expect` and retry lose no update. Spawns Tokio tasks; use a multi-thread runtime to get real
/// parallelism.
pub async fn exercise_concurrency(storage: &Storage) {
    const WRITERS: usize = 64;
    const INCREMENTERS: u64 = 16;
    const INCREMENTS_EACH: u64 = 5;
    let probe = Probe::new(storage, "concurrency");

    let mut tasks = Vec::new();
    for n in 0..WRITERS {
        let storage = storage.clone();
        let key = probe.key(&format!("writers/{n:03}"));
        tasks.push(tokio::spawn(async move {
            storage.put(&key, key.as_bytes()).await
        }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("[{}] concurrent put {n} failed: {error}", probe.kind),
            Err(join) => panic!("[{}] concurrent put {n} panicked: {join}", probe.kind),
        }
    }
    let written = probe.scan_all(&probe.key("writers/"), 1000).await;
    assert_eq!(
        written.len(),
        WRITERS,
        "[{}] concurrent puts that landed",
        probe.kind
    );
    for key in &written {
        probe
            .assert_value(key, Some(key.as_bytes()), "value of a concurrent put")
            .await;
    }

    let counter = probe.key("counter");
    probe.put(&counter, b"0").await;
    let mut tasks = Vec::new();
    for _ in 0..INCREMENTERS {
        let storage = storage.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..INCREMENTS_EACH {
                increment(&storage, &counter).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("[{}] counter increment failed: {error}", probe.kind),
            Err(join) => panic!("[{}] counter task panicked: {join}", probe.kind),
        }
    }
    let expected = (INCREMENTERS * INCREMENTS_EACH).to_string();
    probe
        .assert_value(
            &counter,
            Some(expected.as_bytes()),
            "counter after concurrent increments (lost update?)",
        )
        .await;
    probe.cleanup().await;
}

/// Values of 0 bytes, 1 byte, 64 KiB and exactly 1 MiB round-trip exactly.
pub async fn exercise_large_values(storage: &Storage) {
    let probe = Probe::new(storage, "values");
    for size in [0, 1, 64 * 1024, 1024 * 1024] {
        let key = probe.key(&format!("size-{size}"));
        let value: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
        probe.put(&key, &value).await;
        let stored = probe.get(&key).await;
        assert!(
            stored.as_deref() == Some(value.as_slice()),
            "[{}] a {size}-byte value did not round-trip (got {:?} bytes)",
            probe.kind,
            stored.as_ref().map(Vec::len)
        );
    }
    let key = probe.key("binary");
    let binary = [0_u8, 0xff, 0, b'\n', 0x80, 0];
    probe.put(&key, &binary).await;
    probe
        .assert_value(&key, Some(&binary), "binary value with NUL bytes")
        .await;
    probe.cleanup().await;
}

/// Keys with unicode, spaces, punctuation and many slashes work; empty, NUL-holding and too long
/// keys are `InvalidKey`.
pub async fn exercise_keys(storage: &Storage) {
    let probe = Probe::new(storage, "keys");
    let odd = [
        "ключ/值/🔑",
        "with space/and  two  spaces",
        "a/b/c/d/e/f/g/h/i/j",
        "double//slash",
        "percent%_underscore\\backslash",
        "quotes'\"`",
        "tab\tnewline\ncontrol\u{1}",
        "trailing.",
    ];
    for relative in odd {
        let key = probe.key(relative);
        probe.put(&key, relative.as_bytes()).await;
        probe
            .assert_value(&key, Some(relative.as_bytes()), "odd key round-trip")
            .await;
    }
    probe
        .assert_list(&probe.key("a/b/c/d/e/f/g/h/i/"), &["j"])
        .await;
    probe.assert_list(&probe.key("ключ/"), &["值/"]).await;
    probe.assert_list(&probe.key("double/"), &["/"]).await;
    probe.assert_list(&probe.key("double//"), &["slash"]).await;
    let mut expected: Vec<String> = odd.iter().map(|relative| probe.key(relative)).collect();
    expected.sort();
    probe.assert_scan(&probe.base, None, 100, &expected).await;
    // LIKE wildcards in a prefix are plain characters.
    probe
        .assert_scan(&probe.key("percent%"), None, 100, &[probe.key(odd[4])])
        .await;
    probe
        .assert_scan(&probe.key("percent_"), None, 100, &[])
        .await;

    let longest = format!(
        "{}{}",
        probe.base,
        "k".repeat(crate::MAX_KEY_BYTES - probe.base.len())
    );
    probe.put(&longest, b"long").await;
    probe
        .assert_value(&longest, Some(b"long"), "a key of exactly MAX_KEY_BYTES")
        .await;
    let too_long = format!("{longest}k");
    let nul = probe.key("nul\0byte");
    for bad in ["", nul.as_str(), too_long.as_str()] {
        let shown: String = bad.chars().take(40).collect();
        probe.assert_invalid(storage.get(bad).await, &shown, "get");
        probe.assert_invalid(storage.put(bad, b"x").await, &shown, "put");
        probe.assert_invalid(storage.delete(bad).await, &shown, "delete");
        probe.assert_invalid(
            storage.transaction(vec![put(bad, b"x")]).await,
            &shown,
            "transaction put",
        );
        probe.assert_invalid(
            storage.transaction(vec![expect(bad, None)]).await,
            &shown,
            "transaction expect",
        );
    }
    probe.assert_invalid(storage.list(&nul).await, "nul", "list");
    probe.assert_invalid(storage.scan(&nul, None, 1).await, "nul", "scan");
    probe.cleanup().await;
}

/// Where a test's PostgreSQL server is: `COFFER_TEST_POSTGRES_URL`, or a local server with trust
/// authentication.
pub fn postgres_test_url() -> String {
    std::env::var("COFFER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema `coffer_test_<random hex>` on the test server, and a config using it. The
/// schema is dropped (with everything in it) when the guard is dropped.
pub async fn postgres_test_schema() -> (PostgresConfig, PostgresTestSchema) {
    let url = postgres_test_url();
    let name = format!("coffer_test_{}", unique_hex());
    let mut config = PostgresConfig::new(url.clone());
    config.schema = Some(name.clone());
    (config, PostgresTestSchema { url, name })
}

/// Drops its test schema when dropped; see [`postgres_test_schema`].
pub struct PostgresTestSchema {
    url: String,
    name: String,
}

impl PostgresTestSchema {
    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for PostgresTestSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTestSchema")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresTestSchema {
    fn drop(&mut self) {
        // `Drop` cannot await, and may run inside a runtime that must not block on itself: the
        // cleanup gets its own thread and runtime. This is test support, never a server path.
        let url = self.url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let cleanup = std::thread::spawn(move || drop_schema(&url, &statement));
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(schema = %self.name, %error, "cannot drop the test schema")
            }
            Err(_) => tracing::warn!(schema = %self.name, "the test schema cleanup panicked"),
        }
    }
}

fn drop_schema(url: &str, statement: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|error| crate::error::chain(&error))?;
        let driver = tokio::spawn(connection);
        let dropped = client
            .batch_execute(statement)
            .await
            .map_err(|error| crate::error::chain(&error));
        drop(client);
        let _ = driver.await;
        dropped
    })
}

/// A hex string unlikely to repeat: std's randomly keyed hasher over the clock.
pub fn unique_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{:016x}", RandomState::new().hash_one(nanos))
}

fn put(key: &str, value: &[u8]) -> TxOp {
    TxOp::Put {
        key: key.to_owned(),
        value: value.to_vec(),
    }
}

fn delete(key: &str) -> TxOp {
    TxOp::Delete {
        key: key.to_owned(),
    }
}

fn expect(key: &str, value: Option<&[u8]>) -> TxOp {
    TxOp::Expect {
        key: key.to_owned(),
        value: value.map(<[u8]>::to_vec),
    }
}

fn expect_empty(prefix: &str) -> TxOp {
    TxOp::ExpectEmpty {
        prefix: prefix.to_owned(),
    }
}

/// Adds one to the decimal counter at `key`, retrying on `Conflict`.
async fn increment(storage: &Storage, key: &str) -> crate::Result<()> {
    loop {
        let current = storage.get(key).await?;
        let number: u64 = current
            .as_deref()
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "[{}] counter holds {current:?}, not a number",
                    storage.kind()
                )
            });
        let next = (number + 1).to_string();
        match storage
            .transaction(vec![
                expect(key, current.as_deref()),
                put(key, next.as_bytes()),
            ])
            .await
        {
            Ok(()) => return Ok(()),
            Err(Error::Conflict { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
}

/// One suite function's view of the backend: its own prefix, and calls that panic with context.
struct Probe<'a> {
    storage: &'a Storage,
    kind: &'static str,
    /// `conformance-<hex>/`, the suite's top folder.
    top: String,
    /// `conformance-<hex>/<area>/`, under which this function writes.
    base: String,
}

impl<'a> Probe<'a> {
    fn new(storage: &'a Storage, area: &str) -> Self {
        let top = format!("conformance-{}/", unique_hex());
        let base = format!("{top}{area}/");
        Self {
            storage,
            kind: storage.kind(),
            top,
            base,
        }
    }

    fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.base)
    }

    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.storage.get(key).await {
            Ok(value) => value,
            Err(error) => panic!("[{}] get({key:?}) failed: {error}", self.kind),
        }
    }

    async fn put(&self, key: &str, value: &[u8]) {
        if let Err(error) = self.storage.put(key, value).await {
            panic!("[{}] put({key:?}) failed: {error}", self.kind);
        }
    }

    async fn delete(&self, key: &str) {
        if let Err(error) = self.storage.delete(key).await {
            panic!("[{}] delete({key:?}) failed: {error}", self.kind);
        }
    }

    async fn list(&self, prefix: &str) -> Vec<String> {
        match self.storage.list(prefix).await {
            Ok(children) => children,
            Err(error) => panic!("[{}] list({prefix:?}) failed: {error}", self.kind),
        }
    }

    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Vec<String> {
        match self.storage.scan(prefix, after, limit).await {
            Ok(keys) => keys,
            Err(error) => panic!(
                "[{}] scan({prefix:?}, {after:?}, {limit}) failed: {error}",
                self.kind
            ),
        }
    }

    /// Every key under `prefix`, fetched `page_size` at a time.
    async fn scan_all(&self, prefix: &str, page_size: usize) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        loop {
            let page = self
                .scan(prefix, keys.last().map(String::as_str), page_size)
                .await;
            assert!(
                page.len() <= page_size,
                "[{}] scan returned more than its limit {page_size}",
                self.kind
            );
            let done = page.len() < page_size;
            keys.extend(page);
            if done {
                return keys;
            }
        }
    }

    async fn transact(&self, ops: Vec<TxOp>, what: &str) {
        if let Err(error) = self.storage.transaction(ops).await {
            panic!("[{}] transaction ({what}) failed: {error}", self.kind);
        }
    }

    async fn assert_value(&self, key: &str, expected: Option<&[u8]>, what: &str) {
        let stored = self.get(key).await;
        assert!(
            stored.as_deref() == expected,
            "[{}] {what}: {key:?} holds {:?}, expected {:?}",
            self.kind,
            stored.as_deref().map(String::from_utf8_lossy),
            expected.map(String::from_utf8_lossy)
        );
    }

    async fn assert_list(&self, prefix: &str, expected: &[&str]) {
        let children = self.list(prefix).await;
        assert_eq!(children, expected, "[{}] list({prefix:?})", self.kind);
    }

    async fn assert_scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        expected: &[String],
    ) {
        let keys = self.scan(prefix, after, limit).await;
        assert_eq!(
            keys, expected,
            "[{}] scan({prefix:?}, after {after:?}, limit {limit})",
            self.kind
        );
    }

    fn assert_sorted_unique(&self, items: &[String], what: &str) {
        for pair in items.windows(2) {
            if let [first, second] = pair {
                assert!(
                    first.as_bytes() < second.as_bytes(),
                    "[{}] {what} is not sorted byte-wise without duplicates: {first:?} before {second:?}",
                    self.kind
                );
            }
        }
    }

    fn assert_conflict(&self, outcome: crate::Result<()>, key: &str, what: &str) {
        match outcome {
            Err(Error::Conflict { key: conflicted }) => {
                assert_eq!(
                    conflicted, key,
                    "[{}] {what}: Conflict names the wrong key",
                    self.kind
                );
            }
            other => panic!(
                "[{}] {what}: expected Conflict on {key:?}, got {other:?}",
                self.kind
            ),
        }
    }

    fn assert_invalid<T: std::fmt::Debug>(&self, outcome: crate::Result<T>, key: &str, what: &str) {
        assert!(
            matches!(outcome, Err(Error::InvalidKey { .. })),
            "[{}] {what} with key {key:?}: expected InvalidKey, got {outcome:?}",
            self.kind
        );
    }

    /// Deletes everything under the suite's top folder and checks it is gone.
    async fn cleanup(&self) {
        for key in self.scan_all(&self.top, 500).await {
            self.delete(&key).await;
        }
        assert_eq!(
            self.scan(&self.top, None, 10).await,
            Vec::<String>::new(),
            "[{}] cleanup left keys",
            self.kind
        );
        assert_eq!(
            self.list(&self.top).await,
            Vec::<String>::new(),
            "[{}] cleanup left a listing",
            self.kind
        );
    }
}
