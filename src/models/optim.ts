import type { AdamDeviceSteps, AdamItem, RmspropItem, SgdItem, Storage } from '../kernels/backend.js';
import { keep } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Parameter } from './module.js';

/**
 * Optimizers as PyTorch's, with parameter groups: each step is fused backend kernels updating the parameters and
 * their state in place, one call per group (`sgdSteps`, `adamSteps`, `rmspropSteps`: a dispatch updates several
 * parameters). Parameters without a gradient are skipped. All four skip a step on the device when given a found-inf
 * flag (`stepUnlessFoundInf`).
 *
 * Parameter groups (PyTorch's `[{ params, lr }, …]` form): the constructor takes either parameters or groups,
 * each group overriding any of the options given as defaults. `paramGroups[k]` holds each group's
 * hyperparameters (set them between steps) and its `initialLr`. `lr` reads the first group's and, set, sets
 * every group's (one value for all, as a training loop with one group does); `scaleLr(f)` sets each group's to
 * f·initialLr (PyTorch's LambdaLR, so that a schedule keeps the ratio between groups).
 *
 * State (PyTorch's layout): per parameter index i (counted through the groups in order), tensors
 * `state.<i>.momentum_buffer` (SGD), `state.<i>.exp_avg`, `state.<i>.exp_avg_sq`, `state.<i>.max_exp_avg_sq` (Adam,
 * amsgrad), `state.<i>.square_avg`,
 * `state.<i>.momentum_buffer`, `state.<i>.grad_avg` (RMSprop) and the scalar `state.<i>.step`; hyperparameters
 * in `hyper` (the first group's under their names, group k ≥ 1's as `group.<k>.<name>`). `stateDict()` returns
 * borrowed views (as Module.stateDict: nothing to free; they follow the optimizer's updates and are an error to use
 * once it is disposed or has loaded another state in their place); `loadStateDict` checks the whole state against the
 * parameters before it copies anything (a refused state leaves the optimizer as it was). Once Adam or RMSprop has stepped on the device
 * (`stepUnlessFoundInf`), its step counts live there and `state.<i>.step` is a float32 [] tensor (PyTorch's
 * capturable state), read back only when the holder reads it; loading a state with such tensors keeps them there.
 */

export interface OptimizerState {
  type: 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';
  hyper: Record<string, number | boolean>;
  /** per-parameter tensors keyed `state.<i>.<name>` (stateDict(): borrowed views, nothing to free) */
  tensors: Map<string, Tensor>;
  /** per-parameter scalars keyed `state.<i>.<name>` */
  scalars: Record<string, number>;
}

export interface Optimizer {
  /** the first group's learning rate; setting it sets every group's */
  lr: number;
  /** every parameter, the groups' in order */
  readonly params: readonly Parameter[];
  readonly paramGroups: readonly ParamGroup<{ lr: number }>[];
  /** each group's lr ← factor · its initialLr */
  scaleLr(factor: number): void;
  step(): void;
  /**
   * step() unless `foundInf` (a float32 [1] flag of GradScaler.unscale: 1 when a gradient is NaN or Inf) is set,
   * decided on the device, so that the host does not wait for the flag (PyTorch's fused optimizers' found_inf).
   * Optimizers without it are stepped by GradScaler after it reads the flag back.
   */
  stepUnlessFoundInf?(foundInf: Tensor): void;
  /** drops every parameter's gradient (set_to_none) */
  zeroGrad(): void;
  /** the state as borrowed views (nothing to free), PyTorch's layout (see the file's comment) */
  stateDict(): OptimizerState;
  /** copies a state in; changes nothing when it throws (loadTrainingCheckpoint's all-or-nothing load relies on it) */
  loadStateDict(state: OptimizerState): void;
  /** frees the optimizer's state tensors; a later step starts from a fresh state (step counts at 0) */
  dispose(): void;
}

/** the parameter's gradient, checked to match it */
function checkedGrad(p: Parameter, index: number): Tensor {
  const g = p.grad!;
  if (!sameShape(g.shape, p.shape) || g.dtype !== p.dtype || g.backend !== p.backend) {
    throw new Error(`optimizer: parameter ${index} ${formatShape(p.shape)} ${p.dtype} has a gradient ${formatShape(g.shape)} ${g.dtype} on ${g.backend.name}`);
  }
  return g;
}

/**
 * A fused optimizer step: one call of `run` per parameter group and backend with the `item`s of the group's
 * parameters that have a gradient (given as a storage of exactly the parameter's size, negated when the group
 * maximizes); `counted` gets their indices once the group's calls succeed, and temporary gradient copies are
 * freed whatever happens.
 */
