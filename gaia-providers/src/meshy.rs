//! Meshy (3D): text to 3D, image to 3D and retexturing, as asynchronous
//! tasks that are polled until done.
//!
//! Models (see [`models`]): `meshy-6` makes a textured model in two tasks —
//! a preview mesh, then a refine that textures it with PBR maps;
//! `meshy-6-preview` stops after the preview (an untextured mesh, cheaper).
//! The spec's `detail` sets the polygon budget (low 5k, medium 30k, high
//! 100k, remeshed; Meshy's own topology when absent) and its `format` the
//! file fetched (GLB by default; FBX, OBJ and USDZ too; glTF is not made).
//! `meshy-6-image-to-3d` performs the derived operation `image_to_3d` on an
//! image asset, and `meshy-retexture` the operation `retexture` on a model
//! asset; both send the parent inline as a `data:` URI.
//!
//! Every task's id is saved as the job's checkpoint before it is waited on
//! (`preview:<id>`, `refine:<id>:<preview id>`, `image-to-3d:<id>`,
//! `retexture:<id>`), so a recovered job resumes the stage it was in and
//! pays once. Tasks are polled (0.5 s to 5 s) rather than read from their
//! event stream: polling resumes the same way after a crash. Meshy's
//! `progress` maps onto the job's (the preview is the first half of a
//! two-task model). A canceled job deletes its task on Meshy.
//!
//! The model file and its thumbnail are fetched as soon as the task
//! succeeds (the signed URLs expire). The model is the output; the
//! thumbnail, when Meshy renders one and it is at most 256 KiB, goes into
//! the asset's metadata as a `data:image/png;base64,…` URI under
//! `thumbnail` (an output must be of the job's kind, so it cannot be a
//! second asset). Cost: each task's `consumed_credits` at $0.02 a credit,
//! reported as soon as the task ends.

mod api;
pub mod models;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use gaia_core::{
    Call, DeriveSpec, EngineConfig, Error, GenerateContext, Generation, InputRole, LogLevel,
    ModelFormat, ModelInfo, ModelSpec, Money, Operation, Progress, Provider, Result, Spec,
    StagedOutput,
};
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

use crate::http::{
    Auth, Env, ErrorResponse, HttpProvider, PollSchedule, Polled, ProviderEnv, ProviderSettings,
    bad_shape, poll_until,
};
use crate::remote_task::{TransientFailures, data_uri, default_poll_schedule, stage_progress};
use api::{Checkpoint, Created, Stage, Task, TaskStatus, is_concurrency_limit};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "meshy";

/// Where its key and base URL come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("MESHY_API_KEY"),
    default_base_url: "https://api.meshy.ai",
};

/// Longest prompt Meshy takes, in characters.
pub const MAX_PROMPT_CHARS: usize = 600;

/// The largest image sent for image to 3D.
const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

/// The largest model sent for retexturing.
const MAX_MODEL_BYTES: u64 = 50 * 1024 * 1024;

/// The largest thumbnail kept in an asset's metadata.
pub const MAX_THUMBNAIL_BYTES: u64 = 256 * 1024;

/// How long deleting a canceled task may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);

/// How long to wait when Meshy says too many tasks are queued and sends no
/// `Retry-After`: a running task has to finish first.
const CONCURRENCY_WAIT: Duration = Duration::from_secs(30);

/// Meshy's 3D tasks.
pub struct MeshyProvider {
    http: HttpProvider,
    max_in_flight: Option<u32>,
    poll: PollSchedule,
    models: Vec<ModelInfo>,
}

