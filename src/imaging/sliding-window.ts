/**
 * Sliding-window inference over a whole volume, exactly as DTC's `test_single_case`
 * (la-protocol §6): zero-pad to at least the patch size (split evenly before and after), visit
 * windows in x-, y-, z-nested order at `min(i·stride, S − P)` for i < ⌈(S − P)/stride⌉ + 1, add
 * the predicted probabilities and a count map (float32, as numpy there), divide, un-pad. Every
 * window weighs the same (MONAI's `mode="constant"`), or with `mode: 'gaussian'` each window's
 * prediction is weighted by MONAI's Gaussian importance map and the sum divided by the sum of the
 * weights. One channel (the foreground probability) by default; with the `channels` option every
 * channel the predictor returns, in the same single pass. The image is one volume [X, Y, Z] or a
 * channels-first MultiChannelVolume [C, X, Y, Z] (the windows the predictor gets are [n, C, P…]),
 * or an array of them, MONAI's batch B.
 *
 * Device-resident: each padded volume is uploaded once, each batch of windows is cut out of them and
 * predicted on the backend, the probabilities are added into a score volume there, and the score
 * is read back once per volume. The count map depends only on the window grid and is computed on
 * the host, where the division and un-padding happen after the readback; the Gaussian weights and
 * their sums vary inside a window, so they are made and added up on the backend, in an extra
 * channel of the score.
 */
import type { Backend } from '../kernels/backend.js';
import { clamp, concat, mul, reshape, slice } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import { getBackend } from '../tensor/backend.js';
import { fromArray, zeros } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { MultiChannelVolume, Shape3, Volume } from './volume.js';
import { largestConnectedComponent } from './metrics.js';

export type { MultiChannelVolume } from './volume.js';

/**
 * Predicts a batch of windows: `windows` is [n, Cin, P0, P1, P2] on the sliding window's backend (Cin the image's
 * channels: 1 for a volume [X, Y, Z], C for a MultiChannelVolume [C, X, Y, Z]), the
 * result must be [n, C, P0, P1, P2] on the same backend: the foreground probabilities (C = 1, the
 * shape of a one-channel segmentation head's output) or, with the `channels: C` option, C channels
 * (say each class's softmax probability). It runs synchronously, under noGrad and inside a tidy
 * scope that disposes everything it creates, so it only records work: nothing is read back.
 */
export type WindowPredictor = (windows: Tensor) => Tensor;

/** How overlapping windows are blended (MONAI's `BlendMode`). */
export type BlendMode = 'constant' | 'gaussian';

export interface SlidingWindowOptions {
  /** the window's size (MONAI's `roi_size`) */
  patch: Readonly<Shape3>;
  /** the step between windows; give it or `overlap` */
  stride?: Readonly<Shape3>;
  /**
   * instead of `stride`: the fraction of a window its neighbour overlaps, one for all axes or one per axis,
   * stride = max(1, ⌊patch·(1 − overlap)⌋) per axis (MONAI's `overlap` and scan interval; default 0.25 when neither is given)
   */
  overlap?: number | Readonly<Shape3>;
  /** the value of the padding around an image smaller than the patch (MONAI's `cval` of `padding_mode="constant"`; default 0) */
  cval?: number;
  /** windows per `predict` call (default 1) */
  batchSize?: number;
  /**
   * (0, total) first, then (done, total) after each batch has been recorded on the backend (a GPU
   * may still be computing it; the result is awaited once, at the end)
   */
  onProgress?: (done: number, total: number) => void;
  /** the backend of the predictor's model, where the volume and the score live (default: the current backend, getBackend()) */
  backend?: Backend;
  /**
   * 'constant' (default): every window's prediction weighs the same. 'gaussian': each is weighted by
   * gaussianImportanceMap(patch, sigmaScale), less towards the window's edges (MONAI's `mode`)
   */
  mode?: BlendMode;
  /** the Gaussian's σ as a fraction of the patch size, one for all axes or one per axis (MONAI's `sigma_scale`, default 0.125) */
  sigmaScale?: number | Readonly<Shape3>;
}

