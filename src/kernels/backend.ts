/**
 * The contract between the tensor layer and the two backends (WGSL on WebGPU, plain TypeScript on the
 * cpu). Raw operations on storages: no gradients, no reference counts, no broadcasting rules beyond what
 * a strided view expresses (a broadcast dimension is a stride of 0). Every operation has a cpu version,
 * the oracle its WGSL version is tested against.
 */

export type DType = 'float32' | 'int32' | 'float64';
export type TypedArray = Float32Array | Int32Array | Float64Array;
export type BackendName = 'cpu' | 'webgpu';

/**
 * F.grid_sample's options (3-D). The grid holds normalised coordinates in [−1, 1], (x, y, z) → (W, H, D);
 * a coordinate g along an axis of size S becomes the voxel position ((g + 1)/2)·(S − 1) with alignCorners,
 * ((g + 1)·S − 1)/2 without. 'bilinear' (trilinear in 3-D, PyTorch's name) weighs the 8 corners around it,
 * 'nearest' takes the voxel at its half-to-even rounding. paddingMode 'zeros' reads 0 outside the volume,
 * 'border' clamps the position into [0, S − 1] first (the grid gradient is 0 where it clamps), 'reflection'
 * mirrors it at the extreme voxels' centres (alignCorners) or outer edges (without) into that range, then clamps.
 */
export interface GridSampleParams {
  mode: 'bilinear' | 'nearest';
  paddingMode: 'zeros' | 'border' | 'reflection';
  alignCorners: boolean;
}

/** A flat block of elements owned by one backend. Freed only through `Backend.free`. */
export interface Storage {
  readonly backend: BackendName;
  readonly dtype: DType;
  /** Number of elements. */
  readonly length: number;
}

