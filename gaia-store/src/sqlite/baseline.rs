//! The raw queue cycle that `benches/pipeline` compares the engine against.

use std::time::{Duration, Instant};

use gaia_core::Result;
use rusqlite::params;

use super::{SqliteStore, scalar};

impl SqliteStore {
    /// Runs `cycles` bare queue cycles through this store's writer
    /// connection and disk — insert a row, claim it with `UPDATE …
    /// RETURNING`, mark it done, each its own `BEGIN IMMEDIATE` transaction
    /// and its own call, run the quickest way the store knows (in place on
    /// the caller's thread, as the engine's own short writes) — on a scratch
    /// table, and returns the time taken.
    /// The baseline of the pipeline benchmark.
    #[doc(hidden)]
    pub async fn raw_claim_cycle_benchmark(&self, cycles: usize) -> Result<(usize, Duration)> {
        self.write("create the benchmark queue", |connection| {
            connection.execute_batch(
                "CREATE TABLE IF NOT EXISTS bench_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                 status TEXT NOT NULL, priority INTEGER NOT NULL, payload TEXT NOT NULL, \
                 worker TEXT); \
                 CREATE INDEX IF NOT EXISTS bench_queue_claim ON bench_queue (priority DESC, seq) \
                 WHERE status = 'queued';",
            )?;
            Ok(())
        })
        .await?;
        let start = Instant::now();
        for i in 0..cycles {
            self.write_now("bench insert", move |connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO bench_queue (status, priority, payload) \
                         VALUES ('queued', 0, ?)",
                    )?
                    .execute([format!("{{\"n\":{i}}}")])?;
                Ok(())
            })
            .await?;
            let seq: i64 = self
                .write_now("bench claim", |connection| {
                    scalar(
                        connection,
                        "UPDATE bench_queue SET status = 'running', worker = 'w' WHERE seq = \
                         (SELECT seq FROM bench_queue WHERE status = 'queued' \
                         ORDER BY priority DESC, seq LIMIT 1) RETURNING seq",
                        [],
                    )
                })
                .await?;
            self.write_now("bench done", move |connection| {
                connection
                    .prepare_cached("UPDATE bench_queue SET status = 'done' WHERE seq = ?")?
                    .execute(params![seq])?;
                Ok(())
            })
            .await?;
        }
        Ok((cycles, start.elapsed()))
    }
}
