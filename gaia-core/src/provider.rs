//! The `Provider` trait: what every generation backend implements.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::asset::AssetKind;
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::job::LogLevel;
use crate::money::Money;
use crate::progress::Progress;
use crate::request::Spec;

/// A model a provider offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Its id (`gpt-image-1`, `texture`, …).
    pub id: String,
    /// What it makes.
    pub kind: AssetKind,
    /// How it is priced.
    pub price: PriceRule,
    /// One line for `gaia providers`.
    pub description: String,
}

/// How a model is priced, from the provider's published prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PriceRule {
    /// Costs nothing (procedural, local servers).
    Free,
    /// A fixed price per output.
    PerOutput {
        /// Price of one output.
        micros: Money,
    },
    /// Priced per unit (tokens, characters, seconds), in micro-dollars per
    /// million units since some units cost less than a micro-dollar.
    PerMillionUnits {
        /// The unit.
        unit: String,
        /// Micro-dollars per million units.
        micros_per_million: u64,
    },
    /// Priced by a table the provider applies (size, quality); `note` says how.
    Table {
        /// How the price is found.
        note: String,
    },
}

impl PriceRule {
    /// The price of a spec under this rule, where the rule alone decides it:
    /// a per-output price times the outputs asked for, zero when free. Rules
    /// that need the provider's own knowledge (units, tables) give `None`.
    pub fn estimate(&self, spec: &Spec) -> Option<Money> {
        match self {
            PriceRule::Free => Some(Money::ZERO),
            PriceRule::PerOutput { micros } => Some(micros.times(u32::from(spec.count()))),
            PriceRule::PerMillionUnits { .. } | PriceRule::Table { .. } => None,
        }
    }
}

/// One call to a provider: what to make and with which model.
#[derive(Debug, Clone)]
pub struct Call {
    /// The job this call serves.
    pub job_id: JobId,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// The model chosen.
    pub model: String,
    /// What to make.
    pub spec: Spec,
}

/// What a provider hands back: outputs staged on disk and what it charged.
#[derive(Debug, Default)]
pub struct Generation {
    /// The outputs, in order.
    pub outputs: Vec<StagedOutput>,
    /// The cost the provider reported; the estimate is used when `None`.
    pub cost: Option<Money>,
}

/// A generation backend.
///
/// Object-safe, so that hosts (Python, JavaScript, C) can implement it
/// through the bindings and the engine holds `Arc<dyn Provider>`.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Its name in routes and in the ledger (`openai`, `procedural`).
    fn name(&self) -> &str;

    /// The models it offers.
    fn models(&self) -> &[ModelInfo];

    /// Whether it calls a remote service (the router prefers remote
    /// providers and uses local ones only when no remote one can).
    fn is_remote(&self) -> bool {
        true
    }

    /// Calls in flight at once across every worker on the store (`None`: no limit).
    fn max_in_flight(&self) -> Option<u32> {
        None
    }

    /// Checks that `model` accepts `spec` (sizes, formats), before any job exists.
    fn validate(&self, _model: &str, _spec: &Spec) -> Result<()> {
        Ok(())
    }

    /// The price of a call before it is made.
    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money>;

    /// Makes the outputs.
    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation>;

    /// Continues a call that a crashed worker left with a checkpoint (a remote
    /// task id), instead of paying for a new one. By default: generate again.
    async fn resume(
        &self,
        call: &Call,
        _checkpoint: &str,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        self.generate(call, cx).await
    }
}

impl std::fmt::Debug for dyn Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name())
            .finish()
    }
}

/// Where a provider's reports go: the engine persists and publishes them.
#[async_trait]
pub trait ContextReporter: Send + Sync + 'static {
    /// Progress on the 0–100 scale.
    fn progress(&self, progress: Progress);
    /// A log line of the job.
    fn log(&self, level: LogLevel, message: String);
    /// Saves a remote task id durably before the provider waits on it.
    async fn checkpoint(&self, value: String) -> Result<()>;
}

/// What a provider may do while it generates: report progress, write log
/// lines, watch for cancellation, checkpoint a remote task, stage outputs.
pub struct GenerateContext {
    reporter: Arc<dyn ContextReporter>,
    cancel: CancellationToken,
    staging_dir: PathBuf,
}

impl GenerateContext {
    /// A context reporting to `reporter` and staging under `staging_dir`.
    pub fn new(
        reporter: Arc<dyn ContextReporter>,
        cancel: CancellationToken,
        staging_dir: PathBuf,
    ) -> Self {
        Self {
            reporter,
            cancel,
            staging_dir,
        }
    }

