/**
 * Reverse-mode backpropagation over the recorded nodes. Gradients are summed back to each
 * input's shape here, in one place, so rules may return broadcast-shaped gradients.
 */
import { engine, noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { Node } from './graph.js';
import { gradRules, type TakeGrad } from './rules.js';
import { disposeGrad, isPadded, merge, realize } from './padded.js';
import { onesLike } from '../ops/creation.js';
import { placeGrad } from '../arena.js';
import { checkBoolean, checkTensor } from '../validate.js';

/** Sums a broadcast gradient back to `shape`. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`backward: gradient of shape ${fmt(g.shape)} cannot be summed to ${fmt(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? g.sum(axes, true) : g;
  const out = s.reshape([...shape]);
  if (s !== g) s.dispose();
  return out;
}

/** The nodes reachable from the roots, each after every node that feeds it a gradient; `stop` nodes are not entered. */
function topoOrder(roots: readonly Node[], stop?: ReadonlySet<Node>): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = [];
  for (const r of roots) {
    if (seen.has(r)) continue;
    seen.add(r);
    stack.push([r, 0]);
    visit();
  }
  return order.reverse();
  function visit(): void {
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.parents[i];
      if (child && !seen.has(child) && !stop?.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(node);
      stack.pop();
    }
  }
  }
}

function accumulate(prev: Tensor | undefined | null, g: Tensor): Tensor {
  if (!prev) return g;
  // gradients of slices of one tensor: merged lazily, written once (padded.ts)
  if (isPadded(prev) && isPadded(g)) return merge(prev, g);
  prev = realize(prev);
  g = realize(g);
  const s = prev.add(g);
  prev.dispose();
  g.dispose();
  return s;
}

/** The op a node records, as the user called it (`mul`, not `elementwise`). */
export function opLabel(node: Node): string {
  return node.op === 'elementwise' ? (node as Node<'elementwise'>).meta.def : node.op;
}

/**
 * Why `node`'s saved tensors cannot be used (one was changed in place since it was saved:
 * PyTorch's version counter check), or null. Its gradient would be silently wrong.
 */
function staleSaved(node: Node): string | null {
  for (let i = 0; i < node.saved.length; i++) {
    const t = node.saved[i], now = t._store.writes, then = node.versions[i];
    if (now !== then) {
      return `backward: a tensor saved for the gradient of ${opLabel(node)} (${t.dtype} ${fmt(t.shape)}) was modified by an in-place operation: ` +
        `it is at version ${now}, expected version ${then}; clone() it before changing it in place, or change it after backward()`;
    }
  }
  return null;
}

/** Backpropagates from `root`; see Tensor.backward. */
export function backward(root: Tensor, gradient: Tensor | undefined, retainGraph: boolean): void {
  root._check('backward');
  if (gradient !== undefined && gradient !== null) checkTensor('backward', 'gradient', gradient);
  checkBoolean('backward', 'retainGraph', retainGraph);
  if (!root.requiresGrad) throw new ArgumentError('backward: the tensor does not require grad (no input had requiresGrad set)');
  if (!gradient && root.numel() !== 1) {
    throw new ShapeError(`backward: a gradient argument is required for a non-scalar output of shape ${fmt(root.shape)}`);
  }
  if (gradient && !shapesEqual(gradient.shape, root.shape)) {
    throw new ShapeError(`backward: gradient shape ${fmt(gradient.shape)} does not match the output shape ${fmt(root.shape)}`);
  }
  noGrad(() => {
    const seed = gradient ? gradient._viewAs(gradient.shape, gradient.strides, gradient.offset) : onesLike(root);
    if (!root.gradFn) {
      root.grad = accumulate(root.grad, seed);
      engine.untrack(root.grad);
      return;
    }
    backprop([[root.gradFn, seed]], retainGraph);
  });
}

