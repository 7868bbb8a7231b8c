import * as F from '../autograd/nn.js';
import type { Triple } from '../autograd/nn.js';
import { add, concat, expand, gather, matmul, mul, mulScalar, pad, permute, reshape, roll, slice, squeeze, transpose } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { fromArray, full } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity, Softmax } from './activations.js';
import { UnetOutBlock, type BlockContext, type DynUNetNorm } from './dynunet.js';
import { truncNormal_ } from './init.js';
import { Conv3d, Dropout, LayerNorm, Linear, SeededDropout, triple, type IntOrTriple } from './layers.js';
import { Layer, Module, ModuleList, Parameter, deriveSeed, makeBuffer, nextSeed } from './module.js';
import { checkPositiveIntegers, checkSpatialDims } from './transformer-checks.js';
import { UnetrBasicBlock, UnetrUpBlock } from './unetr.js';
import { MLPBlock } from './vit.js';

/**
 * MONAI's SwinUNETR (Hatamizadeh et al. 2022: monai/networks/nets/swin_unetr.py), 3-D only: a Swin transformer
 * (PatchEmbed, four BasicLayers of SwinTransformerBlocks with window attention over shifted windows, each followed
 * by PatchMerging) gives five hidden states at 1/2 … 1/32 of the input size; UNETR's blocks decode them. MONAI's
 * module tree and state-dict keys (`swinViT.patch_embed.proj.weight`,
 * `swinViT.layers1.0.blocks.0.attn.relative_position_bias_table`, `….attn.relative_position_index` (a buffer,
 * int32 here, int64 in PyTorch), `swinViT.layers1.0.downsample.reduction.weight`, `encoder1.layer.conv1.conv.weight`,
 * …, `out.conv.conv.weight`). MONAI initialises only the relative position bias tables (trunc_normal_, std 0.02);
 * every other layer keeps PyTorch's default init. Inside a stage the tokens are channels-last [B, D, H, W, C].
 */

/** MONAI's get_window_size: along an axis no longer than the window, the window is the axis and there is no shift */
export function getWindowSize(size: readonly number[], windowSize: readonly number[], shiftSize: readonly number[]): [Triple, Triple] {
  const window = size.map((m, i) => (m <= windowSize[i] ? m : windowSize[i])) as unknown as Triple;
  const shift = size.map((m, i) => (m <= windowSize[i] ? 0 : shiftSize[i])) as unknown as Triple;
  return [window, shift];
}

/** MONAI's window_partition: [B, D, H, W, C] → [B·windows, window volume, C], windows and their voxels row-major */
export function windowPartition(x: Tensor, windowSize: readonly number[]): Tensor {
  const [b, d, h, w, c] = x.shape, [w0, w1, w2] = windowSize;
  return tidy(() => reshape(permute(reshape(x, [b, d / w0, w0, h / w1, w1, w / w2, w2, c]), [0, 1, 3, 5, 2, 4, 6, 7]), [-1, w0 * w1 * w2, c]));
}

/** MONAI's window_reverse: windowPartition's inverse, to [B, D, H, W, C] for dims [B, D, H, W] */
export function windowReverse(windows: Tensor, windowSize: readonly number[], dims: readonly number[]): Tensor {
  const [b, d, h, w] = dims, [w0, w1, w2] = windowSize;
  return tidy(() => reshape(permute(reshape(windows, [b, d / w0, h / w1, w / w2, w0, w1, w2, -1]), [0, 1, 4, 2, 5, 3, 6, 7]), [b, d, h, w, -1]));
}

/**
 * MONAI's relative_position_index for a window [w0, w1, w2]: entry (i, j) (window voxels, row-major) is the row
 * of the bias table for their offset, (Δ0 + w0 − 1)·(2w1 − 1)(2w2 − 1) + (Δ1 + w1 − 1)·(2w2 − 1) + Δ2 + w2 − 1.
 */
