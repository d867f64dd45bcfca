//! `api-key`: non-empty, with known prefixes mapped to services.

use coffer_credentials::CredentialType;

use crate::support::check_with;

fn check(value: &str, expect: &str) {
    check_with(CredentialType::ApiKey, value, None, &[], &[], expect);
}

#[test]
fn known_prefixes() {
    check("sk-proj-abc123", "prefix=sk-proj-\nservice=openai");
    check("sk-abc123", "prefix=sk-\nservice=openai");
    check("sk-ant-api03-abc", "prefix=sk-ant-\nservice=anthropic");
    check("sk_live_abc", "prefix=sk_live_\nservice=stripe");
    check("sk_test_abc", "prefix=sk_test_\nservice=stripe");
    check("rk_live_abc", "prefix=rk_live_\nservice=stripe");
    check("ghp_abc", "prefix=ghp_\nservice=github");
    check("gho_abc", "prefix=gho_\nservice=github");
    check("ghs_abc", "prefix=ghs_\nservice=github");
    check("github_pat_11ABC", "prefix=github_pat_\nservice=github");
    check("glpat-abc", "prefix=glpat-\nservice=gitlab");
    check("AKIAIOSFODNN7EXAMPLE", "prefix=AKIA\nservice=aws");
    check("ASIAIOSFODNN7EXAMPLE", "prefix=ASIA\nservice=aws");
    check("xoxb-123-456", "prefix=xoxb-\nservice=slack");
    check("xoxp-123-456", "prefix=xoxp-\nservice=slack");
    check("SG.abc.def", "prefix=SG.\nservice=sendgrid");
    check("AIzaSyA-abc", "prefix=AIza\nservice=google");
}

#[test]
fn unknown_and_odd_keys() {
    check("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "");
    check("dd0123456789abcdef", "");
    // A bare prefix is not a key of that service.
    check("sk-", "");
    // Prefixes are case-sensitive.
    check("SK-abc", "");
    check(
        " sk-abc ",
        "prefix=sk-\nservice=openai\nwarning: the value has leading or trailing whitespace",
    );
    check("abc def", "warning: the value contains whitespace");
}

#[test]
fn the_key_never_appears_in_output() {
    let key = "sk_live_51HxyzSECRETpart";
    check_with(
        CredentialType::ApiKey,
        key,
        None,
        &[],
        &[key, "SECRETpart"],
        "prefix=sk_live_\nservice=stripe",
    );
}
