import type { Storage } from '../kernels/backend.js';
import { keep } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Parameter } from './module.js';

/**
 * Optimizers as PyTorch's (one parameter group): each step is one fused backend kernel per parameter
 * (`sgdStep` / `adamStep`), updating the parameter and its state in place. Parameters without a gradient are
 * skipped. `lr` is a plain property a schedule sets before `step()`.
 *
 * State (PyTorch's layout): per parameter index i, tensors `state.<i>.momentum_buffer` (SGD) or
 * `state.<i>.exp_avg`, `state.<i>.exp_avg_sq` (Adam) and the scalar `state.<i>.step`; hyperparameters in
 * `hyper`. `stateDict()` returns views the caller owns; `loadStateDict` copies.
 */

export interface OptimizerState {
  type: 'SGD' | 'Adam' | 'AdamW';
  hyper: Record<string, number | boolean>;
  /** per-parameter tensors keyed `state.<i>.<name>` (views owned by the holder) */
  tensors: Map<string, Tensor>;
  /** per-parameter scalars keyed `state.<i>.<name>` */
  scalars: Record<string, number>;
}

export interface Optimizer {
  lr: number;
  readonly params: readonly Parameter[];
  step(): void;
  /** drops every parameter's gradient (set_to_none) */
  zeroGrad(): void;
  stateDict(): OptimizerState;
  loadStateDict(state: OptimizerState): void;
  /** frees the optimizer's state tensors */
  dispose(): void;
}

/** the gradient as a storage of exactly the parameter's size (a temporary copy when it is a view) */
function gradStorage(p: Parameter, index: number): { storage: Storage; temp: boolean } {
  const g = p.grad!;
  if (!sameShape(g.shape, p.shape) || g.dtype !== p.dtype || g.backend !== p.backend) {
    throw new Error(`optimizer: parameter ${index} ${formatShape(p.shape)} ${p.dtype} has a gradient ${formatShape(g.shape)} ${g.dtype} on ${g.backend.name}`);
  }
  if (g.isContiguous && g.offset === 0 && g.storage.length === g.numel()) return { storage: g.storage, temp: false };
  return { storage: g.backend.copy(g.view), temp: true };
}

function zeroGrads(params: readonly Parameter[]): void {
  for (const p of params) if (p.grad) { p.grad.dispose(); p.grad = null; }
}

function stateTensor(p: Parameter, fillZero: boolean): Tensor {
  const s = fillZero ? p.backend.fill(p.numel(), 0, p.dtype) : p.backend.alloc(p.numel(), p.dtype);
  return keep(Tensor.fromStorage(p.backend, s, p.shape));
}

function viewOf(t: Tensor): Tensor { return keep(t.viewAs(t.shape, t.strides, t.offset)); }

function uniqueParams(params: Iterable<Parameter>, who: string): Parameter[] {
  const list = [...params];
  // PyTorch's "optimizer got an empty parameter list": a module whose layers were never registered has none
  if (list.length === 0) throw new Error(`${who}: got an empty parameter list`);
  if (new Set(list).size !== list.length) throw new Error(`${who}: a parameter appears twice in the list`);
  for (const p of list) {
    if (!p.isContiguous || p.offset !== 0 || p.storage.length !== p.numel()) {
      throw new Error(`${who}: ${p} does not own a contiguous storage of its size (use Parameter)`);
    }
  }
  return list;
}

function copyState(dst: Tensor, src: Tensor, key: string): void {
  if (!sameShape(dst.shape, src.shape)) throw new Error(`optimizer state ${key}: shape ${formatShape(src.shape)}, parameter ${formatShape(dst.shape)}`);
  if (src.backend !== dst.backend) throw new Error(`optimizer state ${key}: on the ${src.backend.name} backend, the parameter on ${dst.backend.name}`);
  const v = src.dtype === dst.dtype ? src.view : null;
  if (v) dst.backend.copyInto(dst.view, v);
  else {
    const c = src.backend.cast(src.view, dst.dtype);
    dst.backend.copyInto(dst.view, { storage: c, shape: dst.shape, strides: dst.strides, offset: 0 });
    src.backend.free(c);
  }
}

