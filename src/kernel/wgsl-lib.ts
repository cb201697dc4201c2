/**
 * WGSL helper functions used by generated expression kernels (src/kernel/wgsl.ts).
 *
 * Each helper reproduces the CPU interpreter's semantics (src/backend/cpu/expr.ts) where the
 * WGSL builtin does not: drivers are free to fold NaN comparisons (`x != x` is false on
 * SwiftShader), `log` of 0 or a negative number is implementation-defined (SwiftShader returns
 * -88 and log|x|), `exp(NaN)` may be +inf, `tanh` loses all relative accuracy near 0 and
 * overflows to NaN for large |x|, and float→int conversion saturates where JavaScript wraps.
 * Only the helpers a kernel names are emitted (see `helpersFor`).
 */

import { ERF_CUT, ERF_P, ERF_Q, hornerSource } from './math.js';

interface Helper {
  code: string;
  deps: string[];
}

const HELPERS: Record<string, Helper> = {
  // NaN by bits: a compiler may assume `x != x` is false
  wt_isnan: { deps: [], code: 'fn wt_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }' },
  wt_isinf: { deps: [], code: 'fn wt_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }' },
  // special floats from bits through a function call: a constant wt_f32(0x7f800000u) is a
  // const-expression, and WGSL rejects infinities and NaNs in those
  wt_f32: { deps: [], code: 'fn wt_f32(bits: u32) -> f32 { return bitcast<f32>(bits); }' },
  wt_nan: { deps: ['wt_f32'], code: 'fn wt_nan() -> f32 { return wt_f32(0x7fc00000u); }' },
  // both operands are numbers: ordered comparisons are then safe to evaluate
  wt_ord: { deps: ['wt_isnan'], code: 'fn wt_ord(a: f32, b: f32) -> bool { return !(wt_isnan(a) || wt_isnan(b)); }' },
  // x with its last bit cleared: a value no compiler can relate to the expression that made it,
  // so that rounding tricks keep their meaning (SwiftShader folds (2 + f) - 2 to f, and a
  // compiler may factor x - k c1 - k c2 into x - k (c1 + c2)); products of short constants that
  // it is applied to are exact, so their values do not change
  wt_hi: { deps: [], code: 'fn wt_hi(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0xfffffffeu); }' },
  // 2^k for k in [-126, 127], from its bits
  wt_exp2i: { deps: [], code: 'fn wt_exp2i(k: i32) -> f32 { return bitcast<f32>(u32(k + 127) << 23u); }' },
  // y · 2^k for k in [-252, 254] in two exact steps (the second may round into a subnormal)
  wt_scale: { deps: ['wt_exp2i'], code: 'fn wt_scale(y: f32, k: i32) -> f32 { let h = k / 2; return y * wt_exp2i(h) * wt_exp2i(k - h); }' },
  // e^r for |r| <= ln2/2 (Cephes expf's polynomial, about 1 ulp)
  wt_expk: {
    deps: [],
    code: `fn wt_expk(r: f32) -> f32 {
  let p = ((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r + 4.1665795894e-2) * r + 1.6666665459e-1) * r + 5.0000001201e-1;
  return p * (r * r) + r + 1.0;
}`,
  },
  // e^x = 2^k e^r with k = round(x / ln2) and r = x - k ln2 (Cody-Waite: k times a short ln2 is
  // exact): within 2 ulp; the builtin's error grows with |x| (WGSL allows 3 + 2|x| ulp; SwiftShader
  // was 58 ulp off at x = -77), and SwiftShader turns exp(NaN) into +inf
  wt_exp: {
    deps: ['wt_isnan', 'wt_f32', 'wt_hi', 'wt_expk', 'wt_scale'],
    code: `fn wt_exp(x: f32) -> f32 {
  // branch-free (lanes of a subgroup take the same path): clamped into the range that scales
  // without overflow, then the special values selected
  let c = clamp(x, -104.0, 89.0);
  let k = floor(c * 1.4426950408889634 + 0.5);
  let r = (c - wt_hi(k * 0.693359375)) - k * -2.12194440e-4;
  let e = wt_scale(wt_expk(r), i32(k));
  return select(select(e, wt_f32(0x7f800000u), x > 88.72284), x, wt_isnan(x));
}`,
  },
  // the builtin exp with NaN passed through (SwiftShader turns exp(NaN) into +inf): for routines
  // whose exps feed sums (softmax's), where wt_exp's exactness cost 70% of softmax's time on
  // SwiftShader; WGSL allows the builtin 3 + 2|x| ulp
  wt_fastexp: { deps: ['wt_isnan'], code: 'fn wt_fastexp(x: f32) -> f32 { return select(exp(x), x, wt_isnan(x)); }' },
  // k ln2 + log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (fdlibm's logf kernel, musl's
  // coefficients: within 1 ulp)
  wt_logk: {
    deps: [],
    code: `fn wt_logk(f: f32, k: f32) -> f32 {
  let s = f / (2.0 + f);
  let z = s * s;
  let w = z * z;
  let r = z * (0.66666662693 + w * 0.28498786688) + w * (0.40000972152 + w * 0.24279078841);
  let hfsq = 0.5 * f * f;
  return s * (hfsq + r) + k * 9.0580006145e-06 - hfsq + f + k * 0.69313812256;
}`,
  },
  // x = 2^k m with m in [sqrt(1/2), sqrt(2)) from the bits, then the kernel on f = m - 1 (exact):
  // the builtin log is only accurate to 2^-21 absolute near 1 (log(1 - 2^-20) was 4% off)
  wt_log: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_f32', 'wt_logk'],
    code: `fn wt_log(x: f32) -> f32 {
  if (wt_isnan(x) || x < 0.0) { return wt_nan(); }
  if (x == 0.0) { return wt_f32(0xff800000u); }
  if (wt_isinf(x)) { return x; }
  var u = bitcast<u32>(x);
  var k = 0.0;
  // a subnormal: scaled by 2^25 first
  if (u < 0x00800000u) { u = bitcast<u32>(x * 33554432.0); k = -25.0; }
  u = u + (0x3f800000u - 0x3f3504f3u);
  k = k + f32(i32(u >> 23u) - 127);
  return wt_logk(bitcast<f32>((u & 0x007fffffu) + 0x3f3504f3u) - 1.0, k);
}`,
  },
  wt_sqrt: { deps: ['wt_isnan', 'wt_nan'], code: 'fn wt_sqrt(x: f32) -> f32 { return select(sqrt(x), wt_nan(), wt_isnan(x) || x < 0.0); }' },
  // sin and cos to about 1 ulp for |x| < 8192: Cody-Waite reduction by pi/2 (the pieces of pi/2
  // have few significant bits, so q * piece is exact; wt_hi keeps a compiler from factoring the
  // pieces back into one), then Cephes' polynomials on [-pi/4, pi/4].
  // WGSL only promises 2^-11 absolute error for the builtins (SwiftShader is off by 4e-5)
  wt_sincos: {
    deps: ['wt_hi'],
    code: `fn wt_sincos(x: f32) -> vec2<f32> {
  if (abs(x) > 8192.0) { return vec2<f32>(sin(x), cos(x)); }
  let q = round(x * 0.63661977236758134);
  let r = ((x - wt_hi(q * 1.5703125)) - q * 4.837512969970703125e-4) - q * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(q) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}`,
  },
  wt_sin: { deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_sincos'], code: 'fn wt_sin(x: f32) -> f32 { return select(wt_sincos(x).x, wt_nan(), wt_isnan(x) || wt_isinf(x)); }' },
  wt_cos: { deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_sincos'], code: 'fn wt_cos(x: f32) -> f32 { return select(wt_sincos(x).y, wt_nan(), wt_isnan(x) || wt_isinf(x)); }' },
  // 0 for NaN, as torch
  wt_sign: { deps: ['wt_isnan'], code: 'fn wt_sign(x: f32) -> f32 { return select(sign(x), 0.0, wt_isnan(x)); }' },
  // the rational fit of src/kernel/math.ts (|error| < 4e-7 evaluated in f32)
  wt_erf: {
    deps: ['wt_isnan'],
    code: `fn wt_erf(x: f32) -> f32 {
  if (wt_isnan(x)) { return x; }
  if (abs(x) >= ${ERF_CUT}) { return sign(x); }
  let s = x * x;
  let p = ${hornerSource(ERF_P, 's')};
  let q = ${hornerSource(ERF_Q, 's')};
  return x * p / q;
}`,
  },
  // log1p: the log kernel on x itself where 1 + x is in [sqrt(1/2), sqrt(2)); elsewhere log(u) of
  // u = 1 + x plus the rounding of that sum relative to u (fdlibm's correction): within 2 ulp
  wt_log1p: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_f32', 'wt_hi', 'wt_logk', 'wt_log'],
    code: `fn wt_log1p(x: f32) -> f32 {
  if (x > -0.29289323 && x < 0.41421357) { return wt_logk(x, 0.0); }
  if (wt_isnan(x) || x < -1.0) { return wt_nan(); }
  if (x == -1.0) { return wt_f32(0xff800000u); }
  if (wt_isinf(x)) { return x; }
  let u = wt_hi(1.0 + x);
  var c = 0.0;
  if (u < 16777216.0) { c = select(x - (u - 1.0), 1.0 - (u - x), u >= 2.0) / u; }
  return wt_log(u) + c;
}`,
  },
  // expm1: Taylor series to x^9 for |x| < 0.5 (truncation < 3e-10 relative), else exp(x) - 1
  wt_expm1: {
    deps: ['wt_exp'],
    code: `fn wt_expm1(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889 +
      x * (0.0001984127 + x * (0.0000248016 + x * 0.0000027557319))))))));
  }
  return wt_exp(x) - 1.0;
}`,
  },
  // tanh = e / (e + 2) with e = expm1(2|x|): accurate near 0, exactly ±1 beyond |x| = 15
  wt_tanh: {
    deps: ['wt_isnan', 'wt_expm1'],
    code: `fn wt_tanh(x: f32) -> f32 {
  if (wt_isnan(x) || x == 0.0) { return x; }
  let e = wt_expm1(2.0 * min(abs(x), 15.0));
  let t = e / (e + 2.0);
  return select(t, -t, x < 0.0);
}`,
  },
  // a·b exactly, as hi + lo (Dekker's product; the halves are cut by bit masks, which no compiler
  // contraction into fused multiply-adds can change, and hi through wt_hi: (a·b)/b stays opaque)
  wt_split: { deps: [], code: 'fn wt_split(a: f32) -> vec2<f32> { let h = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u); return vec2<f32>(h, a - h); }' },
  wt_mul2: {
    deps: ['wt_hi', 'wt_split'],
    code: `fn wt_mul2(a: f32, b: f32) -> vec2<f32> {
  let p = wt_hi(a * b);
  let x = wt_split(a);
  let y = wt_split(b);
  return vec2<f32>(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}`,
  },
  // log2(m) for m in (0, inf) finite, as hi + lo good to about 2^-30 relative: m = 2^e (1 + f),
  // log(1 + f) = 2 atanh(s) with s = f / (2 + f) carried as hi + lo, the odd series' tail in f32
  // (each sum whose rounding error is kept has its hi part through wt_hi)
  wt_log2x: {
    deps: ['wt_hi', 'wt_mul2'],
    code: `fn wt_log2x(m: f32) -> vec2<f32> {
  var u = bitcast<u32>(m);
  var e = 0.0;
  if (u < 0x00800000u) { u = bitcast<u32>(m * 33554432.0); e = -25.0; }
  u = u + (0x3f800000u - 0x3f3504f3u);
  e = e + f32(i32(u >> 23u) - 127);
  let f = bitcast<f32>((u & 0x007fffffu) + 0x3f3504f3u) - 1.0;
  let dh = wt_hi(2.0 + f);
  let dl = f - (dh - 2.0);
  let sh = f / dh;
  let p = wt_mul2(sh, dh);
  let sl = (((f - p.x) - p.y) - sh * dl) / dh;
  let z = sh * sh;
  let tail = sh * z * (0.6666666666666666 + z * (0.4 + z * (0.2857142857142857 + z * (0.2222222222222222 + z * (0.18181818181818182 + z * 0.15384615384615385)))));
  let lo = 2.0 * sl + tail;
  let lh = wt_hi(2.0 * sh + lo);
  let ll = (2.0 * sh - lh) + lo;
  // times 1/ln2 = 1.44269502162933349609375 + 1.925963033500e-8
  let q = wt_mul2(lh, 1.44269502162933349609375);
  let qh = q.x;
  let ql = q.y + lh * 1.925963033500e-8 + ll * 1.44269502162933349609375;
  let h = wt_hi(e + qh);
  return vec2<f32>(h, ((e - h) + qh) + ql);
}`,
  },
  // Math.pow: repeated squaring for integer exponents up to 4 (x*x exactly as a product), else
  // 2^(b log2|a|) with log2 and the product carried as hi + lo (within 2 ulp wherever the result
  // is a normal float: the plain exp2(b * log2(a)) loses |b log2 a| ulp, 7e5 of them for
  // 0.91^1000.5); an integral base to a natural power is rounded to the integer it must be.
  // C's (and torch's) special cases are spelled out: x^0 = 1 and 1^y = 1 even for NaN,
  // (-1)^±inf = 1
  wt_pow: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_f32', 'wt_mul2', 'wt_log2x', 'wt_expk', 'wt_scale'],
    code: `fn wt_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (wt_isnan(a) || wt_isnan(b)) { return wt_nan(); }
  let isInt = !wt_isinf(b) && floor(b) == b;
  if (isInt && abs(b) <= 4.0) {
    var r = a;
    if (abs(b) >= 2.0) { r = a * a; }
    if (abs(b) == 3.0) { r = r * a; }
    if (abs(b) == 4.0) { r = r * r; }
    return select(r, 1.0 / r, b < 0.0);
  }
  // a finite negative base to a finite non-integer power
  if (a < 0.0 && !wt_isinf(a) && !isInt && !wt_isinf(b)) { return wt_nan(); }
  let m = abs(a);
  var r: f32;
  if (m == 1.0) {
    r = 1.0;
  } else if (m == 0.0) {
    r = select(wt_f32(0x7f800000u), 0.0, b > 0.0);
  } else if (wt_isinf(m) || wt_isinf(b)) {
    r = select(0.0, wt_f32(0x7f800000u), (m > 1.0) == (b > 0.0));
  } else {
    let l = wt_log2x(m);
    let t = wt_mul2(b, l.x);
    let th = t.x;
    let tl = t.y + b * l.y;
    if (th > 128.5) {
      r = wt_f32(0x7f800000u);
    } else if (th < -151.0) {
      r = 0.0;
    } else {
      let n = round(th);
      r = wt_scale(wt_expk(((th - n) + tl) * 0.6931471805599453), i32(n));
      if (isInt && b > 0.0 && floor(m) == m && r < 2097152.0) { r = round(r); }
    }
  }
  // odd integer exponents keep the sign of a negative base (|b| > 4 here, so b/2 is exact)
  let odd = isInt && floor(b * 0.5) != b * 0.5;
  return select(r, -r, a < 0.0 && odd);
}`,
  },
  // tan = sin / cos from the same reduction (about 2 ulp); ±0 kept
  wt_tan: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_sincos'],
    code: `fn wt_tan(x: f32) -> f32 {
  if (wt_isnan(x) || wt_isinf(x)) { return wt_nan(); }
  if (x == 0.0) { return x; }
  let v = wt_sincos(x);
  return v.x / v.y;
}`,
  },
  // atan: Cephes atanf (reduction to |t| <= tan(pi/8) by pi/4 or pi/2, then an odd polynomial;
  // about 2 ulp). WGSL allows its builtin atan 4096 ulp. The sign comes from the bits (-0 → -0)
  wt_atan: {
    deps: ['wt_isnan'],
    code: `fn wt_atan(x: f32) -> f32 {
  if (wt_isnan(x)) { return x; }
  let a = abs(x);
  var y = 0.0;
  var t = a;
  if (a > 2.414213562373095) { y = 1.5707963267948966; t = -1.0 / a; }
  else if (a > 0.4142135623730950) { y = 0.7853981633974483; t = (a - 1.0) / (a + 1.0); }
  let z = t * t;
  let r = y + ((((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t);
  return select(r, -r, (bitcast<u32>(x) >> 31u) == 1u);
}`,
  },
  // atan2 as C's: the angle of (|x|, |y|) in [0, pi/2] from the smaller ratio, then the
  // quadrant; zeros (signed) and infinities spelled out
  wt_atan2: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_atan'],
    code: `fn wt_atan2(y: f32, x: f32) -> f32 {
  if (wt_isnan(x) || wt_isnan(y)) { return wt_nan(); }
  let sx = (bitcast<u32>(x) >> 31u) == 1u;
  let ax = abs(x);
  let ay = abs(y);
  var r: f32;
  if (wt_isinf(ax) && wt_isinf(ay)) { r = select(0.7853981633974483, 2.356194490192345, sx); }
  else if (ay == 0.0 || wt_isinf(ax)) { r = select(0.0, 3.141592653589793, sx); }
  else if (ax == 0.0 || wt_isinf(ay)) { r = 1.5707963267948966; }
  else {
    var t: f32;
    if (ay <= ax) { t = wt_atan(ay / ax); } else { t = 1.5707963267948966 - wt_atan(ax / ay); }
    r = select(t, 3.141592653589793 - t, sx);
  }
  return select(r, -r, (bitcast<u32>(y) >> 31u) == 1u);
}`,
  },
  // asin and acos through atan2 with sqrt((1 - x)(1 + x)) (1 - x is exact where it matters):
  // NaN outside [-1, 1] (the square root of a negative)
  wt_asin: { deps: ['wt_sqrt', 'wt_atan2'], code: 'fn wt_asin(x: f32) -> f32 { return wt_atan2(x, wt_sqrt((1.0 - x) * (1.0 + x))); }' },
  wt_acos: { deps: ['wt_sqrt', 'wt_atan2'], code: 'fn wt_acos(x: f32) -> f32 { return wt_atan2(wt_sqrt((1.0 - x) * (1.0 + x)), x); }' },
  // sinh and cosh as fdlibm's: from expm1 near 0 (no cancellation), from exp beyond, and past
  // |x| = 88 as (e^(|x|/2) / 2) e^(|x|/2), finite up to where the result overflows
  wt_sinh: {
    deps: ['wt_isnan', 'wt_exp', 'wt_expm1'],
    code: `fn wt_sinh(x: f32) -> f32 {
  if (wt_isnan(x) || x == 0.0) { return x; }
  let a = abs(x);
  var r: f32;
  if (a < 1.0) { let t = wt_expm1(a); r = 0.5 * (2.0 * t - t * t / (t + 1.0)); }
  else if (a < 88.0) { let e = wt_exp(a); r = 0.5 * e - 0.5 / e; }
  else { let e = wt_exp(0.5 * a); r = (0.5 * e) * e; }
  return select(r, -r, x < 0.0);
}`,
  },
  wt_cosh: {
    deps: ['wt_isnan', 'wt_exp', 'wt_expm1'],
    code: `fn wt_cosh(x: f32) -> f32 {
  if (wt_isnan(x)) { return x; }
  let a = abs(x);
  if (a < 0.34657359) { let t = wt_expm1(a); let w = 1.0 + t; return 1.0 + (t * t) / (w + w); }
  if (a < 88.0) { let e = wt_exp(a); return 0.5 * e + 0.5 / e; }
  let e = wt_exp(0.5 * a);
  return (0.5 * e) * e;
}`,
  },
  // asinh, acosh and atanh as fdlibm's: log1p forms near 0 (and near 1 for acosh), log forms
  // beyond, log(|x|) + ln2 where x² would overflow
  wt_asinh: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_log', 'wt_log1p'],
    code: `fn wt_asinh(x: f32) -> f32 {
  if (wt_isnan(x) || wt_isinf(x) || x == 0.0) { return x; }
  let a = abs(x);
  var r: f32;
  if (a > 1e18) { r = wt_log(a) + 0.6931471805599453; }
  else if (a > 2.0) { r = wt_log(2.0 * a + 1.0 / (sqrt(a * a + 1.0) + a)); }
  else { let t = a * a; r = wt_log1p(a + t / (1.0 + sqrt(1.0 + t))); }
  return select(r, -r, x < 0.0);
}`,
  },
  wt_acosh: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_log', 'wt_log1p'],
    code: `fn wt_acosh(x: f32) -> f32 {
  if (wt_isnan(x) || x < 1.0) { return wt_nan(); }
  if (wt_isinf(x)) { return x; }
  if (x > 1e18) { return wt_log(x) + 0.6931471805599453; }
  if (x > 2.0) { return wt_log(2.0 * x - 1.0 / (x + sqrt(x * x - 1.0))); }
  let t = x - 1.0;
  return wt_log1p(t + sqrt(2.0 * t + t * t));
}`,
  },
  wt_atanh: {
    deps: ['wt_isnan', 'wt_nan', 'wt_f32', 'wt_log1p'],
    code: `fn wt_atanh(x: f32) -> f32 {
  if (wt_isnan(x) || x == 0.0) { return x; }
  let a = abs(x);
  if (a > 1.0) { return wt_nan(); }
  var r: f32;
  if (a == 1.0) { r = wt_f32(0x7f800000u); }
  else if (a < 0.5) { let t = a + a; r = 0.5 * wt_log1p(t + t * a / (1.0 - a)); }
  else { r = 0.5 * wt_log1p((a + a) / (1.0 - a)); }
  return select(r, -r, x < 0.0);
}`,
  },
  // log2 and log10 from wt_log2x's hi + lo (log10 times log10(2) as hi + lo): exact at powers
  // of 2 and close to correctly rounded elsewhere (log10(1000) is 3)
  wt_log2: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_f32', 'wt_log2x'],
    code: `fn wt_log2(x: f32) -> f32 {
  if (wt_isnan(x) || x < 0.0) { return wt_nan(); }
  if (x == 0.0) { return wt_f32(0xff800000u); }
  if (wt_isinf(x)) { return x; }
  let l = wt_log2x(x);
  return l.x + l.y;
}`,
  },
  wt_log10: {
    deps: ['wt_isnan', 'wt_isinf', 'wt_nan', 'wt_f32', 'wt_log2x', 'wt_mul2'],
    code: `fn wt_log10(x: f32) -> f32 {
  if (wt_isnan(x) || x < 0.0) { return wt_nan(); }
  if (x == 0.0) { return wt_f32(0xff800000u); }
  if (wt_isinf(x)) { return x; }
  let l = wt_log2x(x);
  let p = wt_mul2(l.x, 0.3010300099849701);
  return p.x + (p.y + l.x * -1.432098889475597e-08 + l.y * 0.3010300099849701);
}`,
  },
  // C's fmod (torch.fmod): the sign of the dividend, |r| < |b|; the quotient is corrected by one
  // where the division rounded across an integer (large quotients are approximate, as wt_fmod's)
  wt_cfmod: {
    deps: ['wt_isinf', 'wt_isnan', 'wt_nan'],
    code: `fn wt_cfmod(a: f32, b: f32) -> f32 {
  if (b == 0.0 || wt_isinf(a) || wt_isnan(a) || wt_isnan(b)) { return wt_nan(); }
  if (wt_isinf(b) || a == 0.0) { return a; }
  let m = abs(b);
  let x = abs(a);
  var r = x - trunc(x / m) * m;
  if (r >= m) { r = r - m; } else if (r < 0.0) { r = r + m; }
  return select(r, -r, a < 0.0);
}`,
  },
  // int fmod: WGSL's % truncates as C's; 0 for a divisor of 0 (as the CPU)
  wt_ifmod: { deps: [], code: 'fn wt_ifmod(a: i32, b: i32) -> i32 { if (b == 0) { return 0; } return a % b; }' },
  // NaN-propagating max/min that keep the first operand on ties, as the CPU's a > b ? a : b
  wt_max: { deps: ['wt_isnan', 'wt_nan'], code: 'fn wt_max(a: f32, b: f32) -> f32 { return select(select(b, a, a > b), wt_nan(), wt_isnan(a) || wt_isnan(b)); }' },
  wt_min: { deps: ['wt_isnan', 'wt_nan'], code: 'fn wt_min(a: f32, b: f32) -> f32 { return select(select(b, a, a < b), wt_nan(), wt_isnan(a) || wt_isnan(b)); }' },
  // int32 power, wrapping; a negative exponent gives the integer part of 1/a^|b| (as the CPU's ipow)
  wt_ipow: {
    deps: [],
    code: `fn wt_ipow(a: i32, b: i32) -> i32 {
  if (b < 0) { return select(select(0, select(-1, 1, (b & 1) == 0), a == -1), 1, a == 1); }
  var e = u32(b);
  var base = a;
  var r = 1;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}`,
  },
  // floor division and floor modulo; the quotient is corrected by one when the division rounded
  // across an integer (GPU division is only accurate to 2.5 ulp, so 6/3 may be 1.9999999).
  // Infinities and 0 as torch (Python's // and %): x // 0 = x / 0, inf // y = NaN,
  // x // ±inf = 0 or -1 by the signs, x % ±inf = x or ±inf by the signs
  wt_fdiv: {
    deps: ['wt_isinf', 'wt_isnan', 'wt_nan'],
    code: `fn wt_fdiv(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return a / b; }
  if (wt_isinf(a) || wt_isnan(a) || wt_isnan(b)) { return wt_nan(); }
  if (wt_isinf(b)) { return select(0.0 * sign(b) * sign(a), -1.0, a != 0.0 && (a < 0.0) != (b < 0.0)); }
  var q = floor(a / b);
  let r = a - q * b;
  if ((b > 0.0 && r >= b) || (b < 0.0 && r <= b)) { q = q + 1.0; }
  else if ((b > 0.0 && r < 0.0) || (b < 0.0 && r > 0.0)) { q = q - 1.0; }
  return q;
}`,
  },
  wt_fmod: {
    deps: ['wt_isinf', 'wt_isnan', 'wt_nan'],
    code: `fn wt_fmod(a: f32, b: f32) -> f32 {
  if (b == 0.0 || wt_isinf(a) || wt_isnan(a) || wt_isnan(b)) { return wt_nan(); }
  if (wt_isinf(b)) { return select(a, b, a != 0.0 && (a < 0.0) != (b < 0.0)); }
  var r = a - floor(a / b) * b;
  if ((b > 0.0 && r >= b) || (b < 0.0 && r <= b)) { r = r - b; }
  else if ((b > 0.0 && r < 0.0) || (b < 0.0 && r > 0.0)) { r = r + b; }
  return r;
}`,
  },
  // integer floor division / modulo; 0 when b is 0 (as the CPU); WGSL's / and % truncate
  wt_idiv: {
    deps: [],
    code: `fn wt_idiv(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let q = a / b;
  return select(q, q - 1, q * b != a && (a < 0) != (b < 0));
}`,
  },
  wt_imod: {
    deps: [],
    code: `fn wt_imod(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let r = a % b;
  return select(r, r + b, r != 0 && (r < 0) != (b < 0));
}`,
  },
  // float → int32 as JavaScript's ToInt32 (truncate, wrap modulo 2^32, non-finite → 0);
  // WGSL's i32(f32) saturates instead
  wt_f2i: {
    deps: [],
    code: `fn wt_f2i(x: f32) -> i32 {
  let bits = bitcast<u32>(x);
  let e = (bits >> 23u) & 0xffu;
  if (e == 0xffu) { return 0; }
  if (e < 158u) { return i32(x); }
  let sh = e - 150u;
  var v = 0u;
  if (sh < 32u) { v = ((bits & 0x7fffffu) | 0x800000u) << sh; }
  return select(bitcast<i32>(v), -bitcast<i32>(v), (bits >> 31u) == 1u);
}`,
  },
  // Philox4x32-10 exactly as src/kernel/philox.ts; mulhi from 16-bit halves
  wt_mulhi: {
    deps: [],
    code: `fn wt_mulhi(a: u32, b: u32) -> u32 {
  let aH = a >> 16u; let aL = a & 0xffffu; let bH = b >> 16u; let bL = b & 0xffffu;
  let ll = aL * bL; let lh = aL * bH; let hl = aH * bL; let hh = aH * bH;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}`,
  },
  wt_philox: {
    deps: ['wt_mulhi'],
    code: `fn wt_philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = wt_mulhi(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = wt_mulhi(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}`,
  },
  // a u32 word to [0, 1) with 24 random bits (exact, as wordToUniform)
  wt_u01: { deps: [], code: 'fn wt_u01(w: u32) -> f32 { return f32(w >> 8u) * 5.9604644775390625e-8; }' },
};

/**
 * The WGSL source of every `wt_*` helper that `code` calls, with their dependencies, in an
 * order where each helper follows the ones it uses.
 */
export function helpersFor(code: string): string {
  const need = new Set<string>();
  const visit = (name: string): void => {
    if (need.has(name) || !HELPERS[name]) return;
    HELPERS[name].deps.forEach(visit);
    need.add(name);
  };
  for (const m of code.matchAll(/\bwt_[a-z0-9]+/g)) visit(m[0]);
  return [...need].map((n) => HELPERS[n].code).join('\n');
}
