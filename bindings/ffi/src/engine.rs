//! The engine handle: open, close, free, generate, submit, wait, and the
//! engine-wide calls (providers, costs, budgets).

use std::ffi::{CString, c_char, c_void};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use gaia::{ClientId, Engine, EngineConfig, JobId, OpenEngine, Request};
use tokio_util::sync::CancellationToken;

use crate::runtime::{block_on, runtime};
use crate::{
    GaiaError, UserData, call, clear_out, null_argument, out_arg, parse_json, str_arg, to_json,
    write_string,
};

/// An open engine. Opaque; safe to use from several threads at once.
/// `gaia_engine_close` stops it, `gaia_engine_free` releases it.
pub struct GaiaEngine {
    /// `None` once closed.
    engine: RwLock<Option<Engine>>,
    /// Cancelled by close: pending completion callbacks then report it.
    closed: CancellationToken,
    /// Completion callbacks not yet returned, which free waits for.
    completions: Arc<Completions>,
}

/// How long `gaia_engine_free` waits for completion callbacks (host code,
/// which may block) before it releases the handle anyway.
const CALLBACK_WAIT: Duration = Duration::from_secs(10);

/// The completion callbacks of one handle that have not returned yet.
#[derive(Default)]
struct Completions {
    state: Mutex<CompletionState>,
    changed: Condvar,
}

#[derive(Default)]
struct CompletionState {
    /// Spawned and not yet returned (or dropped unrun).
    pending: usize,
    /// The threads running one of them now.
    running: Vec<ThreadId>,
}

impl Completions {
    fn lock(&self) -> MutexGuard<'_, CompletionState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a completion in until the returned guard drops.
    fn track(self: &Arc<Self>) -> PendingCompletion {
        self.lock().pending += 1;
        PendingCompletion {
            completions: self.clone(),
            thread: None,
        }
    }

    /// Waits up to `timeout` until no completion is pending, except those
    /// running on the calling thread: a callback that frees its own engine
    /// would otherwise wait for itself.
    fn wait_idle(&self, timeout: Duration) {
        let me = std::thread::current().id();
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let own = state.running.iter().filter(|&&id| id == me).count();
            let left = deadline.saturating_duration_since(Instant::now());
            if state.pending <= own || left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// One pending completion; dropping it (after the callback returned, or
/// unrun) counts it out.
struct PendingCompletion {
    completions: Arc<Completions>,
    thread: Option<ThreadId>,
}

impl PendingCompletion {
    /// Runs the callback on this thread, marked as running here.
    fn run(mut self, callback: impl FnOnce()) {
        let me = std::thread::current().id();
        self.completions.lock().running.push(me);
        self.thread = Some(me);
        callback();
    }
}

impl Drop for PendingCompletion {
    fn drop(&mut self) {
        let mut state = self.completions.lock();
        state.pending -= 1;
        if let Some(thread) = self.thread
            && let Some(at) = state.running.iter().position(|&id| id == thread)
        {
            state.running.swap_remove(at);
        }
        self.completions.changed.notify_all();
    }
}

/// Called once when an asynchronous call ends: with `GAIA_OK` and the
/// result's JSON (`error` NULL), or with the error's status and the error
/// (`json` NULL). Both pointers are borrowed for the duration of the call
/// only: copy what you keep, free nothing. Runs on an engine thread.
pub type GaiaCompletionCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: i32,
        json: *const c_char,
        error: *const GaiaError,
    ),
>;

/// The error every call on a closed handle returns (the same as core's).
pub(crate) fn closed_error() -> gaia::Error {
    gaia::Error::invalid("engine", "the engine is closed")
}

impl GaiaEngine {
    /// A clone of the open engine, or the closed error.
    pub(crate) fn engine(&self) -> gaia::Result<Engine> {
        let guard = self
            .engine
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.clone().ok_or_else(closed_error)
    }