function fusedSteps<H extends { params: readonly Parameter[]; maximize: boolean }, Item>(
  groups: readonly H[], counted: (stepped: readonly number[]) => void,
  item: (p: Parameter, index: number, grad: Storage, group: H) => Item,
  run: (backend: Parameter['backend'], items: Item[], group: H) => void,
): void {
  let i = 0;
  for (const h of groups) {
    const items = new Map<Parameter['backend'], Item[]>();
    const stepped: number[] = [];
    const temps: { backend: Parameter['backend']; storage: Storage }[] = [];
    try {
      for (const p of h.params) {
        const index = i++;
        if (!p.grad) continue;
        const g = gradStorage(p, index, h.maximize);
        if (g.temp) temps.push({ backend: p.backend, storage: g.storage });
        let list = items.get(p.backend);
        if (!list) items.set(p.backend, list = []);
        list.push(item(p, index, g.storage, h));
        stepped.push(index);
      }
      for (const [backend, list] of items) run(backend, list, h);
      counted(stepped);
    } finally {
      for (const t of temps) t.backend.free(t.storage);
    }
  }
}

/**
 * the gradient as a storage of exactly the parameter's size (a temporary copy when it is a view); with `negate`
 * (maximize) a temporary −g, as PyTorch's `grad = -grads[i]` before weight decay and momentum: one more dispatch
 * per parameter, and the step kernels unchanged
 */
function gradStorage(p: Parameter, index: number, negate: boolean): { storage: Storage; temp: boolean } {
  const g = checkedGrad(p, index);
  if (negate) return { storage: g.backend.unary('neg', g.view), temp: true };
  if (g.isDense) return { storage: g.storage, temp: false };
  return { storage: g.backend.copy(g.view), temp: true };
}

/** counts each stepped parameter's step on the host */
const countOn = (steps: number[]) => (stepped: readonly number[]): void => { for (const i of stepped) steps[i]++; };

/** a found-inf flag's checks: dense, one element, on the backend of every parameter */
function checkFlag(who: string, foundInf: Tensor, params: readonly Parameter[]): void {
  if (!foundInf.isDense || foundInf.numel() !== 1) throw new Error(`${who}: the found-inf flag must be a dense one-element tensor`);
  const other = params.findIndex((p) => p.backend !== foundInf.backend);
  if (other >= 0) throw new Error(`${who}: parameter ${other} is on the ${params[other]!.backend.name} backend, the found-inf flag on ${foundInf.backend.name}`);
}

/**
 * Step counts that live on the device (PyTorch's capturable state['step'], float32), one per parameter, for steps
 * decided there: a step adds 1 − found_inf to the counts of the parameters it updates (PyTorch's steps += 1, then
 * −= found_inf), so that a skipped step is not counted and nothing is read back.
 */
class DeviceStepCounts {
  readonly counts: Tensor;

  constructor(backend: Parameter['backend'], values: readonly number[]) {
    this.counts = keep(Tensor.fromStorage(backend, backend.upload(Float32Array.from(values), 'float32'), [values.length]));
  }

  /** counts[i] += 1 − found_inf (1 without a flag) for each i in `stepped`: one kernel (advanceStepCounts) */
  private advance(stepped: readonly number[], foundInf: Tensor | null): void {
    if (stepped.length === 0) return;
    const backend = this.counts.backend;
    const indices = stepped.length < this.counts.shape[0]! ? backend.upload(Int32Array.from(stepped), 'int32') : null;
    try {
      backend.advanceStepCounts(this.counts.storage, indices, foundInf?.storage);
    } finally {
      if (indices) backend.free(indices);
    }
  }

  /**
   * runs a step's groups, `step` told each group's stepped parameters through `counted`, then advances them all in
   * one kernel (those of the groups stepped before one that throws too)
   */
  advanceAfter(foundInf: Tensor | null, step: (counted: (stepped: readonly number[]) => void) => void): void {
    const stepped: number[] = [];
    try {
      step((indices) => { stepped.push(...indices); });
    } finally {
      this.advance(stepped, foundInf);
    }
  }

  /** parameter i's count as a float32 [] borrowed view (nothing to free) */
  view(i: number): Tensor {
    const owned = this.counts.viewAs([], [], i, false);
    const view = owned.borrow();
    owned.dispose();
    return view;
  }

  dispose(): void { this.counts.dispose(); }
}

/**
 * the step counts of a loaded (checked) state: host numbers from its scalars, and device counts (made on the backend
 * of the first) when any `state.<i>.step` is a tensor
 */
