import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Under `set -o pipefail`, a pipeline whose reader leaves early (`grep -q` at its first match, `head`) can kill the
 * writer by SIGPIPE (exit 141) and so fail although the reader found what it wanted: la-run's check failed that way
 * on an archive that held summary.json. The project's shell scripts read such output from a variable instead.
 */
const EARLY_READER = /\|\s*(grep\s+(-\w*q\w*|--quiet|--silent)\b|head\b)/;

const scripts = execFileSync('git', ['ls-files', '*.sh', '.ci/*'], { encoding: 'utf8' }).split('\n').filter(Boolean);

describe('shell scripts under pipefail', () => {
  it('finds the project\'s scripts', () => {
    expect(scripts).toContain('bench/la-run.sh');
  });

  it.each(scripts)('%s pipes into no reader that may leave early', (path) => {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('pipefail')) return;
    const offending = text.split('\n').map((line, k) => [k + 1, line] as const)
      .filter(([, line]) => !line.trimStart().startsWith('#') && EARLY_READER.test(line));
    expect(offending).toEqual([]);
  });

  it('the pattern catches the pipeline that failed', () => {
    expect(EARLY_READER.test('tar -tzf "$tmp/la-dbisl-4l.tgz" | grep -q summary.json || die "…"')).toBe(true);
    expect(EARLY_READER.test('grep -q summary.json <<<"$listing"')).toBe(false);
  });
});
