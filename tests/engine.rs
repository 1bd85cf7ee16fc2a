//! End-to-end tests of the engine through the facade: SQLite, file blobs,
//! the procedural provider and scripted providers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use gaia::prelude::*;
use gaia::{
    AssetFilter, Budget, BudgetPeriod, CostGroup, CostQuery, Error, ErrorCode, EventKind,
    JobFilter, PageRequest, Provider, Reuse, Route, RouteTarget,
};
use sha2_check::sha256_hex;
use support::*;

mod sha2_check {
    /// Hex SHA-256 computed independently of the engine (via the `image`-free std path).
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

#[tokio::test]
async fn generates_a_verified_texture_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(support::config(dir.path(), 1)).await.unwrap();
    let request = Request::new(
        client(),
        ImageSpec::new("mossy cobblestone")
            .size(128, 64)
            .tileable(true)
            .seed(7),
    );
    let asset = engine.generate(request).await.unwrap();

    let Media::Image {
        width,
        height,
        format,
        tileable,
    } = asset.media
    else {
        panic!("not an image")
    };
    assert_eq!(
        (width, height, format.as_str(), tileable),
        (128, 64, "png", true)
    );
    assert_eq!(asset.cost_micros, Money::ZERO);
    assert!(
        matches!(&asset.source, gaia::AssetSource::Generated { provider, .. } if provider == "procedural")
    );
    let bytes = engine.read_bytes(asset.id).await.unwrap();
    assert_eq!(bytes.len() as u64, asset.size_bytes);
    assert_eq!(sha256_hex(&bytes), asset.sha256);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (128, 64));
    engine.close().await.unwrap();
}

#[tokio::test]
async fn jobs_and_assets_survive_closing_and_reopening() {
    survives_reopening(gaia::Durability::Normal).await;
}

#[tokio::test]
async fn full_durability_flushes_and_survives_reopening() {
    survives_reopening(gaia::Durability::Full).await;
}

