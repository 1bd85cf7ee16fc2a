//! Events to JavaScript: a core `EventSink` that hands each event (wire JSON)
//! to a thread-safe function. The call is queued, never waited on, so a slow
//! listener never blocks the engine; the function is weak (unref'd), so a
//! listener alone does not keep the process alive.

use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

/// A JavaScript `(eventJson: string) => void`, unref'd, called without waiting.
pub type EventCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

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
}
