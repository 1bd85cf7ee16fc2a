//! The Replicate provider against a local mock of its API and of its file
//! delivery host.

mod http_support;
mod remote_support;

use std::time::Duration;

use gaia_core::{
    AudioFormat, AudioMode, AudioSpec, ErrorCode, ImageSpec, InputRole, Money, Provider, Secret,
    VideoSpec,
};
use gaia_providers::http::ProviderSettings;
use gaia_providers::replicate::models::{FLUX_SCHNELL, MINIMAX_VIDEO, MUSICGEN, MUSICGEN_VERSION};
use gaia_providers::replicate::{self, ReplicateProvider};
use http_support::{SECRET_KEY, call, failure, image_input, png, serve_chunked};
use remote_support::{
    AfterCheckpoint, CancelOnRequest, Sequence, quick_polls, recording, requests_to, sent_auth_to,
    wav,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ID: &str = "ufawqhfynnddngldkgtslldrkq";
const FLUX_PATH: &str = "/v1/models/black-forest-labs/flux-schnell/predictions";
const POLL_PATH: &str = "/v1/predictions/ufawqhfynnddngldkgtslldrkq";
const CANCEL_PATH: &str = "/v1/predictions/ufawqhfynnddngldkgtslldrkq/cancel";

fn provider_with(
    server: &MockServer,
    settings: impl FnOnce(&mut ProviderSettings),
) -> ReplicateProvider {
    let mut config = ProviderSettings::new(
        replicate::NAME,
        format!("{}/v1", server.uri()),
        Some(Secret::new(SECRET_KEY)),
    );
    settings(&mut config);
    ReplicateProvider::new(&config)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_poll_schedule(quick_polls())
}

fn provider(server: &MockServer) -> ReplicateProvider {
    provider_with(server, |_| {})
}

fn prediction(status: &str, extra: Value) -> Value {
    let mut body = json!({
        "id": ID, "model": "black-forest-labs/flux-schnell", "version": "hidden",
        "input": {"prompt": "moss"}, "output": null, "logs": "", "error": null,
        "status": status, "source": "api", "data_removed": false,
        "created_at": "2026-11-24T00:00:00.000Z",
        "urls": {"get": format!("https://api.replicate.com{POLL_PATH}"),
                 "cancel": format!("https://api.replicate.com{CANCEL_PATH}")},
        "metrics": {}
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

fn answer(status: &str, extra: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(prediction(status, extra))
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(prediction("starting", json!({})))
}

async fn mount_create(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn mount_polls(server: &MockServer, responses: Vec<ResponseTemplate>) {
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .respond_with(Sequence::new(responses))
        .mount(server)
        .await;
}

async fn mount_file(server: &MockServer, at: &str, bytes: Vec<u8>, mime: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_raw(bytes, mime))
        .mount(server)
        .await;
}

fn music() -> AudioSpec {
    let mut spec = AudioSpec::new("calm harp loop");
    spec.mode = AudioMode::Music;
    spec
}

#[tokio::test]
async fn a_prediction_is_checkpointed_then_polled_to_its_outputs() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path(FLUX_PATH))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .and(body_partial_json(json!({"input": {
            "prompt": "mossy stone", "aspect_ratio": "16:9", "num_outputs": 2,
            "output_format": "png", "seed": 7}})))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    let files = json!([
        format!("{}/delivery/a.png", server.uri()),
        format!("{}/delivery/b.png", server.uri())
    ]);
    let polls = Sequence::new(vec![
        answer("starting", json!({})),
        answer("processing", json!({"logs": "loading weights\n"})),
        answer(
            "processing",
            json!({"logs": "loading weights\n 50%|█████     | 2/4 [00:01<00:01]\r"}),
        ),
        answer(
            "succeeded",
            json!({"output": files,
            "logs": "loading weights\n 50%|█████     | 2/4\r100%|██████████| 4/4\ndone\n",
            "metrics": {"predict_time": 1.4, "total_time": 3.0}}),
        ),
    ]);
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(AfterCheckpoint {
            recorder: run.recorder.clone(),
            then: polls,
        })
        .mount(&server)
        .await;
    let (a, b) = (png(16, 9), png(32, 18));
    mount_file(&server, "/delivery/a.png", a.clone(), "image/png").await;
    mount_file(&server, "/delivery/b.png", b.clone(), "image/png").await;

    let spec = ImageSpec::new("mossy stone")
        .size(1920, 1080)
        .count(2)
        .seed(7);
    let generation = provider(&server)
        .generate(&call(FLUX_SCHNELL, spec), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let bytes: Vec<Vec<u8>> = generation
        .outputs
        .iter()
        .map(|o| o.read_to_vec().unwrap_or_default())
        .collect();
    assert_eq!(bytes, [a, b]);
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(6_000)),
        "2 × $0.003"
    );
    assert_eq!(run.cx.reported_cost(), Some(Money::from_micros(6_000)));
    assert_eq!(run.recorder.checkpoints(), [ID]);
    let logs = run.recorder.logs();
    assert!(logs.iter().any(|l| l == "loading weights"), "{logs:?}");
    assert_eq!(
        logs.iter().filter(|l| *l == "loading weights").count(),
        1,
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l == "done"), "{logs:?}");
    assert!(
        !logs.iter().any(|l| l.contains("%|")),
        "bars are progress: {logs:?}"
    );
    let progress = run.recorder.progress();
    assert!(progress.contains(&50), "{progress:?}");
    assert!(progress.iter().all(|p| *p < 100), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(
        !sent_auth_to(&server, "/delivery/a.png").await,
        "keys stay off storage hosts"
    );
}

#[tokio::test]
async fn a_model_pinned_by_version_is_created_with_its_version_and_billed_by_time() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/v1/predictions"))
        .and(body_partial_json(
            json!({"version": MUSICGEN_VERSION, "input": {
            "prompt": "calm harp loop", "duration": 8, "model_version": "stereo-large",
            "output_format": "wav"}}),
        ))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/delivery/out.wav", server.uri());
    mount_polls(
        &server,
        vec![answer(
            "succeeded",
            json!({"output": url, "metrics": {"predict_time": 31.25}}),
        )],
    )
    .await;
    let audio = wav(800);
    mount_file(&server, "/delivery/out.wav", audio.clone(), "audio/wav").await;

    let generation = provider(&server)
        .generate(&call(MUSICGEN, music()), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let staged = generation
        .outputs
        .first()
        .map(|o| o.read_to_vec().unwrap_or_default());
    assert_eq!(staged, Some(audio));
    // 31.25 s × $0.0014/s (A100 80GB).
    assert_eq!(generation.cost, Some(Money::from_micros(43_750)));
}

#[tokio::test]
async fn any_model_runs_by_owner_and_name_with_a_generic_input() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        "/v1/models/someone/pixel-art/predictions",
        created(),
    )
    .await;
    let inline = format!(
        "data:image/png;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png(4, 4))
    );
    mount_polls(
        &server,
        vec![answer(
            "succeeded",
            json!({"output": [inline], "metrics": {"predict_time": 2.0}}),
        )],
    )
    .await;
    let provider = provider(&server);
    let spec = ImageSpec::new("a sword").size(64, 64);
    assert!(
        provider
            .open_model("someone/pixel-art", gaia_core::AssetKind::Image)
            .is_some()
    );
    let generation = provider
        .generate(&call("someone/pixel-art", spec), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let staged = generation
        .outputs
        .first()
        .map(|o| o.read_to_vec().unwrap_or_default());
    assert_eq!(staged, Some(png(4, 4)));
    // 2 s at the H100 rate assumed for models Gaia does not know.
    assert_eq!(generation.cost, Some(Money::from_micros(3_050)));
    let sent = server.received_requests().await.unwrap_or_default();
    let body: Value = sent
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or_default();
    assert_eq!(
        body,
        json!({"input": {"prompt": "a sword", "width": 64, "height": 64, "num_outputs": 1}})
    );
}

