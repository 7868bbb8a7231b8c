import { describe, expect, it, vi } from 'vitest';
import { Adam, AdamW, GradScaler, Parameter, RMSprop, type Optimizer } from '../../src/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { fromArray, keep, memory, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { hostDecided } from '../helpers/host-decided.js';

/** GradScaler with Adam, AdamW and RMSprop: the skip decided on the device, as with SGD (grad-scaler.test.ts). */

const optimizers: [string, (ps: Parameter[]) => Optimizer][] = [
  ['Adam', (ps) => new Adam(ps, { lr: 1e-2, weightDecay: 1e-2 })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-2 })],
  ['Adam amsgrad', (ps) => new Adam(ps, { lr: 1e-2, amsgrad: true })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 1e-2, momentum: 0.9, centered: true })],
];
const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];
const values = async (t: Tensor) => Array.from(await t.toArray());
const sizes = [37, 300, 5];

/** the gradients of a backward from the loss × scale at iteration t, `injected` put into the second one */
function setScaledGrads(params: readonly Parameter[], t: number, scale: number, injected: number | null): void {
  params.forEach((p, k) => {
    const g = randomArray(sizes[k]!, 100 * t + k).map((v) => v * scale);
    if (injected !== null && k === 1) g[t % sizes[k]!] = injected;
    p.grad?.dispose();
    p.grad = keep(fromArray(g, [sizes[k]!], { backend: p.backend }));
  });
}

describe.each(backends)('GradScaler with Adam, AdamW and RMSprop on %s', (_name, get) => {
  it.each(optimizers)('%s: step() and update() read nothing back and wait for nothing', async (_n, make) => {
    const backend = await get();
    const params = sizes.map((n, k) => Parameter.fromHost(randomArray(n, k), [n], { backend }));
    const opt = make(params), scaler = new GradScaler();
    const waits = [vi.spyOn(backend, 'read'), vi.spyOn(backend, 'sync')];
    const flags: Tensor[] = [];
    for (const [t, injected] of [null, Infinity, null].entries()) {
      setScaledGrads(params, t, 65536, injected);
      flags.push((await scaler.step(opt)).detach()); // the scaler frees its flag at the next step: a view of our own
      scaler.update();
      opt.zeroGrad();
    }
    for (const wait of waits) {
      expect(wait).not.toHaveBeenCalled();
      wait.mockRestore();
    }
    expect(await Promise.all(flags.map(async (f) => (await values(f))[0]))).toEqual([0, 1, 0]);
    expect(await scaler.getScale()).toBe(32768);
    for (const x of [...flags, opt, scaler, ...params]) x.dispose();
  });

  it.each(optimizers)('%s: over steps with injected NaN and ±Inf (the first skipped) as the host-reading path, within float32 rounding; no tensor left behind', async (name, make) => {
    const backend = await get();
    const injected = [Infinity, null, null, NaN, null, null, null, -Infinity, null, null];
    const create = () => sizes.map((n, k) => Parameter.fromHost(randomArray(n, 10 + k), [n], { backend }));
    const ours = create(), theirs = create();
    const optOurs = make(ours), optTheirs = hostDecided(make(theirs));
    const scalerOurs = new GradScaler({ initScale: 1024, growthInterval: 3 }), scalerTheirs = new GradScaler({ initScale: 1024, growthInterval: 3 });
    let live = 0;
    const taken: boolean[] = [];
    for (let t = 0; t < injected.length; t++) {
      for (const [params, scaler, opt] of [[ours, scalerOurs, optOurs], [theirs, scalerTheirs, optTheirs]] as const) {
        setScaledGrads(params, t, await scaler.getScale(), injected[t]!);
        const flag = await scaler.step(opt);
        if (opt === optOurs) taken.push((await values(flag))[0] === 0);
        flag.dispose();
        scaler.update();
        opt.zeroGrad();
      }
      expect(await scalerOurs.getScale()).toBe(await scalerTheirs.getScale());
      // from the second iteration on (both optimizers have stepped and made their state), nothing is left behind
      if (t === 1) live = memory(backend).liveTensors;
      else if (t > 1) expect(memory(backend).liveTensors).toBe(live);
    }
    expect(taken).toEqual(injected.map((v) => v === null));
    const a = optOurs.stateDict(), b = optTheirs.stateDict();
    for (const [k, p] of ours.entries()) {
      // RMSprop: the same tensor ops either way; Adam/AdamW: float32 bias corrections on the device (see optim-device-steps.test.ts)
      if (name === 'RMSprop') expect(await values(p), `parameter ${k}`).toEqual(await values(theirs[k]!));
      else expectClose(await p.toArray(), await theirs[k]!.toArray(), 1e-7, 1e-6, `parameter ${k}`);
      const steps = await values(a.tensors.get(`state.${k}.step`)!);
      expect(steps, `step count ${k}`).toEqual([b.scalars[`state.${k}.step`]]);
    }
    for (const t of [...a.tensors.values(), ...b.tensors.values()]) t.dispose();
    for (const x of [optOurs, optTheirs, scalerOurs, scalerTheirs, ...ours, ...theirs]) x.dispose();
  });
});
