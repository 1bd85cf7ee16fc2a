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
    /// What the job's checkpoint task had been charged when it was claimed.
    claimed: Money,
    /// Once the attempt runs a remote task (the checkpoint it resumes, or
    /// one its provider saved): what the provider's cost report includes
    /// that was charged before the attempt.
    before: Mutex<Option<Money>>,
}

impl TaskCharge {
    pub(crate) fn new(claimed: &ClaimedJob) -> Self {
        Self {
            claimed: claimed.checkpoint_charged,
            before: Mutex::new(None),
        }
    }

    /// The attempt resumes the job's checkpoint task.
    pub(crate) fn resume(&self) {
        *lock(&self.before) = Some(self.claimed);
    }

    /// The provider saved a checkpoint. A follow-on of the task it resumed
    /// (a refine after its preview) carries what was charged before, which
    /// the call's cost report still includes; a new task starts at zero.
    pub(crate) fn saved(&self) {
        lock(&self.before).get_or_insert(Money::ZERO);
    }

    /// What the attempt owes of the cost its provider reported for its
    /// task in all: the part not charged before.
    pub(crate) fn owed(&self, reported: Money) -> Money {
        let before = lock(&self.before).unwrap_or(Money::ZERO);
        Money::from_micros((reported.micros() - before.micros()).max(0))
    }

    /// What the job's checkpoint task has been charged once the attempt's
    /// `owed` is recorded.
    pub(crate) fn checkpoint_charged(&self, owed: Money) -> Money {
        match *lock(&self.before) {
            Some(before) => before.saturating_add(owed),
            // The attempt ran no task: the checkpoint is the claimed one.
            None => self.claimed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(charged: i64) -> ClaimedJob {
        ClaimedJob {
            checkpoint_charged: Money::from_micros(charged),
            ..crate::engine::tests::claimed("e/1")
        }
    }

    #[test]
    fn a_resumed_task_owes_only_what_was_not_charged() {
        let charge = TaskCharge::new(&claimed(700));
        charge.resume();
        assert_eq!(charge.owed(Money::from_micros(1_000)).micros(), 300);
        assert_eq!(charge.owed(Money::from_micros(500)).micros(), 0);
        let owed = charge.owed(Money::from_micros(1_000));
        assert_eq!(charge.checkpoint_charged(owed).micros(), 1_000);

        // The provider re-saves the same task: still the same charges.
        charge.saved();
        assert_eq!(charge.owed(Money::from_micros(1_000)).micros(), 300);
    }

    #[test]
    fn a_follow_on_of_a_resumed_task_carries_its_charge() {
        // A preview charged 400 before; the retry resumes it and starts the
        // refine, reporting 600 for both.
        let charge = TaskCharge::new(&claimed(400));
        charge.resume();
        charge.saved();
        assert_eq!(charge.owed(Money::from_micros(600)).micros(), 200);
        assert_eq!(
            charge.checkpoint_charged(Money::from_micros(200)).micros(),
            600
        );
    }

    #[test]
    fn a_new_task_owes_all_it_reports() {
        let charge = TaskCharge::new(&claimed(700));
        charge.saved();
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
        let charge = TaskCharge::new(&claimed(700));
        assert_eq!(charge.owed(Money::from_micros(50)).micros(), 50);
        assert_eq!(
            charge.checkpoint_charged(Money::from_micros(50)).micros(),
            700
        );
        let fresh = TaskCharge::new(&claimed(0));
        assert_eq!(fresh.checkpoint_charged(Money::from_micros(50)).micros(), 0);
    }
}
