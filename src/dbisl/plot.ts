/**
 * Tiny dependency-free SVG line plots (training curves): several named series over iteration,
 * axes with ticks and labels, a legend, optional logarithmic y axis. Returns the SVG as a string.
 */

export interface Series {
  name: string;
  /** x values (e.g. iterations); same length as `y` */
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** CSS colour; a fixed palette is used when omitted */
  color?: string;
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
  /** fixed y range (defaults to the data's) */
  yMin?: number;
  yMax?: number;
}

export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

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
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const out: number[] = [];
  const start = Math.ceil(lo / step - 1e-9);
  for (let i = start; i * step <= hi + step * 1e-9; i++) out.push(+(i * step).toPrecision(12));
  return out;
}

/** Powers of ten within [lo, hi] (both > 0); falls back to nice linear ticks inside one decade. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.ceil(Math.log10(lo) - 1e-9), b = Math.floor(Math.log10(hi) + 1e-9);
  if (b - a >= 1) {
    const out: number[] = [];
    const every = Math.max(1, Math.ceil((b - a + 1) / 8));
    for (let e = a; e <= b; e += every) out.push(Number(`1e${e}`)); // exact decimal, unlike 10 ** e
    return out;
  }
  return niceTicks(lo, hi, 4).filter((t) => t > 0);
}

/** Compact tick label. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const av = Math.abs(v);
  if (av >= 1e5 || av < 1e-3) {
    const [m, e] = v.toExponential(2).split('e') as [string, string];
    const mm = m.replace(/\.?0+$/, '');
    return `${mm}e${e.replace('+', '')}`;
  }
  return String(+v.toPrecision(6));
}

/** An SVG line plot of the series. */
export function linePlot(series: readonly Series[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 720, H = opts.height ?? 420;
  const logY = opts.logY ?? false;
  const mL = 72, mR = 16, mT = opts.title !== undefined ? 36 : 16, mB = 52;
  const legendH = 18;
  const pw = W - mL - mR, ph = H - mT - mB;

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
  if (opts.yMin !== undefined) ylo = opts.yMin;
  if (opts.yMax !== undefined) yhi = opts.yMax;
  const hasData = Number.isFinite(xlo) && Number.isFinite(ylo) && Number.isFinite(xhi) && Number.isFinite(yhi);
  if (!hasData) { xlo = 0; xhi = 1; ylo = logY ? 1 : 0; yhi = logY ? 10 : 1; }
  if (logY && !(yhi > 0)) yhi = 10;
  if (logY && !(ylo > 0)) ylo = Math.min(1, yhi / 10);
  if (xhi === xlo) { xlo -= 0.5; xhi += 0.5; }
  if (yhi === ylo) {
    if (logY) { ylo /= 2; yhi *= 2; } else { const d = Math.abs(ylo) * 0.1 || 0.5; ylo -= d; yhi += d; }
  }
  const ty = (y: number): number => (logY ? Math.log10(y) : y);
  const tylo = ty(ylo), tyhi = ty(yhi);
  const px = (x: number): number => mL + ((x - xlo) / (xhi - xlo)) * pw;
  const py = (y: number): number => mT + ph - ((ty(y) - tylo) / (tyhi - tylo)) * ph;
  const f = (v: number): string => v.toFixed(2);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (opts.title !== undefined) {
    out.push(`<text x="${f(W / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`);
  }
  // grid and ticks
  const xt = niceTicks(xlo, xhi, 8);
  const yt = logY ? logTicks(ylo, yhi) : niceTicks(ylo, yhi, 6);
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
  out.push(`<clipPath id="plotarea"><rect x="${mL}" y="${mT}" width="${pw}" height="${ph}"/></clipPath>`);
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    const n = Math.min(s.x.length, s.y.length);
    let d = '';
    let pen = false;
    for (let i = 0; i < n; i++) {
      const x = s.x[i]!, y = s.y[i]!;
      if (!ok(x, y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${f(px(x))} ${f(py(y))}`;
      pen = true;
    }
    if (d !== '') {
      out.push(`<path d="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="1.5" clip-path="url(#plotarea)"><title>${escapeXml(s.name)}</title></path>`);
    }
  });
  // legend (top right, inside the plot)
  if (series.length > 0) {
    const lw = Math.max(...series.map((s) => s.name.length)) * 7 + 34;
    const lx = mL + pw - lw - 8, ly = mT + 8;
    out.push(`<rect x="${f(lx)}" y="${ly}" width="${f(lw)}" height="${series.length * legendH + 6}" fill="white" fill-opacity="0.85" stroke="#999"/>`);
    series.forEach((s, k) => {
      const color = s.color ?? PALETTE[k % PALETTE.length]!;
      const yy = ly + 4 + k * legendH + legendH / 2;
      out.push(`<line x1="${f(lx + 6)}" y1="${f(yy)}" x2="${f(lx + 24)}" y2="${f(yy)}" stroke="${escapeXml(color)}" stroke-width="2"/>`);
      out.push(`<text x="${f(lx + 30)}" y="${f(yy + 4)}">${escapeXml(s.name)}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
