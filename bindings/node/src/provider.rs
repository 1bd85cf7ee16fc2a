//! Providers written in JavaScript: a core `Provider` whose `generate` calls
//! the JavaScript layer through a thread-safe function. The JavaScript side
//! answers through a `CallContext` (progress, log lines, outputs, the end of
//! the call); outputs are staged with `GenerateContext::stage_bytes`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use napi::Status;
use napi::bindgen_prelude::{Buffer, FnArgs};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::error::from_js;
use crate::job::{parse, write};

/// A JavaScript `(callJson: string, ctx: CallContext) => void`, unref'd.
pub type GenerateCallback = ThreadsafeFunction<
    FnArgs<(String, CallContext)>,
    (),
    FnArgs<(String, CallContext)>,
    Status,
    false,
    true,
>;

/// What a JavaScript provider declares (wire JSON, snake_case keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Descriptor {
    name: String,
    models: Vec<ModelDescriptor>,
    #[serde(default = "default_remote")]
    remote: bool,
    #[serde(default)]
    max_in_flight: Option<u32>,
}

fn default_remote() -> bool {
    true
}

/// One model of a JavaScript provider.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDescriptor {
    id: String,
    kind: gaia::AssetKind,
    #[serde(default)]
    price: Option<PriceDescriptor>,
    #[serde(default)]
    description: String,
    /// The derived operation it performs (`edit`, `upscale`, `retexture`,
    /// `image_to_3d`), or absent for a generation model.
    #[serde(default)]
    operation: Option<String>,
}

/// A price rule on the wire (`{"rule": "per_output", "micros": 40000}`).
#[derive(Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
enum PriceDescriptor {
    Free,
    PerOutput {
        micros: gaia::Money,
    },
    PerMillionUnits {
        unit: String,
        micros_per_million: u64,
    },
    Table {
        note: String,
    },
}

impl From<PriceDescriptor> for gaia::PriceRule {
    fn from(price: PriceDescriptor) -> Self {
        match price {
            PriceDescriptor::Free => Self::Free,
            PriceDescriptor::PerOutput { micros } => Self::PerOutput { micros },
            PriceDescriptor::PerMillionUnits {
                unit,
                micros_per_million,
            } => Self::PerMillionUnits {
                unit,
                micros_per_million,
            },
            PriceDescriptor::Table { note } => Self::Table { note },
        }
    }
}

/// What the JavaScript side reports during a call.
enum Report {
    Progress(u32),
    Log(gaia::LogLevel, String),
    Output(Vec<u8>),
    Done(Option<gaia::Money>),
    Failed(gaia::Error),
}

/// The handle a JavaScript provider answers through during one call.
#[napi]
pub struct CallContext {
    provider: Arc<str>,
    reports: mpsc::UnboundedSender<Report>,
    canceled: Arc<AtomicBool>,
}

#[napi]
impl CallContext {
    /// Reports progress (0–100).
    #[napi]
    pub fn progress(&self, percent: u32) {
        let _ = self.reports.send(Report::Progress(percent));
    }

    /// Writes a job log line (`info`, `warn` or `error`; other levels are `info`).
    #[napi]
    pub fn log(&self, level: String, message: String) {
        let level = gaia::LogLevel::parse(&level).unwrap_or(gaia::LogLevel::Info);
        let _ = self.reports.send(Report::Log(level, message));
    }

    /// Hands over one output's bytes.
    #[napi]
    pub fn output(&self, bytes: Buffer) {
        let _ = self.reports.send(Report::Output(bytes.to_vec()));
    }

    /// Ends the call successfully, with the cost the service charged if known.
    #[napi]
    pub fn finish(&self, cost_micros: Option<i64>) {
        let cost = cost_micros.map(gaia::Money::from_micros);
        let _ = self.reports.send(Report::Done(cost));
    }

    /// Ends the call with an error: a stable code (`provider_error` when it is
    /// not one), a message, and whether trying again may succeed when the
    /// error said so (`null`: what the code implies, as in the core).
    #[napi]
    pub fn fail(&self, code: String, message: String, retryable: Option<bool>) {
        let error = from_js(&self.provider, &code, message, retryable);
        let _ = self.reports.send(Report::Failed(error));
    }

