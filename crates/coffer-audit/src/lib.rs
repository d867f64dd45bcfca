//! Audit: devices that record every request and response as Vault-compatible JSON lines, with
//! every string value, token and accessor replaced by an HMAC-SHA256 under a per-device salt, and
//! each record carrying the hash of the one before it so edits, deletions, insertions and
//! reordering can be detected (`verify`). It knows nothing of HTTP, tokens or storage: the core
//! hands it plain `AuditEvent`s.
//!
//! Map: [`AuditEvent`] (what the core builds) → [`Broker`] (the enabled devices, Vault's
//! "at least one device recorded it" rule) → [`Device`] (salt, options, hash chain) →
//! [`AuditSink`] ([`FileSink`], [`SocketSink`], [`StoreSink`], [`DiscardSink`]). Reading a log
//! back: [`verify`], [`query`] and [`summaries`] over a file, [`store_verify`], [`store_query`]
//! and [`store_summaries`] over a store.

mod broker;
mod chain;
mod device;
mod error;
mod event;
mod file_sink;
mod query;
mod record;
mod salt;
mod sink;
mod socket_sink;
mod store_sink;
mod verify;

pub use broker::Broker;
pub use chain::{CHECKPOINT_INTERVAL, ChainState, GENESIS};
pub use device::{Device, DeviceConfig};
pub use error::{Error, Result};
pub use event::{
    AuditAuth, AuditEvent, AuditLease, AuditNotification, AuditRequest, AuditResponse, EventKind,
    PolicyResults,
};
pub use file_sink::{DEFAULT_FILE_MODE, FileSink};
pub use query::{Action, AuditSummary, Filter, Outcome, Resource, parse_actor, query, summaries};
pub use salt::{SALT_LEN, generate_salt};
pub use sink::{AuditSink, DiscardSink};
pub use socket_sink::{DEFAULT_WRITE_TIMEOUT, SocketSink};
pub use store_sink::{StoreSink, store_query, store_summaries, store_verify};
pub use verify::{Problem, VerifyReport, verify};
