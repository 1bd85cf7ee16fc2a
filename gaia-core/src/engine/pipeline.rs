//! One attempt of one claimed job: reuse → route → estimate → reserve →
//! generate → verify → store → settle.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Shared;
use super::backoff;
use super::reporter::JobReporter;
use super::router::{Candidate, Router};
use crate::asset::{Asset, AssetSource};
use crate::error::{Error, ErrorCode, Result};
use crate::event::EventKind;
use crate::id::{AssetId, JobId};
use crate::job::{Job, LogLevel};
use crate::money::Money;
use crate::provider::{Call, GenerateContext, Generation, InputRole};
use crate::request::{Request, Reuse, Spec};
use crate::store::{
    AttemptPlanner, AttemptStart, AttemptStarted, ClaimedJob, Completion, CostEntry, Retry,
};
use crate::timestamp::Timestamp;
use crate::verify;

/// How an attempt ended, before it is persisted.
enum Outcome {
    Done(Completion),
    Failed {
        error: Error,
        cost: Option<CostEntry>,
        candidates: usize,
        /// The candidate that failed when it is not the job's own (its own
        /// was full).
        used_index: Option<u32>,
    },
    /// Every capable provider is at its limit of calls in flight.
    WaitForSlot {
        provider: String,
    },
    /// The job is no longer ours (canceled, or recovered by another worker).
    Lost,
}

impl Outcome {
    fn failed(error: Error, cost: Option<CostEntry>, candidates: usize) -> Self {
        Self::Failed {
            error,
            cost,
            candidates,
            used_index: None,
        }
    }
}

/// A job waiting for a provider slot is looked at again after this long
/// even if no slot-freeing wake-up reaches it.
const SLOT_WAIT_FALLBACK: Duration = Duration::from_secs(10);

/// Runs a claimed job to the end of this attempt and persists the result;
/// returns the next job when its completion claimed one.
pub(crate) async fn run(shared: Arc<Shared>, claimed: ClaimedJob) -> Option<ClaimedJob> {
    let job_id = claimed.job.id;
    let cancel = shared.register_running(&claimed);
    let span = tracing::info_span!(
        "job",
        %job_id,
        attempt = claimed.job.attempts,
        provider = tracing::field::Empty
    );
    let next = async {
        // A submit still emitting this job's `job_queued` finishes first.
        drop(shared.submit_gate.write().await);
        let (reporter, writer) = JobReporter::start(shared.clone(), &claimed);
        let outcome = attempt(&shared, &claimed, &reporter, &cancel).await;
        let outcome = match outcome {
            Outcome::Failed {
                error: Error::Canceled,
                ..
            } if shared.is_shutting_down() => {
                release_for_shutdown(&shared, &claimed).await;
                Outcome::Lost
            }
            other => other,
        };
        let next = settle(&shared, &claimed, &reporter, outcome).await;
        if shared.limits_calls() {
            // The end of this attempt may have freed a call slot that a
            // deferred job waits for; the store made it due.
            shared.wake_workers();
        }
        drop(reporter);
        writer.finish().await;
        next
    }
    .instrument(span)
    .await;
    shared.claims.end(&claimed.worker);
    next
}

