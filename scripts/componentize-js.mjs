// Build a JavaScript actor into a component: bundle SOURCE with esbuild (Warren's and
// WASI's imports left to the component model), then componentize it against WIT_DIR.
// Usage: node componentize-js.mjs SOURCE WIT_DIR OUT.wasm [--keep-http] [--sdk DIR]
// `--keep-http` leaves StarlingMonkey's HTTP features on: a component then imports
// wasi:http, which Warren does not provide (for the test of a refused import).
// `--sdk DIR` resolves `@warren/actor` to DIR (the repository's guest-sdk/js) instead of
// node_modules.
import { build } from 'esbuild';
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [source, witPath, out, ...flags] = process.argv.slice(2);
if (!source || !witPath || !out) {
  console.error('usage: componentize-js.mjs SOURCE WIT_DIR OUT.wasm [--keep-http] [--sdk DIR]');
  process.exit(2);
}
const sdk = flags.includes('--sdk') ? flags[flags.indexOf('--sdk') + 1] : undefined;
const bundle = join(await mkdtemp(join(tmpdir(), 'warren-js-')), 'bundle.js');
await build({
  entryPoints: [source],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  external: ['warren:*', 'wasi:*'],
  alias: sdk ? { '@warren/actor': resolve(sdk, 'index.js') } : {},
  outfile: bundle,
  logLevel: 'warning',
});
const disableFeatures = flags.includes('--keep-http') ? [] : ['http', 'fetch-event'];
const { component } = await componentize({
  sourcePath: bundle,
  witPath,
  worldName: 'warren-actor',
  disableFeatures,
});
await writeFile(out, component);
