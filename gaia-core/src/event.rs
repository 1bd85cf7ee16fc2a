//! Events: what the engine tells hosts, in order, with a per-engine `seq`.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::id::{AssetId, ClientId, JobId};
use crate::job::LogLevel;
use crate::money::Money;
use crate::progress::Progress;
use crate::timestamp::Timestamp;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one per event within an engine.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// The job it is about, where it has one.
    pub job_id: Option<JobId>,
    /// What happened, tagged by `type`.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The `type` name on the wire (`job_queued`, …).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A job was submitted.
    JobQueued {
        /// Its client.
        client_id: ClientId,
    },
    /// A worker started an attempt.
    JobStarted {
        /// The attempt number, from 1.
        attempt: u32,
        /// The provider chosen.
        provider: String,
        /// The model chosen.
        model: String,
    },
    /// The provider reported progress.
    JobProgress {
        /// 0–100.
        progress: Progress,
    },
    /// A log line.
    JobLog {
        /// Severity.
        level: LogLevel,
        /// Text.
        message: String,
    },
    /// The job finished with assets.
    JobSucceeded {
        /// Its assets.
        asset_ids: Vec<AssetId>,
        /// What it cost.
        cost_micros: Money,
    },
    /// The job failed.
    JobFailed {
        /// Why.
        error: JobError,
    },
    /// The job was canceled.
    JobCanceled {},
    /// An asset was stored.
    AssetCreated {
        /// The asset.
        asset_id: AssetId,
        /// Its client.
        client_id: ClientId,
    },
    /// Money was spent.
    CostRecorded {
        /// The client charged.
        client_id: ClientId,
        /// The provider paid.
        provider: String,
        /// The model.
        model: String,
        /// The amount.
        cost_micros: Money,
    },
    /// A job was refused by a budget.
    BudgetExceeded {
        /// The client.
        client_id: ClientId,
        /// Why.
        message: String,
    },
    /// A subscriber fell behind and missed events.
    EventsLost {
        /// How many.
        count: u64,
    },
}

impl EventKind {
    /// The `type` name on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::JobQueued { .. } => "job_queued",
            Self::JobStarted { .. } => "job_started",
            Self::JobProgress { .. } => "job_progress",
            Self::JobLog { .. } => "job_log",
            Self::JobSucceeded { .. } => "job_succeeded",
            Self::JobFailed { .. } => "job_failed",
            Self::JobCanceled {} => "job_canceled",
            Self::AssetCreated { .. } => "asset_created",
            Self::CostRecorded { .. } => "cost_recorded",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::EventsLost { .. } => "events_lost",
        }
    }

    /// Whether this event ends a job.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::JobSucceeded { .. } | Self::JobFailed { .. } | Self::JobCanceled {}
        )
    }
}

/// A consumer of events: the in-process stream, NATS, a Node listener, a C callback.
///
/// `publish` is called in `seq` order from engine tasks and must not block:
/// a sink that does I/O hands the event to its own task.
pub trait EventSink: Send + Sync + 'static {
    /// Receives one event.
    fn publish(&self, event: &Event);

    /// Delivers what the sink has queued; [`crate::Engine::close`] awaits it
    /// after the last event. A sink that publishes from its own task returns
    /// a future that ends once that task has sent its queue (or gave up,
    /// within a bound of its own); the default has nothing to wait for.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}
