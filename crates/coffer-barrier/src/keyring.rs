//! The keyring: one AES-256-GCM data key per term, the active term, and its versioned binary
//! codec. The keyring is persisted at `core/keyring`, sealed under the root key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::Corruption;
use crate::{Error, Result};

/// A key term: which keyring key sealed a frame. Term 0 is reserved for the root key (it seals
/// the keyring itself); data keys start at term 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(u32);

impl Term {
    /// The term that marks a frame sealed under the root key.
    pub(crate) const ROOT: Term = Term(0);
    /// The first data-key term.
    pub(crate) const FIRST: Term = Term(1);

    /// The term with number `n`.
    pub const fn new(n: u32) -> Term {
        Term(n)
    }

    /// The term number.
    pub fn get(self) -> u32 {
        self.0
    }

    fn next(self) -> Option<Term> {
        self.0.checked_add(1).map(Term)
    }
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Term> for u32 {
    fn from(term: Term) -> u32 {
        term.0
    }
}

/// The active key's status, as `sys/key-status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The active term.
    pub term: Term,
    /// When the active term was installed.
    pub install_time: SystemTime,
    /// Encryptions with the active term since it was installed or the barrier was unsealed,
    /// whichever is later.
    pub encryptions: u64,
}

/// Length of a data key.
const KEY_LEN: usize = 32;
/// The keyring codec's version byte.
const CODEC_VERSION: u8 = 1;
/// Bytes of one encoded term: term, seconds, nanoseconds, key.
const ENCODED_TERM_LEN: usize = 4 + 8 + 4 + KEY_LEN;
/// Bytes before the terms: version, active term, term count.
const ENCODED_HEADER_LEN: usize = 1 + 4 + 4;

/// One data key.
#[derive(Clone)]
pub(crate) struct TermKey {
    term: Term,
    install_time: SystemTime,
    raw: Zeroizing<[u8; KEY_LEN]>,
    // ring does not zeroize its expanded key schedule; the raw bytes above are what we control.
    aead: LessSafeKey,
}

impl TermKey {
    fn new(term: Term, install_time: SystemTime, raw: Zeroizing<[u8; KEY_LEN]>) -> TermKey {
        let unbound = UnboundKey::new(&AES_256_GCM, raw.as_ref())
            .expect("AES-256-GCM accepts every 32-byte key");
        TermKey {
            term,
            install_time,
            raw,
            aead: LessSafeKey::new(unbound),
        }
    }

