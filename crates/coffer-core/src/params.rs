//! Reading typed parameters out of a request body, with Vault's leniency (booleans and numbers
//! may come as strings, lists as comma-separated strings) and Vault-style error messages.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ttl::Ttl;
use crate::{Error, Result};

fn conversion_error(field: &str, expected: &str, value: &Value) -> Error {
    let got = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    Error::invalid(format!(
        "error converting input for field {field:?}: expected {expected}, got {got}"
    ))
}

/// A string parameter; numbers and booleans are accepted and converted.
pub(crate) fn string(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(conversion_error(field, "a string", other)),
    }
}

/// A boolean parameter (`true`, `"true"`, `1`, …).
pub(crate) fn boolean(data: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" | "" => Ok(Some(false)),
            _ => Err(Error::invalid(format!(
                "error converting input for field {field:?}: {s:?} is not a boolean"
            ))),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|v| v != 0.0))),
        Some(other) => Err(conversion_error(field, "a boolean", other)),
    }
}

/// A non-negative integer parameter.
pub(crate) fn unsigned(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "error converting input for field {field:?}: must be a non-negative integer"
            ))
        }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse::<u64>().map(Some).map_err(|_| {
            Error::invalid(format!(
                "error converting input for field {field:?}: {s:?} is not a non-negative integer"
            ))
        }),
        Some(other) => Err(conversion_error(field, "an integer", other)),
    }
}

/// A duration parameter (seconds or a duration string).
pub(crate) fn ttl(data: &Map<String, Value>, field: &str) -> Result<Option<Ttl>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => Ttl::from_json(value).map(Some).map_err(|e| {
            Error::invalid(format!("error converting input for field {field:?}: {e}"))
        }),
    }
}

/// A list of strings: a JSON array of strings, or one comma-separated string.
pub(crate) fn string_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_owned()),
                other => Err(conversion_error(field, "a list of strings", other)),
            })
            .filter(|item| !matches!(item, Ok(s) if s.is_empty()))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(conversion_error(field, "a list of strings", other)),
    }
}

/// A map of strings to strings.
pub(crate) fn string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                other => Err(conversion_error(field, "a map of strings", other)),
            })
            .collect::<Result<BTreeMap<_, _>>>()
            .map(Some),
        Some(other) => Err(conversion_error(field, "a map of strings", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn lenient_conversions() {
        let data =
            body(json!({"b": "true", "n": "12", "l": "a, b,,c", "a": ["x", ""], "m": {"k": 1}}));
        assert_eq!(boolean(&data, "b").ok().flatten(), Some(true));
        assert_eq!(unsigned(&data, "n").ok().flatten(), Some(12));
        assert_eq!(
            string_list(&data, "l").ok().flatten(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            string_list(&data, "a").ok().flatten(),
            Some(vec!["x".into()])
        );
        assert_eq!(
            string_map(&data, "m")
                .ok()
                .flatten()
                .and_then(|m| m.get("k").cloned()),
            Some("1".into())
        );
        assert_eq!(string(&data, "missing").ok().flatten(), None);
    }

    #[test]
    fn wrong_types_are_clear_errors() {
        let data = body(json!({"b": [1], "n": -3, "l": {"x": 1}, "m": "nope", "t": "1x"}));
        assert!(boolean(&data, "b").is_err());
        assert!(unsigned(&data, "n").is_err());
        assert!(string_list(&data, "l").is_err());
        assert!(string_map(&data, "m").is_err());
        let err = ttl(&data, "t")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"t\""), "{err}");
    }
}
