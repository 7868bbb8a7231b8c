import { add, log, mean, mul, mulScalar, reshape, softplus, square, sub, addScalar } from '../autograd/ops.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { noiseLike, checkShape, type NoiseGenerator } from './autoencoder.js';
import type { Linear } from './layers.js';
import { mseLoss } from './losses.js';
import { Sequential } from './module.js';
import { SegResNetBase, type SegResNetOptions } from './segresnet.js';

/**
 * MONAI's SegResNetVAE (monai/networks/nets/segresnet.py; Myronenko 2018, "3D MRI brain tumor segmentation using
 * autoencoder regularization"), 3-D only: SegResNet's module tree and keys (segresnet.ts's blocks) plus the VAE branch
 * MONAI adds after them — `vae_down` (norm, act, a stride-2 3³ conv with bias to 16 channels, norm, act), `vae_fc1`,
 * `vae_fc2`, `vae_fc3` (nn.Linear), `vae_fc_up_sample` (a 1³ conv back to the coarsest channels, ×2 upsampling, norm,
 * act) and `vae_conv_final` (norm, act, a 1³ conv with bias to inChannels) — with MONAI's keys (`vae_down.2.conv.weight`,
 * `vae_fc1.weight`, `vae_fc_up_sample.0.conv.weight`, `vae_conv_final.2.conv.bias`, …).
 */

export interface SegResNetVAEOptions extends SegResNetOptions {
  /** the input's spatial size [D, H, W] the VAE branch is built for: multiples of 2^blocksDown.length */
  inputImageSize: readonly number[];
  /** whether vae_fc2 estimates the latent's standard deviation (softplus); else vaeDefaultStd (default false) */
  vaeEstimateStd?: boolean;
  /** the latent's standard deviation when it is not estimated (default 0.3) */
  vaeDefaultStd?: number;
  /** the latent's size (default 256) */
  vaeNz?: number;
  /** where the latent's noise comes from (default: the global generator) */
  generator?: NoiseGenerator;
}

/** the channels of the VAE branch's coarsest feature map (MONAI's smallest_filters) */
const smallestFilters = 16;

/**
 * `new SegResNetVAE({ inputImageSize, ... SegResNet's options })`. `forward(x)` gives [the segmentation, the VAE loss]
 * in training and [the segmentation, null] in evaluation, as MONAI's. The VAE loss, of the encoder's coarsest feature:
 * vae_down, flattened, the latent mean m = vae_fc1(·); with vaeEstimateStd the standard deviation s = softplus(vae_fc2(·))
 * and the regularisation ½·mean(m² + s² − log(1e-8 + s²) − 1), else s = vaeDefaultStd and mean(m²); a latent m + s·ε (ε
 * standard normal from `generator`), vae_fc3, act, reshaped to [N, 16, ...inputImageSize / 2^blocksDown.length],
 * vae_fc_up_sample, the decoder's upsamplings and blocks without the skip connections, vae_conv_final; plus the mean
 * squared error of that reconstruction against the input.
 */
export class SegResNetVAE extends SegResNetBase {
  readonly inputImageSize: readonly number[];
  readonly vaeEstimateStd: boolean;
  readonly vaeDefaultStd: number;
  readonly vaeNz: number;
  /** the spatial size of the VAE's latent feature map (MONAI's fc_insize): inputImageSize / 2^blocksDown.length */
  readonly fcInsize: readonly number[];
  readonly vaeDown: Sequential;
  readonly vaeFc1: Linear;
  readonly vaeFc2: Linear;
  readonly vaeFc3: Linear;
  readonly vaeFcUpSample: Sequential;
  readonly vaeConvFinal: Sequential;
  /** the latent's noise in training (default: the global generator); may be replaced */
  generator: NoiseGenerator | undefined;

