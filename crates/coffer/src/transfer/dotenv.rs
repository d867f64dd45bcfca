//! The dotenv format: `NAME=value` lines, read the way the common dotenv loaders read them
//! (`export ` prefixes, `#` comments, single quotes taken literally, double quotes with `\n`,
//! `\t`, `\r`, `\"`, `\\` and `\$` escapes, quoted values spanning lines) and written so every
//! one of those loaders reads back the same string. Errors name the line and never the value.

use anyhow::bail;
use zeroize::Zeroizing;

/// One `NAME=value` assignment of a dotenv file.
pub(crate) struct Entry {
    /// The variable name.
    pub(crate) name: String,
    /// The value, unquoted and unescaped.
    pub(crate) value: Zeroizing<String>,
    /// The 1-based line the assignment starts on.
    pub(crate) line: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("line", &self.line)
            .finish()
    }
}

/// Parses a whole dotenv file, refusing it at the first malformed line or repeated name.
pub(crate) fn parse(text: &str) -> anyhow::Result<Vec<Entry>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut entries: Vec<Entry> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let line = lines[index].strip_suffix('\r').unwrap_or(lines[index]);
        index += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let assignment = match trimmed.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
            _ => trimmed,
        };
        let Some((name, rest)) = assignment.split_once('=') else {
            bail!("line {number}: expected NAME=value");
        };
        let name = name.trim_end();
        if !valid_name(name) {
            bail!(
                "line {number}: {:?} is not a valid name (letters, digits, `.`, `_` and `-`)",
                name
            );
        }
        if let Some(earlier) = entries.iter().find(|entry| entry.name == name) {
            bail!(
                "line {number}: {name} is already set on line {}",
                earlier.line
            );
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let (value, tail) = quoted(&rest[1..], quote, &lines, &mut index, number, name)?;
                let tail = tail.trim_start();
                if !tail.is_empty() && !tail.starts_with('#') {
                    bail!("line {number}: unexpected text after the quoted value of {name}");
                }
                value
            }
            _ => Zeroizing::new(bare(rest).to_owned()),
        };
        entries.push(Entry {
            name: name.to_owned(),
            value,
            line: number,
        });
    }
    Ok(entries)
}

/// Renders assignments as a dotenv file, one `NAME=value` line each, quoting where needed.
pub(crate) fn render<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (name, value) in entries {
        out.push_str(name);
        out.push('=');
        if value.chars().all(is_bare_char) && !value.is_empty() {
            out.push_str(value);
        } else {
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '$' => out.push_str("\\$"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('\n');
    }
    out
}

/// Whether a name can be written as a dotenv variable name.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Characters a value may hold and still be written without quotes.
fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:@+,=%^~".contains(c)
}

/// An unquoted value: up to an inline ` #` comment, trimmed.
fn bare(rest: &str) -> &str {
    let mut end = rest.len();
    let mut previous = ' ';
    for (at, c) in rest.char_indices() {
        if c == '#' && previous.is_whitespace() {
            end = at;
            break;
        }
        previous = c;
    }
    rest[..end].trim()
}

/// A quoted value starting right after its opening quote, possibly continuing on the next lines.
/// Returns the value and what follows the closing quote on its line; `index` moves past every
/// line the value used.
fn quoted<'a>(
    first: &'a str,
    quote: char,
    lines: &[&'a str],
    index: &mut usize,
    number: usize,
    name: &str,
) -> anyhow::Result<(Zeroizing<String>, &'a str)> {
    let mut value = Zeroizing::new(String::new());
    let mut current = first;
    loop {
        let mut chars = current.char_indices();
        while let Some((at, c)) = chars.next() {
            if c == quote {
                return Ok((value, &current[at + 1..]));
            }
            if c == '\\' && quote == '"' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, escaped @ ('"' | '\\' | '$' | '\''))) => value.push(escaped),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                }
                continue;
            }
            value.push(c);
        }
        let Some(next) = lines.get(*index) else {
            let kind = if quote == '"' { "double" } else { "single" };
            bail!("line {number}: the {kind}-quoted value of {name} is never closed");
        };
        *index += 1;
        value.push('\n');
        current = next.strip_suffix('\r').unwrap_or(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[(&str, &str)]) {
        let entries = parse(text).expect("parses");
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|entry| (entry.name.as_str(), entry.value.as_str()))
            .collect();
        assert_eq!(got, expected, "parsing {text:?}");
    }

    fn check_error(text: &str, expected: &str) {
        let error = parse(text).expect_err("refused").to_string();
        assert_eq!(error, expected, "parsing {text:?}");
    }

    #[test]
    fn plain_lines_comments_and_export() {
        check(
            "# a comment\n\nA=1\nexport B=two\n  C = spaced value  \nD=\nE=x # note\nF=a#b\r\n",
            &[
                ("A", "1"),
                ("B", "two"),
                ("C", "spaced value"),
                ("D", ""),
                ("E", "x"),
                ("F", "a#b"),
            ],
        );
    }

    #[test]
    fn quotes_and_escapes() {
        check(
            r#"A="hello world"
B='single $HOME \n kept'
C="line\nnext\ttab \"q\" \\ \$HOME"
D="has # hash" # comment
E=''
F="unknown \x escape"
"#,
            &[
                ("A", "hello world"),
                ("B", "single $HOME \\n kept"),
                ("C", "line\nnext\ttab \"q\" \\ $HOME"),
                ("D", "has # hash"),
                ("E", ""),
                ("F", "unknown \\x escape"),
            ],
        );
    }

    #[test]
    fn quoted_values_span_lines() {
        check(
            "KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT='a\nb'\n",
            &[
                ("KEY", "-----BEGIN-----\nabc\n-----END-----"),
                ("NEXT", "a\nb"),
            ],
        );
    }

    #[test]
    fn malformed_lines_name_the_line_not_the_value() {
        check_error("A=1\nnot an assignment\n", "line 2: expected NAME=value");
        check_error(
            "A=1\nB=\"open secret-value\n",
            "line 2: the double-quoted value of B is never closed",
        );
        check_error(
            "A='closed' secret-tail\n",
            "line 1: unexpected text after the quoted value of A",
        );
        check_error(
            "BAD NAME=1\n",
            "line 1: \"BAD NAME\" is not a valid name (letters, digits, `.`, `_` and `-`)",
        );
        check_error("A=1\nA=2\n", "line 2: A is already set on line 1");
        check_error(
            "=1\n",
            "line 1: \"\" is not a valid name (letters, digits, `.`, `_` and `-`)",
        );
    }

    #[test]
    fn render_quotes_only_when_needed_and_reads_back() {
        let values = [
            ("PLAIN", "abc-123_./:@+,="),
            ("EMPTY", ""),
            ("SPACE", "two words"),
            ("HASH", "a #b"),
            ("NEWLINE", "one\ntwo\r\n"),
            ("QUOTES", "it's \"quoted\""),
            ("BACKSLASH", "C:\\path\\n"),
            ("DOLLAR", "$HOME ${X}"),
            ("UNICODE", "pässwörd ✓"),
            ("TAB", "\tx"),
        ];
        let text = render(values.iter().copied());
        assert!(text.starts_with("PLAIN=abc-123_./:@+,=\nEMPTY=\"\"\nSPACE=\"two words\"\n"));
        check(&text, &values);
    }
}
