import { describe, expect, it } from 'vitest';
import { Conv3d, ConvTranspose3d, Linear, Parameter, fanIn, init } from '../../src/models/index.js';
import { erfinv } from '../../src/models/init.js';
import { erf } from '../../src/kernels/elementwise/cpu.js';
import { cpu, webgpu } from '../helpers/backends.js';

/** mean and (population) standard deviation */
function moments(values: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < values.length; i++) { s += values[i]!; s2 += values[i]! * values[i]!; }
  const mean = s / values.length;
  return { mean, std: Math.sqrt(s2 / values.length - mean * mean) };
}

const weight = (shape: number[]) => Parameter.full(shape, 0, { backend: cpu });

describe('torch.nn.init', () => {
  it('calculateGain is PyTorch\'s table', () => {
    for (const n of ['linear', 'conv3d', 'conv_transpose3d', 'sigmoid'] as const) expect(init.calculateGain(n)).toBe(1);
    expect(init.calculateGain('tanh')).toBe(5 / 3);
    expect(init.calculateGain('relu')).toBe(Math.SQRT2);
    expect(init.calculateGain('leaky_relu')).toBe(Math.sqrt(2 / (1 + 0.01 ** 2)));
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(init.calculateGain('selu')).toBe(0.75);
    expect(() => init.calculateGain('gelu' as init.Nonlinearity)).toThrow('calculateGain: unsupported nonlinearity gelu');
  });

  it('fan_in and fan_out: size(1) and size(0) times the receptive field; a ConvTranspose3d weight [in, out, k…] has fan_in out·k³', () => {
    expect(init.fanInAndFanOut([16, 8, 3, 3, 3])).toEqual({ fanIn: 8 * 27, fanOut: 16 * 27 });
    expect(init.fanInAndFanOut([5, 7])).toEqual({ fanIn: 7, fanOut: 5 });
    const up = new ConvTranspose3d(4, 6, 2, { seed: 1, backend: cpu });
    expect(up.weight.shape).toEqual([4, 6, 2, 2, 2]);
    expect(fanIn(up.weight.shape)).toBe(6 * 8);
    expect(() => init.fanInAndFanOut([3])).toThrow(/fewer than 2 dimensions/);
    up.dispose();
  });

  it('the layers\' default is kaiming_uniform_(a = √5) for the weight and U(±1/√fan_in) for the bias', async () => {
    const conv = new Conv3d(6, 8, 3, { seed: 3, backend: cpu }), bound = 1 / Math.sqrt(6 * 27);
    expect(Math.sqrt(3) * init.calculateGain('leaky_relu', Math.sqrt(5)) / Math.sqrt(6 * 27)).toBeCloseTo(bound, 15);
    const w = await conv.weight.toArray(), b = await conv.bias!.toArray();
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.98 * bound);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
    const linear = new Linear(10, 3, { seed: 4, backend: cpu });
    expect(Math.max(...(await linear.bias!.toArray()).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(10));
    conv.dispose();
    linear.dispose();
  });

  it('kaiming and xavier draw within their bounds with their standard deviations, in place, the same values per seed', async () => {
    const shape = [32, 16, 3, 3, 3], fanInValue = 16 * 27, fanOutValue = 32 * 27;
    const w = weight(shape);
    expect(init.kaimingUniform_(w, { nonlinearity: 'relu', seed: 7 })).toBe(w);
    let v = await w.toArray();
    const bound = Math.sqrt(6 / fanInValue);
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(moments(v).std).toBeCloseTo(bound / Math.sqrt(3), 3);
    const again = weight(shape);
    init.kaimingUniform_(again, { nonlinearity: 'relu', seed: 7 });
    expect(await again.toArray()).toEqual(v);

    init.kaimingNormal_(w, { mode: 'fan_out', nonlinearity: 'relu', seed: 8 });
    v = await w.toArray();
    expect(moments(v).std / Math.sqrt(2 / fanOutValue)).toBeCloseTo(1, 1);
    expect(Math.abs(moments(v).mean)).toBeLessThan(0.05 * Math.sqrt(2 / fanOutValue));

    init.xavierUniform_(w, init.calculateGain('tanh'), { seed: 9 });
    v = await w.toArray();
    const xb = (5 / 3) * Math.sqrt(6 / (fanInValue + fanOutValue));
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(xb);
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.99 * xb);
    init.xavierNormal_(w, 1, { seed: 10 });
    expect(moments(await w.toArray()).std / Math.sqrt(2 / (fanInValue + fanOutValue))).toBeCloseTo(1, 1);
    expect(w.requiresGrad).toBe(true);
    expect(w.grad).toBeNull();
    w.dispose();
    again.dispose();
  });

  it('erfinv inverts erf to float64 rounding over (−1, 1), both branches of the polynomial', () => {
    for (const y of [-0.999999, -0.9, -0.5, -1e-6, 0, 0.3, 0.75, 0.99, 0.9999, 0.99999999]) {
      expect(Math.abs(erf(erfinv(y)) - y)).toBeLessThanOrEqual(4 * Number.EPSILON);
    }
    expect(erfinv(0.5)).toBeCloseTo(0.4769362762044699, 14);
    expect(erfinv(1)).toBe(Infinity);
  });

  it('truncNormal_: inside [a, b], with the truncated normal\'s moments; constant_, zeros_, ones_', async () => {
    const t = weight([100, 100]);
    init.truncNormal_(t, { seed: 11 });
    let v = await t.toArray();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...v)).toBeLessThanOrEqual(2);
    // N(0, 1) truncated to ±2: variance 1 − 2·2φ(2)/(Φ(2) − Φ(−2))
    const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI), mass = erf(2 / Math.SQRT2);
    expect(moments(v).std).toBeCloseTo(Math.sqrt(1 - 4 * phi2 / mass), 2);
    expect(Math.abs(moments(v).mean)).toBeLessThan(0.02);
    init.truncNormal_(t, { mean: 1, std: 0.02, a: 0.99, b: 2, seed: 12 });
    v = await t.toArray();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(Math.fround(0.99));
    expect(() => init.truncNormal_(t, { a: 1, b: 1 })).toThrow('truncNormal_: needs a < b and std > 0');
    init.constant_(t, 0.25);
    expect(new Set(await t.toArray())).toEqual(new Set([0.25]));
    init.zeros_(t);
    expect(new Set(await t.toArray())).toEqual(new Set([0]));
    init.ones_(t);
    expect(new Set(await t.toArray())).toEqual(new Set([1]));
    t.dispose();
  });

  it('writes a WebGPU parameter in place, the same values as on the cpu for a seed', async () => {
    const gpu = await webgpu();
    const a = Parameter.full([4, 3, 2], 0, { backend: gpu }), b = weight([4, 3, 2]);
    init.kaimingNormal_(a, { seed: 5 });
    init.kaimingNormal_(b, { seed: 5 });
    expect(await a.toArray()).toEqual(await b.toArray());
    a.dispose();
    b.dispose();
  });
});
