import { describe, expect, it } from 'vitest';
import {
  Adam, Parameter, RMSprop, SGD, stepLr, type RMSpropOptions,
} from '../../src/models/index.js';
import { fromArray, keep, memory } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * Parameter groups (PyTorch's [{ params, lr }, …]) and RMSprop. RMSprop's values come from PyTorch's documented
 * update rule (torch.optim.RMSprop's algorithm box) computed here with plain float64 arithmetic, for a few steps
 * and every combination of weight decay, momentum and centered.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const W0 = [1, -2, 3, 0.25];
const GRADS = [[0.5, 0.1, -0.3, 2], [-0.2, 0.4, 0.1, -1], [0.3, -0.6, 0.05, 0.7]];

function setGrad(p: Parameter, g: number[]): void {
  p.grad?.dispose();
  p.grad = keep(fromArray(g, p.shape, { backend: p.backend, dtype: p.dtype }));
}

/** torch.optim.RMSprop's algorithm for one parameter (square_avg, grad_avg and the buffer start at 0) */
function rmspropReference(grads: number[][], o: Required<RMSpropOptions>): number[] {
  const w = [...W0], v = w.map(() => 0), avg = w.map(() => 0), buf = w.map(() => 0);
  for (const g of grads) {
    for (let i = 0; i < w.length; i++) {
      const d = g[i] + o.weightDecay * w[i];
      v[i] = o.alpha * v[i] + (1 - o.alpha) * d * d;
      let denom: number;
      if (o.centered) {
        avg[i] = o.alpha * avg[i] + (1 - o.alpha) * d;
        denom = Math.sqrt(v[i] - avg[i] * avg[i]) + o.eps;
      } else denom = Math.sqrt(v[i]) + o.eps;
      if (o.momentum > 0) {
        buf[i] = o.momentum * buf[i] + d / denom;
        w[i] -= o.lr * buf[i];
      } else w[i] -= o.lr * d / denom;
    }
  }
  return w;
}

describe('RMSprop', () => {
  const base: Required<RMSpropOptions> = { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };
  for (const weightDecay of [0, 0.1]) {
    for (const momentum of [0, 0.9]) {
      for (const centered of [false, true]) {
        const o = { ...base, lr: 0.05, alpha: 0.9, weightDecay, momentum, centered };
        it(`PyTorch's update rule, 3 steps: weightDecay ${weightDecay}, momentum ${momentum}, centered ${centered}`, async () => {
          const p = Parameter.fromHost(W0, [4], f64);
          const opt = new RMSprop([p], o);
          for (const g of GRADS) { setGrad(p, g); opt.step(); }
          expectClose(await p.toArray(), rmspropReference(GRADS, o), 1e-13, 1e-12, 'parameter');
          opt.zeroGrad(); opt.dispose(); p.dispose();
        });
      }
    }
  }

  it('on WebGPU (float32), centered with momentum and weight decay', async () => {
    const backend = await webgpu();
    const o = { ...base, lr: 0.05, alpha: 0.9, weightDecay: 0.1, momentum: 0.9, centered: true };
    const p = Parameter.fromHost(W0, [4], { backend });
    const opt = new RMSprop([p], o);
    for (const g of GRADS) { setGrad(p, g); opt.step(); }
    expectClose(await p.toArray(), rmspropReference(GRADS, o), 1e-5, 1e-5, 'parameter');
    opt.zeroGrad(); opt.dispose(); p.dispose();
  });

  it('defaults are PyTorch\'s (lr 0.01, alpha 0.99, eps 1e-8) and a 2-D parameter steps the same', async () => {
    const p = Parameter.fromHost(W0, [2, 2], f64);
    const opt = new RMSprop([p]);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false });
    for (const g of GRADS) { setGrad(p, g); opt.step(); }
    expectClose(await p.toArray(), rmspropReference(GRADS, base), 1e-13, 1e-12, 'defaults');
    opt.zeroGrad(); opt.dispose(); p.dispose();
  });

  it('state round trip continues identically; memory stays flat over steps', async () => {
    const o = { lr: 0.05, momentum: 0.9, centered: true, weightDecay: 0.01 };
    const p = Parameter.fromHost(W0, [4], f64);
    const opt = new RMSprop([p], o);
    setGrad(p, GRADS[0]); opt.step();
    const state = opt.stateDict();
    expect([...state.tensors.keys()]).toEqual(['state.0.square_avg', 'state.0.momentum_buffer', 'state.0.grad_avg']);
    expect(state.hyper).toMatchObject({ lr: 0.05, alpha: 0.99, momentum: 0.9, centered: true, weight_decay: 0.01 });
    const q = Parameter.fromHost(await p.toArray(), [4], f64);
    const restored = new RMSprop([q], { ...o, lr: 1 });
    restored.loadStateDict(state);
    expect(restored.lr).toBe(0.05);
    setGrad(q, GRADS[0]);
    const before = memory(cpu);
    for (const g of GRADS.slice(1)) { setGrad(p, g); setGrad(q, g); opt.step(); restored.step(); }
    expect(Array.from(await q.toArray())).toEqual(Array.from(await p.toArray()));
    expect(memory(cpu)).toEqual(before);
    expect(() => restored.loadStateDict({ ...opt.stateDict(), type: 'SGD' })).toThrow(/RMSprop.loadStateDict: the state is of a SGD optimizer/);
    expect(() => new RMSprop([p], { alpha: -1 })).toThrow(/invalid alpha/);
    for (const x of [opt, restored]) { x.zeroGrad(); x.dispose(); }
    p.dispose(); q.dispose();
  });
});

