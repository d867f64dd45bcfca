//! Stored frames as the barrier writes them, and every way a damaged one is reported.

use coffer_barrier::{Corruption, Error, Term};

use crate::{stored_term, unsealed};

const PATH: &str = "secret/data/app";
const VALUE: &[u8] = b"the plaintext value";
/// term (4) + version (1) + nonce (12) before the ciphertext, tag (16) after it.
const HEADER: usize = 17;
const TAG: usize = 16;

#[tokio::test]
async fn frames_round_trip_and_hide_the_plaintext() {
    let (barrier, storage, _) = unsealed().await;
    for value in [&b""[..], b"x", VALUE, &[0xA5; 10_000]] {
        barrier.put(PATH, value).await.expect("put");
        let frame = storage.get(PATH).await.expect("storage").expect("stored");
        assert_eq!(frame.len(), HEADER + value.len() + TAG);
        assert_eq!(stored_term(&frame), 1);
        assert_eq!(frame[4], 0x02, "version byte");
        if value.len() > 4 {
            assert!(
                !frame.windows(value.len()).any(|w| w == value),
                "plaintext leaked"
            );
        }
        let read = barrier.get(PATH).await.expect("get").expect("present");
        assert_eq!(read.as_slice(), value);
    }
    assert_eq!(barrier.get("absent").await.expect("get"), None);
}

#[tokio::test]
async fn the_same_value_encrypts_differently_each_time() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    let first = storage.get(PATH).await.expect("storage");
    barrier.put(PATH, VALUE).await.expect("put");
    let second = storage.get(PATH).await.expect("storage");
    assert_ne!(first, second);
}

/// Stores `frame` at [`PATH`] behind the barrier's back, then reads it through the barrier.
async fn read_damaged(frame: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    storage.put(PATH, frame).await.expect("storage");
    barrier.get(PATH).await.map(|v| v.map(|v| v.to_vec()))
}

fn assert_corrupt(got: Result<Option<Vec<u8>>, Error>, want: &Corruption, what: &str) {
    match got {
        Err(Error::Corrupt { path, reason }) => {
            assert_eq!(path, PATH, "{what}");
            assert_eq!(&reason, want, "{what}");
            let message = Error::Corrupt { path, reason }.to_string();
            assert!(message.contains(PATH), "{what}: {message}");
        }
        other => panic!("{what}: want Corrupt({want:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn tampering_with_any_region_is_corrupt() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    let good = storage.get(PATH).await.expect("storage").expect("stored");
    let ciphertext_start = HEADER;
    let tag_start = good.len() - TAG;
    let cases: Vec<(&str, usize, u8, Corruption)> = vec![
        (
            "term to 0 (the root key's)",
            3,
            0x01,
            Corruption::UnknownTerm(Term::new(0)),
        ),
        ("term to 3", 3, 0x02, Corruption::UnknownTerm(Term::new(3))),
        (
            "term high byte",
            0,
            0x80,
            Corruption::UnknownTerm(Term::new(0x8000_0001)),
        ),
        ("version", 4, 0x01, Corruption::UnknownVersion(0x03)),
        ("version to 0", 4, 0x02, Corruption::UnknownVersion(0x00)),
        ("nonce first", 5, 0x01, Corruption::Authentication),
        ("nonce last", 16, 0x80, Corruption::Authentication),
        (
            "ciphertext first",
            ciphertext_start,
            0x01,
            Corruption::Authentication,
        ),
        (
            "ciphertext last",
            tag_start - 1,
            0x01,
            Corruption::Authentication,
        ),
        ("tag first", tag_start, 0x01, Corruption::Authentication),
        ("tag last", good.len() - 1, 0x01, Corruption::Authentication),
    ];
    for (what, offset, mask, want) in cases {
        let mut frame = good.clone();
        frame[offset] ^= mask;
        storage.put(PATH, &frame).await.expect("storage");
        let got = barrier.get(PATH).await.map(|v| v.map(|v| v.to_vec()));
        assert_corrupt(got, &want, what);
    }
    storage.put(PATH, &good).await.expect("storage");
    assert_eq!(
        barrier
            .get(PATH)
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        VALUE
    );
}

#[tokio::test]
async fn a_frame_claiming_another_existing_term_fails_authentication() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    let mut frame = storage.get(PATH).await.expect("storage").expect("stored");
    barrier.rotate().await.expect("rotate");
    frame[3] = 2;
    storage.put(PATH, &frame).await.expect("storage");
    let got = barrier.get(PATH).await.map(|v| v.map(|v| v.to_vec()));
    assert_corrupt(
        got,
        &Corruption::Authentication,
        "term 1 frame relabelled as term 2",
    );
}

#[tokio::test]
async fn every_truncation_is_corrupt() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    let good = storage.get(PATH).await.expect("storage").expect("stored");
    for len in 0..good.len() {
        storage.put(PATH, &good[..len]).await.expect("storage");
        let got = barrier.get(PATH).await.map(|v| v.map(|v| v.to_vec()));
        let want = if len < HEADER + TAG {
            Corruption::Truncated { len }
        } else {
            Corruption::Authentication
        };
        assert_corrupt(got, &want, &format!("length {len}"));
    }
}

#[tokio::test]
async fn garbage_is_corrupt() {
    for garbage in [
        vec![0u8; 0],
        vec![0xFF; 1],
        vec![0u8; 33],
        vec![0x00, 0, 0, 1, 2],
        vec![7u8; 500],
    ] {
        let got = read_damaged(&garbage).await;
        match got {
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, PATH),
            other => panic!("{garbage:?}: want Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_frame_copied_to_another_path_is_corrupt() {
    let (barrier, storage, _) = unsealed().await;
    barrier.put(PATH, VALUE).await.expect("put");
    barrier.put("other", b"other value").await.expect("put");
    let frame = storage.get(PATH).await.expect("storage").expect("stored");
    storage.put("other", &frame).await.expect("storage");
    match barrier.get("other").await {
        Err(Error::Corrupt { path, reason }) => {
            assert_eq!(path, "other");
            assert_eq!(reason, Corruption::Authentication);
        }
        other => panic!("want Corrupt, got {other:?}"),
    }
    // The original is unaffected.
    assert_eq!(
        barrier
            .get(PATH)
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        VALUE
    );
}

#[tokio::test]
async fn the_keyring_frame_does_not_open_as_data() {
    let (barrier, storage, _) = unsealed().await;
    let keyring = storage
        .get(coffer_barrier::KEYRING_PATH)
        .await
        .expect("storage")
        .expect("stored");
    storage.put(PATH, &keyring).await.expect("storage");
    let got = barrier.get(PATH).await.map(|v| v.map(|v| v.to_vec()));
    assert_corrupt(
        got,
        &Corruption::UnknownTerm(Term::new(0)),
        "keyring copied to a data path",
    );
}
