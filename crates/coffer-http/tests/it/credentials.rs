//! The typed credentials engine and its leases over HTTP, with the manual clock: every
//! `vault.credentials.create`, `vault.leases.create` and `vault.credentials.rotate` example of
//! the three credential seed documents as the equivalent request, lease semantics (TTL
//! precedence and capping, renew cap, expiry, `maxLeases`, `allowedIdentities`, identity
//! spoofing), zero-downtime rotation, revocation, the kill switch, and bad input writing nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use coffer_storage::memory::MemoryBackend;
use coffer_storage::{Backend, Record, Storage, TxOp};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::support::{Node, is_uuid, json_of, request, send, send_request, snapshot};

const MINUTE: Duration = Duration::from_secs(60);

async fn create(node: &Node, token: &str, name: &str, body: Value) -> Value {
    let (status, _, reply) = node
        .send(
            "POST",
            &format!("/v1/credentials/{name}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "create {name}: {reply}");
    reply
}

async fn lease(node: &Node, token: &str, name: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, reply) = node
        .send(
            "POST",
            &format!("/v1/credentials/{name}/lease"),
            Some(token),
            Some(body),
        )
        .await;
    (status, reply)
}

/// Reads a lease by its id (`credentials/<name>/lease/<nonce>`).
async fn read_lease(node: &Node, token: &str, lease_id: &str) -> (StatusCode, Value) {
    let (status, _, reply) = node
        .send("GET", &format!("/v1/{lease_id}"), Some(token), None)
        .await;
    (status, reply)
}

/// `PATCH /v1/credentials/<name>` as a JSON merge patch (the Content-Type Vault's PATCH needs).
async fn patch(node: &Node, token: &str, name: &str, body: Value) -> (StatusCode, Value) {
    let request = request("PATCH", &format!("/v1/credentials/{name}"))
        .header("x-vault-token", token)
        .header("content-type", "application/merge-patch+json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a valid request");
    let (status, _, bytes) = send_request(&node.app, request).await;
    (status, json_of(&bytes))
}

fn error_text(reply: &Value) -> String {
    reply["errors"].to_string()
}

/// A token carrying `identity` with an ACL policy of its own.
async fn agent(node: &Node, identity: &str, policy: &str) -> String {
    let name = format!("p-{}", identity.replace([':', '*'], "-"));
    let (status, _, body) = node
        .send(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(&node.root),
            Some(json!({ "policy": policy })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    node.create_token(
        &node.root,
        json!({"identity": identity, "policies": [name]}),
    )
    .await
    .token
}

const LEASE_ANY: &str = r#"
path "credentials/*" { capabilities = ["create", "read", "update", "list"] }
"#;

#[tokio::test]
async fn seed_credential_model_datadog_key_has_structure_and_never_its_value() {
    let node = Node::unsealed().await;
    let reply = create(
        &node,
        &node.root,
        "datadog-api-key",
        json!({
            "type": "api-key",
            "value": "dd-api-0123456789abcdef",
            "metadata": {
                "service": "datadog",
                "environment": "production",
                "team": "platform",
                "rotateEvery": "90d",
            },
        }),
    )
    .await;
    assert!(!reply.to_string().contains("0123456789abcdef"), "{reply}");
    let (status, _, read) = node
        .send(
            "GET",
            "/v1/credentials/datadog-api-key",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let data = &read["data"];
    assert!(is_uuid(data["id"].as_str().unwrap()), "{data}");
    assert_eq!(data["name"], "datadog-api-key");
    assert_eq!(data["type"], "api-key");
    assert_eq!(data["state"], "active");
    assert_eq!(data["version"], 1);
    assert_eq!(data["metadata"]["team"], "platform");
    assert_eq!(data["metadata"]["rotateEvery"], "90d");
    assert_eq!(data["createdBy"], json!({"type": "token", "name": "root"}));
    assert_eq!(data["createdAt"], data["updatedAt"]);
    assert!(data.get("value").is_none(), "{data}");
    assert!(!read.to_string().contains("0123456789abcdef"));
}

#[tokio::test]
async fn seed_api_keys_openai_lease_rotate_with_zero_downtime() {
    let node = Node::unsealed().await;
    let reply = create(
        &node,
        &node.root,
        "openai-api-key-prod",
        json!({
            "type": "api-key",
            "value": "sk-proj-abc123oldkey",
            "metadata": {
                "service": "openai",
                "environment": "production",
                "prefix": "sk-proj-",
                "team": "ml-platform",
            },
            "policy": {"defaultLeaseTTL": "30m", "maxLeaseTTL": "4h", "maxLeases": 5},
        }),
    )
    .await;
    assert_eq!(
        reply["data"]["policy"],
        json!({"defaultLeaseTTL": "30m", "maxLeaseTTL": "4h", "maxLeases": 5})
    );
    // The seed's `vault.leases.create`: a broker (root has sudo) leases for the agent.
    let (status, old) = lease(
        &node,
        &node.root,
        "openai-api-key-prod",
        json!({"ttl": "30m", "identity": {"type": "agent", "name": "claude-code"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{old}");
    let old_id = old["data"]["leaseId"].as_str().unwrap().to_owned();
    assert!(old_id.starts_with("credentials/openai-api-key-prod/lease/"));
    assert_eq!(old["lease_id"], old_id.as_str());
    assert_eq!(old["lease_duration"], 1800);
    assert_eq!(old["renewable"], true);
    assert_eq!(old["data"]["value"], "sk-proj-abc123oldkey");
    assert_eq!(old["data"]["ttl"], 1800);
    assert_eq!(old["data"]["version"], 1);
    assert_eq!(
        old["data"]["identity"],
        json!({"type": "agent", "name": "claude-code"})
    );

    // The seed's `vault.credentials.rotate`.
    node.clock.advance(10 * MINUTE);
    let (status, _, rotated) = node
        .send(
            "POST",
            "/v1/credentials/openai-api-key-prod/rotate",
            Some(&node.root),
            Some(json!({"newValue": "sk-proj-newkey456"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["data"]["version"], 2);
    assert_eq!(rotated["data"]["state"], "active");
    assert_eq!(rotated["data"]["previousVersionLeases"], 1);
    assert!(!rotated.to_string().contains("newkey456"));

    // The old lease keeps its old value; a new lease gets the new one.
    let (status, still) = read_lease(&node, &node.root, &old_id).await;
    assert_eq!(status, StatusCode::OK, "{still}");
    assert_eq!(still["data"]["value"], "sk-proj-abc123oldkey");
    assert_eq!(still["data"]["ttl"], 1200);
    let (_, new) = lease(&node, &node.root, "openai-api-key-prod", json!({})).await;
    assert_eq!(new["data"]["value"], "sk-proj-newkey456");
    assert_eq!(new["data"]["version"], 2);

    let (_, _, versions) = node
        .send(
            "GET",
            "/v1/credentials/openai-api-key-prod/versions",
            Some(&node.root),
            None,
        )
        .await;
    let versions = versions["data"]["versions"].as_array().unwrap().clone();
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["state"], "active");
    assert_eq!(versions[0]["activeLeases"], 1);
    assert_eq!(versions[1]["state"], "rotated");
    assert_eq!(versions[1]["activeLeases"], 1);
    assert_eq!(versions[1]["destroyed"], false);

    // Once the last lease on version 1 ends, its value is destroyed.
    node.clock.advance(21 * MINUTE);
    node.core.reap_expired().await.unwrap();
    let (status, gone) = read_lease(&node, &node.root, &old_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{gone}");
    let (_, _, versions) = node
        .send(
            "GET",
            "/v1/credentials/openai-api-key-prod/versions",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(versions["data"]["versions"][1]["destroyed"], true);
    assert_eq!(versions["data"]["versions"][1]["activeLeases"], 0);
    let stored = snapshot(&node.storage).await;
    assert!(
        stored
            .keys()
            .all(|k| !k.ends_with("value/openai-api-key-prod/1")),
        "the rotated value is deleted from storage"
    );
    assert!(
        stored
            .keys()
            .any(|k| k.ends_with("value/openai-api-key-prod/2")),
        "the current value is kept"
    );
}

#[tokio::test]
async fn seed_api_keys_aws_key_and_extracted_metadata_never_overwrite_the_callers() {
    let node = Node::unsealed().await;
    let reply = create(
        &node,
        &node.root,
        "aws-deploy-key-prod",
        json!({
            "type": "api-key",
            "value": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "metadata": {
                "service": "aws",
                "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                "environment": "production",
                "iamUser": "deploy-bot",
            },
        }),
    )
    .await;
    assert_eq!(
        reply["data"]["metadata"]["accessKeyId"],
        "AKIAIOSFODNN7EXAMPLE"
    );
    // A recognised prefix is extracted when the caller did not say.
    let reply = create(
        &node,
        &node.root,
        "stripe",
        json!({"type": "api-key", "value": "sk_live_51Habcdefghijklmnop"}),
    )
    .await;
    assert_eq!(reply["data"]["metadata"]["prefix"], "sk_live_");
    assert_eq!(reply["data"]["metadata"]["service"], "stripe");
    let reply = create(
        &node,
        &node.root,
        "gh",
        json!({"type": "api-key", "value": "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "metadata": {"service": "github-enterprise"}}),
    )
    .await;
    assert_eq!(reply["data"]["metadata"]["service"], "github-enterprise");
    assert_eq!(reply["data"]["metadata"]["prefix"], "ghp_");
}

#[tokio::test]
async fn seed_generic_secrets_store_lease_and_refuse_a_type_change() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    for (name, value, metadata) in [
        (
            "webhook-signing-secret",
            "whsec_abc123xyz",
            json!({"service": "stripe", "purpose": "Verifying Stripe webhook signatures", "environment": "production"}),
        ),
        (
            "data-encryption-key-v3",
            "base64encodedkey==",
            json!({"algorithm": "aes-256-gcm", "keyVersion": "3", "purpose": "Encrypting PII fields in the users table"}),
        ),
        (
            "jwt-signing-secret",
            "a-very-long-random-string",
            json!({"algorithm": "HS256", "audience": "api.example.com"}),
        ),
    ] {
        let reply = create(
            &node,
            &root,
            name,
            json!({"type": "generic-secret", "value": value, "metadata": metadata}),
        )
        .await;
        // Generic secrets get no extraction: the metadata is exactly the caller's.
        assert_eq!(reply["data"]["metadata"], metadata, "{name}");
    }
    let (status, leased) = lease(
        &node,
        &root,
        "webhook-signing-secret",
        json!({"ttl": "1h", "identity": {"type": "agent", "name": "webhook-processor", "purpose": "Verifying incoming Stripe webhooks"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{leased}");
    assert_eq!(leased["data"]["value"], "whsec_abc123xyz");
    assert_eq!(
        leased["data"]["identity"],
        json!({"type": "agent", "name": "webhook-processor", "purpose": "Verifying incoming Stripe webhooks"})
    );
    assert_eq!(leased["lease_duration"], 3600);

    // Validation: a non-empty string; the name is unique within the tenant.
    let before = snapshot(&node.storage).await;
    for (body, status, needle) in [
        (
            json!({"type": "generic-secret", "value": ""}),
            StatusCode::BAD_REQUEST,
            "generic-secret value is empty",
        ),
        (
            json!({"type": "generic-secret", "value": "   "}),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            json!({"type": "generic-secret", "value": 42}),
            StatusCode::BAD_REQUEST,
            "value must be a string",
        ),
    ] {
        let (got, _, reply) = node
            .send(
                "POST",
                "/v1/credentials/license-key",
                Some(&root),
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(error_text(&reply).contains(needle), "{body}: {reply}");
    }
    let (status, _, reply) = node
        .send(
            "POST",
            "/v1/credentials/jwt-signing-secret",
            Some(&root),
            Some(json!({"type": "generic-secret", "value": "other"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&reply).contains("already exists"), "{reply}");
    // No type change in place: neither by patch nor by rotation.
    let (status, reply) = patch(
        &node,
        &root,
        "jwt-signing-secret",
        json!({"type": "api-key"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&reply).contains("cannot change in place"),
        "{reply}"
    );
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/credentials/jwt-signing-secret/rotate",
            Some(&root),
            Some(json!({"type": "api-key", "newValue": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&node.storage).await, before, "nothing was written");
    // The migration path: a new credential with the right type and the same value.
    create(
        &node,
        &root,
        "jwt-signing-key",
        json!({"type": "api-key", "value": "a-very-long-random-string"}),
    )
    .await;
}

#[tokio::test]
async fn revoking_a_credential_invalidates_every_lease_at_once() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "db",
        json!({"type": "database-url", "value": "postgres://app:s3cret@db.internal:5432/app?sslmode=require"}),
    )
    .await;
    let (_, a) = lease(&node, &root, "db", json!({"identity": "agent:a"})).await;
    let (_, b) = lease(&node, &root, "db", json!({"identity": "agent:b"})).await;
    let (status, _, revoked) = node
        .send("POST", "/v1/credentials/db/revoke", Some(&root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["data"]["state"], "revoked");
    assert_eq!(revoked["data"]["revokedLeases"], 2);
    for held in [&a, &b] {
        let (status, reply) = read_lease(&node, &root, held["lease_id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert!(!reply.to_string().contains("s3cret"));
    }
    let (status, reply) = lease(&node, &root, "db", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert!(error_text(&reply).contains("revoked"), "{reply}");
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/credentials/db/rotate",
            Some(&root),
            Some(json!({"newValue": "postgres://app:new@db.internal/app"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, _, versions) = node
        .send("GET", "/v1/credentials/db/versions", Some(&root), None)
        .await;
    assert_eq!(versions["data"]["versions"][0]["state"], "revoked");
    let (_, _, read) = node
        .send("GET", "/v1/credentials/db", Some(&root), None)
        .await;
    assert_eq!(read["data"]["state"], "revoked");
    assert!(read["data"]["revokedAt"].is_string());
    // Extracted metadata never holds the password.
    assert_eq!(read["data"]["metadata"]["host"], "db.internal");
    assert!(!read.to_string().contains("s3cret"));
}

#[tokio::test]
async fn lease_ttl_precedence_capping_renewal_and_expiry() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "capped",
        json!({"type": "api-key", "value": "k1", "policy": {"defaultLeaseTTL": "30m", "maxLeaseTTL": "4h"}}),
    )
    .await;
    create(
        &node,
        &root,
        "plain",
        json!({"type": "api-key", "value": "k2"}),
    )
    .await;

    // Default TTL from the credential's policy; a longer request is capped with a warning.
    let (_, leased) = lease(&node, &root, "capped", json!({})).await;
    assert_eq!(leased["lease_duration"], 1800);
    let (status, leased) = lease(&node, &root, "capped", json!({"ttl": "10h"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(leased["lease_duration"], 4 * 3600);
    assert!(
        leased["warnings"].to_string().contains("capped"),
        "{leased}"
    );

    // Without a policy: the tenant default, then the built-in hour.
    let (_, leased) = lease(&node, &root, "plain", json!({})).await;
    assert_eq!(leased["lease_duration"], 3600);
    let (status, _, config) = node
        .send(
            "POST",
            "/v1/credentials/config",
            Some(&root),
            Some(json!({"defaultLeaseTTL": "15m", "maxLeaseTTL": "2h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    let (_, leased) = lease(&node, &root, "plain", json!({})).await;
    assert_eq!(leased["lease_duration"], 900);
    // The lower of the credential's and the tenant's maxLeaseTTL caps.
    let (_, leased) = lease(&node, &root, "capped", json!({"ttl": "3h"})).await;
    assert_eq!(leased["lease_duration"], 2 * 3600);

    // Renewal is capped at issue time + max TTL (2h here).
    let (_, short) = lease(&node, &root, "plain", json!({"ttl": "10m"})).await;
    let id = short["lease_id"].as_str().unwrap().to_owned();
    node.clock.advance(5 * MINUTE);
    let (status, _, renewed) = node
        .send(
            "PUT",
            "/v1/sys/leases/renew",
            Some(&root),
            Some(json!({"lease_id": id, "increment": "30m"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["lease_id"], id.as_str());
    assert_eq!(renewed["lease_duration"], 1800);
    let (_, _, renewed) = node
        .send(
            "PUT",
            "/v1/sys/leases/renew",
            Some(&root),
            Some(json!({"lease_id": id, "increment": "5h"})),
        )
        .await;
    assert_eq!(renewed["lease_duration"], 2 * 3600 - 5 * 60, "{renewed}");
    assert!(renewed["warnings"].to_string().contains("capped"));
    let (_, _, looked) = node
        .send(
            "PUT",
            "/v1/sys/leases/lookup",
            Some(&root),
            Some(json!({"lease_id": id})),
        )
        .await;
    assert_eq!(looked["data"]["ttl"], 2 * 3600 - 5 * 60);
    assert!(looked["data"]["last_renewal"].is_string());
    assert_eq!(
        looked["data"]["identity"],
        json!({"type": "token", "name": "root"})
    );

    // Expiry: the value stops being served at the exact end, then the reaper removes it.
    node.clock
        .advance(2 * 3600 * Duration::from_secs(1) - 5 * MINUTE - Duration::from_secs(1));
    let (status, _) = read_lease(&node, &root, &id).await;
    assert_eq!(status, StatusCode::OK);
    node.clock.advance(Duration::from_secs(1));
    let (status, _) = read_lease(&node, &root, &id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(node.core.reap_expired().await.unwrap() >= 1);
    let (status, _, looked) = node
        .send(
            "PUT",
            "/v1/sys/leases/lookup",
            Some(&root),
            Some(json!({"lease_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{looked}");
    assert!(error_text(&looked).contains("invalid lease"));
}

#[tokio::test]
async fn max_leases_allowed_identities_and_spoofing() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "deploy-key",
        json!({
            "type": "ssh-key",
            "value": ssh_key_pem(),
            "policy": {"maxLeases": 2, "allowedIdentities": [{"type": "agent", "name": "deploy-*"}, "user:alice"]},
        }),
    )
    .await;
    let eu = agent(&node, "agent:deploy-eu", LEASE_ANY).await;
    let us = agent(&node, "agent:deploy-us", LEASE_ANY).await;
    let bob = agent(&node, "user:bob", LEASE_ANY).await;

    let (status, reply) = lease(&node, &bob, "deploy-key", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(error_text(&reply).contains("allowedIdentities"), "{reply}");

    let (status, first) = lease(&node, &eu, "deploy-key", json!({"purpose": "release 1.2"})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"]["identity"]["name"], "deploy-eu");
    assert!(
        first["data"]["value"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    // Naming another identity needs sudo: an agent cannot lease as somebody else.
    let (status, reply) = lease(
        &node,
        &us,
        "deploy-key",
        json!({"identity": "agent:deploy-eu"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(error_text(&reply).contains("sudo"), "{reply}");
    // Nor read another holder's lease.
    let (status, _) = read_lease(&node, &us, first["lease_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = read_lease(&node, &eu, first["lease_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = lease(&node, &us, "deploy-key", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = lease(&node, &eu, "deploy-key", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert!(error_text(&reply).contains("maxLeases 2"), "{reply}");
    // The holder revokes its own lease; then there is room again.
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/sys/leases/revoke",
            Some(&root),
            Some(json!({"lease_id": first["lease_id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = lease(&node, &eu, "deploy-key", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // A broker with sudo on the lease path may name the identity.
    let broker = agent(
        &node,
        "agent:broker",
        r#"path "credentials/+/lease" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let (status, _, _) = node
        .send(
            "PUT",
            "/v1/sys/leases/revoke-prefix/credentials/deploy-key",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, reply) = lease(
        &node,
        &broker,
        "deploy-key",
        json!({"identity": {"type": "user", "name": "alice"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["data"]["identity"]["name"], "alice");
}

#[tokio::test]
async fn kill_switch_revokes_every_lease_of_one_identity() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    for name in ["one", "two"] {
        create(
            &node,
            &root,
            name,
            json!({"type": "generic-secret", "value": format!("v-{name}")}),
        )
        .await;
    }
    let (_, a1) = lease(&node, &root, "one", json!({"identity": "agent:rogue"})).await;
    let (_, a2) = lease(&node, &root, "two", json!({"identity": "agent:rogue"})).await;
    let (_, b1) = lease(&node, &root, "one", json!({"identity": "agent:good"})).await;
    let (status, _, listed) = node
        .send(
            "LIST",
            "/v1/sys/leases/by-identity/agent/rogue",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["keys"].as_array().unwrap().len(), 2);

    let (status, _, reply) = node
        .send(
            "POST",
            "/v1/sys/leases/revoke-identity",
            Some(&root),
            Some(json!({"identity": {"type": "agent", "name": "rogue"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["data"]["count"], 2);
    for gone in [&a1, &a2] {
        let (status, _) = read_lease(&node, &root, gone["lease_id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = read_lease(&node, &root, b1["lease_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // The kill switch needs sudo.
    let agent_token = agent(&node, "agent:x", LEASE_ANY).await;
    let (status, _, _) = node
        .send(
            "POST",
            "/v1/sys/leases/revoke-identity",
            Some(&agent_token),
            Some(json!({"identity": "agent:good"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn list_filters_by_type_state_and_metadata() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "a",
        json!({"type": "api-key", "value": "x", "metadata": {"environment": "production"}}),
    )
    .await;
    create(
        &node,
        &root,
        "b",
        json!({"type": "api-key", "value": "y", "metadata": {"environment": "staging"}}),
    )
    .await;
    create(
        &node,
        &root,
        "c",
        json!({"type": "generic-secret", "value": "z"}),
    )
    .await;
    node.send("POST", "/v1/credentials/c/revoke", Some(&root), None)
        .await;
    let keys = |query: &'static str| {
        let node = &node;
        let root = root.clone();
        async move {
            let (status, _, body) = node
                .send(
                    "LIST",
                    &format!("/v1/credentials{query}"),
                    Some(&root),
                    None,
                )
                .await;
            (status, body["data"]["keys"].clone(), body)
        }
    };
    assert_eq!(keys("").await.1, json!(["a", "b", "c"]));
    assert_eq!(keys("?type=api-key").await.1, json!(["a", "b"]));
    assert_eq!(keys("?state=revoked").await.1, json!(["c"]));
    assert_eq!(
        keys("?metadata.environment=production").await.1,
        json!(["a"])
    );
    let (_, _, body) = keys("").await;
    assert_eq!(
        body["data"]["key_info"]["a"],
        json!({"type": "api-key", "state": "active", "version": 1, "updatedAt": body["data"]["key_info"]["a"]["updatedAt"]})
    );
    let (status, _, body) = keys("?type=password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = keys("?state=deleted").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = node
        .send(
            "GET",
            "/v1/credentials?list=true&type=ssh-key",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_merges_metadata_and_policy_but_never_the_value() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    create(&node, &root, "k", json!({"type": "api-key", "value": "sk-proj-zzz", "metadata": {"team": "a", "old": "x"}, "policy": {"maxLeases": 3}})).await;
    node.clock.advance(MINUTE);
    let (status, reply) = patch(
        &node,
        &root,
        "k",
        json!({"metadata": {"team": "b", "old": null, "owner": "ml"}, "policy": {"defaultLeaseTTL": "15m"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let data = &reply["data"];
    assert_eq!(data["metadata"]["team"], "b");
    assert_eq!(data["metadata"]["owner"], "ml");
    assert!(data["metadata"].get("old").is_none());
    assert_eq!(data["metadata"]["prefix"], "sk-proj-");
    assert_eq!(
        data["policy"],
        json!({"defaultLeaseTTL": "15m", "maxLeases": 3})
    );
    assert_ne!(data["createdAt"], data["updatedAt"]);
    assert_eq!(data["version"], 1);
    let before = snapshot(&node.storage).await;
    for body in [
        json!({"value": "new"}),
        json!({"metadata": {"n": 5}}),
        json!({"metadata": "team=a"}),
        json!({"policy": {"maxLeases": "many"}}),
        json!({"policy": {"defaultLeaseTTL": "1x"}}),
        json!({"color": "blue"}),
    ] {
        let (status, reply) = patch(&node, &root, "k", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
    }
    let (status, _) = patch(&node, &root, "nope", json!({"metadata": {}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&node.storage).await, before, "nothing was written");
}

/// A fresh Ed25519 private key (PKCS#8 PEM), generated for this test run.
fn ssh_key_pem() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .expect("ring generates Ed25519")
        .serialize_pem()
}

/// A fresh self-signed certificate for `host` valid until `not_after`, with its key.
fn certificate(host: &str, not_after: (i32, u8, u8)) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ring generates");
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).expect("valid SAN");
    params.not_before = rcgen::date_time_ymd(2023, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).expect("rcgen signs");
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn malformed_values_of_every_type_are_refused_and_nothing_is_stored() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    let (cert, key) = certificate("api.example.com", (2030, 1, 1));
    let (_, other_key) = certificate("other.example.com", (2030, 1, 1));
    let truncated = cert[..cert.len() / 2].to_owned();
    let huge = "x".repeat(2 * 1024 * 1024);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"type": "tls-certificate", "value": format!("{truncated}{key}")}),
            "tls-certificate",
        ),
        (
            json!({"type": "tls-certificate", "value": format!("{cert}{other_key}")}),
            "does not match",
        ),
        (
            json!({"type": "tls-certificate", "value": cert.clone()}),
            "no PRIVATE KEY block",
        ),
        (
            json!({"type": "ssh-key", "value": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"}),
            "ssh-key",
        ),
        (
            json!({"type": "database-url", "value": "ftp://files.example.com/x"}),
            "ftp",
        ),
        (
            json!({"type": "database-url", "value": "not a url"}),
            "database-url",
        ),
        (
            json!({"type": "oauth-token", "value": "{\"refresh_token\": 5}"}),
            "oauth-token",
        ),
        (
            json!({"type": "api-key", "value": ""}),
            "api-key value is empty",
        ),
        (json!({"type": "generic-secret", "value": huge}), "limit"),
        (
            json!({"type": "password", "value": "x"}),
            "unknown credential type",
        ),
        (json!({"value": "x"}), "missing type"),
        (json!({"type": "api-key"}), "missing value"),
        (json!({"type": 5, "value": "x"}), "type must be a string"),
        (
            json!({"type": "api-key", "value": ["x"]}),
            "value must be a string",
        ),
        (
            json!({"type": "api-key", "value": "x", "metadata": {"n": 1}}),
            "metadata.n must be a string",
        ),
        (
            json!({"type": "api-key", "value": "x", "metadata": []}),
            "metadata must be an object",
        ),
        (
            json!({"type": "api-key", "value": "x", "policy": {"maxLeases": "5"}}),
            "policy.maxLeases",
        ),
        (
            json!({"type": "api-key", "value": "x", "policy": {"maxLeaseTTL": "1x"}}),
            "policy.maxLeaseTTL",
        ),
        (
            json!({"type": "api-key", "value": "x", "policy": {"allowedIdentities": [5]}}),
            "allowedIdentities[0]",
        ),
        (
            json!({"type": "api-key", "value": "x", "valeu": "typo"}),
            "unknown field",
        ),
    ];
    let before = snapshot(&node.storage).await;
    for (body, needle) in cases {
        let shown = body.to_string().chars().take(120).collect::<String>();
        let (status, _, reply) = node
            .send("POST", "/v1/credentials/bad", Some(&root), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{shown}: {reply}");
        assert!(error_text(&reply).contains(needle), "{shown}: {reply}");
        let key_line = key.lines().nth(1).expect("key body");
        assert!(!error_text(&reply).contains(key_line), "{reply}");
    }
    for name in ["config", "has space", "a/b", &"n".repeat(129)] {
        let (status, _, reply) = node
            .send(
                "POST",
                &format!("/v1/credentials/{}", name.replace(' ', "%20")),
                Some(&root),
                Some(json!({"type": "api-key", "value": "x"})),
            )
            .await;
        assert!(status.is_client_error(), "{name}: {status} {reply}");
    }
    assert_eq!(snapshot(&node.storage).await, before, "nothing was written");

    // The good ones: a certificate with its key, an expired one stored with a warning.
    let reply = create(
        &node,
        &root,
        "tls",
        json!({"type": "tls-certificate", "value": format!("{cert}{key}")}),
    )
    .await;
    assert_eq!(reply["data"]["metadata"]["sans"], "api.example.com");
    assert!(reply["data"]["metadata"]["fingerprint"].is_string());
    assert!(
        !reply
            .to_string()
            .contains(key.lines().nth(1).expect("key body"))
    );
    let (old_cert, old_key) = certificate("old.example.com", (2023, 6, 1));
    let reply = create(
        &node,
        &root,
        "old-tls",
        json!({"type": "tls-certificate", "value": format!("{old_cert}{old_key}")}),
    )
    .await;
    assert!(reply["warnings"].to_string().contains("expired"), "{reply}");
    let reply = create(
        &node,
        &root,
        "ssh",
        json!({"type": "ssh-key", "value": ssh_key_pem()}),
    )
    .await;
    assert_eq!(reply["data"]["metadata"]["algorithm"], "ssh-ed25519");
}

#[tokio::test]
async fn issue_6_lease_audit_records_carry_identity_and_purpose_never_the_value() {
    let node = Node::unsealed().await;
    let root = node.root.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let (status, _, body) = node
        .send(
            "PUT",
            "/v1/sys/audit/file",
            Some(&root),
            Some(json!({"type": "file", "options": {"file_path": log.display().to_string()}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    create(
        &node,
        &root,
        "stripe",
        json!({"type": "api-key", "value": "sk_live_auditme123"}),
    )
    .await;
    let (status, leased) = lease(
        &node,
        &root,
        "stripe",
        json!({"ttl": "15m", "identity": {"type": "agent", "name": "billing-bot", "purpose": "nightly invoices"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{leased}");
    let text = std::fs::read_to_string(&log).expect("audit log");
    assert!(
        !text.contains("sk_live_auditme123"),
        "the value never appears in clear"
    );
    let response = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON lines"))
        .find(|record| {
            record["type"] == "response" && record["request"]["path"] == "credentials/stripe/lease"
        })
        .expect("the lease's response record");
    let secret = &response["response"]["secret"];
    assert_eq!(secret["lease_id"], leased["lease_id"]);
    assert_eq!(
        secret["identity"],
        json!({"type": "agent", "name": "billing-bot"})
    );
    assert_eq!(secret["purpose"], "nightly invoices");
    assert!(
        response["response"]["data"]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("hmac-sha256:")),
        "{response}"
    );
}

/// Memory storage whose next transaction, once armed, waits for `release` before it is applied:
/// a commit in flight, not yet visible and not yet acknowledged.
#[derive(Default)]
struct HeldCommit {
    inner: MemoryBackend,
    armed: AtomicBool,
    entered: Notify,
    release: Notify,
}

#[async_trait]
impl Backend for HeldCommit {
    async fn get(&self, key: &str) -> coffer_storage::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> coffer_storage::Result<()> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> coffer_storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> coffer_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> coffer_storage::Result<Vec<String>> {
        self.inner.scan(prefix, after, limit).await
    }
    async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> coffer_storage::Result<Vec<Record>> {
        self.inner.scan_records(prefix, after, limit).await
    }
    async fn transaction(&self, ops: Vec<TxOp>) -> coffer_storage::Result<()> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.transaction(ops).await
    }
    fn kind(&self) -> &'static str {
        "held"
    }
    async fn close(&self) -> coffer_storage::Result<()> {
        Ok(())
    }
}

/// A node over [`HeldCommit`] storage, and that storage.
async fn node_with_held_commits() -> (Node, Arc<HeldCommit>) {
    let held = Arc::new(HeldCommit::default());
    let node = Node::unsealed_over(Storage::from_arc(held.clone())).await;
    (node, held)
}

/// Sends `POST /v1/credentials/<path>` with `token` on a task of its own.
fn spawn_post(node: &Node, token: &str, path: &str) -> JoinHandle<(StatusCode, Value)> {
    let app = node.app.clone();
    let (token, path) = (token.to_owned(), format!("/v1/credentials/{path}"));
    tokio::spawn(async move {
        let (status, _, reply) = send(&app, "POST", &path, Some(&token), Some(json!({}))).await;
        (status, reply)
    })
}

/// Gives the tasks spawned on this (single-threaded) runtime every chance to run.
async fn let_others_run() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Issues a lease on `credential` with its commit held open, sends `POST /v1/credentials/<then>`
/// meanwhile and checks that it waits for that commit, then lets the commit finish. Returns the
/// lease's reply and the other request's.
async fn while_a_lease_commits(
    node: &Node,
    held: &HeldCommit,
    credential: &str,
    then: &str,
) -> ((StatusCode, Value), (StatusCode, Value)) {
    held.armed.store(true, Ordering::SeqCst);
    let lease = spawn_post(node, &node.root, &format!("{credential}/lease"));
    held.entered.notified().await;
    let other = spawn_post(node, &node.root, then);
    let_others_run().await;
    assert!(
        !other.is_finished(),
        "POST {then} waits for the lease being committed"
    );
    held.release.notify_one();
    let lease = lease.await.expect("the lease's task");
    let other = other.await.expect("the other request's task");
    (lease, other)
}

#[tokio::test]
async fn issue_9_leases_of_one_credential_do_not_wait_for_each_others_commit() {
    let (node, held) = node_with_held_commits().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "shared",
        json!({"type": "api-key", "value": "sk-live-0123456789abcdef"}),
    )
    .await;

    // One agent's lease is being committed while another agent asks for one.
    held.armed.store(true, Ordering::SeqCst);
    let first = spawn_post(&node, &root, "shared/lease");
    held.entered.notified().await;
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        lease(&node, &root, "shared", json!({"identity": "agent:b"})),
    )
    .await
    .expect("the second lease does not wait for the first one's commit");
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    held.release.notify_one();
    let (status, first) = first.await.expect("the first lease's task");
    assert_eq!(status, StatusCode::OK, "{first}");

    let (status, _, listed) = node
        .send("LIST", "/v1/credentials/shared/lease", Some(&root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["data"]["keys"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

#[tokio::test]
async fn issue_9_a_lease_being_committed_holds_off_max_leases_counts_and_a_revocation() {
    let (node, held) = node_with_held_commits().await;
    let root = node.root.clone();
    create(
        &node,
        &root,
        "limited",
        json!({"type": "api-key", "value": "sk-live-0123456789abcdef", "policy": {"maxLeases": 1}}),
    )
    .await;
    create(
        &node,
        &root,
        "revoked",
        json!({"type": "api-key", "value": "sk-live-fedcba9876543210"}),
    )
    .await;

    // maxLeases 1: a second lease is counted only once the first one is committed, so it is
    // refused rather than issued beside it.
    let ((status, reply), (second, refused)) =
        while_a_lease_commits(&node, &held, "limited", "limited/lease").await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(second, StatusCode::CONFLICT, "{refused}");
    assert!(error_text(&refused).contains("maxLeases 1"), "{refused}");

    // A revocation waits for the lease being committed, and revokes it too.
    let ((status, issued), (revoke, revoked)) =
        while_a_lease_commits(&node, &held, "revoked", "revoked/revoke").await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(revoke, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["data"]["revokedLeases"], 1, "{revoked}");
    let (status, reply) = read_lease(&node, &root, issued["lease_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
}
