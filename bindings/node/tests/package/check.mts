// Type-checked against the published index.d.ts with `tsc --noEmit`.
import { readFile } from 'node:fs/promises';
import {
  Engine, GaiaError, type Asset, type CallInput, type Event, type Job, type JsProvider, type JsProviderModel,
} from 'gaia-engine';

const engine: Engine = await Engine.open({ path: '.gaia', workers: 2, providers: { procedural: { enabled: true } } });
const asset: Asset = await engine.generate({
  kind: 'image', prompt: 'mossy stone wall', width: 512, height: 512, tileable: true, seed: 7, clientId: 'demo',
});
if (asset.type === 'image') {
  const side: number = asset.width + asset.height;
  const micros: number = asset.costMicros;
  console.log(side, micros);
}
if (asset.type === 'audio') console.log(asset.durationS, asset.sampleRate);
// @ts-expect-error: width exists on images only, so the union must be narrowed first
console.log(asset.width);

const bytes: Buffer = await engine.readBytes(asset.id);
const pruned: number = await engine.pruneJobs(30 * 86400);
try {
  const url: string = await engine.assetUrl(asset.id, { ttlS: 600 });
  console.log(url, await engine.assetUrl(asset.id));
} catch (error) {
  if (error instanceof GaiaError && error.field === 'blobs') console.log(pruned);
}
const job: Job = await engine.submit({ clientId: 'demo', spec: { kind: 'model', prompt: 'rock', detail: 'low' } });
const done: Job = await engine.wait(job.id);
if (done.error !== null) console.log(done.error.code === 'provider_rejected');
const page = await engine.assets({ clientId: 'demo', type: 'image', limit: 10 });
const next: string | null = page.nextCursor;
engine.on('job_succeeded', (event) => console.log(event.assetIds, event.costMicros));
engine.on('*', (event: Event) => console.log(event.seq, event.type));
for await (const event of engine.events()) {
  if (event.type === 'job_progress') console.log(event.progress);
  break;
}
const provider: JsProvider = {
  name: 'my-service',
  models: [{ id: 'v1', kind: 'image', price: { rule: 'per_output', micros: 40_000 } }],
  async generate(call, ctx) {
    ctx.progress(50);
    if (call.spec.kind !== 'image') throw new GaiaError('invalid_request', 'images only');
    return { outputs: [Buffer.alloc(0)], costMicros: 40_000 };
  },
};
engine.registerProvider(provider);
const upscaler: JsProvider = {
  name: 'my-upscaler',
  models: [{ id: 'x4', kind: 'image', operation: 'upscale' }],
  async generate(call) {
    const parent: CallInput | undefined = call.inputs.find((input) => input.role === 'parent');
    if (parent === undefined || call.spec.kind !== 'derive') throw new GaiaError('invalid_request', 'derivations only');
    const op: string = call.spec.operation.op;
    if (parent.asset.type === 'image') console.log(parent.asset.width, op);
    return readFile(parent.path);
  },
};
engine.registerProvider(upscaler);
// @ts-expect-error: a model may only declare an operation a provider performs
const local: JsProviderModel = { id: 'thumbs', kind: 'image', operation: 'thumbnail' };
console.log(local);
const derived: Job = await engine.submit({
  clientId: 'demo', spec: { kind: 'derive', parentId: asset.id, operation: { op: 'upscale', mode: 'fast' } },
});
console.log(derived.id);
try {
  await engine.job('nope');
} catch (error) {
  if (error instanceof GaiaError && error.code === 'not_found') console.log(error.message);
}
console.log(bytes.length, next, (await engine.costs({ groupBy: 'provider' })).totalMicros);
await engine.close();