    /// A context that reports nowhere, for testing a provider on its own.
    pub fn detached(staging_dir: impl Into<PathBuf>) -> Self {
        Self::new(
            Arc::new(NoReporter),
            CancellationToken::new(),
            staging_dir.into(),
        )
    }

    /// Reports progress.
    pub fn progress(&self, progress: Progress) {
        self.reporter.progress(progress);
    }

    /// Writes a job log line.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.reporter.log(level, message.into());
    }

    /// Saves a remote task id before waiting on it, so a recovered job resumes it.
    pub async fn checkpoint(&self, value: impl Into<String>) -> Result<()> {
        self.reporter.checkpoint(value.into()).await
    }

    /// Fires when the job is canceled or the engine shuts down.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// `Err(Canceled)` once the job has been canceled.
    pub fn check_canceled(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(Error::Canceled)
        } else {
            Ok(())
        }
    }

    /// A new staging file to stream one output into.
    pub async fn stage(&self) -> Result<StagingFile> {
        StagingFile::create(&self.staging_dir).await
    }

    /// Stages bytes already in memory, in one trip to the blocking pool.
    pub async fn stage_bytes(&self, bytes: &[u8]) -> Result<StagedOutput> {
        let dir = self.staging_dir.clone();
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || stage_in(&dir, &bytes))
            .await
            .map_err(|e| Error::Internal(format!("staging task failed: {e}")))?
    }
}

/// Writes `bytes` to a new staging file in `dir`, flushed.
fn stage_in(dir: &Path, bytes: &[u8]) -> Result<StagedOutput> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::storage(format!("cannot create staging folder {}", dir.display()), e)
    })?;
    let mut named = tempfile::Builder::new()
        .prefix("stage-")
        .tempfile_in(dir)
        .map_err(|e| Error::storage(format!("cannot stage in {}", dir.display()), e))?;
    named
        .write_all(bytes)
        .and_then(|()| named.flush())
        .map_err(|e| Error::storage(format!("cannot write {}", named.path().display()), e))?;
    let (_, path) = named.into_parts();
    let sha256 = hex::encode(Sha256::digest(bytes));
    Ok(StagedOutput {
        path,
        size: bytes.len() as u64,
        sha256,
        metadata: serde_json::Map::new(),
    })
}

struct NoReporter;

#[async_trait]
impl ContextReporter for NoReporter {
    fn progress(&self, _progress: Progress) {}
    fn log(&self, _level: LogLevel, _message: String) {}
    async fn checkpoint(&self, _value: String) -> Result<()> {
        Ok(())
    }
}

/// An output being streamed to disk; hashes as it writes.
pub struct StagingFile {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    hasher: Sha256,
    size: u64,
}

impl StagingFile {
    async fn create(dir: &Path) -> Result<Self> {
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            Error::storage(format!("cannot create staging folder {}", dir.display()), e)
        })?;
        let named = tempfile::Builder::new()
            .prefix("stage-")
            .tempfile_in(dir)
            .map_err(|e| Error::storage(format!("cannot stage in {}", dir.display()), e))?;
        let (file, path) = named.into_parts();
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| Error::storage(format!("cannot write {}", self.path.display()), e))
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes and closes the file.
    pub async fn finish(mut self) -> Result<StagedOutput> {
        self.file
            .flush()
            .await
            .map_err(|e| Error::storage(format!("cannot flush {}", self.path.display()), e))?;
        drop(self.file);
        Ok(StagedOutput {
            path: self.path,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            metadata: serde_json::Map::new(),
        })
    }
}

/// A finished output on disk, removed when dropped unless the blob store took it.
#[derive(Debug)]
pub struct StagedOutput {
    path: tempfile::TempPath,
    size: u64,
    sha256: String,
    metadata: serde_json::Map<String, serde_json::Value>,
}

impl StagedOutput {
    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Their size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Their hex SHA-256.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Adds metadata that the provider knows about this one output (the
    /// pattern it drew, the preset it played, `"pbr_map": "normal"`); the
    /// engine merges it into the asset's `metadata`, under the request's own.
    pub fn with_metadata(mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Self {
        self.metadata.extend(metadata);
        self
    }

    /// The provider's metadata about this output.
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.metadata
    }

    /// Gives up ownership of the file (the blob store moved or copied it).
    pub fn into_temp_path(self) -> tempfile::TempPath {
        self.path
    }
}
