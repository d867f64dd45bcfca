//! Where KV version 2 keeps things in its storage view, and how it changes them atomically.
//!
//! Storage paths are visible to the untrusted storage, so none of them contains a secret's
//! name. Layout (every value is encrypted by the barrier):
//!
//! - `salt`: the mount's random HMAC-SHA256 key, created on first use;
//! - `config`: the mount settings (see `config`);
//! - `meta/<id>`: a key's metadata, where `<id>` is the hex HMAC of the key's name;
//! - `ver/<id>/<version, 20 digits>`: the value of one version;
//! - `dir/<hmac(folder)>/<hmac(child)>`: the folder index that makes LIST possible without
//!   clear names. Every folder holding keys or subfolders has one entry per child, whose value
//!   is the child's name (`db`, or `sub/` for a subfolder). Folders are `""` (the root) or end
//!   with `/`; keys never end with `/`, so a folder and a key never share an HMAC.
//!
//! Every change to a key is one barrier transaction that starts with an `Expect` on the
//! metadata record as it was read (or its absence), so two writers can never both win. Creating
//! a key writes its own index entry and those of ancestors that do not exist yet, and `Expect`s
//! the ancestors' entries that do, unchanged (see [`Keyspace::index_additions`]); removing one
//! deletes its entry and prunes the folders left empty, each with an `ExpectEmpty` on the folder
//! (see [`Keyspace::index_removal`]). Whoever adds below a folder thus touches the folder's own
//! entry, which a prune deletes, so the index stays exact under concurrent creates and deletes,
//! and creates in one folder never rewrite a shared record (they do not wait for each other on a
//! shared store).

use std::fmt;

use coffer_barrier::{BarrierOp, Stamp, View};
use coffer_core::{Error, Result};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::record::{self, KeyMetadata};

/// How many times a write re-reads and retries after losing a race before giving up with
/// [`Error::Conflict`].
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// Where the salt lives.
const SALT_PATH: &str = "salt";

/// Where the metadata records live (`meta/<id>`).
const META_PREFIX: &str = "meta/";

/// Salt length in bytes.
const SALT_LEN: usize = 32;

/// How many storage keys one scan page returns.
const SCAN_PAGE: usize = 256;

/// How many folder index entries (key and value, ~160 bytes each) one read of a listing takes.
const INDEX_PAGE: usize = 1024;

/// A key's name below the mount (`app/db`): not empty and not ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyName(String);

