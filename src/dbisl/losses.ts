/**
 * The DBiSL training objective (shared/spec/dbisl.md §3), every term switchable, and DTC as one
 * configuration of it.
 *
 * Batch = labeled rows L (the first `label.shape[0]` rows) + unlabeled rows U. With z the segmentation
 * logits, Ŷ = σ(z), R̂ the tanh regression output (normalised SDF, negative inside) and S* the target SDF:
 *
 *   L_sup = Dice(Ŷ, Y) + CE(z, Y) + β·MSE(R̂, S*) + β_x·[Dice(T_r2s(R̂), Y) + MSE(T_s2r(Ŷ), S*)]     on L
 *   L_con = mean((T_r2s(R̂) − Ŷ)²) + mean((T_s2r(Ŷ) − R̂)²)                                       on L ∪ U
 *   L_pse = Dice_w(Ŷ, Ỹ) + MSE_w(R̂, T_s2r(Ỹ)),  Ỹ = 1[(Ŷ + T_r2s(R̂))/2 > 0.5]                     on U
 *   w     = exp(−γ·|Ŷ − T_r2s(R̂)|)   (or the UA-MT-style mask |Ŷ − T_r2s(R̂)| < τ(t))
 *   L     = L_sup + λ(t)·(L_con + L_pse),  λ(t) = λ_max · exp(−5(1 − min(⌊t/150⌋/40, 1))²)
 *
 * Dice(p, y) = 1 − (2Σpy + 1e-5)/(Σp² + Σy² + 1e-5) summed over the whole (sub-)batch (DTC's
 * `dice_loss`); CE is the binary cross-entropy with logits (one output channel); Ỹ and w carry no
 * gradient. Choices marked (ours) in the spec are options here:
 * - the weighted Dice puts w inside every sum: 1 − (2Σwpy + 1e-5)/(Σwp² + Σwy² + 1e-5);
 * - the weighted MSE is normalised by the weights, Σw(a − b)²/(Σw + 1e-8) (UA-MT's masked MSE);
 * - λ(t) uses the integer epoch ⌊t/150⌋ as DTC's `iter_num // 150`;
 * - the mask threshold ramps up as UA-MT's: τ(t) = τ_max·(0.75 + 0.25·rampup(t, T)), T = the run's
 *   iterations, τ_max = 0.5.
 *
 * DTC (Luo et al. 2021) is `dtcLossConfig()`: Dice + 0.3·MSE(R̂, compute_sdf(Y)) on L plus
 * λ(t)·mean((σ(−1500·R̂) − Ŷ)²) on L ∪ U, nothing else.
 */
import type { Backend, DType, ItemOperand, LossItem, PseudoWeighting, RowLoss } from '../kernels/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/creation.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import { contiguous, expand, slice, split } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import { sigmoidRampup } from '../models/schedules.js';
import * as F from '../models/losses.js';
import { checkInputTarget, checkWeight } from '../models/loss-checks.js';
import { lossTotal, rowLoss } from '../autograd/losses.js';
import { computeSdfRows } from '../imaging/edt.js';
import type { Shape3 } from '../imaging/volume.js';
import { CDT_DEFAULTS, scaledSigmoids, tS2R, type CdtOptions } from './transform.js';

export type SdfTarget = 'cdt' | 'dtc';
export type UncertaintyMode = 'exp' | 'mask';

export interface LossConfig {
  /** S*: T_s2r(Y) on the same scale as the predictions ('cdt', default) or DTC's compute_sdf ('dtc') */
  sdfTarget: SdfTarget;
  /** CE(z, Y) in L_sup (on for DBiSL, off for DTC) */
  ce: boolean;
  /** weight of MSE(R̂, S*) in L_sup (0.3); 0 removes the term */
  beta: number;
  /** the cross-task supervision Dice(T_r2s(R̂), Y) + MSE(T_s2r(Ŷ), S*) */
  supCross: boolean;
  /** its weight β_x (0.5) */
  betaX: number;
  /** L_con at all */
  con: boolean;
  /** L_con's regression → segmentation term mean((T_r2s(R̂) − Ŷ)²) */
  conR2S: boolean;
  /** L_con's segmentation → regression term mean((T_s2r(Ŷ) − R̂)²) (off for DTC's one-way consistency) */
  conS2R: boolean;
  /** L_pse */
  pse: boolean;
  /** uncertainty weighting of L_pse (off: w = 1) */
  unc: boolean;
  uncertainty: UncertaintyMode;
  /** γ of w = exp(−γU) (5) */
  gamma: number;
  /** τ_max of the mask mode (0.5) */
  tauMax: number;
  /** λ_max (1) */
  lambdaMax: number;
  /** sigmoid ramp-up length L in epochs (40) */
  rampupEpochs: number;
  /** iterations per ramp-up "epoch" (150) */
  epochIterations: number;
  /** T_r2s sharpness k (1500) */
  k: number;
  /** CDT window radius ρ (CDT_DEFAULTS) */
  radius: number;
  /** CDT temperature h (CDT_DEFAULTS) */
  h: number;
  /** CDT floor ε; 'auto' (default): derived from ρ and h so that the floor never caps the window (dbisl.md §2) */
  eps: number | 'auto';
}

