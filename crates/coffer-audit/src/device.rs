//! An audit device: a sink, the salt its HMACs use, its options, and where its hash chain
//! stands. Appends are serialized per device, run on their own task (so a caller that stops
//! waiting never leaves a line half accounted for) and bounded by a deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::event::AuditEvent;
use crate::file_sink::{DEFAULT_FILE_MODE, FileSink, check_mode};
use crate::record::{Hashing, Record};
use crate::salt::Salt;
use crate::sink::{AuditSink, DiscardSink};
use crate::socket_sink::SocketSink;
use crate::store_sink::StoreSink;

/// How an audit device was declared: `audit "<kind>" "<name>" { description options {…} }`
/// in the config file, or `sys/audit/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The device's path, e.g. `file/`.
    pub name: String,
    /// `file`, `socket` or `store`.
    pub kind: String,
    /// Vault's options: `file_path`, `mode`, `address`, `socket_type`, `write_timeout`,
    /// `hmac_accessor`, `elide_list_responses`, `format`, `log_raw`, `prefix`, `skip_test`.
    pub options: BTreeMap<String, String>,
    /// Free text.
    pub description: String,
}

/// One audit device.
#[derive(Debug)]
pub struct Device {
    config: DeviceConfig,
    salt: Salt,
    hashing: Hashing,
    writer: Arc<Writer>,
}

/// The part of a device that appends, shared with the task doing the append.
struct Writer {
    name: String,
    sink: Arc<dyn AuditSink>,
    chain: tokio::sync::Mutex<ChainState>,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("name", &self.name)
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

/// Options every kind accepts, besides the kind's own.
const COMMON_OPTIONS: &[&str] = &[
    "hmac_accessor",
    "elide_list_responses",
    "format",
    "log_raw",
    "prefix",
    "skip_test",
];
const FILE_OPTIONS: &[&str] = &["file_path", "path", "mode"];
const SOCKET_OPTIONS: &[&str] = &["address", "socket_type", "write_timeout"];
const STORE_OPTIONS: &[&str] = &["path", "mode"];

impl Device {
    /// A device writing to `sink`, with its chain resuming at `chain`. Checks the options that
    /// do not concern the sink: `log_raw=true`, `prefix` and formats other than `json` are
    /// refused.
    pub fn new(
        config: DeviceConfig,
        salt: Zeroizing<Vec<u8>>,
        sink: Arc<dyn AuditSink>,
        chain: ChainState,
    ) -> Result<Device> {
        let hashing = check_config(&config)?;
        let salt = Salt::new(&salt)?;
        Ok(Device {
            writer: Arc::new(Writer {
                name: config.name.clone(),
                sink,
                chain: tokio::sync::Mutex::new(chain),
                last_error: Mutex::new(None),
            }),
            config,
            salt,
            hashing,
        })
    }

