//! Verification: a provider's bytes are never trusted, and neither is an
//! imported file. The type is detected from the bytes (never from a file
//! name), the file is decoded from disk, and the real, typed metadata is what
//! gets stored.
//!
//! | type | formats | what is decoded |
//! |---|---|---|
//! | image | png, jpeg, webp | every pixel (dimensions) |
//! | audio | wav, mp3, ogg (vorbis), flac | every packet (duration, rate, channels) |
//! | model | glb, gltf (JSON) | the document, accessors and indices (vertex and triangle counts) |
//! | video | mp4 | the `moov` headers and the last sample of each video track (dimensions, duration) |
//! | document | pdf, json, txt | the page tree (page count); JSON parsed; text checked as UTF-8 |
//!
//! Every decoder reads from the file through a buffered reader; only images
//! (whose pixels are decoded), PDF and glTF documents are held whole.

mod audio;
mod document;
mod image;
mod model;
mod sniff;
mod video;

use std::path::Path;

use crate::asset::{AssetKind, Media};
use crate::error::{Error, Result};

pub use sniff::Signature;

/// Files up to this size may be verified in place (see [`inspect_staged`]).
const QUICK_MAX_BYTES: u64 = 64 * 1024;

/// Images up to this many pixels decode in well under a millisecond.
const QUICK_MAX_PIXELS: u64 = 256 * 256;

/// [`inspect`] for an engine task: a small image (at most 256×256 pixels in
/// at most 64 KiB, as its header says) is verified in place, where a trip
/// to the blocking pool would cost more than the decoding; anything else is
/// verified on the blocking pool.
pub async fn inspect_staged(
    path: &Path,
    size_bytes: u64,
    expected: AssetKind,
    tileable: bool,
) -> Result<Media> {
    if expected == AssetKind::Image && is_small_image(path, size_bytes) {
        return inspect(path, expected, tileable);
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || inspect(&path, expected, tileable))
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))?
}

/// Whether the file is a small image, from its size and its header alone.
fn is_small_image(path: &Path, size_bytes: u64) -> bool {
    size_bytes <= QUICK_MAX_BYTES
        && ::image::ImageReader::open(path)
            .and_then(|reader| reader.with_guessed_format())
            .ok()
            .and_then(|reader| reader.into_dimensions().ok())
            .is_some_and(|(width, height)| u64::from(width) * u64::from(height) <= QUICK_MAX_PIXELS)
}

/// Decodes the file at `path`, checks it is an asset of `expected` kind, and
/// returns its metadata. `tileable` is carried into image metadata.
///
/// Errors are `invalid_output` and say what was wrong.
pub fn inspect(path: &Path, expected: AssetKind, tileable: bool) -> Result<Media> {
    let media = detect(path)?;
    if media.kind() != expected {
        return Err(Error::InvalidOutput(format!(
            "expected {expected} output, got {} ({})",
            media.kind(),
            media.extension()
        )));
    }
    Ok(match media {
        Media::Image {
            width,
            height,
            format,
            ..
        } => Media::Image {
            width,
            height,
            format,
            tileable,
        },
        other => other,
    })
}

/// Detects the type of the file at `path` from its bytes (never from its
/// name), decodes it and returns its metadata. Errors are `invalid_output`
/// saying what was wrong; an import maps them to `invalid_request`.
pub fn detect(path: &Path) -> Result<Media> {
    match sniff::signature(path)? {
        Signature::Image(format) => image::inspect(path, format),
        Signature::Audio(format) => audio::inspect(path, format),
        Signature::Glb => model::inspect_glb(path),
        Signature::Mp4 => video::inspect_mp4(path),
        Signature::Webm => Err(Error::InvalidOutput(
            "webm/matroska video is not supported yet (only mp4 is)".into(),
        )),
        Signature::Pdf => document::inspect_pdf(path),
        Signature::Text => document::inspect_text(path),
    }
}

/// `invalid_output` for an I/O failure while reading the file under test.
fn read_error(what: &str, error: std::io::Error) -> Error {
    Error::InvalidOutput(format!("cannot read {what}: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_files {
    //! Writes bytes to a temporary file and runs the verifier on it.

    use super::*;

    /// Writes `bytes` to a file named `name` in a fresh folder and detects it.
    pub fn detect_bytes_named(bytes: &[u8], name: &str) -> Result<Media> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        detect(&path)
    }

    /// Like [`detect_bytes_named`], with a name that says nothing.
    pub fn detect_bytes(bytes: &[u8]) -> Result<Media> {
        detect_bytes_named(bytes, "output")
    }

    /// The message of an `invalid_output` error; panics on anything else.
    pub fn failure(result: Result<Media>) -> String {
        match result {
            Err(Error::InvalidOutput(message)) => message,
            other => panic!("expected invalid_output, got {other:?}"),
        }
    }

    /// The first `fraction` of the bytes, as a truncated download would be.
    pub fn truncated(bytes: &[u8], fraction: f64) -> Vec<u8> {
        bytes[..(bytes.len() as f64 * fraction) as usize].to_vec()
    }

    /// A fixture committed under `gaia-core/tests/fixtures/`.
    pub fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::test_files::*;
    use super::*;
    use crate::asset::ImageFormat;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = ::image::RgbImage::new(width, height);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ::image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn inspect_checks_the_kind_and_carries_tileable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, png(7, 3)).unwrap();
        let media = inspect(&path, AssetKind::Image, true).unwrap();
        assert_eq!(
            media,
            Media::Image {
                width: 7,
                height: 3,
                format: ImageFormat::Png,
                tileable: true
            }
        );
        let message = match inspect(&path, AssetKind::Audio, false) {
            Err(Error::InvalidOutput(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(
            message.contains("expected audio") && message.contains("image"),
            "{message}"
        );
    }

    #[test]
    fn names_are_never_consulted() {
        let bytes = png(5, 4);
        for name in ["sound.wav", "model.glb", "doc.pdf", "x.txt", "noext"] {
            let media = detect_bytes_named(&bytes, name).unwrap();
            assert_eq!(media.kind(), AssetKind::Image, "{name}");
        }
    }

    #[test]
    fn empty_and_unknown_binary_bytes_are_refused_with_a_reason() {
        let message = failure(detect_bytes(b""));
        assert!(message.contains("empty"), "{message}");
        let message = failure(detect_bytes(&[0u8, 1, 2, 3, 0, 0, 9, 200, 17]));
        assert!(message.contains("not a format"), "{message}");
    }

    #[test]
    fn webm_is_reported_as_unsupported() {
        let message = failure(detect_bytes(&[
            0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81,
        ]));
        assert!(message.contains("webm"), "{message}");
    }
}
