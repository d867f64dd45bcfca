//! The SQLite backend: conformance, durability across reopen, file mode, open errors, close.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use coffer_storage::sqlite::{SqliteBackend, SqliteConfig};
use coffer_storage::{Error, Storage, TxOp, testing};

async fn open(path: &Path) -> Storage {
    match SqliteBackend::open(SqliteConfig::new(path)).await {
        Ok(backend) => Storage::new(backend),
        Err(error) => panic!("cannot open {}: {error}", path.display()),
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|error| panic!("cannot create a temp dir: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_twice_on_one_backend() {
    let dir = temp_dir();
    let storage = open(&dir.path().join("coffer.db")).await;
    assert_eq!(storage.kind(), "sqlite");
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

#[tokio::test(flavor = "multi_thread")]
async fn conformance_through_the_read_cache() {
    let dir = temp_dir();
    let storage = open(&dir.path().join("coffer.db"))
        .await
        .with_read_cache(coffer_storage::cache::DEFAULT_CACHE_BYTES);
    assert_eq!(storage.kind(), "sqlite");
    testing::exercise_backend(&storage).await;
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_close_and_reopen() {
    let dir = temp_dir();
    let path = dir.path().join("coffer.db");
    let storage = open(&path).await;
    storage
        .put("kept/a", b"alpha")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));
    let ops = vec![
        TxOp::Put {
            key: "kept/b".to_owned(),
            value: b"beta".to_vec(),
        },
        TxOp::Put {
            key: "gone".to_owned(),
            value: b"x".to_vec(),
        },
        TxOp::Delete {
            key: "gone".to_owned(),
        },
    ];
    storage
        .transaction(ops)
        .await
        .unwrap_or_else(|error| panic!("transaction: {error}"));
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
    let wal =
        std::fs::metadata(dir.path().join("coffer.db-wal")).map_or(0, |metadata| metadata.len());
    assert_eq!(wal, 0, "close checkpoints the WAL into the database file");

    let reopened = open(&path).await;
    assert_eq!(
        reopened.get("kept/a").await.ok(),
        Some(Some(b"alpha".to_vec()))
    );
    assert_eq!(
        reopened.get("kept/b").await.ok(),
        Some(Some(b"beta".to_vec()))
    );
    assert_eq!(reopened.get("gone").await.ok(), Some(None));
    assert_eq!(
        reopened.list("kept/").await.ok(),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    reopened
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

#[tokio::test]
async fn database_files_are_private() {
    let dir = temp_dir();
    let path = dir.path().join("coffer.db");
    let storage = open(&path).await;
    storage
        .put("k", b"v")
        .await
        .unwrap_or_else(|error| panic!("put: {error}"));
    // With the writer's connection open in WAL mode, all three files exist.
    for file in ["coffer.db", "coffer.db-wal", "coffer.db-shm"] {
        let file = dir.path().join(file);
        let metadata =
            std::fs::metadata(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert_eq!(
            metadata.permissions().mode() & 0o777,
            0o600,
            "mode of {}",
            file.display()
        );
    }
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}

#[tokio::test]
async fn missing_directory_is_a_clear_error() {
    let dir = temp_dir();
    let path = dir.path().join("no-such-dir").join("coffer.db");
    let error = SqliteBackend::open(SqliteConfig::new(&path)).await.err();
    match &error {
        Some(Error::File { path: named, .. }) => assert_eq!(named, &path.display().to_string()),
        other => panic!("expected Error::File naming the path, got {other:?}"),
    }
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(
        message.contains("no-such-dir/coffer.db"),
        "message names the path: {message}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = temp_dir();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a SQLite database, just some text that is long enough. ".repeat(20),
    )
    .unwrap_or_else(|error| panic!("write: {error}"));
    let error = SqliteBackend::open(SqliteConfig::new(&path)).await.err();
    assert!(
        matches!(error, Some(Error::Sqlite { .. })),
        "expected Error::Sqlite, got {error:?}"
    );
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(
        message.contains("notes.txt"),
        "message names the path: {message}"
    );
    assert!(
        message.contains("not a database"),
        "message says why: {message}"
    );
}

#[tokio::test]
async fn calls_after_close_fail_with_closed() {
    let dir = temp_dir();
    let storage = open(&dir.path().join("coffer.db")).await;
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
    assert!(matches!(storage.get("k").await, Err(Error::Closed)));
    assert!(matches!(storage.put("k", b"v").await, Err(Error::Closed)));
    assert!(matches!(storage.list("").await, Err(Error::Closed)));
    assert!(
        matches!(storage.close().await, Ok(())),
        "closing twice is not an error"
    );
}

/// Writes issued together are committed as groups; a failing `Expect` in one request must undo
/// only that request.
#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_in_a_burst_rolls_back_only_itself() {
    let dir = temp_dir();
    let storage = open(&dir.path().join("coffer.db")).await;
    let mut tasks = Vec::new();
    for n in 0..200_u32 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("burst/{n:03}");
            let mut ops = vec![TxOp::Put {
                key: key.clone(),
                value: n.to_be_bytes().to_vec(),
            }];
            if n % 3 == 0 {
                ops.push(TxOp::Expect {
                    key: "burst-guard".to_owned(),
                    value: Some(b"never".to_vec()),
                });
            }
            (n, storage.transaction(ops).await)
        }));
    }
    for task in tasks {
        let (n, outcome) = task.await.unwrap_or_else(|error| panic!("task: {error}"));
        if n % 3 == 0 {
            assert!(
                matches!(outcome, Err(Error::Conflict { .. })),
                "request {n}: {outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "request {n}: {outcome:?}");
        }
    }
    let stored = storage
        .scan("burst/", None, 1000)
        .await
        .unwrap_or_else(|error| panic!("scan: {error}"));
    let expected: Vec<String> = (0..200_u32)
        .filter(|n| n % 3 != 0)
        .map(|n| format!("burst/{n:03}"))
        .collect();
    assert_eq!(stored, expected);
    storage
        .close()
        .await
        .unwrap_or_else(|error| panic!("close: {error}"));
}
