//! KV version 1 engine and KV factory tests: Vault's observed behaviour for writes, reads with
//! the `ttl` hint, folder listings, deletes and refused operations, plus the storage layout KV
//! version 2 migrates from and the factory's dispatch on `options.version`.

use coffer_core::Operation::{Create, Delete, List, Patch, Read, Scan, Update};
use coffer_core::engine::{Engine, EngineFactory};
use coffer_engines::kv::KvFactory;
use coffer_engines::kv::v1::{KvV1Engine, decode_secret};
use serde_json::{Value, json};

use crate::support::{
    Call, VIEW_PREFIX, error, fixture, keys, mount, no_content, not_found, ok, request, script,
    view,
};

const UNSUPPORTED: &str = "1 error occurred:\n\t* unsupported operation\n\n";

fn write(path: &str, body: Value) -> Call {
    request(Update, path, body)
}

fn read(path: &str) -> Call {
    request(Read, path, Value::Null)
}

#[tokio::test]
async fn write_read_overwrite_delete() {
    let view = view().await;
    let mount = mount("kv", &[]);
    script(
        &KvV1Engine::new(),
        &mount,
        &view,
        &[
            (read("app/one"), not_found()),
            (
                write("app/one", json!({"foo": "bar", "ttl": "1h"})),
                no_content(),
            ),
            (
                read("app/one"),
                ok(json!({"foo": "bar", "ttl": "1h"}), 3600),
            ),
            // Any JSON values; a write replaces the whole secret, nothing is merged.
            (
                request(
                    Create,
                    "app/one",
                    json!({"n": 1, "deep": {"list": [true, null]}}),
                ),
                no_content(),
            ),
            (
                read("app/one"),
                ok(json!({"n": 1, "deep": {"list": [true, null]}}), 2_764_800),
            ),
            (request(Delete, "app/one", Value::Null), no_content()),
            (read("app/one"), not_found()),
            // Deleting what is not there is fine.
            (request(Delete, "app/one", Value::Null), no_content()),
            (request(Delete, "app/", Value::Null), no_content()),
            (request(Delete, "", Value::Null), no_content()),
        ],
    )
    .await;
}

#[tokio::test]
async fn lease_hint_defaults_to_the_mount_then_the_system() {
    let view = view().await;
    let mut tuned = mount("kv", &[]);
    tuned.default_lease_ttl = 600;
    let engine = KvV1Engine::new();
    script(
        &engine,
        &tuned,
        &view,
        &[
            (write("plain", json!({"a": "b"})), no_content()),
            (write("seconds", json!({"ttl": 90})), no_content()),
            (write("legacy", json!({"lease": "2h"})), no_content()),
            (write("bad", json!({"ttl": "soon"})), no_content()),
            (read("plain"), ok(json!({"a": "b"}), 600)),
            (read("seconds"), ok(json!({"ttl": 90}), 90)),
            (read("legacy"), ok(json!({"lease": "2h"}), 7200)),
            (read("bad"), ok(json!({"ttl": "soon"}), 600)),
        ],
    )
    .await;
    // The default comes from the mount of each request, so a tune applies at once.
    script(
        &engine,
        &mount("kv", &[]),
        &view,
        &[(read("plain"), ok(json!({"a": "b"}), 2_764_800))],
    )
    .await;
}

#[tokio::test]
async fn refused_writes_and_operations() {
    let view = view().await;
    script(
        &KvV1Engine::new(),
        &mount("kv", &[]),
        &view,
        &[
            (write("app/one", json!({})), error("missing data fields")),
            (write("app/one", Value::Null), error("missing data fields")),
            (write("", json!({"a": "b"})), error("missing path")),
            (
                write("app/", json!({"a": "b"})),
                error("a secret's path cannot end with \"/\" (that names a folder)"),
            ),
            (write("app/one", json!({"a": "b"})), no_content()),
            (
                request(Patch, "app/one", json!({"a": "c"})),
                error(UNSUPPORTED),
            ),
            (
                request(Patch, "missing", json!({"a": "c"})),
                error(UNSUPPORTED),
            ),
            // Nothing was written by the refused requests.
            (read("app/one"), ok(json!({"a": "b"}), 2_764_800)),
            (read("app/"), not_found()),
            (read(""), not_found()),
        ],
    )
    .await;
}

#[tokio::test]
async fn lists_and_scans_folders() {
    let view = view().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    let list = |path: &str| request(List, path, Value::Null);
    let scan = |path: &str| request(Scan, path, Value::Null);
    script(
        &engine,
        &mount,
        &view,
        &[
            (list(""), not_found()),
            (write("top", json!({"a": 1})), no_content()),
            (write("app/two", json!({"a": 1})), no_content()),
            (write("app/one", json!({"a": 1})), no_content()),
            (write("app/sub/deep", json!({"a": 1})), no_content()),
            (write("apple", json!({"a": 1})), no_content()),
            (list(""), keys(&["app/", "apple", "top"])),
            (list("app"), keys(&["one", "sub/", "two"])),
            (list("app/"), keys(&["one", "sub/", "two"])),
            (list("app/sub/"), keys(&["deep"])),
            (list("top"), not_found()),
            (list("nothing/"), not_found()),
            (
                scan(""),
                keys(&["app/one", "app/sub/deep", "app/two", "apple", "top"]),
            ),
            (scan("app/"), keys(&["one", "sub/deep", "two"])),
            (scan("app"), keys(&["one", "sub/deep", "two"])),
            (scan("nothing/"), not_found()),
            (request(Delete, "app/sub/deep", Value::Null), no_content()),
            (list("app/"), keys(&["one", "two"])),
            (list("app/sub/"), not_found()),
        ],
    )
    .await;
}

