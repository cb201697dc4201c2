/**
 * WGSL code generation for expression kernels (elementwise and reduce) from the kernel IR.
 *
 * The expression becomes one function, `wt_expr(x0, x1, ..., idx)`, evaluated per element with
 * common subexpressions as `let` temporaries. Entry points around it differ only in how they
 * find elements: `strided` (any strides, offsets, broadcast, negative steps, decoded from
 * uniforms), `vec4` (dense and 16-byte aligned: vector loads and stores, the same `wt_expr` per
 * lane), and for reductions `tree` (one workgroup per output, shared-memory tree) or `row`
 * (one thread per output, for short rows). Shapes, strides, offsets and scalars live in a
 * uniform block whose layout (`exprLayout`) depends only on counts, so one pipeline serves
 * every shape. Storage is bound as raw `u32` words and bitcast, so buffers of any dtype bind
 * alike. Semantics follow the CPU interpreter (src/backend/cpu/expr.ts); see wgsl-lib.ts.
 */
import type { DType } from '../dtype.js';
import { exprKey, type BinaryOp, type Expr, type UnaryOp } from './ir.js';
import type { ReduceOp } from './kernel.js';
import { helpersFor } from './wgsl-lib.js';

/** The WGSL type holding a value of each dtype (bool is 0/1 in a u32, as in storage). */
export const WGSL_TYPE: Record<DType, string> = { float32: 'f32', int32: 'i32', bool: 'u32' };

/** How a scalar parameter is packed into its uniform word. */
export type SlotKind = 'f32' | 'i32' | 'bool' | 'u32';
export interface ScalarSlot {
  /** index into the dispatch's scalars */
  readonly index: number;
  readonly kind: SlotKind;
}

/** What a kernel needs to know about its expressions, computed once per kernel. */
export interface ExprInfo {
  /** one expression per output (elementwise kernels may have several; reductions have one) */
  readonly exprs: readonly Expr[];
  /** input indices the expressions read, ascending (unread inputs are not bound) */
  readonly loads: readonly number[];
  /** uniform scalar words, in slot order */
  readonly slots: readonly ScalarSlot[];
  /** the expressions' exprKey, computed once (pipeline keys are built per dispatch) */
  readonly key: string;
}

const SLOT_KIND: Record<DType, SlotKind> = { float32: 'f32', int32: 'i32', bool: 'bool' };

/** Collects the loads and scalar slots of a kernel's expressions. */
export function analyzeExpr(exprs: Expr | readonly Expr[]): ExprInfo {
  const list: readonly Expr[] = Array.isArray(exprs) ? exprs : [exprs as Expr];
  const loads = new Set<number>();
  const slots: ScalarSlot[] = [];
  const seen = new Set<string>();
  const slot = (index: number, kind: SlotKind): void => {
    const k = `${index}:${kind}`;
    if (!seen.has(k)) {
      seen.add(k);
      slots.push({ index, kind });
    }
  };
  const walk = (e: Expr): void => {
    if (e.op === 'load') loads.add(e.value!);
    else if (e.op === 'scalar') slot(e.value!, SLOT_KIND[e.dtype]);
    else if (e.op === 'rand') for (let k = 0; k < 3; k++) slot(e.value! + k, 'u32');
    e.args.forEach(walk);
  };
  list.forEach(walk);
  return { exprs: list, loads: [...loads].sort((a, b) => a - b), slots, key: list.map(exprKey).join(';') };
}

/**
 * Uniform word layout of an expression kernel with `ndim` iteration dims and `nViews` views
 * (the outputs first, then the loaded inputs): a 4-word header [count, R, count/4, 0],
 * the iteration shape, each view's element offset and strides, then the scalar slots.
 */
export interface ExprLayout {
  readonly words: number;
  shape(d: number): number;
  offset(v: number): number;
  stride(v: number, d: number): number;
  slot(k: number): number;
}

/** The layout for these counts; the dispatcher packs by it and the codegen reads by it. */
export function exprLayout(ndim: number, nViews: number, nSlots: number): ExprLayout {
  const viewBase = 4 + ndim;
  const slotBase = viewBase + nViews * (ndim + 1);
  return {
    words: Math.max(4, Math.ceil((slotBase + nSlots) / 4) * 4),
    shape: (d) => 4 + d,
    offset: (v) => viewBase + v * (ndim + 1),
    stride: (v, d) => viewBase + v * (ndim + 1) + 1 + d,
    slot: (k) => slotBase + k,
  };
}

