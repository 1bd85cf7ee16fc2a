//! AUTOMATIC1111 (or Forge) Stable Diffusion web UI, started with `--api`:
//! a studio's own GPU server, free to call.
//!
//! Registered only when configured (`providers.a1111`) or pointed at with
//! `A1111_BASE_URL` (default `http://127.0.0.1:7860`); a configured
//! `api_key` of the form `user:password` is sent as HTTP Basic (the server's
//! `--api-auth`). It takes one call at a time by default (the server
//! serializes on its GPU); `max_in_flight` raises that.
//!
//! Routing: [`Provider::is_remote`] is `false`. The engine's rule prefers
//! remote (paid) providers and uses local ones only when no remote one can
//! make the request; among local ones, all free, registration order decides,
//! and a1111 is registered before `procedural`. So a studio with a GPU
//! server and no paid image provider gets its server for images, with the
//! procedural textures as the fallback when it is down or refuses the size;
//! a configured paid provider is still preferred in automatic routing, and
//! a route naming `a1111` always reaches it.
//!
//! How an [`ImageSpec`] maps to `POST /sdapi/v1/txt2img`: `prompt`,
//! `negative_prompt`, `width` / `height` (multiples of 8, 64–2048), `seed`
//! (-1, random, when absent), `count` as `batch_size`, `tileable` as
//! `tiling` (truly seamless: the model pads circularly), `quality` as
//! `steps` (low 15, medium 25, high 40; 20 when absent). `style` is refused
//! (the server's styles are its own). Images come back as base64 PNG in
//! `images` (a batch's grid image, when the server adds one, is skipped).
//! Progress comes from `/sdapi/v1/progress` while the call runs; a
//! cancellation sends `/sdapi/v1/interrupt`.

use std::time::Duration;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, Call, EngineConfig, Error, GenerateContext, Generation, ImageFormat, ImageSpec,
    LogLevel, ModelInfo, Money, PriceRule, Progress, Provider, Quality, Result, Spec,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::{self, Auth, Env, HttpProvider, ProviderEnv, ProviderSettings};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "a1111";

/// Where the base URL comes from (no key: a local server).
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: None,
    default_base_url: "http://127.0.0.1:7860",
};

/// The one model: whatever checkpoint the server has loaded.
pub const TXT2IMG_MODEL: &str = "txt2img";

/// How often progress is asked for while an image is made.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Smallest and largest side the provider sends.
const SIDES: std::ops::RangeInclusive<u32> = 64..=2048;

/// A local Stable Diffusion server.
pub struct A1111Provider {
    http: HttpProvider,
    models: Vec<ModelInfo>,
    max_in_flight: u32,
}

impl A1111Provider {
    /// The provider when it is configured or `A1111_BASE_URL` is set.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::keyless(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching `settings.base_url` (HTTP Basic with
    /// `settings.api_key` as `user:password`, when given).
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let auth = match settings.api_key.clone() {
            Some(credentials) => Auth::Basic { credentials },
            None => Auth::None,
        };
        Ok(Self {
            http: HttpProvider::new(settings, auth)?,
            models: vec![ModelInfo::new(
                TXT2IMG_MODEL,
                AssetKind::Image,
                PriceRule::Free,
                "your Stable Diffusion server's loaded checkpoint: 64-2048 px (multiples of 8), \
                 seamless tiling, PNG",
            )],
            max_in_flight: settings.max_in_flight.unwrap_or(1),
        })
    }

    /// Posts the request, reporting the server's progress until it answers;
    /// interrupts the server when the job is canceled.
    async fn txt2img(&self, body: &Txt2Img<'_>, cx: &GenerateContext) -> Result<http::Response> {
        let request = self.http.post("/sdapi/v1/txt2img").json(body);
        let answer = self.http.send(request);
        tokio::pin!(answer);
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                biased;
                () = cx.cancellation().cancelled() => {
                    self.interrupt(cx).await;
                    return Err(Error::Canceled);
                }
                response = &mut answer => return response,
                _ = ticker.tick() => {
                    if let Some(progress) = self.progress().await {
                        cx.progress(progress);
                    }
                }
            }
        }
    }

    /// The server's progress (0–1 there), when it answers.
    async fn progress(&self) -> Option<Progress> {
        let request = self
            .http
            .get("/sdapi/v1/progress?skip_current_image=true")
            .timeout(PROGRESS_INTERVAL);
        let status: ProgressStatus = self.http.send_json(request).await.ok()?;
        Some(Progress::from_ratio(status.progress))
    }

    async fn interrupt(&self, cx: &GenerateContext) {
        let request = self
            .http
            .post("/sdapi/v1/interrupt")
            .timeout(PROGRESS_INTERVAL);
        if let Err(error) = self.http.send(request).await {
            cx.log(
                LogLevel::Warn,
                format!("could not interrupt the server: {error}"),
            );
        }
    }
}

