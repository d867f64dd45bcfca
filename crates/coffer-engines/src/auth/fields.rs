//! Request fields read the way Vault's framework reads an auth method's fields: weakly typed
//! (`"4"` is 4, `"true"` is true, `""` is 0, false or "not set" as Vault has it), lists as JSON
//! arrays or comma-separated strings. Every reader answers `None` for an absent or null field.
//! Error messages name the field and the expected type, never the value: some fields are
//! passwords and secret IDs.

use std::collections::BTreeMap;

use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// A string field; numbers and booleans are converted.
pub(crate) fn string(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => scalar_text(value)
            .map(Some)
            .ok_or_else(|| conversion_error(field, "a string", value)),
    }
}

/// A secret string field (a password, a secret ID), kept in zeroizing memory. Only a JSON
/// string is accepted, so no conversion leaves a copy behind.
pub(crate) fn secret(data: &Map<String, Value>, field: &str) -> Result<Option<Zeroizing<String>>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(Zeroizing::new(text.clone()))),
        Some(value) => Err(conversion_error(field, "a string", value)),
    }
}

/// A boolean field: `true`, `"true"`, `"1"`, `"t"`, a non-zero number; `""` is false.
pub(crate) fn boolean(data: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::String(text)) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" | "" => Ok(Some(false)),
            _ => Err(Error::invalid(format!(
                "error converting input for field {field:?}: expected a boolean"
            ))),
        },
        Some(Value::Number(number)) => Ok(Some(number.as_f64().is_some_and(|n| n != 0.0))),
        Some(value) => Err(conversion_error(field, "a boolean", value)),
    }
}

/// A count (`num_uses`): a whole number from 0 to 2³²−1, as a number or a string; `""` is 0.
pub(crate) fn count(data: &Map<String, Value>, field: &str) -> Result<Option<u32>> {
    let out_of_range = || {
        Error::invalid(format!(
            "error converting input for field {field:?}: expected a whole number from 0 to {}",
            u32::MAX
        ))
    };
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(out_of_range),
        Some(Value::String(text)) if text.is_empty() => Ok(Some(0)),
        Some(Value::String(text)) => text
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| out_of_range()),
        Some(value) => Err(conversion_error(field, "a number", value)),
    }
}

/// A duration field: seconds (`3600`, `"3600"`) or a duration string (`"1h"`); `""` is zero.
pub(crate) fn duration(data: &Map<String, Value>, field: &str) -> Result<Option<Ttl>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Some(Ttl::ZERO)),
        Some(value) => Ttl::from_json(value).map(Some).map_err(|e| {
            Error::invalid(format!("error converting input for field {field:?}: {e}"))
        }),
    }
}

/// A list of strings: a JSON array of scalars, or one comma-separated string. Items are trimmed;
/// empty items and repeats are dropped, the first occurrence keeping its place.
pub(crate) fn string_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    let raw: Vec<String> = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                scalar_text(item).ok_or_else(|| conversion_error(field, "a list of strings", item))
            })
            .collect::<Result<_>>()?,
        Some(Value::String(text)) => text.split(',').map(str::to_owned).collect(),
        Some(value) => match scalar_text(value) {
            Some(text) => vec![text],
            None => return Err(conversion_error(field, "a list of strings", value)),
        },
    };
    let mut items: Vec<String> = Vec::with_capacity(raw.len());
    for item in raw {
        let item = item.trim();
        if !item.is_empty() && !items.iter().any(|kept| kept == item) {
            items.push(item.to_owned());
        }
    }
    Ok(Some(items))
}