/**
 * Uniform layout of a multi-segment kernel (S segments, `nViews` views each, outputs first): the
 * 4-word header, then per segment the end of its workgroup range (running total), its length
 * (in vec4s for a vec4 segment, else elements) and its views' offsets (likewise), then the
 * scalar slots.
 */
export function segmentLayout(S: number, nViews: number, nSlots: number): { words: number; slot(k: number): number; end(g: number): number; len(g: number): number; segOffset(g: number, v: number): number } {
  const per = 2 + nViews, slotBase = 4 + S * per;
  return {
    words: Math.ceil((slotBase + nSlots) / 4) * 4,
    slot: (k) => slotBase + k,
    end: (g) => 4 + g * per,
    len: (g) => 4 + g * per + 1,
    segOffset: (g, v) => 4 + g * per + 2 + v,
  };
}

/** Everything that changes the generated source of an expression kernel. */
export interface ExprKernelSpec {
  readonly info: ExprInfo;
  readonly variant: 'strided' | 'vec4' | 'tree' | 'row' | 'segments';
  /** the 'segments' variant: how many (bindings are segment-major in inputBinding / outputBinding) */
  readonly segments?: number;
  /** the 'segments' variant: per segment, whether it runs four elements per thread */
  readonly segmentVec4?: readonly boolean[];
  /**
   * the 'tree' variant: a fixed subgroup size dividing the workgroup; each subgroup combines its
   * lanes with shuffles and one barrier gathers the subgroups' results (instead of a
   * shared-memory tree with a barrier per level)
   */
  readonly subgroupSize?: number;
  /** iteration dims after coalescing; for reductions outer dims then `nReduce` reduced dims */
  readonly ndim: number;
  readonly nReduce: number;
  readonly op?: ReduceOp;
  readonly workgroupSize: number;
  /** access of bindings 1..n (binding 0 is the uniform block); read-only ones come first */
  readonly bindings: readonly ('read' | 'read_write')[];
  /** binding of each loaded input (in `info.loads` order) and of each output */
  readonly inputBinding: readonly number[];
  readonly outputBinding: readonly number[];
  /** vec4 variant: per loaded input, true when it is one broadcast element (all strides 0) */
  readonly splat?: readonly boolean[];
}

/** The pipeline cache key of a spec. */
export function exprKernelKey(s: ExprKernelSpec): string {
  return `x:${s.variant}${s.segments ?? ''}${s.workgroupSize}:${s.ndim}/${s.nReduce}:${s.op ?? ''}:${s.bindings.map((b) => (b === 'read' ? 'r' : 'w')).join('')}` +
    `:${s.inputBinding.join(',')}>${s.outputBinding.join(',')}:${(s.splat ?? []).map(Number).join('')}${s.segmentVec4 ? `:${s.segmentVec4.map(Number).join('')}` : ''}${s.subgroupSize ? `:sg${s.subgroupSize}` : ''}|${s.info.key}`;
}

const word = (k: number): string => `u.w[${k >> 2}].${'xyzw'[k & 3]}`;
const f32bits = new Float32Array(1), u32bits = new Uint32Array(f32bits.buffer);

function literal(v: number, t: DType): string {
  if (t === 'bool') return v ? '1u' : '0u';
  if (t === 'int32') {
    const i = v | 0;
    return i === -2147483648 ? 'bitcast<i32>(0x80000000u)' : i < 0 ? `(${i}i)` : `${i}i`;
  }
  f32bits[0] = v;
  const f = f32bits[0];
  // the shortest decimal of an exactly representable value converts back exactly
  if (!Number.isFinite(f)) return `wt_f32(0x${u32bits[0].toString(16)}u)`;
  if (Object.is(f, -0)) return 'bitcast<f32>(0x80000000u)';
  return f < 0 ? `(${f}f)` : `${f}f`;
}

/**
 * WGSL spelling of each unary primitive, for a float (f32) and for an integer result (int: ops
 * that keep an int32 operand's dtype, see UNARY.keepsInt; the others always compute in f32). Float
 * functions go through wgsl-lib.ts where the builtin mishandles NaN, 0 or accuracy.
 */
