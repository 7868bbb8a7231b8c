import { describe, expect, it } from 'vitest';
import {
  BatchNorm3d, ELU, GroupNorm, Hardtanh, InstanceNorm3d, LayerNorm, LeakyReLU, Upsample,
} from '../../src/models/index.js';
import { pythonFloat } from '../../src/models/repr.js';
import { initBackend } from '../../src/tensor/index.js';

const cpu = await initBackend({ backend: 'cpu' });

describe("layers print their float options as PyTorch's repr() does", () => {
  it('pythonFloat: the shortest round-trip digits, exponent form below 1e-4 and from 1e16', () => {
    const cases: [number, string][] = [
      [2, '2.0'], [0.5, '0.5'], [-1, '-1.0'], [0, '0.0'], [-0, '-0.0'], [1e-5, '1e-05'], [1e-6, '1e-06'],
      [0.0001, '0.0001'], [0.00012, '0.00012'], [1.5e-7, '1.5e-07'], [0.1, '0.1'], [123456.789, '123456.789'],
      [1e15, '1000000000000000.0'], [1e16, '1e+16'], [2.5e20, '2.5e+20'], [1e-100, '1e-100'], [1e300, '1e+300'],
      [Infinity, 'inf'], [-Infinity, '-inf'], [NaN, 'nan'], [1 / 3, '0.3333333333333333'],
    ];
    for (const [x, text] of cases) expect(pythonFloat(x), String(x)).toBe(text);
  });

  it('norm layers, activations and Upsample', () => {
    const bn = new BatchNorm3d(3, { backend: cpu });
    expect(bn.extraRepr()).toBe('3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True');
    const inorm = new InstanceNorm3d(2, { backend: cpu });
    expect(inorm.extraRepr()).toBe('2, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False');
    const gn = new GroupNorm(2, 4, { backend: cpu });
    expect(gn.extraRepr()).toBe('2, 4, eps=1e-05, affine=True');
    const ln = new LayerNorm([3, 4], { eps: 1e-6, backend: cpu });
    expect(ln.extraRepr()).toBe('(3, 4), eps=1e-06, elementwise_affine=True');
    expect(new ELU().extraRepr()).toBe('alpha=1.0');
    expect(new Hardtanh().extraRepr()).toBe('min_val=-1.0, max_val=1.0');
    expect(new LeakyReLU().extraRepr()).toBe('negative_slope=0.01');
    expect(new Upsample({ scaleFactor: 2, mode: 'trilinear' }).extraRepr()).toBe("scale_factor=2.0, mode='trilinear'");
    expect(new Upsample({ scaleFactor: [2, 2, 1] }).extraRepr()).toBe("scale_factor=(2.0, 2.0, 1.0), mode='nearest'");
    expect(new Upsample({ size: 8, mode: 'nearest-exact' }).extraRepr()).toBe("size=8, mode='nearest-exact'");
    expect(new Upsample({ size: [8, 8, 4] }).extraRepr()).toBe("size=(8, 8, 4), mode='nearest'");
    for (const m of [bn, inorm, gn, ln]) m.dispose();
  });
});
