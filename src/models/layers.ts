import type { Backend } from '../kernels/backend.js';
import { formatShape, triple as integerTriple } from '../kernels/geometry.js';
import { pcgHash } from '../kernels/random.js';
import * as F from '../autograd/nn.js';
import type { Triple } from '../autograd/nn.js';
import { add, addScalar, affine, assign, cast, matmul, mul, pad, reciprocal, relu, transpose } from '../autograd/ops.js';
import { getAutocastDtype } from '../autograd/autocast.js';
import { needsGrad, noGrad } from '../autograd/graph.js';
import { full } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { fanInAndFanOut } from './init.js';
import { Layer, Parameter, makeBuffer, nextSeed, deriveSeed, type DropoutState, type FusedForward } from './module.js';
import { pythonFloat, pythonNumbers } from './repr.js';

/**
 * The layers of the V-Net family with PyTorch's parameter names, shapes and default initialisation
 * (kaiming_uniform_(a=√5) for weights, i.e. U(±1/√fan_in), and U(±1/√fan_in) for biases, fan_in from
 * torch.nn.init._calculate_fan_in_and_fan_out: weight.size(1) · receptive field). Values come from the
 * host-side counter-based generator, so a seed gives the same weights on every backend.
 */

export type IntOrTriple = number | readonly [number, number, number];

/** A layer's int-or-triple argument as three non-negative integers; `what` names it in a message. */
export function triple(v: IntOrTriple, what = 'value'): Triple {
  const t = integerTriple(v, what);
  if (t.some((x) => x < 0)) throw new Error(`${what} must be non-negative integers, got ${formatShape(t)}`);
  return t;
}

export interface InitOptions {
  /** seed of this layer's initialisation (default: the next seed of the global generator, see manualSeed) */
  seed?: number;
  backend?: Backend;
}

/** PyTorch's fan_in for a weight shape: size(1) · prod(shape[2:]) (init.ts's fanInAndFanOut). */
export function fanIn(weightShape: readonly number[]): number { return fanInAndFanOut(weightShape).fanIn; }

/** PyTorch's default init for a weight of `shape` and an optional bias of `biasSize`. */
function defaultInit(shape: readonly number[], biasSize: number | null, options: InitOptions): { weight: Parameter; bias: Parameter | null } {
  const seed = options.seed ?? nextSeed();
  const bound = 1 / Math.sqrt(fanIn(shape));
  const weight = Parameter.uniform(shape, -bound, bound, deriveSeed(seed, 'weight'), { backend: options.backend });
  const bias = biasSize === null ? null : Parameter.uniform([biasSize], -bound, bound, deriveSeed(seed, 'bias'), { backend: options.backend });
  return { weight, bias };
}

/** a triple as PyTorch prints it: one number when all three agree */
export function formatTriple(t: Triple): string { return t[0] === t[1] && t[1] === t[2] ? String(t[0]) : `(${t.join(', ')})`; }

// -------------------------------------------------------------------------------------------- convs

let convBatchNormFusion = true;

/**
 * Switches the inference fusion of Sequential's Conv3d or ConvTranspose3d → BatchNorm3d in evaluation mode (→ ReLU)
 * chains into one convolution (F.conv3dBatchNormEval, F.convTranspose3dBatchNormEval) on or off; returns the
 * previous setting. On by default; it applies only where no gradient is recorded (under noGrad, or nothing
 * requires grad) and outside autocast; with or without it the values are the same. Off: the layers run one by one,
 * as in training.
 */
export function setConvBatchNormFusion(enabled: boolean): boolean {
  const before = convBatchNormFusion;
  convBatchNormFusion = enabled;
  return before;
}

/**
 * The batch norm (evaluation mode, running statistics) that starts `next`, and whether a ReLU follows it, for a
 * convolution to apply in its write: null unless the fusion is on, autocast is off (its convolutions read rounded
 * operands) and nothing would record a gradient (`inputs`: the convolution's input and parameters).
 */
