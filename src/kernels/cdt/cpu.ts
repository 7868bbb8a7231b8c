import type { CdtParams, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from '../cpu/storage.js';
import { cdtVolume, checkAddend, checkCdtParams, checkCdtSignedParams } from './checks.js';

/**
 * The log-domain convolutional distance transform (shared/spec/dbisl.md §2), literally:
 *
 *   D(v) = −h · logsumexp_{u ∈ [−ρ, ρ]³, v−u inside} ( ln max(p(v−u), ε) − ‖u‖₂ / h )
 *
 * over every [D, H, W] volume of p (the leading dimensions, normally [N, 1], are batch). Windows are cut
 * at the volume's faces (taps outside are left out, not padded). The output is in voxels, unclamped.
 *
 * Backward, with L(v) = −D(v)/h the log-sum-exp and K(u) = exp(−‖u‖/h):
 *   ∂D(v)/∂p(q) = −h · softmax weight of q in v's window / p(q) = −h · exp(−‖v−q‖/h − L(v))   when p(q) > ε,
 * and 0 when p(q) ≤ ε: max(p, ε) has zero gradient below the floor (at p = ε exactly we take 0 too). So
 *   grad_p(q) = −h · [p(q) > ε] · Σ_{v in the window of q} gOut(v) · exp(−‖v−q‖/h − L(v)).
 *
 * Both are two-pass (max, then sum of exponentials) log-sum-exps in float64: the oracle of the WGSL pair.
 */

/** ‖u‖/h for the offsets of the cube, indexed ((oz + ρ)·(2ρ+1) + oy + ρ)·(2ρ+1) + ox + ρ. */
function distanceTable(radius: number, h: number): Float64Array {
  const n = 2 * radius + 1;
  const t = new Float64Array(n * n * n);
  for (let oz = -radius; oz <= radius; oz++) for (let oy = -radius; oy <= radius; oy++) for (let ox = -radius; ox <= radius; ox++) {
    t[((oz + radius) * n + oy + radius) * n + ox + radius] = Math.sqrt(oz * oz + oy * oy + ox * ox) / h;
  }
  return t;
}

/** Calls fn(offsetIndex, neighbourIndex) for every u of the window of (z, y, x) whose v − u (= v + o, o = −u) is inside. */
function forWindow(radius: number, D: number, H: number, W: number, z: number, y: number, x: number,
  fn: (tap: number, at: number) => void): void {
  const n = 2 * radius + 1;
  for (let oz = Math.max(-radius, -z); oz <= Math.min(radius, D - 1 - z); oz++) {
    for (let oy = Math.max(-radius, -y); oy <= Math.min(radius, H - 1 - y); oy++) {
      for (let ox = Math.max(-radius, -x); ox <= Math.min(radius, W - 1 - x); ox++) {
        fn(((oz + radius) * n + oy + radius) * n + ox + radius, ((z + oz) * H + y + oy) * W + x + ox);
      }
    }
  }
}

export function cdt(p: Storage, shape: readonly number[], params: CdtParams): CpuStorage {
  checkCdtParams(params, 'cdt');
  const { batch, D, H, W } = cdtVolume(shape, 'cdt');
  const P = cpuData(p);
  const { radius, h, eps } = params;
  const dist = distanceTable(radius, h);
  const vol = D * H * W;
  const lnp = new Float64Array(P.length);
  for (let i = 0; i < P.length; i++) lnp[i] = Math.log(Math.max(P[i], eps));
  const out = typedArrayFor(p.dtype, batch * vol);
  for (let b = 0; b < batch; b++) {
    const base = b * vol;
    for (let z = 0; z < D; z++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      let m = -Infinity;
      forWindow(radius, D, H, W, z, y, x, (tap, at) => { m = Math.max(m, lnp[base + at] - dist[tap]); });
      let s = 0;
      forWindow(radius, D, H, W, z, y, x, (tap, at) => { s += Math.exp(lnp[base + at] - dist[tap] - m); });
      out[base + (z * H + y) * W + x] = -h * (m + Math.log(s));
    }
  }
  return new CpuStorage(p.dtype, out);
}

export function cdtBackward(p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): CpuStorage {
  checkCdtParams(params, 'cdtBackward');
  const { batch, D, H, W } = cdtVolume(shape, 'cdtBackward');
  const P = cpuData(p), O = cpuData(out), G = cpuData(gOut);
  const { radius, h, eps } = params;
  const dist = distanceTable(radius, h);
  const vol = D * H * W;
  const grad = typedArrayFor(p.dtype, batch * vol);
  for (let b = 0; b < batch; b++) {
    const base = b * vol;
    for (let z = 0; z < D; z++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const q = base + (z * H + y) * W + x;
      if (!(P[q] > eps)) continue;
      let s = 0;
      // v = q + o runs over the window of q (the window is symmetric); L(v) = −out(v)/h
      forWindow(radius, D, H, W, z, y, x, (tap, at) => { s += G[base + at] * Math.exp(-dist[tap] + O[base + at] / h); });
      grad[q] = -h * s;
    }
  }
  return new CpuStorage(p.dtype, grad);
}

/*
 * The signed pair, as the composition it fuses, step by step in the dtype (each step rounds as its op would):
 *   q = 1 − p,  signed = (clamp(D[p], 0, ρ) − clamp(D[q], 0, ρ))·(1/ρ) + 0
 * (the + 0 of the composed scaling, an affine a·x + 0, turns −0 into +0). Backward, with gs = g·(1/ρ) + 0 and
 * inRange(D) = [0 ≤ D ≤ ρ] (1 for NaN, as the clamp's gradient mask):
 *   grad = cdtBackward(p, D[p], gs·inRange(D[p])) + (−cdtBackward(q, D[q], (−gs)·inRange(D[q])) + 0).
 */

function complement(p: Storage, n: number): CpuStorage {
  const P = cpuData(p);
  const q = typedArrayFor(p.dtype, n);
  for (let i = 0; i < n; i++) q[i] = 1 - P[i];
  return new CpuStorage(p.dtype, q);
}

const inRange = (x: number, hi: number): number => (x < 0 || x > hi ? 0 : 1);

export function cdtSigned(p: Storage, shape: readonly number[], params: CdtParams, keepDistances: boolean):
  { signed: CpuStorage; distances?: CpuStorage } {
  checkCdtSignedParams(params, 'cdtSigned');
  const { batch, D, H, W } = cdtVolume(shape, 'cdtSigned');
  const n = batch * D * H * W;
  const near = cpuData(cdt(p, shape, params)), far = cpuData(cdt(complement(p, n), shape, params));
  const { radius } = params;
  const signed = typedArrayFor(p.dtype, n);
  for (let i = 0; i < n; i++) signed[i] = Math.min(Math.max(near[i], 0), radius) - Math.min(Math.max(far[i], 0), radius);
  for (let i = 0; i < n; i++) signed[i] = signed[i] * (1 / radius) + 0;
  if (!keepDistances) return { signed: new CpuStorage(p.dtype, signed) };
  const distances = typedArrayFor(p.dtype, 2 * n);
  distances.set(near);
  distances.set(far, n);
  return { signed: new CpuStorage(p.dtype, signed), distances: new CpuStorage(p.dtype, distances) };
}

export function cdtSignedBackward(p: Storage, distances: Storage, gOut: Storage, shape: readonly number[], params: CdtParams, addend?: Storage): CpuStorage {
  checkCdtSignedParams(params, 'cdtSignedBackward');
  const { batch, D, H, W } = cdtVolume(shape, 'cdtSignedBackward');
  const n = batch * D * H * W;
  const dist = cpuData(distances), G = cpuData(gOut);
  if (dist.length < 2 * n) throw new Error(`cdtSignedBackward: distances of ${dist.length} elements, expected two planes of ${n}`);
  checkAddend(addend, n, p.dtype, 'cdtSignedBackward');
  const { radius } = params;
  const gs = typedArrayFor(p.dtype, n), gNear = typedArrayFor(p.dtype, n), gFar = typedArrayFor(p.dtype, n);
  for (let i = 0; i < n; i++) gs[i] = G[i] * (1 / radius) + 0;
  for (let i = 0; i < n; i++) {
    gNear[i] = gs[i] * inRange(dist[i], radius);
    gFar[i] = -gs[i] * inRange(dist[n + i], radius);
  }
  const plane = (k: number) => new CpuStorage(p.dtype, dist.subarray(k * n, (k + 1) * n));
  const near = cpuData(cdtBackward(p, plane(0), new CpuStorage(p.dtype, gNear), shape, params));
  const far = cpuData(cdtBackward(complement(p, n), plane(1), new CpuStorage(p.dtype, gFar), shape, params));
  const grad = typedArrayFor(p.dtype, n);
  for (let i = 0; i < n; i++) grad[i] = near[i] + (-far[i] + 0);
  if (addend) {
    const A = cpuData(addend);
    for (let i = 0; i < n; i++) grad[i] = grad[i] + A[i];
  }
  return new CpuStorage(p.dtype, grad);
}
