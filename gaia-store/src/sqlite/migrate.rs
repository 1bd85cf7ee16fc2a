//! The migrations of `migrations/sqlite`, embedded by `sqlx::migrate!` and
//! applied on the writer connection. The history is kept in sqlx's own
//! `_sqlx_migrations` table and format (as the Postgres store's is), so a
//! database made by any version of Gaia opens with the same record.

use std::collections::HashMap;
use std::time::Instant;

use gaia_core::{Error, Result};
use rusqlite::{Connection, TransactionBehavior, params};

/// The embedded migrations of `migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Applies the migrations the database lacks, all in one `BEGIN IMMEDIATE`
/// transaction, so that two processes opening a new database at once apply
/// them once: the second waits for the lock, then finds them applied.
pub(super) fn run(connection: &mut Connection, location: &str) -> Result<()> {
    let failed =
        |e: rusqlite::Error| Error::storage(format!("cannot migrate the database {location}"), e);
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    tx.execute_batch(HISTORY_TABLE).map_err(failed)?;
    let applied = applied(&tx).map_err(failed)?;
    check_known(&applied, location)?;
    for migration in MIGRATOR.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        match applied.get(&migration.version) {
            Some(checksum) if checksum.as_slice() == &*migration.checksum => {}
            Some(_) => {
                return Err(Error::Internal(format!(
                    "the database {location} applied migration {} ({}) with a different \
                     text than this version of Gaia holds",
                    migration.version, migration.description
                )));
            }
            None => {
                let started = Instant::now();
                tx.execute_batch(&migration.sql).map_err(failed)?;
                let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO _sqlx_migrations \
                     (version, description, success, checksum, execution_time) \
                     VALUES (?, ?, TRUE, ?, ?)",
                    params![
                        migration.version,
                        &*migration.description,
                        &*migration.checksum,
                        nanos
                    ],
                )
                .map_err(failed)?;
            }
        }
    }
    tx.commit().map_err(failed)
}

/// The applied migrations' versions and checksums.
fn applied(connection: &Connection) -> rusqlite::Result<HashMap<i64, Vec<u8>>> {
    let mut statement = connection
        .prepare("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// A migration this version does not know was applied by a newer Gaia, whose
/// schema this version may misread.
fn check_known(applied: &HashMap<i64, Vec<u8>>, location: &str) -> Result<()> {
    let newest_known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    match applied.keys().copied().filter(|v| *v > newest_known).min() {
        Some(version) => Err(Error::Internal(format!(
            "the database {location} was migrated by a newer version of Gaia \
             (migration {version}); open it with that version"
        ))),
        None => Ok(()),
    }
}
