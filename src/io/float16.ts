/**
 * IEEE half precision (F16) and bfloat16 (BF16) conversions for model files: webtensor computes
 * in float32, so half-precision tensors are widened on load and narrowed on save.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The F16 bit pattern nearest to v (round to nearest, ties to even); overflow gives ±Infinity,
 * NaN stays NaN.
 *
 * @example f32ToF16(1) === 0x3c00; f32ToF16(65504) === 0x7bff; f32ToF16(1e6) === 0x7c00
 */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half: the value is m * 2^-24 with m = (1.mant) * 2^(e + 10) (an integer below 2^10)
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m; // a carry into bit 10 is exactly the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // a carry out of the mantissa bumps the exponent, which is the right rounding (up to Infinity)
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The float value of an F16 bit pattern. @example f16ToF32(0x3c00) === 1 */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The float value of a BF16 bit pattern (the top half of a float32). @example bf16ToF32(0x3f80) === 1 */
export function bf16ToF32(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}
