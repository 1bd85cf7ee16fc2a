'use strict';
// An engine garbage collected without close() stops its workers (run in a
// child process with --expose-gc, so collection can be forced).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { tempDir } = require('./helpers');

/**
 * Engine A, with a listener attached, starts a job whose JavaScript provider
 * never answers, and is dropped without close(). Once A is collected, its
 * close (started by the native finalizer) releases the job; engine B on the
 * same store runs it with its own provider. Were A's workers still running,
 * A would hold the job (its heartbeat renewing the lease) and B would never
 * get it.
 */
const SCRIPT = `
const { Engine } = require(${JSON.stringify(path.join(__dirname, '..'))});
const dir = process.argv[1];
const config = { path: dir, workers: 1, leaseS: 60, shutdownGraceS: 0,
                 retry: { baseDelayMs: 10, maxDelayMs: 50, attemptsPerProvider: 2 } };
const route = { provider: 'js-gc', model: 'img' };
const models = [{ id: 'img', kind: 'image' }];
const held = [];
let collected = false;
const registry = new FinalizationRegistry(() => { collected = true; });
const turn = () => new Promise((resolve) => setImmediate(resolve));

async function startInA() {
  const a = await Engine.open(config);
  a.on('*', () => {});
  const png = await a.readBytes((await a.generate({ kind: 'image', prompt: 'p', width: 8, height: 8, clientId: 'gc' })).id);
  let started;
  const running = new Promise((resolve) => { started = resolve; });
  // The call never answers; its context is kept (a collected context ends the call).
  a.registerProvider({ name: 'js-gc', models, generate(call, ctx) { held.push(ctx); started(); return new Promise(() => {}); } });
  const job = await a.submit({ kind: 'image', prompt: 'held', width: 8, height: 8, clientId: 'gc', route });
  await running;
  registry.register(a, 'a');
  return { jobId: job.id, png };
}

// Nothing else keeps the process alive while the providers run: engine
// listeners and providers are unref'd.
const alive = setInterval(() => {}, 1000);
(async () => {
  const { jobId, png } = await startInA();
  // B, ready before A goes: until A releases the job, B cannot claim it.
  const b = await Engine.open(config);
  const calls = [];
  b.registerProvider({ name: 'js-gc', models, async generate(call) { calls.push(call.jobId); return png; } });
  for (let i = 0; i < 20 && !collected; i += 1) { global.gc(); await turn(); }
  if (!collected) throw new Error('engine A was not collected');
  for (let i = 0; i < 5; i += 1) { global.gc(); await turn(); }
  const job = await b.wait(jobId);
  const logs = (await b.jobLogs(jobId)).map((line) => line.message);
  await b.close();
  console.log(JSON.stringify({ status: job.status, provider: job.provider, calls, jobId, logs }));
  clearInterval(alive);
})().catch((error) => { console.error(error); process.exit(1); });
`;

test('an engine collected without close() stops its workers and releases its job', () => {
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', SCRIPT, path.join(tempDir(), 'gaia')],
    { timeout: 30_000, encoding: 'utf8' });
  assert.equal(child.error, undefined, `the job was never released: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const result = JSON.parse(child.stdout.trim());
  assert.equal(result.status, 'succeeded', result.logs.join('\n'));
  assert.equal(result.provider, 'js-gc');
  assert.deepEqual(result.calls, [result.jobId]);
});
