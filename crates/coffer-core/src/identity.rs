//! The identity store: entities (a person or an agent, `{type, name}`) and groups that attach
//! policies to entities. A login finds or creates the entity for its identity, and the policies of
//! the entity and of every group it belongs to are added to the token it gets. Records live behind
//! the barrier at `identity/entity/<id>` and `identity/group/<id>`; all are held in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;
use std::time::SystemTime;

use coffer_barrier::View;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::engine::Identity;
use crate::request::{Operation, Reply, Response};
use crate::{Error, Result, params};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entity {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) policies: Vec<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) disabled: bool,
    pub(crate) created_nanos: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) policies: Vec<String>,
    pub(crate) member_entity_ids: Vec<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) created_nanos: u64,
}

#[derive(Default)]
struct Records {
    entities: BTreeMap<String, Entity>,
    groups: BTreeMap<String, Group>,
}

/// Entities and groups of one unsealed core.
pub(crate) struct IdentityStore {
    view: View,
    records: RwLock<Records>,
    changes: tokio::sync::Mutex<()>,
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    crate::record::encode(record)
}

fn normalize_policies(list: Vec<String>) -> Vec<String> {
    let set: BTreeSet<String> = list
        .into_iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    set.into_iter().collect()
}

/// What an entity or group write is about: the name it asks for (from the URL's `name/<name>`
/// or the body's `name`) and the existing record it targets (by `id/<id>`, or by that name).
/// Writing to an unknown id is an error; an unknown name means "create".
fn targeted<T>(
    data: &Map<String, Value>,
    target: Option<(bool, &str)>,
    what: &str,
    find: impl Fn(bool, &str) -> Option<T>,
) -> Result<(Option<String>, Option<T>)> {
    let name = match target {
        Some((false, name)) => Some(name.to_owned()),
        _ => params::string(data, "name")?.filter(|n| !n.is_empty()),
    };
    let existing = match (target, &name) {
        (Some((true, id)), _) => {
            Some(find(true, id).ok_or_else(|| Error::invalid(format!("{what} not found")))?)
        }
        (_, Some(name)) => find(false, name),
        (_, None) => None,
    };
    Ok((name, existing))
}

