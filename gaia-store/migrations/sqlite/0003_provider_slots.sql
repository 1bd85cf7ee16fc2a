-- Calls in flight per provider, shared by every worker on the database.
--
-- A running attempt that took one of its provider's call slots names the
-- provider in `in_flight_provider` (cleared when the job is claimed again).
-- A job that met a full provider waits queued with `waiting_on` set; when a
-- running job holding a slot of that provider leaves `running`, whatever the
-- statement (success, failure, retry, release, cancel, lease recovery), the
-- trigger makes the first waiter due at once (run_after 0: due for any
-- clock), one waiter per freed slot.

ALTER TABLE jobs ADD COLUMN in_flight_provider TEXT;
ALTER TABLE jobs ADD COLUMN waiting_on TEXT;

CREATE INDEX jobs_in_flight ON jobs (in_flight_provider)
    WHERE status = 'running' AND in_flight_provider IS NOT NULL;
CREATE INDEX jobs_waiting ON jobs (waiting_on, priority DESC, seq)
    WHERE status = 'queued' AND waiting_on IS NOT NULL;

CREATE TRIGGER jobs_free_provider_slot
AFTER UPDATE OF status ON jobs
WHEN OLD.status = 'running' AND NEW.status <> 'running' AND OLD.in_flight_provider IS NOT NULL
BEGIN
    UPDATE jobs SET run_after = 0, waiting_on = NULL
    WHERE seq = (
        SELECT seq FROM jobs INDEXED BY jobs_waiting
        WHERE status = 'queued' AND waiting_on = OLD.in_flight_provider
        ORDER BY priority DESC, seq LIMIT 1
    );
END;
