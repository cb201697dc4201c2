/**
 * The README's first snippet, as a reader would paste it: bundled against the built package and
 * run in Node on each backend (Dawn's WebGPU on this machine's software adapter, and the CPU). It
 * must converge with the settings it prints and print what its comment says. Needs `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(`${root}README.md`, 'utf8');

describe('README', () => {
  it.each([['cpu'], ['webgpu']])('the first snippet converges (XOR) and prints the result its comment shows, on %s', async (backend) => {
    const snippet = /```ts\n([\s\S]*?)```/.exec(readme)![1];
    expect(snippet).toContain('await wt.init();');
    const code = snippet.replace('await wt.init();', `await wt.init({ backend: '${backend}' });`);
    const r = await build({
      stdin: { contents: code, resolveDir: root, loader: 'ts' },
      bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent', external: ['webgpu'],
      alias: { webtensor: `${root}dist/esm/index.js` },
    });
    // inside the repository, so that the snippet's import of the webgpu package (Dawn) resolves
    const cache = join(root, 'node_modules/.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'webtensor-readme-'));
    try {
      writeFileSync(join(dir, 'snippet.mjs'), r.outputFiles[0].text);
      const run = spawnSync(process.execPath, [join(dir, 'snippet.mjs')], { encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).toBe('');
      const printed = (run.stdout.match(/-?\d+\.\d+/g) ?? []).map(Number);
      const promised = (/console\.log\(.*\/\/ tensor\((.*?)\)/.exec(snippet)![1].match(/-?\d+\.\d+/g) ?? []).map(Number);
      expect(printed).toHaveLength(4);
      expect(promised).toHaveLength(4);
      printed.forEach((v, i) => expect(Math.abs(v - promised[i])).toBeLessThanOrEqual(0.006));
      expect(printed.map(Math.round)).toEqual([0, 1, 1, 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
