import { describe, expect, it } from 'vitest';
import {
  BorderPad, CenterSpatialCrop, CropForeground, DivisiblePad, Flip, Orientation, RandCropByLabelClasses, RandCropByPosNegLabel, RandFlip, RandRotate90,
  RandSpatialCrop, RandSpatialCropSamples, Resize, ResizeWithPadOrCrop, Rotate90, Spacing, SpatialPad, cropOrPad,
} from '../../src/imaging/transforms-spatial.js';
import { Affine, RandAffine, RandZoom, Zoom } from '../../src/imaging/transforms-affine.js';
import { ScaleIntensity } from '../../src/imaging/transforms-intensity.js';
import { Compose, transformsKey, type InvertibleTransform, type TransformRecord } from '../../src/imaging/transforms.js';
import { Invert } from '../../src/imaging/transforms-invert.js';
import { Rng } from '../../src/imaging/random.js';
import { decodeStoredSample, encodeStoredSample } from '../../src/imaging/dataset-persistent.js';
import { GateRng } from '../helpers/gate-rng.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

const SHAPE: Shape3 = [6, 5, 4];
/** An oblique-free but permuted, flipped, shifted affine (voxel axis 0 runs to posterior, 1 to left, 2 to superior) and its spacing. */
const AFFINE = [[0, -0.8, 0, 20], [-0.8, 0, 0, 30], [0, 0, 1.2, -5], [0, 0, 0, 1]];
const SPACING = [0.8, 0.8, 1.2];

interface Sample { image: MultiChannelVolume; label: Volume<Uint8Array>; affine: number[][]; spacing: number[] }

/** A 2-channel image whose voxels are all distinct and nonzero, a label (a box), the affine and spacing. */
function makeSample(shape: Shape3 = SHAPE): Sample {
  const n = shape[0] * shape[1] * shape[2];
  const label = new Uint8Array(n);
  for (let x = 1; x < shape[0] - 1; x++) for (let y = 1; y < shape[1] - 1; y++) for (let z = 1; z < shape[2]; z++) label[(x * shape[1] + y) * shape[2] + z] = 1 + (x % 2);
  return {
    image: { data: Float32Array.from({ length: 2 * n }, (_, i) => i + 1), shape: [2, ...shape] },
    label: { data: label, shape },
    affine: AFFINE.map((r) => [...r]),
    spacing: [...SPACING],
  };
}

const recordsOf = (s: object, key: string): TransformRecord[] => (s as Record<string, TransformRecord[]>)[transformsKey(key)]!;

/** Forward then inverse: the shape, affine and spacing come back exactly, the records are popped; returns both samples. */
function roundTrip(t: InvertibleTransform, sample: Sample, rng?: Rng): { out: Sample; back: Sample } {
  const out = t.apply(sample, rng) as Sample;
  expect(recordsOf(out, 'image')).toHaveLength(1);
  expect(recordsOf(out, 'label')).toHaveLength(1);
  const back = t.inverse(out);
  expect(back.image.shape).toEqual(sample.image.shape);
  expect(back.label.shape).toEqual(sample.label.shape);
  expect(back.affine).toEqual(sample.affine);
  expect(back.spacing).toEqual(sample.spacing);
  expect(recordsOf(back, 'image')).toEqual([]);
  expect(recordsOf(back, 'label')).toEqual([]);
  expect(back.label.data).toBeInstanceOf(Uint8Array);
  return { out, back };
}

/** The keys come back voxel for voxel. */
function expectExact(t: InvertibleTransform, sample: Sample, rng?: Rng): Sample {
  const { out, back } = roundTrip(t, sample, rng);
  expect(back.image).toEqual(sample.image);
  expect(back.label).toEqual(sample.label);
  return out;
}

/**
 * A crop's inverse: the voxels the crop kept (found by cropping a volume of distinct values, independently of the
 * record) come back exactly, every other voxel is 0.
 */
