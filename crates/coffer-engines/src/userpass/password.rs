//! Password hashing for userpass: argon2id (RustCrypto's `argon2`, default parameters: 19 MiB,
//! 2 passes, 1 lane) with a random 16-byte salt per password, stored as a PHC string. Hashing
//! is CPU-heavy, so it runs on tokio's blocking pool, at most [`Hasher`]'s permit count at a
//! time, and never on the async executor.
//!
//! Logins of unknown users verify against [`DUMMY_HASH`], a fixed hash made with the same
//! parameters, so an unknown user costs as much time as a wrong password.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier, SaltString};
use coffer_core::{Error, Result};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// An argon2id hash, with the default parameters, of a random password that was thrown away once
/// hashed; logins of unknown users verify against it (and fail whatever it says).
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$MLUrWuaHdzpJ6koO6R8GGA$2ITuXKhpBBEZsJQjfT337iW8WGvsGR0ZRCh6oRPJKuk";

/// Salt length in bytes (the PHC recommendation).
const SALT_LEN: usize = 16;

/// A password as given by a client. Never printed.
pub(crate) struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password read from a request.
    pub(crate) fn new(text: Zeroizing<String>) -> Password {
        Password(text)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored password hash (a PHC string). Not the password, but never printed either: it is
/// what an offline guessing attack would start from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Runs password hashing off the executor, a bounded number at a time, and counts the runs.
#[derive(Debug)]
pub(crate) struct Hasher {
    permits: Semaphore,
    runs: AtomicU64,
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at a time.
    pub(crate) fn new(concurrency: usize) -> Hasher {
        Hasher {
            permits: Semaphore::new(concurrency),
            runs: AtomicU64::new(0),
        }
    }

    /// How many hashes (creations and verifications) have run so far.
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Hashes `password` with a fresh random salt.
    pub(crate) async fn hash(&self, password: Password) -> Result<PasswordHash> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| Error::Barrier(coffer_barrier::Error::Random))?;
        let salt =
            SaltString::encode_b64(&salt).expect("16 bytes are within the PHC salt length limits");
        let hashed = self
            .run(move || {
                Argon2::default()
                    .hash_password(password.0.as_bytes(), &salt)
                    .map(|hash| hash.to_string())
            })
            .await?;
        // The only failure left for a salt and parameters that are valid is a password longer
        // than argon2 accepts (4 GiB); say so without the password.
        hashed
            .map(PasswordHash)
            .map_err(|_| Error::invalid("the password cannot be hashed"))
    }

    /// Whether `password` matches `stored`; with no stored hash (an unknown user) it does the
    /// same work against [`DUMMY_HASH`] and answers false. `path` names the stored record in
    /// the error when the hash there does not parse.
    pub(crate) async fn verify(
        &self,
        password: Password,
        stored: Option<PasswordHash>,
        path: &str,
    ) -> Result<bool> {
        let known = stored.is_some();
        let phc = stored.map_or_else(|| DUMMY_HASH.to_owned(), |hash| hash.0);
        let verdict = self
            .run(move || {
                let parsed = password_hash::PasswordHash::new(&phc)?;
                match Argon2::default().verify_password(password.0.as_bytes(), &parsed) {
                    Ok(()) => Ok(true),
                    Err(password_hash::Error::Password) => Ok(false),
                    Err(other) => Err(other),
                }
            })
            .await?;
        match verdict {
            Ok(matched) => Ok(known && matched),
            Err(_) if !known => Ok(false),
            Err(_) => Err(Error::CorruptRecord {
                path: path.to_owned(),
                reason: "the password hash is not a valid argon2 PHC string".to_owned(),
            }),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free, and counts it.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        self.runs.fetch_add(1, Ordering::Relaxed);
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => Ok(value),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime cancels a blocking task only while shutting down: answer as a server
            // that is going away.
            Err(_) => Err(Error::Sealed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::new(Zeroizing::new(text.to_owned()))
    }

    #[tokio::test]
    async fn hashes_verify_and_salts_differ() {
        let hasher = Hasher::new(2);
        let first = hasher.hash(password("pw123")).await.expect("hashing works");
        let second = hasher.hash(password("pw123")).await.expect("hashing works");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(
            first.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "argon2id with the default parameters"
        );
        let verify = |text: &str, hash: &PasswordHash| {
            hasher.verify(password(text), Some(hash.clone()), "user/alice")
        };
        assert_eq!(verify("pw123", &first).await.ok(), Some(true));
        assert_eq!(verify("pw124", &first).await.ok(), Some(false));
        assert_eq!(verify("", &first).await.ok(), Some(false));
        assert_eq!(hasher.runs(), 5);
    }

    #[tokio::test]
    async fn unknown_users_verify_against_the_dummy_and_fail() {
        let hasher = Hasher::new(1);
        assert_eq!(
            hasher
                .verify(password("anything"), None, "user/x")
                .await
                .ok(),
            Some(false)
        );
        assert_eq!(hasher.runs(), 1, "the dummy costs one verification");
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let parsed = password_hash::PasswordHash::new(DUMMY_HASH).expect("the dummy hash parses");
        assert_eq!(parsed.algorithm, argon2::Algorithm::Argon2id.ident());
        let params = argon2::Params::try_from(&parsed).expect("the dummy's parameters are valid");
        let default = argon2::Params::default();
        let cost = |p: &argon2::Params| (p.m_cost(), p.t_cost(), p.p_cost());
        assert_eq!(cost(&params), cost(&default));
        assert!(
            parsed
                .hash
                .is_some_and(|hash| hash.len() == argon2::Params::DEFAULT_OUTPUT_LEN)
        );
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_error_without_the_hash() {
        let hasher = Hasher::new(1);
        let got = hasher
            .verify(
                password("pw"),
                Some(PasswordHash("$2b$10$notargon".to_owned())),
                "user/alice",
            )
            .await
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Err("corrupt record at \"user/alice\": the password hash is not a valid argon2 PHC string".to_owned())
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", password("hunter2")), "Password(<redacted>)");
        assert_eq!(
            format!("{:?}", PasswordHash("$argon2id$...".to_owned())),
            "PasswordHash(<redacted>)"
        );
    }
}
