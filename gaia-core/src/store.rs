//! Store traits: the durable queue and records (jobs, assets, costs, budgets)
//! and the blob store. gaia-store implements them for SQLite and Postgres.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::asset::{Asset, AssetKind};
use crate::error::{Error, JobError, Result};
use crate::id::{AssetId, ClientId, JobId};
use crate::job::{Job, JobFilter, JobStats, LogLine, Page, PageRequest};
use crate::money::Money;
use crate::progress::Progress;
use crate::provider::StagedOutput;
use crate::timestamp::Timestamp;

/// A job to insert, with the digests the store indexes.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job, `queued`.
    pub job: Job,
    /// [`crate::Request::digest`]: an idempotency key reused with another digest is a conflict.
    pub request_digest: String,
    /// [`crate::Request::generation_digest`]: the key of exact reuse.
    pub generation_digest: String,
}

/// What inserting one job did.
#[derive(Debug, Clone)]
pub struct Inserted {
    /// The job now stored (the earlier one when the idempotency key matched).
    pub job: Job,
    /// Whether it was already there.
    pub existing: bool,
}

/// A claimed job and the pipeline state the host never sees.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job, `running`, its attempt counted.
    pub job: Job,
    /// The remote task a crashed attempt left behind.
    pub checkpoint: Option<String>,
    /// Which route candidate to try (advances on fallback).
    pub candidate_index: u32,
    /// Consecutive failed attempts on that candidate.
    pub candidate_failures: u32,
}

/// A line of the cost ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEntry {
    /// The client charged.
    pub client_id: ClientId,
    /// Its campaign.
    pub campaign_id: Option<String>,
    /// The job.
    pub job_id: JobId,
    /// The provider paid.
    pub provider: String,
    /// The model.
    pub model: String,
    /// The amount, rounded up once.
    pub cost_micros: Money,
    /// When it was charged.
    pub at: Timestamp,
}

/// A successful end of a job: new assets (or reused ones) and the money spent.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The job.
    pub job_id: JobId,
    /// New assets in output order; each unique on (job, output index).
    pub assets: Vec<Asset>,
    /// Existing assets that answered instead (exact or similar reuse).
    pub reused_assets: Vec<AssetId>,
    /// The job whose assets were reused.
    pub reused_from: Option<JobId>,
    /// The charge to settle the reservation with.
    pub cost: Option<CostEntry>,
    /// When it finished.
    pub at: Timestamp,
}

/// A failed attempt that will be tried again.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The job.
    pub job_id: JobId,
    /// Not before this instant.
    pub run_after: Timestamp,
    /// Candidate to try next.
    pub candidate_index: u32,
    /// Consecutive failures on it.
    pub candidate_failures: u32,
    /// The error of this attempt (kept as the job's latest error).
    pub error: JobError,
    /// What the failed attempt was charged, if anything.
    pub cost: Option<CostEntry>,
}

