//! Denied requests change nothing: every endpoint that changes state, and every read that
//! exposes data, is sent by a token with only the `default` policy and by a token with only an
//! unrelated policy (read on `other/*`). Each must get Vault's 403 and leave the whole physical
//! storage byte-for-byte as it was. The same request sent as root then succeeds (and, for a
//! write, changes storage), which proves that each row names a real endpoint and that the
//! snapshot would have seen a change.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Issued, Node, json_of, request, send_request, snapshot};

/// The body of a 403 for a valid token that lacks the capability.
const DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";

/// What a row's request does when it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Changes storage.
    Write,
    /// Reads without changing anything.
    Read,
    /// Seals the node.
    Seal,
}

/// One row: a request, with `{victim}`, `{victim_accessor}`, `{entity}`, `{group}` and `{grant}`
/// in the path or body replaced by the fixture's values.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    kind: Kind,
    /// `X-Vault-Wrap-TTL`, when the request asks for its reply to be wrapped.
    wrap_ttl: Option<&'static str>,
}

impl Case {
    /// The same request with its reply wrapped for `ttl`; allowed, it stores the wrapped reply.
    fn wrapped(self, ttl: &'static str) -> Case {
        Case {
            wrap_ttl: Some(ttl),
            kind: Kind::Write,
            ..self
        }
    }
}

fn write(method: &'static str, path: &'static str, body: Option<Value>) -> Case {
    Case {
        method,
        path,
        body,
        kind: Kind::Write,
        wrap_ttl: None,
    }
}

fn read(method: &'static str, path: &'static str, body: Option<Value>) -> Case {
    Case {
        method,
        path,
        body,
        kind: Kind::Read,
        wrap_ttl: None,
    }
}

/// A node with something behind every endpoint, and the tokens that attack it.
struct Fixture {
    node: Node,
    /// Only the `default` policy.
    default_only: String,
    /// Only `other` (read on `other/*`), without `default`.
    unrelated: String,
    /// Someone else's token.
    victim: Issued,
    entity: String,
    group: String,
    grant: String,
}

const OTHER_POLICY: &str = r#"path "other/*" { capabilities = ["read"] }"#;

