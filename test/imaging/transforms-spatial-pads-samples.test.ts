import { describe, expect, it } from 'vitest';
import { BorderPad, DivisiblePad, RandCropByLabelClasses, RandSpatialCrop, RandSpatialCropSamples, SpatialPad } from '../../src/imaging/transforms-spatial.js';
import { Compose } from '../../src/imaging/transforms.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const at = (s: Readonly<Shape3>, x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;
const indexVolume = (shape: Shape3): Volume<Float32Array> => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape });
/** Voxel (x, y, z) with zeros outside ('constant') or the nearest inside ('edge'). */
function padded(v: Volume<Float32Array>, x: number, y: number, z: number, mode: 'constant' | 'edge'): number {
  const c = [x, y, z].map((p, a) => Math.min(Math.max(p, 0), v.shape[a]! - 1));
  if (mode === 'constant' && c.some((p, a) => p !== [x, y, z][a])) return 0;
  return v.data[at(v.shape, c[0]!, c[1]!, c[2]!)]!;
}
/** Where a crop of an index volume starts (its first voxel's value names it). */
const startOf = (crop: Volume<Float32Array>, s: Shape3): Shape3 => {
  const i = crop.data[0]! - 1;
  return [Math.floor(i / (s[1] * s[2])), Math.floor(i / s[2]) % s[1], i % s[2]];
};

describe('DivisiblePad', () => {
  it('pads each axis to the next multiple of k, symmetric or at the end, zeros or edge', () => {
    const image = indexVolume([5, 8, 3]);
    for (const mode of ['constant', 'edge'] as const) {
      for (const method of ['symmetric', 'end'] as const) {
        const out = new DivisiblePad({ keys: 'image', k: [4, 4, 2], mode, method }).apply({ image }).image;
        expect(out.shape).toEqual([8, 8, 4]);
        const before = method === 'symmetric' ? [1, 0, 0] : [0, 0, 0]; // ⌊3/2⌋, 0, ⌊1/2⌋
        for (let x = 0; x < 8; x++) for (let y = 0; y < 8; y++) for (let z = 0; z < 4; z++) {
          expect(out.data[at(out.shape, x, y, z)]).toBe(padded(image, x - before[0]!, y - before[1]!, z - before[2]!, mode));
        }
      }
    }
    expect(new DivisiblePad({ keys: 'image', k: 16 }).apply({ image }).image.shape).toEqual([16, 16, 16]);
    // already divisible, or k ≤ 0: unchanged; 'constant' equals SpatialPad to the same size
    expect(new DivisiblePad({ keys: 'image', k: [5, -1, 1] }).apply({ image }).image.data).toEqual(image.data);
    expect(new DivisiblePad({ keys: 'image', k: 3 }).apply({ image }).image.data).toEqual(new SpatialPad({ keys: 'image', spatialSize: [6, 9, 3] }).apply({ image }).image.data);
  });

  it('pads channel-first images and labels alike; names bad options', () => {
    const image = { data: new Float32Array(2 * 27).fill(1), shape: [2, 3, 3, 3] as [number, number, number, number] };
    const label = { data: new Uint8Array(27).fill(2), shape: [3, 3, 3] as Shape3 };
    const out = new DivisiblePad({ keys: ['image', 'label'], k: 2 }).apply({ image, label });
    expect(out.image.shape).toEqual([2, 4, 4, 4]);
    expect(out.label.shape).toEqual([4, 4, 4]);
    expect(out.label.data).toBeInstanceOf(Uint8Array);
    expect(out.label.data.reduce((a, b) => a + b, 0)).toBe(54);
    expect(() => new DivisiblePad({ keys: 'image', k: 1.5 })).toThrow(/k must be an integer/);
    expect(() => new DivisiblePad({ keys: 'image', k: 2, mode: 'reflect' as 'edge' })).toThrow(/mode must be 'constant' \(zeros\) or 'edge'/);
    expect(() => new DivisiblePad({ keys: 'image', k: 2, method: 'start' as 'end' })).toThrow(/method must be 'symmetric' or 'end'/);
  });
});