/// The queue and the job records.
///
/// Calls that change a running job take the worker id that holds its lease
/// and return `None` when the job is no longer held (canceled, or recovered
/// by another worker); the caller then drops its work.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Inserts jobs in one transaction. A job whose client already used its
    /// idempotency key returns that job, or fails the batch with `conflict`
    /// when the request differs.
    async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Inserted>>;

    /// Claims the next due job (priority, then submission order), leasing it
    /// to `worker` until `lease_until` and counting an attempt.
    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedJob>>;

    /// The earliest instant a queued job becomes due, if any is queued.
    async fn next_due(&self) -> Result<Option<Timestamp>>;

    /// Renews every lease `worker` holds in one statement; returns the jobs it
    /// still holds (a job missing from the list was canceled or taken over).
    async fn heartbeat(&self, worker: &str, lease_until: Timestamp) -> Result<Vec<JobId>>;

    /// Records the provider and model of the current attempt and reserves
    /// `reserve` against every budget of the job's client and campaign, in the
    /// transaction that checks the limits. `Err(BudgetExceeded)` reserves nothing.
    async fn start_attempt(
        &self,
        job_id: JobId,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Option<()>>;

    /// Persists progress.
    async fn set_progress(&self, job_id: JobId, progress: Progress) -> Result<()>;

    /// Appends log lines.
    async fn append_logs(&self, job_id: JobId, lines: &[LogLine]) -> Result<()>;

    /// A job's log, oldest first.
    async fn job_logs(&self, job_id: JobId) -> Result<Vec<LogLine>>;

    /// Saves the remote task id of the running attempt.
    async fn save_checkpoint(
        &self,
        job_id: JobId,
        worker: &str,
        checkpoint: &str,
    ) -> Result<Option<()>>;

    /// Ends a job successfully in one transaction: asset rows, ledger line,
    /// reservation released, job `succeeded`.
    async fn complete_job(&self, worker: &str, completion: Completion) -> Result<Option<Job>>;

    /// Puts a job back in the queue after a retryable failure.
    async fn retry_later(&self, worker: &str, retry: Retry) -> Result<Option<()>>;

    /// Puts a job back without counting the attempt (its provider is full,
    /// or the engine is shutting down).
    async fn release_job(
        &self,
        job_id: JobId,
        worker: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>>;

    /// Ends a job as failed, recording any charge and releasing its reservation.
    async fn fail_job(
        &self,
        worker: &str,
        job_id: JobId,
        error: JobError,
        cost: Option<CostEntry>,
        at: Timestamp,
    ) -> Result<Option<Job>>;

    /// Cancels a queued or running job; `conflict` when it already ended.
    async fn cancel_job(&self, job_id: JobId, at: Timestamp) -> Result<Job>;

    /// Queues a failed or canceled job again with fresh attempts; `conflict` otherwise.
    async fn retry_job(&self, job_id: JobId, now: Timestamp) -> Result<Job>;

    /// Deletes a finished job and its log (its assets and costs stay);
    /// `conflict` while it is queued or running.
    async fn delete_job(&self, job_id: JobId) -> Result<()>;

    /// One job.
    async fn job(&self, job_id: JobId) -> Result<Option<Job>>;

    /// Jobs, newest first, filtered and paged in SQL.
    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<Job>>;

    /// Counts by status and per-provider durations and failure rates (SQL aggregates).
    async fn job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats>;

    /// Requeues running jobs whose lease expired before `now` (their
    /// reservations released; their checkpoints kept), or fails those out of
    /// attempts. Returns the jobs it changed.
    async fn recover_expired(&self, now: Timestamp) -> Result<Vec<Job>>;

    /// The newest succeeded job of `client` with this generation digest whose
    /// assets all still exist.
    async fn find_reusable(
        &self,
        client_id: &ClientId,
        generation_digest: &str,
    ) -> Result<Option<Job>>;
}

/// What the start of an attempt records.
#[derive(Debug, Clone)]
pub struct AttemptStart {
    /// The provider chosen.
    pub provider: String,
    /// The model chosen.
    pub model: String,
    /// The estimate.
    pub estimate: Money,
    /// The amount to reserve against budgets.
    pub reserve: Money,
    /// Now (budget periods are computed from it).
    pub now: Timestamp,
}

/// Filters for listing assets; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssetFilter {
    /// Only this client's assets.
    pub client_id: Option<ClientId>,
    /// Only this campaign's assets.
    pub campaign_id: Option<String>,
    /// Only this type.
    #[serde(rename = "type")]
    pub kind: Option<AssetKind>,
    /// Only assets carrying this tag.
    pub tag: Option<String>,
}

/// What deleting an asset left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedAsset {
    /// The blob key of its bytes.
    pub sha256: String,
    /// Whether no other asset shares those bytes (so they may be freed).
    pub orphaned: bool,
}

/// Asset records.
#[async_trait]
pub trait AssetStore: Send + Sync + 'static {
    /// One asset.
    async fn asset(&self, id: AssetId) -> Result<Option<Asset>>;

    /// Assets, newest first, filtered and paged in SQL.
    async fn list_assets(&self, filter: &AssetFilter, page: &PageRequest) -> Result<Page<Asset>>;

    /// Deletes an asset row; says whether its bytes are still referenced.
    async fn delete_asset(&self, id: AssetId) -> Result<Option<DeletedAsset>>;
}

