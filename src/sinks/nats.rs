//! [`NatsSink`]: every event, as its wire JSON, on a NATS subject.
//!
//! The engine calls [`EventSink::publish`] on its own tasks, so the sink
//! never waits there: it puts the event in a bounded queue that one task
//! drains into the NATS client. A server that is down or slow costs the
//! engine nothing: the client reconnects in the background, the queue fills,
//! and past its capacity events are dropped and counted. The next event that
//! gets through is preceded by one `events_lost` (`seq` 0, the number
//! dropped) on `PREFIX.events.lost`, as the in-process stream does for a
//! subscriber that falls behind. Events are not the source of truth: the
//! store is, so a consumer that sees a gap reads the jobs it cares about.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use bytes::Bytes;
use gaia_core::{Error, Event, EventKind, EventSink, NatsConfig, Result, Timestamp};
use tokio::sync::{mpsc, oneshot};

/// Events waiting for the server; past this many, events are dropped.
const QUEUE_CAPACITY: usize = 4_096;

/// At most one warning about an unreachable server (or dropped events) per
/// this period; the warning says how many it stood for.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The longest [`EventSink::flush`] waits for a connected server to take the
/// queue (an unreachable one is not waited for at all).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The NATS subject of an event: `PREFIX.asset.generation.STEP` for job
/// events (`job_queued` → `queued`, …), otherwise the type with dots
/// (`PREFIX.asset.created`, `PREFIX.cost.recorded`,
/// `PREFIX.budget.exceeded`, `PREFIX.events.lost`).
pub fn subject(prefix: &str, kind: &EventKind) -> String {
    let type_name = kind.type_name();
    match type_name.strip_prefix("job_") {
        Some(step) => format!("{prefix}.asset.generation.{step}"),
        None => format!("{prefix}.{}", type_name.replace('_', ".")),
    }
}

/// What the publishing task receives.
enum Message {
    Event(Event),
    /// Answer once everything queued before this is handed to the server.
    Flush(oneshot::Sender<()>),
}

/// Publishes every event to NATS, never blocking the engine (see the module
/// documentation for what happens when the server is unreachable).
pub struct NatsSink {
    queue: mpsc::Sender<Message>,
    client: async_nats::Client,
    drops: Arc<DropCounter>,
}

impl NatsSink {
    /// Starts a sink for `config` in the current tokio runtime. It returns at
    /// once: the connection is made (and remade) in the background, so an
    /// unreachable server is not an error here. A malformed URL is
    /// `invalid_request` naming `events.nats.url`.
    pub async fn connect(config: &NatsConfig) -> Result<Self> {
        let server = config.redacted_url();
        let warning = Arc::new(RateLimitedWarning::default());
        let client = async_nats::ConnectOptions::new()
            .name("gaia")
            .retry_on_initial_connect()
            .event_callback(connection_logger(server.clone(), warning.clone()))
            .connect(config.url.as_str())
            .await
            .map_err(|e| {
                Error::invalid(
                    "events.nats.url",
                    format!("cannot use {server:?} as a NATS server: {:?}", e.kind()),
                )
            })?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let drops = Arc::new(DropCounter::default());
        let publisher = Publisher {
            client: client.clone(),
            prefix: config.subject_prefix.clone(),
            server,
            drops: drops.clone(),
            warning,
        };
        tokio::spawn(publisher.run(receiver));
        Ok(Self {
            queue,
            client,
            drops,
        })
    }

    /// Whether the client is connected to the server right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Events dropped since the sink started because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.drops.total.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("connected", &self.is_connected())
            .field("dropped_events", &self.dropped_events())
            .finish_non_exhaustive()
    }
}

impl EventSink for NatsSink {
    fn publish(&self, event: &Event) {
        if self.queue.try_send(Message::Event(event.clone())).is_err() {
            self.drops.count_one();
        }
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if !self.is_connected() {
                return;
            }
            let (done, delivered) = oneshot::channel();
            let handed_over = async {
                if self.queue.send(Message::Flush(done)).await.is_ok() {
                    let _ = delivered.await;
                }
            };
            if tokio::time::timeout(FLUSH_TIMEOUT, handed_over)
                .await
                .is_err()
            {
                tracing::warn!("the NATS event sink did not deliver its queue in time");
            }
        })
    }
}

/// Events dropped because the queue was full: in total, and since the last
/// `events_lost` was published.
#[derive(Default)]
struct DropCounter {
    total: AtomicU64,
    unreported: AtomicU64,
}

impl DropCounter {
    fn count_one(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.unreported.fetch_add(1, Ordering::Relaxed);
    }

    fn take_unreported(&self) -> u64 {
        self.unreported.swap(0, Ordering::Relaxed)
    }
}

