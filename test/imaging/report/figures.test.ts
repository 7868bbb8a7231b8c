import { describe, expect, it } from 'vitest';
import { decode } from 'fast-png';
import {
  bestMedianWorst, captionText, encodeRgbPng, extractSlice, foregroundExtent, intensityWindow, montageIndices,
  overlayMontage, PREDICTION_COLOR, REFERENCE_COLOR, renderTile, sliceSize, windowImage, type CaseVolumes,
} from '../../../src/imaging/report/figures.js';
import { drawText, glyph, textWidth, type RgbImage } from '../../../src/imaging/report/bitmap-font.js';
import type { Shape3 } from '../../../src/imaging/volume.js';
import { idx } from '../../helpers/volumes.js';

/** A box mask [x0, x1] × [y0, y1] × [z0, z1] (inclusive). */
function box(shape: Shape3, [x0, x1]: [number, number], [y0, y1]: [number, number], [z0, z1]: [number, number]): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) for (let z = z0; z <= z1; z++) m[idx(shape, x, y, z)] = 1;
  return m;
}

const shape: Shape3 = [12, 10, 8];
/** image value = 10·x + y (distinct per in-plane position), reference a box, prediction the box moved +1 in x */
function cubeCase(): CaseVolumes {
  const image = new Uint8Array(12 * 10 * 8);
  for (let x = 0; x < 12; x++) for (let y = 0; y < 10; y++) for (let z = 0; z < 8; z++) image[idx(shape, x, y, z)] = 10 * x + y;
  return {
    id: 'cube-1', shape, image, window: [0, 255],
    reference: box(shape, [3, 7], [2, 6], [2, 5]),
    prediction: box(shape, [4, 8], [2, 6], [2, 5]),
  };
}

const pixel = (img: { width: number; data: ArrayLike<number> }, X: number, Y: number): number[] => {
  const p = (Y * img.width + X) * 3;
  return [img.data[p]!, img.data[p + 1]!, img.data[p + 2]!];
};

