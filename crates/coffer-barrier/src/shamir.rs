//! Shamir's secret sharing of the root key, over GF(256) through the `blahaj` crate.
//!
//! A share of a split key is 33 bytes in Vault's layout: the 32 y-bytes, then a one-byte x tag
//! (never 0). A 1-of-1 "split" is the 32 key bytes themselves. Shares travel as hex or base64.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::root_key::{ROOT_KEY_LEN, RootKey};
use crate::{Error, Result};

/// Length of one share of a split key: the key's y-bytes plus the x tag.
pub const SHARE_LEN: usize = ROOT_KEY_LEN + 1;

/// Vault's lower bound for an unseal key, kept for its error message.
const MIN_KEY_LEN: usize = 16;

/// One unseal key share (or, for a 1-of-1 split, the root key itself). Never printed.
#[derive(Clone)]
pub struct Share {
    bytes: Zeroizing<Vec<u8>>,
}

impl Share {
    /// Parses a share typed by a person or sent by a client: hex, or base64 (standard or
    /// URL-safe, padded or not). Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Share> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::InvalidShare("key is empty"));
        }
        // A hex string is also valid base64, so prefer whichever reading has a usable length,
        // hex first (as Vault does).
        let mut fallback: Option<Zeroizing<Vec<u8>>> = None;
        let hex = hex::decode(text).ok().map(Zeroizing::new);
        let decodings = hex.into_iter().chain(
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .into_iter()
                .filter_map(|engine| engine.decode(text).ok().map(Zeroizing::new)),
        );
        for bytes in decodings {
            if bytes.len() == ROOT_KEY_LEN || bytes.len() == SHARE_LEN {
                return Share::from_bytes(bytes);
            }
            fallback.get_or_insert(bytes);
        }
        match fallback {
            None => Err(Error::InvalidShare(
                "key must be a valid hex or base64 string",
            )),
            Some(bytes) => Share::from_bytes(bytes),
        }
    }

    /// Validates decoded share bytes.
    fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<Share> {
        match bytes.len() {
            n if n < MIN_KEY_LEN => {
                Err(Error::InvalidShare("key is shorter than minimum 16 bytes"))
            }
            ROOT_KEY_LEN => Ok(Share { bytes }),
            SHARE_LEN => {
                if bytes.last() == Some(&0) {
                    Err(Error::InvalidShare("share has the invalid tag 0"))
                } else {
                    Ok(Share { bytes })
                }
            }
            n if n > SHARE_LEN => Err(Error::InvalidShare("key is longer than maximum 33 bytes")),
            _ => Err(Error::InvalidShare(
                "key must be 32 bytes (a 1-of-1 key) or 33 bytes (a share)",
            )),
        }
    }

    /// The raw share bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex, as in Vault's `keys`.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_slice()))
    }

    /// Standard padded base64, as in Vault's `keys_base64`.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }

    /// The x tag of a share of a split key.
    fn tag(&self) -> Option<u8> {
        match self.bytes.len() {
            SHARE_LEN => self.bytes.last().copied(),
            _ => None,
        }
    }
}

impl PartialEq for Share {
    /// Constant-time comparison (for the bytes; lengths are not secret).
    fn eq(&self, other: &Self) -> bool {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice()).into()
    }
}

impl Eq for Share {}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(<redacted {} bytes>)", self.bytes.len())
    }
}

