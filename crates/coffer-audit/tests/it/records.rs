//! The record format (Vault's file audit JSON plus Coffer's fields) and the HMAC rules as they
//! appear in written lines.

use serde_json::{Value, json};

use crate::{
    AuditEvent, AuditResponse, PATIENCE, alice, at, memory_device, object, request_event,
    response_event,
};

/// Logs `event` on a fresh memory device with `options` and compares the line with `expected`,
/// in which every string `"H(x)"` stands for the device's HMAC of `x`. Also checks that none of
/// `secrets` appears anywhere in the line.
async fn check(options: &[(&str, &str)], event: AuditEvent, expected: Value, secrets: &[&str]) {
    let (device, sink) = memory_device(options);
    device
        .log(&event, PATIENCE)
        .await
        .expect("memory never fails");
    let lines = sink.lines();
    assert_eq!(lines.len(), 1);
    let line = String::from_utf8(lines[0].clone()).expect("records are UTF-8");
    for secret in secrets {
        assert!(!line.contains(secret), "{secret:?} leaked into {line}");
    }
    let mut expected = expected;
    substitute(&device, &mut expected);
    let got: Value = serde_json::from_str(&line).expect("a record is JSON");
    assert_eq!(got, expected, "\n got: {got:#}\nwant: {expected:#}");
}

fn substitute(device: &coffer_audit::Device, value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(inner) = s.strip_prefix("H(").and_then(|r| r.strip_suffix(')')) {
                *s = device.hash(inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(device, v)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(device, v)),
        _ => {}
    }
}

fn alice_auth_record() -> Value {
    json!({
        "client_token": "H(s.alice-token)",
        "accessor": "H(alice-accessor)",
        "display_name": "userpass-alice",
        "policies": ["default", "dev"],
        "token_policies": ["default", "dev"],
        "policy_results": {"allowed": true, "granting_policies": [
            {"name": "dev", "namespace_id": "root", "type": "acl"}
        ]},
        "metadata": {"username": "alice"},
        "entity_id": "entity-1",
        "identity": {"type": "user", "name": "alice"},
        "token_type": "service",
        "token_ttl": 3600
    })
}

#[tokio::test]
async fn kv_write_request_line() {
    let mut event = request_event("req-1", "create", "secret/data/app/db");
    event.request.mount_point = Some("secret/".to_owned());
    event.request.mount_type = Some("kv".to_owned());
    event.request.mount_accessor = Some("kv_e6f12778".to_owned());
    event.request.data = Some(object(json!({
        "data": {"password": "s3cr3t", "username": "app"},
        "options": {"cas": 0, "flag": true, "none": null},
        "tags": ["prod", 7, ["nested-secret", false]]
    })));
    check(
        &[],
        event,
        json!({
            "time": "2026-11-22T13:11:27.000000000Z",
            "type": "request",
            "auth": alice_auth_record(),
            "request": {
                "id": "req-1",
                "operation": "create",
                "mount_point": "secret/",
                "mount_type": "kv",
                "mount_accessor": "kv_e6f12778",
                "client_token": "H(s.alice-token)",
                "client_token_accessor": "H(alice-accessor)",
                "namespace": {"id": "root"},
                "path": "secret/data/app/db",
                "data": {
                    "data": {"password": "H(s3cr3t)", "username": "H(app)"},
                    "options": {"cas": 0, "flag": true, "none": null},
                    "tags": ["H(prod)", 7, ["H(nested-secret)", false]]
                },
                "remote_address": "127.0.0.1",
                "remote_port": 43040
            },
            "seq": 1,
            "prev_hash": coffer_audit::GENESIS
        }),
        &["s3cr3t", "s.alice-token", "alice-accessor", "nested-secret"],
    )
    .await;
}

#[tokio::test]
async fn login_response_line_hashes_the_issued_token() {
    let mut event = response_event("req-2", "update", "auth/userpass/login/alice", 200);
    event.auth = None;
    event.request.data = Some(object(json!({"password": "hunter2"})));
    event.request.wrap_ttl = Some(60);
    let mut issued = alice();
    issued.client_token = Some("s.new-token".to_owned());
    issued.accessor = Some("new-accessor".to_owned());
    issued.policy_results = None;
    event.response = Some(AuditResponse {
        status: 200,
        data: None,
        auth: Some(issued),
        lease: None,
        wrap_token: Some("s.wrapping-token".to_owned()),
        notification: None,
    });
    let mut auth = alice_auth_record();
    auth["client_token"] = json!("H(s.new-token)");
    auth["accessor"] = json!("H(new-accessor)");
    auth.as_object_mut()
        .expect("object")
        .remove("policy_results");
    check(
        &[],
        event,
        json!({
            "time": "2026-11-22T13:11:27.000000000Z",
            "type": "response",
            "request": {
                "id": "req-2",
                "operation": "update",
                "namespace": {"id": "root"},
                "path": "auth/userpass/login/alice",
                "data": {"password": "H(hunter2)"},
                "remote_address": "127.0.0.1",
                "remote_port": 43040,
                "wrap_ttl": 60
            },
            "response": {
                "status": 200,
                "auth": auth,
                "wrap_info": {"token": "H(s.wrapping-token)"}
            },
            "seq": 1,
            "prev_hash": coffer_audit::GENESIS
        }),
        &["hunter2", "s.new-token", "new-accessor", "s.wrapping-token"],
    )
    .await;
}

