import type { Backend } from '../kernels/backend.js';
import { attentionWeights } from '../autograd/attention.js';
import { add, concat, expand, flatten, matmul, permute, reshape, slice, squeeze, transpose } from '../autograd/ops.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { GELU, Identity, Tanh } from './activations.js';
import { truncNormal_ } from './init.js';
import { Conv3d, Dropout, LayerNorm, Linear, triple, type IntOrTriple } from './layers.js';
import { Layer, Module, ModuleList, Parameter, Sequential, deriveSeed, nextSeed } from './module.js';
import { checkDropoutRate, checkHeads, checkPositiveIntegers, checkSpatialDims } from './transformer-checks.js';

/**
 * MONAI's ViT (monai/networks/nets/vit.py) and its blocks (monai/networks/blocks: PatchEmbeddingBlock, SABlock,
 * CrossAttentionBlock, MLPBlock, TransformerBlock) for 3-D inputs, with MONAI's module tree, parameter names and
 * initialisation: PyTorch's default init everywhere except the position embeddings (trunc_normal_(std 0.02) when
 * learnable, fixed sin-cos when 'sincos') and the class token (zeros).
 */

/**
 * Attention over [B, N, heads·d] queries and [B, S, heads·d] keys and values: split into heads, softmax(q·kᵀ/√d)
 * (dropped by `dropWeights`), heads merged back to [B, N, heads·d].
 */
function headsAttention(q: Tensor, k: Tensor, v: Tensor, numHeads: number, dropWeights: Dropout): Tensor {
  const [b, n, inner] = q.shape;
  const split = (t: Tensor): Tensor => permute(reshape(t, [b, t.shape[1], numHeads, inner / numHeads]), [0, 2, 1, 3]);
  const weights = dropWeights.forward(attentionWeights(split(q), split(k)));
  return reshape(permute(matmul(weights, split(v)), [0, 2, 1, 3]), [b, n, inner]);
}

function checkTokens(op: string, x: Tensor, hiddenSize: number): void {
  if (x.rank !== 3 || x.shape[2] !== hiddenSize) throw new Error(`${op}: input must be [B, N, ${hiddenSize}] (batch, tokens, hiddenSize), got ${formatShape(x.shape)}`);
}

export interface AttentionBlockOptions {
  dropoutRate?: number;
  /** bias of the q/k/v projection (default false, as MONAI) */
  qkvBias?: boolean;
  seed?: number;
  backend?: Backend;
}

/** SABlock's and CrossAttentionBlock's options, checked, with their defaults (the seed drawn when not given). */
function checkAttentionOptions(op: string, hiddenSize: number, numHeads: number, options: AttentionBlockOptions):
  { dropoutRate: number; qkvBias: boolean; backend: Backend | undefined; seed: number } {
  const { dropoutRate = 0, qkvBias = false, backend } = options;
  checkDropoutRate(op, dropoutRate);
  checkHeads(op, hiddenSize, numHeads);
  return { dropoutRate, qkvBias, backend, seed: options.seed ?? nextSeed() };
}

/**
 * MONAI's SABlock (defaults: combined qkv Linear without bias, out_proj with bias, no causal mask, no relative
 * position embedding): x → qkv → heads (features ordered (q|k|v, head, d)) → attention → out_proj → drop_output.
 */
export class SABlock extends Layer {
  readonly outProj: Linear;
  readonly qkv: Linear;
  readonly dropOutput: Dropout;
  readonly dropWeights: Dropout;

  constructor(readonly hiddenSize: number, readonly numHeads: number, options: AttentionBlockOptions = {}) {
    super();
    const { dropoutRate, qkvBias, backend, seed } = checkAttentionOptions('SABlock', hiddenSize, numHeads, options);
    this.outProj = this.registerModule('out_proj', new Linear(hiddenSize, hiddenSize, { seed: deriveSeed(seed, 'out_proj'), backend }));
    this.qkv = new Linear(hiddenSize, 3 * hiddenSize, { bias: qkvBias, seed: deriveSeed(seed, 'qkv'), backend });
    const identity = new Identity();
    this.registerModule('to_q', identity);
    this.registerModule('to_k', identity);
    this.registerModule('to_v', identity);
    this.dropOutput = this.registerModule('drop_output', new Dropout(dropoutRate));
    this.dropWeights = this.registerModule('drop_weights', new Dropout(dropoutRate));
  }

  forward(x: Tensor): Tensor {
    checkTokens('SABlock', x, this.hiddenSize);
    return tidy(() => {
      const qkv = this.qkv.forward(x);
      const [q, k, v] = [0, 1, 2].map((i) => slice(qkv, 2, i * this.hiddenSize, (i + 1) * this.hiddenSize));
      return this.dropOutput.forward(this.outProj.forward(headsAttention(q, k, v, this.numHeads, this.dropWeights)));
    });
  }
}

