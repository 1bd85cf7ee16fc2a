//! Remote providers through the whole engine, against local mock servers:
//! the stored asset, the job's provider and model, and the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use gaia::prelude::*;
use gaia::providers::ProceduralProvider;
use gaia::providers::a1111::A1111Provider;
use gaia::providers::http::ProviderSettings;
use gaia::providers::openai::OpenAiProvider;
use gaia::providers::stability::StabilityProvider;
use gaia::{
    AssetSource, CostGroup, CostQuery, Operation, Provider, Quality, Route, RouteTarget, Secret,
};
use serde_json::json;
use support::*;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request as MockRequest, ResponseTemplate};

const KEY: &str = "sk-e2e-test-key";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn openai(server: &MockServer) -> Arc<dyn Provider> {
    let settings = ProviderSettings::new(
        "openai",
        format!("{}/v1", server.uri()),
        Some(Secret::new(KEY)),
    );
    Arc::new(OpenAiProvider::new(&settings).unwrap())
}

fn job_id_of(asset: &Asset) -> JobId {
    match &asset.source {
        AssetSource::Generated { job_id, .. } => *job_id,
        other => panic!("not generated: {other:?}"),
    }
}

async fn spent(engine: &Engine, group_by: CostGroup) -> gaia::CostReport {
    let query = CostQuery {
        client_id: Some(client()),
        group_by,
        ..CostQuery::default()
    };
    engine.costs(&query).await.unwrap()
}