describe('BorderPad', () => {
  it('pads one, three or six borders', () => {
    const image = indexVolume([2, 3, 4]);
    const cases: [number | number[], number[], number[]][] = [
      [1, [1, 1, 1], [1, 1, 1]], [[0, 2, 1], [0, 2, 1], [0, 2, 1]], [[1, 0, 0, 2, 3, 1], [1, 0, 3], [0, 2, 1]],
    ];
    for (const [spatialBorder, before, after] of cases) {
      for (const mode of ['constant', 'edge'] as const) {
        const out = new BorderPad({ keys: 'image', spatialBorder, mode }).apply({ image }).image;
        const shape = [0, 1, 2].map((a) => image.shape[a]! + before[a]! + after[a]!);
        expect(out.shape).toEqual(shape);
        for (let x = 0; x < shape[0]!; x++) for (let y = 0; y < shape[1]!; y++) for (let z = 0; z < shape[2]!; z++) {
          expect(out.data[at(out.shape, x, y, z)]).toBe(padded(image, x - before[0]!, y - before[1]!, z - before[2]!, mode));
        }
      }
    }
    expect(new BorderPad({ keys: 'image', spatialBorder: 0 }).apply({ image }).image.data).toEqual(image.data);
  });

  it('names a bad border', () => {
    for (const spatialBorder of [-1, [1, 2], [1, 1, 1, 1], 1.5]) expect(() => new BorderPad({ keys: 'image', spatialBorder })).toThrow(/spatialBorder must be one, three or six integers ≥ 0/);
  });
});

describe('RandSpatialCropSamples', () => {
  it('returns numSamples crops, each the RandSpatialCrop of the next draws, every key alike', () => {
    const shape: Shape3 = [8, 7, 6];
    const image = indexVolume(shape), label = { data: Uint8Array.from(image.data, (v) => v % 251), shape };
    const rng = new Rng(4), ref = rng.clone();
    const opts = { keys: ['image', 'label'], roiSize: [3, 4, 2] as const, randomSize: true, maxRoiSize: [5, 6, 4] as const };
    const crops = new RandSpatialCropSamples({ ...opts, numSamples: 4 }).apply({ image, label, id: 'c' }, rng);
    expect(crops).toHaveLength(4);
    const single = new RandSpatialCrop(opts);
    for (const crop of crops) {
      const expected = single.apply({ image, label, id: 'c' }, ref);
      expect(crop.image.shape).toEqual(expected.image.shape);
      expect([...crop.image.data]).toEqual([...expected.image.data]);
      expect([...crop.label.data]).toEqual([...crop.image.data].map((v) => v % 251));
      expect(crop.id).toBe('c');
    }
    expect(rng.state()).toEqual(ref.state());
    expect(new Set(crops.map((c) => startOf(c.image, shape).join())).size).toBeGreaterThan(1);
  });

  it('splits a Compose into the samples; names a bad numSamples', () => {
    const out = new Compose([new RandSpatialCropSamples({ keys: 'image', roiSize: 2, numSamples: 3 })]).applyAll({ image: indexVolume([4, 4, 4]) }, new Rng(1));
    expect(out.map((s) => s.image.shape)).toEqual([[2, 2, 2], [2, 2, 2], [2, 2, 2]]);
    expect(() => new RandSpatialCropSamples({ keys: 'image', roiSize: 2, numSamples: 0 })).toThrow(/numSamples must be a positive integer/);
  });
});

