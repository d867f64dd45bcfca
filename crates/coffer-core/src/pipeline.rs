//! The request pipeline: sealed check → namespace → token → ACL (with sudo for root-protected
//! paths) → dispatch to the backend that owns the path. Every logical request enters here.
//!
//! The namespace comes from `X-Vault-Namespace` and leading path segments naming child
//! namespaces; below that point the request is relative to its namespace. A token is looked up in
//! the store of the namespace it was issued in (named by its suffix) and is accepted only there
//! and in that namespace's descendants, where its ACL sees paths prefixed with the request
//! namespace's path relative to the token's.

use std::sync::Arc;

use coffer_policy::Acl;

use crate::engine::{EngineRequest, Identity};
use crate::lease::LeaseScope;
use crate::mount::Mounted;
use std::time::SystemTime;

use crate::audit;
use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::request::{ClientToken, LogicalPath, Operation, Reply, Request, Response};
use crate::token::TokenEntry;
use crate::token::TokenRequest;
use crate::ttl::Ttl;
use crate::{Core, Error, Result, auth_token, sys};

/// Who is calling: the authenticated token, its entry and its compiled ACL.
pub(crate) struct Caller {
    pub(crate) token: ClientToken,
    pub(crate) entry: Arc<TokenEntry>,
    pub(crate) acl: Acl,
    /// Whether the winning rule for this request's path grants `sudo`.
    pub(crate) sudo: bool,
    /// The namespace whose store holds the token (the request's or one of its ancestors).
    pub(crate) home: Arc<NamespaceState>,
    /// The request namespace's path relative to `home` (`""` when they are the same).
    policy_prefix: String,
}

impl Caller {
    /// A path of the request's namespace as the caller's ACL names it.
    pub(crate) fn policy_path(&self, path: &str) -> String {
        format!("{}{path}", self.policy_prefix)
    }
}

