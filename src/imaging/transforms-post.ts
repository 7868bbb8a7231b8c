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
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

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
