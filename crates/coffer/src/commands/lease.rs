//! `coffer lease create|get|lookup|renew|revoke|list|revoke-identity`: leases on credentials.
//! A lease is how an agent gets a credential's value, so `create` and `get` print the value the
//! way `vault read database/creds/…` prints a dynamic secret: `lease_id`, `lease_duration` and
//! `lease_renewable` rows, then the lease's facts and `value` (`-field=value` prints the value
//! alone). The passphrase of a key is printed only with `-include-passphrase`.
//! `list -failed` shows the leases whose revocation failed (retried with backoff, or given up)
//! and `revoke -prefix -force` removes leases whatever their engine says.

use anyhow::Context;
use coffer_api::credentials::{
    FailedLeaseList, Lease, LeaseId, LeaseIdentity, LeaseList, LeaseRequest,
};
use coffer_client::Client;
use serde_json::{Value, json};

use super::credentials::{duration_flag, identity_arg};
use super::token::duration_text;
use super::{Outcome, print_fields, print_raw};
use crate::cli::{LeaseCommand, LeaseCreateArgs};
use crate::output::{self, Format};

/// Runs one `coffer lease …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: LeaseCommand,
) -> anyhow::Result<Outcome> {
    match command {
        LeaseCommand::Create(args) => create(client, format, args).await,
        LeaseCommand::Get { lease_id, field } => {
            let lease = client.lease_read(&lease_id_arg(&lease_id)?).await?;
            print_lease(format, field.as_deref(), &lease)?;
            Ok(Outcome::Success)
        }
        LeaseCommand::Lookup { lease_id, field } => {
            lookup(client, format, &lease_id, field.as_deref()).await
        }
        LeaseCommand::Renew {
            lease_id,
            increment,
            field,
        } => renew(client, format, &lease_id, increment, field.as_deref()).await,
        LeaseCommand::Revoke {
            lease_id,
            prefix,
            force,
        } => {
            if force {
                client.lease_revoke_force(&lease_id).await?;
                output::line(&format!(
                    "Success! Force-revoked every lease under {}",
                    lease_id.trim()
                ));
            } else if prefix {
                client.lease_revoke_prefix(&lease_id).await?;
                output::line(&format!(
                    "Success! Revoked every lease under {}",
                    lease_id.trim()
                ));
            } else {
                let id = lease_id_arg(&lease_id)?;
                client.lease_revoke(&id).await?;
                output::line(&format!("Success! Revoked lease {id} (if it was active)"));
            }
            Ok(Outcome::Success)
        }
        LeaseCommand::List { failed: true, .. } => list_failed(client, format).await,
        LeaseCommand::List {
            credential,
            identity,
            failed: false,
        } => list(client, format, credential, identity).await,
        LeaseCommand::RevokeIdentity { identity } => {
            let identity = identity_arg("the identity", &identity)?;
            let revoked = client.lease_revoke_identity(&identity).await?;
            match format {
                Format::Table => output::line(&format!(
                    "Success! Revoked {} lease(s) held by {}",
                    revoked.count, revoked.identity
                )),
                other => {
                    output::encoded(other, &serde_json::to_value(&revoked).context("encoding")?)
                }
            }
            Ok(Outcome::Success)
        }
    }
}

fn lease_id_arg(text: &str) -> anyhow::Result<LeaseId> {
    let id = LeaseId::new(text);
    if id.as_str().is_empty() {
        anyhow::bail!("a lease id is required, e.g. credentials/db/lease/<id>");
    }
    Ok(id)
}

/// The `Key  Value` rows of a lease, value included (passphrase only when the server sent it).
fn lease_rows(lease: &Lease) -> Vec<(String, Value)> {
    let mut identity = format!("{}:{}", lease.identity.kind, lease.identity.name);
    if let Some(purpose) = &lease.identity.purpose {
        identity.push_str(&format!(" ({purpose})"));
    }
    let mut rows = vec![
        ("lease_id".to_owned(), json!(lease.lease_id)),
        ("lease_duration".to_owned(), json!(duration_text(lease.ttl))),
        ("lease_renewable".to_owned(), json!(lease.renewable)),
        ("credential".to_owned(), json!(lease.credential_name)),
        ("version".to_owned(), json!(lease.version)),
        ("identity".to_owned(), json!(identity)),
        ("issuedAt".to_owned(), json!(lease.issued_at)),
        ("expiresAt".to_owned(), json!(lease.expires_at)),
        ("value".to_owned(), json!(lease.value.expose())),
    ];
    if let Some(passphrase) = &lease.passphrase {
        rows.push(("passphrase".to_owned(), json!(passphrase.expose())));
    }
    rows
}

