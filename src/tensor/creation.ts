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

/** The seed and options of a random creation: a seed given, or the global generator's next (see manualSeed). */
function seedAndOptions(seedOrOptions: number | CreateOptions | undefined, options: CreateOptions): [number, CreateOptions] {
  return typeof seedOrOptions === 'number' ? [seedOrOptions, options] : [nextSeed(), seedOrOptions ?? options];
}

/** Uniform in [0, 1), reproducible per seed; without one, from the global generator (torch.rand). */
export function rand(shape: readonly number[], seed?: number | CreateOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => uniformAt(s, i), o);
}

/** Standard normal (Box–Muller over pairs of uniforms), reproducible per seed; without one, from the global generator (torch.randn). */
export function randn(shape: readonly number[], seed?: number | CreateOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => {
    const u1 = uniformAt(s, 2 * i) + 2 ** -25, u2 = uniformAt(s, 2 * i + 1);
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }, o);
}

/** Uniform in [lo, hi), reproducible per seed (PyTorch's init.uniform_ with our generator); without one, from the global generator. */
export function uniform(shape: readonly number[], lo: number, hi: number, seed?: number | CreateOptions, options: CreateOptions = {}): Tensor {
  const [s, o] = seedAndOptions(seed, options);
  return seeded(shape, (i) => lo + (hi - lo) * uniformAt(s, i), o);
}
