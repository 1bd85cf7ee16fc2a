//! The one process-wide tokio runtime every handle shares.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, started on first use.
pub(crate) fn runtime() -> gaia::Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("gaia-ffi")
        // Idle blocking threads (where completion callbacks run) end soon:
        // a host runtime such as Mono waits for threads it has seen at exit.
        .thread_keep_alive(Duration::from_millis(500))
        .build()
        .map_err(|e| gaia::Error::Internal(format!("starting the runtime: {e}")))?;
    // A racing thread may have won; its runtime is used and ours is dropped.
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs a future to completion on the calling (host) thread.
pub(crate) fn block_on<F: Future>(future: F) -> gaia::Result<F::Output> {
    Ok(runtime()?.block_on(future))
}
