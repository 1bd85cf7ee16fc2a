//! Provider call limits shared through the store, provider-backed derived
//! operations and charges a failing provider reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gaia::prelude::*;
use gaia::{
    AssetSource, Call, CostQuery, Error, ErrorCode, GenerateContext, Generation, InputRole,
    ModelInfo, Operation, PriceRule, Provider, Route, RouteTarget,
};
use support::{client, engine_with, image_request, png};

const PRICE: i64 = 1_000;

/// A provider whose calls take `hold` and that counts how many run at once.
struct Counted {
    name: &'static str,
    limit: Option<u32>,
    hold: Duration,
    models: Vec<ModelInfo>,
    running: AtomicUsize,
    most: AtomicUsize,
    calls: AtomicUsize,
}

impl Counted {
    fn new(name: &'static str, limit: Option<u32>, hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            name,
            limit,
            hold,
            models: vec![ModelInfo::new(
                "img",
                AssetKind::Image,
                PriceRule::PerOutput {
                    micros: Money::from_micros(PRICE),
                },
                "counted",
            )],
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Provider for Counted {
    fn name(&self) -> &str {
        self.name
    }
    fn models(&self) -> &[ModelInfo] {
        &self.models
    }
    fn max_in_flight(&self) -> Option<u32> {
        self.limit
    }
    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::from_micros(PRICE))
    }
    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.hold).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(Generation {
            outputs: vec![cx.stage_bytes(&png(8, 8)).await?],
            cost: None,
        })
    }
}

async fn wait_all(engine: &Engine, jobs: &[Job]) -> Vec<Job> {
    let mut done = Vec::new();
    for job in jobs {
        done.push(engine.wait(job.id).await.unwrap());
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_provider_defers_jobs_without_counting_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Counted::new("limited", Some(1), Duration::from_millis(150));
    let engine = engine_with(dir.path(), 4, vec![provider.clone()]).await;
    let requests = (0..4)
        .map(|i| image_request(&format!("crate {i}")))
        .collect();
    let jobs = engine.submit_batch(requests).await.unwrap();
    let done = wait_all(&engine, &jobs).await;

    assert!(done.iter().all(|j| j.status == JobStatus::Succeeded));
    assert_eq!(
        provider.most.load(Ordering::SeqCst),
        1,
        "one call in flight at most"
    );
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        4,
        "each job called once"
    );
    for job in &done {
        assert_eq!(job.attempts, 1, "waiting for a slot is not an attempt");
        let waits = engine
            .job_logs(job.id)
            .await
            .unwrap()
            .iter()
            .filter(|line| line.message.contains("waiting for limited"))
            .count();
        // A waiting job is woken by the slot it waits for, not polled in a loop.
        assert!(waits <= 3, "job {} deferred {waits} times", job.id);
    }
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_provider_hands_the_job_to_the_next_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let first = Counted::new("first", Some(1), Duration::from_millis(400));
    let second = Counted::new("second", None, Duration::from_millis(10));
    let engine = engine_with(dir.path(), 2, vec![first.clone(), second.clone()]).await;
    let chain = Route::Chain(vec![
        RouteTarget::new("first", Some("img".into())),
        RouteTarget::new("second", Some("img".into())),
    ]);
    let jobs = engine
        .submit_batch(
            (0..2)
                .map(|i| {
                    let mut request = image_request(&format!("barrel {i}"));
                    request.route = chain.clone();
                    request
                })
                .collect(),
        )
        .await
        .unwrap();
    let done = wait_all(&engine, &jobs).await;
    let mut providers: Vec<_> = done.iter().map(|j| j.provider.clone().unwrap()).collect();
    providers.sort();
    assert_eq!(providers, ["first", "second"]);
    assert_eq!(first.calls.load(Ordering::SeqCst), 1);
    engine.close().await.unwrap();
}

/// A provider model performing `edit`: it records the inputs it was given.
struct Editor {
    models: Vec<ModelInfo>,
    seen: Mutex<Vec<(InputRole, Vec<u8>)>>,
}

