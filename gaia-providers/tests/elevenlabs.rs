//! The ElevenLabs provider against a local mock of its API.

mod http_support;

use std::time::{Duration, SystemTime};

use gaia_core::{AudioMode, AudioSpec, ErrorCode, Provider, Secret};
use gaia_providers::elevenlabs::{self, DEFAULT_VOICE, ElevenLabsProvider, SFX_MODEL};
use gaia_providers::http::ProviderSettings;
use http_support::{SECRET_KEY, call, context, failure, serve_chunked, staged_files};
use serde_json::json;
use wiremock::matchers::{body_json, header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Bytes standing in for an MP3 (the engine, not the provider, decodes).
const AUDIO: &[u8] = b"ID3\x04\x00\x00\x00\x00\x00\x00fake mp3 frames";

fn settings(base_url: &str) -> ProviderSettings {
    ProviderSettings::new(elevenlabs::NAME, base_url, Some(Secret::new(SECRET_KEY)))
}

fn provider(server: &MockServer) -> ElevenLabsProvider {
    ElevenLabsProvider::new(&settings(&server.uri())).unwrap_or_else(|e| panic!("{e}"))
}

fn audio_response() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "audio/mpeg")
        .set_body_bytes(AUDIO)
}

fn sfx(duration_s: Option<f64>) -> AudioSpec {
    let mut spec = AudioSpec::new("a heavy wooden door creaks open");
    spec.duration_s = duration_s;
    spec
}

fn speech(text: &str, voice: Option<&str>) -> AudioSpec {
    let mut spec = AudioSpec::new(text);
    spec.mode = AudioMode::Speech;
    spec.voice = voice.map(str::to_owned);
    spec
}

fn detail_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "detail": {"status": code, "message": message}
    }))
}

async fn answer_sfx(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/sound-generation"))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn generate_sfx(server: &MockServer) -> gaia_core::Result<gaia_core::Generation> {
    let (_dir, cx) = context();
    provider(server)
        .generate(&call(SFX_MODEL, sfx(Some(2.0))), &cx)
        .await
}

#[tokio::test]
async fn a_sound_effect_sends_the_format_in_the_query_and_prices_the_credits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sound-generation"))
        .and(query_param("output_format", "mp3_44100_128"))
        .and(header("xi-api-key", SECRET_KEY))
        .and(body_json(json!({
            "text": "a heavy wooden door creaks open",
            "model_id": "eleven_text_to_sound_v2",
            "duration_seconds": 2.5
        })))
        .respond_with(audio_response().insert_header("character-cost", "50"))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call(SFX_MODEL, sfx(Some(2.5))), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
    assert_eq!(
        generation.outputs[0].read_to_vec().ok().as_deref(),
        Some(AUDIO)
    );
    // 50 credits at $0.10 per 1,000.
    assert_eq!(generation.cost.map(|c| c.micros()), Some(5_000));
    assert_eq!(cx.reported_cost(), generation.cost);
}

#[tokio::test]
async fn a_looping_sound_effect_sends_loop_and_prompt_influence() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sound-generation"))
        .and(body_json(json!({
            "text": "a spaceship engine hums",
            "model_id": "eleven_text_to_sound_v2",
            "duration_seconds": 4.0,
            "loop": true,
            "prompt_influence": 0.75
        })))
        .respond_with(audio_response())
        .expect(1)
        .mount(&server)
        .await;
    let mut spec = AudioSpec::new("a spaceship engine hums")
        .looping()
        .prompt_influence(0.75);
    spec.duration_s = Some(4.0);
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call(SFX_MODEL, spec), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 1);
}