export function dbislLossConfig(overrides: Partial<LossConfig> = {}): LossConfig {
  return {
    sdfTarget: 'cdt', ce: true, beta: 0.3, supCross: true, betaX: 0.5,
    con: true, conR2S: true, conS2R: true, pse: true, unc: true, uncertainty: 'exp',
    gamma: 5, tauMax: 0.5, lambdaMax: 1, rampupEpochs: 40, epochIterations: 150,
    k: 1500, ...CDT_DEFAULTS, eps: 'auto',
    ...overrides,
  };
}

/** DTC: supervised Dice + 0.3·MSE(R̂, compute_sdf(Y)), one-way consistency mean((σ(−1500R̂) − Ŷ)²), ramped λ. */
export function dtcLossConfig(overrides: Partial<LossConfig> = {}): LossConfig {
  return dbislLossConfig({
    sdfTarget: 'dtc', ce: false, supCross: false, conS2R: false, pse: false, unc: false, ...overrides,
  });
}

/** `sigmoid_rampup(t, L) = exp(−5(1 − clip(t, 0, L)/L)²)`, 1 when L = 0 (UA-MT / DTC). */
export { sigmoidRampup };

/** λ(t) = λ_max · sigmoid_rampup(⌊t / epochIterations⌋, rampupEpochs). */
export function lambdaAt(iteration: number, cfg: Pick<LossConfig, 'lambdaMax' | 'rampupEpochs' | 'epochIterations'>): number {
  return cfg.lambdaMax * sigmoidRampup(Math.floor(iteration / cfg.epochIterations), cfg.rampupEpochs);
}

/** τ(t) of the mask mode: τ_max · (0.75 + 0.25 · sigmoid_rampup(t, maxIterations)). */
export function tauAt(iteration: number, maxIterations: number, cfg: Pick<LossConfig, 'tauMax'>): number {
  return cfg.tauMax * (0.75 + 0.25 * sigmoidRampup(iteration, maxIterations));
}

export function cdtOptionsOf(cfg: Pick<LossConfig, 'radius' | 'h' | 'eps'>): CdtOptions {
  return { radius: cfg.radius, h: cfg.h, ...(cfg.eps === 'auto' ? {} : { eps: cfg.eps }) };
}

// --------------------------------------------------------------------------------------- basic losses

/** 1 − (2Σpy + 1e-5)/(Σp² + Σy² + 1e-5) pooled over all elements; with w every sum weighted (models' diceLoss). */
export function diceLoss(p: Tensor, y: Tensor, w?: Tensor): Tensor {
  return F.diceLoss(p, y, w ? { weight: w } : {});
}

/**
 * mean((a − b)²); with w the weighted mean Σw(a − b)²/(Σw + 1e-8) (UA-MT's masked MSE). Either is one fused
 * reduction and one backward pass (kernels/loss).
 */
export function mseLoss(a: Tensor, b: Tensor, w?: Tensor): Tensor {
  if (!w) return F.mseLoss(a, b);
  checkInputTarget('mseLoss', a, b);
  checkWeight('mseLoss', 'weight', w, a);
  return tidy(() => rowLoss({ kind: 'mse', scale: 1 / a.numel(), eps: 1e-8 }, 1, a, b, expand(w, a.shape), []));
}

// ------------------------------------------------------------------------------------------ targets

/** DTC's compute_sdf of each row of a host label batch [rows, X, Y, Z] (uint8), as a [rows, 1, X, Y, Z] tensor. */
export function dtcSdfTarget(label: Uint8Array, rows: number, patch: Readonly<Shape3>,
  options: { backend?: Backend; dtype?: DType } = {}): Tensor {
  const out = computeSdfRows(label, rows, [patch[0], patch[1], patch[2]]);
  return fromArray(out, [rows, 1, ...patch], { dtype: options.dtype ?? 'float32', ...(options.backend ? { backend: options.backend } : {}) });
}

