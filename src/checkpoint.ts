/**
 * Gradient checkpointing (torch.utils.checkpoint): `wt.checkpoint(fn, ...args)` runs fn without
 * recording its ops, so none of the activations inside it are kept for backward; backward runs
 * fn again, with gradients, from the saved arguments, and backpropagates through that
 * recomputation. Memory for a deep model's training step drops from every layer's activations
 * to the checkpointed segments' inputs plus one segment's activations, for one more forward pass.
 *
 * As PyTorch's (non-reentrant) checkpoint, the gradients reach every tensor fn reads that
 * requires grad: its tensor arguments, the parameters of the modules it calls and tensors it
 * takes from its closure, each through the autograd graph as without checkpointing. The random
 * generator's state is saved and restored for the recomputation, so dropout draws the same mask.
 * fn must compute the same thing when run again: the same ops on the same values (a module in
 * the same training mode, tensors it reads unchanged and not disposed before backward).
 *
 * @example
 * // a transformer's blocks, each recomputed in backward
 * for (const block of this.blocks) x = wt.checkpoint((h) => block.forward(h), x);
 */
import { engine, type Disposable } from './engine.js';
import { ArgumentError, DisposedError, ShapeError, fmt } from './errors.js';
import { Tensor } from './tensor.js';
import { record, type Node } from './autograd/graph.js';
import { backprop } from './autograd/backward.js';
import { checkSyncFunction, describeValue } from './validate.js';

const WHY = 'it is run again in backward, where an await would split it';

/**
 * Runs `fn(...args)` keeping no activations for backward; backward recomputes them. Returns
 * fn's result (a Tensor). Outside gradient recording (noGrad) it is fn(...args).
 *
 * @example const y = wt.checkpoint((x) => mlp.forward(x), x);
 */
export function checkpoint<A extends unknown[]>(fn: (...args: A) => Tensor, ...args: A): Tensor {
  const op = 'checkpoint';
  checkSyncFunction(op, 'fn', fn, WHY);
  args.forEach((a, i) => { if (a instanceof Tensor) a._check(`${op}: argument ${i}`); });
  if (!engine.gradEnabled) return result(op, runScoped(fn, args));
  const rng: [number, number] = [engine.rngSeed, engine.rngStream];
  const captured = new Set<Tensor>();
  const prevCapture = engine.gradCapture;
  engine.gradCapture = captured;
  engine.gradEnabled = false;
  let out: Tensor;
  try {
    out = result(op, runScoped(fn, args));
  } finally {
    engine.gradEnabled = true;
    engine.gradCapture = prevCapture;
  }
  // nothing inside needed gradients, or fn handed back a tensor it did not compute
  if (!captured.size || out.requiresGrad || out.dtype !== 'float32') return out;
  const inputs = [...captured];
  const tensorArgs = args.filter((a): a is Tensor => a instanceof Tensor);
  return record('checkpoint', inputs, out, tensorArgs, {
    backward: (node, g) => recompute(node, g, fn, args, inputs, rng),
  });
}

function result(op: string, out: unknown): Tensor {
  if (!(out instanceof Tensor)) throw new ArgumentError(`${op}: fn must return a Tensor, got ${describeValue(out)}`);
  return out;
}

/** fn(...args) with every tensor it makes but its result freed at its end (as a tidy). */
function runScoped<A extends unknown[]>(fn: (...args: A) => Tensor, args: A): unknown {
  const scope = new Set<Disposable>();
  engine.scopes.push(scope);
  let out: unknown;
  try {
    out = fn(...args);
  } catch (e) {
    engine.scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  engine.scopes.pop();
  if (out instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new ArgumentError(`checkpoint: fn must be synchronous, it returned a Promise (${WHY})`);
  }
  for (const t of scope) if (t !== out) t.dispose();
  if (out instanceof Tensor && scope.has(out)) engine.track(out);
  return out;
}

/**
 * The checkpoint node's gradient rule: fn again, with gradients, on the saved arguments (leaves
 * here, so the backward through it stops at them), then backward from its output down to the
 * tensors the first run read; their gradients are returned for the enclosing backward to pass
 * on. Everything the recomputation makes is freed.
 */
function recompute<A extends unknown[]>(node: Node<'checkpoint'>, g: Tensor, fn: (...args: A) => Tensor, args: A, inputs: readonly Tensor[], rng: [number, number]): (Tensor | null)[] {
  let k = 0;
  const saved = node.saved;
  const again = args.map((a) => (a instanceof Tensor ? saved[k++] : a)) as A;
  const scope = new Set<Disposable>();
  const prev = { grad: engine.gradEnabled, seed: engine.rngSeed, stream: engine.rngStream };
  engine.scopes.push(scope);
  const keep = new Set<Tensor>();
  let out: (Tensor | null)[];
  try {
    engine.gradEnabled = true;
    [engine.rngSeed, engine.rngStream] = rng;
    let y: Tensor;
    try {
      y = fn(...again);
    } catch (e) {
      if (e instanceof DisposedError) throw new DisposedError(`checkpoint: fn, run again in backward, read a tensor disposed since the forward pass (${e.message}); keep what fn reads alive until backward()`);
      throw e;
    }
    engine.gradEnabled = false;
    [engine.rngSeed, engine.rngStream] = [prev.seed, prev.stream];
    if (!(y instanceof Tensor) || y.ndim !== node.shape.length || y.shape.some((d, i) => d !== node.shape[i])) {
      throw new ShapeError(`checkpoint: fn run again in backward returned ${y instanceof Tensor ? `shape ${fmt(y.shape)}` : describeValue(y)}, the first run ${fmt(node.shape)}: fn must compute the same thing each time`);
    }
    if (!y.gradFn) return inputs.map(() => null);
    // the enclosing graph: the nodes that made fn's inputs, and the leaves it read
    const stopNodes = new Set(node.parents.filter((p): p is Node => p !== null));
    const stopLeaves = new Set<Tensor>([...saved, ...inputs.filter((_, i) => node.parents[i] === null)]);
    const grads = backprop([[y.gradFn, g._viewAs(g.shape, g.strides, g.offset)]], false, { nodes: stopNodes, leaves: stopLeaves });
    out = inputs.map((t, i) => {
      const parts: Tensor[] = [];
      const own = grads.get(node.parents[i] ?? t);
      if (own) parts.push(own);
      // an argument reaches the recomputation as its saved handle
      let j = 0;
      for (const a of args) {
        if (!(a instanceof Tensor)) continue;
        const s = saved[j++];
        if (a === t && grads.has(s)) parts.push(grads.get(s)!);
      }
      if (!parts.length) return null;
      const sum = parts.slice(1).reduce((acc, p) => acc.add(p), parts[0]);
      keep.add(sum);
      return sum;
    });
  } finally {
    engine.gradEnabled = prev.grad;
    [engine.rngSeed, engine.rngStream] = [prev.seed, prev.stream];
    engine.scopes.pop();
    // a gradient still pending (fusion) would hold the recomputed activations it reads until it
    // is computed: computed now, so they are freed here, one segment at a time
    for (const t of keep) t._store.materialize();
    for (const t of scope) if (!keep.has(t as Tensor)) t.dispose();
  }
  for (const t of keep) engine.track(t);
  return out;
}
