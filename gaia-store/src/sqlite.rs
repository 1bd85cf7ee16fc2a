//! The SQLite record store: one database file in WAL mode, a single writer
//! connection and a few readers, each connection on a thread of its own
//! (see [`connection`]).

mod assets;
mod baseline;
mod blobs;
mod budget;
mod connection;
mod costs;
mod jobs;
mod ledger;
mod migrate;
mod rows;
mod stats;
mod usage;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use gaia_core::{Durability, Error, Page, Result};
use rusqlite::types::Value;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Params, Row, Transaction, TransactionBehavior,
};

pub use blobs::SqliteBlobStore;
use connection::{Connections, Failure, Sql};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reader connections; WAL lets them read while the writer writes.
const READERS: usize = 4;

/// Batches of at most this many rows are written in place when the writer
/// is free (see `SqliteStore::write_now`); larger ones take the writer's
/// thread, so that no caller's thread is held for long.
const SHORT_BATCH: usize = 8;

/// Writes between checkpoints of the write-ahead log: a job's writes touch
/// about ten pages each, so about SQLite's own default of 1,000 pages.
const CHECKPOINT_EVERY: u32 = 100;

/// Prepared statements kept per connection: every fixed statement of the
/// store, and the common shapes of the listings built from filters.
const STATEMENT_CACHE: usize = 128;

/// Jobs, assets, costs and budgets in one SQLite database.
///
/// Cheap to clone (the connections are shared). All writes go through a
/// single connection, each a transaction opened with `BEGIN IMMEDIATE` so
/// that several processes on the same file wait for the lock (up to the busy
/// timeout) rather than fail on a lock upgrade; reads use other connections.
/// A store call is one unit of work on one connection's thread, so a
/// transaction costs one round trip however many statements it runs; the
/// short calls of a job's path run in place when a connection is free
/// (`write_now`), with no round trip at all.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Connections,
    reader: Connections,
    /// Commits since the write-ahead log was last checkpointed.
    commits: Arc<AtomicU32>,
    /// The database file (or `:memory:`), named in error messages.
    location: Arc<str>,
}

/// What a `sqlite:` URL names.
enum Location {
    Memory,
    File(PathBuf),
}

