//! Derived assets: local operations that make a new asset from an existing
//! one (resize, format conversion, thumbnail, normal map, waveform peaks,
//! mesh statistics). They run in the engine, on the blocking pool, at no cost.

use std::io::Cursor;

use image::{DynamicImage, GenericImageView, ImageEncoder};
use serde::{Deserialize, Serialize};

use crate::asset::{AssetKind, ImageFormat, Media};
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::request::MAX_SIDE;

/// A derivation request: which asset, and what to do with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    /// The asset to start from (it must belong to the request's client).
    pub parent_id: AssetId,
    /// The operation and its parameters.
    pub operation: Operation,
}

impl DeriveSpec {
    /// A derivation of `parent_id`.
    pub fn new(parent_id: AssetId, operation: Operation) -> Self {
        Self {
            parent_id,
            operation,
        }
    }
}

fn default_strength() -> f64 {
    2.0
}

fn default_points() -> u32 {
    256
}

/// The operations a provider performs (see [`Operation::is_remote`]), by
/// wire name: what a provider's model may declare.
pub(crate) const REMOTE_OPERATIONS: [&str; 4] = ["edit", "upscale", "retexture", "image_to_3d"];

/// `Ok` when `name` is an operation a provider model can declare; otherwise
/// an `invalid_request` naming `field` and the operations there are.
pub(crate) fn check_remote_operation(field: &str, name: &str) -> Result<()> {
    if REMOTE_OPERATIONS.contains(&name) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "{name:?} is not an operation a provider performs ({})",
            REMOTE_OPERATIONS.join(", ")
        ),
    ))
}

/// An operation on an existing asset, tagged by `op`. The local ones run in
/// the engine at no cost; the remote ones (`edit`, `upscale`, `retexture`,
/// `image_to_3d`) are routed to a provider model declaring that operation and
/// are priced and budgeted like generations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// An image scaled to exactly `width` × `height`, in its own format.
    Resize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// An image re-encoded as `format`.
    Convert {
        /// The new encoding.
        format: ImageFormat,
        /// JPEG quality 1–100 (default 85; ignored by other formats).
        #[serde(default)]
        quality: Option<u8>,
    },
    /// An image scaled down to fit `size` × `size`, keeping its aspect.
    Thumbnail {
        /// The longest side in pixels.
        size: u32,
    },
    /// A tangent-space normal map (PNG) from a height texture; wraps at the
    /// edges when the texture is tileable.
    NormalMap {
        /// Slope scale (default 2.0).
        #[serde(default = "default_strength")]
        strength: f64,
    },
    /// Audio peaks (`metadata.peaks`, 0–1 per point); a JSON document, or a
    /// PNG rendering of the waveform when `render` is true.
    Waveform {
        /// Peaks to compute (default 256).
        #[serde(default = "default_points")]
        points: u32,
        /// Render a PNG instead of a JSON document.
        #[serde(default)]
        render: bool,
    },
    /// Mesh statistics (`metadata`: vertex and triangle counts, meshes,
    /// materials, bounds) as a JSON document.
    MeshStats {},
    /// An image edited by a prompt, optionally only where a mask image is
    /// transparent (remote: OpenAI image edits).
    Edit {
        /// What to change.
        prompt: String,
        /// An image asset of the same client whose transparent pixels mark
        /// where to edit.
        #[serde(default)]
        mask_id: Option<AssetId>,
    },
    /// An image upscaled (remote: Stability upscale).
    Upscale {
        /// What the image shows (the creative mode uses it).
        #[serde(default)]
        prompt: Option<String>,
        /// How much the upscaler may invent.
        #[serde(default)]
        mode: UpscaleMode,
    },
    /// A model given new textures from a prompt (remote: Meshy retexture).
    Retexture {
        /// The look of the new textures.
        prompt: String,
        /// Also make metallic, roughness and normal maps.
        #[serde(default)]
        enable_pbr: bool,
    },
    /// A 3D model made from an image (remote: Meshy image-to-3D). Named as
    /// [`Operation::name`] says (snake case alone would say `image_to3d`,
    /// which earlier versions wrote and which is still read).
    #[serde(rename = "image_to_3d", alias = "image_to3d")]
    ImageTo3d {
        /// Texture the model (default true).
        #[serde(default = "default_true")]
        texture: bool,
        /// Also make metallic, roughness and normal maps.
        #[serde(default)]
        enable_pbr: bool,
    },
}

