import { describe, expect, it } from 'vitest';
import { Affine, Rand3DElastic } from '../../src/imaging/transforms-affine.js';
import { gaussianKernel1d } from '../../src/imaging/transforms-intensity.js';
import { CenterSpatialCrop } from '../../src/imaging/transforms-spatial.js';
import { erf } from '../../src/kernels/elementwise/cpu.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const at = (s: Readonly<Shape3>, x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;
function fromFn(shape: Shape3, f: (x: number, y: number, z: number) => number): Volume<Float32Array> {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let x = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++) data[at(shape, x, y, z)] = f(x, y, z);
  return { data, shape };
}

describe('gaussianKernel1d (MONAI gaussian_1d, erf, unnormalised)', () => {
  it('has tail int(max(σ·t, 0.5) + 0.5) and the erf cell weights', () => {
    expect(gaussianKernel1d(1, 'erf', 3)).toHaveLength(7);
    expect(gaussianKernel1d(0.1, 'erf', 3)).toHaveLength(3); // max(0.3, 0.5) + 0.5 → 1
    expect(gaussianKernel1d(2)).toHaveLength(17); // default truncated 4
    const k = gaussianKernel1d(1.5, 'erf', 3);
    expect(k[4]).toBeCloseTo(0.5 * (erf(0.5 / (1.5 * Math.SQRT2) + 1 / (1.5 * Math.SQRT2)) - erf(0.5 / (1.5 * Math.SQRT2))), 15);
    // the cells cover [−tail − ½, tail + ½]: the sum is erf((tail + ½)/(σ√2)) < 1 (unnormalised)
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(erf(5.5 / (1.5 * Math.SQRT2)), 14);
    expect(k[0]).toBe(k[k.length - 1]);
  });
});

