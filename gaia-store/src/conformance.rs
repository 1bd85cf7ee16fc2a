//! The conformance suite: the behaviour every record store must have, written
//! once against [`gaia_core::Store`] so that SQLite, Postgres and any later
//! backend run the very same cases.
//!
//! Each case is a `pub async fn(Arc<dyn Store>) -> CaseResult` that expects a
//! fresh, empty store. [`store_conformance_tests!`](crate::store_conformance_tests)
//! expands to one `#[tokio::test]` per case; give it an expression whose
//! value is a future of a [`StoreFixture`] (the store, or the store and a
//! guard such as the temporary folder its database lives in):
//!
//! ```ignore
//! async fn fresh_store() -> (Arc<dyn gaia_core::Store>, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().unwrap();
//!     let url = format!("sqlite://{}", dir.path().join("gaia.db").display());
//!     (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
//! }
//!
//! gaia_store::store_conformance_tests!(fresh_store());
//! ```
//!
//! The calling crate needs `tokio` (with `macros` and `rt-multi-thread`)
//! among its dev-dependencies. Cases never read the clock: every instant is
//! an offset from [`T0`], so they are deterministic.

use std::collections::HashSet;
use std::sync::Arc;

use gaia_core::{
    Asset, AssetFilter, AssetId, AssetKind, AssetSource, AttemptPlanner, AttemptStart,
    AttemptStarted, AudioFormat, AudioSpec, Budget, BudgetPeriod, ClaimedJob, ClientId, Completion,
    CostEntry, CostGroup, CostQuery, CostReport, Error, ErrorCode, ImageFormat, ImageSpec, Job,
    JobError, JobFilter, JobId, JobStatus, LogLevel, LogLine, Media, Money, NewJob, PageRequest,
    Progress, Request, Result, Retry, Store, Timestamp,
};
use gaia_core::{Embeddings, InsertedAsset, UsageKind, UsageRecord};

/// What a case returns: a store error fails the case like a failed assertion.
pub type CaseResult = Result<()>;

/// The instant every case counts from: 2027-01-15T08:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// What a conformance test constructs: a store, kept alive (with whatever
/// it needs, such as a temporary folder) until the case ends.
pub trait StoreFixture: Send + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
}

impl StoreFixture for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

impl<G: Send + 'static> StoreFixture for (Arc<dyn Store>, G) {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.0)
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh
/// store made by `$fixture` (an expression evaluating to a future of a
/// [`StoreFixture`], evaluated once per test).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fixture:expr) => {
        $crate::store_conformance_tests!(@cases $fixture;
            jobs_round_trip,
            list_jobs_filters,
            list_jobs_pages,
            idempotency_returns_the_existing_job,
            idempotency_conflict_rolls_back_the_batch,
            claim_order_is_priority_then_submission,
            claim_respects_run_after,
            insert_and_claim_takes_the_next_due_job,
            claims_are_exclusive_under_concurrency,
            heartbeat_renews_the_listed_claims,
            lease_guarded_calls_need_the_holder,
            a_late_call_never_passes_for_a_newer_claim,
            complete_job_stores_assets_and_cost,
            complete_job_is_atomic,
            complete_and_claim_takes_the_next_job,
            a_planned_attempt_starts_with_the_claim_or_not_at_all,
            complete_job_with_reused_assets,
            retry_later_requeues_with_the_error,
            release_job_does_not_count_the_attempt,
            provider_slots_limit_calls_in_flight,
            a_freed_slot_wakes_one_waiter,
            fail_job_records_error_and_cost,
            cancel_rules,
            a_canceled_job_is_still_charged,
            retry_job_rules,
            delete_job_rules,
            prune_jobs_removes_only_old_finished_jobs,
            recover_expired_requeues_or_fails,
            budget_refuses_past_the_limit,
            campaign_budgets,
            periods_ignore_earlier_spending,
            budget_reservations_hold_under_concurrency,
            job_stats_counts_and_percentiles,
            costs_grouped_by_each_dimension,
            find_reusable_needs_existing_assets,
            delete_asset_reports_orphans,
            list_assets_filters_and_pages,
            logs_and_progress,
            budgets_upsert_and_list,
            uploaded_assets_dedup_per_client,
            lineage_follows_parents_both_ways,
            embeddings_round_trip_per_client_and_model,
            usage_is_summarized_per_kind_and_client,
            savings_follow_the_cost_query,
        );
    };
    (@cases $fixture:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() -> $crate::conformance::CaseResult {
                let fixture = $fixture.await;
                let store = $crate::conformance::StoreFixture::store(&fixture);
                $crate::conformance::$case(store).await
            }
        )+
    };
}

// ---------------------------------------------------------------- fixtures

/// `T0` plus `ms` milliseconds.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0.millis() + ms)
}

const SECOND: i64 = 1_000;
const DAY: i64 = 86_400 * SECOND;

/// The lease every claim in the suite takes: 30 s after `T0`.
fn lease() -> Timestamp {
    at(30 * SECOND)
}

fn client(name: &str) -> Result<ClientId> {
    ClientId::new(name)
}

/// A request for a small image of `prompt`.
pub fn image_request(client_id: &str, prompt: &str) -> Result<Request> {
    Ok(Request::new(
        client(client_id)?,
        ImageSpec::new(prompt).size(64, 64),
    ))
}

/// A queued job of `client_id` at `priority`, submitted at [`T0`].
pub fn new_job(client_id: &str, priority: i32) -> Result<NewJob> {
    let mut request = image_request(client_id, "moss")?;
    request.priority = priority;
    Ok(job_for(request))
}

/// A queued job for `request`, submitted at [`T0`], three attempts allowed.
pub fn job_for(request: Request) -> NewJob {
    let request_digest = request.digest();
    let generation_digest = request.generation_digest();
    NewJob {
        job: Job {
            id: JobId::new(),
            status: JobStatus::Queued,
            progress: Progress::ZERO,
            attempts: 0,
            max_attempts: 3,
            request,
            provider: None,
            model: None,
            asset_ids: Vec::new(),
            estimated_cost_micros: None,
            cost_micros: Money::ZERO,
            error: None,
            reused: false,
            reused_from: None,
            created_at: T0,
            started_at: None,
            finished_at: None,
        },
        request_digest,
        generation_digest,
    }
}

/// An image asset generated by `job` with bytes `sha256`.
pub fn image_asset(job: &Job, sha256: &str) -> Asset {
    let mut metadata = serde_json::Map::new();
    metadata.insert("seed".to_owned(), serde_json::json!(7));
    Asset {
        id: AssetId::new(),
        client_id: job.request.client_id.clone(),
        campaign_id: job.request.campaign_id.clone(),
        name: Some("moss".to_owned()),
        mime: "image/png".to_owned(),
        size_bytes: 1_234,
        sha256: sha256.to_owned(),
        source: AssetSource::Generated {
            provider: "mock".to_owned(),
            model: "m1".to_owned(),
            job_id: job.id,
            prompt: job.request.spec.prompt().to_owned(),
        },
        cost_micros: Money::ZERO,
        tags: job.request.tags.clone(),
        metadata,
        created_at: T0,
        media: Media::Image {
            width: 64,
            height: 64,
            format: ImageFormat::Png,
            tileable: true,
        },
    }
}

/// 64 hex characters made of one repeated digit.
fn sha(digit: char) -> String {
    std::iter::repeat_n(digit, 64).collect()
}

/// A charge to `job` at `when`.
fn charge(job: &Job, provider: &str, model: &str, micros: i64, when: Timestamp) -> CostEntry {
    CostEntry {
        client_id: job.request.client_id.clone(),
        campaign_id: job.request.campaign_id.clone(),
        job_id: job.id,
        provider: provider.to_owned(),
        model: model.to_owned(),
        cost_micros: Money::from_micros(micros),
        at: when,
    }
}

fn attempt(reserve: i64, now: Timestamp) -> AttemptStart {
    AttemptStart {
        provider: "mock".to_owned(),
        model: "m1".to_owned(),
        estimate: Money::from_micros(reserve),
        reserve: Money::from_micros(reserve),
        now,
        max_in_flight: None,
    }
}

/// Whether an attempt started.
const STARTED: Option<AttemptStarted> = Some(AttemptStarted::Started);

fn completion(
    job: &Job,
    assets: Vec<Asset>,
    cost: Option<CostEntry>,
    when: Timestamp,
) -> Completion {
    Completion {
        embeddings: None,
        job_id: job.id,
        assets,
        reused_assets: Vec::new(),
        reused_from: None,
        saved_micros: Money::ZERO,
        cost,
        at: when,
    }
}

fn provider_error(message: &str) -> JobError {
    JobError {
        code: ErrorCode::ProviderError,
        message: message.to_owned(),
        retryable: true,
    }
}

/// The value, or a failed case naming what was missing.
fn present<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| Error::Internal(format!("conformance: expected {what}")))
}

/// The error of a call that had to fail with `code`.
#[track_caller]
fn expect_error<T: std::fmt::Debug>(result: Result<T>, code: ErrorCode) -> Error {
    match result {
        Err(error) if error.code() == code => error,
        other => panic!("expected a {code} error, got {other:?}"),
    }
}

async fn submit(store: &dyn Store, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
    let inserted = store.insert_jobs(jobs).await?;
    Ok(inserted.into_iter().map(|i| i.job).collect())
}

async fn submit_one(store: &dyn Store, new: NewJob) -> Result<Job> {
    let mut jobs = submit(store, vec![new]).await?;
    present(jobs.pop(), "the inserted job")
}

async fn claim_at(store: &dyn Store, worker: &str, now: Timestamp) -> Result<ClaimedJob> {
    let lease_until = Timestamp::from_millis(now.millis() + 30 * SECOND);
    present(
        store.claim_job(worker, now, lease_until).await?,
        "a job to claim",
    )
}

async fn claim(store: &dyn Store, worker: &str) -> Result<ClaimedJob> {
    present(
        store.claim_job(worker, T0, lease()).await?,
        "a job to claim",
    )
}

/// Renews the leases of `workers`; the ones still held, in order.
async fn renew(store: &dyn Store, workers: &[&str], until: Timestamp) -> Result<Vec<String>> {
    let workers: Vec<String> = workers.iter().map(|w| (*w).to_owned()).collect();
    let mut held = store.heartbeat(&workers, until).await?;
    held.sort();
    Ok(held)
}

/// Submits `new` (the only queued job) and claims it for `worker`.
async fn running(store: &dyn Store, new: NewJob, worker: &str) -> Result<Job> {
    let job = submit_one(store, new).await?;
    let claimed = claim(store, worker).await?;
    assert_eq!(claimed.job.id, job.id, "another job was queued");
    Ok(claimed.job)
}

/// Runs `new` to success with one asset of bytes `sha256` and `cost` micros.
async fn succeeded(store: &dyn Store, new: NewJob, sha256: &str, cost: i64) -> Result<Job> {
    let job = running(store, new, "w-done").await?;
    let asset = image_asset(&job, sha256);
    let charged = (cost > 0).then(|| charge(&job, "mock", "m1", cost, at(SECOND)));
    let done = store
        .complete_job("w-done", completion(&job, vec![asset], charged, at(SECOND)))
        .await?;
    present(done, "the completed job")
}

/// Runs `new` to failure, charging `cost` micros at `when`.
async fn failed(store: &dyn Store, new: NewJob, cost: i64, when: Timestamp) -> Result<Job> {
    let job = running(store, new, "w-fail").await?;
    let charged = charge(&job, "mock", "m1", cost, when);
    let done = store
        .fail_job(
            "w-fail",
            job.id,
            provider_error("boom"),
            Some(charged),
            when,
        )
        .await?;
    present(done, "the failed job")
}

