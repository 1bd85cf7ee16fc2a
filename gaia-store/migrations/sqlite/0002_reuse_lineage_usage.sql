-- Imports, derived assets, semantic search, reuse and usage.

-- Whether existing assets answered the job instead of a generation.
ALTER TABLE jobs ADD COLUMN reused INTEGER NOT NULL DEFAULT 0;

-- The asset a derived asset was made from (source.parent_id), for lineage.
-- Not a foreign key: a derived asset outlives a deleted parent.
ALTER TABLE assets ADD COLUMN parent_id TEXT;
CREATE INDEX assets_by_parent ON assets (parent_id) WHERE parent_id IS NOT NULL;

-- Import deduplication looks up a client's bytes.
CREATE INDEX assets_by_client_sha256 ON assets (client_id, sha256);

-- Vectors are little-endian f32 blobs; one row per (asset, model), so that
-- changing the embedder keeps the old vectors until the new ones exist.
DROP TABLE embeddings;
CREATE TABLE embeddings (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    model    TEXT NOT NULL,
    vector   BLOB NOT NULL,
    PRIMARY KEY (asset_id, model)
) WITHOUT ROWID;

-- Every use of an asset. Reuses are written with the job that reused
-- (saved_micros: the estimate of the generation that did not happen);
-- reads and exports arrive in batches.
CREATE TABLE usage (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id     TEXT    NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL,
    campaign_id  TEXT,
    kind         TEXT    NOT NULL CHECK (kind IN ('reuse', 'export', 'read')),
    job_id       TEXT,
    saved_micros INTEGER NOT NULL DEFAULT 0,
    at           INTEGER NOT NULL
);

CREATE INDEX usage_by_asset ON usage (asset_id, client_id, at);
-- saved_micros is in the index so that the savings sum never reads the table.
CREATE INDEX usage_savings ON usage (client_id, campaign_id, at, saved_micros)
    WHERE kind = 'reuse';
