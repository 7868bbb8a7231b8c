import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { record } from './graph.js';
import { add, checkFloat, reshape } from './ops.js';

/**
 * Mixed precision as torch.autocast, emulated: inside `autocast(fn, { dtype: 'float16' })`, F.conv3d and
 * F.convTranspose3d compute with their input and weight rounded to float16 and their output gradient rounded to
 * float16 on its way back, accumulating in float32; the bias, the output and every other operation stay float32
 * (as the master weights: the rounding's gradient reaches them unrounded). A kernel that reads float16 operands
 * and accumulates in float32 gives these values up to its summation order; here the operands are rounded by an
 * extra elementwise pass each and the float32 kernels run, so the mode costs time instead of saving it.
 */

/** the reduced precisions autocast emulates */
export type AutocastDtype = 'float16';

export interface AutocastOptions {
  dtype: AutocastDtype;
  /** false: fn runs without autocast (e.g. a float32 region inside an autocast one); default true */
  enabled?: boolean;
}

let autocastDtype: AutocastDtype | null = null;

/** The dtype the convolutions' operands are rounded to, or null outside autocast. */
export function getAutocastDtype(): AutocastDtype | null { return autocastDtype; }

/** Runs fn with autocast on (or off with enabled: false); nestable, and restored however fn ends. */
export function autocast<T>(fn: () => T, options: AutocastOptions): T {
  if ((options.dtype as string) !== 'float16') throw new Error(`autocast: dtype '${String(options.dtype)}' is not supported (only 'float16')`);
  const before = autocastDtype;
  autocastDtype = options.enabled === false ? null : options.dtype;
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('autocast: fn must be synchronous');
    return result;
  } finally {
    autocastDtype = before;
  }
}

/**
 * x rounded to the nearest float16 value (ties to even; beyond ±65504 to ±Inf), kept float32: what a kernel
 * reading x as float16 sees. Its gradient passes through unchanged (the kernel converts on load; the gradient of
 * the f32 tensor it read is that of the value it used), so it is no derivative of the rounding and no numerical
 * gradient check applies.
 */
export function roundToFloat16(x: Tensor): Tensor {
  checkFloat('roundToFloat16', x);
  const y = Tensor.fromStorage(x.backend, x.backend.unary('roundToFloat16', x.view), x.shape);
  return record('roundToFloat16', y, [x], (g) => [g]);
}

/**
 * x itself (a view, no dispatch), whose gradient is rounded to float16 on its way back: what a backward kernel
 * reading the output gradient as float16 sees. As roundToFloat16, no derivative (no numerical gradient check).
 */
export function roundGradToFloat16(x: Tensor): Tensor {
  checkFloat('roundGradToFloat16', x);
  return record('roundGradToFloat16', x.viewAs(x.shape, x.strides, x.offset), [x], (g) => [roundToFloat16(g)]);
}

/**
 * A convolution under the current autocast: outside it, conv(x, weight, bias) as it is; inside, conv of the
 * float16-rounded x and weight, its output gradient rounded to float16, and the bias added after in float32 (so
 * that its gradient, a float32 reduction of the output gradient, is not rounded).
 */
export function autocastConv(x: Tensor, weight: Tensor, bias: Tensor | null,
  conv: (x: Tensor, weight: Tensor, bias: Tensor | null) => Tensor): Tensor {
  if (autocastDtype === null) return conv(x, weight, bias);
  return tidy(() => {
    const y = roundGradToFloat16(conv(roundToFloat16(x), roundToFloat16(weight), null));
    return bias ? add(y, reshape(bias, y.shape.map((d, i) => (i === 1 ? d : 1)))) : y;
  });
}
