import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CenterSpatialCrop, CropForeground, Flip, RandCropByPosNegLabel, RandFlip, RandRotate90, RandSpatialCrop, Resize, Rotate90, Spacing,
  SpatialPad, generateSpatialBoundingBox,
} from '../../src/imaging/transforms-spatial.js';
import { Compose, Lambda } from '../../src/imaging/transforms.js';
import { RandGaussianNoise } from '../../src/imaging/transforms-intensity.js';
import { rot90xy } from '../../src/imaging/data/augment.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';
import { adaptiveAvgPool3d } from '../../src/autograd/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

const at = (s: Readonly<Shape3>, x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;

/** A float volume whose voxel i holds i + 1 (so every voxel is nonzero and says where it came from). */
function indexVolume(shape: Shape3): Volume<Float32Array> {
  return { data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape };
}

/** A volume from f(x, y, z). */
function fromFn<T extends Float32Array | Uint8Array>(shape: Shape3, make: (n: number) => T, f: (x: number, y: number, z: number) => number): Volume<T> {
  const data = make(shape[0] * shape[1] * shape[2]);
  for (let x = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++) data[at(shape, x, y, z)] = f(x, y, z);
  return { data, shape };
}

/** Voxel (x, y, z) of a volume, 0 outside. */
const get = (v: Volume<Float32Array | Uint8Array>, x: number, y: number, z: number): number =>
  x < 0 || y < 0 || z < 0 || x >= v.shape[0] || y >= v.shape[1] || z >= v.shape[2] ? 0 : v.data[at(v.shape, x, y, z)]!;

/** The region of `v` starting at `start` with `shape`, zero outside: the crop/pad oracle. */
const region = (v: Volume<Float32Array | Uint8Array>, start: Shape3, shape: Shape3): number[] =>
  [...fromFn(shape, (n) => new Float64Array(n) as unknown as Float32Array, (x, y, z) => get(v, x + start[0], y + start[1], z + start[2])).data];

/** Where an index-valued crop starts in its source (its first voxel's value names it). */
function startOf(crop: Volume<Float32Array>, source: Shape3): Shape3 {
  const i = crop.data[0]! - 1;
  return [Math.floor(i / (source[1] * source[2])), Math.floor(i / source[2]) % source[1], i % source[2]];
}

const arbShape = fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })) as fc.Arbitrary<Shape3>;

describe('SpatialPad and CenterSpatialCrop', () => {
  it('SpatialPad pads with zeros, ⌊d/2⌋ before (symmetric) or all after (end), and never shrinks', () => {
    fc.assert(fc.property(arbShape, arbShape, fc.constantFrom<'symmetric' | 'end'>('symmetric', 'end'), (shape, target, method) => {
      const image = indexVolume(shape);
      const out = new SpatialPad({ keys: 'image', spatialSize: target, method }).apply({ image }).image;
      const size = [0, 1, 2].map((a) => Math.max(shape[a]!, target[a]!)) as Shape3;
      const before = [0, 1, 2].map((a) => (method === 'end' ? 0 : Math.floor((size[a]! - shape[a]!) / 2))) as Shape3;
      expect(out.shape).toEqual(size);
      expect([...out.data]).toEqual(region(image, [-before[0], -before[1], -before[2]], size));
    }));
  });

  it('SpatialPad keeps an axis given as ≤ 0 (MONAI −1)', () => {
    expect(new SpatialPad({ keys: 'image', spatialSize: [-1, 5, 0] }).apply({ image: indexVolume([2, 2, 2]) }).image.shape).toEqual([2, 5, 2]);
  });

  it('CenterSpatialCrop takes the roi around ⌊size/2⌋ (MONAI compute_slices), the whole axis where the roi is larger', () => {
    fc.assert(fc.property(arbShape, arbShape, (shape, roi) => {
      const image = indexVolume(shape);
      const out = new CenterSpatialCrop({ keys: 'image', roiSize: roi }).apply({ image }).image;
      const start = [0, 1, 2].map((a) => Math.max(Math.floor(shape[a]! / 2) - Math.floor(roi[a]! / 2), 0)) as Shape3;
      const size = [0, 1, 2].map((a) => Math.min(start[a]! + roi[a]!, shape[a]!) - start[a]!) as Shape3;
      expect(out.shape).toEqual(size);
      expect([...out.data]).toEqual(region(image, start, size));
    }));
    // MONAI: a 5-wide axis cropped to 2 keeps indices 1, 2 (centre 2, start 2 − 1)
    expect([...new CenterSpatialCrop({ keys: 'image', roiSize: [2, 1, 1] }).apply({ image: indexVolume([5, 1, 1]) }).image.data]).toEqual([2, 3]);
  });

  it('pads and crops image and label alike, keeping the label a Uint8Array', () => {
    const image = indexVolume([3, 4, 5]);
    const label = fromFn([3, 4, 5], (n) => new Uint8Array(n), (x, y) => (x + y) % 2);
    const out = new Compose([new SpatialPad({ keys: ['image', 'label'], spatialSize: 6 }), new CenterSpatialCrop({ keys: ['image', 'label'], roiSize: [4, 4, 4] })]).apply({ image, label });
    if (Array.isArray(out)) throw new Error('expected one sample');
    expect(out.label.data).toBeInstanceOf(Uint8Array);
    for (let i = 0; i < out.image.data.length; i++) {
      const src = out.image.data[i]! - 1;
      expect(out.label.data[i]).toBe(src < 0 ? 0 : label.data[src]);
    }
  });
});

