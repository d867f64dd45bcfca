//! The core of a Coffer node: seal lifecycle, the request pipeline (token → ACL → backend), the
//! token store and the `sys/` and `auth/token/` backends. It reaches storage only through the
//! barrier and knows nothing of HTTP: the edge (`coffer-http`) builds a [`Request`] and maps the
//! [`Reply`] or [`Error`] to the wire.

mod audit;
mod auth_token;
pub mod clock;
pub mod engine;
mod error;
mod grants;
mod ha;
mod identity;
pub mod lease;
mod mount;
mod namespace;
mod node;
mod notifier;
mod params;
mod pipeline;
mod policy_store;
mod record;
mod reminder;
pub mod request;
pub mod seal;
mod sys;
mod sys_auth;
mod sys_leases;
mod sys_mounts;
mod sys_namespaces;
mod sys_policies;
pub mod token;
pub mod ttl;
mod wrapping;

pub use coffer_audit::DeviceConfig as AuditDeviceConfig;
pub use coffer_barrier::Error as BarrierError;
pub use error::{Error, Result};
pub use ha::{HaConfig, LeaderStatus, cache_kind};
pub use mount::EngineRegistry;
pub use node::{Core, CoreConfig, DevInit, HealthStatus};
pub use reminder::REMINDER_EVENTS;
pub use request::{
    AuthResponse, ClientToken, LogicalPath, Operation, Reply, Request, RequestId, Response,
    WrapInfo,
};
pub use seal::{AutoUnsealKey, ClusterInfo, InitParams, InitResult, SealConfig, SealStatus};

/// The version this build reports in `sys/health` and `sys/seal-status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
