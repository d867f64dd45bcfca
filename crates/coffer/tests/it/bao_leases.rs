//! The stock `bao` CLI works on credential leases through Vault's lease API: `bao write` issues
//! one on `credentials/<name>/lease`, `bao lease lookup|renew|revoke` act on its id, and
//! `bao lease revoke -prefix` ends every lease of a credential; tenants are picked with
//! `-namespace` as on OpenBao.

use serde_json::Value;

use crate::support::{TestServer, bao, stderr, stdout, stdout_json};

fn ok(home: &std::path::Path, addr: &str, args: &[&str]) -> String {
    let output = bao(home, addr, Some("root"), args);
    assert!(
        output.status.success(),
        "bao {args:?}: {} {}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn json(home: &std::path::Path, addr: &str, args: &[&str]) -> Value {
    let output = bao(home, addr, Some("root"), args);
    assert!(output.status.success(), "bao {args:?}: {}", stderr(&output));
    stdout_json(&output)
}

#[test]
fn issue_5_bao_lease_commands_act_on_credential_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let server = TestServer::spawn_args(
        dir.path(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    );
    let addr = server.addr.as_str();
    ok(
        home,
        addr,
        &[
            "write",
            "credentials/openai",
            "type=api-key",
            "value=sk-proj-bao-0001",
        ],
    );
    let leased = json(
        home,
        addr,
        &[
            "write",
            "-format=json",
            "credentials/openai/lease",
            "ttl=30m",
            "purpose=bao test",
        ],
    );
    let id = leased["lease_id"].as_str().expect("lease id").to_owned();
    assert!(id.starts_with("credentials/openai/lease/"), "{leased}");
    assert_eq!(leased["lease_duration"], 1800);
    assert_eq!(leased["data"]["value"], "sk-proj-bao-0001");

    let looked = json(home, addr, &["lease", "lookup", "-format=json", &id]);
    assert_eq!(looked["data"]["id"], id.as_str());
    assert_eq!(looked["data"]["renewable"], true);
    let renewed = json(
        home,
        addr,
        &["lease", "renew", "-format=json", "-increment=1h", &id],
    );
    assert_eq!(renewed["lease_id"], id.as_str());
    assert_eq!(renewed["lease_duration"], 3600);
    ok(home, addr, &["lease", "revoke", &id]);
    let output = bao(home, addr, Some("root"), &["lease", "lookup", &id]);
    assert!(!output.status.success(), "a revoked lease is gone");
    assert!(
        stderr(&output).contains("invalid lease"),
        "{}",
        stderr(&output)
    );

    // -prefix ends every lease of the credential.
    for _ in 0..3 {
        ok(
            home,
            addr,
            &["write", "credentials/openai/lease", "ttl=10m"],
        );
    }
    ok(
        home,
        addr,
        &["lease", "revoke", "-prefix", "credentials/openai/"],
    );
    let output = bao(
        home,
        addr,
        Some("root"),
        &["list", "credentials/openai/lease"],
    );
    assert!(
        !output.status.success(),
        "no lease is left: {}",
        stdout(&output)
    );

    // A tenant: `bao namespace create` and `-namespace` reach that tenant's own credentials.
    ok(home, addr, &["namespace", "create", "acme"]);
    ok(
        home,
        addr,
        &[
            "write",
            "-namespace=acme",
            "credentials/openai",
            "type=api-key",
            "value=sk-proj-acme-0002",
        ],
    );
    let leased = json(
        home,
        addr,
        &[
            "write",
            "-format=json",
            "-force",
            "-namespace=acme",
            "credentials/openai/lease",
        ],
    );
    assert_eq!(leased["data"]["value"], "sk-proj-acme-0002");
    let root_view = json(home, addr, &["read", "-format=json", "credentials/openai"]);
    assert_eq!(root_view["data"]["version"], 1);
    assert_ne!(
        root_view["data"]["id"],
        json(
            home,
            addr,
            &[
                "read",
                "-format=json",
                "-namespace=acme",
                "credentials/openai"
            ]
        )["data"]["id"],
        "two different credentials share the name"
    );
}
