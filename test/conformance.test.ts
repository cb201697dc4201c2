/**
 * The GPU conformance check (bench/conformance.ts), which compares WebGPU with the CPU backend,
 * so these tests are about the WebGPU backend by nature: its comparisons and its runner on
 * made-up cases (a mismatch fails, a crash fails its case and the run goes on, a case that never
 * reaches the routine it claims fails, a configuration's path is seen taken), then the bundle
 * as CI runs it: `--small` on SwiftShader, every case, exit status 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import type { RoutineName } from '../src/kernel/kernel.js';
import { ELEMENTWISE } from '../src/ops/elementwise.js';
import { describeWebGPU, type AdapterReport } from '../bench/lib/adapter.js';
import type { Case } from '../bench/conformance/cases.js';
import { expressionCases, irCoverage } from '../bench/conformance/ops.js';
import { routineCases } from '../bench/conformance/routines.js';
import { runCases, type RunOptions } from '../bench/conformance/runner.js';
import { compare, exact, sum, ulps } from '../bench/conformance/tolerance.js';

describe('conformance tolerances', () => {
  it('exact, ulp and sum bounds; NaN matches NaN, infinities match exactly', () => {
    expect(compare([1, NaN, -Infinity], [1, NaN, -Infinity], exact).pass).toBe(true);
    expect(compare([1, 2], [1, 2 + 2 ** -22], exact).pass).toBe(false);
    expect(compare([NaN], [1], ulps(1e6)).pass).toBe(false);
    expect(compare([Infinity], [3e38], ulps(1e6)).pass).toBe(false);
    expect(compare([1 + 3 * 2 ** -23], [1], ulps(4)).pass).toBe(true);
    expect(compare([1 + 5 * 2 ** -23], [1], ulps(4)).pass).toBe(false);
    // sums: the bound scales with √K and with the output's root mean square (cancellation near 0)
    const c = compare([1e-5, 10], [0, 10], sum(1024));
    expect(c.pass).toBe(true);
    expect(c.ratio).toBeGreaterThan(0);
    expect(compare([1e-3, 10], [0, 10], sum(1024)).pass).toBe(false);
    expect(compare([1, 2], [1, 2, 3], exact).pass).toBe(false);
  });
});

describe('conformance coverage of the IR', () => {
  it('names the primitives of src/kernel/ir.ts that no tested op reaches', () => {
    expect(irCoverage(expressionCases(true).tested).missing).toEqual([]);
    const some = irCoverage(['add', 'exp']).missing;
    expect(some).toContain('log');
    expect(some).not.toContain('exp');
    expect(some).not.toContain('add');
  });
});

const tensorCase = (name: string, run: Case['run'], extra: Partial<Case> = {}): Case => ({ name, group: 'elementwise', target: 'test', size: '[3]', variants: ['default'], run, ...extra });

describe('conformance runner on WebGPU (SwiftShader)', () => {
  let adapter: AdapterReport;
  const opts = (o: Partial<RunOptions> = {}): RunOptions => ({ adapter, hardwarePlans: false, deadline: Infinity, caseTimeoutMs: 60_000, log: () => {}, ...o });
  beforeAll(async () => {
    adapter = await describeWebGPU();
  });

  it('fails a mismatch and a crash, goes on after both, and reports known defects apart', async () => {
    const cases: Case[] = [
      tensorCase('agree', () => [{ name: 'y', value: wt.tensor([1, 2, 3]).mul(2), tol: exact }]),
      tensorCase('differ', (ctx) => [{ name: 'y', value: wt.tensor(ctx.backend === 'webgpu' ? [1, 2, 4] : [1, 2, 3]), tol: exact }]),
      tensorCase('crash', (ctx) => {
        if (ctx.backend === 'webgpu') throw new Error('boom');
        return [{ name: 'y', value: wt.tensor([1]), tol: exact }];
      }),
      tensorCase('after the crash', () => [{ name: 'y', value: wt.tensor([4, 5]).exp(), tol: ulps(10) }]),
      tensorCase('known, still failing', (ctx) => [{ name: 'y', value: [ctx.backend === 'webgpu' ? 1 : 2], tol: exact }], { known: 'a filed defect' }),
      tensorCase('known, now passing', () => [{ name: 'y', value: [1], tol: exact }], { known: 'a filed defect' }),
      tensorCase('hollow', () => [{ name: 'y', value: wt.tensor([1, 2]).add(1), tol: exact }], { kernels: ['matmul'] }),
    ];
    const { rows } = await runCases(cases, opts());
    expect(rows.map((r) => [r.case, r.status])).toEqual([
      ['agree', 'pass'], ['differ', 'fail'], ['crash', 'fail'], ['after the crash', 'pass'],
      ['known, still failing', 'known'], ['known, now passing', 'fixed'], ['hollow', 'fail'],
    ]);
    expect(rows[1].error).toMatch(/y: \[2\] gpu 4, cpu 3/);
    expect(rows[2].error).toMatch(/boom/);
    expect(rows[6].error).toMatch(/never dispatched matmul/);
  });

  it('fails a case that hangs past its timeout and goes on', async () => {
    const slow: Case = tensorCase('hangs on WebGPU', async (ctx) => {
      if (ctx.backend === 'webgpu') await new Promise((r) => setTimeout(r, 2000));
      return [{ name: 'y', value: [1], tol: exact }];
    }, { async: true });
    const { rows } = await runCases([slow, tensorCase('next', () => [{ name: 'y', value: wt.tensor([2]).sqrt(), tol: ulps(6) }])], opts({ caseTimeoutMs: 300 }));
    expect(rows.map((r) => [r.case, r.status])).toEqual([['hangs on WebGPU', 'fail'], ['next', 'pass']]);
    expect(rows[0].error).toMatch(/timed out/);
  });

  it('skips what is left once the time budget is spent', async () => {
    const { rows } = await runCases([tensorCase('late', () => [{ name: 'y', value: [1], tol: exact }])], opts({ deadline: 0 }));
    expect(rows.map((r) => r.status)).toEqual(['skipped']);
  });

  it('sees the 128×128 GEMM tiles taken under GPU plans; SwiftShader\'s own plans have no tiles', async () => {
    // 32 products of 128×128: 32 tiles, the fewest that take the 128 tile
    const c: Case = {
      name: 'tiles', group: 'routine', target: 'matmul', size: '[32,128,16]@[32,16,128]', variants: ['tile 128'], kernels: ['matmul'],
      run: () => [{ name: 'y', value: wt.rand([32, 128, 16], { seed: 1 }).matmul(wt.rand([32, 16, 128], { seed: 2 })), tol: sum(16) }],
    };
    const gpu = await runCases([c], opts({ hardwarePlans: true }));
    expect(gpu.rows.map((r) => r.status)).toEqual(['pass']);
    expect(gpu.paths).toEqual([expect.objectContaining({ variant: 'tile 128', status: 'taken' })]);
    const own = await runCases([c], opts());
    expect(own.rows).toEqual([]);
    expect(own.paths).toEqual([expect.objectContaining({ variant: 'tile 128', status: 'unavailable', note: expect.stringMatching(/direct cores/) })]);
  });
});

/** Runs a command; resolves to its exit code and output. */
function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: process.env });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