export interface MultiChannelOptions extends SlidingWindowOptions {
  /** channels C the predictor returns per window, [n, C, P0, P1, P2]; the result holds all of them */
  channels: number;
}

/** What the sliding window reads: one volume [X, Y, Z], or C of them channels first, [C, X, Y, Z]. */
export type SlidingWindowImage = Volume | MultiChannelVolume;

export interface LabelOptions extends SlidingWindowOptions {
  /** foreground where probability > threshold (default 0.5, strict as `score_map[0] > 0.5`) */
  threshold?: number;
  /** keep only the largest 26-connected component (DTC: on, UA-MT: off; default false) */
  largestCC?: boolean;
}

export interface WindowGrid {
  /** zero padding before and after along each axis */
  padBefore: Shape3;
  padAfter: Shape3;
  /** shape after padding */
  padded: Shape3;
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
  shape: Readonly<Shape3>,
  patch: Readonly<Shape3>,
  stride: Readonly<Shape3>,
): WindowGrid {
  const padBefore: Shape3 = [0, 0, 0], padAfter: Shape3 = [0, 0, 0], padded: Shape3 = [0, 0, 0];
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

/** MONAI's floor for the importance weights: a voxel that only windows' corners cover still gets an average. */
const MIN_IMPORTANCE = 1e-3;

function sigmaScales(sigmaScale: number | Readonly<Shape3>): Shape3 {
  const scales = typeof sigmaScale === 'number' ? [sigmaScale, sigmaScale, sigmaScale] : [...sigmaScale];
  if (scales.length !== 3 || !scales.every((s) => Number.isFinite(s) && s > 0)) {
    throw new Error(`bad sigmaScale ${JSON.stringify(sigmaScale)}: expected a positive number or 3 of them`);
  }
  return scales as Shape3;
}

/**
 * MONAI's `compute_importance_map(patch, mode="gaussian", sigma_scale)`, [P0, P1, P2] on `backend`: the product
 * over the axes of exp(−d² / (2σ²)), d a voxel's distance from the window's centre (P − 1)/2 and σ = sigmaScale·P
 * along that axis, clamped below at 1e-3. Like MONAI's map it is not rescaled: its maximum is 1 for odd sides and
 * a little less for even ones. The three profiles are computed on the host (float64, stored in float32) and
 * uploaded together, P0 + P1 + P2 values; their product and the clamp run on the backend, in float32 as MONAI's.
 */
export function gaussianImportanceMap(
  patch: Readonly<Shape3>, sigmaScale: number | Readonly<Shape3> = 0.125, backend: Backend = getBackend(),
): Tensor {
  if (!patch.every((p) => Number.isInteger(p) && p >= 1)) throw new Error(`bad patch [${patch.join(', ')}]`);
  const scales = sigmaScales(sigmaScale);
  const profiles = new Float32Array(patch[0] + patch[1] + patch[2]);
  let at = 0;
  for (let a = 0; a < 3; a++) {
    const p = patch[a]!, sigma = scales[a]! * p;
    for (let i = 0; i < p; i++) profiles[at + i] = Math.exp(-((i - (p - 1) / 2) ** 2) / (2 * sigma * sigma));
    at += p;
  }
  return tidy(() => {
    const all = fromArray(profiles, [profiles.length], { backend });
    const [x, y, z] = [0, 1, 2].map((a) => {
      const start = patch.slice(0, a).reduce((s, p) => s + p, 0);
      return reshape(slice(all, 0, start, start + patch[a]!), [0, 1, 2].map((b) => (b === a ? patch[a]! : 1)));
    }) as [Tensor, Tensor, Tensor];
    return clamp(mul(mul(x, y), z), MIN_IMPORTANCE);
  });
}

/** The C channels of `data` [C, X, Y, Z] padded to [C, …g.padded] with `cval`. */
function padVolume(data: Float32Array, channels: number, shape: Shape3, g: WindowGrid, cval: number): Float32Array {
  const [X, Y, Z] = shape;
  if (g.padded[0] === X && g.padded[1] === Y && g.padded[2] === Z) return data;
  const [PX, PY, PZ] = g.padded;
  const [bx, by, bz] = g.padBefore;
  const out = new Float32Array(channels * PX * PY * PZ).fill(cval);
  for (let c = 0; c < channels; c++) {
    for (let x = 0; x < X; x++) {
      for (let y = 0; y < Y; y++) {
        const src = ((c * X + x) * Y + y) * Z;
        out.set(data.subarray(src, src + Z), ((c * PX + x + bx) * PY + (y + by)) * PZ + bz);
      }
    }
  }
  return out;
}

/** How many of the windows starting at `starts` cover each position along an axis of length `size`. */
function coverage(size: number, patch: number, starts: readonly number[]): Float32Array {
  const c = new Float32Array(size);
  for (const s of starts) for (let i = s; i < s + patch; i++) c[i]! += 1;
  return c;
}

/**
 * The padded score sums [C, PX, PY, PZ] divided by the weights, without the padding: [C, X, Y, Z]. The weights are
 * the padded weight sums [PX, PY, PZ] or, null, the window counts: the windows form a Cartesian grid, so a voxel's
 * count is the product of its per-axis coverages (integers, exact in float64: the same values as adding 1 per
 * window), computed here rather than stored.
 */
function divideAndUnpad(sums: ArrayLike<number>, weights: ArrayLike<number> | null, patch: Shape3, channels: number, shape: Shape3, g: WindowGrid): Float32Array {
  const [X, Y, Z] = shape;
  const [PX, PY, PZ] = g.padded;
  const [bx, by, bz] = g.padBefore;
  const [cx, cy, cz] = [0, 1, 2].map((a) => coverage(g.padded[a]!, patch[a]!, g.starts[a]!)) as [Float32Array, Float32Array, Float32Array];
  const out = new Float32Array(channels * X * Y * Z);
  for (let c = 0; c < channels; c++) {
    for (let x = 0; x < X; x++) {
      for (let y = 0; y < Y; y++) {
        const weight = ((x + bx) * PY + (y + by)) * PZ + bz, count = cx[x + bx]! * cy[y + by]!;
        const src = c * PX * PY * PZ + weight;
        const dst = ((c * X + x) * Y + y) * Z;
        for (let z = 0; z < Z; z++) out[dst + z] = sums[src + z]! / (weights ? weights[weight + z]! : count * cz[z + bz]!);
      }
    }
  }
  return out;
}

/** Where the window at `origin` of a [1, C, X, Y, Z] volume starts in its storage. */
function windowOffset(volume: Tensor, origin: Shape3): number {
  const strides = volume.strides;
  return volume.offset + origin[0] * strides[2]! + origin[1] * strides[3]! + origin[2] * strides[4]!;
}

/** The window at `origin` of a [1, C, X, Y, Z] volume: a [1, C, P0, P1, P2] view (no copy). */
function windowView(volume: Tensor, origin: Shape3, patch: Shape3): Tensor {
  return volume.viewAs([1, volume.shape[1]!, ...patch], volume.strides, windowOffset(volume, origin));
}

/** A window: which of the images, and where in its padded volume. */
interface WindowAt {
  image: number;
  origin: Shape3;
}

/**
 * The windows of the [1, C, X, Y, Z] volumes, copied into one [n, C, P0, P1, P2] tensor. Consecutive windows of one
 * volume whose offsets in it step evenly (along a row of the grid) are one strided view, so each such run is one
 * copy instead of one per window.
 */
function cutWindows(volumes: readonly Tensor[], windows: readonly WindowAt[], patch: Shape3): Tensor {
  const runs: Tensor[] = [];
  for (let i = 0; i < windows.length;) {
    const image = windows[i]!.image, volume = volumes[image]!;
    const sameVolume = (k: number) => k < windows.length && windows[k]!.image === image;
    const first = windowOffset(volume, windows[i]!.origin);
    const step = sameVolume(i + 1) ? windowOffset(volume, windows[i + 1]!.origin) - first : 0;
    let n = 1;
    while (sameVolume(i + n) && windowOffset(volume, windows[i + n]!.origin) === first + n * step) n++;
    runs.push(volume.viewAs([n, volume.shape[1]!, ...patch], [step, ...volume.strides.slice(1)], first));
    i += n;
  }
  return concat(runs, 0);
}

/** dst += src in place (one dispatch; the same float32 sums as assign(dst, add(dst, src))); equal shapes, float32. */
function addInto(dst: Tensor, src: Tensor): void {
  dst.backend.addInto(dst.view, src.view);
}

function checkPrediction(
  prob: unknown, n: number, patch: Shape3, channels: number | undefined, backend: Backend,
): asserts prob is Tensor {
  const expected = [n, channels ?? 1, ...patch];
  if (!(prob instanceof Tensor)) {
    throw new Error(`slidingWindow: the predictor must return a Tensor ${formatShape(expected)} synchronously, got ${prob instanceof Promise ? 'a Promise' : typeof prob}`);
  }
  if (prob.rank !== 5 || prob.shape.some((d, i) => d !== expected[i])) {
    const onlyChannels = prob.rank === 5 && prob.shape.every((d, i) => i === 1 || d === expected[i]);
    const hint = channels !== undefined ? ` (channels: ${channels})`
      : onlyChannels ? `; pass the option channels: ${prob.shape[1]} for a predictor of ${prob.shape[1]} channels` : '';
    throw new Error(`slidingWindow: the predictor returned ${formatShape(prob.shape)} for ${n} window(s), expected ${formatShape(expected)}${hint}`);
  }
  if (prob.dtype !== 'float32') throw new Error(`slidingWindow: the predictor returned ${prob.dtype} values, expected float32`);
  if (prob.backend !== backend) {
    throw new Error(`slidingWindow: the predictor returned a tensor on the ${prob.backend.name} backend, but the windows live on ${backend.name}; pass the model's backend as the backend option`);
  }
}

/**
 * The probabilities averaged over all windows (MONAI's `sliding_window_inference` on DTC's window grid, with
 * `mode="constant"`, or with `mode: 'gaussian'` the average weighted by gaussianImportanceMap(patch, sigmaScale)).
 * Without `channels`, the predictor returns one channel and the result is a volume [X, Y, Z] of the image's size.
 * With `channels: C` it returns C channels per window, [n, C, P0, P1, P2], and the result holds all of them,
 * channels first: [C, X, Y, Z]. All channels come from the same single pass (one prediction per window, one
 * readback), each bit for bit what a one-channel run of that channel gives:
 *
 *     const probs = await slidingWindowInference(image, (w) => softmax(model.forward(w), 1), { patch, stride, channels: classes });
 *     // probs.shape = [classes, X, Y, Z]; class k's map is probs.data.subarray(k·X·Y·Z, (k + 1)·X·Y·Z)
 *
 * The image is a volume [X, Y, Z] (the windows are [n, 1, P0, P1, P2]) or a MultiChannelVolume [Cin, X, Y, Z], say
 * BraTS's four modalities (the windows are [n, Cin, P0, P1, P2]); the result's channels are the predictor's, not
 * the image's. An array of images is MONAI's batch [B, Cin, …]: the result is the array of their results, in order.
 * The images may differ in size but not in channels; their windows are visited image after image (MONAI's order),
 * `batchSize` of them per prediction whichever images they come from, and each result is bit for bit the one the
 * image gives alone, for a predictor whose output for a window does not depend on the other windows of its batch.
 */
export function slidingWindow(image: SlidingWindowImage, predict: WindowPredictor, opts: MultiChannelOptions): Promise<MultiChannelVolume>;
export function slidingWindow(image: SlidingWindowImage, predict: WindowPredictor, opts: SlidingWindowOptions): Promise<Volume>;
export function slidingWindow(images: readonly SlidingWindowImage[], predict: WindowPredictor, opts: MultiChannelOptions): Promise<MultiChannelVolume[]>;
export function slidingWindow(images: readonly SlidingWindowImage[], predict: WindowPredictor, opts: SlidingWindowOptions): Promise<Volume[]>;
export async function slidingWindow(
  input: SlidingWindowImage | readonly SlidingWindowImage[],
  predict: WindowPredictor,
  opts: SlidingWindowOptions & { channels?: number },
): Promise<Volume | MultiChannelVolume | (Volume | MultiChannelVolume)[]> {
  const batched = isBatch(input);
  const images = (batched ? input : [input]).map((image, b) => hostImage(image, batched ? `image ${b} of the batch` : 'image'));
  if (images.length === 0) throw new Error('slidingWindow: the batch holds no image');
  const inChannels = images[0]!.channels;
  const other = images.findIndex((im) => im.channels !== inChannels);
  if (other >= 0) {
    throw new Error(`slidingWindow: the images of a batch must have the same channels (the windows are [n, C, …patch]): image 0 has ${inChannels}, image ${other} has ${images[other]!.channels}`);
  }
  const patch: Shape3 = [opts.patch[0], opts.patch[1], opts.patch[2]];
  const batchSize = opts.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`bad batchSize ${batchSize}`);
  const channels = opts.channels ?? 1;
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`bad channels ${channels}`);
  const mode = opts.mode ?? 'constant';
  if (mode !== 'constant' && mode !== 'gaussian') throw new Error(`bad mode '${String(mode)}': expected 'constant' or 'gaussian'`);
  const sigmaScale = sigmaScales(opts.sigmaScale ?? 0.125);
  const cval = opts.cval ?? 0;
  if (!Number.isFinite(cval)) throw new Error(`slidingWindow: cval must be a finite number, got ${cval}`);
  const stride = windowStride(patch, opts);
  const grids = images.map((im) => windowGrid(im.shape, patch, stride));
  const backend = opts.backend ?? getBackend();

  // window origins in DTC's loop order (x outer, z inner), image after image
  const windows: WindowAt[] = [];
  grids.forEach((g, image) => {
    for (const xs of g.starts[0]) for (const ys of g.starts[1]) for (const zs of g.starts[2]) windows.push({ image, origin: [xs, ys, zs] });
  });

  // gaussian: channel C of the score adds up the weights, in the same window order as the weighted predictions
  const scoreChannels = mode === 'gaussian' ? channels + 1 : channels;
  const volumes: Tensor[] = [], scores: Tensor[] = [];
  let importance: Tensor | null = null;
  try {
    images.forEach((im, b) => {
      const g = grids[b]!;
      volumes.push(fromArray(padVolume(im.data, inChannels, im.shape, g, cval), [1, inChannels, ...g.padded], { backend }));
      scores.push(zeros([1, scoreChannels, ...g.padded], { backend }));
    });
    if (mode === 'gaussian') importance = tidy(() => reshape(gaussianImportanceMap(patch, sigmaScale, backend), [1, 1, ...patch]));
    opts.onProgress?.(0, windows.length);
    // No readback or sync in this loop: the host records every batch and the GPU runs behind it. Device
    // memory stays bounded without a sync: each batch's tensors are freed at the end of its tidy, and the
    // WebGPU runtime lends a freed buffer to the next allocation at once (the queue orders the dispatches),
    // so the footprint is one batch's working set plus the volumes and the scores (C channels, C + 1 with the
    // Gaussian weights). What grows is the queue of submitted command buffers (the runtime submits every few
    // hundred dispatches), at most the images'.
    for (let b0 = 0; b0 < windows.length; b0 += batchSize) {
      const batch = windows.slice(b0, b0 + batchSize);
      tidy(() => noGrad(() => {
        const prob: unknown = predict(cutWindows(volumes, batch, patch));
        checkPrediction(prob, batch.length, patch, opts.channels, backend);
        const contribution = importance ? mul(prob, importance) : prob;
        // one window at a time, in order: windows of a batch may overlap, and the float32 sums must be
        // added in DTC's window order. In place: only the window's part of the score is read and written.
        batch.forEach(({ image, origin }, k) => {
          const window = windowView(scores[image]!, origin, patch);
          addInto(importance ? slice(window, 1, 0, channels) : window, slice(contribution, 0, k, k + 1));
          if (importance) addInto(slice(window, 1, channels), importance);
        });
      }));
      opts.onProgress?.(b0 + batch.length, windows.length);
    }
    const results: (Volume | MultiChannelVolume)[] = [];
    for (const [b, im] of images.entries()) {
      const sums = await scores[b]!.toArray();
      const weights = importance ? sums.subarray(channels * sums.length / (channels + 1)) : null;
      const data = divideAndUnpad(sums, weights, patch, channels, im.shape, grids[b]!);
      results.push(opts.channels === undefined ? { data, shape: im.shape } : { data, shape: [channels, ...im.shape] });
    }
    return batched ? results : results[0]!;
  } finally {
    for (const t of [...volumes, ...scores]) t.dispose();
    importance?.dispose();
  }
}

