// gaia-engine, ES module entry point: the same objects as the CommonJS one.
import gaia from './index.js';

export const { Engine, GaiaError, wire } = gaia;
export default gaia;