function loadSteps(state: OptimizerState, params: readonly Parameter[]): { steps: number[]; device: DeviceStepCounts | null } {
  const steps = params.map((_, i) => state.scalars[`state.${i}.step`] ?? 0);
  const tensors = params.map((_, i) => state.tensors.get(`state.${i}.step`));
  const first = tensors.find((t) => t !== undefined);
  if (!first) return { steps, device: null };
  const device = new DeviceStepCounts(first.backend, steps);
  tensors.forEach((t, i) => { if (t) copyState(device.view(i), t); });
  return { steps, device };
}

/** throws when `src` cannot be loaded as the state entry `key` of a tensor of `shape` on `backend` of `dtype` */
function checkStateTensor(key: string, src: Tensor, shape: readonly number[], backend: Parameter['backend'], dtype: Tensor['dtype']): void {
  const problem = !(src instanceof Tensor) ? 'not a Tensor'
    : !sameShape(shape, src.shape) ? `shape ${formatShape(src.shape)}, parameter ${formatShape(shape)}`
      : src.backend !== backend ? `on the ${src.backend.name} backend, the parameter on ${backend.name}`
        : (src.dtype === 'int32') !== (dtype === 'int32') ? `dtype ${src.dtype}, parameter ${dtype}`
          : null;
  if (problem) throw new Error(`optimizer state ${key}: ${problem}`);
}

function zeroGrads(params: readonly Parameter[]): void {
  for (const p of params) if (p.grad) { p.grad.dispose(); p.grad = null; }
}

function stateTensor(p: Parameter, fillZero: boolean): Tensor {
  const s = fillZero ? p.backend.fill(p.numel(), 0, p.dtype) : p.backend.alloc(p.numel(), p.dtype);
  return keep(Tensor.fromStorage(p.backend, s, p.shape));
}

function uniqueParams(params: Iterable<Parameter>, who: string): Parameter[] {
  const list = [...params];
  // PyTorch's "optimizer got an empty parameter list": a module whose layers were never registered has none
  if (list.length === 0) throw new Error(`${who}: got an empty parameter list`);
  if (new Set(list).size !== list.length) throw new Error(`${who}: a parameter appears twice in the list`);
  for (const p of list) {
    if (!p.isDense) {
      throw new Error(`${who}: ${p} does not own a contiguous storage of its size (use Parameter)`);
    }
  }
  return list;
}

/** dst ← src, cast to dst's dtype (checked before: same shape and backend) */
function copyState(dst: Tensor, src: Tensor): void {
  const v = src.dtype === dst.dtype ? src.view : null;
  if (v) dst.backend.copyInto(dst.view, v);
  else {
    const c = src.backend.cast(src.view, dst.dtype);
    dst.backend.copyInto(dst.view, { storage: c, shape: dst.shape, strides: dst.strides, offset: 0 });
    src.backend.free(c);
  }
}

// ------------------------------------------------------------------------------------- parameter groups

/** a parameter group as given to a constructor: its parameters and any options that differ from the defaults */
export type ParamGroupInput<O> = { params: Iterable<Parameter> } & Partial<O>;

/** a parameter group of a constructed optimizer: its parameters, its hyperparameters, and its initial lr */
/** `initialLr`: the lr given at construction, then the first lr scheduler's base lr (PyTorch's `initial_lr`) */
export type ParamGroup<H> = H & { readonly params: readonly Parameter[]; initialLr: number };

type HyperValue = number | boolean;

/**
 * What SGD, Adam and RMSprop share: the groups, lr and scaleLr, and the hyperparameters in the state dict. H holds
 * one group's hyperparameters; `names` maps each to its state-dict name (PyTorch's).
 */
abstract class GroupedOptimizer<H extends { lr: number; weightDecay: number; maximize: boolean }> implements Optimizer {
  readonly params: Parameter[];
  readonly paramGroups: ParamGroup<H>[];

  protected constructor(readonly type: OptimizerState['type'], params: Iterable<Parameter> | readonly ParamGroupInput<H>[],
    defaults: H, private readonly names: { readonly [K in keyof H]: string }) {
    const list = [...params] as (Parameter | ParamGroupInput<H>)[];
    const isGroup = (x: Parameter | ParamGroupInput<H>): x is ParamGroupInput<H> => !(x instanceof Tensor);
    let inputs: ParamGroupInput<H>[];
    if (list.length > 0 && list.every(isGroup)) inputs = list;
    else if (list.some(isGroup)) throw new Error(`${type}: give either parameters or parameter groups ({ params, … }), not both`);
    else inputs = [{ params: list as Parameter[] } as unknown as ParamGroupInput<H>];
    this.paramGroups = inputs.map((g, k) => {
      const { params: groupParams, ...overrides } = g;
      for (const key of Object.keys(overrides)) {
        if (!(key in defaults)) throw new Error(`${type}: parameter group ${k} has an unknown option '${key}'; valid: ${Object.keys(defaults).join(', ')}`);
      }
      const hyper = { ...defaults, ...(overrides as unknown as Partial<H>) };
      return { ...hyper, params: [...groupParams], initialLr: hyper.lr };
    });
    this.params = uniqueParams(this.paramGroups.flatMap((g) => g.params), type);
    this.paramGroups.forEach((g, k) => this.validate(g, k));
  }

