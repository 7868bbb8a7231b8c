/**
 * The command line of the bench scripts: node's parseArgs with a --help built from the option list, and usage
 * errors (an unknown option, a missing or malformed value) as one line on stderr with exit code 2.
 */
import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseBackendChoice, type BackendChoice } from '../src/kernels/index.js';

export interface BenchOption {
  type: 'string' | 'boolean';
  default?: string;
  /** the value's placeholder in the help, e.g. 'N' or 'X,Y,Z' */
  arg?: string;
  help: string;
}

export interface BenchCommand {
  /** what the script measures (the help's first line) */
  about: string;
  options: Record<string, BenchOption>;
  /** names of required positional arguments, in order */
  positionals?: string[];
}

export class BenchArgs {
  constructor(readonly program: string, private readonly values: Record<string, string | boolean | undefined>, readonly positionals: string[]) {}

  /** Prints one line and exits with code 2 (a usage error). */
  fail(message: string): never {
    console.error(`${this.program}: ${message} (see --help)`);
    process.exit(2);
  }

  /** a string option (undefined when absent and without a default) */
  string(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** an integer option ≥ min */
  int(name: string, min = 1): number {
    const raw = this.string(name);
    const n = Number(raw);
    if (raw === undefined || raw.trim() === '' || !Number.isSafeInteger(n) || n < min) this.fail(`--${name}: expected an integer ≥ ${min}, got '${raw}'`);
    return n;
  }

  /** a comma-separated list of integers ≥ min (undefined when absent) */
  ints(name: string, min = 1): number[] | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const list = raw.split(',').map((s) => Number(s.trim()));
    if (!list.every((n) => Number.isSafeInteger(n) && n >= min)) this.fail(`--${name}: expected integers ≥ ${min} separated by commas, got '${raw}'`);
    return list;
  }

  /** three positive integers X,Y,Z */
  triple(name: string): [number, number, number] {
    const list = this.ints(name) ?? [];
    if (list.length !== 3) this.fail(`--${name}: expected three positive integers like 112,112,80, got '${this.string(name)}'`);
    return list as [number, number, number];
  }

  backend(name = 'backend'): BackendChoice {
    try {
      return parseBackendChoice(this.string(name), `--${name}`);
    } catch (e) {
      return this.fail((e as Error).message);
    }
  }
}

/** The help text of a command. */
export function benchHelp(program: string, c: BenchCommand): string {
  const rows = Object.entries(c.options).map(([name, o]) => [
    `--${name}${o.type === 'string' ? ` ${o.arg ?? 'V'}` : ''}`, `${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ''}`,
  ] as const);
  rows.push(['--help', 'print this help']);
  const w = Math.max(...rows.map(([f]) => f.length));
  const usage = ['Usage: npx tsx', `bench/${program}`, ...(c.positionals ?? []).map((p) => `<${p}>`), ...(rows.length > 1 ? ['[options]'] : [])];
  return [usage.join(' '), '',
    c.about, '', ...rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`)].join('\n') + '\n';
}

/** Parses the script's arguments: --help prints the help and exits 0; a usage error exits 2 with one line. */
export function parseBenchArgs(c: BenchCommand, argv: readonly string[] = process.argv.slice(2), program = basename(process.argv[1] ?? 'bench')): BenchArgs {
  if (argv.includes('--help')) {
    process.stdout.write(benchHelp(program, c));
    process.exit(0);
  }
  const options = Object.fromEntries(Object.entries(c.options).map(([name, o]) => [name, o.default !== undefined ? { type: o.type, default: o.default } : { type: o.type }]));
  const fail = (message: string): never => new BenchArgs(program, {}, []).fail(message);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: options as ParseArgsConfig['options'], allowPositionals: true, strict: true });
  } catch (e) {
    // node's messages: "Unknown option '--x'. To specify a positional argument starting with a '-', …"
    return fail((e as Error).message.split('. ')[0]!);
  }
  const wanted = c.positionals ?? [];
  if (parsed.positionals.length !== wanted.length) {
    fail(wanted.length === 0 ? `unexpected argument '${parsed.positionals[0]}'` : `expected ${wanted.map((p) => `<${p}>`).join(' ')}, got ${parsed.positionals.length} arguments`);
  }
  return new BenchArgs(program, parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
}
