//! OpenAI: GPT image generation and edits (`/v1/images/generations`,
//! `/v1/images/edits`), and the text embedder.
//!
//! How an [`ImageSpec`] maps to the API:
//! - `width` × `height` must be `1024x1024`, `1536x1024` or `1024x1536`
//!   (sent as `size`; OpenAI's `auto` is used for edits only, where the
//!   output follows the parent's size);
//! - `quality` low / medium / high as is; absent is OpenAI's `auto`
//!   (estimated at `high`, the most it can cost);
//! - `format` is `output_format` (png by default);
//! - `style: "transparent"` or `"opaque"` is `background` (transparent needs
//!   png or webp); any other style is refused, as is `tileable` (GPT image
//!   cannot promise a seamless texture);
//! - `negative_prompt` is appended to the prompt as `Avoid: …` (the API has
//!   no such field); `seed` is ignored (the API has none);
//! - `count` is `n`. Outputs come back as base64 (`b64_json`), decoded to
//!   staging a chunk at a time.
//!
//! Prices: the estimate is the published per-image price (size × quality)
//! times `n`; the real cost is the response's `usage` tokens at the
//! published per-million rates, rounded up once. Edits are estimated at the
//! highest output price plus `prices::EDIT_INPUT_IMAGE_TOKENS` input
//! image tokens.
//!
//! Errors: `moderation_blocked` / `content_policy_violation` are
//! `provider_rejected`; `insufficient_quota` (and a hard billing limit) a
//! `provider_error` that is not retried; the rest follow the shared
//! mapping in [`crate::http`].

mod embedder;
mod prices;

pub use embedder::OpenAiEmbedder;

use std::borrow::Cow;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, Call, CallInput, EngineConfig, Error, GenerateContext, Generation, ImageFormat,
    ImageSpec, InputRole, LogLevel, Media, ModelInfo, Money, Operation, PriceRule, Progress,
    Provider, Quality, Result, Spec, StagedOutput,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::{self, Auth, Env, ErrorResponse, HttpProvider, ProviderEnv, ProviderSettings};
use prices::{EDIT_INPUT_IMAGE_TOKENS, ImageModel, Usage, image_model};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "openai";

/// Where the key and base URL come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("OPENAI_API_KEY"),
    default_base_url: "https://api.openai.com/v1",
};

/// The suffix of the edit models' ids (`gpt-image-1.5-edit`): an edit runs
/// the same API model as generation, but is a model of its own to the
/// router (it serves `Operation::Edit` derivations).
pub const EDIT_SUFFIX: &str = "-edit";

/// The sizes GPT image models make (besides `auto`).
const SIZES: [(u32, u32); 3] = [(1024, 1024), (1536, 1024), (1024, 1536)];

/// GPT image generation and edits.
pub struct OpenAiProvider {
    http: HttpProvider,
    models: Vec<ModelInfo>,
    max_in_flight: Option<u32>,
}

