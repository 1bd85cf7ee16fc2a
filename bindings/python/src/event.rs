//! `NativeEvents`: the engine's event stream, read blocking (GIL released,
//! Ctrl-C honoured) or as a future; each event is its wire JSON.
//!
//! No event is lost to a reader that gave up: a future canceled by the
//! awaiting side (`asyncio.wait_for` timing out) stops waiting, and an event
//! taken from the stream for a reader that is gone is given back, to be read
//! first by the next reader.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use gaia::EventStream;
use pyo3::prelude::*;
use pyo3::types::PyCFunction;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::runtime::{block_on, runtime, wait_limit};

/// A subscription to every event from the moment it was made.
#[pyclass(module = "gaia._gaia", frozen)]
pub struct NativeEvents {
    subscription: Arc<Subscription>,
}

/// The stream and the events given back to it.
struct Subscription {
    /// The core stream; its lock makes one reader at a time.
    stream: Mutex<EventStream>,
    /// Events taken from the stream whose reader was gone, oldest first:
    /// read before the stream.
    pending: std::sync::Mutex<VecDeque<String>>,
    /// Wakes a reader waiting on the stream when an event is given back.
    returned: Notify,
}

impl Subscription {
    /// Gives back an event a reader could not take: it is read next.
    fn unread(&self, json: String) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_front(json);
        self.returned.notify_one();
    }

    fn take_pending(&self) -> Option<String> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// The next event's JSON (`None` when the stream has ended): an event
    /// given back first, then the stream. Cancel-safe: dropped while it
    /// waits, it has taken nothing.
    async fn next_json(&self) -> gaia::Result<Option<String>> {
        let mut stream = self.stream.lock().await;
        self.read(&mut stream).await
    }

    /// `next_json` for the holder of the stream's lock.
    async fn read(&self, stream: &mut EventStream) -> gaia::Result<Option<String>> {
        loop {
            if let Some(json) = self.take_pending() {
                return Ok(Some(json));
            }
            tokio::select! {
                biased;
                () = self.returned.notified() => {}
                event = stream.next() => {
                    return event
                        .map(|e| serde_json::to_string(&e))
                        .transpose()
                        .map_err(|e| gaia::Error::Internal(format!("cannot serialize an event: {e}")));
                }
            }
        }
    }
}

impl NativeEvents {
    /// Wraps a core event stream.
    pub fn new(stream: EventStream) -> Self {
        Self {
            subscription: Arc::new(Subscription {
                stream: Mutex::new(stream),
                pending: std::sync::Mutex::new(VecDeque::new()),
                returned: Notify::new(),
            }),
        }
    }
}

/// Completes the future of `next_future` with `next`; an event the future
/// refuses (the awaiting side canceled it) goes back to the subscription.
fn deliver(
    py: Python<'_>,
    target: &PyObject,
    next: gaia::Result<Option<String>>,
    subscription: &Subscription,
) {
    let target = target.bind(py);
    match next {
        Ok(Some(json)) => {
            if target.call_method1("set_result", (json.as_str(),)).is_err() {
                subscription.unread(json);
            }
        }
        // A canceled future refuses these too: nothing was taken.
        Ok(None) => {
            let _ = target.call_method1("set_result", (py.None(),));
        }
        Err(error) => {
            let error = crate::error::to_py_err(&error).into_value(py);
            let _ = target.call_method1("set_exception", (error,));
        }
    }
}

#[pymethods]
impl NativeEvents {
    /// The next event's JSON, waiting at most `timeout_s` seconds
    /// (`TimeoutError` then; infinite or huge: no limit; NaN or negative:
    /// `invalid_request` naming `timeout`); `None` when the stream has ended.
    #[pyo3(signature = (timeout_s=None))]
    fn next(&self, py: Python<'_>, timeout_s: Option<f64>) -> PyResult<Option<String>> {
        let limit = wait_limit(timeout_s)?;
        let subscription = self.subscription.clone();
        block_on(py, async move { subscription.next_json().await }, limit)
    }

    /// The next event as a `concurrent.futures.Future` of its JSON (`None`
    /// when the stream has ended). Canceling the future stops the wait and
    /// takes no event.
    fn next_future(&self, py: Python<'_>) -> PyResult<PyObject> {
        let handle = py
            .import("concurrent.futures")?
            .getattr("Future")?
            .call0()?;
        let canceled = CancellationToken::new();
        let on_done = {
            let canceled = canceled.clone();
            PyCFunction::new_closure(py, None, None, move |_args, _kwargs| canceled.cancel())?
        };
        handle.call_method1("add_done_callback", (on_done,))?;
        let target = handle.clone().unbind();
        let subscription = self.subscription.clone();
        runtime()?.spawn(async move {
            let read = async {
                let mut stream = subscription.stream.lock().await;
                let next = subscription.read(&mut stream).await;
                (stream, next)
            };
            let (stream, next) = tokio::select! {
                biased;
                () = canceled.cancelled() => return,
                read = read => read,
            };
            // Delivered with the stream still locked: an event the future
            // refuses is given back before any other reader can take a later one.
            Python::with_gil(|py| deliver(py, &target, next, &subscription));
            drop(stream);
        });
        Ok(handle.unbind())
    }

    /// Gives back an event's JSON that the Python side received but could
    /// not hand to its reader (its await was canceled as the event arrived):
    /// the next read returns it first.
    fn unread(&self, event_json: String) {
        self.subscription.unread(event_json);
    }
}
