import type { ChannelLayout, Conv3dParams, NormLayout, NormTerms, Pool3dParams, Storage } from '../kernels/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import { noGrad, record } from './graph.js';
import {
  add, addScalar, assign, checkFloat, checkSameBackend, div, exp, log, max, mul, mulScalar, neg, reshape, rsqrt,
  sub, sum,
} from './ops.js';

/**
 * The neural-network operations, as torch.nn.functional: convolutions, pooling, resampling, normalisation,
 * dropout and softmax. Like ops.ts: the forward runs on the backend; backward rules are compositions of
 * differentiable operations. The backward kernels of the heavy operations (conv3d's two gradients, the
 * pooling and resampling adjoints) are differentiable operations of their own, so their rules are
 * compositions and gradients of gradients work. The exception is the normalisations' backward, which calls
 * its fused kernels directly (one reduction and one pass, the ReLU of a norm → ReLU block included).
 */

/** a per-axis (D, H, W) argument */
export type Triple = readonly [number, number, number];
type Mutable3 = [number, number, number];

// ---------------------------------------------------------------------------------------------- helpers

function out(like: Tensor, storage: Storage, shape: readonly number[]): Tensor {
  return Tensor.fromStorage(like.backend, storage, shape);
}

/** A tensor whose storage holds exactly its elements in C order from offset 0 (what raw kernels read). */
function dense(x: Tensor): Tensor {
  if (x.isContiguous && x.offset === 0 && x.storage.length === x.size) return x.viewAs(x.shape, x.strides, 0);
  return out(x, x.backend.copy(x.view), x.shape);
}

/** Runs a raw kernel on the dense storages of some tensors and frees the temporary copies. */
function withDense<T>(ts: readonly Tensor[], fn: (...storages: Storage[]) => T): T {
  const ds = ts.map(dense);
  try {
    return fn(...ds.map((d) => d.storage));
  } finally {
    for (const d of ds) d.dispose();
  }
}

function triple(v: number | readonly number[], op: string, what: string): Mutable3 {
  const t = typeof v === 'number' ? [v, v, v] : [...v];
  if (t.length !== 3 || !t.every(Number.isInteger)) throw new Error(`${op}: ${what} must be an integer or three integers, got ${JSON.stringify(v)}`);
  return [t[0], t[1], t[2]];
}

function checkRank5(op: string, name: string, t: Tensor): void {
  if (t.rank !== 5) throw new Error(`${op}: ${name} must be 5-D [N, C, D, H, W], got ${formatShape(t.shape)}`);
}

function checkDtypes(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== ts[0].dtype) {
      throw new Error(`${op}: dtypes differ (${ts.map((x) => `${formatShape(x.shape)} ${x.dtype}`).join(', ')}); cast() one first`);
    }
  }
}

/** [1, C, 1, …] of a rank-r input: a per-channel vector broadcast over axis 1 */
function channelShape(x: Tensor): number[] {
  return x.shape.map((d, i) => (i === 1 ? d : 1));
}

function checkPerChannel(op: string, name: string, t: Tensor | null, x: Tensor): void {
  if (!t) return;
  if (t.size !== x.shape[1] || t.rank !== 1) {
    throw new Error(`${op}: ${name} ${formatShape(t.shape)} must be [${x.shape[1]}] (the channels of the input ${formatShape(x.shape)})`);
  }
  checkSameBackend(op, x, t);
  checkDtypes(op, x, t);
}

/** An alias of x that passes the gradient through unchanged. */
function identity(name: string, x: Tensor): Tensor {
  return record(name, x.viewAs(x.shape, x.strides, x.offset), [x], (g) => [g]);
}

// ----------------------------------------------------------------------------------------- convolution

export interface Conv3dOptions {
  stride?: number | Triple;
  padding?: number | Triple;
  dilation?: number | Triple;
}

export interface ConvTranspose3dOptions extends Conv3dOptions {
  outputPadding?: number | Triple;
}

