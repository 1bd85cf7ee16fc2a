'use strict';
// Shared helpers of the gaia-engine tests: engines on temporary folders.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Engine } = require('..');

/** A fresh temporary folder, removed when the process exits. */
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gaia-node-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An engine on a temporary folder with fast retries and a short grace period. */
async function openEngine(options = {}) {
  return Engine.open({
    path: path.join(tempDir(), 'gaia'),
    workers: 2,
    leaseS: 5,
    shutdownGraceS: 0,
    retry: { baseDelayMs: 10, maxDelayMs: 50, attemptsPerProvider: 2 },
    ...options,
  });
}

/** A small image request for the procedural provider. */
function imageRequest(prompt = 'mossy stone', extra = {}) {
  return { kind: 'image', prompt, width: 16, height: 16, seed: 1, clientId: 'test-client', ...extra };
}

/** The PNG file signature. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

module.exports = { tempDir, openEngine, imageRequest, PNG_SIGNATURE };
