//! `gaia jobs`.

use std::time::Duration;

use gaia::{Error, JobFilter, JobStatus, PageRequest, Result};

use super::{Context, ended, job_id};
use crate::args::{JobsArgs, JobsCommand};
use crate::output::Output;

pub async fn run(context: &Context, args: JobsArgs, out: &Output) -> Result<()> {
    let workers = match &args.command {
        JobsCommand::Watch { workers, .. } => *workers,
        _ => 0,
    };
    let engine = context.open(workers).await?;
    let result = dispatch(context, &engine, args.command, out).await;
    engine.close().await?;
    result
}

async fn dispatch(
    context: &Context,
    engine: &gaia::Engine,
    command: JobsCommand,
    out: &Output,
) -> Result<()> {
    match command {
        JobsCommand::List {
            status,
            campaign,
            kind,
            page,
        } => {
            let status = status
                .map(|s| {
                    JobStatus::parse(&s).ok_or_else(|| {
                        Error::invalid(
                            "--status",
                            format!("{s:?} is not queued, running, succeeded, failed or canceled"),
                        )
                    })
                })
                .transpose()?;
            let filter = JobFilter {
                client_id: Some(context.client.clone()),
                campaign_id: campaign,
                status,
                kind: kind.map(|k| k.kind()),
            };
            let page = engine
                .jobs(
                    &filter,
                    &PageRequest {
                        cursor: page.cursor,
                        limit: Some(page.limit),
                    },
                )
                .await?;
            out.jobs(&page);
        }
        JobsCommand::Show { id } => {
            let id = job_id(&id)?;
            let job = engine.job(id).await?;
            let logs = engine.job_logs(id).await?;
            out.job_detail(&job, &logs);
        }
        JobsCommand::Cancel { id } => out.job(&engine.cancel(job_id(&id)?).await?),
        JobsCommand::Retry { id } => out.job(&engine.retry(job_id(&id)?).await?),
        JobsCommand::Delete { id } => {
            engine.delete_job(job_id(&id)?).await?;
            out.deleted("job", &id);
        }
        JobsCommand::Stats => out.stats(&engine.job_stats(Some(&context.client)).await?),
        JobsCommand::Prune { older_than } => out.pruned(engine.prune_jobs(older_than).await?),
        JobsCommand::Watch { id, .. } => watch(engine, job_id(&id)?, out).await?,
    }
    Ok(())
}

/// Follows a job by reading it from the store, so it works whichever process
/// runs it; this process's workers help run it.
async fn watch(engine: &gaia::Engine, id: gaia::JobId, out: &Output) -> Result<()> {
    let mut last = None;
    let mut logs_seen = 0;
    loop {
        let job = engine.job(id).await?;
        let logs = engine.job_logs(id).await?;
        for line in logs.iter().skip(logs_seen) {
            out.log_line(line);
        }
        logs_seen = logs.len();
        let state = (job.status, job.progress, job.attempts);
        if last != Some(state) {
            out.watch_line(&job);
            last = Some(state);
        }
        if job.status.is_terminal() {
            return ended(engine, &job).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