export function relativePositionIndex(windowSize: readonly number[]): Int32Array {
  const [w0, w1, w2] = windowSize, n = w0 * w1 * w2;
  const coords = (i: number) => [Math.floor(i / (w1 * w2)), Math.floor(i / w2) % w1, i % w2];
  const index = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = coords(i);
    for (let j = 0; j < n; j++) {
      const c = coords(j);
      index[i * n + j] = (a[0] - c[0] + w0 - 1) * (2 * w1 - 1) * (2 * w2 - 1) + (a[1] - c[1] + w1 - 1) * (2 * w2 - 1) + a[2] - c[2] + w2 - 1;
    }
  }
  return index;
}

/** Python's slice(start, stop) on an axis of length m, as [from, to) */
function pySlice(m: number, start: number | null, stop: number | null): [number, number] {
  const at = (v: number) => Math.min(m, Math.max(0, v < 0 ? m + v : v));
  return [start === null ? 0 : at(start), stop === null ? m : at(stop)];
}

/**
 * MONAI's compute_mask for the padded volume `dims` [D, H, W]: 27 regions labelled by the loops over
 * slice(−w), slice(−w, −s), slice(−s, None) per axis (later slices overwrite earlier ones, as in MONAI when a shift
 * is 0), then per window [windows, n, n]: 0 where two voxels share a region, −100 elsewhere.
 */
