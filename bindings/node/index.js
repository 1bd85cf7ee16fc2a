'use strict';
// gaia-engine: the published JavaScript surface over the native addon.
//
// The addon speaks Gaia's wire format (JSON text, snake_case keys). This file
// is the one place keys are converted: snake_case -> camelCase on the way
// out, camelCase -> snake_case on the way in. Only keys change: enum values
// (`"job_queued"`, `"per_output"`) and the contents of `metadata` never do,
// and the names of configured providers (the keys of `providers`) are kept.

const native = require('./native.js');

/** Keys whose value is free JSON, passed through untouched. */
const OPAQUE_KEYS = new Set(['metadata']);
/** Keys whose value is a map of names chosen by the user: names kept, values converted. */
const NAMED_MAP_KEYS = new Set(['providers']);
/** The keys of a request outside its spec, for flat requests (`{ kind, prompt, clientId }`). */
const REQUEST_KEYS = new Set([
  'clientId', 'campaignId', 'spec', 'route', 'maxCostMicros', 'reuse',
  'idempotencyKey', 'tags', 'metadata', 'priority',
]);

const toCamel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const toSnake = (key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    !Buffer.isBuffer(value) && !(value instanceof Date);
}

function convertKeys(value, rename) {
  if (Array.isArray(value)) return value.map((item) => convertKeys(item, rename));
  if (!isPlainObject(value)) return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner === undefined) continue;
    const original = OPAQUE_KEYS.has(key) || NAMED_MAP_KEYS.has(key) ? key : null;
    if (original && OPAQUE_KEYS.has(key)) {
      out[key] = inner;
    } else if (original && isPlainObject(inner)) {
      out[key] = Object.fromEntries(
        Object.entries(inner).map(([name, item]) => [name, convertKeys(item, rename)]));
    } else {
      out[rename(key)] = convertKeys(inner, rename);
    }
  }
  return out;
}

/** Wire JSON (snake_case keys) to a JavaScript object (camelCase keys). */
function fromWire(value) {
  return convertKeys(value, toCamel);
}

/** A JavaScript object (camelCase keys) to wire JSON (snake_case keys). */
function toWire(value) {
  return convertKeys(value, toSnake);
}

/** Parses native JSON text into a JavaScript object. */
const decode = (json) => fromWire(JSON.parse(json));
/** Writes a JavaScript object as native JSON text. */
const encode = (value) => JSON.stringify(toWire(value ?? {}));

/** A flat request (`{ kind, prompt, width, clientId }`) in the wire's nested shape. */
function nestRequest(request) {
  if (!isPlainObject(request) || 'spec' in request || !('kind' in request)) return request;
  const nested = { spec: {} };
  for (const [key, value] of Object.entries(request)) {
    if (REQUEST_KEYS.has(key)) nested[key] = value;
    else nested.spec[key] = value;
  }
  return nested;
}

/** Splits list options into the native filter and page. */
function splitPage(options) {
  const { cursor, limit, ...filter } = options ?? {};
  return [encode(filter), encode({ cursor, limit })];
}

/**
 * `[gaia:<code>] <message>`, `[gaia:<code>+retryable] <message>` for an error
 * that may succeed when tried again, `[gaia:invalid_request:<field>] <message>`.
 */
const NATIVE_MESSAGE = /^\[gaia:([a-z_]+)(\+retryable)?(?::(.*?))?\] ([\s\S]*)$/;
/** The codes whose errors are retryable unless said otherwise (as in the core). */
const RETRYABLE_CODES = new Set(['provider_rate_limited', 'provider_timeout']);
const ARGUMENT_STATUSES = new Set(['InvalidArg', 'StringExpected', 'NumberExpected', 'ObjectExpected']);

/**
 * An error from Gaia. `code` is the stable error code shared by every host
 * (`invalid_request`, `not_found`, …); `field` names the offending field of an
 * `invalid_request` (null otherwise); `retryable` tells a provider's error
 * apart that may succeed when tried again. Unless `options.retryable` says
 * otherwise, `provider_rate_limited` and `provider_timeout` are retryable and
 * every other code is not, as in the core.
 */
class GaiaError extends Error {
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GaiaError';
    this.code = code;
    this.field = options.field ?? null;
    this.retryable = options.retryable === undefined
      ? RETRYABLE_CODES.has(code) : Boolean(options.retryable);
  }
}

