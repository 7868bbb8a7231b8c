import { describe, expect, it } from 'vitest';
// GradScaler and autocast as the package exports them
import { autocast, backward, conv3d, GradScaler, mean, mul, Parameter, SGD, square, type GradScalerState } from '../../src/index.js';
import { fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';
import type { Backend } from '../../src/kernels/index.js';

/** A conv3d's weight and input, and its loss mean((conv(x; w))²)·factor under autocast, for the scaler to drive. */
function problem(backend: Backend = cpu) {
  const w = Parameter.fromHost(randomArray(2 * 2 * 27, 5, -0.3, 0.3), [2, 2, 3, 3, 3], { backend });
  const x = fromArray(randomArray(2 * 4 * 4 * 4, 6, -1, 1), [1, 2, 4, 4, 4], { backend });
  const loss = (factor = 1): Tensor => autocast(() => mul(mean(square(conv3d(x, w, null, { padding: 1 }))),
    fromArray([factor], [], { backend })), { dtype: 'float16' });
  return { w, x, loss, dispose: () => { w.dispose(); x.dispose(); } };
}

const values = async (t: Tensor) => Array.from(await t.toArray());

describe('GradScaler', () => {
  it('has PyTorch\'s defaults: scale 2^16, growth ×2 every 2000 steps, backoff ×0.5', () => {
    expect(new GradScaler().stateDict()).toEqual({ scale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, growthTracker: 0 });
  });

  it('unscaled gradients equal the unscaled run\'s (the scale is a power of two), and the step is taken', async () => {
    const p = problem();
    backward(p.loss());
    const plain = await values(p.w.grad!);
    p.w.grad!.dispose(); p.w.grad = null;
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 0.1 });
    backward(scaler.scale(p.loss()));
    scaler.unscale(opt);
    expect(await values(p.w.grad!)).toEqual(plain);
    const before = await values(p.w);
    expect(await scaler.step(opt)).toBe(true);
    expect(await values(p.w)).toEqual(before.map((v, i) => Math.fround(v - Math.fround(0.1 * plain[i]!))));
    scaler.update();
    expect(scaler.getScale()).toBe(65536);
    opt.dispose(); p.dispose();
  });

  it('an overflow in float16 (a gradient beyond 65504 once scaled) skips the step and halves the scale, until it fits', async () => {
    const p = problem();
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 0.1 });
    const w0 = await values(p.w);
    // the loss × 10⁴ puts the output gradients × 2^16 beyond float16's range; they fit again after a few halvings
    const taken: boolean[] = [], scales: number[] = [];
    for (let i = 0; i < 12; i++) {
      scales.push(scaler.getScale());
      backward(scaler.scale(p.loss(1e4)));
      taken.push(await scaler.step(opt));
      scaler.update();
      opt.zeroGrad();
      if (taken[i]) break;
    }
    const skips = taken.filter((t) => !t).length;
    expect(skips).toBeGreaterThan(0);
    expect(taken[taken.length - 1]).toBe(true);
    expect(scales).toEqual(scales.map((_, i) => 65536 / 2 ** i));
    expect(scaler.getScale()).toBe(65536 / 2 ** skips);
    // the skipped steps left the weights as they were, the one taken moved them
    expect(await values(p.w)).not.toEqual(w0);
    opt.dispose(); p.dispose();
  });

  it('a skipped step changes no weight', async () => {
    const p = problem();
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 0.1, momentum: 0.9 });
    const w0 = await values(p.w);
    backward(scaler.scale(p.loss(1e6)));
    expect(await scaler.step(opt)).toBe(false);
    expect(await values(p.w)).toEqual(w0);
    scaler.update();
    expect(scaler.getScale()).toBe(32768);
    opt.dispose(); p.dispose();
  });

  it('grows ×growthFactor after growthInterval finite steps in a row; an overflow restarts the count', async () => {
    const p = problem();
    const scaler = new GradScaler({ initScale: 8, growthInterval: 3 });
    const opt = new SGD([p.w], { lr: 1e-3 });
    const scales: number[] = [];
    const iterate = async (factor: number) => {
      backward(scaler.scale(p.loss(factor)));
      await scaler.step(opt);
      scaler.update();
      opt.zeroGrad();
      scales.push(scaler.getScale());
    };
    for (let i = 0; i < 4; i++) await iterate(1);
    await iterate(1e8);
    for (let i = 0; i < 3; i++) await iterate(1);
    expect(scales).toEqual([8, 8, 16, 16, 8, 8, 8, 16]);
    expect(scaler.stateDict().growthTracker).toBe(0);
    opt.dispose(); p.dispose();
  });

  it('state round trip: a restored scaler continues as the original (scale, factors, growth count)', async () => {
    const a = new GradScaler({ initScale: 1024, growthInterval: 2, growthFactor: 4, backoffFactor: 0.25 });
    const p = problem();
    const opt = new SGD([p.w], { lr: 1e-3 });
    backward(a.scale(p.loss()));
    await a.step(opt);
    a.update();
    opt.zeroGrad();
    const state: GradScalerState = JSON.parse(JSON.stringify(a.stateDict())) as GradScalerState;
    expect(state).toEqual({ scale: 1024, growthFactor: 4, backoffFactor: 0.25, growthInterval: 2, growthTracker: 1 });
    const b = new GradScaler();
    b.loadStateDict(state);
    expect(b.stateDict()).toEqual(a.stateDict());
    for (const s of [a, b]) {
      backward(s.scale(p.loss()));
      await s.step(opt);
      s.update();
      opt.zeroGrad();
    }
    expect(b.getScale()).toBe(4096);
    expect(a.getScale()).toBe(4096);
    expect(() => b.loadStateDict({ ...state, backoffFactor: 2 })).toThrow('backoffFactor must be in (0, 1)');
    expect(() => b.loadStateDict({ scale: 1 } as GradScalerState)).toThrow('missing or non-numeric growthFactor, backoffFactor, growthInterval, growthTracker');
    opt.dispose(); p.dispose();
  });

  it('unscale once per optimizer and update (a step before step(), as before clipping; twice is refused), update needs a step', async () => {
    const p = problem();
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 1e-3 });
    expect(() => scaler.update()).toThrow('no step() was recorded');
    backward(scaler.scale(p.loss()));
    scaler.unscale(opt);
    const unscaled = await values(p.w.grad!);
    expect(() => scaler.unscale(opt)).toThrow('already called');
    expect(await scaler.step(opt)).toBe(true);
    // step() did not unscale a second time
    expect(await values(p.w.grad!)).toEqual(unscaled);
    await expect(scaler.step(opt)).rejects.toThrow('already called');
    scaler.update();
    opt.dispose(); p.dispose();
  });

  it('on WebGPU: takes, skips (halving the scale) and takes again, leaving no tensor behind', async () => {
    const backend = await webgpu();
    const p = problem(backend);
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 1e-3, momentum: 0.9 });
    const step = async (factor: number) => {
      tidy(() => backward(scaler.scale(p.loss(factor))));
      const stepped = await scaler.step(opt);
      scaler.update();
      opt.zeroGrad();
      return stepped;
    };
    await step(1);
    const live = memory(backend).liveTensors;
    expect([await step(1), await step(1e6), await step(1)]).toEqual([true, false, true]);
    expect(memory(backend).liveTensors).toBe(live);
    expect(scaler.getScale()).toBe(32768);
    opt.dispose(); p.dispose();
  });
});

it('an optimizer whose parameters have no gradient: nothing non-finite is found, the step is taken (as PyTorch)', async () => {
  const w = Parameter.fromHost([1, 2], [2], { backend: cpu });
  const opt = new SGD([w], { lr: 1 });
  const scaler = new GradScaler();
  expect(await scaler.step(opt)).toBe(true);
  scaler.update();
  expect(await values(w)).toEqual([1, 2]);
  opt.dispose(); w.dispose();
});
