//! The audit side of a node: the enabled audit devices (declared in the server config, or
//! enabled over `sys/audit` and persisted behind the barrier at `core/audit/<name>` with their HMAC
//! salt), `sys/audit*` endpoints, and the translation of requests and replies into
//! `coffer_audit::AuditEvent`s. The pipeline records every request before it runs and every reply
//! after; when devices are enabled and none can record, the request fails (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coffer_audit::{
    AuditAuth, AuditEvent, AuditLease, AuditNotification, AuditRequest, AuditResponse, Broker,
    Device, DeviceConfig, EventKind, PolicyResults,
};
use coffer_barrier::View;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::namespace::NamespaceState;
use crate::request::{Operation, Reply, Request, Response};
use crate::token::TokenEntry;
use crate::{Error, Result, params};

/// How long one device may take to record one event before the request fails.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct DeviceRecord {
    name: String,
    kind: String,
    description: String,
    options: BTreeMap<String, String>,
    salt_hex: String,
}

/// The audit devices of one unsealed core.
pub(crate) struct AuditLog {
    broker: Arc<Broker>,
    view: View,
    declared: Vec<String>,
}

fn random_salt() -> Result<Zeroizing<Vec<u8>>> {
    let mut salt = Zeroizing::new(vec![0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), salt.as_mut_slice())
        .map_err(|_| Error::invalid("the system random number generator failed"))?;
    Ok(salt)
}

fn normalize_name(name: &str) -> String {
    format!("{}/", name.trim().trim_matches('/'))
}

impl AuditLog {
    /// Opens the persisted devices and the ones declared in the server configuration (whose salts
    /// are kept behind the barrier too, so hashes stay stable across restarts).
    pub(crate) async fn load(view: View, declared: &[DeviceConfig]) -> Result<AuditLog> {
        let broker = Arc::new(Broker::new());
        let mut log = AuditLog {
            broker,
            view,
            declared: Vec::new(),
        };
        for config in declared {
            let mut config = config.clone();
            config.name = normalize_name(&config.name);
            let salt = log.salt_for(&config).await?;
            let device = Device::open(config.clone(), salt)
                .map_err(|e| Error::invalid(format!("audit device {}: {e}", config.name)))?;
            log.broker
                .add(device)
                .map_err(|e| Error::invalid(e.to_string()))?;
            log.declared.push(config.name);
        }
        for (key, record) in
            crate::record::load_all::<DeviceRecord>(&log.view, "device/", "core/audit/").await?
        {
            if log.declared.contains(&record.name) {
                continue;
            }
            let salt = Zeroizing::new(hex::decode(&record.salt_hex).map_err(|_| {
                Error::CorruptRecord {
                    path: format!("core/audit/{key}"),
                    reason: "bad salt".into(),
                }
            })?);
            let config = DeviceConfig {
                name: record.name.clone(),
                kind: record.kind,
                options: record.options,
                description: record.description,
            };
            match Device::open(config, salt) {
                Ok(device) => {
                    if let Err(error) = log.broker.add(device) {
                        tracing::error!(device = %record.name, %error, "cannot add audit device");
                    }
                }
                // The device stays configured; with no working device requests fail closed.
                Err(error) => {
                    tracing::error!(device = %record.name, %error, "cannot open audit device")
                }
            }
        }
        Ok(log)
    }

    async fn salt_for(&self, config: &DeviceConfig) -> Result<Zeroizing<Vec<u8>>> {
        let path = format!("declared-salt/{}", config.name.trim_end_matches('/'));
        if let Some(bytes) = self.view.get(&path).await.map_err(Error::from_barrier)? {
            return Ok(bytes);
        }
        let salt = random_salt()?;
        self.view
            .put(&path, &salt)
            .await
            .map_err(Error::from_barrier)?;
        Ok(salt)
    }

    /// Whether any audit device is enabled. With none, recording is a no-op, so callers skip
    /// building events at all.
    pub(crate) fn is_enabled(&self) -> bool {
        !self.broker.is_empty()
    }

    /// Records an event; `Err` (fail closed) when devices exist and none recorded it.
    pub(crate) async fn record(&self, event: &AuditEvent) -> Result<()> {
        self.broker
            .log(event, DEVICE_TIMEOUT)
            .await
            .map_err(|error| {
                tracing::error!(%error, "no audit device could record the request; refusing it");
                Error::AuditFailed
            })
    }

