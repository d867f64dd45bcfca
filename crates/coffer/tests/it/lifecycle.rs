//! The seal lifecycle and durability through a real server on SQLite: init, unseal with
//! progress, tokens, seal, `kill -9` and restart, wrong shares, tampered storage.

use coffer_api::TokenCreateRequest;

use crate::support::{TestServer, sqlite_config};

fn create_request(ttl: &str) -> TokenCreateRequest {
    TokenCreateRequest {
        ttl: Some(ttl.into()),
        ..TokenCreateRequest::default()
    }
}

#[tokio::test]
async fn issue_2_init_unseal_token_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::sqlite(dir.path());
    let client = server.client();

    let status = client.seal_status().await.expect("seal-status");
    assert!(!status.initialized && status.sealed);
    assert_eq!((status.t, status.n), (0, 0));
    let (code, _) = client.health().await.expect("health");
    assert_eq!(code, 501, "uninitialized");

    let init = client.init(5, 3).await.expect("init");
    assert_eq!(init.keys.len(), 5);
    assert_eq!(init.keys_base64.len(), 5);
    assert!(
        init.keys.iter().all(|k| k.len() == 66),
        "33-byte shares in hex: {:?}",
        init.keys.iter().map(String::len).collect::<Vec<_>>()
    );
    let second = client.init(5, 3).await.expect_err("second init");
    assert_eq!(second.status(), Some(400));
    assert!(
        second.to_string().contains("already initialized"),
        "{second}"
    );

    // Sealed after init: everything but the status endpoints is 503.
    let root = client.with_token(init.root_token.clone());
    let sealed = root.token_lookup_self().await.expect_err("sealed");
    assert_eq!(sealed.status(), Some(503));
    assert!(sealed.to_string().contains("sealed"), "{sealed}");
    let (code, health) = client.health().await.expect("health");
    assert_eq!((code, health.sealed), (503, true));

    // Unseal with progress, one nonce per attempt, duplicates not counted.
    let first = client.unseal(&init.keys_base64[0]).await.expect("unseal 1");
    assert_eq!(
        (first.sealed, first.progress, first.t, first.n),
        (true, 1, 3, 5)
    );
    assert!(!first.nonce.is_empty());
    let dup = client
        .unseal(&init.keys_base64[0])
        .await
        .expect("duplicate share");
    assert_eq!(dup.progress, 1, "a duplicate share does not count");
    assert_eq!(dup.nonce, first.nonce);
    let reset = client.unseal_reset().await.expect("reset");
    assert_eq!(reset.progress, 0);
    client.unseal(&init.keys[1]).await.expect("hex share");
    client.unseal(&init.keys_base64[2]).await.expect("unseal 2");
    let done = client.unseal(&init.keys_base64[3]).await.expect("unseal 3");
    assert_eq!(
        (done.sealed, done.progress, done.nonce.as_str()),
        (false, 0, "")
    );
    let (code, _) = client.health().await.expect("health");
    assert_eq!(code, 200);

    let created = root
        .token_create(&create_request("1h"), false)
        .await
        .expect("token create");
    let auth = created.auth.expect("auth block");
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(auth.policies, vec!["root".to_owned()]);
    let child = client.with_token(auth.client_token.clone());
    child.token_lookup_self().await.expect("new token works");

    // kill -9, restart, unseal: the acknowledged token is still there.
    server.kill9();
    let server = TestServer::with_config(dir.path(), &sqlite_config(dir.path()));
    let client = server.client();
    let status = client
        .seal_status()
        .await
        .expect("seal-status after restart");
    assert!(status.initialized && status.sealed);
    for key in &init.keys_base64[..3] {
        client.unseal(key).await.expect("unseal after restart");
    }
    let lookup = client
        .with_token(auth.client_token.clone())
        .token_lookup_self()
        .await
        .expect("token survives kill -9");
    let data = lookup.data.expect("data");
    assert_eq!(data["accessor"], serde_json::json!(auth.accessor));
    let ttl = data["ttl"].as_u64().expect("ttl");
    assert!(ttl > 3000 && ttl <= 3600, "ttl {ttl}");

    // Revoke, seal.
    let root = client.with_token(init.root_token.clone());
    root.token_revoke(&auth.client_token).await.expect("revoke");
    let gone = client
        .with_token(auth.client_token.clone())
        .token_lookup_self()
        .await
        .expect_err("revoked");
    assert_eq!(gone.status(), Some(403));
    root.seal().await.expect("seal");
    assert!(client.seal_status().await.expect("status").sealed);
}

