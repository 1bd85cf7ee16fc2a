//! `gaia worker` on Postgres with blobs in the database: it works the queue
//! a submit-only engine fills, and stops gracefully on SIGTERM and SIGINT —
//! its running jobs finish or are released, none is left `running` — and
//! exits 0. Skipped without a Postgres server (see `gaia_store::testing`).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gaia::prelude::*;
use gaia::store::testing::ScratchSchema;
use gaia::{AssetFilter, PageRequest};

/// Starts `gaia worker` on the schema with blobs in the database.
fn start_worker(schema: &ScratchSchema, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gaia"))
        .args([
            "worker",
            "--database",
            &schema.url(),
            "--blobs",
            "db:",
            "--workers",
            "2",
        ])
        .current_dir(dir)
        .env_remove("GAIA_DATABASE_URL")
        .env_remove("GAIA_BLOBS_URL")
        .env_remove("GAIA_PATH")
        .env_remove("GAIA_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `signal` (`TERM`, `INT`) and waits for the exit; the status must be 0.
fn stop(mut child: Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "gaia worker exited with {status} on SIG{signal}"
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gaia worker did not stop within 30 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Jobs per status.
async fn count(engine: &Engine, status: JobStatus) -> u64 {
    let stats = engine.job_stats(None).await.unwrap();
    stats
        .by_status
        .iter()
        .find(|c| c.status == status)
        .map_or(0, |c| c.count)
}

async fn wait_until(engine: &Engine, status: JobStatus, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(engine, status).await < at_least {
        assert!(
            Instant::now() < deadline,
            "fewer than {at_least} jobs {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaia_worker_works_postgres_and_stops_gracefully() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The host only submits: `workers: 0`.
    let host = Engine::open(EngineConfig {
        database: Some(schema.url()),
        blobs: Some("db:".to_owned()),
        workers: 0,
        ..EngineConfig::at(dir.path().join("host"))
    })
    .await
    .unwrap();
    let client = ClientId::new("cli-worker").unwrap();
    let requests: Vec<Request> = (0..120)
        .map(|n| {
            Request::new(
                client.clone(),
                ImageSpec::new("moss").size(128, 128).seed(n),
            )
        })
        .collect();
    host.submit_batch(requests).await.unwrap();

    let worker = start_worker(&schema, dir.path());
    wait_until(&host, JobStatus::Succeeded, 3).await;
    stop(worker, "TERM");
    assert_eq!(
        count(&host, JobStatus::Running).await,
        0,
        "a job was left running"
    );
    let done_first = count(&host, JobStatus::Succeeded).await;
    assert!(
        done_first < 120,
        "the worker finished everything before the signal"
    );

    let worker = start_worker(&schema, dir.path());
    wait_until(&host, JobStatus::Succeeded, 120).await;
    stop(worker, "INT");
    assert_eq!(count(&host, JobStatus::Failed).await, 0);
    let assets = host
        .assets(&AssetFilter::default(), &PageRequest::first(1_000))
        .await
        .unwrap();
    assert_eq!(assets.items.len(), 120, "one asset per job");
    host.close().await.unwrap();
}
