//! Atomic multi-path writes with stamps (compare-and-swap on the stored frame).

use coffer_barrier::{BarrierOp, Error};

use crate::unsealed;

fn put(path: &str, value: &[u8]) -> BarrierOp {
    BarrierOp::Put {
        path: path.to_owned(),
        value: value.to_vec().into(),
    }
}

#[tokio::test]
async fn a_matching_stamp_applies_everything() {
    let (barrier, _, _) = unsealed().await;
    barrier.put("meta", b"v1").await.expect("put");
    barrier.put("gone", b"x").await.expect("put");
    let (value, stamp) = barrier
        .get_stamped("meta")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(value.as_slice(), b"v1");
    barrier
        .transaction(vec![
            BarrierOp::Expect {
                path: "meta".into(),
                stamp: Some(stamp),
            },
            BarrierOp::Expect {
                path: "fresh".into(),
                stamp: None,
            },
            put("meta", b"v2"),
            put("fresh", b"new"),
            BarrierOp::Delete {
                path: "gone".into(),
            },
        ])
        .await
        .expect("transaction");
    assert_eq!(
        barrier
            .get("meta")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"v2"[..])
    );
    assert_eq!(
        barrier
            .get("fresh")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"new"[..])
    );
    assert_eq!(barrier.get("gone").await.expect("get"), None);
    assert_eq!(barrier.key_status().expect("unsealed").encryptions, 4);
}

#[tokio::test]
async fn a_stale_stamp_conflicts_and_applies_nothing() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put("meta", b"v1").await.expect("put");
    let (_, stale) = barrier
        .get_stamped("meta")
        .await
        .expect("get")
        .expect("present");
    // Rewriting the same value still changes the stamp (fresh nonce).
    barrier.put("meta", b"v1").await.expect("put");
    let before = storage.scan("", None, 100).await.expect("storage");
    let result = barrier
        .transaction(vec![
            put("other", b"must not appear"),
            BarrierOp::Expect {
                path: "meta".into(),
                stamp: Some(stale.clone()),
            },
            put("meta", b"v2"),
        ])
        .await;
    match result {
        Err(Error::Conflict { path }) => assert_eq!(path, "meta"),
        other => panic!("want Conflict, got {other:?}"),
    }
    assert_eq!(storage.scan("", None, 100).await.expect("storage"), before);
    assert_eq!(barrier.get("other").await.expect("get"), None);
    assert_eq!(
        barrier
            .get("meta")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"v1"[..])
    );
    let (_, current) = barrier
        .get_stamped("meta")
        .await
        .expect("get")
        .expect("present");
    assert_ne!(current, stale);
}

#[tokio::test]
async fn expecting_absence_conflicts_when_present_and_stamps_conflict_when_absent() {
    let (barrier, _, _) = unsealed().await;
    barrier.put("taken", b"x").await.expect("put");
    let (_, stamp) = barrier
        .get_stamped("taken")
        .await
        .expect("get")
        .expect("present");
    let result = barrier
        .transaction(vec![
            BarrierOp::Expect {
                path: "taken".into(),
                stamp: None,
            },
            put("taken", b"y"),
        ])
        .await;
    assert!(matches!(result, Err(Error::Conflict { path }) if path == "taken"));

    barrier.delete("taken").await.expect("delete");
    let result = barrier
        .transaction(vec![
            BarrierOp::Expect {
                path: "taken".into(),
                stamp: Some(stamp),
            },
            put("taken", b"y"),
        ])
        .await;
    assert!(matches!(result, Err(Error::Conflict { path }) if path == "taken"));
    assert_eq!(barrier.get("taken").await.expect("get"), None);
}

#[tokio::test]
async fn stamps_debug_without_content() {
    let (barrier, _, _) = unsealed().await;
    barrier.put("a", b"secret").await.expect("put");
    let (_, stamp) = barrier
        .get_stamped("a")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(format!("{stamp:?}"), "Stamp(<39 bytes>)");
    let op = put("a", b"secret");
    assert_eq!(format!("{op:?}"), "Put(\"a\", <redacted 6 bytes>)");
}
