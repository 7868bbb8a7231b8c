import { describe, expect, it } from 'vitest';
import { backward, mean, square } from '../../src/autograd/index.js';
import { Adam, BatchNorm3d, Conv3d, Sequential } from '../../src/models/index.js';
import { dispose, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

const model = (): Sequential => new Sequential(
  new Conv3d(2, 3, 3, { padding: 1, seed: 1, backend: cpu }), new BatchNorm3d(3, { backend: cpu }));
const input = (backend: Tensor['backend']): Tensor => randn([2, 2, 3, 4, 3], { seed: 4, backend });

async function trainStep(m: Sequential, backend: Tensor['backend']): Promise<number[]> {
  const x = input(backend);
  const loss = tidy(() => mean(square(m.forward(x))));
  backward(loss);
  const value = Array.from(await loss.toArray());
  dispose([x, loss]);
  return value;
}

/** PyTorch's model.to(device): the same parameter objects, moved in place, with their buffers and gradients. */
describe('Module.to(backend)', () => {
  it('moves every parameter, buffer and gradient in place: same objects, same values, same results there', async () => {
    const g = await webgpu();
    const reference = model(), moved = model();
    const params = moved.parameters(), buffers = moved.buffersList();
    await trainStep(reference, cpu);
    await trainStep(moved, cpu);
    const cpuBefore = memory(cpu);
    expect(await moved.to(g)).toBe(moved);
    expect(moved.parameters()).toEqual(params);
    expect(moved.parameters().every((p, i) => p === params[i] && p.backend === g && p.grad!.backend === g)).toBe(true);
    expect(moved.buffersList().every((b, i) => b === buffers[i] && b.backend === g)).toBe(true);
    expect(moved.backend).toBe(g);
    // the cpu storages were freed, and no tensor was added or lost
    expect(memory(cpu).liveBuffers).toBeLessThan(cpuBefore.liveBuffers);
    expect(memory(cpu).liveTensors).toBe(cpuBefore.liveTensors);
    for (const [i, p] of reference.parameters().entries()) {
      expect(Array.from(await params[i]!.toArray())).toEqual(Array.from(await p.toArray()));
      expect(Array.from(await params[i]!.grad!.toArray())).toEqual(Array.from(await p.grad!.toArray()));
    }
    for (const [i, b] of reference.buffersList().entries()) expect(Array.from(await buffers[i]!.toArray())).toEqual(Array.from(await b.toArray()));
    // training goes on there, with an optimizer made after the move (BatchNorm's counter buffer included)
    for (const [m, backend] of [[reference, cpu], [moved, g]] as const) {
      m.zeroGrad();
      const opt = new Adam(m.parameters(), { lr: 0.01 });
      await trainStep(m, backend);
      opt.step();
    }
    const [lossCpu, lossGpu] = [await trainStep(reference, cpu), await trainStep(moved, g)];
    expectClose(lossGpu, lossCpu, 1e-5, 1e-4, 'loss after a step on each backend');
    const counters = [reference.namedBuffers().find(([n]) => n.endsWith('num_batches_tracked'))![1], moved.namedBuffers().find(([n]) => n.endsWith('num_batches_tracked'))![1]];
    expect(Array.from(await counters[1]!.toArray())).toEqual(Array.from(await counters[0]!.toArray()));
    // and back
    await moved.to(cpu);
    expect(moved.parameters().every((p) => p.backend === cpu)).toBe(true);
    reference.dispose();
    moved.dispose();
  });

  it('refuses, moving nothing, while a forward\'s saved tensors share a storage', async () => {
    const g = await webgpu();
    const m = model();
    const x = input(cpu);
    const y = m.forward(x); // the graph saves aliases of the parameters until backward
    await expect(m.to(g)).rejects.toThrow(/cannot move[\s\S]*share its storage[\s\S]*run backward first/);
    expect(m.parameters().every((p) => p.backend === cpu)).toBe(true);
    const loss = mean(y);
    backward(loss);
    dispose([x, y, loss]);
    await m.to(g);
    expect(m.parameters().every((p) => p.backend === g)).toBe(true);
    m.dispose();
  });

  it('an optimizer that stepped before the move keeps its state on the old backend: its next step throws', async () => {
    const g = await webgpu();
    const m = model();
    const opt = new Adam(m.parameters(), { lr: 0.01 });
    await trainStep(m, cpu);
    opt.step();
    m.zeroGrad();
    await m.to(g);
    await trainStep(m, g);
    expect(() => opt.step()).toThrow(/webgpu backend: got a storage of the 'cpu' backend/);
    opt.dispose();
    m.dispose();
  });

  it('a state dict taken before the move names the move when read after it (its views borrow the old storages)', async () => {
    const g = await webgpu();
    const m = model();
    const weight = m.stateDict().get('0.weight')!;
    await m.to(g);
    await expect(weight.toArray()).rejects.toThrow(/borrowed view \(a state dict entry\) used after the tensor it views was disposed or moved to another backend/);
    expect(Array.from(await m.stateDict().get('0.weight')!.toArray())).toHaveLength(2 * 3 * 27);
    m.dispose();
  });
});
