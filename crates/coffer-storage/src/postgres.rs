//! The PostgreSQL backend, for several Coffer nodes sharing one database: `tokio-postgres` over
//! a `deadpool-postgres` pool, with TLS (rustls) when `sslmode` asks for it.
//!
//! # Table layout
//!
//! One table, `key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL`, rather than OpenBao's
//! `(parent_path, path, key)` split. The [`Backend`] contract needs full keys in byte order
//! (`scan` pages through everything for reaping and migration), and `(path, key)` order is not
//! byte order: it puts `"a0"` (path `/`) before `"a/b"` (path `/a/`). With one `COLLATE "C"` key,
//! `scan` is an index range, and `list` walks the index in one statement (a recursive query that
//! seeks past each folder), costing one index probe per child where OpenBao's
//! `parent_path LIKE 'p%'` reads every row below the prefix. No `LIKE` is used, so prefixes need
//! no escaping.
//!
//! # Transactions
//!
//! Every write (`put` and `delete` too) is a transaction, and concurrent transactions are
//! committed in groups, each group one SQL transaction of a few pipelined statements (see
//! [`commit`]). A group first takes a transaction-scoped advisory lock on each key it touches, in
//! a fixed order (so two groups, on this node or another, never deadlock): exclusive for the keys
//! it writes, shared for those it only `Expect`s. Writers of the same key are thus serialised, and
//! an `Expect` reads the latest committed value under `READ COMMITTED`: two writers can never both
//! pass the same `Expect`, even for a key that does not exist yet (which `SELECT … FOR UPDATE`
//! alone would not lock), while readers of a key never wait for each other.
//!
//! The schema and table names are what HA nodes share; every statement is built once in [`Sql`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, SslMode};

use crate::error::chain;
use crate::key::{self, Child};
use crate::postgres_tls::{self, Verify};
use crate::{Backend, ChangeClassifier, Error, HaBackend, HaLeader, HaNode, Record, Result, TxOp};

mod commit;

/// The table name used when the config does not set one.
pub const DEFAULT_TABLE: &str = "coffer_kv";
/// The HA lock table name used when the config does not set one.
pub const DEFAULT_HA_TABLE: &str = "coffer_ha_locks";
/// The pool size used when the config does not set one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Where and how to reach PostgreSQL.
#[derive(Clone)]
pub struct PostgresConfig {
    /// A URL (`postgres://user@host:5432/db?sslmode=disable`) or a `key=value` connection
    /// string. It may hold a password, so it never appears in `Debug` output or errors.
    /// `sslmode=require|verify-ca|verify-full` (and `sslrootcert`) mean what they mean to libpq;
    /// `prefer` connects in plain text.
    pub connection_url: String,
    /// The table; created when missing. Must match `[A-Za-z_][A-Za-z0-9_]*` (at most 63 bytes).
    pub table: String,
    /// The schema holding the table, created when missing; `None` uses the `search_path`. Same
    /// rule as `table`.
    pub schema: Option<String>,
    /// The most connections the pool opens (at least 1).
    pub max_connections: usize,
    /// HA: the lock table and the change counters; `None` for a single node.
    pub ha: Option<PostgresHa>,
}

/// The HA settings of a [`PostgresConfig`].
#[derive(Clone)]
pub struct PostgresHa {
    /// The lock table (in the same schema); created when missing. Same naming rule as `table`.
    /// The change counters live in `<ha_table>_changes`.
    pub ha_table: String,
    /// Which writes bump which cache's change counter.
    pub classify: ChangeClassifier,
}

