//! Pipeline throughput and latency, printed as figures (run on demand):
//!
//! `cargo bench --bench pipeline` (GAIA_BENCH_JOBS scales the runs).
//!
//! - end-to-end generations per second with a provider that returns a fixed
//!   1 KiB PNG, SQLite + file blobs, 1 and 2 workers;
//! - the raw cycle through the same writer connection and disk (insert a row, claim
//!   it with `UPDATE … RETURNING`, mark it done, each its own transaction)
//!   as the baseline, and the ratio: three rounds side by side, and the
//!   median ratio;
//! - the same raw cycle through a sqlx SQLite pool on the same disk, the
//!   baseline as issue #3 words it ("through the same sqlx pool"), from the
//!   time the store was built on sqlx, and the ratio to it;
//! - the drain rate with 1,000 and with 20,000 jobs already queued;
//! - the rate of single submits from 32 concurrent callers;
//! - the latency of one `generate` on an idle engine, p50 and p99.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gaia::prelude::*;
use gaia::{Call, GenerateContext, Generation, ModelInfo, PriceRule, Provider};

/// Returns the same ~1 KiB PNG every time.
struct FixedPng {
    png: Vec<u8>,
    models: Vec<ModelInfo>,
}

impl FixedPng {
    fn new() -> Arc<Self> {
        // Noise does not compress: 18x18 RGB noise is about 1 KiB of PNG.
        let mut state = 0x2545_f491_u32;
        let img = image::RgbImage::from_fn(18, 18, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let models = vec![ModelInfo::new(
            "fixed",
            AssetKind::Image,
            PriceRule::Free,
            "a fixed 1 KiB PNG",
        )];
        Arc::new(Self {
            png: out.into_inner(),
            models,
        })
    }
}

#[async_trait]
impl Provider for FixedPng {
    fn name(&self) -> &str {
        "fixed"
    }
    fn models(&self) -> &[ModelInfo] {
        &self.models
    }
    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::ZERO)
    }
    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        let output = cx.stage_bytes(&self.png).await?;
        Ok(Generation {
            outputs: vec![output],
            cost: Some(Money::ZERO),
        })
    }
}

/// Rounds of the raw cycle beside the end-to-end runs.
const ROUNDS: usize = 3;

struct Bench {
    dir: tempfile::TempDir,
    store: Arc<gaia::store::SqliteStore>,
}

impl Bench {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gaia.db").display());
        let store = Arc::new(gaia::store::SqliteStore::open(&url).await.unwrap());
        Self { dir, store }
    }

    async fn engine(&self, workers: usize) -> Engine {
        let blobs = gaia::store::open_blob_store(&format!(
            "file://{}",
            self.dir.path().join("blobs").display()
        ))
        .await
        .unwrap();
        Engine::builder()
            .store(self.store.clone())
            .blobs(blobs)
            .provider(FixedPng::new())
            .workers(workers)
            .staging_dir(self.dir.path().join("staging"))
            .build()
            .await
            .unwrap()
    }
}

fn request(i: usize) -> Request {
    Request::new(
        ClientId::new("bench").unwrap(),
        ImageSpec::new(format!("tile {i}")).size(18, 18),
    )
}

async fn submit_all(engine: &Engine, count: usize) -> Vec<JobId> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let jobs = engine
            .submit_batch(chunk.iter().map(|i| request(*i)).collect())
            .await
            .unwrap();
        ids.extend(jobs.into_iter().map(|j| j.id));
    }
    ids
}

