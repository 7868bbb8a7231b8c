import { describe, expect, it } from 'vitest';
import { backward, batchNorm, concat, conv3d, convTranspose3d, interpolate, noGrad, pad, relu } from '../../src/autograd/index.js';
import {
  Adam, EfficientNet, EfficientNetBNFeatures, FlexUNet, FlexibleUNet, ResNet, UNetDecoder, crossEntropy, flexUNetBackbones, resNetFeatures,
  type FlexUNetCustomBackbone, type FlexibleUNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import {
  ballSegmentation, expectDirectionalGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors,
} from '../helpers/model-checks.js';

/**
 * MONAI's FlexibleUNet (monai/networks/nets/flexible_unet.py): the parameter counts of efficientnet-b0 and resnet10
 * backbones derived by formula, state-dict keys in MONAI's order, output shapes of every option, the errors, the
 * forward against the decoder written out with the functional ops (float64), a float64 gradient check and a few
 * training steps. The named backbones are full size (millions of parameters, slow on the cpu backend): the forward
 * checks use backbones of one's own (MONAI's register_class), a tiny EfficientNet and a tiny ResNet.
 */

/** a tiny EfficientNet: stacks stride 1, 2, 2 after the stride-2 stem: three feature maps (/2, /4, /8) of 3, 4, 4 channels */
const tinyEfficientNet: FlexUNetCustomBackbone = {
  name: 'tiny-efficientnet',
  featureChannels: [3, 4, 4],
  build: ({ inChannels, seed, backend }) => new EfficientNet({
    blocksArgsStr: ['r1_k3_s11_e1_i32_o24_se0.25', 'r2_k3_s22_e2_i24_o32_se0.5', 'r1_k5_s22_e3_i32_o32_se0.25_noskip'],
    inChannels, numClasses: 2, widthCoefficient: 0.125, depthDivisor: 1, imageSize: 16, dropConnectRate: 0, dropoutRate: 0, seed, backend,
  }),
};

/** a tiny ResNet as MONAI's ResNetFeatures: conv1 with stride 2, five feature maps (/2, /4, /8, /16, /32) of 2, 2, 3, 4, 4 channels */
const tinyResNet = (noMaxPool = false): FlexUNetCustomBackbone => ({
  name: 'tiny-resnet',
  featureChannels: [2, 2, 3, 4, 4],
  build: ({ inChannels, seed, backend }) => new ResNet({
    block: 'basic', layers: [1, 1, 1, 1], blockInplanes: [2, 3, 4, 4], nInputChannels: inChannels, conv1TSize: 3, conv1TStride: 2, feedForward: false,
    noMaxPool, seed, backend,
  }),
});

const tiny = (options: Partial<FlexibleUNetOptions> = {}): FlexibleUNet => new FlexibleUNet({
  inChannels: 1, outChannels: 2, backbone: tinyEfficientNet, decoderChannels: [4, 3, 2, 2, 2], seed: 3, backend: cpu, ...options,
});

describe('FlexibleUNet structure', () => {
  it("FlexibleUNet(1 → 2, efficientnet-b0) has MONAI's 11 091 846 parameters", () => {
    // encoder: EfficientNetBN-b0's 5 971 108 (see efficientnet.test.ts) with 1 input channel instead of 3 (−2·32·27):
    // 5 969 380, head and fc included. Decoder (decoder_channels 256, 128, 64, 32, 16; batch norm, no conv bias),
    // UpCat(in a, skip s, out o): preconv a → a/2 with bias (a²/2 + a/2) where the channels halve, then
    // TwoConv 27(s + u)o + 2o + 27o² + 2o with u the upsampled channels:
    //   320, 112 → 256: 51 360 + 3 650 560; 256, 40 → 128: 32 896 + 1 023 488; 128, 24 → 64: 8 256 + 262 912;
    //   64, 16 → 32: 2 080 + 69 248; 32, none → 16 (no halving, no preconv): 20 800; decoder 5 121 600.
    // segmentation head 3³ 16 → 2 with bias: 866. Sum 11 091 846.
    const net = new FlexibleUNet({ inChannels: 1, outChannels: 2, backbone: 'efficientnet-b0', backend: cpu });
    expect(net.numParameters()).toBe(11_091_846);
    expect(net.encoder).toBeInstanceOf(EfficientNetBNFeatures);
    expect([net.skipConnect, net.backbone]).toEqual([4, 'efficientnet-b0']);
    const keys = [...net.stateSpec().keys()];
    expect(keys.slice(0, 2)).toEqual(['encoder._conv_stem.weight', 'encoder._bn0.weight']);
    expect(keys.filter((k) => k.startsWith('decoder.blocks.4.'))[0]).toBe('decoder.blocks.4.convs.conv_0.conv.weight');
    expect(keys.slice(-2)).toEqual(['segmentation_head.0.weight', 'segmentation_head.0.bias']);
    net.dispose();
  });

  it("FlexibleUNet(1 → 2, resnet10) has MONAI's 21 631 554 parameters (MedicalNet's resnet10: shortcut 'B' without bias)", () => {
    // encoder: resnet10 (see resnet.test.ts: 14 357 442 with fc 512·2 + 2 and shortcut biases 128 + 256 + 512), without
    // both: 14 355 520. Decoder (features 64, 64, 128, 256, 512): 512, 256 → 256: 131 328 + 5 309 440;
    // 256, 128 → 128: 32 896 + 1 327 616; 128, 64 → 64: 8 256 + 332 032; 64, 64 → 32: 2 080 + 110 720; 32 → 16: 20 800;
    // decoder 7 275 168; head 866. Sum 21 631 554.
    const net = new FlexibleUNet({ inChannels: 1, outChannels: 2, backbone: 'resnet10', backend: cpu });
    expect(net.numParameters()).toBe(21_631_554);
    const encoder = net.encoder as ResNet;
    expect([encoder.conv1.stride, encoder.conv1.kernelSize, encoder.fc]).toEqual([[2, 2, 2], [7, 7, 7], null]);
    const keys = [...net.stateSpec().keys()];
    expect(keys.filter((k) => k.includes('downsample.0'))).toEqual(['encoder.layer2.0.downsample.0.weight', 'encoder.layer3.0.downsample.0.weight', 'encoder.layer4.0.downsample.0.weight']);
    expect(keys.slice(0, 2)).toEqual(['encoder.conv1.weight', 'encoder.bn1.weight']);
    net.dispose();
    // MONAI's MedicalNet configurations: resnet18 and 34 shortcut 'A' (no downsample module), 50 … 200 bottlenecks
    expect(flexUNetBackbones).toEqual([
      'efficientnet-b0', 'efficientnet-b1', 'efficientnet-b2', 'efficientnet-b3', 'efficientnet-b4', 'efficientnet-b5', 'efficientnet-b6',
      'efficientnet-b7', 'efficientnet-b8', 'efficientnet-l2', 'resnet10', 'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnet200']);
    expect(() => resNetFeatures('resnet11' as 'resnet10')).toThrow(/^resNetFeatures: invalid modelName 'resnet11', must be one of resnet10, .*resnet200$/);
  });

  it("the state-dict keys, their order and shapes are MONAI's (encoder, decoder.blocks.i.upsample/convs, segmentation_head); loads strictly", () => {
    const net = tiny();
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const twoConv = (p: string, a: number, b: number): [string, number[]][] => [
      [`${p}.conv_0.conv.weight`, [b, a, 3, 3, 3]], ...bn(`${p}.conv_0.adn.N`, b), [`${p}.conv_1.conv.weight`, [b, b, 3, 3, 3]], ...bn(`${p}.conv_1.adn.N`, b),
    ];
    const encoder = tinyEfficientNet.build({ inChannels: 1, seed: 0, backend: cpu });
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...[...encoder.stateSpec()].map(([k, v]) => [`encoder.${k}`, v.shape]),
      // features 3, 4, 4; decoder 4, 3, 2: block 0 upsamples 4 → 2 beside the skip of 4, block 1 4 → 2 beside 3, block 2 3 alone
      ['decoder.blocks.0.upsample.preconv.weight', [2, 4, 1, 1, 1]], ['decoder.blocks.0.upsample.preconv.bias', [2]], ...twoConv('decoder.blocks.0.convs', 6, 4),
      ['decoder.blocks.1.upsample.preconv.weight', [2, 4, 1, 1, 1]], ['decoder.blocks.1.upsample.preconv.bias', [2]], ...twoConv('decoder.blocks.1.convs', 5, 3),
      ...twoConv('decoder.blocks.2.convs', 3, 2),
      ['segmentation_head.0.weight', [2, 2, 3, 3, 3]], ['segmentation_head.0.bias', [2]],
    ]);
    const modules = new Map(net.namedModules().map(([n, m]) => [n, m.typeName]));
    expect(['decoder', 'decoder.blocks', 'decoder.blocks.2', 'segmentation_head.1', 'segmentation_head.2', 'decoder.blocks.0.upsample.upsample_non_trainable']
      .map((n) => modules.get(n))).toEqual(['UNetDecoder', 'ModuleList', 'UpCat', 'Identity', 'Identity', 'Upsample']);
    expect(net.getSubmodule('decoder.blocks.0.upsample.upsample_non_trainable').extraRepr()).toBe("scale_factor=(2.0, 2.0, 2.0), mode='nearest'");
    // decoderBias: a bias per decoder 3³ convolution; MONAI's alias FlexUNet
    const biased = new FlexUNet({ inChannels: 1, outChannels: 2, backbone: tinyEfficientNet, decoderChannels: [4, 3, 2], decoderBias: true, seed: 3, backend: cpu });
    expect(biased.numParameters() - net.numParameters()).toBe(2 * (4 + 3 + 2));
    expect(loadDistinctSafetensors(net, 5).size).toBe(net.stateSpec().size);
    for (const m of [net, encoder, biased]) m.dispose();
  });

  it('output shapes of every option: upsampling modes, preConv null, linear interpolation, isPad, five feature maps, odd sizes', () => {
    expectOutputShapes(tiny, [
      [{}, [2, 1, 16, 16, 16], [2, 2, 16, 16, 16]],
      // 8: features 4, 2, 1
      [{ upsample: 'deconv', outChannels: 3 }, [2, 1, 8, 8, 8], [2, 3, 8, 8, 8]],
      [{ upsample: 'pixelshuffle', inChannels: 2 }, [2, 2, 8, 8, 8], [2, 2, 8, 8, 8]],
      [{ preConv: null, interpMode: 'linear', norm: ['instance', { affine: true }], act: ['leakyrelu', { negativeSlope: 0.1 }], dropout: 0.2 }, [2, 1, 8, 8, 8], [2, 2, 8, 8, 8]],
      // 20: features 10, 5, 2 (the static padding of a 16 model), the upsampled 4 replicate-padded to the skip's 5
      [{}, [2, 1, 20, 20, 12], [2, 2, 20, 20, 12]],
      // five feature maps (16, 8, 4, 2, 1)
      [{ backbone: tinyResNet(), isPad: false }, [2, 1, 32, 32, 32], [2, 2, 32, 32, 32]],
    ]);
    // preConv null: nothing before the upsampling, whose channels then stay (4 + 4 → 4, 4 + 3 → 3)
    const noPre = tiny({ preConv: null });
    expect([...noPre.stateSpec().keys()].some((k) => k.includes('preconv'))).toBe(false);
    expect(noPre.getParameter('decoder.blocks.0.convs.conv_0.conv.weight').shape).toEqual([4, 8, 3, 3, 3]);
    expect(noPre.getParameter('decoder.blocks.1.convs.conv_0.conv.weight').shape).toEqual([3, 7, 3, 3, 3]);
    expect(tiny({ upsample: 'deconv' }).getParameter('decoder.blocks.0.upsample.deconv.weight').shape).toEqual([4, 2, 2, 2, 2]);
    expect(tiny({ interpMode: 'linear' }).getSubmodule('decoder.blocks.1.upsample.upsample_non_trainable').extraRepr()).toBe("scale_factor=(2.0, 2.0, 2.0), mode='trilinear'");
    noPre.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing; pretrained says how to load weights instead', () => {
    expect(() => tiny({ backbone: 'resnet11' as 'resnet10' })).toThrow(/^FlexibleUNet: invalid backbone 'resnet11', must be one of efficientnet-b0, .*, resnet200$/);
    expect(() => tiny({ backbone: 'resnet10', pretrained: true })).toThrow(/^FlexibleUNet: pretrained resnet10 weights cannot be downloaded here; .*loadHostStateDict/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^FlexibleUNet: only spatialDims 3 is supported \(MONAI's default 2 is not offered\), got 2$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^FlexibleUNet: inChannels must be a positive integer, got 0$/);
    expect(() => tiny({ outChannels: 1.5 })).toThrow(/^FlexibleUNet: outChannels must be a positive integer, got 1\.5$/);
    expect(() => tiny({ upsample: 'deconvgroup' as 'deconv' })).toThrow(/^FlexibleUNet: unknown upsample 'deconvgroup'; valid: deconv, nontrainable, pixelshuffle$/);
    expect(() => tiny({ preConv: 'conv' as 'default' })).toThrow(/^FlexibleUNet: preConv must be 'default' or null, got "conv"$/);
    expect(() => tiny({ preConv: null, upsample: 'pixelshuffle' })).toThrow(/^FlexibleUNet: preConv null is not offered with upsample 'pixelshuffle'/);
    expect(() => tiny({ interpMode: 'bicubic' as 'linear' })).toThrow(/^FlexibleUNet: unknown interpMode 'bicubic'; valid: nearest, linear$/);
    expect(() => tiny({ dropout: 2 })).toThrow(/^FlexibleUNet: dropout must be in \[0, 1\], got 2$/);
    expect(() => tiny({ act: 'swish' as 'relu' })).toThrow(/^FlexibleUNet: unknown act "swish"/);
    expect(() => tiny({ decoderChannels: [4, 0, 2] })).toThrow(/^FlexibleUNet: decoderChannels must be positive integers, got \[4,0,2\]$/);
    expect(() => tiny({ decoderChannels: [4, 3] })).toThrow(/^UNetDecoder: decoderChannels needs 3 entries \(one per encoder feature map\), got 2$/);
    expect(() => tiny({ backbone: { ...tinyEfficientNet, featureChannels: [1, 2, 3, 4, 5, 6] } })).toThrow(
      /^FlexibleUNet: backbone 'tiny-efficientnet' must have 1 to 5 feature maps of positive integer channels, got \[1, 2, 3, 4, 5, 6\]$/);
    expect(() => new UNetDecoder([4], [], 'nontrainable', {}, { act: 'relu', norm: 'batch', bias: false, dropout: 0, seed: 0, backend: cpu }))
      .toThrow(/^UNetDecoder: encoderChannels needs at least 2 entries, got 1$/);
    const net = tiny(), unpadded = tiny({ isPad: false }), resnet = tiny({ backbone: tinyResNet() }).eval();
    const flat = tiny({ backbone: tinyResNet(true) }), lying = tiny({ backbone: { ...tinyResNet(), featureChannels: [2, 2, 3] } });
    const before = memory().liveTensors;
    const x = rand([1, 2, 16, 16, 16], 1, { backend: cpu }), y = rand([2, 1, 40, 32, 32], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^FlexibleUNet: input must be \[N, 1, D, H, W\], got \[1, 2, 16, 16, 16\]$/);
    expect(() => unpadded.forward(y)).toThrow(/^FlexibleUNet: input \[2, 1, 40, 32, 32\]: without isPad each spatial size must be a multiple of 32$/);
    // without the max pool, conv1 and layer1 are the same size: the skips do not halve (MONAI fails in torch.cat); a
    // ResNet's strided convolutions round odd sizes up (17 → 9), which no padding of the upsampled 8 → 18 can match
    const odd = rand([1, 1, 34, 32, 32], 1, { backend: cpu });
    expect(() => resnet.forward(odd)).toThrow(/^FlexibleUNet: input \[1, 1, 34, 32, 32\]: the tiny-resnet encoder's feature sizes \[17, 16, 16\], \[9, 8, 8\], .* do not halve step by step \(give each spatial size a multiple of 32\)$/);
    odd.dispose();
    expect(() => flat.forward(y)).toThrow(/^FlexibleUNet: input \[2, 1, 40, 32, 32\]: the tiny-resnet encoder's feature sizes \[20, 16, 16\], \[20, 16, 16\], .* do not halve step by step/);
    expect(() => lying.forward(y)).toThrow(/^FlexibleUNet: the tiny-resnet encoder gave 5 feature maps, its backbone declares 3$/);
    dispose([x, y]);
    expect(memory().liveTensors).toBe(before);
    for (const m of [net, unpadded, flat, lying, resnet]) m.dispose();
  });
});

/** FlexibleUNet's decoder and head written out with the functional ops from MONAI's description (evaluation: running statistics) */
function decoderByHand(net: FlexibleUNet, features: Tensor[], mode: 'nearest' | 'linear'): Tensor {
  const w = (key: string) => net.getParameter(key);
  const bn = (t: Tensor, key: string) => batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`), { eps: 1e-3 });
  const twoConv = (t: Tensor, p: string) => {
    const a = relu(bn(conv3d(t, w(`${p}.conv_0.conv.weight`), null, { padding: 1 }), `${p}.conv_0.adn.N`));
    return relu(bn(conv3d(a, w(`${p}.conv_1.conv.weight`), null, { padding: 1 }), `${p}.conv_1.adn.N`));
  };
  const up = (t: Tensor) => interpolate(t, mode === 'nearest' ? { scaleFactor: 2, mode: 'nearest' } : { scaleFactor: 2, mode: 'trilinear', alignCorners: false });
  const preconv = (t: Tensor, p: string) => conv3d(t, w(`${p}.preconv.weight`), w(`${p}.preconv.bias`));
  // the upsampled feature replicate-padded at the end of each axis where the skip is one larger
  const fit = (u: Tensor, skip: Tensor) => pad(u, [4, 3, 2].flatMap((a) => [0, skip.shape[a] - u.shape[a]]), { mode: 'replicate' });
  const [f0, f1, f2] = features;
  let y = twoConv(concat([f1, fit(up(preconv(f2, 'decoder.blocks.0.upsample')), f1)], 1), 'decoder.blocks.0.convs');
  y = twoConv(concat([f0, fit(up(preconv(y, 'decoder.blocks.1.upsample')), f0)], 1), 'decoder.blocks.1.convs');
  y = twoConv(up(y), 'decoder.blocks.2.convs');
  return conv3d(y, w('segmentation_head.0.weight'), w('segmentation_head.0.bias'), { padding: 1 });
}

describe('FlexibleUNet forward and backward (cpu)', () => {
  it.each([['nearest', 16], ['linear', 20]] as const)('equals the encoder\'s features through the decoder written out with preconv, %s upsampling, replicate padding, concat, two conv-norm-relu and the head (float64, side %d)', async (interpMode, side) => {
    const net = tiny({ interpMode });
    const x = randn([2, 1, side, side, side], 5, { backend: cpu });
    // a training forward moves the running statistics away from 0 and 1
    noGrad(() => net.forward(x)).dispose();
    net.eval();
    await toFloat64(net);
    const x64 = fromArray(await x.toArray(), x.shape, { dtype: 'float64', backend: cpu });
    const [got, want] = noGrad(() => [net.forward(x64), tidy(() => decoderByHand(net, net.encoder.features(x64), interpMode))]);
    expect(got.shape).toEqual([2, 2, side, side, side]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, x64, got, want]);
    net.dispose();
  });

  it('the deconv decoder is a 2³ stride-2 transposed convolution to half the channels (block 0 written out)', async () => {
    const net = tiny({ upsample: 'deconv' }).eval();
    const f = randn([2, 4, 2, 2, 2], 6, { backend: cpu });
    const block = net.decoder.blocks.at(0);
    const [got, want] = noGrad(() => [block.upsample.forward(f),
      convTranspose3d(f, net.getParameter('decoder.blocks.0.upsample.deconv.weight'), net.getParameter('decoder.blocks.0.upsample.deconv.bias'), { stride: 2 })]);
    await expectSameAsWrittenOut(got, want, 1e-6);
    dispose([f, got, want]);
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (batch statistics)', async () => {
    const net = tiny();
    await expectDirectionalGradcheck(net, [2, 1, 16, 16, 16], 3);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the loss of segmenting a ball; every parameter but the encoder head gets a gradient', async () => {
    const { image, target } = ballSegmentation(16);
    const net = tiny({ seed: 11 });
    // MONAI's EfficientNet encoder registers its classification head and fc, which the features do not use: frozen here
    for (const [name, p] of net.namedParameters()) if (/^encoder\.(_conv_head|_bn1|_fc)\./.test(name)) p.requiresGrad = false;
    const trainable = net.parameters().filter((p) => p.requiresGrad);
    expect(net.numParameters() - trainable.reduce((n, p) => n + p.numel(), 0)).toBe(4 * 160 + 2 * 160 + 160 * 2 + 2);
    const live = memory().liveTensors;
    const probe = tidy(() => crossEntropy(net.forward(image), target));
    backward(probe);
    probe.dispose();
    expect(trainable.every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(memory().liveTensors).toBe(live);
    const opt = new Adam(trainable, { lr: 0.01 });
    const losses: number[] = [];
    for (let step = 0; step < 5; step++) {
      const loss = tidy(() => crossEntropy(net.forward(image), target));
      backward(loss);
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      loss.dispose();
    }
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
