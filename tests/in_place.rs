//! `generate` on an engine with a free slot runs its own job in place, on
//! the caller's task (no hand-over to a slot, no wake-up back): the job is
//! still bounded by the slot count, survives the caller giving up, and is
//! stopped and released by `close` like any running job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use gaia::prelude::*;
use gaia::{Call, EventKind, GenerateContext, Generation, ModelInfo, PriceRule, Provider};
use support::{engine_with, image_request, png};
use tokio::sync::Semaphore;

/// Records the thread of every call and how many run at once; each call
/// waits for a permit of `gate` (plenty unless a test holds them back).
struct Observed {
    models: Vec<ModelInfo>,
    gate: Semaphore,
    hold: Duration,
    threads: Mutex<Vec<ThreadId>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl Observed {
    fn new(open: bool, hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            models: vec![ModelInfo::new(
                "img",
                AssetKind::Image,
                PriceRule::Free,
                "observed",
            )],
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
            hold,
            threads: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.threads.lock().unwrap().len()
    }
}

#[async_trait]
impl Provider for Observed {
    fn name(&self) -> &str {
        "observed"
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::ZERO)
    }

    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let waited = tokio::select! {
            permit = self.gate.acquire() => permit.map(drop).map_err(|_| gaia::Error::Canceled),
            () = cx.cancellation().cancelled() => Err(gaia::Error::Canceled),
        };
        tokio::time::sleep(self.hold).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        waited?;
        let output = cx.stage_bytes(&png(8, 8)).await?;
        Ok(Generation {
            outputs: vec![output],
            cost: Some(Money::ZERO),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_engine_runs_a_generate_on_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Observed::new(true, Duration::ZERO);
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    // The test body runs on the runtime's `block_on` thread, never on a
    // worker thread: a slot could not have called the provider from here.
    let caller = std::thread::current().id();
    for n in 0..3 {
        // An idle slot: one that is still looking at the queue (just
        // started, or just given back its permit) holds the permit, and the
        // job goes to it instead.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let asset = engine
            .generate(image_request(&format!("in place {n}")))
            .await
            .unwrap();
        assert_eq!(asset.size_bytes, png(8, 8).len() as u64);
    }
    assert_eq!(*provider.threads.lock().unwrap(), vec![caller; 3]);
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generate_given_up_still_finishes_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Observed::new(false, Duration::ZERO);
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let mut events = engine.events();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        engine.generate(image_request("abandoned")),
    )
    .await;
    assert!(gave_up.is_err(), "the provider was still held back");
    let job_id = loop {
        let event = events.next().await.unwrap();
        if let EventKind::JobQueued { .. } = event.kind {
            break event.job_id.unwrap();
        }
    };
    assert_eq!(provider.calls(), 1);
    provider.gate.add_permits(1);
    let done = tokio::time::timeout(Duration::from_secs(10), engine.wait(job_id))
        .await
        .expect("the job went on without its caller")
        .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.asset_ids.len(), 1);
    engine.asset(done.asset_ids[0]).await.unwrap();
    assert_eq!(provider.calls(), 1, "run once, not again by a slot");
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_and_slots_together_run_no_more_jobs_than_slots() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Observed::new(true, Duration::from_millis(20));
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let mut calls = Vec::new();
    for n in 0..6 {
        let engine = engine.clone();
        calls.push(tokio::spawn(async move {
            engine.generate(image_request(&format!("caller {n}"))).await
        }));
    }
    let queued = engine
        .submit_batch(
            (0..4)
                .map(|n| image_request(&format!("queued {n}")))
                .collect(),
        )
        .await
        .unwrap();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    for job in queued {
        assert_eq!(
            engine.wait(job.id).await.unwrap().status,
            JobStatus::Succeeded
        );
    }
    assert_eq!(provider.calls(), 10);
    assert_eq!(provider.most_in_flight.load(Ordering::SeqCst), 1);
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_and_releases_a_job_running_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Observed::new(false, Duration::ZERO);
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let mut events = engine.events();
    let caller = tokio::spawn({
        let engine = engine.clone();
        async move { engine.generate(image_request("interrupted")).await }
    });
    let job_id = loop {
        let event = events.next().await.unwrap();
        if let EventKind::JobStarted { .. } = event.kind {
            break event.job_id.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), engine.close())
        .await
        .expect("close waits for the job, which stops")
        .unwrap();
    assert_eq!(provider.in_flight.load(Ordering::SeqCst), 0);
    assert!(caller.await.unwrap().is_err(), "the caller hears of it");

    let next = Observed::new(true, Duration::ZERO);
    let reopened = engine_with(dir.path(), 1, vec![next.clone()]).await;
    let done = reopened.wait(job_id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 1, "the interrupted attempt does not count");
    reopened.close().await.unwrap();
}