#[tokio::test]
async fn a_reference_image_is_sent_as_the_first_frame() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/v1/models/minimax/video-01/predictions"))
        .and(body_partial_json(
            json!({"input": {"prompt": "waves", "prompt_optimizer": true}}),
        ))
        .respond_with(created())
        .mount(&server)
        .await;
    mount_polls(&server, vec![answer("canceled", json!({}))]).await;
    let mut request = call(
        MINIMAX_VIDEO,
        VideoSpec {
            prompt: "waves".into(),
            seed: None,
            count: 1,
            width: None,
            height: None,
            duration_s: None,
            format: None,
            reference_asset_id: None,
        },
    );
    request
        .inputs
        .push(image_input(run.dir.path(), InputRole::Reference, 8, 8));
    let error = failure(provider(&server).generate(&request, &run.cx).await);
    assert!(
        error.to_string().contains("canceled on Replicate"),
        "{error}"
    );
    let sent = server.received_requests().await.unwrap_or_default();
    let body: Value = sent
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or_default();
    let frame = body["input"]["first_frame_image"]
        .as_str()
        .unwrap_or_default();
    assert!(
        frame.starts_with("data:image/png;base64,iVBOR"),
        "{frame:.40}"
    );
}

#[tokio::test]
async fn a_refused_key_is_a_provider_error_that_never_shows_the_key() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        FLUX_PATH,
        ResponseTemplate::new(401).set_body_json(json!({
            "title": "Unauthenticated", "detail": format!("Invalid token {SECRET_KEY}"),
            "status": 401})),
    )
    .await;
    let error = failure(
        provider(&server)
            .generate(&call(FLUX_SCHNELL, ImageSpec::new("moss")), &run.cx)
            .await,
    );
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    let text = error.to_string();
    assert!(
        text.contains("refused") && !text.contains(SECRET_KEY),
        "{text}"
    );
    assert!(run.recorder.checkpoints().is_empty());
}