describe('RandSpatialCrop', () => {
  it('crops the roi at a seeded position inside the volume; every start is reachable', () => {
    fc.assert(fc.property(arbShape, arbShape, fc.integer({ min: 0, max: 1000 }), (shape, roi, seed) => {
      const image = indexVolume(shape);
      const t = new RandSpatialCrop({ keys: 'image', roiSize: roi });
      const out = t.apply({ image }, new Rng(seed)).image;
      const size = [0, 1, 2].map((a) => Math.min(roi[a]!, shape[a]!)) as Shape3;
      expect(out.shape).toEqual(size);
      const start = startOf(out, shape);
      for (let a = 0; a < 3; a++) expect(start[a]! + size[a]!).toBeLessThanOrEqual(shape[a]!);
      expect([...out.data]).toEqual(region(image, start, size));
      expect(t.apply({ image }, new Rng(seed)).image.data).toEqual(out.data);
    }));
    const seen = new Set<number>();
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) seen.add(new RandSpatialCrop({ keys: 'image', roiSize: [2, 1, 1] }).apply({ image: indexVolume([5, 1, 1]) }, rng).image.data[0]!);
    expect([...seen].sort()).toEqual([1, 2, 3, 4]);
  });

  it('with randomSize draws the size in [roiSize, maxRoiSize]; without randomCenter it is the centre crop', () => {
    const rng = new Rng(5);
    const sizes = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const s = new RandSpatialCrop({ keys: 'image', roiSize: [2, 3, 1], maxRoiSize: [4, 3, 1], randomSize: true }).apply({ image: indexVolume([6, 6, 6]) }, rng).image.shape;
      expect(s[1]).toBe(3);
      sizes.add(s[0]);
    }
    expect([...sizes].sort()).toEqual([2, 3, 4]);
    const image = indexVolume([5, 6, 7]);
    expect(new RandSpatialCrop({ keys: 'image', roiSize: 3, randomCenter: false }).apply({ image }, new Rng(0)).image)
      .toEqual(new CenterSpatialCrop({ keys: 'image', roiSize: 3 }).apply({ image }).image);
  });
});

