import { describe, expect, it } from 'vitest';
import { GradScaler, Parameter, SGD, sum, type GradScalerState } from '../../src/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { fromArray, keep, memory, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

const values = async (t: Tensor) => Array.from(await t.toArray());
const valid: GradScalerState = { scale: 1024, growthFactor: 2, backoffFactor: 0.5, growthInterval: 3, growthTracker: 0 };

/** a parameter and its gradient (kept, as backward leaves it) */
function withGrad(w: number[], g: number[], backend = cpu): Parameter {
  const p = Parameter.fromHost(w, [w.length], { backend });
  p.grad = keep(fromArray(g, [g.length], { backend }));
  return p;
}

/** one step through the scaler: returns the found-inf flag's value */
async function iterate(scaler: GradScaler, opt: SGD, grad: number[]): Promise<number> {
  for (const p of opt.params) {
    p.grad?.dispose();
    p.grad = keep(fromArray(grad, [grad.length], { backend: p.backend }));
  }
  const flag = await scaler.step(opt);
  const [found] = await values(flag);
  flag.dispose();
  scaler.update();
  opt.zeroGrad();
  return found!;
}

describe('GradScaler: options and states', () => {
  it('refuses each invalid option, naming it and its value', () => {
    const refused = (options: ConstructorParameters<typeof GradScaler>[0], message: string) =>
      expect(() => new GradScaler(options)).toThrow(`GradScaler: ${message}`);
    for (const initScale of [0, -1, Infinity, NaN]) refused({ initScale }, `scale must be a finite number > 0, got ${initScale}`);
    for (const growthFactor of [1, 0.5, Infinity, NaN]) refused({ growthFactor }, `growthFactor must be a finite number > 1, got ${growthFactor}`);
    for (const backoffFactor of [0, 1, -0.5, NaN]) refused({ backoffFactor }, `backoffFactor must be in (0, 1), got ${backoffFactor}`);
    for (const growthInterval of [0, -2, 2.5, NaN]) refused({ growthInterval }, `growthInterval must be a positive integer, got ${growthInterval}`);
    // every problem at once, in the order of the state's keys
    expect(() => new GradScaler({ initScale: 0, growthFactor: 1, backoffFactor: 1, growthInterval: 0 })).toThrow(
      'GradScaler: scale must be a finite number > 0, got 0; growthFactor must be a finite number > 1, got 1; '
      + 'backoffFactor must be in (0, 1), got 1; growthInterval must be a positive integer, got 0');
    // the bounds' other sides are accepted
    expect(() => new GradScaler({ initScale: 2 ** -20, growthFactor: 1.0001, backoffFactor: 0.9999, growthInterval: 1 })).not.toThrow();
  });

  it('the initial scale is rounded to float32, as the device holds it', async () => {
    const scaler = new GradScaler({ initScale: 0.1 });
    expect(await scaler.getScale()).toBe(Math.fround(0.1));
    expect((await scaler.stateDict()).scale).toBe(Math.fround(0.1));
  });

  it('loadStateDict refuses a growth tracker outside [0, growthInterval) and non-numbers, and keeps its state then', async () => {
    const scaler = new GradScaler({ initScale: 8 });
    for (const growthTracker of [-1, 1.5, 3, 4]) {
      expect(() => scaler.loadStateDict({ ...valid, growthTracker }))
        .toThrow(`GradScaler: growthTracker must be an integer in [0, growthInterval), got ${growthTracker}`);
    }
    expect(() => scaler.loadStateDict({ ...valid, scale: '1024' } as unknown as GradScalerState))
      .toThrow('GradScaler.loadStateDict: missing or non-numeric scale');
    expect(() => scaler.loadStateDict(null as unknown as GradScalerState))
      .toThrow('GradScaler.loadStateDict: missing or non-numeric scale, growthFactor, backoffFactor, growthInterval, growthTracker');
    expect(() => scaler.loadStateDict({ ...valid, scale: 0, growthTracker: 3 }))
      .toThrow('GradScaler: scale must be a finite number > 0, got 0; growthTracker must be an integer in [0, growthInterval), got 3');
    expect(await scaler.stateDict()).toEqual({ scale: 8, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, growthTracker: 0 });
    scaler.loadStateDict({ ...valid, growthTracker: 2 });
    expect(await scaler.stateDict()).toEqual({ ...valid, growthTracker: 2 });
  });

  it('a state loaded into a scaler whose state is on the device goes to that device at once, and continues from there', async () => {
    const scaler = new GradScaler({ initScale: 8 });
    const opt = new SGD([withGrad([1], [1])], { lr: 0.1 });
    expect(await iterate(scaler, opt, [1])).toBe(0);
    scaler.loadStateDict({ ...valid, growthTracker: 2 });
    expect(await scaler.stateDict()).toEqual({ ...valid, growthTracker: 2 });
    // still bound to its backend: another backend's tensors are refused
    const other = new CpuBackend();
    const loss = fromArray([1], [], { backend: other });
    expect(() => scaler.scale(loss)).toThrow('GradScaler.scale: the scale is on the cpu backend, the tensors on cpu');
    // the third finite step in a row grows the scale
    expect(await iterate(scaler, opt, [1])).toBe(0);
    expect(await scaler.stateDict()).toEqual({ ...valid, scale: 2048, growthTracker: 0 });
    loss.dispose(); opt.params[0]!.dispose(); scaler.dispose();
  });
});

