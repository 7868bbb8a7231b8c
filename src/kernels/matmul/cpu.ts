import type { Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from '../cpu/storage.js';

export function matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number,
  aBatchStride: number, bBatchStride: number): CpuStorage {
  const A = cpuData(a), B = cpuData(b);
  const out = typedArrayFor(a.dtype, batch * m * n);
  // each row accumulates in float64 and is rounded to the output dtype once
  const row = new Float64Array(n);
  for (let t = 0; t < batch; t++) {
    const ao = t * aBatchStride, bo = t * bBatchStride, oo = t * m * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const av = A[ao + i * k + p];
        for (let j = 0; j < n; j++) row[j] += av * B[bo + p * n + j];
      }
      for (let j = 0; j < n; j++) out[oo + i * n + j] = row[j];
    }
  }
  return new CpuStorage(a.dtype, out);
}