impl Core {
    /// Handles one logical request: authenticate, decide, record the request in the audit log
    /// (refusing it when no device can), run it, and record the reply.
    pub async fn handle(&self, request: Request) -> Result<Reply> {
        let state = self.unsealed()?;
        let (ns, relative) = state
            .namespaces
            .resolve(request.namespace.as_deref(), request.path.as_str())?;
        // From here on the request is relative to its namespace.
        let request = Request {
            path: LogicalPath::parse(&relative)?,
            ..request
        };
        let path = request.path.as_str();
        let now = self.clock().now();
        let target = route(&ns, path);
        // What the audit records say about the mount; only worth building for a device.
        let facts = if state.audit.is_enabled() {
            mount_facts(&target)
        } else {
            None
        };
        if let Target::Auth(mounted, rest) = &target
            && mounted.is_unauthenticated(rest)
        {
            return self
                .login(&state, &ns, &request, mounted, rest, now, facts.as_ref())
                .await;
        }
        let token_text = request.token.as_ref().map(ClientToken::expose);
        let home = match token_text {
            Some(text) => state.namespaces.home_of(text),
            None => state.namespaces.root().clone(),
        };
        let entry = match &request.token {
            None => Err(Error::PermissionDenied),
            // A token works only in its own namespace and below.
            Some(_) if !home.contains(&ns) => Err(Error::PermissionDenied),
            Some(token) => home.tokens.authenticate(token).await,
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) if !state.audit.is_enabled() => return Err(error),
            Err(error) => {
                // Unknown, expired or missing tokens are recorded too, then refused.
                let audit_request =
                    audit::request_of(&request, request.operation, facts.as_ref(), &ns);
                let _ = state
                    .audit
                    .record(&audit::request_event(
                        now,
                        None,
                        audit_request.clone(),
                        token_text,
                    ))
                    .await;
                let outcome = Err(error);
                let _ = state
                    .audit
                    .record(&audit::response_event(
                        now,
                        None,
                        audit_request,
                        token_text,
                        &outcome,
                    ))
                    .await;
                return outcome;
            }
        };
        let policies = effective_policies(&state, &entry);
        let acl = home.policies.acl(&policies);
        let policy_prefix = home.relative(&ns).to_owned();
        // A write to something that does not exist yet needs `create`, not `update`.
        let mut operation = request.operation;
        if let (Operation::Update, Target::Mount(mounted, rest) | Target::Auth(mounted, rest)) =
            (operation, &target)
        {
            let identity = caller_identity(&entry);
            let probe = EngineRequest {
                operation,
                path: rest,
                data: &request.data,
                mount: &mounted.info,
                now,
                token_scope: entry.scope(),
                identity: Some(&identity),
                sudo: false,
                leases: None,
                peers: None,
            };
            if mounted.engine.exists(probe, &mounted.view).await? == Some(false) {
                operation = Operation::Create;
            }
        }
        let local_path = match operation {
            Operation::List | Operation::Scan if !path.is_empty() && !path.ends_with('/') => {
                format!("{path}/")
            }
            _ => path.to_owned(),
        };
        // A token's operations on itself are judged in its own namespace, as in Vault: its
        // `default` policy lets it look itself up from a descendant namespace.
        let acl_prefix = if auth_token::is_self(path) {
            ""
        } else {
            policy_prefix.as_str()
        };
        let decision = acl.check(
            &format!("{acl_prefix}{local_path}"),
            operation.policy_operation(),
        );
        let mut granted_by = None;
        let mut allowed = decision.allowed || filters_by_itself(path);
        if !allowed {
            // A live time-limited grant for the token's identity may allow what its policies do
            // not. Grants are global: their paths are relative to the root namespace.
            let global_path = format!("{}{local_path}", ns.path());
            if let Some(grant) = entry
                .identity()
                .and_then(|identity| state.grants.allows(identity, &global_path, operation, now))
            {
                tracing::info!(%grant, path = %global_path, "request allowed by a time-limited grant");
                granted_by = Some(format!("grant:{grant}"));
                allowed = true;
            }
        }
        let sudo = decision.sudo;
        if needs_sudo(path) && !sudo {
            allowed = false;
        }
        // Events are built only when a device will record them.
        let audited = if state.audit.is_enabled() {
            let granting: Vec<String> = decision
                .granting_policies
                .iter()
                .map(|p| p.as_str().to_owned())
                .chain(granted_by)
                .collect();
            let auth = audit::auth_of(&entry, &policies, Some((allowed, granting)), now);
            let audit_request = audit::request_of(&request, operation, facts.as_ref(), &ns);
            // Fail closed: nothing runs unless the request was recorded.
            state
                .audit
                .record(&audit::request_event(
                    now,
                    Some(auth.clone()),
                    audit_request.clone(),
                    token_text,
                ))
                .await?;
            Some((auth, audit_request))
        } else {
            None
        };
        let outcome = if allowed {
            let caller = Caller {
                token: request.token.clone().ok_or(Error::PermissionDenied)?,
                entry,
                acl,
                sudo,
                home,
                policy_prefix,
            };
            self.dispatch(&state, &ns, &caller, &request, target, operation, now)
                .await
        } else {
            Err(Error::PolicyDenied)
        };
        if let Some((auth, audit_request)) = audited {
            state
                .audit
                .record(&audit::response_event(
                    now,
                    Some(auth),
                    audit_request,
                    token_text,
                    &outcome,
                ))
                .await?;
        }
        outcome
    }

    /// Runs an authorized request on its backend, wrapping the reply when asked to.
    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        state: &Unsealed,
        ns: &NamespaceState,
        caller: &Caller,
        request: &Request,
        target: Target<'_>,
        operation: Operation,
        now: SystemTime,
    ) -> Result<Reply> {
        let path = request.path.as_str();
        let reply = match target {
            Target::Sys(rest) => sys::handle(self, state, ns, caller, request, rest).await,
            Target::Token(rest) => {
                auth_token::handle(&state.namespaces, ns, now, caller, request, rest).await
            }
            // Identities are global: they live in the root namespace only.
            Target::Identity(_) if !ns.is_root() => Err(crate::namespace::root_only()),
            Target::Identity(rest) => {
                state
                    .identity
                    .handle(now, operation, &request.data, rest)
                    .await
            }
            Target::Mount(mounted, rest) | Target::Auth(mounted, rest) => {
                let identity = caller_identity(&caller.entry);
                let peers = crate::engine::Peers::new(ns.mounts.clone());
                let leases = LeaseScope::new(
                    state.leases.clone(),
                    ns.id().as_str(),
                    &mounted.info.path,
                    &mounted.info.accessor,
                )
                .with_peers(peers.clone());
                let engine_request = EngineRequest {
                    operation,
                    path: &rest,
                    data: &request.data,
                    mount: &mounted.info,
                    now,
                    token_scope: caller.entry.scope(),
                    identity: Some(&identity),
                    sudo: caller.sudo,
                    leases: Some(&leases),
                    peers: Some(&peers),
                };
                let reply = mounted.engine.handle(engine_request, &mounted.view).await?;
                self.finish_login(state, ns, &mounted, reply, now).await
            }
            Target::Nothing => Err(Error::NoHandler {
                path: path.to_owned(),
            }),
        }?;
        match (request.wrap_ttl, reply) {
            (Some(ttl), Reply::Ok(response)) if response.wrap_info.is_none() => {
                crate::wrapping::wrap(ns, now, path, ttl, *response).await
            }
            (_, reply) => Ok(reply),
        }
    }

    /// An unauthenticated login: the auth engine checks the credentials; a grant becomes a token
    /// of the namespace the auth method is mounted in.
    #[allow(clippy::too_many_arguments)]
    async fn login(
        &self,
        state: &Unsealed,
        ns: &NamespaceState,
        request: &Request,
        mounted: &Arc<Mounted>,
        rest: &str,
        now: SystemTime,
        facts: Option<&audit::MountFacts>,
    ) -> Result<Reply> {
        let audit_request = audit::request_of(request, request.operation, facts, ns);
        state
            .audit
            .record(&audit::request_event(
                now,
                None,
                audit_request.clone(),
                None,
            ))
            .await?;
        let outcome = async {
            let engine_request = EngineRequest {
                operation: request.operation,
                path: rest,
                data: &request.data,
                mount: &mounted.info,
                now,
                token_scope: "",
                identity: None,
                sudo: false,
                leases: None,
                peers: None,
            };
            let reply = mounted.engine.handle(engine_request, &mounted.view).await?;
            let reply = self.finish_login(state, ns, mounted, reply, now).await?;
            match (request.wrap_ttl, reply) {
                (Some(ttl), Reply::Ok(response)) => {
                    crate::wrapping::wrap(ns, now, request.path.as_str(), ttl, *response).await
                }
                (_, reply) => Ok(reply),
            }
        }
        .await;
        state
            .audit
            .record(&audit::response_event(
                now,
                None,
                audit_request,
                None,
                &outcome,
            ))
            .await?;
        outcome
    }

    /// Turns a login grant into an orphan token of the auth method's namespace carrying the
    /// identity, with the policies of the identity's entity and groups added; other replies pass
    /// through. Identities are global, so outside the root namespace the identity's name is
    /// qualified with the namespace path (`user` `acme/alice`): tenants' users never share an
    /// entity, nor a grant.
    async fn finish_login(
        &self,
        state: &Unsealed,
        ns: &NamespaceState,
        mounted: &Mounted,
        reply: Reply,
        now: SystemTime,
    ) -> Result<Reply> {
        let Reply::Login(grant) = reply else {
            return Ok(reply);
        };
        let identity = crate::engine::Identity {
            kind: grant.identity.kind.clone(),
            name: format!("{}{}", ns.path(), grant.identity.name),
        };
        let entity = state.identity.entity_for_login(&identity, now).await?;
        let mut policies: Vec<String> = grant
            .policies
            .iter()
            .map(|p| p.trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        // The entity's and its groups' policies are not copied into the token: they are
        // evaluated on every request, so a group change applies to live tokens at once.
        if !grant.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".to_owned());
        }
        policies.sort();
        policies.dedup();
        let ttl = if grant.ttl.is_zero() {
            Ttl::from_secs(mounted.info.default_lease_ttl)
        } else {
            grant.ttl
        };
        let max_ttl = if grant.max_ttl.is_zero() {
            Ttl::from_secs(mounted.info.max_lease_ttl)
        } else {
            grant.max_ttl
        };
        let issued = ns
            .tokens
            .create(
                TokenRequest {
                    policies,
                    meta: grant.metadata.clone(),
                    display_name: grant.display_name.clone(),
                    num_uses: grant.num_uses,
                    ttl,
                    explicit_max_ttl: max_ttl,
                    period: grant.period,
                    renewable: true,
                    path: format!("auth/{}login", mounted.entry.path),
                    id: None,
                    identity: Some(identity),
                    entity_id: entity.id.clone(),
                },
                None,
            )
            .await?;
        let mut auth = auth_token::auth_response(issued.token, &issued.entry, now);
        auth.identity_policies = state.identity.policies_of(&entity.id);
        auth.policies.extend(auth.identity_policies.iter().cloned());
        auth.policies.sort();
        auth.policies.dedup();
        Ok(Reply::ok(Response {
            auth: Some(auth),
            ..Response::default()
        }))
    }
}

