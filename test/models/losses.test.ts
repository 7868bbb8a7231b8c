import { describe, expect, it } from 'vitest';
import type { Backend, DType, WebGPUBackend } from '../../src/kernels/index.js';
import { binaryCrossEntropyWithLogits, crossEntropy, diceLoss, mseLoss } from '../../src/models/losses.js';
import { dispose, fromArray, randn, zeros, type Tensor } from '../../src/tensor/index.js';
import { backward, expand, gradcheck, reshape, slice, transpose } from '../../src/autograd/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** Reductions (shapes and values), Dice edge cases, and the argument errors of src/models/losses.ts. */

const f64 = (data: number[], shape: number[] = [data.length]) => fromArray(data, shape, { backend: cpu, dtype: 'float64' });
const i32 = (data: number[], shape: number[] = [data.length]) => fromArray(data, shape, { backend: cpu, dtype: 'int32' });
const values = async (t: Tensor) => Array.from(await t.toArray());

describe('loss reductions', () => {
  it('mseLoss: none / sum / mean, and the per-element weight (mean of w·(x − y)²)', async () => {
    const x = f64([1, 2, 3, 4], [2, 2]), y = f64([0, 2, 5, 4], [2, 2]), w = f64([1, 2, 0.5, 1], [2, 2]);
    // (x − y)² = [1, 0, 4, 0]
    const none = mseLoss(x, y, { reduction: 'none' });
    expect(none.shape).toEqual([2, 2]);
    expect(await values(none)).toEqual([1, 0, 4, 0]);
    expect(mseLoss(x, y, { reduction: 'sum' }).shape).toEqual([]);
    expect(await mseLoss(x, y, { reduction: 'sum' }).item()).toBe(5);
    expect(await mseLoss(x, y).item()).toBe(1.25);
    // w·(x − y)² = [1, 0, 2, 0]: sum 3, mean over the 4 elements 0.75 (not divided by Σw)
    expect(await values(mseLoss(x, y, { weight: w, reduction: 'none' }))).toEqual([1, 0, 2, 0]);
    expect(await mseLoss(x, y, { weight: w, reduction: 'sum' }).item()).toBe(3);
    expect(await mseLoss(x, y, { weight: w }).item()).toBe(0.75);
    // a broadcast weight [2] over the last axis: [1·1, 0, 1·4, 0]·[1, 3] → [1, 0, 4, 0]
    expect(await mseLoss(x, y, { weight: f64([1, 3]), reduction: 'sum' }).item()).toBe(5);
    dispose([x, y, w]);
  });

  it('binaryCrossEntropyWithLogits: softplus form, posWeight, weight, reductions', async () => {
    const x = f64([0, 2]), y = f64([1, 0]);
    // ℓ = y·softplus(−x) + (1 − y)·softplus(x) = [log 2, log(1 + e²)] = [0.69314718, 2.12692801]
    expectClose(await values(binaryCrossEntropyWithLogits(x, y, { reduction: 'none' })), [0.6931471805599453, 2.1269280110429727], 1e-12);
    expectClose([await binaryCrossEntropyWithLogits(x, y, { reduction: 'sum' }).item()], [2.820075191602918], 1e-12);
    expectClose([await binaryCrossEntropyWithLogits(x, y).item()], [1.410037595801459], 1e-12);
    // posWeight 3 scales the positive term: [3·log 2, 2.12692801]; weight [2, 0.5] then scales each element
    expectClose(await values(binaryCrossEntropyWithLogits(x, y, { reduction: 'none', posWeight: f64([3]) })), [2.0794415416798357, 2.1269280110429727], 1e-12);
    expectClose(await values(binaryCrossEntropyWithLogits(x, y, { reduction: 'none', weight: f64([2, 0.5]) })), [1.3862943611198906, 1.0634640055214863], 1e-12);
    // stable for large |x|: x = ±100 with the matching label gives ≈ 0, the wrong label ≈ 100
    expectClose(await values(binaryCrossEntropyWithLogits(f64([100, -100, 100]), f64([1, 0, 0]), { reduction: 'none' })), [0, 0, 100], 1e-12);
  });

  it('crossEntropy: shapes of every reduction for [N, C, D, H, W] logits', async () => {
    const logits = randn([2, 3, 2, 1, 2], 5, { backend: cpu, dtype: 'float64' });
    const target = i32([0, 1, 2, 0, -100, 2, 1, 1], [2, 2, 1, 2]);
    const none = crossEntropy(logits, target, { reduction: 'none' });
    expect(none.shape).toEqual([2, 2, 1, 2]);
    const v = await values(none);
    expect(v[4]).toBe(0);
    const sum = await crossEntropy(logits, target, { reduction: 'sum' }).item();
    expectClose([sum], [v.reduce((a, b) => a + b, 0)], 1e-12);
    // mean over the 7 non-ignored targets
    expectClose([await crossEntropy(logits, target).item()], [sum / 7], 1e-12);
    // all ignored: mean is 0/0 = NaN (PyTorch), sum is 0
    const allIgnored = i32(new Array<number>(8).fill(-100), [2, 2, 1, 2]);
    expect(Number.isNaN(await crossEntropy(logits, allIgnored).item())).toBe(true);
    expect(Math.abs(await crossEntropy(logits, allIgnored, { reduction: 'sum' }).item())).toBe(0);
    dispose([logits, target, allIgnored]);
  });

  it('crossEntropy with every target ignored: the mean is NaN and its gradient 0, as PyTorch (not 0·(1/0) = NaN)', async () => {
    for (const weight of [null, f64([0.5, 2, 1])]) {
      const logits = randn([2, 3, 2], 7, { backend: cpu, dtype: 'float64' });
      logits.requiresGrad = true;
      const allIgnored = i32([-100, -100, -100, -100], [2, 2]);
      const loss = crossEntropy(logits, allIgnored, { weight });
      expect(Number.isNaN(await loss.item())).toBe(true);
      backward(loss);
      expect(await values(logits.grad!)).toEqual(new Array<number>(12).fill(0));
      // one counted target ([0, ·, 1] of logits [N, C, L]): the gradient is finite and the ignored positions get 0
      const logits2 = randn([2, 3, 2], 7, { backend: cpu, dtype: 'float64' });
      logits2.requiresGrad = true;
      backward(crossEntropy(logits2, i32([-100, 2, -100, -100], [2, 2]), { weight }));
      const g = await values(logits2.grad!);
      expect(g.every(Number.isFinite)).toBe(true);
      expect([0, 2, 4, 6, 7, 8, 9, 10, 11].map((i) => g[i])).toEqual(new Array<number>(9).fill(0));
      expect(g[1]).not.toBe(0);
    }
  });
});

