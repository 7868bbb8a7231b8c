/**
 * Evaluation outputs: per-case CSV, summary Markdown table (the papers' layout: Dice and
 * Jaccard in %, 95HD and ASD in voxels, mean ± std) and JSON. All files are written atomically.
 */
import { writeFileAtomic } from '../../models/atomic.js';
import { summarize, type CaseMetrics, type MeanStd, type MetricsSummary } from '../metrics.js';
import { join } from 'node:path';

export interface CaseRow extends CaseMetrics { id: string; }

export const CSV_HEADER = 'id,dice,jaccard,hd95,asd,empty';

/** RFC 4180 quoting, only where needed. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Shortest round-trip representation; NaN / ±Infinity as `nan` / `inf` / `-inf` (numpy's spelling). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

/** `id,dice,jaccard,hd95,asd,empty`, one line per case, full precision, `\n` line ends. */
export function formatCaseCsv(rows: readonly CaseRow[]): string {
  const lines = [CSV_HEADER];
  for (const r of rows) {
    lines.push([csvField(r.id), num(r.dice), num(r.jaccard), num(r.hd95), num(r.asd), r.empty ? 'true' : 'false'].join(','));
  }
  return lines.join('\n') + '\n';
}

function pm(s: MeanStd, scale: number, digits: number): string {
  if (!Number.isFinite(s.mean)) return '–';
  return `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;
}

export interface SummaryMarkdownOptions {
  /** first column's content (e.g. the method and labelled fraction); omitted when undefined */
  label?: string;
  /** a heading line above the table */
  title?: string;
  /** decimals (default 2) */
  digits?: number;
}

/** The summary as a Markdown table: `| Dice (%) | Jaccard (%) | 95HD (voxel) | ASD (voxel) | cases |`. */
export function formatSummaryMarkdown(s: MetricsSummary, opts: SummaryMarkdownOptions = {}): string {
  const d = opts.digits ?? 2;
  const head = ['Dice (%)', 'Jaccard (%)', '95HD (voxel)', 'ASD (voxel)', 'cases'];
  const row = [pm(s.dice, 100, d), pm(s.jaccard, 100, d), pm(s.hd95, 1, d), pm(s.asd, 1, d), String(s.n)];
  if (opts.label !== undefined) { head.unshift('method'); row.unshift(opts.label.replace(/\|/g, '\\|')); }
  const lines: string[] = [];
  if (opts.title !== undefined) lines.push(`## ${opts.title}`, '');
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, `| ${row.join(' | ')} |`);
  lines.push('', 'mean ± population std (ddof 0) over the cases; distances in voxels.');
  if (s.nEmpty > 0) {
    lines.push(`${s.nEmpty} of ${s.n} case(s) had an empty prediction or reference and count as 0 on all four metrics.`);
  }
  return lines.join('\n') + '\n';
}

/** JSON document with the summary, the per-case rows and free metadata. */
export function formatSummaryJson(
  s: MetricsSummary,
  rows: readonly CaseRow[] = [],
  meta: Record<string, unknown> = {},
): string {
  return JSON.stringify({ ...meta, summary: s, cases: rows }, null, 2) + '\n';
}

export function writeCaseCsv(file: string, rows: readonly CaseRow[]): Promise<void> {
  return writeFileAtomic(file, formatCaseCsv(rows));
}

export function writeSummaryMarkdown(file: string, s: MetricsSummary, opts: SummaryMarkdownOptions = {}): Promise<void> {
  return writeFileAtomic(file, formatSummaryMarkdown(s, opts));
}

export function writeJson(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

export interface ReportFiles { csv: string; markdown: string; json: string; }

/**
 * Writes `<dir>/<prefix>cases.csv`, `<dir>/<prefix>summary.md` and `<dir>/<prefix>summary.json`
 * and returns their paths and the summary.
 */
export async function writeReport(
  dir: string,
  rows: readonly CaseRow[],
  opts: SummaryMarkdownOptions & { prefix?: string; meta?: Record<string, unknown> } = {},
): Promise<{ files: ReportFiles; summary: MetricsSummary }> {
  const p = opts.prefix ?? '';
  const files: ReportFiles = {
    csv: join(dir, `${p}cases.csv`),
    markdown: join(dir, `${p}summary.md`),
    json: join(dir, `${p}summary.json`),
  };
  const summary = summarize(rows);
  await writeCaseCsv(files.csv, rows);
  await writeSummaryMarkdown(files.markdown, summary, opts);
  await writeFileAtomic(files.json, formatSummaryJson(summary, rows, opts.meta ?? {}));
  return { files, summary };
}
