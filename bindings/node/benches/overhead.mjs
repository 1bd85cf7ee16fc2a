// Per-call overhead of `engine.asset(id)` from Node: 10,000 sequential calls
// on one asset, in microseconds per call. Compare with the same call from
// Rust: `cargo run -p gaia-node --example overhead`.
//
//   node benches/overhead.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../index.mjs';

const CALLS = 10_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gaia-bench-'));
try {
  const engine = await Engine.open({ path: path.join(dir, 'gaia') });
  const asset = await engine.generate({ kind: 'image', prompt: 'bench', width: 8, height: 8, clientId: 'bench' });
  for (let i = 0; i < 500; i += 1) await engine.asset(asset.id);
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += 1) await engine.asset(asset.id);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / CALLS;
  console.log(`node: engine.asset(id): ${micros.toFixed(1)} µs/call over ${CALLS} calls`);
  await engine.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
