//! Helpers of the remote-task providers' mock tests (Replicate, Meshy,
//! fal): a context that records what the provider reported, scripted
//! answers for a sequence of polls, and a quick poll schedule.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gaia_core::{ContextReporter, GenerateContext, LogLevel, Progress, Result};
use gaia_providers::http::PollSchedule;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// Polls every few milliseconds: tests never sleep seconds.
pub fn quick_polls() -> PollSchedule {
    PollSchedule::constant(Duration::from_millis(5))
}

/// Everything a provider reported through its context.
#[derive(Default)]
pub struct Recorder {
    progress: Mutex<Vec<u8>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    checkpoints: Mutex<Vec<String>>,
    /// The engine only stops the job (shutdown, lost lease) instead of the
    /// job being canceled.
    only_stopped: std::sync::atomic::AtomicBool,
}

impl Recorder {
    /// The progress values, in order.
    pub fn progress(&self) -> Vec<u8> {
        lock(&self.progress).clone()
    }

    /// The log lines, in order.
    pub fn logs(&self) -> Vec<String> {
        lock(&self.logs)
            .iter()
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// The checkpoints saved, in order.
    pub fn checkpoints(&self) -> Vec<String> {
        lock(&self.checkpoints).clone()
    }

    /// From now on a cancellation signal means the engine stopped working
    /// on the job (it shuts down), not that the job was canceled.
    pub fn stop_only(&self) {
        self.only_stopped.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl ContextReporter for Recorder {
    fn progress(&self, progress: Progress) {
        lock(&self.progress).push(progress.value());
    }

    fn log(&self, level: LogLevel, message: String) {
        lock(&self.logs).push((level, message));
    }

    async fn checkpoint(&self, value: String) -> Result<()> {
        lock(&self.checkpoints).push(value);
        Ok(())
    }

    fn job_canceled(&self) -> bool {
        !self.only_stopped.load(Ordering::SeqCst)
    }
}

/// A context reporting to a [`Recorder`], staging in a fresh folder.
pub struct Recording {
    /// Holds the staging folder.
    pub dir: tempfile::TempDir,
    /// What the provider reported.
    pub recorder: Arc<Recorder>,
    /// The context to pass to the provider.
    pub cx: GenerateContext,
}

/// A fresh recording context.
pub fn recording() -> Recording {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let recorder = Arc::new(Recorder::default());
    // The token's type is tokio-util's, which this crate does not name: a
    // detached context makes a fresh one.
    let token = GenerateContext::detached(dir.path()).cancellation().clone();
    let cx = GenerateContext::new(recorder.clone(), token, dir.path().join("staging"));
    Recording { dir, recorder, cx }
}

impl Recording {
    /// Files left in the staging folder.
    pub fn staged_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("staging"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

/// Answers a series of requests with these responses in order, then
/// repeats the last one.
pub struct Sequence {
    responses: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Sequence {
    /// The responses, in order.
    pub fn new(responses: Vec<ResponseTemplate>) -> Self {
        assert!(!responses.is_empty(), "a sequence needs a response");
        Self {
            responses,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses[index.min(self.responses.len() - 1)].clone()
    }
}

/// Answers `400` unless the job has saved a checkpoint: proves that a
/// provider saves the remote task's id before it waits on it.
pub struct AfterCheckpoint<R> {
    /// The recorder whose checkpoints are looked at.
    pub recorder: Arc<Recorder>,
    /// The answer once a checkpoint exists.
    pub then: R,
}

impl<R: Respond> Respond for AfterCheckpoint<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.recorder.checkpoints().is_empty() {
            return ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"detail": "polled before any checkpoint"}));
        }
        self.then.respond(request)
    }
}

/// Answers with `response`, and cancels the job (as a host's `cancel` or an
/// engine shutdown would) on the `at`-th request.
pub struct CancelOnRequest {
    /// The answer every time.
    pub response: ResponseTemplate,
    /// Which request (1-based) cancels.
    pub at: usize,
    /// The job's cancellation, fired on that request.
    pub cancel: Box<dyn Fn() + Send + Sync>,
    /// Requests seen.
    pub seen: AtomicUsize,
}

impl CancelOnRequest {
    /// Cancels `cx`'s job on the `at`-th request.
    pub fn new(response: ResponseTemplate, at: usize, cx: &GenerateContext) -> Self {
        let token = cx.cancellation().clone();
        Self {
            response,
            at,
            cancel: Box::new(move || token.cancel()),
            seen: AtomicUsize::new(0),
        }
    }
}

impl Respond for CancelOnRequest {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            (self.cancel)();
        }
        self.response.clone()
    }
}

/// How many requests the server received with this method and path.
pub async fn requests_to(server: &MockServer, method: &str, path: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .count()
}

/// Whether any request to `path` carried an `Authorization` header.
pub async fn sent_auth_to(server: &MockServer, path: &str) -> bool {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r| r.url.path() == path && r.headers.contains_key("authorization"))
}

/// A short real WAV (16-bit mono 8 kHz silence-to-tone ramp).
pub fn wav(samples: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..samples {
            let sample = ((i % 64) as i16 - 32) * 512;
            writer
                .write_sample(sample)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        writer.finalize().unwrap_or_else(|e| panic!("{e}"));
    }
    bytes.into_inner()
}

/// A small valid GLB (the procedural provider's cube).
pub fn glb() -> Vec<u8> {
    use gaia_providers::procedural::mesh::{MeshParams, Shape, build, encode_glb};
    let params = MeshParams {
        shape: Shape::Cube,
        size_m: 1.0,
        detail: gaia_core::Detail::Low,
        seed: 1,
    };
    encode_glb(&build(&params), "cube").unwrap_or_else(|e| panic!("{e}"))
}
