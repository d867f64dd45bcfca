//! The plug point between the database engine and a database server: the [`DatabasePlugin`]
//! trait (verify a connection, create, renew and revoke a user, set a user's password), the
//! connection settings every plugin is opened from, statement templates and the values they may
//! hold, and the generation of usernames and passwords.
//!
//! This module is also the reusable connection layer for other engines (e.g. rotating the
//! password of a `database-url` credential): build [`ConnectionSettings`], call [`open`], then
//! [`DatabasePlugin::set_password`] with no statements for the plugin's default.
//!
//! Statements are SQL templates. Identifiers and passwords in DDL cannot be bound as parameters,
//! so only the values the engine produces (a generated or configured username, a generated
//! password, an expiration time) are ever substituted into `{{name}}` (or `{{username}}`),
//! `{{password}}` and `{{expiration}}`, each escaped for the quoting it stands in: inside `'…'`
//! as a string literal, inside `"…"` or `` `…` `` as a quoted identifier, and bare as a complete
//! quoted literal or identifier. Errors never carry a password: the database's messages are
//! scrubbed of every secret value before they leave the plugin.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The connection pool size when the config sets none.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// How long one database operation (connecting included) may take.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// What talking to a database can fail with. Messages never hold a password.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The connection URL (or DSN) cannot be used; the message says why, without the URL.
    #[error("invalid connection_url: {0}")]
    InvalidConnectionUrl(String),
    /// A statement template cannot be used (e.g. an unterminated quote).
    #[error("invalid statement: {0}")]
    InvalidStatement(String),
    /// The database could not be reached or refused the connection.
    #[error("could not connect to the database: {0}")]
    Unreachable(String),
    /// The database refused a statement.
    #[error("the database refused the statement: {0}")]
    Statement(String),
    /// The operation did not finish in time.
    #[error("the database did not answer within {} seconds", OPERATION_TIMEOUT.as_secs())]
    Timeout,
}

impl DatabaseError {
    /// Whether trying again later may succeed (the database was unreachable or slow).
    pub fn is_transient(&self) -> bool {
        matches!(self, DatabaseError::Unreachable(_) | DatabaseError::Timeout)
    }
}

/// Result of a database operation.
pub type DbResult<T> = std::result::Result<T, DatabaseError>;

/// Which database a plugin speaks, by Vault's plugin names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// `postgresql-database-plugin`.
    Postgres,
    /// `mysql-database-plugin` (MySQL and MariaDB).
    Mysql,
}

impl PluginKind {
    /// The kind for Vault's `plugin_name`, or `None` for a plugin Coffer does not have.
    pub fn from_plugin_name(name: &str) -> Option<PluginKind> {
        match name {
            "postgresql-database-plugin" => Some(PluginKind::Postgres),
            "mysql-database-plugin" => Some(PluginKind::Mysql),
            _ => None,
        }
    }

    /// Vault's `plugin_name`.
    pub fn plugin_name(self) -> &'static str {
        match self {
            PluginKind::Postgres => "postgresql-database-plugin",
            PluginKind::Mysql => "mysql-database-plugin",
        }
    }

    /// The longest username the database accepts (as Vault's plugin truncates).
    pub fn max_username_len(self) -> usize {
        match self {
            PluginKind::Postgres => 63,
            PluginKind::Mysql => 32,
        }
    }

    /// How many characters of the display name and of the role name a generated username keeps.
    fn name_part_len(self) -> usize {
        match self {
            PluginKind::Postgres => 8,
            PluginKind::Mysql => 10,
        }
    }
}