async fn job(store: &dyn Store, id: JobId) -> Result<Job> {
    present(store.job(id).await?, "the job")
}

async fn total_cost(store: &dyn Store, client_id: &str) -> Result<CostReport> {
    store
        .costs(&CostQuery {
            client_id: Some(client(client_id)?),
            ..CostQuery::default()
        })
        .await
}

async fn set_budget(
    store: &dyn Store,
    client_id: &str,
    campaign_id: Option<&str>,
    period: BudgetPeriod,
    limit: i64,
) -> Result<()> {
    store
        .set_budget(&Budget {
            client_id: client(client_id)?,
            campaign_id: campaign_id.map(str::to_owned),
            period,
            limit_micros: Money::from_micros(limit),
        })
        .await
}

/// Every job a filter lists, following the cursor with pages of `limit`.
async fn list_all_jobs(store: &dyn Store, filter: &JobFilter, limit: u32) -> Result<Vec<Job>> {
    let mut page = PageRequest::first(limit);
    let mut all = Vec::new();
    loop {
        let listed = store.list_jobs(filter, &page).await?;
        assert!(listed.items.len() <= limit as usize);
        if listed.next_cursor.is_some() {
            assert_eq!(
                listed.items.len(),
                limit as usize,
                "a page short of its limit"
            );
        }
        all.extend(listed.items);
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
}

async fn list_all_assets(
    store: &dyn Store,
    filter: &AssetFilter,
    limit: u32,
) -> Result<Vec<Asset>> {
    let mut page = PageRequest::first(limit);
    let mut all = Vec::new();
    loop {
        let listed = store.list_assets(filter, &page).await?;
        assert!(listed.items.len() <= limit as usize);
        all.extend(listed.items);
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
}

fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

// ------------------------------------------------------------ job records

/// An inserted job reads back exactly; a missing one is `None`.
pub async fn jobs_round_trip(store: Arc<dyn Store>) -> CaseResult {
    let mut request = image_request("c", "mossy cobblestone")?;
    request.campaign_id = Some("spring".to_owned());
    request.tags = vec!["stone".to_owned()];
    request.priority = 3;
    request.max_cost_micros = Some(50_000);
    let new = job_for(request);
    let inserted = store.insert_jobs(vec![new.clone()]).await?;
    assert_eq!(inserted.len(), 1);
    assert!(!inserted[0].existing);
    assert_eq!(inserted[0].job, new.job);
    assert_eq!(store.job(new.job.id).await?, Some(new.job.clone()));
    assert_eq!(store.job(JobId::new()).await?, None);
    assert!(store.job_logs(new.job.id).await?.is_empty());
    Ok(())
}

/// Every filter of `list_jobs` narrows, newest first.
pub async fn list_jobs_filters(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let mut in_campaign = image_request("a", "moss")?;
    in_campaign.campaign_id = Some("x".to_owned());
    let first = submit_one(store, job_for(in_campaign.clone())).await?;
    let second = submit_one(store, job_for(in_campaign)).await?;
    let loose = submit_one(store, new_job("a", 0)?).await?;
    let audio = Request::new(client("b")?, AudioSpec::new("door creak"));
    let other = submit_one(store, job_for(audio)).await?;

    let everything = list_all_jobs(store, &JobFilter::default(), 50).await?;
    assert_eq!(
        ids(&everything),
        vec![other.id, loose.id, second.id, first.id]
    );

    let by_client = JobFilter {
        client_id: Some(client("a")?),
        ..JobFilter::default()
    };
    let listed = list_all_jobs(store, &by_client, 50).await?;
    assert_eq!(ids(&listed), vec![loose.id, second.id, first.id]);

    let by_campaign = JobFilter {
        campaign_id: Some("x".to_owned()),
        ..by_client.clone()
    };
    let listed = list_all_jobs(store, &by_campaign, 50).await?;
    assert_eq!(ids(&listed), vec![second.id, first.id]);

    let by_kind = JobFilter {
        kind: Some(AssetKind::Audio),
        ..JobFilter::default()
    };
    assert_eq!(
        ids(&list_all_jobs(store, &by_kind, 50).await?),
        vec![other.id]
    );
    let none = JobFilter {
        kind: Some(AssetKind::Audio),
        ..by_client.clone()
    };
    assert!(list_all_jobs(store, &none, 50).await?.is_empty());

    let claimed = claim(store, "w1").await?;
    assert_eq!(claimed.job.id, first.id);
    let by_status = JobFilter {
        status: Some(JobStatus::Running),
        ..JobFilter::default()
    };
    let listed = list_all_jobs(store, &by_status, 50).await?;
    assert_eq!(ids(&listed), vec![first.id]);
    assert_eq!(listed[0].status, JobStatus::Running);
    Ok(())
}

/// Keyset pages cover a listing exactly once, newest first; bad cursors and
/// limits are `invalid_request` naming the field.
pub async fn list_jobs_pages(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let mut submitted = Vec::new();
    for i in 0..25 {
        submitted.push(submit_one(store, new_job("p", 0)?).await?.id);
        if i % 5 == 0 {
            submit_one(store, new_job("other", 0)?).await?;
        }
    }
    submitted.reverse();
    let filter = JobFilter {
        client_id: Some(client("p")?),
        ..JobFilter::default()
    };
    for limit in [1, 5, 7, 25, 1_000] {
        let listed = list_all_jobs(store, &filter, limit).await?;
        assert_eq!(ids(&listed), submitted, "pages of {limit}");
    }
    let unique: HashSet<_> = ids(&list_all_jobs(store, &JobFilter::default(), 4).await?)
        .into_iter()
        .collect();
    assert_eq!(unique.len(), 30);

    let bad_cursor = PageRequest {
        cursor: Some("not-a-cursor".to_owned()),
        limit: Some(5),
    };
    let error = expect_error(
        store.list_jobs(&filter, &bad_cursor).await,
        ErrorCode::InvalidRequest,
    );
    assert!(matches!(error, Error::InvalidRequest { ref field, .. } if field == "cursor"));
    let error = expect_error(
        store.list_jobs(&filter, &PageRequest::first(0)).await,
        ErrorCode::InvalidRequest,
    );
    assert!(matches!(error, Error::InvalidRequest { ref field, .. } if field == "limit"));
    let default_page = store.list_jobs(&filter, &PageRequest::default()).await?;
    assert_eq!(default_page.items.len(), 25);
    assert_eq!(default_page.next_cursor, None);
    Ok(())
}

/// The same idempotency key and request returns the first job.
pub async fn idempotency_returns_the_existing_job(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let mut request = image_request("c", "moss")?;
    request.idempotency_key = Some("k1".to_owned());
    let first = store.insert_jobs(vec![job_for(request.clone())]).await?;
    assert!(!first[0].existing);
    let again = store.insert_jobs(vec![job_for(request.clone())]).await?;
    assert!(again[0].existing);
    assert_eq!(again[0].job, first[0].job);

    // Keys belong to a client.
    let mut elsewhere = request.clone();
    elsewhere.client_id = client("d")?;
    let other = store.insert_jobs(vec![job_for(elsewhere)]).await?;
    assert!(!other[0].existing);

    // Within one batch, the second use of a key finds the first.
    let mut batch_request = request.clone();
    batch_request.idempotency_key = Some("k2".to_owned());
    let batch = store
        .insert_jobs(vec![job_for(batch_request.clone()), job_for(batch_request)])
        .await?;
    assert!(!batch[0].existing);
    assert!(batch[1].existing);
    assert_eq!(batch[1].job.id, batch[0].job.id);

    let mine = JobFilter {
        client_id: Some(client("c")?),
        ..JobFilter::default()
    };
    assert_eq!(list_all_jobs(store, &mine, 50).await?.len(), 2);
    Ok(())
}

/// A key reused with another request fails the whole batch with `conflict`.
pub async fn idempotency_conflict_rolls_back_the_batch(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let mut request = image_request("c", "moss")?;
    request.idempotency_key = Some("k1".to_owned());
    let original = submit_one(store, job_for(request.clone())).await?;

    let mut different = request.clone();
    different.spec = ImageSpec::new("stone").into();
    let innocent = new_job("c", 0)?;
    let error = expect_error(
        store
            .insert_jobs(vec![innocent.clone(), job_for(different)])
            .await,
        ErrorCode::Conflict,
    );
    assert!(error.to_string().contains("k1"), "{error}");
    assert_eq!(store.job(innocent.job.id).await?, None);

    let mut twice = image_request("c", "moss")?;
    twice.idempotency_key = Some("k2".to_owned());
    let mut other = twice.clone();
    other.priority = 9;
    expect_error(
        store
            .insert_jobs(vec![job_for(twice), job_for(other)])
            .await,
        ErrorCode::Conflict,
    );

    let all = list_all_jobs(store, &JobFilter::default(), 50).await?;
    assert_eq!(ids(&all), vec![original.id]);
    Ok(())
}

// ------------------------------------------------------------------ queue

/// Claims take the highest priority first, then the oldest submission, and
/// count an attempt.
pub async fn claim_order_is_priority_then_submission(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let jobs = submit(
        store,
        vec![
            new_job("c", 0)?,
            new_job("c", 5)?,
            new_job("c", 0)?,
            new_job("c", 5)?,
            new_job("c", -1)?,
        ],
    )
    .await?;
    let expected = [1, 3, 0, 2, 4].map(|i| jobs[i].id);
    for (n, id) in expected.into_iter().enumerate() {
        let claimed = claim_at(store, "w1", at(n as i64)).await?;
        assert_eq!(claimed.job.id, id, "claim {n}");
        assert_eq!(claimed.job.status, JobStatus::Running);
        assert_eq!(claimed.job.attempts, 1);
        assert_eq!(claimed.job.started_at, Some(at(n as i64)));
        assert_eq!(claimed.checkpoint, None);
        assert_eq!(
            (claimed.candidate_index, claimed.candidate_failures),
            (0, 0)
        );
    }
    assert!(store.claim_job("w1", at(DAY), at(DAY)).await?.is_none());
    assert_eq!(store.next_due().await?, None);
    Ok(())
}

/// A submit for an idle worker inserts and claims together: the claim is
/// the queue's next due job, which need not be the one just inserted.
pub async fn insert_and_claim_takes_the_next_due_job(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let (inserted, claimed) = store
        .insert_jobs_and_claim(vec![new_job("c", 0)?], "w1", T0, lease(), None)
        .await?;
    let claimed = present(claimed, "the inserted job, claimed")?;
    assert_eq!(claimed.job.id, inserted[0].job.id);
    assert_eq!(inserted[0].job.status, JobStatus::Queued, "as inserted");
    assert_eq!(
        (claimed.job.status, claimed.job.attempts),
        (JobStatus::Running, 1)
    );
    assert_eq!(claimed.worker, "w1");
    let held = renew(store, &["w1"], at(60 * SECOND)).await?;
    assert_eq!(held, ["w1"], "leased to the worker");

    let urgent = submit_one(store, new_job("c", 9)?).await?;
    let (inserted, claimed) = store
        .insert_jobs_and_claim(vec![new_job("c", 0)?], "w1", at(1), lease(), None)
        .await?;
    assert_eq!(present(claimed, "the urgent job")?.job.id, urgent.id);
    assert_eq!(claim(store, "w2").await?.job.id, inserted[0].job.id);
    let (_, claimed) = store
        .insert_jobs_and_claim(Vec::new(), "w1", at(2), lease(), None)
        .await?;
    assert!(claimed.is_none(), "nothing left to claim");
    Ok(())
}

/// A job is not claimed before its `run_after`, and a deferred job does not
/// hold back a due one.
pub async fn claim_respects_run_after(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    assert_eq!(store.next_due().await?, None);
    let urgent = submit_one(store, new_job("c", 9)?).await?;
    assert_eq!(store.next_due().await?, Some(T0));
    claim(store, "w1").await?;
    let released = store.release_job(urgent.id, "w1", at(60 * SECOND)).await?;
    assert_eq!(released, Some(()));
    assert_eq!(store.next_due().await?, Some(at(60 * SECOND)));
    assert!(
        store
            .claim_job("w1", at(59 * SECOND), lease())
            .await?
            .is_none()
    );

    let later = submit_one(store, new_job("c", 0)?).await?;
    assert_eq!(store.next_due().await?, Some(T0));
    assert_eq!(claim_at(store, "w1", at(SECOND)).await?.job.id, later.id);
    assert_eq!(
        claim_at(store, "w1", at(60 * SECOND)).await?.job.id,
        urgent.id
    );
    Ok(())
}

/// Eight workers claiming fifty jobs at once claim each exactly once.
pub async fn claims_are_exclusive_under_concurrency(store: Arc<dyn Store>) -> CaseResult {
    let jobs: Vec<NewJob> = (0..50).map(|_| new_job("c", 0)).collect::<Result<_>>()?;
    submit(&*store, jobs).await?;
    let mut workers = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        workers.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            while let Some(claimed) = store.claim_job(&worker, T0, lease()).await? {
                mine.push(claimed.job.id);
            }
            Ok::<_, Error>(mine)
        }));
    }
    let mut claimed = Vec::new();
    for worker in workers {
        let ids = worker
            .await
            .map_err(|e| Error::Internal(format!("worker task: {e}")))??;
        claimed.extend(ids);
    }
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 50);
    assert_eq!(unique.len(), 50);
    Ok(())
}

