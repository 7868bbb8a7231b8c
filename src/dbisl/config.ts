/**
 * DBiSL run configuration: options with their defaults, the presets (synthetic, LA, BraTS), DTC as a
 * method, and command-line parsing for `train.ts` / `evaluate.ts`.
 *
 * Precedence: the preset (--preset) sets the data and schedule, the method (--method) sets the loss
 * terms, then every other option on the command line overrides, in order.
 */
import type { BackendChoice } from '../kernels/index.js';
import { cdtParams } from './transform.js';
import { cdtOptionsOf, dbislLossConfig, dtcLossConfig, type LossConfig, type SdfTarget, type UncertaintyMode } from './losses.js';
import { SLICE_AXES, type SliceAxis } from '../imaging/report/figures.js';
import type { Shape3 as Triple } from '../imaging/volume.js';

export type PresetName = 'synthetic' | 'la' | 'brats';
export type Method = 'dbisl' | 'dtc';

export const PRESETS: readonly PresetName[] = ['synthetic', 'la', 'brats'];
export const METHODS: readonly Method[] = ['dbisl', 'dtc'];
/** LA's labeled counts: 5 / 10 / 20 / 50 % of the 80 training scans */
export const LA_LABELED: readonly number[] = [4, 8, 16, 40];

export interface SyntheticDataConfig {
  /** training cases */
  count: number;
  /** test cases */
  testCount: number;
  /** volume shape [X, Y, Z] */
  shape: Triple;
  /** data set seed */
  seed: number;
}

export interface TrainConfig {
  preset: PresetName;
  method: Method;
  /** data root (LA: the folder with train.list; BraTS: the NIfTI folder); null for synthetic */
  data: string | null;
  /** labeled training cases: the first N of the training list */
  labeled: number;
  iterations: number;
  batch: number;
  labeledBatch: number;
  /** training patch [X, Y, Z] (also the sliding-window size) */
  patch: Triple;
  /** sliding-window strides */
  stride: Triple;
  lr: number;
  /** lr × lrGamma every lrStep iterations */
  lrStep: number;
  lrGamma: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  backend: BackendChoice;
  /** output folder */
  out: string;
  /** continue from <out>/checkpoint.safetensors */
  resume: boolean;
  /** start afresh in an output folder that holds a checkpoint (replacing it) */
  overwrite: boolean;
  /** evaluate on the test split every N iterations (0: only at the end) */
  evalEvery: number;
  /** write a checkpoint every N iterations (and at the end) */
  checkpointEvery: number;
  /** V-Net width (16 in DTC) */
  nFilters: number;
  /** Dropout3d(0.5) in the V-Net while training (DTC: on) */
  dropout: boolean;
  /** keep the largest connected component of each prediction */
  lcc: boolean;
  /** foreground threshold of the averaged probability */
  threshold: number;
  /** write prediction NIfTI files */
  savePredictions: boolean;
  /** sliding windows per forward pass at test time */
  evalBatch: number;
  /** time every candidate conv3d kernel for this run's shapes on this device first (those without a kept choice;
   * 'retune': all), and use the fastest */
  tuneConvs: boolean | 'retune';
  /** data-loading worker threads (data/pipeline.ts); 0: on the training thread; null: automatic, min(8, cores − 1) */
  workers: number | null;
  /** decoded training cases kept in memory; null: automatic, all that fit in 40 % of the memory */
  cacheCases: number | null;
  /** after the evaluation: an overlay PNG per test case and report.html with slice viewers */
  figures: boolean;
  /** the slices of the overlay PNGs */
  figureAxis: SliceAxis;
  synthetic: SyntheticDataConfig;
  loss: LossConfig;
}

type PresetValues = Omit<TrainConfig, 'method' | 'loss' | 'out' | 'resume' | 'overwrite' | 'backend' | 'preset'>;

