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

/** Resolves to `promise`, or rejects after `ms` saying what did not happen. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('close delivers the queued events, then ends every event iterator', async (t) => {
  // Providers and listeners do not keep the process alive; this does.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  // A grace period long enough for the running job to end during close.
  const engine = await openEngine({ shutdownGraceS: 30 });
  const png = await engine.readBytes((await engine.generate(imageRequest('source', { width: 8, height: 8 }))).id);
  let started;
  const running = new Promise((resolve) => { started = resolve; });
  let go;
  const going = new Promise((resolve) => { go = resolve; });
  // Once close has begun, the call logs many lines (more events than Node
  // hands a listener in one turn) and ends the job.
  engine.registerProvider({
    name: 'js-slow',
    models: [{ id: 'img', kind: 'image' }],
    async generate(call, ctx) {
      started();
      await going;
      for (let i = 0; i < 2500; i += 1) ctx.log('info', `line ${i}`);
      return png;
    },
  });
  const seen = [];
  const consumed = (async () => {
    for await (const event of engine.events()) seen.push(event);
  })();
  const idle = engine.events();
  const pending = idle.next();
  const heard = [];
  engine.on('job_succeeded', (event) => heard.push(event));
  // A listener that holds Node's thread at the first log line: meanwhile the
  // job ends and the engine closes, with the job's events still queued.
  let held = false;
  engine.on('job_log', () => {
    if (held) return;
    held = true;
    const until = Date.now() + 1000;
    while (Date.now() < until) { /* busy */ }
  });

  const job = await engine.submit(imageRequest('closing', { route: { provider: 'js-slow', model: 'img' } }));
  await running;
  const closing = engine.close();
  go();
  await within(closing, 20_000, 'close did not resolve');
  // The job ended during close; its last event reached the listener before close resolved.
  assert.deepEqual(heard.map((e) => e.jobId), [job.id]);

  await within(consumed, 5_000, 'the for-await loop did not end after close');
  const mine = seen.filter((e) => e.jobId === job.id).map((e) => e.type);
  assert.deepEqual(mine.filter((t) => JOB_ORDER.includes(t)), JOB_ORDER);
  assert.equal(mine.at(-1), 'job_succeeded');
  // An iterator nobody read: its queued events first, then done, and done it stays.
  const first = await within(pending, 5_000, 'a pending next() did not settle after close');
  assert.equal(first.done, false);
  let rest = 0;
  for await (const _ of idle) rest += 1;
  assert.equal(rest + 1, seen.length);
  assert.deepEqual(await idle.next(), { value: undefined, done: true });
  // An iterator made after close ends at once.
  assert.deepEqual(await within(engine.events().next(), 1_000, 'a late iterator did not end'),
    { value: undefined, done: true });
});

test('a pending next() resolves done when close finds no event to deliver', async () => {
  const engine = await openEngine();
  const iterator = engine.events();
  const pending = iterator.next();
  await engine.close();
  assert.deepEqual(await within(pending, 5_000, 'a pending next() did not settle after close'),
    { value: undefined, done: true });
});
