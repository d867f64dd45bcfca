//! Storage keys: what every backend accepts, and the byte-order arithmetic that ordered listing
//! and scanning share (range bounds, immediate children, skipping past a folder).
//!
//! Keys are UTF-8 strings compared byte-wise. UTF-8 preserves code point order, so "the next
//! character" is also "the next string" in byte order, which is what the bounds below rely on.

use crate::{Error, Result};

/// The longest key any backend stores, in bytes. PostgreSQL refuses btree index entries larger
/// than about 2.7 KB, so every backend holds to the same, smaller limit.
pub const MAX_KEY_BYTES: usize = 2048;

/// Checks a full key: not empty, no NUL byte (PostgreSQL `TEXT` cannot hold one), at most
/// [`MAX_KEY_BYTES`].
pub(crate) fn validate(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid(key, "the key is empty"));
    }
    validate_fragment(key)
}

/// Checks a listing prefix or a scan cursor: like a key, but it may be empty.
pub(crate) fn validate_fragment(fragment: &str) -> Result<()> {
    if fragment.contains('\0') {
        return Err(invalid(fragment, "it contains a NUL byte"));
    }
    if fragment.len() > MAX_KEY_BYTES {
        return Err(invalid(fragment, "it is longer than 2048 bytes"));
    }
    Ok(())
}

fn invalid(key: &str, reason: &'static str) -> Error {
    // A very long key would flood the logs; the reason says what was wrong with it.
    let shown: String = key.chars().take(128).collect();
    Error::InvalidKey { key: shown, reason }
}

/// The smallest string greater than every string that starts with `prefix`, or `None` when no
/// such string exists (the empty prefix, or one made only of `char::MAX`).
///
/// Keys starting with `prefix` are exactly the keys `k` with `prefix <= k < upper_bound`.
pub(crate) fn upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = next_char(last) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The next Unicode scalar value after `c`, skipping the surrogate gap.
fn next_char(c: char) -> Option<char> {
    let mut code = u32::from(c);
    while code < u32::from(char::MAX) {
        code += 1;
        if let Some(next) = char::from_u32(code) {
            return Some(next);
        }
    }
    None
}

/// Checks a scan's `prefix` and `after` cursor and returns the key it starts from (see
/// [`scan_start`]).
pub(crate) fn scan_from(prefix: &str, after: Option<&str>) -> Result<String> {
    validate_fragment(prefix)?;
    if let Some(after) = after {
        validate_fragment(after)?;
    }
    Ok(scan_start(prefix, after))
}

/// The smallest key that is at least `prefix` and strictly greater than `after`.
///
/// Keys never contain NUL, so the smallest key greater than `after` is `after + "\u{1}"`.
pub(crate) fn scan_start(prefix: &str, after: Option<&str>) -> String {
    match after {
        Some(after) if after >= prefix => format!("{after}\u{1}"),
        _ => prefix.to_owned(),
    }
}

/// What a key is to a listing of `prefix`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Child<'a> {
    /// A key directly inside the prefix: `prefix + name` with no `/` in `name`.
    Leaf(&'a str),
    /// A folder inside the prefix, with its trailing `/`: the key is `prefix + folder + ...`.
    Folder(&'a str),
}

/// Classifies `key` for a listing of `prefix`; `None` when it is not a child (it does not start
/// with `prefix`, or it equals `prefix`: a key is never its own child).
pub(crate) fn child<'a>(prefix: &str, key: &'a str) -> Option<Child<'a>> {
    let rest = key.strip_prefix(prefix)?;
    if rest.is_empty() {
        return None;
    }
    match rest.find('/') {
        Some(slash) => rest.get(..=slash).map(Child::Folder),
        None => Some(Child::Leaf(rest)),
    }
}

/// Where a listing of `prefix` resumes after reporting `folder` (which ends in `/`): the first
/// key that is not inside it. `'0'` is the byte right after `'/'`, so `prefix + "x0"` sorts after
/// every `prefix + "x/..."` and before anything else that follows them.
pub(crate) fn skip_folder(prefix: &str, folder: &str) -> String {
    let name = folder.strip_suffix('/').unwrap_or(folder);
    format!("{prefix}{name}0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_upper(prefix: &str, expected: Option<&str>) {
        assert_eq!(
            upper_bound(prefix).as_deref(),
            expected,
            "upper_bound({prefix:?})"
        );
    }

    #[test]
    fn upper_bounds() {
        check_upper("", None);
        check_upper("a", Some("b"));
        check_upper("a/", Some("a0"));
        check_upper("az", Some("a{"));
        check_upper("é", Some("ê"));
        check_upper("\u{d7ff}", Some("\u{e000}"));
        check_upper("a\u{10ffff}", Some("b"));
        check_upper("\u{10ffff}\u{10ffff}", None);
    }

    #[test]
    fn upper_bound_is_past_every_extension() {
        for prefix in ["a", "a/", "日本/", "x\u{10ffff}"] {
            let upper = upper_bound(prefix).unwrap_or_default();
            for suffix in ["", "\u{1}", "/", "zzz", "\u{10ffff}\u{10ffff}", "é/ü"] {
                let key = format!("{prefix}{suffix}");
                assert!(key.as_str() < upper.as_str(), "{key:?} < {upper:?}");
            }
        }
    }

    fn check_child(prefix: &str, key: &str, expected: Option<Child<'_>>) {
        assert_eq!(child(prefix, key), expected, "child({prefix:?}, {key:?})");
    }

    #[test]
    fn children() {
        check_child("", "a", Some(Child::Leaf("a")));
        check_child("", "a/b", Some(Child::Folder("a/")));
        check_child("p/", "p/a", Some(Child::Leaf("a")));
        check_child("p/", "p/a/b/c", Some(Child::Folder("a/")));
        check_child("p/", "p//x", Some(Child::Folder("/")));
        check_child("p/", "p/", None);
        check_child("p/", "q/a", None);
        check_child("p/", "p", None);
    }

    #[test]
    fn skipping_folders() {
        assert_eq!(skip_folder("p/", "a/"), "p/a0");
        assert_eq!(skip_folder("", "日本/"), "日本0");
        assert!("p/a/\u{10ffff}" < skip_folder("p/", "a/").as_str());
        assert!("p/a0" >= skip_folder("p/", "a/").as_str());
    }

    #[test]
    fn scan_starts() {
        assert_eq!(scan_start("p/", None), "p/");
        assert_eq!(scan_start("p/", Some("p/a")), "p/a\u{1}");
        assert_eq!(scan_start("p/", Some("a")), "p/");
    }

    fn check_valid(key: &str, ok: bool) {
        assert_eq!(validate(key).is_ok(), ok, "validate({key:?})");
    }

    #[test]
    fn validation() {
        check_valid("a", true);
        check_valid("a/b/c/", true);
        check_valid("日本 語/🔑", true);
        check_valid("", false);
        check_valid("a\0b", false);
        check_valid(&"k".repeat(MAX_KEY_BYTES), true);
        check_valid(&"k".repeat(MAX_KEY_BYTES + 1), false);
        assert!(validate_fragment("").is_ok());
    }
}