impl PostgresConfig {
    /// A config for `connection_url` with the default table, no schema and the default pool size.
    pub fn new(connection_url: impl Into<String>) -> Self {
        Self {
            connection_url: connection_url.into(),
            table: DEFAULT_TABLE.to_owned(),
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            ha: None,
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may carry a password.
        f.debug_struct("PostgresConfig")
            .field("connection_url", &"<redacted>")
            .field("table", &self.table)
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("ha_table", &self.ha.as_ref().map(|ha| &ha.ha_table))
            .finish()
    }
}

/// A [`Backend`] over a PostgreSQL table. Kind `"postgresql"`.
pub struct PostgresBackend {
    db: Arc<Database>,
    /// Applies transactions in groups (see [`commit`]).
    commits: commit::GroupCommit,
}

/// The pool and the statements: what the backend and its committer tasks share.
struct Database {
    pool: Pool,
    sql: Sql,
    /// `host:port` for error messages.
    target: String,
    /// HA statements and the change classifier, when HA is enabled.
    ha: Option<(HaSql, ChangeClassifier)>,
}

impl PostgresBackend {
    /// Connects, failing fast when the server is unreachable ([`Error::PostgresConnect`]), then
    /// creates the schema (when set) and the table when missing.
    pub async fn connect(config: PostgresConfig) -> Result<Self> {
        let table = identifier("table", &config.table)?;
        let schema = config
            .schema
            .as_deref()
            .map(|schema| identifier("schema", schema))
            .transpose()?;
        if config.max_connections == 0 {
            return Err(Error::Config(
                "postgresql max_connections must be at least 1".to_owned(),
            ));
        }
        let ha = match &config.ha {
            Some(ha) => {
                let locks = identifier("ha_table", &ha.ha_table)?;
                let changes = format!("{locks}_changes");
                identifier("ha_table", &changes)?;
                Some((HaSql::new(schema, locks, &changes), ha.classify))
            }
            None => None,
        };
        let (connection, tls) = tls_request(&config.connection_url)?;
        let mut pg_config: tokio_postgres::Config = connection.parse().map_err(|error| {
            Error::Config(format!("postgresql connection string: {}", chain(&error)))
        })?;
        if pg_config.get_connect_timeout().is_none() {
            pg_config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe_target(&pg_config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            TlsRequest::Plain => Manager::from_config(pg_config, NoTls, manager_config),
            TlsRequest::Tls { verify, root_cert } => {
                let connector = postgres_tls::connector(verify, root_cert.as_deref())?;
                pg_config.ssl_mode(SslMode::Require);
                Manager::from_config(pg_config, connector, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CREATE_TIMEOUT))
            .build()
            .map_err(|error| Error::Config(format!("postgresql connection pool: {error}")))?;
        let db = Arc::new(Database {
            pool,
            sql: Sql::new(schema, table),
            target,
            ha,
        });
        db.create_table().await?;
        let commits =
            commit::GroupCommit::start(Arc::clone(&db), committers(config.max_connections));
        Ok(Self { db, commits })
    }
}

impl Database {
    async fn create_table(&self) -> Result<()> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        // Nodes starting together would otherwise race on `CREATE … IF NOT EXISTS`.
        transaction.execute(Sql::LOCK_ONE, &[&SCHEMA_LOCK]).await?;
        if let Some(create_schema) = &self.sql.create_schema {
            transaction.batch_execute(create_schema).await?;
        }
        transaction.batch_execute(&self.sql.create_table).await?;
        if let Some((ha, _)) = &self.ha {
            transaction.batch_execute(&ha.create_locks).await?;
            transaction.batch_execute(&ha.create_changes).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|error| match error {
            PoolError::Closed => Error::Closed,
            PoolError::Backend(error) => Error::PostgresConnect {
                target: self.target.clone(),
                reason: chain(&error),
            },
            PoolError::Timeout(_) => Error::PostgresConnect {
                target: self.target.clone(),
                reason: format!("no connection within {} s", CREATE_TIMEOUT.as_secs()),
            },
            other => Error::PostgresConnect {
                target: self.target.clone(),
                reason: other.to_string(),
            },
        })
    }

    /// The advisory lock id of `key`: a hash of the table and the key, the same on every node.
    fn lock_id(&self, key: &str) -> i64 {
        let hash = fnv1a(fnv1a(FNV_OFFSET, self.sql.table.as_bytes()), key.as_bytes());
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// The keys under `prefix` from `start` on, at most `limit`, in key order.
    async fn keys(&self, start: &str, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let rows = self
            .range(
                &self.sql.keys_from,
                &self.sql.keys_between,
                start,
                prefix,
                limit,
            )
            .await?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(Error::from))
            .collect()
    }

    /// The records (key and value) under `prefix` from `start` on, at most `limit`, in key order.
    async fn records(&self, start: &str, prefix: &str, limit: usize) -> Result<Vec<Record>> {
        let rows = self
            .range(
                &self.sql.records_from,
                &self.sql.records_between,
                start,
                prefix,
                limit,
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Runs a range query under `prefix` from `start` on: `between` (`$1`, `$2`, `$3`: start,
    /// the prefix's upper bound, limit) or, for a prefix without one, `from` (`$1`, `$2`).
    async fn range(
        &self,
        from: &str,
        between: &str,
        start: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        Ok(match key::upper_bound(prefix) {
            Some(upper) => {
                let statement = client.prepare_cached(between).await?;
                client.query(&statement, &[&start, &upper, &limit]).await?
            }
            None => {
                let statement = client.prepare_cached(from).await?;
                client.query(&statement, &[&start, &limit]).await?
            }
        })
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        key::validate(key)?;
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&self.db.sql.get).await?;
        let row = client.query_opt(&statement, &[&key]).await?;
        Ok(row.map(|row| row.try_get::<_, Vec<u8>>(0)).transpose()?)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.transaction(vec![TxOp::Put {
            key: key.to_owned(),
            value: value.to_vec(),
        }])
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.transaction(vec![TxOp::Delete {
            key: key.to_owned(),
        }])
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        key::validate_fragment(prefix)?;
        let client = self.db.client().await?;
        let rows = match key::upper_bound(prefix) {
            Some(upper) => {
                let statement = client.prepare_cached(&self.db.sql.children_between).await?;
                client.query(&statement, &[&prefix, &upper]).await?
            }
            None => {
                let statement = client.prepare_cached(&self.db.sql.children_from).await?;
                client.query(&statement, &[&prefix]).await?
            }
        };
        let mut children: Vec<String> = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored: &str = row.try_get(0)?;
            match key::child(prefix, stored) {
                Some(Child::Leaf(name) | Child::Folder(name)) => children.push(name.to_owned()),
                None => {}
            }
        }
        // The walk already yields each child once, in order; this only guards the contract.
        children.dedup();
        Ok(children)
    }

    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let start = key::scan_from(prefix, after)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.db.keys(&start, prefix, limit).await
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
        self.db.records(&start, prefix, limit).await
    }

    async fn transaction(&self, ops: Vec<TxOp>) -> Result<()> {
        for op in &ops {
            op.validate()?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.commits.submit(ops).await
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }

    /// Lets the committers finish the transactions already queued, then closes the pool.
    async fn close(&self) -> Result<()> {
        self.commits.close().await;
        self.db.pool.close();
        Ok(())
    }
}

#[async_trait]
impl HaBackend for PostgresBackend {
    async fn hold_lock(&self, node: &HaNode, ttl: Duration) -> Result<HaLeader> {
        let ha = self.ha_sql()?;
        let client = self.db.client().await?;
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let statement = client.prepare_cached(&ha.hold).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&node.id, &node.api_addr, &node.cluster_addr, &millis];
        // When another node inserted the first lock row while this statement ran, the statement's
        // snapshot sees neither row; the second attempt sees the committed one.
        let row = match client.query_opt(&statement, &params).await? {
            Some(row) => row,
            None => client.query_one(&statement, &params).await?,
        };
        let holder = HaNode {
            id: row.try_get(0)?,
            api_addr: row.try_get(1)?,
            cluster_addr: row.try_get(2)?,
        };
        Ok(HaLeader {
            is_self: holder.id == node.id,
            node: holder,
        })
    }

    async fn release_lock(&self, node_id: &str) -> Result<()> {
        let ha = self.ha_sql()?;
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&ha.release).await?;
        client.execute(&statement, &[&node_id]).await?;
        Ok(())
    }

