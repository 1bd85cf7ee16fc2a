//! The engine's metrics, through the `metrics` facade. Every call is a no-op
//! until the host installs a recorder (the CLI's `gaia worker --metrics
//! ADDR` installs a Prometheus exporter), so embedding hosts pay nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `gaia_jobs` | gauge | `status` | jobs in the store per status (every status present) |
//! | `gaia_queue_depth` | gauge | | queued jobs |
//! | `gaia_claim_latency_seconds` | histogram | | submission to first claim, per job |
//! | `gaia_provider_calls_total` | counter | `provider` | provider calls made by this process |
//! | `gaia_provider_errors_total` | counter | `provider`, `code` | failed calls by error code (a canceled call is not an error) |
//! | `gaia_spent_micros_total` | counter | `provider` | money charged, in micro-dollars |
//!
//! The gauges describe the whole store (every process's jobs) and change
//! only when [`crate::Engine::refresh_job_metrics`] runs; the counters and
//! the histogram count what this process did.

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::error::{Error, Result};
use crate::job::{Job, JobStats, JobStatus};
use crate::money::Money;
use crate::timestamp::Timestamp;

/// Jobs per status (gauge, label `status`).
pub const JOBS: &str = "gaia_jobs";
/// Queued jobs (gauge).
pub const QUEUE_DEPTH: &str = "gaia_queue_depth";
/// Seconds from a job's submission to its first claim (histogram).
pub const CLAIM_LATENCY: &str = "gaia_claim_latency_seconds";
/// Provider calls (counter, label `provider`).
pub const PROVIDER_CALLS: &str = "gaia_provider_calls_total";
/// Failed provider calls (counter, labels `provider` and `code`).
pub const PROVIDER_ERRORS: &str = "gaia_provider_errors_total";
/// Money charged (counter of micro-dollars, label `provider`).
pub const SPENT_MICROS: &str = "gaia_spent_micros_total";

/// Registers the help text and units of every metric with the installed
/// recorder (call once, after installing it).
pub fn describe() {
    describe_gauge!(JOBS, Unit::Count, "Jobs in the store per status");
    describe_gauge!(QUEUE_DEPTH, Unit::Count, "Queued jobs in the store");
    describe_histogram!(
        CLAIM_LATENCY,
        Unit::Seconds,
        "Seconds from a job's submission to its first claim"
    );
    describe_counter!(PROVIDER_CALLS, Unit::Count, "Provider calls");
    describe_counter!(
        PROVIDER_ERRORS,
        Unit::Count,
        "Failed provider calls by error code"
    );
    describe_counter!(SPENT_MICROS, "Money charged by providers, in micro-dollars");
}

/// Sets the job gauges from the store's counts.
pub fn record_job_stats(stats: &JobStats) {
    for status in JobStatus::ALL {
        let count = stats
            .by_status
            .iter()
            .find(|c| c.status == status)
            .map_or(0, |c| c.count);
        gauge!(JOBS, "status" => status.as_str()).set(count as f64);
        if status == JobStatus::Queued {
            gauge!(QUEUE_DEPTH).set(count as f64);
        }
    }
}

/// Records how long a job waited for its first claim (later attempts
/// waited for their backoff, not for a worker, and are not counted).
pub(crate) fn job_claimed(job: &Job, now: Timestamp) {
    if job.attempts == 1 {
        let waited_ms = now.millis().saturating_sub(job.created_at.millis()).max(0);
        metrics::histogram!(CLAIM_LATENCY).record(waited_ms as f64 / 1_000.0);
    }
}

/// Counts one provider call and its error code, passing its result through.
pub(crate) fn provider_call<T>(provider: &str, result: Result<T>) -> Result<T> {
    counter!(PROVIDER_CALLS, "provider" => provider.to_owned()).increment(1);
    match &result {
        Err(Error::Canceled) | Ok(_) => {}
        Err(error) => counter!(
            PROVIDER_ERRORS,
            "provider" => provider.to_owned(),
            "code" => error.code().as_str()
        )
        .increment(1),
    }
    result
}

/// Adds a charge to the money spent with `provider`.
pub(crate) fn money_spent(provider: &str, cost: Money) {
    let micros = u64::try_from(cost.micros()).unwrap_or(0);
    counter!(SPENT_MICROS, "provider" => provider.to_owned()).increment(micros);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::StatusCount;

    #[test]
    fn calls_without_a_recorder_are_no_ops() {
        describe();
        record_job_stats(&JobStats {
            by_status: vec![StatusCount {
                status: JobStatus::Queued,
                count: 3,
            }],
            by_provider: Vec::new(),
        });
        money_spent("mock", Money::from_micros(-5));
        let passed: Result<u8> = provider_call("mock", Err(Error::Canceled));
        assert!(matches!(passed, Err(Error::Canceled)));
        assert_eq!(provider_call("mock", Ok(7)).ok(), Some(7));
    }
}
