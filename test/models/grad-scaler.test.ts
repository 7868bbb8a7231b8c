import { describe, expect, it, vi } from 'vitest';
// GradScaler and autocast as the package exports them
import { Adam, autocast, backward, conv3d, GradScaler, mean, mul, Parameter, SGD, square, type GradScalerState, type Optimizer } from '../../src/index.js';
import { fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { noGrad } from '../../src/autograd/graph.js';
import { mulScalar } from '../../src/autograd/ops.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';
import { WebGPUBackend, type Backend } from '../../src/kernels/index.js';
import { hostDecided } from '../helpers/host-decided.js';

/** A conv3d's weight and input, and its loss mean((conv(x; w))²)·factor under autocast, for the scaler to drive. */
function problem(backend: Backend = cpu) {
  const w = Parameter.fromHost(randomArray(2 * 2 * 27, 5, -0.3, 0.3), [2, 2, 3, 3, 3], { backend });
  const x = fromArray(randomArray(2 * 4 * 4 * 4, 6, -1, 1), [1, 2, 4, 4, 4], { backend });
  const loss = (factor = 1): Tensor => autocast(() => mul(mean(square(conv3d(x, w, null, { padding: 1 }))),
    fromArray([factor], [], { backend })), { dtype: 'float16' });
  return { w, x, loss, dispose: () => { w.dispose(); x.dispose(); } };
}

const values = async (t: Tensor) => Array.from(await t.toArray());

/** steps through the scaler and reads its found-inf flag: whether the step was taken */
async function stepTaken(scaler: GradScaler, opt: Optimizer): Promise<boolean> {
  const foundInf = await scaler.step(opt);
  const [flag] = await values(foundInf);
  foundInf.dispose();
  return flag === 0;
}

describe('GradScaler', () => {
  it('has PyTorch\'s defaults: scale 2^16, growth ×2 every 2000 steps, backoff ×0.5', async () => {
    expect(await new GradScaler().stateDict()).toEqual({ scale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, growthTracker: 0 });
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
    expect(await stepTaken(scaler, opt)).toBe(true);
    expect(await values(p.w)).toEqual(before.map((v, i) => Math.fround(v - Math.fround(0.1 * plain[i]!))));
    scaler.update();
    expect(await scaler.getScale()).toBe(65536);
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
      scales.push(await scaler.getScale());
      backward(scaler.scale(p.loss(1e4)));
      taken.push(await stepTaken(scaler, opt));
      scaler.update();
      opt.zeroGrad();
      if (taken[i]) break;
    }
    const skips = taken.filter((t) => !t).length;
    expect(skips).toBeGreaterThan(0);
    expect(taken[taken.length - 1]).toBe(true);
    expect(scales).toEqual(scales.map((_, i) => 65536 / 2 ** i));
    expect(await scaler.getScale()).toBe(65536 / 2 ** skips);
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
    expect(await stepTaken(scaler, opt)).toBe(false);
    expect(await values(p.w)).toEqual(w0);
    scaler.update();
    expect(await scaler.getScale()).toBe(32768);
    opt.dispose(); p.dispose();
  });

  it('grows ×growthFactor after growthInterval finite steps in a row; an overflow restarts the count', async () => {
    const p = problem();
    const scaler = new GradScaler({ initScale: 8, growthInterval: 3 });
    const opt = new SGD([p.w], { lr: 1e-3 });
    const scales: number[] = [];
    const iterate = async (factor: number) => {
      backward(scaler.scale(p.loss(factor)));
      await stepTaken(scaler, opt);
      scaler.update();
      opt.zeroGrad();
      scales.push(await scaler.getScale());
    };
    for (let i = 0; i < 4; i++) await iterate(1);
    await iterate(1e8);
    for (let i = 0; i < 3; i++) await iterate(1);
    expect(scales).toEqual([8, 8, 16, 16, 8, 8, 8, 16]);
    expect((await scaler.stateDict()).growthTracker).toBe(0);
    opt.dispose(); p.dispose();
  });

  it('state round trip: a restored scaler continues as the original (scale, factors, growth count)', async () => {
    const a = new GradScaler({ initScale: 1024, growthInterval: 2, growthFactor: 4, backoffFactor: 0.25 });
    const p = problem();
    const opt = new SGD([p.w], { lr: 1e-3 });
    backward(a.scale(p.loss()));
    await stepTaken(a, opt);
    a.update();
    opt.zeroGrad();
    const state: GradScalerState = JSON.parse(JSON.stringify(await a.stateDict())) as GradScalerState;
    expect(state).toEqual({ scale: 1024, growthFactor: 4, backoffFactor: 0.25, growthInterval: 2, growthTracker: 1 });
    const b = new GradScaler();
    b.loadStateDict(state);
    expect(await b.stateDict()).toEqual(await a.stateDict());
    for (const s of [a, b]) {
      backward(s.scale(p.loss()));
      await stepTaken(s, opt);
      s.update();
      opt.zeroGrad();
    }
    expect(await b.getScale()).toBe(4096);
    expect(await a.getScale()).toBe(4096);
    expect(() => b.loadStateDict({ ...state, backoffFactor: 2 })).toThrow('backoffFactor must be in (0, 1)');
    expect(() => b.loadStateDict({ scale: 1 } as GradScalerState)).toThrow('missing or non-numeric growthFactor, backoffFactor, growthInterval, growthTracker');
    opt.dispose(); p.dispose();
  });

  it('unscale once per optimizer and update (a step before step(), as before clipping; twice is refused), update needs an unscale or a step', async () => {
    const p = problem();
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 1e-3 });
    expect(() => scaler.update()).toThrow('no unscale() or step() was recorded');
    backward(scaler.scale(p.loss()));
    scaler.unscale(opt);
    const unscaled = await values(p.w.grad!);
    expect(() => scaler.unscale(opt)).toThrow('already called');
    expect(await stepTaken(scaler, opt)).toBe(true);
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
      const stepped = await stepTaken(scaler, opt);
      scaler.update();
      opt.zeroGrad();
      return stepped;
    };
    await step(1);
    const live = memory(backend).liveTensors;
    expect([await step(1), await step(1e6), await step(1)]).toEqual([true, false, true]);
    expect(memory(backend).liveTensors).toBe(live);
    expect(await scaler.getScale()).toBe(32768);
    opt.dispose(); p.dispose(); scaler.dispose();
  });
});

