// The CommonJS view of the published types.
import gaia = require('gaia-engine');

async function main(): Promise<void> {
  const engine = await gaia.Engine.open({ path: '.gaia' });
  const asset = await engine.asset('id');
  if (asset.type === 'model') console.log(asset.vertexCount, asset.triangleCount);
  const codes: readonly gaia.ErrorCode[] = gaia.GaiaError.codes;
  console.log(codes);
}
void main();
