/**
 * webtensor's side of the benchmark: the kernels through the public ops, and training steps of
 * the demo's own models (demo/src/models.ts) with plain SGD, on the WebGPU or the CPU backend.
 * Training steps go through `wt.compile` (step capture: replayed without the front end, as jax-js
 * runs its step under `jit`) unless `compiled: false` ("webtensor (eager)").
 */
import * as wt from '../../src/index.js';
import { createWebGPUBackend } from '../../src/backend/webgpu/index.js';
import { CharTransformer, MnistCNN, MnistMLP } from '../../demo/src/models.js';
import type { Case, Lib } from './runner.js';
import { CHAIN_MUL, CHAIN_SUB, TRAIN_LR, chainOp, type Workload } from './workloads.js';

function kernelCase(w: Workload): Case {
  const sp = w.spec;
  let inputs: wt.Tensor[];
  let op: () => wt.Tensor;
  const t = (i: number, shape: number[]) => wt.tensor(w.inputs[i], { shape });
  switch (sp.kind) {
    case 'matmul': {
      const [a, b] = inputs = [t(0, [sp.m, sp.k]), t(1, [sp.k, sp.n])];
      op = () => wt.matmul(a, b);
      break;
    }
    case 'conv2d': {
      const s = sp.s;
      const [x, k] = inputs = [t(0, [s.N, s.C, s.H, s.W]), t(1, [s.O, s.C, s.KH, s.KW])];
      op = () => wt.conv2d(x, k, null, { stride: s.stride, padding: s.pad });
      break;
    }
    case 'softmax': {
      const [x] = inputs = [t(0, [sp.rows, sp.d])];
      op = () => wt.softmax(x, -1);
      break;
    }
    case 'layerNorm': {
      const [x, g, b] = inputs = [t(0, [sp.rows, sp.d]), t(1, [sp.d]), t(2, [sp.d])];
      op = () => wt.layerNorm(x, [sp.d], g, b, sp.eps);
      break;
    }
    case 'attention': {
      const shape = [sp.b, sp.h, sp.t, sp.d];
      const [q, k, v] = inputs = [t(0, shape), t(1, shape), t(2, shape)];
      op = () => wt.nn.scaledDotProductAttention(q, k, v, { isCausal: true });
      break;
    }
    case 'chain': {
      const [x, wt_] = inputs = [t(0, [sp.n]), t(1, [sp.n])];
      op = () => wt.tidy(() => {
        let y = x;
        for (let i = 0; i < sp.ops; i++) {
          const o = chainOp(i);
          y = o === 'mulScalar' ? y.mul(CHAIN_MUL) : o === 'addX' ? y.add(x) : o === 'subScalar' ? y.sub(CHAIN_SUB) : y.mul(wt_);
        }
        return y;
      });
      break;
    }
    default:
      throw new Error(`webtensor: ${w.name} is not a kernel workload`);
  }
  const run = async () => {
    // one element of the result: the read waits for the whole op, the transfer is 4 bytes
    const first = wt.tidy(() => op().reshape([-1]).slice(0, 0, 1));
    await first.data();
    first.dispose();
  };
  return {
    run,
    async probe() {
      const y = op();
      try {
        return Float32Array.from(await y.data() as Float32Array);
      } finally {
        y.dispose();
      }
    },
    live: () => wt.memory().tensors,
    profile: wt.getBackend().name === 'webgpu' ? async () => (await wt.profile(run)).table(12) : undefined,
    done: () => inputs.forEach((x) => x.dispose()),
  };
}

/** A training workload's model, data and loss (the same for every timing harness). */
export function trainingModel(w: Workload): { model: wt.nn.Module; x: wt.Tensor; y: wt.Tensor; lossOf: (x: wt.Tensor, y: wt.Tensor) => wt.Tensor } {
  const sp = w.spec;
  if (sp.kind === 'mlp' || sp.kind === 'cnn') {
    const net = sp.kind === 'mlp' ? new MnistMLP() : new MnistCNN();
    const x = wt.tensor(w.x as Float32Array, { shape: [sp.batch, 1, 28, 28] });
    return { model: net, x, y: wt.tensor(w.y!), lossOf: (x, y) => wt.F.crossEntropy(net.forward(x), y) };
  }
  if (sp.kind === 'gpt') {
    const g = sp.gpt;
    const gpt = new CharTransformer({ vocabSize: g.vocab, blockSize: g.blockSize, nLayer: g.nLayer, nHead: g.nHead, nEmbd: g.nEmbd });
    const x = wt.tensor(w.x as Int32Array, { shape: [sp.batch, g.blockSize] });
    return { model: gpt, x, y: wt.tensor(w.y!, { shape: [sp.batch, g.blockSize] }), lossOf: (x, y) => gpt.loss(x, y) };
  }
  throw new Error(`webtensor: ${w.name} is not a training workload`);
}

