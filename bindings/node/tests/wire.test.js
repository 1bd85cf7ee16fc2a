'use strict';
// The shared wire fixtures convert to JavaScript objects and back unchanged,
// both in the JavaScript layer and through Gaia's Rust types.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { GaiaError, wire } = require('..');

const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'wire');
const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json') && f !== 'error_codes.json');

/** The Rust type a fixture's file name names. */
function wireType(file) {
  const stem = file.replace(/\.json$/, '');
  const whole = ['page_jobs', 'budget', 'config', 'error', 'costs_report', 'import_request', 'search_results', 'usage_summary'];
  if (whole.includes(stem)) return stem;
  return stem.split('_')[0];
}

/** Every key of a converted object outside `metadata` and provider names. */
function keysOf(value, out = []) {
  if (Array.isArray(value)) value.forEach((item) => keysOf(item, out));
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      out.push(key);
      if (key === 'metadata') continue;
      if (key === 'providers') Object.values(inner).forEach((item) => keysOf(item, out));
      else keysOf(inner, out);
    }
  }
  return out;
}

test('there is a fixture of every kind', () => {
  assert.ok(files.length >= 20, `only ${files.length} fixtures`);
});

for (const file of files) {
  test(`fixture ${file} converts to camelCase and back unchanged`, () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
    const object = wire.fromWire(fixture);
    for (const key of keysOf(object)) assert.doesNotMatch(key, /_/, `key ${key} of ${file}`);
    assert.deepEqual(wire.toWire(object), fixture);
    const throughRust = JSON.parse(wire.roundTrip(wireType(file), JSON.stringify(wire.toWire(object))));
    assert.deepEqual(throughRust, fixture);
  });
}

test('enum values and metadata contents keep their spelling', () => {
  const asset = wire.fromWire(JSON.parse(fs.readFileSync(path.join(FIXTURES, 'asset_image.json'), 'utf8')));
  assert.equal(asset.type, 'image');
  assert.equal(asset.costMicros, 0);
  assert.equal(asset.source.jobId, '019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20');
  const event = wire.fromWire({ type: 'job_queued', job_id: 'x', metadata: { snake_key: { inner_key: 1 } } });
  assert.deepEqual(event, { type: 'job_queued', jobId: 'x', metadata: { snake_key: { inner_key: 1 } } });
});

test('the error codes match error_codes.json in status order', () => {
  const codes = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'error_codes.json'), 'utf8'));
  assert.deepEqual([...GaiaError.codes], codes.map((c) => c.code));
});

test('a fixture of an unknown type is an invalid_request', () => {
  assert.throws(() => wire.roundTrip('nope', '{}'), (e) => e instanceof GaiaError && e.code === 'invalid_request');
});
