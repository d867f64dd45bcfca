//! The SQLite backend, Coffer's embedded default: one `WITHOUT ROWID` table in a WAL database
//! with `synchronous=FULL`.
//!
//! No SQLite call ever runs on the async executor. One dedicated writer thread owns the only
//! read-write connection and commits in groups: it drains every request already queued, runs them
//! in one `BEGIN IMMEDIATE … COMMIT`, each inside its own `SAVEPOINT` (so a transaction whose
//! `Expect` fails is rolled back alone), and replies only after `COMMIT` returned, that is once the
//! writes are durable. Reads go to a small pool of threads that each own a read-only connection;
//! WAL lets them run beside the writer. A checkpointer thread with its own connection copies the
//! WAL back into the database file once it has grown past [`Checkpoints::background_pages`], so
//! no commit waits for a checkpoint unless the checkpointer falls far behind.

use std::ffi::c_int;
use std::fs::OpenOptions;
use std::num::NonZero;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc as std_mpsc};
use std::thread;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::key::{self, Child};
use crate::{Backend, Error, Record, Result, TxOp};

/// Where to open a SQLite store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file. It is created with mode 0600 when missing; its directory must exist.
    pub path: PathBuf,
}

impl SqliteConfig {
    /// A config for the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

/// A [`Backend`] over one SQLite database file. Kind `"sqlite"`.
pub struct SqliteBackend {
    /// The database path, for error messages.
    path: String,
    /// Feeds the writer thread; `None` once closed.
    writes: RwLock<Option<mpsc::Sender<WriteRequest>>>,
    /// Feeds the reader threads; `None` once closed.
    reads: RwLock<Option<mpsc::Sender<ReadRequest>>>,
    /// Yields `None` once every reader thread has exited (each holds a sender it never uses).
    readers_alive: Mutex<Option<mpsc::Receiver<()>>>,
    /// The writer's last word: the outcome of the final checkpoint and close.
    writer_done: Mutex<Option<oneshot::Receiver<Result<()>>>>,
}

impl SqliteBackend {
    /// Opens (creating when missing) the database at `config.path`, switches it to WAL, creates
    /// the table and starts the writer and reader threads.
    ///
    /// Fails with an error naming the path when the directory is missing, the file cannot be
    /// created, or the file is not a SQLite database.
    pub async fn open(config: SqliteConfig) -> Result<Self> {
        Self::open_with(config, CHECKPOINTS).await
    }

    /// [`SqliteBackend::open`] with the given checkpoint thresholds.
    async fn open_with(config: SqliteConfig, checkpoints: Checkpoints) -> Result<Self> {
        let path = config.path;
        let shown = path.display().to_string();

        let (write_sender, write_queue) = mpsc::channel(QUEUE_CAPACITY);
        let (writer_ready, writer_opened) = oneshot::channel();
        let (writer_finished, writer_done) = oneshot::channel();
        let writer_path = path.clone();
        thread::Builder::new()
            .name("coffer-sqlite-writer".to_owned())
            .spawn(move || {
                run_writer(
                    &writer_path,
                    checkpoints,
                    write_queue,
                    writer_ready,
                    writer_finished,
                )
            })
            .map_err(Error::Worker)?;
        writer_opened.await.map_err(|_| Error::Closed)??;

        let (read_sender, read_queue) = mpsc::channel(QUEUE_CAPACITY);
        let read_queue = Arc::new(Mutex::new(read_queue));
        let (alive, readers_alive) = mpsc::channel(1);
        let backend = Self {
            path: shown,
            writes: RwLock::new(Some(write_sender)),
            reads: RwLock::new(Some(read_sender)),
            readers_alive: Mutex::new(Some(readers_alive)),
            writer_done: Mutex::new(Some(writer_done)),
        };

        let mut readers_opened = Vec::new();
        for index in 0..reader_count() {
            let (ready, opened) = oneshot::channel();
            let reader_path = path.clone();
            let queue = Arc::clone(&read_queue);
            let reader_alive = alive.clone();
            let spawned = thread::Builder::new()
                .name(format!("coffer-sqlite-reader-{index}"))
                .spawn(move || run_reader(&reader_path, &queue, ready, reader_alive));
            if let Err(source) = spawned {
                // `close` waits until every `alive` sender is gone, this one included. The spawn
                // error is the one worth reporting, so closing is best effort.
                drop(alive);
                let _ = backend.close().await;
                return Err(Error::Worker(source));
            }
            readers_opened.push(opened);
        }
        drop(alive);
        drop(read_queue);
        for opened in readers_opened {
            if let Err(error) = opened
                .await
                .map_err(|_| Error::Closed)
                .and_then(|opened| opened)
            {
                // Best effort: the open error is the one worth reporting.
                let _ = backend.close().await;
                return Err(error);
            }
        }
        Ok(backend)
    }

