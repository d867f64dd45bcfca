//! Type-aware rotation of `database-url` credentials ("two users"): a credential whose policy
//! names a database config (`policy.database`) rotates with `{"generate": true}`: a new login
//! (`<base>_v<N>`, a generated password) is created with the config's privileged connection,
//! reached through the core's [`Peers`], and the new version's URL is the current one with the
//! new user and password. Each version owns its own login, so the old URL keeps working while
//! leases on the old version remain; the login is dropped when the version's value is destroyed
//! (at rotation when nobody holds it, else when its last lease ends). Only logins Coffer created
//! are dropped: a value supplied by hand keeps its login.

use coffer_core::engine::{DatabaseConnector, Peers};
use coffer_core::{Error, Result};
use coffer_credentials::{CredentialType, SecretValue};
use serde::{Deserialize, Serialize};

use super::record::{CredentialRecord, StoredValue};
use crate::database::plugin::Password;

/// The login a version's value logs in as, when Coffer created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionLogin {
    /// The database engine's mount, e.g. `database/`.
    pub(crate) mount: String,
    /// The config name.
    pub(crate) config: String,
    /// The login's username (not secret).
    pub(crate) username: String,
    /// What drops it (empty: the plugin's default).
    #[serde(default)]
    pub(crate) revocation_statements: Vec<String>,
}

fn peers(peers: Option<&Peers>) -> Result<&Peers> {
    peers.ok_or_else(|| Error::invalid("other mounts cannot be reached on this path"))
}

async fn connector(
    peers: &Peers,
    mount: &str,
    config: &str,
) -> Result<std::sync::Arc<dyn DatabaseConnector>> {
    peers.database(mount, config).await
}

/// Creates the login of version `version` from the credential's current value and returns the
/// new URL and the login. Nothing is created when a check fails.
pub(super) async fn generate(
    record: &CredentialRecord,
    current: &StoredValue,
    peers_of: Option<&Peers>,
    version: u64,
) -> Result<(SecretValue, VersionLogin)> {
    let name = &record.name;
    if record.kind != CredentialType::DatabaseUrl.as_str() {
        return Err(Error::invalid(format!(
            "generate works for database-url credentials only; credential {name:?} is a {}: give newValue",
            record.kind
        )));
    }
    let Some(database) = &record.policy.database else {
        return Err(Error::invalid(format!(
            "credential {name:?} names no database: set policy.database (config, creationStatements, optional mount and revocationStatements) to rotate with generate, or give newValue"
        )));
    };
    let connector = connector(peers(peers_of)?, &database.mount, &database.config).await?;
    let mut url = url::Url::parse(&current.value).map_err(|_| {
        Error::invalid(format!(
            "the current value of credential {name:?} is not a URL Coffer can rewrite"
        ))
    })?;
    let username = login_name(url.username(), version, connector.max_username_len());
    let password = Password::generate()
        .map_err(|_| Error::Upstream("the random number generator failed".into()))?;
    url.set_username(&username)
        .and_then(|()| url.set_password(Some(password.expose())))
        .map_err(|()| {
            Error::invalid(format!(
                "the current value of credential {name:?} has no user to replace"
            ))
        })?;
    connector
        .create_user(&database.creation_statements, &username, password.expose())
        .await?;
    let value = SecretValue::new(url.to_string());
    Ok((
        value,
        VersionLogin {
            mount: database.mount.clone(),
            config: database.config.clone(),
            username,
            revocation_statements: database.revocation_statements.clone(),
        },
    ))
}

/// Drops a version's login; dropping one already gone succeeds.
pub(super) async fn drop_login(login: &VersionLogin, peers_of: Option<&Peers>) -> Result<()> {
    connector(peers(peers_of)?, &login.mount, &login.config)
        .await?
        .drop_user(&login.revocation_statements, &login.username)
        .await
}

/// `<base>_v<version>`: the current user's name without an earlier `_v<N>` suffix, keeping
/// `[a-z0-9_]` (others become `_`), cut so the whole fits `max` characters.
fn login_name(current: &str, version: u64, max: usize) -> String {
    let decoded = percent_decode(current);
    let base = match decoded.rsplit_once("_v") {
        Some((base, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => base,
        _ => decoded.as_str(),
    };
    let mut base: String = base
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() {
        base = "coffer".to_owned();
    }
    let suffix = format!("_v{version}");
    base.truncate(max.saturating_sub(suffix.len()).max(1));
    format!("{base}{suffix}")
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_replace_the_version_suffix_and_fit() {
        assert_eq!(login_name("app", 2, 63), "app_v2");
        assert_eq!(login_name("app_v2", 3, 63), "app_v3");
        assert_eq!(login_name("App-User", 2, 63), "app_user_v2");
        assert_eq!(login_name("", 2, 63), "coffer_v2");
        assert_eq!(
            login_name("a_very_long_user_name_indeed_yes", 12, 32).len(),
            32
        );
        assert!(login_name("a_very_long_user_name_indeed_yes", 12, 32).ends_with("_v12"));
    }
}
