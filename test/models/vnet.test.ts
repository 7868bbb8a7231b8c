import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/index.js';
import { VNet } from '../../src/models/index.js';
import { dispose, memory, randn, tidy } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** PyTorch's parameter count of DTC's VNet (batchnorm), from its layer list. */
function pytorchVNetParameterCount(inChannels: number, f: number, heads: number[]): number {
  const conv = (cin: number, cout: number, k: number) => cout * cin * k ** 3 + cout; // weight + bias
  const bn = (c: number) => 2 * c; // weight + bias (running stats are buffers)
  const block = (n: number, cin: number, cout: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += conv(i === 0 ? cin : cout, cout, 3) + bn(cout);
    return s;
  };
  const down = (cin: number, cout: number) => conv(cin, cout, 2) + bn(cout); // Conv3d(k=2, s=2)
  const up = (cin: number, cout: number) => cout * cin * 8 + cout + bn(cout); // ConvTranspose3d(k=2, s=2)
  return block(1, inChannels, f) + down(f, 2 * f)
    + block(2, 2 * f, 2 * f) + down(2 * f, 4 * f)
    + block(3, 4 * f, 4 * f) + down(4 * f, 8 * f)
    + block(3, 8 * f, 8 * f) + down(8 * f, 16 * f)
    + block(3, 16 * f, 16 * f) + up(16 * f, 8 * f)
    + block(3, 8 * f, 8 * f) + up(8 * f, 4 * f)
    + block(3, 4 * f, 4 * f) + up(4 * f, 2 * f)
    + block(2, 2 * f, 2 * f) + up(2 * f, f)
    + block(1, f, f)
    + heads.reduce((s, c) => s + conv(f, c, 1), 0);
}

const dtcHeads = [
  { name: 'out_conv', channels: 1, activation: 'tanh' as const },
  { name: 'out_conv2', channels: 1 },
];

