/**
 * The CPU backend's generated expression functions, JavaScript (src/backend/cpu/jit.ts) and
 * WebAssembly SIMD (src/backend/cpu/wasm/expr.ts), against its interpreter (expr.ts): every
 * unary and binary op, on float32, int32 and bool operands, with
 * special values (NaN, ±Infinity, -0, huge, tiny), dense, strided and broadcast inputs, scalar
 * parameters, constants, casts, where, index and rand, several outputs, reductions, and both
 * the float32 and float64 storage modes must give bit-identical results.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runElementwise, runReduce, type InputView } from '../src/backend/cpu/expr.js';
import { compile } from '../src/backend/cpu/program.js';
import { setJitDisabled } from '../src/backend/cpu/jit.js';
import { setWasmExpr, wasmBlockFunction } from '../src/backend/cpu/wasm/expr.js';
import { erf } from '../src/kernel/math.js';
import { BINARY, IR, UNARY, type BinaryOp, type Expr, type UnaryOp } from '../src/kernel/ir.js';
import type { ReduceOp } from '../src/kernel/kernel.js';

afterEach(() => {
  setJitDisabled(false);
  setWasmExpr(true);
});

/** The three ways a CPU expression runs: WebAssembly where it applies, JavaScript, the interpreter. */
const MODES = ['wasm', 'js', 'interpreter'] as const;
function useMode(mode: (typeof MODES)[number]): void {
  setJitDisabled(mode === 'interpreter');
  setWasmExpr(mode === 'wasm');
}

const SPECIAL = [0, -0, 1, -1, 0.5, -2.5, 3, 7.25, -13, 1e-40, 1e30, -1e30, 3.4e38, NaN, Infinity, -Infinity, 2, 0.1];
const N = SPECIAL.length * 3;

function floats(n: number, f64: boolean, seed: number): Float32Array | Float64Array {
  const a = f64 ? new Float64Array(n) : new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = i < SPECIAL.length ? SPECIAL[(i + seed) % SPECIAL.length] : (s / 4294967296 - 0.5) * 20;
  }
  return a;
}

function ints(n: number, seed: number): Int32Array {
  const a = new Int32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = i % 7 === 0 ? 0 : i % 11 === 0 ? -2147483648 : i % 13 === 0 ? 2147483647 : ((s >>> 16) % 41) - 20;
  }
  return a;
}

const dense = (data: InputView['data'], shape: number[]): InputView => {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { data, shape, strides, offset: 0 };
};

/** Runs an elementwise program every way and expects identical bits. */
function same(exprs: Expr[], inputs: InputView[], shape: number[], scalars: number[], f64: boolean, outType: 'f' | 'i' = 'f'): void {
  const total = shape.reduce((a, b) => a * b, 1);
  const run = (mode: (typeof MODES)[number]) => {
    useMode(mode);
    const outs = exprs.map(() => dense(outType === 'i' ? new Int32Array(total) : f64 ? new Float64Array(total) : new Float32Array(total), shape));
    runElementwise(compile(exprs), inputs, outs, scalars, f64);
    return outs.map((o) => Array.from(o.data));
  };
  const [a, ...rest] = MODES.map(run);
  for (const b of rest) {
    expect(a.map((o) => o.map(String))).toEqual(b.map((o) => o.map(String)));
    // -0 vs 0 is lost by String(); compare signs of zeros as well
    expect(a.map((o) => o.map((v) => Object.is(v, -0)))).toEqual(b.map((o) => o.map((v) => Object.is(v, -0))));
  }
}

