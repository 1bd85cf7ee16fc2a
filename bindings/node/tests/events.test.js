'use strict';
// Events: listeners on the JavaScript thread, in order, never keeping the process alive.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { openEngine, imageRequest, tempDir } = require('./helpers');

const JOB_ORDER = ['job_queued', 'job_started', 'asset_created', 'cost_recorded', 'job_succeeded'];

test('a job\'s events arrive in order with increasing seq', async () => {
  const engine = await openEngine();
  try {
    const events = [];
    engine.on('*', (event) => events.push(event));
    const queued = [];
    engine.on('job_queued', (event) => queued.push(event));
    const asset = await engine.generate(imageRequest('evented'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const types = events.map((e) => e.type).filter((t) => JOB_ORDER.includes(t));
    assert.deepEqual(types, JOB_ORDER);
    assert.equal(events[0].type, 'job_queued');
    assert.equal(events[0].clientId, 'test-client');
    for (let i = 1; i < events.length; i += 1) assert.ok(events[i].seq > events[i - 1].seq);
    assert.ok(events.every((e) => e.jobId === asset.source.jobId));
    assert.equal(events.find((e) => e.type === 'asset_created').assetId, asset.id);
    assert.deepEqual(events.find((e) => e.type === 'job_succeeded').assetIds, [asset.id]);
    assert.equal(queued.length, 1);
  } finally {
    await engine.close();
  }
});

test('off stops a listener; a throwing listener does not disturb the engine', async (t) => {
  const engine = await openEngine();
  try {
    const seen = [];
    const listener = (event) => seen.push(event.type);
    const thrower = () => { throw new Error('listener bug'); };
    const warnings = [];
    const emitWarning = process.emitWarning;
    process.emitWarning = (warning) => warnings.push(warning);
    t.after(() => { process.emitWarning = emitWarning; });
    engine.on('*', thrower);
    engine.on('*', listener);
    await engine.generate(imageRequest('one'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const count = seen.length;
    assert.ok(count >= 5);
    assert.equal(warnings.length, count);
    assert.match(String(warnings[0]), /listener bug/);
    engine.off('*', listener);
    engine.off('*', thrower);
    await engine.generate(imageRequest('two'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(seen.length, count);
  } finally {
    await engine.close();
  }
});

test('the async iterator yields events in order and ends on return', async () => {
  const engine = await openEngine();
  try {
    const iterator = engine.events();
    const job = await engine.submit(imageRequest('iterated'));
    // Listeners do not keep the process alive; a pending engine call does.
    const finished = engine.wait(job.id);
    const types = [];
    for await (const event of iterator) {
      if (event.jobId !== job.id) continue;
      types.push(event.type);
      if (event.type === 'job_succeeded') break;
    }
    assert.deepEqual(types.filter((t) => JOB_ORDER.includes(t)), JOB_ORDER);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    assert.equal((await finished).status, 'succeeded');
  } finally {
    await engine.close();
  }
});

test('a listener alone does not keep the process alive', () => {
  const script = `
    const { Engine } = require(${JSON.stringify(path.join(__dirname, '..'))});
    Engine.open({ path: ${JSON.stringify(path.join(tempDir(), 'gaia'))} }).then((engine) => {
      engine.on('*', () => {});
      (async () => { for await (const _ of engine.events()) {} })();
      console.log('open');
    });
  `;
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(child.error, undefined, 'the process did not exit by itself');
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'open');
});