    /// A device whose sink is built from its kind and options: `file` (`file_path`, or its old
    /// name `path`: a file, `-`/`stdout`, or `discard`; `mode`, octal, default 0600) or
    /// `socket` (`address`, `socket_type` `tcp`/`unix`, `write_timeout`) or `store` (`path`: an
    /// embedded SQLite audit store; `mode` as for files). A file or store device resumes the
    /// chain from its last line.
    pub fn open(config: DeviceConfig, salt: Zeroizing<Vec<u8>>) -> Result<Device> {
        check_config(&config)?;
        let (sink, chain): (Arc<dyn AuditSink>, ChainState) = match config.kind.as_str() {
            "file" => {
                let path = config
                    .options
                    .get("file_path")
                    .or_else(|| config.options.get("path"))
                    .ok_or_else(|| {
                        Error::Config("a file device needs the file_path option".to_owned())
                    })?;
                let mode = match config.options.get("mode") {
                    Some(mode) => parse_mode(mode)?,
                    None => DEFAULT_FILE_MODE,
                };
                check_mode(mode)?;
                match path.as_str() {
                    "discard" => (Arc::new(DiscardSink), ChainState::genesis()),
                    "stdout" | "-" => (
                        Arc::new(FileSink::open(Path::new("-"), mode)?),
                        ChainState::genesis(),
                    ),
                    file => {
                        let path = Path::new(file);
                        let chain = ChainState::from_file(path).map_err(|e| Error::Device {
                            name: config.name.clone(),
                            reason: e.to_string(),
                        })?;
                        (Arc::new(FileSink::open(path, mode)?), chain)
                    }
                }
            }
            "socket" => {
                let address = config.options.get("address").ok_or_else(|| {
                    Error::Config("a socket device needs the address option".to_owned())
                })?;
                let socket_type = config
                    .options
                    .get("socket_type")
                    .map_or("tcp", String::as_str);
                let mut sink = SocketSink::connect(address, socket_type)?;
                if let Some(timeout) = config.options.get("write_timeout") {
                    sink = sink.with_write_timeout(parse_duration(timeout)?);
                }
                (Arc::new(sink), ChainState::genesis())
            }
            "store" => {
                let path = config.options.get("path").ok_or_else(|| {
                    Error::Config("a store device needs the path option".to_owned())
                })?;
                let mode = match config.options.get("mode") {
                    Some(mode) => parse_mode(mode)?,
                    None => DEFAULT_FILE_MODE,
                };
                let sink = StoreSink::open(Path::new(path), mode)?;
                let chain = sink.chain();
                (Arc::new(sink), chain)
            }
            other => return Err(unknown_kind(other)),
        };
        Device::new(config, salt, sink, chain)
    }

    /// `hmac-sha256:<hex>` of `input` under this device's salt: what `sys/audit-hash` returns
    /// and what a record holds for the same string.
    pub fn hash(&self, input: &str) -> String {
        self.salt.hash(input)
    }

    /// How the device was declared.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Where the chain stands (waits for an append in progress).
    pub async fn chain(&self) -> ChainState {
        self.writer.chain.lock().await.clone()
    }

