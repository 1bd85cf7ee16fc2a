//! The Postgres record store: the SQLite schema's tables and meanings in
//! Postgres, for many workers in many processes on one database.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent claimers
//! never wait on each other; budget checks and provider slots take a
//! transaction-scoped advisory lock (per client, per provider), so two
//! processes cannot both pass a check that only one of them fits; changes
//! that make a job claimable send `NOTIFY gaia_jobs` in their transaction,
//! which [`JobStore::queue_wakeups`](gaia_core::JobStore::queue_wakeups)
//! turns into wake-ups of idle workers in every process.

mod assets;
mod baseline;
mod blobs;
mod budget;
mod costs;
mod jobs;
mod ledger;
mod notify;
mod rows;
mod stats;
mod usage;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gaia_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder, Transaction};

pub use blobs::PostgresBlobStore;

/// The embedded migrations of `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per store (per process), the wake-up listener's included:
/// enough for every worker slot to claim, heartbeat and write at once, and
/// for a few processes to stay under the server's default limit of 100.
/// The URL's `max_connections` parameter sets another.
const MAX_CONNECTIONS: u32 = 16;

/// The fewest connections that work: the wake-up listener holds one.
const MIN_CONNECTIONS: u32 = 2;

/// How long a call waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Jobs, assets, costs and budgets in one Postgres database (or schema).
///
/// Cheap to clone (the pool is shared). Every process that opens the same
/// database shares the queue: claims skip rows another transaction holds,
/// budget checks serialize per client, provider slots per provider.
///
/// The URL takes sqlx's parameters, among them `options[search_path]=…` to
/// keep Gaia's tables in their own schema, and Gaia's `max_connections`
/// (connections this process opens, 16 unless set).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// `postgres://host:port/database`, named in error messages (never the
    /// password).
    location: Arc<str>,
}

impl PostgresStore {
    /// Opens the database a `postgres://` (or `postgresql://`) URL names and
    /// runs the migrations (under a database-wide advisory lock, so several
    /// processes opening a new database at once apply them once).
    pub async fn open(url: &str) -> Result<Self> {
        let (url, max_connections) = take_max_connections(url)?;
        let options = connect_options(&url)?;
        let location: Arc<str> = describe(&options).into();
        // One direct connection first: it fails at once when the server is
        // unreachable (a pool would retry until its acquire timeout).
        let mut conn = options
            .connect()
            .await
            .map_err(|e| Error::storage(format!("cannot connect to {location}"), e))?;
        migrate(&mut conn, &location).await?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool, location })
    }

    /// Closes the pool, waiting for statements in flight; wake-up streams end.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The in-database blob store on this store's connections (`db:`).
    pub fn blob_store(&self) -> PostgresBlobStore {
        PostgresBlobStore::new(self.pool.clone(), Arc::clone(&self.location))
    }

    /// Starts a transaction (read committed).
    async fn begin(&self, action: &str) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(self.failed(action))
    }

    /// Commits a transaction.
    async fn commit(&self, tx: Transaction<'static, Postgres>, action: &str) -> Result<()> {
        tx.commit().await.map_err(self.failed(action))
    }

    /// Converts a database error into a storage error naming the action and
    /// the database.
    fn failed(&self, action: &str) -> impl FnOnce(sqlx::Error) -> Error + use<> {
        failed_in(&self.location, action)
    }
}

/// A storage error naming the action and the database.
fn failed_in(location: &str, action: &str) -> impl FnOnce(sqlx::Error) -> Error + use<> {
    let message = format!("cannot {action} in {location}");
    move |e| Error::storage(message, e)
}

/// Splits Gaia's own `max_connections` parameter off a URL (sqlx would
/// ignore it): the rest of the URL, and the limit (16 when absent).
fn take_max_connections(url: &str) -> Result<(String, u32)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), MAX_CONNECTIONS));
    };
    let mut limit = MAX_CONNECTIONS;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("max_connections=") {
            Some(value) => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= MIN_CONNECTIONS)
                    .ok_or_else(|| {
                        Error::invalid(
                            "database",
                            format!(
                                "max_connections={value:?} is not a whole number of at least \
                                 {MIN_CONNECTIONS} (the wake-up listener holds one)"
                            ),
                        )
                    })?;
            }
            None => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, limit))
}

/// Parses a Postgres URL. The URL itself is never echoed: it may hold a password.
fn connect_options(url: &str) -> Result<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::invalid(
            "database",
            "not a Postgres URL (expected postgres://USER@HOST:PORT/DATABASE)",
        ));
    }
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::invalid("database", format!("not a valid Postgres URL: {e}")))?;
    // Statements are traced by the engine's spans; logging each one costs
    // more than a claim.
    Ok(options.disable_statement_logging())
}

/// `postgres://host:port/database` for messages.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// Applies the migrations (`run_direct`: `run`'s `Acquire` bound makes the
/// future not `Send`); sqlx holds its advisory lock meanwhile.
async fn migrate(conn: &mut PgConnection, location: &str) -> Result<()> {
    MIGRATOR
        .run_direct(conn)
        .await
        .map_err(|e| Error::storage(format!("cannot migrate the database {location}"), e))
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
        query: &'q mut QueryBuilder<'a, Postgres>,
    ) -> &'q mut QueryBuilder<'a, Postgres> {
        query.push(if self.any { " AND " } else { " WHERE " });
        self.any = true;
        query
    }
}

/// Rows of a listing with their `seq` (the cursor).
fn sequenced<T>(rows: &[PgRow], convert: impl Fn(&PgRow) -> Result<T>) -> Result<Vec<(i64, T)>> {
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
        assert_send(&PostgresStore::open("postgres://localhost/gaia"));
    }

    #[test]
    fn urls_are_checked_without_echoing_them() {
        let error = connect_options("sqlite://x.db").err();
        assert!(
            matches!(error, Some(Error::InvalidRequest { ref field, .. }) if field == "database")
        );
        let options = connect_options("postgres://u:secret@db.local:6543/gaia")
            .unwrap_or_else(|e| panic!("{e}"));
        let described = describe(&options);
        assert_eq!(described, "postgres://db.local:6543/gaia");
        assert!(!described.contains("secret"));
        assert!(connect_options("postgresql://localhost/gaia").is_ok());
    }

    #[test]
    fn max_connections_is_taken_off_the_url() {
        let take = |url: &str| take_max_connections(url).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(take("postgres://h/db"), ("postgres://h/db".into(), 16));
        assert_eq!(
            take("postgres://h/db?max_connections=4"),
            ("postgres://h/db".into(), 4)
        );
        assert_eq!(
            take("postgres://h/db?sslmode=disable&max_connections=40&application_name=gaia"),
            (
                "postgres://h/db?sslmode=disable&application_name=gaia".into(),
                40
            )
        );
        for bad in ["1", "0", "-3", "many", ""] {
            let error = take_max_connections(&format!("postgres://h/db?max_connections={bad}"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains("max_connections"), "{bad:?}: {error}");
        }
    }
}
