/**
 * Per-adapter tuning of the tiled GEMM's output tile (shaders/gemm.wgsl): 64x64 per workgroup
 * (4x4 per thread) or 128x128 (8x8 per thread, BIG). The bigger tile reads workgroup memory half
 * as often per multiply-add but holds 64 accumulators per thread and needs 16 KiB of workgroup
 * memory; which one is faster depends on the GPU's registers, occupancy and memory system, and
 * cannot be told from the adapter's name. So on a hardware adapter the backend times one
 * size x size x size product with each tile on the device itself (standalone.ts: its own
 * buffers and pipelines, nothing else queued) and keeps the faster, per adapter and precision:
 * for the process, and across page loads in browsers (localStorage). Software adapters run
 * every matmul on the direct core (routines/matmul.ts matmulPlan), so there is nothing to tune.
 */
import type { View } from '../backend.js';
import type { GpuContext } from './launch.js';
import { USAGE } from './pool.js';
import { matmulLaunches, type GemmHalf, type GemmTile } from './routines/matmul.js';
import { Standalone } from './standalone.js';
import { BackendError } from '../../errors.js';

/** The side of the square product each tile is timed on. */
export const TUNE_SIZE = 2048;
/** GPU time each timed submit aims at (the launch repeated as often as needed). */
const TARGET_MS = 20;
/** Timed submits per tile, alternating between the tiles; the fastest of each counts. */
const ROUNDS = 3;
/** The 128 tile must be this much faster to be taken (else the default 64: within the noise). */
const MARGIN = 0.03;
/** Bump when the GEMM shaders change enough to invalidate stored choices. */
const VERSION = 1;

export interface TileTiming {
  tile: GemmTile;
  /** ms per product (the fastest timed submit), or null when this tile could not run */
  ms: number | null;
  /** why it could not run */
  error?: string;
}

export interface GemmTuning {
  /** the tiles' precision: f32, or the half tiles of 'medium' matmul precision */
  precision: 'f32' | GemmHalf;
  /** the tile the backend takes for large products */
  tile: GemmTile;
  /** 'measured' on this device now, 'cached' from an earlier measurement of the same adapter, 'fixed' without measuring */
  source: 'measured' | 'cached' | 'fixed';
  /** the product's side */
  size: number;
  timings: TileTiming[];
  /** why the tile is fixed, or why the measurement failed */
  reason?: string;
}

/** The tile to take from timings: 128 only when it ran and beat 64 by more than the margin. */
export function pickTile(timings: readonly TileTiming[]): GemmTile {
  const ms = (t: GemmTile) => timings.find((x) => x.tile === t)?.ms ?? null;
  const small = ms(64), big = ms(128);
  return big !== null && (small === null || big < small * (1 - MARGIN)) ? 128 : 64;
}

/**
 * Times a size³ tiled matmul with each tile on `device` (precision `half`, f32 when undefined).
 * Resolves to a timing per tile; a tile whose shader or pipeline fails gets its error instead.
 */
