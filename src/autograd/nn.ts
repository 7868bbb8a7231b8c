import type { ChannelLayout, Conv3dParams, ConvNormEpilogue, GridSampleParams, NormLayout, NormTerms, Pool3dParams, Storage } from '../kernels/backend.js';
import { groupedKernelsFit } from '../kernels/conv3d/grouped-tiling.js';
import { triple } from '../kernels/geometry.js';
import { poolOutSize } from '../kernels/pool/checks.js';
import { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, normalizeAxis, sameShape, sizeOf } from '../tensor/shape.js';
import { needsGrad, noGrad, record } from './graph.js';
import { autocastConv, getAutocastDtype } from './autocast.js';
import {
  add, addScalar, argmax, assign, checkFloat, checkSameBackend, clamp, concat, div, erf, exp, expand, gather, log, matmul, max, maximum, mean,
  mul, mulScalar, ne, neg, pad, permute, powScalar, relu, reshape, rsqrt, sigmoid, slice, split, square, step, sub, sum, tanh, transpose,
  variance, where,
} from './ops.js';
import { fromArray, full } from '../tensor/creation.js';
import { dense, storageOf, withDense } from './dense.js';

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

/** `channels`: of the tensor t applies to (default x's) */
function checkPerChannel(op: string, name: string, t: Tensor | null, x: Tensor, channels = x.shape[1]): void {
  if (!t) return;
  if (t.numel() !== channels || t.rank !== 1) {
    throw new Error(`${op}: ${name} ${formatShape(t.shape)} must be [${channels}] (the channels of the ${channels === x.shape[1] ? `input ${formatShape(x.shape)}` : 'output'})`);
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
  /** conv3d and convTranspose3d: channels split into this many groups, each convolved with its own filters (default 1) */
  groups?: number;
}

/** F.conv3d's options: padding also as PyTorch's strings, 'valid' (none) or 'same' (see stringPadding) */
export interface Conv3dFunctionOptions extends Omit<Conv3dOptions, 'padding'> {
  padding?: number | Triple | ConvPaddingString;
}

export type ConvPaddingString = 'same' | 'valid';

/**
 * PyTorch's padding strings: 'valid' none; 'same' (stride 1 only) per axis a total of dilation·(kernel − 1),
 * ⌊total/2⌋ on both sides (`padding`) and, where the total is odd, one more after the input's end (`extraEnd`)
 */
export function stringPadding(op: string, padding: string, kernelSize: Triple, stride: Triple, dilation: Triple): { padding: Triple; extraEnd: Triple } {
  if (padding === 'valid') return { padding: [0, 0, 0], extraEnd: [0, 0, 0] };
  if (padding !== 'same') throw new Error(`${op}: invalid padding string '${padding}', should be 'valid' or 'same'`);
  if (stride.some((v) => v !== 1)) throw new Error(`${op}: padding='same' needs stride 1, got stride ${formatShape(stride)}`);
  const total = (i: number) => dilation[i] * (kernelSize[i] - 1);
  return {
    padding: [Math.floor(total(0) / 2), Math.floor(total(1) / 2), Math.floor(total(2) / 2)],
    extraEnd: [total(0) % 2, total(1) % 2, total(2) % 2],
  };
}

/**
 * conv(x, padding) with the zeros of `padding` left to the convolution and extraEnd's zeros appended after the
 * input's end first (an odd 'same' padding, as ATen does it)
 */
export function convWithExtraEndZeros(x: Tensor, padding: Triple, extraEnd: Triple, conv: (x: Tensor, padding: Triple) => Tensor): Tensor {
  const [d, h, w] = extraEnd;
  if (d + h + w === 0) return conv(x, padding);
  return tidy(() => conv(pad(x, [0, w, 0, h, 0, d]), padding));
}

export interface ConvTranspose3dOptions extends Conv3dOptions {
  outputPadding?: number | Triple;
}

function convParams(op: string, options: Conv3dOptions): Conv3dParams {
  if (options.groups !== undefined && options.groups !== 1 && op !== 'conv3d' && op !== 'convTranspose3d') {
    throw new Error(`${op}: groups (${options.groups}) are supported by conv3d and convTranspose3d only`);
  }
  const stride = triple(options.stride ?? 1, `${op}: stride`);
  const padding = triple(options.padding ?? 0, `${op}: padding`);
  const dilation = triple(options.dilation ?? 1, `${op}: dilation`);
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

/**
 * x, weight and bias fit: conv3d's weight [Co, Ci/groups, k…] (inChannelAxis 1), a transposed convolution's
 * [Ci, Co/groups, k…] (inChannelAxis 0)
 */
function checkConvOperands(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, inChannelAxis: 0 | 1, groups = 1): void {
  checkRank5(op, 'input', x);
  if (weight.rank !== 5) throw new Error(`${op}: weight must be 5-D, got ${formatShape(weight.shape)}`);
  checkFloat(op, x);
  checkSameBackend(op, x, weight, ...(bias ? [bias] : []));
  checkDtypes(op, x, weight, ...(bias ? [bias] : []));
  const grouped = groups === 1 ? '' : ` × ${groups} groups`;
  const inChannels = weight.shape[inChannelAxis] * (inChannelAxis === 1 ? groups : 1);
  if (x.shape[1] !== inChannels) {
    throw new Error(`${op}: input ${formatShape(x.shape)} has ${x.shape[1]} channels but weight ${formatShape(weight.shape)} expects ${weight.shape[inChannelAxis]}${inChannelAxis === 1 ? grouped : ''}`);
  }
  const outChannels = weight.shape[1 - inChannelAxis] * (inChannelAxis === 0 ? groups : 1);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outChannels)) {
    throw new Error(`${op}: bias ${formatShape(bias.shape)} must be [${outChannels}] for weight ${formatShape(weight.shape)}`);
  }
}

/** the dilated kernel fits the padded input */
function checkKernelFits(op: string, x: Tensor, weight: Tensor, p: Conv3dParams): void {
  for (let i = 0; i < 3; i++) {
    const extent = p.dilation[i] * (weight.shape[2 + i] - 1) + 1, padded = x.shape[2 + i] + 2 * p.padding[i];
    if (extent > padded) {
      throw new Error(`${op}: kernel ${formatShape(weight.shape.slice(2))} (dilated extent ${extent} on spatial axis ${i}) is larger than the padded input ${formatShape(x.shape)} + padding [${p.padding.join(', ')}] (${padded})`);
    }
  }
}

/**
 * F.conv3d with groups runs the grouped kernels (one dispatch per direction for all groups) when each group has
 * at most this many filters, (Ci/groups)·(Co/groups): depthwise convolutions with channel multipliers up to 4,
 * and 2 → 2 channels per group. On llvmpipe (bench/grouped-conv.ts: 32 input channels, 16³, 3³, forward and both
 * gradients, two runs) the grouped kernels took 0.36–0.40× the time of the ungrouped kernels once per group for
 * depthwise, 0.51–0.57× for 1 → 2, 0.70–0.73× for 1 → 4 and 2 → 2 (the per-group copies not counted); 0.94–0.99×
 * for 2 → 4 and 1.2–1.8× for 16 to 256 filters per group, where one convolution per group stays. Both paths sum
 * the same products, in another order.
 */
const groupedKernelMaxFilters = 4;

function usesGroupedKernels(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams, groups: number): boolean {
  return wShape[1]! * (wShape[0]! / groups) <= groupedKernelMaxFilters && groupedKernelsFit(xShape, wShape, p, groups);
}

/**
 * conv3d with groups as one recorded op on the grouped kernels. Its gradients are plain kernel calls (backward
 * runs without recording; unlike conv3d's, the grouped gradients are no public ops whose own gradients a user
 * could ask for).
 */
