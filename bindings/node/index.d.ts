// Type definitions of gaia-engine: the wire format with camelCase keys.
// Enum values keep their wire spelling ("job_queued", "per_output"); money is
// integer micro-dollars in `*Micros` fields; ids are UUID strings.

/// <reference types="node" />

/** The stable error codes, the same in every host. */
export type ErrorCode =
  | 'invalid_request' | 'not_found' | 'conflict' | 'budget_exceeded' | 'no_provider'
  | 'provider_error' | 'provider_rate_limited' | 'provider_timeout' | 'provider_rejected'
  | 'invalid_output' | 'canceled' | 'storage_error' | 'internal';

/** An error from Gaia; `code` is the stable error code. */
export declare class GaiaError extends Error {
  constructor(code: ErrorCode, message: string, options?: { retryable?: boolean; field?: string | null; cause?: unknown });
  readonly name: 'GaiaError';
  /** The stable error code. */
  readonly code: ErrorCode;
  /** The offending field of an `invalid_request` (`spec.width`, `blobs`), else null. */
  readonly field: string | null;
  /**
   * Whether trying again may succeed. Errors from the engine carry the core's
   * answer; a new GaiaError defaults to true for `provider_rate_limited` and
   * `provider_timeout`, false otherwise, unless `options.retryable` is given.
   */
  readonly retryable: boolean;
  /** Every code, in the C ABI's status order. */
  static readonly codes: readonly ErrorCode[];
}

/** RFC 3339 UTC timestamp. */
export type Timestamp = string;
/** Free JSON copied from requests to assets; its keys are never converted. */
export type Metadata = { [key: string]: unknown };

export type AssetKind = 'image' | 'audio' | 'video' | 'model' | 'document';
export type ImageFormat = 'png' | 'jpeg' | 'webp';
export type AudioFormat = 'wav' | 'mp3' | 'ogg' | 'flac';
export type VideoFormat = 'mp4' | 'webm';
export type ModelFormat = 'glb' | 'gltf' | 'fbx' | 'obj' | 'usdz';
export type DocumentFormat = 'pdf' | 'txt' | 'json';

/** Where an asset came from. */
export type AssetSource =
  | { kind: 'generated'; provider: string; model: string; jobId: string; prompt: string }
  | { kind: 'uploaded' }
  | { kind: 'derived'; parentId: string; operation: string };

/** Fields every asset has. */
export interface AssetCommon {
  id: string;
  clientId: string;
  campaignId: string | null;
  name: string | null;
  mime: string;
  sizeBytes: number;
  sha256: string;
  source: AssetSource;
  /** What it cost, in micro-dollars (40000 is $0.04). */
  costMicros: number;
  tags: string[];
  metadata: Metadata;
  createdAt: Timestamp;
}

export interface ImageAsset extends AssetCommon {
  type: 'image'; width: number; height: number; format: ImageFormat; tileable: boolean;
}
export interface AudioAsset extends AssetCommon {
  type: 'audio'; durationS: number; sampleRate: number; channels: number; format: AudioFormat;
}
export interface VideoAsset extends AssetCommon {
  type: 'video'; width: number; height: number; durationS: number; format: VideoFormat;
}
export interface ModelAsset extends AssetCommon {
  type: 'model'; format: ModelFormat; vertexCount: number; triangleCount: number;
}
export interface DocumentAsset extends AssetCommon {
  type: 'document'; format: DocumentFormat; pageCount: number;
}
/** An asset: a discriminated union on `type`. */
export type Asset = ImageAsset | AudioAsset | VideoAsset | ModelAsset | DocumentAsset;

