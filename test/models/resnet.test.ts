import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool3d, add, avgPool3d, backward, batchNorm, concat, conv3d, flatten, matmul, maxPool3d, noGrad, relu, transpose,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, MaxPool3d, ResNet, ResNetBlock, crossEntropy, init, decodeSafetensors, encodeSafetensors, loadHostStateDict,
  resnet10, resnet18, resnet34, resnet50, type ResNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, randn, tidy, zeros, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { adamLosses, blobClassification, expectInputGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's ResNet (monai/networks/nets/resnet.py): MONAI's parameter counts and state-dict keys, shapes, options and
 * their errors, the forward against the network written out with the functional ops, shortcut 'A' detached as
 * MONAI's, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<ResNetOptions> = {}): ResNet => new ResNet({
  block: 'basic', layers: [1, 1, 1, 1], blockInplanes: [2, 3, 4, 4], nInputChannels: 1, numClasses: 3, conv1TSize: 3, seed: 3, backend: cpu, ...options,
});

describe('ResNet structure', () => {
  it("resnet18 (3-D, nInputChannels 1, numClasses 2) has MONAI's 33 161 922 parameters, resnet50 46 163 010 (next test)", () => {
    // Shortcut 'B' (the default) with bias: a 1³ conv a→b with bias and a BatchNorm3d: ab + 3b where a block strides
    // or changes the channels. conv1 7³ 1→64: 21 952; bn1 128; fc 512·e·2 + 2 (e = 1 basic, 4 bottleneck).
    // resnet18, ResNetBlock(a→b) = 27ab + 27b² + 4b:
    //   layer1 2 × (64→64) 442 880; layer2 128: 672 640 (with shortcut 64·128 + 384) + 885 248;
    //   layer3 256: 2 688 768 + 3 539 968; layer4 512: 10 751 488 + 14 157 824; fc 1 026: sum 33 161 922.
    // resnet50, ResNetBottleneck(a, p) = ap + 27p² + 4p² + 12p:
    //   layer1 p 64: 148 992 (a 64, shortcut 64→256) + 2 × 144 128; layer2 p 128: 674 816 + 3 × 574 976;
    //   layer3 p 256: 2 693 120 + 5 × 2 296 832; layer4 p 512: 10 760 192 + 2 × 9 181 184; fc 4 098: sum 46 163 010.
    const r18 = resnet18({ nInputChannels: 1, numClasses: 2, backend: cpu });
    expect(r18.numParameters()).toBe(33_161_922);
    r18.dispose();
  });

  it("resnet50 (3-D, nInputChannels 1, numClasses 2) has MONAI's 46 163 010 parameters (derived above)", () => {
    const r50 = resnet50({ nInputChannels: 1, numClasses: 2, backend: cpu });
    expect(r50.numParameters()).toBe(46_163_010);
    expect(r50.layer3.length).toBe(6);
    r50.dispose();
  });

  it("resnet10 and resnet34: MONAI's layer configurations (counted at a fraction of the width)", () => {
    // resnet10 at full width: 21 952 + 128 + 221 440 + 672 640 + 2 688 768 + 10 751 488 + 1 026 = 14 357 442
    const r10 = resnet10({ nInputChannels: 1, numClasses: 2, backend: cpu });
    expect(r10.numParameters()).toBe(14_357_442);
    expect([r10.layer1.length, r10.layer2.length, r10.layer3.length, r10.layer4.length]).toEqual([1, 1, 1, 1]);
    r10.dispose();
    // resnet34 with widenFactor 1/8 (channels 8, 16, 32, 64), shortcut 'A' (no parameters): conv1 7³ 1→8 2 744, bn1 16,
    // layer1 3 × (1 728 + 1 728 + 32) = 10 464; layer2 16: (3 456 + 6 912 + 64) + 3 × 13 888 = 52 096;
    // layer3 32: (13 824 + 27 648 + 128) + 5 × 55 424 = 318 720; layer4 64: (55 296 + 110 592 + 256) + 2 × 221 440 = 609 024;
    // fc 64·2 + 2 = 130: sum 993 194
    const r34 = resnet34({ nInputChannels: 1, numClasses: 2, widenFactor: 0.125, shortcutType: 'A', backend: cpu });
    expect([r34.layer1.length, r34.layer2.length, r34.layer3.length, r34.layer4.length]).toEqual([3, 4, 6, 3]);
    expect(r34.numParameters()).toBe(993_194);
    r34.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree (bottleneck, shortcut 'B'; basic, shortcut 'A')", () => {
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const bottleneck = (p: string, a: number, planes: number, shortcut: boolean): [string, number[]][] => [
      [`${p}.conv1.weight`, [planes, a, 1, 1, 1]], ...bn(`${p}.bn1`, planes),
      [`${p}.conv2.weight`, [planes, planes, 3, 3, 3]], ...bn(`${p}.bn2`, planes),
      [`${p}.conv3.weight`, [4 * planes, planes, 1, 1, 1]], ...bn(`${p}.bn3`, 4 * planes),
      ...(shortcut ? [[`${p}.downsample.0.weight`, [4 * planes, a, 1, 1, 1]], [`${p}.downsample.0.bias`, [4 * planes]], ...bn(`${p}.downsample.1`, 4 * planes)] as [string, number[]][] : []),
    ];
    const b = tiny({ block: 'bottleneck', layers: [2, 1, 1, 1], blockInplanes: [2, 2, 3, 3] });
    expect([...b.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['conv1.weight', [2, 1, 3, 3, 3]], ...bn('bn1', 2),
      ...bottleneck('layer1.0', 2, 2, true), ...bottleneck('layer1.1', 8, 2, false),
      ...bottleneck('layer2.0', 8, 2, true), ...bottleneck('layer3.0', 8, 3, true), ...bottleneck('layer4.0', 12, 3, true),
      ['fc.weight', [3, 12]], ['fc.bias', [3]],
    ]);
    const modules = new Map(b.namedModules().map(([n, m]) => [n, m.typeName]));
    expect([...modules].slice(0, 5)).toEqual([['', 'ResNet'], ['conv1', 'Conv3d'], ['bn1', 'BatchNorm3d'], ['act', 'ReLU'], ['maxpool', 'MaxPool3d']]);
    expect([modules.get('layer1'), modules.get('layer1.0'), modules.get('layer1.0.act'), modules.get('layer1.0.downsample'), modules.get('avgpool')])
      .toEqual(['Sequential', 'ResNetBottleneck', 'ReLU', 'Sequential', 'AdaptiveAvgPool3d']);
    // shortcut 'A' is MONAI's partial, no module: no downsample keys; without biasDownsample, 'B' has no conv bias
    const basic = (p: string, a: number, c: number): [string, number[]][] => [
      [`${p}.conv1.weight`, [c, a, 3, 3, 3]], ...bn(`${p}.bn1`, c), [`${p}.conv2.weight`, [c, c, 3, 3, 3]], ...bn(`${p}.bn2`, c),
    ];
    const a = tiny({ shortcutType: 'A', feedForward: false });
    expect([...a.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['conv1.weight', [2, 1, 3, 3, 3]], ...bn('bn1', 2),
      ...basic('layer1.0', 2, 2), ...basic('layer2.0', 2, 3), ...basic('layer3.0', 3, 4), ...basic('layer4.0', 4, 4),
    ]);
    expect(a.getSubmodule('layer1.0')).toBeInstanceOf(ResNetBlock);
    expect([...tiny({ biasDownsample: false }).stateSpec().keys()].filter((k) => k.includes('downsample.0'))).toEqual(
      ['layer2.0.downsample.0.weight', 'layer3.0.downsample.0.weight', 'layer4.0.downsample.0.weight']);
    for (const m of [a, b]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout (num_batches_tracked as I64) loads strictly", async () => {
    const net = tiny({ block: 'bottleneck' });
    const host = new Map([...net.stateSpec()].map(([k, { shape, dtype }], i) => {
      const n = shape.reduce((x, y) => x * y, 1);
      return [k, dtype === 'int32'
        ? { dtype, shape: [...shape], data: Int32Array.from({ length: n }, () => 7) }
        : { dtype, shape: [...shape], data: Float32Array.from({ length: n }, (_, j) => i + j / 64) }];
    }));
    expect(loadHostStateDict(net, decodeSafetensors(encodeSafetensors(host)).tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(Array.from(await net.getBuffer('layer3.0.downsample.1.num_batches_tracked').toArray())).toEqual([7]);
    expect(Array.from(await net.getParameter('fc.bias').toArray())).toEqual(Array.from(host.get('fc.bias')!.data));
    net.dispose();
  });

  it("MONAI's initialisation, seeded by module path: He-normal conv weights (fan_out, ReLU), batch norms 1 and 0, fc bias 0", async () => {
    const net = tiny({ blockInplanes: [8, 16, 32, 32] });
    const stdOf = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
    // std = √2 / √fan_out, fan_out of [32, 32, 3, 3, 3]: 32 · 27
    const conv = await net.getParameter('layer4.0.conv2.weight').toArray();
    expect(stdOf(conv) / (Math.sqrt(2) / Math.sqrt(32 * 27))).toBeCloseTo(1, 1);
    expect(Array.from(await net.getParameter('fc.bias').toArray()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await net.getParameter('layer2.0.bn1.weight').toArray()).every((v) => v === 1)).toBe(true);
    const again = tiny({ blockInplanes: [8, 16, 32, 32] });
    expect(Array.from(await again.getParameter('layer4.0.conv2.weight').toArray())).toEqual(Array.from(conv));
    for (const m of [net, again]) m.dispose();
  });

  it('output shapes: numClasses, or the pooled features without fc; conv1 options, noMaxPool, widenFactor', () => {
    const cases: [Partial<ResNetOptions>, number[], number[]][] = [
      [{}, [2, 1, 8, 8, 8], [2, 3]],
      [{ feedForward: false, block: 'bottleneck' }, [1, 1, 8, 8, 8], [1, 16]],
      [{ conv1TSize: [3, 5, 7], conv1TStride: [1, 2, 2], noMaxPool: true, nInputChannels: 2 }, [1, 2, 4, 8, 6], [1, 3]],
      [{ widenFactor: 2.5, shortcutType: 'A', feedForward: false }, [1, 1, 6, 6, 6], [1, 10]],
    ];
    for (const [options, input, output] of cases) {
      // evaluation mode: in training, batch norm refuses a batch of one at a single voxel, as PyTorch's
      const net = tiny(options).eval();
      const x = rand(input, 1, { backend: cpu });
      const y = noGrad(() => net.forward(x));
      expect(y.shape).toEqual(output);
      dispose([x, y]);
      net.dispose();
    }
    const net = tiny();
    expect(net.maxpool).toBeInstanceOf(MaxPool3d);
    expect(net.maxpool.extraRepr()).toBe('kernel_size=3, stride=2, padding=1');
    expect((net.conv1.padding)).toEqual([1, 1, 1]);
    expect(tiny({ conv1TSize: [3, 5, 7] }).conv1.padding).toEqual([1, 2, 3]);
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = rand([1, 2, 8, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^ResNet: input must be \[N, 1, D, H, W\], got \[1, 2, 8, 8, 8\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ block: 'wide' as 'basic' })).toThrow(/^ResNet: unknown block 'wide'; valid: basic, bottleneck$/);
    expect(() => tiny({ layers: [1, 1, 1] as unknown as [1, 1, 1, 1] })).toThrow(/^ResNet: layers \[1, 1, 1\] and blockInplanes \[2, 3, 4, 4\] need one entry per stage \(4\)$/);
    expect(() => tiny({ layers: [1, 0, 1, 1] })).toThrow(/^ResNet: every entry of layers must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ widenFactor: 0.25 })).toThrow(/^ResNet: every entry of blockInplanes · widenFactor must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ shortcutType: 'C' as 'A' })).toThrow(/^ResNet: shortcutType 'C' is not supported; valid: A, B$/);
    expect(() => tiny({ shortcutType: 'A', blockInplanes: [4, 2, 2, 2] })).toThrow(/^ResNet: layer2\.0\.downsample: shortcut 'A' cannot narrow 4 channels to 2; use shortcutType 'B'$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^ResNet: only spatialDims 3 is supported, got 2$/);
    net.dispose();
  });
});

