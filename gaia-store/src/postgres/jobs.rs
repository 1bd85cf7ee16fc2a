//! The queue and the job records.
//!
//! Every call that changes a running job carries the guard
//! `status = 'running' AND worker = $n` in the statement that changes it, so
//! a worker that lost its job (canceled, or recovered by another worker)
//! changes nothing and gets `None`. Claims and recovery lock rows with
//! `FOR UPDATE SKIP LOCKED`, so concurrent workers pass each other instead of
//! queueing on a row.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use gaia_core::{
    AttemptPlanner, AttemptStart, AttemptStarted, ClaimedJob, ClientId, Completion, CostEntry,
    Error, ErrorCode, Inserted, Job, JobError, JobFilter, JobId, JobStats, JobStore, LogLine,
    NewJob, Page, PageRequest, Progress, Result, Retry, Timestamp,
};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::assets::insert_asset;
use super::budget::{Reserver, check_budgets, lock_client_budgets};
use super::ledger::{charged, insert_cost, insert_optional_cost};
use super::notify::{notify_queue, notify_queue_call};
use super::rows::{
    claimed_from_row, claimed_job_columns, get, job_columns, job_from_row, log_from_row,
    to_integer, to_json,
};
use super::{Conditions, PostgresStore, sequenced};
use crate::sqlite::{into_page, parse_cursor};

const INSERT_JOB: &str = "INSERT INTO jobs (id, client_id, campaign_id, kind, status, priority, \
     run_after, progress, attempts, max_attempts, request, request_digest, generation_digest, \
     idempotency_key, provider, model, asset_ids, estimated_cost_micros, cost_micros, error, \
     reused_from, created_at, started_at, finished_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::JSONB, $12, $13, $14, $15, $16, \
     $17::JSONB, $18, $19, $20::JSONB, $21, $22, $23, $24) \
     ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";

/// Takes the next due job in claim order (the `jobs_claim_order` index),
/// skipping rows other claimers hold.
const CLAIM_JOB: &str = concat!(
    "UPDATE jobs SET status = 'running', worker = $1, lease_until = $2, ",
    "attempts = attempts + 1, started_at = COALESCE(started_at, $3), ",
    "in_flight_provider = NULL, waiting_on = NULL ",
    "WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' AND run_after <= $3 ",
    "ORDER BY priority DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED) ",
    "RETURNING ",
    claimed_job_columns!()
);

const NEXT_DUE: &str = "SELECT MIN(run_after) FROM jobs WHERE status = 'queued'";

/// Renews the leases of the claims listed.
const HEARTBEAT: &str = "UPDATE jobs SET lease_until = $1 \
     WHERE status = 'running' AND worker = ANY($2) RETURNING worker";

const IS_HELD: &str = "SELECT 1 FROM jobs WHERE id = $1 AND status = 'running' AND worker = $2";

/// Running attempts holding a call slot of a provider, besides this job's.
const SLOTS_TAKEN: &str = "SELECT COUNT(*) FROM jobs \
     WHERE status = 'running' AND in_flight_provider = $1 AND id <> $2";

/// Records the attempt, its call slot and (optimistically) its reservation.
const START_ATTEMPT: &str = "UPDATE jobs SET provider = $1, model = $2, \
     estimated_cost_micros = $3, reserved_micros = $4, in_flight_provider = $1 \
     WHERE id = $5 AND status = 'running' AND worker = $6 RETURNING client_id, campaign_id";

const COMPLETE_JOB: &str = concat!(
    "UPDATE jobs SET status = 'succeeded', progress = 100, asset_ids = $1::JSONB, ",
    "reused_from = $2, error = NULL, cost_micros = cost_micros + $3, reserved_micros = 0, ",
    "finished_at = $4, worker = NULL, lease_until = NULL, reused = $7 ",
    "WHERE id = $5 AND status = 'running' AND worker = $6 RETURNING ",
    job_columns!()
);

const RETRY_LATER: &str = "UPDATE jobs SET status = 'queued', run_after = $1, \
     candidate_index = $2, candidate_failures = $3, error = $4::JSONB, \
     cost_micros = cost_micros + $5, checkpoint_charged_micros = $8, reserved_micros = 0, \
     progress = 0, worker = NULL, lease_until = NULL \
     WHERE id = $6 AND status = 'running' AND worker = $7";