  /**
   * throws naming the group when a hyperparameter is invalid: the learning rate and weight decay as every PyTorch
   * optimizer (Invalid learning rate / Invalid weight_decay value), then the optimizer's own
   */
  protected validate(g: H, index: number): void {
    const at = this.paramGroups.length > 1 ? ` (group ${index})` : '';
    if (!(g.lr >= 0)) throw new Error(`${this.type}: invalid learning rate ${g.lr}${at}`);
    if (!(g.weightDecay >= 0)) throw new Error(`${this.type}: invalid weight decay ${g.weightDecay}${at}`);
    this.validateOwn(g, at);
  }

  /** throws when one of the optimizer's own hyperparameters is invalid; `at` names the group where there are several */
  protected abstract validateOwn(group: H, at: string): void;

  get lr(): number { return this.paramGroups[0]?.lr ?? NaN; }
  set lr(value: number) { for (const g of this.paramGroups) g.lr = value; }

  scaleLr(factor: number): void { for (const g of this.paramGroups) g.lr = factor * g.initialLr; }

  abstract step(): void;

  zeroGrad(): void { zeroGrads(this.params); }

  abstract stateDict(): OptimizerState;
  abstract loadStateDict(state: OptimizerState): void;
  abstract dispose(): void;

  protected hyperState(): Record<string, HyperValue> {
    const hyper: Record<string, HyperValue> = {};
    this.paramGroups.forEach((g, k) => {
      for (const key of Object.keys(this.names) as (keyof H & string)[]) {
        hyper[k === 0 ? this.names[key] : `group.${k}.${this.names[key]}`] = g[key] as HyperValue;
      }
    });
    return hyper;
  }

  /**
   * Checks the whole state against this optimizer, changing nothing (its type, its entries' names, each tensor's
   * shape, backend and kind of dtype against its parameter's, a step count's as a float32 [] tensor on the backend of
   * the first, and the hyperparameters it sets), and applies its hyperparameters once all pass; the caller then
   * copies the tensors, which cannot fail.
   */
  protected checkAndLoadHyper(state: OptimizerState, allowed: readonly string[]): void {
    const who = `${this.type}.loadStateDict`;
    if (state.type !== this.type) throw new Error(`${who}: the state is of a ${state.type} optimizer`);
    const n = this.params.length;
    let stepBackend: Parameter['backend'] | null = null;
    for (const key of [...state.tensors.keys(), ...Object.keys(state.scalars)]) {
      const m = /^state\.(\d+)\.(\w+)$/.exec(key);
      if (!m || Number(m[1]) >= n || !allowed.includes(m[2])) {
        throw new Error(`${who}: unexpected state entry '${key}' for ${n} parameters`);
      }
      const src = state.tensors.get(key), p = this.params[Number(m[1])]!;
      if (!src) continue;
      if (m[2] === 'step') checkStateTensor(key, src, [], stepBackend ??= src.backend, 'float32');
      else checkStateTensor(key, src, p.shape, p.backend, p.dtype);
    }
    for (const key of Object.keys(state.hyper)) {
      const m = /^group\.(\d+)\./.exec(key);
      if (m && Number(m[1]) >= this.paramGroups.length) {
        throw new Error(`${who}: hyperparameter '${key}' names a group this optimizer lacks (it has ${this.paramGroups.length})`);
      }
    }
    const groups = this.paramGroups.map((g, k) => {
      const h = { ...g } as H;
      for (const key of Object.keys(this.names) as (keyof H & string)[]) {
        const v = state.hyper[k === 0 ? this.names[key] : `group.${k}.${this.names[key]}`];
        if (typeof v === typeof g[key]) h[key] = v as H[typeof key];
      }
      this.hyperFromState(state, k === 0 ? '' : `group.${k}.`, h);
      this.validate(h, k);
      return h;
    });
    this.checkSlots(state, groups);
    this.paramGroups.forEach((g, k) => {
      for (const key of Object.keys(this.names) as (keyof H & string)[]) (g as H)[key] = groups[k]![key];
    });
  }

  /** reads hyperparameters the state holds under other names than `names` (Adam's beta1, beta2) into `h` */
  protected hyperFromState(_state: OptimizerState, _prefix: string, _h: H): void {}

  /** further checks of the state's tensors against the groups' hyperparameters once loaded (Adam: exp_avg and exp_avg_sq come together) */
  protected checkSlots(_state: OptimizerState, _groups: readonly H[]): void {}
}

