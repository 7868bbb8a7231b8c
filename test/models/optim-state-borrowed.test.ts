import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import {
  Adam, AdamW, Linear, RMSprop, SGD, Sequential, loadTrainingCheckpoint, saveTrainingCheckpoint, type Optimizer, type Parameter,
} from '../../src/models/index.js';
import { fromArray, keep, memory } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

/**
 * optimizer.stateDict() hands out borrowed views, as Module.stateDict() does: taking one (on the host or device step
 * counts) leaves no live tensor or buffer behind, a view reads the optimizer's current state, and one used after the
 * optimizer is disposed is an error that says so. Saved and loaded through a training checkpoint, the optimizer
 * continues bit for bit, and neither the save nor the load leaves anything behind.
 */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-optim-borrowed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const live = (backend: Backend) => { const m = memory(backend); return [m.liveTensors, m.liveBuffers]; };

const makers: [string, (ps: Parameter[]) => Optimizer][] = [
  ['SGD', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 })],
  ['Adam', (ps) => new Adam(ps, { lr: 0.01 })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 0.01 })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true })],
];

function setGrads(opt: Optimizer, step: number): void {
  opt.params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = keep(fromArray(Float32Array.from({ length: p.numel() }, (_, j) => Math.sin(step * 13 + i * 7 + j)), p.shape, { backend: p.backend }));
  });
}

/** steps on the host, or decided on the device (step counts there) */
function train(opt: Optimizer, from: number, n: number, onDevice: boolean): void {
  for (let s = from; s < from + n; s++) {
    setGrads(opt, s);
    if (onDevice) {
      const clear = keep(fromArray([0], [1], { backend: opt.params[0]!.backend }));
      opt.stepUnlessFoundInf!(clear);
      clear.dispose();
    } else opt.step();
  }
  opt.zeroGrad();
}

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('optimizer state dicts on %s', (_name, get) => {
  it.each(makers.flatMap(([n, make]) => [[n, false, make], [n, true, make]] as const))(
    '%s (device steps: %s): stateDict() leaves nothing to free; its views follow the optimizer and end with it',
    async (n, onDevice, make) => {
      const backend = await get();
      const model = new Sequential(new Linear(3, 2, { seed: 1, backend }));
      const opt = make(model.parameters());
      train(opt, 0, 2, onDevice);
      const before = live(backend);
      for (let i = 0; i < 3; i++) opt.stateDict();
      expect(live(backend)).toEqual(before);
      const state = opt.stateDict();
      expect(state.tensors.size).toBeGreaterThan(0);
      // SGD counts its steps on the host either way
      if (onDevice && n !== 'SGD') expect([...state.tensors.keys()]).toContain('state.0.step');
      const key = [...state.tensors.keys()].find((k) => !k.endsWith('.step'))!;
      const first = Array.from(await state.tensors.get(key)!.toArray());
      train(opt, 2, 1, onDevice);
      const now = opt.stateDict().tensors.get(key)!;
      expect(Array.from(await state.tensors.get(key)!.toArray())).toEqual(Array.from(await now.toArray()));
      expect(Array.from(await now.toArray())).not.toEqual(first);
      opt.dispose();
      expect(() => state.tensors.get(key)!.storage).toThrow(/borrowed view/);
      model.dispose();
    });

  it.each(makers.flatMap(([n, make]) => [[n, false, make], [n, true, make]] as const))(
    '%s (device steps: %s): saved and loaded, continues bit for bit; neither leaves anything behind',
    async (n, onDevice, make) => {
      const backend = await get();
      const path = join(dir, `${n}-${onDevice}-${_name}.safetensors`);
      const source = new Sequential(new Linear(3, 2, { seed: 1, backend }));
      const target = new Sequential(new Linear(3, 2, { seed: 2, backend }));
      const [optSource, optTarget] = [make(source.parameters()), make(target.parameters())];
      train(optSource, 0, 3, onDevice);
      const beforeSave = live(backend);
      await saveTrainingCheckpoint(path, { model: source, optimizer: optSource, iteration: 3 });
      expect(live(backend)).toEqual(beforeSave);
      train(optTarget, 0, 1, onDevice);
      const beforeLoad = live(backend);
      await loadTrainingCheckpoint(path, { model: target, optimizer: optTarget });
      expect(live(backend)).toEqual(beforeLoad);
      train(optSource, 3, 3, onDevice);
      train(optTarget, 3, 3, onDevice);
      for (const [i, p] of source.parameters().entries()) {
        expect(Array.from(await target.parameters()[i]!.toArray()), `parameter ${i}`).toEqual(Array.from(await p.toArray()));
      }
      for (const x of [optSource, optTarget, source, target]) x.dispose();
    });
});

describe('optimizer.loadStateDict is all or nothing', () => {
  it.each(makers)('%s: a state whose last entry does not fit is refused, naming it; the hyperparameters and state stay', async (_n, make) => {
    const source = new Sequential(new Linear(3, 2, { seed: 1, backend: cpu })), target = new Sequential(new Linear(3, 2, { seed: 2, backend: cpu }));
    const [from, to] = [make(source.parameters()), make(target.parameters())];
    train(from, 0, 2, false);
    train(to, 5, 1, false);
    from.lr = 0.5;
    const good = from.stateDict();
    const last = [...good.tensors.keys()].filter((k) => k.startsWith('state.1.') && !k.endsWith('.step')).at(-1)!;
    const wrong = keep(fromArray([1, 2, 3], [3], { backend: cpu }));
    const bad = { ...good, tensors: new Map([...good.tensors, [last, wrong]]) };
    const read = async () => ({ lr: to.lr, state: await Promise.all([...to.stateDict().tensors.values()].map(async (t) => Array.from(await t.toArray()))), scalars: to.stateDict().scalars });
    const before = await read();
    expect(() => to.loadStateDict(bad)).toThrow(`optimizer state ${last}: shape [3], parameter [2]`);
    expect(await read()).toEqual(before);
    to.loadStateDict(good);
    expect(to.lr).toBe(0.5);
    for (const x of [from, to, source, target, wrong]) x.dispose();
  });
});
