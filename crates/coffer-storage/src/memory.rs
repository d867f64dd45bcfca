//! The in-memory backend: a `BTreeMap` behind a lock. For tests and `coffer server -dev`; it
//! forgets everything when the process exits.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use crate::key::{self, Child};
use crate::{Backend, Error, Record, Result, TxOp};

/// A [`Backend`] that keeps every record in process memory. Kind `"inmem"`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    records: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the map half-written (every write is one
    // `BTreeMap` call, or a batch applied after all checks passed), so a poisoned lock is safe
    // to keep using.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.records
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.records
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        key::validate(key)?;
        Ok(self.read().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        key::validate(key)?;
        self.write().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        key::validate(key)?;
        self.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        key::validate_fragment(prefix)?;
        let records = self.read();
        let mut children = Vec::new();
        let mut from = prefix.to_owned();
        'seek: loop {
            let range = records.range::<str, _>((Bound::Included(from.as_str()), Bound::Unbounded));
            for stored in range.map(|(stored, _)| stored) {
                if !stored.starts_with(prefix) {
                    break 'seek;
                }
                match key::child(prefix, stored) {
                    Some(Child::Leaf(name)) => children.push(name.to_owned()),
                    Some(Child::Folder(folder)) => {
                        children.push(folder.to_owned());
                        from = key::skip_folder(prefix, folder);
                        continue 'seek;
                    }
                    None => {}
                }
            }
            break;
        }
        Ok(children)
    }

    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let start = key::scan_from(prefix, after)?;
        let records = self.read();
        Ok(records
            .range::<str, _>((Bound::Included(start.as_str()), Bound::Unbounded))
            .map(|(stored, _)| stored)
            .take_while(|stored| stored.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let start = key::scan_from(prefix, after)?;
        let records = self.read();
        Ok(records
            .range::<str, _>((Bound::Included(start.as_str()), Bound::Unbounded))
            .take_while(|(stored, _)| stored.starts_with(prefix))
            .take(limit)
            .map(|(stored, value)| (stored.clone(), value.clone()))
            .collect())
    }

    async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
        for op in &ops {
            op.validate()?;
        }
        let mut records = self.write();
        // Steps run against an overlay so an `Expect` sees earlier steps, and nothing reaches the
        // map unless every step passed.
        let mut overlay: BTreeMap<&str, Option<&[u8]>> = BTreeMap::new();
        for op in &ops {
            match op {
                TxOp::Put { key, value } => {
                    overlay.insert(key, Some(value));
                }
                TxOp::Delete { key } => {
                    overlay.insert(key, None);
                }
                TxOp::Expect { key, value } => {
                    let current = match overlay.get(key.as_str()) {
                        Some(staged) => *staged,
                        None => records.get(key).map(Vec::as_slice),
                    };
                    if current != value.as_deref() {
                        return Err(Error::Conflict { key: key.clone() });
                    }
                }
                TxOp::ExpectEmpty { prefix } => {
                    let staged = overlay
                        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                        .take_while(|(key, _)| key.starts_with(prefix.as_str()))
                        .any(|(_, value)| value.is_some());
                    let stored = records
                        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                        .map(|(key, _)| key)
                        .take_while(|key| key.starts_with(prefix.as_str()))
                        .any(|key| !overlay.contains_key(key.as_str()));
                    if staged || stored {
                        return Err(Error::Conflict {
                            key: prefix.clone(),
                        });
                    }
                }
            }
        }
        let staged: Vec<(String, Option<Vec<u8>>)> = overlay
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.map(<[u8]>::to_vec)))
            .collect();
        for (key, value) in staged {
            match value {
                Some(value) => records.insert(key, value),
                None => records.remove(&key),
            };
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