impl OpenAiProvider {
    /// The provider when a key is configured (`providers.openai.api_key` or
    /// `OPENAI_API_KEY`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching `settings.base_url` with `settings.api_key`.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        Ok(Self {
            http: connection(settings)?,
            models: model_infos(),
            max_in_flight: settings.max_in_flight,
        })
    }

    async fn generate_images(
        &self,
        model: &ImageModel,
        spec: &ImageSpec,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let body = GenerationRequest::of(model.id, spec);
        let request = self.http.post("/images/generations").json(&body);
        cx.progress(Progress::percent(5));
        let response = self.http.send(request).await?;
        self.stage_images(model, response, spec.count, cx).await
    }

    async fn edit(
        &self,
        model: &ImageModel,
        call: &Call,
        prompt: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let parent = call
            .input(InputRole::Parent)
            .ok_or_else(|| Error::Internal("an edit call came without its parent image".into()))?;
        let (size, format) = edit_size_and_format(parent);
        let mut form = http::multipart::Form::new()
            .text("model", model.id)
            .text("prompt", prompt.to_owned())
            .text("n", "1")
            .text("size", size)
            .text("output_format", format.as_str())
            .part("image[]", file_part(parent, "image").await?);
        if let Some(mask) = call.input(InputRole::Mask) {
            form = form.part("mask", file_part(mask, "mask").await?);
        }
        cx.progress(Progress::percent(5));
        let request = self.http.post("/images/edits").multipart(form);
        let response = self.http.send(request).await?;
        self.stage_images(model, response, 1, cx).await
    }

    /// Decodes every `b64_json` of an images response to staging; the cost
    /// comes from its `usage`.
    async fn stage_images(
        &self,
        model: &ImageModel,
        response: http::Response,
        requested: u8,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let bytes = self.http.bytes(response).await?;
        let parsed: ImagesResponse<'_> = http::parse_json(NAME, &bytes)?;
        if parsed.data.is_empty() {
            return Err(http::bad_shape(NAME, "data", "is empty"));
        }
        if parsed.data.len() < usize::from(requested) {
            cx.log(
                LogLevel::Warn,
                format!(
                    "asked for {requested} images, OpenAI returned {}",
                    parsed.data.len()
                ),
            );
        }
        let cost = parsed.usage.as_ref().map(|usage| model.rates.cost(usage));
        if let Some(cost) = cost {
            cx.report_cost(cost);
        }
        let total = parsed.data.len() as u64;
        let mut outputs = Vec::with_capacity(parsed.data.len());
        for (index, image) in parsed.data.iter().enumerate() {
            let field = format!("data[{index}].b64_json");
            let b64 = image
                .b64_json
                .as_deref()
                .ok_or_else(|| http::bad_shape(NAME, &field, "is missing"))?;
            let staged = self.http.stage_base64(cx, &field, b64).await?;
            outputs.push(with_revised_prompt(staged, image.revised_prompt.as_deref()));
            cx.progress(Progress::fraction(index as u64 + 1, total));
        }
        Ok(Generation { outputs, cost })
    }
}

/// The connection: bearer key, OpenAI's error bodies read first.
fn connection(settings: &ProviderSettings) -> Result<HttpProvider> {
    let key = settings
        .api_key
        .clone()
        .ok_or_else(|| Error::invalid("providers.openai.api_key", "OpenAI needs an API key"))?;
    Ok(HttpProvider::new(settings, Auth::bearer(key))?.with_classifier(classify))
}

