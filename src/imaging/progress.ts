/**
 * A progress bar for long work (training iterations, windows, cases), written to stderr.
 * On a TTY: one line redrawn in place — label, bar, done/total, rate it/s, ETA, free suffix.
 * Otherwise: plain log lines every `logEvery` items or every `logIntervalMs`, whichever first,
 * and a final line at `done()`.
 */

/** The part of a writable stream the bar uses (process.stderr fits). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** default process.stderr */
  stream?: ProgressStream;
  /** force TTY / log mode (default: the stream's isTTY) */
  tty?: boolean;
  /** log mode: a line every this many items (default max(1, round(total / 20))) */
  logEvery?: number;
  /** log mode: a line at least this often while ticking (default 30 000 ms) */
  logIntervalMs?: number;
  /** TTY mode: minimum time between redraws (default 100 ms) */
  redrawMs?: number;
  /** bar width in characters (default 24) */
  barWidth?: number;
  /** clock in ms (default performance.now) */
  now?: () => number;
}

/** h:mm:ss or m:ss. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const p2 = (v: number): string => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${p2(m)}:${p2(r)}` : `${m}:${p2(r)}`;
}

export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec) || perSec <= 0) return '? it/s';
  if (perSec >= 1) return `${perSec >= 100 ? perSec.toFixed(0) : perSec.toFixed(2)} it/s`;
  return `${(1 / perSec).toFixed(2)} s/it`;
}

export class Progress {
  readonly label: string;
  readonly total: number;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly logEvery: number;
  private readonly logIntervalMs: number;
  private readonly redrawMs: number;
  private readonly barWidth: number;
  private readonly now: () => number;
  private readonly t0: number;
  private cur = 0;
  private suffix = '';
  private lastDraw = -Infinity;
  private lastLogCount = 0;
  private lastLogTime: number;
  private finished = false;

  constructor(label: string, total: number, opts: ProgressOptions = {}) {
    this.label = label;
    this.total = Math.max(0, total);
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? this.stream.isTTY === true;
    this.logEvery = Math.max(1, Math.floor(opts.logEvery ?? Math.round(this.total / 20)));
    this.logIntervalMs = opts.logIntervalMs ?? 30_000;
    this.redrawMs = opts.redrawMs ?? 100;
    this.barWidth = opts.barWidth ?? 24;
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.lastLogTime = this.t0;
  }

  /** items done so far */
  get current(): number { return this.cur; }

  /** Advance by n items (default 1); `suffix` replaces the free-form tail (e.g. losses). */
  tick(n = 1, suffix?: string): void {
    this.update(this.cur + n, suffix);
  }

  /** Set the absolute count. */
  update(count: number, suffix?: string): void {
    if (this.finished) return;
    this.cur = count;
    if (suffix !== undefined) this.suffix = suffix;
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw >= this.redrawMs || this.cur >= this.total) {
        this.lastDraw = t;
        this.draw(t);
      }
    } else if (this.cur - this.lastLogCount >= this.logEvery || t - this.lastLogTime >= this.logIntervalMs) {
      this.lastLogCount = this.cur;
      this.lastLogTime = t;
      this.stream.write(this.line(t) + '\n');
    }
  }

  /** Final line (TTY: redraw and newline). Further ticks are ignored. */
  done(suffix?: string): void {
    if (this.finished) return;
    if (suffix !== undefined) this.suffix = suffix;
    const t = this.now();
    if (this.tty) {
      this.draw(t);
      this.stream.write('\n');
    } else if (this.cur !== this.lastLogCount || this.cur === 0) {
      this.stream.write(this.line(t) + '\n');
    }
    this.finished = true;
  }

  /** The status text at time t (ms, on the options' clock). */
  line(t = this.now(), withBar = false): string {
    const el = (t - this.t0) / 1000;
    const rate = el > 0 ? this.cur / el : NaN;
    const left = this.total - this.cur;
    const eta = this.cur >= this.total ? 0 : rate > 0 ? left / rate : NaN;
    const frac = this.total > 0 ? Math.min(1, this.cur / this.total) : 1;
    const parts = [this.label];
    if (withBar) {
      const full = Math.round(frac * this.barWidth);
      parts.push(`[${'#'.repeat(full)}${'.'.repeat(this.barWidth - full)}]`);
    }
    const w = String(this.total).length;
    parts.push(`${String(this.cur).padStart(w)}/${this.total}`);
    if (!withBar) parts.push(`(${(frac * 100).toFixed(0)}%)`);
    parts.push(formatRate(rate), `elapsed ${formatDuration(el)}`, `eta ${formatDuration(eta)}`);
    if (this.suffix !== '') parts.push(this.suffix);
    return parts.join(' ');
  }

  private draw(t: number): void {
    let s = this.line(t, true);
    const cols = this.stream.columns;
    if (cols !== undefined && cols > 10 && s.length > cols - 1) s = s.slice(0, cols - 1);
    this.stream.write(`\r${s}\x1b[K`);
  }
}

/** Shorthand for `new Progress(label, total, opts)`. */
export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  return new Progress(label, total, opts);
}
