//! The remote-task providers (Replicate, Meshy, fal) through the whole
//! engine, against local mock servers: the stored (verified) asset, the
//! job's provider and model, the ledger — and a Replicate job whose worker
//! process is killed after it checkpointed, resumed by the next engine
//! without paying twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use gaia::prelude::*;
use gaia::providers::fal::FalProvider;
use gaia::providers::http::{PollSchedule, ProviderSettings};
use gaia::providers::meshy::MeshyProvider;
use gaia::providers::procedural::mesh::{MeshParams, Shape, build, encode_glb};
use gaia::providers::replicate::ReplicateProvider;
use gaia::{
    AssetSource, AudioMode, AudioSpec, CostQuery, Detail, ModelFormat, ModelSpec, Operation,
    Provider, Route, RouteTarget, Secret,
};
use serde_json::{Value, json};
use support::*;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request as MockRequest, Respond, ResponseTemplate};

const KEY: &str = "e2e-remote-task-key";
const PREDICTION: &str = "rq7xk2m3s5dfh0cnzgjb8w9tpy";
const POLL_PATH: &str = "/v1/predictions/rq7xk2m3s5dfh0cnzgjb8w9tpy";

fn quick() -> PollSchedule {
    PollSchedule::constant(Duration::from_millis(5))
}

fn settings(name: &'static str, base_url: String) -> ProviderSettings {
    ProviderSettings::new(name, base_url, Some(Secret::new(KEY)))
}

fn replicate(uri: &str) -> Arc<dyn Provider> {
    let settings = settings("replicate", format!("{uri}/v1"));
    Arc::new(
        ReplicateProvider::new(&settings)
            .unwrap()
            .with_poll_schedule(quick()),
    )
}

/// An engine with one worker and Replicate on `server`.
async fn replicate_engine(dir: &std::path::Path, server: &MockServer) -> Engine {
    engine_with(dir, 1, vec![replicate(&server.uri())]).await
}

/// Music from Replicate's MusicGen.
fn musicgen() -> Request {
    routed(music(), "replicate", "meta/musicgen")
}

fn meshy(server: &MockServer) -> Arc<dyn Provider> {
    let provider = MeshyProvider::new(&settings("meshy", server.uri())).unwrap();
    Arc::new(provider.with_poll_schedule(quick()))
}

fn fal(server: &MockServer) -> Arc<dyn Provider> {
    let provider = FalProvider::new(&settings("fal", server.uri())).unwrap();
    Arc::new(provider.with_poll_schedule(quick()))
}

fn routed(spec: impl Into<Spec>, provider: &str, model: &str) -> Request {
    let mut request = Request::new(client(), spec);
    request.route = Route::Target(RouteTarget::new(provider, Some(model.into())));
    request
}

fn music() -> AudioSpec {
    let mut spec = AudioSpec::new("calm harp loop");
    spec.mode = AudioMode::Music;
    spec.duration_s = Some(2.0);
    spec
}

