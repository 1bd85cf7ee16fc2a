//! Replicate: any model by `owner/name` (an official model) or by version
//! (`owner/name:<64 hex>` or the bare version id), plus three curated ones:
//! FLUX.1 \[schnell\] images, MusicGen music and MiniMax video-01 video.
//!
//! A call creates a prediction, saves its id as the job's checkpoint, then
//! polls `GET /predictions/{id}` on a backing-off schedule (0.5 s to 5 s).
//! `Prefer: wait` is not used: it holds the create call open for up to a
//! minute before the id is known, and a crash then would pay twice. Progress
//! comes from the progress bars models print in their logs, else from the
//! time the prediction has been processing (never 100 before it succeeds);
//! other new log lines go to the job's log. A canceled job cancels its
//! prediction. Outputs (a URL, a list, or an object of URLs; `data:` URIs
//! too) are downloaded at once: Replicate deletes them an hour after an API
//! prediction.
//!
//! Cost: official models per output produced, community models per second
//! of `metrics.predict_time` on their hardware (see [`models`]), reported to
//! the engine as soon as the prediction ends, so that a failed or canceled
//! run that Replicate billed is recorded too. A crashed job's `resume` polls
//! the same prediction: it is paid once.

mod api;
pub mod models;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, AudioFormat, AudioMode, Call, EngineConfig, Error, GenerateContext, Generation,
    ImageFormat, InputRole, LogLevel, ModelInfo, Money, Progress, Provider, Result, Spec,
    StagedOutput, VideoFormat,
};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::http::{
    Auth, Env, ErrorResponse, HttpProvider, PollSchedule, Polled, ProviderEnv, ProviderSettings,
    bad_shape, poll_until,
};
use crate::remote_task::{
    LogTail, TransientFailures, data_uri, default_poll_schedule, estimated_progress,
    progress_bar_percent,
};
use api::{CreatePrediction, Prediction, Status, is_moderation};
use models::{Billing, InputStyle, ReplicateModel, Target};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "replicate";

/// Where its key and base URL come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("REPLICATE_API_TOKEN"),
    default_base_url: "https://api.replicate.com/v1",
};

/// The largest input image sent inline as a `data:` URI.
const MAX_INPUT_BYTES: u64 = 10 * 1024 * 1024;

/// How long canceling a prediction may take (the engine gives a canceled
/// call five seconds to clean up).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);

/// Replicate predictions, polled until done.
pub struct ReplicateProvider {
    http: HttpProvider,
    max_in_flight: Option<u32>,
    poll: PollSchedule,
    curated: Vec<ReplicateModel>,
    models: Vec<ModelInfo>,
}

