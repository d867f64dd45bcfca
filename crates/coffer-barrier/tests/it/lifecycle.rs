//! Initialize, unseal, seal, rotate, rekey and key status.

use std::time::{Duration, SystemTime};

use coffer_barrier::{Barrier, BarrierOp, Corruption, Error, KEYRING_PATH, RootKey, Term, shamir};
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;

use crate::{stored_term, unsealed};

#[tokio::test]
async fn initialize_leaves_the_barrier_sealed_until_unsealed() {
    let storage = Storage::new(MemoryBackend::new());
    let barrier = Barrier::new(storage.clone());
    let root = RootKey::generate().expect("rng");
    assert!(!barrier.is_initialized().await.expect("storage"));
    assert!(barrier.is_sealed());
    assert!(matches!(
        barrier.unseal(&root).await,
        Err(Error::NotInitialized)
    ));

    barrier.initialize(&root).await.expect("initialize");
    assert!(barrier.is_initialized().await.expect("storage"));
    assert!(barrier.is_sealed());
    let keyring = storage
        .get(KEYRING_PATH)
        .await
        .expect("storage")
        .expect("keyring stored");
    assert_eq!(
        stored_term(&keyring),
        0,
        "the keyring is sealed under the root key, term 0"
    );

    barrier.unseal(&root).await.expect("unseal");
    assert!(!barrier.is_sealed());
    let status = barrier.key_status().expect("unsealed");
    assert_eq!(status.term.get(), 1);
    assert_eq!(status.encryptions, 0);
    let age = SystemTime::now()
        .duration_since(status.install_time)
        .expect("installed in the past");
    assert!(age < Duration::from_secs(600), "{age:?}");
}

#[tokio::test]
async fn initialize_twice_is_refused() {
    let (barrier, storage, _) = unsealed().await;
    let before = storage.get(KEYRING_PATH).await.expect("storage");
    let other = RootKey::generate().expect("rng");
    assert!(matches!(
        barrier.initialize(&other).await,
        Err(Error::AlreadyInitialized)
    ));
    assert_eq!(
        storage.get(KEYRING_PATH).await.expect("storage"),
        before,
        "keyring untouched"
    );
}

#[tokio::test]
async fn a_wrong_root_key_does_not_unseal() {
    let (barrier, _, root) = unsealed().await;
    barrier.seal();
    let wrong = RootKey::generate().expect("rng");
    assert!(matches!(barrier.unseal(&wrong).await, Err(Error::WrongKey)));
    assert!(barrier.is_sealed());
    barrier
        .unseal(&root)
        .await
        .expect("the right key still works");
    assert!(!barrier.is_sealed());
}

#[tokio::test]
async fn too_few_shares_give_a_key_the_barrier_rejects() {
    let storage = Storage::new(MemoryBackend::new());
    let barrier = Barrier::new(storage);
    let root = RootKey::generate().expect("rng");
    barrier.initialize(&root).await.expect("initialize");
    let shares = shamir::split(&root, 5, 3).expect("split");

    let short = shamir::combine(&shares[..2]).expect("Shamir cannot tell");
    assert!(matches!(barrier.unseal(&short).await, Err(Error::WrongKey)));
    let quorum = shamir::combine(&shares[2..]).expect("combine");
    barrier.unseal(&quorum).await.expect("a quorum unseals");
}

#[tokio::test]
async fn a_damaged_keyring_is_corrupt_not_a_wrong_key() {
    let (barrier, storage, root) = unsealed().await;
    barrier.seal();
    let good = storage
        .get(KEYRING_PATH)
        .await
        .expect("storage")
        .expect("keyring");
    let check = async |bytes: Vec<u8>, want: Corruption| {
        storage.put(KEYRING_PATH, &bytes).await.expect("storage");
        match barrier.unseal(&root).await {
            Err(Error::Corrupt { path, reason }) => {
                assert_eq!(path, KEYRING_PATH);
                assert_eq!(reason, want);
            }
            other => panic!("want Corrupt({want:?}), got {other:?}"),
        }
    };
    check(good[..10].to_vec(), Corruption::Truncated { len: 10 }).await;
    let mut wrong_version = good.clone();
    wrong_version[4] = 9;
    check(wrong_version, Corruption::UnknownVersion(9)).await;
    let mut data_term = good.clone();
    data_term[3] = 1;
    check(data_term, Corruption::UnknownTerm(Term::new(1))).await;
    // A flipped ciphertext byte is indistinguishable from a wrong key.
    let mut flipped = good.clone();
    flipped[20] ^= 1;
    storage.put(KEYRING_PATH, &flipped).await.expect("storage");
    assert!(matches!(barrier.unseal(&root).await, Err(Error::WrongKey)));
    assert!(barrier.is_sealed());
}

