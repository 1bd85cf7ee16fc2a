//! `NativeEvents`: the engine's event stream, read blocking (GIL released,
//! Ctrl-C honoured) or as a future; each event is its wire JSON.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gaia::EventStream;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::runtime::{block_on, spawn_future};

/// A subscription to every event from the moment it was made.
#[pyclass(module = "gaia._gaia", frozen)]
pub struct NativeEvents {
    stream: Arc<Mutex<EventStream>>,
}

impl NativeEvents {
    /// Wraps a core event stream.
    pub fn new(stream: EventStream) -> Self {
        Self {
            stream: Arc::new(Mutex::new(stream)),
        }
    }
}

/// The next event's JSON (`None` when the stream has ended).
async fn next_json(stream: Arc<Mutex<EventStream>>) -> gaia::Result<Option<String>> {
    let event = stream.lock().await.next().await;
    event
        .map(|e| serde_json::to_string(&e))
        .transpose()
        .map_err(|e| gaia::Error::Internal(format!("cannot serialize an event: {e}")))
}

#[pymethods]
impl NativeEvents {
    /// The next event's JSON, waiting at most `timeout_s` seconds
    /// (`TimeoutError` then); `None` when the stream has ended.
    #[pyo3(signature = (timeout_s=None))]
    fn next(&self, py: Python<'_>, timeout_s: Option<f64>) -> PyResult<Option<String>> {
        let limit = timeout_s.map(|s| Duration::from_secs_f64(s.max(0.0)));
        block_on(py, next_json(self.stream.clone()), limit)
    }

    /// The next event as a future of its JSON (`None` when the stream has ended).
    fn next_future(&self, py: Python<'_>) -> PyResult<PyObject> {
        let stream = self.stream.clone();
        spawn_future(py, next_json(stream), |py, json: Option<String>| {
            Ok(json.into_pyobject(py)?.into_any().unbind())
        })
    }
}