function convParams(op: string, options: Conv3dOptions): Conv3dParams {
  const stride = triple(options.stride ?? 1, op, 'stride');
  const padding = triple(options.padding ?? 0, op, 'padding');
  const dilation = triple(options.dilation ?? 1, op, 'dilation');
  if (stride.some((s) => s < 1)) throw new Error(`${op}: stride must be ≥ 1, got [${stride.join(', ')}]`);
  if (padding.some((p) => p < 0)) throw new Error(`${op}: padding must be ≥ 0, got [${padding.join(', ')}]`);
  if (dilation.some((d) => d < 1)) throw new Error(`${op}: dilation must be ≥ 1, got [${dilation.join(', ')}]`);
  return { stride, padding, dilation };
}

/** Spatial output size of a conv3d: ⌊(in + 2p − dil·(k − 1) − 1)/s⌋ + 1 per axis. */
function convOutputSize(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): number[] {
  return [0, 1, 2].map((i) => Math.floor((xShape[2 + i] + 2 * p.padding[i] - p.dilation[i] * (wShape[2 + i] - 1) - 1) / p.stride[i]) + 1);
}

function conv3dRaw(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv3dParams): Tensor {
  const shape = [x.shape[0], weight.shape[0], ...convOutputSize(x.shape, weight.shape, p)];
  const storage = withDense(bias ? [x, weight, bias] : [x, weight], (xs, ws, bs) =>
    x.backend.conv3d(xs, x.shape, ws, weight.shape, bs ?? null, p));
  const y = out(x, storage, shape);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record('conv3d', y, inputs, (g, [xs, ws]) => [
    x.requiresGrad ? conv3dBackwardInputRaw(g, ws, x.shape, p) : null,
    weight.requiresGrad ? conv3dBackwardWeightRaw(xs, g, weight.shape, p) : null,
    ...(bias ? [bias.requiresGrad ? sum(g, [0, 2, 3, 4]) : null] : []),
  ], [x, weight]);
}

/** The adjoint of conv3d in x (linear in gy and in w): its gradients are conv3d and conv3dBackwardWeight. */
function conv3dBackwardInputRaw(gy: Tensor, weight: Tensor, inputShape: readonly number[], p: Conv3dParams): Tensor {
  const storage = withDense([gy, weight], (gs, ws) =>
    gy.backend.conv3dBackwardInput(gs, gy.shape, ws, weight.shape, inputShape, p));
  const z = out(gy, storage, inputShape);
  // ⟨G, convᵀ(gy; w)⟩ = ⟨conv(G; w), gy⟩ (the kernel checks that conv of inputShape has gy's shape)
  return record('conv3dBackwardInput', z, [gy, weight], (g, [gys, ws]) => [
    gy.requiresGrad ? conv3dRaw(g, ws, null, p) : null,
    weight.requiresGrad ? conv3dBackwardWeightRaw(g, gys, weight.shape, p) : null,
  ], [gy, weight]);
}

/** The gradient of conv3d in w (bilinear in x and gy): its gradients are conv3dBackwardInput and conv3d. */
function conv3dBackwardWeightRaw(x: Tensor, gy: Tensor, weightShape: readonly number[], p: Conv3dParams): Tensor {
  const storage = withDense([x, gy], (xs, gs) =>
    x.backend.conv3dBackwardWeight(xs, x.shape, gs, gy.shape, weightShape, p));
  const z = out(x, storage, weightShape);
  // ⟨G, dW(x, gy)⟩ = ⟨conv(x; G), gy⟩
  return record('conv3dBackwardWeight', z, [x, gy], (g, [xs, gys]) => [
    x.requiresGrad ? conv3dBackwardInputRaw(gys, g, x.shape, p) : null,
    gy.requiresGrad ? conv3dRaw(xs, g, null, p) : null,
  ], [x, gy]);
}

