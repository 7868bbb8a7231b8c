import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, square, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { PatchEmbeddingBlock, ViT, sincosPositionEmbedding3d, type Linear, type TransformerBlock } from '../../src/models/index.js';
import { fromArray, memory, tidy } from '../../src/tensor/index.js';
import { hostValues, mergeHeads, refAttention, refGelu, refLayerNorm, refLinear, splitHeads } from '../helpers/attention-reference.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * MONAI's ViT (monai/networks/nets/vit.py) and its blocks: MONAI's parameter counts and state-dict keys, the sin-cos
 * and learnable position embeddings, the forward against float64 loops, gradients, errors, WebGPU.
 */

const t32 = (data: ArrayLike<number>, shape: number[], backend: Backend = cpu) => fromArray(data, shape, { dtype: 'float32', backend });

interface Geometry { c: number; img: [number, number, number]; patch: [number, number, number] }

/** the patch embedding's conv (kernel = stride = patch) as loops: [N, C, D, H, W] → tokens [N, patches, hidden] */
async function refPatchEmbedding(block: PatchEmbeddingBlock, x: ArrayLike<number>, n: number, { c, img, patch }: Geometry): Promise<Float64Array> {
  const w = await hostValues(block.patchEmbeddings.weight), b = await hostValues(block.patchEmbeddings.bias!), pos = await hostValues(block.positionEmbeddings);
  const hidden = block.hiddenSize, grid = img.map((m, i) => Math.floor(m / patch[i]));
  const patches = grid[0] * grid[1] * grid[2];
  const out = new Float64Array(n * patches * hidden);
  for (let bi = 0; bi < n; bi++) for (let p = 0; p < patches; p++) {
    const [gz, gy, gx] = [Math.floor(p / (grid[1] * grid[2])), Math.floor(p / grid[2]) % grid[1], p % grid[2]];
    for (let o = 0; o < hidden; o++) {
      let s = b[o];
      for (let ci = 0; ci < c; ci++) for (let z = 0; z < patch[0]; z++) for (let y = 0; y < patch[1]; y++) for (let xi = 0; xi < patch[2]; xi++) {
        const v = x[(((bi * c + ci) * img[0] + gz * patch[0] + z) * img[1] + gy * patch[1] + y) * img[2] + gx * patch[2] + xi];
        s += v * w[(((o * c + ci) * patch[0] + z) * patch[1] + y) * patch[2] + xi];
      }
      out[(bi * patches + p) * hidden + o] = s + pos[p * hidden + o];
    }
  }
  return out;
}

/** MONAI's TransformerBlock as loops over tokens [N, T, hidden] */
async function refBlock(block: TransformerBlock, x: Float64Array, n: number, t: number, numHeads: number): Promise<Float64Array> {
  const e = block.norm1.normalizedShape[0], d = e / numHeads, rows = n * t, f = block.mlp.linear1.outFeatures;
  const ln = async (norm: TransformerBlock['norm1'], v: ArrayLike<number>) => refLayerNorm(v, rows, e, await hostValues(norm.weight!), await hostValues(norm.bias!));
  const qkv = refLinear(await ln(block.norm1, x), rows, await hostValues(block.attn.qkv.weight), block.attn.qkv.bias ? await hostValues(block.attn.qkv.bias) : null, e, 3 * e);
  const part = (i: number) => splitHeads(Float64Array.from({ length: rows * e }, (_, j) => qkv[Math.floor(j / e) * 3 * e + i * e + (j % e)]), n, t, numHeads, d);
  const { out } = refAttention(part(0), part(1), part(2), { b: n, h: numHeads, l: t, s: t, d, dv: d }, 1 / Math.sqrt(d));
  const attn = refLinear(mergeHeads(out, n, t, numHeads, d), rows, await hostValues(block.attn.outProj.weight), await hostValues(block.attn.outProj.bias!), e, e);
  const y = x.map((v, i) => v + attn[i]);
  const hidden = refLinear(await ln(block.norm2, y), rows, await hostValues(block.mlp.linear1.weight), await hostValues(block.mlp.linear1.bias!), e, f).map(refGelu);
  const mlp = refLinear(hidden, rows, await hostValues(block.mlp.linear2.weight), await hostValues(block.mlp.linear2.bias!), f, e);
  return y.map((v, i) => v + mlp[i]);
}

