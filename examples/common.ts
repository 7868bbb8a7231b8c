/**
 * What the examples share, written against the public entries only: the command line (options with
 * defaults, --help, one-line errors with exit status 2), the backend, the U-Net's --features, the output folder
 * (checkpoint, loss plot) and the last line of a run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBackend, Module, parseBackendChoice, saveModel, setBackend, writeFileAtomic, type Backend, type Tensor } from 'voxgrad';
import { linePlot, type Progress } from 'voxgrad/imaging';

// ------------------------------------------------------------------------------------------ command line

/** A usage error: printed as one line, exit status 2. */
export class UsageError extends Error {}

export interface OptionSpec {
  /** the default, which also fixes the type: a number (integer when `integer`), a string, or a flag (false: given without a value) */
  value: number | string | boolean;
  help: string;
  integer?: boolean;
  /** allowed values of a string option */
  choices?: readonly string[];
  /** the smallest allowed number (inclusive) */
  min?: number;
}

export type OptionValues<S extends Record<string, OptionSpec>> = {
  [K in keyof S]: S[K]['value'] extends number ? number : S[K]['value'] extends boolean ? boolean : string
};

function helpText(command: string, summary: string, specs: Record<string, OptionSpec>): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const choices = s.choices ? ` (${s.choices.join(' | ')})` : '';
    return typeof s.value === 'boolean' ? `  --${name.padEnd(16)} ${s.help}` : `  --${name.padEnd(16)} ${s.help}${choices}; default ${s.value}`;
  });
  return `${summary}\n\nUsage: npx tsx ${command} [options]\n\nOptions:\n${rows.join('\n')}\n  --help             this text\n`;
}

/** Parses argv against the specs: the values, or null after printing the help; throws UsageError on a bad option. */
export function parseOptions<S extends Record<string, OptionSpec>>(command: string, summary: string, specs: S,
  argv: readonly string[]): OptionValues<S> | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv], strict: true, allowPositionals: false,
      options: {
        help: { type: 'boolean' },
        ...Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, { type: typeof s.value === 'boolean' ? 'boolean' as const : 'string' as const }])),
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  if (parsed.values.help) { process.stdout.write(helpText(command, summary, specs)); return null; }
  const out: Record<string, number | string | boolean> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    if (raw === undefined) { out[name] = spec.value; continue; }
    if (typeof spec.value === 'boolean') { out[name] = raw === true; continue; }
    if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value`);
    if (typeof spec.value === 'string') {
      if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`--${name} '${raw}' is not one of ${spec.choices.join(', ')}`);
      out[name] = raw;
      continue;
    }
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
    if (spec.integer && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got '${raw}'`);
    if (spec.min !== undefined && v < spec.min) throw new UsageError(`--${name} must be at least ${spec.min}, got ${raw}`);
    out[name] = v;
  }
  return out as OptionValues<S>;
}

/** Runs an example's main with its exit status: 0 done, 2 usage error (one line on stderr), 1 anything else. */
export function runExample(name: string, main: (argv: readonly string[]) => Promise<void>): void {
  main(process.argv.slice(2)).then(() => { process.exitCode = 0; }, (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`${name}: ${e.message} (see --help)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      // at once: a WebGPU device still open would keep the process alive
      process.exit(1);
    }
  });
}

export const BACKEND_OPTION: OptionSpec = { value: 'auto', choices: ['auto', 'webgpu', 'cpu'], help: 'compute backend' };

/** The backend the option names, made the current one; its one-line description goes to stderr. */
export async function useBackend(choice: string): Promise<Backend> {
  const backend = await createBackend({ backend: parseBackendChoice(choice, '--backend'), report: (l) => process.stderr.write(`${l}\n`) });
  setBackend(backend);
  return backend;
}

// ------------------------------------------------------------------------------------------------ U-Net

// the U-Net is the package's own (`UNet` of 'voxgrad'), so that a project that installs voxgrad has it too
export { UNet, type UNetOptions, type UpsampleMode } from 'voxgrad';

/** --features (U-Net channels per level, finest first) checked against --size, which every level must halve */
export function unetFeatures(text: string, size: number): number[] {
  const features = text.split(',').map((v) => Number(v));
  if (features.length < 2 || features.some((f) => !Number.isInteger(f) || f < 1)) {
    throw new UsageError(`--features must be two or more positive integers separated by commas, got '${text}'`);
  }
  const factor = 2 ** (features.length - 1);
  if (size % factor !== 0) throw new UsageError(`--size ${size} must be divisible by ${factor} (${features.length} levels)`);
  return features;
}

// ------------------------------------------------------------------------------------------ training loop

/**
 * Reads and disposes iteration `iteration`'s (1-based) one-element loss, stops the run on a non-finite one, adds it to
 * `losses` and shows it with the learning rate on the progress bar.
 */
export async function recordLoss(loss: Tensor, iteration: number, lr: number, losses: number[], bar: Progress): Promise<void> {
  const value = (await loss.toArray())[0]!;
  loss.dispose();
  if (!Number.isFinite(value)) throw new Error(`the loss is ${value} at iteration ${iteration}`);
  losses.push(value);
  bar.update(iteration, `loss ${value.toFixed(4)} lr ${lr.toPrecision(3)}`);
}

// ------------------------------------------------------------------------------------------ output folder

export interface RunFiles { checkpoint: string; lossPlot: string }

/** Creates the output folder and names the files a run writes there. */
export function outputFolder(dir: string): RunFiles {
  mkdirSync(dir, { recursive: true });
  return { checkpoint: join(dir, 'model.safetensors'), lossPlot: join(dir, 'loss.svg') };
}

/** The checkpoint (safetensors with the options as metadata) and the SVG of the loss per iteration. */
export async function saveRun(files: RunFiles, model: Module, options: Record<string, number | string | boolean>, title: string,
  losses: readonly number[]): Promise<void> {
  await saveModel(files.checkpoint, model, Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)])));
  const x = losses.map((_, i) => i + 1);
  await writeFileAtomic(files.lossPlot, linePlot([{ name: 'training loss', x, y: losses }], { title, xLabel: 'iteration', yLabel: 'loss' }));
}

/** The last line of a run: the metric at initialisation and at the end, and whether it improved. */
export function finalLine(metric: string, before: number, after: number, higherIsBetter: boolean): string {
  const round = (v: number) => Number(v.toPrecision(6));
  return JSON.stringify({ metric, before: round(before), after: round(after), better: higherIsBetter ? after > before : after < before });
}