export function computeMask(dims: readonly number[], windowSize: readonly number[], shiftSize: readonly number[]): Float64Array {
  const [d, h, w] = dims;
  const label = new Float64Array(d * h * w);
  const ranges = (axis: number) => [[null, -windowSize[axis]], [-windowSize[axis], -shiftSize[axis]], [-shiftSize[axis], null]]
    .map(([start, stop]) => pySlice(dims[axis], start, stop));
  let count = 0;
  for (const [d0, d1] of ranges(0)) for (const [h0, h1] of ranges(1)) for (const [w0, w1] of ranges(2)) {
    for (let i = d0; i < d1; i++) for (let j = h0; j < h1; j++) for (let k = w0; k < w1; k++) label[(i * h + j) * w + k] = count;
    count++;
  }
  const [ws0, ws1, ws2] = windowSize, n = ws0 * ws1 * ws2;
  const windows = (d / ws0) * (h / ws1) * (w / ws2);
  const mask = new Float64Array(windows * n * n);
  const regions = new Float64Array(n);
  let win = 0;
  for (let a = 0; a < d / ws0; a++) for (let b = 0; b < h / ws1; b++) for (let c = 0; c < w / ws2; c++, win++) {
    let t = 0;
    for (let i = 0; i < ws0; i++) for (let j = 0; j < ws1; j++) for (let k = 0; k < ws2; k++) {
      regions[t++] = label[((a * ws0 + i) * h + b * ws1 + j) * w + c * ws2 + k];
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mask[(win * n + i) * n + j] = regions[i] === regions[j] ? 0 : -100;
  }
  return mask;
}

/**
 * MONAI's DropPath (stochastic depth, scale_by_keep): in training, each sample of the batch is zeroed with
 * probability p and the others scaled by 1/(1 − p); masks from the layer's seeded stream, as Dropout's.
 */
export class DropPath extends SeededDropout {
  protected drop(x: Tensor, training: boolean, seed: number): Tensor {
    if (!training) return F.dropout(x, this.p, false, seed);
    return tidy(() => {
      const perSample = F.dropout(full([x.shape[0], ...x.shape.slice(1).map(() => 1)], 1, { dtype: x.dtype, backend: x.backend }), this.p, true, seed);
      return mul(x, perSample);
    });
  }
}

export interface WindowAttentionOptions {
  qkvBias?: boolean;
  attnDrop?: number;
  projDrop?: number;
  seed?: number;
  backend?: Backend;
}

/**
 * MONAI's WindowAttention: multi-head self-attention inside each window with a learned bias per head and relative
 * offset (relative_position_bias_table [(2w0−1)(2w1−1)(2w2−1), heads], read through the relative_position_index
 * buffer of the configured window; a smaller effective window reads its top-left n × n block, as MONAI), qkv
 * features ordered (q|k|v, head, d), an additive mask per window for shifted windows.
 */
export class WindowAttention extends Module {
  readonly relativePositionBiasTable: Parameter;
  readonly relativePositionIndex: Tensor;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  readonly softmax: Softmax;
  readonly scale: number;

  constructor(readonly dim: number, readonly numHeads: number, readonly windowSize: Triple, options: WindowAttentionOptions = {}) {
    super();
    const { qkvBias = false, attnDrop = 0, projDrop = 0, backend } = options;
    const seed = options.seed ?? nextSeed();
    this.scale = Math.floor(dim / numHeads) ** -0.5;
    const [w0, w1, w2] = windowSize, n = w0 * w1 * w2;
    this.relativePositionBiasTable = this.registerParameter('relative_position_bias_table',
      Parameter.full([(2 * w0 - 1) * (2 * w1 - 1) * (2 * w2 - 1), numHeads], 0, { backend }));
    this.relativePositionIndex = this.registerBuffer('relative_position_index', makeBuffer(relativePositionIndex(windowSize), [n, n], 'int32', backend));
    this.qkv = new Linear(dim, 3 * dim, { bias: qkvBias, seed: deriveSeed(seed, 'qkv'), backend });
    this.attnDrop = this.registerModule('attn_drop', new Dropout(attnDrop));
    this.proj = new Linear(dim, dim, { seed: deriveSeed(seed, 'proj'), backend });
    this.projDrop = this.registerModule('proj_drop', new Dropout(projDrop));
    truncNormal_(this.relativePositionBiasTable, { std: 0.02, seed: deriveSeed(seed, 'relative_position_bias_table') });
    this.softmax = new Softmax(-1);
  }

  /** the bias [heads, n, n] of a window of n voxels */
  relativePositionBias(n: number): Tensor {
    return tidy(() => {
      const index = reshape(slice(slice(this.relativePositionIndex, 0, 0, n), 1, 0, n), [n * n, 1]);
      const rows = gather(this.relativePositionBiasTable, 0, expand(index, [n * n, this.numHeads]));
      return permute(reshape(rows, [n, n, this.numHeads]), [2, 0, 1]);
    });
  }

  /** x [B·windows, n, dim], mask [windows, n, n] or null → [B·windows, n, dim] */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [b, n, c] = x.shape, heads = this.numHeads;
    return tidy(() => {
      const qkv = permute(reshape(this.qkv.forward(x), [b, n, 3, heads, c / heads]), [2, 0, 3, 1, 4]);
      const [q, k, v] = [0, 1, 2].map((i) => squeeze(slice(qkv, 0, i, i + 1), 0));
      let scores = add(matmul(mulScalar(q, this.scale), transpose(k, -2, -1)), this.relativePositionBias(n));
      if (mask) {
        const windows = mask.shape[0];
        scores = reshape(add(reshape(scores, [b / windows, windows, heads, n, n]), reshape(mask, [1, windows, 1, n, n])), [b, heads, n, n]);
      }
      const weights = this.attnDrop.forward(this.softmax.forward(scores));
      return this.projDrop.forward(this.proj.forward(reshape(transpose(matmul(weights, v), 1, 2), [b, n, c])));
    });
  }
}

export interface SwinTransformerBlockOptions {
  mlpRatio?: number;
  qkvBias?: boolean;
  drop?: number;
  attnDrop?: number;
  dropPath?: number;
  seed?: number;
  backend?: Backend;
}

/**
 * MONAI's SwinTransformerBlock on channels-last [B, D, H, W, C]: x + attention over (shifted) windows of norm1(x)
 * (padded with zeros after the norm up to whole windows, rolled by −shift, partitioned, attended, reversed, rolled
 * back, cropped), then + mlp(norm2(·)); drop_path on both branches (Identity when its rate is 0).
 */
