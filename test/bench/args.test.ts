import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseBenchArgs, type BenchCommand } from '../../bench/args.js';

/** The bench scripts' shared argument parser: --help, and one-line usage errors with exit code 2. */

const REPO = fileURLToPath(new URL('../..', import.meta.url));

class Exit extends Error { constructor(readonly code: number) { super(`exit ${code}`); } }

afterEach(() => { vi.restoreAllMocks(); });

/** runs fn with process.exit, stdout and stderr captured */
function captured(fn: () => unknown): { code: number | null; out: string; err: string; value: unknown } {
  let out = '', err = '';
  vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => { throw new Exit(Number(code ?? 0)); });
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err += a.map(String).join(' ') + '\n'; });
  try {
    return { code: null, out, err, value: fn() };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, out, err, value: undefined };
    throw e;
  }
}

const command: BenchCommand = {
  about: 'A test command.',
  options: {
    batch: { type: 'string', default: '4', arg: 'N', help: 'samples' },
    patch: { type: 'string', default: '16,16,16', arg: 'X,Y,Z', help: 'patch' },
    tune: { type: 'boolean', help: 'tune first' },
    backend: { type: 'string', default: 'auto', arg: 'B', help: 'backend' },
  },
};

describe('parseBenchArgs', () => {
  it('--help prints every option with its default and exits 0', () => {
    const r = captured(() => parseBenchArgs(command, ['--help'], 'x.ts'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: npx tsx bench\/x\.ts \[options\]\n\nA test command\.\n/);
    expect(r.out).toContain('--batch N      samples (default: 4)');
    expect(r.out).toContain('--tune         tune first');
  });

  it('usage errors: one line naming the option, exit 2', () => {
    const cases: [string[], RegExp, (a: ReturnType<typeof parseBenchArgs>) => unknown][] = [
      [['--bogus'], /^x\.ts: Unknown option '--bogus' \(see --help\)\n$/, () => 0],
      [['--batch'], /^x\.ts: Option '--batch <value>' argument missing \(see --help\)\n$/, () => 0],
      [['extra'], /^x\.ts: unexpected argument 'extra' \(see --help\)\n$/, () => 0],
      [['--batch', '0'], /^x\.ts: --batch: expected an integer ≥ 1, got '0' \(see --help\)\n$/, (a) => a.int('batch')],
      [['--batch', '2.5'], /--batch: expected an integer ≥ 1, got '2\.5'/, (a) => a.int('batch')],
      [['--patch', '16,16'], /--patch: expected three positive integers like 112,112,80, got '16,16'/, (a) => a.triple('patch')],
      [['--backend', 'cuda'], /^x\.ts: --backend: unknown backend 'cuda'; valid: auto, webgpu, cpu \(see --help\)\n$/, (a) => a.backend()],
    ];
    for (const [argv, message, use] of cases) {
      const r = captured(() => use(parseBenchArgs(command, argv, 'x.ts')));
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(message);
    }
    const ok = captured(() => parseBenchArgs(command, ['--batch', '2', '--tune'], 'x.ts'));
    const a = ok.value as ReturnType<typeof parseBenchArgs>;
    expect([a.int('batch'), a.triple('patch'), a.flag('tune'), a.backend()]).toEqual([2, [16, 16, 16], true, 'auto']);
  });
});

describe('every bench script', () => {
  // each run starts node with tsx's loader: a few seconds each on a loaded 2-core machine, hence 300 s in all
  const scripts = ['dbisl-step.ts', 'inference.ts', 'kernels.ts', 'vnet-step.ts', 'layer-table.ts', 'data-pipeline.ts', 'host-overhead.ts', 'la-pack.ts'];
  const run = (script: string, ...argv: string[]) => spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}`, ...argv], { cwd: REPO, encoding: 'utf8' });

  it('has a --help (exit 0) and answers an unknown option with one line and exit 2', () => {
    for (const script of scripts) {
      const help = run(script, '--help');
      expect(help.status, `${script} --help: ${help.stderr}`).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: npx tsx bench/${script.replace('.', '\\.')}`));
      const bad = run(script, '--bogus');
      expect(bad.status, `${script} --bogus: ${bad.stderr}`).toBe(2);
      expect(bad.stderr).toBe(`${script}: Unknown option '--bogus' (see --help)\n`);
    }
  }, 300_000);
});
