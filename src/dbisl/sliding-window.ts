/**
 * Sliding-window inference over a whole volume, exactly as DTC's `test_single_case`
 * (la-protocol §6): zero-pad to at least the patch size (split evenly before and after), visit
 * windows in x-, y-, z-nested order at `min(i·stride, S − P)` for i < ⌈(S − P)/stride⌉ + 1, add
 * the foreground probabilities and a count map (float32, as numpy there), divide, un-pad.
 * The model is a callback, so this runs with any backend.
 */
import type { Volume } from './data/volume.js';
import { largestConnectedComponent } from './metrics.js';

export type Triple = [number, number, number];

/**
 * Predicts `n` windows at once. `batch` holds them as [n, 1, P0, P1, P2] (C order); the result
 * must hold n foreground-probability maps [n, P0, P1, P2].
 */
export type WindowPredictor = (batch: Float32Array, n: number, patch: Triple) => Promise<Float32Array>;

export interface SlidingWindowOptions {
  patch: readonly [number, number, number];
  stride: readonly [number, number, number];
  /** windows per `predict` call (default 1) */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface LabelOptions extends SlidingWindowOptions {
  /** foreground where probability > threshold (default 0.5, strict as `score_map[0] > 0.5`) */
  threshold?: number;
  /** keep only the largest 26-connected component (DTC: on, UA-MT: off; default false) */
  largestCC?: boolean;
}

export interface WindowGrid {
  /** zero padding before and after along each axis */
  padBefore: Triple;
  padAfter: Triple;
  /** shape after padding */
  padded: Triple;
  /** window start positions per axis, in the padded volume */
  starts: [number[], number[], number[]];
  /** total number of windows */
  count: number;
}

/** Window starts along one axis of (padded) size `size`: min(i·stride, size − patch). */
export function windowStarts(size: number, patch: number, stride: number): number[] {
  if (!(stride >= 1) || !Number.isInteger(stride)) throw new Error(`bad stride ${stride}`);
  if (size < patch) throw new Error(`size ${size} < patch ${patch}: pad first`);
  const n = Math.ceil((size - patch) / stride) + 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.min(i * stride, size - patch));
  return out;
}

/** Padding and window positions for a volume of `shape`. Requires 1 ≤ stride ≤ patch per axis. */
export function windowGrid(
  shape: readonly [number, number, number],
  patch: readonly [number, number, number],
  stride: readonly [number, number, number],
): WindowGrid {
  const padBefore: Triple = [0, 0, 0], padAfter: Triple = [0, 0, 0], padded: Triple = [0, 0, 0];
  const starts: [number[], number[], number[]] = [[], [], []];
  for (let a = 0; a < 3; a++) {
    const s = shape[a]!, p = patch[a]!;
    if (!Number.isInteger(p) || p < 1) throw new Error(`bad patch [${patch.join(', ')}]`);
    // a stride beyond the patch would leave voxels no window covers (0/0 in DTC's code)
    if (stride[a]! > p) throw new Error(`stride ${stride[a]} > patch ${p} along axis ${a}`);
    const pad = s < p ? p - s : 0;
    padBefore[a] = Math.floor(pad / 2);
    padAfter[a] = pad - padBefore[a];
    padded[a] = s + pad;
    starts[a] = windowStarts(padded[a], p, stride[a]!);
  }
  return { padBefore, padAfter, padded, starts, count: starts[0].length * starts[1].length * starts[2].length };
}

function padVolume(data: Float32Array, shape: Triple, g: WindowGrid): Float32Array {
  const [X, Y, Z] = shape;
  if (g.padded[0] === X && g.padded[1] === Y && g.padded[2] === Z) return data;
  const [PX, PY, PZ] = g.padded;
  const [bx, by, bz] = g.padBefore;
  const out = new Float32Array(PX * PY * PZ);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      const src = (x * Y + y) * Z;
      out.set(data.subarray(src, src + Z), ((x + bx) * PY + (y + by)) * PZ + bz);
    }
  }
  return out;
}

function unpadVolume(data: Float32Array, shape: Triple, g: WindowGrid): Float32Array {
  const [X, Y, Z] = shape;
  if (g.padded[0] === X && g.padded[1] === Y && g.padded[2] === Z) return data;
  const [, PY, PZ] = g.padded;
  const [bx, by, bz] = g.padBefore;
  const out = new Float32Array(X * Y * Z);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      const src = ((x + bx) * PY + (y + by)) * PZ + bz;
      out.set(data.subarray(src, src + Z), (x * Y + y) * Z);
    }
  }
  return out;
}