function evalBatchNormAfter(next: readonly Layer[], inputs: readonly (Tensor | null)[]): { bn: F.EvalBatchNorm; consumes: number } | null {
  const norm = next[0];
  if (!convBatchNormFusion || getAutocastDtype() !== null || !(norm instanceof BatchNorm3d) || norm.training || !norm.runningMean || !norm.runningVar) return null;
  const tensors = [...inputs, norm.weight, norm.bias].filter((t): t is Tensor => t !== null);
  if (needsGrad(tensors)) return null;
  const relu = next[1] instanceof ReLU;
  return { bn: { runningMean: norm.runningMean, runningVar: norm.runningVar, weight: norm.weight, bias: norm.bias, eps: norm.eps, relu }, consumes: relu ? 2 : 1 };
}

export interface Conv3dLayerOptions extends InitOptions {
  stride?: IntOrTriple;
  padding?: IntOrTriple;
  dilation?: IntOrTriple;
  bias?: boolean;
}

export interface GroupedConv3dLayerOptions extends Omit<Conv3dLayerOptions, 'padding'> {
  /**
   * zero padding per side, or PyTorch's 'valid' (none) or 'same' (the output as large as the input: stride 1;
   * a total of dilation·(kernel − 1) per axis, ⌊total/2⌋ before the input and the rest after it, as PyTorch)
   */
  padding?: IntOrTriple | 'same' | 'valid';
  /** input and output channels split into this many groups (default 1; inChannels: depthwise) */
  groups?: number;
  /**
   * PyTorch's padding_mode: how `padding` fills the border, 'zeros' (default) or F.pad's 'reflect', 'replicate',
   * 'circular' (then the input is padded by pad() and convolved unpadded, as PyTorch; 'same' included)
   */
  paddingMode?: Conv3dPaddingMode;
}

export type Conv3dPaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';
const conv3dPaddingModes: readonly Conv3dPaddingMode[] = ['zeros', 'reflect', 'replicate', 'circular'];