it('an optimizer whose parameters have no gradient: nothing non-finite is found, the step is taken (as PyTorch)', async () => {
  const w = Parameter.fromHost([1, 2], [2], { backend: cpu });
  const opt = new SGD([w], { lr: 1 });
  const scaler = new GradScaler();
  expect(await stepTaken(scaler, opt)).toBe(true);
  scaler.update();
  expect(await values(w)).toEqual([1, 2]);
  opt.dispose(); w.dispose();
});

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('GradScaler with SGD on %s', (_name, get) => {
  it('step() reads nothing back: the skip is decided on the device', async () => {
    const backend = await get();
    const p = problem(backend);
    const scaler = new GradScaler();
    const opt = new SGD([p.w], { lr: 1e-3, momentum: 0.9 });
    tidy(() => backward(scaler.scale(p.loss(1e6))));
    const read = vi.spyOn(backend, 'read');
    const foundInf = await scaler.step(opt);
    scaler.update();
    expect(read).not.toHaveBeenCalled();
    read.mockRestore();
    expect(await values(foundInf)).toEqual([1]);
    expect(await scaler.getScale()).toBe(32768);
    foundInf.dispose(); opt.dispose(); p.dispose(); scaler.dispose();
  });

  it('bit for bit as the host-decided scaler (the previous implementation): weights, momentum, scales and growth count over steps with injected NaN and ±Inf, the first one skipped', async () => {
    const backend = await get();
    const sizes = [37, 300, 5];
    // the value put into a gradient at each iteration (null: none)
    const injected = [Infinity, null, null, NaN, null, null, null, -Infinity, null, null, null, null];
    for (const [nesterov, weightDecay] of [[false, 0], [true, 1e-2]] as const) {
      const make = () => sizes.map((n, k) => Parameter.fromHost(randomArray(n, 10 + k), [n], { backend }));
      const ours = make(), theirs = make();
      const options = { lr: 0.05, momentum: 0.9, nesterov, weightDecay };
      const optOurs = new SGD(ours, options), optTheirs = new SGD(theirs, options);
      const scaler = new GradScaler({ initScale: 1024, growthInterval: 3 });
      let scale = 1024, tracker = 0;
      const scales: number[] = [];
      for (let t = 0; t < injected.length; t++) {
        // the gradients of a backward from the loss × s
        const scaled = (s: number) => sizes.map((n, k) => {
          const g = randomArray(n, 100 * t + k).map((v) => v * s);
          if (injected[t] !== null && k === 1) g[t % n] = injected[t]!;
          return g;
        });
        const ourGrads = scaled(await scaler.getScale());
        ours.forEach((p, k) => { p.grad = fromArray(ourGrads[k]!, [sizes[k]!], { backend }); });
        (await scaler.step(optOurs)).dispose();
        scaler.update();
        optOurs.zeroGrad();

        const theirGrads = scaled(scale), inverse = Math.fround(1 / scale);
        theirs.forEach((p, k) => { p.grad = noGrad(() => tidy(() => mulScalar(fromArray(theirGrads[k]!, [sizes[k]!], { backend }), inverse))); });
        const finite = (await Promise.all(theirs.map((p) => values(p.grad!)))).every((g) => g.every(Number.isFinite));
        if (finite) optTheirs.step();
        if (!finite) { scale = Math.fround(scale * 0.5); tracker = 0; }
        else if (++tracker === 3) { scale = Math.fround(scale * 2); tracker = 0; }
        optTheirs.zeroGrad();
        scales.push(await scaler.getScale());
        expect(scales[t]).toBe(scale);
      }
      expect(scales).toEqual([512, 512, 512, 256, 256, 256, 512, 256, 256, 256, 512, 512]);
      expect((await scaler.stateDict()).growthTracker).toBe(tracker);
      const bits = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(await t.toArray()).buffer));
      for (let k = 0; k < sizes.length; k++) expect(await bits(ours[k]!), `weight ${k}`).toEqual(await bits(theirs[k]!));
      const a = optOurs.stateDict().tensors, b = optTheirs.stateDict().tensors;
      for (let k = 0; k < sizes.length; k++) {
        const key = `state.${k}.momentum_buffer`;
        expect(await bits(a.get(key)!), key).toEqual(await bits(b.get(key)!));
      }
      for (const t of [...a.values(), ...b.values()]) t.dispose();
      for (const x of [optOurs, optTheirs, scaler, ...ours, ...theirs]) x.dispose();
    }
  });
});