  constructor(options: SegResNetVAEOptions) {
    super(options);
    const who = 'SegResNetVAE';
    const size = checkShape(who, 'inputImageSize', options.inputImageSize, 3);
    const zoom = 2 ** (this.blocksDown.length - 1), factor = 2 * zoom;
    if (size.some((n) => n % factor !== 0)) {
      throw new Error(`${who}: inputImageSize [${size.join(', ')}] must be multiples of ${factor} (2^${this.blocksDown.length}: the encoder's ${this.blocksDown.length - 1} halvings and vae_down's)`);
    }
    this.vaeEstimateStd = options.vaeEstimateStd ?? false;
    this.vaeDefaultStd = options.vaeDefaultStd ?? 0.3;
    if (!(this.vaeDefaultStd >= 0 && Number.isFinite(this.vaeDefaultStd))) throw new Error(`${who}: vaeDefaultStd must be a finite number ≥ 0, got ${this.vaeDefaultStd}`);
    this.vaeNz = options.vaeNz ?? 256;
    if (!(Number.isInteger(this.vaeNz) && this.vaeNz > 0)) throw new Error(`${who}: vaeNz must be a positive integer, got ${this.vaeNz}`);
    this.inputImageSize = size;
    this.fcInsize = size.map((n) => n / factor);
    this.generator = options.generator;
    const vFilters = this.initFilters * zoom, total = smallestFilters * this.fcInsize.reduce((a, b) => a * b, 1);
    this.vaeDown = this.registerModule('vae_down', new Sequential(this.normLayer(vFilters), this.actMod,
      this.convolution(vFilters, smallestFilters, 'vae_down.2', { stride: 2, bias: true }), this.normLayer(smallestFilters), this.actMod));
    this.vaeFc1 = this.registerModule('vae_fc1', this.linear(total, this.vaeNz, 'vae_fc1'));
    this.vaeFc2 = this.registerModule('vae_fc2', this.linear(total, this.vaeNz, 'vae_fc2'));
    this.vaeFc3 = this.registerModule('vae_fc3', this.linear(this.vaeNz, total, 'vae_fc3'));
    this.vaeFcUpSample = this.registerModule('vae_fc_up_sample', new Sequential(
      this.convolution(smallestFilters, vFilters, 'vae_fc_up_sample.0', { kernelSize: 1 }), this.upSample(vFilters, 'vae_fc_up_sample.1'),
      this.normLayer(vFilters), this.actMod));
    this.vaeConvFinal = this.registerModule('vae_conv_final', new Sequential(
      this.normLayer(this.initFilters), this.actMod, this.convolution(this.initFilters, this.inChannels, 'vae_conv_final.2', { kernelSize: 1, bias: true })));
  }

  /** MONAI's _get_vae_loss: the VAE loss of the network's input and the encoder's coarsest feature `vaeInput` */
  vaeLoss(input: Tensor, vaeInput: Tensor): Tensor {
    return tidy(() => {
      const down = this.vaeDown.forward(vaeInput);
      const flat = reshape(down, [down.shape[0], -1]);
      const zMean = this.vaeFc1.forward(flat);
      const noise = noiseLike(zMean, this.generator);
      let reg: Tensor, latent: Tensor;
      if (this.vaeEstimateStd) {
        const sigma = softplus(this.vaeFc2.forward(flat)), sigma2 = square(sigma);
        reg = mulScalar(mean(addScalar(sub(add(square(zMean), sigma2), log(addScalar(sigma2, 1e-8))), -1)), 0.5);
        latent = add(zMean, mul(sigma, noise));
      } else {
        reg = mean(square(zMean));
        latent = add(zMean, mulScalar(noise, this.vaeDefaultStd));
      }
      let y = reshape(this.actMod.forward(this.vaeFc3.forward(latent)), [down.shape[0], smallestFilters, ...this.fcInsize]);
      y = this.vaeFcUpSample.forward(y);
      for (let i = 0; i < this.upSamples.length; i++) y = this.upLayers.at(i).forward(this.upSamples.at(i).forward(y));
      return add(reg, mseLoss(input, this.vaeConvFinal.forward(y)));
    });
  }

  /** [the segmentation, the VAE loss] in training; [the segmentation, null] in evaluation */
  forward(x: Tensor): [Tensor, Tensor | null] {
    this.checkInput(x);
    if (this.training && x.shape.slice(2).some((n, a) => n !== this.inputImageSize[a])) {
      throw new Error(`SegResNetVAE: in training the input must be [N, ${this.inChannels}, ${this.inputImageSize.join(', ')}] (inputImageSize, which the VAE branch is built for), got ${formatShape(x.shape)}`);
    }
    return tidy(() => {
      const [y, features] = this.encode(x);
      return [this.decode(y, features), this.training ? this.vaeLoss(x, y) : null];
    });
  }
}
