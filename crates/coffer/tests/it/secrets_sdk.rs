//! The Rust SDK's named secrets (`Client::secrets()`) against a dev server: `batch_get` across
//! environments, ambiguity and missing names, generated values and rotation policy, updates
//! that change only the policy, and a token that may read only `production/*`.

use std::collections::BTreeMap;
use std::path::Path;

use coffer_api::credentials::SecretString;
use coffer_client::secrets::{RotationPolicy, SecretSpec};
use coffer_client::{Client, Error};
use serde_json::{Map, Value, json};

use crate::support::TestServer;

fn dev_server(dir: &Path) -> TestServer {
    TestServer::spawn_args(
        dir,
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    )
}

fn spec(name: &str, value: &str, tags: &[&str]) -> SecretSpec {
    SecretSpec {
        name: name.to_owned(),
        value: Some(SecretString::new(value)),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..SecretSpec::default()
    }
}

async fn create(client: &Client, name: &str, value: &str, tags: &[&str]) -> String {
    client
        .secrets()
        .create(&spec(name, value, tags))
        .await
        .expect("create")
}

fn values(map: &BTreeMap<String, SecretString>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.expose())).collect()
}

#[tokio::test]
async fn batch_get_resolves_environments_in_one_batch_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dev_server(dir.path());
    let root = server.root_client();
    assert_eq!(
        create(
            &root,
            "DATABASE_URL",
            "postgres://db",
            &["production", "database"]
        )
        .await,
        "production/DATABASE_URL"
    );
    assert_eq!(
        create(&root, "REDIS_URL", "redis://r", &[]).await,
        "REDIS_URL"
    );
    create(&root, "API_KEY", "prod_key", &["production"]).await;
    create(&root, "API_KEY", "dev_key", &["development"]).await;
    // A custom environment folder is found too.
    root.secrets()
        .create(&SecretSpec {
            env: Some("qa".into()),
            ..spec("QA_ONLY", "qa-value", &[])
        })
        .await
        .expect("create in qa");

    let got = root
        .secrets()
        .batch_get(&["DATABASE_URL", "REDIS_URL", "QA_ONLY"], None)
        .await
        .expect("batch_get");
    assert_eq!(
        values(&got),
        BTreeMap::from([
            ("DATABASE_URL", "postgres://db"),
            ("QA_ONLY", "qa-value"),
            ("REDIS_URL", "redis://r"),
        ])
    );
    let prod = root
        .secrets()
        .batch_get(&["API_KEY", "DATABASE_URL"], Some("production"))
        .await
        .expect("batch_get production");
    assert_eq!(prod["API_KEY"].expose(), "prod_key");

    match root.secrets().batch_get(&["API_KEY"], None).await {
        Err(Error::AmbiguousSecret { environments, .. }) => {
            assert_eq!(environments, ["development", "production"]);
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    assert!(matches!(
        root.secrets().batch_get(&["REDIS_URL", "NOPE"], None).await,
        Err(Error::SecretNotFound { name }) if name == "NOPE"
    ));
    // Debug output of what was read never shows a value.
    assert!(!format!("{got:?}").contains("postgres://db"));
}

#[tokio::test]
async fn generated_secrets_rotation_policy_and_policy_only_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dev_server(dir.path());
    let root = server.root_client();
    let secrets = root.secrets();
    secrets
        .create(&SecretSpec {
            name: "SIGNING_KEY".into(),
            generate: Some(32),
            rotation: Some(RotationPolicy {
                enabled: true,
                period: "30d".into(),
                notify_before: Some("7d".into()),
            }),
            metadata: BTreeMap::from([("owner".to_owned(), "platform".to_owned())]),
            ..SecretSpec::default()
        })
        .await
        .expect("create generated");
    let first = secrets.get("SIGNING_KEY", None, None).await.expect("get");
    let value = first.value.clone().expect("a value");
    assert_eq!(value.expose().len(), 43);
    assert_eq!(first.generate, Some(32));
    assert_eq!(
        first.rotation,
        Some(RotationPolicy {
            enabled: true,
            period: "30d".into(),
            notify_before: Some("7d".into()),
        })
    );

    // A policy-only update: no new version, metadata merged, tags set.
    let version = secrets
        .update(&SecretSpec {
            name: "SIGNING_KEY".into(),
            tags: vec!["signing".into()],
            metadata: BTreeMap::from([("team".to_owned(), "core".to_owned())]),
            expires_in: Some("90d".into()),
            ..SecretSpec::default()
        })
        .await
        .expect("policy update");
    assert_eq!(version, 1);
    let now = secrets.get("SIGNING_KEY", None, None).await.expect("get");
    assert_eq!(
        now.value.as_ref().map(SecretString::expose),
        Some(value.expose())
    );
    assert_eq!(now.tags, ["signing"]);
    assert_eq!(
        now.metadata.get("owner").map(String::as_str),
        Some("platform")
    );
    assert_eq!(now.metadata.get("team").map(String::as_str), Some("core"));
    assert_eq!(now.expires_in.as_deref(), Some("90d"));
    assert!(now.rotation.is_some(), "the rotation policy is kept");

    // Regenerating makes version 2 with a different value; versions lists both.
    let version = secrets
        .update(&SecretSpec {
            name: "SIGNING_KEY".into(),
            generate: Some(32),
            ..SecretSpec::default()
        })
        .await
        .expect("regenerate");
    assert_eq!(version, 2);
    let second = secrets.get("SIGNING_KEY", None, None).await.expect("get");
    assert_ne!(second.value, first.value);
    let listed: Vec<u64> = secrets
        .versions("SIGNING_KEY", None)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, [1, 2]);

    // A secret written through the plain KV API with several keys reads back whole.
    let mut data = Map::new();
    data.insert("data".into(), json!({"user": "app", "password": "pw"}));
    root.write("secret/data/production/LEGACY", &data)
        .await
        .expect("kv write");
    let legacy = secrets
        .get("LEGACY", Some("production"), None)
        .await
        .expect("legacy");
    assert!(legacy.value.is_none());
    assert_eq!(legacy.data["password"].expose(), "pw");
}

