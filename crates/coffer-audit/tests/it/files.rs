//! The file device: modes, appending, and the chain across reopen (rotation) and restart.

use std::fs;
use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use coffer_audit::{
    Broker, CHECKPOINT_INTERVAL, ChainState, Device, Error, FileSink, Problem, verify,
};
use serde_json::Value;

use crate::{PATIENCE, config, request_event, response_event, salt};

fn file_device(path: &Path, extra: &[(&str, &str)]) -> coffer_audit::Result<Device> {
    let path = path.to_str().expect("temp paths are UTF-8");
    let mut options = vec![("file_path", path)];
    options.extend_from_slice(extra);
    Device::open(config("file/", &options), salt(3))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o7777
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("readable log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn verify_file(path: &Path) -> coffer_audit::VerifyReport {
    verify(Cursor::new(fs::read(path).expect("readable log"))).expect("in-memory reads")
}

async fn log_n(device: &Device, from: u64, n: u64) {
    for i in from..from + n {
        device
            .log(
                &response_event(&format!("r{i}"), "read", "secret/data/a", 200),
                PATIENCE,
            )
            .await
            .expect("the file is writable");
    }
}

#[tokio::test]
async fn files_are_created_0600_by_default_or_with_the_given_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let default = dir.path().join("audit.log");
    let device = file_device(&default, &[]).expect("a writable path");
    log_n(&device, 0, 1).await;
    assert_eq!(mode(&default), 0o600);
    assert_eq!(lines(&default).len(), 1);

    let shared = dir.path().join("logs/shared.log");
    let device = file_device(&shared, &[("mode", "0640")]).expect("a writable path");
    log_n(&device, 0, 1).await;
    assert_eq!(mode(&shared), 0o640);
    assert_eq!(mode(shared.parent().expect("a parent")), 0o700);

    // An existing file gets the device's mode.
    let existing = dir.path().join("existing.log");
    fs::write(&existing, b"").expect("create");
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o644)).expect("chmod");
    let _device = file_device(&existing, &[]).expect("a writable path");
    assert_eq!(mode(&existing), 0o600);
}

#[tokio::test]
async fn executable_modes_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for bad in ["0700", "0755", "0610", "0601", "4600"] {
        let path = dir.path().join(format!("{bad}.log"));
        assert!(
            matches!(file_device(&path, &[("mode", bad)]), Err(Error::Config(_))),
            "mode {bad}"
        );
        assert!(!path.exists(), "mode {bad} created the file");
    }
    assert!(matches!(
        FileSink::open(&dir.path().join("x.log"), 0o711),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn lines_are_appended_to_an_existing_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let sink = FileSink::open(&path, 0o600).expect("writable");
    use coffer_audit::AuditSink;
    sink.write_line(b"first").await.expect("write");
    drop(sink);
    let sink = FileSink::open(&path, 0o600).expect("writable");
    sink.write_line(b"second").await.expect("write");
    assert_eq!(fs::read(&path).expect("read"), b"first\nsecond\n");
}

#[tokio::test]
async fn chain_resumes_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let device = file_device(&path, &[]).expect("a writable path");
    log_n(&device, 0, 3).await;
    let before = device.chain().await;
    drop(device);

    let last = fs::read(&path).expect("read");
    let last_line = last
        .strip_suffix(b"\n")
        .and_then(|t| t.rsplit(|&b| b == b'\n').next())
        .expect("a last line");
    assert_eq!(
        ChainState::from_last_line(last_line).expect("chained"),
        before
    );
    assert_eq!(ChainState::from_file(&path).expect("chained"), before);

    let device = file_device(&path, &[]).expect("a writable path");
    assert_eq!(device.chain().await, before);
    log_n(&device, 3, 2).await;
    let seqs: Vec<Value> = lines(&path).iter().map(|r| r["seq"].clone()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5].map(Value::from));
    let report = verify_file(&path);
    assert_eq!(
        (report.records, report.skipped, report.problem),
        (5, 0, None)
    );
}

