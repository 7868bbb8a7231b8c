import { describe, expect, it } from 'vitest';
import { DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

const S: Shape3 = [6, 5, 4];
const N = 120;
const a = Uint8Array.from({ length: N }, (_, i) => (i % 7 === 0 ? 1 : 0));
const b = Uint8Array.from({ length: N }, (_, i) => (i % 5 === 0 ? 1 : 0));

describe('metric classes check their inputs and name them', () => {
  it('pred and gt must be Uint8Array masks', () => {
    expect(() => new DiceMetric().call(Float32Array.from(a) as never, b, S)).toThrow(/^DiceMetric.call: pred and gt must be Uint8Array masks$/);
    expect(() => new HausdorffDistanceMetric().call(a, [...b] as never, S)).toThrow(/^HausdorffDistanceMetric.call: pred and gt must be Uint8Array masks$/);
  });

  it('pred alone of the wrong length is refused too', () => {
    expect(() => new DiceMetric().call(new Uint8Array(3), b, S)).toThrow(/^DiceMetric.call: pred \(3 voxels\) and gt \(120\) must match shape \[6,5,4\]$/);
  });

  it('shape must be three positive integers whose product is the masks\' length', () => {
    for (const shape of [[-6, -5, 4], [12, 2.5, 4], [6, 5, 4, 1], { 0: 6, 1: 5, 2: 4, length: 3 }]) {
      expect(() => new SurfaceDistanceMetric().call(a, b, shape as never)).toThrow(/^SurfaceDistanceMetric.call: pred \(120 voxels\) and gt \(120\) must match shape/);
    }
    expect(() => new DiceMetric().call(new Uint8Array(0), new Uint8Array(0), [0, 5, 4])).toThrow(/^DiceMetric.call: pred \(0 voxels\) and gt \(0\) must match shape \[0,5,4\]$/);
  });

  it('spacing must be three positive numbers', () => {
    for (const spacing of [[1, 1], [1, 1, 1, 1], { 0: 1, 1: 1, 2: 1, length: 3 }, [1, Infinity, 1]]) {
      expect(() => new HausdorffDistanceMetric().call(a, b, S, spacing as never)).toThrow(/^HausdorffDistanceMetric.call: spacing must be three positive numbers, got /);
    }
  });

  it('percentile in [0, 100] (both ends allowed) or null', () => {
    expect(() => new HausdorffDistanceMetric({ percentile: -1 })).toThrow(/^HausdorffDistanceMetric: percentile must be in \[0, 100\] or null, got -1$/);
    expect(() => new HausdorffDistanceMetric({ percentile: NaN })).toThrow(/got NaN/);
    // percentile 100 is the maximum, 0 the smallest surface distance of each direction
    const max = new HausdorffDistanceMetric({ percentile: null }).call(a, b, S);
    expect(new HausdorffDistanceMetric({ percentile: 100 }).call(a, b, S)).toBe(max);
    expect(new HausdorffDistanceMetric({ percentile: 0 }).call(a, b, S)).toBeLessThanOrEqual(max);
  });
});

describe('metric classes: the buffer and the mean', () => {
  it('values() is a copy; notNans counts the cases that enter the mean; infinities stay in it', () => {
    const d = new DiceMetric();
    d.call(a, b, S);
    d.values().push(5);
    expect(d.values().length).toBe(1);
    d.call(a, new Uint8Array(N), S);
    expect(d.notNans()).toBe(1);
    const h = new HausdorffDistanceMetric();
    h.call(a, b, S);
    h.call(new Uint8Array(N), b, S);
    expect([h.notNans(), h.aggregate()]).toEqual([2, Infinity]);
  });
});
