/**
 * DBiSL run configuration. Every setting of a run is described once, as data (TRAIN_OPTIONS: its option name, value
 * type, default, per preset where the presets differ, check and help); the defaults, the presets (synthetic, LA,
 * BraTS), command-line parsing, the checks and `--help` of `train.ts` / `evaluate.ts` are derived from it. DTC is a
 * method: its loss defaults are losses.ts's.
 *
 * Precedence: the preset (--preset) sets the data and schedule, the method (--method) sets the loss
 * terms, then every other option on the command line overrides, in order.
 */
import type { BackendChoice } from '../kernels/index.js';
import { cdtParams } from './transform.js';
import { cdtOptionsOf, dbislLossConfig, dtcLossConfig, type LossConfig, type SdfTarget, type UncertaintyMode } from './losses.js';
import { SLICE_AXES, type SliceAxis } from '../imaging/report/figures.js';
import type { Shape3 } from '../imaging/volume.js';

export type PresetName = 'synthetic' | 'la' | 'brats';
/**
 * fp32: everything in float32. mixed-emulated: the numerics of mixed precision (the convolutions' operands and
 * output gradients rounded to float16, float32 accumulation and master weights, loss scaling), emulated by rounding
 * passes around the float32 kernels: slower than fp32, not faster.
 */
export type Precision = 'fp32' | 'mixed-emulated';
export type Method = 'dbisl' | 'dtc';

export const PRESETS: readonly PresetName[] = ['synthetic', 'la', 'brats'];
export const METHODS: readonly Method[] = ['dbisl', 'dtc'];
const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu'];
const SDF_TARGETS: readonly SdfTarget[] = ['cdt', 'dtc'];
const UNCERTAINTY_MODES: readonly UncertaintyMode[] = ['exp', 'mask'];
/** LA's labeled counts: 5 / 10 / 20 / 50 % of the 80 training scans */
export const LA_LABELED: readonly number[] = [4, 8, 16, 40];

export interface SyntheticDataConfig {
  /** training cases */
  count: number;
  /** test cases */
  testCount: number;
  /** volume shape [X, Y, Z] */
  shape: Shape3;
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
  patch: Shape3;
  /** sliding-window strides */
  stride: Shape3;
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
  /** the evaluations during training (evalEvery) use the first N test cases (0: all); the final one always all */
  evalCases: number;
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
  /** the training step's arithmetic (the evaluation runs in float32) */
  precision: Precision;
  /** the slices of the overlay PNGs */
  figureAxis: SliceAxis;
  synthetic: SyntheticDataConfig;
  loss: LossConfig;
}

// ------------------------------------------------------------------------------------------ values

/** 'value': --name V; 'switch': --name and --no-name; 'flag': --name */
export type OptionForm = 'value' | 'switch' | 'flag';

/** How a setting's value is written on the command line and shown in the help. */
interface ValueType<T> {
  form: OptionForm;
  /** the value's placeholder in the help */
  arg: string;
  choices?: readonly string[];
  /** the value of a command-line string (switches and flags: 'true' or 'false'); throws CliError naming the option */
  parse(raw: string, option: string): T;
  format(value: T): string;
}

const expected = (option: string, what: string, raw: string) => new CliError(`--${option}: expected ${what}, got '${raw}'`);

const integer: ValueType<number> = {
  form: 'value', arg: 'N', format: String,
  parse(raw, option) {
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) throw expected(option, 'an integer', raw);
    return Number(raw);
  },
};

const real: ValueType<number> = {
  form: 'value', arg: 'X', format: String,
  parse(raw, option) {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw expected(option, 'a number', raw);
    return v;
  },
};

/** a count, or 'auto' (null) */
const countOrAuto: ValueType<number | null> = {
  form: 'value', arg: 'N|auto', format: (v) => (v === null ? 'auto' : String(v)),
  parse(raw, option) {
    const r = raw.trim();
    if (r !== 'auto' && !/^\d+$/.test(r)) throw new CliError(`--${option}: expected an integer ≥ 0 or 'auto', got '${r}'`);
    return r === 'auto' ? null : Number(r);
  },
};

const realOrAuto: ValueType<number | 'auto'> = {
  form: 'value', arg: 'auto|X', format: String,
  parse(raw, option) {
    if (raw === 'auto') return 'auto';
    const x = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(x)) throw expected(option, 'auto or a number', raw);
    return x;
  },
};

const triple: ValueType<Shape3> = {
  form: 'value', arg: 'X,Y,Z', format: (v) => v.join(','),
  parse(raw, option) {
    const parts = raw.split(/[,x×]/).map((s) => s.trim());
    if (parts.length === 1 && /^\d+$/.test(parts[0]!)) { const n = Number(parts[0]); return [n, n, n]; }
    if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p))) throw expected(option, 'three integers X,Y,Z', raw);
    return [Number(parts[0]), Number(parts[1]), Number(parts[2])];
  },
};

