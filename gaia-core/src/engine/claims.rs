//! The claims this engine holds. Each claim is leased to an id of its own
//! (the engine's id and a counter), so the late calls of an attempt that
//! lost its job (canceled, then queued again and claimed anew here) never
//! pass the store's guard as those of the newer claim, and each running
//! attempt has its own stop signal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use super::lock;
use crate::id::JobId;
use crate::store::ClaimedJob;

/// The running attempts of one engine, by the id their claim is leased to.
pub(crate) struct Claims {
    engine_id: String,
    taken: AtomicU64,
    running: Mutex<HashMap<String, RunningAttempt>>,
}

/// An attempt running on this engine: how to stop it, why it was stopped,
/// and the signal that it is over.
struct RunningAttempt {
    job_id: JobId,
    stop: CancellationToken,
    stopped: CancellationToken,
    /// Stopped because its job was canceled, not by a shutdown or a lost
    /// lease: its provider also cancels any remote task.
    canceled: bool,
}

/// A claim this engine lost, as a heartbeat found it.
pub(crate) struct LostClaim {
    pub(crate) worker: String,
    /// The job was canceled, rather than taken over by another worker.
    pub(crate) canceled: bool,
}

impl Claims {
    pub(crate) fn new(engine_id: String) -> Self {
        Self {
            engine_id,
            taken: AtomicU64::new(0),
            running: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn engine_id(&self) -> &str {
        &self.engine_id
    }

    /// A new id to lease a claim to.
    pub(crate) fn next_worker(&self) -> String {
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        format!("{}/{n}", self.engine_id)
    }

    /// Registers a claimed job's attempt as running; `stop` ends it.
    pub(crate) fn start(&self, claimed: &ClaimedJob, stop: CancellationToken) {
        let attempt = RunningAttempt {
            job_id: claimed.job.id,
            stop,
            stopped: CancellationToken::new(),
            canceled: false,
        };
        lock(&self.running).insert(claimed.worker.clone(), attempt);
    }

    /// The attempt is over and its reports are stored.
    pub(crate) fn end(&self, worker: &str) {
        if let Some(attempt) = lock(&self.running).remove(worker) {
            attempt.stopped.cancel();
        }
    }

    /// Stops the attempts of a canceled job; returns the signal that they
    /// stopped when one runs on this engine.
    pub(crate) fn cancel(&self, job_id: JobId) -> Option<CancellationToken> {
        let mut running = lock(&self.running);
        let mut stopped = None;
        for attempt in running.values_mut().filter(|a| a.job_id == job_id) {
            attempt.canceled = true;
            attempt.stop.cancel();
            stopped = Some(attempt.stopped.clone());
        }
        stopped
    }

    /// Whether the attempt was stopped because its job was canceled.
    pub(crate) fn is_canceled(&self, worker: &str) -> bool {
        lock(&self.running).get(worker).is_some_and(|a| a.canceled)
    }

    /// The running attempts: the id each claim is leased to, and its job.
    pub(crate) fn running(&self) -> Vec<(String, JobId)> {
        lock(&self.running)
            .iter()
            .map(|(worker, attempt)| (worker.clone(), attempt.job_id))
            .collect()
    }

    pub(crate) fn running_count(&self) -> usize {
        lock(&self.running).len()
    }

    /// Stops the attempts whose claims this engine no longer holds: those
    /// whose job was canceled as canceled (their remote tasks too), the
    /// others (taken over after their lease expired) only here.
    pub(crate) fn stop_lost(&self, lost: &[LostClaim]) {
        let mut running = lock(&self.running);
        for claim in lost {
            if let Some(attempt) = running.get_mut(&claim.worker) {
                attempt.canceled |= claim.canceled;
                attempt.stop.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(claims: &Claims) -> ClaimedJob {
        crate::engine::tests::claimed(&claims.next_worker())
    }

    #[test]
    fn every_claim_has_its_own_worker_id() {
        let claims = Claims::new("host-1".into());
        let (a, b) = (claims.next_worker(), claims.next_worker());
        assert_ne!(a, b);
        assert!(a.starts_with("host-1/") && b.starts_with("host-1/"));
    }

    #[test]
    fn an_ended_attempt_leaves_a_newer_claim_of_its_job_running() {
        let claims = Claims::new("e".into());
        // Two claims of one job (the same fixture).
        let (old, new) = (claimed(&claims), claimed(&claims));
        let job = old.job.clone();
        let (old_stop, new_stop) = (CancellationToken::new(), CancellationToken::new());
        claims.start(&old, old_stop.clone());
        let stopped = claims.cancel(job.id);
        assert!(stopped.is_some() && old_stop.is_cancelled());
        assert!(claims.is_canceled(&old.worker));

        // Queued again and claimed here while the old attempt still stops.
        claims.start(&new, new_stop.clone());
        assert!(!new_stop.is_cancelled() && !claims.is_canceled(&new.worker));
        claims.end(&old.worker);
        assert_eq!(claims.running(), vec![(new.worker.clone(), job.id)]);

        claims.stop_lost(&[LostClaim {
            worker: new.worker.clone(),
            canceled: false,
        }]);
        assert!(new_stop.is_cancelled());
        assert!(!claims.is_canceled(&new.worker), "taken over, not canceled");
    }
}
