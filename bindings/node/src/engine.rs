//! `NativeEngine`: the core `gaia::Engine` behind a napi class. Each method
//! converts its JSON arguments, makes one core call and converts the result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gaia::OpenEngine;
use napi::bindgen_prelude::{Buffer, Result};
use napi_derive::napi;

use crate::asset::{parse_asset_id, to_buffer};
use crate::error::to_napi;
use crate::events::{EventCallback, JsSink};
use crate::job::{parse, parse_job_id, parse_request, write};
use crate::provider::{GenerateCallback, JsProvider};

/// An open engine (the JavaScript `Engine` wraps one). One that is garbage
/// collected without `close` is closed on the runtime (see its `Drop`).
#[napi]
pub struct NativeEngine {
    inner: gaia::Engine,
    sinks: Mutex<HashMap<u32, Arc<dyn gaia::EventSink>>>,
    next_sink: Mutex<u32>,
    /// The runtime it was opened on, where a dropped engine is closed.
    runtime: Option<tokio::runtime::Handle>,
}

/// Opens an engine from `EngineConfig` JSON (`{"path": ".gaia"}`, …).
#[napi]
pub async fn open_engine(config: String) -> Result<NativeEngine> {
    let engine = async {
        let config: gaia::EngineConfig = parse("config", &config)?;
        gaia::Engine::open(config).await
    }
    .await
    .map_err(to_napi)?;
    Ok(NativeEngine {
        inner: engine,
        sinks: Mutex::new(HashMap::new()),
        next_sink: Mutex::new(0),
        runtime: tokio::runtime::Handle::try_current().ok(),
    })
}

/// An engine garbage collected without `close` (the JavaScript object is
/// gone, so nothing can call it any more) would keep its workers claiming and
/// running jobs, and its heartbeat renewing their leases, until the process
/// exits. Dropping it starts the graceful `close` on the runtime instead —
/// without waiting for it on Node's thread, which runs this finalizer — and
/// then lets go of its listeners.
impl Drop for NativeEngine {
    fn drop(&mut self) {
        if self.inner.is_closed() {
            return;
        }
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let engine = self.inner.clone();
        let sinks: Vec<_> = self
            .sinks
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .map(|(_, sink)| sink)
            .collect();
        // A runtime already shut down (the process is exiting) drops the task.
        drop(runtime.spawn(async move {
            // Nobody is left to tell of an error; the leases of jobs it could
            // not release expire.
            let _ = engine.close().await;
            for sink in &sinks {
                engine.remove_event_sink(sink);
            }
        }));
    }
}

/// Locks a mutex whose data stays usable if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A duration argument given in seconds (`invalid_request` naming `name`
/// when it is negative, not finite or too large).
fn seconds(name: &str, value: f64) -> gaia::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        gaia::Error::invalid(name, format!("{value} is not a number of seconds from 0"))
    })
}

