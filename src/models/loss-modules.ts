import { Tensor } from '../tensor/tensor.js';
import { checkReduction } from './loss-checks.js';
import {
  binaryCrossEntropyWithLogits, crossEntropy, diceCeLoss, diceFocalLoss, focalLoss, generalizedDiceFocalLoss, generalizedDiceLoss, l1Loss, mseLoss,
  multiClassDiceLoss, nllLoss, smoothL1Loss, tverskyLoss,
  type BceWithLogitsOptions, type CrossEntropyOptions, type DiceCeLossOptions, type DiceFocalLossOptions, type FocalLossOptions,
  type GeneralizedDiceFocalLossOptions, type GeneralizedDiceLossOptions, type MseLossOptions,
  type MultiClassDiceLossOptions, type NllLossOptions, type RegressionLossOptions, type SmoothL1LossOptions, type TverskyLossOptions,
} from './losses.js';
import { Module } from './module.js';

/**
 * The loss classes of torch.nn and MONAI (`new DiceLoss({ sigmoid: true })`, then `loss.forward(input, target)`):
 * each a thin Module over its functional form in losses.ts, which computes it. Modules (as PyTorch's nn.Module
 * subclasses) so a model may hold one as a child, and printable: `String(new MSELoss({ reduction: 'sum' }))` is
 * `MSELoss(reduction='sum')`. The options are checked when the loss is made: an unknown name (MONAI's snake_case
 * included) or a value of the wrong type throws, naming the option; the functional form checks the values against
 * the input at each forward. A tensor option (weight, posWeight, ceWeight) stays the caller's: keep it alive while
 * the loss is in use and dispose it after.
 */

/** What an option's value must be, checked when the loss is made. */
type OptionKind = 'boolean' | 'number' | 'string' | 'numberOrNull' | 'reduction' | 'tensor' | 'numbers' | 'function' | 'wType';

/** every option's kind, one entry per option name (the type makes the list complete) */
type OptionKinds<O> = { readonly [K in keyof Required<O>]: OptionKind };

const monaiKinds = {
  includeBackground: 'boolean', toOnehotY: 'boolean', sigmoid: 'boolean', softmax: 'boolean', reduction: 'reduction',
  smoothNr: 'number', smoothDr: 'number', batch: 'boolean', otherAct: 'function',
} as const;

function isKind(value: unknown, kind: OptionKind): boolean {
  switch (kind) {
    case 'boolean': return typeof value === 'boolean';
    case 'number': return typeof value === 'number' && !Number.isNaN(value);
    case 'string': return typeof value === 'string';
    case 'numberOrNull': return value === null || isKind(value, 'number');
    case 'reduction': return typeof value === 'string';
    case 'tensor': return value === null || value instanceof Tensor;
    case 'numbers': return value === null || (Array.isArray(value) && value.every((v) => typeof v === 'number'));
    case 'function': return value === null || typeof value === 'function';
    case 'wType': return value === 'square' || value === 'simple' || value === 'uniform';
  }
}

const kindWording: Record<OptionKind, string> = {
  boolean: 'a boolean', number: 'a number', string: 'a string', numberOrNull: 'a number or null', reduction: "'mean', 'sum' or 'none'", tensor: 'a Tensor or null', numbers: 'an array of numbers or null',
  function: 'a function or null', wType: "'square', 'simple' or 'uniform'",
};

const camelCase = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function formatOption(value: unknown): string {
  if (value instanceof Tensor) return `Tensor[${value.shape.join(', ')}]`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return value.name === '' ? 'function' : value.name;
  return Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
}

/** A loss as a Module: `forward(input, target)` is its functional form with the options given at construction. */
export abstract class LossModule<O extends object> extends Module {
  /** the options as given (a copy of the object; a tensor in it is the caller's) */
  readonly options: Readonly<O>;

  protected constructor(options: O, kinds: OptionKinds<O>) {
    super();
    if (options === null || typeof options !== 'object') throw new Error(`${this.typeName}: options must be an object, got ${String(options)}`);
    const known = kinds as Readonly<Record<string, OptionKind>>;
    for (const [name, value] of Object.entries(options)) {
      const kind = known[name];
      if (kind === undefined) {
        const suggestion = camelCase(name) in known ? ` (did you mean '${camelCase(name)}'?)` : '';
        throw new Error(`${this.typeName}: unknown option '${name}'${suggestion}; options: ${Object.keys(known).join(', ')}`);
      }
      if (value === undefined) continue;
      if (!isKind(value, kind)) throw new Error(`${this.typeName}: option ${name} must be ${kindWording[kind]}, got ${formatOption(value)}`);
      if (kind === 'reduction') checkReduction(this.typeName, value as string);
    }
    this.options = { ...options };
  }

