//! Where a device's lines go: the small `AuditSink` trait and the sink that drops everything
//! (Vault's `file_path=discard`). Files and sockets are in `file_sink` and `socket_sink`.

use async_trait::async_trait;

use crate::error::Result;

/// Where records go. A sink gets fully formatted lines (no trailing newline) one at a time, in
/// chain order, and must write each durably enough for its kind before returning; errors are
/// [`crate::Error::Device`].
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Writes one line followed by a newline.
    async fn write_line(&self, line: &[u8]) -> Result<()>;
    /// Reopens the target (SIGHUP, for log rotation).
    async fn reopen(&self) -> Result<()>;
}

/// A sink that accepts and drops every line.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardSink;

#[async_trait]
impl AuditSink for DiscardSink {
    async fn write_line(&self, _line: &[u8]) -> Result<()> {
        Ok(())
    }

    async fn reopen(&self) -> Result<()> {
        Ok(())
    }
}