function presetValues(name: PresetName): PresetValues {
  const common = {
    data: null, lr: 0.01, lrStep: 2500, lrGamma: 0.1, momentum: 0.9, weightDecay: 1e-4, seed: 1337,
    evalEvery: 0, checkpointEvery: 500, nFilters: 16, dropout: true, lcc: true, threshold: 0.5,
    savePredictions: false, evalBatch: 1, tuneConvs: false, workers: null, cacheCases: null, figures: true, figureAxis: 'axial' as SliceAxis,
    synthetic: { count: 16, testCount: 4, shape: [40, 40, 32] as Triple, seed: 0 },
  };
  switch (name) {
    case 'la':
      return { ...common, labeled: 8, iterations: 6000, batch: 4, labeledBatch: 2, patch: [112, 112, 80], stride: [18, 18, 4] };
    case 'brats':
      return { ...common, labeled: 25, iterations: 6000, batch: 4, labeledBatch: 2, patch: [96, 96, 96], stride: [64, 64, 64] };
    case 'synthetic':
      // small and fast: about four minutes on a 2-core CPU through WebGPU on llvmpipe (≈ 1 s/iteration, where the
      // V-Net step is bound by dispatch overhead, not FLOPs), test Dice ≈ 95 % (see the synthetic data set in
      // data/synthetic.ts); a short schedule with a larger constant lr and a Dice check every 50 iterations.
      // No dropout: Dropout3d(0.5) drops whole channels, and with n_filters 4 the last decoder feature has 4, so
      // 1 sample in 16 loses all of them (the loss spikes every few iterations).
      return {
        ...common, labeled: 4, iterations: 200, batch: 4, labeledBatch: 2, patch: [32, 32, 16], stride: [16, 16, 8],
        lr: 0.05, lrStep: 1000, checkpointEvery: 100, evalEvery: 50, nFilters: 4, dropout: false, evalBatch: 4,
        synthetic: { count: 16, testCount: 4, shape: [40, 40, 24], seed: 0 },
      };
  }
}

/** Loss defaults of a method on a preset (the synthetic preset scales the ramp-up to its short run). */
export function methodLoss(method: Method, preset: PresetName): LossConfig {
  const base = method === 'dtc' ? dtcLossConfig() : dbislLossConfig();
  // the synthetic run is 200 iterations: λ(t) ramps up over 20 "epochs" of 5 iterations; ρ = 4 keeps the CDT
  // (17³ → 9³ window) cheap on the small patches (ε follows ρ: see defaultCdtEps in transform.ts)
  if (preset === 'synthetic') return { ...base, epochIterations: 5, rampupEpochs: 20, radius: 4 };
  return base;
}

export function defaultConfig(preset: PresetName = 'synthetic', method: Method = 'dbisl'): TrainConfig {
  const v = presetValues(preset);
  return {
    preset, method, backend: 'auto', resume: false, overwrite: false, out: '', ...v,
    patch: [...v.patch], stride: [...v.stride], synthetic: { ...v.synthetic, shape: [...v.synthetic.shape] },
    loss: methodLoss(method, preset),
  };
}

/** The default output folder: runs/<preset>-<method>-<labeled>l */
export function defaultOut(c: Pick<TrainConfig, 'preset' | 'method' | 'labeled'>): string {
  return `runs/${c.preset}-${c.method}-${c.labeled}l`;
}

// ------------------------------------------------------------------------------------------- checks