    async fn change_counters(&self) -> Result<BTreeMap<String, i64>> {
        let ha = self.ha_sql()?;
        let client = self.db.client().await?;
        let statement = client.prepare_cached(&ha.counters).await?;
        let rows = client.query(&statement, &[]).await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}

impl PostgresBackend {
    fn ha_sql(&self) -> Result<&HaSql> {
        self.db
            .ha
            .as_ref()
            .map(|(sql, _)| sql)
            .ok_or_else(|| Error::Config("postgresql ha_enabled is false".to_owned()))
    }
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.db.target)
            .field("table", &self.db.sql.table)
            .finish_non_exhaustive()
    }
}

/// How long one TCP connection attempt may take when the connection string does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening a pooled connection (TCP, startup, authentication) may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock that serialises table creation (`"coffer"` in ASCII).
const SCHEMA_LOCK: i64 = 0x636f_6666_6572;
/// The most committer tasks (each holds a pooled connection while it commits a group).
const MAX_COMMITTERS: usize = 4;

/// How many committer tasks a pool of `max_connections` gets: up to a quarter of it, so reads
/// always find connections too, and at least one.
fn committers(max_connections: usize) -> usize {
    (max_connections / 4).clamp(1, MAX_COMMITTERS)
}

/// Every statement the backend runs, built once from the validated, quoted table name.
struct Sql {
    /// `"schema"."table"` or `"table"`.
    table: String,
    create_schema: Option<String>,
    create_table: String,
    get: String,
    /// The keys among `$1` that exist, with their values.
    get_many: String,
    /// Writes each `($1[i], $2[i])` (keys distinct).
    put_many: String,
    /// Removes every key in `$1`.
    delete_many: String,
    /// Keys from `$1` on, at most `$2`, in byte order.
    keys_from: String,
    /// Keys in `[$1, $2)`, at most `$3`, in byte order.
    keys_between: String,
    /// Records (key, value) from `$1` on, at most `$2`, in byte order.
    records_from: String,
    /// Records (key, value) in `[$1, $2)`, at most `$3`, in byte order.
    records_between: String,
    /// One key per child of the prefix `$1` (no upper bound: the prefix is empty).
    children_from: String,
    /// One key per child of the prefix `$1`, below the bound `$2`.
    children_between: String,
}

