-- `prune_jobs` finds finished jobs by age without scanning the table.
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE status IN ('succeeded', 'failed', 'canceled');
