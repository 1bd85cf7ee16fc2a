//! Recognising a file's format from its first bytes (its "magic").

use std::io::Read;

use super::Source;
use crate::asset::{AudioFormat, ImageFormat};
use crate::error::{Error, Result};

/// How many leading bytes are enough to tell every supported format apart.
const HEAD_LEN: usize = 16;

/// The format a file's leading bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// PNG, JPEG or WebP.
    Image(ImageFormat),
    /// WAV, MP3, Ogg or FLAC.
    Audio(AudioFormat),
    /// Binary glTF.
    Glb,
    /// An ISO base media file (`ftyp` box): MP4.
    Mp4,
    /// EBML: WebM or Matroska.
    Webm,
    /// PDF.
    Pdf,
    /// No binary signature: text, JSON or glTF JSON (decided by the text
    /// checks, which also reject binary junk).
    Text,
}

/// Reads the head of the bytes and names their format.
pub fn signature(source: Source<'_>) -> Result<Signature> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    source
        .open("the file")?
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| super::read_error("the file", e))?;
    if head.is_empty() {
        return Err(Error::InvalidOutput("the file is empty (0 bytes)".into()));
    }
    Ok(from_head(&head))
}

/// Names the format of a file starting with `head` (at most [`HEAD_LEN`] bytes).
pub fn from_head(head: &[u8]) -> Signature {
    let riff_form = |form: &[u8; 4]| head.starts_with(b"RIFF") && head.get(8..12) == Some(form);
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Signature::Image(ImageFormat::Png)
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Signature::Image(ImageFormat::Jpeg)
    } else if riff_form(b"WEBP") {
        Signature::Image(ImageFormat::Webp)
    } else if riff_form(b"WAVE") {
        Signature::Audio(AudioFormat::Wav)
    } else if head.starts_with(b"OggS") {
        Signature::Audio(AudioFormat::Ogg)
    } else if head.starts_with(b"fLaC") {
        Signature::Audio(AudioFormat::Flac)
    } else if head.starts_with(b"ID3") || is_mpeg_audio_frame(head) {
        Signature::Audio(AudioFormat::Mp3)
    } else if head.starts_with(b"glTF") {
        Signature::Glb
    } else if head.get(4..8) == Some(b"ftyp") {
        Signature::Mp4
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Signature::Webm
    } else if head.starts_with(b"%PDF-") {
        Signature::Pdf
    } else {
        Signature::Text
    }
}

/// An MPEG audio frame header: 11 sync bits, a valid version, layer III
/// (the only layer Gaia decodes), and a bitrate index that is not "bad".
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    let [first, second, third, ..] = head else {
        return false;
    };
    let sync = *first == 0xff && second & 0xe0 == 0xe0;
    let version_valid = (second >> 3) & 0b11 != 0b01;
    let layer_three = (second >> 1) & 0b11 == 0b01;
    let bitrate_valid = third >> 4 != 0b1111;
    sync && version_valid && layer_three && bitrate_valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_magic() {
        let cases: [(&[u8], Signature); 12] = [
            (b"\x89PNG\r\n\x1a\n....", Signature::Image(ImageFormat::Png)),
            (
                &[0xff, 0xd8, 0xff, 0xe0],
                Signature::Image(ImageFormat::Jpeg),
            ),
            (b"RIFF\0\0\0\0WEBPVP8 ", Signature::Image(ImageFormat::Webp)),
            (b"RIFF\0\0\0\0WAVEfmt ", Signature::Audio(AudioFormat::Wav)),
            (b"OggS\0\x02", Signature::Audio(AudioFormat::Ogg)),
            (b"fLaC\0\0\0\x22", Signature::Audio(AudioFormat::Flac)),
            (b"ID3\x04\0", Signature::Audio(AudioFormat::Mp3)),
            (
                &[0xff, 0xfb, 0x90, 0x64],
                Signature::Audio(AudioFormat::Mp3),
            ),
            (b"glTF\x02\0\0\0", Signature::Glb),
            (b"\0\0\0\x20ftypisom", Signature::Mp4),
            (b"%PDF-1.7\n", Signature::Pdf),
            (b"{\"a\": 1}", Signature::Text),
        ];
        for (head, expected) in cases {
            assert_eq!(from_head(head), expected, "{head:?}");
        }
    }

    #[test]
    fn a_jpeg_marker_is_not_mistaken_for_mp3() {
        assert_eq!(
            from_head(&[0xff, 0xd8, 0xff, 0xdb]),
            Signature::Image(ImageFormat::Jpeg)
        );
        // Sync bits but layer I: not something Gaia decodes as mp3.
        assert_eq!(from_head(&[0xff, 0xff, 0x90, 0x00]), Signature::Text);
    }
}