impl SqliteStore {
    /// Opens the database a URL names, creating its folder and file and
    /// running the migrations: `sqlite://path/to/gaia.db` (relative, or
    /// absolute as `sqlite:///abs/gaia.db`), or `sqlite::memory:` for a
    /// private in-memory database (for tests). Query parameters are ignored.
    /// Commits survive a crash of the process ([`Durability::Normal`]).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Durability::Normal).await
    }

    /// Opens the database a URL names, committing with `synchronous=FULL`
    /// when `durability` asks to survive a power loss.
    pub async fn open_with(url: &str, durability: Durability) -> Result<Self> {
        let location = parse_url(url)?;
        // Opening and migrating are blocking file work.
        tokio::task::spawn_blocking(move || match location {
            Location::Memory => Self::open_memory(),
            Location::File(path) => Self::open_file(&path, durability),
        })
        .await
        .map_err(|e| Error::Internal(format!("opening the database stopped: {e}")))?
    }

    /// Closes every connection, letting the calls in flight finish first.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    fn open_file(path: &Path, durability: Durability) -> Result<Self> {
        let location: Arc<str> = path.display().to_string().into();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                Error::storage(
                    format!("cannot create the database folder of {location}"),
                    e,
                )
            })?;
        }
        let open_error =
            |e: rusqlite::Error| Error::storage(format!("cannot open the database {location}"), e);
        let mut writer = open_connection(path, durability).map_err(open_error)?;
        migrate::run(&mut writer, &location)?;
        // Checkpoints run on the writer's thread (see `committed`), never
        // inside a commit made in place on a caller's thread.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(open_error)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, durability))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(open_error)?;
        let threads_error =
            |e| Error::storage(format!("cannot start the threads of {location}"), e);
        Ok(Self {
            writer: Connections::start("gaia-sqlite-writer", vec![writer])
                .map_err(threads_error)?,
            reader: Connections::start("gaia-sqlite-reader", readers).map_err(threads_error)?,
            commits: Arc::default(),
            location,
        })
    }

    /// An in-memory database lives in its one connection, so readers and the
    /// writer share that connection.
    fn open_memory() -> Result<Self> {
        let location: Arc<str> = ":memory:".into();
        let open_error = |e| Error::storage("cannot open an in-memory database", e);
        let mut connection = Connection::open_in_memory().map_err(open_error)?;
        configure(&connection, Durability::Normal).map_err(open_error)?;
        migrate::run(&mut connection, &location)?;
        let connections = Connections::start("gaia-sqlite-memory", vec![connection])
            .map_err(|e| Error::storage("cannot start the in-memory database's thread", e))?;
        Ok(Self {
            writer: connections.clone(),
            reader: connections,
            commits: Arc::default(),
            location,
        })
    }

    /// Runs `work` in a write transaction, holding the database's write lock
    /// from its first statement (`BEGIN IMMEDIATE`) so that it never fails
    /// midway on a lock upgrade. Commits when `work` returns `Ok` (which may
    /// itself hold a refusal to report after committing), rolls back when
    /// it returns `Err`. Writes queued together share one commit (see
    /// `Connections::call_grouped`).
    async fn write<T, F>(&self, action: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        let done = self.writer.call_grouped(work).await;
        self.committed();
        self.finish(action, done)
    }

    /// [`write`](Self::write) for short work (a few rows): runs it in place
    /// on the caller's thread when the writer connection is free and no
    /// other process holds the database's write lock, saving the two thread
    /// hand-offs that would cost more than the work; otherwise queues it.
    async fn write_now<T, F>(&self, action: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        let work = match self.writer.free() {
            Some(connection) => match write_in_place(&connection, work) {
                Ok(done) => {
                    drop(connection);
                    self.committed();
                    return self.finish(action, done);
                }
                Err(work) => work,
            },
            None => work,
        };
        self.write(action, work).await
    }

    /// A write of `rows` rows: in place when the batch is short (see
    /// [`write_now`](Self::write_now)), on the writer's thread otherwise.
    async fn write_rows<T, F>(&self, action: &str, rows: usize, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        if rows <= SHORT_BATCH {
            self.write_now(action, work).await
        } else {
            self.write(action, work).await
        }
    }

    /// Runs `work` on a reader connection.
    async fn read<T, F>(&self, action: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        let done = self.reader.call(move |connection| work(connection)).await;
        self.finish(action, done)
    }

    /// [`read`](Self::read) for short work (a row or an indexed aggregate),
    /// run in place when a reader connection is free.
    async fn read_now<T, F>(&self, action: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Sql<T> + Send + 'static,
    {
        if let Some(connection) = self.reader.free() {
            let done = catch_unwind(AssertUnwindSafe(|| work(&connection)));
            return self.finish(action, done.map_err(|_| connection::Closed));
        }
        self.read(action, work).await
    }

    /// A page of a listing newest first: `query` selects `seq` and the
    /// columns `convert` reads; one row more than `limit` says whether
    /// another page follows.
    async fn list<T: Send + 'static>(
        &self,
        action: &str,
        mut query: Query,
        limit: u32,
        convert: fn(&Row<'_>) -> Result<T>,
    ) -> Result<Page<T>> {
        query.push(
            " ORDER BY seq DESC LIMIT ?",
            [(i64::from(limit) + 1).into()],
        );
        let rows = self
            .read(action, move |connection| {
                all_rows(connection, &query.sql, query.params(), sequenced(convert))
            })
            .await?;
        Ok(into_page(rows, limit))
    }

    /// Counts a write and, every [`CHECKPOINT_EVERY`] writes, has the
    /// writer's thread checkpoint the write-ahead log (passively: readers and
    /// other processes are not waited for), as SQLite would itself every
    /// 1,000 pages — but off the caller's thread.
    fn committed(&self) {
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if commits.is_multiple_of(CHECKPOINT_EVERY) {
            self.writer.post(|connection| {
                if let Err(e) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "cannot checkpoint the SQLite log");
                }
            });
        }
    }

    /// A call's result, a database error named with the action and database.
    fn finish<T>(
        &self,
        action: &str,
        done: std::result::Result<Sql<T>, connection::Closed>,
    ) -> Result<T> {
        match done {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Gaia(error))) => Err(error),
            Ok(Err(Failure::Sql(error))) => Err(self.failed(action, error)),
            Err(closed) => Err(self.failed(action, closed)),
        }
    }

    /// A storage error naming the action and the database.
    fn failed(&self, action: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::storage(format!("cannot {action} in {}", self.location), error)
    }
}

