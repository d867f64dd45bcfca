//! Time-limited grants: extra capabilities on one path (exact, or a prefix ending in `*`) for one
//! identity (`user:alice@example.com`, `agent:deploy-bot`) until an exact expiry time. The pipeline
//! consults them when a token's policies do not allow a request. Stored behind the barrier at
//! `sys/grants/<id>`, held in memory, reaped after expiry.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use coffer_barrier::View;
use coffer_policy::{Capabilities, Capability};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::engine::Identity;
use crate::request::{Operation, Reply, Response};
use crate::token::SYSTEM_MAX_TTL;
use crate::ttl::Ttl;
use crate::{Error, Result, params};

const GRANTABLE: &[&str] = &["read", "list", "create", "update", "patch", "delete"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GrantRecord {
    id: String,
    identity_kind: String,
    identity_name: String,
    path: String,
    capabilities: Vec<String>,
    created_nanos: u64,
    expires_nanos: u64,
    created_by: String,
}

impl GrantRecord {
    fn expires(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.expires_nanos)
    }

    fn matches_path(&self, path: &str) -> bool {
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        }
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
            .iter()
            .filter_map(|c| c.parse::<Capability>().ok())
            .collect()
    }

    fn json(&self) -> Map<String, Value> {
        let created = SystemTime::UNIX_EPOCH + Duration::from_nanos(self.created_nanos);
        let mut data = Map::new();
        data.insert("id".into(), json!(self.id));
        data.insert(
            "identity".into(),
            json!({"type": self.identity_kind, "name": self.identity_name}),
        );
        data.insert("path".into(), json!(self.path));
        data.insert("capabilities".into(), json!(self.capabilities));
        data.insert("created_at".into(), json!(rfc3339(created)));
        data.insert("expires_at".into(), json!(rfc3339(self.expires())));
        data.insert("created_by".into(), json!(self.created_by));
        data
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The grants of one unsealed core.
pub(crate) struct GrantStore {
    view: View,
    grants: RwLock<BTreeMap<String, GrantRecord>>,
}

impl GrantStore {
    /// Loads every stored grant.
    pub(crate) async fn load(view: View) -> Result<GrantStore> {
        let mut grants = BTreeMap::new();
        for (_, record) in crate::record::load_all::<GrantRecord>(&view, "", "sys/grants/").await? {
            grants.insert(record.id.clone(), record);
        }
        Ok(GrantStore {
            view,
            grants: RwLock::new(grants),
        })
    }

    /// The id of a live grant that lets `identity` do `operation` on `path`, if any.
    pub(crate) fn allows(
        &self,
        identity: &Identity,
        path: &str,
        operation: Operation,
        now: SystemTime,
    ) -> Option<String> {
        let wanted = operation.policy_operation().capability();
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        grants
            .values()
            .find(|g| {
                g.identity_kind == identity.kind
                    && g.identity_name == identity.name
                    && g.expires() > now
                    && g.matches_path(path)
                    && g.capabilities().contains(wanted)
            })
            .map(|g| g.id.clone())
    }

    /// Whether `identity` holds a live grant on anything below `prefix` (for the CLI preflight).
    pub(crate) fn has_any_under(&self, identity: &Identity, prefix: &str, now: SystemTime) -> bool {
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        grants.values().any(|g| {
            g.identity_kind == identity.kind
                && g.identity_name == identity.name
                && g.expires() > now
                && (g.path.starts_with(prefix) || prefix.starts_with(g.path.trim_end_matches('*')))
        })
    }

    /// Deletes expired grants; returns how many.
    pub(crate) async fn reap_expired(&self, now: SystemTime) -> Result<usize> {
        let expired: Vec<String> = {
            let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
            grants
                .values()
                .filter(|g| g.expires() <= now)
                .map(|g| g.id.clone())
                .collect()
        };
        for id in &expired {
            self.view.delete(id).await.map_err(Error::from_barrier)?;
            self.grants
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
        Ok(expired.len())
    }

    /// Serves `sys/grants[/<id>]`.
    pub(crate) async fn handle(
        &self,
        now: SystemTime,
        operation: Operation,
        data: &Map<String, Value>,
        rest: &str,
        created_by: &str,
    ) -> Result<Reply> {
        let id = rest.trim_start_matches("grants").trim_start_matches('/');
        match (id, operation) {
            ("", Operation::Update | Operation::Create) => self.create(now, data, created_by).await,
            ("", Operation::List | Operation::Read) => Ok(self.list(now)),
            (id, Operation::Read) => {
                let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
                match grants.get(id).filter(|g| g.expires() > now) {
                    Some(grant) => Ok(Reply::ok(Response::with_data(grant.json()))),
                    None => Ok(Reply::NotFound),
                }
            }
            (id, Operation::Delete) => {
                self.view.delete(id).await.map_err(Error::from_barrier)?;
                let removed = self
                    .grants
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                if let Some(grant) = removed {
                    tracing::info!(grant = %grant.id, identity = %format!("{}:{}", grant.identity_kind, grant.identity_name), "grant revoked");
                }
                Ok(Reply::NoContent)
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }

    fn list(&self, now: SystemTime) -> Reply {
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        let live: Vec<&GrantRecord> = grants.values().filter(|g| g.expires() > now).collect();
        if live.is_empty() {
            return Reply::NotFound;
        }
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            json!(live.iter().map(|g| g.id.clone()).collect::<Vec<_>>()),
        );
        let info: Map<String, Value> = live
            .iter()
            .map(|g| (g.id.clone(), Value::Object(g.json())))
            .collect();
        data.insert("key_info".into(), Value::Object(info));
        Reply::ok(Response::with_data(data))
    }

    async fn create(
        &self,
        now: SystemTime,
        data: &Map<String, Value>,
        created_by: &str,
    ) -> Result<Reply> {
        let identity =
            Identity::from_json(data.get("identity").unwrap_or(&Value::Null), "identity")?;
        let path = params::string(data, "path")?
            .map(|p| p.trim().trim_start_matches('/').to_owned())
            .unwrap_or_default();
        if path.is_empty() || path == "*" {
            return Err(Error::invalid("path must name what the grant is for"));
        }
        if path[..path.len() - 1].contains('*') {
            return Err(Error::invalid(
                "path may end in '*' but contain no other '*'",
            ));
        }
        let capabilities =
            params::string_list(data, "capabilities")?.unwrap_or_else(|| vec!["read".to_owned()]);
        if capabilities.is_empty() {
            return Err(Error::invalid("capabilities must not be empty"));
        }
        for capability in &capabilities {
            if !GRANTABLE.contains(&capability.as_str()) {
                return Err(Error::invalid(format!(
                    "capability {capability:?} cannot be granted (use {})",
                    GRANTABLE.join(", ")
                )));
            }
        }
        let duration = match params::ttl(data, "duration")? {
            Some(d) => d,
            None => params::ttl(data, "ttl")?
                .ok_or_else(|| Error::invalid("duration is required, e.g. \"1h\""))?,
        };
        if duration.is_zero() {
            return Err(Error::invalid("duration must be longer than zero"));
        }
        if duration > Ttl::from(SYSTEM_MAX_TTL) {
            return Err(Error::invalid(format!(
                "duration may be at most {}",
                Ttl::from(SYSTEM_MAX_TTL).go_string()
            )));
        }
        let record = GrantRecord {
            id: uuid::Uuid::new_v4().to_string(),
            identity_kind: identity.kind,
            identity_name: identity.name,
            path,
            capabilities,
            created_nanos: nanos(now),
            expires_nanos: nanos(now + duration.duration()),
            created_by: created_by.to_owned(),
        };
        let bytes = crate::record::encode(&record);
        self.view
            .put(&record.id, &bytes)
            .await
            .map_err(Error::from_barrier)?;
        tracing::info!(grant = %record.id, identity = %format!("{}:{}", record.identity_kind, record.identity_name), path = %record.path, "grant created");
        let reply = record.json();
        self.grants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.id.clone(), record);
        Ok(Reply::ok(Response::with_data(reply)))
    }
}
