import { describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import {
  Adam, AdamW, Linear, Parameter, SGD, clipGradNorm, ema, emaDecay, type Optimizer,
} from '../../src/models/index.js';
import { dispose, fromArray, keep, memory } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

const W0 = [1, -2, 3, 0.25];
const G1 = [0.5, 0.1, -0.3, 2];
const G2 = [-0.2, 0.4, 0.1, -1];

function setGrad(p: Parameter, g: number[]): void {
  p.grad?.dispose();
  p.grad = keep(fromArray(g, [g.length], { backend: p.backend }));
}

/** PyTorch's SGD in float64 (torch/optim/sgd.py, _single_tensor_sgd). */
function sgdReference(grads: number[][], o: { lr: number; momentum: number; dampening: number; nesterov: boolean; wd: number }): number[] {
  const w = [...W0];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + o.wd * w[i]);
    let step = d;
    if (o.momentum !== 0) {
      buf = buf === null ? [...d] : buf.map((b, i) => o.momentum * b + (1 - o.dampening) * d[i]);
      step = o.nesterov ? d.map((di, i) => di + o.momentum * buf![i]) : buf;
    }
    for (let i = 0; i < w.length; i++) w[i] -= o.lr * step[i];
  }
  return w;
}

/** PyTorch's Adam / AdamW in float64 (torch/optim/adam.py, _single_tensor_adam, amsgrad off). */
function adamReference(grads: number[][], o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean }): number[] {
  const w = [...W0];
  const m = w.map(() => 0), v = w.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < w.length; i++) {
      let d = g[i];
      if (o.decoupled) w[i] *= 1 - o.lr * o.wd; else d += o.wd * w[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * d;
      v[i] = o.b2 * v[i] + (1 - o.b2) * d * d;
      const stepSize = o.lr / (1 - o.b1 ** t);
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      w[i] -= stepSize * m[i] / denom;
    }
  });
  return w;
}

async function runSteps(backend: Backend, make: (p: Parameter) => Optimizer): Promise<number[]> {
  const p = Parameter.fromHost(W0, [4], { backend });
  const opt = make(p);
  for (const g of [G1, G2]) {
    setGrad(p, g);
    opt.step();
  }
  const w = Array.from(await p.toArray());
  opt.zeroGrad();
  opt.dispose();
  p.dispose();
  return w;
}

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

