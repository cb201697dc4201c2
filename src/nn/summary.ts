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
 * Returns the rows and a printable table for `model` on an input of `inputShape`
 * (or several inputs).
 * @example console.log(wt.nn.summary(model, [1, 1, 28, 28]).text);
 */
export function summary(model: Module, inputShape: number[] | number[][], opts: { dtype?: 'float32' | 'int32' } = {}): { rows: SummaryRow[]; totalParams: number; trainableParams: number; text: string } {
  if (!(model instanceof Module)) throw new ArgumentError(`summary: model must be an nn.Module, got ${describeValue(model)}`);
  checkOptions('summary', opts, ['dtype']);
  const dtype = checkOneOf('summary', 'dtype', opts.dtype ?? 'float32', ['float32', 'int32']);
  if (!Array.isArray(inputShape) || !inputShape.length) throw new ArgumentError(`summary: inputShape must be a shape or a list of shapes, got ${describeValue(inputShape)}`);
  const shapesIn = Array.isArray(inputShape[0]) ? (inputShape as number[][]) : [inputShape as number[]];
  shapesIn.forEach((s, i) => checkShape('summary', s, shapesIn.length > 1 ? `inputShape[${i}]` : 'inputShape'));
  const modules = model.namedModules();
  const shapes = new Map<Module, number[]>();
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
  const wasTraining = model.training;
  try {
    model.eval();
    noGrad(() => tidy(() => {
      const inputs = shapesIn.map((s) => zeros(s, { dtype }));
      model.forward(...inputs);
    }));
  } finally {
    for (const [m, orig] of originals) m.forward = orig;
    model.train(wasTraining);
  }
  const own = (m: Module) => Object.values(m).reduce((n: number, v) => n + (v instanceof Tensor && m.parameters().includes(v) ? v.numel() : 0), 0);
  const rows: SummaryRow[] = modules.map(([name, m]) => ({ name: name || '(model)', type: m.constructor.name, outputShape: shapes.get(m) ?? null, params: name ? own(m) : 0 }));
  const totalParams = model.numParameters(), trainableParams = model.numParameters(true);
  const cols = [['Layer', 'Type', 'Output shape', 'Params'], ...rows.map((r) => [r.name, r.type, r.outputShape ? `[${r.outputShape.join(', ')}]` : '-', r.params ? r.params.toLocaleString('en-US') : ''])];
  const w = [0, 1, 2, 3].map((i) => Math.max(...cols.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i === 3 ? s.padStart(w[i]) : s.padEnd(w[i]))).join('  ');
  const rule = '-'.repeat(w.reduce((a, b) => a + b + 2, -2));
  const text = [rule, line(cols[0]), rule, ...cols.slice(1).map(line), rule, `Total params: ${totalParams.toLocaleString('en-US')}`, `Trainable params: ${trainableParams.toLocaleString('en-US')}`].join('\n');
  return { rows, totalParams, trainableParams, text };
}