describe('CPU generated kernels match the interpreter bit for bit', () => {
  for (const f64 of [false, true]) {
    const mode = f64 ? 'float64 storage' : 'float32 storage';
    it(`every unary op on float, int and bool operands (${mode})`, () => {
      const x = dense(floats(N, f64, 3), [N]), xi = dense(ints(N, 5), [N]);
      for (const op of Object.keys(UNARY) as UnaryOp[]) {
        same([IR.unary(op, IR.load(0, 'float32'))], [x], [N], [], f64);
        same([IR.cast(IR.unary(op, IR.load(0, 'int32')), 'float32')], [xi], [N], [], f64);
        same([IR.cast(IR.unary(op, IR.cast(IR.load(0, 'int32'), 'bool')), 'float32')], [xi], [N], [], f64);
      }
    });

    it(`every binary op on float and int operands, broadcast and strided (${mode})`, () => {
      const a = dense(floats(N, f64, 7), [N]), ai = dense(ints(N, 9), [N]);
      // b broadcasts along rows and reads every other element (a strided view)
      const bData = floats(2 * 6, f64, 11), biData = ints(2 * 6, 13);
      const shape = [N / 6, 6];
      const b: InputView = { data: bData, shape, strides: [0, 2], offset: 1 };
      const bi: InputView = { data: biData, shape, strides: [0, 2], offset: 0 };
      const a2: InputView = { ...a, shape, strides: [6, 1] }, ai2: InputView = { ...ai, shape, strides: [6, 1] };
      // every pair of special values, dense
      const S = SPECIAL.length;
      const pa = f64 ? new Float64Array(S * S) : new Float32Array(S * S), pb = f64 ? new Float64Array(S * S) : new Float32Array(S * S);
      for (let i = 0; i < S * S; i++) [pa[i], pb[i]] = [SPECIAL[i % S], SPECIAL[Math.floor(i / S)]];
      for (const op of Object.keys(BINARY) as BinaryOp[]) {
        same([IR.cast(IR.binary(op, IR.load(0, 'float32'), IR.load(1, 'float32')), 'float32')], [dense(pa, [S * S]), dense(pb, [S * S])], [S * S], [], f64);
        same([IR.cast(IR.binary(op, IR.load(0, 'float32'), IR.load(1, 'float32')), 'float32')], [a2, b], shape, [], f64);
        same([IR.cast(IR.binary(op, IR.load(0, 'int32'), IR.load(1, 'int32')), 'float32')], [ai2, bi], shape, [], f64);
        same([IR.cast(IR.binary(op, IR.load(0, 'int32'), IR.scalar(0, 'int32')), 'int32')], [ai2], shape, [-3.7], f64, 'i');
        same([IR.cast(IR.binary(op, IR.scalar(0), IR.load(0, 'float32')), 'float32')], [a2], shape, [0.1], f64);
      }
    });

    it(`casts, where, constants, index, rand and several outputs (${mode})`, () => {
      const x = dense(floats(N, f64, 17), [N]), c = dense(ints(N, 19), [N]);
      const lx = IR.load(0, 'float32');
      const exprs = [
        IR.where(IR.load(1, 'int32'), IR.binary('mul', lx, IR.const(1 / 3)), IR.unary('neg', lx)),
        IR.binary('add', IR.cast(IR.cast(lx, 'int32'), 'float32'), IR.cast(IR.cast(lx, 'bool'), 'float32')),
        IR.binary('mul', IR.rand(1, 2), IR.cast(IR.index(), 'float32')),
        IR.binary('sub', IR.const(-0), IR.binary('mul', IR.scalar(0), IR.const(0.1))),
      ];
      same(exprs, [x, c], [N], [1e-3, 12345, 678, 9], f64);
    });
  }

  it('reductions over fused expressions', () => {
    const shape = [5, 9];
    const x = dense(floats(45, false, 23), shape);
    const body = IR.unary('exp', IR.binary('sub', IR.load(0, 'float32'), IR.const(2)));
    for (const op of ['sum', 'mean', 'max', 'min', 'prod', 'argmax', 'argmin'] as ReduceOp[]) {
      const results = MODES.map((mode) => {
        useMode(mode);
        const out = dense(op.startsWith('arg') ? new Int32Array(5) : new Float32Array(5), [5]);
        runReduce(compile(body), op, 1, [x], shape, out, []);
        return Array.from(out.data).map(String);
      });
      expect(results[0]).toEqual(results[1]);
      expect(results[0]).toEqual(results[2]);
    }
  });

  it('writes dense outputs directly, in place too, and keeps old values for shifted overlaps (over several blocks)', () => {
    const n = 5000; // more than one 2048-element block
    const run = (mode: (typeof MODES)[number]) => {
      useMode(mode);
      // in place: p ← p − 0.1·g and m ← 0.9·m + g in one kernel (two outputs that are also inputs)
      const p = floats(n, false, 29), m = floats(n, false, 31), g = floats(n, false, 37);
      const [lp, lg, lm] = [0, 1, 2].map((i) => IR.load(i, 'float32'));
      const pv = dense(p, [n]), mv = dense(m, [n]);
      runElementwise(compile([IR.binary('sub', lp, IR.binary('mul', IR.const(0.1), lg)), IR.binary('add', IR.binary('mul', IR.const(0.9), lm), lg)]), [pv, dense(g, [n]), mv], [pv, mv], []);
      // shifted overlap: x[1:] ← x[:-1] + 1 must read the old x everywhere
      const x = floats(n, false, 41);
      const src: InputView = { data: x, shape: [n - 1], strides: [1], offset: 0 };
      const dst: InputView = { data: x, shape: [n - 1], strides: [1], offset: 1 };
      const old = Array.from(x);
      runElementwise(compile(IR.binary('add', IR.load(0, 'float32'), IR.const(1))), [src], [dst], []);
      for (let i = 1; i < n; i += 997) expect(x[i]).toBe(Math.fround(old[i - 1] + 1));
      // an int32 output from a float expression, written straight into an Int32Array
      const q = new Int32Array(n);
      runElementwise(compile(IR.cast(IR.binary('mul', IR.load(0, 'float32'), IR.const(3)), 'int32')), [dense(g, [n])], [dense(q, [n])], []);
      return [p, m, x, q].map((a) => Array.from(a).map(String));
    };
    const [a, ...rest] = MODES.map(run);
    for (const b of rest) expect(a).toEqual(b);
  });

  it('column sums run in memory order with the same per-output order of terms (bit-identical)', () => {
    // a bias gradient's shape: reduce dim 0 of a row-major [R, O]; O odd and even, and R·O past
    // one chunk of the wasm column sum's memory for the plain sums
    for (const [R, O] of [[300, 37], [7000, 37], [129, 64], [5, 1]]) {
      const x = floats(R * O, false, 43), y = floats(R * O, false, 47);
      // the kernel's view: kept dim first, reduced last, as ops/run.ts permutes them
      const col = (data: Float32Array | Float64Array): InputView => ({ data, shape: [O, R], strides: [1, O], offset: 0 });
      const lx = IR.load(0, 'float32');
      for (const [body, term] of [[IR.binary('mul', lx, IR.load(1, 'float32')), (i: number) => Math.fround(x[i] * y[i])], [lx, (i: number) => x[i]]] as const) {
        for (const op of ['sum', 'mean'] as ReduceOp[]) {
          for (const mode of MODES) {
            useMode(mode);
            const out = dense(new Float32Array(O), [O]);
            runReduce(compile(body), op, 1, [col(x), col(y)], [O, R], out, []);
            const want = Array.from({ length: O }, (_, o) => {
              let a = 0;
              for (let r = 0; r < R; r++) a += term(r * O + o);
              return Math.fround(op === 'mean' ? a / R : a);
            });
            expect(Array.from(out.data).map(String)).toEqual(want.map(String));
          }
        }
      }
    }
  });
});

