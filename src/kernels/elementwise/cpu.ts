import type { BinaryOp, DType, UnaryOp, View } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, forEachIndex, gatherView } from '../cpu/storage.js';
import { checkInto } from './checks.js';

export function unaryFn(op: UnaryOp, params: readonly number[]): (x: number) => number {
  const [a = 0, b = 0] = params;
  switch (op) {
    case 'neg': return (x) => -x;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'square': return (x) => x * x;
    case 'reciprocal': return (x) => 1 / x;
    // NaN propagates (PyTorch's relu, clamp and threshold_backward): only x ≤ 0 becomes 0
    case 'relu': return (x) => (x <= 0 ? 0 : x);
    case 'sigmoid': return (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
    case 'tanh': return Math.tanh;
    case 'softplus': return (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    case 'erf': return erf;
    case 'powScalar': return (x) => Math.pow(x, a);
    case 'clamp': return (x) => Math.min(Math.max(x, a), b);
    case 'leakyRelu': return (x) => (x > 0 ? x : a * x);
    case 'affine': return (x) => a * x + b;
    case 'step': return (x) => (x > a ? 1 : 0);
    case 'inRange': return (x) => (x >= a && x <= b ? 1 : 0);
    case 'roundToFloat16': return roundToFloat16;
    case 'round': return roundHalfToEven;
    case 'floor': return Math.floor;
    case 'ceil': return Math.ceil;
    case 'trunc': return Math.trunc;
  }
}

/** torch.round: the nearest integer, a half to the even one (JavaScript's Math.round takes a half up); −0 stays −0 */
function roundHalfToEven(x: number): number {
  const up = Math.round(x);
  return up - x === 0.5 && up % 2 !== 0 ? up - 1 : up;
}

const f64Bits = new Float64Array(1);
const f64Words = new Uint32Array(f64Bits.buffer);
/** the word of a float64 holding its sign and exponent (platforms are little-endian: the second) */
const HIGH_WORD = 1;
/** the ulps of float16, 2^k at [k + 24] for k in [−24, 5] (halvings: exact) */
const FLOAT16_ULPS = Array.from({ length: 30 }, (_, i) => { let u = 32; for (let k = 29; k > i; k--) u /= 2; return u; });
/** 2^52: adding and subtracting it rounds a float64 in [0, 2^52) to an integer, ties to even */
const ROUND_TO_INTEGER = 2 ** 52;

/**
 * x (a float32 or float64 value) rounded to the nearest float16 value, ties to even: the exponent read from x's
 * float64 bits gives the f16 ulp (2^(e − 10), at least 2^−24: the subnormals), x/ulp is rounded to an integer
 * (exact: below 2^11) and scaled back. |x| ≥ 65520 (the midpoint between 65504, the largest f16, and 2^16) gives
 * ±Inf; NaN stays NaN and −0 stays −0. The result is exact in float32.
 */
export function roundToFloat16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  f64Bits[0] = x;
  const high = f64Words[HIGH_WORD]!;
  const sign = high >>> 31 ? -1 : 1;
  // the unbiased exponent; a float64 zero or subnormal reads −1023 and so takes the subnormal ulp
  const exponent = ((high >>> 20) & 0x7ff) - 1023;
  if (exponent >= 16) return sign * Infinity;
  const ulp = FLOAT16_ULPS[Math.max(exponent, -14) - 10 + 24]!;
  const units = (Math.abs(x) / ulp + ROUND_TO_INTEGER) - ROUND_TO_INTEGER;
  const rounded = units * ulp;
  return sign * (rounded > 65504 ? Infinity : rounded);
}

/**
 * erf within about 6 float64 ulps (1.2e−15 relative against mpmath on [−6.25, 6.25]: far below float32's rounding)
 * from the series erf(x) = 2/√π · e^(−x²) · Σₙ (2x²)ⁿ x / (1·3·…·(2n + 1)), whose terms are all positive (no
 * cancellation); |erf(x)| rounds to 1 in float64 beyond |x| = 6.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  let term = a, sum = a;
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum);
}

export function binaryFn(op: BinaryOp): (x: number, y: number) => number {
  switch (op) {
    case 'add': return (x, y) => x + y;
    case 'sub': return (x, y) => x - y;
    case 'mul': return (x, y) => x * y;
    case 'div': return (x, y) => x / y;
    case 'max': return (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y));
    case 'min': return (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y));
    case 'pow': return Math.pow;
    case 'eq': return (x, y) => (x === y ? 1 : 0);
    case 'ne': return (x, y) => (x !== y ? 1 : 0);
    case 'lt': return (x, y) => (x < y ? 1 : 0);
    case 'le': return (x, y) => (x <= y ? 1 : 0);
    case 'gt': return (x, y) => (x > y ? 1 : 0);
    case 'ge': return (x, y) => (x >= y ? 1 : 0);
    case 'reluBackward': return (x, y) => (y <= 0 ? 0 : x);
  }
}

export function unary(op: UnaryOp, x: View, params: readonly number[] = []): CpuStorage {
  const f = unaryFn(op, params);
  const src = gatherView(x);
  const out = typedArrayFor(x.storage.dtype, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f(src[i]);
  return new CpuStorage(x.storage.dtype, out);
}

export function binary(op: BinaryOp, a: View, b: View): CpuStorage {
  const f = binaryFn(op);
  const av = gatherView(a), bv = gatherView(b);
  const out = typedArrayFor(a.storage.dtype, av.length);
  for (let i = 0; i < av.length; i++) out[i] = f(av[i], bv[i]);
  return new CpuStorage(a.storage.dtype, out);
}

export function where(cond: View, a: View, b: View): CpuStorage {
  const c = gatherView(cond), av = gatherView(a), bv = gatherView(b);
  const out = typedArrayFor(a.storage.dtype, av.length);
  for (let i = 0; i < av.length; i++) out[i] = c[i] !== 0 ? av[i] : bv[i];
  return new CpuStorage(a.storage.dtype, out);
}

export function copy(x: View): CpuStorage {
  return new CpuStorage(x.storage.dtype, gatherView(x));
}

export function copyInto(dst: View, src: View): void {
  checkInto('copyInto', dst, src);
  const values = gatherView(src);
  const out = cpuData(dst.storage);
  forEachIndex(dst, (i, at) => { out[at] = values[i]; });
}

export function addInto(dst: View, src: View): void {
  checkInto('addInto', dst, src);
  const values = gatherView(src);
  const out = cpuData(dst.storage);
  forEachIndex(dst, (i, at) => { out[at] = out[at] + values[i]; });
}

export function cast(x: View, dtype: DType): CpuStorage {
  const src = gatherView(x);
  const out = typedArrayFor(dtype, src.length);
  if (dtype === 'int32') for (let i = 0; i < src.length; i++) out[i] = Math.trunc(src[i]);
  else out.set(src);
  return new CpuStorage(dtype, out);
}