/// Splits the root key into `shares` shares, any `threshold` of which rebuild it.
///
/// `shares` is 1..=255 and `threshold` 1..=`shares`; a threshold of 1 is allowed only with a
/// single share (Vault: "threshold must be greater than one for multiple shares"). For 1-of-1 the
/// single share is the 32 key bytes themselves; otherwise each share is 33 bytes.
pub fn split(key: &RootKey, shares: u8, threshold: u8) -> Result<Vec<Share>> {
    if shares == 0 {
        return Err(Error::InvalidSplit("shares must be at least one"));
    }
    if threshold == 0 {
        return Err(Error::InvalidSplit("threshold must be at least one"));
    }
    if threshold > shares {
        return Err(Error::InvalidSplit(
            "threshold cannot be larger than the number of shares",
        ));
    }
    if threshold == 1 {
        if shares > 1 {
            return Err(Error::InvalidSplit(
                "threshold must be greater than one for multiple shares",
            ));
        }
        return Ok(vec![Share {
            bytes: Zeroizing::new(key.as_bytes().to_vec()),
        }]);
    }
    let dealer = blahaj::Sharks(threshold).dealer(key.as_bytes());
    let split = dealer
        .take(usize::from(shares))
        .map(|share| {
            // blahaj's byte form is `x | y...`; ours is Vault's `y... | x`.
            let raw = Zeroizing::new(Vec::from(&share));
            let mut bytes = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
            bytes.extend_from_slice(raw.get(1..).unwrap_or_default());
            bytes.extend_from_slice(raw.get(..1).unwrap_or_default());
            Share { bytes }
        })
        .collect::<Vec<_>>();
    if split.len() != usize::from(shares) || split.iter().any(|s| s.bytes.len() != SHARE_LEN) {
        // blahaj yields x = 1..=255, so 255 shares of 33 bytes are always available.
        return Err(Error::InvalidSplit(
            "the Shamir dealer produced malformed shares",
        ));
    }
    Ok(split)
}