/// The attempt never reached the provider, so it is not counted.
const RELEASE_JOB: &str = concat!(
    "WITH released AS (UPDATE jobs SET status = 'queued', run_after = $1, ",
    "attempts = GREATEST(attempts - 1, 0), reserved_micros = 0, worker = NULL, ",
    "lease_until = NULL WHERE id = $2 AND status = 'running' AND worker = $3 RETURNING 1) ",
    "SELECT ",
    notify_queue_call!(),
    " FROM released"
);

/// Like a release; the slot trigger of migration 0001 makes the job due as
/// soon as a call of `$2` ends.
const DEFER_JOB: &str = "UPDATE jobs SET status = 'queued', run_after = $1, waiting_on = $2, \
     attempts = GREATEST(attempts - 1, 0), reserved_micros = 0, worker = NULL, \
     lease_until = NULL WHERE id = $3 AND status = 'running' AND worker = $4";

const CHARGE_CANCELED: &str =
    "UPDATE jobs SET cost_micros = cost_micros + $1 WHERE id = $2 AND status = 'canceled'";

const FAIL_JOB: &str = concat!(
    "UPDATE jobs SET status = 'failed', error = $1::JSONB, cost_micros = cost_micros + $2, ",
    "reserved_micros = 0, finished_at = $3, worker = NULL, lease_until = NULL ",
    "WHERE id = $4 AND status = 'running' AND worker = $5 RETURNING ",
    job_columns!()
);

/// The worker keeps its id on the row so its later calls find the job no
/// longer running rather than held by someone else.
const CANCEL_JOB: &str = concat!(
    "UPDATE jobs SET status = 'canceled', error = $1::JSONB, reserved_micros = 0, ",
    "finished_at = $2, lease_until = NULL WHERE id = $3 AND status IN ('queued', 'running') ",
    "RETURNING ",
    job_columns!()
);

const RETRY_JOB: &str = concat!(
    "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, progress = 0, ",
    "candidate_index = 0, candidate_failures = 0, checkpoint = NULL, ",
    "checkpoint_charged_micros = 0, finished_at = NULL, ",
    "run_after = $1, worker = NULL, lease_until = NULL, reserved_micros = 0 ",
    "WHERE id = $2 AND status IN ('failed', 'canceled') RETURNING ",
    job_columns!()
);

/// Deletes up to `$2` jobs that ended before `$1`, with their log lines, in
/// one statement; returns how many jobs went.
const PRUNE_JOBS: &str = "WITH doomed AS (SELECT id FROM jobs \
     WHERE status IN ('succeeded', 'failed', 'canceled') AND finished_at < $1 \
     ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED), \
     logs AS (DELETE FROM job_logs WHERE job_id IN (SELECT id FROM doomed)), \
     gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM doomed) RETURNING 1) \
     SELECT COUNT(*) FROM gone";

/// Jobs pruned per transaction, so that a large prune never holds many row
/// locks at once.
const PRUNE_BATCH: i64 = 500;

const REQUEUE_EXPIRED: &str = concat!(
    "UPDATE jobs SET status = 'queued', run_after = $1, reserved_micros = 0, worker = NULL, ",
    "lease_until = NULL WHERE seq IN (SELECT seq FROM jobs WHERE status = 'running' ",
    "AND lease_until < $1 AND attempts < max_attempts FOR UPDATE SKIP LOCKED) RETURNING ",
    job_columns!()
);

const FAIL_EXPIRED: &str = concat!(
    "UPDATE jobs SET status = 'failed', reserved_micros = 0, finished_at = $1, ",
    "worker = NULL, lease_until = NULL, error = jsonb_build_object('code', 'internal', ",
    "'message', 'worker lost the job (lease expired) on attempt ' || attempts || ' of ' ",
    "|| max_attempts, 'retryable', FALSE) ",
    "WHERE seq IN (SELECT seq FROM jobs WHERE status = 'running' AND lease_until < $1 ",
    "AND attempts >= max_attempts FOR UPDATE SKIP LOCKED) RETURNING ",
    job_columns!()
);

/// The newest succeeded job whose asset list is non-empty and names only
/// assets that still exist.
const FIND_REUSABLE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE client_id = $1 AND generation_digest = $2 AND status = 'succeeded' ",
    "AND jsonb_array_length(asset_ids) > 0 ",
    "AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(jobs.asset_ids) AS listed (id) ",
    "WHERE NOT EXISTS (SELECT 1 FROM assets WHERE assets.id = listed.id)) ",
    "ORDER BY seq DESC LIMIT 1"
);