function checkConvOperands(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, inChannelAxis: 0 | 1): void {
  checkRank5(op, 'input', x);
  if (weight.rank !== 5) throw new Error(`${op}: weight must be 5-D, got ${formatShape(weight.shape)}`);
  checkFloat(op, x);
  checkSameBackend(op, x, weight, ...(bias ? [bias] : []));
  checkDtypes(op, x, weight, ...(bias ? [bias] : []));
  if (x.shape[1] !== weight.shape[inChannelAxis]) {
    throw new Error(`${op}: input ${formatShape(x.shape)} has ${x.shape[1]} channels but weight ${formatShape(weight.shape)} expects ${weight.shape[inChannelAxis]}`);
  }
  const outChannels = weight.shape[1 - inChannelAxis];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outChannels)) {
    throw new Error(`${op}: bias ${formatShape(bias.shape)} must be [${outChannels}] for weight ${formatShape(weight.shape)}`);
  }
}

/**
 * F.conv3d: x [N, Ci, D, H, W], weight [Co, Ci, kd, kh, kw], bias [Co] or null → [N, Co, D', H', W'] with
 * D' = ⌊(D + 2p − dil·(kd − 1) − 1)/s⌋ + 1 (and so on). No groups.
 */
export function conv3d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv3dOptions = {}): Tensor {
  const op = 'conv3d';
  checkConvOperands(op, x, weight, bias, 1);
  const p = convParams(op, options);
  for (let i = 0; i < 3; i++) {
    const extent = p.dilation[i] * (weight.shape[2 + i] - 1) + 1, padded = x.shape[2 + i] + 2 * p.padding[i];
    if (extent > padded) {
      throw new Error(`${op}: kernel ${formatShape(weight.shape.slice(2))} (dilated extent ${extent} on spatial axis ${i}) is larger than the padded input ${formatShape(x.shape)} + padding [${p.padding.join(', ')}] (${padded})`);
    }
  }
  return conv3dRaw(x, weight, bias, p);
}

/**
 * The gradient of conv3d w.r.t. its input, as a differentiable op: gy [N, Co, …], weight [Co, Ci, k…] →
 * [N, Ci, ...inputShape spatial]. `inputShape` is the full [N, Ci, D, H, W] of the convolution's input.
 */
export function conv3dBackwardInput(gy: Tensor, weight: Tensor, inputShape: readonly number[], options: Conv3dOptions = {}): Tensor {
  const op = 'conv3dBackwardInput';
  checkConvOperands(op, gy, weight, null, 0);
  const p = convParams(op, options);
  if (inputShape.length !== 5 || inputShape[0] !== gy.shape[0] || inputShape[1] !== weight.shape[1]) {
    throw new Error(`${op}: input shape ${formatShape(inputShape)} must be [${gy.shape[0]}, ${weight.shape[1]}, D, H, W] for gy ${formatShape(gy.shape)} and weight ${formatShape(weight.shape)}`);
  }
  return conv3dBackwardInputRaw(gy, weight, inputShape, p);
}

/**
 * The gradient of conv3d w.r.t. its weight, as a differentiable op: x [N, Ci, …], gy [N, Co, …] →
 * weightShape [Co, Ci, kd, kh, kw].
 */
export function conv3dBackwardWeight(x: Tensor, gy: Tensor, weightShape: readonly number[], options: Conv3dOptions = {}): Tensor {
  const op = 'conv3dBackwardWeight';
  checkRank5(op, 'input', x);
  checkRank5(op, 'gy', gy);
  checkSameBackend(op, x, gy);
  checkDtypes(op, x, gy);
  const p = convParams(op, options);
  if (weightShape.length !== 5 || weightShape[0] !== gy.shape[1] || weightShape[1] !== x.shape[1] || gy.shape[0] !== x.shape[0]) {
    throw new Error(`${op}: weight shape ${formatShape(weightShape)} must be [${gy.shape[1]}, ${x.shape[1]}, kd, kh, kw] for input ${formatShape(x.shape)} and gy ${formatShape(gy.shape)}`);
  }
  return conv3dBackwardWeightRaw(x, gy, weightShape, p);
}

/**
 * F.conv_transpose3d: x [N, Cin, D, H, W], weight [Cin, Cout, kd, kh, kw], bias [Cout] or null →
 * [N, Cout, D', …] with D' = (D − 1)·s − 2p + dil·(kd − 1) + outputPadding + 1. The adjoint of a conv3d with
 * Co = Cin and Ci = Cout: its forward is that conv's input gradient. outputPadding must be smaller than the
 * stride (PyTorch also accepts outputPadding ≥ stride when it is below the dilation; not supported here, as
 * the output would then be larger than any input that convolution maps onto x).
 */
