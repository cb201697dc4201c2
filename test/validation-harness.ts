/**
 * The harness of the table-driven bad-input tests (validation*.test.ts): each case calls the
 * public API with one bad argument and must throw (or reject with) a WebtensorError subclass
 * whose message names the op — never a raw TypeError, a NaN result, a hang, or a WGSL error
 * surfacing later. After each case the backend must still answer a read, so an error the device
 * reports asynchronously is caught and pinned to the case that caused it.
 */
import { expect, it } from 'vitest';
import * as wt from '../src/index.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/** [what, call, expected class (default: any WebtensorError), message pattern (default: none)] */
export type Case = [string, () => unknown, ErrorClass?, RegExp?];

const HANG_MS = 15_000;

/** Calls fn (awaiting a returned promise, with a time limit) and returns what it threw. */
export async function thrown(fn: () => unknown): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    let r = fn();
    if (r instanceof Promise) {
      r = await Promise.race([r, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`hang: no answer in ${HANG_MS} ms`)), HANG_MS); })]);
    }
    // on WebGPU some checks report at the next read (out-of-range indices): read the result
    if (r instanceof wt.Tensor) {
      try {
        await r.data();
      } finally {
        r.dispose();
      }
    }
    return null;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

/** Registers one vitest case per row. */
export function table(cases: readonly Case[]): void {
  it.each(cases.map((c) => [c[0], c] as const))('%s', async (_name, [, fn, cls, pattern]) => {
    const e = await thrown(fn);
    expect(e, 'expected an error, got none').not.toBeNull();
    expect(e, `expected a WebtensorError, got ${String(e)}`).toBeInstanceOf(wt.WebtensorError);
    if (cls) expect(e, `expected ${cls.name}, got ${String(e)}`).toBeInstanceOf(cls);
    const msg = (e as Error).message;
    expect(msg.length).toBeGreaterThan(10);
    expect(msg).not.toMatch(/undefined is not|cannot read propert|is not a function|is not iterable/i);
    if (pattern) expect(msg).toMatch(pattern);
    // nothing the device reports later: the backend still answers a read
    const probe = wt.zeros([1]);
    expect(Array.from(await probe.data())).toEqual([0]);
    probe.dispose();
  });
}