function conv3dGroupedRaw(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv3dParams, groups: number): Tensor {
  const shape = [x.shape[0], weight.shape[0], ...convOutputSize(x.shape, weight.shape, p)];
  const storage = withDense(bias ? [x, weight, bias] : [x, weight], (xs, ws, bs) =>
    x.backend.conv3dGrouped(xs, x.shape, ws, weight.shape, bs ?? null, p, groups));
  const y = out(x, storage, shape);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record('conv3dGrouped', y, inputs, (g, [xs, ws]) => {
    const gx = x.requiresGrad
      ? withDense([g, ws], (gs, wd) => g.backend.conv3dGroupedBackwardInput(gs, g.shape, wd, ws.shape, xs.shape, p, groups)) : null;
    const gw = weight.requiresGrad
      ? withDense([xs, g], (xd, gs) => g.backend.conv3dGroupedBackwardWeight(xd, xs.shape, gs, g.shape, ws.shape, p, groups)) : null;
    return [
      gx && out(g, gx, xs.shape), gw && out(g, gw, ws.shape),
      ...(bias ? [bias.requiresGrad ? sum(g, [0, 2, 3, 4]) : null] : []),
    ];
  }, [x, weight]);
}

/** a convolution's groups: a positive integer splitting the input channels */
function checkGroups(op: string, x: Tensor, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
  if (x.rank === 5 && x.shape[1] % groups !== 0) throw new Error(`${op}: the ${x.shape[1]} input channels of ${formatShape(x.shape)} do not split into ${groups} groups`);
}

/**
 * F.conv3d: x [N, Ci, D, H, W], weight [Co, Ci / groups, kd, kh, kw], bias [Co] or null → [N, Co, D', H', W']
 * with D' = ⌊(D + 2p − dil·(kd − 1) − 1)/s⌋ + 1 (and so on); padding also 'valid' or 'same' (see stringPadding).
 * With groups g (g = Ci: depthwise), output channels [j·Co/g, (j + 1)·Co/g) see only input channels
 * [j·Ci/g, (j + 1)·Ci/g): the grouped kernels for narrow groups (see groupedKernelMaxFilters), else one
 * convolution per group, concatenated.
 */
export function conv3d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv3dFunctionOptions = {}): Tensor {
  const op = 'conv3d';
  const groups = options.groups ?? 1;
  checkGroups(op, x, groups);
  if (weight.rank === 5 && weight.shape[0] % groups !== 0) {
    throw new Error(`${op}: the ${weight.shape[0]} output channels of weight ${formatShape(weight.shape)} do not split into ${groups} groups`);
  }
  checkConvOperands(op, x, weight, bias, 1, groups);
  const { padding = 0 } = options;
  if (typeof padding !== 'string') return conv3dParams(op, x, weight, bias, convParams(op, { ...options, padding }), groups);
  const p = convParams(op, { ...options, padding: 0 });
  const resolved = stringPadding(op, padding, triple(weight.shape.slice(2), `${op}: kernel size`), p.stride, p.dilation);
  return convWithExtraEndZeros(x, resolved.padding, resolved.extraEnd, (xp, q) => conv3dParams(op, xp, weight, bias, { ...p, padding: [...q] }, groups));
}

