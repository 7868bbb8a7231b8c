/**
 * The differentiable task transformer of DBiSL (shared/spec/dbisl.md §2), both directions:
 *
 * - regression → segmentation: `tR2S(R̂) = σ(−k·R̂)` (negative-inside convention), with the
 *   numerically stable sigmoid (no overflow for |k·R̂| ≫ 1, gradient σ(1 − σ) from the output), one kernel each way
 *   (`scaledSigmoid`);
 * - segmentation → regression: the convolutional distance transform (CDT)
 *   `D[p](v) = −h · logsumexp_u(ln max(p(v−u), ε) − ‖u‖/h)` over a cubic window of radius ρ, one
 *   kernel pair on the backend (`cdt` / `cdtBackward`), and the signed, normalised map
 *   `tS2R(p) = clamp(D[p], 0, ρ)/ρ − clamp(D[1 − p], 0, ρ)/ρ`: ≈ 0 on the boundary, positive
 *   outside, negative inside, in [−1, 1]; another pair (`cdtSigned` / `cdtSignedBackward`), one dispatch each way.
 *
 * Inputs are probability maps [N, 1, D, H, W] (any leading batch dimensions work; the last three are
 * the volume). Distances are in voxels before the division by ρ.
 *
 * Note on the range: every voxel also enters the log-sum-exp with weight ε (the floor of p), which acts
 * as a source at the extra cost h·ln(1/ε) voxels, so `D` saturates at about h·ln(1/(ε·S)) (S the window's kernel
 * sum). The default ε is derived from ρ and h so that this lies beyond ρ (dbisl.md §2, {@link defaultCdtEps}); a
 * fixed ε = 1e-6 with h = 0.35 saturated at ≈ 4.7 voxels, short of ρ = 8. `cdtReach` gives the bound.
 */
import type { CdtParams } from '../kernels/backend.js';
import { Tensor, type AccumulatedGrad } from '../tensor/tensor.js';
import { contiguousStrides, formatShape } from '../tensor/shape.js';
import { dense, storageOf } from '../autograd/dense.js';
import { needsGrad, record } from '../autograd/graph.js';
import { checkFloat, clamp, mulScalar } from '../autograd/ops.js';

export interface CdtOptions {
  /** half width of the cubic window in voxels (ρ; default: CDT_DEFAULTS) */
  radius?: number;
  /** temperature of the soft minimum in voxels (default: CDT_DEFAULTS) */
  h?: number;
  /** floor of p inside the logarithm (default: {@link defaultCdtEps} of ρ and h) */
  eps?: number;
}

/** DBiSL's ρ and h (dbisl.md §2): the defaults of the transform and of the loss configurations */
export const CDT_DEFAULTS: Readonly<Pick<CdtParams, 'radius' | 'h'>> = Object.freeze({ radius: 8, h: 0.35 });

/**
 * defaultCdtEps per ρ, then h: its (2ρ + 1)³ exponentials took 0.2 ms of each DBiSL step's host time (two T_s2r calls);
 * keyed by the numbers, not a string made per call
 */
const defaultEpsByWindow = new Map<number, Map<number, number>>();

/**
 * The default floor ε = e^(−ρ/h)/S, S = Σ_u e^(−‖u‖/h) over the cubic window of radius ρ (dbisl.md §2): the floor's
 * cost h·ln(1/ε) − h·ln S then equals ρ, so the floor never caps a distance inside the window (≈ 7e-11 for ρ = 8,
 * h = 0.35).
 */
export function defaultCdtEps(radius: number, h: number): number {
  let byH = defaultEpsByWindow.get(radius);
  if (!byH) {
    if (defaultEpsByWindow.size >= 64) defaultEpsByWindow.clear();
    defaultEpsByWindow.set(radius, byH = new Map());
  }
  let eps = byH.get(h);
  if (eps === undefined) {
    let kernelSum = 0;
    for (let i = -radius; i <= radius; i++) {
      for (let j = -radius; j <= radius; j++) {
        for (let k = -radius; k <= radius; k++) kernelSum += Math.exp(-Math.sqrt(i * i + j * j + k * k) / h);
      }
    }
    eps = Math.exp(-radius / h) / kernelSum;
    if (byH.size >= 64) byH.clear();
    byH.set(h, eps);
  }
  return eps;
}

export function cdtParams(options: CdtOptions = {}): CdtParams {
  const radius = options.radius ?? CDT_DEFAULTS.radius;
  const h = options.h ?? CDT_DEFAULTS.h;
  if (!(Number.isInteger(radius) && radius >= 1)) throw new Error(`cdt: radius must be an integer ≥ 1, got ${radius}`);
  if (!(h > 0 && Number.isFinite(h))) throw new Error(`cdt: h must be a positive number, got ${h}`);
  const eps = options.eps ?? defaultCdtEps(radius, h);
  if (!(eps > 0 && eps < 1)) throw new Error(`cdt: eps must be in (0, 1), got ${eps}`);
  return { radius, h, eps };
}

/** The largest distance (voxels) the CDT can express: min(ρ, h·ln(1/ε)) — beyond it the ε floor dominates. */
export function cdtReach(options: CdtOptions = {}): number {
  const p = cdtParams(options);
  return Math.min(p.radius, -p.h * Math.log(p.eps));
}

/**
 * σ(a_i·x_i) for each (x_i, a_i) of `inputs`, one kernel forward for all (the outputs are views of one storage, one after
 * another) and one each backward (the `dualtask` family): Ŷ = σ(z) and T_r2s(R̂) = σ(−k·R̂) together. The floats of
 * sigmoid(mulScalar(x, a)) (of sigmoid(x) when a = 1) and of that composition's gradient, g·(y·(1 − y)) then ·a.
 */
