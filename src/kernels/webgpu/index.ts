import type { Backend, DType, MemoryStats, Storage, TypedArray } from '../backend.js';
import * as cdt from './cdt.js';
import * as conv from './conv3d.js';
import type { AcquiredDevice } from './device.js';
import * as dropout from './dropout.js';
import * as ew from './elementwise.js';
import * as gather from './gather.js';
import * as gridSample from './grid-sample.js';
import * as interp from './interpolate.js';
import * as mm from './matmul.js';
import * as norm from './norm.js';
import * as optim from './optim.js';
import * as pool from './pool.js';
import * as red from './reduce.js';
import { GpuRuntime, GpuStorage, wgslType } from './runtime.js';

function gpu(s: Storage): GpuStorage {
  if (!(s instanceof GpuStorage)) throw new Error(`webgpu backend: got a storage of the '${s.backend}' backend`);
  return s;
}

/** WGSL kernels through Dawn. Each operation lives in its own file beside this one. */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  readonly maxStorageBytes: number;
  readonly rt: GpuRuntime;

  constructor(readonly acquired: AcquiredDevice) {
    this.rt = new GpuRuntime(acquired.device, acquired.software);
    this.description = acquired.description;
    this.maxStorageBytes = acquired.device.limits.maxStorageBufferBindingSize;
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
  fill(length: number, value: number, dtype: DType): Storage { return ew.fill(this.rt, length, value, dtype); }
  memory(): MemoryStats { return this.rt.memory(); }
  peakMemory(): number { return this.rt.peakBytes; }
  resetPeakMemory(): void { this.rt.resetPeak(); }
  sync(): Promise<void> { return this.rt.sync(); }
  dispose(): void { this.rt.destroy(); }

  copy: Backend['copy'] = (x) => ew.copy(this.rt, x);
  copyInto: Backend['copyInto'] = (dst, src) => ew.copyInto(this.rt, dst, src);
  cast: Backend['cast'] = (x, dtype) => ew.cast(this.rt, x, dtype);
  unary: Backend['unary'] = (op, x, params) => ew.unary(this.rt, op, x, params);
  binary: Backend['binary'] = (op, a, b) => ew.binary(this.rt, op, a, b);
  where: Backend['where'] = (c, a, b) => ew.where(this.rt, c, a, b);
  reduce: Backend['reduce'] = (op, x, axes) => red.reduce(this.rt, op, x, axes);
  argmax: Backend['argmax'] = (x, axis) => red.argmax(this.rt, x, axis);
  moments: Backend['moments'] = (...args) => norm.moments(this.rt, ...args);
  normalize: Backend['normalize'] = (...args) => norm.normalize(this.rt, ...args);
  normSums: Backend['normSums'] = (...args) => norm.normSums(this.rt, ...args);
  normBackward: Backend['normBackward'] = (...args) => norm.normBackward(this.rt, ...args);
  updateRunningStats: Backend['updateRunningStats'] = (...args) => norm.updateRunningStats(this.rt, ...args);
  matmul: Backend['matmul'] = (...args) => mm.matmul(this.rt, ...args);
  gather: Backend['gather'] = (...args) => gather.gather(this.rt, ...args);
  scatterAdd: Backend['scatterAdd'] = (...args) => gather.scatterAdd(this.rt, ...args);
  conv3d: Backend['conv3d'] = (...args) => conv.conv3d(this.rt, ...args);
  conv3dBackwardInput: Backend['conv3dBackwardInput'] = (...args) => conv.conv3dBackwardInput(this.rt, ...args);
  conv3dBackwardWeight: Backend['conv3dBackwardWeight'] = (...args) => conv.conv3dBackwardWeight(this.rt, ...args);
  maxPool3d: Backend['maxPool3d'] = (...args) => pool.maxPool3d(this.rt, ...args);
  maxPool3dBackward: Backend['maxPool3dBackward'] = (...args) => pool.maxPool3dBackward(this.rt, ...args);
  avgPool3d: Backend['avgPool3d'] = (...args) => pool.avgPool3d(this.rt, ...args);
  avgPool3dBackward: Backend['avgPool3dBackward'] = (...args) => pool.avgPool3dBackward(this.rt, ...args);
  interpolate: Backend['interpolate'] = (...args) => interp.interpolate(this.rt, ...args);
  interpolateBackward: Backend['interpolateBackward'] = (...args) => interp.interpolateBackward(this.rt, ...args);
  gridSample: Backend['gridSample'] = (...args) => gridSample.gridSample(this.rt, ...args);
  gridSampleBackwardInput: Backend['gridSampleBackwardInput'] = (...args) => gridSample.gridSampleBackwardInput(this.rt, ...args);
  gridSampleBackwardGrid: Backend['gridSampleBackwardGrid'] = (...args) => gridSample.gridSampleBackwardGrid(this.rt, ...args);
  dropoutMask: Backend['dropoutMask'] = (...args) => dropout.dropoutMask(this.rt, ...args);
  cdt: Backend['cdt'] = (...args) => cdt.cdt(this.rt, ...args);
  cdtBackward: Backend['cdtBackward'] = (...args) => cdt.cdtBackward(this.rt, ...args);
  sgdStep: Backend['sgdStep'] = (...args) => optim.sgdStep(this.rt, ...args);
  sgdSteps: Backend['sgdSteps'] = (...args) => optim.sgdSteps(this.rt, ...args);
  adamStep: Backend['adamStep'] = (...args) => optim.adamStep(this.rt, ...args);
}
