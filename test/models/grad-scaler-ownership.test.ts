import { describe, expect, it } from 'vitest';
import { Adam, autocast, backward, GradScaler, Linear, mean, square, type Optimizer } from '../../src/index.js';
import { fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/** a Linear model and its float16 loss mean(model(x)²) for one batch */
function problem(backend: Backend) {
  const model = new Linear(6, 3, { seed: 1, backend });
  const x = fromArray(randomArray(4 * 6, 2, -1, 1), [4, 6], { backend });
  const loss = (): Tensor => tidy(() => autocast(() => mean(square(model.forward(x))), { dtype: 'float16' }));
  return { model, x, loss };
}

/** PyTorch's loop: backward(scaler.scale(loss)); scaler.step(opt) with its result ignored; update(); zero_grad() */
async function pytorchStep(scaler: GradScaler, opt: Optimizer, loss: Tensor): Promise<void> {
  backward(scaler.scale(loss));
  await scaler.step(opt);
  scaler.update();
  opt.zeroGrad();
  loss.dispose();
}

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('GradScaler ownership on %s', (_name, get) => {
  it('PyTorch\'s loop, the scaled loss and the flag never disposed, holds the live tensors and buffers flat', async () => {
    const backend = await get();
    const { model, x, loss } = problem(backend);
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const scaler = new GradScaler({ growthInterval: 2 });
    await pytorchStep(scaler, opt, loss()); // the first step makes the scale and the optimizer's state
    const before = memory(backend);
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      await pytorchStep(scaler, opt, loss());
      counts.push(memory(backend).liveTensors);
    }
    expect(counts).toEqual([before.liveTensors, before.liveTensors, before.liveTensors, before.liveTensors]);
    expect(memory(backend).liveBuffers).toBe(before.liveBuffers);
    expect(await scaler.getScale()).toBe(65536 * 4); // the steps were taken (growth every 2)
    scaler.dispose(); opt.dispose(); model.dispose(); x.dispose();
  });

  it('the flag stays readable after update() until the next step(); the scaled loss until update(); disposing either first is harmless', async () => {
    const backend = await get();
    const { model, x, loss } = problem(backend);
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const scaler = new GradScaler();
    const l = loss();
    const scaled = scaler.scale(l);
    backward(scaled);
    expect(await scaled.item()).toBe(65536 * await l.item());
    const flag = await scaler.step(opt);
    const kept = flag.detach();
    scaler.update();
    expect(scaled.isDisposed).toBe(true);
    expect(Array.from(await flag.toArray())).toEqual([0]);
    opt.zeroGrad();
    // the existing habit, disposing both by hand, still works
    const l2 = loss(), scaled2 = scaler.scale(l2);
    backward(scaled2);
    scaled2.dispose();
    const flag2 = await scaler.step(opt);
    expect(flag.isDisposed).toBe(true); // the previous step's flag went with this step
    flag2.dispose();
    scaler.update();
    expect(Array.from(await kept.toArray())).toEqual([0]); // a view of one's own outlives the scaler's
    kept.dispose(); l.dispose(); l2.dispose();
    const live = memory(backend).liveTensors;
    scaler.dispose();
    expect(memory(backend).liveTensors).toBe(live - 2); // the scale and the growth tracker
    opt.dispose(); model.dispose(); x.dispose();
  });
});