/** T_s2r(Y) of a label tensor [rows, 1, X, Y, Z], without gradient. */
export function cdtSdfTarget(label: Tensor, cfg: Pick<LossConfig, 'radius' | 'h' | 'eps'>): Tensor {
  return noGrad(() => tS2R(label, cdtOptionsOf(cfg)));
}

// ------------------------------------------------------------------------------------------- the loss

/**
 * L_pse's inputs, without gradient: Ỹ = 1[(Ŷ + T_r2s(R̂))/2 > 0.5] (as Ŷ + T_r2s(R̂) > 1, the same test since halving
 * is exact) of the unlabeled rows and, with the weighting, w (one kernel, `pseudoLabel`: the composed ops' floats). With
 * `withLabel` the kernel writes Ỹ
 * after a copy of the label's rows, and `withLabel` is [Y; Ỹ], for one CDT pass over both.
 */
function pseudoLabelInputs(yhat: Tensor, r2s: Tensor, label: Tensor, cfg: LossConfig, tau: number, withLabel: boolean):
  { pseudo: Tensor; w: Tensor | null; withLabel: Tensor | null } {
  return noGrad(() => {
    const B = yhat.shape[0], L = label.shape[0], n = yhat.numel() / B, rowShape = yhat.shape.slice(1);
    const weighting: PseudoWeighting | null = !cfg.unc ? null
      : cfg.uncertainty === 'exp' ? { kind: 'exp', gamma: cfg.gamma } : { kind: 'mask', tau };
    const [p, q, y] = [yhat, r2s, label].map((t) => (t.isContiguous ? t : contiguous(t)));
    const head = withLabel ? { storage: y.storage, offset: y.offset, n: L * n } : null;
    const out = yhat.backend.pseudoLabel(p.storage, q.storage, { pOffset: p.offset + L * n, qOffset: q.offset + L * n, n: (B - L) * n, head, weighting });
    const all = Tensor.fromStorage(yhat.backend, out.pseudo, [(head ? L : 0) + B - L, ...rowShape]);
    return {
      pseudo: withLabel ? slice(all, 0, L, B) : all, w: out.weight ? Tensor.fromStorage(yhat.backend, out.weight, [B - L, ...rowShape]) : null,
      withLabel: withLabel ? all : null,
    };
  });
}

export interface LossInputs {
  /** segmentation logits z [B, 1, X, Y, Z] */
  seg: Tensor;
  /** regression output R̂ = tanh(r) [B, 1, X, Y, Z] */
  sdf: Tensor;
  /** labels of the first L rows [L, 1, X, Y, Z], 0/1 in seg's dtype */
  label: Tensor;
  /** S* for the first L rows; computed from `label` ('cdt') or `labelHost` ('dtc') when absent */
  sdfTarget?: Tensor;
  /** host labels [≥ L, X, Y, Z] for sdfTarget 'dtc' */
  labelHost?: Uint8Array;
  /** 0-based iteration (for λ and τ) */
  iteration: number;
  /** the run's iterations (for the mask mode's τ ramp) */
  maxIterations: number;
}

/**
 * Named terms (each a scalar tensor): total, sup, supDice, supCe, supMse, supCrossDice, supCrossMse,
 * con, conR2S, conS2R, pse, pseDice, pseMse, and uncertainty (mean U over the unlabeled rows, logged
 * when L_pse and its weighting are on). A term that is switched off (or has no rows to act on) is absent. Raw terms are unweighted;
 * sup / con / pse / total carry the weights. Only `total` (also `terms.total`) carries a gradient: the terms are its
 * values as logged (one lossTotal computes them all).
 */
export interface LossResult {
  total: Tensor;
  terms: Record<string, Tensor>;
  /** λ(t) used in the total */
  lambda: number;
}

/** an operand of a term: a tensor and the offset of the term's elements in it */
type TermOperand = readonly [Tensor, number];

/**
 * dbislLoss's terms as the items of one lossTotal, each a loss of one row (a Dice or mean over its whole (sub-)batch),
 * added to the group begun last (or logged: in no group); `run` gives every term's and group's value and the total.
 */
