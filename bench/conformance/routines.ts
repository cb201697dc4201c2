/**
 * Every routine of src/kernel/kernel.ts `Routines`, through the public API, forward and
 * backward. The table is typed `{ [K in RoutineName]: Case[] }`, so a routine added to the
 * kernel contract does not compile here until it has cases; each case also names the routines
 * its CPU reference must dispatch, which the runner checks (a case that stopped reaching its
 * routine fails instead of passing hollow).
 *
 * Sizes: realistic ones for a real GPU (the GEMMs wide enough for 128×128 tiles: 32+ of them,
 * long and short rows for the row kernels, the attention of a small transformer), and `small`
 * ones for SwiftShader that still take the same kernel variants there (a batch of 32 small
 * products fills 128 tiles; rows past 1024 take the tree kernels). Legend: B batch, M/N/K GEMM
 * dims, C/O channels in/out, H/W spatial, R rows, D row length, L/S query/key length, E head dim.
 */
import * as wt from '../../src/index.js';
import type { RoutineName } from '../../src/kernel/kernel.js';
import { setShortAttention } from '../../src/ops/attention.js';
import { usesEmbeddingBackward } from '../../src/ops/indexing.js';
import { GEMM, ONLY_DEFAULT, ROWS, SDPA, fmtShape, indices, input, intData, maxCount, uniformData, withGrads, type Case, type Out, type VariantName } from './cases.js';
import { exact, half, sum, type Tol } from './tolerance.js';

/** A case's body; `gemm(K)` is the bound of a GEMM output over K terms under its configuration. */
type Body = (gemm: (K: number) => Tol) => Out[];

function routine(target: RoutineName, name: string, size: string, variants: readonly VariantName[], run: Body, extra: { kernels?: RoutineName[]; known?: string } = {}): Case {
  return {
    name, group: 'routine', target, size, variants, kernels: extra.kernels ?? [target], known: extra.known,
    // 'medium' precision's f16 tiles round the GEMM operands (tolerance.ts)
    run: (ctx) => run(ctx.variant.startsWith('f16') ? half : (K) => sum(K)),
  };
}

// ---- GEMMs ------------------------------------------------------------------------------------

function matmulCase(name: string, aShape: number[], bShape: number[], opts: { transposeB?: boolean; bias?: boolean } = {}): Case {
  const M = aShape[aShape.length - 2], K = aShape[aShape.length - 1], N = bShape[bShape.length - (opts.transposeB ? 2 : 1)];
  const batch = aShape.slice(0, -2).reduce((p, q) => p * q, 1);
  const bBatch = bShape.slice(0, -2).reduce((p, q) => p * q, 1);
  return routine('matmul', name, `${fmtShape(aShape)}@${fmtShape(bShape)}${opts.transposeB ? 'ᵀ' : ''}`, GEMM, (gemm) => {
    const a = input(aShape, 1), b = input(bShape, 2);
    const bias = opts.bias ? input([N], 3) : null;
    let y = a.matmul(opts.transposeB ? b.transpose(-1, -2) : b);
    if (bias) y = y.add(bias);
    // b broadcast over a's batch sums its gradient over the batch as well
    const grads: [string, wt.Tensor, Tol][] = [['a', a, gemm(N)], ['b', b, gemm(M * Math.max(1, batch / bBatch))]];
    if (bias) grads.push(['bias', bias, sum(M * batch)]);
    return withGrads(y, gemm(K), grads);
  });
}

function linearCase(name: string, x: number[], inF: number, outF: number): Case {
  const rows = x.reduce((p, q) => p * q, 1);
  return routine('matmul', name, `${fmtShape([...x, inF])} · [${outF},${inF}]ᵀ + b`, GEMM, (gemm) => {
    const xi = input([...x, inF], 4), w = input([outF, inF], 5, -0.1, 0.1), b = input([outF], 6);
    return withGrads(wt.linear(xi, w, b), gemm(inF), [['x', xi, gemm(outF)], ['w', w, gemm(rows)], ['b', b, sum(rows)]]);
  });
}

/**
 * r + gelu(x·wᵀ + b): with fusion on (WebGPU), the GELU and the residual add are the GEMM's
 * epilogue (src/fusion.ts "Matmul epilogues"), and backward's GELU derivative that of the input
 * gradient's GEMM
 */