    /// SIGHUP: reopen every device's file.
    pub(crate) async fn reopen(&self) {
        self.broker.reopen().await;
    }

    /// Devices whose last write failed, for `sys/health`.
    pub(crate) fn failing(&self) -> Vec<(String, String)> {
        self.broker
            .health()
            .into_iter()
            .filter_map(|(name, error)| error.map(|e| (name, e)))
            .collect()
    }

    /// Serves `sys/audit`, `sys/audit/<name>` and `sys/audit-hash/<name>`.
    pub(crate) async fn handle(
        &self,
        operation: Operation,
        data: &Map<String, Value>,
        rest: &str,
    ) -> Option<Result<Reply>> {
        let write = matches!(operation, Operation::Update | Operation::Create);
        let reply = if rest == "audit" {
            match operation {
                Operation::Read => Ok(self.list()),
                _ => Err(Error::UnsupportedOperation),
            }
        } else if let Some(name) = rest.strip_prefix("audit/") {
            match operation {
                _ if write => self.enable(name, data).await.map(|()| Reply::NoContent),
                Operation::Delete => self.disable(name).await.map(|()| Reply::NoContent),
                _ => Err(Error::UnsupportedOperation),
            }
        } else if rest == "audit-logs" {
            match operation {
                Operation::Read | Operation::List => self.logs(data).await,
                _ => Err(Error::UnsupportedOperation),
            }
        } else if let Some(name) = rest.strip_prefix("audit-hash/") {
            match operation {
                _ if write => self.hash(name, data),
                _ => Err(Error::UnsupportedOperation),
            }
        } else {
            return None;
        };
        Some(reply)
    }

    fn list(&self) -> Reply {
        let mut devices = Map::new();
        for config in self.broker.list() {
            let declared = self.declared.contains(&config.name);
            devices.insert(
                config.name.clone(),
                json!({
                    "type": config.kind,
                    "description": config.description,
                    "options": config.options,
                    "path": config.name,
                    "local": false,
                    "declared": declared,
                }),
            );
        }
        Reply::ok(Response::with_data(devices))
    }

    async fn enable(&self, name: &str, data: &Map<String, Value>) -> Result<()> {
        let name = normalize_name(name);
        if name == "/" {
            return Err(Error::invalid("an audit device needs a path"));
        }
        let kind = match data.get("type") {
            Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
            _ => return Err(Error::invalid("type is required")),
        };
        let options = match data.get("options") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(_)) => params::string_map(data, "options")?.unwrap_or_default(),
            Some(_) => return Err(Error::invalid("options must be a map of strings")),
        };
        if options.get("prefix").is_some_and(|p| !p.is_empty()) {
            return Err(Error::invalid("audit log prefixing is not allowed"));
        }
        if self.broker.list().iter().any(|c| c.name == name) {
            return Err(Error::invalid("path already in use"));
        }
        let config = DeviceConfig {
            name: name.clone(),
            kind: kind.clone(),
            options: options.clone(),
            description: params::string(data, "description")?.unwrap_or_default(),
        };
        let salt = random_salt()?;
        let device = Device::open(config.clone(), salt.clone())
            .map_err(|e| Error::invalid(e.to_string()))?;
        let record = DeviceRecord {
            name: name.clone(),
            kind,
            description: config.description.clone(),
            options,
            salt_hex: hex::encode(salt.as_slice()),
        };
        let bytes = crate::record::encode(&record);
        self.view
            .put(&format!("device/{}", name.trim_end_matches('/')), &bytes)
            .await
            .map_err(Error::from_barrier)?;
        self.broker
            .add(device)
            .map_err(|e| Error::invalid(e.to_string()))?;
        tracing::info!(device = %name, "audit device enabled");
        Ok(())
    }

    async fn disable(&self, name: &str) -> Result<()> {
        let name = normalize_name(name);
        if self.declared.contains(&name) {
            return Err(Error::invalid(
                "cannot disable configuration-managed audit device",
            ));
        }
        self.view
            .delete(&format!("device/{}", name.trim_end_matches('/')))
            .await
            .map_err(Error::from_barrier)?;
        if self.broker.remove(&name).is_some() {
            tracing::info!(device = %name, "audit device disabled");
        }
        Ok(())
    }

    fn hash(&self, name: &str, data: &Map<String, Value>) -> Result<Reply> {
        let name = normalize_name(name);
        let input = params::string(data, "input")?.unwrap_or_default();
        let hash = self
            .broker
            .hash(&name, &input)
            .ok_or_else(|| Error::invalid(format!("unknown audit backend {name}")))?;
        let mut reply = Map::new();
        reply.insert("hash".into(), json!(hash));
        Ok(Reply::ok(Response::with_data(reply)))
    }
}

