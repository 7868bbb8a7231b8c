import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CenterSpatialCrop, CropForeground, Flip, RandCropByPosNegLabel, RandFlip, RandRotate90, RandSpatialCrop, Resize, Rotate90, Spacing,
  SpatialPad, generateSpatialBoundingBox,
} from '../../src/imaging/transforms-spatial.js';
import { Compose, type Transform } from '../../src/imaging/transforms.js';
import { NormalizeIntensity } from '../../src/imaging/transforms-intensity.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

/**
 * The spatial transforms on channel-first volumes [C, X, Y, Z] (MONAI's layout): every channel of every key gets the
 * geometry the single-channel transform gives a volume [X, Y, Z] for the same seed, drawn once per sample, and the
 * generator is left where the single-channel call leaves it.
 */

type Image = MultiChannelVolume<Float32Array>;
type Label = MultiChannelVolume<Uint8Array>;
interface Sample { image: Image; label: Label; source: Volume<Uint8Array>; spacing: number[] }

/** Channel c of a channel-first volume, as a volume [X, Y, Z] (a copy). */
const channel = <V extends Image | Label>(v: V, c: number): Volume<V['data']> => {
  const [, X, Y, Z] = v.shape, n = X * Y * Z;
  return { data: v.data.slice(c * n, (c + 1) * n) as V['data'], shape: [X, Y, Z] };
};

/** Image channel c's voxel i holds 1000·c + i + 1 (nonzero, and it says where it came from); the label channels are random 0/1/2. */
function makeSample(shape: Shape3, imageChannels: number, labelChannels: number, seed: number): Sample {
  const n = shape[0] * shape[1] * shape[2], rng = new Rng(seed);
  return {
    image: { data: Float32Array.from({ length: imageChannels * n }, (_, i) => 1000 * Math.floor(i / n) + (i % n) + 1), shape: [imageChannels, ...shape] },
    label: { data: Uint8Array.from({ length: labelChannels * n }, () => rng.int(3)), shape: [labelChannels, ...shape] },
    source: { data: Uint8Array.from({ length: n }, () => (rng.random() < 0.3 ? 1 : 0)), shape },
    spacing: [1, 1.5, 0.75],
  };
}

const keys = ['image', 'label'];
/** Every spatial transform, with options drawn by fast-check where they matter. */
const arbTransform: fc.Arbitrary<{ name: string; make: () => Transform }> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 7 }), fc.constantFrom<'symmetric' | 'end'>('symmetric', 'end'))
    .map(([s, method]) => ({ name: 'SpatialPad', make: () => new SpatialPad({ keys, spatialSize: [s, -1, s], method }) })),
  fc.integer({ min: 1, max: 5 }).map((s) => ({ name: 'CenterSpatialCrop', make: () => new CenterSpatialCrop({ keys, roiSize: [s, 0, s] }) })),
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean()).map(([s, randomSize, randomCenter]) => ({
    name: 'RandSpatialCrop', make: () => new RandSpatialCrop({ keys, roiSize: randomSize ? 1 : s, randomSize, randomCenter }),
  })),
  fc.integer({ min: 0, max: 2 }).map((margin) => ({ name: 'CropForeground', make: () => new CropForeground({ keys, sourceKey: 'source', margin }) })),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).map(([s, numSamples]) => ({
    name: 'RandCropByPosNegLabel', make: () => new RandCropByPosNegLabel({ keys, labelKey: 'source', spatialSize: s, numSamples, allowSmaller: true }),
  })),
  fc.subarray([0, 1, 2], { minLength: 1 }).map((spatialAxis) => ({ name: 'Flip', make: () => new Flip({ keys, spatialAxis }) })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((prob) => ({ name: 'RandFlip', make: () => new RandFlip({ keys, prob, spatialAxis: [0, 2] }) })),
  fc.tuple(fc.integer({ min: -2, max: 5 }), fc.constantFrom<[number, number]>([0, 1], [1, 2], [2, 0])).map(([k, spatialAxes]) => ({
    name: 'Rotate90', make: () => new Rotate90({ keys, k, spatialAxes }),
  })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((prob) => ({ name: 'RandRotate90', make: () => new RandRotate90({ keys, prob, spatialAxes: [1, 2] }) })),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.constantFrom<'area' | 'trilinear' | 'nearest' | undefined>('area', 'trilinear', 'nearest', undefined)).map(([s, imageMode]) => ({
    name: 'Resize', make: () => new Resize({ keys, spatialSize: [s, -1, 3], mode: imageMode && [imageMode, 'nearest'] }),
  })),
  fc.constantFrom<'trilinear' | 'nearest'>('trilinear', 'nearest').map((mode) => ({
    name: 'Spacing', make: () => new Spacing({ keys, pixdim: [0.8, 2, 1], mode: [mode, 'nearest'] }),
  })),
);