describe('CropForeground', () => {
  it('crops every key to the source\'s foreground box grown by the margin and, with allowSmaller, clipped to the volume', () => {
    fc.assert(fc.property(arbShape, fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 0, max: 2 }), (shape, bits, margin) => {
      const label = fromFn(shape, (n) => new Uint8Array(n), (x, y, z) => (bits >> ((x * 7 + y * 3 + z) % 30)) & 1);
      const image = indexVolume(shape);
      const fg: Shape3[] = [];
      for (let x = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++) if (get(label, x, y, z)) fg.push([x, y, z]);
      const t = new CropForeground({ keys: ['image', 'label'], sourceKey: 'label', margin, allowSmaller: true });
      if (fg.length === 0) { expect(() => t.apply({ image, label })).toThrow(/sourceKey 'label' has no foreground voxel/); return; }
      const lo = [0, 1, 2].map((a) => Math.max(Math.min(...fg.map((p) => p[a]!)) - margin, 0)) as Shape3;
      const hi = [0, 1, 2].map((a) => Math.min(Math.max(...fg.map((p) => p[a]!)) + margin + 1, shape[a]!)) as Shape3;
      const size = [0, 1, 2].map((a) => hi[a]! - lo[a]!) as Shape3;
      const out = t.apply({ image, label });
      expect(out.image.shape).toEqual(size);
      expect([...out.image.data]).toEqual(region(image, lo, size));
      expect([...out.label.data]).toEqual(region(label, lo, size));
      expect(out.label.data.reduce((s, v) => s + v, 0)).toBe(fg.length);
    }));
  });

  it('selectFn defaults to > 0; allowSmaller false (the default, as MONAI ≥ 1.5) lets the margin pad past the volume', () => {
    const image = fromFn([5, 1, 1], (n) => new Float32Array(n), (x) => [0, -2, 3, 0, 0][x]!);
    expect([...new CropForeground({ keys: 'image', sourceKey: 'image' }).apply({ image }).image.data]).toEqual([3]);
    expect([...new CropForeground({ keys: 'image', sourceKey: 'image', selectFn: (v) => v !== 0 }).apply({ image }).image.data]).toEqual([-2, 3]);
    expect(generateSpatialBoundingBox(image, { selectFn: (v) => v !== 0, margin: [2, 0, 0], allowSmaller: false })).toEqual({ start: [-1, 0, 0], end: [5, 1, 1] });
    expect([...new CropForeground({ keys: 'image', sourceKey: 'image', selectFn: (v) => v !== 0, margin: [2, 0, 0], allowSmaller: false }).apply({ image }).image.data]).toEqual([0, 0, -2, 3, 0, 0]);
    expect([...new CropForeground({ keys: 'image', sourceKey: 'image', margin: [3, 0, 0] }).apply({ image }).image.data]).toEqual([0, 0, -2, 3, 0, 0, 0]);
    expect([...new CropForeground({ keys: 'image', sourceKey: 'image', margin: [3, 0, 0], allowSmaller: true }).apply({ image }).image.data]).toEqual([0, -2, 3, 0, 0]);
    expect(generateSpatialBoundingBox(fromFn([2, 2, 2], (n) => new Uint8Array(n), () => 0))).toEqual({ start: [0, 0, 0], end: [0, 0, 0] });
  });
});

