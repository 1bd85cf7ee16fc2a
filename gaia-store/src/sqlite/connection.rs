//! SQLite connections that each live on a thread of their own.
//!
//! SQLite is a synchronous library. A store call sends its whole unit of
//! work — one statement, or a transaction from `BEGIN` to `COMMIT` — to a
//! connection's thread as one closure and awaits its answer: two thread
//! hand-offs per call, however many statements it runs. (Driving every
//! statement from async code separately costs two hand-offs per statement,
//! and on an idle machine a hand-off to a parked thread costs more than the
//! statement itself.)
//!
//! A short unit of work may skip even those two: [`Connections::free`] lends
//! a connection that no thread is using to the caller, which runs the work
//! in place.
//!
//! Write transactions queued behind one another share one commit (see
//! [`Connections::call_grouped`]): under contention a commit, not a
//! statement, is what a write costs.

use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use gaia_core::Error;
use rusqlite::Connection;

/// Most write transactions committed as one: bounds how long the first
/// caller of a group waits for the others' statements.
const GROUP_MAX: usize = 64;

/// A unit of work for a connection's thread.
enum Work {
    /// Runs on its own: a read, a checkpoint, a transaction of its own.
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside a write transaction that the thread opens and shares
    /// with the grouped work queued behind it (see [`commit_group`]).
    Grouped(Box<dyn Grouped>),
}

/// Grouped work: run in a shared transaction, answered once it has ended.
trait Grouped: Send {
    /// Runs the work; `false` when it failed and its writes must be undone.
    fn run(&mut self, connection: &Connection) -> bool;

    /// Answers the caller: with what the work returned once its transaction
    /// has committed (or once its own writes were undone, when it failed),
    /// or with `failed`, why the transaction did not commit.
    fn settle(self: Box<Self>, failed: Option<&rusqlite::Error>);
}

/// [`Grouped`] work returning `Sql<T>`, answered on a oneshot channel.
struct Unit<T, F> {
    work: Option<F>,
    result: Option<Sql<T>>,
    reply: tokio::sync::oneshot::Sender<Sql<T>>,
}

