/**
 * The benchmark page's script (bundled by bench/run.ts with esbuild, TF.js and jax-js included):
 * exposes `window.runBench(config)`, which runs the requested sections in this page and resolves
 * to the result rows. Progress goes to the console as `[bench] …` lines, which run.ts relays.
 */
import * as wt from '../src/index.js';
// tfjs-core alone has no gradients (the @tensorflow/tfjs umbrella registers them)
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { runSection, type Row } from './lib/runner.js';
import { workloads } from './lib/workloads.js';
import { sectionLibs, type BenchConfig, type BenchResult } from './lib/suite.js';

async function runBench(cfg: BenchConfig): Promise<BenchResult> {
  const log = (line: string) => console.log(`[bench] ${line}`);
  const all = workloads(cfg.quick).filter((w) => !cfg.only || w.name.includes(cfg.only));
  const rows: Row[] = [];
  const libErrors: string[] = [];
  let adapter: BenchResult['adapter'] = null;
  for (const section of cfg.sections) {
    log(`section ${section}: ${all.length} workloads`);
    const libs = sectionLibs(section, { wasmPath: '/tfjs-wasm/', fusionOff: cfg.fusionOff, segments: cfg.segments, segmentsCompare: cfg.segmentsCompare, webtensorOnly: cfg.webtensorOnly, attentionVariants: cfg.attentionVariants, arenasCompare: cfg.arenasCompare });
    const r = await runSection(section, libs, all, { ...cfg, log });
    rows.push(...r.rows);
    libErrors.push(...r.libErrors);
    const info = wt.backendInfo();
    if (section === 'webgpu' && info.name === 'webgpu') adapter = info.adapter;
  }
  return { rows, libErrors, adapter, environment: navigator.userAgent };
}

Object.assign(window, { runBench });