/// One heartbeat renews the leases of the claims it lists, and only those,
/// and answers the ones whose job is still theirs.
pub async fn heartbeat_renews_the_listed_claims(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    submit(
        store,
        vec![new_job("c", 0)?, new_job("c", 0)?, new_job("c", 0)?],
    )
    .await?;
    let a = claim(store, "e1/1").await?.job.id;
    claim(store, "e1/2").await?;
    let c = claim(store, "e1/3").await?.job.id;

    let held = renew(store, &["e1/1", "e1/2"], at(120 * SECOND)).await?;
    assert_eq!(held, ["e1/1", "e1/2"]);

    // e1/3 was left out (its attempt ended without recording its end): its
    // lease (T0 + 30 s) expires, the others' do not.
    let recovered = store.recover_expired(at(60 * SECOND)).await?;
    assert_eq!(ids(&recovered), vec![c]);
    assert!(renew(store, &["e1/3"], at(120 * SECOND)).await?.is_empty());

    store.cancel_job(a, at(SECOND)).await?;
    let held = renew(store, &["e1/1", "e1/2", "nobody"], at(180 * SECOND)).await?;
    assert_eq!(held, ["e1/2"]);
    assert!(renew(store, &[], at(180 * SECOND)).await?.is_empty());
    assert!(store.recover_expired(at(150 * SECOND)).await?.is_empty());
    Ok(())
}

/// A job canceled, queued again and claimed anew (by the same engine, under
/// another claim id) is the new claim's alone: the late calls of the first
/// attempt change nothing, and its lease is not renewed.
pub async fn a_late_call_never_passes_for_a_newer_claim(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "e1/1").await?;
    store.cancel_job(job.id, T0).await?;
    store.retry_job(job.id, T0).await?;
    let again = claim(store, "e1/2").await?;
    assert_eq!((again.job.id, again.worker.as_str()), (job.id, "e1/2"));
    assert!(!store.is_held(job.id, "e1/1").await?);
    assert!(store.is_held(job.id, "e1/2").await?);

    let late = "e1/1";
    assert_eq!(
        store.start_attempt(job.id, late, &attempt(5, T0)).await?,
        None
    );
    assert_eq!(store.save_checkpoint(job.id, late, "task-1").await?, None);
    let failed = store
        .fail_job(late, job.id, provider_error("late"), None, at(SECOND))
        .await?;
    assert_eq!(failed, None);
    let done = completion(&job, vec![image_asset(&job, &sha('a'))], None, at(SECOND));
    assert_eq!(store.complete_job(late, done).await?, None);
    assert_eq!(
        renew(store, &[late, "e1/2"], at(60 * SECOND)).await?,
        ["e1/2"]
    );

    let stored = self::job(store, job.id).await?;
    assert_eq!((stored.status, stored.attempts), (JobStatus::Running, 1));
    assert_eq!(stored.asset_ids, Vec::new());
    assert_eq!(stored.provider, None, "the late start recorded nothing");
    Ok(())
}

/// Calls on a running job by another worker, or on a canceled job, change
/// nothing and return `None`.
pub async fn lease_guarded_calls_need_the_holder(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;

    let held = self::job(store, job.id).await?;
    assert_guarded(store, &job, "w2").await?;
    assert_eq!(
        self::job(store, job.id).await?,
        held,
        "another worker changed it"
    );

    let canceled = store.cancel_job(job.id, at(SECOND)).await?;
    assert_guarded(store, &job, "w1").await?;
    assert_eq!(
        self::job(store, job.id).await?,
        canceled,
        "its old holder changed it"
    );

    assert_eq!(total_cost(store, "c").await?.entries, 0);
    let assets = list_all_assets(store, &AssetFilter::default(), 10).await?;
    assert!(assets.is_empty());
    Ok(())
}

/// Every lease-guarded call by `worker` returns `None`.
async fn assert_guarded(store: &dyn Store, job: &Job, worker: &str) -> CaseResult {
    let id = job.id;
    let cost = || Some(charge(job, "mock", "m1", 10, at(SECOND)));
    assert_eq!(
        store.start_attempt(id, worker, &attempt(10, T0)).await?,
        None
    );
    assert_eq!(store.save_checkpoint(id, worker, "task").await?, None);
    let done = completion(job, vec![image_asset(job, &sha('a'))], cost(), at(SECOND));
    assert_eq!(store.complete_job(worker, done).await?, None);
    let retry = Retry {
        job_id: id,
        run_after: at(SECOND),
        candidate_index: 1,
        candidate_failures: 1,
        error: provider_error("boom"),
        cost: cost(),
        checkpoint_charged: Money::ZERO,
    };
    assert_eq!(store.retry_later(worker, retry).await?, None);
    assert_eq!(store.release_job(id, worker, at(SECOND)).await?, None);
    let failure = store
        .fail_job(worker, id, provider_error("boom"), cost(), at(SECOND))
        .await?;
    assert_eq!(failure, None);
    Ok(())
}

// ------------------------------------------------------------- outcomes

/// Completing stores the assets, the ledger line and the job's outcome in one go.
pub async fn complete_job_stores_assets_and_cost(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    let started = store
        .start_attempt(job.id, "w1", &attempt(50_000, T0))
        .await?;
    assert_eq!(started, STARTED);
    let assets = vec![image_asset(&job, &sha('a')), image_asset(&job, &sha('b'))];
    let cost = charge(&job, "mock", "m1", 40_000, at(SECOND));
    let mut done = completion(&job, assets.clone(), Some(cost), at(2 * SECOND));
    done.embeddings = Some(Embeddings {
        model: "m1".to_owned(),
        vectors: vec![
            (assets[0].id, vec![0.6, 0.8]),
            (assets[1].id, vec![1.0, 0.0]),
        ],
    });
    let done = present(store.complete_job("w1", done).await?, "the completed job")?;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.progress, Progress::DONE);
    assert_eq!(done.asset_ids, vec![assets[0].id, assets[1].id]);
    assert_eq!(done.cost_micros, Money::from_micros(40_000));
    assert_eq!(done.estimated_cost_micros, Some(Money::from_micros(50_000)));
    assert_eq!(done.provider.as_deref(), Some("mock"));
    assert_eq!(done.model.as_deref(), Some("m1"));
    assert_eq!(done.finished_at, Some(at(2 * SECOND)));
    assert_eq!(done.error, None);
    assert_eq!(self::job(store, job.id).await?, done);
    for asset in &assets {
        assert_eq!(store.asset(asset.id).await?.as_ref(), Some(asset));
    }
    let report = total_cost(store, "c").await?;
    assert_eq!((report.total_micros.micros(), report.entries), (40_000, 1));
    assert!(renew(store, &["w1"], at(60 * SECOND)).await?.is_empty());
    // The search vectors came in the same transaction.
    let mut vectors: Vec<_> = store
        .client_embeddings(&client("c")?, "m1")
        .await?
        .into_iter()
        .map(|stored| (stored.asset_id, stored.vector))
        .collect();
    vectors.sort_by_key(|(id, _)| assets.iter().position(|a| a.id == *id));
    assert_eq!(
        vectors,
        vec![
            (assets[0].id, vec![0.6, 0.8]),
            (assets[1].id, vec![1.0, 0.0])
        ]
    );
    Ok(())
}

/// A worker finishing a job with more queued claims the next one with the
/// completion; a failed completion claims nothing.
pub async fn complete_and_claim_takes_the_next_job(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    let behind = submit_one(store, new_job("c", 0)?).await?;
    let assets = vec![image_asset(&job, &sha('a'))];
    let mut clash = completion(&job, assets.clone(), None, at(SECOND));
    clash.assets.push(clash.assets[0].clone());
    assert!(
        store
            .complete_job_and_claim("w1", clash, "w1/next", at(SECOND), lease(), None)
            .await
            .is_err()
    );
    assert_eq!(self::job(store, behind.id).await?.status, JobStatus::Queued);
    let (done, next) = store
        .complete_job_and_claim(
            "w1",
            completion(&job, assets, None, at(SECOND)),
            "w1/next",
            at(SECOND),
            lease(),
            None,
        )
        .await?;
    assert_eq!(
        present(done, "the completed job")?.status,
        JobStatus::Succeeded
    );
    let next = present(next, "the next job")?;
    assert_eq!((next.job.id, next.worker.as_str()), (behind.id, "w1/next"));
    let held = renew(store, &["w1", "w1/next"], at(60 * SECOND)).await?;
    assert_eq!(held, ["w1/next"]);
    Ok(())
}

/// Plans the same attempt for every job a claim hands over.
struct FixedPlan(AttemptStart);

impl AttemptPlanner for FixedPlan {
    fn plan(&self, _claimed: &ClaimedJob) -> Option<AttemptStart> {
        Some(self.0.clone())
    }
}

fn planner(attempt: AttemptStart) -> Option<Arc<dyn AttemptPlanner>> {
    Some(Arc::new(FixedPlan(attempt)))
}

/// A store may start the planned attempt of the job a claim hands over, in
/// the claiming transaction; `started` says what it did: the attempt
/// recorded and its reservation held, or nothing at all. A provider without
/// a free slot starts nothing.
pub async fn a_planned_attempt_starts_with_the_claim_or_not_at_all(
    store: Arc<dyn Store>,
) -> CaseResult {
    planned_attempt(store, false).await
}

/// For a store that starts planned attempts (SQLite and Postgres both, at
/// least in `insert_jobs_and_claim`): the claim started it.
pub async fn a_planned_attempt_starts_with_the_claim(store: Arc<dyn Store>) -> CaseResult {
    planned_attempt(store, true).await
}