const UNARY_WGSL: { [K in UnaryOp]: { f32: (x: string) => string; int?: (x: string) => string } } = {
  neg: { f32: (x) => `(-${x})`, int: (x) => `(-${x})` },
  abs: { f32: (x) => `abs(${x})`, int: (x) => `abs(${x})` },
  exp: { f32: (x) => `wt_exp(${x})` },
  log: { f32: (x) => `wt_log(${x})` },
  sqrt: { f32: (x) => `wt_sqrt(${x})` },
  sin: { f32: (x) => `wt_sin(${x})` },
  cos: { f32: (x) => `wt_cos(${x})` },
  tanh: { f32: (x) => `wt_tanh(${x})` },
  erf: { f32: (x) => `wt_erf(${x})` },
  floor: { f32: (x) => `floor(${x})` },
  ceil: { f32: (x) => `ceil(${x})` },
  // round half to even, as PyTorch
  round: { f32: (x) => `round(${x})` },
  sign: { f32: (x) => `wt_sign(${x})`, int: (x) => `sign(${x})` },
  log1p: { f32: (x) => `wt_log1p(${x})` },
  expm1: { f32: (x) => `wt_expm1(${x})` },
  recip: { f32: (x) => `(1.0 / ${x})` },
  not: { f32: (x) => `select(1u, 0u, ${x} != 0u)`, int: (x) => `select(1u, 0u, ${x} != 0u)` },
  // bit tests: a compiler may assume that floats are never NaN or infinite and fold x != x
  isnan: { f32: (x) => `select(0u, 1u, wt_isnan(${x}))` },
  isinf: { f32: (x) => `select(0u, 1u, wt_isinf(${x}))` },
  tan: { f32: (x) => `wt_tan(${x})` },
  asin: { f32: (x) => `wt_asin(${x})` },
  acos: { f32: (x) => `wt_acos(${x})` },
  atan: { f32: (x) => `wt_atan(${x})` },
  sinh: { f32: (x) => `wt_sinh(${x})` },
  cosh: { f32: (x) => `wt_cosh(${x})` },
  asinh: { f32: (x) => `wt_asinh(${x})` },
  acosh: { f32: (x) => `wt_acosh(${x})` },
  atanh: { f32: (x) => `wt_atanh(${x})` },
  log2: { f32: (x) => `wt_log2(${x})` },
  log10: { f32: (x) => `wt_log10(${x})` },
  trunc: { f32: (x) => `trunc(${x})` },
};

function unary(op: UnaryOp, x: string, arg: DType, out: DType): string {
  // an int operand is never NaN or infinite
  if (op === 'isnan' || op === 'isinf') return arg === 'float32' ? UNARY_WGSL[op].f32(x) : '0u';
  const s = UNARY_WGSL[op];
  return out === 'float32' || !s.int ? s.f32(x) : s.int(x);
}

const cmp = (c: string): string => `select(0u, 1u, ${c})`;
type BinarySpelling = { f32: (a: string, b: string) => string; int: (a: string, b: string) => string };

/** Binary spellings for float and for integer operands; the mapped type refuses a missing op. */
const BINARY_WGSL: { [K in BinaryOp]: BinarySpelling } = {
  add: { f32: (a, b) => `(${a} + ${b})`, int: (a, b) => `(${a} + ${b})` },
  sub: { f32: (a, b) => `(${a} - ${b})`, int: (a, b) => `(${a} - ${b})` },
  mul: { f32: (a, b) => `(${a} * ${b})`, int: (a, b) => `(${a} * ${b})` },
  // WGSL integer division by 0 yields a, as the CPU's int rule
  div: { f32: (a, b) => `(${a} / ${b})`, int: (a, b) => `(${a} / ${b})` },
  pow: { f32: (a, b) => `wt_pow(${a}, ${b})`, int: (a, b) => `wt_ipow(${a}, ${b})` },
  max: { f32: (a, b) => `wt_max(${a}, ${b})`, int: (a, b) => `select(${b}, ${a}, ${a} > ${b})` },
  min: { f32: (a, b) => `wt_min(${a}, ${b})`, int: (a, b) => `select(${b}, ${a}, ${a} < ${b})` },
  mod: { f32: (a, b) => `wt_fmod(${a}, ${b})`, int: (a, b) => `wt_imod(${a}, ${b})` },
  idiv: { f32: (a, b) => `wt_fdiv(${a}, ${b})`, int: (a, b) => `wt_idiv(${a}, ${b})` },
  fmod: { f32: (a, b) => `wt_cfmod(${a}, ${b})`, int: (a, b) => `wt_ifmod(${a}, ${b})` },
  // operands are always float (IR.binary casts them)
  atan2: { f32: (a, b) => `wt_atan2(${a}, ${b})`, int: (a, b) => `wt_atan2(f32(${a}), f32(${b}))` },
  lt: { f32: (a, b) => cmp(`${a} < ${b} && wt_ord(${a}, ${b})`), int: (a, b) => cmp(`${a} < ${b}`) },
  le: { f32: (a, b) => cmp(`${a} <= ${b} && wt_ord(${a}, ${b})`), int: (a, b) => cmp(`${a} <= ${b}`) },
  gt: { f32: (a, b) => cmp(`${a} > ${b} && wt_ord(${a}, ${b})`), int: (a, b) => cmp(`${a} > ${b}`) },
  ge: { f32: (a, b) => cmp(`${a} >= ${b} && wt_ord(${a}, ${b})`), int: (a, b) => cmp(`${a} >= ${b}`) },
  eq: { f32: (a, b) => cmp(`${a} == ${b} && wt_ord(${a}, ${b})`), int: (a, b) => cmp(`${a} == ${b}`) },
  ne: { f32: (a, b) => `select(1u, 0u, ${a} == ${b} && wt_ord(${a}, ${b}))`, int: (a, b) => cmp(`${a} != ${b}`) },
  // operands are bools, always 0 or 1
  and: { f32: (a, b) => `(${a} & ${b})`, int: (a, b) => `(${a} & ${b})` },
  or: { f32: (a, b) => `(${a} | ${b})`, int: (a, b) => `(${a} | ${b})` },
};

