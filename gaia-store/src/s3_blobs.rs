//! Content-addressed blobs in S3-compatible object storage:
//! `s3://bucket/prefix` holds SHA-256 `abcdef…` at `prefix/ab/cdef…`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use futures::TryStreamExt;
use gaia_core::{BlobReader, BlobStore, Error, Result, StagedOutput};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use crate::fs_blobs::validate_key;

/// Bytes per uploaded part (S3's smallest allowed part is 5 MiB). Outputs no
/// larger go up in one request; larger ones in parts of this size.
const PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts uploading at once: with the part being filled, an upload holds at
/// most `(PARTS_IN_FLIGHT + 1) × PART_SIZE` bytes in memory, whatever the
/// output's size.
const PARTS_IN_FLIGHT: usize = 2;

/// Bytes read from the staging file at a time.
const READ_SIZE: usize = 1024 * 1024;

/// The longest a presigned URL may live (S3's limit for SigV4).
const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Blobs in an S3 bucket (AWS, or any S3-compatible server), one object per
/// SHA-256.
///
/// Opened from `s3://bucket/prefix` (see [`S3BlobStore::open`]). `put`
/// streams the staged file up (in parts when large) and returns once the
/// object store has acknowledged the bytes; `open` streams them down.
#[derive(Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    prefix: Path,
    /// `s3://bucket/prefix`, for messages (never credentials).
    location: Arc<str>,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// What an `s3://` URL names.
#[derive(Debug, PartialEq)]
struct S3Location {
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: Option<String>,
}

impl S3BlobStore {
    /// Opens `s3://bucket/prefix`, optionally with `?endpoint=URL&region=NAME`
    /// for S3-compatible servers. Everything else comes from the usual AWS
    /// environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`,
    /// `AWS_ENDPOINT_URL`. The URL's parameters win over the environment; an
    /// `http://` endpoint is allowed (local servers). Nothing is sent until
    /// the first call.
    pub fn open(url: &str) -> Result<Self> {
        let location = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        if let Some(region) = &location.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let plain_http = [AmazonS3ConfigKey::S3Endpoint, AmazonS3ConfigKey::Endpoint]
            .iter()
            .filter_map(|key| builder.get_config_value(key))
            .any(|endpoint| endpoint.starts_with("http://"));
        if plain_http {
            builder = builder.with_allow_http(true);
        }
        let display = format!("s3://{}/{}", location.bucket, location.prefix);
        let store = builder
            .build()
            .map_err(|e| Error::storage(format!("cannot open blob store {display}"), e))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::from(location.prefix.as_str()),
            location: display.into(),
        })
    }

    /// Where the blob `sha256` lives, once the key is known to be a SHA-256.
    fn object_path(&self, sha256: &str) -> Result<Path> {
        validate_key(sha256)?;
        let (folder, rest) = sha256.split_at(2);
        Ok(self.prefix.clone().join(folder).join(rest))
    }

    fn failed(&self, what: &str, sha256: &str) -> impl FnOnce(object_store::Error) -> Error {
        let message = format!("cannot {what} blob {sha256} in {}", self.location);
        move |source| Error::storage(message, source)
    }

    /// Uploads a staged file of any size, a part at a time, to `path`.
    async fn upload(&self, staged: &StagedOutput, path: &Path) -> Result<()> {
        let sha256 = staged.sha256();
        let mut file = staged.open().await.map_err(|e| read_failed(staged, e))?;
        if staged.size() <= PART_SIZE as u64 {
            let chunk = read_chunk(&mut file, staged, PART_SIZE).await?;
            self.store
                .put(path, PutPayload::from(chunk.freeze()))
                .await
                .map_err(self.failed("store", sha256))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(self.failed("start storing", sha256))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        match send_parts(&mut file, staged, &mut writer).await {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .map_err(self.failed("finish storing", sha256))?;
                Ok(())
            }
            Err(error) => {
                // Frees the parts already uploaded; the original error matters.
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "cannot abort an S3 upload");
                }
                Err(error)
            }
        }
    }
}

/// Feeds the staged file to `writer`, waiting for a free upload slot before
/// each chunk so that memory stays bounded.
async fn send_parts(
    file: &mut (dyn AsyncRead + Send + Unpin + '_),
    staged: &StagedOutput,
    writer: &mut WriteMultipart,
) -> Result<()> {
    loop {
        writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| Error::storage(format!("cannot store blob {}", staged.sha256()), e))?;
        let chunk = read_chunk(file, staged, READ_SIZE).await?;
        if chunk.is_empty() {
            return Ok(());
        }
        writer.put(chunk.freeze());
    }
}

