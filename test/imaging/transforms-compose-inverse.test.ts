import { describe, expect, it } from 'vitest';
import { Flip, Rotate90, SpatialPad, CenterSpatialCrop } from '../../src/imaging/transforms-spatial.js';
import { ScaleIntensity } from '../../src/imaging/transforms-intensity.js';
import { Compose, transformsKey, type TransformRecord } from '../../src/imaging/transforms.js';
import { OneOf, RandomOrder, SomeOf } from '../../src/imaging/transforms-compose.js';
import { Invert } from '../../src/imaging/transforms-invert.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

/** OneOf, SomeOf and RandomOrder record their choice and invert the transforms they applied (MONAI's inverse). */

const SHAPE: Shape3 = [5, 4, 3];
const AFFINE = [[0.8, 0, 0, 1], [0, 0.8, 0, 2], [0, 0, 1.5, 3], [0, 0, 0, 1]];
interface Sample { image: MultiChannelVolume; label: Volume<Uint8Array>; affine: number[][]; spacing: number[]; id: string }

function makeSample(): Sample {
  const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
  return {
    image: { data: Float32Array.from({ length: 2 * n }, (_, i) => i + 1), shape: [2, ...SHAPE] },
    label: { data: Uint8Array.from({ length: n }, (_, i) => i % 3), shape: SHAPE },
    affine: AFFINE.map((r) => [...r]), spacing: [0.8, 0.8, 1.5], id: 'case',
  };
}

const keys = ['image', 'label'];
const records = (s: object, key: string): TransformRecord[] => (s as Record<string, TransformRecord[]>)[transformsKey(key)] ?? [];
/** The steps to choose from: each changes the shape or the voxel order in its own way, so an inverse of the wrong one fails. */
const steps = () => [
  new Flip({ keys, spatialAxis: 0 }), new Rotate90({ keys, k: 1, spatialAxes: [0, 1] }), new SpatialPad({ keys, spatialSize: [7, 6, 5] }),
  new ScaleIntensity({ keys: 'image' }),
];

function expectRestored(back: Sample, original: Sample, intensityApplied: boolean): void {
  expect(back.image.shape).toEqual(original.image.shape);
  if (!intensityApplied) expect(back.image.data).toEqual(original.image.data);
  expect(back.label).toEqual(original.label);
  expect(back.affine).toEqual(original.affine);
  expect(back.spacing).toEqual(original.spacing);
  expect(records(back, 'image')).toEqual([]);
  expect(records(back, 'label')).toEqual([]);
}

describe('inverse of OneOf, SomeOf and RandomOrder', () => {
  it('OneOf records the index it applied on every volume key and inverts that transform, over many seeds', () => {
    const oneOf = new OneOf(steps());
    const seen = new Set<number>();
    for (let seed = 0; seed < 24; seed++) {
      const original = makeSample();
      const out = oneOf.apply(original, new Rng(seed)) as Sample;
      const last = records(out, 'label').at(-1)!;
      expect(last.className).toBe('OneOf');
      expect(records(out, 'image').at(-1)!.extraInfo).toEqual(last.extraInfo);
      const [index] = last.extraInfo.indices as number[];
      seen.add(index!);
      expectRestored(oneOf.inverse(out), original, index === 3);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it('SomeOf and RandomOrder invert their transforms in the reverse of the order drawn; nested in a Compose, with a crop after', () => {
    for (const composition of [new SomeOf(steps(), { numTransforms: [1, 3] }), new RandomOrder(steps()), new SomeOf(steps(), { numTransforms: 2, replace: true })]) {
      const pipeline = new Compose([composition, new CenterSpatialCrop({ keys, roiSize: [3, 3, 2] })]);
      for (let seed = 0; seed < 12; seed++) {
        const original = makeSample();
        const out = pipeline.apply(original, new Rng(seed)) as Sample;
        const indices = records(out, 'image').at(-2)!.extraInfo.indices as number[];
        const back = pipeline.inverse(out);
        // the crop lost voxels: the shape, geometry and records come back; the kept region's voxels are checked by the crop's own tests
        expect(back.image.shape).toEqual(original.image.shape);
        expect(back.affine).toEqual(original.affine);
        expect(back.spacing).toEqual(original.spacing);
        expect(records(back, 'image')).toEqual([]);
        const direct = composition.inverse(composition.apply(makeSample(), new Rng(seed)) as Sample);
        expectRestored(direct as Sample, original, indices.includes(3));
      }
    }
  });

  it('Invert follows a OneOf onto a prediction; a OneOf with nothing to choose records nothing', () => {
    const pipeline = new Compose([new OneOf([new Rotate90({ keys, k: 1, spatialAxes: [0, 1] }), new Flip({ keys, spatialAxis: 2 })], { weights: [1, 0] })]);
    const original = makeSample();
    const out = pipeline.apply(original, new Rng(3)) as Sample;
    const back = new Invert({ keys: 'pred', transform: pipeline, origKeys: 'label' }).apply({ ...out, pred: out.label });
    expect((back as unknown as { pred: Volume<Uint8Array> }).pred).toEqual(original.label);
    const empty = new OneOf([]);
    expect(empty.apply(original, new Rng(0))).toBe(original);
    expect(empty.inverse(original)).toBe(original);
  });

  it('errors: no record, or the last record another transform\'s', () => {
    const oneOf = new OneOf([new Flip({ keys, spatialAxis: 0 })]);
    expect(() => oneOf.inverse(makeSample())).toThrow(/OneOf\.inverse: the sample has no records/);
    const flipped = new Flip({ keys, spatialAxis: 1 }).apply(makeSample());
    expect(() => oneOf.inverse(flipped)).toThrow(/OneOf\.inverse: the last record in 'image_transforms' is Flip .*undo the transforms in reverse order/);
  });
});
