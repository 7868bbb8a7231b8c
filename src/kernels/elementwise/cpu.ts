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
    case 'inRange': return (x) => (x < a || x > b ? 0 : 1);
  }
}

/**
 * erf to float64 precision from the series erf(x) = 2/√π · e^(−x²) · Σₙ (2x²)ⁿ x / (1·3·…·(2n + 1)), whose
 * terms are all positive (no cancellation); |erf(x)| rounds to 1 in float64 beyond |x| = 6.
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
