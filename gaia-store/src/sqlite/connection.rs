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

use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use gaia_core::Error;
use rusqlite::Connection;

/// A unit of work for a connection's thread.
type Work = Box<dyn FnOnce(&mut Connection) + Send>;

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
        let job: Work = Box::new(move |connection| {
            // The caller may have stopped waiting; the work is done anyway.
            let _ = reply.send(work(connection));
        });
        self.send(job)?;
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
        let _ = self.send(Box::new(work));
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
fn serve(connection: &Shared, work: &Receiver<Work>, pending: &AtomicUsize) {
    while let Ok(job) = work.recv() {
        let mut connection = lock(connection);
        if let Some(connection) = connection.as_mut() {
            let _ = catch_unwind(AssertUnwindSafe(|| job(connection)));
        }
        pending.fetch_sub(1, Ordering::AcqRel);
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
}
