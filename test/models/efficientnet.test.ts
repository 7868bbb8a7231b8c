import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool3d, add, batchNorm, conv3d, flatten, matmul, mul, noGrad, pad, sigmoid, transpose,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, ConstantPad3d, EfficientNet, EfficientNetBN, EfficientNetBNFeatures, Identity, MBConvBlock, Sequential,
  blockArgsFromString, blockArgsToString, crossEntropy, dropConnect, efficientnetBlocksArgs, efficientnetParams, getEfficientnetImageSize,
  roundFilters, roundRepeats, type EfficientNetModelName, type EfficientNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, full, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { adamLosses, blobClassification, expectDirectionalGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors } from '../helpers/model-checks.js';
import { toFloat64 } from '../helpers/float64-model.js';

/**
 * MONAI's EfficientNet (monai/networks/nets/efficientnet.py): block strings, MONAI's scaling of filters and repeats,
 * the parameter count of EfficientNetBN-b0 derived by formula, state-dict keys in MONAI's order, the static 'SAME'
 * padding, MONAI's initialisation, options and their errors, the forward against the network written out with the
 * functional ops (float64), drop-connect, a float64 gradient check and a few training steps.
 */

// width 1/8 with divisor 1: stem 32 → 4, head 1280 → 160; stacks i32 o24 → 4 → 3, i24 o32 → 3 → 4 (2 repeats), i32 o32 → 4 → 4 (k5, no skip)
const tinyArgs = ['r1_k3_s11_e1_i32_o24_se0.25', 'r2_k3_s22_e2_i24_o32_se0.5', 'r1_k5_s22_e3_i32_o32_se0.25_noskip'];
const tiny = (options: Partial<EfficientNetOptions> = {}): EfficientNet => new EfficientNet({
  blocksArgsStr: tinyArgs, inChannels: 1, numClasses: 3, widthCoefficient: 0.125, depthDivisor: 1, imageSize: 16, seed: 3, backend: cpu, ...options,
});

