/**
 * `report.html`: one self-contained page (no network, works from file://) with the run's facts and
 * configuration, the metrics table, a per-case table sortable by any column, the plots as inline SVG, and a
 * slice viewer per test case (slider through the slices, axis, reference / prediction overlays on or off,
 * opacity, the case's metrics).
 *
 * The volumes are embedded compactly: per case, the windowed image as uint8 followed by the reference and
 * the prediction as run lengths (alternating background / foreground runs, LEB128 varints), all gzip'ed
 * (node:zlib) and base64'ed into a JSON script element; the page inflates them with the browser's own
 * `DecompressionStream('gzip')`. A size budget holds for the whole page: a case whose equal share would
 * exceed it is first cropped to the box around its reference and prediction plus CROP_MARGIN voxels, then, if
 * still too big, downsampled in-plane (x and y; block means; masks: block mean ≥ ½) by the smallest factor that
 * fits. Measured on the 20 LA test cases (windowed image + masks, gzip, base64): 1.3–2.8 MB each whole at full
 * resolution, ≈ 40 MB in all; within the default 25 MB: 24.4 MB, every case cropped, 11 at full resolution and
 * 9 downsampled 2×.
 */
import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../../models/atomic.js';
import { escapeXml } from './plot.js';
import type { MeanStd, MetricsSummary } from '../metrics.js';
import type { CaseRow } from './report.js';
import { PREDICTION_COLOR, REFERENCE_COLOR, rgbHex, type CaseVolumes } from './figures.js';
import type { Shape3 } from '../volume.js';

/** Default size budget of report.html: 25 MB (the 20 LA test cases fit at full resolution or downsampled). */
export const DEFAULT_HTML_BUDGET = 25_000_000;
/** room kept for the page itself (tables, plots, script) when sharing the budget among the cases */
const PAGE_OVERHEAD = 300_000;
const MAX_FACTOR = 8;
/** voxels kept around the reference ∪ prediction when a case is cropped */
export const CROP_MARGIN = 16;

/** Run lengths of a binary mask: background first (possibly 0), then alternating; they sum to its length. */
export function runLengths(mask: Uint8Array): number[] {
  const out: number[] = [];
  let value = 0, run = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] !== 0 ? 1 : 0;
    if (v === value) { run++; continue; }
    out.push(run);
    value = v;
    run = 1;
  }
  out.push(run);
  return out;
}

/** Unsigned LEB128 varints (7 bits per byte, low first, high bit = more). */
export function encodeVarints(values: readonly number[]): Uint8Array {
  const bytes: number[] = [];
  for (let v of values) {
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`encodeVarints: ${v} is not a non-negative integer`);
    while (v >= 0x80) { bytes.push((v % 0x80) | 0x80); v = Math.floor(v / 0x80); }
    bytes.push(v);
  }
  return Uint8Array.from(bytes);
}

/**
 * In-plane (x, y) downsampling by `factor`: each output voxel is the mean of its factor × factor block (edge
 * blocks: of the voxels there), rounded; with `binary`, 1 where that mean is ≥ ½.
 */
export function downsampleInPlane(data: Uint8Array, shape: Readonly<Shape3>, factor: number, binary: boolean): { data: Uint8Array; shape: Shape3 } {
  if (factor === 1) return { data, shape: [...shape] };
  const [X, Y, Z] = shape;
  const X2 = Math.ceil(X / factor), Y2 = Math.ceil(Y / factor);
  const sum = new Float64Array(X2 * Y2 * Z), count = new Float64Array(X2 * Y2 * Z);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      const src = (x * Y + y) * Z, dst = (Math.floor(x / factor) * Y2 + Math.floor(y / factor)) * Z;
      for (let z = 0; z < Z; z++) { sum[dst + z] += data[src + z]!; count[dst + z]!++; }
    }
  }
  const out = new Uint8Array(sum.length);
  for (let i = 0; i < out.length; i++) {
    const m = sum[i]! / count[i]!;
    out[i] = binary ? (m >= 0.5 ? 1 : 0) : Math.round(m);
  }
  return { data: out, shape: [X2, Y2, Z] };
}

