//! The Meshy provider against a local mock of its API and of its asset host.

mod http_support;
mod remote_support;

use std::time::Duration;

use gaia_core::{
    Asset, AssetId, AssetSource, CallInput, ClientId, DeriveSpec, Detail, ErrorCode, InputRole,
    Media, ModelFormat, ModelSpec, Money, Operation, Provider, Secret, Spec, Timestamp,
};
use gaia_providers::http::ProviderSettings;
use gaia_providers::meshy::models::{IMAGE_TO_3D, RETEXTURE, TEXT_TO_3D, TEXT_TO_3D_PREVIEW};
use gaia_providers::meshy::{self, MeshyProvider};
use http_support::{SECRET_KEY, call, failure, image_input, png, serve_chunked};
use remote_support::{
    AfterCheckpoint, CancelOnRequest, Sequence, glb, quick_polls, recording, requests_to,
    sent_auth_to,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEXT_PATH: &str = "/openapi/v2/text-to-3d";

fn provider(server: &MockServer) -> MeshyProvider {
    let settings = ProviderSettings::new(meshy::NAME, server.uri(), Some(Secret::new(SECRET_KEY)));
    MeshyProvider::new(&settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_poll_schedule(quick_polls())
}

fn bearer() -> String {
    format!("Bearer {SECRET_KEY}")
}

fn task(id: &str, status: &str, extra: Value) -> ResponseTemplate {
    let mut body = json!({
        "id": id, "type": "text-to-3d-preview", "status": status, "progress": 0,
        "model_urls": {}, "thumbnail_url": "", "texture_urls": [], "prompt": "a barrel",
        "created_at": 1_764_000_000_000_i64, "started_at": 0, "finished_at": 0,
        "preceding_tasks": 0, "task_error": {"message": ""}, "consumed_credits": 0
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn created(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({"result": id}))
}

fn model(prompt: &str) -> ModelSpec {
    ModelSpec {
        prompt: prompt.into(),
        seed: None,
        count: 1,
        format: None,
        detail: None,
    }
}

async fn mount_create(
    server: &MockServer,
    at: &str,
    body: Value,
    response: ResponseTemplate,
    times: u64,
) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(header("authorization", bearer().as_str()))
        .and(body_partial_json(body))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

async fn mount_task(server: &MockServer, at: &str, responses: Vec<ResponseTemplate>) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(header("authorization", bearer().as_str()))
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

fn succeeded(server: &MockServer, id: &str, credits: u32) -> ResponseTemplate {
    let base = server.uri();
    task(
        id,
        "SUCCEEDED",
        json!({
            "progress": 100, "consumed_credits": credits,
            "model_urls": {"glb": format!("{base}/assets/{id}.glb?Expires=1&Signature=s"),
                           "fbx": format!("{base}/assets/{id}.fbx?Expires=1&Signature=s")},
            "thumbnail_url": format!("{base}/assets/{id}.png?Expires=1&Signature=s")
        }),
    )
}

fn model_input(dir: &std::path::Path) -> CallInput {
    let bytes = glb();
    let path = dir.join("parent.glb");
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let asset = Asset {
        id: AssetId::new(),
        client_id: ClientId::new("test").unwrap_or_else(|e| panic!("{e}")),
        campaign_id: None,
        name: None,
        mime: ModelFormat::Glb.mime().into(),
        size_bytes: bytes.len() as u64,
        sha256: String::new(),
        source: AssetSource::Uploaded,
        cost_micros: Money::ZERO,
        tags: Vec::new(),
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        media: Media::Model {
            format: ModelFormat::Glb,
            vertex_count: 24,
            triangle_count: 12,
        },
    };
    CallInput {
        role: InputRole::Parent,
        asset,
        path,
    }
}

fn derive(operation: Operation) -> Spec {
    Spec::Derive(DeriveSpec::new(AssetId::new(), operation))
}

#[tokio::test]
async fn a_textured_model_is_a_checkpointed_preview_then_a_refine() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview", "prompt": "a barrel", "ai_model": "meshy-6",
               "moderation": true, "target_formats": ["glb"]}),
        created("prev-1"),
        1,
    )
    .await;
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "refine", "preview_task_id": "prev-1", "enable_pbr": true,
               "target_formats": ["glb"]}),
        created("ref-1"),
        1,
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{TEXT_PATH}/prev-1")))
        .respond_with(AfterCheckpoint {
            recorder: run.recorder.clone(),
            then: Sequence::new(vec![
                task("prev-1", "PENDING", json!({"preceding_tasks": 2})),
                task("prev-1", "IN_PROGRESS", json!({"progress": 40})),
                task(
                    "prev-1",
                    "SUCCEEDED",
                    json!({"progress": 100, "consumed_credits": 20}),
                ),
            ]),
        })
        .mount(&server)
        .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/ref-1"),
        vec![
            task("ref-1", "IN_PROGRESS", json!({"progress": 50})),
            succeeded(&server, "ref-1", 10),
        ],
    )
    .await;
    let mesh = glb();
    mount_file(
        &server,
        "/assets/ref-1.glb",
        mesh.clone(),
        "model/gltf-binary",
    )
    .await;
    mount_file(&server, "/assets/ref-1.png", png(8, 8), "image/png").await;

    let generation = provider(&server)
        .generate(&call(TEXT_TO_3D, model("a barrel")), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let output = generation
        .outputs
        .first()
        .unwrap_or_else(|| panic!("no output"));
    assert_eq!(output.read_to_vec().ok(), Some(mesh));
    assert_eq!(
        output.metadata().get("meshy_task_id"),
        Some(&json!("ref-1"))
    );
    let thumbnail = output.metadata().get("thumbnail").and_then(Value::as_str);
    assert!(
        thumbnail.is_some_and(|t| t.starts_with("data:image/png;base64,iVBOR")),
        "{thumbnail:?}"
    );
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(600_000)),
        "30 credits"
    );
    assert_eq!(run.cx.reported_cost(), Some(Money::from_micros(600_000)));
    assert_eq!(
        run.recorder.checkpoints(),
        ["preview:prev-1", "refine:ref-1:prev-1"]
    );
    let progress = run.recorder.progress();
    assert!(
        progress.contains(&20) && progress.contains(&75),
        "{progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress.iter().all(|p| *p < 100));
    let logs = run.recorder.logs();
    assert!(
        logs.iter().any(|l| l == "queued on Meshy behind 2 tasks"),
        "{logs:?}"
    );
    assert!(
        !sent_auth_to(&server, "/assets/ref-1.glb").await,
        "keys stay off asset hosts"
    );
}

