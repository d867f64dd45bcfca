//! Cubbyhole engine tests: each token scope sees and lists only its own secrets, reads carry no
//! lease hint, and revoking a token wipes its scope and nothing else.

use coffer_core::Operation::{Delete, List, Patch, Read, Scan, Update};
use coffer_core::engine::{Engine, EngineFactory};
use coffer_engines::cubbyhole::{CubbyholeEngine, CubbyholeFactory};
use serde_json::{Value, json};

use crate::support::{
    Call, SCOPE, VIEW_PREFIX, error, fixture, keys, mount, no_content, not_found, ok, request,
    script, view,
};

const OTHER: &str = "scope-b";

fn write(scope: &str, path: &str, body: Value) -> Call {
    request(Update, path, body).scope(scope)
}

fn read(scope: &str, path: &str) -> Call {
    request(Read, path, Value::Null).scope(scope)
}

fn list(scope: &str, path: &str) -> Call {
    request(List, path, Value::Null).scope(scope)
}

#[tokio::test]
async fn scopes_are_isolated() {
    let view = view().await;
    script(
        &CubbyholeEngine,
        &mount("cubbyhole", &[]),
        &view,
        &[
            (list(SCOPE, ""), not_found()),
            (
                write(SCOPE, "x", json!({"a": 1, "ttl": "1h"})),
                no_content(),
            ),
            (write(SCOPE, "dir/y", json!({"a": 2})), no_content()),
            // No lease hint in a cubbyhole, `ttl` field or not.
            (read(SCOPE, "x"), ok(json!({"a": 1, "ttl": "1h"}), 0)),
            (read(OTHER, "x"), not_found()),
            (list(OTHER, ""), not_found()),
            (write(OTHER, "x", json!({"b": 2})), no_content()),
            (read(OTHER, "x"), ok(json!({"b": 2}), 0)),
            (read(SCOPE, "x"), ok(json!({"a": 1, "ttl": "1h"}), 0)),
            (list(SCOPE, ""), keys(&["dir/", "x"])),
            (list(OTHER, ""), keys(&["x"])),
            (list(SCOPE, "dir"), keys(&["y"])),
            (list(OTHER, "dir/"), not_found()),
            (
                request(Scan, "", Value::Null).scope(SCOPE),
                keys(&["dir/y", "x"]),
            ),
            (request(Delete, "x", Value::Null).scope(OTHER), no_content()),
            (read(OTHER, "x"), not_found()),
            (read(SCOPE, "x"), ok(json!({"a": 1, "ttl": "1h"}), 0)),
        ],
    )
    .await;
}

#[tokio::test]
async fn refused_requests() {
    let view = view().await;
    script(
        &CubbyholeEngine,
        &mount("cubbyhole", &[]),
        &view,
        &[
            (write(SCOPE, "x", json!({})), error("missing data fields")),
            (
                request(Patch, "x", json!({"a": 1})).scope(SCOPE),
                error("1 error occurred:\n\t* unsupported operation\n\n"),
            ),
            // A scope that could reach into another one is refused.
            (write("", "x", json!({"a": 1})), error("permission denied")),
            (read("", "x"), error("permission denied")),
            (
                write("scope-a/x", "y", json!({"a": 1})),
                error("permission denied"),
            ),
            (
                write("..", "x", json!({"a": 1})),
                error("permission denied"),
            ),
            (list(SCOPE, ""), not_found()),
        ],
    )
    .await;
}

#[tokio::test]
async fn existence_check_is_per_scope() {
    let view = view().await;
    let engine = CubbyholeEngine;
    let mount = mount("cubbyhole", &[]);
    assert_eq!(
        write(SCOPE, "x", json!({"a": 1}))
            .send(&engine, &mount, &view)
            .await,
        no_content()
    );
    let exists = |scope: &str| write(scope, "x", json!({"a": 1}));
    assert_eq!(
        exists(SCOPE).exists(&engine, &mount, &view).await.ok(),
        Some(Some(true))
    );
    assert_eq!(
        exists(OTHER).exists(&engine, &mount, &view).await.ok(),
        Some(Some(false))
    );
    assert_eq!(
        exists("")
            .exists(&engine, &mount, &view)
            .await
            .map_err(|e| e.to_string()),
        Err("permission denied".to_owned())
    );
}

#[tokio::test]
async fn revoking_a_token_wipes_only_its_scope() {
    let fixture = fixture().await;
    let engine = CubbyholeEngine;
    let mount = mount("cubbyhole", &[]);
    // More than one storage page, so the deletion runs in several transactions.
    for n in 0..1100 {
        let reply = write(SCOPE, &format!("many/k{n:04}"), json!({"n": n}))
            .send(&engine, &mount, &fixture.view)
            .await;
        assert_eq!(reply, no_content());
    }
    for (scope, path) in [(SCOPE, "x"), (OTHER, "x"), ("scope-aa", "x")] {
        let reply = write(scope, path, json!({"kept": scope}))
            .send(&engine, &mount, &fixture.view)
            .await;
        assert_eq!(reply, no_content());
    }

    engine
        .token_revoked(SCOPE, &fixture.view)
        .await
        .expect("revocation deletes the scope");

    let left = fixture
        .view
        .scan("", None, 10_000)
        .await
        .expect("the view scans");
    assert_eq!(left, ["scope-aa/x", "scope-b/x"]);
    script(
        &engine,
        &mount,
        &fixture.view,
        &[
            (read(SCOPE, "x"), not_found()),
            (list(SCOPE, ""), not_found()),
            (read(OTHER, "x"), ok(json!({"kept": OTHER}), 0)),
            (read("scope-aa", "x"), ok(json!({"kept": "scope-aa"}), 0)),
        ],
    )
    .await;

    // Revoking a token with nothing stored, or a scope that cannot hold data, is fine.
    for scope in [SCOPE, "never-used", "", "a/b"] {
        engine
            .token_revoked(scope, &fixture.view)
            .await
            .expect("nothing to delete is not an error");
    }
    let physical = fixture
        .storage
        .scan(VIEW_PREFIX, None, 10)
        .await
        .expect("the storage scans");
    assert_eq!(
        physical,
        [
            format!("{VIEW_PREFIX}scope-aa/x"),
            format!("{VIEW_PREFIX}scope-b/x")
        ]
    );
}

#[tokio::test]
async fn factory_builds_the_engine() {
    let view = view().await;
    let mount = mount("cubbyhole", &[]);
    let engine = CubbyholeFactory
        .build(&mount)
        .expect("a cubbyhole mount builds");
    script(
        engine.as_ref(),
        &mount,
        &view,
        &[
            (write(SCOPE, "x", json!({"a": 1})), no_content()),
            (read(SCOPE, "x"), ok(json!({"a": 1}), 0)),
        ],
    )
    .await;
    let stored = view
        .get(&format!("{SCOPE}/x"))
        .await
        .expect("the view reads");
    assert!(stored.is_some(), "stored under <token_scope>/<key>");
}