describe('diceLoss', () => {
  it('identical binary maps give ≈ 0 for every reduction', async () => {
    const y = f64([1, 0, 1, 1, 0, 0, 1, 0], [2, 1, 2, 2, 1]);
    expect(await diceLoss(y, y).item()).toBeCloseTo(0, 12);
    const none = diceLoss(y, y, { reduction: 'none' });
    expect(none.shape).toEqual([2]);
    expectClose(await values(none), [0, 0], 1e-12);
    expect(await diceLoss(y, y, { reduction: 'sum' }).item()).toBeCloseTo(0, 12);
    // an empty prediction and target: (0 + s)/(0 + s) → 0 too
    const z = zeros([1, 1, 2, 2, 2], { backend: cpu, dtype: 'float64' });
    expect(await diceLoss(z, z).item()).toBeCloseTo(0, 12);
    dispose([y, z]);
  });

  it('hand values: pooled mean, per-sample none, sum of per-sample, weighted sums', async () => {
    // sample 0: p = [0.5, 0.5], y = [1, 0] → Σpy = 0.5, Σp² = 0.5, Σy² = 1 → 1 − (1 + s)/(1.5 + s)
    // sample 1: p = [1, 0], y = [1, 0] → 1 − (2 + s)/(2 + s) = 0
    const s = 1e-5;
    const p = f64([0.5, 0.5, 1, 0], [2, 2]), y = f64([1, 0, 1, 0], [2, 2]);
    const d0 = 1 - (1 + s) / (1.5 + s);
    expectClose(await values(diceLoss(p, y, { reduction: 'none' })), [d0, 0], 1e-12);
    expectClose([await diceLoss(p, y, { reduction: 'sum' }).item()], [d0], 1e-12);
    // pooled over all four: Σpy = 1.5, Σp² = 1.5, Σy² = 2 → 1 − (3 + s)/(3.5 + s)
    expectClose([await diceLoss(p, y).item()], [1 - (3 + s) / (3.5 + s)], 1e-12);
    // weight [2, 0] per column: Σw·p·y = 2·0.5 + 2·1 = 3, Σw·p² = 2·0.25 + 2·1 = 2.5, Σw·y² = 2 + 2 = 4
    const w = f64([2, 0]);
    expectClose([await diceLoss(p, y, { weight: w }).item()], [1 - (6 + s) / (6.5 + s)], 1e-12);
    // a custom smoothing term
    expectClose([await diceLoss(p, y, { smooth: 1 }).item()], [1 - 4 / 4.5], 1e-12);
    dispose([p, y, w]);
  });
});