impl MeshyProvider {
    /// The provider when a key is configured (`providers.meshy.api_key` or
    /// `MESHY_API_KEY`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching Meshy as `settings` say; its key is required.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let key = settings.api_key.clone().ok_or_else(|| {
            Error::invalid(
                "providers.meshy.api_key",
                "is required (or set MESHY_API_KEY)",
            )
        })?;
        let http = HttpProvider::new(settings, Auth::bearer(key))?.with_classifier(classify);
        Ok(Self {
            http,
            max_in_flight: settings.max_in_flight,
            poll: default_poll_schedule(),
            models: models::catalog(),
        })
    }

    /// Polls tasks on `schedule` instead of the default 0.5–5 s.
    pub fn with_poll_schedule(mut self, schedule: PollSchedule) -> Self {
        self.poll = schedule;
        self
    }

    /// Creates the first task of `call` and saves it as the checkpoint.
    async fn start(&self, call: &Call, cx: &GenerateContext) -> Result<Checkpoint> {
        let (stage, body) = match (call.model.as_str(), &call.spec) {
            (models::TEXT_TO_3D | models::TEXT_TO_3D_PREVIEW, Spec::Model(spec)) => {
                (Stage::Preview, preview_body(spec))
            }
            (models::IMAGE_TO_3D, Spec::Derive(derive)) => {
                (Stage::ImageTo3d, self.image_to_3d_body(call, derive).await?)
            }
            (models::RETEXTURE, Spec::Derive(derive)) => {
                (Stage::Retexture, self.retexture_body(call, derive).await?)
            }
            _ => return Err(unserved(&call.model, &call.spec)),
        };
        let checkpoint = Checkpoint::new(stage, self.create(stage, &body).await?);
        self.save(&checkpoint, cx).await?;
        Ok(checkpoint)
    }

    async fn create(&self, stage: Stage, body: &Value) -> Result<String> {
        let response = self
            .http
            .send(self.http.post(stage.path()).json(body))
            .await?;
        let created: Created = self.http.json(response).await?;
        Ok(created.result)
    }

    /// Saves the checkpoint; a task that cannot be saved is deleted, since
    /// no recovered job could find it.
    async fn save(&self, checkpoint: &Checkpoint, cx: &GenerateContext) -> Result<()> {
        cx.log(
            LogLevel::Info,
            format!(
                "created Meshy {} task {}",
                checkpoint.stage.name(),
                checkpoint.task_id
            ),
        );
        if let Err(error) = cx.checkpoint(checkpoint.to_string()).await {
            self.cancel(checkpoint, cx).await;
            return Err(error);
        }
        Ok(())
    }

    /// Follows the task a checkpoint names (and the refine after a preview,
    /// when the model textures) to the model file.
    async fn run(
        &self,
        call: &Call,
        mut checkpoint: Checkpoint,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let refines = call.model == models::TEXT_TO_3D;
        let mut credits = match &checkpoint.preview_id {
            Some(preview) => self.credits_of(preview, cx).await,
            None => 0,
        };
        loop {
            let span = progress_span(checkpoint.stage, refines);
            let task = match self.wait(&checkpoint, span, cx).await {
                Ok(task) => task,
                Err(Error::Canceled) => {
                    // Only a canceled job ends the task; a job this process
                    // merely stopped resumes it from the checkpoint.
                    if cx.is_job_canceled() {
                        self.cancel(&checkpoint, cx).await;
                    }
                    return Err(Error::Canceled);
                }
                Err(error) => return Err(error),
            };
            credits += task.consumed_credits.unwrap_or(0);
            let cost = models::credits_to_money(credits);
            if credits > 0 {
                cx.report_cost(cost);
            }
            check_succeeded(&task)?;
            if checkpoint.stage == Stage::Preview && refines {
                checkpoint = self.refine(call, &task.id, cx).await?;
                continue;
            }
            let output = self.fetch_outputs(call, &task, cx).await?;
            return Ok(Generation {
                outputs: vec![output],
                cost: Some(cost),
            });
        }
    }

    /// Starts the refine of a succeeded preview.
    async fn refine(
        &self,
        call: &Call,
        preview_id: &str,
        cx: &GenerateContext,
    ) -> Result<Checkpoint> {
        let format = model_format(&call.spec);
        let body = json!({
            "mode": "refine",
            "preview_task_id": preview_id,
            "ai_model": models::AI_MODEL,
            "enable_pbr": true,
            "moderation": true,
            "target_formats": [format.as_str()],
        });
        let checkpoint = Checkpoint {
            stage: Stage::Refine,
            task_id: self.create(Stage::Refine, &body).await?,
            preview_id: Some(preview_id.to_owned()),
        };
        self.save(&checkpoint, cx).await?;
        Ok(checkpoint)
    }

    /// The credits a preview consumed, for a job resumed at its refine (the
    /// preview was paid in an attempt that did not finish).
    async fn credits_of(&self, preview_id: &str, cx: &GenerateContext) -> u32 {
        match self.fetch(Stage::Preview, preview_id).await {
            Ok(task) => task.consumed_credits.unwrap_or(0),
            Err(error) => {
                cx.log(
                    LogLevel::Warn,
                    format!("cannot read preview {preview_id}'s credits ({error}); taking the price list's"),
                );
                models::PREVIEW_CREDITS
            }
        }
    }

    async fn fetch(&self, stage: Stage, id: &str) -> Result<Task> {
        let path = format!("{}/{id}", stage.path());
        let response = self.http.send(self.http.get(&path)).await?;
        self.http.json(response).await
    }

    async fn wait(
        &self,
        checkpoint: &Checkpoint,
        span: (u8, u8),
        cx: &GenerateContext,
    ) -> Result<Task> {
        let failures = &TransientFailures::default();
        let seen = &Mutex::new(Seen::default());
        let (stage, id) = (checkpoint.stage, checkpoint.task_id.as_str());
        poll_until(NAME, cx, &self.poll, move || async move {
            let polled = match self.fetch(stage, id).await {
                Ok(task) => {
                    observe(&task, span, seen, cx);
                    Ok(match task.status {
                        TaskStatus::Pending | TaskStatus::InProgress => Polled::Pending,
                        _ => Polled::Done(task),
                    })
                }
                Err(error) => Err(error),
            };
            failures.absorb(cx, polled)
        })
        .await
    }

    /// Downloads the requested format of a succeeded task's model (and its
    /// thumbnail into the metadata) before the signed URLs expire.
    async fn fetch_outputs(
        &self,
        call: &Call,
        task: &Task,
        cx: &GenerateContext,
    ) -> Result<StagedOutput> {
        let format = model_format(&call.spec);
        let url = task.model_urls.get(format.as_str()).ok_or_else(|| {
            bad_shape(
                NAME,
                &format!("model_urls.{}", format.as_str()),
                "is missing from the succeeded task",
            )
        })?;
        let model = self.http.download_to_staging(url, cx).await?;
        let mut metadata = Map::new();
        metadata.insert("meshy_task_id".into(), json!(task.id));
        if let Some(thumbnail) = self.thumbnail(task, cx).await {
            metadata.insert("thumbnail".into(), json!(thumbnail));
        }
        Ok(model.with_metadata(metadata))
    }

    /// The task's thumbnail as a PNG `data:` URI; `None` (with a log line)
    /// when there is none, it cannot be fetched or it is too large to keep
    /// in metadata. A thumbnail never fails the job.
    async fn thumbnail(&self, task: &Task, cx: &GenerateContext) -> Option<String> {
        let url = task.thumbnail_url.as_deref()?;
        let staged = match self.http.download_to_staging(url, cx).await {
            Ok(staged) => staged,
            Err(error) => {
                cx.log(LogLevel::Warn, format!("no thumbnail: {error}"));
                return None;
            }
        };
        if staged.size() > MAX_THUMBNAIL_BYTES {
            cx.log(
                LogLevel::Warn,
                format!(
                    "thumbnail not kept: {} bytes, over {MAX_THUMBNAIL_BYTES}",
                    staged.size()
                ),
            );
            return None;
        }
        let mut bytes = Vec::new();
        staged
            .open()
            .await
            .ok()?
            .read_to_end(&mut bytes)
            .await
            .ok()?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        Some(format!("data:image/png;base64,{encoded}"))
    }

    /// Deletes a canceled job's task on Meshy, best effort and briefly.
    async fn cancel(&self, checkpoint: &Checkpoint, cx: &GenerateContext) {
        let path = format!("{}/{}", checkpoint.stage.path(), checkpoint.task_id);
        let deleted = self
            .http
            .send(self.http.request(crate::http::Method::DELETE, &path));
        let id = &checkpoint.task_id;
        match tokio::time::timeout(CANCEL_TIMEOUT, deleted).await {
            Ok(Ok(_)) => cx.log(LogLevel::Info, format!("deleted Meshy task {id}")),
            Ok(Err(error)) => {
                cx.log(
                    LogLevel::Warn,
                    format!("could not delete Meshy task {id}: {error}"),
                );
            }
            Err(_elapsed) => cx.log(
                LogLevel::Warn,
                format!("deleting Meshy task {id} took too long; it may still run"),
            ),
        }
    }

    async fn image_to_3d_body(&self, call: &Call, derive: &DeriveSpec) -> Result<Value> {
        let Operation::ImageTo3d {
            texture,
            enable_pbr,
        } = derive.operation
        else {
            return Err(unserved(&call.model, &call.spec));
        };
        let parent = parent(call)?;
        let mime = parent.asset.mime.as_str();
        if !matches!(mime, "image/png" | "image/jpeg") {
            return Err(Error::invalid(
                "spec.parent_id",
                format!("Meshy makes models from PNG or JPEG images, not {mime}"),
            ));
        }
        let image = data_uri(parent, mime, "spec.parent_id", MAX_IMAGE_BYTES).await?;
        Ok(json!({
            "image_url": image,
            "ai_model": models::AI_MODEL,
            "should_texture": texture,
            "enable_pbr": texture && enable_pbr,
            "moderation": true,
            "target_formats": [ModelFormat::Glb.as_str()],
        }))
    }

    async fn retexture_body(&self, call: &Call, derive: &DeriveSpec) -> Result<Value> {
        let Operation::Retexture { prompt, enable_pbr } = &derive.operation else {
            return Err(unserved(&call.model, &call.spec));
        };
        let parent = parent(call)?;
        let model = data_uri(
            parent,
            "application/octet-stream",
            "spec.parent_id",
            MAX_MODEL_BYTES,
        )
        .await?;
        Ok(json!({
            "model_url": model,
            "text_style_prompt": prompt,
            "enable_pbr": enable_pbr,
            "enable_original_uv": true,
            "target_formats": [ModelFormat::Glb.as_str()],
        }))
    }
}