function checkState(state: OptimizerState, type: OptimizerState['type'], n: number, allowed: readonly string[]): void {
  if (state.type !== type) throw new Error(`${type}.loadStateDict: the state is of a ${state.type} optimizer`);
  for (const key of [...state.tensors.keys(), ...Object.keys(state.scalars)]) {
    const m = /^state\.(\d+)\.(\w+)$/.exec(key);
    if (!m || Number(m[1]) >= n || !allowed.includes(m[2])) {
      throw new Error(`${type}.loadStateDict: unexpected state entry '${key}' for ${n} parameters`);
    }
  }
}

// --------------------------------------------------------------------------------------------- SGD

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** torch.optim.SGD: d = g + wd·w; buf = d (first step) or μ·buf + (1 − τ)·d; d = nesterov ? d + μ·buf : buf; w −= lr·d. */
export class SGD implements Optimizer {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  readonly params: Parameter[];
  private buffers: (Tensor | null)[];
  private steps: number[];

  constructor(params: Iterable<Parameter>, options: SGDOptions) {
    this.params = uniqueParams(params, 'SGD');
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.lr >= 0)) throw new Error(`SGD: invalid learning rate ${this.lr}`);
    if (!(this.momentum >= 0)) throw new Error(`SGD: invalid momentum ${this.momentum}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: nesterov needs momentum > 0 and dampening 0');
    this.buffers = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  step(): void {
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      let buf = this.buffers[i];
      const firstStep = this.momentum !== 0 && buf === null;
      if (this.momentum !== 0 && !buf) buf = this.buffers[i] = stateTensor(p, false);
      const g = gradStorage(p, i);
      p.backend.sgdStep(p.storage, g.storage, buf ? buf.storage : null, {
        lr: this.lr, momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov,
        weightDecay: this.weightDecay, firstStep,
      });
      if (g.temp) p.backend.free(g.storage);
      this.steps[i]++;
    });
  }

  zeroGrad(): void { zeroGrads(this.params); }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    this.params.forEach((_, i) => {
      const b = this.buffers[i];
      if (b) tensors.set(`state.${i}.momentum_buffer`, viewOf(b));
      if (this.steps[i] > 0) scalars[`state.${i}.step`] = this.steps[i];
    });
    return {
      type: 'SGD',
      hyper: { lr: this.lr, momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weight_decay: this.weightDecay },
      tensors, scalars,
    };
  }

  loadStateDict(state: OptimizerState): void {
    checkState(state, 'SGD', this.params.length, ['momentum_buffer', 'step']);
    const h = state.hyper;
    if (typeof h.lr === 'number') this.lr = h.lr;
    if (typeof h.momentum === 'number') this.momentum = h.momentum;
    if (typeof h.dampening === 'number') this.dampening = h.dampening;
    if (typeof h.nesterov === 'boolean') this.nesterov = h.nesterov;
    if (typeof h.weight_decay === 'number') this.weightDecay = h.weight_decay;
    this.params.forEach((p, i) => {
      const src = state.tensors.get(`state.${i}.momentum_buffer`);
      if (src) {
        const b = this.buffers[i] ?? stateTensor(p, false);
        copyState(b, src, `state.${i}.momentum_buffer`);
        this.buffers[i] = b;
      } else if (this.buffers[i]) {
        this.buffers[i]!.dispose();
        this.buffers[i] = null;
      }
      this.steps[i] = state.scalars[`state.${i}.step`] ?? 0;
    });
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers = this.params.map(() => null);
  }
}

// -------------------------------------------------------------------------------------------- Adam

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * torch.optim.Adam (amsgrad off): m = β₁m + (1 − β₁)d, v = β₂v + (1 − β₂)d², w −= lr/(1 − β₁ᵗ) · m/(√(v/(1 − β₂ᵗ)) + ε),
 * with d = g + wd·w (Adam) or w ← w(1 − lr·wd) first (AdamW).
 */
export class Adam implements Optimizer {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  readonly params: Parameter[];
  private m: (Tensor | null)[];
  private v: (Tensor | null)[];
  private steps: number[];

  constructor(params: Iterable<Parameter>, options: AdamOptions = {}, defaults: { weightDecay: number } = { weightDecay: 0 }) {
    this.params = uniqueParams(params, this.constructor.name);
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaults.weightDecay;
    if (!(this.lr >= 0)) throw new Error(`${this.constructor.name}: invalid learning rate ${this.lr}`);
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) {
      throw new Error(`${this.constructor.name}: invalid betas (${this.beta1}, ${this.beta2})`);
    }
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  protected get type(): 'Adam' | 'AdamW' { return 'Adam'; }

  step(): void {
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      const m = (this.m[i] ??= stateTensor(p, true));
      const v = (this.v[i] ??= stateTensor(p, true));
      this.steps[i]++;
      const g = gradStorage(p, i);
      p.backend.adamStep(p.storage, g.storage, m.storage, v.storage, {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay,
        decoupled: this.type === 'AdamW', step: this.steps[i],
      });
      if (g.temp) p.backend.free(g.storage);
    });
  }

  zeroGrad(): void { zeroGrads(this.params); }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    this.params.forEach((_, i) => {
      const m = this.m[i], v = this.v[i];
      if (m && v) {
        tensors.set(`state.${i}.exp_avg`, viewOf(m));
        tensors.set(`state.${i}.exp_avg_sq`, viewOf(v));
        scalars[`state.${i}.step`] = this.steps[i];
      }
    });
    return {
      type: this.type,
      hyper: { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weight_decay: this.weightDecay },
      tensors, scalars,
    };
  }

  loadStateDict(state: OptimizerState): void {
    checkState(state, this.type, this.params.length, ['exp_avg', 'exp_avg_sq', 'step']);
    const h = state.hyper;
    if (typeof h.lr === 'number') this.lr = h.lr;
    if (typeof h.beta1 === 'number') this.beta1 = h.beta1;
    if (typeof h.beta2 === 'number') this.beta2 = h.beta2;
    if (typeof h.eps === 'number') this.eps = h.eps;
    if (typeof h.weight_decay === 'number') this.weightDecay = h.weight_decay;
    this.params.forEach((p, i) => {
      const ms = state.tensors.get(`state.${i}.exp_avg`), vs = state.tensors.get(`state.${i}.exp_avg_sq`);
      if ((ms === undefined) !== (vs === undefined)) throw new Error(`${this.type}.loadStateDict: parameter ${i} has only one of exp_avg and exp_avg_sq`);
      if (ms && vs) {
        const m = this.m[i] ?? stateTensor(p, false), v = this.v[i] ?? stateTensor(p, false);
        copyState(m, ms, `state.${i}.exp_avg`);
        copyState(v, vs, `state.${i}.exp_avg_sq`);
        this.m[i] = m;
        this.v[i] = v;
      } else {
        this.m[i]?.dispose(); this.v[i]?.dispose();
        this.m[i] = null; this.v[i] = null;
      }
      this.steps[i] = state.scalars[`state.${i}.step`] ?? 0;
    });
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t?.dispose();
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 0.01). */
export class AdamW extends Adam {
  constructor(params: Iterable<Parameter>, options: AdamOptions = {}) {
    super(params, options, { weightDecay: 0.01 });
  }

  protected override get type(): 'Adam' | 'AdamW' { return 'AdamW'; }
}

/** Disposes every tensor of an optimizer state (what stateDict() returned). */
export function disposeOptimizerState(state: OptimizerState): void {
  for (const t of state.tensors.values()) t.dispose();
}