export class SwinTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: WindowAttention;
  readonly dropPath: DropPath | Identity;
  readonly norm2: LayerNorm;
  readonly mlp: MLPBlock;

  constructor(readonly dim: number, numHeads: number, readonly windowSize: Triple, readonly shiftSize: Triple, options: SwinTransformerBlockOptions = {}) {
    super();
    const { mlpRatio = 4, qkvBias = true, drop = 0, attnDrop = 0, dropPath = 0, backend } = options;
    const seed = options.seed ?? nextSeed();
    this.norm1 = new LayerNorm(dim, { backend });
    this.attn = new WindowAttention(dim, numHeads, windowSize, { qkvBias, attnDrop, projDrop: drop, seed: deriveSeed(seed, 'attn'), backend });
    this.dropPath = this.registerModule('drop_path', dropPath > 0 ? new DropPath(dropPath) : new Identity());
    this.norm2 = new LayerNorm(dim, { backend });
    // MONAI's 'swin' dropout mode shares one Dropout between the MLP's two places; masks are drawn per call either way
    this.mlp = new MLPBlock(dim, Math.floor(dim * mlpRatio), { dropoutRate: drop, seed: deriveSeed(seed, 'mlp'), backend });
  }

  /** x [B, D, H, W, C]; mask: the BasicLayer's compute_mask for this size, used when the block shifts */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [b, d, h, w] = x.shape;
    const [window, shift] = getWindowSize([d, h, w], this.windowSize, this.shiftSize);
    const pads = [d, h, w].map((m, i) => (window[i] - (m % window[i])) % window[i]);
    const shifted = shift.some((s) => s > 0);
    return tidy(() => {
      let y = this.norm1.forward(x);
      if (pads.some((p) => p > 0)) y = pad(y, [0, 0, 0, pads[2], 0, pads[1], 0, pads[0]]);
      if (shifted) y = roll(y, shift.map((s) => -s), [1, 2, 3]);
      const attended = this.attn.forward(windowPartition(y, window), shifted ? mask : null);
      y = windowReverse(attended, window, [b, d + pads[0], h + pads[1], w + pads[2]]);
      if (shifted) y = roll(y, shift, [1, 2, 3]);
      if (pads.some((p) => p > 0)) y = slice(slice(slice(y, 1, 0, d), 2, 0, h), 3, 0, w);
      y = add(x, this.dropPath.forward(y));
      return add(y, this.dropPath.forward(this.mlp.forward(this.norm2.forward(y))));
    });
  }
}

export type MergingMode = 'merging' | 'mergingv2';

/** the (d, h, w) offsets of the 8 sub-volumes in MONAI's concatenation order */
const MERGING_ORDER: Record<MergingMode, readonly (readonly [number, number, number])[]> = {
  merging: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
  mergingv2: [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]],
};

/**
 * MONAI's PatchMerging ('merging', v0.9.0's order) and PatchMergingV2 ('mergingv2', itertools.product's order):
 * [B, D, H, W, C] (odd sizes padded with zeros) → the 8 strided sub-volumes concatenated → LayerNorm(8C) →
 * Linear(8C → 2C, no bias): [B, ⌈D/2⌉, ⌈H/2⌉, ⌈W/2⌉, 2C].
 */
export class PatchMerging extends Layer {
  readonly reduction: Linear;
  readonly norm: LayerNorm;

  constructor(readonly dim: number, readonly mode: MergingMode = 'merging', options: { seed?: number; backend?: Backend } = {}) {
    super();
    const { backend } = options;
    this.reduction = new Linear(8 * dim, 2 * dim, { bias: false, seed: deriveSeed(options.seed ?? nextSeed(), 'reduction'), backend });
    this.norm = new LayerNorm(8 * dim, { backend });
  }

  override get typeName(): string { return this.mode === 'merging' ? 'PatchMerging' : 'PatchMergingV2'; }

  forward(x: Tensor): Tensor {
    const [, d, h, w] = x.shape;
    return tidy(() => {
      const padded = d % 2 || h % 2 || w % 2 ? pad(x, [0, 0, 0, w % 2, 0, h % 2, 0, d % 2]) : x;
      const parts = MERGING_ORDER[this.mode].map(([i, j, k]) => slice(slice(slice(padded, 1, i, undefined, 2), 2, j, undefined, 2), 3, k, undefined, 2));
      return this.reduction.forward(this.norm.forward(concat(parts, -1)));
    });
  }
}

/**
 * MONAI's PatchEmbed: a Conv3d with kernel = stride = patch size (`proj`; an input not divisible by the patch is
 * padded with zeros at the end), then with patchNorm a LayerNorm over the channels (`norm`). [B, C, D, H, W] →
 * [B, embedDim, D/p, H/p, W/p].
 */
