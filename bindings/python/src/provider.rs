//! `PyProvider`: a core `Provider` implemented by a Python object.
//!
//! The Python package wraps the user's class in an adapter with
//! `_gaia_generate(call_json, cx) -> (list[bytes], cost_micros | None)`
//! (it runs an `async def generate` with `asyncio.run` on the calling
//! thread) and `_gaia_estimate(model, spec_json) -> int | None` (None: price from the model). The call runs on
//! the blocking pool under the GIL; its progress and log reports travel back
//! over a channel to the engine's context; the bytes are staged here.

use std::sync::Arc;

use async_trait::async_trait;
use gaia::{
    AssetKind, Call, Error, GenerateContext, Generation, LogLevel, ModelInfo, Money, PriceRule,
    Progress, Provider, Spec,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use serde::Deserialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::asset::byte_buffer;
use crate::error::{from_py_err, invalid};

/// A model as the Python package describes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelWire {
    id: String,
    kind: AssetKind,
    #[serde(default)]
    price_micros: i64,
    #[serde(default)]
    description: String,
    /// A remote derived operation (`upscale`, …) the model performs instead
    /// of generating.
    #[serde(default)]
    operation: Option<String>,
}

impl ModelWire {
    /// The core model; `index` names it in errors.
    fn into_info(self, index: usize) -> gaia::Result<ModelInfo> {
        let price = match self.price_micros {
            0 => PriceRule::Free,
            micros => PriceRule::PerOutput {
                micros: Money::from_micros(micros),
            },
        };
        ModelInfo::new(self.id, self.kind, price, self.description)
            .declaring(&format!("models[{index}].operation"), self.operation)
    }
}

/// A provider whose calls go to a Python object.
pub struct PyProvider {
    name: String,
    remote: bool,
    models: Vec<ModelInfo>,
    target: Arc<Py<PyAny>>,
}

impl PyProvider {
    /// Wraps the adapter `target`; `models_json` lists `{id, kind, price_micros, description}`.
    pub fn new(target: PyObject, name: String, remote: bool, models_json: &str) -> PyResult<Self> {
        let models: Vec<ModelWire> = serde_json::from_str(models_json)
            .map_err(|e| invalid("providers.models", e.to_string()))?;
        let models = models
            .into_iter()
            .enumerate()
            .map(|(index, model)| model.into_info(index))
            .collect::<gaia::Result<Vec<_>>>()
            .map_err(|e| crate::error::to_py_err(&e))?;
        Ok(Self {
            name,
            remote,
            models,
            target: Arc::new(target),
        })
    }

    /// Runs the Python call on the blocking pool, relaying its reports to `cx`.
    async fn call_python(&self, call: &Call, cx: &GenerateContext) -> gaia::Result<PyOutput> {
        let (reports, mut received) = unbounded_channel();
        let context = ProviderContext {
            reports,
            cancel: cx.cancellation().clone(),
        };
        let call_json = call_json(call)?;
        let (target, name) = (self.target.clone(), self.name.clone());
        let task =
            tokio::task::spawn_blocking(move || run_python(&target, &call_json, context, &name));
        tokio::pin!(task);
        let joined = loop {
            tokio::select! {
                Some(report) = received.recv() => report.apply(cx),
                joined = &mut task => break joined,
            }
        };
        drain(&mut received, cx);
        joined.map_err(|e| Error::Internal(format!("the Python provider task failed: {e}")))?
    }
}

/// What the adapter returns: the outputs' bytes and the reported cost.
type PyOutput = (Vec<bytes::Bytes>, Option<i64>);

