/**
 * The DBiSL training loop (and DTC's, as a configuration): two-stream batches, the SSL loss, SGD with the
 * step schedule, a JSONL log of every loss term, atomic resumable checkpoints, NaN/Inf guard, SIGINT-safe
 * stop, then sliding-window evaluation on the test split and a report.
 *
 * Per iteration, everything runs inside one `tidy` (so live buffers stay flat), and the only device → host
 * transfer is one readback of the packed loss terms, started after the optimizer step and awaited one
 * iteration later, so the host never waits on the device inside a step. Checkpoints and evaluations first
 * drain that readback, so a checkpoint is only written once every logged term up to it is known finite.
 * With --precision mixed-emulated, the loss scaler decides on the device whether a gradient overflowed and the
 * step is skipped (as PyTorch's fused GradScaler path); the iteration's loss scale and that flag are packed with
 * its loss terms, so the host learns them with the same readback.
 *
 * Reproducibility: the model is initialised from the seed, the sampler state (ids, augmentation, RNG) is
 * saved in the checkpoint, dropout masks are a function of (seed, iteration), and lr and λ are functions of
 * the iteration; on the cpu backend a resumed run is bit-identical to an uninterrupted one.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { Backend } from '../kernels/backend.js';
import { createBackend } from '../kernels/index.js';
import { fromArray, full } from '../tensor/creation.js';
import { memory, setBackend } from '../tensor/backend.js';
import { dispose, keep, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { backward } from '../autograd/backward.js';
import { noGrad } from '../autograd/graph.js';
import { autocast } from '../autograd/autocast.js';
import { affine, assign, concat, detach, reshape, slice } from '../autograd/ops.js';
import { SGD } from '../models/optim.js';
import { GradScaler, type GradScalerState } from '../models/grad-scaler.js';
import { stepLr } from '../models/schedules.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint, type JsonValue } from '../models/checkpoint.js';
import type { Batch, SamplerState } from '../imaging/data/sampler.js';
import { DataPipeline } from '../imaging/data/pipeline.js';
import { hashSeed } from '../imaging/random.js';
import type { CaseSource } from '../imaging/volume.js';
import { dbislLoss, lambdaAt, TERM_ORDER, type LossResult } from './losses.js';
import { CliError, describeLoss, type TrainConfig } from './config.js';
import { lockFolder } from './lock.js';
import { checkHeadLayout, HEAD_LAYOUT, HEAD_LAYOUT_KEY, type DualTaskModel } from './model.js';
import { createModel, makeSource, tuneConvolutions } from './setup.js';
import { evaluateModel, writeEvaluation, writeEvaluationFigures, machineDescription, type EvaluationResult } from './evaluate.js';
import { linePlot, type Series } from '../imaging/report/plot.js';
import { Progress, formatDuration, type ProgressStream } from '../imaging/progress.js';
import { writeFileAtomic } from '../models/atomic.js';
import { describeNonFinite, nonFiniteKind, nonFiniteProbe } from '../models/finite.js';
import { formatSummaryMarkdown } from '../imaging/report/report.js';
import { summarize } from '../imaging/metrics.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOG_FILE = 'log.jsonl';
const CONFIG_FILE = 'config.json';

export interface TrainOptions {
  config: TrainConfig;
  /** default: created from config.backend (and made current) */
  backend?: Backend;
  /** default: makeSource(config); a source without describe() is loaded on the training thread */
  source?: CaseSource;
  /** test hook: the data worker asked to decode this case exits (a crash) */
  crashWorkerOn?: string;
  /** lines for stdout (default console.log) */
  print?: (line: string) => void;
  /** where the progress bar goes (default process.stderr) */
  progressStream?: ProgressStream;
  /** aborted → stop after the current iteration, write a final checkpoint, return 'interrupted' */
  signal?: AbortSignal;
  /** stop (as if interrupted) once this many iterations are done: for tests of resuming */
  stopAt?: number;
  /**
   * test hook at one 0-based iteration: make a loss term NaN (or `value`; the total too when term is 'total'),
   * or set element 0 of a state-dict tensor (`tensor`, e.g. 'block_one.conv.0.weight') to it after the step
   */
  injectNaN?: { iteration: number; term?: string; tensor?: string; value?: number };
  /** skip the evaluation after training */
  skipEvaluation?: boolean;
}

export interface LogEntry {
  iteration: number;
  lr: number;
  lambda: number;
  /** seconds since the run (or resumed run) started */
  time: number;
  /** live buffers and tensors between iterations (an in-flight readback not counted): flat in a healthy run */
  liveBuffers: number;
  liveTensors: number;
  /** every term's value (JSON writes NaN and ±Inf as null: nonFinite tells them apart) */
  terms: Record<string, number>;
  /** which terms were not finite, as 'NaN', '+Inf' or '-Inf' (absent when all were finite) */
  nonFinite?: Record<string, string>;
  /** with --precision mixed-emulated: the loss scale of the iteration's backward */
  lossScale?: number;
  /** with --precision mixed-emulated: the optimizer step was skipped (a gradient overflowed; the scale was halved) */
  stepSkipped?: boolean;
}

export interface TrainResult {
  status: 'done' | 'interrupted' | 'nan';
  /** iterations completed (and in the last checkpoint, except after a NaN stop) */
  iteration: number;
  message: string;
  outDir: string;
  /** files written, by role */
  files: Record<string, string>;
  evaluation: EvaluationResult | null;
  /** mean seconds per training iteration (excluding the first) */
  secondsPerIteration: number;
  backendDescription: string;
}

