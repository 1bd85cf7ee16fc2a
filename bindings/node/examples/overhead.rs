//! The Rust side of `benches/overhead.mjs`: 10,000 sequential
//! `engine.asset(id)` calls on one asset, in microseconds per call.
//!
//! `cargo run -p gaia-node --example overhead`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use gaia::OpenEngine;
use gaia::prelude::*;

const CALLS: u32 = 10_000;

#[tokio::main]
async fn main() -> gaia::Result<()> {
    let dir = std::env::temp_dir().join(format!("gaia-bench-{}", JobId::new()));
    let engine = Engine::open(EngineConfig::at(dir.join("gaia"))).await?;
    let client = ClientId::new("bench")?;
    let request = Request::new(client, ImageSpec::new("bench").size(8, 8));
    let asset = engine.generate(request).await?;
    for _ in 0..500 {
        engine.asset(asset.id).await?;
    }
    let start = Instant::now();
    for _ in 0..CALLS {
        engine.asset(asset.id).await?;
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS);
    println!("rust: engine.asset(id): {micros:.1} µs/call over {CALLS} calls");
    engine.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
