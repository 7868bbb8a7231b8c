/**
 * Test-time evaluation (la-protocol §6) of any model that returns segmentation logits: sliding window
 * (patch = the training patch, the preset's strides), σ(z) averaged over windows, threshold, largest
 * 26-connected component, medpy-exact metrics per case; CSV / Markdown / JSON reports and optional
 * prediction NIfTI files; per-case overlay PNGs and report.html with a slice viewer per case (see figures.ts,
 * html-report.ts) unless `--no-figures`.
 *
 * As a command: `npx tsx src/dbisl/evaluate.ts --checkpoint FILE [--data DIR] [--preset P] [--out DIR]`
 * evaluates a checkpoint written by train.ts; the configuration is read from the checkpoint's metadata.
 * `--figures-only --cases ID,ID` evaluates only those cases and writes only their overlay PNGs.
 */
import { mkdirSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend } from '../kernels/backend.js';
import { createBackend } from '../kernels/index.js';
import { setBackend } from '../tensor/backend.js';
import { sigmoid } from '../autograd/ops.js';
import { loadModel, readSafetensors } from '../models/checkpoint.js';
import { caseMetrics, summarize, type MetricsSummary } from '../imaging/metrics.js';
import { predictLabel, windowGrid } from '../imaging/sliding-window.js';
import { formatSummaryMarkdown, writeReport, type CaseRow } from '../imaging/report/report.js';
import { writeNifti } from '../imaging/io/nifti.js';
import type { Case, CaseSource } from '../imaging/volume.js';
import { DataPipeline } from '../imaging/data/pipeline.js';
import { reportError } from './cli-error.js';
import { CliError, defaultConfig, describeLoss, METHODS, parseEvaluateArgs, PRESETS, validateConfig, type TrainConfig } from './config.js';
import { checkHeadLayout, type DualTaskModel } from './model.js';
import { createModel, makeSource, tuneConvolutions } from './setup.js';
import { Progress, formatDuration, type ProgressStream } from '../imaging/progress.js';
import { writeFileAtomic } from '../models/atomic.js';
import { bestMedianWorst, caseVolumes, PREDICTION_COLOR, REFERENCE_COLOR, rgbHex, writeOverlayFigures, type CaseVolumes } from '../imaging/report/figures.js';
import { embeddingSummary, writeHtmlReport } from '../imaging/report/html-report.js';

export interface EvaluateOptions {
  config: Pick<TrainConfig, 'patch' | 'stride' | 'threshold' | 'lcc' | 'evalBatch' | 'savePredictions'>;
  /** case ids (default: the source's test split) */
  ids?: string[];
  /** keep each case's windowed image, reference and prediction in the result (for figures and report.html) */
  keepVolumes?: boolean;
  /** folder for prediction NIfTI files when config.savePredictions */
  predictionsDir?: string;
  print?: (line: string) => void;
  /** no progress bar */
  quiet?: boolean;
  /** where the progress bar goes (default process.stderr) */
  progressStream?: ProgressStream;
  /** how a case is loaded (default source.load; the trainer and evaluateCheckpoint pass a DataPipeline's loadCase) */
  loadCase?: (id: string) => Promise<Case>;
}

