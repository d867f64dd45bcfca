//! Small typed accessors over `asn1-rs` for the few private-key structures X.509 crates do not
//! cover (PKCS#1, SEC1, PKCS#8). All TLV decoding is done by `asn1-rs`; these helpers only pick
//! fields by tag and return `None` on anything unexpected.

use x509_parser::asn1_rs::{Any, Class, FromDer, Oid, Tag};

/// The elements of a DER `SEQUENCE` that spans all of `bytes`.
pub(crate) fn sequence(bytes: &[u8]) -> Option<Vec<Any<'_>>> {
    let (rest, outer) = Any::from_der(bytes).ok()?;
    if !rest.is_empty() || outer.class() != Class::Universal || outer.tag() != Tag::Sequence {
        return None;
    }
    elements(outer.data)
}

/// Every TLV element in `content`, in order.
pub(crate) fn elements(mut content: &[u8]) -> Option<Vec<Any<'_>>> {
    let mut items = Vec::new();
    while !content.is_empty() {
        let (rest, item) = Any::from_der(content).ok()?;
        items.push(item);
        content = rest;
    }
    Some(items)
}

/// The magnitude of a non-negative `INTEGER`, without leading zero bytes.
pub(crate) fn unsigned_integer<'a>(item: &Any<'a>) -> Option<&'a [u8]> {
    if !is_universal(item, Tag::Integer) || item.data.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let start = item
        .data
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(item.data.len());
    item.data.get(start..)
}

/// A small non-negative `INTEGER` such as a structure version.
pub(crate) fn small_integer(item: &Any<'_>) -> Option<u8> {
    match unsigned_integer(item)? {
        [] => Some(0),
        [value] => Some(*value),
        _ => None,
    }
}

/// The contents of an `OCTET STRING`.
pub(crate) fn octet_string<'a>(item: &Any<'a>) -> Option<&'a [u8]> {
    is_universal(item, Tag::OctetString).then_some(item.data)
}

/// The contents of a `BIT STRING` with no unused bits.
pub(crate) fn bit_string<'a>(item: &Any<'a>) -> Option<&'a [u8]> {
    if !is_universal(item, Tag::BitString) {
        return None;
    }
    match item.data.split_first() {
        Some((0, bits)) => Some(bits),
        _ => None,
    }
}

/// An `OBJECT IDENTIFIER`.
pub(crate) fn oid<'a>(item: &Any<'a>) -> Option<Oid<'a>> {
    if !is_universal(item, Tag::Oid) {
        return None;
    }
    Oid::try_from(item.clone()).ok()
}

/// The single element inside an explicit context tag `[number]`.
pub(crate) fn explicit<'a>(item: &Any<'a>, number: u32) -> Option<Any<'a>> {
    if item.class() != Class::ContextSpecific || item.tag() != Tag(number) {
        return None;
    }
    let (rest, inner) = Any::from_der(item.data).ok()?;
    rest.is_empty().then_some(inner)
}

fn is_universal(item: &Any<'_>, tag: Tag) -> bool {
    item.class() == Class::Universal && item.tag() == tag
}
