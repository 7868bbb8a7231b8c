import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool3d, adaptiveMaxPool3d, adaptiveWindows, avgPool3d, backward, conv3d, elu, erf, flip, gelu, gradcheck, layerNorm, mul,
  oneHot, prelu, repeat, roll, sign, silu, sum, type GradcheckOptions,
} from '../../src/autograd/index.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The activations (elu, gelu in both forms, silu, prelu), layerNorm, avgPool3d with countIncludePad false,
 * the adaptive pools and grouped conv3d: values against PyTorch's documented definitions written out as plain
 * loops here (random shapes picked by fast-check where the definition is a loop), gradients through gradcheck
 * (float64 on the cpu), and forward and gradients on WebGPU against the cpu backend (with flip, roll, repeat,
 * erf and oneHot). All are compositions of differentiable ops, so they need no kernel of their own.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

async function expectGrad(fn: (...xs: Tensor[]) => Tensor, shapes: number[][], options: GradcheckOptions & { distinct?: boolean } = {}): Promise<void> {
  const inputs = shapes.map((shape, i) => {
    const raw = Array.from(randomArray(sizeOf(shape), 31 + i, -1, 1));
    if (!options.distinct) return { data: raw, shape };
    // a permutation of evenly spaced values: no ties (max pooling's gradient is then unique)
    const order = raw.map((_, k) => k).sort((a, b) => raw[a] - raw[b]);
    const data = new Array<number>(raw.length);
    order.forEach((k, r) => { data[k] = -1 + (2 * r + 1) / raw.length; });
    return { data, shape };
  });
  const r = await gradcheck(fn, inputs, { backend: cpu, ...options });
  expect(r.ok, r.message).toBe(true);
}

