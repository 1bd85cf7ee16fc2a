//! The fal provider against a local mock of its queue API and of its CDN.

mod http_support;
mod remote_support;

use std::time::Duration;

use gaia_core::{ErrorCode, ImageSpec, InputRole, Money, Provider, Secret, VideoSpec};
use gaia_providers::fal::models::{FLUX_DEV, FLUX_SCHNELL, KLING_VIDEO};
use gaia_providers::fal::{self, FalProvider};
use gaia_providers::http::ProviderSettings;
use http_support::{SECRET_KEY, call, failure, image_input, png, serve_chunked};
use remote_support::{
    AfterCheckpoint, CancelOnRequest, Sequence, quick_polls, recording, requests_to, sent_auth_to,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ID: &str = "80e732af-660e-45cd-bd63-580e4f2a94cc";
const STATUS_PATH: &str = "/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc/status";
const RESULT_PATH: &str = "/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc";
const CANCEL_PATH: &str = "/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc/cancel";

fn provider(server: &MockServer) -> FalProvider {
    let settings = ProviderSettings::new(fal::NAME, server.uri(), Some(Secret::new(SECRET_KEY)));
    FalProvider::new(&settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_poll_schedule(quick_polls())
}

fn key() -> String {
    format!("Key {SECRET_KEY}")
}

fn submitted(server: &MockServer, app: &str) -> ResponseTemplate {
    let base = format!("{}/{app}/requests/{ID}", server.uri());
    ResponseTemplate::new(200).set_body_json(json!({
        "request_id": ID, "gateway_request_id": ID, "status": "IN_QUEUE", "queue_position": 0,
        "response_url": base, "status_url": format!("{base}/status"),
        "cancel_url": format!("{base}/cancel")
    }))
}

fn status(state: &str, extra: Value) -> ResponseTemplate {
    let mut body = json!({"status": state, "response_url": "https://queue.fal.run/x"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let code = if state == "COMPLETED" { 200 } else { 202 };
    ResponseTemplate::new(code).set_body_json(body)
}

fn log(message: &str) -> Value {
    json!({"message": message, "level": "INFO", "source": "user",
           "timestamp": "2026-11-24T00:00:00.000Z"})
}

async fn mount_status(server: &MockServer, at: &str, responses: Vec<ResponseTemplate>) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(query_param("logs", "1"))
        .and(header("authorization", key().as_str()))
        .respond_with(Sequence::new(responses))
        .mount(server)
        .await;
}

async fn mount_result(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(header("authorization", key().as_str()))
        .respond_with(response)
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

fn images(server: &MockServer, sizes: &[(u32, u32)], nsfw: &[bool]) -> ResponseTemplate {
    let files: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(i, (w, h))| {
            json!({"url": format!("{}/files/{i}.png", server.uri()),
                                  "width": w, "height": h, "content_type": "image/png"})
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "images": files, "has_nsfw_concepts": nsfw, "seed": 7, "prompt": "moss",
        "timings": {"inference": 0.3}
    }))
}

fn video(duration: Option<f64>) -> VideoSpec {
    VideoSpec {
        prompt: "waves".into(),
        seed: None,
        count: 1,
        width: None,
        height: None,
        duration_s: duration,
        format: None,
        reference_asset_id: None,
    }
}

#[tokio::test]
async fn a_request_is_checkpointed_then_polled_through_the_queue_to_its_images() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/dev"))
        .and(header("authorization", key().as_str()))
        .and(body_partial_json(json!({
            "prompt": "moss", "image_size": {"width": 512, "height": 512}, "num_images": 2,
            "output_format": "png", "enable_safety_checker": true, "seed": 7})))
        .respond_with(submitted(&server, "fal-ai/flux"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .and(query_param("logs", "1"))
        .respond_with(AfterCheckpoint {
            recorder: run.recorder.clone(),
            then: Sequence::new(vec![
                status("IN_QUEUE", json!({"queue_position": 3})),
                status("IN_QUEUE", json!({"queue_position": 3})),
                status("IN_QUEUE", json!({"queue_position": 0})),
                status("IN_PROGRESS", json!({"logs": [log("loading")]})),
                status(
                    "IN_PROGRESS",
                    json!({"logs": [log("loading"), log("step 14/28")]}),
                ),
                status(
                    "COMPLETED",
                    json!({"logs": [log("loading"), log("step 14/28"), log("done")],
                                           "metrics": {"inference_time": 1.2}}),
                ),
            ]),
        })
        .mount(&server)
        .await;
    mount_result(
        &server,
        RESULT_PATH,
        images(&server, &[(512, 512), (512, 512)], &[false, false]),
    )
    .await;
    let (a, b) = (png(4, 4), png(5, 5));
    mount_file(&server, "/files/0.png", a.clone(), "image/png").await;
    mount_file(&server, "/files/1.png", b.clone(), "image/png").await;

    let spec = ImageSpec::new("moss").size(512, 512).count(2).seed(7);
    let generation = provider(&server)
        .generate(&call(FLUX_DEV, spec), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let bytes: Vec<Vec<u8>> = generation
        .outputs
        .iter()
        .map(|o| o.read_to_vec().unwrap_or_default())
        .collect();
    assert_eq!(bytes, [a, b]);
    // 2 × 512² px, each rounded up to one megapixel at $0.025.
    assert_eq!(generation.cost, Some(Money::from_micros(50_000)));
    assert_eq!(run.cx.reported_cost(), generation.cost);
    assert_eq!(run.recorder.checkpoints(), [ID]);
    let logs = run.recorder.logs();
    let queue: Vec<&String> = logs.iter().filter(|l| l.starts_with("queued")).collect();
    assert_eq!(
        queue,
        ["queued on fal at position 3", "queued on fal at position 0"]
    );
    for line in ["loading", "step 14/28", "done"] {
        assert_eq!(
            logs.iter().filter(|l| *l == line).count(),
            1,
            "{line}: {logs:?}"
        );
    }
    assert!(run.recorder.progress().iter().all(|p| *p < 100));
    assert!(
        !sent_auth_to(&server, "/files/0.png").await,
        "keys stay off the CDN"
    );
}

#[tokio::test]
async fn video_uses_kling_and_a_reference_image_switches_to_image_to_video() {
    let server = MockServer::start().await;
    let run = recording();
    let app = "fal-ai/kling-video";
    Mock::given(method("POST"))
        .and(path("/fal-ai/kling-video/v2.5-turbo/pro/image-to-video"))
        .and(body_partial_json(
            json!({"prompt": "waves", "duration": "10", "aspect_ratio": "16:9"}),
        ))
        .respond_with(submitted(&server, app))
        .expect(1)
        .mount(&server)
        .await;
    let status_path = format!("/{app}/requests/{ID}/status");
    mount_status(&server, &status_path, vec![status("COMPLETED", json!({}))]).await;
    mount_result(
        &server,
        &format!("/{app}/requests/{ID}"),
        ResponseTemplate::new(200).set_body_json(json!({"video": {
            "url": format!("{}/files/v.mp4", server.uri()), "content_type": "video/mp4",
            "file_size": 4}})),
    )
    .await;
    mount_file(
        &server,
        "/files/v.mp4",
        b"\0\0\0\x18ftypmp42".to_vec(),
        "video/mp4",
    )
    .await;

    let mut request = call(KLING_VIDEO, video(Some(10.0)));
    request
        .inputs
        .push(image_input(run.dir.path(), InputRole::Reference, 8, 8));
    let generation = provider(&server)
        .generate(&request, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(700_000)),
        "10 s × $0.07"
    );
    let sent = server.received_requests().await.unwrap_or_default();
    let body: Value = sent
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or_default();
    let image = body["image_url"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("data:image/png;base64,iVBOR"),
        "{image:.40}"
    );
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_never_shown() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/schnell"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "detail": format!("Invalid key: {SECRET_KEY}")})))
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .generate(
                &call(FLUX_SCHNELL, ImageSpec::new("moss").size(512, 512)),
                &run.cx,
            )
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
}

#[tokio::test]
async fn exhausted_balance_and_rate_limits_map_to_their_codes() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/schnell"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(402).set_body_json(json!({"detail": "Exhausted balance"})),
            ResponseTemplate::new(429)
                .insert_header("retry-after", "4")
                .set_body_json(json!({"detail": "Too many concurrent requests"})),
        ]))
        .mount(&server)
        .await;
    let provider = provider(&server);
    let request = call(FLUX_SCHNELL, ImageSpec::new("moss").size(512, 512));
    let broke = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(
        (broke.code(), broke.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    let limited = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(limited.code(), ErrorCode::ProviderRateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(4)));
}