#[async_trait]
impl Provider for MeshyProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    fn validate(&self, model: &str, spec: &Spec) -> Result<()> {
        let served = self
            .models
            .iter()
            .any(|info| info.id == model && info.serves(spec));
        if !served {
            return Err(unserved(model, spec));
        }
        if spec.count() > 1 {
            return Err(Error::invalid(
                "spec.count",
                "Meshy makes one model per task",
            ));
        }
        let prompt_field = match spec {
            Spec::Derive(_) => "spec.operation.prompt",
            _ => "spec.prompt",
        };
        if spec.prompt().chars().count() > MAX_PROMPT_CHARS {
            return Err(Error::invalid(
                prompt_field,
                format!("Meshy takes at most {MAX_PROMPT_CHARS} characters"),
            ));
        }
        if let Spec::Model(ModelSpec {
            format: Some(ModelFormat::Gltf),
            ..
        }) = spec
        {
            return Err(Error::invalid(
                "spec.format",
                "Meshy makes glb, fbx, obj or usdz, not gltf",
            ));
        }
        Ok(())
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        models::credits_for(model, spec)
            .map(models::credits_to_money)
            .ok_or_else(|| unserved(model, spec))
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let checkpoint = self.start(call, cx).await?;
        self.run(call, checkpoint, cx).await
    }

    async fn resume(
        &self,
        call: &Call,
        checkpoint: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        match Checkpoint::parse(checkpoint) {
            Some(checkpoint) => self.run(call, checkpoint, cx).await,
            None => {
                cx.log(
                    LogLevel::Warn,
                    format!("the checkpoint {checkpoint:?} names no Meshy task; starting afresh"),
                );
                self.generate(call, cx).await
            }
        }
    }
}