export function scaledSigmoids(inputs: readonly (readonly [Tensor, number])[]): Tensor[] {
  for (const [x] of inputs) {
    checkFloat('scaledSigmoid', x);
    if (x.backend !== inputs[0][0].backend || x.dtype !== inputs[0][0].dtype) throw new Error('scaledSigmoid: the inputs must share one backend and dtype');
  }
  const backend = inputs[0][0].backend;
  const reads = inputs.map(([x]) => (x.isContiguous ? x : dense(x)));
  const storage = backend.scaledSigmoid(reads.map((r, i) => ({ x: r.storage, offset: r.offset, n: r.numel(), a: inputs[i][1] })));
  const all = Tensor.fromStorage(backend, storage, [storage.length]);
  let at = 0;
  const outs = inputs.map(([x, a]) => {
    const y = all.viewAs(x.shape, contiguousStrides(x.shape), at);
    at += x.numel();
    // x's other gradients (DBiSL: the loss's own w.r.t. z and R̂) are added by the backward kernel: no add of its own
    record('scaledSigmoid', y, [x], (g, [ys]): [AccumulatedGrad] => [{
      accumulate: (sum) => Tensor.fromStorage(g.backend, g.backend.scaledSigmoidBackward(ys.storage, ys.offset, storageOf(g), ys.numel(), a, sum?.storage), ys.shape),
    }], [y]);
    return y;
  });
  all.dispose();
  reads.forEach((r, i) => { if (r !== inputs[i][0]) r.dispose(); });
  return outs;
}

/** σ(a·x) (scaledSigmoids of one input) */
export function scaledSigmoid(x: Tensor, a = 1): Tensor {
  return scaledSigmoids([[x, a]])[0];
}

/** Regression → segmentation: σ(−k·R̂), k = 1500 by default; stable for any k·R̂. */
export function tR2S(r: Tensor, k = 1500): Tensor {
  checkFloat('tR2S', r);
  return scaledSigmoid(r, -k);
}

function checkVolume(op: string, p: Tensor): void {
  checkFloat(op, p);
  if (p.rank < 3) throw new Error(`${op}: expected a [N, 1, D, H, W] probability map, got ${formatShape(p.shape)}`);
}

/**
 * The convolutional distance transform D[p] in voxels (unclamped): a soft minimum of the distances to
 * the probability-weighted source voxels, differentiable in p through the backend's `cdtBackward`
 * (the softmax weights of the log-sum-exp). Windows are cut at the volume's faces.
 */
export function cdtDistance(p: Tensor, options: CdtOptions = {}): Tensor {
  checkVolume('cdtDistance', p);
  const params = cdtParams(options);
  const pc = dense(p);
  const out = Tensor.fromStorage(p.backend, p.backend.cdt(pc.storage, p.shape, params), p.shape);
  record('cdtDistance', out, [p], (g, [ps, outs]) => {
    const gc = dense(g);
    const gp = Tensor.fromStorage(g.backend, g.backend.cdtBackward(ps.storage, outs.storage, gc.storage, p.shape, params), p.shape);
    gc.dispose();
    return [gp];
  }, [pc, out]);
  pc.dispose();
  return out;
}

/** clamp(D[p], 0, ρ)/ρ: the normalised one-sided distance to the (soft) object p */
export function normalizedDistance(p: Tensor, options: CdtOptions = {}): Tensor {
  const params = cdtParams(options);
  return mulScalar(clamp(cdtDistance(p, params), 0, params.radius), 1 / params.radius);
}

/** p when its elements are its storage's first (the cdt kernels read from 0: Ŷ, the first of scaledSigmoids' views), else dense(p) */
function readFromStart(p: Tensor): Tensor {
  return p.isContiguous && p.offset === 0 ? p.viewAs(p.shape, p.strides, 0) : dense(p);
}

/**
 * Segmentation → regression: T_s2r(p) = clamp(D[p], 0, ρ)/ρ − clamp(D[1 − p], 0, ρ)/ρ, negative inside,
 * positive outside, ≈ 0 on the boundary. The clamp passes no gradient outside [0, ρ] (its mask is 1 on the closed
 * interval [0, ρ] and for NaN, as `clamp`'s). Computed as (clamp(D[p], 0, ρ) − clamp(D[1 − p], 0, ρ))·(1/ρ): one
 * scaling instead of two (the same floats when 1/ρ is a power of two, as for the default ρ = 8). One kernel each
 * way (`cdtSigned`, keeping D[p] and D[1 − p] for backward, and `cdtSignedBackward`), giving the floats of that
 * composition of `cdtDistance`, `affine`, `clamp`, `sub` and `mulScalar`.
 */
export function tS2R(p: Tensor, options: CdtOptions = {}): Tensor {
  checkVolume('tS2R', p);
  const params = cdtParams(options);
  const pc = readFromStart(p);
  const { signed, distances } = p.backend.cdtSigned(pc.storage, p.shape, params, needsGrad([p]));
  const out = Tensor.fromStorage(p.backend, signed, p.shape);
  if (distances) {
    const d = Tensor.fromStorage(p.backend, distances, [2, ...p.shape]);
    // p's other gradients (DBiSL: the loss's own w.r.t. Ŷ) are added by the backward kernel: no add of its own
    record('tS2R', out, [p], (g, [ps, ds]): [AccumulatedGrad] => [{
      accumulate: (sum) => {
        const gc = dense(g);
        const gp = Tensor.fromStorage(g.backend, g.backend.cdtSignedBackward(ps.storage, ds.storage, gc.storage, p.shape, params, sum?.storage), p.shape);
        gc.dispose();
        return gp;
      },
    }], [pc, d]);
    d.dispose();
  }
  pc.dispose();
  return out;
}
