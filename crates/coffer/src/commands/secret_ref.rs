//! Secret references in templates and secret values: `coffer://<mount>/<path>[#field]`, e.g.
//! `coffer://secret/myapp/database#password` (no `#field` means the `value` key). A backslash
//! before the scheme (`\coffer://`) is the escape for a literal `coffer://`. References inside a
//! referenced value are resolved too, at most [`MAX_DEPTH`] levels deep; a cycle is an error.
//! Parsing and rendering are pure: the caller fetches the secrets between the two steps.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::{Map, Value};

/// The scheme that starts a reference.
const SCHEME: &str = "coffer://";

/// How many levels of references inside referenced values are followed.
pub(crate) const MAX_DEPTH: usize = 8;

/// The field read when a reference names none.
const DEFAULT_FIELD: &str = "value";

/// One parsed reference. Its text (`Display`) names the secret and field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SecretRef {
    mount: String,
    path: String,
    field: String,
}

impl SecretRef {
    /// The mount, e.g. `secret`.
    pub(crate) fn mount(&self) -> &str {
        &self.mount
    }

    /// The secret's path inside the mount, e.g. `myapp/database`.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}#{}", self.mount, self.path, self.field)
    }
}

/// A piece of a parsed text: literal text or a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Ref(SecretRef),
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Splits `text` into literal pieces and references. `where_` names the text in errors (the
/// template file, or the reference whose value this is).
fn parse(text: &str, where_: &str) -> anyhow::Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(SCHEME) {
        let (before, from_scheme) = rest.split_at(at);
        if let Some(kept) = before.strip_suffix('\\') {
            // `\coffer://` is a literal `coffer://`.
            literal.push_str(kept);
            literal.push_str(SCHEME);
            rest = &from_scheme[SCHEME.len()..];
            continue;
        }
        literal.push_str(before);
        let body = &from_scheme[SCHEME.len()..];
        let path_len = body.find(|c| !is_path_char(c)).unwrap_or(body.len());
        let location = &body[..path_len];
        let mut consumed = path_len;
        let field = match body[path_len..].strip_prefix('#') {
            Some(after) => {
                let field_len = after.find(|c| !is_field_char(c)).unwrap_or(after.len());
                consumed += 1 + field_len;
                if field_len == 0 {
                    anyhow::bail!(
                        "malformed reference {SCHEME}{location}# in {where_}: the field after # is empty"
                    );
                }
                after[..field_len].to_owned()
            }
            None => DEFAULT_FIELD.to_owned(),
        };
        let reference = parse_location(location, field).with_context(|| {
            format!("malformed reference {SCHEME}{location} in {where_} (write \\{SCHEME} for a literal {SCHEME})")
        })?;
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Ref(reference));
        rest = &body[consumed..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

fn parse_location(location: &str, field: String) -> anyhow::Result<SecretRef> {
    let (mount, path) = location
        .split_once('/')
        .context("expected coffer://<mount>/<path>[#field]")?;
    if mount.is_empty() || path.is_empty() {
        anyhow::bail!("expected coffer://<mount>/<path>[#field]");
    }
    if path.split('/').any(|segment| segment.is_empty()) {
        anyhow::bail!("the path has an empty segment");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        anyhow::bail!("the path may not contain . or .. segments");
    }
    Ok(SecretRef {
        mount: mount.to_owned(),
        path: path.to_owned(),
        field,
    })
}

/// The references a text holds (escapes excluded), in order of first appearance.
pub(crate) fn references(text: &str, where_: &str) -> anyhow::Result<Vec<SecretRef>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for piece in parse(text, where_)? {
        if let Piece::Ref(reference) = piece
            && seen.insert(reference.clone())
        {
            out.push(reference);
        }
    }
    Ok(out)
}

/// The secrets read so far, by `(mount, path)`; `None` records a secret that does not exist.
pub(crate) type Fetched = BTreeMap<(String, String), Option<Map<String, Value>>>;

/// The text of one field of a secret's data: strings as they are, anything else as JSON.
pub(crate) fn field_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Looks up one reference among the fetched secrets: its field's text, or a clear error naming
/// the reference. `Ok(None)` means the secret was not fetched yet.
pub(crate) fn lookup(fetched: &Fetched, reference: &SecretRef) -> anyhow::Result<Option<String>> {
    let key = (reference.mount.clone(), reference.path.clone());
    match fetched.get(&key) {
        None => Ok(None),
        Some(None) => anyhow::bail!("secret not found for reference {reference}"),
        Some(Some(data)) => match data.get(&reference.field) {
            Some(value) => Ok(Some(field_text(value))),
            None => {
                let keys: Vec<&str> = data.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "field {:?} not found for reference {reference} (the secret has: {})",
                    reference.field,
                    keys.join(", ")
                )
            }
        },
    }
}

