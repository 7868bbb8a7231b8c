import { describe, expect, it } from 'vitest';
import {
  CenterSpatialCrop, CropForeground, Flip, RandCropByPosNegLabel, RandFlip, RandRotate90, RandSpatialCrop, Resize, Rotate90, Spacing, SpatialPad,
  generateSpatialBoundingBox,
} from '../../src/imaging/transforms-spatial.js';
import { Rng } from '../../src/imaging/random.js';
import { GateRng } from '../helpers/gate-rng.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

/** A float volume whose voxel i holds i + 1. */
const indexVolume = (shape: Shape3): Volume<Float32Array> => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape });
const line = (values: number[]): Volume<Float32Array> => ({ data: Float32Array.from(values), shape: [values.length, 1, 1] });
const labelLine = (values: number[]): Volume<Uint8Array> => ({ data: Uint8Array.from(values), shape: [values.length, 1, 1] });

describe('pads and crops: sides and centres', () => {
  it("SpatialPad 'symmetric' puts ⌊d/2⌋ before, 'end' all after, per axis", () => {
    const image = line([1, 2]);
    expect([...new SpatialPad({ keys: 'image', spatialSize: [5, 1, 1] }).apply({ image }).image.data]).toEqual([0, 1, 2, 0, 0]);
    expect([...new SpatialPad({ keys: 'image', spatialSize: [5, 1, 1], method: 'end' }).apply({ image }).image.data]).toEqual([1, 2, 0, 0, 0]);
    expect(new SpatialPad({ keys: 'image', spatialSize: [0, 3, -1] }).apply({ image }).image.shape).toEqual([2, 3, 1]);
  });

  it('CenterSpatialCrop of an even axis starts at ⌊L/2⌋ − ⌊s/2⌋', () => {
    expect([...new CenterSpatialCrop({ keys: 'image', roiSize: [3, 1, 1] }).apply({ image: line([1, 2, 3, 4, 5, 6]) }).image.data]).toEqual([3, 4, 5]);
    expect([...new CenterSpatialCrop({ keys: 'image', roiSize: [2, 1, 1] }).apply({ image: line([1, 2, 3, 4, 5]) }).image.data]).toEqual([2, 3]);
  });
});

describe('random spatial transforms: draws and gates', () => {
  it('the gates are u < prob: u = prob leaves the sample as it is', () => {
    const image = indexVolume([2, 3, 2]);
    const sample = { image };
    // a skipped transform returns the sample's volume itself, with a record saying it did nothing (for its inverse)
    const skipped = (out: object): boolean => (out as typeof sample).image === image
      && JSON.stringify(Object.keys(out)) === '["image","image_transforms"]' && (out as { image_transforms: { doTransform: boolean }[] }).image_transforms[0]!.doTransform === false;
    expect(skipped(new RandFlip({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.5)))).toBe(true);
    expect(new RandFlip({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.25))).not.toBe(sample);
    // RandRotate90 draws k (Rng.int, no random()) before the gate
    expect(skipped(new RandRotate90({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.5)))).toBe(true);
    expect(new RandRotate90({ keys: 'image', prob: 0.5, maxK: 1 }).apply(sample, new GateRng(0.25)).image)
      .toEqual(new Rotate90({ keys: 'image', k: 1 }).apply(sample).image);
  });

  it('RandCropByPosNegLabel: u < pos / (pos + neg) picks the foreground, u = ratio the background', () => {
    const label = labelLine([0, 1, 0]);
    const image = line([10, 20, 30]);
    const crop = (u: number): number => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 1, pos: 1, neg: 1 }).apply({ image, label }, new GateRng(u))[0]!.image.data[0]!;
    expect(crop(0.49)).toBe(20);
    expect([10, 30]).toContain(crop(0.5));
  });

  it('RandSpatialCrop draws the size per axis first, then the start', () => {
    const image = indexVolume([6, 5, 4]);
    const r = new Rng(12);
    const size = [r.intIn(2, 6), r.intIn(1, 5), r.intIn(3, 4)];
    const start = [0, 1, 2].map((a) => ([6, 5, 4][a]! > size[a]! ? r.int([6, 5, 4][a]! - size[a]! + 1) : 0));
    const out = new RandSpatialCrop({ keys: 'image', roiSize: [2, 1, 3], randomSize: true }).apply({ image }, new Rng(12)).image;
    expect(out.shape).toEqual(size);
    expect(out.data[0]).toBe((start[0]! * 5 + start[1]!) * 4 + start[2]! + 1);
  });
});