#[tokio::test]
async fn chain_continues_across_a_reopen_and_the_new_file_starts_with_a_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let rotated = dir.path().join("audit.log.1");
    let broker = Broker::new();
    broker
        .add(file_device(&path, &[]).expect("a writable path"))
        .expect("first device");
    for i in 0..3 {
        broker
            .log(
                &request_event(&format!("r{i}"), "read", "secret/data/a"),
                PATIENCE,
            )
            .await
            .expect("logged");
    }
    fs::rename(&path, &rotated).expect("rotate");
    broker.reopen().await;
    assert_eq!(broker.health(), vec![("file/".to_owned(), None)]);
    for i in 3..5 {
        broker
            .log(
                &request_event(&format!("r{i}"), "read", "secret/data/a"),
                PATIENCE,
            )
            .await
            .expect("logged");
    }

    let old = fs::read(&rotated).expect("read");
    let new = lines(&path);
    assert_eq!(new.len(), 3);
    assert_eq!(new[0]["type"], "checkpoint");
    assert_eq!(new[0]["seq"], 3);
    let old_last = old
        .strip_suffix(b"\n")
        .and_then(|t| t.rsplit(|&b| b == b'\n').next())
        .expect("a last line");
    let old_head = ChainState::from_last_line(old_last)
        .expect("chained")
        .head();
    assert_eq!(new[0]["hash"], old_head.as_str());
    assert_eq!(new[1]["seq"], 4);

    let report = verify_file(&rotated);
    assert_eq!((report.records, report.problem), (3, None));
    let report = verify_file(&path);
    assert_eq!(
        (report.records, report.skipped, report.problem),
        (2, 0, None)
    );
    let mut both = old.clone();
    both.extend_from_slice(&fs::read(&path).expect("read"));
    let report = verify(Cursor::new(both)).expect("in-memory reads");
    assert_eq!((report.records, report.problem), (5, None));
}

/// A crash after record 1000 but before its checkpoint: the checkpoint is written first on the
/// next start, and the file still verifies.
#[tokio::test]
async fn a_missing_checkpoint_is_written_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let device = file_device(&path, &[]).expect("a writable path");
    log_n(&device, 0, CHECKPOINT_INTERVAL).await;
    drop(device);
    let text = fs::read_to_string(&path).expect("read");
    let mut kept: Vec<&str> = text.lines().collect();
    let checkpoint = kept.pop().expect("a last line");
    assert!(
        checkpoint.contains(r#""type":"checkpoint""#),
        "{checkpoint}"
    );
    fs::write(&path, kept.join("\n") + "\n").expect("simulate the crash");
    let report = verify_file(&path);
    assert_eq!(
        (report.records, report.problem),
        (CHECKPOINT_INTERVAL, None)
    );

    let device = file_device(&path, &[]).expect("a writable path");
    log_n(&device, CHECKPOINT_INTERVAL, 1).await;
    let all = lines(&path);
    let n = all.len();
    assert_eq!(all[n - 2]["type"], "checkpoint");
    assert_eq!(all[n - 2]["seq"], CHECKPOINT_INTERVAL);
    assert_eq!(all[n - 1]["seq"], CHECKPOINT_INTERVAL + 1);
    let report = verify_file(&path);
    assert_eq!(
        (report.records, report.problem),
        (CHECKPOINT_INTERVAL + 1, None)
    );
}

#[tokio::test]
async fn a_torn_last_line_refuses_to_resume() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let device = file_device(&path, &[]).expect("a writable path");
    log_n(&device, 0, 2).await;
    drop(device);
    let mut bytes = fs::read(&path).expect("read");
    bytes.truncate(bytes.len() - 10);
    fs::write(&path, &bytes).expect("tear");
    assert!(matches!(
        file_device(&path, &[]),
        Err(Error::Device { name, .. }) if name == "file/"
    ));
}

#[tokio::test]
async fn a_log_that_is_not_chained_refuses_to_resume() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vault.log");
    fs::write(
        &path,
        b"{\"time\":\"2026-11-22T13:11:27Z\",\"type\":\"request\"}\n",
    )
    .expect("write");
    assert!(matches!(file_device(&path, &[]), Err(Error::Device { .. })));
    assert_eq!(
        verify_file(&path).problem,
        Some(Problem::Malformed {
            line: 1,
            reason: "no seq".to_owned()
        })
    );
}

#[tokio::test]
async fn discard_and_stdout_paths_need_no_file() {
    let discard =
        Device::open(config("d/", &[("file_path", "discard")]), salt(1)).expect("discard is valid");
    log_n(&discard, 0, 2).await;
    assert_eq!(discard.chain().await.seq(), 2);
    assert!(Device::open(config("s/", &[("file_path", "stdout")]), salt(1)).is_ok());
    assert!(Device::open(config("s/", &[("file_path", "-")]), salt(1)).is_ok());
}
