//! `NativeEngine`: the engine handle. Each method converts its arguments
//! (JSON strings built by the Python package), makes one engine call and
//! converts the result (JSON, or `bytes`) or the error.

use std::sync::Arc;
use std::time::Duration;

use gaia::{Engine, EngineConfig, OpenEngine};
use pyo3::prelude::*;

use crate::asset::{asset_filter, asset_id, budget, byte_buffer, client_id, cost_query, to_bytes};
use crate::error::{invalid, to_py_err};
use crate::event::NativeEvents;
use crate::job::{job_filter, job_id, page, request};
use crate::provider::PyProvider;
use crate::runtime::{block_on, spawn_future, wait_limit};
use crate::to_json;

/// An open engine. Blocking methods release the GIL; `*_future` methods
/// return a `concurrent.futures.Future` completed on the engine's runtime.
#[pyclass(module = "gaia._gaia", frozen)]
pub struct NativeEngine {
    engine: Engine,
    /// The process that opened it (a forked child's copy has no workers to stop).
    opened_by: u32,
}

/// An engine dropped without `close` (garbage-collected, a notebook cell run
/// again) closes in the background, so its workers stop claiming jobs. The
/// close runs on the binding's runtime: the drop neither blocks nor holds the
/// GIL while the engine winds down.
impl Drop for NativeEngine {
    fn drop(&mut self) {
        if self.engine.is_closed() || self.opened_by != std::process::id() {
            return;
        }
        let engine = self.engine.clone();
        if let Ok(runtime) = crate::runtime::runtime() {
            runtime.spawn(async move {
                let _ = engine.close().await;
            });
        }
    }
}

/// A duration argument given in seconds (`invalid_request` naming `name`
/// when it is negative, not finite or too large).
fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| invalid(name, format!("{value} is not a number of seconds from 0")))
}

/// Converts a serializable result into a Python `str` of JSON.
fn json_object<T: serde::Serialize>(py: Python<'_>, value: T) -> PyResult<PyObject> {
    Ok(to_json(&value)?.into_pyobject(py)?.into_any().unbind())
}

#[pymethods]
impl NativeEngine {
    /// Opens an engine from configuration JSON (`EngineConfig`).
    #[staticmethod]
    fn open(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config = EngineConfig::from_json(config_json).map_err(|e| to_py_err(&e))?;
        let engine = block_on(py, <Engine as OpenEngine>::open(config), None)?;
        Ok(Self {
            engine,
            opened_by: std::process::id(),
        })
    }

    /// Submits a wire request; returns the job as JSON.
    fn submit(&self, py: Python<'_>, request_json: &str) -> PyResult<String> {
        let request = request(request_json)?;
        to_json(&block_on(py, self.engine.submit(request), None)?)
    }

    /// Submits and waits; returns the first asset as JSON.
    fn generate(&self, py: Python<'_>, request_json: &str) -> PyResult<String> {
        let request = request(request_json)?;
        to_json(&block_on(py, self.engine.generate(request), None)?)
    }

    /// Waits until a job has ended; returns it as JSON. `timeout_s`:
    /// infinite or huge is no limit, NaN or negative an `invalid_request`
    /// naming `timeout`.
    #[pyo3(signature = (job_id, timeout_s=None))]
    fn wait(&self, py: Python<'_>, job_id: &str, timeout_s: Option<f64>) -> PyResult<String> {
        let id = self::job_id(job_id)?;
        let limit = wait_limit(timeout_s)?;
        to_json(&block_on(py, self.engine.wait(id), limit)?)
    }

    /// The first asset of a finished job as JSON, or the job's error.
    fn first_asset(&self, py: Python<'_>, job_json: &str) -> PyResult<String> {
        let job: gaia::Job = crate::from_json("job", job_json)?;
        to_json(&block_on(py, self.engine.first_asset(&job), None)?)
    }

    /// One job as JSON.
    fn job(&self, py: Python<'_>, job_id: &str) -> PyResult<String> {
        let id = self::job_id(job_id)?;
        to_json(&block_on(py, self.engine.job(id), None)?)
    }

    /// A job's log lines as JSON.
    fn job_logs(&self, py: Python<'_>, job_id: &str) -> PyResult<String> {
        let id = self::job_id(job_id)?;
        to_json(&block_on(py, self.engine.job_logs(id), None)?)
    }

