//! `config`: the mount-wide settings of a KV version 2 mount (`max_versions`, `cas_required`,
//! `metadata_cas_required`, `delete_version_after`), stored at `config` in the mount's view.

use coffer_barrier::{BarrierOp, View};
use coffer_core::{Error, Reply, Response, Result};
use serde_json::{Map, Value};

use super::input;
use super::keyspace::{MAX_ATTEMPTS, barrier_error};
use super::record::{self, DeleteVersionAfter, MountConfig};
use super::wire;

/// Where the settings live.
const CONFIG_PATH: &str = "config";

/// The mount's settings (defaults when never written).
pub(crate) async fn load(view: &View) -> Result<MountConfig> {
    match view.get(CONFIG_PATH).await.map_err(barrier_error)? {
        Some(bytes) => record::decode(CONFIG_PATH, &bytes),
        None => Ok(MountConfig::default()),
    }
}

/// GET `config`.
pub(crate) async fn read(view: &View) -> Result<Reply> {
    let config = load(view).await?;
    Ok(Reply::ok(Response::with_data(wire::config(&config))))
}

/// POST/PUT `config`: changes the settings given, keeps the others.
pub(crate) async fn write(view: &View, fields: &Map<String, Value>) -> Result<Reply> {
    let max_versions = input::int(fields, "max_versions")?
        .map(max_versions)
        .transpose()?;
    let cas_required = input::boolean(fields, "cas_required")?;
    let metadata_cas_required = input::boolean(fields, "metadata_cas_required")?;
    let delete_version_after = input::duration_secs(fields, "delete_version_after", true)?
        .map(DeleteVersionAfter::from_signed_secs);
    if max_versions.is_none()
        && cas_required.is_none()
        && metadata_cas_required.is_none()
        && delete_version_after.is_none()
    {
        return Ok(Reply::NoContent);
    }

    for _ in 0..MAX_ATTEMPTS {
        let stored = view.get_stamped(CONFIG_PATH).await.map_err(barrier_error)?;
        let (mut config, stamp) = match stored {
            Some((bytes, stamp)) => (record::decode(CONFIG_PATH, &bytes)?, Some(stamp)),
            None => (MountConfig::default(), None),
        };
        if let Some(max) = max_versions {
            config.max_versions = max;
        }
        if let Some(flag) = cas_required {
            config.cas_required = flag;
        }
        if let Some(flag) = metadata_cas_required {
            config.metadata_cas_required = flag;
        }
        if let Some(after) = delete_version_after {
            config.delete_version_after = after;
        }
        let ops = vec![
            BarrierOp::Expect {
                path: CONFIG_PATH.to_owned(),
                stamp,
            },
            BarrierOp::Put {
                path: CONFIG_PATH.to_owned(),
                value: record::encode(&config),
            },
        ];
        match view.transaction(ops).await {
            Ok(()) => return Ok(Reply::NoContent),
            Err(coffer_barrier::Error::Conflict { .. }) => tokio::task::yield_now().await,
            Err(other) => return Err(barrier_error(other)),
        }
    }
    Err(Error::Conflict)
}

/// A `max_versions` value: Vault stores it as an unsigned 32-bit number; Coffer refuses what
/// does not fit rather than wrapping a negative number around.
pub(crate) fn max_versions(value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        Error::invalid(format!(
            "max_versions must be between 0 and {}, got {value}",
            u32::MAX
        ))
    })
}