/** nn.Conv3d: weight [out, in / groups, kd, kh, kw], bias [out]. */
export class Conv3d extends Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: Triple;
  readonly stride: Triple;
  /** padding on both sides of each spatial axis (zeros, or as paddingMode fills it) */
  readonly padding: Triple;
  /** padding 'same' with an odd total along an axis: the one element more after the input's end (else 0) */
  readonly extraEndPadding: Triple;
  readonly dilation: Triple;
  readonly groups: number;
  readonly paddingMode: Conv3dPaddingMode;
  private readonly paddingSame: boolean;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrTriple, options: GroupedConv3dLayerOptions = {}) {
    super();
    this.kernelSize = triple(kernelSize, 'Conv3d kernel_size');
    this.stride = triple(options.stride ?? 1, 'Conv3d stride');
    this.dilation = triple(options.dilation ?? 1, 'Conv3d dilation');
    const padding = options.padding ?? 0;
    this.paddingSame = padding === 'same';
    if (typeof padding === 'string') {
      ({ padding: this.padding, extraEnd: this.extraEndPadding } = F.stringPadding('Conv3d', padding, this.kernelSize, this.stride, this.dilation));
    } else {
      this.padding = triple(padding, 'Conv3d padding');
      this.extraEndPadding = [0, 0, 0];
    }
    this.paddingMode = options.paddingMode ?? 'zeros';
    if (!conv3dPaddingModes.includes(this.paddingMode)) {
      throw new Error(`Conv3d: paddingMode must be one of ${conv3dPaddingModes.join(', ')}, got '${String(this.paddingMode)}'`);
    }
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`Conv3d: groups ${this.groups} must be a positive integer dividing in_channels ${inChannels} and out_channels ${outChannels}`);
    }
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    const { weight, bias } = defaultInit(shape, options.bias === false ? null : outChannels, options);
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', bias);
  }

  forward(x: Tensor): Tensor {
    return this.withPaddedInput(x, (xp, padding) => F.conv3d(xp, this.weight, this.bias ?? undefined, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups }));
  }

  /** → BatchNorm3d in evaluation mode (→ ReLU) without gradients: one kernel (see setConvBatchNormFusion) */
  override fusedWith(next: readonly Layer[], x: Tensor): FusedForward | null {
    const after = this.groups === 1 ? evalBatchNormAfter(next, [x, this.weight, this.bias]) : null;
    if (!after) return null;
    return {
      consumes: after.consumes,
      forward: (y) => this.withPaddedInput(y, (yp, padding) => F.conv3dBatchNormEval(yp, this.weight, this.bias, after.bn, { stride: this.stride, padding, dilation: this.dilation })),
    };
  }

  /**
   * zeros: F.convWithExtraEndZeros (PyTorch's odd 'same' padding, as ATen does it); in the other padding modes,
   * conv of x padded by pad() in that mode on both sides (the extra end included) with no padding of its own, as
   * PyTorch's _ConvNd
   */
  private withPaddedInput(x: Tensor, conv: (x: Tensor, padding: Triple) => Tensor): Tensor {
    const [d, h, w] = this.extraEndPadding, mode = this.paddingMode;
    if (mode === 'zeros') return F.convWithExtraEndZeros(x, this.padding, this.extraEndPadding, conv);
    const [pd, ph, pw] = this.padding;
    if (pd + ph + pw + d + h + w === 0) return conv(x, [0, 0, 0]);
    return tidy(() => conv(pad(x, [pw, pw + w, ph, ph + h, pd, pd + d], { mode }), [0, 0, 0]));
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${formatTriple(this.kernelSize)}, stride=${formatTriple(this.stride)}`;
    if (this.paddingSame) s += ', padding=same';
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${formatTriple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${formatTriple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    if (this.paddingMode !== 'zeros') s += `, padding_mode=${this.paddingMode}`;
    return s;
  }
}

export interface ConvTranspose3dLayerOptions extends Conv3dLayerOptions {
  /** smaller than the stride or the dilation, as PyTorch */
  outputPadding?: IntOrTriple;
  /** input and output channels split into this many groups (default 1) */
  groups?: number;
}

/** nn.ConvTranspose3d: weight [in, out / groups, kd, kh, kw] (so PyTorch's fan_in is out/groups·k³), bias [out]. */
export class ConvTranspose3d extends Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: Triple;
  readonly stride: Triple;
  readonly padding: Triple;
  readonly outputPadding: Triple;
  readonly dilation: Triple;
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrTriple, options: ConvTranspose3dLayerOptions = {}) {
    super();
    this.kernelSize = triple(kernelSize, 'ConvTranspose3d kernel_size');
    this.stride = triple(options.stride ?? 1, 'ConvTranspose3d stride');
    this.padding = triple(options.padding ?? 0, 'ConvTranspose3d padding');
    this.outputPadding = triple(options.outputPadding ?? 0, 'ConvTranspose3d output_padding');
    this.dilation = triple(options.dilation ?? 1, 'ConvTranspose3d dilation');
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`ConvTranspose3d: groups (${this.groups}) must be a positive integer dividing in_channels (${inChannels}) and out_channels (${outChannels})`);
    }
    const shape = [inChannels, outChannels / this.groups, ...this.kernelSize];
    const { weight, bias } = defaultInit(shape, options.bias === false ? null : outChannels, options);
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', bias);
  }

  /**
   * `outputSize` (PyTorch's output_size: [D, H, W], or a whole [N, C, D, H, W] whose last three count) picks the
   * output padding: each size at least the unpadded output size s_min = (in − 1)·stride − 2·padding +
   * dilation·(kernel − 1) + 1 and below s_min + stride; it replaces the layer's outputPadding.
   */
  forward(x: Tensor, outputSize?: readonly number[]): Tensor {
    const options = this.options();
    if (outputSize !== undefined) options.outputPadding = this.outputPaddingFor(x, outputSize);
    return F.convTranspose3d(x, this.weight, this.bias ?? undefined, options);
  }

  private outputPaddingFor(x: Tensor, outputSize: readonly number[]): Triple {
    const size = outputSize.length === 5 ? outputSize.slice(2) : outputSize;
    if (size.length !== 3 || x.rank < 3) throw new Error(`ConvTranspose3d: outputSize must have 3 or 5 elements, got ${formatShape(outputSize)}`);
    const spatial = x.shape.slice(-3);
    const padding = (i: 0 | 1 | 2): number => {
      const min = (spatial[i] - 1) * this.stride[i] - 2 * this.padding[i] + this.dilation[i] * (this.kernelSize[i] - 1) + 1;
      if (!(size[i] >= min && size[i] < min + this.stride[i])) {
        throw new Error(`ConvTranspose3d: requested an output size of ${formatShape(outputSize)}, but the valid sizes of axis ${i} range from ${min} to ${min + this.stride[i] - 1} (for an input of ${formatShape(x.shape)})`);
      }
      return size[i] - min;
    };
    return [padding(0), padding(1), padding(2)];
  }

  /** → BatchNorm3d in evaluation mode (→ ReLU) without gradients: one kernel (see setConvBatchNormFusion) */
  override fusedWith(next: readonly Layer[], x: Tensor): FusedForward | null {
    const after = this.groups === 1 ? evalBatchNormAfter(next, [x, this.weight, this.bias]) : null;
    if (!after) return null;
    return { consumes: after.consumes, forward: (y) => F.convTranspose3dBatchNormEval(y, this.weight, this.bias, after.bn, this.options()) };
  }

  private options(): F.ConvTranspose3dOptions {
    return { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, ...(this.groups === 1 ? {} : { groups: this.groups }) };
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${formatTriple(this.kernelSize)}, stride=${formatTriple(this.stride)}`;
    if (this.padding.some((p) => p !== 0)) s += `, padding=${formatTriple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${formatTriple(this.dilation)}`;
    if (this.outputPadding.some((p) => p !== 0)) s += `, output_padding=${formatTriple(this.outputPadding)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

export interface LinearOptions extends InitOptions { bias?: boolean }

/** nn.Linear: weight [out, in], bias [out]; y = x Wᵀ + b over the last axis. */
export class Linear extends Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    const { weight, bias } = defaultInit([outFeatures, inFeatures], options.bias === false ? null : outFeatures, options);
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', bias);
  }

  forward(x: Tensor): Tensor {
    const y = matmul(x, transpose(this.weight));
    return this.bias ? add(y, this.bias) : y;
  }

  override extraRepr(): string { return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`; }
}

