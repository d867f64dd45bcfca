//! Key metadata: `metadata/<key>` (read, write, merge-patch, delete of a key with all its
//! versions), listing of `metadata/<folder>` (with OpenBao's `after`/`limit` pagination and
//! recursive SCAN), and OpenBao's `detailed-metadata/<folder>` listing.

use std::collections::BTreeMap;

use coffer_core::{Error, Reply, Response, Result};
use serde_json::{Map, Value};

use super::config;
use super::data::writable_key;
use super::input::{self, Cas};
use super::keyspace::{Change, Decision, Folder, KeyName, Keyspace};
use super::record::{KeyMetadata, Timestamp};
use super::wire;

/// Custom metadata limits (Vault's).
const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;
const CUSTOM_PREFIX: &str = "custom_metadata validation failed";

/// The warning when a key turns `cas_required` off while the mount requires it.
const CAS_REQUIRED_WARNING: &str =
    "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.";

/// GET `metadata/<key>`.
pub(crate) async fn read(keyspace: &Keyspace<'_>, raw_key: &str) -> Result<Reply> {
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NotFound);
    };
    Ok(match keyspace.metadata(&key).await? {
        Some(meta) => Reply::ok(Response::with_data(wire::key_metadata(&meta))),
        None => Reply::NotFound,
    })
}

/// POST/PUT `metadata/<key>`: sets the settings given (creating the key, without versions, if
/// needed). A body with none of them writes nothing, as in Vault.
pub(crate) async fn write(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let settings = Settings::parse(fields, Mode::Replace)?;
    let key = writable_key(raw_key)?;
    if !settings.any() {
        return Ok(Reply::NoContent);
    }
    settings.validate_custom()?;
    apply(keyspace, &key, settings, now, Mode::Replace).await
}

/// PATCH `metadata/<key>`: merges the settings given into an existing key's (`null` resets a
/// setting; within `custom_metadata`, `null` removes that entry).
pub(crate) async fn patch(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let settings = Settings::parse(fields, Mode::Merge)?;
    if raw_key.is_empty() {
        return Err(Error::invalid("missing path"));
    }
    settings.validate_custom()?;
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NotFoundEmpty);
    };
    apply(keyspace, &key, settings, now, Mode::Merge).await
}

/// DELETE `metadata/<key>`: removes the key, every version's value and its metadata.
pub(crate) async fn delete(keyspace: &Keyspace<'_>, raw_key: &str) -> Result<Reply> {
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NoContent);
    };
    keyspace
        .update(&key, |meta| {
            Ok(match meta {
                Some(_) => Decision::Apply(Change::Remove, Reply::NoContent),
                None => Decision::Keep(Reply::NoContent),
            })
        })
        .await
}

/// LIST `metadata/<folder>[?after=..&limit=..]`: `{"keys": [...]}`, sorted, subfolders ending
/// with `/`; a 404 when there is nothing.
pub(crate) async fn list(
    keyspace: &Keyspace<'_>,
    raw_folder: &str,
    fields: &Map<String, Value>,
) -> Result<Reply> {
    let folder = Folder::parse(raw_folder);
    let names = page(keyspace.children(&folder).await?, fields)?;
    if names.is_empty() {
        return Ok(Reply::NotFound);
    }
    Ok(Reply::ok(Response::with_data(wire::keys(names))))
}

/// LIST `detailed-metadata/<folder>`: the listing plus `key_info` with each key's metadata.
pub(crate) async fn detailed_list(
    keyspace: &Keyspace<'_>,
    raw_folder: &str,
    fields: &Map<String, Value>,
) -> Result<Reply> {
    let folder = Folder::parse(raw_folder);
    let names = page(keyspace.children(&folder).await?, fields)?;
    if names.is_empty() {
        return Ok(Reply::NotFound);
    }
    let mut key_info = Map::new();
    for name in &names {
        let Some(key) = KeyName::parse(&folder.child(name)) else {
            continue;
        };
        if let Some(meta) = keyspace.metadata(&key).await? {
            key_info.insert(name.clone(), Value::Object(wire::key_metadata(&meta)));
        }
    }
    let mut data = wire::keys(names);
    data.insert("key_info".to_owned(), Value::Object(key_info));
    Ok(Reply::ok(Response::with_data(data)))
}