export class PatchEmbed extends Layer {
  readonly proj: Conv3d;
  readonly norm: LayerNorm | null;

  constructor(readonly patchSize: Triple, inChannels: number, readonly embedDim: number, patchNorm: boolean, options: { seed?: number; backend?: Backend } = {}) {
    super();
    const { backend } = options;
    this.proj = new Conv3d(inChannels, embedDim, patchSize, { stride: patchSize, seed: deriveSeed(options.seed ?? nextSeed(), 'proj'), backend });
    this.norm = patchNorm ? new LayerNorm(embedDim, { backend }) : null;
  }

  forward(x: Tensor): Tensor {
    // F.pad's order: the last axis (W) first, each as (before, after)
    const pads = [4, 3, 2].flatMap((axis) => {
      const p = this.patchSize[axis - 2];
      return [0, (p - (x.shape[axis] % p)) % p];
    });
    return tidy(() => {
      const y = this.proj.forward(pads.some((p) => p > 0) ? pad(x, pads) : x);
      return this.norm ? permute(this.norm.forward(permute(y, [0, 2, 3, 4, 1])), [0, 4, 1, 2, 3]) : y;
    });
  }
}

export interface BasicLayerOptions extends Omit<SwinTransformerBlockOptions, 'dropPath'> {
  /** each block's stochastic depth rate */
  dropPath?: readonly number[];
  /** the PatchMerging at the end, or null for none */
  downsample?: MergingMode | null;
}

/**
 * MONAI's BasicLayer: one stage, [B, C, D, H, W] → blocks (every second one shifted by ⌊window/2⌋, with the mask
 * computed once for the padded size) → downsample → [B, 2C, D/2, H/2, W/2] (channels first again).
 */
export class BasicLayer extends Layer {
  readonly blocks: ModuleList<SwinTransformerBlock>;
  readonly downsample: PatchMerging | null;
  readonly shiftSize: Triple;

  constructor(readonly dim: number, depth: number, numHeads: number, readonly windowSize: Triple, options: BasicLayerOptions = {}) {
    super();
    const { dropPath = [], downsample = null, backend, ...block } = options;
    const seed = options.seed ?? nextSeed();
    this.shiftSize = windowSize.map((w) => Math.floor(w / 2)) as unknown as Triple;
    this.blocks = new ModuleList(Array.from({ length: depth }, (_, i) => new SwinTransformerBlock(dim, numHeads, windowSize,
      i % 2 === 0 ? [0, 0, 0] : this.shiftSize, { ...block, dropPath: dropPath[i] ?? 0, seed: deriveSeed(seed, `blocks.${i}`), backend })));
    this.downsample = downsample ? new PatchMerging(dim, downsample, { seed: deriveSeed(seed, 'downsample'), backend }) : null;
  }

  forward(x: Tensor): Tensor {
    const [, , d, h, w] = x.shape;
    const [window, shift] = getWindowSize([d, h, w], this.windowSize, this.shiftSize);
    return tidy(() => {
      let mask: Tensor | null = null;
      if (shift.some((s) => s > 0) && this.blocks.length > 1) {
        const padded = [d, h, w].map((m, i) => Math.ceil(m / window[i]) * window[i]);
        const n = window[0] * window[1] * window[2];
        mask = fromArray(computeMask(padded, window, shift), [padded[0] * padded[1] * padded[2] / n, n, n], { dtype: x.dtype, backend: x.backend });
      }
      let y = permute(x, [0, 2, 3, 4, 1]);
      for (const block of this.blocks) y = block.forward(y, mask);
      if (this.downsample) y = this.downsample.forward(y);
      return permute(y, [0, 4, 1, 2, 3]);
    });
  }
}