impl Sql {
    /// Takes one transaction-scoped advisory lock.
    const LOCK_ONE: &'static str = "SELECT pg_advisory_xact_lock($1)";
    /// Takes the advisory locks of the sorted `$1`, in order: exclusively where `$2` is true,
    /// shared otherwise.
    const LOCK_MANY: &'static str = "SELECT CASE WHEN exclusive \
        THEN pg_advisory_xact_lock(lock_id) ELSE pg_advisory_xact_lock_shared(lock_id) END \
        FROM unnest($1::int8[], $2::bool[]) WITH ORDINALITY AS locks(lock_id, exclusive, position) \
        ORDER BY position";

    fn new(schema: Option<&str>, table: &str) -> Self {
        let table = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        let children = |bound: &str| {
            // Walks the index one child at a time: from a leaf key `k`, the next candidate is
            // the smallest key after it (`k || chr(1)`: keys hold no NUL); from a key inside a
            // folder `p + "x/…"`, it is `p + "x0"` ('0' follows '/'), past the whole folder.
            format!(
                "WITH RECURSIVE walk(k) AS ( \
                    (SELECT key FROM {table} WHERE key >= $1{bound} ORDER BY key LIMIT 1) \
                  UNION ALL \
                    SELECT (SELECT key FROM {table} WHERE key >= ( \
                        CASE WHEN strpos(substr(walk.k, char_length($1) + 1), '/') > 0 \
                        THEN substr(walk.k, 1, char_length($1) \
                            + strpos(substr(walk.k, char_length($1) + 1), '/') - 1) || '0' \
                        ELSE walk.k || chr(1) END) COLLATE \"C\"{bound} \
                        ORDER BY key LIMIT 1) \
                    FROM walk WHERE walk.k IS NOT NULL) \
                SELECT k FROM walk WHERE k IS NOT NULL"
            )
        };
        Self {
            create_schema: schema.map(|schema| format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")),
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {table} (\
                 key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, value BYTEA NOT NULL)"
            ),
            get: format!("SELECT value FROM {table} WHERE key = $1"),
            get_many: format!("SELECT key, value FROM {table} WHERE key = ANY($1::text[])"),
            put_many: format!(
                "INSERT INTO {table} (key, value) SELECT * FROM unnest($1::text[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            delete_many: format!("DELETE FROM {table} WHERE key = ANY($1::text[])"),
            keys_from: format!("SELECT key FROM {table} WHERE key >= $1 ORDER BY key LIMIT $2"),
            keys_between: format!(
                "SELECT key FROM {table} WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"
            ),
            records_from: format!(
                "SELECT key, value FROM {table} WHERE key >= $1 ORDER BY key LIMIT $2"
            ),
            records_between: format!(
                "SELECT key, value FROM {table} \
                 WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"
            ),
            children_from: children(""),
            children_between: children(" AND key < $2"),
            table,
        }
    }
}

/// The HA statements: the lock row (one row, `name = 'active'`) and the change counters.
struct HaSql {
    create_locks: String,
    create_changes: String,
    /// Takes or renews the lock for `$1` (api `$2`, cluster `$3`) for `$4` ms, and returns the
    /// holder. Expiry is judged on the database's clock, so node clocks may disagree.
    hold: String,
    release: String,
    /// Adds one to the counter of kind `$1`.
    bump: String,
    counters: String,
}

impl HaSql {
    fn new(schema: Option<&str>, locks: &str, changes: &str) -> Self {
        let qualify = |name: &str| match schema {
            Some(schema) => format!("\"{schema}\".\"{name}\""),
            None => format!("\"{name}\""),
        };
        let locks = qualify(locks);
        let changes = qualify(changes);
        Self {
            create_locks: format!(
                "CREATE TABLE IF NOT EXISTS {locks} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, \
                 api_addr TEXT NOT NULL, cluster_addr TEXT NOT NULL, \
                 valid_until TIMESTAMPTZ NOT NULL)"
            ),
            create_changes: format!(
                "CREATE TABLE IF NOT EXISTS {changes} (kind TEXT PRIMARY KEY, counter BIGINT NOT NULL)"
            ),
            hold: format!(
                "WITH taken AS ( \
                    INSERT INTO {locks} AS l (name, holder, api_addr, cluster_addr, valid_until) \
                    VALUES ('active', $1, $2, $3, clock_timestamp() + $4::int8 * interval '1 millisecond') \
                    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
                        api_addr = EXCLUDED.api_addr, cluster_addr = EXCLUDED.cluster_addr, \
                        valid_until = EXCLUDED.valid_until \
                    WHERE l.holder = EXCLUDED.holder OR l.valid_until < clock_timestamp() \
                    RETURNING holder, api_addr, cluster_addr) \
                 SELECT holder, api_addr, cluster_addr FROM taken \
                 UNION ALL \
                 SELECT holder, api_addr, cluster_addr FROM {locks} \
                    WHERE name = 'active' AND NOT EXISTS (SELECT 1 FROM taken) \
                 LIMIT 1"
            ),
            release: format!("DELETE FROM {locks} WHERE name = 'active' AND holder = $1"),
            bump: format!(
                "INSERT INTO {changes} AS c (kind, counter) VALUES ($1, 1) \
                 ON CONFLICT (kind) DO UPDATE SET counter = c.counter + 1"
            ),
            counters: format!("SELECT kind, counter FROM {changes}"),
        }
    }
}