class LossTerms {
  private readonly inputs: Tensor[] = [];
  private readonly items: LossItem[] = [];
  private readonly rowGroup: number[] = [];
  private readonly weights: number[] = [];
  private readonly groupWeights: number[] = [];
  private readonly names: string[] = [];
  private readonly groupNames: string[] = [];

  get empty(): boolean { return this.groupWeights.length === 0; }

  group(name: string, weight: number): void {
    this.groupNames.push(name);
    this.groupWeights.push(weight);
  }

  add(name: string, weight: number, loss: RowLoss, n: number, a: TermOperand, b: TermOperand, w: TermOperand | null = null): void {
    this.item(name, this.groupWeights.length - 1, weight, loss, n, [a, b, w]);
  }

  logged(name: string, loss: RowLoss, n: number, a: TermOperand, b: TermOperand): void {
    this.item(name, -1, 1, loss, n, [a, b, null]);
  }

  run(): { terms: Record<string, Tensor>; total: Tensor } {
    const { values, total } = lossTotal(this.inputs, { items: this.items, group: this.rowGroup, weights: this.weights, groupWeights: this.groupWeights });
    const names = [...this.names, ...this.groupNames];
    return { terms: Object.fromEntries(names.map((name, j) => [name, values[j]])), total };
  }

  private item(name: string, group: number, weight: number, loss: RowLoss, n: number, operands: readonly (TermOperand | null)[]): void {
    const operand = (o: TermOperand | null): ItemOperand | null => {
      if (!o) return null;
      let input = this.inputs.indexOf(o[0]);
      if (input < 0) input = this.inputs.push(o[0]) - 1;
      return { input, offset: o[1], rowStride: n };
    };
    this.items.push({ loss, rows: 1, n, operands: [operand(operands[0])!, operand(operands[1])!, operand(operands[2])] });
    this.names.push(name);
    this.rowGroup.push(group);
    this.weights.push(weight);
  }
}

