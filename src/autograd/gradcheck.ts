import type { Backend, DType } from '../kernels/backend.js';
import { CpuBackend } from '../kernels/cpu/index.js';
import { Tensor } from '../tensor/tensor.js';
import { sizeOf } from '../tensor/shape.js';
import { fromArray } from '../tensor/creation.js';
import { getBackend } from '../tensor/backend.js';
import { dispose, tidy } from '../tensor/memory.js';
import { backward } from './backward.js';
import { noGrad } from './graph.js';
import { mul, sum } from './ops.js';

export interface GradcheckOptions {
  /** default: the current backend when it is a cpu one (else a new cpu backend), in float64; a webgpu backend runs in float32 */
  backend?: Backend;
  dtype?: DType;
  /** finite-difference step; default 1e-6 in float64, 1e-2 in float32 */
  eps?: number;
  /** default 1e-6 / 1e-5 in float64; 2e-2 / 2e-2 in float32 (central differences of float32 sums) */
  atol?: number;
  rtol?: number;
  /** seed of the random projection of the outputs */
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** input number, flat element index, multi-index, analytic and numeric values of the worst element */
  worst: { input: number; index: number; indices: number[]; analytic: number; numeric: number; excess: number } | null;
  message: string;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = i % shape[d]; i = Math.floor(i / shape[d]); }
  return idx;
}

/**
 * Central finite differences against the analytic gradient of L = Σ r ⊙ fn(inputs) for a fixed random
 * projection r (so every output element counts). Inputs are given as host arrays with shapes; float64 on
 * the cpu backend by default. Returns the worst element; `assertGradcheck` throws with it.
 */
export async function gradcheck(fn: (...inputs: Tensor[]) => Tensor,
  inputs: { data: ArrayLike<number>; shape: readonly number[] }[], options: GradcheckOptions = {}): Promise<GradcheckResult> {
  // the current backend when it is the cpu one, so that constants fn closes over (made there) share it
  const current = getBackend();
  const backend = options.backend ?? (current.name === 'cpu' ? current : new CpuBackend());
  const dtype = options.dtype ?? (backend.name === 'cpu' ? 'float64' : 'float32');
  const f64 = dtype === 'float64';
  const eps = options.eps ?? (f64 ? 1e-6 : 1e-2);
  const atol = options.atol ?? (f64 ? 1e-6 : 2e-2);
  const rtol = options.rtol ?? (f64 ? 1e-5 : 2e-2);
  const values = inputs.map((x) => Float64Array.from(x.data));
  let seed = (options.seed ?? 1234) >>> 0 || 1;
  const random = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return (seed / 4294967296) * 2 - 1; };

  const tensorsOf = (vals: Float64Array[], requiresGrad: boolean) =>
    vals.map((v, i) => fromArray(v, inputs[i].shape, { dtype, backend, requiresGrad }));

  // analytic
  const leaves = tensorsOf(values, true);
  // every tensor fn makes (intermediates, constants) is freed: each call of fn runs inside a tidy scope
  const outputShape = noGrad(() => tidy(() => fn(...leaves).shape));
  const projection = fromArray(Array.from({ length: sizeOf(outputShape) }, random), outputShape, { dtype, backend });
  const loss = tidy(() => sum(mul(fn(...leaves), projection)));
  backward(loss);
  loss.dispose();
  const analytic = await Promise.all(leaves.map(async (t) => (t.grad ? Float64Array.from(await t.grad.toArray()) : new Float64Array(t.numel()))));
  dispose(leaves);

  const lossAt = async (vals: Float64Array[]): Promise<number> => {
    const ts = tensorsOf(vals, false);
    const l = noGrad(() => tidy(() => sum(mul(fn(...ts), projection))));
    const v = await l.item();
    l.dispose();
    dispose(ts);
    return v;
  };

  let worst: GradcheckResult['worst'] = null;
  for (let k = 0; k < values.length; k++) {
    for (let i = 0; i < values[k].length; i++) {
      const x0 = values[k][i];
      values[k][i] = x0 + eps;
      const plus = await lossAt(values);
      values[k][i] = x0 - eps;
      const minus = await lossAt(values);
      values[k][i] = x0;
      const numeric = (plus - minus) / (2 * eps);
      const a = analytic[k][i];
      const excess = Math.abs(a - numeric) - (atol + rtol * Math.abs(numeric));
      if (!worst || excess > worst.excess || Number.isNaN(excess)) {
        worst = { input: k, index: i, indices: unravel(i, inputs[k].shape), analytic: a, numeric, excess: Number.isNaN(excess) ? Infinity : excess };
      }
    }
  }
  projection.dispose();
  const ok = !worst || worst.excess <= 0;
  const message = worst
    ? `gradcheck ${ok ? 'passed' : 'FAILED'}: worst at input ${worst.input} element [${worst.indices.join(', ')}]: analytic ${worst.analytic}, numeric ${worst.numeric} (atol ${atol}, rtol ${rtol}, eps ${eps}, ${dtype} on ${backend.name})`
    : 'gradcheck: no input elements';
  return { ok, worst, message };
}

export async function assertGradcheck(...args: Parameters<typeof gradcheck>): Promise<void> {
  const result = await gradcheck(...args);
  if (!result.ok) throw new Error(result.message);
}

