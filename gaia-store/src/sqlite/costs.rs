//! The cost ledger's reports and the budgets.

use async_trait::async_trait;
use gaia_core::{
    Budget, ClientId, CostGroup, CostQuery, CostReport, CostRow, CostStore, Money, Result,
};
use rusqlite::{Row, params};

use super::rows::{budget_campaign, budget_from_row, get};
use super::{Query, SqliteStore, all_rows};

#[async_trait]
impl CostStore for SqliteStore {
    async fn set_budget(&self, budget: &Budget) -> Result<()> {
        let action = format!("set a budget of {}", budget.client_id);
        let budget = budget.clone();
        self.write(&action, move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO budgets (client_id, campaign_id, period, limit_micros) \
                     VALUES (?, ?, ?, ?) \
                     ON CONFLICT (client_id, campaign_id, period) \
                     DO UPDATE SET limit_micros = excluded.limit_micros",
                )?
                .execute(params![
                    budget.client_id.as_str(),
                    budget_campaign(budget.campaign_id.as_deref()),
                    budget.period.as_str(),
                    budget.limit_micros.micros(),
                ])?;
            Ok(())
        })
        .await
    }

    async fn budgets(&self, client_id: &ClientId) -> Result<Vec<Budget>> {
        let client = client_id.to_string();
        self.read(
            &format!("read the budgets of {client_id}"),
            move |connection| {
                all_rows(
                    connection,
                    "SELECT client_id, campaign_id, period, limit_micros FROM budgets \
                 WHERE client_id = ? ORDER BY campaign_id, period",
                    [client],
                    budget_from_row,
                )
            },
        )
        .await
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
/// day is `date(at / 1000, 'unixepoch')`).
fn group_key(group: CostGroup) -> Option<&'static str> {
    match group {
        CostGroup::None => None,
        CostGroup::Client => Some("client_id"),
        CostGroup::Campaign => Some("campaign_id"),
        CostGroup::Provider => Some("provider"),
        CostGroup::Model => Some("provider || '/' || model"),
        CostGroup::Day => Some("date(at / 1000, 'unixepoch')"),
    }
}

impl SqliteStore {
    /// `SUM` and `COUNT` of the ledger lines the query matches, one row per
    /// group (largest first), or one row in all when `key` is `None`.
    async fn sum_ledger(&self, query: &CostQuery, key: Option<&str>) -> Result<Vec<CostRow>> {
        let mut sql = Query::new(&format!(
            "SELECT {} AS key, COALESCE(SUM(cost_micros), 0) AS cost_micros, \
             COUNT(*) AS entries FROM cost_ledger",
            key.unwrap_or("NULL")
        ));
        if let Some(client_id) = &query.client_id {
            sql.filter("client_id = ?", client_id.to_string());
        }
        if let Some(campaign_id) = &query.campaign_id {
            sql.filter("campaign_id = ?", campaign_id.clone());
        }
        if let Some(since) = query.since {
            sql.filter("at >= ?", since.millis());
        }
        if let Some(until) = query.until {
            sql.filter("at < ?", until.millis());
        }
        if key.is_some() {
            sql.push(" GROUP BY key ORDER BY cost_micros DESC, key", []);
        }
        self.read("sum the cost ledger", move |connection| {
            all_rows(connection, &sql.sql, sql.params(), cost_row)
        })
        .await
    }
}

fn cost_row(row: &Row<'_>) -> Result<CostRow> {
    Ok(CostRow {
        key: get(row, "key")?,
        cost_micros: Money::from_micros(get(row, "cost_micros")?),
        entries: u64::try_from(get::<i64>(row, "entries")?).unwrap_or(0),
    })
}