/// Runs `work` in a write transaction on a lent connection, unless another
/// process holds the write lock: then `work` comes back untouched, to wait
/// for the lock on the connection's thread rather than on the caller's. A
/// panic in `work` rolls its transaction back and fails only this call.
fn write_in_place<T, F>(
    connection: &Connection,
    work: F,
) -> std::result::Result<std::result::Result<Sql<T>, connection::Closed>, F>
where
    F: FnOnce(&Connection) -> Sql<T>,
{
    if let Err(e) = connection.busy_timeout(Duration::ZERO) {
        return Ok(Ok(Err(e.into())));
    }
    // Unchecked only in that it takes `&Connection`: a lent connection is
    // this caller's alone.
    let tx = match Transaction::new_unchecked(connection, TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let restored = connection.busy_timeout(BUSY_TIMEOUT);
            return match e {
                rusqlite::Error::SqliteFailure(failure, _)
                    if failure.code == rusqlite::ErrorCode::DatabaseBusy && restored.is_ok() =>
                {
                    Err(work)
                }
                other => Ok(Ok(Err(other.into()))),
            };
        }
    };
    // Holding the write lock, the transaction's statements never wait.
    if let Err(e) = tx.busy_timeout(BUSY_TIMEOUT) {
        return Ok(Ok(Err(e.into())));
    }
    Ok(catch_unwind(AssertUnwindSafe(|| commit_work(tx, work))).map_err(|_| connection::Closed))
}

/// Runs `work` in an open write transaction: commits when it returns `Ok`,
/// rolls back (on drop) when it returns `Err`.
fn commit_work<T>(tx: Transaction<'_>, work: impl FnOnce(&Connection) -> Sql<T>) -> Sql<T> {
    let value = work(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// Opens a connection to a database file (creating it) and configures it.
fn open_connection(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&connection, durability)?;
    switch_to_wal(&connection)?;
    Ok(connection)
}

/// The settings of every connection.
fn configure(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.pragma_update(None, "foreign_keys", "ON")?;
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)
}

/// Switches the file to WAL, retrying while another process holds the lock
/// this needs: the pragma can fail with `SQLITE_BUSY` before the busy
/// timeout applies, when several processes open a new database at once.
fn switch_to_wal(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let switched: rusqlite::Result<String> =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match switched {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.map(drop),
        }
    }
}

/// The first row a statement returns, converted; `None` when it returns none.
fn first_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    convert: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Sql<Option<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(convert(row)?)),
        None => Ok(None),
    }
}

/// Every row a statement returns, converted.
fn all_rows<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    mut convert: impl FnMut(&Row<'_>) -> Result<T>,
) -> Sql<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut converted = Vec::new();
    while let Some(row) = rows.next()? {
        converted.push(convert(row)?);
    }
    Ok(converted)
}

/// The first column of the single row a statement returns (an aggregate).
fn scalar<T: rusqlite::types::FromSql>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> Sql<T> {
    Ok(connection
        .prepare_cached(sql)?
        .query_row(params, |row| row.get(0))?)
}

/// The first column of the first row, when there is one.
fn optional_scalar<T: rusqlite::types::FromSql>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> Sql<Option<T>> {
    Ok(connection
        .prepare_cached(sql)?
        .query_row(params, |row| row.get(0))
        .optional()?)
}