#[tokio::test]
async fn a_preview_only_model_fetches_the_requested_format_at_the_asked_detail() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview", "target_formats": ["fbx"], "should_remesh": true,
               "target_polycount": 100_000}),
        created("prev-2"),
        1,
    )
    .await;
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "refine"}),
        created("x"),
        0,
    )
    .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-2"),
        vec![succeeded(&server, "prev-2", 20)],
    )
    .await;
    mount_file(
        &server,
        "/assets/prev-2.fbx",
        b"Kaydara FBX Binary  \0".to_vec(),
        "application/octet-stream",
    )
    .await;
    // No thumbnail is served: the job succeeds without one.

    let mut spec = model("a crate");
    spec.format = Some(ModelFormat::Fbx);
    spec.detail = Some(Detail::High);
    let generation = provider(&server)
        .generate(&call(TEXT_TO_3D_PREVIEW, spec), &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let output = generation
        .outputs
        .first()
        .unwrap_or_else(|| panic!("no output"));
    assert!(
        output
            .read_to_vec()
            .unwrap_or_default()
            .starts_with(b"Kaydara FBX")
    );
    assert!(output.metadata().get("thumbnail").is_none());
    assert!(
        run.recorder
            .logs()
            .iter()
            .any(|l| l.starts_with("no thumbnail"))
    );
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(400_000)),
        "20 credits"
    );
}

