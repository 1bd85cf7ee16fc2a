//! What the remote task of an attempt was charged before the attempt, so
//! that a task resumed after a failed attempt recorded its cost (its
//! prediction succeeded, the download failed) is charged once, not once
//! per attempt that reports it.

use std::sync::Mutex;

use super::lock;
use crate::money::Money;
use crate::store::ClaimedJob;

/// One attempt's view of its job's checkpoint task and its charges.
pub(crate) struct TaskCharge {
    /// The job's checkpoint as claimed, and what it was charged so far.
    claimed: Option<(String, Money)>,
    /// The task this attempt runs (the checkpoint it resumes, or the one
    /// its provider saved), and what the attempt's cost report includes
    /// that was charged before it.
    current: Mutex<Option<(String, Money)>>,
}

impl TaskCharge {
    pub(crate) fn new(claimed: &ClaimedJob) -> Self {
        Self {
            claimed: claimed
                .checkpoint
                .clone()
                .map(|task| (task, claimed.checkpoint_charged)),
            current: Mutex::new(None),
        }
    }

    /// The attempt resumes the job's checkpoint task.
    pub(crate) fn resume(&self, task: &str) {
        let before = match &self.claimed {
            Some((claimed, charged)) if claimed == task => *charged,
            _ => Money::ZERO,
        };
        *lock(&self.current) = Some((task.to_owned(), before));
    }

    /// The provider saved a checkpoint: the attempt runs that task. A
    /// follow-on of the task it resumed (a refine after its preview) carries
    /// what was charged before, which the call's cost report still includes.
    pub(crate) fn saved(&self, task: String) {
        let mut current = lock(&self.current);
        let before = current.as_ref().map_or(Money::ZERO, |(_, before)| *before);
        *current = Some((task, before));
    }

    /// What the attempt's cost report includes that was charged before it.
    fn before(&self) -> Money {
        lock(&self.current)
            .as_ref()
            .map_or(Money::ZERO, |(_, before)| *before)
    }

    /// What the attempt owes of the cost its provider reported for its
    /// task in all: the part not charged before.
    pub(crate) fn owed(&self, reported: Money) -> Money {
        Money::from_micros((reported.micros() - self.before().micros()).max(0))
    }

    /// What the job's checkpoint task has been charged once the attempt's
    /// `owed` is recorded.
    pub(crate) fn checkpoint_charged(&self, owed: Money) -> Money {
        if lock(&self.current).is_some() {
            return self.before().saturating_add(owed);
        }
        // The attempt ran no task: the checkpoint is the claimed one.
        self.claimed
            .as_ref()
            .map_or(Money::ZERO, |(_, charged)| *charged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(checkpoint: Option<&str>, charged: i64) -> ClaimedJob {
        let wire = include_str!("../../../tests/wire/job_queued.json");
        ClaimedJob {
            job: serde_json::from_str(wire).unwrap_or_else(|e| panic!("{e}")),
            worker: "e/1".to_owned(),
            checkpoint: checkpoint.map(str::to_owned),
            checkpoint_charged: Money::from_micros(charged),
            candidate_index: 0,
            candidate_failures: 0,
            started: None,
        }
    }

    #[test]
    fn a_resumed_task_owes_only_what_was_not_charged() {
        let charge = TaskCharge::new(&claimed(Some("task-1"), 700));
        charge.resume("task-1");
        assert_eq!(charge.owed(Money::from_micros(1_000)).micros(), 300);
        assert_eq!(charge.owed(Money::from_micros(500)).micros(), 0);
        let owed = charge.owed(Money::from_micros(1_000));
        assert_eq!(charge.checkpoint_charged(owed).micros(), 1_000);

        // The provider re-saves the same task: still the same charges.
        charge.saved("task-1".to_owned());
        assert_eq!(charge.owed(Money::from_micros(1_000)).micros(), 300);
    }

    #[test]
    fn a_follow_on_of_a_resumed_task_carries_its_charge() {
        // A preview charged 400 before; the retry resumes it and starts the
        // refine, reporting 600 for both.
        let charge = TaskCharge::new(&claimed(Some("preview:1"), 400));
        charge.resume("preview:1");
        charge.saved("refine:2:1".to_owned());
        assert_eq!(charge.owed(Money::from_micros(600)).micros(), 200);
        assert_eq!(
            charge.checkpoint_charged(Money::from_micros(200)).micros(),
            600
        );
    }

    #[test]
    fn a_new_task_owes_all_it_reports() {
        let charge = TaskCharge::new(&claimed(Some("task-1"), 700));
        charge.saved("task-2".to_owned());
        assert_eq!(charge.owed(Money::from_micros(400)).micros(), 400);
        assert_eq!(
            charge.checkpoint_charged(Money::from_micros(400)).micros(),
            400
        );
    }

    #[test]
    fn an_attempt_without_a_task_leaves_the_checkpoint_charge() {
        // A fallback provider's synchronous call: the job's checkpoint (of
        // another provider) keeps what it was charged.
        let charge = TaskCharge::new(&claimed(Some("task-1"), 700));
        assert_eq!(charge.owed(Money::from_micros(50)).micros(), 50);
        assert_eq!(
            charge.checkpoint_charged(Money::from_micros(50)).micros(),
            700
        );
        let fresh = TaskCharge::new(&claimed(None, 0));
        assert_eq!(fresh.checkpoint_charged(Money::from_micros(50)).micros(), 0);
    }
}
