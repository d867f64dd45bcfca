//! Connection configs, `config/<name>`: which plugin, how to connect (`connection_url` with
//! `{{username}}`/`{{password}}`, `username`, `password`), which roles may use it
//! (`allowed_roles`, `*` for any) and whether to check the connection when it is written
//! (`verify_connection`, default true). The password is stored behind the barrier and never read
//! back (Vault omits it). `rotate-root/<name>` replaces it with a generated one.

use coffer_barrier::View;
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::plugin::{ConnectionSettings, DEFAULT_MAX_CONNECTIONS, Password, PluginKind};
use super::{decode, encode, refuse_unknown_fields};
use crate::auth::fields;
use crate::barrier_error;

/// The largest pool a config may ask for.
const MAX_POOL: usize = 16;

/// One stored connection config.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(super) struct ConfigRecord {
    pub(super) plugin_name: String,
    pub(super) connection_url: String,
    pub(super) username: String,
    pub(super) password: String,
    pub(super) allowed_roles: Vec<String>,
    pub(super) verify_connection: bool,
    pub(super) max_open_connections: usize,
    #[serde(default)]
    pub(super) root_rotation_statements: Vec<String>,
}

impl std::fmt::Debug for ConfigRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigRecord")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .field("allowed_roles", &self.allowed_roles)
            .finish_non_exhaustive()
    }
}

impl ConfigRecord {
    /// The plugin this config uses.
    pub(super) fn kind(&self) -> Result<PluginKind> {
        PluginKind::from_plugin_name(&self.plugin_name)
            .ok_or_else(|| unknown_plugin(&self.plugin_name))
    }

    /// Whether `role` may use this config.
    pub(super) fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }

    /// What the plugin is opened with.
    pub(super) fn settings(&self) -> Result<ConnectionSettings> {
        Ok(ConnectionSettings {
            kind: self.kind()?,
            connection_url: Zeroizing::new(self.connection_url.clone()),
            username: self.username.clone(),
            password: Password::new(self.password.clone()),
            max_connections: self.max_open_connections,
        })
    }

    /// What a read shows: never the password.
    pub(super) fn to_json(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert(
            "connection_url".into(),
            json!(redact_url(&self.connection_url)),
        );
        details.insert("username".into(), json!(self.username));
        details.insert(
            "max_open_connections".into(),
            json!(self.max_open_connections),
        );
        let mut out = Map::new();
        out.insert("plugin_name".into(), json!(self.plugin_name));
        out.insert("plugin_version".into(), json!(""));
        out.insert("connection_details".into(), Value::Object(details));
        out.insert("allowed_roles".into(), json!(self.allowed_roles));
        out.insert("verify_connection".into(), json!(self.verify_connection));
        out.insert(
            "root_credentials_rotate_statements".into(),
            json!(self.root_rotation_statements),
        );
        out.insert("password_policy".into(), json!(""));
        out
    }

    /// Applies a write's fields on top of `self` (an existing config, or the defaults).
    pub(super) fn apply(&mut self, data: &Map<String, Value>) -> Result<()> {
        refuse_unknown_fields(
            data,
            &[
                "plugin_name",
                "plugin_version",
                "connection_url",
                "username",
                "password",
                "allowed_roles",
                "verify_connection",
                "max_open_connections",
                "max_idle_connections",
                "max_connection_lifetime",
                "root_rotation_statements",
            ],
        )?;
        if let Some(name) = fields::string(data, "plugin_name")? {
            PluginKind::from_plugin_name(&name).ok_or_else(|| unknown_plugin(&name))?;
            self.plugin_name = name;
        }
        if self.plugin_name.is_empty() {
            return Err(Error::invalid("plugin_name is required"));
        }
        if let Some(url) = fields::secret(data, "connection_url")? {
            self.connection_url = url.to_string();
        }
        if self.connection_url.is_empty() {
            return Err(Error::invalid("connection_url is required"));
        }
        if let Some(username) = fields::string(data, "username")? {
            self.username = username;
        }
        if let Some(password) = fields::secret(data, "password")? {
            self.password = password.to_string();
        }
        if let Some(roles) = fields::string_list(data, "allowed_roles")? {
            self.allowed_roles = roles;
        }
        if let Some(verify) = fields::boolean(data, "verify_connection")? {
            self.verify_connection = verify;
        }
        if let Some(max) = fields::count(data, "max_open_connections")? {
            let max = usize::try_from(max).unwrap_or(MAX_POOL);
            self.max_open_connections = if max == 0 {
                DEFAULT_MAX_CONNECTIONS
            } else {
                max.min(MAX_POOL)
            };
        }
        if let Some(statements) = super::statements(data, "root_rotation_statements")? {
            self.root_rotation_statements = statements;
        }
        Ok(())
    }
}