export function convTranspose3d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTranspose3dOptions = {}): Tensor {
  const op = 'convTranspose3d';
  checkConvOperands(op, x, weight, bias, 0);
  const p = convParams(op, options);
  const outputPadding = triple(options.outputPadding ?? 0, op, 'outputPadding');
  for (let i = 0; i < 3; i++) {
    if (outputPadding[i] < 0 || outputPadding[i] >= p.stride[i]) {
      throw new Error(`${op}: outputPadding [${outputPadding.join(', ')}] must be ≥ 0 and smaller than the stride [${p.stride.join(', ')}]`);
    }
  }
  const spatial = [0, 1, 2].map((i) =>
    (x.shape[2 + i] - 1) * p.stride[i] - 2 * p.padding[i] + p.dilation[i] * (weight.shape[2 + i] - 1) + outputPadding[i] + 1);
  if (spatial.some((d) => d < 1)) {
    throw new Error(`${op}: input ${formatShape(x.shape)} with weight ${formatShape(weight.shape)} and padding [${p.padding.join(', ')}] gives an empty output ${formatShape(spatial)}`);
  }
  return tidy(() => {
    const y = conv3dBackwardInputRaw(x, weight, [x.shape[0], weight.shape[1], ...spatial], p);
    return bias ? add(y, reshape(bias, channelShape(y))) : y;
  });
}

// -------------------------------------------------------------------------------------------- pooling

export interface Pool3dOptions {
  /** default: the kernel size */
  stride?: number | Triple;
  padding?: number | Triple;
}

function poolParams(op: string, x: Tensor, kernelSize: number | Triple, options: Pool3dOptions): { p: Pool3dParams; shape: number[] } {
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  const kernel = triple(kernelSize, op, 'kernel size');
  const stride = triple(options.stride ?? kernel, op, 'stride');
  const padding = triple(options.padding ?? 0, op, 'padding');
  if (kernel.some((k) => k < 1)) throw new Error(`${op}: kernel size must be ≥ 1, got [${kernel.join(', ')}]`);
  if (stride.some((s) => s < 1)) throw new Error(`${op}: stride must be ≥ 1, got [${stride.join(', ')}]`);
  if (padding.some((q, i) => q < 0 || 2 * q > kernel[i])) {
    throw new Error(`${op}: padding [${padding.join(', ')}] must be ≥ 0 and at most half the kernel [${kernel.join(', ')}]`);
  }
  const spatial = [0, 1, 2].map((i) => Math.floor((x.shape[2 + i] + 2 * padding[i] - kernel[i]) / stride[i]) + 1);
  if (spatial.some((d) => d < 1)) {
    throw new Error(`${op}: kernel [${kernel.join(', ')}] is larger than the padded input ${formatShape(x.shape)} + padding [${padding.join(', ')}]`);
  }
  return { p: { kernel, stride, padding }, shape: [x.shape[0], x.shape[1], ...spatial] };
}

/** F.max_pool3d (dilation 1, floor mode); the argmax indices are saved for backward. */
export function maxPool3d(x: Tensor, kernelSize: number | Triple, options: Pool3dOptions = {}): Tensor {
  const { p, shape } = poolParams('maxPool3d', x, kernelSize, options);
  const { values, indices } = withDense([x], (xs) => x.backend.maxPool3d(xs, x.shape, p));
  const y = out(x, values, shape);
  const idx = out(x, indices, shape);
  record('maxPool3d', y, [x], (g, [is]) => [maxPool3dBackwardRaw(g, is, x.shape)], [idx]);
  idx.dispose();
  return y;
}

/**
 * Routes gy to the argmax positions. Only maxPool3d's backward calls it, and backward runs under noGrad, so it
 * records no rule of its own (the same holds for the other pooling and resampling adjoints below).
 */
function maxPool3dBackwardRaw(gy: Tensor, indices: Tensor, inputShape: readonly number[]): Tensor {
  return out(gy, withDense([gy, indices], (gs, is) => gy.backend.maxPool3dBackward(gs, is, gy.shape, inputShape)), inputShape);
}

