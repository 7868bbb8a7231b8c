/**
 * MONAI's post-processing transforms on tensors (monai/transforms/post/array.py): what turns a network's output into
 * the binarized channels the metric classes take (`callBatch`). They run on the tensor's backend (the GPU with
 * WebGPU) and return a new tensor owned by the caller; the input is left as it is. Channel-first as MONAI's: the
 * channel axis is `dim` 0 of one case [C, X, Y, Z], or `dim: 1` for a batch [B, C, X, Y, Z].
 */
import { argmax, cast, clamp, eq, ge, logicalOr, oneHot, permute, reshape, round, sigmoid, squeeze, where } from '../autograd/ops.js';
import { conv3d, softmax } from '../autograd/nn.js';
import type { DType } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import { fromArray, full } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { connectedComponents, largestComponents, type Connectivity } from './metrics.js';
import type { Shape3 } from './volume.js';

function checkTensor(x: unknown, name: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${name}: expected a tensor, got ${x === null ? 'null' : typeof x}`);
}

/** `dim` as an axis of x (negative counts from the end), or an error naming the shape. */
function channelAxis(x: Tensor, dim: number, name: string): number {
  if (!Number.isInteger(dim) || dim < -x.rank || dim >= x.rank) throw new Error(`${name}: dim ${dim} is not an axis of ${formatShape(x.shape)}`);
  return dim < 0 ? dim + x.rank : dim;
}

export interface ActivationsOptions {
  /** torch.sigmoid (default false) */
  sigmoid?: boolean;
  /** torch.softmax over `dim` (default false; not together with sigmoid) */
  softmax?: boolean;
  /** another activation, applied after sigmoid or softmax (MONAI's `other`, e.g. `tanh`) */
  other?: ((x: Tensor) => Tensor) | null;
  /** the softmax's axis (MONAI's `dim` kwarg; default 0, the channels of one case) */
  dim?: number;
}

/**
 * MONAI's `Activations`: sigmoid or softmax over the channels, then `other`, on a float copy of the input (an int32
 * input is cast to float32 first, as MONAI casts to float). `apply(x, overrides)` takes MONAI's call arguments.
 */
export class Activations {
  readonly sigmoid: boolean;
  readonly softmax: boolean;
  readonly other: ((x: Tensor) => Tensor) | null;
  readonly dim: number;

  constructor(options: ActivationsOptions = {}) {
    this.sigmoid = options.sigmoid ?? false;
    this.softmax = options.softmax ?? false;
    this.other = options.other ?? null;
    this.dim = options.dim ?? 0;
    if (this.other !== null && typeof this.other !== 'function') throw new Error(`Activations: other must be a function or null, got ${typeof this.other}`);
  }

  apply(x: Tensor, overrides: Omit<ActivationsOptions, 'dim'> = {}): Tensor {
    const name = 'Activations';
    checkTensor(x, name);
    const useSigmoid = overrides.sigmoid ?? this.sigmoid, useSoftmax = overrides.softmax ?? this.softmax;
    // MONAI refuses the two together only when given to the call; here wherever they come from (both would apply)
    if (useSigmoid && useSoftmax) throw new Error(`${name}: sigmoid and softmax together are incompatible`);
    const other = overrides.other ?? this.other;
    if (other !== null && typeof other !== 'function') throw new Error(`${name}: other must be a function or null, got ${typeof other}`);
    const axis = useSoftmax ? channelAxis(x, this.dim, name) : 0;
    return tidy(() => {
      let y = x.dtype === 'int32' ? cast(x, 'float32') : x;
      if (useSigmoid) y = sigmoid(y);
      if (useSoftmax) y = softmax(y, axis);
      if (other) y = other(y);
      // nothing applied: a new handle on the input's storage (a view), which the caller owns as any result
      return y === x ? cast(x, x.dtype) : y;
    });
  }
}

export interface AsDiscreteOptions {
  /** arg-max over `dim` first (default false) */
  argmax?: boolean;
  /** then one-hot with this many classes along `dim` (the axis must have size 1, as after the arg-max; default none) */
  toOnehot?: number | null;
  /** then `x >= threshold` as 0/1 (default none) */
  threshold?: number | null;
  /** then torch.round (MONAI's only option, 'torchrounding'; default none) */
  rounding?: 'torchrounding' | null;
  /** the channel axis of argmax and one-hot (default 0) */
  dim?: number;
  /** whether the arg-max keeps its axis (default true: [1, X, Y, Z] from [C, X, Y, Z]) */
  keepdim?: boolean;
  /** dtype of the result (default float32, MONAI's torch.float) */
  dtype?: DType;
}

type AsDiscreteSteps = Pick<AsDiscreteOptions, 'argmax' | 'toOnehot' | 'threshold' | 'rounding'>;

/**
 * MONAI's `AsDiscrete`: arg-max, one-hot, threshold and rounding, in that order, each when asked for. The usual
 * segmentation post-processing: `new AsDiscrete({ argmax: true, toOnehot: C })` for softmax outputs, `new AsDiscrete({
 * threshold: 0.5 })` after a sigmoid, and `new AsDiscrete({ toOnehot: C })` for a label map [1, X, Y, Z]. A float
 * class map is truncated to int32 for the one-hot, as MONAI's `labels.long()`; a class outside [0, toOnehot) is an
 * error (on WebGPU at the next readback, see `oneHot`). `apply(x, overrides)` takes MONAI's call arguments.
 */
export class AsDiscrete {
  readonly argmax: boolean;
  readonly toOnehot: number | null;
  readonly threshold: number | null;
  readonly rounding: 'torchrounding' | null;
  readonly dim: number;
  readonly keepdim: boolean;
  readonly dtype: DType;

  constructor(options: AsDiscreteOptions = {}) {
    this.argmax = options.argmax ?? false;
    this.toOnehot = options.toOnehot ?? null;
    this.threshold = options.threshold ?? null;
    this.rounding = options.rounding ?? null;
    this.dim = options.dim ?? 0;
    this.keepdim = options.keepdim ?? true;
    this.dtype = options.dtype ?? 'float32';
    AsDiscrete.checkSteps(this, 'AsDiscrete');
    if (!['float32', 'float64', 'int32'].includes(this.dtype)) throw new Error(`AsDiscrete: dtype must be 'float32', 'float64' or 'int32', got ${JSON.stringify(this.dtype)}`);
  }

  private static checkSteps(steps: AsDiscreteSteps, name: string): void {
    const { toOnehot, threshold, rounding } = steps;
    if (typeof toOnehot === 'boolean') throw new Error(`${name}: toOnehot true/false is MONAI's old form; give the number of classes`);
    if (toOnehot !== null && toOnehot !== undefined && !(Number.isInteger(toOnehot) && toOnehot >= 1)) {
      throw new Error(`${name}: toOnehot must be the number of classes (a positive integer), got ${toOnehot}`);
    }
    if (threshold !== null && threshold !== undefined && typeof threshold !== 'number') throw new Error(`${name}: threshold must be a number, got ${typeof threshold}`);
    if (rounding !== null && rounding !== undefined && rounding !== 'torchrounding') {
      throw new Error(`${name}: rounding must be 'torchrounding' (MONAI's only option), got ${JSON.stringify(rounding)}`);
    }
  }

  apply(x: Tensor, overrides: AsDiscreteSteps = {}): Tensor {
    const name = 'AsDiscrete';
    checkTensor(x, name);
    AsDiscrete.checkSteps(overrides, name);
    const useArgmax = overrides.argmax ?? this.argmax, toOnehot = overrides.toOnehot ?? this.toOnehot;
    const threshold = overrides.threshold ?? this.threshold, rounding = overrides.rounding ?? this.rounding;
    return tidy(() => {
      let y = x;
      if (useArgmax) y = argmax(y, channelAxis(y, this.dim, name), this.keepdim);
      if (toOnehot !== null) y = oneHotAlong(y, toOnehot, this.dim, name);
      if (threshold !== null) y = ge(y, threshold);
      if (rounding !== null) y = round(y);
      return cast(y, this.dtype);
    });
  }
}

