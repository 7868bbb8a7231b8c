import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchNorm3d, Dropout, GradScaler, LinearLR, Linear, SGD, Sequential, SequentialLR, StepLR, encodeSafetensors, loadTrainingCheckpoint, readSafetensors,
  saveTrainingCheckpoint, toHost, type HostTensor, type StatefulGenerator, type JsonValue,
} from '../../src/models/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * loadTrainingCheckpoint is all or nothing: a part the live objects refuse (an optimizer entry of the wrong shape or
 * dtype or naming no parameter, an extra model that does not fit, a corrupt scaler state, a generator that refuses
 * its state) is named, and the model's parameters and buffers, the optimizer's state, the scheduler and the
 * generator keep exactly what they held. The generator, the dropout layers and the scheduler are loaded before the
 * optimizer (which checks its own state): an optimizer that refuses has them restored.
 */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Counter implements StatefulGenerator {
  constructor(public n: number, private readonly refuse = false) {}
  state(): JsonValue { return { n: this.n }; }
  setState(state: unknown): void {
    if (this.refuse) throw new Error('Counter.setState: refused');
    this.n = (state as { n: number }).n;
  }
}

function setup(seed: number, refuseRng = false) {
  const model = new Sequential(new Linear(2, 3, { seed, backend: cpu }), new BatchNorm3d(3, { backend: cpu }), new Dropout(0.5, { seed, salt: seed }));
  const ema = new Sequential(new Linear(2, 3, { seed: seed + 10, backend: cpu }));
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  for (const p of optimizer.params) p.grad = fromArray(new Float32Array(p.numel()).fill(seed), p.shape, { backend: cpu });
  optimizer.step();
  optimizer.zeroGrad();
  // a training forward moves the running statistics, so that loading the buffers would show
  const x = fromArray(Float32Array.from({ length: 24 }, (_, i) => Math.sin(seed * 7 + i)), [2, 3, 2, 2, 1], { backend: cpu });
  (model.layers[1] as BatchNorm3d).forward(x).dispose();
  x.dispose();
  const scheduler = new StepLR(optimizer, 2);
  scheduler.step();
  if (seed === 1) scheduler.step();
  return { model, ema, optimizer, scheduler, scaler: new GradScaler({ initScale: 2 ** seed }), rng: new Counter(seed, refuseRng) };
}
type Setup = ReturnType<typeof setup>;

/** every value the target holds, read to the host */
async function snapshot(s: Setup) {
  return {
    model: await toHost(s.model.stateDict()),
    dropout: s.model.dropoutState(),
    ema: await toHost(s.ema.stateDict()),
    optimizer: await toHost(s.optimizer.stateDict().tensors),
    lr: s.optimizer.lr,
    scheduler: s.scheduler.stateDict(),
    scaler: await s.scaler.stateDict(),
    rng: s.rng.n,
  };
}

async function saved(): Promise<string> {
  const s = setup(1);
  const path = join(dir, 'good.safetensors');
  await saveTrainingCheckpoint(path, { ...s, extraModels: { ema: s.ema }, iteration: 5 });
  return path;
}

/** the good checkpoint with one tensor replaced (or added) and metadata entries changed */
async function altered(name: string, tensor: [string, HostTensor] | null, metadata: Record<string, string> = {}): Promise<string> {
  const file = await readSafetensors(await saved());
  const tensors = new Map(file.tensors);
  if (tensor) tensors.set(...tensor);
  const out = join(dir, name);
  writeFileSync(out, encodeSafetensors(tensors, { ...file.metadata, ...metadata }));
  return out;
}

async function expectUnchanged(path: string, message: RegExp, refuseRng = false): Promise<void> {
  const target = setup(2, refuseRng);
  const before = await snapshot(target);
  await expect(loadTrainingCheckpoint(path, { ...target, extraModels: { ema: target.ema } })).rejects.toThrow(message);
  expect(await snapshot(target)).toEqual(before);
  target.optimizer.dispose();
  target.model.dispose();
  target.ema.dispose();
}

const f32 = (shape: number[], fill = 0.5): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });

