//! Writing the cost ledger, inside the transaction that settles a job.

use gaia_core::{CostEntry, Error, Result};
use sqlx::PgConnection;

/// Appends one ledger line.
pub(super) async fn insert_cost(conn: &mut PgConnection, entry: &CostEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO cost_ledger \
         (client_id, campaign_id, job_id, provider, model, cost_micros, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.client_id.as_str())
    .bind(entry.campaign_id.as_deref())
    .bind(entry.job_id.to_string())
    .bind(&entry.provider)
    .bind(&entry.model)
    .bind(entry.cost_micros.micros())
    .bind(entry.at.millis())
    .execute(conn)
    .await
    .map_err(|e| Error::storage(format!("cannot record the cost of job {}", entry.job_id), e))?;
    Ok(())
}

/// Records the charge when there is one.
pub(super) async fn insert_optional_cost(
    conn: &mut PgConnection,
    cost: Option<&CostEntry>,
) -> Result<()> {
    match cost {
        Some(entry) => insert_cost(conn, entry).await,
        None => Ok(()),
    }
}

/// What a charge adds to a job's `cost_micros`.
pub(super) fn charged(cost: Option<&CostEntry>) -> i64 {
    cost.map_or(0, |entry| entry.cost_micros.micros())
}
