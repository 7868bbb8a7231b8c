import { mean, reshape } from '../autograd/ops.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Flatten, LogSoftmax, Softmax } from './activations.js';
import { checkPositiveInteger, checkShape, checkStack, stackLayer, stridedSize, type MonaiStackOptions } from './autoencoder.js';
import { Linear, type IntOrTriple } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import { monaiActFactory, type MonaiActSpec } from './monai-blocks.js';

/**
 * MONAI's Regressor (monai/networks/nets/regressor.py) and the networks classifier.py derives from it, Classifier,
 * Discriminator and Critic, 3-D only: `net` (per channel a ResidualUnit of numResUnits convolutions, or a
 * Convolution, with that stride; the last without its final ADN) then `final` (nn.Flatten and an nn.Linear to the
 * output's size), with MONAI's keys (`net.layer_0.conv.unit0.conv.weight`, `net.layer_0.residual.weight`,
 * `final.1.weight`, …) and PyTorch's default initialisation.
 */

export interface RegressorOptions extends MonaiStackOptions {
  /** the input's shape without the batch: [channels, D, H, W] */
  inShape: readonly number[];
  /** the output's shape without the batch (e.g. [2]) */
  outShape: readonly number[];
  /** each layer's output channels */
  channels: readonly number[];
  /** each layer's stride (the downsampling factor), one per channel */
  strides: readonly IntOrTriple[];
  /** residual units' convolutions per layer; 0: plain Convolutions (default 2) */
  numResUnits?: number;
}

interface ConvNet { net: Sequential; inChannels: number; inSize: number[]; finalChannels: number; finalSize: number[] }

/** the checked `net` of a Regressor (and of the classifiers), named `who` in errors */
function convNet(who: string, options: RegressorOptions, seed: number): ConvNet {
  const [inChannels, ...inSize] = checkShape(who, 'inShape', options.inShape, 4);
  const { channels, strides, numResUnits, common } = checkStack(who, options, { numResUnits: 2, dropout: null });
  const net = new Sequential();
  let size = inSize;
  channels.forEach((c, i) => {
    net.addModule(`layer_${i}`, stackLayer(i === 0 ? inChannels : channels[i - 1], c, common, {
      strides: strides[i], units: numResUnits, isLast: i === channels.length - 1, seed: deriveSeed(seed, `net.layer_${i}`),
    }));
    size = stridedSize(size, strides[i]);
  });
  return { net, inChannels, inSize, finalChannels: channels[channels.length - 1], finalSize: size };
}

function checkInput(who: string, x: Tensor, inChannels: number, inSize: readonly number[]): void {
  if (x.rank !== 5 || x.shape[1] !== inChannels || x.shape.slice(2).some((n, a) => n !== inSize[a])) {
    throw new Error(`${who}: input must be [N, ${inChannels}, ${inSize.join(', ')}] (inShape), got ${formatShape(x.shape)}`);
  }
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * `new Regressor({ inShape, outShape, channels, strides })`: the conv layers take the input [N, ...inShape] to
 * [N, channels.at(-1), ...⌈size / Π strides⌉], which the final Linear maps to [N, ...outShape].
 */
export class Regressor extends Module {
  readonly inChannels: number;
  /** the input's spatial size */
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** the spatial size of the last conv layer's output */
  readonly finalSize: readonly number[];
  readonly net: Sequential;
  /** nn.Flatten, nn.Linear (and a Classifier's `lastact`) */
  readonly final: Sequential;

  constructor(options: RegressorOptions) {
    super();
    const who = this.typeName;
    const seed = options.seed ?? nextSeed();
    const built = convNet(who, options, seed);
    this.outShape = checkShape(who, 'outShape', options.outShape);
    this.inChannels = built.inChannels;
    this.inShape = built.inSize;
    this.finalSize = built.finalSize;
    this.net = this.registerModule('net', built.net);
    this.final = this.registerModule('final', new Sequential(new Flatten(),
      new Linear(built.finalChannels * product(built.finalSize), product(this.outShape), { seed: deriveSeed(seed, 'final.1'), backend: options.backend })));
  }

  forward(x: Tensor): Tensor {
    checkInput(this.typeName, x, this.inChannels, this.inShape);
    return tidy(() => reshape(this.final.forward(this.net.forward(x)), [x.shape[0], ...this.outShape]));
  }
}

/** a Classifier's last activation: MONAI's Act names (see MonaiActSpec), or 'softmax' / 'logsoftmax' over the classes */
export type ClassifierLastAct = MonaiActSpec | 'softmax' | 'logsoftmax';

export interface ClassifierOptions extends Omit<RegressorOptions, 'outShape'> {
  /** the number of classes: the output is [N, classes] */
  classes: number;
  /** an activation after the final Linear, as `final.lastact` (default null: none) */
  lastAct?: ClassifierLastAct | null;
}

function lastActLayer(who: string, act: ClassifierLastAct, options: ClassifierOptions): Layer {
  const name = typeof act === 'string' ? act.toLowerCase() : act;
  if (name === 'softmax') return new Softmax(1);
  if (name === 'logsoftmax') return new LogSoftmax(1);
  return monaiActFactory(act as MonaiActSpec, `${who}: lastAct`)(options.backend);
}

/** MONAI's Classifier: a Regressor to [N, classes], with an optional last activation `final.lastact` */
export class Classifier extends Regressor {
  readonly classes: number;

  constructor(options: ClassifierOptions) {
    checkPositiveInteger(new.target.name, 'classes', options.classes);
    super({ ...options, outShape: [options.classes] });
    this.classes = options.classes;
    const lastAct = options.lastAct ?? null;
    if (lastAct !== null) this.final.addModule('lastact', lastActLayer(this.typeName, lastAct, options));
  }
}

export interface DiscriminatorOptions extends Omit<ClassifierOptions, 'classes' | 'lastAct' | 'dropout'> {
  /** default 0.25 (MONAI's Discriminator's) */
  dropout?: number | null;
  /** default 'sigmoid' */
  lastAct?: ClassifierLastAct | null;
}

/** MONAI's Discriminator: a Classifier to one value, dropout 0.25 and a sigmoid by default (for GANs) */
export class Discriminator extends Classifier {
  constructor(options: DiscriminatorOptions) {
    super({ ...options, classes: 1, dropout: options.dropout === undefined ? 0.25 : options.dropout, lastAct: options.lastAct === undefined ? 'sigmoid' : options.lastAct });
  }
}

export type CriticOptions = Omit<DiscriminatorOptions, 'lastAct'>;

/**
 * MONAI's Critic (for Wasserstein GANs): the Regressor's `net` (dropout 0.25 by default), then `final` an nn.Flatten
 * (no Linear: no parameters), the mean over the flattened features: [N, 1]
 */
export class Critic extends Module {
  readonly inChannels: number;
  readonly inShape: readonly number[];
  readonly net: Sequential;
  readonly final: Flatten;

  constructor(options: CriticOptions) {
    super();
    const built = convNet('Critic', { ...options, outShape: [1], dropout: options.dropout === undefined ? 0.25 : options.dropout }, options.seed ?? nextSeed());
    this.inChannels = built.inChannels;
    this.inShape = built.inSize;
    this.net = this.registerModule('net', built.net);
    this.final = this.registerModule('final', new Flatten());
  }

  forward(x: Tensor): Tensor {
    checkInput('Critic', x, this.inChannels, this.inShape);
    return tidy(() => mean(this.final.forward(this.net.forward(x)), 1, true));
  }
}
