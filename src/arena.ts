/**
 * Arenas: one device buffer holding several tensors' storages side by side, each in a *slot*
 * (Backend.slice: a buffer of its own to the front end, a range of the arena to the device), so
 * that one elementwise kernel over the whole arena updates them all — an optimizer step over every
 * parameter in one dispatch instead of one per parameter (PyTorch's fused/foreach optimizers and
 * apex's flat buffers do the same). The optimizer (src/optim/optimizer.ts) keeps a parameter arena
 * (the parameters moved in at construction), a gradient arena of the same layout (autograd gives a
 * leaf's pending gradient its slot to be computed into; a computed one is copied in at the step)
 * and one arena per state tensor.
 *
 * Lifetime: an arena's buffer is freed when its optimizer is closed and no storage owns a slot of
 * it any more (a parameter outlives its optimizer in its slot). A slot is owned by at most one
 * live storage: a slot still held (an old gradient someone kept) is never handed to another, the
 * caller falls back to its per-tensor path.
 */
import type { Backend, BackendBuffer, View } from './backend/backend.js';
import { Tensor } from './tensor.js';
import { Storage, storageOf } from './storage.js';
import { contiguousStrides } from './shape.js';
import { allocBuffer, freeBuffer, isHeld, registerSlot } from './record.js';

/** Where each tensor of an arena starts (elements, aligned) and the arena's length. */
export interface Layout {
  readonly offsets: readonly number[];
  readonly numels: readonly number[];
  readonly total: number;
}

/**
 * Offsets of `numels` laid out one after another, each starting at a multiple of `align`, and at
 * least a whole 4-element word after the one before (a WebGPU slot is bound in 16-byte words).
 */
export function layoutOf(numels: readonly number[], align: number): Layout {
  const offsets: number[] = [];
  let at = 0;
  for (const n of numels) {
    at = Math.ceil(at / align) * align;
    offsets.push(at);
    at += Math.max(4, Math.ceil(n / 4) * 4);
  }
  // whole 16-byte words at the end too (WebGPU binds each slot so)
  return { offsets, numels: [...numels], total: Math.max(4, Math.ceil(at / 4) * 4) };
}

/** The arena each slot belongs to. */
const arenaOf = new WeakMap<BackendBuffer, Arena>();

/** One arena: a buffer of `layout.total` float32 elements and a slot per tensor. */
export class Arena {
  readonly buf: BackendBuffer;
  readonly slots: BackendBuffer[];
  /** storages owning a slot, plus one while the optimizer that made it is open */
  private refs = 1;
  open = true;

  constructor(readonly backend: Backend, readonly layout: Layout) {
    this.buf = allocBuffer(backend, layout.total, 'float32');
    // padding between slots is read and written by the arena kernel: zeros, never NaN
    backend.write(this.buf, new Float32Array(layout.total));
    this.slots = layout.offsets.map((o, i) => {
      const s = backend.slice!(this.buf, o, layout.numels[i]);
      arenaOf.set(s, this);
      registerSlot(s, () => this.unref());
      return s;
    });
  }

  /** The whole arena as a 1-D float32 view. */
  view(): View {
    return { buf: this.buf, dtype: 'float32', shape: [this.layout.total], strides: [1], offset: 0 };
  }

