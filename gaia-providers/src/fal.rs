//! fal.ai through its queue API: FLUX images and Kling video.
//!
//! A call submits the model's input to `POST {queue}/{endpoint}`, saves the
//! request id as the job's checkpoint, then polls
//! `GET {queue}/{app}/requests/{id}/status?logs=1` (0.5 s to 5 s) until the
//! request is `COMPLETED`, and reads `GET {queue}/{app}/requests/{id}`. The
//! status and result paths use the app id, the endpoint without its path
//! (`fal-ai/flux/dev` → `fal-ai/flux`). While queued the job logs its place
//! in the queue; while running, fal's new log lines; fal reports no
//! percentage, so progress is an estimate that never reaches 100 before the
//! result. A canceled job cancels its request (`PUT …/cancel`). A recovered
//! job polls the same request: it is paid once.
//!
//! Outputs (fal CDN URLs, kept for no promised time) are downloaded as soon
//! as the result is read. An image the safety checker flagged
//! (`has_nsfw_concepts`) is blacked out: the job is `provider_rejected`.
//! Cost: fal bills successful outputs only — images per megapixel of the
//! sizes returned, video per second — and it is reported once the result
//! is read.

mod api;
pub mod models;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use gaia_core::{
    Call, EngineConfig, Error, GenerateContext, Generation, ImageFormat, ImageSpec, InputRole,
    LogLevel, ModelInfo, Money, Provider, Result, Spec, VideoFormat, VideoSpec,
};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::http::{
    Auth, Env, ErrorResponse, HttpProvider, Method, PollSchedule, Polled, ProviderEnv,
    ProviderSettings, bad_shape, poll_until,
};
use crate::remote_task::{TransientFailures, data_uri, default_poll_schedule, estimated_progress};
use api::{Output, QueueStatus, State, Submitted};
use models::{FalModel, app_id};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "fal";

/// Where its key and base URL (the queue host) come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("FAL_KEY"),
    default_base_url: "https://queue.fal.run",
};

/// The largest reference image sent inline.
const MAX_REFERENCE_BYTES: u64 = 10 * 1024 * 1024;

/// How long canceling a request may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);

/// Progress estimates assume an image takes this long once running.
const EXPECTED_IMAGE_TIME: Duration = Duration::from_secs(5);

/// Progress estimates assume a video takes this long once running.
const EXPECTED_VIDEO_TIME: Duration = Duration::from_secs(120);

/// fal's queue.
pub struct FalProvider {
    http: HttpProvider,
    max_in_flight: Option<u32>,
    poll: PollSchedule,
    models: Vec<ModelInfo>,
}