function expectKeptRegion(t: InvertibleTransform, sample: Sample, rng?: Rng): void {
  const { out, back } = roundTrip(t, sample, rng);
  const kept = new Set(out.image.data);
  let inside = 0;
  back.image.data.forEach((v, i) => {
    if (kept.has(sample.image.data[i]!)) {
      expect(v).toBe(sample.image.data[i]);
      inside++;
    } else expect(v).toBe(0);
  });
  // every nonzero voxel of the crop (a crop past the border pads with zeros) was put back
  expect(inside).toBe(out.image.data.filter((v) => v !== 0).length);
}

describe('pads: forward then inverse gives the sample back exactly', () => {
  it('SpatialPad (symmetric and end), BorderPad (six sides, edge), DivisiblePad (edge, end)', () => {
    const s = makeSample();
    const pads: InvertibleTransform[] = [
      new SpatialPad({ keys: ['image', 'label'], spatialSize: [9, 5, 7] }), new SpatialPad({ keys: ['image', 'label'], spatialSize: 8, method: 'end' }),
      new BorderPad({ keys: ['image', 'label'], spatialBorder: [1, 2, 0, 3, 2, 1], mode: 'edge' }),
      new DivisiblePad({ keys: ['image', 'label'], k: [4, 4, 3], mode: 'edge', method: 'end' }), new DivisiblePad({ keys: ['image', 'label'], k: 16 }),
    ];
    for (const t of pads) {
      const out = expectExact(t, s);
      expect(out.image.shape).not.toEqual(s.image.shape);
      // the record holds the region the volumes were cut from (a pad: a negative start) and the sample's geometry before
      const r = recordsOf(out, 'label')[0]!;
      expect(r).toMatchObject({ className: t.constructor.name, id: t.transformId, origSize: SHAPE, outSize: out.label.shape, doTransform: true });
      expect(r.geometry).toEqual({ affine: AFFINE, spacing: SPACING });
    }
  });
});

describe('crops: the kept region comes back where it was, zeros elsewhere', () => {
  it('CenterSpatialCrop, CropForeground (with a margin), RandSpatialCrop (random size and centre), ResizeWithPadOrCrop (crop one axis, pad another)', () => {
    const s = makeSample();
    expectKeptRegion(new CenterSpatialCrop({ keys: ['image', 'label'], roiSize: [3, 0, 2] }), s);
    expectKeptRegion(new CropForeground({ keys: ['image', 'label'], sourceKey: 'label', margin: [0, 0, 1] }), s);
    const rng = new Rng(5);
    for (let i = 0; i < 4; i++) expectKeptRegion(new RandSpatialCrop({ keys: ['image', 'label'], roiSize: [2, 2, 2], randomSize: true }), s, rng);
    const { back } = roundTrip(new ResizeWithPadOrCrop({ keys: ['image', 'label'], spatialSize: [3, 8, 4] }), s);
    // axis 0 cropped to its centre [2, 5) (centre ⌊6/2⌋ − ⌊3/2⌋), axis 1 padded (the pad cut off again), axis 2 kept
    expect(back.image).toEqual(cropOrPad(cropOrPad(s.image, [2, 0, 0], [3, 5, 4]), [-2, 0, 0], SHAPE));
  });

  it("a crop's inverse of a label keeps its classes where the crop kept them", () => {
    const s = makeSample();
    const t = new CropForeground({ keys: ['image', 'label'], sourceKey: 'label' });
    const back = t.inverse(t.apply(s));
    // the crop kept all the foreground, so the label comes back whole
    expect(back.label).toEqual(s.label);
  });
});