// -------------------------------------------------------------------------------------------- norms

/**
 * What BatchNorm3d, InstanceNorm3d and GroupNorm share: eps (default 1e-5), the optional affine weight (ones)
 * and bias (zeros) per channel, and a following ReLU layer fused into the normalisation (F.batchNorm and the
 * others with relu: true; see Layer.fusedWith).
 */
export abstract class ChannelNorm extends Layer {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly eps: number;

  protected constructor(channels: number, affine: boolean, eps: number | undefined, backend: Backend | undefined) {
    super();
    this.eps = eps ?? 1e-5;
    this.weight = this.registerParameter('weight', affine ? Parameter.full([channels], 1, { backend }) : null);
    this.bias = this.registerParameter('bias', affine ? Parameter.full([channels], 0, { backend }) : null);
  }

  forward(x: Tensor): Tensor { return this.normalize(x, false); }

  override fusedWith(next: readonly Layer[]): FusedForward | null {
    return next[0] instanceof ReLU ? { consumes: 1, forward: (x) => this.normalize(x, true) } : null;
  }

  /** the normalisation, followed by a ReLU when `relu` */
  protected abstract normalize(x: Tensor, relu: boolean): Tensor;
}

export interface BatchNormLayerOptions {
  eps?: number;
  /** the running statistics' update factor (default 0.1); null: their cumulative average, factor 1/num_batches_tracked (PyTorch's None) */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  backend?: Backend;
}

/**
 * nn.BatchNorm3d: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked (int32 here, int64 in
 * PyTorch). In training the batch statistics normalise and the running ones are updated in place (momentum
 * 0.1, unbiased variance; momentum null: the cumulative average, factor 1/num_batches_tracked counting this batch and
 * any loaded count); in eval the running ones normalise. The batch counter is counted on the host and written into
 * its buffer whenever the state is read.
 */