interface Pending {
  iteration: number;
  /** the terms as packed (TERM_ORDER), then the state tensors probed after this iteration's step, if any */
  names: string[];
  /** the terms in the order the loss computes them: the first non-finite one is the one reported */
  computeOrder: string[];
  stateNames: string[];
  lr: number;
  lambda: number;
  /**
   * with --precision mixed-emulated: the packed values end with the loss scale of this iteration's backward and its
   * found-inf flag (1: the step was skipped)
   */
  scaled: boolean;
  values: Tensor;
  read: Promise<ArrayLike<number>>;
}

/** A non-finite loss term, or model / optimizer state, found when settling an iteration: the run stops. */
class NonFiniteLoss extends Error {
  constructor(readonly iteration: number, what: 'loss' | 'model state', detail: string) {
    super(`non-finite ${what} at iteration ${iteration}: ${detail}`);
  }
}

/** the labels of the labeled rows (a view: fromArray converts them to float32 while uploading, with no extra copy) */
function labeledRows(batch: { label: Uint8Array; labeledCount: number; labelShape: readonly number[] }): Uint8Array {
  const P = batch.labelShape.slice(1).reduce((a, b) => a * b, 1);
  return batch.label.subarray(0, batch.labeledCount * P);
}

function formatTerm(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
}

/** test hook (injectNaN.term): a loss term plus `value` (the total too when the term is 'total') */
function injectIntoTerm(res: LossResult, name: string, value: number): void {
  const t = res.terms[name];
  if (!t) throw new Error(`injectNaN: no term '${name}' in this configuration`);
  res.terms[name] = affine(t, 1, value);
}

/** Reads the JSONL log, keeping the entries of iterations ≤ upTo. */
async function readLog(file: string, upTo: number): Promise<LogEntry[]> {
  if (!existsSync(file)) return [];
  const out: LogEntry[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as LogEntry;
      if (e.iteration <= upTo) out.push(e);
    } catch { /* a torn last line of an interrupted run */ }
  }
  return out;
}

/** Trains a configuration, then evaluates the last model and writes the report (a TrainingRun, opened and closed). */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const run = await TrainingRun.open(options);
  try {
    return await run.report(await run.iterate());
  } finally {
    await run.close();
  }
}

/** What a run holds (released in reverse order of acquisition, however it ends). */
interface Resources {
  backend: Backend;
  source: CaseSource;
  trainIds: string[];
  loader: DataPipeline;
  model: DualTaskModel;
  optimizer: SGD;
  /** the loss scaler of --precision mixed-emulated, else null */
  scaler: GradScaler | null;
}

/** The test Dice of one evaluation during or after training. */
export interface EvalPoint {
  iteration: number;
  /** mean Dice over the cases evaluated */
  dice: number;
  /** only the first `cases` test cases were evaluated (--eval-cases); absent: all of them */
  cases?: number;
}

/** A run's time over every process that trained it (each resumed one adds its own), kept in the checkpoint. */
export interface RunTiming {
  /** wall seconds from each process's first iteration to its last checkpoint (evaluations during training included) */
  seconds: number;
  /** the iterations' own seconds and their number, each process's first iteration left out (it compiles kernels) */
  stepSeconds: number;
  steps: number;
  /** the processes that trained (1 + the resumptions) */
  processes: number;
}

/** the checkpoint's metadata key of the run's RunTiming (JSON) */
export const TIMING_KEY = 'dbisl.timing';

function parseTiming(raw: string, file: string): RunTiming {
  let t: Partial<RunTiming> | null = null;
  try { t = JSON.parse(raw) as Partial<RunTiming> | null; } catch { /* named below */ }
  const values = [t?.seconds, t?.stepSeconds, t?.steps, t?.processes];
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
    throw new Error(`${file}: the run's timing in the metadata (${TIMING_KEY}) is invalid: ${raw}; the checkpoint is left as it is`);
  }
  return t as RunTiming;
}

/** Where a run starts: iteration 0, or its checkpoint's with the log and evaluations up to it. */
interface StartingPoint {
  start: number;
  /** the checkpoint's iteration (start), or null without one */
  checkpoint: number | null;
  log: LogEntry[];
  evalHistory: EvalPoint[];
  /** the time of the processes before this one */
  timing: RunTiming;
}

/** How the iterations ended. */
interface Outcome {
  status: TrainResult['status'];
  message: string;
}

/**
 * One training run: its resources, the loop's state, the checkpoint and evaluation policy and the report.
 * `open` acquires and resumes, `iterate` trains, `report` evaluates and writes the report, `close` releases.
 */
class TrainingRun {
  private readonly config: TrainConfig;
  private readonly print: (line: string) => void;
  private readonly outDir: string;
  private readonly checkpointFile: string;
  private readonly logFile: string;
  /** files written, by role */
  private readonly files: Record<string, string>;
  private readonly log: LogEntry[];
  private readonly evalHistory: EvalPoint[];
  /** the time of the processes that trained this run before this one */
  private readonly earlier: RunTiming;
  private readonly start: number;
  /** where this run stops: --iters, or before with stopAt */
  private readonly end: number;
  private readonly bar: Progress;
  /** when the iterations started */
  private readonly t0: number;
  private readonly stepTimes: number[] = [];
  /** JSONL lines not yet appended to the log file */
  private readonly logLines: string[] = [];
  /** the iterations completed */
  private done: number;
  /** the iteration of the checkpoint this run wrote or resumed from */
  private lastCheckpoint: number | null;
  /** the state was probed after the step that completed this iteration (and found finite when settled) */
  private probedAt = -1;
  /** the iteration whose loss readback is in flight */
  private pending: Pending | null = null;