it('an optimizer without a device-side skip is stepped after the flag is read back: skipped on an overflow, else taken', async () => {
  const p = problem();
  const scaler = new GradScaler();
  const opt = hostDecided(new Adam([p.w], { lr: 1e-3 }));
  const w0 = await values(p.w);
  backward(scaler.scale(p.loss(1e6)));
  expect(await stepTaken(scaler, opt)).toBe(false);
  scaler.update();
  opt.zeroGrad();
  expect(await values(p.w)).toEqual(w0);
  expect(opt.stateDict().scalars).toEqual({});
  backward(scaler.scale(p.loss()));
  expect(await stepTaken(scaler, opt)).toBe(true);
  scaler.update();
  expect(await values(p.w)).not.toEqual(w0);
  expect(opt.stateDict().scalars).toEqual({ 'state.0.step': 1 });
  opt.dispose(); p.dispose(); scaler.dispose();
});

it('SGD with dampening refuses to skip its first momentum step on the device (it would have to know whether it is the first)', async () => {
  const p = problem();
  const scaler = new GradScaler();
  const opt = new SGD([p.w], { lr: 1e-3, momentum: 0.9, dampening: 0.1 });
  backward(scaler.scale(p.loss()));
  await expect(scaler.step(opt)).rejects.toThrow("SGD.stepUnlessFoundInf: parameter 0's first momentum step with dampening 0.1 cannot be skipped on the device");
  opt.dispose(); p.dispose(); scaler.dispose();
});

it('on WebGPU a step of 20 parameters takes 6 + ⌈20 / SGD\'s parameters per dispatch⌉ dispatches: the flag, 3 unscales of 8, the SGD steps, the update', async () => {
  const g = await webgpu() as WebGPUBackend;
  const params = Array.from({ length: 20 }, (_, k) => Parameter.fromHost(randomArray(50 + k, k), [50 + k], { backend: g }));
  const opt = new SGD(params, { lr: 1e-3, momentum: 0.9 });
  const scaler = new GradScaler();
  const iterate = async () => {
    for (const [k, p] of params.entries()) p.grad = fromArray(randomArray(50 + k, 100 + k), [50 + k], { backend: g });
    const d0 = g.rt.dispatchCount;
    (await scaler.step(opt)).dispose();
    scaler.update();
    opt.zeroGrad();
    return g.rt.dispatchCount - d0;
  };
  // the first step also fills the momentum buffers with zeros
  expect(await iterate()).toBeGreaterThan(20);
  const perDispatch = Math.min(8, Math.floor((g.rt.limits.maxStorageBuffersPerShaderStage - 1) / 3));
  expect(await iterate()).toBe(1 + 3 + Math.ceil(20 / perDispatch) + 1);
  opt.dispose(); scaler.dispose();
  for (const p of params) p.dispose();
});
