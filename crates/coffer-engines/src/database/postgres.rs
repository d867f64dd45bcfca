//! The `postgresql-database-plugin`: users are roles, created in one transaction; revoking
//! ends the role's sessions (`pg_terminate_backend`), hands what it owns to the engine's user
//! (`REASSIGN OWNED`), drops its privileges (`DROP OWNED`) and the role. A `deadpool-postgres`
//! pool (no TLS) holds the connections.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::plugin::{
    ConnectionSettings, DatabaseError, DatabasePlugin, DbResult, Dialect, NewUser,
    OPERATION_TIMEOUT, Password, PluginKind, TemplateValues, expiration_text, percent_encode,
    render, scrub, split_statements, statements_or,
};

/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Vault's default statement for a new password.
const DEFAULT_ROTATION: &str = r#"ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'"#;

/// Vault's default statement for a renewal.
const DEFAULT_RENEWAL: &str = r#"ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'"#;

/// One PostgreSQL database and its pool.
pub(crate) struct PostgresPlugin {
    pool: Pool,
    /// The config's password, scrubbed from error messages.
    password: Password,
}

impl PostgresPlugin {
    /// Builds the pool (nothing connects yet).
    pub(crate) fn open(settings: &ConnectionSettings) -> DbResult<PostgresPlugin> {
        let text = fill_url(
            &settings.connection_url,
            &settings.username,
            &settings.password,
        );
        let mut config: tokio_postgres::Config = text.parse().map_err(|e| {
            DatabaseError::InvalidConnectionUrl(scrub(
                &format!("not a PostgreSQL connection string ({e})"),
                &[settings.password.expose()],
            ))
        })?;
        if config.get_user().is_none() && !settings.username.is_empty() {
            config.user(&settings.username);
        }
        if config.get_password().is_none() && !settings.password.expose().is_empty() {
            config.password(settings.password.expose());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .build()
            .map_err(|e| DatabaseError::InvalidConnectionUrl(e.to_string()))?;
        Ok(PostgresPlugin {
            pool,
            password: settings.password.clone(),
        })
    }

    async fn client(&self) -> DbResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => DatabaseError::Timeout,
            PoolError::Backend(e) => self.error(&e),
            other => {
                DatabaseError::Unreachable(scrub(&other.to_string(), &[self.password.expose()]))
            }
        })
    }

    /// Maps a driver error, scrubbing the config's password and `extra` secrets.
    fn error_with(&self, error: &tokio_postgres::Error, extra: &[&str]) -> DatabaseError {
        let mut secrets = vec![self.password.expose()];
        secrets.extend_from_slice(extra);
        match error.as_db_error() {
            Some(db) => DatabaseError::Statement(scrub(
                &format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                &secrets,
            )),
            None => DatabaseError::Unreachable(scrub(&error.to_string(), &secrets)),
        }
    }

    fn error(&self, error: &tokio_postgres::Error) -> DatabaseError {
        self.error_with(error, &[])
    }

    /// Runs rendered statements in one transaction.
    async fn run_in_transaction(
        &self,
        statements: &[String],
        values: &TemplateValues<'_>,
    ) -> DbResult<()> {
        let secret = values.password.map(Password::expose).unwrap_or_default();
        let rendered = split_statements(statements)
            .iter()
            .map(|s| render(Dialect::Postgres, s, values))
            .collect::<DbResult<Vec<_>>>()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(&e))?;
        for sql in &rendered {
            tx.batch_execute(sql)
                .await
                .map_err(|e| self.error_with(&e, &[secret]))?;
        }
        tx.commit().await.map_err(|e| self.error(&e))
    }

    /// Ends every session of `username` but this one.
    async fn terminate_sessions(&self, username: &str) -> DbResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid()",
                &[&username],
            )
            .await
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    async fn role_exists(&self, username: &str) -> DbResult<bool> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
            .await
            .map_err(|e| self.error(&e))?;
        Ok(row.is_some())
    }

    async fn default_revoke(&self, username: &str) -> DbResult<()> {
        if !self.role_exists(username).await? {
            return Ok(());
        }
        let values = TemplateValues {
            name: username,
            password: None,
            expiration: None,
        };
        // No new logins first, so the sessions ended next stay ended.
        self.run_in_transaction(&[r#"ALTER ROLE "{{name}}" NOLOGIN"#.to_owned()], &values)
            .await?;
        self.terminate_sessions(username).await?;
        self.run_in_transaction(
            &[
                r#"REASSIGN OWNED BY "{{name}}" TO CURRENT_USER"#.to_owned(),
                r#"DROP OWNED BY "{{name}}""#.to_owned(),
                r#"DROP ROLE IF EXISTS "{{name}}""#.to_owned(),
            ],
            &values,
        )
        .await
    }
}

/// Bounds one operation in time.
async fn timed<T>(operation: impl Future<Output = DbResult<T>>) -> DbResult<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .map_err(|_| DatabaseError::Timeout)?
}

#[async_trait]
impl DatabasePlugin for PostgresPlugin {
    fn kind(&self) -> PluginKind {
        PluginKind::Postgres
    }

    async fn verify(&self) -> DbResult<()> {
        timed(async {
            let client = self.client().await?;
            client
                .batch_execute("SELECT 1")
                .await
                .map_err(|e| self.error(&e))
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
        timed(self.run_in_transaction(statements, &values)).await
    }

    async fn revoke_user(&self, statements: &[String], username: &str) -> DbResult<()> {
        timed(async {
            if split_statements(statements).is_empty() {
                return self.default_revoke(username).await;
            }
            self.terminate_sessions(username).await?;
            let values = TemplateValues {
                name: username,
                password: None,
                expiration: None,
            };
            self.run_in_transaction(statements, &values).await
        })
        .await
    }

    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: std::time::SystemTime,
    ) -> DbResult<()> {
        let default = [DEFAULT_RENEWAL.to_owned()];
        let statements = statements_or(statements, &default);
        let expiration = expiration_text(expiration);
        let values = TemplateValues {
            name: username,
            password: None,
            expiration: Some(&expiration),
        };
        timed(self.run_in_transaction(statements, &values)).await
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
        timed(self.run_in_transaction(statements, &values)).await
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// Substitutes `{{username}}` and `{{password}}` into a connection string: percent-encoded in a
/// URL, single-quoted in a key/value string.
fn fill_url(template: &str, username: &str, password: &Password) -> zeroize::Zeroizing<String> {
    let is_url = template.starts_with("postgres://") || template.starts_with("postgresql://");
    let encode = |value: &str| -> String {
        if is_url {
            percent_encode(value)
        } else {
            format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
        }
    };
    zeroize::Zeroizing::new(
        template
            .replace("{{username}}", &encode(username))
            .replace("{{password}}", &encode(password.expose())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_fill_urls_and_key_value_strings() {
        let password = Password::new("p@ss w'rd");
        assert_eq!(
            fill_url(
                "postgresql://{{username}}:{{password}}@127.0.0.1:5432/test",
                "ad min",
                &password
            )
            .as_str(),
            "postgresql://ad%20min:p%40ss%20w%27rd@127.0.0.1:5432/test"
        );
        assert_eq!(
            fill_url(
                "host=h user={{username}} password={{password}}",
                "a",
                &password
            )
            .as_str(),
            r"host=h user='a' password='p@ss w\'rd'"
        );
    }
}
