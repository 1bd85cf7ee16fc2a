'use strict';
// Providers written in JavaScript, in full jobs.
const test = require('node:test');
const assert = require('node:assert/strict');
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
    engine.registerProvider(jsProvider('js-rejects', async () => {
      throw new GaiaError('provider_rejected', 'the service refused the prompt');
    }));
    await assert.rejects(engine.generate(routed('js-rejects')), (e) => {
      assert.equal(e.code, 'provider_rejected');
      assert.match(e.message, /refused the prompt/);
      return true;
    });
  });

  await t.test('any other thrown error is a provider_error', async () => {
    engine.registerProvider(jsProvider('js-throws', async () => { throw new Error('socket hang up'); }));
    await assert.rejects(engine.generate(routed('js-throws')), (e) => e.code === 'provider_error' && /socket hang up/.test(e.message));
  });

  await t.test('a retryable error is retried', async () => {
    let calls = 0;
    engine.registerProvider(jsProvider('js-flaky', async () => {
      calls += 1;
      if (calls === 1) throw new GaiaError('provider_rate_limited', 'slow down', { retryable: true });
      return png;
    }));
    const asset = await engine.generate(routed('js-flaky'));
    assert.equal(asset.type, 'image');
    assert.equal(calls, 2);
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
