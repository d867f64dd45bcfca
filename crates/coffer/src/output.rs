//! Everything the CLI prints: aligned tables for people, JSON or YAML for machines, and the
//! server banner. The only module allowed to write to stdout. Tables and cells follow Vault's
//! CLI (`columnize` with four-space glue, `%v` cells, empty cells shown as `n/a`), and the YAML
//! emitter is a small dependency-free one for `serde_json::Value`.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;

use clap::ValueEnum;
use coffer_core::DevInit;
use serde_json::Value;

/// Output format, `-format=table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Aligned key/value tables.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints a line to stdout.
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// Prints a line to stderr: failures that Vault's CLI reports without an `Error:` prefix, such
/// as `No value found at …`.
pub(crate) fn error_line(text: &str) {
    eprintln!("{text}");
}

/// Prints the server's warnings to stderr, like Vault's CLI.
pub(crate) fn warnings(warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    eprintln!("WARNING! The following warnings were returned from the server:");
    eprintln!();
    for warning in warnings {
        eprintln!("  * {warning}");
    }
    eprintln!();
}

/// Prints text to stdout without a newline (for `-field` when piped).
pub(crate) fn raw(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// Prints pretty JSON.
pub(crate) fn json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("cannot print JSON: {error}"),
    }
}

/// Prints a value in a machine format: YAML for [`Format::Yaml`], JSON otherwise.
pub(crate) fn encoded(format: Format, value: &Value) {
    match format {
        Format::Yaml => print!("{}", to_yaml(value)),
        Format::Json | Format::Table => json(value),
    }
}

/// Prints an aligned `Key  Value` table.
pub(crate) fn table(rows: &[(String, String)]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(key, value)| vec![key.clone(), value.clone()])
        .collect();
    print!("{}", columns(&["Key", "Value"], &rows));
}

/// Prints an aligned table with these column headers, like Vault's `secrets list`.
pub(crate) fn column_table(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", columns(headers, rows));
}

/// Prints one column under a header and its underline (`Keys` / `----`), like `kv list`.
pub(crate) fn list(header: &str, items: &[String]) {
    let rows: Vec<Vec<String>> = items.iter().map(|item| vec![item.clone()]).collect();
    print!("{}", columns(&[header], &rows));
}

/// Lays out a table the way Vault's CLI does (`columnize`): a header row, a row of dashes as
/// long as each header, then the rows; columns are left-aligned and joined by four spaces, the
/// last column is not padded, and cells are trimmed with empty ones shown as `n/a`.
pub(crate) fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let underline: Vec<String> = headers.iter().map(|h| "-".repeat(h.len())).collect();
    let mut lines: Vec<Vec<String>> =
        vec![headers.iter().map(|h| (*h).to_owned()).collect(), underline];
    for row in rows {
        lines.push(
            row.iter()
                .map(|cell| match cell.trim() {
                    "" => "n/a".to_owned(),
                    trimmed => trimmed.to_owned(),
                })
                .collect(),
        );
    }
    let count = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            lines
                .iter()
                .filter_map(|line| line.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                let width = widths.get(i).copied().unwrap_or(0);
                text.push_str(&format!("{cell:<width$}    "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// A `=== Title ===` header as wide as a `Key  Value` table whose longest key has `key_width`
/// characters, like Vault's `getHeaderForMap`.
pub(crate) fn section_header(title: &str, key_width: usize) -> String {
    // Four spaces of glue plus the width of "Value".
    padded_header(title, key_width + 4 + 5)
}

/// Vault's `padEqualSigns`: `title` centred in `=` signs over `total` characters, at least two
/// signs on each side.
pub(crate) fn padded_header(title: &str, total: usize) -> String {
    let mut signs = total.saturating_sub(title.chars().count() + 2);
    if signs == 0 {
        signs = 4;
    }
    if !signs.is_multiple_of(2) {
        signs += 1;
    }
    let side = "=".repeat(signs / 2);
    format!("{side} {title} {side}")
}

/// How a JSON value prints in a table cell, like Vault's CLI (Go's `%v`): `<nil>` for null,
/// `[a b]` for lists and `map[k:v]` for maps.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(cell).collect::<Vec<_>>().join(" "))
        }
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", cell(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// What the server banner shows.
pub(crate) struct Banner<'a> {
    /// Address clients should use.
    pub(crate) api_addr: String,
    /// The bound address.
    pub(crate) listen: SocketAddr,
    /// Whether TLS is on.
    pub(crate) tls: bool,
    /// Storage kind.
    pub(crate) storage: &'a str,
    /// Log level.
    pub(crate) log_level: &'a str,
    /// Dev-mode credentials, printed once.
    pub(crate) dev: Option<&'a DevInit>,
}

/// Prints the server banner (and, in dev mode, the unseal key and root token).
pub(crate) fn server_banner(banner: &Banner<'_>) {
    println!("==> Coffer server configuration:");
    println!();
    println!("             Api Address: {}", banner.api_addr);
    println!("          Listen Address: {}", banner.listen);
    println!(
        "                     TLS: {}",
        if banner.tls { "enabled" } else { "disabled" }
    );
    println!("                 Storage: {}", banner.storage);
    println!("               Log Level: {}", banner.log_level);
    println!("                 Version: Coffer v{}", coffer_core::VERSION);
    println!();
    if let Some(dev) = banner.dev {
        println!(
            "WARNING! dev mode is enabled! In this mode, Coffer runs entirely unsealed with a"
        );
        println!("single unseal key and prints the root token below. Data is not durable.");
        println!();
        println!("You may need to set the following environment variables:");
        println!();
        println!("    $ export COFFER_ADDR='{}'", banner.api_addr);
        println!("    $ export VAULT_ADDR='{}'", banner.api_addr);
        println!();
        println!("Unseal Key: {}", dev.unseal_key.to_base64().as_str());
        println!("Root Token: {}", dev.root_token.expose());
        println!();
        println!("Development mode should NOT be used in production installations!");
        println!();
    }
    println!("==> Coffer server started! Log data will stream in below:");
    println!();
    let _ = std::io::stdout().flush();
}

/// Renders a JSON value as a block-style YAML document, the way Vault's `-format=yaml` looks:
/// map keys in order, two-space indents for nested maps, list items at their parent key's
/// indent (go-yaml style), `{}`/`[]` for empty collections, and strings double-quoted whenever
/// a YAML reader could take them for something else (numbers, booleans, null, indicators,
/// newlines).
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    if is_block(value) {
        yaml_block(&mut out, value, 0);
    } else {
        out.push_str(&yaml_inline(value));
        out.push('\n');
    }
    out
}

