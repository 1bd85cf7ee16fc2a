//! The jobs this engine ended most recently, with the assets they created,
//! so that a host waiting on a job hears the outcome without reading the
//! store again (`generate` on an idle engine is mostly such round trips).
//!
//! An entry is recorded before the job's terminal event is emitted and is
//! only consulted after a waiter saw that event, so it is never older than
//! the event; retrying or deleting the job, or deleting an asset, forgets it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::asset::Asset;
use crate::id::{AssetId, JobId};
use crate::job::Job;

/// Jobs remembered; hosts waiting on more jobs than this at once read the
/// store for the others.
const CAPACITY: usize = 256;

/// A job as it ended, and the assets it created.
struct Ended {
    job: Job,
    assets: Vec<Asset>,
}

#[derive(Default)]
pub(crate) struct RecentlyEnded {
    entries: Mutex<VecDeque<Arc<Ended>>>,
}

impl RecentlyEnded {
    pub(crate) fn record(&self, job: Job, assets: Vec<Asset>) {
        let mut entries = self.lock();
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Arc::new(Ended { job, assets }));
    }

    pub(crate) fn job(&self, job_id: JobId) -> Option<Job> {
        self.find(|ended| ended.job.id == job_id)
            .map(|ended| ended.job.clone())
    }

    pub(crate) fn asset(&self, asset_id: AssetId) -> Option<Asset> {
        let ended = self.find(|ended| ended.assets.iter().any(|a| a.id == asset_id))?;
        ended.assets.iter().find(|a| a.id == asset_id).cloned()
    }

    pub(crate) fn forget_job(&self, job_id: JobId) {
        self.lock().retain(|ended| ended.job.id != job_id);
    }

    pub(crate) fn forget_asset(&self, asset_id: AssetId) {
        self.lock()
            .retain(|ended| ended.assets.iter().all(|a| a.id != asset_id));
    }

    fn find(&self, matches: impl Fn(&Ended) -> bool) -> Option<Arc<Ended>> {
        self.lock().iter().rev().find(|e| matches(e)).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Ended>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
