'use strict';
// Providers written in JavaScript, in full jobs.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { GaiaError } = require('..');
const { openEngine, imageRequest } = require('./helpers');

/** A JavaScript provider named `name` whose `generate` is `generate`. */
function jsProvider(name, generate, price = { rule: 'per_output', micros: 1500 }) {
  return {
    name,
    models: [{ id: 'img', kind: 'image', price, description: 'a JavaScript test provider' }],
    generate,
  };
}

/** A request routed to the JavaScript provider `name`. */
const routed = (name, extra = {}) => imageRequest('from js', { route: { provider: name, model: 'img' }, ...extra });

test('JavaScript providers', async (t) => {
  const engine = await openEngine();
  t.after(() => engine.close());
  const png = await engine.readBytes((await engine.generate(imageRequest('source', { width: 8, height: 8 }))).id);

  await t.test('a JS provider runs a full job: call, progress, log, cost', async () => {
    const calls = [];
    engine.registerProvider(jsProvider('js-ok', async (call, ctx) => {
      calls.push(call);
      ctx.progress(50);
      ctx.log('info', 'calling the service');
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { outputs: [png], costMicros: 1500 };
    }));
    const events = [];
    engine.on('*', (e) => events.push(e));
    const asset = await engine.generate(routed('js-ok', { clientId: 'js-client' }));
    assert.equal(asset.type, 'image');
    assert.equal(asset.width, 8);
    assert.equal(asset.costMicros, 1500);
    assert.deepEqual(asset.source, {
      kind: 'generated', provider: 'js-ok', model: 'img', jobId: asset.source.jobId, prompt: 'from js',
    });
    assert.equal(calls.length, 1);
    assert.equal(calls[0].model, 'img');
    assert.equal(calls[0].attempt, 1);
    assert.equal(calls[0].jobId, asset.source.jobId);
    assert.equal(calls[0].spec.kind, 'image');
    assert.equal(calls[0].spec.negativePrompt, null);
    assert.deepEqual(calls[0].inputs, []);
    const job = await engine.job(asset.source.jobId);
    assert.equal(job.provider, 'js-ok');
    assert.equal(job.costMicros, 1500);
    const logs = await engine.jobLogs(job.id);
    assert.ok(logs.some((line) => line.message === 'calling the service'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const mine = events.filter((e) => e.jobId === job.id).map((e) => e.type);
    assert.ok(mine.includes('job_progress'));
    assert.ok(mine.includes('cost_recorded'));
    const costs = await engine.costs({ clientId: 'js-client' });
    assert.equal(costs.totalMicros, 1500);
  });

  await t.test('an array of Buffers makes several assets', async () => {
    engine.registerProvider(jsProvider('js-many', async (call) => Array.from({ length: call.spec.count }, () => png)));
    const job = await engine.wait((await engine.submit(routed('js-many', { count: 3 }))).id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.assetIds.length, 3);
  });

  await t.test('a thrown GaiaError keeps its code', async () => {
    let calls = 0;
    engine.registerProvider(jsProvider('js-rejects', async () => {
      calls += 1;
      throw new GaiaError('provider_rejected', 'the service refused the prompt');
    }));
    await assert.rejects(engine.generate(routed('js-rejects')), (e) => {
      assert.equal(e.code, 'provider_rejected');
      assert.match(e.message, /refused the prompt/);
      assert.equal(e.retryable, false);
      return true;
    });
    assert.equal(calls, 1, 'a rejection is not retried');
  });

  await t.test('any other thrown error is a provider_error', async () => {
    engine.registerProvider(jsProvider('js-throws', async () => { throw new Error('socket hang up'); }));
    await assert.rejects(engine.generate(routed('js-throws')), (e) => e.code === 'provider_error' && /socket hang up/.test(e.message));
  });

  await t.test('a rate limit is retried like a built-in provider\'s', async () => {
    let calls = 0;
    engine.registerProvider(jsProvider('js-flaky', async () => {
      calls += 1;
      if (calls === 1) throw new GaiaError('provider_rate_limited', 'slow down');
      return png;
    }));
    const job = await engine.wait((await engine.submit(routed('js-flaky'))).id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.attempts, 2);
    assert.equal(calls, 2);
    const logs = await engine.jobLogs(job.id);
    assert.ok(logs.some((line) => /rate limited/.test(line.message)), JSON.stringify(logs));
  });

  await t.test('an error thrown as a plain object with a stable code maps the same way', async () => {
    let calls = 0;
    engine.registerProvider(jsProvider('js-plain-timeout', async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('too slow'), { code: 'provider_timeout' });
      return png;
    }));
    const job = await engine.wait((await engine.submit(routed('js-plain-timeout'))).id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.attempts, 2);
  });

  await t.test('a retryable error reaches JavaScript with retryable true', async () => {
    engine.registerProvider(jsProvider('js-always-late', async () => {
      throw new GaiaError('provider_timeout', 'the service did not answer');
    }));
    await assert.rejects(engine.generate(routed('js-always-late')), (e) => {
      assert.ok(e instanceof GaiaError);
      assert.equal(e.code, 'provider_timeout');
      assert.equal(e.retryable, true);
      return true;
    });
  });

  await t.test('an explicit retryable is kept', async () => {
    let quota = 0;
    engine.registerProvider(jsProvider('js-quota', async () => {
      quota += 1;
      throw new GaiaError('provider_rate_limited', 'quota exhausted', { retryable: false });
    }));
    const failed = await engine.wait((await engine.submit(routed('js-quota'))).id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, 1);
    assert.equal(quota, 1);
    assert.deepEqual(failed.error, { code: 'provider_rate_limited', message: 'quota exhausted', retryable: false });

    let errors = 0;
    engine.registerProvider(jsProvider('js-5xx', async () => {
      errors += 1;
      if (errors === 1) throw new GaiaError('provider_error', 'bad gateway', { retryable: true });
      return png;
    }));
    const retried = await engine.wait((await engine.submit(routed('js-5xx'))).id);
    assert.equal(retried.status, 'succeeded', JSON.stringify(retried.error));
    assert.equal(retried.attempts, 2);
  });

  await t.test('bytes that are not an image are invalid_output', async () => {
    engine.registerProvider(jsProvider('js-garbage', async () => Buffer.from('not a png')));
    await assert.rejects(engine.generate(routed('js-garbage')), (e) => e.code === 'invalid_output');
  });

  await t.test('a budget refuses a JS provider\'s estimate', async () => {
    engine.registerProvider(jsProvider('js-priced', async () => png, { rule: 'per_output', micros: 2_000_000 }));
    await engine.setBudget({ clientId: 'thrifty', period: 'total', limitMicros: 1_000_000 });
    await assert.rejects(engine.generate(routed('js-priced', { clientId: 'thrifty' })), (e) => e.code === 'budget_exceeded');
  });

  await t.test('canceling a running JS call ends the job and tells the provider', async () => {
    let context;
    let started;
    const running = new Promise((resolve) => { started = resolve; });
    engine.registerProvider(jsProvider('js-hangs', async (call, ctx) => {
      context = ctx;
      started();
      await new Promise((resolve) => setTimeout(resolve, 300));
      return png;
    }));
    const job = await engine.submit(routed('js-hangs'));
    // A provider does not keep the process alive; a pending engine call does.
    const finished = engine.wait(job.id);
    await running;
    assert.equal(context.canceled, false);
    await engine.cancel(job.id);
    const done = await finished;
    assert.equal(done.status, 'canceled');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(context.canceled, true);
  });

  await t.test('a provider without generate or with a bad descriptor is refused', () => {
    assert.throws(() => engine.registerProvider({ name: 'x', models: [] }), (e) => e.code === 'invalid_request');
    assert.throws(() => engine.registerProvider({ name: 'y', models: [{ id: 'm', kind: 'sculpture' }], generate() {} }),
      (e) => e.code === 'invalid_request');
    assert.throws(() => engine.registerProvider(jsProvider('js-ok', async () => png)),
      (e) => e.code === 'invalid_request' && /js-ok/.test(e.message));
  });
});

