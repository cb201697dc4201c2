/**
 * TensorFlow.js's side of the benchmark, on its 'webgpu', 'cpu' or 'wasm' backend (one global
 * backend, switched by `activate`). Kernels use TF.js's native layouts (conv2d NHWC with HWIO
 * filters; the same FLOPs), converted to webtensor's only in the untimed check. TF.js has no
 * layerNorm op: on WebGPU the kernel is `moments` + the fused `batchNorm` kernel; elsewhere, and in
 * training, plain arithmetic on the moments (TF.js's CPU batchNorm only broadcasts statistics
 * along the last axis, and its gradient wants them of the input's rank). Training steps are the same models as
 * webtensor's, written with tfjs-core ops and `tf.train.sgd`; weights start uniform in
 * ±1/√fan_in (PyTorch's default), so the initial losses are alike but not identical.
 */
import type { Case, Lib } from './runner.js';
import { CHAIN_MUL, CHAIN_SUB, TRAIN_LR, chainOp, type GptShape, type Workload } from './workloads.js';

type TF = typeof import('@tensorflow/tfjs-core');
type T = import('@tensorflow/tfjs-core').Tensor;
type V = import('@tensorflow/tfjs-core').Variable;

/** Layer norm over the last axis: moments, then the fused batchNorm kernel or plain arithmetic. */
function layerNorm(tf: TF, x: T, g: T, b: T, eps: number, fused = false): T {
  const { mean, variance } = tf.moments(x, -1, true);
  if (fused) return tf.batchNorm(x, mean, variance, b, g, eps);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** Causal attention over q, k, v [B, H, T, D]: scores, mask, softmax, weighted sum. */
function attention(tf: TF, q: T, k: T, v: T, mask: T): T {
  const d = q.shape[q.shape.length - 1];
  const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), mask);
  return tf.matMul(tf.softmax(s, -1), v);
}

/** [T, T] additive mask: 0 on and below the diagonal, -1e9 above (future keys). */
function causalMask(tf: TF, t: number): T {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -1e9;
  return tf.tensor2d(m, [t, t]);
}

function kernelCase(tf: TF, w: Workload): Case {
  const sp = w.spec;
  let inputs: T[];
  let op: () => T;
  let toRef: (y: T) => T = (y) => y;
  switch (sp.kind) {
    case 'matmul': {
      const [a, b] = inputs = [tf.tensor2d(w.inputs[0], [sp.m, sp.k]), tf.tensor2d(w.inputs[1], [sp.k, sp.n])];
      op = () => tf.matMul(a, b);
      break;
    }
    case 'conv2d': {
      const s = sp.s;
      const [x, k] = inputs = tf.tidy(() => [
        tf.transpose(tf.tensor4d(w.inputs[0], [s.N, s.C, s.H, s.W]), [0, 2, 3, 1]),
        tf.transpose(tf.tensor4d(w.inputs[1], [s.O, s.C, s.KH, s.KW]), [2, 3, 1, 0]),
      ]);
      op = () => tf.conv2d(x as import('@tensorflow/tfjs-core').Tensor4D, k as import('@tensorflow/tfjs-core').Tensor4D, s.stride, s.pad);
      toRef = (y) => tf.transpose(y, [0, 3, 1, 2]);
      break;
    }
    case 'softmax': {
      const [x] = inputs = [tf.tensor2d(w.inputs[0], [sp.rows, sp.d])];
      op = () => tf.softmax(x, -1);
      break;
    }
    case 'layerNorm': {
      const [x, g, b] = inputs = [tf.tensor2d(w.inputs[0], [sp.rows, sp.d]), tf.tensor2d(w.inputs[1], [1, sp.d]), tf.tensor2d(w.inputs[2], [1, sp.d])];
      op = () => tf.tidy(() => layerNorm(tf, x, g, b, sp.eps, tf.getBackend() === 'webgpu'));
      break;
    }
    case 'attention': {
      const shape = [sp.b, sp.h, sp.t, sp.d];
      const [q, k, v, mask] = inputs = [tf.tensor(w.inputs[0], shape), tf.tensor(w.inputs[1], shape), tf.tensor(w.inputs[2], shape), causalMask(tf, sp.t)];
      op = () => tf.tidy(() => attention(tf, q, k, v, mask));
      break;
    }
    case 'chain': {
      const [x, wc] = inputs = [tf.tensor1d(w.inputs[0]), tf.tensor1d(w.inputs[1])];
      op = () => tf.tidy(() => {
        let y = x;
        for (let i = 0; i < sp.ops; i++) {
          const o = chainOp(i);
          y = o === 'mulScalar' ? tf.mul(y, CHAIN_MUL) : o === 'addX' ? tf.add(y, x) : o === 'subScalar' ? tf.sub(y, CHAIN_SUB) : tf.mul(y, wc);
        }
        return y;
      });
      break;
    }
    default:
      throw new Error(`TF.js: ${w.name} is not a kernel workload`);
  }
  return {
    async run() {
      const first = tf.tidy(() => tf.slice(tf.reshape(op(), [-1]), 0, 1));
      await first.data();
      tf.dispose(first);
    },
    async probe() {
      const y = tf.tidy(() => toRef(op()));
      try {
        return Float32Array.from(await y.data() as Float32Array);
      } finally {
        tf.dispose(y);
      }
    },
    live: () => tf.memory().numTensors,
    done: () => tf.dispose(inputs),
  };
}

