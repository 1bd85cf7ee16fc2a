'use strict';
// An example game-asset backend on fastify: the asset API game clients speak,
// served by a Gaia engine.
//
//   POST /api/v1/assets/generate      generate (or `?async=true`: submit, 202 + job)
//   GET  /api/v1/assets               list: type, campaign_id, tag, cursor, limit
//   GET  /api/v1/assets/:id           one asset
//   GET  /api/v1/assets/:id/bytes     its bytes, with its MIME type
//   GET  /api/v1/jobs/:id             one job
//
// Bodies and answers are Gaia's wire format (snake_case JSON), so clients in
// any language share one contract. Every request carries `X-API-Key`; the
// server stores only SHA-256 hashes of keys, each naming the client id it
// acts for, so a client sees only its own assets and jobs. Every failure is
// `{"error": {"code", "message"}}` with the stable Gaia code (or
// `unauthorized` for a missing or unknown key).
const crypto = require('node:crypto');
const Fastify = require('fastify');
const { Engine, GaiaError, wire } = require('gaia-engine');

/** HTTP status of each stable error code. */
const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  budget_exceeded: 402,
  not_found: 404,
  conflict: 409,
  canceled: 409,
  no_provider: 422,
  invalid_output: 502,
  provider_error: 502,
  provider_rejected: 422,
  provider_rate_limited: 503,
  provider_timeout: 504,
  storage_error: 500,
  internal: 500,
};

/** The hex SHA-256 of an API key: what the server stores instead of the key. */
function hashKey(key) {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Finds the client of a presented key by comparing hashes in constant time. */
function clientOfKey(keyHashes, presented) {
  if (typeof presented !== 'string' || presented.length === 0) return null;
  const digest = Buffer.from(hashKey(presented), 'hex');
  let client = null;
  for (const [hash, clientId] of keyHashes) {
    const stored = Buffer.from(hash, 'hex');
    if (stored.length === digest.length && crypto.timingSafeEqual(stored, digest)) client = clientId;
  }
  return client;
}

/** An HTTP error answer with a stable code. */
class HttpError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** A fastify error (bad JSON, unknown route) or a Gaia error as `{ status, code, message }`. */
function describe(error) {
  if (error instanceof GaiaError || error instanceof HttpError) {
    return { status: STATUS[error.code] ?? 500, code: error.code, message: error.message };
  }
  if (error.validation || (error.statusCode >= 400 && error.statusCode < 500)) {
    return { status: 400, code: 'invalid_request', message: error.message };
  }
  return { status: 500, code: 'internal', message: 'internal error' };
}

/** Fails with `not_found` unless the object belongs to the client. */
function ownedBy(object, clientId, what, id) {
  const owner = object.clientId ?? object.request?.clientId;
  if (owner !== clientId) throw new HttpError('not_found', `${what} not found: ${id}`);
  return object;
}

/**
 * The fastify app over `engine`. `keyHashes` maps hex SHA-256 hashes of API
 * keys to the client id each key acts for.
 */
function buildServer({ engine, keyHashes, logger = false }) {
  const hashes = new Map(Object.entries(keyHashes).map(([hash, client]) => [hash.toLowerCase(), client]));
  const app = Fastify({ logger });

  app.addHook('onRequest', async (request) => {
    const clientId = clientOfKey(hashes, request.headers['x-api-key']);
    if (clientId === null) throw new HttpError('unauthorized', 'a valid X-API-Key header is required');
    request.clientId = clientId;
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, code, message } = describe(error);
    reply.code(status).send({ error: { code, message } });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url}` } });
  });

  app.post('/api/v1/assets/generate', async (request, reply) => {
    const body = wire.fromWire(request.body ?? {});
    const generation = { ...body, clientId: request.clientId };
    if (request.query.async === 'true') {
      reply.code(202);
      return wire.toWire(await engine.submit(generation));
    }
    reply.code(201);
    return wire.toWire(await engine.generate(generation));
  });

  app.get('/api/v1/assets', async (request) => {
    const query = wire.fromWire(request.query);
    const limit = query.limit === undefined ? undefined : Number(query.limit);
    const page = await engine.assets({
      clientId: request.clientId, campaignId: query.campaignId, type: query.type,
      tag: query.tag, cursor: query.cursor, limit,
    });
    return wire.toWire(page);
  });

  app.get('/api/v1/assets/:id', async (request) => {
    const asset = await engine.asset(request.params.id);
    return wire.toWire(ownedBy(asset, request.clientId, 'asset', request.params.id));
  });

  app.get('/api/v1/assets/:id/bytes', async (request, reply) => {
    const asset = ownedBy(await engine.asset(request.params.id), request.clientId, 'asset', request.params.id);
    const bytes = await engine.readBytes(asset.id);
    reply.header('content-type', asset.mime).header('etag', `"${asset.sha256}"`);
    return bytes;
  });

  app.get('/api/v1/jobs/:id', async (request) => {
    const job = await engine.job(request.params.id);
    return wire.toWire(ownedBy(job, request.clientId, 'job', request.params.id));
  });

  return app;
}

/** Runs the server: GAIA_PATH (default .gaia), GAIA_API_KEY_HASHES (`hash=client,…`), PORT. */
async function main() {
  const keyHashes = Object.fromEntries((process.env.GAIA_API_KEY_HASHES ?? '')
    .split(',').filter(Boolean).map((pair) => pair.split('=')));
  const engine = await Engine.open({ path: process.env.GAIA_PATH ?? '.gaia' });
  const app = buildServer({ engine, keyHashes, logger: true });
  app.addHook('onClose', () => engine.close());
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => app.close());
}

module.exports = { buildServer, hashKey, STATUS };

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