// --------------------------------------------------------------------------------------------- SGD

export interface SGDOptions {
  /** 1e-3 by default (PyTorch's since 2.2) */
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** ascend the objective: the gradient negated (PyTorch's maximize) */
  maximize?: boolean;
}

interface SgdHyper { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number; maximize: boolean }

/**
 * torch.optim.SGD: d = ±g + wd·w (−g with maximize); buf = d (first step) or μ·buf + (1 − τ)·d;
 * d = nesterov ? d + μ·buf : buf; w −= lr·d.
 */
export class SGD extends GroupedOptimizer<SgdHyper> {
  private buffers: (Tensor | null)[];
  private steps: number[];

  constructor(params: Iterable<Parameter> | readonly ParamGroupInput<SGDOptions>[], options: SGDOptions = {}) {
    super('SGD', params as Iterable<Parameter> | readonly ParamGroupInput<SgdHyper>[], {
      lr: options.lr ?? 1e-3, momentum: options.momentum ?? 0, dampening: options.dampening ?? 0, nesterov: options.nesterov ?? false,
      weightDecay: options.weightDecay ?? 0, maximize: options.maximize ?? false,
    }, { lr: 'lr', momentum: 'momentum', dampening: 'dampening', nesterov: 'nesterov', weightDecay: 'weight_decay', maximize: 'maximize' });
    this.buffers = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  protected validateOwn(g: SgdHyper, at: string): void {
    if (!(g.momentum >= 0)) throw new Error(`SGD: invalid momentum ${g.momentum}${at}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error(`SGD: nesterov needs momentum > 0 and dampening 0${at}`);
  }

  /** one sgdSteps call per group (and backend): a few dispatches for many parameters */
  step(): void { this.fusedStep(null); }

  /**
   * The step's kernels skip themselves when the flag is set. A new momentum buffer then starts at 0 and takes the
   * later steps' rule, which with dampening 0 is the first step's buf = d exactly (up to the sign of a zero), so
   * that a skipped first step leaves nothing to remember; with dampening ≠ 0 the first step would have to know
   * whether the earlier ones were skipped, and is refused. `state.<i>.step` counts the steps attempted.
   */
  stepUnlessFoundInf(foundInf: Tensor): void {
    checkFlag('SGD.stepUnlessFoundInf', foundInf, this.params);
    let i = 0;
    for (const h of this.paramGroups) {
      for (const p of h.params) {
        const index = i++;
        if (p.grad && h.momentum !== 0 && h.dampening !== 0 && !this.buffers[index]) {
          throw new Error(`SGD.stepUnlessFoundInf: parameter ${index}'s first momentum step with dampening ${h.dampening} cannot be skipped on the device (use dampening 0, or step after reading the flag)`);
        }
      }
    }
    this.fusedStep(foundInf);
  }

  private fusedStep(foundInf: Tensor | null): void {
    fusedSteps(this.paramGroups, countOn(this.steps), (p, index, grad, h): SgdItem => {
      let buf = this.buffers[index];
      const firstStep = h.momentum !== 0 && buf === null && foundInf === null;
      if (h.momentum !== 0 && !buf) buf = this.buffers[index] = stateTensor(p, foundInf !== null);
      return { param: p.storage, grad, momentumBuffer: buf ? buf.storage : null, firstStep };
    }, (backend, items, h) => {
      backend.sgdSteps(items, { lr: h.lr, momentum: h.momentum, dampening: h.dampening, nesterov: h.nesterov, weightDecay: h.weightDecay },
        foundInf?.storage);
    });
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    this.params.forEach((_, i) => {
      const b = this.buffers[i];
      if (b) tensors.set(`state.${i}.momentum_buffer`, b.borrow());
      if (this.steps[i] > 0) scalars[`state.${i}.step`] = this.steps[i];
    });
    return { type: 'SGD', hyper: this.hyperState(), tensors, scalars };
  }

  loadStateDict(state: OptimizerState): void {
    this.checkAndLoadHyper(state, ['momentum_buffer', 'step']);
    this.params.forEach((p, i) => {
      this.buffers[i] = loadSlot(this.buffers[i], p, state, i, 'momentum_buffer');
      this.steps[i] = state.scalars[`state.${i}.step`] ?? 0;
    });
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }
}

/**
 * a state tensor restored from `state.<i>.<name>` (checked; reusing `slot`), or null (slot freed) when the state
 * has none
 */
function loadSlot(slot: Tensor | null, p: Parameter, state: OptimizerState, i: number, name: string): Tensor | null {
  const key = `state.${i}.${name}`, src = state.tensors.get(key);
  if (!src) {
    slot?.dispose();
    return null;
  }
  const t = slot ?? stateTensor(p, false);
  copyState(t, src);
  return t;
}

