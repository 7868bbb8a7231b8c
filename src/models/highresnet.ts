import { add, pad } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv3d, type IntOrTriple } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import { ADN, MonaiConvolution, monaiActFactory, monaiNormFactory, samePadding, type MonaiActSpec } from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';

/**
 * MONAI's HighResNet (monai/networks/nets/highresnet.py; Li et al., "On the compactness, efficiency, and
 * representation of 3D convolutional networks: Brain parcellation as a pretext task", IPMI 2017), 3-D only, with
 * MONAI's module tree and state-dict keys (`blocks.0.conv.weight`, `blocks.0.adn.N.weight`,
 * `blocks.1.layers.0.N.weight`, `blocks.1.layers.1.conv.weight`, `blocks.4.chn_pad.project.weight`, …), its
 * HighResBlock and ChannelPad (monai/networks/layers/simplelayers.py), and PyTorch's default initialisation.
 */

/** how a residual block meets a change of channels: 'pad' (zeros, split around the input's channels) or 'project' (a 1³ convolution) */
export type ChannelMatching = 'pad' | 'project';
const channelMatchings: readonly ChannelMatching[] = ['pad', 'project'];

/**
 * MONAI's ChannelPad: the input itself where the channels agree; else, with 'project', a 1³ Conv3d with a bias
 * (`project`), or with 'pad', zero channels added, ⌊(out − in)/2⌋ before the input's and the rest after them (no
 * parameters; narrowing is refused)
 */
export class ChannelPad extends Layer {
  readonly project: Conv3d | null = null;
  /** the zero channels before and after the input's, with 'pad' */
  readonly channelPadding: readonly [number, number] | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, mode: ChannelMatching = 'pad', options: { seed?: number; backend?: Backend } = {}) {
    super();
    if (!channelMatchings.includes(mode)) throw new Error(`ChannelPad: unknown mode '${String(mode)}'; valid: ${channelMatchings.join(', ')}`);
    if (inChannels === outChannels) return;
    if (mode === 'project') {
      this.project = this.registerModule('project', new Conv3d(inChannels, outChannels, 1, { seed: options.seed ?? nextSeed(), backend: options.backend }));
      return;
    }
    if (inChannels > outChannels) {
      throw new Error(`ChannelPad: mode 'pad' cannot narrow ${inChannels} channels to ${outChannels}; use 'project'`);
    }
    const before = Math.floor((outChannels - inChannels) / 2);
    this.channelPadding = [before, outChannels - inChannels - before];
  }

  forward(x: Tensor): Tensor {
    if (this.project) return this.project.forward(x);
    if (this.channelPadding) return pad(x, [0, 0, 0, 0, 0, 0, ...this.channelPadding]);
    return x;
  }
}

export interface HighResBlockOptions {
  /** one convolution per entry, of that kernel size (default [3, 3]) */
  kernels?: readonly IntOrTriple[];
  /** every convolution's dilation (default 1); the padding keeps the size */
  dilation?: IntOrTriple;
  /** default ['batch', { affine: true }] */
  norm?: NormSpec;
  /** default 'relu' */
  act?: MonaiActSpec;
  /** the convolutions' biases (default false) */
  bias?: boolean;
  /** default 'pad' */
  channelMatching?: ChannelMatching;
  /** what the layers' seeds derive from, with their paths (default: the global generator) */
  seed?: number;
  /** the block's module path in the network whose seed `seed` is (default '': the block's own) */
  path?: string;
  backend?: Backend;
}

/**
 * MONAI's HighResBlock, a pre-activation residual block: `chn_pad` (a ChannelPad of the input), then `layers`, per
 * kernel an ADN (norm then activation, over the channels coming in: layers.0, layers.2, …) and a bare dilated
 * convolution (a Convolution with only its `conv`: layers.1, layers.3, …), the first to outChannels; the output is
 * layers(x) + chn_pad(x).
 */
export class HighResBlock extends Layer {
  readonly chnPad: ChannelPad;
  readonly layers: Sequential;

