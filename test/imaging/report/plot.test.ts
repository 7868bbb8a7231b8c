import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { escapeXml, formatTick, linePlot, logTicks, MARKER_LIMIT, niceTicks, paddedRange, plotLayout } from '../../../src/imaging/report/plot.js';

describe('plot', () => {
  it('nice and log ticks', () => {
    expect(niceTicks(0, 6000, 6)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000]);
    expect(niceTicks(0.13, 0.91, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(logTicks(0.003, 20)).toEqual([0.01, 0.1, 1, 10]);
    expect(formatTick(1e-4)).toBe('1e-4');
    expect(formatTick(10 ** -4)).toBe('1e-4'); // 10 ** -4 is 9.999999999999999e-5 in V8
    expect(formatTick(2.5e-5)).toBe('2.5e-5');
    expect(formatTick(1.735e-5)).toBe('1.735e-5');
    expect(logTicks(1e-5, 1e-3)).toEqual([1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]);
    expect(formatTick(2500)).toBe('2500');
    expect(formatTick(0.25)).toBe('0.25');
    expect(escapeXml('a<b & "c"')).toBe('a&lt;b &amp; &quot;c&quot;');
  });

  it('draws one path per series, a legend, escaped labels; log y drops non-positive points', () => {
    const it_ = Array.from({ length: 50 }, (_, i) => i * 10);
    const svg = linePlot(
      [
        { name: 'loss <sup>', x: it_, y: it_.map((i) => 1 / (1 + i)) },
        { name: 'dice', x: it_, y: it_.map((i) => (i === 100 ? NaN : i / 500)) },
      ],
      { title: 'Training', xLabel: 'iteration', yLabel: 'value', logY: true },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect((svg.match(/<path /g) ?? []).length).toBe(2);
    expect(svg).toContain('loss &lt;sup&gt;');
    expect(svg).not.toContain('<sup>');
    expect(svg).toContain('>iteration</text>');
    expect(svg).toContain('>Training</text>');
    expect(svg).not.toMatch(/NaN|Infinity/);
    // dice: its y = 0 point is dropped on log y and NaN at 100 breaks the line: 2 pen-downs
    const dicePath = svg.split('\n').find((l) => l.includes('<title>dice</title>'))!;
    expect((dicePath.match(/M/g) ?? []).length).toBe(2);
  });

  it('log ticks: 1–2–5 per decade, powers of ten on wide ranges, 1…9 or linear on narrow ones', () => {
    expect(logTicks(0.05, 3)).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2]);
    expect(logTicks(0.08, 1.3)).toEqual([0.1, 0.2, 0.5, 1]);
    expect(logTicks(1e-8, 1e4)).toEqual([1e-8, 1e-6, 1e-4, 0.01, 1, 100, 1e4]);
    expect(logTicks(0.3, 0.9)).toEqual([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(logTicks(0.31, 0.45)).toEqual([0.35, 0.4, 0.45]);
    expect(logTicks(0, 1)).toEqual([]);
    // a span whose float quotient lands a hair above a 1–2–5 step (fast-check found the second: e ≈ 2e-11, 0.0334 decades)
    expect(niceTicks(1, 1.08, 4)).toEqual([1, 1.02, 1.04, 1.06, 1.08]);
    expect(logTicks(10 ** 2.1714774107677378e-11, 10 ** 2.1714774107677378e-11 * 10 ** 0.033423755485341225)).toEqual([1.02, 1.04, 1.06, 1.08]);
    // narrow spans between two 1–2–5 values, where 4 linear ticks gave one: a finer step
    expect(logTicks(10 ** 0.04149021002244785, 10 ** (0.04149021002244785 + 0.2415060157327783))).toEqual([1.2, 1.4, 1.6, 1.8]);
    expect(logTicks(10 ** -0.016683988747633185, 10 ** (-0.016683988747633185 + 0.037316153253969586))).toEqual([0.98, 1, 1.02, 1.04]);
    fc.assert(fc.property(fc.double({ min: -7, max: 4, noNaN: true }), fc.double({ min: 0.005, max: 9, noNaN: true }), (e, decades) => {
      const lo = 10 ** e, hi = lo * 10 ** decades;
      const t = logTicks(lo, hi);
      const labels = t.map(formatTick);
      expect(t.length).toBeGreaterThanOrEqual(2);
      expect(t.length).toBeLessThanOrEqual(10);
      expect(new Set(labels).size).toBe(labels.length);
      t.forEach((v, i) => {
        expect(v).toBeGreaterThanOrEqual(lo * (1 - 1e-9));
        expect(v).toBeLessThanOrEqual(hi * (1 + 1e-9));
        if (i > 0) expect(v).toBeGreaterThan(t[i - 1]!);
      });
    }));
  });

  it('linear ticks cover the range in 1–2–5 steps', () => {
    expect(niceTicks(-5, 105, 6)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(91.2, 96.4, 6)).toEqual([92, 93, 94, 95, 96]);
  });

  it('padding: 5 % of the span each side (in decades on a log axis), empty spans widened', () => {
    expect(paddedRange(0, 100, false)).toEqual([-5, 105]);
    const [a, b] = paddedRange(1, 100, true);
    expect(Math.log10(a)).toBeCloseTo(-0.1, 12);
    expect(Math.log10(b)).toBeCloseTo(2.1, 12);
    expect(paddedRange(5, 5, false, 0)).toEqual([4.5, 5.5]);
    expect(paddedRange(0, 0, false, 0)).toEqual([-0.5, 0.5]);
    const [c, d] = paddedRange(4, 4, true, 0);
    expect(c).toBeCloseTo(2, 12);
    expect(d).toBeCloseTo(8, 12);
  });

  it('legend placement: right of the data area, inside the figure, in columns when tall', () => {
    const names = ['total', 'supCrossDice', 'pse'];
    const l = plotLayout(names, 720, 420, true);
    const { plot: p, legend: g } = l;
    expect(g).not.toBeNull();
    expect(g!.x).toBeGreaterThan(p.x + p.width);
    expect(g!.x + g!.width).toBeLessThanOrEqual(720);
    expect(g!.y + g!.height).toBeLessThanOrEqual(p.y + p.height);
    expect(g!.width).toBeGreaterThanOrEqual('supCrossDice'.length * 7);
    const many = plotLayout(Array.from({ length: 30 }, (_, i) => `term${i}`), 900, 300, false);
    expect(many.legendColumns).toBeGreaterThan(1);
    expect(many.legend!.y + many.legend!.height).toBeLessThanOrEqual(many.plot.y + many.plot.height);
    expect(plotLayout([], 720, 420, false).legend).toBeNull();
  });

  it('sparse series get markers strictly inside the frame; distinct y labels on a log axis', () => {
    const svg = linePlot([{ name: 'test Dice', x: [10, 20, 30, 40], y: [52, 88, 93, 95.5] }], { title: 'Dice', id: 'dice' });
    const frame = svg.match(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none" stroke="black"\/>/)!;
    const [x0, y0, w, h] = frame.slice(1).map(Number) as [number, number, number, number];
    const dots = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(dots.length).toBe(4 + 1); // 4 points + 1 in the legend
    for (const [cx, cy] of dots.slice(0, 4)) {
      expect(cx).toBeGreaterThan(x0 + 2); expect(cx).toBeLessThan(x0 + w - 2);
      expect(cy).toBeGreaterThan(y0 + 2); expect(cy).toBeLessThan(y0 + h - 2);
    }
    expect(svg).toContain('clip-path="url(#dice-area)"');
    const dense = Array.from({ length: MARKER_LIMIT }, (_, i) => i);
    expect(linePlot([{ name: 'loss', x: dense, y: dense.map((i) => 1 / (i + 1)) }], { logY: true })).not.toContain('<circle');
    const log = linePlot([{ name: 'loss', x: dense, y: dense.map((i) => 0.15 + 0.8 / (i + 1)) }], { logY: true });
    const yLabels = [...log.matchAll(/text-anchor="end">([^<]+)</g)].map((m) => m[1]);
    expect(yLabels.length).toBeGreaterThanOrEqual(3);
    expect(new Set(yLabels).size).toBe(yLabels.length);
  });

  it('copes with no data and constant series', () => {
    expect(linePlot([])).toContain('</svg>');
    const svg = linePlot([{ name: 'c', x: [0, 1, 2], y: [5, 5, 5] }]);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});
