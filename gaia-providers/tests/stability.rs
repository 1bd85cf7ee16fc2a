//! The Stability provider against a local mock of the v2beta API.

mod http_support;

use std::time::Duration;

use gaia_core::{
    DeriveSpec, ErrorCode, ImageSpec, InputRole, Operation, Provider, Secret, Spec, StagedContent,
    UpscaleMode,
};
use gaia_providers::http::{PollSchedule, ProviderSettings};
use gaia_providers::stability::{self, StabilityProvider};
use http_support::{
    MultipartHas, SECRET_KEY, call, context, failure, image_input, png, png_size, recorded_context,
    serve_chunked, staged_files,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(base_url: &str) -> ProviderSettings {
    ProviderSettings::new(stability::NAME, base_url, Some(Secret::new(SECRET_KEY)))
}

fn provider(server: &MockServer) -> StabilityProvider {
    StabilityProvider::new(&settings(&server.uri()))
        .unwrap_or_else(|e| panic!("{e}"))
        .with_creative_poll(PollSchedule::constant(Duration::from_millis(10)))
}

fn image_bytes(bytes: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "image/png")
        .insert_header("finish-reason", "SUCCESS")
        .insert_header("seed", "1234")
        .set_body_bytes(bytes)
}

fn stability_error(status: u16, name: &str, errors: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "id": "a3f1c0e2", "name": name, "errors": errors
    }))
}

async fn answer_core(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/generate/core"))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn generate_core(server: &MockServer) -> gaia_core::Result<gaia_core::Generation> {
    let (_dir, cx) = context();
    provider(server)
        .generate(&call("stable-image-core", ImageSpec::new("a lantern")), &cx)
        .await
}