export class BatchNorm3d extends ChannelNorm {
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly momentum: number | null;
  /** batches seen in training, including those not yet written into the num_batches_tracked buffer */
  private batches = 0;
  private written = 0;
  private readonly counter: Tensor | null;

  constructor(readonly numFeatures: number, options: BatchNormLayerOptions = {}) {
    super(numFeatures, options.affine ?? true, options.eps, options.backend);
    const momentum: unknown = options.momentum === undefined ? 0.1 : options.momentum;
    if (momentum !== null && typeof momentum !== 'number') {
      throw new Error(`BatchNorm3d: momentum must be a number or null (the cumulative average), got ${typeof momentum} ${String(momentum)}`);
    }
    this.momentum = momentum;
    const b = options.backend;
    const track = options.trackRunningStats ?? true;
    this.runningMean = this.registerBuffer('running_mean', track ? makeBuffer(new Float32Array(numFeatures), [numFeatures], 'float32', b) : null);
    this.runningVar = this.registerBuffer('running_var', track ? makeBuffer(new Float32Array(numFeatures).fill(1), [numFeatures], 'float32', b) : null);
    this.counter = this.registerBuffer('num_batches_tracked', track ? makeBuffer([0], [], 'int32', b) : null);
  }

  protected normalize(x: Tensor, relu: boolean): Tensor {
    // PyTorch's BatchNorm3d takes only [N, C, D, H, W] ("expected 5D input"); a 4-D input is likely one unbatched sample
    if (x.rank !== 5) {
      throw new Error(`BatchNorm3d: expected a 5-D [N, C, D, H, W] input, got ${formatShape(x.shape)}`
        + (x.rank === 4 ? ' (one unbatched sample? add its batch axis: x.unsqueeze(0))' : ' (batchNorm(x, runningMean, runningVar, …) normalises any [N, C, …])'));
    }
    const useBatchStats = this.training || !this.runningMean;
    if (this.training && this.runningMean) this.batches++;
    // momentum null: copies of the running statistics before this batch's update
    const cumulative = this.momentum === null && this.training && this.runningMean
      ? this.runningStats().map((t) => Tensor.fromStorage(t.backend, t.backend.copy(t.view), t.shape)) : null;
    const y = F.batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: useBatchStats, momentum: this.momentum ?? 1, eps: this.eps, relu,
    });
    if (cumulative) this.averageCumulatively(cumulative);
    return y;
  }

  private runningStats(): Tensor[] { return [this.runningMean, this.runningVar].filter((t): t is Tensor => t !== null); }

  /**
   * momentum null: batchNorm with momentum 1 has just written this batch's statistics into the running ones; they
   * become (1 − f)·before + f·batch with f = 1/num_batches_tracked (the buffer plus the batches not yet written into
   * it, this one included), PyTorch's cumulative average in its kernel's order
   */
  private averageCumulatively(before: Tensor[]): void {
    const counter = this.counter!;
    noGrad(() => tidy(() => {
      const f = reciprocal(addScalar(cast(counter, before[0].dtype), this.batches - this.written));
      const keep = affine(f, -1, 1);
      this.runningStats().forEach((running, k) => assign(running, add(mul(keep, before[k]), mul(f, running))));
    }));
    for (const t of before) t.dispose();
  }

  /** training batches counted since construction or the last loadStateDict (the buffer holds the total) */
  get batchesSinceLoad(): number { return this.batches; }

  protected override syncBuffers(): void {
    if (!this.runningMean || this.batches === this.written) return;
    const counter = this.counter;
    if (!counter) return;
    const delta = this.batches - this.written;
    this.written = this.batches;
    noGrad(() => tidy(() => { assign(counter, add(counter, full([], delta, { dtype: 'int32', backend: counter.backend }))); }));
  }

  protected override afterLoad(): void {
    this.batches = 0;
    this.written = 0;
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pythonFloat(this.eps)}, momentum=${this.momentum === null ? 'None' : pythonFloat(this.momentum)}, affine=${this.weight ? 'True' : 'False'}, track_running_stats=${this.runningMean ? 'True' : 'False'}`;
  }
}

export interface InstanceNormLayerOptions {
  eps?: number;
  /** PyTorch's InstanceNorm3d default is affine=False (no parameters) */
  affine?: boolean;
  /** the running statistics' update factor (default 0.1); null: 0, they never change (PyTorch's None here) */
  momentum?: number | null;
  /** keep running statistics (default false, as PyTorch): updated in training, normalising in eval */
  trackRunningStats?: boolean;
  backend?: Backend;
}

/**
 * nn.InstanceNorm3d: per sample and channel statistics, of [N, C, D, H, W] or of one unbatched sample
 * [C, D, H, W]. With trackRunningStats: buffers running_mean 0, running_var 1 and num_batches_tracked (never
 * counted, as PyTorch's InstanceNorm), the running statistics updated in training (F.instanceNorm) and used in eval.
 */
export class InstanceNorm3d extends ChannelNorm {
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly momentum: number | null;

  constructor(readonly numFeatures: number, options: InstanceNormLayerOptions = {}) {
    super(numFeatures, options.affine ?? false, options.eps, options.backend);
    const momentum: unknown = options.momentum === undefined ? 0.1 : options.momentum;
    if (momentum !== null && typeof momentum !== 'number') throw new Error(`InstanceNorm3d: momentum must be a number or null, got ${String(momentum)}`);
    this.momentum = momentum;
    const track = options.trackRunningStats ?? false, b = options.backend;
    this.runningMean = this.registerBuffer('running_mean', track ? makeBuffer(new Float32Array(numFeatures), [numFeatures], 'float32', b) : null);
    this.runningVar = this.registerBuffer('running_var', track ? makeBuffer(new Float32Array(numFeatures).fill(1), [numFeatures], 'float32', b) : null);
    this.registerBuffer('num_batches_tracked', track ? makeBuffer([0], [], 'int32', b) : null);
  }

  protected normalize(x: Tensor, relu: boolean): Tensor {
    if (x.rank !== 4 && x.rank !== 5) {
      throw new Error(`InstanceNorm3d: expected a 4-D [C, D, H, W] or 5-D [N, C, D, H, W] input, got ${formatShape(x.shape)}`);
    }
    const options: F.InstanceNormOptions = {
      weight: this.weight, bias: this.bias, eps: this.eps, relu, runningMean: this.runningMean, runningVar: this.runningVar,
      useInputStats: this.training || !this.runningMean, momentum: this.momentum ?? 0,
    };
    return x.rank === 5 ? F.instanceNorm(x, options) : tidy(() => F.instanceNorm(x.unsqueeze(0), options).squeeze(0));
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pythonFloat(this.eps)}, momentum=${this.momentum === null ? 'None' : pythonFloat(this.momentum)}, affine=${this.weight ? 'True' : 'False'}, track_running_stats=${this.runningMean ? 'True' : 'False'}`;
  }
}

