//! Stability AI (REST v2beta): Stable Image Core, Ultra and SD 3.5
//! generation, and upscaling as the derived operation `upscale`.
//!
//! How an [`ImageSpec`] maps to the API (every call is multipart, with
//! `Accept: image/*` so the image comes back as bytes, streamed to staging):
//! - `width` × `height` picks `aspect_ratio`: the ratio must be one
//!   Stability makes (`1:1 16:9 21:9 2:3 3:2 4:5 5:4 9:16 9:21`, within 1%);
//!   the provider then picks the pixels (about one megapixel), so the asset
//!   records the real size, not the requested one;
//! - `format` is `output_format` (png default; SD 3.5 makes png or jpeg);
//! - `style` is `style_preset` (one of Stability's presets);
//! - `negative_prompt` and `seed` as is; `quality` is not a parameter (the
//!   model is the quality); `tileable` is refused (no preset promises a
//!   seamless texture);
//! - `count` is that many calls (one image each), seeds `seed`, `seed + 1`, ….
//!
//! Prices are credits per call at $0.01 a credit (providers.md §3.3): Core
//! 3, Ultra 8, SD 3.5 Large 6.5, Large Turbo 4, Medium 3.5, Flash 2.5;
//! upscale fast 2, conservative 40, creative 60. Failed calls are not billed.
//!
//! Moderation — a 403 `content_moderation` or a 200 whose `finish-reason`
//! is `CONTENT_FILTERED` — is `provider_rejected`; a 402 is a
//! `provider_error` that is not retried; a 429 waits 60 s unless told
//! otherwise (Stability locks an account out for 60 s).

use std::time::Duration;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, Call, CallInput, EngineConfig, Error, GenerateContext, Generation, ImageFormat,
    ImageSpec, InputRole, LogLevel, Media, ModelInfo, Money, Operation, PriceRule, Progress,
    Provider, Result, Spec, StagedOutput, UpscaleMode,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::http::{
    self, Auth, Env, ErrorResponse, HttpProvider, PollSchedule, Polled, ProviderEnv,
    ProviderSettings, StatusCode, multipart::Form,
};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "stability";

/// Where the key and base URL come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("STABILITY_API_KEY"),
    default_base_url: "https://api.stability.ai",
};

/// The upscale model (all three modes; the operation's `mode` picks one).
pub const UPSCALE_MODEL: &str = "upscale";

/// Micro-dollars per credit ($0.01).
const MICROS_PER_CREDIT: i64 = 10_000;

/// The aspect ratios Stability makes, as (width, height).
const ASPECT_RATIOS: [(u32, u32); 9] = [
    (1, 1),
    (16, 9),
    (21, 9),
    (2, 3),
    (3, 2),
    (4, 5),
    (5, 4),
    (9, 16),
    (9, 21),
];

/// Stability's style presets.
const STYLE_PRESETS: [&str; 17] = [
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
];

/// The 429 lock-out when Stability sends no `Retry-After`.
const RATE_LIMIT_LOCKOUT: Duration = Duration::from_secs(60);

/// How often a creative upscale is polled (the docs poll every 10 s).
const CREATIVE_POLL: Duration = Duration::from_secs(10);

/// One generation model: the endpoint it posts to and its price.
#[derive(Debug, Clone, Copy)]
struct ImageModel {
    id: &'static str,
    /// `/v2beta/stable-image/generate/<endpoint>`.
    endpoint: &'static str,
    /// The `model` field (SD 3.5 only).
    model_field: Option<&'static str>,
    /// Price in tenths of a credit (SD 3.5 Large is 6.5 credits).
    tenth_credits: i64,
    description: &'static str,
}

impl ImageModel {
    fn price(&self) -> Money {
        Money::from_micros(self.tenth_credits * MICROS_PER_CREDIT / 10)
    }

    fn writes(&self, format: ImageFormat) -> bool {
        self.model_field.is_none() || format != ImageFormat::Webp
    }
}

