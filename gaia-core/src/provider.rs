//! The `Provider` trait: what every generation backend implements.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::asset::{Asset, AssetKind};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::job::LogLevel;
use crate::money::Money;
use crate::progress::Progress;
use crate::request::Spec;
use crate::verify::Source;

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
    /// The derived operation it performs (`edit`, `upscale`, `retexture`,
    /// `image_to_3d`; `kind` is then what it outputs), or `None` for a
    /// generation model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl ModelInfo {
    /// A generation model.
    pub fn new(
        id: impl Into<String>,
        kind: AssetKind,
        price: PriceRule,
        description: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            price,
            description: description.into(),
            operation: None,
        }
    }

    /// A model performing the derived operation `operation` (see
    /// [`crate::Operation::name`]) and outputting `kind`.
    pub fn performing(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// The model performing `operation` when one is declared (by a provider
    /// written in a host language): only an operation a provider performs
    /// (`edit`, `upscale`, `retexture`, `image_to_3d`) is accepted, anything
    /// else is an `invalid_request` naming `field`.
    pub fn declaring(self, field: &str, operation: Option<String>) -> Result<Self> {
        match operation {
            None => Ok(self),
            Some(operation) => {
                crate::derive::check_remote_operation(field, &operation)?;
                Ok(self.performing(operation))
            }
        }
    }

    /// Whether it serves `spec`: a generation model serves specs of its kind,
    /// an operation model serves derivations with that operation.
    pub fn serves(&self, spec: &Spec) -> bool {
        let operation = match spec {
            Spec::Derive(derive) => Some(derive.operation.name()),
            _ => None,
        };
        self.kind == spec.kind() && self.operation.as_deref() == operation
    }
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
    /// Existing assets the call works from, each copied to a local file for
    /// the duration of the call: a derivation's parent (and an edit's mask),
    /// a video's reference image.
    pub inputs: Vec<CallInput>,
}

impl Call {
    /// The input playing `role`, if the call has one.
    pub fn input(&self, role: InputRole) -> Option<&CallInput> {
        self.inputs.iter().find(|input| input.role == role)
    }

    /// The call as providers written in a host language (Python, Node)
    /// receive it: `job_id`, `attempt`, `model`, `spec` (wire JSON) and
    /// `inputs`, each `{role, asset, path}` with `role` `parent`, `mask` or
    /// `reference`, the asset as wire JSON and the local file of its bytes.
    pub fn to_wire(&self) -> serde_json::Value {
        let inputs: Vec<serde_json::Value> = self
            .inputs
            .iter()
            .map(|input| {
                // A path that is not UTF-8 cannot be JSON text; lossy, the
                // host gets a file-not-found it can report, not a panic here.
                serde_json::json!({
                    "role": input.role.as_str(),
                    "asset": input.asset,
                    "path": input.path.to_string_lossy(),
                })
            })
            .collect();
        serde_json::json!({
            "job_id": self.job_id,
            "attempt": self.attempt,
            "model": self.model,
            "spec": self.spec,
            "inputs": inputs,
        })
    }
}

/// An existing asset a call works from.
#[derive(Debug, Clone)]
pub struct CallInput {
    /// What it is for.
    pub role: InputRole,
    /// The asset (its kind, format, dimensions).
    pub asset: Asset,
    /// A local file holding its bytes, valid while the call runs.
    pub path: PathBuf,
}

/// What an input asset is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRole {
    /// The asset a derived operation works on.
    Parent,
    /// An edit's mask (transparent where to edit).
    Mask,
    /// A reference image (image-to-video).
    Reference,
}

impl InputRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::Mask => "mask",
            Self::Reference => "reference",
        }
    }
}

/// What a provider hands back: its staged outputs and what it charged.
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

    /// Whether [`estimate`](Self::estimate) answers at once, waiting on
    /// nothing (no lock, no host interpreter): the engine may then call it
    /// inside the store transaction that claims a job. A provider whose
    /// estimate calls into a host language answers `false`.
    fn estimates_instantly(&self) -> bool {
        true
    }

    /// A model it was not declared with but can run for `kind` (Replicate
    /// runs any `owner/name`); `None` when it cannot.
    fn open_model(&self, _id: &str, _kind: AssetKind) -> Option<ModelInfo> {
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
    /// Whether the job itself was canceled, rather than only stopped in this
    /// process (see [`GenerateContext::is_job_canceled`]).
    fn job_canceled(&self) -> bool {
        true
    }
}

/// What a provider may do while it generates: report progress, write log
/// lines, watch for cancellation, checkpoint a remote task, stage outputs.
pub struct GenerateContext {
    reporter: Arc<dyn ContextReporter>,
    cancel: CancellationToken,
    staging_dir: PathBuf,
    charged: Mutex<Option<Money>>,
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
            charged: Mutex::new(None),
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

    /// Records what the provider has charged for this call so far, as soon
    /// as it is known: the ledger keeps it even if the call then fails, and
    /// it is the job's cost when [`Generation::cost`] is `None`.
    pub fn report_cost(&self, cost: Money) {
        *self.charged.lock().unwrap_or_else(|e| e.into_inner()) = Some(cost);
    }

