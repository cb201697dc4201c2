/**
 * The benchmark as the README runs it: `npm run bench -- --quick --json FILE` in headless Chromium
 * (WebGPU on SwiftShader). Its JSON must have every library for every workload, each measured or
 * marked n/a with the reason (an op the library lacks), and webtensor must pass every check.
 * The dated section goes to a temporary file (--results), not to bench/RESULTS.md.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../demo/server.js';

interface Row {
  section: string;
  workload: string;
  library: string;
  backend: string;
  status: 'ok' | 'n/a' | 'error';
  ok?: boolean;
  rate?: number;
  error?: string;
  timing?: { median: number; min: number; max: number };
}

const LIBS: Record<string, string[]> = {
  webgpu: ['webtensor (webgpu)', 'TF.js (webgpu)', 'jax-js (webgpu)'],
  cpu: ['webtensor (cpu)', 'TF.js (cpu)', 'TF.js (wasm)'],
};

describe('npm run bench -- --quick', () => {
  it('runs in headless Chromium and reports every library for every workload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wt-bench-'));
    const json = join(dir, 'out.json'), md = join(dir, 'RESULTS.md');
    const t0 = performance.now();
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'bench', '--', '--quick', '--json', json, '--results', md], {
      cwd: repoRoot(), timeout: 300_000, maxBuffer: 16 * 2 ** 20,
    });
    const seconds = (performance.now() - t0) / 1000;
    // the --quick run's budget (README: under 3 minutes on SwiftShader, an idle 2-core machine),
    // with room for a loaded one: this guards against a runaway workload, not speed
    expect(seconds).toBeLessThan(270);
    expect(stdout).toContain('webtensor ÷ this');

    const out = JSON.parse(readFileSync(json, 'utf8')) as { rows: Row[]; adapter: { vendor: string } | null; quick: boolean };
    expect(out.quick).toBe(true);
    expect(out.adapter?.vendor).toBeTruthy();
    const workloads = [...new Set(out.rows.map((r) => r.workload))];
    for (const kind of ['matmul', 'conv2d', 'softmax', 'layerNorm', 'attention', 'mnist-mlp', 'mnist-cnn', 'char-gpt']) {
      expect(workloads.some((w) => w.includes(kind)), kind).toBe(true);
    }
    for (const [section, libs] of Object.entries(LIBS)) {
      for (const w of workloads) {
        for (const lib of libs) {
          const r = out.rows.find((x) => x.section === section && x.workload === w && `${x.library} (${x.backend})` === lib);
          expect(r, `${section} · ${w} · ${lib}`).toBeDefined();
          // n/a only for an op the library does not have (TF.js's wasm backend lacks some gradients)
          expect(r!.status === 'ok' || (r!.status === 'n/a' && /not registered|not implemented|not supported/.test(r!.error ?? '')), `${lib} · ${w}: ${r!.status} ${r!.error ?? ''}`).toBe(true);
          if (r!.status === 'ok') {
            expect(r!.ok, `${lib} · ${w} check`).toBe(true);
            expect(r!.rate).toBeGreaterThan(0);
            expect(r!.timing!.min).toBeLessThanOrEqual(r!.timing!.median);
          }
          if (lib.startsWith('webtensor')) expect(r!.status, `${lib} · ${w}`).toBe('ok');
        }
      }
    }
    const results = readFileSync(md, 'utf8');
    expect(results).toMatch(/^## Benchmarks — \d{4}-\d\d-\d\d — .+ — headless Chromium \(quick\)$/m);
    expect(results).toContain('| section | workload');
  }, 330_000);
});