// -------------------------------------------------------------------------------------------- Adam

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** ascend the objective: the gradient negated (PyTorch's maximize) */
  maximize?: boolean;
  /** AMSGrad: the step divides by the root of the running maximum of v (PyTorch's amsgrad, state max_exp_avg_sq) */
  amsgrad?: boolean;
}

interface AdamHyper { lr: number; betas: [number, number]; eps: number; weightDecay: number; maximize: boolean; amsgrad: boolean }

/**
 * torch.optim.Adam: m = β₁m + (1 − β₁)d, v = β₂v + (1 − β₂)d², w −= lr/(1 − β₁ᵗ) · m/(√(v/(1 − β₂ᵗ)) + ε),
 * with d = ±g + wd·w (Adam; −g with maximize) or w ← w(1 − lr·wd) first (AdamW); with amsgrad, v̂ = max(v̂, v) (from
 * 0) divides instead of v, as PyTorch's max_exp_avg_sq. step() computes the bias corrections on the host
 * (float64); once stepUnlessFoundInf is used the step counts live on the device and the kernel computes them there
 * in float32, as PyTorch's capturable Adam (later step() calls too: the counts are not read back).
 */
export class Adam extends GroupedOptimizer<AdamHyper> {
  private m: (Tensor | null)[];
  private v: (Tensor | null)[];
  /** amsgrad's running maxima of v */
  private maxV: (Tensor | null)[];
  /** the step counts while they live on the host */
  private steps: number[];
  /** the step counts once a step was decided on the device */
  private deviceCounts: DeviceStepCounts | null = null;

