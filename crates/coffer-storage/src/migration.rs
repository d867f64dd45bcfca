//! Copying a whole store into another one (`coffer operator migrate`), resumably.
//!
//! Records are copied as raw bytes: they are already encrypted by the barrier, so the
//! destination is the same server, unsealed with the same shares. Keys are copied in byte order,
//! in batches that are each one transaction. Every batch is read back from the destination and
//! compared byte for byte before the checkpoint moves past it; a final pass compares the two key
//! sets, so the destination holds exactly the source's keys.
//!
//! The checkpoint lives in the destination at [`CHECKPOINT_KEY`]: the source's label and the
//! last verified key. A run that finds it continues after that key; it is deleted once the copy
//! is complete. Coffer never stores anything else at that key, and a source holding it (an
//! unfinished migration's destination) is refused.

use crate::{Error, Result, Storage, TxOp};

/// Where the destination keeps the checkpoint of an unfinished migration.
pub const CHECKPOINT_KEY: &str = "core/migration";

/// The checkpoint codec's version byte.
const CHECKPOINT_VERSION: u8 = 1;
/// Keys per page when counting and comparing key sets.
const PAGE: usize = 1000;

/// How to run one migration.
#[derive(Debug, Clone)]
pub struct MigrationConfig {
    /// Names the source in the checkpoint (no secrets: it is stored unencrypted), so a run with
    /// another source does not resume someone else's copy.
    pub source_label: String,
    /// Copy only keys at or after this one (when no checkpoint says where to continue).
    pub start: Option<String>,
    /// Erase the destination first (everything in it, a checkpoint included).
    pub reset: bool,
    /// The most records per transaction (at least 1).
    pub batch_keys: usize,
    /// The most value bytes per transaction; a single larger record still goes alone.
    pub batch_bytes: usize,
}

/// Where a migration stands, reported after counting and after every verified batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Keys copied and verified so far (earlier runs included).
    pub done: u64,
    /// Keys to copy in all.
    pub total: u64,
}

/// What a finished migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSummary {
    /// Keys in the source (from the start key on).
    pub total: u64,
    /// Keys this run copied (the rest were copied by an interrupted earlier run).
    pub copied: u64,
    /// The key an earlier run's checkpoint said to continue after, when this run resumed.
    pub resumed_after: Option<String>,
    /// Keys the reset removed from the destination first.
    pub erased: u64,
}