#[napi]
impl NativeEngine {
    /// Submits a request (wire JSON); resolves to the queued job's JSON.
    #[napi]
    pub async fn submit(&self, request: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.submit(parse_request(&request)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// Submits and waits; resolves to the first asset's JSON.
    #[napi]
    pub async fn generate(&self, request: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.generate(parse_request(&request)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// Waits until a job has ended; resolves to its JSON.
    #[napi]
    pub async fn wait(&self, job_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.wait(parse_job_id(&job_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// One job's JSON.
    #[napi]
    pub async fn job(&self, job_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.job(parse_job_id(&job_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// A job's log lines as JSON.
    #[napi]
    pub async fn job_logs(&self, job_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.job_logs(parse_job_id(&job_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// A page of jobs: `JobFilter` and `PageRequest` JSON in, `Page<Job>` JSON out.
    #[napi]
    pub async fn jobs(&self, filter: String, page: String) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let filter: gaia::JobFilter = parse("filter", &filter)?;
            let page: gaia::PageRequest = parse("page", &page)?;
            write(&engine.jobs(&filter, &page).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// Cancels a job; resolves to its JSON.
    #[napi]
    pub async fn cancel(&self, job_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.cancel(parse_job_id(&job_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// Queues a failed or canceled job again; resolves to its JSON.
    #[napi]
    pub async fn retry(&self, job_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.retry(parse_job_id(&job_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// Deletes a finished job and its log.
    #[napi]
    pub async fn delete_job(&self, job_id: String) -> Result<()> {
        let engine = self.inner.clone();
        async move { engine.delete_job(parse_job_id(&job_id)?).await }
            .await
            .map_err(to_napi)
    }

    /// Deletes the jobs that ended more than `older_than_s` seconds ago, with
    /// their logs (assets and costs stay); resolves to how many went.
    #[napi]
    pub async fn prune_jobs(&self, older_than_s: f64) -> Result<i64> {
        let engine = self.inner.clone();
        async move {
            let pruned = engine
                .prune_jobs(seconds("olderThanS", older_than_s)?)
                .await?;
            Ok(i64::try_from(pruned).unwrap_or(i64::MAX))
        }
        .await
        .map_err(to_napi)
    }

    /// One asset's JSON.
    #[napi]
    pub async fn asset(&self, asset_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move { write(&engine.asset(parse_asset_id(&asset_id)?).await?) }
            .await
            .map_err(to_napi)
    }

    /// A page of assets: `AssetFilter` and `PageRequest` JSON in, `Page<Asset>` JSON out.
    #[napi]
    pub async fn assets(&self, filter: String, page: String) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let filter: gaia::AssetFilter = parse("filter", &filter)?;
            let page: gaia::PageRequest = parse("page", &page)?;
            write(&engine.assets(&filter, &page).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// An asset's bytes.
    #[napi]
    pub async fn read_bytes(&self, asset_id: String) -> Result<Buffer> {
        let engine = self.inner.clone();
        async move {
            let bytes = engine.read_bytes(parse_asset_id(&asset_id)?).await?;
            Ok(to_buffer(&bytes))
        }
        .await
        .map_err(to_napi)
    }

    /// A URL that downloads an asset's bytes without credentials for `ttl_s`
    /// seconds (an S3 blob store's presigned URL; other stores answer
    /// `invalid_request` naming `blobs`).
    #[napi]
    pub async fn asset_url(&self, asset_id: String, ttl_s: f64) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let ttl = seconds("ttlS", ttl_s)?;
            engine.asset_url(parse_asset_id(&asset_id)?, ttl).await
        }
        .await
        .map_err(to_napi)
    }

    /// Deletes an asset (its bytes go when no other asset shares them).
    #[napi]
    pub async fn delete_asset(&self, asset_id: String) -> Result<()> {
        let engine = self.inner.clone();
        async move { engine.delete_asset(parse_asset_id(&asset_id)?).await }
            .await
            .map_err(to_napi)
    }

    /// Imports a file at `path` as an uploaded asset (`ImportRequest` JSON);
    /// resolves to `{"asset", "existing"}` JSON.
    #[napi]
    pub async fn import_path(&self, request: String, path: String) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let request: gaia::ImportRequest = parse("request", &request)?;
            let source = gaia::ImportSource::Path(path.into());
            write(&engine.import(request, source).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// Imports bytes as an uploaded asset (`ImportRequest` JSON); resolves to
    /// `{"asset", "existing"}` JSON.
    #[napi]
    pub async fn import_bytes(&self, request: String, bytes: Buffer) -> Result<String> {
        let engine = self.inner.clone();
        let source = gaia::ImportSource::Bytes(bytes.to_vec().into());
        async move {
            let request: gaia::ImportRequest = parse("request", &request)?;
            write(&engine.import(request, source).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// The `k` assets best matching `query` (`SearchFilter` JSON), as
    /// `[{"score", "asset"}]` JSON.
    #[napi]
    pub async fn search(&self, query: String, filter: String, k: u32) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let filter: gaia::SearchFilter = parse("filter", &filter)?;
            write(&engine.search_assets(&query, &filter, k as usize).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// Money spent: `CostQuery` JSON in, `CostReport` JSON out.
    #[napi]
    pub async fn costs(&self, query: String) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let query: gaia::CostQuery = parse("query", &query)?;
            write(&engine.costs(&query).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// Creates or replaces a budget (`Budget` JSON).
    #[napi]
    pub async fn set_budget(&self, budget: String) -> Result<()> {
        let engine = self.inner.clone();
        async move {
            let budget: gaia::Budget = parse("budget", &budget)?;
            engine.set_budget(&budget).await
        }
        .await
        .map_err(to_napi)
    }

    /// A client's budgets as JSON.
    #[napi]
    pub async fn budgets(&self, client_id: String) -> Result<String> {
        let engine = self.inner.clone();
        async move {
            let client_id = gaia::ClientId::new(client_id)?;
            write(&engine.budgets(&client_id).await?)
        }
        .await
        .map_err(to_napi)
    }

    /// The configured providers, their models and prices, as JSON.
    #[napi]
    pub fn providers(&self) -> Result<String> {
        write(&self.inner.providers()).map_err(to_napi)
    }

    /// Adds a JavaScript provider: its descriptor JSON (`name`, `models`,
    /// `remote`, `max_in_flight`) and the function that runs one call.
    #[napi]
    pub fn register_provider(&self, descriptor: String, generate: GenerateCallback) -> Result<()> {
        let provider = JsProvider::new(&descriptor, generate).map_err(to_napi)?;
        self.inner
            .register_provider(Arc::new(provider))
            .map_err(to_napi)
    }

    /// Forwards every event (JSON) to `listener` on the JavaScript thread;
    /// returns an id for `unsubscribe`. The listener does not keep the process alive.
    #[napi]
    pub fn subscribe(&self, listener: EventCallback) -> u32 {
        let sink = self.inner.add_event_sink(Arc::new(JsSink::new(listener)));
        let mut next = lock(&self.next_sink);
        *next += 1;
        lock(&self.sinks).insert(*next, sink);
        *next
    }

    /// Stops a listener added with `subscribe` (unknown ids are ignored).
    #[napi]
    pub fn unsubscribe(&self, id: u32) {
        if let Some(sink) = lock(&self.sinks).remove(&id) {
            self.inner.remove_event_sink(&sink);
        }
    }

    /// Stops the engine gracefully and removes every listener; closing twice is fine.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let closed = self.inner.close().await;
        let sinks: Vec<_> = lock(&self.sinks).drain().map(|(_, sink)| sink).collect();
        for sink in &sinks {
            self.inner.remove_event_sink(sink);
        }
        closed.map_err(to_napi)
    }
}
