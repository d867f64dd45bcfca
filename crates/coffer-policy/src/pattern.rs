//! Path patterns of `path "<pattern>"` rules: parsing, matching a request path, and Vault's
//! precedence between two patterns that both match.
//!
//! A pattern is exact (no wildcard), a plain prefix (`secret/zip-*`, the `*` only as the last
//! character), or segmented: it has at least one `+` segment, which matches exactly one path
//! segment, and may also end in `*`. A `+` that is not a whole segment (`a+b`) is an ordinary
//! character, as in Vault.

use std::cmp::Ordering;

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The pattern as written, without a leading `/`, including any trailing `*`.
    text: Box<str>,
    kind: PatternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternKind {
    /// No wildcard: matches only the identical path.
    Exact,
    /// Ends in `*` and has no `+` segment: matches every path starting with `prefix`.
    Prefix { prefix: Box<str> },
    /// Has `+` segments.
    Segmented(Segmented),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segmented {
    /// The `/`-separated segments, with the trailing `*` removed.
    segments: Vec<Segment>,
    /// Whether the pattern ends in `*`; the last segment is then a prefix of the path's segment
    /// and anything may follow.
    is_prefix: bool,
    /// Byte index of the first `+` segment.
    first_wildcard: usize,
    /// Number of `+` segments.
    wildcards: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `+`: any one segment.
    Any,
    /// Literal text.
    Literal(Box<str>),
}

impl Pattern {
    /// Parses a pattern as written in a policy; the error is the reason it was rejected.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, &'static str> {
        let text = raw.strip_prefix('/').unwrap_or(raw);
        if text.is_empty() {
            return Err("path must not be empty");
        }
        let (body, is_prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err("\"*\" is only allowed as the last character of a path");
        }
        let kind = if body.split('/').any(|segment| segment == "+") {
            PatternKind::Segmented(Segmented::new(body, is_prefix))
        } else if is_prefix {
            PatternKind::Prefix {
                prefix: body.into(),
            }
        } else {
            PatternKind::Exact
        };
        Ok(Pattern {
            text: text.into(),
            kind,
        })
    }

    /// The pattern as written, without a leading `/`.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard at all.
    pub(crate) fn is_exact(&self) -> bool {
        matches!(self.kind, PatternKind::Exact)
    }

    /// For a plain prefix pattern (`foo/*`, no `+`), the prefix without the `*`.
    pub(crate) fn plain_prefix(&self) -> Option<&str> {
        match &self.kind {
            PatternKind::Prefix { prefix } => Some(prefix),
            PatternKind::Exact | PatternKind::Segmented(_) => None,
        }
    }

    /// Whether the pattern uses an identity template such as `{{identity.entity.id}}`. Coffer
    /// does not expand templates yet, so such rules are kept on the policy but never match.
    pub(crate) fn is_templated(&self) -> bool {
        self.text.contains("{{")
    }

    /// Whether `path` (no leading `/`) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            PatternKind::Exact => *self.text == *path,
            PatternKind::Prefix { prefix } => path.starts_with(&**prefix),
            PatternKind::Segmented(segmented) => segmented.matches(path),
        }
    }

    /// Vault's precedence: `Greater` when `self` has the higher priority. Exact patterns
    /// outrank every glob; between globs the first differing rule decides: the later first
    /// wildcard wins, then no trailing `*` wins, then fewer `+` wins, then longer wins, then the
    /// lexicographically greater wins.
    pub(crate) fn priority_cmp(&self, other: &Pattern) -> Ordering {
        let (first, is_prefix, wildcards) = self.rank();
        let (other_first, other_is_prefix, other_wildcards) = other.rank();
        first
            .cmp(&other_first)
            .then_with(|| other_is_prefix.cmp(&is_prefix))
            .then_with(|| other_wildcards.cmp(&wildcards))
            .then_with(|| self.text.len().cmp(&other.text.len()))
            .then_with(|| self.text.cmp(&other.text))
    }

    /// `(first wildcard position, ends in *, number of +)`; exact patterns rank above all.
    fn rank(&self) -> (usize, bool, usize) {
        match &self.kind {
            PatternKind::Exact => (usize::MAX, false, 0),
            PatternKind::Prefix { prefix } => (prefix.len(), true, 0),
            PatternKind::Segmented(segmented) => (
                segmented.first_wildcard,
                segmented.is_prefix,
                segmented.wildcards,
            ),
        }
    }

    /// Whether some path starting with `prefix` could match, i.e. whether `prefix` is a prefix
    /// of a word the pattern accepts.
    pub(crate) fn could_match_under(&self, prefix: &str) -> bool {
        match &self.kind {
            PatternKind::Exact => self.text.starts_with(prefix),
            PatternKind::Prefix { prefix: own } => {
                own.starts_with(prefix) || prefix.starts_with(&**own)
            }
            PatternKind::Segmented(segmented) => segmented.could_match_under(prefix),
        }
    }
}