async fn attempt(
    shared: &Arc<Shared>,
    claimed: &ClaimedJob,
    reporter: &Arc<JobReporter>,
    cancel: &CancellationToken,
) -> Outcome {
    let job = &claimed.job;
    let request = &job.request;
    if let Spec::Derive(spec) = &request.spec
        && !spec.operation.is_remote()
    {
        return match super::derive::run(shared, claimed, spec).await {
            Ok(Some(completion)) => Outcome::Done(completion),
            Ok(None) => Outcome::Lost,
            Err(error) => Outcome::failed(error, None, 0),
        };
    }
    match super::reuse::find(shared, job).await {
        Ok(Some(completion)) => return Outcome::Done(completion),
        Ok(None) => {}
        Err(error) => return Outcome::failed(error, None, 0),
    }
    let candidates = match shared.router().candidates(request) {
        Ok(candidates) if !candidates.is_empty() => candidates,
        Ok(_) => {
            let error = Error::NoProvider(request.spec.kind().to_string());
            return Outcome::failed(error, None, 0);
        }
        Err(error) => return Outcome::failed(error, None, 0),
    };
    let inputs = match super::inputs::materialize(shared, request).await {
        Ok(inputs) => inputs,
        Err(error) => return Outcome::failed(error, None, candidates.len()),
    };
    let first = claimed.candidate_index as usize % candidates.len();
    // The job's candidate first; when its provider is full, the next capable
    // one in route order; when every one is full, the job waits for a slot.
    for offset in 0..candidates.len() {
        let index = (first + offset) % candidates.len();
        let candidate = &candidates[index];
        tracing::Span::current().record("provider", candidate.provider.name());
        let tried = Tried {
            candidate,
            inputs: &inputs,
            // Started with the claim, as the job's own candidate.
            started: claimed.started.as_ref().filter(|_| offset == 0),
        };
        match generate(shared, claimed, &tried, reporter, cancel).await {
            Ok(Generated::Done(completion)) => return Outcome::Done(*completion),
            Ok(Generated::Lost) => return Outcome::Lost,
            Ok(Generated::ProviderFull) => {}
            Err((error, cost)) => {
                let mut failed = Outcome::failed(error, cost, candidates.len());
                if let Outcome::Failed { used_index, .. } = &mut failed {
                    *used_index = (index != first).then_some(index as u32);
                }
                return failed;
            }
        }
    }
    let waited = candidates[first].provider.name().to_owned();
    Outcome::WaitForSlot { provider: waited }
}

/// One candidate tried for a job's attempt.
struct Tried<'a> {
    candidate: &'a Candidate,
    inputs: &'a super::inputs::Inputs,
    /// The attempt the claiming transaction started for it.
    started: Option<&'a AttemptStart>,
}

/// How trying one candidate went, short of an error.
enum Generated {
    Done(Box<Completion>),
    Lost,
    ProviderFull,
}

type AttemptError = (Error, Option<CostEntry>);

