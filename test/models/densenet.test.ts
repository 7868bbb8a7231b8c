import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool3d, add, assign, avgPool3d, batchNorm, concat, conv3d, flatten, matmul, maxPool3d, noGrad, relu, transpose,
} from '../../src/autograd/index.js';
import {
  AvgPool3d, BatchNorm3d, DenseBlock, DenseLayer, DenseNet, DenseNet169, DenseNet201, DenseNet264, DenseTransition, Dropout3d,
  GroupNorm, InstanceNorm3d, LeakyReLU, Linear, ReLU, crossEntropy, type DenseNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors } from '../helpers/model-checks.js';

/**
 * MONAI's DenseNet and DenseNet121/169/201/264 (monai/networks/nets/densenet.py): MONAI's parameter counts and
 * state-dict keys, initialisation, shapes, options and their errors, the forward against the network written out
 * with the functional ops in float64, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<DenseNetOptions> = {}): DenseNet => new DenseNet({
  inChannels: 1, outChannels: 3, initFeatures: 4, growthRate: 2, blockConfig: [2, 1], bnSize: 2, seed: 3, backend: cpu, ...options,
});

/**
 * MONAI's parameter count of a DenseNet with batch norms: conv0 7³ in→f0; norm0 2·f0; a dense layer on c channels:
 * norm1 2c, conv1 1³ c→bg (b = bnSize, g = growthRate), norm2 2bg, conv2 3³ bg→g: 130c + 110 848 for b 4, g 32;
 * a transition on c: norm 2c, conv 1³ c→⌊c/2⌋; norm5 2c; out c·classes + classes.
 */
function denseNetCount(inChannels: number, classes: number, f0: number, g: number, b: number, blocks: readonly number[]): number {
  let total = inChannels * f0 * 343 + 2 * f0, c = f0;
  blocks.forEach((layers, i) => {
    for (let j = 0; j < layers; j++, c += g) total += 2 * c + c * b * g + 2 * b * g + 27 * b * g * g;
    if (i === blocks.length - 1) total += 2 * c;
    else {
      total += 2 * c + c * Math.floor(c / 2);
      c = Math.floor(c / 2);
    }
  });
  return total + c * classes + classes;
}

