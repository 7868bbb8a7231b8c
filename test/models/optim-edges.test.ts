import { describe, expect, it } from 'vitest';
import { CpuBackend, type Backend } from '../../src/kernels/index.js';
import {
  Adam, AdamW, Parameter, RMSprop, SGD, type Optimizer, type OptimizerState,
} from '../../src/models/index.js';
import { fromArray, keep, memory, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * The optimizers' edges (found by mutation testing, stryker.config.mjs): the checks of their arguments, gradients,
 * found-inf flags and loaded states, worded as they are; parameters without a gradient; gradients that are views;
 * device step counts when only some parameters step; and that dispose frees everything (a state dict holds nothing to free).
 */

const W0 = [1, -2, 3, 0.25];
const G = [[0.5, 0.1, -0.3, 2], [-0.2, 0.4, 0.1, -1], [0.3, -0.6, 0.05, 0.7]];
const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

const param = (backend: Backend = cpu, values = W0) => Parameter.fromHost(values, [values.length], { backend });

function setGrad(p: Parameter, g: readonly number[]): void {
  p.grad?.dispose();
  p.grad = keep(fromArray(g, p.shape, { backend: p.backend, dtype: p.dtype }));
}

const flag = (backend: Backend, value: number) => keep(fromArray([value], [1], { backend }));

/** live tensors and buffers (a WebGPU pool's buffers come and go) */
const live = (backend: Backend) => { const m = memory(backend); return [m.liveTensors, m.liveBuffers]; };

/** a state's step counts by parameter index: scalars, or [] tensors read back */
async function steps(opt: Optimizer): Promise<Record<string, number>> {
  const state = opt.stateDict(), out: Record<string, number> = { ...state.scalars };
  for (const [key, t] of state.tensors) if (key.endsWith('.step')) out[key] = (await t.toArray())[0]!;
  return out;
}

const emptyState = (type: OptimizerState['type'], entries: Partial<Omit<OptimizerState, 'type'>> = {}): OptimizerState =>
  ({ type, hyper: {}, tensors: new Map(), scalars: {}, ...entries });

describe('optimizer arguments', () => {
  it('invalid hyperparameters are refused by name and value; the group is named only when there are several', () => {
    const p = param(), q = param();
    const refused: [() => unknown, string][] = [
      [() => new SGD([p], { lr: -1 }), 'SGD: invalid learning rate -1'],
      [() => new SGD([p], { lr: 0.1, momentum: -0.5 }), 'SGD: invalid momentum -0.5'],
      [() => new SGD([p], { lr: 0.1, nesterov: true }), 'SGD: nesterov needs momentum > 0 and dampening 0'],
      [() => new SGD([p], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }), 'SGD: nesterov needs momentum > 0 and dampening 0'],
      [() => new SGD([{ params: [p] }, { params: [q], momentum: -1 }], { lr: 0.1 }), 'SGD: invalid momentum -1 (group 1)'],
      [() => new Adam([p], { lr: -1 }), 'Adam: invalid learning rate -1'],
      [() => new AdamW([{ params: [p] }, { params: [q], lr: -2 }]), 'AdamW: invalid learning rate -2 (group 1)'],
      [() => new Adam([p], { betas: [1, 0.9] }), 'Adam: invalid betas (1, 0.9)'],
      [() => new Adam([p], { betas: [-0.1, 0.9] }), 'Adam: invalid betas (-0.1, 0.9)'],
      [() => new Adam([p], { betas: [0.9, 1] }), 'Adam: invalid betas (0.9, 1)'],
      [() => new Adam([p], { betas: [0.9, -0.1] }), 'Adam: invalid betas (0.9, -0.1)'],
      [() => new Adam([{ params: [p] }, { params: [q], betas: [0.5, 1] }]), 'Adam: invalid betas (0.5, 1) (group 1)'],
      [() => new RMSprop([p], { lr: -1 }), 'RMSprop: invalid learning rate -1'],
      [() => new RMSprop([p], { alpha: -1 }), 'RMSprop: invalid alpha -1'],
      [() => new RMSprop([p], { eps: -1 }), 'RMSprop: invalid eps -1'],
      [() => new RMSprop([p], { momentum: -1 }), 'RMSprop: invalid momentum -1'],
      [() => new RMSprop([{ params: [p] }, { params: [q], eps: -1 }]), 'RMSprop: invalid eps -1 (group 1)'],
      [() => new SGD([], { lr: 0.1 }), 'SGD: got an empty parameter list'],
      [() => new Adam([]), 'Adam: got an empty parameter list'],
      [() => new SGD([{ params: [p], momentun: 0.9 } as never], { lr: 0.1 }),
        "SGD: parameter group 0 has an unknown option 'momentun'; valid: lr, momentum, dampening, nesterov, weightDecay, maximize"],
    ];
    for (const [make, message] of refused) expect(make).toThrow(new RegExp(`^${message.replace(/[()[\]]/g, '\\$&')}$`));
    // the bounds themselves are valid (PyTorch's checks are 0 <= value)
    for (const make of [
      () => new SGD([p], { lr: 0, momentum: 0 }), () => new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true }),
      () => new Adam([p], { lr: 0, betas: [0, 0] }), () => new RMSprop([p], { lr: 0, alpha: 0, eps: 0, momentum: 0 }),
    ]) make().dispose();
    p.dispose(); q.dispose();
  });

  it('parameters and groups cannot be mixed; a parameter must own a dense storage', () => {
    const p = param(), q = param(), big = fromArray([...W0, ...W0], [8], { backend: cpu });
    for (const list of [[p, { params: [q] }], [{ params: [q] }, p]]) {
      expect(() => new SGD(list as never, { lr: 0.1 })).toThrow(/^SGD: give either parameters or parameter groups \(\{ params, … \}\), not both$/);
    }
    const strided = big.viewAs([4], [2], 0);
    expect(() => new SGD([strided as Parameter], { lr: 0.1 })).toThrow(/^SGD: [\s\S]* does not own a contiguous storage of its size \(use Parameter\)$/);
    for (const x of [p, q, big, strided]) x.dispose();
  });

  it('defaults are PyTorch\'s; the state dict names each hyperparameter as PyTorch does', () => {
    const p = param();
    const sgd = new SGD([p], { lr: 0.1 }), adam = new Adam([p]), adamW = new AdamW([p]), rms = new RMSprop([p]);
    expect(adam.paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    expect(adamW.paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    expect(new AdamW([p], { weightDecay: 0 }).paramGroups[0]!.weightDecay).toBe(0);
    const hyper = (o: Optimizer) => o.stateDict().hyper;
    expect(hyper(sgd)).toEqual({ lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weight_decay: 0, maximize: false });
    expect(hyper(adam)).toEqual({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, maximize: false, amsgrad: false });
    expect(hyper(new Adam([{ params: [p] }, { params: [param()], betas: [0.5, 0.6] }]))).toEqual({
      lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, maximize: false, amsgrad: false,
      'group.1.lr': 1e-3, 'group.1.beta1': 0.5, 'group.1.beta2': 0.6, 'group.1.eps': 1e-8, 'group.1.weight_decay': 0, 'group.1.maximize': false,
      'group.1.amsgrad': false,
    });
    expect(hyper(rms)).toEqual({ lr: 0.01, alpha: 0.99, eps: 1e-8, weight_decay: 0, momentum: 0, centered: false, maximize: false });
    p.dispose();
  });

  it('a gradient of another shape, dtype or backend is refused, naming the parameter', () => {
    const other = new CpuBackend();
    for (const make of [(ps: Parameter[]) => new SGD(ps, { lr: 0.1 }), (ps: Parameter[]) => new Adam(ps)]) {
      const a = param(), b = param();
      const opt = make([a, b]);
      setGrad(a, G[0]!);
      for (const [grad, message] of [
        [fromArray([1, 2, 3], [3], { backend: cpu }), 'optimizer: parameter 1 [4] float32 has a gradient [3] float32 on cpu'],
        [fromArray(W0, [4], { backend: cpu, dtype: 'float64' }), 'optimizer: parameter 1 [4] float32 has a gradient [4] float64 on cpu'],
        [fromArray(W0, [4], { backend: other }), 'optimizer: parameter 1 [4] float32 has a gradient [4] float32 on cpu'],
      ] as const) {
        b.grad?.dispose();
        b.grad = keep(grad);
        expect(() => opt.step()).toThrow(message);
      }
      opt.zeroGrad(); opt.dispose(); a.dispose(); b.dispose();
    }
  });
});