impl ReplicateProvider {
    /// The provider when a key is configured (`providers.replicate.api_key` or
    /// `REPLICATE_API_TOKEN`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching Replicate as `settings` say; its key is
    /// required.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let key = settings.api_key.clone().ok_or_else(|| {
            Error::invalid(
                "providers.replicate.api_key",
                "is required (or set REPLICATE_API_TOKEN)",
            )
        })?;
        let http = HttpProvider::new(settings, Auth::bearer(key))?.with_classifier(classify);
        let (curated, models) = models::curated()
            .into_iter()
            .map(|(model, description)| {
                let info = ModelInfo::new(
                    &model.id,
                    model.kind,
                    model.billing.price_rule(),
                    description,
                );
                (model, info)
            })
            .unzip();
        Ok(Self {
            http,
            max_in_flight: settings.max_in_flight,
            poll: default_poll_schedule(),
            curated,
            models,
        })
    }

    /// Polls predictions on `schedule` instead of the default 0.5–5 s.
    pub fn with_poll_schedule(mut self, schedule: PollSchedule) -> Self {
        self.poll = schedule;
        self
    }

    /// The model `id` run for `kind`: a curated one, or any well-formed id.
    fn model(&self, id: &str, kind: AssetKind) -> Result<ReplicateModel> {
        match self.curated.iter().find(|model| model.id == id) {
            Some(model) if model.kind == kind => Ok(model.clone()),
            Some(model) => Err(Error::invalid(
                "route",
                format!("{NAME} model {id} makes {}, not {kind}", model.kind),
            )),
            None => ReplicateModel::open(id, kind),
        }
    }

    async fn create(
        &self,
        model: &ReplicateModel,
        input: Map<String, Value>,
    ) -> Result<Prediction> {
        let (path, version) = match &model.target {
            Target::Official { owner, name } => {
                (format!("/models/{owner}/{name}/predictions"), None)
            }
            Target::Version(version) => ("/predictions".to_owned(), Some(version.as_str())),
        };
        let body = CreatePrediction { version, input };
        let response = self.http.send(self.http.post(&path).json(&body)).await?;
        self.http.json(response).await
    }

    async fn fetch(&self, id: &str) -> Result<Prediction> {
        let response = self
            .http
            .send(self.http.get(&format!("/predictions/{id}")))
            .await?;
        self.http.json(response).await
    }

    /// Follows a prediction to its end and collects its outputs; a canceled
    /// job cancels the prediction.
    async fn follow(
        &self,
        model: &ReplicateModel,
        spec: &Spec,
        id: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        match self.wait(model, spec, id, cx).await {
            Ok(prediction) => self.finish(model, prediction, cx).await,
            Err(Error::Canceled) => {
                // Only a canceled job ends the prediction; a job this process
                // merely stopped resumes it from the checkpoint.
                if cx.is_job_canceled() {
                    self.cancel(model, id, cx).await;
                }
                Err(Error::Canceled)
            }
            Err(error) => Err(error),
        }
    }

    async fn wait(
        &self,
        model: &ReplicateModel,
        spec: &Spec,
        id: &str,
        cx: &GenerateContext,
    ) -> Result<Prediction> {
        let watch = &Mutex::new(Watch::default());
        let failures = &TransientFailures::default();
        let expected = model.expected_time(spec);
        poll_until(NAME, cx, &self.poll, move || async move {
            let polled = match self.fetch(id).await {
                Ok(prediction) => {
                    observe(&prediction, watch, expected, cx);
                    Ok(if prediction.status.is_terminal() {
                        Polled::Done(prediction)
                    } else {
                        Polled::Pending
                    })
                }
                Err(error) => Err(error),
            };
            failures.absorb(cx, polled)
        })
        .await
    }

    /// Reports what the prediction cost, then hands back its outputs or its
    /// failure.
    async fn finish(
        &self,
        model: &ReplicateModel,
        prediction: Prediction,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let cost = charged(model.billing, &prediction);
        if let Some(cost) = cost {
            cx.report_cost(cost);
        }
        match prediction.status {
            Status::Succeeded => {
                let outputs = self.download(&prediction, cx).await?;
                Ok(Generation { outputs, cost })
            }
            Status::Failed if is_moderation(&prediction.error_text()) => Err(Error::Rejected {
                provider: NAME.into(),
                reason: prediction.error_text(),
            }),
            Status::Failed => Err(fatal(format!(
                "prediction {} failed: {}",
                prediction.id,
                prediction.error_text()
            ))),
            Status::Canceled => Err(fatal(format!(
                "prediction {} was canceled on Replicate",
                prediction.id
            ))),
            Status::Aborted => Err(fatal(format!(
                "prediction {} was aborted: its deadline passed before it started",
                prediction.id
            ))),
            Status::Starting | Status::Processing => Err(Error::Internal(format!(
                "prediction {} finished while still running",
                prediction.id
            ))),
        }
    }

    async fn download(
        &self,
        prediction: &Prediction,
        cx: &GenerateContext,
    ) -> Result<Vec<StagedOutput>> {
        let files = prediction.output_files();
        if files.is_empty() {
            return Err(bad_shape(NAME, "output", "holds no output file URL"));
        }
        let mut outputs = Vec::with_capacity(files.len());
        for (index, file) in files.into_iter().enumerate() {
            cx.check_canceled()?;
            let staged = if file.starts_with("data:") {
                let field = format!("output[{index}]");
                self.http.stage_base64(cx, &field, file).await?
            } else {
                self.http.download_to_staging(file, cx).await?
            };
            outputs.push(staged);
        }
        Ok(outputs)
    }

    /// Cancels the prediction on Replicate, best effort and briefly; a
    /// time-billed model's seconds so far are reported.
    async fn cancel(&self, model: &ReplicateModel, id: &str, cx: &GenerateContext) {
        let request = self.http.post(&format!("/predictions/{id}/cancel"));
        let canceled = async {
            let response = self.http.send(request).await?;
            self.http.json::<Prediction>(response).await
        };
        match tokio::time::timeout(CANCEL_TIMEOUT, canceled).await {
            Ok(Ok(prediction)) => {
                if let Some(cost) = charged(model.billing, &prediction) {
                    cx.report_cost(cost);
                }
                cx.log(
                    LogLevel::Info,
                    format!("canceled prediction {id} on Replicate"),
                );
            }
            Ok(Err(error)) => {
                cx.log(
                    LogLevel::Warn,
                    format!("could not cancel prediction {id}: {error}"),
                );
            }
            Err(_elapsed) => cx.log(
                LogLevel::Warn,
                format!("canceling prediction {id} took too long; it may still run"),
            ),
        }
    }

    /// The prediction's input for `call` on `model`.
    async fn input(&self, model: &ReplicateModel, call: &Call) -> Result<Map<String, Value>> {
        let spec = &call.spec;
        let mut input = Map::new();
        input.insert("prompt".into(), json!(spec.prompt()));
        if let Some(seed) = spec.seed() {
            input.insert("seed".into(), json!(seed));
        }
        match (model.input, spec) {
            (InputStyle::FluxSchnell, Spec::Image(image)) => {
                let ratio = models::nearest_aspect_ratio(image.width, image.height);
                input.insert("aspect_ratio".into(), json!(ratio));
                input.insert("num_outputs".into(), json!(image.count));
                input.insert("output_format".into(), json!(flux_format(image.format)));
                input.insert("go_fast".into(), json!(true));
            }
            (InputStyle::MusicGen, Spec::Audio(audio)) => {
                let seconds = models::music_seconds(audio.duration_s);
                input.insert("duration".into(), json!(seconds));
                input.insert("model_version".into(), json!("stereo-large"));
                let format = audio.format.unwrap_or(AudioFormat::Wav).as_str();
                input.insert("output_format".into(), json!(format));
                input.insert("normalization_strategy".into(), json!("peak"));
            }
            (InputStyle::MinimaxVideo, Spec::Video(_)) => {
                input.insert("prompt_optimizer".into(), json!(true));
                if let Some(image) = self.reference(call).await? {
                    input.insert("first_frame_image".into(), json!(image));
                }
            }
            (InputStyle::Generic, Spec::Image(image)) => {
                input.insert("width".into(), json!(image.width));
                input.insert("height".into(), json!(image.height));
                input.insert("num_outputs".into(), json!(image.count));
            }
            (InputStyle::Generic, Spec::Audio(audio)) => {
                if let Some(duration) = audio.duration_s {
                    input.insert("duration".into(), json!(duration));
                }
            }
            (InputStyle::Generic, Spec::Video(video)) => {
                for (key, value) in [("width", video.width), ("height", video.height)] {
                    if let Some(value) = value {
                        input.insert(key.into(), json!(value));
                    }
                }
                if let Some(duration) = video.duration_s {
                    input.insert("duration".into(), json!(duration));
                }
                if let Some(image) = self.reference(call).await? {
                    input.insert("image".into(), json!(image));
                }
            }
            _ => {}
        }
        Ok(input)
    }

    /// The reference image as a `data:` URI, when the call has one.
    async fn reference(&self, call: &Call) -> Result<Option<String>> {
        match call.input(InputRole::Reference) {
            Some(reference) => {
                let mime = reference.asset.mime.clone();
                let field = "spec.reference_asset_id";
                data_uri(reference, &mime, field, MAX_INPUT_BYTES)
                    .await
                    .map(Some)
            }
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Provider for ReplicateProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    fn open_model(&self, id: &str, kind: AssetKind) -> Option<ModelInfo> {
        if kind == AssetKind::Document {
            return None;
        }
        let model = self.model(id, kind).ok()?;
        Some(ModelInfo::new(
            id,
            kind,
            model.billing.price_rule(),
            format!(
                "a Replicate model run by id; priced per second of predict_time at the {} rate",
                models::OPEN_MODEL_HARDWARE.sku()
            ),
        ))
    }

    fn validate(&self, model: &str, spec: &Spec) -> Result<()> {
        let model = self.model(model, spec.kind())?;
        check_spec(&model, spec)
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        Ok(self.model(model, spec.kind())?.estimate(spec))
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        let model = self.model(&call.model, call.spec.kind())?;
        check_spec(&model, &call.spec)?;
        let input = self.input(&model, call).await?;
        let prediction = self.create(&model, input).await?;
        cx.log(
            LogLevel::Info,
            format!("created prediction {} of {}", prediction.id, model.id),
        );
        if let Err(error) = cx.checkpoint(prediction.id.clone()).await {
            // A prediction no checkpoint names would be paid for and lost.
            self.cancel(&model, &prediction.id, cx).await;
            return Err(error);
        }
        self.follow(&model, &call.spec, &prediction.id, cx).await
    }

    async fn resume(
        &self,
        call: &Call,
        checkpoint: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        if !is_prediction_id(checkpoint) {
            cx.log(
                LogLevel::Warn,
                format!("the checkpoint {checkpoint:?} names no prediction; starting afresh"),
            );
            return self.generate(call, cx).await;
        }
        let model = self.model(&call.model, call.spec.kind())?;
        self.follow(&model, &call.spec, checkpoint, cx).await
    }
}

/// What a poll loop remembers between polls.
#[derive(Debug, Default)]
struct Watch {
    tail: LogTail,
    processing_since: Option<Instant>,
    progress: Progress,
}

/// Reports a polled prediction's new log lines and its progress: a
/// progress bar's percentage when the model prints one, else an estimate
/// from the time it has been processing. Progress never goes back.
fn observe(
    prediction: &Prediction,
    watch: &Mutex<Watch>,
    expected: Duration,
    cx: &GenerateContext,
) {
    let mut watch = watch.lock().unwrap_or_else(|e| e.into_inner());
    let log = prediction.logs.as_deref().unwrap_or_default();
    let lines = if prediction.status.is_terminal() {
        watch.tail.finish(log)
    } else {
        watch.tail.new_lines(log)
    };
    let mut bar = None;
    for line in lines {
        match progress_bar_percent(line) {
            Some(percent) => bar = Some(percent),
            None => cx.log(LogLevel::Info, line),
        }
    }
    if prediction.status != Status::Processing {
        return;
    }
    let since = *watch.processing_since.get_or_insert_with(Instant::now);
    let progress = match bar {
        // 100% of one bar is not the end of the prediction.
        Some(percent) => Progress::percent(u32::from(percent.min(99))),
        None => estimated_progress(since.elapsed(), expected),
    };
    if progress > watch.progress {
        watch.progress = progress;
        cx.progress(progress);
    }
}

/// What Replicate charged for a prediction that ended: a time-billed model
/// its `predict_time` whatever the outcome (an aborted one never ran); an
/// official model its outputs, only when it succeeded.
fn charged(billing: Billing, prediction: &Prediction) -> Option<Money> {
    match (billing, prediction.status) {
        (_, Status::Aborted) => None,
        (Billing::PerSecond(_), _) => billing.cost(0, prediction.predict_time()),
        (Billing::PerOutput(_), Status::Succeeded) => {
            billing.cost(prediction.output_files().len(), None)
        }
        (Billing::PerOutput(_), _) => None,
    }
}

/// Checks that `model` can make `spec`.
fn check_spec(model: &ReplicateModel, spec: &Spec) -> Result<()> {
    if let Spec::Derive(derive) = spec {
        return Err(Error::invalid(
            "spec.operation",
            format!(
                "{NAME} model {} does not perform {}",
                model.id,
                derive.operation.name()
            ),
        ));
    }
    if spec.count() > model.max_outputs {
        return Err(Error::invalid(
            "spec.count",
            format!("{} makes at most {} per call", model.id, model.max_outputs),
        ));
    }
    match (model.input, spec) {
        (InputStyle::MusicGen, Spec::Audio(audio)) => check_music(audio),
        (InputStyle::MinimaxVideo, Spec::Video(video)) => check_minimax(video),
        (InputStyle::FluxSchnell, _) | (InputStyle::Generic, _) => Ok(()),
        _ => Err(Error::invalid(
            "route",
            format!(
                "{NAME} model {} makes {}, not {}",
                model.id,
                model.kind,
                spec.kind()
            ),
        )),
    }
}

fn check_music(audio: &gaia_core::AudioSpec) -> Result<()> {
    if audio.mode == AudioMode::Speech {
        return Err(Error::invalid(
            "spec.mode",
            "MusicGen makes music, not speech",
        ));
    }
    if let Some(duration) = audio.duration_s
        && duration > models::MUSIC_MAX_SECONDS
    {
        return Err(Error::invalid(
            "spec.duration_s",
            format!("MusicGen makes at most {} s", models::MUSIC_MAX_SECONDS),
        ));
    }
    match audio.format {
        None | Some(AudioFormat::Wav | AudioFormat::Mp3) => Ok(()),
        Some(other) => Err(Error::invalid(
            "spec.format",
            format!("MusicGen writes wav or mp3, not {}", other.as_str()),
        )),
    }
}

fn check_minimax(video: &gaia_core::VideoSpec) -> Result<()> {
    if video.duration_s.is_some_and(|d| d > 6.0) {
        return Err(Error::invalid(
            "spec.duration_s",
            "video-01 makes 6-second videos",
        ));
    }
    if matches!((video.width, video.height), (Some(w), Some(h)) if (w, h) != (1280, 720)) {
        return Err(Error::invalid(
            "spec.width",
            "video-01 makes 1280x720 videos",
        ));
    }
    match video.format {
        None | Some(VideoFormat::Mp4) => Ok(()),
        Some(other) => Err(Error::invalid(
            "spec.format",
            format!("video-01 writes mp4, not {}", other.as_str()),
        )),
    }
}

/// FLUX's name for an image format (PNG unless asked otherwise: lossless
/// suits game textures).
fn flux_format(format: Option<ImageFormat>) -> &'static str {
    match format {
        None | Some(ImageFormat::Png) => "png",
        Some(ImageFormat::Jpeg) => "jpg",
        Some(ImageFormat::Webp) => "webp",
    }
}