/// What a poll loop remembers between polls.
#[derive(Debug, Default)]
struct Seen {
    progress: Progress,
    queued_ahead: Option<u32>,
}

/// Reports a polled task's progress within its span of the job, and how
/// many tasks are ahead of it while it waits. Progress never goes back.
fn observe(task: &Task, (from, to): (u8, u8), seen: &Mutex<Seen>, cx: &GenerateContext) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    if task.status == TaskStatus::Pending && task.preceding_tasks != seen.queued_ahead {
        seen.queued_ahead = task.preceding_tasks;
        if let Some(ahead) = task.preceding_tasks {
            cx.log(
                LogLevel::Info,
                format!("queued on Meshy behind {ahead} tasks"),
            );
        }
    }
    if task.status != TaskStatus::InProgress {
        return;
    }
    // 100% of a task is reported once the job's outputs are stored.
    let progress = stage_progress(task.progress.min(99), from, to);
    if progress > seen.progress {
        seen.progress = progress;
        cx.progress(progress);
    }
}

/// The part of the job's 0–100 a stage covers.
fn progress_span(stage: Stage, refines: bool) -> (u8, u8) {
    match (stage, refines) {
        (Stage::Preview, true) => (0, 50),
        (Stage::Refine, _) => (50, 100),
        _ => (0, 100),
    }
}

