/**
 * Runs the cases: each once on the CPU backend (the reference, under wt.profile so that the
 * routines a case claims to cover are seen dispatched), then under each WebGPU configuration it
 * lists, comparing every output with the reference.
 *
 * A crash, a timeout or an error in one case is that case's failure, not the end of the run:
 * the configuration's backend is replaced (an error WebGPU reported late must not surface in
 * the next case's read). A time budget bounds the run: cases left when it is spent are recorded
 * as skipped. After a configuration's last case its backend is checked for the pipelines of its
 * path (variants.ts) and destroyed.
 */
import * as wt from '../../src/index.js';
import type { WebGPUBackend } from '../../src/backend/webgpu/index.js';
import type { AdapterReport } from '../lib/adapter.js';
import type { Case, CaseContext, Group, Out, VariantName } from './cases.js';
import { compare, type Comparison } from './tolerance.js';
import { VARIANTS, createVariantBackend, enter, pathPipelines } from './variants.js';

/** Every case starts from this global seed (parameter initialisation, dropout streams). */
const SEED = 20261206;

export type Status = 'pass' | 'fail' | 'known' | 'fixed' | 'skipped';

export interface OutputResult {
  name: string;
  shape?: number[];
  dtype?: string;
  tol: string;
  cmp: Comparison;
}

export interface Row {
  case: string;
  group: Group;
  target: string;
  variant: VariantName;
  size: string;
  status: Status;
  outputs: OutputResult[];
  error?: string;
  known?: string;
  /** milliseconds of the WebGPU run (building inputs, running, reading back) and of the CPU reference */
  ms: number;
  refMs?: number;
}

export interface PathResult {
  variant: VariantName;
  what: string;
  runs: number;
  pipelines: string[];
  /** taken: its path's pipelines ran; missing: they did not (a failure); n/a: no path to check or nothing ran */
  status: 'taken' | 'missing' | 'n/a' | 'unavailable';
  note?: string;
}

export interface RunOptions {
  adapter: AdapterReport;
  /** plan kernels as on a GPU on a software adapter too (variants.ts) */
  hardwarePlans: boolean;
  /** performance.now() after which cases are skipped */
  deadline: number;
  caseTimeoutMs: number;
  log: (line: string) => void;
}

interface Read {
  name: string;
  shape?: number[];
  dtype?: string;
  data: ArrayLike<number>;
  tol: Out['tol'];
}

const firstLine = (e: unknown): string => (e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)).split('\n')[0].slice(0, 300);

