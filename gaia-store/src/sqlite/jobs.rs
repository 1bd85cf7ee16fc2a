//! The queue and the job records.
//!
//! Every call that changes a running job carries the guard
//! `status = 'running' AND worker = ?` in the statement that changes it, so a
//! worker that lost its job (canceled, or recovered by another worker)
//! changes nothing and gets `None`.

use async_trait::async_trait;
use gaia_core::{
    AttemptStart, AttemptStarted, ClaimedJob, ClientId, Completion, CostEntry, Error, ErrorCode,
    Inserted, Job, JobError, JobFilter, JobId, JobStats, JobStore, LogLine, NewJob, Page,
    PageRequest, Progress, Result, Retry, Timestamp,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::assets::insert_asset;
use super::budget::{Reserver, check_budgets};
use super::ledger::{charged, insert_optional_cost};
use super::rows::{
    claimed_from_row, claimed_job_columns, get, job_columns, job_from_row, job_ids, log_from_row,
    to_json,
};
use super::{Conditions, SqliteStore, into_page, parse_cursor, sequenced};

/// Rows per `INSERT` of log lines (well under SQLite's bound-variable limit).
const LOG_LINES_PER_INSERT: usize = 200;

const INSERT_JOB: &str = "INSERT INTO jobs (id, client_id, campaign_id, kind, status, priority, \
     run_after, progress, attempts, max_attempts, request, request_digest, generation_digest, \
     idempotency_key, provider, model, asset_ids, estimated_cost_micros, cost_micros, error, \
     reused_from, created_at, started_at, finished_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// The queue's statements name their partial index: without statistics the
// planner would prefer the general `(status, seq)` index and sort every
// queued job, and `INDEXED BY` fails loudly if the index ever stops fitting.

/// Takes the next due job in claim order, walking `jobs_claim_order`.
const CLAIM_JOB: &str = concat!(
    "UPDATE jobs SET status = 'running', worker = ?1, lease_until = ?2, ",
    "attempts = attempts + 1, started_at = COALESCE(started_at, ?3), ",
    "in_flight_provider = NULL, waiting_on = NULL ",
    "WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_claim_order ",
    "WHERE status = 'queued' AND run_after <= ?3 ",
    "ORDER BY priority DESC, seq LIMIT 1) ",
    "RETURNING ",
    claimed_job_columns!()
);

const NEXT_DUE: &str =
    "SELECT MIN(run_after) FROM jobs INDEXED BY jobs_due WHERE status = 'queued'";

const COMPLETE_JOB: &str = concat!(
    "UPDATE jobs SET status = 'succeeded', progress = 100, asset_ids = ?1, reused_from = ?2, ",
    "error = NULL, cost_micros = cost_micros + ?3, reserved_micros = 0, finished_at = ?4, ",
    "worker = NULL, lease_until = NULL, reused = ?7 ",
    "WHERE id = ?5 AND status = 'running' AND worker = ?6 RETURNING ",
    job_columns!()
);

const FAIL_JOB: &str = concat!(
    "UPDATE jobs SET status = 'failed', error = ?1, cost_micros = cost_micros + ?2, ",
    "reserved_micros = 0, finished_at = ?3, worker = NULL, lease_until = NULL ",
    "WHERE id = ?4 AND status = 'running' AND worker = ?5 RETURNING ",
    job_columns!()
);

/// The worker keeps its id on the row so its later calls find the job no
/// longer running rather than held by someone else.
const CANCEL_JOB: &str = concat!(
    "UPDATE jobs SET status = 'canceled', error = ?1, reserved_micros = 0, finished_at = ?2, ",
    "lease_until = NULL WHERE id = ?3 AND status IN ('queued', 'running') RETURNING ",
    job_columns!()
);

const RETRY_JOB: &str = concat!(
    "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, progress = 0, ",
    "candidate_index = 0, candidate_failures = 0, checkpoint = NULL, finished_at = NULL, ",
    "run_after = ?1, worker = NULL, lease_until = NULL, reserved_micros = 0 ",
    "WHERE id = ?2 AND status IN ('failed', 'canceled') RETURNING ",
    job_columns!()
);

const REQUEUE_EXPIRED: &str = concat!(
    "UPDATE jobs INDEXED BY jobs_lease SET status = 'queued', run_after = ?1, ",
    "reserved_micros = 0, worker = NULL, lease_until = NULL ",
    "WHERE status = 'running' AND lease_until < ?1 AND attempts < max_attempts RETURNING ",
    job_columns!()
);

const FAIL_EXPIRED: &str = concat!(
    "UPDATE jobs INDEXED BY jobs_lease SET status = 'failed', reserved_micros = 0, ",
    "finished_at = ?1, worker = NULL, lease_until = NULL, ",
    "error = json_object('code', 'internal', 'message', ",
    "'worker lost the job (lease expired) on attempt ' || attempts || ' of ' || max_attempts, ",
    "'retryable', json('false')) ",
    "WHERE status = 'running' AND lease_until < ?1 AND attempts >= max_attempts RETURNING ",
    job_columns!()
);

/// The newest succeeded job whose asset list is non-empty and names only
/// assets that still exist.
const FIND_REUSABLE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE client_id = ? AND generation_digest = ? AND status = 'succeeded' ",
    "AND json_array_length(asset_ids) > 0 ",
    "AND NOT EXISTS (SELECT 1 FROM json_each(jobs.asset_ids) AS listed ",
    "WHERE NOT EXISTS (SELECT 1 FROM assets WHERE assets.id = listed.value)) ",
    "ORDER BY seq DESC LIMIT 1"
);

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert_jobs(&self, mut jobs: Vec<NewJob>) -> Result<Vec<Inserted>> {
        let lone_insert = jobs.len() == 1 && jobs[0].job.request.idempotency_key.is_none();
        if lone_insert && let Some(single) = jobs.pop() {
            // One INSERT needs no transaction around it.
            let mut conn = self
                .writer
                .acquire()
                .await
                .map_err(self.failed("insert a job"))?;
            return Ok(vec![self.insert_job(&mut conn, single).await?]);
        }
        let mut tx = self.begin_write("insert jobs").await?;
        let mut inserted = Vec::with_capacity(jobs.len());
        for new in jobs {
            // An error drops `tx`, rolling back the whole batch.
            inserted.push(self.insert_job(&mut tx, new).await?);
        }
        self.commit(tx, "insert jobs").await?;
        Ok(inserted)
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedJob>> {
        // One statement: in autocommit it takes the write lock before it
        // reads, as `BEGIN IMMEDIATE` would, without two more round trips.
        let row = sqlx::query(CLAIM_JOB)
            .bind(worker)
            .bind(lease_until.millis())
            .bind(now.millis())
            .fetch_optional(&self.writer)
            .await
            .map_err(self.failed("claim a job"))?;
        row.as_ref().map(claimed_from_row).transpose()
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(NEXT_DUE)
            .fetch_one(&self.reader)
            .await
            .map_err(self.failed("find the next due job"))?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn heartbeat(&self, worker: &str, lease_until: Timestamp) -> Result<Vec<JobId>> {
        let rows = sqlx::query(
            "UPDATE jobs SET lease_until = ? WHERE worker = ? AND status = 'running' RETURNING id",
        )
        .bind(lease_until.millis())
        .bind(worker)
        .fetch_all(&self.writer)
        .await
        .map_err(self.failed("renew leases"))?;
        job_ids(&rows)
    }

    async fn start_attempt(
        &self,
        job_id: JobId,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Option<AttemptStarted>> {
        if attempt.max_in_flight.is_none() && attempt.reserve.micros() <= 0 {
            // No slot to count and nothing to reserve: nothing to check.
            return self.record_attempt(job_id, worker, attempt).await;
        }
        let action = format!("start an attempt of job {job_id}");
        let id = job_id.to_string();
        let mut tx = self.begin_write(&action).await?;
        if let Some(limit) = attempt.max_in_flight {
            // The write transaction serializes every slot count on the database.
            let busy: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs INDEXED BY jobs_in_flight \
                 WHERE status = 'running' AND in_flight_provider = ? AND id <> ?",
            )
            .bind(&attempt.provider)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
            if busy >= i64::from(limit) {
                return Ok(Some(AttemptStarted::ProviderFull));
            }
        }
        // Reserve optimistically in the statement that records the attempt;
        // the budget check below runs in the same transaction and takes the
        // reservation back when it does not fit.
        let held: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE jobs SET provider = ?, model = ?, estimated_cost_micros = ?, \
             reserved_micros = ?, in_flight_provider = ? \
             WHERE id = ? AND status = 'running' AND worker = ? \
             RETURNING client_id, campaign_id",
        )
        .bind(&attempt.provider)
        .bind(&attempt.model)
        .bind(attempt.estimate.micros())
        .bind(attempt.reserve.micros())
        .bind(&attempt.provider)
        .bind(&id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.failed(&action))?;
        let Some((client_id, campaign_id)) = held else {
            return Ok(None);
        };
        let reserver = Reserver {
            job_id: &id,
            client_id: &client_id,
            campaign_id: campaign_id.as_deref(),
        };
        match check_budgets(&mut tx, &reserver, attempt.reserve, attempt.now).await {
            Ok(()) => {}
            // Commit the refused attempt: its provider and model are recorded
            // and it holds no reservation and no call slot.
            Err(refused @ Error::BudgetExceeded(_)) => {
                sqlx::query(
                    "UPDATE jobs SET reserved_micros = 0, in_flight_provider = NULL WHERE id = ?",
                )
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(self.failed(&action))?;
                self.commit(tx, &action).await?;
                return Err(refused);
            }
            Err(other) => return Err(other),
        }
        self.commit(tx, &action).await?;
        Ok(Some(AttemptStarted::Started))
    }

    async fn set_progress(&self, job_id: JobId, progress: Progress) -> Result<()> {
        sqlx::query("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'")
            .bind(i64::from(progress.value()))
            .bind(job_id.to_string())
            .execute(&self.writer)
            .await
            .map_err(self.failed(&format!("save the progress of job {job_id}")))?;
        Ok(())
    }

    async fn append_logs(&self, job_id: JobId, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let action = format!("append log lines of job {job_id}");
        let id = job_id.to_string();
        let mut tx = self.begin_write(&action).await?;
        for chunk in lines.chunks(LOG_LINES_PER_INSERT) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO job_logs (job_id, at, level, message) ");
            insert.push_values(chunk, |mut row, line| {
                row.push_bind(&id)
                    .push_bind(line.at.millis())
                    .push_bind(line.level.as_str())
                    .push_bind(&line.message);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(self.failed(&action))?;
        }
        self.commit(tx, &action).await
    }

    async fn job_logs(&self, job_id: JobId) -> Result<Vec<LogLine>> {
        let rows =
            sqlx::query("SELECT at, level, message FROM job_logs WHERE job_id = ? ORDER BY seq")
                .bind(job_id.to_string())
                .fetch_all(&self.reader)
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
            "UPDATE jobs SET checkpoint = ? WHERE id = ? AND status = 'running' AND worker = ?",
        )
        .bind(checkpoint)
        .bind(job_id.to_string())
        .bind(worker)
        .execute(&self.writer)
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
        let mut tx = self.begin_write(&action).await?;
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
        let job = job_from_row(&row)?;
        insert_reuses(&mut tx, &job, &completion).await?;
        insert_optional_cost(&mut tx, completion.cost.as_ref()).await?;
        self.commit(tx, &action).await?;
        Ok(Some(job))
    }

    async fn retry_later(&self, worker: &str, retry: Retry) -> Result<Option<()>> {
        let action = format!("requeue job {}", retry.job_id);
        let mut tx = self.begin_write(&action).await?;
        let requeued = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_after = ?, candidate_index = ?, \
             candidate_failures = ?, error = ?, cost_micros = cost_micros + ?, \
             reserved_micros = 0, progress = 0, worker = NULL, lease_until = NULL \
             WHERE id = ? AND status = 'running' AND worker = ?",
        )
        .bind(retry.run_after.millis())
        .bind(i64::from(retry.candidate_index))
        .bind(i64::from(retry.candidate_failures))
        .bind(to_json(&retry.error, "the job error")?)
        .bind(charged(retry.cost.as_ref()))
        .bind(retry.job_id.to_string())
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(self.failed(&action))?;
        if requeued.rows_affected() == 0 {
            return Ok(None);
        }
        insert_optional_cost(&mut tx, retry.cost.as_ref()).await?;
        self.commit(tx, &action).await?;
        Ok(Some(()))
    }

    async fn release_job(
        &self,
        job_id: JobId,
        worker: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        // The attempt never reached the provider, so it is not counted.
        let released = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_after = ?, attempts = MAX(attempts - 1, 0), \
             reserved_micros = 0, worker = NULL, lease_until = NULL \
             WHERE id = ? AND status = 'running' AND worker = ?",
        )
        .bind(run_after.millis())
        .bind(job_id.to_string())
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(self.failed(&format!("release job {job_id}")))?;
        Ok((released.rows_affected() > 0).then_some(()))
    }

    async fn defer_job(
        &self,
        job_id: JobId,
        worker: &str,
        provider: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        // Like a release; the slot trigger of migration 0003 makes the job
        // due as soon as a call of `provider` ends.
        let deferred = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_after = ?, waiting_on = ?, \
             attempts = MAX(attempts - 1, 0), reserved_micros = 0, worker = NULL, \
             lease_until = NULL WHERE id = ? AND status = 'running' AND worker = ?",
        )
        .bind(run_after.millis())
        .bind(provider)
        .bind(job_id.to_string())
        .bind(worker)
        .execute(&self.writer)
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
        let mut tx = self.begin_write(&action).await?;
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

    async fn cancel_job(&self, job_id: JobId, at: Timestamp) -> Result<Job> {
        let action = format!("cancel job {job_id}");
        let canceled = JobError {
            code: ErrorCode::Canceled,
            message: "canceled by request".to_owned(),
            retryable: false,
        };
        let mut tx = self.begin_write(&action).await?;
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
        let mut tx = self.begin_write(&action).await?;
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
        self.commit(tx, &action).await?;
        Ok(job)
    }

    async fn delete_job(&self, job_id: JobId) -> Result<()> {
        let action = format!("delete job {job_id}");
        let id = job_id.to_string();
        let mut tx = self.begin_write(&action).await?;
        let deleted = sqlx::query(
            "DELETE FROM jobs WHERE id = ? AND status IN ('succeeded', 'failed', 'canceled')",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(self.failed(&action))?;
        if deleted.rows_affected() == 0 {
            return Err(self.refusal(&mut tx, job_id, "deleted").await);
        }
        sqlx::query("DELETE FROM job_logs WHERE job_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        self.commit(tx, &action).await
    }

    async fn prune_jobs(&self, finished_before: Timestamp) -> Result<u64> {
        /// Jobs deleted per transaction.
        const BATCH: i64 = 500;
        /// The log lines of the oldest `?2` jobs that ended before `?1`.
        const PRUNE_LOGS: &str = "DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs \
             WHERE status IN ('succeeded', 'failed', 'canceled') AND finished_at < ?1 \
             ORDER BY seq LIMIT ?2)";
        /// Those jobs (the same rows: nothing else writes inside the transaction).
        const PRUNE_JOBS: &str = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
             WHERE status IN ('succeeded', 'failed', 'canceled') AND finished_at < ?1 \
             ORDER BY seq LIMIT ?2)";
        let action = "prune finished jobs";
        let cut = finished_before.millis();
        let mut pruned = 0;
        loop {
            // One short write transaction per batch: workers claiming and
            // completing jobs never wait long behind a prune.
            let mut tx = self.begin_write(action).await?;
            sqlx::query(PRUNE_LOGS)
                .bind(cut)
                .bind(BATCH)
                .execute(&mut *tx)
                .await
                .map_err(self.failed(action))?;
            let batch = sqlx::query(PRUNE_JOBS)
                .bind(cut)
                .bind(BATCH)
                .execute(&mut *tx)
                .await
                .map_err(self.failed(action))?
                .rows_affected();
            self.commit(tx, action).await?;
            pruned += batch;
            if batch < BATCH as u64 {
                return Ok(pruned);
            }
        }
    }

    async fn job(&self, job_id: JobId) -> Result<Option<Job>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(job_id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(self.failed(&format!("read job {job_id}")))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<Job>> {
        let limit = page.limit()?;
        let after = parse_cursor(page.cursor.as_deref())?;
        let mut query =
            QueryBuilder::<Sqlite>::new(concat!("SELECT seq, ", job_columns!(), " FROM jobs"));
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
            .fetch_all(&self.reader)
            .await
            .map_err(self.failed("list jobs"))?;
        Ok(into_page(sequenced(&rows, job_from_row)?, limit))
    }

    async fn job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        self.compute_job_stats(client_id).await
    }

    async fn recover_expired(&self, now: Timestamp) -> Result<Vec<Job>> {
        let action = "recover jobs whose lease expired";
        let mut tx = self.begin_write(action).await?;
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
            .fetch_optional(&self.reader)
            .await
            .map_err(self.failed("look for a reusable job"))?;
        row.as_ref().map(job_from_row).transpose()
    }
}

