//! The broker: the set of enabled devices and Vault's rule for them. An event is logged to every
//! device at once, each bounded by the same deadline; it counts as recorded when at least one
//! device recorded it. With no device enabled, auditing is off and everything passes.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::device::{Device, DeviceConfig, deadline_after};
use crate::error::{Error, Result};
use crate::event::AuditEvent;

/// How long [`Broker::reopen`] waits for a device busy with a hung write.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

/// The enabled audit devices. Share it in an `Arc`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Broker {
    /// Devices by path without its trailing slash (`file/` and `file` are one path).
    devices: RwLock<BTreeMap<String, Arc<Device>>>,
}

impl Broker {
    /// A broker with no device (auditing off).
    pub fn new() -> Broker {
        Broker::default()
    }

    /// Enables `device`; [`Error::Duplicate`] when its path is taken.
    pub fn add(&self, device: Device) -> Result<()> {
        let key = key(&device.config().name);
        let mut devices = self.write();
        if devices.contains_key(&key) {
            return Err(Error::Duplicate(device.config().name.clone()));
        }
        devices.insert(key, Arc::new(device));
        Ok(())
    }

    /// Disables the device at `name` and returns its configuration.
    pub fn remove(&self, name: &str) -> Option<DeviceConfig> {
        self.write()
            .remove(&key(name))
            .map(|device| device.config().clone())
    }

    /// The enabled devices' configurations, by path.
    pub fn list(&self) -> Vec<DeviceConfig> {
        self.read().values().map(|d| d.config().clone()).collect()
    }

    /// Whether no device is enabled.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// `hmac-sha256:<hex>` of `input` under the salt of the device at `device`
    /// (`sys/audit-hash`), or `None` when there is no such device.
    pub fn hash(&self, device: &str, input: &str) -> Option<String> {
        self.read().get(&key(device)).map(|d| d.hash(input))
    }

    /// Logs `event` to every device concurrently, each bounded by `timeout`. `Ok` when at least
    /// one device recorded it (the others' failures are logged and kept for [`Broker::health`]),
    /// [`Error::NoDevice`] when devices exist but none did, and `Ok` when there is no device.
    pub async fn log(&self, event: &AuditEvent, timeout: Duration) -> Result<()> {
        let devices = self.snapshot();
        if devices.is_empty() {
            return Ok(());
        }
        let deadline = deadline_after(timeout);
        let started: Vec<_> = devices
            .iter()
            .map(|device| device.start(event, deadline))
            .collect();
        let mut recorded = false;
        for (device, task) in devices.iter().zip(started) {
            match device.finish(task, deadline).await {
                Ok(()) => recorded = true,
                Err(error) => tracing::error!(
                    device = %device.config().name,
                    request_id = %event.request.id,
                    %error,
                    "audit device failed to log the event"
                ),
            }
        }
        if recorded {
            Ok(())
        } else {
            Err(Error::NoDevice)
        }
    }

    /// Reopens every device's sink (SIGHUP), logging failures.
    pub async fn reopen(&self) {
        let devices = self.snapshot();
        let tasks: Vec<_> = devices
            .iter()
            .map(|device| {
                let device = Arc::clone(device);
                tokio::spawn(async move { device.reopen().await })
            })
            .collect();
        let deadline = deadline_after(REOPEN_WAIT);
        for (device, task) in devices.iter().zip(tasks) {
            let outcome = match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Error::Device {
                    name: device.config().name.clone(),
                    reason: "the reopening task failed".to_owned(),
                }),
                Err(_) => Err(Error::Device {
                    name: device.config().name.clone(),
                    reason: "still busy with an earlier write; it reopens once that ends"
                        .to_owned(),
                }),
            };
            if let Err(error) = outcome {
                tracing::error!(device = %device.config().name, %error, "audit device failed to reopen");
            }
        }
    }

    /// Each device's path and, when its last write failed, why.
    pub fn health(&self) -> Vec<(String, Option<String>)> {
        self.read()
            .values()
            .map(|d| (d.config().name.clone(), d.last_error()))
            .collect()
    }

    fn snapshot(&self) -> Vec<Arc<Device>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Device>>> {
        self.devices.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Device>>> {
        self.devices.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A device path without its trailing slashes.
fn key(name: &str) -> String {
    name.trim_end_matches('/').to_owned()
}
