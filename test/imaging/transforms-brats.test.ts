import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConvertToMultiChannelBasedOnBratsClasses } from '../../src/imaging/transforms-brats.js';
import { RandFlip, RandSpatialCrop } from '../../src/imaging/transforms-spatial.js';
import { Compose } from '../../src/imaging/transforms.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume } from '../../src/imaging/sliding-window.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

/** MONAI's ConvertToMultiChannelBasedOnBratsClassesd: TC = 1 ∪ 4, WT = 1 ∪ 2 ∪ 4, ET = 4, channel first. */

const labelArb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain((shape) =>
  fc.array(fc.constantFrom(0, 1, 2, 3, 4, 5), { minLength: shape[0] * shape[1] * shape[2], maxLength: shape[0] * shape[1] * shape[2] })
    .map((values) => ({ shape: shape as Shape3, values })));

// MONAI's expressions, voxel by voxel: (img == 1) | (img == 4), (img == 1) | (img == 4) | (img == 2), img == 4
const monai = (v: number): [number, number, number] => [Number(v === 1 || v === 4), Number(v === 1 || v === 4 || v === 2), Number(v === 4)];

describe('ConvertToMultiChannelBasedOnBratsClasses', () => {
  it('makes MONAI\'s channel-first [3, X, Y, Z] (float 0/1) from a uint8 or float label, leaving the other keys and the input alone', () => {
    fc.assert(fc.property(labelArb, fc.boolean(), ({ shape, values }, float) => {
      const label = { data: float ? Float32Array.from(values) : Uint8Array.from(values), shape };
      const image: Volume = { data: new Float32Array(values.length).fill(2), shape };
      const out = new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label' }).apply({ image, label });
      const regions = out.label as unknown as MultiChannelVolume;
      expect(regions.shape).toEqual([3, ...shape]);
      expect(regions.data).toBeInstanceOf(Float32Array);
      const n = values.length;
      const want = [0, 1, 2].flatMap((c) => values.map((v) => monai(v)[c]!));
      expect(Array.from(regions.data)).toEqual(want);
      expect(regions.data.subarray(2 * n)).toEqual(Float32Array.from(values, (v) => (v === 4 ? 1 : 0)));
      expect(out.image).toBe(image);
      expect(Array.from(label.data)).toEqual(values);
    }), { numRuns: 50 });
  });

  it('converts each of several keys', () => {
    const shape: Shape3 = [1, 1, 3];
    const out = new ConvertToMultiChannelBasedOnBratsClasses({ keys: ['a', 'b'] }).apply({
      a: { data: Uint8Array.from([1, 2, 4]), shape }, b: { data: Uint8Array.from([0, 4, 2]), shape },
    }) as unknown as Record<'a' | 'b', MultiChannelVolume>;
    expect(Array.from(out.a.data)).toEqual([1, 0, 1, 1, 1, 1, 0, 0, 1]);
    expect(Array.from(out.b.data)).toEqual([0, 1, 0, 0, 1, 1, 0, 1, 0]);
  });

  it('with regionKeys writes three uint8 volumes that the spatial transforms crop and flip with the label', () => {
    fc.assert(fc.property(labelArb, fc.integer({ min: 0, max: 1000 }), ({ shape, values }, seed) => {
      const label: Volume<Uint8Array> = { data: Uint8Array.from(values), shape };
      const convert = new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label', regionKeys: ['tc', 'wt', 'et'] });
      const keys = ['label', 'tc', 'wt', 'et'];
      const pipeline = new Compose([convert, new RandSpatialCrop({ keys, roiSize: [1, 1, 1], randomSize: false }), new RandFlip({ keys, prob: 0.5, spatialAxis: 0 })]);
      const [out] = pipeline.applyAll({ label }, new Rng(seed)) as Record<string, Volume<Uint8Array>>[];
      const cropped = out!.label!.data[0]!;
      expect(['tc', 'wt', 'et'].map((k) => out![k]!.data[0])).toEqual(monai(cropped));
      for (const k of ['tc', 'wt', 'et']) expect(out![k]!.data).toBeInstanceOf(Uint8Array);
      const full = convert.apply({ label }) as unknown as Record<string, Volume<Uint8Array>>;
      expect(Array.from(full.wt!.data)).toEqual(values.map((v) => monai(v)[1]));
      expect(full.wt!.shape).toEqual(shape);
    }), { numRuns: 30 });
  });

  it('refuses by name a missing key, regionKeys that are not three keys or with several keys', () => {
    const name = 'ConvertToMultiChannelBasedOnBratsClasses';
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label' }).apply({ image: { data: new Float32Array(1), shape: [1, 1, 1] } }))
      .toThrow(`${name}: key 'label' is missing from the sample (it has 'image')`);
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label', regionKeys: ['tc', 'wt'] as never })).toThrow(`${name}: regionKeys must be three keys (TC, WT, ET), got ["tc","wt"]`);
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses({ keys: ['a', 'b'], regionKeys: ['tc', 'wt', 'et'] })).toThrow(`${name}: regionKeys needs a single key, got keys ["a","b"]`);
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses({ keys: [] })).toThrow(`${name}: keys must be a key or a non-empty list of keys`);
  });
});
