//! The raw queue cycle that `benches/postgres` compares the engine against.

use std::time::{Duration, Instant};

use gaia_core::{Error, Result};
use sqlx::PgPool;

use super::PostgresStore;

impl PostgresStore {
    /// Runs `cycles` bare queue cycles split over `concurrency` tasks, through
    /// this store's pool and server — insert a row, claim it with
    /// `UPDATE … WHERE seq = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`,
    /// mark it done, each its own transaction — on a scratch table, and
    /// returns the cycles run and the time taken. The baseline of the
    /// Postgres benchmark.
    #[doc(hidden)]
    pub async fn raw_claim_cycle_benchmark(
        &self,
        cycles: usize,
        concurrency: usize,
    ) -> Result<(usize, Duration)> {
        let failed = |e: sqlx::Error| Error::storage("raw cycle benchmark", e);
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_queue (seq BIGSERIAL PRIMARY KEY, \
             status TEXT NOT NULL, priority INTEGER NOT NULL, payload JSONB NOT NULL, worker TEXT)",
        )
        .execute(&self.pool)
        .await
        .map_err(failed)?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS bench_queue_claim ON bench_queue (priority DESC, seq) \
             WHERE status = 'queued'",
        )
        .execute(&self.pool)
        .await
        .map_err(failed)?;
        let concurrency = concurrency.max(1);
        let per_task = cycles / concurrency;
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|task| tokio::spawn(raw_cycles(self.pool.clone(), task, per_task)))
            .collect();
        for task in tasks {
            task.await
                .map_err(|e| Error::Internal(format!("benchmark task: {e}")))?
                .map_err(failed)?;
        }
        Ok((per_task * concurrency, start.elapsed()))
    }
}

/// One task's share of the raw cycles.
async fn raw_cycles(pool: PgPool, task: usize, cycles: usize) -> Result<(), sqlx::Error> {
    let worker = format!("w{task}");
    for i in 0..cycles {
        sqlx::query(
            "INSERT INTO bench_queue (status, priority, payload) VALUES ('queued', 0, $1::JSONB)",
        )
        .bind(format!("{{\"n\":{i}}}"))
        .execute(&pool)
        .await?;
        let claimed: Option<i64> = sqlx::query_scalar(
            "UPDATE bench_queue SET status = 'running', worker = $1 WHERE seq = \
             (SELECT seq FROM bench_queue WHERE status = 'queued' \
             ORDER BY priority DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING seq",
        )
        .bind(&worker)
        .fetch_optional(&pool)
        .await?;
        if let Some(seq) = claimed {
            sqlx::query("UPDATE bench_queue SET status = 'done' WHERE seq = $1")
                .bind(seq)
                .execute(&pool)
                .await?;
        }
    }
    Ok(())
}