  private constructor(
    private readonly options: TrainOptions,
    private readonly resources: Resources,
    from: StartingPoint,
    private readonly releases: (() => unknown)[],
  ) {
    const c = options.config;
    this.config = c;
    this.print = printerOf(options);
    ({ outDir: this.outDir, checkpointFile: this.checkpointFile, logFile: this.logFile } = pathsOf(c));
    this.files = { log: this.logFile, config: join(this.outDir, CONFIG_FILE) };
    this.log = from.log;
    this.evalHistory = from.evalHistory;
    this.earlier = from.timing;
    this.start = from.start;
    this.done = from.start;
    this.lastCheckpoint = from.checkpoint;
    this.end = Math.min(c.iterations, options.stopAt ?? c.iterations);
    this.bar = new Progress('train', Math.max(0, this.end - this.start), { ...(options.progressStream ? { stream: options.progressStream } : {}) });
    this.t0 = performance.now();
  }

  /** Sets a run up (every resource it holds, or none on a failure), resumed from its checkpoint with --resume. */
  static async open(options: TrainOptions): Promise<TrainingRun> {
    const releases: (() => unknown)[] = [];
    try {
      const resources = await acquire(options, releases);
      const from = await resume(options, resources);
      return new TrainingRun(options, resources, from, releases);
    } catch (e) {
      await release(releases);
      throw e;
    }
  }

  /** Trains until the last iteration, an abort (options.signal, stopAt) or a non-finite loss or state. */
  async iterate(): Promise<Outcome> {
    const c = this.config;
    let outcome: Outcome = { status: 'done', message: '' };
    try {
      // resumed from a checkpoint written just before its evaluation (which then never reached a checkpoint): the
      // same model, so the same evaluation
      if (this.evaluationDue(this.start) && !this.evalHistory.some((e) => e.iteration === this.start)) await this.evaluateDuringTraining(this.start);
      for (let it = this.start; it < this.end; it++) {
        // one turn of the event loop per iteration: signal handlers (SIGINT) and timers run here, even when
        // every await of the step resolves at once (the cpu backend)
        await new Promise<void>((r) => setImmediate(r));
        if (this.options.signal?.aborted) break;
        await this.step(it);
        await this.checkpointOrEvaluate();
      }
      await this.drain();
      if (this.done < c.iterations) {
        await this.flushLog();
        await this.checkpoint(this.done);
        outcome = { status: 'interrupted', message: `stopped at iteration ${this.done}; checkpoint ${this.checkpointFile} (continue with --resume)` };
      }
    } catch (e) {
      if (!(e instanceof NonFiniteLoss)) throw e;
      this.done = e.iteration;
      outcome = {
        status: 'nan',
        message: `${e.message}; training stopped, the last good checkpoint is kept`
          + (this.lastCheckpoint !== null ? ` (${this.checkpointFile}, iteration ${this.lastCheckpoint})` : ' (none was written by this run)'),
      };
    } finally {
      await this.dropPending();
      await this.flushLog();
    }
    this.bar.done();
    return outcome;
  }

  /** One iteration: its SGD step, its loss readback started, the previous iteration's read. */
  private async step(it: number): Promise<void> {
    const c = this.config;
    const { loader, model, optimizer } = this.resources;
    const ts = performance.now();
    const batch = await loader.next();
    const lr = stepLr(it, { baseLr: c.lr, gamma: c.lrGamma, stepSize: c.lrStep });
    const lambda = lambdaAt(it, c.loss);
    optimizer.lr = lr;
    model.setStochasticSeed(hashSeed('dropout', c.seed, it));
    const scaler = this.resources.scaler;
    const losses = tidy(() => this.forwardBackward(it, batch));
    // with the scaler: this backward's scale and the step's found-inf flag, read back with the loss terms
    const scaling: Tensor[] = [];
    let packed: ReturnType<TrainingRun['pack']>;
    try {
      if (scaler) {
        scaling.push(scaler.scaleTensor(this.resources.backend));
        scaling.push(await scaler.step(optimizer));
        scaler.update();
      } else noGrad(() => optimizer.step());
      packed = tidy(() => this.pack(it, losses, scaling));
    } finally {
      dispose(losses);
      for (const t of scaling) t.dispose();
    }
    const read = keep(packed.values).toArray();
    read.catch(() => { /* awaited in readLosses */ });
    // read the previous iteration's terms: by now its work is done or queued ahead of this one's
    const previous = this.pending;
    this.pending = { iteration: it, ...packed, lr, lambda, read };
    await this.readLosses(previous);
    this.done = it + 1;
    this.stepTimes.push((performance.now() - ts) / 1000);
  }