#[async_trait]
impl JobStore for PostgresStore {
    async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Inserted>> {
        let action = "insert jobs";
        let mut tx = self.begin(action).await?;
        let mut inserted = Vec::with_capacity(jobs.len());
        for new in jobs {
            // An error drops `tx`, rolling back the whole batch.
            inserted.push(self.insert_job(&mut tx, new).await?);
        }
        if inserted.iter().any(|entry| !entry.existing) {
            notify_queue(&mut tx).await?;
        }
        self.commit(tx, action).await?;
        Ok(inserted)
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedJob>> {
        claim_job(&self.pool, worker, now, lease_until)
            .await
            .map_err(self.failed("claim a job"))?
    }

    async fn insert_jobs_and_claim(
        &self,
        jobs: Vec<NewJob>,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        planner: Option<Arc<dyn AttemptPlanner>>,
    ) -> Result<(Vec<Inserted>, Option<ClaimedJob>)> {
        let action = "insert jobs and claim one";
        let mut tx = self.begin(action).await?;
        let mut inserted = Vec::with_capacity(jobs.len());
        for new in jobs {
            // An error drops `tx`, rolling back the whole batch.
            inserted.push(self.insert_job(&mut tx, new).await?);
        }
        let claimed = claim_job(&mut *tx, worker, now, lease_until)
            .await
            .map_err(self.failed(action))??;
        let claimed = self
            .start_planned(&mut tx, worker, claimed, planner.as_deref())
            .await?;
        // Other processes' workers may take what this claim left.
        if inserted.iter().any(|entry| !entry.existing) {
            notify_queue(&mut tx).await?;
        }
        self.commit(tx, action).await?;
        Ok((inserted, claimed))
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(NEXT_DUE)
            .fetch_one(&self.pool)
            .await
            .map_err(self.failed("find the next due job"))?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn heartbeat(&self, workers: &[String], lease_until: Timestamp) -> Result<Vec<String>> {
        if workers.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(HEARTBEAT)
            .bind(lease_until.millis())
            .bind(workers)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("renew leases"))
    }

    async fn is_held(&self, job_id: JobId, worker: &str) -> Result<bool> {
        let held: Option<i32> = sqlx::query_scalar(IS_HELD)
            .bind(job_id.to_string())
            .bind(worker)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("check a job's lease"))?;
        Ok(held.is_some())
    }

    async fn start_attempt(
        &self,
        job_id: JobId,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Option<AttemptStarted>> {
        let action = format!("start an attempt of job {job_id}");
        let mut tx = self.begin(&action).await?;
        let recorded = self
            .record_attempt(&mut tx, &job_id.to_string(), worker, attempt)
            .await?;
        match recorded {
            // Dropping `tx` rolls back: nothing recorded, the lock released.
            Recorded::ProviderFull => Ok(Some(AttemptStarted::ProviderFull)),
            Recorded::Lost => Ok(None),
            Recorded::Refused(refused) => {
                self.commit(tx, &action).await?;
                Err(refused)
            }
            Recorded::Started => {
                self.commit(tx, &action).await?;
                Ok(Some(AttemptStarted::Started))
            }
        }
    }

    async fn set_progress(&self, job_id: JobId, progress: Progress) -> Result<()> {
        sqlx::query("UPDATE jobs SET progress = $1 WHERE id = $2 AND status = 'running'")
            .bind(to_integer(progress.value().into(), "progress")?)
            .bind(job_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(self.failed(&format!("save the progress of job {job_id}")))?;
        Ok(())
    }

    async fn append_logs(&self, job_id: JobId, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        // One statement whatever the count: the columns travel as arrays.
        let (mut ats, mut levels, mut messages) = (Vec::new(), Vec::new(), Vec::new());
        for line in lines {
            ats.push(line.at.millis());
            levels.push(line.level.as_str());
            messages.push(line.message.as_str());
        }
        sqlx::query(
            "INSERT INTO job_logs (job_id, at, level, message) \
             SELECT $1, at, level, message \
             FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[]) AS line (at, level, message)",
        )
        .bind(job_id.to_string())
        .bind(ats)
        .bind(levels)
        .bind(messages)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("append log lines of job {job_id}")))?;
        Ok(())
    }