function cast(x: string, from: DType, to: DType): string {
  if (from === to) return x;
  if (to === 'float32') return `f32(${x})`;
  if (to === 'int32') return from === 'float32' ? `wt_f2i(${x})` : `i32(${x})`;
  return from === 'float32' ? cmp(`${x} != 0.0 || wt_isnan(${x})`) : from === 'int32' ? cmp(`${x} != 0i`) : x;
}

/** Converts a raw storage word to a value of `t`, and back. */
const fromWord = (w: string, t: DType): string => (t === 'bool' ? w : `bitcast<${WGSL_TYPE[t]}>(${w})`);
const toWord = (v: string, t: DType): string => (t === 'bool' ? v : `bitcast<u32>(${v})`);

/**
 * `fn wt_expr(...)`: the expressions over their loaded inputs and the linear element index,
 * sharing temporaries; it returns the single output's value, or a struct `WtOut` { v0, v1, ... }.
 */
function exprFunction(info: ExprInfo, slot: (k: number) => number): string {
  const lines: string[] = [];
  const names = new Map<string, string>();
  const philox = new Map<number, string>();
  const slotOf = (index: number, kind: SlotKind): number => info.slots.findIndex((s) => s.index === index && s.kind === kind);
  const dtypeOfLoad = new Map<number, DType>();
  const visit = (e: Expr): string => {
    if (e.op === 'load') {
      dtypeOfLoad.set(e.value!, e.dtype);
      return `x${e.value}`;
    }
    const key = exprKey(e);
    const hit = names.get(key);
    if (hit) return hit;
    let v: string;
    const a = e.args.map(visit);
    switch (e.op) {
      case 'scalar':
        v = fromWord(word(slot(slotOf(e.value!, SLOT_KIND[e.dtype]))), e.dtype);
        break;
      case 'const':
        v = literal(e.value!, e.dtype);
        break;
      case 'index':
        v = 'bitcast<i32>(idx)';
        break;
      case 'rand': {
        let p = philox.get(e.value!);
        if (!p) {
          p = `p${e.value}`;
          const w = (k: number) => word(slot(slotOf(e.value! + k, 'u32')));
          lines.push(`  let ${p} = wt_philox(vec4<u32>(idx, ${w(2)}, 0u, 0u), vec2<u32>(${w(0)}, ${w(1)}));`);
          philox.set(e.value!, p);
        }
        v = `wt_u01(${p}.${'xyzw'[e.lane ?? 0]})`;
        break;
      }
      case 'cast':
        v = cast(a[0], e.args[0].dtype, e.dtype);
        break;
      case 'where':
        v = `select(${a[2]}, ${a[1]}, ${a[0]} != 0u)`;
        break;
      default:
        if (e.args.length === 1) v = unary(e.op as UnaryOp, a[0], e.args[0].dtype, e.dtype);
        else v = BINARY_WGSL[e.op as BinaryOp][e.args[0].dtype === 'float32' ? 'f32' : 'int'](a[0], a[1]);
    }
    const name = `t${names.size}`;
    lines.push(`  let ${name}: ${WGSL_TYPE[e.dtype]} = ${v};`);
    names.set(key, name);
    return name;
  };
  const results = info.exprs.map(visit);
  const params = info.loads.map((i) => `x${i}: ${WGSL_TYPE[dtypeOfLoad.get(i)!]}`).concat('idx: u32').join(', ');
  if (results.length === 1) return [`fn wt_expr(${params}) -> ${WGSL_TYPE[info.exprs[0].dtype]} {`, ...lines, `  return ${results[0]};`, '}'].join('\n');
  const fields = info.exprs.map((e, k) => `v${k}: ${WGSL_TYPE[e.dtype]}`).join(', ');
  return [`struct WtOut { ${fields} }`, `fn wt_expr(${params}) -> WtOut {`, ...lines, `  return WtOut(${results.join(', ')});`, '}'].join('\n');
}