/// A password (or any secret string) in zeroizing memory; its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret string.
    pub fn new(text: impl Into<String>) -> Password {
        Password(Zeroizing::new(text.into()))
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random password: 24 characters from `[A-Za-z0-9-]`, with at least one
    /// uppercase letter, one lowercase letter and one digit (for databases with password
    /// policies).
    pub fn generate() -> DbResult<Password> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
        loop {
            let text = random_text(ALPHABET, 24)?;
            let has = |f: fn(&char) -> bool| text.chars().any(|c| f(&c));
            if has(char::is_ascii_uppercase)
                && has(char::is_ascii_lowercase)
                && has(char::is_ascii_digit)
            {
                return Ok(Password(text));
            }
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// How to reach a database: the plugin, the connection URL template (`{{username}}` and
/// `{{password}}` stand for the config's credentials) and the credentials. Its `Debug` shows
/// neither the URL nor the password.
#[derive(Clone)]
pub struct ConnectionSettings {
    /// Which database.
    pub kind: PluginKind,
    /// Vault's `connection_url`: a PostgreSQL URL or key/value string, or a Go MySQL DSN
    /// (`user:pass@tcp(host:port)/db`) or `mysql://` URL.
    pub connection_url: Zeroizing<String>,
    /// The privileged user the engine connects as (substituted for `{{username}}`).
    pub username: String,
    /// Its password (substituted for `{{password}}`).
    pub password: Password,
    /// The most connections the pool opens.
    pub max_connections: usize,
}

impl std::fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// A user the engine creates: its name, password and when its lease expires.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The generated username.
    pub username: String,
    /// The generated password.
    pub password: Password,
    /// When the lease ends (for `{{expiration}}`).
    pub expiration: SystemTime,
}

/// One database the engine manages users in, with its own small connection pool (created
/// lazily: nothing connects before the first operation).
#[async_trait]
pub trait DatabasePlugin: Send + Sync + 'static {
    /// Which database this is.
    fn kind(&self) -> PluginKind;

    /// Connects and runs a trivial query, to check the settings.
    async fn verify(&self) -> DbResult<()>;

    /// Creates `user` with `statements` (required: Vault has no default creation statements),
    /// all or nothing where the database has transactional DDL.
    async fn create_user(&self, statements: &[String], user: &NewUser) -> DbResult<()>;

    /// Drops `username` and ends its sessions: with `statements`, or the plugin's default when
    /// there are none. A user that no longer exists is not an error.
    async fn revoke_user(&self, statements: &[String], username: &str) -> DbResult<()>;

    /// Extends `username`'s validity to `expiration` (a lease renewal): with `statements`, or
    /// the plugin's default when there are none (PostgreSQL `VALID UNTIL`; nothing for MySQL,
    /// whose users do not expire).
    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: SystemTime,
    ) -> DbResult<()>;

    /// Sets `username`'s password: with `statements`, or the plugin's default `ALTER` when
    /// there are none.
    async fn set_password(
        &self,
        statements: &[String],
        username: &str,
        password: &Password,
    ) -> DbResult<()>;

    /// Closes the pool's connections (the config changed or was deleted).
    async fn close(&self);
}

/// Opens a plugin for `settings`. Nothing connects yet; a bad URL is refused here.
pub fn open(settings: &ConnectionSettings) -> DbResult<Arc<dyn DatabasePlugin>> {
    match settings.kind {
        PluginKind::Postgres => Ok(Arc::new(super::postgres::PostgresPlugin::open(settings)?)),
        PluginKind::Mysql => Ok(Arc::new(super::mysql::MysqlPlugin::open(settings)?)),
    }
}