/** Model parameters: weights uniform in ±1/√fanIn, biases 0, LayerNorm gains 1. */
class Params {
  readonly vars: V[] = [];
  private seed = 1;
  constructor(private readonly tf: TF) {}
  weight(shape: number[], fanIn: number): V {
    const lim = 1 / Math.sqrt(fanIn);
    return this.add(this.tf.randomUniform(shape, -lim, lim, 'float32', this.seed++));
  }
  fill(shape: number[], value: number): V {
    return this.add(this.tf.fill(shape, value));
  }
  private add(t: T): V {
    const v = this.tf.variable(t);
    t.dispose();
    this.vars.push(v);
    return v;
  }
}

type Forward = (x: T) => T;

function mlp(tf: TF, p: Params): Forward {
  const sizes = [784, 256, 128, 10];
  const layers = sizes.slice(1).map((n, i) => [p.weight([sizes[i], n], sizes[i]), p.fill([n], 0)] as const);
  return (x) => layers.reduce((h, [w, b], i) => {
    const z = tf.add(tf.matMul(h, w), b);
    return i < layers.length - 1 ? tf.relu(z) : z;
  }, tf.reshape(x, [-1, 784]));
}

function cnn(tf: TF, p: Params): Forward {
  // NHWC: with one input channel the images are the same bytes as NCHW
  const w1 = p.weight([3, 3, 1, 8], 9), b1 = p.fill([8], 0);
  const w2 = p.weight([3, 3, 8, 16], 72), b2 = p.fill([16], 0);
  const w3 = p.weight([784, 10], 784), b3 = p.fill([10], 0);
  return (x) => {
    let h = tf.reshape(x, [-1, 28, 28, 1]) as import('@tensorflow/tfjs-core').Tensor4D;
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, w1 as import('@tensorflow/tfjs-core').Tensor4D, 1, 'same'), b1)), 2, 2, 'valid'); // (B, 14, 14, 8)
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, w2 as import('@tensorflow/tfjs-core').Tensor4D, 1, 'same'), b2)), 2, 2, 'valid'); // (B, 7, 7, 16)
    return tf.add(tf.matMul(tf.reshape(h, [-1, 784]), w3), b3);
  };
}