const text = (arg: string): ValueType<string> => ({ form: 'value', arg, format: (v) => v, parse: (raw) => raw });

/** a folder, none (null) by default */
const folder: ValueType<string | null> = { form: 'value', arg: 'DIR', format: (v) => v ?? 'none', parse: (raw) => raw };

function choice<T extends string>(choices: readonly T[]): ValueType<T> {
  return {
    form: 'value', arg: choices.join('|'), choices, format: (v) => v,
    parse(raw, option) {
      const found = choices.find((c) => c === raw);
      if (found === undefined) throw new CliError(`--${option}: '${raw}' is not valid; valid: ${choices.join(', ')}`);
      return found;
    },
  };
}

const precision: ValueType<Precision> = {
  ...choice<Precision>(['fp32', 'mixed-emulated']),
  parse(raw, option) {
    if (raw === 'mixed') {
      throw new CliError(`--${option} mixed (native float16 on tensor cores) needs the float16 / subgroup-matrix conv3d kernels, which are not written yet; --${option} mixed-emulated gives its numerics with the float32 kernels (slower than fp32)`);
    }
    return choice<Precision>(['fp32', 'mixed-emulated']).parse(raw, option);
  },
};

const onOff: ValueType<boolean> = { form: 'switch', arg: '', format: String, parse: (raw) => raw === 'true' };
const flag: ValueType<boolean> = { ...onOff, form: 'flag' };
/** --tune-convs: true once given, unless --retune-convs (which implies it) made it 'retune' */
const tuneFlag: ValueType<boolean | 'retune'> = { form: 'flag', arg: '', format: (v) => String(v !== false), parse: (raw) => raw === 'true' };

// ------------------------------------------------------------------------------------------ checks

/** What is wrong with a setting's value in a configuration, if anything (several problems: joined by '; '). */
type Check<T> = (value: T, c: TrainConfig, option: string) => string | undefined;

const problems = (...found: (string | false)[]): string | undefined => found.filter((p): p is string => p !== false).join('; ') || undefined;

const positiveInteger: Check<number> = (v, _c, o) => (Number.isInteger(v) && v >= 1 ? undefined : `--${o} must be a positive integer, got ${v}`);
const nonNegativeInteger: Check<number> = (v, _c, o) => (Number.isInteger(v) && v >= 0 ? undefined : `--${o} must be an integer ≥ 0, got ${v}`);
const finitePositive: Check<number> = (v, _c, o) => (v > 0 && Number.isFinite(v) ? undefined : `--${o} must be a finite number > 0, got ${v}`);
const finiteNonNegative: Check<number> = (v, _c, o) => (v >= 0 && Number.isFinite(v) ? undefined : `--${o} must be a finite number ≥ 0, got ${v}`);
const positive: Check<number> = (v, _c, o) => (v > 0 ? undefined : `--${o} must be positive, got ${v}`);
const countOrAutoCheck: Check<number | null> = (v, _c, o) => (v === null || (Number.isInteger(v) && v >= 0) ? undefined : `--${o} must be an integer ≥ 0 or auto, got ${v}`);

/** bounds that no real run reaches, so that a typo (--iters 1e20) or a corrupt checkpoint's configuration
 * (n_filters 100000) is named instead of failing deep inside an allocation */
export const MAX_ITERATIONS = 1_000_000_000;
export const MAX_FILTERS = 256;
export const MAX_PATCH_SIDE = 1024;

// ---------------------------------------------------------------------------------------- settings

export class CliError extends Error {
  override name = 'CliError';
}

/** A command-line option of train.ts or evaluate.ts, acting on a `Target` (a configuration). */
export interface CliOption<Target> {
  /** without the leading -- */
  readonly name: string;
  readonly form: OptionForm;
  readonly arg: string;
  readonly choices?: readonly string[];
  readonly help: string;
  /** parses a command-line value (CliError when malformed) into the change it makes */
  read(raw: string): (target: Target) => void;
  /** the current value as the help shows it */
  show(target: Target): string;
}

/** A setting of a run: an option of train.ts with its default, its check, and whether a resumed run may change it. */
export interface Setting extends CliOption<TrainConfig> {
  /** may differ between a checkpoint's run and its resumption */
  readonly resumable: boolean;
  /** what is wrong with the setting in a configuration, if anything */
  problem(c: TrainConfig): string | undefined;
  /** sets it from another configuration */
  copy(from: TrainConfig, to: TrainConfig): void;
}

