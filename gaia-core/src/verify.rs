//! Verification: a provider's bytes are never trusted. They are decoded from
//! the staging file and the real, typed metadata is what gets stored.

use std::path::Path;

use crate::asset::{AssetKind, ImageFormat, Media};
use crate::error::{Error, Result};

/// Decodes the file at `path`, checks it is an asset of `expected` kind, and
/// returns its metadata. `tileable` is carried into image metadata.
///
/// Errors are `invalid_output` and say what was wrong.
pub fn inspect(path: &Path, expected: AssetKind, tileable: bool) -> Result<Media> {
    let media = detect(path)?;
    if media.kind() != expected {
        return Err(Error::InvalidOutput(format!(
            "expected {expected} output, got {}",
            media.kind()
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
    inspect_image(path, false)
}

fn inspect_image(path: &Path, tileable: bool) -> Result<Media> {
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| Error::InvalidOutput(format!("cannot read image output: {e}")))?;
    let format = match reader.format() {
        Some(image::ImageFormat::Png) => ImageFormat::Png,
        Some(image::ImageFormat::Jpeg) => ImageFormat::Jpeg,
        Some(image::ImageFormat::WebP) => ImageFormat::Webp,
        Some(other) => {
            return Err(Error::InvalidOutput(format!(
                "image format {other:?} is not png, jpeg or webp"
            )));
        }
        None => {
            return Err(Error::InvalidOutput(
                "output is not a recognizable image".into(),
            ));
        }
    };
    // A full decode, not a header peek: truncated or corrupt data must fail here.
    let decoded = reader.decode().map_err(|e| {
        Error::InvalidOutput(format!("{} output does not decode: {e}", format.as_str()))
    })?;
    Ok(Media::Image {
        width: decoded.width(),
        height: decoded.height(),
        format,
        tileable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::new(width, height);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map(|_| out.into_inner())
            .unwrap_or_default()
    }

    fn inspect_bytes(bytes: &[u8]) -> Result<Media> {
        let dir = tempfile::tempdir().map_err(|e| Error::storage("tempdir", e))?;
        let path = dir.path().join("out");
        std::fs::write(&path, bytes).map_err(|e| Error::storage("write", e))?;
        inspect(&path, AssetKind::Image, false)
    }

    #[test]
    fn reads_real_dimensions() {
        let media = inspect_bytes(&png(7, 3)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            media,
            Media::Image {
                width: 7,
                height: 3,
                format: ImageFormat::Png,
                tileable: false
            }
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_bytes() {
        let bytes = png(64, 64);
        let truncated = &bytes[..bytes.len() / 2];
        for bad in [truncated, b"not an image".as_slice(), b"".as_slice()] {
            let err = inspect_bytes(bad).err().unwrap_or(Error::Canceled);
            assert_eq!(err.code(), crate::ErrorCode::InvalidOutput, "{err}");
        }
    }
}
