//! A strict reader for the block-style YAML subset that export files use (and that
//! `output::to_yaml` writes): block mappings and sequences (go-yaml's "list items at the key's
//! indent" too), plain, single- and double-quoted scalars, `|`/`|-` literal blocks, `{}` and `[]`,
//! and comments. Anything else (anchors, tags, flow collections, folded blocks, tabs in
//! indentation, repeated keys) is refused with the line number, never silently misread.

use anyhow::{Context as _, bail};
use serde_json::{Map, Number, Value};

/// Parses a YAML document of the supported subset into a JSON value.
pub(crate) fn parse(text: &str) -> anyhow::Result<Value> {
    let mut lines = Vec::new();
    for (at, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let number = at + 1;
        let content = raw.trim_start_matches(' ');
        if content.starts_with('\t') {
            bail!("line {number}: tabs are not allowed in indentation");
        }
        lines.push(Line {
            indent: raw.len() - content.len(),
            text: content.to_owned(),
            number,
            raw: raw.to_owned(),
        });
    }
    let mut parser = Parser { lines, at: 0 };
    parser.skip_blank();
    if parser
        .peek()
        .is_some_and(|line| line.text.trim_end() == "---")
    {
        parser.at += 1;
        parser.skip_blank();
    }
    let Some(first) = parser.peek() else {
        return Ok(Value::Null);
    };
    let indent = first.indent;
    let value = parser.node(indent)?;
    parser.skip_blank();
    if let Some(line) = parser.peek() {
        bail!("line {}: unexpected indentation", line.number);
    }
    Ok(value)
}

struct Line {
    indent: usize,
    text: String,
    number: usize,
    raw: String,
}

struct Parser {
    lines: Vec<Line>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Line> {
        self.lines.get(self.at)
    }

    /// Moves past blank and comment-only lines.
    fn skip_blank(&mut self) {
        while let Some(line) = self.peek() {
            let text = line.text.trim_end();
            if text.is_empty() || text.starts_with('#') {
                self.at += 1;
            } else {
                break;
            }
        }
    }