function epilogueCase(name: string, x: number[], inF: number, outF: number): Case {
  const rows = x.reduce((p, q) => p * q, 1);
  return routine('matmul', name, `r + gelu(${fmtShape([...x, inF])} · [${outF},${inF}]ᵀ + b)`, GEMM, (gemm) => {
    const xi = input([...x, inF], 9), w = input([outF, inF], 10, -0.1, 0.1), b = input([outF], 11), r = input([...x, outF], 12);
    const y = r.add(wt.linear(xi, w, b).gelu());
    return withGrads(y, gemm(inF), [['x', xi, gemm(outF)], ['w', w, gemm(rows)], ['b', b, sum(rows)], ['r', r, sum(1)]]);
  });
}

/** q [B,T,H,E] read as [B,H,T,E] through a permuted view (the matmul's two-level batch) */
function headSplitCase(name: string, B: number, T: number, H: number, E: number): Case {
  return routine('matmul', name, `[${B},${T},${H},${E}]→[${B},${H},${T},${T}]`, GEMM, (gemm) => {
    const q = input([B, T, H * E], 7), k = input([B, T, H * E], 8);
    const q4 = q.reshape([B, T, H, E]).permute([0, 2, 1, 3]), k4 = k.reshape([B, T, H, E]).permute([0, 2, 3, 1]);
    return withGrads(q4.matmul(k4), gemm(E), [['q', q, gemm(T)], ['k', k, gemm(T)]]);
  });
}

// ---- convolutions -----------------------------------------------------------------------------

interface ConvSpec { x: [number, number, number, number]; out: number; k: number; stride?: number; padding?: number; dilation?: number; groups?: number }