    /// A page of jobs as JSON.
    fn jobs(&self, py: Python<'_>, filter_json: &str, page_json: &str) -> PyResult<String> {
        let (filter, page) = (job_filter(filter_json)?, page(page_json)?);
        to_json(&block_on(py, self.engine.jobs(&filter, &page), None)?)
    }

    /// Job counts and provider health as JSON.
    #[pyo3(signature = (client_id=None))]
    fn job_stats(&self, py: Python<'_>, client_id: Option<&str>) -> PyResult<String> {
        let client = client_id.map(self::client_id).transpose()?;
        to_json(&block_on(py, self.engine.job_stats(client.as_ref()), None)?)
    }

    /// Cancels a job; returns it as JSON.
    fn cancel(&self, py: Python<'_>, job_id: &str) -> PyResult<String> {
        let id = self::job_id(job_id)?;
        to_json(&block_on(py, self.engine.cancel(id), None)?)
    }

    /// Queues a failed or canceled job again; returns it as JSON.
    fn retry(&self, py: Python<'_>, job_id: &str) -> PyResult<String> {
        let id = self::job_id(job_id)?;
        to_json(&block_on(py, self.engine.retry(id), None)?)
    }

    /// Deletes a finished job and its log.
    fn delete_job(&self, py: Python<'_>, job_id: &str) -> PyResult<()> {
        let id = self::job_id(job_id)?;
        block_on(py, self.engine.delete_job(id), None)
    }

    /// Deletes the jobs that ended more than `older_than_s` seconds ago, with
    /// their logs (assets and costs stay); returns how many went.
    fn prune_jobs(&self, py: Python<'_>, older_than_s: f64) -> PyResult<u64> {
        let older_than = seconds("older_than_s", older_than_s)?;
        block_on(py, self.engine.prune_jobs(older_than), None)
    }

    /// One asset as JSON.
    fn asset(&self, py: Python<'_>, asset_id: &str) -> PyResult<String> {
        let id = self::asset_id(asset_id)?;
        to_json(&block_on(py, self.engine.asset(id), None)?)
    }

    /// A page of assets as JSON.
    fn assets(&self, py: Python<'_>, filter_json: &str, page_json: &str) -> PyResult<String> {
        let (filter, page) = (asset_filter(filter_json)?, page(page_json)?);
        to_json(&block_on(py, self.engine.assets(&filter, &page), None)?)
    }

    /// An asset's bytes.
    fn read_bytes(&self, py: Python<'_>, asset_id: &str) -> PyResult<PyObject> {
        let id = self::asset_id(asset_id)?;
        let bytes = block_on(py, self.engine.read_bytes(id), None)?;
        Ok(to_bytes(py, &bytes))
    }

    /// A URL that downloads an asset's bytes without credentials for `ttl_s`
    /// seconds (an S3 blob store's presigned URL; other stores answer
    /// `invalid_request` naming `blobs`).
    fn asset_url(&self, py: Python<'_>, asset_id: &str, ttl_s: f64) -> PyResult<String> {
        let (id, ttl) = (self::asset_id(asset_id)?, seconds("ttl_s", ttl_s)?);
        block_on(py, self.engine.asset_url(id, ttl), None)
    }

    /// Deletes an asset.
    fn delete_asset(&self, py: Python<'_>, asset_id: &str) -> PyResult<()> {
        let id = self::asset_id(asset_id)?;
        block_on(py, self.engine.delete_asset(id), None)
    }

    /// Imports `source` (`bytes` or `bytearray`, or a path) as an uploaded asset
    /// described by `request_json` (an `ImportRequest`); returns the asset's JSON.
    fn import_asset(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        request_json: &str,
    ) -> PyResult<String> {
        let request: gaia::ImportRequest = crate::from_json("request", request_json)?;
        let source = match byte_buffer(source) {
            Some(bytes) => gaia::ImportSource::Bytes(bytes),
            None => gaia::ImportSource::Path(source.extract::<std::path::PathBuf>()?),
        };
        let inserted = block_on(py, self.engine.import(request, source), None)?;
        to_json(&inserted.asset)
    }

    /// The `k` assets most like `query` under `filter_json` (a
    /// `SearchFilter`), best first, as `[{"score", "asset"}]` JSON.
    fn search_assets(
        &self,
        py: Python<'_>,
        query: &str,
        filter_json: &str,
        k: usize,
    ) -> PyResult<String> {
        let filter: gaia::SearchFilter = crate::from_json("filter", filter_json)?;
        to_json(&block_on(
            py,
            self.engine.search_assets(query, &filter, k),
            None,
        )?)
    }