/// Combines shares into the root key.
///
/// Fewer than the split's threshold of shares gives a wrong key, which Shamir cannot detect
/// (the barrier's unseal rejects it). A share given twice is [`Error::DuplicateShare`]; a single
/// share of a split key, shares of different kinds, or two shares with the same tag are
/// [`Error::InvalidShare`].
pub fn combine(shares: &[Share]) -> Result<RootKey> {
    let Some(first) = shares.first() else {
        return Err(Error::InvalidShare("at least one share is required"));
    };
    if shares.iter().any(|s| s.bytes.len() != first.bytes.len()) {
        return Err(Error::InvalidShare("shares have different lengths"));
    }
    for (i, a) in shares.iter().enumerate() {
        for b in shares.iter().skip(i + 1) {
            if a == b {
                return Err(Error::DuplicateShare);
            }
            if a.tag().is_some() && a.tag() == b.tag() {
                return Err(Error::InvalidShare(
                    "two different shares have the same tag",
                ));
            }
        }
    }
    match first.bytes.len() {
        ROOT_KEY_LEN if shares.len() == 1 => RootKey::from_bytes(&first.bytes),
        ROOT_KEY_LEN => Err(Error::InvalidShare(
            "a 1-of-1 key cannot be combined with others",
        )),
        SHARE_LEN if shares.len() == 1 => Err(Error::InvalidShare(
            "one share of a split key cannot rebuild it; at least two are needed",
        )),
        SHARE_LEN => {
            let count = u8::try_from(shares.len())
                .map_err(|_| Error::InvalidShare("more than 255 shares"))?;
            let mut points = Vec::with_capacity(shares.len());
            for share in shares {
                let mut raw = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
                raw.extend_from_slice(share.bytes.get(ROOT_KEY_LEN..).unwrap_or_default());
                raw.extend_from_slice(share.bytes.get(..ROOT_KEY_LEN).unwrap_or_default());
                let point = blahaj::Share::try_from(raw.as_slice())
                    .map_err(|_| Error::InvalidShare("share is malformed"))?;
                points.push(point);
            }
            let secret = blahaj::Sharks(count)
                .recover(&points)
                .map(Zeroizing::new)
                .map_err(|_| Error::InvalidShare("shares cannot be combined"))?;
            RootKey::from_bytes(&secret)
        }
        _ => Err(Error::InvalidShare(
            "key must be 32 bytes (a 1-of-1 key) or 33 bytes (a share)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RootKey {
        RootKey::from_bytes(&core::array::from_fn::<u8, 32, _>(|i| i as u8 * 7 + 1))
            .expect("32 bytes")
    }

    /// Every subset of `0..n` with exactly `k` members, as index lists.
    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..(1 << n))
            .filter(|mask| mask.count_ones() as usize == k)
            .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
            .collect()
    }

    #[test]
    fn every_quorum_of_a_5_of_3_split_recovers_the_key() {
        let key = key();
        let shares = split(&key, 5, 3).expect("valid split");
        assert_eq!(shares.len(), 5);
        for share in &shares {
            assert_eq!(share.as_bytes().len(), 33);
            assert_ne!(share.as_bytes()[32], 0, "tag 0 would be the secret itself");
        }
        let mut tried = 0;
        for size in 3..=5 {
            for subset in subsets(5, size) {
                let picked: Vec<Share> = subset.iter().map(|&i| shares[i].clone()).collect();
                let rebuilt = combine(&picked).expect("quorum combines");
                assert_eq!(rebuilt, key, "subset {subset:?}");
                tried += 1;
            }
        }
        assert_eq!(tried, 10 + 5 + 1);
    }

    #[test]
    fn two_shares_of_a_5_of_3_split_give_a_different_key() {
        let key = key();
        let shares = split(&key, 5, 3).expect("valid split");
        for subset in subsets(5, 2) {
            let picked: Vec<Share> = subset.iter().map(|&i| shares[i].clone()).collect();
            let rebuilt = combine(&picked).expect("Shamir cannot tell a short quorum");
            assert_ne!(rebuilt, key, "subset {subset:?}");
        }
    }

    #[test]
    fn share_order_does_not_matter() {
        let key = key();
        let shares = split(&key, 3, 2).expect("valid split");
        let reversed: Vec<Share> = shares.iter().rev().cloned().collect();
        assert_eq!(combine(&reversed).expect("combines"), key);
    }

    #[test]
    fn the_largest_split_works() {
        let key = key();
        let shares = split(&key, 255, 2).expect("valid split");
        assert_eq!(shares.len(), 255);
        assert_eq!(combine(&shares[100..102]).expect("combines"), key);
        assert_eq!(combine(&shares).expect("all combine"), key);
    }

    #[test]
    fn one_of_one_is_the_key_itself() {
        let key = key();
        let shares = split(&key, 1, 1).expect("valid split");
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].as_bytes(), key.as_bytes());
        assert_eq!(combine(&shares).expect("combines"), key);
    }

    #[test]
    fn splits_are_random() {
        let key = key();
        let a = split(&key, 3, 2).expect("valid split");
        let b = split(&key, 3, 2).expect("valid split");
        assert_ne!(a, b);
    }

    #[test]
    fn split_parameters_are_validated() {
        fn check(shares: u8, threshold: u8, expected: std::result::Result<usize, &str>) {
            let got = split(&key(), shares, threshold);
            match (got, expected) {
                (Ok(v), Ok(n)) => assert_eq!(v.len(), n, "{shares}/{threshold}"),
                (Err(Error::InvalidSplit(msg)), Err(want)) => {
                    assert_eq!(msg, want, "{shares}/{threshold}")
                }
                (got, want) => panic!("{shares}/{threshold}: got {got:?}, want {want:?}"),
            }
        }
        check(0, 0, Err("shares must be at least one"));
        check(0, 1, Err("shares must be at least one"));
        check(1, 0, Err("threshold must be at least one"));
        check(5, 0, Err("threshold must be at least one"));
        check(
            1,
            2,
            Err("threshold cannot be larger than the number of shares"),
        );
        check(
            3,
            4,
            Err("threshold cannot be larger than the number of shares"),
        );
        check(
            2,
            1,
            Err("threshold must be greater than one for multiple shares"),
        );
        check(
            255,
            1,
            Err("threshold must be greater than one for multiple shares"),
        );
        check(1, 1, Ok(1));
        check(2, 2, Ok(2));
        check(5, 3, Ok(5));
        check(255, 255, Ok(255));
    }

    #[test]
    fn duplicates_are_rejected() {
        let shares = split(&key(), 5, 3).expect("valid split");
        let twice = vec![shares[0].clone(), shares[1].clone(), shares[0].clone()];
        assert!(matches!(combine(&twice), Err(Error::DuplicateShare)));
        let one_of_one = split(&key(), 1, 1).expect("valid split");
        let twice = vec![one_of_one[0].clone(), one_of_one[0].clone()];
        assert!(matches!(combine(&twice), Err(Error::DuplicateShare)));
    }

    #[test]
    fn combine_rejects_unusable_sets() {
        fn check(shares: &[Share], want: &str) {
            match combine(shares) {
                Err(Error::InvalidShare(msg)) => assert_eq!(msg, want),
                other => panic!("want InvalidShare({want:?}), got {other:?}"),
            }
        }
        let split_a = split(&key(), 3, 2).expect("valid split");
        let split_b = split(&RootKey::generate().expect("rng"), 3, 2).expect("valid split");
        let whole = split(&key(), 1, 1).expect("valid split");
        let other_whole = split(&RootKey::generate().expect("rng"), 1, 1).expect("valid split");
        check(&[], "at least one share is required");
        check(
            &split_a[..1],
            "one share of a split key cannot rebuild it; at least two are needed",
        );
        check(
            &[split_a[0].clone(), whole[0].clone()],
            "shares have different lengths",
        );
        check(
            &[whole[0].clone(), other_whole[0].clone()],
            "a 1-of-1 key cannot be combined with others",
        );
        // blahaj deals x = 1, 2, 3 for every split, so equal tags mean different splits.
        check(
            &[split_a[0].clone(), split_b[0].clone()],
            "two different shares have the same tag",
        );
    }

    #[test]
    fn equality_compares_bytes() {
        let a = Share::parse(&"11".repeat(33)).expect("hex share");
        let b = Share::parse(&"11".repeat(33)).expect("hex share");
        let c = Share::parse(&format!("{}12", "11".repeat(32))).expect("hex share");
        let whole = Share::parse(&"11".repeat(32)).expect("hex key");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, whole);
    }

    #[test]
    fn parse_accepts_hex_and_base64() {
        let share = split(&key(), 5, 3).expect("valid split").remove(0);
        let whole = split(&key(), 1, 1).expect("valid split").remove(0);
        for s in [&share, &whole] {
            let encodings = [
                s.to_hex().to_string(),
                s.to_hex().to_uppercase(),
                s.to_base64().to_string(),
                STANDARD_NO_PAD.encode(s.as_bytes()),
                URL_SAFE.encode(s.as_bytes()),
                URL_SAFE_NO_PAD.encode(s.as_bytes()),
                format!("  {}\n", s.to_base64().as_str()),
            ];
            for text in encodings {
                let parsed = Share::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(&parsed, s, "{text:?}");
            }
        }
    }

    #[test]
    fn parse_errors_are_clear() {
        fn check(text: &str, want: &str) {
            match Share::parse(text) {
                Err(e @ Error::InvalidShare(_)) => assert_eq!(e.to_string(), want, "{text:?}"),
                other => panic!("{text:?}: want InvalidShare, got {other:?}"),
            }
        }
        check("", "invalid key: key is empty");
        check("   ", "invalid key: key is empty");
        check(
            "not a key!",
            "invalid key: key must be a valid hex or base64 string",
        );
        check(
            "zz**",
            "invalid key: key must be a valid hex or base64 string",
        );
        check("abcd", "invalid key: key is shorter than minimum 16 bytes");
        check("AAAA", "invalid key: key is shorter than minimum 16 bytes");
        check(
            &"ab".repeat(15),
            "invalid key: key is shorter than minimum 16 bytes",
        );
        check(
            &"ab".repeat(20),
            "invalid key: key must be 32 bytes (a 1-of-1 key) or 33 bytes (a share)",
        );
        check(
            &"ab".repeat(34),
            "invalid key: key is longer than maximum 33 bytes",
        );
        check(
            &format!("{}00", "ab".repeat(32)),
            "invalid key: share has the invalid tag 0",
        );
    }

    #[test]
    fn hex_and_base64_render_the_same_bytes() {
        let share = Share::parse(&format!("{}ff", "00".repeat(32))).expect("hex share");
        assert_eq!(share.to_hex().as_str(), format!("{}ff", "00".repeat(32)));
        assert_eq!(
            share.to_base64().as_str(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD/"
        );
    }

    #[test]
    fn debug_redacts() {
        let share = Share::parse(&"ab".repeat(33)).expect("hex share");
        assert_eq!(format!("{share:?}"), "Share(<redacted 33 bytes>)");
    }
}