impl<T, F> Grouped for Unit<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Sql<T> + Send,
{
    fn run(&mut self, connection: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(connection);
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn settle(self: Box<Self>, failed: Option<&rusqlite::Error>) {
        let answer = match (self.result, failed) {
            (Some(Err(own)), _) => Err(own),
            (_, Some(failed)) => Err(Failure::Sql(copy_error(failed))),
            (Some(Ok(value)), None) => Ok(value),
            // Never ran, yet nothing failed: cannot happen; the caller sees
            // the reply dropped (`Closed`).
            (None, None) => return,
        };
        // The caller may have stopped waiting; the work is done anyway.
        let _ = self.reply.send(answer);
    }
}

/// What a closure run on a connection can fail with: a database error, which
/// the caller names with its action and the database, or an error that is
/// already a Gaia error (a refusal such as `budget_exceeded`, a column that
/// does not decode).
#[derive(Debug)]
pub(crate) enum Failure {
    Sql(rusqlite::Error),
    Gaia(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Gaia(error)
    }
}

/// The result of work on a connection.
pub(crate) type Sql<T> = std::result::Result<T, Failure>;

/// A set of connections to one database, each on its own thread, taking
/// work from one queue (the first free connection runs the next call).
///
/// Cheap to clone. The threads end, closing their connections, once the
/// last clone is dropped or [`Connections::close`] is called and the work
/// already queued is done.
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` once closed.
    queue: Mutex<Option<Sender<Work>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Every connection, shared by its thread and by callers it is lent to;
    /// `None` once closed.
    connections: Vec<Shared>,
    /// Work sent to the threads and not yet done. While there is any, no
    /// connection is lent: callers queue behind it rather than overtake it.
    pending: Arc<AtomicUsize>,
}

/// One connection, locked by whoever runs work on it.
type Shared = Arc<Mutex<Option<Connection>>>;

/// A connection lent to a caller, which runs its work in place; the
/// connection's thread waits until it is dropped.
pub(crate) struct Lent<'a>(MutexGuard<'a, Option<Connection>>);

impl Deref for Lent<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Only lent while open (see `Connections::free`).
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a closed connection is never lent"))
    }
}

/// The connection set was closed, or a connection's thread died.
#[derive(Debug, thiserror::Error)]
#[error("the database connection is closed")]
pub(crate) struct Closed;

impl Connections {
    /// Starts one thread per connection. `name` names the threads (in
    /// debuggers and panics).
    pub(crate) fn start(name: &str, connections: Vec<Connection>) -> std::io::Result<Self> {
        let (queue, work) = crossbeam_channel::unbounded::<Work>();
        let pending = Arc::new(AtomicUsize::new(0));
        let connections: Vec<Shared> = connections
            .into_iter()
            .map(|connection| Arc::new(Mutex::new(Some(connection))))
            .collect();
        let mut threads = Vec::with_capacity(connections.len());
        for (n, connection) in connections.iter().enumerate() {
            let (work, connection, pending) = (work.clone(), connection.clone(), pending.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{n}"))
                    .spawn(move || serve(&connection, &work, &pending))?,
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                queue: Mutex::new(Some(queue)),
                threads: Mutex::new(threads),
                connections,
                pending,
            }),
        })
    }

    /// Runs `work` on the first free connection and returns what it
    /// returned. `Err(Closed)` when the set is closed or the work panicked.
    pub(crate) async fn call<T, F>(&self, work: F) -> Result<T, Closed>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Work::Alone(Box::new(move |connection| {
            // The caller may have stopped waiting; the work is done anyway.
            let _ = reply.send(work(connection));
        })))?;
        answer.await.map_err(|_| Closed)
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`) and returns
    /// what it returned once the transaction has committed: its writes are
    /// kept when it returns `Ok`, undone when it returns `Err` or panics
    /// (`Err(Closed)`), and a failed commit is every grouped caller's error.
    ///
    /// The transaction is shared: the thread runs the grouped work queued
    /// behind the first, each under a savepoint of its own, and commits them
    /// together. Under contention a commit is what a write costs (its log
    /// frames, its locks), so a group of writes costs little more than one.
    pub(crate) async fn call_grouped<T, F>(&self, work: F) -> Result<Sql<T>, Closed>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Work::Grouped(Box::new(Unit {
            work: Some(work),
            result: None,
            reply,
        })))?;
        answer.await.map_err(|_| Closed)
    }

    fn send(&self, job: Work) -> Result<(), Closed> {
        let queue = self.sender()?;
        self.inner.pending.fetch_add(1, Ordering::AcqRel);
        queue.send(job).map_err(|_| {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
            Closed
        })
    }

    /// Queues `work` without waiting for it (dropped if the set is closed).
    pub(crate) fn post(&self, work: impl FnOnce(&mut Connection) + Send + 'static) {
        let _ = self.send(Work::Alone(Box::new(work)));
    }

    /// Lends a connection that no thread is running work on, for work short
    /// enough to run in place on the caller's thread; `None` when every
    /// connection is busy (or the set is closed), and the work goes through
    /// [`Connections::call`].
    pub(crate) fn free(&self) -> Option<Lent<'_>> {
        if self.inner.pending.load(Ordering::Acquire) > 0 {
            return None;
        }
        self.inner.connections.iter().find_map(|connection| {
            let guard = match connection.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return None,
            };
            guard.is_some().then(|| Lent(guard))
        })
    }

    fn sender(&self) -> Result<Sender<Work>, Closed> {
        let queue = self
            .inner
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.clone().ok_or(Closed)
    }

    /// Refuses new work, lets the work already queued finish, and waits for
    /// every thread to end and every connection to close.
    pub(crate) async fn close(&self) {
        self.inner
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let threads = std::mem::take(
            &mut *self
                .inner
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let connections = self.inner.connections.clone();
        // Closing a file connection may checkpoint its log: blocking work.
        let closed = tokio::task::spawn_blocking(move || {
            for thread in threads {
                // A thread that panicked has nothing left to run.
                let _ = thread.join();
            }
            for connection in connections {
                drop(lock(&connection).take());
            }
        });
        let _ = closed.await;
    }
}

