/**
 * jax-js's side of the benchmark, on its WebGPU device or its wasm backend. jax-js arrays are reference-counted and
 * every function consumes its arguments: `.ref` (+1) keeps an input alive across runs. It is
 * lazy, so a timed kernel run awaits `blockUntilReady()` on the whole result rather than reading
 * one element (which could compute only that element).
 *
 * Training steps are the same models as webtensor's, written with jax-js ops (embedding as a
 * one-hot matmul, max pooling as a reshape + max, attention as `nn.dotProductAttention` in its
 * [B, T, H, D] layout), differentiated with `valueAndGrad` and compiled with `jit` as jax-js
 * recommends; when `jit` fails on a model the step runs eagerly and the row says so.
 */
import type { Case, Lib } from './runner.js';
import { CHAIN_MUL, CHAIN_SUB, TRAIN_LR, chainOp, uniform, type GptShape, type Workload } from './workloads.js';

type Jax = typeof import('@jax-js/jax');
type A = import('@jax-js/jax').Array;
type Tree = A | Tree[] | { [k: string]: Tree };

function kernelCase(jax: Jax, w: Workload): Case {
  const np = jax.numpy, sp = w.spec;
  let inputs: A[];
  let op: () => A;
  let toRef: (y: A) => A = (y) => y;
  switch (sp.kind) {
    case 'matmul': {
      const [a, b] = inputs = [np.array(w.inputs[0], { shape: [sp.m, sp.k] }), np.array(w.inputs[1], { shape: [sp.k, sp.n] })];
      op = () => np.matmul(a.ref, b.ref);
      break;
    }
    case 'conv2d': {
      const s = sp.s;
      const [x, k] = inputs = [np.array(w.inputs[0], { shape: [s.N, s.C, s.H, s.W] }), np.array(w.inputs[1], { shape: [s.O, s.C, s.KH, s.KW] })];
      op = () => jax.lax.conv(x.ref, k.ref, [s.stride, s.stride], [[s.pad, s.pad], [s.pad, s.pad]]);
      break;
    }
    case 'softmax': {
      const [x] = inputs = [np.array(w.inputs[0], { shape: [sp.rows, sp.d] })];
      op = () => jax.nn.softmax(x.ref, -1);
      break;
    }
    case 'layerNorm': {
      const [x, g, b] = inputs = [np.array(w.inputs[0], { shape: [sp.rows, sp.d] }), np.array(w.inputs[1]), np.array(w.inputs[2])];
      op = () => jax.nn.standardize(x.ref, -1, { epsilon: sp.eps }).mul(g.ref).add(b.ref);
      break;
    }
    case 'attention': {
      // jax-js's layout is [B, T, H, D]: transposed once, outside the timing
      const bthd = (i: number) => np.transpose(np.array(w.inputs[i], { shape: [sp.b, sp.h, sp.t, sp.d] }), [0, 2, 1, 3]);
      const [q, k, v] = inputs = [bthd(0), bthd(1), bthd(2)];
      op = () => jax.nn.dotProductAttention(q.ref, k.ref, v.ref, { isCausal: true });
      toRef = (y) => np.transpose(y, [0, 2, 1, 3]);
      break;
    }
    case 'chain': {
      // eager (no jit): every op is issued on its own, as in the other libraries
      const [x, wc] = inputs = [np.array(w.inputs[0]), np.array(w.inputs[1])];
      op = () => {
        let y = x.ref;
        for (let i = 0; i < sp.ops; i++) {
          const o = chainOp(i);
          y = o === 'mulScalar' ? y.mul(CHAIN_MUL) : o === 'addX' ? y.add(x.ref) : o === 'subScalar' ? y.sub(CHAIN_SUB) : y.mul(wc.ref);
        }
        return y;
      };
      break;
    }
    default:
      throw new Error(`jax-js: ${w.name} is not a kernel workload`);
  }
  return {
    async run() {
      const y = op();
      await y.blockUntilReady();
      y.dispose();
    },
    // data() consumes the array
    probe: async () => Float32Array.from(await toRef(op()).data() as Float32Array),
    live: () => undefined,
    done: () => inputs.forEach((a) => a.dispose()),
  };
}