describe('flips, 90° turns and Orientation: exact', () => {
  it('Flip of each axis set, Rotate90 with k = −1 … 3 in every plane', () => {
    const s = makeSample();
    for (const spatialAxis of [0, 1, 2, [0, 2], undefined]) expectExact(new Flip({ keys: ['image', 'label'], spatialAxis }), s);
    for (const spatialAxes of [[0, 1], [1, 2], [2, 0]] as const) {
      for (const k of [-1, 1, 2, 3]) expectExact(new Rotate90({ keys: ['image', 'label'], k, spatialAxes }), s);
    }
  });

  it('RandFlip and RandRotate90 undo what they drew, and a skipped one (prob) records that it did nothing', () => {
    const s = makeSample();
    const rng = new Rng(11);
    for (let i = 0; i < 6; i++) {
      expectExact(new RandFlip({ keys: ['image', 'label'], prob: 0.5, spatialAxis: [0, 1] }), s, rng);
      expectExact(new RandRotate90({ keys: ['image', 'label'], prob: 0.5, spatialAxes: [0, 2] }), s, rng);
    }
    const skippedFlip = new RandFlip({ keys: ['image', 'label'], prob: 0.5 });
    const skipped = skippedFlip.apply(s, new GateRng(0.5));
    expect(skipped.image).toBe(s.image);
    expect(recordsOf(skipped, 'image')[0]).toMatchObject({ className: 'RandFlip', doTransform: false, origSize: SHAPE, outSize: SHAPE });
    expect(skippedFlip.inverse(skipped).image).toBe(s.image);
    const fired = new RandRotate90({ keys: ['image', 'label'], prob: 0.5 }).apply(s, new GateRng(0.25));
    expect(recordsOf(fired, 'label')[0]!.doTransform).toBe(true);
  });

  it("Orientation to RAS and to PIL, its inverse back to the affine's own axes", () => {
    const s = makeSample();
    for (const axcodes of ['RAS', 'PIL', 'SLA']) {
      const out = expectExact(new Orientation({ keys: ['image', 'label'], axcodes }), s);
      if (axcodes === 'RAS') expect(out.label.shape).toEqual([5, 6, 4]);
    }
  });
});

/** Dice of the nonzero voxels of two volumes. */
function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i]! !== 0, q = b[i]! !== 0;
    if (p) na++;
    if (q) nb++;
    if (p && q) inter++;
  }
  return (2 * inter) / (na + nb);
}