fn lock(connection: &Shared) -> MutexGuard<'_, Option<Connection>> {
    // A panic in a unit of work rolled its transaction back while unwinding.
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection's thread: runs work until every sender is gone. A panic in
/// one unit of work drops its reply (the caller sees `Closed`) and leaves
/// the connection serving the next.
fn serve(connection: &Shared, queue: &Receiver<Work>, pending: &AtomicUsize) {
    let mut next = None;
    while let Some(work) = next.take().or_else(|| queue.recv().ok()) {
        let mut guard = lock(connection);
        let Some(connection) = guard.as_mut() else {
            pending.fetch_sub(1, Ordering::AcqRel);
            continue;
        };
        match work {
            Work::Alone(work) => {
                let _ = catch_unwind(AssertUnwindSafe(|| work(connection)));
                pending.fetch_sub(1, Ordering::AcqRel);
            }
            Work::Grouped(first) => {
                let group = commit_group(connection, first, queue);
                pending.fetch_sub(1 + group.joined, Ordering::AcqRel);
                next = group.after;
            }
        }
    }
}

/// What [`commit_group`] took from the queue.
struct Group {
    /// Grouped work that joined the first, all answered.
    joined: usize,
    /// Work that cannot join a transaction, taken from the queue: it runs
    /// next.
    after: Option<Work>,
}

/// Runs `first` and the grouped work queued behind it (up to [`GROUP_MAX`])
/// in one write transaction, commits it, and answers every caller.
///
/// Each joining unit runs under a savepoint, so that one that fails undoes
/// only its own writes. The first needs none: when it fails, the
/// transaction holds nothing else and is rolled back whole.
fn commit_group(connection: &Connection, first: Box<dyn Grouped>, queue: &Receiver<Work>) -> Group {
    let mut group = Group {
        joined: 0,
        after: None,
    };
    if let Err(e) = execute(connection, "BEGIN IMMEDIATE") {
        first.settle(Some(&e));
        return group;
    }
    let mut kept = match run_unit(connection, first) {
        Ran::Kept(unit) => vec![unit],
        Ran::Failed(unit) => {
            roll_back(connection);
            unit.settle(None);
            return group;
        }
        Ran::Panicked => {
            roll_back(connection);
            return group;
        }
    };
    while kept.len() < GROUP_MAX {
        let unit = match queue.try_recv() {
            Ok(Work::Grouped(unit)) => unit,
            Ok(alone) => {
                group.after = Some(alone);
                break;
            }
            Err(_) => break,
        };
        group.joined += 1;
        if let Err(e) = execute(connection, "SAVEPOINT grouped") {
            unit.settle(Some(&e));
            continue;
        }
        match run_unit(connection, unit) {
            Ran::Kept(unit) => {
                kept.push(unit);
                if let Err(e) = execute(connection, "RELEASE grouped") {
                    return abandon(connection, kept, &e, group);
                }
            }
            Ran::Failed(unit) => {
                let undone = undo_savepoint(connection);
                unit.settle(None);
                if let Err(e) = undone {
                    return abandon(connection, kept, &e, group);
                }
            }
            Ran::Panicked => {
                if let Err(e) = undo_savepoint(connection) {
                    return abandon(connection, kept, &e, group);
                }
            }
        }
        if connection.is_autocommit() {
            // Some errors (a full disk, an I/O error) end the whole
            // transaction, taking the writes of the units before with it.
            let lost = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("rolled back by an error in a write committed with it".into()),
            );
            return abandon(connection, kept, &lost, group);
        }
    }
    match execute(connection, "COMMIT") {
        Ok(()) => kept.into_iter().for_each(|unit| unit.settle(None)),
        Err(e) => return abandon(connection, kept, &e, group),
    }
    group
}