    /// Runs `future` on the runtime and calls `callback` with its JSON
    /// result, or with the closed error if the engine closes first.
    pub(crate) fn complete_later<F>(
        &self,
        future: F,
        callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const GaiaError),
        user_data: UserData,
    ) -> gaia::Result<()>
    where
        F: Future<Output = gaia::Result<String>> + Send + 'static,
    {
        let closed = self.closed.clone();
        let runtime = runtime()?;
        let pending = self.completions.track();
        runtime.spawn(async move {
            let result = tokio::select! {
                result = future => result,
                () = closed.cancelled() => Err(closed_error()),
            };
            // The host's callback may block or call back into the library:
            // it runs on a blocking thread, never on a runtime worker.
            let _ = tokio::task::spawn_blocking(move || {
                pending.run(|| {
                    let _ = catch_unwind(AssertUnwindSafe(|| deliver(callback, user_data, result)));
                });
            })
            .await;
        });
        Ok(())
    }
}

fn deliver(
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const GaiaError),
    user_data: UserData,
    result: gaia::Result<String>,
) {
    let result = result.and_then(|json| {
        CString::new(json).map_err(|_| gaia::Error::Internal("a result contains NUL".into()))
    });
    match result {
        Ok(json) => {
            // SAFETY: the host registered `callback` with this signature; the
            // string outlives the call.
            unsafe { callback(user_data.0, crate::GAIA_OK, json.as_ptr(), std::ptr::null()) }
        }
        Err(error) => {
            let error = GaiaError::from_error(&error);
            // SAFETY: as above; the error outlives the call.
            unsafe { callback(user_data.0, error.status, std::ptr::null(), &error) }
        }
    }
}

/// Borrows the handle behind a pointer.
///
/// # Safety
/// `engine` is NULL or a handle from `gaia_engine_open` not yet freed.
pub(crate) unsafe fn handle<'a>(engine: *const GaiaEngine) -> gaia::Result<&'a GaiaEngine> {
    // SAFETY: NULL or a live handle by the caller's contract.
    unsafe { engine.as_ref() }.ok_or_else(|| null_argument("engine"))
}

/// Opens an engine from `EngineConfig` JSON (`{"path":".gaia"}`; `"{}"` for
/// the defaults), creating the store on first use and starting the workers.
///
/// # Safety
/// `config_json` is a NUL-terminated string; `out_engine` points to a
/// writable `GaiaEngine *`; `out_error` is NULL or points to a writable
/// `GaiaError *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_engine_open(
    config_json: *const c_char,
    out_engine: *mut *mut GaiaEngine,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_engine, "out_engine")? };
        // SAFETY: as above.
        let config = EngineConfig::from_json(unsafe { str_arg(config_json, "config_json")? })?;
        let engine = block_on(Engine::open(config))??;
        let handle = Box::new(GaiaEngine {
            engine: RwLock::new(Some(engine)),
            closed: CancellationToken::new(),
            completions: Arc::default(),
        });
        // SAFETY: checked by `out_arg`; released by `gaia_engine_free`.
        unsafe { *out_engine = Box::into_raw(handle) };
        Ok(())
    })
}

/// Stops the engine gracefully (running jobs get the configured grace
/// period). Later calls on the handle fail with `invalid_request`
/// ("engine: the engine is closed") and pending completion callbacks are
/// called with that error. Closing twice is fine.
///
/// # Safety
/// `engine` is NULL or a live handle; `out_error` as in `gaia_engine_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_engine_close(
    engine: *mut GaiaEngine,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contract documented above.
        let handle = unsafe { handle(engine)? };
        let taken = handle
            .engine
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        handle.closed.cancel();
        match taken {
            Some(engine) => block_on(engine.close())?,
            None => Ok(()),
        }
    })
}