  /**
   * Forward, loss and backward (inside the caller's tidy; with --precision mixed-emulated the forward and the loss
   * under autocast and the backward from the scaled loss). Returns the loss terms, for pack after the step.
   */
  private forwardBackward(it: number, batch: Batch): LossResult {
    const c = this.config;
    const { backend, model, scaler } = this.resources;
    const L = batch.labeledCount;
    const x = fromArray(batch.image, batch.imageShape, { backend });
    const y = fromArray(labeledRows(batch), [L, 1, ...c.patch], { backend });
    const sdfTarget = batch.sdf ? fromArray(batch.sdf, [L, 1, ...c.patch], { backend }) : undefined;
    const res = autocast(() => {
      const out = model.forward(x);
      return dbislLoss({
        seg: out.seg, sdf: out.sdf, label: y, labelHost: batch.label, sdfTarget, iteration: it, maxIterations: c.iterations,
      }, c.loss);
    }, { dtype: 'float16', enabled: scaler !== null });
    const inject = this.options.injectNaN?.iteration === it ? this.options.injectNaN : undefined;
    if (inject?.term !== undefined) injectIntoTerm(res, inject.term, inject.value ?? NaN);
    const loss = inject?.term === 'total' ? res.terms.total! : res.total;
    backward(scaler ? scaler.scale(loss) : loss);
    return res;
  }

  /**
   * After the optimizer step (inside the caller's tidy): the gradients dropped, and the loss
   * terms packed in one tensor, before a scheduled checkpoint with one value per state tensor (0 or NaN), then
   * the `scaling` values (the loss scale and found-inf flag), if any.
   */
  private pack(it: number, res: LossResult, scaling: readonly Tensor[]): Omit<Pending, 'iteration' | 'lr' | 'lambda' | 'read'> {
    this.resources.optimizer.zeroGrad();
    const inject = this.options.injectNaN?.iteration === it ? this.options.injectNaN : undefined;
    if (inject?.tensor !== undefined) this.injectIntoState(inject.tensor, inject.value ?? NaN);
    const names = TERM_ORDER.filter((n) => res.terms[n] !== undefined);
    const parts = names.map((n) => reshape(detach(res.terms[n]!), [1]));
    let stateNames: string[] = [];
    if (this.checkpointDue(it + 1)) {
      const dict = this.stateTensors();
      stateNames = [...dict.keys()];
      parts.push(nonFiniteProbe([...dict.values()]));
    }
    for (const t of scaling) parts.push(reshape(t, [1]));
    const values = noGrad(() => concat(parts));
    // the terms as created: dbislLoss fills res.terms in the order it computes them
    return { values, names, stateNames, scaled: scaling.length > 0, computeOrder: Object.keys(res.terms) };
  }

  /** test hook (injectNaN.tensor): element 0 of a state-dict tensor set to `value` */
  private injectIntoState(name: string, value: number): void {
    const { backend, model } = this.resources;
    const dict = model.module.stateDict(), t = dict.get(name);
    if (t) noGrad(() => assign(slice(reshape(t, [-1]), 0, 0, 1), full([1], value, { backend, dtype: t.dtype })));
    for (const v of dict.values()) v.dispose();
    if (!t) throw new Error(`injectNaN: no state tensor '${name}'`);
  }

  /** Awaits one iteration's readback, frees it, logs it; throws NonFiniteLoss on a NaN or Inf. */
  private async readLosses(p: Pending | null): Promise<void> {
    if (!p) return;
    let values: ArrayLike<number>;
    try {
      values = await p.read;
    } finally {
      p.values.dispose();
    }
    const terms: Record<string, number> = {};
    p.names.forEach((n, i) => { terms[n] = values[i]!; });
    const nonFinite: Record<string, string> = {};
    for (const n of p.computeOrder) {
      const kind = nonFiniteKind(terms[n]!);
      if (kind) nonFinite[n] = kind;
    }
    // live buffers and tensors between iterations, not counting the next iteration's in-flight readback
    const mem = memory(this.resources.backend);
    const scalingAt = p.names.length + p.stateNames.length;
    const inFlight = this.pending ? 1 : 0;
    const entry: LogEntry = {
      iteration: p.iteration + 1, lr: p.lr, lambda: p.lambda, time: (performance.now() - this.t0) / 1000,
      liveBuffers: mem.liveBuffers - inFlight, liveTensors: mem.liveTensors - inFlight, terms,
      ...(Object.keys(nonFinite).length ? { nonFinite } : {}),
      ...(p.scaled ? { lossScale: values[scalingAt]!, stepSkipped: values[scalingAt + 1] !== 0 } : {}),
    };
    this.log.push(entry);
    this.logLines.push(JSON.stringify(entry) + '\n');
    const bad = Object.keys(nonFinite)[0];
    const suffix = `it ${p.iteration + 1}/${this.config.iterations} loss ${formatTerm(terms.total!)}`
      + (terms.sup !== undefined ? ` sup ${formatTerm(terms.sup)}` : '')
      + (terms.con !== undefined ? ` con ${formatTerm(terms.con)}` : '')
      + (terms.pse !== undefined ? ` pse ${formatTerm(terms.pse)}` : '')
      + ` lr ${p.lr.toPrecision(3)} λ ${p.lambda.toPrecision(3)}`;
    this.bar.update(p.iteration + 1 - this.start, suffix);
    if (bad !== undefined) {
      throw new NonFiniteLoss(p.iteration + 1, 'loss', `${bad} = ${nonFinite[bad]} (the first non-finite term in the order the loss computes them)`);
    }
    if (p.stateNames.length > 0) {
      await this.checkState(p.iteration + 1, p.stateNames, Array.prototype.slice.call(values, p.names.length, scalingAt) as number[]);
      this.probedAt = p.iteration + 1;
    }
  }

  /** reads the readback in flight */
  private async drain(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    await this.readLosses(p);
  }

