//! Worker slots, the heartbeat that renews their leases, and recovery of
//! jobs whose worker died.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::claims::LostClaim;
use super::{Shared, metrics, pipeline};
use crate::error::Result;
use crate::event::EventKind;
use crate::job::JobStatus;
use crate::store::ClaimedJob;
use crate::timestamp::Timestamp;

/// Idle workers look at the queue at least this often even without a wake-up
/// (jobs submitted by another process, retries coming due).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// One job slot: claims and runs jobs until the engine shuts down.
pub(crate) async fn run_slot(shared: Arc<Shared>) {
    // A job the last one's completion claimed: run even during a shutdown
    // (stopped and released like any job the shutdown interrupts), with the
    // permit its predecessor held.
    let mut carried: Option<(ClaimedJob, OwnedSemaphorePermit)> = None;
    loop {
        // Registered before claiming, so a submit between the claim and the
        // wait still wakes this slot.
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let (claimed, permit) = match carried.take() {
            Some(carried) => carried,
            None => {
                let Some(permit) = slot_permit(&shared).await else {
                    return;
                };
                match next_job(&shared).await {
                    Ok(Some(claimed)) => (claimed, permit),
                    Ok(None) => {
                        drop(permit);
                        let idle = idle_time(&shared).await;
                        let _idle = shared.enter_idle();
                        tokio::select! {
                            () = &mut wake => {}
                            () = tokio::time::sleep(idle) => {}
                            () = shared.shutdown.cancelled() => return,
                        }
                        continue;
                    }
                    Err(e) => {
                        drop(permit);
                        tracing::warn!(error = %e, "cannot claim a job; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(POLL_INTERVAL) => {}
                            () = shared.shutdown.cancelled() => return,
                        }
                        continue;
                    }
                }
            }
        };
        metrics::job_claimed(&claimed.job, Timestamp::now());
        carried = pipeline::run(shared.clone(), claimed)
            .await
            .map(|next| (next, permit));
    }
}

/// Waits for a permit to run a job (a `generate` caller may be running one
/// in place); `None` once the engine shuts down.
async fn slot_permit(shared: &Shared) -> Option<OwnedSemaphorePermit> {
    if shared.is_shutting_down() {
        return None;
    }
    tokio::select! {
        permit = shared.slots.clone().acquire_owned() => permit.ok(),
        () = shared.shutdown.cancelled() => None,
    }
}

/// A job a submit handed over, or else the next due job, claimed.
async fn next_job(shared: &Shared) -> Result<Option<ClaimedJob>> {
    if let Some(claimed) = shared.take_handed_over() {
        return Ok(Some(claimed));
    }
    let now = Timestamp::now();
    shared
        .store
        .claim_job(&shared.claims.next_worker(), now, now.plus(shared.lease))
        .await
}

/// A job a `generate` claimed for itself in its submit, with the slot
/// permit it took, run in place on the caller's task (awaited), where a
/// slot would cost two thread wake-ups: to the slot, and back to the
/// waiting caller. Dropped before it finished (the caller stopped waiting),
/// it finishes on the runtime: a claimed job always runs to the end of its
/// attempt.
pub(crate) struct InPlaceJob {
    job: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    runtime: tokio::runtime::Handle,
}

impl InPlaceJob {
    pub(crate) fn new(
        shared: Arc<Shared>,
        claimed: ClaimedJob,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let job = async move {
            metrics::job_claimed(&claimed.job, Timestamp::now());
            if let Some(next) = pipeline::run(shared.clone(), claimed).await {
                // Claimed by the completion: a slot runs it.
                shared.hand_over(next);
                drop(permit);
                shared.wake_workers();
            }
        };
        Self {
            job: Some(Box::pin(job)),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl Future for InPlaceJob {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(job) = self.job.as_mut() else {
            return Poll::Ready(());
        };
        ready!(job.as_mut().poll(cx));
        self.job = None;
        Poll::Ready(())
    }
}

impl Drop for InPlaceJob {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            self.runtime.spawn(job);
        }
    }
}

/// Wakes this engine's idle slots whenever the store reports that a job may
/// have become claimable in another process (Postgres `LISTEN/NOTIFY`), so
/// they claim at once instead of at their next poll. Ends at shutdown, or
/// when the store has no such signal.
pub(crate) async fn forward_wakeups(shared: Arc<Shared>) {
    use futures::StreamExt;
    let mut wakeups = match shared.store.queue_wakeups().await {
        Ok(Some(wakeups)) => wakeups,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for queue wake-ups; polling instead");
            return;
        }
    };
    loop {
        tokio::select! {
            woken = wakeups.next() => match woken {
                Some(()) => shared.wake_workers(),
                None => return,
            },
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// How long an idle slot sleeps: until the next retry comes due, at most the
/// poll interval.
async fn idle_time(shared: &Shared) -> Duration {
    match shared.store.next_due().await {
        Ok(Some(due)) => {
            let wait = due
                .millis()
                .saturating_sub(Timestamp::now().millis())
                .max(0);
            Duration::from_millis(wait as u64).min(POLL_INTERVAL)
        }
        _ => POLL_INTERVAL,
    }
}

/// Renews the leases of this engine's claims in one statement, tells running
/// providers when their job was canceled or taken over, and recovers jobs
/// whose worker died.
pub(crate) async fn run_heartbeat(shared: Arc<Shared>) {
    let interval = (shared.lease / 3).max(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shared.stopped.cancelled() => return,
        }
        renew_leases(&shared).await;
        recover(&shared).await;
    }
}

async fn renew_leases(shared: &Shared) {
    // Only attempts running before the statement are judged: one that
    // started while it ran is missing from its answer without being lost.
    let running = shared.claims.running();
    let mut claims: Vec<String> = running.iter().map(|(worker, _)| worker.clone()).collect();
    // Handed over to a slot, not running yet.
    claims.extend(shared.handed_over_claims());
    if claims.is_empty() {
        return;
    }
    let until = Timestamp::now().plus(shared.lease);
    let held = match shared.store.heartbeat(&claims, until).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "cannot renew leases");
            return;
        }
    };
    let mut lost = Vec::new();
    for (worker, job_id) in running.into_iter().filter(|(w, _)| !held.contains(w)) {
        let canceled = was_canceled(shared, job_id).await;
        lost.push(LostClaim { worker, canceled });
    }
    shared.claims.stop_lost(&lost);
}

/// Whether a job this engine lost was canceled (by a host, maybe in another
/// process) rather than taken over by another worker.
async fn was_canceled(shared: &Shared, job_id: crate::id::JobId) -> bool {
    match shared.store.job(job_id).await {
        Ok(Some(job)) => job.status == JobStatus::Canceled,
        // Deleted, or unreadable: nothing will resume it.
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Requeues (or fails) running jobs whose lease expired.
pub(crate) async fn recover(shared: &Shared) {
    let recovered = match shared.store.recover_expired(Timestamp::now()).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot recover expired jobs");
            return;
        }
    };
    let mut requeued = false;
    for job in recovered {
        match (job.status, job.error.clone()) {
            (JobStatus::Failed, Some(error)) => {
                tracing::warn!(job_id = %job.id, "job failed after its worker was lost");
                shared
                    .events
                    .emit(Some(job.id), EventKind::JobFailed { error });
            }
            _ => {
                tracing::info!(job_id = %job.id, "requeued a job whose worker was lost");
                requeued = true;
            }
        }
    }
    if requeued {
        shared.wake_workers();
    }
}