async fn survives_reopening(durability: gaia::Durability) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), 1);
    config.durability = durability;
    let engine = Engine::open(config).await.unwrap();
    let asset = engine.generate(image_request("sand dunes")).await.unwrap();
    let job_id = match &asset.source {
        gaia::AssetSource::Generated { job_id, .. } => *job_id,
        other => panic!("{other:?}"),
    };
    engine.close().await.unwrap();
    assert_eq!(
        engine.submit(image_request("x")).await.unwrap_err().code(),
        ErrorCode::InvalidRequest
    );

    let reopened = Engine::open(support::config(dir.path(), 0)).await.unwrap();
    let job = reopened.job(job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.asset_ids, vec![asset.id]);
    assert_eq!(reopened.asset(asset.id).await.unwrap(), asset);
    assert_eq!(
        reopened.read_bytes(asset.id).await.unwrap().len() as u64,
        asset.size_bytes
    );
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn retries_with_backoff_then_falls_back_to_the_next_provider() {
    let dir = tempfile::tempdir().unwrap();
    let cheap = Scripted::new(
        "cheap",
        Money::from_micros(1_000),
        vec![Step::Fail(rate_limited), Step::Fail(server_error)],
    );
    let dear = Scripted::new(
        "dear",
        Money::from_micros(5_000),
        vec![Step::Png(png(8, 8))],
    );
    let engine = engine_with(dir.path(), 1, vec![dear.clone(), cheap.clone()]).await;
    let mut events = engine.events();

    let asset = engine.generate(image_request("retry me")).await.unwrap();
    let job = engine
        .job(match asset.source {
            gaia::AssetSource::Generated { job_id, .. } => job_id,
            _ => unreachable!(),
        })
        .await
        .unwrap();
    assert_eq!(job.attempts, 3);
    assert_eq!(job.provider.as_deref(), Some("dear"));
    assert_eq!(job.cost_micros, Money::from_micros(5_000));
    assert_eq!(
        (
            cheap.calls.load(Ordering::SeqCst),
            dear.calls.load(Ordering::SeqCst)
        ),
        (2, 1)
    );

    let mut started = Vec::new();
    while let Some(event) = events.next().await {
        match event.kind {
            EventKind::JobStarted { provider, .. } => started.push(provider),
            EventKind::JobSucceeded { .. } => break,
            _ => {}
        }
    }
    assert_eq!(
        started,
        ["cheap", "cheap", "dear"],
        "cheapest first, then fallback"
    );
    let logs = engine.job_logs(job.id).await.unwrap();
    assert!(
        logs.iter().any(|l| l.message.contains("rate limited")),
        "{logs:?}"
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn timeouts_are_retried_and_rejections_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Scripted::new(
        "cheap",
        Money::from_micros(10),
        vec![Step::Fail(timed_out), Step::Png(png(4, 4))],
    );
    let engine = engine_with(dir.path(), 1, vec![flaky.clone()]).await;
    let asset = engine
        .generate(image_request("timeout once"))
        .await
        .unwrap();
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);
    assert_eq!(asset.cost_micros, Money::from_micros(10));
    engine.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let strict = Scripted::new("cheap", Money::from_micros(10), vec![Step::Fail(rejected)]);
    let engine = engine_with(dir.path(), 1, vec![strict.clone()]).await;
    let err = engine
        .generate(image_request("forbidden"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProviderRejected);
    assert_eq!(
        strict.calls.load(Ordering::SeqCst),
        1,
        "a rejection is final"
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_job_fails_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), 1);
    config.max_attempts = 3;
    let broken = Scripted::new(
        "cheap",
        Money::from_micros(10),
        vec![Step::Fail(server_error)],
    );
    let engine = engine_with_config(config, vec![broken.clone()]).await;
    let job = engine.submit(image_request("always 500")).await.unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.error.unwrap().code, ErrorCode::ProviderError);
    assert_eq!(broken.calls.load(Ordering::SeqCst), 3);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn budgets_hold_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let price = Money::from_micros(10_000);
    let slow = Scripted::new("paid", price, vec![Step::Slow(Duration::from_millis(20))]);
    let engine = engine_with(dir.path(), 4, vec![slow.clone()]).await;
    let limit = Money::from_micros(100_000);
    engine
        .set_budget(&Budget {
            client_id: client(),
            campaign_id: None,
            period: BudgetPeriod::Total,
            limit_micros: limit,
        })
        .await
        .unwrap();

    let submits = (0..50).map(|i| {
        let engine = engine.clone();
        async move {
            engine
                .submit(image_request(&format!("wall {i}")))
                .await
                .unwrap()
        }
    });
    let jobs = futures::future::join_all(submits).await;
    let waits = jobs.iter().map(|job| engine.wait(job.id));
    let done = futures::future::join_all(waits).await;
    let succeeded = done
        .iter()
        .filter(|j| j.as_ref().unwrap().status == JobStatus::Succeeded)
        .count();
    let over_budget = done
        .iter()
        .filter(|j| {
            j.as_ref()
                .unwrap()
                .error
                .as_ref()
                .is_some_and(|e| e.code == ErrorCode::BudgetExceeded)
        })
        .count();
    assert_eq!((succeeded, over_budget), (10, 40));
    assert_eq!(
        slow.calls.load(Ordering::SeqCst),
        10,
        "refused jobs never reach the provider"
    );
    let spent = engine
        .costs(&CostQuery {
            client_id: Some(client()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(spent.total_micros, limit);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn an_estimate_over_the_budget_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paid = Scripted::new(
        "paid",
        Money::from_micros(50_000),
        vec![Step::Png(png(4, 4))],
    );
    let engine = engine_with(dir.path(), 1, vec![paid.clone()]).await;
    engine
        .set_budget(&Budget {
            client_id: client(),
            campaign_id: None,
            period: BudgetPeriod::Day,
            limit_micros: Money::from_micros(40_000),
        })
        .await
        .unwrap();
    let mut events = engine.events();
    let err = engine
        .generate(image_request("too dear"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BudgetExceeded);
    assert_eq!(paid.calls.load(Ordering::SeqCst), 0);
    let mut saw_budget_event = false;
    while let Some(event) = events.next().await {
        match event.kind {
            EventKind::BudgetExceeded { .. } => saw_budget_event = true,
            EventKind::JobFailed { .. } => break,
            _ => {}
        }
    }
    assert!(saw_budget_event);

    let mut capped = image_request("capped");
    capped.max_cost_micros = Some(10_000);
    let err = engine.generate(capped).await.unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::BudgetExceeded,
        "estimate over max_cost_micros"
    );
    assert_eq!(paid.calls.load(Ordering::SeqCst), 0);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn undecodable_output_fails_the_job_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut truncated = png(32, 32);
    truncated.truncate(truncated.len() / 2);
    let liar = Scripted::new("cheap", Money::from_micros(7), vec![Step::Bytes(truncated)]);
    let engine = engine_with(dir.path(), 1, vec![liar]).await;
    let job = engine.submit(image_request("broken bytes")).await.unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error.unwrap().code, ErrorCode::InvalidOutput);
    assert!(done.asset_ids.is_empty());
    let assets = engine
        .assets(&AssetFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(assets.items.is_empty());
    // The provider charged for the call: the ledger keeps it.
    let costs = engine.costs(&CostQuery::default()).await.unwrap();
    assert_eq!(costs.total_micros, Money::from_micros(7));
    engine.close().await.unwrap();
}

#[tokio::test]
async fn cancels_queued_and_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = Scripted::new("cheap", Money::ZERO, vec![Step::Hang]);
    let engine = engine_with(dir.path(), 1, vec![hanging.clone()]).await;
    let mut events = engine.events();
    let running = engine.submit(image_request("hang")).await.unwrap();
    loop {
        let event = events.next().await.unwrap();
        if event.job_id == Some(running.id) && matches!(event.kind, EventKind::JobProgress { .. }) {
            break;
        }
    }
    let queued = engine.submit(image_request("behind it")).await.unwrap();
    // Hosts already waiting on the running job, together.
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.wait(running.id).await })
        })
        .collect();
    assert_eq!(
        engine.cancel(queued.id).await.unwrap().status,
        JobStatus::Canceled
    );
    assert_eq!(
        engine.cancel(running.id).await.unwrap().status,
        JobStatus::Canceled
    );
    let done = engine.wait(running.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Canceled);
    assert_eq!(done.error.unwrap().code, ErrorCode::Canceled);
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().unwrap().status, JobStatus::Canceled);
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while hanging.saw_cancel.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the running provider saw the cancellation");
    assert_eq!(
        engine.cancel(running.id).await.unwrap_err().code(),
        ErrorCode::Conflict
    );
    // Only the running job was ever started.
    assert_eq!(hanging.calls.load(Ordering::SeqCst), 1);
    let retried = engine.retry(queued.id).await.unwrap();
    assert_eq!((retried.status, retried.attempts), (JobStatus::Queued, 0));
    engine.close().await.unwrap();
}

