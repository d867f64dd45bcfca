//! A read cache in front of a backend: the records (still ciphertext: the cache sits below the
//! barrier) most recently read or written, bounded in bytes.
//!
//! Vault keeps the same kind of cache in front of its physical storage. It is only correct while
//! this process is the store's only writer, so the server leaves it out when several nodes share
//! a store (HA on PostgreSQL). Absent keys are cached too, so probing a key that does not exist yet
//! (every create does) costs no storage read.
//!
//! Coherence: a write reaches the backend first and, once the backend answered and before the
//! caller hears back, drops every key it named from the cache, so a caller never reads an older
//! value than one it was told is written. The cache never stores what a write wrote: two writers
//! of one key are committed in one order and answered in any order, so storing their values as
//! they come back could leave the loser's value cached for good. A read that missed fills the
//! cache only if no write touched the same shard while it was reading (a per-shard generation),
//! so a slow read can never put back a value a write replaced.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::{Backend, Record, Result, TxOp};

/// The default budget: enough for tens of thousands of small records.
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

/// Independent locks, so concurrent requests rarely wait for each other.
const SHARDS: usize = 16;

/// What one entry costs beyond its key and value bytes (map slot, ring slot, allocation headers).
const ENTRY_OVERHEAD: usize = 96;

/// Records bigger than this are never cached: they would push out many small ones.
const MAX_CACHED_VALUE: usize = 64 << 10;

/// A [`Backend`] that answers repeated reads from memory. Kind: the inner backend's.
pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl CachedBackend {
    /// Caches reads of `inner` in at most about `budget_bytes` of memory.
    pub fn new(inner: Arc<dyn Backend>, budget_bytes: usize) -> Self {
        let per_shard = (budget_bytes / SHARDS).max(1);
        Self {
            inner,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets `key` after a write named it (the next read asks the backend).
    fn forget(&self, key: &str) {
        let mut shard = self.shard(key);
        shard.generation += 1;
        shard.remove(key);
    }
}

#[async_trait]
impl Backend for CachedBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let generation = {
            let mut shard = self.shard(key);
            if let Some(hit) = shard.lookup(key) {
                return Ok(hit.map(|value| value.to_vec()));
            }
            shard.generation
        };
        let value = self.inner.get(key).await?;
        let mut shard = self.shard(key);
        if shard.generation == generation {
            shard.insert(key, value.as_deref().map(Arc::from));
        }
        Ok(value)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let outcome = self.inner.put(key, value).await;
        self.forget(key);
        outcome
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let outcome = self.inner.delete(key).await;
        self.forget(key);
        outcome
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix).await
    }

    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.inner.scan(prefix, after, limit).await
    }

    /// Read from the backend in one go; a range read neither consults nor fills the cache.
    async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.inner.scan_records(prefix, after, limit).await
    }

    async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
        // Only the keys the transaction writes matter afterwards; checks leave values alone.
        let written: Vec<String> = ops
            .iter()
            .filter(|op| matches!(op, TxOp::Put { .. } | TxOp::Delete { .. }))
            .map(|op| op.key().to_owned())
            .collect();
        let outcome = self.inner.transaction(ops).await;
        // Applied, refused or failed half-way: the next read of each asks the backend. So does
        // the next read of a key whose check failed, in case what the caller read came from here.
        for key in &written {
            self.forget(key);
        }
        if let Err(crate::Error::Conflict { key }) = &outcome {
            self.forget(key);
        }
        outcome
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn close(&self) -> Result<()> {
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        self.inner.close().await
    }
}

/// One lock's share of the cache, evicting with the CLOCK (second chance) rule.
struct Shard {
    entries: HashMap<Arc<str>, Entry>,
    /// Keys in insertion order; the hand sweeps from the front.
    ring: VecDeque<Arc<str>>,
    bytes: usize,
    budget: usize,
    /// Bumped by every write to this shard (see the module docs).
    generation: u64,
}

struct Entry {
    value: Option<Arc<[u8]>>,
    /// Read since the hand last passed.
    referenced: bool,
}

impl Shard {
    fn new(budget: usize) -> Self {
        Self {
            entries: HashMap::new(),
            ring: VecDeque::new(),
            bytes: 0,
            budget,
            generation: 0,
        }
    }

    /// `Some(value)` on a hit (`Some(None)`: known absent).
    fn lookup(&mut self, key: &str) -> Option<Option<Arc<[u8]>>> {
        let entry = self.entries.get_mut(key)?;
        entry.referenced = true;
        Some(entry.value.clone())
    }

    fn insert(&mut self, key: &str, value: Option<Arc<[u8]>>) {
        if value
            .as_ref()
            .is_some_and(|value| value.len() > MAX_CACHED_VALUE)
        {
            self.remove(key);
            return;
        }
        let cost = cost(key, value.as_deref());
        if let Some(entry) = self.entries.get_mut(key) {
            self.bytes = self.bytes - cost_of(key, entry) + cost;
            entry.value = value;
        } else {
            let key: Arc<str> = Arc::from(key);
            self.ring.push_back(key.clone());
            self.entries.insert(
                key,
                Entry {
                    value,
                    referenced: false,
                },
            );
            self.bytes += cost;
        }
        self.evict();
    }

    fn remove(&mut self, key: &str) {
        // Its ring slot goes when the hand reaches it.
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= cost_of(key, &entry);
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some(key) = self.ring.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&key) else {
                continue; // removed earlier
            };
            if entry.referenced {
                entry.referenced = false;
                self.ring.push_back(key);
            } else {
                self.remove(&key);
            }
        }
        // Slots of removed keys pile up under write-heavy loads; drop them once they dominate.
        if self.ring.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.ring.retain(|key| entries.contains_key(key));
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.ring.clear();
        self.bytes = 0;
    }
}

