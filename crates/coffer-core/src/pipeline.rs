//! The request pipeline: sealed check → token → ACL (with sudo for root-protected paths) →
//! dispatch to the backend that owns the path. Every logical request enters here.

use std::sync::Arc;

use coffer_policy::Acl;

use crate::engine::EngineRequest;
use crate::mount::Mounted;
use crate::request::{ClientToken, Operation, Reply, Request};
use crate::token::TokenEntry;
use crate::{Core, Error, Result, auth_token, sys};

/// Who is calling: the authenticated token, its entry and its compiled ACL.
pub(crate) struct Caller {
    pub(crate) token: ClientToken,
    pub(crate) entry: Arc<TokenEntry>,
    pub(crate) acl: Acl,
    /// Whether the winning rule for this request's path grants `sudo`.
    pub(crate) sudo: bool,
}

impl Core {
    /// Handles one logical request.
    pub async fn handle(&self, request: Request) -> Result<Reply> {
        let state = self.unsealed()?;
        let token = request.token.clone().ok_or(Error::PermissionDenied)?;
        let entry = state.tokens.authenticate(&token).await?;
        let acl = state.policies.acl(entry.policies());
        let path = request.path.as_str();
        let now = self.clock().now();
        let target = if let Some(rest) = path.strip_prefix("sys/") {
            Target::Sys(rest)
        } else if let Some(rest) = path.strip_prefix("auth/token/") {
            Target::Token(rest)
        } else if let Some((mounted, rest)) = state.mounts.route(path) {
            Target::Mount(mounted, rest)
        } else {
            Target::Nothing
        };
        // A write to something that does not exist yet needs `create`, not `update`.
        let mut operation = request.operation;
        if let (Operation::Update, Target::Mount(mounted, rest)) = (operation, &target) {
            let probe = EngineRequest {
                operation,
                path: rest,
                data: &request.data,
                mount: &mounted.info,
                now,
                token_scope: entry.scope(),
            };
            if mounted.engine.exists(probe, &mounted.view).await? == Some(false) {
                operation = Operation::Create;
            }
        }
        let policy_path = match operation {
            Operation::List | Operation::Scan if !path.is_empty() && !path.ends_with('/') => {
                format!("{path}/")
            }
            _ => path.to_owned(),
        };
        let decision = acl.check(&policy_path, operation.policy_operation());
        // The CLI's preflight needs only a valid token: it filters by the token's ACL itself.
        if !decision.allowed && !filters_by_itself(path) {
            return Err(Error::PolicyDenied);
        }
        let sudo = decision.sudo;
        if needs_sudo(path) && !sudo {
            return Err(Error::PolicyDenied);
        }
        let caller = Caller {
            token,
            entry,
            acl,
            sudo,
        };
        let reply = match target {
            Target::Sys(rest) => sys::handle(self, &state, &caller, &request, rest).await,
            Target::Token(rest) => {
                auth_token::handle(&state.tokens, now, &caller, &request, rest).await
            }
            Target::Mount(mounted, rest) => {
                let engine_request = EngineRequest {
                    operation,
                    path: &rest,
                    data: &request.data,
                    mount: &mounted.info,
                    now,
                    token_scope: caller.entry.scope(),
                };
                mounted.engine.handle(engine_request, &mounted.view).await
            }
            Target::Nothing => Err(Error::NoHandler {
                path: path.to_owned(),
            }),
        }?;
        match (request.wrap_ttl, reply) {
            (Some(ttl), Reply::Ok(response)) if response.wrap_info.is_none() => {
                crate::wrapping::wrap(&state, now, path, ttl, *response).await
            }
            (_, reply) => Ok(reply),
        }
    }
}

/// The backend a request path belongs to.
enum Target<'a> {
    Sys(&'a str),
    Token(&'a str),
    Mount(Arc<Mounted>, String),
    Nothing,
}

/// Paths that any valid token may call because their handler answers only what that token's
/// ACL allows (Vault's `sys/internal/ui/mounts`).
fn filters_by_itself(path: &str) -> bool {
    path == "sys/internal/ui/mounts" || path.starts_with("sys/internal/ui/mounts/")
}

fn needs_sudo(path: &str) -> bool {
    if let Some(rest) = path.strip_prefix("sys/") {
        sys::needs_sudo(rest)
    } else if let Some(rest) = path.strip_prefix("auth/token/") {
        auth_token::needs_sudo(rest)
    } else {
        false
    }
}
