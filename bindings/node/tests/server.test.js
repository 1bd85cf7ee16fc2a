'use strict';
// The example fastify backend, over real HTTP on the loopback interface.
const test = require('node:test');
const assert = require('node:assert/strict');
const { buildServer, hashKey } = require('../examples/server/server.js');
const { openEngine, PNG_SIGNATURE } = require('./helpers');

const KEY = 'studio-key-1';
const OTHER_KEY = 'studio-key-2';

test('example server', async (t) => {
  const engine = await openEngine();
  const app = buildServer({ engine, keyHashes: { [hashKey(KEY)]: 'studio', [hashKey(OTHER_KEY)]: 'rival' } });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => { await app.close(); await engine.close(); });

  const call = async (method, url, { key = KEY, body } = {}) => {
    const headers = key ? { 'x-api-key': key } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const type = response.headers.get('content-type') ?? '';
    const payload = type.startsWith('application/json') ? await response.json() : Buffer.from(await response.arrayBuffer());
    return { status: response.status, type, payload };
  };
  const generate = (prompt, extra = {}) => call('POST', '/api/v1/assets/generate', {
    body: { kind: 'image', prompt, width: 16, height: 16, seed: 3, tags: ['wall'], ...extra },
  });

  await t.test('POST generate makes an asset for the key\'s client (wire format)', async () => {
    const { status, payload } = await generate('mossy stone wall', { campaign_id: 'level-1' });
    assert.equal(status, 201);
    assert.equal(payload.type, 'image');
    assert.equal(payload.client_id, 'studio');
    assert.equal(payload.campaign_id, 'level-1');
    assert.equal(payload.cost_micros, 0);
    assert.equal(payload.width, 16);
  });

  await t.test('GET an asset, its bytes and its job', async () => {
    const { payload: asset } = await generate('bytes please');
    const one = await call('GET', `/api/v1/assets/${asset.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.payload, asset);
    const bytes = await call('GET', `/api/v1/assets/${asset.id}/bytes`);
    assert.equal(bytes.status, 200);
    assert.equal(bytes.type, 'image/png');
    assert.deepEqual(bytes.payload.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(bytes.payload.length, asset.size_bytes);
    const job = await call('GET', `/api/v1/jobs/${asset.source.job_id}`);
    assert.equal(job.status, 200);
    assert.equal(job.payload.status, 'succeeded');
    assert.deepEqual(job.payload.asset_ids, [asset.id]);
  });

  await t.test('async generation answers 202 with the job', async () => {
    const { status, payload } = await call('POST', '/api/v1/assets/generate?async=true', {
      body: { kind: 'image', prompt: 'later', width: 16, height: 16 },
    });
    assert.equal(status, 202);
    assert.equal(payload.request.client_id, 'studio');
    await engine.wait(payload.id);
  });

  await t.test('GET assets filters and pages, only the key\'s own', async () => {
    await generate('rival asset', {});
    await call('POST', '/api/v1/assets/generate', { key: OTHER_KEY, body: { kind: 'image', prompt: 'theirs', width: 16, height: 16 } });
    const first = await call('GET', '/api/v1/assets?type=image&tag=wall&limit=2');
    assert.equal(first.status, 200);
    assert.equal(first.payload.items.length, 2);
    assert.ok(first.payload.items.every((a) => a.client_id === 'studio'));
    const rest = await call('GET', `/api/v1/assets?limit=50&cursor=${encodeURIComponent(first.payload.next_cursor)}`);
    assert.ok(rest.payload.items.every((a) => a.client_id === 'studio'));
    assert.equal(rest.payload.next_cursor, null);
    const all = [...first.payload.items, ...rest.payload.items];
    assert.equal(new Set(all.map((a) => a.id)).size, all.length);
    const audio = await call('GET', '/api/v1/assets?type=audio');
    assert.deepEqual(audio.payload.items, []);
  });

  await t.test('keys are checked against the stored hashes', async () => {
    const missing = await call('GET', '/api/v1/assets', { key: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.payload.error.code, 'unauthorized');
    const wrong = await call('GET', '/api/v1/assets', { key: hashKey(KEY) });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.payload.error.code, 'unauthorized');
  });

  await t.test('every failure is a JSON error with the stable code', async () => {
    const invalid = await generate('too wide', { width: 0 });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.payload.error.code, 'invalid_request');
    assert.match(invalid.payload.error.message, /spec\.width/);
    const unknown = await generate('typo', { colour: 'red' });
    assert.equal(unknown.payload.error.code, 'invalid_request');
    assert.match(unknown.payload.error.message, /colour/);
    const noProvider = await call('POST', '/api/v1/assets/generate', { body: { kind: 'video', prompt: 'fire' } });
    assert.equal(noProvider.status, 422);
    assert.equal(noProvider.payload.error.code, 'no_provider');
    const notFound = await call('GET', '/api/v1/assets/019ab3c2-8a44-7b11-8e90-2c4d6f8a0b31');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.payload.error.code, 'not_found');
    const badId = await call('GET', '/api/v1/jobs/not-an-id');
    assert.equal(badId.payload.error.code, 'not_found');
    const badLimit = await call('GET', '/api/v1/assets?limit=0');
    assert.equal(badLimit.status, 400);
    assert.equal(badLimit.payload.error.code, 'invalid_request');
    const badJson = await fetch(`${base}/api/v1/assets/generate`, {
      method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{nope',
    });
    assert.equal(badJson.status, 400);
    assert.equal((await badJson.json()).error.code, 'invalid_request');
    const noRoute = await call('GET', '/api/v1/nothing');
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.payload.error.code, 'not_found');
  });

  await t.test('another client\'s asset and job are not found', async () => {
    const { payload: mine } = await generate('private');
    const asset = await call('GET', `/api/v1/assets/${mine.id}`, { key: OTHER_KEY });
    assert.equal(asset.status, 404);
    assert.equal(asset.payload.error.code, 'not_found');
    const bytes = await call('GET', `/api/v1/assets/${mine.id}/bytes`, { key: OTHER_KEY });
    assert.equal(bytes.status, 404);
    const job = await call('GET', `/api/v1/jobs/${mine.source.job_id}`, { key: OTHER_KEY });
    assert.equal(job.payload.error.code, 'not_found');
  });

  await t.test('a client cannot act for another client', async () => {
    const { payload } = await generate('spoof', { client_id: 'rival' });
    assert.equal(payload.client_id, 'studio');
  });
});