/// A job canceled, retried and running again on this engine while its first
/// attempt is still stopping belongs to the new attempt: the first one's
/// end changes nothing.
#[tokio::test]
async fn a_stopping_attempt_leaves_the_job_to_its_retry() {
    let dir = tempfile::tempdir().unwrap();
    let script = vec![
        Step::SlowToStop(Duration::from_millis(500)),
        Step::Slow(Duration::from_millis(1_500)),
    ];
    let provider = Scripted::new("cheap", Money::from_micros(7), script);
    let engine = engine_with(dir.path(), 2, vec![provider.clone()]).await;
    let mut events = engine.events();
    let job = engine.submit(image_request("twice")).await.unwrap();
    let started = |event: &gaia::Event, attempt_no: u32| {
        event.job_id == Some(job.id)
            && matches!(event.kind, EventKind::JobStarted { attempt, .. } if attempt == attempt_no)
    };
    while !started(&events.next().await.unwrap(), 1) {}

    engine.cancel(job.id).await.unwrap();
    assert_eq!(
        engine.retry(job.id).await.unwrap().status,
        JobStatus::Queued
    );
    while !started(&events.next().await.unwrap(), 1) {}
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        2,
        "both attempts run"
    );
    assert_eq!(engine.job(job.id).await.unwrap().status, JobStatus::Running);

    let done = engine.wait(job.id).await.unwrap();
    assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
    assert_eq!(done.asset_ids.len(), 1);
    assert_eq!(provider.saw_cancel.load(Ordering::SeqCst), 1);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn idempotency_keys_return_the_job_or_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(
        dir.path(),
        0,
        vec![Scripted::new("cheap", Money::ZERO, vec![])],
    )
    .await;
    let mut request = image_request("once");
    request.idempotency_key = Some("key-1".into());
    let first = engine.submit(request.clone()).await.unwrap();
    let second = engine.submit(request.clone()).await.unwrap();
    assert_eq!(first.id, second.id);
    let mut different = request;
    different.spec = Spec::Image(ImageSpec::new("twice"));
    let err = engine.submit(different).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let page = engine
        .jobs(&JobFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn events_arrive_in_order_with_increasing_seq() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(
        dir.path(),
        1,
        vec![Scripted::new("cheap", Money::from_micros(3), vec![])],
    )
    .await;
    let events = engine.events();
    let asset = engine.generate(image_request("ordered")).await.unwrap();
    engine.close().await.unwrap();
    // The stream ends with the engine, after every event it holds.
    let seen: Vec<gaia::Event> = tokio::time::timeout(Duration::from_secs(10), events.collect())
        .await
        .expect("the stream ends when the engine closes");
    let types: Vec<&str> = seen.iter().map(|e| e.type_name()).collect();
    assert_eq!(
        types,
        [
            "job_queued",
            "job_started",
            "asset_created",
            "cost_recorded",
            "job_succeeded"
        ]
    );
    assert!(
        seen.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases"
    );
    assert!(
        matches!(&seen[2].kind, EventKind::AssetCreated { asset_id, .. } if *asset_id == asset.id)
    );
    assert!(
        engine.events().next().await.is_none(),
        "a stream of a closed engine ends at once"
    );
}

