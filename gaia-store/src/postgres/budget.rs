//! Budget checks: a reservation must fit under every budget of the job's
//! client and campaign, counted inside the transaction that makes it.
//!
//! Read committed alone would let two processes each count the other's
//! reservation as absent; the check therefore first takes a
//! transaction-scoped advisory lock of the client, so the checks of one
//! client run one at a time across every process, each seeing what the
//! previous one committed.

use gaia_core::{Budget, Error, Money, Result, Timestamp};
use sqlx::PgConnection;

use super::rows::budget_from_row;

/// The job asking for a reservation.
pub(super) struct Reserver<'a> {
    pub job_id: &'a str,
    pub client_id: &'a str,
    pub campaign_id: Option<&'a str>,
}

/// Serializes budget checks of `client_id` until the transaction ends.
pub(super) async fn lock_client_budgets(conn: &mut PgConnection, client_id: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('gaia.budget:' || $1))")
        .bind(client_id)
        .execute(conn)
        .await
        .map_err(|e| Error::storage(format!("cannot lock the budgets of {client_id}"), e))?;
    Ok(())
}

/// `Err(BudgetExceeded)` when `amount` on top of what was spent in each
/// budget's period and what other jobs hold does not fit under its limit.
/// The caller holds [`lock_client_budgets`].
pub(super) async fn check_budgets(
    conn: &mut PgConnection,
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
        let since = budget.period.start(now);
        let (spent, reserved) = spent_and_reserved(conn, &budget, since, job.job_id).await?;
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
async fn budgets_over(conn: &mut PgConnection, job: &Reserver<'_>) -> Result<Vec<Budget>> {
    let rows = sqlx::query(
        "SELECT client_id, campaign_id, period, limit_micros FROM budgets \
         WHERE client_id = $1 AND campaign_id IN ('', $2)",
    )
    .bind(job.client_id)
    .bind(job.campaign_id.unwrap_or(""))
    .fetch_all(conn)
    .await
    .map_err(|e| Error::storage(format!("cannot read the budgets of {}", job.client_id), e))?;
    rows.iter().map(budget_from_row).collect()
}

/// The ledger spending the budget covers since `since`, and what its other
/// running attempts hold. One statement, so both sums come from one
/// snapshot: with two, a job completing between them (its reservation
/// turning into a ledger line) would be counted in neither.
async fn spent_and_reserved(
    conn: &mut PgConnection,
    budget: &Budget,
    since: Timestamp,
    job_id: &str,
) -> Result<(i64, i64)> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT \
           (SELECT COALESCE(SUM(cost_micros), 0) FROM cost_ledger \
            WHERE client_id = $1 AND at >= $2 AND ($3::TEXT IS NULL OR campaign_id = $3))::BIGINT, \
           (SELECT COALESCE(SUM(reserved_micros), 0) FROM jobs \
            WHERE client_id = $1 AND reserved_micros > 0 AND id <> $4 \
            AND ($3::TEXT IS NULL OR campaign_id = $3))::BIGINT",
    )
    .bind(budget.client_id.as_str())
    .bind(since.millis())
    .bind(budget.campaign_id.as_deref())
    .bind(job_id)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        Error::storage(
            format!("cannot sum the spending of {}", budget.client_id),
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
