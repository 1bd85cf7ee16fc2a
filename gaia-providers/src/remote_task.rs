//! What the remote-task providers (Replicate, Meshy, fal) share on top of
//! [`crate::http`]: their polling schedule, riding out transient poll
//! failures, the new part of a log that grows between polls, a progress
//! estimate for services that report none, and local input files sent
//! inline as `data:` URIs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use gaia_core::{CallInput, Error, GenerateContext, LogLevel, Progress, Result};

use crate::http::{PollSchedule, Polled};

/// The default polling schedule of remote tasks: 0.5 s, growing by half
/// each time, up to 5 s: a quick task stays quick, a long one is not
/// hammered. Providers take another (tests poll every few milliseconds).
///
/// A wait gives up after [`REMOTE_TASK_DEADLINE`] with `provider_timeout`:
/// a task stuck in a provider's queue must not hold a worker slot, a call
/// slot and a budget reservation for ever. The retry resumes the task, so
/// `max_attempts` bounds the whole wait.
pub fn default_poll_schedule() -> PollSchedule {
    PollSchedule::new(Duration::from_millis(500), Duration::from_secs(5))
        .factor(1.5)
        .deadline(REMOTE_TASK_DEADLINE)
}

/// How long one attempt waits for a remote task: far beyond what a video
/// or a 3D model takes.
pub const REMOTE_TASK_DEADLINE: Duration = Duration::from_secs(2 * 3_600);

/// How many transient poll failures in a row a wait rides out.
pub const MAX_TRANSIENT_POLL_FAILURES: u32 = 5;

/// Lets a wait on a remote task ride out a few transient failures of its
/// polls (a 429, a 5xx, a timeout): the task goes on meanwhile, so the poll
/// is simply tried again on the schedule. After
/// [`MAX_TRANSIENT_POLL_FAILURES`] in a row, or at once for an error that is
/// not retryable, the error ends the wait (the engine then retries the job,
/// which resumes the same task from its checkpoint).
#[derive(Debug, Default)]
pub struct TransientFailures {
    in_a_row: AtomicU32,
}

impl TransientFailures {
    /// Passes a poll's outcome through, turning a transient failure into
    /// one more `Pending` (with a warning in the job's log) while the
    /// allowance lasts.
    pub fn absorb<T>(&self, cx: &GenerateContext, polled: Result<Polled<T>>) -> Result<Polled<T>> {
        match polled {
            Err(error) if error.is_retryable() && !matches!(error, Error::Canceled) => {
                let failures = self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if failures > MAX_TRANSIENT_POLL_FAILURES {
                    return Err(error);
                }
                cx.log(
                    LogLevel::Warn,
                    format!("polling failed ({error}); trying again"),
                );
                Ok(Polled::Pending)
            }
            other => {
                if other.is_ok() {
                    self.in_a_row.store(0, Ordering::Relaxed);
                }
                other
            }
        }
    }
}

/// Remembers how much of a growing log text was already reported, so that
/// each poll reports only the lines that are new. Only complete lines are
/// reported while the task runs ([`Self::finish`] takes the rest); progress
/// bars that redraw with `\r` count each redraw as a line.
#[derive(Debug, Default)]
pub struct LogTail {
    reported: usize,
}

impl LogTail {
    /// The complete lines of `log` (the whole log so far) not reported yet,
    /// trimmed, blank ones skipped.
    pub fn new_lines<'a>(&mut self, log: &'a str) -> Vec<&'a str> {
        let Some(unseen) = self.unseen(log) else {
            return Vec::new();
        };
        let complete = unseen.rfind(['\n', '\r']).map_or(0, |end| end + 1);
        self.reported += complete;
        split_lines(&unseen[..complete])
    }

    /// Every line of `log` not reported yet, the unfinished last one
    /// included: for the final poll of a task.
    pub fn finish<'a>(&mut self, log: &'a str) -> Vec<&'a str> {
        let Some(unseen) = self.unseen(log) else {
            return Vec::new();
        };
        self.reported = log.len();
        split_lines(unseen)
    }

    fn unseen<'a>(&mut self, log: &'a str) -> Option<&'a str> {
        // A log that shrank (or an offset off a character boundary, which a
        // well-behaved service never causes) starts over rather than panics.
        if log.len() < self.reported || !log.is_char_boundary(self.reported) {
            self.reported = 0;
        }
        log.get(self.reported..)
    }
}