/// A schema or table name, checked against `[A-Za-z_][A-Za-z0-9_]*` and PostgreSQL's 63-byte
/// limit. Only checked names are ever put into SQL text (and quoted there).
fn identifier<'a>(what: &str, name: &'a str) -> Result<&'a str> {
    let mut bytes = name.bytes();
    let starts_well = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_');
    let rest_ok = bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if starts_well && rest_ok && name.len() <= 63 {
        Ok(name)
    } else {
        Err(Error::Config(format!(
            "invalid postgresql {what} name {name:?}: use letters, digits and '_', \
             not starting with a digit, at most 63 characters"
        )))
    }
}

/// What the connection string asks for about TLS.
#[derive(Debug, PartialEq, Eq)]
enum TlsRequest {
    /// No TLS (`sslmode` absent, `disable` or `prefer`: the server is reached in plain text).
    Plain,
    /// TLS with this much verification, against these roots (`None`: the system bundle).
    Tls {
        verify: Verify,
        root_cert: Option<std::path::PathBuf>,
    },
}

/// Splits the libpq TLS settings `tokio-postgres` does not parse (`sslmode=verify-ca|verify-full`,
/// `sslrootcert`) out of the connection string: the string to give `tokio-postgres`, and what
/// was asked.
fn tls_request(connection: &str) -> Result<(String, TlsRequest)> {
    let params = connection_params(connection);
    let mode = params
        .iter()
        .rfind(|param| param.name == "sslmode")
        .map(|param| param.value.to_ascii_lowercase());
    let root_cert = params
        .iter()
        .rfind(|param| param.name == "sslrootcert")
        .map(|param| std::path::PathBuf::from(&param.value));
    let request = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => TlsRequest::Plain,
        Some("require") => TlsRequest::Tls {
            // As in libpq: a root certificate turns `require` into `verify-ca`.
            verify: if root_cert.is_some() {
                Verify::Chain
            } else {
                Verify::Nothing
            },
            root_cert,
        },
        Some("verify-ca") => TlsRequest::Tls {
            verify: Verify::Chain,
            root_cert,
        },
        Some("verify-full") => TlsRequest::Tls {
            verify: Verify::Full,
            root_cert,
        },
        Some(other) => {
            return Err(Error::Config(format!(
                "postgresql sslmode={other} is not one of disable, allow, prefer, require, \
                 verify-ca, verify-full"
            )));
        }
    };
    let kept = |param: &&Param<'_>| {
        param.name != "sslrootcert" && (request == TlsRequest::Plain || param.name != "sslmode")
    };
    let cleaned = match connection.trim().split_once('?') {
        Some((base, _)) if is_url(connection) => {
            let query: Vec<&str> = params.iter().filter(kept).map(|param| param.raw).collect();
            if query.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", query.join("&"))
            }
        }
        _ if is_url(connection) => connection.trim().to_owned(),
        _ => params
            .iter()
            .filter(kept)
            .map(|param| param.raw)
            .collect::<Vec<_>>()
            .join(" "),
    };
    Ok((cleaned, request))
}