    /// The last write's error, `None` when it succeeded (or nothing was written yet).
    pub fn last_error(&self) -> Option<String> {
        self.writer
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `event` on this device alone, waiting at most `timeout` (for example the test
    /// entry written when a device is enabled).
    pub async fn log(&self, event: &AuditEvent, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let task = self.start(event, deadline);
        self.finish(task, deadline).await
    }

    /// Reopens the sink (log rotation); the next line written is a checkpoint so the new file
    /// verifies on its own.
    pub async fn reopen(&self) -> Result<()> {
        let mut chain = self.writer.chain.lock().await;
        let result = self.writer.sink.reopen().await.map_err(|e| self.rename(e));
        if result.is_ok() {
            chain.mark_reopened();
        }
        self.writer.remember(&result);
        result
    }

    /// Formats `event` and starts appending it on its own task.
    pub(crate) fn start(&self, event: &AuditEvent, deadline: Instant) -> JoinHandle<Result<()>> {
        let record = Record::new(event, &self.salt, self.hashing);
        let writer = Arc::clone(&self.writer);
        tokio::spawn(async move { writer.append(record, deadline).await })
    }

    /// Waits for an append started by [`Device::start`] until `deadline`, and remembers how
    /// it went.
    pub(crate) async fn finish(
        &self,
        task: JoinHandle<Result<()>>,
        deadline: Instant,
    ) -> Result<()> {
        let result = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result.map_err(|e| self.rename(e)),
            Ok(Err(_)) => Err(self.device_error("the writing task failed")),
            Err(_) => Err(self.device_error("timed out")),
        };
        self.writer.remember(&result);
        result
    }

    fn device_error(&self, reason: &str) -> Error {
        Error::Device {
            name: self.config.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// A sink's error under this device's name.
    fn rename(&self, error: Error) -> Error {
        match error {
            Error::Device { reason, .. } => Error::Device {
                name: self.config.name.clone(),
                reason,
            },
            other => Error::Device {
                name: self.config.name.clone(),
                reason: other.to_string(),
            },
        }
    }
}

impl Writer {
    /// Appends `record` after any pending checkpoint, and a checkpoint after it when one is
    /// due. The chain only advances past lines the sink accepted.
    async fn append(&self, mut record: Record, deadline: Instant) -> Result<()> {
        let Ok(mut chain) = tokio::time::timeout_at(deadline, self.chain.lock()).await else {
            return Err(Error::Device {
                name: self.name.clone(),
                reason: "timed out waiting for an earlier write".to_owned(),
            });
        };
        if chain.checkpoint_due() {
            let line = chain.checkpoint_line(record.time())?;
            self.sink.write_line(&line).await?;
            chain.advance_checkpoint(&line);
        }
        let seq = chain.seq() + 1;
        record.seq = seq;
        record.prev_hash = chain.head();
        let line = serde_json::to_vec(&record)?;
        self.sink.write_line(&line).await?;
        chain.advance_record(seq, &line);
        if chain.checkpoint_due() {
            // The record is recorded; a checkpoint that fails now is written before the next.
            let checkpoint = chain.checkpoint_line(record.time())?;
            match self.sink.write_line(&checkpoint).await {
                Ok(()) => chain.advance_checkpoint(&checkpoint),
                Err(e) => {
                    tracing::warn!(device = %self.name, error = %e, "audit checkpoint not written; retrying before the next record");
                }
            }
        }
        Ok(())
    }

    fn remember(&self, result: &Result<()>) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = result.as_ref().err().map(ToString::to_string);
    }
}

/// `now + timeout`, or far in the future when that overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Checks kind and options, and returns the hashing options.
fn check_config(config: &DeviceConfig) -> Result<Hashing> {
    if config.name.trim_matches('/').is_empty() {
        return Err(Error::Config("an audit device needs a path".to_owned()));
    }
    let own = match config.kind.as_str() {
        "file" => FILE_OPTIONS,
        "socket" => SOCKET_OPTIONS,
        "store" => STORE_OPTIONS,
        other => return Err(unknown_kind(other)),
    };
    if let Some(unknown) = config
        .options
        .keys()
        .find(|k| !own.contains(&k.as_str()) && !COMMON_OPTIONS.contains(&k.as_str()))
    {
        return Err(Error::Config(format!(
            "unknown option {unknown:?} for a {} device",
            config.kind
        )));
    }
    let flag = |name: &str, default: bool| -> Result<bool> {
        match config.options.get(name) {
            None => Ok(default),
            Some(value) => parse_bool(name, value),
        }
    };
    if flag("log_raw", false)? {
        return Err(Error::Config(
            "log_raw is not supported: Coffer never logs secrets in clear".to_owned(),
        ));
    }
    if config.options.get("prefix").is_some_and(|p| !p.is_empty()) {
        return Err(Error::Config(
            "audit log prefixing is not allowed (it would break the JSON lines and their chain)"
                .to_owned(),
        ));
    }
    if let Some(format) = config.options.get("format")
        && format != "json"
    {
        return Err(Error::Config(format!(
            "format {format:?} is not supported (only \"json\")"
        )));
    }
    flag("skip_test", false)?;
    Ok(Hashing {
        hmac_accessor: flag("hmac_accessor", true)?,
        elide_list_responses: flag("elide_list_responses", false)?,
    })
}

fn unknown_kind(kind: &str) -> Error {
    Error::Config(format!(
        "unknown audit device type {kind:?} (use \"file\", \"socket\" or \"store\")"
    ))
}

/// Vault's boolean option values.
fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Ok(true),
        "false" | "0" | "f" | "no" => Ok(false),
        _ => Err(Error::Config(format!(
            "option {name} must be true or false, got {value:?}"
        ))),
    }
}

/// An octal file mode: `600`, `0600` or `0o600`.
fn parse_mode(value: &str) -> Result<u32> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    u32::from_str_radix(digits, 8)
        .map_err(|_| Error::Config(format!("mode must be an octal number, got {value:?}")))
}