impl Default for ConfigRecord {
    fn default() -> Self {
        ConfigRecord {
            plugin_name: String::new(),
            connection_url: String::new(),
            username: String::new(),
            password: String::new(),
            allowed_roles: Vec::new(),
            verify_connection: true,
            max_open_connections: DEFAULT_MAX_CONNECTIONS,
            root_rotation_statements: Vec::new(),
        }
    }
}

/// A connection URL as reads show it: a password written into it (rather than the
/// `{{password}}` placeholder) is replaced by `*****`, in URL (`scheme://user:pass@host/…`) and
/// Go DSN (`user:pass@tcp(host)/db`) forms alike.
fn redact_url(url: &str) -> String {
    if !url.contains("://") && url.contains("password=") {
        // A PostgreSQL key/value string.
        return url
            .split(' ')
            .map(|part| match part.strip_prefix("password=") {
                Some(value) if value != "{{password}}" && !value.is_empty() => "password=*****",
                _ => part,
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    let (start, authority_end) = match url.find("://") {
        Some(at) => {
            let start = at + 3;
            let end = url[start..].find('/').map_or(url.len(), |i| start + i);
            (start, end)
        }
        None => (0, url.rfind('/').unwrap_or(url.len())),
    };
    let authority = &url[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((_, password)) if !password.is_empty() && password != "{{password}}" => format!(
            "{}{}:*****{}",
            &url[..start],
            &userinfo[..userinfo.len() - password.len() - 1],
            &url[start + at..]
        ),
        _ => url.to_owned(),
    }
}

fn unknown_plugin(name: &str) -> Error {
    Error::invalid(format!(
        "unknown plugin_name {name:?}: use postgresql-database-plugin or mysql-database-plugin"
    ))
}

fn key(name: &str) -> String {
    format!("config/{name}")
}

/// The config `name`, if it exists.
pub(super) async fn load(storage: &View, name: &str) -> Result<Option<ConfigRecord>> {
    let key = key(name);
    match storage.get(&key).await.map_err(barrier_error)? {
        Some(bytes) => Ok(Some(decode(&bytes, storage, &key)?)),
        None => Ok(None),
    }
}

/// Stores the config `name`.
pub(super) async fn save(storage: &View, name: &str, record: &ConfigRecord) -> Result<()> {
    storage
        .put(&key(name), &encode(record))
        .await
        .map_err(barrier_error)
}

/// Deletes the config `name`.
pub(super) async fn delete(storage: &View, name: &str) -> Result<()> {
    storage.delete(&key(name)).await.map_err(barrier_error)
}

/// Every config name.
pub(super) async fn names(storage: &View) -> Result<Vec<String>> {
    super::list_names(storage, "config/").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_passwords_are_redacted_on_read() {
        let check = |url: &str, expect: &str| assert_eq!(redact_url(url), expect, "{url}");
        check(
            "postgresql://{{username}}:{{password}}@127.0.0.1:5432/test",
            "postgresql://{{username}}:{{password}}@127.0.0.1:5432/test",
        );
        check(
            "postgresql://admin:s3cr@t@db:5432/app",
            "postgresql://admin:*****@db:5432/app",
        );
        check(
            "root:password@tcp(localhost:3306)/",
            "root:*****@tcp(localhost:3306)/",
        );
        check(
            "{{username}}:{{password}}@tcp(127.0.0.1:3306)/",
            "{{username}}:{{password}}@tcp(127.0.0.1:3306)/",
        );
        check("root@tcp(h:3306)/db", "root@tcp(h:3306)/db");
        check("host=db user=x", "host=db user=x");
        check(
            "host=db user=x password=hunter2 dbname=app",
            "host=db user=x password=***** dbname=app",
        );
    }
}