fn split_lines(text: &str) -> Vec<&str> {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The percentage of a `tqdm` progress bar (` 45%|████▌     | 9/20 …`), the
/// way most models print their progress; `None` for any other line.
pub fn progress_bar_percent(line: &str) -> Option<u8> {
    let (before, _) = line.rsplit_once("%|")?;
    let digits_at = before
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let percent: u8 = before[digits_at..].parse().ok()?;
    (percent <= 100).then_some(percent)
}

/// Progress for a task that reports none: it rises with the time the task
/// has run toward 95 (about 60 after `expected`), and never reaches 100
/// before the task has succeeded.
pub fn estimated_progress(elapsed: Duration, expected: Duration) -> Progress {
    let expected = expected.as_secs_f64().max(1.0);
    let share = 1.0 - (-elapsed.as_secs_f64() / expected).exp();
    Progress::percent((95.0 * share).floor() as u32)
}

/// `percent` of a stage that spans `from`–`to` of the whole job (a two-stage
/// task reports 0–100 for each stage).
pub fn stage_progress(percent: u8, from: u8, to: u8) -> Progress {
    let span = u32::from(to.saturating_sub(from));
    Progress::percent(u32::from(from) + span * u32::from(percent.min(100)) / 100)
}

/// An input file as a `data:` URI (`data:image/png;base64,…`), for services
/// that take inputs inline. A file over `max_bytes` is refused with
/// `invalid_request` naming `field`, before it is read.
pub async fn data_uri(
    input: &CallInput,
    mime: &str,
    field: &str,
    max_bytes: u64,
) -> Result<String> {
    let path = &input.path;
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| Error::storage(format!("cannot read {}", path.display()), e))?
        .len();
    if size > max_bytes {
        return Err(Error::invalid(
            field,
            format!("the input asset has {size} bytes, over the {max_bytes} this service takes"),
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Error::storage(format!("cannot read {}", path.display()), e))?;
    Ok(format!("data:{mime};base64,{}", BASE64.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_backs_off_from_half_a_second_to_five() {
        let schedule = default_poll_schedule();
        let delays: Vec<u128> = (0..8).map(|n| schedule.delay(n).as_millis()).collect();
        assert_eq!(delays, [500, 750, 1125, 1687, 2531, 3796, 5000, 5000]);
        assert_eq!(
            schedule.deadline,
            Some(REMOTE_TASK_DEADLINE),
            "never waits for ever"
        );
    }

    #[test]
    fn only_new_complete_lines_are_reported() {
        let mut tail = LogTail::default();
        assert_eq!(tail.new_lines("loading\nwarm"), ["loading"]);
        assert_eq!(tail.new_lines("loading\nwarm"), Vec::<&str>::new());
        assert_eq!(
            tail.new_lines("loading\nwarmed up\n 10%|█ | 1/10\r 20%|██ | 2/10\r"),
            ["warmed up", "10%|█ | 1/10", "20%|██ | 2/10"]
        );
        let whole = "loading\nwarmed up\n 10%|█ | 1/10\r 20%|██ | 2/10\rdone";
        assert_eq!(tail.finish(whole), ["done"]);
        assert_eq!(tail.finish(whole), Vec::<&str>::new());
    }

    #[test]
    fn a_log_that_shrinks_starts_over() {
        let mut tail = LogTail::default();
        assert_eq!(tail.new_lines("é first\nsecond\n"), ["é first", "second"]);
        assert_eq!(tail.new_lines("other\n"), ["other"]);
    }

    #[test]
    fn progress_bars_are_read_from_log_lines() {
        assert_eq!(
            progress_bar_percent(" 45%|████▌     | 9/20 [00:02<00:02]"),
            Some(45)
        );
        assert_eq!(progress_bar_percent("100%|██████████| 4/4"), Some(100));
        assert_eq!(progress_bar_percent("loading weights 100%"), None);
        assert_eq!(progress_bar_percent("%| nothing before"), None);
        assert_eq!(progress_bar_percent("999%|"), None);
    }

    #[test]
    fn estimated_progress_rises_but_never_completes() {
        let expected = Duration::from_secs(10);
        let at = |s| estimated_progress(Duration::from_secs(s), expected).value();
        assert_eq!(at(0), 0);
        assert!(at(5) < at(10) && at(10) < at(30));
        assert_eq!(at(10), 60);
        assert_eq!(at(100_000), 95);
    }

    #[test]
    fn stages_share_the_scale() {
        assert_eq!(stage_progress(0, 50, 100).value(), 50);
        assert_eq!(stage_progress(50, 0, 50).value(), 25);
        assert_eq!(stage_progress(100, 50, 100).value(), 100);
        assert_eq!(stage_progress(200, 0, 50).value(), 50);
    }

    fn context() -> (tempfile::TempDir, GenerateContext) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cx = GenerateContext::detached(dir.path());
        (dir, cx)
    }

    fn server_error() -> Error {
        Error::Provider {
            provider: "p".into(),
            message: "HTTP 503".into(),
            retryable: true,
            retry_after: None,
        }
    }

    #[test]
    fn transient_poll_failures_are_ridden_out_a_few_times_in_a_row() {
        let (_dir, cx) = context();
        let failures = TransientFailures::default();
        for _ in 0..MAX_TRANSIENT_POLL_FAILURES {
            let polled = failures.absorb::<()>(&cx, Err(server_error()));
            assert!(matches!(polled, Ok(Polled::Pending)));
        }
        assert!(failures.absorb::<()>(&cx, Err(server_error())).is_err());
        // A success resets the count.
        assert!(failures.absorb(&cx, Ok(Polled::Done(1))).is_ok());
        assert!(matches!(
            failures.absorb::<()>(&cx, Err(server_error())),
            Ok(Polled::Pending)
        ));
    }

    #[test]
    fn fatal_poll_failures_end_the_wait_at_once() {
        let (_dir, cx) = context();
        let failures = TransientFailures::default();
        let refused = Error::Provider {
            provider: "p".into(),
            message: "key refused".into(),
            retryable: false,
            retry_after: None,
        };
        assert!(failures.absorb::<()>(&cx, Err(refused)).is_err());
        assert!(failures.absorb::<()>(&cx, Err(Error::Canceled)).is_err());
    }

    #[tokio::test]
    async fn data_uris_carry_the_file_and_respect_the_limit() {
        let (dir, _cx) = context();
        let path = dir.path().join("input.png");
        std::fs::write(&path, [0u8, 1, 2]).unwrap_or_else(|e| panic!("{e}"));
        let input = CallInput {
            role: gaia_core::InputRole::Parent,
            asset: test_asset(),
            path,
        };
        let uri = data_uri(&input, "image/png", "spec.parent_id", 3).await;
        assert_eq!(uri.ok().as_deref(), Some("data:image/png;base64,AAEC"));
        match data_uri(&input, "image/png", "spec.parent_id", 2).await {
            Err(Error::InvalidRequest { field, .. }) => assert_eq!(field, "spec.parent_id"),
            other => panic!("{other:?}"),
        }
    }

    fn test_asset() -> gaia_core::Asset {
        serde_json::from_value(serde_json::json!({
            "id": gaia_core::AssetId::new(), "client_id": "c", "campaign_id": null,
            "name": null, "mime": "image/png", "size_bytes": 3, "sha256": "00",
            "source": {"kind": "uploaded"}, "cost_micros": 0, "tags": [], "metadata": {},
            "created_at": "2026-01-01T00:00:00Z",
            "type": "image", "width": 1, "height": 1, "format": "png", "tileable": false
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }
}