  /** frees the readback in flight unread (the run stopped) */
  private async dropPending(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    if (p) {
      await p.read.catch(() => undefined);
      p.values.dispose();
    }
  }

  private checkpointDue(iterationsDone: number): boolean {
    return iterationsDone % this.config.checkpointEvery === 0 || iterationsDone === this.end;
  }

  /** After an iteration: a checkpoint every --checkpoint-every, an evaluation every --eval-every (not at the end). */
  private async checkpointOrEvaluate(): Promise<void> {
    const done = this.done;
    if (this.checkpointDue(done)) {
      await this.drain();
      await this.flushLog();
      await this.checkpoint(done);
    } else if (this.logLines.length >= 50) await this.flushLog();
    if (this.evaluationDue(done)) await this.evaluateDuringTraining(done);
  }

  /** whether --eval-every evaluates after `done` iterations (the end has its own evaluation) */
  private evaluationDue(done: number): boolean {
    const c = this.config;
    return c.evalEvery > 0 && done > 0 && done % c.evalEvery === 0 && done < c.iterations;
  }

  /** an evaluation of --eval-every (on the first --eval-cases test cases), into the history */
  private async evaluateDuringTraining(done: number): Promise<void> {
    await this.drain();
    const { model, source, loader } = this.resources;
    const cases = this.evalSubset();
    const ev = await evaluateModel(model, source, {
      config: this.config, quiet: true, loadCase: (id) => loader.loadCase(id), ...(cases ? { ids: source.testIds().slice(0, cases) } : {}),
    });
    this.evalHistory.push({ iteration: done, dice: ev.summary.dice.mean, ...(cases ? { cases } : {}) });
    // on a TTY the bar's line is open: end it first
    const stream = this.options.progressStream ?? process.stderr;
    if (stream.isTTY) stream.write('\n');
    this.print(`eval at iteration ${done}: Dice ${(100 * ev.summary.dice.mean).toFixed(2)} %${cases ? ` (first ${cases} test cases)` : ''}`);
  }

  /** the run's time so far, this process's included */
  private timing(): RunTiming {
    const e = this.earlier, own = this.stepTimes.slice(1);
    return {
      seconds: e.seconds + (performance.now() - this.t0) / 1000,
      stepSeconds: e.stepSeconds + own.reduce((a, b) => a + b, 0),
      steps: e.steps + own.length,
      processes: e.processes + 1,
    };
  }

  /** the number of test cases the evaluations during training use (--eval-cases), or null for all of them */
  private evalSubset(): number | null {
    const n = this.config.evalCases;
    return n > 0 && n < this.resources.source.testIds().length ? n : null;
  }

  /** parameters, buffers and optimizer state as named borrowed views (nothing to free) */
  private stateTensors(): Map<string, Tensor> {
    const dict = this.resources.model.module.stateDict();
    for (const [k, t] of this.resources.optimizer.stateDict().tensors) dict.set(`optimizer.${k}`, t);
    return dict;
  }

  /** throws NonFiniteLoss naming the first state tensor with a NaN or Inf; reads the bad one to say what it holds */
  private async checkState(iteration: number, names: readonly string[], probe: ArrayLike<number>): Promise<void> {
    const bad = names.findIndex((_, i) => !Number.isFinite(probe[i]!));
    if (bad < 0) return;
    const what = describeNonFinite(await this.stateTensors().get(names[bad]!)!.toArray());
    throw new NonFiniteLoss(iteration, 'model state', `${names[bad]} holds ${what ?? 'non-finite values'}`);
  }

  /** Writes the checkpoint of an iteration, once its state is known to be finite. */
  private async checkpoint(iteration: number): Promise<void> {
    const c = this.config;
    const { model, optimizer, loader } = this.resources;
    if (this.probedAt !== iteration) {
      // an unscheduled checkpoint (an interrupt): probe now, at the cost of one readback
      const dict = this.stateTensors();
      const probe = tidy(() => nonFiniteProbe([...dict.values()]));
      const values = await probe.toArray();
      probe.dispose();
      await this.checkState(iteration, [...dict.keys()], values);
    }
    await saveTrainingCheckpoint(this.checkpointFile, {
      model: model.module, optimizer, iteration,
      rngState: {
        loader: loader.state(), evalHistory: this.evalHistory,
        ...(this.resources.scaler ? { gradScaler: await this.resources.scaler.stateDict() } : {}),
      } as unknown as JsonValue,
      config: c as unknown as JsonValue,
      // the time apart from the state: a resumed run's state is bit for bit a straight run's, its time is not
      metadata: { 'dbisl.method': c.method, 'dbisl.preset': c.preset, [HEAD_LAYOUT_KEY]: HEAD_LAYOUT, [TIMING_KEY]: JSON.stringify(this.timing()) },
    }).catch((e: unknown) => {
      // e.g. ENOSPC: the write is atomic, so the previous file is intact
      throw new Error(`cannot write the checkpoint of iteration ${iteration} to ${this.checkpointFile} (${(e as Error).message}); ${this.checkpointKept()}`);
    });
    this.files.checkpoint = this.checkpointFile;
    this.lastCheckpoint = iteration;
  }

  private checkpointKept(): string {
    return this.lastCheckpoint !== null ? `the checkpoint of iteration ${this.lastCheckpoint} is kept` : 'this run has no checkpoint yet';
  }

