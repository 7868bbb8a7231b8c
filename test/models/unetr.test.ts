import { describe, expect, it } from 'vitest';
import {
  add, affine, backward, concat, conv3d, convTranspose3d, flatten, gelu, instanceNorm, layerNorm, leakyRelu, matmul, noGrad,
  permute, reshape, slice, softmax, square, sum, transpose,
} from '../../src/autograd/index.js';
import {
  DynUNet, InstanceNorm3d, LeakyReLU, UNETR, UnetResBlock, type UNETROptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { expectDirectionalGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's UNETR (monai/networks/nets/unetr.py, blocks in monai/networks/blocks/unetr_block.py): MONAI's parameter
 * count and state-dict keys, PyTorch's default initialisation of the convolutions, proj_feat, the forward against
 * the network written out with the functional ops, a float64 gradient check and the errors. Tiny configurations:
 * the patch size is MONAI's fixed 16, so the smallest image with two patches is 16 × 16 × 32.
 */

const tiny = (options: Partial<UNETROptions> = {}): UNETR => new UNETR({
  inChannels: 1, outChannels: 2, imgSize: [16, 16, 32], featureSize: 2, hiddenSize: 4, mlpDim: 6, numHeads: 2, seed: 3, backend: cpu, ...options,
});

describe('UNETR structure', () => {
  it("MONAI's default UNETR(in_channels=1, out_channels=2, img_size=96) has 121 123 042 parameters", () => {
    // featureSize f = 16, hiddenSize h = 768, InstanceNorm3d without affine (no parameters), residual blocks, no
    // conv bias but the output block's. UnetResBlock(a→b, 3³) = 27ab + 27b² (+ ab for conv3 when a ≠ b);
    // a 2³ transposed conv a→b = 8ab.
    //   vit: ViT(1, 96, 16), MONAI's default ViT (see vit.test.ts)                                   116 679 936
    //   encoder1 res 1→16: 432 + 6 912 + 16                                                                7 360
    //   encoder2 768→32 (2 layers): 196 608 + 2·(8 192 + 27 648 + 27 648)                               323 584
    //   encoder3 768→64 (1 layer):  393 216 + 32 768 + 2·110 592                                        647 168
    //   encoder4 768→128 (0 layers): 786 432                                                            786 432
    //   decoder5 768→128: 786 432 + res 256→128 (884 736 + 442 368 + 32 768)                          2 146 304
    //   decoder4 128→64:   65 536 + res 128→64 (221 184 + 110 592 + 8 192)                              405 504
    //   decoder3 64→32:    16 384 + res 64→32 (55 296 + 27 648 + 2 048)                                 101 376
    //   decoder2 32→16:     4 096 + res 32→16 (13 824 + 6 912 + 512)                                     25 344
    //   out 1³ 16→2 with bias                                                                                  34
    //   sum                                                                                           121 123 042
    const net = new UNETR({ inChannels: 1, outChannels: 2, imgSize: 96, backend: cpu });
    expect(net.numParameters()).toBe(121_123_042);
    expect(net.featSize).toEqual([6, 6, 6]);
    net.dispose();
  });

  it("has MONAI's state-dict keys and shapes in MONAI's order (tiny configuration)", () => {
    const net = tiny({ inChannels: 2, outChannels: 3 });
    // hiddenSize 4, mlpDim 6, 12 blocks, 2 patches; f = 2
    const vitBlock = (i: number): [string, number[]][] => {
      const p = `vit.blocks.${i}`;
      return [
        [`${p}.mlp.linear1.weight`, [6, 4]], [`${p}.mlp.linear1.bias`, [6]], [`${p}.mlp.linear2.weight`, [4, 6]], [`${p}.mlp.linear2.bias`, [4]],
        [`${p}.norm1.weight`, [4]], [`${p}.norm1.bias`, [4]],
        [`${p}.attn.out_proj.weight`, [4, 4]], [`${p}.attn.out_proj.bias`, [4]], [`${p}.attn.qkv.weight`, [12, 4]],
        [`${p}.norm2.weight`, [4]], [`${p}.norm2.bias`, [4]],
        [`${p}.norm_cross_attn.weight`, [4]], [`${p}.norm_cross_attn.bias`, [4]],
        [`${p}.cross_attn.out_proj.weight`, [4, 4]], [`${p}.cross_attn.out_proj.bias`, [4]],
        [`${p}.cross_attn.to_q.weight`, [4, 4]], [`${p}.cross_attn.to_k.weight`, [4, 4]], [`${p}.cross_attn.to_v.weight`, [4, 4]],
      ];
    };
    const res = (p: string, a: number, b: number): [string, number[]][] => [
      [`${p}.conv1.conv.weight`, [b, a, 3, 3, 3]], [`${p}.conv2.conv.weight`, [b, b, 3, 3, 3]],
      ...(a === b ? [] : [[`${p}.conv3.conv.weight`, [b, a, 1, 1, 1]] as [string, number[]]]),
    ];
    const up = (p: string, a: number, b: number): [string, number[]] => [`${p}.conv.weight`, [a, b, 2, 2, 2]];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['vit.patch_embedding.position_embeddings', [1, 2, 4]],
      ['vit.patch_embedding.patch_embeddings.weight', [4, 2, 16, 16, 16]], ['vit.patch_embedding.patch_embeddings.bias', [4]],
      ...Array.from({ length: 12 }, (_, i) => vitBlock(i)).flat(),
      ['vit.norm.weight', [4]], ['vit.norm.bias', [4]],
      ...res('encoder1.layer', 2, 2),
      up('encoder2.transp_conv_init', 4, 4),
      up('encoder2.blocks.0.0', 4, 4), ...res('encoder2.blocks.0.1', 4, 4),
      up('encoder2.blocks.1.0', 4, 4), ...res('encoder2.blocks.1.1', 4, 4),
      up('encoder3.transp_conv_init', 4, 8),
      up('encoder3.blocks.0.0', 8, 8), ...res('encoder3.blocks.0.1', 8, 8),
      up('encoder4.transp_conv_init', 4, 16),
      up('decoder5.transp_conv', 4, 16), ...res('decoder5.conv_block', 32, 16),
      up('decoder4.transp_conv', 16, 8), ...res('decoder4.conv_block', 16, 8),
      up('decoder3.transp_conv', 8, 4), ...res('decoder3.conv_block', 8, 4),
      up('decoder2.transp_conv', 4, 2), ...res('decoder2.conv_block', 4, 2),
      ['out.conv.conv.weight', [3, 2, 1, 1, 1]], ['out.conv.conv.bias', [3]],
    ]);
    const modules = new Map(net.namedModules().map(([name, m]) => [name, m.typeName]));
    expect(['', 'vit', 'encoder1', 'encoder1.layer', 'encoder2', 'encoder2.transp_conv_init', 'encoder2.transp_conv_init.conv', 'encoder2.blocks.0',
      'encoder2.blocks.0.1.lrelu', 'encoder2.blocks.0.1.norm1', 'decoder5', 'decoder5.conv_block', 'out', 'out.conv'].map((name) => modules.get(name))).toEqual([
      'UNETR', 'ViT', 'UnetrBasicBlock', 'UnetResBlock', 'UnetrPrUpBlock', 'Convolution', 'ConvTranspose3d', 'Sequential',
      'LeakyReLU', 'InstanceNorm3d', 'UnetrUpBlock', 'UnetResBlock', 'UnetOutBlock', 'Convolution',
    ]);
    // MONAI's defaults: InstanceNorm3d without affine or running statistics, LeakyReLU(0.01)
    const norms = net.modules().filter((m) => m instanceof InstanceNorm3d) as InstanceNorm3d[];
    expect(norms).toHaveLength(2 * 8 + 4); // 8 residual blocks (norm1, norm2), the 4 decoders' with a conv3 also norm3
    expect(norms.every((n) => n.weight === null && n.runningMean === null)).toBe(true);
    expect(net.modules().filter((m) => m instanceof LeakyReLU).every((m) => (m as LeakyReLU).negativeSlope === 0.01)).toBe(true);
    net.dispose();
  });

  it('convBlock false, resBlock false and an affine norm change the keys as in MONAI', () => {
    const net = tiny({ convBlock: false, resBlock: false, normName: ['instance', { affine: true }] });
    const keys = [...net.stateSpec().keys()].filter((k) => !k.startsWith('vit.'));
    const basic = (p: string) => [`${p}.conv1.conv.weight`, `${p}.conv2.conv.weight`, `${p}.norm1.weight`, `${p}.norm1.bias`, `${p}.norm2.weight`, `${p}.norm2.bias`];
    expect(keys).toEqual([
      ...basic('encoder1.layer'),
      'encoder2.transp_conv_init.conv.weight', 'encoder2.blocks.0.conv.weight', 'encoder2.blocks.1.conv.weight',
      'encoder3.transp_conv_init.conv.weight', 'encoder3.blocks.0.conv.weight',
      'encoder4.transp_conv_init.conv.weight',
      ...['decoder5', 'decoder4', 'decoder3', 'decoder2'].flatMap((d) => [`${d}.transp_conv.conv.weight`, ...basic(`${d}.conv_block`)]),
      'out.conv.conv.weight', 'out.conv.conv.bias',
    ]);
    expect(net.getSubmodule('encoder2.blocks.0').typeName).toBe('Convolution');
    net.dispose();
  });

  it("initialises the convolutions with PyTorch's default (UNETR applies no init of its own), seeded", async () => {
    const net = tiny({ featureSize: 8, hiddenSize: 16, mlpDim: 4, imgSize: 16 });
    // kaiming_uniform_(a = √5): U(±1/√fan_in), std 1/√(3·fan_in); fan_in of a transposed conv's [in, out, k³] weight is out·k³.
    // DynUNet's He-normal (a = 0.01) would have a std √6 times larger.
    const cases: [string, number][] = [
      ['decoder5.conv_block.conv1.conv.weight', 128 * 27], ['decoder5.transp_conv.conv.weight', 64 * 8],
      ['encoder2.blocks.0.0.conv.weight', 16 * 8], ['encoder1.layer.conv2.conv.weight', 8 * 27],
    ];
    for (const [key, fanIn] of cases) {
      const w = await net.getParameter(key).toArray();
      const bound = 1 / Math.sqrt(fanIn);
      expect(w.every((v) => Math.abs(v) <= bound), key).toBe(true);
      const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
      expect(Math.abs(std / (bound / Math.sqrt(3)) - 1), key).toBeLessThan(0.03);
    }
    // the output block's bias: U(±1/√8), not zero
    const bias = await net.getParameter('out.conv.conv.bias').toArray();
    expect(bias.every((v) => v !== 0 && Math.abs(v) <= 1 / Math.sqrt(8))).toBe(true);
    const [again, other] = [tiny({ featureSize: 8, hiddenSize: 16, mlpDim: 4, imgSize: 16 }), tiny({ featureSize: 8, hiddenSize: 16, mlpDim: 4, imgSize: 16, seed: 4 })];
    const key = 'decoder4.conv_block.conv2.conv.weight';
    expect(Array.from(await again.getParameter(key).toArray())).toEqual(Array.from(await net.getParameter(key).toArray()));
    expect(Array.from(await other.getParameter(key).toArray())).not.toEqual(Array.from(await net.getParameter(key).toArray()));
    // DynUNet keeps its He-normal init: std √2/√fan_in (a = 0.01), fan_in 2·27
    const dyn = new DynUNet({ inChannels: 1, outChannels: 1, kernelSize: [3, 3, 3], strides: [1, 2, 2], upsampleKernelSize: [2, 2], filters: [32, 2, 2], seed: 1, backend: cpu });
    const dw = await dyn.getParameter('input_block.conv2.conv.weight').toArray();
    expect(Math.sqrt(dw.reduce((s, v) => s + v * v, 0) / dw.length) / Math.sqrt(2 / (1 + 1e-4) / (32 * 27))).toBeCloseTo(1, 1);
    for (const m of [net, again, other, dyn]) m.dispose();
  });

  it("projFeat is MONAI's proj_feat: token (i·g₁ + j)·g₂ + k of the row-major grid goes to voxel [i, j, k], its features to the channels", async () => {
    const net = tiny({ imgSize: [32, 48, 64], hiddenSize: 3, numHeads: 1 });
    expect(net.featSize).toEqual([2, 3, 4]);
    const tokens = fromArray(Float64Array.from({ length: 2 * 24 * 3 }, (_, i) => i), [2, 24, 3], { backend: cpu });
    const grid = net.projFeat(tokens);
    expect(grid.shape).toEqual([2, 3, 2, 3, 4]);
    const values = await grid.toArray();
    let at = 0;
    for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
      expect(values[at++]).toBe((b * 24 + (i * 3 + j) * 4 + k) * 3 + c);
    }
    // and it undoes the patch embedding's flatten(2).transpose(-1, -2) of the conv's [N, hidden, …grid] output
    const patches = randn([2, 3, 2, 3, 4], 1, { backend: cpu });
    const back = net.projFeat(transpose(flatten(patches, 2), -1, -2));
    expect(Array.from(await back.toArray())).toEqual(Array.from(await patches.toArray()));
    dispose([tokens, grid, patches, back]);
    net.dispose();
  });

  it('output shapes: [N, outChannels, …imgSize], anisotropic, with and without residual and conv blocks', () => {
    const cases: [Partial<UNETROptions>, number[]][] = [
      [{}, [2, 1, 16, 16, 32]],
      [{ inChannels: 2, outChannels: 3, imgSize: [32, 16, 16], resBlock: false, convBlock: false }, [1, 2, 32, 16, 16]],
      [{ imgSize: 16, normName: 'batch', dropoutRate: 0.2 }, [2, 1, 16, 16, 16]],
    ];
    for (const [options, input] of cases) {
      const net = tiny(options);
      const x = randn(input, 1, { backend: cpu });
      const y = noGrad(() => net.forward(x));
      expect(y.shape).toEqual([input[0], options.outChannels ?? 2, ...input.slice(2)]);
      dispose([x, y]);
      net.dispose();
    }
  });

  it('refuses bad options and inputs with clear messages, leaking nothing', () => {
    expect(() => tiny({ imgSize: [16, 16, 24] })).toThrow(/^UNETR: imgSize \[16, 16, 24\] must be a multiple of the patch size 16 along every axis$/);
    expect(() => tiny({ imgSize: 8 })).toThrow(/^UNETR: imgSize \[8, 8, 8\] must be a multiple of the patch size 16 along every axis$/);
    expect(() => tiny({ hiddenSize: 10, numHeads: 4 })).toThrow(/^UNETR: hiddenSize 10 must be divisible by numHeads 4$/);
    expect(() => tiny({ dropoutRate: 1.5 })).toThrow(/^UNETR: dropoutRate must be in \[0, 1\], got 1\.5$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^UNETR: spatialDims 2 is not supported \(3 only\)$/);
    expect(() => tiny({ featureSize: 0 })).toThrow(/^UNETR: featureSize must be a positive integer, got 0$/);
    expect(() => tiny({ projType: 'perceptron' as 'conv' })).toThrow("PatchEmbeddingBlock: projType 'perceptron' is not supported (only 'conv')");
    const net = tiny();
    const before = memory().liveTensors;
    for (const shape of [[1, 1, 16, 16, 16], [1, 2, 16, 16, 32], [16, 16, 32]]) {
      const x = randn(shape, 1, { backend: cpu });
      expect(() => net.forward(x)).toThrow(`UNETR: input must be [N, 1, 16, 16, 32] (inChannels, imgSize), got [${shape.join(', ')}]`);
      x.dispose();
    }
    expect(memory().liveTensors).toBe(before);
    net.dispose();
  });
});

