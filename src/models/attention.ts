import type { Backend } from '../kernels/backend.js';
import { additiveMask, attentionWeights } from '../autograd/attention.js';
import { add, matmul, mean, permute, reshape, slice, squeeze, transpose, unsqueeze } from '../autograd/ops.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { xavierUniform_, zeros_ } from './init.js';
import { Dropout, Linear, type LinearOptions } from './layers.js';
import { Module, Parameter, deriveSeed, nextSeed, type DropoutState } from './module.js';

/** nn.MultiheadAttention's out_proj: a Linear under PyTorch's class name (its bias zeroed by the attention's init). */
export class NonDynamicallyQuantizableLinear extends Linear {
  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) { super(inFeatures, outFeatures, options); }
}

export interface MultiheadAttentionOptions {
  /** dropout probability on the attention weights in training (default 0) */
  dropout?: number;
  /** biases of the input and output projections (default true) */
  bias?: boolean;
  /** PyTorch's add_bias_kv: only false (the default) is supported */
  addBiasKv?: boolean;
  /** PyTorch's add_zero_attn: only false (the default) is supported */
  addZeroAttn?: boolean;
  /** the key's and value's feature sizes (default embedDim); either differing gives separate q/k/v projection weights */
  kdim?: number;
  vdim?: number;
  /** inputs and output as [N, L, E] (default false: [L, N, E], PyTorch's default) */
  batchFirst?: boolean;
  seed?: number;
  backend?: Backend;
}

export interface MultiheadAttentionForwardOptions {
  /**
   * [N, S] ([S] unbatched): an int32 mask whose nonzero entries mark keys to ignore (PyTorch's True), or a float mask
   * added to the scores of every query and head
   */
  keyPaddingMask?: Tensor | null;
  /** return the attention weights (default true, as PyTorch) */
  needWeights?: boolean;
  /**
   * [L, S] or [N·numHeads, L, S] ([numHeads, L, S] unbatched): an int32 mask whose nonzero entries forbid attending
   * (PyTorch's True), or a float mask added to the scores
   */
  attnMask?: Tensor | null;
  /** average the returned weights over the heads (default true): [N, L, S], else [N, numHeads, L, S] */
  averageAttnWeights?: boolean;
  /**
   * PyTorch's hint that attnMask is the causal mask (it needs attnMask): without needWeights and keyPaddingMask the
   * causal mask is applied instead of attnMask, otherwise attnMask is
   */
  isCausal?: boolean;
}

