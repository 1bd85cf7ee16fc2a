//! The raw queue cycle that `benches/pipeline` compares the engine against.

use std::time::{Duration, Instant};

use gaia_core::{Error, Result};

use super::SqliteStore;

impl SqliteStore {
    /// Runs `cycles` bare queue cycles through this store's writer pool and
    /// disk — insert a row, claim it with `UPDATE … RETURNING`, mark it done,
    /// each its own `BEGIN IMMEDIATE` transaction — on a scratch table, and
    /// returns the time taken. The baseline of the pipeline benchmark.
    #[doc(hidden)]
    pub async fn raw_claim_cycle_benchmark(&self, cycles: usize) -> Result<(usize, Duration)> {
        let failed = |e: sqlx::Error| Error::storage("raw cycle benchmark", e);
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
             status TEXT NOT NULL, priority INTEGER NOT NULL, payload TEXT NOT NULL, worker TEXT)",
        )
        .execute(&self.writer)
        .await
        .map_err(failed)?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS bench_queue_claim ON bench_queue (priority DESC, seq) \
             WHERE status = 'queued'",
        )
        .execute(&self.writer)
        .await
        .map_err(failed)?;
        let start = Instant::now();
        for i in 0..cycles {
            let mut tx = self.begin_write("bench insert").await?;
            sqlx::query(
                "INSERT INTO bench_queue (status, priority, payload) VALUES ('queued', 0, ?)",
            )
            .bind(format!("{{\"n\":{i}}}"))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
            self.commit(tx, "bench insert").await?;
            let mut tx = self.begin_write("bench claim").await?;
            let (seq,): (i64,) = sqlx::query_as(
                "UPDATE bench_queue SET status = 'running', worker = 'w' WHERE seq = \
                 (SELECT seq FROM bench_queue WHERE status = 'queued' ORDER BY priority DESC, seq LIMIT 1) \
                 RETURNING seq",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(failed)?;
            self.commit(tx, "bench claim").await?;
            let mut tx = self.begin_write("bench done").await?;
            sqlx::query("UPDATE bench_queue SET status = 'done' WHERE seq = ?")
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            self.commit(tx, "bench done").await?;
        }
        Ok((cycles, start.elapsed()))
    }
}
