import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'fflate';
import puppeteer from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import {
  buildHtmlReport, CROP_MARGIN, cropCase, downsampleInPlane, embedCase, embedCases, embeddingSummary, encodeVarints, maskBox, runLengths,
  writeHtmlReport, type HtmlReportInput,
} from '../../../src/imaging/report/html-report.js';
import { summarize } from '../../../src/imaging/metrics.js';
import { linePlot } from '../../../src/imaging/report/plot.js';
import type { CaseVolumes } from '../../../src/imaging/report/figures.js';
import type { CaseRow } from '../../../src/imaging/report/report.js';
import type { Shape3 } from '../../../src/imaging/volume.js';
import { idx } from '../../helpers/volumes.js';

interface Canvas2d {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}

/** Debian's chromium; CI installs it (apt-get install -y chromium) */
const CHROMIUM = '/usr/bin/chromium';

/**
 * A case: image = 8·z + 3·x (so slices differ), reference the box from `lo` spanning `size`, prediction the box
 * moved by `shift` in x.
 */
function boxCase(id: string, shape: Shape3, shift: number, lo: Shape3 = [6, 5, 4], size: Shape3 = [11, 10, 8]): CaseVolumes {
  const n = shape[0] * shape[1] * shape[2];
  const image = new Uint8Array(n), reference = new Uint8Array(n), prediction = new Uint8Array(n);
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++) {
        const i = idx(shape, x, y, z);
        image[i] = (8 * z + 3 * x) % 256;
        const inY = y >= lo[1] && y < lo[1] + size[1], inZ = z >= lo[2] && z < lo[2] + size[2];
        reference[i] = x >= lo[0] && x < lo[0] + size[0] && inY && inZ ? 1 : 0;
        prediction[i] = x >= lo[0] + shift && x < lo[0] + size[0] + shift && inY && inZ ? 1 : 0;
      }
    }
  }
  return { id, shape, image, window: [0, 255], reference, prediction };
}

function reportInput(): HtmlReportInput {
  const shape: Shape3 = [24, 20, 16];
  const rows: CaseRow[] = [
    { id: 'case-b', dice: 0.9, jaccard: 0.82, hd95: 1, asd: 0.4, empty: false },
    { id: 'case-a', dice: 0.75, jaccard: 0.6, hd95: 3, asd: 1.1, empty: false },
    { id: 'case-c', dice: 0.95, jaccard: 0.9, hd95: 0.5, asd: 0.2, empty: false },
  ];
  const it = Array.from({ length: 40 }, (_, i) => i + 1);
  return {
    title: 'DBISL on synthetic <test>', facts: ['40 iterations'], config: { preset: 'synthetic', note: '</script>' },
    summary: summarize(rows), rows,
    plots: [
      { title: 'losses', svg: linePlot([{ name: 'total', x: it, y: it.map((i) => 1 / i) }], { logY: true, id: 'losses' }) },
      { title: 'dice', svg: linePlot([{ name: 'Dice', x: [10, 20, 30, 40], y: [50, 80, 90, 92] }], { id: 'dice' }) },
    ],
    cases: [boxCase('case-b', shape, 1), boxCase('case-a', shape, 3), boxCase('case-c', shape, 0)],
  };
}

