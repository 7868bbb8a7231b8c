import { noGrad } from '../autograd/graph.js';
import { mul } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { keep } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from './optim.js';

/**
 * Loss scaling for float16 gradients, as torch.amp.GradScaler: the loss is multiplied by the scale before
 * backward (so that small gradients do not flush to zero in float16), the gradients divided by it before the
 * optimizer steps, and a step whose gradients hold a NaN or Inf (an overflow in float16) is skipped and the scale
 * halved; after growthInterval steps in a row without one, the scale doubles.
 *
 * As PyTorch's fused path, the scale, the growth tracker and each step's found-inf flag live on the device: the
 * unscale is one fused kernel per few gradients (ampNonFiniteCheckAndUnscale), an optimizer with
 * `stepUnlessFoundInf` (SGD, Adam, AdamW, RMSprop) skips its step on the device, and update() is one kernel; so
 * nothing waits for the backward. An optimizer without it is stepped after the flag is read back (one wait, as
 * PyTorch's non-fused path).
 * The device state is made on the backend of the first scaled loss (or unscaled parameters), as PyTorch's lazy
 * init; getScale() and stateDict() read it back.
 *
 * What scale() and step() return belongs to the scaler, so that PyTorch's loop (`backward(scaler.scale(loss))`,
 * `await scaler.step(opt)` with its result ignored) leaks nothing: a scaled loss is freed at the next update(),
 * a found-inf flag at the next step() on the same optimizer (both at dispose()). Disposing them earlier is
 * harmless; `.detach()` gives a view of one's own to keep past that.
 */

export interface GradScalerOptions {
  /** default 2^16 */
  initScale?: number;
  /** default 2 */
  growthFactor?: number;
  /** default 0.5 */
  backoffFactor?: number;
  /** default 2000 */
  growthInterval?: number;
}

/** A GradScaler's state (PyTorch's state_dict keys in camelCase; _growth_tracker as growthTracker). */
export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

/** where an optimizer stands since the last update(): its gradients unscaled (with their found-inf flag), or stepped */
interface OptimizerStage { foundInf: Tensor; stepped: boolean }

/** the scale (float32 []) and the growth tracker (int32 []) on the device */
interface DeviceState { scale: Tensor; growthTracker: Tensor }

export class GradScaler {
  /** the scale and growth tracker until the device state is made (then the device's are the current ones) */
  private initial: { scale: number; growthTracker: number };
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private device: DeviceState | null = null;
  private readonly stages = new Map<Optimizer, OptimizerStage>();
  /** the scaled losses since the last update() */
  private scaled: Tensor[] = [];
  /** the found-inf flag step() last returned, per optimizer */
  private readonly returnedFlags = new Map<Optimizer, Tensor>();

  constructor(options: GradScalerOptions = {}) {
    this.initial = { scale: Math.fround(options.initScale ?? 2 ** 16), growthTracker: 0 };
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    GradScaler.check({ ...this.hyper(), ...this.initial });
  }

  private static check(s: GradScalerState): void {
    const problems = [
      !(s.scale > 0 && Number.isFinite(s.scale)) && `scale must be a finite number > 0, got ${s.scale}`,
      !(s.growthFactor > 1 && Number.isFinite(s.growthFactor)) && `growthFactor must be a finite number > 1, got ${s.growthFactor}`,
      !(s.backoffFactor > 0 && s.backoffFactor < 1) && `backoffFactor must be in (0, 1), got ${s.backoffFactor}`,
      !(Number.isInteger(s.growthInterval) && s.growthInterval >= 1) && `growthInterval must be a positive integer, got ${s.growthInterval}`,
      !(Number.isInteger(s.growthTracker) && s.growthTracker >= 0 && s.growthTracker < s.growthInterval)
        && `growthTracker must be an integer in [0, growthInterval), got ${s.growthTracker}`,
    ].filter((p): p is string => p !== false);
    if (problems.length) throw new Error(`GradScaler: ${problems.join('; ')}`);
  }