#[tokio::test]
async fn image_to_3d_sends_the_parent_image_inline() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        "/openapi/v1/image-to-3d",
        json!({"ai_model": "meshy-6", "should_texture": true, "enable_pbr": true,
               "moderation": true, "target_formats": ["glb"]}),
        created("i2d-1"),
        1,
    )
    .await;
    mount_task(
        &server,
        "/openapi/v1/image-to-3d/i2d-1",
        vec![succeeded(&server, "i2d-1", 30)],
    )
    .await;
    mount_file(&server, "/assets/i2d-1.glb", glb(), "model/gltf-binary").await;
    mount_file(&server, "/assets/i2d-1.png", png(4, 4), "image/png").await;

    let spec = derive(Operation::ImageTo3d {
        texture: true,
        enable_pbr: true,
    });
    let mut request = call(IMAGE_TO_3D, spec);
    request
        .inputs
        .push(image_input(run.dir.path(), InputRole::Parent, 8, 8));
    let generation = provider(&server)
        .generate(&request, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(600_000)),
        "30 credits"
    );
    assert_eq!(run.recorder.checkpoints(), ["image-to-3d:i2d-1"]);
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
async fn retexture_sends_the_parent_model_inline() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        "/openapi/v1/retexture",
        json!({"text_style_prompt": "rusty metal", "enable_pbr": false,
               "enable_original_uv": true}),
        created("tex-1"),
        1,
    )
    .await;
    mount_task(
        &server,
        "/openapi/v1/retexture/tex-1",
        vec![succeeded(&server, "tex-1", 10)],
    )
    .await;
    mount_file(&server, "/assets/tex-1.glb", glb(), "model/gltf-binary").await;
    mount_file(&server, "/assets/tex-1.png", png(4, 4), "image/png").await;

    let spec = derive(Operation::Retexture {
        prompt: "rusty metal".into(),
        enable_pbr: false,
    });
    let provider = provider(&server);
    assert_eq!(
        provider.estimate(RETEXTURE, &spec).ok(),
        Some(Money::from_micros(200_000))
    );
    let mut request = call(RETEXTURE, spec);
    request.inputs.push(model_input(run.dir.path()));
    let generation = provider
        .generate(&request, &run.cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        generation.cost,
        Some(Money::from_micros(200_000)),
        "10 credits"
    );
    let sent = server.received_requests().await.unwrap_or_default();
    let body: Value = sent
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or_default();
    let model = body["model_url"].as_str().unwrap_or_default();
    // "glTF" in base64.
    assert!(
        model.starts_with("data:application/octet-stream;base64,Z2xURg"),
        "{model:.50}"
    );
}

#[tokio::test]
async fn a_refused_key_and_exhausted_credit_are_not_retried() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path(TEXT_PATH))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": format!("Invalid API key {SECRET_KEY}")})),
            ResponseTemplate::new(402).set_body_json(json!({"message": "Insufficient credits"})),
        ]))
        .mount(&server)
        .await;
    let provider = provider(&server);
    let request = call(TEXT_TO_3D, model("a barrel"));
    let refused = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(
        (refused.code(), refused.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(refused.to_string().contains("refused") && !refused.to_string().contains(SECRET_KEY));
    let broke = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(
        (broke.code(), broke.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(
        broke.to_string().contains("Insufficient credits"),
        "{broke}"
    );
}

#[tokio::test]
async fn too_many_tasks_waits_longer_than_too_many_requests() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path(TEXT_PATH))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429).set_body_json(json!({
                "message": "NoMoreConcurrentTasks: you have reached the limit of 10 tasks"})),
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_json(json!({"message": "RateLimitExceeded"})),
        ]))
        .mount(&server)
        .await;
    let provider = provider(&server);
    let request = call(TEXT_TO_3D, model("a barrel"));
    for wait in [30, 2] {
        let error = failure(provider.generate(&request, &run.cx).await);
        assert_eq!(error.code(), ErrorCode::ProviderRateLimited);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(wait)));
    }
}