#[tokio::test]
async fn issue_2_wrong_unseal_share_keeps_the_server_sealed() {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let a = TestServer::sqlite(dir_a.path());
    let b = TestServer::sqlite(dir_b.path());
    let init_a = a.client().init(3, 2).await.expect("init a");
    let init_b = b.client().init(3, 2).await.expect("init b");

    let client = a.client();
    client
        .unseal(&init_a.keys_base64[0])
        .await
        .expect("good share");
    let wrong = client
        .unseal(&init_b.keys_base64[1])
        .await
        .expect_err("share of another server");
    assert_eq!(wrong.status(), Some(400));
    assert!(
        wrong.to_string().contains("unseal keys do not match"),
        "{wrong}"
    );
    let status = client.seal_status().await.expect("status");
    assert!(status.sealed);
    assert_eq!(status.progress, 0, "a failed attempt resets progress");

    // A share of another server with the same index cannot even be combined.
    client
        .unseal(&init_a.keys_base64[0])
        .await
        .expect("good share");
    let clash = client
        .unseal(&init_b.keys_base64[0])
        .await
        .expect_err("same index, other server");
    assert_eq!(clash.status(), Some(400));
    assert!(clash.to_string().contains("* invalid key: "), "{clash}");
    assert!(
        !clash.to_string().contains("invalid key: invalid key"),
        "{clash}"
    );
    assert!(client.seal_status().await.expect("status").sealed);

    let garbage = client.unseal("not-a-key").await.expect_err("garbage share");
    assert_eq!(garbage.status(), Some(400));
    assert!(garbage.to_string().contains("invalid key"), "{garbage}");
    let short = client.unseal("AAAA").await.expect_err("short share");
    assert_eq!(short.status(), Some(400));

    client
        .unseal(&init_a.keys_base64[0])
        .await
        .expect("retry 1");
    let status = client
        .unseal(&init_a.keys_base64[2])
        .await
        .expect("retry 2");
    assert!(!status.sealed);
}

#[tokio::test]
async fn issue_2_tampered_storage_is_a_clear_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The records are changed behind the server's back, which its read cache (rightly) does not
    // see: the cache is off so the server reads the tampered bytes.
    let config = format!("{}disable_cache = true\n", sqlite_config(dir.path()));
    let server = TestServer::with_config(dir.path(), &config);
    let init = init_unsealed(&server).await;
    let root = server.client().with_token(init.root_token.clone());
    let mut victims = Vec::new();
    for _ in 0..2 {
        let created = root
            .token_create(&create_request("1h"), false)
            .await
            .expect("token create");
        victims.push(
            server
                .client()
                .with_token(created.auth.expect("auth").client_token),
        );
    }

    // Behind the server's back: truncate the first token record, flip one byte of the others.
    let db = rusqlite::Connection::open(dir.path().join("coffer.db")).expect("open db");
    let keys: Vec<String> = {
        let mut stmt = db
            .prepare("SELECT key FROM coffer_kv WHERE key LIKE 'sys/token/id/%' ORDER BY key")
            .expect("prepare");
        stmt.query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(
        keys.len(),
        3,
        "root and two child tokens are stored: {keys:?}"
    );
    for (i, key) in keys.iter().enumerate() {
        let value: Vec<u8> = db
            .query_row("SELECT value FROM coffer_kv WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .expect("value");
        let tampered = if i == 0 {
            value[..5].to_vec()
        } else {
            let mut flipped = value.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 0x01;
            flipped
        };
        db.execute(
            "UPDATE coffer_kv SET value = ?1 WHERE key = ?2",
            rusqlite::params![tampered, key],
        )
        .expect("update");
    }
    drop(db);

    for victim in &victims {
        let error = victim
            .token_lookup_self()
            .await
            .expect_err("tampered record");
        assert_eq!(error.status(), Some(500), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("sys/token/id/"),
            "the error names the path: {message}"
        );
        assert!(message.contains("corrupt"), "{message}");
    }
    // The server is still alive and answers.
    let (code, _) = server
        .client()
        .health()
        .await
        .expect("health after tampering");
    assert_eq!(code, 200);
    assert!(
        server.logs().contains("corrupt"),
        "the server log says what happened"
    );
}

/// Initializes with one share and unseals.
pub(crate) async fn init_unsealed(server: &TestServer) -> coffer_api::InitResponse {
    let client = server.client();
    let init = client.init(1, 1).await.expect("init");
    let status = client.unseal(&init.keys_base64[0]).await.expect("unseal");
    assert!(!status.sealed);
    init
}
