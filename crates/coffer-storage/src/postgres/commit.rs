//! Group commit for the PostgreSQL backend: transactions that arrive together are applied
//! together, in one SQL transaction of a few pipelined statements, instead of one SQL transaction
//! (a dozen statements and a commit) each.
//!
//! A few committer tasks take turns at the queue. Each takes every transaction waiting there (at
//! most [`MAX_GROUP`]) and, on one pooled connection, in two round trips:
//!
//! 1. `BEGIN`; the advisory locks of every key the group touches, sorted (exclusive for the keys
//!    it writes, shared for those it only `Expect`s); the current values of the keys it
//!    `Expect`s; and for each `ExpectEmpty` prefix, its first keys (one more than the group
//!    deletes below it, so at least one survives the group's deletes if any key is there);
//! 2. [`plan`] checks each transaction, in arrival order, against those reads and the writes of
//!    the transactions before it, and merges the writes of those that hold into one final value
//!    per key; then one upsert, one delete, the HA change-counter bumps and `COMMIT`.
//!
//! Each caller is answered once `COMMIT` returned: `Ok`, or `Conflict` when its check failed
//! (nothing of it was written). When a statement fails, the group is rolled back, its connection
//! is dropped rather than returned to the pool, and every caller gets the error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::Poll;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Database, Sql};
use crate::{Error, Result, TxOp, key};

/// The most transactions one group takes.
const MAX_GROUP: usize = 128;
/// Transactions that may wait in the queue before callers wait for room.
const QUEUE_CAPACITY: usize = 1024;

/// The queue of transactions and the committer tasks that drain it.
pub(super) struct GroupCommit {
    /// Feeds the committers; `None` once closed.
    queue: RwLock<Option<mpsc::Sender<Pending>>>,
    committers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// A transaction waiting for its group.
struct Pending {
    ops: Vec<TxOp>,
    reply: oneshot::Sender<Result<()>>,
}

impl GroupCommit {
    /// Starts `committers` tasks on the current Tokio runtime.
    pub(super) fn start(db: Arc<Database>, committers: usize) -> GroupCommit {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        let handles = (0..committers.max(1))
            .map(|_| tokio::spawn(run_committer(Arc::clone(&db), Arc::clone(&receiver))))
            .collect();
        GroupCommit {
            queue: RwLock::new(Some(sender)),
            committers: std::sync::Mutex::new(handles),
        }
    }

    /// Applies `ops` (validated, not empty) with the next group; returns once it is committed.
    pub(super) async fn submit(&self, ops: Vec<TxOp>) -> Result<()> {
        let sender = self
            .queue
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Error::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending { ops, reply })
            .await
            .map_err(|_| Error::Closed)?;
        // The committers stop once every sender is gone; do not keep them alive while waiting.
        drop(sender);
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Stops taking transactions and waits until the committers have applied those queued.
    pub(super) async fn close(&self) {
        drop(
            self.queue
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let handles = std::mem::take(
            &mut *self
                .committers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for handle in handles {
            // A committer that panicked dropped its callers' replies: they saw `Closed`.
            let _ = handle.await;
        }
    }
}

/// One committer: takes a group from the queue, commits it, answers its callers; until the
/// queue is closed and empty.
async fn run_committer(db: Arc<Database>, queue: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(pending) => group.push(pending),
                    Err(_) => break,
                }
            }
            group
        };
        let transactions: Vec<&[TxOp]> = group.iter().map(|p| p.ops.as_slice()).collect();
        let outcome = commit_group(&db, &transactions).await;
        drop(transactions);
        match outcome {
            Ok(answers) => {
                for (pending, answer) in group.into_iter().zip(answers) {
                    // A caller that went away no longer needs its answer; the write stands.
                    let _ = pending.reply.send(answer);
                }
            }
            Err(error) if group.len() == 1 => {
                if let Some(pending) = group.into_iter().next() {
                    let _ = pending.reply.send(Err(error));
                }
            }
            Err(error) => {
                let shared = Arc::new(error);
                for pending in group {
                    let _ = pending.reply.send(Err(Error::Group(Arc::clone(&shared))));
                }
            }
        }
    }
}