/// Reads up to `limit` bytes (fewer only at the end of the file).
async fn read_chunk(
    file: &mut (dyn AsyncRead + Send + Unpin + '_),
    staged: &StagedOutput,
    limit: usize,
) -> Result<BytesMut> {
    let mut chunk = BytesMut::with_capacity(limit);
    while chunk.len() < limit {
        let read = (&mut *file)
            .take((limit - chunk.len()) as u64)
            .read_buf(&mut chunk)
            .await
            .map_err(|e| read_failed(staged, e))?;
        if read == 0 {
            break;
        }
    }
    Ok(chunk)
}

fn read_failed(staged: &StagedOutput, error: std::io::Error) -> Error {
    Error::storage(format!("cannot read {}", staged.content()), error)
}

/// Splits `s3://bucket/prefix?endpoint=…&region=…`. Credentials are refused
/// in the URL: they belong in the environment, where logs never show them.
fn parse_url(url: &str) -> Result<S3Location> {
    let invalid = |message: String| Error::invalid("blobs", message);
    let parsed = url::Url::parse(url)
        .map_err(|e| invalid(format!("{:?} is not a URL: {e}", redact(url))))?;
    if parsed.scheme() != "s3" {
        return Err(invalid(format!("{:?} is not an s3:// URL", redact(url))));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "an s3:// URL must not carry credentials; set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY"
                .to_owned(),
        ));
    }
    let bucket = match parsed.host_str() {
        Some(bucket) if !bucket.is_empty() => bucket.to_owned(),
        _ => {
            return Err(invalid(format!(
                "{url:?} names no bucket (s3://BUCKET/PREFIX)"
            )));
        }
    };
    let mut location = S3Location {
        bucket,
        prefix: parsed.path().trim_matches('/').to_owned(),
        endpoint: None,
        region: None,
    };
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "endpoint" => location.endpoint = Some(value.into_owned()),
            "region" => location.region = Some(value.into_owned()),
            other => {
                return Err(invalid(format!(
                    "unknown s3:// URL parameter {other:?} (expected endpoint or region)"
                )));
            }
        }
    }
    Ok(location)
}

/// The URL without its query and user info, for messages.
fn redact(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once('@') {
        Some((scheme_and_user, rest)) => {
            let scheme = scheme_and_user.split("://").next().unwrap_or_default();
            format!("{scheme}://***@{rest}")
        }
        None => without_query.to_owned(),
    }
}

fn is_not_found(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. })
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, staged: StagedOutput) -> Result<()> {
        let path = self.object_path(staged.sha256())?;
        // Content-addressed: bytes already there are these very bytes.
        if self.exists(staged.sha256()).await? {
            return Ok(());
        }
        self.upload(&staged, &path).await
        // Dropping `staged` removes the staging file.
    }

    async fn open(&self, sha256: &str) -> Result<BlobReader> {
        let path = self.object_path(sha256)?;
        let found = match self.store.get(&path).await {
            Ok(found) => found,
            Err(e) if is_not_found(&e) => {
                return Err(Error::NotFound {
                    what: "blob",
                    id: sha256.to_owned(),
                });
            }
            Err(e) => return Err(self.failed("read", sha256)(e)),
        };
        let stream = found.into_stream().map_err(std::io::Error::other);
        Ok(Box::new(StreamReader::new(stream)))
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        let path = self.object_path(sha256)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.failed("look for", sha256)(e)),
        }
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        let path = self.object_path(sha256)?;
        match self.store.delete(&path).await {
            Err(e) if !is_not_found(&e) => Err(self.failed("delete", sha256)(e)),
            _ => Ok(()),
        }
    }

    async fn presigned_url(&self, sha256: &str, ttl: Duration) -> Result<Option<String>> {
        let path = self.object_path(sha256)?;
        // Signatures count whole seconds: under one, the URL would be dead.
        if ttl < Duration::from_secs(1) || ttl > MAX_URL_TTL {
            return Err(Error::invalid(
                "ttl",
                "a download URL lives from 1 second to 7 days",
            ));
        }
        let url = self
            .store
            .signed_url(Method::GET, &path, ttl)
            .await
            .map_err(self.failed("sign a URL for", sha256))?;
        Ok(Some(url.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_bucket_prefix_and_options() {
        assert_eq!(
            parse_url("s3://assets/game/blobs?endpoint=http://127.0.0.1:9000&region=eu-west-1")
                .unwrap(),
            S3Location {
                bucket: "assets".into(),
                prefix: "game/blobs".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: Some("eu-west-1".into()),
            }
        );
        let bare = parse_url("s3://assets").unwrap();
        assert_eq!((bare.prefix.as_str(), bare.endpoint), ("", None));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for url in [
            "s3://",
            "s3:///prefix",
            "file://x",
            "s3://b/p?secret=x",
            "not a url",
        ] {
            let error = parse_url(url).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidRequest { field, .. } if field == "blobs"),
                "{url}: {error}"
            );
        }
        let error = parse_url("s3://AKIA:hunter2@bucket/p").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert_eq!(redact("s3://k:s@b/p?x=1"), "s3://***@b/p");
    }

    #[test]
    fn objects_sit_under_the_prefix_in_two_levels() {
        let store = S3BlobStore::open("s3://bucket/pre/fix?region=us-east-1").unwrap();
        let sha = format!("ab{}", "c".repeat(62));
        assert_eq!(
            store.object_path(&sha).unwrap().as_ref(),
            format!("pre/fix/ab/{}", "c".repeat(62))
        );
        assert!(store.object_path("../etc").is_err());
    }
}