/// A multipart body naming `model` in its `model` part.
struct MultipartModel(&'static str);

impl Match for MultipartModel {
    fn matches(&self, request: &MockRequest) -> bool {
        let body = String::from_utf8_lossy(&request.body);
        let part = "name=\"model\"\r\n\r\n".to_owned() + self.0 + "\r\n";
        body.contains(&part) && body.contains("name=\"image[]\"; filename=")
    }
}

#[tokio::test]
async fn an_openai_image_and_its_edit_are_stored_and_priced_from_usage() {
    let server = MockServer::start().await;
    let generated = png(1024, 1024);
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(json!({
            "model": "gpt-image-1", "size": "1024x1024", "quality": "medium", "n": 1
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 1, "data": [{"b64_json": b64(&generated)}],
            "usage": {"input_tokens": 12, "output_tokens": 1056, "total_tokens": 1068,
                      "input_tokens_details": {"text_tokens": 12, "image_tokens": 0}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let edited = png(1024, 1024);
    Mock::given(method("POST"))
        .and(path("/v1/images/edits"))
        .and(MultipartModel("gpt-image-1-mini"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 2, "data": [{"b64_json": b64(&edited)}],
            "usage": {"input_tokens": 600, "output_tokens": 4160,
                      "input_tokens_details": {"text_tokens": 8, "image_tokens": 592}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![openai(&server)]).await;

    let mut spec = ImageSpec::new("a mossy stone door");
    spec.quality = Some(Quality::Medium);
    let mut request = Request::new(client(), spec);
    request.route = Route::Target(RouteTarget::new("openai", Some("gpt-image-1".into())));
    let asset = engine.generate(request).await.unwrap();
    assert!(matches!(
        asset.media,
        Media::Image {
            width: 1024,
            height: 1024,
            format: gaia::ImageFormat::Png,
            ..
        }
    ));
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        generated.as_slice()
    );
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(job.provider.as_deref(), Some("openai"));
    assert_eq!(job.model.as_deref(), Some("gpt-image-1"));
    assert_eq!(job.estimated_cost_micros.map(|m| m.micros()), Some(42_000));
    // 12 text tokens × $5 + 1056 image tokens × $40 per 1M = 60 + 42,240 µ$.
    let generation_cost = 42_300;
    assert_eq!(job.cost_micros.micros(), generation_cost);
    assert_eq!(asset.cost_micros.micros(), generation_cost);

    let edit = Operation::Edit {
        prompt: "add a brass knocker".into(),
        mask_id: None,
    };
    let job = engine.derive(asset.id, edit).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    // The cheapest edit model is chosen automatically.
    assert_eq!(job.provider.as_deref(), Some("openai"));
    assert_eq!(job.model.as_deref(), Some("gpt-image-1-mini-edit"));
    let derived = engine.first_asset(&job).await.unwrap();
    assert_eq!(
        derived.source,
        AssetSource::Derived {
            parent_id: asset.id,
            operation: "edit".into()
        }
    );
    assert_eq!(
        engine.read_bytes(derived.id).await.unwrap().as_ref(),
        edited.as_slice()
    );
    // gpt-image-1-mini: 8 × $2 + 592 × $2.50 + 4160 × $8 per 1M = 16 + 1,480 + 33,280 µ$.
    let edit_cost = 34_776;
    assert_eq!(job.cost_micros.micros(), edit_cost);

    let report = spent(&engine, CostGroup::Model).await;
    assert_eq!(report.total_micros.micros(), generation_cost + edit_cost);
    assert_eq!(report.entries, 2);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_openai_key_fails_the_job_once_without_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {KEY}"),
                      "type": "invalid_request_error", "code": "invalid_api_key"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![openai(&server)]).await;
    let mut request = Request::new(client(), ImageSpec::new("a door"));
    request.route = Route::Target(RouteTarget::new("openai", Some("gpt-image-1".into())));
    let job = engine.submit(request).await.unwrap();
    let job = engine.wait(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert_eq!(error.code, gaia::ErrorCode::ProviderError);
    assert!(!error.retryable);
    assert!(
        error.message.contains("API key was refused"),
        "{}",
        error.message
    );
    assert!(!error.message.contains(KEY), "{}", error.message);
    assert_eq!(
        spent(&engine, CostGroup::None).await.total_micros.micros(),
        0
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_stability_image_records_the_credits_and_the_real_size() {
    let server = MockServer::start().await;
    let image = png(1216, 832);
    Mock::given(method("POST"))
        .and(path("/v2beta/stable-image/generate/ultra"))
        .and(header("accept", "image/*"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .insert_header("finish-reason", "SUCCESS")
                .insert_header("seed", "77")
                .set_body_bytes(image.clone()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let settings = ProviderSettings::new("stability", server.uri(), Some(Secret::new(KEY)));
    let stability: Arc<dyn Provider> = Arc::new(StabilityProvider::new(&settings).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![stability]).await;
    let mut request = Request::new(client(), ImageSpec::new("a lantern").size(1536, 1024));
    request.route = Route::Target(RouteTarget::new(
        "stability",
        Some("stable-image-ultra".into()),
    ));
    let asset = engine.generate(request).await.unwrap();
    assert!(matches!(
        asset.media,
        Media::Image {
            width: 1216,
            height: 832,
            ..
        }
    ));
    assert_eq!(asset.metadata.get("seed"), Some(&json!(77)));
    assert_eq!(asset.cost_micros.micros(), 80_000);
    assert_eq!(
        spent(&engine, CostGroup::None).await.total_micros.micros(),
        80_000
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_studio_gpu_server_is_chosen_before_procedural() {
    let server = MockServer::start().await;
    let image = png(512, 512);
    Mock::given(method("POST"))
        .and(path("/sdapi/v1/txt2img"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "images": [b64(&image)], "info": "{\"all_seeds\": [5]}"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let settings = ProviderSettings::new("a1111", server.uri(), None);
    let a1111: Arc<dyn Provider> = Arc::new(A1111Provider::new(&settings).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let providers = vec![
        a1111,
        Arc::new(ProceduralProvider::new()) as Arc<dyn Provider>,
    ];
    let engine = engine_with(dir.path(), 1, providers).await;
    let request = Request::new(client(), ImageSpec::new("cobblestones").size(512, 512));
    let asset = engine.generate(request).await.unwrap();
    let job = engine.job(job_id_of(&asset)).await.unwrap();
    assert_eq!(job.provider.as_deref(), Some("a1111"));
    assert_eq!(
        engine.read_bytes(asset.id).await.unwrap().as_ref(),
        image.as_slice()
    );
    assert_eq!(asset.metadata.get("seed"), Some(&json!(5)));
    engine.close().await.unwrap();
}
