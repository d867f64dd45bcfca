//! What the database engine offers other engines of its namespace
//! ([`coffer_core::engine::Peers::database`]): a [`DatabaseConnector`] running user statements
//! with one config's pool, e.g. the credentials engine creating a login for each version of a
//! `database-url` credential and dropping it when the version's last lease ends.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use coffer_core::Result;
use coffer_core::engine::DatabaseConnector;

use super::plugin::{DatabasePlugin, NewUser, Password};
use super::{database_error, retry};

/// How far ahead `{{expiration}}` points for logins made this way: they last until dropped.
const NO_EXPIRY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// One config's connector.
pub(super) struct Connector {
    pub(super) config: String,
    pub(super) plugin: Arc<dyn DatabasePlugin>,
}

#[async_trait]
impl DatabaseConnector for Connector {
    fn plugin_name(&self) -> &str {
        self.plugin.kind().plugin_name()
    }

    fn max_username_len(&self) -> usize {
        self.plugin.kind().max_username_len()
    }

    async fn create_user(
        &self,
        statements: &[String],
        username: &str,
        password: &str,
    ) -> Result<()> {
        let user = NewUser {
            username: username.to_owned(),
            password: Password::new(password),
            expiration: SystemTime::now() + NO_EXPIRY,
        };
        retry(|| self.plugin.create_user(statements, &user))
            .await
            .map_err(|e| database_error(&self.config, e))?;
        tracing::info!(config = %self.config, username, "created a database login for a credential");
        Ok(())
    }

    async fn drop_user(&self, statements: &[String], username: &str) -> Result<()> {
        retry(|| self.plugin.revoke_user(statements, username))
            .await
            .map_err(|e| database_error(&self.config, e))?;
        tracing::info!(config = %self.config, username, "dropped a credential's database login");
        Ok(())
    }
}