describe('RandCropByPosNegLabel', () => {
  it('centres a pos / (pos + neg) share of the crops on foreground (1-voxel crops, so no centre moves)', () => {
    const label = fromFn([10, 10, 10], (n) => new Uint8Array(n), (x, y, z) => (x < 2 && y < 5 && z < 5 ? 1 : 0));
    const n = 4000;
    const crops = new RandCropByPosNegLabel({ keys: 'label', labelKey: 'label', spatialSize: 1, pos: 3, neg: 1, numSamples: n }).apply({ label }, new Rng(11));
    expect(crops).toHaveLength(n);
    const share = crops.filter((c) => c.label.data[0] === 1).length / n;
    // seeded, so deterministic; 5 standard errors of a 0.75 share say the draw follows the ratio (5% of voxels are foreground)
    expect(Math.abs(share - 0.75)).toBeLessThan(5 * Math.sqrt(0.75 * 0.25 / n));
  });

  it('moves centres so the crop fits (MONAI correct_crop_centers) and crops inside the volume', () => {
    fc.assert(fc.property(arbShape, arbShape, fc.integer({ min: 0, max: 1000 }), (shape, roi, seed) => {
      const size = [0, 1, 2].map((a) => Math.min(roi[a]!, shape[a]!)) as Shape3;
      const image = indexVolume(shape);
      const label = fromFn(shape, (n) => new Uint8Array(n), (x, y, z) => ((x + 2 * y + z) % 3 === 0 ? 1 : 0));
      const crops = new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: size, numSamples: 3 }).apply({ image, label }, new Rng(seed));
      for (const c of crops) {
        expect(c.image.shape).toEqual(size);
        const start = startOf(c.image, shape);
        for (let a = 0; a < 3; a++) expect(start[a]! + size[a]!).toBeLessThanOrEqual(shape[a]!);
        expect([...c.label.data]).toEqual(region(label, start, size));
      }
    }));
    // the only foreground voxel in a corner: the centre moves in to ⌊s/2⌋ (low corner) or to L − ⌈s/2⌉ (high corner)
    for (const [corner, expected] of [[0, [0, 0, 0]], [7, [4, 4, 4]]] as const) {
      const label = fromFn([8, 8, 8], (n) => new Uint8Array(n), (x, y, z) => (x === corner && y === corner && z === corner ? 1 : 0));
      for (const s of [3, 4]) {
        const [c] = new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: s, pos: 1, neg: 0 }).apply({ image: indexVolume([8, 8, 8]), label }, new Rng(1));
        expect(startOf(c!.image, [8, 8, 8])).toEqual(expected.map((e) => (e === 0 ? 0 : 8 - s)));
      }
    }
  });

  it('with no foreground centres on background, with imageKey only where the image is above the threshold', () => {
    const label = fromFn([4, 4, 4], (n) => new Uint8Array(n), () => 0);
    const image = fromFn([4, 4, 4], (n) => new Float32Array(n), (x, y, z) => (x === 1 && y === 2 && z === 3 ? 5 : 0));
    const crops = new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 1, numSamples: 5, imageKey: 'image' }).apply({ image, label }, new Rng(2));
    expect(crops.map((c) => c.image.data[0])).toEqual([5, 5, 5, 5, 5]);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 1, imageKey: 'image', imageThreshold: 9 }).apply({ image, label }, new Rng(2)))
      .toThrow(/no voxel to centre a crop on \(imageKey 'image' has none above imageThreshold 9\)/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 5 }).apply({ image, label }, new Rng(2)))
      .toThrow(/spatialSize \[5, 5, 5\] is larger than the label's shape \[4, 4, 4\]/);
    expect(new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 5, allowSmaller: true }).apply({ image, label }, new Rng(2))[0]!.image.shape).toEqual([4, 4, 4]);
  });
});