/**
 * MONAI's `one_hot(labels, numClasses, dim)`: labels with size 1 at `dim` (trailing axes of size 1 are added when
 * the tensor has fewer than dim + 1) become numClasses channels there, 1 at each label.
 */
function oneHotAlong(labels: Tensor, numClasses: number, dim: number, name: string): Tensor {
  if (!Number.isInteger(dim) || dim < 0) throw new Error(`${name}: dim must be a non-negative axis for the one-hot (MONAI's rule), got ${dim}`);
  const padded = labels.rank < dim + 1 ? reshape(labels, [...labels.shape, ...new Array<number>(dim + 1 - labels.rank).fill(1)]) : labels;
  if (padded.shape[dim] !== 1) {
    throw new Error(`${name}: the labels ${formatShape(labels.shape)} must have size 1 at dim ${dim} for the one-hot (arg-max first, or a label map with a channel axis)`);
  }
  const indices = padded.dtype === 'int32' ? padded : cast(padded, 'int32');
  const hot = oneHot(squeeze(indices, dim), numClasses); // [..., numClasses]: classes last
  const rank = hot.rank;
  const order = Array.from({ length: rank }, (_, i) => (i < dim ? i : i === dim ? rank - 1 : i - 1));
  return permute(hot, order);
}

export interface KeepLargestConnectedComponentOptions {
  /** the labels (class values, or channels when one-hot) to clean; default every nonzero label (channel 0 is background) */
  appliedLabels?: number | readonly number[] | null;
  /** one-hot channels (default: true for more than one channel, as MONAI's) */
  isOnehot?: boolean | null;
  /** each label on its own (default true), or the union of appliedLabels as one foreground */
  independent?: boolean;
  /** skimage's connectivity: 1 (6 neighbours), 2 (18) or 3 (26, the default, MONAI's null) */
  connectivity?: Connectivity | null;
  /** how many of the largest components to keep (default 1) */
  numComponents?: number;
}