describe('RandCropByLabelClasses', () => {
  const shape: Shape3 = [9, 8, 7];
  /** Class 1 is one voxel, class 2 a slab, the rest 0. */
  function labelVolume(): Volume<Uint8Array> {
    const data = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let y = 0; y < 8; y++) for (let z = 0; z < 7; z++) data[at(shape, 8, y, z)] = 2;
    data[at(shape, 4, 3, 2)] = 1;
    return { data, shape };
  }

  it('centres crops on voxels of the drawn classes (class choices first, then indices), moved to fit', () => {
    const image = indexVolume(shape), label = labelVolume();
    const rng = new Rng(12), ref = rng.clone();
    const crops = new RandCropByLabelClasses({ keys: ['image', 'label'], labelKey: 'label', spatialSize: [3, 3, 3], ratios: [0, 1, 2], numClasses: 3, numSamples: 5 }).apply({ image, label }, rng);
    const classes = Array.from({ length: 5 }, () => (ref.random() * 3 < 1 ? 1 : 2));
    crops.forEach((crop, n) => {
      const c = classes[n]!;
      const s = startOf(crop.image, shape);
      if (c === 1) {
        ref.int(1);
        expect(s).toEqual([3, 2, 1]);
      } else {
        const idx = ref.int(56); // the slab x = 8: 8·7 voxels, C order (y, z)
        const y = Math.floor(idx / 7), z = idx % 7;
        expect(s).toEqual([6, Math.min(Math.max(y, 1), 6) - 1, Math.min(Math.max(z, 1), 5) - 1]);
      }
      expect(crop.label.shape).toEqual([3, 3, 3]);
    });
    expect(rng.state()).toEqual(ref.state());
    expect(new Set(classes).size).toBe(2);
  });

  it('reads one-hot labels, gives absent classes ratio 0, and masks by the image', () => {
    const n = shape[0] * shape[1] * shape[2];
    const oneHot = { data: new Uint8Array(2 * n), shape: [2, ...shape] as [number, number, number, number] };
    oneHot.data[at(shape, 0, 0, 0)] = 1; // class 0: one corner voxel; class 1: none
    const image = indexVolume(shape);
    const crops = new RandCropByLabelClasses({ keys: 'image', labelKey: 'label', spatialSize: 3, numSamples: 3 }).apply({ image, label: oneHot }, new Rng(2));
    for (const c of crops) expect(startOf(c.image, shape)).toEqual([0, 0, 0]);
    // the image threshold leaves only voxels with value > n − 7 (the last z row of x = 8, y = 7): all class 2
    const masked = new RandCropByLabelClasses({ keys: 'image', labelKey: 'label', spatialSize: 3, numClasses: 3, imageKey: 'image', imageThreshold: n - 7, numSamples: 4 })
      .apply({ image, label: labelVolume() }, new Rng(3));
    for (const c of masked) expect(startOf(c.image, shape).slice(0, 2)).toEqual([6, 5]);
  });

  it('maxSamplesPerClass keeps evenly spaced candidates (numpy round of a linspace)', () => {
    const label = labelVolume();
    const seen = new Set<string>();
    const t = new RandCropByLabelClasses({ keys: 'label', labelKey: 'label', spatialSize: 1, ratios: [0, 0, 1], numClasses: 3, maxSamplesPerClass: 3, numSamples: 40 });
    for (const c of t.apply({ label, image: indexVolume(shape) }, new Rng(8))) seen.add(JSON.stringify(c.label.data[0]));
    expect(seen).toEqual(new Set(['2']));
    const image = indexVolume(shape);
    const starts = new Set(new RandCropByLabelClasses({ keys: 'image', labelKey: 'label', spatialSize: 1, ratios: [0, 0, 1], numClasses: 3, maxSamplesPerClass: 3, numSamples: 60 })
      .apply({ image, label }, new Rng(9)).map((c) => startOf(c.image, shape).join()));
    // linspace(0, 55, 3) = 0, 27.5, 55 → 0, 28 (half to even), 55: (y, z) = (0, 0), (4, 0), (7, 6)
    expect(starts).toEqual(new Set(['8,0,0', '8,4,0', '8,7,6']));
  });

  it('names the bad option or key', () => {
    const image = indexVolume(shape), label = labelVolume();
    const make = (o: object): RandCropByLabelClasses => new RandCropByLabelClasses({ keys: 'image', labelKey: 'label', spatialSize: 3, ...o });
    expect(() => make({}).apply({ image, label }, new Rng(1))).toThrow(/key 'label' has one channel .* numClasses must be given/);
    expect(() => make({ numClasses: 3, ratios: [1, 1] }).apply({ image, label }, new Rng(1))).toThrow(/ratios has 2 entries, the label has 3 classes/);
    expect(() => make({ numClasses: 3, ratios: [1, 0, 0] }).apply({ image, label: { data: new Uint8Array(label.data.length).fill(1), shape } }, new Rng(1))).toThrow(/no class with a nonzero ratio/);
    expect(() => make({ ratios: [1, -1] })).toThrow(/ratios must be finite numbers ≥ 0/);
    expect(() => make({ numClasses: 0 })).toThrow(/numClasses must be a positive integer/);
    expect(() => make({ numSamples: 0 })).toThrow(/numSamples must be a positive integer/);
    expect(() => make({ maxSamplesPerClass: 0 })).toThrow(/maxSamplesPerClass must be a positive integer/);
    expect(() => make({ numClasses: 3, spatialSize: 10 }).apply({ image, label }, new Rng(1))).toThrow(/spatialSize \[10, 10, 10\] is larger .*\(allowSmaller: true/);
    expect(make({ numClasses: 3, spatialSize: 10, allowSmaller: true }).apply({ image, label }, new Rng(1))[0]!.image.shape).toEqual(shape);
    expect(() => make({ numClasses: 3 }).apply({ image, label }, undefined)).toThrow(/needs an Rng/);
  });
});
