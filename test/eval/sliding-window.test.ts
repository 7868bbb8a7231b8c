import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Volume } from '../../src/dbisl/data/volume.js';
import {
  labelFromProbability, predictLabel, slidingWindow, windowGrid, windowStarts, type Triple, type WindowPredictor,
} from '../../src/dbisl/sliding-window.js';
import { idx } from '../helpers/volumes.js';

/** Image values k/8 for small integers k: sums and divisions by the window count stay exact in float32. */
function dyadicVolume(shape: Triple, seed: number): Volume {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s >>> 16) % 64) / 8 - 2;
  }
  return { data, shape };
}

/** A predictor that returns each window's own input: the averaged map must equal the image. */
const identity: WindowPredictor = async (batch, n, p) => batch.slice(0, n * p[0] * p[1] * p[2]);

describe('window grid', () => {
  it('LA: patch 112×112×80, strides 18, 18, 4 on a 150×140×88 volume', () => {
    const g = windowGrid([150, 140, 88], [112, 112, 80], [18, 18, 4]);
    // ⌈(150−112)/18⌉+1 = 4, ⌈(140−112)/18⌉+1 = 3, ⌈(88−80)/4⌉+1 = 3
    expect(g.starts).toEqual([[0, 18, 36, 38], [0, 18, 28], [0, 4, 8]]);
    expect(g.count).toBe(36);
    expect(g.padded).toEqual([150, 140, 88]);
  });

  it('pads a small side evenly (extra voxel after) and a side equal to the patch gives one window', () => {
    const g = windowGrid([5, 6, 80], [8, 6, 80], [2, 2, 4]);
    expect(g.padBefore).toEqual([1, 0, 0]);
    expect(g.padAfter).toEqual([2, 0, 0]);
    expect(g.padded).toEqual([8, 6, 80]);
    expect(g.count).toBe(1);
    expect(windowStarts(10, 4, 3)).toEqual([0, 3, 6]);
    expect(windowStarts(11, 4, 3)).toEqual([0, 3, 6, 7]);
    expect(() => windowGrid([10, 10, 10], [4, 4, 4], [5, 1, 1])).toThrow(/stride/);
  });
});

