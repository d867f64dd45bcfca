//! Views: a prefix of the barrier that engines cannot leave.

use coffer_barrier::{BarrierOp, Error};

use crate::unsealed;

#[tokio::test]
async fn a_view_prefixes_every_path() {
    let (barrier, storage, _) = unsealed().await;
    let view = barrier.view("logical/1234");
    assert_eq!(view.prefix(), "logical/1234/");
    view.put("config", b"c").await.expect("put");
    view.put("data/a", b"1").await.expect("put");
    view.put("data/b/c", b"2").await.expect("put");
    barrier
        .put("logical/12345/config", b"neighbour")
        .await
        .expect("put");

    assert!(
        storage
            .get("logical/1234/config")
            .await
            .expect("storage")
            .is_some()
    );
    assert_eq!(
        barrier
            .get("logical/1234/data/a")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"1"[..])
    );
    assert_eq!(
        view.get("config")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"c"[..])
    );
    assert_eq!(view.get("missing").await.expect("get"), None);

    assert_eq!(view.list("").await.expect("list"), ["config", "data/"]);
    assert_eq!(view.list("data/").await.expect("list"), ["a", "b/"]);
    assert_eq!(
        view.scan("", None, 10).await.expect("scan"),
        ["config", "data/a", "data/b/c"]
    );
    assert_eq!(
        view.scan("data/", None, 10).await.expect("scan"),
        ["data/a", "data/b/c"]
    );
    assert_eq!(
        view.scan("", Some("config"), 10).await.expect("scan"),
        ["data/a", "data/b/c"]
    );
    assert_eq!(view.scan("", None, 1).await.expect("scan"), ["config"]);

    view.delete("config").await.expect("delete");
    assert_eq!(view.get("config").await.expect("get"), None);
    assert!(
        barrier
            .get("logical/12345/config")
            .await
            .expect("get")
            .is_some(),
        "neighbour untouched"
    );
}

#[tokio::test]
async fn sub_views_nest() {
    let (barrier, _, _) = unsealed().await;
    let mount = barrier.view("logical/m/");
    let inner = mount.sub("salt");
    assert_eq!(inner.prefix(), "logical/m/salt/");
    inner.put("k", b"v").await.expect("put");
    assert_eq!(
        mount
            .get("salt/k")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"v"[..])
    );
    assert_eq!(mount.scan("", None, 10).await.expect("scan"), ["salt/k"]);
    assert_eq!(inner.scan("", None, 10).await.expect("scan"), ["k"]);
    let whole = barrier.view("");
    assert_eq!(whole.prefix(), "");
    assert_eq!(
        whole
            .get("logical/m/salt/k")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"v"[..])
    );
}

#[tokio::test]
async fn views_cannot_escape_their_prefix() {
    let (barrier, storage, _) = unsealed().await;
    barrier
        .put("logical/other/secret", b"not yours")
        .await
        .expect("put");
    let view = barrier.view("logical/mine/");
    let before = storage.scan("", None, 100).await.expect("storage");

    let escapes = [
        "../other/secret",
        "..",
        "a/../../other/secret",
        "/logical/other/secret",
        "/",
        "a/..",
    ];
    for path in escapes {
        let results = [
            view.get(path).await.map(drop),
            view.get_stamped(path).await.map(drop),
            view.put(path, b"x").await,
            view.delete(path).await,
            view.list(path).await.map(drop),
            view.scan(path, None, 10).await.map(drop),
            view.scan("", Some(path), 10).await.map(drop),
            view.transaction(vec![BarrierOp::Delete { path: path.into() }])
                .await,
            view.transaction(vec![BarrierOp::Put {
                path: path.into(),
                value: b"x".to_vec().into(),
            }])
            .await,
            view.transaction(vec![BarrierOp::Expect {
                path: path.into(),
                stamp: None,
            }])
            .await,
        ];
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Err(Error::InvalidPath { path: got, .. }) => assert_eq!(got, path, "method {i}"),
                other => panic!("{path:?} method {i}: want InvalidPath, got {other:?}"),
            }
        }
    }
    // The empty path would be the view's own folder, not an entry.
    assert!(matches!(view.get("").await, Err(Error::InvalidPath { .. })));
    assert!(matches!(
        view.put("", b"x").await,
        Err(Error::InvalidPath { .. })
    ));
    assert_eq!(
        storage.scan("", None, 100).await.expect("storage"),
        before,
        "nothing written"
    );
    assert_eq!(view.list("").await.expect("list"), Vec::<String>::new());
}

#[tokio::test]
async fn a_prefix_without_a_slash_does_not_reach_its_siblings() {
    let (barrier, _, _) = unsealed().await;
    barrier
        .put("logical/abc-def/x", b"sibling")
        .await
        .expect("put");
    let view = barrier.view("logical/abc");
    assert_eq!(view.list("").await.expect("list"), Vec::<String>::new());
    assert_eq!(
        view.scan("", None, 10).await.expect("scan"),
        Vec::<String>::new()
    );
    assert_eq!(view.get("-def/x").await.expect("get"), None);
}

#[tokio::test]
async fn view_transactions_use_relative_paths() {
    let (barrier, _, _) = unsealed().await;
    let view = barrier.view("logical/kv/");
    view.put("meta", b"1").await.expect("put");
    let (_, stamp) = view
        .get_stamped("meta")
        .await
        .expect("get")
        .expect("present");
    view.transaction(vec![
        BarrierOp::Expect {
            path: "meta".into(),
            stamp: Some(stamp.clone()),
        },
        BarrierOp::Put {
            path: "meta".into(),
            value: b"2".to_vec().into(),
        },
        BarrierOp::Put {
            path: "versions/1".into(),
            value: b"v".to_vec().into(),
        },
    ])
    .await
    .expect("transaction");
    assert_eq!(
        barrier
            .get("logical/kv/versions/1")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"v"[..])
    );
    let stale = view
        .transaction(vec![
            BarrierOp::Expect {
                path: "meta".into(),
                stamp: Some(stamp),
            },
            BarrierOp::Delete {
                path: "meta".into(),
            },
        ])
        .await;
    match stale {
        Err(Error::Conflict { path }) => assert_eq!(path, "logical/kv/meta"),
        other => panic!("want Conflict, got {other:?}"),
    }
    assert!(view.get("meta").await.expect("get").is_some());
}
