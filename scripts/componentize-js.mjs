// Build a JavaScript actor into a component: bundle SOURCE with esbuild (Warren's and
// WASI's imports left to the component model), then componentize it against WIT_DIR.
// Usage: node componentize-js.mjs SOURCE WIT_DIR OUT.wasm [--http] [--sdk DIR]
// `--http` leaves StarlingMonkey's `fetch()` on: the component then imports
// wasi:http/outgoing-handler, and its requests go out under the tenant's egress policy.
// Without it the component imports no wasi:http and starts faster.
// `--sdk DIR` resolves `@warren/actor` to DIR (the repository's guest-sdk/js) instead of
// node_modules.
import { build } from 'esbuild';
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [source, witPath, out, ...flags] = process.argv.slice(2);
if (!source || !witPath || !out) {
  console.error('usage: componentize-js.mjs SOURCE WIT_DIR OUT.wasm [--http] [--sdk DIR]');
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
// 'fetch-event' is the incoming-request side, which an actor never uses.
const disableFeatures = flags.includes('--http') ? ['fetch-event'] : ['http', 'fetch-event'];
const { component } = await componentize({
  sourcePath: bundle,
  witPath,
  worldName: 'warren-actor',
  disableFeatures,
});
await writeFile(out, component);
