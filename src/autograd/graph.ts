/**
 * Autograd graph nodes. Each differentiable op that sees an input requiring grad records one
 * Node: which rule to run, its inputs, the tensors the rule needs (held by reference count so a
 * `tidy` that disposes intermediates cannot free them), and op-specific metadata.
 */
import { engine } from '../engine.js';
import type { Tensor } from '../tensor.js';
import type { OpMeta, OpName } from './ops.js';

export class Node<K extends OpName = OpName> {
  /** tensors and child nodes that point at this node */
  refs = 1;
  private released = false;
  /** the nodes that produced the inputs (null for leaves), captured now: a disposed input keeps its place */
  readonly parents: readonly (Node | null)[];
  /** the version of each saved tensor's storage when it was saved (checked by backward) */
  readonly versions: readonly number[];
  constructor(
    readonly op: K,
    /** the op's inputs; a leaf input gets its gradient accumulated into `.grad` */
    readonly inputs: readonly Tensor[],
    /** private handles on tensors the rule reads (inputs and/or output) */
    public saved: Tensor[],
    readonly meta: OpMeta[K],
    /** shape and dtype of the output */
    readonly shape: readonly number[],
  ) {
    this.parents = inputs.map((t) => t.gradFn);
    for (const p of this.parents) p?.retain();
    this.versions = saved.map((t) => t._store.writes);
  }
  retain(): void {
    this.refs++;
  }
  /**
   * Drops one reference; at zero frees the saved tensors and releases the inputs' nodes. A loop,
   * not recursion: a graph of many thousand ops (a long chain made inside tidy) is released in one
   * go and must not overflow the stack.
   */
  release(): void {
    const stack: Node[] = [this];
    for (let n = stack.pop(); n; n = stack.pop()) {
      if (--n.refs > 0) continue;
      n.freeSaved();
      for (const p of n.parents) if (p) stack.push(p);
    }
  }
  freeSaved(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.saved) s.dispose();
    this.saved = [];
  }
  get isReleased(): boolean {
    return this.released;
  }
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(inputs: readonly Tensor[]): boolean {
  const capture = engine.gradCapture;
  if (capture) for (const t of inputs) if (t.requiresGrad) capture.add(t);
  return engine.gradEnabled && inputs.some((t) => t.requiresGrad);
}

/**
 * Records op `op` producing `out` from `inputs` when any input requires grad. `save` lists the
 * tensors the gradient rule will read, in order (available as `node.saved`).
 */
export function record<K extends OpName>(op: K, inputs: readonly Tensor[], out: Tensor, save: readonly Tensor[], meta: OpMeta[K]): Tensor {
  if (!needsGrad(inputs)) return out;
  // a pending result (fusion) that backward will read is computed now: folded into later kernels
  // instead, every consumer would recompute it, and reading it in backward's (reverse) order would
  // compute each link of a chain from the chain's start, a kernel of its own depth per link
  // (a pending matmul stays pending: the kernel that computes a consumer folded into it writes
  // it too, src/fusion.ts "Matmul epilogues")
  for (const t of save) if (!t._store.recipe?.gemm) t._store.materialize();
  const saved = save.map((t) => t._alias());
  out._setGradFn(new Node(op, inputs, saved, meta, out.shape));
  return out;
}