/// Releases the handle, closing the engine first if it is still open. NULL
/// is ignored. The handle must not be used afterwards.
///
/// It returns once every completion callback of the handle has returned
/// (pending ones are called with the "closed" error first), so none reaches
/// its `user_data` afterwards; it waits at most 10 seconds for callbacks that
/// block. Called from inside one of the handle's completion callbacks it
/// does not wait for that callback (no deadlock), only for the others.
///
/// # Safety
/// `engine` is NULL or a handle from `gaia_engine_open` not yet freed, and no
/// other thread is using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_engine_free(engine: *mut GaiaEngine) {
    if engine.is_null() {
        return;
    }
    // SAFETY: forwarded contract; errors of the implicit close are dropped.
    unsafe { gaia_engine_close(engine, std::ptr::null_mut()) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `Box::into_raw` in `gaia_engine_open`, freed once.
        let handle = unsafe { Box::from_raw(engine) };
        handle.completions.wait_idle(CALLBACK_WAIT);
    }));
}

/// Submits a `Request` (wire JSON), waits for the job and returns its first
/// asset's JSON. Blocks the calling thread.
///
/// # Safety
/// `engine` a live handle; `request_json` a NUL-terminated string;
/// `out_asset_json` points to a writable `char *` (free the result with
/// `gaia_string_free`); `out_error` as in `gaia_engine_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_generate(
    engine: *const GaiaEngine,
    request_json: *const c_char,
    out_asset_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_asset_json, "out_asset_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let request = Request::from_json(unsafe { str_arg(request_json, "request_json")? })?;
        let asset = block_on(engine.generate(request))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_asset_json, to_json(&asset)?) }
    })
}

/// Submits a `Request` and returns at once with the job id; then calls
/// `callback(user_data, …)` once, from an engine thread, with the first
/// asset's JSON or the job's error. `out_job_id` may be NULL (it receives
/// NULL on failure).
///
/// # Safety
/// As `gaia_generate`; `user_data` must stay valid until the callback ran.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_generate_async(
    engine: *const GaiaEngine,
    request_json: *const c_char,
    callback: GaiaCompletionCallback,
    user_data: *mut c_void,
    out_job_id: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { clear_out(out_job_id) };
        // SAFETY: as above.
        let handle = unsafe { handle(engine)? };
        let engine = handle.engine()?;
        let callback = callback.ok_or_else(|| null_argument("callback"))?;
        // SAFETY: as above.
        let request = Request::from_json(unsafe { str_arg(request_json, "request_json")? })?;
        let job = block_on(engine.submit(request))??;
        let job_id = job.id;
        if !out_job_id.is_null() {
            // SAFETY: non-NULL and writable by the caller's contract.
            unsafe { write_string(out_job_id, job_id.to_string())? };
        }
        // Once the completion is spawned nothing fails: the callback runs once.
        handle.complete_later(
            async move {
                let job = engine.wait(job_id).await?;
                to_json(&engine.first_asset(&job).await?)
            },
            callback,
            UserData(user_data),
        )
    })
}

/// Submits a `Request` (wire JSON) and returns its job id at once (free it
/// with `gaia_string_free`).
///
/// # Safety
/// As `gaia_generate`, with `out_job_id` for the result.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_submit(
    engine: *const GaiaEngine,
    request_json: *const c_char,
    out_job_id: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_job_id, "out_job_id")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let request = Request::from_json(unsafe { str_arg(request_json, "request_json")? })?;
        let job = block_on(engine.submit(request))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_job_id, job.id.to_string()) }
    })
}

/// Waits until a job has ended and returns its JSON. Blocks.
///
/// # Safety
/// As `gaia_generate`, with `job_id` and `out_job_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_wait(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_job_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_job_json, "out_job_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let job_id = JobId::parse(unsafe { str_arg(job_id, "job_id")? })?;
        let job = block_on(engine.wait(job_id))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_job_json, to_json(&job)?) }
    })
}

