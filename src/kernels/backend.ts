/**
 * The contract between the tensor layer and the two backends (WGSL on WebGPU, plain TypeScript on the
 * cpu). Raw operations on storages: no gradients, no reference counts, no broadcasting rules beyond what
 * a strided view expresses (a broadcast dimension is a stride of 0). Every operation has a cpu version,
 * the oracle its WGSL version is tested against.
 */

export type DType = 'float32' | 'int32' | 'float64';
export type TypedArray = Float32Array | Int32Array | Float64Array;
export type BackendName = 'cpu' | 'webgpu';

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
  /** x^a (params [a]) */
  | 'powScalar'
  /** min(max(x, lo), hi) (params [lo, hi]) */
  | 'clamp'
  /** x > 0 ? x : slope·x (params [slope]) */
  | 'leakyRelu'
  /** a·x + b (params [a, b]): scalar add/mul without a constant tensor */
  | 'affine'
  /** x > t ? 1 : 0 (params [t]) */
  | 'step';

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
}

export interface SgdParams {
  lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number;
  /** the first step initialises the momentum buffer with the gradient (PyTorch) */
  firstStep: boolean;
}

export interface AdamParams {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  /** AdamW: weight decay applied to the parameter, not added to the gradient */
  decoupled: boolean;
  /** 1-based step count for bias correction */
  step: number;
}

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

/** The per-channel terms of channelAffine: contiguous storages of `channels` elements; null drops a term. */
export interface ChannelAffineTerms {
  a: Storage;
  m: Storage | null;
  /** given exactly when the second operand v is */
  b: Storage | null;
  c: Storage | null;
}

export interface MemoryStats {
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
}

export interface Backend {
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

  /** a contiguous copy of any strided view */
  copy(x: View): Storage;
  /** write `src` into the positions of `dst` (same shape); dst.storage is modified in place */
  copyInto(dst: View, src: View): void;
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
   * E[x²] − E[x]² (which cancels when |mean| ≫ std).
   */
  moments(x: Storage, layout: ChannelLayout): { mean: Storage; variance: Storage };
  /**
   * The sums of a normalisation's backward, per channel of `layout`: Σ u and Σ u·(v − m[k]) over the channel's
   * elements (u, v of outer·channels·inner elements, m [channels]), each [channels].
   */
  channelSums(u: Storage, v: Storage, m: Storage, layout: ChannelLayout): { sum: Storage; dot: Storage };
  /**
   * out[i] = a[k]·(u[i] − m[k]) + b[k]·v[i] + c[k], k the channel of element i in `layout` (absent terms are
   * dropped): a normalisation's forward, or its input gradient, in one elementwise pass.
   */
  channelAffine(u: Storage, v: Storage | null, terms: ChannelAffineTerms, layout: ChannelLayout): Storage;

  /**
   * Batched matmul: a [batch, m, k] and b [batch, k, n], contiguous; a batch stride of 0 broadcasts one
   * matrix over the batch. Output [batch, m, n].
   */
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number,
    aBatchStride: number, bBatchStride: number): Storage;
  /** torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along axis; index int32 of the output shape */
  gather(x: Storage, xShape: readonly number[], axis: number, index: Storage, indexShape: readonly number[]): Storage;
  /** the adjoint of gather: out of shape xShape, zeros plus src summed into the gathered positions */
  scatterAdd(src: Storage, indexShape: readonly number[], axis: number, index: Storage, xShape: readonly number[]): Storage;

  /** x [N, Ci, D, H, W], w [Co, Ci, kd, kh, kw], bias [Co] or null; contiguous */
  conv3d(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null,
    p: Conv3dParams): Storage;
  /** gradient of conv3d w.r.t. its input, of shape xShape (also convTranspose3d's forward) */
  conv3dBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
    xShape: readonly number[], p: Conv3dParams): Storage;
  /** gradient of conv3d w.r.t. its weight, of shape wShape */
  conv3dBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
    wShape: readonly number[], p: Conv3dParams): Storage;

  /** values and int32 argmax (flat index inside the input's D·H·W volume), as PyTorch's return_indices */
  maxPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): { values: Storage; indices: Storage };
  maxPool3dBackward(gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): Storage;
  /** count_include_pad = true (PyTorch's default) */
  avgPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): Storage;
  avgPool3dBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): Storage;
  interpolate(x: Storage, xShape: readonly number[], size: readonly [number, number, number],
    mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage;
  interpolateBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[],
    mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage;

  /**
   * Dropout keep-mask scaled by 1/(1 − p): shape [N, C, ...rest]; with `channelwise` one draw per (n, c).
   * Deterministic in (seed, element) on one backend.
   */
  dropoutMask(shape: readonly number[], p: number, seed: number, channelwise: boolean, dtype: DType): Storage;

  /** the log-domain convolutional distance transform of p [N, 1, D, H, W] (unclamped, in voxels) */
  cdt(p: Storage, shape: readonly number[], params: CdtParams): Storage;
  /** gradient of cdt w.r.t. p given the output and its gradient */
  cdtBackward(p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): Storage;

  /** in place: param, momentum buffer */
  sgdStep(param: Storage, grad: Storage, momentumBuffer: Storage | null, p: SgdParams): void;
  /** in place: param, m, v */
  adamStep(param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void;
}

export const bytesPerElement: Record<DType, number> = { float32: 4, int32: 4, float64: 8 };

export function typedArrayFor(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'float64': return new Float64Array(length);
  }
}
