import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { train } from '../../src/dbisl/trainer.js';
import { laTable, TABLE_HEADER } from '../../bench/la-table.js';
import { tinyTrainConfig } from '../helpers/tiny-train.js';

const root = mkdtempSync(join(tmpdir(), 'la-table-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('bench/la-table.ts', () => {
  it('a row per collected run from the summary.json the trainer writes, beside the published numbers', async () => {
    const dir = join(root, 'la');
    const out = join(dir, 'dtc-8l');
    const r = await train({
      config: tinyTrainConfig(out, {
        method: 'dtc', figures: false, labeled: 8, synthetic: { count: 9, testCount: 1, shape: [20, 18, 16], seed: 3 },
      }), backend: new CpuBackend(),
      print: () => {}, progressStream: { write: () => true, isTTY: false },
    });
    writeFileSync(join(out, 'commit.txt'), 'abc1234\n');
    const lines = laTable(dir).split('\n');
    expect(lines.slice(0, 2)).toEqual(TABLE_HEADER);
    expect(lines).toHaveLength(3);
    const cells = lines[2]!.split('|').map((c) => c.trim());
    const s = r.evaluation!.summary;
    expect(cells[1]).toBe('dtc-8l');
    expect(cells[2]).toBe('4');
    expect(cells[4]).toBe(`**${(100 * s.dice.mean).toFixed(2)} ± ${(100 * s.dice.std).toFixed(2)}**`);
    expect(cells[6]).toBe(`${s.hd95.mean.toFixed(2)} ± ${s.hd95.std.toFixed(2)}`);
    expect(cells[8]).toBe('87.51 / 78.17 / 8.23 / 2.36');
    const gap = 100 * s.dice.mean - 87.51;
    expect(cells[9]).toBe(`${gap >= 0 ? '+' : '−'}${Math.abs(gap).toFixed(2)}`);
    expect(cells[10]).toBe(r.backendDescription);
    expect(cells[12]).toBe(`${(1000 * r.secondsPerIteration).toFixed(1)} ms`);
    expect(cells[13]).toBe('abc1234');
  });

  it('a second seed or an ablation (LA_RUN_NAME) is compared with the published numbers of its method and labels', () => {
    const dir = join(root, 'variants');
    const stats = { mean: 0.5, std: 0.25 };
    const summary = (method: string, labeled: number) => JSON.stringify({
      method, labeled, iterations: 6000, backend: 'some card',
      summary: { n: 20, nEmpty: 0, dice: { mean: 0.88, std: 0.02 }, jaccard: stats, hd95: stats, asd: stats },
    });
    for (const [name, method, labeled] of [['dbisl-8l-k500', 'dbisl', 8], ['dtc-16l-seed2', 'dtc', 16], ['dtc-5l', 'dtc', 5]] as const) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'summary.json'), summary(method, labeled));
    }
    const rows = laTable(dir).split('\n').slice(2).map((line) => line.split('|').map((c) => c.trim()));
    expect(rows.map((c) => [c[1], c[8], c[9]])).toEqual([
      ['dbisl-8l-k500', '88.78 / — / — / —', '−0.78'],
      ['dtc-16l-seed2', '89.42 / 80.98 / 7.32 / 2.10', '−1.42'],
      ['dtc-5l', '—', '—'],
    ]);
  });

  it('says so when there is no run, and names a corrupt summary.json', () => {
    expect(laTable(join(root, 'none'))).toMatch(/^no run under /);
    const bad = join(root, 'bad', 'dbisl-8l');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'summary.json'), '{"summary":');
    expect(() => laTable(join(root, 'bad'))).toThrow(/dbisl-8l\/summary\.json: not valid JSON/);
  });
});
