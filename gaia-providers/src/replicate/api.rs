//! Replicate's prediction object and the request that creates one
//! (`shared/providers.md` §4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /predictions` (with `version`) or
/// `POST /models/{owner}/{name}/predictions` (without).
#[derive(Debug, Serialize)]
pub struct CreatePrediction<'a> {
    /// The 64-hex version id, for a model run by version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'a str>,
    /// The model's input.
    pub input: Map<String, Value>,
}

/// A prediction, as create, get and cancel return it.
#[derive(Debug, Clone, Deserialize)]
pub struct Prediction {
    /// Its id (the job's checkpoint).
    pub id: String,
    /// Where it is.
    pub status: Status,
    /// Model-defined: a URL, a list of URLs, an object or text; `null` until
    /// it succeeds.
    #[serde(default)]
    pub output: Value,
    /// Everything the model printed so far.
    #[serde(default)]
    pub logs: Option<String>,
    /// Why it failed (usually a string).
    #[serde(default)]
    pub error: Value,
    /// Billable compute time, once known.
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

/// A prediction's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Queued or booting.
    Starting,
    /// Running.
    Processing,
    /// Done, `output` is set.
    Succeeded,
    /// Failed, `error` says why.
    Failed,
    /// Canceled (by us, or on Replicate).
    Canceled,
    /// Hit its deadline before it started (not charged).
    Aborted,
}

impl Status {
    /// Whether the prediction will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Starting | Self::Processing)
    }
}

/// What Replicate measured.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Metrics {
    /// Seconds of billable compute.
    #[serde(default)]
    pub predict_time: Option<f64>,
}

impl Prediction {
    /// Seconds of billable compute, when reported.
    pub fn predict_time(&self) -> Option<f64> {
        self.metrics.and_then(|m| m.predict_time)
    }

    /// The error text of a failed prediction.
    pub fn error_text(&self) -> String {
        match &self.error {
            Value::String(text) if !text.trim().is_empty() => text.trim().to_owned(),
            Value::Null => "no reason given".to_owned(),
            other => other.to_string(),
        }
    }

    /// Every output file reference, in order: the URL strings (or `data:`
    /// URIs) found in `output`, whether it is one string, a list, or an
    /// object of them. Text that is not a URL is not a file.
    pub fn output_files(&self) -> Vec<&str> {
        let mut files = Vec::new();
        collect_files(&self.output, &mut files);
        files
    }
}

fn collect_files<'a>(value: &'a Value, files: &mut Vec<&'a str>) {
    match value {
        Value::String(text) if is_file_reference(text) => files.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_files(item, files)),
        Value::Object(fields) => fields.values().for_each(|item| collect_files(item, files)),
        _ => {}
    }
}

fn is_file_reference(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://") || text.starts_with("data:")
}

/// Whether a failed prediction's error is a content filter's verdict.
pub fn is_moderation(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    [
        "nsfw",
        "content policy",
        "safety filter",
        "safety checker",
        "flagged as sensitive",
    ]
    .iter()
    .any(|signal| error.contains(signal))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn prediction(value: Value) -> Prediction {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn statuses_parse_and_know_when_they_end() {
        for (name, terminal) in [
            ("starting", false),
            ("processing", false),
            ("succeeded", true),
            ("failed", true),
            ("canceled", true),
            ("aborted", true),
        ] {
            let p = prediction(json!({"id": "p1", "status": name}));
            assert_eq!(p.status.is_terminal(), terminal, "{name}");
        }
        assert!(serde_json::from_value::<Prediction>(json!({"id": "p", "status": "odd"})).is_err());
    }

    #[test]
    fn outputs_are_found_in_every_shape() {
        let one = prediction(json!({"id": "p", "status": "succeeded",
            "output": "https://replicate.delivery/a.png"}));
        assert_eq!(one.output_files(), ["https://replicate.delivery/a.png"]);
        let many = prediction(json!({"id": "p", "status": "succeeded",
            "output": ["https://x/1.webp", "data:image/png;base64,AA=="]}));
        assert_eq!(
            many.output_files(),
            ["https://x/1.webp", "data:image/png;base64,AA=="]
        );
        let object = prediction(json!({"id": "p", "status": "succeeded",
            "output": {"mesh": "https://x/m.glb", "note": "done", "n": 3}}));
        assert_eq!(object.output_files(), ["https://x/m.glb"]);
        let text = prediction(json!({"id": "p", "status": "succeeded", "output": ["a", "b"]}));
        assert!(text.output_files().is_empty());
    }

    #[test]
    fn errors_and_metrics_are_read() {
        let p = prediction(json!({"id": "p", "status": "failed",
            "error": "NSFW content detected. Try a different prompt.",
            "metrics": {"predict_time": 1.5, "total_time": 9.0}}));
        assert_eq!(p.predict_time(), Some(1.5));
        assert!(is_moderation(&p.error_text()));
        assert!(!is_moderation("CUDA out of memory"));
        let bare = prediction(json!({"id": "p", "status": "failed", "metrics": {}}));
        assert_eq!(
            (bare.predict_time(), bare.error_text().as_str()),
            (None, "no reason given")
        );
    }

    #[test]
    fn the_create_body_names_a_version_only_when_there_is_one() {
        let mut input = Map::new();
        input.insert("prompt".into(), json!("moss"));
        let official = CreatePrediction {
            version: None,
            input: input.clone(),
        };
        assert_eq!(
            serde_json::to_value(&official).ok(),
            Some(json!({"input": {"prompt": "moss"}}))
        );
        let pinned = CreatePrediction {
            version: Some("abc"),
            input,
        };
        assert_eq!(
            serde_json::to_value(&pinned).ok(),
            Some(json!({"version": "abc", "input": {"prompt": "moss"}}))
        );
    }
}
