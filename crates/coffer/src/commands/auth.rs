//! `coffer auth enable|disable|list`: auth method mounts through `sys/auth`, with the requests
//! and output of Vault's `auth` commands.

use anyhow::Context;
use coffer_client::Client;
use serde_json::{Value, json};

use super::Outcome;
use super::secrets::{mount_path, mounts_of, simple_rows};
use crate::cli::{AuthCommand, AuthEnableArgs};
use crate::output::{self, Format};

/// Runs one `coffer auth …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: AuthCommand,
) -> anyhow::Result<Outcome> {
    match command {
        AuthCommand::Enable(args) => enable(client, args).await,
        AuthCommand::Disable { path } => disable(client, &path).await,
        AuthCommand::List => list(client, format).await,
    }
}

/// The `sys/auth/<path>` body Vault's CLI sends for `auth enable`.
fn enable_body(args: &AuthEnableArgs) -> Value {
    json!({
        "type": args.method,
        "description": args.description.clone().unwrap_or_default(),
        "config": {},
        "local": false,
        "seal_wrap": false,
    })
}

/// `coffer auth enable [-path=P] [-description=D] TYPE`.
async fn enable(client: &Client, args: AuthEnableArgs) -> anyhow::Result<Outcome> {
    let path = mount_path(args.path.as_deref().unwrap_or(&args.method))?;
    client
        .raw(
            "POST",
            &format!("sys/auth/{path}"),
            Some(&enable_body(&args)),
        )
        .await
        .with_context(|| format!("enabling an auth method at {path}/"))?;
    output::line(&format!(
        "Success! Enabled {} auth method at: {path}/",
        args.method
    ));
    Ok(Outcome::Success)
}

/// `coffer auth disable PATH`.
async fn disable(client: &Client, path: &str) -> anyhow::Result<Outcome> {
    let path = mount_path(path)?;
    client
        .raw("DELETE", &format!("sys/auth/{path}"), None)
        .await
        .with_context(|| format!("disabling the auth method at {path}/"))?;
    output::line(&format!(
        "Success! Disabled the auth method (if it existed) at: {path}/"
    ));
    Ok(Outcome::Success)
}

/// `coffer auth list`: `Path  Type  Accessor  Description`, or the mounts as JSON/YAML.
async fn list(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let reply = client
        .raw("GET", "sys/auth", None)
        .await
        .context("listing auth methods")?;
    let mounts = mounts_of(reply.body);
    match format {
        Format::Table => output::column_table(
            &["Path", "Type", "Accessor", "Description"],
            &simple_rows(&mounts),
        ),
        Format::Json | Format::Yaml => output::encoded(format, &Value::Object(mounts)),
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_bodies() {
        let args = AuthEnableArgs {
            method: "userpass".into(),
            path: Some("people".into()),
            description: Some("staff logins".into()),
        };
        assert_eq!(
            enable_body(&args),
            json!({"type": "userpass", "description": "staff logins", "config": {},
                   "local": false, "seal_wrap": false})
        );
        let bare = AuthEnableArgs {
            method: "approle".into(),
            path: None,
            description: None,
        };
        assert_eq!(enable_body(&bare)["description"], json!(""));
    }
}
