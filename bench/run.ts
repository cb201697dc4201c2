/**
 * `npm run bench`: webtensor against TF.js and jax-js on the same workloads (bench/lib/workloads.ts)
 * — kernels and training steps — in headless Chromium through Puppeteer (default) or in Node
 * through Dawn (`--node`). Prints a table with median/min/max, GFLOP/s, GB/s or steps/s and
 * webtensor's ratio to each peer, and appends a dated section naming the adapter to
 * bench/RESULTS.md (a rerun on the same day, adapter and mode replaces its section).
 *
 * Options:
 *   --quick            small sizes and few runs (under 3 minutes on SwiftShader)
 *   --json FILE        also write every figure to FILE
 *   --no-write         leave bench/RESULTS.md alone
 *   --results FILE     append the dated section to FILE instead of bench/RESULTS.md
 *   --node             run in Node on Dawn (the `webgpu` package) instead of Chromium
 *   --section S        only 'webgpu' or 'cpu' (default: both)
 *   --only TEXT        only workloads whose name contains TEXT
 *   --profile TEXT     print webtensor's top kernels (wt.profile) for workloads matching TEXT
 *   --native           use the system's Vulkan driver instead of SwiftShader
 *   --fusion-off       webtensor with eager fusion on, and again with it off as a peer (wt.setFusion)
 *   --attention-variants  webtensor with the fused attention kernels forced on and forced off as
 *                      peers (wt.setFusedAttention), on the workloads with attention
 *   --segments on|off|compare  WebGPU optimizer steps with several parameters per kernel, or one
 *                      each (default: the backend's, DispatcherOptions.segments); compare: webtensor
 *                      with them off, and "webtensor (segments)" peers (compiled and eager) with them on
 *   --arenas-compare   "webtensor (no arenas)" peers (compiled and eager): optimizers with one update
 *                      kernel per parameter instead of one per group (wt.optim.Optimizer.arenas = false)
 *   --webtensor-only   skip TF.js and jax-js (webtensor and its variants only)
 *   --sleep-all        (with --node) every library's runs wait for the GPU the way webtensor's reads
 *                      do on a software adapter: Dawn's polls through a timer (src/backend/webgpu/wait.ts)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { repoRoot, serveStatic } from '../demo/server.js';
import { launchChromium, SWIFTSHADER_ICD } from './lib/chromium.js';
import { today, upsertSection, writeJson } from './lib/report.js';
import { adapterLabel, notes, resultsSection, resultsTable, summary, trainingTable, TRAINING_NOTE } from './lib/results.js';
import { polyfillIteratorHelpers } from './lib/iterators.js';
import { runOptions, type BenchConfig, type BenchResult, type Section } from './lib/suite.js';

/** Bundles bench/page.ts (with TF.js and jax-js) and writes its page into `dir`. */
async function buildPage(root: string, dir: string): Promise<void> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    absWorkingDir: root, entryPoints: ['bench/page.ts'], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    outfile: join(dir, 'page.js'), loader: { '.wgsl': 'text' }, external: ['webgpu'], logLevel: 'error',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>webtensor bench</title><script type="module" src="page.js"></script>\n');
}

/** Runs the suite in headless Chromium and returns what the page reports. */
async function inChromium(root: string, cfg: BenchConfig, native: boolean): Promise<BenchResult> {
  // a directory of this run's own: runs from other checkouts sharing node_modules do not collide
  const dir = mkdtempSync(join(os.tmpdir(), 'webtensor-bench-page-'));
  await buildPage(root, dir);
  const { server, url } = await serveStatic([
    ['/tfjs-wasm/', join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')],
    ['/', dir],
  ]);
  const browser = await launchChromium({ native, extraArgs: ['--enable-webgpu-developer-features'] });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('[bench] ')) console.log(text.slice(8));
      else if (m.type() === 'error') console.error(`page: ${text}`);
    });
    page.on('pageerror', (e) => console.error(`page error: ${e}`));
    await page.goto(`${url}/index.html`);
    await page.waitForFunction(() => 'runBench' in window, { timeout: 60_000 });
    const result = await page.evaluate((c) => (window as unknown as { runBench(c: BenchConfig): Promise<BenchResult> }).runBench(c), cfg);
    return { ...result, environment: `Chromium ${(await browser.version()).replace(/^\D+/, '')} (headless)` };
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * tfjs-core's Node build registers no gradients and its ESM files cannot load in Node as they
 * are: bundle register_all_gradients into one ESM file and import it. The registries and the
 * engine live on the global object, so the second copy of the ops registers into the first's.
 */