/** [first, last] voxel per axis of the box around a mask's foreground grown by `margin`; null when empty. */
export function maskBox(mask: Uint8Array, shape: Readonly<Shape3>, margin: number): [number, number][] | null {
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  let i = 0;
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++, i++) {
        if (mask[i] === 0) continue;
        const p = [x, y, z];
        for (let a = 0; a < 3; a++) { if (p[a]! < lo[a]!) lo[a] = p[a]!; if (p[a]! > hi[a]!) hi[a] = p[a]!; }
      }
    }
  }
  if (!(lo[0]! <= hi[0]!)) return null;
  return [0, 1, 2].map((a) => [Math.max(0, lo[a]! - margin), Math.min(shape[a]! - 1, hi[a]! + margin)] as [number, number]);
}

/** The case restricted to a box ([first, last] per axis). */
export function cropCase(c: CaseVolumes, box: readonly (readonly [number, number])[]): CaseVolumes {
  const shape: Shape3 = [box[0]![1] - box[0]![0] + 1, box[1]![1] - box[1]![0] + 1, box[2]![1] - box[2]![0] + 1];
  const take = (src: Uint8Array): Uint8Array => {
    const out = new Uint8Array(shape[0] * shape[1] * shape[2]);
    let o = 0;
    for (let x = box[0]![0]; x <= box[0]![1]; x++) {
      for (let y = box[1]![0]; y <= box[1]![1]; y++) {
        const start = (x * c.shape[1] + y) * c.shape[2] + box[2]![0];
        out.set(src.subarray(start, start + shape[2]), o);
        o += shape[2];
      }
    }
    return out;
  };
  return { ...c, shape, image: take(c.image), reference: take(c.reference), prediction: take(c.prediction) };
}

/** One case as embedded in the page. */
export interface EmbeddedCase {
  id: string;
  /** the embedded (possibly cropped and downsampled) shape */
  shape: Shape3;
  /** the whole volume's shape */
  fullShape: Shape3;
  /** the box of the whole volume embedded ([first, last] per axis; all of it unless cropped) */
  box: [number, number][];
  /** in-plane downsampling factor (1: full resolution) */
  factor: number;
  /** bytes of the image, the reference's and the prediction's varints in the inflated payload */
  imageBytes: number;
  refBytes: number;
  predBytes: number;
  /** gzip'ed payload, base64 */
  data: string;
}

/** The payload of a case at a downsampling factor, whole or cropped to `box`. */
export function embedCase(whole: CaseVolumes, factor: number, box: [number, number][] | null = null): EmbeddedCase {
  const c = box ? cropCase(whole, box) : whole;
  const image = downsampleInPlane(c.image, c.shape, factor, false);
  const ref = encodeVarints(runLengths(downsampleInPlane(c.reference, c.shape, factor, true).data));
  const pred = encodeVarints(runLengths(downsampleInPlane(c.prediction, c.shape, factor, true).data));
  const raw = new Uint8Array(image.data.length + ref.length + pred.length);
  raw.set(image.data, 0);
  raw.set(ref, image.data.length);
  raw.set(pred, image.data.length + ref.length);
  return {
    id: c.id, shape: image.shape, fullShape: [...whole.shape], box: box ?? whole.shape.map((n) => [0, n - 1] as [number, number]), factor, imageBytes: image.data.length, refBytes: ref.length, predBytes: pred.length,
    // Node's zlib: on LA images 3–4× faster than fflate and 2 % smaller (level 9 costs no more than 6 there)
    data: gzipSync(raw, { level: 9 }).toString('base64'),
  };
}

/**
 * Each case whole when its payload fits its share of the budget, else cropped (CROP_MARGIN voxels around the
 * reference ∪ prediction), else cropped and downsampled in-plane by the smallest factor that fits. The cases
 * are served smallest whole payload first, each one's share being what the cases before it left of the budget
 * over the cases still to come: as many cases as possible stay whole.
 */
export function embedCases(cases: readonly CaseVolumes[], budgetBytes = DEFAULT_HTML_BUDGET): EmbeddedCase[] {
  const wholes = cases.map((c) => embedCase(c, 1));
  const order = wholes.map((_, i) => i).sort((a, b) => wholes[a]!.data.length - wholes[b]!.data.length);
  const out: EmbeddedCase[] = [];
  let left = budgetBytes - PAGE_OVERHEAD;
  order.forEach((i, k) => {
    const share = left / (cases.length - k);
    const e = wholes[i]!.data.length <= share ? wholes[i]! : reduceWithin(cases[i]!, share, budgetBytes);
    out[i] = e;
    left -= e.data.length;
  });
  return out;
}

