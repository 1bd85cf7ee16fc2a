//! What the in-database blob stores (`blobs: "db:"`) of SQLite and Postgres
//! share: blobs are cut into chunks of [`CHUNK_SIZE`] bytes, written one
//! chunk at a time from the staging file and read back one chunk at a time,
//! so no blob is ever held whole in memory.
//!
//! Tables (migration `0004_blobs` on SQLite, `0002_blobs` on Postgres):
//! `blobs (sha256, size_bytes, chunks, created_at)` and
//! `blob_chunks (sha256, n, bytes)`. A blob's row and its chunks commit in
//! one transaction, so a blob is either whole or absent; storing bytes that
//! are already there keeps the one copy; deleting a blob deletes its chunks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use futures::stream::BoxStream;
use gaia_core::{BlobReader, Error, Result, StagedOutput};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Bytes per chunk row: large enough that a blob of a few hundred megabytes
/// is a few hundred rows, small enough to sit comfortably in memory and in
/// one Postgres message.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// How many chunks a blob of `size` bytes takes.
pub(crate) fn chunk_count(size: u64) -> Result<i32> {
    let chunk = CHUNK_SIZE as u64;
    i32::try_from(size.div_ceil(chunk))
        .map_err(|_| Error::invalid("blobs", format!("{size} bytes is too large to store")))
}

/// Reads a staged output chunk by chunk.
pub(crate) struct StagedChunks<'a> {
    file: Box<dyn AsyncRead + Send + Unpin + 'a>,
    /// Bytes still expected (the staged size); a file that ends sooner or
    /// runs longer was changed under the engine.
    remaining: u64,
    sha256: String,
}

impl<'a> StagedChunks<'a> {
    /// Opens the staged bytes.
    pub(crate) async fn open(staged: &'a StagedOutput) -> Result<Self> {
        let file = staged.open().await.map_err(|e| {
            Error::storage(
                format!("cannot open the staged output {}", staged.content()),
                e,
            )
        })?;
        Ok(Self {
            file,
            remaining: staged.size(),
            sha256: staged.sha256().to_owned(),
        })
    }

    /// The next chunk, or `None` after the last one.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining).map_or(CHUNK_SIZE, |n| n.min(CHUNK_SIZE));
        let mut chunk = vec![0; want];
        self.file.read_exact(&mut chunk).await.map_err(|e| {
            Error::storage(
                format!("cannot read the staged bytes of blob {}", self.sha256),
                e,
            )
        })?;
        self.remaining -= want as u64;
        Ok(Some(chunk))
    }
}

/// A reader over a stream of chunks (each fetched when the reader needs it).
pub(crate) struct ChunkReader {
    chunks: BoxStream<'static, io::Result<Vec<u8>>>,
    current: Vec<u8>,
    offset: usize,
}

impl ChunkReader {
    /// A boxed reader of the chunks' bytes, in order.
    pub(crate) fn boxed(chunks: BoxStream<'static, io::Result<Vec<u8>>>) -> BlobReader {
        Box::new(Self {
            chunks,
            current: Vec::new(),
            offset: 0,
        })
    }
}

impl AsyncRead for ChunkReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.offset == self.current.len() {
            match ready!(Pin::new(&mut self.chunks).poll_next(cx)) {
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.offset = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                // The end: nothing more, so `buf` stays unfilled.
                None => return Poll::Ready(Ok(())),
            }
        }
        let available = &self.current[self.offset..];
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        self.offset += n;
        Poll::Ready(Ok(()))
    }
}

/// The error of a chunk that vanished while its blob was read (the blob was
/// deleted meanwhile).
pub(crate) fn missing_chunk(sha256: &str, n: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("chunk {n} of blob {sha256} is gone (the blob was deleted while being read)"),
    )
}

/// A database error met while streaming a blob, as an I/O error.
pub(crate) fn read_failed(sha256: &str, error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot read blob {sha256}: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts_round_up() {
        let chunk = CHUNK_SIZE as u64;
        assert_eq!(chunk_count(0).unwrap(), 0);
        assert_eq!(chunk_count(1).unwrap(), 1);
        assert_eq!(chunk_count(chunk).unwrap(), 1);
        assert_eq!(chunk_count(chunk + 1).unwrap(), 2);
        assert!(chunk_count(u64::MAX).is_err());
    }

    #[tokio::test]
    async fn the_reader_joins_chunks_and_passes_errors() {
        let parts: Vec<io::Result<Vec<u8>>> =
            vec![Ok(b"ab".to_vec()), Ok(Vec::new()), Ok(b"c".to_vec())];
        let mut reader = ChunkReader::boxed(Box::pin(futures::stream::iter(parts)));
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"abc");

        let broken: Vec<io::Result<Vec<u8>>> = vec![Ok(b"a".to_vec()), Err(missing_chunk("x", 1))];
        let mut reader = ChunkReader::boxed(Box::pin(futures::stream::iter(broken)));
        let error = reader.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
