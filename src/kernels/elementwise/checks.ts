import type { View } from '../backend.js';
import { formatShape } from '../layout.js';

/* The argument checks of the elementwise kernels, shared by the cpu oracle and the WebGPU kernels. */

/**
 * copyInto / addInto write src into dst (or add it): one shape, one dtype, two storages, and no element of dst
 * written twice. A stride of 0 over an extent above 1 (an expanded view) would make the result depend on the
 * order of the writes, which a GPU does not fix (PyTorch refuses such a copy_ too).
 */
export function checkInto(op: string, dst: View, src: View): void {
  if (dst.storage === src.storage) throw new Error(`${op}: the same storage as source and destination`);
  if (dst.shape.length !== src.shape.length || dst.shape.some((d, i) => d !== src.shape[i])) {
    throw new Error(`${op}: destination ${formatShape(dst.shape)} and source ${formatShape(src.shape)} differ in shape`);
  }
  if (dst.storage.dtype !== src.storage.dtype) {
    throw new Error(`${op}: destination ${dst.storage.dtype} and source ${src.storage.dtype} differ in dtype`);
  }
  const repeated = dst.shape.findIndex((d, i) => d > 1 && dst.strides[i] === 0);
  if (repeated >= 0) {
    throw new Error(`${op}: the destination ${formatShape(dst.shape)} repeats its elements along axis ${repeated} (stride 0); write into a tensor of its own`);
  }
}