/** Every stable error code, in the C ABI's status order. */
GaiaError.codes = Object.freeze(native.errorCodes());

/** A native error as a GaiaError carrying its stable code. */
function toGaiaError(error) {
  if (error instanceof GaiaError) return error;
  const message = String(error?.message ?? error);
  const match = NATIVE_MESSAGE.exec(message);
  if (match) {
    return new GaiaError(match[1], match[4], { field: match[3], retryable: match[2] !== undefined });
  }
  const code = ARGUMENT_STATUSES.has(error?.code) || error instanceof TypeError
    ? 'invalid_request' : 'internal';
  return new GaiaError(code, message, { cause: error });
}

/** Runs a native call, turning its errors (thrown or rejected) into GaiaErrors. */
async function guarded(call) {
  try {
    return await call();
  } catch (error) {
    throw toGaiaError(error);
  }
}

/** Normalizes what a JavaScript provider's `generate` resolved to. */
function generationOf(result) {
  if (Buffer.isBuffer(result) || result instanceof Uint8Array) return { outputs: [result] };
  if (Array.isArray(result)) return { outputs: result };
  if (isPlainObject(result) && Array.isArray(result.outputs)) return result;
  throw new GaiaError('invalid_output',
    'a provider must resolve to a Buffer, an array of Buffers or { outputs, costMicros }');
}

/** Runs one call of a JavaScript provider and answers through the native context. */
async function runProvider(provider, callJson, nativeContext) {
  const context = {
    progress: (percent) => nativeContext.progress(Math.max(0, Math.round(Number(percent) || 0))),
    log: (level, message) => nativeContext.log(String(level), String(message)),
    get canceled() { return nativeContext.canceled; },
  };
  try {
    const generation = generationOf(await provider.generate(decode(callJson), context));
    for (const output of generation.outputs) nativeContext.output(Buffer.from(output));
    nativeContext.finish(generation.costMicros ?? null);
  } catch (error) {
    const code = typeof error?.code === 'string' ? error.code : 'provider_error';
    // null: the core decides from the code (a rate limit or a timeout is retried).
    const retryable = typeof error?.retryable === 'boolean' ? error.retryable : null;
    nativeContext.fail(code, String(error?.message ?? error), retryable);
  }
}

/** Reports an exception thrown by an event listener without disturbing the engine. */
function reportListenerError(error) {
  process.emitWarning(`a gaia-engine event listener threw: ${error?.stack ?? error}`);
}

/**
 * The Gaia engine: submit generation requests, run them as durable jobs,
 * read the results. Open one with `await Engine.open({ path: '.gaia' })`.
 */
class Engine {
  #native;
  #listeners = new Map();
  #subscription = null;
  /** What finishes each iterator of `events()` still open. */
  #iterators = new Set();
  /** The one `close` in progress or done. */
  #closing = null;

  /** Use `Engine.open`. */
  constructor(nativeEngine) {
    if (!(nativeEngine instanceof native.NativeEngine)) {
      throw new GaiaError('invalid_request', 'use `await Engine.open(config)` to open an engine');
    }
    this.#native = nativeEngine;
  }

  /** Opens an engine: `{ path }` or `{ database, blobs }`, plus `workers`, `leaseS`, `providers`, `events`, `durability`, … */
  static async open(config = {}) {
    const nativeEngine = await guarded(() => native.openEngine(encode(config)));
    return new Engine(nativeEngine);
  }

