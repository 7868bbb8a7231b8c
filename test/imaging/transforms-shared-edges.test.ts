import { describe, expect, it } from 'vitest';
import { Compose, Lambda } from '../../src/imaging/transforms.js';
import { NormalizeIntensity, RandShiftIntensity } from '../../src/imaging/transforms-intensity.js';
import { SpatialPad } from '../../src/imaging/transforms-spatial.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3 } from '../../src/imaging/volume.js';

const image = { data: Float32Array.of(1, 2), shape: [2, 1, 1] as Shape3 };

describe("the transforms' shared checks name what is wrong", () => {
  it('Compose needs an array of objects with apply()', () => {
    expect(() => new Compose(new NormalizeIntensity({ keys: 'image' }) as never)).toThrow(/^Compose: expected an array of transforms$/);
    expect(() => new Compose([new NormalizeIntensity({ keys: 'image' }), null as never])).toThrow(/^Compose: transforms\[1\] has no apply\(data, rng\) method$/);
  });

  it('Lambda needs a function and names itself in key errors', () => {
    expect(() => new Lambda({ keys: 'image', func: 3 as never })).toThrow(/^Lambda: func must be a function \(volume, key\) => volume$/);
    expect(() => new Lambda({ keys: [''], func: (v) => v })).toThrow(/^Lambda: keys must be a key or a non-empty list of keys, got \[""\]$/);
  });

  it('keys: every entry a non-empty string', () => {
    for (const keys of [['image', ''], ['image', 3], [3]]) {
      expect(() => new NormalizeIntensity({ keys: keys as never })).toThrow(/^NormalizeIntensity: keys must be a key or a non-empty list of keys, got /);
    }
  });

  it('a missing key lists the keys the sample has, or says it has none', () => {
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ a: 1, b: 2 })).toThrow(/^NormalizeIntensity: key 'image' is missing from the sample \(it has 'a', 'b'\)$/);
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({})).toThrow(/^NormalizeIntensity: key 'image' is missing from the sample \(it has no keys\)$/);
  });

  it('null under a key is "not a volume" (not a TypeError)', () => {
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ image: null })).toThrow(/^NormalizeIntensity: key 'image' is not a volume \{ data: Float32Array \| Uint8Array, shape: \[X, Y, Z\] \}$/);
  });

  it('an rng without random() is refused by name', () => {
    expect(() => new RandShiftIntensity({ keys: 'image', offsets: 1, prob: 1 }).apply({ image }, {} as never)).toThrow(/^RandShiftIntensity: a random transform needs an Rng/);
  });

  it('prob below 0 is refused, 0 and 1 are allowed', () => {
    expect(() => new RandShiftIntensity({ keys: 'image', offsets: 1, prob: -0.5 })).toThrow(/^RandShiftIntensity: prob must be in \[0, 1\], got -0.5$/);
    expect(new RandShiftIntensity({ keys: 'image', offsets: [1, 1], prob: 1 }).apply({ image }, new Rng(0)).image.data).toEqual(Float32Array.of(2, 3));
  });

  it('a spatial size is one integer or an array of three integers', () => {
    for (const size of [[2, 2], [2, 2, 2, 2], Int32Array.of(2, 2, 2), [2, 2.5, 2], [2.5, 2, 2], 1.5]) {
      expect(() => new SpatialPad({ keys: 'image', spatialSize: size as never })).toThrow(/^SpatialPad: spatialSize must be an integer or three integers \(≤ 0 keeps that axis\), got /);
    }
  });
});