describe('resampling transforms: the original grid and geometry exactly, values where the forward lost nothing', () => {
  it('Spacing to half the spacing (output voxel 2j is input voxel j): the inverse reads those voxels, so trilinear and nearest both come back exactly', () => {
    const s = makeSample();
    const t = new Spacing({ keys: ['image', 'label'], pixdim: [0.4, 0.4, 0.6] });
    const out = expectExact(t, s);
    expect(out.label.shape).toEqual([11, 9, 7]);
    expect(recordsOf(out, 'image')[0]!.extraInfo).toEqual({ ratio: [0.5, 0.5, 0.5] });
  });

  it('Spacing to a coarser grid: the shape, affine and spacing come back exactly; the label within its boundary voxels', () => {
    const s = makeSample([12, 10, 8]);
    const { back } = roundTrip(new Spacing({ keys: ['image', 'label'], pixdim: [1.2, 1.6, 1.8] }), s);
    expect(dice(back.label.data, s.label.data)).toBeGreaterThan(0.8);
  });

  it("Resize and Zoom (keepSize false) by 2 with 'nearest': every voxel is copied twice per axis, the inverse reads one copy back", () => {
    const s = makeSample();
    expectExact(new Resize({ keys: ['image', 'label'], spatialSize: [12, 10, 8], mode: 'nearest' }), s);
    expectExact(new Zoom({ keys: ['image', 'label'], zoom: 2, mode: 'nearest', keepSize: false }), s);
    // a default-mode ('area' image) resize down and back: the grid and geometry exactly
    roundTrip(new Resize({ keys: ['image', 'label'], spatialSize: [3, 5, 2] }), s);
  });

  it("Zoom with keepSize: the crop back to the input's size is undone (zeros where it cut), then the zoom", () => {
    const s = makeSample([8, 8, 4]);
    const { back } = roundTrip(new Zoom({ keys: ['image', 'label'], zoom: [2, 2, 1], mode: 'nearest' }), s);
    // the zoomed 16x16 volume was cropped to its centre [4, 12): the original voxels 2..5 per axis survive
    for (let x = 0; x < 8; x++) for (let y = 0; y < 8; y++) for (let z = 0; z < 4; z++) {
      const i = (x * 8 + y) * 4 + z, inside = x >= 2 && x < 6 && y >= 2 && y < 6;
      expect(back.label.data[i]).toBe(inside ? s.label.data[i] : 0);
    }
    // shrinking pads with 'edge': the inverse crops that off and interpolates back; RandZoom undoes its drawn factor
    roundTrip(new Zoom({ keys: ['image', 'label'], zoom: 0.5 }), s);
    const rng = new Rng(2);
    for (let i = 0; i < 3; i++) roundTrip(new RandZoom({ keys: ['image', 'label'], prob: 0.7, minZoom: 0.6, maxZoom: 1.4 }), s, rng);
  });

  it('Affine: a quarter turn of a square plane and an integer shift come back (nearest exactly; bilinear to float rounding)', () => {
    const s = makeSample([5, 5, 3]);
    expectExact(new Affine({ keys: ['image', 'label'], rotateParams: [0, 0, Math.PI / 2], mode: 'nearest' }), s);
    const { back } = roundTrip(new Affine({ keys: ['image', 'label'], rotateParams: [0, 0, Math.PI / 2] }), s);
    back.image.data.forEach((v, i) => expect(Math.abs(v - s.image.data[i]!)).toBeLessThan(1e-3));
    expect(back.label).toEqual(s.label);
    // an integer shift with zero padding: the slice shifted out comes back as zeros, the rest exactly
    const shifted = roundTrip(new Affine({ keys: ['image', 'label'], translateParams: [1, 0, 0], paddingMode: 'zeros', mode: 'nearest' }), s).back;
    // (output x reads input x + 1, so the inverse's x = 0 reads outside: [2, 5, 5, 3] has 15 voxels per x slice)
    shifted.image.data.forEach((v, i) => expect(v).toBe(Math.floor(i / 15) % 5 === 0 ? 0 : s.image.data[i]));
    // a new output size (spatialSize) goes back to the input's
    roundTrip(new Affine({ keys: ['image', 'label'], scaleParams: [1.5, 1, 1], spatialSize: [7, 4, 3] }), s);
  });

  it('RandAffine: the drawn matrix is undone (and the identity resize of a skipped draw with another size)', () => {
    const s = makeSample([8, 8, 6]);
    const rng = new Rng(4);
    const t = new RandAffine({ keys: ['image', 'label'], prob: 1, rotateRange: [0.3, 0.2, 0.1], scaleRange: 0.1, paddingMode: 'border' });
    const { back } = roundTrip(t, s, rng);
    expect(dice(back.label.data, s.label.data)).toBeGreaterThan(0.8);
    roundTrip(new RandAffine({ keys: ['image', 'label'], prob: 0, spatialSize: [6, 8, 6] }), s, rng);
    const skipped = new RandAffine({ keys: ['image', 'label'], prob: 0 });
    expect(skipped.inverse(skipped.apply(s, rng)).image).toBe(s.image);
  });
});