describe('EfficientNet structure', () => {
  it('block strings decode as MONAI\'s BlockArgs.from_string and encode back; bad ones are refused by name', () => {
    expect(blockArgsFromString('r2_k5_s22_e6_i24_o40_se0.25')).toEqual({
      numRepeat: 2, kernelSize: 5, stride: 2, expandRatio: 6, inputFilters: 24, outputFilters: 40, idSkip: true, seRatio: 0.25,
    });
    expect(blockArgsFromString('r1_k3_s1_e1_i32_o16_noskip')).toMatchObject({ stride: 1, idSkip: false, seRatio: null });
    expect(blockArgsToString(blockArgsFromString('r4_k5_s222_e6_i112_o192_se0.25_noskip'))).toBe('r4_k5_s22_e6_i112_o192_se0.25_noskip');
    expect(blockArgsToString(blockArgsFromString('r1_k3_s11_e1_i32_o16_se1'))).toBe('r1_k3_s11_e1_i32_o16_se1.0');
    expect(() => blockArgsFromString('r1_k3_s12_e1_i32_o16')).toThrow(/^blockArgsFromString: 'r1_k3_s12_e1_i32_o16': invalid stride option 's12'/);
    expect(() => blockArgsFromString('r1_k3_e1_i32_o16')).toThrow(/invalid stride option 's'/);
    expect(() => blockArgsFromString('r1_s11_e1_i32_o16')).toThrow(/^blockArgsFromString: 'r1_s11_e1_i32_o16' needs the kernel size as k<integer>$/);
    expect(() => blockArgsFromString('r1_k3_s11_e1_i32_o16_sex')).not.toThrow();
    expect(() => blockArgsFromString('r1_k3_s11_e1_i32_o16_se0.2.5')).toThrow(/invalid se option 'se0\.2\.5'/);
  });

  it("MONAI's filter and repeat scaling gives its encoder channels for b0 … l2 (EfficientNetEncoder.num_channels_per_output)", () => {
    const monai: Record<EfficientNetModelName, number[]> = {
      'efficientnet-b0': [16, 24, 40, 112, 320], 'efficientnet-b1': [16, 24, 40, 112, 320], 'efficientnet-b2': [16, 24, 48, 120, 352],
      'efficientnet-b3': [24, 32, 48, 136, 384], 'efficientnet-b4': [24, 32, 56, 160, 448], 'efficientnet-b5': [24, 40, 64, 176, 512],
      'efficientnet-b6': [32, 40, 72, 200, 576], 'efficientnet-b7': [32, 48, 80, 224, 640], 'efficientnet-b8': [32, 56, 88, 248, 704],
      'efficientnet-l2': [72, 104, 176, 480, 1376],
    };
    for (const [name, channels] of Object.entries(monai)) {
      const [width] = efficientnetParams[name as EfficientNetModelName];
      expect([16, 24, 40, 112, 320].map((f) => roundFilters(f, width, 8)), name).toEqual(channels);
    }
    // repeats [1, 2, 2, 3, 3, 4, 1] scaled by ⌈d · r⌉: b0 16 blocks, b7 (d 3.1) 4 + 7 + 7 + 10 + 10 + 13 + 4 = 55
    const repeats = (d: number) => efficientnetBlocksArgs.map((s) => roundRepeats(blockArgsFromString(s).numRepeat, d)).reduce((a, b) => a + b, 0);
    expect([repeats(1), repeats(efficientnetParams['efficientnet-b7'][1])]).toEqual([16, 55]);
    // 16 · 1.1 = 17.6 rounds to 16 (≥ 0.9 · 17.6); 24 · 0.25 = 6 to 8 (the divisor is the floor); the 10 % rule: 20 with
    // divisor 16 rounds to 16 < 18, so 32; width 0 leaves the filters
    expect([roundFilters(16, 1.1, 8), roundFilters(24, 0.25, 8), roundFilters(20, 1, 16), roundFilters(7, 0, 8)]).toEqual([16, 8, 32, 7]);
    expect(getEfficientnetImageSize('efficientnet-b3')).toBe(300);
    expect(() => getEfficientnetImageSize('efficientnet-b9' as EfficientNetModelName)).toThrow(/^getEfficientnetImageSize: invalid modelName 'efficientnet-b9', must be one of efficientnet-b0, .*efficientnet-l2$/);
  });

  it("EfficientNetBN('efficientnet-b0') (3-D, MONAI's defaults: 3 input channels, 1000 classes) has 5 971 108 parameters", () => {
    // MBConv(a → b, kernel k, expansion e, SE 0.25), o = a·e, s = max(1, ⌊a/4⌋), batch norms 2 per channel:
    //   expansion (e ≠ 1) a·o + 2o; depthwise o·k³ + 2o; SE o·s + s + s·o + o; projection o·b + 2b.
    // stem 3³ 3→32: 2 592 + 64; stacks (first block, then the repeats at b → b):
    //   0: 32→16 k3 e1 2 024; 1: 16→24 k3 7 732 + 13 302; 2: 24→40 k5 29 750 + 55 290; 3: 40→80 k3 41 450 + 2 × 111 540;
    //   4: 80→112 k5 174 004 + 2 × 275 772; 5: 112→192 k5 329 692 + 3 × 703 152; 6: 192→320 k3 737 968;
    // head 1³ 320→1280 409 600 + 2 560; fc 1280·1000 + 1000: sum 5 971 108.
    const net = new EfficientNetBN({ modelName: 'efficientnet-b0', backend: cpu });
    expect(net.numParameters()).toBe(5_971_108);
    expect(net.blocks.children().map((s) => s.children().length)).toEqual([1, 2, 2, 3, 3, 4, 1]);
    // the blocks of a stack are named by their index over the network; block 0 (expansion 1) has no _expand_conv
    const keys = [...net.stateSpec().keys()];
    expect(keys.filter((k) => k.endsWith('_depthwise_conv.weight')).map((k) => k.split('.').slice(1, 3).join('.'))).toEqual([
      '0.0', '1.1', '1.2', '2.3', '2.4', '3.5', '3.6', '3.7', '4.8', '4.9', '4.10', '5.11', '5.12', '5.13', '5.14', '6.15']);
    expect(keys.filter((k) => k.startsWith('_blocks.0.0.'))).not.toContain('_blocks.0.0._expand_conv.weight');
    // static 'SAME' padding for 224: the stem pads (0, 1), the k5 stride-2 depthwise of stack 2 at 56: 3 → (1, 2), 1³ convs none
    expect((net.getSubmodule('_conv_stem_padding') as ConstantPad3d).padding).toEqual([0, 1, 0, 1, 0, 1]);
    expect((net.getSubmodule('_blocks.2.3._depthwise_conv_padding') as ConstantPad3d).padding).toEqual([1, 2, 1, 2, 1, 2]);
    expect((net.getSubmodule('_blocks.2.4._depthwise_conv_padding') as ConstantPad3d).padding).toEqual([2, 2, 2, 2, 2, 2]);
    expect(net.getSubmodule('_blocks.2.4._project_conv_padding')).toBeInstanceOf(Identity);
    // MONAI's batch norm: eps 1e-3, momentum 0.01; drop-connect 0.2 · index / 16
    expect((net.getSubmodule('_bn0') as BatchNorm3d).extraRepr()).toBe('32, eps=0.001, momentum=0.01, affine=True, track_running_stats=True');
    expect((net.getSubmodule('_blocks.5.12') as MBConvBlock).dropConnectRate).toBeCloseTo(0.2 * 12 / 16, 12);
    // EfficientNetBNFeatures: the same network and state dict (head and _fc included, unused)
    const features = new EfficientNetBNFeatures({ modelName: 'efficientnet-b0', backend: cpu });
    expect([features.featureChannels, features.modelName, features.extractStacks]).toEqual([[16, 24, 40, 112, 320], 'efficientnet-b0', [1, 2, 3, 5, 7]]);
    expect([...features.stateSpec().keys()]).toEqual(keys);
    for (const m of [net, features]) m.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree; a state dict in PyTorch's layout loads strictly", () => {
    const net = tiny();
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const block = (p: string, a: number, b: number, k: number, e: number, s: number): [string, number[]][] => {
      const o = a * e;
      return [
        ...(e !== 1 ? [[`${p}._expand_conv.weight`, [o, a, 1, 1, 1]], ...bn(`${p}._bn0`, o)] as [string, number[]][] : []),
        [`${p}._depthwise_conv.weight`, [o, 1, k, k, k]], ...bn(`${p}._bn1`, o),
        [`${p}._se_reduce.weight`, [s, o, 1, 1, 1]], [`${p}._se_reduce.bias`, [s]], [`${p}._se_expand.weight`, [o, s, 1, 1, 1]], [`${p}._se_expand.bias`, [o]],
        [`${p}._project_conv.weight`, [b, o, 1, 1, 1]], ...bn(`${p}._bn2`, b),
      ];
    };
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['_conv_stem.weight', [4, 1, 3, 3, 3]], ...bn('_bn0', 4),
      ...block('_blocks.0.0', 4, 3, 3, 1, 1), ...block('_blocks.1.1', 3, 4, 3, 2, 1), ...block('_blocks.1.2', 4, 4, 3, 2, 2),
      ...block('_blocks.2.3', 4, 4, 5, 3, 1),
      ['_conv_head.weight', [160, 4, 1, 1, 1]], ...bn('_bn1', 160), ['_fc.weight', [3, 160]], ['_fc.bias', [3]],
    ]);
    const modules = new Map(net.namedModules().map(([n, m]) => [n, m.typeName]));
    expect([...modules.keys()].filter((n) => n.startsWith('_blocks.1.1.'))).toEqual([
      '_blocks.1.1._expand_conv', '_blocks.1.1._expand_conv_padding', '_blocks.1.1._bn0', '_blocks.1.1._depthwise_conv',
      '_blocks.1.1._depthwise_conv_padding', '_blocks.1.1._bn1', '_blocks.1.1._se_adaptpool', '_blocks.1.1._se_reduce',
      '_blocks.1.1._se_reduce_padding', '_blocks.1.1._se_expand', '_blocks.1.1._se_expand_padding', '_blocks.1.1._project_conv',
      '_blocks.1.1._project_conv_padding', '_blocks.1.1._bn2', '_blocks.1.1._swish']);
    expect([...modules].filter(([n]) => !n.includes('.'))).toEqual([
      ['', 'EfficientNet'], ['_conv_stem', 'Conv3d'], ['_conv_stem_padding', 'ConstantPad3d'], ['_bn0', 'BatchNorm3d'], ['_blocks', 'Sequential'],
      ['_conv_head', 'Conv3d'], ['_conv_head_padding', 'Identity'], ['_bn1', 'BatchNorm3d'], ['_avg_pooling', 'AdaptiveAvgPool3d'],
      ['_dropout', 'Dropout'], ['_fc', 'Linear'], ['_swish', 'SiLU']]);
    // expansion 1: Identity in the three expansion slots, as MONAI's
    expect(['_expand_conv', '_expand_conv_padding', '_bn0'].map((n) => modules.get(`_blocks.0.0.${n}`))).toEqual(['Identity', 'Identity', 'Identity']);
    // se ratio outside (0, 1] and a depth coefficient: no SE modules, ⌈1.5 · 2⌉ = 3 blocks in stack 1
    const plain = tiny({ blocksArgsStr: ['r1_k3_s11_e1_i32_o24_se0', 'r2_k3_s22_e2_i24_o32'], depthCoefficient: 1.5 });
    expect([...plain.stateSpec().keys()].some((k) => k.includes('_se_'))).toBe(false);
    expect(plain.blocks.children().map((s) => s.children().length)).toEqual([2, 3]);
    expect(loadDistinctSafetensors(net, 4).size).toBe(net.stateSpec().size);
    for (const m of [net, plain]) m.dispose();
  });

  it("MONAI's (TensorFlow's) initialisation, seeded by module path: conv N(0, 2/fan_out), conv biases 0, fc U(±1/√classes), bias 0, norms 1 and 0", async () => {
    const net = tiny({ numClasses: 64, blocksArgsStr: ['r1_k3_s11_e6_i256_o256_se0.25'] });
    const stats = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
    // depthwise [192, 1, 3, 3, 3]: fan_out = 27 · 192 (MONAI ignores the groups); expand [192, 32, 1, 1, 1]: fan_out 192
    const depthwise = await net.getParameter('_blocks.0.0._depthwise_conv.weight').toArray();
    expect(stats(depthwise) / Math.sqrt(2 / (27 * 192))).toBeCloseTo(1, 1);
    expect(stats(await net.getParameter('_blocks.0.0._expand_conv.weight').toArray()) / Math.sqrt(2 / 192)).toBeCloseTo(1, 1);
    expect(Array.from(await net.getParameter('_blocks.0.0._se_reduce.bias').toArray()).every((v) => v === 0)).toBe(true);
    const fc = Array.from(await net.getParameter('_fc.weight').toArray());
    expect(Math.max(...fc.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...fc.map(Math.abs))).toBeGreaterThan(0.9 / 8);
    expect(Array.from(await net.getParameter('_fc.bias').toArray()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await net.getParameter('_blocks.0.0._bn1.weight').toArray()).every((v) => v === 1)).toBe(true);
    const again = tiny({ numClasses: 64, blocksArgsStr: ['r1_k3_s11_e6_i256_o256_se0.25'] });
    expect(Array.from(await again.getParameter('_blocks.0.0._depthwise_conv.weight').toArray())).toEqual(Array.from(depthwise));
    for (const m of [net, again]) m.dispose();
  });

  it('output shapes: the classes, or the feature maps of the stacks before each stride and the last', () => {
    expectOutputShapes((o: Partial<EfficientNetOptions>) => tiny(o), [
      [{}, [2, 1, 16, 16, 16], [2, 3]],
      [{ inChannels: 2, numClasses: 5, imageSize: 12 }, [2, 2, 12, 16, 8], [2, 5]],
    ]);
    const net = tiny();
    expect([net.extractStacks, net.featureChannels]).toEqual([[1, 2, 3], [3, 4, 4]]);
    const x = rand([2, 1, 16, 16, 16], 1, { backend: cpu });
    const features = noGrad(() => net.features(x));
    expect(features.map((f) => f.shape)).toEqual([[2, 3, 8, 8, 8], [2, 4, 4, 4, 4], [2, 4, 2, 2, 2]]);
    dispose([x, ...features]);
    // a stack 0 that strides gives the stem's output first (MONAI's extract_stacks holding 0)
    const strided = tiny({ blocksArgsStr: ['r1_k3_s22_e1_i32_o24_se0.25', 'r1_k3_s22_e2_i24_o32_se0.25'] });
    expect([strided.extractStacks, strided.featureChannels]).toEqual([[0, 1, 2], [4, 3, 4]]);
    const y = rand([2, 1, 16, 16, 16], 2, { backend: cpu });
    const fs = noGrad(() => strided.features(y));
    expect(fs.map((f) => f.shape)).toEqual([[2, 4, 8, 8, 8], [2, 3, 4, 4, 4], [2, 4, 2, 2, 2]]);
    dispose([y, ...fs]);
    for (const m of [net, strided]) m.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing; pretrained says how to load weights instead', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = rand([1, 2, 16, 16, 16], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^EfficientNet: input must be \[N, 1, D, H, W\], got \[1, 2, 16, 16, 16\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => new EfficientNetBN({ modelName: 'efficientnet-b0', pretrained: true })).toThrow(
      /^EfficientNetBN: pretrained weights cannot be downloaded here .*loadHostStateDict\(net, decodeSafetensors\(bytes\)\.tensors\)/);
    expect(() => new EfficientNetBNFeatures({ modelName: 'efficientnet-b10' as EfficientNetModelName })).toThrow(/^EfficientNetBNFeatures: invalid modelName 'efficientnet-b10', must be one of efficientnet-b0, /);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^EfficientNet: only spatialDims 3 is supported \(MONAI's default 2 is not offered\), got 2$/);
    expect(() => tiny({ blocksArgsStr: [] })).toThrow(/^EfficientNet: blocksArgsStr must be non-empty$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^EfficientNet: inChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ widthCoefficient: -1 })).toThrow(/^EfficientNet: widthCoefficient must be a positive number, got -1$/);
    expect(() => tiny({ dropConnectRate: 1 })).toThrow(/^EfficientNet: dropConnectRate must be in \[0, 1\), got 1$/);
    expect(() => tiny({ imageSize: 0 })).toThrow(/^EfficientNet: imageSize must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^EfficientNet: unknown norm "layer"/);
    expect(() => tiny({ blocksArgsStr: ['r0_k3_s11_e1_i32_o24'] })).toThrow(/^EfficientNet: stack 0's repeats must be an integer ≥ 1, got 0$/);
    const y = full([2, 1, 1, 1, 1], 1, { backend: cpu });
    expect(() => dropConnect(y, 1.5, true, 0)).toThrow(/^dropConnect: p must be in range of \[0, 1\], got 1\.5$/);
    y.dispose();
    net.dispose();
  });
});

