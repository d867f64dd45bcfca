//! The typed credentials engine (`credentials/` by default): create, read, list, patch, rotate
//! and revoke credentials, their versions, the tenant defaults and rotation reminders, and the
//! leases taken on them. Paths and shapes are DESIGN.md §4's.

use coffer_api::credentials::{
    Credential, CredentialCreateRequest, CredentialFilter, CredentialList, CredentialPatch,
    CredentialVersions, CredentialsConfig, Lease, LeaseList, LeaseRequest, Reminders,
    RevokedCredential, RotateRequest, RotatedCredential,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Client, Result, WithWarnings, data_of, required_data, segment, to_value};

/// The credentials engine at one mount; from [`Client::credentials`] or
/// [`Client::credentials_at`].
#[derive(Debug, Clone)]
pub struct CredentialsApi<'a> {
    client: &'a Client,
    mount: String,
}

impl Client {
    /// The credentials engine at its default mount, `credentials/`.
    pub fn credentials(&self) -> CredentialsApi<'_> {
        self.credentials_at("credentials")
    }

    /// The credentials engine mounted at `mount`.
    pub fn credentials_at(&self, mount: &str) -> CredentialsApi<'_> {
        CredentialsApi {
            client: self,
            mount: mount.trim_matches('/').to_owned(),
        }
    }
}

impl CredentialsApi<'_> {
    /// `POST <mount>/<name>`: creates a credential; the reply never holds the value.
    pub async fn create(
        &self,
        name: &str,
        request: &CredentialCreateRequest,
    ) -> Result<WithWarnings<Credential>> {
        let path = self.credential_path(name, "")?;
        self.call("POST", &path, &[], Some(&to_value(request)?))
            .await
    }

    /// `GET <mount>/<name>`; `None` when there is no such credential.
    pub async fn get(&self, name: &str) -> Result<Option<Credential>> {
        let path = self.credential_path(name, "")?;
        let reply = self.client.send("GET", &path, &[], None, None).await?;
        Ok(data_of(reply, self.client.address(), &path)?.map(|w| w.data))
    }

    /// `LIST <mount>` with filters; empty when nothing matches.
    pub async fn list(&self, filter: &CredentialFilter) -> Result<CredentialList> {
        let metadata: Vec<(String, &str)> = filter
            .metadata
            .iter()
            .map(|(k, v)| (format!("metadata.{k}"), v.as_str()))
            .collect();
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(kind) = &filter.kind {
            query.push(("type", kind));
        }
        if let Some(state) = filter.state {
            query.push(("state", state.as_str()));
        }
        query.extend(metadata.iter().map(|(k, v)| (k.as_str(), *v)));
        let reply = self
            .client
            .send("LIST", &self.mount, &query, None, None)
            .await?;
        Ok(data_of(reply, self.client.address(), &self.mount)?
            .map(|w| w.data)
            .unwrap_or_default())
    }

    /// `PATCH <mount>/<name>` (JSON merge patch of metadata and policy).
    pub async fn update(
        &self,
        name: &str,
        patch: &CredentialPatch,
    ) -> Result<WithWarnings<Credential>> {
        let path = self.credential_path(name, "")?;
        let body = to_value(patch)?;
        let reply = self.client.merge_patch(&path, &body).await?;
        required_data(reply, "PATCH", self.client.address(), &path)
    }

    /// `POST <mount>/<name>/rotate`: a new version with a new value.
    pub async fn rotate(
        &self,
        name: &str,
        request: &RotateRequest,
    ) -> Result<WithWarnings<RotatedCredential>> {
        let path = self.credential_path(name, "/rotate")?;
        self.call("POST", &path, &[], Some(&to_value(request)?))
            .await
    }

    /// `POST <mount>/<name>/revoke`: ends the credential and every lease on it.
    pub async fn revoke(&self, name: &str) -> Result<RevokedCredential> {
        let path = self.credential_path(name, "/revoke")?;
        Ok(self.call("POST", &path, &[], None).await?.data)
    }

    /// `GET <mount>/<name>/versions`; `None` when there is no such credential.
    pub async fn versions(&self, name: &str) -> Result<Option<CredentialVersions>> {
        let path = self.credential_path(name, "/versions")?;
        let reply = self.client.send("GET", &path, &[], None, None).await?;
        Ok(data_of(reply, self.client.address(), &path)?.map(|w| w.data))
    }

    /// `GET <mount>/config`: the tenant defaults, built-in values filled in.
    pub async fn config(&self) -> Result<CredentialsConfig> {
        let path = format!("{}/config", self.mount);
        Ok(self.call("GET", &path, &[], None).await?.data)
    }

    /// `POST <mount>/config`: changes the fields given; returns the new defaults.
    pub async fn set_config(&self, config: &CredentialsConfig) -> Result<CredentialsConfig> {
        let path = format!("{}/config", self.mount);
        Ok(self
            .call("POST", &path, &[], Some(&to_value(config)?))
            .await?
            .data)
    }

    /// `GET <mount>/config/due`: rotation reminders and expiry warnings, now or `within` ahead
    /// (a duration such as `30d`).
    pub async fn due(&self, within: Option<&str>) -> Result<Reminders> {
        let path = format!("{}/config/due", self.mount);
        let query: Vec<(&str, &str)> = within.map(|w| ("within", w)).into_iter().collect();
        Ok(self.call("GET", &path, &query, None).await?.data)
    }

    /// `POST <mount>/<name>/lease`: a lease on the current version, with its value.
    pub async fn lease(&self, name: &str, request: &LeaseRequest) -> Result<WithWarnings<Lease>> {
        let path = self.credential_path(name, "/lease")?;
        self.call("POST", &path, &[], Some(&to_value(request)?))
            .await
    }

    /// `LIST <mount>/<name>/lease`: the credential's active leases (no values); empty when none.
    pub async fn leases(&self, name: &str) -> Result<LeaseList> {
        let path = self.credential_path(name, "/lease")?;
        let reply = self.client.send("LIST", &path, &[], None, None).await?;
        Ok(data_of(reply, self.client.address(), &path)?
            .map(|w| w.data)
            .unwrap_or_default())
    }

    fn credential_path(&self, name: &str, action: &str) -> Result<String> {
        Ok(format!(
            "{}/{}{action}",
            self.mount,
            segment("credential name", name)?
        ))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<WithWarnings<T>> {
        let reply = self.client.send(method, path, query, body, None).await?;
        required_data(reply, method, self.client.address(), path)
    }
}
