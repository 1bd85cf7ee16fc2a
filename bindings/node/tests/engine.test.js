'use strict';
// Every call of the engine from JavaScript, with the procedural provider and SQLite.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Engine, GaiaError } = require('..');
const { openEngine, imageRequest, PNG_SIGNATURE } = require('./helpers');

/** Asserts that `promise` rejects with a GaiaError of `code`. */
async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof GaiaError, `not a GaiaError: ${error}`);
    assert.ok(error instanceof Error);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test('engine calls', async (t) => {
  const engine = await openEngine();
  t.after(() => engine.close());

  await t.test('generate returns an image asset with camelCase keys', async () => {
    const asset = await engine.generate({
      kind: 'image', prompt: 'mossy stone wall', width: 32, height: 32, tileable: true,
      seed: 7, clientId: 'demo', campaignId: 'level-1', tags: ['ground'], metadata: { scene_name: 'crypt' },
    });
    assert.equal(asset.type, 'image');
    assert.equal(asset.width, 32);
    assert.equal(asset.height, 32);
    assert.equal(asset.tileable, true);
    assert.equal(asset.costMicros, 0);
    assert.equal(asset.clientId, 'demo');
    assert.equal(asset.campaignId, 'level-1');
    assert.equal(asset.source.kind, 'generated');
    assert.equal(asset.source.provider, 'procedural');
    assert.deepEqual(asset.tags, ['ground']);
    assert.equal(asset.metadata.scene_name, 'crypt');
    assert.equal(typeof asset.sizeBytes, 'number');
  });

  await t.test('a looping sound effect: loop and promptInfluence reach the engine', async () => {
    const asset = await engine.generate({
      kind: 'audio', prompt: 'engine rumble', loop: true, durationS: 2, seed: 4, clientId: 'demo',
    });
    assert.equal(asset.type, 'audio');
    assert.equal(asset.metadata.loop, true);
    assert.ok(Math.abs(asset.durationS - 2) < 1e-3, `${asset.durationS}`);
    await rejectsWith(
      engine.generate({ kind: 'audio', prompt: 'x', promptInfluence: 2, clientId: 'demo' }),
      'invalid_request', /spec\.prompt_influence/,
    );
  });

  await t.test('readBytes returns the PNG as a Buffer', async () => {
    const asset = await engine.generate(imageRequest('bytes'));
    const bytes = await engine.readBytes(asset.id);
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal(bytes.length, asset.sizeBytes);
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
  });

  await t.test('nested wire-shaped requests work too', async () => {
    const asset = await engine.generate({ clientId: 'demo', spec: { kind: 'image', prompt: 'nested', width: 16, height: 16 } });
    assert.equal(asset.width, 16);
  });

  await t.test('submit, wait, job and jobLogs', async () => {
    const queued = await engine.submit(imageRequest('submitted', { count: 2 }));
    assert.ok(['queued', 'running', 'succeeded'].includes(queued.status));
    assert.equal(queued.request.spec.kind, 'image');
    assert.equal(queued.request.clientId, 'test-client');
    const done = await engine.wait(queued.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.progress, 100);
    assert.equal(done.assetIds.length, 2);
    assert.equal(done.costMicros, 0);
    assert.equal(done.error, null);
    const again = await engine.job(queued.id);
    assert.deepEqual(again, done);
    assert.ok(Array.isArray(await engine.jobLogs(queued.id)));
  });

  await t.test('jobs filters and pages', async () => {
    for (const prompt of ['page a', 'page b', 'page c']) {
      await engine.generate(imageRequest(prompt, { clientId: 'pager' }));
    }
    const first = await engine.jobs({ clientId: 'pager', status: 'succeeded', kind: 'image', limit: 2 });
    assert.equal(first.items.length, 2);
    assert.notEqual(first.nextCursor, null);
    const second = await engine.jobs({ clientId: 'pager', cursor: first.nextCursor, limit: 2 });
    assert.equal(second.items.length, 1);
    assert.equal(second.nextCursor, null);
    const prompts = [...first.items, ...second.items].map((job) => job.request.spec.prompt);
    assert.deepEqual(prompts, ['page c', 'page b', 'page a']);
  });

  await t.test('asset and assets with filters and pagination', async () => {
    const made = [];
    for (const prompt of ['list a', 'list b', 'list c']) {
      made.push(await engine.generate(imageRequest(prompt, { clientId: 'lister', tags: ['wall'] })));
    }
    assert.deepEqual(await engine.asset(made[0].id), made[0]);
    const first = await engine.assets({ clientId: 'lister', type: 'image', tag: 'wall', limit: 2 });
    assert.equal(first.items.length, 2);
    const second = await engine.assets({ clientId: 'lister', cursor: first.nextCursor, limit: 2 });
    assert.equal(second.items.length, 1);
    assert.equal(second.nextCursor, null);
    assert.deepEqual([...first.items, ...second.items].map((a) => a.id), made.map((a) => a.id).reverse());
    const none = await engine.assets({ clientId: 'lister', type: 'audio' });
    assert.deepEqual(none.items, []);
  });

  await t.test('deleteAsset and deleteJob', async () => {
    const job = await engine.wait((await engine.submit(imageRequest('deleted'))).id);
    await engine.deleteAsset(job.assetIds[0]);
    await rejectsWith(engine.asset(job.assetIds[0]), 'not_found');
    await engine.deleteJob(job.id);
    await rejectsWith(engine.job(job.id), 'not_found');
  });

  await t.test('cancel and retry', async () => {
    const paused = await openEngine({ workers: 0 });
    try {
      const job = await paused.submit(imageRequest('to cancel'));
      const canceled = await paused.cancel(job.id);
      assert.equal(canceled.status, 'canceled');
      const retried = await paused.retry(job.id);
      assert.equal(retried.status, 'queued');
      await rejectsWith(paused.retry(job.id), 'conflict');
    } finally {
      await paused.close();
    }
  });

  await t.test('import from a Buffer and from a path, then search', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const png = await engine.readBytes((await engine.generate(imageRequest('import source', { width: 8, height: 8 }))).id);
    const fromBytes = await engine.import(png, { clientId: 'importer', name: 'stone wall', tags: ['wall'], metadata: { some_key: 1 } });
    assert.equal(fromBytes.existing, false);
    assert.equal(fromBytes.asset.type, 'image');
    assert.equal(fromBytes.asset.source.kind, 'uploaded');
    assert.deepEqual(fromBytes.asset.metadata, { some_key: 1 });
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'gaia-import-'));
    t.after(() => fs.rmSync(folder, { recursive: true, force: true }));
    const file = path.join(folder, 'moss.png');
    fs.writeFileSync(file, png);
    const fromPath = await engine.import(file, { clientId: 'importer', name: 'mossy floor', dedup: false });
    assert.equal(fromPath.asset.width, 8);
    const results = await engine.search('stone wall', { clientId: 'importer', type: 'image', k: 5 });
    assert.ok(Array.isArray(results));
    for (const hit of results) {
      assert.equal(typeof hit.score, 'number');
      assert.equal(hit.asset.clientId, 'importer');
    }
    await rejectsWith(engine.import(Buffer.from([0, 255, 0, 7]), { clientId: 'importer' }), 'invalid_request');
    await rejectsWith(engine.search('', { clientId: 'importer' }), 'invalid_request');
  });

  await t.test('costs, setBudget and budgets', async () => {
    const report = await engine.costs({ clientId: 'demo', groupBy: 'provider' });
    assert.equal(typeof report.totalMicros, 'number');
    assert.equal(typeof report.entries, 'number');
    assert.ok(Array.isArray(report.groups));
    await engine.setBudget({ clientId: 'demo', period: 'month', limitMicros: 5_000_000 });
    const budgets = await engine.budgets('demo');
    assert.deepEqual(budgets, [{ clientId: 'demo', campaignId: null, period: 'month', limitMicros: 5_000_000 }]);
    await rejectsWith(engine.setBudget({ clientId: 'demo', period: 'month', limitMicros: -1 }), 'invalid_request', /limit_micros/);
  });

  await t.test('providers lists the procedural provider', () => {
    const providers = engine.providers();
    assert.ok(Array.isArray(providers));
    assert.ok(JSON.stringify(providers).includes('procedural'));
  });
});