/// Copies every record of `source` into `destination`, verifying each, resuming an interrupted
/// run of the same migration; see the module documentation.
///
/// Fails with [`Error::DestinationNotEmpty`] when the destination holds data and no checkpoint
/// of this migration (unless `config.reset`), [`Error::Checkpoint`] when the source holds a
/// checkpoint or the destination's belongs to another source, and [`Error::Mismatch`] when a
/// record reads back differently. `progress` sees every step.
pub async fn migrate(
    source: &Storage,
    destination: &Storage,
    config: &MigrationConfig,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MigrationSummary> {
    if source.get(CHECKPOINT_KEY).await?.is_some() {
        return Err(Error::Checkpoint {
            key: CHECKPOINT_KEY.to_owned(),
            reason: "the source holds one: it is the destination of an unfinished migration",
        });
    }
    let erased = if config.reset {
        erase(destination).await?
    } else {
        0
    };
    let resumed_after = match destination.get(CHECKPOINT_KEY).await? {
        Some(bytes) => {
            let checkpoint = Checkpoint::decode(&bytes)?;
            if checkpoint.source != config.source_label {
                return Err(Error::Checkpoint {
                    key: CHECKPOINT_KEY.to_owned(),
                    reason: "it belongs to a migration from another source (reset the destination)",
                });
            }
            Some(checkpoint.last_key)
        }
        None => {
            if let Some(key) = destination.scan("", None, 1).await?.into_iter().next() {
                return Err(Error::DestinationNotEmpty { key });
            }
            None
        }
    };
    // Claim the destination before the first record lands, so an interrupted first batch still
    // leaves a checkpoint behind and the rerun does not take the store for someone else's.
    let mut checkpoint = Checkpoint {
        source: config.source_label.clone(),
        last_key: resumed_after.clone().unwrap_or_default(),
    };
    destination
        .put(CHECKPOINT_KEY, &checkpoint.encode())
        .await?;

    let start = config.start.as_deref().filter(|start| !start.is_empty());
    let (total, done_before) = count(source, start, resumed_after.as_deref()).await?;
    let mut done = done_before;
    progress(Progress { done, total });

    let mut cursor = Cursor::new(start, resumed_after.as_deref().filter(|k| !k.is_empty()));
    let batch_keys = config.batch_keys.max(1);
    let mut copied = 0;
    loop {
        let keys = cursor.next_page(source, batch_keys).await?;
        if keys.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(keys.len());
        let mut bytes = 0;
        for key in keys {
            if !batch.is_empty() && bytes >= config.batch_bytes {
                break;
            }
            let value = source.get(&key).await?.ok_or_else(|| Error::Mismatch {
                key: key.clone(),
                reason: "the key vanished from the source during the migration",
            })?;
            bytes += value.len();
            batch.push((key, value));
        }
        copy_batch(destination, &batch).await?;
        if let Some((last, _)) = batch.last() {
            checkpoint.last_key = last.clone();
            cursor.after(last.clone());
        }
        destination
            .put(CHECKPOINT_KEY, &checkpoint.encode())
            .await?;
        let count = batch.len() as u64;
        copied += count;
        done += count;
        progress(Progress { done, total });
    }
    compare_key_sets(source, destination, start).await?;
    destination.delete(CHECKPOINT_KEY).await?;
    Ok(MigrationSummary {
        total,
        copied,
        resumed_after: resumed_after.filter(|key| !key.is_empty()),
        erased,
    })
}

/// Writes one batch in one transaction, then reads every record back and compares.
async fn copy_batch(destination: &Storage, batch: &[(String, Vec<u8>)]) -> Result<()> {
    let ops = batch
        .iter()
        .map(|(key, value)| TxOp::Put {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    destination.transaction(ops).await?;
    for (key, value) in batch {
        match destination.get(key).await? {
            Some(stored) if stored == *value => {}
            Some(_) => {
                return Err(Error::Mismatch {
                    key: key.clone(),
                    reason: "the destination holds different bytes",
                });
            }
            None => {
                return Err(Error::Mismatch {
                    key: key.clone(),
                    reason: "the destination lost the record",
                });
            }
        }
    }
    Ok(())
}

/// Removes every key of `storage`, returning how many there were.
async fn erase(storage: &Storage) -> Result<u64> {
    let mut erased = 0;
    loop {
        let keys = storage.scan("", None, PAGE).await?;
        if keys.is_empty() {
            return Ok(erased);
        }
        erased += keys.len() as u64;
        let ops = keys.into_iter().map(|key| TxOp::Delete { key }).collect();
        storage.transaction(ops).await?;
    }
}

/// The number of source keys from `start` on, and how many of them sort at or before
/// `resumed_after` (copied by an earlier run).
async fn count(
    source: &Storage,
    start: Option<&str>,
    resumed_after: Option<&str>,
) -> Result<(u64, u64)> {
    let mut cursor = Cursor::new(start, None);
    let (mut total, mut done) = (0, 0);
    loop {
        let keys = cursor.next_page(source, PAGE).await?;
        let Some(last) = keys.last().cloned() else {
            return Ok((total, done));
        };
        total += keys.len() as u64;
        if let Some(resumed_after) = resumed_after {
            done += keys
                .iter()
                .filter(|key| key.as_str() <= resumed_after)
                .count() as u64;
        }
        cursor.after(last);
    }
}

/// Fails unless the destination holds exactly the source's keys from `start` on (besides the
/// checkpoint).
async fn compare_key_sets(
    source: &Storage,
    destination: &Storage,
    start: Option<&str>,
) -> Result<()> {
    let mut from_source = Cursor::new(start, None);
    let mut from_destination = Cursor::new(start, None);
    loop {
        let expected = from_source.next_page(source, PAGE).await?;
        let mut found = from_destination.next_page(destination, PAGE + 1).await?;
        found.retain(|key| key != CHECKPOINT_KEY);
        found.truncate(expected.len().max(1));
        if let Some(last) = found.last() {
            from_destination.after(last.clone());
        }
        for (index, key) in found.iter().enumerate() {
            match expected.get(index) {
                Some(wanted) if wanted == key => {}
                Some(wanted) if wanted < key => {
                    return Err(Error::Mismatch {
                        key: wanted.clone(),
                        reason: "the destination lacks this key",
                    });
                }
                _ => {
                    return Err(Error::Mismatch {
                        key: key.clone(),
                        reason: "the destination holds a key the source does not",
                    });
                }
            }
        }
        if let Some(missing) = expected.get(found.len()) {
            return Err(Error::Mismatch {
                key: missing.clone(),
                reason: "the destination lacks this key",
            });
        }
        let Some(last) = expected.last() else {
            return Ok(());
        };
        from_source.after(last.clone());
    }
}

/// Pages through a store's keys in byte order from an inclusive start key.
struct Cursor {
    /// The inclusive start, until the first page has been read.
    start: Option<String>,
    /// The last key already returned.
    after: Option<String>,
}

impl Cursor {
    /// Keys at or after `start` and strictly after `after`.
    fn new(start: Option<&str>, after: Option<&str>) -> Self {
        let start = match (start, after) {
            (Some(start), Some(after)) if after >= start => None,
            (start, _) => start.map(str::to_owned),
        };
        Self {
            start,
            after: after.map(str::to_owned),
        }
    }

    async fn next_page(&mut self, storage: &Storage, limit: usize) -> Result<Vec<String>> {
        match self.start.take() {
            // `scan` starts strictly after its cursor; the start key itself is looked up alone.
            Some(start) => {
                let mut keys = Vec::with_capacity(limit);
                if storage.get(&start).await?.is_some() {
                    keys.push(start.clone());
                }
                let rest = storage.scan("", Some(&start), limit - keys.len()).await?;
                keys.extend(rest);
                Ok(keys)
            }
            None => storage.scan("", self.after.as_deref(), limit).await,
        }
    }

    fn after(&mut self, key: String) {
        self.start = None;
        self.after = Some(key);
    }
}

/// The checkpoint record: version byte, source label length (u32 big-endian), label, last key.
#[derive(Debug, PartialEq, Eq)]
struct Checkpoint {
    source: String,
    /// Empty before the first batch.
    last_key: String,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let label = self.source.as_bytes();
        let length = u32::try_from(label.len()).unwrap_or(u32::MAX);
        let mut bytes = Vec::with_capacity(5 + label.len() + self.last_key.len());
        bytes.push(CHECKPOINT_VERSION);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&label[..length as usize]);
        bytes.extend_from_slice(self.last_key.as_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let unreadable = || Error::Checkpoint {
            key: CHECKPOINT_KEY.to_owned(),
            reason: "it is not a checkpoint this version of Coffer can read",
        };
        let (&version, rest) = bytes.split_first().ok_or_else(unreadable)?;
        if version != CHECKPOINT_VERSION {
            return Err(unreadable());
        }
        let (length, rest) = rest.split_at_checked(4).ok_or_else(unreadable)?;
        let length: [u8; 4] = length.try_into().map_err(|_| unreadable())?;
        let length = usize::try_from(u32::from_be_bytes(length)).map_err(|_| unreadable())?;
        let (label, last_key) = rest.split_at_checked(length).ok_or_else(unreadable)?;
        Ok(Self {
            source: String::from_utf8(label.to_vec()).map_err(|_| unreadable())?,
            last_key: String::from_utf8(last_key.to_vec()).map_err(|_| unreadable())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    fn config(reset: bool, start: Option<&str>) -> MigrationConfig {
        MigrationConfig {
            source_label: "memory:a".to_owned(),
            start: start.map(str::to_owned),
            reset,
            batch_keys: 3,
            batch_bytes: 1 << 20,
        }
    }

    async fn filled(keys: &[&str]) -> Storage {
        let storage = Storage::new(MemoryBackend::new());
        for key in keys {
            storage
                .put(key, format!("value of {key}").as_bytes())
                .await
                .expect("put");
        }
        storage
    }

    async fn all(storage: &Storage) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for key in storage.scan("", None, usize::MAX).await.expect("scan") {
            let value = storage.get(&key).await.expect("get").expect("present");
            out.push((key, value));
        }
        out
    }

    const KEYS: [&str; 8] = [
        "a",
        "a/b",
        "a0",
        "core/keyring",
        "logical/x/1",
        "logical/x/2",
        "sys/token/t",
        "z\u{e9}",
    ];

    #[tokio::test]
    async fn copies_everything_and_removes_the_checkpoint() {
        let source = filled(&KEYS).await;
        let destination = Storage::new(MemoryBackend::new());
        let mut seen = Vec::new();
        let summary = migrate(&source, &destination, &config(false, None), &mut |p| {
            seen.push(p)
        })
        .await
        .expect("migrate");
        assert_eq!(all(&source).await, all(&destination).await);
        assert_eq!(summary.total, 8);
        assert_eq!(summary.copied, 8);
        let done: Vec<u64> = seen.iter().map(|p| p.done).collect();
        assert_eq!(done, [0, 3, 6, 8]);
    }

    #[tokio::test]
    async fn resumes_after_the_checkpoint_and_refuses_foreign_data() {
        let source = filled(&KEYS).await;
        let destination = filled(&["a", "a/b"]).await;
        let refused = migrate(&source, &destination, &config(false, None), &mut |_| {}).await;
        assert!(matches!(refused, Err(Error::DestinationNotEmpty { key }) if key == "a"));

        let checkpoint = Checkpoint {
            source: "memory:a".to_owned(),
            last_key: "a/b".to_owned(),
        };
        destination
            .put(CHECKPOINT_KEY, &checkpoint.encode())
            .await
            .expect("put");
        let summary = migrate(&source, &destination, &config(false, None), &mut |_| {})
            .await
            .expect("resume");
        assert_eq!(summary.copied, 6);
        assert_eq!(summary.resumed_after.as_deref(), Some("a/b"));
        assert_eq!(all(&source).await, all(&destination).await);
    }

    #[tokio::test]
    async fn a_checkpoint_from_another_source_or_in_the_source_is_refused() {
        let source = filled(&KEYS).await;
        let destination = Storage::new(MemoryBackend::new());
        let foreign = Checkpoint {
            source: "elsewhere".to_owned(),
            last_key: String::new(),
        };
        destination
            .put(CHECKPOINT_KEY, &foreign.encode())
            .await
            .expect("put");
        let refused = migrate(&source, &destination, &config(false, None), &mut |_| {}).await;
        assert!(
            matches!(refused, Err(Error::Checkpoint { .. })),
            "{refused:?}"
        );
        migrate(&source, &destination, &config(true, None), &mut |_| {})
            .await
            .expect("reset wins");
        assert_eq!(all(&source).await, all(&destination).await);

        source
            .put(CHECKPOINT_KEY, &foreign.encode())
            .await
            .expect("put");
        let refused = migrate(
            &source,
            &filled(&[]).await,
            &config(false, None),
            &mut |_| {},
        )
        .await;
        assert!(
            matches!(refused, Err(Error::Checkpoint { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn start_copies_from_that_key_on() {
        let source = filled(&KEYS).await;
        let destination = Storage::new(MemoryBackend::new());
        let summary = migrate(
            &source,
            &destination,
            &config(false, Some("a0")),
            &mut |_| {},
        )
        .await
        .expect("migrate");
        assert_eq!(summary.total, 6);
        let keys: Vec<String> = all(&destination)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, KEYS[2..]);
    }

    #[tokio::test]
    async fn an_sqlite_file_open_elsewhere_is_in_use() {
        use crate::Backend as _;
        use crate::sqlite::{SqliteBackend, SqliteConfig, ensure_not_in_use};
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SqliteConfig::new(dir.path().join("c.db"));
        ensure_not_in_use(&config)
            .await
            .expect("a missing file is free");
        let open = SqliteBackend::open(config.clone()).await.expect("open");
        open.put("k", b"v").await.expect("put");
        let busy = ensure_not_in_use(&config).await;
        assert!(matches!(busy, Err(Error::InUse { .. })), "{busy:?}");
        open.close().await.expect("close");
        ensure_not_in_use(&config).await.expect("free once closed");
        let reopened = SqliteBackend::open(config).await.expect("reopen");
        assert_eq!(reopened.get("k").await.expect("get"), Some(b"v".to_vec()));
        reopened.close().await.expect("close");
    }

    #[test]
    fn checkpoints_round_trip_and_bad_bytes_are_errors() {
        let checkpoint = Checkpoint {
            source: "sqlite /tmp/c.db".to_owned(),
            last_key: "logical/x\ny".to_owned(),
        };
        assert_eq!(
            Checkpoint::decode(&checkpoint.encode()).ok(),
            Some(checkpoint)
        );
        for bad in [
            &b""[..],
            b"\x02",
            b"\x01\x00\x00",
            b"\x01\x00\x00\x00\x09ab",
        ] {
            assert!(Checkpoint::decode(bad).is_err(), "{bad:?}");
        }
    }
}