/** Fields every spec has. */
interface SpecCommon {
  prompt: string;
  seed?: number | null;
  /** Outputs, 1–8 (default 1). */
  count?: number;
}
export interface ImageSpec extends SpecCommon {
  kind: 'image';
  width?: number;
  height?: number;
  tileable?: boolean;
  format?: ImageFormat | null;
  negativePrompt?: string | null;
  quality?: 'low' | 'medium' | 'high' | null;
  style?: string | null;
  /** Also make a PBR set: a normal map and a roughness map per output, each its own asset. */
  pbr?: boolean;
}
export interface AudioSpec extends SpecCommon {
  kind: 'audio';
  mode?: 'sfx' | 'speech' | 'music';
  durationS?: number | null;
  format?: AudioFormat | null;
  voice?: string | null;
  /** A sound effect that loops seamlessly (mode `sfx` only). */
  loop?: boolean;
  /** How closely a sound effect follows the prompt, 0–1 (mode `sfx` only). */
  promptInfluence?: number | null;
}
export interface ModelSpec extends SpecCommon {
  kind: 'model';
  format?: ModelFormat | null;
  detail?: 'low' | 'medium' | 'high' | null;
}
export interface VideoSpec extends SpecCommon {
  kind: 'video';
  width?: number | null;
  height?: number | null;
  durationS?: number | null;
  format?: VideoFormat | null;
  referenceAssetId?: string | null;
}
/** The operations a provider performs (a model declares one with `operation`). */
export type RemoteOperation = 'edit' | 'upscale' | 'retexture' | 'image_to_3d';
/** An operation on an existing asset, discriminated on `op`. */
export type Operation =
  | { op: 'resize'; width: number; height: number }
  | { op: 'convert'; format: ImageFormat; quality?: number | null }
  | { op: 'thumbnail'; size: number }
  | { op: 'normal_map'; strength?: number }
  | { op: 'waveform'; points?: number; render?: boolean }
  | { op: 'mesh_stats' }
  | { op: 'edit'; prompt: string; maskId?: string | null }
  | { op: 'upscale'; prompt?: string | null; mode?: 'fast' | 'conservative' | 'creative' }
  | { op: 'retexture'; prompt: string; enablePbr?: boolean }
  | { op: 'image_to_3d'; texture?: boolean; enablePbr?: boolean };
/**
 * A new asset made from an existing one of the same client: local operations
 * run in the engine at no cost, remote ones (`RemoteOperation`) are routed to
 * a provider model declaring that operation.
 */
export interface DeriveSpec {
  kind: 'derive';
  parentId: string;
  operation: Operation;
}
/** What to generate, discriminated on `kind`. */
export type Spec = ImageSpec | AudioSpec | ModelSpec | VideoSpec | DeriveSpec;

export interface RouteTarget { provider: string; model?: string | null }
/** `'auto'`, one provider and model, or a list tried in order. */
export type Route = 'auto' | RouteTarget | RouteTarget[];
/** `'never'`, `'exact'`, or `{ similar: minimumScore }`. */
export type Reuse = 'never' | 'exact' | { similar: number };

/** The fields of a request besides its spec. */
export interface RequestOptions {
  clientId: string;
  campaignId?: string | null;
  route?: Route;
  maxCostMicros?: number | null;
  reuse?: Reuse;
  idempotencyKey?: string | null;
  tags?: string[];
  metadata?: Metadata;
  priority?: number;
}
/** A request in the wire's shape: `{ clientId, spec: { kind, prompt, … } }`. */
export interface Request extends RequestOptions { spec: Spec }
/** A request written flat: `{ kind: 'image', prompt, width, clientId }`. */
export type FlatRequest = RequestOptions & Spec;

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
/** The recorded error of a finished job. */
export interface JobError { code: ErrorCode; message: string; retryable: boolean }

/** The durable record of one generation. */
export interface Job {
  id: string;
  status: JobStatus;
  /** 0–100. */
  progress: number;
  attempts: number;
  maxAttempts: number;
  request: Request;
  provider: string | null;
  model: string | null;
  assetIds: string[];
  estimatedCostMicros: number | null;
  costMicros: number;
  error: JobError | null;
  /** Whether existing assets answered instead of a new generation (`assetIds` lists them). */
  reused: boolean;
  /** The job that made the reused assets (null when it did not reuse, or reused an import). */
  reusedFrom: string | null;
  createdAt: Timestamp;
  startedAt: Timestamp | null;
  finishedAt: Timestamp | null;
}

export interface LogLine { at: Timestamp; level: 'info' | 'warn' | 'error'; message: string }

/** A page of a list; pass `nextCursor` as `cursor` for the next one (null at the end). */
export interface Page<T> { items: T[]; nextCursor: string | null }
export interface PageOptions { cursor?: string | null; limit?: number }
export interface JobQuery extends PageOptions {
  clientId?: string; campaignId?: string; status?: JobStatus; kind?: AssetKind;
}
export interface AssetQuery extends PageOptions {
  clientId?: string; campaignId?: string; type?: AssetKind; tag?: string;
}

export interface ImportRequest {
  clientId: string; campaignId?: string | null; name?: string | null; tags?: string[]; metadata?: Metadata;
  /** Return the client's existing asset with the same bytes instead of a new one. */
  dedup?: boolean;
}
export interface SearchOptions { clientId: string; campaignId?: string | null; type?: AssetKind | null; k?: number }
/** One search result. */
export interface ScoredAsset { score: number; asset: Asset }

