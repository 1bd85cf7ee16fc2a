//! Content-addressed blobs in a folder: `root/ab/cdef…` for SHA-256 `abcdef…`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use gaia_core::{BlobReader, BlobStore, Durability, Error, Result, StagedContent, StagedOutput};

/// Blobs stored as files under a root folder, one per SHA-256.
///
/// `put` moves the complete staged file into place by a rename (or a copy
/// renamed into place when the staging folder is on another filesystem; or
/// the bytes of an output staged in memory, written and renamed into place),
/// so a blob's name never shows partial bytes. With [`Durability::Full`] the
/// file and its folder are also flushed to disk first, so the bytes survive
/// a power loss before the caller commits a row naming them.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<Path>,
    durability: Durability,
}

impl FsBlobStore {
    /// Opens (creating it when missing) the blob folder `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        tokio::fs::create_dir_all(&root).await.map_err(|e| {
            Error::storage(format!("cannot create blob folder {}", root.display()), e)
        })?;
        Ok(Self {
            root: root.into(),
            durability: Durability::Normal,
        })
    }

    /// The same store, flushing each blob to disk when `durability` is
    /// [`Durability::Full`].
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The folder the blobs live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `sha256` lives, once the key is known to be a SHA-256.
    fn blob_path(&self, sha256: &str) -> Result<PathBuf> {
        validate_key(sha256)?;
        let (prefix, rest) = sha256.split_at(2);
        Ok(self.root.join(prefix).join(rest))
    }
}

/// Opens the blob store a URL names: `file:///absolute/path` or
/// `file://relative/path`, or (feature `s3`) `s3://bucket/prefix` (see
/// [`crate::S3BlobStore::open`]).
pub async fn open_blob_store(url: &str) -> Result<Arc<dyn BlobStore>> {
    open_blob_store_with(url, Durability::Normal).await
}

/// Opens the blob store a URL names, flushing file blobs to disk when
/// `durability` is [`Durability::Full`] (object stores are durable once a
/// put returns).
pub async fn open_blob_store_with(url: &str, durability: Durability) -> Result<Arc<dyn BlobStore>> {
    #[cfg(feature = "s3")]
    if url.starts_with("s3://") {
        return Ok(Arc::new(crate::S3BlobStore::open(url)?));
    }
    match url.strip_prefix("file://") {
        Some(path) if !path.is_empty() => Ok(Arc::new(
            FsBlobStore::open(path).await?.with_durability(durability),
        )),
        _ => Err(Error::invalid(
            "blobs",
            format!("{url:?} is not a supported blob store URL (expected file://PATH)"),
        )),
    }
}

/// Unflushed blobs up to this size are put in place, on the caller's thread.
const PUT_IN_PLACE_MAX: u64 = 64 * 1024;

/// Only 64 lowercase hex characters are keys, so no key can name a path
/// outside the root.
pub(crate) fn validate_key(sha256: &str) -> Result<()> {
    let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if sha256.len() == 64 && sha256.bytes().all(is_hex) {
        Ok(())
    } else {
        Err(Error::invalid(
            "sha256",
            format!("{sha256:?} is not 64 lowercase hex characters"),
        ))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, staged: StagedOutput) -> Result<()> {
        let target = self.blob_path(staged.sha256())?;
        let flush = self.durability == Durability::Full;
        if !flush && staged.size() <= PUT_IN_PLACE_MAX {
            // A rename (or a copy of a few KiB): cheaper than a trip to the
            // blocking pool.
            return put_blocking(staged, &target, flush);
        }
        tokio::task::spawn_blocking(move || put_blocking(staged, &target, flush))
            .await
            .map_err(|e| Error::Internal(format!("blob write task failed: {e}")))?
    }

    async fn open(&self, sha256: &str) -> Result<BlobReader> {
        let path = self.blob_path(sha256)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound {
                what: "blob",
                id: sha256.to_owned(),
            }),
            Err(e) => Err(Error::storage(
                format!("cannot open blob {}", path.display()),
                e,
            )),
        }
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        let path = self.blob_path(sha256)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| Error::storage(format!("cannot look for blob {}", path.display()), e))
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        let path = self.blob_path(sha256)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::storage(
                format!("cannot delete blob {}", path.display()),
                e,
            )),
            _ => Ok(()),
        }
    }
}

