//! The engine: submit requests, run them as durable jobs, read the results.

mod backoff;
mod claims;
mod derive;
mod events;
mod finished;
mod import;
mod inputs;
pub mod metrics;
mod pipeline;
mod reporter;
mod reuse;
mod router;
mod search;
mod task_charge;
mod usage;
mod worker;

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use derive::LOCAL_PROVIDER;
pub use events::EventStream;
pub use import::{ImportRequest, ImportSource};
pub use router::ProviderInfo;
pub use search::{MAX_SEARCH_RESULTS, ScoredAsset, SearchFilter};

use crate::asset::Asset;
use crate::config::{EngineConfig, RetryConfig};
use crate::embed::{Embedder, HashedEmbedder};
use crate::error::{Error, Result};
use crate::event::{EventKind, EventSink};
use crate::id::{AssetId, ClientId, JobId};
use crate::job::{Job, JobFilter, JobStats, JobStatus, LogLine, Page, PageRequest};
use crate::money::Money;
use crate::progress::Progress;
use crate::provider::Provider;
use crate::request::{Request, Spec};
use crate::store::{
    AssetFilter, BlobReader, BlobStore, Budget, ClaimedJob, CostQuery, CostReport, Inserted,
    NewJob, Store, UsageKind, UsageSummary,
};
use crate::timestamp::Timestamp;
use events::EndWatch;
use router::Router;
use worker::InPlaceJob;

/// The Gaia engine. Cheap to clone (an `Arc` inside), `Send + Sync`.
///
/// Built with [`Engine::builder`]; the facade crate `gaia` also opens one
/// from an [`EngineConfig`].
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

/// State shared by the engine handle, its workers and its heartbeat.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) events: events::EventBus,
    router: Mutex<Router>,
    /// The claims this engine holds, each leased to an id of its own.
    pub(crate) claims: claims::Claims,
    pub(crate) lease: Duration,
    pub(crate) retry: RetryConfig,
    max_attempts: u32,
    pub(crate) staging_dir: PathBuf,
    shutdown_grace: Duration,
    pub(crate) wake: Notify,
    /// Slots waiting for work: a submit then claims for them in its own
    /// transaction, and the woken slot starts without a claim of its own.
    idle_slots: AtomicUsize,
    /// Jobs a submit claimed for an idle slot, until a slot takes them.
    handed_over: Mutex<VecDeque<ClaimedJob>>,
    /// One permit per slot, held by every job this engine runs (on a slot,
    /// or in place on a `generate` caller's task): no more than `workers`
    /// jobs run here at once.
    pub(crate) slots: Arc<Semaphore>,
    workers: usize,
    /// Held (shared) by submits and retries from their write until their
    /// `job_queued` events are out; a worker passes it (exclusive) before a
    /// job's first event, so `job_queued` always comes first.
    pub(crate) submit_gate: tokio::sync::RwLock<()>,
    /// Stops claiming; running jobs go on.
    pub(crate) shutdown: CancellationToken,
    /// Everything has stopped; the heartbeat ends.
    pub(crate) stopped: CancellationToken,
    /// The shutdown's grace is over: every running job is stopped, including
    /// one a claim already in flight hands over afterwards (jobs' tokens are
    /// its children).
    stop_jobs: CancellationToken,
    shutting_down: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Vectors of the clients searched so far, and the embedder.
    pub(crate) search: search::SearchIndex,
    /// Batches reads and exports into the usage table.
    usage: usage::UsageRecorder,
    /// Jobs this engine ended lately, for their waiters.
    pub(crate) ended: finished::RecentlyEnded,
}

impl Shared {
    pub(crate) fn router(&self) -> Router {
        lock(&self.router).clone()
    }

    /// Plans the attempts of the jobs this engine's claims hand over.
    pub(crate) fn claim_planner(&self) -> Arc<dyn crate::store::AttemptPlanner> {
        Arc::new(pipeline::ClaimPlanner(self.router()))
    }

    /// Whether any provider limits its calls in flight (checked after every
    /// attempt, so without cloning the router).
    pub(crate) fn limits_calls(&self) -> bool {
        lock(&self.router).limits_calls()
    }

