/**
 * gradcheck: compares autograd's gradients with central finite differences, both computed in
 * float64 on a private CPU backend, for a weighted sum of fn's output.
 */
import { CpuBackend } from '../backend/cpu/index.js';
import { engine, noGrad } from '../engine.js';
import { ArgumentError, WebtensorError } from '../errors.js';
import { checkOptionalNumber, checkOptions, checkTensor, describeValue } from '../validate.js';
import { tidy } from '../memory.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** which inputs to check (default: every float32 input) */
  check?: boolean[];
}

/** Thrown when analytic and numeric gradients disagree. */
export class GradcheckError extends WebtensorError {
  static {
    // a name that survives minification (see src/errors.ts)
    Object.defineProperty(this.prototype, 'name', { value: 'GradcheckError', writable: true, configurable: true, enumerable: false });
  }
}

/**
 * Checks the gradients of `fn` at `inputs`; resolves true or throws a GradcheckError naming
 * the input, the element and both values.
 *
 * @example await wt.gradcheck((a, b) => a.mul(b).sum(), [wt.randn([3]), wt.randn([3])]);
 */
export async function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): Promise<true> {
  if (typeof fn !== 'function') throw new ArgumentError(`gradcheck: fn must be a function, got ${describeValue(fn)}`);
  if (!Array.isArray(inputs) || !inputs.length) throw new ArgumentError(`gradcheck: inputs must be a non-empty list of tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => checkTensor('gradcheck', `inputs[${i}]`, t));
  checkOptions('gradcheck', opts, ['eps', 'atol', 'rtol', 'check']);
  for (const k of ['eps', 'atol', 'rtol'] as const) checkOptionalNumber('gradcheck', k, opts[k], { min: 0, finite: true });
  if (opts.check !== undefined && (!Array.isArray(opts.check) || opts.check.length !== inputs.length || !opts.check.every((c) => typeof c === 'boolean'))) {
    throw new ArgumentError(`gradcheck: check must be a list of ${inputs.length} booleans (one per input), got ${describeValue(opts.check)}`);
  }
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-3;
  const vals = await Promise.all(inputs.map(async (t) => Float64Array.from(await t._read())));
  const check = opts.check ?? inputs.map((t) => t.dtype === 'float32');
  const prev = engine.backend;
  const cpu = new CpuBackend({ float64: true });
  engine.backend = cpu;
  try {
    const build = (arrays: Float64Array[], grad: boolean) =>
      inputs.map((t, i) => tensor(t.dtype === 'float32' ? arrays[i] : Int32Array.from(arrays[i]), { shape: [...t.shape], dtype: t.dtype, requiresGrad: grad && check[i] }));
    // fixed pseudo-random weights so every output element matters
    let w: Float64Array | null = null;
    const weights = (n: number) => {
      if (!w) {
        w = new Float64Array(n);
        let s = 12345;
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          w[i] = 0.5 + (s / 4294967296);
        }
      }
      return w;
    };
    const lossOf = (out: Tensor): Tensor => {
      const wt = tensor(weights(out.numel()), { shape: [...out.shape] });
      return out.mul(wt).sum();
    };
    // analytic
    const analytic = tidy(() => {
      const xs = build(vals, true);
      const loss = lossOf(fn(...xs));
      loss.backward();
      return xs.map((x, i) => (check[i] && x.grad ? Float64Array.from(cpu.readSync(x.grad._view().buf, 'float32')) : null));
    });
    const evalLoss = (arrays: Float64Array[]): number =>
      noGrad(() => tidy(() => cpu.readSync(lossOf(fn(...build(arrays, false)))._view().buf, 'float32')[0]));
    for (let i = 0; i < inputs.length; i++) {
      if (!check[i]) continue;
      const arr = vals.map((v) => v.slice());
      for (let k = 0; k < arr[i].length; k++) {
        const orig = arr[i][k];
        arr[i][k] = orig + eps;
        const lp = evalLoss(arr);
        arr[i][k] = orig - eps;
        const lm = evalLoss(arr);
        arr[i][k] = orig;
        const num = (lp - lm) / (2 * eps);
        const ana = analytic[i] ? analytic[i]![k] : 0;
        if (!(Math.abs(ana - num) <= atol + rtol * Math.abs(num))) {
          throw new GradcheckError(`gradcheck: input ${i} (shape [${inputs[i].shape.join(',')}]) element ${k}: analytic ${ana} vs numeric ${num}`);
        }
      }
    }
    return true;
  } finally {
    engine.backend = prev;
    cpu.destroy();
  }
}