const arbShape = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })) as fc.Arbitrary<Shape3>;
const list = <T>(out: T | T[]): T[] => (Array.isArray(out) ? out : [out]);

describe('spatial transforms on channel-first volumes', () => {
  it('each channel of each key is the single-channel transform of that channel, with the same draws (one per sample, shared by the keys)', () => {
    fc.assert(fc.property(arbShape, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), arbTransform, fc.integer({ min: 0, max: 1000 }),
      (shape, C, L, { make }, seed) => {
        const sample = makeSample(shape, C, L, seed);
        if (!sample.source.data.includes(1)) sample.source.data[0] = 1; // CropForeground needs foreground
        const rng = new Rng(seed);
        const out = list(make().apply(sample, rng));
        const after = rng.random();
        // the oracle: image channel c (or label channel c) as a volume [X, Y, Z] under its key, the other key's first channel beside it
        const single = (c: number, key: 'image' | 'label') => {
          const r = new Rng(seed);
          const outs = list(make().apply({ ...sample, image: channel(sample.image, Math.min(c, C - 1)), label: channel(sample.label, Math.min(c, L - 1)) }, r));
          expect(r.random()).toBe(after);
          return outs.map((o) => o[key]);
        };
        const expected = (key: 'image' | 'label', count: number) => Array.from({ length: count }, (_, c) => single(c, key));
        for (const [key, count] of [['image', C], ['label', L]] as const) {
          const perChannel = expected(key, count);
          expect(out.length).toBe(perChannel[0]!.length);
          out.forEach((o, s) => {
            const v = o[key];
            const spatial = perChannel[0]![s]!.shape;
            expect(v.shape).toEqual([count, ...spatial]);
            expect(v.data).toBeInstanceOf(key === 'image' ? Float32Array : Uint8Array);
            perChannel.forEach((outs, c) => expect(channel(v, c).data).toEqual(outs[s]!.data));
          });
        }
      }), { numRuns: 300 });
  });

  it('a crop starts at one position in every channel and every key (index-valued channels name where they came from)', () => {
    fc.assert(fc.property(arbShape, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), (shape, C, seed) => {
      const sample = makeSample(shape, C, 1, seed);
      const second: Image = { data: sample.image.data.map((v) => v + 100000), shape: sample.image.shape };
      const roi = shape.map((s) => Math.max(1, s - 1)) as Shape3;
      const out = new RandSpatialCrop({ keys: ['image', 'second'], roiSize: roi }).apply({ ...sample, second }, new Rng(seed));
      const n = shape[0] * shape[1] * shape[2], m = roi[0] * roi[1] * roi[2];
      const firstVoxels = [0, 1].flatMap((k) => Array.from({ length: C }, (_, c) => ((k === 0 ? out.image : out.second).data[c * m]! - 1) % 1000));
      expect(new Set(firstVoxels).size).toBe(1);
      for (let c = 0; c < C; c++) expect(Math.floor((out.image.data[c * m]! - 1) / 1000)).toBe(c);
      expect(out.image.shape).toEqual([C, ...roi]);
      expect(firstVoxels[0]!).toBeLessThan(n);
    }));
  });

  it('hand values: flip, quarter turn, centre crop, pad and nearest resize of a 2-channel image', () => {
    const image: Image = { data: Float32Array.of(1, 2, 3, 4, 10, 20, 30, 40), shape: [2, 2, 2, 1] }; // channel c: [[a, b], [c, d]] in (x, y)
    const of = (t: Transform) => Array.from((t.apply({ image }) as { image: Image }).image.data);
    expect(of(new Flip({ keys: 'image', spatialAxis: 0 }))).toEqual([3, 4, 1, 2, 30, 40, 10, 20]);
    // np.rot90 in the (x, y) plane: out[x, y] = in[y, X − 1 − x]
    expect(of(new Rotate90({ keys: 'image' }))).toEqual([2, 4, 1, 3, 20, 40, 10, 30]);
    expect(of(new CenterSpatialCrop({ keys: 'image', roiSize: [1, 1, 1] }))).toEqual([4, 40]);
    expect(of(new SpatialPad({ keys: 'image', spatialSize: [2, 2, 2], method: 'end' }))).toEqual([1, 0, 2, 0, 3, 0, 4, 0, 10, 0, 20, 0, 30, 0, 40, 0]);
    expect(of(new Resize({ keys: 'image', spatialSize: [1, 2, 1], mode: 'nearest' }))).toEqual([1, 2, 10, 20]);
    expect(of(new Resize({ keys: 'image', spatialSize: [1, 1, 1] }))).toEqual([2.5, 25]);
  });

  it('CropForeground and RandCropByPosNegLabel read a channel-first source or label as MONAI does: foreground in any channel', () => {
    fc.assert(fc.property(arbShape, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1000 }), (shape, L, seed) => {
      const sample = makeSample(shape, 2, L, seed);
      const n = shape[0] * shape[1] * shape[2];
      const any: Volume<Uint8Array> = { data: Uint8Array.from({ length: n }, (_, i) => (Array.from({ length: L }, (_, c) => sample.label.data[c * n + i]!).some((v) => v !== 0) ? 1 : 0)), shape };
      expect(generateSpatialBoundingBox(sample.label, { margin: 1 })).toEqual(generateSpatialBoundingBox(any, { margin: 1 }));
      // the image as imageKey: a candidate where any channel is above the threshold (channel 1 is ≥ 1001 everywhere)
      const crop = (labelKey: string) => new RandCropByPosNegLabel({ keys: 'image', labelKey, spatialSize: 2, numSamples: 3, allowSmaller: true, imageKey: 'image', imageThreshold: 1000 });
      const withAny = { ...sample, any };
      expect(crop('label').apply(withAny, new Rng(seed)).map((o) => o.image)).toEqual(crop('any').apply(withAny, new Rng(seed)).map((o) => o.image));
      if (any.data.includes(1)) {
        expect(new CropForeground({ keys: 'image', sourceKey: 'label' }).apply(sample).image).toEqual(new CropForeground({ keys: 'image', sourceKey: 'any' }).apply(withAny).image);
      }
    }));
  });

  it('in a Compose: MONAI\'s Compose([RandSpatialCropd, RandFlipd, RandRotate90d]) on a 4-channel image and a 3-channel label', () => {
    const sample = makeSample([6, 5, 4], 4, 3, 3);
    const pipeline = new Compose<Sample, false>([
      new RandSpatialCrop({ keys, roiSize: [4, 4, 4] }),
      new RandFlip({ keys, prob: 0.5, spatialAxis: 0 }),
      new RandRotate90({ keys, prob: 0.5, spatialAxes: [0, 1] }),
    ]);
    const out = pipeline.apply(sample, new Rng(5));
    expect(out.image.shape).toEqual([4, 4, 4, 4]);
    expect(out.label.shape).toEqual([3, 4, 4, 4]);
    for (let c = 0; c < 4; c++) {
      const single = pipeline.apply({ ...sample, image: channel(sample.image, c), label: channel(sample.label, c % 3) }, new Rng(5));
      expect(channel(out.image, c).data).toEqual(single.image.data);
      expect(channel(out.label, c % 3).data).toEqual(single.label.data);
    }
    expect(sample.image.data[0]).toBe(1); // the input is left alone
  });
});

