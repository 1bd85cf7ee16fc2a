//! Rows to domain types and back: the column lists the queries select and the
//! decoding of each column (JSONB read as text, BIGINT times and money,
//! INTEGER counters).

use gaia_core::{
    Asset, AssetId, Budget, BudgetPeriod, ClaimedJob, ClientId, Error, Job, JobId, JobStatus,
    LogLevel, LogLine, Money, Progress, Result, Timestamp,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};

/// The columns [`job_from_row`] reads, for `SELECT` and `RETURNING`.
macro_rules! job_columns {
    () => {
        "id, status, progress, attempts, max_attempts, request::text AS request, provider, \
         model, asset_ids::text AS asset_ids, estimated_cost_micros, cost_micros, \
         error::text AS error, reused, reused_from, created_at, started_at, finished_at"
    };
}

/// The columns [`claimed_from_row`] reads.
macro_rules! claimed_job_columns {
    () => {
        concat!(
            job_columns!(),
            ", worker, checkpoint, checkpoint_charged_micros, candidate_index, candidate_failures"
        )
    };
}

/// The columns [`asset_from_row`] reads, qualified by a table name or alias.
macro_rules! asset_columns_of {
    ($table:literal) => {
        concat!(
            $table,
            ".id, ",
            $table,
            ".client_id, ",
            $table,
            ".campaign_id, ",
            $table,
            ".name, ",
            $table,
            ".mime, ",
            $table,
            ".size_bytes, ",
            $table,
            ".sha256, ",
            $table,
            ".source::text AS source, ",
            $table,
            ".cost_micros, ",
            $table,
            ".tags::text AS tags, ",
            $table,
            ".metadata::text AS metadata, ",
            $table,
            ".media::text AS media, ",
            $table,
            ".created_at"
        )
    };
}

/// The columns [`asset_from_row`] reads from `assets`.
macro_rules! asset_columns {
    () => {
        asset_columns_of!("assets")
    };
}

pub(super) use {asset_columns, asset_columns_of, claimed_job_columns, job_columns};

/// A column holding something this version cannot read (a bug or a newer writer).
#[derive(Debug, thiserror::Error)]
#[error("column {column}: {problem}")]
struct CorruptColumn {
    column: String,
    problem: String,
}

fn corrupt(column: &str, problem: impl Into<String>) -> Error {
    Error::storage(
        format!("cannot read column {column}"),
        CorruptColumn {
            column: column.to_owned(),
            problem: problem.into(),
        },
    )
}

/// A job from the columns of `job_columns!()`.
pub(super) fn job_from_row(row: &PgRow) -> Result<Job> {
    Ok(Job {
        id: job_id(row, "id")?,
        status: status(row)?,
        progress: progress(row)?,
        attempts: int4(row, "attempts")?,
        max_attempts: int4(row, "max_attempts")?,
        request: json(row, "request")?,
        provider: get(row, "provider")?,
        model: get(row, "model")?,
        asset_ids: json(row, "asset_ids")?,
        estimated_cost_micros: get::<Option<i64>>(row, "estimated_cost_micros")?
            .map(Money::from_micros),
        cost_micros: money(row, "cost_micros")?,
        error: optional_json(row, "error")?,
        reused: get(row, "reused")?,
        reused_from: optional_job_id(row, "reused_from")?,
        created_at: timestamp(row, "created_at")?,
        started_at: optional_timestamp(row, "started_at")?,
        finished_at: optional_timestamp(row, "finished_at")?,
    })
}

/// A claimed job from the columns of `claimed_job_columns!()`.
pub(super) fn claimed_from_row(row: &PgRow) -> Result<ClaimedJob> {
    Ok(ClaimedJob {
        job: job_from_row(row)?,
        worker: get(row, "worker")?,
        checkpoint: get(row, "checkpoint")?,
        checkpoint_charged: money(row, "checkpoint_charged_micros")?,
        candidate_index: int4(row, "candidate_index")?,
        candidate_failures: int4(row, "candidate_failures")?,
        started: None,
    })
}

