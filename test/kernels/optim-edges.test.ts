import { describe, expect, it } from 'vitest';
import type { AdamParams, Backend, SgdParams } from '../../src/kernels/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * The optimizer kernels' edges (found by mutation testing, stryker.config.mjs): a momentum buffer given with
 * momentum 0 (a group's momentum set to 0 between steps) is neither read nor written, as PyTorch's SGD ignores its
 * momentum_buffer then; Adam's ε outside the square root, checked with an ε large enough to show; the found-inf flag's
 * check named by the op.
 */

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];
const up = (b: Backend, v: readonly number[]) => b.upload(Float32Array.from(v), 'float32');

describe.each(backends)('optimizer kernels on %s', (_name, get) => {
  it('SGD with momentum 0 leaves a given momentum buffer untouched and steps w −= lr·(g + wd·w)', async () => {
    const backend = await get();
    const w0 = [1, -2, 0.5], g = [0.5, 0.25, -1], buffer = [3, -4, 7];
    const p: Omit<SgdParams, 'firstStep'> = { lr: 0.1, momentum: 0, dampening: 0.5, nesterov: false, weightDecay: 0.01 };
    for (const firstStep of [false, true]) {
      const w = up(backend, w0), grad = up(backend, g), buf = up(backend, buffer);
      backend.sgdStep(w, grad, buf, { ...p, firstStep });
      expect(Array.from(await backend.read(buf))).toEqual(buffer);
      expectClose(await backend.read(w), w0.map((wi, i) => wi - 0.1 * (g[i]! + 0.01 * wi)), 1e-7, 1e-6, 'parameter');
      for (const s of [w, grad, buf]) backend.free(s);
    }
  });

  it('Adam: w −= lr/(1 − β₁ᵗ) · m/(√(v/(1 − β₂ᵗ)) + ε) with a large ε, host and device step counts', async () => {
    const backend = await get();
    const hyper: Omit<AdamParams, 'step'> = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 0.5, weightDecay: 0, decoupled: false };
    const w0 = [1, -2], g = [0.5, -3];
    // step 2 from m = g(1 − β₁), v = g²(1 − β₂) (as after step 1)
    const m1 = g.map((x) => 0.1 * x), v1 = g.map((x) => 0.01 * x * x);
    const m2 = g.map((x, i) => 0.9 * m1[i]! + 0.1 * x), v2 = g.map((x, i) => 0.99 * v1[i]! + 0.01 * x * x);
    const want = w0.map((w, i) => w - (0.1 / (1 - 0.9 ** 2)) * m2[i]! / (Math.sqrt(v2[i]! / (1 - 0.99 ** 2)) + 0.5));
    for (const device of [false, true]) {
      const [w, grad, m, v] = [w0, g, m1, v1].map((a) => up(backend, a));
      const item = { param: w!, grad: grad!, expAvg: m!, expAvgSq: v!, step: device ? 0 : 2 };
      const steps = device ? { counts: up(backend, [1]), foundInf: up(backend, [0]) } : null;
      backend.adamSteps([item], hyper, steps);
      expectClose(await backend.read(w!), want, 1e-6, 1e-6, device ? 'device steps' : 'host steps');
      for (const s of [w, grad, m, v, steps?.counts, steps?.foundInf]) if (s) backend.free(s);
    }
  });
});

it('the cpu sgdSteps names itself when the found-inf flag is not one float32', () => {
  const w = up(cpu, [1]), bad = up(cpu, [0, 0]);
  const p = { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };
  expect(() => cpu.sgdSteps([{ param: w, grad: w, momentumBuffer: null, firstStep: true }], p, bad))
    .toThrow('cpu sgdSteps: the found-inf flag must be one float32, got 2 float32');
  cpu.free(w); cpu.free(bad);
});