impl FalProvider {
    /// The provider when a key is configured (`providers.fal.api_key` or
    /// `FAL_KEY`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching fal as `settings` say; its key is required.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let key = settings.api_key.clone().ok_or_else(|| {
            Error::invalid("providers.fal.api_key", "is required (or set FAL_KEY)")
        })?;
        let auth = Auth::Authorization { scheme: "Key", key };
        let models = models::CATALOG
            .iter()
            .map(|m| ModelInfo::new(m.id, m.kind, m.billing.price_rule(), m.description))
            .collect();
        Ok(Self {
            http: HttpProvider::new(settings, auth)?.with_classifier(classify),
            max_in_flight: settings.max_in_flight,
            poll: default_poll_schedule(),
            models,
        })
    }

    /// Polls requests on `schedule` instead of the default 0.5–5 s.
    pub fn with_poll_schedule(mut self, schedule: PollSchedule) -> Self {
        self.poll = schedule;
        self
    }

    async fn submit(&self, endpoint: &str, input: &Value) -> Result<String> {
        let response = self
            .http
            .send(self.http.post(&format!("/{endpoint}")).json(input))
            .await?;
        let submitted: Submitted = self.http.json(response).await?;
        Ok(submitted.request_id)
    }

    /// Follows a request to its result and downloads the outputs; a
    /// canceled job cancels the request.
    async fn follow(
        &self,
        model: &FalModel,
        spec: &Spec,
        id: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let app = app_id(model.id);
        match self.wait(model, app, id, cx).await {
            Ok(()) => self.finish(model, spec, app, id, cx).await,
            Err(Error::Canceled) => {
                // Only a canceled job ends the request; a job this process
                // merely stopped resumes it from the checkpoint.
                if cx.is_job_canceled() {
                    self.cancel(app, id, cx).await;
                }
                Err(Error::Canceled)
            }
            Err(error) => Err(error),
        }
    }

    async fn wait(
        &self,
        model: &FalModel,
        app: &str,
        id: &str,
        cx: &GenerateContext,
    ) -> Result<()> {
        let failures = &TransientFailures::default();
        let watch = &Mutex::new(Watch::default());
        let expected = match model.kind {
            gaia_core::AssetKind::Video => EXPECTED_VIDEO_TIME,
            _ => EXPECTED_IMAGE_TIME,
        };
        let path = format!("/{app}/requests/{id}/status?logs=1");
        let path = path.as_str();
        poll_until(NAME, cx, &self.poll, move || async move {
            let polled = match self.status(path).await {
                Ok(status) => {
                    observe(&status, expected, watch, cx);
                    Ok(match status.status {
                        State::InQueue | State::InProgress => Polled::Pending,
                        State::Completed | State::Failed | State::Canceled => Polled::Done(()),
                    })
                }
                Err(error) => Err(error),
            };
            failures.absorb(cx, polled)
        })
        .await
    }

    async fn status(&self, path: &str) -> Result<QueueStatus> {
        let response = self.http.send(self.http.get(path)).await?;
        self.http.json(response).await
    }

    /// Reads the result, reports its cost and downloads its files. A failed
    /// request's result is its error (FastAPI-style `detail`).
    async fn finish(
        &self,
        model: &FalModel,
        spec: &Spec,
        app: &str,
        id: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let response = self
            .http
            .send(self.http.get(&format!("/{app}/requests/{id}")))
            .await?;
        let output: Output = self.http.json(response).await?;
        if output.flagged() {
            return Err(Error::Rejected {
                provider: NAME.into(),
                reason: "the safety checker flagged the image (has_nsfw_concepts)".into(),
            });
        }
        let files = output.files();
        if files.is_empty() {
            let field = match model.kind {
                gaia_core::AssetKind::Video => "video",
                _ => "images",
            };
            return Err(bad_shape(NAME, field, "holds no output file"));
        }
        let cost = cost_of(model, spec, &output);
        cx.report_cost(cost);
        let mut outputs = Vec::with_capacity(files.len());
        for (index, file) in files.into_iter().enumerate() {
            cx.check_canceled()?;
            let staged = if file.url.starts_with("data:") {
                let field = format!("images[{index}].url");
                self.http.stage_base64(cx, &field, &file.url).await?
            } else {
                self.http.download_to_staging(&file.url, cx).await?
            };
            outputs.push(staged);
        }
        Ok(Generation {
            outputs,
            cost: Some(cost),
        })
    }

    /// Cancels a canceled job's request on fal, best effort and briefly.
    async fn cancel(&self, app: &str, id: &str, cx: &GenerateContext) {
        let request = self
            .http
            .request(Method::PUT, &format!("/{app}/requests/{id}/cancel"));
        match tokio::time::timeout(CANCEL_TIMEOUT, self.http.send(request)).await {
            Ok(Ok(_)) => cx.log(LogLevel::Info, format!("canceled fal request {id}")),
            Ok(Err(error)) => {
                cx.log(
                    LogLevel::Warn,
                    format!("could not cancel fal request {id}: {error}"),
                );
            }
            Err(_elapsed) => cx.log(
                LogLevel::Warn,
                format!("canceling fal request {id} took too long; it may still run"),
            ),
        }
    }

    /// The endpoint and the input of `call`.
    async fn request(&self, model: &FalModel, call: &Call) -> Result<(&'static str, Value)> {
        match &call.spec {
            Spec::Image(image) => Ok((model.id, image_input(image))),
            Spec::Video(video) => {
                let reference = call.input(InputRole::Reference);
                let mut input = video_input(video);
                match (reference, model.with_reference) {
                    (Some(reference), Some(endpoint)) => {
                        let mime = reference.asset.mime.clone();
                        let field = "spec.reference_asset_id";
                        let image = data_uri(reference, &mime, field, MAX_REFERENCE_BYTES).await?;
                        input["image_url"] = json!(image);
                        Ok((endpoint, input))
                    }
                    _ => Ok((model.id, input)),
                }
            }
            other => Err(unserved(model.id, other)),
        }
    }

    fn model(&self, id: &str) -> Result<&'static FalModel> {
        models::find(id)
            .ok_or_else(|| Error::invalid("route", format!("{NAME} has no model {id:?}")))
    }
}