type PerPreset<T> = Readonly<Record<PresetName, T>>;
/** a default for every preset, or one per preset */
type Default<T> = T | PerPreset<T>;
const perPreset = <T>(d: Default<T>): d is PerPreset<T> => typeof d === 'object' && d !== null && !Array.isArray(d);

/** the settings at a configuration's top level (the loss's are lossSetting()s; synthetic is no option) */
type TopKey = Exclude<keyof TrainConfig, 'loss' | 'synthetic'>;

interface SettingSpec<T> {
  help: string;
  check?: Check<T>;
  resumable?: true;
}

/** the part of a setting its place in the configuration decides */
interface Place<T> {
  get(c: TrainConfig): T;
  set(c: TrainConfig, v: T): void;
}

function makeSetting<T>(name: string, type: ValueType<T>, place: Place<T>, spec: SettingSpec<T>): Setting {
  const { get, set } = place;
  return {
    name, form: type.form, arg: type.arg, help: spec.help, resumable: spec.resumable === true,
    ...(type.choices ? { choices: type.choices } : {}),
    read(raw) { const v = type.parse(raw, name); return (c) => set(c, v); },
    show: (c) => type.format(get(c)),
    problem: (c) => spec.check?.(get(c), c, name),
    copy(from, to) { set(to, get(from)); },
  };
}

/** defaults of the settings at a configuration's top level, set by defaultConfig */
const TOP_DEFAULTS = new Map<TopKey, (c: Partial<TrainConfig>, preset: PresetName) => void>();

function setting<K extends TopKey>(name: string, key: K, type: ValueType<TrainConfig[K]>, fallback: Default<TrainConfig[K]>, spec: SettingSpec<TrainConfig[K]>): Setting {
  TOP_DEFAULTS.set(key, (c, preset) => { c[key] = perPreset(fallback) ? fallback[preset] : fallback; });
  return makeSetting(name, type, { get: (c) => c[key], set: (c, v) => { c[key] = v; } }, spec);
}

/** the loss settings' defaults per preset (on top of the method's, dbislLossConfig / dtcLossConfig), for methodLoss */
const LOSS_PRESET_DEFAULTS: Record<PresetName, Partial<LossConfig>> = { synthetic: {}, la: {}, brats: {} };

function lossSetting<K extends keyof LossConfig>(name: string, key: K, type: ValueType<LossConfig[K]>, spec: SettingSpec<LossConfig[K]> & { preset?: Partial<PerPreset<LossConfig[K]>> }): Setting {
  for (const p of PRESETS) if (spec.preset?.[p] !== undefined) LOSS_PRESET_DEFAULTS[p][key] = spec.preset[p];
  return makeSetting(name, type, { get: (c) => c.loss[key], set: (c, v) => { c.loss[key] = v; } }, spec);
}

/** --tune-convs given after --retune-convs leaves 'retune' */
function keepRetune(tune: Setting): Setting {
  return { ...tune, read: (raw) => { const apply = tune.read(raw); return (c) => { if (c.tuneConvs !== 'retune' || raw !== 'true') apply(c); }; } };
}

/** an option with no setting behind it */
function command(name: string, help: string): Setting {
  return makeSetting(name, flag, { get: () => false, set: () => {} }, { help });
}

const SYNTHETIC_DATA: PerPreset<SyntheticDataConfig> = {
  synthetic: { count: 16, testCount: 4, shape: [40, 40, 24], seed: 0 },
  la: { count: 16, testCount: 4, shape: [40, 40, 32], seed: 0 },
  brats: { count: 16, testCount: 4, shape: [40, 40, 32], seed: 0 },
};

/*
 * The synthetic preset is small and fast: about four minutes on a 2-core CPU through WebGPU on llvmpipe (≈ 1 s/iteration,
 * where the V-Net step is bound by dispatch overhead, not FLOPs), test Dice ≈ 95 % (see the synthetic data set in
 * data/synthetic.ts); a short schedule with a larger constant lr and a Dice check every 50 iterations. No dropout:
 * Dropout3d(0.5) drops whole channels, and with n_filters 4 the last decoder feature has 4, so 1 sample in 16 loses all
 * of them (the loss spikes every few iterations). Its λ(t) ramps up over 20 "epochs" of 5 iterations, and ρ = 4 keeps
 * the CDT (17³ → 9³ window) cheap on the small patches (ε follows ρ: see defaultCdtEps in transform.ts).
 */

