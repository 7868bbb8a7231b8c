import { describe, expect, it } from 'vitest';
import {
  BCEWithLogitsLoss, CrossEntropyLoss, DiceCELoss, DiceFocalLoss, DiceLoss, FocalLoss, GeneralizedDiceLoss, L1Loss, MSELoss, NLLLoss,
  SmoothL1Loss, TverskyLoss, type LossModule,
} from '../../src/models/loss-modules.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * The loss classes' option checks, kind by kind and class by class (the mutation run's findings): each class accepts
 * a valid value of each of its options, refuses a value of the wrong type naming the option and what it must be, and
 * lists exactly its options when given an unknown one.
 */

type Kind = 'boolean' | 'number' | 'numberOrNull' | 'reduction' | 'tensor' | 'numbers' | 'function' | 'wType';

const weight = fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: cpu });
const identity = (x: Tensor): Tensor => x;

/** a valid value of each kind (and a second one, where the kind takes null) */
const valid: Record<Kind, unknown[]> = {
  boolean: [true, false], number: [0.5], numberOrNull: [0.5, null], reduction: ['sum'], tensor: [weight, null], numbers: [[1, 2], null],
  function: [identity, null], wType: ['square', 'simple', 'uniform'],
};

/** a value of the wrong type for each kind, how the error prints it, and what the error says the option must be */
const invalid: Record<Kind, [unknown, string, string][]> = {
  boolean: [['yes', "'yes'", 'a boolean'], [1, '1', 'a boolean']],
  number: [['1', "'1'", 'a number'], [NaN, 'NaN', 'a number'], [null, 'null', 'a number']],
  numberOrNull: [['1', "'1'", 'a number or null'], [NaN, 'NaN', 'a number or null']],
  reduction: [[1, '1', "'mean', 'sum' or 'none'"]],
  tensor: [[[1, 2], '[1, 2]', 'a Tensor or null'], [{}, '[object Object]', 'a Tensor or null']],
  numbers: [[['1', 2], '[1, 2]', 'an array of numbers or null'], [3, '3', 'an array of numbers or null']],
  function: [['tanh', "'tanh'", 'a function or null'], [weight, 'Tensor[2, 3]', 'a function or null']],
  wType: [['cube', "'cube'", "'square', 'simple' or 'uniform'"], [null, 'null', "'square', 'simple' or 'uniform'"]],
};

const monai: [string, Kind][] = [
  ['includeBackground', 'boolean'], ['toOnehotY', 'boolean'], ['sigmoid', 'boolean'], ['softmax', 'boolean'], ['reduction', 'reduction'],
  ['smoothNr', 'number'], ['smoothDr', 'number'], ['batch', 'boolean'], ['otherAct', 'function'],
];

type LossClass = new (options: never) => LossModule<object>;

/** each class with its options, in the order of its error's list, and their kinds */
const classes: [LossClass, [string, Kind][]][] = [
  [DiceLoss, [...monai, ['squaredPred', 'boolean'], ['weight', 'numbers'], ['jaccard', 'boolean'], ['softLabel', 'boolean']]],
  [DiceCELoss, [
    ...monai, ['squaredPred', 'boolean'], ['weight', 'numbers'], ['jaccard', 'boolean'], ['lambdaDice', 'number'], ['lambdaCe', 'number'],
    ['ceWeight', 'tensor'], ['labelSmoothing', 'number'],
  ]],
  [GeneralizedDiceLoss, [...monai, ['softLabel', 'boolean'], ['wType', 'wType']]],
  [DiceFocalLoss, [
    ...monai, ['squaredPred', 'boolean'], ['weight', 'numbers'], ['jaccard', 'boolean'], ['lambdaDice', 'number'], ['lambdaFocal', 'number'],
    ['gamma', 'number'], ['alpha', 'numberOrNull'],
  ]],
  [TverskyLoss, [...monai, ['alpha', 'number'], ['beta', 'number'], ['softLabel', 'boolean']]],
  [FocalLoss, [['gamma', 'number'], ['alpha', 'numberOrNull'], ['reduction', 'reduction']]],
  [CrossEntropyLoss, [['weight', 'tensor'], ['ignoreIndex', 'number'], ['reduction', 'reduction'], ['labelSmoothing', 'number']]],
  [NLLLoss, [['weight', 'tensor'], ['ignoreIndex', 'number'], ['reduction', 'reduction']]],
  [BCEWithLogitsLoss, [['weight', 'tensor'], ['posWeight', 'tensor'], ['reduction', 'reduction']]],
  [MSELoss, [['weight', 'tensor'], ['reduction', 'reduction']]],
  [L1Loss, [['reduction', 'reduction']]],
  [SmoothL1Loss, [['reduction', 'reduction'], ['beta', 'number']]],
];