/// `Ok` for a succeeded task; its failure mapped otherwise.
fn check_succeeded(task: &Task) -> Result<()> {
    let error = task.task_error.clone().unwrap_or_default();
    match task.status {
        TaskStatus::Succeeded => Ok(()),
        TaskStatus::Failed if error.is_moderation() => Err(Error::Rejected {
            provider: NAME.into(),
            reason: error.describe(),
        }),
        TaskStatus::Failed => Err(Error::Provider {
            provider: NAME.into(),
            message: format!("task {} failed: {}", task.id, error.describe()),
            retryable: false,
            retry_after: None,
        }),
        TaskStatus::Canceled => Err(Error::Provider {
            provider: NAME.into(),
            message: format!("task {} was canceled on Meshy", task.id),
            retryable: false,
            retry_after: None,
        }),
        TaskStatus::Pending | TaskStatus::InProgress => Err(Error::Internal(format!(
            "task {} finished while still running",
            task.id
        ))),
    }
}

/// The body creating a text-to-3D preview.
fn preview_body(spec: &ModelSpec) -> Value {
    let mut body = json!({
        "mode": "preview",
        "prompt": spec.prompt,
        "ai_model": models::AI_MODEL,
        "moderation": true,
        "target_formats": [spec.format.unwrap_or(ModelFormat::Glb).as_str()],
    });
    if let Some(polycount) = models::target_polycount(spec.detail) {
        body["should_remesh"] = json!(true);
        body["target_polycount"] = json!(polycount);
    }
    body
}

/// The file format a call fetches: the spec's for text to 3D, else GLB.
fn model_format(spec: &Spec) -> ModelFormat {
    match spec {
        Spec::Model(model) => model.format.unwrap_or(ModelFormat::Glb),
        _ => ModelFormat::Glb,
    }
}

fn parent(call: &Call) -> Result<&gaia_core::CallInput> {
    call.input(InputRole::Parent).ok_or_else(|| {
        Error::Internal(format!(
            "job {} reached Meshy without its parent asset",
            call.job_id
        ))
    })
}

fn unserved(model: &str, spec: &Spec) -> Error {
    let what = match spec {
        Spec::Derive(derive) => format!("the operation {}", derive.operation.name()),
        other => format!("a {} spec", other.kind()),
    };
    Error::invalid(
        "route",
        format!("{NAME} model {model:?} does not serve {what}"),
    )
}

