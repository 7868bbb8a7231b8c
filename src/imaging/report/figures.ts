/**
 * Per-case overlay figures: the test image in grey (1st–99th percentile window), the reference contour and
 * the predicted contour in two colours that colour-blind readers tell apart (Okabe–Ito sky blue and orange),
 * false positives and false negatives optionally shaded, on a montage of slices through the reference's
 * extent, with the case id and its Dice / 95HD burnt in by a 5×7 bitmap font; written as PNG (fast-png).
 *
 * Slices: the slicing axis is x (sagittal), y (coronal) or z (axial, LA's slice axis); the two other axes span
 * the slice, the lower-numbered one across (columns), the other down (rows). The reference contour is drawn
 * on the ring of pixels just outside the reference, the predicted contour on the ring just inside the
 * prediction, so where they agree both stay visible side by side.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { writeFileAtomic } from '../../models/atomic.js';
import { drawText, fillRect, GLYPH_HEIGHT, textWidth, type Rgb, type RgbImage } from './bitmap-font.js';
import { percentile, type CaseMetrics } from '../metrics.js';
import type { Shape3 } from '../volume.js';

export type SliceAxis = 'sagittal' | 'coronal' | 'axial';
export const SLICE_AXES: readonly SliceAxis[] = ['sagittal', 'coronal', 'axial'];
/** the array axis normal to the slices: x, y, z */
export const AXIS_INDEX: Readonly<Record<SliceAxis, 0 | 1 | 2>> = { sagittal: 0, coronal: 1, axial: 2 };
const AXIS_LETTER = ['X', 'Y', 'Z'] as const;

/** Okabe–Ito sky blue: the reference */
export const REFERENCE_COLOR: Rgb = [0x56, 0xb4, 0xe9];
/** Okabe–Ito orange: the prediction */
export const PREDICTION_COLOR: Rgb = [0xe6, 0x9f, 0x00];
export const rgbHex = (c: Rgb): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** What the figures need of one evaluated case (kept by evaluateModel with `keepVolumes`). */
export interface CaseVolumes {
  id: string;
  shape: Shape3;
  /** the image mapped to 0–255 through `window` */
  image: Uint8Array;
  /** intensities mapped to 0 and 255 (1st and 99th percentiles) */
  window: [number, number];
  reference: Uint8Array;
  prediction: Uint8Array;
}

/** voxels sampled (evenly strided) for the percentile window of a large volume */
const WINDOW_SAMPLES = 1 << 18;

/**
 * Intensities at the `lowPercent` and `highPercent` percentiles (numpy's linear method), from at most
 * 2^18 evenly strided voxels (exact for smaller volumes). Always lo < hi.
 */
export function intensityWindow(image: ArrayLike<number>, lowPercent = 1, highPercent = 99): [number, number] {
  if (image.length === 0) throw new Error('intensityWindow: empty image');
  const step = Math.max(1, Math.ceil(image.length / WINDOW_SAMPLES));
  const sample = new Float64Array(Math.ceil(image.length / step));
  for (let i = 0, k = 0; i < image.length; i += step) sample[k++] = image[i]!;
  const lo = percentile(sample, lowPercent), hi = percentile(sample, highPercent);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error('intensityWindow: the image has NaN or infinite values');
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The image mapped to 0–255: `window[0]` → 0, `window[1]` → 255, clamped, rounded. */
export function windowImage(image: ArrayLike<number>, window: readonly [number, number]): Uint8Array {
  const [lo, hi] = window;
  const out = new Uint8Array(image.length);
  const k = 255 / (hi - lo);
  for (let i = 0; i < image.length; i++) out[i] = Math.min(255, Math.max(0, Math.round((image[i]! - lo) * k)));
  return out;
}

/** The case's volumes for figures: the windowed image and copies of both masks. */
export function caseVolumes(id: string, image: { data: Float32Array; shape: Shape3 }, reference: Uint8Array, prediction: Uint8Array): CaseVolumes {
  const window = intensityWindow(image.data);
  return { id, shape: [...image.shape], image: windowImage(image.data, window), window, reference: reference.slice(), prediction: prediction.slice() };
}

/** A slice's size: `width` along the lower in-plane axis, `height` along the other. */
export function sliceSize(shape: Readonly<Shape3>, axis: SliceAxis): { width: number; height: number; count: number } {
  const a = AXIS_INDEX[axis];
  const [u, v] = [0, 1, 2].filter((d) => d !== a) as [number, number];
  return { width: shape[u]!, height: shape[v]!, count: shape[a]! };
}

/** Slice `index` along `axis` of a C-order [X, Y, Z] volume, row-major (`height` rows of `width`). */
export function extractSlice<T extends Uint8Array | Float32Array>(data: T, shape: Readonly<Shape3>, axis: SliceAxis, index: number): T {
  const a = AXIS_INDEX[axis];
  const { width, height, count } = sliceSize(shape, axis);
  if (!(Number.isInteger(index) && index >= 0 && index < count)) throw new Error(`extractSlice: ${axis} slice ${index} outside [0, ${count - 1}]`);
  const strides = [shape[1] * shape[2], shape[2], 1];
  const [u, v] = [0, 1, 2].filter((d) => d !== a) as [number, number];
  const out = (data instanceof Float32Array ? new Float32Array(width * height) : new Uint8Array(width * height)) as T;
  const base = index * strides[a]!;
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) out[r * width + c] = data[base + r * strides[v]! + c * strides[u]!]!;
  }
  return out;
}