async fn planned_attempt(store: Arc<dyn Store>, must_start: bool) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 1_000_000).await?;
    let (_, claimed) = store
        .insert_jobs_and_claim(
            vec![new_job("c", 0)?],
            "w1",
            T0,
            lease(),
            planner(attempt(600_000, T0)),
        )
        .await?;
    let first = present(claimed, "the inserted job")?;
    assert!(first.started.is_some() || !must_start, "not started");
    let stored = self::job(store, first.job.id).await?;
    let other = running(store, new_job("c", 0)?, "w2").await?;
    let fits_beside = store
        .start_attempt(other.id, "w2", &attempt(500_000, T0))
        .await;
    match &first.started {
        Some(started) => {
            assert_eq!(started.reserve, Money::from_micros(600_000));
            assert_eq!(
                (stored.provider.as_deref(), stored.model.as_deref()),
                (Some("mock"), Some("m1"))
            );
            expect_error(fits_beside, ErrorCode::BudgetExceeded);
        }
        None => {
            assert_eq!(stored.provider, None, "not started, nothing recorded");
            assert_eq!(fits_beside?, STARTED);
        }
    }

    // `other` holds the provider's one slot: the next claim starts nothing.
    let limited = AttemptStart {
        provider: "one-at-a-time".to_owned(),
        max_in_flight: Some(1),
        ..attempt(0, at(SECOND))
    };
    assert_eq!(
        store.start_attempt(other.id, "w2", &limited).await?,
        STARTED
    );
    let behind = submit_one(store, new_job("c", 0)?).await?;
    let (_, next) = store
        .complete_job_and_claim(
            "w1",
            completion(&first.job, Vec::new(), None, at(SECOND)),
            "w1",
            at(SECOND),
            lease(),
            planner(limited),
        )
        .await?;
    let next = present(next, "the job behind")?;
    assert_eq!(next.job.id, behind.id);
    assert!(next.started.is_none(), "the provider is full");
    assert_eq!(self::job(store, behind.id).await?.provider, None);
    Ok(())
}

/// A completion that cannot store an asset stores nothing and leaves the job
/// running; a job cannot complete twice.
pub async fn complete_job_is_atomic(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let first = succeeded(store, new_job("c", 0)?, &sha('a'), 10).await?;
    let taken = present(first.asset_ids.first().copied(), "an asset id")?;

    let job = running(store, new_job("c", 0)?, "w1").await?;
    let fresh = image_asset(&job, &sha('b'));
    let mut clash = image_asset(&job, &sha('c'));
    clash.id = taken;
    let cost = charge(&job, "mock", "m1", 20, at(SECOND));
    let attempt_both = completion(
        &job,
        vec![fresh.clone(), clash],
        Some(cost.clone()),
        at(SECOND),
    );
    let mut attempt_both = attempt_both;
    attempt_both.embeddings = Some(Embeddings {
        model: "m1".to_owned(),
        vectors: vec![(fresh.id, vec![1.0, 0.0])],
    });
    assert!(store.complete_job("w1", attempt_both).await.is_err());
    assert_eq!(store.asset(fresh.id).await?, None);
    assert!(
        store
            .client_embeddings(&client("c")?, "m1")
            .await?
            .is_empty()
    );
    assert_eq!(self::job(store, job.id).await?.status, JobStatus::Running);
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 10);

    let done = completion(&job, vec![fresh.clone()], Some(cost), at(SECOND));
    assert!(store.complete_job("w1", done.clone()).await?.is_some());
    assert_eq!(store.complete_job("w1", done).await?, None);
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 30);
    let assets = list_all_assets(store, &AssetFilter::default(), 10).await?;
    assert_eq!(assets.len(), 2);
    Ok(())
}

/// A job answered by reuse lists the reused assets and where they came from.
pub async fn complete_job_with_reused_assets(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let original = succeeded(store, new_job("c", 0)?, &sha('a'), 10).await?;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    let reuse = Completion {
        embeddings: None,
        job_id: job.id,
        assets: Vec::new(),
        reused_assets: original.asset_ids.clone(),
        reused_from: Some(original.id),
        saved_micros: Money::from_micros(25),
        cost: None,
        at: at(SECOND),
    };
    let done = present(store.complete_job("w1", reuse).await?, "the job")?;
    assert_eq!(done.asset_ids, original.asset_ids);
    assert_eq!(done.reused_from, Some(original.id));
    assert!(done.reused);
    assert!(!self::job(store, original.id).await?.reused);
    let report = total_cost(store, "c").await?;
    assert_eq!(report.saved_micros, Money::from_micros(25));
    let reused = present(original.asset_ids.first().copied(), "an asset")?;
    let usage = store.usage_summary(reused).await?;
    assert_eq!(usage.total, 1);
    assert_eq!(usage.saved_micros, Money::from_micros(25));
    assert_eq!(done.cost_micros, Money::ZERO);
    assert_eq!(done.status, JobStatus::Succeeded);
    let assets = list_all_assets(store, &AssetFilter::default(), 10).await?;
    assert_eq!(assets.len(), 1);
    assert_eq!(total_cost(store, "c").await?.entries, 1);
    Ok(())
}

/// A retryable failure requeues the job after `run_after` with its error,
/// its charge and its next candidate, and releases its reservation.
pub async fn retry_later_requeues_with_the_error(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 100).await?;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    store.start_attempt(job.id, "w1", &attempt(90, T0)).await?;
    store.save_checkpoint(job.id, "w1", "task-1").await?;
    let error = provider_error("503 from upstream");
    let retry = Retry {
        job_id: job.id,
        run_after: at(60 * SECOND),
        candidate_index: 1,
        candidate_failures: 2,
        error: error.clone(),
        cost: Some(charge(&job, "mock", "m1", 5, at(SECOND))),
        checkpoint_charged: Money::from_micros(5),
    };
    assert_eq!(store.retry_later("w1", retry).await?, Some(()));
    let queued = self::job(store, job.id).await?;
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.error, Some(error));
    assert_eq!(queued.cost_micros, Money::from_micros(5));
    assert_eq!(queued.progress, Progress::ZERO);
    assert_eq!(queued.attempts, 1);
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 5);
    assert!(renew(store, &["w1"], at(SECOND)).await?.is_empty());

    // The 90 reserved were released: 5 spent + 95 fits under 100.
    let other = running(store, new_job("c", 0)?, "w2").await?;
    let started = store
        .start_attempt(other.id, "w2", &attempt(95, T0))
        .await?;
    assert_eq!(started, STARTED);

    assert!(
        store
            .claim_job("w1", at(59 * SECOND), lease())
            .await?
            .is_none()
    );
    let again = claim_at(store, "w1", at(60 * SECOND)).await?;
    assert_eq!(again.job.id, job.id);
    assert_eq!(again.job.attempts, 2);
    assert_eq!((again.candidate_index, again.candidate_failures), (1, 2));
    let checkpoint = |claimed: &ClaimedJob| {
        let charged = claimed.checkpoint_charged.micros();
        (claimed.checkpoint.clone(), charged)
    };
    assert_eq!(checkpoint(&again), (Some("task-1".to_owned()), 5));

    // The task resumed saves itself again: still charged. A new task is not.
    store.save_checkpoint(job.id, "w1", "task-1").await?;
    store.release_job(job.id, "w1", at(60 * SECOND)).await?;
    let again = claim_at(store, "w1", at(60 * SECOND)).await?;
    assert_eq!(checkpoint(&again), (Some("task-1".to_owned()), 5));
    store.save_checkpoint(job.id, "w1", "task-2").await?;
    store.release_job(job.id, "w1", at(60 * SECOND)).await?;
    let again = claim_at(store, "w1", at(60 * SECOND)).await?;
    assert_eq!(checkpoint(&again), (Some("task-2".to_owned()), 0));
    Ok(())
}

/// Releasing puts a job back without counting the attempt or keeping its
/// reservation.
pub async fn release_job_does_not_count_the_attempt(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 10).await?;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    assert_eq!(job.attempts, 1);
    store.start_attempt(job.id, "w1", &attempt(10, T0)).await?;
    let released = store.release_job(job.id, "w1", at(10 * SECOND)).await?;
    assert_eq!(released, Some(()));
    let queued = self::job(store, job.id).await?;
    assert_eq!((queued.status, queued.attempts), (JobStatus::Queued, 0));
    assert_eq!(store.next_due().await?, Some(at(10 * SECOND)));

    let other = running(store, new_job("c", 5)?, "w2").await?;
    let started = store
        .start_attempt(other.id, "w2", &attempt(10, T0))
        .await?;
    assert_eq!(started, STARTED);
    let again = claim_at(store, "w1", at(10 * SECOND)).await?;
    assert_eq!((again.job.id, again.job.attempts), (job.id, 1));
    Ok(())
}

/// An attempt with `max_in_flight` takes a call slot of its provider, counted
/// over every worker; a full provider records nothing, and a deferred job
/// waits (its attempt not counted) until a slot frees.
pub async fn provider_slots_limit_calls_in_flight(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let limited = |max: u32| AttemptStart {
        max_in_flight: Some(max),
        ..attempt(0, T0)
    };
    let first = running(store, new_job("c", 0)?, "w1").await?;
    assert_eq!(
        store.start_attempt(first.id, "w1", &limited(1)).await?,
        STARTED
    );
    let second = running(store, new_job("c", 0)?, "w2").await?;
    assert_eq!(
        store.start_attempt(second.id, "w2", &limited(1)).await?,
        Some(AttemptStarted::ProviderFull)
    );
    assert_eq!(
        self::job(store, second.id).await?.provider,
        None,
        "nothing recorded"
    );
    let elsewhere = AttemptStart {
        provider: "other".to_owned(),
        ..limited(1)
    };
    assert_eq!(
        store.start_attempt(second.id, "w2", &elsewhere).await?,
        STARTED,
        "slots are per provider"
    );
    assert_eq!(
        store.start_attempt(second.id, "w2", &limited(2)).await?,
        STARTED,
        "a higher limit fits"
    );

    let third = running(store, new_job("c", 0)?, "w3").await?;
    assert_eq!(
        store.start_attempt(third.id, "w3", &limited(2)).await?,
        Some(AttemptStarted::ProviderFull)
    );
    let deferred = store
        .defer_job(third.id, "w3", "mock", at(60 * SECOND))
        .await?;
    assert_eq!(deferred, Some(()));
    let waiting = self::job(store, third.id).await?;
    assert_eq!((waiting.status, waiting.attempts), (JobStatus::Queued, 0));
    assert_eq!(
        store.defer_job(third.id, "w3", "mock", at(SECOND)).await?,
        None,
        "no longer held"
    );
    assert!(
        store
            .claim_job("w4", at(SECOND), at(30 * SECOND))
            .await?
            .is_none()
    );

    let done = completion(
        &first,
        vec![image_asset(&first, &sha('a'))],
        None,
        at(SECOND),
    );
    assert!(store.complete_job("w1", done).await?.is_some());
    let woken = claim_at(store, "w4", at(SECOND)).await?;
    assert_eq!(
        (woken.job.id, woken.job.attempts),
        (third.id, 1),
        "due once a slot freed"
    );
    assert_eq!(
        store.start_attempt(third.id, "w4", &limited(2)).await?,
        STARTED
    );
    Ok(())
}

