import type { Backend, DType, MemoryStats, Storage, TypedArray } from '../backend.js';
import { fill } from '../elementwise/webgpu.js';
import { webgpuKernels, type ProvidedKernels } from '../registry.js';
import type { AcquiredDevice } from './device.js';
import { GpuRuntime, GpuStorage, wgslType } from './runtime.js';

function gpu(s: Storage): GpuStorage {
  if (!(s instanceof GpuStorage)) throw new Error(`webgpu backend: got a storage of the '${s.backend}' backend`);
  return s;
}

/** The kernel methods: each family's WebGPU kernels (registry.ts) on this backend's runtime, set in the constructor. */
export interface WebGPUBackend extends ProvidedKernels {}

/** WGSL kernels through Dawn. */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  readonly maxStorageBytes: number;
  readonly rt: GpuRuntime;

  constructor(readonly acquired: AcquiredDevice) {
    this.rt = new GpuRuntime(acquired.device, acquired.software);
    this.description = acquired.description;
    this.maxStorageBytes = acquired.device.limits.maxStorageBufferBindingSize;
    Object.assign(this, webgpuKernels(this.rt));
  }

  alloc(length: number, dtype: DType): Storage { wgslType(dtype); return this.rt.alloc(length, dtype); }
  free(s: Storage): void { this.rt.free(gpu(s)); }
  upload(data: TypedArray, dtype: DType): Storage {
    wgslType(dtype);
    const s = this.rt.alloc(data.length, dtype);
    // writeBuffer copies the bytes: convert only when the host array is not already of the storage's type
    const typed = dtype === 'int32' ? (data instanceof Int32Array ? data : Int32Array.from(data))
      : (data instanceof Float32Array ? data : Float32Array.from(data));
    this.rt.write(s, typed);
    return s;
  }
  read(s: Storage): Promise<TypedArray> { return this.rt.read(gpu(s)); }
  fill(length: number, value: number, dtype: DType): Storage { return fill(this.rt, length, value, dtype); }
  memory(): MemoryStats { return this.rt.memory(); }
  peakMemory(): number { return this.rt.peakBytes; }
  resetPeakMemory(): void { this.rt.resetPeak(); }
  sync(): Promise<void> { return this.rt.sync(); }
  dispose(): void { this.rt.destroy(); }
}
