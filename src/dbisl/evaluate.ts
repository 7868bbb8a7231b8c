/**
 * Test-time evaluation (la-protocol §6) of any model that returns segmentation logits: sliding window
 * (patch = the training patch, the preset's strides), σ(z) averaged over windows, threshold, largest
 * 26-connected component, medpy-exact metrics per case; CSV / Markdown / JSON reports and optional
 * prediction NIfTI files.
 *
 * As a command: `npx tsx src/dbisl/evaluate.ts --checkpoint FILE [--data DIR] [--preset P] [--out DIR]`
 * evaluates a checkpoint written by train.ts; the configuration is read from the checkpoint's metadata.
 */
import { mkdirSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend } from '../kernels/backend.js';
import { createBackend } from '../kernels/index.js';
import { setBackend } from '../tensor/backend.js';
import { sigmoid } from '../autograd/ops.js';
import { loadModel, readSafetensors } from '../models/checkpoint.js';
import { caseMetrics, summarize, type MetricsSummary } from './metrics.js';
import { predictLabel, windowGrid } from './sliding-window.js';
import { formatSummaryMarkdown, writeReport, type CaseRow } from './report.js';
import { writeNifti } from './data/nifti.js';
import type { CaseSource } from './data/volume.js';
import { reportError } from './cli-error.js';
import { CliError, defaultConfig, describeLoss, METHODS, parseEvaluateArgs, PRESETS, validateConfig, type TrainConfig } from './config.js';
import type { DualTaskModel } from './model.js';
import { createModel, makeSource, tuneConvolutions } from './trainer.js';
import { Progress, formatDuration, type ProgressStream } from './progress.js';
import { writeFileAtomic } from '../models/atomic.js';

export interface EvaluateOptions {
  config: Pick<TrainConfig, 'patch' | 'stride' | 'threshold' | 'lcc' | 'evalBatch' | 'savePredictions'>;
  /** case ids (default: the source's test split) */
  ids?: string[];
  /** folder for prediction NIfTI files when config.savePredictions */
  predictionsDir?: string;
  print?: (line: string) => void;
  /** no progress bar */
  quiet?: boolean;
  /** where the progress bar goes (default process.stderr) */
  progressStream?: ProgressStream;
}

export interface EvaluationResult {
  rows: CaseRow[];
  summary: MetricsSummary;
  /** sliding windows run */
  windows: number;
  seconds: number;
  predictionFiles: string[];
}

/** Machine line for reports: CPU model and cores, memory, OS, Node. */
export function machineDescription(): string {
  const cpu = cpus();
  return `${cpu[0]?.model.trim() ?? 'unknown CPU'} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()} ${arch()}, Node ${process.version}`;
}

/**
 * Sliding-window evaluation of the segmentation head on every case (the model is put in eval mode and
 * back in its previous mode afterwards). Deterministic: no dropout, batch norm on running statistics.
 */
export async function evaluateModel(model: DualTaskModel, source: CaseSource, options: EvaluateOptions): Promise<EvaluationResult> {
  const c = options.config;
  const ids = options.ids ?? source.testIds();
  const backend = model.module.backend;
  const wasTraining = model.module.training;
  model.module.eval();
  const t0 = performance.now();
  const rows: CaseRow[] = [];
  const predictionFiles: string[] = [];
  let windows = 0;
  let total = 0;
  for (const id of ids) {
    const k = await source.load(id);
    if (!k.label) throw new Error(`evaluate: test case '${id}' of ${source.name} has no label`);
    total += windowGrid(k.image.shape, c.patch, c.stride).count;
  }
  const bar = options.quiet ? null : new Progress('test', total, options.progressStream ? { stream: options.progressStream } : {});
  try {
    for (const id of ids) {
      const k = await source.load(id);
      const pred = await predictLabel(k.image, (batch) => sigmoid(model.forward(batch).seg), {
        backend, patch: c.patch, stride: c.stride, batchSize: c.evalBatch, threshold: c.threshold, largestCC: c.lcc,
        onProgress: (done) => { if (done > 0) bar?.update(windows + done, id); },
      });
      const g = windowGrid(k.image.shape, c.patch, c.stride);
      windows += g.count;
      rows.push({ id, ...caseMetrics(pred.data, k.label!.data, k.image.shape) });
      if (c.savePredictions && options.predictionsDir) {
        const file = join(options.predictionsDir, `${id}_pred.nii.gz`);
        mkdirSync(options.predictionsDir, { recursive: true });
        writeNifti(file, pred, { datatype: 'uint8', description: 'voxgrad dbisl prediction' });
        predictionFiles.push(file);
      }
    }
  } finally {
    bar?.done();
    model.module.train(wasTraining);
  }
  return { rows, summary: summarize(rows), windows, seconds: (performance.now() - t0) / 1000, predictionFiles };
}

