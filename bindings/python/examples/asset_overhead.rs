//! The Rust side of the binding's per-call overhead figure: `engine.asset(id)`
//! called from Rust, in microseconds per call. `benches/overhead.py` times the
//! same call from Python; the difference is the binding's cost.
//!
//! `cargo run --release -p gaia-python --example asset_overhead [calls]`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use gaia::prelude::*;

#[tokio::main]
async fn main() -> gaia::Result<()> {
    let calls: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("gaia-overhead-{}", std::process::id()));
    let engine = Engine::open(EngineConfig::at(&dir)).await?;
    let client = ClientId::new("bench")?;
    let request = Request::new(client, ImageSpec::new("bench").size(64, 64).seed(1));
    let asset = engine.generate(request).await?;
    for _ in 0..1_000 {
        engine.asset(asset.id).await?;
    }
    let started = Instant::now();
    for _ in 0..calls {
        engine.asset(asset.id).await?;
    }
    let per_call = started.elapsed().as_secs_f64() * 1e6 / f64::from(calls);
    println!("rust   engine.asset(id): {per_call:.1} us/call over {calls} calls");
    engine.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
