import type { Backend, DType } from '../kernels/backend.js';
import { causalMask } from '../autograd/attention.js';
import { gelu } from '../autograd/nn.js';
import { add, relu } from '../autograd/ops.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { MultiheadAttention } from './attention.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { Layer, ModuleList, deriveSeed, nextSeed } from './module.js';

/** nn.Transformer.generate_square_subsequent_mask: the float causal mask [size, size] (0 on and below the diagonal, −∞ above). */
export function generateSquareSubsequentMask(size: number, options: { dtype?: DType; backend?: Backend } = {}): Tensor {
  if (!Number.isInteger(size) || size < 0) throw new Error(`generateSquareSubsequentMask: size must be an integer ≥ 0, got ${size}`);
  return causalMask(size, size, options);
}

export type TransformerActivation = 'relu' | 'gelu';

export interface TransformerEncoderLayerOptions {
  /** the feed-forward block's width (default 2048) */
  dimFeedforward?: number;
  /** dropout probability everywhere in the layer (default 0.1) */
  dropout?: number;
  /** the feed-forward activation (default 'relu'; 'gelu' is the exact erf form) */
  activation?: TransformerActivation;
  layerNormEps?: number;
  /** inputs as [N, S, E] (default false: [S, N, E]) */
  batchFirst?: boolean;
  /** pre-norm: x + block(norm(x)) (default false: post-norm, norm(x + block(x))) */
  normFirst?: boolean;
  /** biases of the linear layers and the layer norms (default true) */
  bias?: boolean;
  seed?: number;
  backend?: Backend;
}

export interface TransformerEncoderForwardOptions {
  /** MultiheadAttention's attnMask ([S, S] or [N·nhead, S, S]; int32 nonzero: forbidden; float: added) */
  srcMask?: Tensor | null;
  /** MultiheadAttention's keyPaddingMask ([N, S]; int32 nonzero: ignored key; float: added) */
  srcKeyPaddingMask?: Tensor | null;
  /** PyTorch's hint that srcMask is the causal mask (see MultiheadAttentionForwardOptions.isCausal) */
  isCausal?: boolean;
}

/**
 * nn.TransformerEncoderLayer: self-attention (self_attn) and a feed-forward block (linear1 → activation → dropout →
 * linear2), each with a residual connection, dropout (dropout1, dropout2) and a layer norm (norm1, norm2), post-norm
 * by default or pre-norm with normFirst; PyTorch's names, defaults and initialisation. No fast path (fused kernel).
 */
export class TransformerEncoderLayer extends Layer {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly normFirst: boolean;
  /** the feed-forward activation's name */
  readonly activation: TransformerActivation;
  private readonly activationFn: (x: Tensor) => Tensor;
  private readonly options: TransformerEncoderLayerOptions;

  constructor(readonly dModel: number, readonly nhead: number, options: TransformerEncoderLayerOptions = {}) {
    super();
    const { dimFeedforward = 2048, dropout = 0.1, activation = 'relu', layerNormEps = 1e-5, bias = true, backend } = options;
    if (activation !== 'relu' && activation !== 'gelu') throw new Error(`TransformerEncoderLayer: activation must be 'relu' or 'gelu', got '${String(activation)}'`);
    if (!Number.isInteger(dimFeedforward) || dimFeedforward < 1) throw new Error(`TransformerEncoderLayer: dimFeedforward must be a positive integer, got ${dimFeedforward}`);
    this.options = { ...options };
    const seed = options.seed ?? nextSeed();
    this.selfAttn = this.registerModule('self_attn', new MultiheadAttention(dModel, nhead, { dropout, bias, batchFirst: options.batchFirst, seed: deriveSeed(seed, 'self_attn'), backend }));
    this.linear1 = new Linear(dModel, dimFeedforward, { bias, seed: deriveSeed(seed, 'linear1'), backend });
    this.dropout = new Dropout(dropout);
    this.linear2 = new Linear(dimFeedforward, dModel, { bias, seed: deriveSeed(seed, 'linear2'), backend });
    this.normFirst = options.normFirst ?? false;
    this.norm1 = new LayerNorm(dModel, { eps: layerNormEps, bias, backend });
    this.norm2 = new LayerNorm(dModel, { eps: layerNormEps, bias, backend });
    this.dropout1 = new Dropout(dropout);
    this.dropout2 = new Dropout(dropout);
    this.activation = activation;
    this.activationFn = activation === 'relu' ? relu : (x) => gelu(x);
  }

  /** A new layer with this one's options and a copy of its parameters (PyTorch's copy.deepcopy, as TransformerEncoder clones). */
  clone(): TransformerEncoderLayer {
    const copy = new TransformerEncoderLayer(this.dModel, this.nhead, { ...this.options, backend: this.backend });
    copy.loadStateDict(this.stateDict());
    copy.train(this.training);
    return copy;
  }

  forward(src: Tensor, options: TransformerEncoderForwardOptions = {}): Tensor {
    const selfAttention = (x: Tensor): Tensor => this.dropout1.forward(this.selfAttn.forward(x, x, x, {
      attnMask: options.srcMask, keyPaddingMask: options.srcKeyPaddingMask, needWeights: false, isCausal: options.isCausal,
    })[0]);
    const feedForward = (x: Tensor): Tensor => this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.activationFn(this.linear1.forward(x)))));
    return tidy(() => {
      if (this.normFirst) {
        const x = add(src, selfAttention(this.norm1.forward(src)));
        return add(x, feedForward(this.norm2.forward(x)));
      }
      const x = this.norm1.forward(add(src, selfAttention(src)));
      return this.norm2.forward(add(x, feedForward(x)));
    });
  }
}

/**
 * nn.TransformerEncoder: numLayers copies of `encoderLayer` (layers.0, layers.1, …: each a clone with the same
 * initial parameters, as PyTorch's deepcopy; `encoderLayer` itself is not part of the encoder) and an optional final
 * norm (`norm`).
 */
export class TransformerEncoder extends Layer {
  readonly layers: ModuleList<TransformerEncoderLayer>;
  readonly norm: LayerNorm | null;

  constructor(encoderLayer: TransformerEncoderLayer, readonly numLayers: number, options: { norm?: LayerNorm | null } = {}) {
    super();
    if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`TransformerEncoder: numLayers must be a positive integer, got ${numLayers}`);
    this.layers = new ModuleList(Array.from({ length: numLayers }, () => encoderLayer.clone()));
    this.norm = options.norm ?? null;
  }

  forward(src: Tensor, options: TransformerEncoderForwardOptions = {}): Tensor {
    return tidy(() => {
      let x = src;
      for (const layer of this.layers) x = layer.forward(x, options);
      return this.norm ? this.norm.forward(x) : x;
    });
  }
}
