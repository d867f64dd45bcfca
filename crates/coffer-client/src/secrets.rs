//! v-secure style named secrets on a KV v2 mount (`secret/` by default), as issue #7's design
//! fixes the mapping: a secret `NAME` with environment `ENV` is the KV v2 secret `ENV/NAME`
//! (`NAME` without one), its value is the data `{"value": ...}`, and its tags, caller metadata,
//! expiry and rotation policy are `custom_metadata` (`coffer:*` keys for Coffer's own). An
//! expiry also sets `delete_version_after`, so the server itself stops serving old versions.

use std::collections::{BTreeMap, BTreeSet};

use coffer_api::credentials::SecretString;
use serde_json::{Map, Value, json};

use crate::{Client, Error, Result};

/// The environments recognised among a secret's tags.
pub const ENVIRONMENT_TAGS: [&str; 6] = [
    "production",
    "staging",
    "development",
    "prod",
    "dev",
    "test",
];
/// `custom_metadata` key of the comma-joined tags.
pub const TAGS_KEY: &str = "coffer:tags";
/// `custom_metadata` key of the expiry as given (e.g. `30d`).
pub const EXPIRES_KEY: &str = "coffer:expires-in";
/// `custom_metadata` key of the rotation period.
pub const ROTATION_PERIOD_KEY: &str = "coffer:rotation-period";
/// `custom_metadata` key of the rotation notice period.
pub const ROTATION_NOTIFY_KEY: &str = "coffer:rotation-notify-before";
/// `custom_metadata` key of whether rotation is enabled.
pub const ROTATION_ENABLED_KEY: &str = "coffer:rotation-enabled";
/// `custom_metadata` key of a generated secret's size in bytes.
pub const GENERATE_KEY: &str = "coffer:generate";
/// Prefix of every key Coffer keeps for itself in `custom_metadata`.
pub const RESERVED_PREFIX: &str = "coffer:";
/// The data key holding a secret's value.
pub const VALUE_KEY: &str = "value";
/// The largest `--generate` size, in bytes.
pub const MAX_GENERATE_BYTES: usize = 1024;

/// A rotation policy: how often a secret should be rotated and when to warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Whether rotation is on.
    pub enabled: bool,
    /// Rotation period, e.g. `30d`.
    pub period: String,
    /// How long before the deadline to notify, e.g. `7d`.
    pub notify_before: Option<String>,
}

/// What to create, or what to change on update (empty/`None` fields are left as they are on
/// update).
#[derive(Debug, Clone, Default)]
pub struct SecretSpec {
    /// The secret's name, `[A-Za-z0-9._-]{1,128}`.
    pub name: String,
    /// The value; on create required unless `generate` is set, on update optional.
    pub value: Option<SecretString>,
    /// Tags, `[a-z0-9][a-z0-9_.-]{0,63}`; an environment tag places the secret under it.
    pub tags: Vec<String>,
    /// Caller metadata (keys must not start with `coffer:`).
    pub metadata: BTreeMap<String, String>,
    /// Expiry of each version, e.g. `30d`.
    pub expires_in: Option<String>,
    /// Rotation policy.
    pub rotation: Option<RotationPolicy>,
    /// Generate a random value of this many bytes (base64url) when no value is given.
    pub generate: Option<usize>,
    /// Environment; when `None`, the environment tag among `tags`, if any.
    pub env: Option<String>,
}

/// A secret as read: one version's data and the secret's metadata.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The name.
    pub name: String,
    /// The environment it lives under, if any.
    pub env: Option<String>,
    /// Its KV path inside the mount (`ENV/NAME` or `NAME`).
    pub path: String,
    /// The version read.
    pub version: u64,
    /// The `value` key of the data, if present.
    pub value: Option<SecretString>,
    /// Every key of the data (a secret written by the Vault API may hold several).
    pub data: BTreeMap<String, SecretString>,
    /// Tags.
    pub tags: Vec<String>,
    /// Caller metadata (without Coffer's `coffer:` keys).
    pub metadata: BTreeMap<String, String>,
    /// Expiry as given at creation or update.
    pub expires_in: Option<String>,
    /// Rotation policy, if one is set.
    pub rotation: Option<RotationPolicy>,
    /// Generated size in bytes, if the secret is self-generated.
    pub generate: Option<usize>,
    /// When the version was written (RFC 3339).
    pub created_time: String,
    /// When the version stops being served (RFC 3339), if it does.
    pub deletion_time: Option<String>,
}