/// Prints a lease: a table, one field (a table row or a key of the JSON form), or JSON/YAML.
fn print_lease(format: Format, field: Option<&str>, lease: &Lease) -> anyhow::Result<()> {
    let rows = lease_rows(lease);
    let json = serde_json::to_value(lease).context("encoding the lease")?;
    if let Some(field) = field
        && !rows.iter().any(|(key, _)| key == field)
        && let Some(value) = json.get(field)
    {
        print_raw(&output::cell(value));
        return Ok(());
    }
    print_fields(format, field, &rows, &json)
}

async fn create(client: &Client, format: Format, args: LeaseCreateArgs) -> anyhow::Result<Outcome> {
    let request = LeaseRequest {
        ttl: args
            .ttl
            .as_deref()
            .map(|t| duration_flag("ttl", t))
            .transpose()?,
        identity: args
            .identity
            .as_deref()
            .map(|text| {
                identity_arg("-identity", text).map(|id| LeaseIdentity {
                    kind: id.kind,
                    name: id.name,
                    purpose: None,
                })
            })
            .transpose()?,
        purpose: args.purpose,
        include_passphrase: args.include_passphrase,
    };
    let reply = client
        .credentials()
        .lease(&args.credential, &request)
        .await?;
    output::warnings(&reply.warnings);
    print_lease(format, args.field.as_deref(), &reply.data)?;
    Ok(Outcome::Success)
}

async fn lookup(
    client: &Client,
    format: Format,
    lease_id: &str,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let lookup = client.lease_lookup(&lease_id_arg(lease_id)?).await?;
    let mut rows = vec![
        ("id".to_owned(), json!(lookup.id)),
        ("issue_time".to_owned(), json!(lookup.issue_time)),
        ("expire_time".to_owned(), json!(lookup.expire_time)),
        (
            "last_renewal".to_owned(),
            json!(lookup.last_renewal.clone().unwrap_or_default()),
        ),
        ("renewable".to_owned(), json!(lookup.renewable)),
        ("ttl".to_owned(), json!(duration_text(lookup.ttl))),
        ("identity".to_owned(), json!(lookup.identity.to_string())),
    ];
    if let Some(purpose) = &lookup.purpose {
        rows.push(("purpose".to_owned(), json!(purpose)));
    }
    let json = serde_json::to_value(&lookup).context("encoding the lease")?;
    print_fields(format, field, &rows, &json)?;
    Ok(Outcome::Success)
}

async fn renew(
    client: &Client,
    format: Format,
    lease_id: &str,
    increment: Option<String>,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let increment = increment
        .map(|i| duration_flag("increment", &i))
        .transpose()?;
    let renewal = client
        .lease_renew(&lease_id_arg(lease_id)?, increment.as_deref())
        .await?;
    output::warnings(renewal.warnings.as_deref().unwrap_or_default());
    let rows = vec![
        ("lease_id".to_owned(), json!(renewal.lease_id)),
        (
            "lease_duration".to_owned(),
            json!(duration_text(renewal.lease_duration)),
        ),
        ("lease_renewable".to_owned(), json!(renewal.renewable)),
    ];
    let json = serde_json::to_value(&renewal).context("encoding the lease")?;
    print_fields(format, field, &rows, &json)?;
    Ok(Outcome::Success)
}

/// One row per lease: id, credential, holder, version, expiry and time left.
fn list_rows(list: &LeaseList, credential: Option<&str>) -> Vec<Vec<String>> {
    list.keys
        .iter()
        .map(|key| match list.key_info.get(key) {
            Some(info) => vec![
                info.lease_id.to_string(),
                info.credential_name
                    .clone()
                    .or_else(|| credential.map(str::to_owned))
                    .unwrap_or_default(),
                info.identity.to_string(),
                info.version.map(|v| v.to_string()).unwrap_or_default(),
                info.expires_at.clone(),
                duration_text(info.ttl),
            ],
            None => vec![key.clone()],
        })
        .collect()
}

