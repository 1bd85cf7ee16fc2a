//! The built-in offline `procedural` provider: free, deterministic for a seed,
//! and what runs when no key is configured.

pub mod texture;

mod noise;
mod palette;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, Call, Error, GenerateContext, Generation, ImageFormat, ImageSpec, LogLevel,
    ModelInfo, Money, PriceRule, Progress, Provider, Result, Spec,
};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "procedural";
/// The seamless noise texture model.
pub const TEXTURE_MODEL: &str = "texture";

/// Offline generators that need no key and no network.
pub struct ProceduralProvider {
    models: Vec<ModelInfo>,
}

impl Default for ProceduralProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl ProceduralProvider {
    /// The provider with every procedural model.
    pub fn new() -> Self {
        Self {
            models: vec![ModelInfo {
                id: TEXTURE_MODEL.to_owned(),
                kind: AssetKind::Image,
                price: PriceRule::Free,
                description: "seamless fBm noise texture, palette from the prompt (PNG)".to_owned(),
            }],
        }
    }
}

#[async_trait]
impl Provider for ProceduralProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn validate(&self, model: &str, spec: &Spec) -> Result<()> {
        match (model, spec) {
            (TEXTURE_MODEL, Spec::Image(image)) => match image.format {
                None | Some(ImageFormat::Png) => Ok(()),
                Some(other) => Err(Error::invalid(
                    "spec.format",
                    format!(
                        "the procedural texture model writes png, not {}",
                        other.as_str()
                    ),
                )),
            },
            _ => Err(Error::invalid(
                "route",
                format!("procedural model {model:?} cannot make {}", spec.kind()),
            )),
        }
    }

    fn estimate(&self, _model: &str, _spec: &Spec) -> Result<Money> {
        Ok(Money::ZERO)
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let Spec::Image(image) = &call.spec else {
            return Err(Error::invalid(
                "spec.kind",
                "the procedural provider makes images here",
            ));
        };
        generate_textures(image, cx).await
    }
}

/// Renders `count` textures with consecutive seeds (distinct variations).
async fn generate_textures(spec: &ImageSpec, cx: &GenerateContext) -> Result<Generation> {
    let base_seed = spec.seed.unwrap_or_else(rand::random);
    if spec.seed.is_none() {
        cx.log(LogLevel::Info, format!("no seed given; using {base_seed}"));
    }
    let count = u64::from(spec.count.max(1));
    let mut outputs = Vec::with_capacity(count as usize);
    for index in 0..count {
        cx.check_canceled()?;
        let params = texture::TextureParams {
            prompt: spec.prompt.clone(),
            seed: base_seed.wrapping_add(index as u32),
            width: spec.width,
            height: spec.height,
        };
        // CPU-heavy: keep it off the async workers.
        let png =
            tokio::task::spawn_blocking(move || texture::encode_png(&texture::render(&params)))
                .await
                .map_err(|e| Error::Internal(format!("texture task failed: {e}")))?
                .map_err(|e| Error::Internal(format!("cannot encode png: {e}")))?;
        outputs.push(cx.stage_bytes(&png).await?);
        cx.progress(Progress::fraction(index + 1, count));
    }
    Ok(Generation {
        outputs,
        cost: Some(Money::ZERO),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use gaia_core::JobId;

    fn call(spec: ImageSpec) -> Call {
        Call {
            job_id: JobId::new(),
            attempt: 1,
            model: TEXTURE_MODEL.into(),
            spec: Spec::Image(spec),
        }
    }

    #[tokio::test]
    async fn renders_decodable_pngs_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let cx = GenerateContext::detached(dir.path());
        let provider = ProceduralProvider::new();
        let spec = ImageSpec::new("mossy stone").size(64, 32).seed(7).count(2);
        let generation = provider.generate(&call(spec), &cx).await.unwrap();
        assert_eq!(generation.outputs.len(), 2);
        assert_ne!(
            generation.outputs[0].sha256(),
            generation.outputs[1].sha256(),
            "variations differ"
        );
        let bytes = std::fs::read(generation.outputs[0].path()).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (64, 32));
    }

    #[tokio::test]
    async fn is_deterministic_for_a_seed() {
        let dir = tempfile::tempdir().unwrap();
        let cx = GenerateContext::detached(dir.path());
        let provider = ProceduralProvider::new();
        let spec = ImageSpec::new("lava").size(32, 32).seed(42);
        let a = provider.generate(&call(spec.clone()), &cx).await.unwrap();
        let b = provider.generate(&call(spec), &cx).await.unwrap();
        assert_eq!(a.outputs[0].sha256(), b.outputs[0].sha256());
    }

    #[test]
    fn refuses_formats_it_cannot_write() {
        let provider = ProceduralProvider::new();
        let mut spec = ImageSpec::new("sand");
        spec.format = Some(ImageFormat::Jpeg);
        let err = provider
            .validate(TEXTURE_MODEL, &Spec::Image(spec))
            .unwrap_err();
        assert!(err.to_string().contains("spec.format"), "{err}");
    }
}
