//! The store device (`kind = "store"`): the same answers as scanning the file of the same
//! events, checkpoints kept but never returned, verification of the stored chain, file modes,
//! and resuming the chain after a restart.

use std::fs;
use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use coffer_audit::{
    AuditSummary, Broker, Device, DeviceConfig, Error, Problem, StoreSink, query, store_query,
    store_summaries, store_verify, summaries,
};

use crate::query::{events, every_case, ids};
use crate::{PATIENCE, config, response_event, salt};

fn store_config(path: &Path, extra: &[(&str, &str)]) -> DeviceConfig {
    let path = path.to_str().expect("temp paths are UTF-8");
    let mut options = vec![("path", path)];
    options.extend_from_slice(extra);
    DeviceConfig {
        kind: "store".to_owned(),
        ..config("store/", &options)
    }
}

fn store_device(path: &Path) -> Device {
    Device::open(store_config(path, &[]), salt(3)).expect("a writable store")
}

/// Runs `sql` on the store (to inspect or tamper with it).
fn execute(path: &Path, sql: &str) -> usize {
    rusqlite::Connection::open(path)
        .and_then(|c| c.execute(sql, []))
        .expect("the store is writable")
}

fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.query_row(sql, [], |row| row.get(0)))
        .expect("the store is readable")
}

/// Logs the query tests' events through a broker with a file device and a store device under
/// the same salt, with a reopen (so a checkpoint) half-way.
async fn file_and_store(dir: &Path) -> (Vec<u8>, std::path::PathBuf) {
    let file = dir.join("audit.log");
    let store = dir.join("audit.db");
    let broker = Broker::new();
    let file_path = file.to_str().expect("temp paths are UTF-8");
    broker
        .add(Device::open(config("file/", &[("file_path", file_path)]), salt(3)).expect("file"))
        .expect("a new path");
    broker.add(store_device(&store)).expect("a new path");
    let events = events();
    let (first, second) = events.split_at(events.len() / 2);
    for event in first {
        broker
            .log(event, PATIENCE)
            .await
            .expect("both devices work");
    }
    broker.reopen().await;
    for event in second {
        broker
            .log(event, PATIENCE)
            .await
            .expect("both devices work");
    }
    (fs::read(&file).expect("the log exists"), store)
}

#[tokio::test]
async fn the_store_answers_every_query_like_the_file_scan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, store) = file_and_store(dir.path()).await;
    let checkpoints = count(
        &store,
        "SELECT count(*) FROM records WHERE type = 'checkpoint'",
    );
    assert_eq!(checkpoints, 1, "the reopen wrote a checkpoint");
    assert_eq!(count(&store, "SELECT count(*) FROM records"), 19);
    for (filter, limit, expected) in every_case() {
        let scanned = query(Cursor::new(&log), &filter, limit).expect("a valid log");
        let stored = store_query(&store, &filter, limit).expect("a valid store");
        assert_eq!(ids(&stored), expected, "{filter:?} limit {limit:?}");
        assert_eq!(stored, scanned, "{filter:?} limit {limit:?}");
        assert!(stored.iter().all(|r| r["type"] == "response"));
    }
}

#[tokio::test]
async fn store_summaries_equal_the_summaries_of_the_file_scan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, store) = file_and_store(dir.path()).await;
    for (filter, limit, _) in every_case() {
        let scanned = query(Cursor::new(&log), &filter, limit).expect("a valid log");
        let derived: Vec<AuditSummary> = scanned.iter().map(AuditSummary::of).collect();
        let stored = store_summaries(&store, &filter, limit).expect("a valid store");
        assert_eq!(stored, derived, "{filter:?} limit {limit:?}");
        let from_file = summaries(Cursor::new(&log), &filter, limit).expect("a valid log");
        assert_eq!(stored, from_file, "{filter:?} limit {limit:?}");
    }
}

