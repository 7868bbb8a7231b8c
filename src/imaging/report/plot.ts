/**
 * Tiny dependency-free SVG line plots (training curves): several named series over iteration, axes with
 * ticks and labels (1–2–5 ticks on a logarithmic y axis), ranges padded so that no point sits on the frame,
 * markers on sparse series, the legend outside the data area. Returns the SVG as a string.
 */

export interface Series {
  name: string;
  /** x values (e.g. iterations); same length as `y` */
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** CSS colour; a fixed palette is used when omitted */
  color?: string;
  /** a marker at each point (default: when the series has fewer than MARKER_LIMIT finite points) */
  markers?: boolean;
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** pixels (default 720 × 420) */
  width?: number;
  height?: number;
  /** logarithmic y axis; points with y ≤ 0 are dropped */
  logY?: boolean;
  /** prefix of the SVG's element ids (default 'plot'): distinct per plot when several share one HTML page */
  id?: string;
  /** fixed y range (defaults to the data's, padded by 5 % of its span) */
  yMin?: number;
  yMax?: number;
}

/**
 * Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, vermillion, reddish purple, sky blue,
 * black; their yellow is too pale on white); series beyond it repeat the colours dashed.
 */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000'];
const DASHES = ['', '7 3', '2 2'];
/** series with fewer finite points than this get a marker at each point */
export const MARKER_LIMIT = 30;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** "Nice" linear ticks (steps 1, 2, 5 × 10^k) covering [lo, hi], about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  // with a tolerance: (1.08 − 1)/4 is 2.0000000000000018 × 0.01, which must take the step 0.02, not 0.05
  const step = (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * mag;
  const out: number[] = [];
  const start = Math.ceil(lo / step - 1e-9);
  for (let i = start; i * step <= hi + step * 1e-9; i++) out.push(+(i * step).toPrecision(12));
  return out;
}