/** The dtype each loaded input is read as (its `load` leaves' dtype). */
function loadDTypes(info: ExprInfo): DType[] {
  const m = new Map<number, DType>();
  const walk = (e: Expr): void => {
    if (e.op === 'load') m.set(e.value!, e.dtype);
    e.args.forEach(walk);
  };
  info.exprs.forEach(walk);
  return info.loads.map((i) => m.get(i)!);
}

/**
 * Statements that decode the linear index `q` over dims [from, to) and add each coordinate
 * times the view's stride to the view's offset variable `name(v)` (i32, element units).
 * Dim `from` is outermost, so it needs no modulo.
 */
function decode(layout: ExprLayout, q: string, from: number, to: number, views: number[], name: (v: number) => string, indent = '  '): string[] {
  const out: string[] = [];
  for (let d = to - 1; d >= from; d--) {
    const c = d === from ? `i32(${q})` : `i32(${q} % ${word(layout.shape(d))})`;
    out.push(`${indent}{ let c = ${c};${d === from ? '' : ` ${q} = ${q} / ${word(layout.shape(d))};`}`);
    for (const v of views) out.push(`${indent}  ${name(v)} = ${name(v)} + c * bitcast<i32>(${word(layout.stride(v, d))});`);
    out.push(`${indent}}`);
  }
  return out;
}

/** The uniform block of `words` words and the storage bindings, binding i holding `elem(i)`s. */
function header(s: ExprKernelSpec, words: number, elem: (binding: number) => string): string[] {
  const out = [`struct U { w: array<vec4<u32>, ${words / 4}> }`, '@group(0) @binding(0) var<uniform> u: U;'];
  s.bindings.forEach((b, i) => out.push(`@group(0) @binding(${i + 1}) var<storage, ${b}> b${i + 1}: array<${elem(i + 1)}>;`));
  return out;
}

