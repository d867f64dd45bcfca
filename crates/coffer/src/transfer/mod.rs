//! Export files of named secrets (`coffer secrets export|import`), with no I/O: the document
//! model, its JSON and YAML shape, dotenv, and the passphrase envelope around any of them.
//!
//! The JSON/YAML document carries everything the issue #7 mapping keeps about a secret:
//!
//! ```text
//! coffer_export: 1
//! secrets:
//!   - name: API_KEY
//!     env: production            # absent: from an environment tag; null: none
//!     value: "..."               # or `data: {k: v}` for a secret with other keys
//!     tags: [api, production]
//!     metadata: {owner: backend-team}
//!     expires_in: 30d
//!     rotation: {enabled: true, period: 30d, notify_before: 7d}
//!     generate: 32
//!     versions:                  # with -versions: every readable version, oldest first
//!       - {version: 1, value: "..."}
//! ```
//!
//! Unknown `coffer:*` custom metadata travels in `metadata` unchanged, so a round trip keeps
//! every key. Dotenv carries `NAME=value` only.

pub(crate) mod dotenv;
pub(crate) mod envelope;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context as _, bail};
use coffer_client::secrets::ENVIRONMENT_TAGS;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// `custom_metadata` key of the comma-joined tags.
pub(crate) const TAGS_KEY: &str = "coffer:tags";
/// `custom_metadata` key of the expiry as given.
pub(crate) const EXPIRES_KEY: &str = "coffer:expires-in";
/// `custom_metadata` key of the rotation period.
pub(crate) const ROTATION_PERIOD_KEY: &str = "coffer:rotation-period";
/// `custom_metadata` key of the rotation notice period.
pub(crate) const ROTATION_NOTIFY_KEY: &str = "coffer:rotation-notify-before";
/// `custom_metadata` key of whether rotation is enabled.
pub(crate) const ROTATION_ENABLED_KEY: &str = "coffer:rotation-enabled";
/// `custom_metadata` key of a generated secret's size in bytes.
pub(crate) const GENERATE_KEY: &str = "coffer:generate";

/// The version of the document shape, in its `coffer_export` field.
const DOCUMENT_VERSION: u64 = 1;

/// A file format of export and import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    /// `NAME=value` lines.
    Dotenv,
    /// The JSON document.
    Json,
    /// The YAML document.
    Yaml,
}

impl FileFormat {
    /// Parses a `-format-in`/`-format-out` value.
    pub(crate) fn parse(text: &str) -> anyhow::Result<FileFormat> {
        match text.to_ascii_lowercase().as_str() {
            "dotenv" | "env" => Ok(FileFormat::Dotenv),
            "json" => Ok(FileFormat::Json),
            "yaml" | "yml" => Ok(FileFormat::Yaml),
            other => bail!("unknown format {other:?}: use dotenv, json or yaml"),
        }
    }

    /// Guesses the format from a file name: `.json`, `.yaml`/`.yml`, else dotenv (`.env`,
    /// `.env.production`, …).
    pub(crate) fn guess(path: &str) -> FileFormat {
        let lower = path.to_ascii_lowercase();
        let lower = lower.strip_suffix(".enc").unwrap_or(&lower);
        if lower.ends_with(".json") {
            FileFormat::Json
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            FileFormat::Yaml
        } else {
            FileFormat::Dotenv
        }
    }

    /// The byte naming this format inside an encrypted envelope.
    fn tag(self) -> u8 {
        match self {
            FileFormat::Dotenv => 1,
            FileFormat::Json => 2,
            FileFormat::Yaml => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<FileFormat> {
        match tag {
            1 => Some(FileFormat::Dotenv),
            2 => Some(FileFormat::Json),
            3 => Some(FileFormat::Yaml),
            _ => None,
        }
    }
}

/// One secret of an export file.
pub(crate) struct ExportedSecret {
    /// The secret's name (`[A-Za-z0-9._-]{1,128}`).
    pub(crate) name: String,
    /// Its environment, if any.
    pub(crate) env: Option<String>,
    /// The current version's data (`{"value": ...}` for Coffer's own secrets).
    pub(crate) data: Map<String, Value>,
    /// Every `custom_metadata` key, Coffer's `coffer:*` ones included.
    pub(crate) custom_metadata: BTreeMap<String, String>,
    /// Older-to-newer data of every readable version, when exported with `-versions`.
    pub(crate) versions: Option<Vec<ExportedVersion>>,
}

/// One version of an exported secret.
pub(crate) struct ExportedVersion {
    /// The version number on the exporting server.
    pub(crate) version: u64,
    /// Its data.
    pub(crate) data: Map<String, Value>,
}

impl fmt::Debug for ExportedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedSecret")
            .field("name", &self.name)
            .field("env", &self.env)
            .field("data", &"<redacted>")
            .field("custom_metadata", &self.custom_metadata)
            .finish_non_exhaustive()
    }
}

