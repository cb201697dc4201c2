/**
 * A small line chart on a canvas: a few named series over a numeric x axis, "nice" ticks
 * (1-2-5 steps, or powers of ten on a log scale), a legend with each series' latest value, and
 * redraws batched into one animation frame however many points arrive. Enough for live training
 * curves without a charting dependency. DOM only (a browser page or a worker with a canvas).
 *
 * The canvas carries what it shows for scripts and tests: `data-points` (points drawn, all
 * series), `data-scale` ('linear' or 'log') and `data-y-range` (the y axis ends, "lo,hi").
 *
 * @example
 * const chart = new LineChart(canvas, { title: 'loss', xLabel: 'step', log: true });
 * chart.add('train', '#2563eb');
 * chart.push('train', step, loss);
 */

import { ArgumentError } from '../errors.js';

export interface ChartOptions {
  title: string;
  xLabel?: string;
  /** fixed y range ends; otherwise fitted to the data (with 0 included when `zero`) */
  yMin?: number;
  yMax?: number;
  zero?: boolean;
  /** a logarithmic y axis (for losses over orders of magnitude); values ≤ 0 are skipped */
  log?: boolean;
  /** formats tick labels and legend values */
  format?: (v: number) => string;
  /** horizontal reference lines, e.g. the loss of a uniform guess */
  refs?: { y: number; label: string }[];
}

interface Series {
  name: string;
  color: string;
  dashed: boolean;
  /** draw a dot on each point (sparse series such as validation) */
  dots: boolean;
  xs: number[];
  ys: number[];
}

/** Tick positions covering [lo, hi] with about `n` steps of 1, 2 or 5 × 10^k. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/**
 * Tick values for a log axis over [lo, hi] (both > 0): powers of ten, with 2 and 5 × 10^k
 * added while there are fewer than `n` ticks; a range inside one decade gets linear ticks.
 */
export function logTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo) || !(lo > 0)) return [lo];
  const k0 = Math.floor(Math.log10(lo)), k1 = Math.ceil(Math.log10(hi));
  const inRange = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  let out: number[] = [];
  for (const ms of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    out = [];
    for (let k = k0; k <= k1; k++) for (const m of ms) if (inRange(m * 10 ** k)) out.push(Number((m * 10 ** k).toPrecision(6)));
    if (out.length >= Math.min(n, 3)) return out;
  }
  return niceTicks(lo, hi, n).filter((v) => v > 0);
}

/** Short numbers: 3 significant digits, k/M suffixes for large values. */
export function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (a >= 100 || a === 0) return v.toFixed(0);
  if (a < 1e-3) return v.toExponential(1).replace('.0e', 'e');
  return v.toPrecision(3).replace(/\.?0+$/, '');
}

