//! `coffer token create|lookup|renew|revoke` and `coffer login`.

use std::collections::BTreeMap;

use anyhow::Context;
use coffer_api::{Envelope, TokenCreateRequest};
use coffer_client::Client;
use serde_json::{Value, json};

use super::{Outcome, print_fields, read_secret};
use crate::cli::{LoginArgs, TokenCreateArgs};
use crate::connection;
use crate::output::{self, Format};

fn duration_text(secs: u64) -> String {
    if secs == 0 {
        "∞".to_owned()
    } else {
        humanize(secs)
    }
}

fn humanize(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn print_auth(format: Format, field: Option<&str>, envelope: &Envelope) -> anyhow::Result<()> {
    let auth = envelope
        .auth
        .as_ref()
        .context("the server returned no token")?;
    let rows = vec![
        ("token".to_owned(), json!(auth.client_token)),
        ("token_accessor".to_owned(), json!(auth.accessor)),
        (
            "token_duration".to_owned(),
            json!(duration_text(auth.lease_duration)),
        ),
        ("token_renewable".to_owned(), json!(auth.renewable)),
        ("token_policies".to_owned(), json!(auth.token_policies)),
        ("identity_policies".to_owned(), json!([])),
        ("policies".to_owned(), json!(auth.policies)),
    ];
    let mut rows = rows;
    if let Some(meta) = &auth.metadata {
        for (key, value) in meta {
            rows.push((format!("token_meta_{key}"), json!(value)));
        }
    }
    let full = serde_json::to_value(envelope).context("encoding the reply")?;
    print_fields(format, field, &rows, &full)
}

fn print_data(format: Format, field: Option<&str>, envelope: &Envelope) -> anyhow::Result<()> {
    let data = envelope.data.clone().unwrap_or_default();
    let rows: Vec<(String, Value)> = data.into_iter().collect();
    let full = serde_json::to_value(envelope).context("encoding the reply")?;
    print_fields(format, field, &rows, &full)
}

/// `coffer token create`.
pub(crate) async fn create(
    client: &Client,
    format: Format,
    args: TokenCreateArgs,
) -> anyhow::Result<Outcome> {
    let mut meta = BTreeMap::new();
    for pair in &args.metadata {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("metadata {pair:?} must be key=value"))?;
        meta.insert(key.to_owned(), value.to_owned());
    }
    let policies: Vec<String> = args
        .policies
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let request = TokenCreateRequest {
        policies,
        meta,
        ttl: args.ttl,
        explicit_max_ttl: args.explicit_max_ttl,
        period: args.period,
        display_name: args.display_name,
        num_uses: args.use_limit,
        renewable: Some(args.renewable),
        no_default_policy: args.no_default_policy,
        no_parent: false,
    };
    let envelope = client.token_create(&request, args.orphan).await?;
    print_auth(format, args.field.as_deref(), &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token lookup`.
pub(crate) async fn lookup(
    client: &Client,
    format: Format,
    token: Option<String>,
    accessor: bool,
    field: Option<String>,
) -> anyhow::Result<Outcome> {
    let envelope = match (token, accessor) {
        (Some(accessor_id), true) => client.token_lookup_accessor(&accessor_id).await?,
        (None, true) => anyhow::bail!("-accessor needs an accessor argument"),
        (Some(token), false) => client.token_lookup(&token).await?,
        (None, false) => client.token_lookup_self().await?,
    };
    print_data(format, field.as_deref(), &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token renew`.
pub(crate) async fn renew(
    client: &Client,
    format: Format,
    token: Option<String>,
    increment: Option<String>,
) -> anyhow::Result<Outcome> {
    let envelope = match token {
        Some(token) => client.token_renew(&token, increment.as_deref()).await?,
        None => client.token_renew_self(increment.as_deref()).await?,
    };
    print_auth(format, None, &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token revoke`.
pub(crate) async fn revoke(
    client: &Client,
    token: Option<String>,
    self_: bool,
    accessor: bool,
    mode: Option<String>,
) -> anyhow::Result<Outcome> {
    match (token, self_, accessor, mode.as_deref()) {
        (None, true, false, None) => client.token_revoke_self().await?,
        (Some(id), false, true, None) => client.token_revoke_accessor(&id).await?,
        (Some(token), false, false, None | Some("path")) => client.token_revoke(&token).await?,
        (Some(token), false, false, Some("orphan")) => client.token_revoke_orphan(&token).await?,
        (_, _, _, Some(other)) if other != "orphan" && other != "path" => {
            anyhow::bail!("unknown -mode {other:?} (use orphan)")
        }
        (None, false, _, _) => anyhow::bail!("give a token to revoke, or -self"),
        _ => anyhow::bail!("-self cannot be combined with a token or -accessor"),
    }
    output::line("Success! Revoked token (if it existed)");
    Ok(Outcome::Success)
}

/// `coffer login TOKEN`: checks the token and stores it in the token file (mode 0600).
pub(crate) async fn login(
    client: &Client,
    format: Format,
    args: LoginArgs,
) -> anyhow::Result<Outcome> {
    let token = read_secret(args.token, "Token (will be hidden): ")?;
    let envelope = client.with_token(token.clone()).token_lookup_self().await?;
    let data = envelope.data.clone().unwrap_or_default();
    if !args.no_store {
        let path = connection::store_token(&token)?;
        if format == Format::Table {
            output::line(&format!(
                "Success! You are now authenticated. The token is stored in {} and will be used\n\
                 automatically by later commands (COFFER_TOKEN overrides it).\n",
                path.display()
            ));
        }
    } else if format == Format::Table {
        output::line("Success! The token is valid (not stored because of -no-store).\n");
    }
    let get = |key: &str| data.get(key).cloned().unwrap_or(Value::Null);
    let rows = vec![
        ("token".to_owned(), json!(token)),
        ("token_accessor".to_owned(), get("accessor")),
        (
            "token_duration".to_owned(),
            json!(duration_text(get("ttl").as_u64().unwrap_or(0))),
        ),
        ("token_renewable".to_owned(), get("renewable")),
        ("token_policies".to_owned(), get("policies")),
        ("identity_policies".to_owned(), json!([])),
        ("policies".to_owned(), get("policies")),
    ];
    let full = serde_json::to_value(&envelope).context("encoding the reply")?;
    print_fields(format, None, &rows, &full)?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_vault() {
        assert_eq!(duration_text(0), "∞");
        assert_eq!(duration_text(3600), "1h");
        assert_eq!(duration_text(5400), "1h30m");
        assert_eq!(duration_text(59), "59s");
        assert_eq!(duration_text(2_764_800), "768h");
    }
}
