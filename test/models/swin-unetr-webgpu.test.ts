import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { noGrad } from '../../src/autograd/index.js';
import { SwinTransformer, SwinUNETR } from '../../src/models/index.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** SwinUNETR and its Swin transformer on WebGPU against the cpu backend: the same seed gives the same weights on both. */

async function swinViT(backend: Backend): Promise<Float32Array[]> {
  // windows clipped, padded and shifted along some axes only (see swin-unetr.test.ts)
  const net = new SwinTransformer({
    inChannels: 2, embedDim: 6, windowSize: [3, 3, 3], patchSize: [2, 2, 2], depths: [2, 2, 1, 1], numHeads: [2, 3, 3, 4], seed: 11, backend,
  });
  const x = fromArray(randomArray(2 * 2 * 8 * 12 * 20, 1, -1, 1), [2, 2, 8, 12, 20], { backend });
  const hidden = noGrad(() => net.forward(x));
  const out = await Promise.all(hidden.map(async (h) => Float32Array.from(await h.toArray())));
  dispose([x, ...hidden]);
  net.dispose();
  return out;
}

async function swinUnetr(backend: Backend): Promise<Float32Array> {
  const net = new SwinUNETR({ inChannels: 1, outChannels: 2, featureSize: 12, depths: [2, 1, 1, 1], numHeads: [3, 3, 3, 3], windowSize: 4, normName: 'batch', seed: 5, backend });
  net.eval();
  const x = fromArray(randomArray(32 * 32 * 32, 2, -1, 1), [1, 1, 32, 32, 32], { backend });
  const y = noGrad(() => net.forward(x));
  expect(y.shape).toEqual([1, 2, 32, 32, 32]);
  const out = Float32Array.from(await y.toArray());
  dispose([x, y]);
  net.dispose();
  return out;
}

// |a − e| ≤ 2e-5·max|e| + 2e-4·|e|: float32 sums in another order (the SegResNet, DynUNet and UNETR tests' tolerance)
function expectSameOutput(got: Float32Array, want: Float32Array, what: string): void {
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expect(scale).toBeGreaterThan(0.1);
  expectClose(got, want, 2e-5 * scale, 2e-4, what);
}

describe('SwinUNETR on WebGPU', () => {
  it("the Swin transformer's hidden states equal the cpu backend's within float32 rounding", async () => {
    const [got, want] = [await swinViT(await webgpu()), await swinViT(cpu)];
    want.forEach((w, i) => expectSameOutput(got[i], w, `hidden state ${i}`));
  });

  it("the whole network's forward equals the cpu backend's within float32 rounding (32³, batch norm in evaluation)", async () => {
    const [got, want] = [await swinUnetr(await webgpu()), await swinUnetr(cpu)];
    expectSameOutput(got, want, 'output');
  }, 300_000);
});
