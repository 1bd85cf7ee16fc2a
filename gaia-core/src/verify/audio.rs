//! Audio: wav, mp3, ogg (vorbis) and flac, decoded packet by packet with
//! symphonia so that memory stays flat however long the file is.

use std::fs::File;
use std::io::Cursor;

use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions};
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::Source;
use crate::asset::{AudioFormat, Media};
use crate::error::{Error, Result};

/// A file may decode this many frames short of what its header promises
/// (encoder delay and padding) before it counts as truncated: 1% of the
/// total, but never less than two MP3 frames.
const SHORTFALL_MIN_FRAMES: u64 = 2 * 1152;

/// Decodes every packet of the audio, which starts with the signature of
/// `format`, and returns its real duration, rate and channels.
pub fn inspect(source: Source<'_>, format: AudioFormat) -> Result<Media> {
    let name = format.as_str();
    let media: Box<dyn MediaSource> = match source {
        Source::File(path) => {
            Box::new(File::open(path).map_err(|e| super::read_error("the audio", e))?)
        }
        // Staged in memory only when small: the copy is a few KiB.
        Source::Memory(bytes) => Box::new(Cursor::new(bytes.to_vec())),
    };
    let stream = MediaSourceStream::new(media, MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    // The hint only orders the probe; the signature already decided the type.
    hint.with_extension(format.extension());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            // Gapless: encoder delay and padding are trimmed, so an mp3
            // with a Xing/LAME header reports its exact length.
            &FormatOptions {
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| invalid(name, "does not open", &e))?;
    let mut reader = probed.format;
    let track = reader
        .default_track()
        .ok_or_else(|| Error::InvalidOutput(format!("{name} audio has no audio track")))?;
    let (track_id, params) = (track.id, track.codec_params.clone());
    let sample_rate = params
        .sample_rate
        .filter(|&rate| rate > 0)
        .ok_or_else(|| Error::InvalidOutput(format!("{name} audio has no sample rate")))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| invalid(name, "uses a codec Gaia cannot decode", &e))?;
    let decoded = decode_all(reader.as_mut(), decoder.as_mut(), track_id, name)?;
    let frames = check_complete(&params, decoded.frames, name)?;
    let channels = params
        .channels
        .map(|c| c.count() as u16)
        .or(decoded.channels)
        .unwrap_or(0);
    if channels == 0 {
        return Err(Error::InvalidOutput(format!(
            "{name} audio has no channels"
        )));
    }
    Ok(Media::Audio {
        duration_s: frames as f64 / f64::from(sample_rate),
        sample_rate,
        channels,
        format,
    })
}

/// What decoding the whole track found.
struct Decoded {
    frames: u64,
    channels: Option<u16>,
}

/// Decodes every packet of `track_id` to its end. A decode error anywhere
/// fails the file: a stored asset must play from start to finish.
fn decode_all(
    reader: &mut dyn FormatReader,
    decoder: &mut dyn Decoder,
    track_id: u32,
    name: &str,
) -> Result<Decoded> {
    let mut decoded = Decoded {
        frames: 0,
        channels: None,
    };
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            // The normal end of a stream, and also where a cut file stops;
            // the frame count against the header tells the two apart.
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(DecodeError::ResetRequired) => break,
            Err(e) => return Err(invalid(name, "is corrupt", &e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let buffer = decoder
            .decode(&packet)
            .map_err(|e| invalid(name, "does not decode", &e))?;
        decoded.frames += buffer.frames() as u64;
        decoded.channels = Some(buffer.spec().channels.count() as u16);
    }
    Ok(decoded)
}

/// The frame count to report: the smaller of the header's and the decoded
/// count (decoders add encoder padding), an error when the file ends early.
fn check_complete(params: &CodecParameters, decoded: u64, name: &str) -> Result<u64> {
    if decoded == 0 {
        return Err(Error::InvalidOutput(format!(
            "{name} audio holds no samples"
        )));
    }
    let Some(promised) = params.n_frames else {
        return Ok(decoded);
    };
    let tolerance = (promised / 100).max(SHORTFALL_MIN_FRAMES);
    if decoded + tolerance < promised {
        let rate = f64::from(params.sample_rate.unwrap_or(1).max(1));
        return Err(Error::InvalidOutput(format!(
            "{name} audio is truncated: its header promises {:.3} s but only {:.3} s decode",
            promised as f64 / rate,
            decoded as f64 / rate
        )));
    }
    Ok(decoded.min(promised))
}

fn invalid(name: &str, what: &str, error: &DecodeError) -> Error {
    Error::InvalidOutput(format!("{name} audio {what}: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_files::*;
    use super::*;

    fn wav(seconds: f64, rate: u32, channels: u16) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
        let frames = (seconds * f64::from(rate)) as u32;
        for i in 0..frames {
            let sample = ((f64::from(i) * 0.05).sin() * 8000.0) as i16;
            for _ in 0..channels {
                writer.write_sample(sample).unwrap();
            }
        }
        writer.finalize().unwrap();
        cursor.into_inner()
    }

    fn audio_fields(media: Media) -> (f64, u32, u16, AudioFormat) {
        match media {
            Media::Audio {
                duration_s,
                sample_rate,
                channels,
                format,
            } => (duration_s, sample_rate, channels, format),
            other => panic!("not audio: {other:?}"),
        }
    }

    #[test]
    fn wav_made_by_hound_reports_its_real_shape() {
        let (duration, rate, channels, format) =
            audio_fields(detect_bytes(&wav(1.5, 44_100, 2)).unwrap());
        assert!((duration - 1.5).abs() < 1e-3, "{duration}");
        assert_eq!((rate, channels, format), (44_100, 2, AudioFormat::Wav));
    }

    /// Fixtures made once with sox, lame (`-V 9`, so with a Xing header),
    /// oggenc and flac: 0.5 s mono 440 Hz at 22,050 Hz; 0.25 s stereo at
    /// 8 kHz for flac.
    #[test]
    fn encoded_fixtures_report_duration_rate_and_channels() {
        for (name, format, seconds, rate, channels) in [
            ("tone.mp3", AudioFormat::Mp3, 0.5, 22_050, 1),
            ("tone.ogg", AudioFormat::Ogg, 0.5, 22_050, 1),
            ("stereo.flac", AudioFormat::Flac, 0.25, 8_000, 2),
        ] {
            let media = detect_bytes(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (duration, got_rate, got_channels, got_format) = audio_fields(media);
            // MP3 frames are 1,152 samples, so its length rounds up to one.
            assert!((duration - seconds).abs() < 0.06, "{name}: {duration}");
            assert_eq!(
                (got_rate, got_channels, got_format),
                (rate, channels, format),
                "{name}"
            );
        }
    }

    #[test]
    fn truncated_wav_and_mp3_fail_saying_truncated() {
        for (name, bytes) in [("wav", wav(1.0, 22_050, 1)), ("mp3", fixture("tone.mp3"))] {
            let message = failure(detect_bytes(&truncated(&bytes, 0.5)));
            assert!(
                message.contains(name) && message.contains("truncated"),
                "{name}: {message}"
            );
        }
    }

    #[test]
    fn truncated_flac_and_ogg_fail() {
        for name in ["stereo.flac", "tone.ogg"] {
            let message = failure(detect_bytes(&truncated(&fixture(name), 0.4)));
            assert!(message.contains("audio"), "{name}: {message}");
        }
    }

    #[test]
    fn a_wav_header_without_samples_fails() {
        let bytes = wav(1.0, 8_000, 1);
        let message = failure(detect_bytes(&bytes[..44]));
        assert!(message.contains("wav"), "{message}");
    }
}
