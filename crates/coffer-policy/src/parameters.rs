//! `required_parameters`, `allowed_parameters` and `denied_parameters`: checking a request's
//! top-level parameters against a rule, and merging the constraints of rules with identical
//! patterns, both the way Vault does it.
//!
//! Parameter names are compared lowercased. A value pattern that is a string matches string
//! values as a glob with a `*` at the start and/or end (`"foo-*"`, `"*-bar"`, `"*mid*"`); any
//! other pattern matches an equal JSON value. An empty pattern list means any value. When a
//! request value is a list, it is allowed only if every element is allowed, and denied if any
//! element is denied.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The key that stands for "every other parameter".
const ANY_PARAMETER: &str = "*";

/// Map of lowercased parameter name to the value patterns it may (or may not) take.
pub type ParameterValues = BTreeMap<String, Vec<Value>>;

/// The parameter constraints of one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParameterConstraints {
    pub(crate) required: Vec<String>,
    pub(crate) allowed: ParameterValues,
    pub(crate) denied: ParameterValues,
}

impl ParameterConstraints {
    /// Whether a request carrying `params` satisfies the constraints.
    pub(crate) fn permits(&self, params: &Map<String, Value>) -> bool {
        let has = |name: &str| params.keys().any(|key| lowercase(key) == name);
        if !self.required.iter().all(|name| has(name)) {
            return false;
        }
        if params.is_empty() {
            return true;
        }
        if !self.denied.is_empty() {
            if self.denied.contains_key(ANY_PARAMETER) {
                return false;
            }
            let denied = params.iter().any(|(key, value)| {
                self.denied
                    .get(lowercase(key).as_ref())
                    .is_some_and(|patterns| any_element_listed(value, patterns))
            });
            if denied {
                return false;
            }
        }
        if self.allowed.is_empty() {
            return true;
        }
        let allowed_any = self.allowed.contains_key(ANY_PARAMETER);
        if allowed_any && self.allowed.len() == 1 {
            return true;
        }
        params.iter().all(
            |(key, value)| match self.allowed.get(lowercase(key).as_ref()) {
                Some(patterns) => every_element_listed(value, patterns),
                None => allowed_any,
            },
        )
    }

    /// Folds in the constraints of another rule with the same pattern: allowed and denied
    /// values are appended per name (an empty list, meaning any value, absorbs the others), and
    /// required names are unioned.
    pub(crate) fn merge(&mut self, other: &ParameterConstraints) {
        merge_values(&mut self.allowed, &other.allowed);
        merge_values(&mut self.denied, &other.denied);
        for name in &other.required {
            if !self.required.contains(name) {
                self.required.push(name.clone());
            }
        }
    }
}

fn merge_values(into: &mut ParameterValues, from: &ParameterValues) {
    for (name, patterns) in from {
        match into.get_mut(name) {
            Some(existing) if existing.is_empty() => {}
            Some(existing) if patterns.is_empty() => existing.clear(),
            Some(existing) => existing.extend(patterns.iter().cloned()),
            None => {
                into.insert(name.clone(), patterns.clone());
            }
        }
    }
}

fn lowercase(key: &str) -> Cow<'_, str> {
    if key.chars().any(char::is_uppercase) {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

fn every_element_listed(value: &Value, patterns: &[Value]) -> bool {
    if patterns.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().all(|item| listed(item, patterns)),
        _ => listed(value, patterns),
    }
}

fn any_element_listed(value: &Value, patterns: &[Value]) -> bool {
    if patterns.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().any(|item| listed(item, patterns)),
        _ => listed(value, patterns),
    }
}

fn listed(value: &Value, patterns: &[Value]) -> bool {
    patterns.iter().any(|pattern| match (pattern, value) {
        (Value::String(pattern), Value::String(value)) => glob_matches(pattern, value),
        (pattern, value) => pattern == value,
    })
}

/// Vault's `GlobbedStringsMatch`: a leading and/or trailing `*` (on patterns of two or more
/// characters) makes a suffix, prefix or substring match.
fn glob_matches(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => pattern
            .get(1..pattern.len() - 1)
            .is_some_and(|middle| value.contains(middle)),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("foo-*", "foo-bar", true),
            ("foo-*", "bar-foo", false),
            ("*-foo", "bar-foo", true),
            ("*mid*", "amidst", true),
            ("*mid*", "mud", false),
            ("**", "anything", true),
            ("*", "*", true),
            ("*", "x", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                glob_matches(pattern, value),
                expected,
                "{pattern:?} vs {value:?}"
            );
        }
    }

    #[test]
    fn merging() {
        let values = |pairs: &[(&str, &[&str])]| -> ParameterValues {
            pairs
                .iter()
                .map(|(name, values)| {
                    (
                        (*name).to_owned(),
                        values.iter().map(|value| Value::from(*value)).collect(),
                    )
                })
                .collect()
        };
        let mut left = ParameterConstraints {
            required: vec!["a".to_owned()],
            allowed: values(&[("x", &["1"]), ("y", &[]), ("z", &["3"])]),
            denied: values(&[]),
        };
        let right = ParameterConstraints {
            required: vec!["a".to_owned(), "b".to_owned()],
            allowed: values(&[("x", &["2"]), ("y", &["9"]), ("z", &[]), ("w", &["4"])]),
            denied: values(&[("d", &["bad"])]),
        };
        left.merge(&right);
        assert_eq!(left.required, ["a", "b"]);
        assert_eq!(
            left.allowed,
            values(&[("w", &["4"]), ("x", &["1", "2"]), ("y", &[]), ("z", &[])])
        );
        assert_eq!(left.denied, values(&[("d", &["bad"])]));
    }
}
