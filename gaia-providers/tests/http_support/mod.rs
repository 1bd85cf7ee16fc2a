//! Helpers shared by the remote providers' mock-server tests.

#![allow(dead_code)]

use std::io::Cursor;
use std::path::Path;

use gaia_core::{
    Asset, AssetId, AssetSource, Call, CallInput, ClientId, Error, GenerateContext, ImageFormat,
    InputRole, JobId, Media, Money, Spec, StagedOutput, Timestamp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{Match, Request};

/// A key no error message may ever show.
pub const SECRET_KEY: &str = "sk-test-Secret-Key-0123456789";

/// Real PNG bytes of a `width` × `height` gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    });
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("cannot encode a PNG: {e}"));
    bytes.into_inner()
}

/// The dimensions of a staged PNG.
pub fn png_size(output: &StagedOutput) -> (u32, u32) {
    let bytes = output
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{}: {e}", output.content()));
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::from)
        .and_then(|reader| reader.into_dimensions())
        .unwrap_or_else(|e| panic!("{}: {e}", output.content()))
}

/// A detached context staging in a fresh folder.
pub fn context() -> (tempfile::TempDir, GenerateContext) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cx = GenerateContext::detached(dir.path().join("staging"));
    (dir, cx)
}

/// Files left in the staging folder (partial outputs must be removed).
pub fn staged_files(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("staging"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// A first-attempt call of `model` for `spec`.
pub fn call(model: &str, spec: impl Into<Spec>) -> Call {
    Call {
        job_id: JobId::new(),
        attempt: 1,
        model: model.to_owned(),
        spec: spec.into(),
        inputs: Vec::new(),
    }
}

/// An image input written to `dir` as a real PNG.
pub fn image_input(dir: &Path, role: InputRole, width: u32, height: u32) -> CallInput {
    let bytes = png(width, height);
    let path = dir.join(format!("{role:?}-{width}x{height}.png"));
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let asset = Asset {
        id: AssetId::new(),
        client_id: ClientId::new("test").unwrap_or_else(|e| panic!("{e}")),
        campaign_id: None,
        name: None,
        mime: "image/png".into(),
        size_bytes: bytes.len() as u64,
        sha256: String::new(),
        source: AssetSource::Uploaded,
        cost_micros: Money::ZERO,
        tags: Vec::new(),
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        media: Media::Image {
            width,
            height,
            format: ImageFormat::Png,
            tileable: false,
        },
    };
    CallInput { role, asset, path }
}

/// The error of a result that must have failed.
pub fn failure<T: std::fmt::Debug>(result: Result<T, Error>) -> Error {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}

/// The parts of a multipart/form-data request: (name, file name, content).
pub fn multipart_parts(request: &Request) -> Vec<(String, Option<String>, Vec<u8>)> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .map(|b| format!("--{b}"))
    else {
        return Vec::new();
    };
    split(&request.body, boundary.as_bytes())
        .into_iter()
        .filter_map(parse_part)
        .collect()
}

fn split<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, boundary) {
        let part = &rest[..at];
        if !part.is_empty() {
            parts.push(part);
        }
        rest = &rest[at + boundary.len()..];
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_part(raw: &[u8]) -> Option<(String, Option<String>, Vec<u8>)> {
    let raw = raw.strip_prefix(b"\r\n")?;
    let split_at = find(raw, b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&raw[..split_at]).into_owned();
    let content = raw[split_at + 4..].strip_suffix(b"\r\n")?.to_vec();
    let attribute = |key: &str| {
        let start = headers.find(&format!("{key}=\""))? + key.len() + 2;
        let end = headers[start..].find('"')? + start;
        Some(headers[start..end].to_owned())
    };
    Some((attribute("name")?, attribute("filename"), content))
}

/// Matches a multipart request holding these text fields (with these
/// values) and these file parts.
pub struct MultipartHas {
    /// Text fields and their values.
    pub fields: Vec<(&'static str, &'static str)>,
    /// File part names.
    pub files: Vec<&'static str>,
    /// Part names that must be absent.
    pub absent: Vec<&'static str>,
}

impl Match for MultipartHas {
    fn matches(&self, request: &Request) -> bool {
        let parts = multipart_parts(request);
        let text = |name: &str| {
            parts
                .iter()
                .find(|(n, file, _)| n == name && file.is_none())
                .map(|(_, _, content)| String::from_utf8_lossy(content).into_owned())
        };
        let has_file = |name: &str| {
            parts
                .iter()
                .any(|(n, file, content)| n == name && file.is_some() && !content.is_empty())
        };
        self.fields
            .iter()
            .all(|(name, value)| text(name).as_deref() == Some(*value))
            && self.files.iter().all(|name| has_file(name))
            && self
                .absent
                .iter()
                .all(|name| parts.iter().all(|(n, _, _)| n != name))
    }
}

/// A bare HTTP server on 127.0.0.1 answering every request with `status`,
/// `content_type` and a chunked body of `total` bytes (no Content-Length),
/// so a client cannot know the size before streaming it. Returns its base URL.
pub async fn serve_chunked(total: usize, content_type: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n\
                     transfer-encoding: chunked\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0;
                while sent < total {
                    let n = chunk.len().min(total - sent);
                    let frame = format!("{n:x}\r\n");
                    let ok = socket.write_all(frame.as_bytes()).await.is_ok()
                        && socket.write_all(&chunk[..n]).await.is_ok()
                        && socket.write_all(b"\r\n").await.is_ok();
                    if !ok {
                        return;
                    }
                    sent += n;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://{address}")
}

/// A reporter remembering checkpoints and progress, for providers that
/// wait on remote tasks.
#[derive(Default)]
pub struct Recorder {
    /// Checkpoints saved, in order.
    pub checkpoints: std::sync::Mutex<Vec<String>>,
    /// Progress reported, in order.
    pub progress: std::sync::Mutex<Vec<u8>>,
}

#[async_trait::async_trait]
impl gaia_core::ContextReporter for Recorder {
    fn progress(&self, progress: gaia_core::Progress) {
        if let Ok(mut seen) = self.progress.lock() {
            seen.push(progress.value());
        }
    }

    fn log(&self, _level: gaia_core::LogLevel, _message: String) {}

    async fn checkpoint(&self, value: String) -> gaia_core::Result<()> {
        if let Ok(mut saved) = self.checkpoints.lock() {
            saved.push(value);
        }
        Ok(())
    }
}

/// A context reporting to a [`Recorder`].
pub fn recorded_context() -> (tempfile::TempDir, GenerateContext, std::sync::Arc<Recorder>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let recorder = std::sync::Arc::new(Recorder::default());
    let cx = GenerateContext::new(
        recorder.clone(),
        tokio_util::sync::CancellationToken::new(),
        dir.path().join("staging"),
    );
    (dir, cx, recorder)
}
