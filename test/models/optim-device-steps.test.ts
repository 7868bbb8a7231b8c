import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import {
  Adam, AdamW, Linear, Parameter, RMSprop, loadTrainingCheckpoint, readSafetensors, saveTrainingCheckpoint, type Optimizer,
} from '../../src/models/index.js';
import { assign } from '../../src/autograd/ops.js';
import { fromArray, keep, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * Adam, AdamW and RMSprop's stepUnlessFoundInf: the step decided on the device from a found-inf flag, the step
 * counts kept there (steps += 1 − found_inf).
 */

const SIZES = [37, 5];

type Make = (params: Parameter[]) => Adam | RMSprop;
const optimizers: [string, Make][] = [
  ['Adam', (ps) => new Adam(ps, { lr: 1e-2, weightDecay: 1e-2 })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-2, betas: [0.8, 0.99] })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 1e-2, momentum: 0.9, centered: true, weightDecay: 1e-2 })],
];
const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

const bits = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(await t.toArray()).buffer));

/** the gradients of iteration t (a NaN in the second parameter's when `poisoned`) */
function setGrads(params: readonly Parameter[], t: number, poisoned = false): void {
  params.forEach((p, k) => {
    const g = randomArray(SIZES[k]!, 100 * t + k);
    if (poisoned && k === 1) g[2] = NaN;
    p.grad?.dispose();
    p.grad = keep(fromArray(g, [SIZES[k]!], { backend: p.backend }));
  });
}

const flag = (backend: Backend, value: number) => keep(fromArray([value], [1], { backend }));

/** the state's step counts (tensors once they live on the device, else scalars), read back */
async function stepCounts(opt: Optimizer): Promise<number[]> {
  const state = opt.stateDict();
  const counts = await Promise.all(SIZES.map(async (_, i) => {
    const t = state.tensors.get(`state.${i}.step`);
    return t ? (await t.toArray())[0]! : state.scalars[`state.${i}.step`]!;
  }));
  return counts;
}

/** every state tensor's and parameter's bits */
async function snapshot(opt: Optimizer): Promise<Map<string, number[]>> {
  const state = opt.stateDict(), out = new Map<string, number[]>();
  for (const [k, t] of state.tensors) out.set(k, await bits(t));
  for (const [k, p] of opt.params.entries()) out.set(`param ${k}`, await bits(p));
  return out;
}

describe.each(backends)('stepUnlessFoundInf on %s', (_name, get) => {
  it.each(optimizers)('%s: a skipped step leaves parameters, state and step counts as they were; the steps taken match step() without the skipped one', async (name, make) => {
    const backend = await get();
    const create = () => SIZES.map((n, k) => Parameter.fromHost(randomArray(n, 10 + k), [n], { backend }));
    const ours = create(), theirs = create();
    const optOurs = make(ours), optTheirs = make(theirs);
    const [clear, found] = [flag(backend, 0), flag(backend, 1)];
    // taken, skipped, taken, taken (theirs: three plain steps)
    for (const [t, skipped] of [false, true, false, false].entries()) {
      setGrads(ours, t, skipped);
      const before = skipped ? await snapshot(optOurs) : null;
      optOurs.stepUnlessFoundInf(skipped ? found : clear);
      if (before) {
        expect(await snapshot(optOurs)).toEqual(before);
        expect(await stepCounts(optOurs)).toEqual([1, 1]);
      } else {
        setGrads(theirs, t);
        optTheirs.step();
      }
    }
    expect(await stepCounts(optOurs)).toEqual([3, 3]);
    expect(await stepCounts(optTheirs)).toEqual([3, 3]);
    const a = await snapshot(optOurs), b = await snapshot(optTheirs);
    // theirs: the same state tensors as ours, except the step counts (host numbers)
    expect([...a.keys()].filter((k) => !k.endsWith('.step'))).toEqual([...b.keys()]);
    for (const [key, value] of b) {
      const ourValue = a.get(key)!;
      const floats = (v: number[]) => new Float32Array(Uint32Array.from(v).buffer);
      // RMSprop is the same tensor ops either way. Adam's bias corrections are float32 on the device (a few float32
      // roundings of the host's float64 ones), and so is its step size lr/(1 − β₁ᵗ): float32 rounding of the updates
      if (name === 'RMSprop') expect(ourValue, key).toEqual(value);
      else expectClose(floats(ourValue), floats(value), 1e-7, 1e-6, key);
    }
    for (const x of [optOurs, optTheirs, clear, found, ...ours, ...theirs]) x.dispose();
  });

  it.each(optimizers)('%s: the step counts, on the device once it stepped there, survive a state round trip; a host state brings them back to the host', async (_n, make) => {
    const backend = await get();
    const create = () => SIZES.map((n, k) => Parameter.fromHost(randomArray(n, 20 + k), [n], { backend }));
    const first = create(), second = create();
    const a = make(first), b = make(second);
    const clear = flag(backend, 0), found = flag(backend, 1);
    setGrads(first, 0);
    a.stepUnlessFoundInf(clear);
    setGrads(first, 1, true);
    a.stepUnlessFoundInf(found);
    const state = a.stateDict();
    expect(state.scalars).toEqual({});
    expect(state.tensors.get('state.0.step')!.shape).toEqual([]);
    b.loadStateDict(state);
    expect(await stepCounts(b)).toEqual([1, 1]);
    // both step on from the same parameters and state: the same result
    second.forEach((p, k) => assign(p, first[k]!));
    setGrads(first, 2);
    setGrads(second, 2);
    a.stepUnlessFoundInf(clear);
    b.stepUnlessFoundInf(clear);
    expect(await snapshot(b)).toEqual(await snapshot(a));
    expect(await stepCounts(b)).toEqual([2, 2]);
    // a plain step() after device steps counts on the device too
    setGrads(second, 3);
    b.step();
    expect(await stepCounts(b)).toEqual([3, 3]);
    // a state with host step counts puts them back on the host
    const fresh = make(create());
    b.loadStateDict(fresh.stateDict());
    expect(b.stateDict().tensors.has('state.0.step')).toBe(false);
    for (const x of [a, b, fresh, clear, found, ...first, ...second, ...fresh.params]) x.dispose();
  });
});

it('a training checkpoint keeps device step counts as float32 [] tensors (PyTorch\'s layout) and restores them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'voxgrad-device-steps-'));
  try {
    const model = new Linear(3, 2), other = new Linear(3, 2);
    const opt = new Adam(model.parameters(), { lr: 1e-2 }), restored = new Adam(other.parameters(), { lr: 1e-2 });
    const backend = model.parameters()[0]!.backend, clear = flag(backend, 0), found = flag(backend, 1);
    for (const f of [clear, found, clear]) {
      for (const p of model.parameters()) p.grad = keep(fromArray(randomArray(p.numel(), 5), p.shape, { backend }));
      opt.stepUnlessFoundInf(f);
      opt.zeroGrad();
    }
    const path = join(dir, 'train.safetensors');
    await saveTrainingCheckpoint(path, { model, optimizer: opt, iteration: 3 });
    const file = await readSafetensors(path);
    expect(file.tensors.get('optimizer.state.0.step')).toMatchObject({ shape: [], dtype: 'float32' });
    await loadTrainingCheckpoint(path, { model: other, optimizer: restored });
    const state = restored.stateDict();
    expect(await Promise.all([0, 1].map(async (i) => (await state.tensors.get(`state.${i}.step`)!.toArray())[0]))).toEqual([2, 2]);
    for (const x of [opt, restored, clear, found, model, other]) x.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