    async fn write(&self, ops: Vec<TxOp>) -> Result<()> {
        for op in &ops {
            op.validate()?;
        }
        let sender = current(&self.writes).ok_or(Error::Closed)?;
        let (reply, response) = oneshot::channel();
        sender
            .send(WriteRequest { ops, reply })
            .await
            .map_err(|_| Error::Closed)?;
        // The writer exits once every sender is gone; do not keep it alive while waiting.
        drop(sender);
        response.await.map_err(|_| Error::Closed)?
    }

    async fn read<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T>>) -> ReadRequest,
    ) -> Result<T> {
        let sender = current(&self.reads).ok_or(Error::Closed)?;
        let (reply, response) = oneshot::channel();
        sender
            .send(request(reply))
            .await
            .map_err(|_| Error::Closed)?;
        drop(sender);
        response.await.map_err(|_| Error::Closed)?
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        key::validate(key)?;
        let key = key.to_owned();
        self.read(|reply| ReadRequest::Get { key, reply }).await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(vec![TxOp::Put {
            key: key.to_owned(),
            value: value.to_vec(),
        }])
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.write(vec![TxOp::Delete {
            key: key.to_owned(),
        }])
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        key::validate_fragment(prefix)?;
        let prefix = prefix.to_owned();
        self.read(|reply| ReadRequest::List { prefix, reply }).await
    }

    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let start = key::scan_from(prefix, after)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let prefix = prefix.to_owned();
        self.read(|reply| ReadRequest::Scan {
            prefix,
            start,
            limit,
            reply,
        })
        .await
    }

    async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let start = key::scan_from(prefix, after)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let prefix = prefix.to_owned();
        self.read(|reply| ReadRequest::ScanRecords {
            prefix,
            start,
            limit,
            reply,
        })
        .await
    }

    async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops).await
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    /// Stops the readers, lets the writer commit everything already queued, checkpoints the WAL
    /// into the database file and closes it. Later calls fail with [`Error::Closed`]; closing
    /// twice is not an error.
    async fn close(&self) -> Result<()> {
        drop(take(&self.reads));
        if let Some(mut readers_alive) = take_once(&self.readers_alive) {
            // `None` once every reader thread has dropped its connection.
            let _ = readers_alive.recv().await;
        }
        drop(take(&self.writes));
        match take_once(&self.writer_done) {
            Some(writer_done) => writer_done.await.map_err(|_| Error::Closed)?,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Every statement the backend runs; the table is the whole schema.
mod sql {
    pub(super) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS coffer_kv (\
        key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";
    pub(super) const GET: &str = "SELECT value FROM coffer_kv WHERE key = ?1";
    pub(super) const PUT: &str = "INSERT INTO coffer_kv (key, value) VALUES (?1, ?2) \
        ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    pub(super) const DELETE: &str = "DELETE FROM coffer_kv WHERE key = ?1";
    /// Keys from `?1` on, at most `?2` (a negative limit means no limit).
    pub(super) const KEYS_FROM: &str =
        "SELECT key FROM coffer_kv WHERE key >= ?1 ORDER BY key LIMIT ?2";
    /// Keys in `[?1, ?2)`, at most `?3`.
    pub(super) const KEYS_BETWEEN: &str =
        "SELECT key FROM coffer_kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";
    /// Records (key, value) from `?1` on, at most `?2`.
    pub(super) const RECORDS_FROM: &str =
        "SELECT key, value FROM coffer_kv WHERE key >= ?1 ORDER BY key LIMIT ?2";
    /// Records (key, value) in `[?1, ?2)`, at most `?3`.
    pub(super) const RECORDS_BETWEEN: &str =
        "SELECT key, value FROM coffer_kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";
    pub(super) const BEGIN: &str = "BEGIN IMMEDIATE";
    pub(super) const COMMIT: &str = "COMMIT";
    pub(super) const ROLLBACK: &str = "ROLLBACK";
    pub(super) const SAVEPOINT: &str = "SAVEPOINT coffer_request";
    pub(super) const RELEASE: &str = "RELEASE coffer_request";
    pub(super) const UNDO: &str = "ROLLBACK TO coffer_request; RELEASE coffer_request";
    pub(super) const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
}

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`ensure_not_in_use`] waits for another connection's lock.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// Requests that may wait in each queue before senders wait for room.
const QUEUE_CAPACITY: usize = 1024;
/// The most requests one group commit takes.
const MAX_BATCH: usize = 512;
/// When the WAL is copied back into the database file, for every store the server opens.
const CHECKPOINTS: Checkpoints = Checkpoints {
    background_pages: 16_000,
    limit_pages: 64_000,
};
/// The writer's page cache, in KiB (negative `cache_size` values are KiB).
const WRITER_CACHE_KIB: i64 = -8_192;
/// Each reader's page cache, in KiB.
const READER_CACHE_KIB: i64 = -1_024;

/// Enough readers to use every core, and a few to spare for a slow scan.
fn reader_count() -> usize {
    thread::available_parallelism()
        .map_or(2, NonZero::get)
        .clamp(2, 8)
}

/// A transaction for the writer thread.
struct WriteRequest {
    ops: Vec<TxOp>,
    reply: oneshot::Sender<Result<()>>,
}

/// A query for a reader thread.
enum ReadRequest {
    Get {
        key: String,
        reply: oneshot::Sender<Result<Option<Vec<u8>>>>,
    },
    List {
        prefix: String,
        reply: oneshot::Sender<Result<Vec<String>>>,
    },
    Scan {
        prefix: String,
        start: String,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<String>>>,
    },
    ScanRecords {
        prefix: String,
        start: String,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<Record>>>,
    },
}

/// When the WAL is copied back into the database file. A checkpoint copies the pages the WAL
/// holds into the file; the fewer checkpoints, the more often a page changed by many commits is
/// copied once instead of once per checkpoint.
#[derive(Debug, Clone, Copy)]
struct Checkpoints {
    /// WAL frames (pages) after which a commit wakes the checkpointer thread, which copies them
    /// back beside the writer (SQLite's own default, run by the committing connection: 1,000).
    background_pages: c_int,
    /// WAL frames at which the writer checkpoints right after its commit, before it takes the
    /// next group (unless the checkpointer is running one then): what bounds the WAL should the
    /// checkpointer fall behind.
    limit_pages: c_int,
}

/// The writer thread: opens the database, then commits queued requests in groups until every
/// sender is gone, then checkpoints and closes.
fn run_writer(
    path: &Path,
    checkpoints: Checkpoints,
    mut queue: mpsc::Receiver<WriteRequest>,
    ready: oneshot::Sender<Result<()>>,
    finished: oneshot::Sender<Result<()>>,
) {
    let writer = match Writer::open(path, checkpoints) {
        Ok(writer) => writer,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        writer.commit(batch);
    }
    // Nobody may be waiting (the backend was dropped without `close`).
    let _ = finished.send(writer.close());
}

/// The write connection.
struct Writer {
    connection: Connection,
    path: String,
    /// The checkpointer thread; it exits once the connection's WAL hook (which holds the only
    /// sender that wakes it) is gone.
    checkpointer: thread::JoinHandle<()>,
}

/// Why one request of a batch did not apply.
enum StepError {
    Conflict(String),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StepError {
    fn from(error: rusqlite::Error) -> Self {
        StepError::Sqlite(error)
    }
}

impl Writer {
    fn open(path: &Path, checkpoints: Checkpoints) -> Result<Self> {
        let shown = path.display().to_string();
        // Create the file ourselves so it is private from the first byte; SQLite gives the
        // `-wal` and `-shm` files the same mode.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::File {
                path: shown.clone(),
                source,
            })?;
        let sqlite = |source| Error::Sqlite {
            path: shown.clone(),
            source,
        };
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "sqlite storage at {shown}: cannot switch to WAL (journal mode stays {mode:?})"
            )));
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        // The writer reads the pages it changes; keep more of them than SQLite's 2 MiB default.
        connection
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(sqlite)?;
        connection
            .execute_batch(sql::CREATE_TABLE)
            .map_err(sqlite)?;

        let checkpoint_connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        checkpoint_connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite)?;
        // A checkpoint syncs the WAL before copying it and the database file after.
        checkpoint_connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        let (wake, wakes) = std_mpsc::sync_channel(1);
        let checkpoint_path = shown.clone();
        let checkpointer = thread::Builder::new()
            .name("coffer-sqlite-checkpointer".to_owned())
            .spawn(move || run_checkpointer(&checkpoint_connection, &checkpoint_path, &wakes))
            .map_err(Error::Worker)?;

        // Replaces SQLite's automatic checkpoint, which runs inside the commit that crosses its
        // threshold. The hook runs after every commit, with the frames the WAL now holds.
        let hook_path = shown.clone();
        let wal_hook = move |wal: &mut Wal, pages: c_int| {
            if pages >= checkpoints.limit_pages {
                // The checkpointer fell behind: copy back now, before the next group. The commit
                // stands whatever happens here, so a failure is logged, not returned.
                report_checkpoint(&hook_path, wal.checkpoint_v2(CheckpointMode::PASSIVE));
            } else if pages >= checkpoints.background_pages {
                // Full: a wake-up is already pending.
                let _ = wake.try_send(());
            }
            Ok(())
        };
        connection.wal_hook(Some(wal_hook)).map_err(sqlite)?;
        Ok(Self {
            connection,
            path: shown,
            checkpointer,
        })
    }

    /// Runs a group of requests in one transaction and replies to each once it is committed.
    fn commit(&self, batch: Vec<WriteRequest>) {
        match self.try_commit(&batch) {
            Ok(outcomes) => {
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    // The caller may have gone away; the write stands either way.
                    let _ = request.reply.send(outcome);
                }
            }
            Err(failure) => {
                self.rollback();
                for request in batch {
                    let _ = request.reply.send(Err(self.error(duplicate(&failure))));
                }
            }
        }
    }

    /// The outcome of each request once `COMMIT` returned, or the error that failed the whole
    /// group (then nothing of it is written).
    fn try_commit(&self, batch: &[WriteRequest]) -> rusqlite::Result<Vec<Result<()>>> {
        self.connection.execute_batch(sql::BEGIN)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for request in batch {
            self.connection
                .prepare_cached(sql::SAVEPOINT)?
                .execute([])?;
            match self.apply(&request.ops) {
                Ok(()) => {
                    self.connection.prepare_cached(sql::RELEASE)?.execute([])?;
                    outcomes.push(Ok(()));
                }
                Err(StepError::Conflict(key)) => {
                    self.connection.execute_batch(sql::UNDO)?;
                    outcomes.push(Err(Error::Conflict { key }));
                }
                Err(StepError::Sqlite(error)) => {
                    if self.connection.is_autocommit() {
                        // SQLite already rolled the whole transaction back (I/O error, disk
                        // full, ...): the requests before this one are lost too.
                        return Err(error);
                    }
                    self.connection.execute_batch(sql::UNDO)?;
                    outcomes.push(Err(self.error(error)));
                }
            }
        }
        self.connection.execute_batch(sql::COMMIT)?;
        Ok(outcomes)
    }

    fn apply(&self, ops: &[TxOp]) -> std::result::Result<(), StepError> {
        for op in ops {
            match op {
                TxOp::Put { key, value } => {
                    self.connection
                        .prepare_cached(sql::PUT)?
                        .execute(params![key, value])?;
                }
                TxOp::Delete { key } => {
                    self.connection
                        .prepare_cached(sql::DELETE)?
                        .execute(params![key])?;
                }
                TxOp::Expect { key, value } => {
                    let current: Option<Vec<u8>> = self
                        .connection
                        .prepare_cached(sql::GET)?
                        .query_row(params![key], |row| row.get(0))
                        .optional()?;
                    if current != *value {
                        return Err(StepError::Conflict(key.clone()));
                    }
                }
                TxOp::ExpectEmpty { prefix } => {
                    let first: Option<String> = match key::upper_bound(prefix) {
                        Some(upper) => self
                            .connection
                            .prepare_cached(sql::KEYS_BETWEEN)?
                            .query_row(params![prefix, upper, 1_i64], |row| row.get(0))
                            .optional()?,
                        None => self
                            .connection
                            .prepare_cached(sql::KEYS_FROM)?
                            .query_row(params![prefix, 1_i64], |row| row.get(0))
                            .optional()?,
                    };
                    if first.is_some() {
                        return Err(StepError::Conflict(prefix.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    fn rollback(&self) {
        if self.connection.is_autocommit() {
            return;
        }
        if let Err(error) = self.connection.execute_batch(sql::ROLLBACK) {
            tracing::error!(path = %self.path, %error, "sqlite storage: rollback failed");
        }
    }

    fn close(self) -> Result<()> {
        let Writer {
            mut connection,
            path,
            checkpointer,
        } = self;
        let sqlite = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        // Dropping the hook drops the checkpointer's wake-up sender: it finishes the checkpoint
        // it may be running and exits, so the final one below runs alone.
        connection.wal_hook(None::<WalHook>).map_err(sqlite)?;
        if checkpointer.join().is_err() {
            tracing::error!(path = %path, "sqlite storage: the checkpointer thread panicked");
        }
        let checkpoint: i64 = connection
            .query_row(sql::CHECKPOINT, [], |row| row.get(0))
            .map_err(sqlite)?;
        if checkpoint != 0 {
            tracing::warn!(path = %path, "sqlite storage: WAL checkpoint was blocked");
        }
        connection.close().map_err(|(_, source)| sqlite(source))
    }

    fn error(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// The type of a WAL hook, to name the absence of one.
type WalHook = fn(&mut Wal, c_int) -> rusqlite::Result<()>;

/// The checkpointer thread: each time the writer wakes it, copies the WAL back into the database
/// file as far as readers allow (`PASSIVE`: it never blocks the writer or a reader). Returns once
/// the writer's wake-up sender is gone.
fn run_checkpointer(connection: &Connection, path: &str, wakes: &std_mpsc::Receiver<()>) {
    while wakes.recv().is_ok() {
        report_checkpoint(
            path,
            connection.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE),
        );
    }
}

/// Logs a checkpoint that failed. `SQLITE_BUSY` is no failure: the other checkpointer (the
/// thread, or the writer at the WAL's limit) is running one, and the next commit asks again.
fn report_checkpoint(path: &str, outcome: rusqlite::Result<(c_int, c_int)>) {
    if let Err(error) = outcome
        && error.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy)
    {
        tracing::warn!(path = %path, %error, "sqlite storage: WAL checkpoint failed");
    }
}

/// A reader thread: serves queries from the shared queue until it closes.
fn run_reader(
    path: &Path,
    queue: &Mutex<mpsc::Receiver<ReadRequest>>,
    ready: oneshot::Sender<Result<()>>,
    // Dropped when this thread exits, which is how `close` knows the connection is gone.
    _alive: mpsc::Sender<()>,
) {
    let reader = match Reader::open(path) {
        Ok(reader) => reader,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        // Only the thread holding the lock waits on the queue; the others wait for the lock.
        let request = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(request) = request else { break };
        reader.serve(request);
    }
}

/// A read-only connection.
struct Reader {
    connection: Connection,
    path: String,
}

impl Reader {
    fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let sqlite = |source| Error::Sqlite {
            path: shown.clone(),
            source,
        };
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Readers mostly serve what the server's read cache missed: a small page cache each.
        connection
            .pragma_update(None, "cache_size", READER_CACHE_KIB)
            .map_err(sqlite)?;
        Ok(Self {
            connection,
            path: shown,
        })
    }

    fn serve(&self, request: ReadRequest) {
        // A caller that went away no longer needs its answer.
        match request {
            ReadRequest::Get { key, reply } => {
                let _ = reply.send(self.get(&key).map_err(|source| self.error(source)));
            }
            ReadRequest::List { prefix, reply } => {
                let _ = reply.send(self.list(&prefix).map_err(|source| self.error(source)));
            }
            ReadRequest::Scan {
                prefix,
                start,
                limit,
                reply,
            } => {
                let scanned = self.scan(&prefix, &start, limit);
                let _ = reply.send(scanned.map_err(|source| self.error(source)));
            }
            ReadRequest::ScanRecords {
                prefix,
                start,
                limit,
                reply,
            } => {
                let scanned = self.scan_records(&prefix, &start, limit);
                let _ = reply.send(scanned.map_err(|source| self.error(source)));
            }
        }
    }

    fn get(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.connection
            .prepare_cached(sql::GET)?
            .query_row(params![key], |row| row.get(0))
            .optional()
    }

    /// Streams keys in order from the prefix; each folder found restarts the query past the
    /// folder, so a listing costs one index seek per child, not one row per key below.
    fn list(&self, prefix: &str) -> rusqlite::Result<Vec<String>> {
        let upper = key::upper_bound(prefix);
        let mut statement = match upper {
            Some(_) => self.connection.prepare_cached(sql::KEYS_BETWEEN)?,
            None => self.connection.prepare_cached(sql::KEYS_FROM)?,
        };
        let mut children = Vec::new();
        let mut from = prefix.to_owned();
        'seek: loop {
            let mut rows = match &upper {
                Some(upper) => statement.query(params![from, upper, -1_i64])?,
                None => statement.query(params![from, -1_i64])?,
            };
            while let Some(row) = rows.next()? {
                let stored: String = row.get(0)?;
                match key::child(prefix, &stored) {
                    Some(Child::Leaf(name)) => children.push(name.to_owned()),
                    Some(Child::Folder(folder)) => {
                        children.push(folder.to_owned());
                        from = key::skip_folder(prefix, folder);
                        continue 'seek;
                    }
                    None => {}
                }
            }
            break;
        }
        Ok(children)
    }

    fn scan(&self, prefix: &str, start: &str, limit: usize) -> rusqlite::Result<Vec<String>> {
        self.range(
            sql::KEYS_FROM,
            sql::KEYS_BETWEEN,
            prefix,
            start,
            limit,
            |row| row.get(0),
        )
    }

    fn scan_records(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<Record>> {
        self.range(
            sql::RECORDS_FROM,
            sql::RECORDS_BETWEEN,
            prefix,
            start,
            limit,
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    }

    /// Runs a range query under `prefix` from `start` on: `between` (`?1`, `?2`, `?3`: start,
    /// the prefix's upper bound, limit) or, for a prefix without one, `from` (`?1`, `?2`).
    fn range<T>(
        &self,
        from: &str,
        between: &str,
        prefix: &str,
        start: &str,
        limit: usize,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match key::upper_bound(prefix) {
            Some(upper) => self
                .connection
                .prepare_cached(between)?
                .query_map(params![start, upper, limit], row)?
                .collect(),
            None => self
                .connection
                .prepare_cached(from)?
                .query_map(params![start, limit], row)?
                .collect(),
        }
    }

    fn error(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// A copy of `error` for each request of a failed group (`rusqlite::Error` is not `Clone`).
fn duplicate(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// A clone of the sender in `slot`, or `None` once closed. The lock is held only for the clone.
fn current<T>(slot: &RwLock<Option<mpsc::Sender<T>>>) -> Option<mpsc::Sender<T>> {
    slot.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Empties a sender slot, returning what it held.
fn take<T>(slot: &RwLock<Option<T>>) -> Option<T> {
    slot.write().unwrap_or_else(PoisonError::into_inner).take()
}

/// Empties a slot only `close` touches, returning what it held.
fn take_once<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Fails with [`Error::InUse`] when another process has the SQLite database at `config.path`
/// open (a running server, for example); a missing file is not in use.
///
/// It opens its own connection in `EXCLUSIVE` locking mode and reads once: SQLite grants that
/// only when no other connection holds the WAL database, then the connection is closed again.
/// A process that opens the file afterwards is not prevented.
pub async fn ensure_not_in_use(config: &SqliteConfig) -> Result<()> {
    let path = config.path.clone();
    tokio::task::spawn_blocking(move || probe_exclusive(&path))
        .await
        .map_err(|_| Error::Closed)?
}

fn probe_exclusive(path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Ok(());
    }
    let sqlite = |source| Error::Sqlite {
        path: shown.clone(),
        source,
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    // Another process's connection stays open; waiting the usual busy timeout would not help.
    connection.busy_timeout(PROBE_TIMEOUT).map_err(sqlite)?;
    connection
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(sqlite)?;
    let probe = connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    });
    match probe {
        Ok(_) => connection.close().map_err(|(_, source)| sqlite(source)),
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(Error::InUse { path: shown })
        }
        Err(source) => Err(sqlite(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts `count` records of 2 KiB (about one WAL page each), one commit each.
    async fn write_records(backend: &SqliteBackend, count: usize) {
        for index in 0..count {
            backend
                .put(&format!("bulk/{index:05}"), &[b'v'; 2048])
                .await
                .unwrap_or_else(|error| panic!("put {index}: {error}"));
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .len()
    }

    /// Reopens the store with the default thresholds and checks every record is there.
    async fn assert_all_there(path: &Path, count: usize) {
        let reopened = SqliteBackend::open(SqliteConfig::new(path))
            .await
            .unwrap_or_else(|error| panic!("reopen: {error}"));
        let keys = reopened
            .scan("bulk/", None, count + 1)
            .await
            .unwrap_or_else(|error| panic!("scan: {error}"));
        assert_eq!(keys.len(), count, "every acknowledged record is kept");
        let last = reopened
            .get(&format!("bulk/{:05}", count - 1))
            .await
            .unwrap_or_else(|error| panic!("get: {error}"));
        assert_eq!(last.as_deref(), Some(&[b'v'; 2048][..]));
        reopened
            .close()
            .await
            .unwrap_or_else(|error| panic!("close: {error}"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_checkpointer_copies_the_wal_into_the_database_while_the_store_is_open() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
        let path = dir.path().join("coffer.db");
        let checkpoints = Checkpoints {
            background_pages: 16,
            // The writer never checkpoints by itself here.
            limit_pages: c_int::MAX,
        };
        let backend = SqliteBackend::open_with(SqliteConfig::new(&path), checkpoints)
            .await
            .unwrap_or_else(|error| panic!("open: {error}"));
        let empty = file_len(&path);
        write_records(&backend, 300).await;
        // 300 records of 2 KiB reach the database file only through a checkpoint; the last
        // wake-up may still be copying, so wait for it (the writer never waits for it).
        let written = 300 * 2048;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while file_len(&path) < empty + written {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes while open",
                file_len(&path)
            );
            write_records(&backend, 1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        backend
            .close()
            .await
            .unwrap_or_else(|error| panic!("close: {error}"));
        assert_all_there(&path, 300).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_writer_checkpoints_itself_when_the_wal_reaches_its_limit() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
        let path = dir.path().join("coffer.db");
        let checkpoints = Checkpoints {
            // The checkpointer is never woken here.
            background_pages: c_int::MAX,
            limit_pages: 16,
        };
        let backend = SqliteBackend::open_with(SqliteConfig::new(&path), checkpoints)
            .await
            .unwrap_or_else(|error| panic!("open: {error}"));
        write_records(&backend, 300).await;
        // Each commit that left 16 frames or more in the WAL copied them back before replying,
        // and the WAL starts over once it is copied, so it never holds much more than that.
        let wal = file_len(&dir.path().join("coffer.db-wal"));
        assert!(wal < 64 * 4096, "the WAL grew to {wal} bytes");
        assert!(
            file_len(&path) >= 290 * 2048,
            "the database file holds the records while open"
        );
        backend
            .close()
            .await
            .unwrap_or_else(|error| panic!("close: {error}"));
        assert_all_there(&path, 300).await;
    }
}