const IMAGE_MODELS: [ImageModel; 6] = [
    ImageModel {
        id: "stable-image-core",
        endpoint: "core",
        model_field: None,
        tenth_credits: 30,
        description: "Stable Image Core: fast, about 1 megapixel",
    },
    ImageModel {
        id: "stable-image-ultra",
        endpoint: "ultra",
        model_field: None,
        tenth_credits: 80,
        description: "Stable Image Ultra: highest quality, about 1 megapixel",
    },
    ImageModel {
        id: "sd3.5-large",
        endpoint: "sd3",
        model_field: Some("sd3.5-large"),
        tenth_credits: 65,
        description: "Stable Diffusion 3.5 Large",
    },
    ImageModel {
        id: "sd3.5-large-turbo",
        endpoint: "sd3",
        model_field: Some("sd3.5-large-turbo"),
        tenth_credits: 40,
        description: "Stable Diffusion 3.5 Large Turbo",
    },
    ImageModel {
        id: "sd3.5-medium",
        endpoint: "sd3",
        model_field: Some("sd3.5-medium"),
        tenth_credits: 35,
        description: "Stable Diffusion 3.5 Medium",
    },
    ImageModel {
        id: "sd3.5-flash",
        endpoint: "sd3",
        model_field: Some("sd3.5-flash"),
        tenth_credits: 25,
        description: "Stable Diffusion 3.5 Flash (cheapest)",
    },
];

fn image_model(id: &str) -> Option<&'static ImageModel> {
    IMAGE_MODELS.iter().find(|m| m.id == id)
}

/// The credits of an upscale mode.
fn upscale_credits(mode: UpscaleMode) -> i64 {
    match mode {
        UpscaleMode::Fast => 2,
        UpscaleMode::Conservative => 40,
        UpscaleMode::Creative => 60,
    }
}

fn upscale_price(mode: UpscaleMode) -> Money {
    Money::from_micros(upscale_credits(mode) * MICROS_PER_CREDIT)
}

/// Stable Image generation and upscaling.
pub struct StabilityProvider {
    http: HttpProvider,
    models: Vec<ModelInfo>,
    max_in_flight: Option<u32>,
    creative_poll: PollSchedule,
}

