//! `coffer read|write|list|delete PATH`: any API path, the way Vault's generic commands work,
//! plus the reply handling the path-specific commands (`kv …`) build on: a reply read as a
//! secret (404 with data still counts), `-format=json|yaml` envelopes, `-field`, and the
//! `Keys` listing. Failures that are not API errors (`No value found at …`) exit 2.

use anyhow::Context;
use coffer_api::Envelope;
use coffer_client::{Client, RawReply};
use serde_json::{Map, Value, json};

use super::{Outcome, data, print_raw, token};
use crate::cli::{ReadArgs, WriteArgs};
use crate::output::{self, Format};

/// `coffer read PATH [-field=F]`.
pub(crate) async fn read_command(
    client: &Client,
    format: Format,
    args: ReadArgs,
) -> anyhow::Result<Outcome> {
    let path = api_path(&args.path)?;
    let Some(secret) = read(client, path).await? else {
        return failure(&format!("No value found at {path}"));
    };
    print_secret(format, &secret, args.field.as_deref())
}

/// `coffer write PATH k=v … | -`: `PUT` with the data as the JSON body.
pub(crate) async fn write_command(
    client: &Client,
    format: Format,
    args: WriteArgs,
) -> anyhow::Result<Outcome> {
    let path = api_path(&args.path)?;
    if args.data.is_empty() && !args.force {
        anyhow::bail!("Must supply data or use -force");
    }
    let body = data::parse(&args.data, &mut std::io::stdin())?;
    let written = write(client, path, &Value::Object(body)).await?;
    match written {
        Some(secret) if !is_empty(&secret) => print_secret(format, &secret, args.field.as_deref()),
        _ => {
            if format == Format::Table {
                output::line(&format!("Success! Data written to: {path}"));
            }
            Ok(Outcome::Success)
        }
    }
}

/// `coffer list PATH`.
pub(crate) async fn list_command(
    client: &Client,
    format: Format,
    path: &str,
) -> anyhow::Result<Outcome> {
    list_keys(client, format, api_path(path)?).await
}

/// `coffer delete PATH`.
pub(crate) async fn delete_command(client: &Client, path: &str) -> anyhow::Result<Outcome> {
    let path = api_path(path)?;
    client
        .raw("DELETE", path, None)
        .await
        .with_context(|| format!("deleting {path}"))?;
    output::line(&format!("Success! Data deleted (if it existed) at: {path}"));
    Ok(Outcome::Success)
}

/// A path as typed (`/secret/data/x/`) without surrounding spaces or slashes; never empty.
fn api_path(text: &str) -> anyhow::Result<&str> {
    let path = text.trim().trim_matches('/');
    if path.is_empty() {
        anyhow::bail!("a path is required, e.g. secret/data/app or sys/policies/acl");
    }
    Ok(path)
}

/// Whether a reply carries nothing to show: no data, no token, no warnings.
fn is_empty(secret: &Envelope) -> bool {
    secret.data.as_ref().is_none_or(Map::is_empty)
        && secret.auth.is_none()
        && secret.warnings.as_ref().is_none_or(Vec::is_empty)
}