#[tokio::test]
async fn a_flagged_image_is_rejected_and_a_failed_request_reports_its_error() {
    let server = MockServer::start().await;
    let run = recording();
    mount_status(&server, STATUS_PATH, vec![status("COMPLETED", json!({}))]).await;
    Mock::given(method("GET"))
        .and(path(RESULT_PATH))
        .respond_with(Sequence::new(vec![
            images(&server, &[(512, 512)], &[true]),
            ResponseTemplate::new(422).set_body_json(json!({"detail": [
                {"loc": ["body", "prompt"], "msg": "Prompt flagged as NSFW content", "type": "content_policy_violation"}]})),
            ResponseTemplate::new(500).set_body_json(json!({"detail": "Internal error"})),
        ]))
        .mount(&server)
        .await;
    let provider = provider(&server);
    let request = call(FLUX_DEV, ImageSpec::new("moss").size(512, 512));
    let flagged = failure(provider.resume(&request, ID, &run.cx).await);
    assert_eq!(flagged.code(), ErrorCode::ProviderRejected);
    assert!(
        flagged.to_string().contains("has_nsfw_concepts"),
        "{flagged}"
    );
    let moderated = failure(provider.resume(&request, ID, &run.cx).await);
    assert_eq!(moderated.code(), ErrorCode::ProviderRejected);
    assert!(
        moderated.to_string().contains("flagged as NSFW"),
        "{moderated}"
    );
    let broken = failure(provider.resume(&request, ID, &run.cx).await);
    assert_eq!(
        (broken.code(), broken.is_retryable()),
        (ErrorCode::ProviderError, true)
    );
    assert_eq!(
        run.cx.reported_cost(),
        None,
        "fal bills successful outputs only"
    );
}