/// Each slot that frees (whatever ends the attempt: cancel, failure, lease
/// recovery) makes exactly one waiting job due, the first in claim order.
pub async fn a_freed_slot_wakes_one_waiter(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let limited = AttemptStart {
        max_in_flight: Some(1),
        ..attempt(0, T0)
    };
    let holder = running(store, new_job("c", 0)?, "w1").await?;
    assert_eq!(
        store.start_attempt(holder.id, "w1", &limited).await?,
        STARTED
    );
    let mut waiters = Vec::new();
    for priority in [0, 5, 0] {
        let job = running(store, new_job("c", priority)?, "w2").await?;
        assert_eq!(
            store.start_attempt(job.id, "w2", &limited).await?,
            Some(AttemptStarted::ProviderFull)
        );
        store
            .defer_job(job.id, "w2", "mock", at(600 * SECOND))
            .await?;
        waiters.push(job);
    }
    let never_started = running(store, new_job("c", 0)?, "w5").await?;
    store.cancel_job(never_started.id, at(SECOND)).await?;
    assert!(
        store
            .claim_job("w3", at(SECOND), at(30 * SECOND))
            .await?
            .is_none(),
        "a job without a slot frees none"
    );

    store.cancel_job(holder.id, at(SECOND)).await?;
    let first = claim_at(store, "w3", at(SECOND)).await?;
    assert_eq!(first.job.id, waiters[1].id, "the highest priority waiter");
    assert!(
        store
            .claim_job("w3", at(SECOND), at(30 * SECOND))
            .await?
            .is_none(),
        "one waiter per slot"
    );

    assert_eq!(
        store.start_attempt(first.job.id, "w3", &limited).await?,
        STARTED
    );
    store
        .fail_job(
            "w3",
            first.job.id,
            provider_error("boom"),
            None,
            at(2 * SECOND),
        )
        .await?;
    let second = claim_at(store, "w4", at(2 * SECOND)).await?;
    assert_eq!(second.job.id, waiters[0].id);

    assert_eq!(
        store.start_attempt(second.job.id, "w4", &limited).await?,
        STARTED
    );
    assert_eq!(
        store.recover_expired(at(100 * SECOND)).await?.len(),
        1,
        "the lease ran out"
    );
    let recovered = claim_at(store, "w5", at(100 * SECOND)).await?;
    assert_eq!(recovered.job.id, waiters[0].id, "requeued by recovery");
    let last = claim_at(store, "w5", at(100 * SECOND)).await?;
    assert_eq!(
        last.job.id, waiters[2].id,
        "woken by the slot recovery freed"
    );
    Ok(())
}

/// Failing records the error and the charge and releases the reservation.
pub async fn fail_job_records_error_and_cost(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 100).await?;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    store.start_attempt(job.id, "w1", &attempt(80, T0)).await?;
    let error = JobError {
        code: ErrorCode::ProviderRejected,
        message: "content policy".to_owned(),
        retryable: false,
    };
    let cost = charge(&job, "mock", "m1", 7, at(SECOND));
    let done = store
        .fail_job("w1", job.id, error.clone(), Some(cost), at(2 * SECOND))
        .await?;
    let done = present(done, "the failed job")?;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error, Some(error));
    assert_eq!(done.cost_micros, Money::from_micros(7));
    assert_eq!(done.finished_at, Some(at(2 * SECOND)));
    assert_eq!(self::job(store, job.id).await?, done);
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 7);

    let other = running(store, new_job("c", 0)?, "w2").await?;
    let started = store
        .start_attempt(other.id, "w2", &attempt(93, T0))
        .await?;
    assert_eq!(started, STARTED);
    Ok(())
}

// ------------------------------------------------------- host commands

/// What an attempt was charged after its job was canceled under it lands in
/// the ledger and the job's cost; the job stays canceled. A job that is not
/// canceled (still running, or queued again) is not charged this way.
pub async fn a_canceled_job_is_still_charged(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    let cost = charge(&job, "mock", "m1", 30, at(SECOND));
    assert!(
        !store.charge_canceled(&cost).await?,
        "its worker charges it"
    );
    store.cancel_job(job.id, at(SECOND)).await?;
    assert!(store.charge_canceled(&cost).await?);
    let canceled = self::job(store, job.id).await?;
    assert_eq!(
        (canceled.status, canceled.cost_micros.micros()),
        (JobStatus::Canceled, 30)
    );
    let report = total_cost(store, "c").await?;
    assert_eq!((report.total_micros.micros(), report.entries), (30, 1));

    store.retry_job(job.id, at(2 * SECOND)).await?;
    assert!(!store.charge_canceled(&cost).await?);
    assert_eq!(total_cost(store, "c").await?.entries, 1);
    Ok(())
}

/// Queued and running jobs can be canceled; finished ones are a `conflict`,
/// unknown ones `not_found`.
pub async fn cancel_rules(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let running_job = running(store, new_job("c", 0)?, "w1").await?;
    let queued = submit_one(store, new_job("c", 0)?).await?;

    let canceled = store.cancel_job(queued.id, at(SECOND)).await?;
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert_eq!(canceled.finished_at, Some(at(SECOND)));
    let error = present(canceled.error.clone(), "the cancel error")?;
    assert_eq!(error.code, ErrorCode::Canceled);
    assert!(!error.retryable);
    assert_eq!(self::job(store, queued.id).await?, canceled);

    let stopped = store.cancel_job(running_job.id, at(SECOND)).await?;
    assert_eq!(stopped.status, JobStatus::Canceled);
    assert_eq!(
        store.save_checkpoint(running_job.id, "w1", "t").await?,
        None
    );
    assert!(renew(store, &["w1"], at(SECOND)).await?.is_empty());
    assert!(store.claim_job("w2", at(SECOND), lease()).await?.is_none());

    expect_error(
        store.cancel_job(queued.id, at(SECOND)).await,
        ErrorCode::Conflict,
    );
    expect_error(
        store.cancel_job(JobId::new(), at(SECOND)).await,
        ErrorCode::NotFound,
    );
    let done = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    expect_error(
        store.cancel_job(done.id, at(SECOND)).await,
        ErrorCode::Conflict,
    );
    Ok(())
}

/// Failed and canceled jobs can be retried with fresh attempts; others are a
/// `conflict`, unknown ones `not_found`.
pub async fn retry_job_rules(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    store.save_checkpoint(job.id, "w1", "task-1").await?;
    store
        .fail_job("w1", job.id, provider_error("x"), None, at(SECOND))
        .await?;

    let requeued = store.retry_job(job.id, at(100 * SECOND)).await?;
    assert_eq!(requeued.status, JobStatus::Queued);
    assert_eq!(requeued.attempts, 0);
    assert_eq!(requeued.error, None);
    assert_eq!(requeued.progress, Progress::ZERO);
    assert_eq!(requeued.finished_at, None);
    assert_eq!(store.next_due().await?, Some(at(100 * SECOND)));
    let again = claim_at(store, "w2", at(100 * SECOND)).await?;
    assert_eq!(again.job.id, job.id);
    assert_eq!(again.job.attempts, 1);
    assert_eq!(again.checkpoint, None);
    assert_eq!((again.candidate_index, again.candidate_failures), (0, 0));
    expect_error(
        store.retry_job(job.id, at(SECOND)).await,
        ErrorCode::Conflict,
    );

    let queued = submit_one(store, new_job("c", 0)?).await?;
    expect_error(
        store.retry_job(queued.id, at(SECOND)).await,
        ErrorCode::Conflict,
    );
    store.cancel_job(queued.id, at(SECOND)).await?;
    let revived = store.retry_job(queued.id, at(SECOND)).await?;
    assert_eq!(revived.status, JobStatus::Queued);
    assert_eq!(revived.error, None);

    store.cancel_job(queued.id, at(SECOND)).await?;
    store.cancel_job(job.id, at(SECOND)).await?;
    let done = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    expect_error(
        store.retry_job(done.id, at(SECOND)).await,
        ErrorCode::Conflict,
    );
    expect_error(
        store.retry_job(JobId::new(), at(SECOND)).await,
        ErrorCode::NotFound,
    );
    Ok(())
}

/// Only finished jobs can be deleted; their log goes, assets and costs stay.
pub async fn delete_job_rules(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w1").await?;
    let line = LogLine {
        at: T0,
        level: LogLevel::Info,
        message: "calling mock".to_owned(),
    };
    store.append_logs(job.id, &[line]).await?;
    expect_error(store.delete_job(job.id).await, ErrorCode::Conflict);
    let asset = image_asset(&job, &sha('a'));
    let cost = charge(&job, "mock", "m1", 10, at(SECOND));
    store
        .complete_job(
            "w1",
            completion(&job, vec![asset.clone()], Some(cost), at(SECOND)),
        )
        .await?;

    let queued = submit_one(store, new_job("c", 0)?).await?;
    expect_error(store.delete_job(queued.id).await, ErrorCode::Conflict);
    expect_error(store.delete_job(JobId::new()).await, ErrorCode::NotFound);

    store.delete_job(job.id).await?;
    assert_eq!(store.job(job.id).await?, None);
    assert!(store.job_logs(job.id).await?.is_empty());
    assert_eq!(store.asset(asset.id).await?, Some(asset));
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 10);
    expect_error(store.delete_job(job.id).await, ErrorCode::NotFound);
    assert_eq!(self::job(store, queued.id).await?.status, JobStatus::Queued);
    Ok(())
}

/// Pruning deletes the jobs (and log lines) that ended before the cut, in
/// every terminal status; queued, running and recent jobs stay, and so do
/// the pruned jobs' assets and the cost ledger.
pub async fn prune_jobs_removes_only_old_finished_jobs(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let line = |message: &str| LogLine {
        at: T0,
        level: LogLevel::Info,
        message: message.to_owned(),
    };
    let old_success = succeeded(store, new_job("c", 0)?, &sha('a'), 10).await?;
    store.append_logs(old_success.id, &[line("old")]).await?;
    let old_failure = failed(store, new_job("c", 0)?, 5, at(SECOND)).await?;
    let recent_failure = failed(store, new_job("c", 0)?, 7, at(DAY)).await?;
    store
        .append_logs(recent_failure.id, &[line("recent")])
        .await?;
    let still_running = running(store, new_job("c", 0)?, "w-run").await?;
    let old_cancel = submit_one(store, new_job("c", 0)?).await?;
    store.cancel_job(old_cancel.id, at(2 * SECOND)).await?;
    let still_queued = submit_one(store, new_job("c", 0)?).await?;
    let asset_ids = old_success.asset_ids.clone();

    assert_eq!(store.prune_jobs(at(10 * SECOND)).await?, 3);
    for gone in [old_success.id, old_failure.id, old_cancel.id] {
        assert_eq!(store.job(gone).await?, None, "job {gone} was kept");
    }
    assert!(store.job_logs(old_success.id).await?.is_empty());
    for kept in [recent_failure.id, still_running.id, still_queued.id] {
        assert!(store.job(kept).await?.is_some(), "job {kept} was pruned");
    }
    assert_eq!(
        store.job_logs(recent_failure.id).await?,
        vec![line("recent")]
    );
    for asset_id in asset_ids {
        assert!(store.asset(asset_id).await?.is_some(), "an asset went");
    }
    assert_eq!(total_cost(store, "c").await?.total_micros.micros(), 22);
    assert_eq!(store.prune_jobs(at(10 * SECOND)).await?, 0);
    Ok(())
}

