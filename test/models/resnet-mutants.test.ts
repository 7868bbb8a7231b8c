import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/index.js';
import { Conv3d, Linear, ResNet, init, resnet10, resnet18, resnet34, resnet50, type ResNetOptions } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { dispose, rand, zeros } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * What the mutation run of src/models/resnet.ts found untested (stryker.config.mjs): the count checks by name, the
 * weights' seeds derived from their module paths (He-normal, fan_out, ReLU; fc as nn.Linear's default), the shortcut
 * 'B' bias option, the input's rank check.
 */

const tiny = (options: Partial<ResNetOptions> = {}): ResNet => new ResNet({
  block: 'basic', layers: [1, 1, 1, 1], blockInplanes: [2, 3, 4, 4], nInputChannels: 1, numClasses: 3, conv1TSize: 3, seed: 3, backend: cpu, ...options,
});

describe('ResNet options (mutation tests)', () => {
  it("resnet10/18/34/50 are MONAI's block types, stage depths and widths (at 1/64 of the width)", () => {
    const options = { widenFactor: 1 / 64, nInputChannels: 1, numClasses: 2, seed: 1, backend: cpu };
    const depths = (net: ResNet) => [net.layer1, net.layer2, net.layer3, net.layer4].map((l) => l.length);
    const widths = (net: ResNet) => [1, 2, 3, 4].map((i) => (net.getSubmodule(`layer${i}.0.conv1`) as Conv3d).outChannels);
    const cases: [ResNet, string, number[]][] = [
      [resnet10(options), 'basic', [1, 1, 1, 1]], [resnet18(options), 'basic', [2, 2, 2, 2]],
      [resnet34(options), 'basic', [3, 4, 6, 3]], [resnet50(options), 'bottleneck', [3, 4, 6, 3]],
    ];
    for (const [net, block, layers] of cases) {
      expect([net.block, depths(net), widths(net)]).toEqual([block, layers, [1, 2, 4, 8]]);
      net.dispose();
    }
  });

  it('noMaxPool skips the 3³ stride-2 max pool after conv1 (the features then differ)', async () => {
    const x = rand([1, 1, 6, 6, 6], 2, { backend: cpu });
    const [pooled, unpooled] = [tiny({ feedForward: false }).eval(), tiny({ feedForward: false, noMaxPool: true }).eval()];
    expect([pooled.noMaxPool, unpooled.noMaxPool]).toEqual([false, true]);
    const [a, b] = noGrad(() => [pooled.forward(x), unpooled.forward(x)]);
    expect(a.shape).toEqual([1, 4]);
    expect(Array.from(await a.toArray())).not.toEqual(Array.from(await b.toArray()));
    dispose([x, a, b]);
    [pooled, unpooled].forEach((m) => m.dispose());
  });


  it('refuses nInputChannels and numClasses that are not positive integers, naming them', () => {
    expect(() => tiny({ nInputChannels: 0 })).toThrow(/^ResNet: nInputChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ numClasses: 2.5 })).toThrow(/^ResNet: numClasses must be an integer ≥ 1, got 2\.5$/);
    expect(() => tiny({ layers: [1, 1, 1, 1.5] })).toThrow(/^ResNet: every entry of layers must be an integer ≥ 1, got 1\.5$/);
    expect(() => tiny({ blockInplanes: [2, 3, 4] as unknown as [2, 3, 4, 4] })).toThrow(/^ResNet: layers \[1, 1, 1, 1\] and blockInplanes \[2, 3, 4\] need one entry per stage \(4\)$/);
    expect(() => tiny({ conv1TSize: 2.5 })).toThrow(/ResNet conv1TSize/);
    expect(() => tiny({ conv1TStride: -1 })).toThrow(/ResNet conv1TStride/);
  });

  it("MONAI's defaults: 3 input channels, 400 classes, a 7³ conv1, shortcut 'B' with a bias", () => {
    const net = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], blockInplanes: [2, 2, 2, 2], seed: 1, backend: cpu });
    expect(net.nInputChannels).toBe(3);
    expect(net.fc?.outFeatures).toBe(400);
    expect(net.conv1.kernelSize).toEqual([7, 7, 7]);
    expect(net.conv1.padding).toEqual([3, 3, 3]);
    expect(net.conv1.stride).toEqual([1, 1, 1]);
    expect(net.noMaxPool).toBe(false);
    const keys = [...net.stateSpec().keys()];
    expect(keys).toContain('layer2.0.downsample.0.bias');
    expect(keys).not.toContain('layer1.0.downsample.0.weight');
    expect([...tiny({ biasDownsample: false }).stateSpec().keys()]).not.toContain('layer2.0.downsample.0.bias');
    net.dispose();
  });

  it("every conv weight is He-normal (fan_out, ReLU) from the seed and its module path; fc is nn.Linear's from 'fc' with a zero bias", async () => {
    const net = tiny({ block: 'bottleneck', layers: [2, 1, 1, 1] });
    for (const key of ['conv1', 'layer1.0.conv1', 'layer1.0.conv3', 'layer1.1.conv2', 'layer2.0.downsample.0', 'layer4.0.conv2']) {
      const w = net.getParameter(`${key}.weight`);
      const want = zeros(w.shape, { backend: cpu });
      init.kaimingNormal_(want, { mode: 'fan_out', nonlinearity: 'relu', seed: deriveSeed(3, `${key}.weight`) });
      expect(Array.from(await w.toArray()), key).toEqual(Array.from(await want.toArray()));
      want.dispose();
    }
    const basic = tiny();
    for (const key of ['layer1.0.conv2', 'layer3.0.conv1']) {
      const w = basic.getParameter(`${key}.weight`);
      const want = zeros(w.shape, { backend: cpu });
      init.kaimingNormal_(want, { mode: 'fan_out', nonlinearity: 'relu', seed: deriveSeed(3, `${key}.weight`) });
      expect(Array.from(await w.toArray()), key).toEqual(Array.from(await want.toArray()));
      want.dispose();
    }
    basic.dispose();
    const fc = new Linear(16, 3, { seed: deriveSeed(3, 'fc'), backend: cpu });
    expect(Array.from(await net.getParameter('fc.weight').toArray())).toEqual(Array.from(await fc.weight.toArray()));
    expect(Array.from(await net.getParameter('fc.bias').toArray())).toEqual([0, 0, 0]);
    [net, fc].forEach((m) => m.dispose());
  });

  it('refuses an input of another rank by name', () => {
    const net = tiny();
    const x = rand([1, 1, 8, 8], 1, { backend: cpu });
    expect(() => noGrad(() => net.forward(x))).toThrow(/^ResNet: input must be \[N, 1, D, H, W\], got \[1, 1, 8, 8\]$/);
    dispose([x]);
    net.dispose();
  });
});