fn is_url(connection: &str) -> bool {
    let connection = connection.trim();
    connection.starts_with("postgres://") || connection.starts_with("postgresql://")
}

/// One `name=value` setting of a connection string, with its text as written.
struct Param<'a> {
    name: String,
    value: String,
    raw: &'a str,
}

/// The settings of a URL's query or of a `key=value` string, in order.
fn connection_params(connection: &str) -> Vec<Param<'_>> {
    let connection = connection.trim();
    if is_url(connection) {
        let Some((_, query)) = connection.split_once('?') else {
            return Vec::new();
        };
        return query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Param {
                    name: name.to_owned(),
                    value: percent_decode(value),
                    raw: pair,
                }
            })
            .collect();
    }
    let mut params = Vec::new();
    let mut rest = connection;
    while let Some((name, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('\'') {
            Some(quoted) => split_quoted(quoted),
            None => {
                let (value, remaining) =
                    after.split_once(char::is_whitespace).unwrap_or((after, ""));
                (value.to_owned(), remaining)
            }
        };
        let raw_len = rest.len() - remaining.len();
        params.push(Param {
            name: name.trim().to_owned(),
            value,
            raw: rest.get(..raw_len).unwrap_or(rest).trim(),
        });
        rest = remaining.trim_start();
    }
    params
}

/// Decodes `%XX` escapes (a malformed escape stays as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                index += 3;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `sslmode` a connection string asks for, lower-cased, in either URL or `key=value` form.
#[cfg(test)]
fn ssl_mode(connection: &str) -> Option<String> {
    connection_params(connection)
        .into_iter()
        .rfind(|param| param.name == "sslmode")
        .map(|param| param.value.to_ascii_lowercase())
}

/// Splits a single-quoted `key=value` value (opening quote already removed, `\` escapes) from
/// what follows its closing quote.
fn split_quoted(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
            '\'' => return (value, quoted.get(index + 1..).unwrap_or("")),
            other => value.push(other),
        }
    }
    (value, "")
}

