import type { ConvNormEpilogue, DType, Storage } from '../backend.js';
import { checkNorm } from '../norm/checks.js';

/**
 * The argument rules of a convolution's epilogue (ConvNormEpilogue, and convTranspose3d's bias given to
 * conv3dBackwardInput), shared by the cpu oracle and the WebGPU entry points: the normalisation's terms as the
 * normalize kernel checks them for one statistics group per output channel, in the convolution's dtype.
 */

export function checkConvEpilogue(what: string, epilogue: ConvNormEpilogue, channels: number, dtype: DType): void {
  const { norm } = epilogue;
  checkNorm(what, { outer: 0, channels, inner: 0, perGroup: 1, params: channels }, [], norm);
  if (norm.mean.dtype !== dtype) throw new Error(`${what}: the epilogue's batch-norm terms are ${norm.mean.dtype}, the convolution ${dtype}`);
}

export function checkConvEpilogueBias(what: string, bias: Storage, channels: number): void {
  if (bias.length !== channels) throw new Error(`${what}: bias of ${bias.length} elements, expected one per output channel (${channels})`);
}