/// Records a `reuse` use of each reused asset by the job's client, the
/// saving split over them so that the parts add up exactly. An asset
/// deleted meanwhile gets no row (the `SELECT … FROM assets` finds nothing).
async fn insert_reuses(
    conn: &mut SqliteConnection,
    job: &Job,
    completion: &Completion,
) -> Result<()> {
    let count = i64::try_from(completion.reused_assets.len()).unwrap_or(i64::MAX);
    let saved = completion.saved_micros.micros();
    for (index, asset_id) in completion.reused_assets.iter().enumerate() {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let share = saved / count + i64::from(index < saved % count);
        sqlx::query(
            "INSERT INTO usage (asset_id, client_id, campaign_id, kind, job_id, saved_micros, at) \
             SELECT id, ?, ?, 'reuse', ?, ?, ? FROM assets WHERE id = ?",
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

impl SqliteStore {
    /// Inserts one job of a batch, or returns the job that already holds its
    /// idempotency key.
    async fn insert_job(&self, conn: &mut SqliteConnection, new: NewJob) -> Result<Inserted> {
        let request = &new.job.request;
        if let Some(key) = &request.idempotency_key
            && let Some(existing) = self.job_with_key(conn, &request.client_id, key).await?
        {
            return same_request(existing, &new, key);
        }
        let job = &new.job;
        sqlx::query(INSERT_JOB)
            .bind(job.id.to_string())
            .bind(request.client_id.as_str())
            .bind(request.campaign_id.as_deref())
            .bind(request.spec.kind().as_str())
            .bind(job.status.as_str())
            .bind(i64::from(request.priority))
            // Due from its submission; backoff moves it later.
            .bind(job.created_at.millis())
            .bind(i64::from(job.progress.value()))
            .bind(i64::from(job.attempts))
            .bind(i64::from(job.max_attempts))
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
        Ok(Inserted {
            job: new.job,
            existing: false,
        })
    }

    /// The job of `client` holding `key`, with its request digest.
    async fn job_with_key(
        &self,
        conn: &mut SqliteConnection,
        client_id: &ClientId,
        key: &str,
    ) -> Result<Option<(Job, String)>> {
        let row = sqlx::query(concat!(
            "SELECT request_digest, ",
            job_columns!(),
            " FROM jobs WHERE client_id = ? AND idempotency_key = ?"
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
    async fn refusal(&self, conn: &mut SqliteConnection, job_id: JobId, verb: &str) -> Error {
        let status: std::result::Result<Option<String>, _> =
            sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
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

impl SqliteStore {
    /// Records an attempt that reserves nothing and has no slot limit, in
    /// one statement.
    async fn record_attempt(
        &self,
        job_id: JobId,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Option<AttemptStarted>> {
        let recorded = sqlx::query(
            "UPDATE jobs SET provider = ?, model = ?, estimated_cost_micros = ?, \
             reserved_micros = 0, in_flight_provider = ? \
             WHERE id = ? AND status = 'running' AND worker = ?",
        )
        .bind(&attempt.provider)
        .bind(&attempt.model)
        .bind(attempt.estimate.micros())
        .bind(&attempt.provider)
        .bind(job_id.to_string())
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(self.failed(&format!("start an attempt of job {job_id}")))?;
        Ok((recorded.rows_affected() > 0).then_some(AttemptStarted::Started))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The steps of a statement's query plan.
    async fn plan(store: &SqliteStore, statement: &str) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                .fetch_all(&store.reader)
                .await
                .unwrap();
        rows.into_iter().map(|(_, _, _, detail)| detail).collect()
    }

    /// Claims, wake-ups and recovery read one partial index (walking the
    /// claim index in order is the queue), never the table or a sort.
    #[tokio::test]
    async fn queue_statements_use_their_partial_indexes() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let heartbeat = "UPDATE jobs SET lease_until = 1 WHERE worker = 'w' AND status = 'running'";
        for (statement, index) in [
            (CLAIM_JOB, "jobs_claim_order"),
            (NEXT_DUE, "jobs_due"),
            (REQUEUE_EXPIRED, "jobs_lease"),
            (FAIL_EXPIRED, "jobs_lease"),
            (heartbeat, "jobs_worker"),
        ] {
            let plan = plan(&store, statement).await;
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{index}: {plan:?}"
            );
            assert!(!plan.iter().any(|step| step == "SCAN jobs"), "{plan:?}");
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
    }
}