/// How much an upscaler may invent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpscaleMode {
    /// Quick 4× upscale that keeps the image as it is.
    #[default]
    Fast,
    /// Up to 4K, minimal changes.
    Conservative,
    /// Up to 4K, re-imagining detail (slower; guided by the prompt).
    Creative,
}

fn default_true() -> bool {
    true
}

/// Largest number of waveform points.
const MAX_POINTS: u32 = 16_384;

impl Operation {
    /// The wire name (`source.operation` of the derived asset).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Resize { .. } => "resize",
            Self::Convert { .. } => "convert",
            Self::Thumbnail { .. } => "thumbnail",
            Self::NormalMap { .. } => "normal_map",
            Self::Waveform { .. } => "waveform",
            Self::MeshStats {} => "mesh_stats",
            Self::Edit { .. } => "edit",
            Self::Upscale { .. } => "upscale",
            Self::Retexture { .. } => "retexture",
            Self::ImageTo3d { .. } => "image_to_3d",
        }
    }

    /// Whether a provider performs it (routed, priced and budgeted like a
    /// generation) rather than the engine itself.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            Self::Edit { .. }
                | Self::Upscale { .. }
                | Self::Retexture { .. }
                | Self::ImageTo3d { .. }
        )
    }

    /// The prompt a remote operation sends, if it has one.
    pub fn prompt(&self) -> Option<&str> {
        match self {
            Self::Edit { prompt, .. } | Self::Retexture { prompt, .. } => Some(prompt),
            Self::Upscale { prompt, .. } => prompt.as_deref(),
            _ => None,
        }
    }

    /// The kind of asset the operation starts from.
    pub fn input_kind(&self) -> AssetKind {
        match self {
            Self::Waveform { .. } => AssetKind::Audio,
            Self::MeshStats {} | Self::Retexture { .. } => AssetKind::Model,
            _ => AssetKind::Image,
        }
    }

    /// The kind of asset it makes.
    pub fn output_kind(&self) -> AssetKind {
        match self {
            Self::Waveform { render: false, .. } | Self::MeshStats {} => AssetKind::Document,
            Self::Retexture { .. } | Self::ImageTo3d { .. } => AssetKind::Model,
            _ => AssetKind::Image,
        }
    }

    /// Checks the parameters; errors name the field under `spec.operation`.
    pub fn validate(&self) -> Result<()> {
        let side = |field: &str, value: u32| {
            if value == 0 || value > MAX_SIDE {
                Err(Error::invalid(
                    format!("spec.operation.{field}"),
                    format!("{value} is not within 1-{MAX_SIDE}"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Resize { width, height } => {
                side("width", *width)?;
                side("height", *height)
            }
            Self::Thumbnail { size } => side("size", *size),
            Self::Convert {
                quality: Some(q), ..
            } if *q == 0 || *q > 100 => Err(Error::invalid(
                "spec.operation.quality",
                format!("{q} is not within 1-100"),
            )),
            Self::NormalMap { strength } if !(strength.is_finite() && *strength > 0.0) => Err(
                Error::invalid("spec.operation.strength", "must be a positive number"),
            ),
            Self::Waveform { points, .. } if *points == 0 || *points > MAX_POINTS => {
                Err(Error::invalid(
                    "spec.operation.points",
                    format!("{points} is not within 1-{MAX_POINTS}"),
                ))
            }
            Self::Edit { prompt, .. } | Self::Retexture { prompt, .. } => {
                crate::request::validate_prompt_at("spec.operation.prompt", prompt)
            }
            Self::Upscale {
                prompt: Some(prompt),
                ..
            } => crate::request::validate_prompt_at("spec.operation.prompt", prompt),
            _ => Ok(()),
        }
    }

    /// The parameters as JSON (stored in the derived asset's metadata).
    pub fn parameters(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("op");
                map
            }
            _ => serde_json::Map::new(),
        }
    }
}

/// What an operation made: the bytes, their media when the operation knows
/// it (documents; images are verified from the bytes), and metadata.
#[derive(Debug)]
pub struct DerivedOutput {
    /// The encoded output.
    pub bytes: Vec<u8>,
    /// Known media (JSON documents); `None` means verify the bytes.
    pub media: Option<Media>,
    /// Facts the operation computed (peaks, statistics).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Runs `operation` on the parent's bytes. CPU-bound: call it on the
/// blocking pool. A parent that does not decode is `invalid_request` naming
/// `spec.parent_id`.
pub fn apply(operation: &Operation, parent: &Media, bytes: &[u8]) -> Result<DerivedOutput> {
    match operation {
        Operation::Resize { width, height } => {
            let (img, format) = decode_image(parent, bytes)?;
            let resized = img.resize_exact(*width, *height, image::imageops::FilterType::Lanczos3);
            image_output(&resized, format, None)
        }
        Operation::Thumbnail { size } => {
            let (img, format) = decode_image(parent, bytes)?;
            let (w, h) = img.dimensions();
            let small = if w <= *size && h <= *size {
                img
            } else {
                img.thumbnail(*size, *size)
            };
            image_output(&small, format, None)
        }
        Operation::Convert { format, quality } => {
            let (img, _) = decode_image(parent, bytes)?;
            image_output(&img, *format, *quality)
        }
        Operation::NormalMap { strength } => {
            let (img, _) = decode_image(parent, bytes)?;
            let tileable = matches!(parent, Media::Image { tileable: true, .. });
            let normals = normal_map(&img, *strength, tileable);
            image_output(&normals, ImageFormat::Png, None)
        }
        Operation::Waveform { points, render } => {
            let peaks = waveform::peaks(parent, bytes, *points as usize).map_err(bad_parent)?;
            waveform::output(&peaks, *render)
        }
        Operation::MeshStats {} => {
            let stats = mesh_stats::compute(parent, bytes).map_err(bad_parent)?;
            json_output(stats)
        }
        remote => Err(Error::Internal(format!(
            "{} is performed by a provider, not locally",
            remote.name()
        ))),
    }
}

/// Whether this build can run the operation; checked at submit so that a
/// job that cannot run is never queued. Every operation is available.
pub fn check_available(_operation: &Operation) -> Result<()> {
    Ok(())
}

/// A JSON document holding `facts`, which also become the asset's metadata.
fn json_output(facts: serde_json::Map<String, serde_json::Value>) -> Result<DerivedOutput> {
    let bytes = serde_json::to_vec_pretty(&facts)
        .map_err(|e| Error::Internal(format!("cannot encode JSON: {e}")))?;
    Ok(DerivedOutput {
        bytes,
        media: Some(Media::Document {
            format: crate::asset::DocumentFormat::Json,
            page_count: 1,
        }),
        metadata: facts,
    })
}

/// Audio peaks: the loudest sample of each of `points` equal slices.
mod waveform {
    use std::io::Cursor;

    use image::{DynamicImage, Rgba, RgbaImage};
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    use super::{DerivedOutput, encode};
    use crate::asset::{ImageFormat, Media};
    use crate::error::Result;

    /// Height of the rendered waveform in pixels.
    const RENDER_HEIGHT: u32 = 128;

    /// Decodes the audio and returns `points` peaks in 0–1.
    pub(super) fn peaks(
        parent: &Media,
        bytes: &[u8],
        points: usize,
    ) -> std::result::Result<Vec<f32>, String> {
        let Media::Audio {
            duration_s,
            sample_rate,
            ..
        } = parent
        else {
            return Err("it is not audio".into());
        };
        let total_frames = ((duration_s * f64::from(*sample_rate)).ceil() as u64).max(1);
        let stream =
            MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
        let probed = symphonia::default::get_probe()
            .format(
                &Hint::new(),
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| e.to_string())?;
        let mut reader = probed.format;
        let track = reader.default_track().ok_or("it has no audio track")?;
        let track_id = track.id;
        let mut decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .map_err(|e| e.to_string())?;
        let mut peaks = vec![0f32; points];
        let mut frame = 0u64;
        while let Ok(packet) = reader.next_packet() {
            if packet.track_id() != track_id {
                continue;
            }
            let decoded = decoder.decode(&packet).map_err(|e| e.to_string())?;
            let channels = decoded.spec().channels.count().max(1);
            let mut samples = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
            samples.copy_interleaved_ref(decoded);
            for chunk in samples.samples().chunks(channels) {
                let slot = ((frame * points as u64) / total_frames).min(points as u64 - 1) as usize;
                let loudest = chunk.iter().fold(0f32, |m, s| m.max(s.abs()));
                peaks[slot] = peaks[slot].max(loudest.min(1.0));
                frame += 1;
            }
        }
        Ok(peaks)
    }

    /// The peaks as a JSON document, or as a PNG drawing when `render`.
    pub(super) fn output(peaks: &[f32], render: bool) -> Result<DerivedOutput> {
        let mut facts = serde_json::Map::new();
        let rounded: Vec<f64> = peaks
            .iter()
            .map(|p| (f64::from(*p) * 1e4).round() / 1e4)
            .collect();
        facts.insert("peaks".into(), serde_json::json!(rounded));
        if !render {
            return super::json_output(facts);
        }
        let image = draw(peaks);
        Ok(DerivedOutput {
            bytes: encode(&image, ImageFormat::Png, None)?,
            media: None,
            metadata: facts,
        })
    }

    /// One column per peak, mirrored around the middle line.
    fn draw(peaks: &[f32]) -> DynamicImage {
        let width = u32::try_from(peaks.len()).unwrap_or(u32::MAX).max(1);
        let middle = RENDER_HEIGHT as f32 / 2.0;
        let image = RgbaImage::from_fn(width, RENDER_HEIGHT, |x, y| {
            let peak = peaks.get(x as usize).copied().unwrap_or(0.0);
            let reach = (peak * middle).max(0.5);
            if (y as f32 + 0.5 - middle).abs() <= reach {
                Rgba([64, 160, 255, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        });
        DynamicImage::ImageRgba8(image)
    }
}

/// Mesh statistics of a glTF binary: counts, structure and bounds.
mod mesh_stats {
    use crate::asset::Media;

    /// The statistics of the model in `bytes`.
    pub(super) fn compute(
        parent: &Media,
        bytes: &[u8],
    ) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
        let Media::Model {
            vertex_count,
            triangle_count,
            format,
        } = parent
        else {
            return Err("it is not a model".into());
        };
        let gltf = gltf::Gltf::from_slice(bytes).map_err(|e| e.to_string())?;
        let document = &gltf.document;
        let primitives: usize = document.meshes().map(|m| m.primitives().len()).sum();
        let mut facts = serde_json::Map::new();
        facts.insert("format".into(), serde_json::json!(format.as_str()));
        facts.insert("vertex_count".into(), serde_json::json!(vertex_count));
        facts.insert("triangle_count".into(), serde_json::json!(triangle_count));
        facts.insert("meshes".into(), serde_json::json!(document.meshes().len()));
        facts.insert("primitives".into(), serde_json::json!(primitives));
        facts.insert(
            "materials".into(),
            serde_json::json!(document.materials().len()),
        );
        facts.insert("nodes".into(), serde_json::json!(document.nodes().len()));
        if let Some((min, max)) = bounds(document) {
            facts.insert(
                "bounds".into(),
                serde_json::json!({ "min": min, "max": max }),
            );
        }
        Ok(facts)
    }

    /// The box around every primitive's POSITION bounds (glTF requires them),
    /// in mesh space.
    fn bounds(document: &gltf::Document) -> Option<([f32; 3], [f32; 3])> {
        let mut total: Option<([f32; 3], [f32; 3])> = None;
        for primitive in document
            .meshes()
            .flat_map(|m| m.primitives().collect::<Vec<_>>())
        {
            let b = primitive.bounding_box();
            total = Some(match total {
                None => (b.min, b.max),
                Some((min, max)) => (
                    [
                        min[0].min(b.min[0]),
                        min[1].min(b.min[1]),
                        min[2].min(b.min[2]),
                    ],
                    [
                        max[0].max(b.max[0]),
                        max[1].max(b.max[1]),
                        max[2].max(b.max[2]),
                    ],
                ),
            });
        }
        total
    }
}

fn bad_parent(message: impl std::fmt::Display) -> Error {
    Error::invalid(
        "spec.parent_id",
        format!("the parent does not decode: {message}"),
    )
}

fn decode_image(parent: &Media, bytes: &[u8]) -> Result<(DynamicImage, ImageFormat)> {
    let Media::Image { format, .. } = parent else {
        return Err(Error::invalid(
            "spec.parent_id",
            "the parent is not an image",
        ));
    };
    let img = image::load_from_memory(bytes).map_err(bad_parent)?;
    Ok((img, *format))
}

/// Encodes an image; its media is verified from the bytes later.
fn image_output(
    img: &DynamicImage,
    format: ImageFormat,
    quality: Option<u8>,
) -> Result<DerivedOutput> {
    Ok(DerivedOutput {
        bytes: encode(img, format, quality)?,
        media: None,
        metadata: serde_json::Map::new(),
    })
}

/// Encodes `img` as `format`. JPEG has no alpha channel and WebP (lossless
/// here) takes 8-bit RGB(A), so those get 8-bit copies first.
pub(crate) fn encode(
    img: &DynamicImage,
    format: ImageFormat,
    quality: Option<u8>,
) -> Result<Vec<u8>> {
    let failed =
        |e: image::ImageError| Error::Internal(format!("cannot encode {}: {e}", format.as_str()));
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Png => img
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(failed)?,
        ImageFormat::Jpeg => {
            let rgb = img.to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.unwrap_or(85))
                .write_image(
                    &rgb,
                    rgb.width(),
                    rgb.height(),
                    image::ExtendedColorType::Rgb8,
                )
                .map_err(failed)?;
        }
        ImageFormat::Webp => {
            let rgba = img.to_rgba8();
            image::codecs::webp::WebPEncoder::new_lossless(&mut out)
                .write_image(
                    &rgba,
                    rgba.width(),
                    rgba.height(),
                    image::ExtendedColorType::Rgba8,
                )
                .map_err(failed)?;
        }
    }
    Ok(out.into_inner())
}

/// Sobel slopes of the luminance, as tangent-space normals in RGB.
fn normal_map(img: &DynamicImage, strength: f64, tileable: bool) -> DynamicImage {
    let height = img.to_luma32f();
    let (w, h) = height.dimensions();
    let sample = |x: i64, y: i64| -> f64 {
        let (x, y) = if tileable {
            (x.rem_euclid(i64::from(w)), y.rem_euclid(i64::from(h)))
        } else {
            (x.clamp(0, i64::from(w) - 1), y.clamp(0, i64::from(h) - 1))
        };
        // In range by construction: wrapped or clamped into the image.
        f64::from(height.get_pixel(x as u32, y as u32).0[0])
    };
    let normals = image::RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        let dx = (sample(x + 1, y - 1) + 2.0 * sample(x + 1, y) + sample(x + 1, y + 1))
            - (sample(x - 1, y - 1) + 2.0 * sample(x - 1, y) + sample(x - 1, y + 1));
        let dy = (sample(x - 1, y + 1) + 2.0 * sample(x, y + 1) + sample(x + 1, y + 1))
            - (sample(x - 1, y - 1) + 2.0 * sample(x, y - 1) + sample(x + 1, y - 1));
        let (nx, ny, nz) = (-dx * strength, -dy * strength, 1.0);
        let length = (nx * nx + ny * ny + nz * nz).sqrt();
        let channel = |v: f64| ((v / length * 0.5 + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8;
        image::Rgb([channel(nx), channel(ny), channel(nz)])
    });
    DynamicImage::ImageRgb8(normals)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_remote_operation_names_are_the_remote_operations() {
        let remote = [
            r#"{"op":"edit","prompt":"p"}"#,
            r#"{"op":"upscale"}"#,
            r#"{"op":"retexture","prompt":"p"}"#,
            r#"{"op":"image_to_3d"}"#,
        ];
        let names: Vec<&str> = remote
            .iter()
            .map(|json| serde_json::from_str::<Operation>(json).unwrap_or_else(|e| panic!("{e}")))
            .inspect(|op| assert!(op.is_remote(), "{op:?}"))
            .map(|op| op.name())
            .collect();
        assert_eq!(names, REMOTE_OPERATIONS);
        // Earlier versions wrote image-to-3D as `image_to3d`; stored jobs still read.
        let earlier = serde_json::from_str::<Operation>(r#"{"op":"image_to3d"}"#);
        assert_eq!(earlier.ok().map(|op| op.name()), Some("image_to_3d"));
        assert!(check_remote_operation("models[0].operation", "upscale").is_ok());
        let local = check_remote_operation("models[0].operation", "thumbnail");
        assert!(
            matches!(local, Err(Error::InvalidRequest { ref field, .. }) if field == "models[0].operation"),
            "{local:?}"
        );
    }
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 3) as u8, 90])
        });
        encode(&DynamicImage::ImageRgb8(img), ImageFormat::Png, None).unwrap_or_default()
    }

    fn image_media(width: u32, height: u32) -> Media {
        Media::Image {
            width,
            height,
            format: ImageFormat::Png,
            tileable: false,
        }
    }

    fn decoded(output: &DerivedOutput) -> (u32, u32, Option<image::ImageFormat>) {
        let format = image::guess_format(&output.bytes).ok();
        let img = image::load_from_memory(&output.bytes).unwrap_or_default();
        (img.width(), img.height(), format)
    }

    #[test]
    fn thumbnails_keep_the_aspect_and_never_grow() {
        let bytes = png(400, 200);
        let out = apply(
            &Operation::Thumbnail { size: 100 },
            &image_media(400, 200),
            &bytes,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded(&out), (100, 50, Some(image::ImageFormat::Png)));
        let small = apply(
            &Operation::Thumbnail { size: 1000 },
            &image_media(400, 200),
            &bytes,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded(&small).0, 400);
    }

    #[test]
    fn conversions_change_the_encoding() {
        let bytes = png(32, 16);
        for (format, expected) in [
            (ImageFormat::Jpeg, image::ImageFormat::Jpeg),
            (ImageFormat::Webp, image::ImageFormat::WebP),
        ] {
            let op = Operation::Convert {
                format,
                quality: None,
            };
            let out = apply(&op, &image_media(32, 16), &bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(decoded(&out), (32, 16, Some(expected)));
        }
    }

    #[test]
    fn a_flat_height_map_points_straight_up() {
        let flat = encode(
            &DynamicImage::ImageLuma8(image::GrayImage::from_pixel(8, 8, image::Luma([128]))),
            ImageFormat::Png,
            None,
        )
        .unwrap_or_default();
        let out = apply(
            &Operation::NormalMap { strength: 2.0 },
            &image_media(8, 8),
            &flat,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let img = image::load_from_memory(&out.bytes)
            .unwrap_or_default()
            .to_rgb8();
        assert!(
            img.pixels().all(|p| p.0 == [128, 128, 255]),
            "{:?}",
            img.get_pixel(0, 0)
        );
    }

    #[test]
    fn operations_parse_and_validate_by_field() {
        let op: Operation = serde_json::from_str(r#"{"op":"thumbnail","size":256}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op, Operation::Thumbnail { size: 256 });
        assert!(serde_json::from_str::<Operation>(r#"{"op":"thumbnail","size":1,"x":2}"#).is_err());
        let err = Operation::Resize {
            width: 0,
            height: 5,
        }
        .validate();
        assert!(
            matches!(err, Err(Error::InvalidRequest { field, .. }) if field == "spec.operation.width")
        );
        assert_eq!(op.parameters().get("size"), Some(&serde_json::json!(256)));
    }
}