#[tokio::test]
async fn exhausted_credit_is_not_retried() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        FLUX_PATH,
        ResponseTemplate::new(402).set_body_json(json!({
            "title": "Insufficient credit", "detail": "You have insufficient credit to run this model.",
            "status": 402})),
    )
    .await;
    let error = failure(
        provider(&server)
            .generate(&call(FLUX_SCHNELL, ImageSpec::new("moss")), &run.cx)
            .await,
    );
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(error.to_string().contains("insufficient credit"), "{error}");
}

#[tokio::test]
async fn rate_limits_carry_the_wait_from_the_header_or_the_text() {
    let server = MockServer::start().await;
    let run = recording();
    let throttled = |retry_after: Option<&str>| {
        let response = ResponseTemplate::new(429).set_body_json(
            json!({"detail": "Request was throttled. Your rate limit resets in ~30s.", "status": 429}),
        );
        match retry_after {
            Some(value) => response.insert_header("retry-after", value),
            None => response,
        }
    };
    Mock::given(method("POST"))
        .and(path(FLUX_PATH))
        .respond_with(Sequence::new(vec![throttled(Some("7")), throttled(None)]))
        .mount(&server)
        .await;
    let provider = provider(&server);
    let request = call(FLUX_SCHNELL, ImageSpec::new("moss"));
    for expected in [7, 30] {
        let error = failure(provider.generate(&request, &run.cx).await);
        assert_eq!(error.code(), ErrorCode::ProviderRateLimited);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(expected)));
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn a_failed_run_still_records_the_seconds_it_was_billed() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(&server, "/v1/predictions", created()).await;
    mount_polls(
        &server,
        vec![
            answer("processing", json!({"logs": "generating\n"})),
            answer(
                "failed",
                json!({"error": "CUDA out of memory", "logs": "generating\nboom",
                                    "metrics": {"predict_time": 2.0}}),
            ),
        ],
    )
    .await;
    let error = failure(
        provider(&server)
            .generate(&call(MUSICGEN, music()), &run.cx)
            .await,
    );
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(error.to_string().contains("CUDA out of memory"), "{error}");
    assert_eq!(
        run.cx.reported_cost(),
        Some(Money::from_micros(2_800)),
        "2 s on an A100"
    );
    assert!(
        run.recorder.logs().iter().any(|l| l == "boom"),
        "the last line is kept"
    );
}

