//! Versioned records: how the core writes its structures behind the barrier — one version byte,
//! then JSON — and reads them back, with errors that name the storage path, never the content.

use coffer_barrier::View;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The record format every core structure uses today.
pub(crate) const VERSION: u8 = 1;

/// Encodes a record: the version byte, then its JSON.
pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let mut out = vec![VERSION];
    // Core records hold strings, numbers and string-keyed maps only: serializing cannot fail.
    serde_json::to_writer(&mut out, record).expect("core records always serialize");
    out
}

/// Decodes a record stored at `path` (named in errors).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], path: &str) -> Result<T> {
    let corrupt = |reason: String| Error::CorruptRecord {
        path: path.to_owned(),
        reason,
    };
    let (version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if *version != VERSION {
        return Err(corrupt(format!("unknown record version {version}")));
    }
    serde_json::from_slice(body).map_err(|e| corrupt(format!("bad record: {e}")))
}

/// Every record stored below `prefix` in `view`, decoded, with its key (relative to the view).
/// `location` is the view's own prefix, so errors name the full storage path.
pub(crate) async fn load_all<T: DeserializeOwned>(
    view: &View,
    prefix: &str,
    location: &str,
) -> Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = view
            .scan(prefix, after.as_deref(), 256)
            .await
            .map_err(Error::from_barrier)?;
        let Some(last) = keys.last().cloned() else {
            return Ok(out);
        };
        for key in keys {
            // A key deleted between the scan and the read is simply gone.
            let Some(bytes) = view.get(&key).await.map_err(Error::from_barrier)? else {
                continue;
            };
            let record = decode(&bytes, &format!("{location}{key}"))?;
            out.push((key, record));
        }
        after = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clear_errors() {
        let bytes = encode(&vec!["a".to_owned()]);
        assert_eq!(bytes.first(), Some(&VERSION));
        let back: Vec<String> = decode(&bytes, "p").unwrap_or_default();
        assert_eq!(back, vec!["a".to_owned()]);
        let check = |bytes: &[u8], reason: &str| {
            let error = decode::<Vec<String>>(bytes, "core/x")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                error.contains("core/x") && error.contains(reason),
                "{error}"
            );
        };
        check(b"", "empty record");
        check(b"\x02[]", "unknown record version 2");
        check(b"\x01{not json", "bad record");
    }
}
