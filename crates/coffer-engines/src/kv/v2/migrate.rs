//! The upgrade of a KV version 1 mount to version 2: every secret KV version 1 stored at
//! `kv1/<key>` becomes a new version (version 1, for a key v2 has not seen) of that key in the
//! version 2 layout, and its `kv1/` entry is deleted in the same transaction, so an interrupted
//! upgrade resumes where it stopped and no secret is ever in both places or in neither.

use coffer_barrier::BarrierOp;
use coffer_core::{Error, Result};

use super::super::v1;
use super::config;
use super::data::add_version;
use super::keyspace::{Change, Commit, KeyName, Keyspace, MAX_ATTEMPTS, barrier_error};
use super::record::{KeyMetadata, MountConfig, Timestamp};

/// How many `kv1/` entries one scan returns.
const PAGE: usize = 256;

/// Moves every KV version 1 secret of the mount into the version 2 layout; returns how many
/// were moved. Entries whose names cannot be version 2 keys (ending with `/`) stay where they
/// are, with a warning in the log.
pub(crate) async fn from_v1(keyspace: &Keyspace<'_>, now: Timestamp) -> Result<usize> {
    let view = keyspace.view();
    let prefix = format!("{}/", v1::STORAGE_FOLDER);
    let config = config::load(view).await?;
    let mut after: Option<String> = None;
    let mut moved = 0;
    loop {
        let page = view
            .scan(&prefix, after.as_deref(), PAGE)
            .await
            .map_err(barrier_error)?;
        for path in &page {
            let Some(name) = path.strip_prefix(&prefix) else {
                continue;
            };
            let Some(key) = KeyName::parse(name) else {
                tracing::warn!(
                    storage_path = %path,
                    "a KV version 1 entry whose name ends with '/' cannot become a version 2 key; left in place"
                );
                continue;
            };
            if move_one(keyspace, &config, path, &key, now).await? {
                moved += 1;
            }
        }
        if page.len() < PAGE {
            return Ok(moved);
        }
        after = page.last().cloned();
    }
}

/// Moves one entry; `false` when it vanished meanwhile.
async fn move_one(
    keyspace: &Keyspace<'_>,
    config: &MountConfig,
    path: &str,
    key: &KeyName,
    now: Timestamp,
) -> Result<bool> {
    let id = keyspace.key_id(key);
    for _ in 0..MAX_ATTEMPTS {
        let Some((bytes, stamp)) = keyspace
            .view()
            .get_stamped(path)
            .await
            .map_err(barrier_error)?
        else {
            return Ok(false);
        };
        let data = v1::decode_secret(path, &bytes)?;
        let mut snapshot = keyspace.load(key).await?;
        let mut meta = snapshot
            .meta
            .take()
            .unwrap_or_else(|| KeyMetadata::new(key.as_str(), now));
        let (mut ops, _) = add_version(
            &id,
            &mut meta,
            super::record::encode_value(&data),
            config,
            now,
        );
        ops.push(BarrierOp::Expect {
            path: path.to_owned(),
            stamp: Some(stamp),
        });
        ops.push(BarrierOp::Delete {
            path: path.to_owned(),
        });
        if keyspace
            .commit(key, snapshot, Change::Write { meta, ops })
            .await?
            == Commit::Done
        {
            return Ok(true);
        }
        tokio::task::yield_now().await;
    }
    Err(Error::Conflict)
}
