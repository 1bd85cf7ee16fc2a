//! Many worker processes on one Postgres database, with the blobs in the
//! database too (`blobs: "db:"`): three child processes (this test binary
//! run again, as `tests/recovery.rs` does) work the queue a submit-only
//! engine (`workers: 0`) fills.
//!
//! - 2,000 jobs are each done exactly once (one asset row per job), although
//!   one worker process is killed with SIGKILL while it holds jobs: the
//!   others recover them once the 2 s lease expires.
//! - A budget that allows exactly 30 jobs lets exactly 30 of 60 succeed
//!   across the processes, and the ledger stays within the limit.
//! - `Engine::open` with `database: postgres://…, blobs: "db:"` generates
//!   with the built-in provider and reads the bytes back.
//!
//! Skipped (with a message) without a Postgres server, unless
//! `GAIA_REQUIRE_SERVICES=1`; see `gaia_store::testing`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use gaia::prelude::*;
use gaia::store::testing::ScratchSchema;
use gaia::{AssetFilter, Budget, BudgetPeriod, CostQuery, ErrorCode, JobFilter, PageRequest};
use support::{Scripted, Step, png};

const CHILD_DATABASE: &str = "GAIA_TEST_WORKER_DATABASE";
const CHILD_MODE: &str = "GAIA_TEST_WORKER_MODE";
const CHILD_PRICE: &str = "GAIA_TEST_WORKER_PRICE";

/// Worker slots per child process.
const SLOTS: usize = 4;

/// Provider calls a victim child answers before it hangs (and is killed).
const VICTIM_CALLS: usize = 100;

/// The test provider every process registers: instant 16x16 PNGs at
/// `price` micro-dollars each; `hang_after` calls, then it hangs.
fn provider(price: i64, hang_after: Option<usize>) -> Arc<Scripted> {
    let steps = match hang_after {
        Some(calls) => {
            let mut steps = vec![Step::Png(png(16, 16)); calls];
            steps.push(Step::Hang);
            steps
        }
        None => vec![Step::Png(png(16, 16))],
    };
    Scripted::new("cheap", Money::from_micros(price), steps)
}

/// An engine on `database` with blobs in the database, a 2 s lease and
/// `workers` slots, staging under `dir`.
async fn engine_on(
    database: &str,
    workers: usize,
    provider: Arc<Scripted>,
    dir: &std::path::Path,
) -> Engine {
    let mut config = EngineConfig::at(dir);
    config.database = Some(database.to_owned());
    config.blobs = Some(gaia::store::DB_BLOBS.to_owned());
    config.workers = workers;
    config.lease_s = 2;
    config.shutdown_grace_s = 0;
    let (store, blobs) = gaia::store::open_stores(&config.database_url(), &config.blobs_url())
        .await
        .unwrap();
    Engine::builder()
        .store(store)
        .blobs(blobs)
        .config(config)
        .provider(provider)
        .build()
        .await
        .unwrap()
}

/// Not a test on its own: the body of a worker process, started by the
/// tests below with the environment naming its database and mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the worker tests"]
async fn worker_child_process() {
    let (Ok(database), Ok(mode)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_MODE))
    else {
        return;
    };
    let price = std::env::var(CHILD_PRICE)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let victim = mode == "victim";
    let provider = provider(price, victim.then_some(VICTIM_CALLS));
    let dir = tempfile::tempdir().unwrap();
    let _engine = engine_on(&database, SLOTS, provider.clone(), dir.path()).await;
    println!("READY");
    if victim {
        // Tell the parent once a call hangs: this process then holds a job.
        while provider.calls.load(Ordering::SeqCst) <= VICTIM_CALLS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("HUNG");
    }
    std::future::pending::<()>().await;
}

