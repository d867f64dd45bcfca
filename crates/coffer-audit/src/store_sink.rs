//! The store sink (`kind = "store"`): an embedded SQLite database holding one row per line, with
//! the fields queries filter on (time, actor, resource, action, path, result) extracted once at
//! insert and indexed, and the rest of a response's [`AuditSummary`] kept beside them, so
//! `sys/audit-logs` over millions of records answers from columns without parsing JSON. Each row keeps the exact line (`record`), so the hash chain
//! can be re-verified from the store ([`store_verify`]). Every SQLite call of the sink runs on
//! one dedicated thread fed by a channel; lines queued together are inserted in one transaction
//! and acknowledged only after it commits.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{BufRead, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::file_sink::check_mode;
use crate::query::{Action, AuditSummary, Filter, Outcome, Resource, glob};
use crate::sink::AuditSink;
use crate::verify::{VerifyReport, verify};

/// At most this many queued writes are gathered into one transaction.
const MAX_BATCH: usize = 512;

/// The table and the indexes serving [`store_query`] and [`store_summaries`]. Only response
/// rows are ever returned, so the indexes are partial over them; each ends in `id` (line order)
/// where a filter is an equality, so the newest matches come straight off the index. The
/// summary columns come before `record` so reading them never touches the (long) line.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    time_nanos INTEGER,
    type TEXT NOT NULL,
    request_id TEXT,
    resource TEXT,
    action TEXT,
    actor_type TEXT,
    actor_name TEXT,
    path TEXT,
    result TEXT,
    time TEXT,
    actor TEXT,
    operation TEXT,
    error TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_time ON records (time_nanos) WHERE type = 'response';
CREATE INDEX IF NOT EXISTS records_actor ON records (actor_type, actor_name, id)
    WHERE type = 'response';
CREATE INDEX IF NOT EXISTS records_resource_action ON records (resource, action, time_nanos)
    WHERE type = 'response';
CREATE INDEX IF NOT EXISTS records_path ON records (path) WHERE type = 'response';
CREATE INDEX IF NOT EXISTS records_result ON records (result, id) WHERE type = 'response';
CREATE INDEX IF NOT EXISTS records_request_id ON records (request_id);
";

/// The summary columns that stores written before summaries existed lack; a writer opening such
/// a store adds them and fills them from the records.
const SUMMARY_COLUMNS: [&str; 4] = ["time", "actor", "operation", "error"];

/// The columns [`store_summaries`] reads, in [`StoredSummary::read`]'s order.
const SUMMARY_SELECT: &str =
    "time, actor, action, resource, path, operation, result, error, request_id";

/// Writes lines into an audit store. Cloning is not offered: one sink owns one writer thread.
#[derive(Debug)]
pub struct StoreSink {
    path: PathBuf,
    chain: ChainState,
    commands: mpsc::Sender<Write>,
}

/// Lines to insert in one transaction, and where to say how it went.
struct Write {
    lines: Vec<Vec<u8>>,
    reply: oneshot::Sender<std::result::Result<(), String>>,
}