describe.each(backends)('optimizers on %s: two steps against PyTorch\'s formulas', (_name, get) => {
  const sgdCases = [
    { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, wd: 0 },
    { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, wd: 1e-2 },
    { lr: 0.05, momentum: 0.9, dampening: 0.3, nesterov: false, wd: 0 },
    { lr: 0.1, momentum: 0.8, dampening: 0, nesterov: true, wd: 1e-3 },
  ];
  it.each(sgdCases)('SGD %o', async (o) => {
    const backend = await get();
    const got = await runSteps(backend, (p) => new SGD([p], { lr: o.lr, momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.wd }));
    expectClose(got, sgdReference([G1, G2], o), 1e-6, 1e-6, 'SGD');
  });

  const adamCases = [
    { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, decoupled: false },
    { lr: 1e-2, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.05, decoupled: false },
    { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, decoupled: true },
  ];
  it.each(adamCases)('Adam/AdamW %o', async (o) => {
    const backend = await get();
    const got = await runSteps(backend, (p) => {
      const opts = { lr: o.lr, betas: [o.b1, o.b2] as [number, number], eps: o.eps, weightDecay: o.wd };
      return o.decoupled ? new AdamW([p], opts) : new Adam([p], opts);
    });
    expectClose(got, adamReference([G1, G2], o), 1e-6, 1e-5, o.decoupled ? 'AdamW' : 'Adam');
  });

  it('an SGD or Adam step is one fused kernel call per group; a parameter without gradient is skipped', async () => {
    const backend = await get();
    const a = Parameter.fromHost(W0, [4], { backend }), b = Parameter.fromHost(W0, [2, 2], { backend }), c = Parameter.fromHost([1], [1], { backend });
    setGrad(a, G1);
    b.grad = keep(fromArray(G2, [2, 2], { backend }));
    const opt = new SGD([a, b, c], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const steps = vi.spyOn(backend, 'sgdSteps');
    const spies = (['sgdStep', 'unary', 'binary', 'copy', 'reduce'] as const).map((k) => vi.spyOn(backend, k));
    opt.step();
    expect(steps.mock.calls.map(([items]) => items.length)).toEqual([2]);
    expect(spies.map((s) => s.mock.calls.length)).toEqual([0, 0, 0, 0, 0]);
    for (const s of [steps, ...spies]) s.mockRestore();
    expect(Array.from(await c.toArray())).toEqual([1]);
    const adam = new Adam([a, b, c]);
    const adamSteps = vi.spyOn(backend, 'adamSteps');
    adam.step();
    expect(adamSteps.mock.calls.map(([items]) => items.map((it) => it.step))).toEqual([[1, 1]]);
    adamSteps.mockRestore();
    expect(Array.from(await c.toArray())).toEqual([1]);
    opt.zeroGrad();
    for (const x of [opt, adam, a, b, c]) x.dispose();
  });

  it('Adam/AdamW: parameters at different step counts in one step each match their own optimizer bit for bit', async () => {
    const backend = await get();
    for (const make of [(ps: Parameter[]) => new Adam(ps, { lr: 0.01, weightDecay: 0.1 }), (ps: Parameter[]) => new AdamW(ps, { lr: 0.01 })]) {
      const [a, b, a1, b1] = [0, 1, 0, 1].map((k) => Parameter.fromHost(randomArray(300, k + 1), [300], { backend }));
      const both = make([a, b]), onlyA = make([a1]), onlyB = make([b1]);
      // b has no gradient on the first step: on the next ones, it is a step behind a
      for (const [k, g] of [G1, G2, G1].entries()) {
        const grad = Array.from({ length: 300 }, (_, i) => g[i % 4] * (1 + i / 300));
        setGrad(a, grad); setGrad(a1, grad);
        if (k > 0) { setGrad(b, grad); setGrad(b1, grad); }
        both.step(); onlyA.step();
        if (k > 0) onlyB.step();
      }
      const state = both.stateDict();
      expect(state.scalars).toEqual({ 'state.0.step': 3, 'state.1.step': 2 });
      expect(Array.from(await a.toArray())).toEqual(Array.from(await a1.toArray()));
      expect(Array.from(await b.toArray())).toEqual(Array.from(await b1.toArray()));
      for (const x of [both, onlyA, onlyB]) { x.zeroGrad(); x.dispose(); }
      dispose([a, b, a1, b1]);
    }
  });

  it('optimizer state round trip: a restored optimizer continues identically', async () => {
    const backend = await get();
    for (const make of [
      (p: Parameter) => new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 }),
      (p: Parameter) => new Adam([p], { lr: 0.01, weightDecay: 0.1 }),
      (p: Parameter) => new AdamW([p], { lr: 0.01 }),
    ]) {
      const p = Parameter.fromHost(W0, [4], { backend });
      const opt = make(p);
      setGrad(p, G1);
      opt.step();
      const state = opt.stateDict();
      expect(state.scalars['state.0.step']).toBe(1);
      const names = [...state.tensors.keys()];
      expect(names).toEqual(state.type === 'SGD' ? ['state.0.momentum_buffer'] : ['state.0.exp_avg', 'state.0.exp_avg_sq']);
      // a fresh optimizer over a copy of the parameter, loaded with the state
      const q = Parameter.fromHost(await p.toArray(), [4], { backend });
      const restored = make(q);
      restored.lr = 123; // overwritten by the state's hyperparameters
      restored.loadStateDict(state);
      expect(restored.lr).toBe(opt.lr);
      setGrad(p, G2); setGrad(q, G2);
      opt.step(); restored.step();
      expect(Array.from(await q.toArray())).toEqual(Array.from(await p.toArray()));
      expect(() => restored.loadStateDict({ ...opt.stateDict(), type: state.type === 'SGD' ? 'Adam' : 'SGD' })).toThrow(/state is of a/);
      opt.zeroGrad(); restored.zeroGrad();
      for (const x of [opt, restored, p, q]) x.dispose();
    }
  });

  it('clipGradNorm scales by maxNorm/(‖g‖ + 1e-6) and returns the total norm', async () => {
    const backend = await get();
    const a = Parameter.fromHost([0, 0, 0], [3], { backend }), b = Parameter.fromHost([0, 0], [2], { backend });
    setGrad(a, [3, 0, 0]); setGrad(b, [0, 4]);
    const norm = await clipGradNorm([a, b], 1);
    expect(norm).toBeCloseTo(5, 5);
    const s = 1 / (5 + 1e-6);
    expectClose(await a.grad!.toArray(), [3 * s, 0, 0], 1e-6, 1e-6);
    expectClose(await b.grad!.toArray(), [0, 4 * s], 1e-6, 1e-6);
    // below the threshold: unchanged
    expect(await clipGradNorm([a, b], 10)).toBeCloseTo(1, 5);
    expectClose(await b.grad!.toArray(), [0, 4 * s], 1e-6, 1e-6);
    dispose([a, b]);
  });

  it('ema: teacher ← decay·teacher + (1 − decay)·student, one fused call for all parameters', async () => {
    const backend = await get();
    const t = new Linear(2, 2, { seed: 1, backend }), s = new Linear(2, 2, { seed: 2, backend });
    const tw = await t.weight.toArray(), sw = await s.weight.toArray();
    const spy = vi.spyOn(backend, 'sgdSteps');
    ema(t, s, 0.99);
    expect(spy.mock.calls.map(([items]) => items.length)).toEqual([2]);
    spy.mockRestore();
    expectClose(await t.weight.toArray(), Array.from(tw, (v, i) => 0.99 * v + 0.01 * sw[i]), 1e-6, 1e-6);
    expect(emaDecay(0)).toBe(0);
    expect(emaDecay(9)).toBeCloseTo(0.9, 12);
    expect(emaDecay(10_000)).toBe(0.99);
    const other = new Linear(3, 2, { seed: 3, backend });
    expect(() => ema(t, other, 0.9)).toThrow(/weight/);
    for (const m of [t, s, other]) m.dispose();
  });

  it('memory stays flat over many optimizer steps', async () => {
    const backend = await get();
    const p = Parameter.fromHost(W0, [4], { backend });
    const opt = new Adam([p]);
    setGrad(p, G1); opt.step();
    const before = memory(backend);
    for (let i = 0; i < 20; i++) { setGrad(p, G2); opt.step(); }
    const after = memory(backend);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveTensors).toBe(before.liveTensors);
    opt.zeroGrad(); opt.dispose(); p.dispose();
  });
});