/**
 * MONAI's `KeepLargestConnectedComponent` on one case [C, X, Y, Z]: a class map (C = 1; voxels of a label outside its
 * largest components become 0) or one-hot channels (a channel's voxels outside them become 0). The analysis runs on
 * the host (`apply` reads the tensor back; MONAI too runs skimage on the CPU without cuCIM) and returns a new tensor
 * of the input's dtype on its backend. Ties between equal-sized components keep the one met first in C order.
 */
export class KeepLargestConnectedComponent {
  readonly appliedLabels: readonly number[] | null;
  readonly isOnehot: boolean | null;
  readonly independent: boolean;
  readonly connectivity: Connectivity;
  readonly numComponents: number;

  constructor(options: KeepLargestConnectedComponentOptions = {}) {
    const name = 'KeepLargestConnectedComponent';
    const labels = options.appliedLabels ?? null;
    this.appliedLabels = labels === null ? null : typeof labels === 'number' ? [labels] : [...labels];
    if (this.appliedLabels && !this.appliedLabels.every((l) => Number.isFinite(l))) throw new Error(`${name}: appliedLabels must be numbers, got ${JSON.stringify(labels)}`);
    this.isOnehot = options.isOnehot ?? null;
    this.independent = options.independent ?? true;
    this.connectivity = options.connectivity ?? 3;
    if (![1, 2, 3].includes(this.connectivity)) throw new Error(`${name}: connectivity must be 1, 2 or 3 (orthogonal hops in 3-D) or null, got ${options.connectivity}`);
    this.numComponents = options.numComponents ?? 1;
    if (!Number.isInteger(this.numComponents) || this.numComponents < 1) throw new Error(`${name}: numComponents must be a positive integer, got ${this.numComponents}`);
  }