describe('Rotate90 and Spacing details', () => {
  it('k is taken mod 4 (numpy), negative k included', () => {
    const image = indexVolume([2, 3, 1]);
    for (const [k, same] of [[5, 1], [-2, 2], [-3, 1], [4, 0], [6, 2]] as const) {
      expect(new Rotate90({ keys: 'image', k }).apply({ image }).image).toEqual(new Rotate90({ keys: 'image', k: same }).apply({ image }).image);
    }
    expect(new Rotate90({ keys: 'image', k: 0 }).apply({ image }).image).toEqual(image);
  });

  it("Spacing's output size rounds half to even (numpy), and the sample's spacing entry is the new pixdim", () => {
    // (4 − 1)·1/2 + 1 = 2.5 → 2; (6 − 1)·1/2 + 1 = 3.5 → 4
    expect(new Spacing({ keys: 'image', pixdim: [2, 1, 1] }).apply({ image: line([0, 1, 2, 3]), spacing: [1, 1, 1] }).image.shape).toEqual([2, 1, 1]);
    const out = new Spacing({ keys: 'image', pixdim: [2, 1, 1], spacingKey: 'pixdim' }).apply({ image: line([0, 1, 2, 3, 4, 5]), pixdim: [1, 1, 1] });
    expect(out.image.shape).toEqual([4, 1, 1]);
    // sources 0, 2, 4, 6 → clamped to 5 (border)
    expect([...out.image.data]).toEqual([0, 2, 4, 5]);
    expect(out.pixdim).toEqual([2, 1, 1]);
  });

  it("Spacing's nearest rounds half to even: sources 0, 0.5, 1, 1.5, 2 take voxels 0, 0, 1, 2, 2", () => {
    expect([...new Spacing({ keys: 'label', pixdim: [0.5, 1, 1] }).apply({ label: labelLine([10, 20, 30]), spacing: [1, 1, 1] }).label.data]).toEqual([10, 10, 20, 30, 30]);
  });

  it('modes given per key', () => {
    const out = new Resize({ keys: ['image', 'other'], spatialSize: [4, 1, 1], mode: ['trilinear', 'nearest'] }).apply({ image: line([0, 4]), other: line([0, 4]) });
    expect([...out.image.data]).toEqual([0, 1, 3, 4]);
    expect([...out.other.data]).toEqual([0, 0, 4, 4]);
  });
});

