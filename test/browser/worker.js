// A module worker: webtensor on WebGPU inside a Web Worker (navigator.gpu, no window or DOM).
import * as wt from '/dist/index.js';

async function run(backend) {
  await wt.init({ backend });
  const out = wt.tidy(() => {
    const x = wt.randn([4, 6], { seed: 1 });
    const w = wt.randn([6, 3], { seed: 2 }).requiresGrad_();
    const loss = wt.crossEntropy(x.matmul(w), wt.tensor(new Int32Array([0, 2, 1, 2])));
    loss.backward();
    return [loss, w.grad].map((t) => wt.keep(t));
  });
  const vals = [];
  for (const t of out) vals.push(Array.from(await t.data()));
  wt.dispose(out);
  return vals;
}

self.onmessage = async () => {
  try {
    const gpu = await run('webgpu');
    const info = wt.backendInfo();
    // a model file made and read back inside the worker, through a Blob
    const bytes = await wt.save({ a: wt.arange(5).float() });
    const back = await wt.load(new Blob([bytes]));
    const file = Array.from(await back.a.data());
    const cpu = await run('cpu');
    let maxDiff = 0;
    gpu.forEach((g, i) => g.forEach((v, j) => { maxDiff = Math.max(maxDiff, Math.abs(v - cpu[i][j])); }));
    self.postMessage({ backend: info.name, inWorker: typeof window === 'undefined' && typeof WorkerGlobalScope !== 'undefined', maxDiff, loss: gpu[0][0], file });
  } catch (e) {
    self.postMessage({ error: String((e && e.stack) || e) });
  }
};
