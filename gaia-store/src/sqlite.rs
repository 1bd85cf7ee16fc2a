//! The SQLite record store: one database file in WAL mode, a single writer
//! connection and a pool of readers.

mod assets;
mod baseline;
mod blobs;
mod budget;
mod costs;
mod jobs;
mod ledger;
mod rows;
mod stats;
mod usage;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gaia_core::{Durability, Error, Page, Result};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, Transaction};

pub use blobs::SqliteBlobStore;

/// The embedded migrations of `migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reader connections; WAL lets them read while the writer writes.
const READERS: u32 = 4;

/// Jobs, assets, costs and budgets in one SQLite database.
///
/// Cheap to clone (the pools are shared). All writes go through a single
/// connection, each write transaction opened with `BEGIN IMMEDIATE` so that
/// several processes on the same file wait for the lock (up to the busy
/// timeout) rather than fail on a lock upgrade; reads use a separate pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The database file (or `:memory:`), named in error messages.
    location: Arc<str>,
}

/// Connects, retrying while another process holds the lock that switching a
/// new file to WAL needs: that pragma can fail with SQLITE_BUSY before the
/// busy timeout applies, when several processes open a new database at once.
async fn connect_retrying_busy(
    pool: SqlitePoolOptions,
    options: SqliteConnectOptions,
) -> std::result::Result<SqlitePool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("5") && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Pool settings: a local file cannot go stale the way a network connection
/// can, so the ping sqlx makes before every checkout (one more trip to the
/// connection's thread per statement) is skipped.
fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
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
        match parse_url(url)? {
            Location::Memory => Self::open_memory().await,
            Location::File(path) => Self::open_file(&path, durability).await,
        }
    }

    /// Closes both pools, waiting for statements in flight.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn open_file(path: &Path, durability: Durability) -> Result<Self> {
        let location: Arc<str> = path.display().to_string().into();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(folder).await.map_err(|e| {
                Error::storage(
                    format!("cannot create the database folder of {location}"),
                    e,
                )
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Statements are traced by the engine's spans; formatting each
            // one for the log costs more than the statement itself.
            .disable_statement_logging();
        let open_error = |e| Error::storage(format!("cannot open the database {location}"), e);
        let writer =
            connect_retrying_busy(pool_options(1), options.clone().create_if_missing(true))
                .await
                .map_err(open_error)?;
        migrate(&writer, &location).await?;
        let reader = connect_retrying_busy(pool_options(READERS), options)
            .await
            .map_err(open_error)?;
        Ok(Self {
            writer,
            reader,
            location,
        })
    }

    /// An in-memory database lives in its one connection, so readers and the
    /// writer share that connection and it is never recycled.
    async fn open_memory() -> Result<Self> {
        let location: Arc<str> = ":memory:".into();
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| Error::storage("cannot configure an in-memory database", e))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| Error::storage("cannot open an in-memory database", e))?;
        migrate(&pool, &location).await?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            location,
        })
    }

    /// Starts a write transaction holding the database's write lock from its
    /// first statement, so it never fails midway on a lock upgrade.
    async fn begin_write(&self, action: &str) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.failed(action))
    }

    /// Commits a write transaction.
    async fn commit(&self, tx: Transaction<'static, Sqlite>, action: &str) -> Result<()> {
        tx.commit().await.map_err(self.failed(action))
    }

    /// Converts a database error into a storage error naming the action and
    /// the database.
    fn failed(&self, action: &str) -> impl FnOnce(sqlx::Error) -> Error + use<> {
        let message = format!("cannot {action} in {}", self.location);
        move |e| Error::storage(message, e)
    }
}

/// Runs the migrations inside one `BEGIN IMMEDIATE` transaction, so that two
/// processes opening a new database at once apply them once: the second
/// waits for the lock, then finds them applied. (`run_direct` rather than
/// `run`: the latter's `Acquire` bound makes the future not `Send`.)
async fn migrate(pool: &SqlitePool, location: &str) -> Result<()> {
    let message = || format!("cannot migrate the database {location}");
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| Error::storage(message(), e))?;
    MIGRATOR
        .run_direct(&mut *tx)
        .await
        .map_err(|e| Error::storage(message(), e))?;
    tx.commit().await.map_err(|e| Error::storage(message(), e))
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

/// Appends `WHERE` before the first condition of a listing and `AND` before
/// the others.
struct Conditions {
    any: bool,
}

impl Conditions {
    fn new() -> Self {
        Self { any: false }
    }

    /// Starts the next condition; the caller pushes its SQL and binds.
    fn next<'q, 'a>(
        &mut self,
        query: &'q mut QueryBuilder<'a, Sqlite>,
    ) -> &'q mut QueryBuilder<'a, Sqlite> {
        query.push(if self.any { " AND " } else { " WHERE " });
        self.any = true;
        query
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

/// Rows of a listing with their `seq` (the cursor).
fn sequenced<T>(
    rows: &[SqliteRow],
    convert: impl Fn(&SqliteRow) -> Result<T>,
) -> Result<Vec<(i64, T)>> {
    rows.iter()
        .map(|row| Ok((rows::get(row, "seq")?, convert(row)?)))
        .collect()
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