/** Elements of `storage` at `offset + Σ index[i]·strides[i]`, for every index inside `shape`. */
export interface View {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'square' | 'reciprocal'
  | 'relu' | 'sigmoid' | 'tanh' | 'softplus'
  /** the error function 2/√π ∫₀ˣ e^(−t²) dt */
  | 'erf'
  /** x^a (params [a]) */
  | 'powScalar'
  /** min(max(x, lo), hi) (params [lo, hi]) */
  | 'clamp'
  /** x > 0 ? x : slope·x (params [slope]) */
  | 'leakyRelu'
  /** a·x + b (params [a, b]): scalar add/mul without a constant tensor */
  | 'affine'
  /** x > t ? 1 : 0 (params [t]) */
  | 'step'
  /** 1 where lo ≤ x ≤ hi, else 0 (params [lo, hi]; NaN gives 0): the mask of clamp's gradient, as PyTorch's */
  | 'inRange'
  /**
   * x rounded to the nearest float16 value (ties to even; f16 subnormals kept; |x| ≥ 65520 → ±Inf; NaN stays NaN,
   * −0 stays −0), kept in x's dtype: what a kernel reading x as f16 sees
   */
  | 'roundToFloat16'
  /** torch.round (halves to even, as WGSL's round), floor, ceil, trunc; the identity on int32 */
  | 'round' | 'floor' | 'ceil' | 'trunc';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow'
  /** comparisons give 1 or 0 in the inputs' dtype */
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  /** b > 0 ? a : 0: relu's backward in one pass (a the output's gradient, b relu's output) */
  | 'reluBackward';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface Conv3dParams {
  stride: [number, number, number];
  padding: [number, number, number];
  dilation: [number, number, number];
}

export interface Pool3dParams {
  kernel: [number, number, number];
  stride: [number, number, number];
  padding: [number, number, number];
  /** PyTorch's ceil_mode (default false): the output size rounds up, the last window starting inside the input or its left padding */
  ceilMode?: boolean;
  /** avgPool3d: divide every window's sum by this nonzero integer instead (PyTorch's divisor_override) */
  divisorOverride?: number;
  /** maxPool3d only (as PyTorch): the spacing of a window's taps (default 1) */
  dilation?: [number, number, number];
}

export interface SgdParams {
  lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number;
  /** the first step initialises the momentum buffer with the gradient (PyTorch) */
  firstStep: boolean;
}

/** one parameter of sgdSteps: its momentum buffer is needed when the momentum is not 0 */
export interface SgdItem { param: Storage; grad: Storage; momentumBuffer: Storage | null; firstStep: boolean }

export interface AdamParams {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  /** AdamW: weight decay applied to the parameter, not added to the gradient */
  decoupled: boolean;
}

/**
 * one parameter of adamSteps: its state (exp_avg, exp_avg_sq) and its own 1-based step count; with adamSteps'
 * `deviceSteps`, `step` is instead the index in `counts` of its count of steps taken so far. With `maxExpAvgSq`
 * (PyTorch's amsgrad max_exp_avg_sq) it becomes max(itself, the new exp_avg_sq), and the step divides by its root.
 */
export interface AdamItem { param: Storage; grad: Storage; expAvg: Storage; expAvgSq: Storage; step: number; maxExpAvgSq?: Storage | null }

/**
 * adamSteps decided on the device (PyTorch's capturable fused Adam with found_inf): the step counts (float32, read
 * at each item's `step`; this step is count + 1, the bias corrections computed from it in float32) and the flag of
 * ampNonFiniteCheckAndUnscale: when it is set, nothing is written. The counts are advanced by the caller.
 */
export interface AdamDeviceSteps { counts: Storage; foundInf: Storage }

/**
 * torch.optim.RMSprop's hyperparameters: d = g + wd·w (wd ≠ 0), v = αv + (1 − α)d²; centered: ḡ = αḡ + (1 − α)d and
 * σ = √(v − ḡ²) + ε, else σ = √v + ε; with momentum μ > 0: b = μb + d/σ, w −= lr·b; else w −= lr·d/σ
 */
export interface RmspropParams { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean }

/** one parameter of rmspropSteps: square_avg always, grad_avg exactly when centered, momentum_buffer exactly when momentum > 0 */
export interface RmspropItem { param: Storage; grad: Storage; squareAvg: Storage; gradAvg: Storage | null; momentumBuffer: Storage | null }

/**
 * How an index check's failure is worded (by the cpu oracle at once, by the WebGPU kernels at the next readback):
 * `key` names the wording (registered once per runtime), `describe` words an index outside [0, bound) at `element`
 */
export interface IndexCheckWording { key: string; describe: (index: number, bound: number, element: number) => string }

/** a loss scaler's hyperparameters (torch.amp.GradScaler's) */
export interface AmpScaleUpdate { growthFactor: number; backoffFactor: number; growthInterval: number }

export interface CdtParams {
  /** half width of the cubic window in voxels */
  radius: number;
  /** temperature of the soft minimum, in voxels */
  h: number;
  /** floor of p inside the logarithm */
  eps: number;
}

/**
 * A contiguous operand seen as [outer, channels, inner]: channel k holds x[o, k, i] for every o and i. Batch
 * norm: [N, C, D·H·W]; instance norm: [1, N·C, D·H·W]; group norm's statistics: [1, N·G, (C/G)·D·H·W].
 */
export interface ChannelLayout { outer: number; channels: number; inner: number }

/**
 * A normalisation as its kernels see it: x as the channels of a ChannelLayout, channel k normalised by the
 * statistics of group ⌊k / perGroup⌋ and scaled by the parameters of channel k mod params.
 *   batch norm [N, C, …]:   outer N, channels C,   perGroup 1,   params C
 *   instance norm:          outer 1, channels N·C, perGroup 1,   params C
 *   group norm (G groups):  outer 1, channels N·C, perGroup C/G, params C
 * The statistics are those of the layout [outer, channels / perGroup, perGroup·inner] (what moments takes).
 */
export interface NormLayout extends ChannelLayout { perGroup: number; params: number }

/** Batch norm's running statistics to update in place from a batch's (see Backend.updateRunningStats). */
export interface RunningStatsUpdate { mean: Storage | null; variance: Storage | null; momentum: number; count: number }

/**
 * What a normalisation kernel derives its per-channel coefficients from: the mean and biased variance of each
 * group ([channels / perGroup]), weight and bias ([params]; null: 1 and 0), and eps: channel k of group s and
 * parameter p computes y = rstd[s]·weight[p]·(x − mean[s]) + bias[p], rstd = 1/√(variance + eps).
 */
export interface NormTerms {
  mean: Storage;
  variance: Storage;
  weight: Storage | null;
  bias: Storage | null;
  eps: number;
}

/**
 * What a convolution's final write applies to each output value v (after its sum and its bias): batch norm by
 * fixed statistics (evaluation mode: the running ones), one statistics group per output channel, as the
 * normalize kernel computes it (NormTerms: rstd·weight·(v − mean) + bias), then, with `relu`, max(0, ·) keeping
 * NaN. Inference only: the epilogue has no backward.
 */
export interface ConvNormEpilogue { norm: NormTerms; relu: boolean }

/**
 * A loss pooled over each row of [rows, n] operands in one fused reduction (kernels/loss); w is the optional
 * per-element weight (1 when absent), the sums per row are kept for the backward:
 *  'dice' (p, y, w):  I = Σ w·p·y, P = Σ w·p², Y = Σ w·y²;  loss 1 − (2I + smooth)/(P + Y + smooth)
 *  'bce' (x, y):      S = Σ y·softplus(−x) + (1 − y)·softplus(x) (binary cross entropy with logits);  loss scale·S
 *  'mse' (a, b, w):   S = Σ w·(a − b)², W = Σ w;  loss S/(W + eps) with a weight, scale·S without
 *  'l1' (a, b):       S = Σ |a − b|;  loss scale·S (DBiSL's mean uncertainty; the gradient takes sign(0) = 0)
 */
export type RowLoss = { kind: 'dice'; smooth: number } | { kind: 'bce'; scale: number } | { kind: 'mse'; scale: number; eps: number }
  | { kind: 'l1'; scale: number };

/** An operand of a row loss: element i of row r at offset + r·rowStride + i; rowStride ≥ n, or 0 (one row for every row). */
export interface RowOperand { storage: Storage; offset: number; rowStride: number }

/** A row loss's operands (its two inputs, then the weight or null) and their [rows, n] layout. */
export interface RowLossInputs { operands: readonly [RowOperand, RowOperand, RowOperand | null]; rows: number; n: number }

/** an input of lossTotal: the `length` elements of `storage` from `offset` (a tensor whose gradient lossTotalBackward writes) */
export interface LossInput { storage: Storage; offset: number; length: number }

/** an operand of a lossTotal item: element i of row r at offset + r·rowStride + i of inputs[input]; rowStride ≥ n, or 0 */
export interface ItemOperand { input: number; offset: number; rowStride: number }

/** a row loss of lossTotal: its kind, its [rows, n] layout and operands (two inputs, then the weight or null) */
export interface LossItem { loss: RowLoss; rows: number; n: number; operands: readonly [ItemOperand, ItemOperand, ItemOperand | null] }

/**
 * A loss's weighted total of row losses in one reduction (kernels/loss): the items' losses, one per row (the rows of
 * the items in order), each group's weightedSum of its rows (`group[j]`: row j's group, −1 for a row computed but in no
 * group; `weights[j]` its weight), and the total Σ_k groupWeights[k]·S_k, summed as weightedSums sums.
 */
export interface LossTotal {
  inputs: readonly LossInput[];
  items: readonly LossItem[];
  group: readonly number[];
  weights: readonly number[];
  groupWeights: readonly number[];
}

/** a part of scaledSigmoid: σ(a·x) of the n elements of x from offset */
export interface SigmoidPart { x: Storage; offset: number; n: number; a: number }

/** the uncertainty weight of DBiSL's L_pse from the disagreement d: exp(−γ·d), or the mask 1[τ − d > 0] */
export type PseudoWeighting = { kind: 'exp'; gamma: number } | { kind: 'mask'; tau: number };

/** a term of weightedSum: the weights.length consecutive elements of `storage` from `offset`, each with its weight */
export interface WeightedTerm { storage: Storage; offset: number; weights: readonly number[] }

/** a group of weightedSums: its terms' weighted sum, weighted in turn by `weight` in the total */
export interface WeightedGroup { terms: readonly WeightedTerm[]; weight: number }

/**
 * pseudoLabel reads p at [pOffset, pOffset + n) and q at [qOffset, qOffset + n) and writes, per element i, with a = p,
 * b = q and each step rounded as the composed ops round it: pseudo[h + i] = 1[a + b > 1], after a copy of the h = head.n
 * elements of `head` (the label rows, for one CDT pass over both); with a weighting also weight[i] = exp(−γ·|a − b| + 0)
 * or 1[−|a − b| + τ > 0].
 */
export interface PseudoLabelParams {
  pOffset: number; qOffset: number; n: number; head: { storage: Storage; offset: number; n: number } | null; weighting: PseudoWeighting | null;
}

export interface MemoryStats {
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
}

/** A backend's own part: identity, memory, transfers and synchronisation. */
export interface BackendCore {
  readonly name: BackendName;
  /** one line: adapter, backend, feature level (or 'cpu') */
  readonly description: string;
  /** largest storage in bytes one kernel may bind */
  readonly maxStorageBytes: number;