describe('Rand3DElastic', () => {
  const shape: Shape3 = [6, 5, 4];
  const n = 6 * 5 * 4;

  it('with prob 1 adds the smoothed, scaled offsets to the grid (checked with a direct 3-D convolution)', () => {
    const f = (x: number, y: number, z: number): number => 3 * x - 2 * y + 5 * z + 1;
    const image = fromFn(shape, f);
    const rng = new Rng(21), ref = rng.clone();
    const out = new Rand3DElastic({ keys: 'image', prob: 1, sigmaRange: [1, 1.5], magnitudeRange: [0.5, 2], paddingMode: 'border' }).apply({ image }, rng).image;
    expect(ref.random() < 1).toBe(true);
    const offsets = [0, 1, 2].map(() => Array.from({ length: n }, () => ref.uniform(-1, 1)));
    const magnitude = ref.uniform(0.5, 2), sigma = ref.uniform(1, 1.5);
    expect(rng.state()).toEqual(ref.state());
    const tail = Math.trunc(Math.max(3 * sigma, 0.5) + 0.5), t = Math.SQRT1_2 / sigma;
    const w = (d: number): number => 0.5 * (erf(t * (d + 0.5)) - erf(t * (d - 0.5)));
    let moved = 0;
    for (let x = 0; x < 6; x++) for (let y = 0; y < 5; y++) for (let z = 0; z < 4; z++) {
      const disp = offsets.map((o) => {
        let s = 0;
        for (let a = -tail; a <= tail; a++) for (let b = -tail; b <= tail; b++) for (let c = -tail; c <= tail; c++) {
          const p = x + a, q = y + b, r = z + c;
          if (p >= 0 && p < 6 && q >= 0 && q < 5 && r >= 0 && r < 4) s += w(a) * w(b) * w(c) * o[at(shape, p, q, r)]!;
        }
        return s * magnitude;
      });
      const src = [x + disp[0]!, y + disp[1]!, z + disp[2]!].map((v, a) => Math.min(Math.max(v, 0), shape[a]! - 1));
      expect(out.data[at(shape, x, y, z)]).toBeCloseTo(f(src[0]!, src[1]!, src[2]!), 3);
      if (Math.abs(disp[0]!) > 1e-3) moved++;
    }
    expect(moved).toBeGreaterThan(n / 2);
  });

  it('with magnitude 0 is the RandAffine of the affine parameters drawn after the offsets', () => {
    const image = fromFn(shape, (x, y, z) => Math.sin(x) + y * z);
    const rng = new Rng(5), ref = rng.clone();
    const ranges = { rotateRange: [0.4, 0.1], translateRange: 1, scaleRange: [0.1, 0.1, 0.1] };
    const out = new Rand3DElastic({ keys: 'image', prob: 1, sigmaRange: [1, 2], magnitudeRange: [0, 0], ...ranges }).apply({ image }, rng).image;
    for (let i = 0; i < 1 + 3 * n + 2; i++) ref.random();
    const rotateParams = [ref.uniform(-0.4, 0.4), ref.uniform(-0.1, 0.1)], translateParams = [ref.uniform(-1, 1)];
    const scaleParams = [0, 1, 2].map(() => ref.uniform(-0.1, 0.1) + 1);
    expect([...out.data]).toEqual([...new Affine({ keys: 'image', rotateParams, translateParams, scaleParams }).apply({ image }).image.data]);
  });

  it('with prob 0 returns the sample, draws all the same, and resamples through the identity to a new size', () => {
    const image = fromFn(shape, (x, y, z) => x + 10 * y + 100 * z), sample = { image };
    const rng = new Rng(1), ref = rng.clone();
    expect(new Rand3DElastic({ keys: 'image', prob: 0, sigmaRange: [1, 2], magnitudeRange: [1, 2], shearRange: [0.1, 0.1] }).apply(sample, rng)).toBe(sample);
    for (let i = 0; i < 1 + 3 * n + 2 + 2; i++) ref.random();
    expect(rng.state()).toEqual(ref.state());
    const crop = new Rand3DElastic({ keys: 'image', prob: 0, sigmaRange: [1, 2], magnitudeRange: [1, 2], spatialSize: [4, 3, 2] }).apply(sample, new Rng(2)).image;
    expect([...crop.data]).toEqual([...new CenterSpatialCrop({ keys: 'image', roiSize: [4, 3, 2] }).apply(sample).image.data]);
  });

  it('moves labels (nearest, uint8) with the image; names bad ranges', () => {
    const image = fromFn(shape, (x, y, z) => (x * 5 + y) * 4 + z);
    const label = { data: Uint8Array.from(image.data), shape };
    const out = new Rand3DElastic({ keys: ['image', 'label'], mode: 'nearest', prob: 1, sigmaRange: [1, 1], magnitudeRange: [20, 30] }).apply({ image, label }, new Rng(3));
    expect(out.label.data).toBeInstanceOf(Uint8Array);
    expect([...out.label.data]).toEqual([...out.image.data]);
    expect([...out.label.data]).not.toEqual([...label.data]);
    const make = (o: object) => (): Rand3DElastic => new Rand3DElastic({ keys: 'image', sigmaRange: [1, 2], magnitudeRange: [1, 2], ...o });
    expect(make({ sigmaRange: [0, 1] })).toThrow(/sigmaRange must be \[min, max\] with min ≤ max, both > 0/);
    expect(make({ sigmaRange: [2, 1] })).toThrow(/sigmaRange/);
    expect(make({ magnitudeRange: [1] })).toThrow(/magnitudeRange must be \[min, max\]/);
    expect(make({ prob: -1 })).toThrow(/prob must be in \[0, 1\]/);
    expect(make({ translateRange: [1, 2, 3, 4] })).toThrow(/translateRange .* up to 3/);
  });
});

describe('channel-first keys in the resampling transforms', () => {
  const shape: Shape3 = [5, 4, 3], n = 60;
  const image = { data: Float32Array.from({ length: 2 * n }, (_, i) => Math.cos(i / 7) * 10), shape: [2, 5, 4, 3] as [number, number, number, number] };
  const channel = (c: number): Volume<Float32Array> => ({ data: image.data.slice(c * n, (c + 1) * n), shape });

  it('Rand3DElastic moves every channel with the one draw', () => {
    const opts = { keys: 'image', prob: 1, sigmaRange: [1, 2] as [number, number], magnitudeRange: [3, 5] as [number, number], rotateRange: 0.2 };
    const out = new Rand3DElastic(opts).apply({ image }, new Rng(4)).image;
    expect(out.shape).toEqual([2, 5, 4, 3]);
    for (let c = 0; c < 2; c++) expect([...out.data.slice(c * n, (c + 1) * n)]).toEqual([...new Rand3DElastic(opts).apply({ image: channel(c) }, new Rng(4)).image.data]);
  });
});