function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export class LineChart {
  private readonly series: Series[] = [];
  private frame = 0;

  constructor(readonly canvas: HTMLCanvasElement, readonly opts: ChartOptions) {
    // follow the element's CSS size (and the screen's pixel ratio) when the layout changes
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.schedule()).observe(canvas);
    canvas.dataset.points = '0';
    canvas.dataset.scale = opts.log ? 'log' : 'linear';
    this.schedule();
  }

  /** Adds a series (drawn in the order added). */
  add(name: string, color: string, o: { dashed?: boolean; dots?: boolean } = {}): void {
    this.series.push({ name, color, dashed: o.dashed ?? false, dots: o.dots ?? false, xs: [], ys: [] });
    this.schedule();
  }

  /** Whether the chart has a series of that name. */
  has(name: string): boolean {
    return this.series.some((t) => t.name === name);
  }

  /** Appends a point to a series; non-finite values (and values ≤ 0 on a log scale) are skipped. */
  push(name: string, x: number, y: number): void {
    const s = this.series.find((t) => t.name === name);
    if (!s) throw new ArgumentError(`LineChart.push: chart '${this.opts.title}' has no series '${name}' (add it with add('${name}', color))`);
    if (!Number.isFinite(y) || !Number.isFinite(x) || (this.opts.log && !(y > 0))) return;
    s.xs.push(x);
    s.ys.push(y);
    this.canvas.dataset.points = String(this.series.reduce((n, t) => n + t.xs.length, 0));
    this.schedule();
  }

  /** The points of a series, for tests and summaries. */
  values(name: string): number[] {
    return [...(this.series.find((t) => t.name === name)?.ys ?? [])];
  }

  /** The points of a series as [x, y] pairs. */
  points(name: string): [number, number][] {
    const s = this.series.find((t) => t.name === name);
    return s ? s.xs.map((x, i) => [x, s.ys[i]]) : [];
  }

  clear(): void {
    for (const s of this.series) s.xs.length = s.ys.length = 0;
    this.canvas.dataset.points = '0';
    this.schedule();
  }

  /** The y axis ends the next draw uses: every point and reference line lies inside. */
  yRange(): [number, number] {
    const o = this.opts;
    const ys = [...this.series.flatMap((s) => s.ys), ...(o.refs ?? []).map((r) => r.y)].filter((v) => !o.log || v > 0);
    let [y0, y1] = ys.length ? extent(ys) : o.log ? [0.1, 1] : [0, 1];
    if (o.yMin !== undefined && !(o.log && o.yMin <= 0)) y0 = Math.min(y0, o.yMin);
    if (o.yMax !== undefined) y1 = Math.max(y1, o.yMax);
    if (o.log) {
      // pad by 5% of the decades shown; a flat series gets half a decade either side
      let l0 = Math.log10(y0), l1 = Math.log10(y1);
      if (l1 - l0 < 1e-9) [l0, l1] = [l0 - 0.5, l1 + 0.5];
      const pad = (l1 - l0) * 0.05;
      return [10 ** (o.yMin === undefined ? l0 - pad : l0), 10 ** (o.yMax === undefined ? l1 + pad : l1)];
    }
    if (o.zero) y0 = Math.min(0, y0);
    if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const span = y1 - y0;
    if (o.yMin === undefined && !(o.zero && y0 === 0)) y0 -= span * 0.05;
    if (o.yMax === undefined) y1 += span * 0.05;
    return [y0, y1];
  }

  private schedule(): void {
    if (this.frame) return;
    const raf = typeof requestAnimationFrame === 'function' ? requestAnimationFrame : (f: () => void) => setTimeout(f, 16) as unknown as number;
    this.frame = raf(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws now (normally batched into the next animation frame). */
  draw(): void {
    const c = this.canvas, dpr = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
    const w = Math.max(100, c.clientWidth || c.width), h = Math.max(80, c.clientHeight || c.height);
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const log = !!this.opts.log;
    const fmt = this.opts.format ?? short;
    const css = getComputedStyle(c);
    const ink = css.getPropertyValue('--chart-ink').trim() || '#1f2937';
    const faint = css.getPropertyValue('--chart-grid').trim() || '#e5e7eb';
    g.font = '12px system-ui, sans-serif';

    const all = this.series.filter((s) => s.xs.length);
    let [x0, x1] = all.length ? extent(all.flatMap((s) => s.xs)) : [0, 1];
    if (x1 === x0) x1 = x0 + 1;
    const [y0, y1] = this.yRange();
    c.dataset.yRange = `${y0},${y1}`;
    const ty = (y: number) => (log ? Math.log10(y) : y);
    const t0 = ty(y0), t1 = ty(y1);
    const nTicks = Math.max(2, Math.floor(h / 40));
    const yTicks = log ? logTicks(y0, y1, nTicks) : niceTicks(y0, y1, nTicks);
    const left = 12 + Math.max(...yTicks.map((t) => g.measureText(fmt(t)).width)), right = 12, top = 30, bottom = 34;
    const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (w - left - right);
    const py = (y: number) => top + (1 - (ty(y) - t0) / (t1 - t0)) * (h - top - bottom);

    // title, grid, ticks
    g.fillStyle = ink;
    g.font = '600 13px system-ui, sans-serif';
    g.fillText(log ? `${this.opts.title} (log scale)` : this.opts.title, left, 18);
    g.font = '12px system-ui, sans-serif';
    g.strokeStyle = faint;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const t of yTicks) {
      g.beginPath();
      g.moveTo(left, Math.round(py(t)) + 0.5);
      g.lineTo(w - right, Math.round(py(t)) + 0.5);
      g.stroke();
      g.fillText(fmt(t), left - 6, py(t));
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (const t of niceTicks(x0, x1, Math.max(2, Math.floor(w / 90)))) g.fillText(short(t), px(t), h - bottom + 6);
    if (this.opts.xLabel) {
      g.textAlign = 'right';
      g.fillText(this.opts.xLabel, w - right, h - 14);
    }
    for (const r of this.opts.refs ?? []) {
      if (log && !(r.y > 0)) continue;
      g.setLineDash([2, 4]);
      g.strokeStyle = ink;
      g.beginPath();
      g.moveTo(left, py(r.y));
      g.lineTo(w - right, py(r.y));
      g.stroke();
      g.setLineDash([]);
      // at the right end, where curves that start high have usually come down already
      g.textAlign = 'right';
      g.textBaseline = 'bottom';
      g.fillText(r.label, w - right - 4, py(r.y) - 2);
    }

    // series
    g.save();
    g.beginPath();
    g.rect(left, top - 4, w - left - right, h - top - bottom + 8);
    g.clip();
    for (const s of all) {
      g.strokeStyle = g.fillStyle = s.color;
      g.lineWidth = 2;
      g.setLineDash(s.dashed ? [6, 4] : []);
      g.beginPath();
      s.xs.forEach((x, i) => (i ? g.lineTo(px(x), py(s.ys[i])) : g.moveTo(px(x), py(s.ys[i]))));
      g.stroke();
      if (s.dots || s.xs.length === 1) for (let i = 0; i < s.xs.length; i++) {
        g.beginPath();
        g.arc(px(s.xs[i]), py(s.ys[i]), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
    g.restore();
    g.setLineDash([]);

    // legend, right-aligned on the title line, with the latest values
    g.textAlign = 'left';
    g.textBaseline = 'middle';
    let lx = w - right;
    for (const s of [...this.series].reverse()) {
      const label = s.ys.length ? `${s.name} ${fmt(s.ys[s.ys.length - 1])}` : s.name;
      lx -= g.measureText(label).width;
      g.fillStyle = ink;
      g.fillText(label, lx, 16);
      lx -= 16;
      g.fillStyle = s.color;
      g.fillRect(lx, 12, 11, 8);
      lx -= 14;
    }
  }
}