impl StabilityProvider {
    /// The provider when a key is configured (`providers.stability.api_key`
    /// or `STABILITY_API_KEY`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching `settings.base_url` with `settings.api_key`.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let key = settings.api_key.clone().ok_or_else(|| {
            Error::invalid("providers.stability.api_key", "Stability needs an API key")
        })?;
        Ok(Self {
            http: HttpProvider::new(settings, Auth::bearer(key))?.with_classifier(classify),
            models: model_infos(),
            max_in_flight: settings.max_in_flight,
            creative_poll: PollSchedule::constant(CREATIVE_POLL),
        })
    }

    /// Polls creative upscales on `schedule` instead of every 10 s.
    pub fn with_creative_poll(mut self, schedule: PollSchedule) -> Self {
        self.creative_poll = schedule;
        self
    }

    async fn generate_images(
        &self,
        model: &ImageModel,
        spec: &ImageSpec,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let count = spec.count.max(1);
        let mut outputs = Vec::with_capacity(usize::from(count));
        for index in 0..count {
            cx.check_canceled()?;
            let seed = spec.seed.map(|s| s.wrapping_add(u32::from(index)));
            let form = generation_form(model, spec, seed)?;
            let path = format!("/v2beta/stable-image/generate/{}", model.endpoint);
            // Each call is billed once it succeeds: the cost so far.
            let billed = model.price().times(u32::from(index) + 1);
            outputs.push(self.post_for_image(&path, form, billed, cx).await?);
            cx.progress(Progress::fraction(u64::from(index) + 1, u64::from(count)));
        }
        Ok(Generation {
            outputs,
            cost: Some(model.price().times(u32::from(count))),
        })
    }

    async fn upscale(
        &self,
        call: &Call,
        prompt: Option<&str>,
        mode: UpscaleMode,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let parent = call
            .input(InputRole::Parent)
            .ok_or_else(|| Error::Internal("an upscale call came without its parent".into()))?;
        let format = output_format_of(parent);
        let mut form = Form::new()
            .text("output_format", format.as_str())
            .part("image", image_part(parent).await?);
        if let Some(prompt) = prompt {
            form = form.text("prompt", prompt.to_owned());
        }
        let cost = upscale_price(mode);
        let output = match mode {
            UpscaleMode::Fast => {
                self.post_for_image("/v2beta/stable-image/upscale/fast", form, cost, cx)
                    .await?
            }
            UpscaleMode::Conservative => {
                let path = "/v2beta/stable-image/upscale/conservative";
                self.post_for_image(path, form, cost, cx).await?
            }
            UpscaleMode::Creative => self.start_creative(form, cx).await?,
        };
        cx.report_cost(cost);
        Ok(Generation {
            outputs: vec![output],
            cost: Some(cost),
        })
    }

    /// Starts a creative upscale, checkpoints its id, and waits for it.
    async fn start_creative(&self, form: Form, cx: &GenerateContext) -> Result<StagedOutput> {
        let request = self
            .http
            .post("/v2beta/stable-image/upscale/creative")
            .header("accept", "application/json")
            .multipart(form);
        let started: Started = self.http.send_json(request).await?;
        cx.log(
            LogLevel::Info,
            format!("creative upscale {} started", started.id),
        );
        cx.checkpoint(started.id.clone()).await?;
        self.await_result(&started.id, cx).await
    }

    /// Polls `results/{id}` until the image is there: 202 while running.
    async fn await_result(&self, id: &str, cx: &GenerateContext) -> Result<StagedOutput> {
        let path = format!("/v2beta/results/{id}");
        let response = http::poll_until(NAME, cx, &self.creative_poll, || async {
            let request = self.http.get(&path).header("accept", "image/*");
            let response = self.http.send(request).await?;
            Ok(if response.status() == StatusCode::ACCEPTED {
                Polled::Pending
            } else {
                Polled::Done(response)
            })
        })
        .await?;
        self.stage_image(response, None, cx).await
    }

    /// Posts a multipart form asking for image bytes, and stages them; the
    /// call's cost so far (`billed`) is due once it succeeded.
    async fn post_for_image(
        &self,
        path: &str,
        form: Form,
        billed: Money,
        cx: &GenerateContext,
    ) -> Result<StagedOutput> {
        let request = self
            .http
            .post(path)
            .header("accept", "image/*")
            .multipart(form);
        let response = self.http.send(request).await?;
        self.stage_image(response, Some(billed), cx).await
    }

    /// Refuses a filtered image, then streams the bytes to staging with
    /// the seed Stability used.
    /// `billed` is reported before the body streams: the call is paid for
    /// even if its download then fails.
    async fn stage_image(
        &self,
        response: http::Response,
        billed: Option<Money>,
        cx: &GenerateContext,
    ) -> Result<StagedOutput> {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if header("finish-reason").as_deref() == Some("CONTENT_FILTERED") {
            return Err(Error::Rejected {
                provider: NAME.to_owned(),
                reason: "the image was filtered by Stability's content moderation \
                         (finish-reason CONTENT_FILTERED)"
                    .into(),
            });
        }
        if let Some(billed) = billed {
            cx.report_cost(billed);
        }
        let seed = header("seed").and_then(|s| s.parse::<u64>().ok());
        let staged = self.http.stream_to_staging(response, cx).await?;
        Ok(match seed {
            Some(seed) => {
                let mut metadata = Map::new();
                metadata.insert("seed".into(), Value::from(seed));
                staged.with_metadata(metadata)
            }
            None => staged,
        })
    }
}

#[derive(Debug, Deserialize)]
struct Started {
    id: String,
}

