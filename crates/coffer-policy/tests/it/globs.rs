//! Matching edge cases: `*` as a prefix match, `+` as exactly one segment, and the precedence
//! rules between them.

use crate::check;

fn single(pattern: &str, capabilities: &str) -> String {
    format!("path \"{pattern}\" {{ capabilities = [{capabilities}] }}")
}

#[test]
fn star_is_a_prefix_match() {
    let policy = single("secret/zip-*", "\"read\"");
    check(&[&policy], "secret/zip-zap/zong", &["read"]);
    check(&[&policy], "secret/zip-", &["read"]);
    check(&[&policy], "secret/zip", &["deny"]);
    check(&[&policy], "secret/zap-zip", &["deny"]);
    let everything = single("*", "\"read\"");
    check(&[&everything], "anything/at/all", &["read"]);
    check(&[&everything], "", &["read"]);
}

#[test]
fn plus_is_one_segment() {
    let policy = single("secret/+/config", "\"read\"");
    check(&[&policy], "secret/a/config", &["read"]);
    check(&[&policy], "secret/a/b/config", &["deny"]);
    check(&[&policy], "secret/config", &["deny"]);
    check(&[&policy], "secret/a/config/x", &["deny"]);
    let two = single("a/+/b/+", "\"list\"");
    check(&[&two], "a/x/b/y", &["list"]);
    check(&[&two], "a/x/c/y", &["deny"]);
    let combined = single("a/+/b*", "\"read\"");
    check(&[&combined], "a/x/bee/deep/down", &["read"]);
    check(&[&combined], "a/x/c", &["deny"]);
}

#[test]
fn leading_slash_in_pattern_is_ignored() {
    check(&[&single("/secret/x", "\"read\"")], "secret/x", &["read"]);
}

#[test]
fn precedence_between_globs() {
    let policies = [
        single("a/*", "\"read\""),
        single("a/+/c", "\"update\""),
        single("a/+/c*", "\"create\""),
        single("a/b/+", "\"delete\""),
        single("a/+/+", "\"list\""),
        single("a/b/c", "\"patch\""),
        single("a/bc*", "\"sudo\""),
    ];
    let policies: Vec<&str> = policies.iter().map(String::as_str).collect();
    let cases: &[(&str, &[&str])] = &[
        // Exact beats all globs.
        ("a/b/c", &["patch"]),
        // `a/b/+` has its first wildcard later than `a/+/c`.
        ("a/b/x", &["delete"]),
        // Same first wildcard: no trailing `*` beats a trailing `*`, then fewer `+` wins.
        ("a/x/c", &["update"]),
        ("a/x/y", &["list"]),
        ("a/x/cat", &["list"]),
        // Both end in `*` with the same first wildcard: fewer `+` (none) wins.
        ("a/x/cat/dog", &["read"]),
        // `a/bc*` has its first wildcard later than every `+` pattern.
        ("a/bcd", &["sudo"]),
        ("a/bc/x", &["sudo"]),
        // Only `a/*` is left.
        ("a/x", &["read"]),
        ("a/x/y/z", &["read"]),
        ("b", &["deny"]),
    ];
    for (path, expected) in cases {
        check(&policies, path, expected);
    }
}

#[test]
fn longer_prefix_wins_and_ties_go_to_the_greater_pattern() {
    let policies = [
        single("a/+/x*", "\"read\""),
        single("a/+/xy*", "\"update\""),
        single("a/+/c/+", "\"list\""),
        single("a/+/+/d", "\"delete\""),
    ];
    let policies: Vec<&str> = policies.iter().map(String::as_str).collect();
    check(&policies, "a/q/xyz", &["update"]);
    check(&policies, "a/q/xa", &["read"]);
    // Same first wildcard, no `*`, two `+` each, same length: "a/+/c/+" > "a/+/+/d".
    check(&policies, "a/q/c/d", &["list"]);
    check(&policies, "a/q/z/d", &["delete"]);
}

#[test]
fn empty_capabilities_still_win() {
    // A rule with no capabilities matches and shadows broader grants, as in Vault.
    let policies = [single("secret/*", "\"read\""), single("secret/x", "")];
    check(&[&policies[0], &policies[1]], "secret/x", &["deny"]);
    check(&[&policies[0], &policies[1]], "secret/y", &["read"]);
}

#[test]
fn templated_rules_never_match() {
    let policy = single("identity/entity/id/{{identity.entity.id}}", "\"read\"");
    check(
        &[&policy],
        "identity/entity/id/{{identity.entity.id}}",
        &["deny"],
    );
}

#[test]
fn many_policies() {
    let texts: Vec<String> = (0..100)
        .map(|index| {
            format!(
                "path \"app/{index}/*\" {{ capabilities = [\"read\"] }}\n\
                 path \"app/{index}/+/admin\" {{ capabilities = [\"deny\"] }}\n\
                 path \"shared/exact\" {{ capabilities = [\"list\"] }}\n\
                 path \"app/{index}/cfg\" {{ capabilities = [\"update\"] }}"
            )
        })
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let acl = crate::acl(&texts);
    for index in [0, 42, 99] {
        assert_eq!(
            acl.capabilities(&format!("app/{index}/x")).names(),
            ["read"]
        );
        assert_eq!(
            acl.capabilities(&format!("app/{index}/x/admin")).names(),
            ["deny"]
        );
        assert_eq!(
            acl.capabilities(&format!("app/{index}/cfg")).names(),
            ["update"]
        );
    }
    assert_eq!(acl.capabilities("app/100/x").names(), ["deny"]);
    assert_eq!(acl.capabilities("shared/exact").names(), ["list"]);
    let decision = acl.check("shared/exact", coffer_policy::Operation::List);
    assert_eq!(decision.granting_policies.len(), 100);
}
