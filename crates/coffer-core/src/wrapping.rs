//! Response wrapping: a reply is stored behind the barrier and replaced by a single-use wrapping
//! token (`X-Vault-Wrap-TTL`, `sys/wrapping/wrap`); `sys/wrapping/unwrap` returns the original
//! reply exactly once; `lookup` and `rewrap` as in Vault. Records live at
//! `sys/wrapping/<token scope>` and are deleted when the wrapping token is revoked or expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use coffer_barrier::{BarrierOp, View};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::mount::MountTable;
use crate::namespace::NamespaceState;
use crate::pipeline::Caller;
use crate::request::{AuthResponse, ClientToken, Operation, Reply, Request, Response, WrapInfo};
use crate::token::{Accessor, RevocationHook, TokenRequest};
use crate::ttl::Ttl;
use crate::{Error, Result, params};

/// The policy every wrapping token carries.
pub(crate) const WRAPPING_POLICY: &str = "response-wrapping";
/// What that policy allows.
pub(crate) const WRAPPING_POLICY_HCL: &str = r#"
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
"#;

#[derive(Serialize, Deserialize)]
struct StoredAuth {
    client_token: String,
    accessor: String,
    policies: Vec<String>,
    token_policies: Vec<String>,
    metadata: BTreeMap<String, String>,
    lease_duration: u64,
    renewable: bool,
    orphan: bool,
    num_uses: u32,
    entity_id: String,
}

#[derive(Serialize, Deserialize)]
struct WrappedRecord {
    creation_path: String,
    creation_nanos: u64,
    ttl_secs: u64,
    data: Option<Map<String, Value>>,
    auth: Option<StoredAuth>,
    warnings: Vec<String>,
    lease_duration: u64,
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn encode(record: &WrappedRecord) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(crate::record::encode(record))
}

fn decode(bytes: &[u8], path: &str) -> Result<WrappedRecord> {
    crate::record::decode(bytes, &format!("sys/wrapping/{path}"))
}

fn invalid_token() -> Error {
    Error::invalid("wrapping token is not valid or does not exist")
}

/// Revocation hook of the core: wrapped replies and engine data private to a token go with it.
pub(crate) struct Revocations {
    pub(crate) wrapping: View,
    pub(crate) mounts: Arc<MountTable>,
}

#[async_trait]
impl RevocationHook for Revocations {
    async fn token_revoked(&self, token_scope: &str) -> Result<()> {
        self.wrapping
            .delete(token_scope)
            .await
            .map_err(Error::from_barrier)?;
        self.mounts.token_revoked(token_scope).await
    }
}

/// Wraps a successful reply in namespace `state`: stores it and answers with a wrapping token of
/// that namespace instead.
pub(crate) async fn wrap(
    state: &NamespaceState,
    now: SystemTime,
    creation_path: &str,
    ttl: Ttl,
    response: Response,
) -> Result<Reply> {
    let issued = state
        .tokens
        .create(
            TokenRequest {
                policies: vec![WRAPPING_POLICY.to_owned()],
                meta: BTreeMap::new(),
                display_name: String::new(),
                num_uses: 0,
                ttl,
                explicit_max_ttl: ttl,
                period: Ttl::ZERO,
                renewable: false,
                path: creation_path.to_owned(),
                id: None,
                identity: None,
                entity_id: String::new(),
            },
            None,
        )
        .await?;
    let wrapped_accessor = response.auth.as_ref().map(|a| a.accessor.clone());
    let record = WrappedRecord {
        creation_path: creation_path.to_owned(),
        creation_nanos: nanos(now),
        ttl_secs: ttl.as_secs(),
        data: response.data,
        auth: response.auth.map(|a| StoredAuth {
            client_token: a.client_token.expose().to_owned(),
            accessor: a.accessor.to_string(),
            policies: a.policies,
            token_policies: a.token_policies,
            metadata: a.metadata,
            lease_duration: a.lease_duration,
            renewable: a.renewable,
            orphan: a.orphan,
            num_uses: a.num_uses,
            entity_id: a.entity_id,
        }),
        warnings: response.warnings,
        lease_duration: response.lease_duration,
    };
    state
        .wrapping
        .put(issued.entry.scope(), &encode(&record))
        .await
        .map_err(Error::from_barrier)?;
    let info = WrapInfo {
        token: issued.token,
        accessor: issued.entry.accessor().clone(),
        ttl: ttl.as_secs(),
        creation_time: now,
        creation_path: creation_path.to_owned(),
        wrapped_accessor,
    };
    Ok(Reply::ok(Response {
        wrap_info: Some(info),
        ..Response::default()
    }))
}