/// A real WAV: 8 kHz mono, `samples` long.
fn wav(samples: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for i in 0..samples {
        writer.write_sample(((i % 80) as i16 - 40) * 400).unwrap();
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

/// A real GLB: the procedural provider's cube.
fn glb() -> Vec<u8> {
    let params = MeshParams {
        shape: Shape::Cube,
        size_m: 1.0,
        detail: Detail::Low,
        seed: 1,
    };
    encode_glb(&build(&params), "cube").unwrap()
}

fn prediction(status: &str, extra: Value) -> Value {
    let mut body = json!({"id": PREDICTION, "status": status, "output": null, "logs": "",
                          "error": null, "metrics": {}});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

fn answer(status: &str, extra: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(prediction(status, extra))
}

/// `POST /v1/predictions` answers a starting prediction, exactly once.
async fn expect_one_prediction(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/predictions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(prediction("starting", json!({}))))
        .expect(1)
        .mount(server)
        .await;
}

/// Every poll of the prediction gets `response`.
async fn answer_polls(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn serve(server: &MockServer, at: &str, bytes: Vec<u8>, mime: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_raw(bytes, mime))
        .mount(server)
        .await;
}

async fn ledger(engine: &Engine) -> gaia::CostReport {
    let query = CostQuery {
        client_id: Some(client()),
        ..CostQuery::default()
    };
    engine.costs(&query).await.unwrap()
}

fn job_id_of(asset: &Asset) -> JobId {
    match &asset.source {
        AssetSource::Generated { job_id, .. } => *job_id,
        other => panic!("not generated: {other:?}"),
    }
}

async fn creates(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/predictions")
        .count()
}

#[tokio::test]
async fn replicate_music_is_stored_as_verified_audio_priced_by_predict_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/predictions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(
            json!({"input": {"prompt": "calm harp loop", "duration": 2}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(prediction("starting", json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/delivery/out.wav", server.uri());
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(Sequence::of(vec![
            answer("processing", json!({"logs": "generating\n"})),
            answer(
                "succeeded",
                json!({"output": url, "metrics": {"predict_time": 10.0}}),
            ),
        ]))
        .mount(&server)
        .await;
    let audio = wav(16_000);
    serve(&server, "/delivery/out.wav", audio.clone(), "audio/wav").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = replicate_engine(dir.path(), &server).await;

    let asset = engine.generate(musicgen()).await.unwrap();
    let Media::Audio {
        duration_s,
        sample_rate,
        channels,
        format,
    } = asset.media
    else {
        panic!("not audio: {:?}", asset.media)
    };
    assert_eq!(
        (sample_rate, channels, format),
        (8_000, 1, gaia::AudioFormat::Wav)
    );
    assert!((duration_s - 2.0).abs() < 1e-6, "{duration_s}");
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        audio.as_slice()
    );
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(job.provider.as_deref(), Some("replicate"));
    assert_eq!(job.model.as_deref(), Some("meta/musicgen"));
    // 10 s × $0.0014/s (A100 80GB).
    assert_eq!(job.cost_micros.micros(), 14_000);
    assert_eq!(asset.cost_micros.micros(), 14_000);
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (14_000, 1));
    let logs = engine.job_logs(job.id).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "generating"), "{logs:?}");
    engine.close().await.unwrap();
}

#[tokio::test]
async fn any_replicate_model_named_in_the_route_runs() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/models/someone/pixel-art/predictions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(prediction("starting", json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/delivery/a.png", server.uri());
    answer_polls(
        &server,
        answer(
            "succeeded",
            json!({"output": [url], "metrics": {"predict_time": 2.0}}),
        ),
    )
    .await;
    serve(&server, "/delivery/a.png", png(24, 16), "image/png").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = replicate_engine(dir.path(), &server).await;

    let spec = ImageSpec::new("a sword").size(24, 16);
    let asset = engine
        .generate(routed(spec, "replicate", "someone/pixel-art"))
        .await
        .unwrap();
    assert!(matches!(
        asset.media,
        Media::Image {
            width: 24,
            height: 16,
            ..
        }
    ));
    // 2 s at the H100 rate assumed for a model Gaia does not know.
    assert_eq!(asset.cost_micros.micros(), 3_050);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_failed_replicate_run_that_was_billed_lands_in_the_ledger() {
    let server = MockServer::start().await;
    expect_one_prediction(&server).await;
    answer_polls(
        &server,
        answer(
            "failed",
            json!({"error": "CUDA out of memory", "metrics": {"predict_time": 2.0}}),
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = replicate_engine(dir.path(), &server).await;
    let job = engine.submit(musicgen()).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.clone().unwrap();
    assert_eq!(error.code, gaia::ErrorCode::ProviderError);
    assert!(
        error.message.contains("CUDA out of memory"),
        "{}",
        error.message
    );
    assert_eq!(
        job.cost_micros.micros(),
        2_800,
        "2 s on an A100 were billed"
    );
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (2_800, 1));
    engine.close().await.unwrap();
}

/// The prediction succeeded and was billed, then its download failed: the
/// retry resumes the prediction (no second run) and the ledger holds its
/// cost once, while the asset still says what it cost.
#[tokio::test]
async fn a_resumed_prediction_billed_by_a_failed_attempt_is_charged_once() {
    let server = MockServer::start().await;
    expect_one_prediction(&server).await;
    let url = format!("{}/delivery/out.wav", server.uri());
    let succeeded = json!({"output": url, "metrics": {"predict_time": 10.0}});
    answer_polls(&server, answer("succeeded", succeeded)).await;
    let audio = wav(16_000);
    Mock::given(method("GET"))
        .and(path("/delivery/out.wav"))
        .respond_with(Sequence::of(vec![
            ResponseTemplate::new(503),
            ResponseTemplate::new(200).set_body_raw(audio.clone(), "audio/wav"),
        ]))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = replicate_engine(dir.path(), &server).await;

    let asset = engine.generate(musicgen()).await.unwrap();
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(job.attempts, 2, "the download was retried");
    assert_eq!(creates(&server).await, 1, "the prediction ran once");
    // 10 s × $0.0014/s (A100 80GB), once.
    assert_eq!(job.cost_micros.micros(), 14_000);
    assert_eq!(ledger(&engine).await.total_micros.micros(), 14_000);
    assert_eq!(asset.cost_micros.micros(), 14_000);
    engine.close().await.unwrap();
}

/// A running prediction canceled by the host is canceled on Replicate, and
/// the seconds it was billed for land in the ledger of the canceled job.
#[tokio::test]
async fn a_canceled_prediction_s_billed_seconds_are_charged() {
    let server = MockServer::start().await;
    expect_one_prediction(&server).await;
    answer_polls(&server, answer("processing", json!({}))).await;
    let billed = json!({"metrics": {"predict_time": 2.0}});
    Mock::given(method("POST"))
        .and(path(format!("{POLL_PATH}/cancel")))
        .respond_with(answer("canceled", billed))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = replicate_engine(dir.path(), &server).await;
    let mut events = engine.events();
    let job = engine.submit(musicgen()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while polls(&server).await == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the prediction is polled");

    engine.cancel(job.id).await.unwrap();
    loop {
        let event = events.next().await.unwrap();
        if event.job_id == Some(job.id) && matches!(event.kind, gaia::EventKind::JobCanceled {}) {
            break;
        }
    }
    let job = engine.job(job.id).await.unwrap();
    // 2 s × $0.0014/s (A100 80GB).
    assert_eq!(
        (job.status, job.cost_micros.micros()),
        (JobStatus::Canceled, 2_800)
    );
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (2_800, 1));
    engine.close().await.unwrap();
}

async fn polls(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path() == POLL_PATH)
        .count()
}

#[tokio::test]
async fn a_meshy_model_and_its_retexture_are_stored_as_verified_glb() {
    let server = MockServer::start().await;
    let base = server.uri();
    let succeeded = |id: &str, credits: u32| {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "status": "SUCCEEDED", "progress": 100, "consumed_credits": credits,
            "model_urls": {"glb": format!("{base}/assets/{id}.glb?Expires=1")},
            "thumbnail_url": format!("{base}/assets/{id}.png?Expires=1"),
            "task_error": {"message": ""}
        }))
    };
    Mock::given(method("POST"))
        .and(path("/openapi/v2/text-to-3d"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(
            json!({"mode": "preview", "prompt": "a barrel",
                                      "target_formats": ["glb"]}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"result": "prev-1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/openapi/v2/text-to-3d/prev-1"))
        .respond_with(Sequence::of(vec![
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "prev-1", "status": "IN_PROGRESS", "progress": 30})),
            succeeded("prev-1", 20),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/openapi/v1/retexture"))
        .and(body_partial_json(
            json!({"text_style_prompt": "rusty iron", "enable_pbr": true}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"result": "tex-1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/openapi/v1/retexture/tex-1"))
        .respond_with(succeeded("tex-1", 10))
        .mount(&server)
        .await;
    let (mesh, retextured) = (glb(), glb());
    serve(
        &server,
        "/assets/prev-1.glb",
        mesh.clone(),
        "model/gltf-binary",
    )
    .await;
    serve(
        &server,
        "/assets/tex-1.glb",
        retextured,
        "model/gltf-binary",
    )
    .await;
    serve(&server, "/assets/prev-1.png", png(8, 8), "image/png").await;
    serve(&server, "/assets/tex-1.png", png(8, 8), "image/png").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![meshy(&server)]).await;

    let spec = ModelSpec {
        prompt: "a barrel".into(),
        seed: None,
        count: 1,
        format: None,
        detail: None,
    };
    let asset = engine
        .generate(routed(spec, "meshy", "meshy-6-preview"))
        .await
        .unwrap();
    let Media::Model {
        format,
        vertex_count,
        triangle_count,
    } = asset.media
    else {
        panic!("not a model: {:?}", asset.media)
    };
    assert_eq!(format, ModelFormat::Glb);
    assert!(vertex_count > 0 && triangle_count > 0);
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        mesh.as_slice()
    );
    let thumbnail = asset.metadata.get("thumbnail").and_then(Value::as_str);
    assert!(thumbnail.is_some_and(|t| t.starts_with("data:image/png;base64,")));
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(
        (job.provider.as_deref(), job.model.as_deref()),
        (Some("meshy"), Some("meshy-6-preview"))
    );
    assert_eq!(job.cost_micros.micros(), 400_000, "20 credits × $0.02");

    let retexture = Operation::Retexture {
        prompt: "rusty iron".into(),
        enable_pbr: true,
    };
    let job = engine.derive(asset.id, retexture).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!(job.model.as_deref(), Some("meshy-retexture"));
    assert_eq!(job.cost_micros.micros(), 200_000, "10 credits × $0.02");
    let derived = engine.first_asset(&job).await.unwrap();
    assert!(matches!(
        derived.media,
        Media::Model {
            format: ModelFormat::Glb,
            ..
        }
    ));
    assert_eq!(
        derived.source,
        AssetSource::Derived {
            parent_id: asset.id,
            operation: "retexture".into()
        }
    );
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (600_000, 2));
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_fal_image_is_stored_as_a_verified_png_priced_per_megapixel() {
    let server = MockServer::start().await;
    let id = "5a8d52b1-7c0e-4f4e-9a51-0c3e2d1f9b77";
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/schnell"))
        .and(header("authorization", format!("Key {KEY}").as_str()))
        .and(body_partial_json(
            json!({"prompt": "moss", "image_size": {"width": 256, "height": 256}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"request_id": id})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/fal-ai/flux/requests/{id}/status")))
        .respond_with(Sequence::of(vec![
            ResponseTemplate::new(202)
                .set_body_json(json!({"status": "IN_QUEUE", "queue_position": 1})),
            ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETED", "logs": []})),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/fal-ai/flux/requests/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "images": [{"url": format!("{}/files/moss.png", server.uri()), "width": 256,
                        "height": 256, "content_type": "image/png"}],
            "has_nsfw_concepts": [false], "seed": 3
        })))
        .mount(&server)
        .await;
    let image = png(256, 256);
    serve(&server, "/files/moss.png", image.clone(), "image/png").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![fal(&server)]).await;

    let spec = ImageSpec::new("moss").size(256, 256);
    let asset = engine
        .generate(routed(spec, "fal", "fal-ai/flux/schnell"))
        .await
        .unwrap();
    assert!(matches!(
        asset.media,
        Media::Image {
            width: 256,
            height: 256,
            ..
        }
    ));
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        image.as_slice()
    );
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(
        (job.provider.as_deref(), job.model.as_deref()),
        (Some("fal"), Some("fal-ai/flux/schnell"))
    );
    // 256² px rounds up to one megapixel at $0.003.
    assert_eq!(job.cost_micros.micros(), 3_000);
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (3_000, 1));
    engine.close().await.unwrap();
}