impl ExportedSecret {
    /// Where the secret lives in its mount: `env/NAME` or `NAME`.
    pub(crate) fn path(&self) -> String {
        match &self.env {
            Some(env) => format!("{env}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The tags from `coffer:tags`.
    pub(crate) fn tags(&self) -> Vec<&str> {
        self.custom_metadata
            .get(TAGS_KEY)
            .map(|tags| tags.split(',').filter(|tag| !tag.is_empty()).collect())
            .unwrap_or_default()
    }

    /// The `{"value": ...}` string, when that is all the data holds.
    pub(crate) fn value(&self) -> Option<&str> {
        single_value(&self.data)
    }
}

/// Whether a name is a valid secret name, `[A-Za-z0-9._-]{1,128}`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether a tag has the tag syntax `[a-z0-9][a-z0-9_.-]{0,63}`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && tag.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

/// Renders secrets as a JSON or YAML document (zeroized when dropped).
pub(crate) fn render_document(secrets: &[ExportedSecret], format: FileFormat) -> Zeroizing<String> {
    let items: Vec<Value> = secrets.iter().map(secret_to_value).collect();
    let document = json!({"coffer_export": DOCUMENT_VERSION, "secrets": items});
    match format {
        FileFormat::Yaml => Zeroizing::new(crate::output::to_yaml(&document)),
        FileFormat::Json | FileFormat::Dotenv => {
            let mut text =
                serde_json::to_string_pretty(&document).expect("a JSON value always serializes");
            text.push('\n');
            Zeroizing::new(text)
        }
    }
}

/// Renders secrets as dotenv; each must hold a single `value` and no two may share a name.
pub(crate) fn render_dotenv(secrets: &[ExportedSecret]) -> anyhow::Result<Zeroizing<String>> {
    let mut pairs = Vec::with_capacity(secrets.len());
    let mut seen: BTreeMap<&str, &ExportedSecret> = BTreeMap::new();
    for secret in secrets {
        if let Some(other) = seen.insert(&secret.name, secret) {
            bail!(
                "{} exists in several environments ({} and {}); dotenv holds one value per name: pick one with -env",
                secret.name,
                env_label(&other.env),
                env_label(&secret.env)
            );
        }
        let value = secret.value().with_context(|| {
            format!(
                "{} has data other than a single value; dotenv holds only NAME=value: use -format-out=json or yaml",
                secret.path()
            )
        })?;
        if !dotenv::valid_name(&secret.name) {
            bail!("{} cannot be a dotenv name", secret.name);
        }
        pairs.push((secret.name.as_str(), value));
    }
    Ok(dotenv::render(pairs))
}

/// Parses a file of any format into secrets; the whole file is checked before anything is
/// returned. `env` applies to every secret without its own environment (dotenv has none).
pub(crate) fn parse(
    text: &str,
    format: FileFormat,
    env: Option<&str>,
) -> anyhow::Result<Vec<ExportedSecret>> {
    let mut secrets = match format {
        FileFormat::Dotenv => dotenv::parse(text)?
            .into_iter()
            .map(|entry| {
                if !valid_name(&entry.name) {
                    bail!(
                        "line {}: {:?} is not a valid secret name",
                        entry.line,
                        entry.name
                    );
                }
                let mut data = Map::new();
                data.insert("value".to_owned(), Value::String(entry.value.to_string()));
                Ok(ExportedSecret {
                    name: entry.name,
                    env: None,
                    data,
                    custom_metadata: BTreeMap::new(),
                    versions: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        FileFormat::Json => {
            let document: Value = serde_json::from_str(text).context("not valid JSON")?;
            document_secrets(document)?
        }
        FileFormat::Yaml => document_secrets(yaml::parse(text).context("not valid YAML")?)?,
    };
    if let Some(env) = env {
        for secret in &mut secrets {
            if secret.env.is_none() {
                secret.env = Some(env.to_owned());
            }
        }
    }
    let mut seen = BTreeMap::new();
    for (index, secret) in secrets.iter().enumerate() {
        if let Some(first) = seen.insert(secret.path(), index) {
            bail!(
                "{} appears twice in the file (secrets[{first}] and secrets[{index}])",
                secret.path()
            );
        }
    }
    Ok(secrets)
}

/// Seals rendered text into the passphrase envelope (see [`envelope`]).
pub(crate) fn seal(
    text: &str,
    format: FileFormat,
    passphrase: &envelope::Passphrase,
) -> anyhow::Result<String> {
    envelope::seal(text.as_bytes(), format.tag(), passphrase)
}

/// Opens an envelope: the format inside and its text.
pub(crate) fn open(
    armored: &str,
    passphrase: &envelope::Passphrase,
) -> anyhow::Result<(FileFormat, Zeroizing<String>)> {
    let (tag, plaintext) = envelope::open(armored, passphrase)?;
    let format = FileFormat::from_tag(tag).context("the encrypted file names an unknown format")?;
    let text = String::from_utf8(plaintext.to_vec())
        .map_err(|_| anyhow::anyhow!("the decrypted file is not UTF-8"))?;
    Ok((format, Zeroizing::new(text)))
}

fn env_label(env: &Option<String>) -> &str {
    env.as_deref().unwrap_or("no environment")
}

fn single_value(data: &Map<String, Value>) -> Option<&str> {
    match (data.len(), data.get("value")) {
        (1, Some(Value::String(value))) => Some(value),
        _ => None,
    }
}

/// A version's or secret's data as `value: s` when possible, `data: {...}` otherwise.
fn put_data(out: &mut Map<String, Value>, data: &Map<String, Value>) {
    match single_value(data) {
        Some(value) => out.insert("value".to_owned(), Value::String(value.to_owned())),
        None => out.insert("data".to_owned(), Value::Object(data.clone())),
    };
}

fn secret_to_value(secret: &ExportedSecret) -> Value {
    let mut out = Map::new();
    out.insert("name".to_owned(), Value::String(secret.name.clone()));
    match &secret.env {
        Some(env) => {
            out.insert("env".to_owned(), Value::String(env.clone()));
        }
        // An explicit null keeps a secret outside any environment even if it carries an
        // environment tag (an absent `env` would take it from the tag on import).
        None if secret
            .tags()
            .iter()
            .any(|tag| ENVIRONMENT_TAGS.contains(tag)) =>
        {
            out.insert("env".to_owned(), Value::Null);
        }
        None => {}
    }
    put_data(&mut out, &secret.data);
    let tags: Vec<Value> = secret
        .tags()
        .into_iter()
        .map(|tag| Value::String(tag.to_owned()))
        .collect();
    out.insert("tags".to_owned(), Value::Array(tags));
    let meta = &secret.custom_metadata;
    let metadata: Map<String, Value> = meta
        .iter()
        .filter(|(key, _)| !is_mapped_key(key))
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    out.insert("metadata".to_owned(), Value::Object(metadata));
    if let Some(expires) = meta.get(EXPIRES_KEY) {
        out.insert("expires_in".to_owned(), Value::String(expires.clone()));
    }
    if let Some(period) = meta.get(ROTATION_PERIOD_KEY) {
        let mut rotation = Map::new();
        let enabled = meta.get(ROTATION_ENABLED_KEY).map(String::as_str) != Some("false");
        rotation.insert("enabled".to_owned(), Value::Bool(enabled));
        rotation.insert("period".to_owned(), Value::String(period.clone()));
        if let Some(notify) = meta.get(ROTATION_NOTIFY_KEY) {
            rotation.insert("notify_before".to_owned(), Value::String(notify.clone()));
        }
        out.insert("rotation".to_owned(), Value::Object(rotation));
    }
    if let Some(generate) = meta.get(GENERATE_KEY) {
        let value = generate
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(generate.clone()));
        out.insert("generate".to_owned(), value);
    }
    if let Some(versions) = &secret.versions {
        let items = versions
            .iter()
            .map(|version| {
                let mut item = Map::new();
                item.insert("version".to_owned(), Value::from(version.version));
                put_data(&mut item, &version.data);
                Value::Object(item)
            })
            .collect();
        out.insert("versions".to_owned(), Value::Array(items));
    }
    Value::Object(out)
}

/// Keys that have their own field in the document rather than living in `metadata`.
fn is_mapped_key(key: &str) -> bool {
    [
        TAGS_KEY,
        EXPIRES_KEY,
        ROTATION_PERIOD_KEY,
        ROTATION_NOTIFY_KEY,
        ROTATION_ENABLED_KEY,
        GENERATE_KEY,
    ]
    .contains(&key)
}

fn document_secrets(document: Value) -> anyhow::Result<Vec<ExportedSecret>> {
    let Value::Object(mut top) = document else {
        bail!("the document must be a mapping with `coffer_export` and `secrets`");
    };
    match top.get("coffer_export") {
        Some(Value::Number(n)) if n.as_u64() == Some(DOCUMENT_VERSION) => {}
        Some(_) => bail!("coffer_export: this coffer reads version {DOCUMENT_VERSION} only"),
        None => bail!("coffer_export: missing (is this a coffer export file?)"),
    }
    let Some(Value::Array(items)) = top.remove("secrets") else {
        bail!("secrets: expected a list");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| secret_from_value(item, &format!("secrets[{index}]")))
        .collect()
}

fn secret_from_value(item: Value, at: &str) -> anyhow::Result<ExportedSecret> {
    let Value::Object(mut item) = item else {
        bail!("{at}: expected a mapping");
    };
    for key in item.keys() {
        if ![
            "name",
            "env",
            "value",
            "data",
            "tags",
            "metadata",
            "expires_in",
            "rotation",
            "generate",
            "versions",
        ]
        .contains(&key.as_str())
        {
            bail!("{at}.{key}: unknown field");
        }
    }
    let name =
        string_field(&mut item, "name", at)?.with_context(|| format!("{at}.name: missing"))?;
    if !valid_name(&name) {
        bail!("{at}.name: {name:?} is not a valid secret name ([A-Za-z0-9._-], 1 to 128)");
    }
    let env_given = item.contains_key("env");
    let mut env = string_field(&mut item, "env", at)?;
    if let Some(env) = &env
        && !valid_name(env)
    {
        bail!("{at}.env: {env:?} is not a valid environment name");
    }
    let data = data_of(&mut item, at)?;
    let mut custom_metadata = BTreeMap::new();
    match item.remove("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Value::String(value) = value else {
                    bail!("{at}.metadata.{key}: expected a string");
                };
                if is_mapped_key(&key) {
                    bail!("{at}.metadata.{key}: set this with its own field");
                }
                custom_metadata.insert(key, value);
            }
        }
        Some(_) => bail!("{at}.metadata: expected a mapping of strings"),
    }
    match item.remove("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tags)) => {
            let mut clean = Vec::new();
            for (index, tag) in tags.into_iter().enumerate() {
                let Value::String(tag) = tag else {
                    bail!("{at}.tags[{index}]: expected a string");
                };
                if !valid_tag(&tag) {
                    bail!(
                        "{at}.tags[{index}]: {tag:?} is not a valid tag ([a-z0-9][a-z0-9_.-]{{0,63}})"
                    );
                }
                clean.push(tag);
            }
            clean.sort();
            clean.dedup();
            if !clean.is_empty() {
                custom_metadata.insert(TAGS_KEY.to_owned(), clean.join(","));
            }
        }
        Some(_) => bail!("{at}.tags: expected a list of strings"),
    }
    if let Some(expires) = string_field(&mut item, "expires_in", at)? {
        humantime::parse_duration(&expires).map_err(|_| {
            anyhow::anyhow!("{at}.expires_in: {expires:?} is not a duration like 30d")
        })?;
        custom_metadata.insert(EXPIRES_KEY.to_owned(), expires);
    }
    match item.remove("rotation") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mut rotation)) => {
            let at = format!("{at}.rotation");
            let enabled = match rotation.remove("enabled") {
                None => true,
                Some(Value::Bool(enabled)) => enabled,
                Some(_) => bail!("{at}.enabled: expected true or false"),
            };
            let period = string_field(&mut rotation, "period", &at)?
                .with_context(|| format!("{at}.period: missing"))?;
            let notify = string_field(&mut rotation, "notify_before", &at)?;
            if let Some(key) = rotation.keys().next() {
                bail!("{at}.{key}: unknown field");
            }
            custom_metadata.insert(ROTATION_ENABLED_KEY.to_owned(), enabled.to_string());
            custom_metadata.insert(ROTATION_PERIOD_KEY.to_owned(), period);
            if let Some(notify) = notify {
                custom_metadata.insert(ROTATION_NOTIFY_KEY.to_owned(), notify);
            }
        }
        Some(_) => bail!("{at}.rotation: expected a mapping"),
    }
    match item.remove("generate") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
            custom_metadata.insert(GENERATE_KEY.to_owned(), n.to_string());
        }
        Some(_) => bail!("{at}.generate: expected a positive number of bytes"),
    }
    if !env_given {
        // As `coffer secrets create --tags production`: the environment comes from the tags.
        let tags = custom_metadata
            .get(TAGS_KEY)
            .map(String::as_str)
            .unwrap_or("");
        let found: Vec<&str> = tags
            .split(',')
            .filter(|tag| ENVIRONMENT_TAGS.contains(tag))
            .collect();
        match found.as_slice() {
            [] => {}
            [one] => env = Some((*one).to_owned()),
            many => bail!(
                "{at}: several environment tags ({}): give env (null for none)",
                many.join(", ")
            ),
        }
    }
    let versions = match item.remove("versions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut versions = Vec::with_capacity(list.len());
            for (index, version) in list.into_iter().enumerate() {
                let at = format!("{at}.versions[{index}]");
                let Value::Object(mut version) = version else {
                    bail!("{at}: expected a mapping");
                };
                let number = match version.remove("version") {
                    Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
                    None => index as u64 + 1,
                    Some(_) => bail!("{at}.version: expected a version number"),
                };
                let data = data_of(&mut version, &at)?;
                if let Some(key) = version.keys().next() {
                    bail!("{at}.{key}: unknown field");
                }
                versions.push(ExportedVersion {
                    version: number,
                    data,
                });
            }
            Some(versions)
        }
        Some(_) => bail!("{at}.versions: expected a list"),
    };
    Ok(ExportedSecret {
        name,
        env,
        data,
        custom_metadata,
        versions,
    })
}