/** The complete WGSL module of an expression kernel. */
export function exprKernelWgsl(s: ExprKernelSpec): string {
  const nOut = s.info.exprs.length;
  if (s.variant === 'segments') return segmentsWgsl(s);
  const layout = exprLayout(s.ndim, nOut + s.info.loads.length, s.info.slots.length);
  const dts = loadDTypes(s.info);
  const outViews = s.info.exprs.map((_, k) => k);
  const inViews = s.info.loads.map((_, j) => nOut + j);
  const wg = s.workgroupSize;
  const lines = header(s, layout.words, () => (s.variant === 'vec4' ? 'vec4<u32>' : 'u32'));
  lines.push(exprFunction(s.info, layout.slot));
  const load = (j: number, at: string) => fromWord(`b${s.inputBinding[j]}[${at}]`, dts[j]);
  const call = (args: string[], idx: string) => `wt_expr(${[...args, idx].join(', ')})`;
  const init = (views: number[]) => views.map((v) => `  var o${v} = bitcast<i32>(${word(layout.offset(v))});`);
  // output k of a wt_expr result r, as a storage word
  const result = (r: string, k: number) => toWord(nOut === 1 ? r : `${r}.v${k}`, s.info.exprs[k].dtype);
  const gid = '@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>';
  const entry = `@compute @workgroup_size(${wg})`;
  if (s.variant === 'strided') {
    lines.push(entry, `fn main(${gid}) {`, `  let i = gid.x + gid.y * nwg.x * ${wg}u;`, `  if (i >= ${word(0)}) { return; }`);
    lines.push(...init([...outViews, ...inViews]), '  var q = i;', ...decode(layout, 'q', 0, s.ndim, [...outViews, ...inViews], (v) => `o${v}`));
    // every input is read before any output is written (fused in-place updates rely on it)
    lines.push(`  let r = ${call(s.info.loads.map((_, j) => load(j, `u32(o${nOut + j})`)), 'i')};`);
    outViews.forEach((k) => lines.push(`  b${s.outputBinding[k]}[u32(o${k})] = ${result('r', k)};`));
    lines.push('}');
  } else if (s.variant === 'vec4') {
    // every view is dense from a 16-byte aligned offset, or (inputs) one broadcast element
    lines.push(entry, `fn main(${gid}) {`, `  let q = gid.x + gid.y * nwg.x * ${wg}u;`, `  if (q >= ${word(2)}) { return; }`, '  let i = q * 4u;');
    s.info.loads.forEach((_, j) => {
      const off = word(layout.offset(nOut + j));
      lines.push(s.splat?.[j] ? `  let a${j} = b${s.inputBinding[j]}[${off} >> 2u][${off} & 3u];` : `  let a${j} = b${s.inputBinding[j]}[(${off} >> 2u) + q];`);
    });
    const lanes = ['x', 'y', 'z', 'w'];
    lanes.forEach((c, k) => lines.push(`  let r${c} = ${call(s.info.loads.map((_, j) => fromWord(s.splat?.[j] ? `a${j}` : `a${j}.${c}`, dts[j])), k ? `i + ${k}u` : 'i')};`));
    outViews.forEach((k) => {
      lines.push(`  b${s.outputBinding[k]}[(${word(layout.offset(k))} >> 2u) + q] = vec4<u32>(${lanes.map((c) => result(`r${c}`, k)).join(', ')});`);
    });
    lines.push('}');
  } else {
    lines.push(...reduceMain(s, layout, dts, load, call, init));
  }
  const body = lines.join('\n');
  return `${s.subgroupSize ? 'enable subgroups;\n' : ''}${helpersFor(body)}\n${body}\n`;
}

/**
 * The 'segments' variant: each segment has its own range of workgroups (so the branch is uniform
 * across a workgroup: a per-thread test of segment ends measured 5x slower on SwiftShader), and a
 * segment whose views are all 16-byte aligned and whose length is a multiple of 4 runs four
 * elements per thread, as the vec4 variant does. A binding is vec4-typed when only vec4 segments
 * use it (the launch makes sure of that).
 */
function segmentsWgsl(s: ExprKernelSpec): string {
  const S = s.segments!;
  const nOut = s.info.exprs.length, nL = s.info.loads.length;
  const L = segmentLayout(S, nOut + nL, s.info.slots.length);
  const dts = loadDTypes(s.info);
  const wg = s.workgroupSize;
  const vec = s.segmentVec4 ?? new Array<boolean>(S).fill(false);
  const vecBinding = new Map<number, boolean>();
  for (let g = 0; g < S; g++) {
    for (let q = 0; q < nL; q++) vecBinding.set(s.inputBinding[g * nL + q], vec[g]);
    for (let k = 0; k < nOut; k++) vecBinding.set(s.outputBinding[g * nOut + k], vec[g]);
  }
  const lines = header(s, L.words, (i) => (vecBinding.get(i) ? 'vec4<u32>' : 'u32'));
  lines.push(exprFunction(s.info, L.slot));
  lines.push(`@compute @workgroup_size(${wg})`, 'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {');
  lines.push('  let w = wid.x + wid.y * nwg.x;');
  const lanes = ['x', 'y', 'z', 'w'];
  for (let g = 0; g < S; g++) {
    const start = g === 0 ? '0u' : word(L.end(g - 1));
    lines.push(`  if (w < ${word(L.end(g))}) {`, `    let q = (w - ${start}) * ${wg}u + lid;`, `    if (q >= ${word(L.len(g))}) { return; }`);
    const inB = (q: number) => `b${s.inputBinding[g * nL + q]}`;
    const outB = (k: number) => `b${s.outputBinding[g * nOut + k]}`;
    const off = (v: number) => word(L.segOffset(g, v));
    const res = (r: string, k: number) => toWord(nOut === 1 ? r : `${r}.v${k}`, s.info.exprs[k].dtype);
    if (vec[g]) {
      // every input is read before any output is written (in-place updates rely on it)
      s.info.loads.forEach((_, q) => lines.push(`    let a${q} = ${inB(q)}[${off(nOut + q)} + q];`));
      lanes.forEach((c, k) => lines.push(`    let r${c} = wt_expr(${[...s.info.loads.map((_, q) => fromWord(`a${q}.${c}`, dts[q])), `q * 4u + ${k}u`].join(', ')});`));
      s.info.exprs.forEach((_, k) => lines.push(`    ${outB(k)}[${off(k)} + q] = vec4<u32>(${lanes.map((c) => res(`r${c}`, k)).join(', ')});`));
    } else {
      lines.push(`    let r = wt_expr(${[...s.info.loads.map((_, q) => fromWord(`${inB(q)}[${off(nOut + q)} + q]`, dts[q])), 'q'].join(', ')});`);
      s.info.exprs.forEach((_, k) => lines.push(`    ${outB(k)}[${off(k)} + q] = ${res('r', k)};`));
    }
    lines.push('    return;', '  }');
  }
  lines.push('}');
  const body = lines.join('\n');
  return `${helpersFor(body)}\n${body}\n`;
}

