//! Usage records (reads and exports of asset bytes), written in batches by a
//! background task so that a read never waits for a database write.
//! Reuses are recorded by the store inside the job's completing transaction.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::id::{AssetId, ClientId};
use crate::store::{Store, UsageKind, UsageRecord};
use crate::timestamp::Timestamp;

/// A batch is written when it holds this many records…
const BATCH: usize = 100;
/// …or when its oldest record is this old.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Records waiting for the writer; past this, new ones are dropped (and logged).
const QUEUE: usize = 10_000;

enum Command {
    Record(UsageRecord),
    Flush(oneshot::Sender<()>),
}

/// The sending side; the writer task ends when it is dropped, after a last flush.
pub(crate) struct UsageRecorder {
    sender: mpsc::Sender<Command>,
}

impl UsageRecorder {
    /// Starts the writer task (needs a tokio runtime).
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Queues one use; never waits.
    pub(crate) fn record(&self, asset_id: AssetId, client_id: ClientId, kind: UsageKind) {
        let record = UsageRecord {
            asset_id,
            client_id,
            kind,
            at: Timestamp::now(),
        };
        if let Err(e) = self.sender.try_send(Command::Record(record)) {
            tracing::warn!(error = %e, "usage queue full or closed; a use was not recorded");
        }
    }

    /// Writes everything queued so far and waits until it is stored.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Command>) {
    let mut batch: Vec<UsageRecord> = Vec::new();
    let mut ticker = tokio::time::interval(FLUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = receiver.recv() => match command {
                Some(Command::Record(record)) => {
                    batch.push(record);
                    if batch.len() >= BATCH {
                        write(&*store, &mut batch).await;
                    }
                }
                Some(Command::Flush(done)) => {
                    write(&*store, &mut batch).await;
                    let _ = done.send(());
                }
                None => {
                    write(&*store, &mut batch).await;
                    return;
                }
            },
            _ = ticker.tick() => write(&*store, &mut batch).await,
        }
    }
}

async fn write(store: &dyn Store, batch: &mut Vec<UsageRecord>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.record_usage(batch).await {
        tracing::warn!(error = %e, records = batch.len(), "cannot record asset usage");
    }
    batch.clear();
}