    async fn job_logs(&self, job_id: JobId) -> Result<Vec<LogLine>> {
        let rows =
            sqlx::query("SELECT at, level, message FROM job_logs WHERE job_id = $1 ORDER BY seq")
                .bind(job_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(self.failed(&format!("read the log of job {job_id}")))?;
        rows.iter().map(log_from_row).collect()
    }

    async fn save_checkpoint(
        &self,
        job_id: JobId,
        worker: &str,
        checkpoint: &str,
    ) -> Result<Option<()>> {
        let saved = sqlx::query(
            "UPDATE jobs SET checkpoint = $1, checkpoint_charged_micros = \
             CASE WHEN checkpoint IS NOT DISTINCT FROM $1 THEN checkpoint_charged_micros ELSE 0 END \
             WHERE id = $2 AND status = 'running' AND worker = $3",
        )
        .bind(checkpoint)
        .bind(job_id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("save the checkpoint of job {job_id}")))?;
        Ok((saved.rows_affected() > 0).then_some(()))
    }

    async fn complete_job(&self, worker: &str, completion: Completion) -> Result<Option<Job>> {
        let job_id = completion.job_id;
        let action = format!("complete job {job_id}");
        let asset_ids: Vec<_> = completion
            .assets
            .iter()
            .map(|asset| asset.id)
            .chain(completion.reused_assets.iter().copied())
            .collect();
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(COMPLETE_JOB)
            .bind(to_json(&asset_ids, "asset ids")?)
            .bind(completion.reused_from.map(|id| id.to_string()))
            .bind(charged(completion.cost.as_ref()))
            .bind(completion.at.millis())
            .bind(job_id.to_string())
            .bind(worker)
            .bind(!completion.reused_assets.is_empty())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        let Some(row) = row else {
            return Ok(None);
        };
        for (index, asset) in completion.assets.iter().enumerate() {
            insert_asset(&mut tx, asset, Some((job_id, index))).await?;
        }
        if let Some(embeddings) = &completion.embeddings {
            super::usage::insert_embeddings(&mut *tx, &embeddings.model, &embeddings.vectors)
                .await
                .map_err(self.failed(&action))?;
        }
        let job = job_from_row(&row)?;
        insert_reuses(&mut tx, &job, &completion).await?;
        insert_optional_cost(&mut tx, completion.cost.as_ref()).await?;
        self.commit(tx, &action).await?;
        Ok(Some(job))
    }

    async fn retry_later(&self, worker: &str, retry: Retry) -> Result<Option<()>> {
        let action = format!("requeue job {}", retry.job_id);
        let mut tx = self.begin(&action).await?;
        let requeued = sqlx::query(RETRY_LATER)
            .bind(retry.run_after.millis())
            .bind(to_integer(retry.candidate_index, "candidate_index")?)
            .bind(to_integer(retry.candidate_failures, "candidate_failures")?)
            .bind(to_json(&retry.error, "the job error")?)
            .bind(charged(retry.cost.as_ref()))
            .bind(retry.job_id.to_string())
            .bind(worker)
            .bind(retry.checkpoint_charged.micros())
            .execute(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        if requeued.rows_affected() == 0 {
            return Ok(None);
        }
        insert_optional_cost(&mut tx, retry.cost.as_ref()).await?;
        notify_queue(&mut tx).await?;
        self.commit(tx, &action).await?;
        Ok(Some(()))
    }

    async fn release_job(
        &self,
        job_id: JobId,
        worker: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        let released = sqlx::query(RELEASE_JOB)
            .bind(run_after.millis())
            .bind(job_id.to_string())
            .bind(worker)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed(&format!("release job {job_id}")))?;
        Ok(released.map(|_| ()))
    }

    async fn defer_job(
        &self,
        job_id: JobId,
        worker: &str,
        provider: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        let deferred = sqlx::query(DEFER_JOB)
            .bind(run_after.millis())
            .bind(provider)
            .bind(job_id.to_string())
            .bind(worker)
            .execute(&self.pool)
            .await
            .map_err(self.failed(&format!("defer job {job_id}")))?;
        Ok((deferred.rows_affected() > 0).then_some(()))
    }