/// The rows Vault's CLI shows for a secret: lease fields when it has a lease, token fields
/// when it carries a token, then the data keys in order.
fn secret_rows(secret: &Envelope) -> Vec<(String, Value)> {
    let mut rows = Vec::new();
    if secret.lease_duration > 0 {
        if secret.lease_id.is_empty() {
            rows.push((
                "refresh_interval".to_owned(),
                json!(token::duration_text(secret.lease_duration)),
            ));
        } else {
            rows.push(("lease_id".to_owned(), json!(secret.lease_id)));
            rows.push((
                "lease_duration".to_owned(),
                json!(token::duration_text(secret.lease_duration)),
            ));
            rows.push(("lease_renewable".to_owned(), json!(secret.renewable)));
        }
    }
    if let Some(auth) = &secret.auth {
        rows.extend(token::auth_rows(auth));
    }
    if let Some(data) = &secret.data {
        rows.extend(data.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    rows
}

/// Prints any secret: a `Key  Value` table (warnings on stderr), the envelope in JSON/YAML,
/// or one field. For `-field` a data key wins over a token or lease field of the same name.
pub(crate) fn print_secret(
    format: Format,
    secret: &Envelope,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let rows = secret_rows(secret);
    if let Some(field) = field {
        let mut fields = Map::new();
        for (key, value) in rows.into_iter().rev() {
            fields.entry(key).or_insert(value);
        }
        return print_field(format, &fields, field);
    }
    if format != Format::Table {
        output::encoded(format, &secret_json(secret)?);
        return Ok(Outcome::Success);
    }
    output::warnings(secret.warnings.as_deref().unwrap_or_default());
    let rows: Vec<(String, String)> = rows
        .into_iter()
        .map(|(key, value)| (key, output::cell(&value)))
        .collect();
    if !rows.is_empty() {
        output::table(&rows);
    }
    Ok(Outcome::Success)
}

/// `GET <path>?list=true`: a `Keys` column, or a bare JSON array of keys; `No value found`
/// (404) or `No entries found` (no keys) exit 2.
pub(crate) async fn list_keys(
    client: &Client,
    format: Format,
    path: &str,
) -> anyhow::Result<Outcome> {
    let reply = client
        .raw("GET", &format!("{path}?list=true"), None)
        .await
        .with_context(|| format!("listing {path}"))?;
    let secret = secret_of(reply)?;
    let data = secret.and_then(|secret| secret.data);
    let keys = data
        .as_ref()
        .and_then(|data| data.get("keys"))
        .and_then(Value::as_array);
    match (format, keys) {
        (Format::Table, Some(keys)) => {
            let keys: Vec<String> = keys.iter().map(output::cell).collect();
            output::list("Keys", &keys);
            Ok(Outcome::Success)
        }
        (Format::Json | Format::Yaml, Some(keys)) => {
            output::encoded(format, &Value::Array(keys.clone()));
            Ok(Outcome::Success)
        }
        (Format::Json | Format::Yaml, None) => {
            output::encoded(format, &json!({}));
            Ok(Outcome::Failure)
        }
        (Format::Table, None) if data.is_none() => failure(&format!("No value found at {path}")),
        (Format::Table, None) => failure(&format!("No entries found at {path}")),
    }
}

/// Turns a reply into a secret like Vault's `kvReadRequest`: a 404 that still carries data or
/// warnings (a deleted version's metadata) is a secret; any other 404, or no body, is `None`.
pub(crate) fn secret_of(reply: RawReply) -> anyhow::Result<Option<Envelope>> {
    let Some(body) = reply.body else {
        return Ok(None);
    };
    let secret: Envelope = serde_json::from_value(body).context("decoding the server's reply")?;
    if reply.status == 404 {
        let has_data = secret.data.as_ref().is_some_and(|data| !data.is_empty());
        let has_warnings = secret
            .warnings
            .as_ref()
            .is_some_and(|warnings| !warnings.is_empty());
        if !(has_data || has_warnings) {
            return Ok(None);
        }
    }
    Ok(Some(secret))
}

/// `GET <path>` as a secret.
pub(crate) async fn read(client: &Client, path: &str) -> anyhow::Result<Option<Envelope>> {
    let reply = client
        .raw("GET", path, None)
        .await
        .with_context(|| format!("reading {path}"))?;
    secret_of(reply)
}

/// `PUT <path>` (how Vault's CLI writes) and the reply, if any.
pub(crate) async fn write(
    client: &Client,
    path: &str,
    body: &Value,
) -> anyhow::Result<Option<Envelope>> {
    let reply = client
        .raw("PUT", path, Some(body))
        .await
        .with_context(|| format!("writing data to {path}"))?;
    secret_of(reply)
}

/// Reports a failure on stderr and exits 2, like Vault's CLI.
pub(crate) fn failure(message: &str) -> anyhow::Result<Outcome> {
    output::error_line(message);
    Ok(Outcome::Failure)
}

/// The reply as `-format=json|yaml` shows it: the envelope without null `wrap_info`/`auth`.
pub(crate) fn secret_json(secret: &Envelope) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(secret).context("encoding the reply")?;
    if let Some(map) = value.as_object_mut() {
        for key in ["wrap_info", "auth"] {
            if map.get(key).is_some_and(Value::is_null) {
                map.remove(key);
            }
        }
    }
    Ok(value)
}

/// `-field`: one value, raw (`%v` text for tables, encoded for JSON/YAML), with a newline only
/// on a terminal. A missing or null field exits 1 like Vault's `PrintRawField`.
pub(crate) fn print_field(
    format: Format,
    map: &Map<String, Value>,
    field: &str,
) -> anyhow::Result<Outcome> {
    let value = map
        .get(field)
        .filter(|value| !value.is_null())
        .with_context(|| format!("Field {field:?} not present in secret"))?;
    let text = match format {
        Format::Table => output::cell(value),
        Format::Json => serde_json::to_string_pretty(value).context("encoding the field")?,
        Format::Yaml => output::to_yaml(value).trim_end().to_owned(),
    };
    print_raw(&text);
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use coffer_api::Auth;

    use super::*;

    fn envelope(value: Value) -> Envelope {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `check(reply envelope, expected row keys)`.
    fn check_rows(secret: Value, expected: &[&str]) {
        let rows = secret_rows(&envelope(secret));
        let keys: Vec<&str> = rows.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn rows_like_vault() {
        check_rows(json!({"data": {"b": 1, "a": 2}}), &["a", "b"]);
        check_rows(json!({"data": null}), &[]);
        check_rows(
            json!({"lease_id": "pki/issue/x/1", "lease_duration": 3600, "renewable": true,
                   "data": {"k": "v"}}),
            &["lease_id", "lease_duration", "lease_renewable", "k"],
        );
        check_rows(
            json!({"lease_duration": 60, "data": {"k": "v"}}),
            &["refresh_interval", "k"],
        );
        check_rows(
            json!({"auth": {"client_token": "s.x", "accessor": "a", "metadata": {"username": "u"}}}),
            &[
                "token",
                "token_accessor",
                "token_duration",
                "token_renewable",
                "token_policies",
                "identity_policies",
                "policies",
                "token_meta_username",
            ],
        );
    }

    #[test]
    fn empty_replies_print_success() {
        assert!(is_empty(&envelope(json!({"data": null}))));
        assert!(is_empty(&envelope(json!({"data": {}, "warnings": []}))));
        assert!(!is_empty(&envelope(json!({"data": {"a": 1}}))));
        assert!(!is_empty(&envelope(json!({"warnings": ["w"]}))));
        let with_token = Envelope {
            auth: Some(Auth::default()),
            ..envelope(json!({}))
        };
        assert!(!is_empty(&with_token));
    }

    #[test]
    fn paths_are_trimmed_and_required() {
        assert_eq!(api_path(" /secret/data/x/ ").ok(), Some("secret/data/x"));
        assert_eq!(api_path("sys/policies/acl").ok(), Some("sys/policies/acl"));
        assert!(api_path("/").is_err());
        assert!(api_path("").is_err());
    }

    #[test]
    fn deleted_versions_still_read_as_secrets() {
        let reply = |status, body: Value| RawReply {
            status,
            body: Some(body),
        };
        let deleted = json!({"data": {"data": null, "metadata": {"version": 1}}});
        assert!(secret_of(reply(404, deleted)).ok().flatten().is_some());
        assert!(
            secret_of(reply(404, json!({"errors": []})))
                .ok()
                .flatten()
                .is_none()
        );
        let warned = json!({"data": null, "warnings": ["Invalid path"]});
        assert!(secret_of(reply(404, warned)).ok().flatten().is_some());
        assert!(
            secret_of(RawReply {
                status: 204,
                body: None
            })
            .ok()
            .flatten()
            .is_none()
        );
    }
}