export async function measureGemmTiles(device: GPUDevice, ctx: GpuContext, opts: { size?: number; half?: GemmHalf; tiles?: readonly GemmTile[] } = {}): Promise<TileTiming[]> {
  const S = opts.size ?? TUNE_SIZE;
  const tiles = opts.tiles ?? [64, 128];
  const view = (): View => ({ buf: { numel: S * S }, dtype: 'float32', shape: [S, S], strides: [S, 1], offset: 0 });
  const run = new Standalone(device, 'wt gemm tune');
  try {
    const data = Float32Array.from({ length: S * S }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
    const { STORAGE, COPY_DST } = USAGE;
    const [bufs, bufErr] = run.scoped(() => [run.buffer(data.byteLength, STORAGE | COPY_DST, data), run.buffer(data.byteLength, STORAGE | COPY_DST, data), run.buffer(data.byteLength, STORAGE)]);
    const e = await bufErr;
    if (e) return tiles.map((tile) => ({ tile, ms: null, error: `buffers: ${e.message}` }));
    const ready: { timing: TileTiming; go: (times: number) => Promise<number> }[] = [];
    const out: TileTiming[] = [];
    for (const tile of tiles) {
      const [l] = matmulLaunches({ bias: false }, [view(), view()], [view()], { ...ctx, gemmHalf: opts.half }, { kernel: 'tiled', tile });
      const pipeline = await run.pipeline(l.code());
      if (typeof pipeline === 'string') {
        out.push({ tile, ms: null, error: pipeline });
        continue;
      }
      const [group, groupErr] = run.scoped(() => run.bindGroup(pipeline, l, bufs));
      const ge = await groupErr;
      if (ge) {
        out.push({ tile, ms: null, error: `bind group: ${ge.message}` });
        continue;
      }
      /** ms for `times` back-to-back launches, submit to done */
      const go = async (times: number): Promise<number> => {
        const t0 = performance.now();
        const err = await run.submit(pipeline, group, l.workgroups, times);
        if (err) throw new BackendError(`tile ${tile}: ${err.message}`);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      };
      const timing: TileTiming = { tile, ms: null };
      ready.push({ timing, go });
      out.push(timing);
    }
    if (!ready.length) return out;
    // first runs (pipeline warm-up), then as many launches per submit as fill TARGET_MS
    for (const r of ready) await r.go(1);
    let once = Infinity;
    for (const r of ready) once = Math.min(once, await r.go(1));
    const times = Math.min(64, Math.max(1, Math.ceil(TARGET_MS / Math.max(once, 0.01))));
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of ready) {
        const ms = (await r.go(times)) / times;
        r.timing.ms = Math.min(r.timing.ms ?? Infinity, ms);
      }
    }
    return out;
  } catch (e) {
    return tiles.map((tile) => ({ tile, ms: null, error: (e as Error).message }));
  } finally {
    run.destroy();
  }
}

/** Choices made in this process, by {@link tuningKey}. */
const memo = new Map<string, GemmTuning>();

/** Where a browser page keeps choices across loads (null elsewhere, or when storage is refused). */
function storage(): Pick<Storage, 'getItem' | 'setItem'> | null {
  try {
    const g = globalThis as { document?: unknown; localStorage?: Storage };
    return g.document !== undefined && g.localStorage ? g.localStorage : null;
  } catch {
    return null;
  }
}

/** The cache key of a tuning: the adapter as it names itself, the precision and the size. */
export function tuningKey(adapter: { vendor: string; architecture: string; device: string; description: string }, precision: GemmTuning['precision'], size: number): string {
  return `webtensor.gemmTile.v${VERSION}|${adapter.vendor}|${adapter.architecture}|${adapter.device}|${adapter.description}|${precision}|${size}`;
}

/**
 * The GEMM tile for this adapter and precision: from an earlier measurement of the same adapter
 * (this process, or the page's localStorage), else measured now ({@link measureGemmTiles}) and
 * stored. A failed measurement keeps 64 and says why (and is not stored).
 */
export async function tuneGemmTile(device: GPUDevice, ctx: GpuContext, adapter: Parameters<typeof tuningKey>[0], opts: { half?: GemmHalf; size?: number } = {}): Promise<GemmTuning> {
  const precision = opts.half ?? 'f32';
  const size = opts.size ?? TUNE_SIZE;
  const key = tuningKey(adapter, precision, size);
  const hit = memo.get(key);
  if (hit) return { ...hit, source: 'cached' };
  const store = storage();
  try {
    const saved = JSON.parse(store?.getItem(key) ?? 'null') as { tile?: unknown; timings?: TileTiming[] } | null;
    if (saved && (saved.tile === 64 || saved.tile === 128)) {
      const t: GemmTuning = { precision, tile: saved.tile, source: 'cached', size, timings: Array.isArray(saved.timings) ? saved.timings : [] };
      memo.set(key, t);
      return t;
    }
  } catch {
    // unreadable entry: measure again
  }
  const timings = await measureGemmTiles(device, ctx, { size, half: opts.half });
  const failed = timings.every((t) => t.ms === null);
  const tuning: GemmTuning = { precision, tile: pickTile(timings), source: 'measured', size, timings };
  if (failed) return { ...tuning, reason: `no tile could be timed (${timings.map((t) => `${t.tile}: ${t.error}`).join('; ')})` };
  memo.set(key, tuning);
  try {
    store?.setItem(key, JSON.stringify({ tile: tuning.tile, timings }));
  } catch {
    // storage full or refused: the process keeps its memo
  }
  return tuning;
}

/** Forgets the choices made in this process (tests). */
export function clearTuningMemo(): void {
  memo.clear();
}