    pub(crate) fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Registers a claimed job's attempt as running; returns its stop
    /// signal, which the shutdown's end also gives.
    pub(crate) fn register_running(&self, claimed: &ClaimedJob) -> CancellationToken {
        let stop = self.stop_jobs.child_token();
        self.claims.start(claimed, stop.clone());
        stop
    }

    /// Counts a slot as idle while the returned guard lives.
    pub(crate) fn enter_idle(&self) -> IdleSlot<'_> {
        self.idle_slots.fetch_add(1, Ordering::AcqRel);
        IdleSlot(self)
    }

    /// A job a submit claimed for an idle slot, if one is waiting.
    pub(crate) fn take_handed_over(&self) -> Option<ClaimedJob> {
        lock(&self.handed_over).pop_front()
    }

    /// Leaves a claimed job for the next slot that looks (wake one);
    /// `close` releases it if no slot does.
    pub(crate) fn hand_over(&self, claimed: ClaimedJob) {
        lock(&self.handed_over).push_back(claimed);
    }

    /// The ids the jobs handed over to a slot are leased to.
    pub(crate) fn handed_over_claims(&self) -> Vec<String> {
        lock(&self.handed_over)
            .iter()
            .map(|claimed| claimed.worker.clone())
            .collect()
    }
}

/// A slot of this engine waiting for work (see [`Shared::enter_idle`]).
pub(crate) struct IdleSlot<'a>(&'a Shared);

impl Drop for IdleSlot<'_> {
    fn drop(&mut self) {
        self.0.idle_slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What [`Engine::queue`] did.
struct Queued<'a> {
    inserted: Vec<Inserted>,
    /// For `generate`: the end of its new job, watched from before any
    /// worker could run it.
    watch: Option<EndWatch<'a>>,
    /// For `generate`: its job, claimed for the caller to run (to await).
    in_place: Option<InPlaceJob>,
}

/// The error of a call on a closed engine.
fn closed() -> Error {
    Error::invalid("engine", "the engine is closed")
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builds an [`Engine`] the reqwest way: setters that take and return `self`,
/// errors collected and returned by [`EngineBuilder::build`].
#[must_use]
pub struct EngineBuilder {
    store: Option<Arc<dyn Store>>,
    blobs: Option<Arc<dyn BlobStore>>,
    providers: Vec<Arc<dyn Provider>>,
    sinks: Vec<Arc<dyn EventSink>>,
    config: EngineConfig,
    staging_dir: Option<PathBuf>,
    embedder: Option<Arc<dyn Embedder>>,
}

impl EngineBuilder {
    /// The embedder of search and similar reuse (default: [`HashedEmbedder`]).
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// The record store (required).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The blob store (required).
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Adds a provider; earlier ones win ties in price.
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Adds an event sink.
    pub fn event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Takes workers, lease, attempts, retry and shutdown settings from a configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Concurrent job slots in this process; 0 submits only.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// How long a claimed job stays leased without a heartbeat.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease_s = lease.as_secs().max(1);
        self
    }

    /// The backoff policy.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.config.retry = retry;
        self
    }

    /// Attempts before a job fails.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = max_attempts;
        self
    }

    /// Where providers stage outputs (default: `staging` under the config's folder).
    pub fn staging_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.staging_dir = Some(dir.into());
        self
    }

    /// Starts the engine: recovers jobs whose worker died, then starts the
    /// workers and the heartbeat. Needs a tokio runtime.
    pub async fn build(self) -> Result<Engine> {
        self.config.validate()?;
        let store = self
            .store
            .ok_or_else(|| Error::invalid("store", "an engine needs a store"))?;
        let blobs = self
            .blobs
            .ok_or_else(|| Error::invalid("blobs", "an engine needs a blob store"))?;
        check_unique_names(&self.providers)?;
        let staging_dir = self
            .staging_dir
            .unwrap_or_else(|| self.config.root().join("staging"));
        let embedder = self
            .embedder
            .unwrap_or_else(|| Arc::new(HashedEmbedder::new()));
        let shared = Arc::new(Shared {
            usage: usage::UsageRecorder::start(store.clone()),
            ended: finished::RecentlyEnded::default(),
            search: search::SearchIndex::new(embedder),
            store,
            blobs,
            events: events::EventBus::new(self.sinks),
            router: Mutex::new(Router::new(self.providers)),
            claims: claims::Claims::new(format!("{}-{}", hostname_hint(), JobId::new())),
            lease: self.config.lease(),
            retry: self.config.retry.clone(),
            max_attempts: self.config.max_attempts,
            staging_dir,
            shutdown_grace: Duration::from_secs(self.config.shutdown_grace_s),
            wake: Notify::new(),
            submit_gate: tokio::sync::RwLock::new(()),
            shutdown: CancellationToken::new(),
            stopped: CancellationToken::new(),
            stop_jobs: CancellationToken::new(),
            shutting_down: AtomicBool::new(false),
            idle_slots: AtomicUsize::new(0),
            handed_over: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(self.config.workers)),
            workers: self.config.workers,
            tasks: Mutex::new(Vec::new()),
        });
        worker::recover(&shared).await;
        let engine = Engine { shared };
        engine.start_tasks(self.config.workers);
        Ok(engine)
    }
}