  async apply(img: Tensor): Promise<Tensor> {
    const name = 'KeepLargestConnectedComponent';
    checkTensor(img, name);
    if (img.rank !== 4) throw new Error(`${name}: expected one case [C, X, Y, Z], got ${formatShape(img.shape)}`);
    const [C, X, Y, Z] = img.shape as [number, number, number, number];
    const onehot = this.isOnehot ?? C > 1;
    if (!onehot && C !== 1) throw new Error(`${name}: a class map has one channel, got ${formatShape(img.shape)} (isOnehot false)`);
    const shape: Shape3 = [X, Y, Z], n = X * Y * Z;
    const values = await img.toArray();
    const channel = (c: number) => values.subarray(c * n, (c + 1) * n);
    const labels = this.appliedLabels ?? presentLabels(values, C, n, onehot);
    if (onehot) {
      const bad = labels.find((l) => !Number.isInteger(l) || l < 0 || l >= C);
      if (bad !== undefined) throw new Error(`${name}: appliedLabels ${bad} is not a channel of ${formatShape(img.shape)} (one-hot)`);
    }
    // foreground of a label: its channel > 0 (one-hot), or the class map equal to it
    const foreground = (label: number): Uint8Array => (onehot ? maskOf(channel(label), (v) => v > 0) : maskOf(values, (v) => v === label));
    const clear = (c: number, inside: Uint8Array, kept: Uint8Array): void => {
      const target = channel(c);
      for (let i = 0; i < n; i++) if (inside[i] !== kept[i]) target[i] = 0;
    };
    if (this.independent) {
      for (const label of labels) {
        const mask = foreground(label);
        clear(onehot ? label : 0, mask, largestComponents(mask, shape, this.numComponents, this.connectivity));
      }
    } else {
      // the union of the labels as one foreground (one-hot: MONAI's channels equal to 1)
      const union = new Uint8Array(n);
      for (const label of labels) {
        if (onehot) { const ch = channel(label); for (let i = 0; i < n; i++) if (ch[i] === 1) union[i] = 1; }
        else for (let i = 0; i < n; i++) if (values[i] === label) union[i] = 1;
      }
      const kept = largestComponents(union, shape, this.numComponents, this.connectivity);
      for (const c of onehot ? labels : [0]) clear(c, union, kept);
    }
    return fromArray(values, img.shape, { dtype: img.dtype, backend: img.backend });
  }
}

/** MONAI's `get_unique_labels(img, isOnehot, discard=0)`: the nonzero channels (one-hot) or values, but 0. */
function presentLabels(values: ArrayLike<number>, channels: number, n: number, onehot: boolean): number[] {
  const found = new Set<number>();
  if (onehot) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let i = c * n; i < (c + 1) * n; i++) sum += values[i]!;
      if (sum > 0) found.add(c);
    }
  } else {
    for (let i = 0; i < values.length; i++) found.add(values[i]!);
  }
  found.delete(0);
  return [...found].sort((a, b) => a - b);
}

/** 1 where `test` holds, 0 elsewhere (a plain loop: a typed array's `from` with a function is many times slower in V8). */
function maskOf(values: ArrayLike<number>, test: (v: number) => boolean): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) if (test(values[i]!)) out[i] = 1;
  return out;
}

/** A label option: one number or a list of them, each finite (null / undefined: none given). */
function labelList(labels: number | readonly number[] | null | undefined, option: string, name: string): number[] | null {
  if (labels === null || labels === undefined) return null;
  const list = typeof labels === 'number' ? [labels] : Array.isArray(labels) ? [...labels] : null;
  if (!list || !list.every((l) => Number.isFinite(l))) throw new Error(`${name}: ${option} must be a number or a list of numbers, got ${JSON.stringify(labels)}`);
  return list;
}