/// Jobs whose lease expired are requeued with their checkpoint, or failed
/// when out of attempts; their reservations are released.
pub async fn recover_expired_requeues_or_fails(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 10).await?;
    let resumable = running(store, new_job("c", 0)?, "w1").await?;
    store.save_checkpoint(resumable.id, "w1", "task-1").await?;
    store
        .set_progress(resumable.id, Progress::percent(40))
        .await?;
    store
        .start_attempt(resumable.id, "w1", &attempt(10, T0))
        .await?;
    let mut last_try = new_job("c", 0)?;
    last_try.job.max_attempts = 1;
    let exhausted = running(store, last_try, "w2").await?;
    let healthy = running(store, new_job("c", 0)?, "w3").await?;
    renew(store, &["w3"], at(120 * SECOND)).await?;

    assert!(store.recover_expired(at(30 * SECOND)).await?.is_empty());
    let changed = store.recover_expired(at(60 * SECOND)).await?;
    assert_eq!(changed.len(), 2);
    let find = |id: JobId| present(changed.iter().find(|j| j.id == id), "a recovered job");
    let requeued = find(resumable.id)?;
    assert_eq!(requeued.status, JobStatus::Queued);
    assert_eq!(requeued.attempts, 1);
    let lost = find(exhausted.id)?;
    assert_eq!(lost.status, JobStatus::Failed);
    assert_eq!(lost.finished_at, Some(at(60 * SECOND)));
    let error = present(lost.error.clone(), "the lease error")?;
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(!error.retryable);
    assert!(error.message.contains("lease expired"), "{}", error.message);
    assert_eq!(self::job(store, exhausted.id).await?, *lost);
    assert_eq!(
        self::job(store, healthy.id).await?.status,
        JobStatus::Running
    );

    // The 10 reserved by the lost attempt are free again.
    let started = store
        .start_attempt(healthy.id, "w3", &attempt(10, T0))
        .await?;
    assert_eq!(started, STARTED);
    assert_eq!(
        store.save_checkpoint(resumable.id, "w1", "late").await?,
        None
    );
    let resumed = claim_at(store, "w4", at(60 * SECOND)).await?;
    assert_eq!(resumed.job.id, resumable.id);
    assert_eq!(resumed.checkpoint.as_deref(), Some("task-1"));
    assert_eq!(resumed.job.attempts, 2);
    assert!(store.recover_expired(at(61 * SECOND)).await?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------- budgets

/// A reservation that does not fit is `budget_exceeded` and reserves nothing.
pub async fn budget_refuses_past_the_limit(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Total, 1_000_000).await?;
    let a = running(store, new_job("c", 0)?, "wa").await?;
    let b = running(store, new_job("c", 0)?, "wb").await?;
    let c = running(store, new_job("c", 0)?, "wc").await?;
    assert_eq!(
        store
            .start_attempt(a.id, "wa", &attempt(600_000, T0))
            .await?,
        STARTED
    );
    let error = expect_error(
        store.start_attempt(b.id, "wb", &attempt(500_000, T0)).await,
        ErrorCode::BudgetExceeded,
    );
    let message = error.to_string();
    assert!(message.contains("$1.000000"), "limit missing: {message}");
    assert!(message.contains("$0.500000"), "request missing: {message}");
    assert_eq!(self::job(store, b.id).await?.status, JobStatus::Running);

    // b holds nothing: 600,000 + 400,000 fits exactly.
    assert_eq!(
        store
            .start_attempt(c.id, "wc", &attempt(400_000, T0))
            .await?,
        STARTED
    );
    // a spends more than it reserved; c still holds 400,000.
    let cost = charge(&a, "mock", "m1", 700_000, at(SECOND));
    store
        .complete_job("wa", completion(&a, Vec::new(), Some(cost), at(SECOND)))
        .await?;
    expect_error(
        store
            .start_attempt(b.id, "wb", &attempt(1, at(SECOND)))
            .await,
        ErrorCode::BudgetExceeded,
    );
    store
        .fail_job("wc", c.id, provider_error("x"), None, at(SECOND))
        .await?;
    let fits = store
        .start_attempt(b.id, "wb", &attempt(300_000, at(SECOND)))
        .await?;
    assert_eq!(fits, STARTED);

    // A refused attempt holds nothing, not even what its job held before.
    expect_error(
        store
            .start_attempt(b.id, "wb", &attempt(2_000_000, at(SECOND)))
            .await,
        ErrorCode::BudgetExceeded,
    );
    let d = running(store, new_job("c", 0)?, "wd").await?;
    let fits = store
        .start_attempt(d.id, "wd", &attempt(300_000, at(SECOND)))
        .await?;
    assert_eq!(fits, STARTED);
    Ok(())
}

/// A campaign budget limits that campaign; the client's budget limits all.
pub async fn campaign_budgets(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", Some("x"), BudgetPeriod::Total, 100).await?;
    set_budget(store, "c", None, BudgetPeriod::Total, 1_000).await?;
    let in_campaign = |campaign: Option<&str>| -> Result<NewJob> {
        let mut request = image_request("c", "moss")?;
        request.campaign_id = campaign.map(str::to_owned);
        Ok(job_for(request))
    };
    let x1 = running(store, in_campaign(Some("x"))?, "w").await?;
    let x2 = running(store, in_campaign(Some("x"))?, "w").await?;
    let y = running(store, in_campaign(Some("y"))?, "w").await?;
    let loose = running(store, in_campaign(None)?, "w").await?;
    let elsewhere = running(store, new_job("d", 0)?, "w").await?;

    assert_eq!(
        store.start_attempt(x1.id, "w", &attempt(80, T0)).await?,
        STARTED
    );
    let error = expect_error(
        store.start_attempt(x2.id, "w", &attempt(30, T0)).await,
        ErrorCode::BudgetExceeded,
    );
    assert!(error.to_string().contains("campaign x"), "{error}");
    assert_eq!(
        store.start_attempt(y.id, "w", &attempt(900, T0)).await?,
        STARTED
    );
    expect_error(
        store.start_attempt(loose.id, "w", &attempt(30, T0)).await,
        ErrorCode::BudgetExceeded,
    );
    assert_eq!(
        store.start_attempt(loose.id, "w", &attempt(20, T0)).await?,
        STARTED
    );
    let unlimited = store
        .start_attempt(elsewhere.id, "w", &attempt(5_000, T0))
        .await?;
    assert_eq!(unlimited, STARTED);
    Ok(())
}

/// Day and month budgets count only spending since the period began (UTC).
pub async fn periods_ignore_earlier_spending(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Day, 100).await?;
    set_budget(store, "m", None, BudgetPeriod::Month, 100).await?;
    failed(store, new_job("c", 0)?, 90, at(-DAY)).await?;
    failed(store, new_job("m", 0)?, 90, at(-20 * DAY)).await?;

    let today = running(store, new_job("c", 0)?, "w").await?;
    assert_eq!(
        store
            .start_attempt(today.id, "w", &attempt(100, T0))
            .await?,
        STARTED
    );
    let this_month = running(store, new_job("m", 0)?, "w").await?;
    let started = store
        .start_attempt(this_month.id, "w", &attempt(100, T0))
        .await?;
    assert_eq!(started, STARTED);

    // Today's spending counts.
    store
        .fail_job("w", today.id, provider_error("x"), None, T0)
        .await?;
    failed(store, new_job("c", 0)?, 50, at(SECOND)).await?;
    let more = running(store, new_job("c", 0)?, "w").await?;
    expect_error(
        store
            .start_attempt(more.id, "w", &attempt(51, at(SECOND)))
            .await,
        ErrorCode::BudgetExceeded,
    );
    assert_eq!(
        store
            .start_attempt(more.id, "w", &attempt(50, at(SECOND)))
            .await?,
        STARTED
    );

    // A total budget counts yesterday too: 90 + 50 spent leave 40 of 180,
    // while the day budget would allow 50.
    store
        .fail_job("w", more.id, provider_error("x"), None, at(SECOND))
        .await?;
    set_budget(store, "c", None, BudgetPeriod::Total, 180).await?;
    let last = running(store, new_job("c", 0)?, "w").await?;
    let error = expect_error(
        store
            .start_attempt(last.id, "w", &attempt(45, at(SECOND)))
            .await,
        ErrorCode::BudgetExceeded,
    );
    assert!(error.to_string().contains("total"), "{error}");
    assert_eq!(
        store
            .start_attempt(last.id, "w", &attempt(40, at(SECOND)))
            .await?,
        STARTED
    );
    Ok(())
}