async function values(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

describe('activations', () => {
  const xs = [-2, -1, -0.5, 0, 0.5, 1, 3];
  const x = fromArray(xs, [7], f64);
  /** Φ(x), the standard normal CDF, from published values: Φ(0.5) = 0.6914624612740131, Φ(1) = 0.8413447460685429, Φ(2) = 0.9772498680518208, Φ(3) = 0.9986501019683699 */
  const phi = new Map([[0, 0.5], [0.5, 0.6914624612740131], [1, 0.8413447460685429], [2, 0.9772498680518208], [3, 0.9986501019683699]]);
  const Phi = (v: number) => (v >= 0 ? phi.get(v)! : 1 - phi.get(-v)!);

  it('elu: x (x > 0), α(eˣ − 1) otherwise', async () => {
    expectClose(await values(elu(x)), xs.map((v) => (v > 0 ? v : Math.exp(v) - 1)), 1e-15, 1e-14, 'elu');
    expectClose(await values(elu(x, 0.3)), xs.map((v) => (v > 0 ? v : 0.3 * (Math.exp(v) - 1))), 1e-15, 1e-14, 'elu α 0.3');
  });

  it('gelu: x·Φ(x) (exact), and the tanh form', async () => {
    expectClose(await values(gelu(x)), xs.map((v) => v * Phi(v)), 1e-15, 1e-14, 'gelu');
    const tanhForm = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    expectClose(await values(gelu(x, 'tanh')), xs.map(tanhForm), 1e-15, 1e-14, 'gelu tanh');
    expect(() => gelu(x, 'erf' as 'none')).toThrow(/unknown approximate 'erf'/);
  });

  it('silu: x·σ(x)', async () => {
    expectClose(await values(silu(x)), xs.map((v) => v / (1 + Math.exp(-v))), 1e-15, 1e-14, 'silu');
  });

  it('prelu: one shared slope or one per channel (axis 1)', async () => {
    const data = Array.from(randomArray(2 * 3 * 4, 9, -1, 1));
    const t = fromArray(data, [2, 3, 4], f64);
    const slopes = [0.1, -0.2, 0.5];
    const w = fromArray(slopes, [3], f64), w1 = fromArray([0.25], [1], f64);
    expectClose(await values(prelu(t, w)), data.map((v, i) => (v > 0 ? v : slopes[Math.floor(i / 4) % 3] * v)), 1e-15, 1e-14, 'prelu per channel');
    expectClose(await values(prelu(t, w1)), data.map((v) => (v > 0 ? v : 0.25 * v)), 1e-15, 1e-14, 'prelu shared');
    expect(() => prelu(t, fromArray([1, 2], [2], f64))).toThrow(/must be \[1\] or \[3\]/);
    dispose([t, w, w1]);
  });

  it('gradcheck (inputs kept away from 0, the kink of elu\'s second derivative and of prelu)', async () => {
    const away = (t: Tensor) => t.add(sign(t).mul(0.1));
    await expectGrad((t) => elu(away(t), 0.7), [[3, 4]]);
    await expectGrad((t) => gelu(t.mul(3)), [[3, 4]]);
    await expectGrad((t) => gelu(t.mul(3), 'tanh'), [[3, 4]]);
    await expectGrad((t) => silu(t.mul(3)), [[3, 4]]);
    await expectGrad((t, w) => prelu(away(t), w), [[2, 3, 2], [3]]);
    await expectGrad((t, w) => prelu(away(t), w), [[2, 3, 2], [1]]);
  });
});

describe('layerNorm', () => {
  it('(x − μ)/√(σ² + eps)·w + b over the trailing axes (biased variance)', async () => {
    const [n, a, b] = [2, 3, 4];
    const data = Array.from(randomArray(n * a * b, 3, -2, 2));
    const wv = Array.from(randomArray(a * b, 4, 0.5, 1.5)), bv = Array.from(randomArray(a * b, 5, -1, 1));
    const t = fromArray(data, [n, a, b], f64), w = fromArray(wv, [a, b], f64), bias = fromArray(bv, [a, b], f64);
    const expected: number[] = [];
    for (let s = 0; s < n; s++) {
      const row = data.slice(s * a * b, (s + 1) * a * b);
      const mu = row.reduce((p, v) => p + v, 0) / row.length;
      const variance = row.reduce((p, v) => p + (v - mu) ** 2, 0) / row.length;
      row.forEach((v, i) => expected.push(((v - mu) / Math.sqrt(variance + 1e-5)) * wv[i] + bv[i]));
    }
    expectClose(await values(layerNorm(t, [a, b], { weight: w, bias })), expected, 1e-12, 1e-12, 'layerNorm');
    expect(() => layerNorm(t, [3])).toThrow(/must be the trailing axes/);
    expect(() => layerNorm(t, [b], { weight: w })).toThrow(/weight \[3, 4\] must have the normalized shape \[4\]/);
    dispose([t, w, bias]);
  });

  it('gradcheck with and without the affine parameters', async () => {
    await expectGrad((t, w, b) => layerNorm(t, [2, 3], { weight: w, bias: b, eps: 1e-3 }), [[2, 2, 3], [2, 3], [2, 3]]);
    await expectGrad((t) => layerNorm(t, [4]), [[3, 4]]);
  });
});

/** a window operation over [N, C, D, H, W] written as loops: out = reduce over the window of each output voxel */
function poolReference(data: ArrayLike<number>, shape: readonly number[], outSpatial: readonly number[],
  window: (axis: number, o: number) => [number, number], reduce: (vals: number[], windowSize: number) => number): number[] {
  const [n, c, D, H, W] = shape;
  const out: number[] = [];
  for (let nc = 0; nc < n * c; nc++) {
    for (let od = 0; od < outSpatial[0]; od++) for (let oh = 0; oh < outSpatial[1]; oh++) for (let ow = 0; ow < outSpatial[2]; ow++) {
      const [d0, d1] = window(0, od), [h0, h1] = window(1, oh), [w0, w1] = window(2, ow);
      const vals: number[] = [];
      for (let d = Math.max(d0, 0); d < Math.min(d1, D); d++) for (let h = Math.max(h0, 0); h < Math.min(h1, H); h++) {
        for (let w = Math.max(w0, 0); w < Math.min(w1, W); w++) vals.push(data[(((nc * D) + d) * H + h) * W + w]);
      }
      out.push(reduce(vals, (d1 - d0) * (h1 - h0) * (w1 - w0)));
    }
  }
  return out;
}

const mean = (vals: number[]) => vals.reduce((p, v) => p + v, 0) / vals.length;
const maxOf = (vals: number[]) => Math.max(...vals);

describe('pooling', () => {
  it('PyTorch\'s adaptive windows [⌊i·n/m⌋, ⌈(i + 1)·n/m⌉)', () => {
    expect(adaptiveWindows(5, 3)).toEqual([[0, 2], [1, 4], [3, 5]]);
    expect(adaptiveWindows(4, 2)).toEqual([[0, 2], [2, 4]]);
    expect(adaptiveWindows(3, 5)).toEqual([[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]);
  });

  it('adaptive avg and max pools against the window definition (random shapes and output sizes)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 3, maxLength: 3 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }),
      fc.integer({ min: 1, max: 2 }), fc.nat(),
      async (spatial, size, c, seed) => {
        const shape = [1, c, ...spatial];
        const data = randomArray(sizeOf(shape), seed, -1, 1);
        const t = fromArray(data, shape, f64);
        const window = (axis: number, o: number) => adaptiveWindows(spatial[axis], size[axis])[o];
        expectClose(await values(adaptiveAvgPool3d(t, size)), poolReference(data, shape, size, window, mean), 1e-12, 1e-12, 'adaptive avg');
        expectClose(await values(adaptiveMaxPool3d(t, size)), poolReference(data, shape, size, window, maxOf), 0, 0, 'adaptive max');
        t.dispose();
      }), { numRuns: 30 });
  });

  it('adaptive pools: null keeps an axis, bad sizes are named', async () => {
    const t = fromArray(randomArray(2 * 3 * 4 * 5, 2, -1, 1), [1, 2, 3, 4, 5], f64);
    const y = adaptiveAvgPool3d(t, [null, 2, 3]);
    expect(y.shape).toEqual([1, 2, 3, 2, 3]);
    expect(() => adaptiveMaxPool3d(t, [0, 1, 1])).toThrow(/adaptiveMaxPool3d: output size must be positive integers/);
    expect(() => adaptiveAvgPool3d(fromArray([1, 2], [1, 2], f64), 1)).toThrow(/must be 5-D/);
    dispose([t, y]);
  });

  it('avgPool3d with countIncludePad false divides by the window\'s elements inside the input', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 3, maxLength: 3 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.nat(),
      async (spatial, k, s, seed) => {
        const shape = [1, 2, ...spatial];
        const padding = Math.floor(k / 2);
        const data = randomArray(sizeOf(shape), seed, -1, 1);
        const t = fromArray(data, shape, f64);
        const out = spatial.map((d) => Math.floor((d + 2 * padding - k) / s) + 1);
        const window = (_axis: number, o: number): [number, number] => [o * s - padding, o * s - padding + k];
        const y = avgPool3d(t, k, { stride: s, padding, countIncludePad: false });
        expectClose(await values(y), poolReference(data, shape, out, window, mean), 1e-12, 1e-12, 'countIncludePad false');
        const z = avgPool3d(t, k, { stride: s, padding });
        expectClose(await values(z), poolReference(data, shape, out, window, (v, size) => v.reduce((p, q) => p + q, 0) / size), 1e-12, 1e-12, 'countIncludePad true');
        t.dispose();
      }), { numRuns: 20 });
  });

  it('gradcheck: adaptive pools (tiling and not), avgPool3d without the padding in the count', async () => {
    await expectGrad((t) => adaptiveAvgPool3d(t, [2, 3, 1]), [[1, 2, 3, 4, 3]]);
    await expectGrad((t) => adaptiveAvgPool3d(t, 2), [[1, 1, 4, 2, 4]]);
    await expectGrad((t) => adaptiveMaxPool3d(t, [2, 3, 2]), [[1, 2, 3, 4, 3]], { distinct: true });
    await expectGrad((t) => adaptiveMaxPool3d(t, [2, 1, 2]), [[1, 1, 4, 2, 4]], { distinct: true });
    await expectGrad((t) => avgPool3d(t, 3, { stride: 2, padding: 1, countIncludePad: false }), [[1, 2, 4, 3, 5]]);
  });
});