/**
 * One case [C, X, Y, Z], or a 2-D one [C, H, W] as [C, H, W, 1] (`twoD`), read back to the host: its values (a copy)
 * and its spatial shape.
 */
async function readCase(img: Tensor, name: string): Promise<{ values: Float64Array | Float32Array | Int32Array; C: number; shape: Shape3; n: number; twoD: boolean }> {
  checkTensor(img, name);
  if (img.rank !== 4 && img.rank !== 3) throw new Error(`${name}: expected one case [C, X, Y, Z] or a 2-D one [C, H, W], got ${formatShape(img.shape)}`);
  const [C, X, Y, Z = 1] = img.shape as [number, number, number, number?];
  return { values: await img.toArray() as Float64Array | Float32Array | Int32Array, C, shape: [X, Y, Z], n: X * Y * Z, twoD: img.rank === 3 };
}

export interface FillHolesOptions {
  /** The labels (class values, or channels when one-hot) whose holes are filled; default (null or []) every label present but 0. */
  appliedLabels?: number | readonly number[] | null;
  /** What touches: 1 (6 neighbours), 2 (18) or 3 (26, the default, MONAI's null); in 2-D 1 (4) or 2 and 3 (8). */
  connectivity?: Connectivity | null;
}

/**
 * MONAI's `FillHoles` on one case [C, X, Y, Z] (or a 2-D one [C, H, W]): for each label L (ascending), the voxels that are not L and cannot
 * reach the volume's border through other voxels that are not L (with `connectivity`) are L's holes. A class map (C =
 * 1) sets them to L (an island of another label inside L is such a hole too, as MONAI's); with C > 1 channels
 * (one-hot, MONAI's rule) channel L becomes 1 on L and its holes and 0 elsewhere, the other channels untouched. Labels
 * are filled one after another on the result so far. Runs on the host, like KeepLargestConnectedComponent.
 */
export class FillHoles {
  readonly appliedLabels: readonly number[] | null;
  readonly connectivity: Connectivity;

  constructor(options: FillHolesOptions = {}) {
    const name = 'FillHoles';
    const labels = labelList(options.appliedLabels, 'appliedLabels', name);
    // MONAI reads a falsy applied_labels (0, []) as "every label"; a lone 0 (the background) is refused here instead
    if (options.appliedLabels === 0) throw new Error(`${name}: appliedLabels 0 is the background, never filled; give null for every label`);
    this.appliedLabels = labels && labels.length > 0 ? labels : null;
    this.connectivity = options.connectivity ?? 3;
    if (![1, 2, 3].includes(this.connectivity)) throw new Error(`${name}: connectivity must be 1, 2 or 3 (orthogonal hops in 3-D) or null, got ${options.connectivity}`);
  }

  async apply(img: Tensor): Promise<Tensor> {
    const name = 'FillHoles';
    const { values, C, shape, n, twoD } = await readCase(img, name);
    const onehot = C > 1;
    const labels = [...new Set(this.appliedLabels ?? presentLabels(values, C, n, onehot))].filter((l) => l !== 0).sort((a, b) => a - b);
    if (onehot) {
      const bad = labels.find((l) => !Number.isInteger(l) || l < 0 || l >= C);
      if (bad !== undefined) throw new Error(`${name}: appliedLabels ${bad} is not a channel of ${formatShape(img.shape)} (one-hot)`);
    }
    const [X, Y, Z] = shape;
    for (const label of labels) {
      const target = values.subarray(onehot ? label * n : 0, onehot ? (label + 1) * n : n);
      const outside = maskOf(target, onehot ? (v) => v === 0 : (v) => v !== label);
      const { labels: ids, sizes } = connectedComponents(outside, shape, this.connectivity);
      // the components of "not L" that touch a face of the volume are open; the others are holes
      const open = new Uint8Array(sizes.length);
      for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
        if (x === 0 || y === 0 || x === X - 1 || y === Y - 1 || (!twoD && (z === 0 || z === Z - 1))) open[ids[(x * Y + y) * Z + z]!] = 1;
      }
      for (let i = 0; i < n; i++) {
        const inHole = outside[i] === 1 && open[ids[i]!] === 0;
        if (onehot) target[i] = outside[i] === 1 && !inHole ? 0 : 1;
        else if (inHole) target[i] = label;
      }
    }
    return fromArray(values, img.shape, { dtype: img.dtype, backend: img.backend });
  }
}

