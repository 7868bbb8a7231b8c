import { describe, expect, it } from 'vitest';
import type { Shape3, Volume } from '../../src/imaging/volume.js';
import { slidingWindow, windowGrid, windowStarts, type WindowPredictor } from '../../src/imaging/sliding-window.js';
import { reshape, slice } from '../../src/autograd/ops.js';
import { full } from '../../src/tensor/creation.js';
import { CopyCountingCpuBackend, cpu } from '../helpers/backends.js';

/** Checks the stride mutation testing found unchecked: bad grid arguments, exact error texts, the copies per batch. */

const ramp = (shape: Shape3): Volume => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => (i % 17) / 8), shape });


const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('window grid arguments', () => {
  it('windowStarts refuses a stride below 1 or not an integer, and a size below the patch, naming the values', () => {
    for (const stride of [0, -2, 1.5, NaN]) expect(() => windowStarts(10, 4, stride)).toThrow(escape(`bad stride ${stride}`));
    expect(() => windowStarts(3, 4, 1)).toThrow(escape('size 3 < patch 4: pad first'));
    // the edge cases that are fine: size = patch (one window), stride 1
    expect(windowStarts(4, 4, 1)).toEqual([0]);
    expect(windowStarts(6, 4, 1)).toEqual([0, 1, 2]);
  });

  it('windowGrid and slidingWindow refuse a patch side below 1 or not an integer, naming the patch', async () => {
    for (const patch of [[4, 0, 4], [4, 4, -1], [2.5, 4, 4]] as Shape3[]) {
      expect(() => windowGrid([6, 6, 6], patch, [1, 1, 1])).toThrow(escape(`bad patch [${patch.join(', ')}]`));
    }
    // with overlap, a patch side of 0 gives the stride max(1, 0) = 1: the patch is named, not that stride
    await expect(slidingWindow(ramp([6, 6, 6]), (w) => w, { backend: cpu, patch: [4, 0, 4] }))
      .rejects.toThrow(escape('bad patch [4, 0, 4]'));
  });

  it('a negative overlap is refused as out of [0, 1), not as a stride beyond the patch', async () => {
    await expect(slidingWindow(ramp([12, 10, 7]), (w) => w, { backend: cpu, patch: [8, 6, 4], overlap: -0.25 }))
      .rejects.toThrow(/^slidingWindow: overlap must be in \[0, 1\), got -0\.25$/);
  });
});

describe('the predictor\'s result', () => {
  const img = ramp([6, 6, 6]);
  const opts = { backend: cpu, patch: [4, 4, 4] as Shape3, stride: [2, 2, 2] as Shape3 };

  it('a prediction missing its last axis is refused, though its shape is a prefix of the expected one', async () => {
    const prefix: WindowPredictor = (w) => reshape(slice(w, 4, 0, 1), [w.shape[0]!, 1, 4, 4]);
    await expect(slidingWindow(img, prefix, opts))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[1, 1, 4, 4\] for 1 window\(s\), expected \[1, 1, 4, 4, 4\]$/);
  });

  it('the channels hint is given only when nothing but the channels differs', async () => {
    // another rank, another window size, another batch: no hint
    await expect(slidingWindow(img, (w) => reshape(w, [w.shape[0]!, 4, 4, 4]), opts))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[1, 4, 4, 4\] for 1 window\(s\), expected \[1, 1, 4, 4, 4\]$/);
    await expect(slidingWindow(img, (w) => slice(w, 3, 0, 3), opts))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[1, 1, 4, 3, 4\] for 1 window\(s\), expected \[1, 1, 4, 4, 4\]$/);
    await expect(slidingWindow(img, (w) => full([3, 1, 4, 4, 4], 0.5, { backend: w.backend }), { ...opts, batchSize: 3 }))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[3, 1, 4, 4, 4\] for 2 window\(s\), expected \[2, 1, 4, 4, 4\]$/);
    // two channels where one was expected, and two channels where one was expected and the batch differs
    await expect(slidingWindow(img, (w) => full([1, 2, 4, 4, 4], 0.5, { backend: w.backend }), opts))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[1, 2, 4, 4, 4\] for 1 window\(s\), expected \[1, 1, 4, 4, 4\]; pass the option channels: 2 for a predictor of 2 channels$/);
    await expect(slidingWindow(img, (w) => full([2, 2, 4, 4, 4], 0.5, { backend: w.backend }), { ...opts, batchSize: 3 }))
      .rejects.toThrow(/^slidingWindow: the predictor returned \[2, 2, 4, 4, 4\] for 3 window\(s\), expected \[3, 1, 4, 4, 4\]$/);
  });
});

describe('cutting the windows', () => {
  it('the windows of a batch along one grid row are cut in one copy (a dispatch on a GPU), not one per window', async () => {
    // x starts [0, 2], y starts [0, 2], z starts [0, 2, 4, 6]: 16 windows, rows of 4 along z, offsets 2 apart
    const shape: Shape3 = [6, 6, 10], patch: Shape3 = [4, 4, 4], stride: Shape3 = [2, 2, 2];
    expect(windowGrid(shape, patch, stride).starts).toEqual([[0, 2], [0, 2], [0, 2, 4, 6]]);
    const img = ramp(shape);
    const copiesFor = async (batchSize: number) => {
      const backend = new CopyCountingCpuBackend();
      const prob = await slidingWindow(img, (w) => w, { backend, patch, stride, batchSize });
      expect(Array.from(prob.data)).toEqual(Array.from(img.data));
      return backend.copies;
    };
    expect(await copiesFor(1)).toBe(16);
    // a batch of 4 is one row: one copy each; a batch of 8 holds two rows; one of 3 cuts a row in two
    expect(await copiesFor(4)).toBe(4);
    expect(await copiesFor(8)).toBe(4);
    expect(await copiesFor(3)).toBe(8);
  });
});
