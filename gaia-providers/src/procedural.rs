//! The built-in offline `procedural` provider: free, deterministic for a seed,
//! and what runs when no key is configured.

pub mod mesh;
pub mod sfx;
pub mod texture;

mod noise;
mod palette;
mod pattern;

use async_trait::async_trait;
use gaia_core::{
    AssetKind, AudioFormat, AudioMode, AudioSpec, Call, Detail, Error, GenerateContext, Generation,
    ImageFormat, ImageSpec, LogLevel, ModelFormat, ModelInfo, ModelSpec, Money, PriceRule,
    Progress, Provider, Result, Spec, StagedOutput,
};
use serde_json::{Map, Value, json};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "procedural";
/// The seamless texture model (images).
pub const TEXTURE_MODEL: &str = "texture";
/// The sound effect model (audio, mode `sfx`).
pub const SFX_MODEL: &str = "sfx";
/// The simple mesh model (3D models).
pub const MESH_MODEL: &str = "mesh";

/// Offline generators that need no key and no network.
pub struct ProceduralProvider {
    models: Vec<ModelInfo>,
}

impl Default for ProceduralProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn model(id: &str, kind: AssetKind, description: &str) -> ModelInfo {
    ModelInfo::new(id, kind, PriceRule::Free, description)
}

impl ProceduralProvider {
    /// The provider with every procedural model: one per kind, so routing
    /// by kind finds it.
    pub fn new() -> Self {
        Self {
            models: vec![
                model(
                    TEXTURE_MODEL,
                    AssetKind::Image,
                    "seamless texture: noise, ridged, voronoi, bricks, wood grain or marble, \
                     palette from the prompt; optional PBR set (PNG)",
                ),
                model(
                    SFX_MODEL,
                    AssetKind::Audio,
                    "sfxr-style sound effect: pickup, laser, explosion, power-up, hit, jump \
                     or blip from the prompt (16-bit 44.1 kHz mono WAV)",
                ),
                model(
                    MESH_MODEL,
                    AssetKind::Model,
                    "simple mesh: cube, sphere, cylinder, plane, rock or terrain from the \
                     prompt, size from a number in it (GLB)",
                ),
            ],
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
            (TEXTURE_MODEL, Spec::Image(image)) => validate_texture(image),
            (SFX_MODEL, Spec::Audio(audio)) => validate_sfx(audio),
            (MESH_MODEL, Spec::Model(mesh)) => validate_mesh(mesh),
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
        let outputs = match &call.spec {
            Spec::Image(image) => generate_textures(image, cx).await?,
            Spec::Audio(audio) => generate_sfx(audio, cx).await?,
            Spec::Model(mesh) => generate_meshes(mesh, cx).await?,
            other => {
                return Err(Error::invalid(
                    "spec.kind",
                    format!("the procedural provider cannot make {}", other.kind()),
                ));
            }
        };
        Ok(Generation {
            outputs,
            cost: Some(Money::ZERO),
        })
    }
}

fn validate_texture(image: &ImageSpec) -> Result<()> {
    match image.format {
        None | Some(ImageFormat::Png) => Ok(()),
        Some(other) => Err(Error::invalid(
            "spec.format",
            format!(
                "the procedural texture model writes png, not {}",
                other.as_str()
            ),
        )),
    }
}

fn validate_sfx(audio: &AudioSpec) -> Result<()> {
    if audio.mode != AudioMode::Sfx {
        return Err(Error::invalid(
            "spec.mode",
            "the procedural sfx model makes sound effects only, not speech or music",
        ));
    }
    if let Some(format) = audio.format.filter(|f| *f != AudioFormat::Wav) {
        return Err(Error::invalid(
            "spec.format",
            format!(
                "the procedural sfx model writes wav, not {}",
                format.as_str()
            ),
        ));
    }
    if audio.voice.is_some() {
        return Err(Error::invalid(
            "spec.voice",
            "a sound effect has no voice (voices are for speech)",
        ));
    }
    match audio.duration_s {
        Some(d) if !(d > 0.0 && d <= sfx::MAX_DURATION_S) => Err(Error::invalid(
            "spec.duration_s",
            format!(
                "{d} is over the procedural sound effect limit of {} s",
                sfx::MAX_DURATION_S
            ),
        )),
        _ => Ok(()),
    }
}

fn validate_mesh(mesh: &ModelSpec) -> Result<()> {
    match mesh.format {
        None | Some(ModelFormat::Glb) => Ok(()),
        Some(other) => Err(Error::invalid(
            "spec.format",
            format!(
                "the procedural mesh model writes glb, not {}",
                other.as_str()
            ),
        )),
    }
}

/// One encoded output and what the provider knows about it.
type Encoded = (Vec<u8>, Map<String, Value>);

/// The seed of output 0: the request's, or a random one (logged so the
/// result can be reproduced).
fn base_seed(seed: Option<u32>, cx: &GenerateContext) -> u32 {
    seed.unwrap_or_else(|| {
        let seed = rand::random();
        cx.log(LogLevel::Info, format!("no seed given; using {seed}"));
        seed
    })
}

/// Runs `make` for seeds `base`, `base + 1`, … (one per requested output)
/// on the blocking pool, staging every file it returns; checks for
/// cancellation between outputs and reports progress after each.
async fn generate_each<F>(
    count: u8,
    base: u32,
    cx: &GenerateContext,
    make: F,
) -> Result<Vec<StagedOutput>>
where
    F: Fn(u32) -> Result<Vec<Encoded>> + Clone + Send + 'static,
{
    let total = u64::from(count.max(1));
    let mut outputs = Vec::new();
    for index in 0..total {
        cx.check_canceled()?;
        let seed = base.wrapping_add(index as u32);
        let make = make.clone();
        // CPU-heavy: keep it off the async workers.
        let files = tokio::task::spawn_blocking(move || make(seed))
            .await
            .map_err(|e| Error::Internal(format!("procedural task failed: {e}")))??;
        for (bytes, mut metadata) in files {
            metadata.insert("seed".to_owned(), json!(seed));
            outputs.push(cx.stage_bytes(&bytes).await?.with_metadata(metadata));
        }
        cx.progress(Progress::fraction(index + 1, total));
    }
    Ok(outputs)
}

fn encode_failed(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("cannot encode {what}: {error}"))
}

