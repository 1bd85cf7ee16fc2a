//! Writing the cost ledger, inside the transaction that settles a job.

use gaia_core::CostEntry;
use rusqlite::{Connection, params};

use super::Sql;

/// Appends one ledger line.
pub(super) fn insert_cost(connection: &Connection, entry: &CostEntry) -> Sql<()> {
    connection
        .prepare_cached(
            "INSERT INTO cost_ledger \
             (client_id, campaign_id, job_id, provider, model, cost_micros, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            entry.client_id.as_str(),
            entry.campaign_id.as_deref(),
            entry.job_id.to_string(),
            &entry.provider,
            &entry.model,
            entry.cost_micros.micros(),
            entry.at.millis(),
        ])?;
    Ok(())
}

/// Records the charge when there is one.
pub(super) fn insert_optional_cost(connection: &Connection, cost: Option<&CostEntry>) -> Sql<()> {
    match cost {
        Some(entry) => insert_cost(connection, entry),
        None => Ok(()),
    }
}

/// What a charge adds to a job's `cost_micros`.
pub(super) fn charged(cost: Option<&CostEntry>) -> i64 {
    cost.map_or(0, |entry| entry.cost_micros.micros())
}