/// The wrapping token a `sys/wrapping/*` call is about: the `token` parameter, or the caller's own
/// token when it is a wrapping token.
fn target_token(caller: &Caller, data: &Map<String, Value>) -> Result<ClientToken> {
    match params::string(data, "token")? {
        Some(token) if !token.is_empty() => Ok(ClientToken::new(token)),
        _ if caller.entry.policies().iter().any(|p| p == WRAPPING_POLICY) => {
            Ok(caller.token.clone())
        }
        _ => Err(invalid_token()),
    }
}

async fn load(
    state: &NamespaceState,
    token: &ClientToken,
) -> Result<(String, WrappedRecord, coffer_barrier::Stamp)> {
    let entry = state
        .tokens
        .lookup(token)
        .await?
        .ok_or_else(invalid_token)?;
    if !entry.policies().iter().any(|p| p == WRAPPING_POLICY) {
        return Err(invalid_token());
    }
    let scope = entry.scope().to_owned();
    let (bytes, stamp) = state
        .wrapping
        .get_stamped(&scope)
        .await
        .map_err(Error::from_barrier)?
        .ok_or_else(invalid_token)?;
    let record = decode(&bytes, &scope)?;
    Ok((scope, record, stamp))
}

/// Takes a wrapped reply out, exactly once.
async fn take(state: &NamespaceState, token: &ClientToken) -> Result<WrappedRecord> {
    let (scope, record, stamp) = load(state, token).await?;
    let ops = vec![
        BarrierOp::Expect {
            path: scope.clone(),
            stamp: Some(stamp),
        },
        BarrierOp::Delete { path: scope },
    ];
    state
        .wrapping
        .transaction(ops)
        .await
        .map_err(|e| match Error::from_barrier(e) {
            Error::Conflict => invalid_token(),
            other => other,
        })?;
    state.tokens.revoke(token).await?;
    Ok(record)
}

fn unwrapped_reply(record: WrappedRecord) -> Reply {
    let response = Response {
        data: record.data,
        auth: record.auth.map(|a| AuthResponse {
            client_token: ClientToken::new(a.client_token),
            accessor: Accessor::new(a.accessor),
            policies: a.policies,
            token_policies: a.token_policies,
            identity_policies: Vec::new(),
            metadata: a.metadata,
            lease_duration: a.lease_duration,
            renewable: a.renewable,
            orphan: a.orphan,
            num_uses: a.num_uses,
            entity_id: a.entity_id,
        }),
        warnings: record.warnings,
        lease_duration: record.lease_duration,
        wrap_info: None,
        // The lease id travels inside `data` (`leaseId`); the envelope fields are not kept.
        lease: None,
    };
    Reply::ok(response)
}

/// Serves `sys/wrapping/<rest>`.
pub(crate) async fn handle(
    state: &NamespaceState,
    now: SystemTime,
    caller: &Caller,
    request: &Request,
    rest: &str,
) -> Result<Reply> {
    let write = matches!(request.operation, Operation::Update | Operation::Create);
    match rest {
        "wrap" if write => match request.wrap_ttl {
            // The pipeline wraps this reply on the way out.
            Some(_) => Ok(Reply::ok(Response::with_data(request.data.clone()))),
            None => Err(Error::invalid(
                "endpoint requires response wrapping to be used",
            )),
        },
        "unwrap" if write => {
            let token = target_token(caller, &request.data)?;
            Ok(unwrapped_reply(take(state, &token).await?))
        }
        "lookup" if write => {
            let token = target_token(caller, &request.data)?;
            let (_, record, _) = load(state, &token).await?;
            let created = SystemTime::UNIX_EPOCH + Duration::from_nanos(record.creation_nanos);
            let mut data = Map::new();
            data.insert("creation_path".into(), json!(record.creation_path));
            data.insert(
                "creation_time".into(),
                json!(crate::clock::rfc3339(created)),
            );
            data.insert("creation_ttl".into(), json!(record.ttl_secs));
            Ok(Reply::ok(Response::with_data(data)))
        }
        "rewrap" if write => {
            let token = target_token(caller, &request.data)?;
            let record = take(state, &token).await?;
            let ttl = Ttl::from_secs(record.ttl_secs);
            let path = record.creation_path.clone();
            let Reply::Ok(response) = unwrapped_reply(record) else {
                return Err(invalid_token());
            };
            wrap(state, now, &path, ttl, *response).await
        }
        "wrap" | "unwrap" | "lookup" | "rewrap" => Err(Error::UnsupportedOperation),
        _ => Err(Error::UnsupportedPath),
    }
}
