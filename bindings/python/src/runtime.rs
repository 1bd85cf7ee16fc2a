//! The one process-wide tokio runtime, safe across `fork`, and the two ways
//! Python waits on it: blocking (GIL released, Ctrl-C honoured) and asyncio
//! (a `concurrent.futures.Future` completed from the runtime).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::{internal, invalid, to_py_err};

/// How long a blocking call waits before it checks for Ctrl-C.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// The runtime and the process that created it.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime, created on first use and created anew in a forked child
/// (a child inherits the parent's runtime without its threads).
pub fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, runtime)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(runtime.clone());
    }
    if let Some((_, inherited)) = slot.take() {
        // Its worker threads do not exist in this process: never drop it here.
        std::mem::forget(inherited);
    }
    let runtime = Arc::new(build_runtime()?);
    *slot = Some((pid, runtime.clone()));
    Ok(runtime)
}

fn build_runtime() -> PyResult<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gaia-runtime")
        .build()
        .map_err(|e| internal(format!("cannot start the tokio runtime: {e}")))
}

/// A wait's limit from its `timeout` in seconds: `None`, infinite or too
/// large for a `Duration` is no limit; NaN or negative is an
/// `invalid_request` naming `timeout`.
pub fn wait_limit(timeout_s: Option<f64>) -> PyResult<Option<Duration>> {
    let Some(seconds) = timeout_s else {
        return Ok(None);
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(
            "timeout",
            format!("{seconds} is not a number of seconds from 0"),
        ));
    }
    // Only a value too large (or infinite) is left to fail here (`abs`
    // turns -0.0 into 0).
    Ok(Duration::try_from_secs_f64(seconds.abs()).ok())
}

/// Runs `future` to completion with the GIL released, in short slices
/// between which pending signals are handled: Ctrl-C raises
/// `KeyboardInterrupt` here, drops the wait and leaves the engine's jobs
/// running. `timeout` bounds the whole wait (`TimeoutError`).
pub fn block_on<F, T>(py: Python<'_>, future: F, timeout: Option<Duration>) -> PyResult<T>
where
    F: Future<Output = gaia::Result<T>> + Send,
    T: Send,
{
    let runtime = runtime()?;
    let started = std::time::Instant::now();
    let mut future = Box::pin(future);
    loop {
        let slice = match timeout {
            Some(limit) => SIGNAL_SLICE.min(limit.saturating_sub(started.elapsed())),
            None => SIGNAL_SLICE,
        };
        let polled = py.allow_threads(|| {
            runtime.block_on(async { tokio::time::timeout(slice, &mut future).await.ok() })
        });
        if let Some(result) = polled {
            return result.map_err(|e| to_py_err(&e));
        }
        py.check_signals()?;
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            return Err(pyo3::exceptions::PyTimeoutError::new_err(
                "the wait timed out (the job goes on)",
            ));
        }
    }
}

/// Starts `future` on the runtime and returns a `concurrent.futures.Future`
/// that it completes (Python wraps it with `asyncio.wrap_future`). `convert`
/// turns the output into a Python object under the GIL.
pub fn spawn_future<F, T, C>(py: Python<'_>, future: F, convert: C) -> PyResult<PyObject>
where
    F: Future<Output = gaia::Result<T>> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<PyObject> + Send + 'static,
{
    let futures = py.import("concurrent.futures")?;
    let handle: PyObject = futures.getattr("Future")?.call0()?.unbind();
    let target = handle.clone_ref(py);
    runtime()?.spawn(async move {
        let output = future.await;
        Python::with_gil(|py| complete(py, &target, output, convert));
    });
    Ok(handle)
}

/// Sets the result or exception of a `concurrent.futures.Future` (ignored
/// when the awaiting side canceled it).
fn complete<T, C>(py: Python<'_>, target: &PyObject, output: gaia::Result<T>, convert: C)
where
    C: FnOnce(Python<'_>, T) -> PyResult<PyObject>,
{
    let outcome = output
        .map_err(|e| to_py_err(&e))
        .and_then(|v| convert(py, v));
    let target = target.bind(py);
    // A future the awaiting side already canceled refuses a result: nothing to do.
    let _ = match outcome {
        Ok(value) => target.call_method1("set_result", (value,)),
        Err(err) => target.call_method1("set_exception", (err.into_value(py),)),
    };
}
