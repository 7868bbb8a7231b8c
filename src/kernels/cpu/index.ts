import type { Backend, DType, MemoryStats, Storage, TypedArray } from '../backend.js';
import { bytesPerElement, typedArrayFor } from '../backend.js';
import * as cdt from './cdt.js';
import * as conv from './conv3d.js';
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
import { CpuStorage, cpuData } from './storage.js';

/** The oracle: every operation in plain TypeScript, float64-capable, written for clarity. */
export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly description = 'cpu: plain TypeScript (float32, int32, float64)';
  readonly maxStorageBytes = 2 ** 31;
  private live = new Set<Storage>();
  private liveBytes = 0;
  private peakBytes = 0;

  private track<S extends Storage>(s: S): S {
    this.live.add(s);
    this.liveBytes += s.length * bytesPerElement[s.dtype];
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return s;
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

  copy: Backend['copy'] = (x) => this.track(ew.copy(x));
  copyInto: Backend['copyInto'] = (dst, src) => ew.copyInto(dst, src);
  cast: Backend['cast'] = (x, dtype) => this.track(ew.cast(x, dtype));
  unary: Backend['unary'] = (op, x, params) => this.track(ew.unary(op, x, params));
  binary: Backend['binary'] = (op, a, b) => this.track(ew.binary(op, a, b));
  where: Backend['where'] = (c, a, b) => this.track(ew.where(c, a, b));
  reduce: Backend['reduce'] = (op, x, axes) => this.track(red.reduce(op, x, axes));
  argmax: Backend['argmax'] = (x, axis) => this.track(red.argmax(x, axis));
  moments: Backend['moments'] = (...args) => {
    const { mean, variance } = norm.moments(...args);
    return { mean: this.track(mean), variance: this.track(variance) };
  };
  normalize: Backend['normalize'] = (...args) => this.track(norm.normalize(...args));
  normSums: Backend['normSums'] = (...args) => {
    const { sum, dot } = norm.normSums(...args);
    return { sum: this.track(sum), dot: this.track(dot) };
  };
  normBackward: Backend['normBackward'] = (...args) => this.track(norm.normBackward(...args));
  updateRunningStats: Backend['updateRunningStats'] = (...args) => norm.updateRunningStats(...args);
  matmul: Backend['matmul'] = (...args) => this.track(mm.matmul(...args));
  gather: Backend['gather'] = (...args) => this.track(gather.gather(...args));
  scatterAdd: Backend['scatterAdd'] = (...args) => this.track(gather.scatterAdd(...args));
  conv3d: Backend['conv3d'] = (...args) => this.track(conv.conv3d(...args));
  conv3dBackwardInput: Backend['conv3dBackwardInput'] = (...args) => this.track(conv.conv3dBackwardInput(...args));
  conv3dBackwardWeight: Backend['conv3dBackwardWeight'] = (...args) => this.track(conv.conv3dBackwardWeight(...args));
  maxPool3d: Backend['maxPool3d'] = (...args) => {
    const { values, indices } = pool.maxPool3d(...args);
    return { values: this.track(values), indices: this.track(indices) };
  };
  maxPool3dBackward: Backend['maxPool3dBackward'] = (...args) => this.track(pool.maxPool3dBackward(...args));
  avgPool3d: Backend['avgPool3d'] = (...args) => this.track(pool.avgPool3d(...args));
  avgPool3dBackward: Backend['avgPool3dBackward'] = (...args) => this.track(pool.avgPool3dBackward(...args));
  interpolate: Backend['interpolate'] = (...args) => this.track(interp.interpolate(...args));
  interpolateBackward: Backend['interpolateBackward'] = (...args) => this.track(interp.interpolateBackward(...args));
  gridSample: Backend['gridSample'] = (...args) => this.track(gridSample.gridSample(...args));
  gridSampleBackwardInput: Backend['gridSampleBackwardInput'] = (...args) => this.track(gridSample.gridSampleBackwardInput(...args));
  gridSampleBackwardGrid: Backend['gridSampleBackwardGrid'] = (...args) => this.track(gridSample.gridSampleBackwardGrid(...args));
  dropoutMask: Backend['dropoutMask'] = (...args) => this.track(dropout.dropoutMask(...args));
  cdt: Backend['cdt'] = (...args) => this.track(cdt.cdt(...args));
  cdtBackward: Backend['cdtBackward'] = (...args) => this.track(cdt.cdtBackward(...args));
  sgdStep: Backend['sgdStep'] = (...args) => optim.sgdStep(...args);
  sgdSteps: Backend['sgdSteps'] = (...args) => optim.sgdSteps(...args);
  adamStep: Backend['adamStep'] = (...args) => optim.adamStep(...args);
}