export type BudgetPeriod = 'total' | 'day' | 'month';
export interface Budget { clientId: string; campaignId?: string | null; period: BudgetPeriod; limitMicros: number }
export interface CostQuery {
  clientId?: string; campaignId?: string; since?: Timestamp; until?: Timestamp;
  groupBy?: 'none' | 'client' | 'campaign' | 'provider' | 'model' | 'day';
}
export interface CostRow { key: string | null; costMicros: number; entries: number }
export interface CostReport {
  totalMicros: number;
  entries: number;
  /** What reuse saved over the same range: the estimates of the generations it made unnecessary. */
  savedMicros: number;
  groups: CostRow[];
}

/** How a model is priced. */
export type PriceRule =
  | { rule: 'free' }
  | { rule: 'per_output'; micros: number }
  | { rule: 'per_million_units'; unit: string; microsPerMillion: number }
  | { rule: 'table'; note: string };
export interface ModelInfo {
  id: string; kind: AssetKind; price: PriceRule; description: string;
  /** The derived operation it performs; absent for generation. */
  operation?: RemoteOperation;
}
export interface ProviderInfo {
  name: string;
  /** Whether it calls a remote service. */
  remote: boolean;
  models: ModelInfo[];
}

/** Per-provider settings of the configuration. */
export interface ProviderConfig {
  enabled?: boolean | null; apiKey?: string | null; baseUrl?: string | null;
  maxInFlight?: number | null; timeoutS?: number | null;
  /** Largest output the provider may download, in bytes (default 512 MiB). */
  maxDownloadBytes?: number | null;
}
/** The engine configuration (the same JSON in every host, keys camelCased). */
export interface EngineConfig {
  /** A folder: SQLite and file blobs inside (default `.gaia`). */
  path?: string | null;
  /** `sqlite://…` or `postgres://…`. */
  database?: string | null;
  /** `file://…`, `db:` or `s3://…`. */
  blobs?: string | null;
  /** Concurrent job slots in this process; 0 submits only. */
  workers?: number;
  leaseS?: number;
  maxAttempts?: number;
  retry?: { baseDelayMs?: number; maxDelayMs?: number; attemptsPerProvider?: number };
  shutdownGraceS?: number;
  /** Keyed by provider name (names are kept as written). */
  providers?: { [name: string]: ProviderConfig };
  /** Where events go besides this process: `{ nats: { url, subjectPrefix } }`. */
  events?: { nats?: { url: string; subjectPrefix?: string } | null };
  /** The embedder of search and similar reuse: `'hashed'` (default) or `'openai'`. */
  embedder?: 'hashed' | 'openai' | null;
  /** What a finished job survives: a process crash (`'normal'`, default) or also a power loss (`'full'`). */
  durability?: 'normal' | 'full';
}