#[async_trait]
impl Provider for FalProvider {
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
        let model = self.model(model)?;
        if spec.kind() != model.kind || matches!(spec, Spec::Derive(_)) {
            return Err(unserved(model.id, spec));
        }
        if spec.count() > model.max_outputs {
            return Err(Error::invalid(
                "spec.count",
                format!("{} makes at most {} per call", model.id, model.max_outputs),
            ));
        }
        match spec {
            Spec::Image(image) => check_image(image),
            Spec::Video(video) => check_video(video),
            _ => Ok(()),
        }
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        let model = self.model(model)?;
        Ok(match spec {
            Spec::Image(image) => {
                let sizes = vec![(image.width, image.height); usize::from(image.count)];
                model.billing.images(&sizes)
            }
            Spec::Video(video) => model.billing.video(video_seconds(video)),
            _ => Money::ZERO,
        })
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let model = self.model(&call.model)?;
        let (endpoint, input) = self.request(model, call).await?;
        let id = self.submit(endpoint, &input).await?;
        cx.log(
            LogLevel::Info,
            format!("submitted fal request {id} to {endpoint}"),
        );
        if let Err(error) = cx.checkpoint(id.clone()).await {
            // A request no checkpoint names would be paid for and lost.
            self.cancel(app_id(endpoint), &id, cx).await;
            return Err(error);
        }
        self.follow(model, &call.spec, &id, cx).await
    }

    async fn resume(
        &self,
        call: &Call,
        checkpoint: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        if !is_request_id(checkpoint) {
            cx.log(
                LogLevel::Warn,
                format!("the checkpoint {checkpoint:?} names no fal request; starting afresh"),
            );
            return self.generate(call, cx).await;
        }
        let model = self.model(&call.model)?;
        self.follow(model, &call.spec, checkpoint, cx).await
    }
}

/// What a poll loop remembers between polls.
#[derive(Debug, Default)]
struct Watch {
    logs_seen: usize,
    queue_position: Option<u32>,
    running_since: Option<Instant>,
    progress: gaia_core::Progress,
}

/// Reports a polled request's place in the queue (when it changes), its
/// new log lines, and an estimate of its progress once it runs.
fn observe(status: &QueueStatus, expected: Duration, watch: &Mutex<Watch>, cx: &GenerateContext) {
    let mut watch = watch.lock().unwrap_or_else(|e| e.into_inner());
    if status.status == State::InQueue && status.queue_position != watch.queue_position {
        watch.queue_position = status.queue_position;
        if let Some(position) = status.queue_position {
            cx.log(
                LogLevel::Info,
                format!("queued on fal at position {position}"),
            );
        }
    }
    let logs = status.logs.as_deref().unwrap_or_default();
    if logs.len() < watch.logs_seen {
        watch.logs_seen = 0;
    }
    for entry in &logs[watch.logs_seen..] {
        let level = match entry.level.as_deref() {
            Some("WARN" | "WARNING") => LogLevel::Warn,
            Some("ERROR") => LogLevel::Error,
            _ => LogLevel::Info,
        };
        cx.log(level, entry.message.trim());
    }
    watch.logs_seen = logs.len();
    if status.status != State::InProgress {
        return;
    }
    let since = *watch.running_since.get_or_insert_with(Instant::now);
    let progress = estimated_progress(since.elapsed(), expected);
    if progress > watch.progress {
        watch.progress = progress;
        cx.progress(progress);
    }
}