/** Every option of train.ts, in the order of the help and of the checks (evaluate.ts uses a subset). */
export const TRAIN_OPTIONS: readonly Setting[] = [
  setting('preset', 'preset', choice(PRESETS), 'synthetic', {
    help: 'data set and schedule: synthetic (generated, small and fast), la, brats',
    check: (p, c) => (p !== 'synthetic' && !c.data
      ? `the ${p} preset needs --data DIR (${p === 'la' ? 'the LA root holding train.list, test.list and "2018LA_Seg_Training Set"' : 'the BraTS NIfTI folder'})`
      : undefined),
  }),
  setting('method', 'method', choice(METHODS), 'dbisl', { help: 'dbisl, or dtc (Dice + 0.3·MSE(R̂, compute_sdf) + one-way consistency)' }),
  setting('data', 'data', folder, null, {
    help: 'data root (LA: holds train.list and "2018LA_Seg_Training Set", or an LA pack of bench/la-pack.ts; BraTS: NIfTI folder)', resumable: true,
    check: (d, c) => (c.preset === 'synthetic' && d !== null ? `--data ${d}: the synthetic preset generates its data; choose --preset la or brats to read a folder` : undefined),
  }),
  setting('labeled', 'labeled', integer, { synthetic: 4, la: 8, brats: 25 }, {
    help: 'labeled training cases, the first N of the training list (LA: 4, 8, 16 or 40)',
    check: (n, c) => problems(
      !(Number.isInteger(n) && n >= c.labeledBatch) && `--labeled must be an integer ≥ --labeled-batch (${c.labeledBatch}), got ${n}`,
      c.preset === 'la' && !LA_LABELED.includes(n) && `--labeled for LA must be one of ${LA_LABELED.join(', ')}, got ${n}`,
      c.preset === 'synthetic' && n >= c.synthetic.count && `--labeled ${n} leaves no unlabeled case of the ${c.synthetic.count} synthetic training cases`,
    ),
  }),
  setting('iters', 'iterations', integer, { synthetic: 200, la: 6000, brats: 6000 }, {
    help: 'training iterations', resumable: true,
    check: (n, c, o) => problems(positiveInteger(n, c, o) ?? false, n > MAX_ITERATIONS && `--iters must be at most ${MAX_ITERATIONS}, got ${n}`),
  }),
  setting('batch', 'batch', integer, 4, { help: 'samples per batch', check: positiveInteger }),
  setting('labeled-batch', 'labeledBatch', integer, 2, {
    help: 'labeled samples per batch (the first rows)',
    check: (n, c) => (Number.isInteger(n) && n >= 1 && n <= c.batch ? undefined : `--labeled-batch must be an integer in [1, --batch = ${c.batch}], got ${n}`),
  }),
  setting('patch', 'patch', triple, { synthetic: [32, 32, 16], la: [112, 112, 80], brats: [96, 96, 96] }, {
    help: 'training patch and sliding window (multiples of 16)',
    check: (p) => (p.every((s) => Number.isInteger(s) && s >= 16 && s % 16 === 0 && s <= MAX_PATCH_SIDE)
      ? undefined : `--patch ${p.join(',')}: every side must be a multiple of 16 (the V-Net halves it four times) up to ${MAX_PATCH_SIDE}`),
  }),
  setting('stride', 'stride', triple, { synthetic: [16, 16, 8], la: [18, 18, 4], brats: [64, 64, 64] }, {
    help: 'sliding-window strides at test time', resumable: true,
    check: (s, c) => {
      const a = s.findIndex((v, i) => !(Number.isInteger(v) && v >= 1 && v <= c.patch[i]!));
      return a < 0 ? undefined : `--stride ${s.join(',')}: every stride must be an integer in [1, patch side ${c.patch[a]}]`;
    },
  }),
  // torch.optim.SGD's settings (its checks: momentum ≥ 0, weight_decay ≥ 0), then the step schedule (an lr that stays positive)
  setting('lr', 'lr', real, { synthetic: 0.05, la: 0.01, brats: 0.01 }, { help: 'SGD learning rate (× lr-gamma every lr-step iterations)', check: finitePositive }),
  setting('momentum', 'momentum', real, 0.9, { help: 'SGD momentum', check: finiteNonNegative }),
  setting('weight-decay', 'weightDecay', real, 1e-4, { help: 'SGD weight decay', check: finiteNonNegative }),
  setting('lr-step', 'lrStep', integer, { synthetic: 1000, la: 2500, brats: 2500 }, { help: 'iterations between learning-rate drops', check: positiveInteger }),
  setting('lr-gamma', 'lrGamma', real, 0.1, { help: 'learning-rate drop factor', check: finitePositive }),
  setting('seed', 'seed', integer, 1337, { help: 'seed of the initialisation, sampling, augmentation and dropout' }),
  setting('backend', 'backend', choice(BACKEND_CHOICES), 'auto', { help: 'auto: WebGPU when an adapter exists, else cpu', resumable: true }),
  // '': runs/<preset>-<method>-<labeled>l (defaultOut), once the options are applied
  setting('out', 'out', text('DIR'), '', { help: 'output folder (runs/<preset>-<method>-<labeled>l)', resumable: true }),
  setting('resume', 'resume', flag, false, { help: 'continue from <out>/checkpoint.safetensors', resumable: true }),
  setting('overwrite', 'overwrite', flag, false, {
    help: 'start afresh in an output folder that holds a checkpoint, replacing it', resumable: true,
    check: (o, c) => (o && c.resume ? '--resume and --overwrite contradict each other: continue the checkpoint, or replace it' : undefined),
  }),
  setting('eval-every', 'evalEvery', integer, { synthetic: 50, la: 0, brats: 0 }, {
    help: 'also evaluate on the test split every N iterations (0: only at the end)', resumable: true, check: nonNegativeInteger,
  }),
  setting('eval-cases', 'evalCases', integer, 0, {
    help: 'the evaluations of --eval-every use only the first N cases of the test split (0: all of them); the final evaluation always uses every case',
    resumable: true, check: nonNegativeInteger,
  }),
  setting('checkpoint-every', 'checkpointEvery', integer, { synthetic: 100, la: 500, brats: 500 }, {
    help: 'write a checkpoint every N iterations (and at the end)', resumable: true, check: positiveInteger,
  }),
  setting('n-filters', 'nFilters', integer, { synthetic: 4, la: 16, brats: 16 }, {
    help: 'V-Net width',
    check: (n, c, o) => problems(positiveInteger(n, c, o) ?? false,
      n > MAX_FILTERS && `--n-filters must be at most ${MAX_FILTERS} (the V-Net has ${MAX_FILTERS}² · 36 864 parameters there), got ${n}`),
  }),
  setting('dropout', 'dropout', onOff, { synthetic: false, la: true, brats: true }, { help: 'Dropout3d(0.5) in the V-Net while training' }),
  setting('lcc', 'lcc', onOff, true, { help: 'keep the largest connected component of each prediction', resumable: true }),
  setting('threshold', 'threshold', real, 0.5, {
    help: 'foreground threshold of the averaged probability', resumable: true,
    check: (t) => (t > 0 && t < 1 ? undefined : `--threshold must be in (0, 1), got ${t}`),
  }),
  setting('save-predictions', 'savePredictions', flag, false, { help: 'write each test prediction as NIfTI', resumable: true }),
  setting('eval-batch', 'evalBatch', integer, { synthetic: 4, la: 1, brats: 1 }, {
    help: 'sliding windows per forward pass at test time', resumable: true, check: positiveInteger,
  }),
  keepRetune(setting('tune-convs', 'tuneConvs', tuneFlag, false, {
    help: 'first time every candidate conv3d kernel for the run\'s shapes on this GPU and use the fastest (as torch.backends.cudnn.benchmark; results differ from the default kernels\' within float rounding); the choices are kept per GPU in $VOXGRAD_CACHE_DIR (default: $XDG_CACHE_HOME/voxgrad or ~/.cache/voxgrad), so only shapes not met before are timed',
  })),
  makeSetting('retune-convs', flag, { get: (c) => c.tuneConvs === 'retune', set: (c, v) => { c.tuneConvs = v ? 'retune' : c.tuneConvs === 'retune' ? true : c.tuneConvs; } }, {
    help: 'as --tune-convs, but time every shape again instead of taking the kept choices (which the new ones replace)',
  }),
  setting('workers', 'workers', countOrAuto, null, {
    help: 'data-loading worker threads (decoding, augmentation, DTC\'s compute_sdf); 0: on the training thread; auto: min(8, cores − 1); results do not depend on it',
    resumable: true, check: countOrAutoCheck,
  }),
  setting('cache-cases', 'cacheCases', countOrAuto, null, {
    help: 'decoded training cases kept in memory (shared by the workers); auto: all that fit in 40 % of the memory', resumable: true, check: countOrAutoCheck,
  }),
  setting('figures', 'figures', onOff, true, {
    help: 'after the evaluation: an overlay PNG per test case (figures/) and report.html with a slice viewer per case', resumable: true,
  }),
  setting('figure-axis', 'figureAxis', choice(SLICE_AXES), 'axial', { help: 'slices of the overlay PNGs: axial (z), coronal (y) or sagittal (x)', resumable: true }),
  setting('precision', 'precision', precision, 'fp32', {
    help: 'training arithmetic: fp32, or mixed-emulated (the conv3d operands and output gradients rounded to float16, float32 accumulation and master weights, dynamic loss scaling as torch.amp.GradScaler; emulated with rounding passes, so slower than fp32; native mixed needs float16 kernels not written yet); the evaluation runs in float32',
  }),
  // the loss: switches and weights (defaults: the method's, dbislLossConfig / dtcLossConfig in losses.ts)
  lossSetting('sup-cross', 'supCross', onOff, { help: 'cross-task supervision β_x·[Dice(T_r2s(R̂), Y) + MSE(T_s2r(Ŷ), S*)]' }),
  lossSetting('ce', 'ce', onOff, { help: 'CE(z, Y) in the supervised loss' }),
  lossSetting('con', 'con', onOff, { help: 'bidirectional consistency L_con' }),
  lossSetting('con-r2s', 'conR2S', onOff, { help: "L_con's term mean((T_r2s(R̂) − Ŷ)²)" }),
  lossSetting('con-s2r', 'conS2R', onOff, { help: "L_con's term mean((T_s2r(Ŷ) − R̂)²)" }),
  lossSetting('pse', 'pse', onOff, { help: 'pseudo-supervision L_pse on the unlabeled rows' }),
  lossSetting('unc', 'unc', onOff, { help: 'uncertainty weighting of L_pse (off: w = 1)' }),
  lossSetting('beta', 'beta', real, { help: 'β, weight of MSE(R̂, S*)', check: finiteNonNegative }),
  lossSetting('beta-x', 'betaX', real, { help: 'β_x, weight of the cross-task supervision', check: finiteNonNegative }),
  lossSetting('gamma', 'gamma', real, { help: 'γ of the uncertainty weight exp(−γU)', check: finiteNonNegative }),
  lossSetting('tau', 'tauMax', real, { help: 'τ_max of --uncertainty mask (τ ramps from 0.75·τ_max to τ_max)', check: finiteNonNegative }),
  lossSetting('k', 'k', real, { help: 'sharpness k of T_r2s(R̂) = σ(−k·R̂)', check: positive }),
  lossSetting('h', 'h', real, { help: 'CDT temperature h (voxels)', check: positive }),
  lossSetting('radius', 'radius', integer, { help: 'CDT window radius ρ (voxels)', check: positiveInteger, preset: { synthetic: 4 } }),
  lossSetting('eps', 'eps', realOrAuto, {
    help: 'CDT floor ε of p inside the logarithm; auto: e^(−ρ/h)/Σ_u e^(−‖u‖/h) over the window, so the floor never caps a distance ≤ ρ',
    check: (e) => (e === 'auto' || (e > 0 && e < 1) ? undefined : `--eps must be auto or in (0, 1), got ${e}`),
  }),
  lossSetting('lambda-max', 'lambdaMax', real, { help: 'λ_max of the ramped weight λ(t) of L_con + L_pse', check: finiteNonNegative }),
  lossSetting('rampup', 'rampupEpochs', integer, { help: 'λ(t) ramp-up length in epochs', check: nonNegativeInteger, preset: { synthetic: 20 } }),
  lossSetting('epoch-iters', 'epochIterations', integer, { help: 'iterations per ramp-up epoch', check: positiveInteger, preset: { synthetic: 5 } }),
  lossSetting('sdf-target', 'sdfTarget', choice(SDF_TARGETS), { help: "S*: 'cdt' = T_s2r(Y) (same scale as the predictions), 'dtc' = DTC's compute_sdf" }),
  lossSetting('uncertainty', 'uncertainty', choice(UNCERTAINTY_MODES), { help: "'exp': w = exp(−γU); 'mask': w = 1[U < τ(t)] (UA-MT style)" }),
  command('help', 'print this help'),
  command('debug', 'show the stack of an error (errors are one line without it)'),
];