/// Whether a value is written as indented lines (a non-empty map or list).
fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// Writes a non-empty map or list as lines starting at `indent` spaces.
fn yaml_block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&yaml_string(key));
                out.push(':');
                match item {
                    Value::Object(_) if is_block(item) => {
                        out.push('\n');
                        yaml_block(out, item, indent + 2);
                    }
                    Value::Array(_) if is_block(item) => {
                        out.push('\n');
                        yaml_block(out, item, indent);
                    }
                    scalar => {
                        out.push(' ');
                        out.push_str(&yaml_inline(scalar));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                if is_block(item) {
                    // Render the item one level deeper, then put its first line after the dash.
                    let mut nested = String::new();
                    yaml_block(&mut nested, item, indent + 2);
                    out.push_str(nested.get(indent + 2..).unwrap_or(&nested));
                } else {
                    out.push_str(&yaml_inline(item));
                    out.push('\n');
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_inline(scalar));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection on one line.
fn yaml_inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string as a plain scalar when that reads back as the same string, double-quoted otherwise.
fn yaml_string(text: &str) -> String {
    if !needs_quotes(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_special_char(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that never appear raw in our output: controls and Unicode line breaks or BOM.
fn is_special_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether a plain scalar would be read as something other than this exact string. The test is
/// deliberately conservative: quoting a string that did not need it is still correct YAML.
fn needs_quotes(text: &str) -> bool {
    const RESERVED: [&str; 10] = [
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    let (Some(first), Some(last)) = (text.chars().next(), text.chars().last()) else {
        return true;
    };
    RESERVED.iter().any(|word| text.eq_ignore_ascii_case(word))
        || first.is_ascii_digit()
        || first.is_whitespace()
        || last.is_whitespace()
        || "-?:,[]{}#&*!|>'\"%@`.<=+".contains(first)
        || text.ends_with(':')
        || text.contains(": ")
        || text.contains(" #")
        || text.chars().any(is_special_char)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_yaml(value: Value, expected: &str) {
        assert_eq!(to_yaml(&value), expected, "YAML of {value}");
    }

    #[test]
    fn yaml_scalars() {
        check_yaml(json!(null), "null\n");
        check_yaml(json!(true), "true\n");
        check_yaml(json!(42), "42\n");
        check_yaml(json!(-1.5), "-1.5\n");
        check_yaml(json!("plain"), "plain\n");
        check_yaml(json!({}), "{}\n");
        check_yaml(json!([]), "[]\n");
    }

    #[test]
    fn yaml_strings_that_need_quotes() {
        let cases = [
            ("", r#""""#),
            ("true", r#""true""#),
            ("False", r#""False""#),
            ("null", r#""null""#),
            ("~", r#""~""#),
            ("yes", r#""yes""#),
            ("off", r#""off""#),
            ("5432", r#""5432""#),
            ("1.0", r#""1.0""#),
            ("2025-09-25", r#""2025-09-25""#),
            ("-5", r#""-5""#),
            (".inf", r#"".inf""#),
            ("a: b", r#""a: b""#),
            ("key:", r#""key:""#),
            ("x #comment", r#""x #comment""#),
            ("#tag", r##""#tag""##),
            ("*alias", r#""*alias""#),
            ("&anchor", r#""&anchor""#),
            ("!tag", r#""!tag""#),
            ("@file", r#""@file""#),
            ("{a}", r#""{a}""#),
            ("[a]", r#""[a]""#),
            ("'q'", r#""'q'""#),
            ("\"q\"", r#""\"q\"""#),
            (" lead", r#"" lead""#),
            ("trail ", r#""trail ""#),
            ("line1\nline2", r#""line1\nline2""#),
            ("tab\there", r#""tab\there""#),
            ("back\\slash\n", r#""back\\slash\n""#),
            ("bell\u{7}", r#""bell\u0007""#),
            ("sep\u{2028}", r#""sep\u2028""#),
        ];
        for (input, expected) in cases {
            assert_eq!(yaml_string(input), expected, "{input:?}");
        }
    }

    #[test]
    fn yaml_strings_left_plain() {
        for input in [
            "sk-proj-your-openai-key-here",
            "db.example.com",
            "redis://cache.example.com:6379",
            "a:b",
            "a#b",
            "it's",
            "hello world",
            "truely",
            "n/a",
            "ünïcödé",
        ] {
            assert_eq!(yaml_string(input), input, "{input:?}");
        }
    }

    #[test]
    fn yaml_nested_maps_and_lists() {
        check_yaml(
            json!({"data": {"data": {"a": "b"}, "metadata": {"version": 1, "custom_metadata": null}}, "warnings": null}),
            "data:\n  data:\n    a: b\n  metadata:\n    custom_metadata: null\n    version: 1\nwarnings: null\n",
        );
        check_yaml(
            json!({"keys": ["a", "b/"], "empty_map": {}, "empty_list": []}),
            "empty_list: []\nempty_map: {}\nkeys:\n- a\n- b/\n",
        );
        check_yaml(json!(["x", "true", ""]), "- x\n- \"true\"\n- \"\"\n");
        check_yaml(
            json!([{"a": 1, "b": [1, 2]}, [3, [4]], {}]),
            "- a: 1\n  b:\n  - 1\n  - 2\n- - 3\n  - - 4\n- {}\n",
        );
        check_yaml(
            json!({"outer": [{"k": {"deep": "v"}}]}),
            "outer:\n- k:\n    deep: v\n",
        );
        check_yaml(
            json!({"a: b": "x", "": "empty key"}),
            "\"\": empty key\n\"a: b\": x\n",
        );
    }

    #[test]
    fn cells_read_like_go() {
        let cases = [
            (json!(null), "<nil>"),
            (json!("s"), "s"),
            (json!(false), "false"),
            (json!(3), "3"),
            (json!(["a", "b"]), "[a b]"),
            (json!({"b": 1, "a": null}), "map[a:<nil> b:1]"),
        ];
        for (value, expected) in cases {
            assert_eq!(cell(&value), expected, "{value}");
        }
    }

    #[test]
    fn columns_align_like_columnize() {
        let rows = vec![
            vec!["created_time".to_owned(), "2025".to_owned()],
            vec!["deletion_time".to_owned(), String::new()],
            vec!["version".to_owned(), "1".to_owned()],
        ];
        assert_eq!(
            columns(&["Key", "Value"], &rows),
            "Key              Value\n\
             ---              -----\n\
             created_time     2025\n\
             deletion_time    n/a\n\
             version          1\n"
        );
        assert_eq!(
            columns(&["Keys"], &[vec!["a".to_owned()], vec!["sub/".to_owned()]]),
            "Keys\n----\na\nsub/\n"
        );
    }

    #[test]
    fn headers_pad_like_vault() {
        // Widths from Vault: "custom_metadata" (15) is the longest metadata key.
        assert_eq!(section_header("Metadata", 15), "======= Metadata =======");
        assert_eq!(section_header("Data", 12), "======== Data ========");
        assert_eq!(
            padded_header("Secret Path", "secret/data/api-keys/openai".len()),
            "======= Secret Path ======="
        );
        assert_eq!(padded_header("Secret Path", 3), "== Secret Path ==");
    }
}
