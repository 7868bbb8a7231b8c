import { noGrad } from '../autograd/graph.js';
import { mulScalar } from '../autograd/ops.js';
import { keep, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { nonFiniteProbe } from './finite.js';
import type { Optimizer } from './optim.js';

/**
 * Loss scaling for float16 gradients, as torch.amp.GradScaler: the loss is multiplied by the scale before
 * backward (so that small gradients do not flush to zero in float16), the gradients divided by it before the
 * optimizer steps, and a step whose gradients hold a NaN or Inf (an overflow in float16) is skipped and the scale
 * halved; after growthInterval steps in a row without one, the scale doubles.
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

/** where an optimizer stands since the last update(): its gradients unscaled (with their probe), or stepped */
interface OptimizerStage { probe: Tensor | null; foundInf: boolean | null; stepped: boolean }

export class GradScaler {
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  /** steps in a row without a non-finite gradient since the last growth or backoff */
  private growthTracker = 0;
  private readonly stages = new Map<Optimizer, OptimizerStage>();

  constructor(options: GradScalerOptions = {}) {
    this.scaleValue = Math.fround(options.initScale ?? 2 ** 16);
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    GradScaler.check(this.state());
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

  /** The current scale. */
  getScale(): number { return this.scaleValue; }

  /** loss × scale (differentiable): call backward on it instead of the loss. */
  scale(loss: Tensor): Tensor { return mulScalar(loss, this.scaleValue); }

  /**
   * Divides the gradients of the optimizer's parameters by the scale (each replaced by a new tensor) and queues
   * their non-finite probe: once per optimizer between updates (as PyTorch's unscale_), e.g. before clipping.
   */
  unscale(optimizer: Optimizer): void {
    const stage = this.stages.get(optimizer);
    if (stage?.stepped) throw new Error('GradScaler.unscale: step() was already called on this optimizer since the last update()');
    if (stage) throw new Error('GradScaler.unscale: already called on this optimizer since the last update()');
    const withGrad = optimizer.params.filter((p) => p.grad);
    // PyTorch: the reciprocal in float64, then rounded to float32
    const inverse = Math.fround(1 / this.scaleValue);
    const probe = withGrad.length === 0 ? null : noGrad(() => tidy(() => {
      for (const p of withGrad) {
        const old = p.grad!;
        p.grad = keep(mulScalar(old, inverse));
        old.dispose();
      }
      return nonFiniteProbe(withGrad.map((p) => p.grad!));
    }));
    this.stages.set(optimizer, { probe: probe && keep(probe), foundInf: null, stepped: false });
  }

  /**
   * Unscales the gradients unless unscale() already did, reads whether any is NaN or Inf (one readback, as
   * PyTorch's .item()), and steps the optimizer when none is. Returns whether it stepped.
   */
  async step(optimizer: Optimizer): Promise<boolean> {
    if (this.stages.get(optimizer)?.stepped) throw new Error('GradScaler.step: already called on this optimizer since the last update()');
    if (!this.stages.has(optimizer)) this.unscale(optimizer);
    const stage = this.stages.get(optimizer)!;
    if (stage.probe) {
      try {
        const values = await stage.probe.toArray();
        stage.foundInf = Array.prototype.some.call(values, (v: number) => !Number.isFinite(v));
      } finally {
        stage.probe.dispose();
        stage.probe = null;
      }
    } else stage.foundInf = false;
    stage.stepped = true;
    if (!stage.foundInf) noGrad(() => optimizer.step());
    return !stage.foundInf;
  }

  /**
   * After the steps of an iteration: the scale × backoffFactor when any stepped optimizer found a non-finite
   * gradient, else × growthFactor every growthInterval such steps in a row; or `newScale` when given.
   */
  update(newScale?: number): void {
    const found = [...this.stages.values()].filter((s) => s.foundInf !== null).map((s) => s.foundInf);
    for (const s of this.stages.values()) s.probe?.dispose();
    this.stages.clear();
    if (newScale !== undefined) {
      if (!(newScale > 0 && Number.isFinite(newScale))) throw new Error(`GradScaler.update: newScale must be a finite number > 0, got ${newScale}`);
      this.scaleValue = Math.fround(newScale);
      return;
    }
    if (found.length === 0) throw new Error('GradScaler.update: no step() was recorded since the last update()');
    if (found.some((f) => f)) {
      this.scaleValue = Math.fround(this.scaleValue * this.backoffFactor);
      this.growthTracker = 0;
    } else if (++this.growthTracker === this.growthInterval) {
      this.scaleValue = Math.fround(this.scaleValue * this.growthFactor);
      this.growthTracker = 0;
    }
  }

  private state(): GradScalerState {
    return {
      scale: this.scaleValue, growthFactor: this.growthFactor, backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval, growthTracker: this.growthTracker,
    };
  }

  stateDict(): GradScalerState { return this.state(); }

  /** Restores a stateDict() (checked: a corrupt one is named, not used). */
  loadStateDict(state: GradScalerState): void {
    const keys = ['scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'growthTracker'] as const;
    const missing = keys.filter((k) => typeof state?.[k] !== 'number');
    if (missing.length) throw new Error(`GradScaler.loadStateDict: missing or non-numeric ${missing.join(', ')}`);
    GradScaler.check(state);
    this.scaleValue = state.scale;
    this.growthFactor = state.growthFactor;
    this.backoffFactor = state.backoffFactor;
    this.growthInterval = state.growthInterval;
    this.growthTracker = state.growthTracker;
  }
}
