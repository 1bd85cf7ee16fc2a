//! The AUTOMATIC1111 provider against a local mock of its API.

mod http_support;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use gaia_core::{EngineConfig, ErrorCode, ImageSpec, Provider, Secret};
use gaia_providers::a1111::{self, A1111Provider, TXT2IMG_MODEL};
use gaia_providers::http::ProviderSettings;
use http_support::{call, context, failure, png, png_size, recorded_context};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn provider(server: &MockServer) -> A1111Provider {
    let settings = ProviderSettings::new(a1111::NAME, server.uri(), None);
    A1111Provider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn answer(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_batch_comes_back_without_its_grid_and_with_seeds() {
    let server = MockServer::start().await;
    let (first, second) = (png(512, 256), png(512, 256));
    let info = json!({"seed": 11, "all_seeds": [11, 12], "index_of_first_image": 1}).to_string();
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .and(body_partial_json(json!({
            "prompt": "cobblestones", "negative_prompt": "moss", "width": 512, "height": 256,
            "seed": 11, "batch_size": 2, "steps": 20, "tiling": true
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "images": [b64(&png(1024, 256)), b64(&first), b64(&second)],
            "parameters": {}, "info": info
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut spec = ImageSpec::new("cobblestones")
        .size(512, 256)
        .count(2)
        .seed(11)
        .tileable(true);
    spec.negative_prompt = Some("moss".into());
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call(TXT2IMG_MODEL, spec), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 2);
    assert_eq!(generation.outputs[0].read_to_vec().ok(), Some(first));
    assert_eq!(png_size(&generation.outputs[1]), (512, 256));
    assert_eq!(
        generation.outputs[1].metadata().get("seed"),
        Some(&json!(12))
    );
    assert_eq!(generation.cost.map(|c| c.micros()), Some(0));
}

#[tokio::test]
async fn progress_is_reported_while_the_server_works() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!({"images": [b64(&png(64, 64))], "info": "{}"}))
            .set_delay(Duration::from_millis(2_500)),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/sdapi/v1/progress"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "progress": 0.42, "eta_relative": 3.0, "state": {"job_count": 1}, "textinfo": null
        })))
        .mount(&server)
        .await;
    let (_dir, cx, recorder) = recorded_context();
    let generation = provider(&server)
        .generate(&call(TXT2IMG_MODEL, ImageSpec::new("x").size(64, 64)), &cx)
        .await;
    assert!(generation.is_ok(), "{generation:?}");
    let seen = recorder
        .progress
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    assert!(seen.contains(&42), "{seen:?}");
}

#[tokio::test]
async fn cancellation_interrupts_the_server() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!({"images": []}))
            .set_delay(Duration::from_secs(30)),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/interrupt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, cx) = context();
    let token = cx.cancellation().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
    });
    let error = failure(
        provider(&server)
            .generate(&call(TXT2IMG_MODEL, ImageSpec::new("x").size(64, 64)), &cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
}

#[tokio::test]
async fn server_errors_map_to_stable_codes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "detail": [{"loc": ["body", "width"], "msg": "value is not a valid integer", "type": "type_error"}]
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": "OutOfMemoryError", "detail": "", "body": "",
            "errors": "CUDA out of memory. Tried to allocate 2.00 GiB"
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    answer(
        &server,
        ResponseTemplate::new(200).set_body_string("{\"images\": [1]}"),
    )
    .await;
    let provider = provider(&server);
    let request = call(TXT2IMG_MODEL, ImageSpec::new("x").size(64, 64));
    let (_dir, cx) = context();

    let invalid = failure(provider.generate(&request, &cx).await);
    assert!(!invalid.is_retryable());
    assert!(invalid.to_string().contains("body.width"), "{invalid}");

    let out_of_memory = failure(provider.generate(&request, &cx).await);
    assert_eq!(out_of_memory.code(), ErrorCode::ProviderError);
    assert!(out_of_memory.is_retryable());
    assert!(
        out_of_memory.to_string().contains("OutOfMemoryError"),
        "{out_of_memory}"
    );

    let shape = failure(provider.generate(&request, &cx).await);
    assert!(!shape.is_retryable());
    assert!(shape.to_string().contains("images[0]"), "{shape}");
}

#[tokio::test]
async fn api_auth_is_sent_as_basic() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .and(header("authorization", "Basic c3R1ZGlvOmdwdS1wYXNz"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"images": [b64(&png(64, 64))]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let settings = ProviderSettings::new(
        a1111::NAME,
        server.uri(),
        Some(Secret::new("studio:gpu-pass")),
    );
    let provider = A1111Provider::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    let (_dir, cx) = context();
    let generation = provider
        .generate(&call(TXT2IMG_MODEL, ImageSpec::new("x").size(64, 64)), &cx)
        .await;
    assert!(generation.is_ok(), "{generation:?}");
}

#[test]
fn registered_when_pointed_at_and_before_procedural() {
    let names = |config: &EngineConfig, env: &HashMap<&str, &str>| {
        let lookup = |name: &str| env.get(name).map(|v| (*v).to_owned());
        gaia_providers::from_config_with_env(config, &lookup)
            .iter()
            .map(|p| p.name().to_owned())
            .collect::<Vec<_>>()
    };
    let default = EngineConfig::default();
    assert_eq!(names(&default, &HashMap::new()), ["procedural"]);
    let pointed = HashMap::from([("A1111_BASE_URL", "http://127.0.0.1:7860")]);
    assert_eq!(names(&default, &pointed), ["a1111", "procedural"]);
    let configured = EngineConfig::from_json(r#"{"providers":{"a1111":{"max_in_flight":2}}}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&configured, &HashMap::new()), ["a1111", "procedural"]);
    let disabled = EngineConfig::from_json(r#"{"providers":{"a1111":{"enabled":false}}}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&disabled, &pointed), ["procedural"]);
}