export interface SwinTransformerOptions {
  inChannels: number;
  embedDim: number;
  windowSize: Triple;
  patchSize: Triple;
  /** blocks per stage: 4 stages */
  depths: readonly number[];
  numHeads: readonly number[];
  mlpRatio?: number;
  qkvBias?: boolean;
  dropRate?: number;
  attnDropRate?: number;
  /** stochastic depth, rising linearly from 0 over all blocks to this rate (torch.linspace) */
  dropPathRate?: number;
  patchNorm?: boolean;
  downsample?: MergingMode;
  /** swinunetr_v2: a residual UnetrBasicBlock (instance norm) before each stage, `layers1c` … `layers4c` */
  useV2?: boolean;
  seed?: number;
  backend?: Backend;
}

/** MONAI's proj_out with normalize: a layer norm without affine over the channels of [B, C, D, H, W] */
function projOut(x: Tensor, normalize: boolean): Tensor {
  if (!normalize) return x;
  return tidy(() => permute(F.layerNorm(permute(x, [0, 2, 3, 4, 1]), x.shape[1]), [0, 4, 1, 2, 3]));
}

/**
 * MONAI's SwinTransformer: patch_embed, pos_drop, layers1 … layers4 (each a ModuleList of one BasicLayer with
 * embedDim·2^i channels, ending in PatchMerging). forward(x, normalize) returns the five hidden states: the patch
 * embedding and each stage's output, each through proj_out.
 */
export class SwinTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly posDrop: Dropout;
  readonly layers: readonly BasicLayer[];
  readonly convLayers: readonly UnetrBasicBlock[];

  constructor(options: SwinTransformerOptions) {
    super();
    const { inChannels, embedDim, windowSize, patchSize, depths, numHeads, mlpRatio = 4, qkvBias = true, dropRate = 0, attnDropRate = 0,
      dropPathRate = 0, patchNorm = false, downsample = 'merging', useV2 = false, backend } = options;
    const seed = options.seed ?? nextSeed();
    this.patchEmbed = this.registerModule('patch_embed', new PatchEmbed(patchSize, inChannels, embedDim, patchNorm, { seed: deriveSeed(seed, 'patch_embed'), backend }));
    this.posDrop = this.registerModule('pos_drop', new Dropout(dropRate));
    const total = depths.reduce((s, v) => s + v, 0);
    const rates = Array.from({ length: total }, (_, i) => (total > 1 ? (dropPathRate * i) / (total - 1) : 0));
    const lists = depths.map((_, i) => this.registerModule(`layers${i + 1}`, new ModuleList<BasicLayer>()));
    const convLists = useV2 ? depths.map((_, i) => this.registerModule(`layers${i + 1}c`, new ModuleList<UnetrBasicBlock>())) : [];
    const ctx: BlockContext = { norm: 'instance', act: 'leakyrelu', dropout: null, weightInit: 'default', seed: deriveSeed(seed, 'layersc'), backend };
    depths.forEach((depth, i) => {
      const first = depths.slice(0, i).reduce((s, v) => s + v, 0);
      const name = `layers${i + 1}`;
      lists[i].append(new BasicLayer(embedDim * 2 ** i, depth, numHeads[i], windowSize, {
        mlpRatio, qkvBias, drop: dropRate, attnDrop: attnDropRate, dropPath: rates.slice(first, first + depth), downsample,
        seed: deriveSeed(seed, `${name}.0`), backend,
      }));
      if (useV2) convLists[i].append(new UnetrBasicBlock(embedDim * 2 ** i, embedDim * 2 ** i, 3, 1, true, `${name}c.0`, ctx));
    });
    this.layers = lists.map((list) => list.at(0));
    this.convLayers = convLists.map((list) => list.at(0));
  }

  forward(x: Tensor, normalize = true): Tensor[] {
    return tidy(() => {
      let y = this.posDrop.forward(this.patchEmbed.forward(x));
      const out = [projOut(y, normalize)];
      this.layers.forEach((layer, i) => {
        if (this.convLayers.length > 0) y = this.convLayers[i].forward(y);
        y = layer.forward(y);
        out.push(projOut(y, normalize));
      });
      return out;
    });
  }
}