/** Fields every event has. */
interface EventCommon { seq: number; at: Timestamp; jobId: string | null }
/** What the engine tells hosts, in order: a discriminated union on `type`. */
export type Event = EventCommon & (
  | { type: 'job_queued'; clientId: string }
  | { type: 'job_started'; attempt: number; provider: string; model: string }
  | { type: 'job_progress'; progress: number }
  | { type: 'job_log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'job_succeeded'; assetIds: string[]; costMicros: number }
  | { type: 'job_failed'; error: JobError }
  | { type: 'job_canceled' }
  | { type: 'asset_created'; assetId: string; clientId: string }
  | { type: 'cost_recorded'; clientId: string; provider: string; model: string; costMicros: number }
  | { type: 'budget_exceeded'; clientId: string; message: string }
  | { type: 'events_lost'; count: number }
);
export type EventType = Event['type'];
/** The event of one type. */
export type EventOf<T extends EventType> = Extract<Event, { type: T }>;

/**
 * An existing asset a call works from: a derivation's `parent`, an edit's
 * `mask`, a video's `reference` image.
 */
export interface CallInput {
  role: 'parent' | 'mask' | 'reference';
  asset: Asset;
  /** A local file holding the asset's bytes, valid until the call ends. */
  path: string;
}
/** One call of a JavaScript provider. */
export interface ProviderCall {
  jobId: string;
  attempt: number;
  model: string;
  spec: Spec;
  /** The assets it works from (empty for a plain generation). */
  inputs: CallInput[];
}
/** One model of a JavaScript provider. */
export interface JsProviderModel {
  id: string;
  /** What it makes (for an operation: what it outputs). */
  kind: AssetKind;
  price?: PriceRule;
  description?: string;
  /** The derived operation it performs instead of generating. */
  operation?: RemoteOperation;
}
/** What a JavaScript provider may do during a call. */
export interface ProviderContext {
  /** Reports progress, 0–100. */
  progress(percent: number): void;
  /** Writes a job log line. */
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Whether the job was canceled (or the engine is closing). */
  readonly canceled: boolean;
}
/** What `generate` resolves to: one output, several, or outputs with the cost charged. */
export type ProviderResult = Buffer | Uint8Array | Array<Buffer | Uint8Array> |
  { outputs: Array<Buffer | Uint8Array>; costMicros?: number | null };
/** A provider written in JavaScript (a backend plugging in its own service). */
export interface JsProvider {
  name: string;
  models: JsProviderModel[];
  /** Whether it calls a remote service (default true). */
  remote?: boolean;
  maxInFlight?: number | null;
  /** Makes the outputs; throw a GaiaError (or any error: `provider_error`) to fail. */
  generate(call: ProviderCall, ctx: ProviderContext): Promise<ProviderResult>;
}

/** The Gaia engine. */
export declare class Engine implements AsyncIterable<Event> {
  private constructor();
  /** Opens an engine: `{ path }` or `{ database, blobs }`, plus `workers`, … */
  static open(config?: EngineConfig): Promise<Engine>;
  /** Submits a request and waits; resolves to its first asset. */
  generate(request: Request | FlatRequest): Promise<Asset>;
  /** Submits a request; resolves to the queued job. */
  submit(request: Request | FlatRequest): Promise<Job>;
  /** Waits until a job has ended. */
  wait(jobId: string): Promise<Job>;
  job(jobId: string): Promise<Job>;
  jobLogs(jobId: string): Promise<LogLine[]>;
  jobs(query?: JobQuery): Promise<Page<Job>>;
  cancel(jobId: string): Promise<Job>;
  retry(jobId: string): Promise<Job>;
  deleteJob(jobId: string): Promise<void>;
  /** Deletes the jobs that ended more than `olderThanS` seconds ago (assets and costs stay); resolves to how many. */
  pruneJobs(olderThanS: number): Promise<number>;
  asset(assetId: string): Promise<Asset>;
  assets(query?: AssetQuery): Promise<Page<Asset>>;
  readBytes(assetId: string): Promise<Buffer>;
  /**
   * A URL that downloads the asset's bytes without credentials for `ttlS` seconds
   * (default 3600): an S3 blob store's presigned URL; other stores reject it
   * (`invalid_request`, `field` `blobs`).
   */
  assetUrl(assetId: string, options?: { ttlS?: number }): Promise<string>;
  deleteAsset(assetId: string): Promise<void>;
  /** Imports a file (a path) or bytes as an uploaded asset. */
  import(source: string | Buffer | Uint8Array, request: ImportRequest): Promise<{ asset: Asset; existing: boolean }>;
  /** The `k` (default 10) assets of a client best matching `query`, best first. */
  search(query: string, options: SearchOptions): Promise<ScoredAsset[]>;
  costs(query?: CostQuery): Promise<CostReport>;
  setBudget(budget: Budget): Promise<void>;
  budgets(clientId: string): Promise<Budget[]>;
  providers(): ProviderInfo[];
  registerProvider(provider: JsProvider): this;
  /** Calls `listener` for each event of `type` (`'*'`: every event), on the JS thread. */
  on<T extends EventType>(type: T, listener: (event: EventOf<T>) => void): this;
  on(type: '*', listener: (event: Event) => void): this;
  off<T extends EventType>(type: T, listener: (event: EventOf<T>) => void): this;
  off(type: '*', listener: (event: Event) => void): this;
  /** Every event from now on; `close()` ends it after the events sent before. */
  events(): AsyncIterableIterator<Event>;
  [Symbol.asyncIterator](): AsyncIterableIterator<Event>;
  /**
   * Stops gracefully; resolves once listeners have received every event sent
   * until then, then removes them and ends every `events()` iterator. Later
   * calls fail; closing twice is fine.
   */
  close(): Promise<void>;
}

/** Wire conversion (snake_case JSON <-> camelCase objects), for tools and tests. */
export declare const wire: {
  fromWire(value: unknown): any;
  toWire(value: unknown): any;
  roundTrip(type: string, json: string): string;
};

declare const gaia: { Engine: typeof Engine; GaiaError: typeof GaiaError; wire: typeof wire };
export default gaia;