export function dbislLoss(inputs: LossInputs, cfg: LossConfig): LossResult {
  const { seg, sdf, label } = inputs;
  if (seg.rank !== 5 || seg.shape[1] !== 1) throw new Error(`dbislLoss: seg must be [B, 1, X, Y, Z], got ${formatShape(seg.shape)}`);
  if (!sameShape(sdf.shape, seg.shape)) throw new Error(`dbislLoss: sdf ${formatShape(sdf.shape)} does not match seg ${formatShape(seg.shape)}`);
  const B = seg.shape[0], L = label.shape[0];
  if (label.rank !== 5 || L > B || !label.shape.every((d, i) => i === 0 || d === seg.shape[i])) {
    throw new Error(`dbislLoss: label ${formatShape(label.shape)} must be [L ≤ ${B}, ${seg.shape.slice(1).join(', ')}]`);
  }
  const cdt = cdtOptionsOf(cfg);
  const patch: Shape3 = [seg.shape[2], seg.shape[3], seg.shape[4]];
  const lambda = lambdaAt(inputs.iteration, cfg);

  // Ŷ and T_r2s(R̂) in one kernel, Ŷ first: the views of one storage that T_s2r and lossTotal read in place
  const needR2S = (L > 0 && cfg.supCross) || (cfg.con && cfg.conR2S) || (cfg.pse && B > L);
  const [yhat, r2s = null] = scaledSigmoids(needR2S ? [[seg, 1], [sdf, -cfg.k]] : [[seg, 1]]);
  // T_s2r(Ŷ): over the whole batch when L_con needs it, else only over the labeled rows
  const s2rAll = cfg.con && cfg.conS2R ? tS2R(yhat, cdt) : null;

  // S* of the labeled rows and T_s2r(Ỹ) of the unlabeled ones: one CDT pass over both when both are computed here
  const needTarget = L > 0 && (cfg.beta !== 0 || cfg.supCross);
  let target: Tensor | null = needTarget ? inputs.sdfTarget ?? null : null;
  const sharedCdt = needTarget && !target && cfg.sdfTarget === 'cdt';
  // L_pse's inputs without gradient, first: Ỹ and the weights w
  const pseInputs = B > L && cfg.pse
    ? pseudoLabelInputs(yhat, r2s!, label, cfg, tauAt(inputs.iteration, inputs.maxIterations, cfg), sharedCdt) // needR2S holds whenever L_pse has rows
    : null;
  let pseudoSdf: Tensor | null = null;
  if (sharedCdt && pseInputs) {
    [target, pseudoSdf] = noGrad(() => split(tS2R(pseInputs.withLabel!, cdt), [L, B - L])) as [Tensor, Tensor];
  } else if (needTarget && !target) {
    if (cfg.sdfTarget === 'cdt') target = cdtSdfTarget(label, cfg);
    else {
      if (!inputs.labelHost) throw new Error("dbislLoss: sdfTarget 'dtc' needs the host labels (labelHost)");
      target = dtcSdfTarget(inputs.labelHost, L, patch, { backend: seg.backend, dtype: seg.dtype });
    }
  }
  if (pseInputs && !pseudoSdf) pseudoSdf = noGrad(() => tS2R(pseInputs.pseudo, cdt));

  // ---- every term as an item of one lossTotal: its row losses, L_sup's, L_con's and L_pse's weighted sums and the total
  // L_sup + λ·L_con + λ·L_pse in one reduction, the total's gradient w.r.t. Ŷ, T_r2s(R̂), T_s2r(Ŷ), z and R̂ in one pass
  const total = new LossTerms();
  if (L > 0) {
    // on L: Dice + β_x·Dice_x + CE + β·MSE + β_x·MSE_x, added in this order
    const n = L * yhat.numel() / B;
    // the label rows as the pseudo-label's kernel copied them ahead of Ỹ: one storage fewer to bind (WebGPU's default 8 fit)
    const y: TermOperand = [pseInputs?.withLabel ?? label, 0];
    total.group('sup', 1);
    total.add('supDice', 1, { kind: 'dice', smooth: 1e-5 }, n, [yhat, 0], y);
    if (cfg.supCross) total.add('supCrossDice', cfg.betaX, { kind: 'dice', smooth: 1e-5 }, n, [r2s!, 0], y);
    if (cfg.ce) total.add('supCe', 1, { kind: 'bce', scale: 1 / n }, n, [seg, 0], y);
    if (cfg.beta !== 0) total.add('supMse', cfg.beta, { kind: 'mse', scale: 1 / n, eps: 0 }, n, [sdf, 0], [target!, 0]);
    if (cfg.supCross) total.add('supCrossMse', cfg.betaX, { kind: 'mse', scale: 1 / n, eps: 0 }, n, [s2rAll ?? tS2R(slice(yhat, 0, 0, L), cdt), 0], [target!, 0]);
  }
  if (cfg.con && (cfg.conR2S || cfg.conS2R)) {
    // on L ∪ U: mean((T_r2s(R̂) − Ŷ)²) + mean((T_s2r(Ŷ) − R̂)²)
    const n = yhat.numel(), mean = { kind: 'mse', scale: 1 / n, eps: 0 } as const;
    total.group('con', lambda);
    if (cfg.conR2S) total.add('conR2S', 1, mean, n, [r2s!, 0], [yhat, 0]);
    if (cfg.conS2R) total.add('conS2R', 1, mean, n, [s2rAll!, 0], [sdf, 0]);
  }
  if (pseInputs) {
    // on U: Dice_w(Ŷ, Ỹ) + MSE_w(R̂, T_s2r(Ỹ)) (w = 1 without the weighting), and the logged mean uncertainty
    const { pseudo, w } = pseInputs, first = L * yhat.numel() / B, n = yhat.numel() - first;
    const weight = w ? [w, 0] as const : null;
    total.group('pse', lambda);
    total.add('pseDice', 1, { kind: 'dice', smooth: 1e-5 }, n, [yhat, first], [pseudo, 0], weight);
    total.add('pseMse', 1, w ? { kind: 'mse', scale: 1 / n, eps: 1e-8 } : { kind: 'mse', scale: 1 / n, eps: 0 }, n, [sdf, first], [pseudoSdf!, 0], weight);
    if (w) total.logged('uncertainty', { kind: 'l1', scale: 1 / n }, n, [yhat, first], [r2s!, first]);
  }
  if (total.empty) throw new Error('dbislLoss: every term is switched off (no labeled rows and no unsupervised term)');
  const { terms, total: sum } = total.run();
  terms.total = sum;
  return { total: sum, terms, lambda };
}

/** The names a configuration logs, in a stable order (for the JSONL log and the plots). */
export const TERM_ORDER = [
  'total', 'sup', 'supDice', 'supCe', 'supMse', 'supCrossDice', 'supCrossMse',
  'con', 'conR2S', 'conS2R', 'pse', 'pseDice', 'pseMse', 'uncertainty',
] as const;