/**
 * Averaged foreground probability over all windows, same shape as `image`.
 */
export async function slidingWindow(
  image: Volume,
  predict: WindowPredictor,
  opts: SlidingWindowOptions,
): Promise<Volume> {
  const shape: Triple = [image.shape[0], image.shape[1], image.shape[2]];
  if (image.data.length !== shape[0] * shape[1] * shape[2]) {
    throw new Error(`slidingWindow: data length ${image.data.length} does not match shape [${shape.join(', ')}]`);
  }
  const patch: Triple = [opts.patch[0], opts.patch[1], opts.patch[2]];
  const batchSize = opts.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`bad batchSize ${batchSize}`);
  const g = windowGrid(shape, patch, opts.stride);
  const img = padVolume(image.data, shape, g);
  const [, PY, PZ] = g.padded;
  const [P0, P1, P2] = patch;
  const P = P0 * P1 * P2;
  const score = new Float32Array(img.length);
  const cnt = new Float32Array(img.length);

  // window origins in DTC's loop order (x outer, z inner)
  const origins: Triple[] = [];
  for (const xs of g.starts[0]) for (const ys of g.starts[1]) for (const zs of g.starts[2]) origins.push([xs, ys, zs]);

  /** packs the windows from b0 on and starts their prediction */
  const start = (b0: number): { b0: number; n: number; prob: Promise<Float32Array> } => {
    const n = Math.min(batchSize, origins.length - b0);
    const batch = new Float32Array(n * P);
    for (let k = 0; k < n; k++) {
      const [xs, ys, zs] = origins[b0 + k]!;
      for (let x = 0; x < P0; x++) {
        for (let y = 0; y < P1; y++) {
          const src = ((xs + x) * PY + (ys + y)) * PZ + zs;
          batch.set(img.subarray(src, src + P2), k * P + (x * P1 + y) * P2);
        }
      }
    }
    return { b0, n, prob: predict(batch, n, [P0, P1, P2]) };
  };

  let done = 0;
  opts.onProgress?.(0, origins.length);
  // one prediction stays in flight: the next windows are submitted before this one's result is awaited
  // and accumulated, so the device never waits for the host's packing, readback or accumulation
  let next: ReturnType<typeof start> | null = origins.length ? start(0) : null;
  while (next) {
    const current = next;
    const following = current.b0 + current.n;
    next = following < origins.length ? start(following) : null;
    const { b0, n } = current;
    let prob: Float32Array;
    try {
      prob = await current.prob;
      if (prob.length < n * P) throw new Error(`slidingWindow: predictor returned ${prob.length} values, expected ${n * P}`);
    } catch (e) {
      await next?.prob.catch(() => undefined); // settle the one in flight before reporting
      throw e;
    }
    for (let k = 0; k < n; k++) {
      const [xs, ys, zs] = origins[b0 + k]!;
      for (let x = 0; x < P0; x++) {
        for (let y = 0; y < P1; y++) {
          const dst = ((xs + x) * PY + (ys + y)) * PZ + zs;
          const src = k * P + (x * P1 + y) * P2;
          for (let z = 0; z < P2; z++) {
            score[dst + z] += prob[src + z]!;
            cnt[dst + z] += 1;
          }
        }
      }
    }
    done += n;
    opts.onProgress?.(done, origins.length);
  }
  for (let i = 0; i < score.length; i++) score[i] = score[i]! / cnt[i]!;
  return { data: unpadVolume(score, shape, g), shape };
}

/** Threshold a probability map (`> threshold`) and optionally keep the largest 26-connected component. */
export function labelFromProbability(
  prob: Volume,
  opts: { threshold?: number; largestCC?: boolean } = {},
): Volume<Uint8Array> {
  const t = opts.threshold ?? 0.5;
  const shape: Triple = [prob.shape[0], prob.shape[1], prob.shape[2]];
  let data: Uint8Array = new Uint8Array(prob.data.length);
  for (let i = 0; i < data.length; i++) data[i] = prob.data[i]! > t ? 1 : 0;
  if (opts.largestCC) data = largestConnectedComponent(data, shape);
  return { data, shape };
}

/** Sliding window, threshold, optional largest connected component: the binary prediction. */
export async function predictLabel(
  image: Volume,
  predict: WindowPredictor,
  opts: LabelOptions,
): Promise<Volume<Uint8Array>> {
  const prob = await slidingWindow(image, predict, opts);
  return labelFromProbability(prob, opts);
}