/// Textures with consecutive seeds (distinct variations); with `pbr`, each
/// is followed by its normal and roughness maps.
async fn generate_textures(spec: &ImageSpec, cx: &GenerateContext) -> Result<Vec<StagedOutput>> {
    let seed = base_seed(spec.seed, cx);
    let (prompt, width, height, pbr) = (spec.prompt.clone(), spec.width, spec.height, spec.pbr);
    generate_each(spec.count, seed, cx, move |seed| {
        let params = texture::TextureParams {
            prompt: prompt.clone(),
            seed,
            width,
            height,
        };
        render_texture_set(&params, pbr)
    })
    .await
}

/// The albedo and, for a PBR set, the maps derived from the same height field.
pub fn render_texture_set(params: &texture::TextureParams, pbr: bool) -> Result<Vec<Encoded>> {
    let field = texture::height_field(params);
    let pattern = texture::Pattern::from_prompt(&params.prompt).name();
    let describe = |map: Option<&str>| {
        let mut metadata = Map::new();
        metadata.insert("pattern".to_owned(), json!(pattern));
        if let Some(map) = map {
            metadata.insert("pbr_map".to_owned(), json!(map));
        }
        metadata
    };
    let albedo = texture::encode_png(&texture::colorize(params, &field))
        .map_err(|e| encode_failed("png", e))?;
    if !pbr {
        return Ok(vec![(albedo, describe(None))]);
    }
    let (w, h) = (params.width, params.height);
    let normal = texture::encode_png(&texture::normal_map(&field, w, h))
        .map_err(|e| encode_failed("png", e))?;
    let roughness = texture::encode_gray_png(&texture::roughness_map(&field, w, h))
        .map_err(|e| encode_failed("png", e))?;
    Ok(vec![
        (albedo, describe(Some("albedo"))),
        (normal, describe(Some("normal"))),
        (roughness, describe(Some("roughness"))),
    ])
}

