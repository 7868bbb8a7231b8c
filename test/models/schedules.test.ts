import { describe, expect, it } from 'vitest';
import {
  consistencyWeight, cosineLr, cosineRampdown, linearRampup, polyLr, sigmoidRampup, stepLr,
} from '../../src/models/index.js';

describe('schedules (la-protocol §4)', () => {
  it('step: 0.01 · 0.1^⌊it/2500⌋', () => {
    expect(stepLr(0)).toBe(0.01);
    expect(stepLr(2499)).toBe(0.01);
    expect(stepLr(2500)).toBeCloseTo(0.001, 15);
    expect(stepLr(5999)).toBeCloseTo(0.0001, 15);
    expect(stepLr(100, { baseLr: 0.1, gamma: 0.5, stepSize: 50 })).toBeCloseTo(0.025, 15);
  });

  it('poly: base · (1 − it/max)^0.9', () => {
    expect(polyLr(0, { baseLr: 0.01, maxIterations: 1000 })).toBe(0.01);
    expect(polyLr(500, { baseLr: 0.01, maxIterations: 1000 })).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(polyLr(1000, { baseLr: 0.01, maxIterations: 1000 })).toBe(0);
    expect(polyLr(250, { baseLr: 1, maxIterations: 1000, power: 2 })).toBeCloseTo(0.5625, 15);
  });

  it('cosine: min + (base − min)(1 + cos(π it/max))/2', () => {
    expect(cosineLr(0, { baseLr: 0.1, maxIterations: 100 })).toBeCloseTo(0.1, 15);
    expect(cosineLr(50, { baseLr: 0.1, maxIterations: 100 })).toBeCloseTo(0.05, 15);
    expect(cosineLr(100, { baseLr: 0.1, maxIterations: 100, minLr: 0.001 })).toBeCloseTo(0.001, 15);
    expect(cosineLr(25, { baseLr: 1, maxIterations: 100 })).toBeCloseTo((1 + Math.SQRT1_2) / 2, 15);
  });

  it('sigmoid ramp-up exp(−5(1 − clip(t,0,L)/L)²), 1 when L = 0', () => {
    expect(sigmoidRampup(0, 40)).toBeCloseTo(Math.exp(-5), 15);
    expect(sigmoidRampup(20, 40)).toBeCloseTo(Math.exp(-1.25), 15);
    expect(sigmoidRampup(40, 40)).toBe(1);
    expect(sigmoidRampup(100, 40)).toBe(1);
    expect(sigmoidRampup(-3, 40)).toBeCloseTo(Math.exp(-5), 15);
    expect(sigmoidRampup(7, 0)).toBe(1);
  });

  it('linear ramp-up and cosine ramp-down (UA-MT ramps.py)', () => {
    expect(linearRampup(0, 10)).toBe(0);
    expect(linearRampup(2.5, 10)).toBe(0.25);
    expect(linearRampup(10, 10)).toBe(1);
    expect(linearRampup(3, 0)).toBe(1);
    expect(cosineRampdown(0, 10)).toBe(1);
    expect(cosineRampdown(5, 10)).toBeCloseTo(0.5, 15);
    expect(cosineRampdown(10, 10)).toBeCloseTo(0, 15);
  });

  it('consistency weight 0.1 · sigmoid_rampup(it // 150, 40)', () => {
    expect(consistencyWeight(0)).toBeCloseTo(0.1 * Math.exp(-5), 15);
    expect(consistencyWeight(149)).toBeCloseTo(0.1 * Math.exp(-5), 15);
    expect(consistencyWeight(150)).toBeCloseTo(0.1 * Math.exp(-5 * (1 - 1 / 40) ** 2), 15);
    expect(consistencyWeight(6000)).toBeCloseTo(0.1, 15);
    expect(consistencyWeight(3000, { weight: 1, rampup: 40, every: 150 })).toBeCloseTo(Math.exp(-5 * 0.25), 15);
  });
});