#[tokio::test]
async fn leased_response_keeps_lease_id_clear_and_hashes_data() {
    let mut event = response_event("req-3", "update", "credentials/stripe/lease", 200);
    event.request.mount_point = Some("credentials/".to_owned());
    event.request.mount_type = Some("credentials".to_owned());
    event.time = at(1) + std::time::Duration::from_nanos(706_226_844);
    event.response = Some(AuditResponse {
        status: 200,
        data: Some(object(json!({"value": "sk_live_123", "ttl": 3600}))),
        auth: None,
        lease: Some(coffer_audit::AuditLease {
            id: "credentials/stripe/lease/abc".to_owned(),
            identity_type: "agent".to_owned(),
            identity_name: "billing-bot".to_owned(),
            purpose: Some("nightly invoices".to_owned()),
        }),
        wrap_token: None,
        notification: None,
    });
    event.auth = None;
    check(
        &[],
        event,
        json!({
            "time": "2026-11-22T13:11:28.706226844Z",
            "type": "response",
            "request": {
                "id": "req-3",
                "operation": "update",
                "mount_point": "credentials/",
                "mount_type": "credentials",
                "namespace": {"id": "root"},
                "path": "credentials/stripe/lease",
                "remote_address": "127.0.0.1",
                "remote_port": 43040
            },
            "response": {
                "mount_point": "credentials/",
                "mount_type": "credentials",
                "status": 200,
                "secret": {
                    "lease_id": "credentials/stripe/lease/abc",
                    "identity": {"type": "agent", "name": "billing-bot"},
                    "purpose": "nightly invoices"
                },
                "data": {"value": "H(sk_live_123)", "ttl": 3600}
            },
            "seq": 1,
            "prev_hash": coffer_audit::GENESIS
        }),
        &["sk_live_123"],
    )
    .await;
}

#[tokio::test]
async fn notification_line_is_clear_and_classified() {
    let mut event = response_event("evt-1", "notify", "credentials/stripe", 200);
    event.auth = None;
    event.request.mount_point = Some("credentials/".to_owned());
    event.request.mount_type = Some("credentials".to_owned());
    event.request.remote_address = None;
    event.request.remote_port = None;
    event.response = Some(AuditResponse {
        status: 200,
        data: None,
        auth: None,
        lease: None,
        wrap_token: None,
        notification: Some(coffer_audit::AuditNotification {
            event: "rotation-due".to_owned(),
            name: "stripe".to_owned(),
            item_type: "api-key".to_owned(),
            version: 3,
            at: at(86_400),
            source: "policy.rotation".to_owned(),
        }),
    });
    let (device, sink) = memory_device(&[]);
    device
        .log(&event, PATIENCE)
        .await
        .expect("memory never fails");
    let record = &sink.records()[0];
    assert_eq!(
        record["response"]["notification"],
        json!({
            "event": "rotation-due",
            "name": "stripe",
            "type": "api-key",
            "version": 3,
            "at": "2026-11-23T13:11:27.000000000Z",
            "source": "policy.rotation"
        })
    );
    let summary = coffer_audit::AuditSummary::of(record);
    assert_eq!(summary.action, Some(coffer_audit::Action::Notify));
    assert_eq!(summary.resource, Some(coffer_audit::Resource::Credentials));
    assert_eq!(summary.path, "credentials/stripe");
}

#[tokio::test]
async fn denied_request_logs_the_error_in_clear() {
    let mut event = response_event("req-4", "read", "secret/data/prod/db", 403);
    let mut auth = alice();
    auth.policy_results = Some(coffer_audit::PolicyResults {
        allowed: false,
        granting_policies: Vec::new(),
    });
    event.auth = Some(auth);
    event.error = Some("permission denied".to_owned());
    let mut auth_record = alice_auth_record();
    auth_record["policy_results"] = json!({"allowed": false});
    check(
        &[],
        event,
        json!({
            "time": "2026-11-22T13:11:27.000000000Z",
            "type": "response",
            "auth": auth_record,
            "request": {
                "id": "req-4",
                "operation": "read",
                "client_token": "H(s.alice-token)",
                "client_token_accessor": "H(alice-accessor)",
                "namespace": {"id": "root"},
                "path": "secret/data/prod/db",
                "remote_address": "127.0.0.1",
                "remote_port": 43040
            },
            "response": {"status": 403},
            "error": "permission denied",
            "seq": 1,
            "prev_hash": coffer_audit::GENESIS
        }),
        &["s.alice-token"],
    )
    .await;
}