    fn generate(term: Term, install_time: SystemTime, rng: &SystemRandom) -> Result<TermKey> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(raw.as_mut()).map_err(|_| Error::Random)?;
        Ok(TermKey::new(term, install_time, raw))
    }

    pub(crate) fn term(&self) -> Term {
        self.term
    }

    pub(crate) fn install_time(&self) -> SystemTime {
        self.install_time
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

/// The terms, sorted by term number; the active term is always the newest.
#[derive(Clone)]
pub(crate) struct Keyring {
    keys: Vec<TermKey>,
}

impl Keyring {
    /// A new keyring holding term 1.
    pub(crate) fn generate(now: SystemTime, rng: &SystemRandom) -> Result<Keyring> {
        Ok(Keyring {
            keys: vec![TermKey::generate(Term::FIRST, now, rng)?],
        })
    }

    /// A copy of this keyring with a fresh key at the next term, which becomes active.
    pub(crate) fn rotated(&self, now: SystemTime, rng: &SystemRandom) -> Result<Keyring> {
        let next = self.active().term.next().ok_or(Error::TermsExhausted)?;
        let mut keys = self.keys.clone();
        keys.push(TermKey::generate(next, now, rng)?);
        Ok(Keyring { keys })
    }

    /// The key new writes use.
    pub(crate) fn active(&self) -> &TermKey {
        self.keys
            .last()
            .expect("a keyring always holds at least one term")
    }

    /// The key of `term`, if the keyring holds it.
    pub(crate) fn get(&self, term: Term) -> Option<&TermKey> {
        self.keys
            .binary_search_by_key(&term, |k| k.term)
            .ok()
            .and_then(|i| self.keys.get(i))
    }

    /// Version 1 layout, integers big-endian:
    /// `0x01 | active term u32 | count u32 | count × (term u32 | secs u64 | nanos u32 | key 32)`.
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let len = ENCODED_HEADER_LEN + self.keys.len() * ENCODED_TERM_LEN;
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.push(CODEC_VERSION);
        out.extend_from_slice(&self.active().term.0.to_be_bytes());
        let count = u32::try_from(self.keys.len()).expect("terms are u32, so at most 2^32 keys");
        out.extend_from_slice(&count.to_be_bytes());
        for key in &self.keys {
            // Times before 1970 cannot come from this code; they encode as the epoch.
            let since = key
                .install_time
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            out.extend_from_slice(&key.term.0.to_be_bytes());
            out.extend_from_slice(&since.as_secs().to_be_bytes());
            out.extend_from_slice(&since.subsec_nanos().to_be_bytes());
            out.extend_from_slice(key.raw.as_ref());
        }
        debug_assert_eq!(
            out.len(),
            len,
            "the capacity was exact, so nothing was reallocated"
        );
        out
    }

    /// Decodes [`Keyring::encode`]'s output, checking every field.
    pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Keyring, Corruption> {
        let mut input = Reader { rest: bytes };
        let version = input.u8()?;
        if version != CODEC_VERSION {
            return Err(Corruption::Keyring("unknown codec version"));
        }
        let active = Term(input.u32()?);
        let count = input.u32()?;
        if count == 0 {
            return Err(Corruption::Keyring("no terms"));
        }
        // Bound the allocation by what the input can hold.
        let count = usize::try_from(count).map_err(|_| Corruption::Keyring("too many terms"))?;
        if input.rest.len() != count.saturating_mul(ENCODED_TERM_LEN) {
            return Err(Corruption::Keyring("length does not match the term count"));
        }
        let mut keys: Vec<TermKey> = Vec::with_capacity(count);
        for _ in 0..count {
            let term = Term(input.u32()?);
            let secs = input.u64()?;
            let nanos = input.u32()?;
            let raw = input.key()?;
            if term < Term::FIRST {
                return Err(Corruption::Keyring("term 0 is reserved for the root key"));
            }
            if keys.last().is_some_and(|prev| prev.term >= term) {
                return Err(Corruption::Keyring("terms are not strictly increasing"));
            }
            if nanos >= 1_000_000_000 {
                return Err(Corruption::Keyring("install time has invalid nanoseconds"));
            }
            let install_time = UNIX_EPOCH
                .checked_add(Duration::new(secs, nanos))
                .ok_or(Corruption::Keyring("install time is out of range"))?;
            keys.push(TermKey::new(term, install_time, raw));
        }
        let keyring = Keyring { keys };
        if keyring.active().term != active {
            return Err(Corruption::Keyring(
                "the active term is not the newest term",
            ));
        }
        Ok(keyring)
    }
}

