//! What a running job reports. Progress reaches hosts as events at once and
//! the store at a measured pace: no sooner than a second into an attempt,
//! then at most once a second (the latest as soon as it is due, even when
//! the provider falls silent), so that a quick job costs no progress write
//! at all. Log lines are all stored by the time the job's end is announced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gaia::prelude::*;
use gaia::{Event, EventKind};
use support::*;
use tokio::sync::{Mutex, mpsc};

/// A provider reporting the steps sent on the returned channel (closing it
/// ends the job).
fn stepper() -> (Arc<Scripted>, mpsc::UnboundedSender<u8>) {
    let (steps, received) = mpsc::unbounded_channel();
    let step = Step::Steps(Arc::new(Mutex::new(received)));
    (Scripted::new("stepper", Money::ZERO, vec![step]), steps)
}

async fn stored_progress(engine: &Engine, job: JobId) -> u8 {
    engine.job(job).await.unwrap().progress.value()
}

/// Waits until the store holds `percent` for `job`.
async fn progress_stored(engine: &Engine, job: JobId, percent: u8, why: &str) {
    let stored = async {
        while stored_progress(engine, job).await != percent {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), stored)
        .await
        .unwrap_or_else(|_| panic!("{why}: {percent} never stored"));
}

/// Waits for the event of `percent` for `job`.
async fn progress_event(events: &mut (impl futures::Stream<Item = Event> + Unpin), percent: u8) {
    let seen = async {
        while let Some(event) = events.next().await {
            if let EventKind::JobProgress { progress } = event.kind
                && progress.value() == percent
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("the progress event");
}

#[tokio::test]
async fn progress_is_stored_from_a_second_into_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, steps) = stepper();
    let engine = engine_with(dir.path(), 1, vec![provider]).await;
    let mut events = engine.events();
    let job = engine.submit(image_request("stepped")).await.unwrap();

    steps.send(10).unwrap();
    progress_event(&mut events, 10).await;
    let reported = Instant::now();
    // Long enough for a write to land, short of the first second.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stored_progress(&engine, job.id).await,
        0,
        "early progress is an event, not a write"
    );

    tokio::time::sleep(Duration::from_secs(1).saturating_sub(reported.elapsed())).await;
    steps.send(60).unwrap();
    progress_event(&mut events, 60).await;
    progress_stored(&engine, job.id, 60, "a second into the attempt").await;

    drop(steps);
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.progress.value(), 100);
    engine.close().await.unwrap();
}

/// A remote call reports early, then waits long in silence: the store
/// still shows the latest progress once it is due, not only at the end.
#[tokio::test]
async fn the_latest_progress_is_stored_when_the_provider_falls_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, steps) = stepper();
    let engine = engine_with(dir.path(), 1, vec![provider]).await;
    let mut events = engine.events();
    let job = engine.submit(image_request("silent")).await.unwrap();

    // Reported in the first second, then nothing.
    steps.send(10).unwrap();
    progress_event(&mut events, 10).await;
    progress_stored(&engine, job.id, 10, "held from the first second").await;
    // Stored just now, so the next one waits its second, then nothing.
    steps.send(30).unwrap();
    progress_event(&mut events, 30).await;
    progress_stored(&engine, job.id, 30, "reported within a second of a write").await;

    drop(steps);
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.progress.value(), 100);
    engine.close().await.unwrap();
}

// Several threads: the host's wait and the job's log writer run apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_has_its_whole_log_stored() {
    for fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ending = if fails {
            Step::Fail(rejected)
        } else {
            Step::Png(png(8, 8))
        };
        let provider = Scripted::new(
            "chatty",
            Money::ZERO,
            vec![Step::LogAtEnd(Box::new(ending))],
        );
        let engine = engine_with(dir.path(), 1, vec![provider]).await;
        for n in 0..100 {
            // Submitted, not generated: the job runs on a worker's slot, and
            // the host learns of its end from the engine.
            let prompt = format!("job {n}");
            let job = engine.submit(image_request(&prompt)).await.unwrap();
            let done = engine.wait(job.id).await.unwrap();
            assert!(done.status.is_terminal());
            let logs = engine.job_logs(job.id).await.unwrap();
            assert!(
                logs.iter().any(|line| line.message == ENDING_LINE),
                "the log of {prompt} (failing: {fails}) is stored by its end: {logs:?}"
            );
        }
        engine.close().await.unwrap();
    }
}

/// A canceled provider may log as it stops (cancelling its remote task):
/// `job_canceled` comes after those lines are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_job_has_its_whole_log_stored_when_its_end_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Scripted::new(
        "stopping",
        Money::ZERO,
        vec![Step::LogAtEnd(Box::new(Step::Hang))],
    );
    let engine = engine_with(dir.path(), 1, vec![provider]).await;
    for n in 0..20 {
        let mut events = engine.events();
        let job = engine
            .submit(image_request(&format!("job {n}")))
            .await
            .unwrap();
        // `Hang` reports 10 % once it is waiting for the signal.
        progress_event(&mut events, 10).await;
        engine.cancel(job.id).await.unwrap();
        let announced = async {
            while let Some(event) = events.next().await {
                if event.job_id == Some(job.id) && matches!(event.kind, EventKind::JobCanceled {}) {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), announced)
            .await
            .expect("job_canceled");
        let logs = engine.job_logs(job.id).await.unwrap();
        assert!(
            logs.iter().any(|line| line.message == ENDING_LINE),
            "the log of job {n} is stored by its announced end: {logs:?}"
        );
        assert_eq!(
            engine.job(job.id).await.unwrap().status,
            JobStatus::Canceled
        );
    }
    engine.close().await.unwrap();
}