describe('conformance bundle on WebGPU (SwiftShader, --small)', () => {
  it('builds, runs every case and configuration, and exits 0', async () => {
    const build = await run('npm', ['run', '-s', 'conformance:gpu-build']);
    expect(build.code, build.out).toBe(0);
    const out = mkdtempSync(join(tmpdir(), 'wt-conformance-'));
    const r = await run('node', ['dist-gpu/conformance.mjs', '--small', '--steps', '10', '--out', out]);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'conformance.json'), 'utf8')) as {
      passed: boolean; irMissing: string[]; rows: { target: string; group: string; status: string }[];
    };
    expect(report.passed).toBe(true);
    expect(report.irMissing).toEqual([]);
    const covered = (group: string) => new Set(report.rows.filter((x) => x.group === group && (x.status === 'pass' || x.status === 'known')).map((x) => x.target));
    expect([...covered('routine')].sort()).toEqual(Object.keys(routineCases(true)).sort() as RoutineName[]);
    expect([...covered('elementwise')].filter((t) => t in ELEMENTWISE).sort()).toEqual(Object.keys(ELEMENTWISE).sort());
    expect(covered('example').size).toBeGreaterThanOrEqual(7);
    expect(readFileSync(join(out, 'conformance.md'), 'utf8')).toMatch(/## Results/);
  }, 400_000);
});
