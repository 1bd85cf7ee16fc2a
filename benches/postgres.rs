//! Queue throughput on Postgres, printed as figures (run on demand):
//!
//! `cargo bench --bench postgres` (the server is `GAIA_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; `GAIA_BENCH_JOBS`
//! scales the runs). Each run works in a fresh schema, dropped afterwards.
//!
//! - end-to-end jobs per second with 1, 2 and 4 worker slots, a provider
//!   that returns a fixed tiny PNG, blobs in the database (`db:`);
//! - the raw `SKIP LOCKED` cycle on the same server with as many concurrent
//!   tasks (insert a row; claim it with `UPDATE … WHERE seq = (SELECT … FOR
//!   UPDATE SKIP LOCKED) RETURNING`; mark it done; each its own
//!   transaction), and the ratio of the two.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use gaia::prelude::*;
use gaia::store::PostgresStore;
use gaia::store::testing::ScratchSchema;
use gaia::{Call, GenerateContext, Generation, ModelInfo, PriceRule, Provider};

/// Returns the same tiny PNG every time.
struct FixedPng {
    png: Vec<u8>,
    models: Vec<ModelInfo>,
}

impl FixedPng {
    fn new() -> Arc<Self> {
        let img = image::RgbImage::from_fn(4, 4, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let models = vec![ModelInfo::new(
            "fixed",
            AssetKind::Image,
            PriceRule::Free,
            "a fixed tiny PNG",
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

fn request(i: usize) -> Request {
    Request::new(
        ClientId::new("bench").unwrap(),
        ImageSpec::new(format!("tile {i}")).size(4, 4),
    )
}

/// Jobs per second, submit to last success, with `workers` slots on a
/// fresh schema (one warm-up generation first).
async fn end_to_end_rate(workers: usize, count: usize) -> f64 {
    let schema = ScratchSchema::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = PostgresStore::open(&schema.url()).await.unwrap();
    let engine = Engine::builder()
        .store(Arc::new(store.clone()))
        .blobs(Arc::new(store.blob_store()))
        .provider(FixedPng::new())
        .workers(workers)
        .staging_dir(dir.path().join("staging"))
        .build()
        .await
        .unwrap();
    engine.generate(request(0)).await.unwrap();
    let start = Instant::now();
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let jobs = engine
            .submit_batch(chunk.iter().map(|i| request(*i)).collect())
            .await
            .unwrap();
        ids.extend(jobs.into_iter().map(|j| j.id));
    }
    for id in ids {
        assert_eq!(engine.wait(id).await.unwrap().status, JobStatus::Succeeded);
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    engine.close().await.unwrap();
    store.close().await;
    rate
}

/// Raw cycles per second with `concurrency` tasks, on a fresh schema.
async fn raw_rate(concurrency: usize, count: usize) -> f64 {
    let schema = ScratchSchema::create().await.unwrap();
    let store = PostgresStore::open(&schema.url()).await.unwrap();
    let (cycles, elapsed) = store
        .raw_claim_cycle_benchmark(count, concurrency)
        .await
        .unwrap();
    store.close().await;
    cycles as f64 / elapsed.as_secs_f64()
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
        if ScratchSchema::create().await.is_none() {
            return;
        }
        println!(
            "Postgres at {}, {jobs} jobs per run",
            gaia::store::testing::postgres_url()
        );
        for workers in [1, 2, 4] {
            let raw = raw_rate(workers, jobs).await;
            let rate = end_to_end_rate(workers, jobs).await;
            println!(
                "{workers} worker(s): raw SKIP LOCKED cycle {raw:>7.0} cycles/s, \
                 end-to-end {rate:>6.0} jobs/s ({:.0}% of raw)",
                rate / raw * 100.0
            );
        }
    });
}