#[tokio::test]
async fn canceling_the_job_cancels_the_request_and_stops_polling() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/dev"))
        .respond_with(submitted(&server, "fal-ai/flux"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .respond_with(CancelOnRequest::new(
            status("IN_QUEUE", json!({"queue_position": 5})),
            2,
            &run.cx,
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(CANCEL_PATH))
        .and(header("authorization", key().as_str()))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"status": "CANCELLATION_REQUESTED"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .generate(
                &call(FLUX_DEV, ImageSpec::new("moss").size(512, 512)),
                &run.cx,
            )
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    let polls = requests_to(&server, "GET", STATUS_PATH).await;
    assert_eq!(polls, 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        requests_to(&server, "GET", STATUS_PATH).await,
        polls,
        "polling stopped"
    );
}

#[tokio::test]
async fn malformed_json_names_the_provider_and_the_field() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/dev"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"request_id\": ", "application/json"),
        )
        .mount(&server)
        .await;
    mount_status(&server, STATUS_PATH, vec![status("COMPLETED", json!({}))]).await;
    mount_result(
        &server,
        RESULT_PATH,
        ResponseTemplate::new(200).set_body_json(json!({"images": [{"width": 5}]})),
    )
    .await;
    let provider = provider(&server);
    let request = call(FLUX_DEV, ImageSpec::new("moss").size(512, 512));
    let error = failure(provider.generate(&request, &run.cx).await);
    assert!(
        error.to_string().starts_with("fal: malformed JSON"),
        "{error}"
    );
    let error = failure(provider.resume(&request, ID, &run.cx).await);
    let text = error.to_string();
    assert!(
        text.starts_with("fal: ") && text.contains("images[0]"),
        "{text}"
    );
}