/** The case cropped, else cropped and downsampled: the first payload within `share` bytes. */
function reduceWithin(c: CaseVolumes, share: number, budgetBytes: number): EmbeddedCase {
  const box = maskBox(c.reference.map((v, i) => (v !== 0 || c.prediction[i] !== 0 ? 1 : 0)), c.shape, CROP_MARGIN);
  for (let f = 1; ; f++) {
    const e = embedCase(c, f, box);
    if (e.data.length <= share) return e;
    if (f === MAX_FACTOR) throw new Error(`report.html: case ${c.id} needs ${e.data.length} bytes even cropped and downsampled ${f}× in-plane; the budget of ${budgetBytes} bytes leaves ${Math.floor(share)} for it`);
  }
}

/** Whether a case was embedded cropped. */
const isCropped = (e: EmbeddedCase): boolean => e.box.some(([a, b], k) => a !== 0 || b !== e.fullShape[k]! - 1);

/** '' when every case is embedded whole, else how many were cropped and downsampled. */
export function embeddingSummary(embedded: readonly EmbeddedCase[]): string {
  const cropped = embedded.filter(isCropped);
  if (cropped.length === 0) return '';
  const down = cropped.filter((e) => e.factor > 1);
  const factors = [...new Set(down.map((e) => e.factor))].sort((a, b) => a - b);
  return `${cropped.length} of ${embedded.length} case(s) embedded cropped to ${CROP_MARGIN} voxels around the reference and prediction`
    + (down.length > 0 ? `, ${down.length} of them also downsampled ${factors.join('/')}× in-plane` : '');
}

/** How a case is shown, for its viewer's summary line. */
function embeddingNote(e: EmbeddedCase): string {
  const parts: string[] = [];
  if (isCropped(e)) parts.push(`cropped to ${e.box.map(([a, b], k) => `${'xyz'[k]} ${a}–${b}`).join(', ')} of ${e.fullShape.join('×')}`);
  if (e.factor > 1) parts.push(`downsampled ${e.factor}× in-plane`);
  return parts.length ? ` (shown ${parts.join(', ')})` : '';
}

export interface HtmlReportInput {
  title: string;
  /** short lines under the title (plain text) */
  facts: readonly string[];
  /** shown as JSON */
  config: unknown;
  summary: MetricsSummary;
  rows: readonly CaseRow[];
  /** inline SVG plots (give each a distinct `id` option) */
  plots: readonly { title: string; svg: string }[];
  /** volumes for the slice viewers (the cases without volumes get none) */
  cases: readonly CaseVolumes[];
  /** bytes (default DEFAULT_HTML_BUDGET) */
  budgetBytes?: number;
}

const pct = (v: number): string => (Number.isFinite(v) ? (100 * v).toFixed(2) : '–');
const vox = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '–');
const pm = (s: MeanStd, scale: number): string => (Number.isFinite(s.mean) ? `${(scale * s.mean).toFixed(2)} ± ${(scale * s.std).toFixed(2)}` : '–');
/** JSON safe inside a <script> element */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');
/** a sortable cell: the number (NaN as text 'NaN', sorted last) behind the shown text */
const numCell = (v: number, text: string): string => `<td data-value="${Number.isNaN(v) ? 'NaN' : v}">${escapeXml(text)}</td>`;