/// A cursor over untrusted bytes; every read checks the length.
struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> std::result::Result<[u8; N], Corruption> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(Corruption::Keyring("truncated"))?;
        self.rest = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> std::result::Result<u8, Corruption> {
        Ok(u8::from_be_bytes(self.take()?))
    }

    fn u32(&mut self) -> std::result::Result<u32, Corruption> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> std::result::Result<u64, Corruption> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn key(&mut self) -> std::result::Result<Zeroizing<[u8; KEY_LEN]>, Corruption> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<KEY_LEN>()
            .ok_or(Corruption::Keyring("truncated"))?;
        self.rest = rest;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(head);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, 123_456_789)
    }

    fn summary(keyring: &Keyring) -> Vec<(u32, SystemTime, [u8; KEY_LEN])> {
        keyring
            .keys
            .iter()
            .map(|k| (k.term.0, k.install_time, *k.raw))
            .collect()
    }

    #[test]
    fn codec_round_trips() {
        let rng = SystemRandom::new();
        let one = Keyring::generate(at(1_700_000_000), &rng).expect("rng");
        let three = one
            .rotated(at(1_700_000_100), &rng)
            .and_then(|k| k.rotated(at(1_700_000_200), &rng))
            .expect("rng");
        for keyring in [&one, &three] {
            let decoded = Keyring::decode(&keyring.encode()).expect("decodes");
            assert_eq!(summary(&decoded), summary(keyring));
            assert_eq!(decoded.active().term, keyring.active().term);
        }
        assert_eq!(three.active().term, Term(3));
        assert_eq!(three.active().install_time, at(1_700_000_200));
        assert_eq!(
            three.keys[0].raw, one.keys[0].raw,
            "rotation keeps old keys"
        );
        assert_ne!(three.keys[1].raw, three.keys[0].raw);
    }

    #[test]
    fn lookup_by_term() {
        let rng = SystemRandom::new();
        let keyring = Keyring::generate(at(1), &rng)
            .and_then(|k| k.rotated(at(2), &rng))
            .expect("rng");
        assert_eq!(keyring.get(Term(1)).map(TermKey::term), Some(Term(1)));
        assert_eq!(keyring.get(Term(2)).map(TermKey::term), Some(Term(2)));
        assert!(keyring.get(Term(0)).is_none());
        assert!(keyring.get(Term(3)).is_none());
    }

    fn encoded(active: u32, terms: &[(u32, u64, u32)]) -> Vec<u8> {
        let mut out = vec![CODEC_VERSION];
        out.extend_from_slice(&active.to_be_bytes());
        out.extend_from_slice(&(terms.len() as u32).to_be_bytes());
        for &(term, secs, nanos) in terms {
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&secs.to_be_bytes());
            out.extend_from_slice(&nanos.to_be_bytes());
            out.extend_from_slice(&[9u8; KEY_LEN]);
        }
        out
    }

    #[test]
    fn decode_rejects_malformed_input() {
        fn check(bytes: &[u8], want: &str) {
            match Keyring::decode(bytes) {
                Err(Corruption::Keyring(reason)) => assert_eq!(reason, want),
                Err(other) => panic!("want {want:?}, got {other:?}"),
                Ok(_) => panic!("want {want:?}, got a keyring"),
            }
        }
        let good = encoded(2, &[(1, 10, 0), (2, 20, 5)]);
        assert!(Keyring::decode(&good).is_ok());

        check(&[], "truncated");
        check(&[CODEC_VERSION, 0, 0], "truncated");
        check(
            &good[..ENCODED_HEADER_LEN],
            "length does not match the term count",
        );
        check(
            &good[..good.len() - 1],
            "length does not match the term count",
        );
        check(
            &[good.as_slice(), &[0]].concat(),
            "length does not match the term count",
        );
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        check(&bad_version, "unknown codec version");
        check(&encoded(0, &[]), "no terms");
        check(
            &encoded(0, &[(0, 10, 0)]),
            "term 0 is reserved for the root key",
        );
        check(
            &encoded(2, &[(2, 10, 0), (1, 20, 0)]),
            "terms are not strictly increasing",
        );
        check(
            &encoded(1, &[(1, 10, 0), (1, 20, 0)]),
            "terms are not strictly increasing",
        );
        check(
            &encoded(1, &[(1, 10, 1_000_000_000)]),
            "install time has invalid nanoseconds",
        );
        check(
            &encoded(1, &[(1, u64::MAX, 0)]),
            "install time is out of range",
        );
        check(
            &encoded(1, &[(1, 10, 0), (2, 20, 0)]),
            "the active term is not the newest term",
        );
        check(
            &encoded(3, &[(1, 10, 0), (2, 20, 0)]),
            "the active term is not the newest term",
        );
        // A huge count with no bytes behind it must not allocate or panic.
        let mut huge = vec![CODEC_VERSION];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        check(&huge, "length does not match the term count");
    }

    #[test]
    fn every_truncation_is_rejected_without_panicking() {
        let good = encoded(2, &[(1, 10, 0), (2, 20, 5)]);
        for len in 0..good.len() {
            assert!(Keyring::decode(&good[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn term_displays_its_number() {
        assert_eq!(Term(7).to_string(), "7");
        assert_eq!(u32::from(Term(7)), 7);
        assert_eq!(Term(7).get(), 7);
        assert_eq!(Term(u32::MAX).next(), None);
    }
}