  constructor(readonly inChannels: number, readonly outChannels: number, options: HighResBlockOptions = {}) {
    super();
    const seed = options.seed ?? nextSeed(), at = (name: string) => (options.path ? `${options.path}.${name}` : name);
    const norm = options.norm ?? ['batch', { affine: true }], act = options.act ?? 'relu', dilation = options.dilation ?? 1;
    this.chnPad = this.registerModule('chn_pad', new ChannelPad(inChannels, outChannels, options.channelMatching ?? 'pad', {
      seed: deriveSeed(seed, at('chn_pad.project')), backend: options.backend,
    }));
    this.layers = this.registerModule('layers', new Sequential());
    let channels = inChannels;
    for (const kernelSize of options.kernels ?? [3, 3]) {
      const n = this.layers.length;
      this.layers.addModule(`${n}`, new ADN({ ordering: 'NA', inChannels: channels, act, norm, backend: options.backend }));
      this.layers.addModule(`${n + 1}`, new MonaiConvolution(channels, outChannels, {
        kernelSize, dilation, bias: options.bias ?? false, convOnly: true, seed, path: at(`layers.${n + 1}`), backend: options.backend,
      }));
      channels = outChannels;
    }
  }

  forward(x: Tensor): Tensor {
    return tidy(() => add(this.layers.forward(x), this.chnPad.forward(x)));
  }
}

/** HighResNet's first layer and its penultimate one: a Convolution of nFeatures channels */
export interface HighResNetConvParams { name?: string; nFeatures: number; kernelSize: IntOrTriple }
/** a group of `repeat` HighResBlocks of nFeatures channels, one convolution per entry of `kernels` */
export interface HighResNetResidualParams { name?: string; nFeatures: number; kernels: readonly IntOrTriple[]; repeat: number }
/** HighResNet's last layer: a Convolution to outChannels */
export interface HighResNetLastParams { name?: string; kernelSize: IntOrTriple }
/** the first convolution, the residual groups (group g dilated by 2^g), the penultimate and the last convolution */
export type HighResNetLayerParams = readonly [HighResNetConvParams, ...HighResNetResidualParams[], HighResNetConvParams, HighResNetLastParams];

/** MONAI's DEFAULT_LAYER_PARAMS_3D */
export const highResNetDefaultLayerParams: HighResNetLayerParams = [
  { name: 'conv_0', nFeatures: 16, kernelSize: 3 },
  { name: 'res_1', nFeatures: 16, kernels: [3, 3], repeat: 3 },
  { name: 'res_2', nFeatures: 32, kernels: [3, 3], repeat: 3 },
  { name: 'res_3', nFeatures: 64, kernels: [3, 3], repeat: 3 },
  { name: 'conv_1', nFeatures: 80, kernelSize: 1 },
  { name: 'conv_2', kernelSize: 1 },
];

export interface HighResNetOptions {
  /** only 3 (MONAI's default) */
  spatialDims?: 3;
  /** default 1 */
  inChannels?: number;
  /** default 1 */
  outChannels?: number;
  /** MONAI's norm_type (default ['batch', { affine: true }]) */
  norm?: NormSpec;
  /** MONAI's acti_type (default 'relu') */
  act?: MonaiActSpec;
  /**
   * MONAI's dropout_prob: a Dropout of this probability after the activation of the last two convolutions (default 0:
   * a Dropout(p = 0), as MONAI's); null: no dropout layer
   */
  dropoutProb?: number | null;
  /** every convolution's bias (default false) */
  bias?: boolean;
  /** default highResNetDefaultLayerParams (MONAI's DEFAULT_LAYER_PARAMS_3D) */
  layerParams?: HighResNetLayerParams;
  /** default 'pad' */
  channelMatching?: ChannelMatching;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

const positiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * MONAI's HighResNet: `blocks`, a Sequential of a Convolution (norm then activation: NA) to layerParams[0].nFeatures,
 * the HighResBlocks of each residual group (group g's convolutions dilated by 2^g), then two Convolutions (norm,
 * activation, dropout: NAD), to layerParams[−2].nFeatures and to outChannels. As MONAI's, the last Convolution's
 * norm and activation apply to the output too (with the defaults, a batch norm and a ReLU). Every convolution keeps
 * the size (same padding), so inputs of any size pass.
 */
export class HighResNet extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly blocks: Sequential;

