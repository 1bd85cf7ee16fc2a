//! Jobs: the durable record of one generation.

use serde::{Deserialize, Serialize};

use crate::asset::AssetKind;
use crate::error::JobError;
use crate::id::{AssetId, ClientId, JobId};
use crate::money::Money;
use crate::progress::Progress;
use crate::request::Request;
use crate::timestamp::Timestamp;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Finished with assets.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped by a host.
    Canceled,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as hosts see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Where it is.
    pub status: JobStatus,
    /// 0–100.
    pub progress: Progress,
    /// Provider attempts so far.
    pub attempts: u32,
    /// Attempts allowed before it fails.
    pub max_attempts: u32,
    /// What was asked.
    pub request: Request,
    /// The provider of the latest attempt.
    pub provider: Option<String>,
    /// The model of the latest attempt.
    pub model: Option<String>,
    /// The assets it yielded, in output order.
    pub asset_ids: Vec<AssetId>,
    /// The estimate made before the provider was called.
    pub estimated_cost_micros: Option<Money>,
    /// What it cost.
    pub cost_micros: Money,
    /// Why it failed or was canceled.
    pub error: Option<JobError>,
    /// Whether existing assets answered instead of a new generation (exact
    /// or similar reuse); `asset_ids` then lists them.
    pub reused: bool,
    /// The job that made the reused assets (null when the job did not reuse,
    /// or reused an imported asset that no job made).
    pub reused_from: Option<JobId>,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When a worker first took it.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written.
    pub at: Timestamp,
    /// `info`, `warn` or `error`.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Something happened.
    Info,
    /// Something went wrong and was handled.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

/// Filters for listing jobs; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobFilter {
    /// Only this client's jobs.
    pub client_id: Option<ClientId>,
    /// Only this campaign's jobs.
    pub campaign_id: Option<String>,
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind.
    pub kind: Option<AssetKind>,
}

/// Keyset pagination: where to start and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageRequest {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many items (default 50, at most 1,000).
    pub limit: Option<u32>,
}

impl PageRequest {
    /// Default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 1_000;

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self {
            cursor: None,
            limit: Some(limit),
        }
    }

    /// The page size to use, validated.
    pub fn limit(&self) -> crate::Result<u32> {
        match self.limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(crate::Error::invalid(
                "limit",
                format!("{n} is not within 1-{}", Self::MAX_LIMIT),
            )),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Job counts and provider health, computed by SQL aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    /// Jobs per status (every status present, 0 when none).
    pub by_status: Vec<StatusCount>,
    /// Per provider: finished jobs, failure rate and durations.
    pub by_provider: Vec<ProviderStats>,
}

/// Jobs in one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCount {
    /// The status.
    pub status: JobStatus,
    /// How many jobs.
    pub count: u64,
}

/// Finished jobs of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    /// The provider.
    pub provider: String,
    /// Succeeded and failed jobs.
    pub finished: u64,
    /// Failed jobs.
    pub failed: u64,
    /// `failed / finished`, 0.0–1.0.
    pub failure_rate: f64,
    /// Median run time (started to finished) of succeeded jobs, in milliseconds.
    pub p50_ms: Option<u64>,
    /// 95th percentile run time, in milliseconds.
    pub p95_ms: Option<u64>,
}