/// OpenAI's error codes: moderation is `provider_rejected`, exhausted
/// credit a `provider_error` that is not retried (it comes as a 429 too).
fn classify(failure: &ErrorResponse) -> Option<Error> {
    let json = failure.json()?;
    let field = |name: &str| {
        json.pointer(&format!("/error/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (code, kind) = (field("code"), field("type"));
    match (code.as_str(), kind.as_str()) {
        ("moderation_blocked" | "content_policy_violation", _) => {
            Some(failure.rejected(failure.message()))
        }
        ("insufficient_quota" | "billing_hard_limit_reached", _) | (_, "insufficient_quota") => {
            Some(failure.no_credit())
        }
        _ => None,
    }
}

fn model_infos() -> Vec<ModelInfo> {
    let generation = prices::IMAGE_MODELS.iter().map(|model| {
        ModelInfo::new(
            model.id,
            AssetKind::Image,
            PriceRule::Table {
                note: model.price_note(),
            },
            format!(
                "{}: 1024x1024, 1536x1024 or 1024x1536; png, jpeg or webp; transparent background",
                model.description
            ),
        )
    });
    let edits = prices::IMAGE_MODELS.iter().map(|model| {
        ModelInfo::new(
            format!("{}{EDIT_SUFFIX}", model.id),
            AssetKind::Image,
            PriceRule::Table {
                note: format!(
                    "as {} plus the input image's tokens; estimated at the highest output price",
                    model.id
                ),
            },
            format!(
                "{} edit: an image changed by a prompt, optionally inside a mask",
                model.description
            ),
        )
        .performing("edit")
    });
    generation.chain(edits).collect()
}

/// `Some((model, true))` for an edit model id, `Some((model, false))` for
/// a generation one.
fn resolve(id: &str) -> Option<(&'static ImageModel, bool)> {
    match id.strip_suffix(EDIT_SUFFIX) {
        Some(base) => image_model(base).map(|m| (m, true)),
        None => image_model(id).map(|m| (m, false)),
    }
}

fn unknown_model(id: &str) -> Error {
    Error::invalid("route", format!("openai has no model {id:?}"))
}

#[async_trait]
impl Provider for OpenAiProvider {
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
        match (resolve(model), spec) {
            (None, _) => Err(unknown_model(model)),
            (Some((_, false)), Spec::Image(image)) => validate_image(model, image),
            (Some((_, true)), Spec::Derive(derive)) => match &derive.operation {
                Operation::Edit { prompt, .. } if prompt.trim().is_empty() => Err(Error::invalid(
                    "spec.operation.prompt",
                    "an edit needs a prompt",
                )),
                Operation::Edit { .. } => Ok(()),
                other => Err(Error::invalid(
                    "spec.operation",
                    format!("{model} edits images; it cannot {}", other.name()),
                )),
            },
            (Some(_), other) => Err(Error::invalid(
                "route",
                format!("openai model {model:?} cannot make {}", other.kind()),
            )),
        }
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        let (info, is_edit) = resolve(model).ok_or_else(|| unknown_model(model))?;
        if is_edit {
            let output = info.image_price(None, true);
            let input = Money::per_million(EDIT_INPUT_IMAGE_TOKENS, info.rates.image_in);
            return Ok(output.saturating_add(input));
        }
        let Spec::Image(image) = spec else {
            return Err(unknown_model(model));
        };
        let rectangular = image.width != image.height;
        Ok(info
            .image_price(image.quality, rectangular)
            .times(u32::from(image.count)))
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let (model, _) = resolve(&call.model).ok_or_else(|| unknown_model(&call.model))?;
        match &call.spec {
            Spec::Image(image) => self.generate_images(model, image, cx).await,
            Spec::Derive(derive) => match &derive.operation {
                Operation::Edit { prompt, .. } => self.edit(model, call, prompt, cx).await,
                other => Err(Error::invalid(
                    "spec.operation",
                    format!("openai cannot {}", other.name()),
                )),
            },
            other => Err(Error::invalid(
                "spec.kind",
                format!("openai cannot make {}", other.kind()),
            )),
        }
    }
}

fn validate_image(model: &str, image: &ImageSpec) -> Result<()> {
    if !SIZES.contains(&(image.width, image.height)) {
        return Err(Error::invalid(
            "spec.width",
            format!(
                "{model} makes 1024x1024, 1536x1024 or 1024x1536, not {}x{}",
                image.width, image.height
            ),
        ));
    }
    if image.tileable {
        return Err(Error::invalid(
            "spec.tileable",
            format!("{model} cannot promise a seamless texture"),
        ));
    }
    match background(image)? {
        Some("transparent") if image.format == Some(ImageFormat::Jpeg) => Err(Error::invalid(
            "spec.format",
            "a transparent background needs png or webp, not jpeg",
        )),
        _ => Ok(()),
    }
}

/// `background` from `style` (`transparent` or `opaque`); other styles are
/// refused.
fn background(image: &ImageSpec) -> Result<Option<&'static str>> {
    let Some(style) = image.style.as_deref() else {
        return Ok(None);
    };
    match style.trim().to_ascii_lowercase().as_str() {
        "transparent" => Ok(Some("transparent")),
        "opaque" => Ok(Some("opaque")),
        _ => Err(Error::invalid(
            "spec.style",
            format!(
                "openai takes the styles \"transparent\" and \"opaque\" (background), not {style:?}"
            ),
        )),
    }
}

fn quality_name(quality: Option<Quality>) -> &'static str {
    match quality {
        Some(Quality::Low) => "low",
        Some(Quality::Medium) => "medium",
        Some(Quality::High) => "high",
        None => "auto",
    }
}

