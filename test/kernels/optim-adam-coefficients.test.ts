import { describe, expect, it } from 'vitest';
import type { AdamItem, Backend } from '../../src/kernels/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

/**
 * Adam's 1 − β₁ and 1 − β₂ as PyTorch forms them: in float64 from the Python floats, then used as float32 scalars
 * (exp_avg.lerp_(grad, 1 − β₁), exp_avg_sq.mul_(β₂).addcmul_(grad, grad, value=1 − β₂)). A first step from zero
 * state with gradient 1 makes exp_avg = 1 − β₁ and exp_avg_sq = 1 − β₂ exactly (one product by 1, one sum with 0):
 * float32(0.1) and float32(0.001), not 1 − float32(0.9), 1 − float32(0.999) (1.3e-5 from 0.001).
 */

const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('Adam\'s 1 − β on %s', (_name, get) => {
  it.each([false, true])('adamSteps (device step counts: %s): exp_avg = float32(1 − β₁), exp_avg_sq = float32(1 − β₂) after one step of gradient 1', async (device) => {
    const b: Backend = await get();
    const up = (v: number[]) => b.upload(Float32Array.from(v), 'float32');
    const s = [up([1, -1]), up([1, 1]), up([0, 0]), up([0, 0])];
    const item: AdamItem = { param: s[0]!, grad: s[1]!, expAvg: s[2]!, expAvgSq: s[3]!, step: device ? 0 : 1 };
    const deviceSteps = device ? { counts: up([0]), foundInf: up([0]) } : null;
    b.adamSteps([item], hyper, deviceSteps);
    expect(Array.from(await b.read(s[2]!))).toEqual([Math.fround(0.1), Math.fround(0.1)]);
    expect(Array.from(await b.read(s[3]!))).toEqual([Math.fround(0.001), Math.fround(0.001)]);
    for (const x of [...s, ...(deviceSteps ? [deviceSteps.counts, deviceSteps.foundInf] : [])]) b.free(x);
  });
});