export interface RemoveSmallObjectsOptions {
  /** Objects of fewer voxels (or, with byMeasure, of less volume) are removed. Default 64. */
  minSize?: number;
  /** skimage's connectivity over the case's 4 axes [C, X, Y, Z]: 1 (default) … 4, or null for 4 (a 2-D case [C, H, W]: 4 is 3). */
  connectivity?: 1 | 2 | 3 | 4 | null;
  /** Default true; false: the objects of all voxels > 0 together, their values kept. */
  independentChannels?: boolean;
  /** minSize in the units of `pixdim` (a volume): ⌈minSize / (voxel volume)⌉ voxels. Default false. */
  byMeasure?: boolean;
  /** The voxel spacing for byMeasure, one number or one per spatial axis ([x, y, z], or [h, w] in 2-D); default 1 (MONAI's without a MetaTensor). */
  pixdim?: number | readonly number[] | null;
}

/**
 * MONAI's `RemoveSmallObjects` (skimage's `remove_small_objects` on the whole case [C, X, Y, Z], or [C, H, W]) on one case:
 * - a case of values ≤ 1 (binary, one-hot): the objects are the connected components of the nonzero voxels over the
 *   four axes, so a voxel touches the same voxel in the next channel (and, for connectivity ≥ 2, its neighbours
 *   there; one-hot channels, being disjoint, stay apart at connectivity 1); those smaller than minSize become 0 and
 *   the rest 1;
 * - a case with a value above 1 (a class map): each integer label (values truncated) is one object, however many
 *   pieces it has, as skimage takes integer arrays as labelled already; labels with fewer than minSize voxels become 0;
 * - independentChannels false: the components of the voxels > 0, the kept voxels keeping their values.
 * A constant case comes back unchanged. Runs on the host; the result has the input's dtype and backend.
 */
export class RemoveSmallObjects {
  readonly minSize: number;
  readonly connectivity: 1 | 2 | 3 | 4;
  readonly independentChannels: boolean;
  readonly byMeasure: boolean;
  readonly pixdim: number | readonly number[] | null;

  constructor(options: RemoveSmallObjectsOptions = {}) {
    const name = 'RemoveSmallObjects';
    this.minSize = options.minSize ?? 64;
    if (!(Number.isFinite(this.minSize) && this.minSize >= 0)) throw new Error(`${name}: minSize must be a finite number ≥ 0, got ${options.minSize}`);
    this.connectivity = options.connectivity === null ? 4 : options.connectivity ?? 1;
    if (![1, 2, 3, 4].includes(this.connectivity)) throw new Error(`${name}: connectivity must be 1, 2, 3 or 4 (orthogonal hops over [C, X, Y, Z]) or null, got ${options.connectivity}`);
    this.independentChannels = options.independentChannels ?? true;
    this.byMeasure = options.byMeasure ?? false;
    const p = options.pixdim ?? null;
    const list = p === null ? null : typeof p === 'number' ? [p] : Array.isArray(p) && (p.length === 2 || p.length === 3) ? [...p] : [];
    if (list && !(list.length > 0 && list.every((s) => Number.isFinite(s) && s > 0))) {
      throw new Error(`${name}: pixdim must be a positive spacing or one per spatial axis, got ${JSON.stringify(p)}`);
    }
    // MONAI warns and ignores a pixdim without byMeasure
    if (list && !this.byMeasure) throw new Error(`${name}: pixdim is only used with byMeasure true`);
    this.pixdim = p === null ? null : typeof p === 'number' ? p : [...list!];
  }

