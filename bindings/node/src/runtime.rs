//! The process-wide async runtime: napi-rs's tokio runtime (its `async`
//! feature), built here once when the addon loads so its threads carry
//! Gaia's name. Every `async fn` export runs on it, the engine's workers and
//! heartbeat are spawned on it, and Node's thread never blocks on a
//! generation. Nothing here keeps the Node process alive: only pending
//! Promises do; event listeners and providers are unref'd.

use napi::bindgen_prelude::create_custom_tokio_runtime;

/// Installs the runtime when the addon is loaded; napi-rs's default one is
/// used if this one cannot be built.
#[napi_derive::module_init]
fn install_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("gaia-runtime")
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        create_custom_tokio_runtime(runtime);
    }
}