/// Prediction ids are short lowercase alphanumerics; anything else in a
/// checkpoint was not written by this provider.
fn is_prediction_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn fatal(message: String) -> Error {
    Error::Provider {
        provider: NAME.into(),
        message,
        retryable: false,
        retry_after: None,
    }
}

/// Replicate's own error signals: a 429 without `Retry-After` says in its
/// text when the limit resets (`… resets in ~30s.`).
fn classify(failure: &ErrorResponse) -> Option<Error> {
    if failure.status().as_u16() != 429 || failure.retry_after().is_some() {
        return None;
    }
    Some(Error::RateLimited {
        provider: NAME.into(),
        retry_after: throttle_wait(&failure.message()),
    })
}

/// `Request was throttled. Your rate limit resets in ~30s.` → 30 s.
fn throttle_wait(message: &str) -> Option<Duration> {
    let (_, after) = message.split_once("resets in")?;
    let digits: String = after
        .trim_start_matches([' ', '~'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use gaia_core::{AudioSpec, ImageSpec, Secret, VideoSpec};

    use super::*;

    fn provider() -> ReplicateProvider {
        let settings =
            ProviderSettings::new(NAME, "http://127.0.0.1:9", Some(Secret::new("r8_test")));
        ReplicateProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn field(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    fn video(width: Option<u32>, duration: Option<f64>) -> Spec {
        VideoSpec {
            prompt: "waves".into(),
            seed: None,
            count: 1,
            width,
            height: width.map(|_| 720),
            duration_s: duration,
            format: None,
            reference_asset_id: None,
        }
        .into()
    }

    #[test]
    fn curated_models_are_listed_by_kind() {
        let provider = provider();
        let kinds: Vec<(&str, AssetKind)> = provider
            .models()
            .iter()
            .map(|m| (m.id.as_str(), m.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (models::FLUX_SCHNELL, AssetKind::Image),
                (models::MUSICGEN, AssetKind::Audio),
                (models::MINIMAX_VIDEO, AssetKind::Video),
            ]
        );
    }

    #[test]
    fn any_well_formed_id_opens_for_a_media_kind() {
        let provider = provider();
        let open = provider.open_model("stability-ai/sdxl", AssetKind::Image);
        assert_eq!(open.as_ref().map(|m| m.kind), Some(AssetKind::Image));
        assert!(
            provider
                .open_model("stability-ai", AssetKind::Image)
                .is_none()
        );
        assert!(provider.open_model("a/b", AssetKind::Document).is_none());
        // A curated id opens only for the kind it makes.
        assert!(
            provider
                .open_model(models::MUSICGEN, AssetKind::Image)
                .is_none()
        );
        let spec = Spec::from(ImageSpec::new("moss"));
        assert_eq!(field(provider.validate("not a model", &spec)), "route");
        assert_eq!(field(provider.validate(models::MUSICGEN, &spec)), "route");
    }

    #[test]
    fn specs_a_model_cannot_take_are_refused_by_field() {
        let provider = provider();
        let many = Spec::from(ImageSpec::new("moss").count(5));
        assert_eq!(
            field(provider.validate(models::FLUX_SCHNELL, &many)),
            "spec.count"
        );
        let mut speech = AudioSpec::new("hello");
        speech.mode = AudioMode::Speech;
        assert_eq!(
            field(provider.validate(models::MUSICGEN, &speech.into())),
            "spec.mode"
        );
        let mut long = AudioSpec::new("drums");
        long.mode = AudioMode::Music;
        long.duration_s = Some(31.0);
        assert_eq!(
            field(provider.validate(models::MUSICGEN, &long.clone().into())),
            "spec.duration_s"
        );
        long.duration_s = Some(12.0);
        long.format = Some(AudioFormat::Ogg);
        assert_eq!(
            field(provider.validate(models::MUSICGEN, &long.into())),
            "spec.format"
        );
        assert_eq!(
            field(provider.validate(models::MINIMAX_VIDEO, &video(None, Some(10.0)))),
            "spec.duration_s"
        );
        assert_eq!(
            field(provider.validate(models::MINIMAX_VIDEO, &video(Some(640), None))),
            "spec.width"
        );
        assert!(
            provider
                .validate(models::MINIMAX_VIDEO, &video(Some(1280), Some(6.0)))
                .is_ok()
        );
    }

    #[test]
    fn a_failed_time_billed_run_still_costs_its_seconds() {
        let prediction = |status: &str| -> Prediction {
            serde_json::from_value(json!({"id": "p", "status": status,
                "output": ["https://x/a.png", "https://x/b.png"],
                "metrics": {"predict_time": 2.0}}))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let timed = Billing::PerSecond(models::Hardware::A100Large);
        let per_image = Billing::PerOutput(Money::from_micros(3_000));
        assert_eq!(
            charged(timed, &prediction("failed")),
            Some(Money::from_micros(2_800))
        );
        assert_eq!(
            charged(timed, &prediction("canceled")),
            Some(Money::from_micros(2_800))
        );
        assert_eq!(charged(timed, &prediction("aborted")), None);
        assert_eq!(
            charged(per_image, &prediction("succeeded")),
            Some(Money::from_micros(6_000))
        );
        assert_eq!(charged(per_image, &prediction("failed")), None);
    }

    #[test]
    fn throttle_messages_say_when_to_retry() {
        assert_eq!(
            throttle_wait("Request was throttled. Your rate limit resets in ~30s."),
            Some(Duration::from_secs(30))
        );
        assert_eq!(throttle_wait("Request was throttled."), None);
    }

    #[test]
    fn checkpoints_must_be_prediction_ids() {
        assert!(is_prediction_id("ufawqhfynnddngldkgtslldrkq"));
        assert!(!is_prediction_id(""));
        assert!(!is_prediction_id("../predictions"));
        assert!(!is_prediction_id("preview:abc"));
    }

    #[test]
    fn image_formats_use_flux_names() {
        assert_eq!(flux_format(None), "png");
        assert_eq!(flux_format(Some(ImageFormat::Jpeg)), "jpg");
        assert_eq!(flux_format(Some(ImageFormat::Webp)), "webp");
    }

    #[test]
    fn registers_with_a_key_unless_disabled() {
        let with_key = |name: &str| (name == "REPLICATE_API_TOKEN").then(|| "k".to_owned());
        let without = |_: &str| None;
        let config = EngineConfig::default();
        let found = ReplicateProvider::from_config(&config, &with_key);
        assert!(matches!(found, Ok(Some(_))));
        assert!(matches!(
            ReplicateProvider::from_config(&config, &without),
            Ok(None)
        ));
        let disabled = EngineConfig::from_json(r#"{"providers":{"replicate":{"enabled":false}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ReplicateProvider::from_config(&disabled, &with_key),
            Ok(None)
        ));
    }
}