/** Throws with every problem of a configuration (what the trainer relies on). */
export function validateConfig(c: TrainConfig): void {
  const problems: string[] = [];
  const posInt = (v: number, name: string) => { if (!(Number.isInteger(v) && v >= 1)) problems.push(`${name} must be a positive integer, got ${v}`); };
  posInt(c.iterations, '--iters');
  posInt(c.batch, '--batch');
  posInt(c.nFilters, '--n-filters');
  if (c.nFilters > MAX_FILTERS) problems.push(`--n-filters must be at most ${MAX_FILTERS} (the V-Net has ${MAX_FILTERS}² · 36 864 parameters there), got ${c.nFilters}`);
  posInt(c.lrStep, 'lrStep');
  posInt(c.checkpointEvery, '--checkpoint-every');
  posInt(c.evalBatch, '--eval-batch');
  if (!(Number.isInteger(c.labeledBatch) && c.labeledBatch >= 1 && c.labeledBatch <= c.batch)) {
    problems.push(`--labeled-batch must be an integer in [1, --batch = ${c.batch}], got ${c.labeledBatch}`);
  }
  if (!(Number.isInteger(c.evalEvery) && c.evalEvery >= 0)) problems.push(`--eval-every must be an integer ≥ 0, got ${c.evalEvery}`);
  if (!(Number.isInteger(c.labeled) && c.labeled >= c.labeledBatch)) {
    problems.push(`--labeled must be an integer ≥ --labeled-batch (${c.labeledBatch}), got ${c.labeled}`);
  }
  if (c.preset === 'la' && !LA_LABELED.includes(c.labeled)) problems.push(`--labeled for LA must be one of ${LA_LABELED.join(', ')}, got ${c.labeled}`);
  if (c.preset === 'synthetic' && c.labeled >= c.synthetic.count) {
    problems.push(`--labeled ${c.labeled} leaves no unlabeled case of the ${c.synthetic.count} synthetic training cases`);
  }
  for (let a = 0; a < 3; a++) {
    if (!(Number.isInteger(c.patch[a]) && c.patch[a] >= 16 && c.patch[a] % 16 === 0 && c.patch[a] <= MAX_PATCH_SIDE)) {
      problems.push(`--patch ${c.patch.join(',')}: every side must be a multiple of 16 (the V-Net halves it four times) up to ${MAX_PATCH_SIDE}`);
      break;
    }
  }
  for (let a = 0; a < 3; a++) {
    if (!(Number.isInteger(c.stride[a]) && c.stride[a] >= 1 && c.stride[a] <= c.patch[a])) {
      problems.push(`--stride ${c.stride.join(',')}: every stride must be an integer in [1, patch side]`);
      break;
    }
  }
  if (!(c.lr > 0 && Number.isFinite(c.lr))) problems.push(`--lr must be a finite number > 0, got ${c.lr}`);
  // as torch.optim.SGD (momentum ≥ 0, weight_decay ≥ 0) and a learning rate that stays positive
  if (!(c.momentum >= 0 && Number.isFinite(c.momentum))) problems.push(`--momentum must be a finite number ≥ 0, got ${c.momentum}`);
  if (!(c.weightDecay >= 0 && Number.isFinite(c.weightDecay))) problems.push(`--weight-decay must be a finite number ≥ 0, got ${c.weightDecay}`);
  if (!(c.lrGamma > 0 && Number.isFinite(c.lrGamma))) problems.push(`--lr-gamma must be a finite number > 0, got ${c.lrGamma}`);
  if (c.iterations > MAX_ITERATIONS) problems.push(`--iters must be at most ${MAX_ITERATIONS}, got ${c.iterations}`);
  if (c.preset === 'synthetic' && c.data !== null) problems.push(`--data ${c.data}: the synthetic preset generates its data; choose --preset la or brats to read a folder`);
  for (const [name, v] of [['--workers', c.workers], ['--cache-cases', c.cacheCases]] as const) {
    if (v !== null && !(Number.isInteger(v) && v >= 0)) problems.push(`${name} must be an integer ≥ 0 or auto, got ${v}`);
  }
  if (!(c.threshold > 0 && c.threshold < 1)) problems.push(`--threshold must be in (0, 1), got ${c.threshold}`);
  const l = c.loss;
  if (!(Number.isInteger(l.radius) && l.radius >= 1)) problems.push(`--radius must be a positive integer, got ${l.radius}`);
  posInt(l.epochIterations, '--epoch-iters');
  if (!(Number.isInteger(l.rampupEpochs) && l.rampupEpochs >= 0)) problems.push(`--rampup must be an integer ≥ 0, got ${l.rampupEpochs}`);
  if (!(l.h > 0)) problems.push(`--h must be positive, got ${l.h}`);
  if (l.eps !== 'auto' && !(l.eps > 0 && l.eps < 1)) problems.push(`--eps must be auto or in (0, 1), got ${l.eps}`);
  if (!(l.k > 0)) problems.push(`--k must be positive, got ${l.k}`);
  for (const [name, v] of [['--beta', l.beta], ['--beta-x', l.betaX], ['--gamma', l.gamma], ['--lambda-max', l.lambdaMax], ['--tau', l.tauMax]] as const) {
    if (!(v >= 0 && Number.isFinite(v))) problems.push(`${name} must be a finite number ≥ 0, got ${v}`);
  }
  if (c.resume && c.overwrite) problems.push('--resume and --overwrite contradict each other: continue the checkpoint, or replace it');
  if (c.preset !== 'synthetic' && !c.data) problems.push(`the ${c.preset} preset needs --data DIR (${c.preset === 'la' ? 'the LA root holding train.list, test.list and "2018LA_Seg_Training Set"' : 'the BraTS NIfTI folder'})`);
  if (problems.length) throw new CliError(problems.join('; '));
}

/** bounds that no real run reaches, so that a typo (--iters 1e20) or a corrupt checkpoint's configuration
 * (n_filters 100000) is named instead of failing deep inside an allocation */
export const MAX_ITERATIONS = 1_000_000_000;
export const MAX_FILTERS = 256;
export const MAX_PATCH_SIDE = 1024;

// ---------------------------------------------------------------------------------------------- CLI

export class CliError extends Error {
  override name = 'CliError';
}

type Kind = 'int' | 'number' | 'string' | 'bool' | 'triple' | 'choice' | 'flag';

interface OptionSpec {
  name: string;
  kind: Kind;
  choices?: readonly string[];
  /** value placeholder in the help */
  arg?: string;
  help: string;
  /** the current value, for the help's defaults */
  show(c: TrainConfig): string;
  set(c: TrainConfig, v: string | number | boolean | Triple): void;
}

const fmt = (v: number | boolean | string | null | readonly number[]): string =>
  v === null ? 'none' : Array.isArray(v) ? v.join(',') : String(v);

function lossOption(name: string, kind: 'number' | 'int', key: 'beta' | 'betaX' | 'gamma' | 'k' | 'h' | 'radius' | 'lambdaMax' | 'tauMax', help: string): OptionSpec {
  return { name, kind, arg: kind === 'int' ? 'N' : 'X', help, show: (c) => fmt(c.loss[key]), set: (c, v) => { c.loss[key] = v as number; } };
}