impl KeyName {
    /// The name, or `None` when `raw` cannot name a key (empty, or a folder).
    pub(crate) fn parse(raw: &str) -> Option<KeyName> {
        (!raw.is_empty() && !raw.ends_with('/')).then(|| KeyName(raw.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder index links from the root down to this key.
    fn links(&self) -> Vec<Link<'_>> {
        let name = self.0.as_str();
        let mut links = Vec::new();
        let mut start = 0;
        // Every cut is right after a '/', so it falls on a character boundary.
        for (slash, _) in name.match_indices('/') {
            let end = slash + 1;
            let (folder, _) = name.split_at(start);
            let (child, _) = name.split_at(end);
            let (_, segment) = child.split_at(start);
            links.push(Link {
                folder,
                child,
                name: segment,
            });
            start = end;
        }
        let (folder, segment) = name.split_at(start);
        links.push(Link {
            folder,
            child: name,
            name: segment,
        });
        links
    }
}

/// A folder below the mount: `""` (the root) or a path ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Folder(String);

impl Folder {
    /// The folder a LIST path names: `app` and `app/` both mean `app/`.
    pub(crate) fn parse(raw: &str) -> Folder {
        if raw.is_empty() || raw.ends_with('/') {
            Folder(raw.to_owned())
        } else {
            Folder(format!("{raw}/"))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The full path of the child `name` (`db` or `sub/`).
    pub(crate) fn child(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

/// One edge of the folder tree: `child` (a full path) is listed in `folder` as `name`.
#[derive(Debug, Clone, Copy)]
struct Link<'a> {
    folder: &'a str,
    child: &'a str,
    name: &'a str,
}

/// The mount's HMAC key. Never printed.
pub(crate) struct Salt(Zeroizing<Vec<u8>>);

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

impl Salt {
    /// The salt of the view's mount, created (once, even with racing nodes) on first use.
    pub(crate) async fn load_or_create(view: &View) -> Result<Salt> {
        if let Some(salt) = Salt::load(view).await? {
            return Ok(salt);
        }
        let mut fresh = Zeroizing::new(vec![0u8; SALT_LEN]);
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| Error::Barrier(coffer_barrier::Error::Random))?;
        let created = view
            .transaction(vec![
                BarrierOp::Expect {
                    path: SALT_PATH.to_owned(),
                    stamp: None,
                },
                BarrierOp::Put {
                    path: SALT_PATH.to_owned(),
                    value: record::encode_bytes(&fresh),
                },
            ])
            .await;
        match created {
            Ok(()) => Ok(Salt(fresh)),
            // Another node created it first: use theirs.
            Err(coffer_barrier::Error::Conflict { .. }) => Salt::load(view)
                .await?
                .ok_or_else(|| record::corrupt(SALT_PATH, "the salt vanished".to_owned())),
            Err(other) => Err(barrier_error(other)),
        }
    }

    /// The salt of the view's mount, if it was ever created.
    pub(crate) async fn load(view: &View) -> Result<Option<Salt>> {
        let Some(bytes) = view.get(SALT_PATH).await.map_err(barrier_error)? else {
            return Ok(None);
        };
        let salt = record::decode_bytes(SALT_PATH, &bytes)?;
        if salt.len() != SALT_LEN {
            return Err(record::corrupt(
                SALT_PATH,
                format!("the salt is {} bytes, not {SALT_LEN}", salt.len()),
            ));
        }
        Ok(Some(Salt(Zeroizing::new(salt.to_vec()))))
    }
}

/// A key's storage identity: the hex HMAC of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyId(String);

impl KeyId {
    /// Where its metadata lives.
    pub(crate) fn meta_path(&self) -> String {
        format!("{META_PREFIX}{}", self.0)
    }

    /// Where the value of `version` lives.
    pub(crate) fn version_path(&self, version: u64) -> String {
        format!("ver/{}/{version:020}", self.0)
    }

    /// The folder of all its values.
    fn versions_prefix(&self) -> String {
        format!("ver/{}/", self.0)
    }
}

/// The current metadata of a key and the stamp proving what was read.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The metadata, or `None` for a key that does not exist.
    pub(crate) meta: Option<KeyMetadata>,
    stamp: Option<Stamp>,
}

/// One page of metadata records, and the cursor of the next page (`None` after the last).
#[derive(Debug)]
pub(crate) struct MetadataPage {
    pub(crate) records: Vec<KeyMetadata>,
    pub(crate) next: Option<String>,
}

/// What a write does to a key.
#[derive(Debug)]
pub(crate) enum Change {
    /// Store `meta` (creating the key if it is new) together with `ops` (values of versions).
    Write {
        meta: KeyMetadata,
        ops: Vec<BarrierOp>,
    },
    /// Remove the key: its metadata, every value and its folder index entries.
    Remove,
}

/// What a decision callback of [`Keyspace::update`] answers.
#[derive(Debug)]
pub(crate) enum Decision<T> {
    /// Write nothing; answer `T`.
    Keep(T),
    /// Apply the change; answer `T` once it is committed.
    Apply(Change, T),
}

/// Whether a commit went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Done,
    /// Someone changed the key (or a folder entry) since it was read; read again and retry.
    Retry,
}

/// The storage of one KV version 2 mount, addressed by HMACed names.
pub(crate) struct Keyspace<'a> {
    view: &'a View,
    hmac: hmac::Key,
}

impl fmt::Debug for Keyspace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyspace")
            .field("view", self.view)
            .finish_non_exhaustive()
    }
}