export interface GroupNormOptions { eps?: number; affine?: boolean; backend?: Backend }

/** nn.GroupNorm(num_groups, num_channels): weight 1, bias 0. */
export class GroupNorm extends ChannelNorm {
  constructor(readonly numGroups: number, readonly numChannels: number, options: GroupNormOptions = {}) {
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: ${numChannels} channels do not split into ${numGroups} groups`);
    super(numChannels, options.affine ?? true, options.eps, options.backend);
  }

  protected normalize(x: Tensor, relu: boolean): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps, { relu });
  }

  override extraRepr(): string { return `${this.numGroups}, ${this.numChannels}, eps=${pythonFloat(this.eps)}, affine=${this.weight ? 'True' : 'False'}`; }
}

export interface LayerNormLayerOptions {
  eps?: number;
  elementwiseAffine?: boolean;
  /** with elementwiseAffine: a learnable bias too (default true; PyTorch ≥ 2.1's bias=False leaves only the weight) */
  bias?: boolean;
  backend?: Backend;
}

/** nn.LayerNorm(normalized_shape): statistics over the trailing axes of that shape; weight 1, bias 0 of that shape. */
export class LayerNorm extends Layer {
  readonly normalizedShape: readonly number[];
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], options: LayerNormLayerOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || !this.normalizedShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`LayerNorm: normalized shape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    }
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? Parameter.full(this.normalizedShape, 1, { backend: options.backend }) : null);
    this.bias = this.registerParameter('bias', affine && (options.bias ?? true) ? Parameter.full(this.normalizedShape, 0, { backend: options.backend }) : null);
  }

  forward(x: Tensor): Tensor { return F.layerNorm(x, this.normalizedShape, { weight: this.weight, bias: this.bias, eps: this.eps }); }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')}${this.normalizedShape.length === 1 ? ',' : ''}), eps=${pythonFloat(this.eps)}, elementwise_affine=${this.weight ? 'True' : 'False'}`;
  }
}