describe('report.html: encoding', () => {
  it('run lengths start with background and sum to the length; varints are LEB128', () => {
    expect(runLengths(Uint8Array.from([0, 0, 1, 1, 1, 0]))).toEqual([2, 3, 1]);
    expect(runLengths(Uint8Array.from([1, 1, 0]))).toEqual([0, 2, 1]);
    expect(runLengths(new Uint8Array(0))).toEqual([0]);
    expect(Array.from(encodeVarints([0, 127, 128, 300, 2 ** 31]))).toEqual([0, 127, 0x80, 1, 0xac, 2, 0x80, 0x80, 0x80, 0x80, 8]);
    expect(() => encodeVarints([-1])).toThrow(/not a non-negative integer/);
  });

  it('in-plane downsampling: block means, masks by majority, z kept', () => {
    const shape: Shape3 = [3, 2, 1];
    const d = downsampleInPlane(Uint8Array.from([10, 20, 30, 40, 50, 61]), shape, 2, false);
    expect(d.shape).toEqual([2, 1, 1]);
    expect(Array.from(d.data)).toEqual([25, 56]); // (10+20+30+40)/4, (50+61)/2 rounded
    expect(Array.from(downsampleInPlane(Uint8Array.from([1, 0, 0, 0, 1, 1]), shape, 2, true).data)).toEqual([0, 1]);
  });

  it('crop: the box around the foreground grown by the margin, clipped; the payload keeps where it came from', () => {
    const shape: Shape3 = [80, 60, 40];
    const big = boxCase('big', shape, 2);
    expect(maskBox(big.reference, shape, 0)).toEqual([[6, 16], [5, 14], [4, 11]]);
    expect(maskBox(big.reference, shape, CROP_MARGIN)).toEqual([[0, 32], [0, 30], [0, 27]]);
    expect(maskBox(new Uint8Array(80 * 60 * 40), shape, 3)).toBeNull();
    const box: [number, number][] = [[5, 9], [4, 6], [10, 12]];
    const part = cropCase(big, box);
    expect(part.shape).toEqual([5, 3, 3]);
    expect(part.image[idx(part.shape, 1, 2, 0)]).toBe(big.image[idx(shape, 6, 6, 10)]);
    const whole = embedCase(big, 1);
    expect(whole.box).toEqual([[0, 79], [0, 59], [0, 39]]);
    // a budget below the whole volume's payload: cropped (x 0–34, y 0–30, z 0–27), full resolution
    const [e] = embedCases([big], 300_000 + whole.data.length - 1);
    expect(e!.factor).toBe(1);
    expect(e!.box).toEqual([[0, 34], [0, 30], [0, 27]]);
    expect(e!.fullShape).toEqual(shape);
    expect(embeddingSummary([e!, whole])).toBe(`1 of 2 case(s) embedded cropped to ${CROP_MARGIN} voxels around the reference and prediction`);
    expect(embeddingSummary([whole])).toBe('');
    // the smaller case is served first and what it leaves of its share goes to the larger one: both whole
    // within their sum, whatever their order
    const small = reportInput().cases[0]!;
    const smallWhole = embedCase(small, 1);
    expect(smallWhole.data.length).toBeLessThan(whole.data.length);
    const both = embedCases([big, small], 300_000 + smallWhole.data.length + whole.data.length);
    expect(both.map((x) => [x.factor, embeddingSummary([x])])).toEqual([[1, ''], [1, '']]);
  });

  it('payload: gzip of image bytes, reference and prediction run lengths; budget forces downsampling', () => {
    const c = reportInput().cases[0]!;
    const e = embedCase(c, 1);
    const raw = gunzipSync(Buffer.from(e.data, 'base64'));
    expect(raw.length).toBe(e.imageBytes + e.refBytes + e.predBytes);
    expect(Array.from(raw.subarray(0, e.imageBytes))).toEqual(Array.from(c.image));
    expect(Array.from(raw.subarray(e.imageBytes, e.imageBytes + e.refBytes))).toEqual(Array.from(encodeVarints(runLengths(c.reference))));
    const full = embedCases([c], 10_000_000)[0]!;
    expect(full.factor).toBe(1);
    const small = embedCases([c], 300_000 + Math.floor(e.data.length * 0.6))[0]!;
    expect(small.factor).toBeGreaterThan(1);
    expect(small.shape).toEqual([Math.ceil(24 / small.factor), Math.ceil(20 / small.factor), 16]);
    expect(() => embedCases([c], 300_010)).toThrow(/case case-b needs .* bytes even cropped and downsampled 8× in-plane/);
  });

  it('the page is self-contained and escapes its text', () => {
    const { html } = buildHtmlReport(reportInput());
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain('DBISL on synthetic &lt;test&gt;');
    expect(html.match(/<\/script>/g)!.length).toBe(2); // the config's '</script>' is escaped in the <pre>
    expect(html).toContain('clip-path="url(#losses-area)"');
    expect(html).toContain('clip-path="url(#dice-area)"');
  });
});

