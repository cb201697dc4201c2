/**
 * Training steps of the benchmark (bench/lib/workloads.ts) in webtensor only, compiled and eager,
 * with the optimizer's multi-segment kernels on and off (WebGPU), run alternately: per workload
 * every variant is set up on a fresh backend, its first step timed cold (pipelines compiled
 * counted, wt.kernelStats), the two recording steps and a warm-up run, then `rounds` rounds of
 * `steps` timed steps, one round of each variant after the other, so that a slow phase of a loaded
 * machine hits every variant alike. Reports per variant the median step (wall, loss read
 * included), the ratio to the first variant, the process CPU time per step (in Node on a software
 * adapter it includes the emulated GPU's threads: the work done, less disturbed by other load than
 * the wall clock), dispatches per step (compiled: the recording's
 * `stats.dispatches`; eager: counted by wt.profile over one step) and the cold figures.
 *
 * Run: npm run bench:modes -- [--backend webgpu|cpu] [--quick] [--only TEXT] [--rounds N] [--steps N]
 *      [--segments both|on|off]   (without --quick: the full suite's sizes)
 * In Node it runs on Dawn (SwiftShader where there is no GPU driver).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import * as wt from '../src/index.js';
import { createWebGPUBackend } from '../src/backend/webgpu/index.js';
import { trainingModel } from './lib/webtensor.js';
import { installNodeWebGPU } from './lib/dawn.js';
import { SWIFTSHADER_ICD } from './lib/chromium.js';
import { TRAIN_LR, workloads, type Workload } from './lib/workloads.js';
import { median } from './lib/timing.js';

interface Variant { name: string; compiled: boolean; segments?: boolean }

interface Live {
  v: Variant;
  backend: wt.Backend;
  step: () => Promise<number>;
  compiled: wt.Compiled<wt.Tensor[], wt.Tensor> | null;
  done: () => void;
  times: number[];
  /** process CPU milliseconds per step (in Node on SwiftShader: the emulated GPU's threads too) */
  cpu: number[];
  coldMs: number;
  recordMs: number;
  pipelines: number;
  compileMs: number;
  dispatches: number;
}

function makeCase(w: Workload, compiled: boolean) {
  const { model, x, y, lossOf } = trainingModel(w);
  const opt = new wt.optim.SGD(model.parameters(), { lr: TRAIN_LR });
  const update = (x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const l = lossOf(x, y);
    l.backward();
    opt.step();
    return l;
  };
  const c = compiled ? wt.compile(update) : null;
  const step = async () => {
    const loss = c ? c(x, y) : wt.tidy(() => update(x, y));
    const v = await loss.item();
    loss.dispose();
    return v;
  };
  return { step, compiled: c, done: () => { c?.dispose(); opt.zeroGrad(); model.dispose(); opt.dispose(); wt.dispose([x, y]); } };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: {
    backend: { type: 'string', default: 'webgpu' }, quick: { type: 'boolean', default: false }, only: { type: 'string' },
    rounds: { type: 'string', default: '5' }, steps: { type: 'string', default: '5' }, segments: { type: 'string', default: 'both' },
  } });
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const kind = a.backend as 'webgpu' | 'cpu';
  if (kind === 'webgpu') installNodeWebGPU();
  const rounds = Number(a.rounds), steps = Number(a.steps);
  const segs = kind === 'cpu' ? [undefined] : a.segments === 'both' ? [false, true] : [a.segments === 'on'];
  const variants: Variant[] = [];
  for (const s of segs) for (const compiled of [true, false]) variants.push({ name: `${compiled ? 'compiled' : 'eager'}${s === undefined ? '' : s ? ' seg on' : ' seg off'}`, compiled, segments: s });
  const all = workloads(a.quick).filter((w) => w.group === 'training' && (!a.only || w.name.includes(a.only)));
  console.log(`webtensor training steps on ${kind}: ${variants.map((v) => v.name).join(', ')}; ${rounds} rounds of ${steps} steps, alternating`);
  console.log('| workload | variant | median ms | ÷ first | min ms | CPU ms (median) | CPU ÷ first | dispatches/step | cold 1st step ms | steps 2–3 ms | pipelines (1st step) | compile ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const w of all) {
    const live: Live[] = [];
    for (const v of variants) {
      // a fresh backend per variant: its first step compiles every pipeline it needs
      const backend = kind === 'webgpu' ? wt.setBackend(await createWebGPUBackend(undefined, { segments: v.segments })) : await wt.init({ backend: 'cpu' });
      if (kind === 'cpu') wt.setBackend(backend);
      const c = makeCase(w, v.compiled);
      const k0 = wt.kernelStats();
      let t = performance.now();
      await c.step();
      const coldMs = performance.now() - t;
      const k1 = wt.kernelStats();
      t = performance.now();
      await c.step();
      await c.step();
      const recordMs = performance.now() - t;
      await c.step();
      // dispatches per step: the recording's count, or the eager step's kernels counted by the profiler
      let dispatches = c.compiled?.stats.dispatches ?? 0;
      if (!c.compiled) {
        const p = await wt.profile(() => c.step());
        dispatches = p.kernels.reduce((n, k) => n + k.count, 0);
      }
      if (c.compiled && c.compiled.reason) console.log(`  ${w.name} ${v.name}: ${c.compiled.reason}`);
      live.push({ v, backend, step: c.step, compiled: c.compiled, done: c.done, times: [], cpu: [], coldMs, recordMs, pipelines: k1.compiled - k0.compiled, compileMs: k1.compileMs - k0.compileMs, dispatches });
    }
    for (let r = 0; r < rounds; r++) {
      for (const l of live) {
        wt.setBackend(l.backend);
        for (let i = 0; i < steps; i++) {
          const t = performance.now(), c0 = process.cpuUsage();
          await l.step();
          l.times.push(performance.now() - t);
          const c1 = process.cpuUsage(c0);
          l.cpu.push((c1.user + c1.system) / 1000);
        }
      }
    }
    const base = median(live[0].times), cbase = median(live[0].cpu);
    for (const l of live) {
      const m = median(l.times), cm = median(l.cpu);
      console.log(`| ${w.name} | ${l.v.name} | ${m.toFixed(2)} | ${(m / base).toFixed(2)} | ${Math.min(...l.times).toFixed(2)} | ${cm.toFixed(1)} | ${(cm / cbase).toFixed(2)} | ${l.dispatches} | ${l.coldMs.toFixed(0)} | ${l.recordMs.toFixed(0)} | ${l.pipelines} | ${l.compileMs.toFixed(0)} |`);
      wt.setBackend(l.backend);
      l.done();
      if (kind === 'webgpu') l.backend.destroy();
    }
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