#[async_trait]
impl Provider for A1111Provider {
    fn name(&self) -> &str {
        NAME
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn max_in_flight(&self) -> Option<u32> {
        Some(self.max_in_flight)
    }

    fn validate(&self, model: &str, spec: &Spec) -> Result<()> {
        if model != TXT2IMG_MODEL {
            return Err(Error::invalid(
                "route",
                format!("a1111 has no model {model:?}"),
            ));
        }
        match spec {
            Spec::Image(image) => validate_image(image),
            other => Err(Error::invalid(
                "route",
                format!("a1111 makes images, not {}", other.kind()),
            )),
        }
    }

    fn estimate(&self, _model: &str, _spec: &Spec) -> Result<Money> {
        Ok(Money::ZERO)
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let Spec::Image(image) = &call.spec else {
            return Err(Error::invalid("spec.kind", "a1111 makes images"));
        };
        let response = self.txt2img(&Txt2Img::of(image), cx).await?;
        let bytes = self.http.bytes(response).await?;
        let answer: Txt2ImgResponse<'_> = http::parse_json(NAME, &bytes)?;
        let info = answer.info();
        let first = info.first_image(answer.images.len(), image.count);
        let mut outputs = Vec::with_capacity(usize::from(image.count));
        for (index, b64) in answer.images.iter().enumerate().skip(first) {
            let staged = self
                .http
                .stage_base64(cx, &format!("images[{index}]"), b64)
                .await?;
            let seed = info.all_seeds.get(index - first).copied();
            outputs.push(match seed {
                Some(seed) => {
                    let mut metadata = Map::new();
                    metadata.insert("seed".into(), Value::from(seed));
                    staged.with_metadata(metadata)
                }
                None => staged,
            });
        }
        if outputs.is_empty() {
            return Err(http::bad_shape(NAME, "images", "is empty"));
        }
        Ok(Generation {
            outputs,
            cost: Some(Money::ZERO),
        })
    }
}

fn validate_image(image: &ImageSpec) -> Result<()> {
    for (field, side) in [("spec.width", image.width), ("spec.height", image.height)] {
        if !SIDES.contains(&side) || side % 8 != 0 {
            return Err(Error::invalid(
                field,
                format!("a1111 takes multiples of 8 from 64 to 2048, not {side}"),
            ));
        }
    }
    if let Some(format) = image.format.filter(|f| *f != ImageFormat::Png) {
        return Err(Error::invalid(
            "spec.format",
            format!("a1111 writes png, not {}", format.as_str()),
        ));
    }
    if image.style.is_some() {
        return Err(Error::invalid(
            "spec.style",
            "a1111 takes no style name (its styles are the server's own)",
        ));
    }
    Ok(())
}

fn steps(quality: Option<Quality>) -> u32 {
    match quality {
        Some(Quality::Low) => 15,
        Some(Quality::Medium) => 25,
        Some(Quality::High) => 40,
        None => 20,
    }
}

/// The body of `POST /sdapi/v1/txt2img`.
#[derive(Debug, Serialize)]
struct Txt2Img<'a> {
    prompt: &'a str,
    negative_prompt: &'a str,
    width: u32,
    height: u32,
    seed: i64,
    batch_size: u8,
    n_iter: u8,
    steps: u32,
    tiling: bool,
    send_images: bool,
    save_images: bool,
}

