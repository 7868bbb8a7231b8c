import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logSoftmax } from '../../src/autograd/index.js';
import {
  BCEWithLogitsLoss, CrossEntropyLoss, DiceCELoss, DiceFocalLoss, DiceLoss, FocalLoss, GeneralizedDiceLoss, L1Loss, LossModule, MSELoss, NLLLoss,
  SmoothL1Loss, TverskyLoss,
} from '../../src/models/loss-modules.js';
import {
  binaryCrossEntropyWithLogits, crossEntropy, diceCeLoss, diceFocalLoss, focalLoss, generalizedDiceLoss, l1Loss, mseLoss, multiClassDiceLoss,
  nllLoss, smoothL1Loss, tverskyLoss,
} from '../../src/models/losses.js';
import { Module } from '../../src/models/module.js';
import { fromArray, sizeOf, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

/** The loss classes: each equals its functional form with the options it was given, on random inputs and options. */

const f32 = { backend: cpu };
const i32 = { backend: cpu, dtype: 'int32' as const };

/** a random [N, C, X, Y] problem: logits, a binary float target of their shape, class indices [N, 1, X, Y] and [N, X, Y] */
const problemArb = fc.record({
  n: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 2, max: 4 }), x: fc.integer({ min: 1, max: 4 }), y: fc.integer({ min: 1, max: 4 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
});
type Problem = { logits: Tensor; binary: Tensor; probs: Tensor; indices: Tensor; channelIndices: Tensor; c: number };

function makeProblem({ n, c, x, y, seed }: { n: number; c: number; x: number; y: number; seed: number }): Problem {
  const shape = [n, c, x, y], size = sizeOf(shape);
  const classes = Array.from(randomArray(n * x * y, seed + 2, 0, c), (v) => Math.min(c - 1, Math.floor(v)));
  return {
    logits: fromArray(randomArray(size, seed, -3, 3), shape, f32),
    binary: fromArray(Array.from(randomArray(size, seed + 1, 0, 1), (v) => (v < 0.4 ? 1 : 0)), shape, f32),
    probs: fromArray(randomArray(size, seed + 3, 0, 1), shape, f32),
    indices: fromArray(classes, [n, x, y], i32),
    channelIndices: fromArray(classes, [n, 1, x, y], i32),
    c,
  };
}

/** the loss module's value and the functional form's, for one problem */
async function bothValues(problem: Problem, pair: (p: Problem) => [Tensor, Tensor]): Promise<[number[], number[]]> {
  const [a, b] = tidy(() => pair(problem));
  const values: [number[], number[]] = [Array.from(await a.toArray()), Array.from(await b.toArray())];
  for (const t of [a, b, problem.logits, problem.binary, problem.probs, problem.indices, problem.channelIndices]) t.dispose();
  return values;
}

const reductionArb = fc.constantFrom('mean' as const, 'sum' as const, 'none' as const);
const smoothArb = (min: number) => fc.option(fc.double({ min, max: 1, noNaN: true }), { nil: undefined });
const monaiArb = fc.record({
  sigmoid: fc.boolean(), includeBackground: fc.option(fc.boolean(), { nil: undefined }), batch: fc.option(fc.boolean(), { nil: undefined }),
  reduction: fc.option(reductionArb, { nil: undefined }), smoothNr: smoothArb(0), smoothDr: smoothArb(1e-3), // (a denominator of 0 would make both NaN)
});

/** `cases` problems with options from `optionsArb`: the class's forward equals the functional form, to the bit */
async function expectSameAsFunctional<O>(optionsArb: fc.Arbitrary<O>, pair: (p: Problem, options: O) => [Tensor, Tensor]): Promise<void> {
  await fc.assert(fc.asyncProperty(problemArb, optionsArb, async (shape, options) => {
    const [got, want] = await bothValues(makeProblem(shape), (p) => pair(p, options));
    expect(got, JSON.stringify(options)).toEqual(want);
    expect(got.every(Number.isFinite)).toBe(true);
  }), { numRuns: 25 });
}

describe('MONAI loss classes', () => {
  it('DiceLoss is multiClassDiceLoss (sigmoid on binary targets, softmax with one-hot indices)', async () => {
    await expectSameAsFunctional(fc.record({ monai: monaiArb, squaredPred: fc.boolean(), weighted: fc.boolean() }), (p, { monai, squaredPred, weighted }) => {
      const classes = monai.includeBackground === false ? p.c - 1 : p.c;
      const weight = weighted && classes > 1 ? Array.from({ length: classes }, (_, k) => k + 0.5) : undefined;
      const options = { ...monai, squaredPred, weight };
      if (monai.sigmoid) return [new DiceLoss(options).forward(p.logits, p.binary), multiClassDiceLoss(p.logits, p.binary, options)];
      const softmax = { ...options, sigmoid: false, softmax: true, toOnehotY: true };
      return [new DiceLoss(softmax).forward(p.logits, p.channelIndices), multiClassDiceLoss(p.logits, p.channelIndices, softmax)];
    });
  });

  it('DiceCELoss is diceCeLoss', async () => {
    const arb = fc.record({ monai: monaiArb, lambdaDice: fc.double({ min: 0, max: 2, noNaN: true }), lambdaCe: fc.double({ min: 0, max: 2, noNaN: true }), sum: fc.boolean() });
    await expectSameAsFunctional(arb, (p, { monai, lambdaDice, lambdaCe, sum }) => {
      const options = { ...monai, sigmoid: false, softmax: !monai.sigmoid, toOnehotY: true, lambdaDice, lambdaCe, reduction: sum ? 'sum' as const : 'mean' as const };
      return [new DiceCELoss(options).forward(p.logits, p.channelIndices), diceCeLoss(p.logits, p.channelIndices, options)];
    });
  });

  it('TverskyLoss is tverskyLoss', async () => {
    const arb = fc.record({ monai: monaiArb, alpha: fc.double({ min: 0, max: 1, noNaN: true }), beta: fc.double({ min: 0, max: 1, noNaN: true }) });
    await expectSameAsFunctional(arb, (p, { monai, alpha, beta }) => {
      const options = { ...monai, alpha, beta };
      return [new TverskyLoss(options).forward(p.logits, p.binary), tverskyLoss(p.logits, p.binary, options)];
    });
  });

  it('DiceLoss, DiceCELoss and TverskyLoss pass jaccard, softLabel, otherAct and labelSmoothing on', async () => {
    const arb = fc.record({ jaccard: fc.boolean(), softLabel: fc.boolean(), act: fc.boolean(), labelSmoothing: fc.double({ min: 0, max: 1, noNaN: true }) });
    await expectSameAsFunctional(arb, (p, { jaccard, softLabel, act, labelSmoothing }) => {
      const activation = act ? { otherAct: (x: Tensor) => x.sigmoid() } : { sigmoid: true };
      const dice = { ...activation, jaccard, softLabel };
      const diceCe = { softmax: true, toOnehotY: true, jaccard, labelSmoothing };
      const tversky = { ...activation, softLabel, alpha: 0.3, beta: 0.7 };
      const sum = (a: Tensor, b: Tensor, c: Tensor) => a.add(b).add(c);
      return [
        sum(new DiceLoss(dice).forward(p.logits, p.probs), new DiceCELoss(diceCe).forward(p.logits, p.channelIndices), new TverskyLoss(tversky).forward(p.logits, p.probs)),
        sum(multiClassDiceLoss(p.logits, p.probs, dice), diceCeLoss(p.logits, p.channelIndices, diceCe), tverskyLoss(p.logits, p.probs, tversky)),
      ];
    });
  });

  it('GeneralizedDiceLoss and DiceFocalLoss are generalizedDiceLoss and diceFocalLoss', async () => {
    const arb = fc.record({
      monai: monaiArb, wType: fc.constantFrom('square' as const, 'simple' as const, 'uniform' as const),
      lambdaDice: fc.double({ min: 0, max: 2, noNaN: true }), lambdaFocal: fc.double({ min: 0, max: 2, noNaN: true }),
      gamma: fc.double({ min: 0, max: 3, noNaN: true }), alpha: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
    });
    await expectSameAsFunctional(arb, (p, { monai, wType, lambdaDice, lambdaFocal, gamma, alpha }) => {
      const gdl = { ...monai, wType }, focal = { ...monai, lambdaDice, lambdaFocal, gamma, alpha };
      return [
        new GeneralizedDiceLoss(gdl).forward(p.logits, p.binary).sum().add(new DiceFocalLoss(focal).forward(p.logits, p.binary).sum()),
        generalizedDiceLoss(p.logits, p.binary, gdl).sum().add(diceFocalLoss(p.logits, p.binary, focal).sum()),
      ];
    });
  });

  it('FocalLoss is focalLoss with MONAI\'s defaults (no alpha, the mean), and passes alpha, gamma and reduction on', async () => {
    await expectSameAsFunctional(fc.constant(null), (p) => [new FocalLoss().forward(p.logits, p.binary), focalLoss(p.logits, p.binary, { alpha: -1, reduction: 'mean' })]);
    const arb = fc.record({ alpha: fc.double({ min: 0, max: 1, noNaN: true }), gamma: fc.double({ min: 0, max: 3, noNaN: true }), reduction: reductionArb });
    await expectSameAsFunctional(arb, (p, options) => [new FocalLoss(options).forward(p.logits, p.binary), focalLoss(p.logits, p.binary, options)]);
  });
});

describe('torch.nn loss classes', () => {
  const weightArb = fc.boolean();
  const classWeight = (p: Problem, weighted: boolean): Tensor | null => (weighted ? fromArray(randomArray(p.c, 7, 0.2, 2), [p.c], f32) : null);

  it('CrossEntropyLoss is crossEntropy (class indices and probabilities, weight, ignoreIndex, labelSmoothing)', async () => {
    const arb = fc.record({ weighted: weightArb, reduction: reductionArb, labelSmoothing: fc.double({ min: 0, max: 1, noNaN: true }), probabilities: fc.boolean() });
    await expectSameAsFunctional(arb, (p, { weighted, probabilities, ...rest }) => {
      // class 0 ignored (not with the mean, which all-ignored targets make NaN, as PyTorch)
      const options = { ...rest, weight: classWeight(p, weighted), ignoreIndex: probabilities || rest.reduction === 'mean' ? -100 : 0 };
      const target = probabilities ? p.probs : p.indices;
      return [new CrossEntropyLoss(options).forward(p.logits, target), crossEntropy(p.logits, target, options)];
    });
  });

  it('NLLLoss is nllLoss', async () => {
    await expectSameAsFunctional(fc.record({ weighted: weightArb, reduction: reductionArb }), (p, { weighted, reduction }) => {
      const options = { weight: classWeight(p, weighted), reduction }, logProbs = logSoftmax(p.logits, 1);
      return [new NLLLoss(options).forward(logProbs, p.indices), nllLoss(logProbs, p.indices, options)];
    });
  });

  it('BCEWithLogitsLoss is binaryCrossEntropyWithLogits (weight and posWeight)', async () => {
    await expectSameAsFunctional(fc.record({ weighted: weightArb, positive: weightArb, reduction: reductionArb }), (p, { weighted, positive, reduction }) => {
      const perChannel = (seed: number) => fromArray(randomArray(p.c, seed, 0.2, 2), [p.c, 1, 1], f32);
      const options = { weight: weighted ? perChannel(8) : null, posWeight: positive ? perChannel(9) : null, reduction };
      return [new BCEWithLogitsLoss(options).forward(p.logits, p.binary), binaryCrossEntropyWithLogits(p.logits, p.binary, options)];
    });
  });

  it('MSELoss, L1Loss and SmoothL1Loss are mseLoss, l1Loss and smoothL1Loss', async () => {
    const arb = fc.record({ reduction: reductionArb, beta: fc.double({ min: 0, max: 2, noNaN: true }) });
    await expectSameAsFunctional(arb, (p, { reduction }) => [new MSELoss({ reduction }).forward(p.logits, p.probs), mseLoss(p.logits, p.probs, { reduction })]);
    await expectSameAsFunctional(arb, (p, { reduction }) => [new L1Loss({ reduction }).forward(p.logits, p.probs), l1Loss(p.logits, p.probs, { reduction })]);
    await expectSameAsFunctional(arb, (p, options) => [new SmoothL1Loss(options).forward(p.logits, p.probs), smoothL1Loss(p.logits, p.probs, options)]);
  });
});

describe('loss classes as modules', () => {
  it('are Modules without parameters, printed as PyTorch prints a loss, with the options given', () => {
    const dice = new DiceLoss({ sigmoid: true, squaredPred: true, smoothNr: 0, smoothDr: 1e-5 });
    expect(dice).toBeInstanceOf(Module);
    expect(dice).toBeInstanceOf(LossModule);
    expect(dice.numParameters()).toBe(0);
    expect(String(dice)).toBe('DiceLoss(sigmoid=true, squaredPred=true, smoothNr=0, smoothDr=0.00001)');
    expect(String(new MSELoss())).toBe('MSELoss()');
    const weight = fromArray([1, 2, 3], [3], f32);
    expect(String(new CrossEntropyLoss({ weight, reduction: 'sum' }))).toBe("CrossEntropyLoss(weight=Tensor[3], reduction='sum')");
    weight.dispose();
  });

  it('registers as a child of a model holding it, and has no state', () => {
    class WithLoss extends Module { criterion = new DiceCELoss({ toOnehotY: true, softmax: true }); }
    const model = new WithLoss();
    expect(model.namedModules().map(([name]) => name)).toEqual(['', 'criterion']);
    expect(model.stateDict().size).toBe(0);
    expect(String(model)).toBe('WithLoss()\n  (criterion): DiceCELoss(toOnehotY=true, softmax=true)\ntotal parameters: 0');
  });

  it('names an unknown option (MONAI\'s snake_case with its camelCase name) and an option of the wrong type', () => {
    expect(() => new DiceLoss({ squared_pred: true } as never)).toThrow("DiceLoss: unknown option 'squared_pred' (did you mean 'squaredPred'?)");
    expect(() => new MSELoss({ beta: 1 } as never)).toThrow("MSELoss: unknown option 'beta'; options: weight, reduction");
    expect(() => new TverskyLoss({ alpha: '0.3' } as never)).toThrow("TverskyLoss: option alpha must be a number, got '0.3'");
    expect(() => new DiceLoss({ sigmoid: 1 } as never)).toThrow('DiceLoss: option sigmoid must be a boolean, got 1');
    expect(() => new CrossEntropyLoss({ weight: [1, 2] } as never)).toThrow('CrossEntropyLoss: option weight must be a Tensor or null, got [1, 2]');
    expect(() => new L1Loss({ reduction: 'avg' } as never)).toThrow("L1Loss: unknown reduction 'avg'; valid: mean, sum, none");
    expect(() => new FocalLoss({ alpha: NaN })).toThrow('FocalLoss: option alpha must be a number or null, got NaN');
    expect(() => new DiceLoss({ otherAct: 'sigmoid' } as never)).toThrow("DiceLoss: option otherAct must be a function or null, got 'sigmoid'");
    expect(() => new GeneralizedDiceLoss({ wType: 'squared' } as never)).toThrow("GeneralizedDiceLoss: option wType must be 'square', 'simple' or 'uniform', got 'squared'");
    expect(String(new DiceLoss({ otherAct: function relu6(x: Tensor) { return x; } }))).toBe('DiceLoss(otherAct=relu6)');
  });

  it('leaves the value checks against the input to the functional form, which names the option', () => {
    const x = fromArray([0.5, -1], [1, 2], f32), y = fromArray([1, 0], [1, 2], f32);
    expect(() => new FocalLoss({ gamma: -1 }).forward(x, y)).toThrow('focalLoss: gamma must be ≥ 0, got -1');
    expect(() => new DiceCELoss({ reduction: 'none' } as never).forward(x, y)).toThrow("diceCeLoss: reduction must be 'mean' or 'sum'");
    x.dispose();
    y.dispose();
  });
});
