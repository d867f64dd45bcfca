//! The `mysql-database-plugin` (MySQL and MariaDB): users are `'name'@'%'` accounts. MySQL's
//! DDL commits by itself, so a creation that fails half-way drops what it made; revoking drops
//! the user, then kills its connections (`KILL CONNECTION` on the ids `information_schema.
//! processlist` lists for it). Connection settings come as Vault's Go DSN
//! (`user:pass@tcp(host:port)/db?params`) or a `mysql://` URL. A `mysql_async` pool on the
//! shared tokio runtime (no TLS) holds the connections.

use std::future::Future;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use zeroize::Zeroizing;

use super::plugin::{
    ConnectionSettings, DatabaseError, DatabasePlugin, DbResult, Dialect, NewUser,
    OPERATION_TIMEOUT, Password, PluginKind, TemplateValues, expiration_text, percent_encode,
    render, scrub, split_statements, statements_or,
};

/// Vault's default statement for a new password.
const DEFAULT_ROTATION: &str = "ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'";
/// The default revocation.
const DEFAULT_REVOCATION: &str = "DROP USER IF EXISTS '{{name}}'@'%'";
/// MySQL's "unknown thread id" (the connection ended before the `KILL`).
const UNKNOWN_THREAD: u16 = 1094;

/// One MySQL server and its pool.
pub(crate) struct MysqlPlugin {
    pool: Pool,
    /// The config's password, scrubbed from error messages.
    password: Password,
}

/// The parts of a Go MySQL DSN.
#[derive(Debug, PartialEq, Eq)]
struct Dsn {
    user: String,
    pass: Zeroizing<String>,
    address: Address,
    database: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Address {
    Tcp { host: String, port: u16 },
    Unix(String),
}

impl MysqlPlugin {
    /// Builds the pool (nothing connects yet).
    pub(crate) fn open(settings: &ConnectionSettings) -> DbResult<MysqlPlugin> {
        let max = settings.max_connections.max(1);
        let constraints = PoolConstraints::new(0, max)
            .ok_or_else(|| DatabaseError::InvalidConnectionUrl("bad pool size".into()))?;
        let pool_opts = PoolOpts::default().with_constraints(constraints);
        let template = settings.connection_url.as_str();
        let builder = if template.starts_with("mysql://") {
            let url = Zeroizing::new(
                template
                    .replace("{{username}}", &percent_encode(&settings.username))
                    .replace("{{password}}", &percent_encode(settings.password.expose())),
            );
            let opts = Opts::from_url(&url).map_err(|e| {
                DatabaseError::InvalidConnectionUrl(scrub(
                    &format!("not a MySQL URL ({e})"),
                    &[settings.password.expose()],
                ))
            })?;
            OptsBuilder::from_opts(opts)
        } else {
            let dsn = parse_dsn(template)?;
            let fill = |text: &str| {
                Zeroizing::new(
                    text.replace("{{username}}", &settings.username)
                        .replace("{{password}}", settings.password.expose()),
                )
            };
            let user = fill(&dsn.user);
            let pass = fill(&dsn.pass);
            let builder = OptsBuilder::default()
                .user(Some(user.as_str()).filter(|u| !u.is_empty()))
                .pass(Some(pass.as_str()).filter(|p| !p.is_empty()))
                .db_name(dsn.database.clone());
            match dsn.address {
                Address::Tcp { host, port } => builder.ip_or_hostname(host).tcp_port(port),
                Address::Unix(path) => builder.socket(Some(path)),
            }
        };
        let opts = builder.prefer_socket(false).pool_opts(pool_opts);
        Ok(MysqlPlugin {
            pool: Pool::new(opts),
            password: settings.password.clone(),
        })
    }

    async fn conn(&self) -> DbResult<Conn> {
        self.pool.get_conn().await.map_err(|e| self.error(&e, &[]))
    }

    /// Maps a driver error, scrubbing the config's password and `extra` secrets.
    fn error(&self, error: &mysql_async::Error, extra: &[&str]) -> DatabaseError {
        let mut secrets = vec![self.password.expose()];
        secrets.extend_from_slice(extra);
        match error {
            mysql_async::Error::Server(server) => DatabaseError::Statement(scrub(
                &format!("{} (error {})", server.message, server.code),
                &secrets,
            )),
            other => DatabaseError::Unreachable(scrub(&other.to_string(), &secrets)),
        }
    }