test('pruneJobs and assetUrl', async (t) => {
  const engine = await openEngine();
  t.after(() => engine.close());

  await t.test('pruneJobs deletes old finished jobs and keeps their assets', async () => {
    const done = await engine.wait((await engine.submit(imageRequest('old news'))).id);
    await new Promise((resolve) => setTimeout(resolve, 10)); // finishedAt counts milliseconds
    assert.equal(await engine.pruneJobs(3600), 0);
    assert.equal(await engine.pruneJobs(0), 1);
    await rejectsWith(engine.job(done.id), 'not_found');
    const asset = await engine.asset(done.assetIds[0]);
    assert.equal(asset.source.jobId, done.id);
    assert.deepEqual((await engine.readBytes(asset.id)).subarray(0, 8), PNG_SIGNATURE);
    assert.equal(await engine.pruneJobs(0), 0);
    await rejectsWith(engine.pruneJobs(-1), 'invalid_request', /olderThanS/);
    await rejectsWith(engine.pruneJobs(), 'invalid_request');
  });

  await t.test('assetUrl needs a blob store that signs', async () => {
    const asset = await engine.generate(imageRequest('local bytes'));
    await assert.rejects(engine.assetUrl(asset.id), (error) => {
      assert.ok(error instanceof GaiaError);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.field, 'blobs');
      return true;
    });
    await rejectsWith(engine.assetUrl('019ab3c2-8a44-7b11-8e90-2c4d6f8a0b31', { ttlS: 60 }), 'not_found');
    await rejectsWith(engine.assetUrl(asset.id, { ttlS: Number.NaN }), 'invalid_request', /ttlS/);
  });
});

