import { describe, expect, it } from 'vitest';
import { interpolate, mul } from '../../src/autograd/index.js';
import { DiceCELoss, DiceLoss } from '../../src/models/loss-modules.js';
import { DeepSupervisionLoss, MaskedDiceLoss, deepSupervisionLoss, deepSupervisionWeights, maskedDiceLoss } from '../../src/models/losses-extra.js';
import { diceCeLoss, multiClassDiceLoss } from '../../src/models/losses.js';
import { dispose, fromArray, ones, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's MaskedDiceLoss and DeepSupervisionLoss (losses-extra.ts): the values of MONAI's tests
 * (tests/losses/test_masked_dice_loss.py, test_ds_loss.py; MONAI's float class targets as int32 here), the masked loss
 * as DiceLoss of the masked tensors, gradients (float64), the weight modes, the target resizing, classes and refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };
const t64 = (d: number[], s: number[]) => fromArray(d, s, f64);

describe('maskedDiceLoss (MONAI MaskedDiceLoss)', () => {
  const x = [-1, 0, 1, 1, 0, -1, 0, 0, 0, 0, 0, 0];

  it("MONAI's test values", async () => {
    const cases: [string, () => Tensor, number[]][] = [
      ['sigmoid, one sample', () => maskedDiceLoss(t64([1, -1, -1, 1], [1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 2, 2]), t64([0, 0, 1, 1], [1, 1, 2, 2]), { sigmoid: true, smoothNr: 1e-6, smoothDr: 1e-6 }), [0.5]],
      ['sigmoid, two samples', () => maskedDiceLoss(t64([1, -1, -1, 1, 1, -1, -1, 1], [2, 1, 2, 2]), t64([1, 1, 1, 1, 1, 0, 1, 0], [2, 1, 2, 2]), t64([1, 1, 1, 1, 1, 1, 0, 0], [2, 1, 2, 2]), { sigmoid: true, smoothNr: 1e-4, smoothDr: 1e-4 }), [0.422969]],
      ['one-hot, no background, no smoothing', () => maskedDiceLoss(t64([1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0], [2, 2, 3]), fromArray([0, 0, 1, 0, 1, 0], [2, 1, 3], i32), t64([1, 1, 1, 0, 1, 0], [2, 1, 3]), { includeBackground: false, toOnehotY: true, smoothNr: 0, smoothDr: 0 }), [0]],
      ['one-hot, a mask for the whole batch', () => maskedDiceLoss(t64(x, [2, 2, 3]), fromArray([1, 0, 0, 1, 1, 0], [2, 1, 3], i32), t64([1, 1, 0], [1, 1, 3]), { toOnehotY: true, sigmoid: true, smoothNr: 1e-4, smoothDr: 1e-4 }), [0.47033]],
      ["no mask, 'none'", () => maskedDiceLoss(t64(x, [2, 2, 3]), fromArray([1, 0, 0, 1, 1, 0], [2, 1, 3], i32), null, { toOnehotY: true, sigmoid: true, reduction: 'none', smoothNr: 1e-4, smoothDr: 1e-4 }), [0.296529, 0.415136, 0.599976, 0.428559]],
      ['no mask, softmax', () => maskedDiceLoss(t64(x, [2, 2, 3]), fromArray([1, 0, 0, 1, 1, 0], [2, 1, 3], i32), null, { toOnehotY: true, softmax: true, smoothNr: 1e-4, smoothDr: 1e-4 }), [0.383713]],
      ['no mask, squared', () => maskedDiceLoss(t64([1, -1, -1, 1], [1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 2, 2]), null, { sigmoid: true, squaredPred: true }), [0.178337]],
      ['no mask, jaccard', () => maskedDiceLoss(t64([1, -1, -1, 1], [1, 1, 2, 2]), t64([1, 0, 1, 1], [1, 1, 2, 2]), null, { sigmoid: true, jaccard: true }), [0.470451]],
    ];
    for (const [what, run, expected] of cases) expectClose(await value(run()), expected, 1e-6, 1e-5, what);
  });

  it('is DiceLoss of the input and target times the mask (the activation after it), an int32 target kept where the mask is nonzero', async () => {
    const shape = [2, 3, 4, 3];
    const xs = t64(Array.from(randomArray(sizeOf(shape), 51, -2, 2)), shape);
    const labels = Array.from(randomArray(24, 52, 0, 3), (v) => Math.min(2, Math.floor(v)));
    const target = fromArray(labels, [2, 1, 4, 3], i32);
    const maskData = Array.from(randomArray(24, 53, 0, 1), (v) => (v < 0.6 ? 1 : 0));
    const mask = t64(maskData, [2, 1, 4, 3]);
    const kept = fromArray(labels.map((c, i) => (maskData[i] ? c : 0)), [2, 1, 4, 3], i32);
    const options = { toOnehotY: true, softmax: true, includeBackground: false, reduction: 'none' as const };
    expectClose(await value(maskedDiceLoss(xs, target, mask, options)), await value(multiClassDiceLoss(mul(xs, mask), kept, options)), 0, 0, 'int32 target');
    const soft = t64(Array.from(randomArray(sizeOf(shape), 54, 0, 1)), shape);
    expectClose(await value(maskedDiceLoss(xs, soft, mask, { sigmoid: true })), await value(multiClassDiceLoss(mul(xs, mask), mul(soft, mask), { sigmoid: true })), 0, 0, 'float target');
    await expectGradchecks([
      ['masked, sigmoid', (a) => maskedDiceLoss(a, soft, mask, { sigmoid: true, batch: true }), [{ data: randomArray(sizeOf(shape), 55, -2, 2), shape }]],
      ['masked, softmax, one-hot', (a) => maskedDiceLoss(a, target, mask, { softmax: true, toOnehotY: true }), [{ data: randomArray(sizeOf(shape), 56, -2, 2), shape }]],
    ]);
    dispose([xs, target, mask, kept, soft]);
  });

  it('refuses a mask of another shape, dtype or channel count, naming it; the class takes the mask as a third argument', async () => {
    const xs = ones([2, 2, 3], f64), g = ones([2, 2, 3], f64);
    expect(() => maskedDiceLoss(xs, g, ones([2, 2, 3], f64))).toThrow(/mask \[2, 2, 3\] must be \[2 or 1, 1, 3\] for input \[2, 2, 3\]/);
    expect(() => maskedDiceLoss(xs, g, ones([3, 1, 3], f64))).toThrow(/mask \[3, 1, 3\] must be \[2 or 1, 1, 3\]/);
    expect(() => maskedDiceLoss(xs, g, ones([2, 1, 4], f64))).toThrow(/mask \[2, 1, 4\] must be/);
    expect(() => maskedDiceLoss(xs, g, ones([2, 1, 3], { backend: cpu }))).toThrow(/mask \[2, 1, 3\] float32 must have the input's dtype float64/);
    expect(() => maskedDiceLoss(xs, g, ones([2, 1, 3], f64), { sigmoid: true, softmax: true })).toThrow(/mutually exclusive/);
    const m = t64([1, 0, 1], [1, 1, 3]);
    const loss = new MaskedDiceLoss({ sigmoid: true, smoothNr: 0.1 });
    expect(await value(loss.forward(xs, g, m))).toEqual(await value(maskedDiceLoss(xs, g, m, { sigmoid: true, smoothNr: 0.1 })));
    expect(await value(loss.forward(xs, g))).toEqual(await value(new DiceLoss({ sigmoid: true, smoothNr: 0.1 }).forward(xs, g)));
    expect(String(loss)).toBe('MaskedDiceLoss(sigmoid=true, smoothNr=0.1)');
    expect(() => new MaskedDiceLoss({ smooth_nr: 1 } as never)).toThrow(/unknown option 'smooth_nr' \(did you mean 'smoothNr'\?\)/);
    dispose([xs, g, m]);
  });
});

describe('deepSupervisionLoss (MONAI DeepSupervisionLoss)', () => {
  const levels = () => [
    t64([1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0], [1, 2, 2, 3]),
    t64([1, 1, 0, 0, 1, 0, 0, 1], [1, 2, 2, 2]),
    t64([1, 0, 1, 0], [1, 2, 2, 1]),
  ];
  const target = () => fromArray([1, 0, 1, 0, 1, 0], [1, 1, 2, 3], i32);

  it("MONAI's test values (DiceCELoss and DiceLoss with toOnehotY; weight modes and weights)", async () => {
    const ce = new DiceCELoss({ toOnehotY: true }), dice = new DiceLoss({ toOnehotY: true });
    const cases: [string, DeepSupervisionLoss, boolean, number][] = [
      ['DiceCE, one tensor', new DeepSupervisionLoss(ce), false, 0.606557],
      ['DiceCE, exp', new DeepSupervisionLoss(ce), true, 1.78144],
      ['DiceCE, same', new DeepSupervisionLoss(ce, { weightMode: 'same' }), true, 3.5529],
      ['DiceCE, two', new DeepSupervisionLoss(ce, { weightMode: 'two' }), true, 2.07973],
      ['DiceCE, weights', new DeepSupervisionLoss(ce, { weights: [0.1, 0.2, 0.3] }), true, 0.76924],
      ['Dice, one tensor', new DeepSupervisionLoss(dice), false, 0.166666],
      ['Dice, exp', new DeepSupervisionLoss(dice), true, 0.666665],
    ];
    for (const [what, loss, list, expected] of cases) {
      const xs = levels(), t = target();
      expectClose(await value(loss.forward(list ? xs : xs[0], t)), [expected], 1e-5, 1e-4, what);
      dispose([...xs, t]);
    }
  });

  it("MONAI's weights: exp 1, ½, … not below 1/16; same; two; given weights when there are enough of them", () => {
    expect(deepSupervisionWeights(6)).toEqual([1, 0.5, 0.25, 0.125, 0.0625, 0.0625]);
    expect(deepSupervisionWeights(3, { weightMode: 'same' })).toEqual([1, 1, 1]);
    expect(deepSupervisionWeights(4, { weightMode: 'two' })).toEqual([1, 0.5, 0.5, 0.5]);
    expect(deepSupervisionWeights(2, { weights: [3, 2, 1] })).toEqual([3, 2]);
    expect(deepSupervisionWeights(3, { weights: [3, 2], weightMode: 'same' })).toEqual([1, 1, 1]);
    expect(deepSupervisionWeights(0)).toEqual([1]);
    expect(() => deepSupervisionWeights(2, { weightMode: 'half' as 'exp' })).toThrow(/weightMode must be 'exp', 'same' or 'two', got 'half'/);
  });

  it('is Σ w_l · loss(level l, the target resized by nearest-exact), for float and int32 targets, 2-D and 3-D', async () => {
    const shapes = [[2, 3, 4, 6, 2], [2, 3, 2, 3, 1], [2, 3, 1, 2, 1]];
    const xs = shapes.map((s, l) => t64(Array.from(randomArray(sizeOf(s), 61 + l, -2, 2)), s));
    const labels = Array.from(randomArray(96, 64, 0, 3), (v) => Math.min(2, Math.floor(v)));
    const target = fromArray(labels, [2, 1, 4, 6, 2], i32);
    const fn = (a: Tensor, b: Tensor) => diceCeLoss(a, b, { toOnehotY: true, softmax: true });
    let expected = 0;
    for (const [l, x] of xs.entries()) {
      const resized = interpolate(t64(labels, [2, 1, 4, 6, 2]), { size: x.shape.slice(2) as [number, number, number], mode: 'nearest-exact' });
      const asInt = fromArray(Array.from(await resized.toArray()), resized.shape, i32);
      expected += [1, 0.5, 0.25][l] * (await value(fn(x, asInt)))[0];
      dispose([resized, asInt]);
    }
    expectClose(await value(deepSupervisionLoss(xs, target, fn)), [expected], 1e-14, 1e-13, '3-D int32');
    // 2-D: the same volumes without their last (unit) axis, with a one-hot float target
    const xs2 = xs.slice(1).map((x) => x.reshape(...x.shape.slice(0, 4)));
    const oneHot = t64(Array.from(randomArray(2 * 3 * 2 * 3, 65, 0, 1), (v) => (v < 0.5 ? 1 : 0)), [2, 3, 2, 3]);
    const dice = (a: Tensor, b: Tensor) => multiClassDiceLoss(a, b, { sigmoid: true });
    const small = interpolate(oneHot.reshape(2, 3, 2, 3, 1), { size: [1, 2, 1], mode: 'nearest-exact' });
    const want = (await value(dice(xs2[0], oneHot)))[0] + 0.5 * (await value(dice(xs2[1], small.reshape(2, 3, 1, 2))))[0];
    expectClose(await value(deepSupervisionLoss(xs2, oneHot, dice)), [want], 1e-14, 1e-13, '2-D float');
    await expectGradchecks([['levels', (a, b) => deepSupervisionLoss([a, b], oneHot, dice), [{ data: randomArray(18, 66), shape: [2, 3, 1, 3] }, { data: randomArray(6, 67), shape: [2, 3, 1, 1] }]]]);
    dispose([...xs, target, oneHot, small]);
  });

  it('refusals name the input; the loss is a child module', () => {
    const t = target();
    const loss = new DeepSupervisionLoss(new DiceLoss({ toOnehotY: true }));
    expect(() => loss.forward([], t)).toThrow(/input must be a tensor or a non-empty list of tensors/);
    expect(() => loss.forward([t64([1, 2, 3, 4, 5, 6], [1, 2, 3])], t)).toThrow(/target \[1, 1, 2, 3\] and input \[1, 2, 3\] must both be \[N, C, H, W\] or \[N, C, H, W, D\]/);
    expect(() => new DeepSupervisionLoss({} as never)).toThrow(/loss must be a loss module or a function/);
    expect(() => new DeepSupervisionLoss((a) => a, { weightMode: 'x' as 'exp' })).toThrow(/weightMode must be 'exp', 'same' or 'two', got 'x'/);
    expect(() => new DeepSupervisionLoss((a) => a, { weights: [1, NaN] })).toThrow(/weights must be finite numbers/);
    expect([...loss.namedChildren()].map(([name]) => name)).toEqual(['loss']);
    t.dispose();
  });
});