describe('DenseNet structure', () => {
  it("DenseNet169, 201 and 264: MONAI's block configurations and counts (at an eighth of the width: initFeatures 8, growthRate 4)", () => {
    // at full width (formula above, 1 → 2 channels) DenseNet121 has 11 244 674 parameters (built in densenet-count.test.ts),
    // DenseNet169 18 546 050, DenseNet201 25 334 658, DenseNet264 40 251 266; the eighth width keeps the construction quick
    expect([[6, 12, 24, 16], [6, 12, 32, 32], [6, 12, 48, 32], [6, 12, 64, 48]].map((blocks) => denseNetCount(1, 2, 64, 32, 4, blocks)))
      .toEqual([11_244_674, 18_546_050, 25_334_658, 40_251_266]);
    const cases = [[DenseNet169, [6, 12, 32, 32], 208], [DenseNet201, [6, 12, 48, 32], 240], [DenseNet264, [6, 12, 64, 48], 336]] as const;
    for (const [Variant, blocks, features] of cases) {
      const net = new Variant({ spatialDims: 3, inChannels: 1, outChannels: 2, initFeatures: 8, growthRate: 4, backend: cpu });
      expect([net.blockConfig, net.numFeatures, net.typeName]).toEqual([blocks, features, Variant.name]);
      expect(net.numParameters()).toBe(denseNetCount(1, 2, 8, 4, 4, blocks));
      net.dispose();
    }
    expect(new DenseNet({ inChannels: 1, outChannels: 2, initFeatures: 4, growthRate: 2, backend: cpu }).blockConfig).toEqual([6, 12, 24, 16]);
    // a variant's blockConfig can be given, as MONAI's keyword
    expect(new DenseNet169({ inChannels: 1, outChannels: 2, initFeatures: 4, growthRate: 2, blockConfig: [1, 1], backend: cpu }).blockConfig).toEqual([1, 1]);
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree", () => {
    // initFeatures 4, growthRate 2, bnSize 2 (bottleneck 4), blocks [2, 1]: denselayers on 4 and 6 channels → 8,
    // transition1 → 4, a denselayer on 4 → 6, norm5, out 6 → 3. The count by the formula: 2 217
    const net = tiny();
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const layer = (p: string, c: number): [string, number[]][] => [
      ...bn(`${p}.layers.norm1`, c), [`${p}.layers.conv1.weight`, [4, c, 1, 1, 1]], ...bn(`${p}.layers.norm2`, 4), [`${p}.layers.conv2.weight`, [2, 4, 3, 3, 3]],
    ];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['features.conv0.weight', [4, 1, 7, 7, 7]], ...bn('features.norm0', 4),
      ...layer('features.denseblock1.denselayer1', 4), ...layer('features.denseblock1.denselayer2', 6),
      ...bn('features.transition1.norm', 8), ['features.transition1.conv.weight', [4, 8, 1, 1, 1]],
      ...layer('features.denseblock2.denselayer1', 4),
      ...bn('features.norm5', 6),
      ['class_layers.out.weight', [3, 6]], ['class_layers.out.bias', [3]],
    ]);
    expect(net.numParameters()).toBe(denseNetCount(1, 3, 4, 2, 2, [2, 1]));
    expect(net.numParameters()).toBe(2217);
    const types = new Map(net.namedModules().map(([n, m]) => [n, m.typeName]));
    expect([...types].filter(([n]) => !n.includes('.') || /^features\.[a-z0-9]+$|^class_layers\.[a-z]+$/.test(n))).toEqual([
      ['', 'DenseNet'], ['features', 'Sequential'], ['features.conv0', 'Conv3d'], ['features.norm0', 'BatchNorm3d'], ['features.relu0', 'ReLU'],
      ['features.pool0', 'MaxPool3d'], ['features.denseblock1', '_DenseBlock'], ['features.transition1', '_Transition'],
      ['features.denseblock2', '_DenseBlock'], ['features.norm5', 'BatchNorm3d'],
      ['class_layers', 'Sequential'], ['class_layers.relu', 'ReLU'], ['class_layers.pool', 'AdaptiveAvgPool3d'], ['class_layers.flatten', 'Flatten'],
      ['class_layers.out', 'Linear'],
    ]);
    expect([...types].filter(([n]) => n.startsWith('features.denseblock1.denselayer2') || n.startsWith('features.transition1.'))).toEqual([
      ['features.denseblock1.denselayer2', '_DenseLayer'], ['features.denseblock1.denselayer2.layers', 'Sequential'],
      ['features.denseblock1.denselayer2.layers.norm1', 'BatchNorm3d'], ['features.denseblock1.denselayer2.layers.relu1', 'ReLU'],
      ['features.denseblock1.denselayer2.layers.conv1', 'Conv3d'], ['features.denseblock1.denselayer2.layers.norm2', 'BatchNorm3d'],
      ['features.denseblock1.denselayer2.layers.relu2', 'ReLU'], ['features.denseblock1.denselayer2.layers.conv2', 'Conv3d'],
      ['features.transition1.norm', 'BatchNorm3d'], ['features.transition1.relu', 'ReLU'], ['features.transition1.conv', 'Conv3d'], ['features.transition1.pool', 'AvgPool3d'],
    ]);
    expect([net.getSubmodule('features.denseblock2'), net.getSubmodule('features.denseblock2.denselayer1'), net.getSubmodule('features.transition1')])
      .toEqual([expect.any(DenseBlock), expect.any(DenseLayer), expect.any(DenseTransition)]);
    expect((net.getSubmodule('features.transition1.pool') as AvgPool3d).extraRepr()).toBe('kernel_size=2, stride=2, padding=0');
    expect((net.getSubmodule('features.pool0')).extraRepr()).toBe('kernel_size=3, stride=2, padding=1');
    expect((net.getSubmodule('features.conv0')).extraRepr()).toBe('1, 4, kernel_size=7, stride=2, padding=3, bias=False');
    // dropoutProb > 0: MONAI's Dropout[DROPOUT, 3], an nn.Dropout3d, last in each dense layer's `layers`; no state
    const dropped = tiny({ dropoutProb: 0.3 });
    const drops = dropped.namedModules().filter(([, m]) => m instanceof Dropout3d);
    expect(drops.map(([n, m]) => [n, (m as Dropout3d).p])).toEqual([
      ['features.denseblock1.denselayer1.layers.dropout', 0.3], ['features.denseblock1.denselayer2.layers.dropout', 0.3], ['features.denseblock2.denselayer1.layers.dropout', 0.3],
    ]);
    expect([...dropped.stateSpec().keys()]).toEqual([...net.stateSpec().keys()]);
    for (const m of [net, dropped]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout loads strictly", async () => {
    const net = tiny();
    const host = loadDistinctSafetensors(net, 6);
    expect(Array.from(await net.getParameter('class_layers.out.bias').toArray())).toEqual(Array.from(host.get('class_layers.out.bias')!.data));
    expect(Array.from(await net.getBuffer('features.denseblock2.denselayer1.layers.norm2.num_batches_tracked').toArray())).toEqual([6]);
    net.dispose();
  });

  it("MONAI's initialisation, seeded by module path: He-normal conv weights (fan_in, gain √2), batch norms 1 and 0, the classifier's bias 0", async () => {
    const net = tiny({ initFeatures: 16, growthRate: 16, bnSize: 4, outChannels: 40 });
    const stdOf = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
    // std = √2/√fan_in; conv2 of a dense layer: [16, 64, 3, 3, 3], fan_in 64·27; conv1 of denselayer2: [64, 32, 1, 1, 1], fan_in 32
    const conv2 = await net.getParameter('features.denseblock1.denselayer1.layers.conv2.weight').toArray();
    expect(stdOf(conv2) / (Math.sqrt(2) / Math.sqrt(64 * 27))).toBeCloseTo(1, 1);
    const conv1 = await net.getParameter('features.denseblock1.denselayer2.layers.conv1.weight').toArray();
    expect(stdOf(conv1) / (Math.sqrt(2) / Math.sqrt(32))).toBeCloseTo(1, 1);
    const conv0 = await net.getParameter('features.conv0.weight').toArray();
    expect(stdOf(conv0) / (Math.sqrt(2) / Math.sqrt(343))).toBeCloseTo(1, 1);
    for (const key of ['features.norm0', 'features.transition1.norm', 'features.norm5']) {
      expect(Array.from(await net.getParameter(`${key}.weight`).toArray()).every((v) => v === 1)).toBe(true);
      expect(Array.from(await net.getParameter(`${key}.bias`).toArray()).every((v) => v === 0)).toBe(true);
    }
    expect(Array.from(await net.getParameter('class_layers.out.bias').toArray()).every((v) => v === 0)).toBe(true);
    // the classifier's weight keeps Linear's default U(±1/√fan_in), fan_in = numFeatures: 16 + 2·16 = 48, halved to 24, + 16 = 40
    expect(net.numFeatures).toBe(40);
    const out = Array.from(await net.getParameter('class_layers.out.weight').toArray());
    expect(out.every((v) => Math.abs(v) <= 1 / Math.sqrt(40))).toBe(true);
    expect(Math.max(...out.map(Math.abs))).toBeGreaterThan(0.9 / Math.sqrt(40));
    const [again, other] = [tiny({ initFeatures: 16, growthRate: 16, bnSize: 4, outChannels: 40 }), tiny({ initFeatures: 16, growthRate: 16, bnSize: 4, outChannels: 40, seed: 4 })];
    expect(Array.from(await again.getParameter('features.denseblock1.denselayer1.layers.conv2.weight').toArray())).toEqual(Array.from(conv2));
    expect(Array.from(await other.getParameter('features.denseblock1.denselayer1.layers.conv2.weight').toArray())).not.toEqual(Array.from(conv2));
    for (const m of [net, again, other]) m.dispose();
  });

  it('output shapes and the options: act, norm, bnSize, growthRate, initFeatures, blockConfig, dropoutProb', () => {
    const cases: [Partial<DenseNetOptions>, number[], number[]][] = [
      [{}, [2, 1, 16, 16, 16], [2, 3]],
      [{ inChannels: 2, outChannels: 5, blockConfig: [1] }, [1, 2, 5, 7, 4], [1, 5]],
      [{ blockConfig: [1, 2, 1], act: 'leakyrelu', norm: 'instance', dropoutProb: 0.2 }, [2, 1, 16, 32, 16], [2, 3]],
      [{ norm: ['group', { numGroups: 2 }], act: ['leakyrelu', { negativeSlope: 0.2 }] }, [1, 1, 16, 16, 16], [1, 3]],
    ];
    expectOutputShapes(tiny, cases);
    const leaky = tiny({ act: ['leakyrelu', { negativeSlope: 0.2 }], norm: ['group', { numGroups: 2 }] });
    expect(leaky.modules().filter((m) => m instanceof LeakyReLU).map((m) => (m as LeakyReLU).negativeSlope)).toEqual(Array(1 + 3 * 2 + 1 + 1).fill(0.2));
    expect(leaky.modules().filter((m) => m instanceof GroupNorm)).toHaveLength(1 + 3 * 2 + 1 + 1);
    expect(leaky.modules().some((m) => m instanceof ReLU || m instanceof BatchNorm3d)).toBe(false);
    const instance = tiny({ norm: 'instance' });
    expect(instance.modules().filter((m) => m instanceof InstanceNorm3d)).toHaveLength(9);
    expect([...instance.stateSpec().keys()]).toEqual(['features.conv0.weight', 'features.denseblock1.denselayer1.layers.conv1.weight',
      'features.denseblock1.denselayer1.layers.conv2.weight', 'features.denseblock1.denselayer2.layers.conv1.weight', 'features.denseblock1.denselayer2.layers.conv2.weight',
      'features.transition1.conv.weight', 'features.denseblock2.denselayer1.layers.conv1.weight', 'features.denseblock2.denselayer1.layers.conv2.weight',
      'class_layers.out.weight', 'class_layers.out.bias']);
    // bnSize 3, growthRate 5: conv1 to 15 channels, conv2 to 5; an odd transition input halves down (⌊13/2⌋ = 6)
    const wide = tiny({ bnSize: 3, growthRate: 5, initFeatures: 3, blockConfig: [2, 1] });
    expect(wide.getParameter('features.denseblock1.denselayer2.layers.conv1.weight').shape).toEqual([15, 8, 1, 1, 1]);
    expect(wide.getParameter('features.transition1.conv.weight').shape).toEqual([6, 13, 1, 1, 1]);
    expect((wide.getSubmodule('class_layers.out') as Linear).inFeatures).toBe(11);
    for (const m of [leaky, instance, wide]) m.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny({ blockConfig: [1, 1, 1] });
    const before = memory().liveTensors;
    const small = rand([1, 1, 8, 16, 16], 4, { backend: cpu });
    expect(() => net.forward(small)).toThrow(/^DenseNet: input \[1, 1, 8, 16, 16\] is too small: transition2's 2³ average pool turns \[1, 2, 2\] into \[0, 1, 1\]$/);
    const twoChannels = rand([1, 2, 16, 16, 16], 4, { backend: cpu });
    expect(() => net.forward(twoChannels)).toThrow(/^DenseNet: input must be \[N, 1, D, H, W\], got \[1, 2, 16, 16, 16\]$/);
    dispose([small, twoChannels]);
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ blockConfig: [] })).toThrow(/^DenseNet: blockConfig needs at least one block$/);
    expect(() => tiny({ blockConfig: [2, 0] })).toThrow(/^DenseNet: every entry of blockConfig must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ growthRate: 0 })).toThrow(/^DenseNet: growthRate must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ initFeatures: 2.5 })).toThrow(/^DenseNet: initFeatures must be an integer ≥ 1, got 2\.5$/);
    expect(() => tiny({ bnSize: -1 })).toThrow(/^DenseNet: bnSize must be an integer ≥ 1, got -1$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^DenseNet: inChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ outChannels: 0 })).toThrow(/^DenseNet: outChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ dropoutProb: 1 })).toThrow(/^DenseNet: dropoutProb must be in \[0, 1\), got 1$/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^DenseNet: unknown norm 'layer'; valid: instance, batch, \['group', \{ numGroups \}\]$/);
    expect(() => tiny({ norm: 'group' })).toThrow(/^DenseNet: norm 'group' needs its numGroups: \['group', \{ numGroups \}\]$/);
    expect(() => tiny({ act: 'prelu' as 'relu' })).toThrow(/^DenseNet: unknown act "prelu"; valid: 'relu', 'leakyrelu', \['leakyrelu', \{ negativeSlope \}\]$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^DenseNet: only spatialDims 3 is supported, got 2$/);
    net.dispose();
  });
});