describe('ViT structure', () => {
  it("MONAI's default ViT(in_channels=1, img_size=96, patch_size=16) has 116 679 936 parameters", () => {
    // hidden 768, mlp 3072, 12 layers; 216 = 6³ patches.
    //   patch_embeddings Conv3d 1→768, 16³, bias            768·4096 + 768                       =   3 146 496
    //   position_embeddings [1, 216, 768]                                                       =     165 888
    //   per block: mlp 2·768·3072 + 3072 + 768 = 4 722 432; norm1, norm2, norm_cross_attn 6·768 = 4 608;
    //              attn qkv 3·768² (no bias) + out_proj 768² + 768 = 2 360 064;
    //              cross_attn to_q, to_k, to_v 3·768² (no bias) + out_proj 768² + 768 = 2 360 064  = 9 447 168
    //   12 blocks                                                                              = 113 366 016
    //   norm                                                                                   =       1 536
    // The classification head adds cls_token 768 and Linear(768, 2) 1 538.
    const net = new ViT({ inChannels: 1, imgSize: 96, patchSize: 16, backend: cpu });
    expect(net.numParameters()).toBe(116_679_936);
    net.dispose();
    const classifier = new ViT({ inChannels: 1, imgSize: 96, patchSize: 16, classification: true, posEmbedType: 'sincos', backend: cpu });
    expect(classifier.numParameters()).toBe(116_679_936 + 768 + 1538);
    // the sin-cos position embedding is a parameter that does not require grad (MONAI's)
    expect(classifier.numParameters(true)).toBe(116_679_936 + 768 + 1538 - 165_888);
    classifier.dispose();
  });

  it("has MONAI's state-dict keys and shapes in MONAI's order (own parameters first: cls_token)", () => {
    const net = new ViT({ inChannels: 2, imgSize: [4, 4, 8], patchSize: [2, 2, 4], hiddenSize: 6, mlpDim: 5, numLayers: 1, numHeads: 2, classification: true, numClasses: 3, seed: 1, backend: cpu });
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['cls_token', [1, 1, 6]],
      ['patch_embedding.position_embeddings', [1, 8, 6]],
      ['patch_embedding.patch_embeddings.weight', [6, 2, 2, 2, 4]], ['patch_embedding.patch_embeddings.bias', [6]],
      ['blocks.0.mlp.linear1.weight', [5, 6]], ['blocks.0.mlp.linear1.bias', [5]], ['blocks.0.mlp.linear2.weight', [6, 5]], ['blocks.0.mlp.linear2.bias', [6]],
      ['blocks.0.norm1.weight', [6]], ['blocks.0.norm1.bias', [6]],
      ['blocks.0.attn.out_proj.weight', [6, 6]], ['blocks.0.attn.out_proj.bias', [6]], ['blocks.0.attn.qkv.weight', [18, 6]],
      ['blocks.0.norm2.weight', [6]], ['blocks.0.norm2.bias', [6]],
      ['blocks.0.norm_cross_attn.weight', [6]], ['blocks.0.norm_cross_attn.bias', [6]],
      ['blocks.0.cross_attn.out_proj.weight', [6, 6]], ['blocks.0.cross_attn.out_proj.bias', [6]],
      ['blocks.0.cross_attn.to_q.weight', [6, 6]], ['blocks.0.cross_attn.to_k.weight', [6, 6]], ['blocks.0.cross_attn.to_v.weight', [6, 6]],
      ['norm.weight', [6]], ['norm.bias', [6]],
      ['classification_head.0.weight', [3, 6]], ['classification_head.0.bias', [3]],
    ]);
    const modules = new Map(net.namedModules().map(([name, m]) => [name, m.typeName]));
    expect([modules.get('classification_head.1'), modules.get('blocks.0.attn'), modules.get('blocks.0.attn.to_q'), modules.get('blocks.0.mlp.fn')]).toEqual(['Tanh', 'SABlock', 'Identity', 'GELU']);
    const bare = new ViT({ inChannels: 1, imgSize: 4, patchSize: 2, hiddenSize: 6, mlpDim: 0, numLayers: 1, numHeads: 2, classification: true, postActivation: null, qkvBias: true, backend: cpu });
    const keys = [...bare.stateSpec().keys()];
    expect(keys.slice(-2)).toEqual(['classification_head.weight', 'classification_head.bias']);
    expect(keys).toContain('blocks.0.attn.qkv.bias');
    expect(keys).toContain('blocks.0.cross_attn.to_k.bias');
    expect(bare.getParameter('blocks.0.mlp.linear1.weight').shape).toEqual([6, 6]); // mlpDim 0 means hiddenSize
    net.dispose();
    bare.dispose();
  });

  it("the sin-cos position embedding is MONAI's build_sincos_position_embedding (meshgrid 'ij', blocks w, h, d), fixed", async () => {
    const grid: [number, number, number] = [2, 3, 2], e = 12, posDim = e / 6;
    const block = new PatchEmbeddingBlock(1, [4, 6, 4], 2, e, 3, { posEmbedType: 'sincos', backend: cpu });
    expect(block.positionEmbeddings.requiresGrad).toBe(false);
    // torch.meshgrid(arange(h), arange(w), arange(d)) flattened, einsum with ω, concatenated [sin w, cos w, sin h, cos h, sin d, cos d]
    const coords: number[][] = [];
    for (let h = 0; h < grid[0]; h++) for (let w = 0; w < grid[1]; w++) for (let d = 0; d < grid[2]; d++) coords.push([h, w, d]);
    const omega = Array.from({ length: posDim }, (_, k) => 1 / 10000 ** (k / posDim));
    const want = coords.flatMap(([h, w, d]) => [
      ...omega.map((o) => Math.sin(w * o)), ...omega.map((o) => Math.cos(w * o)), ...omega.map((o) => Math.sin(h * o)),
      ...omega.map((o) => Math.cos(h * o)), ...omega.map((o) => Math.sin(d * o)), ...omega.map((o) => Math.cos(d * o)),
    ]);
    expectClose(await block.positionEmbeddings.toArray(), want, 1e-7, 0, 'position embeddings');
    expectClose(sincosPositionEmbedding3d(grid, e), want, 1e-15, 0, 'float64 table');
    block.dispose();
  });

  it("the learnable position embedding is trunc_normal_(std 0.02, ±2); 'none' leaves trainable zeros; the class token starts at zeros", async () => {
    const block = new PatchEmbeddingBlock(1, 96, 16, 768, 12, { seed: 3, backend: cpu });
    const pos = await hostValues(block.positionEmbeddings);
    const std = Math.sqrt(pos.reduce((s, v) => s + v * v, 0) / pos.length);
    expect(Math.abs(std - 0.02) / 0.02).toBeLessThan(0.01); // 165 888 draws: ±1 % is > 4 σ
    expect(block.positionEmbeddings.requiresGrad).toBe(true);
    const none = new PatchEmbeddingBlock(1, 8, 4, 6, 2, { posEmbedType: 'none', backend: cpu });
    expect(Array.from(await hostValues(none.positionEmbeddings)).every((v) => v === 0)).toBe(true);
    expect(none.positionEmbeddings.requiresGrad).toBe(true);
    const net = new ViT({ inChannels: 1, imgSize: 4, patchSize: 2, hiddenSize: 6, mlpDim: 4, numLayers: 1, numHeads: 2, classification: true, backend: cpu });
    expect(Array.from(await hostValues(net.clsToken!)).every((v) => v === 0)).toBe(true);
    [block, none, net].forEach((m) => m.dispose());
  });
});