/** conv3d with groups written as loops (stride and padding, dilation 1) */
function groupedConvReference(x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], bias: ArrayLike<number>,
  groups: number, stride: number, padding: number): number[] {
  const [n, ci, D, H, W] = xShape, [co, cig, kd, kh, kw] = wShape;
  const out = [D, H, W].map((d, i) => Math.floor((d + 2 * padding - wShape[2 + i]) / stride) + 1);
  const res: number[] = [];
  for (let b = 0; b < n; b++) for (let o = 0; o < co; o++) {
    const g = Math.floor(o / (co / groups));
    for (let od = 0; od < out[0]; od++) for (let oh = 0; oh < out[1]; oh++) for (let ow = 0; ow < out[2]; ow++) {
      let acc = bias[o];
      for (let c = 0; c < cig; c++) for (let a = 0; a < kd; a++) for (let e = 0; e < kh; e++) for (let f = 0; f < kw; f++) {
        const d = od * stride - padding + a, h = oh * stride - padding + e, q = ow * stride - padding + f;
        if (d < 0 || d >= D || h < 0 || h >= H || q < 0 || q >= W) continue;
        const xc = g * cig + c;
        acc += x[(((b * ci + xc) * D + d) * H + h) * W + q] * w[((((o * cig + c) * kd + a) * kh + e) * kw) + f];
      }
      res.push(acc);
    }
  }
  return res;
}