    /// A cost report as JSON.
    fn costs(&self, py: Python<'_>, query_json: &str) -> PyResult<String> {
        let query = cost_query(query_json)?;
        to_json(&block_on(py, self.engine.costs(&query), None)?)
    }

    /// Creates or replaces a budget.
    fn set_budget(&self, py: Python<'_>, budget_json: &str) -> PyResult<()> {
        let budget = budget(budget_json)?;
        block_on(py, self.engine.set_budget(&budget), None)
    }

    /// A client's budgets as JSON.
    fn budgets(&self, py: Python<'_>, client_id: &str) -> PyResult<String> {
        let client = self::client_id(client_id)?;
        to_json(&block_on(py, self.engine.budgets(&client), None)?)
    }

    /// The configured providers, their models and prices, as JSON.
    fn providers(&self) -> PyResult<String> {
        to_json(&self.engine.providers())
    }

    /// Registers a Python provider (see `gaia._provider`): `target` has
    /// `_gaia_generate(call_json, cx)` and `_gaia_estimate(model, spec_json)`.
    fn register_provider(
        &self,
        target: PyObject,
        name: String,
        remote: bool,
        models_json: &str,
    ) -> PyResult<()> {
        let provider = PyProvider::new(target, name, remote, models_json)?;
        self.engine
            .register_provider(Arc::new(provider))
            .map_err(|e| to_py_err(&e))
    }

    /// Every event from now on.
    fn events(&self) -> PyResult<NativeEvents> {
        let _context = crate::runtime::runtime()?.enter();
        Ok(NativeEvents::new(self.engine.events()))
    }

    /// Stops gracefully (running jobs get the configured grace period).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        block_on(py, self.engine.close(), None)
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.engine.is_closed()
    }

    /// `submit` on the runtime: a future of the job's JSON.
    fn submit_future(&self, py: Python<'_>, request_json: &str) -> PyResult<PyObject> {
        let (engine, request) = (self.engine.clone(), request(request_json)?);
        spawn_future(py, async move { engine.submit(request).await }, json_object)
    }

    /// `generate` on the runtime: a future of the first asset's JSON.
    fn generate_future(&self, py: Python<'_>, request_json: &str) -> PyResult<PyObject> {
        let (engine, request) = (self.engine.clone(), request(request_json)?);
        spawn_future(
            py,
            async move { engine.generate(request).await },
            json_object,
        )
    }

    /// `wait` on the runtime: a future of the finished job's JSON.
    fn wait_future(&self, py: Python<'_>, job_id: &str) -> PyResult<PyObject> {
        let (engine, id) = (self.engine.clone(), self::job_id(job_id)?);
        spawn_future(py, async move { engine.wait(id).await }, json_object)
    }

    /// `asset` on the runtime: a future of the asset's JSON.
    fn asset_future(&self, py: Python<'_>, asset_id: &str) -> PyResult<PyObject> {
        let (engine, id) = (self.engine.clone(), self::asset_id(asset_id)?);
        spawn_future(py, async move { engine.asset(id).await }, json_object)
    }

    /// `read_bytes` on the runtime: a future of the asset's bytes.
    fn read_bytes_future(&self, py: Python<'_>, asset_id: &str) -> PyResult<PyObject> {
        let (engine, id) = (self.engine.clone(), self::asset_id(asset_id)?);
        spawn_future(
            py,
            async move { engine.read_bytes(id).await },
            |py, bytes: bytes::Bytes| Ok(to_bytes(py, &bytes)),
        )
    }

    /// `asset_url` on the runtime: a future of the URL.
    fn asset_url_future(&self, py: Python<'_>, asset_id: &str, ttl_s: f64) -> PyResult<PyObject> {
        let (engine, id) = (self.engine.clone(), self::asset_id(asset_id)?);
        let ttl = seconds("ttl_s", ttl_s)?;
        spawn_future(
            py,
            async move { engine.asset_url(id, ttl).await },
            |py, url: String| Ok(url.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// `prune_jobs` on the runtime: a future of how many jobs went.
    fn prune_jobs_future(&self, py: Python<'_>, older_than_s: f64) -> PyResult<PyObject> {
        let (engine, older_than) = (self.engine.clone(), seconds("older_than_s", older_than_s)?);
        spawn_future(
            py,
            async move { engine.prune_jobs(older_than).await },
            |py, pruned: u64| Ok(pruned.into_pyobject(py)?.into_any().unbind()),
        )
    }
}
