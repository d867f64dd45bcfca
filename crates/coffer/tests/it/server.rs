//! `coffer server` as an operator runs it: dev mode, config errors, unreachable PostgreSQL, TLS,
//! graceful shutdown, PostgreSQL storage and auto-unseal.

use std::process::Command;

use crate::lifecycle::init_unsealed;
use crate::support::{TestServer, coffer_bin, run_to_exit, sqlite_config};

#[tokio::test]
async fn issue_2_dev_mode_is_unsealed_with_a_fixed_root_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::spawn_args(
        dir.path(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=devroot",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    assert_eq!(server.root_token.as_deref(), Some("devroot"));
    let (code, health) = server.client().health().await.expect("health");
    assert_eq!(code, 200);
    assert!(health.initialized && !health.sealed);
    let status = server.client().seal_status().await.expect("seal-status");
    assert_eq!(
        (status.t, status.n, status.storage_type.as_str()),
        (1, 1, "inmem")
    );
    let lookup = server
        .root_client()
        .token_lookup_self()
        .await
        .expect("root works");
    let data = lookup.data.expect("data");
    assert_eq!(data["policies"], serde_json::json!(["root"]));
    assert_eq!(
        data["expire_time"],
        serde_json::Value::Null,
        "root tokens do not expire"
    );
}

#[tokio::test]
async fn issue_2_sigterm_shuts_down_cleanly_and_keeps_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::sqlite(dir.path());
    let init = init_unsealed(&server).await;
    let root = server.client().with_token(init.root_token.clone());
    let created = root
        .token_create(
            &coffer_api::TokenCreateRequest {
                ttl: Some("2h".into()),
                ..Default::default()
            },
            false,
        )
        .await
        .expect("create");
    let token = created.auth.expect("auth").client_token;
    let logs_before = server.log.clone();
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let logs = std::fs::read_to_string(logs_before).unwrap_or_default();
    assert!(logs.contains("shutdown complete"), "{logs}");

    let server = TestServer::with_config(dir.path(), &sqlite_config(dir.path()));
    server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    server
        .client()
        .with_token(token)
        .token_lookup_self()
        .await
        .expect("token kept");
}

#[test]
fn issue_2_unreachable_postgres_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("pg.hcl");
    std::fs::write(
        &config,
        "storage \"postgresql\" {\n connection_url = \"postgres://postgres:hunter2@127.0.0.1:1/test\"\n}\nlistener \"tcp\" {\n address = \"127.0.0.1:0\"\n tls_disable = true\n}\n",
    )
    .expect("write config");
    let output = run_to_exit(
        Command::new(coffer_bin()).args(["server", &format!("-config={}", config.display())]),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to postgresql at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password never appears: {stderr}"
    );
}