#[tokio::test]
async fn exact_reuse_returns_the_earlier_asset_for_free() {
    let dir = tempfile::tempdir().unwrap();
    let paid = Scripted::new("paid", Money::from_micros(40_000), vec![]);
    let engine = engine_with(dir.path(), 1, vec![paid.clone()]).await;
    let mut request = image_request("reusable");
    request.reuse = Reuse::Exact;
    let first = engine.generate(request.clone()).await.unwrap();
    let job = engine.submit(request).await.unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.asset_ids, vec![first.id]);
    assert_eq!(done.cost_micros, Money::ZERO);
    assert!(done.reused_from.is_some());
    assert_eq!(paid.calls.load(Ordering::SeqCst), 1);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_clear_code() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(support::config(dir.path(), 0)).await.unwrap();
    let invalid = |field: &'static str| {
        move |err: Error| match err {
            Error::InvalidRequest { field: f, .. } => assert_eq!(f, field),
            other => panic!("expected invalid_request on {field}, got {other}"),
        }
    };
    let named = |provider: &str, model: Option<&str>| {
        let mut r = image_request("x");
        r.route = Route::Target(RouteTarget::new(provider, model.map(str::to_owned)));
        r
    };
    invalid("route")(engine.submit(named("nobody", None)).await.unwrap_err());
    invalid("route")(
        engine
            .submit(named("procedural", Some("no-such-model")))
            .await
            .unwrap_err(),
    );
    let mut audio_on_texture = named("procedural", Some("texture"));
    audio_on_texture.spec = Spec::Audio(gaia::AudioSpec::new("beep"));
    invalid("route")(engine.submit(audio_on_texture).await.unwrap_err());
    let video_spec: gaia::VideoSpec =
        serde_json::from_value(serde_json::json!({ "prompt": "campfire" })).unwrap();
    let video = Request::new(client(), video_spec);
    assert_eq!(
        engine.submit(video).await.unwrap_err().code(),
        ErrorCode::NoProvider
    );
    let mut zero = image_request("x");
    zero.spec = Spec::Image(ImageSpec::new("x").size(0, 16));
    invalid("spec.width")(engine.submit(zero).await.unwrap_err());
    let mut negative = image_request("x");
    negative.max_cost_micros = Some(-5);
    invalid("max_cost_micros")(engine.submit(negative).await.unwrap_err());
    let mut many = image_request("x");
    many.spec = Spec::Image(ImageSpec::new("x").count(9));
    invalid("spec.count")(engine.submit(many).await.unwrap_err());
    assert_eq!(
        engine.job(JobId::new()).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        engine.asset(gaia::AssetId::new()).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        JobId::parse("not-a-uuid").unwrap_err().code(),
        ErrorCode::NotFound
    );
    let bad_batch = vec![
        image_request("fine"),
        Request::new(client(), ImageSpec::new("  ")),
    ];
    invalid("[1].spec.prompt")(engine.submit_batch(bad_batch).await.unwrap_err());
    let page = engine
        .jobs(&JobFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "a rejected batch queues nothing");
    engine.close().await.unwrap();
}