/// The period a budget counts over (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// Forever.
    Total,
    /// The current UTC day.
    Day,
    /// The current UTC month.
    Month,
}

impl BudgetPeriod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Total, Self::Day, Self::Month]
            .into_iter()
            .find(|p| p.as_str() == name)
    }

    /// The instant the period containing `now` started.
    pub fn start(self, now: Timestamp) -> Timestamp {
        use chrono::{Datelike, TimeZone, Utc};
        let t = now.to_datetime();
        let start = match self {
            Self::Total => return Timestamp::from_millis(i64::MIN),
            Self::Day => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0),
            Self::Month => Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0),
        };
        start
            .single()
            .map_or(now, |s| Timestamp::from_millis(s.timestamp_millis()))
    }
}

/// A spending limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The client it limits.
    pub client_id: ClientId,
    /// Only this campaign (all the client's spending when absent).
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// The period.
    pub period: BudgetPeriod,
    /// The limit.
    pub limit_micros: Money,
}

/// How to group a cost report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostGroup {
    /// One total.
    #[default]
    None,
    /// By client.
    Client,
    /// By campaign.
    Campaign,
    /// By provider.
    Provider,
    /// By model (`provider/model`).
    Model,
    /// By UTC day (`YYYY-MM-DD`).
    Day,
}

/// A cost report query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostQuery {
    /// Only this client.
    pub client_id: Option<ClientId>,
    /// Only this campaign.
    pub campaign_id: Option<String>,
    /// From this instant.
    pub since: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// Grouping.
    pub group_by: CostGroup,
}

/// Money spent, summed in SQL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// The sum over everything matched.
    pub total_micros: Money,
    /// Ledger lines matched.
    pub entries: u64,
    /// Per group, largest first (empty when not grouped).
    pub groups: Vec<CostRow>,
}

/// One group of a cost report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    /// The group's key (null for a missing campaign).
    pub key: Option<String>,
    /// The sum.
    pub cost_micros: Money,
    /// Ledger lines.
    pub entries: u64,
}

/// The ledger and the budgets.
#[async_trait]
pub trait CostStore: Send + Sync + 'static {
    /// Creates or replaces the budget of (client, campaign, period).
    async fn set_budget(&self, budget: &Budget) -> Result<()>;

    /// The client's budgets.
    async fn budgets(&self, client_id: &ClientId) -> Result<Vec<Budget>>;

    /// Sums the ledger.
    async fn costs(&self, query: &CostQuery) -> Result<CostReport>;
}

/// The whole record store: queue, jobs, assets and money.
pub trait Store: JobStore + AssetStore + CostStore {}

impl<T: JobStore + AssetStore + CostStore> Store for T {}

/// A boxed reader of blob bytes.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// Content-addressed bytes, keyed by hex SHA-256.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores a staged output under its SHA-256, durably (flushed to disk or
    /// acknowledged by the object store) before returning. Storing bytes that
    /// are already there keeps one copy.
    async fn put(&self, staged: StagedOutput) -> Result<()>;

    /// Streams the bytes.
    async fn open(&self, sha256: &str) -> Result<BlobReader>;

    /// All the bytes in memory (for small assets).
    async fn read(&self, sha256: &str) -> Result<Bytes> {
        let mut reader = self.open(sha256).await?;
        let mut buf = Vec::new();
        reader
            .read_to_end(&mut buf)
            .await
            .map_err(|e| Error::storage(format!("cannot read blob {sha256}"), e))?;
        Ok(Bytes::from(buf))
    }

    /// Whether the bytes are there.
    async fn exists(&self, sha256: &str) -> Result<bool>;

    /// Frees the bytes (the caller checked no asset references them).
    async fn delete(&self, sha256: &str) -> Result<()>;
}
