//! Request fields read the way Vault's framework reads them: weakly typed (`"4"` is the integer
//! 4, `""` is 0 or false, a JSON number is accepted for a string), and refused with the same
//! messages, so clients that parse errors see what they expect.

use serde_json::{Map, Value};

use coffer_core::{Error, Result};

use super::duration;

/// A `map[string]interface{}` field (`data`, `options`, `custom_metadata`): `None` when absent
/// or null. An empty array counts as an empty map, as Go's weak decoding has it.
pub(crate) fn object(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Option<Map<String, Value>>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(Value::Array(items)) if items.is_empty() => Ok(Some(Map::new())),
        Some(other) => Err(Error::invalid(format!(
            "error converting input for field {name:?}: '' expected type 'map[string]interface {{}}', got unconvertible type '{}'",
            go_type(other)
        ))),
    }
}

/// An integer field; `None` when absent or null.
pub(crate) fn int(fields: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => weak_int(value)
            .map(Some)
            .map_err(|reason| field_error(name, &reason)),
    }
}

/// A boolean field; `None` when absent or null.
pub(crate) fn boolean(fields: &Map<String, Value>, name: &str) -> Result<Option<bool>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => weak_bool(value)
            .map(Some)
            .map_err(|reason| field_error(name, &reason)),
    }
}

/// A string field; `None` when absent or null.
pub(crate) fn string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => weak_string(value)
            .map(Some)
            .map_err(|reason| field_error(name, &reason)),
    }
}

/// A duration field in whole seconds (`"768h"`, `"30m"`, `"2d"`, `3600`, `"3600"`); `None` when
/// absent or null. Negative durations are refused unless `signed`.
pub(crate) fn duration_secs(
    fields: &Map<String, Value>,
    name: &str,
    signed: bool,
) -> Result<Option<i64>> {
    let Some(value) = fields.get(name).filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let secs = duration::parse_seconds(value).map_err(|reason| field_error(name, &reason))?;
    if secs < 0 && !signed {
        return Err(field_error(
            name,
            &format!("cannot provide negative value '{secs}'"),
        ));
    }
    Ok(Some(secs))
}

/// A comma-separated integer list (`versions`): `[1, "2"]`, `"1,2"` or `3`. Empty when absent.
pub(crate) fn int_list(fields: &Map<String, Value>, name: &str) -> Result<Vec<i64>> {
    let items: Vec<Value> = match fields.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(Value::String(text)) => text
            .split(',')
            .map(|item| Value::String(item.to_owned()))
            .collect(),
        Some(single) => vec![single.clone()],
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            weak_int(item).map_err(|reason| {
                field_error(name, &reason.replacen("''", &format!("'[{index}]'"), 1))
            })
        })
        .collect()
}

/// A custom-metadata map: every value weakly read as a string. With `keep_nulls` (a merge
/// patch), `null` values stay `None` and mean "remove".
pub(crate) fn string_map(
    raw: &Map<String, Value>,
    keep_nulls: bool,
) -> std::result::Result<Vec<(String, Option<String>)>, String> {
    raw.iter()
        .map(|(key, value)| match value {
            Value::Null if keep_nulls => Ok((key.clone(), None)),
            value => weak_string(value).map(|text| (key.clone(), Some(text))),
        })
        .collect()
}

/// A check-and-set value as given in `options.cas` (data) or `cas` (metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cas {
    /// Not given.
    Absent,
    /// Given as this number.
    Expect(i64),
    /// Given, but not a number.
    Unparsable,
}

impl Cas {
    /// Reads `field` of `map` (absent map: absent).
    pub(crate) fn read(map: Option<&Map<String, Value>>, field: &str) -> Cas {
        match map.and_then(|map| map.get(field)) {
            None => Cas::Absent,
            // Go's weak decoding turns a null into 0.
            Some(Value::Null) => Cas::Expect(0),
            Some(value) => weak_int(value).map_or(Cas::Unparsable, Cas::Expect),
        }
    }

    /// Vault's check: a given value must parse and equal `current`; none given is fine unless
    /// `required`.
    pub(crate) fn check(self, current: u64, required: bool) -> Result<()> {
        match self {
            Cas::Unparsable => Err(Error::invalid("error parsing check-and-set parameter")),
            Cas::Expect(value) if u64::try_from(value).ok() != Some(current) => Err(
                Error::invalid("check-and-set parameter did not match the current version"),
            ),
            Cas::Expect(_) => Ok(()),
            Cas::Absent if required => Err(Error::invalid(
                "check-and-set parameter required for this call",
            )),
            Cas::Absent => Ok(()),
        }
    }
}

