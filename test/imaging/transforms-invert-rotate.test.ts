import { describe, expect, it } from 'vitest';
import { Affine, RandRotate, Rotate } from '../../src/imaging/transforms-affine.js';
import { Rotate90 } from '../../src/imaging/transforms-spatial.js';
import { transformsKey, type TransformRecord } from '../../src/imaging/transforms.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const indexVolume = (shape: Shape3): Volume<Float32Array> => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape });
const labelOf = (v: Volume<Float32Array>): Volume<Uint8Array> => ({ data: Uint8Array.from(v.data, (x) => x % 3), shape: v.shape });
const AFFINE = [[0.8, 0, 0, 1], [0, 0.8, 0, 2], [0, 0, 1.2, 3], [0, 0, 0, 1]];
const sampleOf = (shape: Shape3): { image: Volume<Float32Array>; label: Volume<Uint8Array>; affine: number[][]; spacing: number[] } => {
  const image = indexVolume(shape);
  return { image, label: labelOf(image), affine: AFFINE.map((r) => [...r]), spacing: [0.8, 0.8, 1.2] };
};
const records = (s: object, key: string): TransformRecord[] => (s as Record<string, TransformRecord[]>)[transformsKey(key)]!;

describe('Rotate (MONAI Rotated)', () => {
  it("a quarter turn in the (0, 1) plane is np.rot90 with k = −1 (output p reads R·p: source x = −y, y = x, centred), nearest exactly, bilinear to float rounding", () => {
    const s = sampleOf([5, 5, 3]);
    const keys = ['image', 'label'];
    const turned = new Rotate90({ keys, k: -1, spatialAxes: [0, 1] }).apply(s);
    const nearest = new Rotate({ keys, angle: [0, 0, Math.PI / 2], mode: 'nearest' }).apply(s);
    expect(nearest.image).toEqual(turned.image);
    expect(nearest.label).toEqual(turned.label);
    const bilinear = new Rotate({ keys: 'image', angle: [0, 0, Math.PI / 2] }).apply(s);
    bilinear.image.data.forEach((v, i) => expect(Math.abs(v - turned.image.data[i]!)).toBeLessThan(1e-3));
    // the same resampling as Affine's rotateParams, with Rotate's 'border' padding
    const angle = [0.3, -0.2, 0.5];
    expect(new Rotate({ keys, angle }).apply(s).image).toEqual(new Affine({ keys, rotateParams: angle, paddingMode: 'border' }).apply(s).image);
  });

  it('keepSize false grows the output to the rotated box: ⌊extent + 0.5⌋ per axis', () => {
    const s = sampleOf([6, 4, 2]);
    expect(new Rotate({ keys: 'image', angle: [0, 0, Math.PI / 2], keepSize: false }).apply(s).image.shape).toEqual([4, 6, 2]);
    // a 4x4 square turned by 45°: 4√2 = 5.66 → 6
    expect(new Rotate({ keys: 'image', angle: [0, 0, Math.PI / 4], keepSize: false }).apply(sampleOf([4, 4, 2])).image.shape).toEqual([6, 6, 2]);
  });

  it('inverse: the shape, affine and spacing exactly, a quarter turn voxel for voxel; keepSize false back to the input size', () => {
    const s = sampleOf([5, 5, 3]);
    const keys = ['image', 'label'];
    for (const t of [new Rotate({ keys, angle: [0, 0, Math.PI / 2], mode: 'nearest' }), new Rotate({ keys, angle: [0, Math.PI / 2, 0], keepSize: false, mode: 'nearest' })]) {
      const out = t.apply(s);
      expect(records(out, 'image')[0]).toMatchObject({ className: 'Rotate', doTransform: true, origSize: [5, 5, 3] });
      const back = t.inverse(out);
      expect(back).toEqual({ ...s, image_transforms: [], label_transforms: [] });
    }
    const t = new Rotate({ keys, angle: [0.2, 0.1, 0.4], keepSize: false });
    const back = t.inverse(t.apply(s));
    expect(back.image.shape).toEqual([5, 5, 3]);
    expect(back.affine).toEqual(s.affine);
    expect(back.spacing).toEqual(s.spacing);
  });

  it('names its bad options', () => {
    expect(() => new Rotate({ keys: 'image', angle: [1, 2, 3, 4] })).toThrow(/Rotate: angle must be a finite number or up to 3 of them/);
    expect(() => new Rotate({ keys: 'image', angle: 1, keepSize: 'yes' as never })).toThrow(/Rotate: keepSize must be true or false/);
    expect(() => new Rotate({ keys: 'image', angle: 1, paddingMode: 'wrap' as never })).toThrow(/Rotate: paddingMode must be/);
  });
});

describe('RandRotate (MONAI RandRotated)', () => {
  it('draws u < prob, then the three angles (always), and rotates as Rotate by them', () => {
    const s = sampleOf([5, 4, 3]);
    const opts = { keys: ['image', 'label'], rangeX: 0.3, rangeY: [0.1, 0.2] as const, rangeZ: 0.5 };
    const rng = new Rng(7), ref = rng.clone();
    const out = new RandRotate({ ...opts, prob: 1 }).apply(s, rng);
    ref.random();
    const angle = [ref.uniform(-0.3, 0.3), ref.uniform(0.1, 0.2), ref.uniform(-0.5, 0.5)];
    expect(rng.state()).toEqual(ref.state());
    expect(out.image).toEqual(new Rotate({ keys: opts.keys, angle }).apply(s).image);
    const back = new RandRotate({ ...opts, prob: 1 });
    const restored = back.inverse(back.apply(s, new Rng(1)));
    expect(restored.image.shape).toEqual([5, 4, 3]);
    expect(restored.affine).toEqual(s.affine);
  });

  it('a skipped rotation still draws its angles and records that it did nothing; its inverse gives the sample back', () => {
    const s = sampleOf([5, 4, 3]);
    const rng = new Rng(3), ref = rng.clone();
    const t = new RandRotate({ keys: ['image', 'label'], prob: 0, rangeX: 1 });
    const out = t.apply(s, rng);
    for (let i = 0; i < 4; i++) ref.random();
    expect(rng.state()).toEqual(ref.state());
    expect(out.image).toBe(s.image);
    expect(records(out, 'label')[0]).toMatchObject({ className: 'RandRotate', doTransform: false });
    expect(t.inverse(out).image).toBe(s.image);
  });

  it('names its bad ranges and prob', () => {
    expect(() => new RandRotate({ keys: 'image', rangeX: [0.5, 0.1] })).toThrow(/RandRotate: rangeX must be \[min, max\] with min ≤ max, got \[0.5,0.1\]/);
    expect(() => new RandRotate({ keys: 'image', rangeZ: NaN })).toThrow(/RandRotate: rangeZ \(x for \[−x, x\]\) must be \[min, max\]/);
    expect(() => new RandRotate({ keys: 'image', prob: 2 })).toThrow(/RandRotate: prob must be in \[0, 1\]/);
    expect(() => new RandRotate({ keys: 'image' }).apply({ image: indexVolume([2, 2, 2]) })).toThrow(/RandRotate: a random transform needs an Rng/);
  });
});