export async function runCases(cases: readonly Case[], o: RunOptions): Promise<{ rows: Row[]; paths: PathResult[] }> {
  const cpu = new wt.CpuBackend();
  const backends = new Map<VariantName, WebGPUBackend>();
  const unavailable = new Map<VariantName, string>();
  for (const name of Object.keys(VARIANTS) as VariantName[]) {
    const why = VARIANTS[name].unavailable?.(o.adapter, o.hardwarePlans);
    if (why) unavailable.set(name, why);
  }
  const lastUse = new Map<VariantName, number>();
  cases.forEach((c, i) => c.variants.forEach((v) => lastUse.set(v, i)));
  const runs = new Map<VariantName, number>();
  const rows: Row[] = [];
  const paths: PathResult[] = [];

  const backendFor = async (v: VariantName): Promise<WebGPUBackend> => {
    let be = backends.get(v);
    if (!be) backends.set(v, (be = await createVariantBackend(v, o.adapter, o.hardwarePlans)));
    return be;
  };
  const drop = (v: VariantName): void => {
    const be = backends.get(v);
    backends.delete(v);
    try {
      be?.destroy();
    } catch {
      // a lost device has nothing left to destroy
    }
  };

  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const variants = c.variants.filter((v) => !unavailable.has(v));
    const row = (variant: VariantName, status: Status, extra: Partial<Row> = {}): Row => {
      const known = status === 'known' || status === 'fixed' ? c.known : undefined;
      const r: Row = { case: c.name, group: c.group, target: c.target, variant, size: c.size, status, outputs: [], known, ms: 0, ...extra };
      rows.push(r);
      o.log(logLine(r));
      return r;
    };
    if (performance.now() > o.deadline) {
      variants.forEach((v) => row(v, 'skipped', { error: 'time budget spent' }));
    } else {
      let ref: Read[] | null = null, refError: string | undefined;
      const r0 = performance.now();
      try {
        ref = await withTimeout(execute(c, 'cpu', 'default', cpu), o.caseTimeoutMs, 'the CPU reference');
      } catch (e) {
        refError = `reference (CPU backend): ${firstLine(e)}`;
      }
      const refMs = performance.now() - r0;
      for (const v of variants) {
        const t0 = performance.now();
        if (!ref) {
          row(v, verdict(c, v, false), { error: refError, refMs });
          continue;
        }
        let restore = (): void => {};
        let running: Promise<unknown> = Promise.resolve();
        try {
          const be = await backendFor(v);
          restore = await enter(v, be);
          const run = execute(c, 'webgpu', v, be);
          running = run;
          const got = await withTimeout(run, o.caseTimeoutMs, `${c.name} (${v})`);
          runs.set(v, (runs.get(v) ?? 0) + 1);
          const outputs = compareAll(got, ref);
          const bad = outputs.find((x) => !x.cmp.pass);
          row(v, verdict(c, v, !bad), { outputs, ms: performance.now() - t0, refMs, error: bad ? `${bad.name}: ${bad.cmp.worst}` : undefined });
        } catch (e) {
          row(v, verdict(c, v, false), { error: firstLine(e), ms: performance.now() - t0, refMs });
          // whatever the device still holds of this case must not reach the next one; a run
          // that timed out fails once its device is gone: let it finish its clean-up first
          drop(v);
          await Promise.race([running.catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
        } finally {
          restore();
        }
      }
    }
    for (const v of c.variants) {
      if (lastUse.get(v) !== i) continue;
      paths.push(pathResult(v, backends.get(v), runs.get(v) ?? 0, unavailable.get(v)));
      drop(v);
    }
  }
  wt.setBackend(cpu);
  return { rows, paths };
}

/** A result's status: known defects neither fail the run nor pass silently. */
function verdict(c: Case, v: VariantName, ok: boolean): Status {
  if (c.known && (!c.knownIn || c.knownIn.includes(v))) return ok ? 'fixed' : 'known';
  return ok ? 'pass' : 'fail';
}

/** Runs a case on `be` under `variant` and reads its outputs back. */
async function execute(c: Case, backend: 'cpu' | 'webgpu', variant: VariantName, be: wt.Backend): Promise<Read[]> {
  wt.setBackend(be);
  wt.manualSeed(SEED);
  const cleanups: (() => void)[] = [];
  const ctx: CaseContext = {
    backend, variant,
    compile: (fn) => {
      if (VARIANTS[variant].compiled === false) return fn;
      const step = wt.compile(fn);
      cleanups.push(() => step.dispose());
      return step;
    },
    cleanup: (fn) => cleanups.push(fn),
  };
  let outs: Out[] = [];
  try {
    // async cases (the examples) free their own tensors; the others run inside tidy
    const body = async (): Promise<Out[]> => (c.async ? c.run(ctx) : wt.tidy(() => c.run(ctx) as Out[]));
    if (backend === 'cpu' && c.kernels) {
      const p = await wt.profile(body);
      outs = p.result;
      const ran = new Set(p.kernels.map((k) => k.name.split(' ')[0]));
      const missing = c.kernels.filter((k) => !ran.has(k));
      if (missing.length) throw new Error(`the case never dispatched ${missing.join(', ')} (it ran ${[...ran].join(', ')})`);
    } else outs = await body();
    const read: Read[] = [];
    for (const out of outs) {
      const v = out.value;
      read.push(v instanceof wt.Tensor
        ? { name: out.name, shape: [...v.shape], dtype: v.dtype, data: await v.data(), tol: out.tol }
        : { name: out.name, data: Array.from(v), tol: out.tol });
    }
    return read;
  } finally {
    for (const out of outs) if (out.value instanceof wt.Tensor && !out.value.isDisposed) out.value.dispose();
    cleanups.forEach((f) => f());
    // examples start backends of their own: leave none behind
    if (c.async && wt.getBackend() !== be) {
      wt.getBackend().destroy();
      wt.setBackend(be);
    }
  }
}

function compareAll(got: Read[], ref: Read[]): OutputResult[] {
  if (got.length !== ref.length) throw new Error(`${got.length} outputs, the reference has ${ref.length}`);
  return ref.map((r, k) => {
    // the bound is the configuration's own (f16 tiles allow more than the reference's f32)
    const g = got[k];
    const res: OutputResult = { name: r.name, shape: r.shape, dtype: r.dtype, tol: g.tol.label, cmp: compare(g.data, r.data, g.tol) };
    const same = (a?: readonly number[], b?: readonly number[]) => (a ?? []).join() === (b ?? []).join();
    if (!same(g.shape, r.shape) || g.dtype !== r.dtype) {
      res.cmp = { ...res.cmp, pass: false, ratio: Infinity, worst: `shape ${g.shape ?? '?'} ${g.dtype ?? ''}, expected ${r.shape ?? '?'} ${r.dtype ?? ''}` };
    }
    return res;
  });
}

function pathResult(v: VariantName, be: WebGPUBackend | undefined, runs: number, unavailable: string | undefined): PathResult {
  const what = VARIANTS[v].what;
  if (unavailable) return { variant: v, what, runs: 0, pipelines: [], status: 'unavailable', note: unavailable };
  if (!VARIANTS[v].marks || !be || runs === 0) return { variant: v, what, runs, pipelines: [], status: 'n/a' };
  const pipelines = pathPipelines(v, be);
  if (pipelines.length) return { variant: v, what, runs, pipelines, status: 'taken' };
  return { variant: v, what, runs, pipelines, status: 'missing', note: `none of its ${runs} runs compiled a pipeline matching ${VARIANTS[v].marks}` };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** One line per result as it comes, so a run that is cut off still shows how far it got. */
export function logLine(r: Row): string {
  const worst = r.outputs.reduce<OutputResult | undefined>((w, x) => (!w || x.cmp.ratio > w.cmp.ratio ? x : w), undefined);
  const detail = r.error ?? (worst ? `worst ${worst.name}: ${worst.cmp.maxAbs.toExponential(1)} (${(worst.cmp.ratio * 100).toFixed(1)}% of bound)` : '');
  return `${r.status.toUpperCase().padEnd(7)} ${r.group.padEnd(11)} ${`${r.case} / ${r.variant}`.padEnd(64)} ${detail}${r.ms ? `  ${r.ms.toFixed(0)} ms` : ''}`;
}