// ----------------------------------------------------------------------------------- the parameterless

export class ReLU extends Layer {
  forward(x: Tensor): Tensor { return relu(x); }
}

/**
 * The seeding shared by the dropout layers: each forward in training uses the mask seed
 * hash(seed, salt, call count since the seed was set), so `setDropoutSeed(iteration)` before a step makes the
 * masks a function of the iteration (a resumed run draws the same ones). The salt tells apart two dropout
 * layers of one model. Identity in eval.
 */
export abstract class SeededDropout extends Layer {
  private seed: number;
  private calls = 0;
  private saltValue: number;

  constructor(readonly p = 0.5, options: { seed?: number; salt?: number } = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`${this.typeName}: p must be in [0, 1], got ${p}`);
    this.seed = options.seed ?? 0;
    this.saltValue = options.salt ?? nextSeed();
  }

  /** distinguishes this layer's masks from another dropout layer's under the same seed */
  get salt(): number { return this.saltValue; }

  setDropoutSeed(seed: number): void {
    this.seed = seed >>> 0;
    this.calls = 0;
  }

  /** where the layer stands in its mask stream (Module.dropoutState collects it for a checkpoint) */
  getDropoutState(): DropoutState { return { seed: this.seed, salt: this.saltValue, calls: this.calls }; }

  setDropoutState(state: DropoutState): void {
    this.seed = state.seed;
    this.saltValue = state.salt;
    this.calls = state.calls;
  }

  /** the seed the next forward will use */
  nextMaskSeed(): number {
    return pcgHash((pcgHash((pcgHash(this.seed) ^ this.salt) >>> 0) + this.calls) >>> 0);
  }

  /** the functional dropout of this layer (F.dropout, F.dropout3d) */
  protected abstract drop(x: Tensor, training: boolean, seed: number): Tensor;

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return this.drop(x, false, 0);
    const seed = this.nextMaskSeed();
    this.calls++;
    return this.drop(x, true, seed);
  }

  override extraRepr(): string { return `p=${this.p}`; }
}

/** nn.Dropout3d: zeroes whole channels with probability p in training (scaling the rest by 1/(1 − p)). */
export class Dropout3d extends SeededDropout {
  protected drop(x: Tensor, training: boolean, seed: number): Tensor { return F.dropout3d(x, this.p, training, seed); }
}

/** nn.Dropout: zeroes single elements with probability p in training (scaling the rest by 1/(1 − p)). */
export class Dropout extends SeededDropout {
  protected drop(x: Tensor, training: boolean, seed: number): Tensor { return F.dropout(x, this.p, training, seed); }
}

export interface MaxPool3dOptions {
  stride?: IntOrTriple;
  padding?: IntOrTriple;
  /** PyTorch's ceil_mode (default false); see F.maxPool3d */
  ceilMode?: boolean;
  /** MaxPool3d: the spacing of a window's taps (default 1; AvgPool3d has none, as PyTorch's) */
  dilation?: IntOrTriple;
}

/** A pooling window: kernel size, stride (default: the kernel size), padding and ceil mode, as PyTorch's pooling layers. */
export abstract class PoolWindowLayer extends Layer {
  readonly kernelSize: Triple;
  readonly stride: Triple;
  readonly padding: Triple;
  readonly ceilMode: boolean;