  alloc(length: number, dtype: DType): Storage;
  free(storage: Storage): void;
  upload(data: TypedArray, dtype: DType): Storage;
  read(storage: Storage): Promise<TypedArray>;
  fill(length: number, value: number, dtype: DType): Storage;
  memory(): MemoryStats;
  /** the highest liveBytes since creation or the last resetPeakMemory() */
  peakMemory(): number;
  resetPeakMemory(): void;
  /** finish all queued work (a GPU sync) */
  sync(): Promise<void>;
  dispose(): void;
}

/**
 * The kernels' part: each method is provided by one kernel family (`<family>/index.ts`, listed in registry.ts)
 * with a cpu oracle and a WebGPU implementation.
 */
export interface KernelOps {
  /** a contiguous copy of any strided view */
  copy(x: View): Storage;
  /** write `src` into the positions of `dst` (same shape); dst.storage is modified in place */
  copyInto(dst: View, src: View): void;
  /** dst += src elementwise (same shape), in place: one pass instead of a binary add and a copyInto, with the same values */
  addInto(dst: View, src: View): void;
  cast(x: View, dtype: DType): Storage;

  unary(op: UnaryOp, x: View, params?: readonly number[]): Storage;
  /** a and b already have the output shape (broadcast dimensions carry stride 0) */
  binary(op: BinaryOp, a: View, b: View): Storage;
  /** cond ≠ 0 ? a : b, all three already of the output shape */
  where(cond: View, a: View, b: View): Storage;

