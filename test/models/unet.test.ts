import { describe, expect, it } from 'vitest';
import { backward, mean, square } from '../../src/autograd/index.js';
import { UNet, manualSeed } from '../../src/models/index.js';
import { dispose, memory, rand, tidy } from '../../src/tensor/index.js';

/** The U-Net the examples train, exported by the package so that an installed project has it too. */
describe('UNet (MONAI-BasicUNet-like)', () => {
  /** TwoConv(i, o): two 3×3×3 convs with bias and two affine instance norms */
  const twoConv = (i: number, o: number) => (27 * i + 1) * o + 2 * o + (27 * o + 1) * o + 2 * o;

  it('levels of TwoConv, max-pool down, transposed or trilinear up, concatenation skips, a 1×1×1 head: shapes, names and parameter count', () => {
    manualSeed(1);
    const net = new UNet({ inChannels: 2, outChannels: 3, features: [4, 6, 8] });
    const x = rand([2, 2, 8, 4, 8], 5);
    const y = net.forward(x);
    expect(y.shape).toEqual([2, 3, 8, 4, 8]);
    const names = net.namedParameters().map(([n]) => n);
    expect(names.slice(0, 4)).toEqual(['down_0.conv_0.weight', 'down_0.conv_0.bias', 'down_0.norm_0.weight', 'down_0.norm_0.bias']);
    expect(names).toContain('up_1.weight');
    expect(names).toContain('merge_0.conv_1.weight');
    expect(names.slice(-2)).toEqual(['head.weight', 'head.bias']);
    const deconv = (i: number, o: number) => 8 * i * o + o;
    expect(net.numParameters()).toBe(twoConv(2, 4) + twoConv(4, 6) + twoConv(6, 8) + deconv(6, 4) + deconv(8, 6) + twoConv(8, 4) + twoConv(12, 6) + 4 * 3 + 3);
    const trilinear = new UNet({ inChannels: 1, outChannels: 2, features: [4, 6], upsample: 'trilinear' });
    expect(trilinear.namedParameters().find(([n]) => n === 'up_0.weight')![1].shape).toEqual([4, 6, 1, 1, 1]);
    dispose([x, y]);
    trilinear.dispose();
    net.dispose();
  });

  it('every parameter gets a gradient and a step leaks nothing; bad sizes and features are named', async () => {
    const net = new UNet({ inChannels: 1, outChannels: 2, features: [2, 4] });
    const x = rand([1, 1, 4, 4, 4], 2);
    const before = memory().liveTensors;
    const loss = tidy(() => mean(square(net.forward(x))));
    backward(loss);
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    expect(await loss.item()).toBeGreaterThan(0);
    loss.dispose();
    net.zeroGrad();
    expect(memory().liveTensors).toBe(before);
    const odd = rand([1, 1, 4, 5, 4], 3);
    expect(() => net.forward(odd)).toThrow(/^UNet: input extents \[4, 5, 4\] must be divisible by 2 \(2 levels\)$/);
    expect(() => new UNet({ inChannels: 1, outChannels: 2, features: [4] })).toThrow(/^UNet: at least two levels, got features \[4\]$/);
    dispose([x, odd]);
    net.dispose();
  });
});
