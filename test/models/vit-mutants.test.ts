import { describe, expect, it } from 'vitest';
import { CpuBackend, type Backend } from '../../src/kernels/index.js';
import {
  CrossAttentionBlock, MLPBlock, PatchEmbeddingBlock, SABlock, TransformerBlock, ViT, type ViTOptions,
} from '../../src/models/index.js';
import { truncNormal_ } from '../../src/models/init.js';
import { deriveSeed, Parameter } from '../../src/models/module.js';
import { fromArray } from '../../src/tensor/index.js';
import { hostValues, mergeHeads, refAttention, refLinear, splitHeads } from '../helpers/attention-reference.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';
import { expectConvSeedsFromPaths, expectLinearSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/vit.ts found untested (stryker.config.mjs): every layer's seed derived from the
 * network's seed and its module path (and the learnable position embedding's), the whole module tree, the
 * cross-attention block's forward (MONAI builds it in every TransformerBlock; ViT never calls it), each block's own
 * option checks and defaults, each clause of the input checks.
 */

const t32 = (data: ArrayLike<number>, shape: number[], backend: Backend = cpu) => fromArray(data, shape, { dtype: 'float32', backend });
const tiny: ViTOptions = { inChannels: 1, imgSize: [2, 4, 4], patchSize: 2, hiddenSize: 6, mlpDim: 5, numLayers: 2, numHeads: 2, classification: true, seed: 9, backend: cpu };
const isScope = (m: unknown) => m instanceof PatchEmbeddingBlock || m instanceof TransformerBlock || m instanceof SABlock || m instanceof CrossAttentionBlock || m instanceof MLPBlock;