describe('report.html in chromium', () => {
  it('loads without console errors; sorts; the slider and the overlay toggles change the canvas', { timeout: 180_000 }, async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install -y chromium)`);
    const dir = mkdtempSync(join(tmpdir(), 'voxgrad-html-'));
    const file = join(dir, 'report.html');
    // a fourth case, larger, cropped to fit the budget (reference ∪ prediction x 40…51 ± 16): the page numbers its
    // slices as in the whole volume
    const input = reportInput();
    const big = boxCase('case-big', [80, 60, 40], 1, [40, 30, 20], [11, 11, 8]);
    input.cases = [...input.cases, big];
    input.rows = [...input.rows, { id: 'case-big', dice: 0.8, jaccard: 0.7, hd95: 2, asd: 1, empty: false }];
    input.summary = summarize(input.rows);
    input.budgetBytes = 300_000 + input.cases.slice(0, 3).reduce((n, c) => n + embedCase(c, 1).data.length, 0) + embedCase(big, 1).data.length - 1;
    const { bytes, embedded } = await writeHtmlReport(file, input);
    expect(embedded[3]!.box).toEqual([[24, 67], [14, 56], [4, 39]]);
    expect(bytes).toBe(readFileSync(file).length);
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setViewport({ width: 1100, height: 900 });
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      await page.waitForSelector('details.case[data-ready="true"]', { timeout: 60_000 });

      // sorting by Dice: ascending, then descending
      const ids = () => page.$$eval('#cases tbody tr', (rows) => rows.map((r) => r.cells[0]!.dataset.value));
      expect(await ids()).toEqual(['case-b', 'case-a', 'case-c', 'case-big']);
      const diceHead = (await page.$$('#cases thead th'))[1]!;
      await diceHead.click();
      expect(await ids()).toEqual(['case-a', 'case-big', 'case-b', 'case-c']);
      await diceHead.click();
      expect(await ids()).toEqual(['case-c', 'case-b', 'case-big', 'case-a']);
      await (await page.$$('#cases thead th'))[0]!.click();
      expect(await ids()).toEqual(['case-a', 'case-b', 'case-big', 'case-c']);

      // the first viewer: canvas pixels before / after moving the slider and toggling the prediction
      const viewer = 'details.case[data-index="0"]';
      // FNV-1a of the canvas's RGBA bytes (this project's tsconfig has no DOM library: the canvas typed by hand)
      const pixels = () => page.$eval(`${viewer} canvas`, (el) => {
        const c = el as unknown as Canvas2d;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 2166136261;
        for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 16777619) >>> 0;
        return { w: c.width, h: c.height, hash: h };
      });
      const first = await pixels();
      expect(first.w).toBeGreaterThan(24 * 4);
      const label = () => page.$eval(`${viewer} .slice-label`, (e) => e.textContent);
      expect(await label()).toBe('z = 8 / 15'); // the middle of the reference's z extent 4…11 (rounded)
      await page.focus(`${viewer} .slice`);
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      expect(await label()).toBe('z = 10 / 15');
      const moved = await pixels();
      expect(moved.hash).not.toBe(first.hash);
      await page.click(`${viewer} .show-pred`);
      const noPred = await pixels();
      expect(noPred.hash).not.toBe(moved.hash);
      await page.click(`${viewer} .show-pred`);
      expect((await pixels()).hash).toBe(moved.hash);
      // another axis: the sagittal slice has the y × z shape
      await page.select(`${viewer} .axis`, 'sagittal');
      const sag = await pixels();
      expect(sag.w / sag.h).toBeCloseTo(20 / 16, 5);
      await page.select(`${viewer} .axis`, 'axial');

      // a closed case opens (and decodes) from its link in the table
      await page.click('#cases a[href="#case-2"]');
      await page.waitForSelector('details.case[data-index="2"][data-ready="true"]', { timeout: 60_000 });
      // the cropped case: slice numbers of the whole volume (reference z 20…27 → the middle, 24, of 0…39)
      await page.click('#cases a[href="#case-3"]');
      await page.waitForSelector('details.case[data-index="3"][data-ready="true"]', { timeout: 60_000 });
      expect(await page.$eval('details.case[data-index="3"] .slice-label', (e) => e.textContent)).toBe('z = 24 / 39');
      expect(await page.$eval('details.case[data-index="3"] summary', (e) => e.textContent)).toContain('cropped to x 24–67, y 14–56, z 4–39 of 80×60×40');
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(existsSync(join(dir, 'report.png'))).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