describe('spatial transforms name the bad option, key and shape', () => {
  const image = indexVolume([4, 4, 4]);
  const label: Volume<Uint8Array> = { data: new Uint8Array(64).fill(1), shape: [4, 4, 4] };

  it('constructors', () => {
    expect(() => new SpatialPad({ keys: 'image', spatialSize: 4, method: 'edge' as never })).toThrow(/^SpatialPad: method must be 'symmetric' or 'end', got "edge"$/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 3 as never })).toThrow(/^CropForeground: sourceKey must be a key, got 3$/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label', selectFn: 1 as never })).toThrow(/^CropForeground: selectFn must be a function \(value\) => boolean$/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label', margin: -1 })).toThrow(/^CropForeground: margin must be ≥ 0, got -1$/);
    expect(() => generateSpatialBoundingBox(image, { margin: [0, -1, 0] })).toThrow(/^generateSpatialBoundingBox: margin must be ≥ 0, got \[0,-1,0\]$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 3 as never, spatialSize: 2 })).toThrow(/^RandCropByPosNegLabel: labelKey must be a key, got 3$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, pos: -1 })).toThrow(/^RandCropByPosNegLabel: pos and neg must be ≥ 0 and not both 0, got pos -1, neg 1$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, neg: Infinity })).toThrow(/got pos 1, neg Infinity/);
    for (const numSamples of [0, 1.5]) {
      expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, numSamples })).toThrow(new RegExp(`^RandCropByPosNegLabel: numSamples must be a positive integer, got ${numSamples}$`));
    }
    expect(() => new Rotate90({ keys: 'image', k: 1.5 })).toThrow(/^Rotate90: k must be an integer, got 1.5$/);
    expect(() => new Rotate90({ keys: 'image', spatialAxes: [0] as never })).toThrow(/^Rotate90: spatialAxes must be two distinct axes, got \[0\]$/);
    for (const maxK of [0, 2.5]) expect(() => new RandRotate90({ keys: 'image', maxK })).toThrow(new RegExp(`^RandRotate90: maxK must be a positive integer, got ${maxK}$`));
    expect(() => new RandFlip({ keys: 'image', prob: 2 })).toThrow(/^RandFlip: prob must be in \[0, 1\], got 2$/);
    for (const pixdim of [[1, 1], [1, 0, 1], [1, NaN, 1]]) {
      expect(() => new Spacing({ keys: 'image', pixdim: pixdim as never })).toThrow(/^Spacing: pixdim must be three positive numbers, got /);
    }
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, 1], mode: 'area' as never })).toThrow(/^Spacing: mode must be 'trilinear', 'nearest' or one of them per key \(1 keys\), got "area"$/);
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: 2.5 })).toThrow(/^RandSpatialCrop: roiSize must be an integer/);
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: 2, maxRoiSize: 1.5 })).toThrow(/^RandSpatialCrop: maxRoiSize must be an integer/);
  });

  it('apply', () => {
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: [3, 1, 1], maxRoiSize: [2, 4, 4], randomSize: true }).apply({ image }, new Rng(0)))
      .toThrow(/^RandSpatialCrop: roiSize \[3, 1, 1\] exceeds maxRoiSize \[2, 4, 4\]$/);
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: 2 }).apply({ image })).toThrow(/^RandSpatialCrop: a random transform needs an Rng/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2 }).apply({ image: indexVolume([4, 4, 2]), label }, new Rng(0)))
      .toThrow(/^RandCropByPosNegLabel: key 'image' has shape \[4, 4, 2\], labelKey 'label' has \[4, 4, 4\]$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, imageKey: 'weights' }).apply({ image, label, weights: indexVolume([2, 4, 4]) }, new Rng(0)))
      .toThrow(/^RandCropByPosNegLabel: key 'weights' has shape \[2, 4, 4\], labelKey 'label' has \[4, 4, 4\]$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2 }).apply({ image }, new Rng(0))).toThrow(/^RandCropByPosNegLabel: key 'label' is missing/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label' }).apply({ image, label: { data: new Uint8Array(64), shape: [4, 4, 4] } }))
      .toThrow(/^CropForeground: sourceKey 'label' has no foreground voxel \(selectFn accepts none\)$/);
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, 1] }).apply({ image, spacing: [1, 0, 1] })).toThrow(/^Spacing: key 'spacing' must hold the sample's voxel spacing, three positive numbers, got \[1,0,1\]$/);
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, 1] }).apply({ image, spacing: [1, 1] })).toThrow(/^Spacing: key 'spacing' must hold/);
    expect(() => new Spacing({ keys: 'label', pixdim: [1, 1, 1], mode: 'trilinear' }).apply({ label, spacing: [1, 1, 1] })).toThrow(/^Spacing: key 'label' is a Uint8Array volume \(a label\)/);
    expect(() => new Rotate90({ keys: 'image' }).apply({})).toThrow(/^Rotate90: key 'image' is missing/);
  });
});