    /// Runs rendered statements one after the other; on failure, says how many succeeded.
    async fn run(
        &self,
        conn: &mut Conn,
        statements: &[String],
        values: &TemplateValues<'_>,
    ) -> Result<(), (usize, DatabaseError)> {
        let secret = values.password.map(Password::expose).unwrap_or_default();
        let rendered = split_statements(statements)
            .iter()
            .map(|s| render(Dialect::Mysql, s, values))
            .collect::<DbResult<Vec<_>>>()
            .map_err(|e| (0, e))?;
        for (done, sql) in rendered.iter().enumerate() {
            conn.query_drop(sql.as_str())
                .await
                .map_err(|e| (done, self.error(&e, &[secret])))?;
        }
        Ok(())
    }

    /// Kills every connection of `username` but this one.
    async fn kill_sessions(&self, conn: &mut Conn, username: &str) -> DbResult<()> {
        let own = conn.id();
        let ids: Vec<u64> = conn
            .exec(
                "SELECT id FROM information_schema.processlist WHERE user = ?",
                (username,),
            )
            .await
            .map_err(|e| self.error(&e, &[]))?;
        for id in ids.into_iter().filter(|id| *id != u64::from(own)) {
            match conn.query_drop(format!("KILL CONNECTION {id}")).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_THREAD => {}
                Err(e) => return Err(self.error(&e, &[])),
            }
        }
        Ok(())
    }
}

/// Bounds one operation in time.
async fn timed<T>(operation: impl Future<Output = DbResult<T>>) -> DbResult<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .map_err(|_| DatabaseError::Timeout)?
}

#[async_trait]
impl DatabasePlugin for MysqlPlugin {
    fn kind(&self) -> PluginKind {
        PluginKind::Mysql
    }

    async fn verify(&self) -> DbResult<()> {
        timed(async {
            let mut conn = self.conn().await?;
            conn.query_drop("SELECT 1")
                .await
                .map_err(|e| self.error(&e, &[]))
        })
        .await
    }

    async fn create_user(&self, statements: &[String], user: &NewUser) -> DbResult<()> {
        if split_statements(statements).is_empty() {
            return Err(DatabaseError::InvalidStatement(
                "the role has no creation_statements".into(),
            ));
        }
        let expiration = expiration_text(user.expiration);
        let values = TemplateValues {
            name: &user.username,
            password: Some(&user.password),
            expiration: Some(&expiration),
        };
        timed(async {
            let mut conn = self.conn().await?;
            match self.run(&mut conn, statements, &values).await {
                Ok(()) => Ok(()),
                Err((0, error)) => Err(error),
                Err((_, error)) => {
                    // Part of the user exists: take it away again, best effort.
                    let drop = [DEFAULT_REVOCATION.to_owned()];
                    if let Err((_, undo)) = self.run(&mut conn, &drop, &values).await {
                        tracing::warn!(error = %undo, "could not drop a half-created MySQL user");
                    }
                    Err(error)
                }
            }
        })
        .await
    }

    async fn revoke_user(&self, statements: &[String], username: &str) -> DbResult<()> {
        let default = [DEFAULT_REVOCATION.to_owned()];
        let statements = statements_or(statements, &default);
        let values = TemplateValues {
            name: username,
            password: None,
            expiration: None,
        };
        timed(async {
            let mut conn = self.conn().await?;
            self.run(&mut conn, statements, &values)
                .await
                .map_err(|(_, e)| e)?;
            self.kill_sessions(&mut conn, username).await
        })
        .await
    }

    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: std::time::SystemTime,
    ) -> DbResult<()> {
        if split_statements(statements).is_empty() {
            return Ok(());
        }
        let expiration = expiration_text(expiration);
        let values = TemplateValues {
            name: username,
            password: None,
            expiration: Some(&expiration),
        };
        timed(async {
            let mut conn = self.conn().await?;
            self.run(&mut conn, statements, &values)
                .await
                .map_err(|(_, e)| e)
        })
        .await
    }

    async fn set_password(
        &self,
        statements: &[String],
        username: &str,
        password: &Password,
    ) -> DbResult<()> {
        let default = [DEFAULT_ROTATION.to_owned()];
        let statements = statements_or(statements, &default);
        let values = TemplateValues {
            name: username,
            password: Some(password),
            expiration: None,
        };
        timed(async {
            let mut conn = self.conn().await?;
            self.run(&mut conn, statements, &values)
                .await
                .map_err(|(_, e)| e)
        })
        .await
    }

    async fn close(&self) {
        if let Err(error) = self.pool.clone().disconnect().await {
            tracing::debug!(%error, "closing a MySQL pool");
        }
    }
}

