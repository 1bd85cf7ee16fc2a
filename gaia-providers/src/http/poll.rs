//! Polling a remote task until it is done, canceled, or out of time.

use std::future::Future;
use std::time::Duration;

use gaia_core::{Error, GenerateContext, Result};
use tokio::time::Instant;

/// What one poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<T> {
    /// The task finished (successfully or not: the value says).
    Done(T),
    /// Still running; poll again after the schedule's next delay.
    Pending,
}

/// When to poll: a first delay growing by `factor` up to `max`, and an
/// optional deadline after which the wait fails with `provider_timeout`.
#[derive(Debug, Clone, PartialEq)]
pub struct PollSchedule {
    /// The delay after the first poll.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How much each delay grows over the last (1.0: constant).
    pub factor: f64,
    /// The longest total wait (`None`: until done or canceled).
    pub deadline: Option<Duration>,
}

impl PollSchedule {
    /// Delays from `first` doubling up to `max`, no deadline.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            factor: 2.0,
            deadline: None,
        }
    }

    /// The same delay every time.
    pub fn constant(every: Duration) -> Self {
        Self::new(every, every).factor(1.0)
    }

    /// Sets the growth of each delay over the last (at least 1.0).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Gives up after `deadline` in total.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The delay after poll number `polls` (0 for the first).
    pub fn delay(&self, polls: u32) -> Duration {
        let grown = self.first.as_secs_f64() * self.factor.powi(polls.min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max.as_secs_f64()))
    }
}

/// Calls `poll` until it answers [`Polled::Done`], sleeping the schedule's
/// delays in between. Stops with `Err(Canceled)` as soon as the job is
/// canceled or the engine shuts down (both fire `cx.cancellation()`), even
/// in the middle of a poll, and with `Err(Timeout)` past the deadline. An
/// error from `poll` ends the wait with that error.
///
/// Save the remote task's id with `cx.checkpoint` before calling this, and
/// cancel the remote task when it returns `Canceled`.
pub async fn poll_until<T, F, Fut>(
    provider: &str,
    cx: &GenerateContext,
    schedule: &PollSchedule,
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Polled<T>>>,
{
    let started = Instant::now();
    let cancellation = cx.cancellation();
    for polls in 0u32.. {
        cx.check_canceled()?;
        let polled = tokio::select! {
            biased;
            () = cancellation.cancelled() => return Err(Error::Canceled),
            polled = poll() => polled?,
        };
        if let Polled::Done(value) = polled {
            return Ok(value);
        }
        let delay = schedule.delay(polls);
        if let Some(deadline) = schedule.deadline
            && started.elapsed() + delay > deadline
        {
            return Err(Error::Timeout {
                provider: provider.to_owned(),
            });
        }
        tokio::select! {
            biased;
            () = cancellation.cancelled() => return Err(Error::Canceled),
            () = tokio::time::sleep(delay) => {}
        }
    }
    Err(Error::Timeout {
        provider: provider.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use gaia_core::{ErrorCode, GenerateContext};

    use super::*;

    fn context() -> (tempfile::TempDir, GenerateContext) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cx = GenerateContext::detached(dir.path());
        (dir, cx)
    }

    #[test]
    fn delays_grow_to_the_maximum() {
        let schedule = PollSchedule::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|n| schedule.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        let constant = PollSchedule::constant(Duration::from_secs(10));
        assert_eq!(constant.delay(9), Duration::from_secs(10));
        assert_eq!(schedule.delay(u32::MAX), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_until_done() {
        let (_dir, cx) = context();
        let polls = Arc::new(AtomicU32::new(0));
        let schedule = PollSchedule::new(Duration::from_secs(1), Duration::from_secs(5));
        let counter = polls.clone();
        let value = poll_until("acme", &cx, &schedule, move || {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                Ok(if n == 3 {
                    Polled::Done(n)
                } else {
                    Polled::Pending
                })
            }
        })
        .await;
        assert_eq!(value.ok(), Some(3));
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_the_wait() {
        let (_dir, cx) = context();
        let token = cx.cancellation().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            token.cancel();
        });
        let schedule = PollSchedule::constant(Duration::from_secs(10));
        let result: Result<()> =
            poll_until("acme", &cx, &schedule, || async { Ok(Polled::Pending) }).await;
        assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::Canceled));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_a_poll_in_flight() {
        let (_dir, cx) = context();
        cx.cancellation().cancel();
        let schedule = PollSchedule::constant(Duration::from_secs(1));
        let result: Result<()> = poll_until("acme", &cx, &schedule, || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Polled::Pending)
        })
        .await;
        assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::Canceled));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_a_timeout() {
        let (_dir, cx) = context();
        let schedule =
            PollSchedule::constant(Duration::from_secs(10)).deadline(Duration::from_secs(35));
        let result: Result<()> =
            poll_until("acme", &cx, &schedule, || async { Ok(Polled::Pending) }).await;
        assert_eq!(
            result.err().map(|e| e.code()),
            Some(ErrorCode::ProviderTimeout)
        );
    }

    #[tokio::test]
    async fn a_poll_error_ends_the_wait() {
        let (_dir, cx) = context();
        let schedule = PollSchedule::constant(Duration::from_millis(1));
        let result: Result<()> = poll_until("acme", &cx, &schedule, || async {
            Err(Error::Rejected {
                provider: "acme".into(),
                reason: "nsfw".into(),
            })
        })
        .await;
        assert_eq!(
            result.err().map(|e| e.code()),
            Some(ErrorCode::ProviderRejected)
        );
    }
}