  constructor(params: Iterable<Parameter> | readonly ParamGroupInput<AdamOptions>[], options: AdamOptions = {},
    defaults: { weightDecay: number } = { weightDecay: 0 }) {
    super(new.target === AdamW ? 'AdamW' : 'Adam', params as Iterable<Parameter> | readonly ParamGroupInput<AdamHyper>[], {
      lr: options.lr ?? 1e-3, betas: options.betas ?? [0.9, 0.999], eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? defaults.weightDecay,
      maximize: options.maximize ?? false, amsgrad: options.amsgrad ?? false,
    }, { lr: 'lr', betas: 'betas', eps: 'eps', weightDecay: 'weight_decay', maximize: 'maximize', amsgrad: 'amsgrad' });
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
    this.maxV = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  protected validateOwn(g: AdamHyper, at: string): void {
    if (!(g.eps >= 0)) throw new Error(`${this.type}: invalid eps ${g.eps}${at}`);
    const [b1, b2] = g.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new Error(`${this.type}: invalid betas (${b1}, ${b2})${at}`);
  }

  /** one adamSteps call per group (and backend): a few dispatches for many parameters */
  step(): void {
    const device = this.deviceCounts;
    if (!device) {
      this.fusedStep(countOn(this.steps), (index) => this.steps[index] + 1, null);
      return;
    }
    const backend = device.counts.backend, never = backend.fill(1, 0, 'float32');
    try {
      device.advanceAfter(null, (counted) => this.fusedStep(counted, (index) => index, { counts: device.counts.storage, foundInf: never }));
    } finally {
      backend.free(never);
    }
  }

  /**
   * The step's kernels read the step counts on the device (made there from the host's the first time) and skip
   * themselves when the flag is set; the counts advance by 1 − found_inf.
   */
  stepUnlessFoundInf(foundInf: Tensor): void {
    checkFlag(`${this.type}.stepUnlessFoundInf`, foundInf, this.params);
    const device = (this.deviceCounts ??= new DeviceStepCounts(foundInf.backend, this.steps));
    device.advanceAfter(foundInf, (counted) => this.fusedStep(counted, (index) => index, { counts: device.counts.storage, foundInf: foundInf.storage }));
  }

  /** `step(index)`: an item's step (its 1-based count, or the index of its device count) */
  private fusedStep(counted: (stepped: readonly number[]) => void, step: (index: number) => number, deviceSteps: AdamDeviceSteps | null): void {
    fusedSteps(this.paramGroups, counted, (p, index, grad, h): AdamItem => {
      const m = (this.m[index] ??= stateTensor(p, true));
      const v = (this.v[index] ??= stateTensor(p, true));
      const maxV = h.amsgrad ? (this.maxV[index] ??= stateTensor(p, true)) : null;
      return { param: p.storage, grad, expAvg: m.storage, expAvgSq: v.storage, step: step(index), maxExpAvgSq: maxV?.storage ?? null };
    }, (backend, items, h) => {
      backend.adamSteps(items, {
        lr: h.lr, beta1: h.betas[0], beta2: h.betas[1], eps: h.eps, weightDecay: h.weightDecay, decoupled: this.type === 'AdamW',
      }, deviceSteps);
    });
  }

  /** betas are two numbers in the state (PyTorch's beta1, beta2 keys) */
  protected override hyperState(): Record<string, HyperValue> {
    const hyper: Record<string, HyperValue> = {};
    for (const [key, value] of Object.entries(super.hyperState())) {
      if (typeof value !== 'object') { hyper[key] = value; continue; }
      const [b1, b2] = value as unknown as [number, number];
      hyper[key.replace(/betas$/, 'beta1')] = b1;
      hyper[key.replace(/betas$/, 'beta2')] = b2;
    }
    return hyper;
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    this.params.forEach((_, i) => {
      const m = this.m[i], v = this.v[i];
      if (m && v) {
        tensors.set(`state.${i}.exp_avg`, m.borrow());
        tensors.set(`state.${i}.exp_avg_sq`, v.borrow());
        const maxV = this.maxV[i];
        if (maxV) tensors.set(`state.${i}.max_exp_avg_sq`, maxV.borrow());
        if (this.deviceCounts) tensors.set(`state.${i}.step`, this.deviceCounts.view(i));
        else scalars[`state.${i}.step`] = this.steps[i];
      }
    });
    return { type: this.type, hyper: this.hyperState(), tensors, scalars };
  }

  protected override hyperFromState(state: OptimizerState, prefix: string, h: AdamHyper): void {
    const b1 = state.hyper[`${prefix}beta1`], b2 = state.hyper[`${prefix}beta2`];
    h.betas = [typeof b1 === 'number' ? b1 : h.betas[0], typeof b2 === 'number' ? b2 : h.betas[1]];
  }

  /** exp_avg and exp_avg_sq come together; max_exp_avg_sq with them, and always in a group with amsgrad (PyTorch could not step without it) */
  protected override checkSlots(state: OptimizerState, groups: readonly AdamHyper[]): void {
    const amsgrad = groups.flatMap((h, k) => this.paramGroups[k]!.params.map(() => h.amsgrad));
    this.params.forEach((_, i) => {
      const [m, v, maxV] = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'].map((name) => state.tensors.has(`state.${i}.${name}`));
      if (m !== v) throw new Error(`${this.type}.loadStateDict: parameter ${i} has only one of exp_avg and exp_avg_sq`);
      if (maxV && !m) throw new Error(`${this.type}.loadStateDict: parameter ${i} has a max_exp_avg_sq without exp_avg and exp_avg_sq`);
      if (m && !maxV && amsgrad[i]) throw new Error(`${this.type}.loadStateDict: parameter ${i} has no max_exp_avg_sq, which amsgrad needs (a state saved without amsgrad)`);
    });
  }

  loadStateDict(state: OptimizerState): void {
    this.checkAndLoadHyper(state, ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    this.params.forEach((p, i) => {
      this.m[i] = loadSlot(this.m[i], p, state, i, 'exp_avg');
      this.v[i] = loadSlot(this.v[i], p, state, i, 'exp_avg_sq');
      this.maxV[i] = loadSlot(this.maxV[i], p, state, i, 'max_exp_avg_sq');
    });
    const { steps, device } = loadSteps(state, this.params);
    this.deviceCounts?.dispose();
    this.steps = steps;
    this.deviceCounts = device;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v, ...this.maxV]) t?.dispose();
    this.deviceCounts?.dispose();
    this.deviceCounts = null;
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
    this.maxV = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 0.01). */
export class AdamW extends Adam {
  constructor(params: Iterable<Parameter> | readonly ParamGroupInput<AdamOptions>[], options: AdamOptions = {}) {
    super(params, options, { weightDecay: 0.01 });
  }
}

// ----------------------------------------------------------------------------------------- RMSprop

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  /** ascend the objective: the gradient negated (PyTorch's maximize) */
  maximize?: boolean;
}

interface RmspropHyper { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean; maximize: boolean }

/**
 * torch.optim.RMSprop (defaults lr 0.01, alpha 0.99, eps 1e-8): d = ±g + wd·w (−g with maximize); v = αv + (1 − α)d²;
 * centered: ḡ = αḡ + (1 − α)d and σ = √(v − ḡ²) + ε, else σ = √v + ε; with momentum μ > 0:
 * b = μb + d/σ, w −= lr·b; else w −= lr·d/σ. One fused `rmspropSteps` call per group (a dispatch updates several
 * parameters); stepUnlessFoundInf's kernels write nothing when the flag is set, and the steps are counted on the device.
 */
