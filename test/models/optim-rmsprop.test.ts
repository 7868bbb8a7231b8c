import { expect, it } from 'vitest';
import type { WebGPUBackend } from '../../src/kernels/index.js';
import { segmentsPerDispatch } from '../../src/kernels/webgpu/multi-tensor.js';
import { Adam, Parameter, RMSprop, type Optimizer, type RMSpropOptions } from '../../src/models/index.js';
import { fromArray, keep } from '../../src/tensor/index.js';
import { randomArray, webgpu } from '../helpers/backends.js';

/**
 * RMSprop's step on WebGPU: its fused kernel (rmspropSteps) updates several parameters per dispatch, on the host
 * path and on the device path (stepUnlessFoundInf), whose step counts advance in one more dispatch per step
 * (advanceStepCounts), for Adam too.
 */

const SIZES = Array.from({ length: 20 }, (_, k) => 30 + k);

function setGrads(params: readonly Parameter[], t: number, skip: ReadonlySet<number> = new Set()): void {
  params.forEach((p, k) => {
    p.grad?.dispose();
    p.grad = skip.has(k) ? null : keep(fromArray(randomArray(p.numel(), 100 * t + k), p.shape, { backend: p.backend }));
  });
}

/** the dispatches of `step` at the second iteration (the first also fills the new state with zeros) */
async function dispatchesPerStep(g: WebGPUBackend, opt: Optimizer, step: () => void, skip?: ReadonlySet<number>): Promise<number> {
  let count = 0;
  for (let t = 0; t < 2; t++) {
    setGrads(opt.params, t, skip);
    const d0 = g.rt.dispatchCount;
    step();
    count = g.rt.dispatchCount - d0;
  }
  opt.zeroGrad();
  return count;
}

it('RMSprop steps 20 parameters in ⌈20 / parameters per dispatch⌉ dispatches; stepUnlessFoundInf in one more (the step counts)', async () => {
  const g = await webgpu() as WebGPUBackend;
  const configs: RMSpropOptions[] = [{}, { momentum: 0.9, centered: true, weightDecay: 1e-2 }];
  for (const options of configs) {
    const perParam = 3 + (options.centered ? 1 : 0) + ((options.momentum ?? 0) > 0 ? 1 : 0);
    const make = () => new RMSprop(SIZES.map((n, k) => Parameter.fromHost(randomArray(n, k), [n], { backend: g })), options);
    const host = make(), device = make(), flag = keep(fromArray([0], [1], { backend: g }));
    expect(await dispatchesPerStep(g, host, () => host.step())).toBe(Math.ceil(20 / segmentsPerDispatch(g.rt, perParam)));
    expect(await dispatchesPerStep(g, device, () => device.stepUnlessFoundInf(flag))).toBe(Math.ceil(20 / segmentsPerDispatch(g.rt, perParam, 1)) + 1);
    // two groups, some parameters without a gradient: still one dispatch for the counts
    const grouped = new RMSprop([{ params: device.params.slice(0, 12) }, { params: device.params.slice(12), lr: 0.1 }], options);
    const skip = new Set([0, 5, 13]), perDispatch = segmentsPerDispatch(g.rt, perParam, 1);
    expect(await dispatchesPerStep(g, grouped, () => grouped.stepUnlessFoundInf(flag), skip)).toBe(Math.ceil(10 / perDispatch) + Math.ceil(7 / perDispatch) + 1);
    for (const x of [host, device, grouped, flag, ...host.params, ...device.params]) x.dispose();
  }
});

it('Adam\'s device step counts advance in one dispatch too (stepUnlessFoundInf, and step() once they live on the device)', async () => {
  const g = await webgpu() as WebGPUBackend;
  const opt = new Adam(SIZES.map((n, k) => Parameter.fromHost(randomArray(n, k), [n], { backend: g })));
  const flag = keep(fromArray([0], [1], { backend: g })), steps = Math.ceil(20 / segmentsPerDispatch(g.rt, 4, 2));
  expect(await dispatchesPerStep(g, opt, () => opt.stepUnlessFoundInf(flag))).toBe(steps + 1);
  // step(): its never-set flag is a fill, then the same kernels
  expect(await dispatchesPerStep(g, opt, () => opt.step())).toBe(1 + steps + 1);
  for (const x of [opt, flag, ...opt.params]) x.dispose();
});

it('the state after device steps keeps PyTorch\'s layout: square_avg, momentum_buffer, grad_avg, and step as a float32 [] tensor', async () => {
  const g = await webgpu();
  const params = [Parameter.fromHost(randomArray(7, 1), [7], { backend: g }), Parameter.fromHost(randomArray(6, 2), [2, 3], { backend: g })];
  const opt = new RMSprop(params, { momentum: 0.9, centered: true });
  const clear = keep(fromArray([0], [1], { backend: g })), found = keep(fromArray([1], [1], { backend: g }));
  for (const flag of [clear, found, clear]) {
    setGrads(params, 0);
    opt.stepUnlessFoundInf(flag);
  }
  const state = opt.stateDict();
  expect([...state.tensors.keys()]).toEqual([0, 1].flatMap((i) => ['square_avg', 'momentum_buffer', 'grad_avg', 'step'].map((name) => `state.${i}.${name}`)));
  expect(state.tensors.get('state.1.grad_avg')!.shape).toEqual([2, 3]);
  expect(state.tensors.get('state.1.step')!.shape).toEqual([]);
  expect(await Promise.all([0, 1].map(async (i) => (await state.tensors.get(`state.${i}.step`)!.toArray())[0]))).toEqual([2, 2]);
  opt.zeroGrad();
  for (const x of [opt, clear, found, ...params]) x.dispose();
});
