-- Blob bytes in the database (`blobs: "db:"`), content-addressed by SHA-256
-- and stored in chunks, so that neither writing nor reading a blob holds it
-- whole. No listing reads these tables; assets name their bytes by sha256.
-- A blob row and its chunks commit together, after the last chunk.

CREATE TABLE blobs (
    sha256     TEXT    PRIMARY KEY,
    size_bytes INTEGER NOT NULL,
    chunks     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE blob_chunks (
    sha256 TEXT    NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    n      INTEGER NOT NULL,
    bytes  BLOB    NOT NULL,
    PRIMARY KEY (sha256, n)
);