fn parse_url(url: &str) -> Result<Location> {
    let invalid = || {
        Error::invalid(
            "database",
            format!("{url:?} is not a SQLite URL (expected sqlite://PATH or sqlite::memory:)"),
        )
    };
    let rest = url.strip_prefix("sqlite:").ok_or_else(invalid)?;
    let rest = rest.split_once('?').map_or(rest, |(path, _query)| path);
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(Location::Memory);
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(invalid());
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// A statement built from a listing's filters, with its parameters.
struct Query {
    sql: String,
    params: Vec<Value>,
    /// Whether the statement has a `WHERE` clause yet.
    filtered: bool,
}

impl Query {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            params: Vec::new(),
            filtered: false,
        }
    }

    /// A statement whose `sql` already ends in a `WHERE` clause.
    fn filtered(sql: &str) -> Self {
        Self {
            filtered: true,
            ..Self::new(sql)
        }
    }

    /// Adds a condition (after `WHERE`, or `AND` after the first) whose one
    /// `?` takes `value`.
    fn filter(&mut self, condition: &str, value: impl Into<Value>) -> &mut Self {
        self.sql
            .push_str(if self.filtered { " AND " } else { " WHERE " });
        self.filtered = true;
        self.sql.push_str(condition);
        self.params.push(value.into());
        self
    }

    /// Appends SQL whose `?` placeholders take `values`, in order.
    fn push(&mut self, sql: &str, values: impl IntoIterator<Item = Value>) -> &mut Self {
        self.sql.push_str(sql);
        self.params.extend(values);
        self
    }

    fn params(&self) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, Value>> {
        rusqlite::params_from_iter(self.params.iter())
    }

    /// Runs a multi-row `INSERT` built here. Not from the statement cache:
    /// its text varies with its row count and would push out the store's
    /// fixed statements.
    fn execute(&self, connection: &Connection) -> Sql<usize> {
        Ok(connection.prepare(&self.sql)?.execute(self.params())?)
    }
}

/// The `seq` a listing continues after.
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                Error::invalid(
                    "cursor",
                    format!("{text:?} is not a cursor returned by a previous page"),
                )
            })
        })
        .transpose()
}

/// A page from rows fetched with `LIMIT limit + 1`: the extra row only says
/// that there is a next page, which starts after the last row kept.
pub(crate) fn into_page<T>(mut rows: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    }
}

/// A listing's row with its `seq` (the cursor).
fn sequenced<T>(convert: impl Fn(&Row<'_>) -> Result<T>) -> impl Fn(&Row<'_>) -> Result<(i64, T)> {
    move |row| Ok((rows::get(row, "seq")?, convert(row)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hosts open stores inside `Send` futures (`async_trait`, `tokio::spawn`).
    #[test]
    fn opening_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let open = SqliteStore::open("sqlite::memory:");
        assert_send(&open);
    }

    /// Every connection, writer and readers alike, runs with the settings
    /// the durability asks for.
    #[tokio::test]
    async fn connections_are_configured_for_their_durability() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (durability, synchronous) in [(Durability::Normal, 1), (Durability::Full, 2)] {
            let url = format!("sqlite://{}", dir.path().join("settings.db").display());
            let store = SqliteStore::open_with(&url, durability)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let settings = |connection: &Connection| -> Sql<(i64, i64, String)> {
                Ok((
                    scalar(connection, "PRAGMA synchronous", [])?,
                    scalar(connection, "PRAGMA foreign_keys", [])?,
                    scalar(connection, "PRAGMA journal_mode", [])?,
                ))
            };
            let expected = (synchronous, 1, "wal".to_owned());
            let read = store.read("read settings", settings).await;
            assert_eq!(read.ok(), Some(expected.clone()), "{durability:?} reader");
            let written = store.write("read settings", settings).await;
            assert_eq!(written.ok(), Some(expected), "{durability:?} writer");
            store.close().await;
        }
    }

    #[test]
    fn urls_name_files_or_memory() {
        assert!(matches!(parse_url("sqlite::memory:"), Ok(Location::Memory)));
        let file = |url| match parse_url(url) {
            Ok(Location::File(path)) => Some(path),
            _ => None,
        };
        assert_eq!(file("sqlite://.gaia/gaia.db"), Some(".gaia/gaia.db".into()));
        assert_eq!(
            file("sqlite:///tmp/g.db?mode=rwc"),
            Some("/tmp/g.db".into())
        );
        assert_eq!(file("sqlite:g.db"), Some("g.db".into()));
        assert!(parse_url("postgres://x").is_err());
        assert!(parse_url("sqlite://").is_err());
    }

    #[test]
    fn cursors_are_sequence_numbers() {
        assert_eq!(parse_cursor(None).ok(), Some(None));
        assert_eq!(parse_cursor(Some("42")).ok(), Some(Some(42)));
        assert!(matches!(
            parse_cursor(Some("x")),
            Err(Error::InvalidRequest { field, .. }) if field == "cursor"
        ));
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let page = into_page(vec![(9, 'a'), (8, 'b'), (7, 'c')], 2);
        assert_eq!(page.items, vec!['a', 'b']);
        assert_eq!(page.next_cursor.as_deref(), Some("8"));
        let last = into_page(vec![(7, 'c')], 2);
        assert_eq!(last.next_cursor, None);
    }
}
