//! Events to JavaScript: a core `EventSink` that hands each event (wire JSON)
//! to a thread-safe function. The call is queued, never waited on, so a slow
//! listener never blocks the engine; the function is weak (unref'd), so a
//! listener alone does not keep the process alive.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

/// A JavaScript `(eventJson: string) => void`, unref'd, called without
/// waiting. An empty string is not an event: it is the marker [`JsSink`]'s
/// flush sends behind the queued events, which the listener ignores.
pub type EventCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

/// The longest a flush waits for Node's thread to take the queued events (a
/// thread busy elsewhere for longer does not hold `close` forever).
const FLUSH_BOUND: Duration = Duration::from_secs(10);

/// Forwards events to one JavaScript function, in `seq` order.
pub(crate) struct JsSink {
    listener: EventCallback,
}

impl JsSink {
    /// A sink calling `listener`.
    pub(crate) fn new(listener: EventCallback) -> Self {
        Self { listener }
    }
}

impl gaia::EventSink for JsSink {
    fn publish(&self, event: &gaia::Event) {
        if let Ok(json) = serde_json::to_string(event) {
            // A closing environment refuses the call; there is no one left to tell.
            let _ = self
                .listener
                .call(json, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Sends the empty marker through the thread-safe function's queue and
    /// waits until the JavaScript thread has called the listener with it:
    /// the queue is first in, first out, so every event published before was
    /// delivered by then. It ends at once when the environment is closing
    /// (the call is refused or dropped), and after [`FLUSH_BOUND`] at most.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let delivered = self.listener.call_async_catch(String::new());
            let _ = tokio::time::timeout(FLUSH_BOUND, delivered).await;
        })
    }
}