/// A time parameter: a duration ago (`24h`) or an RFC 3339 time.
fn time_param(
    data: &Map<String, Value>,
    field: &str,
    now: SystemTime,
) -> Result<Option<SystemTime>> {
    let Some(text) = params::string(data, field)?.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ago) = crate::ttl::Ttl::parse(&text) {
        return Ok(Some(
            now.checked_sub(ago.duration())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ));
    }
    humantime::parse_rfc3339_weak(&text).map(Some).map_err(|_| {
        Error::invalid(format!(
            "{field} must be a duration like 24h or an RFC 3339 time, not {text:?}"
        ))
    })
}

fn filter_of(data: &Map<String, Value>, now: SystemTime) -> Result<coffer_audit::Filter> {
    use coffer_audit::{Action, Outcome, Resource};
    let resource = match params::string(data, "resource")?.as_deref() {
        None | Some("") => None,
        Some("secrets") => Some(Resource::Secrets),
        Some("credentials") => Some(Resource::Credentials),
        Some("leases") => Some(Resource::Leases),
        Some("auth") => Some(Resource::Auth),
        Some(other) => {
            return Err(Error::invalid(format!(
                "unknown resource {other:?} (use secrets, credentials, leases or auth)"
            )));
        }
    };
    let action = match params::string(data, "action")?.as_deref() {
        None | Some("") => None,
        Some("read" | "accessed") => Some(Action::Read),
        Some("write" | "created" | "updated") => Some(Action::Write),
        Some("delete" | "deleted") => Some(Action::Delete),
        Some("lease") => Some(Action::Lease),
        Some("rotate") => Some(Action::Rotate),
        Some("login") => Some(Action::Login),
        Some("denied") => Some(Action::Denied),
        Some("notify") => Some(Action::Notify),
        Some(other) => {
            return Err(Error::invalid(format!(
                "unknown action {other:?} (use read, write, delete, lease, rotate, login, denied or notify)"
            )));
        }
    };
    let result = match params::string(data, "result")?.as_deref() {
        None | Some("") => None,
        Some("success") => Some(Outcome::Success),
        Some("failure") => Some(Outcome::Failure),
        Some(other) => {
            return Err(Error::invalid(format!(
                "unknown result {other:?} (use success or failure)"
            )));
        }
    };
    let actor = match params::string(data, "actor")?.filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => {
            let (kind, name) = text
                .split_once(':')
                .ok_or_else(|| Error::invalid("actor must look like user:alice or agent:NAME"))?;
            Some((kind.to_owned(), name.to_owned()))
        }
    };
    Ok(coffer_audit::Filter {
        resource,
        action,
        actor,
        path_glob: params::string(data, "path")?.filter(|p| !p.is_empty()),
        since: time_param(data, "since", now)?,
        until: time_param(data, "until", now)?,
        result,
    })
}

/// One line of `coffer audit logs` (who did what to which path, when, and how it ended) as
/// `sys/audit-logs` replies with it.
fn summary_reply(summary: coffer_audit::AuditSummary) -> Value {
    json!({
        "time": summary.time,
        "actor": summary.actor,
        "action": summary.action.map(coffer_audit::Action::as_str),
        "path": summary.path,
        "operation": summary.operation,
        "result": summary.result.as_str(),
        "error": summary.error,
        "request_id": summary.request_id,
    })
}

