//! Leases by id: reading a credential lease back, Vault's `sys/leases/lookup|renew|revoke|
//! revoke-prefix`, and Coffer's kill switch `sys/leases/revoke-identity` with its listing
//! `sys/leases/by-identity/<type>/<name>`, and `sys/leases/failed` (leases whose engine could
//! not release them).

use coffer_api::credentials::{
    FailedLeaseList, Identity, IdentityRevocation, Lease, LeaseId, LeaseList, LeaseLookup,
    LeaseRenewal,
};
use serde_json::{Map, Value, json};

use crate::{Client, Error, Result, data_of, required_data, segment};

impl Client {
    /// `GET <lease id>`: a credential lease's id is the path that serves it, so this reads the
    /// lease and its value back while it is active.
    pub async fn lease_read(&self, id: &LeaseId) -> Result<Lease> {
        let path = lease_path(id)?;
        let reply = self.send("GET", &path, &[], None, None).await?;
        Ok(required_data(reply, "GET", self.address(), &path)?.data)
    }

    /// `PUT sys/leases/lookup`.
    pub async fn lease_lookup(&self, id: &LeaseId) -> Result<LeaseLookup> {
        let path = "sys/leases/lookup";
        let body = json!({ "lease_id": id });
        let reply = self.send("PUT", path, &[], Some(&body), None).await?;
        Ok(required_data(reply, "PUT", self.address(), path)?.data)
    }

    /// `PUT sys/leases/renew`, by `increment` (a duration such as `1h`) or by the lease's
    /// original duration; capped at the lease's maximum, with a warning.
    pub async fn lease_renew(&self, id: &LeaseId, increment: Option<&str>) -> Result<LeaseRenewal> {
        let path = "sys/leases/renew";
        let mut body = Map::new();
        body.insert("lease_id".into(), json!(id));
        if let Some(increment) = increment {
            body.insert("increment".into(), json!(increment));
        }
        let reply = self
            .send("PUT", path, &[], Some(&Value::Object(body)), None)
            .await?;
        let url = format!("{}/v1/{path}", self.address());
        if reply.status == 404 {
            return Err(Error::Api {
                method: "PUT".into(),
                url,
                status: 404,
                errors: Vec::new(),
            });
        }
        let body = reply.body.ok_or_else(|| Error::Decode {
            url: url.clone(),
            reason: "empty body".into(),
        })?;
        serde_json::from_value(body).map_err(|e| Error::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `PUT sys/leases/revoke`; succeeds for a lease that is already gone, as in Vault.
    pub async fn lease_revoke(&self, id: &LeaseId) -> Result<()> {
        let body = json!({ "lease_id": id });
        self.send("PUT", "sys/leases/revoke", &[], Some(&body), None)
            .await
            .map(|_| ())
    }

    /// `PUT sys/leases/revoke-prefix/<prefix>`: every lease whose id starts with `prefix`
    /// (e.g. `credentials/db/`).
    pub async fn lease_revoke_prefix(&self, prefix: &str) -> Result<()> {
        let prefix = prefix.trim().trim_matches('/');
        if prefix.is_empty() {
            return Err(Error::InvalidName {
                what: "lease prefix",
                name: prefix.to_owned(),
            });
        }
        let path = format!("sys/leases/revoke-prefix/{prefix}");
        self.send("PUT", &path, &[], None, None).await.map(|_| ())
    }

    /// `PUT sys/leases/revoke-force/<prefix>`: removes every lease below `prefix` even when its
    /// engine cannot release it (the leases listed by [`Client::leases_failed`] are removed
    /// without asking their engine again).
    pub async fn lease_revoke_force(&self, prefix: &str) -> Result<()> {
        let prefix = prefix.trim().trim_matches('/');
        if prefix.is_empty() {
            return Err(Error::InvalidName {
                what: "lease prefix",
                name: prefix.to_owned(),
            });
        }
        let path = format!("sys/leases/revoke-force/{prefix}");
        self.send("PUT", &path, &[], None, None).await.map(|_| ())
    }

    /// `LIST sys/leases/failed` (sudo): the leases whose engine could not release them, still
    /// retried or irrevocable; empty when none.
    pub async fn leases_failed(&self) -> Result<FailedLeaseList> {
        let path = "sys/leases/failed";
        let reply = self.send("LIST", path, &[], None, None).await?;
        Ok(data_of(reply, self.address(), path)?
            .map(|w| w.data)
            .unwrap_or_default())
    }

    /// `POST sys/leases/revoke-identity`: the kill switch, ending every lease `identity` holds.
    pub async fn lease_revoke_identity(&self, identity: &Identity) -> Result<IdentityRevocation> {
        let path = "sys/leases/revoke-identity";
        let body = json!({ "identity": identity });
        let reply = self.send("POST", path, &[], Some(&body), None).await?;
        Ok(required_data(reply, "POST", self.address(), path)?.data)
    }

    /// `LIST sys/leases/by-identity/<type>/<name>`: the active leases `identity` holds (keys are
    /// lease ids); empty when none.
    pub async fn leases_by_identity(&self, identity: &Identity) -> Result<LeaseList> {
        let path = format!(
            "sys/leases/by-identity/{}/{}",
            segment("identity type", &identity.kind)?,
            segment("identity name", &identity.name)?
        );
        let reply = self.send("LIST", &path, &[], None, None).await?;
        Ok(data_of(reply, self.address(), &path)?
            .map(|w| w.data)
            .unwrap_or_default())
    }
}

/// A lease id as a request path: its segments, each percent-encoded.
fn lease_path(id: &LeaseId) -> Result<String> {
    id.as_str()
        .split('/')
        .map(|part| {
            segment("lease id", part).map_err(|_| Error::InvalidName {
                what: "lease id",
                name: id.as_str().to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(|parts| parts.join("/"))
}