#[tokio::test]
async fn failed_tasks_map_moderation_to_rejected_and_cost_nothing() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview"}),
        created("prev-3"),
        2,
    )
    .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-3"),
        vec![
            task(
                "prev-3",
                "FAILED",
                json!({"task_error": {
                "message": "The prompt was flagged by moderation", "type": "invalid_input",
                "code": "moderation_blocked"}}),
            ),
            task(
                "prev-3",
                "FAILED",
                json!({"task_error": {
                "message": "Generation failed", "type": "server_error"}}),
            ),
        ],
    )
    .await;
    let provider = provider(&server);
    let request = call(TEXT_TO_3D, model("a barrel"));
    let rejected = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(rejected.code(), ErrorCode::ProviderRejected);
    assert!(
        rejected.to_string().contains("flagged by moderation"),
        "{rejected}"
    );
    let failed = failure(provider.generate(&request, &run.cx).await);
    assert_eq!(
        (failed.code(), failed.is_retryable()),
        (ErrorCode::ProviderError, false)
    );
    assert!(
        failed
            .to_string()
            .contains("Generation failed (server_error)"),
        "{failed}"
    );
    assert_eq!(run.cx.reported_cost(), None, "failed tasks are refunded");
}

#[tokio::test]
async fn canceling_the_job_deletes_the_task_and_stops_polling() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview"}),
        created("prev-4"),
        1,
    )
    .await;
    let task_path = format!("{TEXT_PATH}/prev-4");
    Mock::given(method("GET"))
        .and(path(task_path.as_str()))
        .respond_with(CancelOnRequest::new(
            task("prev-4", "IN_PROGRESS", json!({"progress": 10})),
            2,
            &run.cx,
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(task_path.as_str()))
        .and(header("authorization", bearer().as_str()))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .generate(&call(TEXT_TO_3D, model("a barrel")), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    let polls = requests_to(&server, "GET", &task_path).await;
    assert_eq!(polls, 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        requests_to(&server, "GET", &task_path).await,
        polls,
        "polling stopped"
    );
}

#[tokio::test]
async fn malformed_json_names_the_provider() {
    let server = MockServer::start().await;
    let run = recording();
    Mock::given(method("POST"))
        .and(path(TEXT_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_raw("{\"result\": ", "application/json"))
        .mount(&server)
        .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-5"),
        vec![ResponseTemplate::new(200).set_body_json(json!({"id": "prev-5", "status": "MELTED"}))],
    )
    .await;
    let provider = provider(&server);
    let request = call(TEXT_TO_3D, model("a barrel"));
    let error = failure(provider.generate(&request, &run.cx).await);
    assert!(
        error.to_string().starts_with("meshy: malformed JSON"),
        "{error}"
    );
    let error = failure(provider.resume(&request, "preview:prev-5", &run.cx).await);
    let text = error.to_string();
    assert!(
        text.starts_with("meshy: ") && text.contains("status"),
        "{text}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_expired_model_url_fails_the_job_clearly() {
    let server = MockServer::start().await;
    let run = recording();
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-6"),
        vec![succeeded(&server, "prev-6", 20)],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/assets/prev-6.glb"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("<Error>Request has expired</Error>"),
        )
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .resume(
                &call(TEXT_TO_3D_PREVIEW, model("a barrel")),
                "preview:prev-6",
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
        text.contains("expired") && !text.contains("Signature"),
        "{text}"
    );
    assert_eq!(
        run.cx.reported_cost(),
        Some(Money::from_micros(400_000)),
        "the task was paid"
    );
}

#[tokio::test]
async fn a_large_model_streams_to_staging() {
    let size = 6 * 1024 * 1024 + 5;
    let host = serve_chunked(size, "model/gltf-binary").await;
    let server = MockServer::start().await;
    let run = recording();
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-7"),
        vec![task(
            "prev-7",
            "SUCCEEDED",
            json!({"consumed_credits": 20,
            "model_urls": {"glb": format!("{host}/big.glb")}}),
        )],
    )
    .await;
    let generation = provider(&server)
        .resume(
            &call(TEXT_TO_3D_PREVIEW, model("a barrel")),
            "preview:prev-7",
            &run.cx,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let output = generation
        .outputs
        .first()
        .unwrap_or_else(|| panic!("no output"));
    assert_eq!(output.size(), size as u64);
}

#[tokio::test]
async fn resume_continues_the_stage_it_was_in_and_pays_once() {
    let server = MockServer::start().await;
    let run = recording();
    // Resumed at the refine: no task is created, the preview's credits
    // still count.
    Mock::given(method("POST"))
        .respond_with(created("x"))
        .expect(0)
        .mount(&server)
        .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-8"),
        vec![succeeded(&server, "prev-8", 20)],
    )
    .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/ref-8"),
        vec![
            task("ref-8", "IN_PROGRESS", json!({"progress": 60})),
            succeeded(&server, "ref-8", 10),
        ],
    )
    .await;
    mount_file(&server, "/assets/ref-8.glb", glb(), "model/gltf-binary").await;
    let generation = provider(&server)
        .resume(
            &call(TEXT_TO_3D, model("a barrel")),
            "refine:ref-8:prev-8",
            &run.cx,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    assert_eq!(generation.cost, Some(Money::from_micros(600_000)));
    assert!(run.recorder.checkpoints().is_empty());
    assert_eq!(run.recorder.progress(), [80]);
}