/// Fifty attempts reserving 10 at once under a budget of 100: exactly ten fit.
pub async fn budget_reservations_hold_under_concurrency(store: Arc<dyn Store>) -> CaseResult {
    set_budget(&*store, "c", None, BudgetPeriod::Total, 100).await?;
    let jobs: Vec<NewJob> = (0..50).map(|_| new_job("c", 0)).collect::<Result<_>>()?;
    submit(&*store, jobs).await?;
    let mut claimed = Vec::new();
    for n in 0..50 {
        let worker = format!("w{n}");
        let job = claim(&*store, &worker).await?.job;
        claimed.push((job.id, worker));
    }
    let mut tasks = Vec::new();
    for (job_id, worker) in claimed {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.start_attempt(job_id, &worker, &attempt(10, T0)).await
        }));
    }
    let (mut reserved, mut refused) = (0, 0);
    for task in tasks {
        let outcome = task
            .await
            .map_err(|e| Error::Internal(format!("attempt task: {e}")))?;
        match outcome {
            Ok(STARTED) => reserved += 1,
            Err(Error::BudgetExceeded(_)) => refused += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((reserved, refused), (10, 40));
    Ok(())
}

/// Budgets are upserted per (client, campaign, period) and listed per client.
pub async fn budgets_upsert_and_list(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    set_budget(store, "c", None, BudgetPeriod::Day, 100).await?;
    set_budget(store, "c", Some("x"), BudgetPeriod::Total, 50).await?;
    set_budget(store, "c", None, BudgetPeriod::Day, 200).await?;
    set_budget(store, "c", None, BudgetPeriod::Month, 300).await?;
    set_budget(store, "d", None, BudgetPeriod::Day, 1).await?;
    let mut budgets = store.budgets(&client("c")?).await?;
    budgets.sort_by_key(|b| (b.campaign_id.clone(), b.period.as_str()));
    let summary: Vec<_> = budgets
        .iter()
        .map(|b| (b.campaign_id.as_deref(), b.period, b.limit_micros.micros()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (None, BudgetPeriod::Day, 200),
            (None, BudgetPeriod::Month, 300),
            (Some("x"), BudgetPeriod::Total, 50),
        ]
    );
    assert!(budgets.iter().all(|b| b.client_id.as_str() == "c"));
    assert!(store.budgets(&client("nobody")?).await?.is_empty());
    Ok(())
}

// ------------------------------------------------------------- reporting

/// Counts per status (all five) and per-provider failure rates and
/// nearest-rank percentiles of run times.
pub async fn job_stats_counts_and_percentiles(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    for seconds in 1..=20 {
        finish_as(store, "alpha", seconds * SECOND, true).await?;
    }
    for _ in 0..5 {
        finish_as(store, "alpha", SECOND, false).await?;
    }
    finish_as(store, "beta", 500, true).await?;
    let canceled = submit_one(store, new_job("s", 0)?).await?;
    store.cancel_job(canceled.id, T0).await?;
    running(store, new_job("s", 0)?, "w").await?;
    submit(store, vec![new_job("s", 0)?, new_job("s", 0)?]).await?;
    submit_one(store, new_job("t", 0)?).await?;

    let stats = store.job_stats(Some(&client("s")?)).await?;
    let count = |status: JobStatus| {
        stats
            .by_status
            .iter()
            .find(|c| c.status == status)
            .map(|c| c.count)
    };
    assert_eq!(stats.by_status.len(), 5);
    assert_eq!(count(JobStatus::Queued), Some(2));
    assert_eq!(count(JobStatus::Running), Some(1));
    assert_eq!(count(JobStatus::Succeeded), Some(21));
    assert_eq!(count(JobStatus::Failed), Some(5));
    assert_eq!(count(JobStatus::Canceled), Some(1));
    assert_eq!(stats.by_provider.len(), 2);
    let alpha = &stats.by_provider[0];
    assert_eq!(alpha.provider, "alpha");
    assert_eq!((alpha.finished, alpha.failed), (25, 5));
    assert!(
        (alpha.failure_rate - 0.2).abs() < 1e-9,
        "{}",
        alpha.failure_rate
    );
    assert_eq!(alpha.p50_ms, Some(10_000));
    assert_eq!(alpha.p95_ms, Some(19_000));
    let beta = &stats.by_provider[1];
    assert_eq!(
        (beta.provider.as_str(), beta.finished, beta.failed),
        ("beta", 1, 0)
    );
    assert_eq!((beta.p50_ms, beta.p95_ms), (Some(500), Some(500)));
    assert_eq!(beta.failure_rate, 0.0);

    let everyone = store.job_stats(None).await?;
    let queued = everyone
        .by_status
        .iter()
        .find(|c| c.status == JobStatus::Queued);
    assert_eq!(queued.map(|c| c.count), Some(3));
    let empty = store.job_stats(Some(&client("nobody")?)).await?;
    assert!(empty.by_status.iter().all(|c| c.count == 0));
    assert_eq!(empty.by_status.len(), 5);
    assert!(empty.by_provider.is_empty());
    Ok(())
}

/// A job of client `s` run by `provider`, started at `T0`, ending `ms` later.
async fn finish_as(store: &dyn Store, provider: &str, ms: i64, success: bool) -> CaseResult {
    let job = running(store, new_job("s", 0)?, "w").await?;
    let mut start = attempt(0, T0);
    start.provider = provider.to_owned();
    store.start_attempt(job.id, "w", &start).await?;
    let end = at(ms);
    if success {
        store
            .complete_job("w", completion(&job, Vec::new(), None, end))
            .await?;
    } else {
        store
            .fail_job("w", job.id, provider_error("x"), None, end)
            .await?;
    }
    Ok(())
}

/// Expected report groups: key, sum, ledger lines.
type GroupRows = Vec<(Option<&'static str>, i64, u64)>;

/// Cost reports sum in SQL, filtered and grouped by each dimension.
pub async fn costs_grouped_by_each_dimension(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let lines = [
        ("c1", Some("x"), "openai", "gpt-image-1", 40_000, T0),
        (
            "c1",
            Some("x"),
            "openai",
            "dall-e-3",
            80_000,
            at(3_600 * SECOND),
        ),
        ("c1", None, "stability", "core", 30_000, at(-DAY)),
        ("c2", Some("y"), "openai", "gpt-image-1", 10_000, T0),
    ];
    for (client_id, campaign, provider, model, micros, when) in lines {
        let mut request = image_request(client_id, "moss")?;
        request.campaign_id = campaign.map(str::to_owned);
        let job = running(store, job_for(request), "w").await?;
        let cost = charge(&job, provider, model, micros, when);
        store
            .fail_job("w", job.id, provider_error("x"), Some(cost), when)
            .await?;
    }
    let report = |group_by: CostGroup| CostQuery {
        group_by,
        ..CostQuery::default()
    };
    let all = store.costs(&report(CostGroup::None)).await?;
    assert_eq!((all.total_micros.micros(), all.entries), (160_000, 4));
    assert!(all.groups.is_empty());

    let expectations: [(CostGroup, GroupRows); 5] = [
        (
            CostGroup::Client,
            vec![(Some("c1"), 150_000, 3), (Some("c2"), 10_000, 1)],
        ),
        (
            CostGroup::Campaign,
            vec![
                (Some("x"), 120_000, 2),
                (None, 30_000, 1),
                (Some("y"), 10_000, 1),
            ],
        ),
        (
            CostGroup::Provider,
            vec![(Some("openai"), 130_000, 3), (Some("stability"), 30_000, 1)],
        ),
        (
            CostGroup::Model,
            vec![
                (Some("openai/dall-e-3"), 80_000, 1),
                (Some("openai/gpt-image-1"), 50_000, 2),
                (Some("stability/core"), 30_000, 1),
            ],
        ),
        (
            CostGroup::Day,
            vec![
                (Some("2027-01-15"), 130_000, 3),
                (Some("2027-01-14"), 30_000, 1),
            ],
        ),
    ];
    for (group, expected) in expectations {
        let grouped = store.costs(&report(group)).await?;
        let rows: Vec<_> = grouped
            .groups
            .iter()
            .map(|g| (g.key.as_deref(), g.cost_micros.micros(), g.entries))
            .collect();
        assert_eq!(rows, expected, "grouped by {group:?}");
        assert_eq!(grouped.total_micros.micros(), 160_000);
    }

    let sum = |query: CostQuery| async move {
        store.costs(&query).await.map(|r| r.total_micros.micros())
    };
    let c1 = CostQuery {
        client_id: Some(client("c1")?),
        ..CostQuery::default()
    };
    assert_eq!(sum(c1.clone()).await?, 150_000);
    let campaign = CostQuery {
        campaign_id: Some("x".to_owned()),
        ..c1
    };
    assert_eq!(sum(campaign).await?, 120_000);
    let since = CostQuery {
        since: Some(T0),
        ..CostQuery::default()
    };
    assert_eq!(sum(since.clone()).await?, 130_000);
    let until = CostQuery {
        until: Some(T0),
        ..CostQuery::default()
    };
    assert_eq!(sum(until).await?, 30_000);
    let window = CostQuery {
        until: Some(at(3_600 * SECOND)),
        ..since
    };
    assert_eq!(sum(window).await?, 50_000);
    Ok(())
}

// ----------------------------------------------------------------- assets

/// Reuse finds the newest succeeded job of the client and generation whose
/// assets all still exist.
pub async fn find_reusable_needs_existing_assets(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let template = new_job("c", 0)?;
    let digest = template.generation_digest.clone();
    let c = client("c")?;
    assert_eq!(store.find_reusable(&c, &digest).await?, None);

    let older = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    let newer = succeeded(store, new_job("c", 0)?, &sha('b'), 0).await?;
    failed(store, new_job("c", 0)?, 0, at(SECOND)).await?;
    let empty = running(store, new_job("c", 0)?, "w").await?;
    store
        .complete_job("w", completion(&empty, Vec::new(), None, at(SECOND)))
        .await?;
    let different = image_request("c", "stone")?;
    succeeded(store, job_for(different), &sha('c'), 0).await?;

    let found = store.find_reusable(&c, &digest).await?;
    assert_eq!(found.map(|j| j.id), Some(newer.id));
    assert_eq!(store.find_reusable(&client("d")?, &digest).await?, None);

    let newer_asset = present(newer.asset_ids.first().copied(), "an asset")?;
    store.delete_asset(newer_asset).await?;
    let found = store.find_reusable(&c, &digest).await?;
    assert_eq!(found.map(|j| j.id), Some(older.id));
    let older_asset = present(older.asset_ids.first().copied(), "an asset")?;
    store.delete_asset(older_asset).await?;
    assert_eq!(store.find_reusable(&c, &digest).await?, None);
    Ok(())
}

/// Deleting an asset says whether another asset still shares its bytes.
pub async fn delete_asset_reports_orphans(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let first = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    let second = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    let third = succeeded(store, new_job("c", 0)?, &sha('b'), 0).await?;
    let only = |job: &Job| present(job.asset_ids.first().copied(), "an asset");

    let deleted = present(store.delete_asset(only(&first)?).await?, "a deletion")?;
    assert_eq!(
        (deleted.sha256.as_str(), deleted.orphaned),
        (sha('a').as_str(), false)
    );
    assert_eq!(store.asset(only(&first)?).await?, None);
    let deleted = present(store.delete_asset(only(&second)?).await?, "a deletion")?;
    assert!(deleted.orphaned);
    let deleted = present(store.delete_asset(only(&third)?).await?, "a deletion")?;
    assert_eq!((deleted.sha256, deleted.orphaned), (sha('b'), true));
    assert_eq!(store.delete_asset(only(&first)?).await?, None);
    assert_eq!(store.delete_asset(AssetId::new()).await?, None);
    Ok(())
}

/// Asset listings filter by client, campaign, type and tag, newest first,
/// and page by keyset.
pub async fn list_assets_filters_and_pages(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let tagged = |client_id: &str, campaign: Option<&str>, tags: &[&str]| -> Result<NewJob> {
        let mut request = image_request(client_id, "moss")?;
        request.campaign_id = campaign.map(str::to_owned);
        request.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        Ok(job_for(request))
    };
    let wall = succeeded(
        store,
        tagged("c", Some("x"), &["stone", "wall"])?,
        &sha('a'),
        0,
    )
    .await?;
    let sound_job = running(store, tagged("c", None, &["sfx"])?, "w").await?;
    let mut sound = image_asset(&sound_job, &sha('b'));
    sound.mime = "audio/wav".to_owned();
    sound.media = Media::Audio {
        duration_s: 1.5,
        sample_rate: 44_100,
        channels: 2,
        format: AudioFormat::Wav,
    };
    let done = completion(&sound_job, vec![sound.clone()], None, at(SECOND));
    store.complete_job("w", done).await?;
    let floor = succeeded(store, tagged("c", Some("y"), &["stone"])?, &sha('c'), 0).await?;
    succeeded(store, tagged("d", None, &["stone"])?, &sha('d'), 0).await?;
    assert_eq!(store.asset(sound.id).await?, Some(sound.clone()));

    let listed = |filter: AssetFilter| async move {
        let assets = list_all_assets(store, &filter, 2).await?;
        Ok::<_, Error>(assets.into_iter().map(|a| a.id).collect::<Vec<_>>())
    };
    let first = |job: &Job| present(job.asset_ids.first().copied(), "an asset");
    let mine = AssetFilter {
        client_id: Some(client("c")?),
        ..AssetFilter::default()
    };
    assert_eq!(
        listed(mine.clone()).await?,
        vec![first(&floor)?, sound.id, first(&wall)?]
    );
    let campaign = AssetFilter {
        campaign_id: Some("x".to_owned()),
        ..mine.clone()
    };
    assert_eq!(listed(campaign).await?, vec![first(&wall)?]);
    let audio = AssetFilter {
        kind: Some(AssetKind::Audio),
        ..mine.clone()
    };
    assert_eq!(listed(audio).await?, vec![sound.id]);
    let stone = AssetFilter {
        tag: Some("stone".to_owned()),
        ..mine.clone()
    };
    assert_eq!(listed(stone).await?, vec![first(&floor)?, first(&wall)?]);
    let everywhere = AssetFilter {
        tag: Some("stone".to_owned()),
        ..AssetFilter::default()
    };
    assert_eq!(listed(everywhere).await?.len(), 3);
    let nothing = AssetFilter {
        tag: Some("ston".to_owned()),
        ..AssetFilter::default()
    };
    assert!(listed(nothing).await?.is_empty());
    assert_eq!(listed(AssetFilter::default()).await?.len(), 4);

    let bad = PageRequest {
        cursor: Some("?".to_owned()),
        limit: None,
    };
    expect_error(
        store.list_assets(&mine, &bad).await,
        ErrorCode::InvalidRequest,
    );
    Ok(())
}

/// Log lines come back in order; progress is saved only while running.
pub async fn logs_and_progress(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let job = running(store, new_job("c", 0)?, "w").await?;
    let line = |n: usize, level: LogLevel| LogLine {
        at: at(n as i64),
        level,
        message: format!("line {n}"),
    };
    let first = vec![line(0, LogLevel::Info), line(1, LogLevel::Warn)];
    store.append_logs(job.id, &first).await?;
    store.append_logs(job.id, &[]).await?;
    store
        .append_logs(job.id, &[line(2, LogLevel::Error)])
        .await?;
    let mut expected = first;
    expected.push(line(2, LogLevel::Error));
    assert_eq!(store.job_logs(job.id).await?, expected);

    let many: Vec<_> = (3..503).map(|n| line(n, LogLevel::Info)).collect();
    store.append_logs(job.id, &many).await?;
    let all = store.job_logs(job.id).await?;
    assert_eq!(all.len(), 503);
    assert!(
        all.iter()
            .enumerate()
            .all(|(n, l)| l.message == format!("line {n}"))
    );

    store.set_progress(job.id, Progress::percent(42)).await?;
    assert_eq!(
        self::job(store, job.id).await?.progress,
        Progress::percent(42)
    );
    let queued = submit_one(store, new_job("c", 0)?).await?;
    store.set_progress(queued.id, Progress::percent(42)).await?;
    assert_eq!(self::job(store, queued.id).await?.progress, Progress::ZERO);
    Ok(())
}

// ------------------------------------------- imports, lineage, search, usage

/// An uploaded image of `client_id` with bytes `sha256`.
pub fn uploaded_asset(client_id: &str, sha256: &str) -> Result<Asset> {
    let job = job_for(image_request(client_id, "upload")?).job;
    let mut asset = image_asset(&job, sha256);
    asset.source = AssetSource::Uploaded;
    asset.metadata = serde_json::Map::new();
    Ok(asset)
}

/// A derived copy of `parent` (inserted through an upload, so it needs no job).
fn derived_from(parent: &Asset, operation: &str, sha256: &str) -> Asset {
    let mut child = parent.clone();
    child.id = AssetId::new();
    child.sha256 = sha256.to_owned();
    child.source = AssetSource::Derived {
        parent_id: parent.id,
        operation: operation.to_owned(),
    };
    child
}

async fn upload(store: &dyn Store, asset: &Asset, dedup: bool) -> Result<InsertedAsset> {
    store.insert_uploaded_asset(asset, dedup).await
}

/// The same bytes uploaded twice by one client are one asset unless dedup
/// is off; another client, other bytes, or generated bytes are not matches.
pub async fn uploaded_assets_dedup_per_client(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let generated = succeeded(store, new_job("c", 0)?, &sha('a'), 0).await?;
    let first = uploaded_asset("c", &sha('a'))?;
    let inserted = upload(store, &first, true).await?;
    assert!(
        !inserted.existing,
        "a generated asset is no upload to dedup against"
    );
    assert_eq!(store.asset(first.id).await?, Some(first.clone()));

    let again = upload(store, &uploaded_asset("c", &sha('a'))?, true).await?;
    assert!(again.existing);
    assert_eq!(again.asset, first);
    let forced = upload(store, &uploaded_asset("c", &sha('a'))?, false).await?;
    assert!(!forced.existing);
    let other_client = upload(store, &uploaded_asset("d", &sha('a'))?, true).await?;
    assert!(!other_client.existing);
    let other_bytes = upload(store, &uploaded_asset("c", &sha('b'))?, true).await?;
    assert!(!other_bytes.existing);

    let mine = AssetFilter {
        client_id: Some(client("c")?),
        ..AssetFilter::default()
    };
    assert_eq!(list_all_assets(store, &mine, 10).await?.len(), 4);
    let taken = upload(store, &first, false).await;
    expect_error(taken, ErrorCode::Conflict);
    assert_eq!(generated.asset_ids.len(), 1);
    Ok(())
}

/// Lineage lists ancestors nearest first and descendants generation by generation.
pub async fn lineage_follows_parents_both_ways(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let root = uploaded_asset("c", &sha('a'))?;
    upload(store, &root, false).await?;
    let child = derived_from(&root, "resize", &sha('b'));
    upload(store, &child, false).await?;
    let sibling = derived_from(&root, "thumbnail", &sha('c'));
    upload(store, &sibling, false).await?;
    let grandchild = derived_from(&child, "convert", &sha('d'));
    upload(store, &grandchild, false).await?;

    let ids = |assets: &[Asset]| assets.iter().map(|a| a.id).collect::<Vec<_>>();
    let of_root = present(store.lineage(root.id).await?, "lineage")?;
    assert_eq!(of_root.asset, root);
    assert!(of_root.ancestors.is_empty());
    assert_eq!(
        ids(&of_root.descendants),
        vec![child.id, sibling.id, grandchild.id]
    );
    let of_grandchild = present(store.lineage(grandchild.id).await?, "lineage")?;
    assert_eq!(ids(&of_grandchild.ancestors), vec![child.id, root.id]);
    assert!(of_grandchild.descendants.is_empty());
    let of_child = present(store.lineage(child.id).await?, "lineage")?;
    assert_eq!(ids(&of_child.ancestors), vec![root.id]);
    assert_eq!(ids(&of_child.descendants), vec![grandchild.id]);

    store.delete_asset(child.id).await?;
    let orphan = present(store.lineage(grandchild.id).await?, "lineage")?;
    assert!(
        orphan.ancestors.is_empty(),
        "a deleted parent ends the chain"
    );
    assert_eq!(store.lineage(child.id).await?, None);
    Ok(())
}

/// Vectors come back bit for bit, per client and model, with the fields
/// search filters on; replacing keeps one row; deleting the asset drops it.
pub async fn embeddings_round_trip_per_client_and_model(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let mut audio = uploaded_asset("c", &sha('a'))?;
    audio.media = Media::Audio {
        duration_s: 1.0,
        sample_rate: 8_000,
        channels: 1,
        format: AudioFormat::Wav,
    };
    audio.campaign_id = Some("x".to_owned());
    upload(store, &audio, false).await?;
    let image = uploaded_asset("c", &sha('b'))?;
    upload(store, &image, false).await?;
    let foreign = uploaded_asset("d", &sha('c'))?;
    upload(store, &foreign, false).await?;

    let odd = vec![0.5f32, -1.25, f32::MIN_POSITIVE, 3.0e-9];
    store
        .put_embeddings(
            "m1",
            &[
                (audio.id, odd.clone()),
                (image.id, vec![1.0; 4]),
                (foreign.id, vec![2.0; 4]),
                (AssetId::new(), vec![9.0; 4]),
            ],
        )
        .await?;
    store
        .put_embeddings("m2", &[(image.id, vec![7.0; 4])])
        .await?;
    store
        .put_embeddings("m1", &[(image.id, vec![3.0; 4])])
        .await?;
    store.put_embeddings("m1", &[]).await?;

    let mine = store.client_embeddings(&client("c")?, "m1").await?;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].asset_id, audio.id);
    assert_eq!(mine[0].vector, odd);
    assert_eq!(mine[0].kind, AssetKind::Audio);
    assert_eq!(mine[0].campaign_id.as_deref(), Some("x"));
    assert_eq!(mine[1].vector, vec![3.0; 4]);
    assert_eq!(mine[1].kind, AssetKind::Image);
    let other_model = store.client_embeddings(&client("c")?, "m2").await?;
    assert_eq!(other_model.len(), 1);
    assert_eq!(other_model[0].vector, vec![7.0; 4]);

    store.delete_asset(audio.id).await?;
    assert_eq!(store.client_embeddings(&client("c")?, "m1").await?.len(), 1);
    assert_eq!(store.client_embeddings(&client("d")?, "m1").await?.len(), 1);
    Ok(())
}

