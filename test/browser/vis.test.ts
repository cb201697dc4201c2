/**
 * `webtensor/vis` in headless Chromium: a page imports the package's two entry points through an
 * import map (as package.json "exports" names them), trains a small classifier with fit() and
 * fitCallbacks, and the charts must hold the points fit logged: per step (loss on a log scale,
 * accuracy on a linear one, validation once per epoch) and per epoch. Needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { serve } from './server.js';
import { launchChromium } from './chromium.js';

const root = new URL('../..', import.meta.url).pathname;
let browser: Browser, server: Server, url: string;

beforeAll(async () => {
  ({ server, url } = await serve(root));
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  server?.close();
});

interface Chart { parent: string; chart: string; points: number; scale: string; yRange: number[]; width: number; height: number }

describe('webtensor/vis', () => {
  it('is a package export with its types', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
    expect(pkg.exports['./vis']).toEqual({ types: './dist/types/vis/index.d.ts', import: './dist/esm/vis/index.js' });
    expect(readFileSync(`${root}dist/types/vis/index.d.ts`, 'utf8')).toContain('fitCallbacks');
    // nothing of the core at run time: its chart and esbuild's helper chunk, a few KiB
    const imports = [...readFileSync(`${root}dist/esm/vis/index.js`, 'utf8').matchAll(/(?:from|import)\s*"(\.\.?\/[^"]+)"/g)].map((m) => m[1]);
    const bytes = imports.reduce((n, f) => n + readFileSync(new URL(f, `file://${root}dist/esm/vis/`), 'utf8').length, 0);
    expect(bytes).toBeLessThan(16 * 1024);
  });

  it('fitCallbacks draws live loss and metric charts from fit(), with a log scale', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${url}/test/browser/vis.html`);
    const r = await page.evaluate(() => (window as unknown as { result: Promise<Record<string, unknown>> }).result);
    expect(r.error, String(r.error)).toBeUndefined();
    const charts = r.charts as Chart[];
    const byStep = charts.filter((c) => c.parent === 'charts'), byEpoch = charts.filter((c) => c.parent === 'charts-epoch');
    // 48 training samples in batches of 16: 3 steps per epoch, 3 epochs, logged every step
    expect(byStep.map((c) => [c.chart, c.scale, c.points])).toEqual([['loss', 'log', 9 + 3], ['acc', 'linear', 9 + 3]]);
    expect(byEpoch.map((c) => [c.chart, c.scale, c.points])).toEqual([['loss', 'linear', 6], ['acc', 'linear', 6]]);
    for (const c of charts) {
      expect(c.width).toBeGreaterThan(0);
      expect(c.yRange[0]).toBeLessThan(c.yRange[1]);
    }
    expect(r.inRange).toBe(true);
    const history = r.history as Record<string, number[]>;
    // the per-step chart's validation points are fit's epoch logs
    expect(r.val).toEqual(history.valLoss);
    expect((r.train as number[]).at(-1)).toBeCloseTo(history.loss.at(-1)!, 5);
    // typed errors naming the call, as everywhere in webtensor
    const refused = r.refused as string[];
    expect(refused[0]).toMatch(/^ArgumentError: fitCallbacks: container must be a DOM element/);
    expect(refused[1]).toMatch(/^ArgumentError: fitCallbacks: metrics must be an array/);
    expect(refused[2]).toMatch(/^ArgumentError: fitCallbacks: unknown option 'logg' \(known: on, log, height, colors, charts\)/);
    expect(errors).toEqual([]);
    await page.close();
  });
});