describe('Compose.inverse', () => {
  it('undoes the invertible steps in reverse order and skips the others (intensity), nested Composes too', () => {
    const s = makeSample();
    const keys = ['image', 'label'];
    const pipeline = new Compose<object, false>([
      new Orientation({ keys, axcodes: 'RAS' }), new ScaleIntensity({ keys: 'image' }),
      new Compose<object, false>([new SpatialPad({ keys, spatialSize: [7, 7, 7] }), new RandFlip({ keys, prob: 1, spatialAxis: 1 })]),
      new RandRotate90({ keys, prob: 1 }), new CenterSpatialCrop({ keys, roiSize: [0, 0, 5] }),
    ]);
    const out = pipeline.apply(s, new Rng(1));
    expect(recordsOf(out, 'image').map((r) => r.className)).toEqual(['Orientation', 'SpatialPad', 'RandFlip', 'RandRotate90', 'CenterSpatialCrop']);
    const back = pipeline.inverse(out);
    expect(back.label).toEqual(s.label);
    expect(back.affine).toEqual(s.affine);
    expect(back.spacing).toEqual(s.spacing);
    // the image keeps ScaleIntensity (not invertible, skipped as MONAI does): its values are the scaled ones, in their original places
    const lo = 1, hi = 2 * 120;
    back.image.data.forEach((v, i) => expect(v).toBeCloseTo((s.image.data[i]! - lo) / (hi - lo), 6));
  });

  it('names what is wrong: an inverse out of order, a key without records, a resized key, a multi-sample cropper', () => {
    const s = makeSample();
    const flip = new Flip({ keys: 'image' }), pad = new SpatialPad({ keys: 'image', spatialSize: 8 });
    const out = pad.apply(flip.apply(s));
    expect(() => flip.inverse(out)).toThrow(/Flip\.inverse: the last record in 'image_transforms' is SpatialPad \(id \d+\), not this Flip's/);
    // records are matched by class, not by instance: a sample made in a DataLoader worker or another process (its
    // transforms other instances, with other ids) is inverted by this process's pipeline
    const elsewhere = new SpatialPad({ keys: 'image', spatialSize: 8 });
    expect(elsewhere.transformId).not.toBe(pad.transformId);
    expect(elsewhere.inverse(out).image).toEqual(flip.apply(s).image);
    expect(() => flip.inverse(s)).toThrow(/Flip\.inverse: key 'image' has no record left in 'image_transforms'/);
    expect(() => pad.inverse({ ...out, image: s.image })).toThrow(/SpatialPad\.inverse: key 'image' has spatial shape \[6, 5, 4\], SpatialPad made \[8, 8, 8\]/);
    // a key the sample lacks is skipped (MONAI's missing keys allowed): label was never transformed
    expect(flip.inverse(pad.inverse(out)).image).toEqual(s.image);
    for (const t of [
      new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2 }), new RandSpatialCropSamples({ keys: 'image', roiSize: 2, numSamples: 2 }),
      new RandCropByLabelClasses({ keys: 'image', labelKey: 'label', spatialSize: 2, numClasses: 3 }),
    ]) {
      expect(() => t.inverse()).toThrow(new RegExp(`${t.constructor.name}\\.inverse: not invertible: .* multi-sample crop`));
      expect(() => new Compose([flip, t]).inverse(s)).toThrow(/not invertible/);
    }
  });
});