/** The character transformer of demo/src/models.ts (pre-norm blocks, exact GELU). */
function gpt(tf: TF, p: Params, g: GptShape, batch: number): Forward {
  const { vocab: V, blockSize: T, nEmbd: C, nHead: H } = g, hs = C / H;
  const tok = p.weight([V, C], 1), pos = p.weight([T, C], 1);
  const blocks = Array.from({ length: g.nLayer }, () => ({
    g1: p.fill([C], 1), b1: p.fill([C], 0), wqkv: p.weight([C, 3 * C], C), bqkv: p.fill([3 * C], 0), wo: p.weight([C, C], C), bo: p.fill([C], 0),
    g2: p.fill([C], 1), b2: p.fill([C], 0), w1: p.weight([C, 4 * C], C), c1: p.fill([4 * C], 0), w2: p.weight([4 * C, C], 4 * C), c2: p.fill([C], 0),
  }));
  const gf = p.fill([C], 1), bf = p.fill([C], 0), wh = p.weight([C, V], C), bh = p.fill([V], 0);
  const mask = causalMask(tf, T);
  const gelu = (x: T) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  return (idx) => {
    let h = tf.add(tf.gather(tok, tf.reshape(idx, [-1])), tf.tile(pos, [batch, 1])); // (B·T, C)
    for (const b of blocks) {
      const qkv = tf.add(tf.matMul(layerNorm(tf, h, b.g1, b.b1, 1e-5), b.wqkv), b.bqkv); // (B·T, 3C)
      const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [batch, T, 3, H, hs]), [2, 0, 3, 1, 4])); // 3 × (B, H, T, hs)
      const att = tf.reshape(tf.transpose(attention(tf, q, k, v, mask), [0, 2, 1, 3]), [batch * T, C]);
      h = tf.add(h, tf.add(tf.matMul(att, b.wo), b.bo));
      const f = gelu(tf.add(tf.matMul(layerNorm(tf, h, b.g2, b.b2, 1e-5), b.w1), b.c1));
      h = tf.add(h, tf.add(tf.matMul(f, b.w2), b.c2));
    }
    return tf.add(tf.matMul(layerNorm(tf, h, gf, bf, 1e-5), wh), bh); // (B·T, V)
  };
}

function trainCase(tf: TF, w: Workload): Case {
  const sp = w.spec;
  const p = new Params(tf);
  let forward: Forward, x: T, classes: number;
  if (sp.kind === 'mlp' || sp.kind === 'cnn') {
    forward = sp.kind === 'mlp' ? mlp(tf, p) : cnn(tf, p);
    x = tf.tensor(w.x as Float32Array, [sp.batch, 784]);
    classes = 10;
  } else if (sp.kind === 'gpt') {
    forward = gpt(tf, p, sp.gpt, sp.batch);
    x = tf.tensor(w.x as Int32Array, [sp.batch, sp.gpt.blockSize], 'int32');
    classes = sp.gpt.vocab;
  } else {
    throw new Error(`TF.js: ${w.name} is not a training workload`);
  }
  const target = tf.oneHot(tf.tensor1d(w.y!, 'int32'), classes);
  const opt = tf.train.sgd(TRAIN_LR);
  const step = async () => {
    const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(target, forward(x)) as import('@tensorflow/tfjs-core').Scalar, true, p.vars)!;
    const v = (await loss.data())[0];
    loss.dispose();
    return v;
  };
  return {
    run: async () => {
      await step();
    },
    probe: async () => Float32Array.of(await step()),
    live: () => tf.memory().numTensors,
    done: () => {
      opt.dispose();
      tf.dispose([...p.vars, x, target]);
    },
  };
}

/**
 * TF.js on `backend`. `wasmPath` (browser only): the URL folder holding tfjs-backend-wasm's
 * .wasm files; without it the wasm backend looks next to its own module (right in Node).
 */
export function tfjsLib(backend: 'webgpu' | 'cpu' | 'wasm', opts: { wasmPath?: string } = {}): Lib {
  let tf: TF;
  return {
    library: 'TF.js',
    backend,
    async init() {
      tf = await import('@tensorflow/tfjs-core');
      if (backend === 'webgpu') {
        // registers 'webgpu' only when navigator.gpu exists at import time (Node: bench/lib/dawn.ts first)
        await import('@tensorflow/tfjs-backend-webgpu');
      } else if (backend === 'cpu') {
        await import('@tensorflow/tfjs-backend-cpu');
      } else {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        if (opts.wasmPath) wasm.setWasmPaths(opts.wasmPath);
      }
      await this.activate!();
    },
    async activate() {
      if (tf.getBackend() === backend) return;
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
    },
    setup: (w) => (w.group === 'kernel' ? kernelCase(tf, w) : trainCase(tf, w)),
  };
}
