//! `Acl::check` and `Acl::check_with_parameters`: allowed, sudo, granting policies, and
//! Vault's parameter constraints.

use coffer_policy::{Capability, Decision, Operation, PolicyName};
use serde_json::{Map, Value, json};

use crate::acl;

fn names(names: &[&str]) -> Vec<PolicyName> {
    names
        .iter()
        .map(|name| PolicyName::new(name).unwrap_or_else(|error| panic!("{error}")))
        .collect()
}

#[test]
fn allowed_sudo_and_granting_policies() {
    let p1 = r#"
        path "secret/data/*" { capabilities = ["read", "update"] }
        path "sys/audit" { capabilities = ["read", "sudo"] }
        path "sys/mounts/*" { capabilities = ["deny"] }
    "#;
    let p2 = r#"
        path "secret/data/*" { capabilities = ["read", "delete"] }
        path "sys/audit" { capabilities = ["list"] }
    "#;
    let acl = acl(&[p1, p2]);
    // (path, operation, allowed, sudo, granting policies)
    let cases: &[(&str, Operation, bool, bool, &[&str])] = &[
        ("secret/data/x", Operation::Read, true, false, &["p1", "p2"]),
        ("secret/data/x", Operation::Update, true, false, &["p1"]),
        ("secret/data/x", Operation::Delete, true, false, &["p2"]),
        ("secret/data/x", Operation::Create, false, false, &[]),
        ("sys/audit", Operation::Read, true, true, &["p1"]),
        ("sys/audit", Operation::List, true, true, &["p2"]),
        ("sys/audit", Operation::Update, false, true, &[]),
        ("sys/mounts/kv", Operation::Read, false, false, &[]),
        ("nowhere", Operation::Read, false, false, &[]),
    ];
    for (path, op, allowed, sudo, granting) in cases {
        let decision = acl.check(path, *op);
        assert_eq!(
            (decision.allowed, decision.sudo, decision.granting_policies),
            (*allowed, *sudo, names(granting)),
            "{op} {path}"
        );
    }
    let denied = acl.check("sys/mounts/kv", Operation::Read);
    assert!(denied.capabilities.contains(Capability::Deny));
    assert!(
        acl.check("nowhere", Operation::Read)
            .capabilities
            .is_empty()
    );
}