/** The value of an integer option that also takes 'auto' (null). */
function parseAutoInt(name: string, value: string | number | boolean | Triple): number | null {
  const raw = String(value).trim();
  if (raw !== 'auto' && !/^\d+$/.test(raw)) throw new CliError(`--${name}: expected an integer ≥ 0 or 'auto', got '${raw}'`);
  return raw === 'auto' ? null : Number(raw);
}

function autoIntOption(name: string, key: 'workers' | 'cacheCases', help: string): OptionSpec {
  return {
    name, kind: 'string', arg: 'N|auto', help, show: (c) => (c[key] === null ? 'auto' : String(c[key])),
    set: (c, v) => { c[key] = parseAutoInt(name, v); },
  };
}

function lossSwitch(name: string, key: 'ce' | 'supCross' | 'con' | 'conR2S' | 'conS2R' | 'pse' | 'unc', help: string): OptionSpec {
  return { name, kind: 'bool', help, show: (c) => fmt(c.loss[key]), set: (c, v) => { c.loss[key] = v as boolean; } };
}

/** Every option of train.ts (evaluate.ts uses a subset). */
export const TRAIN_OPTIONS: readonly OptionSpec[] = [
  { name: 'preset', kind: 'choice', choices: PRESETS, help: 'data set and schedule: synthetic (generated, small and fast), la, brats', show: (c) => c.preset, set: () => {} },
  { name: 'method', kind: 'choice', choices: METHODS, help: 'dbisl, or dtc (Dice + 0.3·MSE(R̂, compute_sdf) + one-way consistency)', show: (c) => c.method, set: () => {} },
  { name: 'data', kind: 'string', arg: 'DIR', help: 'data root (LA: holds train.list and "2018LA_Seg_Training Set", or an LA pack of bench/la-pack.ts; BraTS: NIfTI folder)', show: (c) => fmt(c.data), set: (c, v) => { c.data = v as string; } },
  { name: 'labeled', kind: 'int', arg: 'N', help: 'labeled training cases, the first N of the training list (LA: 4, 8, 16 or 40)', show: (c) => fmt(c.labeled), set: (c, v) => { c.labeled = v as number; } },
  { name: 'iters', kind: 'int', arg: 'N', help: 'training iterations', show: (c) => fmt(c.iterations), set: (c, v) => { c.iterations = v as number; } },
  { name: 'batch', kind: 'int', arg: 'N', help: 'samples per batch', show: (c) => fmt(c.batch), set: (c, v) => { c.batch = v as number; } },
  { name: 'labeled-batch', kind: 'int', arg: 'N', help: 'labeled samples per batch (the first rows)', show: (c) => fmt(c.labeledBatch), set: (c, v) => { c.labeledBatch = v as number; } },
  { name: 'patch', kind: 'triple', arg: 'X,Y,Z', help: 'training patch and sliding window (multiples of 16)', show: (c) => fmt(c.patch), set: (c, v) => { c.patch = v as Triple; } },
  { name: 'stride', kind: 'triple', arg: 'X,Y,Z', help: 'sliding-window strides at test time', show: (c) => fmt(c.stride), set: (c, v) => { c.stride = v as Triple; } },
  { name: 'lr', kind: 'number', arg: 'X', help: 'SGD learning rate (× lr-gamma every lr-step iterations)', show: (c) => fmt(c.lr), set: (c, v) => { c.lr = v as number; } },
  { name: 'lr-step', kind: 'int', arg: 'N', help: 'iterations between learning-rate drops', show: (c) => fmt(c.lrStep), set: (c, v) => { c.lrStep = v as number; } },
  { name: 'lr-gamma', kind: 'number', arg: 'X', help: 'learning-rate drop factor', show: (c) => fmt(c.lrGamma), set: (c, v) => { c.lrGamma = v as number; } },
  { name: 'momentum', kind: 'number', arg: 'X', help: 'SGD momentum', show: (c) => fmt(c.momentum), set: (c, v) => { c.momentum = v as number; } },
  { name: 'weight-decay', kind: 'number', arg: 'X', help: 'SGD weight decay', show: (c) => fmt(c.weightDecay), set: (c, v) => { c.weightDecay = v as number; } },
  { name: 'seed', kind: 'int', arg: 'N', help: 'seed of the initialisation, sampling, augmentation and dropout', show: (c) => fmt(c.seed), set: (c, v) => { c.seed = v as number; } },
  { name: 'backend', kind: 'choice', choices: ['auto', 'webgpu', 'cpu'], help: 'auto: WebGPU when an adapter exists, else cpu', show: (c) => c.backend, set: (c, v) => { c.backend = v as BackendChoice; } },
  { name: 'out', kind: 'string', arg: 'DIR', help: 'output folder (runs/<preset>-<method>-<labeled>l)', show: (c) => (c.out === '' ? defaultOut(c) : c.out), set: (c, v) => { c.out = v as string; } },
  { name: 'resume', kind: 'flag', help: 'continue from <out>/checkpoint.safetensors', show: (c) => fmt(c.resume), set: (c, v) => { c.resume = v as boolean; } },
  { name: 'overwrite', kind: 'flag', help: 'start afresh in an output folder that holds a checkpoint, replacing it', show: (c) => fmt(c.overwrite), set: (c, v) => { c.overwrite = v as boolean; } },
  { name: 'eval-every', kind: 'int', arg: 'N', help: 'also evaluate on the test split every N iterations (0: only at the end)', show: (c) => fmt(c.evalEvery), set: (c, v) => { c.evalEvery = v as number; } },
  { name: 'checkpoint-every', kind: 'int', arg: 'N', help: 'write a checkpoint every N iterations (and at the end)', show: (c) => fmt(c.checkpointEvery), set: (c, v) => { c.checkpointEvery = v as number; } },
  { name: 'n-filters', kind: 'int', arg: 'N', help: 'V-Net width', show: (c) => fmt(c.nFilters), set: (c, v) => { c.nFilters = v as number; } },
  { name: 'dropout', kind: 'bool', help: 'Dropout3d(0.5) in the V-Net while training', show: (c) => fmt(c.dropout), set: (c, v) => { c.dropout = v as boolean; } },
  { name: 'lcc', kind: 'bool', help: 'keep the largest connected component of each prediction', show: (c) => fmt(c.lcc), set: (c, v) => { c.lcc = v as boolean; } },
  { name: 'threshold', kind: 'number', arg: 'X', help: 'foreground threshold of the averaged probability', show: (c) => fmt(c.threshold), set: (c, v) => { c.threshold = v as number; } },
  { name: 'save-predictions', kind: 'flag', help: 'write each test prediction as NIfTI', show: (c) => fmt(c.savePredictions), set: (c, v) => { c.savePredictions = v as boolean; } },
  { name: 'eval-batch', kind: 'int', arg: 'N', help: 'sliding windows per forward pass at test time', show: (c) => fmt(c.evalBatch), set: (c, v) => { c.evalBatch = v as number; } },
  { name: 'tune-convs', kind: 'flag', help: 'first time every candidate conv3d kernel for the run\'s shapes on this GPU and use the fastest (as torch.backends.cudnn.benchmark; results differ from the default kernels\' within float rounding); the choices are kept per GPU in $VOXGRAD_CACHE_DIR (default: $XDG_CACHE_HOME/voxgrad or ~/.cache/voxgrad), so only shapes not met before are timed', show: (c) => fmt(c.tuneConvs !== false), set: (c, v) => { c.tuneConvs = v ? c.tuneConvs || true : false; } },
  { name: 'retune-convs', kind: 'flag', help: 'as --tune-convs, but time every shape again instead of taking the kept choices (which the new ones replace)', show: (c) => fmt(c.tuneConvs === 'retune'), set: (c, v) => { c.tuneConvs = v ? 'retune' : c.tuneConvs; } },
  autoIntOption('workers', 'workers', 'data-loading worker threads (decoding, augmentation, DTC\'s compute_sdf); 0: on the training thread; auto: min(8, cores − 1); results do not depend on it'),
  autoIntOption('cache-cases', 'cacheCases', 'decoded training cases kept in memory (shared by the workers); auto: all that fit in 40 % of the memory'),
  { name: 'figures', kind: 'bool', help: 'after the evaluation: an overlay PNG per test case (figures/) and report.html with a slice viewer per case', show: (c) => fmt(c.figures), set: (c, v) => { c.figures = v as boolean; } },
  { name: 'figure-axis', kind: 'choice', choices: SLICE_AXES, help: 'slices of the overlay PNGs: axial (z), coronal (y) or sagittal (x)', show: (c) => c.figureAxis, set: (c, v) => { c.figureAxis = v as SliceAxis; } },
  // the loss: switches and weights
  lossSwitch('sup-cross', 'supCross', 'cross-task supervision β_x·[Dice(T_r2s(R̂), Y) + MSE(T_s2r(Ŷ), S*)]'),
  lossSwitch('ce', 'ce', 'CE(z, Y) in the supervised loss'),
  lossSwitch('con', 'con', 'bidirectional consistency L_con'),
  lossSwitch('con-r2s', 'conR2S', "L_con's term mean((T_r2s(R̂) − Ŷ)²)"),
  lossSwitch('con-s2r', 'conS2R', "L_con's term mean((T_s2r(Ŷ) − R̂)²)"),
  lossSwitch('pse', 'pse', 'pseudo-supervision L_pse on the unlabeled rows'),
  lossSwitch('unc', 'unc', 'uncertainty weighting of L_pse (off: w = 1)'),
  lossOption('beta', 'number', 'beta', 'β, weight of MSE(R̂, S*)'),
  lossOption('beta-x', 'number', 'betaX', 'β_x, weight of the cross-task supervision'),
  lossOption('gamma', 'number', 'gamma', 'γ of the uncertainty weight exp(−γU)'),
  lossOption('tau', 'number', 'tauMax', "τ_max of --uncertainty mask (τ ramps from 0.75·τ_max to τ_max)"),
  lossOption('k', 'number', 'k', 'sharpness k of T_r2s(R̂) = σ(−k·R̂)'),
  lossOption('h', 'number', 'h', 'CDT temperature h (voxels)'),
  lossOption('radius', 'int', 'radius', 'CDT window radius ρ (voxels)'),
  {
    name: 'eps', kind: 'string', arg: 'auto|X', help: 'CDT floor ε of p inside the logarithm; auto: e^(−ρ/h)/Σ_u e^(−‖u‖/h) over the window, so the floor never caps a distance ≤ ρ',
    show: (c) => fmt(c.loss.eps),
    set: (c, v) => {
      if (v === 'auto') { c.loss.eps = 'auto'; return; }
      const x = Number(v);
      if ((v as string).trim() === '' || !Number.isFinite(x)) throw new CliError(`--eps: expected auto or a number, got '${String(v)}'`);
      c.loss.eps = x;
    },
  },
  lossOption('lambda-max', 'number', 'lambdaMax', 'λ_max of the ramped weight λ(t) of L_con + L_pse'),
  {
    name: 'rampup', kind: 'int', arg: 'N', help: 'λ(t) ramp-up length in epochs', show: (c) => fmt(c.loss.rampupEpochs),
    set: (c, v) => { c.loss.rampupEpochs = v as number; },
  },
  {
    name: 'epoch-iters', kind: 'int', arg: 'N', help: 'iterations per ramp-up epoch', show: (c) => fmt(c.loss.epochIterations),
    set: (c, v) => { c.loss.epochIterations = v as number; },
  },
  {
    name: 'sdf-target', kind: 'choice', choices: ['cdt', 'dtc'], help: "S*: 'cdt' = T_s2r(Y) (same scale as the predictions), 'dtc' = DTC's compute_sdf",
    show: (c) => c.loss.sdfTarget, set: (c, v) => { c.loss.sdfTarget = v as SdfTarget; },
  },
  {
    name: 'uncertainty', kind: 'choice', choices: ['exp', 'mask'], help: "'exp': w = exp(−γU); 'mask': w = 1[U < τ(t)] (UA-MT style)",
    show: (c) => c.loss.uncertainty, set: (c, v) => { c.loss.uncertainty = v as UncertaintyMode; },
  },
  { name: 'help', kind: 'flag', help: 'print this help', show: () => 'false', set: () => {} },
  { name: 'debug', kind: 'flag', help: 'show the stack of an error (errors are one line without it)', show: () => 'false', set: () => {} },
];