/// Returns at once; calls `callback(user_data, …)` once, from an engine
/// thread, with the job's JSON when it has ended (or an error).
///
/// # Safety
/// As `gaia_generate_async`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_wait_async(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    callback: GaiaCompletionCallback,
    user_data: *mut c_void,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        let handle = unsafe { handle(engine)? };
        let engine = handle.engine()?;
        let callback = callback.ok_or_else(|| null_argument("callback"))?;
        // SAFETY: as above.
        let job_id = JobId::parse(unsafe { str_arg(job_id, "job_id")? })?;
        handle.complete_later(
            async move { to_json(&engine.wait(job_id).await?) },
            callback,
            UserData(user_data),
        )
    })
}

/// The configured providers, their models and prices, as a JSON array.
///
/// # Safety
/// As `gaia_generate`, with `out_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_providers(
    engine: *const GaiaEngine,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&engine.providers())?) }
    })
}

/// Money spent: a `CostQuery` (JSON, or NULL for all) in, a `CostReport` out.
///
/// # Safety
/// As `gaia_generate`; `query_json` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_costs(
    engine: *const GaiaEngine,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let query = match unsafe { crate::opt_str_arg(query_json, "query_json")? } {
            Some(json) => parse_json(json, "query_json")?,
            None => gaia::CostQuery::default(),
        };
        let report = block_on(engine.costs(&query))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&report)?) }
    })
}

/// Creates or replaces a budget (`Budget` JSON).
///
/// # Safety
/// As `gaia_generate`, with `budget_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_set_budget(
    engine: *const GaiaEngine,
    budget_json: *const c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let budget: gaia::Budget = parse_json(
            unsafe { str_arg(budget_json, "budget_json")? },
            "budget_json",
        )?;
        block_on(engine.set_budget(&budget))?
    })
}

/// A client's budgets, as a JSON array.
///
/// # Safety
/// As `gaia_generate`, with `client_id` and `out_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_budgets(
    engine: *const GaiaEngine,
    client_id: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let client_id = ClientId::new(unsafe { str_arg(client_id, "client_id")? })?;
        let budgets = block_on(engine.budgets(&client_id))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&budgets)?) }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// Longer than any test runs: a wait that reaches it is a hang.
    const FOREVER: Duration = Duration::from_secs(3600);

    #[test]
    fn free_waits_for_callbacks_running_on_other_threads() {
        let completions = Arc::new(Completions::default());
        let pending = completions.track();
        let returned = Arc::new(AtomicBool::new(false));
        let (started, started_rx) = mpsc::channel();
        let flag = returned.clone();
        let callback = std::thread::spawn(move || {
            pending.run(|| {
                started.send(()).unwrap();
                // Slow host code: free must outwait it.
                std::thread::sleep(Duration::from_millis(100));
                flag.store(true, Ordering::SeqCst);
            });
        });
        started_rx.recv().unwrap();
        completions.wait_idle(FOREVER);
        assert!(
            returned.load(Ordering::SeqCst),
            "returned before the callback did"
        );
        callback.join().unwrap();
    }

    #[test]
    fn free_inside_a_callback_does_not_wait_for_that_callback() {
        let completions = Arc::new(Completions::default());
        let pending = completions.track();
        let waiting = completions.clone();
        let (done, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            pending.run(|| waiting.wait_idle(FOREVER));
            done.send(()).unwrap();
        });
        assert!(
            done_rx.recv_timeout(Duration::from_secs(30)).is_ok(),
            "the callback waited for itself"
        );
        completions.wait_idle(FOREVER);
    }

    #[test]
    fn the_wait_is_bounded_and_an_unrun_completion_counts_out() {
        let completions = Arc::new(Completions::default());
        let pending = completions.track();
        // A completion that never returns: the wait gives up.
        completions.wait_idle(Duration::from_millis(20));
        assert_eq!(completions.lock().pending, 1);
        drop(pending);
        completions.wait_idle(FOREVER);
        assert_eq!(completions.lock().pending, 0);
    }
}
