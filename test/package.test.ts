/**
 * The package as `npm pack` makes it, installed the way a user's project gets it, offline: the
 * tarball's contents and size, then two consumer projects in a temp dir with the tarball unpacked
 * into node_modules/webtensor (and the type packages a project would have, linked from this
 * repository's node_modules):
 * - Node: strict, lib ES2022, types ["node"], no skipLibCheck, no webgpu package installed; it
 *   typechecks, trains a tiny model with fit() on the CPU backend, saves safetensors, and asking
 *   for WebGPU says `npm i webgpu`;
 * - browser: strict, lib ES2022 + DOM: the GPU types are WebGPU's own (merged with the
 *   declarations' placeholders), webtensor/vis included.
 * Also: error class names survive a minifier. Needs `npm run build` (test/setup.sh does it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const tsc = `${root}node_modules/.bin/tsc`;
let dir: string, tarball: string, packed: { size: number; unpackedSize: number; files: { path: string; size: number }[] };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webtensor-package-'));
  // the build is test/setup.sh's (prepack would rebuild it)
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  packed = JSON.parse(out)[0];
  tarball = join(dir, (packed as unknown as { filename: string }).filename);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A consumer project: the tarball unpacked as node_modules/webtensor, `types` packages linked. */
function consumer(name: string, types: string[], tsconfig: Record<string, unknown>, files: Record<string, string>): string {
  const p = join(dir, name);
  mkdirSync(join(p, 'node_modules', 'webtensor'), { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', join(p, 'node_modules', 'webtensor'), '--strip-components=1']);
  for (const t of types) {
    mkdirSync(join(p, 'node_modules', t, '..'), { recursive: true });
    symlinkSync(join(root, 'node_modules', t), join(p, 'node_modules', t));
  }
  writeFileSync(join(p, 'package.json'), JSON.stringify({ name, private: true, type: 'module', dependencies: { webtensor: `file:${tarball}` } }));
  writeFileSync(join(p, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', ...tsconfig }, include: ['*.ts'] }));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(p, f), text);
  return p;
}

function typecheck(p: string, emit = false): void {
  const r = spawnSync(tsc, ['-p', p, ...(emit ? [] : ['--noEmit'])], { encoding: 'utf8' });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
}

describe('npm pack', () => {
  it('carries what a user needs and no more', () => {
    const paths = packed.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/cli.js', 'dist/esm/index.js', 'dist/esm/vis/index.js', 'dist/esm/lm/index.js', 'dist/esm/worker/index.js',
      'dist/types/index.d.ts', 'dist/types/vis/index.d.ts', 'dist/types/lm/index.d.ts', 'dist/types/worker/index.d.ts', 'dist/types/webgpu-globals.d.ts']) expect(paths).toContain(f);
    // no source maps, sources, shaders (inlined in the build), example scripts or data sets
    expect(paths.filter((f) => /\.map$|^(src|shaders|examples|test|bench|demo)\//.test(f))).toEqual([]);
    expect(Math.max(...packed.files.map((f) => f.size))).toBeLessThan(800 * 1024);
    // the whole tarball: the library twice (modules for bundlers, one file for a script tag) and its types
    // (716 KB with webtensor/lm, wt.nn.lora and webtensor/worker; 791 KiB with issue 25's quantized
    // kernels, layers and GGUF repacking, issue 22's arenas and issue 26's seven examples in the CLI)
    expect(packed.size).toBeLessThan(830 * 1024);
    expect(readFileSync(`${root}LICENSE`, 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the webtensor authors\n/);
  });

  it('webgpu is an optional peer dependency; the runtime dependencies are the types and the tokenizer of webtensor/lm', () => {
    expect(pkg.scripts.prepack).toMatch(/build/);
    expect(pkg.peerDependencies).toEqual({ webgpu: expect.any(String) });
    expect(pkg.peerDependenciesMeta).toEqual({ webgpu: { optional: true } });
    expect(pkg.optionalDependencies).toBeUndefined();
    // @huggingface/tokenizers and @huggingface/jinja (chat templates) serve webtensor/lm only:
    // the core entry never imports them (test/tokenizer.test.ts checks its bundle)
    expect(Object.keys(pkg.dependencies ?? {})).toEqual(['@huggingface/jinja', '@huggingface/tokenizers', '@webgpu/types']);
    expect(pkg.devDependencies.webgpu).toBeDefined();
    const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8'));
    expect(lock.packages[''].peerDependencies).toEqual(pkg.peerDependencies);
    expect(lock.packages[''].dependencies).toEqual(pkg.dependencies);
  });
});

describe('a consumer project', () => {
  it('Node, strict, lib ES2022, no skipLibCheck: typechecks, trains with fit() on the CPU, saves safetensors, generates with webtensor/lm; WebGPU asks for npm i webgpu', () => {
    const p = consumer('node-app', ['@types/node', 'undici-types'], { lib: ['ES2022'], types: ['node'] }, {
      'main.ts': `
import * as wt from 'webtensor';
import { GPT2LMHeadModel } from 'webtensor/lm';
import { readFileSync } from 'node:fs';

await wt.init({ backend: 'cpu' });
const lm = new GPT2LMHeadModel({ vocab_size: 16, n_positions: 16, n_embd: 8, n_layer: 1, n_head: 2 });
const generated: number[] = [];
for await (const id of lm.generate([1, 2, 3], { maxNewTokens: 3, temperature: 0, stop: [] })) generated.push(id);
lm.dispose();
const x = wt.randn([64, 2], { seed: 1 });
const y = x.sum(1).gt(0).int();                       // int32 class labels
const model = new wt.nn.Sequential(new wt.nn.Linear(2, 8), new wt.nn.ReLU(), new wt.nn.Linear(8, 2));
const h = await model.fit(x, y, { loss: 'crossEntropy', metrics: ['accuracy'], optimizer: 'adam', lr: 0.05, epochs: 8, batchSize: 16, verbose: 0, seed: 0 });
await wt.save(model.stateDict(), 'model.safetensors');
const sd = await wt.load('model.safetensors');
const keys = Object.keys(sd).sort();
wt.dispose(sd);
let webgpu = '';
try {
  await wt.init({ backend: 'webgpu' });
} catch (e) {
  webgpu = (e as Error).name + ': ' + (e as Error).message;
}
console.log(JSON.stringify({ loss: h.history.loss, acc: h.history.acc, keys, bytes: readFileSync('model.safetensors').length, webgpu, generated }));
`,
    });
    typecheck(p, true);
    const r = spawnSync(process.execPath, ['out/main.js'], { cwd: p, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.loss.at(-1)).toBeLessThan(out.loss[0] * 0.5);
    expect(out.acc.at(-1)).toBeGreaterThan(0.9);
    expect(out.keys).toHaveLength(4);
    expect(out.generated).toHaveLength(3); // webtensor/lm, on the same library instance
    expect(out.bytes).toBeGreaterThan(4 * (2 * 8 + 8 + 8 * 2 + 2));
    expect(out.webgpu).toMatch(/^BackendError: .*npm i webgpu/);
    // the command line, whose bundle imports the package's own modules
    const cli = spawnSync(process.execPath, ['node_modules/webtensor/dist/cli.js', 'list'], { cwd: p, encoding: 'utf8', timeout: 30_000 });
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/^perceptron /m);
  });

  it('browser, strict, lib DOM: GPU objects keep their WebGPU types; webtensor/vis typechecks', () => {
    // TypeScript's DOM library declares WebGPU (this repository's TypeScript does; with @webgpu/
    // types on top it reports duplicates of its own): the declarations' placeholders merge with it
    const p = consumer('web-app', [], { lib: ['ES2022', 'DOM'], types: [] }, {
      'main.ts': `
import * as wt from 'webtensor';
import { fitCallbacks, LineChart } from 'webtensor/vis';

export async function run(canvas: HTMLCanvasElement): Promise<number> {
  const adapter = await navigator.gpu.requestAdapter();
  const device: GPUDevice = await adapter!.requestDevice();
  await wt.init({ device });
  const t = wt.ones([4]);
  const { buffer } = t.gpuBuffer();
  const size: number = buffer.size;                  // GPUBuffer's own members
  const model = new wt.nn.Linear(4, 1);
  await model.fit([wt.ones([8, 4]), wt.zeros([8, 1])], { loss: 'mse', epochs: 1, callbacks: [fitCallbacks(document.body, ['loss', 'valLoss'], { log: true })] });
  new LineChart(canvas, { title: 'x', log: true }).add('a', '#000');
  return size;
}
`,
    });
    typecheck(p);
  });
});

describe('minified', () => {
  it('error classes keep their names', async () => {
    const r = await build({
      stdin: {
        contents: `import { init, ones, ShapeError, WebtensorError, DisposedError } from 'webtensor';
          await init({ backend: 'cpu' });
          const out = [];
          try { ones([2, 3]).add(ones([4])); } catch (e) { out.push(e.name, String(e), e instanceof ShapeError, e instanceof WebtensorError); }
          const t = ones([1]); t.dispose();
          try { t.add(1); } catch (e) { out.push(e.name, e instanceof DisposedError); }
          console.log(JSON.stringify(out));`,
        resolveDir: root, loader: 'js',
      },
      bundle: true, minify: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent', external: ['webgpu'],
      alias: { webtensor: root + pkg.exports['.'].import },
    });
    const text = r.outputFiles[0].text;
    // the minifier did rename the classes
    expect(text).not.toMatch(/class ShapeError\b/);
    const file = join(dir, 'errors.min.mjs');
    writeFileSync(file, text);
    const run = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    const [name, str, isShape, isBase, name2, isDisposed] = JSON.parse(run.stdout);
    expect([name, isShape, isBase, name2, isDisposed]).toEqual(['ShapeError', true, true, 'DisposedError', true]);
    expect(str).toMatch(/^ShapeError: add: /);
  });
});