/// The `value` (a string) or `data` (a mapping) of a secret or version.
fn data_of(item: &mut Map<String, Value>, at: &str) -> anyhow::Result<Map<String, Value>> {
    match (item.remove("value"), item.remove("data")) {
        (Some(_), Some(_)) => bail!("{at}: give either value or data, not both"),
        (Some(Value::String(value)), None) => {
            let mut data = Map::new();
            data.insert("value".to_owned(), Value::String(value));
            Ok(data)
        }
        (Some(_), None) => bail!("{at}.value: expected a string"),
        (None, Some(Value::Object(data))) if !data.is_empty() => Ok(data),
        (None, Some(_)) => bail!("{at}.data: expected a non-empty mapping"),
        (None, None) => bail!("{at}.value: missing"),
    }
}

fn string_field(
    item: &mut Map<String, Value>,
    key: &str,
    at: &str,
) -> anyhow::Result<Option<String>> {
    match item.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => bail!("{at}.{key}: expected a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<ExportedSecret> {
        let mut meta = BTreeMap::new();
        meta.insert(TAGS_KEY.to_owned(), "api,production".to_owned());
        meta.insert("owner".to_owned(), "backend team".to_owned());
        meta.insert("coffer:future".to_owned(), "kept".to_owned());
        meta.insert(EXPIRES_KEY.to_owned(), "30d".to_owned());
        meta.insert(ROTATION_ENABLED_KEY.to_owned(), "true".to_owned());
        meta.insert(ROTATION_PERIOD_KEY.to_owned(), "30d".to_owned());
        meta.insert(ROTATION_NOTIFY_KEY.to_owned(), "7d".to_owned());
        meta.insert(GENERATE_KEY.to_owned(), "32".to_owned());
        let value = |text: &str| {
            let mut data = Map::new();
            data.insert("value".to_owned(), Value::String(text.to_owned()));
            data
        };
        let mut other = Map::new();
        other.insert("user".to_owned(), Value::String("app".to_owned()));
        other.insert("port".to_owned(), Value::from(5432));
        vec![
            ExportedSecret {
                name: "API_KEY".to_owned(),
                env: Some("production".to_owned()),
                data: value("line1\nline2 \"#\" $x"),
                custom_metadata: meta,
                versions: Some(vec![
                    ExportedVersion {
                        version: 1,
                        data: value("old"),
                    },
                    ExportedVersion {
                        version: 2,
                        data: value("line1\nline2 \"#\" $x"),
                    },
                ]),
            },
            ExportedSecret {
                name: "DB".to_owned(),
                env: None,
                data: other,
                custom_metadata: BTreeMap::new(),
                versions: None,
            },
        ]
    }

    fn summary(secrets: &[ExportedSecret]) -> Vec<String> {
        secrets
            .iter()
            .map(|secret| {
                format!(
                    "{} {:?} {} {:?} {:?}",
                    secret.path(),
                    secret.data,
                    serde_json::to_string(&secret.custom_metadata).expect("json"),
                    secret.versions.as_ref().map(|versions| versions
                        .iter()
                        .map(|v| (v.version, Value::Object(v.data.clone())))
                        .collect::<Vec<_>>()),
                    secret.env
                )
            })
            .collect()
    }

    #[test]
    fn json_and_yaml_round_trip_everything() {
        for format in [FileFormat::Json, FileFormat::Yaml] {
            let text = render_document(&sample(), format);
            let back = parse(&text, format, None).expect("parses");
            assert_eq!(summary(&back), summary(&sample()), "{format:?}:\n{}", *text);
        }
    }

    #[test]
    fn dotenv_holds_values_only_and_refuses_what_it_cannot_hold() {
        let secrets = sample();
        let error = render_dotenv(&secrets)
            .expect_err("DB has two keys")
            .to_string();
        assert!(
            error.contains("DB has data other than a single value"),
            "{error}"
        );
        let text = render_dotenv(&secrets[..1]).expect("renders");
        assert_eq!(*text, "API_KEY=\"line1\\nline2 \\\"#\\\" \\$x\"\n");
        let back = parse(&text, FileFormat::Dotenv, Some("staging")).expect("parses");
        assert_eq!(back[0].path(), "staging/API_KEY");
        assert_eq!(back[0].value(), Some("line1\nline2 \"#\" $x"));
    }

    #[test]
    fn type_errors_name_the_field() {
        let check = |text: &str, expected: &str| {
            let error = parse(text, FileFormat::Json, None).expect_err("refused");
            assert_eq!(format!("{error:#}"), expected, "{text}");
        };
        check(
            "[]",
            "the document must be a mapping with `coffer_export` and `secrets`",
        );
        check(
            r#"{"secrets": []}"#,
            "coffer_export: missing (is this a coffer export file?)",
        );
        check(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x"}, {"name": "B", "value": 5}]}"#,
            "secrets[1].value: expected a string",
        );
        check(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x", "tags": ["Bad Tag"]}]}"#,
            "secrets[0].tags[0]: \"Bad Tag\" is not a valid tag ([a-z0-9][a-z0-9_.-]{0,63})",
        );
        check(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x", "metadata": {"k": 1}}]}"#,
            "secrets[0].metadata.k: expected a string",
        );
        check(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x", "colour": "red"}]}"#,
            "secrets[0].colour: unknown field",
        );
        check(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x"}, {"name": "A", "value": "y"}]}"#,
            "A appears twice in the file (secrets[0] and secrets[1])",
        );
        check(
            "{\n  \"coffer_export\": 1,\n  oops\n}",
            "not valid JSON: key must be a string at line 3 column 3",
        );
    }

    #[test]
    fn environment_from_tags_unless_env_is_given() {
        let parsed = parse(
            r#"{"coffer_export": 1, "secrets": [
                {"name": "A", "value": "x", "tags": ["api", "production"]},
                {"name": "B", "value": "x", "tags": ["production"], "env": null},
                {"name": "C", "value": "x", "tags": ["production"], "env": "staging"}
            ]}"#,
            FileFormat::Json,
            None,
        )
        .expect("parses");
        let paths: Vec<String> = parsed.iter().map(ExportedSecret::path).collect();
        assert_eq!(paths, ["production/A", "B", "staging/C"]);
        let text = render_document(&parsed, FileFormat::Json);
        let back = parse(&text, FileFormat::Json, None).expect("parses");
        assert_eq!(summary(&back), summary(&parsed));
        let error = parse(
            r#"{"coffer_export": 1, "secrets": [{"name": "A", "value": "x", "tags": ["dev", "prod"]}]}"#,
            FileFormat::Json,
            None,
        )
        .expect_err("two environments");
        assert_eq!(
            error.to_string(),
            "secrets[0]: several environment tags (dev, prod): give env (null for none)"
        );
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(FileFormat::guess("prod.json"), FileFormat::Json);
        assert_eq!(FileFormat::guess("x.YML"), FileFormat::Yaml);
        assert_eq!(FileFormat::guess("backup.yaml.enc"), FileFormat::Yaml);
        assert_eq!(FileFormat::guess(".env.production"), FileFormat::Dotenv);
        assert!(FileFormat::parse("toml").is_err());
    }
}