    /// A node whose first line is the current line, at exactly `indent`.
    fn node(&mut self, indent: usize) -> anyhow::Result<Value> {
        let Some(line) = self.peek() else {
            return Ok(Value::Null);
        };
        if is_item(&line.text) {
            self.sequence(indent)
        } else if split_key(&line.text, line.number)?.is_some() {
            self.mapping(indent)
        } else {
            let number = line.number;
            let text = line.text.clone();
            self.at += 1;
            self.scalar_or_block(&text, number, indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(line) = self.peek() else { break };
            if line.indent != indent || !is_item(&line.text) {
                if line.indent > indent {
                    bail!("line {}: unexpected indentation", line.number);
                }
                break;
            }
            let number = line.number;
            let rest = line.text[1..].trim_start().to_owned();
            let rest_indent = indent + (line.text.len() - rest.len());
            let rest = rest.trim_end().to_owned();
            if rest.is_empty() || rest.starts_with('#') {
                self.at += 1;
                self.skip_blank();
                match self.peek() {
                    Some(next) if next.indent > indent => {
                        let child = next.indent;
                        items.push(self.node(child)?);
                    }
                    _ => items.push(Value::Null),
                }
            } else if is_item(&rest) || split_key(&rest, number)?.is_some() {
                // The item's first line continues after the dash: read it as if it started there.
                let current = &mut self.lines[self.at];
                current.indent = rest_indent;
                current.text = rest;
                items.push(self.node(rest_indent)?);
            } else {
                self.at += 1;
                items.push(self.scalar_or_block(&rest, number, indent)?);
            }
        }
        Ok(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> anyhow::Result<Value> {
        let mut map = Map::new();
        loop {
            self.skip_blank();
            let Some(line) = self.peek() else { break };
            if line.indent != indent {
                if line.indent > indent {
                    bail!("line {}: unexpected indentation", line.number);
                }
                break;
            }
            let number = line.number;
            let Some((key, rest)) = split_key(&line.text, number)? else {
                if is_item(&line.text) {
                    break;
                }
                bail!("line {number}: expected `key: value`");
            };
            if map.contains_key(&key) {
                bail!("line {number}: the key {key:?} appears twice");
            }
            let rest = rest.trim().to_owned();
            self.at += 1;
            let value = if rest.is_empty() || rest.starts_with('#') {
                self.skip_blank();
                match self.peek() {
                    Some(next) if next.indent > indent => {
                        let child = next.indent;
                        self.node(child)?
                    }
                    Some(next) if next.indent == indent && is_item(&next.text) => {
                        self.sequence(indent)?
                    }
                    _ => Value::Null,
                }
            } else {
                self.scalar_or_block(&rest, number, indent)?
            };
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    /// A scalar on one line, or a `|` literal block on the lines below, deeper than `indent`.
    fn scalar_or_block(
        &mut self,
        text: &str,
        number: usize,
        indent: usize,
    ) -> anyhow::Result<Value> {
        let header = strip_comment(text);
        if header == "|" || header == "|-" {
            return Ok(Value::String(self.literal_block(indent, header == "|")));
        }
        scalar(text, number)
    }

    fn literal_block(&mut self, indent: usize, keep_newline: bool) -> String {
        let mut block_indent = None;
        let mut body: Vec<String> = Vec::new();
        while let Some(line) = self.peek() {
            let blank = line.raw.trim().is_empty();
            if !blank {
                let wanted = *block_indent.get_or_insert(line.indent);
                if line.indent <= indent || line.indent < wanted {
                    break;
                }
            }
            let cut = block_indent.unwrap_or(0);
            body.push(line.raw.get(cut..).unwrap_or("").to_owned());
            self.at += 1;
        }
        while body.last().is_some_and(|line| line.trim().is_empty()) {
            body.pop();
        }
        let mut text = body.join("\n");
        if keep_newline && !body.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// Whether a line is a sequence item (`- x` or a lone `-`).
fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ") || text.trim_end() == "-"
}

/// Splits `key: rest` (plain or quoted key); `None` when the line is no mapping entry.
fn split_key(text: &str, number: usize) -> anyhow::Result<Option<(String, String)>> {
    if let Some(quote @ ('"' | '\'')) = text.chars().next() {
        let (key, after) = quoted(text, quote, number)?;
        let after = after.trim_start();
        return Ok(after
            .strip_prefix(':')
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
            .map(|rest| (key, rest.to_owned())));
    }
    let bytes = text.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && at > 0 && bytes[at - 1] == b' ' {
            return Ok(None);
        }
        if *byte == b':' && bytes.get(at + 1).is_none_or(|next| *next == b' ') {
            let key = text[..at].trim_end();
            if key.is_empty() {
                return Ok(None);
            }
            return Ok(Some((key.to_owned(), text[at + 1..].to_owned())));
        }
    }
    Ok(None)
}

/// Drops a ` #` comment from a plain scalar.
fn strip_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && (at == 0 || bytes[at - 1] == b' ') {
            return text[..at].trim_end();
        }
    }
    text.trim_end()
}

/// A one-line scalar.
fn scalar(text: &str, number: usize) -> anyhow::Result<Value> {
    if let Some(quote @ ('"' | '\'')) = text.chars().next() {
        let (value, after) = quoted(text, quote, number)?;
        let after = after.trim_start();
        if !after.is_empty() && !after.starts_with('#') {
            bail!("line {number}: unexpected text after a quoted string");
        }
        return Ok(Value::String(value));
    }
    let plain = strip_comment(text);
    match plain {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        "{}" => return Ok(Value::Object(Map::new())),
        "[]" => return Ok(Value::Array(Vec::new())),
        _ => {}
    }
    if plain.starts_with(|first: char| "&*!{[|>@`%".contains(first)) {
        bail!(
            "line {number}: anchors, aliases, tags, flow collections and folded blocks are not supported; quote the string"
        );
    }
    if let Ok(integer) = plain.parse::<i64>() {
        return Ok(Value::Number(integer.into()));
    }
    if plain.contains(['.', 'e', 'E'])
        && plain.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && let Some(number) = plain.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Ok(Value::Number(number));
    }
    Ok(Value::String(plain.to_owned()))
}

/// A quoted string at the start of `text`; returns it and what follows the closing quote.
fn quoted(text: &str, quote: char, number: usize) -> anyhow::Result<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        if c == quote {
            if quote == '\'' && text[at + 1..].starts_with('\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Ok((out, &text[at + 1..]));
        }
        if c == '\\' && quote == '"' {
            let Some((_, escaped)) = chars.next() else {
                break;
            };
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '"' | '\\' | '/' | ' ' => out.push(escaped),
                'u' | 'x' | 'U' => {
                    let width = match escaped {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut hex = String::new();
                    for _ in 0..width {
                        let (_, digit) = chars.next().with_context(|| {
                            format!("line {number}: a short \\{escaped} escape")
                        })?;
                        hex.push(digit);
                    }
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .with_context(|| format!("line {number}: a bad \\{escaped} escape"))?;
                    out.push(code);
                }
                other => bail!("line {number}: unknown escape \\{other} in a double-quoted string"),
            }
            continue;
        }
        out.push(c);
    }
    bail!(
        "line {number}: a quoted string is never closed (multi-line quoted strings are not supported)"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::output::to_yaml;

    fn check(text: &str, expected: Value) {
        assert_eq!(parse(text).expect("parses"), expected, "parsing {text}");
    }

    fn check_error(text: &str, expected: &str) {
        assert_eq!(
            parse(text).expect_err("refused").to_string(),
            expected,
            "parsing {text}"
        );
    }

    #[test]
    fn reads_what_to_yaml_writes() {
        let values = [
            json!({"a": 1, "b": "two", "c": [1, "x", {"d": true, "e": null}], "f": {}, "g": []}),
            json!({"secrets": [{"name": "A", "tags": ["api", "production"], "metadata": {"owner": "x"}}]}),
            json!({"weird": ["", " lead", "trail ", "a: b", "#x", "null", "1.5", "yes", "line\nnext\ttab\"q\"\\", "ü ✓ \u{7}", "- dash", "k:"]}),
            json!([[1, 2], [], {"a": [{"b": 1}]}]),
            json!({"n": -3, "f": 2.5, "big": 12345678901_i64}),
        ];
        for value in values {
            check(&to_yaml(&value), value);
        }
    }

    #[test]
    fn reads_hand_written_yaml() {
        check(
            "---\n# exported\nsecrets:\n  - name: API_KEY   # the key\n    value: 'it''s'\n    tags:\n      - api\n    note: |\n      line one\n      line two\n    cert: |-\n      abc\n  - name: \"B\"\n",
            json!({"secrets": [
                {"name": "API_KEY", "value": "it's", "tags": ["api"], "note": "line one\nline two\n", "cert": "abc"},
                {"name": "B"}
            ]}),
        );
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        check_error("a: 1\na: 2\n", "line 2: the key \"a\" appears twice");
        check_error(
            "a: &x 1\n",
            "line 1: anchors, aliases, tags, flow collections and folded blocks are not supported; quote the string",
        );
        check_error(
            "a: [1, 2]\n",
            "line 1: anchors, aliases, tags, flow collections and folded blocks are not supported; quote the string",
        );
        check_error(
            "a: \"open\n",
            "line 1: a quoted string is never closed (multi-line quoted strings are not supported)",
        );
        check_error(
            "a:\n\tb: 1\n",
            "line 2: tabs are not allowed in indentation",
        );
        check_error("a: 1\n   b: 2\n", "line 2: unexpected indentation");
        check_error(
            "a: \"\\q\"\n",
            "line 1: unknown escape \\q in a double-quoted string",
        );
    }
}
