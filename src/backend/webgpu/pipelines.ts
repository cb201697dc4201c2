/**
 * Compute pipelines cached by key, with bind group layouts shared by every pipeline of the same
 * binding shape: binding 0 a uniform block, then `nRead` read-only storage buffers, then
 * `nWrite` read-write ones (the contract of launch.ts, also used by expression kernels).
 *
 * Pipelines are created with the synchronous createComputePipeline so that dispatches are
 * encoded in call order with no queue of waiting work (Chrome compiles off-thread anyway). WGSL
 * errors are reported asynchronously by WebGPU: the creation runs in a validation error scope,
 * and on failure the compiler's messages (getCompilationInfo) and the numbered source become a
 * ShaderCompileError, stored on the entry (a later dispatch of the same key throws it at once)
 * and handed to `onError` (the next read or flush throws it).
 */
import { ShaderCompileError } from '../../errors.js';

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
const CACHE_LIMIT = 1024;

export interface PipelineEntry {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  error: ShaderCompileError | null;
}

/** A ShaderCompileError with the compiler's messages and the source attached. */
export interface ShaderCompileDetails {
  messages: { type: string; line: number; column: number; message: string }[];
  source: string;
}

/** Formats compiler messages as `line:col type: message` lines, then the numbered source. */
export function compileError(key: string, source: string, messages: ShaderCompileDetails['messages'], fallback: string): ShaderCompileError {
  const lines = source.split('\n');
  const width = String(lines.length).length;
  const numbered = lines.map((l, i) => `${String(i + 1).padStart(width)} | ${l}`).join('\n');
  const list = messages.length ? messages.map((m) => `  ${m.line}:${m.column} ${m.type}: ${m.message}`).join('\n') : `  ${fallback}`;
  const shortKey = key.length > 120 ? key.slice(0, 117) + '...' : key;
  const err = new ShaderCompileError(`webgpu: WGSL compile error in kernel ${shortKey}\n${list}\n--- source ---\n${numbered}`);
  return Object.assign(err, { messages, source } satisfies ShaderCompileDetails);
}

export class PipelineCache {
  private layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private entries = new Map<string, PipelineEntry>();
  /** compile checks still running (reads wait for them so errors surface deterministically) */
  readonly inFlight = new Set<Promise<void>>();
  /** pipelines created since the start, the WGSL they compiled and the wall time of creating them */
  readonly compiled = { count: 0, sourceBytes: 0, ms: 0 };

  constructor(private readonly device: GPUDevice, private readonly onError: (e: Error) => void) {}

  /** The shared bind group layout for `nRead` read-only and `nWrite` writable storage buffers. */
  layout(nRead: number, nWrite: number): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${nRead},${nWrite}`;
    let l = this.layouts.get(key);
    if (!l) {
      // the uniforms' offset in the ring is dynamic, so one bind group serves every slot (Dispatcher.bindGroup)
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } }];
      for (let i = 0; i < nRead + nWrite; i++) entries.push({ binding: i + 1, visibility: COMPUTE, buffer: { type: i < nRead ? 'read-only-storage' : 'storage' } });
      const group = this.device.createBindGroupLayout({ entries, label: `wt bgl ${key}` });
      l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, l);
    }
    return l;
  }

  /**
   * The pipeline for `key`, compiling `code()` on a miss. Throws the stored ShaderCompileError
   * when this key failed before.
   */
  get(key: string, code: () => string, nRead: number, nWrite: number): PipelineEntry {
    const hit = this.entries.get(key);
    if (hit) {
      if (hit.error) throw hit.error;
      // refresh its place in the LRU order
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const t0 = performance.now();
    const source = code();
    const { group, pipeline: layout } = this.layout(nRead, nWrite);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: source, label: key.slice(0, 64) });
    const pipeline = this.device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' }, label: key.slice(0, 64) });
    // Dawn compiles in createComputePipeline (browsers may finish off-thread: a lower bound there)
    this.compiled.count++;
    this.compiled.sourceBytes += source.length;
    this.compiled.ms += performance.now() - t0;
    const entry: PipelineEntry = { pipeline, layout: group, error: null };
    const check = this.device.popErrorScope().then(async (err) => {
      if (!err) return;
      let messages: ShaderCompileDetails['messages'] = [];
      try {
        const info = await module.getCompilationInfo();
        messages = info.messages.map((m) => ({ type: m.type, line: m.lineNum, column: m.linePos, message: m.message }));
      } catch {
        // no compilation info: the scope's message below says what failed
      }
      entry.error = compileError(key, source, messages, err.message);
      this.onError(entry.error);
    }, () => {});
    const tracked = check.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    if (this.entries.size >= CACHE_LIMIT) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, entry);
    return entry;
  }

  /** Waits for every compile check started so far. */
  async settle(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  /** Keys of the cached pipelines, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  clear(): void {
    this.entries.clear();
  }
}