/** cases.csv, summary.md, summary.json in outDir; returns the files by role. */
export async function writeEvaluation(outDir: string, ev: EvaluationResult, config: TrainConfig, backendDescription: string): Promise<Record<string, string>> {
  const { files } = await writeReport(outDir, ev.rows, {
    label: `${config.method} (${config.labeled} labeled)`,
    meta: {
      method: config.method, preset: config.preset, labeled: config.labeled, iterations: config.iterations,
      patch: config.patch, stride: config.stride, threshold: config.threshold, largestCC: config.lcc,
      windows: ev.windows, seconds: ev.seconds, backend: backendDescription, machine: machineDescription(),
    },
  });
  const out: Record<string, string> = { cases: files.csv, summaryMarkdown: files.markdown, summary: files.json };
  ev.predictionFiles.forEach((f, i) => { out[`prediction${i}`] = f; });
  return out;
}

/** What evaluation needs of a configuration (the training-only constraints are not checked). */
export function validateEvaluation(c: TrainConfig): void {
  const problems: string[] = [];
  if (c.preset !== 'synthetic' && !c.data) problems.push(`the ${c.preset} data set needs --data DIR`);
  for (let a = 0; a < 3; a++) {
    if (!(Number.isInteger(c.stride[a]) && c.stride[a]! >= 1 && c.stride[a]! <= c.patch[a]!)) {
      problems.push(`--stride ${c.stride.join(',')}: every stride must be an integer in [1, patch side ${c.patch[a]}]`);
      break;
    }
  }
  if (!(c.threshold > 0 && c.threshold < 1)) problems.push(`--threshold must be in (0, 1), got ${c.threshold}`);
  if (!(Number.isInteger(c.evalBatch) && c.evalBatch >= 1)) problems.push(`--eval-batch must be a positive integer, got ${c.evalBatch}`);
  if (problems.length) throw new CliError(problems.join('; '));
}