describe('overlay figures', () => {
  it('slices: axial = z normal, columns along x, rows along y; extents and montage indices', () => {
    const c = cubeCase();
    expect(sliceSize(shape, 'axial')).toEqual({ width: 12, height: 10, count: 8 });
    expect(sliceSize(shape, 'sagittal')).toEqual({ width: 10, height: 8, count: 12 });
    const s = extractSlice(c.image, shape, 'axial', 3);
    expect(s[4 * 12 + 7]).toBe(74); // row y = 4, column x = 7
    const sag = extractSlice(c.image, shape, 'sagittal', 5);
    expect(sag[6 * 10 + 2]).toBe(52); // row z = 6, column y = 2
    expect(foregroundExtent(c.reference, shape, 'axial')).toEqual([2, 5]);
    expect(foregroundExtent(c.prediction, shape, 'sagittal')).toEqual([4, 8]);
    expect(foregroundExtent(new Uint8Array(c.image.length), shape, 'axial')).toBeNull();
    expect(montageIndices(2, 5, 9)).toEqual([2, 3, 4, 5]);
    expect(montageIndices(0, 87, 5)).toEqual([0, 22, 44, 65, 87]);
    expect(montageIndices(10, 20, 1)).toEqual([15]);
  });

  it('window: 1st–99th percentiles, mapped to 0–255 and clamped', () => {
    const v = Float32Array.from({ length: 101 }, (_, i) => i);
    expect(intensityWindow(v)).toEqual([1, 99]);
    expect(Array.from(windowImage([0, 1, 50, 99, 200], [1, 99]))).toEqual([0, 0, 128, 255, 255]);
    expect(intensityWindow([3, 3, 3])).toEqual([3, 4]);
  });

  it('tile: reference ring just outside the reference, prediction ring just inside the prediction, FP/FN tinted', () => {
    const c = cubeCase();
    const z = 3, sc = 2;
    const t = renderTile(extractSlice(c.image, shape, 'axial', z), extractSlice(c.reference, shape, 'axial', z),
      extractSlice(c.prediction, shape, 'axial', z), 12, 10, { scale: sc, shade: true });
    // through a PNG and back
    const png = decode(encodeRgbPng(t));
    expect([png.width, png.height, png.channels, png.depth]).toEqual([24, 20, 3, 8]);
    const Y = 4 * sc; // row y = 4 (inside both boxes in y)
    // reference x ∈ [3, 7] → screen columns 6…15: its ring at 5 and 16
    expect(pixel(png, 5, Y)).toEqual([...REFERENCE_COLOR]);
    expect(pixel(png, 16, Y)).toEqual([...REFERENCE_COLOR]);
    // prediction x ∈ [4, 8] → screen columns 8…17: its ring at 8 and 17
    expect(pixel(png, 8, Y)).toEqual([...PREDICTION_COLOR]);
    expect(pixel(png, 17, Y)).toEqual([...PREDICTION_COLOR]);
    // rows: reference y ∈ [2, 6] → screen rows 4…13, ring at 3 and 14 (column 12 = x 6, inside both)
    expect(pixel(png, 12, 3)).toEqual([...REFERENCE_COLOR]);
    expect(pixel(png, 12, 4)).toEqual([...PREDICTION_COLOR]);
    expect(pixel(png, 12, 13)).toEqual([...PREDICTION_COLOR]);
    expect(pixel(png, 12, 14)).toEqual([...REFERENCE_COLOR]);
    // inside both, off the rings: the grey image (x 6, y 4 → 64)
    expect(pixel(png, 12, 9)).toEqual([64, 64, 64]);
    // false negative (x 3, in the reference only): grey tinted towards blue
    const fn = pixel(png, 7, Y), g = 10 * 3 + 4;
    expect(fn).toEqual([0, 1, 2].map((k) => Math.round(0.6 * g + 0.4 * REFERENCE_COLOR[k]!)));
    // far outside: untouched grey (x 0, y 0)
    expect(pixel(png, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(png, 23, 19)).toEqual([119, 119, 119]);
    // without shading the FN pixel is grey
    const plain = renderTile(extractSlice(c.image, shape, 'axial', z), extractSlice(c.reference, shape, 'axial', z),
      extractSlice(c.prediction, shape, 'axial', z), 12, 10, { scale: sc, shade: false });
    expect(pixel(plain, 7, Y)).toEqual([g, g, g]);
  });

  it('montage: slices through the reference extent, the tiles as rendered, PNG round trip', () => {
    const c = cubeCase();
    const img = overlayMontage(c, { axis: 'axial', scale: 2, metrics: { dice: 0.8, hd95: 1 } });
    const png = decode(encodeRgbPng(img));
    // extent z ∈ [2, 5]: 4 slices, 2 columns × 2 rows of 24 × 20 px tiles with 4 px gaps
    expect(png.width).toBe(2 * 24 + 3 * 4);
    // the last tile (z = 5) sits at the bottom right (below its 11-px-high index label)
    const last = renderTile(extractSlice(c.image, shape, 'axial', 5), extractSlice(c.reference, shape, 'axial', 5),
      extractSlice(c.prediction, shape, 'axial', 5), 12, 10, { scale: 2, shade: true });
    const x0 = png.width - 4 - 24, y0 = png.height - 4 - 20;
    for (let Y = 11; Y < 20; Y++) for (let X = 0; X < 24; X++) expect(pixel(png, x0 + X, y0 + Y)).toEqual(pixel(last, X, Y));
    expect(captionText('cube-1', { dice: 0.8, hd95: 1 })).toBe('cube-1  DICE 80.00%  95HD 1.00 VOX');
    expect(() => overlayMontage(c, { slices: 0 })).toThrow(/slices must be a positive integer/);
  });

  it('bitmap font: glyphs, width, drawing', () => {
    expect(glyph('1').map((r) => r.map((b) => (b ? '#' : '.')).join(''))).toEqual(['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.']);
    expect(glyph('a')).toEqual(glyph('A'));
    expect(glyph('\u00e9')).toEqual(glyph('?'));
    expect(textWidth('AB', 2)).toBe(22);
    const img: RgbImage = { width: 12, height: 8, data: new Uint8Array(12 * 8 * 3) };
    drawText(img, 'I', 0, 0, [255, 0, 0]);
    expect(pixel(img, 2, 3)).toEqual([255, 0, 0]); // the stem of I
    expect(pixel(img, 0, 3)).toEqual([0, 0, 0]);
  });

  it('best, median and worst case by Dice (NaN worst)', () => {
    const rows = [{ id: 'a', dice: 0.9 }, { id: 'b', dice: NaN }, { id: 'c', dice: 0.95 }, { id: 'd', dice: 0.7 }];
    const r = bestMedianWorst(rows)!;
    expect([r.best.id, r.median.id, r.worst.id]).toEqual(['c', 'a', 'b']);
    expect(bestMedianWorst([])).toBeNull();
  });
});
