//! Images: png, jpeg, webp, decoded in full.

use std::io::{Read, Seek, SeekFrom};

use super::Source;
use crate::asset::{ImageFormat, Media};
use crate::error::{Error, Result};

/// Decodes every pixel of the image (a header alone would pass a truncated
/// file) and returns its dimensions. `tileable` is set by the caller that
/// knows what was asked for.
pub fn inspect(source: Source<'_>, format: ImageFormat) -> Result<Media> {
    if format == ImageFormat::Jpeg {
        check_jpeg_end(source)?;
    }
    let reader = source.open("the image")?;
    let codec = match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
    };
    let decoded = image::ImageReader::with_format(reader, codec)
        .decode()
        .map_err(|e| {
            Error::InvalidOutput(format!("{} image does not decode: {e}", format.as_str()))
        })?;
    Ok(Media::Image {
        width: decoded.width(),
        height: decoded.height(),
        format,
        tileable: false,
    })
}

/// Bytes at the end of a JPEG searched for its end-of-image marker; some
/// cameras append a little data after it.
const JPEG_TAIL: u64 = 4096;

/// The JPEG decoder fills a cut file with grey rather than failing, so the
/// end-of-image marker (`FF D9`) is checked for explicitly.
fn check_jpeg_end(source: Source<'_>) -> Result<()> {
    let mut file = source.open("the image")?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::End(0))
        .and_then(|len| file.seek(SeekFrom::Start(len.saturating_sub(JPEG_TAIL))))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| super::read_error("the image", e))?;
    if tail.windows(2).any(|w| w == [0xff, 0xd9]) {
        Ok(())
    } else {
        Err(Error::InvalidOutput(
            "jpeg image does not decode: it is truncated (no end-of-image marker)".into(),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_files::*;
    use super::*;

    fn encode(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 13) as u8, ((x ^ y) * 3) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn reads_dimensions_and_format_of_each_encoding() {
        for (codec, format) in [
            (image::ImageFormat::Png, ImageFormat::Png),
            (image::ImageFormat::Jpeg, ImageFormat::Jpeg),
            (image::ImageFormat::WebP, ImageFormat::Webp),
        ] {
            let media = detect_bytes(&encode(37, 21, codec)).unwrap();
            assert_eq!(
                media,
                Media::Image {
                    width: 37,
                    height: 21,
                    format,
                    tileable: false
                },
                "{format:?}"
            );
        }
    }

    #[test]
    fn truncated_images_fail_naming_the_format() {
        for (codec, name) in [
            (image::ImageFormat::Png, "png"),
            (image::ImageFormat::Jpeg, "jpeg"),
            (image::ImageFormat::WebP, "webp"),
        ] {
            let bytes = encode(64, 64, codec);
            let message = failure(detect_bytes(&truncated(&bytes, 0.5)));
            assert!(
                message.contains(name) && message.contains("does not decode"),
                "{message}"
            );
        }
    }
}