/// Stability's error body names moderation; a 429 without `Retry-After`
/// waits out the 60 s lock-out.
fn classify(failure: &ErrorResponse) -> Option<Error> {
    let json = failure.json();
    let name = json
        .as_ref()
        .and_then(|j| j.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name == "content_moderation" {
        return Some(failure.rejected(failure.message()));
    }
    if failure.status() == StatusCode::TOO_MANY_REQUESTS {
        return Some(Error::RateLimited {
            provider: NAME.to_owned(),
            retry_after: Some(failure.retry_after().unwrap_or(RATE_LIMIT_LOCKOUT)),
        });
    }
    None
}

fn model_infos() -> Vec<ModelInfo> {
    let generation = IMAGE_MODELS.iter().map(|model| {
        ModelInfo::new(
            model.id,
            AssetKind::Image,
            PriceRule::PerOutput {
                micros: model.price(),
            },
            format!(
                "{}; size from the aspect ratio (1:1 16:9 21:9 2:3 3:2 4:5 5:4 9:16 9:21)",
                model.description
            ),
        )
    });
    let upscale = ModelInfo::new(
        UPSCALE_MODEL,
        AssetKind::Image,
        PriceRule::Table {
            note: format!(
                "per upscale: fast {}, conservative {}, creative {} (2, 40, 60 credits)",
                upscale_price(UpscaleMode::Fast),
                upscale_price(UpscaleMode::Conservative),
                upscale_price(UpscaleMode::Creative)
            ),
        },
        "Stable upscale: fast (4x), conservative or creative (to 4K; need a prompt)",
    )
    .performing("upscale");
    generation.chain(std::iter::once(upscale)).collect()
}

fn unknown_model(id: &str) -> Error {
    Error::invalid("route", format!("stability has no model {id:?}"))
}

#[async_trait]
impl Provider for StabilityProvider {
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
        if model != UPSCALE_MODEL && image_model(model).is_none() {
            return Err(unknown_model(model));
        }
        match (image_model(model), spec) {
            (None, Spec::Derive(derive)) => validate_upscale(&derive.operation),
            (Some(image_model), Spec::Image(image)) => validate_image(image_model, image),
            _ => Err(Error::invalid(
                "route",
                format!("stability model {model:?} cannot make {}", spec.kind()),
            )),
        }
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        match spec {
            Spec::Derive(derive) if model == UPSCALE_MODEL => match derive.operation {
                Operation::Upscale { mode, .. } => Ok(upscale_price(mode)),
                _ => Err(unknown_model(model)),
            },
            _ => {
                let model = image_model(model).ok_or_else(|| unknown_model(model))?;
                Ok(model.price().times(u32::from(spec.count())))
            }
        }
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        match &call.spec {
            Spec::Image(image) => {
                let model = image_model(&call.model).ok_or_else(|| unknown_model(&call.model))?;
                self.generate_images(model, image, cx).await
            }
            Spec::Derive(derive) => match &derive.operation {
                Operation::Upscale { prompt, mode } => {
                    self.upscale(call, prompt.as_deref(), *mode, cx).await
                }
                other => Err(Error::invalid(
                    "spec.operation",
                    format!("stability cannot {}", other.name()),
                )),
            },
            other => Err(Error::invalid(
                "spec.kind",
                format!("stability cannot make {}", other.kind()),
            )),
        }
    }

    /// A creative upscale whose id was checkpointed is polled again
    /// instead of paid for twice; anything else starts over.
    async fn resume(
        &self,
        call: &Call,
        checkpoint: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let creative = matches!(
            &call.spec,
            Spec::Derive(d) if matches!(d.operation, Operation::Upscale { mode: UpscaleMode::Creative, .. })
        );
        if !creative {
            return self.generate(call, cx).await;
        }
        cx.log(
            LogLevel::Info,
            format!("resuming creative upscale {checkpoint}"),
        );
        let output = self.await_result(checkpoint, cx).await?;
        let cost = upscale_price(UpscaleMode::Creative);
        cx.report_cost(cost);
        Ok(Generation {
            outputs: vec![output],
            cost: Some(cost),
        })
    }
}

