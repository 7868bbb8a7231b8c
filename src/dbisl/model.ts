/**
 * The network DBiSL trains: any backbone that maps an image batch [B, 1, X, Y, Z] to the two maps of
 * dbisl.md §1 — segmentation logits z and the regression output R̂ = tanh(r) (normalised SDF, negative
 * inside). The method only sees {@link DualTaskModel}; {@link VNetDualTask} is DTC's V-Net with its two
 * 1×1×1 heads under DTC's module names (`vnet_sdf.py`: `out_conv` = tanh SDF head, `out_conv2` = segmentation
 * logits), so the state dicts are exchangeable with DTC's code through safetensors. Checkpoints written by voxgrad
 * 0.1.0, which had the two names the other way round, are recognised by their metadata and refused
 * ({@link checkHeadLayout}) rather than loaded with the heads swapped.
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
  /** the segmentation logits z alone, equal to forward(x).seg (inference: the regression head is not computed) */
  segment(x: Tensor): Tensor;
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
        { name: 'out_conv', channels: 1, activation: 'tanh' },
        { name: 'out_conv2', channels: 1, activation: 'none' },
      ],
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
  }

  forward(x: Tensor): DualTaskOutputs {
    const out = this.module.forward(x);
    return { seg: out.out_conv2!, sdf: out.out_conv! };
  }

  segment(x: Tensor): Tensor { return this.module.forward(x, ['out_conv2']).out_conv2!; }

  setStochasticSeed(seed: number): void { this.module.setDropoutSeed(seed); }

  describe(): string {
    const o = this.module.options;
    return `V-Net (n_filters ${o.nFilters}, ${o.normalization}, dropout ${o.hasDropout ? 'on' : 'off'}) with heads out_conv (tanh SDF) and out_conv2 (seg logits), ${this.module.numParameters().toLocaleString('en-US')} parameters`;
  }
}

/** Checkpoint metadata key naming which head is which (absent in voxgrad 0.1.0's checkpoints). */
export const HEAD_LAYOUT_KEY = 'dbisl.heads';
/** DTC's layout, the only one this version writes and reads. */
export const HEAD_LAYOUT = 'out_conv=sdf,out_conv2=seg';

/**
 * Throws when a checkpoint's metadata says it was written by this project with another head layout: voxgrad 0.1.0
 * wrote the segmentation head as `out_conv`, so such a file would load with the heads swapped. Files without our
 * metadata (e.g. converted from DTC's PyTorch checkpoints) use DTC's names and pass.
 */
export function checkHeadLayout(metadata: Readonly<Record<string, string>>, file: string): void {
  const layout = metadata[HEAD_LAYOUT_KEY];
  if (layout === HEAD_LAYOUT) return;
  if (layout !== undefined || metadata['dbisl.method'] !== undefined) {
    throw new Error(`${file}: written with the head layout '${layout ?? 'out_conv=seg,out_conv2=sdf'}' (voxgrad 0.1.0); this version uses DTC's '${HEAD_LAYOUT}' and will not load the heads swapped: retrain, or rename out_conv ↔ out_conv2 in the file`);
  }
}