  constructor(name: string, kernelSize: IntOrTriple, options: MaxPool3dOptions) {
    super();
    this.kernelSize = triple(kernelSize, `${name} kernel_size`);
    this.stride = triple(options.stride ?? kernelSize, `${name} stride`);
    this.padding = triple(options.padding ?? 0, `${name} padding`);
    this.ceilMode = options.ceilMode ?? false;
    if (typeof this.ceilMode !== 'boolean') throw new Error(`${name}: ceilMode must be a boolean, got ${String(options.ceilMode)}`);
  }

  /** the window options of F.maxPool3d / F.avgPool3d */
  protected get window(): F.Pool3dOptions {
    return { stride: this.stride, padding: this.padding, ceilMode: this.ceilMode };
  }

  override extraRepr(): string {
    const ceil = this.ceilMode ? ', ceil_mode=True' : '';
    return `kernel_size=${formatTriple(this.kernelSize)}, stride=${formatTriple(this.stride)}, padding=${formatTriple(this.padding)}${this.dilationRepr()}${ceil}`;
  }

  /** the dilation's part of extraRepr, between padding and ceil_mode as PyTorch's (none: avg pooling has no dilation) */
  protected dilationRepr(): string { return ''; }
}

export class MaxPool3d extends PoolWindowLayer {
  readonly dilation: Triple;

  constructor(kernelSize: IntOrTriple, options: MaxPool3dOptions = {}) {
    super('MaxPool3d', kernelSize, options);
    this.dilation = triple(options.dilation ?? 1, 'MaxPool3d dilation');
  }

  forward(x: Tensor): Tensor { return F.maxPool3d(x, this.kernelSize, { ...this.window, dilation: this.dilation }); }

  /** forward of PyTorch's MaxPool3d(return_indices=True): [values, int32 indices], as MaxUnpool3d takes them */
  forwardWithIndices(x: Tensor): [Tensor, Tensor] {
    return F.maxPool3d(x, this.kernelSize, { ...this.window, dilation: this.dilation, returnIndices: true });
  }

  protected override dilationRepr(): string {
    return this.dilation.every((d) => d === 1) ? '' : `, dilation=${formatTriple(this.dilation)}`;
  }
}

export interface UpsampleOptions {
  size?: IntOrTriple;
  scaleFactor?: number | readonly [number, number, number];
  /** 'nearest' (default), 'nearest-exact', 'trilinear' or 'area', as F.interpolate */
  mode?: F.InterpolateMode;
  alignCorners?: boolean;
  /** with scaleFactor: map coordinates by input/output size instead of 1/scaleFactor (default false, as PyTorch) */
  recomputeScaleFactor?: boolean;
}

/** nn.Upsample (F.interpolate's modes; align_corners False by default for 'trilinear'). */
export class Upsample extends Layer {
  constructor(readonly options: UpsampleOptions) {
    super();
    if ((options.size === undefined) === (options.scaleFactor === undefined)) {
      throw new Error('Upsample: give exactly one of size and scaleFactor');
    }
  }

  forward(x: Tensor): Tensor {
    const mode = this.options.mode ?? 'nearest';
    const alignCorners = mode === 'trilinear' ? (this.options.alignCorners ?? false) : undefined;
    return F.interpolate(x, {
      ...(this.options.size !== undefined ? { size: triple(this.options.size, 'Upsample size') } : {}),
      ...(this.options.scaleFactor !== undefined ? { scaleFactor: this.options.scaleFactor } : {}),
      mode, ...(alignCorners !== undefined ? { alignCorners } : {}),
      ...(this.options.recomputeScaleFactor !== undefined ? { recomputeScaleFactor: this.options.recomputeScaleFactor } : {}),
    });
  }

  override extraRepr(): string {
    const o = this.options;
    // PyTorch stores scale_factor as float and prints neither align_corners nor recompute_scale_factor
    const what = o.size !== undefined ? `size=${pythonNumbers(o.size)}` : `scale_factor=${pythonNumbers(o.scaleFactor ?? [], true)}`;
    return `${what}, mode='${o.mode ?? 'nearest'}'`;
  }
}