describe.each(backends)('optimizers on %s', (_name, get) => {
  it('a gradient that is a strided view steps as its dense copy, and the copy is freed', async () => {
    const backend = await get();
    for (const make of [
      (ps: Parameter[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps: Parameter[]) => new Adam(ps, { lr: 0.1 }),
      (ps: Parameter[]) => new RMSprop(ps, { lr: 0.1 }),
    ]) {
      const a = param(backend), b = param(backend);
      const optA = make([a]), optB = make([b]);
      for (const g of G) {
        const doubled = fromArray(g.flatMap((v) => [v, 99]), [8], { backend });
        a.grad?.dispose();
        a.grad = keep(doubled.viewAs([4], [2], 0));
        doubled.dispose();
        setGrad(b, g);
        const before = live(backend);
        optA.step();
        optB.step();
        if (g !== G[0]) expect(live(backend)).toEqual(before);
      }
      expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
      for (const x of [optA, optB]) { x.zeroGrad(); x.dispose(); }
      a.dispose(); b.dispose();
    }
  });

  it('the found-inf flag must be one dense element on the parameters\' backend', async () => {
    const backend = await get(), other = new CpuBackend();
    const two = keep(fromArray([0, 0], [2], { backend }));
    const offset = keep(two.viewAs([1], [1], 1));
    const elsewhere = keep(fromArray([0], [1], { backend: other }));
    for (const make of [
      (ps: Parameter[]) => new SGD(ps, { lr: 0.1 }), (ps: Parameter[]) => new Adam(ps), (ps: Parameter[]) => new AdamW(ps), (ps: Parameter[]) => new RMSprop(ps),
    ]) {
      const a = param(backend);
      const opt = make([a]);
      const who = `${opt.stateDict().type}.stepUnlessFoundInf`;
      setGrad(a, G[0]!);
      expect(() => opt.stepUnlessFoundInf!(two)).toThrow(`${who}: the found-inf flag must be a dense one-element tensor`);
      expect(() => opt.stepUnlessFoundInf!(offset)).toThrow(`${who}: the found-inf flag must be a dense one-element tensor`);
      expect(() => opt.stepUnlessFoundInf!(elsewhere)).toThrow(`${who}: parameter 0 is on the ${backend.name} backend, the found-inf flag on cpu`);
      expect(Array.from(await a.toArray())).toEqual(W0);
      opt.zeroGrad(); opt.dispose(); a.dispose();
    }
    for (const x of [offset, two, elsewhere]) x.dispose();
  });

  it.each([
    ['Adam', (ps: Parameter[]) => new Adam(ps, { lr: 0.01 })],
    ['RMSprop', (ps: Parameter[]) => new RMSprop(ps, { lr: 0.01, momentum: 0.5 })],
  ] as const)('%s: device step counts advance only for the parameters that step; a parameter without state has none', async (_n, make) => {
    const backend = await get();
    const ours = [param(backend), param(backend)], theirs = [param(backend), param(backend)];
    const optOurs = make(ours), optTheirs = make(theirs);
    const clear = flag(backend, 0), found = flag(backend, 1);
    // which parameters have a gradient at each step, and whether it is skipped
    const plan: [boolean, boolean, boolean][] = [[true, false, false], [true, true, false], [true, false, true], [false, true, false]];
    for (const [k, [a, b, skipped]] of plan.entries()) {
      for (const [params, opt] of [[ours, optOurs], [theirs, optTheirs]] as const) {
        params.forEach((p, i) => { if ([a, b][i]) setGrad(p, G[(k + i) % 3]!); });
        if (opt === optOurs) opt.stepUnlessFoundInf!(skipped ? found : clear);
        else if (!skipped) opt.step();
        opt.zeroGrad();
      }
      if (k === 0) expect(await steps(optOurs)).toEqual({ 'state.0.step': 1 });
    }
    expect(await steps(optOurs)).toEqual({ 'state.0.step': 2, 'state.1.step': 2 });
    expect(await steps(optTheirs)).toEqual({ 'state.0.step': 2, 'state.1.step': 2 });
    for (const [i, p] of ours.entries()) expectClose(await p.toArray(), await theirs[i]!.toArray(), 1e-7, 1e-6, `parameter ${i}`);
    for (const x of [optOurs, optTheirs, clear, found, ...ours, ...theirs]) x.dispose();
  });

  it.each([
    ['Adam', (ps: Parameter[]) => new Adam(ps, { lr: 0.01 })],
    ['RMSprop', (ps: Parameter[]) => new RMSprop(ps, { lr: 0.01, centered: true })],
  ] as const)('%s: a device state whose first parameter never stepped loads, continues identically and leaves nothing behind; a bad step count is refused', async (_n, make) => {
    const backend = await get();
    const a = [param(backend), param(backend)];
    const optA = make(a), clear = flag(backend, 0);
    setGrad(a[1]!, G[0]!);
    optA.stepUnlessFoundInf!(clear);
    const state = optA.stateDict();
    expect([...state.tensors.keys()].filter((k) => k.startsWith('state.0.'))).toEqual([]);
    const b = await Promise.all(a.map(async (p) => param(backend, Array.from(await p.toArray()))));
    const optB = make(b);
    optB.loadStateDict(state);
    const loaded = live(backend);
    optB.loadStateDict(state);
    expect(live(backend)).toEqual(loaded);
    expect(await steps(optB)).toEqual({ 'state.1.step': 1 });
    for (const [params, opt] of [[a, optA], [b, optB]] as const) {
      params.forEach((p, i) => setGrad(p, G[i + 1]!));
      opt.stepUnlessFoundInf!(clear);
    }
    expect(await steps(optB)).toEqual({ 'state.0.step': 1, 'state.1.step': 2 });
    for (const [i, p] of a.entries()) expect(Array.from(await b[i]!.toArray()), `parameter ${i}`).toEqual(Array.from(await p.toArray()));
    // a step count of the wrong shape: refused, naming the entry, with nothing left behind
    const badStep = keep(fromArray([1, 2], [2], { backend }));
    const bad: OptimizerState = { ...state, tensors: new Map([...state.tensors, ['state.1.step', badStep]]) };
    optB.loadStateDict(state);
    const before = live(backend);
    expect(() => optB.loadStateDict(bad)).toThrow('optimizer state state.1.step: shape [2], parameter []');
    expect(live(backend)).toEqual(before);
    for (const x of [optA, optB, clear, badStep, ...a, ...b]) x.dispose();
  });

  it('Adam: step() after device steps leaves nothing behind', async () => {
    const backend = await get();
    const p = param(backend), opt = new Adam([p]), clear = flag(backend, 0);
    setGrad(p, G[0]!);
    opt.stepUnlessFoundInf(clear);
    opt.step();
    const before = live(backend);
    for (let i = 0; i < 5; i++) opt.step();
    expect(live(backend)).toEqual(before);
    for (const x of [opt, clear, p]) x.dispose();
  });

  it('dispose frees every state tensor and device count; a state dict taken and never freed leaks nothing; a disposed optimizer starts again (state and step counts)', async () => {
    const backend = await get();
    const clear = flag(backend, 0);
    for (const make of [
      (ps: Parameter[]) => new SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.3 }), (ps: Parameter[]) => new Adam(ps),
      (ps: Parameter[]) => new RMSprop(ps, { momentum: 0.9, centered: true }),
    ]) {
      const a = param(backend), opt = make([a]);
      setGrad(a, G[0]!);
      const before = live(backend);
      opt.step();
      if (!(opt instanceof SGD)) opt.stepUnlessFoundInf!(clear);
      opt.stateDict(); // borrowed views: nothing to free
      opt.dispose();
      expect(live(backend)).toEqual(before);
      const c = param(backend, Array.from(await a.toArray())), restart = make([c]);
      setGrad(a, G[1]!); setGrad(c, G[1]!);
      opt.step(); restart.step();
      expect(Array.from(await a.toArray()), opt.constructor.name).toEqual(Array.from(await c.toArray()));
      expect(await steps(opt), opt.constructor.name).toEqual(await steps(restart));
      restart.zeroGrad(); restart.dispose(); c.dispose();
      opt.zeroGrad(); opt.dispose(); a.dispose();
    }
    clear.dispose();
  });
});