const make = (Loss: LossClass, options: unknown): LossModule<object> => new Loss(options as never);

describe('loss classes: option checks', () => {
  it.each(classes.map(([Loss, options]) => [Loss.name, Loss, options] as const))('%s accepts each of its options, refuses a value of the wrong type, lists exactly its options', (name, Loss, options) => {
    for (const [option, kind] of options) {
      for (const value of valid[kind]) {
        const loss = make(Loss, { [option]: value });
        expect(loss.options, `${name} ${option}`).toEqual({ [option]: value });
      }
      for (const [value, printed, wording] of invalid[kind]) {
        expect(() => make(Loss, { [option]: value }), `${name} ${option} = ${printed}`).toThrow(`${name}: option ${option} must be ${wording}, got ${printed}`);
      }
    }
    const list = options.map(([option]) => option).join(', ');
    expect(() => make(Loss, { unknownOption: 1 })).toThrow(`${name}: unknown option 'unknownOption'; options: ${list}`);
  });

  it('refuses options that are not an object, naming the class', () => {
    expect(() => make(DiceLoss, null)).toThrow('DiceLoss: options must be an object, got null');
    expect(() => make(MSELoss, 5)).toThrow('MSELoss: options must be an object, got 5');
    expect(() => make(FocalLoss, 'mean')).toThrow('FocalLoss: options must be an object, got mean');
    expect(make(L1Loss, undefined).options).toEqual({});
  });

  it('suggests the camelCase name of a snake_case option with several underscores, and nothing for other unknown names', () => {
    expect(() => make(DiceCELoss, { to_onehot_y: true })).toThrow("DiceCELoss: unknown option 'to_onehot_y' (did you mean 'toOnehotY'?); options: ");
    expect(() => make(DiceFocalLoss, { lambda_focal: 1 })).toThrow("DiceFocalLoss: unknown option 'lambda_focal' (did you mean 'lambdaFocal'?); options: ");
    expect(() => make(TverskyLoss, { gamma: 1 })).toThrow("TverskyLoss: unknown option 'gamma'; options: ");
    expect(() => make(DiceLoss, { Sigmoid: true })).toThrow("DiceLoss: unknown option 'Sigmoid'; options: ");
  });

  it('checks the reduction\'s value when made, and skips an option given as undefined', () => {
    expect(() => make(TverskyLoss, { reduction: 'avg' })).toThrow("TverskyLoss: unknown reduction 'avg'; valid: mean, sum, none");
    const loss = make(DiceLoss, { sigmoid: undefined, smoothNr: 0 });
    expect(String(loss)).toBe('DiceLoss(smoothNr=0)');
  });
});

describe('loss classes: printing and options', () => {
  it('prints each kind of option as PyTorch\'s extra_repr would: tensors by shape, strings quoted, arrays, functions by name', () => {
    const anonymous = [(x: Tensor): Tensor => x][0];
    expect(anonymous.name).toBe('');
    expect(String(make(DiceLoss, { otherAct: anonymous, weight: [0.5, 2], reduction: 'none', batch: false })))
      .toBe("DiceLoss(otherAct=function, weight=[0.5, 2], reduction='none', batch=false)");
    expect(String(make(DiceCELoss, { ceWeight: weight, lambdaCe: 0.25 }))).toBe('DiceCELoss(ceWeight=Tensor[2, 3], lambdaCe=0.25)');
    expect(String(make(FocalLoss, { alpha: null }))).toBe('FocalLoss(alpha=null)');
  });

  it('keeps a copy of the options object: later changes to the caller\'s object do not reach the loss', () => {
    const options: { gamma?: number; reduction?: 'sum' } = { gamma: 1 };
    const loss = new FocalLoss(options);
    options.gamma = 3;
    options.reduction = 'sum';
    expect(loss.options).toEqual({ gamma: 1 });
    expect(String(loss)).toBe('FocalLoss(gamma=1)');
  });
});