/// Sound effects with consecutive seeds; the preset comes from the prompt
/// (a blip when no word names one).
async fn generate_sfx(spec: &AudioSpec, cx: &GenerateContext) -> Result<Vec<StagedOutput>> {
    let preset = sfx::Preset::from_prompt(&spec.prompt).unwrap_or_else(|| {
        cx.log(
            LogLevel::Info,
            "no sound effect word in the prompt; making a blip",
        );
        sfx::Preset::Blip
    });
    let duration_s = spec
        .duration_s
        .unwrap_or_else(|| preset.default_duration_s())
        .clamp(sfx::MIN_DURATION_S, sfx::MAX_DURATION_S);
    let looping = spec.looping;
    let seed = base_seed(spec.seed, cx);
    generate_each(spec.count, seed, cx, move |seed| {
        let params = sfx::SfxParams {
            preset,
            seed,
            duration_s,
            looping,
        };
        let wav = sfx::encode_wav(&sfx::render(&params)).map_err(|e| encode_failed("wav", e))?;
        let mut metadata = Map::new();
        metadata.insert("preset".to_owned(), json!(preset.name()));
        if looping {
            metadata.insert("loop".to_owned(), json!(true));
        }
        Ok(vec![(wav, metadata)])
    })
    .await
}

/// Meshes with consecutive seeds (only rocks and terrain use the seed).
async fn generate_meshes(spec: &ModelSpec, cx: &GenerateContext) -> Result<Vec<StagedOutput>> {
    let shape = mesh::Shape::from_prompt(&spec.prompt).unwrap_or_else(|| {
        cx.log(LogLevel::Info, "no shape word in the prompt; making a cube");
        mesh::Shape::Cube
    });
    let size_m = mesh::size_from_prompt(&spec.prompt).unwrap_or(mesh::DEFAULT_SIZE_M);
    let detail = spec.detail.unwrap_or(Detail::Medium);
    let seed = base_seed(spec.seed, cx);
    generate_each(spec.count, seed, cx, move |seed| {
        let params = mesh::MeshParams {
            shape,
            size_m,
            detail,
            seed,
        };
        let glb = mesh::encode_glb(&mesh::build(&params), shape.name())
            .map_err(|e| encode_failed("glb", e))?;
        let mut metadata = Map::new();
        metadata.insert("shape".to_owned(), json!(shape.name()));
        metadata.insert("size_m".to_owned(), json!(size_m));
        Ok(vec![(glb, metadata)])
    })
    .await
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
            inputs: Vec::new(),
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
        let bytes = generation.outputs[0].read_to_vec().unwrap();
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

    fn call_for(model: &str, spec: impl Into<Spec>) -> Call {
        Call {
            job_id: JobId::new(),
            attempt: 1,
            model: model.into(),
            spec: spec.into(),
            inputs: Vec::new(),
        }
    }

    fn sfx_spec(prompt: &str) -> AudioSpec {
        let mut spec = AudioSpec::new(prompt);
        spec.seed = Some(3);
        spec
    }

    fn mesh_spec(prompt: &str, detail: Option<Detail>) -> ModelSpec {
        ModelSpec {
            prompt: prompt.into(),
            seed: Some(3),
            count: 1,
            format: None,
            detail,
        }
    }

    async fn generate(model: &str, spec: impl Into<Spec>) -> Generation {
        // Staged files delete themselves when dropped; one shared folder.
        let cx = GenerateContext::detached(std::env::temp_dir().join("gaia-procedural-tests"));
        ProceduralProvider::new()
            .generate(&call_for(model, spec), &cx)
            .await
            .unwrap()
    }

    fn inspect(output: &StagedOutput, kind: AssetKind) -> gaia_core::Media {
        gaia_core::verify::inspect(output.source(), kind, false).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn every_sfx_preset_passes_verification_with_its_length() {
        for preset in sfx::PRESETS {
            let mut spec = sfx_spec(preset.name());
            spec.count = 2;
            let generation = generate(SFX_MODEL, spec).await;
            assert_eq!(generation.outputs.len(), 2);
            assert_ne!(
                generation.outputs[0].sha256(),
                generation.outputs[1].sha256()
            );
            let media = inspect(&generation.outputs[0], AssetKind::Audio);
            let gaia_core::Media::Audio {
                duration_s,
                sample_rate,
                channels,
                format,
            } = media
            else {
                panic!("{media:?}")
            };
            assert!(
                (duration_s - preset.default_duration_s()).abs() < 1e-3,
                "{preset:?}"
            );
            assert_eq!(
                (sample_rate, channels, format),
                (44_100, 1, AudioFormat::Wav)
            );
            assert_eq!(
                generation.outputs[0].metadata()["preset"],
                json!(preset.name())
            );
            assert_eq!(generation.outputs[1].metadata()["seed"], json!(4));
        }
    }

    #[tokio::test]
    async fn sfx_duration_is_honoured_and_clamped_up() {
        let mut spec = sfx_spec("laser");
        spec.duration_s = Some(2.0);
        let media = inspect(
            &generate(SFX_MODEL, spec.clone()).await.outputs[0],
            AssetKind::Audio,
        );
        assert!(
            matches!(media, gaia_core::Media::Audio { duration_s, .. } if (duration_s - 2.0).abs() < 1e-3)
        );
        spec.duration_s = Some(0.001);
        let media = inspect(
            &generate(SFX_MODEL, spec).await.outputs[0],
            AssetKind::Audio,
        );
        assert!(
            matches!(media, gaia_core::Media::Audio { duration_s, .. } if (duration_s - 0.05).abs() < 1e-3)
        );
    }

    #[tokio::test]
    async fn a_looping_sound_effect_is_marked_and_keeps_its_length() {
        let mut spec = sfx_spec("engine rumble explosion").looping();
        spec.duration_s = Some(3.0);
        let generation = generate(SFX_MODEL, spec).await;
        let output = &generation.outputs[0];
        assert_eq!(output.metadata().get("loop"), Some(&json!(true)));
        let media = inspect(output, AssetKind::Audio);
        assert!(
            matches!(media, gaia_core::Media::Audio { duration_s, .. } if (duration_s - 3.0).abs() < 1e-3),
            "{media:?}"
        );
        let once = generate(SFX_MODEL, sfx_spec("engine rumble explosion")).await;
        assert_eq!(once.outputs[0].metadata().get("loop"), None);
    }

    #[tokio::test]
    async fn every_mesh_passes_verification_and_detail_adds_triangles() {
        for shape in mesh::SHAPES {
            let mut triangles = Vec::new();
            for detail in [Detail::Low, Detail::High] {
                let prompt = format!("a 2 m {}", shape.name());
                let generation = generate(MESH_MODEL, mesh_spec(&prompt, Some(detail))).await;
                let media = inspect(&generation.outputs[0], AssetKind::Model);
                let gaia_core::Media::Model {
                    format,
                    vertex_count,
                    triangle_count,
                } = media
                else {
                    panic!("{media:?}")
                };
                assert_eq!(format, ModelFormat::Glb);
                assert!(vertex_count >= 4 && triangle_count >= 2, "{shape:?}");
                triangles.push(triangle_count);
                assert_eq!(
                    generation.outputs[0].metadata()["shape"],
                    json!(shape.name())
                );
                assert_eq!(generation.outputs[0].metadata()["size_m"], json!(2.0));
            }
            assert!(triangles[0] < triangles[1], "{shape:?}: {triangles:?}");
        }
    }

    #[tokio::test]
    async fn every_pattern_passes_verification() {
        for pattern in texture::PATTERNS {
            let spec = ImageSpec::new(pattern.name()).size(48, 40).seed(1);
            let generation = generate(TEXTURE_MODEL, spec).await;
            let media = inspect(&generation.outputs[0], AssetKind::Image);
            assert!(matches!(
                media,
                gaia_core::Media::Image {
                    width: 48,
                    height: 40,
                    ..
                }
            ));
            assert_eq!(
                generation.outputs[0].metadata()["pattern"],
                json!(pattern.name())
            );
        }
    }

    #[tokio::test]
    async fn a_pbr_set_is_albedo_normal_roughness_per_variation() {
        let spec = ImageSpec::new("stone bricks")
            .size(32, 32)
            .seed(5)
            .count(2)
            .pbr(true);
        let generation = generate(TEXTURE_MODEL, spec).await;
        let maps: Vec<_> = generation
            .outputs
            .iter()
            .map(|o| {
                (
                    o.metadata()["pbr_map"].clone(),
                    o.metadata()["seed"].clone(),
                )
            })
            .collect();
        assert_eq!(
            maps,
            vec![
                (json!("albedo"), json!(5)),
                (json!("normal"), json!(5)),
                (json!("roughness"), json!(5)),
                (json!("albedo"), json!(6)),
                (json!("normal"), json!(6)),
                (json!("roughness"), json!(6)),
            ]
        );
        for output in &generation.outputs {
            inspect(output, AssetKind::Image);
        }
    }

    #[tokio::test]
    async fn same_seed_gives_identical_bytes_for_every_model() {
        let twice = |model: &'static str, spec: Spec| async move {
            let a = generate(model, spec.clone()).await;
            let b = generate(model, spec).await;
            (
                a.outputs[0].sha256().to_owned(),
                b.outputs[0].sha256().to_owned(),
            )
        };
        for (model, spec) in [
            (SFX_MODEL, Spec::from(sfx_spec("explosion"))),
            (MESH_MODEL, Spec::from(mesh_spec("rock", Some(Detail::Low)))),
            (
                TEXTURE_MODEL,
                Spec::from(ImageSpec::new("marble").size(32, 32).seed(2)),
            ),
        ] {
            let (a, b) = twice(model, spec).await;
            assert_eq!(a, b, "{model}");
        }
    }

    #[test]
    fn validate_refuses_what_a_model_cannot_do_naming_the_field() {
        let provider = ProceduralProvider::new();
        let field_of = |model: &str, spec: Spec| match provider.validate(model, &spec) {
            Err(gaia_core::Error::InvalidRequest { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut speech = sfx_spec("hello");
        speech.mode = AudioMode::Speech;
        assert_eq!(field_of(SFX_MODEL, speech.into()), "spec.mode");
        let mut mp3 = sfx_spec("coin");
        mp3.format = Some(AudioFormat::Mp3);
        assert_eq!(field_of(SFX_MODEL, mp3.into()), "spec.format");
        let mut long = sfx_spec("coin");
        long.duration_s = Some(10.5);
        assert_eq!(field_of(SFX_MODEL, long.into()), "spec.duration_s");
        let mut obj = mesh_spec("cube", None);
        obj.format = Some(ModelFormat::Obj);
        assert_eq!(field_of(MESH_MODEL, obj.into()), "spec.format");
        assert_eq!(field_of(MESH_MODEL, sfx_spec("coin").into()), "route");
        assert!(
            provider
                .validate(SFX_MODEL, &sfx_spec("coin").into())
                .is_ok()
        );
        assert!(
            provider
                .validate(MESH_MODEL, &mesh_spec("cube", None).into())
                .is_ok()
        );
    }

    #[test]
    fn offers_one_model_per_kind() {
        let provider = ProceduralProvider::new();
        let kinds: Vec<_> = provider
            .models()
            .iter()
            .map(|m| (m.id.as_str(), m.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (TEXTURE_MODEL, AssetKind::Image),
                (SFX_MODEL, AssetKind::Audio),
                (MESH_MODEL, AssetKind::Model)
            ]
        );
    }
}
