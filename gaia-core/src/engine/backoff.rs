//! Retry and fallback decisions after a failed attempt.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryConfig;

/// The longest `Retry-After` a job waits for: a provider asking for more
/// (or a garbled header) does not park the job for days.
const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(3_600);

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextAttempt {
    /// The candidate to try next.
    pub(crate) candidate_index: u32,
    /// Consecutive failures on it.
    pub(crate) candidate_failures: u32,
    /// How long to wait first.
    pub(crate) delay: Duration,
}

/// Plans the attempt after the `attempt`-th failed (counting from 1): stay on
/// the same candidate with exponential backoff and jitter (or the provider's
/// Retry-After), or fall back to the next candidate at once when this one
/// failed `attempts_per_provider` times in a row. The list wraps around, so
/// the job's `max_attempts` is the only bound; back at its first candidate
/// after every one failed, the job backs off before it starts over.
pub(crate) fn plan(
    policy: &RetryConfig,
    candidates: usize,
    candidate_index: u32,
    candidate_failures: u32,
    attempt: u32,
    retry_after: Option<Duration>,
) -> NextAttempt {
    let failures = candidate_failures + 1;
    let candidates = u32::try_from(candidates.max(1)).unwrap_or(u32::MAX);
    if failures >= policy.attempts_per_provider.max(1) && candidates > 1 {
        let next = (candidate_index + 1) % candidates;
        let wrapped = next == 0;
        return NextAttempt {
            candidate_index: next,
            candidate_failures: 0,
            delay: if wrapped {
                jittered(policy, attempt)
            } else {
                Duration::ZERO
            },
        };
    }
    let backoff = jittered(policy, attempt);
    // A provider's wait, when longer, wins; bounded, since it comes from the wire.
    let delay = retry_after.map_or(backoff, |wait| wait.min(MAX_PROVIDER_WAIT).max(backoff));
    NextAttempt {
        candidate_index,
        candidate_failures: failures,
        delay,
    }
}

/// `base · 2^(attempt-1)`, capped, then a random point in its upper half so
/// that many jobs failing together do not retry together.
fn jittered(policy: &RetryConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let ceiling = policy
        .base_delay_ms
        .saturating_mul(1 << exponent)
        .min(policy.max_delay_ms);
    let floor = ceiling / 2;
    let millis = if ceiling > floor {
        rand::rng().random_range(floor..=ceiling)
    } else {
        ceiling
    };
    Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryConfig {
        RetryConfig {
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            attempts_per_provider: 2,
        }
    }

    #[test]
    fn backs_off_then_falls_back() {
        let first = plan(&policy(), 2, 0, 0, 1, None);
        assert_eq!((first.candidate_index, first.candidate_failures), (0, 1));
        assert!(
            (50..=100).contains(&first.delay.as_millis()),
            "{:?}",
            first.delay
        );
        let second = plan(&policy(), 2, 0, 1, 2, None);
        assert_eq!(
            (
                second.candidate_index,
                second.candidate_failures,
                second.delay
            ),
            (1, 0, Duration::ZERO)
        );
        let wrapped = plan(&policy(), 2, 1, 1, 4, None);
        assert_eq!(wrapped.candidate_index, 0);
        // Every candidate failed: starting over waits (the upper half of
        // 100 ms · 2³).
        assert!(
            (400..=800).contains(&wrapped.delay.as_millis()),
            "{:?}",
            wrapped.delay
        );
    }

    #[test]
    fn honours_retry_after_and_caps_backoff() {
        let next = plan(&policy(), 1, 0, 0, 1, Some(Duration::from_secs(7)));
        assert_eq!(next.delay, Duration::from_secs(7));
        let years = Some(Duration::from_secs(86_400 * 365 * 3));
        assert_eq!(plan(&policy(), 1, 0, 0, 1, years).delay, MAX_PROVIDER_WAIT);
        // A wait shorter than the backoff does not hurry the job.
        let soon = plan(&policy(), 1, 0, 0, 4, Some(Duration::ZERO));
        assert!(soon.delay >= Duration::from_millis(400), "{:?}", soon.delay);
        let late = plan(&policy(), 1, 0, 5, 12, None);
        assert!(
            late.delay <= Duration::from_millis(1_000) && late.delay >= Duration::from_millis(500)
        );
        // One candidate: never "falls back" to itself without waiting.
        assert_eq!(late.candidate_index, 0);
    }
}