describe.each(backends)('sgdSteps on %s', (_name, get) => {
  it('updates many parameters, some without a momentum buffer and some on their first step, bit for bit as sgdStep each', async () => {
    const backend = await get();
    const sizes = [1, 700, 3, 256, 257, 64, 5, 1000, 2, 31, 0, 129, 17, 300];
    for (const hyper of [
      { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 1e-2 },
      { lr: 0.1, momentum: 0.5, dampening: 0.1, nesterov: false, weightDecay: 0 },
      { lr: 0.2, momentum: 0, dampening: 0, nesterov: false, weightDecay: 1e-3 },
    ]) {
      const made = sizes.map((n, k) => {
        const make = (seed: number) => () => backend.upload(randomArray(n, seed), 'float32');
        const [w, g, b] = [make(10 * k + 1), make(10 * k + 2), make(10 * k + 3)];
        return { one: { w: w(), g: g(), b: k % 4 === 3 ? null : b() }, many: { w: w(), g: g(), b: k % 4 === 3 ? null : b() } };
      });
      for (let step = 0; step < 2; step++) {
        const firstStep = (k: number) => step === 0 && k % 2 === 0;
        made.forEach(({ one }, k) => backend.sgdStep(one.w, one.g, one.b, { ...hyper, firstStep: firstStep(k) }));
        backend.sgdSteps(made.map(({ many }, k) => ({ param: many.w, grad: many.g, momentumBuffer: many.b, firstStep: firstStep(k) })), hyper);
      }
      for (const { one, many } of made) {
        expect(Array.from(await backend.read(many.w))).toEqual(Array.from(await backend.read(one.w)));
        if (one.b && many.b) expect(Array.from(await backend.read(many.b))).toEqual(Array.from(await backend.read(one.b)));
        for (const s of [...Object.values(one), ...Object.values(many)]) if (s) backend.free(s);
      }
    }
  });
});