/** DenseNet written out with the functional ops from MONAI's description, reading the weights by their MONAI names */
function denseNetByHand(net: DenseNet, x: Tensor, training: boolean): Tensor {
  const w = (key: string) => net.getParameter(key);
  const bnRelu = (t: Tensor, key: string) => relu(training
    ? batchNorm(t, null, null, w(`${key}.weight`), w(`${key}.bias`), { training: true })
    : batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`)));
  let y = maxPool3d(bnRelu(conv3d(x, w('features.conv0.weight'), null, { stride: 2, padding: 3 }), 'features.norm0'), 3, { stride: 2, padding: 1 });
  net.blockConfig.forEach((layers, i) => {
    for (let j = 1; j <= layers; j++) {
      const key = `features.denseblock${i + 1}.denselayer${j}.layers`;
      const bottleneck = conv3d(bnRelu(y, `${key}.norm1`), w(`${key}.conv1.weight`));
      y = concat([y, conv3d(bnRelu(bottleneck, `${key}.norm2`), w(`${key}.conv2.weight`), null, { padding: 1 })], 1);
    }
    if (i < net.blockConfig.length - 1) y = avgPool3d(conv3d(bnRelu(y, `features.transition${i + 1}.norm`), w(`features.transition${i + 1}.conv.weight`)), 2, { stride: 2 });
  });
  const features = flatten(adaptiveAvgPool3d(bnRelu(y, 'features.norm5'), 1), 1);
  return add(matmul(features, transpose(w('class_layers.out.weight'))), w('class_layers.out.bias'));
}

describe('DenseNet forward and backward (cpu)', () => {
  it.each([['training', true], ['evaluation', false]] as const)(
    'in float64 equals the network written out with conv3d, batchNorm, relu, maxPool3d, concat and avgPool3d (%s)', async (_, training) => {
      const net = tiny({ inChannels: 2, blockConfig: [2, 2, 1] });
      const shape = [2, 2, 16, 24, 16];
      noGrad(() => net.forward(randn(shape, 5, { backend: cpu }))).dispose();
      // a non-zero bias: MONAI's init leaves it 0
      const bias = fromArray([0.5, -0.25, 1], [3], { backend: cpu });
      noGrad(() => assign(net.getParameter('class_layers.out.bias'), bias));
      bias.dispose();
      await toFloat64(net);
      const x = fromArray(randomArray(shape.reduce((a, b) => a * b, 1), 9, -1, 1), shape, { backend: cpu, dtype: 'float64' });
      if (!training) net.eval();
      const [got, want] = noGrad(() => [net.forward(x), tidy(() => denseNetByHand(net, x, training))]);
      expect([got.shape, got.dtype]).toEqual([[2, 3], 'float64']);
      await expectSameAsWrittenOut(got, want, 1e-12);
      dispose([x, got, want]);
      net.dispose();
    });

  it('the gradient with respect to the input passes a float64 gradient check (a block of two layers, batch statistics)', async () => {
    // 6³ → conv0 3³ → pool0 2³: norm5's batch statistics over 2 · 8 values per channel
    const net = tiny({ initFeatures: 2, blockConfig: [2] });
    await expectInputGradcheck(net, [2, 1, 6, 6, 6]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps separate two classes of tiny volumes; every parameter gets a gradient', async () => {
    // class 1: a bright blob, class 0: noise only
    const side = 16, n = side ** 3;
    const data = Float32Array.from({ length: 4 * n }, (_, i) => {
      const sample = Math.floor(i / n), v = i % n, [z, y, x] = [Math.floor(v / side / side), Math.floor(v / side) % side, v % side];
      const blob = sample % 2 === 1 && (x - 7.5) ** 2 + (y - 7.5) ** 2 + (z - 7.5) ** 2 < 20 ? 1 : 0;
      return blob + 0.3 * Math.sin(i * 12.9898);
    });
    const image = fromArray(data, [4, 1, side, side, side], { backend: cpu });
    const target = fromArray(Int32Array.from([0, 1, 0, 1]), [4], { backend: cpu });
    const net = tiny({ outChannels: 2, seed: 11 });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 12);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