/// An asset from the columns of `asset_columns!()`.
pub(super) fn asset_from_row(row: &PgRow) -> Result<Asset> {
    let id: String = get(row, "id")?;
    Ok(Asset {
        id: AssetId::parse(&id).map_err(|_| corrupt("id", format!("{id:?} is not a UUID")))?,
        client_id: client_id(row, "client_id")?,
        campaign_id: get(row, "campaign_id")?,
        name: get(row, "name")?,
        mime: get(row, "mime")?,
        size_bytes: int8(row, "size_bytes")?,
        sha256: get(row, "sha256")?,
        source: json(row, "source")?,
        cost_micros: money(row, "cost_micros")?,
        tags: json(row, "tags")?,
        metadata: json(row, "metadata")?,
        media: json(row, "media")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// A log line from `at, level, message`.
pub(super) fn log_from_row(row: &PgRow) -> Result<LogLine> {
    let level: String = get(row, "level")?;
    Ok(LogLine {
        at: timestamp(row, "at")?,
        level: LogLevel::parse(&level)
            .ok_or_else(|| corrupt("level", format!("unknown level {level:?}")))?,
        message: get(row, "message")?,
    })
}

/// A budget from `client_id, campaign_id, period, limit_micros` (campaign
/// `''` is the whole client).
pub(super) fn budget_from_row(row: &PgRow) -> Result<Budget> {
    let campaign: String = get(row, "campaign_id")?;
    let period: String = get(row, "period")?;
    Ok(Budget {
        client_id: client_id(row, "client_id")?,
        campaign_id: (!campaign.is_empty()).then_some(campaign),
        period: BudgetPeriod::parse(&period)
            .ok_or_else(|| corrupt("period", format!("unknown period {period:?}")))?,
        limit_micros: money(row, "limit_micros")?,
    })
}

/// The `campaign_id` column value of a budget: `''` stands for the whole client.
pub(super) fn budget_campaign(campaign_id: Option<&str>) -> &str {
    campaign_id.unwrap_or("")
}

/// A value as JSON text, bound as `$n::jsonb`.
pub(super) fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::storage(format!("cannot encode {what}"), e))
}

/// A `u64` (sizes) as a BIGINT.
pub(super) fn to_bigint(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid(what, format!("{value} is too large to store")))
}

/// A `u32` counter (attempts, candidate index) as an INTEGER.
pub(super) fn to_integer(value: u32, what: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::invalid(what, format!("{value} is too large to store")))
}

/// A column's value.
pub(super) fn get<'r, T: Decode<'r, Postgres> + Type<Postgres>>(
    row: &'r PgRow,
    column: &str,
) -> Result<T> {
    row.try_get(column)
        .map_err(|e| Error::storage(format!("cannot read column {column}"), e))
}

/// An INTEGER column into a narrower or unsigned type.
fn int4<T: TryFrom<i32>>(row: &PgRow, column: &str) -> Result<T> {
    let value: i32 = get(row, column)?;
    T::try_from(value).map_err(|_| corrupt(column, format!("{value} is out of range")))
}

/// A BIGINT column (a count or a size) into an unsigned type.
pub(super) fn int8<T: TryFrom<i64>>(row: &PgRow, column: &str) -> Result<T> {
    let value: i64 = get(row, column)?;
    T::try_from(value).map_err(|_| corrupt(column, format!("{value} is out of range")))
}

pub(super) fn money(row: &PgRow, column: &str) -> Result<Money> {
    get(row, column).map(Money::from_micros)
}

pub(super) fn timestamp(row: &PgRow, column: &str) -> Result<Timestamp> {
    get(row, column).map(Timestamp::from_millis)
}

pub(super) fn optional_timestamp(row: &PgRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, column)?.map(Timestamp::from_millis))
}

fn json<T: DeserializeOwned>(row: &PgRow, column: &str) -> Result<T> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::storage(format!("cannot read column {column}"), e))
}

fn optional_json<T: DeserializeOwned>(row: &PgRow, column: &str) -> Result<Option<T>> {
    let text: Option<String> = get(row, column)?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|e| Error::storage(format!("cannot read column {column}"), e))
    })
    .transpose()
}

fn status(row: &PgRow) -> Result<JobStatus> {
    let text: String = get(row, "status")?;
    JobStatus::parse(&text).ok_or_else(|| corrupt("status", format!("unknown status {text:?}")))
}

fn progress(row: &PgRow) -> Result<Progress> {
    int4::<u32>(row, "progress").map(Progress::percent)
}

pub(super) fn client_id(row: &PgRow, column: &str) -> Result<ClientId> {
    let text: String = get(row, column)?;
    ClientId::new(text).map_err(|e| corrupt(column, e.to_string()))
}

fn job_id(row: &PgRow, column: &str) -> Result<JobId> {
    let text: String = get(row, column)?;
    parse_job_id(&text, column)
}

fn optional_job_id(row: &PgRow, column: &str) -> Result<Option<JobId>> {
    let text: Option<String> = get(row, column)?;
    text.map(|text| parse_job_id(&text, column)).transpose()
}

fn parse_job_id(text: &str, column: &str) -> Result<JobId> {
    JobId::parse(text).map_err(|_| corrupt(column, format!("{text:?} is not a UUID")))
}