/// Moves a staged output to `target` durably; keeps the existing copy when
/// the same bytes are already stored (dropping `staged` removes its file).
/// A copy of the wrong length (cut short by a power loss before its bytes
/// reached the disk) is replaced, not kept for ever.
fn put_blocking(staged: StagedOutput, target: &Path, flush: bool) -> Result<()> {
    if fs::metadata(target).is_ok_and(|stored| stored.len() == staged.size()) {
        return Ok(());
    }
    let folder = target.parent().unwrap_or(target);
    fs::create_dir_all(folder).map_err(|e| {
        Error::storage(format!("cannot create blob folder {}", folder.display()), e)
    })?;
    match staged.into_content() {
        StagedContent::File(staged_path) => {
            if flush {
                sync_file(&staged_path)?;
            }
            if let Err(failed) = staged_path.persist(target) {
                // A rename cannot cross filesystems (EXDEV); copy instead. The
                // staged file is removed when `failed.path` drops.
                let mut file = File::open(&failed.path).map_err(|e| {
                    Error::storage(format!("cannot read {}", failed.path.display()), e)
                })?;
                copy_into_place(&mut file, target, flush)?;
            }
        }
        StagedContent::Memory(bytes) => copy_into_place(&mut bytes.as_ref(), target, flush)?,
    }
    if flush {
        sync_folder(folder)?;
    }
    Ok(())
}

/// Copies `source` to `target` through a flushed temporary file in the
/// target's folder, renamed into place: `target` never holds partial bytes.
fn copy_into_place(source: &mut dyn io::Read, target: &Path, flush: bool) -> Result<()> {
    let folder = target.parent().unwrap_or(target);
    let copy_error =
        |e: io::Error| Error::storage(format!("cannot copy blob to {}", target.display()), e);
    let mut incoming = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempfile_in(folder)
        .map_err(copy_error)?;
    io::copy(source, incoming.as_file_mut()).map_err(copy_error)?;
    if flush {
        incoming.as_file().sync_all().map_err(copy_error)?;
    }
    incoming.persist(target).map_err(|e| copy_error(e.error))?;
    Ok(())
}

/// Flushes a file's bytes to disk (opened for writing: Windows requires it).
fn sync_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::storage(format!("cannot flush {}", path.display()), e))
}

/// Flushes a folder so that a rename into it survives a crash.
#[cfg(unix)]
fn sync_folder(folder: &Path) -> Result<()> {
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::storage(format!("cannot flush folder {}", folder.display()), e))
}

/// Windows cannot open a folder as a file; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn opening_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&open_blob_store("file://blobs"));
        assert_send(&FsBlobStore::open("blobs"));
    }

    #[test]
    fn keys_must_be_lowercase_sha256_hex() {
        assert!(validate_key(&"a".repeat(64)).is_ok());
        assert!(validate_key(&"0123456789abcdef".repeat(4)).is_ok());
        for bad in [
            String::new(),
            "A".repeat(64),
            "a".repeat(63),
            "a".repeat(65),
            format!("../{}", "a".repeat(61)),
            format!("{}/", "a".repeat(63)),
        ] {
            assert!(validate_key(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[tokio::test]
    async fn a_stored_copy_of_the_wrong_length_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
        let cx = gaia_core::GenerateContext::detached(dir.path().join("staging"));
        let staged = cx.stage_bytes(b"texture bytes").await.unwrap();
        let path = store.blob_path(staged.sha256()).unwrap();
        store.put(staged).await.unwrap();
        // A power loss left the renamed file empty.
        fs::write(&path, b"").unwrap();
        store
            .put(cx.stage_bytes(b"texture bytes").await.unwrap())
            .await
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"texture bytes");
    }

    #[test]
    fn copy_into_place_replaces_nothing_partially() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ab").join("cdef");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        copy_into_place(&mut &b"bytes"[..], &target, true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"bytes");
        let leftovers: Vec<_> = fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("cdef")]);
    }
}