/// The task that drains the queue into the client.
struct Publisher {
    client: async_nats::Client,
    prefix: String,
    /// The server URL without credentials, for warnings.
    server: String,
    drops: Arc<DropCounter>,
    warning: Arc<RateLimitedWarning>,
}

impl Publisher {
    async fn run(self, mut queue: mpsc::Receiver<Message>) {
        while let Some(message) = queue.recv().await {
            match message {
                Message::Event(event) => {
                    self.report_drops().await;
                    self.send(&event).await;
                }
                Message::Flush(done) => {
                    if let Err(e) = self.client.flush().await {
                        tracing::warn!(error = %e, "cannot flush the NATS event sink");
                    }
                    let _ = done.send(());
                }
            }
        }
    }

    /// Publishes one `events_lost` for the events dropped since the last one.
    async fn report_drops(&self) {
        let count = self.drops.take_unreported();
        if count == 0 {
            return;
        }
        self.warning.warn(|| {
            format!(
                "the NATS event sink dropped {count} events: {} is slow or unreachable",
                self.server
            )
        });
        let lost = Event {
            seq: 0,
            at: Timestamp::now(),
            job_id: None,
            kind: EventKind::EventsLost { count },
        };
        self.send(&lost).await;
    }

    async fn send(&self, event: &Event) {
        if self.client.connection_state() != State::Connected {
            self.warning.warn(|| {
                format!(
                    "the NATS event sink cannot reach {}; events wait in a bounded queue",
                    self.server
                )
            });
        }
        let payload = match serde_json::to_vec(event) {
            Ok(payload) => Bytes::from(payload),
            Err(e) => {
                tracing::error!(error = %e, seq = event.seq, "cannot encode an event");
                return;
            }
        };
        let subject = subject(&self.prefix, &event.kind);
        if let Err(e) = self.client.publish(subject, payload).await {
            self.warning
                .warn(|| format!("the NATS event sink cannot publish to {}: {e}", self.server));
        }
    }
}

/// Logs the client's connection changes: reconnections at `info`, trouble
/// as a rate-limited warning.
fn connection_logger(
    server: String,
    warning: Arc<RateLimitedWarning>,
) -> impl Fn(async_nats::Event) -> std::future::Ready<()> + Send + Sync + 'static {
    move |event| {
        match event {
            async_nats::Event::Connected => {
                tracing::info!(server = %server, "the NATS event sink is connected");
            }
            other => warning.warn(|| format!("the NATS event sink ({server}): {other}")),
        }
        std::future::ready(())
    }
}

/// A warning logged at most once per [`WARN_EVERY`], counting the ones it
/// held back.
#[derive(Default)]
struct RateLimitedWarning {
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl RateLimitedWarning {
    fn warn(&self, message: impl FnOnce() -> String) {
        let now = Instant::now();
        let mut last = match self.last.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        let held_back = self.held_back.swap(0, Ordering::Relaxed);
        tracing::warn!(held_back, "{}", message());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> gaia_core::ClientId {
        gaia_core::ClientId::new("c").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn subjects_follow_the_design() {
        let cases = [
            (
                EventKind::JobQueued {
                    client_id: client(),
                },
                "gaia.asset.generation.queued",
            ),
            (EventKind::JobCanceled {}, "gaia.asset.generation.canceled"),
            (
                EventKind::AssetCreated {
                    asset_id: gaia_core::AssetId::new(),
                    client_id: client(),
                },
                "gaia.asset.created",
            ),
            (
                EventKind::CostRecorded {
                    client_id: client(),
                    provider: "p".into(),
                    model: "m".into(),
                    cost_micros: gaia_core::Money::ZERO,
                },
                "gaia.cost.recorded",
            ),
            (
                EventKind::BudgetExceeded {
                    client_id: client(),
                    message: "no".into(),
                },
                "gaia.budget.exceeded",
            ),
            (EventKind::EventsLost { count: 3 }, "gaia.events.lost"),
        ];
        for (kind, expected) in cases {
            assert_eq!(subject("gaia", &kind), expected);
        }
        assert_eq!(
            subject("studio.prod", &EventKind::JobCanceled {}),
            "studio.prod.asset.generation.canceled"
        );
    }

    #[test]
    fn warnings_are_rate_limited() {
        let warning = RateLimitedWarning::default();
        for _ in 0..5 {
            warning.warn(|| "unreachable".to_owned());
        }
        // The first was logged; the next four fell within the period.
        assert_eq!(warning.held_back.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn drops_are_reported_once() {
        let drops = DropCounter::default();
        drops.count_one();
        drops.count_one();
        assert_eq!(drops.take_unreported(), 2);
        assert_eq!(drops.take_unreported(), 0);
        assert_eq!(drops.total.load(Ordering::Relaxed), 2);
    }
}