    /// Whether the job was canceled (or the engine is closing).
    #[napi(getter)]
    pub fn canceled(&self) -> bool {
        self.canceled.load(Ordering::Acquire)
    }
}

/// A provider implemented in JavaScript.
pub(crate) struct JsProvider {
    name: Arc<str>,
    models: Vec<gaia::ModelInfo>,
    remote: bool,
    max_in_flight: Option<u32>,
    generate: GenerateCallback,
}

impl JsProvider {
    /// A provider from its descriptor JSON and its generate function.
    pub(crate) fn new(descriptor: &str, generate: GenerateCallback) -> gaia::Result<Self> {
        let descriptor: Descriptor = parse("provider", descriptor)?;
        let models = descriptor
            .models
            .into_iter()
            .enumerate()
            .map(|(i, model)| {
                gaia::ModelInfo::new(
                    model.id,
                    model.kind,
                    model.price.map_or(gaia::PriceRule::Free, Into::into),
                    model.description,
                )
                .declaring(&format!("models[{i}].operation"), model.operation)
            })
            .collect::<gaia::Result<_>>()?;
        Ok(Self {
            name: descriptor.name.into(),
            models,
            remote: descriptor.remote,
            max_in_flight: descriptor.max_in_flight,
            generate,
        })
    }

    fn gone(&self, message: &str) -> gaia::Error {
        gaia::Error::Provider {
            provider: self.name.to_string(),
            message: message.to_owned(),
            retryable: false,
            retry_after: None,
        }
    }

    /// Starts the JavaScript call; its reports arrive on the returned channel.
    fn start(
        &self,
        call: &gaia::Call,
        canceled: Arc<AtomicBool>,
    ) -> gaia::Result<mpsc::UnboundedReceiver<Report>> {
        let call_json = write(&call.to_wire())?;
        let (reports, receiver) = mpsc::unbounded_channel();
        let context = CallContext {
            provider: self.name.clone(),
            reports,
            canceled,
        };
        let status = self.generate.call(
            FnArgs::from((call_json, context)),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
        if status != Status::Ok {
            return Err(self.gone("the JavaScript provider is no longer reachable"));
        }
        Ok(receiver)
    }
}

#[async_trait]
impl gaia::Provider for JsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn models(&self) -> &[gaia::ModelInfo] {
        &self.models
    }

    fn is_remote(&self) -> bool {
        self.remote
    }

    fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    /// The declared per-output price times the outputs asked for; other
    /// rules estimate nothing and the cost the call reports is charged.
    fn estimate(&self, model: &str, spec: &gaia::Spec) -> gaia::Result<gaia::Money> {
        let price = self.models.iter().find(|m| m.id == model).map(|m| &m.price);
        Ok(price
            .and_then(|rule| rule.estimate(spec))
            .unwrap_or(gaia::Money::ZERO))
    }

    async fn generate(
        &self,
        call: &gaia::Call,
        cx: &gaia::GenerateContext,
    ) -> gaia::Result<gaia::Generation> {
        let canceled = Arc::new(AtomicBool::new(false));
        let mut reports = self.start(call, canceled.clone())?;
        let mut outputs = Vec::new();
        loop {
            let report = tokio::select! {
                report = reports.recv() => report,
                () = cx.cancellation().cancelled() => {
                    canceled.store(true, Ordering::Release);
                    return Err(gaia::Error::Canceled);
                }
            };
            match report {
                Some(Report::Progress(p)) => cx.progress(gaia::Progress::percent(p)),
                Some(Report::Log(level, message)) => cx.log(level, message),
                Some(Report::Output(bytes)) => outputs.push(cx.stage_bytes(&bytes).await?),
                Some(Report::Done(cost)) => return Ok(gaia::Generation { outputs, cost }),
                Some(Report::Failed(err)) => return Err(err),
                None => return Err(self.gone("the JavaScript provider ended without an answer")),
            }
        }
    }
}