  constructor(options: HighResNetOptions = {}) {
    super();
    const who = 'HighResNet';
    if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported, got ${options.spatialDims}`);
    const inChannels = this.inChannels = options.inChannels ?? 1, outChannels = this.outChannels = options.outChannels ?? 1;
    for (const [key, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!positiveInteger(v)) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
    }
    const dropout = options.dropoutProb === undefined ? 0 : options.dropoutProb;
    if (dropout !== null && !(typeof dropout === 'number' && dropout >= 0 && dropout <= 1)) {
      throw new Error(`${who}: dropoutProb must be in [0, 1] or null, got ${String(dropout)}`);
    }
    const channelMatching = options.channelMatching ?? 'pad';
    if (!channelMatchings.includes(channelMatching)) {
      throw new Error(`${who}: unknown channelMatching '${String(channelMatching)}'; valid: ${channelMatchings.join(', ')}`);
    }
    const act = options.act ?? 'relu', norm = options.norm ?? ['batch', { affine: true }], bias = options.bias ?? false;
    monaiActFactory(act, who);
    monaiNormFactory(norm, who);
    const params = checkLayerParams(options.layerParams ?? highResNetDefaultLayerParams, inChannels, channelMatching, who);
    const seed = options.seed ?? nextSeed(), backend = options.backend;

    const blocks = this.blocks = this.registerModule('blocks', new Sequential());
    const convolution = (a: number, b: number, kernelSize: IntOrTriple, last: boolean) => new MonaiConvolution(a, b, {
      kernelSize, adnOrdering: last ? 'NAD' : 'NA', act, norm, bias, dropout: last ? dropout : null, seed, path: `blocks.${blocks.length}`, backend,
    });
    const first = params[0], penultimate = params[params.length - 2] as HighResNetConvParams;
    blocks.addModule('0', convolution(inChannels, first.nFeatures, first.kernelSize, false));
    let channels = first.nFeatures;
    for (const [g, group] of (params.slice(1, -2) as HighResNetResidualParams[]).entries()) {
      for (let r = 0; r < group.repeat; r++) {
        blocks.addModule(`${blocks.length}`, new HighResBlock(channels, group.nFeatures, {
          kernels: group.kernels, dilation: 2 ** g, norm, act, bias, channelMatching, seed, path: `blocks.${blocks.length}`, backend,
        }));
        channels = group.nFeatures;
      }
    }
    blocks.addModule(`${blocks.length}`, convolution(channels, penultimate.nFeatures, penultimate.kernelSize, true));
    blocks.addModule(`${blocks.length}`, convolution(penultimate.nFeatures, outChannels, (params[params.length - 1] as HighResNetLastParams).kernelSize, true));
  }

  /** [N, outChannels, D, H, W] for an input [N, inChannels, D, H, W] */
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`HighResNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    return this.blocks.forward(x);
  }
}

/** `params` checked entry by entry (errors naming `who` and the entry), as the network reads them */
function checkLayerParams(params: HighResNetLayerParams, inChannels: number, channelMatching: ChannelMatching, who: string): HighResNetLayerParams {
  if (!Array.isArray(params) || params.length < 3) {
    throw new Error(`${who}: layerParams must list the first convolution, any residual groups, then the last two convolutions (at least 3 entries), got ${JSON.stringify(params)}`);
  }
  const entry = (i: number) => params[i] as unknown as Record<string, unknown>;
  const field = (i: number, key: string, ok: (v: unknown) => boolean, what: string) => {
    const e = entry(i), v = e !== null && typeof e === 'object' ? e[key] : undefined;
    if (!ok(v)) throw new Error(`${who}: layerParams[${i}].${key} must be ${what}, got ${JSON.stringify(v)}`);
  };
  const kernel = (i: number, key: string, k: unknown, dilation: number) => {
    const ints = typeof k === 'number' ? [k] : Array.isArray(k) && k.length === 3 ? k : null;
    if (!ints?.every(positiveInteger)) throw new Error(`${who}: layerParams[${i}].${key} must be a positive integer or three, got ${JSON.stringify(k)}`);
    samePadding(k as IntOrTriple, dilation, `${who}: layerParams[${i}].${key}`);
  };
  const last = params.length - 1;
  let channels = inChannels;
  for (let i = 0; i <= last; i++) {
    if (i < last) field(i, 'nFeatures', positiveInteger, 'a positive integer');
    if (i === 0 || i >= last - 1) {
      kernel(i, 'kernelSize', entry(i)?.kernelSize, 1);
      if (i === 0) channels = params[0].nFeatures;
      continue;
    }
    field(i, 'kernels', (v) => Array.isArray(v) && v.length > 0, 'a non-empty list of kernel sizes');
    field(i, 'repeat', positiveInteger, 'a positive integer');
    const group = params[i] as HighResNetResidualParams;
    for (const [j, k] of group.kernels.entries()) kernel(i, `kernels[${j}]`, k, 2 ** (i - 1));
    if (channelMatching === 'pad' && group.nFeatures < channels) {
      throw new Error(`${who}: layerParams[${i}] narrows ${channels} channels to ${group.nFeatures}, which channelMatching 'pad' cannot; use 'project'`);
    }
    channels = group.nFeatures;
  }
  return params;
}