/** ResNet written out with the functional ops from MONAI's description (evaluation mode: running statistics) */
function resNetByHand(net: ResNet, x: Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const bn = (t: Tensor, key: string) => batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`));
  const conv = (t: Tensor, key: string, stride = 1, padding = 1) => conv3d(t, w(`${key}.weight`), null, { stride, padding });
  let y = maxPool3d(relu(bn(conv(x, 'conv1', 1, 1), 'bn1')), 3, { stride: 2, padding: 1 });
  for (let stage = 1; stage <= 4; stage++) {
    const key = `layer${stage}.0`, stride = stage === 1 ? 1 : 2, block = net.getSubmodule(key) as ResNetBlock;
    const out = bn(conv(relu(bn(conv(y, `${key}.conv1`, stride), `${key}.bn1`)), `${key}.conv2`), `${key}.bn2`);
    let residual = y;
    if (net.getSubmodule(key).namedChildren().some(([n]) => n === 'downsample')) {
      residual = bn(conv3d(y, w(`${key}.downsample.0.weight`), w(`${key}.downsample.0.bias`), { stride }), `${key}.downsample.1`);
    } else if (block.conv1.inChannels !== block.conv2.outChannels || stride !== 1) {
      const sub = avgPool3d(y, 1, { stride });
      residual = concat([sub, zeros([sub.shape[0], block.conv2.outChannels - sub.shape[1], ...sub.shape.slice(2)], { backend: cpu })], 1);
    }
    y = relu(add(out, residual));
  }
  const features = flatten(adaptiveAvgPool3d(y, 1), 1);
  return add(matmul(features, transpose(w('fc.weight'))), w('fc.bias'));
}

describe('ResNet forward and backward (cpu)', () => {
  it.each(['A', 'B'] as const)('equals the network written out with conv3d, batchNorm, relu, maxPool3d and the shortcut (shortcut %s)', async (shortcutType) => {
    const net = tiny({ shortcutType });
    const x = randn([2, 1, 8, 8, 8], 5, { backend: cpu });
    // a training forward moves the running statistics away from 0 and 1
    noGrad(() => net.forward(x)).dispose();
    net.eval();
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => resNetByHand(net, x))]);
    expect(got.shape).toEqual([2, 3]);
    const [g, e] = [await got.toArray(), await want.toArray()];
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    g.forEach((v, i) => expect(Math.abs(v - e[i])).toBeLessThanOrEqual(1e-5 * scale));
    dispose([x, got, want]);
    net.dispose();
  });

  it("shortcut 'A' is detached as MONAI's (`out.data`): with a block's convolutions zero, no gradient reaches the input through it", async () => {
    const input = async (shortcutType: 'A' | 'B'): Promise<number[]> => {
      const net = tiny({ shortcutType, noMaxPool: true });
      for (const key of ['layer2.0.conv1.weight', 'layer2.0.conv2.weight']) init.zeros_(net.getParameter(key));
      const x = fromArray(randomArray(2 * 64, 3, -1, 1), [2, 1, 4, 4, 4], { backend: cpu, requiresGrad: true });
      const loss = tidy(() => net.forward(x).sum());
      backward(loss);
      const grad = x.grad ? Array.from(await x.grad.toArray()) : [];
      dispose([x, loss]);
      net.dispose();
      return grad;
    };
    expect((await input('A')).every((g) => g === 0)).toBe(true);
    expect((await input('B')).some((g) => g !== 0)).toBe(true);
  });

  it('the gradient with respect to the input passes a float64 gradient check (bottleneck, shortcut B, batch statistics)', async () => {
    const net = tiny({ block: 'bottleneck', noMaxPool: true, blockInplanes: [2, 2, 2, 2] });
    await expectInputGradcheck(net, [2, 1, 4, 4, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps separate two classes of tiny volumes; every parameter gets a gradient', async () => {
    // class 1: a bright blob, class 0: noise only
    const { image, target } = blobClassification();
    const net = tiny({ numClasses: 2, noMaxPool: true, seed: 11 });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 12);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    expect(net.modules().filter((m) => m instanceof BatchNorm3d)).toHaveLength(1 + 4 * 2 + 3);
    dispose([image, target]);
    net.dispose();
  });
});
