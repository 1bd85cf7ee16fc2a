//! Budget checks: a reservation must fit under every budget of the job's
//! client and campaign, counted inside the write transaction that makes it,
//! so concurrent attempts cannot overspend together.

use gaia_core::{Budget, Error, Money, Timestamp};
use rusqlite::{Connection, params};

use super::rows::budget_from_row;
use super::{Sql, all_rows, scalar};

/// The job asking for a reservation.
pub(super) struct Reserver<'a> {
    pub job_id: &'a str,
    pub client_id: &'a str,
    pub campaign_id: Option<&'a str>,
}

/// `Err(BudgetExceeded)` when `amount` on top of what was spent in each
/// budget's period and what other jobs hold does not fit under its limit.
pub(super) fn check_budgets(
    connection: &Connection,
    job: &Reserver<'_>,
    amount: Money,
    now: Timestamp,
) -> Sql<()> {
    // Reserving nothing (free and derived work) cannot overspend, even when
    // the client is already at its limit.
    if amount.micros() <= 0 {
        return Ok(());
    }
    let budgets = all_rows(
        connection,
        "SELECT client_id, campaign_id, period, limit_micros FROM budgets \
         WHERE client_id = ? AND campaign_id IN ('', ?)",
        params![job.client_id, job.campaign_id.unwrap_or("")],
        budget_from_row,
    )?;
    for budget in budgets {
        let spent = spent_since(connection, &budget, budget.period.start(now))?;
        let reserved = reserved_by_others(connection, &budget, job.job_id)?;
        let total = spent
            .saturating_add(reserved)
            .saturating_add(amount.micros());
        if total > budget.limit_micros.micros() {
            return Err(exceeded(&budget, spent, reserved, amount).into());
        }
    }
    Ok(())
}

/// Ledger spending the budget covers since `since`.
fn spent_since(connection: &Connection, budget: &Budget, since: Timestamp) -> Sql<i64> {
    let client = budget.client_id.as_str();
    match &budget.campaign_id {
        None => scalar(
            connection,
            "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_ledger \
             WHERE client_id = ? AND at >= ?",
            params![client, since.millis()],
        ),
        Some(campaign) => scalar(
            connection,
            "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_ledger \
             WHERE client_id = ? AND at >= ? AND campaign_id = ?",
            params![client, since.millis(), campaign],
        ),
    }
}

/// Only a running job holds a reservation, and running jobs are few: the
/// sums seek `(client_id, 'running')` rather than any wider index.
pub(super) const RESERVED_BY_OTHERS: &str = "SELECT COALESCE(SUM(reserved_micros), 0) \
     FROM jobs INDEXED BY jobs_by_client_status \
     WHERE client_id = ?1 AND status = 'running' AND reserved_micros > 0 AND id <> ?2 \
     AND (?3 IS NULL OR campaign_id = ?3)";

/// What the budget's other running attempts hold.
fn reserved_by_others(connection: &Connection, budget: &Budget, job_id: &str) -> Sql<i64> {
    let params = params![budget.client_id.as_str(), job_id, budget.campaign_id];
    scalar(connection, RESERVED_BY_OTHERS, params)
}

fn exceeded(budget: &Budget, spent: i64, reserved: i64, amount: Money) -> Error {
    let scope = match &budget.campaign_id {
        Some(campaign) => format!("campaign {campaign} of client {}", budget.client_id),
        None => format!("client {}", budget.client_id),
    };
    Error::BudgetExceeded(format!(
        "the {} budget of {scope} is {}: {} spent and {} reserved leave no room for {amount}",
        budget.period.as_str(),
        budget.limit_micros,
        Money::from_micros(spent),
        Money::from_micros(reserved),
    ))
}
