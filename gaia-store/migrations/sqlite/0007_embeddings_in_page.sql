-- A WITHOUT ROWID row keeps at most about 1,000 bytes in its b-tree page, so
-- a 256-dimension vector (1 KiB) spilled to an overflow page of its own: a
-- whole page on disk per asset, and one more page written with every stored
-- asset. A rowid table keeps rows of up to about 4,000 bytes in the page.
CREATE TABLE embeddings_in_page (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    model    TEXT NOT NULL,
    vector   BLOB NOT NULL,
    UNIQUE (asset_id, model)
);
INSERT INTO embeddings_in_page (asset_id, model, vector)
    SELECT asset_id, model, vector FROM embeddings;
DROP TABLE embeddings;
ALTER TABLE embeddings_in_page RENAME TO embeddings;