/// Commits one group: each transaction's outcome, or the error that failed them all.
async fn commit_group(db: &Database, group: &[&[TxOp]]) -> Result<Vec<Result<()>>> {
    let client = db.client().await?;
    match run_group(db, &client, group).await {
        Ok(outcomes) => Ok(outcomes),
        Err(error) => {
            // The connection may be inside a failed transaction or broken: never reuse it.
            drop(deadpool_postgres::Object::take(client));
            Err(error)
        }
    }
}

async fn run_group(
    db: &Database,
    client: &deadpool_postgres::Client,
    group: &[&[TxOp]],
) -> Result<Vec<Result<()>>> {
    let needs = Needs::of(group);
    let (lock_ids, exclusive) = needs.locks(db);
    let expected: Vec<&str> = needs.expected.iter().copied().collect();

    let lock = client.prepare_cached(Sql::LOCK_MANY).await?;
    let get_many = client.prepare_cached(&db.sql.get_many).await?;
    let keys_from = client.prepare_cached(&db.sql.keys_from).await?;
    let keys_between = client.prepare_cached(&db.sql.keys_between).await?;
    let put_many = client.prepare_cached(&db.sql.put_many).await?;
    let delete_many = client.prepare_cached(&db.sql.delete_many).await?;
    let bump = match &db.ha {
        Some((ha, _)) => Some(client.prepare_cached(&ha.bump).await?),
        None => None,
    };

    // Round trip 1: begin, lock, read what the checks need.
    let uppers: Vec<(&str, Option<String>, i64)> = needs
        .prefixes
        .iter()
        .map(|(prefix, limit)| (*prefix, key::upper_bound(prefix), *limit))
        .collect();
    let mut reads: Vec<Statement<'_, Vec<tokio_postgres::Row>>> = Vec::new();
    reads.push(Box::pin(async {
        client.batch_execute("BEGIN").await.map(|()| Vec::new())
    }));
    reads.push(Box::pin(async {
        client
            .execute(&lock, &[&lock_ids, &exclusive])
            .await
            .map(|_| Vec::new())
    }));
    reads.push(Box::pin(async {
        if expected.is_empty() {
            return Ok(Vec::new());
        }
        client.query(&get_many, &[&expected]).await
    }));
    for (prefix, upper, limit) in &uppers {
        let (keys_from, keys_between) = (&keys_from, &keys_between);
        reads.push(Box::pin(async move {
            match upper {
                Some(upper) => client.query(keys_between, &[prefix, upper, limit]).await,
                None => client.query(keys_from, &[prefix, limit]).await,
            }
        }));
    }
    let mut answers = pipeline(reads).await?.into_iter().skip(2);
    let mut stored = Stored::default();
    for row in answers.next().unwrap_or_default() {
        stored.values.insert(row.try_get(0)?, row.try_get(1)?);
    }
    for ((prefix, _, _), rows) in uppers.iter().zip(answers) {
        let keys = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        stored.firsts.insert((*prefix).to_owned(), keys);
    }

    // Round trip 2: write what the transactions that hold leave behind, and commit.
    let plan = plan(group, &stored);
    let (put_keys, put_values): (Vec<&str>, Vec<&[u8]>) = plan.puts.iter().copied().unzip();
    let kinds: BTreeSet<&'static str> = match &db.ha {
        Some((_, classify)) => plan
            .puts
            .iter()
            .map(|(key, _)| *key)
            .chain(plan.deletes.iter().copied())
            .filter_map(classify)
            .collect(),
        None => BTreeSet::new(),
    };
    let mut writes: Vec<Statement<'_, ()>> = Vec::new();
    if !put_keys.is_empty() {
        writes.push(Box::pin(async {
            client
                .execute(&put_many, &[&put_keys, &put_values])
                .await
                .map(|_| ())
        }));
    }
    if !plan.deletes.is_empty() {
        writes.push(Box::pin(async {
            client
                .execute(&delete_many, &[&plan.deletes])
                .await
                .map(|_| ())
        }));
    }
    if let Some(bump) = &bump {
        // In a fixed order: the counter rows are locked in it.
        for kind in &kinds {
            writes.push(Box::pin(async move {
                client.execute(bump, &[kind]).await.map(|_| ())
            }));
        }
    }
    writes.push(Box::pin(async { client.batch_execute("COMMIT").await }));
    pipeline(writes).await?;
    Ok(plan.outcomes)
}

