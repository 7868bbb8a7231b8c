import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/index.js';
import { dbislLoss, dbislLossConfig, dtcLossConfig, mseLoss, type LossConfig } from '../../src/dbisl/losses.js';
import type { Backend } from '../../src/kernels/index.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The DBiSL loss on WebGPU, term by term and in its gradients, against the cpu backend on the same float32 inputs:
 * the step's newest host code (Ŷ and T_r2s(R̂) as views of one storage read in place by T_s2r, the Dice pair and the
 * pseudo-label kernel; the label's copy ahead of Ỹ for one CDT pass; the mean uncertainty; the weighted sums) meets
 * the GPU kernels only here. Also mseLoss's weighted form names itself in its checks.
 */

const patch = [5, 4, 4] as const, P = 80, B = 4, L = 2;

/** logits, tanh regression, labels of the first L rows (a ball per row), as host arrays */
function batch() {
  const z = Float32Array.from(randomArray(B * P, 21, -3, 3));
  const r = Float32Array.from(randomArray(B * P, 22, -1.2, 1.2), Math.tanh);
  const label = new Uint8Array(B * P);
  for (let b = 0; b < L; b++) {
    for (let i = 0; i < P; i++) {
      const x = Math.floor(i / 16), y = Math.floor(i / 4) % 4, w = i % 4;
      label[b * P + i] = (x - 2) ** 2 + (y - 1.5 - b * 0.5) ** 2 + (w - 1.5) ** 2 < 2.6 ? 1 : 0;
    }
  }
  return { z, r, label };
}

/** every term's value and the gradients of z and R̂ on one backend */
async function lossOn(backend: Backend, cfg: LossConfig): Promise<{ terms: Record<string, number>; gz: Float32Array; gr: Float32Array }> {
  const { z, r, label } = batch();
  const seg = fromArray(z, [B, 1, ...patch], { backend, requiresGrad: true });
  const sdf = fromArray(r, [B, 1, ...patch], { backend, requiresGrad: true });
  const y = fromArray(Float32Array.from(label.subarray(0, L * P)), [L, 1, ...patch], { backend });
  const res = tidy(() => dbislLoss({ seg, sdf, label: y, labelHost: label, iteration: 4500, maxIterations: 6000 }, cfg));
  const terms: Record<string, number> = {};
  for (const [k, t] of Object.entries(res.terms)) terms[k] = await t.item();
  backward(res.total);
  const out = { terms, gz: Float32Array.from(await seg.grad!.toArray()), gr: Float32Array.from(await sdf.grad!.toArray()) };
  dispose([seg, sdf, y, res.terms]);
  return out;
}

describe('dbislLoss on WebGPU: the cpu backend\'s terms and gradients (float32)', () => {
  const configs: [string, LossConfig][] = [
    ['DBiSL, exp weights', dbislLossConfig({ radius: 3 })],
    ['DBiSL, mask weights, k = 4', dbislLossConfig({ radius: 3, uncertainty: 'mask', k: 4 })],
    ['DBiSL, no weighting, S* from compute_sdf', dbislLossConfig({ radius: 3, unc: false, sdfTarget: 'dtc' })],
    ['DTC', dtcLossConfig({ radius: 3 })],
  ];
  for (const [name, cfg] of configs) {
    it(name, async () => {
      const gpu = await webgpu();
      const [want, got] = [await lossOn(cpu, cfg), await lossOn(gpu, cfg)];
      expect(Object.keys(got.terms).sort()).toEqual(Object.keys(want.terms).sort());
      for (const k of Object.keys(want.terms)) expectClose([got.terms[k]], [want.terms[k]], 1e-6, 1e-5, `${name}: ${k}`);
      // the gradients of (T_s2r(Ŷ) − R̂)² carry the two CDTs' float32 differences (their distances agree within 2e-5,
      // test/kernels/cdt.test.ts), ·2/(ρ·B·P) here; terms and the other gradients agree to a few ulps
      expectClose(got.gz, want.gz, 1e-6, 1e-4, `${name}: ∂L/∂z`);
      expectClose(got.gr, want.gr, 1e-6, 1e-4, `${name}: ∂L/∂R̂`);
    });
  }
});

describe('mseLoss with a weight: its checks name it', () => {
  it('a target or weight of another shape', () => {
    const a = fromArray([1, 2], [2], { backend: cpu }), b = fromArray([1, 2, 3], [3], { backend: cpu });
    expect(() => mseLoss(a, b, a)).toThrow(/^mseLoss: /);
    expect(() => mseLoss(a, a, b)).toThrow(/^mseLoss: /);
  });
});