  async apply(img: Tensor): Promise<Tensor> {
    const name = 'RemoveSmallObjects';
    const { values, C, shape, n, twoD } = await readCase(img, name);
    const back = (v: ArrayLike<number>) => fromArray(v, img.shape, { dtype: img.dtype, backend: img.backend });
    if (values.every((v) => v === values[0])) return back(values);
    const rank = twoD ? 2 : 3, p = this.pixdim ?? 1;
    if (typeof p !== 'number' && p.length !== rank) throw new Error(`${name}: pixdim has ${p.length} entries for a case of ${rank} spatial axes ${formatShape(img.shape)}`);
    const voxelVolume = typeof p === 'number' ? p ** rank : p.reduce((a, b) => a * b, 1);
    const minSize = this.byMeasure ? Math.ceil(this.minSize / voxelVolume) : this.minSize;
    let hi = -Infinity;
    for (const v of values) hi = Math.max(hi, v);
    if (this.independentChannels && hi > 1) {
      // skimage: an integer array is labelled already; each value is one object
      const ints = new Int32Array(values); // truncated, as numpy's astype(int32)
      const counts = new Map<number, number>();
      for (const v of ints) {
        if (v < 0) throw new Error(`${name}: a class map with negative labels (${v}); skimage refuses them`);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      return back(ints.map((v) => (counts.get(v)! < minSize ? 0 : v)));
    }
    const fg = maskOf(values, this.independentChannels ? (v) => v !== 0 : (v) => v > 0);
    const kept = keptComponents4d(fg, C, shape, n, this.connectivity, minSize);
    return back(this.independentChannels ? kept : values.map((v, i) => v * kept[i]!));
  }
}

/**
 * Which voxels of a binary case [C, X, Y, Z] lie in a connected component (over the four axes, at most `connectivity`
 * orthogonal hops, one of them possibly along the channels) of at least minSize voxels: each channel's components
 * (connectedComponents), then those of neighbouring channels joined where their voxels touch.
 */
function keptComponents4d(fg: Uint8Array, C: number, shape: Shape3, n: number, connectivity: 1 | 2 | 3 | 4, minSize: number): Uint8Array {
  const [X, Y, Z] = shape;
  const perChannel = Array.from({ length: C }, (_, c) => connectedComponents(fg.subarray(c * n, (c + 1) * n), shape, Math.min(connectivity, 3) as Connectivity));
  const offset = [0];
  perChannel.forEach(({ sizes }) => offset.push(offset[offset.length - 1]! + sizes.length));
  const parent = Int32Array.from({ length: offset[C]! }, (_, i) => i);
  const find = (i: number): number => { while (parent[i] !== i) { parent[i] = parent[parent[i]!]!; i = parent[i]!; } return i; };
  // a hop along the channels leaves connectivity − 1 hops for the spatial step: the offsets with that many nonzero entries
  const steps: Shape3[] = [];
  for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) for (let dz = -1; dz <= 1; dz++) {
    if (Math.abs(dx) + Math.abs(dy) + Math.abs(dz) <= connectivity - 1) steps.push([dx, dy, dz]);
  }
  for (let c = 0; c + 1 < C; c++) {
    const a = perChannel[c]!.labels, b = perChannel[c + 1]!.labels;
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      const ia = a[(x * Y + y) * Z + z]!;
      if (ia === 0) continue;
      for (const [dx, dy, dz] of steps) {
        const [u, v, w] = [x + dx, y + dy, z + dz];
        if (u < 0 || v < 0 || w < 0 || u >= X || v >= Y || w >= Z) continue;
        const ib = b[(u * Y + v) * Z + w]!;
        if (ib !== 0) parent[find(offset[c]! + ia)] = find(offset[c + 1]! + ib);
      }
    }
  }
  const total = new Float64Array(parent.length);
  perChannel.forEach(({ sizes }, c) => sizes.forEach((s, id) => { if (id > 0) total[find(offset[c]! + id)]! += s; }));
  const kept = new Uint8Array(C * n);
  perChannel.forEach(({ labels }, c) => {
    for (let i = 0; i < n; i++) if (labels[i] !== 0 && total[find(offset[c]! + labels[i]!)]! >= minSize) kept[c * n + i] = 1;
  });
  return kept;
}