/** Deterministic initial weights (uniform in ±1/√fanIn; biases 0, LayerNorm gains 1). */
function initParams(jax: Jax) {
  const np = jax.numpy;
  let seed = 100;
  return {
    weight: (shape: number[], fanIn: number) => np.array(uniform(shape.reduce((a, b) => a * b, 1), seed++, 1 / Math.sqrt(fanIn)), { shape }),
    fill: (shape: number[], v: number) => np.full(shape, v),
  };
}

type LossFn = (params: Tree, x: A, target: A) => A;

/** Mean cross-entropy of logits [N, V] against one-hot targets [N, V]. */
function xent(jax: Jax, logits: A, target: A): A {
  return jax.nn.logSoftmax(logits, -1).mul(target).sum(-1).mean().neg();
}

function mlpModel(jax: Jax): [Tree, LossFn] {
  const np = jax.numpy, p = initParams(jax), sizes = [784, 256, 128, 10];
  const params = sizes.slice(1).map((n, i) => ({ w: p.weight([sizes[i], n], sizes[i]), b: p.fill([n], 0) }));
  const loss: LossFn = (ps, x, t) => {
    const layers = ps as { w: A; b: A }[];
    let h = x;
    layers.forEach((l, i) => {
      h = np.matmul(h, l.w).add(l.b);
      if (i < layers.length - 1) h = jax.nn.relu(h);
    });
    return xent(jax, h, t);
  };
  return [params, loss];
}

function cnnModel(jax: Jax, batch: number): [Tree, LossFn] {
  const np = jax.numpy, p = initParams(jax);
  const params = { w1: p.weight([8, 1, 3, 3], 9), b1: p.fill([1, 8, 1, 1], 0), w2: p.weight([16, 8, 3, 3], 72), b2: p.fill([1, 16, 1, 1], 0), w3: p.weight([784, 10], 784), b3: p.fill([10], 0) };
  // 2×2 max pooling as a reshape and a max over the two window axes
  const pool = (x: A, c: number, hw: number) => x.reshape([batch, c, hw / 2, 2, hw / 2, 2]).max([3, 5]);
  const loss: LossFn = (ps, x, t) => {
    const q = ps as typeof params;
    let h = jax.nn.relu(jax.lax.conv(x.reshape([batch, 1, 28, 28]), q.w1, [1, 1], [[1, 1], [1, 1]]).add(q.b1));
    h = pool(h, 8, 28); // (B, 8, 14, 14)
    h = pool(jax.nn.relu(jax.lax.conv(h, q.w2, [1, 1], [[1, 1], [1, 1]]).add(q.b2)), 16, 14); // (B, 16, 7, 7)
    return xent(jax, np.matmul(h.reshape([batch, 784]), q.w3).add(q.b3), t);
  };
  return [params, loss];
}

function gptModel(jax: Jax, g: GptShape, batch: number): [Tree, LossFn] {
  const np = jax.numpy, nn = jax.nn, p = initParams(jax);
  const { vocab: V, blockSize: T, nEmbd: C, nHead: H } = g, hs = C / H;
  const params = {
    tok: p.weight([V, C], 1), pos: p.weight([T, C], 1),
    blocks: Array.from({ length: g.nLayer }, () => ({
      g1: p.fill([C], 1), b1: p.fill([C], 0), wqkv: p.weight([C, 3 * C], C), bqkv: p.fill([3 * C], 0), wo: p.weight([C, C], C), bo: p.fill([C], 0),
      g2: p.fill([C], 1), b2: p.fill([C], 0), w1: p.weight([C, 4 * C], C), c1: p.fill([4 * C], 0), w2: p.weight([4 * C, C], 4 * C), c2: p.fill([C], 0),
    })),
    gf: p.fill([C], 1), bf: p.fill([C], 0), wh: p.weight([C, V], C), bh: p.fill([V], 0),
  };
  const ln = (x: A, gain: A, bias: A) => nn.standardize(x, -1, { epsilon: 1e-5 }).mul(gain).add(bias);
  const loss: LossFn = (ps, x, t) => {
    const q = ps as typeof params;
    let h = np.matmul(nn.oneHot(x.reshape([batch, T]), V), q.tok).add(q.pos); // (B, T, C)
    for (const b of q.blocks) {
      const qkv = np.matmul(ln(h.ref, b.g1, b.b1), b.wqkv).add(b.bqkv).reshape([batch, T, 3, H, hs]);
      const [qq, kk, vv] = np.split(qkv, 3, 2).map((a) => a.reshape([batch, T, H, hs])); // (B, T, H, hs) ×3
      const att = nn.dotProductAttention(qq, kk, vv, { isCausal: true }).reshape([batch, T, C]);
      h = h.add(np.matmul(att, b.wo).add(b.bo));
      const f = nn.gelu(np.matmul(ln(h.ref, b.g2, b.b2), b.w1).add(b.c1), { approximate: false });
      h = h.add(np.matmul(f, b.w2).add(b.c2));
    }
    return xent(jax, np.matmul(ln(h, q.gf, q.bf), q.wh).add(q.bh).reshape([batch * T, V]), t);
  };
  return [params, loss];
}