/// The body of `POST /images/generations`.
#[derive(Debug, Serialize)]
struct GenerationRequest<'a> {
    model: &'a str,
    prompt: Cow<'a, str>,
    n: u8,
    size: String,
    quality: &'static str,
    output_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    background: Option<&'static str>,
}

impl<'a> GenerationRequest<'a> {
    fn of(model: &'a str, spec: &'a ImageSpec) -> Self {
        let prompt = match spec.negative_prompt.as_deref().map(str::trim) {
            Some(avoid) if !avoid.is_empty() => {
                Cow::Owned(format!("{}\n\nAvoid: {avoid}", spec.prompt))
            }
            _ => Cow::Borrowed(spec.prompt.as_str()),
        };
        Self {
            model,
            prompt,
            n: spec.count,
            size: format!("{}x{}", spec.width, spec.height),
            quality: quality_name(spec.quality),
            output_format: spec.format.unwrap_or(ImageFormat::Png).as_str(),
            background: background(spec).ok().flatten(),
        }
    }
}

/// An edit keeps its parent's size when OpenAI makes it (else `auto`) and
/// its format.
fn edit_size_and_format(parent: &CallInput) -> (String, ImageFormat) {
    match parent.asset.media {
        Media::Image {
            width,
            height,
            format,
            ..
        } => {
            let size = if SIZES.contains(&(width, height)) {
                format!("{width}x{height}")
            } else {
                "auto".to_owned()
            };
            (size, format)
        }
        _ => ("auto".to_owned(), ImageFormat::Png),
    }
}

/// An input file as a multipart part, streamed from disk.
async fn file_part(input: &CallInput, stem: &str) -> Result<http::multipart::Part> {
    let extension = match input.asset.media {
        Media::Image { format, .. } => format.extension(),
        _ => "png",
    };
    http::multipart::Part::file(&input.path)
        .await
        .map_err(|e| Error::storage(format!("cannot read {}", input.path.display()), e))?
        .file_name(format!("{stem}.{extension}"))
        .mime_str(&input.asset.mime)
        .map_err(|e| Error::Internal(format!("bad MIME type {:?}: {e}", input.asset.mime)))
}

fn with_revised_prompt(staged: StagedOutput, revised: Option<&str>) -> StagedOutput {
    match revised {
        Some(revised) => {
            let mut metadata = Map::new();
            metadata.insert("revised_prompt".into(), Value::from(revised));
            staged.with_metadata(metadata)
        }
        None => staged,
    }
}

