//! Meshy's task object, the kinds of task Gaia runs and the checkpoint that
//! names one (`shared/providers.md` §5).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The answer to a create call: `202 {"result": "<task id>"}`.
#[derive(Debug, Deserialize)]
pub struct Created {
    /// The new task's id.
    pub result: String,
}

/// A task, as `GET …/{id}` returns it (the same shape for every task type).
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub status: TaskStatus,
    /// 0–100, 100 on success.
    #[serde(default)]
    pub progress: u8,
    /// Signed download URLs by format; formats not generated are omitted.
    #[serde(default)]
    pub model_urls: BTreeMap<String, String>,
    /// A signed URL of a rendered preview image.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub task_error: Option<TaskError>,
    /// Credits charged (0 for a failed task: refunded).
    #[serde(default)]
    pub consumed_credits: Option<u32>,
    /// Tasks queued before it, while it is pending.
    #[serde(default)]
    pub preceding_tasks: Option<u32>,
}

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Queued.
    Pending,
    /// Running.
    InProgress,
    /// Done; `model_urls` is set.
    Succeeded,
    /// Failed; `task_error` says why.
    Failed,
    /// Canceled.
    Canceled,
}

/// Why a task failed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskError {
    /// A human-readable reason.
    #[serde(default)]
    pub message: String,
    /// `invalid_input`, `timeout`, `service_unavailable`, `server_error`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `moderation_blocked`, `image_too_complex`, ….
    #[serde(default)]
    pub code: Option<String>,
}

impl TaskError {
    /// Whether a content filter refused the input.
    pub fn is_moderation(&self) -> bool {
        self.code.as_deref() == Some("moderation_blocked")
    }

    /// The reason, with its code and type when Meshy gives them.
    pub fn describe(&self) -> String {
        let message = if self.message.trim().is_empty() {
            "no reason given"
        } else {
            self.message.trim()
        };
        let labels: Vec<&str> = [self.code.as_deref(), self.kind.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if labels.is_empty() {
            message.to_owned()
        } else {
            format!("{message} ({})", labels.join(", "))
        }
    }
}

/// A kind of Meshy task: its endpoint and how its checkpoint names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Text to 3D, the untextured mesh.
    Preview,
    /// Text to 3D, texturing a preview.
    Refine,
    /// Image to 3D.
    ImageTo3d,
    /// New textures on an existing model.
    Retexture,
}

impl Stage {
    /// The path tasks of this kind are created at and read under.
    pub fn path(self) -> &'static str {
        match self {
            Self::Preview | Self::Refine => "/openapi/v2/text-to-3d",
            Self::ImageTo3d => "/openapi/v1/image-to-3d",
            Self::Retexture => "/openapi/v1/retexture",
        }
    }

    /// Its name in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::Refine => "refine",
            Self::ImageTo3d => "image-to-3d",
            Self::Retexture => "retexture",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Preview,
            Self::Refine,
            Self::ImageTo3d,
            Self::Retexture,
        ]
        .into_iter()
        .find(|stage| stage.name() == name)
    }
}

/// What a job saves before it waits on a task: the stage and the task id,
/// and for a refine the preview it textures (whose credits the job also
/// paid): `preview:<id>`, `refine:<id>:<preview id>`, `image-to-3d:<id>`,
/// `retexture:<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The kind of task.
    pub stage: Stage,
    /// The task's id.
    pub task_id: String,
    /// The preview a refine textures.
    pub preview_id: Option<String>,
}

impl Checkpoint {
    /// A checkpoint of a task that stands alone.
    pub fn new(stage: Stage, task_id: impl Into<String>) -> Self {
        Self {
            stage,
            task_id: task_id.into(),
            preview_id: None,
        }
    }

    /// Reads a checkpoint written by [`std::fmt::Display`]; `None` when it
    /// is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let stage = Stage::parse(parts.next()?)?;
        let task_id = parts.next().filter(|id| !id.is_empty())?.to_owned();
        let preview_id = parts.next().map(str::to_owned);
        let well_formed = parts.next().is_none()
            && (stage == Stage::Refine) == preview_id.as_deref().is_some_and(|id| !id.is_empty());
        well_formed.then_some(Self {
            stage,
            task_id,
            preview_id,
        })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.stage.name(), self.task_id)?;
        match &self.preview_id {
            Some(preview) => write!(f, ":{preview}"),
            None => Ok(()),
        }
    }
}

/// The kind of 429: too many requests, or too many tasks queued at once.
pub fn is_concurrency_limit(message: &str) -> bool {
    message.contains("NoMoreConcurrentTasks")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn checkpoints_round_trip() {
        let cases = [
            Checkpoint::new(Stage::Preview, "0193-a"),
            Checkpoint {
                stage: Stage::Refine,
                task_id: "0193-b".into(),
                preview_id: Some("0193-a".into()),
            },
            Checkpoint::new(Stage::ImageTo3d, "c"),
            Checkpoint::new(Stage::Retexture, "d"),
        ];
        for checkpoint in cases {
            let text = checkpoint.to_string();
            assert_eq!(Checkpoint::parse(&text), Some(checkpoint), "{text}");
        }
        assert_eq!(
            Checkpoint::new(Stage::ImageTo3d, "c").to_string(),
            "image-to-3d:c"
        );
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        for bad in [
            "",
            "preview",
            "preview:",
            "refine:b",
            "refine:b:",
            "preview:a:b",
            "sculpt:a",
            "retexture:a:b:c",
        ] {
            assert_eq!(Checkpoint::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tasks_parse_in_their_documented_shape() {
        let task: Task = serde_json::from_value(json!({
            "id": "t", "type": "text-to-3d-preview", "status": "SUCCEEDED", "progress": 100,
            "model_urls": {"glb": "https://assets.meshy.ai/t.glb?Expires=1", "fbx": "https://f"},
            "thumbnail_url": "https://assets.meshy.ai/t.png", "consumed_credits": 20,
            "created_at": 1_700_000_000_000_i64, "task_error": {"message": ""}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert_eq!(task.model_urls.len(), 2);
        assert_eq!(task.consumed_credits, Some(20));
        let pending: Task = serde_json::from_value(json!({
            "id": "t", "status": "PENDING", "preceding_tasks": 3
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((pending.progress, pending.preceding_tasks), (0, Some(3)));
    }

    #[test]
    fn task_errors_are_described_and_classified() {
        let blocked = TaskError {
            message: "prompt violates policy".into(),
            kind: Some("invalid_input".into()),
            code: Some("moderation_blocked".into()),
        };
        assert!(blocked.is_moderation());
        assert_eq!(
            blocked.describe(),
            "prompt violates policy (moderation_blocked, invalid_input)"
        );
        let busy = TaskError {
            kind: Some("service_unavailable".into()),
            ..TaskError::default()
        };
        assert!(!busy.is_moderation());
        assert_eq!(busy.describe(), "no reason given (service_unavailable)");
        assert_eq!(TaskError::default().describe(), "no reason given");
    }

    #[test]
    fn concurrency_limits_are_told_from_rate_limits() {
        assert!(is_concurrency_limit(
            "NoMoreConcurrentTasks: you have reached the limit of 10 tasks"
        ));
        assert!(!is_concurrency_limit("RateLimitExceeded"));
    }
}
