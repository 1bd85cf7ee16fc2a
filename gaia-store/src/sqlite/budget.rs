//! Budget checks: a reservation must fit under every budget of the job's
//! client and campaign, counted inside the write transaction that makes it,
//! so concurrent attempts cannot overspend together.

use gaia_core::{Budget, Error, Money, Result, Timestamp};
use sqlx::SqliteConnection;

use super::rows::budget_from_row;

/// The job asking for a reservation.
pub(super) struct Reserver<'a> {
    pub job_id: &'a str,
    pub client_id: &'a str,
    pub campaign_id: Option<&'a str>,
}

/// `Err(BudgetExceeded)` when `amount` on top of what was spent in each
/// budget's period and what other jobs hold does not fit under its limit.
pub(super) async fn check_budgets(
    conn: &mut SqliteConnection,
    job: &Reserver<'_>,
    amount: Money,
    now: Timestamp,
) -> Result<()> {
    // Reserving nothing (free and derived work) cannot overspend, even when
    // the client is already at its limit.
    if amount.micros() <= 0 {
        return Ok(());
    }
    for budget in budgets_over(conn, job).await? {
        let spent = spent_since(conn, &budget, budget.period.start(now)).await?;
        let reserved = reserved_by_others(conn, &budget, job.job_id).await?;
        let total = spent
            .saturating_add(reserved)
            .saturating_add(amount.micros());
        if total > budget.limit_micros.micros() {
            return Err(exceeded(&budget, spent, reserved, amount));
        }
    }
    Ok(())
}

/// The client's budget and its campaign's (campaign `''` is the whole client).
async fn budgets_over(conn: &mut SqliteConnection, job: &Reserver<'_>) -> Result<Vec<Budget>> {
    let rows = sqlx::query(
        "SELECT client_id, campaign_id, period, limit_micros FROM budgets \
         WHERE client_id = ? AND campaign_id IN ('', ?)",
    )
    .bind(job.client_id)
    .bind(job.campaign_id.unwrap_or(""))
    .fetch_all(conn)
    .await
    .map_err(|e| Error::storage(format!("cannot read the budgets of {}", job.client_id), e))?;
    rows.iter().map(budget_from_row).collect()
}

/// Ledger spending the budget covers since `since`.
async fn spent_since(
    conn: &mut SqliteConnection,
    budget: &Budget,
    since: Timestamp,
) -> Result<i64> {
    let query = match &budget.campaign_id {
        None => sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_ledger \
             WHERE client_id = ? AND at >= ?",
        )
        .bind(budget.client_id.as_str())
        .bind(since.millis()),
        Some(campaign) => sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_ledger \
             WHERE client_id = ? AND at >= ? AND campaign_id = ?",
        )
        .bind(budget.client_id.as_str())
        .bind(since.millis())
        .bind(campaign.as_str()),
    };
    query.fetch_one(conn).await.map_err(|e| {
        Error::storage(
            format!("cannot sum the spending of {}", budget.client_id),
            e,
        )
    })
}

/// What the budget's other running attempts hold.
async fn reserved_by_others(
    conn: &mut SqliteConnection,
    budget: &Budget,
    job_id: &str,
) -> Result<i64> {
    let query = match &budget.campaign_id {
        None => sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(reserved_micros), 0) FROM jobs \
             WHERE client_id = ? AND reserved_micros > 0 AND id <> ?",
        )
        .bind(budget.client_id.as_str())
        .bind(job_id),
        Some(campaign) => sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(reserved_micros), 0) FROM jobs \
             WHERE client_id = ? AND reserved_micros > 0 AND id <> ? AND campaign_id = ?",
        )
        .bind(budget.client_id.as_str())
        .bind(job_id)
        .bind(campaign.as_str()),
    };
    query.fetch_one(conn).await.map_err(|e| {
        Error::storage(
            format!("cannot sum the reservations of {}", budget.client_id),
            e,
        )
    })
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
