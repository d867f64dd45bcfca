//! Integration tests of `coffer-policy` through its public API: policy text in, capabilities
//! and decisions out. Each module is a table of tiny cases run by a `check` helper.

mod builtin;
mod decisions;
mod globs;
mod parse;
mod precedence;
mod preflight;

use coffer_policy::{Acl, Policy};

/// Parses each text as policy `p1`, `p2`, ... and compiles them into one ACL.
fn acl(policies: &[&str]) -> Acl {
    let policies: Vec<Policy> = policies
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let name = format!("p{}", index + 1);
            Policy::parse(&name, text).unwrap_or_else(|error| panic!("{name}: {error}\n{text}"))
        })
        .collect();
    Acl::new(&policies)
}

/// Asserts the `sys/capabilities`-style answer for `path` under the given policies.
fn check(policies: &[&str], path: &str, expected: &[&str]) {
    let actual = acl(policies).capabilities(path).names();
    assert_eq!(actual, expected, "capabilities on {path:?}");
}
