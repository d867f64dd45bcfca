//! Benchmark of the embedded audit store (not a test; CI does not run it): audits N synthetic
//! requests (each a request line and a response line, formatted, HMAC'd and hash-chained by a
//! real device, over 30 days of mixed users and agents, paths, actions and results), inserts
//! them through `StoreSink::write_lines` (the sink's own insert code) in batches, then times
//! typical `sys/audit-logs` filters (median of 5), with `limit 100` and without a limit, both as
//! full records (`store_query`) and as summaries (`store_summaries`, what `sys/audit-logs`
//! answers with).
//!
//! `cargo run --release -p coffer-audit --example audit_query_bench -- [N [STORE]]` (N defaults
//! to 1,000,000; STORE, a file to keep, to a temporary one; an existing STORE is queried as it
//! is, without adding requests).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use coffer_audit::{
    Action, AuditAuth, AuditEvent, AuditRequest, AuditResponse, AuditSink, ChainState, Device,
    DeviceConfig, EventKind, Filter, Outcome, PolicyResults, Resource, StoreSink, parse_actor,
    store_query, store_summaries,
};
use zeroize::Zeroizing;

/// Requests formatted before each batch is inserted.
const BATCH: u64 = 5_000;
/// Runs per filter; the median is reported.
const RUNS: usize = 5;
const DAY: Duration = Duration::from_secs(24 * 3600);

fn main() -> coffer_audit::Result<()> {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .replace('_', "")
            .parse()
            .map_err(|_| coffer_audit::Error::Config(format!("N must be a number, got {arg:?}")))?,
        None => 1_000_000,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // A second argument keeps the store at that path (for poking at it with `sqlite3`).
    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(2) {
        Some(kept) => std::path::PathBuf::from(kept),
        None => dir.path().join("audit.db"),
    };
    let now = SystemTime::now();
    if path.exists() {
        // Opening a writer brings an existing store's schema up to date.
        drop(StoreSink::open(&path, 0o600)?);
    } else {
        runtime.block_on(fill(&path, n, now))?;
    }
    let size = std::fs::metadata(&path)?.len();
    let mut out = std::io::stdout().lock();
    writeln!(out, "store: {} MiB", size / (1024 * 1024))?;

    let filters: Vec<(&str, Filter)> = vec![
        (
            "--actor user:alice",
            Filter {
                actor: Some(parse_actor("user:alice")?),
                ..Filter::default()
            },
        ),
        (
            "--resource secrets --action read --since 24h",
            Filter {
                resource: Some(Resource::Secrets),
                action: Some(Action::Read),
                since: now.checked_sub(DAY),
                ..Filter::default()
            },
        ),
        (
            "--path secret/data/prod/*",
            Filter {
                path_glob: Some("secret/data/prod/*".to_owned()),
                ..Filter::default()
            },
        ),
        (
            "--result failure",
            Filter {
                result: Some(Outcome::Failure),
                ..Filter::default()
            },
        ),
    ];
    type Reader = fn(&std::path::Path, &Filter, Option<usize>) -> coffer_audit::Result<usize>;
    let readers: [(&str, Reader); 2] = [
        ("summaries (`store_summaries`)", |path, filter, limit| {
            Ok(store_summaries(path, filter, limit)?.len())
        }),
        ("full records (`store_query`)", |path, filter, limit| {
            Ok(store_query(path, filter, limit)?.len())
        }),
    ];
    for (reader_name, read) in readers {
        writeln!(out, "\n{reader_name}:\n")?;
        table(&mut out, &path, &filters, read)?;
    }
    Ok(())
}

/// Times each filter with `read`, with `limit 100` and without, as a Markdown table.
fn table(
    out: &mut impl Write,
    path: &std::path::Path,
    filters: &[(&str, Filter)],
    read: fn(&std::path::Path, &Filter, Option<usize>) -> coffer_audit::Result<usize>,
) -> coffer_audit::Result<()> {
    writeln!(
        out,
        "| filter | limit | matches | median ms (of {RUNS}) |\n|---|---|---:|---:|"
    )?;
    for (name, filter) in filters {
        for limit in [Some(100), None] {
            let mut times = Vec::with_capacity(RUNS);
            let mut matches = 0;
            for _ in 0..RUNS {
                let started = Instant::now();
                matches = read(path, filter, limit)?;
                times.push(started.elapsed());
            }
            times.sort();
            let median = times.get(RUNS / 2).copied().unwrap_or_default();
            let limit = limit.map_or("none".to_owned(), |l| l.to_string());
            writeln!(
                out,
                "| `{name}` | {limit} | {matches} | {:.1} |",
                median.as_secs_f64() * 1000.0
            )?;
        }
    }
    Ok(())
}