/** MONAI's CrossAttentionBlock: to_q from x, to_k and to_v from the context (x itself without one), out_proj. */
export class CrossAttentionBlock extends Module {
  readonly outProj: Linear;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly dropOutput: Dropout;
  readonly dropWeights: Dropout;

  constructor(readonly hiddenSize: number, readonly numHeads: number, options: AttentionBlockOptions = {}) {
    super();
    const { dropoutRate, qkvBias, backend, seed } = checkAttentionOptions('CrossAttentionBlock', hiddenSize, numHeads, options);
    const linear = (name: string, bias: boolean) => this.registerModule(name, new Linear(hiddenSize, hiddenSize, { bias, seed: deriveSeed(seed, name), backend }));
    this.outProj = linear('out_proj', true);
    this.toQ = linear('to_q', qkvBias);
    this.toK = linear('to_k', qkvBias);
    this.toV = linear('to_v', qkvBias);
    this.dropOutput = this.registerModule('drop_output', new Dropout(dropoutRate));
    this.dropWeights = this.registerModule('drop_weights', new Dropout(dropoutRate));
  }

  forward(x: Tensor, context: Tensor | null = null): Tensor {
    checkTokens('CrossAttentionBlock', x, this.hiddenSize);
    const kv = context ?? x;
    checkTokens('CrossAttentionBlock (context)', kv, this.hiddenSize);
    return tidy(() => this.dropOutput.forward(this.outProj.forward(
      headsAttention(this.toQ.forward(x), this.toK.forward(kv), this.toV.forward(kv), this.numHeads, this.dropWeights))));
  }
}

/** MONAI's MLPBlock ('vit' dropout mode): linear1 → GELU (exact) → drop1 → linear2 → drop2; mlpDim 0 means hiddenSize. */
export class MLPBlock extends Layer {
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly fn: GELU;
  readonly drop1: Dropout;
  readonly drop2: Dropout;

  constructor(readonly hiddenSize: number, mlpDim: number, options: { dropoutRate?: number; seed?: number; backend?: Backend } = {}) {
    super();
    const { dropoutRate = 0, backend } = options;
    checkDropoutRate('MLPBlock', dropoutRate);
    const width = mlpDim || hiddenSize;
    const seed = options.seed ?? nextSeed();
    this.linear1 = new Linear(hiddenSize, width, { seed: deriveSeed(seed, 'linear1'), backend });
    this.linear2 = new Linear(width, hiddenSize, { seed: deriveSeed(seed, 'linear2'), backend });
    this.fn = new GELU();
    this.drop1 = new Dropout(dropoutRate);
    this.drop2 = new Dropout(dropoutRate);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => this.drop2.forward(this.linear2.forward(this.drop1.forward(this.fn.forward(this.linear1.forward(x))))));
  }
}

/**
 * MONAI's TransformerBlock: x + attn(norm1(x)), then + mlp(norm2(x)). MONAI builds norm_cross_attn and cross_attn
 * whether or not it uses them (with_cross_attention, default false): they are here too, so that the state dict is
 * MONAI's, and unused.
 */
export class TransformerBlock extends Layer {
  readonly mlp: MLPBlock;
  readonly norm1: LayerNorm;
  readonly attn: SABlock;
  readonly norm2: LayerNorm;
  readonly normCrossAttn: LayerNorm;
  readonly crossAttn: CrossAttentionBlock;

  constructor(hiddenSize: number, mlpDim: number, numHeads: number, options: AttentionBlockOptions = {}) {
    super();
    const { dropoutRate = 0, qkvBias = false, backend } = options;
    checkDropoutRate('TransformerBlock', dropoutRate);
    checkHeads('TransformerBlock', hiddenSize, numHeads);
    const seed = options.seed ?? nextSeed();
    this.mlp = new MLPBlock(hiddenSize, mlpDim, { dropoutRate, seed: deriveSeed(seed, 'mlp'), backend });
    this.norm1 = new LayerNorm(hiddenSize, { backend });
    this.attn = new SABlock(hiddenSize, numHeads, { dropoutRate, qkvBias, seed: deriveSeed(seed, 'attn'), backend });
    this.norm2 = new LayerNorm(hiddenSize, { backend });
    this.normCrossAttn = this.registerModule('norm_cross_attn', new LayerNorm(hiddenSize, { backend }));
    this.crossAttn = this.registerModule('cross_attn', new CrossAttentionBlock(hiddenSize, numHeads, { dropoutRate, qkvBias, seed: deriveSeed(seed, 'cross_attn'), backend }));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = add(x, this.attn.forward(this.norm1.forward(x)));
      return add(y, this.mlp.forward(this.norm2.forward(y)));
    });
  }
}

export type PositionEmbedding = 'none' | 'learnable' | 'sincos';