#[tokio::test]
async fn an_unwritable_database_path_is_a_storage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let config = EngineConfig::at(blocker.join("gaia"));
    let err = Engine::open(config).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::StorageError);
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
    // And why, in the system's words (a file is in the way).
    let why = std::fs::create_dir_all(blocker.join("gaia")).unwrap_err();
    assert!(err.to_string().contains(&why.to_string()), "{err}");
}

#[tokio::test]
async fn batches_delete_and_stats_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(
        dir.path(),
        2,
        vec![Scripted::new("cheap", Money::from_micros(100), vec![])],
    )
    .await;
    let requests: Vec<Request> = (0..6).map(|i| image_request(&format!("set {i}"))).collect();
    let jobs = engine.submit_batch(requests).await.unwrap();
    for job in &jobs {
        assert_eq!(
            engine.wait(job.id).await.unwrap().status,
            JobStatus::Succeeded
        );
    }
    let stats = engine.job_stats(Some(&client())).await.unwrap();
    let succeeded = stats
        .by_status
        .iter()
        .find(|s| s.status == JobStatus::Succeeded)
        .unwrap();
    assert_eq!(succeeded.count, 6);
    assert_eq!(stats.by_provider[0].provider, "cheap");
    assert_eq!(stats.by_provider[0].finished, 6);

    let report = engine
        .costs(&CostQuery {
            client_id: Some(client()),
            group_by: CostGroup::Provider,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.total_micros, Money::from_micros(600));
    assert_eq!(report.groups[0].key.as_deref(), Some("cheap"));

    let first = engine.job(jobs[0].id).await.unwrap();
    engine.delete_job(first.id).await.unwrap();
    assert_eq!(
        engine.job(first.id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    let asset_id = first.asset_ids[0];
    assert!(
        engine.asset(asset_id).await.is_ok(),
        "assets outlive their job"
    );
    engine.delete_asset(asset_id).await.unwrap();
    assert_eq!(
        engine.read_bytes(asset_id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    // Every job produced the same bytes: the others still read them.
    let other = engine.job(jobs[1].id).await.unwrap().asset_ids[0];
    assert!(!engine.read_bytes(other).await.unwrap().is_empty());
    engine.close().await.unwrap();
}

#[tokio::test]
async fn close_releases_running_jobs_for_another_worker() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = Scripted::new("cheap", Money::ZERO, vec![Step::Hang]);
    let engine = engine_with(dir.path(), 1, vec![hanging.clone()]).await;
    let mut events = engine.events();
    let job = engine.submit(image_request("interrupted")).await.unwrap();
    while !matches!(
        events.next().await.map(|e| e.kind),
        Some(EventKind::JobProgress { .. })
    ) {}
    engine.close().await.unwrap();
    assert_eq!(hanging.saw_cancel.load(Ordering::SeqCst), 1);

    let next = Scripted::new("cheap", Money::ZERO, vec![Step::Png(png(4, 4))]);
    let reopened = engine_with(dir.path(), 1, vec![next]).await;
    let released = reopened.job(job.id).await.unwrap();
    assert_ne!(released.status, JobStatus::Failed);
    let done = reopened.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 1, "the interrupted attempt does not count");
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn provider_list_shows_models_and_prices() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(support::config(dir.path(), 0)).await.unwrap();
    let providers = engine.providers();
    let procedural = providers.iter().find(|p| p.name == "procedural").unwrap();
    assert!(!procedural.remote);
    assert!(
        procedural
            .models
            .iter()
            .any(|m| m.id == "texture" && m.price == gaia::PriceRule::Free)
    );
    let hosted: Arc<dyn Provider> = Scripted::new("cheap", Money::from_micros(1), vec![]);
    engine.register_provider(hosted).unwrap();
    assert_eq!(engine.providers().len(), 2);
    let duplicate: Arc<dyn Provider> = Scripted::new("cheap", Money::from_micros(1), vec![]);
    assert_eq!(
        engine.register_provider(duplicate).unwrap_err().code(),
        ErrorCode::InvalidRequest
    );
    engine.close().await.unwrap();
}
