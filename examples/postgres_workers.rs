//! Many workers on one Postgres database: start `work` in as many terminals
//! (or machines) as you like, then `submit` from a host that runs no worker
//! of its own. Blobs live in the database (`db:`) unless `GAIA_BLOBS_URL`
//! names a bucket (`s3://…`) or a shared folder (`file://…`).
//!
//! ```text
//! export GAIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo run --example postgres_workers -- work 4      # 4 slots; Ctrl-C stops
//! cargo run --example postgres_workers -- submit 100  # queue 100 textures, wait
//! ```
#![allow(clippy::print_stdout)]

use gaia::prelude::*;

const DEFAULT_DATABASE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Every process of the example shares the database and the blob store.
fn config(workers: usize) -> EngineConfig {
    EngineConfig {
        database: Some(std::env::var("GAIA_DATABASE_URL").unwrap_or(DEFAULT_DATABASE.to_owned())),
        blobs: Some(std::env::var("GAIA_BLOBS_URL").unwrap_or("db:".to_owned())),
        workers,
        ..EngineConfig::at(".gaia")
    }
}

#[tokio::main]
async fn main() -> gaia::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "submit".to_owned());
    let number: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    match command.as_str() {
        "work" => work(number).await,
        "submit" => submit(number).await,
        other => Err(gaia::Error::invalid(
            "command",
            format!("{other:?} is neither `work` nor `submit`"),
        )),
    }
}

/// Runs `slots` worker slots until Ctrl-C; running jobs then finish (or are
/// released for the other workers when the grace period ends).
async fn work(slots: usize) -> gaia::Result<()> {
    let engine = Engine::open(config(slots)).await?;
    println!("working with {slots} slots; Ctrl-C stops");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| gaia::Error::Internal(format!("cannot wait for Ctrl-C: {e}")))?;
    engine.close().await
}

/// Queues `count` textures in one transaction and waits for the workers.
async fn submit(count: usize) -> gaia::Result<()> {
    // Submit only: `workers: 0` runs no job here.
    let engine = Engine::open(config(0)).await?;
    let client = ClientId::new("example")?;
    let requests = (0..count)
        .map(|n| {
            let seed = u32::try_from(n).unwrap_or(u32::MAX);
            Request::new(
                client.clone(),
                ImageSpec::new("lava rock").size(64, 64).seed(seed),
            )
        })
        .collect();
    let jobs = engine.submit_batch(requests).await?;
    println!("queued {} jobs; waiting for the workers", jobs.len());
    for job in jobs {
        let done = engine.wait(job.id).await?;
        println!(
            "{} {:?} after {} attempt(s)",
            done.id, done.status, done.attempts
        );
    }
    engine.close().await
}
