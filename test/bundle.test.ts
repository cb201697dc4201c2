/**
 * The package as an app sees it: ESM with type declarations, no globals or handles left behind
 * by importing it, tree-shakable (sideEffects: false holds), and the bundle size that the README
 * reports (minified + gzipped). Needs `npm run build`: dist/esm/ holds one module per source
 * file (what bundlers get through package.json "exports", so they can drop unused modules);
 * dist/index.js is the same library as one file, for a plain <script type="module">.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const dist = `${root}dist/index.js`;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

/** Minified (and gzipped) size of a bundle of `entry` (source text) importing the package. */
async function bundleSize(entry: string): Promise<{ min: number; gzip: number; text: string }> {
  const r = await build({
    stdin: { contents: entry, resolveDir: root, loader: 'js' },
    // as an app's bundler sees the package: through package.json (exports, sideEffects)
    bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
    external: ['webgpu'], loader: { '.wgsl': 'text' },
    plugins: [{
      name: 'webtensor-exports',
      setup(b) {
        // what a bundler resolves 'webtensor' and 'webtensor/vis' to through package.json "exports"
        b.onResolve({ filter: /^webtensor(\/.*)?$/ }, (a) => {
          const target = pkg.exports['.' + a.path.slice('webtensor'.length)]?.import;
          return target ? { path: root + target } : { errors: [{ text: `${a.path} is not in package.json "exports"` }] };
        });
      },
    }],
  });
  const text = r.outputFiles[0].text;
  return { min: text.length, gzip: gzipSync(text, { level: 9 }).length, text };
}

/** An entry that imports as `statement` does and uses every name it imports. */
function entryOf(statement: string): string {
  const all = /^import \* as (\w+) from/.exec(statement);
  const names = all ? [all[1]] : /^import \{([^}]*)\}/.exec(statement)![1].split(',').map((n) => n.trim());
  return `${statement}; console.log(${names.join(', ')});`;
}

describe('package shape', () => {
  it('is ESM with types for every public entry', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.exports['.']).toMatchObject({ types: './dist/types/index.d.ts', import: './dist/esm/index.js' });
    expect(existsSync(dist)).toBe(true);
    const dts = readFileSync(`${root}dist/types/index.d.ts`, 'utf8');
    for (const name of ['fromGPUBuffer', 'flush', 'save', 'load', 'setDebug']) expect(dts).toContain(name);
    expect(readFileSync(`${root}dist/types/errors.d.ts`, 'utf8')).toContain('class FormatError');
  });

  it.each([['dist/index.js'], ['dist/esm/index.js']])('importing %s defines no globals, starts no timers, prints nothing', (file) => {
    const script = `
      const before = new Set(Object.getOwnPropertyNames(globalThis));
      const wt = await import(${JSON.stringify(root + file)});
      const added = Object.getOwnPropertyNames(globalThis).filter((k) => !before.has(k));
      await new Promise((r) => setTimeout(r, 20)); // let the module loader close its files
      console.log(JSON.stringify({ added, handles: process.getActiveResourcesInfo(), exports: Object.keys(wt).length }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim());
    expect(out).toMatchObject({ added: [], handles: [] });
    expect(out.exports).toBeGreaterThan(50);
  });
});

describe('bundle size and tree shaking', () => {
  it('an unused import bundles to nothing, one function to a fraction of the whole', async () => {
    const none = await bundleSize(`import 'webtensor';`);
    expect(none.min).toBe(0);
    const all = await bundleSize(entryOf(`import * as wt from 'webtensor'`));
    const one = await bundleSize(entryOf(`import { init, tensor } from 'webtensor'`));
    const io = await bundleSize(entryOf(`import { load } from 'webtensor'`));
    expect(one.gzip).toBeLessThan(all.gzip * 0.8);
    expect(io.gzip).toBeLessThan(all.gzip / 3);
    // the Node-only module is loaded lazily and never bundled
    expect(all.text).not.toMatch(/from\s*"node:/);
    // webtensor/vis brings nothing of the core
    const vis = await bundleSize(entryOf(`import { fitCallbacks } from 'webtensor/vis'`));
    expect(vis.gzip).toBeLessThan(8 * 1024);
    // webtensor/lm shares the core's modules (one library instance) and bundles no Node module
    const lm = await bundleSize(entryOf(`import { loadCausalLM } from 'webtensor/lm'`));
    expect(lm.text).not.toMatch(/from\s*"node:/);
    const both = await bundleSize(`import * as wt from 'webtensor'; import { loadCausalLM } from 'webtensor/lm'; console.log(wt, loadCausalLM);`);
    // (16 KiB of its own before issue 25's quantized loading: GGUF repack, quantized checkpoints; a second core would be ~190)
    expect(both.gzip).toBeLessThan(all.gzip + 18 * 1024);
  });

  it("the README's bundle sizes are the measured ones (within 3%)", async () => {
    // rows of the README's table: | `import ...` (what it is) | N KiB | M KiB |
    const rows = [...readFileSync(`${root}README.md`, 'utf8').matchAll(/^\| `(import [^`]+)`[^|]*\| (\d+) KiB \| (\d+) KiB \|$/gm)];
    expect(rows.map((r) => r[1])).toEqual([
      `import * as wt from 'webtensor'`, `import { init, tensor } from 'webtensor'`, `import { load } from 'webtensor'`, `import { fitCallbacks } from 'webtensor/vis'`,
      `import { loadCausalLM, loadTokenizer } from 'webtensor/lm'`, `import { TrainingWorker } from 'webtensor/worker'`,
    ]);
    const measured: string[] = [];
    const wrong: string[] = [];
    for (const [, statement, min, gzip] of rows) {
      const b = await bundleSize(entryOf(statement));
      const kib = [b.min / 1024, b.gzip / 1024];
      measured.push(`${statement}: ${kib[0].toFixed(0)} KiB minified, ${kib[1].toFixed(0)} KiB gzipped`);
      [Number(min), Number(gzip)].forEach((stated, i) => {
        if (Math.abs(kib[i] - stated) > Math.max(1, stated * 0.03)) wrong.push(`${statement}: README says ${stated} KiB ${i ? 'gzipped' : 'minified'}, measured ${kib[i].toFixed(1)} KiB`);
      });
    }
    console.log(`bundle sizes:\n  ${measured.join('\n  ')}`);
    expect(wrong, 'update the README\'s bundle size table').toEqual([]);
    // a budget for the whole library: 147 KiB gzipped before issue 21's ops and layers (167 after:
    // inverse/hyperbolic WGSL functions, scan/sort/sample kernels, einsum, interpolate, decoder;
    // 171 after issue 22's matmul epilogues: pending matmuls, generated GEMM epilogues, row sums; 175 with the short attention kernels;
    // 182 with issue 24's wt.nn.lora (PEFT-compatible adapters) and wt.checkpoint; 188 with issue
    // 25's quantized matmul: the qmatmul shader and routines, QuantizedLinear, wt.quantize; 195
    // with the tiled qmatmul, the wasm decode loop, QuantizedEmbedding and issue 22's parameter arenas)
    const whole = await bundleSize(entryOf(`import * as wt from 'webtensor'`));
    expect(whole.gzip).toBeLessThan(200 * 1024);
  });
});
