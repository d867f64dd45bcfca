//! `generic-secret` and the rules every type shares: empty values and the size limit.

use coffer_credentials::{CredentialType, MAX_VALUE_BYTES};

use crate::support::{check, check_with};

#[test]
fn generic_secret() {
    let kind = CredentialType::GenericSecret;
    check_with(kind, "whsec_abc123xyz", None, &[], &["whsec_abc123xyz"], "");
    check(kind, "x", "");
    check(kind, "", "error: generic-secret value is empty");
    check(kind, "  \n\t ", "error: generic-secret value is empty");
    check_with(
        kind,
        "hunter2",
        Some("pw-XYZZY"),
        &[],
        &["hunter2", "pw-XYZZY"],
        "warning: a passphrase is not used by generic-secret credentials; ignored",
    );
}

#[test]
fn every_type_rejects_empty_and_oversized_values() {
    let huge = "a".repeat(2 * 1024 * 1024);
    let at_limit = "b".repeat(MAX_VALUE_BYTES);
    for kind in CredentialType::ALL {
        check(kind, "", &format!("error: {kind} value is empty"));
        check(kind, "   ", &format!("error: {kind} value is empty"));
        check(
            kind,
            &huge,
            "error: value is 2097152 bytes; the limit is 1048576 bytes",
        );
    }
    // Exactly at the limit is allowed.
    check(CredentialType::GenericSecret, &at_limit, "");
}

#[test]
fn credential_type_names_round_trip() {
    for kind in CredentialType::ALL {
        assert_eq!(kind.as_str().parse::<CredentialType>().ok(), Some(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    let check_unknown = |name: &str, expect: &str| {
        let error = name.parse::<CredentialType>().err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some(expect));
    };
    check_unknown("password", "unknown credential type \"password\"");
    check_unknown("API-KEY", "unknown credential type \"API-KEY\"");
    check_unknown("", "unknown credential type \"\"");
}

#[test]
fn secret_value_debug_is_redacted() {
    let secret = coffer_credentials::SecretValue::from("sk_live_supersecret");
    assert_eq!(format!("{secret:?}"), "SecretValue(<redacted>)");
    assert_eq!(secret.expose(), "sk_live_supersecret");
}