/// `host:port` of every host the config names, for error messages (never the password).
fn describe_target(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let port = |index: usize| ports.get(index).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port(index)),
            Host::Unix(directory) => format!("{}:{}", directory.display(), port(index)),
        })
        .collect();
    if hosts.is_empty() {
        let addresses = config.get_hostaddrs();
        if addresses.is_empty() {
            return "(no host given)".to_owned();
        }
        return addresses
            .iter()
            .enumerate()
            .map(|(index, address)| format!("{address}:{}", port(index)))
            .collect::<Vec<_>>()
            .join(",");
    }
    hosts.join(",")
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// 64-bit FNV-1a, continuing from `hash`: stable across processes and versions, unlike std's
/// hasher, which is what advisory lock ids shared by several nodes need.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ssl_mode(connection: &str, expected: Option<&str>) {
        assert_eq!(
            ssl_mode(connection).as_deref(),
            expected,
            "ssl_mode({connection:?})"
        );
    }

    #[test]
    fn ssl_modes() {
        check_ssl_mode("postgres://u@h/db", None);
        check_ssl_mode("postgres://u@h/db?sslmode=disable", Some("disable"));
        check_ssl_mode(
            "postgresql://u@h/db?application_name=x&sslmode=Require",
            Some("require"),
        );
        check_ssl_mode("host=h user=u", None);
        check_ssl_mode("host=h sslmode=verify-full user=u", Some("verify-full"));
        check_ssl_mode("host=h sslmode = prefer", Some("prefer"));
        check_ssl_mode(
            "password='a b\\' sslmode=require' sslmode='disable'",
            Some("disable"),
        );
        check_ssl_mode("password='sslmode=require' host=h", None);
    }

    fn check_tls(connection: &str, expected: &str) {
        let got = match tls_request(connection) {
            Ok((cleaned, request)) => format!("{cleaned} => {request:?}"),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(got, expected, "tls_request({connection:?})");
    }

    #[test]
    fn tls_settings_are_split_from_the_connection_string() {
        check_tls("postgres://u@h/db", "postgres://u@h/db => Plain");
        check_tls(
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=prefer => Plain",
        );
        check_tls(
            "postgres://u@h/db?sslmode=require&application_name=x",
            "postgres://u@h/db?application_name=x => Tls { verify: Nothing, root_cert: None }",
        );
        check_tls(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
            "postgres://u@h/db => Tls { verify: Full, root_cert: Some(\"/etc/ca.pem\") }",
        );
        check_tls(
            "postgres://u@h/db?sslrootcert=/ca.pem&sslmode=require",
            "postgres://u@h/db => Tls { verify: Chain, root_cert: Some(\"/ca.pem\") }",
        );
        check_tls(
            "host=h sslmode=verify-ca user=u",
            "host=h user=u => Tls { verify: Chain, root_cert: None }",
        );
        check_tls(
            "host=h password='a b' sslmode=disable",
            "host=h password='a b' sslmode=disable => Plain",
        );
        check_tls(
            "host=h sslmode=sometimes",
            "error: storage configuration: postgresql sslmode=sometimes is not one of disable, \
             allow, prefer, require, verify-ca, verify-full",
        );
    }

    fn check_identifier(name: &str, valid: bool) {
        assert_eq!(
            identifier("table", name).is_ok(),
            valid,
            "identifier({name:?})"
        );
    }

    #[test]
    fn identifiers() {
        check_identifier("coffer_kv", true);
        check_identifier("_x9", true);
        check_identifier("CamelCase", true);
        check_identifier(&"t".repeat(63), true);
        check_identifier(&"t".repeat(64), false);
        check_identifier("", false);
        check_identifier("9lives", false);
        check_identifier("kv; DROP TABLE x", false);
        check_identifier("a\"b", false);
        check_identifier("a-b", false);
        check_identifier("schéma", false);
    }

    #[test]
    fn targets_never_show_the_password() {
        let config: tokio_postgres::Config = "postgres://alice:hunter2@db.example:6543/coffer"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(describe_target(&config), "db.example:6543");
        let config: tokio_postgres::Config = "host=a,b port=1,2 password=hunter2"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(describe_target(&config), "a:1,b:2");
    }

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }
}
