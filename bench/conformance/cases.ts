/**
 * What a conformance case is, and the helpers the case tables share: seeded data, inputs that
 * require gradients, and "forward, then backward with a seeded upstream gradient".
 *
 * A case builds its inputs from seeded host arrays on whatever backend is current and returns
 * named outputs with their tolerances (tolerance.ts). The runner calls it once on the CPU
 * backend (the reference) and once per WebGPU configuration (variants.ts) it lists, so a case
 * never knows which backend it runs on. Sizes come in two sets: realistic ones for a real GPU,
 * and `small` ones for SwiftShader (the software adapter of CI).
 */
import * as wt from '../../src/index.js';
import type { RoutineName } from '../../src/kernel/kernel.js';
import type { Tol } from './tolerance.js';

/** The WebGPU configurations a case can run under (variants.ts says what each one sets). */
export type VariantName =
  | 'default' | 'fusion off' | 'eager'
  | 'tile 64' | 'tile 128' | 'f16 tile 64' | 'f16 tile 128'
  | 'subgroups' | 'no subgroups'
  | 'fused attention' | 'unfused attention'
  | 'segments';

/** Variant sets by kernel family. */
export const GEMM: readonly VariantName[] = ['default', 'tile 64', 'tile 128', 'f16 tile 64', 'f16 tile 128'];
export const ROWS: readonly VariantName[] = ['default', 'subgroups', 'no subgroups'];
export const EXPR: readonly VariantName[] = ['default', 'fusion off'];
export const SDPA: readonly VariantName[] = ['fused attention', 'unfused attention'];
export const ONLY_DEFAULT: readonly VariantName[] = ['default'];

export type Group = 'routine' | 'reduction' | 'elementwise' | 'creation' | 'movement' | 'optimizer' | 'step' | 'example';

/** One compared output: a tensor or plain numbers (losses), and the bound it must meet. */
export interface Out {
  name: string;
  value: wt.Tensor | ArrayLike<number>;
  tol: Tol;
}

/** What a case may ask of the configuration it runs under. */
export interface CaseContext {
  /** the backend kind it runs on (for code that starts its own, such as the examples) */
  backend: 'cpu' | 'webgpu';
  /** the case's variant ('default' for the CPU reference) */
  variant: VariantName;
  /** wt.compile (disposed after the case), or under the 'eager' variant the function itself */
  compile<A extends wt.Tensor[], R extends wt.Tensor | wt.Tensor[]>(fn: (...args: A) => R): (...args: A) => R;
  /** runs `fn` once the outputs are read (to free what outlives the case's tidy: optimizer state, models) */
  cleanup(fn: () => void): void;
}

export interface Case {
  /** unique in the run; the table's first column */
  name: string;
  group: Group;
  /** what it covers: a routine, an IR or elementwise op, an optimizer, an example */
  target: string;
  /** shapes, for the table */
  size: string;
  /** the WebGPU configurations it runs under */
  variants: readonly VariantName[];
  /** routines the CPU reference must dispatch (checked with wt.profile), so a table entry cannot be hollow */
  kernels?: readonly RoutineName[];
  /** an open defect this case runs into: its failures are reported as known, not counted */
  known?: string;
  /** the configurations the defect shows in (default: all the case runs under) */
  knownIn?: readonly VariantName[];
  /** run returns a promise and frees its own tensors (the runner puts no tidy around it) */
  async?: boolean;
  /** builds the inputs on the current backend and returns the outputs to compare */
  run(ctx: CaseContext): Out[] | Promise<Out[]>;
}

/** A small seeded generator for the cases' data (mulberry32: wt.data.seededRandom, not the Philox RNG under test). */
export const rng = (seed: number): (() => number) => wt.data.seededRandom(seed);

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** n float32 values uniform in [lo, hi). */
export function uniformData(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** n int32 values in [0, hi). */
export function intData(n: number, seed: number, hi: number): Int32Array {
  const r = rng(seed), out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hi);
  return out;
}

/** A float32 tensor of seeded values in [lo, hi) that requires grad. */
export function input(shape: readonly number[], seed: number, lo = -1, hi = 1): wt.Tensor {
  return wt.tensor(uniformData(numel(shape), seed, lo, hi), { shape: [...shape], requiresGrad: true });
}

/** An int32 tensor of seeded values in [0, hi). */
export function indices(shape: readonly number[], seed: number, hi: number): wt.Tensor {
  return wt.tensor(intData(numel(shape), seed, hi), { shape: [...shape], dtype: 'int32' });
}

/** How often the most frequent value occurs (the longest sum an index-add does). */
export function maxCount(values: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  let most = 0;
  for (let i = 0; i < values.length; i++) {
    const c = (counts.get(values[i]) ?? 0) + 1;
    counts.set(values[i], c);
    if (c > most) most = c;
  }
  return most;
}

/**
 * `y` and the gradients of `inputs` after y.backward(g) with a seeded upstream gradient g in
 * [-1, 1): every input's gradient is compared with its own bound (each is a different sum).
 *
 * @example return withGrads(a.matmul(b), sum(K), [['a', a, sum(N)], ['b', b, sum(M)]]);
 */
export function withGrads(y: wt.Tensor, yTol: Tol, inputs: readonly (readonly [string, wt.Tensor, Tol])[], seed = 7): Out[] {
  y.backward(wt.tensor(uniformData(y.numel(), seed), { shape: [...y.shape] }));
  // a view of each gradient: it outlives its input, which the caller's tidy disposes
  return [{ name: 'y', value: y, tol: yTol }, ...inputs.map(([n, x, tol]) => ({ name: `d${n}`, value: gradOf(x), tol }))];
}

/** A view of x.grad that outlives x (an error naming x when backward left none). */
export function gradOf(x: wt.Tensor): wt.Tensor {
  if (!x.grad) throw new Error(`no gradient reached an input of shape ${fmtShape(x.shape)}`);
  return x.grad.detach();
}
