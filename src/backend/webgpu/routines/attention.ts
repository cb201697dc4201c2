/**
 * WebGPU fused attention (shaders/attention.wgsl): softmax(scale·q kᵀ) v without the [L, S]
 * scores in memory, forward and backward, for head dims up to {@link ATTENTION_MAX_FEATURES}.
 * One thread per query (forward, gq) or key (gk, gv); the other side streams through workgroup
 * memory in tiles. The backward is two launches (keys, then queries) so that no two threads add
 * into one gradient row (WGSL has no float atomics).
 *
 * Napkin math: forward 4·Z·L·S·E flops (halved when causal), backward 10·Z·L·S·E (the scores are
 * recomputed once by each of the two launches); memory traffic O(Z·(L + S)·E) per key/query tile
 * pass instead of O(Z·L·S).
 */
import type { View } from '../../backend.js';
import { ATTENTION_MAX_FEATURES, ATTENTION_SHORT_MAX_ROWS, attentionShortGradParts } from '../../../kernel/kernel.js';
import { f32, type GpuContext, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render } from './template.js';
import attentionSrc from '../../../../shaders/attention.wgsl';
import attentionShortSrc from '../../../../shaders/attention-short.wgsl';
import attentionTilesSrc from '../../../../shaders/attention-tiles.wgsl';
import { BackendError } from '../../../errors.js';

/** Rows (threads) per workgroup. */
const BR = 64;

/** Padded feature count (the rows the kernels hold in registers): the smallest of 16, 32, 64, 128 that holds E and Ev. */
function paddedFeatures(E: number, Ev: number): number {
  const n = Math.max(E, Ev);
  for (const m of [16, 32, 64, 128]) if (n <= m) return m;
  throw new BackendError(`attention (webgpu): head dims E ${E} and Ev ${Ev} must be at most ${ATTENTION_MAX_FEATURES}`);
}

/** [B, H, T, F] of a 4-D float32 view. */
function dims4(routine: string, what: string, v: View): readonly number[] {
  if (v.dtype !== 'float32' || v.shape.length !== 4) throw new BackendError(`${routine} (webgpu): ${what} must be a 4-D float32 view [B, H, T, F], got ${v.dtype} [${v.shape}]`);
  return v.shape;
}

