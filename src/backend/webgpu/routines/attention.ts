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
import { ATTENTION_MAX_FEATURES } from '../../../kernel/kernel.js';
import { f32, type GpuContext, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render } from './template.js';
import attentionSrc from '../../../../shaders/attention.wgsl';
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
    code: () => render(attentionSrc, { BR, BC, M4, CAUSAL: String(causal) }, [flag], 'attention.wgsl'),
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