impl StoreSink {
    /// Opens (creating it, and missing parent directories with mode 0700) the store at `path`
    /// with file mode `mode`, which may have no execute bit ([`Error::Config`]), and starts its
    /// writer thread.
    pub fn open(path: &Path, mode: u32) -> Result<StoreSink> {
        check_mode(mode)?;
        let device_error = |reason: String| Error::Device {
            name: path.display().to_string(),
            reason,
        };
        create_file(path, mode).map_err(|e| device_error(e.to_string()))?;
        let connection = open_writer(path).map_err(|e| device_error(e.to_string()))?;
        let chain = resume(&connection)?;
        let (commands, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("audit-store".to_owned())
            .spawn(move || run(connection, &receiver))
            .map_err(|e| device_error(format!("cannot start the writer thread: {e}")))?;
        Ok(StoreSink {
            path: path.to_owned(),
            chain,
            commands,
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the stored chain stood when the store was opened (a device resumes from it).
    pub fn chain(&self) -> ChainState {
        self.chain.clone()
    }

    /// Inserts `lines` (complete audit lines, in chain order) in one transaction and returns
    /// once it committed; a line that is not a chained audit record refuses the whole batch.
    pub async fn write_lines(&self, lines: Vec<Vec<u8>>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let device_error = |reason: String| Error::Device {
            name: self.path.display().to_string(),
            reason,
        };
        self.commands
            .send(Write { lines, reply })
            .map_err(|_| device_error("the writer thread has stopped".to_owned()))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(device_error(reason)),
            Err(_) => Err(device_error("the writer thread has stopped".to_owned())),
        }
    }
}

#[async_trait]
impl AuditSink for StoreSink {
    async fn write_line(&self, line: &[u8]) -> Result<()> {
        self.write_lines(vec![line.to_vec()]).await
    }

    /// Nothing to reopen: rotation does not apply to a database.
    async fn reopen(&self) -> Result<()> {
        Ok(())
    }
}

/// The response records of the store at `path` matching `filter`, exactly as [`crate::query`]
/// returns them from the same lines: oldest first, with a `limit` only the newest `limit`.
/// Checkpoints and requests are never returned. Runs an indexed query on a read-only connection
/// (blocking: call it off the async executor).
pub fn store_query(path: &Path, filter: &Filter, limit: Option<usize>) -> Result<Vec<Value>> {
    let connection = open_reader(path)?;
    let ids = matching_ids(&connection, filter, limit)?;
    // Then the records themselves by rowid, and parsing, the dominant cost, over the cores.
    let mut fetch = connection.prepare("SELECT record FROM records WHERE id = ?")?;
    let mut texts = Vec::with_capacity(ids.len());
    for id in &ids {
        let text: String = fetch.query_row([id], |row| row.get(0))?;
        texts.push((*id, text));
    }
    parse_all(texts)
}

/// The summaries of the response records of the store at `path` matching `filter`, equal to
/// [`crate::summaries`] over the same lines: oldest first, with a `limit` only the newest
/// `limit`. Reads indexed columns only, never a record's JSON (blocking: call it off the async
/// executor).
pub fn store_summaries(
    path: &Path,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<AuditSummary>> {
    let connection = open_reader(path)?;
    let ids = matching_ids(&connection, filter, limit)?;
    let mut fetch = connection.prepare(&format!(
        "SELECT {SUMMARY_SELECT} FROM records WHERE id = ?"
    ))?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let stored = fetch.query_row([id], StoredSummary::read)?;
        found.push(stored.parse().map_err(|reason| Error::Malformed {
            line: u64::try_from(id).unwrap_or(0),
            reason: reason.to_owned(),
        })?);
    }
    Ok(found)
}

/// The ids of the response rows matching `filter`, oldest first; with a `limit`, the newest
/// `limit` of them. The indexes give the candidates; a glob SQL cannot express exactly (one
/// with `+`) is confirmed here, otherwise SQL applies the limit itself.
fn matching_ids(
    connection: &Connection,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<i64>> {
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let sql = Sql::of(filter);
    let confirm = sql.inexact;
    let mut text = if confirm {
        format!(
            "SELECT id, path, actor_type, actor_name FROM records {}",
            sql.text
        )
    } else {
        format!("SELECT id FROM records {}", sql.text)
    };
    let mut params = sql.params;
    match limit {
        Some(limit) if !confirm => {
            text.push_str(" ORDER BY id DESC LIMIT ?");
            params.push(rusqlite::types::Value::Integer(
                i64::try_from(limit).unwrap_or(i64::MAX),
            ));
        }
        Some(_) => text.push_str(" ORDER BY id DESC"),
        None => text.push_str(" ORDER BY id"),
    }
    let mut statement = connection.prepare(&text)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if confirm && !confirmed(filter, row)? {
            continue;
        }
        ids.push(id);
        if limit.is_some_and(|limit| ids.len() >= limit) {
            break;
        }
    }
    if limit.is_some() {
        // Read newest first to stop early; answer oldest first like `query`.
        ids.reverse();
    }
    Ok(ids)
}

/// Whether a candidate row (`id, path, actor_type, actor_name`) really matches the filter's
/// globs: SQL GLOB matched a superset (`+` became `*`).
fn confirmed(filter: &Filter, row: &rusqlite::Row<'_>) -> Result<bool> {
    let path: Option<String> = row.get(1)?;
    let actor_type: Option<String> = row.get(2)?;
    let actor_name: Option<String> = row.get(3)?;
    if let Some(pattern) = &filter.path_glob
        && !path.as_deref().is_some_and(|p| glob(pattern, p))
    {
        return Ok(false);
    }
    if let Some((kind, name)) = &filter.actor {
        let (Some(actor_type), Some(actor_name)) = (actor_type, actor_name) else {
            return Ok(false);
        };
        if !glob(kind, &actor_type) || !glob(name, &actor_name) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The [`SUMMARY_SELECT`] columns of a row, as stored.
struct StoredSummary {
    time: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    path: Option<String>,
    operation: Option<String>,
    result: Option<String>,
    error: Option<String>,
    request_id: Option<String>,
}

impl StoredSummary {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSummary> {
        Ok(StoredSummary {
            time: row.get(0)?,
            actor: row.get(1)?,
            action: row.get(2)?,
            resource: row.get(3)?,
            path: row.get(4)?,
            operation: row.get(5)?,
            result: row.get(6)?,
            error: row.get(7)?,
            request_id: row.get(8)?,
        })
    }

    /// The summary; `Err` says which stored value is not one a writer stores.
    fn parse(self) -> std::result::Result<AuditSummary, &'static str> {
        Ok(AuditSummary {
            time: self.time,
            actor: self.actor.unwrap_or_default(),
            action: self
                .action
                .map(|a| a.parse::<Action>())
                .transpose()
                .map_err(|_| "unknown stored action")?,
            resource: self
                .resource
                .map(|r| r.parse::<Resource>())
                .transpose()
                .map_err(|_| "unknown stored resource")?,
            path: self.path.unwrap_or_default(),
            operation: self.operation.unwrap_or_default(),
            result: self
                .result
                .ok_or("no stored result")?
                .parse::<Outcome>()
                .map_err(|_| "unknown stored result")?,
            error: self.error,
            request_id: self.request_id,
        })
    }
}

/// Parses stored records, in order, on up to as many threads as there are cores.
fn parse_all(texts: Vec<(i64, String)>) -> Result<Vec<Value>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = texts.len().div_ceil(threads).max(1);
    let parse = |part: &[(i64, String)]| -> Result<Vec<Value>> {
        part.iter()
            .map(|(id, text)| {
                serde_json::from_str(text).map_err(|e| Error::Malformed {
                    line: u64::try_from(*id).unwrap_or(0),
                    reason: format!("stored record is not JSON ({:?} error)", e.classify()),
                })
            })
            .collect()
    };
    if texts.len() < 2 * 1024 || threads == 1 {
        return parse(&texts);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = texts
            .chunks(chunk)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut found = Vec::with_capacity(texts.len());
        for part in parts {
            match part.join() {
                Ok(values) => found.extend(values?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(found)
    })
}

/// Verifies the hash chain of the lines stored at `path`, in the order they were written, as
/// [`crate::verify`] does for a file (line numbers count stored lines from 1).
pub fn store_verify(path: &Path) -> Result<VerifyReport> {
    let connection = open_reader(path)?;
    let mut statement = connection.prepare("SELECT record FROM records ORDER BY id")?;
    let rows = statement.query([])?;
    verify(RowLines {
        rows,
        buf: Vec::new(),
        pos: 0,
    })
}

/// The `WHERE` clause for a filter, with its parameters.
struct Sql {
    text: String,
    params: Vec<rusqlite::types::Value>,
    /// Whether a glob matched a superset in SQL, so rows must be confirmed with [`glob`].
    inexact: bool,
}

impl Sql {
    fn of(filter: &Filter) -> Sql {
        use rusqlite::types::Value as P;
        let mut sql = Sql {
            text: "WHERE type = 'response'".to_owned(),
            params: Vec::new(),
            inexact: false,
        };
        let equal = |sql: &mut Sql, column: &str, value: &str| {
            sql.text.push_str(&format!(" AND {column} = ?"));
            sql.params.push(P::Text(value.to_owned()));
        };
        if let Some(resource) = filter.resource {
            equal(&mut sql, "resource", resource.as_str());
        }
        if let Some(action) = filter.action {
            equal(&mut sql, "action", action.as_str());
        }
        if let Some(result) = filter.result {
            equal(&mut sql, "result", result.as_str());
        }
        if let Some(since) = filter.since {
            sql.text.push_str(" AND time_nanos >= ?");
            sql.params.push(P::Integer(nanos(since)));
        }
        if let Some(until) = filter.until {
            sql.text.push_str(" AND time_nanos < ?");
            sql.params.push(P::Integer(nanos(until)));
        }
        if let Some((kind, name)) = &filter.actor {
            sql.glob("actor_type", kind);
            sql.glob("actor_name", name);
        }
        if let Some(pattern) = &filter.path_glob {
            sql.glob("path", pattern);
        }
        sql
    }

    /// Narrows `column` to what `pattern` (a [`glob`]) may match: equality without wildcards,
    /// otherwise the range of its literal prefix (so an index applies) and an SQL `GLOB`, exact
    /// unless `+` had to be widened to `*` (then the caller confirms with [`glob`]).
    fn glob(&mut self, column: &str, pattern: &str) {
        use rusqlite::types::Value as P;
        let Some(wild) = pattern.find(['*', '+']) else {
            self.text.push_str(&format!(" AND {column} = ?"));
            self.params.push(P::Text(pattern.to_owned()));
            return;
        };
        let prefix = pattern.get(..wild).unwrap_or_default();
        if !prefix.is_empty() {
            self.text.push_str(&format!(" AND {column} >= ?"));
            self.params.push(P::Text(prefix.to_owned()));
            if let Some(upper) = prefix_upper_bound(prefix) {
                self.text.push_str(&format!(" AND {column} < ?"));
                self.params.push(P::Text(upper));
            }
        }
        self.text.push_str(&format!(" AND {column} GLOB ?"));
        self.params.push(P::Text(sql_glob(pattern)));
        self.inexact |= pattern.contains('+');
    }
}

/// The smallest string greater than every string starting with `prefix` (UTF-8 byte order is
/// code point order), or `None` when there is none.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `pattern` as an SQLite GLOB matching what [`glob`] matches (a superset when it has `+`).
fn sql_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' | '+' => out.push('*'),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// Nanoseconds since the Unix epoch, negative before it, saturating.
fn nanos(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// One line broken into its columns.
struct Row {
    seq: i64,
    time_nanos: Option<i64>,
    kind: String,
    request_id: Option<String>,
    actor_type: Option<String>,
    actor_name: Option<String>,
    path: Option<String>,
    /// Only responses are summarised (only they are queried).
    summary: Option<AuditSummary>,
    record: String,
}

impl Row {
    /// Parses `line` once; the classification is only needed for responses (all queries see).
    fn parse(line: &[u8]) -> std::result::Result<Row, String> {
        let record = std::str::from_utf8(line).map_err(|_| "the line is not UTF-8".to_owned())?;
        let value: Value = serde_json::from_str(record)
            .map_err(|e| format!("not a JSON audit record ({:?} error)", e.classify()))?;
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        let owned = |pointer: &str| text(pointer).map(str::to_owned);
        let kind = text("/type").ok_or("no record type")?.to_owned();
        let seq = value
            .get("seq")
            .and_then(Value::as_u64)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or("no valid seq")?;
        let summary = (kind == "response").then(|| AuditSummary::of(&value));
        Ok(Row {
            seq,
            time_nanos: text("/time")
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .map(nanos),
            request_id: owned("/request/id"),
            actor_type: owned("/auth/identity/type"),
            actor_name: owned("/auth/identity/name"),
            path: owned("/request/path"),
            summary,
            kind,
            record: record.to_owned(),
        })
    }
}

/// The writer thread: gathers queued writes, inserts them in one transaction, then answers.
fn run(mut connection: Connection, commands: &mpsc::Receiver<Write>) {
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut parsed = Vec::with_capacity(batch.len());
        for write in batch {
            match write
                .lines
                .iter()
                .map(|l| Row::parse(l))
                .collect::<std::result::Result<Vec<Row>, String>>()
            {
                Ok(rows) => parsed.push((rows, write.reply)),
                Err(reason) => {
                    // The caller may have stopped waiting; nothing else to do then.
                    let _ = write.reply.send(Err(reason));
                }
            }
        }
        let outcome = insert(&mut connection, parsed.iter().flat_map(|(rows, _)| rows))
            .map_err(|e| e.to_string());
        for (_, reply) in parsed {
            let _ = reply.send(outcome.clone());
        }
    }
}

/// Inserts `rows` in one transaction.
fn insert<'a>(
    connection: &mut Connection,
    rows: impl Iterator<Item = &'a Row>,
) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO records (seq, time_nanos, type, request_id, resource, action, \
             actor_type, actor_name, path, result, time, actor, operation, error, record) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        for row in rows {
            let summary = row.summary.as_ref();
            statement.execute(rusqlite::params![
                row.seq,
                row.time_nanos,
                row.kind,
                row.request_id,
                summary.and_then(|s| s.resource).map(Resource::as_str),
                summary.and_then(|s| s.action).map(Action::as_str),
                row.actor_type,
                row.actor_name,
                row.path,
                summary.map(|s| s.result.as_str()),
                summary.and_then(|s| s.time.as_deref()),
                summary.map(|s| s.actor.as_str()),
                summary.map(|s| s.operation.as_str()),
                summary.and_then(|s| s.error.as_deref()),
                row.record,
            ])?;
        }
    }
    transaction.commit()
}

/// Creates the store's file (and parents) with `mode` before SQLite opens it, so the database
/// and its WAL files (SQLite gives them the database's mode) are never more open than asked.
fn create_file(path: &Path, mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed a new file's mode, and an existing file keeps its own.
    file.set_permissions(Permissions::from_mode(mode))
}

/// The writing connection: WAL, full sync (an acknowledged line survives a power loss), and
/// the schema, with the summary columns added to an older store.
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let mut connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(SCHEMA)?;
    add_summary_columns(&mut connection)?;
    Ok(connection)
}

/// Adds the [`SUMMARY_COLUMNS`] a store written before them lacks, and fills them (and the
/// classification columns, from the same [`AuditSummary::of`]) from each response's record,
/// in one transaction. Does nothing to a store that has them.
fn add_summary_columns(connection: &mut Connection) -> rusqlite::Result<()> {
    let mut present = Vec::new();
    {
        let mut columns = connection.prepare("SELECT name FROM pragma_table_info('records')")?;
        let mut rows = columns.query([])?;
        while let Some(row) = rows.next()? {
            present.push(row.get::<_, String>(0)?);
        }
    }
    let missing: Vec<&str> = SUMMARY_COLUMNS
        .into_iter()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let transaction = connection.transaction()?;
    for column in missing {
        transaction.execute_batch(&format!("ALTER TABLE records ADD COLUMN {column} TEXT"))?;
    }
    {
        let mut read =
            transaction.prepare("SELECT id, record FROM records WHERE type = 'response'")?;
        let mut update = transaction.prepare(
            "UPDATE records SET resource = ?, action = ?, result = ?, time = ?, actor = ?, \
             operation = ?, error = ? WHERE id = ?",
        )?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let record: String = row.get(1)?;
            // A record that is not JSON cannot be summarised; queries report it as malformed.
            let Ok(value) = serde_json::from_str::<Value>(&record) else {
                continue;
            };
            let s = AuditSummary::of(&value);
            update.execute(rusqlite::params![
                s.resource.map(Resource::as_str),
                s.action.map(Action::as_str),
                s.result.as_str(),
                s.time,
                s.actor,
                s.operation,
                s.error,
                id,
            ])?;
        }
    }
    transaction.commit()
}