describe('spatial transforms: more edges from mutation testing', () => {
  const image = indexVolume([4, 4, 4]);
  const ones: Volume<Uint8Array> = { data: new Uint8Array(64).fill(1), shape: [4, 4, 4] };

  it('every transform names itself for bad keys and a missing key', () => {
    const make: Record<string, (keys: string | string[]) => { apply(d: object, r?: Rng): unknown }> = {
      SpatialPad: (keys) => new SpatialPad({ keys, spatialSize: 2 }),
      CenterSpatialCrop: (keys) => new CenterSpatialCrop({ keys, roiSize: 2 }),
      RandSpatialCrop: (keys) => new RandSpatialCrop({ keys, roiSize: 2 }),
      CropForeground: (keys) => new CropForeground({ keys, sourceKey: 'image' }),
      RandCropByPosNegLabel: (keys) => new RandCropByPosNegLabel({ keys, labelKey: 'image', spatialSize: 2 }),
      Flip: (keys) => new Flip({ keys }),
      RandFlip: (keys) => new RandFlip({ keys }),
      Rotate90: (keys) => new Rotate90({ keys }),
      RandRotate90: (keys) => new RandRotate90({ keys }),
      Resize: (keys) => new Resize({ keys, spatialSize: 2 }),
      Spacing: (keys) => new Spacing({ keys, pixdim: [1, 1, 1] }),
    };
    for (const [name, f] of Object.entries(make)) {
      expect(() => f([])).toThrow(new RegExp(`^${name}: keys must be a key or a non-empty list of keys`));
      expect(() => f(['image', 'other']).apply({ image, spacing: [1, 1, 1] }, new Rng(0))).toThrow(new RegExp(`^${name}: key 'other' is missing`));
    }
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: 2, maxRoiSize: [1, 2] as never })).toThrow(/^RandSpatialCrop: maxRoiSize must be/);
    expect(() => new CenterSpatialCrop({ keys: 'image', roiSize: 1.5 })).toThrow(/^CenterSpatialCrop: roiSize must be/);
    expect(() => new Resize({ keys: 'image', spatialSize: 1.5 })).toThrow(/^Resize: spatialSize must be/);
    expect(() => new Resize({ keys: 'image', spatialSize: 2, mode: 'bicubic' as never })).toThrow(/^Resize: mode must be 'area', 'trilinear', 'nearest' or one of them per key \(1 keys\), got "bicubic"$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 1.5 })).toThrow(/^RandCropByPosNegLabel: spatialSize must be/);
  });

  it('shape checks look at every axis, not only when all differ', () => {
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label' }).apply({ image: indexVolume([4, 4, 2]), label: ones }))
      .toThrow(/^CropForeground: key 'image' has shape \[4, 4, 2\], sourceKey 'label' has \[4, 4, 4\]$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: [5, 1, 1] }).apply({ image, label: ones }, new Rng(0)))
      .toThrow(/^RandCropByPosNegLabel: spatialSize \[5, 1, 1\] is larger than the label's shape \[4, 4, 4\]/);
    expect(() => new RandSpatialCrop({ keys: 'image', roiSize: [3, 1, 1], maxRoiSize: [2, 4, 4], randomSize: true }).apply({ image }, new Rng(0))).toThrow(/exceeds maxRoiSize/);
  });

  it('RandCropByPosNegLabel with every voxel foreground centres on it (no background is no error)', () => {
    const crops = new RandCropByPosNegLabel({ keys: 'label', labelKey: 'label', spatialSize: 2, numSamples: 2 }).apply({ label: ones }, new Rng(3));
    expect(crops.map((c) => c.label.shape)).toEqual([[2, 2, 2], [2, 2, 2]]);
    expect(() => new RandCropByPosNegLabel({ keys: 'label', labelKey: 'label', spatialSize: 2, pos: 1.5e308, neg: 1.5e308 })).toThrow(/pos and neg must be ≥ 0 and not both 0/);
  });

  it('Flip takes one axis as a number and refuses an axis outside 0, 1, 2', () => {
    expect([...new Flip({ keys: 'image', spatialAxis: 0 }).apply({ image: line([1, 2, 3]) }).image.data]).toEqual([3, 2, 1]);
    expect(() => new Flip({ keys: 'image', spatialAxis: [0, 3] })).toThrow(/^Flip: spatialAxis must be distinct axes among 0, 1, 2, got \[0,3\]$/);
  });

  it("a label resamples with 'nearest' by default; a bad mode in a per-key list and a non-finite spacing are refused", () => {
    expect([...new Resize({ keys: 'label', spatialSize: [4, 1, 1] }).apply({ label: labelLine([0, 4]) }).label.data]).toEqual([0, 0, 4, 4]);
    expect(() => new Resize({ keys: ['a', 'b'], spatialSize: 2, mode: ['trilinear', 'linear'] as never })).toThrow(/^Resize: mode must be/);
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, 1] }).apply({ image, spacing: [1, Infinity, 1] })).toThrow(/^Spacing: key 'spacing' must hold/);
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, Infinity] })).toThrow(/^Spacing: pixdim must be three positive numbers/);
  });

  it('the last survivors: option names, the pos/neg bounds, the default flip axes, nearest rounding up', () => {
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label', margin: 1.5 })).toThrow(/^CropForeground: margin must be an integer/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label' }).apply({ image })).toThrow(/^CropForeground: key 'label' is missing/);
    for (const [pos, neg] of [[-1, 2], [2, -1]]) {
      expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, pos, neg })).toThrow(/pos and neg must be ≥ 0 and not both 0/);
    }
    expect(new RandCropByPosNegLabel({ keys: 'label', labelKey: 'label', spatialSize: 1, pos: 0, neg: 1 }).apply({ label: ones }, new Rng(0))).toHaveLength(1);
    // spatialAxis left out flips all three axes (MONAI's None)
    const cube = indexVolume([2, 2, 2]);
    expect([...new Flip({ keys: 'image' }).apply({ image: cube }).image.data]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(() => new RandFlip({ keys: 'image' }).apply({ image })).toThrow(/^RandFlip: a random transform needs an Rng/);
    expect(() => new RandRotate90({ keys: 'image' }).apply({ image })).toThrow(/^RandRotate90: a random transform needs an Rng/);
    // Spacing nearest: sources 0, 0.75, 1.5, 2.25 → voxels 0, 1, 2 (half to even), 2
    expect([...new Spacing({ keys: 'label', pixdim: [0.75, 1, 1] }).apply({ label: labelLine([10, 20, 30]), spacing: [1, 1, 1] }).label.data]).toEqual([10, 20, 30, 30]);
  });
});
