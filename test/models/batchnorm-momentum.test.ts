import { describe, expect, it } from 'vitest';
import { backward, mul, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { BatchNorm3d } from '../../src/models/layers.js';
import { dispose, fromArray, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * BatchNorm3d's momentum null (PyTorch's momentum=None): the running statistics are the cumulative average of the
 * batches' mean and unbiased variance, factor 1/num_batches_tracked (a loaded count included).
 */

/** one channel's batch mean and unbiased variance, by hand */
function stats(v: readonly number[]): [number, number] {
  const m = v.reduce((s, a) => s + a, 0) / v.length;
  return [m, v.reduce((s, a) => s + (a - m) ** 2, 0) / (v.length - 1)];
}

const batches = [0, 1, 2].map((k) => Array.from(randomArray(2 * 1 * 2 * 2 * 2, 50 + k, -2, 2)));
/** [N=2, C=1, 2, 2, 2]: the one channel holds all 16 values */
const batchStats = batches.map(stats);

async function state(bn: BatchNorm3d): Promise<{ mean: number; variance: number; count: number }> {
  const sd = bn.stateDict();
  const [mean, variance, count] = await Promise.all(['running_mean', 'running_var', 'num_batches_tracked'].map(async (k) => (await sd.get(k)!.toArray())[0]));
  dispose(sd);
  return { mean, variance, count };
}

async function forBoth(run: (b: Backend) => Promise<void>): Promise<void> {
  await run(cpu);
  await run(await webgpu());
}

describe('BatchNorm3d momentum null: the cumulative moving average', () => {
  it('after k batches the running stats are the plain average of the k batch statistics (the initial 0 and 1 forgotten)', async () => {
    await forBoth(async (backend) => {
      const bn = new BatchNorm3d(1, { momentum: null, backend });
      for (let k = 0; k < 3; k++) {
        const x = fromArray(batches[k], [2, 1, 2, 2, 2], { backend });
        tidy(() => { bn.forward(x); });
        x.dispose();
        const seen = batchStats.slice(0, k + 1);
        const s = await state(bn); // reading the state writes the counter: the next factor must still count right
        expect(s.count).toBe(k + 1);
        expectClose([s.mean, s.variance], [seen.reduce((a, v) => a + v[0], 0) / (k + 1), seen.reduce((a, v) => a + v[1], 0) / (k + 1)], 1e-6, 1e-6, `batch ${k}`);
      }
      bn.dispose();
    });
  });

  it('continues from a loaded num_batches_tracked: factor 1/(loaded + 1)', async () => {
    await forBoth(async (backend) => {
      const bn = new BatchNorm3d(1, { momentum: null, backend });
      const loaded = new Map<string, Tensor>([
        ['weight', fromArray([1], [1], { backend })], ['bias', fromArray([0], [1], { backend })],
        ['running_mean', fromArray([0.5], [1], { backend })], ['running_var', fromArray([2], [1], { backend })],
        ['num_batches_tracked', fromArray([4], [], { backend, dtype: 'int32' })],
      ]);
      bn.loadStateDict(loaded);
      dispose([...loaded.values()]);
      const x = fromArray(batches[0], [2, 1, 2, 2, 2], { backend });
      tidy(() => { bn.forward(x); });
      x.dispose();
      const [m, v] = batchStats[0];
      const s = await state(bn);
      expect(s.count).toBe(5);
      expectClose([s.mean, s.variance], [0.8 * 0.5 + 0.2 * m, 0.8 * 2 + 0.2 * v], 1e-6, 1e-6, 'loaded');
      bn.dispose();
    });
  });

  it('the output and its gradient are those of any momentum (the same batchNorm); eval leaves the running stats alone', async () => {
    const run = async (momentum: number | null) => {
      const bn = new BatchNorm3d(2, { momentum, backend: cpu });
      const x = fromArray(batches[1].slice(0, 12), [2, 2, 3, 1, 1], { backend: cpu, requiresGrad: true });
      const y = bn.forward(x);
      backward(sum(mul(y, y)));
      const r = { y: Array.from(await y.toArray()), gx: Array.from(await x.grad!.toArray()) };
      bn.eval();
      const before = await state(bn);
      tidy(() => { bn.forward(x); });
      expect(await state(bn)).toEqual(before);
      dispose([x, y]);
      bn.dispose();
      return r;
    };
    expect(await run(null)).toEqual(await run(0.1));
  });

  it('the repr says None; a momentum that is neither a number nor null is refused (a JavaScript caller)', () => {
    const bn = new BatchNorm3d(3, { momentum: null, backend: cpu });
    expect(bn.extraRepr()).toBe('3, eps=1e-05, momentum=None, affine=True, track_running_stats=True');
    expect(new BatchNorm3d(3, { backend: cpu }).momentum).toBe(0.1);
    for (const bad of ['0.1', true, {}]) {
      expect(() => new BatchNorm3d(3, { momentum: bad as unknown as number, backend: cpu })).toThrow(/^BatchNorm3d: momentum must be a number or null \(the cumulative average\), got /);
    }
    bn.dispose();
  });
});
