//! The stock OpenBao CLI (`bao`) drives a non-dev Coffer server on SQLite through the seal
//! lifecycle and token commands, and the same command sequence runs against a real OpenBao
//! server: each step must give the same exit code and the same observable facts.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{BaoServer, TestServer, bao, stderr, stdout_json};

/// One step of the flow: the command, its exit code and the facts that must match.
#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    exit: Option<i32>,
    facts: Value,
}

fn pick(value: &Value, paths: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for path in paths {
        let mut cursor = value;
        for part in path.split('.') {
            cursor = cursor.get(part).unwrap_or(&Value::Null);
        }
        out.insert((*path).to_owned(), cursor.clone());
    }
    Value::Object(out)
}

fn run_flow(addr: &str, home: &Path) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut record = |command: &str, output: &std::process::Output, facts: Value| {
        steps.push(Step {
            command: command.to_owned(),
            exit: output.status.code(),
            facts,
        });
    };
    let status_facts = ["initialized", "sealed", "t", "n", "progress", "type"];

    let out = bao(home, addr, None, &["status", "-format=json"]);
    record(
        "status (uninitialized)",
        &out,
        pick(&stdout_json(&out), &status_facts),
    );

    let out = bao(
        home,
        addr,
        None,
        &[
            "operator",
            "init",
            "-key-shares=5",
            "-key-threshold=3",
            "-format=json",
        ],
    );
    let init = stdout_json(&out);
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let root = init["root_token"].as_str().unwrap_or_default().to_owned();
    record(
        "operator init",
        &out,
        json!({
            "keys": keys.len(),
            "hex_keys": init["unseal_keys_hex"].as_array().map(Vec::len),
            "threshold": init["unseal_threshold"],
            "shares": init["unseal_shares"],
            "has_root_token": !root.is_empty(),
        }),
    );
    assert_eq!(keys.len(), 5, "init output: {init}");

    let out = bao(home, addr, None, &["status", "-format=json"]);
    record(
        "status (sealed)",
        &out,
        pick(&stdout_json(&out), &status_facts),
    );

    for (i, key) in [&keys[0], &keys[0], &keys[1], &keys[2]]
        .into_iter()
        .enumerate()
    {
        let out = bao(
            home,
            addr,
            None,
            &["operator", "unseal", "-format=json", key],
        );
        record(
            &format!("operator unseal #{i}"),
            &out,
            pick(&stdout_json(&out), &["sealed", "progress", "t", "n"]),
        );
    }

    let out = bao(home, addr, None, &["status", "-format=json"]);
    record(
        "status (unsealed)",
        &out,
        pick(
            &stdout_json(&out),
            &["initialized", "sealed", "t", "n", "ha_enabled"],
        ),
    );

    let root = Some(root.as_str());
    let out = bao(
        home,
        addr,
        root,
        &["token", "create", "-ttl=1h", "-format=json"],
    );
    let created = stdout_json(&out);
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    record(
        "token create -ttl=1h",
        &out,
        pick(
            &created,
            &[
                "auth.lease_duration",
                "auth.renewable",
                "auth.policies",
                "auth.token_policies",
                "auth.orphan",
                "auth.token_type",
                "auth.num_uses",
            ],
        ),
    );

    let lookup_facts = [
        "data.policies",
        "data.display_name",
        "data.path",
        "data.orphan",
        "data.renewable",
        "data.num_uses",
        "data.creation_ttl",
        "data.explicit_max_ttl",
        "data.meta",
        "data.type",
        "data.entity_id",
        "data.expire_time",
    ];
    let out = bao(home, addr, root, &["token", "lookup", "-format=json"]);
    let self_lookup = stdout_json(&out);
    let mut facts = pick(&self_lookup, &lookup_facts);
    facts["id_is_own_token"] = json!(self_lookup["data"]["id"].as_str() == root);
    facts["ttl"] = self_lookup["data"]["ttl"].clone();
    record("token lookup (self, root)", &out, facts);

    let out = bao(
        home,
        addr,
        root,
        &["token", "lookup", "-format=json", &token],
    );
    let lookup = stdout_json(&out);
    let mut facts = pick(&lookup, &lookup_facts[..11]);
    let ttl = lookup["data"]["ttl"].as_u64().unwrap_or(0);
    facts["ttl_about_an_hour"] = json!((3500..=3600).contains(&ttl));
    facts["expire_time_set"] = json!(lookup["data"]["expire_time"].is_string());
    facts["accessor_matches"] = json!(lookup["data"]["accessor"] == created["auth"]["accessor"]);
    record("token lookup NEW", &out, facts);

    let out = bao(home, addr, root, &["token", "revoke", &token]);
    record("token revoke NEW", &out, json!({}));

    let out = bao(home, addr, root, &["token", "lookup", &token]);
    record(
        "token lookup NEW (revoked)",
        &out,
        json!({ "code_403": stderr(&out).contains("Code: 403") }),
    );

    let out = bao(home, addr, root, &["operator", "seal"]);
    record("operator seal", &out, json!({}));

    let out = bao(home, addr, None, &["status", "-format=json"]);
    record(
        "status (sealed again)",
        &out,
        pick(&stdout_json(&out), &["sealed", "progress"]),
    );

    let out = bao(home, addr, root, &["token", "lookup"]);
    record(
        "token lookup (sealed)",
        &out,
        json!({ "code_503": stderr(&out).contains("Code: 503") }),
    );
    steps
}

#[test]
fn issue_2_bao_cli_drives_coffer_like_openbao() {
    let dir = tempfile::tempdir().expect("tempdir");
    let coffer_dir = dir.path().join("coffer");
    let bao_dir = dir.path().join("bao");
    std::fs::create_dir_all(&coffer_dir).expect("mkdir");
    std::fs::create_dir_all(&bao_dir).expect("mkdir");

    let peer = BaoServer::start(&bao_dir);
    let expected = run_flow(&peer.addr, &bao_dir);
    drop(peer);

    let server = TestServer::sqlite(&coffer_dir);
    let got = run_flow(&server.addr, &coffer_dir);

    assert_eq!(got.len(), expected.len());
    for (got, want) in got.iter().zip(&expected) {
        assert_eq!(got, want, "step {:?} differs from OpenBao", want.command);
    }
}
