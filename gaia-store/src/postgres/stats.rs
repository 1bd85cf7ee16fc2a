//! Job statistics, computed by SQL aggregates (no job row reaches Rust).

use gaia_core::{ClientId, JobStats, JobStatus, ProviderStats, Result, StatusCount};
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::rows::{get, int8};

const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) AS jobs FROM jobs \
     WHERE ($1::TEXT IS NULL OR client_id = $1) GROUP BY status";

/// Per provider over its succeeded and failed jobs: counts, failure rate, and
/// the nearest-rank 50th and 95th percentiles of succeeded run times
/// (`percentile_disc`: the first value whose cumulative share reaches p, the
/// same rank `ceil(p × n)` the SQLite store computes; `percentile_cont` would
/// interpolate between two runs and report a time no job took).
const PROVIDER_STATS: &str = "\
SELECT provider,
       COUNT(*) AS finished,
       COUNT(*) FILTER (WHERE status = 'failed') AS failed,
       (COUNT(*) FILTER (WHERE status = 'failed'))::FLOAT8 / COUNT(*) AS failure_rate,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY finished_at - started_at)
           FILTER (WHERE status = 'succeeded') AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY finished_at - started_at)
           FILTER (WHERE status = 'succeeded') AS p95_ms
FROM jobs
WHERE status IN ('succeeded', 'failed') AND provider IS NOT NULL
  AND ($1::TEXT IS NULL OR client_id = $1)
GROUP BY provider
ORDER BY provider";

impl PostgresStore {
    /// Counts by status (every status, 0 when none) and provider health.
    pub(super) async fn compute_job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        Ok(JobStats {
            by_status: self.count_by_status(client_id).await?,
            by_provider: self.provider_stats(client_id).await?,
        })
    }

    async fn count_by_status(&self, client_id: Option<&ClientId>) -> Result<Vec<StatusCount>> {
        let rows = sqlx::query(COUNT_BY_STATUS)
            .bind(client_id.map(ClientId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("count jobs by status"))?;
        let mut counts: Vec<StatusCount> = JobStatus::ALL
            .into_iter()
            .map(|status| StatusCount { status, count: 0 })
            .collect();
        for row in &rows {
            let status: String = get(row, "status")?;
            if let Some(slot) = counts.iter_mut().find(|c| c.status.as_str() == status) {
                slot.count = int8(row, "jobs")?;
            }
        }
        Ok(counts)
    }

    async fn provider_stats(&self, client_id: Option<&ClientId>) -> Result<Vec<ProviderStats>> {
        let rows = sqlx::query(PROVIDER_STATS)
            .bind(client_id.map(ClientId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("compute provider statistics"))?;
        rows.iter().map(provider_stats_from_row).collect()
    }
}

fn provider_stats_from_row(row: &PgRow) -> Result<ProviderStats> {
    let non_negative = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(ProviderStats {
        provider: get(row, "provider")?,
        finished: int8(row, "finished")?,
        failed: int8(row, "failed")?,
        failure_rate: get(row, "failure_rate")?,
        p50_ms: get::<Option<i64>>(row, "p50_ms")?.map(non_negative),
        p95_ms: get::<Option<i64>>(row, "p95_ms")?.map(non_negative),
    })
}