export class RMSprop extends GroupedOptimizer<RmspropHyper> {
  private squareAvg: (Tensor | null)[];
  private momentumBuffer: (Tensor | null)[];
  private gradAvg: (Tensor | null)[];
  /** the step counts while they live on the host */
  private steps: number[];
  /** the step counts once a step was decided on the device */
  private deviceCounts: DeviceStepCounts | null = null;

  constructor(params: Iterable<Parameter> | readonly ParamGroupInput<RMSpropOptions>[], options: RMSpropOptions = {}) {
    super('RMSprop', params, {
      lr: options.lr ?? 1e-2, alpha: options.alpha ?? 0.99, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0,
      momentum: options.momentum ?? 0, centered: options.centered ?? false, maximize: options.maximize ?? false,
    }, { lr: 'lr', alpha: 'alpha', eps: 'eps', weightDecay: 'weight_decay', momentum: 'momentum', centered: 'centered', maximize: 'maximize' });
    this.squareAvg = this.params.map(() => null);
    this.momentumBuffer = this.params.map(() => null);
    this.gradAvg = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  protected validateOwn(g: RmspropHyper, at: string): void {
    if (!(g.alpha >= 0)) throw new Error(`RMSprop: invalid alpha ${g.alpha}${at}`);
    if (!(g.eps >= 0)) throw new Error(`RMSprop: invalid eps ${g.eps}${at}`);
    if (!(g.momentum >= 0)) throw new Error(`RMSprop: invalid momentum ${g.momentum}${at}`);
  }

  step(): void { this.stepWith(null); }

  stepUnlessFoundInf(foundInf: Tensor): void {
    checkFlag('RMSprop.stepUnlessFoundInf', foundInf, this.params);
    this.deviceCounts ??= new DeviceStepCounts(foundInf.backend, this.steps);
    this.stepWith(foundInf);
  }

  /** one rmspropSteps call per group (and backend); with `foundInf`, the kernels write nothing when it is set */
  private stepWith(foundInf: Tensor | null): void {
    const step = (counted: (stepped: readonly number[]) => void) => fusedSteps(this.paramGroups, counted, (p, index, grad, h): RmspropItem => {
      const squareAvg = (this.squareAvg[index] ??= stateTensor(p, true));
      const gradAvg = h.centered ? (this.gradAvg[index] ??= stateTensor(p, true)) : null;
      const momentumBuffer = h.momentum > 0 ? (this.momentumBuffer[index] ??= stateTensor(p, true)) : null;
      return { param: p.storage, grad, squareAvg: squareAvg.storage, gradAvg: gradAvg?.storage ?? null, momentumBuffer: momentumBuffer?.storage ?? null };
    }, (backend, items, h) => {
      backend.rmspropSteps(items, { lr: h.lr, alpha: h.alpha, eps: h.eps, weightDecay: h.weightDecay, momentum: h.momentum, centered: h.centered },
        foundInf?.storage);
    });
    if (this.deviceCounts) this.deviceCounts.advanceAfter(foundInf, step);
    else step(countOn(this.steps));
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    this.params.forEach((_, i) => {
      for (const [name, t] of [['square_avg', this.squareAvg[i]], ['momentum_buffer', this.momentumBuffer[i]], ['grad_avg', this.gradAvg[i]]] as const) {
        if (t) tensors.set(`state.${i}.${name}`, t.borrow());
      }
      if (this.deviceCounts) {
        if (this.squareAvg[i]) tensors.set(`state.${i}.step`, this.deviceCounts.view(i));
      } else if (this.steps[i] > 0) scalars[`state.${i}.step`] = this.steps[i];
    });
    return { type: 'RMSprop', hyper: this.hyperState(), tensors, scalars };
  }

  loadStateDict(state: OptimizerState): void {
    this.checkAndLoadHyper(state, ['square_avg', 'momentum_buffer', 'grad_avg', 'step']);
    this.params.forEach((p, i) => {
      this.squareAvg[i] = loadSlot(this.squareAvg[i], p, state, i, 'square_avg');
      this.momentumBuffer[i] = loadSlot(this.momentumBuffer[i], p, state, i, 'momentum_buffer');
      this.gradAvg[i] = loadSlot(this.gradAvg[i], p, state, i, 'grad_avg');
    });
    const { steps, device } = loadSteps(state, this.params);
    this.deviceCounts?.dispose();
    this.steps = steps;
    this.deviceCounts = device;
  }

  dispose(): void {
    for (const t of [...this.squareAvg, ...this.momentumBuffer, ...this.gradAvg]) t?.dispose();
    this.deviceCounts?.dispose();
    this.deviceCounts = null;
    this.squareAvg = this.params.map(() => null);
    this.momentumBuffer = this.params.map(() => null);
    this.gradAvg = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }
}