impl<'a> Txt2Img<'a> {
    fn of(spec: &'a ImageSpec) -> Self {
        Self {
            prompt: &spec.prompt,
            negative_prompt: spec.negative_prompt.as_deref().unwrap_or_default(),
            width: spec.width,
            height: spec.height,
            seed: spec.seed.map_or(-1, i64::from),
            batch_size: spec.count.max(1),
            n_iter: 1,
            steps: steps(spec.quality),
            tiling: spec.tileable,
            send_images: true,
            save_images: false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Txt2ImgResponse<'a> {
    #[serde(borrow)]
    images: Vec<std::borrow::Cow<'a, str>>,
    /// A JSON document inside a string.
    #[serde(default)]
    info: Option<String>,
}

impl Txt2ImgResponse<'_> {
    /// The generation info; an absent or unreadable one is empty (it only
    /// adds seeds).
    fn info(&self) -> GenerationInfo {
        self.info
            .as_deref()
            .and_then(|info| serde_json::from_str(info).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
struct GenerationInfo {
    #[serde(default)]
    all_seeds: Vec<i64>,
    #[serde(default)]
    index_of_first_image: Option<usize>,
}

impl GenerationInfo {
    /// The index of the first real image: after the batch grid, when the
    /// server added one.
    fn first_image(&self, returned: usize, requested: u8) -> usize {
        match self.index_of_first_image {
            Some(first) if first < returned => first,
            Some(_) => 0,
            None if returned == usize::from(requested) + 1 && requested > 1 => 1,
            None => 0,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ProgressStatus {
    progress: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> A1111Provider {
        let settings = ProviderSettings::new(NAME, "http://127.0.0.1:9", None);
        A1111Provider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn it_is_free_local_and_one_at_a_time() {
        let provider = provider();
        assert!(!provider.is_remote());
        assert_eq!(provider.max_in_flight(), Some(1));
        assert_eq!(provider.models()[0].price, PriceRule::Free);
        let spec = Spec::Image(ImageSpec::new("x").count(4));
        assert_eq!(
            provider.estimate(TXT2IMG_MODEL, &spec).ok(),
            Some(Money::ZERO)
        );
    }

    #[test]
    fn sizes_formats_and_styles_are_validated() {
        let provider = provider();
        let field = |spec: ImageSpec| match provider.validate(TXT2IMG_MODEL, &Spec::Image(spec)) {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert!(
            provider
                .validate(
                    TXT2IMG_MODEL,
                    &Spec::Image(ImageSpec::new("x").size(512, 768).tileable(true))
                )
                .is_ok()
        );
        assert_eq!(field(ImageSpec::new("x").size(500, 512)), "spec.width");
        assert_eq!(field(ImageSpec::new("x").size(512, 4096)), "spec.height");
        let mut jpeg = ImageSpec::new("x").size(512, 512);
        jpeg.format = Some(ImageFormat::Jpeg);
        assert_eq!(field(jpeg), "spec.format");
        let mut styled = ImageSpec::new("x").size(512, 512);
        styled.style = Some("anime".into());
        assert_eq!(field(styled), "spec.style");
    }

    #[test]
    fn the_body_maps_the_spec() {
        let mut spec = ImageSpec::new("cobblestones")
            .size(512, 256)
            .count(3)
            .tileable(true);
        spec.quality = Some(Quality::High);
        spec.negative_prompt = Some("moss".into());
        let body = serde_json::to_value(Txt2Img::of(&spec)).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "prompt": "cobblestones", "negative_prompt": "moss", "width": 512, "height": 256,
                "seed": -1, "batch_size": 3, "n_iter": 1, "steps": 40, "tiling": true,
                "send_images": true, "save_images": false
            })
        );
        let seeded = serde_json::to_value(Txt2Img::of(&ImageSpec::new("x").seed(u32::MAX)))
            .unwrap_or_default();
        assert_eq!(seeded["seed"], 4_294_967_295u64);
        assert_eq!(seeded["steps"], 20);
    }

    #[test]
    fn a_batch_grid_is_skipped() {
        let with_index = GenerationInfo {
            all_seeds: vec![1, 2],
            index_of_first_image: Some(1),
        };
        assert_eq!(with_index.first_image(3, 2), 1);
        let without = GenerationInfo::default();
        assert_eq!(without.first_image(3, 2), 1);
        assert_eq!(without.first_image(2, 2), 0);
        assert_eq!(without.first_image(1, 1), 0);
    }
}