#[tokio::test]
async fn sealed_refuses_every_data_method_and_touches_no_storage() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put("a", b"1").await.expect("put");
    let stamp = barrier
        .get_stamped("a")
        .await
        .expect("get")
        .expect("present")
        .1;
    let before = storage.scan("", None, 100).await.expect("storage");
    barrier.seal();
    assert!(barrier.is_sealed());
    assert!(matches!(barrier.key_status(), Err(Error::Sealed)));
    assert!(matches!(barrier.rotate().await, Err(Error::Sealed)));
    let new_root = RootKey::generate().expect("rng");
    assert!(matches!(barrier.rekey(&new_root).await, Err(Error::Sealed)));
    assert!(matches!(barrier.get("a").await, Err(Error::Sealed)));
    assert!(matches!(barrier.get_stamped("a").await, Err(Error::Sealed)));
    assert!(matches!(barrier.put("b", b"2").await, Err(Error::Sealed)));
    assert!(matches!(barrier.delete("a").await, Err(Error::Sealed)));
    assert!(matches!(barrier.list("").await, Err(Error::Sealed)));
    assert!(matches!(
        barrier.scan("", None, 10).await,
        Err(Error::Sealed)
    ));
    let ops = vec![
        BarrierOp::Expect {
            path: "a".into(),
            stamp: Some(stamp),
        },
        BarrierOp::Put {
            path: "c".into(),
            value: b"3".to_vec().into(),
        },
    ];
    assert!(matches!(barrier.transaction(ops).await, Err(Error::Sealed)));
    let view = barrier.view("v/");
    assert!(matches!(view.get("a").await, Err(Error::Sealed)));
    assert!(matches!(view.get_stamped("a").await, Err(Error::Sealed)));
    assert!(matches!(view.put("a", b"1").await, Err(Error::Sealed)));
    assert!(matches!(view.delete("a").await, Err(Error::Sealed)));
    assert!(matches!(view.list("").await, Err(Error::Sealed)));
    assert!(matches!(view.scan("", None, 10).await, Err(Error::Sealed)));
    assert!(matches!(
        view.transaction(Vec::new()).await,
        Err(Error::Sealed)
    ));
    assert_eq!(storage.scan("", None, 100).await.expect("storage"), before);
}

#[tokio::test]
async fn seal_then_unseal_reads_old_data() {
    let (barrier, _, root) = unsealed().await;
    barrier.put("kept", b"value").await.expect("put");
    barrier.seal();
    barrier.unseal(&root).await.expect("unseal");
    assert_eq!(
        barrier
            .get("kept")
            .await
            .expect("get")
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"value"[..])
    );
}

#[tokio::test]
async fn rotation_keeps_old_terms_and_writes_with_the_new_one() {
    let (barrier, storage, root) = unsealed().await;
    barrier.put("old", b"written at term 1").await.expect("put");
    barrier.put("old2", b"also term 1").await.expect("put");
    assert_eq!(barrier.key_status().expect("unsealed").encryptions, 2);

    let status = barrier.rotate().await.expect("rotate");
    assert_eq!(status.term.get(), 2);
    assert_eq!(status.encryptions, 0);
    assert_eq!(barrier.key_status().expect("unsealed"), status);

    barrier.put("new", b"written at term 2").await.expect("put");
    assert_eq!(barrier.key_status().expect("unsealed").encryptions, 1);
    let old_frame = storage.get("old").await.expect("storage").expect("stored");
    let new_frame = storage.get("new").await.expect("storage").expect("stored");
    assert_eq!(stored_term(&old_frame), 1);
    assert_eq!(stored_term(&new_frame), 2);
    assert_eq!(
        read(&barrier, "old").await.as_deref(),
        Some(&b"written at term 1"[..])
    );
    assert_eq!(
        read(&barrier, "new").await.as_deref(),
        Some(&b"written at term 2"[..])
    );

    // The rotation was persisted: after a fresh unseal both terms still read.
    barrier.seal();
    barrier.unseal(&root).await.expect("unseal");
    assert_eq!(barrier.key_status().expect("unsealed").term.get(), 2);
    assert_eq!(
        read(&barrier, "old").await.as_deref(),
        Some(&b"written at term 1"[..])
    );
    assert_eq!(
        read(&barrier, "new").await.as_deref(),
        Some(&b"written at term 2"[..])
    );
    let third = barrier.rotate().await.expect("rotate again");
    assert_eq!(third.term.get(), 3);
    assert!(third.term > status.term);
}

#[tokio::test]
async fn rotation_fails_when_the_keyring_changed_underneath() {
    let (barrier, storage, root) = unsealed().await;
    // A second barrier over the same storage rotates first.
    let other = Barrier::new(storage.clone());
    other.unseal(&root).await.expect("unseal");
    other.rotate().await.expect("rotate");
    match barrier.rotate().await {
        Err(Error::Conflict { path }) => assert_eq!(path, KEYRING_PATH),
        other => panic!("want Conflict, got {other:?}"),
    }
    assert_eq!(
        barrier.key_status().expect("unsealed").term.get(),
        1,
        "memory unchanged"
    );
}

#[tokio::test]
async fn rekey_moves_the_keyring_to_a_new_root_key() {
    let (barrier, _, old_root) = unsealed().await;
    barrier.put("a", b"1").await.expect("put");
    let new_root = RootKey::generate().expect("rng");
    barrier.rekey(&new_root).await.expect("rekey");
    barrier.seal();
    assert!(matches!(
        barrier.unseal(&old_root).await,
        Err(Error::WrongKey)
    ));
    barrier
        .unseal(&new_root)
        .await
        .expect("unseal with the new key");
    assert_eq!(read(&barrier, "a").await.as_deref(), Some(&b"1"[..]));
}

#[tokio::test]
async fn the_keyring_path_is_reserved() {
    let (barrier, _, root) = unsealed().await;
    for result in [
        barrier.put(KEYRING_PATH, b"x").await,
        barrier.delete(KEYRING_PATH).await,
        barrier.get(KEYRING_PATH).await.map(drop),
        barrier
            .transaction(vec![BarrierOp::Delete {
                path: KEYRING_PATH.into(),
            }])
            .await,
        barrier.view("core").put("keyring", b"x").await,
    ] {
        match result {
            Err(Error::InvalidPath { path, .. }) => assert_eq!(path, KEYRING_PATH),
            other => panic!("want InvalidPath, got {other:?}"),
        }
    }
    barrier.seal();
    barrier.unseal(&root).await.expect("the keyring is intact");
}

async fn read(barrier: &Barrier, path: &str) -> Option<Vec<u8>> {
    barrier.get(path).await.expect("get").map(|v| v.to_vec())
}