describe('SGD.stepUnlessFoundInf with dampening', () => {
  it('refuses only a first momentum step of a parameter that has a gradient, naming it', () => {
    const a = param(), b = param();
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9, dampening: 0.1 }), clear = flag(cpu, 0);
    setGrad(b, G[0]!);
    expect(() => opt.stepUnlessFoundInf(clear)).toThrow(/^SGD.stepUnlessFoundInf: parameter 1's first momentum step with dampening 0.1 cannot be skipped on the device/);
    opt.step();
    // b has its buffer now, a has no gradient: allowed
    opt.stepUnlessFoundInf(clear);
    const noMomentum = new SGD([a], { lr: 0.1, dampening: 0.1 });
    setGrad(a, G[0]!);
    noMomentum.stepUnlessFoundInf(clear);
    for (const x of [opt, noMomentum]) { x.zeroGrad(); x.dispose(); }
    for (const x of [a, b, clear]) x.dispose();
  });

  it('without dampening a first momentum step is allowed, and steps as step() does (buf = d)', async () => {
    const a = param(), b = param(), clear = flag(cpu, 0);
    const ours = new SGD([a], { lr: 0.1, momentum: 0.9 }), theirs = new SGD([b], { lr: 0.1, momentum: 0.9 });
    for (const g of G) {
      setGrad(a, g); setGrad(b, g);
      ours.stepUnlessFoundInf(clear);
      theirs.step();
    }
    expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
    for (const x of [ours, theirs]) { x.zeroGrad(); x.dispose(); }
    for (const x of [a, b, clear]) x.dispose();
  });
});