  /** reduce the listed axes away (output shape = the other axes, in order) */
  reduce(op: ReduceOp, x: View, axes: readonly number[]): Storage;
  /** int32 index along `axis` of the max (first on ties), that axis removed */
  argmax(x: View, axis: number): Storage;

  /**
   * The statistics of a normalisation: per channel of `layout`, the mean and the biased variance of x (a
   * float storage of outer·channels·inner elements), each [channels]. Welford-style or two-pass, never
   * E[x²] − E[x]² (which cancels when |mean| ≫ std). With `running`, also updates batch norm's running
   * statistics from them as updateRunningStats does, bit for bit (in the same pass on WebGPU: no dispatch of its own).
   */
  moments(x: Storage, layout: ChannelLayout, running?: RunningStatsUpdate | null): { mean: Storage; variance: Storage };
  /**
   * A normalisation's forward in one elementwise pass: y = rstd·weight·(x − mean) + bias per channel (see
   * NormTerms), with `relu` max(0, y) (the fused norm + ReLU of a layer block).
   */
  normalize(x: Storage, terms: NormTerms, layout: NormLayout, relu: boolean): Storage;
  /**
   * The sums of a normalisation's backward, per channel k of `layout` ([channels] each): Σ g' and Σ g'·x̂ with
   * x̂ = (x − mean)·rstd from `terms` (weight and bias unused) and g' = g, or g·[y > 0] when the forward's
   * output y of a fused ReLU is given. For batch norm (one sample) they are the weight and bias gradients.
   */
  normSums(g: Storage, x: Storage, y: Storage | null, terms: NormTerms, layout: NormLayout): { sum: Storage; dot: Storage };
  /**
   * A normalisation's input gradient in one elementwise pass, g' as in normSums. Without `sums` (fixed
   * statistics, e.g. batch norm in evaluation): dx = rstd·weight·g'. With the normSums of the batch statistics,
   * h = g'·weight and means over each statistics group of n = outer·perGroup·inner elements:
   * dx = rstd·(h − mean(h) − x̂·mean(h·x̂)), where mean(h) = Σ_group weight·sum / n and mean(h·x̂) = Σ_group weight·dot / n.
   */
  normBackward(g: Storage, x: Storage, y: Storage | null, terms: NormTerms, sums: { sum: Storage; dot: Storage } | null,
    layout: NormLayout): Storage;
  /**
   * Batch norm's running statistics, in place (each [channels], either may be absent):
   * runningMean = (1 − momentum)·runningMean + momentum·mean and
   * runningVar = (1 − momentum)·runningVar + momentum·variance·count/(count − 1) (the unbiased batch variance).
   */
  updateRunningStats(runningMean: Storage | null, runningVar: Storage | null, stats: { mean: Storage; variance: Storage },
    momentum: number, count: number): void;

