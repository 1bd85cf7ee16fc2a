// Imports the installed package as an ES module and makes one asset.
import { Engine, GaiaError } from 'gaia-engine';
import gaia from 'gaia-engine';

const engine = await Engine.open({ path: process.argv[2] });
const asset = await engine.generate({ kind: 'image', prompt: 'esm', width: 8, height: 8, clientId: 'esm' });
const bytes = await engine.readBytes(asset.id);
await engine.close();
if (gaia.Engine !== Engine || !(new GaiaError('internal', 'x') instanceof Error)) throw new Error('bad exports');
console.log(JSON.stringify({ type: asset.type, width: asset.width, bytes: bytes.length }));
