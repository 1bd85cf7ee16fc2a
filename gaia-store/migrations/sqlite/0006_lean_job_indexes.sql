-- Every index a job transition touches is one more page written per commit.
-- Running jobs are few (at most the workers' slots), so the statements that
-- look at them (heartbeats, lease recovery, provider slot counts, budget
-- reservations) seek `jobs_by_status` or `jobs_by_client_status` to
-- `status = 'running'` instead of keeping four indexes of their own.
DROP INDEX jobs_lease;
DROP INDEX jobs_worker;
DROP INDEX jobs_in_flight;
DROP INDEX jobs_reserved;

-- One index serves both "is this blob still used" (sha256) and "has this
-- client these bytes" (sha256, client_id).
DROP INDEX assets_by_client_sha256;
DROP INDEX assets_by_sha256;
CREATE INDEX assets_by_sha256 ON assets (sha256, client_id);