async fn generate(
    shared: &Arc<Shared>,
    claimed: &ClaimedJob,
    tried: &Tried<'_>,
    reporter: &Arc<JobReporter>,
    cancel: &CancellationToken,
) -> std::result::Result<Generated, AttemptError> {
    let job = &claimed.job;
    let provider = &tried.candidate.provider;
    let model = &tried.candidate.model;
    let spec = &job.request.spec;
    let planned = tried
        .started
        .filter(|s| s.provider == provider.name() && s.model == *model);
    let start = match planned {
        Some(started) => {
            // Started by the claim: a cancel may have come before this
            // attempt was registered to hear it.
            if !shared
                .store
                .is_held(job.id, &claimed.worker)
                .await
                .map_err(|e| (e, None))?
            {
                return Ok(Generated::Lost);
            }
            announce_start(shared, job, started);
            started.clone()
        }
        None => {
            let start = plan_attempt(tried.candidate, &job.request).map_err(|e| (e, None))?;
            match begin_attempt(shared, claimed, &start)
                .await
                .map_err(|e| (e, None))?
            {
                Begin::Started => {}
                Begin::Lost => return Ok(Generated::Lost),
                Begin::ProviderFull => return Ok(Generated::ProviderFull),
            }
            start
        }
    };
    let estimate = start.estimate;
    let cx = GenerateContext::new(reporter.clone(), cancel.clone(), shared.staging_dir.clone());
    let call = Call {
        job_id: job.id,
        attempt: job.attempts,
        model: model.clone(),
        spec: spec.clone(),
        inputs: tried.inputs.calls.clone(),
    };
    // Only a checkpoint of this very provider can be resumed.
    let checkpoint = claimed
        .checkpoint
        .as_deref()
        .filter(|_| job.provider.as_deref().is_none_or(|p| p == start.provider));
    if checkpoint.is_some() {
        reporter.task.resume();
    }
    let running = call_provider(provider.as_ref(), &call, checkpoint, &cx);
    // A resumed task may have been charged by an earlier attempt already.
    let cost_entry = |reported: Money| CostEntry {
        client_id: job.request.client_id.clone(),
        campaign_id: job.request.campaign_id.clone(),
        job_id: job.id,
        provider: start.provider.clone(),
        model: start.model.clone(),
        cost_micros: reporter.task.owed(reported),
        at: Timestamp::now(),
    };
    let outcome = until_canceled(reporter.persisting_held(running), cancel).await;
    let generation = match super::metrics::provider_call(&start.provider, outcome) {
        Ok(generation) => generation,
        // What the provider charged before failing is still owed.
        Err(error) => return Err((error, cx.reported_cost().map(cost_entry))),
    };
    let charged = generation.cost.or(cx.reported_cost()).unwrap_or(estimate);
    let cost = cost_entry(charged);
    // The assets cost what their task did, whichever attempt paid for it.
    let mut assets = store_outputs(shared, job, &start, charged, generation)
        .await
        .map_err(|e| (e, Some(cost.clone())))?;
    if let (Spec::Derive(derive), Some(parent)) = (spec, call.input(InputRole::Parent)) {
        // Named after what it came from, as local derivations are.
        let name = super::derive::derived_name(&parent.asset, &derive.operation);
        for asset in &mut assets {
            asset.name = Some(name.clone());
        }
    }
    Ok(Generated::Done(Box::new(Completion {
        embeddings: None,
        job_id: job.id,
        assets,
        reused_assets: Vec::new(),
        reused_from: None,
        saved_micros: Money::ZERO,
        cost: Some(cost),
        at: Timestamp::now(),
    })))
}

/// How long a canceled provider may take to stop (and cancel its remote
/// task) before its call is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How long a canceled job may take to stop at worst: its provider's grace,
/// then the end of its attempt (settling, storing its last log lines).
pub(crate) const STOP_BOUND: Duration = CANCEL_GRACE.saturating_mul(2);

/// Runs a provider call; once the job is canceled, the provider gets a grace
/// period to notice the signal and clean up, then the call is dropped. A
/// canceled call is `Canceled` whatever it returned.
async fn until_canceled(
    call: impl Future<Output = Result<Generation>>,
    cancel: &CancellationToken,
) -> Result<Generation> {
    tokio::pin!(call);
    tokio::select! {
        biased;
        result = &mut call => return result,
        () = cancel.cancelled() => {}
    }
    let _ = tokio::time::timeout(CANCEL_GRACE, &mut call).await;
    Err(Error::Canceled)
}

/// Whether an attempt could begin.
pub(crate) enum Begin {
    Started,
    /// The job is no longer this worker's.
    Lost,
    /// The provider has no free call slot; nothing was recorded.
    ProviderFull,
}

/// Records the attempt (its budget reservation and provider call slot) and
/// announces it.
pub(crate) async fn begin_attempt(
    shared: &Shared,
    claimed: &ClaimedJob,
    start: &AttemptStart,
) -> Result<Begin> {
    let job = &claimed.job;
    match shared
        .store
        .start_attempt(job.id, &claimed.worker, start)
        .await?
    {
        None => return Ok(Begin::Lost),
        Some(AttemptStarted::ProviderFull) => return Ok(Begin::ProviderFull),
        Some(AttemptStarted::Started) => {}
    }
    announce_start(shared, job, start);
    Ok(Begin::Started)
}

fn announce_start(shared: &Shared, job: &Job, start: &AttemptStart) {
    shared.events.emit(
        Some(job.id),
        EventKind::JobStarted {
            attempt: job.attempts,
            provider: start.provider.clone(),
            model: start.model.clone(),
        },
    );
}

