import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { noGrad } from '../../src/autograd/index.js';
import { UNETR } from '../../src/models/index.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** UNETR on WebGPU against the cpu backend: the same seed gives the same weights on both (a tiny configuration). */

async function forward(backend: Backend): Promise<Float32Array> {
  const net = new UNETR({ inChannels: 2, outChannels: 3, imgSize: [16, 16, 32], featureSize: 2, hiddenSize: 4, mlpDim: 6, numHeads: 2, seed: 5, backend });
  const x = fromArray(randomArray(2 * 2 * 16 * 16 * 32, 1, -1, 1), [2, 2, 16, 16, 32], { backend });
  const y = noGrad(() => net.forward(x));
  expect(y.shape).toEqual([2, 3, 16, 16, 32]);
  const out = Float32Array.from(await y.toArray());
  dispose([x, y]);
  net.dispose();
  return out;
}

describe('UNETR on WebGPU', () => {
  it("the forward equals the cpu backend's within float32 rounding", async () => {
    const [got, want] = [await forward(await webgpu()), await forward(cpu)];
    // |a − e| ≤ 2e-5·max|e| + 2e-4·|e|: float32 sums in another order (the SegResNet and DynUNet tests' tolerance)
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(0.1);
    expectClose(got, want, 2e-5 * scale, 2e-4, 'output');
  });
});
