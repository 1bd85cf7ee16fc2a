-- Gaia's SQLite schema.
--
-- Times are INTEGER milliseconds since the Unix epoch (UTC), money INTEGER
-- micro-dollars, structured values JSON text. Every table keys its rows by an
-- AUTOINCREMENT `seq`: it is the submission order and the keyset cursor of
-- listings, and it is never reused after a delete.

CREATE TABLE jobs (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT    NOT NULL UNIQUE,
    client_id             TEXT    NOT NULL,
    campaign_id           TEXT,
    kind                  TEXT    NOT NULL,
    status                TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    priority              INTEGER NOT NULL DEFAULT 0,
    -- Not claimed before this instant (backoff, a full provider).
    run_after             INTEGER NOT NULL,
    progress              INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attempts              INTEGER NOT NULL DEFAULT 0,
    max_attempts          INTEGER NOT NULL,
    -- The Request as wire JSON.
    request               TEXT    NOT NULL,
    request_digest        TEXT    NOT NULL,
    generation_digest     TEXT    NOT NULL,
    idempotency_key       TEXT,
    provider              TEXT,
    model                 TEXT,
    -- JSON array of asset ids, in output order.
    asset_ids             TEXT    NOT NULL DEFAULT '[]',
    estimated_cost_micros INTEGER,
    cost_micros           INTEGER NOT NULL DEFAULT 0,
    -- Held against budgets while an attempt runs; 0 otherwise.
    reserved_micros       INTEGER NOT NULL DEFAULT 0,
    -- JobError as JSON, or NULL.
    error                 TEXT,
    reused_from           TEXT,
    -- Pipeline state the host never sees.
    checkpoint            TEXT,
    candidate_index       INTEGER NOT NULL DEFAULT 0,
    candidate_failures    INTEGER NOT NULL DEFAULT 0,
    worker                TEXT,
    lease_until           INTEGER,
    created_at            INTEGER NOT NULL,
    started_at            INTEGER,
    finished_at           INTEGER
);

-- Claiming walks this index in claim order; run_after is in the index so that
-- deferred jobs are skipped without reading their rows.
CREATE INDEX jobs_claim_order ON jobs (priority DESC, seq, run_after) WHERE status = 'queued';
CREATE INDEX jobs_due ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_worker ON jobs (worker) WHERE status = 'running';
CREATE INDEX jobs_by_client ON jobs (client_id, seq);
CREATE INDEX jobs_by_campaign ON jobs (client_id, campaign_id, seq);
CREATE INDEX jobs_by_client_status ON jobs (client_id, status, seq);
CREATE INDEX jobs_by_client_kind ON jobs (client_id, kind, seq);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_reuse ON jobs (client_id, generation_digest) WHERE status = 'succeeded';
CREATE INDEX jobs_reserved ON jobs (client_id, campaign_id, reserved_micros)
    WHERE reserved_micros > 0;

-- No foreign key to jobs: a worker may still flush log lines of a job that a
-- host deleted meanwhile; delete_job removes a job's lines itself.
CREATE TABLE job_logs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    level   TEXT    NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message TEXT    NOT NULL
);

CREATE INDEX job_logs_by_job ON job_logs (job_id, seq);

-- An asset outlives the job that made it, so job_id is not a foreign key.
CREATE TABLE assets (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    client_id    TEXT    NOT NULL,
    campaign_id  TEXT,
    type         TEXT    NOT NULL
        CHECK (type IN ('image', 'audio', 'video', 'model', 'document')),
    name         TEXT,
    mime         TEXT    NOT NULL,
    size_bytes   INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    -- AssetSource as JSON.
    source       TEXT    NOT NULL,
    cost_micros  INTEGER NOT NULL DEFAULT 0,
    -- JSON array of strings.
    tags         TEXT    NOT NULL DEFAULT '[]',
    -- JSON object.
    metadata     TEXT    NOT NULL DEFAULT '{}',
    -- The type-specific fields (Media) as JSON, tagged by "type".
    media        TEXT    NOT NULL,
    -- The job that generated it and the output's position (NULL when uploaded).
    job_id       TEXT,
    output_index INTEGER,
    created_at   INTEGER NOT NULL,
    -- One job never yields an output twice.
    UNIQUE (job_id, output_index)
);

CREATE INDEX assets_by_client ON assets (client_id, seq);
CREATE INDEX assets_by_campaign ON assets (client_id, campaign_id, seq);
CREATE INDEX assets_by_type ON assets (client_id, type, seq);
CREATE INDEX assets_by_sha256 ON assets (sha256);

CREATE TABLE cost_ledger (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   TEXT    NOT NULL,
    campaign_id TEXT,
    job_id      TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    cost_micros INTEGER NOT NULL,
    at          INTEGER NOT NULL
);

-- cost_micros is in the indexes so that budget sums never read the table.
CREATE INDEX cost_ledger_by_client ON cost_ledger (client_id, at, cost_micros);
CREATE INDEX cost_ledger_by_campaign ON cost_ledger (client_id, campaign_id, at, cost_micros);

-- campaign_id '' is the budget of the whole client (a real campaign id is
-- never empty), so that (client, campaign, period) is a plain primary key.
CREATE TABLE budgets (
    client_id    TEXT    NOT NULL,
    campaign_id  TEXT    NOT NULL DEFAULT '',
    period       TEXT    NOT NULL CHECK (period IN ('total', 'day', 'month')),
    limit_micros INTEGER NOT NULL,
    PRIMARY KEY (client_id, campaign_id, period)
) WITHOUT ROWID;

-- Filled by similarity search (a later issue).
CREATE TABLE embeddings (
    asset_id TEXT PRIMARY KEY REFERENCES assets (id) ON DELETE CASCADE,
    model    TEXT,
    vector   BLOB
);