/// Who a token stands for: its identity, or `token:<display name>` when it has none (the root
/// token is `token:root`).
pub(crate) fn caller_identity(entry: &TokenEntry) -> Identity {
    entry.identity().cloned().unwrap_or_else(|| Identity {
        kind: "token".to_owned(),
        name: entry.display_name().to_owned(),
    })
}

/// The token's own policies plus those its identity entity gets directly and through groups.
pub(crate) fn effective_policies(state: &Unsealed, entry: &TokenEntry) -> Vec<String> {
    let mut names = entry.policies().to_vec();
    if !entry.entity_id().is_empty() {
        names.extend(state.identity.policies_of(entry.entity_id()));
    }
    names
}

/// Where a request goes, for its audit record.
fn mount_facts(target: &Target<'_>) -> Option<audit::MountFacts> {
    match target {
        Target::Mount(mounted, _) => Some(audit::MountFacts {
            point: mounted.entry.path.clone(),
            kind: mounted.entry.kind.clone(),
            accessor: mounted.entry.accessor.clone(),
        }),
        Target::Auth(mounted, _) => Some(audit::MountFacts {
            point: format!("auth/{}", mounted.entry.path),
            kind: mounted.entry.kind.clone(),
            accessor: mounted.entry.accessor.clone(),
        }),
        Target::Token(_) => Some(audit::MountFacts {
            point: "auth/token/".into(),
            kind: "token".into(),
            accessor: String::new(),
        }),
        Target::Sys(_) => Some(audit::MountFacts {
            point: "sys/".into(),
            kind: "system".into(),
            accessor: String::new(),
        }),
        Target::Identity(_) => Some(audit::MountFacts {
            point: "identity/".into(),
            kind: "identity".into(),
            accessor: String::new(),
        }),
        Target::Nothing => None,
    }
}

fn route<'a>(ns: &NamespaceState, path: &'a str) -> Target<'a> {
    if let Some(rest) = path.strip_prefix("sys/") {
        Target::Sys(rest)
    } else if let Some(rest) = path.strip_prefix("auth/token/") {
        Target::Token(rest)
    } else if let Some(rest) = path.strip_prefix("identity/") {
        Target::Identity(rest)
    } else if let Some(rest) = path.strip_prefix("auth/") {
        match ns.auth.route(rest) {
            Some((mounted, below)) => Target::Auth(mounted, below),
            None => Target::Nothing,
        }
    } else if let Some((mounted, rest)) = ns.mounts.route(path) {
        Target::Mount(mounted, rest)
    } else {
        Target::Nothing
    }
}

/// The backend a request path belongs to.
enum Target<'a> {
    Sys(&'a str),
    Token(&'a str),
    Identity(&'a str),
    Auth(Arc<Mounted>, String),
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
