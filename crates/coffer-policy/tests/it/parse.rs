//! Parsing policy text: error messages in Vault's words, JSON policies, the legacy `policy`
//! shorthand and the optional rule settings.

use std::time::Duration;

use coffer_policy::{Error, Policy};
use serde_json::json;

use crate::check;

/// Asserts that `text` fails to parse with exactly `expected` as its message.
fn check_error(text: &str, expected: &str) {
    match Policy::parse("p", text) {
        Ok(policy) => panic!("parsed {text:?} into {policy:?}"),
        Err(error) => assert_eq!(error.to_string(), expected, "text {text:?}"),
    }
}

#[test]
fn errors() {
    let cases = [
        (
            r#"path "x" { capabilities = ["bogus"] }"#,
            r#"failed to parse policy: path "x": invalid capability "bogus""#,
        ),
        (
            r#"path "x" { capabilities = ["Read"] }"#,
            r#"failed to parse policy: path "x": invalid capability "Read""#,
        ),
        (
            r#"path "a/*/b" { capabilities = ["read"] }"#,
            r#"failed to parse policy: path "a/*/b": "*" is only allowed as the last character of a path"#,
        ),
        (
            r#"path "" { capabilities = ["read"] }"#,
            r#"failed to parse policy: path "": path must not be empty"#,
        ),
        (
            r#"path "x" { }"#,
            r#"failed to parse policy: path "x": missing "capabilities""#,
        ),
        (
            r#"path "x" { capabilities = "read" }"#,
            r#"failed to parse policy: path "x": "capabilities" must be a list of strings"#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n bogus = 1\n}",
            r#"failed to parse policy: path "x": invalid key "bogus""#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n control_group = {}\n}",
            r#"failed to parse policy: path "x": "control_group" is not supported"#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n policy = \"admin\"\n}",
            r#"failed to parse policy: path "x": invalid policy "admin""#,
        ),
        (
            r#"path "x" { capabilities = [var.read] }"#,
            r#"failed to parse policy: path "x": "capabilities" must be a literal value (no interpolation or expressions)"#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"soon\"\n}",
            r#"failed to parse policy: path "x": invalid min_wrapping_ttl: "soon""#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"1h\"\n max_wrapping_ttl = \"1m\"\n}",
            r#"failed to parse policy: path "x": max_wrapping_ttl cannot be less than min_wrapping_ttl"#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n allowed_parameters = { \"a\" = \"b\" }\n}",
            r#"failed to parse policy: path "x": "allowed_parameters" must be a map of parameter name to list of values"#,
        ),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n allowed_parameters {\n a = []\n }\n}",
            r#"failed to parse policy: path "x": "allowed_parameters" must be an attribute (`key = value`), not a block"#,
        ),
        (
            r#"paths "x" { capabilities = ["read"] }"#,
            r#"failed to parse policy: invalid key "paths""#,
        ),
        (
            r#"capabilities = ["read"]"#,
            r#"failed to parse policy: invalid key "capabilities""#,
        ),
        (
            r#"path { capabilities = ["read"] }"#,
            r#"failed to parse policy: a "path" block takes exactly one label, the path pattern"#,
        ),
        (
            r#"{"path": {"x": {"capabilities": ["bogus"]}}}"#,
            r#"failed to parse policy: path "x": invalid capability "bogus""#,
        ),
        (
            r#"{"path": {"x": {"capabilities": ["read"], "nope": true}}}"#,
            r#"failed to parse policy: path "x": invalid key "nope""#,
        ),
        (
            r#"{"paths": {}}"#,
            r#"failed to parse policy: invalid key "paths""#,
        ),
        (
            r#"{"path": ["x"]}"#,
            r#"failed to parse policy: "path" must be an object mapping path patterns to rules"#,
        ),
    ];
    for (text, expected) in cases {
        check_error(text, expected);
    }
}

#[test]
fn syntax_errors_carry_the_parser_message() {
    let cases = [
        (
            r#"path "secret/*" { capabilities = ["read"]"#,
            "failed to parse policy: At 1:42: invalid block body; expected `}`, newline or identifier",
        ),
        (
            "path \"x\" {\n  capabilities = [\"read\"\n}",
            "failed to parse policy: At 3:1: expected `]`",
        ),
        (
            // Meant as JSON: neither JSON nor HCL, and the JSON error is the helpful one.
            r#"{"path": {"x": {"capabilities": ["read"]}"#,
            "failed to parse policy: EOF while parsing an object at line 1 column 41",
        ),
    ];
    for (text, expected) in cases {
        let error = Policy::parse("p", text).err();
        assert!(
            matches!(error, Some(Error::Syntax { .. } | Error::Json(_))),
            "{text:?}: {error:?}"
        );
        assert_eq!(
            error.map(|error| error.to_string()).as_deref(),
            Some(expected),
            "{text:?}"
        );
    }
}

#[test]
fn names_are_validated() {
    let valid = r#"path "x" { capabilities = ["read"] }"#;
    assert_eq!(
        Policy::parse(" App-RW ", valid)
            .map(|policy| policy.name().to_string())
            .ok(),
        Some("app-rw".to_owned())
    );
    assert!(matches!(
        Policy::parse("", valid),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Policy::parse("a/b", valid),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Policy::parse("Root", valid),
        Err(Error::RootPolicyImmutable)
    ));
}

