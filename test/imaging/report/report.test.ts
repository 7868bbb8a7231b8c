import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../../src/models/atomic.js';
import {
  CSV_HEADER, csvField, formatCaseCsv, formatSummaryJson, formatSummaryMarkdown, writeReport, type CaseRow,
} from '../../../src/imaging/report/report.js';
import { summarize } from '../../../src/imaging/metrics.js';

let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'voxgrad-report-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

const rows: CaseRow[] = [
  { id: 'A1', dice: 0.9, jaccard: 0.8181818181818182, hd95: 4.123105625617661, asd: 1.25, empty: false },
  { id: 'odd,"id"', dice: 0.7, jaccard: 0.5384615384615384, hd95: 8, asd: 2.75, empty: false },
  { id: 'E', dice: 0, jaccard: 0, hd95: 0, asd: 0, empty: true },
];

describe('CSV', () => {
  it('header, full-precision numbers, quoted ids', () => {
    expect(formatCaseCsv(rows)).toBe(
      [
        CSV_HEADER,
        'A1,0.9,0.8181818181818182,4.123105625617661,1.25,false',
        '"odd,""id""",0.7,0.5384615384615384,8,2.75,false',
        'E,0,0,0,0,true',
      ].join('\n') + '\n',
    );
    expect(CSV_HEADER).toBe('id,dice,jaccard,hd95,asd,empty');
    expect(csvField('plain')).toBe('plain');
    expect(formatCaseCsv([{ ...rows[0]!, hd95: NaN, asd: Infinity }])).toContain(',nan,inf,');
  });
});

describe('summary Markdown and JSON', () => {
  it('mean ± std with Dice and Jaccard in %', () => {
    const s = summarize(rows);
    const md = formatSummaryMarkdown(s, { label: 'DBiSL 10%', title: 'LA test' });
    // numpy: mean/std of dice 0.5333/0.38586, jaccard 0.45221/0.33954, hd95 4.0410/3.2665, asd 1.3333/1.1242
    expect(md).toBe(
      [
        '## LA test',
        '',
        '| method | Dice (%) | Jaccard (%) | 95HD (voxel) | ASD (voxel) | cases |',
        '|---|---|---|---|---|---|',
        '| DBiSL 10% | 53.33 ± 38.59 | 45.22 ± 33.95 | 4.04 ± 3.27 | 1.33 ± 1.12 | 3 |',
        '',
        'mean ± population std (ddof 0) over the cases; distances in voxels.',
        '1 of 3 case(s) had an empty prediction or reference and count as 0 on all four metrics.',
      ].join('\n') + '\n',
    );
    expect(formatSummaryMarkdown(s)).toContain('| Dice (%) | Jaccard (%) | 95HD (voxel) | ASD (voxel) | cases |');
    const j = JSON.parse(formatSummaryJson(s, rows, { method: 'dbisl' })) as { method: string; summary: { n: number; dice: { mean: number } }; cases: CaseRow[] };
    expect(j.method).toBe('dbisl');
    expect(j.summary.n).toBe(3);
    expect(j.summary.dice.mean).toBe(s.dice.mean);
    expect(j.cases[1]!.id).toBe('odd,"id"');
  });

  it('writeReport writes the three files', async () => {
    const { files, summary } = await writeReport(join(dir, 'rep'), rows, { prefix: 'la10_', meta: { seed: 1337 } });
    expect(summary.n).toBe(3);
    expect(readFileSync(files.csv, 'utf8')).toBe(formatCaseCsv(rows));
    expect(readFileSync(files.markdown, 'utf8')).toBe(formatSummaryMarkdown(summary));
    expect((JSON.parse(readFileSync(files.json, 'utf8')) as { seed: number }).seed).toBe(1337);
    expect(readdirSync(join(dir, 'rep')).sort()).toEqual(['la10_cases.csv', 'la10_summary.json', 'la10_summary.md']);
  });
});

describe('atomic writes', () => {
  it('async: replaces the file, chunks in order', async () => {
    const f = join(dir, 'a.txt');
    await writeFileAtomic(f, 'old');
    expect(readFileSync(f, 'utf8')).toBe('old');
    await writeFileAtomic(f, (w) => { w('n'); w(new TextEncoder().encode('e')); w('w'); });
    expect(readFileSync(f, 'utf8')).toBe('new');
    await writeFileAtomic(f, Uint8Array.of(65, 66));
    expect(readFileSync(f, 'utf8')).toBe('AB');
  });

  it('async: a throwing write leaves the old file and no temporary file', async () => {
    const f = join(dir, 'b.txt');
    writeFileSync(f, 'old content');
    await expect(writeFileAtomic(f, async (w) => {
      w('partial new content');
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(readFileSync(f, 'utf8')).toBe('old content');
    expect(readdirSync(dirname(f)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('sync: same guarantees', () => {
    const f = join(dir, 'c', 'nested.txt'); // parent created on demand
    writeFileAtomicSync(f, 'old');
    expect(() => writeFileAtomicSync(f, (w) => { w('half'); throw new Error('boom'); })).toThrow('boom');
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(dirname(f)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    writeFileAtomicSync(f, (w) => { w('a'); w('b'); });
    expect(readFileSync(f, 'utf8')).toBe('ab');
  });
});