export interface EvaluationResult {
  rows: CaseRow[];
  summary: MetricsSummary;
  /** sliding windows run */
  windows: number;
  seconds: number;
  predictionFiles: string[];
  /** per case, with `keepVolumes` (else empty) */
  volumes: CaseVolumes[];
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
  const volumes: CaseVolumes[] = [];
  let windows = 0;
  let total = 0;
  const load = options.loadCase ?? ((id: string) => source.load(id));
  // every case's shape first (the progress bar's total); with data workers the cases decode in parallel
  const loads = ids.map((id) => load(id));
  for (const p of loads) p.catch(() => { /* reported when awaited below */ });
  for (const [i, p] of loads.entries()) {
    const k = await p;
    if (!k.label) throw new Error(`evaluate: test case '${ids[i]}' of ${source.name} has no label`);
    total += windowGrid(k.image.shape, c.patch, c.stride).count;
  }
  loads.length = 0;
  const bar = options.quiet ? null : new Progress('test', total, options.progressStream ? { stream: options.progressStream } : {});
  try {
    // the next case loads (in a data worker) while this one is inferred
    let next = ids.length > 0 ? load(ids[0]!) : null;
    for (const [i, id] of ids.entries()) {
      const k = await next!;
      next = i + 1 < ids.length ? load(ids[i + 1]!) : null;
      next?.catch(() => { /* reported when awaited */ });
      const pred = await predictLabel(k.image, (batch) => sigmoid(model.segment(batch)), {
        backend, patch: c.patch, stride: c.stride, batchSize: c.evalBatch, threshold: c.threshold, largestCC: c.lcc,
        onProgress: (done) => { if (done > 0) bar?.update(windows + done, id); },
      });
      const g = windowGrid(k.image.shape, c.patch, c.stride);
      windows += g.count;
      rows.push({ id, ...caseMetrics(pred.data, k.label!.data, k.image.shape) });
      if (options.keepVolumes) volumes.push(caseVolumes(id, k.image, k.label!.data, pred.data));
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
  return { rows, summary: summarize(rows), windows, seconds: (performance.now() - t0) / 1000, predictionFiles, volumes };
}

/** cases.csv, summary.md, summary.json in outDir (`extra`: more entries of summary.json); returns the files by role. */
export async function writeEvaluation(outDir: string, ev: EvaluationResult, config: TrainConfig, backendDescription: string,
  extra: Record<string, unknown> = {}): Promise<Record<string, string>> {
  const { files } = await writeReport(outDir, ev.rows, {
    label: `${config.method} (${config.labeled} labeled)`,
    meta: {
      method: config.method, preset: config.preset, labeled: config.labeled, iterations: config.iterations,
      patch: config.patch, stride: config.stride, threshold: config.threshold, largestCC: config.lcc,
      windows: ev.windows, seconds: ev.seconds, backend: backendDescription, machine: machineDescription(), ...extra,
    },
  });
  const out: Record<string, string> = { cases: files.csv, summaryMarkdown: files.markdown, summary: files.json };
  ev.predictionFiles.forEach((f, i) => { out[`prediction${i}`] = f; });
  return out;
}

export interface FigureOptions {
  config: Pick<TrainConfig, 'figureAxis'>;
  /** report.html's heading, facts and configuration */
  title: string;
  facts: readonly string[];
  reportConfig: unknown;
  /** plots (inline SVG) for report.html */
  plots?: readonly { title: string; svg: string }[];
  /** only the overlay PNGs (no report.html) */
  figuresOnly?: boolean;
}

/**
 * The overlay PNG of every case with volumes (`<outDir>/figures/<id>_<axis>.png`) and, unless figuresOnly,
 * `<outDir>/report.html`; returns the files by role and Markdown lines showing the best, median and worst case.
 */
export async function writeEvaluationFigures(outDir: string, ev: EvaluationResult, o: FigureOptions): Promise<{ files: Record<string, string>; markdown: string[] }> {
  const files: Record<string, string> = {};
  if (ev.volumes.length === 0) return { files, markdown: [] };
  const axis = o.config.figureAxis;
  const metrics = new Map(ev.rows.map((r) => [r.id, r]));
  files.figures = join(outDir, 'figures');
  const pngs = await writeOverlayFigures(files.figures, ev.volumes, metrics, { axis });
  const markdown: string[] = [];
  const shown = bestMedianWorst(ev.rows.filter((r) => pngs.has(r.id)));
  if (shown) {
    markdown.push('## Cases: best, median and worst by Dice', '',
      `${axis} slices through the reference's extent; the image in grey (1st–99th percentile window), the reference contour in sky blue (${rgbHex(REFERENCE_COLOR)}, just outside it), `
      + `the prediction's in orange (${rgbHex(PREDICTION_COLOR)}, just inside it), false negatives tinted blue and false positives orange. Every case: \`figures/\`.`, '');
    const seen = new Set<string>();
    for (const [role, r] of [['best', shown.best], ['median', shown.median], ['worst', shown.worst]] as const) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const rel = relative(outDir, pngs.get(r.id)!).split('\\').join('/');
      markdown.push(`**${role}**: ${r.id}, Dice ${(100 * r.dice).toFixed(2)} %, 95HD ${r.hd95.toFixed(2)} voxel`, '', `![${role}: ${r.id}](${rel})`, '');
    }
  }
  if (!o.figuresOnly) {
    files.html = join(outDir, 'report.html');
    const { bytes, embedded } = await writeHtmlReport(files.html, {
      title: o.title, facts: o.facts, config: o.reportConfig, summary: ev.summary, rows: ev.rows, plots: o.plots ?? [], cases: ev.volumes,
    });
    const reduced = embeddingSummary(embedded);
    markdown.push(`Interactive report with a slice viewer per case: \`report.html\` (${(bytes / 1e6).toFixed(1)} MB, self-contained${reduced !== '' ? `; ${reduced}, to fit its size budget` : ''}).`, '');
  }
  return { files, markdown };
}

/** What evaluation needs of a configuration (the training-only constraints are not checked). */
export function validateEvaluation(c: TrainConfig): void {
  validateConfig(c, ['preset', 'stride', 'threshold', 'eval-batch']);
}

/** The configuration saved in a checkpoint by train.ts. */
export async function checkpointConfig(file: string): Promise<TrainConfig> {
  const f = await readSafetensors(file);
  checkHeadLayout(f.metadata, file);
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
  /** only these cases (default: the test split) */
  ids?: string[];
  /** only the overlay PNGs of the cases: no CSV, Markdown, JSON or HTML report */
  figuresOnly?: boolean;
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
    const ids = o.ids ?? source.testIds();
    const known = new Set([...source.testIds(), ...source.trainIds()]);
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new CliError(`--cases: ${unknown.join(', ')} not in ${source.name} (test cases: ${source.testIds().slice(0, 5).join(', ')}…)`);
    const outDir = resolve(o.out ?? dirname(o.checkpoint));
    print(`evaluating ${o.checkpoint} (${config.method}, ${config.preset}, ${config.labeled} labeled) on ${ids.length} ${o.ids ? 'chosen' : 'test'} cases of ${source.name}`);
    const data = await DataPipeline.create(source, null, { print, ...(config.workers !== null ? { workers: config.workers } : {}) });
    let evaluation: EvaluationResult;
    try {
      evaluation = await evaluateModel(model, source, {
        config, print, ids, predictionsDir: join(outDir, 'predictions'), keepVolumes: config.figures || o.figuresOnly === true, loadCase: (id) => data.loadCase(id),
      });
    } finally {
      await data.close();
    }
    const figureOptions: FigureOptions = {
      config, title: `Evaluation of ${o.checkpoint}`, reportConfig: config, figuresOnly: o.figuresOnly === true,
      facts: [
        `${config.method} (${config.labeled} labeled) on ${source.name}: ${ids.length} cases`,
        `sliding window ${config.patch.join('×')}, strides ${config.stride.join(', ')}, threshold ${config.threshold}, largest connected component ${config.lcc ? 'on' : 'off'}; ${evaluation.windows} windows in ${formatDuration(evaluation.seconds)}`,
        `backend: ${backend.description}`, `machine: ${machineDescription()}`,
      ],
    };
    const figures = await writeEvaluationFigures(outDir, evaluation, figureOptions);
    if (o.figuresOnly) return { evaluation, files: figures.files, config };
    const files = await writeEvaluation(outDir, evaluation, config, backend.description);
    Object.assign(files, figures.files);
    const md = [
      `# Evaluation of ${o.checkpoint}`, '',
      formatSummaryMarkdown(evaluation.summary, { label: `${config.method} (${config.labeled} labeled)` }).trimEnd(), '',
      `Sliding window ${config.patch.join('×')}, strides ${config.stride.join(', ')}, threshold ${config.threshold}, largest connected component ${config.lcc ? 'on' : 'off'}; ${evaluation.windows} windows in ${formatDuration(evaluation.seconds)}.`, '',
      `- loss of the run: ${describeLoss(config.loss)}`, `- backend: ${backend.description}`, `- machine: ${machineDescription()}`, '',
      ...figures.markdown,
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
  if (a.workers !== null) overrides.workers = a.workers;
  if (a.figures !== null) overrides.figures = a.figures;
  if (a.figureAxis !== null) overrides.figureAxis = a.figureAxis;
  try {
    const { evaluation, files } = await evaluateCheckpoint({
      checkpoint: a.checkpoint, overrides, figuresOnly: a.figuresOnly, ...(a.out ? { out: a.out } : {}), ...(a.cases ? { ids: a.cases } : {}),
    });
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
