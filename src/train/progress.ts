/**
 * fit()'s console output: a progress bar redrawn in place on a terminal, or one line per epoch
 * elsewhere (a log file, CI, a browser console).
 *
 *   Epoch 2/5 [==============>...............] 120/235 ETA 3.1s - 4210 samples/s - loss 0.2147 - acc 0.9375
 *   Epoch 2/5 - 235/235 - 5.6s - 4195 samples/s - loss 0.2011 - acc 0.9412 - valLoss 0.1803 - valAcc 0.9480
 */
import { Callback, type Logs } from './callbacks.js';
import { ArgumentError } from '../errors.js';
import { checkOneOf, describeValue } from '../validate.js';

type Out = { isTTY: boolean; write(s: string): void; line(s: string): void };

function defaultOut(): Out {
  const stdout = (globalThis as { process?: { stdout?: { isTTY?: boolean; write(s: string): unknown } } }).process?.stdout;
  return {
    isTTY: !!stdout?.isTTY,
    write: (s) => void stdout?.write(s),
    line: (s) => console.log(s),
  };
}

/** True when a progress bar can be redrawn in place (stdout is a terminal). */
export function stdoutIsTTY(): boolean {
  return defaultOut().isTTY;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

function fmtValue(k: string, v: number): string {
  if (k === 'lr') return v.toExponential(2);
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4);
}

function fmtTime(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60).toString().padStart(2, '0')}s`;
}

/** Draws progress; fit adds it for verbose > 0 ('bar' on a TTY with verbose 1, else 'epoch'). */
export class ProgressLogger extends Callback {
  private t0 = 0;
  private lastDraw = 0;
  private samples = 0;
  private values: Logs = {};
  private epoch = 0;

  readonly wantsBatchLogs: boolean;
  constructor(readonly style: 'bar' | 'epoch', private readonly out: Out = defaultOut()) {
    super();
    checkOneOf('ProgressLogger', 'style', style, ['bar', 'epoch']);
    if (typeof out?.write !== 'function' || typeof out.line !== 'function') throw new ArgumentError(`ProgressLogger: out must have write(s) and line(s), got ${describeValue(out)}`);
    this.wantsBatchLogs = style === 'bar';
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
    this.t0 = this.lastDraw = now();
    this.samples = 0;
    this.values = {};
  }

  onBatchEnd(batch: number, logs: Logs): void {
    this.samples += logs.size ?? 0;
    if (logs.loss !== undefined) this.values = logs;
    if (this.style !== 'bar') return;
    const t = now();
    // redraw at most 10 times a second: writing to a terminal is not free either
    if (t - this.lastDraw < 100 && batch + 1 < this.ctx.steps) return;
    this.lastDraw = t;
    const done = batch + 1, steps = this.ctx.steps, width = 30;
    const filled = Math.min(width, Math.floor((done / steps) * width));
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled ? (done < steps ? '>' : '=') : '') + '.'.repeat(width - filled);
    const eta = ((t - this.t0) / done) * (steps - done);
    this.out.write(`\r${this.head()} [${bar}] ${done}/${steps} ETA ${fmtTime(eta)} - ${this.rate(t)}${this.metrics(this.values)}\x1b[K`);
  }

  onEpochEnd(_epoch: number, logs: Logs): void {
    const t = now();
    const line = `${this.head()} - ${this.ctx.steps}/${this.ctx.steps} - ${fmtTime(t - this.t0)} - ${this.rate(t)}${this.metrics(logs)}`;
    if (this.style === 'bar') this.out.write(`\r${line}\x1b[K\n`);
    else this.out.line(line);
  }

  private head(): string {
    return `Epoch ${this.epoch + 1}/${this.ctx.epochs}`;
  }

  private rate(t: number): string {
    const s = (t - this.t0) / 1000;
    return `${s > 0 ? Math.round(this.samples / s) : 0} samples/s`;
  }

  private metrics(logs: Logs): string {
    return Object.entries(logs)
      .filter(([k, v]) => v !== undefined && k !== 'batch' && k !== 'size')
      .map(([k, v]) => ` - ${k} ${fmtValue(k, v!)}`)
      .join('');
  }
}
