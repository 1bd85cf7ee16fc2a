//! Gaia's core: the wire-format types, the provider and store traits, events,
//! and the job pipeline (`Engine`). It knows no database, HTTP client or host.

mod asset;
mod config;
mod derive;
pub mod embed;
mod engine;
mod error;
mod event;
mod id;
mod job;
mod money;
mod progress;
mod provider;
mod request;
mod store;
mod timestamp;
pub mod verify;

pub use asset::{
    Asset, AssetKind, AssetSource, AudioFormat, DocumentFormat, ImageFormat, Media, ModelFormat,
    VideoFormat,
};
pub use config::{
    Durability, EngineConfig, EventsConfig, NatsConfig, ProviderConfig, RetryConfig, Secret,
};
pub use derive::{DeriveSpec, Operation, UpscaleMode};
pub use embed::{Embedder, HashedEmbedder, VectorFilter, VectorIndex};
pub use engine::{Engine, EngineBuilder, EventStream, ProviderInfo, metrics};
pub use engine::{
    ImportRequest, ImportSource, LOCAL_PROVIDER, MAX_SEARCH_RESULTS, ScoredAsset, SearchFilter,
};
pub use error::{Error, ErrorCode, JobError, Result, with_causes};
pub use event::{Event, EventKind, EventSink};
pub use id::{AssetId, ClientId, JobId};
pub use job::{
    Job, JobFilter, JobStats, JobStatus, LogLevel, LogLine, Page, PageRequest, ProviderStats,
    StatusCount,
};
pub use money::Money;
pub use progress::Progress;
pub use provider::{
    Call, CallInput, ContextReporter, GenerateContext, Generation, InputRole, ModelInfo, PriceRule,
    Provider, StagedContent, StagedOutput, StagingFile,
};
pub use request::{
    AudioMode, AudioSpec, Detail, ImageSpec, MAX_COUNT, MAX_DURATION_S, MAX_PROMPT_CHARS, MAX_SIDE,
    ModelSpec, Quality, Request, Reuse, Route, RouteTarget, Spec, VideoSpec, parse_json,
};
pub use store::{
    AssetFilter, AssetStore, AttemptPlanner, AttemptStart, AttemptStarted, BlobReader, BlobStore,
    Budget, BudgetPeriod, ClaimedJob, Completion, CostEntry, CostGroup, CostQuery, CostReport,
    CostRow, CostStore, DeletedAsset, Inserted, JobStore, NewJob, Retry, Store,
};
pub use store::{
    ClientUsage, Embeddings, InsertedAsset, Lineage, StoredEmbedding, UsageCount, UsageKind,
    UsageRecord, UsageSummary,
};
pub use timestamp::Timestamp;
