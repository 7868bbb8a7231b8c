import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConvertToMultiChannelBasedOnBratsClasses } from '../../src/imaging/transforms-brats.js';
import { NormalizeIntensity } from '../../src/imaging/transforms-intensity.js';
import { RandCropByPosNegLabel, RandFlip } from '../../src/imaging/transforms-spatial.js';
import { Compose, Lambda, type ComposeStep, type Composed, type SampleTransform, type Transform } from '../../src/imaging/transforms.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume } from '../../src/imaging/sliding-window.js';
import type { Volume } from '../../src/imaging/volume.js';

/**
 * Compose's result type (checked by tsc over the test files, and run): as its input by default, the sample type TOut
 * says when given, one sample when MaySplit is false (which only SampleTransforms may be given to).
 */

type Raw = { image: Volume; label: Volume<Uint8Array> };
type Regions = { tc: Volume<Uint8Array>; wt: Volume<Uint8Array>; et: Volume<Uint8Array> };
type Sample = Raw & Regions;

const raw = (): Raw => ({
  image: { data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), shape: [2, 2, 2] },
  label: { data: Uint8Array.of(0, 1, 2, 4, 4, 2, 1, 0), shape: [2, 2, 2] },
});

describe('Compose typing', () => {
  it('by default: the input type, one sample or a list, and a Compose is a Transform (nested ones too)', () => {
    const inner = new Compose([new NormalizeIntensity({ keys: 'image' })]);
    const pipeline = new Compose([inner, new RandFlip({ keys: ['image', 'label'], prob: 1, spatialAxis: 0 })]);
    expectTypeOf(inner).toMatchTypeOf<Transform>();
    const out = pipeline.apply(raw(), new Rng(0));
    expectTypeOf(out).toEqualTypeOf<Raw | Raw[]>();
    expectTypeOf(pipeline.applyAll(raw(), new Rng(0))).toEqualTypeOf<Raw[]>();
    expect(Array.isArray(out)).toBe(false);
    expect(Array.from((out as Raw).label.data)).toEqual([4, 2, 1, 0, 0, 1, 2, 4]);
  });

  it('Compose<Sample, false>: one sample of the output type, no cast for the keys a transform adds', () => {
    const keys = ['image', 'label', 'tc', 'wt', 'et'];
    const pipeline = new Compose<Sample, false>([
      new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label', regionKeys: ['tc', 'wt', 'et'] }),
      new RandFlip({ keys, prob: 1, spatialAxis: 2 }),
    ]);
    const sample = pipeline.apply(raw(), new Rng(0));
    expectTypeOf(sample).toEqualTypeOf<Composed<Raw, Sample>>();
    expectTypeOf(sample).toMatchTypeOf<Sample>();
    expectTypeOf(pipeline.applyAll(raw(), new Rng(0))).toEqualTypeOf<Composed<Raw, Sample>[]>();
    const tc: Volume<Uint8Array> = sample.tc;
    expect(Array.from(tc.data)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(sample.image.data)).toEqual([2, 1, 4, 3, 6, 5, 8, 7]);
  });

  it('TOut as only the keys added or changed: a key whose type changes takes TOut\'s type', () => {
    const pipeline = new Compose<{ label: MultiChannelVolume }, false>([new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label' })]);
    const sample = pipeline.apply(raw());
    expectTypeOf(sample.label).toEqualTypeOf<MultiChannelVolume>();
    expectTypeOf(sample.image).toEqualTypeOf<Volume>();
    expect(sample.label.shape).toEqual([3, 2, 2, 2]);
  });

  it('MaySplit false refuses (at compile time) a transform that returns a list; the default keeps the list', () => {
    const crop = new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: 1, numSamples: 2 });
    expectTypeOf(crop).not.toMatchTypeOf<SampleTransform>();
    expectTypeOf(new Lambda({ keys: 'image', func: (v) => v })).toMatchTypeOf<SampleTransform>();
    // @ts-expect-error RandCropByPosNegLabel returns a list of samples
    expect(() => new Compose<Raw, false>([crop])).not.toThrow();
    const splitting = new Compose<Raw>([crop]);
    const out = splitting.apply(raw(), new Rng(1));
    expectTypeOf(out).toEqualTypeOf<Composed<Raw, Raw> | Composed<Raw, Raw>[]>();
    expect(Array.isArray(out) && out.length).toBe(2);
  });

  it('a typed Compose nests in a Compose without a cast; one that may split only where the outer one may', () => {
    const regions = new Compose<Regions, false>([new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label', regionKeys: ['tc', 'wt', 'et'] })]);
    const keys = ['image', 'label', 'tc', 'wt', 'et'];
    const pipeline = new Compose<Sample, false>([regions, new RandFlip({ keys, prob: 1, spatialAxis: 2 }), new Compose<object, false>([new NormalizeIntensity({ keys: 'image' })])]);
    const sample = pipeline.apply(raw(), new Rng(0));
    expectTypeOf(sample).toMatchTypeOf<Sample>();
    expect(Array.from(sample.tc.data)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(sample.image.data).map((v) => Math.round(v * 1000) / 1000)).toEqual([-1.091, -1.528, -0.218, -0.655, 0.655, 0.218, 1.528, 1.091]);
    expectTypeOf(regions).toMatchTypeOf<ComposeStep<false>>();

    const crops = new Compose<Regions>([regions, new RandCropByPosNegLabel({ keys, labelKey: 'tc', spatialSize: 1, numSamples: 3, neg: 0 })]);
    expectTypeOf(crops).toMatchTypeOf<ComposeStep>();
    expectTypeOf(crops).not.toMatchTypeOf<ComposeStep<false>>();
    // @ts-expect-error a Compose that may return a list, in one that promises one sample
    expect(() => new Compose<Sample, false>([crops])).not.toThrow();
    // a Compose of no declared MaySplit may split, so it nests in such a one only when written inline (MaySplit false is then inferred and checked)
    const plain = new Compose([new NormalizeIntensity({ keys: 'image' })]);
    // @ts-expect-error
    expect(() => new Compose<Sample, false>([plain])).not.toThrow();
    expect(() => new Compose<Sample, false>([new Compose([new NormalizeIntensity({ keys: 'image' })])])).not.toThrow();
    // @ts-expect-error RandCropByPosNegLabel in the inline Compose, whose MaySplit false is inferred
    expect(() => new Compose<Sample, false>([new Compose([new RandCropByPosNegLabel({ keys, labelKey: 'tc', spatialSize: 1 })])])).not.toThrow();
    const outer = new Compose<Sample>([crops, new RandFlip({ keys, prob: 1, spatialAxis: 0 })]);
    const out = outer.applyAll(raw(), new Rng(2));
    expect(out.length).toBe(3);
    expect(out.every((s) => s.tc.data[0] === 1)).toBe(true);
  });
});