impl Fixture {
    async fn new() -> Fixture {
        let node = Node::unsealed().await;
        let setup: &[(&str, &str, Option<Value>)] = &[
            ("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))),
            (
                "PUT",
                "secret/data/app/db",
                Some(json!({"data": {"password": "v1"}})),
            ),
            (
                "PUT",
                "secret/data/app/db",
                Some(json!({"data": {"password": "v2"}})),
            ),
            (
                "PUT",
                "secret/delete/app/db",
                Some(json!({"versions": [1]})),
            ),
            (
                "POST",
                "sys/mounts/kv1",
                Some(json!({"type": "kv", "options": {"version": "1"}})),
            ),
            ("PUT", "kv1/app/x", Some(json!({"value": "one"}))),
            (
                "POST",
                "sys/auth/userpass",
                Some(json!({"type": "userpass"})),
            ),
            (
                "POST",
                "auth/userpass/users/alice",
                Some(json!({"password": "alice-password", "token_policies": "other"})),
            ),
            ("POST", "sys/auth/approle", Some(json!({"type": "approle"}))),
            (
                "POST",
                "auth/approle/role/web",
                Some(json!({"token_policies": "other"})),
            ),
            // An AppRole mount nobody has used yet: its salt does not exist.
            ("POST", "sys/auth/fresh", Some(json!({"type": "approle"}))),
            (
                "PUT",
                "sys/policies/acl/other",
                Some(json!({"policy": OTHER_POLICY})),
            ),
            (
                "PUT",
                "sys/policies/acl/victim",
                Some(json!({"policy": OTHER_POLICY})),
            ),
        ];
        for (method, path, body) in setup {
            let (status, _, reply) = node
                .send(
                    method,
                    &format!("/v1/{path}"),
                    Some(&node.root),
                    body.clone(),
                )
                .await;
            assert!(status.is_success(), "setup {method} {path}: {reply}");
        }
        let entity = created_id(
            &node,
            "identity/entity",
            json!({"name": "victim-entity", "policies": ["other"]}),
        )
        .await;
        let group = created_id(
            &node,
            "identity/group",
            json!({"name": "victim-group", "policies": ["other"], "member_entity_ids": [entity]}),
        )
        .await;
        let grant = created_id(
            &node,
            "sys/grants",
            json!({"identity": "user:victim", "path": "secret/data/app/db", "duration": "1h"}),
        )
        .await;
        let victim = node
            .create_token(&node.root, json!({"policies": ["other"]}))
            .await;
        let default_only = node
            .create_token(
                &node.root,
                json!({"policies": ["default"], "identity": "user:mallory"}),
            )
            .await
            .token;
        let unrelated = node
            .create_token(
                &node.root,
                json!({"policies": ["other"], "no_default_policy": true, "identity": "user:eve"}),
            )
            .await
            .token;
        Fixture {
            node,
            default_only,
            unrelated,
            victim,
            entity,
            group,
            grant,
        }
    }

    /// `text` with the fixture's placeholders filled in.
    fn fill(&self, text: &str) -> String {
        text.replace("{victim}", &self.victim.token)
            .replace("{victim_accessor}", &self.victim.accessor)
            .replace("{entity}", &self.entity)
            .replace("{group}", &self.group)
            .replace("{grant}", &self.grant)
    }

    /// Sends `case` with `token`; a PATCH carries the merge-patch content type.
    async fn send(&self, case: &Case, token: &str) -> (StatusCode, Value) {
        let path = format!("/v1/{}", self.fill(case.path));
        let mut builder = request(case.method, &path).header("x-vault-token", token);
        if let Some(ttl) = case.wrap_ttl {
            builder = builder.header("x-vault-wrap-ttl", ttl);
        }
        if case.method == "PATCH" {
            builder = builder.header("content-type", "application/merge-patch+json");
        }
        let body = match &case.body {
            Some(body) => Body::from(self.fill(&body.to_string())),
            None => Body::empty(),
        };
        let request = builder.body(body).expect("a valid test request");
        let (status, _, bytes) = send_request(&self.node.app, request).await;
        (status, json_of(&bytes))
    }
}

/// `data.id` of a root POST to `path`.
async fn created_id(node: &Node, path: &str, body: Value) -> String {
    let (status, _, reply) = node
        .send("POST", &format!("/v1/{path}"), Some(&node.root), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{path}: {reply}");
    reply["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} returns data.id: {reply}"))
        .to_owned()
}

/// The keys added, removed or changed from `before` to `after` (empty when equal).
fn changed_keys(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    keys.dedup();
    keys
}

/// Runs one row on a fresh fixture: both attackers get 403 and change nothing (unless
/// `default_may` says the `default` policy allows the request), then root succeeds.
async fn check(case: Case, default_may: bool) {
    let fixture = Fixture::new().await;
    let label = format!("{} {}", case.method, case.path);
    let mut attackers = vec![("unrelated policy", fixture.unrelated.clone())];
    if !default_may {
        attackers.insert(0, ("default policy", fixture.default_only.clone()));
    }
    for (who, token) in &attackers {
        let before = snapshot(&fixture.node.storage).await;
        let (status, body) = fixture.send(&case, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{label} as {who}: {body}");
        assert_eq!(body, json!({"errors": [DENIED]}), "{label} as {who}");
        let after = snapshot(&fixture.node.storage).await;
        assert_eq!(
            changed_keys(&before, &after),
            Vec::<String>::new(),
            "{label} as {who} was denied but changed storage"
        );
        assert!(!fixture.node.core.is_sealed(), "{label} as {who} sealed");
    }

    let before = snapshot(&fixture.node.storage).await;
    let (status, body) = fixture.send(&case, &fixture.node.root).await;
    assert!(status.is_success(), "{label} as root: {status} {body}");
    let after = snapshot(&fixture.node.storage).await;
    let changed = changed_keys(&before, &after);
    match case.kind {
        Kind::Write => assert!(!changed.is_empty(), "{label} as root changed nothing"),
        Kind::Read => assert_eq!(changed, Vec::<String>::new(), "{label} as root"),
        Kind::Seal => assert!(fixture.node.core.is_sealed(), "{label} as root"),
    }
}

async fn check_all(cases: Vec<Case>) {
    for case in cases {
        check(case, false).await;
    }
}

#[tokio::test]
async fn issue_4_denied_mount_and_auth_method_changes_change_nothing() {
    check_all(vec![
        write("POST", "sys/mounts/new", Some(json!({"type": "kv-v2"}))),
        write(
            "POST",
            "sys/mounts/secret/tune",
            Some(json!({"default_lease_ttl": "1h", "description": "tuned"})),
        ),
        write("DELETE", "sys/mounts/secret", None),
        write("DELETE", "sys/mounts/kv1", None),
        write("POST", "sys/auth/new", Some(json!({"type": "userpass"}))),
        write(
            "POST",
            "sys/auth/userpass/tune",
            Some(json!({"default_lease_ttl": "1h", "description": "tuned"})),
        ),
        write("DELETE", "sys/auth/userpass", None),
        read("GET", "sys/mounts", None),
        read("GET", "sys/mounts/secret", None),
        read("GET", "sys/mounts/secret/tune", None),
        read("GET", "sys/auth", None),
        read("GET", "sys/auth/userpass/tune", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_policy_changes_change_nothing() {
    let escalate = json!({"policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }"});
    check_all(vec![
        write("PUT", "sys/policies/acl/evil", Some(escalate.clone())),
        write("PUT", "sys/policies/acl/default", Some(escalate.clone())),
        write("PUT", "sys/policies/acl/other", Some(escalate.clone())),
        write("DELETE", "sys/policies/acl/victim", None),
        write(
            "PUT",
            "sys/policy/evil",
            Some(json!({"rules": OTHER_POLICY})),
        ),
        write(
            "PUT",
            "sys/policy/default",
            Some(json!({"rules": OTHER_POLICY})),
        ),
        write("DELETE", "sys/policy/victim", None),
        read("LIST", "sys/policies/acl", None),
        read("GET", "sys/policies/acl/victim", None),
        read("GET", "sys/policy", None),
        read("GET", "sys/policy/victim", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_seal_and_rotation_change_nothing() {
    check_all(vec![
        Case {
            method: "PUT",
            path: "sys/seal",
            body: None,
            kind: Kind::Seal,
            wrap_ttl: None,
        },
        write("PUT", "sys/rotate", None),
        write("PUT", "sys/rotate/keyring", None),
        read("GET", "sys/key-status", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_token_operations_change_nothing() {
    check_all(vec![
        write(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["other"]})),
        ),
        write("POST", "auth/token/create", None),
        write("POST", "auth/token/create-orphan", None),
        write(
            "POST",
            "auth/token/revoke",
            Some(json!({"token": "{victim}"})),
        ),
        write(
            "POST",
            "auth/token/revoke-accessor",
            Some(json!({"accessor": "{victim_accessor}"})),
        ),
        write(
            "POST",
            "auth/token/revoke-orphan",
            Some(json!({"token": "{victim}"})),
        ),
        write(
            "POST",
            "auth/token/renew",
            Some(json!({"token": "{victim}", "increment": "2h"})),
        ),
        write(
            "POST",
            "auth/token/renew-accessor",
            Some(json!({"accessor": "{victim_accessor}", "increment": "2h"})),
        ),
        read(
            "POST",
            "auth/token/lookup",
            Some(json!({"token": "{victim}"})),
        ),
        read(
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({"accessor": "{victim_accessor}"})),
        ),
        read("LIST", "auth/token/accessors", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_kv_v2_requests_change_nothing() {
    check_all(vec![
        write(
            "PUT",
            "secret/data/app/db",
            Some(json!({"data": {"password": "stolen"}})),
        ),
        write(
            "POST",
            "secret/data/app/new",
            Some(json!({"data": {"password": "planted"}})),
        ),
        write(
            "PATCH",
            "secret/data/app/db",
            Some(json!({"data": {"password": "stolen"}})),
        ),
        write("DELETE", "secret/data/app/db", None),
        write(
            "PUT",
            "secret/metadata/app/db",
            Some(json!({"max_versions": 1})),
        ),
        write(
            "PATCH",
            "secret/metadata/app/db",
            Some(json!({"custom_metadata": {"owner": "mallory"}})),
        ),
        write("DELETE", "secret/metadata/app/db", None),
        write(
            "PUT",
            "secret/delete/app/db",
            Some(json!({"versions": [2]})),
        ),
        write(
            "PUT",
            "secret/undelete/app/db",
            Some(json!({"versions": [1]})),
        ),
        write(
            "PUT",
            "secret/destroy/app/db",
            Some(json!({"versions": [2]})),
        ),
        write("PUT", "secret/config", Some(json!({"max_versions": 1}))),
        read("GET", "secret/data/app/db", None),
        read("GET", "secret/data/app/db?version=1", None),
        read("GET", "secret/metadata/app/db", None),
        read("LIST", "secret/metadata/app", None),
        read("LIST", "secret/metadata/", None),
        read("GET", "secret/subkeys/app/db", None),
        read("GET", "secret/config", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_kv_v1_requests_change_nothing() {
    check_all(vec![
        write("PUT", "kv1/app/x", Some(json!({"value": "stolen"}))),
        write("POST", "kv1/app/new", Some(json!({"value": "planted"}))),
        write("DELETE", "kv1/app/x", None),
        read("GET", "kv1/app/x", None),
        read("LIST", "kv1/app", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_identity_changes_change_nothing() {
    check_all(vec![
        write(
            "POST",
            "identity/entity",
            Some(json!({"name": "evil", "policies": ["root"]})),
        ),
        write(
            "POST",
            "identity/entity/id/{entity}",
            Some(json!({"policies": ["root"]})),
        ),
        write(
            "POST",
            "identity/entity/name/victim-entity",
            Some(json!({"policies": ["root"]})),
        ),
        write("DELETE", "identity/entity/id/{entity}", None),
        write("DELETE", "identity/entity/name/victim-entity", None),
        write(
            "POST",
            "identity/group",
            Some(json!({"name": "evil", "policies": ["root"]})),
        ),
        write(
            "POST",
            "identity/group/id/{group}",
            Some(json!({"policies": ["root"]})),
        ),
        write(
            "POST",
            "identity/group/name/victim-group",
            Some(json!({"policies": ["root"]})),
        ),
        write("DELETE", "identity/group/id/{group}", None),
        write("DELETE", "identity/group/name/victim-group", None),
        read("GET", "identity/entity/id/{entity}", None),
        read("GET", "identity/entity/name/victim-entity", None),
        read("LIST", "identity/entity/id", None),
        read("GET", "identity/group/id/{group}", None),
        read("LIST", "identity/group/name", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_grants_change_nothing() {
    check_all(vec![
        write(
            "POST",
            "sys/grants",
            Some(json!({"identity": "user:mallory", "path": "secret/data/*", "capabilities": ["read", "update"], "duration": "1h"})),
        ),
        write("DELETE", "sys/grants/{grant}", None),
        read("LIST", "sys/grants", None),
        read("GET", "sys/grants/{grant}", None),
    ])
    .await;
}

#[tokio::test]
async fn issue_4_denied_auth_method_writes_change_nothing() {
    check_all(vec![
        write(
            "POST",
            "auth/userpass/users/alice",
            Some(json!({"password": "mallory-knows", "token_policies": "root"})),
        ),
        write(
            "POST",
            "auth/userpass/users/mallory",
            Some(json!({"password": "mallory-password", "token_policies": "root"})),
        ),
        write(
            "POST",
            "auth/userpass/users/alice/password",
            Some(json!({"password": "mallory-knows"})),
        ),
        write(
            "POST",
            "auth/userpass/users/alice/policies",
            Some(json!({"token_policies": "root"})),
        ),
        write("DELETE", "auth/userpass/users/alice", None),
        write(
            "POST",
            "auth/approle/role/web",
            Some(json!({"token_policies": "root"})),
        ),
        write(
            "POST",
            "auth/approle/role/evil",
            Some(json!({"token_policies": "root"})),
        ),
        write(
            "POST",
            "auth/approle/role/web/role-id",
            Some(json!({"role_id": "known-to-mallory"})),
        ),
        write("POST", "auth/approle/role/web/secret-id", None),
        write("DELETE", "auth/approle/role/web", None),
        write(
            "POST",
            "auth/fresh/role/evil",
            Some(json!({"token_policies": "root"})),
        ),
        read("GET", "auth/userpass/users/alice", None),
        read("LIST", "auth/userpass/users", None),
        read("GET", "auth/approle/role/web", None),
        read("GET", "auth/approle/role/web/role-id", None),
        read("LIST", "auth/approle/role", None),
    ])
    .await;
}

/// Vault's `default` policy lets every token wrap a value (`sys/wrapping/wrap`), so only the
/// token without it is refused there; a denied request asking for a wrapped reply stores no
/// wrapped reply.
#[tokio::test]
async fn issue_4_denied_wrapping_changes_nothing() {
    let wrap = || {
        write(
            "POST",
            "sys/wrapping/wrap",
            Some(json!({"stolen": "{victim}"})),
        )
        .wrapped("5m")
    };
    check(wrap(), true).await;
    check_all(vec![
        read("GET", "secret/data/app/db", None).wrapped("5m"),
        read(
            "POST",
            "auth/token/lookup",
            Some(json!({"token": "{victim}"})),
        )
        .wrapped("5m"),
    ])
    .await;

    let fixture = Fixture::new().await;
    let before = snapshot(&fixture.node.storage).await;
    let (status, body) = fixture.send(&wrap(), &fixture.default_only).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the default policy allows it: {body}"
    );
    assert!(
        body["wrap_info"]["token"].is_string(),
        "a wrapping token: {body}"
    );
    let after = snapshot(&fixture.node.storage).await;
    assert!(
        !changed_keys(&before, &after).is_empty(),
        "the value is stored"
    );
}
