//! Logical backends behind `coffer_core::engine::Engine`: the secrets engines KV version 1 and 2,
//! the per-token cubbyhole, the typed credentials engine and the database engine (dynamic and
//! static database users), and the auth methods userpass (people) and approle (agents and
//! CI), whose logins hand the core a `LoginGrant`. Each engine sees only its mount's storage view
//! and the request relative to its mount; it knows nothing of HTTP, tokens' contents or other
//! mounts.
//!
//! Engines fail with `coffer_core::Error`, the error type of the `Engine` trait they implement;
//! this crate adds no error type of its own.

use std::sync::Arc;

use coffer_core::engine::EngineFactory;

pub mod approle;
mod auth;
pub mod credentials;
pub mod cubbyhole;
pub mod database;
pub mod kv;
pub mod userpass;

/// The factories of every engine this crate provides, for the core's registry.
pub fn factories() -> Vec<Arc<dyn EngineFactory>> {
    vec![
        Arc::new(kv::KvFactory),
        Arc::new(cubbyhole::CubbyholeFactory),
        Arc::new(credentials::CredentialsFactory),
        Arc::new(database::DatabaseFactory),
        Arc::new(userpass::UserpassFactory),
        Arc::new(approle::ApproleFactory),
    ]
}

/// `normalize` for an engine that takes no mount options: any option but an empty `version`
/// is refused, naming it.
pub(crate) fn no_mount_options(
    kind: &str,
    options: &std::collections::BTreeMap<String, String>,
) -> coffer_core::Result<String> {
    use coffer_core::Error;
    if let Some(option) = options.keys().find(|k| k.as_str() != "version") {
        return Err(Error::invalid(format!(
            "secrets engine {kind:?} has no option {option:?}"
        )));
    }
    if options.get("version").is_some_and(|v| !v.is_empty()) {
        return Err(Error::invalid(format!(
            "secrets engine {kind:?} does not allow setting a version"
        )));
    }
    Ok(kind.to_owned())
}

/// Maps a storage view's error to the core's: a sealed barrier is [`coffer_core::Error::Sealed`]
/// and a failed transaction expectation is [`coffer_core::Error::Conflict`] (the caller retries
/// first, if it can); anything else stays a barrier error.
pub(crate) fn barrier_error(error: coffer_barrier::Error) -> coffer_core::Error {
    match error {
        coffer_barrier::Error::Sealed => coffer_core::Error::Sealed,
        coffer_barrier::Error::Conflict { .. } => coffer_core::Error::Conflict,
        other => coffer_core::Error::Barrier(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_errors_map_to_core_errors() {
        fn check(error: coffer_barrier::Error, expect: &str) {
            assert_eq!(format!("{:?}", barrier_error(error)), expect);
        }
        check(coffer_barrier::Error::Sealed, "Sealed");
        check(
            coffer_barrier::Error::Conflict {
                path: "kv1/x".to_owned(),
            },
            "Conflict",
        );
        check(coffer_barrier::Error::Random, "Barrier(Random)");
    }

    #[test]
    fn factories_cover_every_kind_once() {
        let mut kinds: Vec<&str> = factories()
            .iter()
            .flat_map(|f| f.kinds())
            .copied()
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                "approle",
                "credentials",
                "cubbyhole",
                "database",
                "generic",
                "kv",
                "kv-v1",
                "kv-v2",
                "userpass"
            ]
        );
    }
}