/** F.avg_pool3d with count_include_pad = true (floor mode). */
export function avgPool3d(x: Tensor, kernelSize: number | Triple, options: Pool3dOptions = {}): Tensor {
  const { p, shape } = poolParams('avgPool3d', x, kernelSize, options);
  const y = out(x, withDense([x], (xs) => x.backend.avgPool3d(xs, x.shape, p)), shape);
  return record('avgPool3d', y, [x], (g) => [avgPool3dBackwardRaw(g, x.shape, p)]);
}

/** The adjoint of avgPool3d (a linear map), used only by its backward. */
function avgPool3dBackwardRaw(gy: Tensor, inputShape: readonly number[], p: Pool3dParams): Tensor {
  return out(gy, withDense([gy], (gs) => gy.backend.avgPool3dBackward(gs, gy.shape, inputShape, p)), inputShape);
}

// --------------------------------------------------------------------------------------------- resampling

export type InterpolateMode = 'nearest' | 'trilinear';

export interface InterpolateOptions {
  /** output [D, H, W] (or one number for all three) */
  size?: number | Triple;
  /** output = ⌊input · scaleFactor⌋ per axis; the kernel then maps coordinates by the input/output ratio
   * (PyTorch's recompute_scale_factor = True; identical for integer factors) */
  scaleFactor?: number | Triple;
  mode?: InterpolateMode;
  /** only for 'trilinear' (default false), as PyTorch */
  alignCorners?: boolean;
}

/** F.interpolate of a 5-D input, 'nearest' (PyTorch's legacy nearest: src = ⌊dst · in/out⌋) or 'trilinear'. */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  const op = 'interpolate';
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  const mode = options.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'trilinear') throw new Error(`${op}: unknown mode '${String(mode)}'; valid: nearest, trilinear`);
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    throw new Error(`${op}: alignCorners can only be set with mode 'trilinear'`);
  }
  if ((options.size === undefined) === (options.scaleFactor === undefined)) {
    throw new Error(`${op}: give exactly one of size and scaleFactor`);
  }
  let size: Mutable3;
  if (options.size !== undefined) size = triple(options.size, op, 'size');
  else {
    const f = typeof options.scaleFactor === 'number' ? [options.scaleFactor, options.scaleFactor, options.scaleFactor] : [...options.scaleFactor!];
    if (f.length !== 3 || f.some((v) => !(v > 0))) throw new Error(`${op}: scaleFactor must be positive (one or three numbers), got ${JSON.stringify(options.scaleFactor)}`);
    size = [0, 1, 2].map((i) => Math.floor(x.shape[2 + i] * f[i])) as Mutable3;
  }
  if (size.some((d) => d < 1)) throw new Error(`${op}: output size [${size.join(', ')}] of input ${formatShape(x.shape)} is empty`);
  const alignCorners = options.alignCorners ?? false;
  const shape = [x.shape[0], x.shape[1], ...size];
  const y = out(x, withDense([x], (xs) => x.backend.interpolate(xs, x.shape, size, mode, alignCorners)), shape);
  return record('interpolate', y, [x], (g) => [interpolateBackwardRaw(g, x.shape, mode, alignCorners)]);
}

/** The adjoint of interpolate (linear), used only by its backward. */
function interpolateBackwardRaw(gy: Tensor, inputShape: readonly number[], mode: InterpolateMode, alignCorners: boolean): Tensor {
  return out(gy, withDense([gy], (gs) => gy.backend.interpolateBackward(gs, gy.shape, inputShape, mode, alignCorners)), inputShape);
}

// ---------------------------------------------------------------------------------------- normalisation

/** the fused ReLU of a normalisation: max(0, norm(x)) as one op (what Sequential uses for norm → ReLU) */
export interface NormReluOption {
  relu?: boolean;
}

export interface BatchNormOptions extends NormReluOption {
  /** batch statistics (and running-statistics update) when true; running statistics when false (default) */
  training?: boolean;
  /** running = (1 − momentum)·running + momentum·batch statistic (default 0.1) */
  momentum?: number;
  eps?: number;
}