#[test]
fn json_policies() {
    let json = r#"{
        "path": {
            "secret/*": {"capabilities": ["read", "list"]},
            "secret/+/admin": {"capabilities": ["deny"]},
            "sys/audit": {"policy": "sudo"}
        }
    }"#;
    check(&[json], "secret/x", &["list", "read"]);
    check(&[json], "secret/x/admin", &["deny"]);
    check(
        &[json],
        "sys/audit",
        &[
            "create", "delete", "list", "patch", "read", "sudo", "update",
        ],
    );
    // JSON and HCL policies combine like any others.
    check(
        &[json, r#"path "secret/*" { capabilities = ["update"] }"#],
        "secret/y",
        &["list", "read", "update"],
    );
    // Leading whitespace and a `name` key are fine.
    check(
        &[r#"  {"name": "x", "path": {"a": {"capabilities": ["read"]}}}"#],
        "a",
        &["read"],
    );
    // An empty object is an empty policy.
    check(&["{}"], "a", &["deny"]);
}

#[test]
fn hcl_variants() {
    // Comments, a top-level `name`, the attribute form of `path` and an empty policy.
    let text = r#"
        # A comment.
        name = "ignored"
        // Another comment.
        path "a" {
          comment = "also ignored"
          capabilities = ["read"]
        }
        path = {
          "b/*" = { capabilities = ["list"] }
        }
    "#;
    check(&[text], "a", &["read"]);
    check(&[text], "b/c", &["list"]);
    check(&[""], "a", &["deny"]);
    // The same pattern twice in one policy is merged.
    let twice = r#"
        path "a" { capabilities = ["read"] }
        path "a" { capabilities = ["update"] }
    "#;
    check(&[twice], "a", &["read", "update"]);
}

#[test]
fn legacy_policy_shorthand() {
    let cases: &[(&str, &[&str])] = &[
        ("deny", &["deny"]),
        ("read", &["list", "read"]),
        (
            "write",
            &["create", "delete", "list", "patch", "read", "update"],
        ),
        (
            "sudo",
            &[
                "create", "delete", "list", "patch", "read", "sudo", "update",
            ],
        ),
    ];
    for (shorthand, expected) in cases {
        let text = format!("path \"x\" {{ policy = \"{shorthand}\" }}");
        check(&[&text], "x", expected);
    }
    // Combined with explicit capabilities, both count.
    check(
        &["path \"x\" {\n policy = \"read\"\n capabilities = [\"update\"]\n}"],
        "x",
        &["list", "read", "update"],
    );
}

#[test]
fn deny_in_a_list_erases_the_rest() {
    check(
        &[r#"path "x" { capabilities = ["read", "deny", "sudo"] }"#],
        "x",
        &["deny"],
    );
}

#[test]
fn rule_settings_are_kept() {
    let text = r#"
        path "/secret/foo" {
          capabilities = ["create", "update"]
          required_parameters = ["Bar", "baz"]
          allowed_parameters = {
            "Bar" = ["zip", "zap-*"]
            "baz" = []
            "*" = []
          }
          denied_parameters = {
            "secret" = []
          }
          min_wrapping_ttl = "1s"
          max_wrapping_ttl = 90
        }
        path "templated/{{identity.entity.id}}" { capabilities = ["read"] }
    "#;
    let policy = Policy::parse("p", text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(policy.text(), text);
    let [rule, templated] = policy.rules() else {
        panic!("expected two rules, got {:?}", policy.rules());
    };
    assert_eq!(rule.path(), "secret/foo");
    assert_eq!(rule.capabilities().names(), ["create", "update"]);
    assert_eq!(rule.required_parameters(), ["bar", "baz"]);
    let allowed: Vec<(&str, serde_json::Value)> = rule
        .allowed_parameters()
        .iter()
        .map(|(name, values)| (name.as_str(), json!(values)))
        .collect();
    assert_eq!(
        allowed,
        [
            ("*", json!([])),
            ("bar", json!(["zip", "zap-*"])),
            ("baz", json!([]))
        ]
    );
    assert_eq!(rule.denied_parameters().len(), 1);
    assert_eq!(rule.min_wrapping_ttl(), Some(Duration::from_secs(1)));
    assert_eq!(rule.max_wrapping_ttl(), Some(Duration::from_secs(90)));
    assert!(!rule.is_templated());
    assert!(templated.is_templated());
}

#[test]
fn wrapping_ttl_formats() {
    let cases: &[(&str, Option<Duration>)] = &[
        ("\"1h\"", Some(Duration::from_secs(3600))),
        ("\"1h30m\"", Some(Duration::from_secs(5400))),
        ("\"300\"", Some(Duration::from_secs(300))),
        ("300", Some(Duration::from_secs(300))),
        ("\"250ms\"", Some(Duration::from_millis(250))),
        ("0", None),
        ("\"\"", None),
    ];
    for (value, expected) in cases {
        let text =
            format!("path \"x\" {{\n capabilities = [\"read\"]\n max_wrapping_ttl = {value}\n}}");
        let policy = Policy::parse("p", &text).unwrap_or_else(|error| panic!("{error}"));
        let ttl = policy
            .rules()
            .first()
            .and_then(|rule| rule.max_wrapping_ttl());
        assert_eq!(ttl, *expected, "{value}");
    }
}
