/**
 * Debug mode: `wt.setDebug(true)` checks every op's float outputs for NaN and Infinity and names
 * the first op that made one, and warns about tensors garbage-collected without `dispose()`.
 *
 * An op "made" a NaN when its output has one and none of its inputs (tensors or scalar
 * arguments) had a NaN; it made an infinity when its output has one and every input was finite.
 * So a NaN that a user's data brings in, or a -Infinity mask that `where` places on purpose,
 * is not blamed on the ops it flows through.
 *
 * On the CPU backend the check is synchronous: the op itself throws NonFiniteError. On WebGPU
 * each check is a small reduction into a flag buffer, queued with the op; the next read
 * (`data()`, `item()`, ...) reads the flags first and throws NonFiniteError naming the op. Debug
 * mode costs one extra reduction per float tensor per op, so leave it off for speed.
 *
 * It also watches the live tensor count at step boundaries (each `optimizer.step()`, each step
 * of `fit`) and warns once when it grew at several boundaries in a row: a training loop that
 * keeps a few tensors per step runs out of memory only after thousands of steps.
 *
 * @example
 * wt.setDebug(true);
 * const y = x.log();          // x holds a negative number
 * await y.data();             // NonFiniteError: debug: log produced NaN (output [3]) from inputs without NaN
 */
import type { Backend, View } from './backend/backend.js';
import { attach, deferCheck, flagSlot } from './deferred.js';
import { engine } from './engine.js';
import { storageOf } from './storage.js';
import { ArgumentError, NonFiniteError, fmt } from './errors.js';
import { describeValue } from './validate.js';
import { IR, type Expr } from './kernel/ir.js';
import { contiguousStrides, isContiguous, numel } from './shape.js';

/** 0: finite, 1: has ±Infinity (no NaN), 2: has NaN. A max over elements keeps the worst. */
type Code = 0 | 1 | 2;
const CODE_NAME = ['', 'Infinity', 'NaN'];

const codeOf = (v: number): Code => (v !== v ? 2 : v === Infinity || v === -Infinity ? 1 : 0);

/** Did an op whose inputs have codes `ins` make its output's code `out`? */
const made = (out: number, ins: readonly number[]): boolean => out === 2 ? ins.every((c) => c < 2) : out === 1 && ins.every((c) => c === 0);

/**
 * Turns debug mode on or off. In debug mode every op's float outputs are checked for NaN and
 * Infinity (see the module notes for when an op is blamed), and tensors that are garbage-collected
 * without `dispose()` print a warning.
 *
 * @example wt.setDebug(true); try { await step(); } finally { wt.setDebug(false); }
 */
export function setDebug(on: boolean): void {
  if (typeof on !== 'boolean') throw new ArgumentError(`setDebug: expected true or false, got ${describeValue(on)}`);
  engine.debug = on;
}

/** Whether debug mode is on. */
export function isDebug(): boolean {
  return engine.debug;
}

// ---- the check after each op ------------------------------------------------------------------

/** The code of an element: 2 for NaN, 1 for ±Infinity, else 0 (bit tests, see kernel/wgsl.ts). */
function codeExpr(): Expr {
  const x = IR.load(0, 'float32');
  return IR.where(IR.unary('isnan', x), IR.const(2, 'int32'), IR.cast(IR.unary('isinf', x), 'int32'));
}

function nonFinite(op: string, code: number, shape: readonly number[], when = ''): NonFiniteError {
  const from = code === 2 ? 'inputs without NaN' : 'finite inputs';
  return new NonFiniteError(`debug: ${op} produced ${CODE_NAME[code]} (output ${fmt(shape)}) from ${from}${when}; wt.setDebug(false) turns this check off`);
}

/** The code of a view read synchronously (CPU backend). */
function codeSync(backend: Backend, v: View): Code {
  const n = numel(v.shape);
  if (n === 0) return 0;
  const contiguous = isContiguous(v.shape, v.strides);
  const data = contiguous ? backend.readSync!(v.buf, v.dtype, v.offset, n) : backend.readSync!(v.buf, v.dtype);
  const base = contiguous ? 0 : v.offset;
  let code: Code = 0;
  if (contiguous) {
    for (let i = 0; i < n && code < 2; i++) code = Math.max(code, codeOf(data[i])) as Code;
    return code;
  }
  // a strided view (in-place ops write into views): walk its multi-index
  const idx = new Array<number>(v.shape.length).fill(0);
  const cs = contiguousStrides(v.shape);
  for (let i = 0; i < n && code < 2; i++) {
    let r = i, off = base;
    for (let d = 0; d < v.shape.length; d++) {
      idx[d] = Math.floor(r / cs[d]);
      r -= idx[d] * cs[d];
      off += idx[d] * v.strides[d];
    }
    code = Math.max(code, codeOf(data[off])) as Code;
  }
  return code;
}

