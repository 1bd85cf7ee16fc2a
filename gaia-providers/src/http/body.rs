//! Response bodies: JSON parsed with the path of a bad field, binary bodies
//! and base64 payloads streamed to staging under a size cap.

use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use gaia_core::{Error, GenerateContext, Result, StagedOutput, StagingFile};
use serde::Deserialize;

use super::transport_error;

/// Bytes gathered before one write to the staging file: fewer, larger
/// writes cost fewer trips to the blocking pool. A body that ends sooner is
/// staged from memory (a small one stays there: no staging file at all).
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Base64 characters decoded per step (a multiple of 4): 768 KiB of output.
const BASE64_CHUNK_CHARS: usize = 1 << 20;

/// `provider_error`, not retried: the response does not have the shape the
/// provider documents; names the field (`data[0].b64_json`).
pub fn bad_shape(provider: &str, field: &str, problem: impl std::fmt::Display) -> Error {
    Error::Provider {
        provider: provider.to_owned(),
        message: format!("unexpected response: `{field}` {problem}"),
        retryable: false,
        retry_after: None,
    }
}

/// `provider_error`, not retried: an output larger than the download cap.
pub fn too_large(provider: &str, cap: u64) -> Error {
    Error::Provider {
        provider: provider.to_owned(),
        message: format!(
            "the output is larger than the download cap of {cap} bytes \
             (providers.{provider}.max_download_bytes)"
        ),
        retryable: false,
        retry_after: None,
    }
}

/// Parses a JSON body (borrowing from `bytes` where the type does, so a
/// large base64 payload is not copied); a syntax error or a missing or mistyped field is a
/// `provider_error` (not retried) naming the provider and the field's path.
pub fn parse_json<'de, T: Deserialize<'de>>(provider: &str, bytes: &'de [u8]) -> Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::Provider {
                provider: provider.to_owned(),
                message: format!("malformed JSON in the response: {inner}"),
                retryable: false,
                retry_after: None,
            }
        } else {
            bad_shape(provider, &path, format_args!("is invalid: {inner}"))
        }
    })
}

/// Reads a whole body into memory, failing once it passes `cap` bytes.
pub(super) async fn read_capped(
    provider: &str,
    response: reqwest::Response,
    cap: u64,
) -> Result<Bytes> {
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(too_large(provider, cap));
    }
    let hint = response.content_length().unwrap_or(0).min(cap);
    let mut body = BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0));
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport_error(provider, e))?;
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_large(provider, cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Limits of one streamed body.
pub(super) struct StreamLimits {
    /// The largest body accepted.
    pub(super) cap: u64,
    /// The longest wait for the next chunk.
    pub(super) idle: Duration,
}

/// Streams a body into a new staging file chunk by chunk: never more than
/// [`WRITE_BUFFER_BYTES`] in memory, stopped at `cap` bytes (the partial
/// file is removed), at an idle timeout, and on cancellation.
pub(super) async fn stream_to_staging(
    provider: &str,
    response: reqwest::Response,
    cx: &GenerateContext,
    limits: StreamLimits,
) -> Result<StagedOutput> {
    if response
        .content_length()
        .is_some_and(|len| len > limits.cap)
    {
        return Err(too_large(provider, limits.cap));
    }
    // Created with the first full buffer.
    let mut file: Option<StagingFile> = None;
    let mut pending = BytesMut::new();
    let mut stream = response.bytes_stream();
    loop {
        let next = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::Canceled),
            next = tokio::time::timeout(limits.idle, stream.next()) => next,
        };
        let chunk = match next {
            Err(_elapsed) => {
                return Err(Error::Timeout {
                    provider: provider.to_owned(),
                });
            }
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|e| transport_error(provider, e))?,
        };
        let written = file.as_ref().map_or(0, StagingFile::size);
        if written + (pending.len() + chunk.len()) as u64 > limits.cap {
            return Err(too_large(provider, limits.cap));
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= WRITE_BUFFER_BYTES {
            let staging = match &mut file {
                Some(staging) => staging,
                None => file.insert(cx.stage().await?),
            };
            flush(staging, &mut pending).await?;
        }
    }
    match file {
        Some(mut staging) => {
            flush(&mut staging, &mut pending).await?;
            staging.finish().await
        }
        None => cx.stage_bytes(&pending).await,
    }
}

async fn flush(file: &mut StagingFile, pending: &mut BytesMut) -> Result<()> {
    if !pending.is_empty() {
        file.write(pending).await?;
        pending.clear();
    }
    Ok(())
}