/**
 * MONAI's 3-D sin-cos position embedding (build_sincos_position_embedding, temperature 10 000) for a grid
 * [gh, gw, gd] of patches: per patch (row-major over the grid) the blocks sin(w·ω), cos(w·ω), sin(h·ω), cos(h·ω),
 * sin(d·ω), cos(d·ω), ω_k = 10000^(−k/(E/6)); computed in float64 (MONAI: float32).
 */
export function sincosPositionEmbedding3d(grid: readonly [number, number, number], embedDim: number): Float64Array {
  if (embedDim % 6 !== 0) throw new Error(`sincosPositionEmbedding3d: the embedding size ${embedDim} must be divisible by 6 for the 3-D sin-cos position embedding`);
  const [gh, gw, gd] = grid, posDim = embedDim / 6;
  const omega = Array.from({ length: posDim }, (_, k) => 1 / 10000 ** (k / posDim));
  const out = new Float64Array(gh * gw * gd * embedDim);
  let row = 0;
  for (let h = 0; h < gh; h++) for (let w = 0; w < gw; w++) for (let d = 0; d < gd; d++, row++) {
    const base = row * embedDim;
    [w, h, d].forEach((pos, axis) => {
      for (let k = 0; k < posDim; k++) {
        out[base + 2 * axis * posDim + k] = Math.sin(pos * omega[k]);
        out[base + (2 * axis + 1) * posDim + k] = Math.cos(pos * omega[k]);
      }
    });
  }
  return out;
}

export interface PatchEmbeddingOptions {
  /** 'conv' only (MONAI's default; 'perceptron' is not supported) */
  projType?: 'conv';
  posEmbedType?: PositionEmbedding;
  dropoutRate?: number;
  seed?: number;
  backend?: Backend;
}

/**
 * MONAI's PatchEmbeddingBlock (proj_type 'conv'): a Conv3d with kernel = stride = patch size (patch_embeddings),
 * flattened to [B, patches, hiddenSize], plus position_embeddings [1, patches, hiddenSize] (zeros for 'none',
 * trunc_normal_(std 0.02, ±2) for 'learnable', fixed sin-cos not requiring grad for 'sincos'), then dropout.
 */
export class PatchEmbeddingBlock extends Layer {
  readonly imgSize: readonly [number, number, number];
  readonly patchSize: readonly [number, number, number];
  readonly nPatches: number;
  readonly patchEmbeddings: Conv3d;
  readonly positionEmbeddings: Parameter;
  readonly dropout: Dropout;

  constructor(readonly inChannels: number, imgSize: IntOrTriple, patchSize: IntOrTriple, readonly hiddenSize: number, numHeads: number, options: PatchEmbeddingOptions = {}) {
    super();
    const op = 'PatchEmbeddingBlock';
    const { projType = 'conv', posEmbedType = 'learnable', dropoutRate = 0, backend } = options;
    checkDropoutRate(op, dropoutRate);
    checkHeads(op, hiddenSize, numHeads);
    if (projType !== 'conv') throw new Error(`${op}: projType '${String(projType)}' is not supported (only 'conv')`);
    if (!['none', 'learnable', 'sincos'].includes(posEmbedType)) throw new Error(`${op}: posEmbedType must be 'none', 'learnable' or 'sincos', got '${String(posEmbedType)}'`);
    this.imgSize = triple(imgSize, `${op} imgSize`);
    this.patchSize = triple(patchSize, `${op} patchSize`);
    if (this.patchSize.some((p, i) => p < 1 || p > this.imgSize[i])) {
      throw new Error(`${op}: patchSize ${formatShape(this.patchSize)} must be positive and no larger than imgSize ${formatShape(this.imgSize)}`);
    }
    const grid = this.imgSize.map((m, i) => Math.floor(m / this.patchSize[i])) as [number, number, number];
    this.nPatches = grid[0] * grid[1] * grid[2];
    const seed = options.seed ?? nextSeed();
    this.patchEmbeddings = this.registerModule('patch_embeddings', new Conv3d(inChannels, hiddenSize, this.patchSize, { stride: this.patchSize, seed: deriveSeed(seed, 'patch_embeddings'), backend }));
    const shape = [1, this.nPatches, hiddenSize];
    this.positionEmbeddings = this.registerParameter('position_embeddings', posEmbedType === 'sincos'
      ? Parameter.fromHost(sincosPositionEmbedding3d(grid, hiddenSize), shape, { backend, requiresGrad: false })
      : Parameter.full(shape, 0, { backend }));
    if (posEmbedType === 'learnable') truncNormal_(this.positionEmbeddings, { mean: 0, std: 0.02, a: -2, b: 2, seed: deriveSeed(seed, 'position_embeddings') });
    this.dropout = new Dropout(dropoutRate);
  }