/** Where a partial backward (checkpoint's recomputation) stops: gradients reaching these are handed back, not applied. */
export interface BackpropStop {
  /** nodes of the enclosing graph: not run */
  nodes: ReadonlySet<Node>;
  /** leaves: their gradients are not accumulated into `.grad` */
  leaves: ReadonlySet<Tensor>;
}

/**
 * Runs the gradient rules from `seeds` (a node and the gradient of its output; the gradients
 * are consumed) down to the leaves, accumulating into their `.grad`; with `stop`, the gradients
 * that reach a stop node or leaf are returned instead (summed), for the caller to pass on. Runs
 * inside noGrad.
 * @internal
 */
export function backprop(seeds: readonly [Node, Tensor][], retainGraph: boolean, stop?: BackpropStop): Map<Node | Tensor, Tensor> {
  const out = new Map<Node | Tensor, Tensor>();
  {
    const grads = new Map<Node, Tensor>();
    for (const [n, g] of seeds) grads.set(n, accumulate(grads.get(n), g));
    const leaves = new Map<Tensor, Tensor>();
    for (const node of topoOrder([...grads.keys()], stop?.nodes)) {
      const summed = grads.get(node);
      grads.delete(node);
      if (!summed) continue;
      const g = realize(summed);
      if (node.isReleased) {
        g.dispose();
        throw new ArgumentError('backward: trying to backward through the graph a second time; pass { retainGraph: true } the first time');
      }
      const stale = staleSaved(node);
      if (stale) {
        g.dispose();
        throw new ArgumentError(stale);
      }
      const rule = gradRules[node.op] as (n: Node, g: Tensor, take: TakeGrad) => (Tensor | null)[];
      // the gradient input i has so far from its other consumers, handed to a rule that adds it
      // in its own kernel (what it returns for i is then the sum)
      const take: TakeGrad = (i) => {
        const parent = node.parents[i];
        const prev = parent && !stop?.nodes.has(parent) ? grads.get(parent) : undefined;
        if (!parent || !prev) return null;
        grads.delete(parent);
        return realize(prev);
      };
      const ins = rule(node, g, take);
      node.inputs.forEach((x, i) => {
        let gi = ins[i];
        if (!gi) return;
        // a rule may hand back g itself (for several inputs): each gets its own view of it
        if (gi === g) gi = g._viewAs(g.shape, g.strides, g.offset);
        if (!x.requiresGrad || x.dtype !== 'float32') {
          disposeGrad(gi);
          return;
        }
        const fitted = sumToShape(gi, x.shape);
        if (fitted !== gi) gi.dispose();
        const parent = node.parents[i];
        if (parent && stop?.nodes.has(parent)) out.set(parent, accumulate(out.get(parent), realize(fitted)));
        else if (parent) grads.set(parent, accumulate(grads.get(parent), fitted));
        else if (stop?.leaves.has(x)) out.set(x, accumulate(out.get(x), realize(fitted)));
        else if (x.isDisposed) disposeGrad(fitted);
        else leaves.set(x, accumulate(leaves.get(x), fitted));
      });
      g.dispose();
      if (!retainGraph) node.freeSaved();
    }
    for (const g of grads.values()) disposeGrad(g);
    // leaves get their gradients at the end, so that those of several slices of one leaf merge too
    for (const [x, gx] of leaves) {
      const f = realize(gx);
      // a leaf's .grad owns its buffer: not a view into a larger one (the short attention
      // backward writes gq, gk, gv into one buffer), which readers of .grad may take whole
      // (the storage's size, not its buffer's: reading the buffer would compute a pending gradient now)
      const own = f.isContiguous() && f.offset === 0 && f._store.numel === f.numel();
      const c = own ? f : f.clone();
      if (c !== f) f.dispose();
      x.grad = accumulate(x.grad, c);
      engine.untrack(x.grad);
      // an optimizer's gradient arena: a pending gradient is computed straight into its slot
      placeGrad(x);
    }
  }
  return out;
}