  /**
   * Batched matmul: a [batch, m, k] and b [batch, k, n], contiguous; a batch stride of 0 broadcasts one
   * matrix over the batch. Output [batch, m, n].
   */
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number,
    aBatchStride: number, bBatchStride: number): Storage;
  /**
   * torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along axis; index int32 of the output shape. An
   * index out of range is worded by `wording` when given (an op that gathers by its own indices, as a loss's class
   * targets), else as gather's
   */
  gather(x: Storage, xShape: readonly number[], axis: number, index: Storage, indexShape: readonly number[], wording?: IndexCheckWording): Storage;
  /** the adjoint of gather: out of shape xShape, zeros plus src summed into the gathered positions */
  scatterAdd(src: Storage, indexShape: readonly number[], axis: number, index: Storage, xShape: readonly number[]): Storage;
  /** F.one_hot: the first `count` int32 indices → int32 [count, numClasses], 1 at each index */
  oneHot(indices: Storage, count: number, numClasses: number): Storage;

  /** x [N, Ci, D, H, W], w [Co, Ci, kd, kh, kw], bias [Co] or null; contiguous; `epilogue`: a batch norm (+ ReLU)
   * applied in the same write */
  conv3d(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null,
    p: Conv3dParams, epilogue?: ConvNormEpilogue | null): Storage;
  /** gradient of conv3d w.r.t. its input, of shape xShape (also convTranspose3d's forward, whose `bias` [Ci] it
   * adds to the sum and whose `epilogue` it applies after, both in the same write) */
  conv3dBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
    xShape: readonly number[], p: Conv3dParams, bias?: Storage | null, epilogue?: ConvNormEpilogue | null): Storage;
  /** gradient of conv3d w.r.t. its weight, of shape wShape */
  conv3dBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
    wShape: readonly number[], p: Conv3dParams): Storage;
  /**
   * conv3d with `groups` groups (PyTorch's): x [N, G·Cg, D, H, W], w [G·Mg, Cg, kd, kh, kw], output channel co
   * reads the input channels of group ⌊co / Mg⌋ only; one kernel for all groups (made for few channels per group:
   * depthwise convolutions)
   */
  conv3dGrouped(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null,
    p: Conv3dParams, groups: number): Storage;
  /** gradient of conv3dGrouped w.r.t. its input, of shape xShape */
  conv3dGroupedBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
    xShape: readonly number[], p: Conv3dParams, groups: number): Storage;
  /** gradient of conv3dGrouped w.r.t. its weight, of shape wShape */
  conv3dGroupedBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
    wShape: readonly number[], p: Conv3dParams, groups: number): Storage;

  /** values and int32 argmax (flat index inside the input's D·H·W volume), as PyTorch's return_indices */
  maxPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): { values: Storage; indices: Storage };
  maxPool3dBackward(gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): Storage;
  /**
   * F.max_unpool3d: zeros of [N, C, ...outSize] with x's values written where the int32 indices (flat inside each
   * (N, C) output volume, x's shape) point; where several name one voxel, the last in C order wins (PyTorch's cpu
   * loop on one thread)
   */
  maxUnpool3d(x: Storage, indices: Storage, xShape: readonly number[], outSize: readonly [number, number, number]): Storage;
  /** count_include_pad = true (PyTorch's default) */
  avgPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): Storage;
  avgPool3dBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): Storage;
  /** with `scales` (PyTorch's scales_d/h/w, the scale factors given) coordinates map by 1/scale, else by in/out */
  interpolate(x: Storage, xShape: readonly number[], size: readonly [number, number, number],
    mode: 'nearest' | 'nearest-exact' | 'trilinear', alignCorners: boolean, scales?: readonly [number, number, number]): Storage;
  interpolateBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[],
    mode: 'nearest' | 'nearest-exact' | 'trilinear', alignCorners: boolean, scales?: readonly [number, number, number]): Storage;
  /** F.grid_sample of x [N, C, D, H, W] at grid [N, Do, Ho, Wo, 3] (see GridSampleParams): [N, C, Do, Ho, Wo] */
  gridSample(x: Storage, xShape: readonly number[], grid: Storage, gridShape: readonly number[], p: GridSampleParams): Storage;
  /** gradient of gridSample w.r.t. x (each output's gradient spread onto its corners), of shape xShape */
  gridSampleBackwardInput(gy: Storage, grid: Storage, gridShape: readonly number[], xShape: readonly number[],
    p: GridSampleParams): Storage;
  /** gradient of gridSample w.r.t. the grid, of shape gridShape (zero for 'nearest') */
  gridSampleBackwardGrid(gy: Storage, x: Storage, xShape: readonly number[], grid: Storage, gridShape: readonly number[],
    p: GridSampleParams): Storage;

  /**
   * Dropout keep-mask scaled by 1/(1 − p): shape [N, C, ...rest]; with `channelwise` one draw per (n, c).
   * Deterministic in (seed, element) on one backend.
   */
  dropoutMask(shape: readonly number[], p: number, seed: number, channelwise: boolean, dtype: DType): Storage;

  /** the log-domain convolutional distance transform of p [N, 1, D, H, W] (unclamped, in voxels) */
  cdt(p: Storage, shape: readonly number[], params: CdtParams): Storage;
  /** gradient of cdt w.r.t. p given the output and its gradient */
  cdtBackward(p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): Storage;
  /**
   * DBiSL's signed map (clamp(D[p], 0, ρ) − clamp(D[1 − p], 0, ρ))·(1/ρ) with D = cdt, both distances in one pass;
   * with `keepDistances` also D[p] and D[1 − p] as the two planes of one storage [2, ...shape] (what
   * cdtSignedBackward reads), else without `distances`
   */
  cdtSigned(p: Storage, shape: readonly number[], params: CdtParams, keepDistances: boolean): { signed: Storage; distances?: Storage };
  /**
   * gradient of cdtSigned w.r.t. p given its distances and the output's gradient (the clamps' masks included); with
   * `addend` (a storage of p's size) that gradient + addend, element by element (the floats of an add after it)
   */
  cdtSignedBackward(p: Storage, distances: Storage, gOut: Storage, shape: readonly number[], params: CdtParams, addend?: Storage): Storage;

  /** in place: param, momentum buffer */
  sgdStep(param: Storage, grad: Storage, momentumBuffer: Storage | null, p: SgdParams): void;
  /**
   * sgdStep of several parameters with one group's hyperparameters (few dispatches: several parameters each); with
   * `foundInf` (a flag of ampNonFiniteCheckAndUnscale), nothing is written when it is set, decided on the device
   */
  sgdSteps(items: readonly SgdItem[], p: Omit<SgdParams, 'firstStep'>, foundInf?: Storage | null): void;
  /** a fused loss per row (see RowLoss): the losses [rows] and their sums [rows·3] (unused sums 0) */
  rowLoss(loss: RowLoss, inputs: RowLossInputs): { loss: Storage; sums: Storage };
  /** the gradients of Σ_r g[r]·loss[r] w.r.t. the operands `wanted` names, in operand order, each [rows·n], in one pass */
  rowLossBackward(loss: RowLoss, inputs: RowLossInputs, sums: Storage, g: Storage, wanted: readonly [boolean, boolean, boolean]): Storage[];

  /**
   * lossTotal's values [R + G + 1] (the R item rows' losses, the G groups' sums, the total) and the rows' sums [3R], in
   * one reduction (two passes: chunks, then rows and sums)
   */
  lossTotal(total: LossTotal): { values: Storage; sums: Storage };
  /**
   * the gradient of the total (g [1]) w.r.t. each input `wanted` names (in input order, each of the input's length, 0
   * where no item reads it): each item's rowLossBackward with g[r] = w_r·(W·g + 0) + 0 (no factor where it is 1),
   * summed per element over the items in order, in one pass
   */
  lossTotalBackward(total: LossTotal, sums: Storage, g: Storage, wanted: readonly boolean[]): Storage[];

  /**
   * Adam's or AdamW's step of several parameters with one group's hyperparameters (few dispatches: several parameters
   * each), in place: param, exp_avg, exp_avg_sq (and max_exp_avg_sq); with
   * `deviceSteps`, the step counts are read on the device and nothing is written when its found-inf flag is set
   */
  adamSteps(items: readonly AdamItem[], p: AdamParams, deviceSteps?: AdamDeviceSteps | null): void;
  /**
   * RMSprop's step of several parameters with one group's hyperparameters (few dispatches: several parameters each),
   * in place: param, square_avg, grad_avg, momentum_buffer; with `foundInf`, nothing is written when it is set
   */
  rmspropSteps(items: readonly RmspropItem[], p: RmspropParams, foundInf?: Storage | null): void;
  /**
   * device step counts (float32) advanced in one pass: counts[i] += 1 − foundInf[0] (1 without a flag) for each index
   * i in `stepped` (int32), or for every count when it is null (PyTorch's capturable steps += 1, −= found_inf)
   */
  advanceStepCounts(counts: Storage, stepped: Storage | null, foundInf?: Storage | null): void;

  /**
   * torch._amp_foreach_non_finite_check_and_unscale_: every gradient × (1 / scale[0]) in place (few dispatches:
   * several gradients each), and foundInf[0] set to 1 when any incoming value is NaN or Inf (else left as it is)
   */
  ampNonFiniteCheckAndUnscale(grads: readonly Storage[], foundInf: Storage, scale: Storage): void;
  /** torch._amp_update_scale_, in place on the device: the scale and growth tracker after a step with these flags */
  ampUpdateScale(scale: Storage, growthTracker: Storage, foundInf: readonly Storage[], p: AmpScaleUpdate): void;

  /**
   * σ(a·x) of each part (its n elements of x from offset, its own a), the parts one after another in one storage, in
   * one pass: the floats of sigmoid(affine(x, a, 0)), of sigmoid(x) where a = 1 (DBiSL's Ŷ = σ(z) and T_r2s(R̂) = σ(−k·R̂))
   */
  scaledSigmoid(parts: readonly SigmoidPart[]): Storage;
  /**
   * its gradient from the output y (n elements from yOffset): (g·(y·(1 − y)))·a + 0 (no scaling when a = 1), the composed
   * ops' floats; with `addend` (n elements) that gradient + addend, element by element (the floats of an add after it)
   */
  scaledSigmoidBackward(y: Storage, yOffset: number, g: Storage, n: number, a: number, addend?: Storage): Storage;
  /** DBiSL's pseudo-label 1[p + q > 1] after a copied head and, with a weighting, the weight of |p − q| (PseudoLabelParams) */
  pseudoLabel(p: Storage, q: Storage, params: PseudoLabelParams): { pseudo: Storage; weight?: Storage };
  /**
   * [1]: Σ over the terms' elements, in order, of w·t (t itself where w = 1), each product and partial sum rounded as
   * an affine and an add round it: a loss's weighted combination of its scalar terms in one dispatch (on WebGPU, while the
   * terms fit one dispatch's bindings and parameter block; beyond, a sum continued over dispatches in the same order)
   */
  weightedSum(terms: readonly WeightedTerm[]): Storage;
  /**
   * [m + 1] for m groups: each group's weightedSum S_k, then the weightedSum of the S_k with the groups' weights (a
   * loss's terms and its weighted sub-totals, e.g. L_sup + λ·(L_con,1 + L_con,2) + λ·L_pse, in one dispatch where they fit)
   */
  weightedSums(groups: readonly WeightedGroup[]): Storage;
  /**
   * weightedSum's gradient, one storage per term of `weights`: w·g + 0 per element (g itself where w = 1), in one
   * dispatch where they fit; with `scales` (one per term: its group's weight in weightedSums) w·(s·g + 0) + 0, each factor 1 skipped
   */
  weightedSumBackward(weights: readonly (readonly number[])[], g: Storage, scales?: readonly number[]): Storage[];
}

export interface Backend extends BackendCore, KernelOps {}

export type KernelMethod = keyof KernelOps;

export const bytesPerElement: Record<DType, number> = { float32: 4, int32: 4, float64: 8 };

export function typedArrayFor(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'float64': return new Float64Array(length);
  }
}