/// One version of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// Version number.
    pub version: u64,
    /// When it was written.
    pub created_time: String,
    /// When it was (or will be) deleted, if ever.
    pub deletion_time: Option<String>,
    /// Whether its data was destroyed.
    pub destroyed: bool,
    /// Whether it is the current version.
    pub current: bool,
}

/// A secret in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSummary {
    /// The name.
    pub name: String,
    /// The environment, if any.
    pub env: Option<String>,
    /// KV path inside the mount.
    pub path: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Caller metadata.
    pub metadata: BTreeMap<String, String>,
    /// Expiry, if set.
    pub expires_in: Option<String>,
    /// Current version.
    pub current_version: u64,
}

/// Which secrets [`SecretsApi::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct SecretFilter {
    /// Every one of these tags must be present.
    pub tags: Vec<String>,
    /// Only this environment.
    pub env: Option<String>,
}

/// Named secrets on one KV v2 mount; from [`Client::secrets`] or [`Client::secrets_at`].
#[derive(Debug, Clone)]
pub struct SecretsApi<'a> {
    client: &'a Client,
    mount: String,
}

impl Client {
    /// Named secrets on the default mount, `secret/`.
    pub fn secrets(&self) -> SecretsApi<'_> {
        self.secrets_at("secret")
    }

    /// Named secrets on the KV v2 mount `mount`.
    pub fn secrets_at(&self, mount: &str) -> SecretsApi<'_> {
        SecretsApi {
            client: self,
            mount: mount.trim_matches('/').to_owned(),
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// Checks a secret name: `[A-Za-z0-9._-]{1,128}`, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid secret name {name:?}: use 1 to 128 of A-Z a-z 0-9 . _ -"
        )))
    }
}

/// Checks a tag (or environment): `[a-z0-9][a-z0-9_.-]{0,63}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid tag {tag:?}: a tag is 1 to 64 of a-z 0-9 _ . - starting with a letter or digit"
        )))
    }
}

/// Splits and checks a comma-separated tag list (`production,api`): sorted, unique.
pub fn parse_tags(list: &str) -> Result<Vec<String>> {
    let mut tags = BTreeSet::new();
    for tag in list.split(',') {
        let tag = tag.trim();
        validate_tag(tag)?;
        tags.insert(tag.to_owned());
    }
    Ok(tags.into_iter().collect())
}

