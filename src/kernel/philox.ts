/**
 * Philox4x32-10, the counter-based RNG (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
 * The same integer arithmetic runs on the CPU here and in WGSL (src/kernel/wgsl.ts), so a seed
 * gives bit-identical uniform numbers on both backends.
 */
const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32. */
export function mulhi32(a: number, b: number): number {
  const aH = a >>> 16, aL = a & 0xffff, bH = b >>> 16, bL = b & 0xffff;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox4x32-10 block: counter (c0..c3), key (k0, k1) → four u32 words, written to out. */
export function philox(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi32(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/** A u32 word to a float in [0, 1) with 24 random bits: exact in float32 on both backends. */
export function wordToUniform(w: number): number {
  return (w >>> 8) * 5.9604644775390625e-8;
}

/** Splits a user seed (any safe integer) into the two 32-bit key words. */
export function seedToKey(seed: number): [number, number] {
  const s = Math.trunc(seed);
  return [s >>> 0, Math.floor(s / 4294967296) >>> 0];
}