impl AuditLog {
    /// `sys/audit-logs`: matching records from a store device (indexed) when one is enabled or
    /// named by `device`, otherwise from a file device's log.
    async fn logs(&self, data: &Map<String, Value>) -> Result<Reply> {
        let filter = filter_of(data, SystemTime::now())?;
        let limit = params::unsigned(data, "limit")?.map(|l| l as usize);
        let wanted = params::string(data, "device")?
            .filter(|d| !d.is_empty())
            .map(|d| normalize_name(&d));
        let candidates: Vec<DeviceConfig> = self
            .broker
            .list()
            .into_iter()
            .filter(|c| wanted.as_ref().is_none_or(|w| &c.name == w))
            .collect();
        let store = candidates
            .iter()
            .filter(|c| c.kind == "store")
            .find_map(|c| c.options.get("path").cloned());
        let source = match store {
            Some(path) => LogSource::Store(path),
            None => candidates
                .iter()
                .filter(|c| c.kind == "file")
                .filter_map(|c| c.options.get("file_path").cloned())
                .find(|p| p != "-" && p != "stdout" && p != "discard")
                .map(LogSource::File)
                .ok_or_else(|| {
                    Error::invalid(
                        "no file audit device to read; enable one with file_path set \
                         (or a store device)",
                    )
                })?,
        };
        let summaries =
            tokio::task::spawn_blocking(move || -> Result<Vec<coffer_audit::AuditSummary>> {
                match source {
                    LogSource::Store(path) => {
                        coffer_audit::store_summaries(std::path::Path::new(&path), &filter, limit)
                            .map_err(|e| {
                                Error::invalid(format!("cannot read the audit store {path}: {e}"))
                            })
                    }
                    LogSource::File(path) => {
                        let file = std::fs::File::open(&path).map_err(|e| {
                            Error::invalid(format!("cannot read the audit log {path}: {e}"))
                        })?;
                        coffer_audit::summaries(std::io::BufReader::new(file), &filter, limit)
                            .map_err(|e| {
                                Error::invalid(format!("cannot read the audit log {path}: {e}"))
                            })
                    }
                }
            })
            .await
            .map_err(|_| Error::invalid("the audit log query was interrupted"))??;
        let mut reply = Map::new();
        reply.insert(
            "records".into(),
            Value::Array(summaries.into_iter().map(summary_reply).collect()),
        );
        Ok(Reply::ok(Response::with_data(reply)))
    }
}

/// Where `sys/audit-logs` reads from: a store device's database or a file device's log.
enum LogSource {
    Store(String),
    File(String),
}

/// What the pipeline knows about where a request went.
pub(crate) struct MountFacts {
    pub(crate) point: String,
    pub(crate) kind: String,
    pub(crate) accessor: String,
}

/// The `auth` part of a record, from the caller's token.
pub(crate) fn auth_of(
    entry: &TokenEntry,
    policies: &[String],
    decision: Option<(bool, Vec<String>)>,
    now: SystemTime,
) -> AuditAuth {
    AuditAuth {
        client_token: None,
        accessor: Some(entry.accessor().to_string()),
        display_name: entry.display_name().to_owned(),
        policies: policies.to_vec(),
        token_policies: entry.policies().to_vec(),
        metadata: entry.meta().clone(),
        entity_id: entry.entity_id().to_owned(),
        identity: entry.identity().map(|i| (i.kind.clone(), i.name.clone())),
        token_type: "service".into(),
        token_ttl: entry.remaining(now).as_secs(),
        policy_results: decision.map(|(allowed, granting_policies)| PolicyResults {
            allowed,
            granting_policies,
        }),
    }
}

/// The `request` part of a record; `path` is the request's path inside `namespace`.
pub(crate) fn request_of(
    request: &Request,
    operation: Operation,
    mount: Option<&MountFacts>,
    namespace: &NamespaceState,
) -> AuditRequest {
    AuditRequest {
        id: request.id.to_string(),
        operation: operation.as_str().to_owned(),
        path: request.path.to_string(),
        mount_point: mount.map(|m| m.point.clone()),
        mount_type: mount.map(|m| m.kind.clone()),
        mount_accessor: mount.map(|m| m.accessor.clone()),
        namespace: namespace.id().as_str().to_owned(),
        namespace_path: namespace.path().to_owned(),
        data: (!request.data.is_empty()).then(|| request.data.clone()),
        remote_address: request.remote_addr.map(|a| a.ip().to_string()),
        remote_port: request.remote_addr.map(|a| a.port()),
        wrap_ttl: request.wrap_ttl.map(|t| t.as_secs()),
    }
}