  private async flushLog(): Promise<void> {
    if (this.logLines.length === 0) return;
    const text = this.logLines.join('');
    this.logLines.length = 0;
    await writeFile(this.logFile, text, { flag: 'a' }).catch((e: unknown) => {
      throw new Error(`cannot append to the log ${this.logFile} (${(e as Error).message}); ${this.checkpointKept()}`);
    });
  }

  /** After the iterations: the result, and when they all ran, the evaluation of the last model and the report. */
  async report(outcome: Outcome): Promise<TrainResult> {
    const c = this.config, options = this.options;
    const { backend, model, source, loader } = this.resources;
    const timing = this.timing();
    const secondsPerIteration = timing.steps > 0 ? timing.stepSeconds / timing.steps : this.stepTimes[0] ?? NaN;
    const result = (message: string, evaluation: EvaluationResult | null): TrainResult => ({
      status: outcome.status, iteration: this.done, message, outDir: this.outDir, files: this.files, evaluation, secondsPerIteration,
      backendDescription: backend.description,
    });
    if (outcome.status !== 'done') {
      this.print(outcome.message);
      return result(outcome.message, null);
    }
    const trainSeconds = timing.seconds;
    const message = `trained ${c.iterations} iterations in ${formatDuration(trainSeconds)} (${secondsPerIteration.toFixed(3)} s/iteration)`
      + (timing.processes > 1 ? `, over ${timing.processes} processes (resumed)` : '')
      + (this.resources.scaler ? `; ${describeScaling(this.log)}` : '');
    this.print(message);

    let evaluation: EvaluationResult | null = null;
    if (!options.skipEvaluation) {
      evaluation = await evaluateModel(model, source, {
        config: c, print: this.print, predictionsDir: join(this.outDir, 'predictions'), loadCase: (id) => loader.loadCase(id), keepVolumes: c.figures,
        ...(options.progressStream ? { progressStream: options.progressStream } : {}),
      });
      Object.assign(this.files, await writeEvaluation(this.outDir, evaluation, c, backend.description, {
        training: { seconds: trainSeconds, secondsPerIteration, processes: timing.processes },
      }));
      // the subset's curve ends with its cases' share of the final evaluation (each case is evaluated on its own)
      const cases = c.evalEvery > 0 ? this.evalSubset() : null;
      if (cases) this.evalHistory.push({ iteration: c.iterations, dice: summarize(evaluation.rows.slice(0, cases)).dice.mean, cases });
      this.evalHistory.push({ iteration: c.iterations, dice: evaluation.summary.dice.mean });
    }
    Object.assign(this.files, await writeTrainingReport(this.outDir, {
      config: c, log: this.log, evalHistory: this.evalHistory, evaluation, secondsPerIteration, trainSeconds, processes: timing.processes,
      backendDescription: backend.description, model: model.describe(),
    }));
    return result(message, evaluation);
  }

  /** Releases every resource of the run, in reverse order. */
  async close(): Promise<void> {
    await release(this.releases);
  }
}

const printerOf = (options: TrainOptions) => options.print ?? ((l: string) => console.log(l));

function pathsOf(c: TrainConfig): { outDir: string; checkpointFile: string; logFile: string } {
  const outDir = resolve(c.out);
  return { outDir, checkpointFile: join(outDir, CHECKPOINT_FILE), logFile: join(outDir, LOG_FILE) };
}

async function release(releases: (() => unknown)[]): Promise<void> {
  for (const r of releases.reverse()) await r();
  releases.length = 0;
}