/// What a group needs from the database before it can be checked.
#[derive(Debug, Default)]
struct Needs<'a> {
    /// Every key the group names, and whether it writes it (exclusive lock) or only expects it.
    touched: BTreeMap<&'a str, bool>,
    /// The keys it `Expect`s.
    expected: BTreeSet<&'a str>,
    /// Each `ExpectEmpty` prefix, with how many of its first keys to read.
    prefixes: BTreeMap<&'a str, i64>,
}

impl<'a> Needs<'a> {
    fn of(group: &[&'a [TxOp]]) -> Needs<'a> {
        let mut needs = Needs::default();
        for op in group.iter().flat_map(|ops| ops.iter()) {
            match op {
                TxOp::Put { key, .. } | TxOp::Delete { key } => {
                    needs.touched.insert(key, true);
                }
                TxOp::Expect { key, .. } => {
                    needs.touched.entry(key).or_insert(false);
                    needs.expected.insert(key);
                }
                TxOp::ExpectEmpty { prefix } => {
                    needs.prefixes.insert(prefix, 1);
                }
            }
        }
        // The group's deletes may hide that many of a prefix's first keys.
        for op in group.iter().flat_map(|ops| ops.iter()) {
            if let TxOp::Delete { key } = op {
                for (prefix, limit) in needs.prefixes.iter_mut() {
                    if key.starts_with(prefix) {
                        *limit += 1;
                    }
                }
            }
        }
        needs
    }

    /// The advisory lock ids, sorted, and whether each is taken exclusively.
    fn locks(&self, db: &Database) -> (Vec<i64>, Vec<bool>) {
        let mut locks: BTreeMap<i64, bool> = BTreeMap::new();
        for (key, writes) in &self.touched {
            *locks.entry(db.lock_id(key)).or_insert(false) |= *writes;
        }
        locks.into_iter().unzip()
    }
}

/// What the database held, under the group's locks, for the checks.
#[derive(Debug, Default)]
struct Stored {
    /// The expected keys that exist, with their values.
    values: HashMap<String, Vec<u8>>,
    /// Each `ExpectEmpty` prefix's first keys, as many as [`Needs`] asked for (or all of them).
    firsts: HashMap<String, Vec<String>>,
}

/// What a group commits.
#[derive(Debug)]
struct Plan<'a> {
    /// Per transaction, in order: applied, or the conflict that kept it out.
    outcomes: Vec<Result<()>>,
    /// The final value of each key the applied transactions wrote.
    puts: Vec<(&'a str, &'a [u8])>,
    /// The keys they removed.
    deletes: Vec<&'a str>,
}

/// Each key's staged state: `Some(value)` written, `None` removed.
type Overlay<'a> = BTreeMap<&'a str, Option<&'a [u8]>>;

/// Checks the transactions of `group` in order, each against `stored` and the writes of the
/// applied ones before it, and merges the writes of those that hold.
fn plan<'a>(group: &[&'a [TxOp]], stored: &Stored) -> Plan<'a> {
    let mut applied: Overlay<'a> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(group.len());
    for ops in group {
        let mut staged: Overlay<'a> = BTreeMap::new();
        match check(ops, &mut staged, &applied, stored) {
            None => {
                applied.append(&mut staged);
                outcomes.push(Ok(()));
            }
            Some(key) => outcomes.push(Err(Error::Conflict {
                key: key.to_owned(),
            })),
        }
    }
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    for (key, value) in applied {
        match value {
            Some(value) => puts.push((key, value)),
            None => deletes.push(key),
        }
    }
    Plan {
        outcomes,
        puts,
        deletes,
    }
}

