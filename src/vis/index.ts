/**
 * `webtensor/vis`: live training charts for a web page, in one line, as tfjs-vis gives TF.js.
 * DOM only (a page, or anything with `document` and canvases); it imports nothing of the core
 * at run time, so it adds a few KiB to a bundle.
 *
 * @example
 * import * as wt from 'webtensor';
 * import { fitCallbacks } from 'webtensor/vis';
 * await model.fit([x, y], { epochs: 20, validationSplit: 0.1, metrics: ['acc'],
 *   callbacks: [fitCallbacks(document.getElementById('charts')!, ['loss', 'valLoss', 'acc', 'valAcc'], { log: ['loss'] })] });
 */
import { ArgumentError } from '../errors.js';
import type { CallbackLike, Logs } from '../train/callbacks.js';
import { LineChart, type ChartOptions } from './chart.js';

export { LineChart, logTicks, niceTicks, short, type ChartOptions } from './chart.js';

export interface FitCallbacksOptions {
  /**
   * 'batch' (default): the x axis counts optimizer steps; training values come from the batch
   * logs (every `logEvery` steps of fit, the running epoch mean) and validation values at each
   * epoch's end. 'epoch': one point per epoch for every value.
   */
  on?: 'batch' | 'epoch';
  /** log-scale y axes: true for every chart, or the charts' names (e.g. ['loss']) */
  log?: boolean | string[];
  /** each chart's height in CSS pixels (default 220) */
  height?: number;
  /** series colours: training, validation */
  colors?: [string, string];
  /** chart options by chart name (title, yMin, yMax, zero, format, refs) */
  charts?: Record<string, Partial<ChartOptions>>;
}

/** The callback fitCallbacks returns: a fit() callback that also holds its charts. */
export interface FitCharts extends CallbackLike {
  /** the charts by name ('loss', 'acc', ...), made as their first values arrive */
  readonly charts: Map<string, LineChart>;
}

const SKIP = new Set(['batch', 'size', 'lr']);
const OPTION_KEYS = ['on', 'log', 'height', 'colors', 'charts'];

/**
 * The chart a log key belongs to and its series: `valLoss` (or Keras's `val_loss`) is the
 * validation series of chart `loss`.
 */
function parseKey(key: string): { chart: string; series: 'train' | 'val' } {
  const m = /^val(?:_(.+)|([A-Z].*))$/.exec(key);
  if (!m) return { chart: key, series: 'train' };
  const rest = m[1] ?? m[2];
  return { chart: m[1] ? rest : rest[0].toLowerCase() + rest.slice(1), series: 'val' };
}

/**
 * A fit() callback that draws live charts into `container`: one chart per value (loss, each
 * metric), training and validation in the same chart. `metrics` picks the log keys to draw
 * (`['loss', 'valLoss', 'acc']`; `val_loss` spellings work too); without it, every loss and
 * metric fit logs is drawn. The charts appear as their first values arrive.
 */
export function fitCallbacks(container: HTMLElement, metrics?: readonly string[] | null, opts: FitCallbacksOptions = {}): FitCharts {
  if (!container || typeof (container as Partial<HTMLElement>).appendChild !== 'function') {
    throw new ArgumentError(`fitCallbacks: container must be a DOM element, e.g. document.getElementById('charts'), got ${String(container)}`);
  }
  if (metrics != null && !(Array.isArray(metrics) && metrics.every((m) => typeof m === 'string'))) {
    throw new ArgumentError(`fitCallbacks: metrics must be an array of log keys such as ['loss', 'valLoss', 'acc'], got ${String(metrics)}`);
  }
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new ArgumentError(`fitCallbacks: options must be an object, got ${String(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.includes(k)) throw new ArgumentError(`fitCallbacks: unknown option '${k}' (known: ${OPTION_KEYS.join(', ')})`);
  }
  const on = opts.on ?? 'batch';
  if (on !== 'batch' && on !== 'epoch') throw new ArgumentError(`fitCallbacks: on must be 'batch' or 'epoch', got ${String(on)}`);
  if (opts.log !== undefined && typeof opts.log !== 'boolean' && !(Array.isArray(opts.log) && opts.log.every((n) => typeof n === 'string'))) {
    throw new ArgumentError(`fitCallbacks: log must be true, false or a list of chart names such as ['loss'], got ${String(opts.log)}`);
  }
  if (opts.height !== undefined && !(typeof opts.height === 'number' && opts.height > 0)) throw new ArgumentError(`fitCallbacks: height must be a positive number of CSS pixels, got ${String(opts.height)}`);
  const wanted = metrics ? new Set(metrics.map((k) => { const p = parseKey(k); return `${p.series}:${p.chart}`; })) : null;
  const [trainColor, valColor] = opts.colors ?? ['#2563eb', '#f97316'];
  const charts = new Map<string, LineChart>();

  const chartFor = (name: string): LineChart => {
    let chart = charts.get(name);
    if (chart) return chart;
    const canvas = document.createElement('canvas');
    canvas.className = 'webtensor-vis-chart';
    canvas.dataset.chart = name;
    canvas.style.display = 'block';
    canvas.style.width = '100%';
    canvas.style.height = `${opts.height ?? 220}px`;
    container.appendChild(canvas);
    const log = opts.log === true || (Array.isArray(opts.log) && opts.log.includes(name));
    const acc = /acc/i.test(name);
    chart = new LineChart(canvas, {
      title: name, xLabel: on === 'batch' ? 'step' : 'epoch', log,
      ...(acc && !log ? { yMax: 1, format: (v: number) => `${Math.round(100 * v)}%` } : {}),
      ...(!acc && !log ? { zero: true } : {}),
      ...opts.charts?.[name],
    });
    chart.add('train', trainColor);
    chart.add('val', valColor, { dots: true });
    charts.set(name, chart);
    return chart;
  };

  const plot = (logs: Logs, x: number, only?: 'train' | 'val'): void => {
    for (const [key, v] of Object.entries(logs)) {
      if (SKIP.has(key) || typeof v !== 'number') continue;
      const p = parseKey(key);
      if (only && p.series !== only) continue;
      if (wanted && !wanted.has(`${p.series}:${p.chart}`)) continue;
      chartFor(p.chart).push(p.series, x, v);
    }
  };

  // optimizer steps so far, over every fit() this callback has been given to
  let steps = 0;
  return {
    charts,
    wantsBatchLogs: on === 'batch',
    onBatchEnd(_batch: number, logs: Logs) {
      steps++;
      if (on === 'batch') plot(logs, steps, 'train');
    },
    onEpochEnd(epoch: number, logs: Logs) {
      if (on === 'batch') plot(logs, steps, 'val');
      else plot(logs, epoch + 1);
    },
  };
}