/** Options evaluate.ts accepts. */
export const EVALUATE_OPTION_NAMES = ['checkpoint', 'data', 'preset', 'out', 'backend', 'stride', 'lcc', 'threshold', 'save-predictions', 'eval-batch', 'tune-convs', 'retune-convs', 'workers', 'figures', 'figure-axis', 'figures-only', 'cases', 'help', 'debug'] as const;

function parseValue(spec: OptionSpec, raw: string): string | number | Triple {
  const bad = (what: string) => new CliError(`--${spec.name}: expected ${what}, got '${raw}'`);
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) throw bad('an integer');
      return Number(raw);
    }
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw bad('a number');
      return v;
    }
    case 'triple': {
      const parts = raw.split(/[,x×]/).map((s) => s.trim());
      if (parts.length === 1 && /^\d+$/.test(parts[0]!)) { const n = Number(parts[0]); return [n, n, n]; }
      if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p))) throw bad('three integers X,Y,Z');
      return parts.map(Number) as Triple;
    }
    case 'choice': {
      if (!spec.choices!.includes(raw)) throw new CliError(`--${spec.name}: '${raw}' is not valid; valid: ${spec.choices!.join(', ')}`);
      return raw;
    }
    default:
      return raw;
  }
}

interface RawOption { spec: OptionSpec; value: string | number | boolean | Triple }

