/**
 * The network DBiSL trains: any backbone that maps an image batch [B, 1, X, Y, Z] to the two maps of
 * dbisl.md §1 — segmentation logits z and the regression output R̂ = tanh(r) (normalised SDF, negative
 * inside). The method only sees {@link DualTaskModel}; {@link VNetDualTask} is DTC's V-Net with its two
 * 1×1×1 heads under DTC's module names (`out_conv` = segmentation, `out_conv2` = tanh SDF head), so the
 * state dicts are exchangeable with DTC's code through safetensors.
 */
import type { Backend } from '../kernels/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../models/module.js';
import { VNet } from '../models/vnet.js';

export interface DualTaskOutputs {
  /** segmentation logits z [B, 1, X, Y, Z] (Ŷ = σ(z)) */
  seg: Tensor;
  /** R̂ = tanh(r) in [−1, 1], [B, 1, X, Y, Z] */
  sdf: Tensor;
}

/** What DBiSL needs of a backbone. */
export interface DualTaskModel {
  /** the module owning every parameter and buffer (state dict, train/eval, dispose) */
  readonly module: Module;
  forward(x: Tensor): DualTaskOutputs;
  /** makes the stochastic layers (dropout) of the following forwards a function of this seed */
  setStochasticSeed(seed: number): void;
  /** one line for logs and reports */
  describe(): string;
}

export interface VNetDualTaskOptions {
  nFilters?: number;
  /** Dropout3d(0.5) after block_five and block_nine in training (DTC: on) */
  dropout?: boolean;
  /** initialisation seed */
  seed?: number;
  backend?: Backend;
}

/** DTC's V-Net (batch norm, transposed-conv upsampling) with a segmentation and a tanh SDF head. */
export class VNetDualTask implements DualTaskModel {
  readonly module: VNet;

  constructor(options: VNetDualTaskOptions = {}) {
    this.module = new VNet({
      inChannels: 1,
      nFilters: options.nFilters ?? 16,
      normalization: 'batchnorm',
      hasDropout: options.dropout ?? true,
      upsampling: 'transposed',
      heads: [
        { name: 'out_conv', channels: 1, activation: 'none' },
        { name: 'out_conv2', channels: 1, activation: 'tanh' },
      ],
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
  }

  forward(x: Tensor): DualTaskOutputs {
    const out = this.module.forward(x);
    return { seg: out.out_conv!, sdf: out.out_conv2! };
  }

  setStochasticSeed(seed: number): void { this.module.setDropoutSeed(seed); }

  describe(): string {
    const o = this.module.options;
    return `V-Net (n_filters ${o.nFilters}, ${o.normalization}, dropout ${o.hasDropout ? 'on' : 'off'}) with heads out_conv (seg logits) and out_conv2 (tanh SDF), ${this.module.numParameters().toLocaleString('en-US')} parameters`;
  }
}
