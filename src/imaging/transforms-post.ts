/**
 * MONAI's post-processing transforms on tensors (monai/transforms/post/array.py): what turns a network's output into
 * the binarized channels the metric classes take (`callBatch`). They run on the tensor's backend (the GPU with
 * WebGPU) and return a new tensor owned by the caller; the input is left as it is. Channel-first as MONAI's: the
 * channel axis is `dim` 0 of one case [C, X, Y, Z], or `dim: 1` for a batch [B, C, X, Y, Z].
 */
import { argmax, cast, ge, oneHot, permute, reshape, round, sigmoid, squeeze } from '../autograd/ops.js';
import { softmax } from '../autograd/nn.js';
import type { DType } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import { fromArray } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { largestComponents, type Connectivity } from './metrics.js';
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
    const foreground = (label: number): Uint8Array => (onehot ? Uint8Array.from(channel(label), (v) => (v > 0 ? 1 : 0)) : Uint8Array.from(values, (v) => (v === label ? 1 : 0)));
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