/// Renders `text`, replacing each reference by its value (resolved recursively) and each escape
/// by a literal `coffer://`. Every referenced secret must be in `fetched`.
pub(crate) fn render(text: &str, where_: &str, fetched: &Fetched) -> anyhow::Result<String> {
    render_at(text, where_, fetched, &mut Vec::new())
}

fn render_at(
    text: &str,
    where_: &str,
    fetched: &Fetched,
    stack: &mut Vec<SecretRef>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for piece in parse(text, where_)? {
        match piece {
            Piece::Text(literal) => out.push_str(&literal),
            Piece::Ref(reference) => {
                if stack.contains(&reference) {
                    let chain: Vec<String> = stack
                        .iter()
                        .chain(std::iter::once(&reference))
                        .map(ToString::to_string)
                        .collect();
                    anyhow::bail!("reference cycle: {}", chain.join(" -> "));
                }
                if stack.len() >= MAX_DEPTH {
                    anyhow::bail!(
                        "references nested deeper than {MAX_DEPTH} levels at {reference}"
                    );
                }
                let value = lookup(fetched, &reference)?
                    .with_context(|| format!("secret for reference {reference} was not read"))?;
                let where_inner = format!("the value of {reference}");
                stack.push(reference);
                let rendered = render_at(&value, &where_inner, fetched, stack)?;
                stack.pop();
                out.push_str(&rendered);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fetched(entries: &[(&str, &str, Value)]) -> Fetched {
        entries
            .iter()
            .map(|(mount, path, data)| {
                let data = data.as_object().cloned();
                ((mount.to_string(), path.to_string()), data)
            })
            .collect()
    }

    #[test]
    fn parses_references_fields_and_escapes() {
        let refs = references(
            "url=coffer://secret/myapp/database#password; k=coffer://kv/API_KEY \\coffer://x/y",
            "t",
        )
        .expect("parses");
        let shown: Vec<String> = refs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "coffer://secret/myapp/database#password",
                "coffer://kv/API_KEY#value"
            ]
        );
    }

    #[test]
    fn malformed_references_are_named() {
        for bad in [
            "coffer://",
            "coffer://secret",
            "coffer://secret/",
            "coffer://secret//x",
            "coffer://secret/a#",
            "coffer:///a",
            "coffer://secret/../x",
        ] {
            let error = references(bad, "tmpl").expect_err(bad);
            let text = format!("{error:#}");
            assert!(text.contains("malformed reference"), "{bad}: {text}");
            assert!(text.contains("tmpl"), "{bad}: {text}");
        }
    }

    #[test]
    fn renders_nested_references_and_literals() {
        let data = fetched(&[
            ("secret", "db", json!({"password": "pw", "port": 5432})),
            (
                "secret",
                "url",
                json!({"value": "postgres://u:coffer://secret/db#password@h"}),
            ),
        ]);
        let text = "U=coffer://secret/url P=coffer://secret/db#port L=\\coffer://secret/db";
        let out = render(text, "t", &data).expect("renders");
        assert_eq!(out, "U=postgres://u:pw@h P=5432 L=coffer://secret/db");
    }

    #[test]
    fn cycles_and_missing_fields_are_errors() {
        let data = fetched(&[
            ("secret", "a", json!({"value": "coffer://secret/b"})),
            ("secret", "b", json!({"value": "x coffer://secret/a"})),
            ("secret", "c", json!({"other": "v"})),
            ("secret", "gone", Value::Null),
        ]);
        let error = format!(
            "{:#}",
            render("coffer://secret/a", "t", &data).expect_err("cycle")
        );
        assert!(error.contains("reference cycle"), "{error}");
        let error = format!(
            "{:#}",
            render("coffer://secret/c", "t", &data).expect_err("field")
        );
        assert!(error.contains("field \"value\" not found"), "{error}");
        assert!(error.contains("coffer://secret/c#value"), "{error}");
        let error = format!(
            "{:#}",
            render("coffer://secret/gone#k", "t", &data).expect_err("gone")
        );
        assert!(error.contains("secret not found"), "{error}");
        assert!(
            !error.contains("\"v\""),
            "values never appear in errors: {error}"
        );
    }

    #[test]
    fn depth_is_limited() {
        let mut entries = Vec::new();
        for level in 0..=MAX_DEPTH {
            let next = format!("coffer://secret/s{}", level + 1);
            entries.push(("secret", format!("s{level}"), json!({ "value": next })));
        }
        let data: Fetched = entries
            .into_iter()
            .map(|(m, p, d)| ((m.to_owned(), p), d.as_object().cloned()))
            .collect();
        let error = format!(
            "{:#}",
            render("coffer://secret/s0", "t", &data).expect_err("deep")
        );
        assert!(error.contains("deeper than 8"), "{error}");
    }
}
