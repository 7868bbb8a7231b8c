import { describe, expect, it } from 'vitest';
import type { CdtParams, Storage } from '../../src/kernels/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * The edges of the cdt kernels' host code: the checks name what they got, on the cpu oracle and on WebGPU, where a
 * storage too short for its shape (T_s2r's kept distances are two planes) is refused before any dispatch.
 */

const params: CdtParams = { radius: 1, h: 1, eps: 1e-6 };

describe('the cdt checks name what they got', () => {
  const p = cpu.upload(Float64Array.of(0.5, 0.5), 'float64');

  it('a shape of fewer than three dimensions, or with a negative or fractional size', () => {
    expect(() => cpu.cdt(p, [2, 1], params)).toThrow('cdt: expected a [N, 1, D, H, W] shape, got [2, 1]');
    expect(() => cpu.cdt(p, [1, 1, -2], params)).toThrow('cdt: expected a [N, 1, D, H, W] shape, got [1, 1, -2]');
    expect(() => cpu.cdt(p, [1, 1, 1.5], params)).toThrow('cdt: expected a [N, 1, D, H, W] shape, got [1, 1, 1.5]');
    expect(() => cpu.cdtBackward(p, p, p, [2], params)).toThrow('cdtBackward: expected a [N, 1, D, H, W] shape, got [2]');
    expect(() => cpu.cdtSigned(p, [2], params, false)).toThrow('cdtSigned: expected a [N, 1, D, H, W] shape, got [2]');
    expect(() => cpu.cdtSignedBackward(p, p, p, [2], params)).toThrow('cdtSignedBackward: expected a [N, 1, D, H, W] shape, got [2]');
  });

  it('a volume with a side of 0 is empty, not refused', () => {
    expect(cpu.cdt(cpu.upload(new Float64Array(0), 'float64'), [1, 1, 0, 2, 2], params).length).toBe(0);
  });

  it('a radius that is not an integer ≥ 0, an h or eps that is not a positive number; the signed map needs ρ ≥ 1', () => {
    const shape = [1, 1, 1, 1, 2];
    expect(() => cpu.cdt(p, shape, { ...params, radius: -1 })).toThrow('cdt: radius -1 must be an integer ≥ 0');
    expect(() => cpu.cdt(p, shape, { ...params, radius: 1.5 })).toThrow('cdt: radius 1.5 must be an integer ≥ 0');
    expect(() => cpu.cdtBackward(p, p, p, shape, { ...params, h: 0 })).toThrow('cdtBackward: h 0 must be a positive number');
    expect(() => cpu.cdt(p, shape, { ...params, h: Infinity })).toThrow('cdt: h Infinity must be a positive number');
    expect(() => cpu.cdt(p, shape, { ...params, eps: 0 })).toThrow('cdt: eps 0 must be a positive number');
    expect(() => cpu.cdt(p, shape, { ...params, eps: Infinity })).toThrow('cdt: eps Infinity must be a positive number');
    expect(() => cpu.cdtSigned(p, shape, { ...params, radius: 0 }, false)).toThrow('cdtSigned: radius 0 must be ≥ 1 (the map is divided by it)');
    expect(() => cpu.cdtSignedBackward(p, p, p, shape, { ...params, radius: 0 })).toThrow('cdtSignedBackward: radius 0 must be ≥ 1 (the map is divided by it)');
    expect(() => cpu.cdtSignedBackward(p, p, p, shape, params)).toThrow('cdtSignedBackward: distances of 2 elements, expected two planes of 2');
  });

  it('radius 0 is allowed for the distance alone: D = −h·ln max(p, ε) of each voxel', async () => {
    const d = Array.from(await cpu.read(cpu.cdt(cpu.upload(Float64Array.of(0.5, 0), 'float64'), [1, 1, 2], { radius: 0, h: 2, eps: 1e-3 })));
    expect(d).toEqual([-2 * Math.log(0.5), -2 * Math.log(1e-3)]);
  });
});

describe('the cdt oracle at its boundaries (values by hand, single-voxel volumes: each window is the voxel itself)', () => {
  const f64 = (...v: number[]): Storage => cpu.upload(Float64Array.from(v), 'float64');

  it('cdtBackward: −h·g/p above the floor, 0 at p = ε exactly and below (max(p, ε) is flat there)', async () => {
    const eps = 1e-3, h = 0.5, o = { radius: 0, h, eps };
    const p = f64(eps, 2 * eps, 0.5, eps / 2), shape = [4, 1, 1, 1, 1];
    const d = cpu.cdt(p, shape, o);
    const g = Array.from(await cpu.read(cpu.cdtBackward(p, d, f64(1, 1, 3, 1), shape, o)));
    expectClose(g, [0, -h / (2 * eps), -3 * h / 0.5, 0], 0, 1e-14);
    expect([g[0], g[3]].map((v) => v + 0)).toEqual([0, 0]);
  });

  it('cdtSignedBackward passes the gradient where a distance is in the closed interval [0, ρ], not beyond', async () => {
    // one voxel per volume, p = 1 − p = 0.5 > ε, h = ρ = 1, g = 1: cdtBackward(p, D, g') = −h·g'·e^(D/h) from the given D,
    // so grad = −[0 ≤ D₀ ≤ ρ]·e^(D₀) − [0 ≤ D₁ ≤ ρ]·e^(D₁) (the far term's two minus signs cancel)
    const n = 4, p = f64(0.5, 0.5, 0.5, 0.5), shape = [n, 1, 1, 1, 1], o = { radius: 1, h: 1, eps: 1e-6 };
    const near = [0, 1, 1 + 1e-9, -1e-9], far = [5, 5, 5, 0.25];
    const g = Array.from(await cpu.read(cpu.cdtSignedBackward(p, f64(...near, ...far), f64(1, 1, 1, 1), shape, o)));
    expectClose(g, [-1, -Math.E, 0, -Math.exp(0.25)], 0, 1e-15);
  });

  it('cdtSigned keeps the distances only when asked', () => {
    const p = f64(0.5, 1), shape = [1, 1, 2];
    expect(cpu.cdtSigned(p, shape, params, false).distances).toBeUndefined();
    expect(cpu.cdtSigned(p, shape, params, true).distances!.length).toBe(4);
  });
});

describe('cdt on WebGPU: storages too short for their shape are refused, named', () => {
  it('p shorter than the volume, kept distances of one plane instead of two', async () => {
    const gpu = await webgpu();
    const up = (n: number): Storage => gpu.upload(new Float32Array(n).fill(0.5), 'float32');
    const shape = [1, 1, 1, 2, 2];
    expect(() => gpu.cdt(up(3), shape, params)).toThrow('webgpu: cdt: a storage of 3 elements for p of shape [1, 1, 1, 2, 2]');
    expect(() => gpu.cdtSignedBackward(up(4), up(4), up(4), shape, params))
      .toThrow('webgpu: cdtSignedBackward: a storage of 4 elements for dist of shape [1, 1, 1, 2, 2]');
    expect(() => gpu.cdtSigned(up(2), shape, params, true)).toThrow('webgpu: cdtSigned: a storage of 2 elements for p of shape [1, 1, 1, 2, 2]');
  });
});