/** Loss defaults of a method on a preset (the synthetic preset scales the ramp-up and ρ to its short run). */
export function methodLoss(method: Method, preset: PresetName): LossConfig {
  const base = method === 'dtc' ? dtcLossConfig() : dbislLossConfig();
  return { ...base, ...LOSS_PRESET_DEFAULTS[preset] };
}

/** the keys of a configuration in the order config.json and checkpoints have always had */
const CONFIG_KEYS: readonly (keyof TrainConfig)[] = [
  'preset', 'method', 'backend', 'resume', 'overwrite', 'out', 'data', 'lr', 'lrStep', 'lrGamma', 'momentum', 'weightDecay', 'seed', 'evalEvery',
  'checkpointEvery', 'nFilters', 'dropout', 'lcc', 'threshold', 'savePredictions', 'evalBatch', 'tuneConvs', 'workers', 'cacheCases', 'figures',
  'figureAxis', 'synthetic', 'labeled', 'iterations', 'batch', 'labeledBatch', 'patch', 'stride', 'loss', 'precision',
  'evalCases',
];

export function defaultConfig(preset: PresetName = 'synthetic', method: Method = 'dbisl'): TrainConfig {
  const c: Partial<TrainConfig> = {};
  for (const key of CONFIG_KEYS) {
    if (key === 'synthetic') c.synthetic = { ...SYNTHETIC_DATA[preset], shape: [...SYNTHETIC_DATA[preset].shape] };
    else if (key === 'loss') c.loss = methodLoss(method, preset);
    else TOP_DEFAULTS.get(key)!(c, preset);
  }
  c.preset = preset;
  c.method = method;
  // every key is set above (and the default triples are fresh arrays: configurations share nothing)
  const full = c as TrainConfig;
  full.patch = [...full.patch];
  full.stride = [...full.stride];
  return full;
}