test('JavaScript providers performing a derived operation', async (t) => {
  const engine = await openEngine();
  t.after(() => engine.close());

  await t.test('an upscale model is routed a derivation and reads its parent', async () => {
    const calls = [];
    const seen = [];
    engine.registerProvider({
      name: 'js-upscaler',
      models: [{ id: 'x4', kind: 'image', operation: 'upscale' }],
      async generate(call) {
        calls.push(call);
        const [input] = call.inputs;
        const bytes = await fs.promises.readFile(input.path);
        seen.push(bytes);
        return bytes;
      },
    });
    const models = engine.providers().find((p) => p.name === 'js-upscaler').models;
    assert.deepEqual(models.map((m) => [m.id, m.operation]), [['x4', 'upscale']]);

    const parent = await engine.generate({ kind: 'image', prompt: 'moss', width: 16, height: 16, clientId: 'demo' });
    const parentBytes = await engine.readBytes(parent.id);
    const job = await engine.wait((await engine.submit({
      clientId: 'demo', spec: { kind: 'derive', parentId: parent.id, operation: { op: 'upscale' } },
    })).id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.provider, 'js-upscaler');
    assert.equal(job.model, 'x4');

    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.model, 'x4');
    assert.equal(call.jobId, job.id);
    assert.deepEqual(call.spec, { kind: 'derive', parentId: parent.id, operation: { op: 'upscale', prompt: null, mode: 'fast' } });
    assert.equal(call.inputs.length, 1);
    const [input] = call.inputs;
    assert.deepEqual(Object.keys(input).sort(), ['asset', 'path', 'role']);
    assert.equal(input.role, 'parent');
    assert.equal(typeof input.path, 'string');
    // The input's asset is camelCased like any other asset.
    assert.deepEqual(input.asset, parent);
    assert.equal(input.asset.id, parent.id);
    assert.equal(input.asset.clientId, 'demo');
    assert.ok(seen[0].equals(parentBytes), 'the input file holds the parent\'s bytes');

    assert.equal(job.assetIds.length, 1);
    const derived = await engine.asset(job.assetIds[0]);
    assert.deepEqual(derived.source, { kind: 'derived', parentId: parent.id, operation: 'upscale' });
    assert.ok((await engine.readBytes(derived.id)).equals(parentBytes));
  });

  await t.test('a model may only declare an operation a provider performs', () => {
    for (const operation of ['thumbnail', 'nonsense']) {
      assert.throws(() => engine.registerProvider({
        name: `js-${operation}`,
        models: [{ id: 'm', kind: 'image', operation }],
        generate() {},
      }), (e) => {
        assert.ok(e instanceof GaiaError);
        assert.equal(e.code, 'invalid_request');
        assert.match(e.message, /models\[0\]\.operation/);
        assert.equal(e.field, 'models[0].operation');
        return true;
      });
    }
  });
});