function isBatch(input: SlidingWindowImage | readonly SlidingWindowImage[]): input is readonly SlidingWindowImage[] {
  return Array.isArray(input);
}

/** The image's data, channels and spatial shape, checked; `name` says which image in the messages. */
function hostImage(image: SlidingWindowImage, name: string): { data: Float32Array; channels: number; shape: Shape3 } {
  const expected = `${name} must be a host volume { data, shape: [X, Y, Z] } or channels first { data, shape: [C, X, Y, Z] }`;
  if (image instanceof Tensor) {
    throw new Error(`slidingWindow: ${expected}, got a Tensor ${formatShape(image.shape)}; pass { data: await x.toArray(), shape }`);
  }
  const rank = image.shape.length as number;
  if (rank !== 3 && rank !== 4) {
    const hint = rank === 5 ? '; a batch [B, C, X, Y, Z] is an array of B images [C, X, Y, Z]' : '';
    throw new Error(`slidingWindow: ${expected}, got shape ${formatShape(image.shape)}${hint}`);
  }
  const [channels, X, Y, Z] = image.shape.length === 3 ? [1, ...image.shape] : image.shape;
  if (image.data.length !== channels * X * Y * Z) {
    throw new Error(`slidingWindow: ${name}: data length ${image.data.length} does not match shape [${image.shape.join(', ')}]`);
  }
  return { data: image.data, channels, shape: [X, Y, Z] };
}

