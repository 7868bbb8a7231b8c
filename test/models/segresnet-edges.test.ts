import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/index.js';
import {
  BatchNorm3d, Conv3d, ConvTranspose3d, GroupNorm, InstanceNorm3d, SegResNet, deriveSeed, type SegResNetOptions,
} from '../../src/models/index.js';
import { dispose, rand, randn } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * The edges of SegResNet (MONAI's monai/networks/nets/segresnet.py): the norm's and act's arguments as MONAI's
 * (name, args) tuples, the seeded initialisation by module path, one level without a decoder, and every refused
 * option and input named.
 */

const tiny = (options: SegResNetOptions = {}): SegResNet => new SegResNet({
  initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 2], blocksUp: [1], seed: 3, backend: cpu, ...options,
});

describe('SegResNet initialisation', () => {
  it("each convolution's weights derive from the seed and its module path alone (a Conv3d or ConvTranspose3d made with that seed has them)", async () => {
    const net = tiny({ upsampleMode: 'deconv', blocksDown: [1, 2, 1], blocksUp: [1, 1] });
    const convs = net.namedModules().filter(([, m]) => m instanceof Conv3d || m instanceof ConvTranspose3d);
    expect(convs.map(([name]) => name)).toEqual([
      'convInit.conv', 'down_layers.0.1.conv1.conv', 'down_layers.0.1.conv2.conv',
      'down_layers.1.0.conv', 'down_layers.1.1.conv1.conv', 'down_layers.1.1.conv2.conv', 'down_layers.1.2.conv1.conv', 'down_layers.1.2.conv2.conv',
      'down_layers.2.0.conv', 'down_layers.2.1.conv1.conv', 'down_layers.2.1.conv2.conv',
      'up_layers.0.0.conv1.conv', 'up_layers.0.0.conv2.conv', 'up_layers.1.0.conv1.conv', 'up_layers.1.0.conv2.conv',
      'up_samples.0.0.conv', 'up_samples.0.1.deconv', 'up_samples.1.0.conv', 'up_samples.1.1.deconv', 'conv_final.2.conv',
    ]);
    for (const [name, m] of convs) {
      const conv = m as Conv3d | ConvTranspose3d;
      const options = { bias: conv.bias !== null, seed: deriveSeed(3, name), backend: cpu };
      const fresh = conv instanceof Conv3d
        ? new Conv3d(conv.inChannels, conv.outChannels, conv.kernelSize, options)
        : new ConvTranspose3d(conv.inChannels, conv.outChannels, conv.kernelSize, options);
      expect(Array.from(await conv.weight.toArray()), name).toEqual(Array.from(await fresh.weight.toArray()));
      expect(conv.bias === null ? null : Array.from(await conv.bias.toArray()), name)
        .toEqual(fresh.bias === null ? null : Array.from(await fresh.bias.toArray()));
      fresh.dispose();
    }
    net.dispose();
  });

  it("the dropout's masks derive from the seed (salt of the path 'dropout'): two networks of one seed drop the same channels", async () => {
    const [a, b, plain] = [tiny({ dropoutProb: 0.5 }), tiny({ dropoutProb: 0.5 }), tiny()];
    a.train();
    b.train();
    expect(a.dropout?.salt).toBe(deriveSeed(3, 'dropout'));
    const x = randn([1, 1, 4, 4, 4], 9, { backend: cpu });
    const [ya, yb, y] = noGrad(() => [a.forward(x), b.forward(x), plain.forward(x)]);
    expect(Array.from(await ya.toArray())).toEqual(Array.from(await yb.toArray()));
    expect(Array.from(await ya.toArray())).not.toEqual(Array.from(await y.toArray()));
    dispose([x, ya, yb, y]);
    for (const m of [a, b, plain]) m.dispose();
  });
});

describe("SegResNet's options as MONAI's", () => {
  it("the norm's arguments reach every norm layer: instance with affine and eps, batch without running stats, group without affine", () => {
    const instance = tiny({ norm: ['instance', { affine: true, eps: 1e-3 }] });
    const norms = instance.modules().filter((m) => m instanceof InstanceNorm3d);
    expect(norms).toHaveLength(2 * 4 + 1);
    expect(norms.every((n) => n.eps === 1e-3 && n.weight !== null)).toBe(true);
    expect([...instance.stateSpec().keys()].filter((k) => k.startsWith('conv_final.0.'))).toEqual(['conv_final.0.weight', 'conv_final.0.bias']);
    const batch = tiny({ norm: ['batch', { trackRunningStats: false, momentum: 0.3, eps: 1e-4 }] });
    const bns = batch.modules().filter((m) => m instanceof BatchNorm3d);
    expect(bns.every((n) => n.runningMean === null && n.momentum === 0.3 && n.eps === 1e-4)).toBe(true);
    expect([...batch.stateSpec().keys()].some((k) => k.includes('running'))).toBe(false);
    const group = tiny({ norm: ['group', { numGroups: 1, affine: false, eps: 1e-2 }] });
    const gns = group.modules().filter((m) => m instanceof GroupNorm);
    expect(gns.every((n) => n.numGroups === 1 && n.weight === null && n.eps === 1e-2)).toBe(true);
    for (const m of [instance, batch, group]) m.dispose();
  });

  it('one level (blocksDown [2], blocksUp []): no decoder, any spatial size, conv_final on the level\'s output', () => {
    const net = tiny({ blocksDown: [2], blocksUp: [], outChannels: 3 });
    expect(net.upSamples.length).toBe(0);
    const x = rand([2, 1, 3, 5, 7], 4, { backend: cpu });
    const y = noGrad(() => net.forward(x));
    expect(y.shape).toEqual([2, 3, 3, 5, 7]);
    dispose([x, y]);
    net.dispose();
  });

  it('an unknown act, also in the (name, args) form, and every count out of range are refused by name', () => {
    const actError = /^SegResNet: unknown act (.+); valid: 'relu', 'leakyrelu', \['leakyrelu', \{ negativeSlope \}\]$/;
    expect(() => tiny({ act: 'gelu' as 'relu' })).toThrow(actError);
    expect(() => tiny({ act: 'gelu' as 'relu' })).toThrow('SegResNet: unknown act "gelu"');
    // MONAI's tuple form of another activation, e.g. ("RELU", {"inplace": True})
    expect(() => tiny({ act: ['relu', { negativeSlope: 0.1 }] as unknown as 'relu' })).toThrow('SegResNet: unknown act ["relu",{"negativeSlope":0.1}]');
    expect(() => tiny({ initFilters: 0 })).toThrow(/^SegResNet: initFilters must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ inChannels: 1.5 })).toThrow(/^SegResNet: inChannels must be an integer ≥ 1, got 1.5$/);
    expect(() => tiny({ outChannels: 0 })).toThrow(/^SegResNet: outChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ blocksDown: [], blocksUp: [] })).toThrow(/^SegResNet: blocksDown needs at least one level$/);
    expect(() => tiny({ blocksUp: [0.5] })).toThrow(/^SegResNet: every entry of blocksDown and blocksUp must be an integer ≥ 0, got 0.5$/);
  });

  it('an input of another rank is refused by name, also when its second size is inChannels', () => {
    const net = tiny();
    for (const shape of [[1, 1, 8, 8], [1, 1, 2, 2, 2, 2]]) {
      const x = rand(shape, 1, { backend: cpu });
      expect(() => net.forward(x)).toThrow(`SegResNet: input must be [N, 1, D, H, W], got [${shape.join(', ')}]`);
      x.dispose();
    }
    net.dispose();
  });
});