#[tokio::test]
async fn generates_with_a_multipart_request_and_streams_the_image() {
    let server = MockServer::start().await;
    let image = png(1216, 832);
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/generate/core"))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .and(header("accept", "image/*"))
        .and(MultipartHas {
            fields: vec![
                ("prompt", "a lantern in fog"),
                ("aspect_ratio", "3:2"),
                ("output_format", "png"),
                ("negative_prompt", "text"),
                ("seed", "41"),
                ("style_preset", "fantasy-art"),
            ],
            files: vec![],
            absent: vec!["model"],
        })
        .respond_with(image_bytes(image.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let mut spec = ImageSpec::new("a lantern in fog").size(1536, 1024).seed(41);
    spec.negative_prompt = Some("text".into());
    spec.style = Some("fantasy-art".into());
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call("stable-image-core", spec), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    let output = &generation.outputs[0];
    assert_eq!(output.read_to_vec().ok(), Some(image));
    // A small body ends up in memory, with no staging file.
    assert!(matches!(output.content(), StagedContent::Memory(_)));
    // The provider picked the pixels for 3:2.
    assert_eq!(png_size(output), (1216, 832));
    assert_eq!(output.metadata().get("seed"), Some(&json!(1234)));
    assert_eq!(generation.cost.map(|c| c.micros()), Some(30_000));
}

#[tokio::test]
async fn sd3_models_send_their_model_and_count_makes_several_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/generate/sd3"))
        .and(MultipartHas {
            fields: vec![("model", "sd3.5-large-turbo"), ("aspect_ratio", "1:1")],
            files: vec![],
            absent: vec![],
        })
        .respond_with(image_bytes(png(64, 64)))
        .expect(2)
        .mount(&server)
        .await;
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(
            &call("sd3.5-large-turbo", ImageSpec::new("a key").count(2)),
            &cx,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 2);
    assert_eq!(generation.cost.map(|c| c.micros()), Some(80_000));
}

#[tokio::test]
async fn content_moderation_is_a_rejection_in_either_form() {
    let server = MockServer::start().await;
    answer_core(
        &server,
        stability_error(
            403,
            "content_moderation",
            &["Your request was flagged by our content moderation system"],
        ),
    )
    .await;
    let error = failure(generate_core(&server).await);
    assert_eq!(error.code(), ErrorCode::ProviderRejected);
    assert!(error.to_string().contains("flagged"), "{error}");

    let filtered = MockServer::start().await;
    answer_core(
        &filtered,
        image_bytes(png(8, 8)).insert_header("finish-reason", "CONTENT_FILTERED"),
    )
    .await;
    let error = failure(generate_core(&filtered).await);
    assert_eq!(error.code(), ErrorCode::ProviderRejected);
    assert!(error.to_string().contains("CONTENT_FILTERED"), "{error}");
}

#[tokio::test]
async fn no_credit_and_a_refused_key_are_not_retried() {
    let server = MockServer::start().await;
    answer_core(
        &server,
        stability_error(402, "payment_required", &["You lack sufficient credits"]),
    )
    .await;
    let error = failure(generate_core(&server).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("out of credit"), "{error}");

    let refused = MockServer::start().await;
    answer_core(
        &refused,
        stability_error(401, "unauthorized", &[&format!("bad key {SECRET_KEY}")]),
    )
    .await;
    let error = failure(generate_core(&refused).await);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("API key was refused"), "{error}");
    assert!(!error.to_string().contains(SECRET_KEY), "{error}");
}

#[tokio::test]
async fn a_rate_limit_waits_out_the_lockout_and_5xx_is_retryable() {
    let server = MockServer::start().await;
    answer_core(
        &server,
        stability_error(429, "rate_limit_exceeded", &["too many requests"]),
    )
    .await;
    let error = failure(generate_core(&server).await);
    assert_eq!(error.code(), ErrorCode::ProviderRateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));

    let told = MockServer::start().await;
    answer_core(
        &told,
        stability_error(429, "rate_limit_exceeded", &["slow down"])
            .insert_header("retry-after", "12"),
    )
    .await;
    let error = failure(generate_core(&told).await);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(12)));

    let broken = MockServer::start().await;
    answer_core(&broken, stability_error(500, "internal_error", &["oops"])).await;
    let error = failure(generate_core(&broken).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_malformed_json_start_names_the_field() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/upscale/creative"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"job": "x"})))
        .mount(&server)
        .await;
    let (dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&upscale_call(dir.path(), UpscaleMode::Creative), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(
        error.to_string().contains("stability: unexpected response"),
        "{error}"
    );
    assert!(error.to_string().contains("`id`"), "{error}");
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_fails_cleanly() {
    // 20 MB, chunked, no Content-Length: the cap is found while streaming.
    let base_url = serve_chunked(20 * 1024 * 1024, "image/png").await;
    let mut settings = settings(&base_url);
    settings.max_download_bytes = 1024 * 1024;
    let provider = StabilityProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    let (dir, cx) = context();
    let error = failure(
        provider
            .generate(&call("stable-image-core", ImageSpec::new("x")), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("download cap"), "{error}");
    assert_eq!(staged_files(&dir), 0, "the partial file must be removed");
    // The call succeeded at Stability, so it is billed: Core is 3 credits.
    assert_eq!(
        cx.reported_cost(),
        Some(gaia_core::Money::from_micros(30_000))
    );
}

fn upscale_call(dir: &std::path::Path, mode: UpscaleMode) -> gaia_core::Call {
    let parent = image_input(dir, InputRole::Parent, 64, 64);
    let operation = Operation::Upscale {
        prompt: Some("a stone tile".into()),
        mode,
    };
    let mut upscale = call(
        stability::UPSCALE_MODEL,
        Spec::Derive(DeriveSpec::new(parent.asset.id, operation)),
    );
    upscale.inputs = vec![parent];
    upscale
}

#[tokio::test]
async fn a_fast_upscale_posts_the_parent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/upscale/fast"))
        .and(header("accept", "image/*"))
        .and(MultipartHas {
            fields: vec![("output_format", "png"), ("prompt", "a stone tile")],
            files: vec!["image"],
            absent: vec![],
        })
        .respond_with(image_bytes(png(256, 256)))
        .expect(1)
        .mount(&server)
        .await;
    let (dir, cx) = context();
    let generation = provider(&server)
        .generate(&upscale_call(dir.path(), UpscaleMode::Fast), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(png_size(&generation.outputs[0]), (256, 256));
    assert_eq!(generation.cost.map(|c| c.micros()), Some(20_000));
}

#[tokio::test]
async fn a_creative_upscale_checkpoints_its_id_and_polls_until_done() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/upscale/creative"))
        .and(header("accept", "application/json"))
        .and(MultipartHas {
            fields: vec![("prompt", "a stone tile")],
            files: vec!["image"],
            absent: vec![],
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "upscale-7f3a"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2beta/results/upscale-7f3a"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"id": "upscale-7f3a", "status": "in-progress"})),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2beta/results/upscale-7f3a"))
        .and(header("accept", "image/*"))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .respond_with(image_bytes(png(256, 256)))
        .expect(1)
        .mount(&server)
        .await;
    let (dir, cx, recorder) = recorded_context();
    let generation = provider(&server)
        .generate(&upscale_call(dir.path(), UpscaleMode::Creative), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(png_size(&generation.outputs[0]), (256, 256));
    assert_eq!(generation.cost.map(|c| c.micros()), Some(600_000));
    let checkpoints = recorder
        .checkpoints
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    assert_eq!(checkpoints, ["upscale-7f3a"]);
}

#[tokio::test]
async fn a_resumed_creative_upscale_polls_without_paying_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2beta/results/upscale-1"))
        .respond_with(image_bytes(png(128, 128)))
        .expect(1)
        .mount(&server)
        .await;
    let (dir, cx) = context();
    let generation = provider(&server)
        .resume(
            &upscale_call(dir.path(), UpscaleMode::Creative),
            "upscale-1",
            &cx,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(png_size(&generation.outputs[0]), (128, 128));
}

#[tokio::test]
async fn an_expired_result_fails_clearly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2beta/results/gone"))
        .respond_with(stability_error(
            404,
            "not_found",
            &["result not found or expired"],
        ))
        .mount(&server)
        .await;
    let (dir, cx) = context();
    let error = failure(
        provider(&server)
            .resume(
                &upscale_call(dir.path(), UpscaleMode::Creative),
                "gone",
                &cx,
            )
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("expired"), "{error}");
}