describe('grouped and depthwise conv3d', () => {
  it('matches the grouped definition (random groups, channels, stride, padding)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 0, max: 1 }), fc.nat(),
      async (groups, inPer, outPer, stride, padding, seed) => {
        const xShape = [1, groups * inPer, 3, 4, 3], wShape = [groups * outPer, inPer, 2, 3, 2];
        const xd = randomArray(sizeOf(xShape), seed, -1, 1), wd = randomArray(sizeOf(wShape), seed + 1, -1, 1), bd = randomArray(wShape[0], seed + 2, -1, 1);
        const [x, w, b] = [fromArray(xd, xShape, f64), fromArray(wd, wShape, f64), fromArray(bd, [wShape[0]], f64)];
        const y = conv3d(x, w, b, { groups, stride, padding });
        expectClose(await values(y), groupedConvReference(xd, xShape, wd, wShape, bd, groups, stride, padding), 1e-12, 1e-12, `groups ${groups}`);
        dispose([x, w, b]);
      }), { numRuns: 15 });
  });

  it('errors name the channels and the groups', () => {
    const x = fromArray(new Float64Array(4 * 27), [1, 4, 3, 3, 3], f64);
    expect(() => conv3d(x, fromArray(new Float64Array(6 * 27), [6, 1, 3, 3, 3], f64), null, { groups: 3 })).toThrow(/4 input channels .* do not split into 3 groups/);
    expect(() => conv3d(x, fromArray(new Float64Array(3 * 2 * 27), [3, 2, 3, 3, 3], f64), null, { groups: 2 })).toThrow(/3 output channels .* do not split into 2 groups/);
    expect(() => conv3d(x, fromArray(new Float64Array(4 * 27), [4, 1, 3, 3, 3], f64), null, { groups: 2 })).toThrow(/expects 1 × 2 groups/);
    expect(() => conv3d(x, fromArray(new Float64Array(4 * 27), [4, 1, 3, 3, 3], f64), null, { groups: 0 })).toThrow(/groups must be a positive integer/);
    x.dispose();
  });

  it('gradcheck: grouped (2 groups) and depthwise (groups = channels, 2 filters each)', async () => {
    await expectGrad((x, w, b) => conv3d(x, w, b, { groups: 2, padding: 1 }), [[1, 4, 3, 2, 3], [4, 2, 2, 2, 2], [4]]);
    await expectGrad((x, w) => conv3d(x, w, null, { groups: 3, stride: 2 }), [[2, 3, 3, 3, 3], [6, 1, 2, 2, 2]]);
  });
});

describe('on WebGPU (float32) against the cpu backend', () => {
  it('the new ops and their gradients on fixed small shapes', async () => {
    const gpu = await webgpu();
    const shape = [1, 4, 5, 3, 4];
    const data = randomArray(sizeOf(shape), 12, -2, 2), wData = randomArray(4 * 2 * 8, 13, -1, 1);
    const cases: [string, (x: Tensor, w: Tensor, slopes: Tensor) => Tensor][] = [
      ['elu', (x) => elu(x, 0.5)], ['gelu', (x) => gelu(x)], ['gelu tanh', (x) => gelu(x, 'tanh')], ['silu', silu],
      ['prelu', (x, _w, slopes) => prelu(x, slopes)],
      ['layerNorm', (x) => layerNorm(x, [3, 4])],
      ['adaptiveAvgPool3d', (x) => adaptiveAvgPool3d(x, [2, 2, 3])], ['adaptiveMaxPool3d', (x) => adaptiveMaxPool3d(x, [2, 2, 3])],
      ['avgPool3d countIncludePad false', (x) => avgPool3d(x, 3, { stride: 2, padding: 1, countIncludePad: false })],
      ['grouped conv3d', (x, w) => conv3d(x, w, null, { groups: 2, padding: 1 })],
      ['flip', (x) => flip(x, [2, 4])], ['roll', (x) => roll(x, [2, -1], [2, 3])], ['repeat', (x) => repeat(x, [1, 1, 2, 1, 2])],
      ['erf', erf],
    ];
    for (const [name, fn] of cases) {
      const results = [];
      for (const backend of [cpu, gpu]) {
        const x = fromArray(data, shape, { backend, requiresGrad: true }), w = fromArray(wData, [4, 2, 2, 2, 2], { backend, requiresGrad: true });
        const slopes = fromArray([0.1, 0.2, 0.3, 0.4], [4], { backend });
        const y = fn(x, w, slopes), loss = sum(mul(y, y));
        backward(loss);
        results.push({ y: await y.toArray(), gx: await x.grad!.toArray(), gw: w.grad ? await w.grad.toArray() : null });
        dispose([x, w, slopes, y, loss]);
      }
      expectClose(results[1].y, results[0].y, 1e-5, 1e-4, `${name} forward`);
      expectClose(results[1].gx, results[0].gx, 1e-4, 1e-3, `${name} input gradient`);
      if (results[0].gw) expectClose(results[1].gw!, results[0].gw, 1e-4, 1e-3, `${name} weight gradient`);
    }
    const idx = fromArray([0, 3, 1, 2, 2], [5], { backend: gpu, dtype: 'int32' });
    expect(Array.from(await oneHot(idx, 4).toArray())).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]);
    idx.dispose();
  });
});