/** First and last slice index along `axis` holding any foreground of `mask`; null when it has none. */
export function foregroundExtent(mask: Uint8Array, shape: Readonly<Shape3>, axis: SliceAxis): [number, number] | null {
  const a = AXIS_INDEX[axis];
  let lo = Infinity, hi = -Infinity;
  let i = 0;
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++, i++) {
        if (mask[i] === 0) continue;
        const s = a === 0 ? x : a === 1 ? y : z;
        if (s < lo) lo = s;
        if (s > hi) hi = s;
      }
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** `n` distinct slice indices evenly spread over [first, last] (all of them when fewer). */
export function montageIndices(first: number, last: number, n: number): number[] {
  const span = last - first + 1;
  if (span <= n) return Array.from({ length: span }, (_, i) => first + i);
  if (n === 1) return [Math.round((first + last) / 2)];
  return Array.from({ length: n }, (_, i) => first + Math.round((i * (last - first)) / (n - 1)));
}

export interface TileOptions {
  /** screen pixels per voxel (nearest neighbour) */
  scale: number;
  /** tint false positives orange and false negatives blue */
  shade: boolean;
}

const SHADE_ALPHA = 0.4;

/**
 * One slice as an RGB tile `scale` times its size: grey image, optional FP/FN tint, the reference's outer
 * ring and the prediction's inner ring (1 screen pixel each, 4-neighbourhood, the slice border counts as
 * outside).
 */
export function renderTile(image: Uint8Array, reference: Uint8Array, prediction: Uint8Array, width: number, height: number, o: TileOptions): RgbImage {
  const s = o.scale;
  const W = width * s, H = height * s;
  const out: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  const at = (m: Uint8Array, X: number, Y: number): boolean =>
    X >= 0 && Y >= 0 && X < W && Y < H && m[Math.floor(Y / s) * width + Math.floor(X / s)] !== 0;
  const edge = (m: Uint8Array, X: number, Y: number, inside: boolean): boolean =>
    at(m, X - 1, Y) !== inside || at(m, X + 1, Y) !== inside || at(m, X, Y - 1) !== inside || at(m, X, Y + 1) !== inside;
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      const v = Math.floor(Y / s) * width + Math.floor(X / s);
      const g = image[v]!;
      let rgb: Rgb = [g, g, g];
      const inRef = reference[v] !== 0, inPred = prediction[v] !== 0;
      if (o.shade && inRef !== inPred) {
        const t = inPred ? PREDICTION_COLOR : REFERENCE_COLOR;
        const mix = (k: 0 | 1 | 2): number => Math.round((1 - SHADE_ALPHA) * g + SHADE_ALPHA * t[k]);
        rgb = [mix(0), mix(1), mix(2)];
      }
      if (!inRef && edge(reference, X, Y, false)) rgb = REFERENCE_COLOR;
      if (inPred && edge(prediction, X, Y, true)) rgb = PREDICTION_COLOR;
      const p = (Y * W + X) * 3;
      out.data[p] = rgb[0]; out.data[p + 1] = rgb[1]; out.data[p + 2] = rgb[2];
    }
  }
  return out;
}

export interface MontageOptions {
  axis?: SliceAxis;
  /** slices in the montage (default 9) */
  slices?: number;
  /** tiles per row (default ⌈√slices⌉) */
  columns?: number;
  /** screen pixels per voxel (default: the smallest making a tile's long side ≥ 200 px, at most 8) */
  scale?: number;
  /** FP/FN tint (default on) */
  shade?: boolean;
  /** the case's metrics, for the caption */
  metrics?: Pick<CaseMetrics, 'dice' | 'hd95'>;
}

const BACKGROUND: Rgb = [24, 24, 24];
const WHITE: Rgb = [255, 255, 255];
const GAP = 4;

/** The caption's first line: id, Dice in %, 95HD in voxels. */
export function captionText(id: string, metrics?: Pick<CaseMetrics, 'dice' | 'hd95'>): string {
  if (!metrics) return id;
  const d = Number.isFinite(metrics.dice) ? `${(100 * metrics.dice).toFixed(2)}%` : '-';
  const h = Number.isFinite(metrics.hd95) ? `${metrics.hd95.toFixed(2)} VOX` : '-';
  return `${id}  DICE ${d}  95HD ${h}`;
}

function blit(dst: RgbImage, src: RgbImage, x0: number, y0: number): void {
  for (let y = 0; y < src.height; y++) {
    dst.data.set(src.data.subarray(y * src.width * 3, (y + 1) * src.width * 3), ((y0 + y) * dst.width + x0) * 3);
  }
}