describe('GradScaler: calls', () => {
  it('unscale after step() is refused as such', async () => {
    const scaler = new GradScaler();
    const opt = new SGD([withGrad([1], [2])], { lr: 0.1 });
    (await scaler.step(opt)).dispose();
    expect(() => scaler.unscale(opt)).toThrow('GradScaler.unscale: step() was already called on this optimizer since the last update()');
    scaler.update();
    opt.params[0]!.dispose(); scaler.dispose();
  });

  it('a gradient that is a strided or offset view, or shares its storage with another, is replaced by a dense copy and unscaled once', async () => {
    const scaler = new GradScaler({ initScale: 4 });
    const base = keep(fromArray([8, 16, 24, 32, 40, 48], [6], { backend: cpu }));
    const [strided, offset, first, shared] = [[1, 1], [2, 3], [1, 4], [1, 4]].map(() => Parameter.fromHost([0, 0], [2], { backend: cpu }));
    strided!.grad = base.viewAs([2], [3], 0);
    offset!.grad = base.viewAs([2], [1], 4);
    const whole = keep(fromArray([4, 12], [2], { backend: cpu }));
    first!.grad = whole;
    shared!.grad = whole.viewAs([2], [1], 0);
    const opt = new SGD([strided!, offset!, first!, shared!], { lr: 1 });
    scaler.unscale(opt);
    expect(await Promise.all(opt.params.map((p) => values(p.grad!)))).toEqual([[2, 8], [10, 12], [1, 3], [1, 3]]);
    for (const p of opt.params) expect(p.grad!.isDense).toBe(true);
    // the views' storage is left as it was
    expect(await values(base)).toEqual([8, 16, 24, 32, 40, 48]);
    (await scaler.step(opt)).dispose();
    scaler.update();
    base.dispose();
    for (const p of opt.params) p.dispose();
    scaler.dispose();
  });

  it('refuses a gradient on another backend than its parameters, and tensors on another backend than the scale', async () => {
    const other = new CpuBackend();
    const scaler = new GradScaler();
    const p = Parameter.fromHost([1], [1], { backend: cpu });
    p.grad = keep(fromArray([1], [1], { backend: other }));
    const opt = new SGD([p], { lr: 0.1 });
    expect(() => scaler.unscale(opt)).toThrow('GradScaler.unscale: a gradient on the cpu backend, the scale on cpu');
    const onOther = fromArray([1], [], { backend: other });
    expect(() => scaler.scale(onOther)).toThrow('GradScaler.scale: the scale is on the cpu backend, the tensors on cpu');
    expect(() => scaler.scaleTensor(other)).toThrow('GradScaler.scaleTensor: the scale is on the cpu backend, the tensors on cpu');
    onOther.dispose(); p.dispose(); scaler.dispose();
  });

  it('scaleTensor is a copy of the current scale: later updates leave it as it is', async () => {
    const scaler = new GradScaler({ initScale: 64 });
    const t = scaler.scaleTensor(cpu);
    expect([t.shape, await values(t)]).toEqual([[], [64]]);
    const opt = new SGD([withGrad([1], [1])], { lr: 0.1 });
    expect(await iterate(scaler, opt, [Infinity])).toBe(1);
    expect([await values(t), await scaler.getScale()]).toEqual([[64], 32]);
    t.dispose(); opt.params[0]!.dispose(); scaler.dispose();
  });

  it('update(newScale): the scale rounded to float32, before and after the state is on the device, the growth count kept; an invalid one refused', async () => {
    const scaler = new GradScaler({ initScale: 8, growthInterval: 2 });
    scaler.update(0.3);
    expect(await scaler.getScale()).toBe(Math.fround(0.3));
    const p = withGrad([1], [1]);
    const opt = new SGD([p], { lr: 0.1 });
    // the loss is scaled by the new scale: d(scale · Σw)/dw = scale
    const scaled = scaler.scale(sum(p));
    expect(await values(scaled)).toEqual([Math.fround(0.3)]);
    scaled.dispose();
    expect(await iterate(scaler, opt, [1])).toBe(0);
    expect((await scaler.stateDict()).growthTracker).toBe(1);
    scaler.update(5.1);
    expect(await scaler.stateDict()).toMatchObject({ scale: Math.fround(5.1), growthTracker: 1 });
    for (const bad of [0, -1, Infinity, NaN]) {
      expect(() => scaler.update(bad)).toThrow(`GradScaler.update: newScale must be a finite number > 0, got ${bad}`);
    }
    // a refused update still ends the iteration: the next needs a step again
    (await scaler.step(opt)).dispose();
    expect(() => scaler.update(-1)).toThrow('newScale must be');
    expect(() => scaler.update()).toThrow('GradScaler.update: no unscale() or step() was recorded since the last update()');
    expect(await scaler.getScale()).toBe(Math.fround(5.1));
    p.dispose(); scaler.dispose();
  });

  it('dispose frees the state and pending flags; the scaler then starts again from its initial values', async () => {
    const scaler = new GradScaler({ initScale: 16 });
    const p = Parameter.fromHost([1], [1], { backend: cpu });
    const opt = new SGD([p], { lr: 0.1 });
    const live = memory(cpu).liveTensors;
    expect(await iterate(scaler, opt, [NaN])).toBe(1);
    expect(await scaler.getScale()).toBe(8);
    // a pending flag (no gradient: nothing to unscale)
    scaler.unscale(opt);
    scaler.dispose();
    expect(memory(cpu).liveTensors).toBe(live);
    expect(await scaler.stateDict()).toMatchObject({ scale: 16, growthTracker: 0 });
    expect(() => scaler.update()).toThrow('no unscale() or step() was recorded');
    expect(await iterate(scaler, opt, [1])).toBe(0);
    expect(await scaler.getScale()).toBe(16);
    p.dispose(); scaler.dispose();
  });

  it('a step that throws leaves no flag behind once the scaler is disposed', async () => {
    const live = memory(cpu).liveTensors;
    const scaler = new GradScaler();
    const p = withGrad([1], [1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    await expect(scaler.step(opt)).rejects.toThrow('cannot be skipped on the device');
    scaler.dispose();
    opt.dispose(); p.dispose();
    expect(memory(cpu).liveTensors).toBe(live);
  });
});
