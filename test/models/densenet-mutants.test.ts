import { describe, expect, it } from 'vitest';
import { Conv3d, DenseNet, DenseNet121, Dropout3d, Linear, init, type DenseNetOptions } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { dispose, randn, zeros } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * What the mutation run of src/models/densenet.ts found untested (stryker.config.mjs): every convolution's He-normal
 * weight drawn from the seed of its module path (`${path}.weight`), the classifier's from `class_layers.out`, each
 * dense layer's Dropout3d salted by its path.
 */

const tiny = (options: Partial<DenseNetOptions> = {}): DenseNet => new DenseNet({
  inChannels: 1, outChannels: 3, initFeatures: 4, growthRate: 2, blockConfig: [2, 1], bnSize: 2, seed: 3, backend: cpu, ...options,
});

describe('DenseNet (mutation tests)', () => {
  it('each convolution is He-normal from the seed of its module path, the classifier from class_layers.out', async () => {
    const net = tiny();
    const convs = net.namedModules().filter(([, m]) => m instanceof Conv3d) as [string, Conv3d][];
    // conv0, two dense layers' conv1 and conv2, transition1's conv, one dense layer's two
    expect(convs.map(([p]) => p)).toEqual([
      'features.conv0', 'features.denseblock1.denselayer1.layers.conv1', 'features.denseblock1.denselayer1.layers.conv2',
      'features.denseblock1.denselayer2.layers.conv1', 'features.denseblock1.denselayer2.layers.conv2', 'features.transition1.conv',
      'features.denseblock2.denselayer1.layers.conv1', 'features.denseblock2.denselayer1.layers.conv2',
    ]);
    for (const [path, conv] of convs) {
      const want = init.kaimingNormal_(zeros([...conv.weight.shape], { backend: cpu }), { seed: deriveSeed(3, `${path}.weight`) });
      expect([path, Array.from(await conv.weight.toArray())]).toEqual([path, Array.from(await want.toArray())]);
      want.dispose();
    }
    const out = net.getSubmodule('class_layers.out') as Linear;
    const ref = new Linear(out.inFeatures, 3, { seed: deriveSeed(3, 'class_layers.out'), backend: cpu });
    expect(Array.from(await out.weight.toArray())).toEqual(Array.from(await ref.weight.toArray()));
    ref.dispose();
    net.dispose();
  });

  it("each dense layer's Dropout3d is salted by its module path", () => {
    const net = tiny({ dropoutProb: 0.25 });
    const drops = net.namedModules().filter(([, m]) => m instanceof Dropout3d) as [string, Dropout3d][];
    expect(drops.map(([p, d]) => [p, d.p, d.salt])).toEqual(drops.map(([p]) => [p, 0.25, deriveSeed(3, p)]));
    expect(drops).toHaveLength(3);
    net.dispose();
  });

  it('the size check follows conv0 and pool0 (⌊(n − 1)/2⌋ + 1 each) and names the step that leaves no voxel, an empty axis at conv0', () => {
    const net = tiny({ blockConfig: [1, 1] });
    // 4 → conv0 2 → pool0 1 → transition1 0
    const small = randn([1, 1, 4, 4, 4], 1, { backend: cpu });
    expect(() => net.forward(small)).toThrow(/^DenseNet: input \[1, 1, 4, 4, 4\] is too small: transition1's 2³ average pool turns \[1, 1, 1\] into \[0, 0, 0\]$/);
    const empty = zeros([1, 1, 0, 8, 8], { backend: cpu });
    expect(() => net.forward(empty)).toThrow(/^DenseNet: input \[1, 1, 0, 8, 8\] is too small: conv0 \(7³, stride 2, padding 3\) turns \[0, 8, 8\] into \[0, 4, 4\]$/);
    const flat = randn([1, 1, 16, 16], 1, { backend: cpu });
    expect(() => net.forward(flat)).toThrow(/^DenseNet: input must be \[N, 1, D, H, W\], got \[1, 1, 16, 16\]$/);
    expect(() => tiny({ dropoutProb: -0.1 })).toThrow(/^DenseNet: dropoutProb must be in \[0, 1\), got -0.1$/);
    dispose([small, empty, flat]);
    net.dispose();
  });

  it("DenseNet121 has MONAI's blocks [6, 12, 24, 16] unless blockConfig is given", () => {
    const options = { inChannels: 1, outChannels: 2, initFeatures: 2, growthRate: 1, bnSize: 1, seed: 1, backend: cpu };
    const [net, given] = [new DenseNet121(options), new DenseNet121({ ...options, blockConfig: [1] })];
    expect([net.blockConfig, given.blockConfig]).toEqual([[6, 12, 24, 16], [1]]);
    expect(net.getSubmodule('features.denseblock4.denselayer16')).toBeDefined();
    net.dispose();
    given.dispose();
  });
});