  private hyper(): Omit<GradScalerState, 'scale' | 'growthTracker'> {
    return { growthFactor: this.growthFactor, backoffFactor: this.backoffFactor, growthInterval: this.growthInterval };
  }

  /** the device state, made on `backend` from the initial values the first time */
  private on(backend: Backend, who: string): DeviceState {
    if (!this.device) {
      this.device = {
        scale: scalar(backend, this.initial.scale, 'float32'),
        growthTracker: scalar(backend, this.initial.growthTracker, 'int32'),
      };
    }
    if (this.device.scale.backend !== backend) {
      throw new Error(`GradScaler.${who}: the scale is on the ${this.device.scale.backend.name} backend, the tensors on ${backend.name}`);
    }
    return this.device;
  }

  /** The current scale (a readback once the scale is on the device). */
  async getScale(): Promise<number> {
    return this.device ? (await this.device.scale.toArray())[0]! : this.initial.scale;
  }

  /** The current scale as a float32 [] tensor the caller owns (a copy: later updates leave it as it is). */
  scaleTensor(backend: Backend): Tensor {
    const s = this.on(backend, 'scaleTensor').scale;
    return keep(Tensor.fromStorage(backend, backend.copy(s.view), []));
  }

  /** loss × scale (differentiable): call backward on it instead of the loss. The scaler frees it at the next update(). */
  scale(loss: Tensor): Tensor {
    const scaled = mul(loss, this.on(loss.backend, 'scale').scale);
    this.scaled.push(scaled);
    return scaled;
  }

  /**
   * Divides the gradients of the optimizer's parameters by the scale in place (a gradient that is a view or shares
   * its storage is first replaced by a copy) and notes in a flag on the device whether any is NaN or Inf: once
   * per optimizer between updates (as PyTorch's unscale_), e.g. before clipping.
   */
  unscale(optimizer: Optimizer): void {
    const stage = this.stages.get(optimizer);
    if (stage?.stepped) throw new Error('GradScaler.unscale: step() was already called on this optimizer since the last update()');
    if (stage) throw new Error('GradScaler.unscale: already called on this optimizer since the last update()');
    const backend = optimizer.params[0]!.backend;
    const device = this.on(backend, 'unscale');
    const grads = new Set<Tensor['storage']>();
    for (const p of optimizer.params) {
      const g = p.grad;
      if (!g) continue;
      if (g.backend !== backend) throw new Error(`GradScaler.unscale: a gradient on the ${g.backend.name} backend, the scale on ${backend.name}`);
      if (!g.isDense || grads.has(g.storage)) {
        p.grad = keep(Tensor.fromStorage(backend, backend.copy(g.view), g.shape));
        g.dispose();
      }
      grads.add(p.grad!.storage);
    }
    const foundInf = scalar(backend, 0, 'float32', [1]);
    backend.ampNonFiniteCheckAndUnscale([...grads], foundInf.storage, device.scale.storage);
    this.stages.set(optimizer, { foundInf, stepped: false });
  }

  /**
   * Unscales the gradients unless unscale() already did, and steps the optimizer unless a gradient is NaN or Inf:
   * decided on the device when the optimizer has `stepUnlessFoundInf` (no wait), else after reading the flag.
   * Returns the flag, a float32 [1] tensor: 1 when the step was skipped, else 0 (read it back with other values,
   * later). The scaler frees it at the next step() on this optimizer.
   */
  async step(optimizer: Optimizer): Promise<Tensor> {
    if (this.stages.get(optimizer)?.stepped) throw new Error('GradScaler.step: already called on this optimizer since the last update()');
    if (!this.stages.has(optimizer)) this.unscale(optimizer);
    this.returnedFlags.get(optimizer)?.dispose();
    this.returnedFlags.delete(optimizer);
    const stage = this.stages.get(optimizer)!;
    stage.stepped = true;
    // taken before any wait: an update() meanwhile frees the stage's own
    const flag = keep(stage.foundInf.viewAs(stage.foundInf.shape, stage.foundInf.strides, stage.foundInf.offset));
    try {
      if (optimizer.stepUnlessFoundInf) noGrad(() => optimizer.stepUnlessFoundInf!(stage.foundInf));
      else if ((await flag.toArray())[0] === 0) noGrad(() => optimizer.step());
    } catch (e) {
      flag.dispose();
      throw e;
    }
    this.returnedFlags.set(optimizer, flag);
    return flag;
  }

