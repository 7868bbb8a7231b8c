import type { Backend, DType, TypedArray } from '../kernels/backend.js';
import { typedArrayFor } from '../kernels/backend.js';
import { uniformAt } from '../kernels/random.js';
import { getBackend } from './backend.js';
import { nextSeed } from './seed.js';
import { formatShape, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
  requiresGrad?: boolean;
}

function checkShape(shape: readonly number[], op: string): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${op}: invalid shape ${formatShape(shape)}`);
}

function finish(t: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export function fromArray(data: ArrayLike<number>, shape: readonly number[] = [data.length], options: CreateOptions = {}): Tensor {
  checkShape(shape, 'fromArray');
  if (sizeOf(shape) !== data.length) {
    throw new Error(`fromArray: ${data.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`);
  }
  const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : data instanceof Float64Array ? 'float64' : 'float32');
  const backend = options.backend ?? getBackend();
  const typed = typedArrayFor(dtype, data.length);
  typed.set(data as ArrayLike<number>);
  return finish(Tensor.fromStorage(backend, backend.upload(typed, dtype), shape), options);
}

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  checkShape(shape, 'full');
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? 'float32';
  return finish(Tensor.fromStorage(backend, backend.fill(sizeOf(shape), value, dtype), shape), options);
}

export const zeros = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 1, options);
export const scalar = (value: number, options: CreateOptions = {}): Tensor => full([], value, options);

/** start, start + step, … below end (PyTorch's arange). */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) { end = start; start = 0; }
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return fromArray(values, [n], { dtype: 'float32', ...options });
}

/** Host-side seeded values, so that the same seed gives identical tensors on every backend. */
function seeded(shape: readonly number[], draw: (i: number) => number, options: CreateOptions): Tensor {
  checkShape(shape, 'rand');
  const n = sizeOf(shape);
  const values: TypedArray = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = draw(i);
  return fromArray(values, shape, { dtype: 'float32', ...options });
}

/** A random creation's options: CreateOptions and the seed (torch.Generator's role); without one, the global generator's next. */
export interface RandomOptions extends CreateOptions {
  seed?: number;
}

/** The seed and options of a random creation, given as `(seed, options)` or `({ seed, ...options })`. */
function seedAndOptions(seedOrOptions: number | RandomOptions | undefined, options: CreateOptions): [number, CreateOptions] {
  if (typeof seedOrOptions === 'number') return [seedOrOptions, options];
  const { seed, ...rest }: RandomOptions = seedOrOptions ?? options;
  return [seed ?? nextSeed(), rest];
}

/** Uniform in [0, 1), reproducible per seed; without one, from the global generator (torch.rand). */
export function rand(shape: readonly number[], seed?: number | RandomOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => uniformAt(s, i), o);
}

/** Standard normal (Box–Muller over pairs of uniforms), reproducible per seed; without one, from the global generator (torch.randn). */
export function randn(shape: readonly number[], seed?: number | RandomOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => normalAt(s, i), o);
}

/** The standard normal of `randn` at element i for a seed (Box–Muller over the uniforms 2i and 2i + 1). */
export function normalAt(seed: number, i: number): number {
  const u1 = uniformAt(seed, 2 * i) + 2 ** -25, u2 = uniformAt(seed, 2 * i + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Integers uniform in [low, high) (torch.randint(low, high, size), or randint(high, size) from 0), reproducible per
 * seed. int32 unless `dtype` says otherwise (PyTorch's default is int64, which voxgrad has not). Each draw has 24
 * random bits: a range wider than 2^24 is not covered evenly.
 */
export function randint(high: number, shape: readonly number[], options?: RandomOptions): Tensor;
export function randint(low: number, high: number, shape: readonly number[], options?: RandomOptions): Tensor;
export function randint(first: number, second: number | readonly number[], third?: readonly number[] | RandomOptions,
  fourth: RandomOptions = {}): Tensor {
  if (typeof second !== 'number') return randomIntegers(0, first, second, third !== undefined && !('length' in third) ? third : {});
  if (third === undefined || !('length' in third)) throw new Error('randint(low, high, shape): the shape is missing');
  return randomIntegers(first, second, third, fourth);
}

function randomIntegers(low: number, high: number, shape: readonly number[], options: RandomOptions): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new Error(`randint: needs integers low < high, got low ${low}, high ${high}`);
  }
  const [s, o] = seedAndOptions(options, {});
  return seeded(shape, (i) => low + Math.floor((high - low) * uniformAt(s, i)), { dtype: 'int32', ...o });
}

/** Uniform in [lo, hi), reproducible per seed (PyTorch's init.uniform_ with our generator); without one, from the global generator. */
export function uniform(shape: readonly number[], lo: number, hi: number, seed?: number | RandomOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => lo + (hi - lo) * uniformAt(s, i), o);
}
