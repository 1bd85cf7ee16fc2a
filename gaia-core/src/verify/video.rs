//! Video: mp4, read from its `moov` headers with the `mp4` crate.

use mp4::TrackType;

use super::Source;
use crate::asset::{Media, VideoFormat};
use crate::error::{Error, Result};

/// Reads the box headers of the mp4 (sample data is skipped, so memory
/// stays flat), takes the dimensions of its first video track and the
/// movie's duration, and checks that no box and no video sample runs past
/// the end of the file.
pub fn inspect_mp4(source: Source<'_>) -> Result<Media> {
    let size = source.len("the video")?;
    let mut reader = mp4::Mp4Reader::read_header(source.open("the video")?, size)
        .map_err(|e| Error::InvalidOutput(format!("mp4 video does not parse: {e}")))?;
    // The reader skips box bodies by seeking, so a cut file shows as boxes
    // that end past the end of the file.
    if reader.size() > size {
        return Err(Error::InvalidOutput(format!(
            "mp4 video is truncated: its boxes need {} bytes but the file has {size}",
            reader.size()
        )));
    }
    let (track_id, width, height, track_duration) = first_video_track(&reader)?;
    check_last_sample(&mut reader, track_id)?;
    let movie = reader.duration();
    let duration = if movie.is_zero() {
        track_duration
    } else {
        movie
    };
    Ok(Media::Video {
        width: u32::from(width),
        height: u32::from(height),
        duration_s: duration.as_secs_f64(),
        format: VideoFormat::Mp4,
    })
}

type VideoTrack = (u32, u16, u16, std::time::Duration);

/// The lowest-numbered video track (track order in a map is arbitrary).
fn first_video_track<R: std::io::Read + std::io::Seek>(
    reader: &mp4::Mp4Reader<R>,
) -> Result<VideoTrack> {
    let mut video: Vec<VideoTrack> = reader
        .tracks()
        .values()
        .filter(|track| matches!(track.track_type(), Ok(TrackType::Video)))
        .map(|t| (t.track_id(), t.width(), t.height(), t.duration()))
        .collect();
    video.sort_by_key(|t| t.0);
    let track = video.into_iter().next().ok_or_else(|| {
        Error::InvalidOutput("mp4 holds no video track (audio-only mp4 is not supported)".into())
    })?;
    if track.1 == 0 || track.2 == 0 {
        return Err(Error::InvalidOutput(format!(
            "mp4 video track is {}x{} pixels",
            track.1, track.2
        )));
    }
    Ok(track)
}

/// Reads the last sample of the track: with the `moov` box first, a cut
/// `mdat` is only noticed where its samples should be.
fn check_last_sample<R: std::io::Read + std::io::Seek>(
    reader: &mut mp4::Mp4Reader<R>,
    track_id: u32,
) -> Result<()> {
    let samples = reader
        .sample_count(track_id)
        .map_err(|e| Error::InvalidOutput(format!("mp4 video track is unreadable: {e}")))?;
    if samples == 0 {
        return Err(Error::InvalidOutput("mp4 video track has no frames".into()));
    }
    match reader.read_sample(track_id, samples) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::InvalidOutput(format!(
            "mp4 video is truncated: frame {samples} is missing"
        ))),
        Err(e) => Err(Error::InvalidOutput(format!(
            "mp4 video is truncated: frame {samples} cannot be read ({e})"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_files::*;
    use super::*;

    /// An mp4 written by the `mp4` crate: an H.264 track of `frames` frames
    /// at 10 per second (the sample bytes are placeholders; only the
    /// container is read).
    fn written_mp4(width: u16, height: u16, frames: u32) -> Vec<u8> {
        let config = mp4::Mp4Config {
            major_brand: str::parse("isom").unwrap(),
            minor_version: 512,
            compatible_brands: vec![str::parse("isom").unwrap(), str::parse("avc1").unwrap()],
            timescale: 1000,
        };
        let mut writer =
            mp4::Mp4Writer::write_start(std::io::Cursor::new(Vec::new()), &config).unwrap();
        let track = mp4::TrackConfig {
            track_type: TrackType::Video,
            timescale: 1000,
            language: "und".into(),
            media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                width,
                height,
                seq_param_set: vec![0x67, 0x42, 0x00, 0x0a],
                pic_param_set: vec![0x68, 0xce, 0x38, 0x80],
            }),
        };
        writer.add_track(&track).unwrap();
        for frame in 0..frames {
            let sample = mp4::Mp4Sample {
                start_time: u64::from(frame) * 100,
                duration: 100,
                rendering_offset: 0,
                is_sync: frame == 0,
                bytes: bytes::Bytes::from(vec![frame as u8; 64]),
            };
            writer.write_sample(1, &sample).unwrap();
        }
        writer.write_end().unwrap();
        writer.into_writer().into_inner()
    }

    fn video_fields(media: Media) -> (u32, u32, f64) {
        match media {
            Media::Video {
                width,
                height,
                duration_s,
                format: VideoFormat::Mp4,
            } => (width, height, duration_s),
            other => panic!("not mp4: {other:?}"),
        }
    }

    #[test]
    fn reads_dimensions_and_duration_of_a_written_mp4() {
        let (width, height, duration) =
            video_fields(detect_bytes(&written_mp4(320, 240, 25)).unwrap());
        assert_eq!((width, height), (320, 240));
        assert!((duration - 2.5).abs() < 0.01, "{duration}");
    }

    /// 64x48, 1 s at 10 fps, H.264, `moov` first (made once with ffmpeg
    /// `-movflags +faststart`).
    #[test]
    fn reads_an_ffmpeg_fixture() {
        let (width, height, duration) = video_fields(detect_bytes(&fixture("clip.mp4")).unwrap());
        assert_eq!((width, height), (64, 48));
        assert!((duration - 1.0).abs() < 0.05, "{duration}");
    }

    #[test]
    fn truncated_mp4_fails_whichever_box_comes_last() {
        for bytes in [written_mp4(64, 64, 10), fixture("clip.mp4")] {
            let message = failure(detect_bytes(&truncated(&bytes, 0.7)));
            assert!(message.contains("mp4"), "{message}");
        }
        let message = failure(detect_bytes(&truncated(&fixture("clip.mp4"), 0.95)));
        assert!(message.contains("truncated"), "{message}");
    }
}
