//! The precedence experiment captured from OpenBao with `sys/capabilities`
//! (`/work/shared/reference/vault-api.md` §2), reproduced row by row.

use crate::check;

const P1: &str = r#"
path "secret/data/team/*"        { capabilities = ["read"] }
path "secret/data/team/+/config" { capabilities = ["update"] }
path "secret/data/team/a*"       { capabilities = ["list"] }
path "secret/data/team/abc"      { capabilities = ["create"] }
path "secret/data/+/shared"      { capabilities = ["read", "update"] }
path "secret/data/deny/*"        { capabilities = ["deny"] }
path "secret/data/exact"         { capabilities = ["read"] }
path "secret/metadata/*"         { capabilities = ["list"] }
"#;

const P2: &str = r#"
path "secret/data/team/*" { capabilities = ["delete"] }
path "secret/data/deny/x" { capabilities = ["read", "sudo"] }
"#;

const P3: &str = r#"
path "secret/data/team/*" { capabilities = ["deny"] }
"#;

#[test]
fn experiment_table() {
    // (path under secret/data/, p1 only, p1 + p2)
    let table: &[(&str, &[&str], &[&str])] = &[
        ("team/x", &["read"], &["delete", "read"]),
        ("team/x/config", &["update"], &["update"]),
        ("team/x/y/config", &["read"], &["delete", "read"]),
        ("team/abc", &["create"], &["create"]),
        ("team/abd", &["list"], &["list"]),
        ("team", &["deny"], &["deny"]),
        ("foo/bar/shared", &["deny"], &["deny"]),
        ("deny/x", &["deny"], &["read", "sudo"]),
    ];
    for (path, p1_only, p1_and_p2) in table {
        let path = format!("secret/data/{path}");
        check(&[P1], &path, p1_only);
        check(&[P1, P2], &path, p1_and_p2);
        // The order in which policies are attached does not matter.
        check(&[P2, P1], &path, p1_and_p2);
    }
}

#[test]
fn same_pattern_deny_wins() {
    check(&[P1, P2, P3], "secret/data/team/x", &["deny"]);
    check(&[P3, P1, P2], "secret/data/team/x", &["deny"]);
    // Deny only wins inside the winning pattern: more specific rules are untouched.
    check(&[P1, P2, P3], "secret/data/team/x/config", &["update"]);
    check(&[P1, P2, P3], "secret/data/team/abc", &["create"]);
}

#[test]
fn other_rows_of_p1() {
    check(&[P1], "secret/data/x/shared", &["read", "update"]);
    check(&[P1], "secret/data/exact", &["read"]);
    check(&[P1], "secret/data/exact/more", &["deny"]);
    check(&[P1], "secret/metadata/team/", &["list"]);
    check(&[P1], "secret/metadata/", &["list"]);
    check(&[P1], "secret/metadata", &["deny"]);
}