/// A generated username in Vault's shape, `v-<display name>-<role>-<random>-<unix time>`,
/// each name part truncated and the whole cut to the database's limit. Name parts keep only
/// `[A-Za-z0-9_]` (other characters become `_`).
pub fn generate_username(
    kind: PluginKind,
    display_name: &str,
    role: &str,
    now: SystemTime,
) -> DbResult<String> {
    let part = |text: &str| -> String {
        text.chars()
            .take(kind.name_part_len())
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let random = random_text(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        20,
    )?;
    let unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = format!(
        "v-{}-{}-{}-{unix}",
        part(display_name),
        part(role),
        random.as_str()
    );
    name.truncate(kind.max_username_len());
    Ok(name)
}

fn random_text(alphabet: &[u8], len: usize) -> DbResult<Zeroizing<String>> {
    let rng = SystemRandom::new();
    let mut out = Zeroizing::new(String::with_capacity(len));
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % alphabet.len());
    while out.len() < len {
        let mut buf = [0u8; 32];
        rng.fill(&mut buf)
            .map_err(|_| DatabaseError::Unreachable("the random number generator failed".into()))?;
        for byte in buf {
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// `{{expiration}}` as Vault writes it: `2006-01-02 15:04:05+0000` (UTC).
pub(crate) fn expiration_text(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text =
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .to_string();
    format!("{}+0000", text.trim_end_matches('Z').replacen('T', " ", 1))
}

/// The values a statement template may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TemplateValues<'a> {
    /// `{{name}}` / `{{username}}`.
    pub(crate) name: &'a str,
    /// `{{password}}`.
    pub(crate) password: Option<&'a Password>,
    /// `{{expiration}}`.
    pub(crate) expiration: Option<&'a str>,
}

/// The quoting rules of one database's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `'…'` literals (quotes doubled), `"…"` identifiers.
    Postgres,
    /// `'…'` literals (quotes doubled, backslashes escaped), `` `…` `` and `"…"` identifiers.
    Mysql,
}

impl Dialect {
    fn escape_literal(self, value: &str) -> String {
        match self {
            Dialect::Postgres => value.replace('\'', "''"),
            Dialect::Mysql => value.replace('\\', "\\\\").replace('\'', "''"),
        }
    }

    fn quote_literal(self, value: &str) -> String {
        format!("'{}'", self.escape_literal(value))
    }

    fn quote_identifier(self, value: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", value.replace('"', "\"\"")),
            // A bare `{{name}}` in MySQL stands for a user name, which is a string.
            Dialect::Mysql => self.quote_literal(value),
        }
    }
}

/// `given`, or `default` when `given` holds no statement (the plugin's built-in SQL).
pub(crate) fn statements_or<'a>(given: &'a [String], default: &'a [String]) -> &'a [String] {
    if split_statements(given).is_empty() {
        default
    } else {
        given
    }
}

/// Splits statement templates into single statements at `;` outside quotes (Vault accepts
/// several statements in one string), dropping empty ones.
pub(crate) fn split_statements(templates: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for template in templates {
        let mut current = String::new();
        let mut quote: Option<char> = None;
        for c in template.chars() {
            match (quote, c) {
                (None, ';') => {
                    push_statement(&mut out, &current);
                    current.clear();
                    continue;
                }
                (None, '\'' | '"' | '`') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            current.push(c);
        }
        push_statement(&mut out, &current);
    }
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if !text.is_empty() {
        out.push(text.to_owned());
    }
}

/// Fills one statement's placeholders with `values`, each escaped for where it stands. An
/// unknown `{{…}}` placeholder, or one whose value is not available, is an error.
pub(crate) fn render(
    dialect: Dialect,
    statement: &str,
    values: &TemplateValues<'_>,
) -> DbResult<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(statement.len() + 32));
    let mut quote: Option<char> = None;
    let mut rest = statement;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") {
            let end = rest.find("}}").ok_or_else(|| {
                DatabaseError::InvalidStatement("a {{ placeholder is not closed".into())
            })?;
            let key = rest[2..end].trim();
            let value: &str = match key {
                "name" | "username" => values.name,
                "password" => values
                    .password
                    .map(Password::expose)
                    .ok_or_else(|| unavailable(key))?,
                "expiration" => values.expiration.ok_or_else(|| unavailable(key))?,
                other => {
                    return Err(DatabaseError::InvalidStatement(format!(
                        "unknown placeholder {{{{{other}}}}} (use {{{{name}}}}, {{{{password}}}} or {{{{expiration}}}})"
                    )));
                }
            };
            let text = match quote {
                Some('\'') => dialect.escape_literal(value),
                Some(q) => value.replace(q, &format!("{q}{q}")),
                None if key == "name" || key == "username" => dialect.quote_identifier(value),
                None => dialect.quote_literal(value),
            };
            out.push_str(&text);
            rest = &rest[end + 2..];
            continue;
        }
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if quote.is_some() {
        return Err(DatabaseError::InvalidStatement(
            "a quote is not closed".into(),
        ));
    }
    Ok(out)
}