/// Go's name for the type a JSON value decodes to, as mapstructure prints it.
pub(crate) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%q` of a string, close enough for the messages here.
pub(crate) fn quote(text: &str) -> String {
    format!("{text:?}")
}

fn field_error(name: &str, reason: &str) -> Error {
    Error::invalid(format!(
        "Field validation failed: error converting input for field {name:?}: {reason}"
    ))
}

fn weak_int(value: &Value) -> std::result::Result<i64, String> {
    match value {
        Value::Null => Ok(0),
        Value::Bool(flag) => Ok(i64::from(*flag)),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Ok(integer),
            None => parse_int(&number.to_string()),
        },
        Value::String(text) if text.is_empty() => Ok(0),
        Value::String(text) => parse_int(text),
        other => Err(format!(
            "'' expected type 'int', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

fn parse_int(text: &str) -> std::result::Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "cannot parse '' as int: strconv.ParseInt: parsing {}: invalid syntax",
            quote(text)
        ));
    }
    text.trim_start_matches('+').parse::<i64>().map_err(|_| {
        format!(
            "cannot parse '' as int: strconv.ParseInt: parsing {}: value out of range",
            quote(text)
        )
    })
}

fn weak_bool(value: &Value) -> std::result::Result<bool, String> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(flag) => Ok(*flag),
        Value::Number(number) => Ok(number.as_f64().is_some_and(|n| n != 0.0)),
        Value::String(text) => match text.as_str() {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(format!(
                "cannot parse '' as bool: strconv.ParseBool: parsing {}: invalid syntax",
                quote(text)
            )),
        },
        other => Err(format!(
            "'' expected type 'bool', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

fn weak_string(value: &Value) -> std::result::Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::Bool(flag) => Ok(if *flag { "1" } else { "0" }.to_owned()),
        Value::Number(number) => Ok(number.to_string()),
        Value::String(text) => Ok(text.clone()),
        other => Err(format!(
            "'' expected type 'string', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("test fields must be an object, not {other}"),
        }
    }

    fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
        match result {
            Err(Error::InvalidRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn integers_are_weak() {
        fn check(value: Value, expect: std::result::Result<Option<i64>, &str>) {
            let got = int(&fields(json!({ "version": value.clone() })), "version");
            match expect {
                Ok(number) => assert_eq!(got.ok().flatten(), number, "{value}"),
                Err(reason) => assert_eq!(
                    message(got),
                    format!(
                        "Field validation failed: error converting input for field \"version\": {reason}"
                    ),
                    "{value}"
                ),
            }
        }
        check(json!(3), Ok(Some(3)));
        check(json!("3"), Ok(Some(3)));
        check(json!("-2"), Ok(Some(-2)));
        check(json!("+2"), Ok(Some(2)));
        check(json!(""), Ok(Some(0)));
        check(json!(true), Ok(Some(1)));
        check(json!(null), Ok(None));
        check(
            json!("abc"),
            Err("cannot parse '' as int: strconv.ParseInt: parsing \"abc\": invalid syntax"),
        );
        check(
            json!(1.5),
            Err("cannot parse '' as int: strconv.ParseInt: parsing \"1.5\": invalid syntax"),
        );
        check(
            json!("99999999999999999999"),
            Err(
                "cannot parse '' as int: strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
        );
        check(
            json!([1]),
            Err("'' expected type 'int', got unconvertible type '[]interface {}'"),
        );
        assert_eq!(int(&Map::new(), "version").ok(), Some(None));
    }

    #[test]
    fn booleans_are_weak() {
        fn check(value: Value, expect: Option<bool>) {
            let got = boolean(&fields(json!({ "flag": value.clone() })), "flag")
                .ok()
                .flatten();
            assert_eq!(got, expect, "{value}");
        }
        check(json!(true), Some(true));
        check(json!("true"), Some(true));
        check(json!("1"), Some(true));
        check(json!("F"), Some(false));
        check(json!(""), Some(false));
        check(json!(0), Some(false));
        check(json!(2), Some(true));
        check(json!("yes"), None);
        assert_eq!(
            message(boolean(&fields(json!({"flag": "yes"})), "flag")),
            "Field validation failed: error converting input for field \"flag\": cannot parse '' as bool: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn objects() {
        let got = object(&fields(json!({"data": {"a": 1}})), "data");
        assert_eq!(got.ok().flatten(), Some(fields(json!({"a": 1}))));
        assert_eq!(
            object(&fields(json!({"data": []})), "data").ok().flatten(),
            Some(Map::new())
        );
        assert_eq!(
            object(&fields(json!({"data": null})), "data").ok(),
            Some(None)
        );
        for (value, kind) in [
            (json!("x"), "string"),
            (json!(1), "json.Number"),
            (json!(true), "bool"),
            (json!([1]), "[]interface {}"),
        ] {
            assert_eq!(
                message(object(&fields(json!({ "data": value })), "data")),
                format!(
                    "error converting input for field \"data\": '' expected type 'map[string]interface {{}}', got unconvertible type '{kind}'"
                )
            );
        }
    }

    #[test]
    fn int_lists() {
        fn check(value: Value, expect: std::result::Result<Vec<i64>, &str>) {
            let got = int_list(&fields(json!({ "versions": value.clone() })), "versions");
            match expect {
                Ok(list) => assert_eq!(got.ok(), Some(list), "{value}"),
                Err(reason) => assert_eq!(
                    message(got),
                    format!(
                        "Field validation failed: error converting input for field \"versions\": {reason}"
                    ),
                    "{value}"
                ),
            }
        }
        check(json!([1, 2]), Ok(vec![1, 2]));
        check(json!(["4"]), Ok(vec![4]));
        check(json!("1,2"), Ok(vec![1, 2]));
        check(json!(3), Ok(vec![3]));
        check(json!([]), Ok(vec![]));
        check(json!(""), Ok(vec![]));
        check(
            json!([1, "x"]),
            Err("cannot parse '[1]' as int: strconv.ParseInt: parsing \"x\": invalid syntax"),
        );
        check(
            json!([{"a": 1}]),
            Err("'[0]' expected type 'int', got unconvertible type 'map[string]interface {}'"),
        );
        assert_eq!(int_list(&Map::new(), "versions").ok(), Some(vec![]));
    }

    #[test]
    fn check_and_set() {
        fn check(
            options: Value,
            current: u64,
            required: bool,
            expect: std::result::Result<(), &str>,
        ) {
            let options = fields(options);
            let got = Cas::read(Some(&options), "cas").check(current, required);
            match expect {
                Ok(()) => assert!(got.is_ok(), "{options:?}: {got:?}"),
                Err(reason) => assert_eq!(message(got), reason, "{options:?}"),
            }
        }
        let mismatch = "check-and-set parameter did not match the current version";
        check(json!({}), 3, false, Ok(()));
        check(
            json!({}),
            3,
            true,
            Err("check-and-set parameter required for this call"),
        );
        check(json!({"cas": 3}), 3, true, Ok(()));
        check(json!({"cas": "3"}), 3, false, Ok(()));
        check(json!({"cas": 0}), 0, false, Ok(()));
        check(json!({"cas": null}), 0, false, Ok(()));
        check(json!({"cas": 2}), 3, false, Err(mismatch));
        check(json!({"cas": -1}), 3, false, Err(mismatch));
        check(
            json!({"cas": "x"}),
            3,
            false,
            Err("error parsing check-and-set parameter"),
        );
        check(
            json!({"cas": [1]}),
            3,
            false,
            Err("error parsing check-and-set parameter"),
        );
        assert_eq!(Cas::read(None, "cas"), Cas::Absent);
    }

    #[test]
    fn strings_and_string_maps() {
        assert_eq!(
            string(&fields(json!({"after": 5})), "after")
                .ok()
                .flatten()
                .as_deref(),
            Some("5")
        );
        let map = fields(json!({"a": "x", "b": 1, "c": null, "d": true}));
        assert_eq!(
            string_map(&map, true),
            Ok(vec![
                ("a".to_owned(), Some("x".to_owned())),
                ("b".to_owned(), Some("1".to_owned())),
                ("c".to_owned(), None),
                ("d".to_owned(), Some("1".to_owned())),
            ])
        );
        assert_eq!(
            string_map(&map, false).ok().and_then(|v| v.get(2).cloned()),
            Some(("c".to_owned(), Some(String::new())))
        );
        assert_eq!(
            string_map(&fields(json!({"a": {"b": 1}})), false),
            Err(
                "'' expected type 'string', got unconvertible type 'map[string]interface {}'"
                    .to_owned()
            )
        );
    }

    #[test]
    fn durations() {
        let get = |value: Value, signed: bool| {
            duration_secs(
                &fields(json!({ "delete_version_after": value })),
                "delete_version_after",
                signed,
            )
        };
        assert_eq!(get(json!("768h"), false).ok(), Some(Some(768 * 3600)));
        assert_eq!(get(json!("-1s"), true).ok(), Some(Some(-1)));
        assert_eq!(
            message(get(json!("-1s"), false)),
            "Field validation failed: error converting input for field \"delete_version_after\": cannot provide negative value '-1'"
        );
        assert_eq!(
            message(get(json!("soon"), false)),
            "Field validation failed: error converting input for field \"delete_version_after\": strconv.ParseInt: parsing \"soon\": invalid syntax"
        );
    }
}