/** The page as a string, and what was embedded per case. */
export function buildHtmlReport(input: HtmlReportInput): { html: string; embedded: EmbeddedCase[] } {
  const embedded = embedCases(input.cases, input.budgetBytes);
  const byId = new Map(input.rows.map((r) => [r.id, r]));
  const s = input.summary;
  const h: string[] = [];
  h.push('<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">', `<title>${escapeXml(input.title)}</title>`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">', `<style>${STYLE}</style>`, '</head><body>');
  h.push(`<h1>${escapeXml(input.title)}</h1>`, '<ul class="facts">', ...input.facts.map((f) => `<li>${escapeXml(f)}</li>`), '</ul>');
  h.push('<h2>Test metrics</h2>', '<table class="summary"><thead><tr><th>Dice (%)</th><th>Jaccard (%)</th><th>95HD (voxel)</th><th>ASD (voxel)</th><th>cases</th></tr></thead>',
    `<tbody><tr><td>${pm(s.dice, 100)}</td><td>${pm(s.jaccard, 100)}</td><td>${pm(s.hd95, 1)}</td><td>${pm(s.asd, 1)}</td><td>${s.n}</td></tr></tbody></table>`,
    `<p class="note">mean ± population std over the cases; distances in voxels${s.nEmpty > 0 ? `; ${s.nEmpty} case(s) with an empty prediction or reference count as 0` : ''}.</p>`);
  h.push('<h2>Cases</h2>', '<p class="note">Click a column header to sort by it (again: reverse); click an id to open its viewer.</p>',
    '<table class="sortable" id="cases"><thead><tr><th data-type="text">id</th><th>Dice (%)</th><th>Jaccard (%)</th><th>95HD (voxel)</th><th>ASD (voxel)</th></tr></thead><tbody>');
  const viewerIndex = new Map(embedded.map((e, k) => [e.id, k]));
  for (const r of input.rows) {
    const k = viewerIndex.get(r.id);
    const link = k !== undefined ? `<a href="#case-${k}" class="open-case">${escapeXml(r.id)}</a>` : escapeXml(r.id);
    h.push(`<tr><td data-value="${escapeXml(r.id)}">${link}${r.empty ? ' (empty)' : ''}</td>${numCell(r.dice, pct(r.dice))}${numCell(r.jaccard, pct(r.jaccard))}${numCell(r.hd95, vox(r.hd95))}${numCell(r.asd, vox(r.asd))}</tr>`);
  }
  h.push('</tbody></table>');
  if (input.plots.length > 0) {
    h.push('<h2>Training</h2>', '<div class="plots">');
    for (const p of input.plots) h.push(`<figure>${p.svg.trim()}<figcaption>${escapeXml(p.title)}</figcaption></figure>`);
    h.push('</div>');
  }
  if (embedded.length > 0) {
    const reduced = embeddingSummary(embedded);
    h.push('<h2>Slice viewers</h2>', `<p class="note">Grey: the image (1st–99th percentile window). <span class="key" style="background:${rgbHex(REFERENCE_COLOR)}"></span> reference (ring just outside it), `
      + `<span class="key" style="background:${rgbHex(PREDICTION_COLOR)}"></span> prediction (ring just inside it); the opacity sets the fill of both.`
      + (reduced !== '' ? ` ${escapeXml(reduced)}, to keep this page within ${(input.budgetBytes ?? DEFAULT_HTML_BUDGET) / 1e6} MB; slice numbers are those of the whole volume.` : '') + '</p>');
    embedded.forEach((e, k) => {
      const r = byId.get(e.id);
      const metrics = r ? `Dice ${pct(r.dice)} %, Jaccard ${pct(r.jaccard)} %, 95HD ${vox(r.hd95)}, ASD ${vox(r.asd)} voxel` : 'no metrics';
      h.push(`<details class="case" id="case-${k}" data-index="${k}"${k === 0 ? ' open' : ''}>`,
        `<summary><b>${escapeXml(e.id)}</b> — ${escapeXml(metrics)}${escapeXml(embeddingNote(e))}</summary>`,
        '<div class="viewer"><div class="controls">',
        '<label>axis <select class="axis"><option value="axial" selected>axial (z)</option><option value="coronal">coronal (y)</option><option value="sagittal">sagittal (x)</option></select></label>',
        '<label>slice <input type="range" class="slice" min="0" max="0" value="0"> <span class="slice-label"></span></label>',
        '<label><input type="checkbox" class="show-ref" checked> reference</label>',
        '<label><input type="checkbox" class="show-pred" checked> prediction</label>',
        '<label>opacity <input type="range" class="opacity" min="0" max="100" value="30"></label>',
        '</div><canvas></canvas></div></details>');
    });
  }
  h.push('<h2>Configuration</h2>', `<pre>${escapeXml(JSON.stringify(input.config, null, 2))}</pre>`);
  h.push(`<script type="application/json" id="voxgrad-cases">${scriptJson(embedded)}</script>`);
  h.push(`<script>${pageScript()}</script>`, '</body></html>');
  return { html: h.join('\n') + '\n', embedded };
}

/** Writes the page; returns its size and what was embedded. */
export async function writeHtmlReport(file: string, input: HtmlReportInput): Promise<{ bytes: number; embedded: EmbeddedCase[] }> {
  const { html, embedded } = buildHtmlReport(input);
  await writeFileAtomic(file, html);
  return { bytes: Buffer.byteLength(html), embedded };
}

const STYLE = `
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f2f2f2; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
.note { color: #555; font-size: 90%; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; }
.plots svg { max-width: 100%; height: auto; }
figcaption { font-size: 90%; color: #555; }
details.case { border: 1px solid #ddd; margin: 0.5em 0; padding: 0.3em 0.6em; }
details.case summary { cursor: pointer; }
.viewer { display: flex; flex-direction: column; gap: 0.4em; margin: 0.5em 0; }
.controls { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; }
.controls input[type=range].slice { width: 240px; }
canvas { image-rendering: pixelated; align-self: flex-start; border: 1px solid #888; }
.key { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; }
pre { background: #f7f7f7; padding: 0.6em; overflow: auto; font-size: 85%; }
`;

/** The page's script (plain ES2020, no library): table sorting and the slice viewers. */
function pageScript(): string {
  return `
'use strict';
(() => {
  const REF = ${JSON.stringify(REFERENCE_COLOR)}, PRED = ${JSON.stringify(PREDICTION_COLOR)};
  const AXES = { sagittal: 0, coronal: 1, axial: 2 };
  const NAMES = ['x', 'y', 'z'];
  const CANVAS_SIZE = 420;

  // ---- sortable tables: numbers by data-value (NaN last), text otherwise
  for (const table of document.querySelectorAll('table.sortable')) {
    const heads = [...table.tHead.rows[0].cells];
    heads.forEach((th, col) => th.addEventListener('click', () => {
      const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      heads.forEach((o) => o.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', dir);
      const sign = dir === 'ascending' ? 1 : -1;
      const text = th.dataset.type === 'text';
      const body = table.tBodies[0];
      const key = (row) => row.cells[col].dataset.value;
      const rows = [...body.rows].sort((a, b) => {
        if (text) return sign * key(a).localeCompare(key(b));
        const x = Number(key(a)), y = Number(key(b));
        if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) - Number.isNaN(y);
        return sign * (x - y);
      });
      body.append(...rows);
    }));
  }

  // ---- embedded volumes
  const cases = JSON.parse(document.getElementById('voxgrad-cases').textContent);
  const bytesOf = (b64) => { const s = atob(b64); const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; };
  const gunzip = async (bytes) => new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const varints = (b, start, end) => {
    const out = []; let v = 0, scale = 1;
    for (let i = start; i < end; i++) { v += (b[i] & 0x7f) * scale; if (b[i] & 0x80) scale *= 128; else { out.push(v); v = 0; scale = 1; } }
    return out;
  };
  const mask = (runs, n, id) => {
    const m = new Uint8Array(n); let p = 0, on = 0;
    for (const r of runs) { if (on) m.fill(1, p, p + r); p += r; on ^= 1; }
    if (p !== n) throw new Error('case ' + id + ': the run lengths cover ' + p + ' of ' + n + ' voxels');
    return m;
  };
  async function decode(c) {
    const raw = await gunzip(bytesOf(c.data));
    const n = c.shape[0] * c.shape[1] * c.shape[2];
    if (raw.length !== c.imageBytes + c.refBytes + c.predBytes || c.imageBytes !== n) throw new Error('case ' + c.id + ': payload of ' + raw.length + ' bytes does not match its shape');
    return { image: raw.subarray(0, n), ref: mask(varints(raw, n, n + c.refBytes), n, c.id), pred: mask(varints(raw, n + c.refBytes, raw.length), n, c.id) };
  }

  function viewer(el, c) {
    const q = (s) => el.querySelector(s);
    const canvas = q('canvas'), ctx = canvas.getContext('2d');
    const axisSel = q('.axis'), slider = q('.slice'), label = q('.slice-label'), showRef = q('.show-ref'), showPred = q('.show-pred'), opacity = q('.opacity');
    const shape = c.shape, step = [c.factor, c.factor, 1];
    const strides = [shape[1] * shape[2], shape[2], 1];
    let vol = null;
    const plane = () => { const a = AXES[axisSel.value]; const [u, v] = [0, 1, 2].filter((d) => d !== a); return { a, u, v }; };
    const extent = (m, a) => {
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < m.length; i++) if (m[i]) { const s = Math.floor(i / strides[a]) % shape[a]; if (s < lo) lo = s; if (s > hi) hi = s; }
      return lo <= hi ? [lo, hi] : null;
    };
    function draw() {
      if (!vol) return;
      const { a, u, v } = plane(), s = Number(slider.value);
      const k = Math.max(1, Math.floor(CANVAS_SIZE / Math.max(shape[u] * step[u], shape[v] * step[v])));
      const cw = k * step[u], ch = k * step[v], W = shape[u] * cw, H = shape[v] * ch;
      if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
      const img = ctx.createImageData(W, H), d = img.data;
      const base = s * strides[a];
      const at = (X, Y) => base + Math.floor(Y / ch) * strides[v] + Math.floor(X / cw) * strides[u];
      const inside = (m, X, Y) => X >= 0 && Y >= 0 && X < W && Y < H && m[at(X, Y)] !== 0;
      // rings 2 px wide when a voxel is 4 px or more
      const t = k >= 4 ? 2 : 1;
      const edge = (m, X, Y, want) => inside(m, X - t, Y) !== want || inside(m, X + t, Y) !== want || inside(m, X, Y - t) !== want || inside(m, X, Y + t) !== want;
      const alpha = Number(opacity.value) / 100, sr = showRef.checked, sp = showPred.checked;
      for (let Y = 0, p = 0; Y < H; Y++) {
        for (let X = 0; X < W; X++, p += 4) {
          const i = at(X, Y), g = vol.image[i];
          let r = g, gg = g, b = g;
          if (sr && vol.ref[i]) { r += alpha * (REF[0] - r); gg += alpha * (REF[1] - gg); b += alpha * (REF[2] - b); }
          if (sp && vol.pred[i]) { r += alpha * (PRED[0] - r); gg += alpha * (PRED[1] - gg); b += alpha * (PRED[2] - b); }
          if (sr && !vol.ref[i] && edge(vol.ref, X, Y, false)) [r, gg, b] = REF;
          if (sp && vol.pred[i] && edge(vol.pred, X, Y, true)) [r, gg, b] = PRED;
          d[p] = r; d[p + 1] = gg; d[p + 2] = b; d[p + 3] = 255;
        }
      }
      ctx.putImageData(img, 0, 0);
      // slice numbers of the whole volume (a downsampled axis is never the slicing one for z; x, y: the block's first)
      label.textContent = NAMES[a] + ' = ' + (c.box[a][0] + s * step[a]) + ' / ' + (c.fullShape[a] - 1);
    }
    function resetAxis() {
      const a = AXES[axisSel.value];
      const e = extent(vol.ref, a) || extent(vol.pred, a);
      slider.max = String(shape[a] - 1);
      slider.value = String(e ? Math.round((e[0] + e[1]) / 2) : Math.floor(shape[a] / 2));
      draw();
    }
    for (const c of [slider, showRef, showPred, opacity]) c.addEventListener('input', draw);
    for (const c of [showRef, showPred]) c.addEventListener('change', draw);
    axisSel.addEventListener('change', resetAxis);
    let loading = null;
    const load = () => loading || (loading = decode(c).then((v) => { vol = v; resetAxis(); el.dataset.ready = 'true'; })
      .catch((e) => { console.error(e); el.querySelector('.viewer').textContent = 'cannot show this case: ' + e.message; }));
    el.addEventListener('toggle', () => { if (el.open) load(); });
    if (el.open) load();
  }

  for (const el of document.querySelectorAll('details.case')) viewer(el, cases[Number(el.dataset.index)]);
  for (const a of document.querySelectorAll('a.open-case')) {
    a.addEventListener('click', () => { const el = document.getElementById(a.hash.slice(1)); if (el) el.open = true; });
  }
})();
`;
}