/// What running one unit of grouped work left.
enum Ran {
    /// It succeeded: its writes are to be committed.
    Kept(Box<dyn Grouped>),
    /// It returned an error: its writes are to be undone.
    Failed(Box<dyn Grouped>),
    /// It panicked: its writes are to be undone; dropping it answers its
    /// caller `Closed`.
    Panicked,
}

fn run_unit(connection: &Connection, mut unit: Box<dyn Grouped>) -> Ran {
    match catch_unwind(AssertUnwindSafe(|| unit.run(connection))) {
        Ok(true) => Ran::Kept(unit),
        Ok(false) => Ran::Failed(unit),
        Err(_) => Ran::Panicked,
    }
}

/// Rolls the transaction back and fails every unit kept in it with `error`.
fn abandon(
    connection: &Connection,
    kept: Vec<Box<dyn Grouped>>,
    error: &rusqlite::Error,
    group: Group,
) -> Group {
    roll_back(connection);
    kept.into_iter().for_each(|unit| unit.settle(Some(error)));
    group
}

/// Undoes the writes of the unit that ran under the open savepoint (unless
/// an error already ended the whole transaction).
fn undo_savepoint(connection: &Connection) -> rusqlite::Result<()> {
    if connection.is_autocommit() {
        return Ok(());
    }
    execute(connection, "ROLLBACK TO grouped")?;
    execute(connection, "RELEASE grouped")
}

/// Rolls back the open transaction, if SQLite has not already.
fn roll_back(connection: &Connection) {
    if !connection.is_autocommit()
        && let Err(e) = execute(connection, "ROLLBACK")
    {
        tracing::error!(error = %e, "cannot roll back a grouped transaction");
    }
}

/// Runs one fixed statement, prepared once per connection.
fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.raw_execute().map(drop)
}