/// A connection that cannot write (queries and verification).
fn open_reader(path: &Path) -> Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    // Reading through a memory map avoids a copy per page of large result sets.
    connection.pragma_update(None, "mmap_size", 1_i64 << 32)?;
    connection.pragma_update(None, "cache_size", -65_536)?;
    Ok(connection)
}

/// The chain after the last stored line (a new chain when the store is empty).
fn resume(connection: &Connection) -> Result<ChainState> {
    let last: Option<String> = connection
        .query_row(
            "SELECT record FROM records ORDER BY id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    match last {
        None => Ok(ChainState::genesis()),
        Some(line) => ChainState::from_last_line(line.as_bytes()),
    }
}

/// The `record` column of rows, read as the lines of a log.
struct RowLines<'a> {
    rows: rusqlite::Rows<'a>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for RowLines<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for RowLines<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if let Some(row) = self.rows.next().map_err(std::io::Error::other)? {
                let record: String = row.get(0).map_err(std::io::Error::other)?;
                self.buf.extend_from_slice(record.as_bytes());
                self.buf.push(b'\n');
            }
        }
        Ok(self.buf.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds() {
        let check = |prefix: &str, expected: Option<&str>| {
            assert_eq!(prefix_upper_bound(prefix).as_deref(), expected, "{prefix}");
        };
        check("secret/data/prod/", Some("secret/data/prod0"));
        check("a", Some("b"));
        check("", None);
        check("ab\u{10FFFF}", Some("ac"));
        check("\u{10FFFF}", None);
        check("x\u{D7FF}", Some("x\u{E000}"));
    }

    #[test]
    fn sql_globs() {
        let check = |pattern: &str, expected: &str| {
            assert_eq!(sql_glob(pattern), expected, "{pattern}");
        };
        check("secret/data/prod/*", "secret/data/prod/*");
        check("secret/+/db", "secret/*/db");
        check("what?[x]", "what[?][[]x]");
    }

    #[test]
    fn times() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(nanos(epoch), 0);
        assert_eq!(nanos(epoch + std::time::Duration::from_nanos(5)), 5);
        assert_eq!(
            nanos(epoch - std::time::Duration::from_secs(1)),
            -1_000_000_000
        );
    }
}
