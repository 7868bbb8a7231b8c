import { describe, expect, it } from 'vitest';
import { gradcheck, instanceNorm } from '../../src/autograd/index.js';
import { InstanceNorm3d } from '../../src/models/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf } from '../helpers/backends.js';

/**
 * F.instance_norm's running statistics (PyTorch: the running ones repeated per sample, each copy updated with its
 * (n, c)'s mean and unbiased variance, then averaged over the samples; use_input_stats=False normalises by them)
 * and nn.InstanceNorm3d(track_running_stats=True). Expected values by hand.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
/** a tensor's values, the tensor kept (valuesOf disposes it) */
const read = async (t: Tensor) => Array.from(await t.toArray());
// [N 2, C 2, 3, 1, 1]: (n, c) rows [1, 2, 3], [0, 0, 3], [2, 4, 6], [1, 1, 1]
const x = () => fromArray([1, 2, 3, 0, 0, 3, 2, 4, 6, 1, 1, 1], [2, 2, 3, 1, 1], f64);
// means 2, 1, 4, 1; unbiased variances 1, 3, 4, 0 → over the samples: means [3, 1], variances [2.5, 1.5]

describe('F.instanceNorm with running statistics', () => {
  it('useInputStats (default): normalises by each sample, updates running = 0.9·running + 0.1·(mean over the samples)', async () => {
    const rm = fromArray([0, 0], [2], f64), rv = fromArray([1, 1], [2], f64);
    const y = await valuesOf(instanceNorm(x(), { runningMean: rm, runningVar: rv }));
    expect(y).toEqual(await valuesOf(instanceNorm(x())));
    expectClose(await read(rm), [0.3, 0.1], 1e-15, 0);
    expectClose(await read(rv), [1.15, 1.05], 1e-15, 0);
    instanceNorm(x(), { runningMean: rm, runningVar: rv, momentum: 0.5 }).dispose();
    expectClose(await read(rm), [0.5 * 0.3 + 0.5 * 3, 0.5 * 0.1 + 0.5 * 1], 1e-15, 0);
  });

  it('useInputStats false: (x − running mean)/√(running var + eps)·weight + bias, running statistics unchanged', async () => {
    const rm = fromArray([1, -1], [2], f64), rv = fromArray([4, 0.25], [2], f64);
    const w = fromArray([2, 1], [2], f64), b = fromArray([0, 0.5], [2], f64);
    const y = await valuesOf(instanceNorm(x(), { runningMean: rm, runningVar: rv, weight: w, bias: b, useInputStats: false, eps: 0 }));
    const want = [1, 2, 3, 0, 0, 3, 2, 4, 6, 1, 1, 1].map((v, i) => {
      const c = Math.floor(i / 3) % 2;
      return c === 0 ? ((v - 1) / 2) * 2 : (v + 1) / 0.5 + 0.5;
    });
    expectClose(y, want, 1e-12, 0);
    expect(await read(rm)).toEqual([1, -1]);
    const r = await gradcheck((xt, wt, bt) => instanceNorm(xt, { runningMean: rm, runningVar: rv, weight: wt, bias: bt, useInputStats: false }),
      [{ data: Array.from(randomArray(24, 5, -1, 1)), shape: [2, 2, 3, 2, 1] }, { data: [1.5, -0.5], shape: [2] }, { data: [0.1, 0.2], shape: [2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('useInputStats false without running statistics is refused', () => {
    expect(() => instanceNorm(x(), { useInputStats: false })).toThrow(/useInputStats false needs runningMean and runningVar/);
  });
});

describe('nn.InstanceNorm3d(trackRunningStats)', () => {
  it('buffers as PyTorch; training updates them, eval normalises by them; momentum null never changes them', async () => {
    const layer = new InstanceNorm3d(2, { trackRunningStats: true, backend: cpu });
    expect(layer.namedBuffers().map(([name]) => name)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    const xs = fromArray([1, 2, 3, 0, 0, 3, 2, 4, 6, 1, 1, 1], [2, 2, 3, 1, 1], { backend: cpu, dtype: 'float32' });
    layer.forward(xs).dispose();
    expectClose(await read(layer.runningMean!), [0.3, 0.1], 1e-7, 0);
    expectClose(await read(layer.runningVar!), [1.15, 1.05], 1e-7, 0);
    layer.eval();
    const y = await valuesOf(layer.forward(xs));
    expectClose(y.slice(0, 3), [1, 2, 3].map((v) => (v - 0.3) / Math.sqrt(1.15 + 1e-5)), 1e-6, 0);
    expect(layer.extraRepr()).toBe('2, eps=1e-05, momentum=0.1, affine=False, track_running_stats=True');

    const frozen = new InstanceNorm3d(2, { trackRunningStats: true, momentum: null, backend: cpu });
    frozen.forward(xs).dispose();
    expect(await read(frozen.runningMean!)).toEqual([0, 0]);
    expect(await read(frozen.runningVar!)).toEqual([1, 1]);
  });

  it('without trackRunningStats (the default) eval still normalises by each sample', async () => {
    const layer = new InstanceNorm3d(2, { backend: cpu }).eval();
    expect(layer.namedBuffers()).toEqual([]);
    const xs = fromArray([1, 2, 3, 0, 0, 3], [1, 2, 3, 1, 1], { backend: cpu, dtype: 'float32' });
    expect(await valuesOf(layer.forward(xs))).toEqual(await valuesOf(instanceNorm(xs)));
    expect(layer.extraRepr()).toBe('2, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False');
  });
});