  /** the loss of `input` against `target` (a scalar tensor unless reduction is 'none') */
  abstract forward(input: Tensor, target: Tensor): Tensor;

  /** the options given, as `name=value` (PyTorch's extra_repr) */
  override extraRepr(): string {
    return Object.entries(this.options).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${formatOption(v)}`).join(', ');
  }

  /** `DiceLoss(sigmoid=true)`, as PyTorch prints a loss (a loss has no parameters to count) */
  override toString(): string { return `${this.typeName}(${this.extraRepr()})`; }
}

// ------------------------------------------------------------------------------------------------ MONAI's

/**
 * MONAI's DiceLoss, over `multiClassDiceLoss`: one loss per sample and channel, 1 − (2·Σ p·g + smoothNr)/(Σ p + Σ g
 * + smoothDr) over the spatial axes, then reduced. MONAI's arguments map one to one: include_background →
 * includeBackground, to_onehot_y → toOnehotY, sigmoid, softmax, squared_pred → squaredPred, smooth_nr → smoothNr,
 * smooth_dr → smoothDr, batch, reduction, weight (a list of numbers here), other_act → otherAct, jaccard,
 * soft_label → softLabel.
 * (Not over `diceLoss`: that is DTC's single ratio pooled over the whole batch and every channel, always with
 * squared denominators.) 'none' gives [N, C] where MONAI keeps the spatial axes as ones ([N, C, 1, 1, 1]).
 */
export class DiceLoss extends LossModule<MultiClassDiceLossOptions> {
  constructor(options: MultiClassDiceLossOptions = {}) { super(options, { ...monaiKinds, squaredPred: 'boolean', weight: 'numbers', jaccard: 'boolean', softLabel: 'boolean' }); }
  forward(input: Tensor, target: Tensor): Tensor { return multiClassDiceLoss(input, target, this.options); }
}

/** MONAI's DiceCELoss, over `diceCeLoss`: lambdaDice · DiceLoss + lambdaCe · the cross entropy of the raw logits. */
export class DiceCELoss extends LossModule<DiceCeLossOptions> {
  constructor(options: DiceCeLossOptions = {}) {
    super(options, {
      ...monaiKinds, squaredPred: 'boolean', weight: 'numbers', jaccard: 'boolean', lambdaDice: 'number', lambdaCe: 'number', ceWeight: 'tensor',
      labelSmoothing: 'number',
    });
  }
  forward(input: Tensor, target: Tensor): Tensor { return diceCeLoss(input, target, this.options); }
}

/** MONAI's GeneralizedDiceLoss, over `generalizedDiceLoss` (w_type → wType). */
export class GeneralizedDiceLoss extends LossModule<GeneralizedDiceLossOptions> {
  constructor(options: GeneralizedDiceLossOptions = {}) { super(options, { ...monaiKinds, softLabel: 'boolean', wType: 'wType' }); }
  forward(input: Tensor, target: Tensor): Tensor { return generalizedDiceLoss(input, target, this.options); }
}

/** MONAI's DiceFocalLoss, over `diceFocalLoss` (lambda_dice → lambdaDice, lambda_focal → lambdaFocal, gamma, alpha). */
export class DiceFocalLoss extends LossModule<DiceFocalLossOptions> {
  constructor(options: DiceFocalLossOptions = {}) {
    super(options, {
      ...monaiKinds, squaredPred: 'boolean', weight: 'numbers', jaccard: 'boolean', lambdaDice: 'number', lambdaFocal: 'number',
      gamma: 'number', alpha: 'numberOrNull',
    });
  }
  forward(input: Tensor, target: Tensor): Tensor { return diceFocalLoss(input, target, this.options); }
}

/**
 * MONAI's GeneralizedDiceFocalLoss, over `generalizedDiceFocalLoss` (w_type → wType, lambda_gdl → lambdaGdl,
 * lambda_focal → lambdaFocal, gamma, weight: the focal term's class weights).
 */
export class GeneralizedDiceFocalLoss extends LossModule<GeneralizedDiceFocalLossOptions> {
  constructor(options: GeneralizedDiceFocalLossOptions = {}) {
    super(options, { ...monaiKinds, wType: 'wType', weight: 'numbers', lambdaGdl: 'number', lambdaFocal: 'number', gamma: 'number' });
  }
  forward(input: Tensor, target: Tensor): Tensor { return generalizedDiceFocalLoss(input, target, this.options); }
}

/** MONAI's TverskyLoss, over `tverskyLoss` (alpha weighs the false positives, beta the false negatives). */
export class TverskyLoss extends LossModule<TverskyLossOptions> {
  constructor(options: TverskyLossOptions = {}) { super(options, { ...monaiKinds, alpha: 'number', beta: 'number', softLabel: 'boolean' }); }
  forward(input: Tensor, target: Tensor): Tensor { return tverskyLoss(input, target, this.options); }
}

export interface FocalLossModuleOptions {
  /** the focusing exponent (default 2) */
  gamma?: number;
  /** the positives' weight in [0, 1] (the negatives' 1 − alpha); null (default, MONAI's alpha=None): no weighting */
  alpha?: number | null;
  /** default 'mean', as MONAI */
  reduction?: FocalLossOptions['reduction'];
}

/**
 * MONAI's FocalLoss in its sigmoid form (use_softmax=False), over `focalLoss` (torchvision's sigmoid_focal_loss) with
 * MONAI's defaults: no alpha and reduction 'mean', i.e. `focalLoss(x, y, { alpha: -1, reduction: 'mean' })`. It
 * equals MONAI's on binary targets (MONAI's modulating factor differs on soft targets); include_background,
 * to_onehot_y, weight and use_softmax are not supported (the input and target have one shape).
 */
export class FocalLoss extends LossModule<FocalLossModuleOptions> {
  constructor(options: FocalLossModuleOptions = {}) {
    super(options, { gamma: 'number', alpha: 'numberOrNull', reduction: 'reduction' });
  }
  forward(input: Tensor, target: Tensor): Tensor {
    const { alpha = null, reduction = 'mean', gamma } = this.options;
    return focalLoss(input, target, { alpha: alpha ?? -1, reduction, gamma });
  }
}

// ---------------------------------------------------------------------------------------------- torch.nn's

/** nn.CrossEntropyLoss, over `crossEntropy`: logits [N, C, …] against class indices (int32) or class probabilities. */
export class CrossEntropyLoss extends LossModule<CrossEntropyOptions> {
  constructor(options: CrossEntropyOptions = {}) {
    super(options, { weight: 'tensor', ignoreIndex: 'number', reduction: 'reduction', labelSmoothing: 'number' });
  }
  forward(input: Tensor, target: Tensor): Tensor { return crossEntropy(input, target, this.options); }
}

/** nn.NLLLoss, over `nllLoss`: log-probabilities [N, C, …] against int32 class indices. */
export class NLLLoss extends LossModule<NllLossOptions> {
  constructor(options: NllLossOptions = {}) { super(options, { weight: 'tensor', ignoreIndex: 'number', reduction: 'reduction' }); }
  forward(input: Tensor, target: Tensor): Tensor { return nllLoss(input, target, this.options); }
}

/** nn.BCEWithLogitsLoss, over `binaryCrossEntropyWithLogits`. */
export class BCEWithLogitsLoss extends LossModule<BceWithLogitsOptions> {
  constructor(options: BceWithLogitsOptions = {}) { super(options, { weight: 'tensor', posWeight: 'tensor', reduction: 'reduction' }); }
  forward(input: Tensor, target: Tensor): Tensor { return binaryCrossEntropyWithLogits(input, target, this.options); }
}

/** nn.MSELoss, over `mseLoss` (with its per-element `weight`, which PyTorch's class does not have). */
export class MSELoss extends LossModule<MseLossOptions> {
  constructor(options: MseLossOptions = {}) { super(options, { weight: 'tensor', reduction: 'reduction' }); }
  forward(input: Tensor, target: Tensor): Tensor { return mseLoss(input, target, this.options); }
}

/** nn.L1Loss, over `l1Loss`. */
export class L1Loss extends LossModule<RegressionLossOptions> {
  constructor(options: RegressionLossOptions = {}) { super(options, { reduction: 'reduction' }); }
  forward(input: Tensor, target: Tensor): Tensor { return l1Loss(input, target, this.options); }
}

/** nn.SmoothL1Loss, over `smoothL1Loss`. */
export class SmoothL1Loss extends LossModule<SmoothL1LossOptions> {
  constructor(options: SmoothL1LossOptions = {}) { super(options, { reduction: 'reduction', beta: 'number' }); }
  forward(input: Tensor, target: Tensor): Tensor { return smoothL1Loss(input, target, this.options); }
}
