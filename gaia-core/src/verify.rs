//! Verification: a provider's bytes are never trusted, and neither is an
//! imported file. The type is detected from the bytes (never from a file
//! name), the bytes are decoded (from disk, or from memory for a small
//! output staged there), and the real, typed metadata is what gets stored.
//!
//! | type | formats | what is decoded |
//! |---|---|---|
//! | image | png, jpeg, webp | every pixel (dimensions) |
//! | audio | wav, mp3, ogg (vorbis), flac | every packet (duration, rate, channels) |
//! | model | glb, gltf (JSON) | the document, accessors and indices (vertex and triangle counts) |
//! | video | mp4 | the `moov` headers and the last sample of each video track (dimensions, duration) |
//! | document | pdf, json, txt | the page tree (page count); JSON parsed; text checked as UTF-8 |
//!
//! Every decoder reads through a buffered reader (or from the staged bytes
//! in memory); only images (whose pixels are decoded), PDF and glTF
//! documents are held whole.

mod audio;
mod document;
mod image;
mod model;
mod sniff;
mod video;

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::asset::{AssetKind, Media};
use crate::error::{Error, Result};
use crate::provider::{StagedContent, StagedOutput};

pub use sniff::Signature;

/// Files up to this size may be verified in place (see [`inspect_staged`]).
const QUICK_MAX_BYTES: u64 = 64 * 1024;

/// Images up to this many pixels decode in well under a millisecond.
const QUICK_MAX_PIXELS: u64 = 256 * 256;

/// The bytes under verification: a file, or a small output staged in memory.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A file on disk.
    File(&'a Path),
    /// Bytes in memory.
    Memory(&'a [u8]),
}

/// What the decoders read: a buffered file or a slice.
trait ReadSeek: BufRead + Seek {}

impl<T: BufRead + Seek> ReadSeek for T {}

impl<'a> Source<'a> {
    /// A reader from the first byte; `what` names the bytes in an error.
    fn open(self, what: &str) -> Result<Box<dyn ReadSeek + 'a>> {
        match self {
            Self::File(path) => File::open(path)
                .map(|file| Box::new(BufReader::new(file)) as Box<dyn ReadSeek>)
                .map_err(|e| read_error(what, e)),
            Self::Memory(bytes) => Ok(Box::new(Cursor::new(bytes))),
        }
    }

    /// The number of bytes.
    fn len(self, what: &str) -> Result<u64> {
        match self {
            Self::File(path) => std::fs::metadata(path)
                .map(|metadata| metadata.len())
                .map_err(|e| read_error(what, e)),
            Self::Memory(bytes) => Ok(bytes.len() as u64),
        }
    }
}

impl<'a> From<&'a Path> for Source<'a> {
    fn from(path: &'a Path) -> Self {
        Self::File(path)
    }
}

/// A [`Source`] that can move to the blocking pool: a path, or the staged
/// output's shared buffer (cloning it copies nothing).
enum OwnedSource {
    File(PathBuf),
    Memory(Bytes),
}

impl OwnedSource {
    fn of(staged: &StagedOutput) -> Self {
        match staged.content() {
            StagedContent::File(path) => Self::File(path.to_path_buf()),
            StagedContent::Memory(bytes) => Self::Memory(bytes.clone()),
        }
    }

    fn source(&self) -> Source<'_> {
        match self {
            Self::File(path) => Source::File(path),
            Self::Memory(bytes) => Source::Memory(bytes),
        }
    }
}

/// [`inspect`] for an engine task: a small image (at most 256×256 pixels in
/// at most 64 KiB, as its header says) is verified in place, where a trip
/// to the blocking pool would cost more than the decoding; anything else is
/// verified on the blocking pool.
pub async fn inspect_staged(
    staged: &StagedOutput,
    expected: AssetKind,
    tileable: bool,
) -> Result<Media> {
    let source = staged.source();
    if expected == AssetKind::Image && is_small_image(source, staged.size()) {
        return inspect(source, expected, tileable);
    }
    on_blocking_pool(staged, move |source| inspect(source, expected, tileable)).await
}

/// [`detect`] on the blocking pool.
pub(crate) async fn detect_staged(staged: &StagedOutput) -> Result<Media> {
    on_blocking_pool(staged, |source| detect(source)).await
}

/// Runs a verification of the staged bytes on the blocking pool.
async fn on_blocking_pool(
    staged: &StagedOutput,
    verify: impl FnOnce(Source<'_>) -> Result<Media> + Send + 'static,
) -> Result<Media> {
    let owned = OwnedSource::of(staged);
    tokio::task::spawn_blocking(move || verify(owned.source()))
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))?
}

/// Whether the bytes are a small image, from their size and header alone.
fn is_small_image(source: Source<'_>, size_bytes: u64) -> bool {
    size_bytes <= QUICK_MAX_BYTES
        && source
            .open("the image")
            .ok()
            .and_then(|reader| ::image::ImageReader::new(reader).with_guessed_format().ok())
            .and_then(|reader| reader.into_dimensions().ok())
            .is_some_and(|(width, height)| u64::from(width) * u64::from(height) <= QUICK_MAX_PIXELS)
}

/// Decodes the bytes, checks they are an asset of `expected` kind, and
/// returns their metadata. `tileable` is carried into image metadata.
///
/// Errors are `invalid_output` and say what was wrong.
pub fn inspect<'a>(
    source: impl Into<Source<'a>>,
    expected: AssetKind,
    tileable: bool,
) -> Result<Media> {
    let media = detect(source)?;
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

/// Detects the type of the bytes from themselves (never from a file name),
/// decodes them and returns their metadata. Errors are `invalid_output`
/// saying what was wrong; an import maps them to `invalid_request`.
pub fn detect<'a>(source: impl Into<Source<'a>>) -> Result<Media> {
    let source = source.into();
    match sniff::signature(source)? {
        Signature::Image(format) => image::inspect(source, format),
        Signature::Audio(format) => audio::inspect(source, format),
        Signature::Glb => model::inspect_glb(source),
        Signature::Mp4 => video::inspect_mp4(source),
        Signature::Webm => Err(Error::InvalidOutput(
            "webm/matroska video is not supported yet (only mp4 is)".into(),
        )),
        Signature::Pdf => document::inspect_pdf(source),
        Signature::Text => document::inspect_text(source),
    }
}

/// `invalid_output` for an I/O failure while reading the bytes under test.
fn read_error(what: &str, error: std::io::Error) -> Error {
    Error::InvalidOutput(format!("cannot read {what}: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_files {
    //! Runs the verifier on bytes, from a temporary file and from memory.

    use super::*;

    /// Writes `bytes` to a file named `name` in a fresh folder and detects
    /// it; detects them in memory too, and requires the same answer.
    pub fn detect_bytes_named(bytes: &[u8], name: &str) -> Result<Media> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let from_file = detect(path.as_path());
        let from_memory = detect(Source::Memory(bytes));
        assert_eq!(
            format!("{from_file:?}"),
            format!("{from_memory:?}"),
            "a file and the same bytes in memory verify alike"
        );
        from_file
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
        let media = inspect(path.as_path(), AssetKind::Image, true).unwrap();
        assert_eq!(
            media,
            Media::Image {
                width: 7,
                height: 3,
                format: ImageFormat::Png,
                tileable: true
            }
        );
        let message = match inspect(path.as_path(), AssetKind::Audio, false) {
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