/// The input of a FLUX endpoint.
fn image_input(image: &ImageSpec) -> Value {
    let format = match image.format {
        Some(ImageFormat::Jpeg) => "jpeg",
        _ => "png",
    };
    let mut input = json!({
        "prompt": image.prompt,
        "image_size": {"width": image.width, "height": image.height},
        "num_images": image.count,
        "output_format": format,
        "enable_safety_checker": true,
    });
    if let Some(seed) = image.seed {
        input["seed"] = json!(seed);
    }
    input
}

/// The input of the Kling endpoints (the image-to-video one adds
/// `image_url`).
fn video_input(video: &VideoSpec) -> Value {
    let mut input = Map::new();
    input.insert("prompt".into(), json!(video.prompt));
    input.insert("duration".into(), json!(video_seconds(video).to_string()));
    input.insert(
        "aspect_ratio".into(),
        json!(models::video_aspect_ratio(video.width, video.height)),
    );
    Value::Object(input)
}

/// The video length asked for: 5 s unless 10 s is.
fn video_seconds(video: &VideoSpec) -> u32 {
    match video.duration_s {
        Some(d) if d > 5.0 => 10,
        _ => 5,
    }
}

/// What fal bills for a result: the images at the sizes returned (the
/// requested size for one without its size), or the video's seconds.
fn cost_of(model: &FalModel, spec: &Spec, output: &Output) -> Money {
    match spec {
        Spec::Image(image) => {
            let sizes: Vec<(u32, u32)> = output
                .images
                .iter()
                .map(|file| {
                    (
                        file.width.unwrap_or(image.width),
                        file.height.unwrap_or(image.height),
                    )
                })
                .collect();
            model.billing.images(&sizes)
        }
        Spec::Video(video) => model.billing.video(video_seconds(video)),
        _ => Money::ZERO,
    }
}

fn check_image(image: &ImageSpec) -> Result<()> {
    for (field, side) in [("spec.width", image.width), ("spec.height", image.height)] {
        if !models::IMAGE_SIDES.contains(&side) {
            return Err(Error::invalid(
                field,
                format!(
                    "{side} is not within {}-{} px",
                    models::IMAGE_SIDES.start(),
                    models::IMAGE_SIDES.end()
                ),
            ));
        }
    }
    if image.format == Some(ImageFormat::Webp) {
        return Err(Error::invalid(
            "spec.format",
            "FLUX on fal writes png or jpeg",
        ));
    }
    Ok(())
}

fn check_video(video: &VideoSpec) -> Result<()> {
    if let Some(duration) = video.duration_s
        && duration > 10.0
    {
        return Err(Error::invalid(
            "spec.duration_s",
            format!("Kling makes videos of {:?} s", models::VIDEO_SECONDS),
        ));
    }
    match video.format {
        None | Some(VideoFormat::Mp4) => Ok(()),
        Some(other) => Err(Error::invalid(
            "spec.format",
            format!("Kling writes mp4, not {}", other.as_str()),
        )),
    }
}

