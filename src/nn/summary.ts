/**
 * A Keras-style model summary: each module's type, output shape and parameter count, found by
 * running one forward pass on zeros with every module's forward temporarily observed.
 */
import { noGrad } from '../engine.js';
import { tidy } from '../memory.js';
import { zeros } from '../ops/creation.js';
import { Tensor } from '../tensor.js';
import { Module } from './module.js';
import { ArgumentError } from '../errors.js';
import { checkShape } from '../shape.js';
import { checkOneOf, checkOptions, describeValue } from '../validate.js';

export interface SummaryRow {
  name: string;
  type: string;
  outputShape: number[] | null;
  params: number;
}

/**
 * Returns the rows and a printable table (Keras's layout) for `model` on an input of
 * `inputShape` (or several inputs). Without an input shape nothing runs and the output shapes
 * show as `?`.
 * @example console.log(wt.nn.summary(model, [1, 1, 28, 28]).text);
 */
export function summary(model: Module, inputShape?: number[] | number[][] | null, opts: { dtype?: 'float32' | 'int32' } = {}): { rows: SummaryRow[]; totalParams: number; trainableParams: number; text: string } {
  if (!(model instanceof Module)) throw new ArgumentError(`summary: model must be an nn.Module, got ${describeValue(model)}`);
  checkOptions('summary', opts, ['dtype']);
  const dtype = checkOneOf('summary', 'dtype', opts.dtype ?? 'float32', ['float32', 'int32']);
  const ran = inputShape !== undefined && inputShape !== null;
  const modules = model.namedModules();
  const shapes = new Map<Module, number[]>();
  if (ran) runForShapes(model, modules, inputShape, dtype, shapes);
  const own = (m: Module) => Object.values(m).reduce((n: number, v) => n + (v instanceof Tensor && m.parameters().includes(v) ? v.numel() : 0), 0);
  const rows: SummaryRow[] = modules.map(([name, m]) => ({ name: name || '(model)', type: m.constructor.name, outputShape: shapes.get(m) ?? null, params: name ? own(m) : 0 }));
  const totalParams = model.numParameters(), trainableParams = model.numParameters(true);
  return { rows, totalParams, trainableParams, text: table(model, rows.slice(1), ran, totalParams, trainableParams) };
}

/** One forward pass on zeros with every module's forward observed: each module's output shape. */
function runForShapes(model: Module, modules: [string, Module][], inputShape: unknown, dtype: 'float32' | 'int32', shapes: Map<Module, number[]>): void {
  if (!Array.isArray(inputShape) || !inputShape.length) throw new ArgumentError(`summary: inputShape must be a shape or a list of shapes, got ${describeValue(inputShape)}`);
  const shapesIn = Array.isArray(inputShape[0]) ? (inputShape as number[][]) : [inputShape as number[]];
  shapesIn.forEach((s, i) => checkShape('summary', s, shapesIn.length > 1 ? `inputShape[${i}]` : 'inputShape'));
  const originals = modules.map(([, m]) => {
    const orig = m.forward;
    m.forward = function (this: Module, ...args: unknown[]) {
      const out = orig.apply(this, args);
      const first = Array.isArray(out) ? out[0] : out;
      if (first instanceof Tensor) shapes.set(m, [...first.shape]);
      return out;
    };
    return [m, orig] as const;
  });
  const modes = modules.map(([, m]) => [m, m.training] as const);
  try {
    model.eval();
    noGrad(() => tidy(() => {
      const inputs = shapesIn.map((s) => zeros(s, { dtype }));
      model.forward(...inputs);
    }));
  } finally {
    for (const [m, orig] of originals) m.forward = orig;
    for (const [m, t] of modes) m.training = t;
  }
}

/** Keras's summary table: `Model: "Net"`, a row per sub-module ("name (Type)", output shape, own parameters), the totals. */
function table(model: Module, rows: SummaryRow[], ran: boolean, total: number, trainable: number): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const cells = [['Layer (type)', 'Output Shape', 'Param #'], ...rows.map((r) => [`${r.name} (${r.type})`, r.outputShape ? `[${r.outputShape.join(', ')}]` : ran ? '-' : '?', n(r.params)])];
  const w = [0, 1, 2].map((i) => Math.max(...cells.map((c) => c[i].length)) + (i < 2 ? 4 : 0));
  const line = (c: string[]) => ' ' + c.map((s, i) => s.padEnd(w[i])).join('').trimEnd();
  const width = w.reduce((a, b) => a + b, 1);
  return [
    `Model: "${model.constructor.name}"`,
    '_'.repeat(width),
    line(cells[0]),
    '='.repeat(width),
    ...(rows.length ? cells.slice(1).map(line) : [' (no sub-modules)']),
    '='.repeat(width),
    `Total params: ${n(total)}`,
    `Trainable params: ${n(trainable)}`,
    `Non-trainable params: ${n(total - trainable)}`,
    '_'.repeat(width),
  ].join('\n');
}

/**
 * `model.summary(inputShape?)`: prints the table (console.log, or `printFn`, as Keras's
 * `print_fn`) and returns its text.
 */
export function printSummary(model: Module, inputShape?: number[] | number[][] | null, opts: { dtype?: 'float32' | 'int32'; printFn?: (text: string) => void } = {}): string {
  checkOptions('summary', opts, ['dtype', 'printFn']);
  const { printFn, ...rest } = opts;
  if (printFn !== undefined && typeof printFn !== 'function') throw new ArgumentError(`summary: printFn must be a function, got ${describeValue(printFn)}`);
  const { text } = summary(model, inputShape, rest);
  (printFn ?? console.log)(text);
  return text;
}