describe('CPU WebAssembly expression kernels', () => {
  const lx = IR.load(0, 'float32'), ly = IR.load(1, 'float32');
  const inWasm = (e: Expr | Expr[]) => wasmBlockFunction(compile(e), [true, true], 2048) !== null;

  it('take the float32 ops they implement and leave the rest to JavaScript', () => {
    const unary = (Object.keys(UNARY) as UnaryOp[]).filter((op) => op !== 'not' && op !== 'isnan' && op !== 'isinf');
    expect(unary.filter((op) => inWasm(IR.unary(op, lx)))).toEqual(['neg', 'abs', 'exp', 'sqrt', 'erf', 'floor', 'ceil', 'round', 'sign', 'recip', 'trunc']);
    expect(inWasm(IR.cast(IR.unary('isnan', lx), 'float32'))).toBe(true);
    expect(inWasm(IR.cast(IR.unary('not', IR.unary('isinf', lx)), 'float32'))).toBe(true);
    const binary = (Object.keys(BINARY) as BinaryOp[]).filter((op) => op !== 'and' && op !== 'or');
    expect(binary.filter((op) => inWasm(IR.cast(IR.binary(op, lx, ly), 'float32')))).toEqual(['add', 'sub', 'mul', 'div', 'max', 'min', 'lt', 'le', 'gt', 'ge', 'eq', 'ne']);
    expect(inWasm(IR.where(IR.binary('and', IR.binary('lt', lx, ly), IR.binary('gt', lx, IR.scalar(0))), lx, IR.const(0)))).toBe(true);
    // int32 values, index and rand, a plain copy: JavaScript
    expect(inWasm(IR.cast(IR.binary('add', IR.load(0, 'int32'), IR.const(1, 'int32')), 'float32'))).toBe(false);
    expect(inWasm(IR.binary('add', lx, IR.cast(IR.index(), 'float32')))).toBe(false);
    expect(inWasm(IR.binary('mul', lx, IR.rand(0, 0)))).toBe(false);
    expect(inWasm(lx)).toBe(false);
    // a bool result
    expect(inWasm(IR.binary('lt', lx, ly))).toBe(false);
  });

  /** Float32 values: random bit patterns, then sweeps across each special point of exp and erf. */
  function manyFloats(): Float32Array {
    const out: number[] = [];
    const bits = new Uint32Array(1 << 20);
    let s = 12345;
    for (let i = 0; i < bits.length; i++) bits[i] = s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    for (const v of new Float32Array(bits.buffer)) out.push(v);
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    // every float32 within 2^12 ulps of each point, both signs
    for (const p of [1, Math.LN2 / 2, 1.5 * Math.LN2, 2 ** -28, 88.72, 89, 87.3, 103.97, 110, 3.92, 1e-30, 0.5, 2, 10]) {
      for (const sign of [1, -1]) {
        f[0] = sign * p;
        const c = u[0];
        for (let d = -4096; d <= 4096; d++) {
          u[0] = c + d;
          out.push(f[0]);
        }
      }
    }
    // a dense sweep of the range that matters
    for (let i = 0; i < 1 << 20; i++) out.push(-120 + (240 * i) / (1 << 20));
    out.push(0, -0, Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45);
    return new Float32Array(out);
  }

  it('compute exp and erf bit for bit as Math.fround(Math.exp(x)) and math.ts erf do, on millions of float32s', () => {
    const x = manyFloats(), n = x.length;
    for (const [op, ref] of [['exp', Math.exp], ['erf', erf]] as const) {
      const prog = compile(IR.unary(op, lx));
      expect(wasmBlockFunction(prog, [true], 2048)).not.toBe(null);
      const out = new Float32Array(n);
      runElementwise(prog, [dense(x, [n])], [dense(out, [n])], []);
      let bad = 0, first = '';
      for (let i = 0; i < n; i++) {
        const want = Math.fround(ref(x[i]));
        if (!Object.is(out[i], want)) {
          if (!bad++) first = `${op}(${x[i]}) = ${out[i]}, want ${want}`;
        }
      }
      expect(first).toBe('');
      expect(bad).toBe(0);
    }
  });
});

