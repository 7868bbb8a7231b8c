import type { DType } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage } from '../cpu/storage.js';
import { uniformAt } from '../random.js';

export function dropoutMask(shape: readonly number[], p: number, seed: number, channelwise: boolean,
  dtype: DType): CpuStorage {
  const size = shape.reduce((a, b) => a * b, 1);
  const perDraw = channelwise ? shape.slice(2).reduce((a, b) => a * b, 1) : 1;
  const out = typedArrayFor(dtype, size);
  const scale = p < 1 ? 1 / (1 - p) : 0;
  for (let i = 0; i < size; i++) out[i] = uniformAt(seed, Math.floor(i / perDraw)) >= p ? scale : 0;
  return new CpuStorage(dtype, out);
}