function trainCase(w: Workload, compiled: boolean): Case {
  const { model, x, y, lossOf } = trainingModel(w);
  const opt = new wt.optim.SGD(model.parameters(), { lr: TRAIN_LR });
  const update = (x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const l = lossOf(x, y);
    l.backward();
    opt.step();
    return l;
  };
  const compiledUpdate = compiled ? wt.compile(update) : null;
  /** pipelines compiled by the first step (this library's backend: earlier workloads' kernels are cached) */
  let first: { pipelines: number; compileMs: number } | undefined;
  let recordMs: number | undefined;
  /** one step; resolves to the loss (reading it is the step's sync) */
  const step = async () => {
    const k0 = first ? undefined : wt.kernelStats();
    const loss = compiledUpdate ? compiledUpdate(x, y) : wt.tidy(() => update(x, y));
    const v = await loss.item();
    loss.dispose();
    if (k0) {
      const k1 = wt.kernelStats();
      first = { pipelines: k1.compiled - k0.compiled, compileMs: k1.compileMs - k0.compileMs };
    }
    return v;
  };
  const run = async () => {
    await step();
  };
  return {
    run,
    probe: async () => Float32Array.of(await step()),
    // the compiled step's own tensors (input copies, recorded outputs) are not a leak
    live: () => wt.memory().tensors - (compiledUpdate?.stats.tensors ?? 0),
    profile: wt.getBackend().name === 'webgpu' ? async () => (await wt.profile(run)).table(12) : undefined,
    // dispatches per step: the replayed recording's count; eager, the kernels of one step (wt.profile)
    // a compiled step records on its 2nd and 3rd calls: those run before the timed ones
    settle: async () => {
      const t0 = performance.now();
      for (let i = 0; compiledUpdate && compiledUpdate.stats.recorded < 2 && !compiledUpdate.stats.replayed && i < 2; i++) await step();
      if (compiledUpdate) recordMs = performance.now() - t0;
    },
    stats: async () => {
      let dispatches = compiledUpdate?.stats.replayed ? compiledUpdate.stats.dispatches : undefined;
      if (dispatches === undefined) {
        const p = await wt.profile(run);
        dispatches = p.mode === 'none' ? undefined : p.kernels.reduce((n, k) => n + k.count, 0);
      }
      return { dispatches, ...first, recordMs };
    },
    // a compiled step that could not be captured says why
    note: () => (compiledUpdate?.reason ? `eager: ${compiledUpdate.reason}` : undefined),
    done: () => {
      compiledUpdate?.dispose();
      opt.zeroGrad();
      model.dispose();
      opt.dispose();
      wt.dispose([x, y]);
    },
  };
}

/**
 * webtensor on `backend`; each section starts its own backend with wt.init. `fusion` is passed
 * to `wt.setFusion` (default 'auto'); `false` lists the library as "webtensor (fusion off)", so
 * that next to a `fusion: true` "webtensor" its ratio column reads fusion on ÷ off.
 * `matmulPrecision` is set while this library runs ('highest' otherwise): 'medium' measures the
 * f16 GEMM tiles (on devices with shader-f16). `fusedAttention` forces the fused attention
 * kernels on or off (wt.setFusedAttention; 'auto' otherwise) and limits the library to the
 * workloads with attention (the attention kernel, char-gpt).
 */
export function webtensorLib(backend: 'webgpu' | 'cpu', opts: { fusion?: boolean | 'auto'; segments?: boolean; subgroupOps?: boolean; gemmTile?: 64 | 128; label?: string; compiled?: boolean; trainingOnly?: boolean; matmulOnly?: boolean; matmulPrecision?: wt.MatmulPrecision; fusedAttention?: boolean; arenas?: boolean } = {}): Lib {
  let instance: wt.Backend | null = null;
  const fusion = opts.fusion ?? 'auto';
  return {
    library: opts.label ?? (fusion === false ? 'webtensor (fusion off)' : 'webtensor'),
    backend,
    // webtensor's variants time their training steps interleaved (compiled ÷ eager, packing on ÷ off)
    interleave: 'webtensor',
    async init() {
      // segments / subgroupOps / gemmTile: forced (DispatcherOptions), else the backend's defaults
      const forced = opts.segments !== undefined || opts.subgroupOps !== undefined || opts.gemmTile !== undefined;
      instance = backend === 'webgpu' && forced ? wt.setBackend(await createWebGPUBackend(undefined, { segments: opts.segments, subgroupOps: opts.subgroupOps, gemmTile: opts.gemmTile })) : await wt.init({ backend });
    },
    async activate() {
      if (instance && wt.getBackend() !== instance) wt.setBackend(instance);
      wt.setFusion(fusion);
      wt.setFloat32MatmulPrecision(opts.matmulPrecision ?? 'highest');
      wt.setFusedAttention(opts.fusedAttention ?? 'auto');
      // 'medium' switches the f16 tiles on after a check on the device: wait for it
      await (wt.getBackend() as { halfReady?: () => Promise<boolean> }).halfReady?.();
    },
    setup: (w) => {
      if (w.group === 'kernel' && opts.trainingOnly) throw new Error('n/a: this variant differs from webtensor in training steps only');
      if (opts.matmulOnly && !w.name.startsWith('matmul')) throw new Error('n/a: this variant differs from webtensor in large matmuls only');
      if (opts.fusedAttention !== undefined && !/attention|gpt/.test(w.name)) throw new Error('n/a: this variant differs from webtensor in attention only');
      if (opts.arenas !== undefined && w.group === 'kernel') throw new Error('n/a: this variant differs from webtensor in training steps only');
      // the optimizer decides at construction whether its parameters go into arenas (src/arena.ts)
      wt.optim.Optimizer.arenas = opts.arenas ?? true;
      return w.group === 'kernel' ? kernelCase(w) : trainCase(w, opts.compiled ?? true);
    },
  };
}
