import { describe, expect, it } from 'vitest';
import { sigmoid } from '../../src/autograd/index.js';
import {
  AsymmetricUnifiedFocalLoss, ContrastiveLoss, SSIMLoss, asymmetricUnifiedFocalLoss, contrastiveLoss, ssimLoss,
} from '../../src/models/losses-extra.js';
import { dispose, fromArray, ones, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's SSIMLoss, ContrastiveLoss and AsymmetricUnifiedFocalLoss (losses-extra.ts): MONAI's test values where they
 * do not depend on torch's random numbers (tests/losses/test_contrastive_loss.py, test_unified_focal_loss.py), each
 * loss against its formula written with plain loops (SSIM: every window's weighted moments directly, no convolution),
 * float64 gradchecks, reductions, the classes and the refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const t64 = (d: ArrayLike<number>, s: number[]) => fromArray(Array.from(d), s, f64);

/** MONAI's SSIM per sample, by loops: a [B, C, ...spatial] image pair, window taps per axis (their outer product) */
function naiveSsim(x: number[], y: number[], shape: number[], taps: number[][], dataRange = 1, k1 = 0.01, k2 = 0.03): number[] {
  const [B, C, ...spatial] = shape;
  const dims = [...spatial, 1, 1].slice(0, 3), k = [...taps, [1], [1]].slice(0, 3).map((t) => t.length);
  const out = dims.map((d, i) => d - k[i] + 1), n = dims[0] * dims[1] * dims[2];
  const c1 = (k1 * dataRange) ** 2, c2 = (k2 * dataRange) ** 2;
  const t = [...taps, [1], [1]].slice(0, 3);
  const result: number[] = [];
  for (let b = 0; b < B; b++) {
    let total = 0, count = 0;
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * n;
      for (let p = 0; p < out[0]; p++) for (let q = 0; q < out[1]; q++) for (let r = 0; r < out[2]; r++) {
        let mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
        for (let i = 0; i < k[0]; i++) for (let j = 0; j < k[1]; j++) for (let l = 0; l < k[2]; l++) {
          const w = t[0][i] * t[1][j] * t[2][l], at = base + ((p + i) * dims[1] + (q + j)) * dims[2] + (r + l);
          mx += w * x[at]; my += w * y[at]; mxx += w * x[at] ** 2; myy += w * y[at] ** 2; mxy += w * x[at] * y[at];
        }
        const sx = mxx - mx * mx, sy = myy - my * my, sxy = mxy - mx * my;
        total += ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * ((2 * sxy + c2) / (sx + sy + c2));
        count++;
      }
    }
    result.push(total / count);
  }
  return result;
}

/** exp(−((i − (k − 1)/2)/σ)²/2) normalised */
function gaussTaps(k: number, sigma: number): number[] {
  const g = Array.from({ length: k }, (_, i) => Math.exp(-(((i - (k - 1) / 2) / sigma) ** 2) / 2));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

describe('ssimLoss (MONAI SSIMLoss)', () => {
  it('1 − SSIM per sample, against every window computed directly: 2-D Gaussian (default 11, σ 1.5), uniform, 3-D, options', async () => {
    const cases: [string, number[], Parameters<typeof ssimLoss>[2], number[][], number][] = [
      ['2-D Gaussian defaults', [2, 3, 16, 13], { spatialDims: 2 }, [gaussTaps(11, 1.5), gaussTaps(11, 1.5)], 1],
      ['2-D uniform 5×3', [1, 2, 8, 9], { spatialDims: 2, kernelType: 'uniform', winSize: [5, 3] }, [new Array(5).fill(1 / 5), new Array(3).fill(1 / 3)], 1],
      ['3-D Gaussian 3, σ per axis, range 2', [2, 1, 5, 4, 6], { spatialDims: 3, winSize: 3, kernelSigma: [1, 0.5, 2], dataRange: 2 }, [gaussTaps(3, 1), gaussTaps(3, 0.5), gaussTaps(3, 2)], 2],
    ];
    for (const [what, shape, options, taps, range] of cases) {
      const x = Array.from(randomArray(sizeOf(shape), 71, 0, range)), y = Array.from(randomArray(sizeOf(shape), 72, 0, range));
      const ssim = naiveSsim(x, y, shape, taps, range);
      const [a, b] = [t64(x, shape), t64(y, shape)];
      const none = ssimLoss(a, b, { ...options, reduction: 'none' });
      expect(none.shape).toEqual([shape[0], 1]);
      expectClose(await value(none), ssim.map((s) => 1 - s), 1e-14, 1e-12, `${what} none`);
      expectClose(await value(ssimLoss(a, b, options)), [ssim.reduce((s, v) => s + 1 - v, 0) / ssim.length], 1e-14, 1e-12, `${what} mean`);
      expectClose(await value(ssimLoss(a, b, { ...options, reduction: 'sum' })), [ssim.reduce((s, v) => s + 1 - v, 0)], 1e-14, 1e-12, `${what} sum`);
      dispose([a, b]);
    }
    // MONAI's docstring example: identical constant images have SSIM 1
    const half = t64(new Array(144).fill(0.5), [1, 1, 12, 12]);
    expectClose(await value(ssimLoss(half, half, { spatialDims: 2 })), [0], 1e-15, 0, 'identical');
    half.dispose();
  });

  it('gradcheck (float64) in both images, 2-D and 3-D', async () => {
    await expectGradchecks([
      ['2-D', (a, b) => ssimLoss(a, b, { spatialDims: 2, winSize: 3 }), [{ data: randomArray(50, 73, 0, 1), shape: [2, 1, 5, 5] }, { data: randomArray(50, 74, 0, 1), shape: [2, 1, 5, 5] }]],
      ['3-D uniform', (a, b) => ssimLoss(a, b, { spatialDims: 3, winSize: [2, 3, 2], kernelType: 'uniform', reduction: 'sum' }), [{ data: randomArray(72, 75, 0, 1), shape: [1, 2, 3, 4, 3] }, { data: randomArray(72, 76, 0, 1), shape: [1, 2, 3, 4, 3] }]],
    ]);
  });

  it('the class takes one number or one per axis; refusals name the input', async () => {
    const a = t64(randomArray(100, 77, 0, 1), [1, 1, 10, 10]), b = t64(randomArray(100, 78, 0, 1), [1, 1, 10, 10]);
    const loss = new SSIMLoss({ spatialDims: 2, winSize: 7, kernelSigma: 1 });
    expect(await value(loss.forward(a, b))).toEqual(await value(ssimLoss(a, b, { spatialDims: 2, winSize: [7, 7], kernelSigma: [1, 1] })));
    expect(String(loss)).toBe('SSIMLoss(spatialDims=2, winSize=[7, 7], kernelSigma=[1, 1])');
    expect(() => new SSIMLoss({ spatialDims: 2, win_size: 3 } as never)).toThrow(/unknown option 'win_size' \(did you mean 'winSize'\?\)/);
    expect(() => ssimLoss(a, b, { spatialDims: 2 })).toThrow(/winSize \[11, 11\] is larger than the image \[1, 1, 10, 10\]/);
    expect(() => ssimLoss(a, b, { spatialDims: 3, winSize: 3 })).toThrow(/with spatialDims 3 the images must be \[B, C, H, W, D\], got \[1, 1, 10, 10\]/);
    expect(() => ssimLoss(a, b, { spatialDims: 4 as 2 })).toThrow(/spatialDims must be 2 or 3, got 4/);
    expect(() => ssimLoss(a, b, { spatialDims: 2, winSize: [3, 3, 3] })).toThrow(/winSize needs 2 values \(one per spatial axis\), got \[3, 3, 3\]/);
    expect(() => ssimLoss(a, b, { spatialDims: 2, winSize: 3, kernelSigma: 0 })).toThrow(/kernelSigma must be positive, got \[0, 0\]/);
    expect(() => ssimLoss(a, b, { spatialDims: 2, winSize: 3, kernelType: 'box' as 'uniform' })).toThrow(/kernelType must be 'gaussian' or 'uniform', got 'box'/);
    expect(() => ssimLoss(a, b, { spatialDims: 2, winSize: 3, dataRange: 0 })).toThrow(/dataRange must be a positive number, got 0/);
    expect(() => ssimLoss(a, b, { spatialDims: 2, winSize: 3, reduction: 'avg' as 'mean' })).toThrow(/unknown reduction 'avg'/);
    expect(() => ssimLoss(a, ones([1, 1, 10, 9], f64), { spatialDims: 2, winSize: 3 })).toThrow(/yPred \[1, 1, 10, 10\] and y \[1, 1, 10, 9\] must have one shape/);
    dispose([a, b]);
  });
});

describe('contrastiveLoss (MONAI ContrastiveLoss)', () => {
  /** NT-Xent by loops */
  function naive(x: number[][], y: number[][], tau: number): number {
    const z = [...x, ...y], n = z.length, B = x.length;
    const unit = z.map((r) => { const m = Math.max(Math.hypot(...r), 1e-8); return r.map((v) => v / m); });
    const s = unit.map((a) => unit.map((b) => a.reduce((acc, v, i) => acc + v * b[i], 0)));
    let total = 0;
    for (let i = 0; i < n; i++) {
      let den = 0;
      for (let j = 0; j < n; j++) if (j !== i) den += Math.exp(s[i][j] / tau);
      total += -Math.log(Math.exp(s[i][(i + B) % n] / tau) / den);
    }
    return total / n;
  }

  it("MONAI's test values", async () => {
    const cases: [number[], number[], number[], number, number][] = [
      [[1, 1, 0, 0], [1, 1, 0, 0], [1, 4], 0.5, 0],
      [[1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1, 0, 0], [2, 4], 0.5, 1.0986],
      [[1, 2, 3, 4, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0], [2, 4], 0.5, 0.8719],
      [[0, 0, 1, 1], [1, 1, 0, 0], [1, 4], 0.5, 0],
      [[0, 0, 1, 1], [1, 1, 0, 0], [1, 4], 0.05, 0],
    ];
    for (const [x, y, shape, temperature, expected] of cases) {
      expectClose(await value(contrastiveLoss(t64(x, shape), t64(y, shape), { temperature })), [expected], 1e-4, 1e-4, `${x} / ${y}, τ ${temperature}`);
    }
    expectClose(await value(new ContrastiveLoss().forward(ones([1, 10], f64), ones([1, 10], f64))), [0], 1e-12, 0, 'ones');
  });

  it('equals NT-Xent by loops on random batches, and passes a gradcheck', async () => {
    for (const [B, F, tau, seed] of [[3, 5, 0.5, 1], [4, 2, 0.1, 2], [2, 7, 1.3, 3]]) {
      const x = Array.from(randomArray(B * F, 80 + seed)), y = Array.from(randomArray(B * F, 90 + seed));
      const rows = (d: number[]) => Array.from({ length: B }, (_, i) => d.slice(i * F, (i + 1) * F));
      expectClose(await value(contrastiveLoss(t64(x, [B, F]), t64(y, [B, F]), { temperature: tau })), [naive(rows(x), rows(y), tau)], 1e-14, 1e-12, `B ${B} F ${F}`);
    }
    // [B] is B one-feature rows
    expectClose(await value(contrastiveLoss(t64([1, -2, 3], [3]), t64([2, 1, -1], [3]))), [naive([[1], [-2], [3]], [[2], [1], [-1]], 0.5)], 1e-14, 1e-12, '[B]');
    await expectGradchecks([['NT-Xent', (a, b) => contrastiveLoss(a, b, { temperature: 0.3 }), [{ data: randomArray(12, 101), shape: [3, 4] }, { data: randomArray(12, 102), shape: [3, 4] }]]]);
  });

  it('refusals, as MONAI', () => {
    expect(() => contrastiveLoss(ones([1, 2, 3], f64), ones([1, 2, 3], f64))).toThrow(/input \[1, 2, 3\] and target \[1, 2, 3\] must be \[B, F\] or \[B\]/);
    expect(() => contrastiveLoss(ones([2, 3], f64), ones([2, 4], f64))).toThrow(/target \[2, 4\] must have the shape of input \[2, 3\]/);
    expect(() => contrastiveLoss(ones([2, 3], f64), ones([2, 3], f64), { temperature: 0 })).toThrow(/temperature must be a positive number, got 0/);
    expect(() => new ContrastiveLoss({ batch_size: 4 } as never)).toThrow(/unknown option 'batch_size'/);
  });
});

describe('asymmetricUnifiedFocalLoss (MONAI AsymmetricUnifiedFocalLoss)', () => {
  /** the loss by its formulas on two-channel p and g, [N, 2, n voxels] flattened */
  function naive(p: number[], g: number[], N: number, n: number, weight = 0.5, gamma = 0.5, delta = 0.7): number {
    const eps = 1e-7, clip = (v: number) => Math.min(1 - eps, Math.max(eps, v));
    let focal = 0, tversky = 0;
    for (let b = 0; b < N; b++) {
      const at = (c: number, i: number) => (b * 2 + c) * n + i;
      const dice: number[] = [];
      for (let c = 0; c < 2; c++) {
        let tp = 0, fn = 0, fp = 0;
        for (let i = 0; i < n; i++) { const q = clip(p[at(c, i)]), t = g[at(c, i)]; tp += t * q; fn += t * (1 - q); fp += (1 - t) * q; }
        dice.push((tp + eps) / (tp + delta * fn + (1 - delta) * fp + eps));
      }
      tversky += (1 - dice[0]) + (1 - dice[1]) ** (1 - gamma);
      for (let i = 0; i < n; i++) {
        const p0 = clip(p[at(0, i)]), p1 = clip(p[at(1, i)]);
        focal += (1 - delta) * (1 - p0) ** gamma * -g[at(0, i)] * Math.log(p0) + delta * -g[at(1, i)] * Math.log(p1);
      }
    }
    return weight * focal / (N * n) + (1 - weight) * tversky / (2 * N);
  }

  it("MONAI's test value (a perfect prediction gives 0 up to the ε clamp)", async () => {
    const d = [1, 0, 0, 1, 1, 0, 0, 1];
    expectClose(await value(new AsymmetricUnifiedFocalLoss().forward(t64(d, [2, 1, 2, 2]), t64(d, [2, 1, 2, 2]))), [0], 1e-4, 1e-4, 'MONAI');
  });

  it('equals its formulas; one channel is [1 − p, p]; toOnehotY; options; gradcheck', async () => {
    const N = 2, n = 12, shape = [N, 2, 3, 4];
    const fg = Array.from(randomArray(N * n, 111, 0, 1));
    const p2 = Array.from({ length: N * 2 * n }, (_, k) => { const b = Math.floor(k / (2 * n)), c = Math.floor(k / n) % 2, i = k % n; return c === 1 ? fg[b * n + i] : 1 - fg[b * n + i]; });
    const labels = Array.from(randomArray(N * n, 112, 0, 1), (v) => (v < 0.4 ? 1 : 0));
    const g2 = Array.from({ length: N * 2 * n }, (_, k) => { const b = Math.floor(k / (2 * n)), c = Math.floor(k / n) % 2, i = k % n; return c === 1 ? labels[b * n + i] : 1 - labels[b * n + i]; });
    const want = naive(p2, g2, N, n);
    expectClose(await value(asymmetricUnifiedFocalLoss(t64(p2, shape), t64(g2, shape))), [want], 1e-14, 1e-12, 'two channels');
    expectClose(await value(asymmetricUnifiedFocalLoss(t64(fg, [N, 1, 3, 4]), t64(labels, [N, 1, 3, 4]))), [want], 1e-14, 1e-12, 'one channel');
    expectClose(await value(asymmetricUnifiedFocalLoss(t64(p2, shape), fromArray(labels, [N, 1, 3, 4], { backend: cpu, dtype: 'int32' }), { toOnehotY: true })), [want], 1e-14, 1e-12, 'toOnehotY');
    const o = { weight: 0.2, gamma: 0.8, delta: 0.6 };
    expectClose(await value(asymmetricUnifiedFocalLoss(t64(p2, shape), t64(g2, shape), o)), [naive(p2, g2, N, n, 0.2, 0.8, 0.6)], 1e-14, 1e-12, 'options');
    // MONAI's reduction has nothing left to reduce
    for (const reduction of ['sum', 'none'] as const) expectClose(await value(asymmetricUnifiedFocalLoss(t64(p2, shape), t64(g2, shape), { reduction })), [want], 0, 0, reduction);
    await expectGradchecks([['logits through sigmoid', (x) => asymmetricUnifiedFocalLoss(sigmoid(x), t64(labels, [N, 1, 3, 4]), o), [{ data: randomArray(N * n, 113, -2, 2), shape: [N, 1, 3, 4] }]]]);
  });

  it('refusals name the input', () => {
    const x = ones([1, 2, 2, 2], f64);
    expect(() => asymmetricUnifiedFocalLoss(ones([2, 2, 2], f64), ones([2, 2, 2], f64))).toThrow(/input must be \[N, C, H, W\] or \[N, C, H, W, D\], got \[2, 2, 2\]/);
    expect(() => asymmetricUnifiedFocalLoss(ones([1, 3, 2, 2], f64), ones([1, 3, 2, 2], f64))).toThrow(/input \[1, 3, 2, 2\] must have 1 or 2 channels/);
    expect(() => asymmetricUnifiedFocalLoss(x, ones([1, 1, 2, 2], f64))).toThrow(/target \[1, 1, 2, 2\] must have the shape of input \[1, 2, 2, 2\]/);
    expect(() => asymmetricUnifiedFocalLoss(x, ones([1, 1, 2, 2], f64), { toOnehotY: true })).toThrow(/with toOnehotY the target must be int32 class indices \[1, 1, 2, 2\], got \[1, 1, 2, 2\] float64/);
    expect(() => asymmetricUnifiedFocalLoss(x, x, { numClasses: 3 })).toThrow(/numClasses must be 2/);
    expect(() => asymmetricUnifiedFocalLoss(x, x, { delta: 1.5 })).toThrow(/delta must be in \[0, 1\], got 1.5/);
    expect(() => asymmetricUnifiedFocalLoss(x, x, { weight: -1 })).toThrow(/weight must be in \[0, 1\], got -1/);
    expect(() => new AsymmetricUnifiedFocalLoss({ to_onehot_y: true } as never)).toThrow(/unknown option 'to_onehot_y' \(did you mean 'toOnehotY'\?\)/);
    x.dispose();
  });
});