  /** Closes it for its optimizer (dispose): the buffer goes once no storage owns a slot. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.unref();
  }

  private unref(): void {
    if (--this.refs === 0) freeBuffer(this.backend, this.buf);
  }

  /**
   * Puts tensor `t`'s storage into slot `i`: a pending one without a buffer computes into it
   * later; a computed one is copied in (its old buffer freed). False, changing nothing, where it
   * cannot: `t` is not exactly its whole contiguous float32 storage, the slot is owned by another
   * live storage, `t`'s storage sits in a slot of an arena still open or in a buffer a compiled
   * step's recording replays into, or (pending) its
   * recipe reads a slot of this arena (WebGPU cannot bind one buffer twice where one is written).
   */
  place(t: Tensor, i: number, adoptOnly = false): boolean {
    const slot = this.slots[i], st = t._store;
    const cur = st.rawBuffer;
    if (cur === slot) return true;
    if (!this.refs || t.dtype !== 'float32' || st.dtype !== 'float32' || st.backend !== this.backend || st.external || t.offset !== 0 || !t.isContiguous() || t.numel() !== st.numel || st.numel !== this.layout.numels[i]) return false;
    if (cur && arenaOf.get(cur)?.open) return false;
    // a compiled step's recording replays into it (a gradient it computes, an optimizer stepped
    // outside it): moving the storage would leave the replays writing where no tensor reads
    if (cur && isHeld(cur)) return false;
    const r = st.recipe;
    const free = () => {
      const owner = storageOf(slot);
      return !owner || owner === st;
    };
    if (r && !cur && free() && !r.views.some((v) => arenaOf.get(v.buf) === this) && !r.parts.some((p) => p.store.rawBuffer && arenaOf.get(p.store.rawBuffer) === this)) {
      st.adoptBuffer(slot);
    } else {
      if (adoptOnly) return false;
      // computed first: a gradient accumulated onto the old one (prev + g) frees the old one's slot then
      void st.buf;
      if (!free()) return false;
      st.moveTo(slot);
    }
    this.refs++;
    return true;
  }

  /**
   * A new tensor of `shape` whose storage is slot i, for a routine to write a gradient into (its
   * contents undefined until then); null where the slot is owned or the sizes differ.
   */
  fresh(i: number, shape: readonly number[]): Tensor | null {
    const slot = this.slots[i];
    if (!this.refs || storageOf(slot) || shape.reduce((a, b) => a * b, 1) !== this.layout.numels[i]) return null;
    this.refs++;
    return Tensor._make(new Storage(this.backend, slot, 'float32'), shape, contiguousStrides(shape), 0, 'float32');
  }

  /** Whether `t`'s storage is slot i's. */
  holds(t: Tensor, i: number): boolean {
    return t._store.rawBuffer === this.slots[i];
  }
}

/** Whether `buf` is a slot of an arena still open (its tensor is managed by an optimizer). */
export function inOpenArena(buf: BackendBuffer | null): boolean {
  return !!buf && !!arenaOf.get(buf)?.open;
}

/** Gradient slots by parameter: autograd gives a leaf's pending gradient its slot (placeGrad). */
const gradSlots = new WeakMap<Tensor, { arena: Arena; i: number }>();

/** Registers parameter `p`'s gradient slot (slot i of `arena`), or removes it (arena null). */
export function setGradSlot(p: Tensor, arena: Arena | null, i = 0): void {
  if (arena) gradSlots.set(p, { arena, i });
  else gradSlots.delete(p);
}

/** The gradient slot of `p`, if an open optimizer arena has one. */
export function gradSlotOf(p: Tensor): { arena: Arena; i: number } | undefined {
  const g = gradSlots.get(p);
  return g?.arena.open ? g : undefined;
}

/**
 * Where a gradient rule's routine should write leaf `x`'s gradient of `shape`: a new tensor over
 * its slot in the optimizer's gradient arena while `x` has no gradient yet and the slot is free,
 * else the output spec (a buffer of its own, copied into the slot at the step). A routine may
 * take one such slot among its outputs (WebGPU binds no two ranges of one buffer where one is
 * written): the rules give it the first (weight) gradient, not the bias's.
 */
export function gradOut(x: Tensor, shape: readonly number[]): Tensor | { shape: readonly number[]; dtype: 'float32' } {
  const spec = { shape, dtype: 'float32' as const };
  if (x.grad || x.isDisposed || !x.requiresGrad || !x.isLeaf) return spec;
  const s = gradSlotOf(x);
  return s?.arena.fresh(s.i, shape) ?? spec;
}

/**
 * Called by autograd when it has set leaf `x`'s .grad: a pending gradient (not computed yet)
 * gets its slot in the optimizer's gradient arena as the buffer to be computed into, so that the
 * step finds it there without a copy. A computed one is left as it is (the step copies it in).
 */
export function placeGrad(x: Tensor): void {
  const g = x.grad;
  if (!g || !g._store.recipe || g._store.rawBuffer) return;
  const s = gradSlotOf(x);
  if (s) s.arena.place(g, s.i, true);
}