async function registerTfjsGradients(root: string, dir: string): Promise<void> {
  const esbuild = await import('esbuild');
  const outfile = join(dir, 'tfjs-gradients.mjs');
  mkdirSync(dir, { recursive: true });
  await esbuild.build({
    absWorkingDir: root, stdin: { contents: "import '@tensorflow/tfjs-core/dist/index.js'; import '@tensorflow/tfjs-core/dist/register_all_gradients.js';", resolveDir: root },
    bundle: true, platform: 'node', format: 'esm', outfile, mainFields: ['module', 'main'], logLevel: 'error',
    // the ESM build's Node platform code calls require('util')
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  await import(pathToFileURL(outfile).href);
}

/** Runs the suite in this process on Dawn. */
async function inNode(root: string, cfg: BenchConfig): Promise<BenchResult> {
  await registerTfjsGradients(root, join(root, 'node_modules', '.cache', 'webtensor-bench'));
  polyfillIteratorHelpers();
  // navigator.gpu must exist before TF.js's WebGPU backend is imported (it registers at import)
  const { installNodeWebGPU } = await import('./lib/dawn.js');
  installNodeWebGPU();
  const wt = await import('../src/index.js');
  const { workloads } = await import('./lib/workloads.js');
  const { runSection } = await import('./lib/runner.js');
  const { sectionLibs } = await import('./lib/suite.js');
  const all = workloads(cfg.quick).filter((w) => !cfg.only || w.name.includes(cfg.only));
  const out: BenchResult = { rows: [], libErrors: [], adapter: null, environment: `Node ${process.version} + Dawn${cfg.sleepAll ? ' (every library\'s runs in sleeping waits, --sleep-all)' : ''}` };
  const { sleepingWait } = await import('../src/backend/webgpu/wait.js');
  const wrapRun = cfg.sleepAll ? (run: () => Promise<void>) => sleepingWait(run) : undefined;
  const cpuClock = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (const section of cfg.sections) {
    console.log(`section ${section}: ${all.length} workloads`);
    const r = await runSection(section, sectionLibs(section, { fusionOff: cfg.fusionOff, segments: cfg.segments, segmentsCompare: cfg.segmentsCompare, webtensorOnly: cfg.webtensorOnly, attentionVariants: cfg.attentionVariants, arenasCompare: cfg.arenasCompare }), all, { ...cfg, wrapRun, cpuClock, log: (l) => console.log(l) });
    out.rows.push(...r.rows);
    out.libErrors.push(...r.libErrors);
    const info = wt.backendInfo();
    if (section === 'webgpu' && info.name === 'webgpu') out.adapter = info.adapter;
  }
  return out;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false }, json: { type: 'string' }, 'no-write': { type: 'boolean', default: false },
      node: { type: 'boolean', default: false }, section: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' },
      native: { type: 'boolean', default: false }, results: { type: 'string' }, 'fusion-off': { type: 'boolean', default: false }, 'attention-variants': { type: 'boolean', default: false },
      'sleep-all': { type: 'boolean', default: false }, segments: { type: 'string' }, 'webtensor-only': { type: 'boolean', default: false },
      'arenas-compare': { type: 'boolean', default: false },
    },
  });
  const sections: Section[] = a.section ? [a.section as Section] : ['webgpu', 'cpu'];
  if (sections.some((s) => s !== 'webgpu' && s !== 'cpu')) throw new Error(`--section must be webgpu or cpu, got ${a.section}`);
  const quick = a.quick ?? false;
  const cfg: BenchConfig = { quick, sections, ...runOptions(quick), profile: a.profile, only: a.only, fusionOff: a['fusion-off'], attentionVariants: a['attention-variants'], sleepAll: a['sleep-all'],
    segments: a.segments === undefined || a.segments === 'compare' ? undefined : a.segments === 'on', segmentsCompare: a.segments === 'compare', webtensorOnly: a['webtensor-only'], arenasCompare: a['arenas-compare'] };
  if (a.segments !== undefined && !['on', 'off', 'compare'].includes(a.segments)) throw new Error(`--segments must be on, off or compare, got ${a.segments}`);
  if (cfg.sleepAll && !a.node) throw new Error('--sleep-all applies to Node (Dawn polls with setImmediate there); add --node');
  if (!a.native && process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const root = repoRoot();
  const t0 = performance.now();
  console.log(`webtensor bench${quick ? ' --quick' : ''} in ${a.node ? 'Node (Dawn)' : 'headless Chromium'}: sections ${sections.join(', ')}`);
  const result = a.node ? await inNode(root, cfg) : await inChromium(root, cfg, a.native ?? false);
  const seconds = (performance.now() - t0) / 1000;

  console.log(`\nadapter: ${adapterLabel(result.adapter)} · ${result.environment}\n`);
  console.log(resultsTable(result.rows));
  for (const s of summary(result.rows)) console.log(s);
  const tt = trainingTable(result.rows);
  if (tt) console.log(`\n${TRAINING_NOTE}\n\n${tt}`);
  const n = notes(result);
  if (n.length) console.log(`\nnotes:\n${n.map((x) => `- ${x}`).join('\n')}`);
  for (const r of result.rows.filter((x) => x.profile)) console.log(`\ntop kernels · webtensor (${r.backend}) · ${r.workload}\n${r.profile}`);
  console.log(`\ntotal ${seconds.toFixed(0)} s`);

  // the command as a reader would rerun it: without where this run's files went
  const argv = process.argv.slice(2).filter((x, i, all) => !['--json', '--results', '--no-write'].includes(x) && !['--json', '--results'].includes(all[i - 1]));
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  if (a.json) {
    writeJson(a.json, { date: today(), command, seconds, quick, ...result, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' });
    console.log(`wrote ${a.json}`);
  }
  if (!a['no-write']) {
    const where = a.node ? 'Node + Dawn' : 'headless Chromium';
    const heading = `Benchmarks — ${today()} — ${adapterLabel(result.adapter)} — ${where}${quick ? ' (quick)' : ''}`;
    const body = resultsSection(result, { date: today(), command, where: result.environment, cpu: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}`, seconds });
    const path = a.results ?? join(root, 'bench', 'RESULTS.md');
    console.log(`${upsertSection(path, heading, body)} "## ${heading}" in ${path}`);
  }
}

main().then(
  // Dawn keeps the process alive while devices exist
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
