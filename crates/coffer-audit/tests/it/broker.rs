//! The broker: Vault's at-least-one rule, timeouts on blocked devices, the device table.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use coffer_audit::{Broker, Error, verify};

use crate::{
    BlockingSink, FlakySink, MemorySink, PATIENCE, config, device_on, memory_device, request_event,
};

fn event(id: &str) -> coffer_audit::AuditEvent {
    request_event(id, "read", "secret/data/a")
}

#[tokio::test]
async fn no_device_means_auditing_is_off() {
    let broker = Broker::new();
    assert!(broker.is_empty());
    broker
        .log(&event("r1"), PATIENCE)
        .await
        .expect("nothing to fail");
    assert!(broker.health().is_empty());
}

#[tokio::test]
async fn one_good_device_is_enough() {
    let broker = Broker::new();
    let good = Arc::new(MemorySink::default());
    broker
        .add(device_on("bad/", &[], Arc::new(FlakySink::new(u32::MAX))))
        .expect("add");
    broker
        .add(device_on("good/", &[], good.clone()))
        .expect("add");
    broker
        .log(&event("r1"), PATIENCE)
        .await
        .expect("the good device logged it");
    assert_eq!(good.lines().len(), 1);
    let health = broker.health();
    assert_eq!(health.len(), 2);
    assert_eq!(health[1], ("good/".to_owned(), None));
    assert_eq!(health[0].0, "bad/");
    let error = health[0].1.as_deref().expect("the bad device's error");
    assert!(
        error.contains("disk full") && error.contains("bad/"),
        "{error}"
    );
}

#[tokio::test]
async fn only_failing_devices_fail_the_request() {
    let broker = Broker::new();
    broker
        .add(device_on("bad1/", &[], Arc::new(FlakySink::new(u32::MAX))))
        .expect("add");
    broker
        .add(device_on("bad2/", &[], Arc::new(FlakySink::new(u32::MAX))))
        .expect("add");
    assert!(matches!(
        broker.log(&event("r1"), PATIENCE).await,
        Err(Error::NoDevice)
    ));
    assert!(broker.health().iter().all(|(_, error)| error.is_some()));
}

#[tokio::test]
async fn a_failed_write_leaves_no_gap_in_the_chain() {
    let sink = Arc::new(FlakySink::new(1));
    let broker = Broker::new();
    broker
        .add(device_on("flaky/", &[], sink.clone()))
        .expect("add");
    assert!(matches!(
        broker.log(&event("r1"), PATIENCE).await,
        Err(Error::NoDevice)
    ));
    broker.log(&event("r2"), PATIENCE).await.expect("recovered");
    assert_eq!(broker.health(), vec![("flaky/".to_owned(), None)]);
    let records = sink.inner.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["seq"], 1);
    assert_eq!(records[0]["request"]["id"], "r2");
}

/// The clock is paused: the timeout elapses without real waiting, so nothing here depends on
/// how fast the machine is.
#[tokio::test(start_paused = true)]
async fn a_blocked_device_is_bounded_by_the_timeout() {
    let timeout = Duration::from_secs(2);
    let broker = Broker::new();
    broker
        .add(device_on("hung/", &[], Arc::new(BlockingSink)))
        .expect("add");
    assert!(matches!(
        broker.log(&event("r1"), timeout).await,
        Err(Error::NoDevice)
    ));
    // The next event waits behind the hung write only until its own deadline.
    assert!(matches!(
        broker.log(&event("r2"), timeout).await,
        Err(Error::NoDevice)
    ));
    let error = broker.health()[0].1.clone().expect("an error");
    assert!(error.contains("hung/"), "{error}");

    // With a working device beside it, requests go through.
    let good = Arc::new(MemorySink::default());
    broker
        .add(device_on("good/", &[], good.clone()))
        .expect("add");
    broker
        .log(&event("r3"), timeout)
        .await
        .expect("the good device logged it");
    broker
        .log(&event("r4"), timeout)
        .await
        .expect("the good device logged it");
    assert_eq!(good.records().len(), 2);
    let report = verify(Cursor::new(good.text())).expect("in-memory reads");
    assert_eq!((report.records, report.problem), (2, None));

    // Reopening does not hang on the blocked device either.
    broker.reopen().await;
}

#[tokio::test]
async fn devices_are_listed_and_removed_by_path() {
    let broker = Broker::new();
    let (first, _) = memory_device(&[]);
    broker.add(first).expect("add");
    let duplicate = device_on("mem", &[], Arc::new(MemorySink::default()));
    let error = broker.add(duplicate).expect_err("path taken");
    assert!(matches!(&error, Error::Duplicate(name) if name == "mem"));
    assert_eq!(error.to_string(), "path already in use");
    broker
        .add(device_on(
            "a-file/",
            &[("hmac_accessor", "false")],
            Arc::new(MemorySink::default()),
        ))
        .expect("add");

    let names: Vec<String> = broker.list().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a-file/", "mem/"]);
    assert_eq!(
        broker.list()[0]
            .options
            .get("hmac_accessor")
            .map(String::as_str),
        Some("false")
    );
    assert_eq!(broker.remove("nothing/"), None);
    assert_eq!(
        broker.remove("mem").map(|c| c.name),
        Some("mem/".to_owned())
    );
    assert_eq!(
        broker.remove("a-file/"),
        Some(config("a-file/", &[("hmac_accessor", "false")]))
    );
    assert!(broker.is_empty());
}

#[tokio::test]
async fn every_device_has_its_own_salt_and_chain() {
    let broker = Broker::new();
    let one = Arc::new(MemorySink::default());
    let two = Arc::new(MemorySink::default());
    broker
        .add(device_on("one/", &[], one.clone()))
        .expect("add");
    broker
        .add(
            coffer_audit::Device::new(
                config("two/", &[]),
                crate::salt(9),
                two.clone(),
                coffer_audit::ChainState::genesis(),
            )
            .expect("valid"),
        )
        .expect("add");
    broker.log(&event("r1"), PATIENCE).await.expect("logged");
    broker.log(&event("r2"), PATIENCE).await.expect("logged");
    let (a, b) = (one.records(), two.records());
    assert_eq!((a.len(), b.len()), (2, 2));
    assert_eq!(
        (a[1]["seq"].clone(), b[1]["seq"].clone()),
        (2.into(), 2.into())
    );
    assert_ne!(a[0]["auth"]["client_token"], b[0]["auth"]["client_token"]);
    assert_eq!(broker.hash("one/", "x"), broker.hash("one", "x"));
    assert_ne!(broker.hash("one/", "x"), broker.hash("two/", "x"));
}

#[tokio::test]
async fn concurrent_events_keep_one_unbroken_chain() {
    let broker = Arc::new(Broker::new());
    let (device, sink) = memory_device(&[]);
    broker.add(device).expect("add");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let broker = Arc::clone(&broker);
        tasks.push(tokio::spawn(async move {
            broker.log(&event(&format!("r{i}")), PATIENCE).await
        }));
    }
    for task in tasks {
        task.await.expect("no panic").expect("logged");
    }
    let report = verify(Cursor::new(sink.text())).expect("in-memory reads");
    assert_eq!((report.records, report.problem), (50, None));
}
