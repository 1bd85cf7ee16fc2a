//! Job statistics, computed by SQL aggregates (no job row reaches Rust).

use gaia_core::{ClientId, JobStats, JobStatus, ProviderStats, Result, StatusCount};
use rusqlite::Row;

use super::rows::get;
use super::{SqliteStore, all_rows};

const COUNT_ALL: &str = "SELECT status, COUNT(*) AS jobs FROM jobs GROUP BY status";
const COUNT_CLIENT: &str =
    "SELECT status, COUNT(*) AS jobs FROM jobs WHERE client_id = ? GROUP BY status";

/// Per provider over its succeeded and failed jobs: counts, failure rate, and
/// the nearest-rank 50th and 95th percentiles of succeeded run times (rank
/// `ceil(p × n)`, written `(p × n + 99) / 100` in integer arithmetic).
const PROVIDER_STATS: &str = "\
WITH finished AS (
    SELECT provider, status, finished_at - started_at AS duration_ms
    FROM jobs
    WHERE status IN ('succeeded', 'failed') AND provider IS NOT NULL
      AND (?1 IS NULL OR client_id = ?1)
),
counts AS (
    SELECT provider, COUNT(*) AS finished, SUM(status = 'failed') AS failed
    FROM finished
    GROUP BY provider
),
ranked AS (
    SELECT provider, duration_ms,
           ROW_NUMBER() OVER (PARTITION BY provider ORDER BY duration_ms) AS position,
           COUNT(*) OVER (PARTITION BY provider) AS total
    FROM finished
    WHERE status = 'succeeded' AND duration_ms IS NOT NULL
),
percentiles AS (
    SELECT provider,
           MAX(CASE WHEN position = (50 * total + 99) / 100 THEN duration_ms END) AS p50_ms,
           MAX(CASE WHEN position = (95 * total + 99) / 100 THEN duration_ms END) AS p95_ms
    FROM ranked
    GROUP BY provider
)
SELECT counts.provider, counts.finished, counts.failed,
       CAST(counts.failed AS REAL) / counts.finished AS failure_rate,
       percentiles.p50_ms, percentiles.p95_ms
FROM counts LEFT JOIN percentiles ON percentiles.provider = counts.provider
ORDER BY counts.provider";

impl SqliteStore {
    /// Counts by status (every status, 0 when none) and provider health.
    pub(super) async fn compute_job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        Ok(JobStats {
            by_status: self.count_by_status(client_id).await?,
            by_provider: self.provider_stats(client_id).await?,
        })
    }

    async fn count_by_status(&self, client_id: Option<&ClientId>) -> Result<Vec<StatusCount>> {
        let client = client_id.map(ClientId::to_string);
        let rows = self
            .read("count jobs by status", move |connection| {
                let status_count = |row: &Row<'_>| Ok((get(row, "status")?, get(row, "jobs")?));
                match client {
                    Some(client) => all_rows(connection, COUNT_CLIENT, [client], status_count),
                    None => all_rows(connection, COUNT_ALL, [], status_count),
                }
            })
            .await?;
        let mut counts: Vec<StatusCount> = JobStatus::ALL
            .into_iter()
            .map(|status| StatusCount { status, count: 0 })
            .collect();
        for (status, jobs) in rows {
            let (status, jobs): (String, i64) = (status, jobs);
            if let Some(slot) = counts.iter_mut().find(|c| c.status.as_str() == status) {
                slot.count = u64::try_from(jobs).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    async fn provider_stats(&self, client_id: Option<&ClientId>) -> Result<Vec<ProviderStats>> {
        let client = client_id.map(ClientId::to_string);
        self.read("compute provider statistics", move |connection| {
            all_rows(
                connection,
                PROVIDER_STATS,
                [client],
                provider_stats_from_row,
            )
        })
        .await
    }
}

fn provider_stats_from_row(row: &Row<'_>) -> Result<ProviderStats> {
    let non_negative = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(ProviderStats {
        provider: get(row, "provider")?,
        finished: non_negative(get(row, "finished")?),
        failed: non_negative(get(row, "failed")?),
        failure_rate: get(row, "failure_rate")?,
        p50_ms: get::<Option<i64>>(row, "p50_ms")?.map(non_negative),
        p95_ms: get::<Option<i64>>(row, "p95_ms")?.map(non_negative),
    })
}