#[tokio::test]
async fn a_store_without_summary_columns_gets_them_when_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, store) = file_and_store(dir.path()).await;
    // The layout of a store written before summaries: no summary columns, no classification.
    for column in ["time", "actor", "operation", "error"] {
        execute(&store, &format!("ALTER TABLE records DROP COLUMN {column}"));
    }
    execute(&store, "UPDATE records SET action = NULL, result = NULL");
    assert!(store_summaries(&store, &coffer_audit::Filter::default(), None).is_err());

    drop(StoreSink::open(&store, 0o600).expect("an older store opens"));
    let all = coffer_audit::Filter::default();
    let scanned = query(Cursor::new(&log), &all, None).expect("a valid log");
    let derived: Vec<AuditSummary> = scanned.iter().map(AuditSummary::of).collect();
    assert_eq!(derived.len(), 9);
    assert_eq!(
        store_summaries(&store, &all, None).expect("migrated"),
        derived
    );
    assert_eq!(store_verify(&store).expect("readable").problem, None);
}

#[tokio::test]
async fn store_verify_finds_a_modified_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, store) = file_and_store(dir.path()).await;
    let report = store_verify(&store).expect("a readable store");
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 18);

    let changed = execute(
        &store,
        "UPDATE records SET record = replace(record, '\"status\":200', '\"status\":500') \
         WHERE id = 2",
    );
    assert_eq!(changed, 1);
    let report = store_verify(&store).expect("a readable store");
    assert_eq!(report.problem, Some(Problem::Modified { line: 2 }));
}

#[tokio::test]
async fn store_verify_finds_a_deleted_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, store) = file_and_store(dir.path()).await;
    assert_eq!(execute(&store, "DELETE FROM records WHERE id = 5"), 1);
    let report = store_verify(&store).expect("a readable store");
    assert_eq!(report.problem, Some(Problem::Removed { after_line: 4 }));
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .expect("the store exists")
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn stores_are_created_0600_or_with_the_given_mode_never_executable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let default = dir.path().join("nested/audit.db");
    let device = store_device(&default);
    device
        .log(
            &response_event("r1", "read", "secret/data/a", 200),
            PATIENCE,
        )
        .await
        .expect("a writable store");
    assert_eq!(mode(&default), 0o600);
    assert_eq!(mode(&dir.path().join("nested")), 0o700);

    let group = dir.path().join("group.db");
    Device::open(store_config(&group, &[("mode", "0640")]), salt(3)).expect("mode 0640");
    assert_eq!(mode(&group), 0o640);

    let check_refused = |extra: &[(&str, &str)]| {
        let refused = Device::open(store_config(&dir.path().join("x.db"), extra), salt(3));
        assert!(matches!(refused, Err(Error::Config(_))), "{extra:?}");
    };
    check_refused(&[("mode", "0755")]);
    check_refused(&[("mode", "0610")]);
    check_refused(&[("file_path", "/elsewhere")]);
    assert!(matches!(
        Device::open(
            DeviceConfig {
                kind: "store".to_owned(),
                ..config("store/", &[])
            },
            salt(3)
        ),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn a_reopened_store_resumes_its_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("audit.db");
    for round in 0..3 {
        let device = store_device(&store);
        assert_eq!(device.chain().await.seq(), round * 2);
        for i in 0..2 {
            let id = format!("r{round}-{i}");
            device
                .log(&response_event(&id, "read", "secret/data/a", 200), PATIENCE)
                .await
                .expect("a writable store");
        }
        device
            .reopen()
            .await
            .expect("reopening a store does nothing");
    }
    let report = store_verify(&store).expect("a readable store");
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 6);
    let all = store_query(&store, &coffer_audit::Filter::default(), None).expect("readable");
    assert_eq!(ids(&all), ["r0-0", "r0-1", "r1-0", "r1-1", "r2-0", "r2-1"]);
}

#[tokio::test]
async fn an_empty_or_missing_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("audit.db");
    assert!(store_query(&store, &coffer_audit::Filter::default(), None).is_err());
    let _device = store_device(&store);
    let all = store_query(&store, &coffer_audit::Filter::default(), None).expect("readable");
    assert!(all.is_empty());
    let report = store_verify(&store).expect("a readable store");
    assert_eq!((report.records, report.problem), (0, None));
}