function checkNormInput(op: string, x: Tensor): void {
  if (x.rank < 2) throw new Error(`${op}: input must be [N, C, …], got ${formatShape(x.shape)}`);
  checkFloat(op, x);
}

/**
 * How a normalisation's kernels see x [N, C, …] (see NormLayout): batch norm [N, C, D·H·W] with one group per
 * channel; instance and group norm [1, N·C, D·H·W] with `groups` groups per sample.
 */
function normLayout(x: Tensor, perSample: boolean, groups: number): NormLayout {
  const [n, c] = x.shape, inner = sizeOf(x.shape.slice(2));
  return perSample
    ? { outer: 1, channels: n * c, inner, perGroup: c / groups, params: c }
    : { outer: n, channels: c, inner, perGroup: 1, params: c };
}

/** the layout whose channels are the statistics' groups: [outer, channels / perGroup, perGroup·inner] */
function statsLayout(l: NormLayout): ChannelLayout {
  return { outer: l.outer, channels: l.channels / l.perGroup, inner: l.perGroup * l.inner };
}

/** the storage of t as a raw kernel reads it (a copy when t is not dense; it dies with the enclosing tidy) */
function storageOf(t: Tensor): Storage {
  return dense(t).storage;
}

interface NormStats { mean: Tensor; variance: Tensor }

interface NormParams { weight: Tensor | null; bias: Tensor | null; eps: number; relu: boolean }

/**
 * Batch, instance and group norm as one recorded op: y = rstd·weight·(x − μ) + bias per (sample, channel),
 * max(0, y) with `relu`. With `fixed` statistics (batch norm in evaluation: the running ones) it normalises by
 * those, else by the mean and biased variance of x from one moments reduction; y is one normalize pass, whose
 * kernel folds the coefficients itself. Backward, g' = g (or g·[y > 0] with the ReLU, y saved): one normSums
 * reduction (Σ g' and Σ g'·x̂ per channel: the bias and weight gradients, summed over the samples) and one
 * normBackward pass for dx = rstd·(h − mean(h) − x̂·mean(h·x̂)), h = g'·weight, means over each statistics
 * group (dx = rstd·weight·g' with fixed statistics, whose own gradients, −rstd·weight·Σ g' and
 * −rstd²·weight·Σ g'·x̂ / 2, are per-channel ops). It saves x, not x̂: x is alive anyway as this layer's input,
 * while x̂ would cost the forward a second full-size write. The backward calls the kernels directly (it runs
 * under noGrad, so no gradient of it is ever recorded). Returns the statistics used (no gradient) too.
 */