function tokenize(argv: readonly string[], specs: readonly OptionSpec[]): RawOption[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: RawOption[] = [];
  const valid = () => specs.map((s) => (s.kind === 'bool' ? `--[no-]${s.name}` : `--${s.name}`)).join(', ');
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!tok.startsWith('--') || tok === '--') throw new CliError(`unexpected argument '${tok}'; options start with --. Valid options: ${valid()}`);
    const eq = tok.indexOf('=');
    const name = tok.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : tok.slice(eq + 1);
    let spec = byName.get(name);
    let negated = false;
    if (!spec && name.startsWith('no-')) {
      const s = byName.get(name.slice(3));
      if (s && s.kind === 'bool') { spec = s; negated = true; }
    }
    if (!spec) throw new CliError(`unknown option '--${name}'. Valid options: ${valid()} (see --help)`);
    if (spec.kind === 'bool' || spec.kind === 'flag') {
      if (inline !== undefined) {
        if (negated || !['true', 'false'].includes(inline)) throw new CliError(`--${name}: takes no value (got '${inline}')`);
        out.push({ spec, value: inline === 'true' });
      } else out.push({ spec, value: !negated });
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new CliError(`--${name}: missing value (${spec.arg ?? spec.choices?.join('|') ?? 'value'})`);
      }
      raw = next;
      i++;
    }
    out.push({ spec, value: parseValue(spec, raw) });
  }
  return out;
}