/** m × 10^e for the mantissas `m` and every `every`-th decade, within [lo, hi] (exact decimals, unlike m * 10 ** e). */
function decadeTicks(lo: number, hi: number, mantissas: readonly number[], every = 1): number[] {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  const out: number[] = [];
  for (let e = a; e <= b; e++) {
    if ((e - a) % every !== 0) continue;
    for (const m of mantissas) {
      const v = Number(`${m}e${e}`);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

/**
 * Ticks of a logarithmic axis over [lo, hi] (both > 0), at most `maxTicks`: 1–2–5 × 10^k when that gives
 * 3 or more, only powers of ten (every n-th decade) on wide ranges, 1…9 × 10^k on narrow ones, and nice
 * linear ticks inside a narrow part of one decade. Distinct values, so distinct labels.
 */
export function logTicks(lo: number, hi: number, maxTicks = 10): number[] {
  if (!(lo > 0 && hi > 0 && Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  const t125 = decadeTicks(lo, hi, [1, 2, 5]);
  if (t125.length > maxTicks) {
    const decades = decadeTicks(lo, hi, [1]).length;
    return decadeTicks(lo, hi, [1], Math.max(1, Math.ceil(decades / maxTicks)));
  }
  if (t125.length >= 3) return t125;
  const t19 = decadeTicks(lo, hi, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (t19.length >= 3 && t19.length <= maxTicks) return t19;
  // linear ticks; a finer step when a narrow span between two 1–2–5 values would get only one
  for (const target of [4, 6]) {
    const ticks = niceTicks(lo, hi, target).filter((t) => t > 0);
    if (ticks.length >= 2) return ticks;
  }
  return niceTicks(lo, hi, 10).filter((t) => t > 0);
}

/**
 * [lo, hi] widened by `fraction` of its span on each side (on a log axis: of its span in decades), so that no
 * point sits on the frame; an empty span first becomes ±10 % around the value (×/÷ 2 on a log axis).
 */
export function paddedRange(lo: number, hi: number, log: boolean, fraction = 0.05): [number, number] {
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    if (log) { lo /= 2; hi *= 2; } else { const d = Math.abs(lo) * 0.1 || 0.5; lo -= d; hi += d; }
  }
  if (log) {
    const a = Math.log10(lo), b = Math.log10(hi), p = (b - a) * fraction;
    return [10 ** (a - p), 10 ** (b + p)];
  }
  const p = (hi - lo) * fraction;
  return [lo - p, hi + p];
}

export interface Box { x: number; y: number; width: number; height: number; }

export interface PlotLayout {
  /** the data area */
  plot: Box;
  /** the legend, right of the data area; null without series */
  legend: Box | null;
  legendColumns: number;
  legendRowHeight: number;
  legendColumnWidth: number;
}

const LEGEND_ROW = 18;
/** approximate advance of a 12 px sans-serif character */
const CHAR_WIDTH = 7;

/**
 * Where things go: margins for the tick labels, axis labels and title; the legend outside the data area on
 * the right (in more columns when its rows would be taller than the data area).
 */
export function plotLayout(names: readonly string[], width: number, height: number, hasTitle: boolean): PlotLayout {
  const mL = 72, mT = hasTitle ? 36 : 16, mB = 52, gap = 12;
  const ph = height - mT - mB;
  if (names.length === 0) {
    return { plot: { x: mL, y: mT, width: width - mL - 16, height: ph }, legend: null, legendColumns: 0, legendRowHeight: LEGEND_ROW, legendColumnWidth: 0 };
  }
  const columnWidth = Math.max(...names.map((n) => n.length)) * CHAR_WIDTH + 40;
  const perColumn = Math.max(1, Math.floor((ph - 6) / LEGEND_ROW));
  const columns = Math.ceil(names.length / perColumn);
  const rows = Math.ceil(names.length / columns);
  const lw = columns * columnWidth;
  const pw = width - mL - gap - lw - 8;
  return {
    plot: { x: mL, y: mT, width: pw, height: ph },
    legend: { x: mL + pw + gap, y: mT, width: lw, height: rows * LEGEND_ROW + 6 },
    legendColumns: columns, legendRowHeight: LEGEND_ROW, legendColumnWidth: columnWidth,
  };
}

/** Compact tick label. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const av = Math.abs(v);
  if (av >= 1e5 || av < 1e-3) {
    const [m, e] = v.toExponential(5).split('e') as [string, string];
    const mm = m.replace(/\.?0+$/, '');
    return `${mm}e${e.replace('+', '')}`;
  }
  return String(+v.toPrecision(6));
}

/** Finite points (positive y on a log axis) of a series. */
function finiteCount(s: Series, logY: boolean): number {
  let n = 0;
  for (let i = 0; i < Math.min(s.x.length, s.y.length); i++) {
    if (Number.isFinite(s.x[i]!) && Number.isFinite(s.y[i]!) && (!logY || s.y[i]! > 0)) n++;
  }
  return n;
}

/** An SVG line plot of the series: padded ranges, markers on sparse series, the legend right of the data. */
export function linePlot(series: readonly Series[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 720, H = opts.height ?? 420;
  const logY = opts.logY ?? false;
  const id = opts.id ?? 'plot';
  const layout = plotLayout(series.map((s) => s.name), W, H, opts.title !== undefined);
  const { x: mL, y: mT, width: pw, height: ph } = layout.plot;

  // data extents
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  for (const s of series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const x = s.x[i]!, y = s.y[i]!;
      if (!ok(x, y)) continue;
      if (x < xlo) xlo = x;
      if (x > xhi) xhi = x;
      if (y < ylo) ylo = y;
      if (y > yhi) yhi = y;
    }
  }
  const hasData = Number.isFinite(xlo) && Number.isFinite(ylo) && Number.isFinite(xhi) && Number.isFinite(yhi);
  if (!hasData) { xlo = 0; xhi = 1; ylo = logY ? 1 : 0; yhi = logY ? 10 : 1; }
  [xlo, xhi] = paddedRange(xlo, xhi, false);
  [ylo, yhi] = paddedRange(ylo, yhi, logY);
  // a fixed bound is kept as given
  if (opts.yMin !== undefined && (!logY || opts.yMin > 0)) ylo = opts.yMin;
  if (opts.yMax !== undefined && (!logY || opts.yMax > 0)) yhi = opts.yMax;
  if (!(yhi > ylo)) [ylo, yhi] = paddedRange(ylo, ylo, logY);
  const ty = (y: number): number => (logY ? Math.log10(y) : y);
  const tylo = ty(ylo), tyhi = ty(yhi);
  const px = (x: number): number => mL + ((x - xlo) / (xhi - xlo)) * pw;
  const py = (y: number): number => mT + ph - ((ty(y) - tylo) / (tyhi - tylo)) * ph;
  const f = (v: number): string => v.toFixed(2);
  const colorOf = (s: Series, k: number): string => s.color ?? PALETTE[k % PALETTE.length]!;
  const dashOf = (s: Series, k: number): string => {
    const d = s.color === undefined ? DASHES[Math.floor(k / PALETTE.length) % DASHES.length]! : '';
    return d === '' ? '' : ` stroke-dasharray="${d}"`;
  };
  const markers = series.map((s) => s.markers ?? finiteCount(s, logY) < MARKER_LIMIT);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (opts.title !== undefined) {
    out.push(`<text x="${f(W / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`);
  }
  // grid and ticks
  const xt = niceTicks(xlo, xhi, 8).filter((t) => t >= xlo && t <= xhi);
  const yt = (logY ? logTicks(ylo, yhi) : niceTicks(ylo, yhi, 6)).filter((t) => t >= ylo && t <= yhi);
  for (const t of xt) {
    const X = px(t);
    out.push(`<line x1="${f(X)}" y1="${mT}" x2="${f(X)}" y2="${mT + ph}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${f(X)}" y1="${mT + ph}" x2="${f(X)}" y2="${mT + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${f(X)}" y="${mT + ph + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of yt) {
    const Y = py(t);
    out.push(`<line x1="${mL}" y1="${f(Y)}" x2="${mL + pw}" y2="${f(Y)}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${mL - 5}" y1="${f(Y)}" x2="${mL}" y2="${f(Y)}" stroke="black"/>`);
    out.push(`<text x="${mL - 8}" y="${f(Y + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${mL}" y="${mT}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  if (opts.xLabel !== undefined) {
    out.push(`<text x="${f(mL + pw / 2)}" y="${H - 10}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  }
  if (opts.yLabel !== undefined) {
    const cy = mT + ph / 2;
    out.push(`<text x="16" y="${f(cy)}" text-anchor="middle" transform="rotate(-90 16 ${f(cy)})">${escapeXml(opts.yLabel)}</text>`);
  }
  // lines (clipped to the plot area; gaps where points are not finite / not positive on log y)
  out.push(`<clipPath id="${escapeXml(id)}-area"><rect x="${mL}" y="${mT}" width="${pw}" height="${ph}"/></clipPath>`);
  series.forEach((s, k) => {
    const color = escapeXml(colorOf(s, k));
    const n = Math.min(s.x.length, s.y.length);
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (let i = 0; i < n; i++) {
      const x = s.x[i]!, y = s.y[i]!;
      if (!ok(x, y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${f(px(x))} ${f(py(y))}`;
      pen = true;
      if (markers[k]) dots.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3.5" fill="${color}"/>`);
    }
    if (d !== '') {
      out.push(`<g clip-path="url(#${escapeXml(id)}-area)"><title>${escapeXml(s.name)}</title>`
        + `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${dashOf(s, k)}/>${dots.join('')}</g>`);
    }
  });
  // legend, right of the data area
  const lg = layout.legend;
  if (lg) {
    const rows = Math.ceil(series.length / layout.legendColumns);
    out.push(`<rect x="${f(lg.x)}" y="${f(lg.y)}" width="${f(lg.width)}" height="${f(lg.height)}" fill="white" stroke="#999"/>`);
    series.forEach((s, k) => {
      const color = escapeXml(colorOf(s, k));
      const lx = lg.x + Math.floor(k / rows) * layout.legendColumnWidth;
      const yy = lg.y + 3 + (k % rows) * layout.legendRowHeight + layout.legendRowHeight / 2;
      out.push(`<line x1="${f(lx + 6)}" y1="${f(yy)}" x2="${f(lx + 30)}" y2="${f(yy)}" stroke="${color}" stroke-width="2"${dashOf(s, k)}/>`);
      if (markers[k]) out.push(`<circle cx="${f(lx + 18)}" cy="${f(yy)}" r="3.5" fill="${color}"/>`);
      out.push(`<text x="${f(lx + 36)}" y="${f(yy + 4)}">${escapeXml(s.name)}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