function normalizeOp(op: string, x: Tensor, l: NormLayout, fixed: NormStats | null, p: NormParams): { y: Tensor } & NormStats {
  const xd = dense(x);
  const { mean, variance } = fixed ?? noGrad(() => {
    const s = x.backend.moments(xd.storage, statsLayout(l));
    const shape = [l.channels / l.perGroup];
    return { mean: out(x, s.mean, shape), variance: out(x, s.variance, shape) };
  });
  const terms = (m: Tensor, v: Tensor, w: Tensor | null, b: Tensor | null): NormTerms =>
    ({ mean: storageOf(m), variance: storageOf(v), weight: w && storageOf(w), bias: b && storageOf(b), eps: p.eps });
  const y = out(x, x.backend.normalize(xd.storage, terms(mean, variance, p.weight, p.bias), l, p.relu), x.shape);
  // the differentiable inputs besides x, null where absent
  const others = [p.weight, p.bias, ...(fixed ? [fixed.mean, fixed.variance] : [])];
  const params = others.filter((t): t is Tensor => t !== null);
  const save = [xd, mean, variance, ...(p.weight ? [p.weight] : []), ...(p.relu ? [y] : [])];
  record(op, y, [x, ...params], (g, [xs, ms, vs, ...rest]) => {
    const ws = p.weight ? rest[0] : null, mask = p.relu ? storageOf(rest[rest.length - 1]) : null;
    const t = terms(ms, vs, ws, null), gs = storageOf(g);
    const sums = !fixed || params.some((q) => q.requiresGrad) ? x.backend.normSums(gs, xs.storage, mask, t, l) : null;
    const dx = x.requiresGrad ? out(x, x.backend.normBackward(gs, xs.storage, mask, t, fixed ? null : sums, l), x.shape) : null;
    if (!sums) return [dx, ...params.map(() => null)];
    // per-channel sums [samples, params] → per-parameter gradients: added over the samples
    const samples = l.channels / l.params;
    const [sumT, dotT] = [sums.sum, sums.dot].map((st) => out(x, st, [samples, l.params]));
    const overSamples = (v: Tensor) => (samples === 1 ? reshape(v, [l.params]) : sum(v, 0));
    const gradWeight = () => overSamples(dotT), gradBias = () => overSamples(sumT);
    // batch norm in evaluation (one sample, one channel per group): μ and σ² are inputs too
    const scale = () => { const rstd = rsqrt(addScalar(vs, p.eps)); return { rstd, a: ws ? mul(rstd, ws) : rstd }; };
    const gradMean = () => neg(mul(scale().a, gradBias()));
    const gradVariance = () => { const { rstd, a } = scale(); return mulScalar(mul(mul(a, rstd), gradWeight()), -0.5); };
    const gradOf = [gradWeight, gradBias, gradMean, gradVariance];
    return [dx, ...others.flatMap((q, i) => (q ? [q.requiresGrad ? gradOf[i]() : null] : []))];
  }, save);
  return { y, mean, variance };
}

/** Runs an in-place kernel on the storages of some tensors: directly when dense, else on copies written back. */
function inPlace(ts: readonly (Tensor | null)[], fn: (...storages: (Storage | null)[]) => void): void {
  const ds = ts.map((t) => t && dense(t));
  fn(...ds.map((d) => d?.storage ?? null));
  ts.forEach((t, i) => { if (t && ds[i]!.storage !== t.storage) assign(t, ds[i]!); });
}

/**
 * F.batch_norm for [N, C, …]: with `training`, normalises by the batch mean and biased variance over every
 * axis but 1, and updates runningMean/runningVar in place (one updateRunningStats kernel, under noGrad) with
 * the batch mean and the unbiased batch variance (n/(n − 1)); otherwise normalises by the running statistics.
 * With `relu`, max(0, ·) of it as one op. Either way the full-size work of the forward is one pass (see
 * normalizeOp).
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null = null,
  bias: Tensor | null = null, options: BatchNormOptions = {}): Tensor {
  const op = 'batchNorm';
  checkNormInput(op, x);
  const training = options.training ?? false, momentum = options.momentum ?? 0.1;
  const p: NormParams = { weight, bias, eps: options.eps ?? 1e-5, relu: options.relu ?? false };
  checkPerChannel(op, 'runningMean', runningMean, x);
  checkPerChannel(op, 'runningVar', runningVar, x);
  checkPerChannel(op, 'weight', weight, x);
  checkPerChannel(op, 'bias', bias, x);
  const layout = normLayout(x, false, x.shape[1]);
  if (!training) {
    if (!runningMean || !runningVar) throw new Error(`${op}: evaluation mode (training: false) needs runningMean and runningVar`);
    return tidy(() => normalizeOp(op, x, layout, { mean: runningMean, variance: runningVar }, p).y);
  }
  const n = x.size / x.shape[1];
  if (n <= 1) throw new Error(`${op}: expected more than 1 value per channel when training, got input ${formatShape(x.shape)}`);
  return tidy(() => {
    const { y, mean, variance } = normalizeOp(op, x, layout, null, p);
    if (runningMean || runningVar) {
      noGrad(() => inPlace([runningMean, runningVar], (rm, rv) =>
        x.backend.updateRunningStats(rm, rv, { mean: mean.storage, variance: variance.storage }, momentum, n)));
    }
    return y;
  });
}

export interface InstanceNormOptions extends NormReluOption {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
}

/** F.instance_norm without running statistics: per-(n, c) mean and biased variance over the spatial axes. */
export function instanceNorm(x: Tensor, options: InstanceNormOptions = {}): Tensor {
  const op = 'instanceNorm';
  checkNormInput(op, x);
  const weight = options.weight ?? null, bias = options.bias ?? null;
  checkPerChannel(op, 'weight', weight, x);
  checkPerChannel(op, 'bias', bias, x);
  if (sizeOf(x.shape.slice(2)) <= 1) throw new Error(`${op}: expected more than 1 spatial element per channel, got input ${formatShape(x.shape)}`);
  const p: NormParams = { weight, bias, eps: options.eps ?? 1e-5, relu: options.relu ?? false };
  return tidy(() => normalizeOp(op, x, normLayout(x, true, x.shape[1]), null, p).y);
}