/** The default output folder: runs/<preset>-<method>-<labeled>l */
export function defaultOut(c: Pick<TrainConfig, 'preset' | 'method' | 'labeled'>): string {
  return `runs/${c.preset}-${c.method}-${c.labeled}l`;
}

/** Throws with every problem of a configuration (what the trainer relies on), or of some of its settings. */
export function validateConfig(c: TrainConfig, only?: readonly string[]): void {
  const found = TRAIN_OPTIONS.filter((s) => !only || only.includes(s.name)).map((s) => s.problem(c)).filter((p) => p !== undefined);
  if (found.length) throw new CliError(found.join('; '));
}

// ---------------------------------------------------------------------------------------------- CLI

interface Given<Target> { option: CliOption<Target>; apply: (target: Target) => void }

function tokenize<Target>(argv: readonly string[], options: readonly CliOption<Target>[]): Given<Target>[] {
  const byName = new Map(options.map((o) => [o.name, o]));
  const out: Given<Target>[] = [];
  const valid = () => options.map((o) => (o.form === 'switch' ? `--[no-]${o.name}` : `--${o.name}`)).join(', ');
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!tok.startsWith('--') || tok === '--') throw new CliError(`unexpected argument '${tok}'; options start with --. Valid options: ${valid()}`);
    const eq = tok.indexOf('=');
    const name = tok.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : tok.slice(eq + 1);
    let option = byName.get(name);
    let negated = false;
    if (!option && name.startsWith('no-')) {
      const o = byName.get(name.slice(3));
      if (o && o.form === 'switch') { option = o; negated = true; }
    }
    if (!option) throw new CliError(`unknown option '--${name}'. Valid options: ${valid()} (see --help)`);
    let raw = inline;
    if (option.form !== 'value') {
      if (inline !== undefined && (negated || !['true', 'false'].includes(inline))) throw new CliError(`--${name}: takes no value (got '${inline}')`);
      raw ??= String(!negated);
    } else if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new CliError(`--${name}: missing value (${option.arg})`);
      raw = next;
      i++;
    }
    out.push({ option, apply: option.read(raw) });
  }
  return out;
}

