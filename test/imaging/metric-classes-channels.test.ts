import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import { ConfusionMatrixMetric, GeneralizedDiceScore, MeanIoU, SurfaceDiceMetric } from '../../src/imaging/metric-classes-more.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * callChannels: MONAI's own input, channel-first one-hot (or multi-label, overlapping) masks [C, X, Y, Z]. The one-hot of
 * a class-index map scores as callClasses of the map; overlapping channels score each channel as its binary mask.
 */
const S: Shape3 = [4, 3, 3];
const N = 36;
const oneHot = (map: Uint8Array, numClasses: number): Uint8Array => {
  const out = new Uint8Array(numClasses * N);
  map.forEach((c, i) => { out[c * N + i] = 1; });
  return out;
};
type Scored = { callClasses(p: Uint8Array, g: Uint8Array, s: Shape3, sp?: Shape3): unknown; callChannels(p: Uint8Array, g: Uint8Array, s: [number, number, number, number], sp?: Shape3): unknown; call(p: Uint8Array, g: Uint8Array, s: Shape3, sp?: Shape3): unknown };
const metrics = (numClasses: number, includeBackground: boolean): Scored[] => [
  new DiceMetric({ numClasses, includeBackground }), new HausdorffDistanceMetric({ numClasses, includeBackground }),
  new SurfaceDistanceMetric({ numClasses, includeBackground, symmetric: true }), new ConfusionMatrixMetric({ numClasses, includeBackground }),
  new MeanIoU({ numClasses, includeBackground }), new GeneralizedDiceScore({ numClasses, includeBackground }),
  new GeneralizedDiceScore({ numClasses, includeBackground, reduction: 'none' }),
  new SurfaceDiceMetric({ numClasses, includeBackground, classThresholds: Array.from({ length: numClasses - (includeBackground ? 0 : 1) }, (_, i) => i * 0.7) }),
];

describe('callChannels: one-hot [C, X, Y, Z] masks, as MONAI takes them', () => {
  it('the one-hot of a class-index map scores as callClasses of the map, every metric class', () => {
    const arb = fc.integer({ min: 2, max: 4 }).chain((k) => fc.tuple(fc.constant(k), fc.uint8Array({ minLength: N, maxLength: N, max: k - 1 }), fc.uint8Array({ minLength: N, maxLength: N, max: k - 1 }), fc.boolean()));
    fc.assert(fc.property(arb, ([k, p, g, includeBackground]) => {
      const byMap = metrics(k, includeBackground), byChannels = metrics(k, includeBackground);
      byMap.forEach((m, i) => {
        expect(byChannels[i]!.callChannels(oneHot(p, k), oneHot(g, k), [k, ...S], [1, 2, 0.5])).toEqual(m.callClasses(p, g, S, [1, 2, 0.5]));
      });
    }), { numRuns: 40 });
  });

  it('overlapping channels (multi-label, as BraTS regions) score each channel as its binary mask', () => {
    const arbMask = fc.uint8Array({ minLength: 3 * N, maxLength: 3 * N, max: 1 });
    fc.assert(fc.property(arbMask, arbMask, (p, g) => {
      const channel = (m: Uint8Array, c: number): Uint8Array => m.slice(c * N, (c + 1) * N);
      const make = [
        () => new MeanIoU({ numClasses: 3 }), () => new ConfusionMatrixMetric({ numClasses: 3 }), () => new DiceMetric({ numClasses: 3 }),
        () => new SurfaceDiceMetric({ numClasses: 3, includeBackground: true, classThresholds: [1, 1, 1] }),
      ];
      const binary = [() => new MeanIoU(), () => new ConfusionMatrixMetric(), () => new DiceMetric(), () => new SurfaceDiceMetric({ classThresholds: [1] })];
      make.forEach((m, i) => {
        expect(m().callChannels(p, g, [3, ...S])).toEqual([0, 1, 2].map((c) => binary[i]!().call(channel(p, c), channel(g, c), S)));
      });
    }), { numRuns: 30 });
  });

  it('names a binary metric, a wrong channel count, a wrong length and non-Uint8Array masks', () => {
    const m = new MeanIoU({ numClasses: 3 });
    expect(() => new MeanIoU().callChannels(new Uint8Array(N), new Uint8Array(N), [1, ...S])).toThrow(/^MeanIoU.callChannels: needs the metric made with numClasses \(the channel count\); score binary masks with call$/);
    expect(() => m.callChannels(new Uint8Array(2 * N), new Uint8Array(2 * N), [2, ...S])).toThrow(/^MeanIoU.callChannels: shape must be \[C, X, Y, Z\] with C = numClasses 3, got \[2,4,3,3\]$/);
    expect(() => m.callChannels(new Uint8Array(3 * N), new Uint8Array(3 * N), [3, 4, 3, 0])).toThrow(/shape must be \[C, X, Y, Z\]/);
    expect(() => m.callChannels(new Uint8Array(3 * N), new Uint8Array(N), [3, ...S])).toThrow(/^MeanIoU.callChannels: pred \(108 voxels\) and gt \(36\) must match shape \[3,4,3,3\]$/);
    expect(() => m.callChannels(new Float32Array(3 * N) as never, new Uint8Array(3 * N), [3, ...S])).toThrow(/^MeanIoU.callChannels: pred and gt must be Uint8Array one-hot masks$/);
    expect(() => m.callChannels(new Uint8Array(3 * N), new Uint8Array(3 * N), [3, ...S], [1, -1, 1])).toThrow(/^MeanIoU.callChannels: spacing must be three positive numbers/);
  });
});
