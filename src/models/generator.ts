import { reshape } from '../autograd/ops.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkShape, checkStack, stackLayer, type MonaiStackOptions } from './autoencoder.js';
import { Linear, type IntOrTriple } from './layers.js';
import { Module, Sequential, deriveSeed, nextSeed } from './module.js';
import { MonaiConvolution } from './monai-blocks.js';

/**
 * MONAI's Generator (monai/networks/nets/generator.py), 3-D only: a latent [N, ...latentShape] flattened, `linear`
 * (nn.Linear to Π startShape), reshaped to [N, ...startShape], then `conv`: per channel a transposed Convolution with
 * that stride (the upsampling factor), followed, when numResUnits > 0, by a ResidualUnit of numResUnits convolutions
 * (then the transposed convolution has no ADN of its own: layer_i is Sequential(conv, unit)); the last layer ends
 * without its ADN. MONAI's keys (`linear.weight`, `conv.layer_0.0.conv.weight`, `conv.layer_0.1.conv.unit0.conv.weight`,
 * `conv.layer_1.conv.weight` without residual units, …) and PyTorch's default initialisation.
 */

export interface GeneratorOptions extends MonaiStackOptions {
  /** the latent's shape without the batch */
  latentShape: readonly number[];
  /** the shape the linear layer's output is reshaped to, without the batch: [channels, D, H, W] */
  startShape: readonly number[];
  /** each layer's output channels */
  channels: readonly number[];
  /** each layer's stride (the upsampling factor), one per channel */
  strides: readonly IntOrTriple[];
  /** residual units' convolutions per layer; 0: transposed Convolutions only (default 2) */
  numResUnits?: number;
}

/** `new Generator({ latentShape, startShape, channels, strides })`: [N, ...latentShape] to [N, channels.at(-1), ...startShape's size · Π strides] */
export class Generator extends Module {
  readonly latentShape: readonly number[];
  readonly startShape: readonly number[];
  readonly linear: Linear;
  readonly conv: Sequential;

  constructor(options: GeneratorOptions) {
    super();
    const who = 'Generator';
    this.latentShape = checkShape(who, 'latentShape', options.latentShape);
    this.startShape = checkShape(who, 'startShape', options.startShape, 4);
    const { channels, strides, numResUnits, common } = checkStack(who, options, { numResUnits: 2, dropout: null });
    const seed = options.seed ?? nextSeed();
    const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
    this.linear = this.registerModule('linear', new Linear(product(this.latentShape), product(this.startShape), { seed: deriveSeed(seed, 'linear'), backend: options.backend }));
    this.conv = this.registerModule('conv', new Sequential());
    channels.forEach((c, i) => {
      const isLast = i === channels.length - 1, path = `conv.layer_${i}`, inC = i === 0 ? this.startShape[0] : channels[i - 1];
      const up = new MonaiConvolution(inC, c, {
        ...common, strides: strides[i], isTransposed: true, convOnly: isLast || numResUnits > 0, seed: deriveSeed(seed, numResUnits > 0 ? `${path}.0` : path),
      });
      this.conv.addModule(`layer_${i}`, numResUnits > 0
        ? new Sequential(up, stackLayer(c, c, common, { strides: 1, units: numResUnits, isLast, seed: deriveSeed(seed, `${path}.1`) }))
        : up);
    });
  }

  forward(x: Tensor): Tensor {
    const n = this.latentShape.length;
    if (x.rank !== n + 1 || x.shape.slice(1).some((d, i) => d !== this.latentShape[i])) {
      throw new Error(`Generator: input must be [N, ${this.latentShape.join(', ')}] (latentShape), got ${formatShape(x.shape)}`);
    }
    return tidy(() => this.conv.forward(reshape(this.linear.forward(reshape(x, [x.shape[0], -1])), [x.shape[0], ...this.startShape])));
  }
}