/**
 * UNETR written out with the functional ops from MONAI's modules, reading the weights by their MONAI names: the ViT
 * (patch conv, learnable position embedding, 12 pre-norm blocks with the qkv features ordered (q|k|v, head, d) as
 * MONAI's Rearrange, exact GELU, the final norm), proj_feat, and the convolutional blocks with instance norm (no
 * affine) and LeakyReLU 0.01.
 */
function unetrByHand(net: UNETR, x: Tensor, numHeads: number): Tensor {
  const w = (key: string) => net.getParameter(key);
  const [n, hidden] = [x.shape[0], net.hiddenSize], d = hidden / numHeads;
  const linear = (t: Tensor, key: string, bias = true) => {
    const y = matmul(t, transpose(w(`${key}.weight`), 0, 1));
    return bias ? add(y, w(`${key}.bias`)) : y;
  };
  const ln = (t: Tensor, key: string) => layerNorm(t, hidden, { weight: w(`${key}.weight`), bias: w(`${key}.bias`) });
  const patches = conv3d(x, w('vit.patch_embedding.patch_embeddings.weight'), w('vit.patch_embedding.patch_embeddings.bias'), { stride: 16 });
  let tokens = add(transpose(flatten(patches, 2), 1, 2), w('vit.patch_embedding.position_embeddings'));
  const count = tokens.shape[1];
  const hiddenStates: Tensor[] = [];
  for (let i = 0; i < 12; i++) {
    const p = `vit.blocks.${i}`;
    const qkv = permute(reshape(linear(ln(tokens, `${p}.norm1`), `${p}.attn.qkv`, false), [n, count, 3, numHeads, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = [0, 1, 2].map((j) => reshape(slice(qkv, 0, j, j + 1), [n, numHeads, count, d]));
    const weights = softmax(affine(matmul(q, transpose(k, -1, -2)), 1 / Math.sqrt(d), 0), -1);
    const attended = reshape(permute(matmul(weights, v), [0, 2, 1, 3]), [n, count, hidden]);
    tokens = add(tokens, linear(attended, `${p}.attn.out_proj`));
    tokens = add(tokens, linear(gelu(linear(ln(tokens, `${p}.norm2`), `${p}.mlp.linear1`)), `${p}.mlp.linear2`));
    hiddenStates.push(tokens);
  }
  const grid = (t: Tensor) => permute(reshape(t, [n, ...net.featSize, hidden]), [0, 4, 1, 2, 3]);

  const act = (t: Tensor) => leakyRelu(t, 0.01);
  const conv = (t: Tensor, key: string, k = 3) => conv3d(t, w(`${key}.conv.weight`), null, { padding: (k - 1) / 2 });
  const up = (t: Tensor, key: string) => convTranspose3d(t, w(`${key}.conv.weight`), null, { stride: 2 });
  const block = (t: Tensor, key: string): Tensor => {
    const y = instanceNorm(conv(act(instanceNorm(conv(t, `${key}.conv1`))), `${key}.conv2`));
    if (!(net.getSubmodule(key) instanceof UnetResBlock)) return act(y);
    const residual = (net.getSubmodule(key) as UnetResBlock).conv3 ? instanceNorm(conv(t, `${key}.conv3`, 1)) : t;
    return act(add(y, residual));
  };
  const encoder = (t: Tensor, key: string, layers: number) => {
    let y = up(t, `${key}.transp_conv_init`);
    for (let i = 0; i < layers; i++) y = block(up(y, `${key}.blocks.${i}.0`), `${key}.blocks.${i}.1`);
    return y;
  };
  const decoder = (t: Tensor, skip: Tensor, key: string) => block(concat([up(t, `${key}.transp_conv`), skip], 1), `${key}.conv_block`);
  const enc1 = block(x, 'encoder1.layer');
  const enc2 = encoder(grid(hiddenStates[3]), 'encoder2', 2);
  const enc3 = encoder(grid(hiddenStates[6]), 'encoder3', 1);
  const enc4 = encoder(grid(hiddenStates[9]), 'encoder4', 0);
  let y = decoder(grid(ln(tokens, 'vit.norm')), enc4, 'decoder5');
  y = decoder(y, enc3, 'decoder4');
  y = decoder(y, enc2, 'decoder3');
  y = decoder(y, enc1, 'decoder2');
  return conv3d(y, w('out.conv.conv.weight'), w('out.conv.conv.bias'));
}

describe('UNETR forward and backward (cpu, float64)', () => {
  it.each([true, false])('equals the network written out with the functional ops (resBlock %s)', async (resBlock) => {
    const net = tiny({ inChannels: 2, outChannels: 3, resBlock, seed: 5 });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 16 * 16 * 32, 6, -1, 1), [2, 2, 16, 16, 32], { dtype: 'float64', backend: cpu });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => unetrByHand(net, x, 2))]);
    expect(got.shape).toEqual([2, 3, 16, 16, 32]);
    const [g, e] = [await got.toArray(), await want.toArray()];
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(0.1);
    g.forEach((v, i) => expect(Math.abs(v - e[i])).toBeLessThanOrEqual(1e-12 * scale));
    dispose([x, got, want]);
    net.dispose();
  });

  it('passes the float64 gradient check in its input (along random directions of the whole input)', async () => {
    const net = tiny({ seed: 7 });
    // the input moves along 4 fixed random directions: every input element's gradient enters the check
    await expectDirectionalGradcheck(net, [1, 1, 16, 16, 32], 4);
    net.dispose();
  });

  it('a training step reaches every parameter MONAI uses (not the unused cross-attention) and leaks nothing', () => {
    const net = tiny({ seed: 8 });
    const x = randn([1, 1, 16, 16, 32], 2, { backend: cpu });
    const live = memory().liveTensors;
    const loss = tidy(() => sum(square(net.forward(x))));
    backward(loss);
    loss.dispose();
    const withoutGrad = net.namedParameters().filter(([, p]) => !p.grad).map(([name]) => name);
    expect(withoutGrad.length).toBe(12 * 7);
    expect(withoutGrad.every((name) => /^vit\.blocks\.\d+\.(norm_cross_attn|cross_attn)\./.test(name))).toBe(true);
    net.zeroGrad();
    expect(memory().liveTensors).toBe(live);
    x.dispose();
    net.dispose();
  });
});
