//! The queue and the job records.
//!
//! Every call that changes a running job carries the guard
//! `status = 'running' AND worker = ?` in the statement that changes it, so a
//! worker that lost its job (canceled, or recovered by another worker)
//! changes nothing and gets `None`.

use std::sync::Arc;

use async_trait::async_trait;
use gaia_core::{
    AttemptPlanner, AttemptStart, AttemptStarted, ClaimedJob, ClientId, Completion, CostEntry,
    Error, ErrorCode, Inserted, Job, JobError, JobFilter, JobId, JobStats, JobStore, LogLine,
    NewJob, Page, PageRequest, Progress, Result, Retry, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::assets::insert_asset;
use super::budget::{Reserver, check_budgets};
use super::ledger::{charged, insert_cost, insert_optional_cost};
use super::rows::{
    claimed_from_row, claimed_job_columns, get, job_columns, job_from_row, log_from_row, to_json,
};
use super::{Query, Sql, SqliteStore, all_rows, first_row, optional_scalar, parse_cursor, scalar};

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

const CHARGE_CANCELED: &str =
    "UPDATE jobs SET cost_micros = cost_micros + ? WHERE id = ? AND status = 'canceled'";

const RETRY_JOB: &str = concat!(
    "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, progress = 0, ",
    "candidate_index = 0, candidate_failures = 0, checkpoint = NULL, ",
    "checkpoint_charged_micros = 0, finished_at = NULL, ",
    "run_after = ?1, worker = NULL, lease_until = NULL, reserved_micros = 0 ",
    "WHERE id = ?2 AND status IN ('failed', 'canceled') RETURNING ",
    job_columns!()
);

/// Renews the leases of the claims listed (a JSON array of worker ids).
const HEARTBEAT: &str = "UPDATE jobs INDEXED BY jobs_by_status SET lease_until = ?1 \
     WHERE status = 'running' AND worker IN (SELECT value FROM json_each(?2)) RETURNING worker";

const IS_HELD: &str = "SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND worker = ?";

/// The provider's call slots held by running jobs other than this one.
const BUSY_SLOTS: &str = "SELECT COUNT(*) FROM jobs INDEXED BY jobs_by_status \
     WHERE status = 'running' AND in_flight_provider = ? AND id <> ?";

const REQUEUE_EXPIRED: &str = concat!(
    "UPDATE jobs INDEXED BY jobs_by_status SET status = 'queued', run_after = ?1, ",
    "reserved_micros = 0, worker = NULL, lease_until = NULL ",
    "WHERE status = 'running' AND lease_until < ?1 AND attempts < max_attempts RETURNING ",
    job_columns!()
);

const FAIL_EXPIRED: &str = concat!(
    "UPDATE jobs INDEXED BY jobs_by_status SET status = 'failed', reserved_micros = 0, ",
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
    async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Inserted>> {
        // A batch commits whole or not at all.
        self.write_rows("insert jobs", jobs.len(), move |connection| {
            jobs.into_iter()
                .map(|new| insert_job(connection, new))
                .collect()
        })
        .await
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedJob>> {
        let worker = worker.to_owned();
        self.write_now("claim a job", move |connection| {
            claim_job(connection, &worker, now, lease_until)
        })
        .await
    }

    async fn insert_jobs_and_claim(
        &self,
        jobs: Vec<NewJob>,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        planner: Option<Arc<dyn AttemptPlanner>>,
    ) -> Result<(Vec<Inserted>, Option<ClaimedJob>)> {
        let worker = worker.to_owned();
        let action = "insert jobs and claim one";
        self.write_rows(action, jobs.len(), move |connection| {
            let inserted = jobs
                .into_iter()
                .map(|new| insert_job(connection, new))
                .collect::<Sql<Vec<_>>>()?;
            let claimed = claim_job(connection, &worker, now, lease_until)?;
            let claimed = start_planned(connection, &worker, claimed, planner.as_deref())?;
            Ok((inserted, claimed))
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = self
            .read_now("find the next due job", |connection| {
                scalar(connection, NEXT_DUE, [])
            })
            .await?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn heartbeat(&self, workers: &[String], lease_until: Timestamp) -> Result<Vec<String>> {
        if workers.is_empty() {
            return Ok(Vec::new());
        }
        let workers = to_json(workers, "worker ids")?;
        self.write("renew leases", move |connection| {
            all_rows(
                connection,
                HEARTBEAT,
                params![lease_until.millis(), workers],
                |row| get(row, "worker"),
            )
        })
        .await
    }

    async fn is_held(&self, job_id: JobId, worker: &str) -> Result<bool> {
        let params = (job_id.to_string(), worker.to_owned());
        self.read_now("check a job's lease", move |connection| {
            optional_scalar::<i64>(connection, IS_HELD, params).map(|held| held.is_some())
        })
        .await
    }

    async fn start_attempt(
        &self,
        job_id: JobId,
        worker: &str,
        attempt: &AttemptStart,
    ) -> Result<Option<AttemptStarted>> {
        let (worker, attempt) = (worker.to_owned(), attempt.clone());
        self.write_now(
            &format!("start an attempt of job {job_id}"),
            move |connection| start_attempt(connection, &job_id.to_string(), &worker, &attempt),
        )
        .await?
    }

    async fn set_progress(&self, job_id: JobId, progress: Progress) -> Result<()> {
        self.write_now(
            &format!("save the progress of job {job_id}"),
            move |connection| {
                connection
                    .prepare_cached(
                        "UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'",
                    )?
                    .execute(params![i64::from(progress.value()), job_id.to_string()])?;
                Ok(())
            },
        )
        .await
    }

    async fn append_logs(&self, job_id: JobId, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let inserts: Vec<Query> = lines
            .chunks(LOG_LINES_PER_INSERT)
            .map(|chunk| log_insert(job_id, chunk))
            .collect();
        self.write_now(
            &format!("append log lines of job {job_id}"),
            move |connection| {
                for insert in &inserts {
                    insert.execute(connection)?;
                }
                Ok(())
            },
        )
        .await
    }

    async fn job_logs(&self, job_id: JobId) -> Result<Vec<LogLine>> {
        self.read(
            &format!("read the log of job {job_id}"),
            move |connection| {
                all_rows(
                    connection,
                    "SELECT at, level, message FROM job_logs WHERE job_id = ? ORDER BY seq",
                    [job_id.to_string()],
                    log_from_row,
                )
            },
        )
        .await
    }

    async fn save_checkpoint(
        &self,
        job_id: JobId,
        worker: &str,
        checkpoint: &str,
    ) -> Result<Option<()>> {
        let (worker, checkpoint) = (worker.to_owned(), checkpoint.to_owned());
        self.write_now(
            &format!("save the checkpoint of job {job_id}"),
            move |connection| {
                let saved = connection
                    .prepare_cached(
                        "UPDATE jobs SET checkpoint = ?1, checkpoint_charged_micros = \
                         CASE WHEN checkpoint IS ?1 THEN checkpoint_charged_micros ELSE 0 END \
                         WHERE id = ?2 AND status = 'running' AND worker = ?3",
                    )?
                    .execute(params![checkpoint, job_id.to_string(), worker])?;
                Ok((saved > 0).then_some(()))
            },
        )
        .await
    }

    async fn complete_job(&self, worker: &str, completion: Completion) -> Result<Option<Job>> {
        let worker = worker.to_owned();
        self.write_now(
            &format!("complete job {}", completion.job_id),
            move |connection| complete_job(connection, &worker, &completion),
        )
        .await
    }

    async fn complete_job_and_claim(
        &self,
        worker: &str,
        completion: Completion,
        next_worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        planner: Option<Arc<dyn AttemptPlanner>>,
    ) -> Result<(Option<Job>, Option<ClaimedJob>)> {
        let (worker, next) = (worker.to_owned(), next_worker.to_owned());
        self.write_now(
            &format!("complete job {} and claim the next", completion.job_id),
            move |connection| {
                let completed = complete_job(connection, &worker, &completion)?;
                let claimed = claim_job(connection, &next, now, lease_until)?;
                let claimed = start_planned(connection, &next, claimed, planner.as_deref())?;
                Ok((completed, claimed))
            },
        )
        .await
    }

    async fn retry_later(&self, worker: &str, retry: Retry) -> Result<Option<()>> {
        let worker = worker.to_owned();
        self.write_now(
            &format!("requeue job {}", retry.job_id),
            move |connection| {
                let requeued = connection
                    .prepare_cached(
                        "UPDATE jobs SET status = 'queued', run_after = ?, candidate_index = ?, \
                         candidate_failures = ?, error = ?, cost_micros = cost_micros + ?, \
                         checkpoint_charged_micros = ?, reserved_micros = 0, progress = 0, \
                         worker = NULL, lease_until = NULL \
                         WHERE id = ? AND status = 'running' AND worker = ?",
                    )?
                    .execute(params![
                        retry.run_after.millis(),
                        i64::from(retry.candidate_index),
                        i64::from(retry.candidate_failures),
                        to_json(&retry.error, "the job error")?,
                        charged(retry.cost.as_ref()),
                        retry.checkpoint_charged.micros(),
                        retry.job_id.to_string(),
                        worker,
                    ])?;
                if requeued == 0 {
                    return Ok(None);
                }
                insert_optional_cost(connection, retry.cost.as_ref())?;
                Ok(Some(()))
            },
        )
        .await
    }

    async fn release_job(
        &self,
        job_id: JobId,
        worker: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        let worker = worker.to_owned();
        self.write_now(&format!("release job {job_id}"), move |connection| {
            // The attempt never reached the provider, so it is not counted.
            let released = connection
                .prepare_cached(
                    "UPDATE jobs SET status = 'queued', run_after = ?, \
                     attempts = MAX(attempts - 1, 0), reserved_micros = 0, worker = NULL, \
                     lease_until = NULL WHERE id = ? AND status = 'running' AND worker = ?",
                )?
                .execute(params![run_after.millis(), job_id.to_string(), worker])?;
            Ok((released > 0).then_some(()))
        })
        .await
    }

    async fn defer_job(
        &self,
        job_id: JobId,
        worker: &str,
        provider: &str,
        run_after: Timestamp,
    ) -> Result<Option<()>> {
        let (worker, provider) = (worker.to_owned(), provider.to_owned());
        self.write_now(&format!("defer job {job_id}"), move |connection| {
            // Like a release; the slot trigger of migration 0003 makes the
            // job due as soon as a call of `provider` ends.
            let deferred = connection
                .prepare_cached(
                    "UPDATE jobs SET status = 'queued', run_after = ?, waiting_on = ?, \
                     attempts = MAX(attempts - 1, 0), reserved_micros = 0, worker = NULL, \
                     lease_until = NULL WHERE id = ? AND status = 'running' AND worker = ?",
                )?
                .execute(params![
                    run_after.millis(),
                    provider,
                    job_id.to_string(),
                    worker
                ])?;
            Ok((deferred > 0).then_some(()))
        })
        .await
    }

    async fn fail_job(
        &self,
        worker: &str,
        job_id: JobId,
        error: JobError,
        cost: Option<CostEntry>,
        at: Timestamp,
    ) -> Result<Option<Job>> {
        let worker = worker.to_owned();
        self.write_now(&format!("fail job {job_id}"), move |connection| {
            let failed = first_row(
                connection,
                FAIL_JOB,
                params![
                    to_json(&error, "the job error")?,
                    charged(cost.as_ref()),
                    at.millis(),
                    job_id.to_string(),
                    worker,
                ],
                job_from_row,
            )?;
            if failed.is_some() {
                insert_optional_cost(connection, cost.as_ref())?;
            }
            Ok(failed)
        })
        .await
    }

    async fn charge_canceled(&self, cost: &CostEntry) -> Result<bool> {
        let cost = cost.clone();
        self.write_now(
            &format!("charge canceled job {}", cost.job_id),
            move |connection| {
                let charged = connection
                    .prepare_cached(CHARGE_CANCELED)?
                    .execute(params![cost.cost_micros.micros(), cost.job_id.to_string()])?;
                if charged > 0 {
                    insert_cost(connection, &cost)?;
                }
                Ok(charged > 0)
            },
        )
        .await
    }

    async fn cancel_job(&self, job_id: JobId, at: Timestamp) -> Result<Job> {
        let canceled = JobError {
            code: ErrorCode::Canceled,
            message: "canceled by request".to_owned(),
            retryable: false,
        };
        self.write_now(&format!("cancel job {job_id}"), move |connection| {
            let job = first_row(
                connection,
                CANCEL_JOB,
                params![
                    to_json(&canceled, "the job error")?,
                    at.millis(),
                    job_id.to_string()
                ],
                job_from_row,
            )?;
            job.map_or_else(|| refusal(connection, job_id, "canceled"), Ok)
        })
        .await
    }

    async fn retry_job(&self, job_id: JobId, now: Timestamp) -> Result<Job> {
        self.write_now(&format!("retry job {job_id}"), move |connection| {
            let job = first_row(
                connection,
                RETRY_JOB,
                params![now.millis(), job_id.to_string()],
                job_from_row,
            )?;
            job.map_or_else(|| refusal(connection, job_id, "retried"), Ok)
        })
        .await
    }

    async fn delete_job(&self, job_id: JobId) -> Result<()> {
        self.write(&format!("delete job {job_id}"), move |connection| {
            let id = job_id.to_string();
            let deleted = connection
                .prepare_cached(
                    "DELETE FROM jobs WHERE id = ? \
                     AND status IN ('succeeded', 'failed', 'canceled')",
                )?
                .execute([&id])?;
            if deleted == 0 {
                return refusal(connection, job_id, "deleted");
            }
            connection
                .prepare_cached("DELETE FROM job_logs WHERE job_id = ?")?
                .execute([&id])?;
            Ok(())
        })
        .await
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
        let cut = finished_before.millis();
        let mut pruned = 0;
        loop {
            // One short write transaction per batch: workers claiming and
            // completing jobs never wait long behind a prune.
            let batch = self
                .write("prune finished jobs", move |connection| {
                    connection
                        .prepare_cached(PRUNE_LOGS)?
                        .execute(params![cut, BATCH])?;
                    Ok(connection
                        .prepare_cached(PRUNE_JOBS)?
                        .execute(params![cut, BATCH])?)
                })
                .await?;
            pruned += batch as u64;
            if batch < BATCH as usize {
                return Ok(pruned);
            }
        }
    }

    async fn job(&self, job_id: JobId) -> Result<Option<Job>> {
        self.read_now(&format!("read job {job_id}"), move |connection| {
            first_row(
                connection,
                concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = ?"),
                [job_id.to_string()],
                job_from_row,
            )
        })
        .await
    }

    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<Job>> {
        let limit = page.limit()?;
        let after = parse_cursor(page.cursor.as_deref())?;
        let mut query = Query::new(concat!("SELECT seq, ", job_columns!(), " FROM jobs"));
        if let Some(client_id) = &filter.client_id {
            query.filter("client_id = ?", client_id.to_string());
        }
        if let Some(campaign_id) = &filter.campaign_id {
            query.filter("campaign_id = ?", campaign_id.clone());
        }
        if let Some(status) = filter.status {
            query.filter("status = ?", status.as_str().to_owned());
        }
        if let Some(kind) = filter.kind {
            query.filter("kind = ?", kind.as_str().to_owned());
        }
        if let Some(seq) = after {
            query.filter("seq < ?", seq);
        }
        self.list("list jobs", query, limit, job_from_row).await
    }

    async fn job_stats(&self, client_id: Option<&ClientId>) -> Result<JobStats> {
        self.compute_job_stats(client_id).await
    }

    async fn recover_expired(&self, now: Timestamp) -> Result<Vec<Job>> {
        self.write("recover jobs whose lease expired", move |connection| {
            let mut jobs = all_rows(connection, REQUEUE_EXPIRED, [now.millis()], job_from_row)?;
            jobs.extend(all_rows(
                connection,
                FAIL_EXPIRED,
                [now.millis()],
                job_from_row,
            )?);
            Ok(jobs)
        })
        .await
    }

    async fn find_reusable(
        &self,
        client_id: &ClientId,
        generation_digest: &str,
    ) -> Result<Option<Job>> {
        let params = (client_id.to_string(), generation_digest.to_owned());
        self.read("look for a reusable job", move |connection| {
            first_row(connection, FIND_REUSABLE, params, job_from_row)
        })
        .await
    }
}

fn claim_job(
    connection: &Connection,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> Sql<Option<ClaimedJob>> {
    first_row(
        connection,
        CLAIM_JOB,
        params![worker, lease_until.millis(), now.millis()],
        claimed_from_row,
    )
}

/// Starts the attempt `planner` plans for a job just claimed, in the
/// claiming transaction. Only a start that took is handed on
/// ([`ClaimedJob::started`]): a full provider recorded nothing, and a refused
/// budget is found again (and reported) by the worker's own start.
fn start_planned(
    connection: &Connection,
    worker: &str,
    claimed: Option<ClaimedJob>,
    planner: Option<&dyn AttemptPlanner>,
) -> Sql<Option<ClaimedJob>> {
    let Some(mut claimed) = claimed else {
        return Ok(None);
    };
    let Some(attempt) = planner.and_then(|planner| planner.plan(&claimed)) else {
        return Ok(Some(claimed));
    };
    let id = claimed.job.id.to_string();
    if let Ok(Some(AttemptStarted::Started)) = start_attempt(connection, &id, worker, &attempt)? {
        claimed.started = Some(attempt);
    }
    Ok(Some(claimed))
}

/// Records an attempt: its provider and model, its budget reservation and its
/// call slot. `Ok(Err(BudgetExceeded))` is a refused attempt to commit: its
/// provider and model are recorded and it holds no reservation and no slot.
fn start_attempt(
    connection: &Connection,
    id: &str,
    worker: &str,
    attempt: &AttemptStart,
) -> Sql<Result<Option<AttemptStarted>>> {
    if let Some(limit) = attempt.max_in_flight {
        // The write transaction serializes every slot count on the database.
        let busy: i64 = scalar(connection, BUSY_SLOTS, params![attempt.provider, id])?;
        if busy >= i64::from(limit) {
            return Ok(Ok(Some(AttemptStarted::ProviderFull)));
        }
    }
    // Reserve optimistically in the statement that records the attempt; the
    // budget check below takes the reservation back when it does not fit.
    let held = first_row(
        connection,
        "UPDATE jobs SET provider = ?, model = ?, estimated_cost_micros = ?, \
         reserved_micros = ?, in_flight_provider = ? \
         WHERE id = ? AND status = 'running' AND worker = ? \
         RETURNING client_id, campaign_id",
        params![
            attempt.provider,
            attempt.model,
            attempt.estimate.micros(),
            attempt.reserve.micros(),
            attempt.provider,
            id,
            worker,
        ],
        |row| {
            Ok((
                get::<String>(row, "client_id")?,
                get::<Option<String>>(row, "campaign_id")?,
            ))
        },
    )?;
    let Some((client_id, campaign_id)) = held else {
        return Ok(Ok(None));
    };
    let reserver = Reserver {
        job_id: id,
        client_id: &client_id,
        campaign_id: campaign_id.as_deref(),
    };
    match check_budgets(connection, &reserver, attempt.reserve, attempt.now) {
        Ok(()) => Ok(Ok(Some(AttemptStarted::Started))),
        Err(super::Failure::Gaia(refused @ Error::BudgetExceeded(_))) => {
            connection
                .prepare_cached(
                    "UPDATE jobs SET reserved_micros = 0, in_flight_provider = NULL WHERE id = ?",
                )?
                .execute([id])?;
            Ok(Err(refused))
        }
        Err(other) => Err(other),
    }
}

/// Marks the job succeeded with its assets, its reuse records and its cost,
/// or changes nothing when the job is no longer this worker's.
fn complete_job(
    connection: &Connection,
    worker: &str,
    completion: &Completion,
) -> Sql<Option<Job>> {
    let job_id = completion.job_id;
    let asset_ids: Vec<_> = completion
        .assets
        .iter()
        .map(|asset| asset.id)
        .chain(completion.reused_assets.iter().copied())
        .collect();
    let job = first_row(
        connection,
        COMPLETE_JOB,
        params![
            to_json(&asset_ids, "asset ids")?,
            completion.reused_from.map(|id| id.to_string()),
            charged(completion.cost.as_ref()),
            completion.at.millis(),
            job_id.to_string(),
            worker,
            !completion.reused_assets.is_empty(),
        ],
        job_from_row,
    )?;
    let Some(job) = job else {
        return Ok(None);
    };
    for (index, asset) in completion.assets.iter().enumerate() {
        insert_asset(connection, asset, Some((job_id, index)))?;
    }
    if let Some(embeddings) = &completion.embeddings {
        super::usage::insert_embeddings(connection, embeddings)?;
    }
    insert_reuses(connection, &job, completion)?;
    insert_optional_cost(connection, completion.cost.as_ref())?;
    Ok(Some(job))
}

/// One `INSERT` of log lines.
fn log_insert(job_id: JobId, lines: &[LogLine]) -> Query {
    let id = job_id.to_string();
    let mut insert = Query::new("INSERT INTO job_logs (job_id, at, level, message) VALUES ");
    for (n, line) in lines.iter().enumerate() {
        insert.push(
            if n == 0 {
                "(?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?)"
            },
            [
                Value::from(id.clone()),
                Value::from(line.at.millis()),
                Value::from(line.level.as_str().to_owned()),
                Value::from(line.message.clone()),
            ],
        );
    }
    insert
}

/// Records a `reuse` use of each reused asset by the job's client, the
/// saving split over them so that the parts add up exactly. An asset
/// deleted meanwhile gets no row (the `SELECT … FROM assets` finds nothing).
fn insert_reuses(connection: &Connection, job: &Job, completion: &Completion) -> Sql<()> {
    let count = i64::try_from(completion.reused_assets.len()).unwrap_or(i64::MAX);
    let saved = completion.saved_micros.micros();
    let mut insert = connection.prepare_cached(
        "INSERT INTO usage (asset_id, client_id, campaign_id, kind, job_id, saved_micros, at) \
         SELECT id, ?, ?, 'reuse', ?, ?, ? FROM assets WHERE id = ?",
    )?;
    for (index, asset_id) in completion.reused_assets.iter().enumerate() {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let share = saved / count + i64::from(index < saved % count);
        insert.execute(params![
            job.request.client_id.as_str(),
            job.request.campaign_id.as_deref(),
            job.id.to_string(),
            share,
            completion.at.millis(),
            asset_id.to_string(),
        ])?;
    }
    Ok(())
}

/// Inserts one job of a batch, or returns the job that already holds its
/// idempotency key.
fn insert_job(connection: &Connection, new: NewJob) -> Sql<Inserted> {
    let request = &new.job.request;
    if let Some(key) = &request.idempotency_key
        && let Some(existing) = job_with_key(connection, &request.client_id, key)?
    {
        return Ok(same_request(existing, &new, key)?);
    }
    let job = &new.job;
    connection.prepare_cached(INSERT_JOB)?.execute(params![
        job.id.to_string(),
        request.client_id.as_str(),
        request.campaign_id.as_deref(),
        request.spec.kind().as_str(),
        job.status.as_str(),
        i64::from(request.priority),
        // Due from its submission; backoff moves it later.
        job.created_at.millis(),
        i64::from(job.progress.value()),
        i64::from(job.attempts),
        i64::from(job.max_attempts),
        to_json(request, "the request")?,
        &new.request_digest,
        &new.generation_digest,
        request.idempotency_key.as_deref(),
        job.provider.as_deref(),
        job.model.as_deref(),
        to_json(&job.asset_ids, "asset ids")?,
        job.estimated_cost_micros.map(|m| m.micros()),
        job.cost_micros.micros(),
        job.error
            .as_ref()
            .map(|e| to_json(e, "the job error"))
            .transpose()?,
        job.reused_from.map(|id| id.to_string()),
        job.created_at.millis(),
        job.started_at.map(Timestamp::millis),
        job.finished_at.map(Timestamp::millis),
    ])?;
    Ok(Inserted {
        job: new.job,
        existing: false,
    })
}

/// The job of `client` holding `key`, with its request digest.
fn job_with_key(
    connection: &Connection,
    client_id: &ClientId,
    key: &str,
) -> Sql<Option<(Job, String)>> {
    first_row(
        connection,
        concat!(
            "SELECT request_digest, ",
            job_columns!(),
            " FROM jobs WHERE client_id = ? AND idempotency_key = ?"
        ),
        params![client_id.as_str(), key],
        |row| Ok((job_from_row(row)?, get(row, "request_digest")?)),
    )
}

/// Why a job could not be canceled, retried or deleted: it does not exist,
/// or its status does not allow it.
fn refusal<T>(connection: &Connection, job_id: JobId, verb: &str) -> Sql<T> {
    let status: Option<String> = optional_scalar(
        connection,
        "SELECT status FROM jobs WHERE id = ?",
        [job_id.to_string()],
    )?;
    Err(match status {
        None => Error::NotFound {
            what: "job",
            id: job_id.to_string(),
        },
        Some(status) => Error::Conflict(format!("job {job_id} is {status} and cannot be {verb}")),
    }
    .into())
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The steps of a statement's query plan.
    async fn plan(store: &SqliteStore, statement: &str) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {statement}");
        store
            .read("explain", move |connection| {
                // The plan does not depend on the values: every parameter NULL.
                let unbound = connection.prepare(&explain)?.parameter_count();
                let nulls = std::iter::repeat_n(rusqlite::types::Null, unbound);
                all_rows(
                    connection,
                    &explain,
                    rusqlite::params_from_iter(nulls),
                    |row| get(row, "detail"),
                )
            })
            .await
            .unwrap()
    }

    /// Claims, wake-ups, recovery and the running jobs' slots and
    /// reservations read one index (walking the claim index in order is the
    /// queue), never the table or a sort.
    #[tokio::test]
    async fn queue_statements_use_their_indexes() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        for (statement, index) in [
            (CLAIM_JOB, "jobs_claim_order"),
            (NEXT_DUE, "jobs_due"),
            (REQUEUE_EXPIRED, "jobs_by_status"),
            (FAIL_EXPIRED, "jobs_by_status"),
            (HEARTBEAT, "jobs_by_status"),
            (BUSY_SLOTS, "jobs_by_status"),
            (
                super::super::budget::RESERVED_BY_OTHERS,
                "jobs_by_client_status",
            ),
            (super::super::assets::FIND_UPLOADED, "assets_by_sha256"),
        ] {
            let plan = plan(&store, statement).await;
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{index}: {plan:?}"
            );
            let table_scan = |step: &String| step == "SCAN jobs" || step == "SCAN assets";
            assert!(!plan.iter().any(table_scan), "{plan:?}");
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
    }
}
