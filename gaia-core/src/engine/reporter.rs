//! Carries a running job's progress, log lines and checkpoint from the
//! provider to the store and the event bus.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Shared;
use super::task_charge::TaskCharge;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::id::JobId;
use crate::job::{LogLevel, LogLine};
use crate::progress::Progress;
use crate::provider::ContextReporter;
use crate::store::ClaimedJob;
use crate::timestamp::Timestamp;

/// Progress reaches the database no sooner than this into an attempt, then
/// at most this often (the latest one as soon as it is due, even when the
/// provider falls silent); every change is still an event at once. An
/// attempt that ends sooner writes none: its end records the final progress.
const PROGRESS_PERSIST_INTERVAL: Duration = Duration::from_secs(1);

enum Report {
    Progress(Progress),
    Log(LogLine),
    /// Answered once every log line queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// The provider-facing side: reports are evented at once and queued for one
/// writer task per job, which keeps log order and throttles progress writes.
///
/// The writer task starts with the first report there is to write: a job
/// that logs nothing and ends within [`PROGRESS_PERSIST_INTERVAL`] (a fast
/// local generation, a quick remote call) spawns no task and waits for none.
pub(crate) struct JobReporter {
    shared: Arc<Shared>,
    job_id: JobId,
    /// Whom the job is leased to.
    worker: String,
    /// The attempt's remote task and what it was charged before.
    pub(crate) task: TaskCharge,
    /// When the attempt started: the clock of progress persistence.
    started: Instant,
    /// The latest progress reported before the writer task started; handed
    /// to it when it starts.
    held: Mutex<Option<Progress>>,
    reports: OnceLock<mpsc::UnboundedSender<Report>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl JobReporter {
    pub(crate) fn start(shared: Arc<Shared>, claimed: &ClaimedJob) -> (Arc<Self>, ReportWriter) {
        let writer = Arc::new(Mutex::new(None));
        (
            Arc::new(Self {
                shared,
                job_id: claimed.job.id,
                worker: claimed.worker.clone(),
                task: TaskCharge::new(claimed),
                started: Instant::now(),
                held: Mutex::new(None),
                reports: OnceLock::new(),
                writer: writer.clone(),
            }),
            ReportWriter { handle: writer },
        )
    }

    /// Queues a report for the writer task, starting the task with the first.
    fn send(&self, report: Report) {
        let _ = self.queue().send(report);
    }

    /// The writer task's queue, starting the task (with the progress held
    /// so far) the first time.
    fn queue(&self) -> &mpsc::UnboundedSender<Report> {
        self.reports.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            if let Some(held) = lock(&self.held).take() {
                let _ = tx.send(Report::Progress(held));
            }
            let task = tokio::spawn(write_reports(
                self.shared.clone(),
                self.job_id,
                self.started,
                rx,
            ));
            *lock(&self.writer) = Some(task);
            tx
        })
    }

