//! Cross-process wake-ups: changes that make a job claimable send
//! `NOTIFY gaia_jobs` inside their transaction (Postgres delivers it at
//! commit, once per transaction); each engine listens on one connection and
//! wakes its idle workers at once instead of at their next poll.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use gaia_core::{Error, Result};
use sqlx::PgConnection;
use sqlx::postgres::PgListener;

use super::PostgresStore;

/// The notification channel (also named by the slot trigger of migration 0001).
pub(super) const CHANNEL: &str = "gaia_jobs";

/// The SQL call that notifies the queue's listeners, for statements that
/// notify as they change rows (`… SELECT pg_notify(…) FROM changed`).
macro_rules! notify_queue_call {
    () => {
        "pg_notify('gaia_jobs', '')"
    };
}

pub(super) use notify_queue_call;

/// The first wait after the listener's connection failed; it doubles up to
/// [`MAX_BACKOFF`] while the database stays unreachable.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Notifies the queue's listeners when the transaction on `conn` commits.
pub(super) async fn notify_queue(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(concat!("SELECT ", notify_queue_call!()))
        .execute(conn)
        .await
        .map_err(|e| Error::storage("cannot notify the queue's listeners", e))?;
    Ok(())
}

/// A listening connection and how long to wait before using it again after
/// a failure.
struct Listening {
    listener: PgListener,
    backoff: Duration,
    location: std::sync::Arc<str>,
}

impl PostgresStore {
    /// One item per notification on [`CHANNEL`], on a connection of this
    /// store's pool held for the stream's lifetime. A lost connection is
    /// re-established (with backoff while the server is unreachable) and
    /// yields an item too, since notifications sent meanwhile are lost. The
    /// stream ends when the store is closed.
    pub(super) async fn listen_for_wakeups(&self) -> Result<BoxStream<'static, ()>> {
        let action = "listen for queue wake-ups";
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(self.failed(action))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(self.failed(action))?;
        let listening = Listening {
            listener,
            backoff: MIN_BACKOFF,
            location: self.location.clone(),
        };
        Ok(futures::stream::unfold(listening, next_wakeup).boxed())
    }
}

/// Waits for the next notification, or the next reconnection.
async fn next_wakeup(mut state: Listening) -> Option<((), Listening)> {
    match state.listener.try_recv().await {
        Ok(Some(_)) => {
            state.backoff = MIN_BACKOFF;
            Some(((), state))
        }
        Ok(None) => {
            tracing::warn!(database = %state.location, "queue listener reconnected");
            Some(((), state))
        }
        Err(sqlx::Error::PoolClosed) => None,
        Err(e) => {
            tracing::warn!(
                database = %state.location,
                error = %e,
                retry_in_ms = state.backoff.as_millis(),
                "queue listener lost its connection"
            );
            tokio::time::sleep(state.backoff).await;
            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            Some(((), state))
        }
    }
}