/// Decodes a base64 payload (standard alphabet, padded; an optional
/// `data:…;base64,` prefix and line breaks are accepted): one chunk's worth
/// at once, staged from memory; more into a new staging file, a chunk at a
/// time. `field` names the payload in errors.
pub(super) async fn stage_base64(
    provider: &str,
    cx: &GenerateContext,
    field: &str,
    text: &str,
    cap: u64,
) -> Result<StagedOutput> {
    let text = strip_data_url(text);
    let compact;
    let text = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        compact = text.split_ascii_whitespace().collect::<String>();
        compact.as_str()
    } else {
        text
    };
    if (text.len() / 4 * 3) as u64 > cap {
        return Err(too_large(provider, cap));
    }
    if text.is_empty() {
        return Err(bad_shape(provider, field, "is empty"));
    }
    let decode = |piece: &[u8], decoded: &mut Vec<u8>| {
        decoded.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(piece, decoded)
            .map_err(|e| bad_shape(provider, field, format_args!("is not valid base64: {e}")))
    };
    let mut decoded = Vec::with_capacity(text.len().min(BASE64_CHUNK_CHARS) / 4 * 3);
    if text.len() <= BASE64_CHUNK_CHARS {
        decode(text.as_bytes(), &mut decoded)?;
        return cx.stage_bytes(&decoded).await;
    }
    let mut file = cx.stage().await?;
    for piece in text.as_bytes().chunks(BASE64_CHUNK_CHARS) {
        cx.check_canceled()?;
        decode(piece, &mut decoded)?;
        file.write(&decoded).await?;
    }
    file.finish().await
}

/// `data:image/png;base64,AAAA` → `AAAA`; other text unchanged.
fn strip_data_url(text: &str) -> &str {
    match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map_or(text, |(_, payload)| payload),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use gaia_core::ErrorCode;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Images {
        #[allow(dead_code)]
        data: Vec<Image>,
    }

    #[derive(Debug, Deserialize)]
    struct Image {
        #[allow(dead_code)]
        b64_json: String,
    }

    fn message(error: &Error) -> String {
        error.to_string()
    }

    #[test]
    fn a_bad_shape_names_the_provider_and_the_field() {
        let error = parse_json::<Images>("openai", br#"{"data":[{"b64_json":5}]}"#)
            .err()
            .unwrap_or(Error::Canceled);
        assert_eq!(error.code(), ErrorCode::ProviderError);
        assert!(!error.is_retryable());
        let text = message(&error);
        assert!(text.starts_with("openai: "), "{text}");
        assert!(text.contains("data[0].b64_json"), "{text}");

        let missing = parse_json::<Images>("openai", br#"{"data":[{}]}"#)
            .err()
            .map(|e| message(&e))
            .unwrap_or_default();
        assert!(
            missing.contains("data[0]") && missing.contains("b64_json"),
            "{missing}"
        );
    }

    #[test]
    fn malformed_json_is_a_provider_error() {
        let error = parse_json::<Images>("stability", b"{\"data\": [")
            .err()
            .unwrap_or(Error::Canceled);
        assert_eq!(error.code(), ErrorCode::ProviderError);
        assert!(message(&error).contains("stability: malformed JSON"));
    }

    #[test]
    fn data_urls_lose_their_prefix() {
        assert_eq!(strip_data_url("data:image/png;base64,QUJD"), "QUJD");
        assert_eq!(strip_data_url("QUJD"), "QUJD");
    }

    #[tokio::test]
    async fn a_small_base64_payload_is_staged_in_memory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cx = GenerateContext::detached(dir.path().join("staging"));
        let bytes: Vec<u8> = (0..1000).map(|i| (i * 7 % 256) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let staged = stage_base64("openai", &cx, "data[0].b64_json", &text, u64::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            staged.content(),
            gaia_core::StagedContent::Memory(_)
        ));
        assert_eq!(staged.read_to_vec().unwrap_or_default(), bytes);
        assert!(!dir.path().join("staging").exists(), "no staging file");
    }

    #[tokio::test]
    async fn base64_decodes_in_chunks_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cx = GenerateContext::detached(dir.path());
        let bytes: Vec<u8> = (0..(3 * BASE64_CHUNK_CHARS + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let wrapped = format!("data:image/png;base64,{}\n", &text);
        let staged = stage_base64("a1111", &cx, "images[0]", &wrapped, u64::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Larger than one chunk: streamed to a file, never whole in memory.
        assert!(matches!(
            staged.content(),
            gaia_core::StagedContent::File(_)
        ));
        let written = staged.read_to_vec().unwrap_or_default();
        assert_eq!(written, bytes);
        assert_eq!(staged.size(), bytes.len() as u64);
    }

    #[tokio::test]
    async fn base64_over_the_cap_or_invalid_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cx = GenerateContext::detached(dir.path());
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; 4096]);
        let over = stage_base64("openai", &cx, "data[0].b64_json", &text, 1024).await;
        assert!(
            over.err()
                .is_some_and(|e| message(&e).contains("download cap"))
        );
        let invalid = stage_base64("openai", &cx, "data[0].b64_json", "@@@@", 1024).await;
        let text = invalid.err().map(|e| message(&e)).unwrap_or_default();
        assert!(
            text.contains("data[0].b64_json") && text.contains("base64"),
            "{text}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .map(|entries| entries.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "partial staging files were left: {left:?}");
    }
}