/** The backend (made current), the output folder's lock, the data, the model and the optimizer. */
async function acquire(options: TrainOptions, releases: (() => unknown)[]): Promise<Resources> {
  const c = options.config;
  const print = printerOf(options);
  const { outDir, checkpointFile } = pathsOf(c);
  const backend = options.backend ?? await createBackend({ backend: c.backend, report: print });
  setBackend(backend);
  if (!options.backend) releases.push(() => backend.dispose());
  // the folder first: a second trainer on it stops here, before any data is read
  const lock = await lockFolder(outDir);
  releases.push(() => lock.release());
  if (!c.resume && !c.overwrite && existsSync(checkpointFile)) {
    throw new CliError(`${outDir} holds a checkpoint (${CHECKPOINT_FILE}): continue it with --resume, or start afresh with --overwrite`);
  }
  const source = options.source ?? makeSource(c);
  const trainIds = source.trainIds();
  if (c.labeled > trainIds.length) throw new Error(`--labeled ${c.labeled}: ${source.name} has only ${trainIds.length} training cases`);
  // DTC's compute_sdf target is computed with the batch, off the training thread
  const hostSdf = c.loss.sdfTarget === 'dtc' && (c.loss.beta !== 0 || c.loss.supCross);
  const loader = await DataPipeline.create(source, {
    labeledIds: trainIds.slice(0, c.labeled),
    unlabeledIds: trainIds.slice(c.labeled),
    batchSize: c.batch,
    labeledBatch: c.labeledBatch,
    patch: c.patch,
    seed: c.seed,
    augment: 'la',
  }, {
    sdf: hostSdf, print,
    ...(c.workers !== null ? { workers: c.workers } : {}),
    ...(c.cacheCases !== null ? { cacheCases: c.cacheCases } : {}),
    ...(options.crashWorkerOn !== undefined ? { crashWorkerOn: options.crashWorkerOn } : {}),
  });
  releases.push(() => loader.close());
  const model = createModel(c, backend);
  releases.push(() => model.module.dispose());
  const optimizer = new SGD(model.module.parameters(), { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
  releases.push(() => optimizer.dispose());
  const scaler = c.precision === 'mixed-emulated' ? new GradScaler() : null;
  if (scaler) releases.push(() => scaler.dispose());
  return { backend, source, trainIds, loader, model, optimizer, scaler };
}

/**
 * With --resume and a checkpoint: its model, optimizer and sampler state, evaluations and log. Then the log (cut
 * to the starting iteration) and config.json are written, the run described, and with --tune-convs the
 * convolutions tuned.
 */
async function resume(options: TrainOptions, r: Resources): Promise<StartingPoint> {
  const c = options.config;
  const print = printerOf(options);
  const { outDir, checkpointFile, logFile } = pathsOf(c);
  const from: StartingPoint = { start: 0, checkpoint: null, log: [], evalHistory: [], timing: { seconds: 0, stepSeconds: 0, steps: 0, processes: 0 } };
  if (c.resume && existsSync(checkpointFile)) {
    const loaded = await loadTrainingCheckpoint(checkpointFile, { model: r.model.module, optimizer: r.optimizer }).catch((e: unknown) => {
      throw new Error(`--resume failed: ${(e as Error).message} (the checkpoint is left as it is)`);
    });
    checkHeadLayout(loaded.metadata, checkpointFile);
    const rng = loaded.rngState as { loader?: SamplerState; evalHistory?: EvalPoint[]; gradScaler?: GradScalerState } | null;
    if (!rng?.loader) throw new Error(`${checkpointFile}: no sampler state in the checkpoint`);
    r.loader.setState(rng.loader);
    if (r.scaler) {
      if (!rng.gradScaler) throw new Error(`${checkpointFile}: no loss scaler state in the checkpoint of a --precision ${c.precision} run`);
      r.scaler.loadStateDict(rng.gradScaler);
    }
    from.evalHistory.push(...(rng.evalHistory ?? []));
    // a checkpoint of an older version has no timing: its processes' time is not known (not counted)
    const timing = loaded.metadata[TIMING_KEY];
    if (timing !== undefined) from.timing = parseTiming(timing, checkpointFile);
    from.start = loaded.iteration;
    from.checkpoint = loaded.iteration;
    from.log = await readLog(logFile, from.start);
    print(`resuming from ${checkpointFile} at iteration ${from.start}`);
  } else if (c.resume) {
    print(`--resume: no checkpoint at ${checkpointFile}; starting from scratch`);
  }
  // the log holds exactly the iterations ≤ start (an interrupted run may have logged past its checkpoint)
  await writeFileAtomic(logFile, from.log.map((e) => JSON.stringify(e)).join('\n') + (from.log.length ? '\n' : ''));
  await writeFileAtomic(join(outDir, CONFIG_FILE), JSON.stringify(c, null, 2) + '\n');

  print(`model: ${r.model.describe()}`);
  print(`data: ${r.source.name}, ${c.labeled} labeled + ${r.trainIds.length - c.labeled} unlabeled training cases, ${r.source.testIds().length} test cases; patch ${c.patch.join('×')}, batch ${c.batch} = ${c.labeledBatch} + ${c.batch - c.labeledBatch}`);
  print(`method: ${c.method}; loss: ${describeLoss(c.loss)}`);
  print(`schedule: ${c.iterations} iterations, SGD lr ${c.lr} × ${c.lrGamma} every ${c.lrStep}, momentum ${c.momentum}, weight decay ${c.weightDecay}, seed ${c.seed}`);
  if (r.scaler) print(`precision: mixed-emulated (float16-rounded conv3d operands and output gradients, float32 accumulation), loss scale ${await r.scaler.getScale()}`);
  if (c.tuneConvs) await tuneConvolutions(r.model, r.backend, c, print);
  return from;
}

// ----------------------------------------------------------------------------------------------- report

/** the loss scaling of a mixed-emulated run's log: skipped steps and the last scale */
function describeScaling(log: readonly LogEntry[]): string {
  const scaled = log.filter((e) => e.lossScale !== undefined);
  if (scaled.length === 0) return 'no iteration logged';
  const skipped = scaled.filter((e) => e.stepSkipped).length;
  const last = scaled[scaled.length - 1]!;
  return `${skipped} of ${scaled.length} steps skipped (a gradient overflowed float16), loss scale ${last.lossScale! * (last.stepSkipped ? 0.5 : 1)} after the last`;
}

interface ReportInput {
  config: TrainConfig;
  log: LogEntry[];
  evalHistory: EvalPoint[];
  evaluation: EvaluationResult | null;
  secondsPerIteration: number;
  /** over every process that trained the run */
  trainSeconds: number;
  /** the processes that trained the run (1 + its resumptions) */
  processes: number;
  backendDescription: string;
  model: string;
}

const casesLabel = (e: EvalPoint): string => (e.cases === undefined ? 'all test cases' : `first ${e.cases} test cases`);

/** one line per set of cases evaluated: all of them, or the first N of --eval-cases */
function diceSeries(history: readonly EvalPoint[]): Series[] {
  const sets = [...new Set(history.map(casesLabel))];
  return sets.map((name) => {
    const points = history.filter((e) => casesLabel(e) === name);
    return { name: `test Dice, ${name}`, x: points.map((e) => e.iteration), y: points.map((e) => 100 * e.dice) };
  });
}

/** report.md's table of the evaluations, in the order they ran */
function evaluationTable(history: readonly EvalPoint[]): string[] {
  return ['| iteration | cases | Dice (%) |', '|---:|---|---:|',
    ...history.map((e) => `| ${e.iteration} | ${casesLabel(e)} | ${(100 * e.dice).toFixed(2)} |`), ''];
}

/** losses.svg (every loss term over the iterations), dice.svg (with --eval-every), report.md; with figures, overlay PNGs and report.html. */
export async function writeTrainingReport(outDir: string, r: ReportInput): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const present = (n: string) => r.log.some((e) => e.terms[n] !== undefined);
  // a trailing moving average keeps the per-iteration noise of small batches readable
  const window = Math.max(1, Math.round(r.log.length / 60));
  const seriesOf = (names: readonly string[]): Series[] => names.filter(present).map((n) => {
    const pts = r.log.filter((e) => e.terms[n] !== undefined);
    const y = pts.map((_, i) => {
      const w = pts.slice(Math.max(0, i - window + 1), i + 1).map((e) => e.terms[n]!);
      return w.reduce((a, b) => a + b, 0) / w.length;
    });
    return { name: n, x: pts.map((e) => e.iteration), y };
  });
  const smoothing = window > 1 ? ` (moving average over ${window} iterations)` : '';
  const plots: { title: string; svg: string }[] = [];
  files.lossPlot = join(outDir, 'losses.svg');
  plots.push({ title: 'losses.svg', svg: linePlot(seriesOf(['total', 'sup', 'con', 'pse']),
    { title: `${r.config.method}: L = L_sup + λ(t)(L_con + L_pse)${smoothing}`, xLabel: 'iteration', yLabel: 'loss', logY: true, id: 'losses' }) });
  await writeFileAtomic(files.lossPlot, plots[0]!.svg);
  files.termPlot = join(outDir, 'loss-terms.svg');
  plots.push({ title: 'loss-terms.svg', svg: linePlot(seriesOf(TERM_ORDER.filter((n) => !['total', 'sup', 'con', 'pse'].includes(n))),
    { title: `every loss term, unweighted${smoothing}`, xLabel: 'iteration', yLabel: 'value', logY: true, id: 'terms' }) });
  await writeFileAtomic(files.termPlot, plots[1]!.svg);
  if (r.evalHistory.length > 1 || r.config.evalEvery > 0) {
    files.dicePlot = join(outDir, 'dice.svg');
    plots.push({ title: 'dice.svg', svg: linePlot(diceSeries(r.evalHistory),
      { title: 'Dice on the test split during training', xLabel: 'iteration', yLabel: 'Dice (%)', id: 'dice' }) });
    await writeFileAtomic(files.dicePlot, plots[2]!.svg);
  }
  const c = r.config;
  const lines: string[] = [`# ${c.method.toUpperCase()} on ${c.preset}: ${c.labeled} labeled`, ''];
  if (r.evaluation) {
    lines.push('## Test metrics (last model)', '', formatSummaryMarkdown(r.evaluation.summary, { label: `${c.method} (${c.labeled} labeled)` }).trimEnd(), '');
    lines.push(`Sliding window ${c.patch.join('×')}, strides ${c.stride.join(', ')}, threshold ${c.threshold}, largest connected component ${c.lcc ? 'on' : 'off'}; ${r.evaluation.windows} windows in ${r.evaluation.seconds.toFixed(1)} s. Per case: \`cases.csv\`.`, '');
    const figures = await writeEvaluationFigures(outDir, r.evaluation, {
      config: c, title: `${c.method.toUpperCase()} on ${c.preset}: ${c.labeled} labeled`, reportConfig: c, plots,
      facts: [`${c.iterations} iterations in ${formatDuration(r.trainSeconds)}, ${r.secondsPerIteration.toFixed(3)} s/iteration`, `model: ${r.model}`,
        `loss: ${describeLoss(c.loss)}`, `backend: ${r.backendDescription}`, `machine: ${machineDescription()}`],
    });
    Object.assign(files, figures.files);
    lines.push(...figures.markdown);
  }
  lines.push('## Training', '',
    `- ${c.iterations} iterations in ${formatDuration(r.trainSeconds)}, **${r.secondsPerIteration.toFixed(3)} s/iteration** (mean, ${r.processes > 1 ? `the first iteration of each of the ${r.processes} processes that trained it (resumed) excluded` : 'first iteration excluded'})`,
    `- model: ${r.model}`,
    `- loss: ${describeLoss(c.loss)}`,
    `- final logged terms: ${r.log.length ? Object.entries(r.log[r.log.length - 1]!.terms).map(([k, v]) => `${k} ${formatTerm(v)}`).join(', ') : '(none)'}`,
    ...(c.precision === 'mixed-emulated' ? [`- precision: mixed-emulated (float16 conv3d operands and output gradients, float32 accumulation); ${describeScaling(r.log)}`] : []),
    '', '![loss](losses.svg)', '', '![loss terms](loss-terms.svg)', '');
  if (files.dicePlot) lines.push('![Dice during training](dice.svg)', '', ...evaluationTable(r.evalHistory));
  lines.push('## Machine', '', `- backend: ${r.backendDescription}`, `- ${machineDescription()}`,
    `- load average at the end of training (1, 5, 15 min): ${loadavg().map((v) => v.toFixed(2)).join(', ')} (other work on the machine slows the timings)`, '');
  lines.push('## Configuration', '', '```json', JSON.stringify(c, null, 2), '```', '');
  files.report = join(outDir, 'report.md');
  await writeFileAtomic(files.report, lines.join('\n'));
  return files;
}