async fn list(
    client: &Client,
    format: Format,
    credential: Option<String>,
    identity: Option<String>,
) -> anyhow::Result<Outcome> {
    let list = match (&credential, &identity) {
        (Some(name), None) => client.credentials().leases(name).await?,
        (None, Some(identity)) => {
            let identity = identity_arg("-identity", identity)?;
            client.leases_by_identity(&identity).await?
        }
        _ => anyhow::bail!("give exactly one of -credential=NAME or -identity=type:name"),
    };
    match format {
        Format::Table if list.keys.is_empty() => output::line("No active leases"),
        Format::Table => output::column_table(
            &[
                "Lease ID",
                "Credential",
                "Identity",
                "Version",
                "Expires",
                "TTL",
            ],
            &list_rows(&list, credential.as_deref()),
        ),
        other => output::encoded(other, &serde_json::to_value(&list).context("encoding")?),
    }
    Ok(Outcome::Success)
}

/// The columns of `lease list -failed`.
const FAILED_HEADERS: [&str; 6] = [
    "Lease ID",
    "Identity",
    "State",
    "Attempts",
    "Next attempt",
    "Last error",
];

/// One row per failed lease: id, holder, state, attempts, next attempt (`never` once
/// irrevocable) and the engine's last message.
fn failed_rows(list: &FailedLeaseList) -> Vec<Vec<String>> {
    list.keys
        .iter()
        .map(|key| match list.key_info.get(key) {
            Some(info) => vec![
                info.lease_id.to_string(),
                info.identity.to_string(),
                info.state.clone(),
                info.attempts.to_string(),
                info.next_attempt_at
                    .clone()
                    .unwrap_or_else(|| "never".to_owned()),
                info.last_error.clone().unwrap_or_default(),
            ],
            None => vec![key.clone()],
        })
        .collect()
}

async fn list_failed(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let list = client.leases_failed().await?;
    match format {
        Format::Table if list.keys.is_empty() => output::line("No failed lease revocations"),
        Format::Table => output::column_table(&FAILED_HEADERS, &failed_rows(&list)),
        other => output::encoded(other, &serde_json::to_value(&list).context("encoding")?),
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_api::credentials::{FailedLease, Identity};

    #[test]
    fn failed_leases_print_one_row_each() {
        let lease = |id: &str, state: &str, attempts: u32, next: Option<&str>| FailedLease {
            lease_id: LeaseId::new(id),
            path: "database/creds/ro".into(),
            namespace: String::new(),
            identity: Identity {
                kind: "agent".into(),
                name: "etl".into(),
            },
            purpose: None,
            issued_at: "2026-11-22T10:00:00Z".into(),
            expires_at: "2026-11-22T11:00:00Z".into(),
            state: state.into(),
            attempts,
            last_error: Some("database unreachable".into()),
            first_failed_at: Some("2026-11-22T11:00:00Z".into()),
            last_attempt_at: Some("2026-11-22T11:00:04Z".into()),
            next_attempt_at: next.map(str::to_owned),
        };
        let a = lease(
            "database/creds/ro/a",
            "retrying",
            3,
            Some("2026-11-22T11:00:08Z"),
        );
        let b = lease("database/creds/ro/b", "irrevocable", 6, None);
        let list = FailedLeaseList {
            keys: vec!["database/creds/ro/a".into(), "database/creds/ro/b".into()],
            key_info: [a, b]
                .into_iter()
                .map(|l| (l.lease_id.to_string(), l))
                .collect(),
        };
        let text = output::columns(&FAILED_HEADERS, &failed_rows(&list));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("Lease ID"), "{text}");
        assert!(lines[0].ends_with("Last error"), "{text}");
        assert!(
            lines[2].starts_with("database/creds/ro/a")
                && lines[2].contains("agent:etl")
                && lines[2].contains("retrying")
                && lines[2].contains("2026-11-22T11:00:08Z")
                && lines[2].ends_with("database unreachable"),
            "{text}"
        );
        assert!(
            lines[3].contains("irrevocable") && lines[3].contains("never"),
            "{text}"
        );
    }
}