/** conv3d with checked operands and resolved parameters */
function conv3dParams(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv3dParams, groups: number): Tensor {
  checkKernelFits(op, x, weight, p);
  if (groups === 1) return autocastConv(x, weight, bias, (xc, wc, bc) => conv3dRaw(xc, wc, bc, p));
  if (usesGroupedKernels(x.shape, weight.shape, p, groups)) return autocastConv(x, weight, bias, (xc, wc, bc) => conv3dGroupedRaw(xc, wc, bc, p, groups));
  return autocastConv(x, weight, bias, (xc, wc, bc) => tidy(() => {
    const xs = split(xc, xc.shape[1] / groups, 1), ws = split(wc, wc.shape[0] / groups, 0);
    const bs = bc ? split(bc, bc.shape[0] / groups, 0) : null;
    return concat(xs.map((xg, j) => conv3dRaw(xg, ws[j], bs ? bs[j] : null, p)), 1);
  }));
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
 * F.conv_transpose3d: x [N, Cin, D, H, W], weight [Cin, Cout / groups, kd, kh, kw], bias [Cout] or null →
 * [N, Cout, D', …] with D' = (D − 1)·s − 2p + dil·(kd − 1) + outputPadding + 1. The adjoint of a conv3d with
 * Co = Cin and Ci = Cout: its forward is that conv's input gradient. outputPadding must be smaller than the
 * stride or the dilation (PyTorch's rule); on an axis where it reaches the stride, the output is that of padding
 * 0 cropped by the padding and filled with zeros past its end. With groups g, input channels
 * [j·Cin/g, (j + 1)·Cin/g) map to output channels [j·Cout/g, (j + 1)·Cout/g) (one transposed convolution per
 * group, concatenated).
 */
export function convTranspose3d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTranspose3dOptions = {}): Tensor {
  const op = 'convTranspose3d';
  const groups = options.groups ?? 1;
  checkGroups(op, x, groups);
  const g = transposedGeometry(op, x, weight, bias, options, groups);
  return tidy(() => {
    const y = autocastConv(x, weight, null, (xc, wc) => {
      if (groups === 1) return transposedRaw(xc, wc, g);
      const ws = split(wc, wc.shape[0] / groups, 0);
      return concat(split(xc, xc.shape[1] / groups, 1).map((xg, j) => transposedRaw(xg, ws[j], g)), 1);
    });
    return bias ? add(y, reshape(bias, channelShape(y))) : y;
  });
}

/** one group's transposed convolution: the conv3d input gradient, cropped and zero-filled on the `cropped` axes */
function transposedRaw(x: Tensor, weight: Tensor, g: TransposedGeometry): Tensor {
  let y = conv3dBackwardInputRaw(x, weight, [x.shape[0], weight.shape[1], ...g.convInput], g.p);
  if (!g.cropped.some((c) => c)) return y;
  const pads = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 3; i++) {
    if (!g.cropped[i]) continue;
    const start = g.padding[i], end = Math.min(start + g.output[i], g.convInput[i]);
    y = slice(y, 2 + i, start, end);
    pads[5 - 2 * i] = g.output[i] - (end - start); // pad's last-axis-first order: [w0, w1, h0, h1, d0, d1]
  }
  return pads.some((q) => q > 0) ? pad(y, pads) : y;
}

interface TransposedGeometry {
  /** the parameters of the convolution whose input gradient is computed (padding 0 on the cropped axes) */
  p: Conv3dParams;
  /** that convolution's input size [D, H, W] */
  convInput: number[];
  /** the output size [D', H', W'] */
  output: number[];
  /** per axis: outputPadding ≥ stride (allowed below the dilation): computed unpadded, then cropped */
  cropped: boolean[];
  padding: Triple;
}

/** convTranspose3d's checked parameters and the shapes of the convolution whose input gradient it is. */
function transposedGeometry(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, options: ConvTranspose3dOptions, groups = 1): TransposedGeometry {
  checkConvOperands(op, x, weight, bias, 0, groups);
  const p = convParams(op, options);
  const outputPadding = triple(options.outputPadding ?? 0, `${op}: outputPadding`);
  for (let i = 0; i < 3; i++) {
    if (outputPadding[i] < 0 || (outputPadding[i] >= p.stride[i] && outputPadding[i] >= p.dilation[i])) {
      throw new Error(`${op}: outputPadding [${outputPadding.join(', ')}] must be ≥ 0 and smaller than either the stride [${p.stride.join(', ')}] or the dilation [${p.dilation.join(', ')}]`);
    }
  }
  const unpadded = (i: number) => (x.shape[2 + i] - 1) * p.stride[i] + p.dilation[i] * (weight.shape[2 + i] - 1) + 1;
  const output = [0, 1, 2].map((i) => unpadded(i) - 2 * p.padding[i] + outputPadding[i]);
  if (output.some((d) => d < 1)) {
    throw new Error(`${op}: input ${formatShape(x.shape)} with weight ${formatShape(weight.shape)} and padding [${p.padding.join(', ')}] gives an empty output ${formatShape(output)}`);
  }
  const cropped = outputPadding.map((q, i) => q >= p.stride[i]);
  const padding = p.padding;
  const convPadding = padding.map((q, i) => (cropped[i] ? 0 : q)) as Mutable3;
  const convInput = output.map((d, i) => (cropped[i] ? unpadded(i) : d));
  return { p: { ...p, padding: convPadding }, convInput, output, cropped, padding };
}

/** A batch norm in evaluation mode (by its running statistics) after a convolution, and whether a ReLU follows. */
export interface EvalBatchNorm {
  runningMean: Tensor;
  runningVar: Tensor;
  weight: Tensor | null;
  bias: Tensor | null;
  /** default 1e-5 */
  eps?: number;
  relu?: boolean;
}

/**
 * The epilogue of an inference-only fused convolution (see conv3dBatchNormEval), after checking that no gradient
 * would be recorded and the norm's tensors fit the `channels` written.
 */
function evalEpilogue(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, bn: EvalBatchNorm, channels: number): ConvNormEpilogue {
  if (getAutocastDtype() !== null) {
    throw new Error(`${op}: not under autocast (its convolution reads float32 operands); use the convolution and batchNorm there`);
  }
  const norm = [bn.runningMean, bn.runningVar, bn.weight, bn.bias];
  if (needsGrad([x, weight, ...[bias, ...norm].filter((t): t is Tensor => t !== null)])) {
    throw new Error(`${op}: inference only (it records no gradient): call it under noGrad or with no input requiring grad; use the convolution and batchNorm otherwise`);
  }
  for (const [name, t] of [['runningMean', bn.runningMean], ['runningVar', bn.runningVar], ['weight', bn.weight], ['bias', bn.bias]] as const) {
    checkPerChannel(op, `batch norm ${name}`, t, x, channels);
  }
  return { norm: normTerms(bn.runningMean, bn.runningVar, bn.weight, bn.bias, bn.eps ?? 1e-5), relu: bn.relu ?? false };
}

/**
 * Inference only: F.conv3d(x, weight, bias) (groups 1) followed by F.batchNorm in evaluation mode (`bn`'s running
 * statistics) and, with bn.relu, max(0, ·), as one convolution whose final write applies the bias, the
 * normalisation and the ReLU (the normalize kernel's expression on the convolution's float32 sum: the same
 * values as the three ops in sequence). Records no gradient: throws where one would be recorded (grad enabled and
 * an input requiring grad); models use it only then (Sequential, see models/module.ts).
 */
export function conv3dBatchNormEval(x: Tensor, weight: Tensor, bias: Tensor | null, bn: EvalBatchNorm, options: Omit<Conv3dOptions, 'groups'> = {}): Tensor {
  const op = 'conv3dBatchNormEval';
  checkConvOperands(op, x, weight, bias, 1);
  const p = convParams(op, options);
  checkKernelFits(op, x, weight, p);
  const shape = [x.shape[0], weight.shape[0], ...convOutputSize(x.shape, weight.shape, p)];
  return tidy(() => {
    const epilogue = evalEpilogue(op, x, weight, bias, bn, weight.shape[0]);
    return out(x, withDense(bias ? [x, weight, bias] : [x, weight], (xs, ws, bs) =>
      x.backend.conv3d(xs, x.shape, ws, weight.shape, bs ?? null, p, epilogue)), shape);
  });
}

/**
 * Inference only: F.convTranspose3d(x, weight, bias) followed by F.batchNorm in evaluation mode and, with bn.relu,
 * max(0, ·), as one transposed convolution whose final write adds the bias and applies the normalisation and the
 * ReLU (as conv3dBatchNormEval).
 */
export function convTranspose3dBatchNormEval(x: Tensor, weight: Tensor, bias: Tensor | null, bn: EvalBatchNorm, options: Omit<ConvTranspose3dOptions, 'groups'> = {}): Tensor {
  const op = 'convTranspose3dBatchNormEval';
  const g = transposedGeometry(op, x, weight, bias, options);
  const inputShape = [x.shape[0], weight.shape[1], ...g.convInput], p = g.p;
  return tidy(() => {
    const epilogue = evalEpilogue(op, x, weight, bias, bn, weight.shape[1]);
    if (g.cropped.some((c) => c)) {
      // outputPadding past the stride: the transposed convolution's crop, then the normalisation (the same values)
      return batchNorm(convTranspose3d(x, weight, bias, options), bn.runningMean, bn.runningVar, bn.weight, bn.bias, { eps: bn.eps, relu: bn.relu });
    }
    return out(x, withDense(bias ? [x, weight, bias] : [x, weight], (xs, ws, bs) =>
      x.backend.conv3dBackwardInput(xs, x.shape, ws, weight.shape, inputShape, p, bs ?? null, epilogue)), inputShape);
  });
}

// -------------------------------------------------------------------------------------------- pooling

export interface Pool3dOptions {
  /** default: the kernel size */
  stride?: number | Triple;
  padding?: number | Triple;
  /**
   * PyTorch's ceil_mode (default false): output size ⌈(in + 2·pad − kernel)/stride⌉ + 1, less one where that last
   * window would start past the input and its left padding; a window reaching past the padded input is clipped
   */
  ceilMode?: boolean;
}

function poolParams(op: string, x: Tensor, kernelSize: number | Triple, options: Pool3dOptions, dilationOption: number | Triple = 1): { p: Pool3dParams; shape: number[] } {
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  const kernel = triple(kernelSize, `${op}: kernel size`);
  const stride = triple(options.stride ?? kernel, `${op}: stride`);
  const padding = triple(options.padding ?? 0, `${op}: padding`);
  const dilation = triple(dilationOption, `${op}: dilation`);
  if (kernel.some((k) => k < 1)) throw new Error(`${op}: kernel size must be ≥ 1, got [${kernel.join(', ')}]`);
  if (stride.some((s) => s < 1)) throw new Error(`${op}: stride must be ≥ 1, got [${stride.join(', ')}]`);
  if (dilation.some((d) => d < 1)) throw new Error(`${op}: dilation must be ≥ 1, got [${dilation.join(', ')}]`);
  if (padding.some((q, i) => q < 0 || 2 * q > kernel[i])) {
    throw new Error(`${op}: padding [${padding.join(', ')}] must be ≥ 0 and at most half the kernel [${kernel.join(', ')}]`);
  }
  const ceilMode = options.ceilMode ?? false;
  if (typeof ceilMode !== 'boolean') throw new Error(`${op}: ceilMode must be a boolean, got ${String(ceilMode)}`);
  const spatial = [0, 1, 2].map((i) => poolOutSize(x.shape[2 + i], kernel[i], stride[i], padding[i], ceilMode, dilation[i]));
  const dilated = dilation.some((d) => d !== 1);
  if (spatial.some((d) => d < 1)) {
    const dilationNote = dilated ? ` (dilation [${dilation.join(', ')}])` : '';
    throw new Error(`${op}: kernel [${kernel.join(', ')}]${dilationNote} is larger than the padded input ${formatShape(x.shape)} + padding [${padding.join(', ')}]`);
  }
  return { p: { kernel, stride, padding, ...(ceilMode ? { ceilMode } : {}), ...(dilated ? { dilation } : {}) }, shape: [x.shape[0], x.shape[1], ...spatial] };
}

export interface MaxPool3dFunctionOptions extends Pool3dOptions {
  /** the spacing of a window's taps (default 1; PyTorch has dilation for max pooling only) */
  dilation?: number | Triple;
  /** PyTorch's return_indices: also return the int32 argmax of each window, flat inside its (N, C) input volume */
  returnIndices?: boolean;
}

/**
 * F.max_pool3d (floor or ceil mode, dilation); the argmax indices are saved for backward, and with
 * `returnIndices` returned too ([values, indices], int32 where PyTorch's are int64), as maxUnpool3d takes them.
 */
export function maxPool3d(x: Tensor, kernelSize: number | Triple, options?: MaxPool3dFunctionOptions & { returnIndices?: false }): Tensor;
export function maxPool3d(x: Tensor, kernelSize: number | Triple, options: MaxPool3dFunctionOptions & { returnIndices: true }): [Tensor, Tensor];
export function maxPool3d(x: Tensor, kernelSize: number | Triple, options: MaxPool3dFunctionOptions = {}): Tensor | [Tensor, Tensor] {
  const { returnIndices = false, dilation = 1, ...window } = options;
  if (typeof returnIndices !== 'boolean') throw new Error(`maxPool3d: returnIndices must be a boolean, got ${String(returnIndices)}`);
  const { p, shape } = poolParams('maxPool3d', x, kernelSize, window, dilation);
  const { values, indices } = withDense([x], (xs) => x.backend.maxPool3d(xs, x.shape, p));
  const y = out(x, values, shape);
  const idx = out(x, indices, shape);
  record('maxPool3d', y, [x], (g, [is]) => [maxPool3dBackwardRaw(g, is, x.shape)], [idx]);
  if (returnIndices) return [y, idx];
  idx.dispose();
  return y;
}

export interface MaxUnpool3dOptions {
  /** default: the kernel size */
  stride?: number | Triple;
  padding?: number | Triple;
  /**
   * the output's spatial size [D, H, W] (or a whole [N, C, D, H, W] shape, whose last three count), each strictly
   * within the stride of the default (in − 1)·stride − 2·padding + kernel, as PyTorch's
   */
  outputSize?: readonly number[];
}

/**
 * F.max_unpool3d: zeros of [N, C, D', H', W'] with each value of x written where its index (flat inside the (N, C)
 * output volume, as maxPool3d's returnIndices gives them) points; where several name one voxel, the last in C order
 * wins (PyTorch's cpu loop on one thread; with more threads, and on CUDA, PyTorch leaves it open; maxPool3d's
 * overlapping windows name a voxel only with its own value). The gradient of x is the output gradient gathered at
 * the indices, as PyTorch's (every x naming a voxel gets its gradient).
 */
export function maxUnpool3d(x: Tensor, indices: Tensor, kernelSize: number | Triple, options: MaxUnpool3dOptions = {}): Tensor {
  const op = 'maxUnpool3d';
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  checkSameBackend(op, x, indices);
  if (indices.dtype !== 'int32') throw new Error(`${op}: indices must be int32 (as maxPool3d's returnIndices), got ${indices.dtype}`);
  if (!sameShape(indices.shape, x.shape)) throw new Error(`${op}: indices ${formatShape(indices.shape)} must have the input's shape ${formatShape(x.shape)}`);
  const kernel = triple(kernelSize, `${op}: kernel size`);
  const stride = triple(options.stride ?? kernel, `${op}: stride`);
  const padding = triple(options.padding ?? 0, `${op}: padding`);
  if (kernel.some((k) => k < 1) || stride.some((v) => v < 1) || padding.some((v) => v < 0)) {
    throw new Error(`${op}: kernel [${kernel.join(', ')}], stride [${stride.join(', ')}] and padding [${padding.join(', ')}] must be ≥ 1, ≥ 1 and ≥ 0`);
  }
  const defaults = [0, 1, 2].map((i) => (x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + kernel[i]);
  let size = defaults;
  if (options.outputSize !== undefined) {
    const given = options.outputSize.length === 5 ? options.outputSize.slice(2) : options.outputSize;
    if (given.length !== 3) throw new Error(`${op}: outputSize must have 3 or 5 elements, got ${formatShape(options.outputSize)}`);
    for (let i = 0; i < 3; i++) {
      if (!Number.isInteger(given[i]) || given[i] <= defaults[i] - stride[i] || given[i] >= defaults[i] + stride[i]) {
        throw new Error(`${op}: invalid outputSize ${formatShape(options.outputSize)} (axis ${i} must be between ${defaults[i] - stride[i]} and ${defaults[i] + stride[i]}, exclusive)`);
      }
    }
    size = [...given];
  }
  if (size.some((d) => d < 1)) throw new Error(`${op}: output size [${size.join(', ')}] of input ${formatShape(x.shape)} is empty`);
  const outSize: Mutable3 = [size[0], size[1], size[2]];
  const y = out(x, withDense([x, indices], (xs, is) => x.backend.maxUnpool3d(xs, is, x.shape, outSize)), [x.shape[0], x.shape[1], ...outSize]);
  return record(op, y, [x], (g, [is]) => {
    const planes = [x.shape[0], x.shape[1]];
    const flat = reshape(g, [...planes, sizeOf(outSize)]), at = reshape(is, [...planes, sizeOf(x.shape.slice(2))]);
    const gathered = gather(flat, 2, at);
    const gx = reshape(gathered, x.shape);
    for (const t of [flat, at, gathered]) t.dispose();
    return [gx];
  }, [indices]);
}

/**
 * Routes gy to the argmax positions. Only maxPool3d's backward calls it, and backward runs under noGrad, so it
 * records no rule of its own (the same holds for the other pooling and resampling adjoints below).
 */
function maxPool3dBackwardRaw(gy: Tensor, indices: Tensor, inputShape: readonly number[]): Tensor {
  return out(gy, withDense([gy, indices], (gs, is) => gy.backend.maxPool3dBackward(gs, is, gy.shape, inputShape)), inputShape);
}

export interface AvgPool3dOptions extends Pool3dOptions {
  /** divide by the whole window (true, default) or by its elements inside the unpadded input (false) */
  countIncludePad?: boolean;
  /** divide every window's sum by this nonzero integer instead (PyTorch's divisor_override; countIncludePad then plays no part) */
  divisorOverride?: number;
}

/**
 * F.avg_pool3d. The divisor is the window clipped to the padded input (countIncludePad, the default; in ceil mode
 * the last windows may be clipped), or its elements inside the input (countIncludePad false: the pooled x over the
 * pooled ones, a constant), or divisorOverride.
 */
export function avgPool3d(x: Tensor, kernelSize: number | Triple, options: AvgPool3dOptions = {}): Tensor {
  const { p, shape } = poolParams('avgPool3d', x, kernelSize, options);
  const { divisorOverride } = options;
  if (divisorOverride !== undefined) {
    if (!(Number.isInteger(divisorOverride) && divisorOverride !== 0)) throw new Error(`avgPool3d: divisorOverride must be a nonzero integer, got ${String(divisorOverride)}`);
    return avgPool3dRaw(x, { ...p, divisorOverride }, shape);
  }
  if ((options.countIncludePad ?? true) || p.padding.every((q) => q === 0)) return avgPool3dRaw(x, p, shape);
  return tidy(() => {
    const inside = noGrad(() => avgPool3dRaw(full([1, 1, ...x.shape.slice(2)], 1, { dtype: x.dtype, backend: x.backend }), p, [1, 1, ...shape.slice(2)]));
    return div(avgPool3dRaw(x, p, shape), inside);
  });
}

/** PyTorch's adaptive pooling windows along one axis: [⌊i·n/m⌋, ⌈(i + 1)·n/m⌉) for output i of m */
export function adaptiveWindows(inSize: number, outSize: number): [number, number][] {
  return Array.from({ length: outSize }, (_, i) => [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)]);
}

/** an adaptive pool's output size: one or three positive integers, null keeping that axis' input size */
function adaptiveSize(op: string, x: Tensor, outputSize: number | readonly (number | null)[]): Mutable3 {
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  const t = typeof outputSize === 'number' ? [outputSize, outputSize, outputSize] : [...outputSize];
  if (t.length !== 3) throw new Error(`${op}: output size must be one or three sizes, got ${JSON.stringify(outputSize)}`);
  const size = t.map((v, i) => v ?? x.shape[2 + i]) as Mutable3;
  if (size.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`${op}: output size must be positive integers, got ${JSON.stringify(outputSize)}`);
  if (x.shape.slice(2).some((d) => d < 1)) throw new Error(`${op}: input ${formatShape(x.shape)} has an empty spatial axis`);
  return size;
}

/** the pooling kernel when every input size is a multiple of the output size (the windows then tile the input) */
function tilingKernel(x: Tensor, size: Mutable3): Mutable3 | null {
  const k = size.map((m, i) => x.shape[2 + i] / m);
  return k.every(Number.isInteger) ? (k as Mutable3) : null;
}

/**
 * An adaptive pool separable by axes: the windowed `pool` when the windows tile the input, else `reduce` applied
 * to each spatial axis whose size changes, with that axis' windows.
 */
function separableAdaptivePool(x: Tensor, size: Mutable3, pool: (x: Tensor, kernel: Mutable3) => Tensor,
  reduce: (y: Tensor, axis: number, windows: [number, number][]) => Tensor): Tensor {
  const kernel = tilingKernel(x, size);
  if (kernel) return pool(x, kernel);
  return tidy(() => {
    let y = x;
    for (let axis = 2; axis < 5; axis++) {
      const n = x.shape[axis], m = size[axis - 2];
      if (n !== m) y = reduce(y, axis, adaptiveWindows(n, m));
    }
    return y;
  });
}

/**
 * F.adaptive_avg_pool3d: window i of each axis is PyTorch's [⌊i·n/m⌋, ⌈(i + 1)·n/m⌉). A box average is
 * separable, so it is one product per spatial axis with a [m, n] averaging matrix (avgPool3d when the windows
 * tile the input).
 */
export function adaptiveAvgPool3d(x: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  return separableAdaptivePool(x, adaptiveSize('adaptiveAvgPool3d', x, outputSize), (t, kernel) => avgPool3d(t, kernel), (y, axis, windows) => {
    const n = y.shape[axis]!, m = windows.length;
    const weights = new Float64Array(m * n);
    windows.forEach(([s, e], i) => { for (let j = s; j < e; j++) weights[i * n + j] = 1 / (e - s); });
    const averaging = fromArray(weights, [m, n], { dtype: y.dtype, backend: y.backend });
    // move the axis last, contract it with the averaging matrix, move it back
    const order = [0, 1, 2, 3, 4].filter((a) => a !== axis).concat(axis);
    const inverse = order.map((_, i) => order.indexOf(i));
    return permute(matmul(permute(y, order), transpose(averaging)), inverse);
  });
}

export interface AdaptiveMaxPool3dOptions {
  /** PyTorch's return_indices: also return the int32 argmax of each window, flat inside its (N, C) input volume */
  returnIndices?: boolean;
}

/**
 * F.adaptive_max_pool3d, windows as adaptiveAvgPool3d: maxPool3d when the windows tile the input, else one max per
 * window and axis (a box maximum is separable). Ties share the gradient evenly there (PyTorch sends it to one
 * element); with distinct values the two agree. `returnIndices`: [values, indices] as maxPool3d's, each index the
 * first maximum of its window in C order on ties, or its last NaN where it holds NaN (PyTorch's rule), the values
 * gathered there (so their gradient goes to the indexed element, as PyTorch's).
 */
export function adaptiveMaxPool3d(x: Tensor, outputSize: number | readonly (number | null)[], options?: AdaptiveMaxPool3dOptions & { returnIndices?: false }): Tensor;
export function adaptiveMaxPool3d(x: Tensor, outputSize: number | readonly (number | null)[], options: AdaptiveMaxPool3dOptions & { returnIndices: true }): [Tensor, Tensor];
export function adaptiveMaxPool3d(x: Tensor, outputSize: number | readonly (number | null)[], options: AdaptiveMaxPool3dOptions = {}): Tensor | [Tensor, Tensor] {
  const op = 'adaptiveMaxPool3d';
  const { returnIndices = false } = options;
  if (typeof returnIndices !== 'boolean') throw new Error(`${op}: returnIndices must be a boolean, got ${String(returnIndices)}`);
  const size = adaptiveSize(op, x, outputSize);
  const kernel = tilingKernel(x, size);
  if (returnIndices) return kernel ? maxPool3d(x, kernel, { returnIndices: true }) : adaptiveMaxWithIndices(x, size);
  return separableAdaptivePool(x, size, (t, k) => maxPool3d(t, k),
    (t, axis, windows) => concat(windows.map(([s, e]) => max(slice(t, axis, s, e), [axis], true)), axis)); // a list: amax
}

/**
 * Each adaptive window's value and flat index (inside its (N, C) volume) by PyTorch's rule, in C order the first
 * maximum or, where the window holds NaN, the last NaN: one pick per window along W, then H, then D, each carrying the
 * values and indices it picked (that order finds the smallest d, h, w among the maxima and the largest among the
 * NaNs). The values are gathered from x, so they are differentiable.
 */
function adaptiveMaxWithIndices(x: Tensor, size: Mutable3): [Tensor, Tensor] {
  return tidy(() => {
    const flat = fromArray(Int32Array.from({ length: sizeOf(x.shape.slice(2)) }, (_, i) => i), [1, 1, ...x.shape.slice(2)], { dtype: 'int32', backend: x.backend });
    let values = x, indices = expand(flat, x.shape);
    for (let axis = 4; axis >= 2; axis--) {
      const n = x.shape[axis], m = size[axis - 2];
      if (n === m) continue;
      // 1, 2, …, n along the axis where a value is NaN, else 0: its argmax in a window is the window's last NaN
      const positions = fromArray(Float32Array.from({ length: n }, (_, i) => i + 1), [n, ...Array<number>(4 - axis).fill(1)], { dtype: x.dtype, backend: x.backend });
      const nanPositions = noGrad(() => mul(ne(values, values), positions));
      const picked = adaptiveWindows(n, m).map(([s, e]) => {
        const window = slice(values, axis, s, e), nans = slice(nanPositions, axis, s, e);
        // argmax gives the first maximum, or the first NaN when there is one, no later than the last NaN (0 when none)
        const at = maximum(argmax(window, axis, true), argmax(nans, axis, true));
        return [gather(window, axis, at), gather(slice(indices, axis, s, e), axis, at)] as const;
      });
      values = concat(picked.map(([v]) => v), axis);
      indices = concat(picked.map(([, i]) => i), axis);
    }
    return [values, indices];
  });
}

function avgPool3dRaw(x: Tensor, p: Pool3dParams, shape: readonly number[]): Tensor {
  const y = out(x, withDense([x], (xs) => x.backend.avgPool3d(xs, x.shape, p)), shape);
  return record('avgPool3d', y, [x], (g) => [avgPool3dBackwardRaw(g, x.shape, p)]);
}

/** The adjoint of avgPool3d (a linear map), used only by its backward. */
function avgPool3dBackwardRaw(gy: Tensor, inputShape: readonly number[], p: Pool3dParams): Tensor {
  return out(gy, withDense([gy], (gs) => gy.backend.avgPool3dBackward(gs, gy.shape, inputShape, p)), inputShape);
}

// --------------------------------------------------------------------------------------------- resampling

/**
 * 'nearest' (PyTorch's legacy nearest, src = ⌊dst·in/out⌋), 'nearest-exact' (src = ⌊(dst + ½)·in/out⌋), 'trilinear'
 * or 'area' (adaptiveAvgPool3d to the output size)
 */
export type InterpolateMode = 'nearest' | 'nearest-exact' | 'trilinear' | 'area';

export interface InterpolateOptions {
  /** output [D, H, W] (or one number for all three) */
  size?: number | Triple;
  /** output = ⌊input · scaleFactor⌋ per axis; coordinates map by 1/scaleFactor, as PyTorch's default */
  scaleFactor?: number | Triple;
  mode?: InterpolateMode;
  /** only for 'trilinear' (default false), as PyTorch */
  alignCorners?: boolean;
  /** with scaleFactor: map coordinates by input/output size instead of 1/scaleFactor (default false, as PyTorch) */
  recomputeScaleFactor?: boolean;
}

/**
 * F.interpolate of a 5-D input, 'nearest' (PyTorch's legacy nearest: src = ⌊dst · in/out⌋, or ⌊dst/scaleFactor⌋),
 * 'nearest-exact' (src = ⌊(dst + ½) · in/out⌋, or with 1/scaleFactor), 'trilinear', or 'area' (PyTorch's:
 * adaptiveAvgPool3d to the output size, whatever the scale factor).
 */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  const op = 'interpolate';
  checkRank5(op, 'input', x);
  checkFloat(op, x);
  const mode = options.mode ?? 'nearest';
  if (!interpolateModes.includes(mode)) throw new Error(`${op}: unknown mode '${String(mode)}'; valid: ${interpolateModes.join(', ')}`);
  if (mode !== 'trilinear' && options.alignCorners !== undefined) {
    throw new Error(`${op}: alignCorners can only be set with mode 'trilinear'`);
  }
  if ((options.size === undefined) === (options.scaleFactor === undefined)) {
    throw new Error(`${op}: give exactly one of size and scaleFactor`);
  }
  if (options.recomputeScaleFactor !== undefined && options.scaleFactor === undefined) {
    throw new Error(`${op}: recomputeScaleFactor can only be set with scaleFactor`);
  }
  let size: Mutable3;
  let scales: Triple | undefined;
  if (options.size !== undefined) size = triple(options.size, `${op}: size`);
  else {
    const f = typeof options.scaleFactor === 'number' ? [options.scaleFactor, options.scaleFactor, options.scaleFactor] : [...options.scaleFactor!];
    if (f.length !== 3 || f.some((v) => !(v > 0 && Number.isFinite(v)))) throw new Error(`${op}: scaleFactor must be positive (one or three numbers), got ${JSON.stringify(options.scaleFactor)}`);
    size = [0, 1, 2].map((i) => Math.floor(x.shape[2 + i] * f[i])) as Mutable3;
    if (!(options.recomputeScaleFactor ?? false)) scales = f as Mutable3;
  }
  if (size.some((d) => d < 1)) throw new Error(`${op}: output size [${size.join(', ')}] of input ${formatShape(x.shape)} is empty`);
  if (mode === 'area') return adaptiveAvgPool3d(x, size);
  const alignCorners = options.alignCorners ?? false;
  const shape = [x.shape[0], x.shape[1], ...size];
  const y = out(x, withDense([x], (xs) => x.backend.interpolate(xs, x.shape, size, mode, alignCorners, scales)), shape);
  return record('interpolate', y, [x], (g) => [interpolateBackwardRaw(g, x.shape, mode, alignCorners, scales)]);
}