/// SCAN `metadata/<folder>`: every key below the folder, recursively, relative to it.
pub(crate) async fn scan(keyspace: &Keyspace<'_>, raw_folder: &str) -> Result<Reply> {
    let mut keys = Vec::new();
    let mut pending = vec![(Folder::parse(raw_folder), String::new())];
    while let Some((folder, relative)) = pending.pop() {
        for name in keyspace.children(&folder).await? {
            let path = format!("{relative}{name}");
            if name.ends_with('/') {
                pending.push((Folder::parse(&folder.child(&name)), path));
            } else {
                keys.push(path);
            }
        }
    }
    if keys.is_empty() {
        return Ok(Reply::NotFound);
    }
    keys.sort();
    Ok(Reply::ok(Response::with_data(wire::keys(keys))))
}

/// How a metadata request treats the settings it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// POST/PUT: `custom_metadata` replaces the whole map; `null` means "not given".
    Replace,
    /// PATCH: `custom_metadata` merges; `null` resets a setting.
    Merge,
}

/// One setting in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Setting<T> {
    Keep,
    Reset,
    Set(T),
}

impl<T: Default> Setting<T> {
    fn given(&self) -> bool {
        !matches!(self, Setting::Keep)
    }

    fn apply_to(self, slot: &mut T) {
        match self {
            Setting::Keep => {}
            Setting::Reset => *slot = T::default(),
            Setting::Set(value) => *slot = value,
        }
    }
}

/// The settings of a metadata write or patch, parsed.
#[derive(Debug)]
struct Settings {
    max_versions: Setting<u32>,
    cas_required: Setting<bool>,
    metadata_cas_required: Setting<bool>,
    delete_version_after: Setting<u64>,
    /// Entries to set (`Some`) or remove (`None`, patch only).
    custom_metadata: Setting<Vec<(String, Option<String>)>>,
    cas: Cas,
}

impl Settings {
    fn parse(fields: &Map<String, Value>, mode: Mode) -> Result<Settings> {
        fn setting<T>(reset: bool, value: Option<T>) -> Setting<T> {
            match value {
                _ if reset => Setting::Reset,
                Some(value) => Setting::Set(value),
                None => Setting::Keep,
            }
        }
        let reset = |name: &str| mode == Mode::Merge && fields.get(name) == Some(&Value::Null);
        let max_versions = input::int(fields, "max_versions")?
            .map(config::max_versions)
            .transpose()?;
        let delete_version_after = input::duration_secs(fields, "delete_version_after", false)?
            .map(|secs| u64::try_from(secs).unwrap_or(0));
        let custom = input::object(fields, "custom_metadata")?
            .map(|raw| input::string_map(&raw, mode == Mode::Merge))
            .transpose()
            .map_err(|reason| Error::invalid(format!("{CUSTOM_PREFIX}: {reason}")))?;
        Ok(Settings {
            max_versions: setting(reset("max_versions"), max_versions),
            cas_required: setting(
                reset("cas_required"),
                input::boolean(fields, "cas_required")?,
            ),
            metadata_cas_required: setting(
                reset("metadata_cas_required"),
                input::boolean(fields, "metadata_cas_required")?,
            ),
            delete_version_after: setting(reset("delete_version_after"), delete_version_after),
            custom_metadata: setting(reset("custom_metadata"), custom),
            cas: Cas::read(Some(fields), "cas"),
        })
    }

    /// Whether the request sets anything at all.
    fn any(&self) -> bool {
        self.max_versions.given()
            || self.cas_required.given()
            || self.metadata_cas_required.given()
            || self.delete_version_after.given()
            || self.custom_metadata.given()
    }