/// Audits `n` requests ending at `now` and stores their lines.
async fn fill(path: &std::path::Path, n: u64, now: SystemTime) -> coffer_audit::Result<()> {
    let store = StoreSink::open(path, 0o600)?;
    let collected = Arc::new(Collect::default());
    let config = DeviceConfig {
        name: "store/".to_owned(),
        kind: "store".to_owned(),
        options: BTreeMap::new(),
        description: String::new(),
    };
    let device = Device::new(
        config,
        Zeroizing::new(vec![9u8; 32]),
        collected.clone(),
        ChainState::genesis(),
    )?;
    let start = now.checked_sub(30 * DAY).unwrap_or(SystemTime::UNIX_EPOCH);
    let step = (30 * DAY).as_nanos() / u128::from(n.max(1));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut formatting = Duration::ZERO;
    let mut inserting = Duration::ZERO;
    let mut lines_total = 0usize;
    let mut i = 0;
    while i < n {
        let started = Instant::now();
        for _ in 0..BATCH.min(n - i) {
            let offset = u64::try_from(step * u128::from(i)).unwrap_or(u64::MAX);
            let time = start + Duration::from_nanos(offset);
            let (request, response) = synthetic(&mut rng, i, time);
            device.log(&request, Duration::from_secs(60)).await?;
            device.log(&response, Duration::from_secs(60)).await?;
            i += 1;
        }
        let lines = collected.take();
        lines_total += lines.len();
        formatting += started.elapsed();
        let started = Instant::now();
        store.write_lines(lines).await?;
        inserting += started.elapsed();
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{n} requests, {lines_total} lines: formatted in {:.1} s, inserted in {:.1} s ({:.0} lines/s)",
        formatting.as_secs_f64(),
        inserting.as_secs_f64(),
        lines_total as f64 / inserting.as_secs_f64().max(f64::EPSILON)
    )?;
    Ok(())
}

/// A request/response pair: who, what and how it went, drawn from realistic proportions.
fn synthetic(rng: &mut Rng, i: u64, time: SystemTime) -> (AuditEvent, AuditEvent) {
    const USERS: &[&str] = &[
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    ];
    const AGENTS: &[&str] = &[
        "deploy-1", "deploy-2", "deploy-3", "ci-1", "ci-2", "backup", "rotator", "billing",
    ];
    const ENVS: &[&str] = &["prod", "staging", "dev"];
    const APPS: &[&str] = &["db", "api", "web", "cache", "queue", "search", "payments"];
    const CREDENTIALS: &[&str] = &["stripe", "aws", "postgres", "github"];

    let (kind, name) = if rng.below(100) < 45 {
        ("user", *rng.pick(USERS))
    } else {
        ("agent", *rng.pick(AGENTS))
    };
    let roll = rng.below(100);
    let (operation, path, mount_point, mount_type) = if roll < 70 {
        let env = rng.pick(ENVS);
        let app = rng.pick(APPS);
        let key = rng.below(50);
        let operation = match rng.below(10) {
            0..=5 => "read",
            6 => "list",
            7 | 8 => "update",
            _ => "delete",
        };
        let area = if operation == "list" || rng.below(10) == 0 {
            "metadata"
        } else {
            "data"
        };
        (
            operation,
            format!("secret/{area}/{env}/{app}/key-{key}"),
            "secret/",
            "kv",
        )
    } else if roll < 85 {
        let credential = rng.pick(CREDENTIALS);
        let what = if rng.below(10) == 0 {
            "rotate"
        } else {
            "lease"
        };
        (
            "update",
            format!("credentials/{credential}/{what}"),
            "credentials/",
            "credentials",
        )
    } else if roll < 95 {
        (
            "update",
            format!("auth/userpass/login/{name}"),
            "auth/userpass/",
            "userpass",
        )
    } else {
        ("update", "sys/leases/renew".to_owned(), "sys/", "system")
    };
    let status = match rng.below(1000) {
        0..=29 => 403,
        30..=59 => 404,
        60..=64 => 500,
        _ if operation == "delete" => 204,
        _ => 200,
    };
    let auth = AuditAuth {
        client_token: Some(format!("hvs.token-{}", rng.below(5000))),
        accessor: Some(format!("accessor-{}", rng.below(5000))),
        display_name: format!("{kind}-{name}"),
        policies: vec!["default".to_owned(), format!("{kind}s")],
        token_policies: vec!["default".to_owned(), format!("{kind}s")],
        metadata: BTreeMap::from([("name".to_owned(), name.to_owned())]),
        entity_id: format!("entity-{name}"),
        identity: Some((kind.to_owned(), name.to_owned())),
        token_type: "service".to_owned(),
        token_ttl: 3600,
        policy_results: Some(PolicyResults {
            allowed: status != 403,
            granting_policies: vec![format!("{kind}s")],
        }),
    };
    let request = AuditEvent {
        time,
        kind: EventKind::Request,
        auth: Some(auth),
        request: AuditRequest {
            id: format!("req-{i:012}"),
            operation: operation.to_owned(),
            path,
            mount_point: Some(mount_point.to_owned()),
            mount_type: Some(mount_type.to_owned()),
            mount_accessor: Some(format!("{mount_type}_1a2b3c4d")),
            namespace: "root".to_owned(),
            namespace_path: String::new(),
            data: None,
            remote_address: Some(format!("10.0.{}.{}", rng.below(4), rng.below(250))),
            remote_port: Some(40000 + u16::try_from(rng.below(20000)).unwrap_or(0)),
            wrap_ttl: None,
        },
        response: None,
        error: None,
    };
    let mut response = request.clone();
    response.kind = EventKind::Response;
    response.time = time + Duration::from_millis(rng.below(40));
    response.response = Some(AuditResponse {
        status,
        data: None,
        auth: None,
        lease: None,
        wrap_token: None,
        notification: None,
    });
    if status >= 400 {
        response.error = Some(if status == 403 {
            "permission denied".to_owned()
        } else {
            "error".to_owned()
        });
    }
    (request, response)
}

/// Collects the lines a device formats, for inserting in batches.
#[derive(Default)]
struct Collect {
    lines: Mutex<Vec<Vec<u8>>>,
}

impl Collect {
    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl AuditSink for Collect {
    async fn write_line(&self, line: &[u8]) -> coffer_audit::Result<()> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_vec());
        Ok(())
    }

    async fn reopen(&self) -> coffer_audit::Result<()> {
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[index]
    }
}
