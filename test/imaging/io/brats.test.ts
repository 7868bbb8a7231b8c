import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BratsSource, discoverBratsCases, nonzeroBoundingBox, preprocessBrats, quantileLower } from '../../../src/imaging/io/brats.js';
import { writeNifti } from '../../../src/imaging/io/nifti.js';
import { Rng } from '../../../src/imaging/random.js';
import type { Shape3, Volume } from '../../../src/imaging/volume.js';
import { meanStd } from '../../helpers/stats.js';

const SHAPE: Shape3 = [20, 18, 16];
/** The "brain": nonzero FLAIR inside [3..15] × [2..13] × [4..12]. */
const LO: Shape3 = [3, 2, 4];
const HI: Shape3 = [15, 13, 12];

function fakeCase(seed: number): { flair: Volume<Float32Array>; seg: Volume<Uint8Array> } {
  const rng = new Rng(seed);
  const [X, Y, Z] = SHAPE;
  const flair = new Float32Array(X * Y * Z);
  const seg = new Uint8Array(X * Y * Z);
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    const i = (x * Y + y) * Z + z;
    if (x >= LO[0] && x <= HI[0] && y >= LO[1] && y <= HI[1] && z >= LO[2] && z <= HI[2]) {
      flair[i] = Math.round(200 + 50 * rng.normal());
      if (flair[i]! <= 0) flair[i] = 1;
      const d = Math.hypot(x - 9, y - 7, z - 8);
      seg[i] = d < 2 ? 4 : d < 3 ? 1 : d < 4 ? 2 : 0;
    }
  }
  flair[((9 * Y + 7) * Z) + 8] = 5000; // one hot outlier, clipped by the 99.9th percentile
  return { flair: { data: flair, shape: SHAPE }, seg: { data: seg, shape: SHAPE } };
}

let root = '';
beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-brats-'));
  // nested (BraTS2019: HGG/<id>/), one level (<id>/) and flat files, one case without seg
  const put = (dir: string, id: string, seed: number, withSeg = true): void => {
    mkdirSync(dir, { recursive: true });
    const c = fakeCase(seed);
    writeNifti(path.join(dir, `${id}_flair.nii.gz`), c.flair, { datatype: 'float32' });
    if (withSeg) writeNifti(path.join(dir, `${id}_seg.nii.gz`), c.seg, { datatype: 'uint8' });
  };
  put(path.join(root, 'HGG', 'B_case1'), 'B_case1', 1);
  put(path.join(root, 'LGG', 'B_case2'), 'B_case2', 2);
  put(path.join(root, 'A_case0'), 'A_case0', 0);
  put(root, 'C_flat3', 3);
  put(root, 'D_flat4', 4, false);
  put(path.join(root, 'E_case5'), 'E_case5', 5);
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('BraTS preprocessing (la-protocol §7)', () => {
  it('quantileLower is the inverted-CDF quantile', () => {
    const d = Float32Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(quantileLower(d, 0.999)).toBe(999);
    expect(quantileLower(d, 1)).toBe(1000);
    expect(quantileLower(d, 0.5)).toBe(500);
    expect(quantileLower(Float32Array.from([3]), 0.999)).toBe(3);
  });

  it('crops to the nonzero FLAIR box, binarizes the seg, clips and z-scores over nonzero voxels', () => {
    const c = fakeCase(7);
    expect(nonzeroBoundingBox(c.flair)).toEqual({ lo: LO, hi: HI });
    const segF: Volume<Float32Array> = { data: Float32Array.from(c.seg.data), shape: SHAPE };
    const r = preprocessBrats(c.flair, segF, { name: 'fake' });
    const shape: Shape3 = [HI[0] - LO[0] + 1, HI[1] - LO[1] + 1, HI[2] - LO[2] + 1];
    expect(r.image.shape).toEqual(shape);
    expect(r.label!.shape).toEqual(shape);
    let fgIn = 0;
    for (let i = 0; i < c.seg.data.length; i++) fgIn += c.seg.data[i]! > 0 ? 1 : 0;
    let fgOut = 0;
    for (const v of r.label!.data) {
      expect(v === 0 || v === 1).toBe(true);
      fgOut += v;
    }
    expect(fgOut).toBe(fgIn);
    // the whole crop is brain here, so every voxel is "nonzero": mean 0, std 1 over all of them
    const d = r.image.data;
    const { mean, std } = meanStd(d);
    expect(Math.abs(mean)).toBeLessThan(1e-4);
    expect(Math.abs(std - 1)).toBeLessThan(1e-4);
    // the 5000 outlier was clipped: no value more than a few std above the mean
    expect(Math.max(...d)).toBeLessThan(6);
  });

  it('z-scores with the statistics of the nonzero voxels only', () => {
    const flair: Volume<Float32Array> = { data: Float32Array.from([0, 0, 2, 4, 0, 6, 0, 0]), shape: [2, 2, 2] };
    const r = preprocessBrats(flair, null);
    expect(r.label).toBeNull();
    // box: all nonzero at flat 2, 3, 5 → x 0..1, y 0..1 (2,3 → x0 y1; 5 → x1 y0), z 0..1: whole volume
    expect(r.image.shape).toEqual([2, 2, 2]);
    const mean = 4;
    const std = Math.sqrt(8 / 3);
    // quantile 0.999 over 8 voxels = max (6): nothing clipped
    expect(Array.from(r.image.data).map((v) => +v.toFixed(5))).toEqual([0, 0, 2, 4, 0, 6, 0, 0].map((v) => +((v - mean) / std).toFixed(5)));
  });

  it('refuses an all-zero image and mismatched shapes, naming the case', () => {
    expect(() => preprocessBrats({ data: new Float32Array(8), shape: [2, 2, 2] }, null, { name: 'empty.nii' })).toThrow(/empty\.nii.*all zero/);
    const f: Volume<Float32Array> = { data: new Float32Array(8).fill(1), shape: [2, 2, 2] };
    expect(() => preprocessBrats(f, { data: new Float32Array(4), shape: [2, 2, 1] }, { name: 'x' })).toThrow(/differs/);
  });
});

