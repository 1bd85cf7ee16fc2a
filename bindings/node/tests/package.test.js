'use strict';
// The published package: `npm pack`, installed into a fresh project, imported
// from ESM and CommonJS, and its types checked with `tsc --noEmit`.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { tempDir } = require('./helpers');

const PACKAGE = path.join(__dirname, '..');
const FILES = path.join(__dirname, 'package');
const TSC = path.join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
  { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('the packed package installs and works from ESM, CommonJS and TypeScript', async (t) => {
  const project = tempDir();
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', project], PACKAGE))[0];
  const files = packed.files.map((f) => f.path).sort();
  for (const expected of ['index.js', 'index.mjs', 'index.d.ts', 'native.js', 'README.md', 'package.json']) {
    assert.ok(files.includes(expected), `${expected} is not packed: ${files}`);
  }
  assert.ok(files.some((f) => f.endsWith('.node')), 'the addon is not packed');
  assert.ok(!files.some((f) => f.startsWith('tests/') || f.startsWith('src/')), 'sources are packed');

  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  npm(['install', '--offline', path.join(project, packed.filename)], project);
  for (const file of fs.readdirSync(FILES)) fs.copyFileSync(path.join(FILES, file), path.join(project, file));

  await t.test('ESM import', () => {
    const out = execFileSync(process.execPath, ['esm.mjs', path.join(project, 'esm-gaia')], { cwd: project, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out).type, 'image');
  });

  await t.test('CommonJS require', () => {
    const out = execFileSync(process.execPath, ['cjs.cjs', path.join(project, 'cjs-gaia')], { cwd: project, encoding: 'utf8' });
    assert.equal(JSON.parse(out).width, 8);
  });

  await t.test('tsc --noEmit against the published types', () => {
    const tsconfig = {
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext',
        types: ['node'], typeRoots: [path.join(PACKAGE, 'node_modules', '@types')], skipLibCheck: false,
      },
      files: ['check.mts', 'check.cts'],
    };
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    try {
      execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    } catch (error) {
      assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`);
    }
  });
});