/// What starting an attempt on `candidate` records: its estimate, and the
/// reservation the request's maximum or that estimate asks for.
fn plan_attempt(candidate: &Candidate, request: &Request) -> Result<AttemptStart> {
    let provider = &candidate.provider;
    let estimate = provider.estimate(&candidate.model, &request.spec)?;
    Ok(AttemptStart {
        provider: provider.name().to_owned(),
        model: candidate.model.clone(),
        estimate,
        reserve: reservation(request, estimate)?,
        now: Timestamp::now(),
        max_in_flight: provider.max_in_flight(),
    })
}

/// Plans a claimed job's attempt inside the claiming transaction when the
/// job alone decides it: a plain generation (no reuse lookup, no input
/// assets, no checkpoint to resume) whose provider estimates instantly.
/// Anything else, an estimate that fails included, is left to the worker.
pub(crate) struct ClaimPlanner(pub(crate) Router);

impl AttemptPlanner for ClaimPlanner {
    fn plan(&self, claimed: &ClaimedJob) -> Option<AttemptStart> {
        let request = &claimed.job.request;
        // Routing estimates with every capable provider: one that waits
        // (on a host interpreter's lock) must not inside the claim.
        let plain = claimed.checkpoint.is_none()
            && request.reuse == Reuse::Never
            && !super::inputs::takes_inputs(&request.spec)
            && self.0.estimates_instantly();
        if !plain {
            return None;
        }
        let candidates = self.0.candidates(request).ok()?;
        let index = claimed.candidate_index as usize % candidates.len().max(1);
        plan_attempt(candidates.get(index)?, request).ok()
    }
}

/// What a job reserves against budgets: its `max_cost_micros`, or else the
/// estimate. An estimate over the job's own maximum fails before any call.
fn reservation(request: &Request, estimate: Money) -> Result<Money> {
    match request.max_cost_micros.map(Money::from_micros) {
        Some(max) if estimate > max => Err(Error::BudgetExceeded(format!(
            "the estimate {estimate} is over the request's max_cost_micros {max}"
        ))),
        Some(max) => Ok(max),
        None => Ok(estimate),
    }
}

async fn call_provider(
    provider: &dyn crate::provider::Provider,
    call: &Call,
    checkpoint: Option<&str>,
    cx: &GenerateContext,
) -> Result<Generation> {
    match checkpoint {
        Some(checkpoint) => {
            cx.log(LogLevel::Info, format!("resuming remote task {checkpoint}"));
            provider.resume(call, checkpoint, cx).await
        }
        None => provider.generate(call, cx).await,
    }
}

/// Verifies every staged output, then moves the bytes into
/// the blob store (durably) and describes the assets to insert.
async fn store_outputs(
    shared: &Shared,
    job: &Job,
    start: &AttemptStart,
    cost: Money,
    generation: Generation,
) -> Result<Vec<Asset>> {
    let spec = &job.request.spec;
    if generation.outputs.is_empty() {
        return Err(Error::InvalidOutput(format!(
            "{} returned no output",
            start.provider
        )));
    }
    let tileable = matches!(spec, Spec::Image(image) if image.tileable);
    let count = generation.outputs.len();
    let mut assets: Vec<Asset> = Vec::with_capacity(count);
    for (index, output) in generation.outputs.into_iter().enumerate() {
        let size_bytes = output.size();
        let media = verify::inspect_staged(&output, spec.kind(), tileable).await?;
        let sha256 = output.sha256().to_owned();
        let output_metadata = output.metadata().clone();
        shared.blobs.put(output).await?;
        let share = split_cost(cost, count, index);
        let mut asset = new_asset(job, start, &media, size_bytes, sha256, share, index, count);
        let albedo = assets.iter().rev().find(|a| is_albedo(&a.metadata));
        merge_output_metadata(&mut asset.metadata, output_metadata, albedo);
        assets.push(asset);
    }
    Ok(assets)
}