function convCase(target: RoutineName, name: string, s: ConvSpec): Case {
  const [N, C, H, W] = s.x, g = s.groups ?? 1, st = s.stride ?? 1, p = s.padding ?? 0, d = s.dilation ?? 1;
  const Ho = Math.floor((H + 2 * p - d * (s.k - 1) - 1) / st) + 1, Wo = Math.floor((W + 2 * p - d * (s.k - 1) - 1) / st) + 1;
  const opts = { stride: st, padding: p, dilation: d, groups: g };
  return routine(target, name, `${fmtShape(s.x)} ${s.k}×${s.k}→${s.out} s${st} p${p} d${d} g${g}`, GEMM, (gemm) => {
    const x = input(s.x, 11), w = input([s.out, C / g, s.k, s.k], 12, -0.2, 0.2), b = input([s.out], 13);
    const y = wt.conv2d(x, w, b, opts);
    return withGrads(y, gemm((C / g) * s.k * s.k), [['x', x, gemm((s.out / g) * s.k * s.k)], ['w', w, gemm(N * Ho * Wo)], ['b', b, sum(N * Ho * Wo)]]);
  }, { kernels: ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight'] });
}

/** convTranspose2d: its forward is the input-gradient kernel, its backward conv2d and the weight gradient */
function convTransposeCase(name: string, x: [number, number, number, number], out: number, k: number, stride: number, padding: number, outputPadding = 0): Case {
  const [N, C, H, W] = x;
  const Ho = (H - 1) * stride - 2 * padding + k + outputPadding, Wo = (W - 1) * stride - 2 * padding + k + outputPadding;
  return routine('conv2dBackwardInput', name, `${fmtShape(x)} ${k}×${k}→${out} s${stride} p${padding} op${outputPadding}`, GEMM, (gemm) => {
    const xi = input(x, 14), w = input([C, out, k, k], 15, -0.2, 0.2), b = input([out], 16);
    const y = wt.convTranspose2d(xi, w, b, { stride, padding, outputPadding });
    return withGrads(y, gemm(Math.ceil(C * k * k / (stride * stride))), [['x', xi, gemm(out * k * k)], ['w', w, gemm(N * H * W)], ['b', b, sum(N * Ho * Wo)]]);
  }, { kernels: ['conv2dBackwardInput', 'conv2d', 'conv2dBackwardWeight'] });
}

// ---- pools ------------------------------------------------------------------------------------

function maxPoolCase(target: 'maxPool2d' | 'maxPool2dBackward', name: string, x: number[], k: number, stride: number, padding = 0, dilation = 1): Case {
  // overlapping windows send several gradients to one input: a sum of ⌈k/s⌉² terms at most
  const overlap = Math.ceil(k / stride) ** 2;
  return routine(target, name, `${fmtShape(x)} ${k}×${k} s${stride} p${padding} d${dilation}`, ONLY_DEFAULT, () => {
    const xi = input(x, 21);
    return withGrads(wt.maxPool2d(xi, k, { stride, padding, dilation }), exact, [['x', xi, sum(overlap)]]);
  }, { kernels: ['maxPool2d', 'maxPool2dBackward'] });
}

function avgPoolCase(target: 'avgPool2d' | 'avgPool2dBackward', name: string, x: number[], k: number, stride: number, padding: number, countIncludePad: boolean): Case {
  return routine(target, name, `${fmtShape(x)} ${k}×${k} s${stride} p${padding}${countIncludePad ? '' : ' excl. pad'}`, ONLY_DEFAULT, () => {
    const xi = input(x, 22);
    return withGrads(wt.avgPool2d(xi, k, { stride, padding, countIncludePad }), sum(k * k), [['x', xi, sum(Math.ceil(k / stride) ** 2)]]);
  }, { kernels: ['avgPool2d', 'avgPool2dBackward'] });
}

// ---- rows: softmax, cross-entropy, layerNorm, batchNorm -----------------------------------------

/** softmax: exp's 3 + 2|x - max| ulp (|x - max| ≤ 2 here) and the row sum's error */
const softmaxTol = (D: number): Tol => ({ ...sum(D), rtol: sum(D).rtol + 8 * 2 ** -23, label: `8 ulp + ${sum(D).label}` });

function softmaxCase(target: 'softmax' | 'softmaxBackward', name: string, shape: number[], log: boolean, dim = -1): Case {
  const D = shape[(dim + shape.length) % shape.length];
  return routine(target, name, `${fmtShape(shape)} dim ${dim}`, ROWS, () => {
    const x = input(shape, 31);
    const y = log ? wt.logSoftmax(x, dim) : wt.softmax(x, dim);
    return withGrads(y, softmaxTol(D), [['x', x, sum(D)]]);
  }, { kernels: ['softmax', 'softmaxBackward'] });
}

function crossEntropyCase(target: 'crossEntropy' | 'crossEntropyBackward', name: string, R: number, D: number, reduction: 'none' | 'mean' = 'none'): Case {
  return routine(target, name, `[${R},${D}], 10% ignored${reduction === 'mean' ? ', mean (one upstream gradient read at stride 0)' : ''}`, ROWS, () => {
    const logits = input([R, D], 41, -3, 3);
    // every tenth target ignored (-100)
    const t = intData(R, 42, D).map((v, i) => (i % 10 === 3 ? -100 : v));
    const target = wt.tensor(t, { dtype: 'int32' });
    return withGrads(wt.crossEntropy(logits, target, { reduction }), sum(reduction === 'mean' ? R * D : D), [['logits', logits, sum(D)]]);
  }, { kernels: ['crossEntropy', 'crossEntropyBackward'] });
}

function layerNormCase(target: 'layerNorm' | 'layerNormBackward', name: string, R: number, D: number, opts: { affine?: boolean; mean?: number; std?: number; known?: string; residual?: boolean } = {}): Case {
  const affine = opts.affine ?? true, mean = opts.mean ?? 0, std = opts.std ?? 1;
  return routine(target, name, `[${R},${D}]${affine ? ' affine' : ''}${mean ? ` mean ${mean} std ${std}` : ''}${opts.residual ? ', h + layerNorm(h): the skip gradient added in the backward' : ''}`, ROWS, () => {
    const x = input([R, D], 51, mean - std * Math.sqrt(3), mean + std * Math.sqrt(3));
    const w = affine ? input([D], 52, 0.5, 1.5) : null, b = affine ? input([D], 53) : null;
    // residual: a pre-norm block's skip path, whose gradient layerNormBackward adds in its dx pass
    const h = opts.residual ? x.mul(1.5) : x;
    const y = opts.residual ? h.add(wt.layerNorm(h, [D], w, b)) : wt.layerNorm(x, [D], w, b);
    const grads: [string, wt.Tensor, Tol][] = [['x', x, sum(D)]];
    if (w && b) grads.push(['w', w, sum(R)], ['b', b, sum(R)]);
    return withGrads(y, sum(D), grads);
  }, { kernels: ['layerNorm', 'layerNormBackward'], known: opts.known });
}

function batchNormCase(target: 'batchNorm' | 'batchNormBackward', name: string, shape: number[]): Case {
  const C = shape[1], n = shape.reduce((p, q) => p * q, 1) / C;
  return routine(target, name, fmtShape(shape), ROWS, () => {
    const x = input(shape, 61, -2, 3), w = input([C], 62, 0.5, 1.5), b = input([C], 63);
    const rm = wt.zeros([C]), rv = wt.ones([C]);
    const y = wt.batchNorm(x, rm, rv, w, b, { training: true });
    // the running statistics are updated in place: means and unbiased variances over n
    return [...withGrads(y, sum(n), [['x', x, sum(n)], ['w', w, sum(n)], ['b', b, sum(n)]]), { name: 'runningMean', value: rm, tol: sum(n) }, { name: 'runningVar', value: rv, tol: sum(n) }];
  }, { kernels: ['batchNorm', 'batchNormBackward'] });
}

// ---- attention --------------------------------------------------------------------------------

/** attention: the scores are sums over E, the output over S, each scaled by the softmax */
const attentionTol = (E: number, S: number): Tol => sum(4 * (E + S));

/**
 * fusedAttention by the flash kernels (`attention`: setShortAttention(false) at every size) or
 * the short-sequence ones (`attentionShort`: L, S ≤ ATTENTION_SHORT_MAX_ROWS)
 */
function attentionCase(target: 'attention' | 'attentionBackward' | 'attentionShort' | 'attentionShortBackward', name: string, q: number[], S: number, Ev: number, causal: boolean): Case {
  const [B, H, L, E] = q;
  const short = target.startsWith('attentionShort');
  return routine(target, name, `q ${fmtShape(q)}, S ${S}, Ev ${Ev}${causal ? ' causal' : ''}`, ONLY_DEFAULT, () => {
    const qi = input(q, 71), k = input([B, H, S, E], 72), v = input([B, H, S, Ev], 73);
    const tol = attentionTol(E, S);
    const was = setShortAttention(short);
    try {
      return withGrads(wt.fusedAttention(qi, k, v, { causal }), tol, [['q', qi, tol], ['k', k, sum(4 * (E + S + L))], ['v', v, sum(4 * L)]]);
    } finally {
      setShortAttention(was);
    }
  }, { kernels: short ? ['attentionShort', 'attentionShortBackward'] : ['attention', 'attentionBackward'] });
}

/** scaled dot-product attention, fused or composed (matmuls and a causal softmax) by the variant */
function sdpaCase(name: string, q: number[], causal: boolean): Case {
  const [B, H, L, E] = q;
  return {
    ...routine('attention', name, `q,k,v ${fmtShape(q)}${causal ? ' causal' : ''}`, SDPA, () => {
      const qi = input(q, 74), k = input([B, H, L, E], 75), v = input([B, H, L, E], 76);
      const tol = attentionTol(E, L);
      // the CPU reference (under 'auto', which takes the short kernels at short sequences) composed
      const was = wt.getBackend().name === 'cpu' ? wt.setFusedAttention(false) : null;
      try {
        return withGrads(wt.nn.scaledDotProductAttention(qi, k, v, { isCausal: causal }), tol, [['q', qi, tol], ['k', k, sum(4 * (E + 2 * L))], ['v', v, sum(4 * L)]]);
      } finally {
        if (was !== null) wt.setFusedAttention(was);
      }
    }),
    // the CPU reference runs it composed (softmax with the causal flag); the variants pick the GPU's way
    kernels: ['matmul', 'softmax'],
  };
}

// ---- indexing ---------------------------------------------------------------------------------

function gatherCase(name: string, x: number[], dim: number, index: number[], known?: string, dtype: wt.DType = 'float32'): Case {
  return routine('gather', name, `${fmtShape(x)} dim ${dim} ← ${fmtShape(index)}${dtype === 'float32' ? '' : ` ${dtype}`}`, ONLY_DEFAULT, () => {
    const idx = indices(index, 81, x[dim]);
    if (dtype !== 'float32') return [{ name: 'y', value: wt.gather(typedData(x, dtype), dim, idx), tol: exact }];
    const xi = input(x, 82);
    const dups = maxCount(intData(index.reduce((p, q) => p * q, 1), 81, x[dim]));
    return withGrads(wt.gather(xi, dim, idx), exact, [['x', xi, sum(dups)]]);
  }, { kernels: dtype === 'float32' ? ['gather', 'scatterAdd'] : ['gather'], known });
}

function indexSelectCase(target: 'indexSelect' | 'indexAdd' | 'embeddingBackward', name: string, x: number[], dim: number, L: number, known?: string, dtype: wt.DType = 'float32'): Case {
  // the gradient's routine: embeddingBackward along dim 0 unless the index is long for the table
  const backward = usesEmbeddingBackward(x, dim, L) ? 'embeddingBackward' : 'indexAdd';
  if (target !== 'indexSelect' && target !== backward) throw new Error(`conformance: ${name} would take ${backward}, not ${target}`);
  return routine(target, name, `${fmtShape(x)} dim ${dim} ← [${L}]${dtype === 'float32' ? '' : ` ${dtype}`}`, ONLY_DEFAULT, () => {
    const idx = indices([L], 83, x[dim]);
    if (dtype !== 'float32') return [{ name: 'y', value: wt.indexSelect(typedData(x, dtype), dim, idx), tol: exact }];
    const xi = input(x, 84);
    return withGrads(wt.indexSelect(xi, dim, idx), exact, [['x', xi, sum(maxCount(intData(L, 83, x[dim])))]]);
  }, { kernels: dtype === 'float32' ? ['indexSelect', backward] : ['indexSelect'], known });
}

function scatterAddCase(name: string, x: number[], dim: number, src: number[]): Case {
  return routine('scatterAdd', name, `${fmtShape(x)} dim ${dim} ← src ${fmtShape(src)}`, ONLY_DEFAULT, () => {
    const base = input(x, 85), s = input(src, 86), idx = indices(src, 87, x[dim]);
    const dups = maxCount(intData(src.reduce((p, q) => p * q, 1), 87, x[dim]));
    const y = wt.scatterAdd(base, dim, idx, s);
    return withGrads(y, sum(dups + 1), [['x', base, exact], ['src', s, exact]]);
  }, { kernels: ['scatterAdd', 'gather'] });
}

/** cumsum / cumprod along dim (and their gradients: a reverse scan, cumprod's an affine one): sums of D terms */
function scanCase(name: string, shape: number[], dim: number, op: 'cumsum' | 'cumprod'): Case {
  const D = shape[dim];
  return routine('scan', name, `${fmtShape(shape)} dim ${dim}`, ONLY_DEFAULT, () => {
    // cumprod: factors near 1 keep long products in range
    const x = op === 'cumsum' ? input(shape, 91) : input(shape, 92, 0.97, 1.03);
    const y = op === 'cumsum' ? x.cumsum(dim) : x.cumprod(dim);
    return withGrads(y, sum(D), [['x', x, sum(D)]]);
  });
}

/** sort / topk along the last dim: values and indices exact; values' gradient scattered back */
function sortCase(name: string, shape: number[], k?: number): Case {
  return routine('sort', name, `${fmtShape(shape)}${k === undefined ? '' : ` top ${k}`}`, ONLY_DEFAULT, () => {
    const x = input(shape, 93);
    const { values, indices } = k === undefined ? x.sort(-1, true) : x.topk(k);
    return [...withGrads(values, exact, [['x', x, exact]]), { name: 'indices', value: indices, tol: exact }];
  }, { kernels: ['sort', 'scatterAdd'] });
}

/**
 * multinomial with replacement: the same uniform numbers (Philox) on both backends; a draw may
 * land in the next category where the two cumulative sums round apart, so the draws' counts per
 * category are compared, within a few draws of each other
 */
function multinomialCase(name: string, R: number, D: number, S: number): Case {
  return routine('sampleCategorical', name, `[${R},${D}] weights, ${S} draws per row`, ONLY_DEFAULT, () => {
    const w = wt.tensor(uniformData(R * D, 94, 0, 1), { shape: [R, D] }).square();
    const draws = wt.multinomial(w, S, true, { seed: 95 });
    const counts = wt.scatterAdd(wt.zeros([R, D]), 1, draws, wt.ones([R, S]));
    return [{ name: 'counts', value: counts, tol: { label: '4 draws', rtol: 0, atol: 4, scaled: 0 } }];
  }, { kernels: ['scan', 'sampleCategorical', 'scatterAdd'] });
}

/**
 * x·Wᵀ + b with W group-wise quantized (wt.qlinear): the forward and the input gradient (the
 * transposed routine); the weight's codes are the same on every backend, so only the
 * summation order differs.
 */
function qlinearCase(name: string, M: number, N: number, K: number, opts: wt.QuantizeOptions): Case {
  return routine('qmatmul', name, `[${M},${K}] · q${opts.bits}[${N},${K}]ᵀ g${opts.groupSize}${opts.mins ? ' mins' : ''}`, ONLY_DEFAULT, () => {
    const x = input([M, K], 96), b = input([N], 97);
    const qw = wt.quantizeData(uniformData(N * K, 98, -0.1, 0.1), [N, K], opts);
    return withGrads(wt.qlinear(x, qw, b), sum(K), [['x', x, sum(N)], ['b', b, sum(M)]]);
  });
}

/**
 * The quantized embedding lookup: rows of a [N, K] quantized table picked by L ids and dequantized
 * (no gradient). Symmetric codes are one product s·(u − 2^(bits−1)), exact; with mins s·u + m may
 * round once more without a fused multiply-add.
 */
function qembeddingCase(name: string, N: number, K: number, L: number, opts: wt.QuantizeOptions): Case {
  return routine('qembedding', name, `q${opts.bits}[${N},${K}] g${opts.groupSize}${opts.mins ? ' mins' : ''} ← [${L}]`, ONLY_DEFAULT, () => {
    const qw = wt.quantizeData(uniformData(N * K, 99, -0.1, 0.1), [N, K], opts);
    return [{ name: 'y', value: wt.qembedding(indices([L], 89, N), qw), tol: opts.mins ? sum(1) : exact }];
  });
}

/** int32 or bool data of this shape (the index routines only move 32-bit words) */
function typedData(shape: number[], dtype: wt.DType): wt.Tensor {
  const n = shape.reduce((p, q) => p * q, 1);
  const v = intData(n, 88, dtype === 'bool' ? 2 : 1 << 30);
  return wt.tensor(v, { shape, dtype });
}

// ---- the table ----------------------------------------------------------------------------------


/** Every routine's cases at realistic (`small`: SwiftShader) sizes. */
export function routineCases(small: boolean): { [K in RoutineName]: Case[] } {
  const s = <T>(full: T, sw: T): T => (small ? sw : full);
  return {
    matmul: [
      matmulCase('matmul square', s([2048, 2048], [192, 160]), s([2048, 2048], [160, 176])),
      matmulCase('matmul batched, 128-tile grid', s([64, 256, 64], [32, 130, 70]), s([64, 256, 64], [32, 130, 70]), { transposeB: true }),
      matmulCase('matmul broadcast b + bias', s([8, 512, 384], [4, 67, 129]), s([384, 512], [129, 95]), { bias: true }),
      matmulCase('matmul long K, small output (split K)', s([64, 8192], [16, 2100]), s([8192, 48], [2100, 12])),
      matmulCase('matmul row vector', s([1, 4096], [1, 777]), s([4096, 1000], [777, 65])),
      linearCase('linear odd sizes', s([1000], [67]), s(1030, 131), s(999, 97)),
      epilogueCase('linear + GELU + residual (epilogues)', s([8, 125], [3, 23]), s(768, 72), s(3072, 130)),
      headSplitCase('matmul head split (two-level batch)', s(4, 2), s(256, 40), s(8, 4), s(64, 16)),
    ],
    conv2d: [
      convCase('conv2d', 'conv2d 3×3 same', { x: s([32, 64, 32, 32], [8, 16, 32, 32]), out: s(128, 16), k: 3, padding: 1 }),
      convCase('conv2d', 'conv2d 5×5 stride 2, groups', { x: s([16, 64, 33, 33], [4, 8, 17, 17]), out: s(64, 8), k: 5, stride: 2, padding: 2, groups: 4 }),
      convCase('conv2d', 'conv2d 3×3 dilated', { x: s([16, 32, 30, 30], [2, 4, 13, 13]), out: s(32, 6), k: 3, dilation: 2 }),
      convCase('conv2d', 'conv2d 1×1', { x: s([32, 256, 14, 14], [4, 32, 7, 7]), out: s(512, 48), k: 1 }),
      convCase('conv2d', 'conv2d depthwise', { x: s([16, 128, 28, 28], [2, 16, 11, 11]), out: s(128, 16), k: 3, padding: 1, groups: s(128, 16) }),
    ],
    conv2dBackwardInput: [
      convTransposeCase('convTranspose2d 4×4 stride 2', s([16, 64, 16, 16], [2, 8, 9, 9]), s(32, 4), 4, 2, 1),
      convTransposeCase('convTranspose2d 3×3 stride 2, output padding', s([64, 32, 7, 7], [4, 8, 7, 7]), s(16, 4), 3, 2, 1, 1),
    ],
    conv2dBackwardWeight: [
      convCase('conv2dBackwardWeight', 'conv2d weight gradient, large batch', { x: s([128, 32, 28, 28], [16, 4, 14, 14]), out: s(64, 8), k: 3, padding: 1 }),
    ],
    maxPool2d: [
      maxPoolCase('maxPool2d', 'maxPool2d 3×3 stride 2', s([32, 64, 56, 56], [4, 8, 19, 19]), 3, 2, 1),
      maxPoolCase('maxPool2d', 'maxPool2d 2×2', s([64, 32, 28, 28], [8, 4, 14, 14]), 2, 2),
    ],
    maxPool2dBackward: [maxPoolCase('maxPool2dBackward', 'maxPool2d dilated (backward)', s([8, 16, 33, 33], [2, 4, 15, 15]), 3, 1, 0, 2)],
    avgPool2d: [
      avgPoolCase('avgPool2d', 'avgPool2d 3×3 stride 2', s([32, 64, 56, 56], [4, 8, 19, 19]), 3, 2, 1, true),
      avgPoolCase('avgPool2d', 'avgPool2d excluding padding', s([32, 64, 28, 28], [4, 8, 15, 15]), 3, 2, 1, false),
    ],
    avgPool2dBackward: [avgPoolCase('avgPool2dBackward', 'avgPool2d 2×2 (backward)', s([64, 32, 28, 28], [8, 4, 14, 14]), 2, 2, 0, true)],
    softmax: [
      softmaxCase('softmax', 'softmax', s([4096, 1000], [129, 100]), false),
      softmaxCase('softmax', 'softmax long rows', s([64, 32768], [4, 3000]), false),
      softmaxCase('softmax', 'softmax over dim 0', s([1000, 513], [70, 33]), false, 0),
      softmaxCase('softmax', 'logSoftmax short rows', s([8192, 50], [300, 10]), true),
    ],
    softmaxBackward: [softmaxCase('softmaxBackward', 'logSoftmax (backward)', s([2048, 4099], [65, 1100]), true)],
    crossEntropy: [
      crossEntropyCase('crossEntropy', 'crossEntropy', s(8192, 300), s(1000, 10)),
      crossEntropyCase('crossEntropy', 'crossEntropy vocabulary rows', s(512, 16), s(50257, 2051)),
    ],
    crossEntropyBackward: [
      crossEntropyCase('crossEntropyBackward', 'crossEntropy (backward)', s(4096, 333), 65),
      crossEntropyCase('crossEntropyBackward', 'crossEntropy mean (backward)', s(4096, 333), 65, 'mean'),
    ],
    layerNorm: [
      layerNormCase('layerNorm', 'layerNorm', s(8192, 300), s(768, 96)),
      layerNormCase('layerNorm', 'layerNorm long rows, no affine', s(256, 8), s(8192, 2500), { affine: false }),
      layerNormCase('layerNorm', 'layerNorm |mean| ≫ std', s(1024, 64), s(768, 96), { mean: 1000, std: 0.05 }),
    ],
    layerNormBackward: [
      layerNormCase('layerNormBackward', 'layerNorm odd rows (backward)', s(4097, 257), s(100, 33)),
      layerNormCase('layerNormBackward', 'layerNorm with its skip path (backward)', s(4097, 768), s(100, 64), { residual: true }),
    ],
    batchNorm: [
      batchNormCase('batchNorm', 'batchNorm 2d', s([64, 128, 28, 28], [8, 16, 9, 9])),
      batchNormCase('batchNorm', 'batchNorm 1d', s([256, 1024], [64, 40])),
    ],
    batchNormBackward: [batchNormCase('batchNormBackward', 'batchNorm odd sizes (backward)', s([32, 64, 7, 9], [5, 6, 7, 9]))],
    attention: [
      attentionCase('attention', 'fusedAttention causal', s([4, 8, 512, 64], [1, 2, 70, 16]), s(512, 70), s(64, 16), true),
      attentionCase('attention', 'fusedAttention cross, wide heads', s([2, 4, 300, 128], [1, 2, 33, 128]), s(517, 47), s(64, 8), false),
      sdpaCase('scaledDotProductAttention causal', s([4, 8, 512, 64], [2, 2, 64, 16]), true),
      sdpaCase('scaledDotProductAttention', s([8, 12, 256, 64], [1, 3, 40, 24]), false),
    ],
    attentionBackward: [attentionCase('attentionBackward', 'fusedAttention long (backward)', s([2, 8, 1024, 64], [1, 1, 130, 32]), s(1024, 130), s(64, 32), true)],
    attentionShort: [
      attentionCase('attentionShort', 'short attention causal (a small GPT\'s)', s([64, 4, 64, 16], [3, 2, 37, 16]), s(64, 37), s(16, 16), true),
      attentionCase('attentionShort', 'short attention cross, L ≠ S', s([16, 8, 256, 64], [2, 3, 65, 40]), s(200, 33), s(64, 24), false),
    ],
    attentionShortBackward: [attentionCase('attentionShortBackward', 'short attention causal, L ≠ S (backward)', s([32, 8, 256, 64], [2, 2, 70, 5]), s(256, 100), s(32, 7), true)],
    gather: [
      gatherCase('gather rows', s([4096, 1000], [130, 70]), 1, s([4096, 16], [130, 5])),
      gatherCase('gather dim 0', s([1000, 513], [40, 33]), 0, s([2000, 513], [90, 33])),
      gatherCase('gather int32', s([1024, 1000], [33, 17]), 1, s([1024, 8], [33, 4]), undefined, 'int32'),
    ],
    indexSelect: [
      indexSelectCase('indexSelect', 'embedding lookup', s([50257, 768], [1000, 48]), 0, s(8192, 300)),
      indexSelectCase('indexSelect', 'indexSelect dim 1', s([512, 3000], [33, 100]), 1, s(1024, 64)),
      indexSelectCase('indexSelect', 'indexSelect int32', s([4096, 512], [100, 9]), 0, s(1000, 37), undefined, 'int32'),
      indexSelectCase('indexSelect', 'indexSelect bool', s([4096, 512], [100, 9]), 0, s(1000, 37), undefined, 'bool'),
    ],
    scatterAdd: [
      scatterAddCase('scatterAdd many duplicates', s([1000, 64], [50, 8]), 0, s([8192, 64], [400, 8])),
      scatterAddCase('scatterAdd dim 1', s([512, 300], [17, 30]), 1, s([512, 2000], [17, 90])),
    ],
    indexAdd: [
      indexSelectCase('indexAdd', 'embedding gradient, long index (backward)', s([65, 512], [65, 512]), 0, s(16384, 8192)),
      indexSelectCase('indexAdd', 'indexSelect dim 1 (backward)', s([24, 65], [9, 65]), 1, s(2000, 300)),
    ],
    embeddingBackward: [
      indexSelectCase('embeddingBackward', 'embedding gradient, 65 rows (backward)', s([65, 512], [65, 24]), 0, s(4096, 2000)),
      indexSelectCase('embeddingBackward', 'embedding gradient, vocabulary rows (backward)', s([50257, 64], [3000, 16]), 0, s(2048, 300)),
    ],
    scan: [
      scanCase('cumsum rows', s([4096, 1000], [65, 1000]), 1, 'cumsum'),
      scanCase('cumsum long rows', s([16, 100000], [3, 5000]), 1, 'cumsum'),
      scanCase('cumsum short rows (one thread each)', s([65536, 20], [2000, 20]), 1, 'cumsum'),
      scanCase('cumprod over dim 0', s([1000, 513], [40, 33]), 0, 'cumprod'),
    ],
    sort: [
      sortCase('sort rows', s([1024, 1000], [33, 700])),
      sortCase('sort short rows (one thread each)', s([65536, 16], [3000, 16])),
      sortCase('topk of vocabulary rows', s([64, 50257], [4, 5000]), 50),
    ],
    qmatmul: [
      qlinearCase('qlinear 8-bit, decode row', 1, s(4096, 130), s(4096, 256), { bits: 8, groupSize: 64 }),
      qlinearCase('qlinear 4-bit with mins, prefill', s(128, 17), s(4096, 130), s(4096, 200), { bits: 4, groupSize: 128, mins: true }),
    ],
    qembedding: [
      qembeddingCase('qembedding 8-bit, embedding lookup', s(49152, 1000), s(576, 200), s(512, 37), { bits: 8, groupSize: 32 }),
      qembeddingCase('qembedding 4-bit with mins, odd width', s(49152, 1000), s(577, 131), s(512, 37), { bits: 4, groupSize: 64, mins: true }),
    ],
    sampleCategorical: [
      multinomialCase('multinomial of vocabulary rows', s(64, 4), s(50257, 5000), s(1000, 200)),
    ],
  };
}
