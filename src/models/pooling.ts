import * as F from '../autograd/nn.js';
import type { Triple } from '../autograd/nn.js';
import type { Tensor } from '../tensor/tensor.js';
import { formatTriple, triple, type IntOrTriple } from './layers.js';
import { Layer } from './module.js';

/** The pooling layers besides MaxPool3d: nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d. */

export interface AvgPool3dLayerOptions {
  /** default: the kernel size */
  stride?: IntOrTriple;
  padding?: IntOrTriple;
  /** PyTorch's default true: padded elements count in each window's divisor */
  countIncludePad?: boolean;
}

export class AvgPool3d extends Layer {
  readonly kernelSize: Triple;
  readonly stride: Triple;
  readonly padding: Triple;
  readonly countIncludePad: boolean;

  constructor(kernelSize: IntOrTriple, options: AvgPool3dLayerOptions = {}) {
    super();
    this.kernelSize = triple(kernelSize, 'AvgPool3d kernel_size');
    this.stride = triple(options.stride ?? kernelSize, 'AvgPool3d stride');
    this.padding = triple(options.padding ?? 0, 'AvgPool3d padding');
    this.countIncludePad = options.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return F.avgPool3d(x, this.kernelSize, { stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad });
  }

  override extraRepr(): string {
    return `kernel_size=${formatTriple(this.kernelSize)}, stride=${formatTriple(this.stride)}, padding=${formatTriple(this.padding)}${this.countIncludePad ? '' : ', count_include_pad=False'}`;
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

/** nn.AdaptiveMaxPool3d (return_indices=False). */
export class AdaptiveMaxPool3d extends Layer {
  constructor(readonly outputSize: AdaptiveSize) { super(); }
  forward(x: Tensor): Tensor { return F.adaptiveMaxPool3d(x, this.outputSize); }
  override extraRepr(): string { return `output_size=${sizeRepr(this.outputSize)}`; }
}
