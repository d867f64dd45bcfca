//! The shared `check` helper: renders an inspection (or its error) as text so each case is one
//! expected string, plus tool helpers that generate keys in a temporary directory.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_credentials::{CredentialType, Inspection, Result, SecretValue, inspect};

/// The fixed "now" of every case: 2023-11-14T22:13:20Z.
pub(crate) const NOW_SECONDS: u64 = 1_700_000_000;

pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECONDS)
}

/// Renders metadata as `key=value` lines, then warnings, then the expiry in Unix seconds; an
/// error renders as `error: <Display>`.
pub(crate) fn render(result: &Result<Inspection>) -> String {
    match result {
        Err(error) => format!("error: {error}"),
        Ok(inspection) => {
            let mut lines: Vec<String> = inspection
                .metadata
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            lines.extend(inspection.warnings.iter().map(|w| format!("warning: {w}")));
            if let Some(expires) = inspection.expires_at {
                let seconds = expires
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                lines.push(format!("expires_at: {seconds}"));
            }
            lines.join("\n")
        }
    }
}

/// Inspects `value` as `kind` (no passphrase) and returns the rendering plus the `Debug` form
/// of the whole result, for secrecy checks.
pub(crate) fn run(kind: CredentialType, value: &str, passphrase: Option<&str>) -> (String, String) {
    let value = SecretValue::from(value);
    let passphrase = passphrase.map(SecretValue::from);
    let result = inspect(kind, &value, passphrase.as_ref(), now());
    (
        render(&result),
        format!("{result:?} {value:?} {passphrase:?}"),
    )
}

/// Asserts the rendering of `value` as `kind`, after replacing each `(actual, placeholder)`
/// substitution, and that none of `secrets` appears in the rendering or any `Debug` output.
pub(crate) fn check_with(
    kind: CredentialType,
    value: &str,
    passphrase: Option<&str>,
    substitutions: &[(&str, &str)],
    secrets: &[&str],
    expect: &str,
) {
    let (rendered, debug) = run(kind, value, passphrase);
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !rendered.contains(secret),
            "secret leaked into output:\n{rendered}"
        );
        assert!(
            !debug.contains(secret),
            "secret leaked into Debug:\n{debug}"
        );
    }
    let mut got = rendered;
    for (actual, placeholder) in substitutions {
        got = got.replace(actual, placeholder);
    }
    assert_eq!(got.trim(), expect.trim(), "\nvalue kind {kind}");
}

/// `check_with` for cases without substitutions; the whole value counts as secret unless the
/// case is about a rejected value that is allowed to be short.
pub(crate) fn check(kind: CredentialType, value: &str, expect: &str) {
    check_with(kind, value, None, &[], &[], expect);
}

/// The base64 body lines of every PEM private key block in `pem`: the key material that must
/// never appear anywhere.
pub(crate) fn private_key_lines(pem: &str) -> Vec<String> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in pem.lines() {
        if line.starts_with("-----BEGIN") {
            inside = line.contains("PRIVATE KEY");
        } else if line.starts_with("-----END") {
            inside = false;
        } else if inside && line.len() >= 16 && !line.contains(':') {
            lines.push(line.to_owned());
        }
    }
    assert!(
        !lines.is_empty(),
        "no private key material found in the fixture"
    );
    lines
}

/// Runs a tool and returns its standard output, failing the test with its stderr otherwise.
pub(crate) fn tool(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("{program} must be installed for these tests: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
