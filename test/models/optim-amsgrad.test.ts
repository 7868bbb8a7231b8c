import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { Adam, AdamW, Parameter, type Optimizer } from '../../src/models/index.js';
import { fromArray, keep, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * Adam and AdamW with amsgrad against numbers worked out from torch/optim/adam.py's single-tensor formula:
 * exp_avg_sq as without it, then `torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)` (from zeros) and
 * denom = √max_exp_avg_sq / √(1 − β₂ᵗ) + ε; lr 0.1, betas (0.9, 0.999), w = [1, −2]. The gradients shrink, so that
 * exp_avg_sq falls below its maximum (element 0 at steps 2 and 3, element 1 at step 2), then grows again (element 1).
 */

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];
const GRADS = [[1, -2], [0.01, 0.02], [0.01, 3]];
/** max_exp_avg_sq after each step: v₁ = 0.001·g², then the maximum of it and v_t = 0.999·v + 0.001·g² (v₂ = 0.0009991 and 0.0039964, below) */
const MAX_V = [[0.001, 0.004], [0.001, 0.004], [0.001, 0.0129924036]];
/** w after each step (Adam, no weight decay); without amsgrad: 0.8322530580, −1.8337420009 at step 2; 0.7792477091, −1.8585183077 at 3 */
const ADAM = [[0.900000001, -1.9000000005], [0.8322835510128204, -1.8337718236707254], [0.7793259045394781, -1.8585481305068157]];
/** AdamW, weight decay 0.5: w·(1 − 0.05) first */
const ADAMW = [[0.850000001, -1.8000000005], [0.7397835509628203, -1.6437718236457253], [0.6498367269413371, -1.586359539299529]];

/** steps of `make`'s optimizer with GRADS; `skipped` steps (through stepUnlessFoundInf, the flag set) come before the step they name */
async function run(backend: Backend, make: (p: Parameter) => Optimizer, options: { viaFlag?: boolean; skipped?: number[] } = {}) {
  const p = Parameter.fromHost([1, -2], [2], { backend }), opt = make(p);
  const flags = [0, 1].map((v) => keep(fromArray([v], [1], { backend })));
  const setGrad = (g: number[]) => { p.grad?.dispose(); p.grad = keep(fromArray(g, [2], { backend })); };
  const w: number[][] = [], maxV: number[][] = [];
  for (const [s, g] of GRADS.entries()) {
    if (options.skipped?.includes(s)) {
      setGrad([Infinity, 5]);
      opt.stepUnlessFoundInf!(flags[1]!);
    }
    setGrad(g);
    if (options.viaFlag) opt.stepUnlessFoundInf!(flags[0]!);
    else opt.step();
    w.push([...await p.toArray()]);
    const max = opt.stateDict().tensors.get('state.0.max_exp_avg_sq');
    maxV.push(max ? [...await max.toArray()] : []);
  }
  const state = opt.stateDict();
  const result = { w, maxV, keys: [...state.tensors.keys()], hyper: state.hyper };
  opt.dispose();
  for (const x of [p, ...flags]) x.dispose();
  return result;
}

describe.each(backends)('amsgrad on %s', (_name, get) => {
  it('Adam: three steps as PyTorch\'s formula, max_exp_avg_sq the running maximum; AdamW likewise', async () => {
    const backend = await get();
    const adam = await run(backend, (p) => new Adam([p], { lr: 0.1, amsgrad: true }));
    adam.w.forEach((w, s) => expectClose(w, ADAM[s]!, 1e-6, 1e-5, `Adam step ${s + 1}`));
    adam.maxV.forEach((v, s) => expectClose(v, MAX_V[s]!, 1e-9, 1e-6, `max_exp_avg_sq after step ${s + 1}`));
    expect(adam.keys).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq', 'state.0.max_exp_avg_sq']);
    expect(adam.hyper.amsgrad).toBe(true);
    // without amsgrad: no max_exp_avg_sq, and from the second step on other numbers (3e-5 away, beyond the tolerance)
    const plain = await run(backend, (p) => new Adam([p], { lr: 0.1 }));
    expect(plain.keys).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq']);
    expectClose(plain.w[0]!, ADAM[0]!, 1e-6, 1e-5, 'Adam without amsgrad, step 1');
    expect(() => expectClose(plain.w[1]!, ADAM[1]!, 1e-6, 1e-5)).toThrow();
    const adamW = await run(backend, (p) => new AdamW([p], { lr: 0.1, weightDecay: 0.5, amsgrad: true }));
    adamW.w.forEach((w, s) => expectClose(w, ADAMW[s]!, 1e-6, 1e-5, `AdamW step ${s + 1}`));
  });

  it('through stepUnlessFoundInf (GradScaler\'s device path): the same numbers, and a step skipped by the flag changes nothing', async () => {
    const backend = await get();
    const viaFlag = await run(backend, (p) => new Adam([p], { lr: 0.1, amsgrad: true }), { viaFlag: true, skipped: [0, 2] });
    viaFlag.w.forEach((w, s) => expectClose(w, ADAM[s]!, 1e-6, 1e-5, `step ${s + 1}, on the device`));
    viaFlag.maxV.forEach((v, s) => expectClose(v, MAX_V[s]!, 1e-9, 1e-6, `max_exp_avg_sq after step ${s + 1}, on the device`));
  });
});