describe('ViT and its blocks (mutation tests)', () => {
  it('each Linear, the patch convolution and the learnable position embedding are seeded from the seed and their module path', async () => {
    // the head is seeded from 'classification_head' whether or not a Tanh follows it (then its path is classification_head.0)
    const net = new ViT({ ...tiny, postActivation: null }), withTanh = new ViT(tiny);
    // per block: mlp.linear1, mlp.linear2, attn.out_proj, attn.qkv, cross_attn.out_proj, to_q, to_k, to_v; the head
    expect(await expectLinearSeedsFromPaths(net, 9, isScope)).toBe(2 * 8 + 1);
    for (const key of ['weight', 'bias']) {
      expect(Array.from(await withTanh.getParameter(`classification_head.0.${key}`).toArray())).toEqual(Array.from(await net.getParameter(`classification_head.${key}`).toArray()));
    }
    withTanh.dispose();
    expect(await expectConvSeedsFromPaths(net, 9, isScope)).toBe(1);
    const pos = Parameter.full([1, 4, 6], 0, { backend: cpu });
    truncNormal_(pos, { mean: 0, std: 0.02, a: -2, b: 2, seed: deriveSeed(deriveSeed(9, 'patch_embedding'), 'position_embeddings') });
    expect(Array.from(await net.patchEmbedding.positionEmbeddings.toArray())).toEqual(Array.from(await pos.toArray()));
    pos.dispose();
    net.dispose();
  });

  it("has MONAI's whole module tree (names and types), with and without the classification head", () => {
    const tree = (net: ViT) => net.namedModules('', false).map(([name, m]) => `${name}:${m.typeName}`);
    const block = (i: number) => [
      `blocks.${i}:TransformerBlock`, `blocks.${i}.mlp:MLPBlock`, `blocks.${i}.mlp.linear1:Linear`, `blocks.${i}.mlp.linear2:Linear`,
      `blocks.${i}.mlp.fn:GELU`, `blocks.${i}.mlp.drop1:Dropout`, `blocks.${i}.mlp.drop2:Dropout`, `blocks.${i}.norm1:LayerNorm`,
      `blocks.${i}.attn:SABlock`, `blocks.${i}.attn.out_proj:Linear`, `blocks.${i}.attn.qkv:Linear`, `blocks.${i}.attn.to_q:Identity`,
      `blocks.${i}.attn.to_k:Identity`, `blocks.${i}.attn.to_v:Identity`, `blocks.${i}.attn.drop_output:Dropout`,
      `blocks.${i}.attn.drop_weights:Dropout`, `blocks.${i}.norm2:LayerNorm`, `blocks.${i}.norm_cross_attn:LayerNorm`,
      `blocks.${i}.cross_attn:CrossAttentionBlock`, `blocks.${i}.cross_attn.out_proj:Linear`, `blocks.${i}.cross_attn.to_q:Linear`,
      `blocks.${i}.cross_attn.to_k:Linear`, `blocks.${i}.cross_attn.to_v:Linear`, `blocks.${i}.cross_attn.drop_output:Dropout`,
      `blocks.${i}.cross_attn.drop_weights:Dropout`,
    ];
    const body = [
      ':ViT', 'patch_embedding:PatchEmbeddingBlock', 'patch_embedding.patch_embeddings:Conv3d', 'patch_embedding.dropout:Dropout',
      'blocks:ModuleList', ...block(0), ...block(1), 'norm:LayerNorm',
    ];
    const withHead = new ViT(tiny), without = new ViT({ ...tiny, classification: false });
    expect(tree(withHead)).toEqual([...body, 'classification_head:Sequential', 'classification_head.0:Linear', 'classification_head.1:Tanh']);
    expect(tree(without)).toEqual(body);
    expect([without.clsToken, without.classificationHead, without.classification]).toEqual([null, null, false]);
    withHead.dispose();
    without.dispose();
  });

  it('the head defaults to 2 classes with Tanh; the blocks default to no q/k/v bias, no dropout and mlpDim 0 = hiddenSize', async () => {
    const net = new ViT({ ...tiny, classification: true });
    expect(net.getParameter('classification_head.0.weight').shape).toEqual([2, 6]);
    const [y] = net.forward(t32(randomArray(64, 1, -1, 1), [2, 1, 2, 4, 4]));
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(await y.toArray()).every((v) => Math.abs(v) < 1)).toBe(true);
    y.dispose();
    net.dispose();
    const sa = new SABlock(4, 2, { backend: cpu }), cross = new CrossAttentionBlock(4, 2, { backend: cpu });
    const mlp = new MLPBlock(4, 0, { backend: cpu }), block = new TransformerBlock(4, 3, 2, { backend: cpu });
    expect([sa.qkv.bias, cross.toQ.bias, cross.toK.bias, cross.toV.bias, block.attn.qkv.bias, block.crossAttn.toK.bias]).toEqual([null, null, null, null, null, null]);
    expect(cross.outProj.bias).not.toBeNull();
    expect([sa.dropOutput.p, sa.dropWeights.p, cross.dropOutput.p, mlp.drop1.p, block.mlp.drop2.p]).toEqual([0, 0, 0, 0, 0]);
    expect([mlp.linear1.outFeatures, block.mlp.linear1.outFeatures]).toEqual([4, 3]);
    for (const m of [sa, cross, mlp, block]) m.dispose();
  });

  it('CrossAttentionBlock equals softmax(q·kᵀ/√d)·v with q from x and k, v from the context (x itself without one)', async () => {
    const e = 6, heads = 3, d = e / heads, b = 2, n = 3, s = 5;
    const block = new CrossAttentionBlock(e, heads, { qkvBias: true, seed: 4, backend: cpu }).eval();
    const x = randomArray(b * n * e, 2, -1, 1), ctx = randomArray(b * s * e, 3, -1, 1);
    const lin = async (l: CrossAttentionBlock['toQ'], v: ArrayLike<number>, rows: number) => refLinear(v, rows, await hostValues(l.weight), await hostValues(l.bias!), e, e);
    const ref = async (kv: ArrayLike<number>, len: number) => {
      const q = splitHeads(await lin(block.toQ, x, b * n), b, n, heads, d);
      const k = splitHeads(await lin(block.toK, kv, b * len), b, len, heads, d), v = splitHeads(await lin(block.toV, kv, b * len), b, len, heads, d);
      const { out } = refAttention(q, k, v, { b, h: heads, l: n, s: len, d, dv: d }, 1 / Math.sqrt(d));
      return lin(block.outProj, mergeHeads(out, b, n, heads, d), b * n);
    };
    const [xt, ct] = [t32(x, [b, n, e]), t32(ctx, [b, s, e])];
    const withContext = block.forward(xt, ct), self = block.forward(xt);
    expect(withContext.shape).toEqual([b, n, e]);
    expectClose(await withContext.toArray(), await ref(ctx, s), 1e-5, 1e-4, 'with a context');
    expectClose(await self.toArray(), await ref(x, n), 1e-5, 1e-4, 'without a context');
    [xt, ct, withContext, self].forEach((t) => t.dispose());
    block.dispose();
  });

  it('each block refuses bad options under its own name', () => {
    expect(() => new SABlock(6, 4)).toThrow(/^SABlock: hiddenSize 6 must be divisible by numHeads 4$/);
    expect(() => new SABlock(6, 2, { dropoutRate: -0.1 })).toThrow(/^SABlock: dropoutRate must be in \[0, 1\], got -0.1$/);
    expect(() => new CrossAttentionBlock(6, 4)).toThrow(/^CrossAttentionBlock: hiddenSize 6 must be divisible by numHeads 4$/);
    expect(() => new CrossAttentionBlock(6, 2, { dropoutRate: 2 })).toThrow(/^CrossAttentionBlock: dropoutRate must be in \[0, 1\], got 2$/);
    expect(() => new MLPBlock(6, 3, { dropoutRate: 2 })).toThrow(/^MLPBlock: dropoutRate must be in \[0, 1\], got 2$/);
    expect(() => new TransformerBlock(6, 3, 4)).toThrow(/^TransformerBlock: hiddenSize 6 must be divisible by numHeads 4$/);
    expect(() => new TransformerBlock(6, 3, 2, { dropoutRate: 2 })).toThrow(/^TransformerBlock: dropoutRate must be in \[0, 1\], got 2$/);
    expect(() => new PatchEmbeddingBlock(1, 4, 2, 6, 4)).toThrow(/^PatchEmbeddingBlock: hiddenSize 6 must be divisible by numHeads 4$/);
    expect(() => new PatchEmbeddingBlock(1, 4, 2, 6, 2, { dropoutRate: 2 })).toThrow(/^PatchEmbeddingBlock: dropoutRate must be in \[0, 1\], got 2$/);
    expect(() => new PatchEmbeddingBlock(1, 4, 2, 6, 2, { posEmbedType: 'fourier' as 'none' })).toThrow(/^PatchEmbeddingBlock: posEmbedType must be 'none', 'learnable' or 'sincos', got 'fourier'$/);
    expect(() => new PatchEmbeddingBlock(1, 4, [2, 0, 2], 6, 2)).toThrow(/^PatchEmbeddingBlock: patchSize \[2, 0, 2\] must be positive and no larger than imgSize \[4, 4, 4\]$/);
    expect(() => new PatchEmbeddingBlock(1, 4, [2, 2, 5], 6, 2)).toThrow(/^PatchEmbeddingBlock: patchSize \[2, 2, 5\] must be positive and no larger than imgSize \[4, 4, 4\]$/);
    expect(() => new ViT({ ...tiny, numLayers: 0 })).toThrow(/^ViT: numLayers must be a positive integer, got 0$/);
    expect(() => new ViT({ ...tiny, numHeads: 4 })).toThrow(/^ViT: hiddenSize 6 must be divisible by numHeads 4$/);
    // the patch size equal to the image size is allowed: one patch
    for (const ok of [() => new PatchEmbeddingBlock(1, [2, 4, 4], [2, 4, 4], 6, 2, { backend: cpu }), () => new SABlock(6, 2, { dropoutRate: 1, backend: cpu })]) {
      const m = ok();
      expect(m).toBeDefined();
      m.dispose();
    }
  });

  it('the token checks name each wrong axis: a wrong hiddenSize, a wrong rank, a wrong context', () => {
    const sa = new SABlock(6, 2, { backend: cpu }), cross = new CrossAttentionBlock(6, 2, { backend: cpu });
    const [good, wide, flat] = [t32(new Float32Array(12), [1, 2, 6]), t32(new Float32Array(8), [1, 2, 4]), t32(new Float32Array(6), [1, 6])];
    expect(() => sa.forward(wide)).toThrow(/^SABlock: input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 2, 4\]$/);
    expect(() => cross.forward(wide)).toThrow(/^CrossAttentionBlock: input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 2, 4\]$/);
    // a rank-4 input whose third axis is hiddenSize
    const deep = t32(new Float32Array(72), [1, 2, 6, 6]);
    expect(() => sa.forward(deep)).toThrow(/^SABlock: input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 2, 6, 6\]$/);
    expect(() => cross.forward(deep)).toThrow(/^CrossAttentionBlock: input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 2, 6, 6\]$/);
    deep.dispose();
    expect(() => cross.forward(flat)).toThrow(/^CrossAttentionBlock: input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 6\]$/);
    expect(() => cross.forward(good, wide)).toThrow(/^CrossAttentionBlock \(context\): input must be \[B, N, 6\] \(batch, tokens, hiddenSize\), got \[1, 2, 4\]$/);
    expect(() => cross.forward(good, flat)).toThrow(/^CrossAttentionBlock \(context\): input must be \[B, N, 6\]/);
    [good, wide, flat].forEach((t) => t.dispose());
    sa.dispose();
    cross.dispose();
  });

  it('the patch embedding refuses an input wrong along any one spatial axis or in its channels', () => {
    const block = new PatchEmbeddingBlock(2, [2, 4, 6], 2, 6, 2, { backend: cpu });
    // the last two: a rank other than 5 whose leading axes agree with [N, 2, 2, 4, 6]
    for (const shape of [[1, 1, 2, 4, 6], [1, 2, 4, 4, 6], [1, 2, 2, 2, 6], [1, 2, 2, 4, 4], [2, 2, 4, 6], [1, 2, 2, 4, 6, 1]]) {
      const x = t32(new Float32Array(shape.reduce((a, v) => a * v, 1)), shape);
      expect(() => block.forward(x)).toThrow(new RegExp(`^PatchEmbeddingBlock: input must be \\[N, 2, 2, 4, 6\\] \\(inChannels, imgSize\\), got \\[${shape.join(', ')}\\]$`));
      x.dispose();
    }
    block.dispose();
  });
  it('puts every parameter on the backend given (the unused cross-attention norm too); classification defaults to false', () => {
    const other = new CpuBackend();
    const net = new ViT({ ...tiny, classification: undefined, backend: other });
    expect(net.namedParameters().filter(([, p]) => p.backend !== other).map(([name]) => name)).toEqual([]);
    expect([net.classification, net.clsToken, net.classificationHead]).toEqual([false, null, null]);
    expect(net.namedModules().some(([name]) => name.startsWith('classification_head'))).toBe(false);
    net.dispose();
  });

  it('names the size it refuses: imgSize and patchSize of the patch embedding', () => {
    expect(() => new PatchEmbeddingBlock(1, [4, 4] as unknown as number, 2, 6, 2)).toThrow(/^PatchEmbeddingBlock imgSize must be an integer or three integers, got \[4,4\]$/);
    expect(() => new PatchEmbeddingBlock(1, 4, [2, -2, 2], 6, 2)).toThrow(/^PatchEmbeddingBlock patchSize must be non-negative integers, got \[2, -2, 2\]$/);
    expect(() => new PatchEmbeddingBlock(1, [4, -4, 4], 2, 6, 2)).toThrow(/^PatchEmbeddingBlock imgSize must be non-negative integers, got \[4, -4, 4\]$/);
  });
});