/** F.group_norm: channels split into numGroups groups, statistics per (n, group); weight/bias per channel. */
export function groupNorm(x: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5,
  options: NormReluOption = {}): Tensor {
  const op = 'groupNorm';
  checkNormInput(op, x);
  if (!Number.isInteger(numGroups) || numGroups < 1 || x.shape[1] % numGroups !== 0) {
    throw new Error(`${op}: ${numGroups} groups do not divide the ${x.shape[1]} channels of ${formatShape(x.shape)}`);
  }
  checkPerChannel(op, 'weight', weight, x);
  checkPerChannel(op, 'bias', bias, x);
  const p: NormParams = { weight, bias, eps, relu: options.relu ?? false };
  return tidy(() => normalizeOp(op, x, normLayout(x, true, numGroups), null, p).y);
}

// -------------------------------------------------------------------------------------------- dropout

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${op}: probability p must be in [0, 1], got ${p}`);
}

/**
 * F.dropout: zeroes elements with probability p and scales the rest by 1/(1 − p); the mask depends only on
 * (seed, element) on one backend. Identity (an alias) when !training or p = 0.
 */
export function dropout(x: Tensor, p: number, training: boolean, seed: number): Tensor {
  checkP('dropout', p);
  checkFloat('dropout', x);
  if (!training || p === 0) return identity('dropout', x);
  return tidy(() => mul(x, out(x, x.backend.dropoutMask(x.shape, p, seed, false, x.dtype), x.shape)));
}

/** F.dropout3d: zeroes whole channels of [N, C, D, H, W] (or unbatched [C, D, H, W]). */
export function dropout3d(x: Tensor, p: number, training: boolean, seed: number): Tensor {
  checkP('dropout3d', p);
  checkFloat('dropout3d', x);
  if (x.rank !== 5 && x.rank !== 4) throw new Error(`dropout3d: input must be [N, C, D, H, W] or [C, D, H, W], got ${formatShape(x.shape)}`);
  if (!training || p === 0) return identity('dropout3d', x);
  const maskShape = x.rank === 5 ? x.shape : [1, ...x.shape];
  return tidy(() => mul(x, out(x, x.backend.dropoutMask(maskShape, p, seed, true, x.dtype), x.shape)));
}

// -------------------------------------------------------------------------------------------- softmax

/** F.softmax along one axis; stable (the detached max is subtracted). Backward: y·(g − Σ g·y). */
export function softmax(x: Tensor, axis: number): Tensor {
  checkFloat('softmax', x);
  const a = normalizeAxis(axis, x.rank, 'softmax');
  const y = noGrad(() => tidy(() => {
    const e = exp(sub(x, max(x, a, true)));
    return div(e, sum(e, a, true));
  }));
  return record('softmax', y, [x], (g, [ys]) => [mul(ys, sub(g, sum(mul(g, ys), a, true)))], [y]);
}

/** F.log_softmax along one axis: (x − max) − log Σ exp(x − max). Backward: g − softmax·Σ g. */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  checkFloat('logSoftmax', x);
  const a = normalizeAxis(axis, x.rank, 'logSoftmax');
  const y = noGrad(() => tidy(() => {
    const z = sub(x, max(x, a, true));
    return sub(z, log(sum(exp(z), a, true)));
  }));
  return record('logSoftmax', y, [x], (g, [ys]) => [sub(g, mul(exp(ys), sum(g, a, true)))], [y]);
}