describe('loss argument errors name the shapes and dtypes', () => {
  const t = (shape: number[], dtype: DType = 'float32') => zeros(shape, { backend: cpu, dtype });

  it('mse, bce, dice', () => {
    expect(() => mseLoss(t([2, 3]), t([3, 2]))).toThrow(/mseLoss: target \[3, 2\] must have the shape of input \[2, 3\]/);
    expect(() => mseLoss(t([2, 3]), t([2, 3], 'float64'))).toThrow(/target \[2, 3\] float64 must have the dtype of input \[2, 3\] float32/);
    expect(() => mseLoss(t([2, 3]), t([2, 3]), { weight: t([2]) })).toThrow(/weight \[2\] cannot be broadcast to the input \[2, 3\]/);
    expect(() => mseLoss(t([2, 3]), t([2, 3]), { weight: t([4, 2, 3]) })).toThrow(/weight \[4, 2, 3\] cannot be broadcast to the input \[2, 3\]/);
    expect(() => mseLoss(t([2]), t([2]), { reduction: 'avg' as 'mean' })).toThrow(/unknown reduction 'avg'/);
    expect(() => binaryCrossEntropyWithLogits(t([4]), t([2, 2]))).toThrow(/binaryCrossEntropyWithLogits: target \[2, 2\] must have the shape of input \[4\]/);
    expect(() => binaryCrossEntropyWithLogits(t([4]), t([4]), { posWeight: t([3]) })).toThrow(/posWeight \[3\] cannot be broadcast to the input \[4\]/);
    expect(() => diceLoss(t([2, 4]), t([2, 4], 'int32'))).toThrow(/diceLoss: target \[2, 4\] int32 must have the dtype of input \[2, 4\] float32/);
    expect(() => diceLoss(t([2, 4], 'int32'), t([2, 4], 'int32'))).toThrow(/floating-point.*int32/);
  });

  it('crossEntropy', () => {
    const logits = t([2, 3, 4]);
    expect(() => crossEntropy(logits, t([2, 4], 'int32').viewAs([4, 2], [2, 1], 0))).toThrow(/target \[4, 2\] must be \[2, 4\] \(logits \[2, 3, 4\] without the class axis\)/);
    expect(() => crossEntropy(logits, t([2, 4]))).toThrow(/target \[2, 4\] must hold int32 class indices, got float32/);
    expect(() => crossEntropy(t([3]), t([3], 'int32'))).toThrow(/logits must be \[N, C, …\], got \[3\]/);
    expect(() => crossEntropy(logits, t([2, 4], 'int32'), { weight: t([4]) })).toThrow(/weight \[4\] must be \[3\]/);
    expect(() => crossEntropy(logits, t([2, 4], 'int32'), { weight: t([3], 'float64') })).toThrow(/weight \[3\] float64 must have the dtype of logits/);
  });
});

