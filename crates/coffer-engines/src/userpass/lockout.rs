//! Brute-force lockout for userpass logins, after Vault's user lockout: after
//! `lockout_threshold` failed logins in a row for one username, each within
//! `lockout_counter_reset` of the previous failure, the username is locked for
//! `lockout_duration`. A locked username is refused before any password hashing; a successful
//! login clears its count. Unknown usernames are counted too, so lockout does not reveal which
//! users exist.
//!
//! The counts live in memory, per engine (one per mount), keyed by username, in a map of bounded
//! size; time is the request's `now`, so tests drive it with a manual clock. A restart or a
//! remount forgets every count.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};

/// The mount option setting how many failures in a row lock a user (0: never).
pub(crate) const THRESHOLD_OPTION: &str = "lockout_threshold";
/// The mount option setting how long a lock lasts.
pub(crate) const DURATION_OPTION: &str = "lockout_duration";
/// The mount option setting after how long without failures the count starts again.
pub(crate) const COUNTER_RESET_OPTION: &str = "lockout_counter_reset";

/// How many usernames the counts are kept for at most.
pub(crate) const MAX_TRACKED_USERS: usize = 10_000;

/// Vault's defaults: 5 failures, a 15-minute lock, a 15-minute window.
const DEFAULT_THRESHOLD: u32 = 5;
const DEFAULT_DURATION: Duration = Duration::from_secs(15 * 60);
const DEFAULT_COUNTER_RESET: Duration = Duration::from_secs(15 * 60);

/// The lockout settings of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockoutPolicy {
    threshold: u32,
    duration: Duration,
    counter_reset: Duration,
}

impl LockoutPolicy {
    /// The settings given by mount options, with Vault's defaults for those not given.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<LockoutPolicy> {
        let duration = |name: &str, default: Duration| -> Result<Duration> {
            match options.get(name) {
                None => Ok(default),
                Some(text) => Ttl::parse(text)
                    .map(Ttl::duration)
                    .map_err(|e| Error::invalid(format!("invalid {name}: {e}"))),
            }
        };
        let threshold = match options.get(THRESHOLD_OPTION) {
            None => DEFAULT_THRESHOLD,
            Some(text) => text.trim().parse::<u32>().map_err(|_| {
                Error::invalid(format!(
                    "invalid {THRESHOLD_OPTION} {text:?}: expected a whole number (0 disables lockout)"
                ))
            })?,
        };
        Ok(LockoutPolicy {
            threshold,
            duration: duration(DURATION_OPTION, DEFAULT_DURATION)?,
            counter_reset: duration(COUNTER_RESET_OPTION, DEFAULT_COUNTER_RESET)?,
        })
    }

    fn enabled(&self) -> bool {
        self.threshold > 0
    }
}

/// The failed-login counts of one mount.
#[derive(Debug)]
pub(crate) struct Lockout {
    policy: LockoutPolicy,
    capacity: usize,
    /// Never held across an `.await`: every method locks, works and unlocks.
    users: Mutex<HashMap<String, Failures>>,
}

/// The recent failures of one username.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failures in a row.
    count: u32,
    /// When the last one happened.
    last: SystemTime,
    /// When the username was locked, while it is.
    locked_at: Option<SystemTime>,
}

impl Failures {
    fn is_locked(&self, policy: &LockoutPolicy, now: SystemTime) -> bool {
        self.locked_at
            .is_some_and(|at| elapsed(at, now) < policy.duration)
    }

    /// Whether it still says anything at `now`: a lock in force, or a count still running.
    fn is_live(&self, policy: &LockoutPolicy, now: SystemTime) -> bool {
        match self.locked_at {
            Some(_) => self.is_locked(policy, now),
            None => elapsed(self.last, now) <= policy.counter_reset,
        }
    }
}