/** The stride given, or MONAI's scan interval for `overlap` (default 0.25). */
function windowStride(patch: Readonly<Shape3>, opts: SlidingWindowOptions): Readonly<Shape3> {
  const shown = (overlap: number | Readonly<Shape3>) => (typeof overlap === 'number' ? `${overlap}` : `[${overlap.join(', ')}]`);
  if (opts.stride !== undefined) {
    if (opts.overlap !== undefined) throw new Error(`slidingWindow: give stride or overlap, not both (stride [${opts.stride.join(', ')}], overlap ${shown(opts.overlap)})`);
    return opts.stride;
  }
  const overlap = opts.overlap ?? 0.25;
  const perAxis: readonly number[] = typeof overlap === 'number' ? [overlap, overlap, overlap] : overlap;
  if (perAxis.length !== 3 || !perAxis.every((o) => o >= 0 && o < 1)) {
    throw new Error(`slidingWindow: overlap must be in [0, 1)${typeof overlap === 'number' ? '' : ' on each of the 3 axes'}, got ${shown(overlap)}`);
  }
  return [0, 1, 2].map((a) => Math.max(1, Math.floor(patch[a]! * (1 - perAxis[a]!)))) as Shape3;
}

/** Threshold a probability map (`> threshold`) and optionally keep the largest 26-connected component. */
export function labelFromProbability(
  prob: Volume,
  opts: { threshold?: number; largestCC?: boolean } = {},
): Volume<Uint8Array> {
  const t = opts.threshold ?? 0.5;
  const shape: Shape3 = [prob.shape[0], prob.shape[1], prob.shape[2]];
  let data: Uint8Array = new Uint8Array(prob.data.length);
  for (let i = 0; i < data.length; i++) data[i] = prob.data[i]! > t ? 1 : 0;
  if (opts.largestCC) data = largestConnectedComponent(data, shape);
  return { data, shape };
}

/** Sliding window, threshold, optional largest connected component: the binary prediction. */
export async function predictLabel(
  image: SlidingWindowImage,
  predict: WindowPredictor,
  opts: LabelOptions,
): Promise<Volume<Uint8Array>> {
  const prob = await slidingWindow(image, predict, opts);
  return labelFromProbability(prob, opts);
}