#[tokio::test]
async fn hmac_accessor_false_leaves_accessors_clear_but_not_tokens() {
    let event = request_event("req-5", "read", "secret/data/a");
    let (device, sink) = memory_device(&[("hmac_accessor", "false")]);
    device
        .log(&event, PATIENCE)
        .await
        .expect("memory never fails");
    let record = &sink.records()[0];
    assert_eq!(record["auth"]["accessor"], "alice-accessor");
    assert_eq!(record["request"]["client_token_accessor"], "alice-accessor");
    assert_eq!(record["auth"]["client_token"], device.hash("s.alice-token"));
    assert_eq!(
        record["request"]["client_token"],
        device.hash("s.alice-token")
    );
}

#[tokio::test]
async fn elide_list_responses_counts_keys() {
    let list = |device_options: &'static [(&'static str, &'static str)]| async move {
        let mut event = response_event("req-6", "list", "secret/metadata/", 200);
        event.response = Some(AuditResponse {
            status: 200,
            data: Some(object(
                json!({"keys": ["a", "b", "c/"], "key_info": {"a": {}}}),
            )),
            auth: None,
            lease: None,
            wrap_token: None,
            notification: None,
        });
        let (device, sink) = memory_device(device_options);
        device
            .log(&event, PATIENCE)
            .await
            .expect("memory never fails");
        (device, sink.records()[0]["response"]["data"].clone())
    };
    let (_, elided) = list(&[("elide_list_responses", "true")]).await;
    assert_eq!(elided, json!({"keys": 3, "key_info": 1}));
    let (device, kept) = list(&[]).await;
    assert_eq!(
        kept["keys"],
        json!([device.hash("a"), device.hash("b"), device.hash("c/")])
    );
}

#[tokio::test]
async fn unauthenticated_request_has_no_auth_and_no_token() {
    let mut event = request_event("req-7", "update", "auth/userpass/login/bob");
    event.auth = None;
    let (device, sink) = memory_device(&[]);
    device
        .log(&event, PATIENCE)
        .await
        .expect("memory never fails");
    let record = &sink.records()[0];
    assert!(record.get("auth").is_none());
    assert!(record["request"].get("client_token").is_none());
    assert_eq!(record["type"], "request");
}

/// What `sys/audit-hash/<device>` returns is what the record holds for the same value.
#[tokio::test]
async fn audit_hash_matches_the_record() {
    let mut event = request_event("req-8", "create", "secret/data/app/db");
    event.request.data = Some(object(json!({"data": {"password": "s3cr3t"}})));
    let (device, sink) = memory_device(&[]);
    device
        .log(&event, PATIENCE)
        .await
        .expect("memory never fails");
    let logged = sink.records()[0]["request"]["data"]["data"]["password"].clone();
    assert_eq!(logged, device.hash("s3cr3t"));
    assert!(device.hash("s3cr3t").starts_with("hmac-sha256:"));

    let broker = coffer_audit::Broker::new();
    let expected = device.hash("s3cr3t");
    broker.add(device).expect("first device");
    assert_eq!(broker.hash("mem/", "s3cr3t"), Some(expected.clone()));
    assert_eq!(broker.hash("mem", "s3cr3t"), Some(expected));
    assert_eq!(broker.hash("other/", "s3cr3t"), None);
}

#[tokio::test]
async fn records_chain_one_after_another() {
    let (device, sink) = memory_device(&[]);
    for i in 0..3 {
        device
            .log(
                &request_event(&format!("r{i}"), "read", "secret/data/a"),
                PATIENCE,
            )
            .await
            .expect("memory never fails");
    }
    let lines = sink.lines();
    let records = sink.records();
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["seq"], json!(i + 1));
    }
    let sha = |line: &[u8]| {
        let state = coffer_audit::ChainState::from_last_line(line).expect("a chained line");
        state.head()
    };
    assert_eq!(records[1]["prev_hash"], sha(&lines[0]));
    assert_eq!(records[2]["prev_hash"], sha(&lines[1]));
    let chain = device.chain().await;
    assert_eq!(chain.seq(), 3);
    assert_eq!(chain.head(), sha(&lines[2]));
    assert_eq!(
        chain,
        coffer_audit::ChainState::from_last_line(&lines[2]).expect("a chained line")
    );
}