/// Answers with these responses in order, then repeats the last one.
struct Sequence {
    responses: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Sequence {
    fn of(responses: Vec<ResponseTemplate>) -> Self {
        Self {
            responses,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _request: &MockRequest) -> ResponseTemplate {
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses[index.min(self.responses.len() - 1)].clone()
    }
}

// --- A Replicate job whose worker process is killed after it checkpointed.

const CHILD_DIR: &str = "GAIA_TEST_REMOTE_CRASH_DIR";
const CHILD_MOCK: &str = "GAIA_TEST_REMOTE_CRASH_MOCK";

/// Not a test on its own: the body of the child process the crash test
/// starts, with the environment naming its folder and the mock's URL.
#[tokio::test]
#[ignore = "run as a child process by the remote crash test"]
async fn replicate_crash_child_process() {
    let (Ok(dir), Ok(mock)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MOCK)) else {
        return;
    };
    let engine = engine_with(std::path::Path::new(&dir), 1, vec![replicate(&mock)]).await;
    let mut events = engine.events();
    let job = engine.submit(musicgen()).await.unwrap();
    // Progress comes from polls, which come after the checkpoint.
    let polling = async {
        while !matches!(
            events.next().await.map(|e| e.kind),
            Some(gaia::EventKind::JobProgress { .. })
        ) {}
    };
    tokio::time::timeout(Duration::from_secs(30), polling)
        .await
        .expect("the prediction was polled");
    println!("RUNNING {}", job.id);
    std::future::pending::<()>().await;
}

/// Answers polls with a running prediction until `done`, then with a
/// succeeded one.
struct RunningUntil {
    done: Arc<AtomicBool>,
    output: String,
}

impl Respond for RunningUntil {
    fn respond(&self, _request: &MockRequest) -> ResponseTemplate {
        if self.done.load(Ordering::SeqCst) {
            answer(
                "succeeded",
                json!({"output": self.output, "metrics": {"predict_time": 5.0}}),
            )
        } else {
            answer("processing", json!({"logs": " 10%|█         | 1/10\r"}))
        }
    }
}

#[tokio::test]
async fn a_killed_worker_s_replicate_job_resumes_its_prediction_and_pays_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/predictions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(prediction("starting", json!({}))))
        .mount(&server)
        .await;
    let done = Arc::new(AtomicBool::new(false));
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(RunningUntil {
            done: done.clone(),
            output: format!("{}/delivery/out.wav", server.uri()),
        })
        .mount(&server)
        .await;
    let audio = wav(8_000);
    serve(&server, "/delivery/out.wav", audio.clone(), "audio/wav").await;

    let dir = tempfile::tempdir().unwrap();
    let job_id = run_and_kill_child(dir.path(), &server.uri());
    assert_eq!(
        creates(&server).await,
        1,
        "the child created the prediction"
    );
    done.store(true, Ordering::SeqCst);

    let engine = replicate_engine(dir.path(), &server).await;
    let job = tokio::time::timeout(Duration::from_secs(30), engine.wait(job_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!(job.attempts, 2, "the killed attempt counts");
    assert_eq!(
        creates(&server).await,
        1,
        "the prediction was resumed, not created again"
    );
    let asset = engine.first_asset(&job).await.unwrap();
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        audio.as_slice()
    );
    // 5 s × $0.0014/s, once.
    assert_eq!(job.cost_micros.micros(), 7_000);
    let report = ledger(&engine).await;
    assert_eq!((report.total_micros.micros(), report.entries), (7_000, 1));
    engine.close().await.unwrap();
}

/// Starts the child, waits until its job polls the prediction, and kills
/// it with SIGKILL (no graceful shutdown: the lease stays).
fn run_and_kill_child(dir: &std::path::Path, mock: &str) -> JobId {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "replicate_crash_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_MOCK, mock)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut job_id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some((_, id)) = line.split_once("RUNNING ") {
            job_id = Some(JobId::parse(id.trim()).unwrap());
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    job_id.expect("the child reported its running job")
}