/// Stages one transaction's writes; the key or prefix of the first check that fails, if any.
fn check<'a>(
    ops: &'a [TxOp],
    staged: &mut Overlay<'a>,
    applied: &Overlay<'a>,
    stored: &Stored,
) -> Option<&'a str> {
    for op in ops {
        match op {
            TxOp::Put { key, value } => {
                staged.insert(key, Some(value));
            }
            TxOp::Delete { key } => {
                staged.insert(key, None);
            }
            TxOp::Expect { key, value } => {
                let current = match staged
                    .get(key.as_str())
                    .or_else(|| applied.get(key.as_str()))
                {
                    Some(staged) => *staged,
                    None => stored.values.get(key).map(Vec::as_slice),
                };
                if current != value.as_deref() {
                    return Some(key);
                }
            }
            TxOp::ExpectEmpty { prefix } => {
                if !is_empty(prefix, staged, applied, stored) {
                    return Some(prefix);
                }
            }
        }
    }
    None
}

/// Whether no key below `prefix` is left, seen through this transaction's and the group's writes.
fn is_empty(prefix: &str, staged: &Overlay<'_>, applied: &Overlay<'_>, stored: &Stored) -> bool {
    // The state of a key as the transaction sees it: its own writes, then the group's, then the
    // database (where every key in `firsts` exists).
    let present = |key: &str, in_database: bool| match staged.get(key).or_else(|| applied.get(key))
    {
        Some(value) => value.is_some(),
        None => in_database,
    };
    let staged_live = below(staged, prefix).any(|(_, value)| value.is_some());
    let applied_live = below(applied, prefix).any(|(key, _)| present(key, false));
    let stored_live = stored
        .firsts
        .get(prefix)
        .is_some_and(|keys| keys.iter().any(|key| present(key, true)));
    !(staged_live || applied_live || stored_live)
}

/// The staged keys below `prefix`, with their states.
fn below<'o, 'a>(
    overlay: &'o Overlay<'a>,
    prefix: &'o str,
) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'o {
    overlay
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(key, _)| key.starts_with(prefix))
        .map(|(key, value)| (*key, *value))
}

/// One pipelined statement.
type Statement<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send + 'a>>;