describe('loadTrainingCheckpoint refuses a part without loading any', () => {
  it('an optimizer entry of the wrong shape: named, nothing loaded', async () => {
    const path = await altered('opt-shape.safetensors', ['optimizer.state.2.momentum_buffer', f32([2, 2])]);
    await expectUnchanged(path, /state\.2\.momentum_buffer.*\[2, 2\].*\[3\]/);
  });

  it('an optimizer entry of an integer dtype for a float parameter', async () => {
    const path = await altered('opt-dtype.safetensors', ['optimizer.state.0.momentum_buffer', { dtype: 'int32', shape: [3, 2], data: new Int32Array(6) }]);
    await expectUnchanged(path, /state\.0\.momentum_buffer.*int32/);
  });

  it('an optimizer entry naming no parameter', async () => {
    const path = await altered('opt-index.safetensors', ['optimizer.state.9.momentum_buffer', f32([3])]);
    await expectUnchanged(path, /optimizer\.state\.9\.momentum_buffer names no parameter/);
  });

  it('an optimizer hyperparameter the optimizer refuses', async () => {
    const path = await altered('opt-lr.safetensors', null, { 'voxgrad.optimizer': JSON.stringify({ type: 'SGD', hyper: { lr: -1, momentum: 0.9 }, scalars: {} }) });
    await expectUnchanged(path, /invalid learning rate -1/);
  });

  it('an extra model whose tensor does not fit', async () => {
    const path = await altered('ema-shape.safetensors', ['ema.0.weight', f32([4, 2])]);
    await expectUnchanged(path, /extra model 'ema'.*0\.weight/s);
  });

  it('a corrupt GradScaler state', async () => {
    const path = await altered('scaler.safetensors', null, { 'voxgrad.scaler': JSON.stringify({ scale: 'big' }) });
    await expectUnchanged(path, /GradScaler\.loadStateDict: missing or non-numeric scale/);
  });

  it('a generator that refuses its state', async () => {
    await expectUnchanged(await saved(), /Counter\.setState: refused/, true);
  });

  it('loads every part when all fit (the refusals above are the parts, not the file)', async () => {
    const path = await saved();
    const source = setup(1);
    const target = setup(2);
    await loadTrainingCheckpoint(path, { ...target, extraModels: { ema: target.ema } });
    const [got, want] = [await snapshot(target), await snapshot(source)];
    expect(got).toEqual(want);
    for (const s of [source, target]) { s.optimizer.dispose(); s.model.dispose(); s.ema.dispose(); }
  });
});

describe('loadTrainingCheckpoint with a scheduler whose own load fails half way', () => {
  it('SequentialLR refusing its second scheduler\'s state (after loading its own): restored, with the rest', async () => {
    const make = (seed: number) => {
      const model = new Sequential(new Linear(2, 3, { seed, backend: cpu }));
      const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const scheduler = new SequentialLR(optimizer, [new LinearLR(optimizer, { totalIters: 2 }), new StepLR(optimizer, 2)], [2]);
      for (let i = 0; i < seed; i++) scheduler.step();
      return { model, optimizer, scheduler };
    };
    const saved = make(3);
    const path = join(dir, 'sequential.safetensors');
    await saveTrainingCheckpoint(path, { ...saved, iteration: 3 });
    const file = await readSafetensors(path);
    const state = JSON.parse(file.metadata['voxgrad.scheduler']!) as { schedulers: { lastEpoch: unknown }[] };
    state.schedulers[1]!.lastEpoch = 'x';
    const bad = join(dir, 'sequential-bad.safetensors');
    writeFileSync(bad, encodeSafetensors(file.tensors, { ...file.metadata, 'voxgrad.scheduler': JSON.stringify(state) }));
    const target = make(1);
    const before = { scheduler: target.scheduler.stateDict(), model: await toHost(target.model.stateDict()), initialLr: target.optimizer.paramGroups[0]!.initialLr };
    await expect(loadTrainingCheckpoint(bad, target)).rejects.toThrow(/lastEpoch must be an integer/);
    expect({ scheduler: target.scheduler.stateDict(), model: await toHost(target.model.stateDict()), initialLr: target.optimizer.paramGroups[0]!.initialLr }).toEqual(before);
    for (const s of [saved, target]) { s.optimizer.dispose(); s.model.dispose(); }
  });
});

describe('Module.loadStateDict is all or nothing', () => {
  it('strict, with one bad shape in the middle: refused, nothing copied', async () => {
    const source = setup(1), target = setup(2);
    const dict = new Map(source.model.stateDict());
    const bad = fromArray(new Float32Array(4), [4], { backend: cpu });
    dict.set('0.bias', bad);
    const before = await toHost(target.model.stateDict());
    expect(() => target.model.loadStateDict(dict)).toThrow(/size mismatch for 0\.bias: checkpoint \[4\], model \[3\]/);
    expect(await toHost(target.model.stateDict())).toEqual(before);
    bad.dispose();
    for (const s of [source, target]) { s.optimizer.dispose(); s.model.dispose(); s.ema.dispose(); }
  });
});