/// A worker process; killed (SIGKILL) when dropped, so a failing test
/// leaves none behind.
struct WorkerProcess {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl WorkerProcess {
    fn start(database: &str, mode: &str, price: i64) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "worker_child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DATABASE, database)
            .env(CHILD_MODE, mode)
            .env(CHILD_PRICE, price.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits until the process prints a line containing `word` (libtest
    /// prints the test's name before the first one).
    fn wait_for(&self, word: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(word) => return,
                Ok(_) => {}
                Err(e) => panic!("the worker process never printed {word}: {e}"),
            }
        }
        panic!("the worker process never printed {word}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts worker processes in `modes` and waits until each has its engine open.
fn start_workers(database: &str, modes: &[&str], price: i64) -> Vec<WorkerProcess> {
    let workers: Vec<_> = modes
        .iter()
        .map(|mode| WorkerProcess::start(database, mode, price))
        .collect();
    for worker in &workers {
        worker.wait_for("READY");
    }
    workers
}

fn requests(count: usize) -> Vec<Request> {
    (0..count)
        .map(|n| support::image_request(&format!("tile {n}")))
        .collect()
}

/// Waits until no job is queued or running; returns the counts by status.
async fn settle(engine: &Engine, within: Duration) -> Vec<(JobStatus, u64)> {
    let deadline = Instant::now() + within;
    loop {
        let stats = engine.job_stats(None).await.unwrap();
        let counts: Vec<_> = stats
            .by_status
            .iter()
            .map(|c| (c.status, c.count))
            .collect();
        let open = counts
            .iter()
            .filter(|(status, _)| matches!(status, JobStatus::Queued | JobStatus::Running))
            .map(|(_, count)| count)
            .sum::<u64>();
        if open == 0 {
            return counts;
        }
        assert!(Instant::now() < deadline, "jobs still open: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count_of(counts: &[(JobStatus, u64)], status: JobStatus) -> u64 {
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, count)| *count)
}

/// The distinct errors of failed jobs, for assertion messages.
async fn failures(engine: &Engine) -> Vec<String> {
    let errors: HashSet<String> = all_jobs(engine)
        .await
        .into_iter()
        .filter_map(|job| job.error.filter(|_| job.status == JobStatus::Failed))
        .map(|error| format!("{}: {}", error.code, error.message))
        .collect();
    errors.into_iter().collect()
}

/// Every job, following the cursor.
async fn all_jobs(engine: &Engine) -> Vec<Job> {
    let mut page = PageRequest::first(1_000);
    let mut jobs = Vec::new();
    loop {
        let listed = engine.jobs(&JobFilter::default(), &page).await.unwrap();
        jobs.extend(listed.items);
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return jobs,
        }
    }
}

/// Every asset, following the cursor.
async fn all_assets(engine: &Engine) -> Vec<Asset> {
    let mut page = PageRequest::first(1_000);
    let mut assets = Vec::new();
    loop {
        let listed = engine.assets(&AssetFilter::default(), &page).await.unwrap();
        assets.extend(listed.items);
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return assets,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_do_2000_jobs_exactly_once_although_one_is_killed() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A host that only submits: no worker slots of its own.
    let host = engine_on(&schema.url(), 0, provider(0, None), dir.path()).await;
    let mut workers = start_workers(&schema.url(), &["steady", "steady", "victim"], 0);

    let submitted = host.submit_batch(requests(2_000)).await.unwrap();
    workers[2].wait_for("HUNG");
    workers[2].kill(); // SIGKILL: its running jobs keep their leases until they expire.

    let counts = settle(&host, Duration::from_secs(45)).await;
    let succeeded = count_of(&counts, JobStatus::Succeeded);
    assert_eq!(succeeded, 2_000, "{counts:?} {:?}", failures(&host).await);

    let jobs = all_jobs(&host).await;
    assert_eq!(jobs.len(), 2_000);
    assert!(jobs.iter().all(|job| job.asset_ids.len() == 1));
    let recovered = jobs.iter().filter(|job| job.attempts == 2).count();
    assert!(recovered >= 1, "no job of the killed worker was recovered");
    assert!(jobs.iter().all(|job| job.attempts <= 2));

    let assets = all_assets(&host).await;
    assert_eq!(assets.len(), 2_000, "exactly one asset per job");
    let makers: HashSet<JobId> = assets
        .iter()
        .filter_map(|asset| match &asset.source {
            gaia::AssetSource::Generated { job_id, .. } => Some(*job_id),
            _ => None,
        })
        .collect();
    let expected: HashSet<JobId> = submitted.iter().map(|job| job.id).collect();
    assert_eq!(makers, expected, "each job made its own asset");
    let bytes = host.read_bytes(assets[0].id).await.unwrap();
    assert_eq!(
        &bytes[..],
        &png(16, 16)[..],
        "the blob came back from the database"
    );
    drop(workers);
    host.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_across_worker_processes() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let price = 10;
    let host = engine_on(&schema.url(), 0, provider(price, None), dir.path()).await;
    host.set_budget(&Budget {
        client_id: support::client(),
        campaign_id: None,
        period: BudgetPeriod::Total,
        limit_micros: Money::from_micros(30 * price),
    })
    .await
    .unwrap();
    let workers = start_workers(&schema.url(), &["steady", "steady", "steady"], price);

    host.submit_batch(requests(60)).await.unwrap();
    let counts = settle(&host, Duration::from_secs(30)).await;
    assert_eq!(count_of(&counts, JobStatus::Succeeded), 30, "{counts:?}");
    assert_eq!(count_of(&counts, JobStatus::Failed), 30, "{counts:?}");
    let failures = failures(&host).await;
    let refused = failures
        .iter()
        .all(|error| error.starts_with(ErrorCode::BudgetExceeded.as_str()));
    assert!(refused, "every failure is a budget refusal: {failures:?}");
    let spent = host.costs(&CostQuery::default()).await.unwrap();
    assert_eq!(spent.total_micros, Money::from_micros(30 * price));
    assert_eq!(spent.entries, 30);
    drop(workers);
    host.close().await.unwrap();
}

/// The facade's own opening: a Postgres database and `db:` blobs from an
/// `EngineConfig`, with the built-in procedural provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_open_takes_postgres_and_db_blobs() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        database: Some(schema.url()),
        blobs: Some("db:".to_owned()),
        workers: 1,
        ..EngineConfig::at(dir.path())
    };
    let engine = Engine::open(config).await.unwrap();
    let asset = engine
        .generate(Request::new(
            support::client(),
            ImageSpec::new("moss").size(16, 16).seed(3),
        ))
        .await
        .unwrap();
    let bytes = engine.read_bytes(asset.id).await.unwrap();
    assert_eq!(bytes.len() as u64, asset.size_bytes);
    assert!(bytes.starts_with(b"\x89PNG"));
    assert!(
        !dir.path().join("blobs").exists(),
        "the blobs are in the database"
    );
    engine.close().await.unwrap();
}
