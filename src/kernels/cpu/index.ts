import type { Backend, DType, MemoryStats, Storage, TypedArray } from '../backend.js';
import { bytesPerElement, typedArrayFor } from '../backend.js';
import { cpuKernels, type ProvidedKernels } from '../registry.js';
import { CpuStorage, cpuData } from './storage.js';

/** The kernel methods: each family's cpu oracle (registry.ts), set in the constructor. */
export interface CpuBackend extends ProvidedKernels {}

/** The oracle: every operation in plain TypeScript, float64-capable, written for clarity. */
export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly description = 'cpu: plain TypeScript (float32, int32, float64)';
  readonly maxStorageBytes = 2 ** 31;
  private live = new Set<Storage>();
  private liveBytes = 0;
  private peakBytes = 0;

  constructor() {
    Object.assign(this, cpuKernels((result) => this.keep(result)));
  }

  private track<S extends Storage>(s: S): S {
    this.live.add(s);
    this.liveBytes += s.length * bytesPerElement[s.dtype];
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return s;
  }

  /** Tracks what a kernel returned: a storage, or each storage of an object of them (nothing from in-place kernels). */
  private keep(result: unknown): void {
    if (result instanceof CpuStorage) this.track(result);
    else if (result !== undefined) for (const s of Object.values(result as Record<string, CpuStorage>)) this.track(s);
  }

  alloc(length: number, dtype: DType): Storage { return this.track(new CpuStorage(dtype, typedArrayFor(dtype, length))); }
  free(s: Storage): void {
    if (!this.live.delete(s)) throw new Error('cpu: storage freed twice');
    this.liveBytes -= s.length * bytesPerElement[s.dtype];
  }
  upload(data: TypedArray, dtype: DType): Storage {
    const out = typedArrayFor(dtype, data.length);
    out.set(data);
    return this.track(new CpuStorage(dtype, out));
  }
  async read(s: Storage): Promise<TypedArray> { return cpuData(s).slice(); }
  fill(length: number, value: number, dtype: DType): Storage {
    return this.track(new CpuStorage(dtype, typedArrayFor(dtype, length).fill(value)));
  }
  memory(): MemoryStats { return { liveBuffers: this.live.size, liveBytes: this.liveBytes, pooledBuffers: 0, pooledBytes: 0 }; }
  peakMemory(): number { return this.peakBytes; }
  resetPeakMemory(): void { this.peakBytes = this.liveBytes; }
  async sync(): Promise<void> {}
  dispose(): void {}
}
