import { describe, expect, it, vi } from 'vitest';
import { assign, noGrad } from '../../src/autograd/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { BatchNorm3d, Conv3d, ConvTranspose3d, deriveSeed, GroupNorm, InstanceNorm3d, Upsample, VNet, type VNetOptions } from '../../src/models/index.js';
import { dispose, fromArray, randn, tidy } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** The V-Net's options and construction rules that the golden tests (one configuration) do not reach. */

const BLOCKS = ['block_one', 'block_one_dw', 'block_two', 'block_two_dw', 'block_three', 'block_three_dw', 'block_four', 'block_four_dw',
  'block_five', 'block_five_up', 'block_six', 'block_six_up', 'block_seven', 'block_seven_up', 'block_eight', 'block_eight_up', 'block_nine'];

async function values(t: { toArray(): Promise<ArrayLike<number>> }): Promise<number[]> {
  return Array.from(await t.toArray());
}

describe('VNet construction', () => {
  for (const upsampling of ['transposed', 'trilinear'] as const) {
    it(`every convolution is initialised from deriveSeed(seed, '<its module path>') (${upsampling} upsampling)`, async () => {
      const seed = 7;
      const net = new VNet({ nFilters: 2, seed, upsampling, backend: cpu });
      const convs = net.namedModules().filter(([, m]) => m instanceof Conv3d || m instanceof ConvTranspose3d) as [string, Conv3d | ConvTranspose3d][];
      expect(convs.filter(([n]) => BLOCKS.some((b) => n.startsWith(`${b}.`))).length).toBeGreaterThanOrEqual(BLOCKS.length);
      for (const [name, conv] of convs) {
        // a fresh layer of the same kind and shape from the seed its path names
        const [cout, cin] = conv instanceof Conv3d ? [conv.weight.shape[0]!, conv.weight.shape[1]!] : [conv.weight.shape[1]!, conv.weight.shape[0]!];
        const k = conv.weight.shape[2]!;
        const fresh = conv instanceof Conv3d
          ? new Conv3d(cin, cout, k, { seed: deriveSeed(seed, name), backend: cpu })
          : new ConvTranspose3d(cin, cout, k, { stride: 2, seed: deriveSeed(seed, name), backend: cpu });
        expect(await values(conv.weight), `${name}.weight`).toEqual(await values(fresh.weight));
        fresh.dispose();
      }
      // the 3³ convolutions take cin on their first layer only
      const three = net.namedModules().find(([n]) => n === 'block_three.conv.3')![1] as Conv3d;
      expect(three.weight.shape).toEqual([8, 8, 3, 3, 3]);
      net.dispose();
    });
  }

  it('trilinear upsampling: Upsample(scale 2, trilinear, align_corners False) then conv 3³, as DTC', () => {
    const net = new VNet({ nFilters: 2, seed: 1, upsampling: 'trilinear', backend: cpu });
    const up = net.namedModules().find(([n]) => n === 'block_five_up')![1];
    expect(up.typeName).toBe('Upsampling');
    const upsample = up.namedModules().find(([, m]) => m instanceof Upsample)![1] as Upsample;
    expect(upsample.extraRepr()).toBe("scale_factor=2.0, mode='trilinear'");
    expect(net.namedModules().find(([n]) => n === 'block_one_dw')![1].typeName).toBe('DownsamplingConvBlock');
    expect(new VNet({ nFilters: 2, seed: 1, backend: cpu }).namedModules().find(([n]) => n === 'block_five_up')![1].typeName).toBe('UpsamplingDeconvBlock');
    net.dispose();
  });

  it('normalisations: batch, instance, group (groups capped at the channels) and none, on the given backend', () => {
    const backend = new CpuBackend(); // another instance than the default one: a layer made elsewhere would show
    const kinds: [VNetOptions['normalization'], unknown][] = [['batchnorm', BatchNorm3d], ['instancenorm', InstanceNorm3d], ['groupnorm', GroupNorm]];
    for (const [normalization, type] of kinds) {
      const net = new VNet({ nFilters: 2, normalization, groupNormGroups: 16, seed: 1, backend });
      const norms = net.modules().filter((m) => m instanceof BatchNorm3d || m instanceof InstanceNorm3d || m instanceof GroupNorm);
      expect(norms.length, String(normalization)).toBeGreaterThan(0);
      expect(norms.every((m) => m instanceof (type as typeof BatchNorm3d)), String(normalization)).toBe(true);
      if (normalization === 'groupnorm') for (const g of norms as GroupNorm[]) expect(g.numGroups).toBe(Math.min(16, g.numChannels));
      for (const [name, p] of [...net.namedParameters(), ...net.namedBuffers()]) expect(p.backend, `${normalization} ${name}`).toBe(backend);
      net.dispose();
    }
    const plain = new VNet({ nFilters: 2, normalization: 'none', seed: 1, backend });
    expect(plain.modules().some((m) => m instanceof BatchNorm3d || m instanceof InstanceNorm3d || m instanceof GroupNorm)).toBe(false);
    plain.dispose();
  });

  it('heads: the default is one activation-free out_conv; tanh and sigmoid apply; none is an error', async () => {
    const net = new VNet({
      nFilters: 2, seed: 1, backend: cpu,
      heads: [{ name: 'raw', channels: 1 }, { name: 't', channels: 1, activation: 'tanh' }, { name: 's', channels: 1, activation: 'sigmoid' }],
    });
    // zero weights, bias 3: each head's output is its activation of 3 everywhere
    for (const [name, p] of net.namedParameters()) {
      if (!['raw', 't', 's'].some((h) => name.startsWith(`${h}.`))) continue;
      noGrad(() => assign(p, fromArray(new Float32Array(p.numel()).fill(name.endsWith('.bias') ? 3 : 0), p.shape, { backend: cpu })));
    }
    net.eval();
    const x = randn([1, 1, 16, 16, 16], 2, { backend: cpu });
    const out = noGrad(() => net.forward(x));
    expect(new Set(await values(out.raw!))).toEqual(new Set([3]));
    expect(new Set(await values(out.t!))).toEqual(new Set([Math.fround(Math.tanh(3))]));
    expect(new Set(await values(out.s!))).toEqual(new Set([Math.fround(1 / (1 + Math.exp(-3)))]));
    dispose([x, ...Object.values(out)]);
    net.dispose();
    const plain = new VNet({ nFilters: 2, seed: 1, backend: cpu });
    expect(plain.heads).toEqual([{ name: 'out_conv', channels: 2, activation: 'none' }]);
    plain.dispose();
    expect(() => new VNet({ nFilters: 2, heads: [], backend: cpu })).toThrow('VNet: at least one head');
  });

  it('forward(x, heads) computes only the named heads, each the same floats as in the full forward; an unknown name is an error', async () => {
    const net = new VNet({ nFilters: 2, seed: 3, backend: cpu, heads: [{ name: 'a', channels: 1, activation: 'tanh' }, { name: 'b', channels: 2 }] });
    net.eval();
    const x = randn([2, 1, 16, 16, 16], 4, { backend: cpu });
    const all = noGrad(() => net.forward(x));
    const onlyB = noGrad(() => net.forward(x, ['b']));
    expect(Object.keys(onlyB)).toEqual(['b']);
    expect(await values(onlyB.b!)).toEqual(await values(all.b!));
    expect(() => net.forward(x, ['b', 'sdf'])).toThrow("VNet: no head 'sdf' (heads: a, b)");
    dispose([x, ...Object.values(all), ...Object.values(onlyB)]);
    net.dispose();
  });

  it('input checks name the shape', () => {
    const net = new VNet({ nFilters: 2, seed: 1, backend: cpu });
    const expectRefused = (shape: number[], message: string) => {
      const x = randn(shape, 0, { backend: cpu });
      expect(() => tidy(() => net.forward(x))).toThrow(message);
      x.dispose();
    };
    expectRefused([1, 16, 16, 16], 'VNet: input must be [N, 1, D, H, W], got [1, 16, 16, 16]');
    expectRefused([1, 2, 16, 16, 16], 'VNet: input must be [N, 1, D, H, W], got [1, 2, 16, 16, 16]');
    expectRefused([1, 1, 16, 24, 16], 'VNet: spatial sizes must be multiples of 16 (four 2× downsamplings), got [16, 24, 16]');
    net.dispose();
  });

  it("dropout: after block five and block nine (DTC), its masks salted by the model's seed", async () => {
    const net = new VNet({ nFilters: 2, hasDropout: true, seed: 3, backend: cpu });
    expect(net.dropout!.salt).toBe(deriveSeed(3, 'dropout'));
    const calls = vi.spyOn(net.dropout!, 'forward');
    const x = randn([2, 1, 16, 16, 16], 1, { backend: cpu });
    net.setDropoutSeed(5);
    const y = noGrad(() => net.forward(x));
    expect(calls).toHaveBeenCalledTimes(2);
    // the same construction seed and dropout seed give the same masks in another model
    const twin = new VNet({ nFilters: 2, hasDropout: true, seed: 3, backend: cpu });
    twin.setDropoutSeed(5);
    const z = noGrad(() => twin.forward(x));
    expect(await values(z.out_conv!)).toEqual(await values(y.out_conv!));
    // a model without dropout takes a dropout seed too (the trainer sets one every iteration)
    const plain = new VNet({ nFilters: 2, seed: 3, backend: cpu });
    expect(() => plain.setDropoutSeed(5)).not.toThrow();
    dispose([x, ...Object.values(y), ...Object.values(z)]);
    for (const m of [net, twin, plain]) m.dispose();
  });
});