/// Meshy's own error signals: a 429 says whether the account queued too
/// many tasks (wait for one to finish) or sent too many requests; a refused
/// prompt is moderation.
fn classify(failure: &ErrorResponse) -> Option<Error> {
    let message = failure.message();
    match failure.status().as_u16() {
        429 if is_concurrency_limit(&message) => Some(Error::RateLimited {
            provider: NAME.into(),
            retry_after: Some(failure.retry_after().unwrap_or(CONCURRENCY_WAIT)),
        }),
        400 | 403 | 422 if message.to_ascii_lowercase().contains("moderation") => {
            Some(failure.rejected(message))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use gaia_core::{AssetId, AssetKind, Detail, ErrorCode, Secret};
    use serde_json::json;

    use super::*;

    fn provider() -> MeshyProvider {
        let settings =
            ProviderSettings::new(NAME, "http://127.0.0.1:9", Some(Secret::new("msy_test")));
        MeshyProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn model_spec(prompt: &str) -> ModelSpec {
        ModelSpec {
            prompt: prompt.into(),
            seed: None,
            count: 1,
            format: None,
            detail: None,
        }
    }

    fn field(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn models_serve_their_kind_and_operation() {
        let provider = provider();
        let text = Spec::from(model_spec("a barrel"));
        let retexture = Spec::Derive(DeriveSpec::new(
            AssetId::new(),
            Operation::Retexture {
                prompt: "rusty".into(),
                enable_pbr: true,
            },
        ));
        assert!(provider.validate(models::TEXT_TO_3D, &text).is_ok());
        assert!(provider.validate(models::RETEXTURE, &retexture).is_ok());
        assert_eq!(field(provider.validate(models::RETEXTURE, &text)), "route");
        assert_eq!(
            field(provider.validate(models::TEXT_TO_3D, &retexture)),
            "route"
        );
        assert_eq!(
            provider.estimate(models::RETEXTURE, &retexture).ok(),
            Some(Money::from_micros(200_000))
        );
        assert!(provider.models().iter().all(|m| m.kind == AssetKind::Model));
    }

    #[test]
    fn specs_meshy_cannot_take_are_refused_by_field() {
        let provider = provider();
        let mut spec = model_spec(&"x".repeat(601));
        assert_eq!(
            field(provider.validate(models::TEXT_TO_3D, &spec.clone().into())),
            "spec.prompt"
        );
        spec.prompt = "a barrel".into();
        spec.count = 2;
        assert_eq!(
            field(provider.validate(models::TEXT_TO_3D, &spec.clone().into())),
            "spec.count"
        );
        spec.count = 1;
        spec.format = Some(ModelFormat::Gltf);
        assert_eq!(
            field(provider.validate(models::TEXT_TO_3D, &spec.into())),
            "spec.format"
        );
    }

    #[test]
    fn the_preview_body_carries_format_and_detail() {
        let mut spec = model_spec("a barrel");
        assert_eq!(
            preview_body(&spec),
            json!({"mode": "preview", "prompt": "a barrel", "ai_model": "meshy-6",
                   "moderation": true, "target_formats": ["glb"]})
        );
        spec.format = Some(ModelFormat::Fbx);
        spec.detail = Some(Detail::Low);
        let body = preview_body(&spec);
        assert_eq!(body["target_formats"], json!(["fbx"]));
        assert_eq!(
            (
                body["should_remesh"].clone(),
                body["target_polycount"].clone()
            ),
            (json!(true), json!(5_000))
        );
    }

    #[test]
    fn progress_spans_split_a_two_task_model() {
        assert_eq!(progress_span(Stage::Preview, true), (0, 50));
        assert_eq!(progress_span(Stage::Preview, false), (0, 100));
        assert_eq!(progress_span(Stage::Refine, true), (50, 100));
        assert_eq!(progress_span(Stage::Retexture, false), (0, 100));
    }

    #[test]
    fn task_outcomes_map_to_stable_codes() {
        let task = |status: &str, error: Value| -> Task {
            serde_json::from_value(json!({"id": "t", "status": status, "task_error": error}))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(check_succeeded(&task("SUCCEEDED", Value::Null)).is_ok());
        let blocked = task(
            "FAILED",
            json!({"message": "flagged", "code": "moderation_blocked"}),
        );
        let code = |t: &Task| {
            check_succeeded(t)
                .err()
                .map(|e| (e.code(), e.is_retryable()))
        };
        assert_eq!(code(&blocked), Some((ErrorCode::ProviderRejected, false)));
        let failed = task(
            "FAILED",
            json!({"message": "too complex", "code": "image_too_complex"}),
        );
        assert_eq!(code(&failed), Some((ErrorCode::ProviderError, false)));
        assert_eq!(
            code(&task("CANCELED", Value::Null)),
            Some((ErrorCode::ProviderError, false))
        );
    }

    #[test]
    fn registers_with_a_key_unless_disabled() {
        let with_key = |name: &str| (name == "MESHY_API_KEY").then(|| "k".to_owned());
        let without = |_: &str| None;
        let config = EngineConfig::default();
        let found = MeshyProvider::from_config(&config, &with_key);
        assert!(matches!(found, Ok(Some(_))));
        assert!(matches!(
            MeshyProvider::from_config(&config, &without),
            Ok(None)
        ));
        let disabled = EngineConfig::from_json(r#"{"providers":{"meshy":{"enabled":false}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            MeshyProvider::from_config(&disabled, &with_key),
            Ok(None)
        ));
    }
}
