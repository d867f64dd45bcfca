//! Integration tests of the audit crate: record format and HMAC rules, file and socket sinks,
//! the hash chain and its verification, the broker's at-least-one rule, queries, and the
//! embedded audit store.

mod broker;
mod files;
mod query;
mod records;
mod socket;
mod store;
mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use coffer_audit::{
    AuditAuth, AuditEvent, AuditRequest, AuditResponse, AuditSink, ChainState, Device,
    DeviceConfig, Error, EventKind, PolicyResults, Result,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// A generous bound for writes that are expected to succeed.
const PATIENCE: Duration = Duration::from_secs(30);

/// A sink keeping every line in memory.
#[derive(Default)]
struct MemorySink {
    lines: Mutex<Vec<Vec<u8>>>,
}

impl MemorySink {
    fn lines(&self) -> Vec<Vec<u8>> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lines as a log file's bytes.
    fn text(&self) -> Vec<u8> {
        join(&self.lines())
    }

    /// Every line parsed as JSON.
    fn records(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_slice(l).expect("lines are JSON"))
            .collect()
    }
}

#[async_trait]
impl AuditSink for MemorySink {
    async fn write_line(&self, line: &[u8]) -> Result<()> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_vec());
        Ok(())
    }

    async fn reopen(&self) -> Result<()> {
        Ok(())
    }
}

/// A sink whose first `failures` writes fail, then succeed (into memory).
struct FlakySink {
    failures: Mutex<u32>,
    inner: MemorySink,
}

impl FlakySink {
    fn new(failures: u32) -> FlakySink {
        FlakySink {
            failures: Mutex::new(failures),
            inner: MemorySink::default(),
        }
    }
}

#[async_trait]
impl AuditSink for FlakySink {
    async fn write_line(&self, line: &[u8]) -> Result<()> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if *failures > 0 {
                *failures -= 1;
                return Err(Error::Device {
                    name: "flaky".to_owned(),
                    reason: "disk full".to_owned(),
                });
            }
        }
        self.inner.write_line(line).await
    }

    async fn reopen(&self) -> Result<()> {
        Ok(())
    }
}

/// A sink whose writes never finish (a hung socket, a stuck disk).
struct BlockingSink;

#[async_trait]
impl AuditSink for BlockingSink {
    async fn write_line(&self, _line: &[u8]) -> Result<()> {
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn reopen(&self) -> Result<()> {
        Ok(())
    }
}

/// Lines joined as a file holds them (each followed by a newline).
fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn salt(byte: u8) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(vec![byte; 32])
}

fn config(name: &str, options: &[(&str, &str)]) -> DeviceConfig {
    DeviceConfig {
        name: name.to_owned(),
        kind: "file".to_owned(),
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        description: String::new(),
    }
}

/// A device named `name` over `sink`, from a new chain.
fn device_on(name: &str, options: &[(&str, &str)], sink: Arc<dyn AuditSink>) -> Device {
    Device::new(config(name, options), salt(7), sink, ChainState::genesis())
        .expect("a valid device")
}

/// A device writing to memory.
fn memory_device(options: &[(&str, &str)]) -> (Device, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    (device_on("mem/", options, sink.clone()), sink)
}

/// A fixed instant, `secs` seconds after 2026-11-22T13:11:27Z.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_353_087 + secs)
}

/// Alice, logged in through userpass, with a token and an accessor.
fn alice() -> AuditAuth {
    AuditAuth {
        client_token: Some("s.alice-token".to_owned()),
        accessor: Some("alice-accessor".to_owned()),
        display_name: "userpass-alice".to_owned(),
        policies: vec!["default".to_owned(), "dev".to_owned()],
        token_policies: vec!["default".to_owned(), "dev".to_owned()],
        metadata: BTreeMap::from([("username".to_owned(), "alice".to_owned())]),
        entity_id: "entity-1".to_owned(),
        identity: Some(("user".to_owned(), "alice".to_owned())),
        token_type: "service".to_owned(),
        token_ttl: 3600,
        policy_results: Some(PolicyResults {
            allowed: true,
            granting_policies: vec!["dev".to_owned()],
        }),
    }
}

/// A caller with identity `kind:name` and no token details.
fn caller(kind: &str, name: &str) -> AuditAuth {
    AuditAuth {
        client_token: Some(format!("s.{name}")),
        accessor: None,
        display_name: name.to_owned(),
        policies: Vec::new(),
        token_policies: Vec::new(),
        metadata: BTreeMap::new(),
        entity_id: String::new(),
        identity: Some((kind.to_owned(), name.to_owned())),
        token_type: "service".to_owned(),
        token_ttl: 0,
        policy_results: None,
    }
}

fn request(id: &str, operation: &str, path: &str) -> AuditRequest {
    AuditRequest {
        id: id.to_owned(),
        operation: operation.to_owned(),
        path: path.to_owned(),
        mount_point: None,
        mount_type: None,
        mount_accessor: None,
        namespace: "root".to_owned(),
        namespace_path: String::new(),
        data: None,
        remote_address: Some("127.0.0.1".to_owned()),
        remote_port: Some(43040),
        wrap_ttl: None,
    }
}

/// A request line.
fn request_event(id: &str, operation: &str, path: &str) -> AuditEvent {
    AuditEvent {
        time: at(0),
        kind: EventKind::Request,
        auth: Some(alice()),
        request: request(id, operation, path),
        response: None,
        error: None,
    }
}

/// A response line with `status`.
fn response_event(id: &str, operation: &str, path: &str, status: u16) -> AuditEvent {
    AuditEvent {
        kind: EventKind::Response,
        response: Some(AuditResponse {
            status,
            data: None,
            auth: None,
            lease: None,
            wrap_token: None,
            notification: None,
        }),
        ..request_event(id, operation, path)
    }
}

/// A JSON object from a `json!` literal.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// `n` request/response records written by a fresh memory device, as lines.
async fn chained_lines(n: u64) -> Vec<Vec<u8>> {
    let (device, sink) = memory_device(&[]);
    for i in 0..n {
        let event = if i % 2 == 0 {
            request_event(&format!("r{i}"), "read", &format!("secret/data/app/{i}"))
        } else {
            response_event(
                &format!("r{i}"),
                "read",
                &format!("secret/data/app/{i}"),
                200,
            )
        };
        device
            .log(&event, PATIENCE)
            .await
            .expect("memory never fails");
    }
    sink.lines()
}
