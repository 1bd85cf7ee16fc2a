-- What the remote task of a job's checkpoint was already charged, by a
-- failed attempt that recorded the charge before the job was retried: the
-- attempt that resumes the task owes only the rest of what it reports.
ALTER TABLE jobs ADD COLUMN checkpoint_charged_micros INTEGER NOT NULL DEFAULT 0;
