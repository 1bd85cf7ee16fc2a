//! Shared helpers of the facade's integration tests: engines on temporary
//! folders and scripted providers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gaia::prelude::*;
use gaia::{
    Call, Error, GenerateContext, Generation, LogLevel, ModelInfo, PriceRule, Progress, Provider,
    RetryConfig,
};

/// A small valid PNG.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A configuration under `dir` with fast retries and a short lease.
pub fn config(dir: &Path, workers: usize) -> EngineConfig {
    let mut config = EngineConfig::at(dir.join("gaia"));
    config.workers = workers;
    config.lease_s = 1;
    config.shutdown_grace_s = 0;
    config.retry = RetryConfig {
        base_delay_ms: 10,
        max_delay_ms: 50,
        attempts_per_provider: 2,
    };
    config
}

/// An engine with the SQLite store and file blobs under `dir`, and exactly `providers`.
pub async fn engine_with(dir: &Path, workers: usize, providers: Vec<Arc<dyn Provider>>) -> Engine {
    engine_with_config(config(dir, workers), providers).await
}

pub async fn engine_with_config(config: EngineConfig, providers: Vec<Arc<dyn Provider>>) -> Engine {
    let store = gaia::open_store(&config.database_url()).await.unwrap();
    let blobs = gaia::store::open_blob_store(&config.blobs_url())
        .await
        .unwrap();
    let mut builder = Engine::builder().store(store).blobs(blobs).config(config);
    for provider in providers {
        builder = builder.provider(provider);
    }
    builder.build().await.unwrap()
}

pub fn client() -> ClientId {
    ClientId::new("test-client").unwrap()
}

pub fn image_request(prompt: &str) -> Request {
    Request::new(client(), ImageSpec::new(prompt).size(16, 16).seed(1))
}

/// One scripted step of a provider call.
#[derive(Clone)]
pub enum Step {
    /// Return this PNG.
    Png(Vec<u8>),
    /// Return these bytes (maybe not an image).
    Bytes(Vec<u8>),
    /// Fail.
    Fail(fn() -> Error),
    /// Wait for cancellation, then return `Canceled`.
    Hang,
    /// Wait for cancellation, go on for this long (a provider slow to
    /// stop), then return `Canceled`.
    SlowToStop(Duration),
    /// Save a checkpoint, then hang.
    CheckpointThenHang(&'static str),
    /// Sleep, then return a PNG.
    Slow(Duration),
    /// Play the step, then log [`ENDING_LINE`] as the call returns: the
    /// job's log writer starts as late as it can.
    LogAtEnd(Box<Step>),
    /// Report each progress the test sends, then return a PNG once the
    /// test closes the channel.
    Steps(Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<u8>>>),
}

/// The line [`Step::LogAtEnd`] logs.
pub const ENDING_LINE: &str = "the call ends";

/// A provider that plays a script, then repeats its last step. It records
/// every call and every resume.
pub struct Scripted {
    pub name: &'static str,
    pub remote: bool,
    pub price: Money,
    models: Vec<ModelInfo>,
    script: Mutex<VecDeque<Step>>,
    last: Mutex<Step>,
    pub calls: AtomicUsize,
    pub resumes: Mutex<Vec<String>>,
    pub saw_cancel: AtomicUsize,
}

impl Scripted {
    pub fn new(name: &'static str, price: Money, steps: Vec<Step>) -> Arc<Self> {
        let last = steps.last().cloned().unwrap_or(Step::Png(png(8, 8)));
        Arc::new(Self {
            name,
            remote: true,
            price,
            models: vec![ModelInfo::new(
                "img",
                AssetKind::Image,
                PriceRule::PerOutput { micros: price },
                "scripted",
            )],
            script: Mutex::new(steps.into()),
            last: Mutex::new(last),
            calls: AtomicUsize::new(0),
            resumes: Mutex::new(Vec::new()),
            saw_cancel: AtomicUsize::new(0),
        })
    }

    fn next_step(&self) -> Step {
        let next = self.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| self.last.lock().unwrap().clone())
    }

    async fn play(&self, step: Step, cx: &GenerateContext) -> gaia::Result<Generation> {
        let bytes = match step {
            Step::Png(bytes) | Step::Bytes(bytes) => bytes,
            Step::Fail(error) => return Err(error()),
            Step::Slow(delay) => {
                cx.progress(Progress::percent(50));
                tokio::time::sleep(delay).await;
                png(8, 8)
            }
            Step::Hang => return self.hang(cx).await,
            Step::SlowToStop(delay) => {
                let canceled = self.hang(cx).await;
                tokio::time::sleep(delay).await;
                return canceled;
            }
            Step::CheckpointThenHang(task) => {
                cx.checkpoint(task).await?;
                return self.hang(cx).await;
            }
            Step::LogAtEnd(step) => {
                let played = Box::pin(self.play(*step, cx)).await;
                cx.log(LogLevel::Info, ENDING_LINE.to_owned());
                return played;
            }
            Step::Steps(steps) => {
                let mut steps = steps.lock().await;
                while let Some(percent) = steps.recv().await {
                    cx.progress(Progress::percent(percent.into()));
                }
                png(8, 8)
            }
        };
        let output = cx.stage_bytes(&bytes).await?;
        Ok(Generation {
            outputs: vec![output],
            cost: Some(self.price),
        })
    }

    async fn hang(&self, cx: &GenerateContext) -> gaia::Result<Generation> {
        cx.progress(Progress::percent(10));
        cx.cancellation().cancelled().await;
        self.saw_cancel.fetch_add(1, Ordering::SeqCst);
        Err(Error::Canceled)
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn is_remote(&self) -> bool {
        self.remote
    }

    fn estimate(&self, _model: &str, spec: &Spec) -> gaia::Result<Money> {
        Ok(self.price.times(u32::from(spec.count())))
    }

    async fn generate(&self, _call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.next_step();
        self.play(step, cx).await
    }

    async fn resume(
        &self,
        _call: &Call,
        checkpoint: &str,
        cx: &GenerateContext,
    ) -> gaia::Result<Generation> {
        self.resumes.lock().unwrap().push(checkpoint.to_owned());
        let output = cx.stage_bytes(&png(8, 8)).await?;
        Ok(Generation {
            outputs: vec![output],
            cost: Some(self.price),
        })
    }
}

pub fn rate_limited() -> Error {
    Error::RateLimited {
        provider: "cheap".into(),
        retry_after: Some(Duration::from_millis(30)),
    }
}

pub fn server_error() -> Error {
    Error::Provider {
        provider: "cheap".into(),
        message: "HTTP 500".into(),
        retryable: true,
        retry_after: None,
    }
}

pub fn timed_out() -> Error {
    Error::Timeout {
        provider: "cheap".into(),
    }
}

pub fn rejected() -> Error {
    Error::Rejected {
        provider: "cheap".into(),
        reason: "moderation_blocked".into(),
    }
}

/// A PNG whose bytes differ for every `variant` (so imports never dedup).
pub fn distinct_png(width: u32, height: u32, variant: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let v = variant.to_le_bytes();
        image::Rgb([v[0] ^ x as u8, v[1] ^ y as u8, v[2]])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Imports PNG bytes for the test client under `name`, with `tags`.
pub async fn import_png(engine: &Engine, bytes: Vec<u8>, name: &str, tags: &[&str]) -> Asset {
    let mut request = gaia::ImportRequest::new(client());
    request.name = Some(name.to_owned());
    request.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    engine
        .import(request, gaia::ImportSource::Bytes(bytes.into()))
        .await
        .unwrap()
        .asset
}
