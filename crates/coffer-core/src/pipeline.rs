//! The request pipeline: sealed check → token → ACL (with sudo for root-protected paths) →
//! dispatch to the backend that owns the path. Every logical request enters here.

use std::sync::Arc;

use coffer_policy::Acl;

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
        let policy_path = match request.operation {
            Operation::List | Operation::Scan if !path.is_empty() && !path.ends_with('/') => {
                format!("{path}/")
            }
            _ => path.to_owned(),
        };
        let decision = acl.check(&policy_path, request.operation.policy_operation());
        if !decision.allowed {
            return Err(Error::PermissionDenied);
        }
        let sudo = decision.sudo;
        if needs_sudo(path) && !sudo {
            return Err(Error::PermissionDenied);
        }
        let caller = Caller {
            token,
            entry,
            acl,
            sudo,
        };
        let now = self.clock().now();
        if let Some(rest) = path.strip_prefix("sys/") {
            sys::handle(self, &state, &caller, &request, rest).await
        } else if let Some(rest) = path.strip_prefix("auth/token/") {
            auth_token::handle(&state.tokens, now, &caller, &request, rest).await
        } else {
            Err(Error::NoHandler {
                path: path.to_owned(),
            })
        }
    }
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