describe('the fused Dice, BCE and MSE (autograd/losses.ts on kernels/loss)', () => {
  type Fn = (...xs: Tensor[]) => Tensor;
  const input = (shape: number[], seed: number, lo = 0, hi = 1) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape });
  const check = async (backend: Backend, fn: Fn, inputs: { data: ArrayLike<number>; shape: number[] }[], what: string) => {
    const r = await gradcheck(fn, inputs, { backend });
    expect(r.ok, `${backend.name} ${what}: ${r.message}`).toBe(true);
  };

  it('gradients w.r.t. every operand: Dice in p, y and w (each reduction), one target expanded over two rows, BCE in x and y', async () => {
    const gpu = await webgpu();
    for (const backend of [cpu, gpu]) {
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        await check(backend, (p, y, w) => diceLoss(p, y, { reduction, weight: w }),
          [input([2, 1, 2, 3], 1), input([2, 1, 2, 3], 2), input([2, 1, 2, 3], 3, 0.2, 1)], `dice ${reduction}`);
      }
      // dbisl's diceLossPair: one label expanded across the rows of [p1; p2] (row stride 0)
      await check(backend, (p, y) => diceLoss(p, expand(y, [2, 5]), { reduction: 'none' }), [input([2, 5], 4), input([1, 5], 5)], 'dice shared target');
      // a weight broadcast from [3] (copied to the rows' layout)
      await check(backend, (p, y, w) => diceLoss(p, y, { weight: w }), [input([2, 3], 6), input([2, 3], 7), input([3], 8, 0.2, 1)], 'dice broadcast weight');
      for (const reduction of ['mean', 'sum'] as const) {
        await check(backend, (x, y) => binaryCrossEntropyWithLogits(x, y, { reduction }), [input([3, 4], 9, -3, 3), input([3, 4], 10)], `bce ${reduction}`);
        await check(backend, (x, y) => mseLoss(x, y, { reduction }), [input([3, 4], 11, -1, 1), input([3, 4], 12, -1, 1)], `mse ${reduction}`);
      }
    }
  });

  it('non-contiguous and offset operands give the values of their dense copies', async () => {
    const gpu = await webgpu();
    for (const backend of [cpu, gpu]) {
      const o = { backend, dtype: backend === cpu ? 'float64' as const : 'float32' as const };
      const p = fromArray(randomArray(24, 13, 0, 1), [4, 6], o), y = fromArray(randomArray(24, 14, 0, 1), [4, 6], o);
      // the rows 1…2 of p (an offset view) and a transposed y
      const pv = slice(p, 0, 1, 3), yv = transpose(reshape(slice(y, 0, 0, 2), [6, 2]), 0, 1);
      const [pd, yd] = await Promise.all([pv, yv].map(async (t) => fromArray(await t.toArray(), t.shape, o)));
      for (const reduction of ['mean', 'none'] as const) {
        expectClose(await values(diceLoss(pv, yv, { reduction })), await values(diceLoss(pd, yd, { reduction })), 1e-6, 1e-6, `dice ${backend.name}`);
      }
      expectClose(await values(binaryCrossEntropyWithLogits(pv, yv)), await values(binaryCrossEntropyWithLogits(pd, yd)), 1e-6, 1e-6, `bce ${backend.name}`);
      dispose([p, y, pd, yd]);
    }
  });

  it('on WebGPU the weighted Dice of [1, 2·32³] takes two dispatches forward and one backward (after the seed)', async () => {
    const gpu = await webgpu();
    const rt = (gpu as WebGPUBackend).rt;
    const n = 2 * 32 ** 3;
    const p = fromArray(randomArray(n, 15, 0, 1), [2, 1, 32, 32, 32], { backend: gpu, requiresGrad: true });
    const y = fromArray(randomArray(n, 16, 0, 1), p.shape, { backend: gpu }), w = fromArray(randomArray(n, 17, 0, 1), p.shape, { backend: gpu });
    const before = rt.dispatchCount;
    const loss = diceLoss(p, y, { weight: w });
    const forward = rt.dispatchCount - before;
    backward(loss);
    // backward's own seed (a fill of 1) and the one gradient pass
    expect([forward, rt.dispatchCount - before - forward]).toEqual([2, 2]);
    dispose([p, y, w, loss]);
  });
});