export type ParseResult = { help: true; text: string } | { help: false; config: TrainConfig; explicit: Set<string> };

/** Parses train.ts's arguments into a validated configuration (or the help text). Throws CliError. */
export function parseTrainArgs(argv: readonly string[]): ParseResult {
  const opts = tokenize(argv, TRAIN_OPTIONS);
  const preset = (opts.filter((o) => o.spec.name === 'preset').at(-1)?.value ?? 'synthetic') as PresetName;
  const method = (opts.filter((o) => o.spec.name === 'method').at(-1)?.value ?? 'dbisl') as Method;
  const c = defaultConfig(preset, method);
  if (opts.some((o) => o.spec.name === 'help')) return { help: true, text: trainHelp(c) };
  const explicit = new Set<string>();
  for (const o of opts) {
    o.spec.set(c, o.value);
    explicit.add(o.spec.name);
  }
  if (c.out === '') c.out = defaultOut(c);
  validateConfig(c);
  return { help: false, config: c, explicit };
}

/** The help of train.ts, with the defaults of the given preset and method. */
export function trainHelp(c: TrainConfig = defaultConfig()): string {
  const lines = [
    'Usage: npx tsx src/dbisl/train.ts [options]',
    '',
    'Trains DBiSL (or DTC) semi-supervised segmentation, then evaluates the last model on the test split.',
    'With no options: the synthetic preset on the best available backend.',
    `Boolean options also take a --no- form. Defaults are those of the preset '${c.preset}' and the method '${c.method}'.`,
    '',
  ];
  lines.push(...formatOptions(TRAIN_OPTIONS, c));
  const what: Record<PresetName, string> = {
    synthetic: 'generated LA-like volumes',
    la: 'LA (--data)',
    brats: 'BraTS2019 FLAIR whole tumour (--data)',
  };
  lines.push('', 'Presets:');
  for (const name of PRESETS) {
    const p = defaultConfig(name);
    const data = name === 'synthetic' ? ` ${p.synthetic.shape.join('×')}, ${p.synthetic.count} train / ${p.synthetic.testCount} test,` : ',';
    lines.push(`  ${name.padEnd(9)}  ${what[name]}${data} patch ${p.patch.join('×')}, batch ${p.batch} = ${p.labeledBatch} + ${p.batch - p.labeledBatch}, `
      + `${p.iterations} iterations, lr ${p.lr} × ${p.lrGamma} every ${p.lrStep}, ${p.labeled} labeled, n_filters ${p.nFilters}, dropout ${p.dropout ? 'on' : 'off'}, strides ${p.stride.join(',')}, ρ ${p.loss.radius}`);
  }
  return lines.join('\n') + '\n';
}

