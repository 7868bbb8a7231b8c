/**
 * MONAI's HausdorffDTLoss and LogHausdorffDTLoss (monai/losses/hausdorff_loss.py), with the rest of MONAI's extra
 * losses in models/losses-extra.ts but here, in the imaging layer, because the distance fields are edt.ts's exact
 * Euclidean distance transforms (src/ imports only downwards: imaging may use models, not the reverse). The fields are
 * computed on the host without gradient, as MONAI's, so the loss is async.
 */
import { addScalar, log, mean, mul, square, sub } from '../autograd/index.js';
import { checkImageRank, checkNumber, reduceLoss } from '../models/losses-extra.js';
import { checkReduction } from '../models/loss-checks.js';
import { monaiInputs, type MonaiLossOptions } from '../models/losses.js';
import { Module } from '../models/module.js';
import { fromArray } from '../tensor/creation.js';
import { dispose, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { edtSquared } from './edt.js';
import type { Shape3 } from './volume.js';

export interface HausdorffDTLossOptions extends Omit<MonaiLossOptions, 'smoothNr' | 'smoothDr' | 'softLabel'> {
  /** the distances' exponent (default 2) */
  alpha?: number;
  /** MONAI's default here is false: channel 0 is left out (needs two or more channels) */
  includeBackground?: boolean;
}

/**
 * MONAI's distance field of one channel of a batch [N, 1, …] of values: per sample, where the mask v > 0.5 has both
 * foreground and background, each voxel's Euclidean distance (in voxels) to the nearest voxel of the other side
 * (scipy's distance_transform_edt of the mask plus that of its complement); 0 everywhere for a sample that is all one
 * side. Float64.
 */
export function hausdorffDistanceField(values: ArrayLike<number>, samples: number, shape: Readonly<Shape3>): Float64Array {
  const n = shape[0] * shape[1] * shape[2];
  if (values.length !== samples * n) throw new Error(`hausdorffDistanceField: ${values.length} values are not ${samples} samples of [${shape.join(', ')}]`);
  const field = new Float64Array(samples * n);
  for (let b = 0; b < samples; b++) {
    const fg = new Uint8Array(n), bg = new Uint8Array(n);
    let count = 0;
    for (let i = 0; i < n; i++) {
      const inside = values[b * n + i]! > 0.5;
      fg[i] = inside ? 1 : 0;
      bg[i] = inside ? 0 : 1;
      count += fg[i]!;
    }
    if (count === 0 || count === n) continue;
    const a = edtSquared(fg, shape), c = edtSquared(bg, shape);
    for (let i = 0; i < n; i++) field[b * n + i] = Math.sqrt(a[i]!) + Math.sqrt(c[i]!);
  }
  return field;
}

/**
 * MONAI's HausdorffDTLoss (Karimi & Salcudean 2019): per channel, mean over the voxels (and the batch with `batch`) of
 * (p − g)²·(d_p^α + d_g^α), where d_p, d_g are the distance fields (`hausdorffDistanceField`) of the prediction p and the
 * target g, computed without gradient as MONAI's; then reduced ('none': [N, K, 1, …], MONAI's broadcastable shape; [1,
 * K, 1, …] with batch). Activation, one-hot target and background as DiceLoss's (`monaiInputs`); unlike MONAI, a
 * single channel with includeBackground false (the default here) is an error instead of a warning. Async: the fields
 * are read back to the host.
 */
export async function hausdorffDTLoss(input: Tensor, target: Tensor, options: HausdorffDTLossOptions = {}): Promise<Tensor> {
  const op = 'hausdorffDTLoss';
  const alpha = options.alpha ?? 2, reduction = options.reduction ?? 'mean';
  checkNumber(op, 'alpha', alpha, Number.isFinite, 'a finite number');
  checkImageRank(op, 'input', input);
  const [p, g, axes] = tidy(() => {
    const r = monaiInputs(op, input, target, { ...options, includeBackground: options.includeBackground ?? false });
    return [r.p, r.g, r.axes] as const;
  });
  try {
    const [pv, gv] = await Promise.all([p.toArray(), g.toArray()]);
    const [N, K] = p.shape as [number, number];
    const spatial = p.shape.slice(2);
    const volume: Shape3 = spatial.length === 2 ? [spatial[0]!, spatial[1]!, 1] : [spatial[0]!, spatial[1]!, spatial[2]!];
    const n = volume[0] * volume[1] * volume[2];
    const distance = new Float64Array(N * K * n);
    for (let k = 0; k < K; k++) {
      // channel k of every sample, [N, …]
      const channel = (v: ArrayLike<number>) => Float64Array.from({ length: N * n }, (_, i) => v[(Math.floor(i / n) * K + k) * n + (i % n)]!);
      const dp = hausdorffDistanceField(channel(pv), N, volume), dg = hausdorffDistanceField(channel(gv), N, volume);
      for (let i = 0; i < N * n; i++) distance[(Math.floor(i / n) * K + k) * n + (i % n)] = dp[i]! ** alpha + dg[i]! ** alpha;
    }
    return tidy(() => {
      const d = fromArray(distance, p.shape, { dtype: p.dtype, backend: p.backend });
      return reduceLoss(mean(mul(square(sub(p, g)), d), axes, true), reduction);
    });
  } finally {
    dispose([p, g].filter((t) => t !== input && t !== target));
  }
}

/** MONAI's LogHausdorffDTLoss: log(hausdorffDTLoss + 1), after the reduction. */
export async function logHausdorffDTLoss(input: Tensor, target: Tensor, options: HausdorffDTLossOptions = {}): Promise<Tensor> {
  const loss = await hausdorffDTLoss(input, target, options);
  try {
    return tidy(() => log(addScalar(loss, 1)));
  } finally {
    loss.dispose();
  }
}

const hausdorffKinds: Readonly<Record<keyof HausdorffDTLossOptions, 'boolean' | 'number' | 'function' | 'reduction'>> = {
  alpha: 'number', includeBackground: 'boolean', toOnehotY: 'boolean', sigmoid: 'boolean', softmax: 'boolean', otherAct: 'function',
  reduction: 'reduction', batch: 'boolean',
};

/**
 * MONAI's HausdorffDTLoss as a Module: `await loss.forward(input, target)` (async, unlike loss-modules.ts's classes,
 * whose forward returns the tensor: the distance fields are read back first). Options as `hausdorffDTLoss`'s, checked
 * when the loss is made.
 */
export class HausdorffDTLoss extends Module {
  readonly options: Readonly<HausdorffDTLossOptions>;

  constructor(options: HausdorffDTLossOptions = {}) {
    super();
    const known: Readonly<Record<string, string>> = hausdorffKinds;
    for (const [name, value] of Object.entries(options)) {
      const kind = known[name];
      if (kind === undefined) throw new Error(`${this.typeName}: unknown option '${name}'; options: ${Object.keys(known).join(', ')}`);
      if (value === undefined) continue;
      const ok = kind === 'reduction' ? typeof value === 'string' : kind === 'function' ? value === null || typeof value === 'function' : typeof value === kind;
      if (!ok) throw new Error(`${this.typeName}: option ${name} must be ${kind === 'function' ? 'a function or null' : kind === 'reduction' ? "'mean', 'sum' or 'none'" : `a ${kind}`}, got ${String(value)}`);
      if (kind === 'reduction') checkReduction(this.typeName, value as string);
    }
    this.options = { ...options };
  }

  forward(input: Tensor, target: Tensor): Promise<Tensor> { return hausdorffDTLoss(input, target, this.options); }

  override extraRepr(): string {
    return Object.entries(this.options).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'function' ? 'function' : String(v)}`).join(', ');
  }

  override toString(): string { return `${this.typeName}(${this.extraRepr()})`; }
}

/** MONAI's LogHausdorffDTLoss: log(HausdorffDTLoss + 1). */
export class LogHausdorffDTLoss extends HausdorffDTLoss {
  override forward(input: Tensor, target: Tensor): Promise<Tensor> { return logHausdorffDTLoss(input, target, this.options); }
}