/// A map of strings (`metadata`): a JSON object whose values are scalars, or a string holding
/// such an object in JSON (Vault's CLI sends it that way); `""` is the empty map.
pub(crate) fn string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    let expected = "a map of strings";
    let parsed;
    let object = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Some(BTreeMap::new())),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Map<String, Value>>(text).map_err(|_| {
                Error::invalid(format!(
                    "error converting input for field {field:?}: expected {expected} in JSON"
                ))
            })?;
            &parsed
        }
        Some(value) => return Err(conversion_error(field, expected, value)),
    };
    object
        .iter()
        .map(|(key, value)| {
            scalar_text(value)
                .map(|text| (key.clone(), text))
                .ok_or_else(|| conversion_error(field, expected, value))
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// The text of a string, number or boolean; `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The error for a field of the wrong JSON type; names the type given, never the value.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Reads `field` of `body` with `reader` and compares with `expect` (the value, or the error
    /// message).
    fn check<T: std::fmt::Debug + PartialEq>(
        reader: fn(&Map<String, Value>, &str) -> Result<Option<T>>,
        body: Value,
        expect: std::result::Result<Option<T>, &str>,
    ) {
        let Value::Object(data) = body else {
            panic!("test bodies are JSON objects");
        };
        let got = reader(&data, "f").map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_owned), "{data:?}");
    }

    #[test]
    fn strings() {
        check(string, json!({}), Ok(None));
        check(string, json!({"f": null}), Ok(None));
        check(string, json!({"f": "x"}), Ok(Some("x".to_owned())));
        check(string, json!({"f": 4}), Ok(Some("4".to_owned())));
        check(string, json!({"f": true}), Ok(Some("true".to_owned())));
        check(
            string,
            json!({"f": [1]}),
            Err("error converting input for field \"f\": expected a string, got array"),
        );
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let read = |body: Value| {
            let Value::Object(data) = body else {
                panic!("test bodies are JSON objects");
            };
            secret(&data, "f")
                .map(|s| s.map(|s| s.as_str().to_owned()))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            read(json!({"f": "hunter2"})),
            Ok(Some("hunter2".to_owned()))
        );
        assert_eq!(read(json!({})), Ok(None));
        let error = read(json!({"f": ["hunter2"]})).expect_err("a list is not a secret");
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(
            read(json!({"f": 1234})),
            Err("error converting input for field \"f\": expected a string, got number".to_owned())
        );
    }

    #[test]
    fn booleans() {
        check(boolean, json!({"f": true}), Ok(Some(true)));
        check(boolean, json!({"f": "true"}), Ok(Some(true)));
        check(boolean, json!({"f": "T"}), Ok(Some(true)));
        check(boolean, json!({"f": 1}), Ok(Some(true)));
        check(boolean, json!({"f": 0}), Ok(Some(false)));
        check(boolean, json!({"f": ""}), Ok(Some(false)));
        check(boolean, json!({"f": "0"}), Ok(Some(false)));
        check(boolean, json!({}), Ok(None));
        check(
            boolean,
            json!({"f": "yes please"}),
            Err("error converting input for field \"f\": expected a boolean"),
        );
        check(
            boolean,
            json!({"f": {}}),
            Err("error converting input for field \"f\": expected a boolean, got object"),
        );
    }

    #[test]
    fn counts() {
        let range =
            "error converting input for field \"f\": expected a whole number from 0 to 4294967295";
        check(count, json!({"f": 3}), Ok(Some(3)));
        check(count, json!({"f": "3"}), Ok(Some(3)));
        check(count, json!({"f": ""}), Ok(Some(0)));
        check(count, json!({}), Ok(None));
        check(count, json!({"f": -1}), Err(range));
        check(count, json!({"f": "-1"}), Err(range));
        check(count, json!({"f": 1.5}), Err(range));
        check(count, json!({"f": 4_294_967_296_u64}), Err(range));
        check(
            count,
            json!({"f": true}),
            Err("error converting input for field \"f\": expected a number, got bool"),
        );
    }

    #[test]
    fn durations() {
        let secs = |body: Value| {
            let Value::Object(data) = body else {
                panic!("test bodies are JSON objects");
            };
            duration(&data, "f")
                .map(|ttl| ttl.map(Ttl::as_secs))
                .map_err(|e| e.to_string())
        };
        assert_eq!(secs(json!({"f": 60})), Ok(Some(60)));
        assert_eq!(secs(json!({"f": "1h"})), Ok(Some(3600)));
        assert_eq!(secs(json!({"f": "90"})), Ok(Some(90)));
        assert_eq!(secs(json!({"f": ""})), Ok(Some(0)));
        assert_eq!(secs(json!({"f": null})), Ok(None));
        assert_eq!(secs(json!({})), Ok(None));
        assert_eq!(
            secs(json!({"f": "soon"})),
            Err(
                "error converting input for field \"f\": invalid duration \"soon\": expected a number"
                    .to_owned()
            )
        );
        assert!(secs(json!({"f": -5})).is_err());
    }

    #[test]
    fn string_lists() {
        let list = |items: &[&str]| Ok(Some(items.iter().map(|s| (*s).to_owned()).collect()));
        check(string_list, json!({"f": ["a", "b"]}), list(&["a", "b"]));
        check(string_list, json!({"f": "a,b"}), list(&["a", "b"]));
        check(string_list, json!({"f": " a , b ,, a"}), list(&["a", "b"]));
        check(string_list, json!({"f": ""}), list(&[]));
        check(string_list, json!({"f": []}), list(&[]));
        check(string_list, json!({"f": [" x ", 7]}), list(&["x", "7"]));
        check(string_list, json!({"f": 7}), list(&["7"]));
        check(string_list, json!({}), Ok(None));
        check(
            string_list,
            json!({"f": [["a"]]}),
            Err("error converting input for field \"f\": expected a list of strings, got array"),
        );
        check(
            string_list,
            json!({"f": {"a": 1}}),
            Err("error converting input for field \"f\": expected a list of strings, got object"),
        );
    }

    #[test]
    fn string_maps() {
        let map = |pairs: &[(&str, &str)]| {
            Ok(Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ))
        };
        check(
            string_map,
            json!({"f": {"a": "b", "n": 1}}),
            map(&[("a", "b"), ("n", "1")]),
        );
        check(
            string_map,
            json!({"f": "{\"a\": \"b\"}"}),
            map(&[("a", "b")]),
        );
        check(string_map, json!({"f": ""}), map(&[]));
        check(string_map, json!({}), Ok(None));
        check(
            string_map,
            json!({"f": "not json"}),
            Err("error converting input for field \"f\": expected a map of strings in JSON"),
        );
        check(
            string_map,
            json!({"f": {"a": {"deep": 1}}}),
            Err("error converting input for field \"f\": expected a map of strings, got object"),
        );
        check(
            string_map,
            json!({"f": [1]}),
            Err("error converting input for field \"f\": expected a map of strings, got array"),
        );
    }
}