describe('state dicts', () => {
  it('entries are named by parameters that have them: no buffer without momentum or a gradient, no step count before a step', () => {
    const a = param(), b = param();
    const sgd = new SGD([a, b], { lr: 0.1 }), momentum = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    const rms = new RMSprop([a, b], { lr: 0.1 });
    setGrad(a, G[0]!);
    for (const o of [sgd, momentum, rms]) o.step();
    const entries = (o: Optimizer) => {
      const s = o.stateDict();
      return [[...s.tensors.keys()], s.scalars];
    };
    expect(entries(sgd)).toEqual([[], { 'state.0.step': 1 }]);
    expect(entries(momentum)).toEqual([['state.0.momentum_buffer'], { 'state.0.step': 1 }]);
    expect(entries(rms)).toEqual([['state.0.square_avg'], { 'state.0.step': 1 }]);
    // loaded: the same entries back
    const again = new SGD([a, b], { lr: 0.1, momentum: 0.9 }), state = momentum.stateDict();
    again.loadStateDict(state);
    expect(entries(again)).toEqual([['state.0.momentum_buffer'], { 'state.0.step': 1 }]);
    for (const o of [sgd, momentum, rms, again]) { o.zeroGrad(); o.dispose(); }
    a.dispose(); b.dispose();
  });

  it('unexpected entries are refused; hyperparameters missing or of another type keep their values; unrelated keys are ignored', () => {
    const params = Array.from({ length: 11 }, () => param());
    const one = new SGD([params[0]!], { lr: 0.1, momentum: 0.9 });
    for (const key of ['state.1.step', 'state.0.bogus', 'xstate.0.step', 'state.0.step.x', 'state.0']) {
      expect(() => one.loadStateDict(emptyState('SGD', { scalars: { [key]: 1 } })))
        .toThrow(`SGD.loadStateDict: unexpected state entry '${key}' for 1 parameters`);
    }
    expect(() => one.loadStateDict(emptyState('SGD', { hyper: { 'group.10.lr': 0.5 } })))
      .toThrow("SGD.loadStateDict: hyperparameter 'group.10.lr' names a group this optimizer lacks (it has 1)");
    one.loadStateDict(emptyState('SGD', { hyper: { momentum: true, 'xgroup.3.lr': 5, nesterov: 1 } }));
    expect(one.paramGroups[0]).toMatchObject({ lr: 0.1, momentum: 0.9, nesterov: false });
    // eleven parameters in eleven groups: two-digit indices
    const many = new SGD(params.map((p) => ({ params: [p] })), { lr: 0.1 });
    many.loadStateDict(emptyState('SGD', { hyper: { 'group.10.lr': 0.5 }, scalars: { 'state.10.step': 3 } }));
    expect(many.paramGroups[10]!.lr).toBe(0.5);
    expect(many.stateDict().scalars).toEqual({ 'state.10.step': 3 });
    for (const o of [one, many]) o.dispose();
    for (const p of params) p.dispose();
  });

  it('Adam: betas load per group from beta1/beta2 and stay when the state lacks them; exp_avg without exp_avg_sq is refused', () => {
    const a = param(), b = param();
    const source = new Adam([{ params: [a], betas: [0.5, 0.6] }, { params: [b], betas: [0.7, 0.8] }]);
    const target = new Adam([{ params: [a] }, { params: [b] }]);
    const state = source.stateDict();
    target.loadStateDict(state);
    expect(target.paramGroups.map((g) => g.betas)).toEqual([[0.5, 0.6], [0.7, 0.8]]);
    target.loadStateDict(emptyState('Adam'));
    expect(target.paramGroups.map((g) => g.betas)).toEqual([[0.5, 0.6], [0.7, 0.8]]);
    setGrad(a, G[0]!);
    source.step();
    const stepped = source.stateDict();
    const m = stepped.tensors.get('state.0.exp_avg')!;
    expect(() => target.loadStateDict(emptyState('Adam', { tensors: new Map([['state.0.exp_avg', m]]) })))
      .toThrow(/^Adam.loadStateDict: parameter 0 has only one of exp_avg and exp_avg_sq$/);
    for (const o of [source, target]) { o.zeroGrad(); o.dispose(); }
    a.dispose(); b.dispose();
  });

  it('a state tensor of another shape or backend is refused, naming it; of another dtype it is cast', async () => {
    const other = new CpuBackend();
    const p = param(), opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const load = (buffer: Tensor) => opt.loadStateDict(emptyState('SGD', { tensors: new Map([['state.0.momentum_buffer', buffer]]) }));
    const short = fromArray([1, 2, 3], [3], { backend: cpu }), elsewhere = fromArray(W0, [4], { backend: other });
    expect(() => load(short)).toThrow(/^optimizer state state.0.momentum_buffer: shape \[3\], parameter \[4\]$/);
    expect(() => load(elsewhere)).toThrow(/^optimizer state state.0.momentum_buffer: on the cpu backend, the parameter on cpu$/);
    // a float64 buffer (a float64 model's state): cast to the parameter's float32, the update as from its float32 copy
    const buffer = [0.1 + 1e-12, -0.2, 1 / 3, 5];
    const wide = fromArray(buffer, [4], { backend: cpu, dtype: 'float64' });
    load(wide);
    setGrad(p, G[0]!);
    opt.step();
    const want = W0.map((w, i) => w - 0.1 * (0.9 * buffer[i]! + G[0]![i]!));
    expectClose(await p.toArray(), want, 1e-6, 1e-6, 'parameter');
    const state = opt.stateDict();
    expect(state.tensors.get('state.0.momentum_buffer')!.dtype).toBe('float32');
    opt.zeroGrad(); opt.dispose(); p.dispose(); short.dispose(); elsewhere.dispose(); wide.dispose();
  });
});