describe('BratsSource', () => {
  it('discovers flat, nested and grouped cases, sorted', () => {
    const found = discoverBratsCases(root);
    expect(found.map((c) => c.id)).toEqual(['A_case0', 'B_case1', 'B_case2', 'C_flat3', 'D_flat4', 'E_case5']);
    expect(found.find((c) => c.id === 'D_flat4')!.seg).toBeNull();
    expect(found.find((c) => c.id === 'B_case1')!.flair).toContain(path.join('HGG', 'B_case1'));
  });

  it('splits deterministically (250/25/60 proportions) without list files', () => {
    const a = new BratsSource(root);
    const b = new BratsSource(root);
    expect(a.trainIds()).toEqual(b.trainIds());
    expect(a.testIds()).toEqual(b.testIds());
    const all = [...a.trainIds(), ...a.valIds(), ...a.testIds()].sort();
    expect(all).toEqual(['A_case0', 'B_case1', 'B_case2', 'C_flat3', 'D_flat4', 'E_case5']);
    expect(a.testIds()).toHaveLength(Math.round((6 * 60) / 335)); // 1
    expect(a.valIds()).toHaveLength(Math.round((6 * 25) / 335)); // 0
    expect(a.labeledIds(2)).toEqual(a.trainIds().slice(0, 2));
    expect(a.unlabeledIds(2)).toEqual(a.trainIds().slice(2));
    const c = new BratsSource(root, { splitSeed: 12345 });
    expect([...c.trainIds(), ...c.valIds(), ...c.testIds()].sort()).toEqual(all);
  });

  it('loads and preprocesses a case; a case without seg has label null', async () => {
    const s = new BratsSource(root);
    const c = await s.load('B_case2');
    expect(c.image.shape).toEqual([13, 12, 9]);
    expect(c.label!.shape).toEqual([13, 12, 9]);
    expect(c.label!.data.some((v) => v === 1)).toBe(true);
    expect(await s.load('B_case2')).toBe(c);
    const d = await s.load('D_flat4');
    expect(d.label).toBeNull();
    await expect(s.load('nope')).rejects.toThrow(/unknown case/);
  });

  it('uses train.list / test.list when present and checks them', () => {
    const r2 = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-brats-lists-'));
    try {
      const c = fakeCase(9);
      for (const id of ['p', 'q', 'r']) {
        writeNifti(path.join(r2, `${id}_flair.nii`), c.flair, { datatype: 'float32' });
      }
      writeFileSync(path.join(r2, 'train.list'), 'r\np\n');
      writeFileSync(path.join(r2, 'test.list'), 'q\n');
      const s = new BratsSource(r2);
      expect(s.trainIds()).toEqual(['r', 'p']);
      expect(s.testIds()).toEqual(['q']);
      writeFileSync(path.join(r2, 'test.list'), 'zz\n');
      expect(() => new BratsSource(r2)).toThrow(/test\.list.*'zz'/);
      rmSync(path.join(r2, 'test.list'));
      expect(() => new BratsSource(r2)).toThrow(/test\.list.*missing/);
    } finally {
      rmSync(r2, { recursive: true, force: true });
    }
  });

  it('errors name the missing root', () => {
    const missing = path.join(os.tmpdir(), 'voxgrad-no-such-brats-root');
    expect(() => new BratsSource(missing)).toThrow(missing);
  });
});
