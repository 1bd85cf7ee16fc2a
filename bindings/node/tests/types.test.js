'use strict';
// index.d.ts against what the engine really sends: every wire fixture, and
// the values of a live engine, are written as TypeScript object literals typed
// with the published interfaces and checked with `tsc --noEmit`. An object
// literal may have no key its type lacks and must have every key its type
// requires, so a field added to (or renamed in) the wire format without its
// typing fails here.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { wire } = require('..');
const { openEngine, imageRequest, tempDir } = require('./helpers');

const PACKAGE = path.join(__dirname, '..');
const FIXTURES = path.join(PACKAGE, '..', '..', 'tests', 'wire');
const TSC = path.join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');

/** The index.d.ts type of each fixture, by file name (`asset_*.json` is an `Asset`). */
const FIXTURE_TYPES = {
  asset: 'gaia.Asset',
  budget: 'gaia.Budget',
  config: 'gaia.EngineConfig',
  costs_report: 'gaia.CostReport',
  error: 'gaia.JobError',
  event: 'gaia.Event',
  import_request: 'gaia.ImportRequest',
  job: 'gaia.Job',
  page_jobs: 'gaia.Page<gaia.Job>',
  request: 'gaia.Request',
  search_results: 'gaia.ScoredAsset[]',
};
/** Fixtures of wire types no Node call takes or returns (so index.d.ts has no type for them). */
const NOT_IN_NODE = new Set(['error_codes', 'usage_summary']);

function fixtureType(file) {
  const stem = file.replace(/\.json$/, '');
  return FIXTURE_TYPES[stem] ?? FIXTURE_TYPES[stem.split('_')[0]];
}

/** `export const <name>: <type> = <value as a literal>;` */
const declaration = (name, type, value) =>
  `export const ${name}: ${type} = ${JSON.stringify(value, null, 2)};\n`;

/** Runs tsc on `files` of `dir`; the error lines of its output (empty when it passed). */
function typeCheck(dir, files) {
  const tsconfig = {
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'commonjs', moduleResolution: 'node10',
      types: ['node'], typeRoots: [path.join(PACKAGE, 'node_modules', '@types')],
    },
    files,
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  try {
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    return [];
  } catch (error) {
    const lines = `${error.stdout}${error.stderr}`.split('\n').filter((line) => /error TS/.test(line));
    assert.ok(lines.length > 0, `tsc failed without errors: ${error.stdout}${error.stderr}`);
    return lines;
  }
}

test('every wire fixture has its type in index.d.ts, and the live values match theirs', async () => {
  const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  const header = `import type * as gaia from ${JSON.stringify(path.join(PACKAGE, 'index'))};\n`;

  let fixtures = header;
  for (const [i, file] of files.entries()) {
    if (NOT_IN_NODE.has(file.replace(/\.json$/, ''))) continue;
    const type = fixtureType(file);
    assert.ok(type, `${file}: no index.d.ts type is known for it (add it to FIXTURE_TYPES)`);
    const value = wire.fromWire(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')));
    fixtures += `// ${file}\n${declaration(`fixture${i}`, type, value)}`;
  }

  // What a live engine returns, for the types no fixture covers.
  const engine = await openEngine();
  let live = header;
  try {
    const events = [];
    engine.on('*', (event) => events.push(event));
    const png = await engine.readBytes((await engine.generate(imageRequest('typed', { width: 8, height: 8 }))).id);
    const calls = [];
    engine.registerProvider({
      name: 'js-typed',
      models: [{ id: 'img', kind: 'image', price: { rule: 'per_output', micros: 10 } }],
      async generate(call, ctx) {
        calls.push(call);
        ctx.log('info', 'typed');
        return { outputs: [png], costMicros: 10 };
      },
    });
    const asset = await engine.generate(imageRequest('typed js', { route: { provider: 'js-typed', model: 'img' } }));
    const job = await engine.job(asset.source.jobId);
    await engine.setBudget({ clientId: 'test-client', period: 'month', limitMicros: 1_000_000 });
    assert.equal(calls.length, 1, 'the JavaScript provider was not called');
    const values = {
      'gaia.ProviderInfo[]': engine.providers(),
      'gaia.ProviderCall': calls[0],
      'gaia.Job': job,
      'gaia.LogLine[]': await engine.jobLogs(job.id),
      'gaia.Asset': asset,
      'gaia.Page<gaia.Job>': await engine.jobs({ limit: 2 }),
      'gaia.Page<gaia.Asset>': await engine.assets({ limit: 2 }),
      'gaia.CostReport': await engine.costs({ groupBy: 'model' }),
      'gaia.Budget[]': await engine.budgets('test-client'),
      '{ asset: gaia.Asset; existing: boolean }': await engine.import(png, { clientId: 'test-client', name: 'x' }),
      'gaia.ScoredAsset[]': await engine.search('typed', { clientId: 'test-client' }),
    };
    await new Promise((resolve) => setTimeout(resolve, 50));
    values['gaia.Event[]'] = events;
    for (const [i, [type, value]] of Object.entries(values).entries()) {
      live += declaration(`live${i}`, type, value);
    }
  } finally {
    await engine.close();
  }

  // The check can fail: a key too many and a key missing are both errors.
  const job = wire.fromWire(JSON.parse(fs.readFileSync(path.join(FIXTURES, 'job_succeeded.json'), 'utf8')));
  const { reused, ...missing } = job;
  const canary = `${header}${declaration('extra', 'gaia.Job', { ...job, notAField: 1 })}${declaration('missing', 'gaia.Job', missing)}`;
  assert.equal(reused, false);

  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'fixtures.ts'), fixtures);
  fs.writeFileSync(path.join(dir, 'live.ts'), live);
  fs.writeFileSync(path.join(dir, 'canary.ts'), canary);
  const errors = typeCheck(dir, ['fixtures.ts', 'live.ts', 'canary.ts']);
  const outside = errors.filter((line) => !line.startsWith('canary.ts'));
  assert.deepEqual(outside, [], `index.d.ts does not match the wire:\n${outside.join('\n')}`);
  const canaryErrors = errors.filter((line) => line.startsWith('canary.ts')).join('\n');
  assert.match(canaryErrors, /notAField/);
  assert.match(canaryErrors, /reused/);
});