/** Identity, per-element combine and final value of each reduction, in WGSL. */
function reduceOps(op: ReduceOp, t: DType): { ident: string; combine: (acc: string, ai: string, v: string, vi: string) => string; final: (acc: string, ai: string) => string } {
  const T = WGSL_TYPE[t];
  const isF = t === 'float32';
  const lowest = isF ? 'wt_f32(0xff800000u)' : t === 'int32' ? 'bitcast<i32>(0x80000000u)' : '0u';
  const highest = isF ? 'wt_f32(0x7f800000u)' : t === 'int32' ? 'bitcast<i32>(0x7fffffffu)' : '1u';
  const plain = (f: (a: string, v: string) => string) => (acc: string, _ai: string, v: string) => `${acc} = ${f(acc, v)};`;
  // NaN wins: once the accumulator is NaN it stays; ties keep the lower index
  const better = (gt: string) => (acc: string, ai: string, v: string, vi: string): string => {
    const beats = `(${v} ${gt} ${acc} || (${v} == ${acc} && ${vi} < ${ai}))`;
    const take = isF ? `(wt_isnan(${v}) && (!wt_isnan(${acc}) || ${vi} < ${ai})) || (!wt_isnan(${acc}) && !wt_isnan(${v}) && ${beats})` : beats;
    return `if (${take}) { ${acc} = ${v}; ${ai} = ${vi}; }`;
  };
  const pick = (gt: string) => plain((a, v) => (isF ? `select(select(${a}, ${v}, ${v} ${gt} ${a} || wt_isnan(${v})), ${a}, wt_isnan(${a}))` : `select(${a}, ${v}, ${v} ${gt} ${a})`));
  switch (op) {
    case 'sum': return { ident: `${T}(0)`, combine: plain((a, v) => `${a} + ${v}`), final: (a) => a };
    case 'mean': return { ident: `${T}(0)`, combine: plain((a, v) => `${a} + ${v}`), final: (a) => `f32(${a}) / f32(${word(1)})` };
    case 'prod': return { ident: `${T}(1)`, combine: plain((a, v) => `${a} * ${v}`), final: (a) => a };
    case 'max': return { ident: lowest, combine: pick('>'), final: (a) => a };
    case 'min': return { ident: highest, combine: pick('<'), final: (a) => a };
    case 'argmax': return { ident: lowest, combine: better('>'), final: (_a, ai) => `i32(${ai})` };
    case 'argmin': return { ident: highest, combine: better('<'), final: (_a, ai) => `i32(${ai})` };
  }
}

