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
    // what a bundler resolves 'webtensor' to through package.json "exports"
    alias: { webtensor: root + pkg.exports['.'].import },
  });
  const text = r.outputFiles[0].text;
  return { min: text.length, gzip: gzipSync(text, { level: 9 }).length, text };
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
    const all = await bundleSize(`import * as wt from 'webtensor'; console.log(wt);`);
    const one = await bundleSize(`import { init, tensor } from 'webtensor'; console.log(init, tensor);`);
    const io = await bundleSize(`import { load } from 'webtensor'; console.log(load);`);
    console.log(`bundle: whole ${(all.min / 1024).toFixed(0)} KiB minified, ${(all.gzip / 1024).toFixed(0)} KiB gzipped; ` +
      `init + tensor (both backends, every Tensor method) ${(one.gzip / 1024).toFixed(0)} KiB gzipped; load only ${(io.gzip / 1024).toFixed(0)} KiB gzipped`);
    // 147 KiB before issue 21's math ops (+5 KiB: WGSL helpers, einsum, scatter, losses)
    expect(all.gzip).toBeLessThan(160 * 1024);
    expect(one.gzip).toBeLessThan(all.gzip * 0.8);
    expect(io.gzip).toBeLessThan(all.gzip / 3);
    // the Node-only module is loaded lazily and never bundled
    expect(all.text).not.toMatch(/from\s*"node:/);
  });
});
