//! `coffer audit enable|disable|list|hash|verify|logs`: audit devices through `sys/audit`, the
//! local verifier of hash-chained audit files, and queries of the audit log through
//! `sys/audit-logs`.

use anyhow::Context;
use serde_json::{Map, Value, json};

use super::Outcome;
use crate::cli::{AuditCommand, AuditLogsArgs, ClientArgs};
use crate::connection;
use crate::output::{self, Format};

/// Runs one `coffer audit …` command.
pub(crate) async fn run(
    client_args: &ClientArgs,
    format: Format,
    command: AuditCommand,
) -> anyhow::Result<Outcome> {
    match command {
        AuditCommand::Verify { file } => verify(format, &file),
        AuditCommand::Enable {
            kind,
            options,
            path,
            description,
        } => {
            let client = connection::client(client_args)?;
            let mut opts = Map::new();
            for pair in &options {
                let (key, value) = pair
                    .split_once('=')
                    .with_context(|| format!("option {pair:?} must be key=value"))?;
                opts.insert(key.to_owned(), json!(value));
            }
            let path = path.unwrap_or_else(|| kind.clone());
            let path = path.trim_matches('/').to_owned();
            let mut body = Map::new();
            body.insert("type".into(), json!(kind));
            body.insert("description".into(), json!(description.unwrap_or_default()));
            body.insert("options".into(), Value::Object(opts));
            body.insert("local".into(), json!(false));
            client.write(&format!("sys/audit/{path}"), &body).await?;
            output::line(&format!(
                "Success! Enabled the {kind} audit device at: {path}/"
            ));
            Ok(Outcome::Success)
        }
        AuditCommand::Disable { path } => {
            let client = connection::client(client_args)?;
            let path = path.trim_matches('/').to_owned();
            client.delete(&format!("sys/audit/{path}")).await?;
            output::line(&format!(
                "Success! Disabled audit device (if it was enabled) at: {path}/"
            ));
            Ok(Outcome::Success)
        }
        AuditCommand::List => {
            let client = connection::client(client_args)?;
            let devices = client
                .read("sys/audit")
                .await?
                .and_then(|e| e.data)
                .unwrap_or_default();
            match format {
                Format::Table if devices.is_empty() => {
                    output::line("No audit devices are enabled.")
                }
                Format::Table => {
                    let rows: Vec<Vec<String>> = devices
                        .iter()
                        .map(|(path, d)| {
                            vec![
                                path.clone(),
                                d.get("type").map(output::cell).unwrap_or_default(),
                                d.get("description").map(output::cell).unwrap_or_default(),
                            ]
                        })
                        .collect();
                    output::column_table(&["Path", "Type", "Description"], &rows);
                }
                other => output::encoded(other, &Value::Object(devices)),
            }
            Ok(Outcome::Success)
        }
        AuditCommand::Hash { device, input } => {
            let client = connection::client(client_args)?;
            let mut body = Map::new();
            body.insert("input".into(), json!(input));
            let reply = client
                .write(
                    &format!("sys/audit-hash/{}", device.trim_matches('/')),
                    &body,
                )
                .await?;
            let hash = reply
                .and_then(|e| e.data)
                .and_then(|d| d.get("hash").cloned())
                .unwrap_or(Value::Null);
            match format {
                Format::Table => output::line(&output::cell(&hash)),
                other => output::encoded(other, &json!({ "hash": hash })),
            }
            Ok(Outcome::Success)
        }
        AuditCommand::Logs(args) => logs(client_args, format, args).await,
    }
}

fn verify(format: Format, file: &std::path::Path) -> anyhow::Result<Outcome> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let report = coffer_audit::verify(std::io::BufReader::new(handle))
        .with_context(|| format!("reading {}", file.display()))?;
    let problem = report.problem.as_ref().map(describe);
    match format {
        Format::Table => match &problem {
            None => output::line(&format!(
                "OK: {} records, the hash chain is intact",
                report.records
            )),
            Some(text) => output::line(&format!("TAMPERED: {text}")),
        },
        other => output::encoded(
            other,
            &json!({ "records": report.records, "intact": problem.is_none(), "problem": problem }),
        ),
    }
    Ok(if problem.is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn describe(problem: &coffer_audit::Problem) -> String {
    match problem {
        coffer_audit::Problem::Modified { line } => format!("record at line {line} was modified"),
        coffer_audit::Problem::Removed { after_line } => {
            format!("a record after line {after_line} was removed")
        }
        coffer_audit::Problem::Inserted { line } => format!("record at line {line} was inserted"),
        coffer_audit::Problem::Reordered { line } => {
            format!("record at line {line} is out of order")
        }
        coffer_audit::Problem::Malformed { line, reason } => {
            format!("line {line} is not an audit record: {reason}")
        }
    }
}

async fn logs(
    client_args: &ClientArgs,
    format: Format,
    args: AuditLogsArgs,
) -> anyhow::Result<Outcome> {
    let client = connection::client(client_args)?;
    let mut query = Vec::new();
    let mut push = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            query.push(format!("{key}={}", encode(value)));
        }
    };
    push("resource", &args.resource);
    push("action", &args.action);
    push("actor", &args.actor);
    push("path", &args.path);
    push("since", &args.since);
    push("until", &args.until);
    push("result", &args.result);
    push("device", &args.device);
    push("limit", &args.limit.map(|l| l.to_string()));
    let path = if query.is_empty() {
        "sys/audit-logs".to_owned()
    } else {
        format!("sys/audit-logs?{}", query.join("&"))
    };
    let records = client
        .read(&path)
        .await?
        .and_then(|e| e.data)
        .and_then(|mut d| d.remove("records"))
        .unwrap_or(Value::Array(Vec::new()));
    let list = records.as_array().cloned().unwrap_or_default();
    match format {
        Format::Table if list.is_empty() => output::line("No matching audit records"),
        Format::Table => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|r| {
                    ["time", "actor", "action", "path", "result"]
                        .iter()
                        .map(|k| r.get(*k).map(output::cell).unwrap_or_default())
                        .collect()
                })
                .collect();
            output::column_table(&["Time", "Actor", "Action", "Path", "Result"], &rows);
        }
        other => output::encoded(other, &records),
    }
    Ok(Outcome::Success)
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