describe('errors name the keys', () => {
  const image: Image = { data: new Float32Array(4 * 8 * 8 * 8), shape: [4, 8, 8, 8] };
  const label: Label = { data: new Uint8Array(3 * 8 * 8 * 4), shape: [3, 8, 8, 4] };

  it('keys of different spatial shapes; different channel counts are fine', () => {
    const sameSpatial: Label = { data: new Uint8Array(3 * 512), shape: [3, 8, 8, 8] };
    expect(new RandSpatialCrop({ keys, roiSize: 4 }).apply({ image, label: sameSpatial }, new Rng(0)).label.shape).toEqual([3, 4, 4, 4]);
    const plain: Volume<Uint8Array> = { data: new Uint8Array(512), shape: [8, 8, 8] };
    expect(new RandSpatialCrop({ keys, roiSize: 4 }).apply({ image, label: plain }, new Rng(0)).label.shape).toEqual([4, 4, 4]);
    for (const t of [new RandSpatialCrop({ keys, roiSize: 4 }), new RandFlip({ keys }), new RandRotate90({ keys }), new SpatialPad({ keys, spatialSize: 9 }), new CenterSpatialCrop({ keys, roiSize: 2 })]) {
      expect(() => t.apply({ image, label }, new Rng(0)))
        .toThrow(/: key 'label' has shape \[3, 8, 8, 4\], key 'image' has \[4, 8, 8, 8\]; the keys must share one shape \[X, Y, Z\] \(the channel counts may differ\)$/);
    }
  });

  it('the channel note only where a key is channel-first', () => {
    const flat = (shape: Shape3): Volume<Uint8Array> => ({ data: new Uint8Array(shape[0] * shape[1] * shape[2]), shape });
    expect(() => new RandFlip({ keys }).apply({ image, label: flat([8, 8, 4]) }, new Rng(0)))
      .toThrow(/^RandFlip: key 'label' has shape \[8, 8, 4\], key 'image' has \[4, 8, 8, 8\]; the keys must share one shape \[X, Y, Z\] \(the channel counts may differ\)$/);
    expect(() => new RandFlip({ keys: ['label', 'image'] }).apply({ image, label: flat([8, 8, 4]) }, new Rng(0)))
      .toThrow(/^RandFlip: key 'image' has shape \[4, 8, 8, 8\], key 'label' has \[8, 8, 4\]; the keys must share one shape \[X, Y, Z\] \(the channel counts may differ\)$/);
    expect(() => new RandFlip({ keys }).apply({ image: flat([8, 8, 8]), label: flat([8, 8, 4]) }, new Rng(0)))
      .toThrow(/^RandFlip: key 'label' has shape \[8, 8, 4\], key 'image' has \[8, 8, 8\]; the keys must share one shape$/);
  });

  it('a source or label of another spatial shape than the keys', () => {
    expect(() => new CropForeground({ keys: 'image', sourceKey: 'label' }).apply({ image, label }))
      .toThrow(/^CropForeground: key 'image' has shape \[4, 8, 8, 8\], sourceKey 'label' has \[3, 8, 8, 4\]$/);
    expect(() => new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2 }).apply({ image, label }, new Rng(0)))
      .toThrow(/^RandCropByPosNegLabel: key 'image' has shape \[4, 8, 8, 8\], labelKey 'label' has \[3, 8, 8, 4\]$/);
  });

  it('a malformed channel-first volume', () => {
    for (const bad of [
      { data: new Float32Array(10), shape: [2, 2, 2, 2] }, { data: new Int16Array(16), shape: [2, 2, 2, 2] },
      { data: new Uint8Array(0), shape: [2, 0, 2, 2] }, { data: new Float32Array(8), shape: [2, 1.5, 2, 2] },
    ]) {
      expect(() => new Flip({ keys: 'image' }).apply({ image: bad }))
        .toThrow(new RegExp(`^Flip: key 'image' is not a channel-first image \\{ data: Float32Array \\| Uint8Array of C·X·Y·Z values, shape: \\[C, X, Y, Z\\] \\} \\(shape ${JSON.stringify(bad.shape).replace(/[[\]]/g, '\\$&')}\\)$`));
    }
    // an intensity transform reads channel-first volumes the same way and wants floats
    expect(() => new NormalizeIntensity({ keys: 'label' }).apply({ label }))
      .toThrow(/^NormalizeIntensity: key 'label' holds a Uint8Array channel-first image \(a label\?\); this transform needs a Float32Array image$/);
    expect(() => new Resize({ keys: 'label', spatialSize: 4, mode: 'trilinear' }).apply({ label }))
      .toThrow(/^Resize: key 'label' is a Uint8Array volume \(a label\); resample it with mode 'nearest'$/);
  });
});
