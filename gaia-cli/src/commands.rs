//! The commands, one module per noun.

pub mod assets;
pub mod costs;
pub mod generate;
pub mod jobs;
pub mod metrics;

use gaia::prelude::*;
use gaia::{Error, Result};

use crate::args::{Cli, KindArg, WorkerArgs};
use crate::output::Output;

/// What every command needs: the client and how to open the engine.
pub struct Context {
    pub client: ClientId,
    config: EngineConfig,
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Self> {
        let client = ClientId::new(cli.client.clone()).map_err(|_| {
            Error::invalid(
                "--client",
                format!(
                    "{:?} must be 1-128 characters of [A-Za-z0-9._-]",
                    cli.client
                ),
            )
        })?;
        let mut config = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid("--config", format!("cannot read {}: {e}", path.display()))
                })?;
                EngineConfig::from_json(&text)?
            }
            None => EngineConfig::default(),
        };
        if cli.path.is_some() {
            config.path = cli.path.clone();
        }
        if cli.database.is_some() {
            config.database = cli.database.clone();
        }
        if cli.blobs.is_some() {
            config.blobs = cli.blobs.clone();
        }
        Ok(Self { client, config })
    }

    /// Opens the engine with `workers` job slots (0 for commands that only read).
    pub async fn open(&self, workers: usize) -> Result<Engine> {
        self.open_with(workers, |_| {}).await
    }

    /// Opens the engine with `workers` job slots and a command's own settings.
    pub async fn open_with(
        &self,
        workers: usize,
        adjust: impl FnOnce(&mut EngineConfig),
    ) -> Result<Engine> {
        let mut config = self.config.clone();
        config.workers = workers;
        adjust(&mut config);
        Engine::open(config).await
    }
}

/// Parses a job id from the command line.
pub fn job_id(text: &str) -> Result<JobId> {
    JobId::parse(text)
}

/// Parses an asset id from the command line.
pub fn asset_id(text: &str) -> Result<gaia::AssetId> {
    gaia::AssetId::parse(text)
}

impl KindArg {
    pub fn kind(self) -> AssetKind {
        match self {
            KindArg::Image => AssetKind::Image,
            KindArg::Audio => AssetKind::Audio,
            KindArg::Model => AssetKind::Model,
            KindArg::Video => AssetKind::Video,
        }
    }
}

/// `gaia providers`.
pub async fn providers(context: &Context, out: &Output) -> Result<()> {
    let engine = context.open(0).await?;
    let providers = engine.providers();
    out.providers(&providers);
    engine.close().await
}

/// `gaia worker`: runs jobs until Ctrl-C or SIGTERM, then stops gracefully.
pub async fn worker(context: &Context, args: WorkerArgs, out: &Output) -> Result<()> {
    // Installed first, so that the jobs recovered at start are counted too.
    if let Some(addr) = args.metrics {
        metrics::serve(addr)?;
    }
    let engine = context
        .open_with(args.workers, |config| {
            if let Some(url) = &args.nats {
                let nats = config
                    .events
                    .nats
                    .get_or_insert_with(|| gaia::NatsConfig::new(url.as_str()));
                nats.url.clone_from(url);
            }
        })
        .await?;
    if let Some(addr) = args.metrics {
        tokio::spawn(metrics::refresh_job_gauges(engine.clone()));
        out.note(&format!("metrics at http://{addr}/metrics"));
    }
    out.note(&format!(
        "worker running with {} slots; Ctrl-C stops it",
        args.workers
    ));
    shutdown_signal().await;
    out.note("stopping: running jobs finish or are released");
    engine.close().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A job that ended: `Ok` when it succeeded, else the error the command
/// fails with (the job's own).
pub async fn ended(engine: &Engine, job: &Job) -> Result<()> {
    if job.status == JobStatus::Succeeded {
        return Ok(());
    }
    Err(engine
        .first_asset(job)
        .await
        .err()
        .unwrap_or(Error::Canceled))
}