describe('slidingWindow', () => {
  it('a constant predictor gives a constant map', async () => {
    const img = dyadicVolume([13, 11, 9], 1);
    const c = (v: number): WindowPredictor => async (_b, n, p) => new Float32Array(n * p[0] * p[1] * p[2]).fill(v);
    const prob = await slidingWindow(img, c(0.25), { patch: [6, 5, 4], stride: [3, 2, 2] });
    expect(prob.shape).toEqual([13, 11, 9]);
    expect(prob.data.every((v) => v === 0.25)).toBe(true);
    const p2 = await slidingWindow(img, c(0.3), { patch: [6, 5, 4], stride: [3, 2, 2], batchSize: 4 });
    expect(p2.data.every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
  });

  it('an identity predictor reproduces the input exactly (random shapes, strides, batch sizes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 9 })),
        fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 6 })),
        fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
        fc.integer({ min: 1, max: 5 }),
        async (shape, patch, stride0, batchSize) => {
          const stride: Triple = [Math.min(stride0[0], patch[0]), Math.min(stride0[1], patch[1]), Math.min(stride0[2], patch[2])];
          const img = dyadicVolume(shape, shape[0] * 131 + patch[1]);
          const prob = await slidingWindow(img, identity, { patch, stride, batchSize });
          expect(prob.shape).toEqual(shape);
          expect(Array.from(prob.data)).toEqual(Array.from(img.data));
        },
      ),
      { numRuns: 120 },
    );
  });

  it('averages over exactly the windows covering each voxel, in DTC order, with progress', async () => {
    const shape: Triple = [9, 7, 5], patch: Triple = [4, 4, 3], stride: Triple = [2, 2, 1];
    const g = windowGrid(shape, patch, stride);
    const origins: Triple[] = [];
    for (const x of g.starts[0]) for (const y of g.starts[1]) for (const z of g.starts[2]) origins.push([x, y, z]);
    let seen = 0;
    const calls: [number, number][] = [];
    // each window predicts its own index in the visiting order
    const pred: WindowPredictor = async (_b, n, p) => {
      const P = p[0] * p[1] * p[2];
      const out = new Float32Array(n * P);
      for (let k = 0; k < n; k++) out.fill(seen + k, k * P, (k + 1) * P);
      seen += n;
      return out;
    };
    const prob = await slidingWindow(dyadicVolume(shape, 3), pred, {
      patch, stride, batchSize: 4, onProgress: (d, t) => calls.push([d, t]),
    });
    for (let x = 0; x < 9; x++) for (let y = 0; y < 7; y++) for (let z = 0; z < 5; z++) {
      const cover = origins.map((o, k) => [o, k] as const).filter(([o]) =>
        x >= o[0] && x < o[0] + 4 && y >= o[1] && y < o[1] + 4 && z >= o[2] && z < o[2] + 3).map(([, k]) => k);
      const want = cover.reduce((p, q) => p + q, 0) / cover.length;
      expect(prob.data[idx(shape, x, y, z)]).toBeCloseTo(want, 5);
    }
    expect(calls[0]).toEqual([0, g.count]);
    expect(calls[calls.length - 1]).toEqual([g.count, g.count]);
    expect(calls.length).toBe(1 + Math.ceil(g.count / 4));
  });

  it('pads a volume smaller than the patch with zeros and un-pads the result', async () => {
    const shape: Triple = [5, 4, 3], patch: Triple = [8, 6, 4];
    const img = dyadicVolume(shape, 7);
    let got: Float32Array | null = null;
    const pred: WindowPredictor = async (b, n, p) => { got = b.slice(); return identity(b, n, p); };
    const prob = await slidingWindow(img, pred, { patch, stride: [2, 2, 2] });
    expect(Array.from(prob.data)).toEqual(Array.from(img.data));
    const w = got as unknown as Float32Array;
    expect(w.length).toBe(8 * 6 * 4);
    // pads: x 3 → (1, 2), y 2 → (1, 1), z 1 → (0, 1)
    let nonPad = 0;
    for (let x = 0; x < 8; x++) for (let y = 0; y < 6; y++) for (let z = 0; z < 4; z++) {
      const inside = x >= 1 && x < 6 && y >= 1 && y < 5 && z < 3;
      const v = w[idx(patch, x, y, z)]!;
      if (inside) { expect(v).toBe(img.data[idx(shape, x - 1, y - 1, z)]); nonPad++; } else expect(v).toBe(0);
    }
    expect(nonPad).toBe(60);
  });

  it('keeps one prediction in flight: the next windows are requested before a result is awaited', async () => {
    const shape: Triple = [6, 6, 6], patch: Triple = [4, 4, 4];
    const events: string[] = [];
    let calls = 0;
    const pred: WindowPredictor = (b, n, p) => {
      const k = calls++;
      events.push(`start ${k}`);
      return new Promise((resolve) => setTimeout(() => { events.push(`done ${k}`); resolve(b.slice(0, n * p[0] * p[1] * p[2])); }, 1));
    };
    const img = dyadicVolume(shape, 5);
    const prob = await slidingWindow(img, pred, { patch, stride: [2, 2, 2], onProgress: (d) => { if (d > 0) events.push(`used ${d - 1}`); } });
    expect(Array.from(prob.data)).toEqual(Array.from(img.data));
    expect(calls).toBe(8);
    // window k + 1 starts before window k's result is used; at most two are in flight
    for (let k = 0; k < 7; k++) expect(events.indexOf(`start ${k + 1}`)).toBeLessThan(events.indexOf(`used ${k}`));
    for (let k = 0; k < 6; k++) expect(events.indexOf(`used ${k}`)).toBeLessThan(events.indexOf(`start ${k + 2}`));
  });

  it('a failing prediction rejects with its error after the one in flight has settled', async () => {
    const img = dyadicVolume([6, 6, 6], 2);
    let calls = 0, settled = 0;
    const pred: WindowPredictor = (b, n, p) => {
      const k = calls++;
      return new Promise((resolve, reject) => setTimeout(() => {
        settled++;
        if (k === 1) reject(new Error('device lost in window 1')); else resolve(b.slice(0, n * p[0] * p[1] * p[2]));
      }, 1));
    };
    await expect(slidingWindow(img, pred, { patch: [4, 4, 4], stride: [2, 2, 2] })).rejects.toThrow('device lost in window 1');
    // windows 0 and 1, and window 2, started before 1's failure was seen; nothing after
    expect(calls).toBe(3);
    expect(settled).toBe(3);
  });

  it('rejects a short prediction', async () => {
    const img = dyadicVolume([4, 4, 4], 1);
    await expect(slidingWindow(img, async () => new Float32Array(3), { patch: [4, 4, 4], stride: [1, 1, 1] })).rejects.toThrow();
  });
});

describe('predictLabel', () => {
  it('thresholds strictly above 0.5 and keeps the largest component when asked', async () => {
    const shape: Triple = [8, 8, 8];
    const img: Volume = { data: new Float32Array(512), shape };
    // two blobs of "probability" in the image: 3×3×3 at the origin corner and a single voxel
    for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 3; z++) img.data[idx(shape, x, y, z)] = 0.9;
    img.data[idx(shape, 6, 6, 6)] = 0.8;
    img.data[idx(shape, 6, 0, 0)] = 0.5; // exactly 0.5: background
    const all = await predictLabel(img, identity, { patch: [4, 4, 4], stride: [2, 2, 2] });
    expect(all.data.reduce((p, v) => p + v, 0)).toBe(28);
    expect(all.data[idx(shape, 6, 0, 0)]).toBe(0);
    const cc = await predictLabel(img, identity, { patch: [4, 4, 4], stride: [2, 2, 2], largestCC: true });
    expect(cc.data.reduce((p, v) => p + v, 0)).toBe(27);
    expect(cc.data[idx(shape, 6, 6, 6)]).toBe(0);
    expect(labelFromProbability(img, { threshold: 0.85 }).data.reduce((p, v) => p + v, 0)).toBe(27);
  });
});