#[test]
fn issue_2_bad_configs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str)] = &[
        ("storage \"s3\" {}", "storage type \"s3\" is not supported"),
        (
            "listener \"tcp\" { tls_disable = true }",
            "a storage block is required",
        ),
        ("storage \"inmem\" {", "not valid HCL"),
        (
            "storage \"sqlite\" { path = \"/nonexistent-dir/x/coffer.db\" }\nlistener \"tcp\" {\n address = \"127.0.0.1:0\"\n tls_disable = true\n}",
            "/nonexistent-dir/x/coffer.db",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("bad.hcl");
        std::fs::write(&path, text).expect("write");
        let output = run_to_exit(
            Command::new(coffer_bin()).args(["server", &format!("-config={}", path.display())]),
        );
        assert_eq!(output.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "config {text:?}: {stderr}");
    }
    let output = run_to_exit(Command::new(coffer_bin()).args(["server"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("-config=FILE"));
}

#[tokio::test]
async fn issue_2_tls_listener_with_rustls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let ca = make_test_ca_and_leaf(dir.path(), &cert, &key);
    let config = format!(
        "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n address = \"127.0.0.1:0\"\n tls_cert_file = \"{}\"\n tls_key_file = \"{}\"\n}}\n",
        cert.display(),
        key.display()
    );
    let server = TestServer::with_config(dir.path(), &config);
    assert!(server.addr.starts_with("https://"));
    let mut client_config = coffer_client::ClientConfig::new(server.addr.clone());
    client_config.ca_cert_pem = Some(std::fs::read(&ca).expect("read CA"));
    let client = coffer_client::Client::new(client_config).expect("client");
    let (code, _) = client.health().await.expect("health over TLS");
    assert_eq!(code, 501);
    let plain = coffer_client::Client::new(coffer_client::ClientConfig::new(
        server.addr.replace("https://", "http://"),
    ))
    .expect("client");
    assert!(
        plain.health().await.is_err(),
        "plain HTTP is not served on a TLS listener"
    );
}

#[tokio::test]
async fn issue_2_auto_unseal_from_a_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("unseal.key");
    std::fs::write(&key_file, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").expect("write key");
    let config = format!(
        "{}seal \"static\" {{ key_file = \"{}\" }}\n",
        sqlite_config(dir.path()),
        key_file.display()
    );
    let server = TestServer::with_config(dir.path(), &config);
    let init = server.client().init(3, 2).await.expect("init");
    assert!(
        !server.client().seal_status().await.expect("status").sealed,
        "auto-unseal: unsealed right after init"
    );
    server.kill9();

    let server = TestServer::with_config(dir.path(), &config);
    let status = server.client().seal_status().await.expect("status");
    assert!(!status.sealed, "unsealed at start without shares");
    server
        .client()
        .with_token(init.root_token.clone())
        .token_lookup_self()
        .await
        .expect("root token works");
    server.kill9();

    // Without the key file the same storage starts sealed and the shares still work.
    let server = TestServer::with_config(dir.path(), &sqlite_config(dir.path()));
    assert!(server.client().seal_status().await.expect("status").sealed);
    server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("share 1");
    assert!(
        !server
            .client()
            .unseal(&init.keys_base64[1])
            .await
            .expect("share 2")
            .sealed
    );
    server.kill9();

    // A wrong key is refused at start.
    std::fs::write(&key_file, "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=").expect("write key");
    let auto_config = dir.path().join("auto.hcl");
    std::fs::write(&auto_config, &config).expect("write config");
    let output = run_to_exit(
        Command::new(coffer_bin()).args(["server", &format!("-config={}", auto_config.display())]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("wrong key"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn issue_2_postgresql_storage() {
    let (pg, schema_guard) = coffer_storage::testing::postgres_test_schema().await;
    let url = pg.connection_url.clone();
    let schema = schema_guard.name().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "storage \"postgresql\" {{\n connection_url = \"{url}\"\n schema = \"{schema}\"\n}}\nlistener \"tcp\" {{\n address = \"127.0.0.1:0\"\n tls_disable = true\n}}\n"
    );
    let server = TestServer::with_config(dir.path(), &config);
    let init = init_unsealed(&server).await;
    let root = server.client().with_token(init.root_token.clone());
    let created = root
        .token_create(&Default::default(), false)
        .await
        .expect("create");
    let token = created.auth.expect("auth").client_token;
    server.kill9();
    let server = TestServer::with_config(dir.path(), &config);
    assert_eq!(
        server
            .client()
            .seal_status()
            .await
            .expect("status")
            .storage_type,
        "postgresql"
    );
    server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    server
        .client()
        .with_token(token)
        .token_lookup_self()
        .await
        .expect("token kept in PostgreSQL");
    drop(server);
    drop(schema_guard);
}

/// A throwaway CA and a leaf certificate for 127.0.0.1 signed by it, made with `openssl`.
fn make_test_ca_and_leaf(
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> std::path::PathBuf {
    let ca_key = dir.join("ca-key.pem");
    let ca_cert = dir.join("ca.pem");
    let csr = dir.join("leaf.csr");
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .expect("write ext");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let os = |s: &str| std::ffi::OsStr::new(s).to_owned();
    run(&[
        &os("req"),
        &os("-x509"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-days"),
        &os("1"),
        &os("-subj"),
        &os("/CN=coffer test CA"),
        &os("-keyout"),
        ca_key.as_os_str(),
        &os("-out"),
        ca_cert.as_os_str(),
    ]);
    run(&[
        &os("req"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-subj"),
        &os("/CN=127.0.0.1"),
        &os("-keyout"),
        key.as_os_str(),
        &os("-out"),
        csr.as_os_str(),
    ]);
    run(&[
        &os("x509"),
        &os("-req"),
        &os("-in"),
        csr.as_os_str(),
        &os("-CA"),
        ca_cert.as_os_str(),
        &os("-CAkey"),
        ca_key.as_os_str(),
        &os("-CAcreateserial"),
        &os("-days"),
        &os("1"),
        &os("-extfile"),
        ext.as_os_str(),
        &os("-out"),
        cert.as_os_str(),
    ]);
    ca_cert
}