/// Parses Vault's (Go's) MySQL DSN: `[user[:password]@][net[(address)]]/dbname[?params]`.
fn parse_dsn(text: &str) -> DbResult<Dsn> {
    let bad = |why: &str| DatabaseError::InvalidConnectionUrl(why.to_owned());
    let slash = text.rfind('/').ok_or_else(|| {
        bad("missing the slash before the database name (user:pass@tcp(host:port)/db)")
    })?;
    let (head, tail) = (&text[..slash], &text[slash + 1..]);
    let database = tail.split('?').next().unwrap_or_default();
    let params = tail.split_once('?').map(|(_, p)| p).unwrap_or_default();
    for param in params.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if key == "tls" && !matches!(value, "false" | "") {
            return Err(bad("TLS to MySQL is not supported (tls=false only)"));
        }
    }
    let (userinfo, net) = match head.rfind('@') {
        Some(at) => (&head[..at], &head[at + 1..]),
        None => ("", head),
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let address = match net.split_once('(') {
        None if net.is_empty() || net == "tcp" => Address::Tcp {
            host: "127.0.0.1".into(),
            port: 3306,
        },
        None => return Err(bad("the network must be tcp(host:port) or unix(path)")),
        Some((kind, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| bad("the address is missing its closing parenthesis"))?;
            match kind {
                "tcp" => {
                    let (host, port) = match inner.rsplit_once(':') {
                        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                            let port = port
                                .parse::<u16>()
                                .map_err(|_| bad("the port is not a number"))?;
                            (host, port)
                        }
                        _ => (inner, 3306),
                    };
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    if host.is_empty() {
                        return Err(bad("the host is empty"));
                    }
                    Address::Tcp {
                        host: host.to_owned(),
                        port,
                    }
                }
                "unix" => Address::Unix(inner.to_owned()),
                _ => return Err(bad("the network must be tcp(host:port) or unix(path)")),
            }
        }
    };
    Ok(Dsn {
        user: user.to_owned(),
        pass: Zeroizing::new(pass.to_owned()),
        address,
        database: Some(database.to_owned()).filter(|d| !d.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_dsns_parse() {
        let dsn = parse_dsn("{{username}}:{{password}}@tcp(127.0.0.1:3306)/").unwrap();
        assert_eq!(dsn.user, "{{username}}");
        assert_eq!(dsn.pass.as_str(), "{{password}}");
        assert_eq!(
            dsn.address,
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 3306
            }
        );
        assert_eq!(dsn.database, None);

        let dsn = parse_dsn("root:p@ss@tcp([::1]:3307)/app?parseTime=true").unwrap();
        assert_eq!(dsn.user, "root");
        assert_eq!(dsn.pass.as_str(), "p@ss");
        assert_eq!(
            dsn.address,
            Address::Tcp {
                host: "::1".into(),
                port: 3307
            }
        );
        assert_eq!(dsn.database.as_deref(), Some("app"));

        let dsn = parse_dsn("u@unix(/run/mysqld/mysqld.sock)/db").unwrap();
        assert_eq!(dsn.address, Address::Unix("/run/mysqld/mysqld.sock".into()));

        for bad in [
            "root@tcp(127.0.0.1:3306)",
            "root@tcp(127.0.0.1:x)/",
            "root@udp(h)/",
            "root@tcp(h:1/",
            "root@tcp(h:1)/?tls=true",
        ] {
            assert!(parse_dsn(bad).is_err(), "{bad}");
        }
    }
}