export interface SwinUNETROptions {
  inChannels: number;
  outChannels: number;
  /** the patch size (default 2); inputs must be divisible by patchSize⁵ along every axis */
  patchSize?: number;
  /** blocks per stage (default [2, 2, 2, 2]) */
  depths?: readonly number[];
  /** heads per stage (default [3, 6, 12, 24]) */
  numHeads?: readonly number[];
  /** the attention window (default 7), smaller along an axis whose size is no larger */
  windowSize?: IntOrTriple;
  /** default true */
  qkvBias?: boolean;
  /** the MLP width over the channels (default 4) */
  mlpRatio?: number;
  /** the channels of the finest level, divisible by 12 (default 24) */
  featureSize?: number;
  /** the convolutional blocks' norm, as DynUNet's normName (default 'instance': InstanceNorm3d without affine) */
  normName?: DynUNetNorm;
  /** dropout of the transformer's tokens, projections and MLPs (default 0) */
  dropRate?: number;
  /** dropout of the attention weights (default 0) */
  attnDropRate?: number;
  /** stochastic depth, rising linearly over the blocks to this rate (default 0) */
  dropoutPathRate?: number;
  /** layer-normalise the hidden states (proj_out) (default true) */
  normalize?: boolean;
  /** a LayerNorm after the patch embedding (default false) */
  patchNorm?: boolean;
  /** gradient checkpointing: false only */
  useCheckpoint?: false;
  /** only 3 */
  spatialDims?: 3;
  /** the patch merging: 'merging' (default, MONAI v0.9.0's order) or 'mergingv2' */
  downsample?: MergingMode;
  /** swinunetr_v2: a residual convolution block before each stage (default false) */
  useV2?: boolean;
  /** initialisation seed (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

function checkRate(op: string, name: string, rate: number): void {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`${op}: ${name} must be in [0, 1], got ${rate}`);
}

/**
 * `new SwinUNETR({ inChannels, outChannels })`: MONAI's SwinUNETR with its defaults (featureSize 24, patch 2,
 * window 7, depths [2, 2, 2, 2], heads [3, 6, 12, 24]). forward(x [N, inChannels, D, H, W]), every size divisible
 * by 32 (patchSize⁵) → [N, outChannels, D, H, W].
 */
export class SwinUNETR extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly patchSize: number;
  readonly normalize: boolean;
  readonly swinViT: SwinTransformer;
  readonly encoder1: UnetrBasicBlock;
  readonly encoder2: UnetrBasicBlock;
  readonly encoder3: UnetrBasicBlock;
  readonly encoder4: UnetrBasicBlock;
  readonly encoder10: UnetrBasicBlock;
  readonly decoder5: UnetrUpBlock;
  readonly decoder4: UnetrUpBlock;
  readonly decoder3: UnetrUpBlock;
  readonly decoder2: UnetrUpBlock;
  readonly decoder1: UnetrUpBlock;
  readonly out: UnetOutBlock;