/// Adds what the provider said about one output to its asset's metadata
/// (the request's own keys win, except `seed`). A PBR map (`"pbr_map": "normal"`) is
/// linked by `albedo_asset_id` to `albedo`, the latest earlier output that
/// is not a derived map (a PBR set with `count` 2 is albedo, normal,
/// roughness, albedo, normal, roughness).
fn merge_output_metadata(
    metadata: &mut serde_json::Map<String, serde_json::Value>,
    output_metadata: serde_json::Map<String, serde_json::Value>,
    albedo: Option<&Asset>,
) {
    let is_derived_map = !is_albedo(&output_metadata);
    for (key, value) in output_metadata {
        if key == "seed" {
            // The provider knows each output's own seed (`count` outputs
            // use seed, seed + 1, …); the request's is only the first.
            metadata.insert(key, value);
        } else {
            metadata.entry(key).or_insert(value);
        }
    }
    if let (true, Some(albedo)) = (is_derived_map, albedo) {
        metadata.insert(
            "albedo_asset_id".to_owned(),
            serde_json::Value::String(albedo.id.to_string()),
        );
    }
}

/// Whether metadata describes an ordinary output or a PBR set's albedo,
/// rather than a map derived from one.
fn is_albedo(metadata: &serde_json::Map<String, serde_json::Value>) -> bool {
    metadata
        .get("pbr_map")
        .is_none_or(|map| map.as_str() == Some("albedo"))
}

/// Splits a job's cost over its outputs so that the parts add up exactly.
fn split_cost(total: Money, count: usize, index: usize) -> Money {
    let count = count.max(1) as i64;
    let base = total.micros() / count;
    let remainder = total.micros() % count;
    Money::from_micros(base + i64::from((index as i64) < remainder))
}

#[allow(clippy::too_many_arguments)]
fn new_asset(
    job: &Job,
    start: &AttemptStart,
    media: &crate::asset::Media,
    size_bytes: u64,
    sha256: String,
    cost: Money,
    index: usize,
    count: usize,
) -> Asset {
    let request = &job.request;
    let mut metadata = request.metadata.clone();
    if let Some(seed) = request.spec.seed() {
        metadata.entry("seed").or_insert(serde_json::json!(seed));
    }
    let source = match &request.spec {
        Spec::Derive(derive) => {
            metadata.insert(
                "operation".to_owned(),
                serde_json::Value::Object(derive.operation.parameters()),
            );
            AssetSource::Derived {
                parent_id: derive.parent_id,
                operation: derive.operation.name().to_owned(),
            }
        }
        _ => AssetSource::Generated {
            provider: start.provider.clone(),
            model: start.model.clone(),
            job_id: job.id,
            prompt: request.spec.prompt().to_owned(),
        },
    };
    Asset {
        id: AssetId::new(),
        client_id: request.client_id.clone(),
        campaign_id: request.campaign_id.clone(),
        name: Some(asset_name(request.spec.prompt(), index, count)),
        mime: media.mime().to_owned(),
        size_bytes,
        sha256,
        source,
        cost_micros: cost,
        tags: request.tags.clone(),
        metadata,
        created_at: Timestamp::now(),
        media: media.clone(),
    }
}

/// A short file-friendly name from the prompt (`mossy-cobblestone-2`).
fn asset_name(prompt: &str, index: usize, count: usize) -> String {
    let mut slug = String::new();
    for word in prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() > 48 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_lowercase());
    }
    if slug.is_empty() {
        slug.push_str("asset");
    }
    if count > 1 {
        slug.push_str(&format!("-{}", index + 1));
    }
    slug
}