/// Runs `statements` concurrently on one connection. `tokio-postgres` sends a statement when its
/// future is first polled, and this polls them in order, so they reach the server in order and in
/// one round trip. The first error wins.
async fn pipeline<T>(
    mut statements: Vec<Statement<'_, T>>,
) -> std::result::Result<Vec<T>, tokio_postgres::Error> {
    let mut results: Vec<Option<T>> = statements.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (statement, result) in statements.iter_mut().zip(results.iter_mut()) {
            if result.is_some() {
                continue;
            }
            match statement.as_mut().poll(cx) {
                Poll::Ready(Ok(value)) => *result = Some(value),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(results.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> TxOp {
        TxOp::Put {
            key: key.to_owned(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn delete(key: &str) -> TxOp {
        TxOp::Delete {
            key: key.to_owned(),
        }
    }

    fn expect(key: &str, value: Option<&str>) -> TxOp {
        TxOp::Expect {
            key: key.to_owned(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn expect_empty(prefix: &str) -> TxOp {
        TxOp::ExpectEmpty {
            prefix: prefix.to_owned(),
        }
    }

    fn stored(values: &[(&str, &str)], firsts: &[(&str, &[&str])]) -> Stored {
        Stored {
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            firsts: firsts
                .iter()
                .map(|(p, keys)| {
                    (
                        (*p).to_owned(),
                        keys.iter().map(|k| (*k).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Runs `plan` and renders it: each outcome (`ok` or `conflict <key>`), then the writes.
    fn check_plan(group: &[Vec<TxOp>], stored: &Stored, expect: &[&str]) {
        let group: Vec<&[TxOp]> = group.iter().map(Vec::as_slice).collect();
        let plan = plan(&group, stored);
        let mut lines: Vec<String> = plan
            .outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(()) => "ok".to_owned(),
                Err(Error::Conflict { key }) => format!("conflict {key}"),
                Err(other) => format!("error {other}"),
            })
            .collect();
        for (key, value) in &plan.puts {
            lines.push(format!("put {key}={}", String::from_utf8_lossy(value)));
        }
        for key in &plan.deletes {
            lines.push(format!("delete {key}"));
        }
        assert_eq!(lines, expect);
    }

    #[test]
    fn later_transactions_see_the_writes_of_earlier_ones() {
        check_plan(
            &[
                vec![expect("n", Some("1")), put("n", "2")],
                vec![expect("n", Some("2")), put("n", "3")],
                vec![expect("n", Some("2")), put("n", "lost")],
            ],
            &stored(&[("n", "1")], &[]),
            &["ok", "ok", "conflict n", "put n=3"],
        );
    }

    #[test]
    fn a_conflict_keeps_only_its_own_transaction_out() {
        check_plan(
            &[
                vec![put("a", "1"), expect("x", None), put("b", "1")],
                vec![expect("a", None), put("c", "1")],
                vec![delete("d"), expect("d", None)],
            ],
            &stored(&[("x", "there"), ("d", "old")], &[]),
            &["conflict x", "ok", "ok", "put c=1", "delete d"],
        );
    }

    #[test]
    fn expect_empty_sees_the_database_through_the_groups_writes() {
        let database = stored(&[], &[("f/", &["f/a", "f/b"])]);
        // Both stored keys are deleted before the check, by this transaction and an earlier one.
        check_plan(
            &[
                vec![delete("f/a")],
                vec![delete("f/b"), expect_empty("f/"), delete("f")],
            ],
            &database,
            &["ok", "ok", "delete f", "delete f/a", "delete f/b"],
        );
        // One stored key remains.
        check_plan(
            &[vec![delete("f/a"), expect_empty("f/")]],
            &database,
            &["conflict f/"],
        );
        // An earlier transaction of the group adds below the prefix.
        check_plan(
            &[vec![put("g/new", "1")], vec![expect_empty("g/")]],
            &stored(&[], &[("g/", &[])]),
            &["ok", "conflict g/", "put g/new=1"],
        );
        // A key beside the prefix does not count.
        check_plan(
            &[
                vec![put("g0", "1")],
                vec![expect_empty("g/"), put("m", "1")],
            ],
            &stored(&[], &[("g/", &[])]),
            &["ok", "ok", "put g0=1", "put m=1"],
        );
    }

    #[test]
    fn needs_reads_past_what_the_group_deletes() {
        let group = [
            vec![delete("f/a"), expect("k", None)],
            vec![delete("f/b"), expect_empty("f/"), put("k", "1")],
        ];
        let group: Vec<&[TxOp]> = group.iter().map(Vec::as_slice).collect();
        let needs = Needs::of(&group);
        assert_eq!(needs.prefixes.get("f/"), Some(&3));
        assert_eq!(needs.expected.iter().copied().collect::<Vec<_>>(), ["k"]);
        assert_eq!(
            needs
                .touched
                .iter()
                .map(|(k, w)| (*k, *w))
                .collect::<Vec<_>>(),
            [("f/a", true), ("f/b", true), ("k", true)]
        );
    }
}