#[tokio::test]
async fn a_production_only_token_reads_production_and_is_refused_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dev_server(dir.path());
    let root = server.root_client();
    create(&root, "API_KEY", "prod_key", &["production"]).await;
    create(&root, "INTERNAL", "top-level", &[]).await;
    let mut policy = Map::new();
    policy.insert(
        "policy".into(),
        Value::String(
            "path \"secret/data/production/*\" { capabilities = [\"read\"] }\n\
             path \"sys/batch/read\" { capabilities = [\"update\"] }\n"
                .into(),
        ),
    );
    root.write("sys/policies/acl/prod-read", &policy)
        .await
        .expect("policy");
    let token = root
        .token_create(
            &serde_json::from_value(json!({"policies": ["prod-read"], "ttl": "1h"}))
                .expect("token request"),
            false,
        )
        .await
        .expect("token")
        .auth
        .expect("auth")
        .client_token;
    let reader = root.with_token(token);
    // It may not list the mount: the known environment names are tried instead.
    let got = reader
        .secrets()
        .get("API_KEY", None, None)
        .await
        .expect("production read");
    assert_eq!(
        got.value.as_ref().map(SecretString::expose),
        Some("prod_key")
    );
    assert_eq!(got.env.as_deref(), Some("production"));
    match reader.secrets().get("INTERNAL", None, None).await {
        Err(e) => assert_eq!(e.status(), Some(403), "{e}"),
        Ok(_) => panic!("INTERNAL must not be readable"),
    }
    // Creating is refused by the server; nothing is written.
    assert!(
        reader
            .secrets()
            .create(&spec("NEW", "v", &["production"]))
            .await
            .is_err()
    );
    assert!(matches!(
        root.secrets().get("NEW", None, None).await,
        Err(Error::SecretNotFound { .. })
    ));
}