#[async_trait]
impl Provider for Editor {
    fn name(&self) -> &str {
        "editor"
    }
    fn models(&self) -> &[ModelInfo] {
        &self.models
    }
    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::from_micros(PRICE))
    }
    async fn generate(&self, call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        for input in &call.inputs {
            let bytes = tokio::fs::read(&input.path).await.unwrap();
            self.seen.lock().unwrap().push((input.role, bytes));
        }
        Ok(Generation {
            outputs: vec![cx.stage_bytes(&png(12, 10)).await?],
            cost: Some(Money::from_micros(PRICE + 1)),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_derivations_reach_the_provider_with_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let editor = Arc::new(Editor {
        models: vec![
            ModelInfo::new(
                "edit-1",
                AssetKind::Image,
                PriceRule::PerOutput {
                    micros: Money::from_micros(PRICE),
                },
                "edits",
            )
            .performing("edit"),
        ],
        seen: Mutex::new(Vec::new()),
    });
    let maker = Counted::new("maker", None, Duration::ZERO);
    let engine = engine_with(dir.path(), 1, vec![maker, editor.clone()]).await;
    let parent = engine.generate(image_request("door")).await.unwrap();
    let mask = engine.generate(image_request("door mask")).await.unwrap();

    let edit = Operation::Edit {
        prompt: "add rust stains".into(),
        mask_id: Some(mask.id),
    };
    let job = engine.derive(parent.id, edit).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!(job.provider.as_deref(), Some("editor"));
    assert_eq!(job.cost_micros.micros(), PRICE + 1);
    let derived = engine.asset(job.asset_ids[0]).await.unwrap();
    assert_eq!(
        derived.source,
        AssetSource::Derived {
            parent_id: parent.id,
            operation: "edit".into()
        }
    );
    assert_eq!(derived.name.as_deref(), Some("door-edit"));
    assert!(matches!(
        derived.media,
        Media::Image {
            width: 12,
            height: 10,
            ..
        }
    ));
    let seen = editor.seen.lock().unwrap().clone();
    let parent_bytes = engine.read_bytes(parent.id).await.unwrap();
    let mask_bytes = engine.read_bytes(mask.id).await.unwrap();
    assert_eq!(
        seen,
        vec![
            (InputRole::Parent, parent_bytes.to_vec()),
            (InputRole::Mask, mask_bytes.to_vec())
        ]
    );

    // Another client's asset cannot be a mask, and nothing is queued for it.
    let other = engine
        .generate(Request::new(
            ClientId::new("other").unwrap(),
            ImageSpec::new("x").size(8, 8),
        ))
        .await
        .unwrap();
    let stolen = Operation::Edit {
        prompt: "p".into(),
        mask_id: Some(other.id),
    };
    let error = engine.derive(parent.id, stolen).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    assert!(
        error.to_string().contains("spec.operation.mask_id"),
        "{error}"
    );

    // No provider performs upscales here.
    let upscale = Operation::Upscale {
        prompt: None,
        mode: Default::default(),
    };
    let error = engine.derive(parent.id, upscale).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::NoProvider, "{error}");
    engine.close().await.unwrap();
}

/// Charges a known amount, then fails for good.
struct ChargesThenFails {
    models: Vec<ModelInfo>,
}

#[async_trait]
impl Provider for ChargesThenFails {
    fn name(&self) -> &str {
        "charging"
    }
    fn models(&self) -> &[ModelInfo] {
        &self.models
    }
    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::from_micros(PRICE))
    }
    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        cx.report_cost(Money::from_micros(777));
        Err(Error::Provider {
            provider: "charging".into(),
            message: "the prediction failed after running".into(),
            retryable: false,
            retry_after: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_reported_before_a_failure_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(ChargesThenFails {
        models: vec![ModelInfo::new(
            "img",
            AssetKind::Image,
            PriceRule::Table {
                note: "by run time".into(),
            },
            "charges",
        )],
    });
    let engine = engine_with(dir.path(), 1, vec![provider]).await;
    let job = engine.submit(image_request("lamp")).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.cost_micros.micros(), 777);
    let query = CostQuery {
        client_id: Some(client()),
        ..Default::default()
    };
    let report = engine.costs(&query).await.unwrap();
    assert_eq!(report.total_micros.micros(), 777);
    engine.close().await.unwrap();
}

/// Waits for the cancellation signal and records what it meant.
struct Watches {
    models: Vec<ModelInfo>,
    started: tokio::sync::Notify,
    job_canceled: Mutex<Option<bool>>,
}

#[async_trait]
impl Provider for Watches {
    fn name(&self) -> &str {
        "watches"
    }
    fn models(&self) -> &[ModelInfo] {
        &self.models
    }
    fn estimate(&self, _model: &str, _spec: &Spec) -> gaia::Result<Money> {
        Ok(Money::ZERO)
    }
    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        self.started.notify_one();
        cx.cancellation().cancelled().await;
        *self.job_canceled.lock().unwrap() = Some(cx.is_job_canceled());
        Err(Error::Canceled)
    }
}

fn watching() -> Arc<Watches> {
    Arc::new(Watches {
        models: vec![ModelInfo::new(
            "img",
            AssetKind::Image,
            PriceRule::Free,
            "waits",
        )],
        started: tokio::sync::Notify::new(),
        job_canceled: Mutex::new(None),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_tell_a_canceled_job_from_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let provider = watching();
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let job = engine.submit(image_request("bell")).await.unwrap();
    provider.started.notified().await;
    engine.cancel(job.id).await.unwrap();
    engine.wait(job.id).await.unwrap();
    engine.close().await.unwrap();
    assert_eq!(
        *provider.job_canceled.lock().unwrap(),
        Some(true),
        "a host canceled it"
    );

    // Closing only stops the job here: a remote task must keep running for
    // the next process to resume.
    let provider = watching();
    let engine = engine_with(dir.path(), 1, vec![provider.clone()]).await;
    let job = engine.submit(image_request("horn")).await.unwrap();
    provider.started.notified().await;
    engine.close().await.unwrap();
    assert_eq!(
        *provider.job_canceled.lock().unwrap(),
        Some(false),
        "the engine stopped"
    );
    let reopened = engine_with(dir.path(), 0, vec![watching()]).await;
    assert_eq!(
        reopened.job(job.id).await.unwrap().status,
        JobStatus::Queued,
        "released"
    );
    reopened.close().await.unwrap();
}
