/**
 * Running the suite: every library on every workload, one case at a time, into result rows.
 * No Node or DOM APIs, so the same runner drives the benchmark page in Chromium and the
 * `--node` run on Dawn.
 *
 * A kernel case: one untimed run whose whole output is checked against the float64 reference
 * (it also compiles the shaders), then warm-up and timed runs of op + sync + dispose. A training
 * case: one untimed step whose loss is read (compiles), the timed steps, then one more step whose
 * loss must be finite and lower than the first (the same batch every step, so SGD must fit it).
 */
import { measure, measureInterleaved, type Timing } from './timing.js';
import { attentionRefOffset, type Unit, type Workload } from './workloads.js';
import { gbps, gflops } from './napkin.js';

/** One library on one workload, ready to run. */
export interface Case {
  /** one timed run: the op (or a training step), a sync that waits for it, freeing the result */
  run(): Promise<void>;
  /** kernels: the op's whole output in webtensor's layout; training: [loss] after one more step */
  probe(): Promise<Float32Array>;
  /** live tensors the library reports (undefined: no counter), to catch a run that leaks */
  live(): number | undefined;
  /** how the library ran it, when that is worth a note (e.g. "eager: jit failed") */
  note?(): string | undefined;
  /**
   * training: kernel dispatches per step and the pipelines (kernels) the first step compiled, with
   * their compile time (webtensor only); called once after the timed runs
   */
  stats?(): Promise<{ dispatches?: number; pipelines?: number; compileMs?: number; recordMs?: number }>;
  /**
   * after the first run, before the warm-up: brings the case to its steady state (a compiled
   * step: its two recording calls, so that every timed run replays)
   */
  settle?(): Promise<void>;
  /** the top kernels of one run (webtensor on WebGPU only: wt.profile) */
  profile?(): Promise<string>;
  done(): void;
}

/** A library on one backend, e.g. TF.js on 'wasm'. */
export interface Lib {
  library: string;
  backend: string;
  /**
   * libraries with the same key (webtensor's variants: compiled, eager, packed...) run their
   * training steps interleaved, one timed step of each in turn (runInterleaved): their ratios
   * then do not depend on which ran while the machine was slower
   */
  interleave?: string;
  /** throws when the library cannot start on this backend (called once) */
  init(): Promise<void>;
  /** makes this backend the library's current one (TF.js and webtensor have one global backend) */
  activate?(): Promise<void>;
  /** throws (or the case throws) when the library lacks the workload's op */
  setup(w: Workload): Case;
}

export interface Row {
  /** 'webgpu' or 'cpu': the libraries compared with each other */
  section: string;
  workload: string;
  group: Workload['group'];
  library: string;
  backend: string;
  status: 'ok' | 'n/a' | 'error';
  unit: Unit;
  work: number;
  timing?: Timing;
  /** GFLOP/s, GB/s, steps/s or ops/s at the median */
  rate?: number;
  /** kernels: max |y - ref| / max |ref|; training: undefined */
  relErr?: number;
  /** training: the loss before and after the timed steps */
  loss?: [number, number];
  /** the check passed (kernels: relErr ≤ 1e-3; training: the loss fell) */
  ok?: boolean;
  leaked?: number;
  error?: string;
  /** the case's note (see Case.note) */
  note?: string;
  /** top kernels of the workload (`--profile`) */
  profile?: string;
  /** training (webtensor): kernel dispatches per step */
  dispatches?: number;
  /** training (webtensor): pipelines compiled by the first step, and the milliseconds that took */
  pipelines?: number;
  compileMs?: number;
  /** training (webtensor, compiled): the two recording steps after the first, together */
  recordMs?: number;
}

export interface RunOptions {
  warmup: number;
  reps: number;
  budgetMs: number;
  warmupMs?: number;
  minTimeMs?: number;
  /** workloads whose name contains this get a kernel profile (webtensor on WebGPU) */
  profile?: string;
  /** progress lines */
  log?: (line: string) => void;
  /** process CPU milliseconds so far (Node only): rows then carry the CPU time per run (Timing.cpuMedian) */
  cpuClock?: () => number;
  /** wraps every run of every library (e.g. bench --sleep-all: each run inside a sleeping wait) */
  wrapRun?: (run: () => Promise<void>) => Promise<void>;
}

