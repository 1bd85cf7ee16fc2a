//! Jobs by id: read, list, log, cancel, retry, delete; and pruning old ones.

use std::ffi::c_char;
use std::time::Duration;

use gaia::{JobFilter, JobId, PageRequest};

use crate::engine::{GaiaEngine, handle};
use crate::runtime::block_on;
use crate::{
    GaiaError, call, clear_out, null_argument, opt_str_arg, out_arg, parse_json, str_arg, to_json,
    write_string,
};

/// Parses a job id argument.
///
/// # Safety
/// `job_id` is NULL or a NUL-terminated string.
unsafe fn job_id_arg(job_id: *const c_char) -> gaia::Result<JobId> {
    // SAFETY: forwarded contract.
    JobId::parse(unsafe { str_arg(job_id, "job_id")? })
}

/// One job's JSON.
///
/// # Safety
/// `engine` a live handle; `job_id` a NUL-terminated string; `out_job_json`
/// points to a writable `char *` (free with `gaia_string_free`); `out_error`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_job(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_job_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_job_json, "out_job_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let job = block_on(engine.job(unsafe { job_id_arg(job_id)? }))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_job_json, to_json(&job)?) }
    })
}

/// A page of jobs, newest first: a `JobFilter` and a `PageRequest` in (JSON,
/// each NULL for the default), `{"items":[…],"next_cursor":…}` out.
///
/// # Safety
/// As `gaia_job`; `filter_json` and `page_json` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_jobs(
    engine: *const GaiaEngine,
    filter_json: *const c_char,
    page_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let filter: JobFilter = match unsafe { opt_str_arg(filter_json, "filter_json")? } {
            Some(json) => parse_json(json, "filter_json")?,
            None => JobFilter::default(),
        };
        // SAFETY: as above.
        let page: PageRequest = match unsafe { opt_str_arg(page_json, "page_json")? } {
            Some(json) => parse_json(json, "page_json")?,
            None => PageRequest::default(),
        };
        let jobs = block_on(engine.jobs(&filter, &page))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&jobs)?) }
    })
}

/// A job's log lines, oldest first, as a JSON array.
///
/// # Safety
/// As `gaia_job`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_job_logs(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let logs = block_on(engine.job_logs(unsafe { job_id_arg(job_id)? }))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&logs)?) }
    })
}

/// Cancels a queued or running job; `out_job_json` (may be NULL) receives it
/// (NULL on failure).
///
/// # Safety
/// As `gaia_job`, except that `out_job_json` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_cancel(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_job_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { clear_out(out_job_json) };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let job = block_on(engine.cancel(unsafe { job_id_arg(job_id)? }))??;
        if out_job_json.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { write_string(out_job_json, to_json(&job)?) }
    })
}

/// Queues a failed or canceled job again; `out_job_json` (may be NULL)
/// receives it (NULL on failure).
///
/// # Safety
/// As `gaia_cancel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_retry(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_job_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { clear_out(out_job_json) };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let job = block_on(engine.retry(unsafe { job_id_arg(job_id)? }))??;
        if out_job_json.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { write_string(out_job_json, to_json(&job)?) }
    })
}

/// Deletes a finished job and its log (its assets and costs stay).
///
/// # Safety
/// As `gaia_job`, without an output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_delete_job(
    engine: *const GaiaEngine,
    job_id: *const c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        block_on(engine.delete_job(unsafe { job_id_arg(job_id)? }))?
    })
}

/// Deletes every job that ended more than `older_than_s` seconds ago, with
/// its log (their assets and costs stay); `*out_count` receives how many
/// went.
///
/// # Safety
/// `engine` a live handle; `out_count` points to a writable `uint64_t`;
/// `out_error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_prune_jobs(
    engine: *const GaiaEngine,
    older_than_s: u64,
    out_count: *mut u64,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        if out_count.is_null() {
            return Err(null_argument("out_count"));
        }
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { *out_count = 0 };
        // SAFETY: contracts documented above.
        let engine = unsafe { handle(engine)? }.engine()?;
        let pruned = block_on(engine.prune_jobs(Duration::from_secs(older_than_s)))??;
        // SAFETY: as above.
        unsafe { *out_count = pruned };
        Ok(())
    })
}