impl IdentityStore {
    /// Loads every entity and group.
    pub(crate) async fn load(view: View) -> Result<IdentityStore> {
        let mut records = Records::default();
        for (_, entity) in crate::record::load_all::<Entity>(&view, "entity/", "identity/").await? {
            records.entities.insert(entity.id.clone(), entity);
        }
        for (_, group) in crate::record::load_all::<Group>(&view, "group/", "identity/").await? {
            records.groups.insert(group.id.clone(), group);
        }
        Ok(IdentityStore {
            view,
            records: RwLock::new(records),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    fn entity_by(&self, pred: impl Fn(&Entity) -> bool) -> Option<Entity> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .entities
            .values()
            .find(|e| pred(e))
            .cloned()
    }

    fn group_by(&self, pred: impl Fn(&Group) -> bool) -> Option<Group> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .groups
            .values()
            .find(|g| pred(g))
            .cloned()
    }

    async fn save_entity(&self, entity: Entity) -> Result<Entity> {
        self.view
            .put(&format!("entity/{}", entity.id), &encode(&entity))
            .await
            .map_err(Error::from_barrier)?;
        self.records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entities
            .insert(entity.id.clone(), entity.clone());
        Ok(entity)
    }

    async fn save_group(&self, group: Group) -> Result<Group> {
        self.view
            .put(&format!("group/{}", group.id), &encode(&group))
            .await
            .map_err(Error::from_barrier)?;
        self.records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .groups
            .insert(group.id.clone(), group.clone());
        Ok(group)
    }

    /// The entity for a login's identity, created on first login; refused when disabled.
    pub(crate) async fn entity_for_login(
        &self,
        identity: &Identity,
        now: SystemTime,
    ) -> Result<Entity> {
        if let Some(entity) = self.entity_by(|e| e.kind == identity.kind && e.name == identity.name)
        {
            if entity.disabled {
                return Err(Error::PermissionDenied);
            }
            return Ok(entity);
        }
        let _guard = self.changes.lock().await;
        if let Some(entity) = self.entity_by(|e| e.kind == identity.kind && e.name == identity.name)
        {
            return Ok(entity);
        }
        let entity = Entity {
            id: uuid::Uuid::new_v4().to_string(),
            name: identity.name.clone(),
            kind: identity.kind.clone(),
            policies: Vec::new(),
            metadata: BTreeMap::new(),
            disabled: false,
            created_nanos: nanos(now),
        };
        self.save_entity(entity).await
    }

    /// Policies an entity gets directly and through its groups.
    pub(crate) fn policies_of(&self, entity_id: &str) -> Vec<String> {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        let mut policies: BTreeSet<String> = BTreeSet::new();
        if let Some(entity) = records.entities.get(entity_id) {
            policies.extend(entity.policies.iter().cloned());
        }
        for group in records.groups.values() {
            if group.member_entity_ids.iter().any(|m| m == entity_id) {
                policies.extend(group.policies.iter().cloned());
            }
        }
        policies.into_iter().collect()
    }

    /// The groups an entity belongs to.
    fn group_ids_of(&self, entity_id: &str) -> Vec<String> {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        records
            .groups
            .values()
            .filter(|g| g.member_entity_ids.iter().any(|m| m == entity_id))
            .map(|g| g.id.clone())
            .collect()
    }

    /// Serves `identity/<rest>`.
    pub(crate) async fn handle(
        &self,
        now: SystemTime,
        operation: Operation,
        data: &Map<String, Value>,
        rest: &str,
    ) -> Result<Reply> {
        let write = matches!(operation, Operation::Update | Operation::Create);
        match (rest, operation) {
            ("entity", _) if write => self.write_entity(now, data, None).await,
            ("group", _) if write => self.write_group(now, data, None).await,
            ("entity/id" | "entity/id/", Operation::List) => Ok(self.list(true, true)),
            ("entity/name" | "entity/name/", Operation::List) => Ok(self.list(true, false)),
            ("group/id" | "group/id/", Operation::List) => Ok(self.list(false, true)),
            ("group/name" | "group/name/", Operation::List) => Ok(self.list(false, false)),
            _ => {
                let (is_entity, by_id, key) = if let Some(k) = rest.strip_prefix("entity/id/") {
                    (true, true, k)
                } else if let Some(k) = rest.strip_prefix("entity/name/") {
                    (true, false, k)
                } else if let Some(k) = rest.strip_prefix("group/id/") {
                    (false, true, k)
                } else if let Some(k) = rest.strip_prefix("group/name/") {
                    (false, false, k)
                } else {
                    return Err(Error::UnsupportedPath);
                };
                match operation {
                    Operation::Read if is_entity => Ok(self.read_entity(by_id, key)),
                    Operation::Read => Ok(self.read_group(by_id, key)),
                    Operation::Delete => self
                        .delete(is_entity, by_id, key)
                        .await
                        .map(|()| Reply::NoContent),
                    _ if write && is_entity => {
                        self.write_entity(now, data, Some((by_id, key))).await
                    }
                    _ if write => self.write_group(now, data, Some((by_id, key))).await,
                    _ => Err(Error::UnsupportedOperation),
                }
            }
        }
    }

    fn list(&self, entities: bool, by_id: bool) -> Reply {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<String> = if entities {
            records
                .entities
                .values()
                .map(|e| if by_id { e.id.clone() } else { e.name.clone() })
                .collect()
        } else {
            records
                .groups
                .values()
                .map(|g| if by_id { g.id.clone() } else { g.name.clone() })
                .collect()
        };
        if keys.is_empty() {
            return Reply::NotFound;
        }
        keys.sort();
        let mut data = Map::new();
        data.insert("keys".into(), json!(keys));
        Reply::ok(Response::with_data(data))
    }

    fn entity_json(&self, entity: &Entity) -> Map<String, Value> {
        let created =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(entity.created_nanos);
        let groups = self.group_ids_of(&entity.id);
        let mut data = Map::new();
        data.insert("id".into(), json!(entity.id));
        data.insert("name".into(), json!(entity.name));
        data.insert("type".into(), json!(entity.kind));
        data.insert("policies".into(), json!(entity.policies));
        data.insert(
            "metadata".into(),
            if entity.metadata.is_empty() {
                Value::Null
            } else {
                json!(entity.metadata)
            },
        );
        data.insert("disabled".into(), json!(entity.disabled));
        data.insert("creation_time".into(), json!(rfc3339(created)));
        data.insert("aliases".into(), json!([]));
        data.insert("group_ids".into(), json!(groups));
        data.insert("direct_group_ids".into(), json!(groups));
        data
    }

    fn read_entity(&self, by_id: bool, key: &str) -> Reply {
        match self.entity_by(|e| if by_id { e.id == key } else { e.name == key }) {
            Some(entity) => Reply::ok(Response::with_data(self.entity_json(&entity))),
            None => Reply::NotFound,
        }
    }

    fn read_group(&self, by_id: bool, key: &str) -> Reply {
        let Some(group) = self.group_by(|g| if by_id { g.id == key } else { g.name == key }) else {
            return Reply::NotFound;
        };
        let created = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(group.created_nanos);
        let mut data = Map::new();
        data.insert("id".into(), json!(group.id));
        data.insert("name".into(), json!(group.name));
        data.insert("type".into(), json!("internal"));
        data.insert("policies".into(), json!(group.policies));
        data.insert("member_entity_ids".into(), json!(group.member_entity_ids));
        data.insert(
            "metadata".into(),
            if group.metadata.is_empty() {
                Value::Null
            } else {
                json!(group.metadata)
            },
        );
        data.insert("creation_time".into(), json!(rfc3339(created)));
        Reply::ok(Response::with_data(data))
    }

    async fn write_entity(
        &self,
        now: SystemTime,
        data: &Map<String, Value>,
        target: Option<(bool, &str)>,
    ) -> Result<Reply> {
        let _guard = self.changes.lock().await;
        let (name, existing) = targeted(data, target, "entity", |by_id, key| {
            self.entity_by(|e| if by_id { e.id == key } else { e.name == key })
        })?;
        let created = existing.is_none();
        let mut entity = existing.unwrap_or_else(|| Entity {
            id: uuid::Uuid::new_v4().to_string(),
            name: String::new(),
            kind: "user".into(),
            policies: Vec::new(),
            metadata: BTreeMap::new(),
            disabled: false,
            created_nanos: nanos(now),
        });
        if let Some(name) = name {
            if let Some(other) = self.entity_by(|e| e.name == name && e.id != entity.id) {
                return Err(Error::invalid(format!(
                    "entity name {:?} is already in use by entity {}",
                    name, other.id
                )));
            }
            entity.name = name;
        }
        if entity.name.is_empty() {
            entity.name = format!("entity_{}", &entity.id[..8]);
        }
        if let Some(kind) = params::string(data, "type")?.filter(|k| !k.is_empty()) {
            entity.kind = kind;
        }
        if let Some(policies) = params::string_list(data, "policies")? {
            entity.policies = normalize_policies(policies);
        }
        if let Some(metadata) = params::string_map(data, "metadata")? {
            entity.metadata = metadata;
        }
        if let Some(disabled) = params::boolean(data, "disabled")? {
            entity.disabled = disabled;
        }
        let entity = self.save_entity(entity).await?;
        if !created {
            return Ok(Reply::NoContent);
        }
        let mut reply = Map::new();
        reply.insert("id".into(), json!(entity.id));
        reply.insert("name".into(), json!(entity.name));
        reply.insert("aliases".into(), Value::Null);
        Ok(Reply::ok(Response::with_data(reply)))
    }

    async fn write_group(
        &self,
        now: SystemTime,
        data: &Map<String, Value>,
        target: Option<(bool, &str)>,
    ) -> Result<Reply> {
        let _guard = self.changes.lock().await;
        let (name, existing) = targeted(data, target, "group", |by_id, key| {
            self.group_by(|g| if by_id { g.id == key } else { g.name == key })
        })?;
        let created = existing.is_none();
        let mut group = existing.unwrap_or_else(|| Group {
            id: uuid::Uuid::new_v4().to_string(),
            name: String::new(),
            policies: Vec::new(),
            member_entity_ids: Vec::new(),
            metadata: BTreeMap::new(),
            created_nanos: nanos(now),
        });
        if let Some(name) = name {
            group.name = name;
        }
        if group.name.is_empty() {
            group.name = format!("group_{}", &group.id[..8]);
        }
        if let Some(policies) = params::string_list(data, "policies")? {
            group.policies = normalize_policies(policies);
        }
        if let Some(members) = params::string_list(data, "member_entity_ids")? {
            for member in &members {
                if self.entity_by(|e| &e.id == member).is_none() {
                    return Err(Error::invalid(format!("entity {member:?} does not exist")));
                }
            }
            let set: BTreeSet<String> = members.into_iter().collect();
            group.member_entity_ids = set.into_iter().collect();
        }
        if let Some(metadata) = params::string_map(data, "metadata")? {
            group.metadata = metadata;
        }
        let group = self.save_group(group).await?;
        if !created {
            return Ok(Reply::NoContent);
        }
        let mut reply = Map::new();
        reply.insert("id".into(), json!(group.id));
        reply.insert("name".into(), json!(group.name));
        Ok(Reply::ok(Response::with_data(reply)))
    }

    async fn delete(&self, is_entity: bool, by_id: bool, key: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        if is_entity {
            let Some(entity) = self.entity_by(|e| if by_id { e.id == key } else { e.name == key })
            else {
                return Ok(());
            };
            self.view
                .delete(&format!("entity/{}", entity.id))
                .await
                .map_err(Error::from_barrier)?;
            self.records
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entities
                .remove(&entity.id);
        } else {
            let Some(group) = self.group_by(|g| if by_id { g.id == key } else { g.name == key })
            else {
                return Ok(());
            };
            self.view
                .delete(&format!("group/{}", group.id))
                .await
                .map_err(Error::from_barrier)?;
            self.records
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .groups
                .remove(&group.id);
        }
        Ok(())
    }
}