/// A duration: `2s`, `500ms`, or a bare number of seconds.
fn parse_duration(value: &str) -> Result<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(value)
        .map_err(|_| Error::Config(format!("write_timeout must be a duration, got {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: &str, options: &[(&str, &str)]) -> DeviceConfig {
        DeviceConfig {
            name: "dev/".to_owned(),
            kind: kind.to_owned(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            description: String::new(),
        }
    }

    /// `expected`: `Ok((hmac_accessor, elide_list_responses))` or a fragment of the error.
    fn check(
        kind: &str,
        options: &[(&str, &str)],
        expected: std::result::Result<(bool, bool), &str>,
    ) {
        let got = check_config(&config(kind, options));
        match expected {
            Ok((accessor, elide)) => {
                let hashing = got.expect("a valid configuration");
                assert_eq!(
                    (hashing.hmac_accessor, hashing.elide_list_responses),
                    (accessor, elide),
                    "{options:?}"
                );
            }
            Err(fragment) => match got {
                Err(Error::Config(message)) => {
                    assert!(message.contains(fragment), "{options:?}: {message}");
                }
                other => panic!("{options:?}: expected a config error, got {other:?}"),
            },
        }
    }

    #[test]
    fn options() {
        check("file", &[("file_path", "/x")], Ok((true, false)));
        check(
            "file",
            &[("path", "/x"), ("mode", "0640")],
            Ok((true, false)),
        );
        check("file", &[("hmac_accessor", "false")], Ok((false, false)));
        check(
            "file",
            &[("elide_list_responses", "true")],
            Ok((true, true)),
        );
        check(
            "file",
            &[("log_raw", "false"), ("format", "json")],
            Ok((true, false)),
        );
        check(
            "file",
            &[("prefix", ""), ("skip_test", "true")],
            Ok((true, false)),
        );
        check(
            "socket",
            &[("address", "a:1"), ("socket_type", "unix")],
            Ok((true, false)),
        );
        check("socket", &[("write_timeout", "5s")], Ok((true, false)));
        check(
            "file",
            &[("log_raw", "true")],
            Err("never logs secrets in clear"),
        );
        check("file", &[("log_raw", "maybe")], Err("true or false"));
        check("file", &[("hmac_accessor", "nope")], Err("true or false"));
        check(
            "file",
            &[("prefix", "@cee:")],
            Err("prefixing is not allowed"),
        );
        check("file", &[("format", "jsonx")], Err("only \"json\""));
        check(
            "file",
            &[("address", "a:1")],
            Err("unknown option \"address\""),
        );
        check(
            "socket",
            &[("file_path", "/x")],
            Err("unknown option \"file_path\""),
        );
        check("file", &[("fille_path", "/x")], Err("unknown option"));
        check("syslog", &[], Err("unknown audit device type"));
    }

    #[test]
    fn values() {
        assert_eq!(parse_mode("600").ok(), Some(0o600));
        assert_eq!(parse_mode("0600").ok(), Some(0o600));
        assert_eq!(parse_mode("0o640").ok(), Some(0o640));
        assert!(parse_mode("0x600").is_err());
        assert!(parse_mode("68").is_err());
        assert!(parse_mode("").is_err());
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn open_checks_what_the_sink_needs() {
        let salt = || Zeroizing::new(vec![1u8; 32]);
        let open = |c: DeviceConfig| Device::open(c, salt());
        assert!(matches!(open(config("file", &[])), Err(Error::Config(_))));
        assert!(matches!(open(config("socket", &[])), Err(Error::Config(_))));
        assert!(matches!(
            open(config(
                "file",
                &[("file_path", "discard"), ("mode", "0755")]
            )),
            Err(Error::Config(_))
        ));
        assert!(open(config("file", &[("file_path", "discard")])).is_ok());
        assert!(open(config("socket", &[("address", "127.0.0.1:1")])).is_ok());
        let mut nameless = config("file", &[("file_path", "discard")]);
        nameless.name = "/".to_owned();
        assert!(matches!(open(nameless), Err(Error::Config(_))));
        assert!(matches!(
            Device::open(
                config("file", &[("file_path", "discard")]),
                Zeroizing::new(vec![1u8; 4])
            ),
            Err(Error::Config(_))
        ));
    }
}