describe('Flip and Rotate90', () => {
  it('flipping twice and four quarter turns are the identity', () => {
    fc.assert(fc.property(arbShape, fc.subarray([0, 1, 2], { minLength: 1 }), fc.constantFrom<[number, number]>([0, 1], [1, 0], [0, 2], [1, 2], [2, 1]), (shape, axes, plane) => {
      const image = indexVolume(shape);
      const flip = new Flip({ keys: 'image', spatialAxis: axes });
      expect(flip.apply(flip.apply({ image })).image).toEqual(image);
      const rot = new Rotate90({ keys: 'image', spatialAxes: plane });
      let d = { image };
      for (let k = 0; k < 4; k++) d = rot.apply(d);
      expect(d.image).toEqual(image);
      expect(new Rotate90({ keys: 'image', k: 3, spatialAxes: plane }).apply({ image }).image).toEqual(new Rotate90({ keys: 'image', k: -1, spatialAxes: plane }).apply({ image }).image);
    }));
  });

  it("flip is np.flip and rot90 is np.rot90 (numpy's definitions written out; in the (0, 1) plane the sampler's rot90xy)", () => {
    fc.assert(fc.property(arbShape, fc.integer({ min: 0, max: 3 }), (shape, k) => {
      const image = indexVolume(shape);
      const [X, Y, Z] = shape;
      const flipped = new Flip({ keys: 'image', spatialAxis: [0, 2] }).apply({ image }).image;
      expect(flipped).toEqual(fromFn(shape, (n) => new Float32Array(n), (x, y, z) => get(image, X - 1 - x, y, Z - 1 - z)));
      expect(new Rotate90({ keys: 'image', k }).apply({ image }).image).toEqual(rot90xy(image, k));
      // np.rot90(m, 1, axes=(1, 2)): out[x, b, c] = m[x, c, Z − 1 − b], shape [X, Z, Y]
      expect(new Rotate90({ keys: 'image', spatialAxes: [1, 2] }).apply({ image }).image).toEqual(fromFn([X, Z, Y], (n) => new Float32Array(n), (x, b, c) => get(image, x, c, Z - 1 - b)));
      // np.rot90(m, 1, axes=(2, 0)) = transpose(flip(m, 0)) swapping axes 2 and 0: out[a, y, c] = m[X − 1 − c, y, a], shape [Z, Y, X]
      expect(new Rotate90({ keys: 'image', spatialAxes: [2, 0] }).apply({ image }).image).toEqual(fromFn([Z, Y, X], (n) => new Float32Array(n), (a, y, c) => get(image, X - 1 - c, y, a)));
    }));
  });

  it('RandFlip and RandRotate90 draw once per sample and move image and label together', () => {
    const image = indexVolume([3, 4, 2]);
    const label = fromFn([3, 4, 2], (n) => new Uint8Array(n), (x, y, z) => (x + y + z) % 2);
    const rng = new Rng(9);
    let flipped = 0;
    for (let i = 0; i < 50; i++) {
      const out = new RandFlip({ keys: ['image', 'label'], prob: 0.5, spatialAxis: 1 }).apply({ image, label }, rng);
      if (out.image !== image) flipped++;
      for (let j = 0; j < out.image.data.length; j++) expect(out.label.data[j]).toBe(label.data[out.image.data[j]! - 1]);
    }
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(50);
    // MONAI's order: k = 1 + int(maxK), then u < prob
    const draw = new Rng(4);
    const k = 1 + draw.int(3);
    const out = new RandRotate90({ keys: ['image', 'label'], prob: 1, spatialAxes: [0, 2] }).apply({ image, label }, new Rng(4));
    expect(out.image).toEqual(new Rotate90({ keys: 'image', k, spatialAxes: [0, 2] }).apply({ image }).image);
    for (let j = 0; j < out.image.data.length; j++) expect(out.label.data[j]).toBe(label.data[out.image.data[j]! - 1]);
  });
});