/// fal request ids are UUIDs.
fn is_request_id(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn unserved(model: &str, spec: &Spec) -> Error {
    Error::invalid(
        "route",
        format!(
            "{NAME} model {model:?} does not make a {} spec",
            spec.kind()
        ),
    )
}

/// fal's own error signals: a validation failure whose text is a content
/// filter's verdict is moderation.
fn classify(failure: &ErrorResponse) -> Option<Error> {
    let message = failure.message();
    let lower = message.to_ascii_lowercase();
    let moderation = ["nsfw", "content policy", "content_policy", "safety"]
        .iter()
        .any(|signal| lower.contains(signal));
    (matches!(failure.status().as_u16(), 400 | 403 | 422) && moderation)
        .then(|| failure.rejected(message))
}

#[cfg(test)]
mod tests {
    use gaia_core::{AssetKind, Secret};

    use super::*;

    fn provider() -> FalProvider {
        let settings =
            ProviderSettings::new(NAME, "http://127.0.0.1:9", Some(Secret::new("fal_test")));
        FalProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn field(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    fn video(duration: Option<f64>) -> VideoSpec {
        VideoSpec {
            prompt: "waves".into(),
            seed: None,
            count: 1,
            width: Some(720),
            height: Some(1280),
            duration_s: duration,
            format: None,
            reference_asset_id: None,
        }
    }

    #[test]
    fn estimates_follow_the_price_table() {
        let provider = provider();
        let square = Spec::from(ImageSpec::new("moss").size(1024, 1024).count(2));
        assert_eq!(
            provider.estimate(models::FLUX_DEV, &square).ok(),
            Some(Money::from_micros(50_000))
        );
        assert_eq!(
            provider.estimate(models::FLUX_SCHNELL, &square).ok(),
            Some(Money::from_micros(6_000))
        );
        assert_eq!(
            provider
                .estimate(models::KLING_VIDEO, &video(None).into())
                .ok(),
            Some(Money::from_micros(350_000))
        );
        assert_eq!(
            provider
                .estimate(models::KLING_VIDEO, &video(Some(8.0)).into())
                .ok(),
            Some(Money::from_micros(700_000))
        );
        let kinds: Vec<AssetKind> = provider.models().iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [AssetKind::Image, AssetKind::Image, AssetKind::Video]
        );
    }

    #[test]
    fn specs_fal_cannot_take_are_refused_by_field() {
        let provider = provider();
        let tiny = Spec::from(ImageSpec::new("moss").size(64, 512));
        assert_eq!(
            field(provider.validate(models::FLUX_DEV, &tiny)),
            "spec.width"
        );
        let many = Spec::from(ImageSpec::new("moss").size(512, 512).count(5));
        assert_eq!(
            field(provider.validate(models::FLUX_DEV, &many)),
            "spec.count"
        );
        assert_eq!(
            field(provider.validate(models::KLING_VIDEO, &video(Some(12.0)).into())),
            "spec.duration_s"
        );
        assert_eq!(field(provider.validate("fal-ai/other", &tiny)), "route");
        assert_eq!(
            field(provider.validate(models::KLING_VIDEO, &tiny)),
            "route"
        );
    }

    #[test]
    fn inputs_carry_the_spec() {
        let image = ImageSpec::new("moss").size(512, 768).seed(7).count(2);
        assert_eq!(
            image_input(&image),
            json!({"prompt": "moss", "image_size": {"width": 512, "height": 768},
                   "num_images": 2, "output_format": "png", "enable_safety_checker": true,
                   "seed": 7})
        );
        assert_eq!(
            video_input(&video(Some(10.0))),
            json!({"prompt": "waves", "duration": "10", "aspect_ratio": "9:16"})
        );
    }

    #[test]
    fn costs_use_the_returned_sizes() {
        let spec = Spec::from(ImageSpec::new("moss").size(1024, 1024));
        let output: Output = serde_json::from_value(json!({
            "images": [{"url": "u", "width": 512, "height": 512}, {"url": "v"}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let dev = models::find(models::FLUX_DEV).unwrap_or_else(|| panic!("no flux dev"));
        // A 512² image and one of the requested 1024²: a megapixel each.
        assert_eq!(cost_of(dev, &spec, &output).micros(), 50_000);
    }

    #[test]
    fn checkpoints_must_be_request_ids() {
        assert!(is_request_id("80e732af-660e-45cd-bd63-580e4f2a94cc"));
        assert!(!is_request_id("80e732af660e45cdbd63580e4f2a94cc"));
        assert!(!is_request_id("preview:80e732af-660e-45cd-bd63-580e4f2a94"));
    }

    #[test]
    fn registers_with_a_key_unless_disabled() {
        let with_key = |name: &str| (name == "FAL_KEY").then(|| "k".to_owned());
        let without = |_: &str| None;
        let config = EngineConfig::default();
        let found = FalProvider::from_config(&config, &with_key);
        assert!(matches!(found, Ok(Some(_))));
        assert!(matches!(
            FalProvider::from_config(&config, &without),
            Ok(None)
        ));
        let disabled = EngineConfig::from_json(r#"{"providers":{"fal":{"enabled":false}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            FalProvider::from_config(&disabled, &with_key),
            Ok(None)
        ));
    }
}