#[tokio::test]
async fn scans_past_one_storage_page() {
    let view = view().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    let mut expect = Vec::new();
    for n in 0..1100 {
        let key = format!("k{n:04}");
        let reply = write(&format!("many/{key}"), json!({"n": n}))
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, no_content());
        expect.push(key);
    }
    let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
    let got = request(Scan, "many/", Value::Null)
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(got, keys(&expect));
}

#[tokio::test]
async fn existence_check() {
    let view = view().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    let exists = |path: &str| request(Update, path, json!({"a": "b"}));
    assert_eq!(
        exists("app/one").exists(&engine, &mount, &view).await.ok(),
        Some(Some(false))
    );
    assert_eq!(
        write("app/one", json!({"a": "b"}))
            .send(&engine, &mount, &view)
            .await,
        no_content()
    );
    assert_eq!(
        exists("app/one").exists(&engine, &mount, &view).await.ok(),
        Some(Some(true))
    );
    assert_eq!(
        exists("app/").exists(&engine, &mount, &view).await.ok(),
        Some(Some(false))
    );
    assert_eq!(
        exists("app").exists(&engine, &mount, &view).await.ok(),
        Some(Some(false))
    );
}

/// The layout KV v2 migrates from: `kv1/<key>` in the view, a version byte then the JSON; the
/// storage below the barrier sees the key but never the value.
#[tokio::test]
async fn storage_layout() {
    let fixture = fixture().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    let reply = write("app/db", json!({"password": "hunter2"}))
        .send(&engine, &mount, &fixture.view)
        .await;
    assert_eq!(reply, no_content());

    let record = fixture
        .view
        .get("kv1/app/db")
        .await
        .expect("the view reads")
        .expect("the secret is stored at kv1/<key>");
    assert_eq!(record.first(), Some(&1));
    let decoded = decode_secret("kv1/app/db", &record).ok();
    assert_eq!(
        decoded.map(Value::Object),
        Some(json!({"password": "hunter2"}))
    );

    let physical = fixture
        .storage
        .get(&format!("{VIEW_PREFIX}kv1/app/db"))
        .await
        .expect("the storage reads")
        .expect("the physical key is the view prefix, kv1/ and the key");
    let plaintext = b"hunter2";
    assert!(
        !physical.windows(plaintext.len()).any(|w| w == plaintext),
        "the stored value is encrypted"
    );
}

#[tokio::test]
async fn corrupt_and_sealed_storage_are_errors() {
    let fixture = fixture().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    fixture
        .view
        .put("kv1/broken", b"\x01not json")
        .await
        .expect("the view writes");
    let reply = read("broken").send(&engine, &mount, &fixture.view).await;
    assert_eq!(
        reply,
        error(&format!(
            "corrupt record at \"{VIEW_PREFIX}kv1/broken\": the secret is not a JSON object"
        ))
    );

    fixture.barrier.seal();
    for call in [
        read("broken"),
        write("x", json!({"a": "b"})),
        request(List, "", Value::Null),
    ] {
        assert_eq!(
            call.send(&engine, &mount, &fixture.view).await,
            error("Vault is sealed")
        );
    }
}

/// `build` picks the engine by `options.version`: version 1 keeps secrets at `kv1/<key>`;
/// version 2 does not serve v1-style paths at all.
#[tokio::test]
async fn factory_builds_by_version() {
    async fn writes_v1_layout(options: &[(&str, &str)]) -> bool {
        let fixture = fixture().await;
        let mount = mount("kv", options);
        let engine = KvFactory.build(&mount).expect("a valid KV mount builds");
        let reply = write("app/x", json!({"a": "b"}))
            .send(engine.as_ref(), &mount, &fixture.view)
            .await;
        let stored = fixture
            .view
            .get("kv1/app/x")
            .await
            .expect("the view reads")
            .is_some();
        assert_eq!(reply == no_content(), stored, "{options:?}: {reply}");
        stored
    }
    assert!(writes_v1_layout(&[]).await);
    assert!(writes_v1_layout(&[("version", "1")]).await);
    assert!(!writes_v1_layout(&[("version", "2")]).await);

    let built = KvFactory.build(&mount("kv", &[("version", "3")]));
    assert_eq!(
        built.err().map(|e| e.to_string()),
        Some("invalid version: \"3\"".to_owned())
    );
}

#[tokio::test]
async fn lifecycle_hooks_change_nothing() {
    let fixture = fixture().await;
    let engine = KvV1Engine::new();
    let mount = mount("kv", &[]);
    assert_eq!(
        write("a", json!({"x": 1}))
            .send(&engine, &mount, &fixture.view)
            .await,
        no_content()
    );
    engine
        .tuned(&mount, &fixture.view)
        .await
        .expect("tuning a v1 mount succeeds");
    engine
        .token_revoked(crate::support::SCOPE, &fixture.view)
        .await
        .expect("revoking a token succeeds");
    assert_eq!(
        read("a").send(&engine, &mount, &fixture.view).await,
        ok(json!({"x": 1}), 2_764_800)
    );
}
