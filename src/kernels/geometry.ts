import type { Conv3dParams, Pool3dParams, Storage } from './backend.js';
import { sizeOf } from './layout.js';

/**
 * The shape rules that the cpu oracles and the WebGPU kernels share: argument validation with its error
 * messages, and the output extents of convolution and pooling. Both backends call these functions, so they
 * accept and reject the same arguments; `what` names the operation (and, on WebGPU, the backend) in a message.
 */

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Throws unless `shape` is five positive integers. */
function checkNcdhw(shape: readonly number[], what: string): void {
  if (shape.length !== 5 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`${what}: expected a non-empty NCDHW shape, got ${fmt(shape)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// conv3d

/** Everything about one convolution's shapes, validated. */
export interface ConvGeometry {
  n: number;
  ci: number;
  co: number;
  /** input spatial size (D, H, W) */
  in: [number, number, number];
  /** output spatial size (Do, Ho, Wo) */
  out: [number, number, number];
  k: [number, number, number];
  s: [number, number, number];
  p: [number, number, number];
  dil: [number, number, number];
}

function triple(v: readonly number[] | undefined, what: string): [number, number, number] {
  if (!v || v.length !== 3 || !v.every((e) => Number.isInteger(e))) {
    throw new Error(`conv3d: ${what} must be three integers, got ${v ? fmt(v) : String(v)}`);
  }
  return [v[0], v[1], v[2]];
}

/** PyTorch's output size along one axis (pooling is dil = 1). */
export function convOutSize(size: number, k: number, s: number, p: number, dil: number): number {
  return Math.floor((size + 2 * p - dil * (k - 1) - 1) / s) + 1;
}

/**
 * Validates x [N, Ci, D, H, W] and w [Co, Ci, kd, kh, kw] against the parameters and returns the geometry.
 * Throws on: ranks other than 5, empty dimensions, a channel mismatch, non-positive stride or dilation,
 * negative padding, and a (dilated) kernel larger than the padded input.
 */
export function convGeometry(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  if (xShape.length !== 5) throw new Error(`conv3d: input must be [N, C, D, H, W], got shape ${fmt(xShape)}`);
  if (wShape.length !== 5) throw new Error(`conv3d: weight must be [Cout, Cin, kD, kH, kW], got shape ${fmt(wShape)}`);
  for (const [shape, what] of [[xShape, 'input'], [wShape, 'weight']] as const) {
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`conv3d: ${what} shape ${fmt(shape)} has an empty or invalid dimension`);
  }
  const stride = triple(p.stride, 'stride'), padding = triple(p.padding, 'padding'), dilation = triple(p.dilation, 'dilation');
  if (stride.some((s) => s <= 0)) throw new Error(`conv3d: stride must be positive, got ${fmt(stride)}`);
  if (dilation.some((d) => d <= 0)) throw new Error(`conv3d: dilation must be positive, got ${fmt(dilation)}`);
  if (padding.some((q) => q < 0)) throw new Error(`conv3d: padding must not be negative, got ${fmt(padding)}`);
  if (xShape[1] !== wShape[1]) {
    throw new Error(`conv3d: input ${fmt(xShape)} has ${xShape[1]} channels but weight ${fmt(wShape)} expects ${wShape[1]}`);
  }
  const inSize: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
  const k: [number, number, number] = [wShape[2], wShape[3], wShape[4]];
  for (let a = 0; a < 3; a++) {
    const span = dilation[a] * (k[a] - 1) + 1;
    if (span > inSize[a] + 2 * padding[a]) {
      throw new Error(`conv3d: kernel ${fmt(k)} (dilation ${fmt(dilation)}) is larger than the padded input: input ${fmt(xShape)}, padding ${fmt(padding)}`);
    }
  }
  const out = [0, 1, 2].map((a) => convOutSize(inSize[a], k[a], stride[a], padding[a], dilation[a])) as [number, number, number];
  return { n: xShape[0], ci: xShape[1], co: wShape[0], in: inSize, out, k, s: stride, p: padding, dil: dilation };
}

/** The gradient's shape must be the convolution's output shape [N, Cout, Do, Ho, Wo]. */
function checkGradShape(g: ConvGeometry, gyShape: readonly number[], xShape: readonly number[], wShape: readonly number[]): void {
  const want = [g.n, g.co, ...g.out];
  if (gyShape.length !== 5 || want.some((d, i) => d !== gyShape[i])) {
    throw new Error(`conv3d backward: output gradient ${fmt(gyShape)} does not match the convolution of input ${fmt(xShape)} with weight ${fmt(wShape)}, whose output is ${fmt(want)}`);
  }
}

function checkLength(s: Storage, shape: readonly number[], what: string): void {
  const n = sizeOf(shape);
  if (s.length < n) throw new Error(`conv3d: ${what} storage holds ${s.length} elements, shape ${fmt(shape)} needs ${n}`);
}

/** conv3d's arguments (bias aside, see checkConvBias), validated: the geometry. */
export function convForwardGeometry(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkLength(x, xShape, 'input');
  checkLength(w, wShape, 'weight');
  return g;
}

export function checkConvBias(bias: Storage, g: ConvGeometry, wShape: readonly number[]): void {
  if (bias.length !== g.co) throw new Error(`conv3d: bias has ${bias.length} elements, weight ${fmt(wShape)} has ${g.co} output channels`);
}

/** conv3dBackwardInput's arguments, validated: the geometry of the convolution of x. */
export function convBackwardInputGeometry(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(gy, gyShape, 'output gradient');
  checkLength(w, wShape, 'weight');
  return g;
}

/** conv3dBackwardWeight's arguments, validated: the geometry of the convolution of x. */
export function convBackwardWeightGeometry(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(x, xShape, 'input');
  checkLength(gy, gyShape, 'output gradient');
  return g;
}

// ---------------------------------------------------------------------------------------------------------
// pooling

/** The geometry of one pooling: batch·channels, input and output extents, kernel, stride and padding. */
export interface PoolGeometry {
  nc: number;
  inSize: [number, number, number];
  outSize: [number, number, number];
  kernel: [number, number, number];
  stride: [number, number, number];
  padding: [number, number, number];
}

/**
 * Validates a pooling as PyTorch does (kernel ≥ 1, stride ≥ 1, 0 ≤ padding ≤ kernel/2, output ≥ 1) and returns
 * its geometry; output extent = floor((in + 2·pad − kernel) / stride) + 1.
 */
export function poolGeometry(xShape: readonly number[], p: Pool3dParams, what: string): PoolGeometry {
  if (xShape.length !== 5) throw new Error(`${what}: expected an NCDHW shape, got ${fmt(xShape)}`);
  const inSize: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
  const outSize: [number, number, number] = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const k = p.kernel[a], s = p.stride[a], pad = p.padding[a];
    if (!(Number.isInteger(k) && k >= 1 && Number.isInteger(s) && s >= 1 && Number.isInteger(pad) && pad >= 0)) {
      throw new Error(`${what}: kernel ${fmt(p.kernel)}, stride ${fmt(p.stride)} and padding ${fmt(p.padding)} must be integers ≥ 1, ≥ 1 and ≥ 0`);
    }
    if (pad > Math.floor(k / 2)) throw new Error(`${what}: padding ${pad} exceeds half the kernel ${k} (PyTorch's rule)`);
    outSize[a] = convOutSize(inSize[a], k, s, pad, 1);
    if (outSize[a] < 1) {
      throw new Error(`${what}: output size is too small for input ${fmt(xShape)}, kernel ${fmt(p.kernel)}, padding ${fmt(p.padding)}`);
    }
  }
  return { nc: xShape[0] * xShape[1], inSize, outSize, kernel: [...p.kernel], stride: [...p.stride], padding: [...p.padding] };
}

/** avgPool3dBackward's gy must be the pooling's output [N, C, OD, OH, OW] (up to the split of N·C). */
export function checkPoolGradShape(g: PoolGeometry, gyShape: readonly number[], xShape: readonly number[], what: string): void {
  const [OD, OH, OW] = g.outSize;
  if (gyShape.length !== 5 || gyShape[0] * gyShape[1] !== g.nc || gyShape[2] !== OD || gyShape[3] !== OH || gyShape[4] !== OW) {
    throw new Error(`${what}: gy ${fmt(gyShape)} does not match the pooling of ${fmt(xShape)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// interpolate

/** interpolate's shapes: a non-empty NCDHW input and a size of three positive integers. */
export function checkInterpolateShapes(xShape: readonly number[], size: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  checkNcdhw([1, 1, ...size], `${what} (size)`);
}

/** interpolateBackward's shapes: x and gy non-empty NCDHW with the same N·C. */
export function checkInterpolateBackwardShapes(gyShape: readonly number[], xShape: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  checkNcdhw(gyShape, `${what} (gy)`);
  if (gyShape[0] * gyShape[1] !== xShape[0] * xShape[1]) throw new Error(`${what}: gy ${fmt(gyShape)} and x ${fmt(xShape)} differ in N·C`);
}

// ---------------------------------------------------------------------------------------------------------
// gridSample

/** gridSample's shapes: x non-empty NCDHW, grid [N, Do, Ho, Wo, 3] with x's N and a non-empty output. */
export function checkGridSampleShapes(xShape: readonly number[], gridShape: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  if (gridShape.length !== 5 || gridShape[4] !== 3) throw new Error(`${what}: grid ${fmt(gridShape)} must be [N, Do, Ho, Wo, 3]`);
  checkNcdhw([1, 1, ...gridShape.slice(1, 4)], `${what} (grid)`);
  if (gridShape[0] !== xShape[0]) throw new Error(`${what}: grid ${fmt(gridShape)} and x ${fmt(xShape)} differ in N`);
}

// ---------------------------------------------------------------------------------------------------------
// gather / scatterAdd

/** Sizes before and after an axis, so that an index is (outer, i, inner). */
export function aroundAxis(shape: readonly number[], axis: number): [number, number] {
  return [sizeOf(shape.slice(0, axis)), sizeOf(shape.slice(axis + 1))];
}

/** torch.gather's shapes as the backends support them: index equals x off the axis. */
export function checkGatherShapes(what: string, xShape: readonly number[], indexShape: readonly number[], axis: number): void {
  if (xShape.length !== indexShape.length) throw new Error(`${what}: ranks differ (${xShape.length}, ${indexShape.length})`);
  if (!Number.isInteger(axis) || axis < 0 || axis >= xShape.length) throw new Error(`${what}: axis ${axis} out of range`);
  for (let d = 0; d < xShape.length; d++) {
    if (d !== axis && xShape[d] !== indexShape[d]) {
      throw new Error(`${what}: index shape ${fmt(indexShape)} must equal x shape ${fmt(xShape)} except along axis ${axis}`);
    }
  }
}