describe('ViT forward', () => {
  it('equals the loop reference (tokens, every hidden state, the classification head) on random small configurations', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }), heads: fc.integer({ min: 1, max: 2 }), headDim: fc.constantFrom(3, 6),
        patch: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        grid: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 })),
        layers: fc.integer({ min: 1, max: 2 }), mlp: fc.integer({ min: 1, max: 5 }), classification: fc.boolean(), qkvBias: fc.boolean(),
        posEmbedType: fc.constantFrom('learnable' as const, 'sincos' as const), seed: fc.integer({ min: 1, max: 10_000 }),
      }),
      async ({ n, c, heads, headDim, patch, grid, layers, mlp, classification, qkvBias, posEmbedType, seed }) => {
        const hidden = heads * headDim;
        if (posEmbedType === 'sincos' && hidden % 6 !== 0) return;
        const img = patch.map((p, i) => p * grid[i]) as [number, number, number];
        const net = new ViT({ inChannels: c, imgSize: img, patchSize: patch, hiddenSize: hidden, mlpDim: mlp, numLayers: layers, numHeads: heads, classification, numClasses: 3, qkvBias, posEmbedType, seed, backend: cpu }).eval();
        const size = n * c * img[0] * img[1] * img[2];
        const x = Float32Array.from(randomArray(size, seed, -1, 1));
        const [y, states] = net.forward(t32(x, [n, c, ...img]));
        let tokens = await refPatchEmbedding(net.patchEmbedding, x, n, { c, img, patch });
        let t = grid[0] * grid[1] * grid[2];
        if (classification) {
          const cls = await hostValues(net.clsToken!);
          tokens = Float64Array.from({ length: n * (t + 1) * hidden }, (_, i) => {
            const [b, r, f] = [Math.floor(i / ((t + 1) * hidden)), Math.floor(i / hidden) % (t + 1), i % hidden];
            return r === 0 ? cls[f] : tokens[(b * t + r - 1) * hidden + f];
          });
          t += 1;
        }
        expect(states.length).toBe(layers);
        for (let i = 0; i < layers; i++) {
          tokens = await refBlock(net.blocks.at(i), tokens, n, t, heads);
          expectClose(await states[i].toArray(), tokens, 2e-5, 2e-4, `hidden state ${i}`);
        }
        let want = refLayerNorm(tokens, n * t, hidden, await hostValues(net.norm.weight!), await hostValues(net.norm.bias!));
        if (classification) {
          const first = Float64Array.from({ length: n * hidden }, (_, i) => want[Math.floor(i / hidden) * t * hidden + (i % hidden)]);
          const head = net.getSubmodule('classification_head.0') as Linear;
          want = refLinear(first, n, await hostValues(head.weight), await hostValues(head.bias!), hidden, 3).map(Math.tanh);
        }
        expect(y.shape).toEqual(classification ? [n, 3] : [n, t, hidden]);
        expectClose(await y.toArray(), want, 2e-5, 2e-4, 'output');
        net.dispose();
      }), propertyOptions(12));
  });

  it('passes the float64 gradient check in its input (classification head, two blocks)', async () => {
    const net = new ViT({ inChannels: 1, imgSize: [2, 2, 4], patchSize: [1, 2, 2], hiddenSize: 4, mlpDim: 3, numLayers: 2, numHeads: 2, classification: true, seed: 4, backend: cpu }).eval();
    await toFloat64(net);
    const r = await gradcheck((x) => net.forward(x)[0], [{ data: randomArray(32, 5, -1, 1), shape: [2, 1, 2, 2, 4] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    net.dispose();
  });

  it('a training step reaches every parameter MONAI uses (not the unused cross-attention, not the fixed sin-cos table) and leaks nothing', () => {
    const net = new ViT({ inChannels: 1, imgSize: 4, patchSize: 2, hiddenSize: 6, mlpDim: 4, numLayers: 2, numHeads: 2, classification: true, posEmbedType: 'sincos', dropoutRate: 0.1, seed: 7, backend: cpu });
    const x = t32(randomArray(128, 8, -1, 1), [2, 1, 4, 4, 4]);
    const live = memory().liveTensors;
    net.seedDropout(1);
    const loss = tidy(() => sum(square(net.forward(x)[0])));
    backward(loss);
    loss.dispose();
    const withoutGrad = net.namedParameters().filter(([, p]) => !p.grad).map(([name]) => name);
    expect(withoutGrad).toEqual(['patch_embedding.position_embeddings', ...[0, 1].flatMap((i) => [
      'norm_cross_attn.weight', 'norm_cross_attn.bias', 'cross_attn.out_proj.weight', 'cross_attn.out_proj.bias',
      'cross_attn.to_q.weight', 'cross_attn.to_k.weight', 'cross_attn.to_v.weight',
    ].map((k) => `blocks.${i}.${k}`))]);
    net.zeroGrad();
    expect(memory().liveTensors).toBe(live);
    x.dispose();
    net.dispose();
  });

  it('refuses bad configurations and inputs with clear messages', () => {
    const base = { inChannels: 1, imgSize: 8, patchSize: 4, hiddenSize: 12, mlpDim: 4, numLayers: 1, numHeads: 2, backend: cpu };
    expect(() => new ViT({ ...base, numHeads: 5 })).toThrow('ViT: hiddenSize 12 must be divisible by numHeads 5');
    expect(() => new ViT({ ...base, hiddenSize: 8, posEmbedType: 'sincos' })).toThrow('the embedding size 8 must be divisible by 6 for the 3-D sin-cos position embedding');
    expect(() => new ViT({ ...base, patchSize: [4, 4, 16] })).toThrow('PatchEmbeddingBlock: patchSize [4, 4, 16] must be positive and no larger than imgSize [8, 8, 8]');
    expect(() => new ViT({ ...base, spatialDims: 2 as 3 })).toThrow('ViT: spatialDims 2 is not supported (3 only)');
    expect(() => new ViT({ ...base, projType: 'perceptron' as 'conv' })).toThrow("PatchEmbeddingBlock: projType 'perceptron' is not supported (only 'conv')");
    expect(() => new ViT({ ...base, dropoutRate: 1.5 })).toThrow('ViT: dropoutRate must be in [0, 1], got 1.5');
    const net = new ViT(base);
    expect(() => net.forward(t32(new Float32Array(512), [1, 8, 8, 8]))).toThrow('PatchEmbeddingBlock: input must be [N, 1, 8, 8, 8] (inChannels, imgSize), got [1, 8, 8, 8]');
    expect(() => net.forward(t32(new Float32Array(256), [1, 1, 8, 8, 4]))).toThrow('got [1, 1, 8, 8, 4]');
    expect(() => net.blocks.at(0).attn.forward(t32(new Float32Array(8), [2, 4]))).toThrow('SABlock: input must be [B, N, 12] (batch, tokens, hiddenSize), got [2, 4]');
    net.dispose();
  });
});

describe('ViT on WebGPU', () => {
  it('equals the cpu backend within float32 rounding (the same seed, the same weights)', async () => {
    const gpu = await webgpu();
    const x = randomArray(2 * 4 * 4 * 8, 1, -1, 1);
    const run = async (backend: Backend) => {
      const net = new ViT({ inChannels: 1, imgSize: [4, 4, 8], patchSize: [2, 2, 4], hiddenSize: 12, mlpDim: 8, numLayers: 2, numHeads: 3, classification: true, posEmbedType: 'sincos', seed: 6, backend }).eval();
      const [y, states] = net.forward(t32(x, [2, 1, 4, 4, 8], backend));
      const out = [await y.toArray(), await states[1].toArray()];
      net.dispose();
      return out;
    };
    const [got, want] = [await run(gpu), await run(cpu)];
    expectClose(got[0], want[0], 2e-5, 2e-4, 'output');
    expectClose(got[1], want[1], 2e-5, 2e-4, 'last hidden state');
  });
});