describe('parameter groups', () => {
  it('each group steps with its own lr and weight decay, the others falling back to the defaults (SGD and Adam)', async () => {
    const a = Parameter.fromHost(W0, [4], f64), b = Parameter.fromHost(W0, [4], f64);
    const a1 = Parameter.fromHost(W0, [4], f64), b1 = Parameter.fromHost(W0, [4], f64);
    const grouped = new SGD([{ params: [a] }, { params: [b], lr: 0.5, weightDecay: 0.1 }], { lr: 0.1, momentum: 0.9 });
    const single = [new SGD([a1], { lr: 0.1, momentum: 0.9 }), new SGD([b1], { lr: 0.5, momentum: 0.9, weightDecay: 0.1 })];
    expect(grouped.params).toEqual([a, b]);
    expect(grouped.paramGroups.map((g) => [g.lr, g.weightDecay, g.momentum, g.initialLr])).toEqual([[0.1, 0, 0.9, 0.1], [0.5, 0.1, 0.9, 0.5]]);
    for (const g of GRADS) {
      for (const p of [a, b, a1, b1]) setGrad(p, g);
      grouped.step();
      for (const o of single) o.step();
    }
    expect(Array.from(await a.toArray())).toEqual(Array.from(await a1.toArray()));
    expect(Array.from(await b.toArray())).toEqual(Array.from(await b1.toArray()));

    const c = Parameter.fromHost(W0, [4], f64), c1 = Parameter.fromHost(W0, [4], f64), d = Parameter.fromHost(W0, [4], f64);
    const adam = new Adam([{ params: [c], betas: [0.5, 0.9] }, { params: [d] }], { lr: 0.01 });
    const adamSingle = new Adam([c1], { lr: 0.01, betas: [0.5, 0.9] });
    for (const g of GRADS) { setGrad(c, g); setGrad(c1, g); adam.step(); adamSingle.step(); }
    expect(Array.from(await c.toArray())).toEqual(Array.from(await c1.toArray()));
    expect(adam.stateDict().hyper).toMatchObject({ beta1: 0.5, beta2: 0.9, 'group.1.beta1': 0.9, 'group.1.beta2': 0.999 });
    for (const x of [grouped, ...single, adam, adamSingle]) { x.zeroGrad(); x.dispose(); }
    for (const p of [a, b, a1, b1, c, c1, d]) p.dispose();
  });

  it('lr = x sets every group; scaleLr(f) sets each group to f·initialLr (a schedule keeps the ratio)', () => {
    const a = Parameter.fromHost(W0, [4], f64), b = Parameter.fromHost(W0, [4], f64);
    const opt = new SGD([{ params: [a], lr: 0.01 }, { params: [b] }], { lr: 0.1 });
    expect(opt.lr).toBe(0.01);
    opt.scaleLr(stepLr(2600, { baseLr: 1, gamma: 0.1, stepSize: 2500 }));
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01 * 0.1, 0.1 * 0.1]);
    opt.lr = 0.3;
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.3, 0.3]);
    opt.dispose(); a.dispose(); b.dispose();
  });

  it('per-group hyperparameters survive the state dict; mismatches are named', () => {
    const a = Parameter.fromHost(W0, [4], f64), b = Parameter.fromHost(W0, [4], f64);
    const opt = new RMSprop([{ params: [a], momentum: 0.5 }, { params: [b], lr: 0.2, centered: true }]);
    const state = opt.stateDict();
    expect(state.hyper).toMatchObject({ lr: 0.01, momentum: 0.5, centered: false, 'group.1.lr': 0.2, 'group.1.momentum': 0, 'group.1.centered': true });
    const other = new RMSprop([{ params: [a] }, { params: [b] }]);
    other.loadStateDict(state);
    expect(other.paramGroups.map((g) => [g.lr, g.momentum, g.centered])).toEqual([[0.01, 0.5, false], [0.2, 0, true]]);
    const one = new RMSprop([a, b]);
    expect(() => one.loadStateDict(state)).toThrow(/'group.1.lr' names a group this optimizer lacks \(it has 1\)/);
    expect(() => new SGD([{ params: [a], momentun: 0.9 } as never], { lr: 0.1 })).toThrow(/parameter group 0 has an unknown option 'momentun'/);
    expect(() => new SGD([{ params: [a] }, { params: [a] }], { lr: 0.1 })).toThrow(/appears twice/);
    expect(() => new SGD([{ params: [a] }, { params: [b], lr: -1 }], { lr: 0.1 })).toThrow(/invalid learning rate -1 \(group 1\)/);
    for (const x of [opt, other, one]) x.dispose();
    a.dispose(); b.dispose();
  });
});
