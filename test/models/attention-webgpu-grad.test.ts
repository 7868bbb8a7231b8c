import { describe, it } from 'vitest';
import { causalMask, scaledDotProductAttention } from '../../src/autograd/attention.js';
import { MultiheadAttention, TransformerEncoderLayer, UNETR, ViT } from '../../src/models/index.js';
import { tidy } from '../../src/tensor/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/** MONAI registers a cross-attention block in every TransformerBlock, used only with with_cross_attention */
const crossAttention = { unused: (name: string) => /\.(cross_attn|norm_cross_attn)\./.test(name) };

/**
 * The attention pieces' gradients on WebGPU against the cpu backend (tiny configurations, the same seed giving the
 * same weights on both, no dropout): forward, then backward of Σ r ⊙ output, every parameter's and input's gradient
 * compared within float32 rounding (the forward in a tidy where it returns more than the output: the mask, the attention
 * weights and the hidden states are freed).
 */

describe('attention, transformer, ViT and UNETR gradients on WebGPU', () => {
  it('scaledDotProductAttention (causal, L ≠ S, value width ≠ query width): the output and the gradients of query, key and value', async () => {
    await expectSameOnBoth(() => ({ module: null, forward: ([q, k, v]) => scaledDotProductAttention(q, k, v, { isCausal: true }) }),
      [[2, 2, 3, 4], [2, 2, 5, 4], [2, 2, 5, 3]]);
  });

  it('MultiheadAttention (separate q/k/v projections, a float mask): the output and every gradient', async () => {
    await expectSameOnBoth((backend) => {
      const mha = new MultiheadAttention(4, 2, { kdim: 3, vdim: 5, seed: 5, backend });
      return { module: mha, forward: ([q, k, v]) => tidy(() => mha.forward(q, k, v, { attnMask: causalMask(3, 5, { backend }) })[0]) };
    }, [[3, 2, 4], [5, 2, 3], [5, 2, 5]]);
  });

  it.each([false, true])('TransformerEncoderLayer (gelu, normFirst %s): the output and every gradient', async (normFirst) => {
    await expectSameOnBoth((backend) => singleInput(new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, activation: 'gelu', normFirst, seed: 5, backend })),
      [[3, 2, 4]]);
  });

  it.each([false, true])("MONAI's ViT (classification %s): the output and every gradient", async (classification) => {
    await expectSameOnBoth((backend) => {
      const vit = new ViT({ inChannels: 2, imgSize: [4, 4, 8], patchSize: 2, hiddenSize: 4, mlpDim: 6, numLayers: 2, numHeads: 2, classification, qkvBias: true, seed: 5, backend });
      return { module: vit, forward: ([x]) => tidy(() => vit.forward(x)[0]) };
    }, [[2, 2, 4, 4, 8]], crossAttention);
  });

  it("MONAI's UNETR (one patch: the attention pieces are covered by the ViT's case): the output and every gradient", async () => {
    await expectSameOnBoth((backend) => singleInput(new UNETR({
      inChannels: 2, outChannels: 2, imgSize: 16, featureSize: 2, hiddenSize: 4, mlpDim: 6, numHeads: 2, seed: 5, backend,
    })), [[1, 2, 16, 16, 16]], crossAttention);
  });
});