/**
 * Called by the op runners (src/ops/run.ts) after an op is dispatched: checks its float outputs.
 * `inputs` are the op's tensor inputs' views and `scalars` its scalar arguments. On the CPU a
 * failure disposes `owned` (the op's new outputs) and throws at once.
 */
export function checkOp(op: string, backend: Backend, outputs: readonly View[], inputs: readonly View[], scalars: readonly number[], owned: readonly { dispose(): void }[] = []): void {
  const outs = outputs.filter((v) => v.dtype === 'float32' && numel(v.shape) > 0);
  if (!outs.length) return;
  const floatIns = inputs.filter((v) => v.dtype === 'float32');
  const scalarCode = scalars.reduce<Code>((c, s) => Math.max(c, codeOf(s)) as Code, 0);
  if (backend.readSync) {
    for (const v of outs) {
      const code = codeSync(backend, v);
      // inputs are only read when the output is bad: the common case stays one scan
      if (code && made(code, [...floatIns.map((i) => codeSync(backend, i)), scalarCode])) {
        owned.forEach((t) => t.dispose());
        throw nonFinite(op, code, v.shape);
      }
    }
    return;
  }
  // on the GPU: flags now, the verdict at the next read (thrown by reads of what the outputs reach)
  const ins = floatIns.map((v) => flagSlot(backend, v, codeExpr()));
  for (const v of outs) {
    const shape = v.shape;
    const check = deferCheck(backend, [flagSlot(backend, v, codeExpr()), ...ins], ([out, ...inCodes]) =>
      made(out, [...inCodes, scalarCode]) ? nonFinite(op, out, shape, ' (found at the next read)') : null);
    const s = storageOf(v.buf);
    if (s) attach(s, check);
  }
}

// ---- leak warnings --------------------------------------------------------------------------

let registry: FinalizationRegistry<string> | null = null;

/** In debug mode, warns when `t` is garbage-collected without dispose(). */
export function watch(t: object, what: string): void {
  registry ??= new FinalizationRegistry((w) => console.warn(`webtensor: ${w} was garbage-collected without dispose(); its memory leaked (use wt.tidy or t.dispose())`));
  registry.register(t, what, t);
}

/** Stops watching a disposed tensor. */
export function unwatch(t: object): void {
  registry?.unregister(t);
}

// ---- growth warnings ------------------------------------------------------------------------

/** The boundary name of fit's steps. */
export const FIT_STEP = 'fit step';
let fitsRunning = 0;
/** fit says it started (+1) or ended (-1): while one runs, only its own step boundaries count. */
export function fitRunning(delta: 1 | -1): void {
  fitsRunning += delta;
}

/** Step boundaries in a row at which the live tensor count must grow before the warning. */
export const GROWTH_STEPS = 5;

interface Growth {
  /** the count at the previous boundary */
  last: number;
  /** boundaries in a row at which it grew, and the count before the first of them */
  streak: number;
  start: number;
  /** tensors gained per step of the patterns already reported: each is reported once */
  warned: Set<number>;
}
const growth = new WeakMap<object, Growth>();

/**
 * In debug mode, called at a step boundary of a loop (`key` names the loop: an optimizer, a fit
 * run; `where` is what the user called, e.g. `Adam.step()`): warns with console.warn when the
 * live tensor count grew at each of the last GROWTH_STEPS boundaries, once per pattern (the
 * loop and the number of tensors gained per step), not at every step after.
 */
export function noteStep(key: object, where: string): void {
  if (!engine.debug) return;
  // inside fit, fit's step is the boundary: its optimizer step would report the same growth again
  if (fitsRunning > 0 && where !== FIT_STEP) return;
  const n = engine.liveTensors;
  const g = growth.get(key);
  if (!g) {
    growth.set(key, { last: n, streak: 0, start: n, warned: new Set() });
    return;
  }
  if (n > g.last) {
    if (g.streak === 0) g.start = g.last;
    g.streak++;
    if (g.streak === GROWTH_STEPS) {
      const perStep = Math.round((n - g.start) / GROWTH_STEPS);
      if (!g.warned.has(perStep)) {
        g.warned.add(perStep);
        console.warn(`webtensor (debug): live tensors grew at each of the last ${GROWTH_STEPS} ${where} calls (${g.start} → ${n}, about +${perStep} per step): the loop keeps tensors it makes each step. Wrap the step's body in wt.tidy(() => { ... }), declare its temporaries with \`using\`, or dispose() them`);
      }
    }
  } else g.streak = 0;
  g.last = n;
}

