//! Credential name rules.

use coffer_credentials::validate_name;

fn check(name: &str, expect: &str) {
    let got = match validate_name(name) {
        Ok(()) => "ok".to_owned(),
        Err(error) => format!("error: {error}"),
    };
    assert_eq!(got, expect, "name {name:?}");
}

#[test]
fn names() {
    check("stripe-api-key-production", "ok");
    check("github_deploy.ssh", "ok");
    check("A", "ok");
    check(&"n".repeat(128), "ok");
    check("configs", "ok");
    check("Config", "ok");
    check("", "error: invalid credential name: the name is empty");
    check(
        &"n".repeat(129),
        "error: invalid credential name: the name is longer than 128 characters",
    );
    let bad_chars = "error: invalid credential name: the name may only contain letters, digits, '.', '_' and '-'";
    check("has space", bad_chars);
    check("a/b", bad_chars);
    check("emoji-🔑", bad_chars);
    check("tab\t", bad_chars);
    check(
        ".",
        "error: invalid credential name: '.' and '..' are not names",
    );
    check(
        "..",
        "error: invalid credential name: '.' and '..' are not names",
    );
    check("config", "error: credential name \"config\" is reserved");
}