function reduceMain(
  s: ExprKernelSpec, layout: ExprLayout, dts: DType[],
  load: (j: number, at: string) => string, call: (args: string[], idx: string) => string, init: (views: number[]) => string[],
): string[] {
  const op = s.op!;
  const body = s.info.exprs[0].dtype;
  const outDT: DType = op === 'argmax' || op === 'argmin' ? 'int32' : op === 'mean' ? 'float32' : body;
  const T = WGSL_TYPE[body];
  const R = reduceOps(op, body);
  const wg = s.workgroupSize;
  const nOuter = s.ndim - s.nReduce;
  const inViews = s.info.loads.map((_, j) => j + 1);
  const outer = [...init([0, ...inViews]), '  var q = o;', ...decode(layout, 'q', 0, nOuter, [0, ...inViews], (v) => `o${v}`)];
  // per element: decode r over the reduced dims, starting from the row's offsets
  const elementCode = (r: string): string[] => [
    ...inViews.map((v) => `    var o${v}r = o${v};`),
    `    var qr = ${r};`,
    ...decode(layout, 'qr', nOuter, s.ndim, inViews, (v) => `o${v}r`, '    '),
    `    let v = ${call(s.info.loads.map((_, j) => load(j, `u32(o${j + 1}r)`)), `o * ${word(1)} + ${r}`)};`,
    `    ${R.combine('acc', 'ai', 'v', r)}`,
  ];
  // only argmax / argmin carry an index alongside the value
  const isArg = op === 'argmax' || op === 'argmin';
  const decl = [`  var acc: ${T} = ${R.ident};`, ...(isArg ? ['  var ai = 0xffffffffu;'] : [])];
  const store = (acc: string, ai: string) => `b${s.outputBinding[0]}[u32(o0)] = ${toWord(R.final(acc, ai), outDT)};`;
  const lines: string[] = [];
  if (s.variant === 'row') {
    lines.push(`@compute @workgroup_size(${wg})`, 'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {');
    lines.push(`  let o = gid.x + gid.y * nwg.x * ${wg}u;`, `  if (o >= ${word(0)}) { return; }`, ...outer, ...decl);
    lines.push(`  for (var r = 0u; r < ${word(1)}; r++) {`, ...elementCode('r'), '  }', `  ${store('acc', 'ai')}`, '}');
    return lines;
  }
  lines.push(`var<workgroup> sv: array<${T}, ${wg}>;`, ...(isArg ? [`var<workgroup> si: array<u32, ${wg}>;`] : []));
  lines.push(`@compute @workgroup_size(${wg})`);
  lines.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {');
  // o is uniform across the workgroup, so returning early keeps the barriers below uniform
  lines.push('  let o = wid.x + wid.y * nwg.x;', `  if (o >= ${word(0)}) { return; }`, ...outer, ...decl);
  lines.push(`  for (var r = lid; r < ${word(1)}; r += ${wg}u) {`, ...elementCode('r'), '  }');
  const arg = (l: string) => (isArg ? [l] : []);
  if (s.subgroupSize) {
    const SG = s.subgroupSize;
    // each subgroup's lanes: a butterfly with the op's own combine (its NaN and tie rules), then
    // one barrier, and thread 0 combines the subgroups' results (subgroups are runs of lids)
    lines.push(`  for (var dl = ${SG / 2}u; dl > 0u; dl = dl >> 1u) {`, '    let b = subgroupShuffleXor(acc, dl);', ...arg('    let ib = subgroupShuffleXor(ai, dl);'), `    ${R.combine('acc', 'ai', 'b', 'ib')}`, '  }');
    lines.push(`  if (lid % ${SG}u == 0u) { sv[lid / ${SG}u] = acc;${isArg ? ` si[lid / ${SG}u] = ai;` : ''} }`, '  workgroupBarrier();');
    lines.push('  if (lid == 0u) {', '    var a = sv[0];', ...arg('    var ia = si[0];'), `    for (var k = 1u; k < ${wg / SG}u; k++) {`, '      let b = sv[k];', ...arg('      let ib = si[k];'));
    lines.push(`      ${R.combine('a', 'ia', 'b', 'ib')}`, '    }', `    ${store('a', isArg ? 'ia' : '')}`, '  }', '}');
    return lines;
  }
  lines.push('  sv[lid] = acc;', ...arg('  si[lid] = ai;'), '  workgroupBarrier();');
  lines.push(`  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {`, '    if (lid < s) {');
  lines.push('      var a = sv[lid];', ...arg('      var ia = si[lid];'), '      let b = sv[lid + s];', ...arg('      let ib = si[lid + s];'));
  lines.push(`      ${R.combine('a', 'ia', 'b', 'ib')}`, '      sv[lid] = a;', ...arg('      si[lid] = ia;'), '    }', '    workgroupBarrier();', '  }');
  lines.push(`  if (lid == 0u) { ${store('sv[0]', isArg ? 'si[0]' : '')} }`, '}');
  return lines;
}

/**
 * `fn wt_expr(x0, x1, ..., idx)` of expressions that have no scalar or random leaves (a matmul
 * epilogue: kernel.ts MatmulEpilogue), for a routine's shader to call; parameters are the loads
 * the expressions read, ascending.
 */
export function leafExprFunction(exprs: readonly Expr[]): string {
  return exprFunction(analyzeExpr(exprs), () => {
    throw new Error('leafExprFunction: the expressions read scalars');
  });
}
