import { describe, expect, it } from 'vitest';
import { sigmoid } from '../../src/autograd/index.js';
import { SoftclDiceLoss, SoftDiceclDiceLoss, softclDiceLoss, softDiceclDiceLoss, softSkeleton } from '../../src/models/losses-extra.js';
import { dispose, fromArray, ones, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's SoftclDiceLoss / SoftDiceclDiceLoss and soft skeleton (models/losses-extra.ts): MONAI's test values
 * (tests/losses/test_cldice_loss.py), the skeleton against the morphology written as loops, the losses against their
 * formulas, float64 gradchecks, the classes and the refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const t64 = (d: number[], s: number[]) => fromArray(d, s, f64);

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