/// Persists the outcome and tells the hosts; returns the next job when the
/// completion claimed one.
async fn settle(
    shared: &Arc<Shared>,
    claimed: &ClaimedJob,
    reporter: &JobReporter,
    outcome: Outcome,
) -> Option<ClaimedJob> {
    let job_id = claimed.job.id;
    let result = match outcome {
        Outcome::Lost => Ok(None),
        Outcome::Done(completion) => {
            reporter.flush().await;
            succeed(shared, &claimed.worker, completion).await
        }
        Outcome::Failed {
            error,
            cost,
            candidates,
            used_index,
        } => {
            let failure = Failure {
                error,
                cost,
                candidates,
                used_index,
            };
            fail_or_retry(shared, claimed, reporter, failure)
                .await
                .map(|()| None)
        }
        Outcome::WaitForSlot { provider } => wait_for_slot(shared, reporter, claimed, &provider)
            .await
            .map(|()| None),
    };
    result.unwrap_or_else(|e| {
        // The lease will expire and recovery will run the job again.
        tracing::error!(%job_id, error = %e, "cannot persist the end of an attempt");
        None
    })
}

/// Completes the job (leased to `worker`) and, unless the engine is
/// closing, claims the slot's next job in the same store call.
async fn succeed(
    shared: &Shared,
    worker: &str,
    mut completion: Completion,
) -> Result<Option<ClaimedJob>> {
    let job_id = completion.job_id;
    // Stored in the job's transaction, so they are never lost in between.
    let vectors = match shared.search.embed_new(&completion.assets).await {
        Ok(vectors) => vectors,
        Err(e) => {
            // The assets are stored; only their findability suffers.
            tracing::warn!(%job_id, error = %e, "cannot embed new assets for search");
            None
        }
    };
    completion.embeddings = vectors.as_ref().map(|v| v.embeddings.clone());
    let cost = completion.cost.clone();
    let created = completion.assets.clone();
    let (job, next) = if shared.is_shutting_down() {
        (shared.store.complete_job(worker, completion).await?, None)
    } else {
        let now = Timestamp::now();
        let lease_until = now.plus(shared.lease);
        let planner = Some(shared.claim_planner());
        let next_worker = shared.claims.next_worker();
        shared
            .store
            .complete_job_and_claim(worker, completion, &next_worker, now, lease_until, planner)
            .await?
    };
    let Some(job) = job else {
        charge_if_canceled(shared, cost).await?;
        return Ok(next);
    };
    if let Some(vectors) = vectors {
        shared.search.add_stored(&created, vectors);
    }
    for asset in &created {
        shared.events.emit(
            Some(job_id),
            EventKind::AssetCreated {
                asset_id: asset.id,
                client_id: asset.client_id.clone(),
            },
        );
    }
    let asset_ids = job.asset_ids.clone();
    let cost_micros = job.cost_micros;
    shared.ended.record(job, created);
    emit_cost(shared, job_id, cost);
    shared.events.emit(
        Some(job_id),
        EventKind::JobSucceeded {
            asset_ids,
            cost_micros,
        },
    );
    // A host woken by the event runs before this slot's next job (store
    // calls run in place, without yielding).
    tokio::task::yield_now().await;
    Ok(next)
}

/// A failed attempt, to retry or to end the job with.
struct Failure {
    error: Error,
    cost: Option<CostEntry>,
    candidates: usize,
    used_index: Option<u32>,
}

