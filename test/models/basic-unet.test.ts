import { describe, expect, it } from 'vitest';
import { conv3d, maxPool3d, noGrad } from '../../src/autograd/index.js';
import {
  BasicUNet, ConstantPad3d, Dropout, InstanceNorm3d, LeakyReLU, MaxPool3d, Upsample, crossEntropy, pixelShuffle3d,
  type BasicUNetOptions, type BasicUNetUpsample,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { basicUNetBlocksByHand, ellipsoidSegmentation, twoConvKeys, upsampleKeys } from '../helpers/basic-unet-reference.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectSameAsWrittenOut, expectDirectionalGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's BasicUNet (monai/networks/nets/basic_unet.py): MONAI's parameter count and state-dict keys, the three
 * upsampling modes ('deconv', 'nontrainable', 'pixelshuffle' with its ICNR initialisation), options and their errors,
 * the forward against the network written out with the functional ops in float64 (odd sizes padded), a float64
 * gradient check and a few training steps.
 */

const small = (options: BasicUNetOptions = {}): BasicUNet => new BasicUNet({ features: [2, 3, 4, 5, 6, 2], seed: 3, backend: cpu, ...options });
const modes: BasicUNetUpsample[] = ['deconv', 'nontrainable', 'pixelshuffle'];

describe('BasicUNet structure', () => {
  it("MONAI's default configuration has 5 749 410 parameters", () => {
    // features (32, 32, 64, 128, 256, 32), in 1, out 2, biases, InstanceNorm3d(affine: 2c), LeakyReLU (none):
    // TwoConv(a→b) = (27ab + b + 2b) + (27b² + b + 2b) = 27ab + 27b² + 6b.
    // conv_0 1→32 28 704; down_1 32→32 55 488; down_2 32→64 166 272; down_3 64→128 664 320; down_4 128→256 2 655 744;
    // upcat_k (deconv 2³ in→in/2 with bias: 8·in·in/2 + in/2, then TwoConv(cat + in/2 → out)):
    //   upcat_4 256→128: 262 272 + TwoConv(256→128) 1 327 872 = 1 590 144; upcat_3 128→64: 65 600 + 332 160 = 397 760;
    //   upcat_2 64→32: 16 416 + 83 136 = 99 552; upcat_1 (halves false) 32→32: 8 224 + TwoConv(64→32) 83 136 = 91 360;
    // final_conv 1³ 32→2: 66.
    // Sum: 28 704 + 55 488 + 166 272 + 664 320 + 2 655 744 + 1 590 144 + 397 760 + 99 552 + 91 360 + 66 = 5 749 410.
    const net = new BasicUNet({ backend: cpu });
    expect(net.features).toEqual([32, 32, 64, 128, 256, 32]);
    expect([net.inChannels, net.outChannels, net.upsample]).toEqual([1, 2, 'deconv']);
    expect(net.numParameters()).toBe(5_749_410);
    net.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree, per upsampling mode", () => {
    const two = twoConvKeys, up = upsampleKeys;
    for (const mode of modes) {
      const net = small({ upsample: mode, inChannels: 2, outChannels: 3 });
      expect([...net.stateSpec()].map(([k, v]) => [k, v.shape]), mode).toEqual([
        ...two('conv_0', 2, 2), ...two('down_1.convs', 2, 3), ...two('down_2.convs', 3, 4), ...two('down_3.convs', 4, 5), ...two('down_4.convs', 5, 6),
        ...up(mode, 'upcat_4', 6, 3), ...two('upcat_4.convs', 5 + 3, 5),
        ...up(mode, 'upcat_3', 5, 2), ...two('upcat_3.convs', 4 + 2, 4),
        ...up(mode, 'upcat_2', 4, 2), ...two('upcat_2.convs', 3 + 2, 3),
        ...up(mode, 'upcat_1', 3, 3), ...two('upcat_1.convs', 2 + 3, 2),
        ['final_conv.weight', [3, 2, 1, 1, 1]], ['final_conv.bias', [3]],
      ]);
      net.dispose();
    }
    const net = small({ upsample: 'pixelshuffle' });
    const types = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['conv_0', 'conv_0.conv_0', 'conv_0.conv_0.adn', 'conv_0.conv_0.adn.N', 'conv_0.conv_0.adn.D', 'conv_0.conv_0.adn.A', 'down_1', 'down_1.max_pooling',
      'upcat_4', 'upcat_4.upsample', 'upcat_4.upsample.pixelshuffle', 'upcat_4.upsample.pixelshuffle.pad_pool.0', 'upcat_4.upsample.pixelshuffle.pad_pool.1', 'final_conv']
      .map((n) => types.get(n))).toEqual(['TwoConv', 'Convolution', 'ADN', 'InstanceNorm3d', 'Dropout', 'LeakyReLU', 'Down', 'MaxPool3d',
      'UpCat', 'UpSample', 'SubpixelUpsample', 'ConstantPad3d', 'AvgPool3d', 'Conv3d']);
    expect((net.getSubmodule('conv_0.conv_0.adn.A') as LeakyReLU).negativeSlope).toBe(0.1);
    expect((net.getSubmodule('down_1.max_pooling') as MaxPool3d).kernelSize).toEqual([2, 2, 2]);
    expect(String(net.getSubmodule('upcat_4.upsample.pixelshuffle.pad_pool.0') as ConstantPad3d)).toMatch(/^ConstantPad3d\(padding=\(1, 0, 1, 0, 1, 0\), value=0\.0\)/);
    const trilinear = small({ upsample: 'nontrainable' }).getSubmodule('upcat_4.upsample.upsample_non_trainable') as Upsample;
    expect(trilinear.options).toEqual({ scaleFactor: [2, 2, 2], mode: 'trilinear', alignCorners: true });
    const norms = net.modules().filter((m) => m instanceof InstanceNorm3d) as InstanceNorm3d[];
    expect(norms).toHaveLength(18);
    expect(norms.every((n) => n.weight !== null)).toBe(true);
    expect((net.getSubmodule('conv_0.conv_0.adn.D') as Dropout).p).toBe(0);
    net.dispose();
  });

  it("act, norm, bias and dropout reach every Convolution", () => {
    const net = small({ act: 'relu', norm: 'batch', bias: false, dropout: 0.25 });
    expect(net.getSubmodule('upcat_1.convs.conv_1.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'BatchNorm3d'], ['D', 'Dropout'], ['A', 'ReLU']]);
    expect(net.modules().filter((m) => m instanceof Dropout).every((d) => (d as Dropout).p === 0.25)).toBe(true);
    // the 3³ convolutions lose their bias; deconv and final_conv keep theirs (MONAI's UpSample and Conv defaults)
    const biases = [...net.stateSpec().keys()].filter((k) => k.endsWith('.bias') && !k.includes('adn'));
    expect(biases).toEqual(['upcat_4.upsample.deconv.bias', 'upcat_3.upsample.deconv.bias', 'upcat_2.upsample.deconv.bias', 'upcat_1.upsample.deconv.bias', 'final_conv.bias']);
    net.dispose();
  });

  it("pixelshuffle's ICNR initialisation: the eight sub-position kernels of each output channel are one He-normal kernel", async () => {
    const net = new BasicUNet({ features: [8, 8, 8, 8, 48, 8], upsample: 'pixelshuffle', seed: 5, backend: cpu });
    // upcat_4: 48 → 24 channels, conv_block [8·24, 48, 3, 3, 3]: channels 8c … 8c + 7 (pixel-shuffled into output channel c) equal
    const w = await net.getParameter('upcat_4.upsample.pixelshuffle.conv_block.weight').toArray();
    const size = 48 * 27;
    for (let o = 0; o < 8 * 24; o++) {
      const first = 8 * Math.floor(o / 8);
      for (let j = 0; j < size; j += 97) expect(w[o * size + j]).toBe(w[first * size + j]);
    }
    // kaiming_normal_ (fan_in 48·27, gain √2) over the 24 distinct kernels
    const distinct = Array.from({ length: 24 }, (_, c) => Array.from(w.slice(8 * c * size, (8 * c + 1) * size))).flat();
    const std = Math.sqrt(distinct.reduce((s, v) => s + v * v, 0) / distinct.length);
    expect(std / Math.sqrt(2 / size)).toBeCloseTo(1, 1);
    // and the 24 kernels are 24 draws, not one
    const kernel = (c: number) => Array.from(w.slice(8 * c * size, (8 * c + 1) * size));
    for (let c = 1; c < 24; c++) expect(kernel(c)).not.toEqual(kernel(c - 1));
    net.dispose();
  });

  it('pixelShuffle3d moves channel c·8 + 4i + 2j + k to (2d + i, 2h + j, 2w + k) of channel c', async () => {
    const [n, c, d, h, w] = [2, 16, 2, 3, 2];
    const x = fromArray(Float32Array.from({ length: n * c * d * h * w }, (_, i) => i), [n, c, d, h, w], { backend: cpu });
    const y = pixelShuffle3d(x, 2);
    expect(y.shape).toEqual([2, 2, 4, 6, 4]);
    const got = await y.toArray();
    const want = new Float32Array(got.length);
    for (let b = 0; b < n; b++) for (let oc = 0; oc < 2; oc++) for (let z = 0; z < 4; z++) for (let yy = 0; yy < 6; yy++) for (let xx = 0; xx < 4; xx++) {
      const ic = oc * 8 + (z % 2) * 4 + (yy % 2) * 2 + (xx % 2);
      want[(((b * 2 + oc) * 4 + z) * 6 + yy) * 4 + xx] = (((b * c + ic) * d + (z >> 1)) * h + (yy >> 1)) * w + (xx >> 1);
    }
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(() => pixelShuffle3d(fromArray([1, 2, 3, 4], [1, 4, 1, 1, 1], { backend: cpu }), 2)).toThrow(/^pixelShuffle3d: input must be \[N, C, D, H, W\] with C divisible by factor³ = 8, got \[1, 4, 1, 1, 1\]$/);
    dispose([x, y]);
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = small(), twoChannels = small({ inChannels: 2 });
    const before = memory().liveTensors;
    const x = randn([1, 1, 16, 15, 16], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^BasicUNet: input \[1, 1, 16, 15, 16\]: each spatial size must be at least 16 \(four 2× max poolings\)$/);
    expect(() => twoChannels.forward(x)).toThrow(/^BasicUNet: input must be \[N, 2, D, H, W\], got \[1, 1, 16, 15, 16\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => small({ spatialDims: 2 as 3 })).toThrow(/^BasicUNet: only spatialDims 3 is supported, got 2$/);
    expect(() => small({ inChannels: 0 })).toThrow(/^BasicUNet: inChannels must be a positive integer, got 0$/);
    expect(() => small({ outChannels: -1 })).toThrow(/^BasicUNet: outChannels must be a positive integer, got -1$/);
    expect(() => small({ features: [2, 2, 2, 2, 2] })).toThrow(/^BasicUNet: features must be 6 positive integers \(five encoder levels, then the last decoder level\), got \[2,2,2,2,2\]$/);
    expect(() => small({ features: [2, 2, 2, 0, 2, 2] })).toThrow(/^BasicUNet: features must be 6 positive integers/);
    expect(() => small({ upsample: 'deconvgroup' as 'deconv' })).toThrow(/^BasicUNet: unknown upsample 'deconvgroup'; valid: deconv, nontrainable, pixelshuffle \(MONAI's 'deconvgroup' is not offered\)$/);
    expect(() => small({ dropout: -0.1 })).toThrow(/^BasicUNet: dropout must be in \[0, 1\], got -0.1$/);
    expect(() => small({ act: 'mish' as 'relu' })).toThrow(/^BasicUNet: unknown act "mish"/);
    expect(() => small({ norm: 'layer' as 'batch' })).toThrow(/^BasicUNet: unknown norm "layer"/);
    net.dispose();
    twoChannels.dispose();
  });
});

/** BasicUNet written out with the functional ops, reading the weights by their MONAI names (instance norm, LeakyReLU 0.1) */
function basicUNetByHand(net: BasicUNet, x: Tensor): Tensor {
  const { two, upcat: nested } = basicUNetBlocksByHand(net);
  const upcat = (t: Tensor, encoded: Tensor, key: string) => nested(t, [encoded], key);
  const x0 = two(x, 'conv_0');
  const x1 = two(maxPool3d(x0, 2), 'down_1.convs'), x2 = two(maxPool3d(x1, 2), 'down_2.convs');
  const x3 = two(maxPool3d(x2, 2), 'down_3.convs'), x4 = two(maxPool3d(x3, 2), 'down_4.convs');
  const u1 = upcat(upcat(upcat(upcat(x4, x3, 'upcat_4'), x2, 'upcat_3'), x1, 'upcat_2'), x0, 'upcat_1');
  return conv3d(u1, net.getParameter('final_conv.weight'), net.getParameter('final_conv.bias'));
}

describe('BasicUNet forward and backward (cpu)', () => {
  it.each(modes)("equals the network written out with the functional ops in float64, odd sizes replicate-padded (upsample '%s')", async (upsample) => {
    const net = small({ upsample, inChannels: 2, outChannels: 3 });
    await toFloat64(net);
    // [33, 16, 18] pools to [16, 8, 9], [8, 4, 4], [4, 2, 2], [2, 1, 1]: upcat_2 pads W, upcat_1 pads D
    const x = fromArray(randomArray(2 * 33 * 16 * 18, 5, -1, 1), [1, 2, 33, 16, 18], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => basicUNetByHand(net, x))]);
    expect(got.shape).toEqual([1, 3, 33, 16, 18]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it.each(['nontrainable', 'pixelshuffle'] as const)("the gradient with respect to the input passes a float64 gradient check along four random directions, odd sizes padded (upsample '%s')", async (upsample) => {
    const net = small({ upsample, features: [2, 2, 2, 2, 3, 2] });
    await expectDirectionalGradcheck(net, [1, 1, 33, 16, 17], 4);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ellipsoidSegmentation();
    const net = small({ features: [2, 2, 2, 2, 2, 2], seed: 11 });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 6);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
