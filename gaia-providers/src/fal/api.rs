//! fal's queue objects: the submit answer, the status and the result of the
//! image and video endpoints Gaia uses (`shared/providers.md` §7).

use serde::Deserialize;

/// The answer to a submit.
#[derive(Debug, Deserialize)]
pub struct Submitted {
    /// The request's id (the job's checkpoint).
    pub request_id: String,
}

/// `GET …/requests/{id}/status?logs=1`.
#[derive(Debug, Deserialize)]
pub struct QueueStatus {
    /// Where the request is.
    pub status: State,
    /// Requests ahead of it, while queued.
    #[serde(default)]
    pub queue_position: Option<u32>,
    /// Every log line so far (with `logs=1`).
    #[serde(default)]
    pub logs: Option<Vec<LogEntry>>,
}

/// A request's state. fal documents the first three; failures usually
/// surface when the result is fetched, but some clients also see the last
/// two, which are handled the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Waiting for a runner.
    InQueue,
    /// Running.
    InProgress,
    /// Done: the result can be fetched.
    Completed,
    /// Failed: the result holds the error.
    Failed,
    /// Canceled.
    Canceled,
}

/// One log line.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    /// The text.
    pub message: String,
    /// `DEBUG`, `INFO`, `WARN`, `ERROR`.
    #[serde(default)]
    pub level: Option<String>,
}

/// The result of an image or video endpoint.
#[derive(Debug, Deserialize)]
pub struct Output {
    /// The images (image endpoints).
    #[serde(default)]
    pub images: Vec<OutputFile>,
    /// The video (video endpoints).
    #[serde(default)]
    pub video: Option<OutputFile>,
    /// Per image, whether the safety checker blacked it out.
    #[serde(default)]
    pub has_nsfw_concepts: Vec<bool>,
}

/// One output file on fal's CDN (or inline as a `data:` URI).
#[derive(Debug, Clone, Deserialize)]
pub struct OutputFile {
    /// Where to download it.
    pub url: String,
    /// Its width, for an image.
    #[serde(default)]
    pub width: Option<u32>,
    /// Its height, for an image.
    #[serde(default)]
    pub height: Option<u32>,
}

impl Output {
    /// The output files in order: the images, or the video.
    pub fn files(&self) -> Vec<&OutputFile> {
        self.images.iter().chain(self.video.as_ref()).collect()
    }

    /// Whether the safety checker flagged any image.
    pub fn flagged(&self) -> bool {
        self.has_nsfw_concepts.iter().any(|flagged| *flagged)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn statuses_parse_with_queue_positions_and_logs() {
        let queued: QueueStatus = serde_json::from_value(json!({
            "status": "IN_QUEUE", "queue_position": 2,
            "response_url": "https://queue.fal.run/fal-ai/flux/requests/r"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (queued.status, queued.queue_position),
            (State::InQueue, Some(2))
        );
        let running: QueueStatus = serde_json::from_value(json!({
            "status": "IN_PROGRESS",
            "logs": [{"message": "step 1", "level": "INFO", "timestamp": "2026-01-01T00:00:00Z"}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(running.logs.map(|l| l.len()), Some(1));
        assert!(serde_json::from_value::<QueueStatus>(json!({"status": "LOST"})).is_err());
    }

    #[test]
    fn outputs_list_images_or_the_video() {
        let images: Output = serde_json::from_value(json!({
            "images": [{"url": "https://v3.fal.media/a.png", "width": 512, "height": 512,
                        "content_type": "image/png"}],
            "has_nsfw_concepts": [false], "seed": 7, "timings": {"inference": 0.4}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(images.files().len(), 1);
        assert!(!images.flagged());
        let video: Output = serde_json::from_value(json!({
            "video": {"url": "https://v3.fal.media/v.mp4", "content_type": "video/mp4"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            video.files().first().map(|f| f.url.as_str()),
            Some("https://v3.fal.media/v.mp4")
        );
        let flagged: Output = serde_json::from_value(json!({
            "images": [{"url": "u"}, {"url": "v"}], "has_nsfw_concepts": [false, true]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(flagged.flagged());
    }
}