async fn fail_or_retry(
    shared: &Arc<Shared>,
    claimed: &ClaimedJob,
    reporter: &JobReporter,
    failure: Failure,
) -> Result<()> {
    let Failure {
        error,
        cost,
        candidates,
        used_index,
    } = failure;
    let job = &claimed.job;
    let job_error = error.to_job_error();
    if error.is_retryable() && job.attempts < job.max_attempts {
        // Failures count against the candidate that failed; a stand-in for
        // a full provider starts its own count.
        let (index, failures) = match used_index {
            Some(index) => (index, 0),
            None => (claimed.candidate_index, claimed.candidate_failures),
        };
        let next = backoff::plan(
            &shared.retry,
            candidates,
            index,
            failures,
            job.attempts,
            error.retry_after(),
        );
        reporter.engine_log(
            LogLevel::Warn,
            format!(
                "attempt {} of {} failed: {error}; retrying in {:.1}s",
                job.attempts,
                job.max_attempts,
                next.delay.as_secs_f64()
            ),
        );
        let retry = Retry {
            job_id: job.id,
            run_after: Timestamp::now().plus(next.delay),
            candidate_index: next.candidate_index,
            candidate_failures: next.candidate_failures,
            error: job_error,
            checkpoint_charged: reporter
                .task
                .checkpoint_charged(cost.as_ref().map_or(Money::ZERO, |c| c.cost_micros)),
            cost: cost.clone(),
        };
        if shared
            .store
            .retry_later(&claimed.worker, retry)
            .await?
            .is_some()
        {
            emit_cost(shared, job.id, cost);
            shared.wake_workers();
        } else {
            charge_if_canceled(shared, cost).await?;
        }
        return Ok(());
    }
    reporter.engine_log(
        LogLevel::Error,
        format!("attempt {} failed: {error}", job.attempts),
    );
    reporter.flush().await;
    let failed = shared
        .store
        .fail_job(
            &claimed.worker,
            job.id,
            job_error.clone(),
            cost.clone(),
            Timestamp::now(),
        )
        .await?;
    let Some(failed) = failed else {
        return charge_if_canceled(shared, cost).await;
    };
    shared.ended.record(failed, Vec::new());
    emit_cost(shared, job.id, cost);
    if job_error.code == ErrorCode::BudgetExceeded {
        shared.events.emit(
            Some(job.id),
            EventKind::BudgetExceeded {
                client_id: job.request.client_id.clone(),
                message: job_error.message.clone(),
            },
        );
    }
    shared
        .events
        .emit(Some(job.id), EventKind::JobFailed { error: job_error });
    Ok(())
}

/// The attempt's job is no longer its own: what its provider charged is
/// still owed if the job was canceled under it.
async fn charge_if_canceled(shared: &Shared, cost: Option<CostEntry>) -> Result<()> {
    let Some(cost) = cost.filter(|cost| cost.cost_micros.micros() > 0) else {
        return Ok(());
    };
    if shared.store.charge_canceled(&cost).await? {
        emit_cost(shared, cost.job_id, Some(cost));
    }
    Ok(())
}

fn emit_cost(shared: &Shared, job_id: JobId, cost: Option<CostEntry>) {
    if let Some(cost) = cost {
        super::metrics::money_spent(&cost.provider, cost.cost_micros);
        shared.events.emit(
            Some(job_id),
            EventKind::CostRecorded {
                client_id: cost.client_id,
                provider: cost.provider,
                model: cost.model,
                cost_micros: cost.cost_micros,
            },
        );
    }
}

/// Every capable provider is full: the job goes back to the queue, its
/// attempt not counted, until a call slot of `provider` frees.
async fn wait_for_slot(
    shared: &Shared,
    reporter: &JobReporter,
    claimed: &ClaimedJob,
    provider: &str,
) -> Result<()> {
    let run_after = Timestamp::now().plus(SLOT_WAIT_FALLBACK);
    if shared
        .store
        .defer_job(claimed.job.id, &claimed.worker, provider, run_after)
        .await?
        .is_some()
    {
        reporter.engine_log(
            LogLevel::Info,
            format!(
                "every capable provider is at its limit of calls in flight; waiting for {provider}"
            ),
        );
    }
    Ok(())
}

