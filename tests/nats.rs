//! The NATS event sink: a job's events reach a subscriber in order, and a
//! server that cannot be reached never fails or holds up the engine.
//!
//! The server is `GAIA_TEST_NATS_URL` (default `nats://127.0.0.1:4222`);
//! when it cannot be reached the tests that need it are skipped with a
//! message, unless `GAIA_REQUIRE_SERVICES=1`.
#![cfg(feature = "nats")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures::StreamExt;
use gaia::prelude::*;
use gaia::sinks::NatsSink;
use gaia::{Event, EventKind, EventSink, NatsConfig, Route, RouteTarget, Timestamp};
use support::*;

/// Longest any step may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

fn nats_url() -> String {
    std::env::var("GAIA_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A client of the test server, or `None` (skipped) when it is unreachable.
async fn test_server(test: &str) -> Option<async_nats::Client> {
    let url = nats_url();
    let connected = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(&url)).await;
    match connected {
        Ok(Ok(client)) => Some(client),
        _ => {
            assert!(
                std::env::var("GAIA_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "GAIA_REQUIRE_SERVICES=1 but no NATS server answers at {url}"
            );
            eprintln!("skipped {test}: no NATS server at {url} (set GAIA_TEST_NATS_URL)");
            None
        }
    }
}

/// A subject prefix no other test run shares.
fn unique_prefix() -> String {
    format!("gaia-test-{}", JobId::new())
}

fn procedural_texture(prompt: &str) -> Request {
    let mut request = image_request(prompt);
    request.route = Route::Target(RouteTarget::new("procedural", None));
    request
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_subscriber_sees_a_jobs_lifecycle_in_order() {
    let Some(subscriber) = test_server("lifecycle").await else {
        return;
    };
    let prefix = unique_prefix();
    let mut messages = subscriber.subscribe(format!("{prefix}.>")).await.unwrap();
    subscriber.flush().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 1);
    config.events.nats = Some(NatsConfig {
        url: nats_url(),
        subject_prefix: prefix.clone(),
    });
    let engine = Engine::open(config).await.unwrap();

    let asset = engine.generate(procedural_texture("moss")).await.unwrap();
    engine.close().await.unwrap();

    let mut received: Vec<(String, Event)> = Vec::new();
    while !received
        .last()
        .is_some_and(|(_, event)| event.kind.is_terminal())
    {
        let message = tokio::time::timeout(PATIENCE, messages.next())
            .await
            .expect("the job's events stopped arriving")
            .unwrap();
        let event: Event = serde_json::from_slice(&message.payload).unwrap();
        received.push((message.subject.to_string(), event));
    }
    let gaia::AssetSource::Generated { job_id, .. } = asset.source else {
        panic!("not a generated asset: {:?}", asset.source);
    };
    for (subject, event) in &received {
        assert_eq!(event.job_id, Some(job_id), "{subject}");
        assert_eq!(subject, &gaia::sinks::subject(&prefix, &event.kind));
    }
    let seqs: Vec<u64> = received.iter().map(|(_, e)| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq out of order: {seqs:?}"
    );
    let steps: Vec<&str> = received
        .iter()
        .map(|(subject, _)| &subject[prefix.len() + 1..])
        .filter(|step| *step != "asset.generation.progress" && *step != "asset.generation.log")
        .collect();
    assert_eq!(
        steps,
        [
            "asset.generation.queued",
            "asset.generation.started",
            "asset.created",
            "cost.recorded",
            "asset.generation.succeeded",
        ]
    );
    let created = received.iter().find_map(|(_, e)| match &e.kind {
        EventKind::AssetCreated { asset_id, .. } => Some(*asset_id),
        _ => None,
    });
    assert_eq!(created, Some(asset.id));
}

#[tokio::test]
async fn an_unreachable_server_never_fails_or_holds_up_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 1);
    config.events.nats = Some(NatsConfig::new(format!(
        "nats://127.0.0.1:{}",
        closed_port()
    )));
    let run = async {
        let engine = Engine::open(config).await.unwrap();
        for prompt in ["moss", "sand", "ice"] {
            let asset = engine.generate(procedural_texture(prompt)).await.unwrap();
            assert!(!engine.read_bytes(asset.id).await.unwrap().is_empty());
        }
        engine.close().await.unwrap();
    };
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("jobs waited on the unreachable NATS server");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let sink = NatsSink::connect(&NatsConfig::new(format!(
        "nats://127.0.0.1:{}",
        closed_port()
    )))
    .await
    .unwrap();
    let event = |seq| Event {
        seq,
        at: Timestamp::now(),
        job_id: None,
        kind: EventKind::JobCanceled {},
    };
    // Publishing is synchronous: were it to wait for the server, this loop
    // would never end.
    for seq in 1..=20_000 {
        sink.publish(&event(seq));
    }
    assert!(!sink.is_connected());
    assert!(
        sink.dropped_events() >= 10_000,
        "only {} of 20000 events were dropped",
        sink.dropped_events()
    );
    tokio::time::timeout(PATIENCE, sink.flush())
        .await
        .expect("flush waited on an unreachable server");
}

#[tokio::test]
async fn malformed_urls_are_refused_without_their_password() {
    let error = NatsSink::connect(&NatsConfig::new("nats://user:hunter2@[bad"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, gaia::Error::InvalidRequest { field, .. } if field == "events.nats.url"),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
