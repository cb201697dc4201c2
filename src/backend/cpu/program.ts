/**
 * A kernel expression flattened for the CPU: instructions in evaluation order with repeated
 * subtrees shared, and the shape of the generated block functions that run it (jit.ts,
 * wasm/expr.ts). The evaluator (expr.ts) and both generators read this; none of them imports
 * another for it.
 */
import type { DType, StorageArray } from '../../dtype.js';
import { exprKey, type Expr, type Op } from '../../kernel/ir.js';

/**
 * Computes the program's results for positions start..start+n into res[k][0..n). data[i] is
 * input i's array; base[i] its offset (dense inputs read data[i][base[i] + start + j]); offs[i]
 * the element offsets of a strided input for this block. A function generated with `direct`
 * writes result k straight into the dense output array res[k] at resBase[k] + start + j instead
 * (one pass less over the block; the caller checks that no input reads an output elsewhere).
 */
export type BlockFn = (data: readonly ArrayLike<number>[], base: readonly number[], offs: readonly Int32Array[], scalars: readonly number[], start: number, n: number, res: readonly (Float64Array | StorageArray)[], resBase?: readonly number[]) => void;

export interface Instr {
  op: Op;
  dtype: DType;
  args: number[];
  value: number;
  lane: number;
  argDType: DType;
}

export interface Program {
  instrs: Instr[];
  loads: number[];
  /** the register holding each output */
  results: number[];
  /** generated block functions by f64 flag and dense-input pattern (jit.ts) */
  jit?: Map<string, BlockFn>;
}

/** Flattens an expression into instructions in evaluation order, sharing repeated subtrees. */
export function compile(exprs: Expr | readonly Expr[]): Program {
  const instrs: Instr[] = [];
  const seen = new Map<string, number>();
  const loads = new Set<number>();
  const visit = (e: Expr): number => {
    const key = exprKey(e);
    const hit = seen.get(key);
    if (hit !== undefined) return hit;
    const args = e.args.map(visit);
    if (e.op === 'load') loads.add(e.value!);
    instrs.push({ op: e.op, dtype: e.dtype, args, value: e.value ?? 0, lane: e.lane ?? 0, argDType: e.args[0]?.dtype ?? e.dtype });
    seen.set(key, instrs.length - 1);
    return instrs.length - 1;
  };
  const results = (Array.isArray(exprs) ? exprs : [exprs as Expr]).map(visit);
  return { instrs, loads: [...loads], results };
}