    /// Vault's limits on the custom metadata given (entries being removed do not count).
    fn validate_custom(&self) -> Result<()> {
        let Setting::Set(entries) = &self.custom_metadata else {
            return Ok(());
        };
        let given: Vec<(&str, &str)> = entries
            .iter()
            .filter_map(|(key, value)| value.as_deref().map(|value| (key.as_str(), value)))
            .collect();
        if given.len() > MAX_CUSTOM_KEYS {
            return Err(Error::invalid(multierror(&[format!(
                "{CUSTOM_PREFIX}: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
                given.len()
            )])));
        }
        let mut problems = Vec::new();
        for (key, value) in given {
            let quoted = input::quote(key);
            if key.is_empty() || key.len() > MAX_CUSTOM_KEY_LEN {
                problems.push(format!(
                    "{CUSTOM_PREFIX}: length of key {quoted} is {} but must be 0 < len(key) <= {MAX_CUSTOM_KEY_LEN}",
                    key.len()
                ));
            }
            if value.is_empty() || value.len() > MAX_CUSTOM_VALUE_LEN {
                problems.push(format!(
                    "{CUSTOM_PREFIX}: length of value for key {quoted} is {} but must be 0 < len(value) <= {MAX_CUSTOM_VALUE_LEN}",
                    value.len()
                ));
            }
            if !printable(key) {
                problems.push(format!(
                    "{CUSTOM_PREFIX}: key {quoted} ({key}) contains unprintable characters"
                ));
            }
            if !printable(value) {
                problems.push(format!(
                    "{CUSTOM_PREFIX}: value for key {quoted} contains unprintable characters"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(multierror(&problems)))
        }
    }
}

/// Writes `settings` into the key's metadata under the metadata check-and-set rules.
async fn apply(
    keyspace: &Keyspace<'_>,
    key: &KeyName,
    settings: Settings,
    now: Timestamp,
    mode: Mode,
) -> Result<Reply> {
    let config = config::load(keyspace.view()).await?;
    let warnings = if config.cas_required && settings.cas_required == Setting::Set(false) {
        vec![CAS_REQUIRED_WARNING.to_owned()]
    } else {
        Vec::new()
    };
    let reply = if warnings.is_empty() {
        Reply::NoContent
    } else {
        Reply::ok(Response {
            warnings,
            ..Response::default()
        })
    };
    let Settings {
        max_versions,
        cas_required,
        metadata_cas_required,
        delete_version_after,
        custom_metadata,
        cas,
    } = settings;
    keyspace
        .update(key, |meta| {
            let mut meta = match (meta, mode) {
                (Some(meta), _) => meta,
                (None, Mode::Replace) => KeyMetadata::new(key.as_str(), now),
                (None, Mode::Merge) => return Ok(Decision::Keep(Reply::NotFoundEmpty)),
            };
            cas.check(
                meta.current_metadata_version,
                config.metadata_cas_required || meta.metadata_cas_required,
            )?;
            max_versions.clone().apply_to(&mut meta.max_versions);
            cas_required.clone().apply_to(&mut meta.cas_required);
            metadata_cas_required
                .clone()
                .apply_to(&mut meta.metadata_cas_required);
            delete_version_after
                .clone()
                .apply_to(&mut meta.delete_version_after);
            match (&custom_metadata, mode) {
                (Setting::Keep, _) => {}
                (Setting::Reset, _) => meta.custom_metadata.clear(),
                (Setting::Set(entries), Mode::Replace) => {
                    meta.custom_metadata = entries
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
                        .collect::<BTreeMap<_, _>>();
                }
                (Setting::Set(entries), Mode::Merge) => {
                    for (k, v) in entries {
                        match v {
                            Some(v) => {
                                meta.custom_metadata.insert(k.clone(), v.clone());
                            }
                            None => {
                                meta.custom_metadata.remove(k);
                            }
                        }
                    }
                }
            }
            meta.current_metadata_version = meta.current_metadata_version.saturating_add(1);
            let ops = Vec::new();
            Ok(Decision::Apply(Change::Write { meta, ops }, reply.clone()))
        })
        .await
}

/// Applies OpenBao's `after` (strictly after that name) and `limit` (when positive).
fn page(names: Vec<String>, fields: &Map<String, Value>) -> Result<Vec<String>> {
    let after = input::string(fields, "after")?.unwrap_or_default();
    let limit = input::int(fields, "limit")?.unwrap_or(0);
    let names = names
        .into_iter()
        .filter(|name| after.is_empty() || name.as_str() > after.as_str());
    Ok(match usize::try_from(limit) {
        Ok(limit) if limit > 0 => names.take(limit).collect(),
        _ => names.collect(),
    })
}

/// Go's `unicode.IsPrint` for every character, near enough: no control characters.
fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// A Go multierror's text.
fn multierror(problems: &[String]) -> String {
    let mut text = match problems.len() {
        1 => "1 error occurred:\n".to_owned(),
        n => format!("{n} errors occurred:\n"),
    };
    for problem in problems {
        text.push_str(&format!("\t* {problem}\n"));
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("test fields must be an object, not {other}"),
        }
    }

    #[test]
    fn pages() {
        let names = || vec!["one".to_owned(), "sub/".to_owned(), "two".to_owned()];
        let check = |query: Value, expect: &[&str]| {
            assert_eq!(
                page(names(), &fields(query.clone())).ok(),
                Some(expect.iter().map(|s| (*s).to_owned()).collect()),
                "{query}"
            );
        };
        check(json!({}), &["one", "sub/", "two"]);
        check(json!({"limit": "1"}), &["one"]);
        check(json!({"after": "one"}), &["sub/", "two"]);
        check(json!({"after": "one", "limit": 1}), &["sub/"]);
        check(json!({"limit": 0}), &["one", "sub/", "two"]);
        check(json!({"limit": -3}), &["one", "sub/", "two"]);
        check(json!({"after": "zzz"}), &[]);
    }

    fn validation(custom: Value) -> Option<String> {
        let settings =
            Settings::parse(&fields(json!({ "custom_metadata": custom })), Mode::Replace)
                .expect("the test's custom metadata parses");
        match settings.validate_custom() {
            Ok(()) => None,
            Err(Error::InvalidRequest(message)) => Some(message),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn custom_metadata_limits() {
        assert_eq!(validation(json!({"owner": "team-a", "tier": 1})), None);
        assert_eq!(
            validation(json!({"owner": ""})),
            Some("1 error occurred:\n\t* custom_metadata validation failed: length of value for key \"owner\" is 0 but must be 0 < len(value) <= 512\n\n".to_owned())
        );
        assert_eq!(
            validation(json!({"bad\u{7}": "x\u{1}"})),
            Some("2 errors occurred:\n\t* custom_metadata validation failed: key \"bad\\u{7}\" (bad\u{7}) contains unprintable characters\n\t* custom_metadata validation failed: value for key \"bad\\u{7}\" contains unprintable characters\n\n".to_owned())
        );
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            validation(Value::Object(many)),
            Some("1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided 65\n\n".to_owned())
        );
        let long = "x".repeat(129);
        assert!(
            validation(json!({ long: "v" }))
                .is_some_and(|m| m.contains("is 129 but must be 0 < len(key) <= 128"))
        );
    }

    #[test]
    fn settings_given() {
        let parse = |value: Value, mode| Settings::parse(&fields(value), mode).expect("parses");
        assert!(!parse(json!({}), Mode::Replace).any());
        assert!(!parse(json!({"cas": 1, "other": 2}), Mode::Replace).any());
        assert!(!parse(json!({"max_versions": null}), Mode::Replace).any());
        assert!(parse(json!({"max_versions": null}), Mode::Merge).any());
        assert!(parse(json!({"custom_metadata": {}}), Mode::Replace).any());
        let settings = parse(
            json!({"max_versions": "5", "cas_required": "true", "delete_version_after": "1h"}),
            Mode::Replace,
        );
        assert_eq!(settings.max_versions, Setting::Set(5));
        assert_eq!(settings.cas_required, Setting::Set(true));
        assert_eq!(settings.delete_version_after, Setting::Set(3600));
    }
}
