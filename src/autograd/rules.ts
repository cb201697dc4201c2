/**
 * The gradient rules: one per op of OpMeta, written in terms of other ops so the backward pass
 * runs on the same backend as the forward pass. `node.saved` holds what the op chose to save.
 */
import type { Tensor } from '../tensor.js';
import type { Node } from './graph.js';
import type { OpMeta, OpName } from './ops.js';
import { elementwiseBackward } from '../ops/elementwise.js';
import { padded } from './padded.js';
import { linalgGrads } from '../ops/linalg.js';
import { convGrads } from '../ops/conv.js';
import { normGrads } from '../ops/norm.js';
import { indexGrads } from '../ops/indexing.js';
import { attentionGrads } from '../ops/attention.js';
import { sortGrads } from '../ops/sort.js';
import { quantGrads } from '../ops/quant.js';
import { where } from '../ops/functions.js';
import { tidy } from '../memory.js';

/**
 * Takes the gradient already accumulated for input i from the node's other consumers (or null):
 * a rule that takes it returns the sum — its own contribution plus the taken one — for that
 * input, so a kernel that can add it in its output pass saves the separate add (layerNorm's
 * backward and a pre-norm block's skip path). The taker owns (disposes) what it takes.
 */
export type TakeGrad = (i: number) => Tensor | null;
export type GradRule<K extends OpName> = (node: Node<K>, g: Tensor, take: TakeGrad) => (Tensor | null)[];
export type GradTable<K extends OpName> = { [P in K]: GradRule<P> };

/** g reshaped so it broadcasts against the input of a reduction (reduced dims as size 1). */
function keepDims(g: Tensor, shape: readonly number[], axes: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? g.view(g.shape as number[]) : g.reshape(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

function extremumGrad(node: Node<'max' | 'min'>, g: Tensor): Tensor[] {
  const [x, y] = node.saved;
  const { axes, keepdim } = node.meta;
  const gk = keepDims(g, x.shape, axes, keepdim), yk = keepDims(y, x.shape, axes, keepdim);
  const mask = x.eq(yk).float();
  const count = mask.sum(axes, true);
  const r = gk.mul(mask).div(count);
  [gk, yk, mask, count].forEach((t) => t.dispose());
  return [r];
}

export const gradRules: GradTable<OpName> = {
  checkpoint: (n, g) => n.meta.backward(n, g),
  elementwise: (n, g) => elementwiseBackward(n.meta.def, n.saved, n.meta, n.inputs.map((t) => t.dtype), g, n.inputs.map((t) => t.requiresGrad)),
  sum: (n, g) => {
    const k = keepDims(g, n.inputs[0].shape, n.meta.axes, n.meta.keepdim);
    const r = k.expand([...n.inputs[0].shape]);
    k.dispose();
    return [r];
  },
  mean: (n, g) => {
    const x = n.inputs[0];
    const count = n.meta.axes.reduce((a, d) => a * x.shape[d], 1);
    const k = keepDims(g, x.shape, n.meta.axes, n.meta.keepdim);
    const d = k.div(count);
    const r = d.expand([...x.shape]);
    k.dispose();
    d.dispose();
    return [r];
  },
  max: extremumGrad,
  min: extremumGrad,
  prod: (n, g) => [tidy(() => {
    // g·y/x where no factor is zero; with zeros in a product, y/x would be 0/0: the one zero
    // gets g times the product of the others, every other element 0 (two zeros: all 0), as torch
    const [x, y] = n.saved;
    const { axes, keepdim } = n.meta;
    const gk = keepDims(g, x.shape, axes, keepdim), yk = keepDims(y, x.shape, axes, keepdim);
    const zero = x.eq(0);
    const zeros = zero.float().sum(axes, true);
    const others = where(zero, 1, x).prod(axes, true); // the product of the nonzero factors
    return where(zero, where(zeros.eq(1), gk.mul(others), 0), where(zeros.eq(0), gk.mul(yk).div(x), 0));
  })],
  reshape: (n, g) => [g.reshape([...n.inputs[0].shape])],
  permute: (n, g) => {
    const inv = new Array<number>(n.meta.perm.length);
    n.meta.perm.forEach((p, i) => (inv[p] = i));
    return [g.permute(inv)];
  },
  expand: (_n, g) => [g],
  // zero-padded back to the input's shape, lazily (see padded.ts)
  slice: (n, g) => [padded(n.inputs[0].shape, g, n.meta.starts, n.meta.steps)],
  cat: (n, g) => {
    let off = 0;
    return n.meta.sizes.map((s) => {
      const r = g.narrow(n.meta.dim, off, s);
      off += s;
      return r;
    });
  },
  pad: (n, g) => {
    const x = n.inputs[0];
    let t: Tensor = g;
    x.shape.forEach((d, i) => {
      const nt = t.narrow(i, n.meta.pads[2 * i], d);
      if (t !== g) t.dispose();
      t = nt;
    });
    return [t === g ? g.view(g.shape as number[]) : t];
  },
  ...linalgGrads,
  ...convGrads,
  ...normGrads,
  ...indexGrads,
  ...attentionGrads,
  ...sortGrads,
  ...quantGrads,
};

export type { OpMeta };