/// The event recorded before a request runs.
pub(crate) fn request_event(
    now: SystemTime,
    auth: Option<AuditAuth>,
    request: AuditRequest,
    client_token: Option<&str>,
) -> AuditEvent {
    let auth = auth.map(|mut a| {
        a.client_token = client_token.map(str::to_owned);
        a
    });
    AuditEvent {
        time: now,
        kind: EventKind::Request,
        auth,
        request,
        response: None,
        error: None,
    }
}

/// The `notify` line of an event an engine raised by itself (a rotation reminder): a response
/// line with no client, the actor `system:reminders`, the item's path below its mount in clear,
/// and the facts in `response.notification` (clear: names and dates, never values).
pub(crate) fn notification_event(
    now: SystemTime,
    id: &str,
    namespace: &NamespaceState,
    mount: &MountFacts,
    event: &crate::engine::EngineEvent,
) -> AuditEvent {
    AuditEvent {
        time: now,
        kind: EventKind::Response,
        auth: Some(AuditAuth {
            client_token: None,
            accessor: None,
            display_name: "reminders".into(),
            policies: Vec::new(),
            token_policies: Vec::new(),
            metadata: BTreeMap::new(),
            entity_id: String::new(),
            identity: Some(("system".into(), "reminders".into())),
            token_type: String::new(),
            token_ttl: 0,
            policy_results: None,
        }),
        request: AuditRequest {
            id: id.to_owned(),
            operation: "notify".into(),
            path: format!("{}{}", mount.point, event.name),
            mount_point: Some(mount.point.clone()),
            mount_type: Some(mount.kind.clone()),
            mount_accessor: Some(mount.accessor.clone()),
            namespace: namespace.id().as_str().to_owned(),
            namespace_path: namespace.path().to_owned(),
            data: None,
            remote_address: None,
            remote_port: None,
            wrap_ttl: None,
        },
        response: Some(AuditResponse {
            status: 200,
            data: None,
            auth: None,
            lease: None,
            wrap_token: None,
            notification: Some(AuditNotification {
                event: event.event.to_owned(),
                name: event.name.clone(),
                item_type: event.item_type.clone(),
                version: event.version,
                at: event.at,
                source: event.source.to_owned(),
            }),
        }),
        error: None,
    }
}

/// The event recorded after a request ran (or failed).
pub(crate) fn response_event(
    now: SystemTime,
    auth: Option<AuditAuth>,
    request: AuditRequest,
    client_token: Option<&str>,
    outcome: &Result<Reply>,
) -> AuditEvent {
    let auth = auth.map(|mut a| {
        a.client_token = client_token.map(str::to_owned);
        a
    });
    let (response, error) = match outcome {
        Ok(reply) => (Some(response_of(reply)), None),
        Err(error) => (None, Some(error.to_string())),
    };
    AuditEvent {
        time: now,
        kind: EventKind::Response,
        auth,
        request,
        response,
        error,
    }
}

fn response_of(reply: &Reply) -> AuditResponse {
    let (status, response) = match reply {
        Reply::Ok(response) => (200, Some(response.as_ref())),
        Reply::NoContent => (204, None),
        Reply::NotFound | Reply::NotFoundEmpty => (404, None),
        Reply::NotFoundWithBody(response) => (404, Some(response.as_ref())),
        Reply::Login(_) => (200, None),
    };
    AuditResponse {
        status,
        data: response.and_then(|r| r.data.clone()),
        auth: response.and_then(|r| r.auth.as_ref()).map(|a| AuditAuth {
            client_token: Some(a.client_token.expose().to_owned()),
            accessor: Some(a.accessor.to_string()),
            display_name: String::new(),
            policies: a.policies.clone(),
            token_policies: a.token_policies.clone(),
            metadata: a.metadata.clone(),
            entity_id: a.entity_id.clone(),
            identity: None,
            token_type: "service".into(),
            token_ttl: a.lease_duration,
            policy_results: None,
        }),
        lease: response.and_then(|r| r.lease.as_ref()).map(|l| AuditLease {
            id: l.id.clone(),
            identity_type: l.identity.kind.clone(),
            identity_name: l.identity.name.clone(),
            purpose: l.purpose.clone(),
        }),
        wrap_token: response
            .and_then(|r| r.wrap_info.as_ref())
            .map(|w| w.token.expose().to_owned()),
        notification: None,
    }
}
