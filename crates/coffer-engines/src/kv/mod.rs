//! The key/value secrets engine: its factory, which picks version 1 ([`v1`], unversioned) or
//! version 2 ([`v2`], versioned) from the mount's `options.version`, as Vault does.
//!
//! Mount types: `kv` (and the legacy `generic`) with `version` `"1"`, `"2"` or absent (version 1),
//! plus the aliases `kv-v1` and `kv-v2`, stored as `kv` with the version set. A mount created
//! without a version keeps no option at all, so it shows `options: null` like Vault's.

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_core::engine::{Engine, EngineFactory, MountInfo};
use coffer_core::{Error, Result};

pub mod v1;
pub mod v2;

/// The mount option that selects the KV version.
pub const VERSION_OPTION: &str = "version";

/// Builds KV engines for the mount types `kv`, `kv-v1`, `kv-v2` and `generic`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvFactory;

/// A KV version, as the mount options select it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvVersion {
    /// Unversioned (Vault's passthrough backend).
    V1,
    /// Versioned.
    V2,
}

impl KvVersion {
    /// The version selected by mount options: absent (or empty) means version 1; anything but
    /// `"1"` and `"2"` is refused with Vault's `invalid version` message.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<KvVersion> {
        match options.get(VERSION_OPTION).map(String::as_str) {
            None | Some("" | "1") => Ok(KvVersion::V1),
            Some("2") => Ok(KvVersion::V2),
            Some(other) => Err(Error::invalid(format!("invalid version: {other:?}"))),
        }
    }
}

impl EngineFactory for KvFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["kv", "kv-v1", "kv-v2", "generic"]
    }

    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String> {
        let stored = match kind {
            "kv-v1" => {
                options.insert(VERSION_OPTION.to_owned(), "1".to_owned());
                "kv"
            }
            "kv-v2" => {
                options.insert(VERSION_OPTION.to_owned(), "2".to_owned());
                "kv"
            }
            "kv" | "generic" => {
                KvVersion::from_options(options)?;
                // An empty version means "not set": keep no option, as a plain `kv` mount.
                if options.get(VERSION_OPTION).is_some_and(String::is_empty) {
                    options.remove(VERSION_OPTION);
                }
                kind
            }
            other => {
                return Err(Error::invalid(format!(
                    "the kv engine does not serve the type {other:?}"
                )));
            }
        };
        Ok(stored.to_owned())
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        "key/value secret storage"
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    fn build(&self, mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(match KvVersion::from_options(&mount.options)? {
            KvVersion::V1 => Arc::new(v1::KvV1Engine::new()),
            KvVersion::V2 => Arc::new(v2::KvV2Engine::new(mount)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option pairs as written in a test case.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn options(pairs: Pairs<'_>) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Normalizes `kind` with `given` options; expects the stored type and options, or the error.
    fn check(kind: &str, given: Pairs<'_>, expect: std::result::Result<(&str, Pairs<'_>), &str>) {
        let mut stored = options(given);
        let got = KvFactory
            .normalize(kind, &mut stored)
            .map(|kind| (kind, stored))
            .map_err(|e| e.to_string());
        let expect = expect
            .map(|(kind, pairs)| (kind.to_owned(), options(pairs)))
            .map_err(str::to_owned);
        assert_eq!(got, expect, "{kind:?} with {given:?}");
    }

    #[test]
    fn normalize() {
        check("kv", &[], Ok(("kv", &[])));
        check("kv", &[("version", "1")], Ok(("kv", &[("version", "1")])));
        check("kv", &[("version", "2")], Ok(("kv", &[("version", "2")])));
        check("kv", &[("version", "")], Ok(("kv", &[])));
        check("kv-v2", &[], Ok(("kv", &[("version", "2")])));
        check(
            "kv-v2",
            &[("version", "1")],
            Ok(("kv", &[("version", "2")])),
        );
        check("kv-v1", &[], Ok(("kv", &[("version", "1")])));
        check("generic", &[], Ok(("generic", &[])));
        check(
            "generic",
            &[("version", "2")],
            Ok(("generic", &[("version", "2")])),
        );
        check(
            "kv",
            &[("version", "2"), ("other", "x")],
            Ok(("kv", &[("other", "x"), ("version", "2")])),
        );
        check("kv", &[("version", "3")], Err("invalid version: \"3\""));
        check("kv", &[("version", "v2")], Err("invalid version: \"v2\""));
        check(
            "generic",
            &[("version", "0")],
            Err("invalid version: \"0\""),
        );
        check(
            "transit",
            &[],
            Err("the kv engine does not serve the type \"transit\""),
        );
    }

    #[test]
    fn versions() {
        let version = |pairs: &[(&str, &str)]| {
            KvVersion::from_options(&options(pairs)).map_err(|e| e.to_string())
        };
        assert_eq!(version(&[]), Ok(KvVersion::V1));
        assert_eq!(version(&[("version", "1")]), Ok(KvVersion::V1));
        assert_eq!(version(&[("version", "2")]), Ok(KvVersion::V2));
        assert_eq!(version(&[("other", "2")]), Ok(KvVersion::V1));
        assert_eq!(
            version(&[("version", "10")]),
            Err("invalid version: \"10\"".to_owned())
        );
    }

    #[test]
    fn description_and_kinds() {
        for kind in KvFactory.kinds() {
            assert_eq!(
                KvFactory.default_description(kind),
                "key/value secret storage"
            );
        }
        assert_eq!(KvFactory.kinds(), ["kv", "kv-v1", "kv-v2", "generic"]);
    }
}
