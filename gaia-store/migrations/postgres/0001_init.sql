-- Gaia's Postgres schema: the tables and meanings of the SQLite schema
-- (migrations/sqlite 0001-0003), in Postgres types.
--
-- Times are BIGINT milliseconds since the Unix epoch (UTC), money BIGINT
-- micro-dollars, structured values JSONB. Every table keys its rows by a
-- BIGSERIAL `seq`: it is the submission order and the keyset cursor of
-- listings, and it is never reused after a delete. Ids are UUID text, as on
-- SQLite, so that rows read the same on both backends.

CREATE TABLE jobs (
    seq                   BIGSERIAL PRIMARY KEY,
    id                    TEXT    NOT NULL UNIQUE,
    client_id             TEXT    NOT NULL,
    campaign_id           TEXT,
    kind                  TEXT    NOT NULL,
    status                TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    priority              INTEGER NOT NULL DEFAULT 0,
    -- Not claimed before this instant (backoff, a full provider).
    run_after             BIGINT  NOT NULL,
    progress              INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attempts              INTEGER NOT NULL DEFAULT 0,
    max_attempts          INTEGER NOT NULL,
    -- The Request as wire JSON.
    request               JSONB   NOT NULL,
    request_digest        TEXT    NOT NULL,
    generation_digest     TEXT    NOT NULL,
    idempotency_key       TEXT,
    provider              TEXT,
    model                 TEXT,
    -- Asset ids, in output order.
    asset_ids             JSONB   NOT NULL DEFAULT '[]',
    estimated_cost_micros BIGINT,
    cost_micros           BIGINT  NOT NULL DEFAULT 0,
    -- Held against budgets while an attempt runs; 0 otherwise.
    reserved_micros       BIGINT  NOT NULL DEFAULT 0,
    -- JobError, or NULL.
    error                 JSONB,
    -- Whether existing assets answered the job instead of a generation.
    reused                BOOLEAN NOT NULL DEFAULT FALSE,
    reused_from           TEXT,
    -- Pipeline state the host never sees.
    checkpoint            TEXT,
    candidate_index       INTEGER NOT NULL DEFAULT 0,
    candidate_failures    INTEGER NOT NULL DEFAULT 0,
    worker                TEXT,
    lease_until           BIGINT,
    -- The provider whose call slot the running attempt holds.
    in_flight_provider    TEXT,
    -- The full provider a queued job waits on.
    waiting_on            TEXT,
    created_at            BIGINT  NOT NULL,
    started_at            BIGINT,
    finished_at           BIGINT
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
CREATE INDEX jobs_by_kind ON jobs (kind, seq);
CREATE INDEX jobs_by_campaign_only ON jobs (campaign_id, seq) WHERE campaign_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_reuse ON jobs (client_id, generation_digest) WHERE status = 'succeeded';
CREATE INDEX jobs_reserved ON jobs (client_id, campaign_id, reserved_micros)
    WHERE reserved_micros > 0;
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE status IN ('succeeded', 'failed', 'canceled');
CREATE INDEX jobs_in_flight ON jobs (in_flight_provider)
    WHERE status = 'running' AND in_flight_provider IS NOT NULL;
CREATE INDEX jobs_waiting ON jobs (waiting_on, priority DESC, seq)
    WHERE status = 'queued' AND waiting_on IS NOT NULL;

-- When a running attempt that held a call slot of its provider leaves
-- `running`, whatever the statement (success, failure, retry, release,
-- cancel, lease recovery), the first job waiting on that provider becomes
-- due at once (run_after 0: due for any clock), one waiter per freed slot,
-- and idle workers in every process are told.
CREATE FUNCTION gaia_free_provider_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- SKIP LOCKED: two slots freeing at once wake two different waiters.
    UPDATE jobs SET run_after = 0, waiting_on = NULL
    WHERE seq = (
        SELECT seq FROM jobs
        WHERE status = 'queued' AND waiting_on = OLD.in_flight_provider
        ORDER BY priority DESC, seq LIMIT 1
        FOR UPDATE SKIP LOCKED
    );
    IF FOUND THEN
        PERFORM pg_notify('gaia_jobs', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_free_provider_slot
AFTER UPDATE OF status ON jobs
FOR EACH ROW
WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND OLD.in_flight_provider IS NOT NULL)
EXECUTE FUNCTION gaia_free_provider_slot();

-- No foreign key to jobs: a worker may still flush log lines of a job that a
-- host deleted meanwhile; deleting a job removes its lines itself.
CREATE TABLE job_logs (
    seq     BIGSERIAL PRIMARY KEY,
    job_id  TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    level   TEXT   NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message TEXT   NOT NULL
);

CREATE INDEX job_logs_by_job ON job_logs (job_id, seq);

-- An asset outlives the job that made it, so job_id is not a foreign key.
CREATE TABLE assets (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    client_id    TEXT    NOT NULL,
    campaign_id  TEXT,
    type         TEXT    NOT NULL
        CHECK (type IN ('image', 'audio', 'video', 'model', 'document')),
    name         TEXT,
    mime         TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    -- AssetSource.
    source       JSONB   NOT NULL,
    cost_micros  BIGINT  NOT NULL DEFAULT 0,
    -- An array of strings.
    tags         JSONB   NOT NULL DEFAULT '[]',
    -- A free object.
    metadata     JSONB   NOT NULL DEFAULT '{}',
    -- The type-specific fields (Media), tagged by "type".
    media        JSONB   NOT NULL,
    -- The job that generated it and the output's position (NULL when uploaded).
    job_id       TEXT,
    output_index INTEGER,
    -- The asset a derived asset was made from (source.parent_id), for
    -- lineage. Not a foreign key: a derived asset outlives a deleted parent.
    parent_id    TEXT,
    created_at   BIGINT  NOT NULL,
    -- One job never yields an output twice.
    CONSTRAINT assets_job_output_index UNIQUE (job_id, output_index)
);

CREATE INDEX assets_by_client ON assets (client_id, seq);
CREATE INDEX assets_by_campaign ON assets (client_id, campaign_id, seq);
CREATE INDEX assets_by_type ON assets (client_id, type, seq);
CREATE INDEX assets_by_type_only ON assets (type, seq);
CREATE INDEX assets_by_campaign_only ON assets (campaign_id, seq) WHERE campaign_id IS NOT NULL;
CREATE INDEX assets_by_sha256 ON assets (sha256);
CREATE INDEX assets_by_client_sha256 ON assets (client_id, sha256);
CREATE INDEX assets_by_parent ON assets (parent_id) WHERE parent_id IS NOT NULL;
-- The tag filter (`tags ? 'stone'`).
CREATE INDEX assets_by_tag ON assets USING GIN (tags);

CREATE TABLE cost_ledger (
    seq         BIGSERIAL PRIMARY KEY,
    client_id   TEXT   NOT NULL,
    campaign_id TEXT,
    job_id      TEXT   NOT NULL,
    provider    TEXT   NOT NULL,
    model       TEXT   NOT NULL,
    cost_micros BIGINT NOT NULL,
    at          BIGINT NOT NULL
);

-- cost_micros is in the indexes so that budget sums never read the table.
CREATE INDEX cost_ledger_by_client ON cost_ledger (client_id, at, cost_micros);
CREATE INDEX cost_ledger_by_campaign ON cost_ledger (client_id, campaign_id, at, cost_micros);

-- campaign_id '' is the budget of the whole client (a real campaign id is
-- never empty), so that (client, campaign, period) is a plain primary key.
CREATE TABLE budgets (
    client_id    TEXT   NOT NULL,
    campaign_id  TEXT   NOT NULL DEFAULT '',
    period       TEXT   NOT NULL CHECK (period IN ('total', 'day', 'month')),
    limit_micros BIGINT NOT NULL,
    PRIMARY KEY (client_id, campaign_id, period)
);

-- Vectors are little-endian f32 bytes; one row per (asset, model), so that
-- changing the embedder keeps the old vectors until the new ones exist.
CREATE TABLE embeddings (
    asset_id TEXT  NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    model    TEXT  NOT NULL,
    vector   BYTEA NOT NULL,
    PRIMARY KEY (asset_id, model)
);

-- Every use of an asset. Reuses are written with the job that reused
-- (saved_micros: the estimate of the generation that did not happen);
-- reads and exports arrive in batches.
CREATE TABLE usage (
    seq          BIGSERIAL PRIMARY KEY,
    asset_id     TEXT   NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    client_id    TEXT   NOT NULL,
    campaign_id  TEXT,
    kind         TEXT   NOT NULL CHECK (kind IN ('reuse', 'export', 'read')),
    job_id       TEXT,
    saved_micros BIGINT NOT NULL DEFAULT 0,
    at           BIGINT NOT NULL
);

CREATE INDEX usage_by_asset ON usage (asset_id, client_id, at);
-- saved_micros is in the index so that the savings sum never reads the table.
CREATE INDEX usage_savings ON usage (client_id, campaign_id, at, saved_micros)
    WHERE kind = 'reuse';