export type ParseResult = { help: true; text: string } | { help: false; config: TrainConfig; explicit: Set<string> };

/** Parses train.ts's arguments into a validated configuration (or the help text). Throws CliError. */
export function parseTrainArgs(argv: readonly string[]): ParseResult {
  const given = tokenize(argv, TRAIN_OPTIONS);
  // the preset and the method choose the defaults; then every option applies, in order
  const chosen = defaultConfig();
  for (const g of given) g.apply(chosen);
  const c = defaultConfig(chosen.preset, chosen.method);
  if (given.some((g) => g.option.name === 'help')) return { help: true, text: trainHelp(c) };
  for (const g of given) g.apply(c);
  if (c.out === '') c.out = defaultOut(c);
  validateConfig(c);
  return { help: false, config: c, explicit: new Set(given.map((g) => g.option.name)) };
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
  lines.push(...formatOptions(TRAIN_OPTIONS, { ...c, out: c.out === '' ? defaultOut(c) : c.out }));
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

export function formatOptions<Target>(options: readonly CliOption<Target>[], target: Target): string[] {
  const rows = options.map((o) => {
    const flagText = o.form === 'switch' ? `--[no-]${o.name}` : o.form === 'flag' ? `--${o.name}` : `--${o.name} ${o.arg}`;
    return [flagText, `${o.help} (default: ${o.show(target)})`] as const;
  });
  const w = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`);
}

// -------------------------------------------------------------------------------------- evaluate.ts

/** Options of evaluate.ts. */
export interface EvaluateArgs {
  checkpoint: string;
  data: string | null;
  preset: PresetName | null;
  out: string | null;
  backend: BackendChoice;
  stride: Shape3 | null;
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

/** Options evaluate.ts accepts. */
export const EVALUATE_OPTION_NAMES = ['checkpoint', 'data', 'preset', 'out', 'backend', 'stride', 'lcc', 'threshold', 'save-predictions', 'eval-batch', 'tune-convs', 'retune-convs', 'workers', 'figures', 'figure-axis', 'figures-only', 'cases', 'help', 'debug'] as const;

/** the settings whose evaluate.ts default is its own, not the checkpoint's */
const EVALUATE_OWN_DEFAULTS: readonly string[] = ['backend', 'save-predictions', 'tune-convs', 'retune-convs', 'workers', 'help', 'debug'];

/** what evaluate.ts's options act on: its own arguments, and the settings they override */
interface EvaluateTarget { args: EvaluateArgs; config: TrainConfig }

function evaluateOnly<T>(name: string, type: ValueType<T>, help: string, shown: string, set: (a: EvaluateArgs, v: T) => void): CliOption<EvaluateTarget> {
  return {
    name, form: type.form, arg: type.arg, help,
    read(raw) { const v = type.parse(raw, name); return (t) => set(t.args, v); },
    show: () => shown,
  };
}

const caseIds: ValueType<string[]> = {
  form: 'value', arg: 'ID,ID', format: (ids) => ids.join(','),
  parse(raw, option) {
    const ids = raw.split(',').map((id) => id.trim());
    if (ids.some((id) => id === '')) throw new CliError(`--${option}: expected case ids separated by commas, got '${raw}'`);
    return ids;
  },
};

function evaluateOptions(): CliOption<EvaluateTarget>[] {
  const names = new Set<string>(EVALUATE_OPTION_NAMES);
  const shared = TRAIN_OPTIONS.filter((s) => names.has(s.name)).map((s): CliOption<EvaluateTarget> => ({
    ...s,
    read(raw) { const apply = s.read(raw); return (t) => apply(t.config); },
    show: (t) => (EVALUATE_OWN_DEFAULTS.includes(s.name) ? s.show(t.config) : 'from the checkpoint'),
  }));
  return [
    evaluateOnly('checkpoint', text('FILE'), 'a checkpoint written by train.ts (its configuration is read from it)', '(required)', (a, v) => { a.checkpoint = v; }),
    evaluateOnly('figures-only', flag, 'write only the overlay PNGs of the cases (no reports)', 'false', (a, v) => { a.figuresOnly = v; }),
    evaluateOnly('cases', caseIds, 'evaluate only these cases', 'the test split', (a, v) => { a.cases = v; }),
    ...shared,
  ];
}

function evaluateTarget(): EvaluateTarget {
  return {
    args: {
      checkpoint: '', data: null, preset: null, out: null, backend: 'auto', stride: null, lcc: null, threshold: null, savePredictions: false, evalBatch: null,
      tuneConvs: false, workers: null, figures: null, figureAxis: null, figuresOnly: false, cases: null,
    },
    config: defaultConfig(),
  };
}

export function evaluateHelp(): string {
  return [
    'Usage: npx tsx src/dbisl/evaluate.ts --checkpoint FILE [--data DIR] [--preset P] [--out DIR] [options]',
    '',
    'Evaluates a saved model on the test split of its data set (sliding window, threshold, largest component).',
    '',
    ...formatOptions(evaluateOptions(), evaluateTarget()),
  ].join('\n') + '\n';
}

export function parseEvaluateArgs(argv: readonly string[]): { help: true; text: string } | { help: false; args: EvaluateArgs } {
  const given = tokenize(argv, evaluateOptions());
  if (given.some((g) => g.option.name === 'help')) return { help: true, text: evaluateHelp() };
  const t = evaluateTarget();
  for (const g of given) g.apply(t);
  const names = new Set(given.map((g) => g.option.name));
  const c = t.config;
  /** a setting of the checkpoint's configuration that the command line overrides, or null */
  const override = <K extends keyof TrainConfig>(name: string, key: K): TrainConfig[K] | null => (names.has(name) ? c[key] : null);
  const a: EvaluateArgs = {
    ...t.args, data: override('data', 'data'), preset: override('preset', 'preset'), out: override('out', 'out'), backend: c.backend,
    stride: override('stride', 'stride'), lcc: override('lcc', 'lcc'), threshold: override('threshold', 'threshold'), savePredictions: c.savePredictions,
    evalBatch: override('eval-batch', 'evalBatch'), tuneConvs: c.tuneConvs, workers: c.workers, figures: override('figures', 'figures'),
    figureAxis: override('figure-axis', 'figureAxis'),
  };
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