impl Segmented {
    fn new(body: &str, is_prefix: bool) -> Segmented {
        let mut offset = 0;
        let mut first_wildcard = None;
        let mut segments = Vec::new();
        for segment in body.split('/') {
            if segment == "+" {
                first_wildcard.get_or_insert(offset);
                segments.push(Segment::Any);
            } else {
                segments.push(Segment::Literal(segment.into()));
            }
            offset += segment.len() + 1;
        }
        let wildcards = segments
            .iter()
            .filter(|segment| **segment == Segment::Any)
            .count();
        Segmented {
            segments,
            is_prefix,
            // Only called for bodies with a `+` segment; 0 would merely lower the priority.
            first_wildcard: first_wildcard.unwrap_or(0),
            wildcards,
        }
    }

    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let last = self.segments.len().saturating_sub(1);
        for (index, segment) in self.segments.iter().enumerate() {
            let Some(part) = parts.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Any => true,
                Segment::Literal(literal) if self.is_prefix && index == last => {
                    part.starts_with(&**literal)
                }
                Segment::Literal(literal) => part == &**literal,
            };
            if !ok {
                return false;
            }
        }
        self.is_prefix || parts.next().is_none()
    }

    fn could_match_under(&self, prefix: &str) -> bool {
        // Every part of `prefix` but the last is a whole segment; the last may be cut short.
        let mut parts = prefix.split('/').peekable();
        let last = self.segments.len().saturating_sub(1);
        for (index, segment) in self.segments.iter().enumerate() {
            let Some(part) = parts.next() else {
                return true;
            };
            let partial = parts.peek().is_none();
            let open_ended = self.is_prefix && index == last;
            match segment {
                Segment::Any if open_ended => return true,
                Segment::Any => {}
                Segment::Literal(literal) if open_ended => {
                    return part.starts_with(&**literal) || (partial && literal.starts_with(part));
                }
                Segment::Literal(literal) => {
                    let ok = if partial {
                        literal.starts_with(part)
                    } else {
                        part == &**literal
                    };
                    if !ok {
                        return false;
                    }
                }
            }
            if partial {
                return true;
            }
        }
        parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Pattern {
        Pattern::parse(text).unwrap_or_else(|reason| panic!("{text:?}: {reason}"))
    }

    fn check_match(pattern_text: &str, path: &str, expected: bool) {
        assert_eq!(
            pattern(pattern_text).matches(path),
            expected,
            "{pattern_text:?} against {path:?}"
        );
    }

    #[test]
    fn matching() {
        check_match("secret/zip-*", "secret/zip-zap/zong", true);
        check_match("secret/zip-*", "secret/zip-", true);
        check_match("secret/zip-*", "secret/zip", false);
        check_match("secret/x", "secret/x", true);
        check_match("secret/x", "secret/x/", false);
        check_match("/secret/x", "secret/x", true);
        check_match("*", "anything/at/all", true);
        check_match("a/+/c", "a/b/c", true);
        check_match("a/+/c", "a/b/b/c", false);
        check_match("a/+/c", "a/b/c/d", false);
        check_match("a/+/c", "a/b", false);
        check_match("a/+", "a/b", true);
        check_match("a/+", "a/b/", false);
        check_match("a/+/+", "a/b/c", true);
        check_match("+/shared", "x/shared", true);
        check_match("+/shared", "x/y/shared", false);
        check_match("a/+/c*", "a/b/cat/dog", true);
        check_match("a/+/c*", "a/b/dog", false);
        check_match("a/+/*", "a/b/", true);
        check_match("a/+/*", "a/b/c/d", true);
        check_match("a/+/*", "a/b", false);
        check_match("a/+*", "a/b/c", true);
        check_match("a+b/c", "a+b/c", true);
        check_match("a+b/c", "axb/c", false);
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Pattern::parse(""), Err("path must not be empty"));
        assert_eq!(Pattern::parse("/"), Err("path must not be empty"));
        assert!(Pattern::parse("a/*/b").is_err());
        assert!(Pattern::parse("a/**").is_err());
        assert!(pattern("a+b/*").plain_prefix().is_some());
        assert!(pattern("a/b").is_exact());
        assert!(pattern("identity/entity/id/{{identity.entity.id}}").is_templated());
    }

    fn check_priority(higher: &str, lower: &str) {
        let (higher, lower) = (pattern(higher), pattern(lower));
        assert_eq!(
            higher.priority_cmp(&lower),
            Ordering::Greater,
            "{higher:?} > {lower:?}"
        );
        assert_eq!(
            lower.priority_cmp(&higher),
            Ordering::Less,
            "{lower:?} < {higher:?}"
        );
    }

    #[test]
    fn priority() {
        // 1. The later first wildcard wins.
        check_priority("team/a*", "team/*");
        check_priority("team/x/+", "team/+/x");
        check_priority("a/b/+/c", "+/b/+/c");
        // 2. No trailing `*` wins.
        check_priority("team/+/config", "team/*");
        check_priority("a/+/b", "a/+/b*");
        // 3. Fewer `+` wins.
        check_priority("a/+/b/c", "a/+/+/c");
        // 4. Longer wins.
        check_priority("a/+/bcd", "a/+/bc");
        check_priority("a/+/b/*", "a/+/b*");
        // 5. Lexicographically greater wins.
        check_priority("a/+/bd", "a/+/bc");
        // Exact beats every glob.
        check_priority("a", "a*");
        check_priority("a/b", "a/+");
    }

    fn check_under(pattern_text: &str, prefix: &str, expected: bool) {
        assert_eq!(
            pattern(pattern_text).could_match_under(prefix),
            expected,
            "{pattern_text:?} under {prefix:?}"
        );
    }

    #[test]
    fn under() {
        check_under("secret/data/x", "secret/", true);
        check_under("secret", "secret/", false);
        check_under("kv/x", "secret/", false);
        check_under("secret/*", "secret/", true);
        check_under("sec*", "secret/", true);
        check_under("secret/data/*", "secret/", true);
        check_under("kv/*", "secret/", false);
        check_under("*", "secret/", true);
        check_under("+/shared", "secret/", true);
        check_under("+/shared", "secret/data/", false);
        check_under("secret/+/x", "secret/", true);
        check_under("secret/+/x", "secret/data/", true);
        check_under("secret/+/x", "secret/data/y", false);
        check_under("secret/+/x", "secret/data/x", true);
        check_under("secret/+/x", "secret/data/x/", false);
        check_under("secret/+/x*", "secret/data/x/", true);
        check_under("kv/+/x", "secret/", false);
        check_under("s+/+/x", "s", true);
        check_under("t/+/x", "s", false);
        check_under("se/+/x", "s", true);
        check_under("a/+/bc*", "a/z/b", true);
        check_under("a/+/bc*", "a/z/bcd/e", true);
        check_under("a/+/bc*", "a/z/bd", false);
        check_under("a/+/bc*", "a/z/b/", false);
    }
}