describe('CPU strided copies', () => {
  /** The value at each row-major position of a view, by index arithmetic. */
  function naive(data: Float32Array, shape: number[], strides: number[], offset: number): number[] {
    const n = shape.reduce((a, b) => a * b, 1), out: number[] = [];
    for (let i = 0; i < n; i++) {
      let rem = i, off = offset;
      for (let d = shape.length - 1; d >= 0; d--) {
        off += (rem % shape[d]) * strides[d];
        rem = Math.floor(rem / shape[d]);
      }
      out.push(data[off]);
    }
    return out;
  }

  it('copy transposes, slices, broadcasts, size-1 dims and scalars into a dense output', () => {
    const data = floats(4000, false, 51) as Float32Array;
    const cases: [number[], number[], number][] = [
      [[3, 4, 5, 6], [120, 6, 24, 1], 0], // permute(0, 2, 1, 3): runs of 6
      [[3, 4, 5, 6], [1, 3, 12, 60], 7], // a full transpose: stride-60 innermost
      [[7, 40], [100, 1], 30], // a slice with runs of 40 (one typed-array copy each)
      [[2, 1, 3, 64], [600, 999, 200, 1], 5], // size-1 dim, runs of 64, dims merged
      [[4, 5, 6], [0, 6, 1], 3], // broadcast along dim 0
      [[5, 33], [33, 1], 11], // contiguous: merged into one run
      [[1, 1], [5, 9], 17], // one element
      [[], [], 23], // a scalar
    ];
    for (const [shape, strides, offset] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n + 2);
      runElementwise(compile(IR.load(0, 'float32')), [{ data, shape, strides, offset }], [{ data: out, shape, strides: shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1)), offset: 1 }], []);
      expect(Array.from(out.subarray(1, n + 1)).map(String)).toEqual(naive(data, shape, strides, offset).map(String));
      expect([out[0], out[n + 1]]).toEqual([0, 0]);
    }
  });
});
