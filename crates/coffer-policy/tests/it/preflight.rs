//! `Acl::has_any_under`, used by the CLI preflight `sys/internal/ui/mounts/<path>`.

use crate::acl;

#[test]
fn has_any_under() {
    let policy = r#"
        path "secret/data/app/*" { capabilities = ["read"] }
        path "kv/+/team/*" { capabilities = ["list"] }
        path "blocked/*" { capabilities = ["deny"] }
        path "empty/*" { capabilities = [] }
        path "exact/path" { capabilities = ["update"] }
        path "sec*" { capabilities = ["read"] }
    "#;
    let acl = acl(&[policy]);
    let cases = [
        ("secret/", true),
        ("secret/data/", true),
        ("secret/data/app/x", true),
        ("kv/", true),
        ("kv/data/", true),
        ("kv/data/other/", false),
        ("blocked/", false),
        ("empty/", false),
        ("exact/", true),
        ("exact/other/", false),
        ("second/", true),
        ("other/", false),
    ];
    for (prefix, expected) in cases {
        assert_eq!(acl.has_any_under(prefix), expected, "{prefix:?}");
    }
    let default_only = crate::acl(&[coffer_policy::DEFAULT_POLICY_HCL]);
    assert!(default_only.has_any_under("cubbyhole/"));
    assert!(!default_only.has_any_under("secret/"));
    assert!(!crate::acl(&[]).has_any_under(""));
}
