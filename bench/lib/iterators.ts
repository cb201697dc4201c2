/** Shared by the Node benchmarks (bench/run.ts, bench/gpu.ts). */
/**
 * jax-js calls iterator helpers (`matchAll(…).map`), which V8 has from Node 22: on older Nodes,
 * the few it may use are added to %IteratorPrototype% (generators, so they stay lazy).
 */
export function polyfillIteratorHelpers(): void {
  const proto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;
  if (typeof proto.map === 'function') return;
  type It = Iterator<unknown> & Iterable<unknown>;
  const helpers: Record<string, (this: It, ...a: never[]) => unknown> = {
    *map(f: (v: unknown, i: number) => unknown) { let i = 0; for (const v of this) yield f(v, i++); },
    *filter(f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (f(v, i++)) yield v; },
    *flatMap(f: (v: unknown, i: number) => Iterable<unknown>) { let i = 0; for (const v of this) yield* f(v, i++); },
    *take(n: number) { if (n <= 0) return; let i = 0; for (const v of this) { yield v; if (++i >= n) return; } },
    *drop(n: number) { let i = 0; for (const v of this) if (i++ >= n) yield v; },
    toArray() { return [...this]; },
    forEach(f: (v: unknown, i: number) => void) { let i = 0; for (const v of this) f(v, i++); },
    some(f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (f(v, i++)) return true; return false; },
    every(f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (!f(v, i++)) return false; return true; },
    find(f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (f(v, i++)) return v; return undefined; },
    reduce(f: (a: unknown, v: unknown, i: number) => unknown, ...init: unknown[]) {
      let i = 0, acc = init.length ? init[0] : undefined, first = !init.length;
      for (const v of this) { if (first) { acc = v; first = false; } else acc = f(acc, v, i); i++; }
      return acc;
    },
  };
  for (const [k, f] of Object.entries(helpers)) Object.defineProperty(proto, k, { value: f, configurable: true, writable: true });
}
