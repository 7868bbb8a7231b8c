import { describe, expect, it } from 'vitest';
import { addScalar, backward, log, logSoftmax, sigmoid, tanh } from '../../src/autograd/index.js';
import {
  HausdorffDTLoss, LogHausdorffDTLoss, SoftclDiceLoss, SoftDiceclDiceLoss, hausdorffDTLoss, hausdorffDistanceField, logHausdorffDTLoss, softclDiceLoss,
  softDiceclDiceLoss, softSkeleton,
} from '../../src/models/losses-extra.js';
import { dispose, fromArray, ones, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's HausdorffDTLoss / LogHausdorffDTLoss and SoftclDiceLoss / SoftDiceclDiceLoss (losses-extra.ts): the values of
 * MONAI's tests (tests/losses/test_hausdorff_loss.py, test_cldice_loss.py; MONAI's float targets of to_onehot_y cases
 * as int32 class indices here), the distance field against a brute-force search, the soft skeleton against plain
 * loops, gradients (float64), reductions, the classes and the refusals.
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

// -------------------------------------------------------------------------------------------------- clDice

/** a [H, W, D] volume's min (erode: a cross of 3-tap lines per axis) or max (dilate: the 3×…×3 box), written as loops */
function morph(v: Float64Array, dims: number[], spatialDims: number, kind: 'erode' | 'dilate'): Float64Array {
  const [H, W, D] = dims, out = new Float64Array(v.length);
  const at = (h: number, w: number, d: number) => (h < 0 || w < 0 || d < 0 || h >= H || w >= W || d >= D ? NaN : v[(h * W + w) * D + d]);
  const offsets: number[][] = [];
  const r = [1, 1, spatialDims === 3 ? 1 : 0];
  for (let a = -r[0]; a <= r[0]; a++) for (let b = -r[1]; b <= r[1]; b++) for (let c = -r[2]; c <= r[2]; c++) {
    if (kind === 'dilate' || [a, b, c].filter((o) => o !== 0).length <= 1) offsets.push([a, b, c]);
  }
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let d = 0; d < D; d++) {
    const vals = offsets.map(([a, b, c]) => at(h + a, w + b, d + c)).filter((x) => !Number.isNaN(x));
    out[(h * W + w) * D + d] = kind === 'erode' ? Math.min(...vals) : Math.max(...vals);
  }
  return out;
}

function naiveSkeleton(v: Float64Array, dims: number[], spatialDims: number, iterations: number): Float64Array {
  const open = (x: Float64Array) => morph(morph(x, dims, spatialDims, 'erode'), dims, spatialDims, 'dilate');
  let img = v;
  let skel = img.map((x, i) => Math.max(0, x - open(img)[i]));
  for (let k = 0; k < iterations; k++) {
    img = morph(img, dims, spatialDims, 'erode');
    const opened = open(img);
    const delta = img.map((x, i) => Math.max(0, x - opened[i]));
    skel = skel.map((s, i) => s + Math.max(0, delta[i] - s * delta[i]));
  }
  return skel;
}