fn cost(key: &str, value: Option<&[u8]>) -> usize {
    key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
}

fn cost_of(key: &str, entry: &Entry) -> usize {
    cost(key, entry.value.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    use crate::{Storage, testing};

    fn cached(budget: usize) -> (Arc<MemoryBackend>, CachedBackend) {
        let inner = Arc::new(MemoryBackend::new());
        let cache = CachedBackend::new(inner.clone(), budget);
        (inner, cache)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn passes_the_conformance_suite() {
        let storage = Storage::new(MemoryBackend::new()).with_read_cache(DEFAULT_CACHE_BYTES);
        testing::exercise_backend(&storage).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_tiny_budget_still_answers_correctly() {
        let storage = Storage::new(MemoryBackend::new()).with_read_cache(SHARDS * 200);
        testing::exercise_backend(&storage).await;
    }

    #[tokio::test]
    async fn reads_are_served_from_memory_until_a_write_through_the_cache() {
        let (inner, cache) = cached(DEFAULT_CACHE_BYTES);
        cache.put("a", b"one").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        // Changed behind the cache's back: the cache still answers what it read.
        inner.put("a", b"two").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        cache
            .transaction(vec![TxOp::Put {
                key: "a".into(),
                value: b"three".to_vec(),
            }])
            .await
            .unwrap();
        assert_eq!(
            cache.get("a").await.unwrap().as_deref(),
            Some(&b"three"[..])
        );
        cache.delete("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
    }

    /// A backend whose writes apply at once but answer only when released, so two writes of one
    /// key can be committed in one order and answered in the other.
    struct Held {
        inner: MemoryBackend,
        hold_next: std::sync::atomic::AtomicBool,
        release: tokio::sync::Notify,
        applied: tokio::sync::Notify,
    }

    #[async_trait]
    impl Backend for Held {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get(key).await
        }
        async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
            self.inner.put(key, value).await?;
            if self
                .hold_next
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                self.applied.notify_one();
                self.release.notified().await;
            }
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>> {
            self.inner.list(prefix).await
        }
        async fn scan(
            &self,
            prefix: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<String>> {
            self.inner.scan(prefix, after, limit).await
        }
        async fn scan_records(
            &self,
            prefix: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<Record>> {
            self.inner.scan_records(prefix, after, limit).await
        }
        async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
            self.inner.transaction(ops).await
        }
        fn kind(&self) -> &'static str {
            "held"
        }
        async fn close(&self) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn writes_answered_out_of_order_leave_the_last_committed_value() {
        let held = Arc::new(Held {
            inner: MemoryBackend::new(),
            hold_next: std::sync::atomic::AtomicBool::new(true),
            release: tokio::sync::Notify::new(),
            applied: tokio::sync::Notify::new(),
        });
        let cache = Arc::new(CachedBackend::new(held.clone(), DEFAULT_CACHE_BYTES));
        let first = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.put("k", b"first").await })
        };
        // "first" is committed; "second" is committed after it and answered before it.
        held.applied.notified().await;
        cache.put("k", b"second").await.unwrap();
        held.release.notify_one();
        first.await.unwrap().unwrap();
        assert_eq!(
            held.inner.get("k").await.unwrap().as_deref(),
            Some(&b"second"[..])
        );
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"second"[..]),
            "the cache answers the value committed last"
        );
    }

    #[tokio::test]
    async fn absent_keys_are_remembered_and_a_conflict_forgets_what_it_named() {
        let (inner, cache) = cached(DEFAULT_CACHE_BYTES);
        assert_eq!(cache.get("k").await.unwrap(), None);
        inner.put("k", b"behind").await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None, "absence is cached");
        let conflict = cache
            .transaction(vec![
                TxOp::Expect {
                    key: "k".into(),
                    value: None,
                },
                TxOp::Put {
                    key: "k".into(),
                    value: b"mine".to_vec(),
                },
            ])
            .await;
        assert!(matches!(conflict, Err(crate::Error::Conflict { .. })));
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"behind"[..]),
            "after a failed transaction the backend is asked again"
        );
    }

    #[tokio::test]
    async fn the_budget_bounds_memory() {
        let budget = SHARDS * 4096;
        let (_, cache) = cached(budget);
        for i in 0..2000 {
            cache.put(&format!("key/{i}"), &[7u8; 100]).await.unwrap();
            cache.get(&format!("key/{i}")).await.unwrap();
        }
        let (bytes, entries): (usize, usize) = cache
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap();
                (shard.bytes, shard.entries.len())
            })
            .fold((0, 0), |(b, e), (sb, se)| (b + sb, e + se));
        assert!(bytes <= budget, "{bytes} bytes cached, budget {budget}");
        assert!(entries < 2000 && entries > 100, "{entries} entries");
        // Evicted records are still read from the backend.
        assert_eq!(cache.get("key/0").await.unwrap(), Some(vec![7u8; 100]));
    }

    #[tokio::test]
    async fn big_records_pass_through_uncached() {
        let (inner, cache) = cached(DEFAULT_CACHE_BYTES);
        let big = vec![1u8; MAX_CACHED_VALUE + 1];
        cache.put("big", &big).await.unwrap();
        inner.put("big", b"small").await.unwrap();
        assert_eq!(
            cache.get("big").await.unwrap().as_deref(),
            Some(&b"small"[..])
        );
    }
}