/** `GAIA_TEST_S3_URL` (scripts/s3-server.sh) with a prefix of its own, or null (skipped). */
function s3Blobs(name) {
  const base = process.env.GAIA_TEST_S3_URL;
  if (!base) {
    assert.notEqual(process.env.GAIA_REQUIRE_SERVICES, '1', 'GAIA_REQUIRE_SERVICES=1 but GAIA_TEST_S3_URL is not set');
    return null;
  }
  const [location, query = ''] = base.split('?');
  return `${location.replace(/\/+$/, '')}/${name}-${Date.now()}-${process.pid}?${query}`;
}

test('assetUrl downloads from S3 without credentials', async (t) => {
  const blobs = s3Blobs('node-url');
  if (blobs === null) {
    t.skip('GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)');
    return;
  }
  const engine = await openEngine({ blobs });
  try {
    const asset = await engine.generate(imageRequest('signed'));
    const url = await engine.assetUrl(asset.id, { ttlS: 300 });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/.*Signature/);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), await engine.readBytes(asset.id));
  } finally {
    await engine.close();
  }
});

test('error codes', async (t) => {
  const engine = await openEngine();
  t.after(() => engine.close());

  await t.test('invalid_request names the field', async () => {
    await rejectsWith(engine.generate(imageRequest('x', { width: 0 })), 'invalid_request', /spec\.width/);
    await assert.rejects(engine.submit(imageRequest('x', { width: 0 })), (e) => e.field === 'spec.width');
    await rejectsWith(engine.job('not-a-uuid').catch((e) => { assert.equal(e.field, null); throw e; }), 'not_found');
    await rejectsWith(engine.submit({ kind: 'image', prompt: 'x' }), 'invalid_request', /client_id/);
    await rejectsWith(engine.submit(imageRequest('x', { clientId: 'bad id!' })), 'invalid_request', /client_id/);
    await rejectsWith(engine.submit(imageRequest('x', { nonsense: 1 })), 'invalid_request', /nonsense/);
    await rejectsWith(engine.jobs({ bogus: 1 }), 'invalid_request', /bogus/);
    await rejectsWith(engine.assets({ limit: 0 }), 'invalid_request', /limit/);
    await rejectsWith(engine.submit(imageRequest('x', { route: { provider: 'nobody', model: 'm' } })), 'invalid_request', /route/);
  });

  await t.test('not_found for unknown and malformed ids', async () => {
    await rejectsWith(engine.job('019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20'), 'not_found');
    await rejectsWith(engine.job('not-a-uuid'), 'not_found');
    await rejectsWith(engine.asset('not-a-uuid'), 'not_found');
    await rejectsWith(engine.readBytes('019ab3c2-8a44-7b11-8e90-2c4d6f8a0b31'), 'not_found');
    await rejectsWith(engine.wait('019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20'), 'not_found');
  });

  await t.test('conflict for an idempotency key reused with another request', async () => {
    await engine.submit(imageRequest('first', { idempotencyKey: 'k-1' }));
    const same = await engine.submit(imageRequest('first', { idempotencyKey: 'k-1' }));
    assert.equal(same.request.idempotencyKey, 'k-1');
    await rejectsWith(engine.submit(imageRequest('second', { idempotencyKey: 'k-1' })), 'conflict');
  });

  await t.test('no_provider when nothing can make the kind', async () => {
    await rejectsWith(engine.submit({ kind: 'video', prompt: 'campfire', clientId: 'demo' }), 'no_provider');
    const parent = await engine.generate(imageRequest('wall'));
    const edit = { op: 'edit', prompt: 'add moss', maskId: null };
    await rejectsWith(engine.submit({ spec: { kind: 'derive', parentId: parent.id, operation: edit }, clientId: 'test-client' }), 'no_provider');
    const upscale = { op: 'upscale', mode: 'creative' };
    await rejectsWith(engine.submit({ kind: 'derive', parentId: parent.id, operation: upscale, clientId: 'test-client' }), 'no_provider');
  });

  await t.test('a wrong argument type is an invalid_request', async () => {
    await rejectsWith(engine.job(42), 'invalid_request');
  });

  await t.test('GaiaError carries the code and is an Error', () => {
    const error = new GaiaError('provider_rejected', 'no', { retryable: false });
    assert.equal(error.name, 'GaiaError');
    assert.equal(error.code, 'provider_rejected');
    assert.equal(error.field, null);
    assert.equal(error.retryable, false);
    assert.ok(error instanceof Error);
    // Unless told otherwise, retryable follows the code as in the core.
    assert.equal(new GaiaError('provider_timeout', 'late').retryable, true);
    assert.equal(new GaiaError('provider_rate_limited', 'slow').retryable, true);
    assert.equal(new GaiaError('provider_rate_limited', 'quota', { retryable: false }).retryable, false);
    assert.equal(new GaiaError('provider_error', 'bad').retryable, false);
    assert.equal(new GaiaError('provider_error', 'bad', { retryable: true }).retryable, true);
  });

  await t.test('an error from the engine carries retryable and field', async () => {
    const invalid = await engine.submit({ kind: 'image', prompt: 'x', width: 0, clientId: 'demo' }).catch((e) => e);
    assert.ok(invalid instanceof GaiaError);
    assert.equal(invalid.code, 'invalid_request');
    assert.equal(invalid.field, 'spec.width');
    assert.equal(invalid.retryable, false);
  });

  await t.test('calls after close fail; closing twice is fine', async () => {
    const closing = await openEngine();
    await closing.close();
    await closing.close();
    await rejectsWith(closing.submit(imageRequest('late')), 'invalid_request', /closed/);
  });

  await t.test('Engine is opened with Engine.open only', () => {
    assert.throws(() => new Engine({}), (e) => e instanceof GaiaError && e.code === 'invalid_request');
  });

  await t.test('a bad configuration names the field', async () => {
    await assert.rejects(Engine.open({ workers: 1000 }), (e) => e.code === 'invalid_request' && /workers/.test(e.message));
    await assert.rejects(Engine.open({ nope: 1 }), (e) => e.code === 'invalid_request' && /nope/.test(e.message));
  });
});

test('100 concurrent generate calls all succeed', async () => {
  const engine = await openEngine({ workers: 4 });
  try {
    const assets = await Promise.all(
      Array.from({ length: 100 }, (_, i) => engine.generate(imageRequest(`crowd ${i}`, { seed: i, width: 8, height: 8 }))));
    assert.equal(assets.length, 100);
    assert.equal(new Set(assets.map((a) => a.id)).size, 100);
    assert.ok(assets.every((a) => a.type === 'image' && a.width === 8));
    const page = await engine.jobs({ clientId: 'test-client', status: 'succeeded', limit: 1000 });
    assert.equal(page.items.length, 100);
  } finally {
    await engine.close();
  }
});