function contiguous(routine: string, what: string, v: View, n: number): void {
  if (!isContiguous(v.shape, v.strides) || numel(v.shape) !== n) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous with ${n} elements, got [${v.shape}] strides [${v.strides}]`);
}

interface Geometry { B: number; H: number; L: number; S: number; E: number; Ev: number }

function geometry(routine: string, q: View, k: View, v: View): Geometry {
  const [B, H, L, E] = dims4(routine, 'q', q), [, , S] = dims4(routine, 'k', k), Ev = dims4(routine, 'v', v)[3];
  const same = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1];
  if (!same(q.shape, k.shape) || !same(q.shape, v.shape) || k.shape[3] !== E || v.shape[2] !== S) {
    throw new BackendError(`${routine} (webgpu): q [${q.shape}], k [${k.shape}], v [${v.shape}] must be [B,H,L,E], [B,H,S,E], [B,H,S,Ev]`);
  }
  return { B, H, L, S, E, Ev };
}

/** One attention.wgsl launch over `rows` rows per matrix; the views after q, k, v (inputs, then outputs) give off3 on. */
function launch(flag: string, causal: boolean, scale: number, g: Geometry, rows: number, inputs: readonly View[], outputs: readonly View[], ctx: GpuContext): GpuLaunch[] {
  const Z = g.B * g.H;
  if (Z === 0 || rows === 0) return [];
  const M = paddedFeatures(g.E, g.Ev), M4 = M / 4, BC = Math.min(32, 1024 / M);
  const nb = Math.ceil(rows / BR);
  const [q, k, v] = inputs;
  const strides = (x: View) => x.shape.map((d, i) => (d === 1 ? 0 : x.strides[i]));
  const rest = [...inputs.slice(3), ...outputs].map((x) => x.offset);
  while (rest.length < 5) rest.push(0);
  const words = [g.H, g.L, g.S, g.E, g.Ev, f32(scale), nb, Z, ...strides(q), ...strides(k), ...strides(v), q.offset, k.offset, v.offset, ...rest];
  return [{
    key: `attention|${flag}|${causal}|${M}`,
    code: () => render(attentionTilesSrc + attentionSrc, { BR, BC, M4, CAUSAL: String(causal) }, [flag], 'attention.wgsl'),
    inputs,
    outputs,
    uniforms: new Uint32Array(words),
    workgroups: grid2d(Z * nb, maxGroups(ctx)),
  }];
}

/** q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] (any strides) → o[B,H,L,Ev], lse[B,H,L]. */
export const attention: GpuRoutine<'attention'> = ({ scale, causal }, inputs, outputs, ctx) => {
  const [q, k, v] = inputs, [o, lse] = outputs;
  const g = geometry('attention', q, k, v);
  contiguous('attention', 'o', o, g.B * g.H * g.L * g.Ev);
  contiguous('attention', 'lse', lse, g.B * g.H * g.L);
  return launch('FWD', causal, scale, g, g.L, inputs, outputs, ctx);
};

/** q, k, v, go[B,H,L,Ev], lse[B,H,L], delta[B,H,L] → gq[B,H,L,E], gk[B,H,S,E], gv[B,H,S,Ev]. */
export const attentionBackward: GpuRoutine<'attentionBackward'> = ({ scale, causal }, inputs, outputs, ctx) => {
  const [q, k, v, go, lse, delta] = inputs, [gq, gk, gv] = outputs;
  const g = geometry('attentionBackward', q, k, v);
  const Z = g.B * g.H;
  contiguous('attentionBackward', 'go', go, Z * g.L * g.Ev);
  contiguous('attentionBackward', 'lse', lse, Z * g.L);
  contiguous('attentionBackward', 'delta', delta, Z * g.L);
  contiguous('attentionBackward', 'gq', gq, Z * g.L * g.E);
  contiguous('attentionBackward', 'gk', gk, Z * g.S * g.E);
  contiguous('attentionBackward', 'gv', gv, Z * g.S * g.Ev);
  return [
    ...launch('BWD_KV', causal, scale, g, g.S, inputs, [gk, gv], ctx),
    ...launch('BWD_Q', causal, scale, g, g.L, inputs, [gq], ctx),
  ];
};

// ---- short sequences: one workgroup per matrix (shaders/attention-short.wgsl) ----------------

/**
 * Threads per workgroup and rows per tile of the short kernels: on SwiftShader (Node, 2 loaded
 * cores, b16 h4 t64 d16 causal) 32 threads and tiles of 16 measured best of 16/32/64/128 × 8/16/32/64
 * (64 × 32, the flash kernels' shape, took about 1.3x the time); the differences were near the noise.
 */
const SHORT_BR = 32, SHORT_BC = 16;

/** One attention-short.wgsl launch: a workgroup per matrix. */
function launchShort(flag: string, causal: boolean, scale: number, g: Geometry, inputs: readonly View[], outputs: readonly View[], w: { o: View; p: View; go?: View; ds?: View; parts?: { off: number; strides: number[] }[] }, ctx: GpuContext): GpuLaunch[] {
  const Z = g.B * g.H;
  if (Z === 0 || g.L === 0) return [];
  if (Math.max(g.L, g.S) > ATTENTION_SHORT_MAX_ROWS) throw new BackendError(`attentionShort (webgpu): at most ${ATTENTION_SHORT_MAX_ROWS} queries and keys, got L ${g.L}, S ${g.S}`);
  const BR = SHORT_BR;
  const M = paddedFeatures(g.E, g.Ev), M4 = M / 4, BC = Math.min(SHORT_BC, 1024 / M);
  const [q, k, v] = inputs;
  const strides = (x: View) => x.shape.map((d, i) => (d === 1 ? 0 : x.strides[i]));
  const go = w.go, parts = w.parts ?? [0, 1, 2].map(() => ({ off: 0, strides: [0, 0, 0, 0] }));
  const u = [
    g.H, g.L, g.S, g.E, g.Ev, f32(scale), Z, Math.ceil(g.L / BR),
    Math.ceil(g.S / BR), w.o.offset, w.p.offset, go ? go.offset : 0,
    ...strides(q), ...strides(k), ...strides(v), ...(go ? strides(go) : [0, 0, 0, 0]),
    q.offset, k.offset, v.offset, w.ds ? w.ds.offset : 0,
    ...parts[0].strides, ...parts[1].strides, ...parts[2].strides,
    ...parts.map((x) => x.off), 0,
  ];
  return [{
    key: `attentionShort|${flag}|${causal}|${M}`,
    code: () => render(attentionTilesSrc + attentionShortSrc, { BR, BC, M4, LMAX: ATTENTION_SHORT_MAX_ROWS, CAUSAL: String(causal) }, [flag], 'attention-short.wgsl'),
    inputs,
    outputs,
    uniforms: new Uint32Array(u),
    workgroups: grid2d(Z, maxGroups(ctx)),
  }];
}

/** q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] (any strides) → o[B,L,H,Ev] (heads merged), p[B,H,L,S] (the weights). */
export const attentionShort: GpuRoutine<'attentionShort'> = ({ scale, causal }, inputs, outputs, ctx) => {
  const [q, k, v] = inputs, [o, p] = outputs;
  const g = geometry('attentionShort', q, k, v);
  contiguous('attentionShort', 'o', o, g.B * g.H * g.L * g.Ev);
  contiguous('attentionShort', 'p', p, g.B * g.H * g.L * g.S);
  return launchShort('FWD', causal, scale, g, inputs, outputs, { o, p }, ctx);
};

/** q, k, v, o[B,L,H,Ev], go[B,H,L,Ev] (any strides), p[B,H,L,S] → g (gq, gk, gv: {@link attentionShortGradParts}), ds[B,H,L,S] (scratch). */
export const attentionShortBackward: GpuRoutine<'attentionShortBackward'> = ({ scale, causal, packed }, inputs, outputs, ctx) => {
  const [q, k, v, o, go, p] = inputs, [gout, ds] = outputs;
  const g = geometry('attentionShortBackward', q, k, v);
  const Z = g.B * g.H;
  if (packed && (g.L !== g.S || g.E !== g.Ev)) throw new BackendError(`attentionShortBackward (webgpu): packed gradients need L = S and E = Ev, got L ${g.L}, S ${g.S}, E ${g.E}, Ev ${g.Ev}`);
  contiguous('attentionShortBackward', 'o', o, Z * g.L * g.Ev);
  contiguous('attentionShortBackward', 'p', p, Z * g.L * g.S);
  contiguous('attentionShortBackward', 'g', gout, Z * (g.L * g.E + g.S * g.E + g.S * g.Ev));
  contiguous('attentionShortBackward', 'ds', ds, Z * g.L * g.S);
  if (go.dtype !== 'float32' || go.shape.length !== 4 || go.shape.some((d, i) => d !== [g.B, g.H, g.L, g.Ev][i])) {
    throw new BackendError(`attentionShortBackward (webgpu): go must be a float32 view [${[g.B, g.H, g.L, g.Ev]}], got ${go.dtype} [${go.shape}]`);
  }
  const parts = attentionShortGradParts(packed, g.B, g.H, g.L, g.S, g.E, g.Ev).map((x) => ({ off: x.off + gout.offset, strides: x.strides }));
  return launchShort('BWD', causal, scale, g, inputs, outputs, { o, p, go, ds, parts }, ctx);
};
