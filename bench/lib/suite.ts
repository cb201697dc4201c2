/**
 * Which libraries each section of the benchmark compares, and the configuration and result
 * types shared by the page (bench/page.ts), the Node run and the CLI (bench/run.ts).
 *
 * - webgpu: webtensor's WebGPU backend, TF.js's WebGPU backend and jax-js on WebGPU (each opens
 *   its own device on the same adapter);
 * - cpu: webtensor's CPU backend, TF.js's CPU backend (plain JavaScript) and its wasm backend,
 *   and jax-js's wasm backend.
 */
import type { Lib, Row } from './runner.js';
import { jaxLib } from './jax.js';
import { tfjsLib } from './tfjs.js';
import { webtensorLib } from './webtensor.js';

export type Section = 'webgpu' | 'cpu';

export interface BenchConfig {
  quick: boolean;
  sections: Section[];
  warmup: number;
  reps: number;
  budgetMs: number;
  /** see MeasureOptions: time-based warm-up and sampling for cheap cases */
  warmupMs?: number;
  minTimeMs?: number;
  /** workloads whose name contains this get webtensor's kernel profile */
  profile?: string;
  /** run only workloads whose name contains this */
  only?: string;
  /**
   * Node only: every library's runs wait for the GPU as webtensor's reads do on a software adapter
   * (Dawn's polls through a timer after a quarter millisecond, src/backend/webgpu/wait.ts), so the
   * peers get the same treatment
   */
  sleepAll?: boolean;
  /** WebGPU: multi-segment optimizer kernels forced on or off (default: the backend's choice) */
  segments?: boolean;
  /**
   * WebGPU: "webtensor" with multi-segment optimizer kernels off, and peers with them on
   * ("webtensor (segments)", compiled and eager): packing's effect, measured in one page
   */
  segmentsCompare?: boolean;
  /** webtensor and its variants only (no TF.js, no jax-js): quicker before/after runs */
  webtensorOnly?: boolean;
  /** "webtensor (no arenas)" peers: optimizers with one update kernel per parameter */
  arenasCompare?: boolean;
  /** also run webtensor with fusion off ("webtensor (fusion off)"), for before/after figures */
  fusionOff?: boolean;
  /** also run webtensor with the fused attention kernels forced on and forced off */
  attentionVariants?: boolean;
}

export interface BenchResult {
  rows: Row[];
  libErrors: string[];
  /** the WebGPU adapter webtensor ran on (null without the webgpu section) */
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  /** the browser's user agent, or Node's version */
  environment: string;
}

/** Run counts: `--quick` keeps SwiftShader runs under three minutes. */
export function runOptions(quick: boolean): Pick<BenchConfig, 'warmup' | 'reps' | 'budgetMs' | 'warmupMs' | 'minTimeMs'> {
  return quick ? { warmup: 1, reps: 3, budgetMs: 1500, warmupMs: 300, minTimeMs: 300 } : { warmup: 2, reps: 7, budgetMs: 10_000, warmupMs: 1000, minTimeMs: 1000 };
}

/** The libraries of a section; webtensor first (the ratios are webtensor ÷ each peer). */
export function sectionLibs(section: Section, opts: { wasmPath?: string; fusionOff?: boolean; segments?: boolean; segmentsCompare?: boolean; webtensorOnly?: boolean; attentionVariants?: boolean; arenasCompare?: boolean } = {}): Lib[] {
  const segments = opts.segmentsCompare && section === 'webgpu' ? false : opts.segments;
  // with the fusion-off peer, "webtensor" runs with fusion forced on (the default is on for WebGPU only)
  const main = webtensorLib(section, { fusion: opts.fusionOff ? true : 'auto', segments });
  const off = opts.fusionOff ? [webtensorLib(section, { fusion: false, segments })] : [];
  // training steps run compiled (wt.compile); the eager peer shows what capture adds
  const eager = webtensorLib(section, { compiled: false, trainingOnly: true, label: 'webtensor (eager)', segments });
  const packed = opts.segmentsCompare && section === 'webgpu'
    ? [webtensorLib(section, { segments: true, trainingOnly: true, label: 'webtensor (segments)' }), webtensorLib(section, { segments: true, compiled: false, trainingOnly: true, label: 'webtensor (eager, segments)' })]
    : [];
  const attention = opts.attentionVariants ? attentionVariants(section) : [];
  // the optimizers' parameter arenas (one update kernel per group) off: one kernel per parameter
  const noArenas = opts.arenasCompare
    ? [webtensorLib(section, { arenas: false, segments, label: 'webtensor (no arenas)' }), webtensorLib(section, { arenas: false, segments, compiled: false, trainingOnly: true, label: 'webtensor (eager, no arenas)' })]
    : [];
  const ours = [main, eager, ...noArenas, ...packed, ...off, ...attention];
  if (opts.webtensorOnly) return ours;
  return section === 'webgpu'
    ? [...ours, tfjsLib('webgpu'), jaxLib()]
    : [...ours, tfjsLib('cpu'), tfjsLib('wasm', opts), jaxLib('wasm')];
}

/** webtensor with the fused attention kernels forced on, and forced off (attention workloads only). */
export function attentionVariants(backend: Section): Lib[] {
  return [
    webtensorLib(backend, { fusedAttention: true, label: 'webtensor (fused attention)' }),
    webtensorLib(backend, { fusedAttention: false, label: 'webtensor (composed attention)' }),
  ];
}