#[tokio::test]
async fn a_moderated_prediction_is_rejected_with_the_reason_and_unbilled() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(&server, FLUX_PATH, created()).await;
    mount_polls(
        &server,
        vec![answer(
            "failed",
            json!({
            "error": "NSFW content detected. Try running it again, or try a different prompt.",
            "metrics": {"predict_time": 0.8}}),
        )],
    )
    .await;
    let error = failure(
        provider(&server)
            .generate(&call(FLUX_SCHNELL, ImageSpec::new("moss")), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderRejected);
    assert!(
        error.to_string().contains("NSFW content detected"),
        "{error}"
    );
    assert_eq!(
        run.cx.reported_cost(),
        None,
        "per-output models bill outputs only"
    );
}

#[tokio::test]
async fn canceling_the_job_cancels_the_prediction_and_stops_polling() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(&server, "/v1/predictions", created()).await;
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(CancelOnRequest::new(
            answer("processing", json!({"logs": "step\n"})),
            3,
            &run.cx,
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CANCEL_PATH))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .respond_with(answer(
            "canceled",
            json!({"metrics": {"predict_time": 1.0}}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let error = failure(
        provider(&server)
            .generate(&call(MUSICGEN, music()), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    let polls = requests_to(&server, "GET", POLL_PATH).await;
    assert_eq!(polls, 3, "the poll that saw the cancellation was the last");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        requests_to(&server, "GET", POLL_PATH).await,
        polls,
        "polling stopped"
    );
    assert_eq!(
        run.cx.reported_cost(),
        Some(Money::from_micros(1_400)),
        "the second it ran is billed"
    );
}

#[tokio::test]
async fn malformed_json_names_the_provider_and_the_field() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        FLUX_PATH,
        ResponseTemplate::new(201).set_body_raw("{\"id\": \"abc\", ", "application/json"),
    )
    .await;
    let provider = provider(&server);
    let request = call(FLUX_SCHNELL, ImageSpec::new("moss"));
    let error = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(
        error.to_string().starts_with("replicate: malformed JSON"),
        "{error}"
    );

    let server = MockServer::start().await;
    mount_polls(
        &server,
        vec![ResponseTemplate::new(200).set_body_json(json!({"id": ID, "status": "exploded"}))],
    )
    .await;
    let error = failure(super_resume(&server, &request, &run).await);
    let text = error.to_string();
    assert!(
        text.contains("replicate") && text.contains("status"),
        "{text}"
    );
}

async fn super_resume(
    server: &MockServer,
    request: &gaia_core::Call,
    run: &remote_support::Recording,
) -> gaia_core::Result<gaia_core::Generation> {
    provider(server).resume(request, ID, &run.cx).await
}

#[tokio::test]
async fn an_expired_output_url_fails_the_job_clearly() {
    let server = MockServer::start().await;
    let run = recording();
    let url = format!("{}/delivery/gone.png?sig=abc", server.uri());
    mount_polls(&server, vec![answer("succeeded", json!({"output": [url]}))]).await;
    Mock::given(method("GET"))
        .and(path("/delivery/gone.png"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("AccessDenied: Request has expired"),
        )
        .mount(&server)
        .await;
    let request = call(FLUX_SCHNELL, ImageSpec::new("moss"));
    let error = failure(super_resume(&server, &request, &run).await);
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    let text = error.to_string();
    assert!(
        text.contains("expired") && text.contains("gone.png"),
        "{text}"
    );
    assert!(
        !text.contains("sig=abc"),
        "signatures stay out of errors: {text}"
    );
    assert_eq!(run.staged_files(), 0);
}

#[tokio::test]
async fn a_large_output_streams_to_staging_and_the_cap_holds() {
    let size = 12 * 1024 * 1024;
    let host = serve_chunked(size, "video/mp4").await;
    let server = MockServer::start().await;
    let url = format!("{host}/big.mp4");
    mount_polls(&server, vec![answer("succeeded", json!({"output": url}))]).await;
    let request = call(
        MINIMAX_VIDEO,
        VideoSpec {
            prompt: "waves".into(),
            seed: None,
            count: 1,
            width: None,
            height: None,
            duration_s: None,
            format: None,
            reference_asset_id: None,
        },
    );

    let run = recording();
    let generation = super_resume(&server, &request, &run)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let output = generation
        .outputs
        .first()
        .unwrap_or_else(|| panic!("no output"));
    assert_eq!(output.size(), size as u64);
    let written = output.read_to_vec().unwrap_or_default();
    assert!(written.len() == size && written.iter().all(|b| *b == b'x'));
    assert_eq!(generation.cost, Some(Money::from_micros(500_000)));

    let run = recording();
    let capped = provider_with(&server, |s| s.max_download_bytes = 1024 * 1024);
    let error = failure(capped.resume(&request, ID, &run.cx).await);
    assert!(error.to_string().contains("download cap"), "{error}");
    assert_eq!(run.staged_files(), 0, "the partial file is removed");
}

#[tokio::test]
async fn resume_polls_the_existing_prediction_and_never_creates_one() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .respond_with(created())
        .expect(0)
        .mount(&server)
        .await;
    let url = format!("{}/delivery/out.wav", server.uri());
    mount_polls(
        &server,
        vec![
            ResponseTemplate::new(503).set_body_json(json!({"detail": "busy"})),
            answer("processing", json!({})),
            answer(
                "succeeded",
                json!({"output": url, "metrics": {"predict_time": 10.0}}),
            ),
        ],
    )
    .await;
    let audio = wav(400);
    mount_file(&server, "/delivery/out.wav", audio.clone(), "audio/wav").await;

    let generation = provider(&server)
        .resume(&call(MUSICGEN, music()), ID, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let staged = generation
        .outputs
        .first()
        .map(|o| o.read_to_vec().unwrap_or_default());
    assert_eq!(staged, Some(audio));
    assert_eq!(generation.cost, Some(Money::from_micros(14_000)));
    assert!(
        run.recorder.checkpoints().is_empty(),
        "the checkpoint already exists"
    );
    assert!(
        run.recorder
            .logs()
            .iter()
            .any(|l| l.contains("polling failed")),
        "the 503 was ridden out: {:?}",
        run.recorder.logs()
    );
}

#[tokio::test]
async fn specs_a_model_cannot_take_never_reach_the_network() {
    let server = MockServer::start().await;
    let run = recording();
    let mut spec = music();
    spec.format = Some(AudioFormat::Flac);
    let error = failure(
        provider(&server)
            .generate(&call(MUSICGEN, spec), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    let error = failure(
        provider(&server)
            .generate(&call("not/a/model", ImageSpec::new("moss")), &run.cx)
            .await,
    );
    assert!(error.to_string().contains("route"), "{error}");
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_shutdown_leaves_the_prediction_running_for_the_resume() {
    let server = MockServer::start().await;
    let run = recording();
    run.recorder.stop_only();
    mount_create(&server, "/v1/predictions", created()).await;
    Mock::given(method("GET"))
        .and(path(POLL_PATH))
        .respond_with(CancelOnRequest::new(
            answer("processing", json!({"logs": "step\n"})),
            2,
            &run.cx,
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CANCEL_PATH))
        .respond_with(answer("canceled", json!({})))
        .expect(0)
        .mount(&server)
        .await;

    let error = failure(
        provider(&server)
            .generate(&call(MUSICGEN, music()), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    assert_eq!(
        run.recorder.checkpoints().len(),
        1,
        "the prediction stays resumable"
    );
    assert_eq!(requests_to(&server, "POST", CANCEL_PATH).await, 0);
}