    async fn fail_job(
        &self,
        worker: &str,
        job_id: JobId,
        error: JobError,
        cost: Option<CostEntry>,
        at: Timestamp,
    ) -> Result<Option<Job>> {
        let action = format!("fail job {job_id}");
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(FAIL_JOB)
            .bind(to_json(&error, "the job error")?)
            .bind(charged(cost.as_ref()))
            .bind(at.millis())
            .bind(job_id.to_string())
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_optional_cost(&mut tx, cost.as_ref()).await?;
        let job = job_from_row(&row)?;
        self.commit(tx, &action).await?;
        Ok(Some(job))
    }

    async fn charge_canceled(&self, cost: &CostEntry) -> Result<bool> {
        let action = format!("charge canceled job {}", cost.job_id);
        let mut tx = self.begin(&action).await?;
        let charged = sqlx::query(CHARGE_CANCELED)
            .bind(cost.cost_micros.micros())
            .bind(cost.job_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        if charged.rows_affected() == 0 {
            return Ok(false);
        }
        insert_cost(&mut tx, cost).await?;
        self.commit(tx, &action).await?;
        Ok(true)
    }

    async fn cancel_job(&self, job_id: JobId, at: Timestamp) -> Result<Job> {
        let action = format!("cancel job {job_id}");
        let canceled = JobError {
            code: ErrorCode::Canceled,
            message: "canceled by request".to_owned(),
            retryable: false,
        };
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(CANCEL_JOB)
            .bind(to_json(&canceled, "the job error")?)
            .bind(at.millis())
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        let Some(row) = row else {
            return Err(self.refusal(&mut tx, job_id, "canceled").await);
        };
        let job = job_from_row(&row)?;
        self.commit(tx, &action).await?;
        Ok(job)
    }

    async fn retry_job(&self, job_id: JobId, now: Timestamp) -> Result<Job> {
        let action = format!("retry job {job_id}");
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(RETRY_JOB)
            .bind(now.millis())
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        let Some(row) = row else {
            return Err(self.refusal(&mut tx, job_id, "retried").await);
        };
        let job = job_from_row(&row)?;
        notify_queue(&mut tx).await?;
        self.commit(tx, &action).await?;
        Ok(job)
    }

    async fn delete_job(&self, job_id: JobId) -> Result<()> {
        let action = format!("delete job {job_id}");
        let id = job_id.to_string();
        let mut tx = self.begin(&action).await?;
        let deleted = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND status IN ('succeeded', 'failed', 'canceled')",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(self.failed(&action))?;
        if deleted.rows_affected() == 0 {
            return Err(self.refusal(&mut tx, job_id, "deleted").await);
        }
        sqlx::query("DELETE FROM job_logs WHERE job_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        self.commit(tx, &action).await
    }

    async fn prune_jobs(&self, finished_before: Timestamp) -> Result<u64> {
        let action = "prune finished jobs";
        let mut pruned = 0;
        loop {
            // Each batch is its own statement and transaction.
            let batch: i64 = sqlx::query_scalar(PRUNE_JOBS)
                .bind(finished_before.millis())
                .bind(PRUNE_BATCH)
                .fetch_one(&self.pool)
                .await
                .map_err(self.failed(action))?;
            pruned += u64::try_from(batch).unwrap_or(0);
            if batch < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    async fn job(&self, job_id: JobId) -> Result<Option<Job>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(job_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.failed(&format!("read job {job_id}")))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<Job>> {
        let limit = page.limit()?;
        let after = parse_cursor(page.cursor.as_deref())?;
        let mut query =
            QueryBuilder::<Postgres>::new(concat!("SELECT seq, ", job_columns!(), " FROM jobs"));
        let mut conditions = Conditions::new();
        if let Some(client_id) = &filter.client_id {
            conditions
                .next(&mut query)
                .push("client_id = ")
                .push_bind(client_id.as_str());
        }
        if let Some(campaign_id) = &filter.campaign_id {
            conditions
                .next(&mut query)
                .push("campaign_id = ")
                .push_bind(campaign_id.as_str());
        }
        if let Some(status) = filter.status {
            conditions
                .next(&mut query)
                .push("status = ")
                .push_bind(status.as_str());
        }
        if let Some(kind) = filter.kind {
            conditions
                .next(&mut query)
                .push("kind = ")
                .push_bind(kind.as_str());
        }
        if let Some(seq) = after {
            conditions.next(&mut query).push("seq < ").push_bind(seq);
        }
        query
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list jobs"))?;
        Ok(into_page(sequenced(&rows, job_from_row)?, limit))
    }

    async fn job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        self.compute_job_stats(client_id).await
    }

    async fn recover_expired(&self, now: Timestamp) -> Result<Vec<Job>> {
        let action = "recover jobs whose lease expired";
        let mut tx = self.begin(action).await?;
        let mut rows = Vec::new();
        for statement in [REQUEUE_EXPIRED, FAIL_EXPIRED] {
            let changed = sqlx::query(statement)
                .bind(now.millis())
                .fetch_all(&mut *tx)
                .await
                .map_err(self.failed(action))?;
            rows.extend(changed);
        }
        let jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        if jobs.iter().any(|job| !job.status.is_terminal()) {
            notify_queue(&mut tx).await?;
        }
        self.commit(tx, action).await?;
        Ok(jobs)
    }

    async fn find_reusable(
        &self,
        client_id: &ClientId,
        generation_digest: &str,
    ) -> Result<Option<Job>> {
        let row = sqlx::query(FIND_REUSABLE)
            .bind(client_id.as_str())
            .bind(generation_digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("look for a reusable job"))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn queue_wakeups(&self) -> Result<Option<BoxStream<'static, ()>>> {
        self.listen_for_wakeups().await.map(Some)
    }
}

/// Records a `reuse` use of each reused asset by the job's client, the
/// saving split over them so that the parts add up exactly. An asset
/// deleted meanwhile gets no row (the `SELECT … FROM assets` finds nothing).
/// Claims the next due job (see `CLAIM_JOB`).
async fn claim_job(
    executor: impl sqlx::PgExecutor<'_>,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> std::result::Result<Result<Option<ClaimedJob>>, sqlx::Error> {
    let row = sqlx::query(CLAIM_JOB)
        .bind(worker)
        .bind(lease_until.millis())
        .bind(now.millis())
        .fetch_optional(executor)
        .await?;
    Ok(row.as_ref().map(claimed_from_row).transpose())
}

async fn insert_reuses(conn: &mut PgConnection, job: &Job, completion: &Completion) -> Result<()> {
    let count = i64::try_from(completion.reused_assets.len()).unwrap_or(i64::MAX);
    let saved = completion.saved_micros.micros();
    for (index, asset_id) in completion.reused_assets.iter().enumerate() {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let share = saved / count + i64::from(index < saved % count);
        sqlx::query(
            "INSERT INTO usage (asset_id, client_id, campaign_id, kind, job_id, saved_micros, at) \
             SELECT id, $1, $2, 'reuse', $3, $4, $5 FROM assets WHERE id = $6",
        )
        .bind(job.request.client_id.as_str())
        .bind(job.request.campaign_id.as_deref())
        .bind(job.id.to_string())
        .bind(share)
        .bind(completion.at.millis())
        .bind(asset_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::storage(format!("cannot record the reuse of asset {asset_id}"), e))?;
    }
    Ok(())
}

impl PostgresStore {
    /// Whether a call slot of `provider` is free for job `id`, counted under
    /// the provider's advisory lock (held until the transaction ends), so two
    /// processes cannot both take the last slot.
    /// Records an attempt in the caller's transaction (see
    /// [`JobStore::start_attempt`]); the caller commits what it records.
    async fn record_attempt(
        &self,
        conn: &mut PgConnection,
        id: &str,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Recorded> {
        let action = format!("start an attempt of job {id}");
        if let Some(limit) = attempt.max_in_flight
            && !self.slot_free(conn, id, &attempt.provider, limit).await?
        {
            return Ok(Recorded::ProviderFull);
        }
        let held: Option<(String, Option<String>)> = sqlx::query_as(START_ATTEMPT)
            .bind(&attempt.provider)
            .bind(&attempt.model)
            .bind(attempt.estimate.micros())
            .bind(attempt.reserve.micros())
            .bind(id)
            .bind(worker)
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.failed(&action))?;
        let Some((client_id, campaign_id)) = held else {
            return Ok(Recorded::Lost);
        };
        let reserver = Reserver {
            job_id: id,
            client_id: &client_id,
            campaign_id: campaign_id.as_deref(),
        };
        if attempt.reserve.micros() > 0 {
            lock_client_budgets(conn, &client_id).await?;
        }
        match check_budgets(conn, &reserver, attempt.reserve, attempt.now).await {
            Ok(()) => Ok(Recorded::Started),
            // The refused attempt keeps its provider and model and holds no
            // reservation and no call slot.
            Err(refused @ Error::BudgetExceeded(_)) => {
                sqlx::query(
                    "UPDATE jobs SET reserved_micros = 0, in_flight_provider = NULL WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(self.failed(&action))?;
                Ok(Recorded::Refused(refused))
            }
            Err(other) => Err(other),
        }
    }

    /// Starts the attempt `planner` plans for a job just claimed, in the
    /// claiming transaction (as on SQLite: only a start that took is handed
    /// on; a full provider recorded nothing, and a refused budget is found
    /// again by the worker's own start).
    async fn start_planned(
        &self,
        conn: &mut PgConnection,
        worker: &str,
        claimed: Option<ClaimedJob>,
        planner: Option<&dyn AttemptPlanner>,
    ) -> Result<Option<ClaimedJob>> {
        let Some(mut claimed) = claimed else {
            return Ok(None);
        };
        let Some(attempt) = planner.and_then(|planner| planner.plan(&claimed)) else {
            return Ok(Some(claimed));
        };
        let id = claimed.job.id.to_string();
        if let Recorded::Started = self.record_attempt(conn, &id, worker, &attempt).await? {
            claimed.started = Some(attempt);
        }
        Ok(Some(claimed))
    }

    async fn slot_free(
        &self,
        conn: &mut PgConnection,
        id: &str,
        provider: &str,
        limit: u32,
    ) -> Result<bool> {
        let action = format!("count the calls in flight of {provider}");
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('gaia.provider:' || $1))")
            .bind(provider)
            .execute(&mut *conn)
            .await
            .map_err(self.failed(&action))?;
        let busy: i64 = sqlx::query_scalar(SLOTS_TAKEN)
            .bind(provider)
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(self.failed(&action))?;
        Ok(busy < i64::from(limit))
    }

    /// Inserts one job of a batch, or returns the job that already holds its
    /// idempotency key (committed by this batch or by another transaction).
    async fn insert_job(&self, conn: &mut PgConnection, new: NewJob) -> Result<Inserted> {
        let request = &new.job.request;
        if let Some(key) = &request.idempotency_key
            && let Some(existing) = self.job_with_key(conn, &request.client_id, key).await?
        {
            return same_request(existing, &new, key);
        }
        let job = &new.job;
        let written = sqlx::query(INSERT_JOB)
            .bind(job.id.to_string())
            .bind(request.client_id.as_str())
            .bind(request.campaign_id.as_deref())
            .bind(request.spec.kind().as_str())
            .bind(job.status.as_str())
            .bind(request.priority)
            // Due from its submission; backoff moves it later.
            .bind(job.created_at.millis())
            .bind(to_integer(job.progress.value().into(), "progress")?)
            .bind(to_integer(job.attempts, "attempts")?)
            .bind(to_integer(job.max_attempts, "max_attempts")?)
            .bind(to_json(request, "the request")?)
            .bind(&new.request_digest)
            .bind(&new.generation_digest)
            .bind(request.idempotency_key.as_deref())
            .bind(job.provider.as_deref())
            .bind(job.model.as_deref())
            .bind(to_json(&job.asset_ids, "asset ids")?)
            .bind(job.estimated_cost_micros.map(|m| m.micros()))
            .bind(job.cost_micros.micros())
            .bind(
                job.error
                    .as_ref()
                    .map(|e| to_json(e, "the job error"))
                    .transpose()?,
            )
            .bind(job.reused_from.map(|id| id.to_string()))
            .bind(job.created_at.millis())
            .bind(job.started_at.map(Timestamp::millis))
            .bind(job.finished_at.map(Timestamp::millis))
            .execute(&mut *conn)
            .await
            .map_err(self.failed(&format!("insert job {}", job.id)))?;
        if written.rows_affected() == 0
            && let Some(key) = &request.idempotency_key
        {
            // Another transaction committed the key between the lookup and
            // the insert; read committed shows its job now.
            let existing = self.job_with_key(conn, &request.client_id, key).await?;
            let existing = existing.ok_or_else(|| {
                Error::Internal(format!(
                    "idempotency key {key:?} conflicted but is not stored"
                ))
            })?;
            return same_request(existing, &new, key);
        }
        Ok(Inserted {
            job: new.job,
            existing: false,
        })
    }

    /// The job of `client` holding `key`, with its request digest.
    async fn job_with_key(
        &self,
        conn: &mut PgConnection,
        client_id: &ClientId,
        key: &str,
    ) -> Result<Option<(Job, String)>> {
        let row = sqlx::query(concat!(
            "SELECT request_digest, ",
            job_columns!(),
            " FROM jobs WHERE client_id = $1 AND idempotency_key = $2"
        ))
        .bind(client_id.as_str())
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(self.failed("look up an idempotency key"))?;
        row.map(|row| {
            let digest: String = get(&row, "request_digest")?;
            Ok((job_from_row(&row)?, digest))
        })
        .transpose()
    }

    /// Why a job could not be canceled, retried or deleted: it does not exist,
    /// or its status does not allow it.
    async fn refusal(&self, conn: &mut PgConnection, job_id: JobId, verb: &str) -> Error {
        let status: std::result::Result<Option<String>, _> =
            sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
                .bind(job_id.to_string())
                .fetch_optional(&mut *conn)
                .await;
        match status {
            Err(e) => Error::storage(format!("cannot read job {job_id} in {}", self.location), e),
            Ok(None) => Error::NotFound {
                what: "job",
                id: job_id.to_string(),
            },
            Ok(Some(status)) => {
                Error::Conflict(format!("job {job_id} is {status} and cannot be {verb}"))
            }
        }
    }
}

/// The earlier job for a reused idempotency key, when the request is the same.
/// What recording an attempt did, in a transaction still to commit.
enum Recorded {
    Started,
    /// No call slot free: nothing recorded.
    ProviderFull,
    /// The job is no longer the worker's: nothing recorded.
    Lost,
    /// Over a budget: provider and model recorded, nothing reserved.
    Refused(Error),
}

fn same_request(existing: (Job, String), new: &NewJob, key: &str) -> Result<Inserted> {
    let (job, digest) = existing;
    if digest == new.request_digest {
        return Ok(Inserted {
            job,
            existing: true,
        });
    }
    Err(Error::Conflict(format!(
        "idempotency key {key:?} of client {} was used by job {} with a different request",
        new.job.request.client_id, job.id
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use sqlx::Executor;

    use super::*;
    use crate::testing::ScratchSchema;

    /// The plan of `statement` with its parameters replaced by literals.
    async fn plan(conn: &mut PgConnection, statement: &str, literals: &[&str]) -> String {
        let mut sql = statement.to_owned();
        for (n, literal) in literals.iter().enumerate().rev() {
            sql = sql.replace(&format!("${}", n + 1), literal);
        }
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
            .fetch_all(conn)
            .await
            .unwrap();
        lines.join("\n")
    }

    /// Claims, wake-ups, heartbeats, slot counts and recovery can walk a
    /// partial index (the claim index in claim order: no sort). Sequential scans are
    /// disabled because an empty table would rightly be scanned.
    #[tokio::test]
    async fn queue_statements_fit_their_partial_indexes() {
        let Some(schema) = ScratchSchema::create().await else {
            return;
        };
        let store = PostgresStore::open(&schema.url()).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        conn.execute("SET enable_seqscan = off").await.unwrap();
        for (statement, literals, index) in [
            (CLAIM_JOB, &["'w'", "1", "1"][..], "jobs_claim_order"),
            (NEXT_DUE, &[][..], "jobs_due"),
            (SLOTS_TAKEN, &["'p'", "'j'"][..], "jobs_in_flight"),
            // Heartbeats and recovery read running jobs only: on an empty
            // table the planner may walk either `status = 'running'` index.
            (
                HEARTBEAT,
                &["1", "ARRAY['w/1']"][..],
                "jobs_worker|jobs_lease",
            ),
            (REQUEUE_EXPIRED, &["1"][..], "jobs_lease|jobs_worker"),
            (FAIL_EXPIRED, &["1"][..], "jobs_lease|jobs_worker"),
        ] {
            let plan = plan(&mut conn, statement, literals).await;
            let fits = index.split('|').any(|index| plan.contains(index));
            assert!(fits, "{index}:\n{plan}");
            assert!(!plan.contains("Seq Scan on jobs"), "{plan}");
            assert!(!plan.contains("Sort"), "{plan}");
        }
    }
}