/// Usage batches are summed per kind and per client; records of a deleted
/// asset are dropped, not an error.
pub async fn usage_is_summarized_per_kind_and_client(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let asset = uploaded_asset("c", &sha('a'))?;
    upload(store, &asset, false).await?;
    let empty = store.usage_summary(asset.id).await?;
    assert_eq!(empty.total, 0);
    assert_eq!(empty.last_used_at, None);
    assert!(empty.by_kind.iter().all(|k| k.count == 0));
    assert_eq!(empty.by_kind.len(), UsageKind::ALL.len());

    let record = |client_id: &str, kind: UsageKind, ms: i64| -> Result<UsageRecord> {
        Ok(UsageRecord {
            asset_id: asset.id,
            client_id: client(client_id)?,
            kind,
            at: at(ms),
        })
    };
    let mut batch: Vec<UsageRecord> = (0..150)
        .map(|n| record("c", UsageKind::Read, n))
        .collect::<Result<_>>()?;
    batch.push(record("c", UsageKind::Export, 500)?);
    batch.push(record("e", UsageKind::Read, 900)?);
    batch.push(UsageRecord {
        asset_id: AssetId::new(),
        ..record("c", UsageKind::Read, 1_000)?
    });
    store.record_usage(&batch).await?;
    store.record_usage(&[]).await?;

    let summary = store.usage_summary(asset.id).await?;
    assert_eq!(summary.total, 152);
    let count_of = |kind: UsageKind| {
        summary
            .by_kind
            .iter()
            .find(|k| k.kind == kind)
            .map(|k| k.count)
    };
    assert_eq!(count_of(UsageKind::Read), Some(151));
    assert_eq!(count_of(UsageKind::Export), Some(1));
    assert_eq!(count_of(UsageKind::Reuse), Some(0));
    assert_eq!(summary.by_client.len(), 2);
    assert_eq!(summary.by_client[0].client_id, client("c")?);
    assert_eq!(summary.by_client[0].count, 151);
    assert_eq!(summary.by_client[0].last_used_at, at(500));
    assert_eq!(summary.last_used_at, Some(at(900)));
    assert_eq!(summary.saved_micros, Money::ZERO);
    Ok(())
}

/// Savings are summed over the cost query's client, campaign and time, and
/// a saving split over several reused assets adds up exactly.
pub async fn savings_follow_the_cost_query(store: Arc<dyn Store>) -> CaseResult {
    let store = &*store;
    let first = uploaded_asset("c", &sha('a'))?;
    upload(store, &first, false).await?;
    let second = uploaded_asset("c", &sha('b'))?;
    upload(store, &second, false).await?;
    let mut in_campaign = image_request("c", "moss")?;
    in_campaign.campaign_id = Some("x".to_owned());
    for (request, saved, when) in [
        (image_request("c", "moss")?, 100, at(SECOND)),
        (in_campaign, 7, at(DAY)),
        (image_request("d", "moss")?, 1_000, at(SECOND)),
    ] {
        let job = running(store, job_for(request), "w").await?;
        let reuse = Completion {
            embeddings: None,
            job_id: job.id,
            assets: Vec::new(),
            reused_assets: vec![first.id, second.id],
            reused_from: None,
            saved_micros: Money::from_micros(saved),
            cost: None,
            at: when,
        };
        present(store.complete_job("w", reuse).await?, "the job")?;
    }
    let saved = |query: CostQuery| async move {
        Ok::<_, Error>(store.costs(&query).await?.saved_micros.micros())
    };
    let of_c = CostQuery {
        client_id: Some(client("c")?),
        ..CostQuery::default()
    };
    assert_eq!(saved(of_c.clone()).await?, 107);
    assert_eq!(saved(CostQuery::default()).await?, 1_107);
    let campaign = CostQuery {
        campaign_id: Some("x".to_owned()),
        ..of_c.clone()
    };
    assert_eq!(saved(campaign).await?, 7);
    let early = CostQuery {
        until: Some(at(DAY)),
        ..of_c.clone()
    };
    assert_eq!(saved(early).await?, 100);
    let halves = [
        store.usage_summary(first.id).await?.saved_micros.micros(),
        store.usage_summary(second.id).await?.saved_micros.micros(),
    ];
    assert_eq!(halves, [554, 553]);
    let report = store.costs(&of_c).await?;
    assert_eq!((report.total_micros, report.entries), (Money::ZERO, 0));
    Ok(())
}
