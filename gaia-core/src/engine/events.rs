//! The event bus: numbers events and hands them to every sink in order.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{Notify, broadcast};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::event::{Event, EventKind, EventSink};
use crate::id::JobId;
use crate::timestamp::Timestamp;

/// How many events a slow in-process subscriber may fall behind before it
/// gets `events_lost`.
const STREAM_CAPACITY: usize = 4_096;

/// Numbers events (`seq`) and publishes them to the in-process stream and to
/// every registered sink, all in one order.
pub(crate) struct EventBus {
    state: Mutex<BusState>,
    /// Hosts waiting for a job to end, woken by its terminal event alone
    /// (a waiter on the stream would wake at every event of every job).
    waiting: Mutex<HashMap<JobId, Arc<JobEnd>>>,
}

struct BusState {
    seq: u64,
    sinks: Vec<Arc<dyn EventSink>>,
    /// The in-process streams' channel; `None` once the engine closed, which
    /// ends every stream after the events it still holds.
    stream: Option<broadcast::Sender<Event>>,
}

impl EventBus {
    pub(crate) fn new(sinks: Vec<Arc<dyn EventSink>>) -> Self {
        let (stream, _) = broadcast::channel(STREAM_CAPACITY);
        Self {
            state: Mutex::new(BusState {
                seq: 0,
                sinks,
                stream: Some(stream),
            }),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes one event. The lock makes `seq` order and delivery order the
    /// same for every sink; sinks must not block.
    pub(crate) fn emit(&self, job_id: Option<JobId>, kind: EventKind) {
        let ends_job = job_id.filter(|_| kind.is_terminal());
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.seq += 1;
        let event = Event {
            seq: state.seq,
            at: Timestamp::now(),
            job_id,
            kind,
        };
        for sink in &state.sinks {
            sink.publish(&event);
        }
        // No subscriber is not an error: events are not the source of truth.
        if let Some(stream) = &state.stream {
            let _ = stream.send(event);
        }
        drop(state);
        if let Some(job_id) = ends_job
            && let Some(end) = lock(&self.waiting).get(&job_id)
        {
            end.published.fetch_add(1, Ordering::AcqRel);
            end.notify.notify_waiters();
        }
    }

    /// Registers interest in the end of a job, until the watch is dropped.
    pub(crate) fn watch_end(&self, job_id: JobId) -> EndWatch<'_> {
        let end = lock(&self.waiting).entry(job_id).or_default().clone();
        let seen = AtomicU64::new(end.published.load(Ordering::Acquire));
        EndWatch {
            bus: self,
            job_id,
            end,
            seen,
        }
    }

    /// Adds a sink; it sees every event from now on.
    pub(crate) fn add_sink(&self, sink: Arc<dyn EventSink>) {
        match self.state.lock() {
            Ok(mut state) => state.sinks.push(sink),
            Err(poisoned) => poisoned.into_inner().sinks.push(sink),
        }
    }

    /// Removes a sink added with [`EventBus::add_sink`].
    pub(crate) fn remove_sink(&self, sink: &Arc<dyn EventSink>) {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.sinks.retain(|s| !Arc::ptr_eq(s, sink));
    }

    /// Waits until every sink has delivered what it queued.
    pub(crate) async fn flush_sinks(&self) {
        let sinks = match self.state.lock() {
            Ok(state) => state.sinks.clone(),
            Err(poisoned) => poisoned.into_inner().sinks.clone(),
        };
        futures::future::join_all(sinks.iter().map(|sink| sink.flush())).await;
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        let receiver = match &lock(&self.state).stream {
            Some(stream) => stream.subscribe(),
            // Closed: a stream that ends at once.
            None => broadcast::channel(1).1,
        };
        EventStream {
            inner: BroadcastStream::new(receiver),
        }
    }

    /// Ends every in-process stream once it has yielded the events it
    /// holds (the engine closed); sinks go on receiving.
    pub(crate) fn end_streams(&self) {
        lock(&self.state).stream = None;
    }
}

/// How many terminal events of a watched job have been published.
#[derive(Default)]
struct JobEnd {
    published: AtomicU64,
    notify: Notify,
}

/// Tells a waiter when its job's terminal event has been published.
pub(crate) struct EndWatch<'a> {
    bus: &'a EventBus,
    job_id: JobId,
    end: Arc<JobEnd>,
    /// The count of terminal events this waiter has seen.
    seen: AtomicU64,
}

impl EndWatch<'_> {
    /// Completes at the job's next terminal event (at once if one was
    /// published since the watch began or the last call).
    pub(crate) async fn ended(&self) {
        loop {
            let notified = self.end.notify.notified();
            let published = self.end.published.load(Ordering::Acquire);
            if published != self.seen.load(Ordering::Acquire) {
                self.seen.store(published, Ordering::Release);
                return;
            }
            notified.await;
        }
    }
}

impl Drop for EndWatch<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.bus.waiting);
        // The map's reference and this one: no other waiter is left.
        if Arc::strong_count(&self.end) == 2 {
            waiting.remove(&self.job_id);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The engine's events as a stream. A subscriber that falls more than a few
/// thousand events behind receives one `events_lost` (with `seq` 0) saying
/// how many it missed, then continues.
pub struct EventStream {
    inner: BroadcastStream<Event>,
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|result| match result {
                Ok(event) => event,
                Err(BroadcastStreamRecvError::Lagged(count)) => Event {
                    seq: 0,
                    at: Timestamp::now(),
                    job_id: None,
                    kind: EventKind::EventsLost { count },
                },
            })
        })
    }
}
