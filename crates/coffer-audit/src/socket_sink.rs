//! The socket sink: sends each line plus a newline over a TCP or Unix stream. It connects on
//! the first write, and when a write on an established connection fails it reconnects once and
//! sends the line again. Each connect and each send is bounded by a write timeout.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::sink::AuditSink;

/// How long one connect or one send may take unless configured (Vault's `write_timeout`).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends lines over a TCP or Unix stream socket.
#[derive(Debug)]
pub struct SocketSink {
    target: Target,
    write_timeout: Duration,
    stream: Mutex<Option<Stream>>,
}

#[derive(Debug, Clone)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl SocketSink {
    /// A sink for `address` (`host:port` for `tcp`, a socket path for `unix`). The connection
    /// is made on the first write, so a collector that starts later is fine.
    pub fn connect(address: &str, socket_type: &str) -> Result<SocketSink> {
        if address.is_empty() {
            return Err(Error::Config("a socket device needs an address".to_owned()));
        }
        let target = match socket_type {
            "tcp" => Target::Tcp(address.to_owned()),
            "unix" => Target::Unix(PathBuf::from(address)),
            other => {
                return Err(Error::Config(format!(
                    "socket_type {other:?} is not supported (use \"tcp\" or \"unix\")"
                )));
            }
        };
        Ok(SocketSink {
            target,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            stream: Mutex::new(None),
        })
    }

    /// The same sink with another bound on each connect and send.
    pub fn with_write_timeout(mut self, write_timeout: Duration) -> SocketSink {
        self.write_timeout = write_timeout;
        self
    }

    fn name(&self) -> String {
        match &self.target {
            Target::Tcp(address) => address.clone(),
            Target::Unix(path) => path.display().to_string(),
        }
    }

    /// Connects when needed and sends `buf`; drops the connection on failure.
    async fn send(&self, stream: &mut Option<Stream>, buf: &[u8]) -> std::io::Result<()> {
        let attempt = async {
            let connected = match stream.take() {
                Some(connected) => connected,
                None => self.open().await?,
            };
            let connected = stream.insert(connected);
            connected.send(buf).await
        };
        let result = match tokio::time::timeout(self.write_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no progress within {:?}", self.write_timeout),
            )),
        };
        if result.is_err() {
            *stream = None;
        }
        result
    }

    async fn open(&self) -> std::io::Result<Stream> {
        match &self.target {
            Target::Tcp(address) => Ok(Stream::Tcp(TcpStream::connect(address.as_str()).await?)),
            Target::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }
}

impl Stream {
    async fn send(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Stream::Unix(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }
}

#[async_trait]
impl AuditSink for SocketSink {
    async fn write_line(&self, line: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let mut stream = self.stream.lock().await;
        let was_connected = stream.is_some();
        let first = self.send(&mut stream, &buf).await;
        let result = match first {
            Err(e) if was_connected => {
                tracing::warn!(address = %self.name(), error = %e, "audit socket write failed; reconnecting");
                self.send(&mut stream, &buf).await
            }
            other => other,
        };
        result.map_err(|e| Error::Device {
            name: self.name(),
            reason: e.to_string(),
        })
    }

    async fn reopen(&self) -> Result<()> {
        *self.stream.lock().await = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_types_and_addresses_are_checked() {
        assert!(SocketSink::connect("127.0.0.1:9090", "tcp").is_ok());
        assert!(SocketSink::connect("/run/audit.sock", "unix").is_ok());
        assert!(matches!(
            SocketSink::connect("127.0.0.1:9090", "udp"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            SocketSink::connect("", "tcp"),
            Err(Error::Config(_))
        ));
    }
}