/**
 * nn.MultiheadAttention: the queries, keys and values projected (in_proj_weight [3E, E] and in_proj_bias [3E], or
 * q_proj_weight, k_proj_weight, v_proj_weight when kdim or vdim differ from E), split into numHeads heads,
 * attention per head (softmax(q·kᵀ/√headDim + masks), dropout in training), heads concatenated and projected by
 * out_proj. PyTorch's init: xavier_uniform_ on the projection weights, zero biases, out_proj's weight as Linear's.
 * forward returns [output, weights | null]; see MultiheadAttentionForwardOptions for the masks.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly inProjWeight: Parameter | null;
  readonly qProjWeight: Parameter | null;
  readonly kProjWeight: Parameter | null;
  readonly vProjWeight: Parameter | null;
  readonly inProjBias: Parameter | null;
  readonly outProj: NonDynamicallyQuantizableLinear;
  /** the weights' dropout; not a child module, as in PyTorch (where it is a float), but seeded as the dropout layers */
  readonly #attnDropout: Dropout;

  constructor(readonly embedDim: number, readonly numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    const name = 'MultiheadAttention';
    for (const [what, v] of [['embedDim', embedDim], ['numHeads', numHeads], ['kdim', options.kdim ?? embedDim], ['vdim', options.vdim ?? embedDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: ${what} must be a positive integer, got ${v}`);
    }
    if (embedDim % numHeads !== 0) throw new Error(`${name}: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    if (options.addBiasKv) throw new Error(`${name}: addBiasKv is not supported (only PyTorch's default add_bias_kv=False)`);
    if (options.addZeroAttn) throw new Error(`${name}: addZeroAttn is not supported (only PyTorch's default add_zero_attn=False)`);
    this.dropout = options.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new Error(`${name}: dropout must be in [0, 1], got ${this.dropout}`);
    this.headDim = embedDim / numHeads;
    this.kdim = options.kdim ?? embedDim;
    this.vdim = options.vdim ?? embedDim;
    this.batchFirst = options.batchFirst ?? false;
    const seed = options.seed ?? nextSeed();
    const backend = options.backend;
    const xavier = (shape: number[], key: string): Parameter => {
      const p = Parameter.full(shape, 0, { backend });
      xavierUniform_(p, 1, { seed: deriveSeed(seed, key) });
      return p;
    };
    const same = this.kdim === embedDim && this.vdim === embedDim;
    if (same) {
      this.inProjWeight = this.registerParameter('in_proj_weight', xavier([3 * embedDim, embedDim], 'in_proj_weight'));
      this.qProjWeight = this.registerParameter('q_proj_weight', null);
      this.kProjWeight = this.registerParameter('k_proj_weight', null);
      this.vProjWeight = this.registerParameter('v_proj_weight', null);
    } else {
      this.qProjWeight = this.registerParameter('q_proj_weight', xavier([embedDim, embedDim], 'q_proj_weight'));
      this.kProjWeight = this.registerParameter('k_proj_weight', xavier([embedDim, this.kdim], 'k_proj_weight'));
      this.vProjWeight = this.registerParameter('v_proj_weight', xavier([embedDim, this.vdim], 'v_proj_weight'));
      this.inProjWeight = this.registerParameter('in_proj_weight', null);
    }
    const bias = options.bias ?? true;
    this.inProjBias = this.registerParameter('in_proj_bias', bias ? Parameter.full([3 * embedDim], 0, { backend }) : null);
    this.outProj = this.registerModule('out_proj', new NonDynamicallyQuantizableLinear(embedDim, embedDim, { bias, seed: deriveSeed(seed, 'out_proj'), backend }));
    if (this.outProj.bias) zeros_(this.outProj.bias);
    this.#attnDropout = new Dropout(this.dropout);
  }

  override train(mode = true): this {
    super.train(mode);
    this.#attnDropout.train(mode);
    return this;
  }

  setDropoutSeed(seed: number): void { this.#attnDropout.setDropoutSeed(seed); }
  getDropoutState(): DropoutState { return this.#attnDropout.getDropoutState(); }
  setDropoutState(state: DropoutState): void { this.#attnDropout.setDropoutState(state); }

  /** the q, k and v projection weights ([E, E], [E, kdim], [E, vdim]) */
  private projectionWeights(): [Tensor, Tensor, Tensor] {
    const w = this.inProjWeight, e = this.embedDim;
    if (w) return [slice(w, 0, 0, e), slice(w, 0, e, 2 * e), slice(w, 0, 2 * e, 3 * e)];
    return [this.qProjWeight!, this.kProjWeight!, this.vProjWeight!];
  }

  forward(query: Tensor, key: Tensor, value: Tensor, options: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const { keyPaddingMask = null, needWeights = true, attnMask = null, averageAttnWeights = true, isCausal = false } = options;
    const name = 'MultiheadAttention';
    const batched = query.rank === 3;
    const layout = this.batchFirst ? '[N, L, E]' : '[L, N, E]';
    if (query.rank !== 2 && query.rank !== 3) throw new Error(`${name}: query must be ${layout} or unbatched [L, E], got ${formatShape(query.shape)}`);
    if (key.rank !== query.rank || value.rank !== query.rank) {
      throw new Error(`${name}: query ${formatShape(query.shape)}, key ${formatShape(key.shape)} and value ${formatShape(value.shape)} must have the same rank`);
    }
    for (const [what, t, size] of [['query', query, this.embedDim], ['key', key, this.kdim], ['value', value, this.vdim]] as const) {
      if (t.shape[t.rank - 1] !== size) throw new Error(`${name}: ${what} ${formatShape(t.shape)} must end in ${what === 'query' ? 'embedDim' : what === 'key' ? 'kdim' : 'vdim'} ${size}`);
    }
    if (isCausal && !attnMask) throw new Error(`${name}: isCausal is a hint that needs attnMask (the causal mask, e.g. generateSquareSubsequentMask(L)), as in PyTorch`);
    return tidy(() => {
      // internally [N, L, E]
      const toBatchFirst = (t: Tensor): Tensor => (!batched ? unsqueeze(t, 0) : this.batchFirst ? t : transpose(t, 0, 1));
      const [q, k, v] = [toBatchFirst(query), toBatchFirst(key), toBatchFirst(value)];
      const [n, l, s] = [q.shape[0], q.shape[1], k.shape[1]];
      if (k.shape[0] !== n || v.shape[0] !== n || v.shape[1] !== s) {
        throw new Error(`${name}: key ${formatShape(key.shape)} and value ${formatShape(value.shape)} must match each other and query ${formatShape(query.shape)}'s batch (${layout})`);
      }
      const h = this.numHeads, d = this.headDim, e = this.embedDim;
      const weights = this.projectionWeights();
      const heads = (x: Tensor, i: number): Tensor => {
        let y = matmul(x, transpose(weights[i]));
        if (this.inProjBias) y = add(y, slice(this.inProjBias, 0, i * e, (i + 1) * e));
        return permute(reshape(y, [n, x.shape[1], h, d]), [0, 2, 1, 3]);
      };
      const causal = isCausal && !keyPaddingMask && !needWeights;
      let mask: Tensor | null = null;
      if (attnMask && !causal) {
        const want = attnMask.rank === 2 ? [l, s] : [batched ? n * h : h, l, s];
        if ((attnMask.rank !== 2 && attnMask.rank !== 3) || attnMask.shape.some((x, i) => x !== want[i])) {
          throw new Error(`${name}: attnMask must be [L, S] = [${l}, ${s}] or [${batched ? 'N·numHeads' : 'numHeads'}, L, S] = [${[batched ? n * h : h, l, s].join(', ')}], got ${formatShape(attnMask.shape)}`);
        }
        mask = reshape(additiveMask(attnMask, q, true, name, 'attnMask'), attnMask.rank === 2 ? [1, 1, l, s] : [n, h, l, s]);
      }
      if (keyPaddingMask) {
        const want = batched ? [n, s] : [s];
        if (keyPaddingMask.rank !== want.length || keyPaddingMask.shape.some((x, i) => x !== want[i])) {
          throw new Error(`${name}: keyPaddingMask must be ${batched ? `[N, S] = [${n}, ${s}]` : `[S] = [${s}]`}, got ${formatShape(keyPaddingMask.shape)}`);
        }
        const padding = reshape(additiveMask(keyPaddingMask, q, true, name, 'keyPaddingMask'), [n, 1, 1, s]);
        mask = mask ? add(mask, padding) : padding;
      }
      const attention = this.#attnDropout.forward(attentionWeights(heads(q, 0), heads(k, 1), { attnMask: mask, isCausal: causal }, name, !needWeights));
      const merged = reshape(permute(matmul(attention, heads(v, 2)), [0, 2, 1, 3]), [n, l, e]);
      const y = this.outProj.forward(merged);
      const output = !batched ? squeeze(y, 0) : this.batchFirst ? y : transpose(y, 0, 1);
      if (!needWeights) return [output, null];
      const w = averageAttnWeights ? mean(attention, 1) : attention;
      return [output, batched ? w : squeeze(w, 0)];
    });
  }
}