#[tokio::test]
async fn speech_posts_to_the_voice_once_per_output() {
    let server = MockServer::start().await;
    for seed in [7, 8] {
        Mock::given(method("POST"))
            .and(path("/v1/text-to-speech/voice-abc"))
            .and(query_param("output_format", "mp3_44100_128"))
            .and(header("xi-api-key", SECRET_KEY))
            .and(body_json(json!({
                "text": "Welcome, traveller.", "model_id": "eleven_flash_v2_5", "seed": seed
            })))
            .respond_with(audio_response())
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut spec = speech("Welcome, traveller.", Some("voice-abc"));
    spec.seed = Some(7);
    spec.count = 2;
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call("eleven_flash_v2_5", spec), &cx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generation.outputs.len(), 2);
    // No character-cost header: 19 characters × $0.05 per 1,000, twice.
    assert_eq!(generation.cost.map(|c| c.micros()), Some(2 * 950));
}

#[tokio::test]
async fn speech_without_a_voice_uses_the_default_and_no_bearer_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/text-to-speech/{DEFAULT_VOICE}")))
        .and(header_exists("xi-api-key"))
        .respond_with(audio_response())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(400))
        .expect(0)
        .mount(&server)
        .await;
    let (_dir, cx) = context();
    let generation = provider(&server)
        .generate(&call("eleven_multilingual_v2", speech("Hello", None)), &cx)
        .await;
    assert!(generation.is_ok(), "{generation:?}");
}

#[tokio::test]
async fn a_refused_key_and_exhausted_quota_are_not_retried() {
    let server = MockServer::start().await;
    answer_sfx(
        &server,
        detail_error(
            401,
            "invalid_api_key",
            &format!("Invalid API key: {SECRET_KEY}"),
        ),
    )
    .await;
    let error = failure(generate_sfx(&server).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("API key was refused"), "{error}");
    assert!(!error.to_string().contains(SECRET_KEY), "{error}");

    let broke = MockServer::start().await;
    answer_sfx(
        &broke,
        detail_error(
            401,
            "quota_exceeded",
            "This request exceeds your quota of 10000.",
        ),
    )
    .await;
    let error = failure(generate_sfx(&broke).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("out of credit"), "{error}");
    assert!(error.to_string().contains("exceeds your quota"), "{error}");
}

#[tokio::test]
async fn a_rate_limit_honours_an_http_date() {
    let server = MockServer::start().await;
    let in_a_minute = httpdate_in(Duration::from_secs(60));
    answer_sfx(
        &server,
        detail_error(
            429,
            "too_many_concurrent_requests",
            "Too many concurrent requests",
        )
        .insert_header("retry-after", in_a_minute.as_str()),
    )
    .await;
    let error = failure(generate_sfx(&server).await);
    assert_eq!(error.code(), ErrorCode::ProviderRateLimited);
    let wait = error.retry_after().unwrap_or_default();
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

fn httpdate_in(delay: Duration) -> String {
    httpdate::fmt_http_date(SystemTime::now() + delay)
}

#[tokio::test]
async fn validation_errors_name_the_field_and_5xx_is_retryable() {
    let server = MockServer::start().await;
    answer_sfx(
        &server,
        ResponseTemplate::new(422).set_body_json(json!({
            "detail": [{"loc": ["body", "duration_seconds"], "msg": "must be at most 30", "type": "value_error"}]
        })),
    )
    .await;
    let error = failure(generate_sfx(&server).await);
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("body.duration_seconds: must be at most 30"),
        "{error}"
    );

    let busy = MockServer::start().await;
    answer_sfx(&busy, detail_error(503, "system_busy", "busy")).await;
    let error = failure(generate_sfx(&busy).await);
    assert_eq!(error.code(), ErrorCode::ProviderError);
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_fails_cleanly() {
    let base_url = serve_chunked(20 * 1024 * 1024, "audio/mpeg").await;
    let mut settings = settings(&base_url);
    settings.max_download_bytes = 256 * 1024;
    let provider = ElevenLabsProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    let (dir, cx) = context();
    let error = failure(provider.generate(&call(SFX_MODEL, sfx(None)), &cx).await);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("download cap"), "{error}");
    assert_eq!(staged_files(&dir), 0);
    // The call succeeded at ElevenLabs, so it is billed: its estimate, as
    // the response named no `character-cost`.
    let estimate = provider.estimate(SFX_MODEL, &sfx(None).into());
    assert_eq!(cx.reported_cost(), estimate.ok());
}
