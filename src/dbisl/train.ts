/**
 * `npx tsx src/dbisl/train.ts [options]` — trains DBiSL (or DTC) and evaluates the last model on the test
 * split. With no options: the synthetic preset on the best available backend (see `--help`).
 *
 * Ctrl-C (SIGINT) or SIGTERM stops after the current iteration with a final checkpoint (a second one, a second
 * or more later, exits at once); `--resume` continues from it. The command line trains in a worker process so
 * that this holds under `npx tsx` (see supervise.ts). Exit codes: 0 done, 1 failure, 2 usage error, 3 NaN/Inf stop, 130
 * interrupted (143 after SIGTERM). Errors are one line (the stack too with --debug).
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError, TRAIN_OPTIONS, parseTrainArgs, validateConfig, type TrainConfig } from './config.js';
import { checkpointConfig } from './evaluate.js';
import { reportError } from './cli-error.js';
import { formatSummaryMarkdown } from '../imaging/report/report.js';
import { CHECKPOINT_FILE, train } from './trainer.js';
import { isWorker, superviseScript, WORKER_REPEAT_MS } from './supervise.js';

/** Options that may differ between a checkpoint's run and its resumption (everything else must match). */
const RESUMABLE: readonly string[] = TRAIN_OPTIONS.filter((s) => s.resumable).map((s) => s.name);

/**
 * With --resume and a checkpoint in the output folder: the checkpoint's configuration, plus the options given
 * on the command line that may change (RESUMABLE); any other option given must agree with it.
 */
export async function resumeConfig(cli: TrainConfig, explicit: ReadonlySet<string>): Promise<TrainConfig> {
  const file = join(resolve(cli.out), CHECKPOINT_FILE);
  if (!cli.resume || !existsSync(file)) return cli;
  const saved = await checkpointConfig(file).catch((e: unknown) => {
    throw new Error(`--resume failed: ${(e as Error).message} (the checkpoint is left as it is)`);
  });
  // the checkpoint of a run started with --overwrite: this run continues it
  const merged: TrainConfig = { ...saved, resume: true, overwrite: false, out: cli.out };
  const conflicts: string[] = [];
  for (const name of explicit) {
    const setting = TRAIN_OPTIONS.find((s) => s.name === name);
    if (!setting) continue;
    if (setting.resumable) setting.copy(cli, merged);
    else if (setting.show(cli) !== setting.show(saved)) conflicts.push(`--${name} (${setting.show(saved)} in the checkpoint, ${setting.show(cli)} given)`);
  }
  if (conflicts.length > 0) {
    throw new CliError(`--resume: ${file} was written with another configuration: ${conflicts.join(', ')}; only ${RESUMABLE.map((o) => `--${o}`).join(', ')} may change on resume`);
  }
  validateConfig(merged);
  return merged;
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  let config: TrainConfig;
  try {
    const parsed = parseTrainArgs(argv);
    if (parsed.help) { process.stdout.write(parsed.text); return 0; }
    config = await resumeConfig(parsed.config, parsed.explicit);
  } catch (e) {
    return reportError('train', e, debug);
  }

  const controller = new AbortController();
  let interrupts = 0;
  let firstSignalAt = 0;
  let exitCode = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    // a terminal's Ctrl-C reaches this process and its supervisor, which passes it on too: one signal
    if (interrupts > 0 && performance.now() - firstSignalAt < WORKER_REPEAT_MS) return;
    interrupts++;
    exitCode = signal === 'SIGTERM' ? 143 : 130;
    if (interrupts === 1) {
      firstSignalAt = performance.now();
      process.stderr.write(`\n${signal}: stopping after this iteration and writing a checkpoint (Ctrl-C again to quit at once)\n`);
      controller.abort();
    } else process.exit(exitCode);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const t0 = performance.now();
    const result = await train({ config, signal: controller.signal });
    if (result.status === 'nan') return 3;
    if (result.status === 'interrupted') return exitCode;
    const rel = (f: string) => { const r = relative(process.cwd(), f); return r.startsWith('..') ? f : r; };
    console.log('');
    if (result.evaluation) {
      console.log(`Test metrics (${result.evaluation.rows.length} cases, last model):`);
      console.log(formatSummaryMarkdown(result.evaluation.summary, { label: `${config.method} (${config.labeled} labeled)` }).trimEnd());
      console.log('');
    }
    console.log(`backend: ${result.backendDescription}`);
    console.log(`time: ${((performance.now() - t0) / 1000).toFixed(1)} s in all, ${result.secondsPerIteration.toFixed(3)} s/iteration`);
    console.log(`written to ${rel(result.outDir)}/:`);
    for (const [role, f] of Object.entries(result.files)) console.log(`  ${role.padEnd(16)} ${rel(f)}`);
    return 0;
  } catch (e) {
    return reportError('train', e, debug);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // the command line supervises a worker process that trains (see supervise.ts: signals under npx tsx)
  const run = isWorker() ? main(process.argv.slice(2)) : superviseScript(fileURLToPath(import.meta.url), process.argv.slice(2));
  run.then((code) => { process.exitCode = code; });
}
