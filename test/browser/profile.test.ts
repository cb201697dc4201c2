/** wt.profile in headless Chromium: GPU timestamps, the wall-clock fallback, and the CPU backend's per-kernel wall clock. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import type { Server } from 'node:http';
import { serve } from './server.js';
import { launchChromium } from './chromium.js';

interface Report {
  mode: string;
  backend: string;
  kernels: { name: string; count: number; totalMs: number; meanMs: number }[];
  flushes: { count: number; totalMs: number };
  note: string | null;
  table: string;
  result: number;
}

let browser: Browser, server: Server, url: string;
let r: { timed: Report; plain: Report; cpu: Report; error?: string };

beforeAll(async () => {
  ({ server, url } = await serve(new URL('../..', import.meta.url).pathname));
  browser = await launchChromium();
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/test/browser/profile.html`);
  r = await page.evaluate(() => (window as unknown as { result: Promise<typeof r> }).result);
  expect(errors).toEqual([]);
}, 180_000);
afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe('wt.profile', () => {
  it('times every kernel with timestamp queries when the adapter has them', () => {
    expect(r.error, r.error).toBeUndefined();
    const t = r.timed;
    expect(t.mode).toBe('timestamp-query');
    expect(t.result).toBeGreaterThan(0); // fn's result comes back
    const names = t.kernels.map((k) => k.name);
    // forward and backward GEMMs, the fused cross-entropy, and the optimizer's fused update
    expect(names.some((n) => n.startsWith('matmul'))).toBe(true);
    expect(names.some((n) => n.startsWith('crossEntropy'))).toBe(true);
    expect(t.kernels.every((k) => k.count > 0 && k.totalMs >= 0 && Math.abs(k.meanMs * k.count - k.totalMs) < 1e-6)).toBe(true);
    expect(t.kernels.reduce((a, k) => a + k.totalMs, 0)).toBeGreaterThan(0);
    // heaviest first
    expect(t.kernels.map((k) => k.totalMs)).toEqual([...t.kernels.map((k) => k.totalMs)].sort((a, b) => b - a));
    expect(t.flushes.count).toBeGreaterThan(0);
    expect(t.table).toMatch(/^kernel +count +total ms +mean ms +share/);
  });

  it("without 'timestamp-query' counts kernels, says so, and reports wall-clock per flush", () => {
    const p = r.plain;
    expect(p.mode).toBe('wall-clock');
    expect(p.note).toMatch(/timestamp-query/);
    expect(p.kernels.map((k) => k.name).sort()).toEqual(r.timed.kernels.map((k) => k.name).sort());
    expect(p.kernels.every((k) => k.totalMs === null || Number.isNaN(k.totalMs))).toBe(true);
    expect(p.flushes.count).toBeGreaterThan(0);
    expect(p.flushes.totalMs).toBeGreaterThan(0);
  });

  it('on the CPU backend times every kernel by the wall clock', () => {
    expect(r.cpu.mode).toBe('cpu');
    expect(r.cpu.backend).toBe('cpu');
    const names = r.cpu.kernels.map((k) => k.name);
    expect(names.some((n) => n.startsWith('matmul'))).toBe(true);
    for (const k of r.cpu.kernels) expect(k.totalMs).toBeGreaterThanOrEqual(0);
    expect(r.cpu.note).toMatch(/front end/);
  });

  it('names a kernel the same on both backends (a routine of several passes numbers them on WebGPU)', () => {
    const gpu = new Set(r.timed.kernels.map((k) => k.name.replace(/ \d+\/\d+$/, '')));
    const routines = r.cpu.kernels.map((k) => k.name).filter((n) => n.startsWith('matmul') || n.startsWith('crossEntropy'));
    expect(routines.length).toBeGreaterThan(1);
    for (const n of routines) expect(gpu).toContain(n);
  });
});