/// The same error again, for each caller of a group that a failure ended.
fn copy_error(error: &rusqlite::Error) -> rusqlite::Error {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn memory(count: usize) -> Connections {
        let connections = (0..count)
            .map(|_| Connection::open_in_memory().unwrap())
            .collect();
        Connections::start("test", connections).unwrap()
    }

    #[tokio::test]
    async fn work_runs_on_a_connection_and_returns_its_value() {
        let connections = memory(1);
        let answer: i64 = connections
            .call(|connection| connection.query_row("SELECT 6 * 7", [], |row| row.get(0)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, 42);
    }

    #[tokio::test]
    async fn a_panic_fails_its_own_call_and_the_connection_serves_on() {
        let connections = memory(1);
        let panicked = connections
            .call(|_| -> i64 { panic!("a bug in one unit of work") })
            .await;
        assert!(panicked.is_err());
        // The same (only) connection still answers.
        let after = connections.call(|_| 1).await;
        assert_eq!(after.ok(), Some(1));
    }

    #[tokio::test]
    async fn close_finishes_queued_work_then_refuses_more() {
        let connections = memory(2);
        let queued: Vec<_> = (0..20)
            .map(|n| {
                let connections = connections.clone();
                tokio::spawn(async move { connections.call(move |_| n).await })
            })
            .collect();
        tokio::task::yield_now().await;
        connections.close().await;
        assert!(matches!(connections.call(|_| ()).await, Err(Closed)));
        // Every call that got into the queue before the close was answered.
        for (n, call) in queued.into_iter().enumerate() {
            // A call sent after the close is refused (`Closed`), not lost.
            if let Ok(value) = call.await.unwrap() {
                assert_eq!(value, n);
            }
        }
    }

    #[tokio::test]
    async fn only_an_idle_connection_is_lent() {
        let connections = memory(1);
        let lent = connections.free().unwrap();
        assert!(connections.free().is_none(), "lent once at a time");
        // The thread waits for the lent connection, then serves the call.
        let queued = tokio::spawn({
            let connections = connections.clone();
            async move { connections.call(|_| "served").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!queued.is_finished());
        drop(lent);
        assert_eq!(queued.await.unwrap().unwrap(), "served");
        connections.close().await;
        assert!(connections.free().is_none(), "a closed set lends nothing");
    }

    #[tokio::test]
    async fn connections_share_one_queue() {
        // Two connections: a call blocked on one does not hold up the other.
        let connections = memory(2);
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let slow = {
            let connections = connections.clone();
            tokio::spawn(async move {
                connections
                    .call(move |_| blocked.recv_timeout(std::time::Duration::from_secs(10)))
                    .await
            })
        };
        let quick = connections.call(|_| "answered").await.unwrap();
        assert_eq!(quick, "answered");
        release.send(()).unwrap();
        assert!(slow.await.unwrap().unwrap().is_ok());
    }

    /// Holds the only connection's thread until the returned sender is
    /// used (or dropped), so that the calls made meanwhile queue up.
    async fn hold(connections: &Connections) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        connections.post(move |_| {
            let _ = started.send(());
            let _ = held.recv_timeout(std::time::Duration::from_secs(10));
        });
        running.await.unwrap();
        release
    }

    /// Waits until `count` units of work are queued or running.
    async fn queued(connections: &Connections, count: usize) {
        while connections.inner.pending.load(Ordering::Acquire) < count {
            tokio::task::yield_now().await;
        }
    }

    /// One connection with a table `t` and a count of its commits.
    async fn counted() -> (Connections, Arc<AtomicUsize>) {
        let connections = memory(1);
        let commits = Arc::new(AtomicUsize::new(0));
        let counter = commits.clone();
        connections
            .call(move |connection| {
                connection
                    .execute_batch(
                        "PRAGMA foreign_keys = ON; \
                         CREATE TABLE t (n INTEGER NOT NULL); \
                         CREATE TABLE parent (id INTEGER PRIMARY KEY); \
                         CREATE TABLE child (parent INTEGER REFERENCES parent (id) \
                         DEFERRABLE INITIALLY DEFERRED);",
                    )
                    .unwrap();
                connection.commit_hook(Some(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    false
                }));
            })
            .await
            .unwrap();
        (connections, commits)
    }

    /// Queues one grouped insert of `n` into `t` per entry of `plan` behind
    /// a held thread, releases it, and returns each call's answer: an entry
    /// `Ok(())` keeps its insert, `Err(true)` fails after it, `Err(false)`
    /// panics after it.
    async fn grouped_inserts(
        connections: &Connections,
        plan: Vec<Result<(), bool>>,
    ) -> Vec<Result<Sql<i64>, Closed>> {
        let release = hold(connections).await;
        let calls: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(n, outcome)| {
                let (connections, outcome, n) = (connections.clone(), *outcome, n as i64);
                tokio::spawn(async move {
                    connections
                        .call_grouped(move |connection| {
                            connection.execute("INSERT INTO t (n) VALUES (?)", [n])?;
                            match outcome {
                                Ok(()) => Ok(n),
                                Err(true) => Err(Error::Internal(format!("{n} refused")).into()),
                                Err(false) => panic!("a bug in write {n}"),
                            }
                        })
                        .await
                })
            })
            .collect();
        queued(connections, 1 + plan.len()).await;
        release.send(()).unwrap();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        answers
    }

    async fn rows(connections: &Connections) -> Vec<i64> {
        connections
            .call(|connection| {
                let mut statement = connection.prepare("SELECT n FROM t ORDER BY n").unwrap();
                let rows = statement.query_map([], |row| row.get(0)).unwrap();
                rows.collect::<rusqlite::Result<Vec<i64>>>().unwrap()
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn queued_writes_share_one_commit() {
        let (connections, commits) = counted().await;
        let answers = grouped_inserts(&connections, vec![Ok(()); 10]).await;
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap().unwrap(), n as i64);
        }
        assert_eq!(commits.load(Ordering::SeqCst), 1);
        assert_eq!(rows(&connections).await, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_write_in_a_group_undoes_only_its_own() {
        let (connections, commits) = counted().await;
        let plan = vec![Ok(()), Ok(()), Err(true), Err(false), Ok(())];
        let answers = grouped_inserts(&connections, plan).await;
        assert!(matches!(answers[0], Ok(Ok(0))));
        assert!(matches!(answers[1], Ok(Ok(1))));
        assert!(
            matches!(&answers[2], Ok(Err(Failure::Gaia(Error::Internal(m)))) if m == "2 refused")
        );
        assert!(matches!(answers[3], Err(Closed)), "a panic answers Closed");
        assert!(matches!(answers[4], Ok(Ok(4))));
        assert_eq!(commits.load(Ordering::SeqCst), 1);
        assert_eq!(rows(&connections).await, vec![0, 1, 4]);
    }

    #[tokio::test]
    async fn a_failed_first_write_leaves_the_rest_to_commit() {
        let (connections, commits) = counted().await;
        let plan = vec![Err(true), Ok(()), Ok(())];
        let answers = grouped_inserts(&connections, plan).await;
        assert!(matches!(answers[0], Ok(Err(Failure::Gaia(_)))));
        assert!(matches!(answers[1], Ok(Ok(1))));
        assert!(matches!(answers[2], Ok(Ok(2))));
        assert_eq!(commits.load(Ordering::SeqCst), 1);
        assert_eq!(rows(&connections).await, vec![1, 2]);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_write_of_its_group() {
        let (connections, _) = counted().await;
        let release = hold(&connections).await;
        let insert = |sql: &'static str| {
            let connections = connections.clone();
            tokio::spawn(async move {
                connections
                    .call_grouped(move |connection| Ok(connection.execute(sql, [])?))
                    .await
            })
        };
        let parent = insert("INSERT INTO parent (id) VALUES (1)");
        // A deferred foreign key is checked at the commit, which it fails.
        let orphan = insert("INSERT INTO child (parent) VALUES (2)");
        queued(&connections, 3).await;
        release.send(()).unwrap();
        for call in [parent, orphan] {
            let answer = call.await.unwrap().unwrap();
            assert!(
                matches!(&answer, Err(Failure::Sql(e)) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)),
                "{answer:?}"
            );
        }
        let (in_transaction, parents) = connections
            .call(|connection| {
                let parents: i64 = connection
                    .query_row("SELECT COUNT(*) FROM parent", [], |row| row.get(0))
                    .unwrap();
                (!connection.is_autocommit(), parents)
            })
            .await
            .unwrap();
        assert!(!in_transaction, "the failed transaction was rolled back");
        assert_eq!(parents, 0);
    }

    #[tokio::test]
    async fn work_that_cannot_join_a_group_runs_after_its_commit() {
        let (connections, commits) = counted().await;
        let release = hold(&connections).await;
        let writes: Vec<_> = (0..2)
            .map(|n| {
                let connections = connections.clone();
                tokio::spawn(async move {
                    connections
                        .call_grouped(move |connection| {
                            Ok(connection.execute("INSERT INTO t (n) VALUES (?)", [n])?)
                        })
                        .await
                })
            })
            .collect();
        queued(&connections, 3).await;
        let read = tokio::spawn({
            let connections = connections.clone();
            async move {
                connections
                    .call(|connection| {
                        let count: i64 = connection
                            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
                            .unwrap();
                        (connection.is_autocommit(), count)
                    })
                    .await
            }
        });
        queued(&connections, 4).await;
        release.send(()).unwrap();
        for write in writes {
            assert_eq!(write.await.unwrap().unwrap().unwrap(), 1);
        }
        assert_eq!(read.await.unwrap().unwrap(), (true, 2));
        assert_eq!(commits.load(Ordering::SeqCst), 1);
    }
}