describe('amsgrad state', () => {
  const make = (amsgrad: boolean, w: ArrayLike<number> = [1, -2]) => {
    const p = Parameter.fromHost(w, [2], { backend: cpu });
    return { p, opt: new Adam([p], { lr: 0.1, amsgrad }) };
  };
  const step = (x: { p: Parameter; opt: Adam }, g: number[]) => { x.p.grad?.dispose(); x.p.grad = keep(fromArray(g, [2], { backend: cpu })); x.opt.step(); };
  const values = async (t: Tensor | Parameter) => [...await t.toArray()];

  it('a fresh optimizer loaded from the state continues bit for bit', async () => {
    const a = make(true);
    step(a, GRADS[0]!);
    step(a, GRADS[1]!);
    const b = make(true, await a.p.toArray());
    b.opt.loadStateDict(a.opt.stateDict());
    step(a, GRADS[2]!);
    step(b, GRADS[2]!);
    expect(await values(b.p)).toEqual(await values(a.p));
    expect(await values(b.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!)).toEqual(await values(a.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!));
    for (const x of [a, b]) { x.opt.dispose(); x.p.dispose(); }
  });

  it('a state saved without amsgrad loads as PyTorch\'s (amsgrad comes off with its hyperparameters); one whose hyperparameters lack amsgrad, without max_exp_avg_sq, is refused, changing nothing', async () => {
    const plain = make(false), ams = make(true);
    step(plain, GRADS[0]!);
    step(ams, GRADS[1]!);
    const old = plain.opt.stateDict();
    const { amsgrad: _, ...hyperBefore } = old.hyper;
    const before = { state: await values(ams.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!), hyper: ams.opt.stateDict().hyper };
    expect(() => ams.opt.loadStateDict({ ...old, hyper: hyperBefore })).toThrow('Adam.loadStateDict: parameter 0 has no max_exp_avg_sq, which amsgrad needs');
    expect({ state: await values(ams.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!), hyper: ams.opt.stateDict().hyper }).toEqual(before);
    const own = ams.opt.stateDict(), alone = new Map([['state.0.max_exp_avg_sq', own.tensors.get('state.0.max_exp_avg_sq')!]]);
    expect(() => ams.opt.loadStateDict({ ...own, tensors: alone })).toThrow('Adam.loadStateDict: parameter 0 has a max_exp_avg_sq without exp_avg and exp_avg_sq');
    expect({ state: await values(ams.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!), hyper: ams.opt.stateDict().hyper }).toEqual(before);
    ams.opt.loadStateDict(old);
    expect(ams.opt.paramGroups[0]!.amsgrad).toBe(false);
    expect(ams.opt.stateDict().tensors.has('state.0.max_exp_avg_sq')).toBe(false);
    // and the other way: an amsgrad state turns amsgrad on, its max_exp_avg_sq with it
    const other = make(true);
    step(other, GRADS[0]!);
    plain.opt.loadStateDict(other.opt.stateDict());
    expect(plain.opt.paramGroups[0]!.amsgrad).toBe(true);
    expect(await values(plain.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!)).toEqual(await values(other.opt.stateDict().tensors.get('state.0.max_exp_avg_sq')!));
    other.opt.dispose();
    other.p.dispose();
    for (const x of [plain, ams]) { x.opt.dispose(); x.p.dispose(); }
  });
});