/// Parses a duration such as `30d`, `90d`, `1h`, `1h30m`, `45s` or `2w` into seconds; refuses
/// anything else (`1x`, `0s`, an empty string).
pub fn parse_duration(text: &str) -> Result<u64> {
    let bad = || {
        invalid(format!(
            "invalid duration {text:?}: use a number with a unit s, m, h, d or w (e.g. 30d, 1h30m)"
        ))
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        digits.clear();
        parts += 1;
    }
    if parts == 0 || !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

/// Parses `key=value` caller metadata, refusing empty keys and Coffer's reserved `coffer:` keys.
pub fn parse_metadata(pair: &str) -> Result<(String, String)> {
    let Some((key, value)) = pair.split_once('=') else {
        return Err(invalid(format!("invalid metadata {pair:?}: use key=value")));
    };
    let key = key.trim();
    if key.is_empty() || key.len() > 128 {
        return Err(invalid(format!(
            "invalid metadata key {key:?}: it must have 1 to 128 characters"
        )));
    }
    if key.starts_with(RESERVED_PREFIX) {
        return Err(invalid(format!(
            "invalid metadata key {key:?}: keys starting with {RESERVED_PREFIX:?} are Coffer's"
        )));
    }
    if value.len() > 512 {
        return Err(invalid(format!(
            "metadata value of {key:?} is longer than 512 characters"
        )));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The environment of a spec: `env` if given, else the one environment tag among `tags`.
pub fn environment_of(env: Option<&str>, tags: &[String]) -> Result<Option<String>> {
    if let Some(env) = env {
        validate_tag(env).map_err(|_| {
            invalid(format!(
                "invalid environment {env:?}: use 1 to 64 of a-z 0-9 _ . -"
            ))
        })?;
        return Ok(Some(env.to_owned()));
    }
    let found: Vec<&String> = tags
        .iter()
        .filter(|t| ENVIRONMENT_TAGS.contains(&t.as_str()))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(invalid(format!(
            "several environment tags ({}): keep one, or choose with --env",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The KV path of `name` in environment `env`.
pub fn secret_path(name: &str, env: Option<&str>) -> String {
    match env {
        Some(env) => format!("{env}/{name}"),
        None => name.to_owned(),
    }
}

/// The SHA-256 fingerprint of a value: its first 12 hex digits.
pub fn fingerprint(value: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random value of `bytes` bytes, base64url without padding.
pub fn generate_value(bytes: usize) -> Result<SecretString> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    if bytes == 0 || bytes > MAX_GENERATE_BYTES {
        return Err(invalid(format!(
            "invalid --generate size {bytes}: use 1 to {MAX_GENERATE_BYTES} bytes"
        )));
    }
    let mut buf = zeroize::Zeroizing::new(vec![0u8; bytes]);
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Config("no system randomness".into()))?;
    Ok(SecretString::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*buf),
    ))
}

/// Validated spec pieces: the custom metadata Coffer writes and the expiry in seconds.
fn spec_metadata(spec: &SecretSpec) -> Result<(BTreeMap<String, String>, Option<u64>)> {
    let mut custom = BTreeMap::new();
    for (key, value) in &spec.metadata {
        let (key, value) = parse_metadata(&format!("{key}={value}"))?;
        custom.insert(key, value);
    }
    let mut tags = BTreeSet::new();
    for tag in &spec.tags {
        validate_tag(tag)?;
        tags.insert(tag.clone());
    }
    if !tags.is_empty() {
        custom.insert(
            TAGS_KEY.into(),
            tags.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    let mut expiry = None;
    if let Some(expires) = &spec.expires_in {
        expiry = Some(parse_duration(expires)?);
        custom.insert(EXPIRES_KEY.into(), expires.trim().to_owned());
    }
    if let Some(rotation) = &spec.rotation {
        parse_duration(&rotation.period)?;
        custom.insert(
            ROTATION_PERIOD_KEY.into(),
            rotation.period.trim().to_owned(),
        );
        if let Some(notify) = &rotation.notify_before {
            let before = parse_duration(notify)?;
            if before >= parse_duration(&rotation.period)? {
                return Err(invalid(format!(
                    "notify-before {notify:?} must be shorter than the rotation period {:?}",
                    rotation.period
                )));
            }
            custom.insert(ROTATION_NOTIFY_KEY.into(), notify.trim().to_owned());
        }
        custom.insert(ROTATION_ENABLED_KEY.into(), rotation.enabled.to_string());
    }
    if let Some(bytes) = spec.generate {
        if bytes == 0 || bytes > MAX_GENERATE_BYTES {
            return Err(invalid(format!(
                "invalid --generate size {bytes}: use 1 to {MAX_GENERATE_BYTES} bytes"
            )));
        }
        custom.insert(GENERATE_KEY.into(), bytes.to_string());
    }
    Ok((custom, expiry))
}

/// Coffer's reading of `custom_metadata`.
struct Decoded {
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
    expires_in: Option<String>,
    rotation: Option<RotationPolicy>,
    generate: Option<usize>,
}

fn decode_custom(custom: &BTreeMap<String, String>) -> Decoded {
    let tags = custom
        .get(TAGS_KEY)
        .map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let metadata = custom
        .iter()
        .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rotation = custom
        .get(ROTATION_PERIOD_KEY)
        .map(|period| RotationPolicy {
            enabled: custom.get(ROTATION_ENABLED_KEY).map(String::as_str) != Some("false"),
            period: period.clone(),
            notify_before: custom.get(ROTATION_NOTIFY_KEY).cloned(),
        });
    Decoded {
        tags,
        metadata,
        expires_in: custom.get(EXPIRES_KEY).cloned(),
        rotation,
        generate: custom.get(GENERATE_KEY).and_then(|g| g.parse().ok()),
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn optional_time(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Splits a KV path back into name and environment.
fn split_path(path: &str) -> (String, Option<String>) {
    match path.rsplit_once('/') {
        Some((env, name)) => (name.to_owned(), Some(env.to_owned())),
        None => (path.to_owned(), None),
    }
}

/// The raw metadata of a KV v2 secret.
struct Metadata {
    current_version: u64,
    custom: BTreeMap<String, String>,
    versions: Vec<SecretVersion>,
}

impl SecretsApi<'_> {
    /// The mount this API works on.
    pub fn mount(&self) -> &str {
        &self.mount
    }

    fn data_path(&self, path: &str) -> String {
        format!("{}/data/{path}", self.mount)
    }

    fn metadata_path(&self, path: &str) -> String {
        format!("{}/metadata/{path}", self.mount)
    }

    async fn metadata(&self, path: &str) -> Result<Option<Metadata>> {
        let api_path = self.metadata_path(path);
        let reply = self.client.send("GET", &api_path, &[], None, None).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        let data = reply
            .body
            .as_ref()
            .and_then(|b| b.get("data"))
            .cloned()
            .unwrap_or(Value::Null);
        let current_version = data
            .get("current_version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut versions: Vec<SecretVersion> = data
            .get("versions")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let version: u64 = k.parse().ok()?;
                        Some(SecretVersion {
                            version,
                            created_time: optional_time(v.get("created_time")).unwrap_or_default(),
                            deletion_time: optional_time(v.get("deletion_time")),
                            destroyed: v.get("destroyed").and_then(Value::as_bool) == Some(true),
                            current: version == current_version,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.sort_by_key(|v| v.version);
        Ok(Some(Metadata {
            current_version,
            custom: string_map(data.get("custom_metadata")),
            versions,
        }))
    }

    /// Where `name` may live when no environment is given: from one listing of the mount's
    /// top level, `name` if it is there and `<folder>/name` for every folder; when the token
    /// may not list, `name` and `<env>/name` for the known environment names.
    async fn candidates(&self, names: &[&str]) -> Result<Vec<(usize, String)>> {
        let path = format!("{}/metadata/", self.mount);
        let (top, folders): (BTreeSet<String>, Vec<String>) =
            match self.client.send("LIST", &path, &[], None, None).await {
                Ok(reply) => {
                    let keys: Vec<String> = reply
                        .body
                        .as_ref()
                        .and_then(|b| b.pointer("/data/keys"))
                        .and_then(Value::as_array)
                        .map(|k| {
                            k.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    let folders = keys
                        .iter()
                        .filter_map(|k| k.strip_suffix('/'))
                        .filter(|f| validate_tag(f).is_ok())
                        .map(str::to_owned)
                        .collect();
                    (keys.into_iter().collect(), folders)
                }
                Err(Error::Api { status: 403, .. }) => (
                    names.iter().map(|n| (*n).to_owned()).collect(),
                    ENVIRONMENT_TAGS.iter().map(|s| (*s).to_owned()).collect(),
                ),
                Err(e) => return Err(e),
            };
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if top.contains(*name) {
                out.push((i, (*name).to_owned()));
            }
            out.extend(folders.iter().map(|f| (i, secret_path(name, Some(f)))));
        }
        Ok(out)
    }

    /// One `sys/batch/read` of data paths: per path, its status and data.
    async fn batch(&self, paths: &[String]) -> Result<Vec<(u16, Option<Value>)>> {
        let body = json!({
            "paths": paths.iter().map(|p| self.data_path(p)).collect::<Vec<_>>()
        });
        let reply = self
            .client
            .send("POST", "sys/batch/read", &[], Some(&body), None)
            .await?;
        let decode = |reason: &str| Error::Decode {
            url: format!("{}/v1/sys/batch/read", self.client.address()),
            reason: reason.to_owned(),
        };
        let responses = reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/data/responses"))
            .and_then(Value::as_array)
            .ok_or_else(|| decode("no data.responses"))?;
        if responses.len() != paths.len() {
            return Err(decode("one response per path expected"));
        }
        Ok(responses
            .iter()
            .map(|r| {
                let status = r
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500);
                (status, r.get("data").cloned())
            })
            .collect())
    }

    /// The KV path of `name`: `env/name` with an environment; without one, whichever of
    /// `name` and `<env>/name` exists (an error naming the environments when several do).
    pub async fn resolve(&self, name: &str, env: Option<&str>) -> Result<String> {
        validate_name(name)?;
        if let Some(env) = env {
            let env = environment_of(Some(env), &[])?;
            return Ok(secret_path(name, env.as_deref()));
        }
        let candidates: Vec<String> = self
            .candidates(&[name])
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let found = self.existing(name, &candidates).await?;
        self.choose(name, found)
    }

    /// The candidates that exist (readable now, or with metadata showing deleted versions);
    /// when none does and some could not be read for lack of permission, that 403.
    async fn existing(&self, name: &str, candidates: &[String]) -> Result<Vec<String>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self.batch(candidates).await?;
        let denied = replies.iter().any(|(status, _)| *status == 403);
        let found: Vec<String> = candidates
            .iter()
            .zip(replies)
            .filter(|(_, (status, data))| *status == 200 || (*status == 404 && data.is_some()))
            .map(|(p, _)| p.clone())
            .collect();
        if found.is_empty() && denied {
            return Err(self.denied(name));
        }
        Ok(found)
    }

    fn denied(&self, name: &str) -> Error {
        Error::Api {
            method: "POST".into(),
            url: format!("{}/v1/sys/batch/read", self.client.address()),
            status: 403,
            errors: vec![format!("permission denied reading secret {name}")],
        }
    }

    fn choose(&self, name: &str, found: Vec<String>) -> Result<String> {
        match found.as_slice() {
            [] => Err(Error::SecretNotFound {
                name: name.to_owned(),
            }),
            [one] => Ok(one.clone()),
            many => Err(Error::AmbiguousSecret {
                name: name.to_owned(),
                environments: many
                    .iter()
                    .map(|p| split_path(p).1.unwrap_or_else(|| "(none)".into()))
                    .collect(),
            }),
        }
    }

    /// Reads `name` (the current version, or `version`); an error when it does not exist, or
    /// when that version is deleted or expired.
    pub async fn get(&self, name: &str, env: Option<&str>, version: Option<u64>) -> Result<Secret> {
        let path = self.resolve(name, env).await?;
        self.read_path(name, &path, version).await
    }

    /// Reads the secret at KV path `path` (current version, or `version`).
    async fn read_path(&self, name: &str, path: &str, version: Option<u64>) -> Result<Secret> {
        let api_path = self.data_path(path);
        let version_text = version.map(|v| v.to_string());
        let query: Vec<(&str, &str)> = version_text
            .as_deref()
            .map(|v| vec![("version", v)])
            .unwrap_or_default();
        let reply = self
            .client
            .send("GET", &api_path, &query, None, None)
            .await?;
        let data = reply
            .body
            .as_ref()
            .and_then(|b| b.get("data"))
            .cloned()
            .unwrap_or(Value::Null);
        let values = data.get("data").and_then(Value::as_object);
        let meta = data.get("metadata").cloned().unwrap_or(Value::Null);
        let Some(values) = values.filter(|_| reply.status == 200) else {
            if reply.status == 404 && !meta.is_null() {
                return Err(Error::SecretUnavailable {
                    name: name.to_owned(),
                    version: meta.get("version").and_then(Value::as_u64).unwrap_or(0),
                    reason: if meta.get("destroyed").and_then(Value::as_bool) == Some(true) {
                        "destroyed".into()
                    } else {
                        match optional_time(meta.get("deletion_time")) {
                            Some(t) => format!("deleted or expired at {t}"),
                            None => "deleted".into(),
                        }
                    },
                });
            }
            return Err(match version {
                Some(v) => Error::SecretUnavailable {
                    name: name.to_owned(),
                    version: v,
                    reason: "no such version".into(),
                },
                None => Error::SecretNotFound {
                    name: name.to_owned(),
                },
            });
        };
        let data: BTreeMap<String, SecretString> = values
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), SecretString::new(text))
            })
            .collect();
        let decoded = decode_custom(&string_map(meta.get("custom_metadata")));
        let (name, env) = split_path(path);
        Ok(Secret {
            name,
            env,
            version: meta.get("version").and_then(Value::as_u64).unwrap_or(0),
            value: data.get(VALUE_KEY).cloned(),
            data,
            tags: decoded.tags,
            metadata: decoded.metadata,
            expires_in: decoded.expires_in,
            rotation: decoded.rotation,
            generate: decoded.generate,
            created_time: optional_time(meta.get("created_time")).unwrap_or_default(),
            deletion_time: optional_time(meta.get("deletion_time")),
            path: path.to_owned(),
        })
    }

    /// The values of several secrets in one `sys/batch/read` (after one listing of the
    /// mount's environments when `env` is `None`): `NAME → value`. Any missing, unreadable or
    /// ambiguous name is an error.
    pub async fn batch_get(
        &self,
        names: &[&str],
        env: Option<&str>,
    ) -> Result<BTreeMap<String, SecretString>> {
        for name in names {
            validate_name(name)?;
        }
        let env = match env {
            Some(e) => environment_of(Some(e), &[])?,
            None => None,
        };
        let candidates: Vec<(usize, String)> = match &env {
            Some(e) => names
                .iter()
                .enumerate()
                .map(|(i, name)| (i, secret_path(name, Some(e))))
                .collect(),
            None => self.candidates(names).await?,
        };
        let paths: Vec<String> = candidates.iter().map(|(_, p)| p.clone()).collect();
        let replies = self.batch(&paths).await?;
        let mut out = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let mine: Vec<(&String, &(u16, Option<Value>))> = candidates
                .iter()
                .zip(replies.iter())
                .filter(|((j, _), _)| *j == i)
                .map(|((_, p), r)| (p, r))
                .collect();
            let denied = mine.iter().any(|(_, (status, _))| *status == 403);
            let present: Vec<(&String, &(u16, Option<Value>))> = mine
                .into_iter()
                .filter(|(_, (status, data))| *status == 200 || (*status == 404 && data.is_some()))
                .collect();
            if present.is_empty() && denied {
                return Err(self.denied(name));
            }
            let path = self.choose(name, present.iter().map(|(p, _)| (*p).clone()).collect())?;
            let Some((_, (status, data))) = present.into_iter().find(|(p, _)| **p == path) else {
                continue;
            };
            let value = data
                .as_ref()
                .filter(|_| *status == 200)
                .and_then(|d| d.pointer("/data/value"))
                .and_then(Value::as_str)
                .ok_or_else(|| Error::SecretUnavailable {
                    name: (*name).to_owned(),
                    version: 0,
                    reason: "no current value (deleted, expired, or no \"value\" key)".into(),
                })?;
            out.insert((*name).to_owned(), SecretString::new(value));
        }
        Ok(out)
    }

    async fn write_metadata(
        &self,
        path: &str,
        custom: &BTreeMap<String, String>,
        expiry: Option<u64>,
    ) -> Result<()> {
        let mut body = Map::new();
        body.insert("custom_metadata".into(), json!(custom));
        if let Some(seconds) = expiry {
            body.insert("delete_version_after".into(), json!(format!("{seconds}s")));
        }
        self.client
            .send(
                "POST",
                &self.metadata_path(path),
                &[],
                Some(&Value::Object(body)),
                None,
            )
            .await
            .map(|_| ())
    }

    async fn write_value(&self, path: &str, value: &SecretString, cas: Option<u64>) -> Result<u64> {
        let mut body = json!({ "data": { VALUE_KEY: value.expose() } });
        if let (Some(cas), Some(map)) = (cas, body.as_object_mut()) {
            map.insert("options".into(), json!({ "cas": cas }));
        }
        let api_path = self.data_path(path);
        let reply = self
            .client
            .send("POST", &api_path, &[], Some(&body), None)
            .await?;
        Ok(reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/data/version"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// Creates a secret (its metadata, then version 1); refuses one that already exists.
    /// Returns the KV path written.
    pub async fn create(&self, spec: &SecretSpec) -> Result<String> {
        validate_name(&spec.name)?;
        let (custom, expiry) = spec_metadata(spec)?;
        let env = environment_of(spec.env.as_deref(), &spec.tags)?;
        let value = match (&spec.value, spec.generate) {
            (Some(value), _) => value.clone(),
            (None, Some(bytes)) => generate_value(bytes)?,
            (None, None) => {
                return Err(invalid(format!(
                    "no value for {}: give one, or --generate N",
                    spec.name
                )));
            }
        };
        let path = secret_path(&spec.name, env.as_deref());
        if let Some(meta) = self.metadata(&path).await?
            && meta.current_version > 0
        {
            return Err(Error::SecretExists {
                name: spec.name.clone(),
                path,
            });
        }
        self.write_metadata(&path, &custom, expiry).await?;
        self.write_value(&path, &value, Some(0)).await?;
        Ok(path)
    }

    /// Updates a secret: a new version when a value is given (or generated, for a secret made
    /// with `generate`), and/or its tags (replaced when given), caller metadata (merged),
    /// expiry and rotation policy. Returns the current version afterwards.
    pub async fn update(&self, spec: &SecretSpec) -> Result<u64> {
        validate_name(&spec.name)?;
        let (changes, expiry) = spec_metadata(spec)?;
        let env_from_tags = environment_of(None, &spec.tags)?;
        let path = match (spec.env.as_deref(), env_from_tags) {
            (Some(e), _) => self.resolve(&spec.name, Some(e)).await?,
            (None, Some(e)) => self.resolve(&spec.name, Some(&e)).await?,
            (None, None) => self.resolve(&spec.name, None).await?,
        };
        let meta = self
            .metadata(&path)
            .await?
            .ok_or_else(|| Error::SecretNotFound {
                name: spec.name.clone(),
            })?;
        let mut custom = meta.custom.clone();
        if !spec.tags.is_empty() {
            custom.remove(TAGS_KEY);
        }
        if spec.rotation.is_some() {
            custom.remove(ROTATION_NOTIFY_KEY);
        }
        custom.extend(changes);
        let value = match (&spec.value, spec.generate) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(bytes)) => Some(generate_value(bytes)?),
            (None, None) => None,
        };
        if custom != meta.custom || expiry.is_some() {
            self.write_metadata(&path, &custom, expiry).await?;
        }
        match value {
            Some(value) => self.write_value(&path, &value, None).await,
            None => Ok(meta.current_version),
        }
    }

    /// Lists secrets (top level and one folder deep), filtered by tags and environment.
    pub async fn list(&self, filter: &SecretFilter) -> Result<Vec<SecretSummary>> {
        for tag in &filter.tags {
            validate_tag(tag)?;
        }
        let env = match &filter.env {
            Some(e) => environment_of(Some(e), &[])?,
            None => None,
        };
        let mut paths = Vec::new();
        match &env {
            Some(env) => {
                for key in self.keys(&format!("{env}/")).await? {
                    if !key.ends_with('/') {
                        paths.push(format!("{env}/{key}"));
                    }
                }
            }
            None => {
                for key in self.keys("").await? {
                    match key.strip_suffix('/') {
                        Some(folder) => {
                            for inner in self.keys(&key).await? {
                                if !inner.ends_with('/') {
                                    paths.push(format!("{folder}/{inner}"));
                                }
                            }
                        }
                        None => paths.push(key),
                    }
                }
            }
        }
        let mut out = Vec::new();
        for path in paths {
            let Some(meta) = self.metadata(&path).await? else {
                continue;
            };
            let decoded = decode_custom(&meta.custom);
            if !filter.tags.iter().all(|t| decoded.tags.contains(t)) {
                continue;
            }
            let (name, env) = split_path(&path);
            out.push(SecretSummary {
                name,
                env,
                path,
                tags: decoded.tags,
                metadata: decoded.metadata,
                expires_in: decoded.expires_in,
                current_version: meta.current_version,
            });
        }
        Ok(out)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let path = format!("{}/metadata/{prefix}", self.mount);
        let reply = self.client.send("LIST", &path, &[], None, None).await?;
        Ok(reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/data/keys"))
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The versions of a secret, oldest first.
    pub async fn versions(&self, name: &str, env: Option<&str>) -> Result<Vec<SecretVersion>> {
        let path = self.resolve(name, env).await?;
        let meta = self
            .metadata(&path)
            .await?
            .ok_or_else(|| Error::SecretNotFound {
                name: name.to_owned(),
            })?;
        Ok(meta.versions)
    }

    /// Rolls back: writes version `version`'s data (default: the one before the current) as a
    /// new version. Returns `(restored, new)` version numbers.
    pub async fn rollback(
        &self,
        name: &str,
        env: Option<&str>,
        version: Option<u64>,
    ) -> Result<(u64, u64)> {
        let path = self.resolve(name, env).await?;
        let meta = self
            .metadata(&path)
            .await?
            .ok_or_else(|| Error::SecretNotFound {
                name: name.to_owned(),
            })?;
        let target = match version {
            Some(v) => v,
            None if meta.current_version > 1 => meta.current_version - 1,
            None => {
                return Err(invalid(format!(
                    "{name} has no version before version {} to roll back to",
                    meta.current_version
                )));
            }
        };
        if target == 0 || target == meta.current_version {
            return Err(invalid(format!(
                "cannot roll back {name} to version {target}: it is the current version or none"
            )));
        }
        let old = self.read_path(name, &path, Some(target)).await?;
        let body = json!({
            "data": old.data.iter().map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned()))).collect::<Map<String, Value>>(),
            "options": { "cas": meta.current_version },
        });
        let reply = self
            .client
            .send("POST", &self.data_path(&path), &[], Some(&body), None)
            .await?;
        let new = reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/data/version"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok((target, new))
    }

    /// Deletes a secret: every version and its metadata.
    pub async fn delete(&self, name: &str, env: Option<&str>) -> Result<()> {
        let path = self.resolve(name, env).await?;
        self.client
            .send("DELETE", &self.metadata_path(&path), &[], None, None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_seconds_and_bad_ones_are_refused() {
        assert_eq!(parse_duration("30d").ok(), Some(30 * 86_400));
        assert_eq!(parse_duration("1h30m").ok(), Some(5_400));
        assert_eq!(parse_duration("2w").ok(), Some(1_209_600));
        assert_eq!(parse_duration("1s").ok(), Some(1));
        for bad in [
            "1x",
            "",
            "d",
            "30",
            "0s",
            "-1d",
            "1.5h",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("invalid duration")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn tags_are_sorted_unique_and_checked() {
        assert_eq!(
            parse_tags("production,api,api").ok(),
            Some(vec!["api".to_owned(), "production".to_owned()])
        );
        for bad in ["Prod", "a b", "", "api,", "-x", "a/b", &"x".repeat(65)] {
            assert!(
                matches!(parse_tags(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_and_metadata_are_checked() {
        assert!(validate_name("STRIPE_KEY.v2-a").is_ok());
        for bad in ["", "a/b", "..", "a b", &"A".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_metadata("purpose=Payment processing=yes").ok(),
            Some(("purpose".into(), "Payment processing=yes".into()))
        );
        assert!(parse_metadata("noequals").is_err());
        assert!(parse_metadata("=x").is_err());
        assert!(parse_metadata("coffer:tags=x").is_err());
    }

    #[test]
    fn the_environment_comes_from_env_or_one_tag() {
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            environment_of(None, &tags(&["api", "production"])).ok(),
            Some(Some("production".into()))
        );
        assert_eq!(environment_of(None, &tags(&["api"])).ok(), Some(None));
        assert_eq!(
            environment_of(Some("qa"), &tags(&["production"])).ok(),
            Some(Some("qa".into()))
        );
        assert!(environment_of(None, &tags(&["production", "staging"])).is_err());
        assert!(environment_of(Some("Bad Env"), &[]).is_err());
        assert_eq!(
            secret_path("API_KEY", Some("production")),
            "production/API_KEY"
        );
        assert_eq!(secret_path("API_KEY", None), "API_KEY");
    }

    #[test]
    fn spec_metadata_maps_to_custom_metadata() {
        let spec = SecretSpec {
            name: "API_KEY".into(),
            tags: vec!["production".into(), "api".into()],
            metadata: [("owner".to_owned(), "backend-team".to_owned())].into(),
            expires_in: Some("30d".into()),
            rotation: Some(RotationPolicy {
                enabled: true,
                period: "30d".into(),
                notify_before: Some("7d".into()),
            }),
            generate: Some(32),
            ..SecretSpec::default()
        };
        let (custom, expiry) = spec_metadata(&spec).unwrap_or_default();
        assert_eq!(expiry, Some(30 * 86_400));
        let expected: BTreeMap<String, String> = [
            ("owner", "backend-team"),
            (TAGS_KEY, "api,production"),
            (EXPIRES_KEY, "30d"),
            (ROTATION_PERIOD_KEY, "30d"),
            (ROTATION_NOTIFY_KEY, "7d"),
            (ROTATION_ENABLED_KEY, "true"),
            (GENERATE_KEY, "32"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(custom, expected);
        let decoded = decode_custom(&custom);
        assert_eq!(decoded.tags, vec!["api", "production"]);
        assert_eq!(decoded.metadata.len(), 1);
        assert_eq!(decoded.rotation, spec.rotation);
        assert_eq!(decoded.generate, Some(32));

        let late_notice = SecretSpec {
            rotation: Some(RotationPolicy {
                enabled: true,
                period: "7d".into(),
                notify_before: Some("30d".into()),
            }),
            ..SecretSpec::default()
        };
        assert!(spec_metadata(&late_notice).is_err());
    }

    #[test]
    fn generated_values_and_fingerprints() {
        let a = generate_value(32)
            .map(|v| v.expose().to_owned())
            .unwrap_or_default();
        let b = generate_value(32)
            .map(|v| v.expose().to_owned())
            .unwrap_or_default();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(generate_value(0).is_err());
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint("abc"), "ba7816bf8f01");
        assert_eq!(format!("{:?}", SecretString::new("hunter2")), "<redacted>");
    }
}