#[test]
fn list_on_a_folder_uses_the_exact_rule_without_the_slash() {
    let acl = acl(&[r#"path "secret/metadata/app" { capabilities = ["list"] }"#]);
    assert!(acl.check("secret/metadata/app/", Operation::List).allowed);
    assert!(acl.check("secret/metadata/app", Operation::List).allowed);
    assert!(!acl.check("secret/metadata/app/", Operation::Read).allowed);
    assert_eq!(acl.capabilities("secret/metadata/app/").names(), ["deny"]);
}

#[test]
fn wrapping_ttls_merge_to_the_smaller_value() {
    let p1 = "path \"sys/wrapping/wrap\" {\n capabilities = [\"update\"]\n min_wrapping_ttl = \"10s\"\n max_wrapping_ttl = \"1h\"\n}";
    let p2 = "path \"sys/wrapping/wrap\" {\n capabilities = [\"update\"]\n min_wrapping_ttl = \"5s\"\n max_wrapping_ttl = \"2h\"\n}";
    let decision = acl(&[p1, p2]).check("sys/wrapping/wrap", Operation::Update);
    assert_eq!(
        decision.min_wrapping_ttl,
        Some(std::time::Duration::from_secs(5))
    );
    assert_eq!(
        decision.max_wrapping_ttl,
        Some(std::time::Duration::from_secs(3600))
    );
}

const PARAMETERS: &str = r#"
path "allowed" {
  capabilities = ["create", "update", "read", "delete"]
  allowed_parameters = {
    "name" = ["zip", "zap-*", "*-end"]
    "any" = []
  }
}
path "allowed-star" {
  capabilities = ["update"]
  allowed_parameters = {
    "name" = ["zip"]
    "*" = []
  }
}
path "only-star" {
  capabilities = ["update"]
  allowed_parameters = {
    "*" = []
  }
}
path "denied" {
  capabilities = ["update"]
  denied_parameters = {
    "secret" = []
    "mode" = ["unsafe-*"]
  }
}
path "denied-star" {
  capabilities = ["update"]
  denied_parameters = {
    "*" = []
  }
}
path "required" {
  capabilities = ["update"]
  required_parameters = ["Reason"]
}
path "numbers" {
  capabilities = ["update"]
  allowed_parameters = {
    "count" = [1, 2]
    "flag" = [true]
  }
}
"#;

fn check_params(path: &str, op: Operation, params: Value, expected: bool) {
    let params: Map<String, Value> = match params {
        Value::Object(map) => map,
        other => panic!("test parameters must be an object, got {other}"),
    };
    let Decision { allowed, .. } = acl(&[PARAMETERS]).check_with_parameters(path, op, &params);
    assert_eq!(allowed, expected, "{op} {path} with {params:?}");
}

#[test]
fn parameter_constraints() {
    use Operation::{Delete, Read, Update};
    let cases = [
        // allowed_parameters: listed names only, values matched as globs.
        ("allowed", Update, json!({}), true),
        ("allowed", Update, json!({"name": "zip"}), true),
        ("allowed", Update, json!({"name": "zap-1"}), true),
        ("allowed", Update, json!({"name": "the-end"}), true),
        ("allowed", Update, json!({"name": "zoo"}), false),
        ("allowed", Update, json!({"NAME": "zip"}), true),
        ("allowed", Update, json!({"any": 42}), true),
        (
            "allowed",
            Update,
            json!({"name": "zip", "other": "x"}),
            false,
        ),
        ("allowed", Update, json!({"name": ["zip", "zap-2"]}), true),
        ("allowed", Update, json!({"name": ["zip", "nope"]}), false),
        ("allowed", Read, json!({"other": "x"}), false),
        // Delete and list carry no parameters to check.
        ("allowed", Delete, json!({"other": "x"}), true),
        // "*" admits any other parameter, but listed ones keep their values.
        ("allowed-star", Update, json!({"other": "x"}), true),
        ("allowed-star", Update, json!({"name": "zip"}), true),
        ("allowed-star", Update, json!({"name": "zap"}), false),
        ("only-star", Update, json!({"anything": "at all"}), true),
        // denied_parameters.
        ("denied", Update, json!({"other": "x"}), true),
        ("denied", Update, json!({"secret": "x"}), false),
        ("denied", Update, json!({"mode": "unsafe-fast"}), false),
        ("denied", Update, json!({"mode": "safe"}), true),
        (
            "denied",
            Update,
            json!({"mode": ["safe", "unsafe-x"]}),
            false,
        ),
        ("denied-star", Update, json!({}), true),
        ("denied-star", Update, json!({"x": 1}), false),
        // required_parameters, compared lowercased.
        ("required", Update, json!({"reason": "audit"}), true),
        ("required", Update, json!({"REASON": "audit"}), true),
        ("required", Update, json!({}), false),
        ("required", Update, json!({"other": 1}), false),
        // Non-string values compare by equality.
        ("numbers", Update, json!({"count": 2}), true),
        ("numbers", Update, json!({"count": 3}), false),
        ("numbers", Update, json!({"count": "2"}), false),
        ("numbers", Update, json!({"flag": true}), true),
        ("numbers", Update, json!({"flag": false}), false),
        // The capability check still comes first.
        ("denied", Read, json!({}), false),
    ];
    for (path, op, params, expected) in cases {
        check_params(path, op, params, expected);
    }
}

#[test]
fn plain_check_ignores_parameters() {
    assert!(
        acl(&[PARAMETERS])
            .check("required", Operation::Update)
            .allowed
    );
}

#[test]
fn parameter_constraints_merge_across_policies() {
    let p1 =
        "path \"x\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"a\" = [\"1\"] }\n}";
    let p2 = "path \"x\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"a\" = [\"2\"], \"b\" = [] }\n}";
    let p3 = "path \"x\" {\n capabilities = [\"deny\"]\n}";
    let check = |policies: &[&str], params: Value, expected: bool| {
        let Value::Object(params) = params else {
            panic!("parameters must be an object");
        };
        let decision = acl(policies).check_with_parameters("x", Operation::Update, &params);
        assert_eq!(decision.allowed, expected, "{policies:?} with {params:?}");
    };
    check(&[p1], json!({"a": "2"}), false);
    check(&[p1, p2], json!({"a": "2"}), true);
    check(&[p1, p2], json!({"a": "1", "b": "anything"}), true);
    check(&[p1, p2], json!({"c": "1"}), false);
    check(&[p1, p2, p3], json!({"a": "1"}), false);
}
