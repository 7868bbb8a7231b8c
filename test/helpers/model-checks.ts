import { expect } from 'vitest';
import { add, backward, gradcheck, matmul, noGrad, reshape } from '../../src/autograd/index.js';
import { Adam, decodeSafetensors, encodeSafetensors, loadHostStateDict, type HostTensor, type Module } from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from './backends.js';
import { toFloat64 } from './float64-model.js';

type Network = Module & { forward(x: Tensor): Tensor };

/** turns `net` into float64 on cpu and checks the gradient of its forward with respect to an input of `shape` */
export async function expectInputGradcheck(net: Network, shape: number[]): Promise<void> {
  await toFloat64(net);
  expect(net.parameters().every((p) => p.dtype === 'float64')).toBe(true);
  const size = shape.reduce((a, b) => a * b, 1);
  const r = await gradcheck((x) => net.forward(x), [{ data: randomArray(size, 7, -1, 1), shape }], { backend: cpu });
  expect(r.ok, r.message).toBe(true);
}

/** a noisy [1, 1, side, side, side] image of a ball and its [1, side, side, side] label, on cpu */
export function ballSegmentation(side: number): { image: Tensor; target: Tensor } {
  const label = Int32Array.from({ length: side ** 3 }, (_, i) => {
    const [z, y, x] = [Math.floor(i / side / side), Math.floor(i / side) % side, i % side];
    return (x - 3.5) ** 2 + (y - 4) ** 2 + (z - 3) ** 2 < 7 ? 1 : 0;
  });
  const image = fromArray(Float32Array.from(label, (v, i) => v + 0.3 * Math.sin(i * 12.9898)), [1, 1, side, side, side], { backend: cpu });
  const target = fromArray(label, [1, side, side, side], { backend: cpu });
  return { image, target };
}

/** four noisy [1, 8, 8, 8] volumes ([4, 1, 8, 8, 8] on cpu), the odd ones with a bright blob, and their classes [0, 1, 0, 1] */
export function blobClassification(): { image: Tensor; target: Tensor } {
  const data = Float32Array.from({ length: 4 * 512 }, (_, i) => {
    const sample = Math.floor(i / 512), v = i % 512, [z, y, x] = [v >> 6, (v >> 3) & 7, v & 7];
    const blob = sample % 2 === 1 && (x - 3.5) ** 2 + (y - 3.5) ** 2 + (z - 3.5) ** 2 < 6 ? 1 : 0;
    return blob + 0.3 * Math.sin(i * 12.9898);
  });
  const image = fromArray(data, [4, 1, 8, 8, 8], { backend: cpu });
  const target = fromArray(Int32Array.from([0, 1, 0, 1]), [4], { backend: cpu });
  return { image, target };
}

/**
 * one forward and backward of `lossOf` leave nothing behind once the loss and the gradients are dropped and give
 * every parameter a gradient; then `steps` Adam steps (lr 0.01 unless given) whose losses come back
 */
export async function adamLosses(net: Module, lossOf: () => Tensor, steps: number, lr = 0.01): Promise<number[]> {
  const live = memory().liveTensors;
  const probe = lossOf();
  backward(probe);
  probe.dispose();
  expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
  net.zeroGrad();
  expect(memory().liveTensors).toBe(live);
  const opt = new Adam(net.parameters(), { lr });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = lossOf();
    backward(loss);
    opt.step();
    opt.zeroGrad();
    losses.push(await loss.item());
    loss.dispose();
  }
  expect(losses.every(Number.isFinite)).toBe(true);
  return losses;
}

/**
 * turns `net` into float64 on cpu and checks the gradient of its forward with respect to an input of `shape` moving
 * along `directions` fixed random directions from a random base (every input element's gradient enters the check, in
 * `directions` finite differences rather than one per element: for inputs too large to check element by element)
 */
export async function expectDirectionalGradcheck(net: Network, shape: number[], directions: number): Promise<void> {
  await toFloat64(net);
  const size = shape.reduce((a, b) => a * b, 1);
  const base = fromArray(randomArray(size, 8, -1, 1), shape, { dtype: 'float64', backend: cpu });
  const basis = fromArray(randomArray(directions * size, 9, -1, 1), [directions, size], { dtype: 'float64', backend: cpu });
  const r = await gradcheck((v) => net.forward(add(base, reshape(matmul(v, basis), shape))),
    [{ data: randomArray(directions, 10, -0.1, 0.1), shape: [1, directions] }], { backend: cpu });
  expect(r.ok, r.message).toBe(true);
  expect(Math.abs(r.worst!.analytic)).toBeGreaterThan(1e-3);
  base.dispose();
  basis.dispose();
}

/**
 * `net`'s state in PyTorch's safetensors layout, distinct values per tensor (tensor i: i + j/64) and `counter` in every
 * int32 buffer (num_batches_tracked), written and decoded again, then loaded strictly: every key, none left over;
 * returns the host tensors to compare against
 */
export function loadDistinctSafetensors(net: Module, counter: number): Map<string, HostTensor> {
  const host = new Map([...net.stateSpec()].map(([k, { shape, dtype }], i): [string, HostTensor] => {
    const n = shape.reduce((x, y) => x * y, 1);
    return [k, dtype === 'int32'
      ? { dtype, shape: [...shape], data: Int32Array.from({ length: n }, () => counter) }
      : { dtype: 'float32', shape: [...shape], data: Float32Array.from({ length: n }, (_, j) => i + j / 64) }];
  }));
  expect(loadHostStateDict(net, decodeSafetensors(encodeSafetensors(host)).tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  return host;
}

/** for each [options, input shape, output shape]: `make(options)`'s output of a random input has that shape, in training and in evaluation */
export function expectOutputShapes<O>(make: (options: O) => Module & { forward(x: Tensor): Tensor }, cases: readonly [O, number[], number[]][]): void {
  for (const [options, input, output] of cases) {
    const net = make(options);
    const x = rand(input, 1, { backend: cpu });
    const y = noGrad(() => net.forward(x));
    net.eval();
    const z = noGrad(() => net.forward(x));
    expect([y.shape, z.shape], JSON.stringify(options)).toEqual([output, output]);
    dispose([x, y, z]);
    net.dispose();
  }
}

/** `got` equals `want` (the same network written out with the functional ops) within `rtol` of want's largest magnitude, which is not 0 */
export async function expectSameAsWrittenOut(got: Tensor, want: Tensor, rtol: number): Promise<void> {
  expect([got.shape, got.dtype]).toEqual([want.shape, want.dtype]);
  const [g, e] = [await got.toArray(), await want.toArray()];
  const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expect(scale).toBeGreaterThan(0);
  expectClose(g, e, rtol * scale, 0, 'output');
}