/** EfficientNet written out with the functional ops from MONAI's description, for `tiny` on 16³ (evaluation: running statistics) */
function efficientNetByHand(net: EfficientNet, x: Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const bn = (t: Tensor, key: string) => batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`), { eps: 1e-3 });
  const swish = (t: Tensor) => mul(t, sigmoid(t));
  // 'SAME' for the sizes the model is built for: ⌈i/s⌉ − 1)·s + k − i split (smaller half in front): stem at 16 (0, 1);
  // k3 stride 1 (1, 1); stack 1's k3 stride 2 at 8 (0, 1); stack 2's k5 stride 2 at 4 (1, 2)
  const same = (t: Tensor, lo: number, hi: number) => pad(t, [lo, hi, lo, hi, lo, hi]);
  const block = (t: Tensor, p: string, stride: number, padding: [number, number], expand: boolean, residual: boolean) => {
    let y = expand ? swish(bn(conv3d(t, w(`${p}._expand_conv.weight`)), `${p}._bn0`)) : t;
    const channels = y.shape[1];
    y = swish(bn(conv3d(same(y, ...padding), w(`${p}._depthwise_conv.weight`), null, { stride, groups: channels }), `${p}._bn1`));
    const s = conv3d(swish(conv3d(adaptiveAvgPool3d(y, 1), w(`${p}._se_reduce.weight`), w(`${p}._se_reduce.bias`))), w(`${p}._se_expand.weight`), w(`${p}._se_expand.bias`));
    y = bn(conv3d(mul(sigmoid(s), y), w(`${p}._project_conv.weight`)), `${p}._bn2`);
    return residual ? add(y, t) : y;
  };
  let y = swish(bn(conv3d(same(x, 0, 1), w('_conv_stem.weight'), null, { stride: 2 }), '_bn0'));
  y = block(y, '_blocks.0.0', 1, [1, 1], false, false);
  y = block(y, '_blocks.1.1', 2, [0, 1], true, false);
  y = block(y, '_blocks.1.2', 1, [1, 1], true, true);
  y = block(y, '_blocks.2.3', 2, [1, 2], true, false); // noskip
  const head = swish(bn(conv3d(y, w('_conv_head.weight')), '_bn1'));
  return add(matmul(flatten(adaptiveAvgPool3d(head, 1), 1), transpose(w('_fc.weight'))), w('_fc.bias'));
}

describe('EfficientNet forward and backward (cpu)', () => {
  it('equals the network written out with conv3d (depthwise by groups), batchNorm, swish, squeeze-and-excitation and the static padding (float64)', async () => {
    const net = tiny({ dropoutRate: 0.5 });
    const x = randn([2, 1, 16, 16, 16], 5, { backend: cpu });
    // a training forward moves the running statistics away from 0 and 1
    noGrad(() => net.forward(x)).dispose();
    net.eval();
    await toFloat64(net);
    const x64 = fromArray(await x.toArray(), x.shape, { dtype: 'float64', backend: cpu });
    const [got, want] = noGrad(() => [net.forward(x64), tidy(() => efficientNetByHand(net, x64))]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, x64, got, want]);
    net.dispose();
  });

  it('drop-connect: in training each sample\'s residual branch is kept ×1/(1 − p) or dropped whole, as seeded; none in evaluation', async () => {
    // block _blocks.1.2 (stride 1, 4 → 4) has rate 0.8 · 2 / 4 = 0.4; the same seed without drop-connect gives the branch
    const [dc, plain] = [tiny({ dropConnectRate: 0.8 }), tiny({ dropConnectRate: 0 })];
    const [a, b] = [dc.getSubmodule('_blocks.1.2'), plain.getSubmodule('_blocks.1.2')] as MBConvBlock[];
    expect([a.dropConnectRate, a.residual, (dc.getSubmodule('_blocks.2.3') as MBConvBlock).residual]).toEqual([0.4, true, false]);
    const x = randn([16, 4, 3, 3, 3], 6, { backend: cpu });
    const run = async (block: MBConvBlock, seed: number) => {
      block.setDropoutSeed(seed);
      const y = noGrad(() => block.forward(x));
      const v = Array.from(await y.toArray());
      y.dispose();
      return v;
    };
    const xs = Array.from(await x.toArray()), branch = (await run(b, 0)).map((v, i) => v - xs[i]);
    const kept: boolean[] = [];
    const first = await run(a, 7);
    for (let n = 0; n < 16; n++) {
      const got = first.slice(n * 108, (n + 1) * 108).map((v, i) => v - xs[n * 108 + i]);
      const want = branch.slice(n * 108, (n + 1) * 108);
      const isKept = got.some((g) => g !== 0);
      kept.push(isKept);
      got.forEach((g, i) => expect(g).toBeCloseTo(isKept ? want[i] / 0.6 : 0, 4));
    }
    // 16 samples, keep 0.6: both outcomes occur (each has probability ≥ 1 − 0.6^16 − 0.4^16 > 0.999 … of being seen)
    expect(kept.some((k) => k) && kept.some((k) => !k)).toBe(true);
    expect(await run(a, 7)).toEqual(first);
    expect(await run(a, 8)).not.toEqual(first);
    expect(dc.dropoutState()['_blocks.1.2']).toMatchObject({ calls: 1 });
    // evaluation: no mask drawn, whatever the seed
    a.eval();
    expect(await run(a, 7)).toEqual(await run(a, 8));
    expect(dc.dropoutState()['_blocks.1.2']).toMatchObject({ calls: 0 });
    x.dispose();
    for (const m of [dc, plain]) m.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (batch statistics)', async () => {
    // 16³: the last stack keeps 2³ voxels (at one voxel, batch statistics over two values are ±1 whatever the input)
    const net = tiny({ dropConnectRate: 0, dropoutRate: 0 });
    await expectDirectionalGradcheck(net, [2, 1, 16, 16, 16], 3);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps separate two classes of tiny volumes; every parameter gets a gradient', async () => {
    const { image, target } = blobClassification();
    const net = tiny({ numClasses: 2, imageSize: 8, seed: 11 });
    net.seedDropout(1);
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 12);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    expect(net.blocks).toBeInstanceOf(Sequential);
    dispose([image, target]);
    net.dispose();
  });
});
