import { describe, expect, it } from 'vitest';
import { add, backward, concat, conv3d, maxPool3d, noGrad } from '../../src/autograd/index.js';
import {
  BasicUNetPlusPlus, Dropout, InstanceNorm3d, Module, crossEntropy,
  type BasicUNetPlusPlusOptions, type BasicUNetUpsample,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { basicUNetBlocksByHand, ellipsoidSegmentation, twoConvKeys, upsampleKeys } from '../helpers/basic-unet-reference.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectDirectionalGradcheck, expectSameAsWrittenOut, loadDistinctSafetensors } from '../helpers/model-checks.js';

/**
 * MONAI's BasicUNetPlusPlus (monai/networks/nets/basic_unetplusplus.py): MONAI's parameter count and state-dict keys,
 * the nested decoder's channels, deep supervision, options and their errors, the forward against the network written
 * out with the functional ops in float64 (odd sizes padded), a float64 gradient check and a few training steps.
 */

const small = (options: BasicUNetPlusPlusOptions = {}): BasicUNetPlusPlus =>
  new BasicUNetPlusPlus({ features: [2, 3, 4, 5, 6, 2], seed: 3, backend: cpu, ...options });
const modes: BasicUNetUpsample[] = ['deconv', 'nontrainable', 'pixelshuffle'];

/** the network with its outputs concatenated along the channels: one tensor, as the shared checks take */
class AllHeads extends Module {
  constructor(readonly net: BasicUNetPlusPlus) { super(); } // the assignment registers it
  forward(x: Tensor): Tensor { return tidy(() => concat(this.net.forward(x), 1)); }
}

describe('BasicUNetPlusPlus structure', () => {
  it("MONAI's default configuration has 6 979 976 parameters", () => {
    // features f = (32, 32, 64, 128, 256, 32), in 1, out 2, biases, InstanceNorm3d(affine: 2c), LeakyReLU (none):
    // TwoConv(a→b) = 27ab + 27b² + 6b; UpCat(in, cat, out) = deconv 2³ in→u (u = in/2, or in at level 0) with bias:
    // 8·in·u + u, then TwoConv(cat + u → out).
    // encoder: conv_0_0 1→32 28 704; conv_1_0 32→32 55 488; conv_2_0 32→64 166 272; conv_3_0 64→128 664 320;
    //   conv_4_0 128→256 2 655 744: 3 570 528.
    // column 1 (cat f[i]): upcat_0_1 (32, 32, 32) 8 224 + TwoConv(64→32) 83 136 = 91 360;
    //   upcat_1_1 (64, 32, 32) 16 416 + 83 136 = 99 552; upcat_2_1 (128, 64, 64) 65 600 + TwoConv(128→64) 332 160 = 397 760;
    //   upcat_3_1 (256, 128, 128) 262 272 + TwoConv(256→128) 1 327 872 = 1 590 144.
    // column 2 (cat 2·f[i]): upcat_0_2 (32, 64, 32) 8 224 + TwoConv(96→32) 110 784 = 119 008;
    //   upcat_1_2 (64, 64, 32) 16 416 + 110 784 = 127 200; upcat_2_2 (128, 128, 64) 65 600 + TwoConv(192→64) 442 752 = 508 352.
    // column 3 (cat 3·f[i]): upcat_0_3 (32, 96, 32) 8 224 + TwoConv(128→32) 138 432 = 146 656;
    //   upcat_1_3 (64, 96, 32) 16 416 + 138 432 = 154 848.
    // column 4: upcat_0_4 (32, 128, f[5] = 32) 8 224 + TwoConv(160→32) 166 080 = 174 304.
    // heads: 4 × (1³ 32→2 with bias) = 4 × 66 = 264.
    // Sum: 3 570 528 + 2 178 816 + 754 560 + 301 504 + 174 304 + 264 = 6 979 976.
    const net = new BasicUNetPlusPlus({ backend: cpu });
    expect(net.features).toEqual([32, 32, 64, 128, 256, 32]);
    expect([net.inChannels, net.outChannels, net.upsample, net.deepSupervision]).toEqual([1, 2, 'deconv', false]);
    expect(net.numParameters()).toBe(6_979_976);
    net.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree, per upsampling mode", () => {
    const two = twoConvKeys, up = upsampleKeys;
    // upcat_i_j of features f: up f[i+1] → f[i+1]/2 (not halved at level 0), TwoConv(j·f[i] + up → f[i], f[5] for 0_4)
    const upcat = (mode: BasicUNetUpsample, i: number, j: number, cat: number, inC: number, out: number) => {
      const u = i === 0 ? inC : Math.floor(inC / 2);
      return [...up(mode, `upcat_${i}_${j}`, inC, u), ...two(`upcat_${i}_${j}.convs`, j * cat + u, out)];
    };
    for (const mode of modes) {
      // features 2, 3, 4, 5, 6, 7: every level distinct, 6 → 3 and 4 → 2 halve, 5 → 2 rounds down
      const net = new BasicUNetPlusPlus({ features: [2, 3, 4, 5, 6, 7], inChannels: 2, outChannels: 3, upsample: mode, seed: 3, backend: cpu });
      expect([...net.stateSpec()].map(([k, v]) => [k, v.shape]), mode).toEqual([
        ...two('conv_0_0', 2, 2), ...two('conv_1_0.convs', 2, 3), ...two('conv_2_0.convs', 3, 4), ...two('conv_3_0.convs', 4, 5), ...two('conv_4_0.convs', 5, 6),
        ...upcat(mode, 0, 1, 2, 3, 2), ...upcat(mode, 1, 1, 3, 4, 3), ...upcat(mode, 2, 1, 4, 5, 4), ...upcat(mode, 3, 1, 5, 6, 5),
        ...upcat(mode, 0, 2, 2, 3, 2), ...upcat(mode, 1, 2, 3, 4, 3), ...upcat(mode, 2, 2, 4, 5, 4),
        ...upcat(mode, 0, 3, 2, 3, 2), ...upcat(mode, 1, 3, 3, 4, 3),
        ...upcat(mode, 0, 4, 2, 3, 7),
        ['final_conv_0_1.weight', [3, 2, 1, 1, 1]], ['final_conv_0_1.bias', [3]], ['final_conv_0_2.weight', [3, 2, 1, 1, 1]], ['final_conv_0_2.bias', [3]],
        ['final_conv_0_3.weight', [3, 2, 1, 1, 1]], ['final_conv_0_3.bias', [3]], ['final_conv_0_4.weight', [3, 7, 1, 1, 1]], ['final_conv_0_4.bias', [3]],
      ]);
      net.dispose();
    }
    const net = small();
    const types = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['conv_0_0', 'conv_0_0.conv_0.adn.A', 'conv_1_0', 'conv_1_0.max_pooling', 'conv_4_0.convs', 'upcat_2_2', 'upcat_2_2.upsample', 'upcat_2_2.upsample.deconv', 'final_conv_0_3']
      .map((n) => types.get(n))).toEqual(['TwoConv', 'LeakyReLU', 'Down', 'MaxPool3d', 'TwoConv', 'UpCat', 'UpSample', 'ConvTranspose3d', 'Conv3d']);
    expect(net.modules().filter((m) => m instanceof InstanceNorm3d)).toHaveLength(2 * (5 + 10));
    net.dispose();
  });

  it("a state dict in PyTorch's safetensors layout loads strictly", async () => {
    const net = small({ upsample: 'pixelshuffle' });
    const host = loadDistinctSafetensors(net, 3);
    for (const key of ['conv_3_0.convs.conv_1.adn.N.bias', 'upcat_1_3.upsample.pixelshuffle.conv_block.weight', 'final_conv_0_2.weight']) {
      expect(Array.from(await net.getParameter(key).toArray()), key).toEqual(Array.from(host.get(key)!.data));
    }
    net.dispose();
  });

  it('act, norm, bias and dropout reach every Convolution', () => {
    const net = small({ act: 'relu', norm: 'batch', bias: false, dropout: 0.25 });
    expect(net.getSubmodule('upcat_1_3.convs.conv_1.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'BatchNorm3d'], ['D', 'Dropout'], ['A', 'ReLU']]);
    const dropouts = net.modules().filter((m) => m instanceof Dropout) as Dropout[];
    expect(dropouts).toHaveLength(2 * (5 + 10));
    expect(dropouts.every((d) => d.p === 0.25)).toBe(true);
    // the 3³ convolutions lose their bias; the deconvolutions and the heads keep theirs
    const biases = [...net.stateSpec().keys()].filter((k) => k.endsWith('.bias') && !k.includes('adn'));
    expect(biases).toEqual([
      ...['0_1', '1_1', '2_1', '3_1', '0_2', '1_2', '2_2', '0_3', '1_3', '0_4'].map((n) => `upcat_${n}.upsample.deconv.bias`),
      'final_conv_0_1.bias', 'final_conv_0_2.bias', 'final_conv_0_3.bias', 'final_conv_0_4.bias',
    ]);
    net.dispose();
  });

  it('returns [head 4], or with deepSupervision the four heads, in training and in evaluation', () => {
    for (const deepSupervision of [false, true]) {
      const net = small({ deepSupervision, outChannels: 3 });
      const x = randn([1, 1, 16, 16, 33], 1, { backend: cpu });
      for (const training of [true, false]) {
        net.train(training);
        const ys = noGrad(() => net.forward(x));
        expect(ys.map((y) => y.shape), `${deepSupervision} ${training}`).toEqual(Array(deepSupervision ? 4 : 1).fill([1, 3, 16, 16, 33]));
        dispose(ys);
      }
      x.dispose();
      net.dispose();
    }
  });

  it('without deepSupervision the first three heads get no gradient (registered, as MONAI\'s, but unused)', () => {
    const net = small({ features: [2, 2, 2, 2, 2, 2] });
    const x = randn([1, 1, 32, 16, 16], 2, { backend: cpu });
    const loss = tidy(() => net.forward(x)[0].sum());
    backward(loss);
    const missing = net.namedParameters().filter(([, p]) => p.grad === null).map(([n]) => n);
    expect(missing).toEqual(['final_conv_0_1.weight', 'final_conv_0_1.bias', 'final_conv_0_2.weight', 'final_conv_0_2.bias', 'final_conv_0_3.weight', 'final_conv_0_3.bias']);
    dispose([x, loss]);
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = small(), twoChannels = small({ inChannels: 2 });
    const before = memory().liveTensors;
    const x = randn([1, 1, 16, 16, 8], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^BasicUNetPlusPlus: input \[1, 1, 16, 16, 8\]: each spatial size must be at least 16 \(four 2× max poolings\)$/);
    expect(() => twoChannels.forward(x)).toThrow(/^BasicUNetPlusPlus: input must be \[N, 2, D, H, W\], got \[1, 1, 16, 16, 8\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => small({ spatialDims: 2 as 3 })).toThrow(/^BasicUNetPlusPlus: only spatialDims 3 is supported, got 2$/);
    expect(() => small({ inChannels: 1.5 })).toThrow(/^BasicUNetPlusPlus: inChannels must be a positive integer, got 1.5$/);
    expect(() => small({ outChannels: 0 })).toThrow(/^BasicUNetPlusPlus: outChannels must be a positive integer, got 0$/);
    expect(() => small({ features: [2, 2, 2, 2, 2, 2, 2] })).toThrow(/^BasicUNetPlusPlus: features must be 6 positive integers \(five encoder levels, then the last decoder level\), got \[2,2,2,2,2,2,2\]$/);
    expect(() => small({ upsample: 'deconvgroup' as 'deconv' })).toThrow(/^BasicUNetPlusPlus: unknown upsample 'deconvgroup'; valid: deconv, nontrainable, pixelshuffle/);
    expect(() => small({ dropout: 1.5 })).toThrow(/^BasicUNetPlusPlus: dropout must be in \[0, 1\], got 1.5$/);
    expect(() => small({ act: 'swish' as 'relu' })).toThrow(/^BasicUNetPlusPlus: unknown act "swish"/);
    expect(() => small({ norm: 'layer' as 'batch' })).toThrow(/^BasicUNetPlusPlus: unknown norm "layer"/);
    expect(() => small({ deepSupervision: 1 as unknown as boolean })).toThrow(/^BasicUNetPlusPlus: deepSupervision must be a boolean, got 1$/);
    net.dispose();
    twoChannels.dispose();
  });
});

/** BasicUNetPlusPlus written out with the functional ops, reading the weights by their MONAI names (instance norm, LeakyReLU 0.1): every head */
function unetPlusPlusByHand(net: BasicUNetPlusPlus, x: Tensor): Tensor[] {
  const { two, upcat: node } = basicUNetBlocksByHand(net);
  const x00 = two(x, 'conv_0_0'), x10 = two(maxPool3d(x00, 2), 'conv_1_0.convs'), x20 = two(maxPool3d(x10, 2), 'conv_2_0.convs');
  const x30 = two(maxPool3d(x20, 2), 'conv_3_0.convs'), x40 = two(maxPool3d(x30, 2), 'conv_4_0.convs');
  const x01 = node(x10, [x00], 'upcat_0_1'), x11 = node(x20, [x10], 'upcat_1_1'), x21 = node(x30, [x20], 'upcat_2_1'), x31 = node(x40, [x30], 'upcat_3_1');
  const x02 = node(x11, [x00, x01], 'upcat_0_2'), x12 = node(x21, [x10, x11], 'upcat_1_2'), x22 = node(x31, [x20, x21], 'upcat_2_2');
  const x03 = node(x12, [x00, x01, x02], 'upcat_0_3'), x13 = node(x22, [x10, x11, x12], 'upcat_1_3');
  const x04 = node(x13, [x00, x01, x02, x03], 'upcat_0_4');
  return [x01, x02, x03, x04].map((t, j) => conv3d(t, net.getParameter(`final_conv_0_${j + 1}.weight`), net.getParameter(`final_conv_0_${j + 1}.bias`)));
}

describe('BasicUNetPlusPlus forward and backward (cpu)', () => {
  it.each(modes)("every head equals the network written out with the functional ops in float64, odd sizes replicate-padded (upsample '%s')", async (upsample) => {
    const net = small({ upsample, inChannels: 2, outChannels: 3, deepSupervision: true });
    await toFloat64(net);
    // [33, 16, 18] pools to [16, 8, 9], [8, 4, 4], [4, 2, 2], [2, 1, 1]: the level-1 nodes pad D, the level-2 nodes W
    const x = fromArray(randomArray(2 * 33 * 16 * 18, 5, -1, 1), [1, 2, 33, 16, 18], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => unetPlusPlusByHand(net, x))]);
    expect(got).toHaveLength(4);
    for (const [j, y] of got.entries()) {
      expect(y.shape).toEqual([1, 3, 33, 16, 18]);
      await expectSameAsWrittenOut(y, want[j], 1e-12);
    }
    // without deep supervision (the same seed, the same weights): the last head alone, the same values
    const last = small({ upsample, inChannels: 2, outChannels: 3 });
    await toFloat64(last);
    const alone = noGrad(() => last.forward(x));
    expect(alone).toHaveLength(1);
    await expectSameAsWrittenOut(alone[0], want[3], 1e-12);
    dispose([x, got, want, alone]);
    net.dispose();
    last.dispose();
  });

  it("the gradient with respect to the input through every head passes a float64 gradient check along two random directions, odd sizes padded (upsample 'nontrainable')", async () => {
    const net = new AllHeads(small({ upsample: 'nontrainable', features: [2, 2, 2, 2, 3, 2], deepSupervision: true }));
    await expectDirectionalGradcheck(net, [1, 1, 16, 16, 33], 2);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the deep-supervision cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ellipsoidSegmentation();
    const net = small({ features: [2, 2, 2, 2, 2, 2], deepSupervision: true, seed: 11 });
    const lossOf = () => tidy(() => net.forward(image).map((y) => crossEntropy(y, target)).reduce((a, b) => add(a, b)));
    const losses = await adamLosses(net, lossOf, 4, 0.03);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