/// Generations per second, end to end, with `workers` slots.
async fn end_to_end_rate(workers: usize, count: usize) -> f64 {
    let bench = Bench::new().await;
    let engine = bench.engine(workers).await;
    let warm = engine.generate(request(0)).await.unwrap();
    assert_eq!(warm.size_bytes as usize, FixedPng::new().png.len());
    let start = Instant::now();
    let ids = submit_all(&engine, count).await;
    for id in ids {
        assert_eq!(engine.wait(id).await.unwrap().status, JobStatus::Succeeded);
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    engine.close().await.unwrap();
    rate
}

/// Jobs per second drained from a queue already holding `backlog` jobs.
async fn drain_rate(backlog: usize) -> f64 {
    let bench = Bench::new().await;
    let submitter = bench.engine(0).await;
    let ids = submit_all(&submitter, backlog).await;
    submitter.close().await.unwrap();
    let start = Instant::now();
    let engine = bench.engine(2).await;
    for id in ids {
        engine.wait(id).await.unwrap();
    }
    let rate = backlog as f64 / start.elapsed().as_secs_f64();
    engine.close().await.unwrap();
    rate
}

/// Requests per second submitted one by one by `callers` concurrent callers
/// (a backend serving many users), with no worker running them.
async fn concurrent_submit_rate(callers: usize, count: usize) -> f64 {
    let bench = Bench::new().await;
    let engine = bench.engine(0).await;
    let per_caller = count / callers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for i in 0..per_caller {
                    engine
                        .submit(request(caller * per_caller + i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = (per_caller * callers) as f64 / start.elapsed().as_secs_f64();
    engine.close().await.unwrap();
    rate
}

/// Raw queue cycles per second (the baseline), on a fresh database.
async fn raw_cycle_rate(cycles: usize) -> f64 {
    let bench = Bench::new().await;
    let (cycles, elapsed) = bench.store.raw_claim_cycle_benchmark(cycles).await.unwrap();
    cycles as f64 / elapsed.as_secs_f64()
}

/// Raw queue cycles per second through a sqlx SQLite pool, set up as the
/// store's writer pool was before it moved to rusqlite (one connection, WAL,
/// `synchronous=NORMAL`, `BEGIN IMMEDIATE`), on a fresh database on the
/// same disk. The store left sqlx because this path, two thread hand-offs
/// per statement, was its bottleneck (see CONTRIBUTING).
async fn sqlx_pool_cycle_rate(cycles: usize) -> f64 {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE bench_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
         status TEXT NOT NULL, priority INTEGER NOT NULL, payload TEXT NOT NULL, worker TEXT); \
         CREATE INDEX bench_queue_claim ON bench_queue (priority DESC, seq) \
         WHERE status = 'queued';",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = Instant::now();
    for i in 0..cycles {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO bench_queue (status, priority, payload) VALUES ('queued', 0, ?)")
            .bind(format!("{{\"n\":{i}}}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let (seq,): (i64,) = sqlx::query_as(
            "UPDATE bench_queue SET status = 'running', worker = 'w' WHERE seq = \
             (SELECT seq FROM bench_queue WHERE status = 'queued' \
             ORDER BY priority DESC, seq LIMIT 1) RETURNING seq",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("UPDATE bench_queue SET status = 'done' WHERE seq = ?")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let rate = cycles as f64 / start.elapsed().as_secs_f64();
    pool.close().await;
    rate
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn idle_latency(samples: usize) -> (Duration, Duration) {
    let bench = Bench::new().await;
    let engine = bench.engine(1).await;
    engine.generate(request(0)).await.unwrap();
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        engine.generate(request(i)).await.unwrap();
        times.push(start.elapsed());
        // Idle: let the heartbeat and writer tasks settle between calls.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    engine.close().await.unwrap();
    times.sort();
    (times[samples / 2], times[(samples * 99) / 100])
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let jobs: usize = std::env::var("GAIA_BENCH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    runtime.block_on(async {
        if std::env::var_os("GAIA_BENCH_LATENCY_ONLY").is_some() {
            // For profiling the idle path on its own.
            let (p50, p99) = idle_latency(jobs).await;
            println!("idle generate: p50 {:?}, p99 {:?}", p50, p99);
            return;
        }
        // Side by side, round after round: this machine's rates drift by a
        // third from one run to the next, so only a ratio of figures taken
        // together means anything.
        // Per worker count: the ratios to the in-place cycle, then to sqlx's.
        let mut ratios: [[Vec<f64>; 2]; 2] = Default::default();
        for round in 1..=ROUNDS {
            let raw = raw_cycle_rate(jobs).await;
            let pooled = sqlx_pool_cycle_rate(jobs).await;
            println!("round {round}:");
            println!("  raw SQLite cycle (insert, claim RETURNING, done):  {raw:>9.0} cycles/s");
            println!("  the same cycle through a sqlx SQLite pool:         {pooled:>9.0} cycles/s");
            for (workers, [to_raw, to_pooled]) in [1, 2].into_iter().zip(&mut ratios) {
                let rate = end_to_end_rate(workers, jobs).await;
                to_raw.push(rate / raw);
                to_pooled.push(rate / pooled);
                println!(
                    "  end-to-end generate, {workers} worker(s):             {rate:>9.0} jobs/s  \
                     ({:.0}% of raw, {:.0}% of sqlx)",
                    rate / raw * 100.0,
                    rate / pooled * 100.0
                );
            }
        }
        let [[one, one_pooled], [two, two_pooled]] = ratios.map(|r| r.map(median));
        println!(
            "end-to-end / raw, median of {ROUNDS} rounds:           1 worker {:.0}%, 2 workers {:.0}%",
            one * 100.0,
            two * 100.0
        );
        println!(
            "end-to-end / sqlx pool cycle, median of {ROUNDS} rounds: 1 worker {:.0}%, 2 workers {:.0}%",
            one_pooled * 100.0,
            two_pooled * 100.0
        );
        let small = drain_rate(1_000).await;
        let large = drain_rate(20_000).await;
        println!("drain rate, 1,000 queued:                         {small:>9.0} jobs/s");
        println!(
            "drain rate, 20,000 queued:                        {large:>9.0} jobs/s  ({:.0}% of the 1,000 rate)",
            large / small * 100.0
        );
        let submits = concurrent_submit_rate(32, jobs).await;
        println!("submit, one request per call, 32 callers:         {submits:>9.0} requests/s");
        let (p50, p99) = idle_latency(500).await;
        println!(
            "generate latency on an idle engine:               p50 {:.3} ms, p99 {:.3} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    });
}