impl Lockout {
    /// Counts for `policy`, kept for at most `capacity` usernames.
    pub(crate) fn new(policy: LockoutPolicy, capacity: usize) -> Lockout {
        Lockout {
            policy,
            capacity: capacity.max(1),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// How many failures in a row lock a user.
    pub(crate) fn threshold(&self) -> u32 {
        self.policy.threshold
    }

    /// Whether `user` is locked at `now`.
    pub(crate) fn is_locked(&self, user: &str, now: SystemTime) -> bool {
        if !self.policy.enabled() {
            return false;
        }
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users
            .get(user)
            .is_some_and(|failures| failures.is_locked(&self.policy, now))
    }

    /// Counts a failed login of `user` at `now`; true when this failure locked it.
    pub(crate) fn record_failure(&self, user: &str, now: SystemTime) -> bool {
        if !self.policy.enabled() {
            return false;
        }
        let policy = self.policy;
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if !users.contains_key(user) && users.len() >= self.capacity {
            make_room(&mut users, &policy, now, self.capacity);
        }
        let failures = users.entry(user.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            locked_at: None,
        });
        if failures.is_locked(&policy, now) {
            return false;
        }
        let lock_expired = failures.locked_at.is_some();
        if lock_expired || elapsed(failures.last, now) > policy.counter_reset {
            failures.count = 0;
            failures.locked_at = None;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        if failures.count >= policy.threshold {
            failures.locked_at = Some(now);
            return true;
        }
        false
    }

    /// Forgets the failures of `user` after a successful login.
    pub(crate) fn record_success(&self, user: &str) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users.remove(user);
    }

    /// How many usernames have counts kept.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Frees at least one place in a full map: drops every entry that no longer says anything, and
/// if none did, the unlocked entry whose last failure is oldest, or else the lock that ends
/// first. Locks in force are the last to go, so filling the map with other names does not
/// easily unlock a user.
fn make_room(
    users: &mut HashMap<String, Failures>,
    policy: &LockoutPolicy,
    now: SystemTime,
    capacity: usize,
) {
    users.retain(|_, failures| failures.is_live(policy, now));
    if users.len() < capacity {
        return;
    }
    let victim = users
        .iter()
        .filter(|(_, failures)| failures.locked_at.is_none())
        .min_by_key(|(_, failures)| failures.last)
        .or_else(|| users.iter().min_by_key(|(_, failures)| failures.locked_at))
        .map(|(name, _)| name.clone());
    if let Some(name) = victim {
        users.remove(&name);
    }
}

/// The time from `from` to `now`; zero when the clock went backwards.
fn elapsed(from: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(from).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn policy(pairs: &[(&str, &str)]) -> std::result::Result<LockoutPolicy, String> {
        let options = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LockoutPolicy::from_options(&options).map_err(|e| e.to_string())
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn policies_from_options() {
        let expect = |threshold, duration, counter_reset| {
            Ok(LockoutPolicy {
                threshold,
                duration: Duration::from_secs(duration),
                counter_reset: Duration::from_secs(counter_reset),
            })
        };
        assert_eq!(policy(&[]), expect(5, 900, 900));
        assert_eq!(policy(&[("lockout_threshold", "3")]), expect(3, 900, 900));
        assert_eq!(policy(&[("lockout_threshold", "0")]), expect(0, 900, 900));
        assert_eq!(
            policy(&[("lockout_duration", "1h"), ("lockout_counter_reset", "30s")]),
            expect(5, 3600, 30)
        );
        assert_eq!(policy(&[("other", "x")]), expect(5, 900, 900));
        assert_eq!(
            policy(&[("lockout_threshold", "-1")]),
            Err(
                "invalid lockout_threshold \"-1\": expected a whole number (0 disables lockout)"
                    .to_owned()
            )
        );
        assert_eq!(
            policy(&[("lockout_duration", "soon")]),
            Err(
                "invalid lockout_duration: invalid duration \"soon\": expected a number".to_owned()
            )
        );
        assert!(policy(&[("lockout_counter_reset", "")]).is_err());
    }

    /// Plays `steps` (second, user, event) against a lockout of threshold 3, 60-second lock and
    /// 30-second window; each step expects whether the user is locked after it.
    fn check(steps: &[(u64, &str, Event, bool)]) {
        let lockout = Lockout::new(
            LockoutPolicy {
                threshold: 3,
                duration: Duration::from_secs(60),
                counter_reset: Duration::from_secs(30),
            },
            100,
        );
        for (index, (secs, user, event, locked)) in steps.iter().enumerate() {
            match event {
                Event::Fail => {
                    lockout.record_failure(user, at(*secs));
                }
                Event::Succeed => lockout.record_success(user),
                Event::Look => {}
            }
            assert_eq!(lockout.is_locked(user, at(*secs)), *locked, "step {index}");
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Event {
        Fail,
        Succeed,
        Look,
    }
    use Event::{Fail, Look, Succeed};

    #[test]
    fn locks_after_the_threshold() {
        check(&[
            (0, "a", Fail, false),
            (1, "a", Fail, false),
            (2, "a", Fail, true),
            (2, "b", Look, false),
            (61, "a", Look, true),
            (62, "a", Look, false),
            // After the lock, the count starts again.
            (63, "a", Fail, false),
            (64, "a", Fail, false),
            (65, "a", Fail, true),
        ]);
    }

    #[test]
    fn the_window_resets_the_count() {
        check(&[
            (0, "a", Fail, false),
            (10, "a", Fail, false),
            // More than 30 seconds since the last failure: this one is the first again.
            (41, "a", Fail, false),
            (42, "a", Fail, false),
            (43, "a", Fail, true),
        ]);
    }

    #[test]
    fn success_resets_the_count() {
        check(&[
            (0, "a", Fail, false),
            (1, "a", Fail, false),
            (2, "a", Succeed, false),
            (3, "a", Fail, false),
            (4, "a", Fail, false),
            (5, "a", Fail, true),
        ]);
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        check(&[
            (0, "a", Fail, false),
            (0, "a", Fail, false),
            (0, "a", Fail, true),
            (59, "a", Fail, true),
            (60, "a", Look, false),
        ]);
    }

    #[test]
    fn a_clock_going_backwards_keeps_the_lock() {
        check(&[
            (100, "a", Fail, false),
            (100, "a", Fail, false),
            (100, "a", Fail, true),
            (50, "a", Look, true),
        ]);
    }

    #[test]
    fn threshold_zero_never_locks() {
        let lockout = Lockout::new(policy(&[("lockout_threshold", "0")]).expect("valid"), 10);
        for n in 0..20 {
            assert!(!lockout.record_failure("a", at(n)));
        }
        assert!(!lockout.is_locked("a", at(20)));
        assert_eq!(lockout.tracked(), 0);
    }

    #[test]
    fn the_map_stays_bounded_and_keeps_locks() {
        let policy = LockoutPolicy {
            threshold: 2,
            duration: Duration::from_secs(600),
            counter_reset: Duration::from_secs(600),
        };
        let lockout = Lockout::new(policy, 4);
        assert!(!lockout.record_failure("victim", at(0)));
        assert!(lockout.record_failure("victim", at(0)));
        for n in 0..100 {
            lockout.record_failure(&format!("spray{n}"), at(1 + n));
            assert!(lockout.tracked() <= 4);
        }
        assert!(
            lockout.is_locked("victim", at(200)),
            "spraying names does not unlock"
        );
        // Once stale, entries make room by themselves.
        lockout.record_failure("late", at(10_000));
        assert_eq!(lockout.tracked(), 1);
    }
}
