import { describe, expect, it } from 'vitest';
import { addScalar, backward, log, logSoftmax, tanh } from '../../src/autograd/index.js';
import {
  HausdorffDTLoss, LogHausdorffDTLoss, hausdorffDTLoss, hausdorffDistanceField, logHausdorffDTLoss,
} from '../../src/imaging/losses-hausdorff.js';
import { dispose, fromArray, ones, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's HausdorffDTLoss / LogHausdorffDTLoss (imaging/losses-hausdorff.ts): the values of MONAI's tests
 * (tests/losses/test_hausdorff_loss.py; MONAI's float targets of to_onehot_y cases as int32 class indices here), the
 * distance field against a brute-force search, the gradient (float64) against its closed form (the fields carry none),
 * reductions, the classes and the refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };
const t64 = (d: number[], s: number[]) => fromArray(d, s, f64);

async function loss(p: Promise<Tensor>): Promise<number[]> { return value(await p); }

describe('hausdorffDTLoss (MONAI HausdorffDTLoss)', () => {
  const sig = { includeBackground: true, sigmoid: true };
  const x2 = [-1, 0, 1, 1, 0, -1, 0, 0, 0, 0, 0, 0], t2 = [1, 0, 0, 1, 1, 0];

  it("MONAI's test values", async () => {
    const cases: [string, () => Promise<Tensor>, number[]][] = [
      ['2-D', () => hausdorffDTLoss(t64([1, -1, -1, 1], [1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 2, 2]), sig), [0.509329]],
      ['3-D with a unit axis', () => hausdorffDTLoss(t64([1, -1, -1, 1], [1, 1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 1, 2, 2]), sig), [0.509329]],
      ['3-D', () => hausdorffDTLoss(t64([1, -1, 1, -1, -1, 1, -1, 1], [1, 1, 2, 2, 2]), t64([1, 0, 1, 0, 0, 0, 1, 1], [1, 1, 2, 2, 2]), sig), [0.375718]],
      ['two channels', () => hausdorffDTLoss(t64([1, -1, -1, 1, 1, -1, -1, 1], [1, 2, 2, 2]), t64([1, 0, 1, 1, 1, 0, 0, 1], [1, 2, 2, 2]), sig), [0.326994]],
      ['two samples', () => hausdorffDTLoss(t64([1, -1, -1, 1, 1, -1, -1, 1], [2, 1, 2, 2]), t64([1, 1, 1, 1, 1, 0, 1, 0], [2, 1, 2, 2]), sig), [0.455082]],
      ['no background', () => hausdorffDTLoss(t64([1, -1, -1, 1, 1, -1, -1, 1], [1, 2, 2, 2]), t64([1, 0, 1, 1, 1, 0, 0, 1], [1, 2, 2, 2]), { sigmoid: true }), [0.144659]],
      ["one-hot, 'none'", () => hausdorffDTLoss(t64(x2, [2, 2, 3, 1]), fromArray(t2, [2, 1, 3, 1], i32), { ...sig, toOnehotY: true, reduction: 'none' }), [0.407765, 0.407765, 0.5, 0.5]],
      ['softmax', () => hausdorffDTLoss(t64(x2, [2, 2, 3, 1]), fromArray(t2, [2, 1, 3, 1], i32), { includeBackground: true, toOnehotY: true, softmax: true }), [0.357016]],
      ["softmax, 'sum'", () => hausdorffDTLoss(t64(x2, [2, 2, 3, 1]), fromArray(t2, [2, 1, 3, 1], i32), { includeBackground: true, toOnehotY: true, softmax: true, reduction: 'sum' }), [1.428062]],
      ['tanh', () => hausdorffDTLoss(t64([1, -1, -1, 1, 1, -1, -1, 1], [2, 1, 2, 2]), t64([1, 1, 1, 1, 1, 0, 1, 0], [2, 1, 2, 2]), { includeBackground: true, otherAct: tanh }), [1.870039]],
      ['log-softmax', () => hausdorffDTLoss(t64(x2, [2, 2, 3, 1]), fromArray(t2, [2, 1, 3, 1], i32), { includeBackground: true, toOnehotY: true, otherAct: (z) => logSoftmax(z, 1) }), [4.366613]],
      ['tanh, batch', () => hausdorffDTLoss(t64([1, -0, -1, 1, 1, -1, -1, 1], [2, 1, 2, 2]), t64([1, 1, 1, 1, 1, 0, 1, 0], [2, 1, 2, 2]), { includeBackground: true, otherAct: tanh, batch: true }), [1.607137]],
    ];
    for (const [what, run, expected] of cases) {
      expectClose(await loss(run()), expected, 1e-6, 1e-5, what);
      // MONAI's LogHausdorffDTLoss cases are log(value + 1) of the same ones
      if (expected.length === 1) expectClose(await loss(run().then((l) => { const r = log(addScalar(l, 1)); l.dispose(); return r; })), [Math.log1p(expected[0])], 1e-6, 1e-5, `log ${what}`);
    }
    expectClose(await loss(logHausdorffDTLoss(t64([1, -1, -1, 1], [1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 2, 2]), sig)), [Math.log(1.509329)], 1e-6, 1e-5, 'logHausdorffDTLoss');
  });

  it('the distance field is the distance to the nearest voxel of the other side, by brute force (0 for a sample all one side)', () => {
    const shape: [number, number, number] = [4, 3, 5], n = 60;
    const values = Array.from(randomArray(3 * n, 7, 0, 1));
    values.fill(0.2, 2 * n, 3 * n); // the third sample is all background
    const field = hausdorffDistanceField(values, 3, shape);
    const at = (i: number) => [Math.floor(i / 15), Math.floor(i / 5) % 3, i % 5];
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < n; i++) {
        let best = b === 2 ? 0 : Infinity;
        if (b < 2) {
          for (let j = 0; j < n; j++) {
            if ((values[b * n + i] > 0.5) === (values[b * n + j] > 0.5)) continue;
            const [p, q] = [at(i), at(j)];
            best = Math.min(best, Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]));
          }
        }
        expect(field[b * n + i]).toBeCloseTo(best, 12);
      }
    }
    expect(() => hausdorffDistanceField([0, 1], 2, [2, 1, 1])).toThrow(/2 values are not 2 samples/);
  });

  it('the gradient is 2·(p − g)·(d_p^α + d_g^α)/voxels times the activation’s (the fields carry none)', async () => {
    const shape = [2, 2, 3, 4], n = 12;
    const xData = Array.from(randomArray(sizeOf(shape), 3, -2, 2)), gData = Array.from(randomArray(sizeOf(shape), 4, 0, 1), (v) => (v < 0.5 ? 1 : 0));
    const x = fromArray(xData, shape, { ...f64, requiresGrad: true }), g = t64(gData, shape);
    const l = await hausdorffDTLoss(x, g, { includeBackground: true, sigmoid: true, alpha: 1.5 });
    backward(l);
    const p = xData.map((v) => 1 / (1 + Math.exp(-v)));
    const expected = new Array<number>(xData.length);
    for (let s = 0; s < 2; s++) {
      for (let c = 0; c < 2; c++) {
        const pick = (v: number[]) => v.slice((s * 2 + c) * n, (s * 2 + c + 1) * n);
        const dp = hausdorffDistanceField(pick(p), 1, [3, 4, 1]), dg = hausdorffDistanceField(pick(gData), 1, [3, 4, 1]);
        for (let i = 0; i < n; i++) {
          const k = (s * 2 + c) * n + i;
          // d mean over 2·2 (samples, channels) of the per-channel means over n voxels
          expected[k] = (2 * (p[k] - gData[k]) * (dp[i] ** 1.5 + dg[i] ** 1.5) / n / 4) * p[k] * (1 - p[k]);
        }
      }
    }
    expectClose(Array.from(await x.grad!.toArray()), expected, 1e-14, 1e-12, 'gradient');
    dispose([x, g, l]);
  });

  it("reductions: 'none' is [N, K, 1, …] ([1, K, 1, …] with batch), 'sum' its sum, 'mean' its mean", async () => {
    const shape = [3, 2, 4, 3, 2];
    const x = t64(Array.from(randomArray(sizeOf(shape), 11, -3, 3)), shape), g = t64(Array.from(randomArray(sizeOf(shape), 12, 0, 1), (v) => (v < 0.3 ? 1 : 0)), shape);
    const none = await hausdorffDTLoss(x, g, { includeBackground: true, sigmoid: true, reduction: 'none' });
    expect(none.shape).toEqual([3, 2, 1, 1, 1]);
    const v = await value(none);
    expectClose(await loss(hausdorffDTLoss(x, g, { includeBackground: true, sigmoid: true, reduction: 'sum' })), [v.reduce((a, b) => a + b)], 1e-12, 1e-12, 'sum');
    expectClose(await loss(hausdorffDTLoss(x, g, { includeBackground: true, sigmoid: true })), [v.reduce((a, b) => a + b) / 6], 1e-12, 1e-12, 'mean');
    const batched = await hausdorffDTLoss(x, g, { sigmoid: true, batch: true, reduction: 'none' });
    expect(batched.shape).toEqual([1, 1, 1, 1, 1]);
    // without background the loss is channel 1's, and with batch its mean over the samples' voxels (each per-sample mean)
    expectClose(await value(batched), [(v[1] + v[3] + v[5]) / 3], 1e-12, 1e-12, 'batch');
    dispose([x, g]);
  });

  it('refuses what MONAI refuses, and a single channel without background (MONAI warns)', async () => {
    const x = ones([1, 1, 3], f64), x4 = ones([1, 1, 2, 2], f64);
    await expect(hausdorffDTLoss(x, x, { includeBackground: true })).rejects.toThrow(/must be \[N, C, H, W\] or \[N, C, H, W, D\], got \[1, 1, 3\]/);
    await expect(hausdorffDTLoss(x4, x4)).rejects.toThrow(/includeBackground: false needs more than one channel/);
    await expect(hausdorffDTLoss(x4, x4, { includeBackground: true, sigmoid: true, softmax: true })).rejects.toThrow(/mutually exclusive/);
    await expect(hausdorffDTLoss(x4, ones([1, 1, 2, 3], f64), { includeBackground: true })).rejects.toThrow(/target \[1, 1, 2, 3\] must have the shape of input \[1, 1, 2, 2\]/);
    await expect(hausdorffDTLoss(x4, x4, { includeBackground: true, alpha: NaN })).rejects.toThrow(/alpha must be a finite number/);
    await expect(hausdorffDTLoss(x4, x4, { includeBackground: true, reduction: 'avg' as 'mean' })).rejects.toThrow(/unknown reduction 'avg'/);
    dispose([x, x4]);
  });

  it('the classes equal the functions and check their options', async () => {
    const x = t64([1, -1, -1, 1], [1, 1, 2, 2]), g = t64([1, 0, 1, 1], [1, 1, 2, 2]);
    const hd = new HausdorffDTLoss({ includeBackground: true, sigmoid: true });
    expectClose(await loss(hd.forward(x, g)), [0.509329], 1e-6, 1e-5, 'class');
    expectClose(await loss(new LogHausdorffDTLoss({ includeBackground: true, sigmoid: true }).forward(x, g)), [Math.log(1.509329)], 1e-6, 1e-5, 'log class');
    expect(String(hd)).toBe('HausdorffDTLoss(includeBackground=true, sigmoid=true)');
    expect(() => new HausdorffDTLoss({ include_background: true } as never)).toThrow(/unknown option 'include_background'/);
    expect(() => new HausdorffDTLoss({ alpha: '2' } as never)).toThrow(/option alpha must be a number, got 2/);
    expect(() => new HausdorffDTLoss({ otherAct: 3 } as never)).toThrow(/option otherAct must be a function or null/);
    expect(() => new HausdorffDTLoss({ reduction: 'avg' } as never)).toThrow(/unknown reduction 'avg'/);
    dispose([x, g]);
  });
});