/// A job interrupted by `close` goes back to the queue for another worker.
async fn release_for_shutdown(shared: &Shared, claimed: &ClaimedJob) {
    let job_id = claimed.job.id;
    match shared
        .store
        .release_job(job_id, &claimed.worker, Timestamp::now())
        .await
    {
        Ok(_) => tracing::info!(%job_id, "released at shutdown"),
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "cannot release at shutdown; its lease will expire")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_split_adds_up() {
        let total = Money::from_micros(100);
        let parts: Vec<i64> = (0..3).map(|i| split_cost(total, 3, i).micros()).collect();
        assert_eq!(parts, vec![34, 33, 33]);
        assert_eq!(parts.iter().sum::<i64>(), 100);
    }

    #[test]
    fn pbr_maps_link_to_their_albedo_and_output_seeds_win() {
        let as_map = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let albedo_id = AssetId::new();
        let albedo = Asset {
            id: albedo_id,
            client_id: crate::id::ClientId::new("c").unwrap_or_else(|e| panic!("{e}")),
            campaign_id: None,
            name: None,
            mime: "image/png".into(),
            size_bytes: 1,
            sha256: String::new(),
            source: AssetSource::Uploaded,
            cost_micros: Money::ZERO,
            tags: Vec::new(),
            metadata: as_map(serde_json::json!({"pbr_map": "albedo"})),
            created_at: Timestamp::now(),
            media: crate::asset::Media::Document {
                format: crate::asset::DocumentFormat::Txt,
                page_count: 1,
            },
        };
        let mut metadata = as_map(serde_json::json!({"seed": 1, "scene": "crypt"}));
        let output = as_map(serde_json::json!({"seed": 2, "scene": "x", "pbr_map": "normal"}));
        merge_output_metadata(&mut metadata, output, Some(&albedo));
        assert_eq!(
            serde_json::Value::Object(metadata),
            serde_json::json!({"seed": 2, "scene": "crypt", "pbr_map": "normal",
                               "albedo_asset_id": albedo_id.to_string()})
        );
        let mut plain = serde_json::Map::new();
        merge_output_metadata(
            &mut plain,
            as_map(serde_json::json!({"pbr_map": "albedo"})),
            Some(&albedo),
        );
        assert!(
            !plain.contains_key("albedo_asset_id"),
            "an albedo links to nothing"
        );
    }

    /// A provider pricing at `micros` per image; `instant` says whether its
    /// estimate may run inside a claim.
    struct Priced {
        name: &'static str,
        instant: bool,
        models: Vec<crate::provider::ModelInfo>,
    }

    impl Priced {
        fn provider(name: &'static str, micros: i64, instant: bool) -> Arc<dyn crate::Provider> {
            let price = crate::provider::PriceRule::PerOutput {
                micros: Money::from_micros(micros),
            };
            let model = crate::provider::ModelInfo::new("m", crate::AssetKind::Image, price, "");
            Arc::new(Self {
                name,
                instant,
                models: vec![model],
            })
        }
    }

    #[async_trait::async_trait]
    impl crate::Provider for Priced {
        fn name(&self) -> &str {
            self.name
        }
        fn models(&self) -> &[crate::provider::ModelInfo] {
            &self.models
        }
        fn estimates_instantly(&self) -> bool {
            self.instant
        }
        fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
            let info = self.models.iter().find(|m| m.id == model);
            info.and_then(|m| m.price.estimate(spec))
                .ok_or_else(|| Error::Internal("no price".into()))
        }
        async fn generate(&self, _call: &Call, _cx: &GenerateContext) -> Result<Generation> {
            Err(Error::Internal("not called".into()))
        }
    }

    #[test]
    fn a_claim_plans_only_when_every_estimate_is_instant() {
        let claimed = crate::engine::tests::claimed("e/1");
        let cheap = Priced::provider("cheap", 10, true);
        let planner = ClaimPlanner(Router::new(vec![cheap.clone()]));
        let planned = planner.plan(&claimed).map(|start| start.provider);
        assert_eq!(planned.as_deref(), Some("cheap"));
        // Routing would run the host-language estimate inside the claim,
        // even though the cheap provider is the one chosen.
        let hosted = Priced::provider("hosted", 20, false);
        let planner = ClaimPlanner(Router::new(vec![cheap, hosted]));
        assert!(planner.plan(&claimed).is_none());
    }

    #[test]
    fn names_come_from_prompts() {
        assert_eq!(
            asset_name("Mossy cobblestone, wet!", 0, 1),
            "mossy-cobblestone-wet"
        );
        assert_eq!(asset_name("???", 1, 2), "asset-2");
    }
}
