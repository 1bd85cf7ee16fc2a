//! The OpenAI provider and embedder against a local mock of the API.

mod http_support;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use gaia_core::{
    DeriveSpec, Embedder, EngineConfig, ErrorCode, ImageFormat, ImageSpec, InputRole, Operation,
    Provider, Quality, Secret, Spec,
};
use gaia_providers::http::ProviderSettings;
use gaia_providers::openai::{self, OpenAiEmbedder, OpenAiProvider};
use http_support::{
    MultipartHas, SECRET_KEY, call, context, failure, image_input, png, png_size, staged_files,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(server: &MockServer) -> ProviderSettings {
    ProviderSettings::new(
        openai::NAME,
        format!("{}/v1", server.uri()),
        Some(Secret::new(SECRET_KEY)),
    )
}

fn provider(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(&settings(server)).unwrap_or_else(|e| panic!("{e}"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn images_response(images: &[Vec<u8>], usage: Value) -> Value {
    let data: Vec<Value> = images
        .iter()
        .map(|png| json!({"b64_json": b64(png)}))
        .collect();
    json!({"created": 1_700_000_000, "data": data, "usage": usage,
           "background": "opaque", "output_format": "png", "quality": "medium", "size": "1536x1024"})
}

fn medium_landscape(count: u8) -> ImageSpec {
    let mut spec = ImageSpec::new("a mossy stone door")
        .size(1536, 1024)
        .count(count);
    spec.quality = Some(Quality::Medium);
    spec
}

async fn answer(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .respond_with(response)
        .mount(server)
        .await;
}

fn openai_error(status: u16, code: &str, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

#[tokio::test]
async fn generates_images_from_base64_and_prices_the_usage() {
    let server = MockServer::start().await;
    let images = [png(1536, 1024), png(1536, 1024)];
    let usage = json!({"input_tokens": 20, "output_tokens": 3168, "total_tokens": 3188,
                       "input_tokens_details": {"text_tokens": 20, "image_tokens": 0}});
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .and(body_partial_json(json!({
            "model": "gpt-image-1", "prompt": "a mossy stone door", "n": 2,
            "size": "1536x1024", "quality": "medium", "output_format": "png"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(images_response(&images, usage)))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, cx) = context();
    let provider = provider(&server);
    let generation = provider
        .generate(&call("gpt-image-1", medium_landscape(2)), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 2);
    for (output, expected) in generation.outputs.iter().zip(&images) {
        assert_eq!(output.read_to_vec().ok().as_ref(), Some(expected));
        assert_eq!(png_size(output), (1536, 1024));
    }
    // 20 text tokens × $5 + 3168 image tokens × $40 per 1M = 100 + 126,720 µ$.
    assert_eq!(generation.cost.map(|c| c.micros()), Some(126_820));
    assert_eq!(cx.reported_cost(), generation.cost);
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_never_shown() {
    let server = MockServer::start().await;
    let echo = format!("Incorrect API key provided: {SECRET_KEY}.");
    answer(
        &server,
        openai_error(401, "invalid_api_key", "invalid_request_error", &echo),
    )
    .await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("API key was refused"), "{text}");
    assert!(
        !text.contains(SECRET_KEY) && !text.contains("Secret-Key"),
        "{text}"
    );
}

#[tokio::test]
async fn a_forbidden_answer_quotes_the_reason_with_the_key_redacted() {
    let server = MockServer::start().await;
    let message = format!("Your organization must be verified to use gpt-image-1 ({SECRET_KEY})");
    answer(
        &server,
        openai_error(403, "", "invalid_request_error", &message),
    )
    .await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    let text = error.to_string();
    assert!(!error.is_retryable());
    assert!(
        text.contains("must be verified") && text.contains("***"),
        "{text}"
    );
    assert!(!text.contains(SECRET_KEY), "{text}");
}

#[tokio::test]
async fn exhausted_quota_is_a_provider_error_not_retried() {
    let server = MockServer::start().await;
    let response = openai_error(
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )
    .insert_header("retry-after", "20");
    answer(&server, response).await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("out of credit"), "{error}");
}

#[tokio::test]
async fn a_rate_limit_carries_retry_after() {
    let server = MockServer::start().await;
    let response = openai_error(429, "rate_limit_exceeded", "requests", "Rate limit reached")
        .insert_header("retry-after", "7");
    answer(&server, response).await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderRateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn moderation_is_a_rejection_with_the_reason() {
    let server = MockServer::start().await;
    let response = openai_error(
        400,
        "moderation_blocked",
        "image_generation_user_error",
        "Your request was rejected by the safety system. safety_violations=[violence].",
    );
    answer(&server, response).await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderRejected);
    assert!(
        error.to_string().contains("safety_violations=[violence]"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_error_is_retryable() {
    let server = MockServer::start().await;
    answer(
        &server,
        openai_error(500, "", "server_error", "The server had an error"),
    )
    .await;
    let (_dir, cx) = context();
    let error = failure(
        provider(&server)
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(error.is_retryable());
}

#[tokio::test]
async fn malformed_json_and_bad_shapes_name_the_field() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"data\": [{\"b64_j"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    answer(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"created": 1, "data": [{"b64_json": 42}]})),
    )
    .await;
    let provider = provider(&server);
    let (_dir, cx) = context();
    let request = call("gpt-image-1", medium_landscape(1));
    let malformed = failure(provider.generate(&request, &cx).await);
    assert_eq!(malformed.code(), ErrorCode::ProviderError);
    assert!(!malformed.is_retryable());
    assert!(
        malformed.to_string().starts_with("openai: malformed JSON"),
        "{malformed}"
    );
    let shape = failure(provider.generate(&request, &cx).await).to_string();
    assert!(shape.contains("data[0].b64_json"), "{shape}");
}

#[tokio::test]
async fn a_response_over_the_download_cap_fails_cleanly() {
    let server = MockServer::start().await;
    let huge = "A".repeat(20 * 1024 * 1024);
    let body = format!("{{\"data\":[{{\"b64_json\":\"{huge}\"}}]}}");
    answer(&server, ResponseTemplate::new(200).set_body_string(body)).await;
    let mut settings = settings(&server);
    settings.max_download_bytes = 1024 * 1024;
    let provider = OpenAiProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    let (dir, cx) = context();
    let error = failure(
        provider
            .generate(&call("gpt-image-1", medium_landscape(1)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(
        error.to_string().contains("download cap of 1048576 bytes"),
        "{error}"
    );
    assert_eq!(staged_files(&dir), 0);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_and_a_closed_port_a_retryable_error() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": []}))
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let mut slow = settings(&server);
    slow.timeout = Duration::from_millis(200);
    let provider = OpenAiProvider::new(&slow).unwrap_or_else(|e| panic!("{e}"));
    let (_dir, cx) = context();
    let request = call("gpt-image-1", medium_landscape(1));
    let error = failure(provider.generate(&request, &cx).await);
    assert_eq!(error.code(), ErrorCode::ProviderTimeout);
    assert!(error.is_retryable());

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener.local_addr().map(|a| a.port()).unwrap_or(9)
    };
    let unreachable = ProviderSettings::new(
        openai::NAME,
        format!("http://127.0.0.1:{closed}/v1"),
        Some(Secret::new(SECRET_KEY)),
    );
    let provider = OpenAiProvider::new(&unreachable).unwrap_or_else(|e| panic!("{e}"));
    let error = failure(provider.generate(&request, &cx).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(error.is_retryable());
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test]
async fn an_edit_sends_the_parent_and_mask_as_multipart() {
    let server = MockServer::start().await;
    let edited = png(1024, 1024);
    let usage = json!({"input_tokens": 600, "output_tokens": 4160,
                       "input_tokens_details": {"text_tokens": 10, "image_tokens": 590}});
    Mock::given(method("POST"))
        .and(path("/v1/images/edits"))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .and(MultipartHas {
            fields: vec![
                ("model", "gpt-image-1.5"),
                ("prompt", "add a brass knocker"),
                ("n", "1"),
                ("size", "1024x1024"),
                ("output_format", "png"),
            ],
            files: vec!["image[]", "mask"],
            absent: vec!["input_fidelity"],
        })
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(images_response(std::slice::from_ref(&edited), usage)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (dir, cx) = context();
    let operation = Operation::Edit {
        prompt: "add a brass knocker".into(),
        mask_id: None,
    };
    let parent = image_input(dir.path(), InputRole::Parent, 1024, 1024);
    let mut edit = call(
        "gpt-image-1.5-edit",
        Spec::Derive(DeriveSpec::new(parent.asset.id, operation)),
    );
    edit.inputs = vec![parent, image_input(dir.path(), InputRole::Mask, 1024, 1024)];
    let generation = provider(&server)
        .generate(&edit, &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    assert_eq!(generation.outputs[0].read_to_vec().ok(), Some(edited));
    // gpt-image-1.5: 10 × $5 + 590 × $8 + 4160 × $32 per 1M = 50 + 4,720 + 133,120 µ$.
    assert_eq!(generation.cost.map(|c| c.micros()), Some(137_890));
}

#[tokio::test]
async fn the_embedder_batches_normalizes_and_keeps_order() {
    let server = MockServer::start().await;
    let vector = |value: f32| vec![value; 1536];
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header(
            "authorization",
            format!("Bearer {SECRET_KEY}").as_str(),
        ))
        .and(body_partial_json(json!({
            "model": "text-embedding-3-small", "input": ["stone wall", "wooden door"],
            "encoding_format": "float"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": 1, "embedding": vector(2.0)},
                {"object": "embedding", "index": 0, "embedding": vector(-1.0)}
            ],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let embedder = OpenAiEmbedder::new(&settings(&server)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(embedder.model(), "text-embedding-3-small");
    assert_eq!(embedder.dimensions(), 1536);
    let texts = ["stone wall", "  ", "wooden door"].map(String::from);
    let vectors = embedder
        .embed(&texts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(vectors.len(), 3);
    let unit = 1.0 / (1536f32).sqrt();
    assert!((vectors[0][0] + unit).abs() < 1e-6, "{}", vectors[0][0]);
    assert!(vectors[1].iter().all(|x| *x == 0.0));
    assert!((vectors[2][0] - unit).abs() < 1e-6, "{}", vectors[2][0]);
}

#[test]
fn registered_only_with_a_key_and_pointed_at_the_override() {
    let config = EngineConfig::default();
    let none: HashMap<&str, &str> = HashMap::new();
    let names = |env: &HashMap<&str, &str>| {
        let lookup = |name: &str| env.get(name).map(|v| (*v).to_owned());
        gaia_providers::from_config_with_env(&config, &lookup)
            .iter()
            .map(|p| p.name().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(!names(&none).contains(&"openai".to_owned()));
    let with_key = HashMap::from([
        ("OPENAI_API_KEY", "sk-x"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
    ]);
    assert!(names(&with_key).contains(&"openai".to_owned()));

    let config =
        EngineConfig::from_json(r#"{"embedder":"openai"}"#).unwrap_or_else(|e| panic!("{e}"));
    let lookup = |name: &str| with_key.get(name).map(|v| (*v).to_owned());
    let embedder = gaia_providers::embedder_from_config_with_env(&config, &lookup);
    assert_eq!(
        embedder.map(|e| e.model().to_owned()).as_deref(),
        Some("text-embedding-3-small")
    );
    let unknown = EngineConfig::from_json(r#"{"embedder":"bert"}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(unknown.contains("embedder"), "{unknown}");
    let no_key = |_: &str| None;
    assert!(gaia_providers::embedder_from_config_with_env(&config, &no_key).is_none());
}

#[test]
fn transparent_webp_is_accepted() {
    let server_less = ProviderSettings::new(
        openai::NAME,
        "http://127.0.0.1:9/v1",
        Some(Secret::new("k")),
    );
    let provider = OpenAiProvider::new(&server_less).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = ImageSpec::new("a potion icon");
    spec.style = Some("transparent".into());
    spec.format = Some(ImageFormat::Webp);
    assert!(provider.validate("gpt-image-1-mini", &spec.into()).is_ok());
}