describe('softSkeleton, softclDiceLoss, softDiceclDiceLoss (MONAI cldice.py)', () => {
  it('the soft skeleton equals the morphology written as loops (2-D and 3-D, 0 to 3 rounds)', async () => {
    for (const [shape, iterations] of [[[2, 1, 6, 5], 3], [[1, 2, 4, 5, 3], 2], [[1, 1, 3, 3], 0], [[1, 1, 5, 4, 4], 1]] as [number[], number][]) {
      const data = Float64Array.from(randomArray(sizeOf(shape), 5 + iterations, 0, 1));
      const spatial = shape.slice(2), dims = spatial.length === 2 ? [...spatial, 1] : spatial, n = sizeOf(spatial);
      const got = await value(softSkeleton(t64(Array.from(data), shape), iterations));
      for (let plane = 0; plane < shape[0] * shape[1]; plane++) {
        const want = naiveSkeleton(data.subarray(plane * n, (plane + 1) * n), dims, spatial.length, iterations);
        expectClose(got.slice(plane * n, (plane + 1) * n), want, 1e-15, 0, `skeleton ${shape.join('×')} plane ${plane}`);
      }
    }
  });

  it("MONAI's test values: ones give 0 (2-D [7, 3, 11, 10] and 3-D [2, 3, 13, 14, 5])", async () => {
    for (const shape of [[7, 3, 11, 10], [2, 3, 13, 14, 5]]) {
      const o = ones(shape, { backend: cpu });
      expectClose(await value(softclDiceLoss(o, o)), [0], 1e-4, 1e-4, 'clDice');
      expectClose(await value(softDiceclDiceLoss(o, o)), [0], 1e-4, 1e-4, 'Dice + clDice');
      o.dispose();
    }
  });

  it('values by the formulas (sums over the batch and the channels from 1 on), with iterations, smooth and alpha', async () => {
    const shape = [2, 3, 6, 5];
    const pData = Array.from(randomArray(sizeOf(shape), 21, 0, 1)), gData = Array.from(randomArray(sizeOf(shape), 22, 0, 1), (v) => (v < 0.5 ? 1 : 0));
    const p = t64(pData, shape), g = t64(gData, shape);
    const n = 30, planes = [1, 2, 4, 5]; // (sample, channel ≥ 1)
    const skel = (d: number[], it: number) => planes.map((q) => naiveSkeleton(Float64Array.from(d.slice(q * n, (q + 1) * n)), [6, 5, 1], 2, it));
    const total = (f: (q: number, i: number) => number) => planes.reduce((acc, q, k) => acc + Array.from({ length: n }, (_, i) => f(k, q * n + i)).reduce((a, b) => a + b, 0), 0);
    for (const [iterations, smooth, alpha] of [[3, 1, 0.5], [1, 0.1, 0.2]]) {
      const sp = skel(pData, iterations), sg = skel(gData, iterations);
      const prec = (total((k, j) => sp[k][j % n] * gData[j]) + smooth) / (total((k, j) => sp[k][j % n]) + smooth);
      const sens = (total((k, j) => sg[k][j % n] * pData[j]) + smooth) / (total((k, j) => sg[k][j % n]) + smooth);
      const cl = 1 - (2 * prec * sens) / (prec + sens);
      const dice = 1 - (2 * total((_, j) => pData[j] * gData[j]) + smooth) / (total((_, j) => gData[j]) + total((_, j) => pData[j]) + smooth);
      expectClose(await value(softclDiceLoss(p, g, { iterations, smooth })), [cl], 1e-14, 1e-12, 'clDice');
      expectClose(await value(softDiceclDiceLoss(p, g, { iterations, smooth, alpha })), [(1 - alpha) * dice + alpha * cl], 1e-14, 1e-12, 'Dice + clDice');
      // symmetric in its two arguments (MONAI's forward takes them as (y_true, y_pred))
      expectClose(await value(softclDiceLoss(g, p, { iterations, smooth })), [cl], 1e-14, 1e-12, 'swapped');
    }
    dispose([p, g]);
  });

  it('gradcheck (float64) through the pools, in both arguments', async () => {
    // values spread apart so that no finite-difference step changes a pool's maximum or crosses a kink of relu
    const shape = [1, 2, 4, 3], n = sizeOf(shape);
    const spread = (seed: number) => {
      const a = Array.from(randomArray(n, seed)), sorted = [...a].sort((u, v) => u - v);
      return a.map((v) => 0.05 + 0.9 * ((sorted.indexOf(v) + 0.5) / n));
    };
    await expectGradchecks([
      ['clDice in p', (x) => softclDiceLoss(sigmoid(x), fromArray(Array.from(randomArray(n, 31, 0, 1), (v) => (v < 0.5 ? 1 : 0)), shape, f64), { iterations: 1 }), [{ data: spread(32).map((v) => Math.log(v / (1 - v))), shape }]],
      ['Dice + clDice in both', (a, b) => softDiceclDiceLoss(a, b, { iterations: 2, alpha: 0.3 }), [{ data: spread(33), shape }, { data: spread(34), shape }]],
      ['3-D skeleton', (a) => softSkeleton(a, 1).sum(), [{ data: spread(35).concat(spread(36)), shape: [1, 2, 2, 3, 4] }]],
    ]);
  });

  it('the classes equal the functions; refusals name the input', async () => {
    const shape = [1, 2, 4, 4];
    const p = t64(Array.from(randomArray(32, 41, 0, 1)), shape), g = t64(Array.from(randomArray(32, 42, 0, 1), (v) => (v < 0.5 ? 1 : 0)), shape);
    expect(await value(new SoftclDiceLoss({ iterations: 2 }).forward(p, g))).toEqual(await value(softclDiceLoss(p, g, { iterations: 2 })));
    expect(await value(new SoftDiceclDiceLoss({ alpha: 0.1 }).forward(p, g))).toEqual(await value(softDiceclDiceLoss(p, g, { alpha: 0.1 })));
    expect(String(new SoftDiceclDiceLoss({ iterations: 4, alpha: 0.1 }))).toBe('SoftDiceclDiceLoss(iterations=4, alpha=0.1)');
    expect(() => new SoftclDiceLoss({ iter_: 3 } as never)).toThrow(/unknown option 'iter_'/);
    const one = ones([1, 1, 4, 4], f64), flat = ones([2, 3, 4], f64);
    expect(() => softclDiceLoss(one, one)).toThrow(/input \[1, 1, 4, 4\] needs two or more channels/);
    expect(() => softclDiceLoss(flat, flat)).toThrow(/input must be \[N, C, H, W\] or \[N, C, H, W, D\], got \[2, 3, 4\]/);
    expect(() => softclDiceLoss(p, one)).toThrow(/target \[1, 1, 4, 4\] must have the shape of input \[1, 2, 4, 4\]/);
    expect(() => softDiceclDiceLoss(p, g, { alpha: 2 })).toThrow(/alpha must be in \[0, 1\], got 2/);
    expect(() => softclDiceLoss(p, g, { iterations: 1.5 })).toThrow(/iterations must be an integer ≥ 0, got 1.5/);
    expect(() => softclDiceLoss(p, g, { smooth: -1 })).toThrow(/smooth must be a finite number ≥ 0, got -1/);
    dispose([p, g, one, flat]);
  });
});