export interface LabelFilterOptions {
  /** The labels kept; every other value becomes 0. */
  appliedLabels: number | readonly number[];
}

/**
 * MONAI's `LabelFilter`: the values equal to one of `appliedLabels` stay, the rest become 0, on a tensor of any shape
 * (on its backend; a new tensor of its dtype).
 */
export class LabelFilter {
  readonly appliedLabels: readonly number[];

  constructor(options: LabelFilterOptions) {
    const labels = labelList(options?.appliedLabels, 'appliedLabels', 'LabelFilter');
    if (!labels) throw new Error('LabelFilter: appliedLabels is required (a label or a list of labels)');
    this.appliedLabels = labels;
  }

  apply(img: Tensor): Tensor {
    checkTensor(img, 'LabelFilter');
    return tidy(() => {
      if (this.appliedLabels.length === 0) return full(img.shape, 0, { dtype: img.dtype, backend: img.backend });
      const zero = full([], 0, { dtype: img.dtype, backend: img.backend });
      const keep = this.appliedLabels.map((l) => eq(img, l)).reduce((a, b) => logicalOr(a, b));
      return where(keep, img, zero);
    });
  }
}

export interface LabelToContourOptions {
  /** The edge detector; MONAI has only 'Laplace' (the default). */
  kernelType?: 'Laplace';
}

/**
 * MONAI's `LabelToContour` on one case [C, X, Y, Z] (or a 2-D one [C, H, W]): each channel convolved with the
 * Laplace kernel (26 at the centre, −1 at the 26 neighbours; 8 and −1 in 2-D), zeros beyond the edges, clamped to
 * [0, 1]. For a binary mask that is 1 exactly on the foreground voxels with a background neighbour (or on the volume's
 * border). On the tensor's backend; the result has its dtype.
 */
export class LabelToContour {
  readonly kernelType: 'Laplace';

  constructor(options: LabelToContourOptions = {}) {
    this.kernelType = options.kernelType ?? 'Laplace';
    if (this.kernelType !== 'Laplace') throw new Error(`LabelToContour: kernelType must be 'Laplace' (MONAI's only one), got ${JSON.stringify(options.kernelType)}`);
  }

  apply(img: Tensor): Tensor {
    const name = 'LabelToContour';
    checkTensor(img, name);
    if (img.rank !== 3 && img.rank !== 4) throw new Error(`${name}: expected one case [C, X, Y, Z] or a 2-D one [C, H, W], got ${formatShape(img.shape)}`);
    const twoD = img.rank === 3;
    const kernel = twoD ? [3, 3, 1] : [3, 3, 3];
    const taps = kernel[0]! * kernel[1]! * kernel[2]!;
    const weights = Array.from({ length: taps }, (_, i) => (i === (taps - 1) / 2 ? taps - 1 : -1));
    return tidy(() => {
      const float = img.dtype === 'int32' ? cast(img, 'float32') : img;
      const [C, ...spatial] = img.shape;
      const x = reshape(float, [C!, 1, ...spatial, ...(twoD ? [1] : [])]);
      const w = fromArray(weights, [1, 1, ...kernel], { dtype: float.dtype, backend: img.backend });
      const y = clamp(conv3d(x, w, null, { padding: [1, 1, twoD ? 0 : 1] }), 0, 1);
      return cast(reshape(y, img.shape), img.dtype);
    });
  }
}