  forward(x: Tensor): Tensor {
    const [d, h, w] = this.imgSize;
    if (x.rank !== 5 || x.shape[1] !== this.inChannels || x.shape[2] !== d || x.shape[3] !== h || x.shape[4] !== w) {
      throw new Error(`PatchEmbeddingBlock: input must be [N, ${this.inChannels}, ${d}, ${h}, ${w}] (inChannels, imgSize), got ${formatShape(x.shape)}`);
    }
    return tidy(() => this.dropout.forward(add(transpose(flatten(this.patchEmbeddings.forward(x), 2), -1, -2), this.positionEmbeddings)));
  }
}

export interface ViTOptions {
  inChannels: number;
  imgSize: IntOrTriple;
  patchSize: IntOrTriple;
  /** default 768 */
  hiddenSize?: number;
  /** default 3072 */
  mlpDim?: number;
  /** default 12 */
  numLayers?: number;
  /** default 12 */
  numHeads?: number;
  projType?: 'conv';
  /** default 'learnable' */
  posEmbedType?: PositionEmbedding;
  /** a class token and a classification head on it (default false) */
  classification?: boolean;
  /** default 2 */
  numClasses?: number;
  dropoutRate?: number;
  /** MONAI's spatial_dims: 3 only */
  spatialDims?: 3;
  /** the head's activation: 'Tanh' (default, classification_head = Sequential(Linear, Tanh)) or null (a bare Linear) */
  postActivation?: 'Tanh' | null;
  qkvBias?: boolean;
  seed?: number;
  backend?: Backend;
}

/**
 * MONAI's ViT: patch_embedding, blocks.0…, norm, with classification a cls_token [1, 1, hiddenSize] (zeros) in front
 * of the tokens and classification_head on it. forward(x [N, C, D, H, W]) returns [x, hiddenStatesOut] as MONAI: x
 * is norm(tokens) [N, patches (+1), hiddenSize], or the head's [N, numClasses] with classification; hiddenStatesOut
 * holds every block's output (before the norm).
 */
export class ViT extends Module {
  readonly patchEmbedding: PatchEmbeddingBlock;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly norm: LayerNorm;
  readonly clsToken: Parameter | null;
  readonly classificationHead: Layer | null;
  readonly classification: boolean;

  constructor(options: ViTOptions) {
    super();
    const { inChannels, imgSize, patchSize, hiddenSize = 768, mlpDim = 3072, numLayers = 12, numHeads = 12, dropoutRate = 0, qkvBias = false, backend } = options;
    checkSpatialDims('ViT', options.spatialDims);
    checkDropoutRate('ViT', dropoutRate);
    checkHeads('ViT', hiddenSize, numHeads);
    checkPositiveIntegers('ViT', { numLayers });
    const seed = options.seed ?? nextSeed();
    this.classification = options.classification ?? false;
    this.patchEmbedding = this.registerModule('patch_embedding', new PatchEmbeddingBlock(inChannels, imgSize, patchSize, hiddenSize, numHeads, {
      projType: options.projType, posEmbedType: options.posEmbedType, dropoutRate, seed: deriveSeed(seed, 'patch_embedding'), backend,
    }));
    this.blocks = new ModuleList(Array.from({ length: numLayers }, (_, i) =>
      new TransformerBlock(hiddenSize, mlpDim, numHeads, { dropoutRate, qkvBias, seed: deriveSeed(seed, `blocks.${i}`), backend })));
    this.norm = new LayerNorm(hiddenSize, { backend });
    this.clsToken = null;
    this.classificationHead = null;
    if (this.classification) {
      this.clsToken = this.registerParameter('cls_token', Parameter.full([1, 1, hiddenSize], 0, { backend }));
      const head = new Linear(hiddenSize, options.numClasses ?? 2, { seed: deriveSeed(seed, 'classification_head'), backend });
      const postActivation = options.postActivation === undefined ? 'Tanh' : options.postActivation;
      this.classificationHead = this.registerModule('classification_head', postActivation === 'Tanh' ? new Sequential(head, new Tanh()) : head);
    }
  }

  forward(x: Tensor): [Tensor, Tensor[]] {
    return tidy(() => {
      let tokens = this.patchEmbedding.forward(x);
      if (this.clsToken) tokens = concat([expand(this.clsToken, [tokens.shape[0], 1, tokens.shape[2]]), tokens], 1);
      const hiddenStatesOut: Tensor[] = [];
      for (const block of this.blocks) {
        tokens = block.forward(tokens);
        hiddenStatesOut.push(tokens);
      }
      const normed = this.norm.forward(tokens);
      const out = this.classificationHead ? this.classificationHead.forward(squeeze(slice(normed, 1, 0, 1), 1)) : normed;
      return [out, hiddenStatesOut];
    });
  }
}
