/**
 * The README's LA table from the runs under results/la (issue 13): each folder that bench/la-run.sh collected
 * (`<method>-<N>l`, or the LA_RUN_NAME of a second seed or an ablation such as `dbisl-8l-k500`; summary.json as the
 * trainer wrote it, commit.txt) becomes a row with our Dice, Jaccard,
 * 95HD and ASD (mean ± std over the test cases), the published numbers of the same method and label count
 * (../shared/spec/la-protocol.md §8; DBiSL's paper gives Dice only), the gap in Dice, the card, the training's
 * wall time and time per iteration, and the commit.
 *
 *   npx tsx bench/la-table.ts [--dir results/la]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBenchArgs } from './args.js';

/** Dice % / Jaccard % / 95HD / ASD as published (last checkpoint); null where the paper gives none */
type Published = readonly [number, number | null, number | null, number | null];

/** la-protocol §8: DTC (Luo et al., AAAI 2021); DBiSL's reported Dice (dbisl.md) */
export const PUBLISHED: Readonly<Record<string, Published>> = {
  'dtc-8l': [87.51, 78.17, 8.23, 2.36],
  'dtc-16l': [89.42, 80.98, 7.32, 2.10],
  'dbisl-4l': [84.62, null, null, null],
  'dbisl-8l': [88.78, null, null, null],
  'dbisl-16l': [90.54, null, null, null],
  'dbisl-40l': [91.84, null, null, null],
};

interface MeanStd { mean: number; std: number }

/** what the table reads of a run's summary.json */
interface RunSummary {
  method: string;
  labeled: number;
  iterations: number;
  backend: string;
  summary: { n: number; nEmpty: number; dice: MeanStd; jaccard: MeanStd; hd95: MeanStd; asd: MeanStd };
  training?: { seconds: number; secondsPerIteration: number; processes: number };
}

const percent = (m: MeanStd): string => `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}`;
const plain = (m: MeanStd): string => `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)}`;
const orDash = (v: number | null): string => (v === null ? '—' : v.toFixed(2));

function minutes(seconds: number): string {
  const m = Math.floor(seconds / 60), s = Math.round(seconds - 60 * m);
  return `${m} min ${String(s).padStart(2, '0')} s`;
}

/** One Markdown row of the run in folder `name`, beside the published numbers of its method and label count. */
export function tableRow(name: string, run: RunSummary, commit: string): string {
  const s = run.summary, p = PUBLISHED[`${run.method}-${run.labeled}l`];
  const published = p ? `${p[0].toFixed(2)} / ${orDash(p[1])} / ${orDash(p[2])} / ${orDash(p[3])}` : '—';
  const gap = p ? `${(100 * s.dice.mean - p[0]) >= 0 ? '+' : '−'}${Math.abs(100 * s.dice.mean - p[0]).toFixed(2)}` : '—';
  const t = run.training;
  const time = t ? `${minutes(t.seconds)}${t.processes > 1 ? ` (${t.processes} processes)` : ''}` : '—';
  const perIteration = t ? `${(1000 * t.secondsPerIteration).toFixed(1)} ms` : '—';
  const empty = s.nEmpty > 0 ? ` (${s.nEmpty} empty)` : '';
  return `| ${name} | ${run.iterations} | ${s.n}${empty} | **${percent(s.dice)}** | ${percent(s.jaccard)} | ${plain(s.hd95)} | ${plain(s.asd)} | ${published} | ${gap} | ${run.backend} | ${time} | ${perIteration} | ${commit} |`;
}

export const TABLE_HEADER = [
  '| run | iterations | test cases | Dice % | Jaccard % | 95HD (voxels) | ASD (voxels) | published: Dice / Jaccard / 95HD / ASD | Dice − published | card | training | per iteration | commit |',
  '|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---|',
];

/** The table of every run folder under dir (sorted by name), or a line saying there is none. */
export function laTable(dir: string): string {
  const runs = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'summary.json'))) : [];
  if (runs.length === 0) return `no run under ${dir} (each run is a folder such as dbisl-8l with the summary.json that bench/la-run.sh collects)`;
  const rows = runs.map((d) => d.name).sort().map((name) => {
    const folder = join(dir, name);
    let run: RunSummary;
    try {
      run = JSON.parse(readFileSync(join(folder, 'summary.json'), 'utf8')) as RunSummary;
    } catch (e) {
      throw new Error(`${join(folder, 'summary.json')}: not valid JSON (${(e as Error).message})`);
    }
    if (!run.summary?.dice) throw new Error(`${join(folder, 'summary.json')}: no summary.dice (not written by train.ts)`);
    const commitFile = join(folder, 'commit.txt');
    return tableRow(name, run, existsSync(commitFile) ? readFileSync(commitFile, 'utf8').trim() : '—');
  });
  return [...TABLE_HEADER, ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseBenchArgs({
    about: 'The README\'s LA table (ours beside the published numbers) from the runs under --dir.',
    options: { dir: { type: 'string', default: 'results/la', arg: 'DIR', help: 'the folder of the collected runs (<run>/summary.json)' } },
  }, process.argv.slice(2), 'la-table.ts');
  try {
    console.log(laTable(args.string('dir')!));
  } catch (e) {
    console.error(`la-table.ts: ${(e as Error).message}`);
    process.exit(1);
  }
}
