/**
 * The template syntax of shaders/*.wgsl: how one WGSL file serves every variant of a routine.
 *
 * Three constructs, all resolved before WGSL ever sees the text:
 *
 * - `{{NAME}}` is replaced by `vars.NAME` (a string or number). A placeholder with no value is
 *   an error, so a typo cannot silently compile into something else.
 * - Whole lines `#if FLAG`, `#if !FLAG`, `#elif FLAG`, `#else`, `#endif` keep or drop the lines
 *   between them (nesting allowed). FLAG is true when `flags` has it. This is for what a WGSL
 *   `const` cannot do: a binding that exists only in some variants (bias), or a binding whose
 *   element type changes (`array<f32>` vs `array<vec4<f32>>` for vec4 loads), where dead code
 *   would still have to type-check.
 *
 * - Lines `#unroll c N` … `#endunroll` repeat the lines between them N times (N a number or the
 *   name of a var), the identifier `c` replaced by 0u, 1u, … in turn: a loop over a constant
 *   count written out, so that private arrays indexed by it become registers on compilers that
 *   would otherwise keep them in memory (SwiftShader's; measured in bench/RESULTS.md).
 *
 * Everything else that varies (activation, `log` softmax, ...) is a WGSL `const` set through a
 * placeholder, so the compiler folds the branch away and the shader stays readable.
 *
 * @example
 * render('#if BIAS\nv += bias[n];\n#endif\nconst ACT = {{ACT}}u;', { ACT: 2 }, ['BIAS'])
 * // → 'v += bias[n];\nconst ACT = 2u;'
 */

import { helpersFor } from '../../../kernel/wgsl-lib.js';
import type { GpuContext } from '../launch.js';
import { ShaderCompileError } from '../../../errors.js';

export type TemplateVars = Readonly<Record<string, string | number>>;

/** Expands `src` (see the module comment); `name` labels errors. */
export function render(src: string, vars: TemplateVars = {}, flags: Iterable<string> = [], name = 'shader'): string {
  return substitute(unroll(select(src, flags, name), vars, name), vars, name);
}

/** Keeps the lines of the taken #if branches. */
function select(src: string, flags: Iterable<string>, name: string): string {
  const on = new Set(flags);
  const out: string[] = [];
  // one frame per open #if: whether this branch is emitted, and whether an earlier branch was taken
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const emitting = (): boolean => stack.length === 0 || stack[stack.length - 1].active;
  const test = (expr: string, line: number): boolean => {
    const m = /^(!?)([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr.trim());
    if (!m) throw new ShaderCompileError(`${name}:${line}: bad #if condition '${expr}'`);
    return on.has(m[2]) !== (m[1] === '!');
  };
  const lines = src.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const d = /^\s*#(if|elif|else|endif)\b(.*)$/.exec(line);
    if (!d) {
      if (emitting()) out.push(line);
      continue;
    }
    const [, kw, rest] = d;
    const top = stack[stack.length - 1];
    if (kw === 'if') {
      const parent = emitting();
      const t = parent && test(rest, i + 1);
      stack.push({ active: t, taken: t, parent });
    } else if (!top) {
      throw new ShaderCompileError(`${name}:${i + 1}: #${kw} without #if`);
    } else if (kw === 'elif') {
      const t = top.parent && !top.taken && test(rest, i + 1);
      top.active = t;
      top.taken ||= t;
    } else if (kw === 'else') {
      top.active = top.parent && !top.taken;
      top.taken = true;
    } else {
      stack.pop();
    }
  }
  if (stack.length) throw new ShaderCompileError(`${name}: unterminated #if`);
  return out.join('\n');
}

/** Writes out the #unroll blocks (not nested). */
function unroll(src: string, vars: TemplateVars, name: string): string {
  const out: string[] = [];
  let block: { id: RegExp; n: number; lines: string[] } | null = null;
  for (const line of src.split('\n')) {
    const d = /^\s*#(unroll|endunroll)\b\s*(.*)$/.exec(line);
    if (!d) {
      (block ? block.lines : out).push(line);
    } else if (d[1] === 'unroll') {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z0-9_]+)$/.exec(d[2].trim());
      if (!m || block) throw new ShaderCompileError(`${name}: bad #unroll '${line.trim()}' (#unroll IDENT COUNT, not nested)`);
      const n = /^\d+$/.test(m[2]) ? Number(m[2]) : Number(vars[m[2]]);
      if (!Number.isInteger(n) || n < 0) throw new ShaderCompileError(`${name}: #unroll count ${m[2]} is not a non-negative integer`);
      block = { id: new RegExp(`\\b${m[1]}\\b`, 'g'), n, lines: [] };
    } else {
      if (!block) throw new ShaderCompileError(`${name}: #endunroll without #unroll`);
      for (let i = 0; i < block.n; i++) for (const l of block.lines) out.push(l.replace(block.id, `${i}u`));
      block = null;
    }
  }
  if (block) throw new ShaderCompileError(`${name}: unterminated #unroll`);
  return out.join('\n');
}

/** Replaces the {{NAME}} placeholders. */
function substitute(src: string, vars: TemplateVars, name: string): string {
  return src.replace(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new ShaderCompileError(`${name}: no value for {{${k}}}`);
    return String(v);
  });
}

/**
 * Appends the `wt_*` helpers (src/kernel/wgsl-lib.ts) that `code` calls: NaN-safe exp/log/tanh,
 * erf, special floats by bits. Routines share them with the expression kernels so that, e.g., a
 * fused gelu epilogue computes exactly what the gelu op does, and NaN/inf behave the same.
 */
export function withHelpers(code: string): string {
  const lib = helpersFor(code);
  return lib ? `${code}\n${lib}\n` : code;
}

/** The per-dimension workgroup limit (65535 is what every device guarantees). */
export const maxGroups = (ctx: GpuContext): number => ctx.limits?.maxComputeWorkgroupsPerDimension ?? 65535;

/**
 * Workgroup counts for `n` workgroups of a 1-D problem as a 2-D grid, x within `maxDim`; the
 * shader numbers groups `wg.y * num_workgroups.x + wg.x` and skips those past `n`.
 */
export function grid2d(n: number, maxDim = 65535): [number, number, number] {
  if (n <= maxDim) return [Math.max(n, 0), 1, 1];
  const y = Math.ceil(n / maxDim);
  if (y > maxDim) throw new ShaderCompileError(`webgpu: ${n} workgroups do not fit a ${maxDim} x ${maxDim} grid`);
  return [Math.ceil(n / y), y, 1];
}

/** Product of the dims. */
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** True if the view is laid out row-major with no gaps (offset may be anything). */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== s) return false;
    s *= shape[d];
  }
  return true;
}