describe('VNet (la-protocol §3)', () => {
  it('n_filters 16, two 1-channel heads: PyTorch\'s parameter count (9 448 866) and DTC\'s names', () => {
    const net = new VNet({ nFilters: 16, heads: dtcHeads, seed: 0, backend: cpu });
    const expected = pytorchVNetParameterCount(1, 16, [1, 1]);
    expect(expected).toBe(9_448_866);
    expect(net.numParameters()).toBe(expected);
    console.log(`VNet n_filters=16, heads out_conv(1, tanh) + out_conv2(1): ${net.numParameters().toLocaleString('en-US')} parameters`);
    const keys = [...net.stateSpec().keys()];
    expect(keys.slice(0, 12)).toEqual([
      'block_one.conv.0.weight', 'block_one.conv.0.bias',
      'block_one.conv.1.weight', 'block_one.conv.1.bias', 'block_one.conv.1.running_mean', 'block_one.conv.1.running_var',
      'block_one.conv.1.num_batches_tracked',
      'block_one_dw.conv.0.weight', 'block_one_dw.conv.0.bias', 'block_one_dw.conv.1.weight', 'block_one_dw.conv.1.bias',
      'block_one_dw.conv.1.running_mean',
    ]);
    expect(keys).toContain('block_two.conv.3.weight'); // second conv of a 2-stage block: index 3 (Conv, BN, ReLU, Conv…)
    expect(keys).toContain('block_five.conv.7.num_batches_tracked');
    expect(keys).toContain('block_five_up.conv.0.weight');
    expect(keys).toContain('block_eight_up.conv.1.running_var');
    expect(keys.slice(-4)).toEqual(['out_conv.weight', 'out_conv.bias', 'out_conv2.weight', 'out_conv2.bias']);
    const spec = net.stateSpec();
    expect(spec.get('block_five_up.conv.0.weight')!.shape).toEqual([256, 128, 2, 2, 2]); // ConvTranspose3d [in, out, k…]
    expect(spec.get('block_one_dw.conv.0.weight')!.shape).toEqual([32, 16, 2, 2, 2]);
    expect(spec.get('block_four.conv.1.num_batches_tracked')!.dtype).toBe('int32');
    const s = net.toString();
    expect(s.split('\n')[0]).toBe("VNet(in_channels=1, n_filters=16, normalization='batchnorm', has_dropout=False, upsampling='transposed', heads=[out_conv:1:tanh, out_conv2:1])  # 9,448,866 params");
    expect(s).toContain('(block_one): ConvBlock()  # 480 params');
    expect(s).toContain('(0): Conv3d(1, 16, kernel_size=3, stride=1, padding=1)  # weight [16, 1, 3, 3, 3], bias [16]; 448 params');
    expect(s).toContain('(block_five_up): UpsamplingDeconvBlock()');
    expect(s).toContain('(0): ConvTranspose3d(256, 128, kernel_size=2, stride=2)  # weight [256, 128, 2, 2, 2], bias [128]; 262,272 params');
    expect(s.trim().split('\n').at(-1)).toBe('total parameters: 9448866');
    net.dispose();
  });

  it('the options: normalization, trilinear upsampling, heads', () => {
    const count = (o: ConstructorParameters<typeof VNet>[0]) => {
      const n = new VNet({ ...o, seed: 0, backend: cpu });
      const r = { params: n.numParameters(), keys: [...n.stateSpec().keys()] };
      n.dispose();
      return r;
    };
    const none = count({ nFilters: 4, normalization: 'none' });
    expect(none.keys.slice(0, 4)).toEqual(['block_one.conv.0.weight', 'block_one.conv.0.bias', 'block_one_dw.conv.0.weight', 'block_one_dw.conv.0.bias']);
    expect(none.keys).toContain('block_two.conv.2.weight'); // Conv, ReLU, Conv
    const inst = count({ nFilters: 4, normalization: 'instancenorm' });
    expect(inst.params).toBe(none.params); // InstanceNorm3d has no parameters by default
    expect(inst.keys).toContain('block_two.conv.3.weight'); // Conv, InstanceNorm3d, ReLU, Conv
    expect(inst.keys.some((k) => k.includes('running'))).toBe(false);
    const group = count({ nFilters: 16, normalization: 'groupnorm' });
    expect(group.params).toBe(pytorchVNetParameterCount(1, 16, [2]));
    const tri = count({ nFilters: 4, upsampling: 'trilinear' });
    expect(tri.keys).toContain('block_five_up.conv.1.weight'); // Upsample, Conv3d 3³, BN, ReLU
    expect(tri.keys).toContain('block_five_up.conv.2.running_mean');
    const f = 4;
    const deconv = (cin: number, cout: number) => cout * cin * 8;
    const tri3 = (cin: number, cout: number) => cout * cin * 27;
    expect(tri.params - pytorchVNetParameterCount(1, f, [2])).toBe(
      [[16 * f, 8 * f], [8 * f, 4 * f], [4 * f, 2 * f], [2 * f, f]].reduce((s, [a, b]) => s + tri3(a, b) - deconv(a, b), 0));
    expect(count({ nFilters: 4, heads: [{ name: 'seg', channels: 3 }] }).keys.slice(-2)).toEqual(['seg.weight', 'seg.bias']);
    expect(() => new VNet({ heads: [{ name: 'a', channels: 1 }, { name: 'a', channels: 1 }], backend: cpu })).toThrow(/two heads/);
  });

  it('forward gives every head at the input resolution (cpu), activations applied; same seed, same weights', async () => {
    const net = new VNet({ nFilters: 2, heads: [{ name: 'out_conv', channels: 2 }, { name: 'sdf', channels: 1, activation: 'tanh' }], seed: 3, backend: cpu });
    const x = randn([2, 1, 16, 16, 16], 1, { backend: cpu });
    const before = memory(cpu);
    const out = noGrad(() => tidy(() => net.forward(x)));
    expect(out.out_conv.shape).toEqual([2, 2, 16, 16, 16]);
    expect(out.sdf.shape).toEqual([2, 1, 16, 16, 16]);
    const sdf = await out.sdf.toArray();
    expect(Math.max(...Array.from(sdf, Math.abs))).toBeLessThanOrEqual(1);
    const twin = new VNet({ nFilters: 2, heads: [{ name: 'out_conv', channels: 2 }, { name: 'sdf', channels: 1, activation: 'tanh' }], seed: 3, backend: cpu });
    const out2 = noGrad(() => tidy(() => twin.forward(x)));
    expect(Array.from(await out2.out_conv.toArray())).toEqual(Array.from(await out.out_conv.toArray()));
    dispose([out, out2]);
    twin.dispose();
    expect(memory(cpu).liveBuffers).toBe(before.liveBuffers);
    expect(() => net.forward(randn([1, 1, 12, 16, 16], 1, { backend: cpu }))).toThrow(/multiples of 16/);
    dispose(x);
    net.dispose();
  });

  it.each([
    { normalization: 'groupnorm' as const, upsampling: 'transposed' as const },
    { normalization: 'instancenorm' as const, upsampling: 'trilinear' as const },
    { normalization: 'none' as const, upsampling: 'trilinear' as const },
  ])('forward with %o (cpu)', async (o) => {
    const net = new VNet({ nFilters: 2, nClasses: 3, ...o, seed: 5, backend: cpu });
    const x = randn([2, 1, 32, 16, 16], 2, { backend: cpu }); // instance norm needs > 1 voxel at the 2×1×1 bottom
    const y = noGrad(() => tidy(() => net.forward(x).out_conv));
    expect(y.shape).toEqual([2, 3, 32, 16, 16]);
    expect(Array.from(await y.toArray()).every(Number.isFinite)).toBe(true);
    dispose([x, y]);
    net.dispose();
  });

  it('dropout masks are a function of the dropout seed (reproducible), absent in eval', async () => {
    const net = new VNet({ nFilters: 2, hasDropout: true, seed: 3, backend: cpu });
    const x = randn([2, 1, 16, 16, 16], 1, { backend: cpu });
    const run = async (seed: number | null) => {
      if (seed !== null) net.setDropoutSeed(seed);
      const y = noGrad(() => tidy(() => net.forward(x).out_conv));
      const v = Array.from(await y.toArray());
      y.dispose();
      return v;
    };
    const a = await run(7), b = await run(7), c = await run(8);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    const d = await run(null); // a further forward without reseeding draws new masks
    expect(d).not.toEqual(a);
    net.eval();
    const e1 = await run(7), e2 = await run(9);
    expect(e2).toEqual(e1);
    dispose(x);
    net.dispose();
  });
});
