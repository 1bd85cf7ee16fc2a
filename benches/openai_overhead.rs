//! What the engine adds to an OpenAI image call, printed as figures (run on
//! demand): `cargo bench --bench openai_overhead` (GAIA_BENCH_CALLS sets the
//! calls per case, default 300).
//!
//! A mock of `/v1/images/generations` on 127.0.0.1 answers with one base64
//! PNG of about 1 KiB, or of about 2 MB. For each size, sequentially:
//! - (a) bare: one reqwest client posts the same JSON, reads the body,
//!   parses it and decodes the base64 in memory;
//! - (b) engine: `engine.generate` through the OpenAI provider (SQLite in a
//!   temporary folder, file blobs, one worker): queue, claim, the same HTTP
//!   call, base64 decoded to a staging file, the PNG verified (decoded),
//!   the blob stored, the asset, cost and job committed.
//!
//! Printed: p50 and p99 of both, and their difference (the overhead); where
//! the difference goes at p50, from (c) the provider alone (`generate` with
//! a detached context: the HTTP call and the base64 staged to disk); and the
//! time to decode the PNG once (the engine's verification).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gaia::prelude::*;
use gaia::providers::http::ProviderSettings;
use gaia::providers::openai::OpenAiProvider;
use gaia::{Provider, Quality, Route, RouteTarget, Secret};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WARMUP: usize = 20;

/// RGB noise (incompressible) of `side` × `side` pixels as PNG.
fn noise_png(side: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn mock_server(png: &[u8]) -> MockServer {
    let server = MockServer::start().await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    let body = json!({
        "created": 1, "data": [{"b64_json": b64}],
        "usage": {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282,
                  "input_tokens_details": {"text_tokens": 10, "image_tokens": 0}}
    });
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn request_body() -> serde_json::Value {
    json!({"model": "gpt-image-1", "prompt": "a mossy stone door", "n": 1,
           "size": "1024x1024", "quality": "low", "output_format": "png"})
}

/// One bare call: post, read, parse, decode.
async fn bare_call(client: &reqwest::Client, url: &str) -> usize {
    let response = client
        .post(url)
        .bearer_auth("sk-bench")
        .json(&request_body())
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let b64 = parsed["data"][0]["b64_json"].as_str().unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
        .len()
}

async fn bare_latencies(server: &MockServer, calls: usize) -> Vec<Duration> {
    let client = reqwest::Client::builder().build().unwrap();
    let url = format!("{}/v1/images/generations", server.uri());
    for _ in 0..WARMUP {
        bare_call(&client, &url).await;
    }
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        bare_call(&client, &url).await;
        latencies.push(started.elapsed());
    }
    latencies
}

async fn engine_for(server: &MockServer, dir: &std::path::Path) -> Engine {
    let settings = ProviderSettings::new(
        "openai",
        format!("{}/v1", server.uri()),
        Some(Secret::new("sk-bench")),
    );
    let provider: Arc<dyn Provider> = Arc::new(OpenAiProvider::new(&settings).unwrap());
    let store = gaia::open_store(&format!("sqlite://{}", dir.join("gaia.db").display()))
        .await
        .unwrap();
    let blobs = gaia::store::open_blob_store(&format!("file://{}", dir.join("blobs").display()))
        .await
        .unwrap();
    Engine::builder()
        .store(store)
        .blobs(blobs)
        .provider(provider)
        .workers(1)
        .staging_dir(dir.join("staging"))
        .build()
        .await
        .unwrap()
}

fn request() -> Request {
    let mut spec = ImageSpec::new("a mossy stone door");
    spec.quality = Some(Quality::Low);
    let mut request = Request::new(ClientId::new("bench").unwrap(), spec);
    request.route = Route::Target(RouteTarget::new("openai", Some("gpt-image-1".into())));
    request
}

async fn engine_latencies(server: &MockServer, calls: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_for(server, dir.path()).await;
    for _ in 0..WARMUP {
        engine.generate(request()).await.unwrap();
    }
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        engine.generate(request()).await.unwrap();
        latencies.push(started.elapsed());
    }
    engine.close().await.unwrap();
    latencies
}

/// The provider alone (no engine): its HTTP call, base64 decoded to a
/// staging file.
async fn provider_latencies(server: &MockServer, calls: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let settings = ProviderSettings::new(
        "openai",
        format!("{}/v1", server.uri()),
        Some(Secret::new("sk-bench")),
    );
    let provider = OpenAiProvider::new(&settings).unwrap();
    let cx = gaia::GenerateContext::detached(dir.path().join("staging"));
    let call = gaia::Call {
        job_id: JobId::new(),
        attempt: 1,
        model: "gpt-image-1".into(),
        spec: request().spec,
        inputs: Vec::new(),
    };
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..WARMUP + calls {
        let started = Instant::now();
        let generation = provider.generate(&call, &cx).await.unwrap();
        if i >= WARMUP {
            latencies.push(started.elapsed());
        }
        drop(generation);
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The median time to decode the PNG once (what verification costs).
fn decode_time(png: &[u8]) -> Duration {
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let started = Instant::now();
            let image = image::load_from_memory(png).unwrap();
            std::hint::black_box(image);
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

async fn case(label: &str, png: Vec<u8>, calls: usize) {
    let server = mock_server(&png).await;
    let mut bare = bare_latencies(&server, calls).await;
    let mut provider = provider_latencies(&server, calls).await;
    let mut engine = engine_latencies(&server, calls).await;
    bare.sort();
    provider.sort();
    engine.sort();
    let provider_p50 = percentile(&provider, 0.5);
    let (bare_p50, bare_p99) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
    let (engine_p50, engine_p99) = (percentile(&engine, 0.5), percentile(&engine, 0.99));
    println!(
        "{label} ({} bytes of PNG, {calls} sequential calls each)",
        png.len()
    );
    println!(
        "  bare reqwest + parse + decode   p50 {:8.3} ms   p99 {:8.3} ms",
        ms(bare_p50),
        ms(bare_p99)
    );
    println!(
        "  engine.generate (openai)        p50 {:8.3} ms   p99 {:8.3} ms",
        ms(engine_p50),
        ms(engine_p99)
    );
    println!(
        "  overhead                        p50 {:8.3} ms   p99 {:8.3} ms",
        ms(engine_p50.saturating_sub(bare_p50)),
        ms(engine_p99.saturating_sub(bare_p99))
    );
    println!(
        "  where it goes at p50: the provider layer (HTTP, staging) {:.3} ms, \
         the engine's pipeline (queue, verify, blob, commit) {:.3} ms",
        ms(provider_p50.saturating_sub(bare_p50)),
        ms(engine_p50.saturating_sub(provider_p50))
    );
    println!(
        "  of which one PNG decode (verification) ≈ {:.3} ms",
        ms(decode_time(&png))
    );
}

#[tokio::main]
async fn main() {
    let calls = std::env::var("GAIA_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    // 18x18 RGB noise ≈ 1 KiB; 820x820 ≈ 2 MB.
    case("small image", noise_png(18), calls).await;
    case("large image", noise_png(820), calls).await;
}