const interpolateModes: readonly InterpolateMode[] = ['nearest', 'nearest-exact', 'trilinear', 'area'];

/** The adjoint of interpolate (linear), used only by its backward. */
function interpolateBackwardRaw(gy: Tensor, inputShape: readonly number[], mode: Exclude<InterpolateMode, 'area'>, alignCorners: boolean,
  scales: Triple | undefined): Tensor {
  return out(gy, withDense([gy], (gs) => gy.backend.interpolateBackward(gs, gy.shape, inputShape, mode, alignCorners, scales)), inputShape);
}

export type GridSampleMode = GridSampleParams['mode'];
export type GridSamplePaddingMode = GridSampleParams['paddingMode'];

export interface GridSampleOptions {
  /** 'bilinear' (default; trilinear on a 5-D input, PyTorch's name) or 'nearest' */
  mode?: GridSampleMode;
  /** 'zeros' (default), 'border' or 'reflection' */
  paddingMode?: GridSamplePaddingMode;
  /** default false, as PyTorch */
  alignCorners?: boolean;
}

/**
 * F.grid_sample of a 5-D input [N, C, D, H, W] at grid [N, Do, Ho, Wo, 3] of normalised coordinates
 * (grid[…, 0] = x along W, [… , 1] = y along H, [… , 2] = z along D, −1 and 1 the extreme voxels' centres
 * with alignCorners, their outer edges without): output [N, C, Do, Ho, Wo]. Differentiable in both the input
 * and the grid (the grid gradient is 0 for 'nearest'); the backward calls its kernels directly (no second
 * derivative).
 */