#[tokio::test]
async fn an_expired_cdn_url_fails_the_job_clearly() {
    let server = MockServer::start().await;
    let run = recording();
    mount_status(&server, STATUS_PATH, vec![status("COMPLETED", json!({}))]).await;
    mount_result(
        &server,
        RESULT_PATH,
        images(&server, &[(512, 512)], &[false]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/files/0.png"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .resume(
                &call(FLUX_DEV, ImageSpec::new("moss").size(512, 512)),
                ID,
                &run.cx,
            )
            .await,
    );
    assert_eq!(
        (error.code(), error.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(
        error.to_string().contains("expired or is unreachable"),
        "{error}"
    );
    assert_eq!(run.staged_files(), 0);
}

#[tokio::test]
async fn a_large_video_streams_to_staging() {
    let size = 9 * 1024 * 1024;
    let host = serve_chunked(size, "video/mp4").await;
    let server = MockServer::start().await;
    let run = recording();
    let app = "fal-ai/kling-video";
    mount_status(
        &server,
        &format!("/{app}/requests/{ID}/status"),
        vec![status("COMPLETED", json!({}))],
    )
    .await;
    mount_result(
        &server,
        &format!("/{app}/requests/{ID}"),
        ResponseTemplate::new(200)
            .set_body_json(json!({"video": {"url": format!("{host}/v.mp4")}})),
    )
    .await;
    let generation = provider(&server)
        .resume(&call(KLING_VIDEO, video(None)), ID, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let output = generation
        .outputs
        .first()
        .unwrap_or_else(|| panic!("no output"));
    assert_eq!(output.size(), size as u64);
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(350_000)),
        "5 s × $0.07"
    );
}

#[tokio::test]
async fn resume_polls_the_existing_request_and_never_submits() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    mount_status(
        &server,
        STATUS_PATH,
        vec![
            ResponseTemplate::new(502),
            status("IN_PROGRESS", json!({"logs": [log("almost")]})),
            status("COMPLETED", json!({"logs": [log("almost")]})),
        ],
    )
    .await;
    mount_result(
        &server,
        RESULT_PATH,
        images(&server, &[(1024, 1024)], &[false]),
    )
    .await;
    mount_file(&server, "/files/0.png", png(6, 6), "image/png").await;
    let generation = provider(&server)
        .resume(&call(FLUX_SCHNELL, ImageSpec::new("moss")), ID, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    // 1024² px is one megapixel at $0.003.
    assert_eq!(generation.cost, Some(Money::from_micros(3_000)));
    assert!(run.recorder.checkpoints().is_empty());
    assert_eq!(
        run.recorder
            .logs()
            .iter()
            .filter(|l| *l == "almost")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_shutdown_leaves_the_request_queued_for_the_resume() {
    let server = MockServer::start().await;
    let run = recording();
    run.recorder.stop_only();
    Mock::given(method("POST"))
        .and(path("/fal-ai/flux/dev"))
        .respond_with(submitted(&server, "fal-ai/flux"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .respond_with(CancelOnRequest::new(
            status("IN_QUEUE", json!({"queue_position": 5})),
            2,
            &run.cx,
        ))
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .generate(
                &call(FLUX_DEV, ImageSpec::new("moss").size(512, 512)),
                &run.cx,
            )
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    assert_eq!(
        requests_to(&server, "PUT", CANCEL_PATH).await,
        0,
        "the request stays queued"
    );
}
