import { describe, expect, it } from 'vitest';
import { backward, mul, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { DynUNet, ResNet, type Module } from '../../src/models/index.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * DynUNet and ResNet on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny
 * configurations). Two input channels for DynUNet: with one, the 1³ conv3 before an instance norm only scales its
 * input, which the norm undoes, leaving conv3's weight a gradient of exactly 0 that each backend rounds to noise of
 * its own. ResNet's last stage keeps 2³ voxels: batch statistics over two values (batch 2 at one voxel) are ±1
 * whatever the input, leaving it a gradient of rounding noise.
 */

interface Run { output: Float32Array; grads: Map<string, Float32Array> }

/** forward, then backward of Σ r ⊙ output: the output and the gradients of the input and of every parameter */
async function run(net: Module & { forward(x: ReturnType<typeof fromArray>): ReturnType<typeof fromArray> }, backend: Backend, inputShape: number[]): Promise<Run> {
  const n = inputShape.reduce((a, b) => a * b, 1);
  const x = fromArray(randomArray(n, 1, -1, 1), inputShape, { backend, requiresGrad: true });
  const y = net.forward(x);
  const r = fromArray(randomArray(y.numel(), 2, -1, 1), y.shape, { backend });
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

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * `zeroGradient(name)` names the parameters whose gradient is exactly 0 in exact arithmetic (a conv bias followed by
 * a batch norm on batch statistics, which removes any per-channel constant): on each backend it is rounding noise,
 * checked to stay below 1e-5 of the gradient of the conv's weight (`weightOf(name)`), instead of compared.
 */
async function expectSameOnBoth(make: (backend: Backend) => Module & { forward(x: ReturnType<typeof fromArray>): ReturnType<typeof fromArray> }, inputShape: number[],
  zeroGradient: (name: string) => boolean = () => false, weightOf = (name: string) => name.replace(/bias$/, 'weight')): Promise<void> {
  const gpu = await webgpu();
  const [got, want] = [await run(make(gpu), gpu, inputShape), await run(make(cpu), cpu, inputShape)];
  expectFloat32Close(got.output, want.output, 'output');
  expect([...got.grads.keys()]).toEqual([...want.grads.keys()]);
  for (const [name, g] of want.grads) {
    if (!zeroGradient(name)) expectFloat32Close(got.grads.get(name)!, g, `gradient of ${name}`);
    else for (const result of [got, want]) expect(maxAbs(result.grads.get(name)!), name).toBeLessThan(1e-5 * maxAbs(result.grads.get(weightOf(name))!));
  }
}

describe('DynUNet and ResNet on WebGPU', () => {
  it('DynUNet (residual blocks, deep supervision, anisotropic strides): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => new DynUNet({
      inChannels: 2, outChannels: 2, kernelSize: [3, 3, 3], strides: [1, [2, 2, 1], 2], upsampleKernelSize: [[2, 2, 1], 2], filters: [2, 3, 4],
      resBlock: true, deepSupervision: true, transBias: true, seed: 5, backend,
    }), [2, 2, 4, 8, 4]);
  });

  it.each(['A', 'B'] as const)('ResNet (shortcut %s): forward and every gradient equal the cpu backend\'s within float32 rounding', async (shortcutType) => {
    await expectSameOnBoth((backend) => new ResNet({
      block: 'bottleneck', layers: [1, 1, 1, 1], blockInplanes: [2, 2, 3, 3], nInputChannels: 1, numClasses: 3, conv1TSize: 3,
      noMaxPool: true, shortcutType, seed: 5, backend,
    }), [2, 1, 16, 16, 16], (name) => name.endsWith('downsample.0.bias'));
  });
});