export function gridSample(input: Tensor, grid: Tensor, options: GridSampleOptions = {}): Tensor {
  const op = 'gridSample';
  checkRank5(op, 'input', input);
  checkFloat(op, input);
  checkSameBackend(op, input, grid);
  checkDtypes(op, input, grid);
  if (grid.rank !== 5 || grid.shape[4] !== 3 || grid.shape[0] !== input.shape[0]) {
    throw new Error(`${op}: grid ${formatShape(grid.shape)} must be [N, Do, Ho, Wo, 3] with the input's N (input ${formatShape(input.shape)})`);
  }
  const mode = options.mode ?? 'bilinear', paddingMode = options.paddingMode ?? 'zeros';
  if (mode !== 'bilinear' && mode !== 'nearest') throw new Error(`${op}: unknown mode '${String(mode)}'; valid: bilinear, nearest`);
  if (paddingMode !== 'zeros' && paddingMode !== 'border' && paddingMode !== 'reflection') {
    throw new Error(`${op}: unknown paddingMode '${String(paddingMode)}'; valid: zeros, border, reflection`);
  }
  const p: GridSampleParams = { mode, paddingMode, alignCorners: options.alignCorners ?? false };
  const shape = [input.shape[0], input.shape[1], ...grid.shape.slice(1, 4)];
  const y = out(input, withDense([input, grid], (xs, gs) => input.backend.gridSample(xs, input.shape, gs, grid.shape, p)), shape);
  return record(op, y, [input, grid], (g, [xs, gs]) => withDense([g, xs, gs], (gys, xss, gss) => [
    input.requiresGrad ? out(input, input.backend.gridSampleBackwardInput(gys, gss, grid.shape, input.shape, p), input.shape) : null,
    grid.requiresGrad ? out(grid, grid.backend.gridSampleBackwardGrid(gys, xss, input.shape, gss, grid.shape, p), grid.shape) : null,
  ]), [input, grid]);
}

