import type { Backend } from '../kernels/backend.js';
import * as F from '../autograd/nn.js';
import { leakyRelu, reshape, sigmoid, tanh } from '../autograd/ops.js';
import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Layer, Parameter } from './module.js';
import { pythonFloat } from './repr.js';

/**
 * The activation and shape layers of torch.nn (LeakyReLU, PReLU, ELU, GELU, Hardtanh, ReLU6, SiLU, Sigmoid, Tanh,
 * Softmax, LogSoftmax, Identity, Flatten) over the functional ops, with PyTorch's defaults and repr.
 */

export class LeakyReLU extends Layer {
  constructor(readonly negativeSlope = 0.01) { super(); }
  forward(x: Tensor): Tensor { return leakyRelu(x, this.negativeSlope); }
  override extraRepr(): string { return `negative_slope=${pythonFloat(this.negativeSlope)}`; }
}

export interface PReLUOptions {
  /** 1 (one slope shared by all channels, default) or the channel count of the input (axis 1) */
  numParameters?: number;
  /** the slopes' initial value (0.25) */
  init?: number;
  backend?: Backend;
}

/** nn.PReLU: max(0, x) + a·min(0, x) with learnable a (parameter `weight`, [numParameters]). */
export class PReLU extends Layer {
  readonly weight: Parameter;

  constructor(options: PReLUOptions = {}) {
    super();
    const n = options.numParameters ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new Error(`PReLU: numParameters must be a positive integer, got ${n}`);
    this.weight = this.registerParameter('weight', Parameter.full([n], options.init ?? 0.25, { backend: options.backend }));
  }

  forward(x: Tensor): Tensor { return F.prelu(x, this.weight); }
  override extraRepr(): string { return `num_parameters=${this.weight.shape[0]}`; }
}

export class ELU extends Layer {
  constructor(readonly alpha = 1) { super(); }
  forward(x: Tensor): Tensor { return F.elu(x, this.alpha); }
  override extraRepr(): string { return `alpha=${pythonFloat(this.alpha)}`; }
}

/** nn.GELU: the exact erf form by default, approximate 'tanh' for the tanh form. */
export class GELU extends Layer {
  constructor(readonly approximate: F.GeluApproximate = 'none') {
    super();
    if (approximate !== 'none' && approximate !== 'tanh') throw new Error(`GELU: unknown approximate '${String(approximate)}'; valid: none, tanh`);
  }
  forward(x: Tensor): Tensor { return F.gelu(x, this.approximate); }
  override extraRepr(): string { return `approximate='${this.approximate}'`; }
}

/** nn.Hardtanh(min_val=-1, max_val=1): x clamped to [minVal, maxVal], gradient 0 at the bounds (F.hardtanh). */
export class Hardtanh extends Layer {
  constructor(readonly minVal = -1, readonly maxVal = 1) {
    super();
    if (!(maxVal > minVal)) throw new Error(`${this.typeName}: maxVal (${maxVal}) must be greater than minVal (${minVal})`);
  }
  forward(x: Tensor): Tensor { return F.hardtanh(x, this.minVal, this.maxVal); }
  override extraRepr(): string { return `min_val=${pythonFloat(this.minVal)}, max_val=${pythonFloat(this.maxVal)}`; }
}

/** nn.ReLU6: Hardtanh(0, 6), PyTorch's repr without the bounds. */
export class ReLU6 extends Hardtanh {
  constructor() { super(0, 6); }
  override extraRepr(): string { return ''; }
}

export class SiLU extends Layer {
  forward(x: Tensor): Tensor { return F.silu(x); }
}

export class Sigmoid extends Layer {
  forward(x: Tensor): Tensor { return sigmoid(x); }
}

export class Tanh extends Layer {
  forward(x: Tensor): Tensor { return tanh(x); }
}

/** nn.Softmax(dim): dim is required here (PyTorch's implicit choice is deprecated). */
export class Softmax extends Layer {
  constructor(readonly dim: number) {
    super();
    if (!Number.isInteger(dim)) throw new Error(`Softmax: dim must be an integer, got ${dim}`);
  }
  forward(x: Tensor): Tensor { return F.softmax(x, this.dim); }
  override extraRepr(): string { return `dim=${this.dim}`; }
}

/** nn.LogSoftmax(dim): dim is required, as Softmax's. */
export class LogSoftmax extends Layer {
  constructor(readonly dim: number) {
    super();
    if (!Number.isInteger(dim)) throw new Error(`LogSoftmax: dim must be an integer, got ${dim}`);
  }
  forward(x: Tensor): Tensor { return F.logSoftmax(x, this.dim); }
  override extraRepr(): string { return `dim=${this.dim}`; }
}

/** nn.Identity: returns its input (a new tensor over the same storage, gradient passed through). */
export class Identity extends Layer {
  forward(x: Tensor): Tensor { return reshape(x, x.shape); }
}

/** nn.Flatten(start_dim=1, end_dim=-1): axes startDim..endDim merged into one. */
export class Flatten extends Layer {
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }

  forward(x: Tensor): Tensor {
    if (x.rank === 0) return reshape(x, [1]);
    const s = normalizeAxis(this.startDim, x.rank, 'Flatten'), e = normalizeAxis(this.endDim, x.rank, 'Flatten');
    if (s > e) throw new Error(`Flatten: start_dim ${this.startDim} comes after end_dim ${this.endDim} for input ${formatShape(x.shape)}`);
    return reshape(x, [...x.shape.slice(0, s), -1, ...x.shape.slice(e + 1)]);
  }

  override extraRepr(): string { return `start_dim=${this.startDim}, end_dim=${this.endDim}`; }
}
