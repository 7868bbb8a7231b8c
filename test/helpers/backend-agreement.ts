import { expect } from 'vitest';
import { backward, mul, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import type { Module } from '../../src/models/index.js';
import { dispose, fromArray, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from './backends.js';

/**
 * A network (or a bare function) run on WebGPU and on the cpu backend with the same weights (the same seed gives the
 * same weights on both): forward, then backward of Σ r ⊙ output, the output and every gradient compared.
 */

/** what runs on one backend: the parameters' owner (null for a bare function) and the forward of the inputs */
export interface AgreementCase { module: Module | null; forward(inputs: Tensor[]): Tensor }

/** a module whose forward takes one tensor and returns one */
export function singleInput(module: Module & { forward(x: Tensor): Tensor }): AgreementCase {
  return { module, forward: ([x]) => module.forward(x) };
}

interface Run { output: Float32Array; grads: Map<string, Float32Array | null> }

/** the output and the gradients of each input ('input', or 'input 0', 'input 1', … for several) and of every parameter */
async function run(c: AgreementCase, backend: Backend, inputShapes: readonly number[][]): Promise<Run> {
  const inputs = inputShapes.map((shape, i) =>
    fromArray(randomArray(shape.reduce((a, b) => a * b, 1), 1 + 10 * i, -1, 1), shape, { backend, requiresGrad: true }));
  const y = c.forward(inputs);
  const r = fromArray(randomArray(y.numel(), 2, -1, 1), y.shape, { backend });
  const loss = tidy(() => sum(mul(y, r)));
  backward(loss);
  const grads = new Map<string, Float32Array | null>();
  for (const [i, x] of inputs.entries()) grads.set(inputs.length === 1 ? 'input' : `input ${i}`, Float32Array.from(await x.grad!.toArray()));
  for (const [name, p] of c.module?.namedParameters() ?? []) grads.set(name, p.grad && Float32Array.from(await p.grad.toArray()));
  const output = Float32Array.from(await y.toArray());
  dispose([...inputs, r, y, loss]);
  c.module?.dispose();
  return { output, grads };
}

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** |a − e| ≤ 2e-5·max|e| + 2e-4·|e|: float32 sums in another order, the error scaling with the magnitudes summed */
export function expectFloat32Close(actual: Float32Array, expected: Float32Array, what: string): void {
  expectClose(actual, expected, 2e-5 * maxAbs(expected), 2e-4, what);
}

export interface AgreementOptions {
  /**
   * the parameters whose gradient is exactly 0 in exact arithmetic (a conv bias followed by a batch norm on batch
   * statistics, which removes any per-channel constant): on each backend it is rounding noise, checked to stay below
   * 1e-5 of the gradient of `weightOf(name)` (default: the same name ending in weight) instead of compared
   */
  zeroGradient?: (name: string) => boolean;
  weightOf?: (name: string) => string;
  /** the parameters the forward does not use (MONAI registers cross_attn in every TransformerBlock): no gradient on either backend */
  unused?: (name: string) => boolean;
}

/** the output and every gradient on WebGPU equal the cpu backend's within float32 rounding, and none is all zeros */
export async function expectSameOnBoth(make: (backend: Backend) => AgreementCase, inputShapes: readonly number[][], options: AgreementOptions = {}): Promise<void> {
  const { zeroGradient = () => false, unused = () => false, weightOf = (name: string) => name.replace(/bias$/, 'weight') } = options;
  const gpu = await webgpu();
  const [got, want] = [await run(make(gpu), gpu, inputShapes), await run(make(cpu), cpu, inputShapes)];
  expectFloat32Close(got.output, want.output, 'output');
  expect([...got.grads.keys()]).toEqual([...want.grads.keys()]);
  for (const [name, g] of want.grads) {
    if (unused(name)) {
      expect([got.grads.get(name), g], name).toEqual([null, null]);
    } else if (g === null) {
      expect.fail(`${name} has no gradient`);
    } else if (!zeroGradient(name)) {
      expect(maxAbs(g), `gradient of ${name}`).toBeGreaterThan(0);
      expectFloat32Close(got.grads.get(name)!, g, `gradient of ${name}`);
    } else {
      for (const { grads } of [got, want]) expect(maxAbs(grads.get(name)!), name).toBeLessThan(1e-5 * maxAbs(grads.get(weightOf(name))!));
    }
  }
}
