//! Secret data from command-line arguments, the way Vault's `kvbuilder` reads them: shared by
//! `coffer kv put|patch` and `coffer write`.

use std::io::Read;

use anyhow::Context;
use serde_json::{Map, Value};

/// Builds secret data from arguments the way Vault's `kvbuilder` does: `key=value`;
/// `key=@file` reads a file; `key=-` reads all of stdin; a lone `-` merges a JSON object read
/// from stdin; `key=\@x` is the literal `@x`; a repeated key collects its values in a list.
/// Stdin can be read once. Errors never repeat a value.
pub(crate) fn parse(args: &[String], stdin: &mut dyn Read) -> anyhow::Result<Map<String, Value>> {
    let mut data = Map::new();
    let mut stdin_used = false;
    let mut read_stdin = || -> anyhow::Result<String> {
        if stdin_used {
            anyhow::bail!("stdin can be read only once");
        }
        stdin_used = true;
        let mut text = String::new();
        stdin.read_to_string(&mut text).context("reading stdin")?;
        Ok(text)
    };
    for (index, arg) in args.iter().enumerate() {
        if arg.is_empty() {
            continue;
        }
        if arg == "-" {
            let text = read_stdin()?;
            // Parse to a Value first: serde's type errors would quote the input.
            let parsed: Value =
                serde_json::from_str(&text).context("stdin does not hold valid JSON")?;
            let Value::Object(object) = parsed else {
                anyhow::bail!("stdin must hold a JSON object");
            };
            data.extend(object);
            continue;
        }
        let Some((key, raw)) = arg.split_once('=') else {
            anyhow::bail!(
                "argument {} must be key=value, key=@file, key=- or a lone -",
                index + 1
            );
        };
        if key.is_empty() {
            anyhow::bail!("argument {} has no key before the =", index + 1);
        }
        let value = if let Some(file) = raw.strip_prefix('@') {
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the value of {key} from {file}"))?
        } else if let Some(literal) = raw.strip_prefix("\\@") {
            format!("@{literal}")
        } else if raw == "-" {
            read_stdin()?
        } else {
            raw.to_owned()
        };
        insert_repeated(&mut data, key, Value::String(value));
    }
    Ok(data)
}

/// Inserts a value; a key seen before turns into a list of all its values.
fn insert_repeated(data: &mut Map<String, Value>, key: &str, value: Value) {
    match data.get_mut(key) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            data.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// `check(args, stdin, expected data)`.
    fn check_data(args: &[&str], stdin: &str, expected: Value) {
        let got = parse(&strings(args), &mut stdin.as_bytes())
            .unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        assert_eq!(Value::Object(got), expected, "{args:?}");
    }

    fn check_data_error(args: &[&str], stdin: &str, expected: &str) {
        match parse(&strings(args), &mut stdin.as_bytes()) {
            Ok(data) => panic!("{args:?} parsed as {data:?}"),
            Err(error) => assert_eq!(format!("{error:#}"), expected, "{args:?}"),
        }
    }

    #[test]
    fn data_arguments() {
        check_data(&["a=b"], "", json!({"a": "b"}));
        check_data(&["a=b", "c=d=e"], "", json!({"a": "b", "c": "d=e"}));
        check_data(&["empty="], "", json!({"empty": ""}));
        check_data(&["", "a=1"], "", json!({"a": "1"}));
        check_data(&["a=1", "a=2", "a=3"], "", json!({"a": ["1", "2", "3"]}));
        check_data(&["at=\\@home"], "", json!({"at": "@home"}));
        check_data(&["pw=-"], "line\n", json!({"pw": "line\n"}));
        check_data(&["-"], r#"{"n": 1, "s": "x"}"#, json!({"n": 1, "s": "x"}));
        check_data(&["-", "s=y"], r#"{"s": "x"}"#, json!({"s": ["x", "y"]}));
    }

    #[test]
    fn data_argument_errors_do_not_echo_values() {
        check_data_error(
            &["s3cr3t"],
            "",
            "argument 1 must be key=value, key=@file, key=- or a lone -",
        );
        check_data_error(&["=v"], "", "argument 1 has no key before the =");
        check_data_error(&["a=-", "b=-"], "x", "stdin can be read only once");
        check_data_error(&["-"], "\"s3cr3t\"", "stdin must hold a JSON object");
        let error = parse(&strings(&["-"]), &mut "s3cr3t".as_bytes())
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
        assert!(
            error.as_ref().is_err_and(|e| !e.contains("s3cr3t")),
            "{error:?}"
        );
    }

    #[test]
    fn data_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key.pem");
        std::fs::write(&file, "-----BEGIN-----\nabc\n").expect("write");
        let arg = format!("cert=@{}", file.display());
        check_data(&[&arg], "", json!({"cert": "-----BEGIN-----\nabc\n"}));
        let missing = format!("cert=@{}", dir.path().join("nope").display());
        assert!(parse(&strings(&[&missing]), &mut "".as_bytes()).is_err());
    }
}