fn check_unique_names(providers: &[Arc<dyn Provider>]) -> Result<()> {
    let mut seen = HashSet::new();
    for provider in providers {
        if !seen.insert(provider.name().to_owned()) {
            return Err(Error::invalid(
                "providers",
                format!("two providers are named {:?}", provider.name()),
            ));
        }
    }
    Ok(())
}

/// A readable worker id prefix for logs and the jobs table.
fn hostname_hint() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| format!("pid{}", std::process::id()))
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            store: None,
            blobs: None,
            providers: Vec::new(),
            sinks: Vec::new(),
            config: EngineConfig::default(),
            staging_dir: None,
            embedder: None,
        }
    }

    fn start_tasks(&self, workers: usize) {
        let mut tasks = lock(&self.shared.tasks);
        for _ in 0..workers {
            tasks.push(tokio::spawn(worker::run_slot(self.shared.clone())));
        }
        tasks.push(tokio::spawn(worker::run_heartbeat(self.shared.clone())));
        if workers > 0 {
            tasks.push(tokio::spawn(worker::forward_wakeups(self.shared.clone())));
        }
    }

    /// Every call but `close` fails once the engine is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.is_shutting_down() {
            return Err(closed());
        }
        Ok(())
    }

    /// Submits one request; returns the queued job (or the existing job when
    /// the client already used the idempotency key for the same request).
    pub async fn submit(&self, request: Request) -> Result<Job> {
        let mut jobs = self.submit_batch(vec![request]).await?;
        jobs.pop()
            .ok_or_else(|| Error::Internal("a batch of one returned no job".into()))
    }

    /// Submits many requests in one transaction: all are queued or none is.
    pub async fn submit_batch(&self, requests: Vec<Request>) -> Result<Vec<Job>> {
        let queued = self.queue(requests, false).await?;
        Ok(queued.inserted.into_iter().map(|i| i.job).collect())
    }

    /// Queues jobs. For `generate` (`for_caller`), also watches for the end
    /// of the first job when it is new, from before any worker here can run
    /// it, and claims it for the caller to run when a slot is free.
    async fn queue(&self, requests: Vec<Request>, for_caller: bool) -> Result<Queued<'_>> {
        self.check_open()?;
        let router = self.shared.router();
        let mut new_jobs = Vec::with_capacity(requests.len());
        for (index, request) in requests.into_iter().enumerate() {
            let prefix = |e: Error| match e {
                Error::InvalidRequest { field, message } if index > 0 => {
                    Error::invalid(format!("[{index}].{field}"), message)
                }
                other => other,
            };
            request.validate().map_err(prefix)?;
            self.check_inputs(&request).await.map_err(prefix)?;
            // Local operations need no provider.
            let local = matches!(&request.spec, Spec::Derive(d) if !d.operation.is_remote());
            if !local {
                router.candidates(&request).map_err(prefix)?;
            }
            new_jobs.push(self.new_job(request));
        }
        let gate = self.shared.submit_gate.read().await;
        let (inserted, in_place) = self.insert(new_jobs, for_caller).await?;
        for entry in &inserted {
            if !entry.existing {
                let client_id = entry.job.request.client_id.clone();
                self.shared
                    .events
                    .emit(Some(entry.job.id), EventKind::JobQueued { client_id });
            }
        }
        // Workers here wait for the gate before they run a job.
        let watch = match inserted.first() {
            Some(first) if for_caller && !first.existing => {
                Some(self.shared.events.watch_end(first.job.id))
            }
            _ => None,
        };
        drop(gate);
        if in_place.is_none() {
            self.shared.wake_workers();
        }
        Ok(Queued {
            inserted,
            watch,
            in_place,
        })
    }

    /// Inserts jobs; when a slot here is free, also claims the next due job
    /// in the same store call: for the caller when it is the caller's own
    /// (`for_caller`), else for the slot the submit wakes.
    async fn insert(
        &self,
        jobs: Vec<NewJob>,
        for_caller: bool,
    ) -> Result<(Vec<Inserted>, Option<InPlaceJob>)> {
        let shared = &self.shared;
        if shared.is_shutting_down() {
            return Ok((shared.store.insert_jobs(jobs).await?, None));
        }
        let permit = for_caller
            .then(|| shared.slots.clone().try_acquire_owned().ok())
            .flatten();
        if permit.is_none() && shared.idle_slots.load(Ordering::Acquire) == 0 {
            return Ok((shared.store.insert_jobs(jobs).await?, None));
        }
        let first_id = jobs.first().map(|new| new.job.id);
        let now = Timestamp::now();
        let planner = Some(shared.claim_planner());
        let (inserted, claimed) = shared
            .store
            .insert_jobs_and_claim(
                jobs,
                &shared.claims.next_worker(),
                now,
                now.plus(shared.lease),
                planner,
            )
            .await?;
        let in_place = match (claimed, permit) {
            (Some(claimed), Some(permit)) if Some(claimed.job.id) == first_id => {
                Some(InPlaceJob::new(shared.clone(), claimed, permit))
            }
            (Some(claimed), _) => {
                shared.hand_over(claimed);
                None
            }
            (None, _) => None,
        };
        Ok((inserted, in_place))
    }

    fn new_job(&self, request: Request) -> NewJob {
        let request_digest = request.digest();
        let generation_digest = request.generation_digest();
        NewJob {
            job: Job {
                id: JobId::new(),
                status: JobStatus::Queued,
                progress: Progress::ZERO,
                attempts: 0,
                max_attempts: self.shared.max_attempts,
                request,
                provider: None,
                model: None,
                asset_ids: Vec::new(),
                estimated_cost_micros: None,
                cost_micros: Money::ZERO,
                error: None,
                reused: false,
                reused_from: None,
                created_at: Timestamp::now(),
                started_at: None,
                finished_at: None,
            },
            request_digest,
            generation_digest,
        }
    }

    /// Waits until a job has ended (succeeded, failed or canceled) and
    /// returns it. Works for jobs run by workers in other processes too.
    pub async fn wait(&self, job_id: JobId) -> Result<Job> {
        self.check_open()?;
        // Watched first, so the job cannot end unseen.
        let watch = self.shared.events.watch_end(job_id);
        let job = self.job(job_id).await?;
        if job.status.is_terminal() {
            return Ok(job);
        }
        self.wait_for_end(job_id, watch).await
    }

    /// Waits with the job's end watched since before it could have ended.
    async fn wait_for_end(&self, job_id: JobId, watch: EndWatch<'_>) -> Result<Job> {
        loop {
            tokio::select! {
                () = watch.ended() => {
                    if let Some(job) = self.shared.ended.job(job_id) {
                        return Ok(job);
                    }
                }
                // For jobs run by workers in other processes.
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = self.shared.shutdown.cancelled() => return Err(closed()),
            }
            let job = self.job(job_id).await?;
            if job.status.is_terminal() {
                return Ok(job);
            }
        }
    }

    /// Submits and waits; returns the first asset, or the job's error.
    ///
    /// When a slot of this engine is free, the job runs on the calling task
    /// itself (it still takes the slot, so no more than `workers` jobs run
    /// at once). Dropping the future does not stop the job: it goes on on
    /// the runtime, as it would on a slot.
    pub async fn generate(&self, request: Request) -> Result<Asset> {
        let Queued {
            mut inserted,
            watch,
            in_place,
        } = self.queue(vec![request], true).await?;
        if let Some(in_place) = in_place {
            in_place.await;
        }
        let Inserted { job, .. } = inserted
            .pop()
            .ok_or_else(|| Error::Internal("a batch of one returned no job".into()))?;
        let job = match watch {
            _ if job.status.is_terminal() => job,
            Some(watch) => self.wait_for_end(job.id, watch).await?,
            // An existing job (same idempotency key) may be ending anywhere.
            None => self.wait(job.id).await?,
        };
        self.first_asset(&job).await
    }

    /// The first asset of a finished job, or its error as an `Err`.
    pub async fn first_asset(&self, job: &Job) -> Result<Asset> {
        match job.status {
            JobStatus::Succeeded => match job.asset_ids.first() {
                Some(id) => match self.shared.ended.asset(*id) {
                    Some(asset) => Ok(asset),
                    None => self.asset(*id).await,
                },
                None => Err(Error::Internal(format!(
                    "job {} succeeded without assets",
                    job.id
                ))),
            },
            JobStatus::Canceled => Err(Error::Canceled),
            _ => {
                Err(job.error.clone().map(Error::Job).unwrap_or_else(|| {
                    Error::Internal(format!("job {} has no result yet", job.id))
                }))
            }
        }
    }

    /// One job.
    pub async fn job(&self, job_id: JobId) -> Result<Job> {
        self.check_open()?;
        self.shared
            .store
            .job(job_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "job",
                id: job_id.to_string(),
            })
    }

    /// A job's log lines, oldest first.
    pub async fn job_logs(&self, job_id: JobId) -> Result<Vec<LogLine>> {
        self.check_open()?;
        self.job(job_id).await?;
        self.shared.store.job_logs(job_id).await
    }

    /// Jobs, newest first, filtered and paged.
    pub async fn jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<Job>> {
        self.check_open()?;
        self.shared.store.list_jobs(filter, page).await
    }

    /// Counts by status and per-provider p50/p95 durations and failure rates.
    pub async fn job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        self.check_open()?;
        self.shared.store.job_stats(client_id).await
    }

    /// Cancels a queued or running job; a running provider sees the signal.
    ///
    /// Returns at once. `job_canceled` follows when the job has stopped
    /// here (its provider gave up, and its last log lines are stored), so a
    /// host woken by it finds the whole log; at once for a job that was not
    /// running on this engine.
    pub async fn cancel(&self, job_id: JobId) -> Result<Job> {
        self.check_open()?;
        let job = self
            .shared
            .store
            .cancel_job(job_id, Timestamp::now())
            .await?;
        let announce = move |shared: &Shared| {
            shared.events.emit(Some(job_id), EventKind::JobCanceled {});
        };
        match self.shared.claims.cancel(job_id) {
            None => announce(&self.shared),
            Some(stopped) => {
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    // A provider past its grace is dropped, so this is a
                    // bound that only a stuck store would reach.
                    let _ = tokio::time::timeout(pipeline::STOP_BOUND, stopped.cancelled()).await;
                    announce(&shared);
                });
            }
        }
        Ok(job)
    }

    /// Queues a failed or canceled job again, with fresh attempts.
    pub async fn retry(&self, job_id: JobId) -> Result<Job> {
        self.check_open()?;
        let gate = self.shared.submit_gate.read().await;
        let job = self
            .shared
            .store
            .retry_job(job_id, Timestamp::now())
            .await?;
        self.shared.ended.forget_job(job_id);
        let client_id = job.request.client_id.clone();
        self.shared
            .events
            .emit(Some(job_id), EventKind::JobQueued { client_id });
        drop(gate);
        self.shared.wake_workers();
        Ok(job)
    }

    /// Deletes a finished job and its log; its assets and costs stay.
    pub async fn delete_job(&self, job_id: JobId) -> Result<()> {
        self.check_open()?;
        self.shared.store.delete_job(job_id).await?;
        self.shared.ended.forget_job(job_id);
        Ok(())
    }

    /// Deletes every job that ended more than `older_than` ago, with its
    /// log; their assets and costs stay. Returns how many jobs went.
    pub async fn prune_jobs(&self, older_than: Duration) -> Result<u64> {
        self.check_open()?;
        let cut = Timestamp::now().minus(older_than);
        self.shared.store.prune_jobs(cut).await
    }

    /// Sets the job gauges of [`metrics`] (jobs per status, queue depth)
    /// from the store's counts; a host exporting metrics calls it every
    /// few seconds.
    pub async fn refresh_job_metrics(&self) -> Result<()> {
        let stats = self.job_stats(None).await?;
        metrics::record_job_stats(&stats);
        Ok(())
    }

    /// One asset.
    pub async fn asset(&self, asset_id: AssetId) -> Result<Asset> {
        self.check_open()?;
        self.shared
            .store
            .asset(asset_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "asset",
                id: asset_id.to_string(),
            })
    }

    /// Assets, newest first, filtered and paged.
    pub async fn assets(&self, filter: &AssetFilter, page: &PageRequest) -> Result<Page<Asset>> {
        self.check_open()?;
        self.shared.store.list_assets(filter, page).await
    }

    /// An asset's bytes in memory (for small assets; see [`Engine::open_asset`]).
    /// Recorded as a `read` of the asset by its client.
    pub async fn read_bytes(&self, asset_id: AssetId) -> Result<Bytes> {
        self.check_open()?;
        let asset = self.asset(asset_id).await?;
        let bytes = self.shared.blobs.read(&asset.sha256).await?;
        self.record_use(&asset, UsageKind::Read);
        Ok(bytes)
    }

    /// A URL that downloads an asset's bytes without credentials until
    /// `ttl` has passed: a presigned URL of the object store. A blob store
    /// that cannot sign (files, the database) answers `invalid_request`
    /// naming `blobs`; read those assets with [`Engine::read_bytes`] or
    /// [`Engine::open_asset`]. (A `file://` URL is not offered: it would
    /// neither expire nor work on another machine.)
    pub async fn asset_url(&self, asset_id: AssetId, ttl: Duration) -> Result<String> {
        self.check_open()?;
        let asset = self.asset(asset_id).await?;
        self.shared
            .blobs
            .presigned_url(&asset.sha256, ttl)
            .await?
            .ok_or_else(|| {
                Error::invalid(
                    "blobs",
                    "this blob store cannot sign download URLs; use read_bytes or a reader",
                )
            })
    }

    /// An asset's bytes as a stream. Recorded as a `read`.
    pub async fn open_asset(&self, asset_id: AssetId) -> Result<BlobReader> {
        self.check_open()?;
        let asset = self.asset(asset_id).await?;
        let reader = self.shared.blobs.open(&asset.sha256).await?;
        self.record_use(&asset, UsageKind::Read);
        Ok(reader)
    }

    /// Streams an asset's bytes into a file (created or replaced), flushed;
    /// recorded as an `export`.
    pub async fn export_asset(&self, asset_id: AssetId, path: &std::path::Path) -> Result<Asset> {
        self.check_open()?;
        let asset = self.asset(asset_id).await?;
        let mut reader = self.shared.blobs.open(&asset.sha256).await?;
        let failed =
            |e: std::io::Error| Error::storage(format!("cannot write {}", path.display()), e);
        let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(failed)?;
        file.sync_all().await.map_err(failed)?;
        self.record_use(&asset, UsageKind::Export);
        Ok(asset)
    }

    /// How often, how and by whom an asset was used (reads and exports are
    /// written in batches, at most a second behind).
    pub async fn asset_usage(&self, asset_id: AssetId) -> Result<UsageSummary> {
        self.check_open()?;
        self.asset(asset_id).await?;
        self.shared.store.usage_summary(asset_id).await
    }

    /// Writes the usage records still queued (close does this too).
    pub async fn flush_usage(&self) {
        self.shared.usage.flush().await;
    }

    /// A use of the asset by its own client: only a client's own assets are
    /// readable through an engine call that names no other client.
    fn record_use(&self, asset: &Asset, kind: UsageKind) {
        self.shared
            .usage
            .record(asset.id, asset.client_id.clone(), kind);
    }

    /// Embeds and indexes new assets for search; a failure is logged, since
    /// the asset itself is stored and only its findability suffers.
    pub(crate) async fn index_new_assets(&self, assets: &[Asset]) {
        if let Err(e) = self.shared.search.add_assets(&self.shared, assets).await {
            tracing::warn!(error = %e, "cannot index new assets for search");
        }
    }

    /// Deletes an asset; its bytes are freed when no other asset shares them.
    pub async fn delete_asset(&self, asset_id: AssetId) -> Result<()> {
        self.check_open()?;
        let deleted = self
            .shared
            .store
            .delete_asset(asset_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "asset",
                id: asset_id.to_string(),
            })?;
        self.shared.search.remove(&deleted.client_id, asset_id);
        self.shared.ended.forget_asset(asset_id);
        if deleted.orphaned {
            self.shared.blobs.delete(&deleted.sha256).await?;
        }
        Ok(())
    }

    /// Money spent, summed and grouped.
    pub async fn costs(&self, query: &CostQuery) -> Result<CostReport> {
        self.check_open()?;
        self.shared.store.costs(query).await
    }

    /// Creates or replaces a budget.
    pub async fn set_budget(&self, budget: &Budget) -> Result<()> {
        self.check_open()?;
        if budget.limit_micros.micros() < 0 {
            return Err(Error::invalid("limit_micros", "must not be negative"));
        }
        self.shared.store.set_budget(budget).await
    }

    /// A client's budgets.
    pub async fn budgets(&self, client_id: &ClientId) -> Result<Vec<Budget>> {
        self.check_open()?;
        self.shared.store.budgets(client_id).await
    }

    /// The configured providers, their models and prices.
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.shared.router().describe()
    }

    /// Adds a provider to a running engine (hosts register their own).
    pub fn register_provider(&self, provider: Arc<dyn Provider>) -> Result<()> {
        let mut router = lock(&self.shared.router);
        let mut providers = router.providers().to_vec();
        providers.push(provider);
        check_unique_names(&providers)?;
        *router = Router::new(providers);
        drop(router);
        self.shared.wake_workers();
        Ok(())
    }

    /// Every event from now on, in order. The stream ends when the engine
    /// closes, after the events it still holds.
    pub fn events(&self) -> EventStream {
        self.shared.events.subscribe()
    }

    /// Adds an event sink (a host listener); returns it for [`Engine::remove_event_sink`].
    pub fn add_event_sink(&self, sink: Arc<dyn EventSink>) -> Arc<dyn EventSink> {
        self.shared.events.add_sink(sink.clone());
        sink
    }

    /// Removes a sink added with [`Engine::add_event_sink`].
    pub fn remove_event_sink(&self, sink: &Arc<dyn EventSink>) {
        self.shared.events.remove_sink(sink);
    }

    /// Stops gracefully: no new claims; running jobs get the configured grace
    /// period to finish, then are released for another worker; sinks deliver
    /// the events they queued ([`EventSink::flush`]), and every stream of
    /// [`Engine::events`] ends. Calls after `close` fail; closing twice is
    /// fine.
    pub async fn close(&self) -> Result<()> {
        if self.shared.shutting_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.shared.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + self.shared.shutdown_grace;
        while self.shared.claims.running_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.shared.stop_jobs.cancel();
        let slots: Vec<JoinHandle<()>> = lock(&self.shared.tasks).drain(..).collect();
        self.shared.stopped.cancel();
        for task in slots {
            let _ = task.await;
        }
        // Jobs run in place by `generate` callers end (stopped) too.
        let _all = self
            .shared
            .slots
            .acquire_many(self.shared.workers as u32)
            .await;
        self.release_handed_over().await;
        self.shared.usage.flush().await;
        self.shared.events.flush_sinks().await;
        self.shared.events.end_streams();
        Ok(())
    }

    /// Releases the jobs submits claimed for slots that stopped before
    /// taking them (once no submit is still handing one over).
    async fn release_handed_over(&self) {
        let _no_submit = self.shared.submit_gate.write().await;
        while let Some(claimed) = self.shared.take_handed_over() {
            let job_id = claimed.job.id;
            let released = self
                .shared
                .store
                .release_job(job_id, &claimed.worker, Timestamp::now())
                .await;
            if let Err(e) = released {
                tracing::warn!(%job_id, error = %e, "cannot release at shutdown; its lease will expire");
            }
        }
    }

    /// Whether [`Engine::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_shutting_down()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("engine_id", &self.shared.claims.engine_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::store::ClaimedJob;

    /// The queued job of the wire fixtures, claimed for `worker`.
    pub(crate) fn claimed(worker: &str) -> ClaimedJob {
        let wire = include_str!("../../tests/wire/job_queued.json");
        ClaimedJob {
            job: serde_json::from_str(wire).unwrap_or_else(|e| panic!("{e}")),
            worker: worker.to_owned(),
            checkpoint: None,
            checkpoint_charged: crate::money::Money::ZERO,
            candidate_index: 0,
            candidate_failures: 0,
            started: None,
        }
    }
}