impl<'a> Keyspace<'a> {
    pub(crate) fn new(view: &'a View, salt: &Salt) -> Keyspace<'a> {
        Keyspace {
            view,
            hmac: hmac::Key::new(hmac::HMAC_SHA256, &salt.0),
        }
    }

    pub(crate) fn view(&self) -> &View {
        self.view
    }

    /// The storage identity of a key.
    pub(crate) fn key_id(&self, key: &KeyName) -> KeyId {
        KeyId(self.id(key.as_str()))
    }

    /// The metadata of `key`, if it exists.
    pub(crate) async fn metadata(&self, key: &KeyName) -> Result<Option<KeyMetadata>> {
        let path = self.key_id(key).meta_path();
        match self.view.get(&path).await.map_err(barrier_error)? {
            Some(bytes) => Ok(Some(record::decode(&path, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The metadata of `key` with the stamp a commit will check.
    pub(crate) async fn load(&self, key: &KeyName) -> Result<Snapshot> {
        let path = self.key_id(key).meta_path();
        match self.view.get_stamped(&path).await.map_err(barrier_error)? {
            Some((bytes, stamp)) => Ok(Snapshot {
                meta: Some(record::decode(&path, &bytes)?),
                stamp: Some(stamp),
            }),
            None => Ok(Snapshot {
                meta: None,
                stamp: None,
            }),
        }
    }

    /// Whether the metadata of `key` still is what `snapshot` saw.
    pub(crate) async fn unchanged(&self, key: &KeyName, snapshot: &Snapshot) -> Result<bool> {
        let path = self.key_id(key).meta_path();
        let now = self.view.get_stamped(&path).await.map_err(barrier_error)?;
        Ok(now.map(|(_, stamp)| stamp) == snapshot.stamp)
    }

    /// One page of at most `limit` metadata records in storage order, after the cursor `after`
    /// (`None` for the first page). The order is that of the HMACed names, so it says nothing
    /// about the names; memory stays bounded by `limit` however many keys there are.
    pub(crate) async fn metadata_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MetadataPage> {
        let stored = self
            .view
            .scan_records(META_PREFIX, after, limit)
            .await
            .map_err(barrier_error)?;
        let mut records = Vec::with_capacity(stored.len());
        for (path, bytes) in &stored {
            records.push(record::decode(path, bytes)?);
        }
        let next = (stored.len() == limit)
            .then(|| stored.last().map(|(path, _)| path.clone()))
            .flatten();
        Ok(MetadataPage { records, next })
    }

    /// The value of `version` of `key`, if stored.
    pub(crate) async fn value(
        &self,
        key: &KeyName,
        version: u64,
    ) -> Result<Option<Map<String, Value>>> {
        let path = self.key_id(key).version_path(version);
        match self.view.get(&path).await.map_err(barrier_error)? {
            Some(bytes) => Ok(Some(record::decode_value(&path, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Reads `key`, lets `decide` pick a change, and commits it; re-reads and decides again
    /// when a concurrent writer got there first (so a check-and-set decision is always made on
    /// what is committed).
    pub(crate) async fn update<T>(
        &self,
        key: &KeyName,
        mut decide: impl FnMut(Option<KeyMetadata>) -> Result<Decision<T>>,
    ) -> Result<T> {
        for _ in 0..MAX_ATTEMPTS {
            let mut snapshot = self.load(key).await?;
            match decide(snapshot.meta.take())? {
                Decision::Keep(answer) => return Ok(answer),
                Decision::Apply(change, answer) => {
                    if self.commit(key, snapshot, change).await? == Commit::Done {
                        return Ok(answer);
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        Err(Error::Conflict)
    }

    /// Applies `change` to `key` in one transaction, provided the metadata is still what
    /// `snapshot` saw.
    pub(crate) async fn commit(
        &self,
        key: &KeyName,
        snapshot: Snapshot,
        change: Change,
    ) -> Result<Commit> {
        let id = self.key_id(key);
        let is_new = snapshot.stamp.is_none();
        let mut expects = vec![BarrierOp::Expect {
            path: id.meta_path(),
            stamp: snapshot.stamp,
        }];
        let mut writes = Vec::new();
        match change {
            Change::Write { meta, ops } => {
                if is_new {
                    writes.extend(self.index_additions(key).await?);
                }
                writes.push(BarrierOp::Put {
                    path: id.meta_path(),
                    value: record::encode(&meta),
                });
                writes.extend(ops);
            }
            Change::Remove => {
                if is_new {
                    return Ok(Commit::Done);
                }
                let Some(index_steps) = self.index_removal(key).await? else {
                    return Ok(Commit::Retry);
                };
                writes.extend(index_steps);
                writes.push(BarrierOp::Delete {
                    path: id.meta_path(),
                });
                for path in self.scan_all(&id.versions_prefix()).await? {
                    writes.push(BarrierOp::Delete { path });
                }
            }
        }
        expects.extend(writes);
        self.transact(expects).await
    }

    /// Runs a transaction, telling a lost race ([`Commit::Retry`]) from a failure.
    pub(crate) async fn transact(&self, ops: Vec<BarrierOp>) -> Result<Commit> {
        match self.view.transaction(ops).await {
            Ok(()) => Ok(Commit::Done),
            Err(coffer_barrier::Error::Conflict { .. }) => Ok(Commit::Retry),
            Err(other) => Err(barrier_error(other)),
        }
    }

    /// The names in `folder` (`db`, `sub/`), sorted; empty when the folder does not exist.
    ///
    /// The folder's entries are read a page of [`INDEX_PAGE`] records at a time, each page one
    /// storage read, rather than one read per entry.
    pub(crate) async fn children(&self, folder: &Folder) -> Result<Vec<String>> {
        let prefix = self.dir_prefix(folder.as_str());
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .view
                .scan_records(&prefix, after.as_deref(), INDEX_PAGE)
                .await
                .map_err(barrier_error)?;
            let done = page.len() < INDEX_PAGE;
            for (path, bytes) in &page {
                names.push(record::decode_text(path, bytes)?);
            }
            after = page.into_iter().next_back().map(|(path, _)| path);
            if done || after.is_none() {
                break;
            }
        }
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// The steps that make a new key visible to LIST: its own entry in its folder, and for each
    /// ancestor folder, an `Expect` that its entry is still as read or, when it is missing, the
    /// entry itself.
    ///
    /// Existing entries are expected, not rewritten: a prune deletes a folder's entry only after
    /// checking, in the same transaction, that the folder is empty, so a create and a prune of
    /// the same folder always touch a common record (the folder's entry) and are ordered; and
    /// creates in the same folder change no common record.
    async fn index_additions(&self, key: &KeyName) -> Result<Vec<BarrierOp>> {
        let links = key.links();
        let mut steps = Vec::with_capacity(links.len());
        let (own, ancestors) = links.split_last().ok_or_else(|| {
            record::corrupt(key.as_str(), "a key name without a folder link".to_owned())
        })?;
        for link in ancestors {
            let path = self.entry_path(*link);
            match self.view.get_stamped(&path).await.map_err(barrier_error)? {
                Some((_, stamp)) => steps.push(BarrierOp::Expect {
                    path,
                    stamp: Some(stamp),
                }),
                None => steps.push(BarrierOp::Put {
                    path,
                    value: record::encode_text(link.name),
                }),
            }
        }
        steps.push(BarrierOp::Put {
            path: self.entry_path(*own),
            value: record::encode_text(own.name),
        });
        Ok(steps)
    }

    /// The steps that take a key out of the folder index, in order, pruning the folders it
    /// leaves empty; `None` when an entry vanished while looking (read again and retry).
    ///
    /// The key's entry is deleted first. Then, from the key's folder up: a folder that still
    /// holds another child is kept, and that child's entry is expected, so two concurrent
    /// removals of the last two children cannot both keep the folder; a folder that looks empty
    /// gets an `ExpectEmpty` (checked after the deletes before it) and its own entry in its
    /// parent is deleted. A create below that folder expects or writes the folder's entry, so it
    /// either lands first (and the `ExpectEmpty` fails: retry) or sees the entry gone and
    /// writes it again.
    async fn index_removal(&self, key: &KeyName) -> Result<Option<Vec<BarrierOp>>> {
        let links = key.links();
        let mut steps = Vec::new();
        for depth in (0..links.len()).rev() {
            let Some(link) = links.get(depth) else { break };
            let entry = self.entry_path(*link);
            steps.push(BarrierOp::Delete {
                path: entry.clone(),
            });
            let folder = self.dir_prefix(link.folder);
            let first = self
                .view
                .scan(&folder, None, 2)
                .await
                .map_err(barrier_error)?;
            if let Some(sibling) = first.into_iter().find(|path| *path != entry) {
                let Some((_, stamp)) = self
                    .view
                    .get_stamped(&sibling)
                    .await
                    .map_err(barrier_error)?
                else {
                    return Ok(None);
                };
                steps.push(BarrierOp::Expect {
                    path: sibling,
                    stamp: Some(stamp),
                });
                break;
            }
            // The root folder has no entry of its own to remove; any other empty folder leaves
            // its parent (the next step deletes its entry there).
            if depth == 0 {
                break;
            }
            steps.push(BarrierOp::ExpectEmpty { prefix: folder });
        }
        Ok(Some(steps))
    }

    /// Every storage key under `prefix`.
    async fn scan_all(&self, prefix: &str) -> Result<Vec<String>> {
        let mut all = Vec::new();
        loop {
            let page = self
                .view
                .scan(prefix, all.last().map(String::as_str), SCAN_PAGE)
                .await
                .map_err(barrier_error)?;
            let done = page.len() < SCAN_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    fn entry_path(&self, link: Link<'_>) -> String {
        format!("dir/{}/{}", self.id(link.folder), self.id(link.child))
    }

    fn dir_prefix(&self, folder: &str) -> String {
        format!("dir/{}/", self.id(folder))
    }

    fn id(&self, name: &str) -> String {
        hex::encode(hmac::sign(&self.hmac, name.as_bytes()).as_ref())
    }
}

/// Maps a barrier failure to the core's vocabulary: sealed is [`Error::Sealed`], a lost race
/// that could not be retried is [`Error::Conflict`].
pub(crate) fn barrier_error(error: coffer_barrier::Error) -> Error {
    match error {
        coffer_barrier::Error::Sealed => Error::Sealed,
        coffer_barrier::Error::Conflict { .. } => Error::Conflict,
        other => Error::Barrier(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_links(key: &str, expect: &[(&str, &str, &str)]) {
        let key = KeyName::parse(key).expect("a valid key name in the test table");
        let got: Vec<_> = key
            .links()
            .into_iter()
            .map(|link| (link.folder, link.child, link.name))
            .collect();
        assert_eq!(got, expect, "{key:?}");
    }

    #[test]
    fn links_walk_from_the_root() {
        check_links("db", &[("", "db", "db")]);
        check_links(
            "a/b/c",
            &[
                ("", "a/", "a/"),
                ("a/", "a/b/", "b/"),
                ("a/b/", "a/b/c", "c"),
            ],
        );
        check_links("é/ü", &[("", "é/", "é/"), ("é/", "é/ü", "ü")]);
    }

    #[test]
    fn names_and_folders() {
        assert_eq!(KeyName::parse("a/b").map(|k| k.0), Some("a/b".to_owned()));
        assert_eq!(KeyName::parse(""), None);
        assert_eq!(KeyName::parse("a/"), None);
        for (raw, folder) in [("", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/")] {
            assert_eq!(Folder::parse(raw).as_str(), folder, "{raw:?}");
        }
        assert_eq!(Folder::parse("a").child("b/"), "a/b/");
    }

    #[test]
    fn version_paths_sort_numerically() {
        let id = KeyId("ab".to_owned());
        assert_eq!(id.version_path(7), "ver/ab/00000000000000000007");
        assert!(id.version_path(10) > id.version_path(9));
        assert_eq!(id.meta_path(), "meta/ab");
    }

    /// A fresh view and its key salt, for a [`Keyspace`].
    async fn fresh_view_and_salt() -> (View, Salt) {
        let view = fresh_view().await;
        let salt = Salt::load_or_create(&view)
            .await
            .expect("the salt is created");
        (view, salt)
    }

    /// A view of a fresh unsealed barrier over memory.
    async fn fresh_view() -> View {
        view_over(coffer_storage::Storage::new(
            coffer_storage::memory::MemoryBackend::new(),
        ))
        .await
    }

    /// A view of a fresh unsealed barrier over `storage`.
    async fn view_over(storage: coffer_storage::Storage) -> View {
        use std::sync::Arc;

        let barrier = Arc::new(coffer_barrier::Barrier::new(storage));
        let root = coffer_barrier::RootKey::generate().expect("the system random generator works");
        barrier
            .initialize(&root)
            .await
            .expect("a fresh barrier initializes");
        barrier
            .unseal(&root)
            .await
            .expect("its root key unseals it");
        barrier.view("logical/unit/")
    }

    fn key(name: &str) -> KeyName {
        KeyName::parse(name).expect("a valid key name in the test")
    }

    async fn create(keyspace: &Keyspace<'_>, name: &str) {
        let key = key(name);
        let meta = KeyMetadata::new(name, record::Timestamp::from_system(std::time::UNIX_EPOCH));
        keyspace
            .update(&key, |_| {
                let change = Change::Write {
                    meta: meta.clone(),
                    ops: Vec::new(),
                };
                Ok(Decision::Apply(change, ()))
            })
            .await
            .expect("the key is created");
    }

    async fn remove(keyspace: &Keyspace<'_>, name: &str) {
        keyspace
            .update(&key(name), |_| Ok(Decision::Apply(Change::Remove, ())))
            .await
            .expect("the key is removed");
    }

    async fn children(keyspace: &Keyspace<'_>, folder: &str) -> Vec<String> {
        keyspace
            .children(&Folder::parse(folder))
            .await
            .expect("the index lists")
    }

    /// The removal transaction of `name`, prepared now and committed later.
    async fn prepared_removal(keyspace: &Keyspace<'_>, name: &str) -> Vec<BarrierOp> {
        let key = key(name);
        let snapshot = keyspace.load(&key).await.expect("the key loads");
        let mut ops = vec![BarrierOp::Expect {
            path: keyspace.key_id(&key).meta_path(),
            stamp: snapshot.stamp,
        }];
        ops.extend(
            keyspace
                .index_removal(&key)
                .await
                .expect("the index reads")
                .expect("no entry vanished"),
        );
        ops.push(BarrierOp::Delete {
            path: keyspace.key_id(&key).meta_path(),
        });
        ops
    }

    /// The creation transaction of `name`, prepared now and committed later.
    async fn prepared_creation(keyspace: &Keyspace<'_>, name: &str) -> Vec<BarrierOp> {
        let key = key(name);
        let meta = KeyMetadata::new(name, record::Timestamp::from_system(std::time::UNIX_EPOCH));
        let mut ops = vec![BarrierOp::Expect {
            path: keyspace.key_id(&key).meta_path(),
            stamp: None,
        }];
        ops.extend(
            keyspace
                .index_additions(&key)
                .await
                .expect("the index reads"),
        );
        ops.push(BarrierOp::Put {
            path: keyspace.key_id(&key).meta_path(),
            value: record::encode(&meta),
        });
        ops
    }

    /// The stored frame of the index entry that lists `child` in `folder`.
    async fn entry_frame(keyspace: &Keyspace<'_>, folder: &str, child: &str) -> Option<Stamp> {
        let path = keyspace.entry_path(Link {
            folder,
            child,
            name: "",
        });
        keyspace
            .view
            .get_stamped(&path)
            .await
            .expect("the entry reads")
            .map(|(_, stamp)| stamp)
    }

    #[tokio::test]
    async fn a_create_loses_to_a_prune_of_its_folder() {
        let (view, salt) = fresh_view_and_salt().await;
        let keyspace = Keyspace::new(&view, &salt);
        create(&keyspace, "f/g/a").await;
        let stale = prepared_creation(&keyspace, "f/g/b").await;
        // Meanwhile the last key goes, and with it the folders `f/g/` and `f/`.
        remove(&keyspace, "f/g/a").await;
        assert_eq!(children(&keyspace, "").await, Vec::<String>::new());
        assert_eq!(
            keyspace.transact(stale).await.expect("no failure"),
            Commit::Retry
        );
        create(&keyspace, "f/g/b").await;
        assert_eq!(children(&keyspace, "").await, vec!["f/".to_owned()]);
        assert_eq!(children(&keyspace, "f/").await, vec!["g/".to_owned()]);
        assert_eq!(children(&keyspace, "f/g/").await, vec!["b".to_owned()]);
    }

    #[tokio::test]
    async fn creates_in_a_folder_leave_the_folder_entries_as_they_are() {
        let (view, salt) = fresh_view_and_salt().await;
        let keyspace = Keyspace::new(&view, &salt);
        create(&keyspace, "f/g/a").await;
        let before = (
            entry_frame(&keyspace, "", "f/").await,
            entry_frame(&keyspace, "f/", "f/g/").await,
        );
        assert!(before.0.is_some() && before.1.is_some());
        create(&keyspace, "f/g/b").await;
        create(&keyspace, "f/g/c").await;
        let after = (
            entry_frame(&keyspace, "", "f/").await,
            entry_frame(&keyspace, "f/", "f/g/").await,
        );
        assert_eq!(before, after, "a create rewrote an existing folder entry");
        assert_eq!(
            children(&keyspace, "f/g/").await,
            vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_prune_loses_to_a_create_in_the_folder_it_empties() {
        let (view, salt) = fresh_view_and_salt().await;
        let keyspace = Keyspace::new(&view, &salt);
        create(&keyspace, "f/g/a").await;
        let stale = prepared_removal(&keyspace, "f/g/a").await;
        // Meanwhile another key appears in the folder the removal would prune.
        create(&keyspace, "f/g/b").await;
        assert_eq!(
            keyspace.transact(stale).await.expect("no failure"),
            Commit::Retry
        );
        remove(&keyspace, "f/g/a").await;
        assert_eq!(children(&keyspace, "f/g/").await, vec!["b".to_owned()]);
        assert_eq!(children(&keyspace, "").await, vec!["f/".to_owned()]);
    }

    #[tokio::test]
    async fn removing_the_last_two_children_at_once_prunes_the_folder() {
        let (view, salt) = fresh_view_and_salt().await;
        let keyspace = Keyspace::new(&view, &salt);
        create(&keyspace, "f/a").await;
        create(&keyspace, "f/b").await;
        create(&keyspace, "top").await;
        // Each removal sees the other key and so would keep the folder.
        let remove_a = prepared_removal(&keyspace, "f/a").await;
        let remove_b = prepared_removal(&keyspace, "f/b").await;
        assert_eq!(
            keyspace.transact(remove_a).await.expect("no failure"),
            Commit::Done
        );
        assert_eq!(
            keyspace.transact(remove_b).await.expect("no failure"),
            Commit::Retry
        );
        remove(&keyspace, "f/b").await;
        assert_eq!(children(&keyspace, "f/").await, Vec::<String>::new());
        assert_eq!(children(&keyspace, "").await, vec!["top".to_owned()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_in_a_new_folder_all_land_through_the_read_cache() {
        let storage = coffer_storage::Storage::new(coffer_storage::memory::MemoryBackend::new())
            .with_read_cache(coffer_storage::cache::DEFAULT_CACHE_BYTES);
        let view = std::sync::Arc::new(view_over(storage).await);
        let salt = std::sync::Arc::new(
            Salt::load_or_create(&view)
                .await
                .expect("the salt is created"),
        );
        for round in 0..2 {
            let mut tasks = Vec::new();
            for n in 0..32 {
                let (view, salt) = (view.clone(), salt.clone());
                tasks.push(tokio::spawn(async move {
                    let keyspace = Keyspace::new(&view, &salt);
                    create(&keyspace, &format!("new/folder/k{round}-{n:02}")).await;
                }));
            }
            for task in tasks {
                task.await.expect("every create lands");
            }
        }
        let keyspace = Keyspace::new(&view, &salt);
        assert_eq!(children(&keyspace, "new/folder/").await.len(), 64);
        assert_eq!(children(&keyspace, "").await, vec!["new/".to_owned()]);
    }

    #[tokio::test]
    async fn the_salt_is_created_once() {
        let view = fresh_view().await;
        let first = Salt::load_or_create(&view)
            .await
            .expect("the salt is created");
        let second = Salt::load_or_create(&view).await.expect("the salt loads");
        assert_eq!(*first.0, *second.0);
        let (one, two) = (Keyspace::new(&view, &first), Keyspace::new(&view, &second));
        assert_eq!(one.key_id(&key("a")), two.key_id(&key("a")));
        assert_ne!(one.key_id(&key("a")), one.key_id(&key("b")));
    }

    #[test]
    fn salt_is_redacted() {
        let salt = Salt(Zeroizing::new(vec![7; SALT_LEN]));
        assert_eq!(format!("{salt:?}"), "Salt(<redacted>)");
    }
}