describe('Resize', () => {
  /** PyTorch's align_corners=False source coordinate, clamped to [0, n − 1]. */
  const src = (j: number, n: number, m: number): number => Math.min(Math.max((j + 0.5) * (n / m) - 0.5, 0), n - 1);

  it('to the same shape is the identity, for images and labels', () => {
    fc.assert(fc.property(arbShape, (shape) => {
      const image = indexVolume(shape);
      const label = fromFn(shape, (n) => new Uint8Array(n), (x, y, z) => (x * y + z) % 3);
      const out = new Resize({ keys: ['image', 'label'], spatialSize: shape }).apply({ image, label });
      expect(out.image).toEqual(image);
      expect(out.label).toEqual(label);
    }));
  });

  it('trilinear (align_corners=False) of a linear ramp is the ramp at the clamped source coordinates', () => {
    fc.assert(fc.property(arbShape, arbShape, fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 })), (shape, out, [a, b, c]) => {
      const ramp = (x: number, y: number, z: number): number => a * x + b * y + c * z + 10;
      const image = fromFn(shape, (n) => new Float32Array(n), ramp);
      const r = new Resize({ keys: 'image', spatialSize: out, mode: 'trilinear' }).apply({ image }).image;
      expect(r.shape).toEqual(out);
      for (let x = 0; x < out[0]; x++) for (let y = 0; y < out[1]; y++) for (let z = 0; z < out[2]; z++) {
        const e = ramp(src(x, shape[0], out[0]), src(y, shape[1], out[1]), src(z, shape[2], out[2]));
        expect(Math.abs(get(r, x, y, z) - e)).toBeLessThan(1e-5 * 32);
      }
    }));
  });

  it("nearest is PyTorch's rule, source min(⌊j·scale⌋, in − 1) with scale = in/out in float32; labels stay Uint8Array", () => {
    // every pair of sizes up to 40: the exact ⌊j·in/out⌋ except where PyTorch's float32 product falls just below an
    // integer (float(26/22)·11 = 12.9999990 → 12, not 13); those three are PyTorch's values
    const float32Cases: Record<string, number> = { '26,22,11': 12, '39,33,11': 12, '39,33,22': 25 };
    for (let n = 1; n <= 40; n++) {
      const label = fromFn([n, 1, 1], (k) => new Uint8Array(k), (x) => x);
      for (let m = 1; m <= 40; m++) {
        const out = new Resize({ keys: 'label', spatialSize: [m, 1, 1] }).apply({ label }).label;
        expect(out.data).toBeInstanceOf(Uint8Array);
        expect([...out.data]).toEqual(Array.from({ length: m }, (_, j) => float32Cases[`${n},${m},${j}`] ?? Math.min(Math.floor((j * n) / m), n - 1)));
      }
    }
    // 4 → 6 along one axis: sources max((j + 0.5)·4/6 − 0.5, 0) = 0, 0.5, 1.17, 1.83, 2.5, 3.17 → clamped to 3
    const r = new Resize({ keys: 'image', spatialSize: [6, 1, 1], mode: 'trilinear' }).apply({ image: fromFn([4, 1, 1], (k) => new Float32Array(k), (x) => x) }).image;
    expect([...r.data].map((v) => Math.round(v * 1e4) / 1e4)).toEqual([0, 0.5, 1.1667, 1.8333, 2.5, 3]);
  });

  it("'nearest' on a float image copies voxels, so infinities stay (no 0·∞ of a zero weight)", () => {
    const image = fromFn([2, 1, 1], (k) => new Float32Array(k), (x) => [1, -Infinity][x]!);
    expect([...new Resize({ keys: 'image', spatialSize: [4, 1, 1], mode: 'nearest' }).apply({ image }).image.data]).toEqual([1, 1, -Infinity, -Infinity]);
    expect([...new Spacing({ keys: 'image', pixdim: [0.5, 1, 1], mode: 'nearest' }).apply({ image, spacing: [1, 1, 1] }).image.data]).toEqual([1, 1, -Infinity]);
  });

  it('refuses trilinear on a label and names the key', () => {
    expect(() => new Resize({ keys: 'label', spatialSize: 2, mode: 'trilinear' }).apply({ label: { data: new Uint8Array(8), shape: [2, 2, 2] } }))
      .toThrow(/Resize: key 'label' is a Uint8Array volume \(a label\); resample it with mode 'nearest'/);
    expect(() => new Resize({ keys: ['a', 'b'], spatialSize: 2, mode: ['nearest'] })).toThrow(/one of them per key \(2 keys\)/);
  });
});