const REL_TOL = 1e-3;

function relError(y: Float32Array, ref: Float64Array, offset: number): number {
  if (y.length < offset + ref.length) return Infinity;
  let err = 0, mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(y[offset + i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  return Number.isNaN(err) ? NaN : err / Math.max(mag, 1e-30);
}

function describeError(e: unknown): Pick<Row, 'status' | 'error'> {
  const msg = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
  return { status: /not (implemented|supported|registered)|n\/a:/i.test(msg) ? 'n/a' : 'error', error: msg.split('\n')[0].slice(0, 300) };
}

/** Runs one library on one workload. Never throws: failures become the row's status. */
export async function runCase(section: string, lib: Lib, w: Workload, opts: RunOptions): Promise<Row> {
  const row: Row = { section, workload: w.name, group: w.group, library: lib.library, backend: lib.backend, status: 'ok', unit: w.unit, work: w.work };
  let c: Case | undefined;
  try {
    c = lib.setup(w);
    const t0 = performance.now();
    const first = await c.probe();
    const firstMs = performance.now() - t0;
    if (w.group === 'kernel') {
      const offset = w.spec.kind === 'attention' ? attentionRefOffset(w.spec) : 0;
      row.relErr = relError(first, w.reference!, offset);
      row.ok = row.relErr <= REL_TOL;
    }
    await c.settle?.();
    const live0 = c.live();
    const run = opts.wrapRun ? () => opts.wrapRun!(c!.run) : c.run;
    row.timing = { ...(await measure(run, { warmup: opts.warmup - 1, reps: opts.reps, budgetMs: opts.budgetMs, warmupMs: opts.warmupMs, minTimeMs: opts.minTimeMs, cpuClock: opts.cpuClock })), firstMs };
    const live1 = c.live();
    if (live0 !== undefined && live1 !== undefined && live1 !== live0) row.leaked = live1 - live0;
    if (w.group === 'training') {
      if (c.stats) Object.assign(row, await c.stats());
      const after = (await c.probe())[0];
      row.loss = [first[0], after];
      row.ok = Number.isFinite(after) && after < first[0];
      row.rate = 1000 / row.timing.median;
    } else {
      row.rate = w.unit === 'GFLOP/s' ? gflops(w.work, row.timing.median) : w.unit === 'ops/s' ? (1000 * w.work) / row.timing.median : gbps(w.work, row.timing.median);
    }
    row.note = c.note?.();
    if (opts.profile && w.name.includes(opts.profile) && c.profile) row.profile = await c.profile();
  } catch (e) {
    Object.assign(row, describeError(e));
  } finally {
    try {
      c?.done();
    } catch {
      // a failed case may have left its inputs half made; nothing to report
    }
  }
  return row;
}

/**
 * Training steps of several libraries on one workload with their timed runs interleaved
 * (measureInterleaved); otherwise as runCase: an untimed first step, the case's settle, warm-up,
 * timed steps, the stats, and one more step whose loss must have fallen. Never throws.
 */
export async function runInterleaved(section: string, libs: readonly Lib[], w: Workload, opts: RunOptions): Promise<Row[]> {
  const all = libs.map((lib) => ({ lib, row: { section, workload: w.name, group: w.group, library: lib.library, backend: lib.backend, status: 'ok', unit: w.unit, work: w.work } as Row, c: undefined as Case | undefined, first: 0, firstMs: 0, live0: undefined as number | undefined }));
  const fail = (s: (typeof all)[number], e: unknown) => {
    Object.assign(s.row, describeError(e));
    try {
      s.c?.done();
    } catch {
      // a failed case may have left its inputs half made
    }
    s.c = undefined;
  };
  for (const s of all) {
    try {
      await s.lib.activate?.();
      s.c = s.lib.setup(w);
      const t0 = performance.now();
      s.first = (await s.c.probe())[0];
      s.firstMs = performance.now() - t0;
      await s.c.settle?.();
    } catch (e) {
      fail(s, e);
    }
  }
  const live = all.filter((s) => s.c);
  // live tensors are counted over the whole process: every case counts before any runs and after
  // all (a leak in one shows on each row of the group)
  for (const s of live) s.live0 = s.c!.live();
  let timings: Timing[] = [];
  try {
    timings = await measureInterleaved(live.map((s) => ({ run: opts.wrapRun ? () => opts.wrapRun!(s.c!.run) : s.c!.run, before: () => s.lib.activate?.() })),
      { warmup: opts.warmup - 1, reps: opts.reps, budgetMs: opts.budgetMs, warmupMs: opts.warmupMs, minTimeMs: opts.minTimeMs, cpuClock: opts.cpuClock });
  } catch (e) {
    live.forEach((s) => fail(s, e));
  }
  for (const s of live) {
    const live1 = s.c?.live();
    if (s.live0 !== undefined && live1 !== undefined && live1 !== s.live0) s.row.leaked = live1 - s.live0;
  }
  for (const [i, s] of live.entries()) {
    if (!s.c) continue;
    try {
      await s.lib.activate?.();
      const c = s.c, row = s.row;
      row.timing = { ...timings[i], firstMs: s.firstMs };
      if (c.stats) Object.assign(row, await c.stats());
      const after = (await c.probe())[0];
      row.loss = [s.first, after];
      row.ok = Number.isFinite(after) && after < s.first;
      row.rate = 1000 / row.timing.median;
      row.note = c.note?.();
      if (opts.profile && w.name.includes(opts.profile) && c.profile) row.profile = await c.profile();
      c.done();
    } catch (e) {
      fail(s, e);
    }
  }
  return all.map((s) => s.row);
}

/** One line of progress for a finished row. */
export function progressLine(r: Row): string {
  const what = r.status === 'ok' ? `${r.timing!.median.toFixed(1)} ms, ${r.rate!.toPrecision(3)} ${r.unit}${r.ok === false ? ' (CHECK FAILED)' : ''}` : `${r.status}: ${r.error}`;
  return `  ${r.workload.padEnd(34)} ${`${r.library} (${r.backend})`.padEnd(20)} ${what}`;
}

/**
 * Runs `libs` (one section: libraries compared with each other) over `workloads`. A library that
 * fails to start gets an error row for every workload, so the results always have every library
 * for every workload.
 */
export async function runSection(section: string, libs: readonly Lib[], workloads: readonly Workload[], opts: RunOptions): Promise<{ rows: Row[]; libErrors: string[] }> {
  const log = opts.log ?? (() => {});
  const ready = new Set<Lib>();
  const libErrors: string[] = [];
  for (const lib of libs) {
    try {
      await lib.init();
      ready.add(lib);
    } catch (e) {
      libErrors.push(`${lib.library} (${lib.backend}) did not start: ${e instanceof Error ? e.message : String(e)}`);
      log(`  ${libErrors.at(-1)}`);
    }
  }
  const rows: Row[] = [];
  // workload-major order: one workload on every library, then the next (the libraries share the
  // machine; interleaving spreads any slow phase of it over all of them)
  for (const w of workloads) {
    const done = new Map<Lib, Row>();
    for (const lib of libs) {
      let row = done.get(lib);
      if (row) {
        // run with its interleave group; reported above
      } else if (!ready.has(lib)) {
        row = { section, workload: w.name, group: w.group, library: lib.library, backend: lib.backend, status: 'error', unit: w.unit, work: w.work, error: 'library did not start' };
        log(progressLine(row));
      } else if (w.group === 'training' && lib.interleave !== undefined) {
        const group = libs.filter((l) => l.interleave === lib.interleave && ready.has(l));
        const rs = await runInterleaved(section, group, w, opts);
        group.forEach((l, i) => done.set(l, rs[i]));
        rs.forEach((r) => log(progressLine(r)));
        row = done.get(lib)!;
      } else {
        await lib.activate?.();
        row = await runCase(section, lib, w, opts);
        log(progressLine(row));
      }
      rows.push(row);
    }
  }
  return { rows, libErrors };
}