fn validate_image(model: &ImageModel, image: &ImageSpec) -> Result<()> {
    aspect_ratio(image.width, image.height)?;
    if image.tileable {
        return Err(Error::invalid(
            "spec.tileable",
            "stability cannot promise a seamless texture",
        ));
    }
    if let Some(format) = image.format
        && !model.writes(format)
    {
        return Err(Error::invalid(
            "spec.format",
            format!("{} writes png or jpeg, not {}", model.id, format.as_str()),
        ));
    }
    if let Some(style) = image.style.as_deref()
        && !STYLE_PRESETS.contains(&style)
    {
        return Err(Error::invalid(
            "spec.style",
            format!(
                "{style:?} is not a Stability style preset ({})",
                STYLE_PRESETS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn validate_upscale(operation: &Operation) -> Result<()> {
    match operation {
        Operation::Upscale {
            prompt,
            mode: UpscaleMode::Conservative | UpscaleMode::Creative,
        } if prompt.as_deref().is_none_or(|p| p.trim().is_empty()) => Err(Error::invalid(
            "spec.operation.prompt",
            "conservative and creative upscales need a prompt describing the image",
        )),
        Operation::Upscale { .. } => Ok(()),
        other => Err(Error::invalid(
            "spec.operation",
            format!("the stability upscale model cannot {}", other.name()),
        )),
    }
}

/// The supported aspect ratio of `width` × `height` (within 1%), as
/// Stability spells it (`16:9`).
fn aspect_ratio(width: u32, height: u32) -> Result<String> {
    let wanted = f64::from(width) / f64::from(height.max(1));
    ASPECT_RATIOS
        .iter()
        .find(|(w, h)| {
            let ratio = f64::from(*w) / f64::from(*h);
            (wanted - ratio).abs() / ratio < 0.01
        })
        .map(|(w, h)| format!("{w}:{h}"))
        .ok_or_else(|| {
            Error::invalid(
                "spec.width",
                format!(
                    "{width}x{height} is not an aspect ratio Stability makes \
                     (1:1 16:9 21:9 2:3 3:2 4:5 5:4 9:16 9:21)"
                ),
            )
        })
}

/// The multipart form of one generation call.
fn generation_form(model: &ImageModel, spec: &ImageSpec, seed: Option<u32>) -> Result<Form> {
    let format = spec.format.unwrap_or(ImageFormat::Png);
    let mut form = Form::new()
        .text("prompt", spec.prompt.clone())
        .text("aspect_ratio", aspect_ratio(spec.width, spec.height)?)
        .text("output_format", format.as_str());
    if let Some(model) = model.model_field {
        form = form.text("model", model);
    }
    if let Some(negative) = spec
        .negative_prompt
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        form = form.text("negative_prompt", negative.to_owned());
    }
    if let Some(seed) = seed {
        // Stability's seeds run 0–4294967294, and 0 means random.
        form = form.text("seed", seed.min(u32::MAX - 1).to_string());
    }
    if let Some(style) = spec.style.as_deref() {
        form = form.text("style_preset", style.to_owned());
    }
    Ok(form)
}

/// An upscale keeps its parent's format.
fn output_format_of(parent: &CallInput) -> ImageFormat {
    match parent.asset.media {
        Media::Image { format, .. } => format,
        _ => ImageFormat::Png,
    }
}

async fn image_part(input: &CallInput) -> Result<http::multipart::Part> {
    let format = output_format_of(input);
    http::multipart::Part::file(&input.path)
        .await
        .map_err(|e| Error::storage(format!("cannot read {}", input.path.display()), e))?
        .file_name(format!("image.{}", format.extension()))
        .mime_str(format.mime())
        .map_err(|e| Error::Internal(format!("bad MIME type: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> StabilityProvider {
        let settings = ProviderSettings::new(
            NAME,
            "http://127.0.0.1:9",
            Some(gaia_core::Secret::new("sk-test")),
        );
        StabilityProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn upscale(mode: UpscaleMode, prompt: Option<&str>) -> Spec {
        Spec::Derive(gaia_core::DeriveSpec::new(
            gaia_core::AssetId::new(),
            Operation::Upscale {
                prompt: prompt.map(str::to_owned),
                mode,
            },
        ))
    }

    /// Every model's published price (providers.md §3.1–3.3), in dollars.
    #[test]
    fn prices_match_the_published_credits() {
        let provider = provider();
        let published = [
            ("stable-image-core", "$0.030000"),
            ("stable-image-ultra", "$0.080000"),
            ("sd3.5-large", "$0.065000"),
            ("sd3.5-large-turbo", "$0.040000"),
            ("sd3.5-medium", "$0.035000"),
            ("sd3.5-flash", "$0.025000"),
        ];
        for (model, dollars) in published {
            let one = provider.estimate(model, &Spec::Image(ImageSpec::new("x")));
            assert_eq!(one.map(|m| m.to_string()).ok().as_deref(), Some(dollars));
        }
        let three = provider.estimate(
            "stable-image-ultra",
            &Spec::Image(ImageSpec::new("x").count(3)),
        );
        assert_eq!(three.ok().map(Money::micros), Some(240_000));
        for (mode, dollars) in [
            (UpscaleMode::Fast, "$0.020000"),
            (UpscaleMode::Conservative, "$0.400000"),
            (UpscaleMode::Creative, "$0.600000"),
        ] {
            let price = provider.estimate(UPSCALE_MODEL, &upscale(mode, Some("a cat")));
            assert_eq!(price.map(|m| m.to_string()).ok().as_deref(), Some(dollars));
        }
        let listed = provider
            .models()
            .iter()
            .filter(|m| matches!(m.price, PriceRule::PerOutput { .. }))
            .count();
        assert_eq!(listed, published.len());
    }

    #[test]
    fn sizes_map_to_supported_aspect_ratios() {
        let cases = [
            ((1024, 1024), Some("1:1")),
            ((512, 512), Some("1:1")),
            ((1920, 1080), Some("16:9")),
            ((1536, 1024), Some("3:2")),
            ((1024, 1536), Some("2:3")),
            ((2520, 1080), Some("21:9")),
            ((2560, 1080), None),
            ((1080, 1350), Some("4:5")),
            ((1000, 563), Some("16:9")),
            ((1024, 768), None),
            ((100, 1000), None),
        ];
        for ((w, h), expected) in cases {
            assert_eq!(aspect_ratio(w, h).ok().as_deref(), expected, "{w}x{h}");
        }
    }

    #[test]
    fn specs_are_validated_by_field() {
        let provider = provider();
        let field = |model: &str, spec: Spec| match provider.validate(model, &spec) {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => format!("{other:?}"),
        };
        let mut webp = ImageSpec::new("x");
        webp.format = Some(ImageFormat::Webp);
        assert!(
            provider
                .validate("stable-image-core", &Spec::Image(webp.clone()))
                .is_ok()
        );
        assert_eq!(field("sd3.5-large", Spec::Image(webp)), "spec.format");
        assert_eq!(
            field(
                "stable-image-core",
                Spec::Image(ImageSpec::new("x").size(1024, 768))
            ),
            "spec.width"
        );
        assert_eq!(
            field(
                "stable-image-core",
                Spec::Image(ImageSpec::new("x").tileable(true))
            ),
            "spec.tileable"
        );
        let mut styled = ImageSpec::new("x");
        styled.style = Some("watercolor".into());
        assert_eq!(
            field("stable-image-core", Spec::Image(styled)),
            "spec.style"
        );
        assert_eq!(
            field(UPSCALE_MODEL, upscale(UpscaleMode::Creative, None)),
            "spec.operation.prompt"
        );
        assert!(
            provider
                .validate(UPSCALE_MODEL, &upscale(UpscaleMode::Fast, None))
                .is_ok()
        );
        assert_eq!(
            field("stable-image-core", upscale(UpscaleMode::Fast, None)),
            "route"
        );
    }
}