fn unavailable(key: &str) -> DatabaseError {
    DatabaseError::InvalidStatement(format!("{{{{{key}}}}} is not available in this statement"))
}

/// A value percent-encoded for the user or password part of a connection URL.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A database's error message with every secret removed (a password can be echoed back in a
/// syntax error).
pub(crate) fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(name: &'a str, password: &'a Password) -> TemplateValues<'a> {
        TemplateValues {
            name,
            password: Some(password),
            expiration: Some("2026-01-02 03:04:05+0000"),
        }
    }

    #[test]
    fn placeholders_are_escaped_for_their_quoting() {
        let password = Password::new("pa'ss\\w");
        let check = |dialect, statement: &str, expect: &str| {
            let out = render(dialect, statement, &values("bo\"b'`x", &password)).unwrap();
            assert_eq!(out.as_str(), expect, "{statement}");
        };
        check(
            Dialect::Postgres,
            r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#,
            r#"CREATE ROLE "bo""b'`x" WITH LOGIN PASSWORD 'pa''ss\w' VALID UNTIL '2026-01-02 03:04:05+0000';"#,
        );
        check(
            Dialect::Postgres,
            "ALTER ROLE {{name}} PASSWORD {{password}}",
            r#"ALTER ROLE "bo""b'`x" PASSWORD 'pa''ss\w'"#,
        );
        check(
            Dialect::Mysql,
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            r#"CREATE USER 'bo"b''`x'@'%' IDENTIFIED BY 'pa''ss\\w'"#,
        );
        check(
            Dialect::Mysql,
            "GRANT SELECT ON *.* TO `{{username}}`",
            "GRANT SELECT ON *.* TO `bo\"b'``x`",
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let password = Password::new("secret-value");
        for bad in ["SELECT '{{name}}", "SELECT {{name", "SELECT {{other}}"] {
            assert!(
                render(Dialect::Postgres, bad, &values("x", &password)).is_err(),
                "{bad}"
            );
        }
        let no_password = TemplateValues {
            name: "x",
            password: None,
            expiration: None,
        };
        assert!(render(Dialect::Postgres, "SELECT '{{password}}'", &no_password).is_err());
    }

    #[test]
    fn statements_split_outside_quotes() {
        let split = split_statements(&[
            "CREATE ROLE \"a;b\" PASSWORD 'x;y'; GRANT x TO \"a;b\";".to_owned(),
            "  ".to_owned(),
            "SELECT 1".to_owned(),
        ]);
        assert_eq!(
            split,
            [
                "CREATE ROLE \"a;b\" PASSWORD 'x;y'",
                "GRANT x TO \"a;b\"",
                "SELECT 1"
            ]
        );
    }

    #[test]
    fn usernames_follow_vaults_shape_and_limits() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let pg = generate_username(PluginKind::Postgres, "token", "my-role", now).unwrap();
        assert!(pg.starts_with("v-token-my_role-"), "{pg}");
        assert!(pg.ends_with("-1700000000"), "{pg}");
        assert!(pg.len() <= 63);
        let my = generate_username(
            PluginKind::Mysql,
            "a-very-long-display",
            "a-very-long-role",
            now,
        )
        .unwrap();
        assert_eq!(my.len(), 32, "{my}");
        assert!(my.starts_with("v-a_very_lon-a_very_lon-"), "{my}");
        assert_ne!(
            generate_username(PluginKind::Mysql, "t", "r", now).unwrap(),
            generate_username(PluginKind::Mysql, "t", "r", now).unwrap()
        );
    }

    #[test]
    fn passwords_are_long_random_and_redacted() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 24);
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
        assert_eq!(format!("{a:?}"), "Password(***)");
    }

    #[test]
    fn expiration_uses_vaults_format() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        assert_eq!(expiration_text(at), "2023-11-14 22:13:20+0000");
    }

    #[test]
    fn scrub_removes_secrets() {
        assert_eq!(
            scrub("syntax error at or near \"abcd-1234\"", &["abcd-1234", ""]),
            "syntax error at or near \"***\""
        );
    }
}