/**
 * The montage of a case: a caption (id and metrics; the colour key and the axis), then the slices through
 * the reference's extent along the axis (the prediction's when the reference is empty, else the whole
 * volume), each labelled with its index.
 */
export function overlayMontage(c: CaseVolumes, o: MontageOptions = {}): RgbImage {
  const axis = o.axis ?? 'axial';
  const { width, height, count } = sliceSize(c.shape, axis);
  const n = o.slices ?? 9;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`overlayMontage: slices must be a positive integer, got ${n}`);
  const extent = foregroundExtent(c.reference, c.shape, axis) ?? foregroundExtent(c.prediction, c.shape, axis) ?? [0, count - 1];
  const indices = montageIndices(extent[0], extent[1], n);
  const cols = Math.min(indices.length, o.columns ?? Math.ceil(Math.sqrt(indices.length)));
  const rows = Math.ceil(indices.length / cols);
  const scale = o.scale ?? Math.min(8, Math.max(1, Math.ceil(200 / Math.max(width, height))));
  const tileW = width * scale, tileH = height * scale;
  const W = cols * tileW + (cols + 1) * GAP;
  const line1 = captionText(c.id, o.metrics);
  const line2 = `REFERENCE   PREDICTION   ${axis.toUpperCase()} (${AXIS_LETTER[AXIS_INDEX[axis]]})`;
  const fontScale = textWidth(line1, 2) <= W - 2 * GAP && textWidth(line2, 2) + 4 * 2 * GLYPH_HEIGHT <= W - 2 * GAP ? 2 : 1;
  const lineH = (GLYPH_HEIGHT + 3) * fontScale;
  const captionH = 2 * lineH + 2 * GAP;
  const H = captionH + rows * tileH + (rows + 1) * GAP;
  const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  fillRect(img, 0, 0, W, H, BACKGROUND);
  drawText(img, line1, GAP, GAP, WHITE, fontScale);
  // the colour key: a swatch before each word
  const sw = GLYPH_HEIGHT * fontScale;
  const y2 = GAP + lineH;
  let x = GAP;
  for (const [word, color] of [['REFERENCE', REFERENCE_COLOR], ['PREDICTION', PREDICTION_COLOR]] as const) {
    fillRect(img, x, y2, sw, sw, color);
    x += sw + 4 * fontScale;
    drawText(img, word, x, y2, WHITE, fontScale);
    x += textWidth(word, fontScale) + 3 * 6 * fontScale;
  }
  drawText(img, `${axis.toUpperCase()} (${AXIS_LETTER[AXIS_INDEX[axis]]})`, x, y2, WHITE, fontScale);
  const shade = o.shade ?? true;
  indices.forEach((s, k) => {
    const tx = GAP + (k % cols) * (tileW + GAP), ty = captionH + GAP + Math.floor(k / cols) * (tileH + GAP);
    const tile = renderTile(extractSlice(c.image, c.shape, axis, s), extractSlice(c.reference, c.shape, axis, s),
      extractSlice(c.prediction, c.shape, axis, s), width, height, { scale, shade });
    blit(img, tile, tx, ty);
    const label = `${AXIS_LETTER[AXIS_INDEX[axis]]} ${s}`;
    fillRect(img, tx, ty, textWidth(label) + 4, GLYPH_HEIGHT + 4, [0, 0, 0]);
    drawText(img, label, tx + 2, ty + 2, WHITE, 1);
  });
  return img;
}

/** PNG bytes of an RGB image (8 bits per channel). */
export function encodeRgbPng(img: RgbImage): Uint8Array {
  return encode({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}

/** A file name from a case id: anything but letters, digits, '.', '_' and '-' becomes '_'. */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Writes `<dir>/<id>_<axis>.png` for every case; returns the files by case id. */
export async function writeOverlayFigures(
  dir: string,
  cases: readonly CaseVolumes[],
  metrics: ReadonlyMap<string, Pick<CaseMetrics, 'dice' | 'hd95'>>,
  o: Omit<MontageOptions, 'metrics'> = {},
): Promise<Map<string, string>> {
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, string>();
  for (const c of cases) {
    const m = metrics.get(c.id);
    const file = join(dir, `${safeFileName(c.id)}_${o.axis ?? 'axial'}.png`);
    await writeFileAtomic(file, encodeRgbPng(overlayMontage(c, { ...o, ...(m ? { metrics: m } : {}) })));
    files.set(c.id, file);
  }
  return files;
}

/** The best, median (lower middle) and worst case by Dice (ties: the first in the given order). */
export function bestMedianWorst<T extends { dice: number }>(rows: readonly T[]): { best: T; median: T; worst: T } | null {
  if (rows.length === 0) return null;
  // NaN sorts as worst
  const key = (r: T) => (Number.isNaN(r.dice) ? -Infinity : r.dice);
  const sorted = rows.map((r, i) => ({ r, i })).sort((a, b) => key(b.r) - key(a.r) || a.i - b.i).map((e) => e.r);
  return { best: sorted[0]!, median: sorted[Math.floor((sorted.length - 1) / 2)]!, worst: sorted[sorted.length - 1]! };
}