    /// The latest cost reported with [`Self::report_cost`].
    pub fn reported_cost(&self) -> Option<Money> {
        *self.charged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires when the job is canceled or the engine shuts down.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the cancellation signal means the job itself was canceled
    /// (by a host): then a provider cancels its remote task. The signal also
    /// fires when only this engine stops working on the job (it shuts down,
    /// or the job's lease went to another worker); the remote task must then
    /// keep running, since the job resumes it from its checkpoint.
    pub fn is_job_canceled(&self) -> bool {
        self.cancel.is_cancelled() && self.reporter.job_canceled()
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

    /// Stages bytes already in memory: up to 64 KiB stay there (a staging
    /// file would cost more to create, read back and remove than the bytes
    /// take); more are written to a staging file on the blocking pool.
    pub async fn stage_bytes(&self, bytes: &[u8]) -> Result<StagedOutput> {
        if bytes.len() <= STAGE_IN_MEMORY_MAX {
            return Ok(StagedOutput::in_memory(Bytes::copy_from_slice(bytes)));
        }
        let dir = self.staging_dir.clone();
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || stage_in(&dir, &bytes))
            .await
            .map_err(|e| Error::Internal(format!("staging task failed: {e}")))?
    }
}

/// Outputs up to this size stay in memory (see
/// [`GenerateContext::stage_bytes`]).
const STAGE_IN_MEMORY_MAX: usize = 64 * 1024;

/// Writes `bytes` to a new staging file in `dir`, flushed.
fn stage_in(dir: &Path, bytes: &[u8]) -> Result<StagedOutput> {
    use std::io::Write;
    let mut named = staging_file(dir, "stage-")?;
    named
        .write_all(bytes)
        .and_then(|()| named.flush())
        .map_err(|e| Error::storage(format!("cannot write {}", named.path().display()), e))?;
    let (_, path) = named.into_parts();
    let sha256 = hex::encode(Sha256::digest(bytes));
    Ok(StagedOutput {
        content: StagedContent::File(path),
        size: bytes.len() as u64,
        sha256,
        metadata: serde_json::Map::new(),
    })
}

/// A new file named `prefix…` in the staging folder `dir`, which is created
/// the first time (looked for only then: staging is on many jobs' paths).
pub(crate) fn staging_file(dir: &Path, prefix: &str) -> Result<tempfile::NamedTempFile> {
    let create = || tempfile::Builder::new().prefix(prefix).tempfile_in(dir);
    let created = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::storage(format!("cannot create staging folder {}", dir.display()), e)
            })?;
            create()
        }
        created => created,
    };
    created.map_err(|e| Error::storage(format!("cannot stage in {}", dir.display()), e))
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
        let (file, path) = staging_file(dir, "stage-")?.into_parts();
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
            content: StagedContent::File(self.path),
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            metadata: serde_json::Map::new(),
        })
    }
}

/// A finished output: a staging file, or a small output kept in memory.
#[derive(Debug)]
pub struct StagedOutput {
    content: StagedContent,
    size: u64,
    sha256: String,
    metadata: serde_json::Map<String, serde_json::Value>,
}

/// Where a staged output's bytes are.
#[derive(Debug)]
pub enum StagedContent {
    /// A staging file, removed when dropped unless the blob store took it.
    File(tempfile::TempPath),
    /// Bytes a provider handed over in memory, small enough to stay there.
    Memory(Bytes),
}

impl std::fmt::Display for StagedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Memory(bytes) => write!(f, "({} bytes in memory)", bytes.len()),
        }
    }
}

impl StagedOutput {
    fn in_memory(bytes: Bytes) -> Self {
        Self {
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            content: StagedContent::Memory(bytes),
            metadata: serde_json::Map::new(),
        }
    }

    /// Where the bytes are.
    pub fn content(&self) -> &StagedContent {
        &self.content
    }

    /// The bytes, for verification.
    pub fn source(&self) -> Source<'_> {
        match &self.content {
            StagedContent::File(path) => Source::File(path),
            StagedContent::Memory(bytes) => Source::Memory(bytes),
        }
    }

    /// A reader of the bytes from the first one.
    pub async fn open(&self) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin + '_>> {
        Ok(match &self.content {
            StagedContent::File(path) => Box::new(tokio::fs::File::open(path).await?),
            StagedContent::Memory(bytes) => Box::new(std::io::Cursor::new(bytes.as_ref())),
        })
    }

    /// A blocking reader of the bytes from the first one.
    pub fn open_blocking(&self) -> std::io::Result<Box<dyn std::io::Read + Send + '_>> {
        Ok(match &self.content {
            StagedContent::File(path) => Box::new(std::fs::File::open(path)?),
            StagedContent::Memory(bytes) => Box::new(bytes.as_ref()),
        })
    }

    /// All the bytes, read whole (for small outputs, and tests).
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        match &self.content {
            StagedContent::File(path) => std::fs::read(path),
            StagedContent::Memory(bytes) => Ok(bytes.to_vec()),
        }
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

    /// Gives up the bytes (the blob store moves or copies them).
    pub fn into_content(self) -> StagedContent {
        self.content
    }
}
