import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { Adam, AdamW, Parameter, RMSprop, SGD, type Optimizer } from '../../src/models/index.js';
import { fromArray, keep } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * Options of torch.optim's SGD, Adam, AdamW and RMSprop checked against numbers worked by hand from PyTorch's
 * single-tensor formulas (torch/optim/{sgd,adam,rmsprop}.py), a few steps each.
 */

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

/** `steps` steps of `make`'s optimizer on w = [1, -2] with the gradient [0.5, 0.25] each time; the values after each */
async function run(backend: Backend, make: (p: Parameter) => Optimizer, steps: number, viaFlag = false): Promise<number[][]> {
  const p = Parameter.fromHost([1, -2], [2], { backend });
  const opt = make(p), out: number[][] = [];
  const noInf = keep(fromArray([0], [1], { backend }));
  for (let s = 0; s < steps; s++) {
    p.grad?.dispose();
    p.grad = keep(fromArray([0.5, 0.25], [2], { backend }));
    if (viaFlag) opt.stepUnlessFoundInf!(noInf);
    else opt.step();
    out.push([...await p.toArray()]);
  }
  opt.dispose();
  p.dispose();
  noInf.dispose();
  return out;
}

describe('optimizer options as PyTorch\'s', () => {
  it('a negative weight decay, and Adam\'s negative eps, are refused (PyTorch: Invalid weight_decay value / Invalid epsilon value)', () => {
    const p = Parameter.fromHost([1], [1], { backend: cpu });
    expect(() => new SGD([p], { lr: 0.1, weightDecay: -0.1 })).toThrow('SGD: invalid weight decay -0.1');
    expect(() => new Adam([p], { weightDecay: -1 })).toThrow('Adam: invalid weight decay -1');
    expect(() => new AdamW([{ params: [p], weightDecay: -1 }, { params: [Parameter.fromHost([1], [1], { backend: cpu })] }]))
      .toThrow('AdamW: invalid weight decay -1 (group 0)');
    expect(() => new RMSprop([p], { weightDecay: -2 })).toThrow('RMSprop: invalid weight decay -2');
    expect(() => new Adam([p], { eps: -1e-8 })).toThrow('Adam: invalid eps -1e-8');
    p.dispose();
  });

  it('SGD\'s lr defaults to 1e-3 as PyTorch\'s (lr=1e-3 since 2.2)', () => {
    const p = Parameter.fromHost([1], [1], { backend: cpu });
    expect(new SGD([p]).lr).toBe(1e-3);
    p.dispose();
  });

  for (const [name, get] of backends) {
    it(`maximize ascends: the gradient negated before weight decay and momentum (${name})`, async () => {
      const backend = await get();
      // d = −g + wd·w; buf = d, then 0.9·buf + d; w −= lr·buf
      const sgd = await run(backend, (p) => new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1, maximize: true }), 2);
      expectClose(sgd[0]!, [1.04, -2 + 0.1 * (0.25 + 0.2)], 1e-6, 1e-6, 'SGD step 1');
      const w1 = -2 + 0.1 * 0.45, d2 = -0.25 + 0.1 * w1, buf2 = 0.9 * (-0.45) + d2;
      expectClose(sgd[1]!, [1.04 - 0.1 * (0.9 * -0.4 + (-0.5 + 0.104)), w1 - 0.1 * buf2], 1e-6, 1e-6, 'SGD step 2');
      // a constant gradient moves Adam by lr each step (m̂ = d, v̂ = d²), here uphill
      const adam = await run(backend, (p) => new Adam([p], { lr: 0.1, maximize: true }), 2);
      expectClose(adam.flat(), [1.1, -1.9, 1.2, -1.8], 1e-6, 1e-5, 'Adam');
      const adamDevice = await run(backend, (p) => new Adam([p], { lr: 0.1, maximize: true }), 2, true);
      expectClose(adamDevice.flat(), [1.1, -1.9, 1.2, -1.8], 1e-6, 1e-5, 'Adam, stepped on the device');
      // AdamW: w ← w(1 − lr·wd) first, then the ascent step
      const adamW = await run(backend, (p) => new AdamW([p], { lr: 0.1, weightDecay: 0.5, maximize: true }), 1);
      expectClose(adamW[0]!, [1 * 0.95 + 0.1, -2 * 0.95 + 0.1], 1e-6, 1e-5, 'AdamW');
      // RMSprop: v = (1 − α)d², w −= lr·d/(√v + ε) = w + lr/√(1 − α)
      const rms = await run(backend, (p) => new RMSprop([p], { lr: 0.01, maximize: true }), 1);
      expectClose(rms[0]!, [1.1, -1.9], 1e-6, 1e-5, 'RMSprop');
    });
  }
});
