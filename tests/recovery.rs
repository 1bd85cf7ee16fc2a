//! Crash recovery with a real process kill: a child process runs a job and
//! is killed with SIGKILL mid-generation; the next engine on the same store
//! recovers the job after its lease expires and completes it exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use gaia::prelude::*;
use gaia::{AssetFilter, PageRequest};
use support::*;

const CHILD_DIR: &str = "GAIA_TEST_CRASH_DIR";
const CHILD_MODE: &str = "GAIA_TEST_CRASH_MODE";

/// Not a test on its own: the body of the child process, started by the
/// tests below with the environment naming its folder and mode.
#[tokio::test]
#[ignore = "run as a child process by the recovery tests"]
async fn crash_child_process() {
    let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) else {
        return;
    };
    let step = if mode == "checkpoint" {
        Step::CheckpointThenHang("remote-task-42")
    } else {
        Step::Hang
    };
    let provider = Scripted::new("cheap", Money::from_micros(25), vec![step]);
    let engine = engine_with(std::path::Path::new(&dir), 1, vec![provider]).await;
    let mut events = engine.events();
    let job = engine
        .submit(image_request("crash during me"))
        .await
        .unwrap();
    // The provider reports progress once it is running (after any checkpoint).
    use futures::StreamExt;
    let running = async {
        while !matches!(
            events.next().await.map(|e| e.kind),
            Some(gaia::EventKind::JobProgress { .. })
        ) {}
    };
    // Exiting closes stdout, so the parent fails instead of waiting forever.
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the job started");
    println!("RUNNING {}", job.id);
    std::future::pending::<()>().await;
}

/// Starts the child, waits until its job runs, and kills it with SIGKILL.
fn run_and_kill_child(dir: &std::path::Path, mode: &str) -> JobId {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut job_id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints the test's name on the same line before our output.
        if let Some((_, id)) = line.split_once("RUNNING ") {
            job_id = Some(JobId::parse(id.trim()).unwrap());
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no graceful shutdown, the lease stays.
    child.wait().unwrap();
    job_id.expect("the child reported its running job")
}

#[tokio::test]
async fn a_killed_worker_s_job_runs_again_and_yields_one_asset() {
    let dir = tempfile::tempdir().unwrap();
    let job_id = run_and_kill_child(dir.path(), "plain");

    let provider = Scripted::new("cheap", Money::from_micros(25), vec![Step::Png(png(8, 8))]);
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let done = tokio::time::timeout(Duration::from_secs(30), engine.wait(job_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 2, "the killed attempt counts");
    assert_eq!(done.asset_ids.len(), 1);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    let assets = engine
        .assets(&AssetFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(assets.items.len(), 1, "exactly one asset");
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_checkpointed_job_resumes_its_remote_task_instead_of_paying_again() {
    let dir = tempfile::tempdir().unwrap();
    let job_id = run_and_kill_child(dir.path(), "checkpoint");

    let provider = Scripted::new("cheap", Money::from_micros(25), vec![Step::Png(png(8, 8))]);
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let done = tokio::time::timeout(Duration::from_secs(30), engine.wait(job_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(
        provider.resumes.lock().unwrap().as_slice(),
        ["remote-task-42"]
    );
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        0,
        "no new remote task was started"
    );
    assert_eq!(done.asset_ids.len(), 1);
    assert_eq!(done.cost_micros, Money::from_micros(25), "paid once");
    engine.close().await.unwrap();
}
