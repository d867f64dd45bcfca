//! The built-in `default` and `root` policies.

use coffer_policy::{
    Acl, Capabilities, DEFAULT_POLICY_HCL, Operation, Policy, default_policy_name, root_policy_name,
};

use crate::check;

#[test]
fn default_policy_grants() {
    let cases: &[(&str, &[&str])] = &[
        ("auth/token/lookup-self", &["read"]),
        ("auth/token/renew-self", &["update"]),
        ("auth/token/revoke-self", &["update"]),
        ("sys/capabilities-self", &["update"]),
        ("sys/leases/renew", &["update"]),
        ("sys/leases/lookup", &["update"]),
        (
            "cubbyhole/anything",
            &["create", "delete", "list", "read", "update"],
        ),
        (
            "cubbyhole/deep/down",
            &["create", "delete", "list", "read", "update"],
        ),
        ("sys/wrapping/wrap", &["update"]),
        ("sys/wrapping/lookup", &["update"]),
        ("sys/wrapping/unwrap", &["update"]),
        ("sys/tools/hash", &["update"]),
        ("sys/internal/ui/resultant-acl", &["read"]),
        // Nothing else.
        ("secret/data/x", &["deny"]),
        ("auth/token/lookup", &["deny"]),
        ("auth/token/create", &["deny"]),
        ("sys/wrapping/rewrap", &["deny"]),
        ("cubbyhole", &["deny"]),
        ("sys/leases/lookup/prefix", &["deny"]),
        // The templated rule is kept but never matches until templating exists.
        ("identity/entity/id/{{identity.entity.id}}", &["deny"]),
        ("identity/entity/id/some-id", &["deny"]),
    ];
    for (path, expected) in cases {
        check(&[DEFAULT_POLICY_HCL], path, expected);
    }
}

#[test]
fn default_policy_constructor() {
    let policy = Policy::default_policy();
    assert_eq!(policy.name(), &default_policy_name());
    assert_eq!(policy.text(), DEFAULT_POLICY_HCL);
    assert!(policy.rules().iter().any(|rule| rule.is_templated()));
    let acl = Acl::new(&[policy]);
    let decision = acl.check("auth/token/lookup-self", Operation::Read);
    assert!(decision.allowed);
    assert!(!decision.sudo);
    assert_eq!(decision.granting_policies, [default_policy_name()]);
}

#[test]
fn root_allows_everything_with_sudo() {
    for acl in [
        Acl::root(),
        Acl::new(&[Policy::default_policy(), Policy::root()]),
    ] {
        assert!(acl.is_root());
        for path in ["sys/audit", "secret/data/x", ""] {
            assert_eq!(acl.capabilities(path), Capabilities::ALL);
            for op in [
                Operation::Create,
                Operation::Read,
                Operation::Update,
                Operation::Patch,
                Operation::Delete,
                Operation::List,
                Operation::Scan,
            ] {
                let decision = acl.check(path, op);
                assert!(decision.allowed && decision.sudo, "{path} {op}");
                assert_eq!(decision.granting_policies, [root_policy_name()]);
            }
        }
        assert!(acl.has_any_under("anything/"));
    }
    assert!(!Acl::new(&[Policy::default_policy()]).is_root());
    assert!(!Acl::new(&[]).is_root());
    assert!(Policy::root().rules().is_empty());
}