/// `ImagesResponse`, borrowing the base64 payloads from the body.
#[derive(Debug, Deserialize)]
struct ImagesResponse<'a> {
    #[serde(borrow)]
    data: Vec<ImageData<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct ImageData<'a> {
    #[serde(borrow, default)]
    b64_json: Option<Cow<'a, str>>,
    #[serde(default)]
    revised_prompt: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OpenAiProvider {
        let settings = ProviderSettings::new(
            NAME,
            "http://127.0.0.1:9/v1",
            Some(gaia_core::Secret::new("sk-test")),
        );
        OpenAiProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn image(width: u32, height: u32, quality: Option<Quality>, count: u8) -> Spec {
        let mut spec = ImageSpec::new("a red door")
            .size(width, height)
            .count(count);
        spec.quality = quality;
        Spec::Image(spec)
    }

    #[test]
    fn estimates_follow_the_table_times_n() {
        let provider = provider();
        let cases = [
            ("gpt-image-1", 1024, 1024, Some(Quality::Medium), 1, 42_000),
            ("gpt-image-1", 1536, 1024, Some(Quality::Medium), 2, 126_000),
            ("gpt-image-1", 1024, 1536, None, 1, 250_000),
            (
                "gpt-image-1-mini",
                1024,
                1024,
                Some(Quality::Low),
                3,
                15_000,
            ),
            ("gpt-image-1.5", 1024, 1536, Some(Quality::High), 1, 200_000),
        ];
        for (model, w, h, quality, n, micros) in cases {
            let estimate = provider.estimate(model, &image(w, h, quality, n));
            assert_eq!(estimate.ok().map(Money::micros), Some(micros), "{model}");
        }
    }

    #[test]
    fn unsupported_sizes_styles_and_tiles_are_refused_by_field() {
        let provider = provider();
        let field = |spec: &Spec| match provider.validate("gpt-image-1", spec) {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert_eq!(field(&image(512, 512, None, 1)), "spec.width");
        let mut tiled = ImageSpec::new("moss");
        tiled.tileable = true;
        assert_eq!(field(&Spec::Image(tiled)), "spec.tileable");
        let mut styled = ImageSpec::new("moss");
        styled.style = Some("pixel-art".into());
        assert_eq!(field(&Spec::Image(styled)), "spec.style");
        let mut transparent_jpeg = ImageSpec::new("moss");
        transparent_jpeg.style = Some("transparent".into());
        transparent_jpeg.format = Some(ImageFormat::Jpeg);
        assert_eq!(field(&Spec::Image(transparent_jpeg)), "spec.format");
        assert!(
            provider
                .validate("gpt-image-1", &image(1536, 1024, None, 8))
                .is_ok()
        );
        assert!(
            provider
                .validate("dall-e-3", &image(1024, 1024, None, 1))
                .is_err()
        );
    }

    #[test]
    fn the_request_body_maps_the_spec() {
        let mut spec = ImageSpec::new("a red door").size(1536, 1024).count(2);
        spec.quality = Some(Quality::Low);
        spec.format = Some(ImageFormat::Webp);
        spec.style = Some("Transparent".into());
        spec.negative_prompt = Some("people".into());
        let body =
            serde_json::to_value(GenerationRequest::of("gpt-image-1", &spec)).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-image-1", "prompt": "a red door\n\nAvoid: people", "n": 2,
                "size": "1536x1024", "quality": "low", "output_format": "webp",
                "background": "transparent"
            })
        );
        let plain =
            serde_json::to_value(GenerationRequest::of("gpt-image-1", &ImageSpec::new("x")))
                .unwrap_or_default();
        assert_eq!(plain["quality"], "auto");
        assert_eq!(plain["output_format"], "png");
        assert!(plain.get("background").is_none());
    }

    #[test]
    fn every_model_has_an_edit_twin() {
        let provider = provider();
        let ids: Vec<&str> = provider.models().iter().map(|m| m.id.as_str()).collect();
        for model in prices::IMAGE_MODELS {
            let edit = format!("{}{EDIT_SUFFIX}", model.id);
            assert!(
                ids.contains(&model.id) && ids.contains(&edit.as_str()),
                "{ids:?}"
            );
        }
        let edits = provider
            .models()
            .iter()
            .filter(|m| m.operation.as_deref() == Some("edit"))
            .count();
        assert_eq!(edits, 3);
    }

    #[test]
    fn an_edit_is_estimated_at_the_highest_output_plus_its_input() {
        let provider = provider();
        let spec = Spec::Derive(gaia_core::DeriveSpec::new(
            gaia_core::AssetId::new(),
            Operation::Edit {
                prompt: "add a hat".into(),
                mask_id: None,
            },
        ));
        // gpt-image-1: $0.25 + 1000 image tokens × $10 per 1M = 250,000 + 10,000 µ$.
        let estimate = provider.estimate("gpt-image-1-edit", &spec);
        assert_eq!(estimate.ok().map(Money::micros), Some(260_000));
        assert!(provider.validate("gpt-image-1-edit", &spec).is_ok());
        assert!(provider.validate("gpt-image-1", &spec).is_err());
    }
}