/// The adapter's `(outputs, cost_micros)`: each output's `bytes` copied once
/// as a slice (never extracted byte by byte under the GIL).
fn outputs_of(returned: &Bound<'_, PyAny>) -> PyResult<PyOutput> {
    let (outputs, cost): (Bound<'_, PyAny>, Option<i64>) = returned.extract()?;
    let outputs = outputs
        .try_iter()?
        .map(|item| {
            let item = item?;
            byte_buffer(&item).ok_or_else(|| {
                let kind = item
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                PyTypeError::new_err(format!("an output must be bytes, not {kind}"))
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok((outputs, cost))
}

/// The call as the adapter reads it (with its input files).
fn call_json(call: &Call) -> gaia::Result<String> {
    serde_json::to_string(&call.to_wire())
        .map_err(|e| Error::Internal(format!("cannot serialize a call: {e}")))
}

/// Calls the adapter under the GIL (on a blocking-pool thread).
fn run_python(
    target: &Py<PyAny>,
    call_json: &str,
    context: ProviderContext,
    name: &str,
) -> gaia::Result<PyOutput> {
    Python::with_gil(|py| {
        let outcome = Py::new(py, context)
            .and_then(|cx| target.call_method1(py, "_gaia_generate", (call_json, cx)))
            .and_then(|out| outputs_of(out.bind(py)));
        outcome.map_err(|err| from_py_err(py, &err, name))
    })
}

/// Applies the reports still queued after the call returned.
fn drain(received: &mut UnboundedReceiver<Report>, cx: &GenerateContext) {
    while let Ok(report) = received.try_recv() {
        report.apply(cx);
    }
}

#[async_trait]
impl Provider for PyProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn is_remote(&self) -> bool {
        self.remote
    }

    /// The estimate may call the host's `estimate` under the GIL.
    fn estimates_instantly(&self) -> bool {
        false
    }

    fn estimate(&self, model: &str, spec: &Spec) -> gaia::Result<Money> {
        let spec_json = serde_json::to_string(spec)
            .map_err(|e| Error::Internal(format!("cannot serialize a spec: {e}")))?;
        let own = Python::with_gil(|py| {
            self.target
                .call_method1(py, "_gaia_estimate", (model, spec_json))
                .and_then(|micros| micros.extract::<Option<i64>>(py))
                .map_err(|err| from_py_err(py, &err, &self.name))
        })?;
        // Without its own estimate, the model's declared price decides.
        Ok(own.map(Money::from_micros).unwrap_or_else(|| {
            self.models
                .iter()
                .find(|m| m.id == model)
                .and_then(|m| m.price.estimate(spec))
                .unwrap_or(Money::ZERO)
        }))
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> gaia::Result<Generation> {
        let (outputs, cost) = self.call_python(call, cx).await?;
        let mut staged = Vec::with_capacity(outputs.len());
        for bytes in &outputs {
            staged.push(cx.stage_bytes(bytes).await?);
        }
        Ok(Generation {
            outputs: staged,
            cost: cost.map(Money::from_micros),
        })
    }
}

/// A report from the Python call, applied to the engine's context.
enum Report {
    Progress(u32),
    Log(LogLevel, String),
}

impl Report {
    fn apply(self, cx: &GenerateContext) {
        match self {
            Report::Progress(percent) => cx.progress(Progress::percent(percent)),
            Report::Log(level, message) => cx.log(level, message),
        }
    }
}

/// What a Python provider's `generate` may do: report progress (0–100),
/// write job log lines, and watch `cancelled`.
#[pyclass(module = "gaia._gaia", frozen)]
pub struct ProviderContext {
    reports: UnboundedSender<Report>,
    cancel: CancellationToken,
}

#[pymethods]
impl ProviderContext {
    /// Reports progress on the 0–100 scale.
    fn progress(&self, percent: u32) {
        let _ = self.reports.send(Report::Progress(percent));
    }

    /// Writes a job log line (`level`: `info`, `warn` or `error`).
    #[pyo3(signature = (message, level="info"))]
    fn log(&self, message: String, level: &str) -> PyResult<()> {
        let level = LogLevel::parse(level)
            .ok_or_else(|| invalid("level", format!("{level:?} is not info, warn or error")))?;
        let _ = self.reports.send(Report::Log(level, message));
        Ok(())
    }

    /// Whether the job was canceled (or the engine is shutting down).
    #[getter]
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
