import { erf } from '../kernels/elementwise/cpu.js';
import { uniformAt } from '../kernels/random.js';
import { assign } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import { fromArray, normalAt } from '../tensor/creation.js';
import { nextSeed } from '../tensor/seed.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * torch.nn.init: functions that overwrite a tensor (a parameter, typically) in place with values of PyTorch's
 * distributions, drawn from the counter-based generator by a seed (default: the global generator's next; see
 * manualSeed), so that a seed gives the same values on every backend. The distributions are PyTorch's, the values
 * not (another generator). The layers' default initialisation (layers.ts) is kaimingUniform_ with a = √5 and
 * a bias U(±1/√fan_in), as PyTorch's reset_parameters.
 */

/** torch.nn.init.calculate_gain's nonlinearities */
export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (PyTorch's calculate_gain; `param`: leaky_relu's negative slope, 0.01 by default). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d':
    case 'conv_transpose1d': case 'conv_transpose2d': case 'conv_transpose3d': case 'sigmoid':
      return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new Error(`calculateGain: negative_slope ${slope} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new Error(`calculateGain: unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/**
 * PyTorch's fan_in and fan_out of a weight: size(1) and size(0), each times the receptive field prod(shape[2:])
 * (so a ConvTranspose3d weight [in, out, k…] has fan_in out·k³); fewer than 2 dimensions is an error.
 */
export function fanInAndFanOut(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (${formatShape(shape)})`);
  const receptiveField = sizeOf(shape.slice(2));
  return { fanIn: shape[1]! * receptiveField, fanOut: shape[0]! * receptiveField };
}

/** which fan scales the variance: fan_in keeps the forward pass's, fan_out the backward's */
export type FanMode = 'fan_in' | 'fan_out';

export interface SeedOption {
  /** the seed of the values (default: the global generator's next) */
  seed?: number;
}

export interface KaimingOptions extends SeedOption {
  /** the negative slope of the leaky_relu after this layer (0 by default) */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** t ← values (host numbers of t's size), in place and unrecorded */
function overwrite(t: Tensor, values: Float64Array): Tensor {
  const staging = fromArray(values, t.shape, { backend: t.backend, dtype: t.dtype });
  try {
    noGrad(() => assign(t, staging));
  } finally {
    staging.dispose();
  }
  return t;
}

function draw(t: Tensor, seed: number | undefined, value: (s: number, i: number) => number): Tensor {
  const s = seed ?? nextSeed(), values = new Float64Array(t.numel());
  for (let i = 0; i < values.length; i++) values[i] = value(s, i);
  return overwrite(t, values);
}

/** U(a, b) in place (init.uniform_). */
export function uniform_(t: Tensor, a = 0, b = 1, options: SeedOption = {}): Tensor {
  return draw(t, options.seed, (s, i) => a + (b - a) * uniformAt(s, i));
}

/** N(mean, std²) in place (init.normal_). */
export function normal_(t: Tensor, mean = 0, std = 1, options: SeedOption = {}): Tensor {
  return draw(t, options.seed, (s, i) => mean + std * normalAt(s, i));
}

/** Every element ← value (init.constant_); zeros_ and ones_ are its two common cases. */
export function constant_(t: Tensor, value: number): Tensor { return overwrite(t, new Float64Array(t.numel()).fill(value)); }
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** Glorot: U(±gain·√(6/(fan_in + fan_out))) in place (init.xavier_uniform_). */
export function xavierUniform_(t: Tensor, gain = 1, options: SeedOption = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t.shape);
  const bound = Math.sqrt(3) * gain * Math.sqrt(2 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, options);
}

/** Glorot: N(0, gain²·2/(fan_in + fan_out)) in place (init.xavier_normal_). */
export function xavierNormal_(t: Tensor, gain = 1, options: SeedOption = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t.shape);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), options);
}

/** He: the standard deviation gain/√fan (PyTorch's, leaky_relu with a = 0 by default) */
function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const { fanIn, fanOut } = fanInAndFanOut(t.shape);
  const mode = options.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new Error(`kaiming init: mode must be 'fan_in' or 'fan_out', got ${String(mode)}`);
  return calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
}

/** He: U(±√3·gain/√fan) in place (init.kaiming_uniform_; a = √5 gives the layers' default, U(±1/√fan_in)). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options);
  return uniform_(t, -bound, bound, options);
}

/** He: N(0, (gain/√fan)²) in place (init.kaiming_normal_). */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, options), options);
}

/**
 * erf⁻¹(y) for y in (−1, 1): Giles' single-precision polynomial ("Approximating the erfinv function", 2010), then two
 * Newton steps on the float64 erf
 */
export function erfinv(y: number): number {
  if (y <= -1 || y >= 1) return y === 1 ? Infinity : y === -1 ? -Infinity : NaN;
  let w = -Math.log((1 - y) * (1 + y)), p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    for (const c of [3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]) p = c + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    for (const c of [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]) p = c + p * w;
  }
  let x = p * y;
  for (let k = 0; k < 2; k++) x -= (erf(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
  return x;
}

export interface TruncNormalOptions extends SeedOption {
  mean?: number;
  std?: number;
  /** the bounds (−2 and 2 by default: absolute values, not standard deviations, as PyTorch's) */
  a?: number;
  b?: number;
}

/**
 * N(mean, std²) truncated to [a, b] in place (init.trunc_normal_, by PyTorch's method: a uniform between the bounds'
 * CDF values mapped through the inverse CDF, then clamped to [a, b]).
 */
export function truncNormal_(t: Tensor, options: TruncNormalOptions = {}): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2 } = options;
  if (!(a < b) || !(std > 0)) throw new Error(`truncNormal_: needs a < b and std > 0, got a ${a}, b ${b}, std ${std}`);
  const cdf = (x: number) => (1 + erf((x - mean) / std / Math.SQRT2)) / 2;
  const lo = 2 * cdf(a) - 1, hi = 2 * cdf(b) - 1;
  return draw(t, options.seed, (s, i) => {
    const x = mean + std * Math.SQRT2 * erfinv(lo + (hi - lo) * uniformAt(s, i));
    return Math.min(Math.max(x, a), b);
  });
}
