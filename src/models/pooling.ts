import * as F from '../autograd/nn.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Triple } from '../autograd/nn.js';
import { PoolWindowLayer, triple, type IntOrTriple } from './layers.js';
import { Layer, Module } from './module.js';

/** The pooling layers besides MaxPool3d: nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d, nn.MaxUnpool3d. */

export interface AvgPool3dLayerOptions {
  /** default: the kernel size */
  stride?: IntOrTriple;
  padding?: IntOrTriple;
  /** PyTorch's ceil_mode (default false); see F.avgPool3d */
  ceilMode?: boolean;
  /** PyTorch's default true: padded elements count in each window's divisor */
  countIncludePad?: boolean;
  /** divide every window's sum by this nonzero integer instead (PyTorch's divisor_override) */
  divisorOverride?: number | null;
}

export class AvgPool3d extends PoolWindowLayer {
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;

  constructor(kernelSize: IntOrTriple, options: AvgPool3dLayerOptions = {}) {
    super('AvgPool3d', kernelSize, options);
    this.countIncludePad = options.countIncludePad ?? true;
    this.divisorOverride = options.divisorOverride ?? null;
    if (this.divisorOverride !== null && !(Number.isInteger(this.divisorOverride) && this.divisorOverride !== 0)) {
      throw new Error(`AvgPool3d: divisorOverride must be a nonzero integer, got ${String(this.divisorOverride)}`);
    }
  }

  forward(x: Tensor): Tensor {
    return F.avgPool3d(x, this.kernelSize, {
      ...this.window, countIncludePad: this.countIncludePad, ...(this.divisorOverride === null ? {} : { divisorOverride: this.divisorOverride }),
    });
  }

  override extraRepr(): string {
    return super.extraRepr() + (this.countIncludePad ? '' : ', count_include_pad=False') +
      (this.divisorOverride === null ? '' : `, divisor_override=${this.divisorOverride}`);
  }
}

/** an adaptive pool's output size: one number, or three where null keeps that axis' input size */
export type AdaptiveSize = number | readonly [number | null, number | null, number | null];

function sizeRepr(s: AdaptiveSize): string {
  return typeof s === 'number' ? String(s) : `(${s.map((v) => (v === null ? 'None' : String(v))).join(', ')})`;
}

export class AdaptiveAvgPool3d extends Layer {
  constructor(readonly outputSize: AdaptiveSize) { super(); }
  forward(x: Tensor): Tensor { return F.adaptiveAvgPool3d(x, this.outputSize); }
  override extraRepr(): string { return `output_size=${sizeRepr(this.outputSize)}`; }
}

/** nn.AdaptiveMaxPool3d; forwardWithIndices is its forward with return_indices=True. */
export class AdaptiveMaxPool3d extends Layer {
  constructor(readonly outputSize: AdaptiveSize) { super(); }
  forward(x: Tensor): Tensor { return F.adaptiveMaxPool3d(x, this.outputSize); }
  /** forward of PyTorch's AdaptiveMaxPool3d(return_indices=True): [values, int32 indices], as MaxUnpool3d takes them */
  forwardWithIndices(x: Tensor): [Tensor, Tensor] { return F.adaptiveMaxPool3d(x, this.outputSize, { returnIndices: true }); }
  override extraRepr(): string { return `output_size=${sizeRepr(this.outputSize)}`; }
}

export interface MaxUnpool3dLayerOptions {
  /** default: the kernel size */
  stride?: IntOrTriple;
  padding?: IntOrTriple;
}

/** nn.MaxUnpool3d: forward(input, indices, outputSize?) is F.maxUnpool3d with this module's window. */
export class MaxUnpool3d extends Module {
  readonly kernelSize: Triple;
  readonly stride: Triple;
  readonly padding: Triple;

  constructor(kernelSize: IntOrTriple, options: MaxUnpool3dLayerOptions = {}) {
    super();
    this.kernelSize = triple(kernelSize, 'MaxUnpool3d kernel_size');
    this.stride = triple(options.stride ?? kernelSize, 'MaxUnpool3d stride');
    this.padding = triple(options.padding ?? 0, 'MaxUnpool3d padding');
  }

  forward(x: Tensor, indices: Tensor, outputSize?: readonly number[]): Tensor {
    return F.maxUnpool3d(x, indices, this.kernelSize, { stride: this.stride, padding: this.padding, ...(outputSize ? { outputSize } : {}) });
  }

  override extraRepr(): string {
    const t = (v: Triple) => `(${v.join(', ')})`;
    return `kernel_size=${t(this.kernelSize)}, stride=${t(this.stride)}, padding=${t(this.padding)}`;
  }
}