  constructor(options: SwinUNETROptions) {
    super();
    const op = 'SwinUNETR';
    const {
      inChannels, outChannels, patchSize = 2, depths = [2, 2, 2, 2], numHeads = [3, 6, 12, 24], windowSize = 7, qkvBias = true, mlpRatio = 4,
      featureSize = 24, normName = 'instance', dropRate = 0, attnDropRate = 0, dropoutPathRate = 0, normalize = true, patchNorm = false,
      downsample = 'merging', useV2 = false, backend,
    } = options;
    checkSpatialDims(op, options.spatialDims);
    if ((options.useCheckpoint ?? false) !== false) throw new Error(`${op}: useCheckpoint is not supported (false only)`);
    if (downsample !== 'merging' && downsample !== 'mergingv2') throw new Error(`${op}: downsample must be 'merging' or 'mergingv2', got '${String(downsample)}'`);
    checkPositiveIntegers(op, { inChannels, outChannels, featureSize, patchSize });
    for (const [name, rate] of [['dropRate', dropRate], ['attnDropRate', attnDropRate], ['dropoutPathRate', dropoutPathRate]] as const) checkRate(op, name, rate);
    if (featureSize % 12 !== 0) throw new Error(`${op}: featureSize should be divisible by 12, got ${featureSize}`);
    if (depths.length !== 4 || numHeads.length !== 4) {
      throw new Error(`${op}: depths and numHeads need 4 entries (one per stage), got [${depths.join(', ')}] and [${numHeads.join(', ')}]`);
    }
    if (depths.some((v) => !Number.isInteger(v) || v < 0)) throw new Error(`${op}: depths must be non-negative integers, got [${depths.join(', ')}]`);
    numHeads.forEach((heads, i) => {
      if (!Number.isInteger(heads) || heads < 1 || (featureSize * 2 ** i) % heads !== 0) {
        throw new Error(`${op}: stage ${i + 1} has ${featureSize * 2 ** i} channels, not divisible by numHeads[${i}] = ${heads}`);
      }
    });
    if (!(mlpRatio > 0) || Math.floor(featureSize * mlpRatio) < 1) throw new Error(`${op}: mlpRatio must be positive, got ${mlpRatio}`);
    const window = triple(windowSize, `${op} windowSize`);
    if (window.some((w) => w < 1)) throw new Error(`${op}: windowSize must be positive, got ${formatShape(window)}`);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.patchSize = patchSize;
    this.normalize = normalize;
    const seed = options.seed ?? nextSeed();
    this.swinViT = new SwinTransformer({
      inChannels, embedDim: featureSize, windowSize: window, patchSize: [patchSize, patchSize, patchSize], depths, numHeads, mlpRatio, qkvBias,
      dropRate, attnDropRate, dropPathRate: dropoutPathRate, patchNorm, downsample, useV2, seed: deriveSeed(seed, 'swinViT'), backend,
    });
    const ctx: BlockContext = { norm: normName, act: 'leakyrelu', dropout: null, weightInit: 'default', seed, backend };
    const f = featureSize;
    const encoder = (name: string, from: number, to: number) => this.registerModule(name, new UnetrBasicBlock(from, to, 3, 1, true, name, ctx));
    this.encoder1 = encoder('encoder1', inChannels, f);
    this.encoder2 = encoder('encoder2', f, f);
    this.encoder3 = encoder('encoder3', 2 * f, 2 * f);
    this.encoder4 = encoder('encoder4', 4 * f, 4 * f);
    this.encoder10 = encoder('encoder10', 16 * f, 16 * f);
    const decoder = (name: string, from: number, to: number) => this.registerModule(name, new UnetrUpBlock(from, to, 3, 2, true, name, ctx));
    this.decoder5 = decoder('decoder5', 16 * f, 8 * f);
    this.decoder4 = decoder('decoder4', 8 * f, 4 * f);
    this.decoder3 = decoder('decoder3', 4 * f, 2 * f);
    this.decoder2 = decoder('decoder2', 2 * f, f);
    this.decoder1 = decoder('decoder1', f, f);
    this.out = this.registerModule('out', new UnetOutBlock(f, outChannels, 'out', ctx));
  }

  forward(x: Tensor): Tensor {
    const op = 'SwinUNETR';
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) throw new Error(`${op}: input must be [N, ${this.inChannels}, D, H, W] (inChannels), got ${formatShape(x.shape)}`);
    const multiple = this.patchSize ** 5;
    const wrong = [2, 3, 4].filter((axis) => x.shape[axis] % multiple !== 0);
    if (wrong.length > 0) {
      throw new Error(`${op}: spatial dimensions [${wrong.join(', ')}] of input image (spatial shape: ${formatShape(x.shape.slice(2))}) must be divisible by ${this.patchSize}**5.`);
    }
    return tidy(() => {
      const hidden = this.swinViT.forward(x, this.normalize);
      const enc0 = this.encoder1.forward(x);
      const enc1 = this.encoder2.forward(hidden[0]);
      const enc2 = this.encoder3.forward(hidden[1]);
      const enc3 = this.encoder4.forward(hidden[2]);
      const dec4 = this.encoder10.forward(hidden[4]);
      const dec3 = this.decoder5.forward(dec4, hidden[3]);
      const dec2 = this.decoder4.forward(dec3, enc3);
      const dec1 = this.decoder3.forward(dec2, enc2);
      const dec0 = this.decoder2.forward(dec1, enc1);
      return this.out.forward(this.decoder1.forward(dec0, enc0));
    });
  }
}
