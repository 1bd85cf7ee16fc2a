// Requires the installed package as CommonJS and makes one asset.
const { Engine, GaiaError } = require('gaia-engine');

(async () => {
  const engine = await Engine.open({ path: process.argv[2] });
  const asset = await engine.generate({ kind: 'image', prompt: 'cjs', width: 8, height: 8, clientId: 'cjs' });
  const bytes = await engine.readBytes(asset.id);
  await engine.close();
  if (typeof GaiaError !== 'function') throw new Error('no GaiaError');
  console.log(JSON.stringify({ type: asset.type, width: asset.width, bytes: bytes.length }));
})().catch((error) => { console.error(error); process.exit(1); });
