import { describe, expect, it } from 'vitest';
import { backward, mul, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { SegResNet, type SegResNetUpsampleMode } from '../../src/models/index.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** SegResNet on WebGPU against the cpu backend: the same seed gives the same weights on both (a tiny configuration). */

interface Run { output: Float32Array; grads: Map<string, Float32Array> }

/**
 * forward, then backward of Σ r ⊙ output: the output and the gradients of the input and of every parameter. One
 * group per GroupNorm: with a group per channel, a channel's constant shift would cancel in every norm after it,
 * leaving the deconv bias a gradient of exactly 0 that each backend rounds to noise of its own.
 */
async function run(backend: Backend, upsampleMode: SegResNetUpsampleMode): Promise<Run> {
  const net = new SegResNet({ initFilters: 2, norm: ['group', { numGroups: 1 }], blocksDown: [1, 2], blocksUp: [1], upsampleMode, seed: 5, backend });
  const shape = [2, 1, 4, 4, 8];
  const x = fromArray(randomArray(256, 1, -1, 1), shape, { backend, requiresGrad: true });
  const r = fromArray(randomArray(512, 2, -1, 1), [2, 2, 4, 4, 8], { backend });
  const y = net.forward(x);
  const loss = tidy(() => sum(mul(y, r)));
  backward(loss);
  const grads = new Map<string, Float32Array>([['input', Float32Array.from(await x.grad!.toArray())]]);
  for (const [name, p] of net.namedParameters()) grads.set(name, Float32Array.from(await p.grad!.toArray()));
  const output = Float32Array.from(await y.toArray());
  dispose([x, r, y, loss]);
  net.dispose();
  return { output, grads };
}

/** |a − e| ≤ 2e-5·max|e| + 2e-4·|e|: float32 sums in another order, the error scaling with the magnitudes summed */
function expectFloat32Close(actual: Float32Array, expected: Float32Array, what: string): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(actual, expected, 2e-5 * scale, 2e-4, what);
}

describe('SegResNet on WebGPU', () => {
  it.each(['nontrainable', 'deconv'] as const)('forward and every gradient equal the cpu backend\'s within float32 rounding (%s)', async (mode) => {
    const gpu = await webgpu();
    const [got, want] = [await run(gpu, mode), await run(cpu, mode)];
    expectFloat32Close(got.output, want.output, 'output');
    expect([...got.grads.keys()]).toEqual([...want.grads.keys()]);
    for (const [name, g] of want.grads) expectFloat32Close(got.grads.get(name)!, g, `gradient of ${name}`);
  });
});
