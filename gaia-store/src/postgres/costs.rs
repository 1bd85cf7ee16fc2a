//! The cost ledger's reports and the budgets.

use async_trait::async_trait;
use gaia_core::{
    Budget, ClientId, CostGroup, CostQuery, CostReport, CostRow, CostStore, Money, Result,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use super::rows::{budget_campaign, budget_from_row, get, int8};
use super::{Conditions, PostgresStore};

#[async_trait]
impl CostStore for PostgresStore {
    async fn set_budget(&self, budget: &Budget) -> Result<()> {
        sqlx::query(
            "INSERT INTO budgets (client_id, campaign_id, period, limit_micros) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id, campaign_id, period) \
             DO UPDATE SET limit_micros = excluded.limit_micros",
        )
        .bind(budget.client_id.as_str())
        .bind(budget_campaign(budget.campaign_id.as_deref()))
        .bind(budget.period.as_str())
        .bind(budget.limit_micros.micros())
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("set a budget of {}", budget.client_id)))?;
        Ok(())
    }

    async fn budgets(&self, client_id: &ClientId) -> Result<Vec<Budget>> {
        let rows = sqlx::query(
            "SELECT client_id, campaign_id, period, limit_micros FROM budgets \
             WHERE client_id = $1 ORDER BY campaign_id, period",
        )
        .bind(client_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(self.failed(&format!("read the budgets of {client_id}")))?;
        rows.iter().map(budget_from_row).collect()
    }

    async fn costs(&self, query: &CostQuery) -> Result<CostReport> {
        let total = self.sum_ledger(query, None).await?;
        let (total_micros, entries) = match total.first() {
            Some(row) => (row.cost_micros, row.entries),
            None => (Money::ZERO, 0),
        };
        let groups = match group_key(query.group_by) {
            Some(key) => self.sum_ledger(query, Some(key)).await?,
            None => Vec::new(),
        };
        Ok(CostReport {
            total_micros,
            entries,
            saved_micros: self.sum_savings(query).await?,
            groups,
        })
    }
}

/// The SQL expression a report groups by (`at` is milliseconds, so the UTC
/// day is the date of `to_timestamp(at / 1000.0)` at UTC).
fn group_key(group: CostGroup) -> Option<&'static str> {
    match group {
        CostGroup::None => None,
        CostGroup::Client => Some("client_id"),
        CostGroup::Campaign => Some("campaign_id"),
        CostGroup::Provider => Some("provider"),
        CostGroup::Model => Some("provider || '/' || model"),
        CostGroup::Day => {
            Some("to_char(to_timestamp(at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
    }
}

impl PostgresStore {
    /// `SUM` and `COUNT` of the ledger lines the query matches, one row per
    /// group (largest first), or one row in all when `key` is `None`.
    async fn sum_ledger(&self, query: &CostQuery, key: Option<&str>) -> Result<Vec<CostRow>> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT ");
        sql.push(key.unwrap_or("NULL::TEXT"));
        sql.push(
            " AS key, COALESCE(SUM(cost_micros), 0)::BIGINT AS cost_micros, \
             COUNT(*) AS entries FROM cost_ledger",
        );
        let mut conditions = Conditions::new();
        if let Some(client_id) = &query.client_id {
            conditions
                .next(&mut sql)
                .push("client_id = ")
                .push_bind(client_id.as_str());
        }
        if let Some(campaign_id) = &query.campaign_id {
            conditions
                .next(&mut sql)
                .push("campaign_id = ")
                .push_bind(campaign_id.as_str());
        }
        if let Some(since) = query.since {
            conditions
                .next(&mut sql)
                .push("at >= ")
                .push_bind(since.millis());
        }
        if let Some(until) = query.until {
            conditions
                .next(&mut sql)
                .push("at < ")
                .push_bind(until.millis());
        }
        if key.is_some() {
            // By position: the key expression, then the sum.
            sql.push(" GROUP BY 1 ORDER BY 2 DESC, 1");
        }
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("sum the cost ledger"))?;
        rows.iter().map(cost_row).collect()
    }
}

fn cost_row(row: &PgRow) -> Result<CostRow> {
    Ok(CostRow {
        key: get(row, "key")?,
        cost_micros: Money::from_micros(get(row, "cost_micros")?),
        entries: int8(row, "entries")?,
    })
}