describe("Resize 'area' (MONAI's default: F.interpolate(mode='area') = adaptive_avg_pool3d)", () => {
  /** adaptive_avg_pool's window of output i along an axis n → m, in integers as PyTorch's kernels: [⌊i·n/m⌋, ⌈(i + 1)·n/m⌉) */
  const window = (i: number, n: number, m: number): [number, number] => [Math.floor((i * n) / m), Math.floor(((i + 1) * n + m - 1) / m)];

  it('hand values: 5 → 3 averages windows [0, 2), [1, 4), [3, 5); 3 → 5 repeats and pairs voxels', () => {
    const line = (values: number[]): Volume<Float32Array> => ({ data: Float32Array.from(values), shape: [values.length, 1, 1] });
    const resize = (values: number[], m: number): number[] => [...new Resize({ keys: 'image', spatialSize: [m, 1, 1], mode: 'area' }).apply({ image: line(values) }).image.data];
    expect(resize([1, 2, 3, 4, 5], 3)).toEqual([1.5, 3, 4.5]);
    // windows [0, 1), [0, 2), [1, 2), [1, 3), [2, 3)
    expect(resize([1, 2, 4], 5)).toEqual([1, 1.5, 2, 3, 4]);
    expect(resize([1, 2, 3, 4], 2)).toEqual([1.5, 3.5]);
    expect(resize([1, 2, 6], 1)).toEqual([3]);
  });

  it('is the mean over the 3-D box of the per-axis windows (an unseparated oracle), and the default for a float image', () => {
    fc.assert(fc.property(arbShape, arbShape, (shape, out) => {
      const image = fromFn(shape, (n) => new Float32Array(n), (x, y, z) => Math.sin(x * 7 + y * 3 + z) * 10);
      const r = new Resize({ keys: 'image', spatialSize: out }).apply({ image }).image;
      expect(r.shape).toEqual(out);
      expect(r.data).toBeInstanceOf(Float32Array);
      for (let i = 0; i < out[0]; i++) for (let j = 0; j < out[1]; j++) for (let k = 0; k < out[2]; k++) {
        const [x0, x1] = window(i, shape[0], out[0]), [y0, y1] = window(j, shape[1], out[1]), [z0, z1] = window(k, shape[2], out[2]);
        let sum = 0;
        for (let x = x0; x < x1; x++) for (let y = y0; y < y1; y++) for (let z = z0; z < z1; z++) sum += get(image, x, y, z);
        const mean = sum / ((x1 - x0) * (y1 - y0) * (z1 - z0));
        expect(Math.abs(get(r, i, j, k) - mean)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(mean)));
      }
    }));
  });

  it("equals the engine's adaptiveAvgPool3d (PyTorch's F.adaptive_avg_pool3d) on the cpu backend", async () => {
    await fc.assert(fc.asyncProperty(arbShape, arbShape, async (shape, out) => {
      const image = fromFn(shape, (n) => new Float32Array(n), (x, y, z) => Math.cos(x * 5 + y * 2 + z * 3) * 4);
      const r = new Resize({ keys: 'image', spatialSize: out, mode: 'area' }).apply({ image }).image;
      const pooled = adaptiveAvgPool3d(fromArray(image.data, [1, 1, ...shape], { backend: cpu }), out);
      expectClose(r.data, await pooled.toArray(), 1e-6, 1e-6, `${shape} → ${out}`);
      pooled.dispose();
    }), { numRuns: 40 });
  });

  it("an axis that keeps its size is copied; a label keeps 'nearest' by default and refuses 'area' by key", () => {
    const image = indexVolume([3, 4, 2]);
    const r = new Resize({ keys: 'image', spatialSize: [3, 2, 2] }).apply({ image }).image;
    // voxel (x, y, z) holds 8x + 2y + z + 1; y's windows [0, 2), [2, 4) average to 8x + z + 2 and 8x + z + 6
    expect([...r.data]).toEqual([2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23]);
    const label = fromFn([4, 1, 1], (n) => new Uint8Array(n), (x) => x);
    expect([...new Resize({ keys: 'label', spatialSize: [2, 1, 1] }).apply({ label }).label.data]).toEqual([0, 2]);
    expect(() => new Resize({ keys: ['image', 'label'], spatialSize: 2, mode: 'area' }).apply({ image: indexVolume([4, 1, 1]), label }))
      .toThrow(/^Resize: key 'label' is a Uint8Array volume \(a label\); resample it with mode 'nearest'$/);
  });
});