/** PyTorch's linspace_from_neg_one: S points over [−1, 1] (the voxel centres), scaled by (S − 1)/S without alignCorners; 0 for S = 1. */
function normalizedCoordinates(size: number, alignCorners: boolean): number[] {
  if (size <= 1) return [0];
  const scale = alignCorners ? 1 : (size - 1) / size;
  return Array.from({ length: size }, (_, i) => (-1 + (2 * i) / (size - 1)) * scale);
}

/**
 * F.affine_grid for 3-D: the sampling grid [N, D, H, W, 3] of the affine maps theta [N, 3, 4] over an output of
 * `size` [N, C, D, H, W]: grid[n, d, h, w] = theta[n] · (x_w, y_h, z_d, 1) with the normalised coordinates of
 * gridSample (the identity theta gives the grid that samples the input unchanged, with the same alignCorners).
 * Differentiable in theta (a matmul).
 */
export function affineGrid(theta: Tensor, size: readonly number[], alignCorners = false): Tensor {
  const op = 'affineGrid';
  checkFloat(op, theta);
  if (size.length !== 5 || size.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${op}: size must be five positive integers [N, C, D, H, W], got ${JSON.stringify(size)}`);
  }
  if (theta.rank !== 3 || theta.shape[0] !== size[0] || theta.shape[1] !== 3 || theta.shape[2] !== 4) {
    throw new Error(`${op}: theta ${formatShape(theta.shape)} must be [N, 3, 4] with N = ${size[0]} (size ${formatShape(size)})`);
  }
  const [N, , D, H, W] = size;
  const [zs, ys, xs] = [D, H, W].map((s) => normalizedCoordinates(s, alignCorners));
  const base = new Float64Array(D * H * W * 4);
  let at = 0;
  for (const z of zs) for (const y of ys) for (const x of xs) { base[at++] = x; base[at++] = y; base[at++] = z; base[at++] = 1; }
  return tidy(() => {
    const baseGrid = fromArray(base, [D * H * W, 4], { backend: theta.backend, dtype: theta.dtype });
    return reshape(matmul(baseGrid, transpose(theta)), [N, D, H, W, 3]);
  });
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
  const [n, c] = x.shape;
  let inner = 1;
  for (let i = 2; i < x.rank; i++) inner *= x.shape[i];
  return perSample
    ? { outer: 1, channels: n * c, inner, perGroup: c / groups, params: c }
    : { outer: n, channels: c, inner, perGroup: 1, params: c };
}

/** the layout whose channels are the statistics' groups: [outer, channels / perGroup, perGroup·inner] */
function statsLayout(l: NormLayout): ChannelLayout {
  return { outer: l.outer, channels: l.channels / l.perGroup, inner: l.perGroup * l.inner };
}

interface NormStats { mean: Tensor; variance: Tensor }

interface NormParams { weight: Tensor | null; bias: Tensor | null; eps: number; relu: boolean }

/** batch norm's running statistics, which the moments reduction updates in place (see updateRunningStats) */
interface RunningStats { mean: Tensor | null; variance: Tensor | null; momentum: number; count: number }

function normTerms(m: Tensor, v: Tensor, w: Tensor | null, b: Tensor | null, eps: number): NormTerms {
  return { mean: storageOf(m), variance: storageOf(v), weight: w && storageOf(w), bias: b && storageOf(b), eps };
}

/** per-channel sums [samples, params] → per-parameter values: added over the samples */
function overSamples(v: Tensor, samples: number): Tensor { return samples === 1 ? v : sum(v, 0); }

/** rstd = 1/√(variance + eps) and rstd·weight */
function rstdTimesWeight(variance: Tensor, weight: Tensor | null, eps: number): { rstd: Tensor; a: Tensor } {
  const rstd = rsqrt(addScalar(variance, eps));
  return { rstd, a: weight ? mul(rstd, weight) : rstd };
}

/** The mean and biased variance of x's statistics groups (no gradient); updates `running` from them. */
function batchMoments(x: Tensor, xs: Storage, l: NormLayout, running: RunningStats | null): NormStats {
  const layout = statsLayout(l), shape = [l.channels / l.perGroup];
  let s: { mean: Storage; variance: Storage } | null = null;
  if (running) {
    inPlace([running.mean, running.variance], (mean, variance) => {
      s = x.backend.moments(xs, layout, { mean, variance, momentum: running.momentum, count: running.count });
    });
  } else s = x.backend.moments(xs, layout);
  const { mean, variance } = s!;
  return { mean: out(x, mean, shape), variance: out(x, variance, shape) };
}

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
 * under noGrad, so no gradient of it is ever recorded). Batch statistics update `running`, if given.
 */
function normalizeOp(op: string, x: Tensor, l: NormLayout, fixed: NormStats | null, p: NormParams,
  running: RunningStats | null = null): Tensor {
  const xd = x.isDense ? x : dense(x);
  const { mean, variance } = fixed ?? noGrad(() => batchMoments(x, xd.storage, l, running));
  const y = out(x, x.backend.normalize(xd.storage, normTerms(mean, variance, p.weight, p.bias, p.eps), l, p.relu), x.shape);
  // the differentiable inputs besides x, null where absent
  const others = [p.weight, p.bias, ...(fixed ? [fixed.mean, fixed.variance] : [])];
  const params = others.filter((t): t is Tensor => t !== null);
  const save = [xd, mean, variance, ...(p.weight ? [p.weight] : []), ...(p.relu ? [y] : [])];
  record(op, y, [x, ...params], (g, [xs, ms, vs, ...rest]) => {
    const ws = p.weight ? rest[0] : null, mask = p.relu ? storageOf(rest[rest.length - 1]) : null;
    const t = normTerms(ms, vs, ws, null, p.eps), gs = storageOf(g);
    const sums = !fixed || params.some((q) => q.requiresGrad) ? x.backend.normSums(gs, xs.storage, mask, t, l) : null;
    const dx = x.requiresGrad ? out(x, x.backend.normBackward(gs, xs.storage, mask, t, fixed ? null : sums, l), x.shape) : null;
    if (!sums) return [dx, ...params.map(() => null)];
    // per-channel sums [samples, params] → per-parameter gradients: added over the samples
    const samples = l.channels / l.params;
    const sumsShape = samples === 1 ? [l.params] : [samples, l.params];
    const sumT = out(x, sums.sum, sumsShape), dotT = out(x, sums.dot, sumsShape);
    // the gradients of weight, bias and (batch norm in evaluation: one sample, one channel per group) μ and σ²
    // (closures in an array: named ones would each cost tsx's keep-names helper a call per backward)
    const gradOf = [
      () => overSamples(dotT, samples),
      () => overSamples(sumT, samples),
      () => neg(mul(rstdTimesWeight(vs, ws, p.eps).a, overSamples(sumT, samples))),
      () => { const { rstd, a } = rstdTimesWeight(vs, ws, p.eps); return mulScalar(mul(mul(a, rstd), overSamples(dotT, samples)), -0.5); },
    ];
    return [dx, ...others.flatMap((q, i) => (q ? [q.requiresGrad ? gradOf[i]() : null] : []))];
  }, save);
  return y;
}

/** Runs an in-place kernel on the storages of some tensors: directly when dense, else on copies written back. */
function inPlace(ts: readonly (Tensor | null)[], fn: (...storages: (Storage | null)[]) => void): void {
  const ds = ts.map((t) => t && (t.isDense ? t : dense(t)));
  fn(...ds.map((d) => d?.storage ?? null));
  ts.forEach((t, i) => { if (t && ds[i]!.storage !== t.storage) assign(t, ds[i]!); });
}

/**
 * F.batch_norm for [N, C, …]: with `training`, normalises by the batch mean and biased variance over every
 * axis but 1, and updates runningMean/runningVar in place (in the moments reduction's pass, under noGrad) with
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
    return tidy(() => normalizeOp(op, x, layout, { mean: runningMean, variance: runningVar }, p));
  }
  const n = x.numel() / x.shape[1];
  if (n <= 1) throw new Error(`${op}: expected more than 1 value per channel when training, got input ${formatShape(x.shape)}`);
  const running = runningMean || runningVar ? { mean: runningMean, variance: runningVar, momentum, count: n } : null;
  return tidy(() => normalizeOp(op, x, layout, null, p, running));
}

export interface InstanceNormOptions extends NormReluOption {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
  /** per-channel running statistics [C] (PyTorch's running_mean / running_var), updated in place when useInputStats */
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** normalise by each sample's statistics (default true) or, when false, by the running ones */
  useInputStats?: boolean;
  /** running = (1 − momentum)·running + momentum·(the samples' mean statistic) (default 0.1) */
  momentum?: number;
}

/**
 * F.instance_norm: per-(n, c) mean and biased variance over the spatial axes. With running statistics and
 * useInputStats (the default), they become (1 − momentum)·running + momentum·(the mean over the samples of each
 * (n, c)'s mean and unbiased variance), PyTorch's update of its per-sample copies averaged over the batch; with
 * useInputStats false the running statistics normalise (as batchNorm in evaluation).
 */
export function instanceNorm(x: Tensor, options: InstanceNormOptions = {}): Tensor {
  const op = 'instanceNorm';
  checkNormInput(op, x);
  const weight = options.weight ?? null, bias = options.bias ?? null;
  const runningMean = options.runningMean ?? null, runningVar = options.runningVar ?? null;
  checkPerChannel(op, 'weight', weight, x);
  checkPerChannel(op, 'bias', bias, x);
  checkPerChannel(op, 'runningMean', runningMean, x);
  checkPerChannel(op, 'runningVar', runningVar, x);
  const p: NormParams = { weight, bias, eps: options.eps ?? 1e-5, relu: options.relu ?? false };
  if (!(options.useInputStats ?? true)) {
    if (!runningMean || !runningVar) throw new Error(`${op}: useInputStats false needs runningMean and runningVar`);
    return tidy(() => normalizeOp(op, x, normLayout(x, false, x.shape[1]), { mean: runningMean, variance: runningVar }, p));
  }
  const spatial = x.shape.slice(2);
  if (sizeOf(spatial) <= 1) throw new Error(`${op}: expected more than 1 spatial element per channel, got input ${formatShape(x.shape)}`);
  if (runningMean || runningVar) {
    const momentum = options.momentum ?? 0.1, axes = spatial.map((_, i) => 2 + i);
    noGrad(() => tidy(() => {
      const update = (running: Tensor, statistic: Tensor) =>
        assign(running, add(mulScalar(running, 1 - momentum), mulScalar(mean(statistic, 0), momentum)));
      if (runningMean) update(runningMean, mean(x, axes));
      if (runningVar) update(runningVar, variance(x, axes));
    }));
  }
  return tidy(() => normalizeOp(op, x, normLayout(x, true, x.shape[1]), null, p));
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
  return tidy(() => normalizeOp(op, x, normLayout(x, true, numGroups), null, p));
}

export interface LayerNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
}

/**
 * F.layer_norm: statistics (mean, biased variance) over the trailing axes given by normalizedShape (one number: the last axis), then
 * y = (x − μ)/√(σ² + eps)·weight + bias with weight and bias of normalizedShape. A composition of
 * differentiable ops.
 */
export function layerNorm(x: Tensor, normalizedShapeOrSize: number | readonly number[], options: LayerNormOptions = {}): Tensor {
  const op = 'layerNorm';
  checkFloat(op, x);
  const normalizedShape = typeof normalizedShapeOrSize === 'number' ? [normalizedShapeOrSize] : normalizedShapeOrSize;
  const k = normalizedShape.length;
  if (k === 0 || k > x.rank || normalizedShape.some((d, i) => d !== x.shape[x.rank - k + i])) {
    throw new Error(`${op}: normalized shape ${formatShape(normalizedShape)} must be the trailing axes of the input ${formatShape(x.shape)}`);
  }
  for (const [name, t] of [['weight', options.weight], ['bias', options.bias]] as const) {
    if (!t) continue;
    if (t.rank !== k || t.shape.some((d, i) => d !== normalizedShape[i])) {
      throw new Error(`${op}: ${name} ${formatShape(t.shape)} must have the normalized shape ${formatShape(normalizedShape)}`);
    }
    checkSameBackend(op, x, t);
    checkDtypes(op, x, t);
  }
  const axes = normalizedShape.map((_, i) => x.rank - k + i);
  return tidy(() => {
    const centered = sub(x, mean(x, axes, true));
    let y = mul(centered, rsqrt(addScalar(mean(square(centered), axes, true), options.eps ?? 1e-5)));
    if (options.weight) y = mul(y, options.weight);
    return options.bias ? add(y, options.bias) : y;
  });
}

// ---------------------------------------------------------------------------------------- activations

/** F.elu: x for x > 0, α·(eˣ − 1) otherwise (gradient α·eˣ at 0, as PyTorch) */
export function elu(x: Tensor, alpha = 1): Tensor {
  checkFloat('elu', x);
  return tidy(() => add(relu(x), mulScalar(addScalar(exp(clamp(x, -Infinity, 0)), -1), alpha)));
}

export type GeluApproximate = 'none' | 'tanh';

/** F.gelu: x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch's default), or with 'tanh' x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none'): Tensor {
  checkFloat('gelu', x);
  if (approximate !== 'none' && approximate !== 'tanh') throw new Error(`gelu: unknown approximate '${String(approximate)}'; valid: none, tanh`);
  return tidy(() => {
    const inner = approximate === 'none'
      ? erf(mulScalar(x, Math.SQRT1_2))
      : tanh(mulScalar(add(x, mulScalar(powScalar(x, 3), 0.044715)), Math.sqrt(2 / Math.PI)));
    return mul(mulScalar(x, 0.5), addScalar(inner, 1));
  });
}

/** F.silu (swish): x·σ(x) */
export function silu(x: Tensor): Tensor {
  checkFloat('silu', x);
  return tidy(() => mul(x, sigmoid(x)));
}

/**
 * F.prelu: max(0, x) + weight·min(0, x) with weight [1] (shared) or [C], C = the input's axis 1 (for an input
 * of rank ≥ 2), as x > 0 ? x : weight·x, so that the input gradient at 0 is weight·g (PyTorch's).
 */
export function prelu(x: Tensor, weight: Tensor): Tensor {
  const op = 'prelu';
  checkFloat(op, x);
  checkSameBackend(op, x, weight);
  checkDtypes(op, x, weight);
  const channels = x.rank >= 2 ? x.shape[1] : 1;
  if (weight.rank !== 1 || (weight.shape[0] !== 1 && weight.shape[0] !== channels)) {
    throw new Error(`${op}: weight ${formatShape(weight.shape)} must be [1] or [${channels}] (the channels of the input ${formatShape(x.shape)})`);
  }
  return tidy(() => {
    const w = weight.shape[0] === 1 || x.rank < 2 ? weight : reshape(weight, channelShape(x));
    return where(step(x, 0), x, mul(w, x));
  });
}

/**
 * F.hardtanh: x clamped to [minVal, maxVal]; the gradient passes only strictly inside (0 at the bounds, PyTorch's
 * hardtanh_backward, where clamp passes it at the bounds too).
 */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  checkFloat('hardtanh', x);
  const y = noGrad(() => clamp(x, minVal, maxVal));
  return record('hardtanh', y, [x], (g, [xs]) => [mul(g, mul(step(xs, minVal), step(neg(xs), -maxVal)))], [x]);
}

/** F.relu6: hardtanh(x, 0, 6) (gradient 0 at 0 and 6) */
export function relu6(x: Tensor): Tensor { return hardtanh(x, 0, 6); }

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
  if (x.shape[a] === 0) return identity('softmax', x); // nothing to normalise (and no max to subtract)
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
  if (x.shape[a] === 0) return identity('logSoftmax', x);
  const y = noGrad(() => tidy(() => {
    const z = sub(x, max(x, a, true));
    return sub(z, log(sum(exp(z), a, true)));
  }));
  return record('logSoftmax', y, [x], (g, [ys]) => [sub(g, mul(exp(ys), sum(g, a, true)))], [y]);
}