  /**
   * After the steps of an iteration, on the device: the scale × backoffFactor when any optimizer unscaled since the
   * last update (stepped or not, as torch.amp counts every unscale_'s inf check) found a non-finite gradient, else
   * × growthFactor every growthInterval such iterations in a row; or `newScale` when given.
   */
  update(newScale?: number): void {
    const flags = [...this.stages.values()].map((s) => s.foundInf);
    try {
      if (newScale !== undefined) {
        if (!(newScale > 0 && Number.isFinite(newScale))) throw new Error(`GradScaler.update: newScale must be a finite number > 0, got ${newScale}`);
        this.setScale(Math.fround(newScale));
        return;
      }
      if (flags.length === 0) throw new Error('GradScaler.update: no unscale() or step() was recorded since the last update()');
      const { scale, growthTracker } = this.device!;
      scale.backend.ampUpdateScale(scale.storage, growthTracker.storage, flags.map((f) => f.storage), this.hyper());
    } finally {
      this.endIteration();
    }
  }

  /** frees the iteration's flags and scaled losses */
  private endIteration(): void {
    for (const s of this.stages.values()) s.foundInf.dispose();
    this.stages.clear();
    for (const t of this.scaled) t.dispose();
    this.scaled = [];
  }

  private setScale(scale: number): void {
    if (!this.device) this.initial.scale = scale;
    else {
      const backend = this.device.scale.backend;
      this.device.scale.dispose();
      this.device.scale = scalar(backend, scale, 'float32');
    }
  }

  /** The state (a readback once it is on the device). */
  async stateDict(): Promise<GradScalerState> {
    if (!this.device) return { scale: this.initial.scale, ...this.hyper(), growthTracker: this.initial.growthTracker };
    const [scale, growthTracker] = await Promise.all([this.device.scale.toArray(), this.device.growthTracker.toArray()]);
    return { scale: scale[0]!, ...this.hyper(), growthTracker: growthTracker[0]! };
  }

  /** Restores a stateDict() (checked: a corrupt one is named, not used). */
  loadStateDict(state: GradScalerState): void {
    const keys = ['scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'growthTracker'] as const;
    const missing = keys.filter((k) => typeof state?.[k] !== 'number');
    if (missing.length) throw new Error(`GradScaler.loadStateDict: missing or non-numeric ${missing.join(', ')}`);
    GradScaler.check(state);
    this.growthFactor = state.growthFactor;
    this.backoffFactor = state.backoffFactor;
    this.growthInterval = state.growthInterval;
    const backend = this.device?.scale.backend;
    this.dispose();
    this.initial = { scale: state.scale, growthTracker: state.growthTracker };
    if (backend) this.on(backend, 'loadStateDict');
  }

  /** Frees the device state, the flags and scaled losses it holds (the scaler can go on: it starts from its initial values again). */
  dispose(): void {
    this.endIteration();
    for (const f of this.returnedFlags.values()) f.dispose();
    this.returnedFlags.clear();
    this.device?.scale.dispose();
    this.device?.growthTracker.dispose();
    this.device = null;
  }
}

/** a one-element tensor on `backend` that outlives any tidy */
function scalar(backend: Backend, value: number, dtype: 'float32' | 'int32', shape: readonly number[] = []): Tensor {
  return keep(Tensor.fromStorage(backend, backend.fill(1, value, dtype), shape));
}