export function formatOptions(specs: readonly OptionSpec[], c: TrainConfig): string[] {
  const rows = specs.map((s) => {
    const flag = s.kind === 'bool' ? `--[no-]${s.name}` : s.kind === 'flag' ? `--${s.name}` : `--${s.name} ${s.arg ?? (s.choices ? s.choices.join('|') : 'V')}`;
    return [flag, `${s.help} (default: ${s.show(c)})`] as const;
  });
  const w = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`);
}

/** Options of evaluate.ts. */
export interface EvaluateArgs {
  checkpoint: string;
  data: string | null;
  preset: PresetName | null;
  out: string | null;
  backend: BackendChoice;
  stride: Triple | null;
  lcc: boolean | null;
  threshold: number | null;
  savePredictions: boolean;
  evalBatch: number | null;
  tuneConvs: boolean | 'retune';
  /** null: automatic (or as saved) */
  workers: number | null;
  figures: boolean | null;
  figureAxis: SliceAxis | null;
  /** only the overlay PNGs of the cases */
  figuresOnly: boolean;
  /** case ids (default: the test split) */
  cases: string[] | null;
}

const EVALUATE_EXTRA: readonly OptionSpec[] = [
  {
    name: 'checkpoint', kind: 'string', arg: 'FILE', help: 'a checkpoint written by train.ts (its configuration is read from it)',
    show: () => '(required)', set: () => {},
  },
  { name: 'figures-only', kind: 'flag', help: 'write only the overlay PNGs of the cases (no reports)', show: () => 'false', set: () => {} },
  { name: 'cases', kind: 'string', arg: 'ID,ID', help: 'evaluate only these cases', show: () => 'the test split', set: () => {} },
];

function evaluateSpecs(): OptionSpec[] {
  const names = new Set<string>(EVALUATE_OPTION_NAMES);
  return [...EVALUATE_EXTRA, ...TRAIN_OPTIONS.filter((s) => names.has(s.name))];
}

export function evaluateHelp(): string {
  const c = defaultConfig();
  const specs = evaluateSpecs().map((s) => ({ ...s, show: (cc: TrainConfig) => (['checkpoint'].includes(s.name) ? '(required)' : ['help', 'debug', 'save-predictions', 'backend', 'tune-convs', 'retune-convs', 'workers', 'figures-only', 'cases'].includes(s.name) ? s.show(cc) : 'from the checkpoint') }));
  return [
    'Usage: npx tsx src/dbisl/evaluate.ts --checkpoint FILE [--data DIR] [--preset P] [--out DIR] [options]',
    '',
    'Evaluates a saved model on the test split of its data set (sliding window, threshold, largest component).',
    '',
    ...formatOptions(specs, c),
  ].join('\n') + '\n';
}

export function parseEvaluateArgs(argv: readonly string[]): { help: true; text: string } | { help: false; args: EvaluateArgs } {
  const opts = tokenize(argv, evaluateSpecs());
  if (opts.some((o) => o.spec.name === 'help')) return { help: true, text: evaluateHelp() };
  const a: EvaluateArgs = {
    checkpoint: '', data: null, preset: null, out: null, backend: 'auto', stride: null, lcc: null, threshold: null, savePredictions: false, evalBatch: null, tuneConvs: false,
    workers: null, figures: null, figureAxis: null, figuresOnly: false, cases: null,
  };
  for (const { spec, value } of opts) {
    switch (spec.name) {
      case 'checkpoint': a.checkpoint = value as string; break;
      case 'data': a.data = value as string; break;
      case 'preset': a.preset = value as PresetName; break;
      case 'out': a.out = value as string; break;
      case 'backend': a.backend = value as BackendChoice; break;
      case 'stride': a.stride = value as Triple; break;
      case 'lcc': a.lcc = value as boolean; break;
      case 'threshold': a.threshold = value as number; break;
      case 'save-predictions': a.savePredictions = value as boolean; break;
      case 'eval-batch': a.evalBatch = value as number; break;
      case 'tune-convs': a.tuneConvs = value ? a.tuneConvs || true : false; break;
      case 'retune-convs': if (value) a.tuneConvs = 'retune'; break;
      case 'workers': a.workers = parseAutoInt('workers', value); break;
      case 'figures': a.figures = value as boolean; break;
      case 'figure-axis': a.figureAxis = value as SliceAxis; break;
      case 'figures-only': a.figuresOnly = value as boolean; break;
      case 'cases': {
        const ids = (value as string).split(',').map((id) => id.trim());
        if (ids.some((id) => id === '')) throw new CliError(`--cases: expected case ids separated by commas, got '${value as string}'`);
        a.cases = ids;
        break;
      }
    }
  }
  if (!a.checkpoint) throw new CliError('--checkpoint FILE is required (see --help)');
  if (a.figuresOnly && a.figures === false) throw new CliError('--figures-only contradicts --no-figures');
  return { help: false, args: a };
}

/** A one-line description of the loss configuration for logs and reports. */
export function describeLoss(l: LossConfig): string {
  const on = (b: boolean) => (b ? 'on' : 'off');
  return [
    `S*=${l.sdfTarget}`, `CE ${on(l.ce)}`, `β=${l.beta}`, `cross ${on(l.supCross)} (β_x=${l.betaX})`,
    `con ${on(l.con)} (r2s ${on(l.conR2S)}, s2r ${on(l.conS2R)})`, `pse ${on(l.pse)}`,
    `unc ${l.unc ? `${l.uncertainty} (γ=${l.gamma}${l.uncertainty === 'mask' ? `, τ=${l.tauMax}` : ''})` : 'off'}`,
    `λ_max=${l.lambdaMax} ramp ${l.rampupEpochs}×${l.epochIterations} it`, `k=${l.k}`, `ρ=${l.radius}`, `h=${l.h}`, `ε=${l.eps === 'auto' ? `auto (${cdtParams(cdtOptionsOf(l)).eps.toExponential(2)})` : l.eps}`,
  ].join(', ');
}