  /** Submits a request and waits for it; resolves to its first asset. */
  async generate(request) {
    return decode(await guarded(() => this.#native.generate(encode(nestRequest(request)))));
  }

  /** Submits a request; resolves to the queued job. */
  async submit(request) {
    return decode(await guarded(() => this.#native.submit(encode(nestRequest(request)))));
  }

  /** Waits until a job has ended; resolves to it. */
  async wait(jobId) {
    return decode(await guarded(() => this.#native.wait(jobId)));
  }

  /** One job. */
  async job(jobId) {
    return decode(await guarded(() => this.#native.job(jobId)));
  }

  /** A job's log lines, oldest first. */
  async jobLogs(jobId) {
    return decode(await guarded(() => this.#native.jobLogs(jobId)));
  }

  /** Jobs, newest first: filters `clientId`, `campaignId`, `status`, `kind`; pages with `cursor`, `limit`. */
  async jobs(options = {}) {
    return decode(await guarded(() => this.#native.jobs(...splitPage(options))));
  }

  /** Cancels a queued or running job; resolves to it. */
  async cancel(jobId) {
    return decode(await guarded(() => this.#native.cancel(jobId)));
  }

  /** Queues a failed or canceled job again; resolves to it. */
  async retry(jobId) {
    return decode(await guarded(() => this.#native.retry(jobId)));
  }

  /** Deletes a finished job and its log (its assets and costs stay). */
  async deleteJob(jobId) {
    await guarded(() => this.#native.deleteJob(jobId));
  }

  /**
   * Deletes every job that ended more than `olderThanS` seconds ago, with its
   * log (their assets and costs stay); resolves to how many went.
   */
  async pruneJobs(olderThanS) {
    return guarded(() => this.#native.pruneJobs(olderThanS));
  }

  /** One asset. */
  async asset(assetId) {
    return decode(await guarded(() => this.#native.asset(assetId)));
  }

  /** Assets, newest first: filters `clientId`, `campaignId`, `type`, `tag`; pages with `cursor`, `limit`. */
  async assets(options = {}) {
    return decode(await guarded(() => this.#native.assets(...splitPage(options))));
  }

  /** An asset's bytes, as a Buffer. */
  async readBytes(assetId) {
    return guarded(() => this.#native.readBytes(assetId));
  }

  /**
   * A URL that downloads an asset's bytes without credentials for `ttlS`
   * seconds (default 3600): a presigned URL of an S3 blob store. Other blob
   * stores cannot sign one (`invalid_request` naming `blobs`): use `readBytes`.
   */
  async assetUrl(assetId, options = {}) {
    const ttlS = options?.ttlS ?? 3600;
    return guarded(() => this.#native.assetUrl(assetId, ttlS));
  }

  /** Deletes an asset (its bytes go when no other asset shares them). */
  async deleteAsset(assetId) {
    await guarded(() => this.#native.deleteAsset(assetId));
  }

  /**
   * Imports a file (a path) or bytes (a Buffer) as an uploaded asset:
   * `{ clientId, campaignId, name, tags, metadata }`; resolves to `{ asset, existing }`.
   */
  async import(source, request) {
    const json = encode(request);
    if (typeof source === 'string') {
      return decode(await guarded(() => this.#native.importPath(json, source)));
    }
    return decode(await guarded(() => this.#native.importBytes(json, Buffer.from(source))));
  }

  /** The `k` (default 10) assets best matching `query`: `{ clientId, campaignId, type, k }`; `[{ score, asset }]`. */
  async search(query, options = {}) {
    const { k = 10, ...filter } = options;
    return decode(await guarded(() => this.#native.search(query, encode(filter), k)));
  }

  /** Money spent: `{ clientId, campaignId, since, until, groupBy }`; amounts in `*Micros`. */
  async costs(query = {}) {
    return decode(await guarded(() => this.#native.costs(encode(query))));
  }

  /** Creates or replaces a budget: `{ clientId, campaignId, period, limitMicros }`. */
  async setBudget(budget) {
    await guarded(() => this.#native.setBudget(encode(budget)));
  }

  /** A client's budgets. */
  async budgets(clientId) {
    return decode(await guarded(() => this.#native.budgets(clientId)));
  }

  /** The configured providers, their models and prices. */
  providers() {
    try {
      return decode(this.#native.providers());
    } catch (error) {
      throw toGaiaError(error);
    }
  }

  /**
   * Adds a provider written in JavaScript: `{ name, models, remote?, maxInFlight?,
   * generate(call, ctx) }`, where `generate` resolves to a Buffer, an array of
   * Buffers, or `{ outputs, costMicros }`, and throws a GaiaError (or any
   * error, read as `provider_error`) to fail. A model `{ id, kind, price?,
   * description?, operation? }` declaring an `operation` (`edit`, `upscale`,
   * `retexture`, `image_to_3d`) is routed derivations instead of generations.
   * `call` is `{ jobId, attempt, model, spec, inputs }`, each input
   * `{ role, asset, path }`: `path` holds the asset's bytes until the call ends.
   */
  registerProvider(provider) {
    if (typeof provider?.generate !== 'function') {
      throw new GaiaError('invalid_request', 'provider.generate must be a function');
    }
    const { name, models, remote, maxInFlight } = provider;
    const descriptor = encode({ name, models, remote, maxInFlight });
    const run = (callJson, context) => { runProvider(provider, callJson, context); };
    try {
      this.#native.registerProvider(descriptor, run);
    } catch (error) {
      throw toGaiaError(error);
    }
    return this;
  }

  /** Calls `listener(event)` for each event of `type` (`'*'` for every event), in order. */
  on(type, listener) {
    if (typeof listener !== 'function') {
      throw new GaiaError('invalid_request', 'listener must be a function');
    }
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(listener);
    this.#subscribe();
    return this;
  }

  /** Removes a listener added with `on`. */
  off(type, listener) {
    const listeners = this.#listeners.get(type);
    if (listeners) {
      listeners.delete(listener);
      if (listeners.size === 0) this.#listeners.delete(type);
    }
    if (this.#listeners.size === 0) this.#unsubscribe();
    return this;
  }

  /**
   * Every event from now on, as an async iterator (`for await (const e of
   * engine.events())`). `close()` ends it once the events sent before have
   * been yielded.
   */
  events() {
    const queue = [];
    const waiting = [];
    let done = false;
    const listener = (event) => {
      const next = waiting.shift();
      if (next) next({ value: event, done: false });
      else queue.push(event);
    };
    // Ends the iterator: a pending `next()` resolves done at once; events
    // already queued are still yielded by later calls, then done.
    const finish = () => {
      if (!done) {
        done = true;
        this.#iterators.delete(finish);
        this.off('*', listener);
        for (const next of waiting.splice(0)) next({ value: undefined, done: true });
      }
      return Promise.resolve({ value: undefined, done: true });
    };
    if (this.#closing === null) {
      this.#iterators.add(finish);
      this.on('*', listener);
    } else {
      done = true;
    }
    return {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift(), done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiting.push(resolve));
      },
      return: finish,
      [Symbol.asyncIterator]() { return this; },
    };
  }

  /** `for await (const event of engine)`: the same as `engine.events()`. */
  [Symbol.asyncIterator]() {
    return this.events();
  }

  /**
   * Stops gracefully (running jobs get a grace period), delivers the events
   * sent until then, and only then removes every listener and ends every
   * `events()` iterator. Closing twice (or concurrently) is fine.
   */
  close() {
    if (this.#closing === null) this.#closing = this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce() {
    try {
      // Resolves after the native listeners have been called with every event.
      await guarded(() => this.#native.close());
    } finally {
      this.#subscription = null;
      this.#listeners.clear();
      for (const finish of [...this.#iterators]) finish();
    }
  }

  #subscribe() {
    if (this.#subscription !== null || this.#closing !== null) return;
    // Weak: the native listener must not keep this engine alive, or an
    // engine with listeners that is dropped without `close()` would never be
    // collected and closed (its workers would run until the process exits).
    const engine = new WeakRef(this);
    this.#subscription = this.#native.subscribe((json) => engine.deref()?.#dispatch(json));
  }

  #unsubscribe() {
    if (this.#subscription === null) return;
    this.#native.unsubscribe(this.#subscription);
    this.#subscription = null;
  }

  #dispatch(json) {
    // The empty marker a native flush sends behind the queued events.
    if (json === '') return;
    const event = decode(json);
    for (const type of [event.type, '*']) {
      for (const listener of this.#listeners.get(type) ?? []) {
        try {
          listener(event);
        } catch (error) {
          reportListenerError(error);
        }
      }
    }
  }
}

/** Wire conversion, exposed for tests and tools: `fromWire(json)`, `toWire(object)`. */
const wire = Object.freeze({
  fromWire,
  toWire,
  /** Parses wire JSON into Gaia's Rust type named `type` and writes it back. */
  roundTrip: (type, json) => {
    try {
      return native.wireRoundTrip(type, json);
    } catch (error) {
      throw toGaiaError(error);
    }
  },
});

module.exports = { Engine, GaiaError, wire };
module.exports.default = module.exports;