#[tokio::test]
async fn resume_at_the_preview_goes_on_to_the_refine() {
    let server = MockServer::start().await;
    let run = recording();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview"}),
        created("x"),
        0,
    )
    .await;
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "refine", "preview_task_id": "prev-9"}),
        created("ref-9"),
        1,
    )
    .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/prev-9"),
        vec![succeeded(&server, "prev-9", 20)],
    )
    .await;
    mount_task(
        &server,
        &format!("{TEXT_PATH}/ref-9"),
        vec![succeeded(&server, "ref-9", 10)],
    )
    .await;
    mount_file(&server, "/assets/ref-9.glb", glb(), "model/gltf-binary").await;
    let generation = provider(&server)
        .resume(
            &call(TEXT_TO_3D, model("a barrel")),
            "preview:prev-9",
            &run.cx,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.cost, Some(Money::from_micros(600_000)));
    assert_eq!(run.recorder.checkpoints(), ["refine:ref-9:prev-9"]);
}

#[tokio::test]
async fn a_shutdown_leaves_the_task_running_for_the_resume() {
    let server = MockServer::start().await;
    let run = recording();
    run.recorder.stop_only();
    mount_create(
        &server,
        TEXT_PATH,
        json!({"mode": "preview"}),
        created("prev-5"),
        1,
    )
    .await;
    let task_path = format!("{TEXT_PATH}/prev-5");
    Mock::given(method("GET"))
        .and(path(task_path.as_str()))
        .respond_with(CancelOnRequest::new(
            task("prev-5", "IN_PROGRESS", json!({"progress": 10})),
            2,
            &run.cx,
        ))
        .mount(&server)
        .await;
    let error = failure(
        provider(&server)
            .generate(&call(TEXT_TO_3D, model("a crate")), &run.cx)
            .await,
    );
    assert_eq!(error.code(), ErrorCode::Canceled);
    assert_eq!(
        requests_to(&server, "DELETE", &task_path).await,
        0,
        "the task keeps running"
    );
}