describe('Spacing', () => {
  it("gives MONAI's output shape round((n − 1)·in/out + 1) and samples j·out/in: a ramp stays exact", () => {
    const image = fromFn([5, 4, 3], (n) => new Float32Array(n), (x, y, z) => 2 * x - y + 3 * z);
    const label = fromFn([5, 4, 3], (n) => new Uint8Array(n), (x) => x % 2);
    const out = new Spacing({ keys: ['image', 'label'], pixdim: [1, 1.5, 3] }).apply({ image, label, spacing: [2, 1, 1.5] });
    // x: 4·2/1 + 1 = 9; y: 3/1.5 + 1 = 3; z: 2·1.5/3 + 1 = 2
    expect(out.image.shape).toEqual([9, 3, 2]);
    expect(out.spacing).toEqual([1, 1.5, 3]);
    for (let x = 0; x < 9; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 2; z++) {
      expect(get(out.image, x, y, z)).toBeCloseTo(2 * (x / 2) - 1.5 * y + 3 * (2 * z), 5);
      // nearest, half to even: x/2 = 0.5 → 0, 1.5 → 2, 2.5 → 2, 3.5 → 4, so only x = 2 and 6 (sources 1 and 3) are odd
      expect(get(out.label, x, y, z)).toBe([0, 0, 1, 0, 0, 0, 1, 0, 0][x]);
    }
    expect(new Spacing({ keys: 'image', pixdim: [2, 1, 1.5] }).apply({ image, spacing: [2, 1, 1.5] }).image).toEqual(image);
    expect(() => new Spacing({ keys: 'image', pixdim: [1, 1, 1] }).apply({ image })).toThrow(/Spacing: key 'spacing' must hold the sample's voxel spacing/);
  });
});

describe('Compose', () => {
  const image = indexVolume([8, 8, 8]);
  const label = fromFn([8, 8, 8], (n) => new Uint8Array(n), (x, y, z) => (x > 3 && y > 2 && z < 5 ? 1 : 0));
  const pipeline = new Compose([
    new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: 4, numSamples: 3 }),
    new RandFlip({ keys: ['image', 'label'], prob: 0.5, spatialAxis: 0 }),
    new RandRotate90({ keys: ['image', 'label'], prob: 0.5 }),
    new RandGaussianNoise({ keys: 'image', prob: 0.5 }),
  ]);

  it('is deterministic given the seed and runs the later transforms on each drawn crop', () => {
    const a = pipeline.apply({ image, label, id: 'c0' }, new Rng(42));
    const b = pipeline.apply({ image, label, id: 'c0' }, new Rng(42));
    expect(Array.isArray(a) && a.length).toBe(3);
    expect(b).toEqual(a);
    expect(pipeline.applyAll({ image, label, id: 'c0' }, new Rng(43))).not.toEqual(a);
    if (!Array.isArray(a)) throw new Error('expected a list');
    for (const s of a) {
      expect(s.id).toBe('c0');
      expect(s.image.shape).toEqual([4, 4, 4]);
    }
  });

  it('Lambda runs a custom step on each key and checks what it returns', () => {
    const double = new Lambda({ keys: 'image', func: (v) => ({ data: v.data.map((x) => 2 * x), shape: v.shape }) });
    const out = new Compose([new CenterSpatialCrop({ keys: 'image', roiSize: 1 }), double]).apply({ image });
    if (Array.isArray(out)) throw new Error('expected one sample');
    expect([...out.image.data]).toEqual([2 * (at([8, 8, 8], 4, 4, 4) + 1)]);
    expect(() => new Lambda({ keys: 'image', func: (v) => ({ data: v.data, shape: [1, 1, 1] }) }).apply({ image }))
      .toThrow(/Lambda \(func's result\): key 'image': data length 512 does not match shape \[1, 1, 1\]/);
  });

  it('returns one sample when no transform draws several', () => {
    const out = new Compose([new SpatialPad({ keys: 'image', spatialSize: 10 })]).apply({ image });
    expect(Array.isArray(out)).toBe(false);
    expect(new Compose([]).applyAll({ image })).toEqual([{ image }]);
  });

  it('names the bad transform, key and shape', () => {
    expect(() => new Compose([{} as never])).toThrow(/Compose: transforms\[0\] has no apply\(data, rng\) method/);
    expect(() => pipeline.apply({ image, label }))
      .toThrow(/RandCropByPosNegLabel: a random transform needs an Rng/);
    const small = indexVolume([4, 8, 8]);
    expect(() => new RandFlip({ keys: ['image', 'label'] }).apply({ image: small, label }, new Rng(0)))
      .toThrow(/RandFlip: key 'label' has shape \[8, 8, 8\], key 'image' has \[4, 8, 8\]; the keys must share one shape/);
    expect(() => new Flip({ keys: 'image', spatialAxis: 3 })).toThrow(/Flip: spatialAxis must be distinct axes among 0, 1, 2, got 3/);
    expect(() => new RandRotate90({ keys: 'image', spatialAxes: [1, 1] })).toThrow(/RandRotate90: spatialAxes must be distinct axes/);
    expect(() => new SpatialPad({ keys: 'image', spatialSize: [1, 2] as never })).toThrow(/SpatialPad: spatialSize must be an integer or three integers/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2, pos: 0, neg: 0 })).toThrow(/pos and neg must be ≥ 0 and not both 0/);
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label' }).apply({ image, label: indexVolume([2, 2, 2]) }))
      .toThrow(/CropForeground: key 'image' has shape \[8, 8, 8\], sourceKey 'label' has \[2, 2, 2\]/);
  });
});