describe('Invert (MONAI Invertd)', () => {
  const PATIENT: Shape3 = [34, 32, 22];

  /**
   * A sphere label (radius 11 in world units) on the original grid, and an image that is bright inside a box around it;
   * the affine is AFFINE's axes with spacing 1, 1, 1.5 (so that Spacing's ratios below are exactly 1.5).
   */
  function patient(): { image: Volume<Float32Array>; label: Volume<Uint8Array>; affine: number[][]; spacing: number[] } {
    const shape = PATIENT;
    const n = shape[0] * shape[1] * shape[2];
    const image = new Float32Array(n), label = new Uint8Array(n);
    for (let x = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++) {
      const i = (x * shape[1] + y) * shape[2] + z;
      label[i] = Math.hypot(x - 17, y - 16, (z - 11) * 1.5) < 11 ? 1 : 0;
      image[i] = x > 2 && x < 31 && y > 2 && y < 29 && z > 1 && z < 20 ? 1 + Math.cos(i) : 0;
    }
    return { image: { data: image, shape }, label: { data: label, shape }, affine: [[0, -1, 0, 20], [-1, 0, 0, 30], [0, 0, 1.5, -5], [0, 0, 0, 1]], spacing: [1, 1, 1.5] };
  }

  /**
   * Where the round trip copies original voxel coordinate j from along one axis of size n, flipped or not by
   * Orientation, through nearest Spacing by ratio 1.5 and back (numpy's round, half to even): the transformed
   * coordinate t, the coarse voxel round(t/1.5) (clamped to the m coarse voxels) that the inverse reads, and the voxel
   * round(1.5·c) (clamped) the forward had read for it.
   */
  function sourceAlong(j: number, n: number, flipped: boolean): number {
    const even = (x: number): number => { const f = Math.floor(x); return x - f > 0.5 || (x - f === 0.5 && f % 2 !== 0) ? f + 1 : f; };
    const m = even((n - 1) / 1.5 + 1), t = flipped ? n - 1 - j : j;
    const back = even(Math.min(1.5 * even(Math.min(t / 1.5, m - 1)), n - 1));
    return flipped ? n - 1 - back : back;
  }

  it('maps a prediction through Orientation, Spacing, CropForeground and DivisiblePad back onto the original grid, affine and spacing', () => {
    const original = patient();
    const keys = ['image', 'label'];
    const pre = new Compose<object, false>([
      new Orientation({ keys, axcodes: 'RAS' }), new Spacing({ keys, pixdim: [1.5, 1.5, 2.25] }), new ScaleIntensity({ keys: 'image' }),
      new CropForeground({ keys, sourceKey: 'image', margin: 1 }), new DivisiblePad({ keys, k: 4 }),
    ]);
    const sample = pre.apply(original);
    // a perfect model: its prediction is the preprocessed label, as a float map
    const pred: Volume<Float32Array> = { data: Float32Array.from(sample.label.data), shape: sample.label.shape };
    expect(pred.shape).not.toEqual(original.label.shape);
    const out = new Invert({ keys: 'pred', transform: pre, origKeys: 'image' }).apply({ ...sample, pred });
    expect(out.pred.shape).toEqual(original.label.shape);
    expect(out.affine).toEqual(original.affine);
    expect(out.spacing).toEqual(original.spacing);
    // the image and its records are left as they were
    expect(out.image).toBe(sample.image);
    expect(recordsOf(out, 'image')).toHaveLength(4);
    // the reference: Orientation (voxel axes 0 and 1 run to P and L, so RAS flips both), the crop and the pad are exact
    // where the sphere is (the crop keeps the image's box around it), and nearest Spacing there and back copies each
    // original voxel from the one sourceAlong gives per axis
    const [X, Y, Z] = PATIENT;
    const reference = new Uint8Array(X * Y * Z);
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      reference[(x * Y + y) * Z + z] = original.label.data[(sourceAlong(x, X, true) * Y + sourceAlong(y, Y, true)) * Z + sourceAlong(z, Z, false)]!;
    }
    expect([...out.pred.data]).toEqual([...reference]);
    // the Dice bound, from the label and the per-axis maps alone: voxel j is copied from a voxel of the box
    // {j_a, sourceAlong(j_a)} per axis, one voxel off along the axes whose coordinate moves (about a third of them:
    // checked below) and exact along the others, so it can only come out wrong when a voxel of that box has the other
    // class. With m ≤ C such candidates, Dice = 1 − m/(|A| + |A'|) ≥ 1 − C/(2|A| − C), |A| the sphere's voxels
    const moved = [X, Y, Z].map((n, a) => Array.from({ length: n }, (_, j) => sourceAlong(j, n, a < 2) !== j));
    expect(moved.map((m) => m.filter(Boolean).length / m.length).every((f) => f > 0.2 && f < 0.45)).toBe(true);
    let candidates = 0;
    const at = (x: number, y: number, z: number): number => original.label.data[(x * Y + y) * Z + z]!;
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      const box = [[x, sourceAlong(x, X, true)], [y, sourceAlong(y, Y, true)], [z, sourceAlong(z, Z, false)]];
      let differs = false;
      for (const p of box[0]!) for (const q of box[1]!) for (const r of box[2]!) if (at(p, q, r) !== at(x, y, z)) differs = true;
      if (differs) candidates++;
    }
    const foreground = original.label.data.reduce((a, v) => a + v, 0);
    const bound = 1 - candidates / (2 * foreground - candidates);
    expect(bound).toBeGreaterThan(0.85);
    expect(dice(out.pred.data, original.label.data)).toBeGreaterThanOrEqual(bound);
    // nearest interpolation keeps the prediction's values
    expect(new Set(out.pred.data)).toEqual(new Set([0, 1]));
  });

  it('replays onto a channel-first prediction of another channel count; nearestInterp false uses the forward modes; origKeys per key', () => {
    const s = makeSample();
    const keys = ['image', 'label'];
    const pre = new Compose<object, false>([new Flip({ keys, spatialAxis: 0 }), new Zoom({ keys, zoom: 2, keepSize: false, mode: ['trilinear', 'nearest'] })]);
    const sample = pre.apply(s);
    const probs: MultiChannelVolume = { data: Float32Array.from({ length: 3 * sample.label.data.length }, (_, i) => (i % 7) / 7), shape: [3, ...sample.label.shape] };
    const seg: Volume<Uint8Array> = { data: sample.label.data, shape: sample.label.shape };
    const out = new Invert({ keys: ['probs', 'seg'], transform: pre, origKeys: ['image', 'label'], nearestInterp: [false, true] }).apply({ ...sample, probs, seg });
    expect(out.probs.shape).toEqual([3, ...SHAPE]);
    expect(out.seg).toEqual(s.label);
    // trilinear from the zoomed volume: values in [0, 6/7], not only the 7 levels nearest would keep
    expect(out.probs.data.some((v) => Math.abs(v * 7 - Math.round(v * 7)) > 1e-3)).toBe(true);
    // inverting a key onto itself pops its records
    const self = new Invert({ keys: 'label', transform: pre, origKeys: 'label' }).apply(sample);
    expect(self.label).toEqual(s.label);
    expect(recordsOf(self, 'label')).toEqual([]);
    // writeGeometry false leaves the sample's (transformed) affine
    const kept = new Invert({ keys: 'seg', transform: pre, origKeys: 'label', writeGeometry: false }).apply({ ...sample, seg });
    expect(kept.affine).toEqual(sample.affine);
    expect(kept.affine).not.toEqual(s.affine);
  });

  it("follows records that went through a PersistentDataset's file format (plain data, another process's ids)", () => {
    const s = makeSample();
    const keys = ['image', 'label'];
    const made = new Compose<object, false>([new Orientation({ keys, axcodes: 'RAS' }), new BorderPad({ keys, spatialBorder: 2 })]).apply(s);
    const stored = decodeStoredSample(encodeStoredSample(made), 'sample.vxs') as typeof made;
    expect(recordsOf(stored, 'image')).toEqual(recordsOf(made, 'image'));
    // this process's pipeline: new instances (other ids), the same classes
    const pipeline = new Compose<object, false>([new Orientation({ keys, axcodes: 'RAS' }), new BorderPad({ keys, spatialBorder: 2 })]);
    const out = new Invert({ keys: 'label', transform: pipeline, origKeys: 'image' }).apply(stored);
    expect(out.label).toEqual(s.label);
    expect(out.affine).toEqual(s.affine);
  });

  it('names its bad options and inputs', () => {
    const s = makeSample();
    const pre = new Compose<object, false>([new SpatialPad({ keys: 'image', spatialSize: 8 })]);
    const sample = pre.apply(s);
    expect(() => new Invert({ keys: ['a', 'b', 'c'], transform: pre, origKeys: ['image', 'label'] })).toThrow(/Invert: origKeys must be one key or one per key \(3 keys\)/);
    expect(() => new Invert({ keys: 'pred', transform: pre, origKeys: 'image', nearestInterp: [true, false] })).toThrow(/Invert: nearestInterp must be a boolean or one per key/);
    expect(() => new Invert({ keys: 'pred', transform: {} as never, origKeys: 'image' })).toThrow(/Invert: transform must be the Compose .* inverse\(sample\)/);
    expect(() => new Invert({ keys: [], transform: pre, origKeys: 'image' })).toThrow(/Invert: keys must be a key or a non-empty list/);
    const invert = new Invert({ keys: 'pred', transform: pre, origKeys: 'label' });
    expect(() => invert.apply({ ...sample, pred: sample.image })).toThrow(/Invert: the sample has no 'label_transforms' \(origKey 'label'\)/);
    expect(() => new Invert({ keys: 'pred', transform: pre, origKeys: 'image' }).apply({ ...sample, pred: s.label }))
      .toThrow(/Invert: key 'pred' has spatial shape \[6, 5, 4\], the transforms left origKey 'image' at \[8, 8, 8\]/);
    expect(() => invert.apply(sample)).toThrow(/Invert: key 'pred' is missing from the sample/);
  });
});
