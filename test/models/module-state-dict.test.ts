import { describe, expect, it } from 'vitest';
import { BatchNorm3d, Linear, Module, SGD } from '../../src/models/index.js';
import { dispose, fromArray, memory, type Tensor } from '../../src/tensor/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

class Net extends Module {
  a: Linear;
  b: Linear;
  norm: BatchNorm3d;
  constructor(seed: number, backend: Backend = cpu) {
    super();
    this.a = new Linear(3, 4, { seed, backend });
    this.b = new Linear(4, 2, { seed: seed + 1, backend });
    this.norm = new BatchNorm3d(2, { backend });
  }
  forward(x: Tensor): Tensor { return this.b.forward(this.a.forward(x)); }
}

const values = async (t: Tensor) => Array.from(await t.toArray());

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('stateDict() on %s', (_name, get) => {
  it('teacher.loadStateDict(model.stateDict()), never disposed (as in PyTorch), leaks no tensor and no buffer', async () => {
    const backend = await get();
    const model = new Net(1, backend), teacher = new Net(2, backend);
    teacher.loadStateDict(model.stateDict());
    const before = memory(backend);
    for (let i = 0; i < 3; i++) teacher.loadStateDict(model.stateDict());
    expect(memory(backend).liveTensors).toBe(before.liveTensors);
    expect(memory(backend).liveBuffers).toBe(before.liveBuffers);
    expect(await values(teacher.a.weight)).toEqual(await values(model.a.weight));
    model.dispose(); teacher.dispose();
  });
});

describe('stateDict() entries are borrowed views', () => {
  it('follow the module\'s updates, are not copies, and disposing them (once or twice) leaves the module intact', async () => {
    const model = new Net(1);
    const sd = model.stateDict();
    const w = sd.get('a.weight')!;
    expect(w.ownsStorageAlone).toBe(false); // nobody may update the module's tensor in place through it
    const opt = new SGD(model.parameters(), { lr: 1 });
    for (const p of model.parameters()) p.grad = fromArray(new Float32Array(p.numel()).fill(1), p.shape, { backend: cpu });
    const w0 = await values(model.a.weight);
    opt.step();
    expect(await values(w)).toEqual(w0.map((v) => Math.fround(v - 1)));
    dispose(sd);
    dispose(sd);
    expect(model.parameters().every((p) => !p.isDisposed)).toBe(true);
    expect(await values(model.a.weight)).toEqual(w0.map((v) => Math.fround(v - 1)));
    opt.dispose(); model.dispose();
  });

  it('do not keep the module\'s storage alive: model.dispose() frees it, and a later use is a clear error', async () => {
    const before = memory(cpu);
    const model = new Net(1);
    const sd = model.stateDict();
    model.dispose();
    expect(memory(cpu).liveBuffers).toBe(before.liveBuffers);
    expect(memory(cpu).liveTensors).toBe(before.liveTensors);
    const w = sd.get('a.weight')!;
    expect(w.isDisposed).toBe(true);
    await expect(w.toArray()).rejects.toThrow(/is a borrowed view \(a state dict entry\) used after the tensor it views was disposed/);
    expect(() => new Net(2).loadStateDict(sd)).toThrow(/borrowed view/);
    dispose(sd); // harmless
  });

  it('a view or an op result made from one is the caller\'s own and outlives the module', async () => {
    const model = new Net(1);
    const w = model.stateDict().get('a.weight')!;
    const own = w.detach();
    const want = await values(model.a.weight);
    model.dispose();
    expect(await values(own)).toEqual(want);
    own.dispose();
  });
});