    /// Waits until every log line reported so far is stored, so that a
    /// host told the job ended finds its whole log. Progress keeps its own
    /// pace (the job's end records the last).
    pub(crate) async fn flush(&self) {
        let Some(reports) = self.reports.get() else {
            // Nothing was ever queued.
            return;
        };
        let (done, flushed) = oneshot::channel();
        if reports.send(Report::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// Runs a provider's `call`. When it outlives the first interval with a
    /// progress held (reported early, then a long silent wait on a remote
    /// service), that progress goes to the store then, not at the next
    /// report, which may come only at the end.
    pub(crate) async fn persisting_held<T>(&self, call: impl Future<Output = T>) -> T {
        tokio::pin!(call);
        // Not registered with the timer unless the call has to wait.
        let due = tokio::time::sleep_until((self.started + PROGRESS_PERSIST_INTERVAL).into());
        tokio::select! {
            biased;
            output = &mut call => return output,
            () = due => {}
        }
        let holds = lock(&self.held).is_some();
        if holds {
            // Starting the writer hands it the held progress, now due.
            self.queue();
        }
        call.await
    }

    /// A log line from the engine itself (retries, routing decisions).
    pub(crate) fn engine_log(&self, level: LogLevel, message: String) {
        self.log(level, message);
    }
}

#[async_trait]
impl ContextReporter for JobReporter {
    fn progress(&self, progress: Progress) {
        self.shared
            .events
            .emit(Some(self.job_id), EventKind::JobProgress { progress });
        if self.reports.get().is_none() && self.started.elapsed() < PROGRESS_PERSIST_INTERVAL {
            // Nothing is due for the store yet: hold it, start no task.
            *lock(&self.held) = Some(progress);
            return;
        }
        self.send(Report::Progress(progress));
    }

    fn log(&self, level: LogLevel, message: String) {
        self.shared.events.emit(
            Some(self.job_id),
            EventKind::JobLog {
                level,
                message: message.clone(),
            },
        );
        self.send(Report::Log(LogLine {
            at: Timestamp::now(),
            level,
            message,
        }));
    }

    async fn checkpoint(&self, value: String) -> Result<()> {
        self.shared
            .store
            .save_checkpoint(self.job_id, &self.worker, &value)
            .await?
            .ok_or(Error::Canceled)?;
        self.task.saved();
        Ok(())
    }

    fn job_canceled(&self) -> bool {
        self.shared.claims.is_canceled(&self.worker)
    }
}

/// The writer task of one job, once its first report started it;
/// [`ReportWriter::finish`] waits until every report is stored.
pub(crate) struct ReportWriter {
    handle: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl ReportWriter {
    /// Waits for the queued reports to be written. The reporter (and every
    /// clone held by the provider context) must be dropped first.
    pub(crate) async fn finish(self) {
        let task = lock(&self.handle).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn write_reports(
    shared: Arc<Shared>,
    job_id: JobId,
    started: Instant,
    mut rx: mpsc::UnboundedReceiver<Report>,
) {
    let mut last_persisted = started;
    let mut pending_progress: Option<Progress> = None;
    let mut logs = Vec::new();
    let mut flushes = Vec::new();
    loop {
        // A progress not yet due is written when it falls due, unless a
        // newer report comes first (`None`: it fell due, nothing new).
        let mut next = match pending_progress {
            Some(_) => {
                let due = last_persisted + PROGRESS_PERSIST_INTERVAL;
                match tokio::time::timeout_at(due.into(), rx.recv()).await {
                    // Every sender is gone: the attempt is over.
                    Ok(None) => break,
                    Ok(report) => report,
                    Err(_) => None,
                }
            }
            None => match rx.recv().await {
                None => break,
                report => report,
            },
        };
        // Drain what is already queued so a burst costs one write.
        while let Some(report) = next {
            match report {
                Report::Progress(p) => pending_progress = Some(p),
                Report::Log(line) => logs.push(line),
                Report::Flush(done) => flushes.push(done),
            }
            next = rx.try_recv().ok();
        }
        flush_logs(&shared, job_id, &mut logs).await;
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        let due = last_persisted.elapsed() >= PROGRESS_PERSIST_INTERVAL;
        if let (true, Some(progress)) = (due, pending_progress) {
            if let Err(e) = shared.store.set_progress(job_id, progress).await {
                tracing::warn!(%job_id, error = %e, "cannot persist progress");
            }
            pending_progress = None;
            last_persisted = Instant::now();
        }
    }
    // The final progress is written by the job's completion itself.
}

async fn flush_logs(shared: &Shared, job_id: JobId, logs: &mut Vec<LogLine>) {
    if logs.is_empty() {
        return;
    }
    if let Err(e) = shared.store.append_logs(job_id, logs).await {
        tracing::warn!(%job_id, error = %e, "cannot persist job log lines");
    }
    logs.clear();
}