/** The configuration saved in a checkpoint by train.ts. */
export async function checkpointConfig(file: string): Promise<TrainConfig> {
  const f = await readSafetensors(file);
  const raw = f.metadata['voxgrad.config'];
  if (!raw) throw new Error(`${file}: no voxgrad.config in the metadata (not written by train.ts)`);
  let parsed: Partial<TrainConfig> | null;
  try {
    parsed = JSON.parse(raw) as Partial<TrainConfig> | null;
  } catch (e) {
    throw new Error(`${file}: voxgrad.config in the metadata is not valid JSON (${(e as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || !PRESETS.includes(parsed.preset!) || !METHODS.includes(parsed.method!)) {
    throw new Error(`${file}: voxgrad.config is not a DBiSL configuration (preset ${String(parsed?.preset)}, method ${String(parsed?.method)})`);
  }
  const base = defaultConfig(parsed.preset!, parsed.method!);
  const config = { ...base, ...parsed, loss: { ...base.loss, ...(parsed.loss ?? {}) }, synthetic: { ...base.synthetic, ...(parsed.synthetic ?? {}) } };
  try {
    // the checkpoint's own configuration: a corrupt one is named here, not in an allocation of the model
    validateConfig(config);
  } catch (e) {
    throw new Error(`${file}: the configuration in the checkpoint is invalid: ${(e as Error).message}`);
  }
  return config;
}

export interface EvaluateCheckpointOptions {
  checkpoint: string;
  /** overrides of the saved configuration */
  overrides?: Partial<TrainConfig>;
  out?: string;
  backend?: Backend;
  print?: (line: string) => void;
}

/** Loads a checkpoint's model and configuration, evaluates, writes the reports. */
export async function evaluateCheckpoint(o: EvaluateCheckpointOptions): Promise<{ evaluation: EvaluationResult; files: Record<string, string>; config: TrainConfig }> {
  const print = o.print ?? ((l: string) => console.log(l));
  const saved = await checkpointConfig(o.checkpoint);
  const config: TrainConfig = { ...saved, ...(o.overrides ?? {}), resume: false };
  validateEvaluation(config);
  const ownBackend = !o.backend;
  const backend = o.backend ?? await createBackend({ backend: config.backend, report: print });
  setBackend(backend);
  const model = createModel(config, backend);
  try {
    await loadModel(o.checkpoint, model.module);
    if (config.tuneConvs) await tuneConvolutions(model, backend, config, print, 'evaluation');
    const source = makeSource(config);
    const outDir = resolve(o.out ?? dirname(o.checkpoint));
    print(`evaluating ${o.checkpoint} (${config.method}, ${config.preset}, ${config.labeled} labeled) on ${source.testIds().length} test cases of ${source.name}`);
    const evaluation = await evaluateModel(model, source, { config, print, predictionsDir: join(outDir, 'predictions') });
    const files = await writeEvaluation(outDir, evaluation, config, backend.description);
    const md = [
      `# Evaluation of ${o.checkpoint}`, '',
      formatSummaryMarkdown(evaluation.summary, { label: `${config.method} (${config.labeled} labeled)` }).trimEnd(), '',
      `Sliding window ${config.patch.join('×')}, strides ${config.stride.join(', ')}, threshold ${config.threshold}, largest connected component ${config.lcc ? 'on' : 'off'}; ${evaluation.windows} windows in ${formatDuration(evaluation.seconds)}.`, '',
      `- loss of the run: ${describeLoss(config.loss)}`, `- backend: ${backend.description}`, `- machine: ${machineDescription()}`, '',
      '```json', JSON.stringify(config, null, 2), '```', '',
    ].join('\n');
    files.report = join(outDir, 'evaluation.md');
    await writeFileAtomic(files.report, md);
    return { evaluation, files, config };
  } finally {
    model.module.dispose();
    if (ownBackend) backend.dispose();
  }
}

/** The command line (exit code: 0 done, 2 usage error, 1 failure). */
export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  let parsed;
  try {
    parsed = parseEvaluateArgs(argv);
  } catch (e) {
    return reportError('evaluate', e, debug);
  }
  if (parsed.help) { process.stdout.write(parsed.text); return 0; }
  const a = parsed.args;
  const overrides: Partial<TrainConfig> = { backend: a.backend, savePredictions: a.savePredictions, tuneConvs: a.tuneConvs };
  if (a.data !== null) overrides.data = a.data;
  if (a.preset !== null) {
    overrides.preset = a.preset;
    // another data set: its strides (the patch stays the model's training patch)
    overrides.stride = defaultConfig(a.preset).stride;
  }
  if (a.stride) overrides.stride = a.stride;
  if (a.lcc !== null) overrides.lcc = a.lcc;
  if (a.threshold !== null) overrides.threshold = a.threshold;
  if (a.evalBatch !== null) overrides.evalBatch = a.evalBatch;
  try {
    const { evaluation, files } = await evaluateCheckpoint({ checkpoint: a.checkpoint, overrides, ...(a.out ? { out: a.out } : {}) });
    console.log('');
    console.log(formatSummaryMarkdown(evaluation.summary).trimEnd());
    console.log('');
    for (const [role, f] of Object.entries(files)) console.log(`${role.padEnd(16)} ${f}`);
    return 0;
  } catch (e) {
    return reportError('evaluate', e, debug);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