function trainCase(jax: Jax, w: Workload): Case {
  const np = jax.numpy, sp = w.spec;
  let params: Tree, lossFn: LossFn, x: A, classes: number;
  if (sp.kind === 'mlp' || sp.kind === 'cnn') {
    [params, lossFn] = sp.kind === 'mlp' ? mlpModel(jax) : cnnModel(jax, sp.batch);
    x = np.array(w.x as Float32Array<ArrayBuffer>, { shape: [sp.batch, 784] });
    classes = 10;
  } else if (sp.kind === 'gpt') {
    [params, lossFn] = gptModel(jax, sp.gpt, sp.batch);
    x = np.array(w.x as Int32Array<ArrayBuffer>, { shape: [sp.batch * sp.gpt.blockSize], dtype: np.int32 });
    classes = sp.gpt.vocab;
  } else {
    throw new Error(`jax-js: ${w.name} is not a training workload`);
  }
  const target = jax.nn.oneHot(np.array(w.y!, { dtype: np.int32 }), classes);
  const vg = jax.valueAndGrad(lossFn);
  const update = (ps: Tree, xs: A, t: A): [A, Tree] => {
    const [loss, grads] = vg(jax.tree.ref(ps), xs, t);
    return [loss, jax.tree.map((pp: A, g: A) => pp.sub(g.mul(TRAIN_LR)), ps, grads as Tree)];
  };
  const jitted = jax.jit(update);
  const c = {
    mode: 'jit',
    jitError: '',
    async step(): Promise<number> {
      let out: [A, Tree];
      if (c.mode === 'jit') {
        try {
          out = jitted(jax.tree.ref(params), x.ref, target.ref);
          jax.tree.dispose(params);
        } catch (e) {
          c.mode = 'eager';
          c.jitError = String((e as Error).message ?? e).split('\n')[0].slice(0, 120);
          out = update(params, x.ref, target.ref);
        }
      } else {
        out = update(params, x.ref, target.ref);
      }
      params = out[1];
      return (await out[0].data())[0];
    },
    run: async () => {
      await c.step();
    },
    probe: async () => Float32Array.of(await c.step()),
    live: () => undefined,
    note: () => (c.mode === 'jit' ? undefined : `eager: jit failed (${c.jitError})`),
    done: () => {
      jitted.dispose();
      jax.tree.dispose(params);
      x.dispose();
      target.dispose();
    },
  };
  return c;
}

/**
 * jax-js on one of its devices: 'webgpu' for the WebGPU section, 'wasm' (its WebAssembly
 * backend) for the CPU section. Both sections can run in one process: each case first makes
 * its device jax-js's default.
 */
export function jaxLib(device: 'webgpu' | 'wasm' = 'webgpu'): Lib {
  let jax: Jax;
  return {
    library: 'jax-js',
    backend: device,
    async init() {
      jax = await import('@jax-js/jax');
      const devices = await jax.init(device);
      if (!devices.includes(device)) throw new Error(`jax.init('${device}') started no ${device} device (available: ${devices.join(', ')})`);
    },
    async activate() {
      jax.defaultDevice(device);
    },
    setup: (w) => (w.group === 'kernel' ? kernelCase(jax, w) : trainCase(jax, w)),
  };
}
