import type { Backend, IndexCheckWording, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { sizeOf } from '../layout.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex, wgslIndexCheck, wgslType } from '../webgpu/runtime.js';
import { aroundAxis, checkGatherShapes, checkOneHot, indexOutOfRange } from './checks.js';

/**
 * torch.gather along an axis and its adjoint scatterAdd. Both see their tensors as (outer, axis, inner):
 * index and src have the shape [outer, n, inner], x (and scatterAdd's output) [outer, xn, inner].
 *  - gather: one invocation per output element, out[o, i, r] = x[o, index[o, i, r], r].
 *  - scatterAdd, deterministic (default): one invocation per output element (o, j, r) sums src[o, i, r]
 *    over the i with index[o, i, r] = j, walking i in order: no atomics, the same bits on every run.
 *    Adjacent invocations take adjacent r, so the index and src reads are coalesced.
 *  - scatterAdd with atomics, when n·xn is large (each output would walk a long index axis): zero the
 *    output, then one invocation per src element adds into its dst with atomicAdd (int32) or a
 *    compare-exchange loop on the float's bits (float32; WGSL has no float atomics). The summation order,
 *    hence the last bits of a float result, then depends on scheduling.
 * An index out of range is skipped (gather writes 0) and reported in the runtime's device-side error word
 * (wgslIndexCheck), which the next readback throws with the cpu oracle's words: the cpu oracle throws at once.
 * Also F.one_hot, one invocation per output element, checking its indices the same way.
 */

const WG = 256;
/** the deterministic scatterAdd walks n index entries per output; above this n·xn atomics win */
const DETERMINISTIC_MAX_WORK = 16384;

const header = `struct Params { total: u32, n: u32, xn: u32, inner: u32, site: u32 }`;

/**
 * WGSL shared by the three kernels over (outer, axis, inner) elements: the bindings (the data read, idx, out, the
 * error word, P) and the head of main, one invocation per element `at` < P.total, r its inner coordinate.
 */
function elementKernelHead(input: 'x' | 'src', t: string, out: string): string {
  return `${header}
@group(0) @binding(0) var<storage, read> ${input}: array<${t}>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<${out}>;
@group(0) @binding(4) var<uniform> P: Params;
${wgslIndexCheck(3)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let at = ${wgslFlatIndex(WG)};
  if (at >= P.total) { return; }
  let r = at % P.inner;`;
}

function gatherSource(t: string): string {
  return /* wgsl */ `
${elementKernelHead('x', t, t)}
  let o = at / P.inner / P.n;
  let j = idx[at];
  var v = ${t}(0);
  if (j >= 0 && u32(j) < P.xn) { v = x[(o * P.xn + u32(j)) * P.inner + r]; } else { reportBadIndex(P.site, j, P.xn, at); }
  out[at] = v;
}`;
}

function scatterGatherStyleSource(t: string): string {
  return /* wgsl */ `
${elementKernelHead('src', t, t)}
  let oj = at / P.inner;
  let j = i32(oj % P.xn);
  let o = oj / P.xn;
  var acc = ${t}(0);
  var pos = o * P.n * P.inner + r;
  for (var i = 0u; i < P.n; i++) {
    let k = idx[pos];
    if (k == j) { acc += src[pos]; }
    // each bad entry is seen by the xn outputs of its (o, r): the one at j = 0 reports it
    else if (j == 0 && u32(k) >= P.xn) { reportBadIndex(P.site, k, P.xn, pos); }
    pos += P.inner;
  }
  out[at] = acc;
}`;
}

function zeroSource(): string {
  return /* wgsl */ `
${header}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> P: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let at = ${wgslFlatIndex(WG)};
  if (at < P.total) { out[at] = 0u; }
}`;
}

function scatterAtomicSource(t: string): string {
  const add = t === 'i32'
    ? 'atomicAdd(&out[dst], v);'
    : `var old = atomicLoad(&out[dst]);
  loop {
    let next = bitcast<u32>(bitcast<f32>(old) + v);
    let res = atomicCompareExchangeWeak(&out[dst], old, next);
    if (res.exchanged) { break; }
    old = res.old_value;
  }`;
  return /* wgsl */ `
${elementKernelHead('src', t, `atomic<${t === 'i32' ? 'i32' : 'u32'}>`)}
  let o = at / P.inner / P.n;
  let j = idx[at];
  if (j < 0 || u32(j) >= P.xn) { reportBadIndex(P.site, j, P.xn, at); return; }
  let dst = (o * P.xn + u32(j)) * P.inner + r;
  let v = src[at];
  ${add}
}`;
}

/** the error word's code for an index check of `op` along `axis` */
function indexSite(rt: GpuRuntime, op: 'gather' | 'scatterAdd', axis: number): number {
  return rt.errorSite(`${op}:${axis}`, (index, bound, element) => indexOutOfRange(op, index, bound, axis, element));
}

export function gather(rt: GpuRuntime, x: Storage, xShape: readonly number[], axis: number, index: Storage,
  indexShape: readonly number[], wording?: IndexCheckWording): GpuStorage {
  checkGatherShapes('webgpu gather', xShape, indexShape, axis);
  const t = wgslType(x.dtype);
  const total = sizeOf(indexShape);
  const out = rt.alloc(total, x.dtype);
  if (total === 0) return out;
  const [, inner] = aroundAxis(indexShape, axis);
  const kernel = rt.kernel(`gather:${t}`, () => gatherSource(t), 4);
  const site = wording ? rt.errorSite(wording.key, wording.describe) : indexSite(rt, 'gather', axis);
  const params = new Params().u32(total, indexShape[axis], xShape[axis], inner, site).done();
  rt.dispatch(kernel, [gpuBuffer(x), gpuBuffer(index), out.buffer, rt.errorWord], params, grid1d(total, WG));
  return out;
}

export type ScatterMode = 'auto' | 'deterministic' | 'atomic';

export function scatterAdd(rt: GpuRuntime, src: Storage, indexShape: readonly number[], axis: number, index: Storage,
  xShape: readonly number[], mode: ScatterMode = 'auto'): GpuStorage {
  checkGatherShapes('webgpu scatterAdd', xShape, indexShape, axis);
  const t = wgslType(src.dtype);
  const total = sizeOf(xShape);
  const out = rt.alloc(total, src.dtype);
  if (total === 0) return out;
  const n = indexShape[axis], xn = xShape[axis];
  const [, inner] = aroundAxis(xShape, axis);
  const atomic = mode === 'atomic' || (mode === 'auto' && n * xn > DETERMINISTIC_MAX_WORK);
  const site = indexSite(rt, 'scatterAdd', axis);
  if (!atomic) {
    const kernel = rt.kernel(`scatterAdd:det:${t}`, () => scatterGatherStyleSource(t), 4);
    const params = new Params().u32(total, n, xn, inner, site).done();
    rt.dispatch(kernel, [gpuBuffer(src), gpuBuffer(index), out.buffer, rt.errorWord], params, grid1d(total, WG));
    return out;
  }
  const zero = rt.kernel('scatterAdd:zero', zeroSource, 1);
  rt.dispatch(zero, [out.buffer], new Params().u32(total, 0, 0, 0).done(), grid1d(total, WG));
  const count = sizeOf(indexShape);
  if (count === 0) return out;
  const kernel = rt.kernel(`scatterAdd:atomic:${t}`, () => scatterAtomicSource(t), 4);
  const params = new Params().u32(count, n, xn, inner, site).done();
  rt.dispatch(kernel, [gpuBuffer(src), gpuBuffer(index), out.buffer, rt.errorWord], params, grid1d(count, WG));
  return out;
}

function oneHotSource(): string {
  return /* wgsl */ `
struct Params { total: u32, classes: u32, site: u32 }
@group(0) @binding(0) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(3) var<uniform> P: Params;
${wgslIndexCheck(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let at = ${wgslFlatIndex(WG)};
  if (at >= P.total) { return; }
  let i = at / P.classes;
  let c = at % P.classes;
  let v = idx[i];
  out[at] = select(0, 1, v == i32(c));
  if (c == 0u && u32(v) >= P.classes) { reportBadIndex(P.site, v, P.classes, i); }
}`;
}

export function oneHot(rt: GpuRuntime, indices: Storage, count: number, numClasses: number): GpuStorage {
  checkOneHot('webgpu oneHot', indices, count, numClasses);
  const total = count * numClasses;
  const out = rt.alloc(total, 'int32');
  if (total === 0) return out;
  const site = rt.errorSite('oneHot', (index, bound, element) => indexOutOfRange('oneHot', index, bound, null, element));
  const kernel = rt.kernel('oneHot', oneHotSource, 3);
  rt.dispatch(kernel, [gpuBuffer(indices), out.buffer, rt.errorWord], new Params().u32(total, numClasses, site).done(), grid1d(total, WG));
  return out;
}

/** index values i·7 mod xn, so that repeated indices occur whenever n > xn */
function indexData(outer: number, n: number, inner: number, xn: number): Int32Array {
  const idx = new Int32Array(outer * n * inner);
  for (let i = 0; i < idx.length; i++) idx[i] = (i * 7 + (i >> 5)) % xn;
  return idx;
}

function gatherBench(name: string, op: 'gather' | 'scatterAdd', outer: number, xn: number, n: number, inner: number,
  large = false): KernelBenchmark {
  const xSize = outer * xn * inner, iSize = outer * n * inner;
  const xShape = [outer, xn, inner], iShape = [outer, n, inner];
  return {
    group: op, name, flops: op === 'gather' ? 0 : iSize, bytes: op === 'gather' ? 4 * (3 * iSize) : 4 * (2 * iSize + xSize), large,
    setup(backend: Backend) {
      const index = backend.upload(indexData(outer, n, inner, xn), 'int32');
      const data = backend.fill(op === 'gather' ? xSize : iSize, 1, 'float32');
      return {
        run() {
          const out = op === 'gather' ? backend.gather(data, xShape, 1, index, iShape) : backend.scatterAdd(data, iShape, 1, index, xShape);
          backend.free(out);
        },
        dispose() { backend.free(index); backend.free(data); },
      };
    },
  };
}

/** F.one_hot of a class map of `count` voxels (MONAI's toOnehotY) */
function oneHotBench(name: string, count: number, classes: number, large = false): KernelBenchmark {
  return {
    group: 'oneHot', name, flops: 0, bytes: 4 * count * (1 + classes), large,
    setup(backend: Backend) {
      const index = backend.upload(indexData(1, count, 1, classes), 'int32');
      return {
        run() { backend.free(backend.oneHot(index, count, classes)); },
        dispose() { backend.free(index); },
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  // the class picked per voxel (cross-entropy): x [N, C, S], index [N, 1, S]
  gatherBench('class pick [2,4,32768] → [2,1,32768]', 'gather', 2, 4, 1, 32768),
  gatherBench('class pick [4,2,1003520] → [4,1,1003520]', 'gather', 4, 2, 1, 1003520, true),
  gatherBench('backward of class pick [2,1,32768] → [2,4,32768]', 'scatterAdd', 2, 4, 1, 32768),
  gatherBench('backward of class pick [4,1,1003520] → [4,2,1003520]', 'scatterAdd', 4, 2, 1, 1003520, true),
  gatherBench('rows [1,4096,256] ← 16384 rows', 'gather', 1, 4096, 16384, 256),
  gatherBench('scatter rows 16384 → [1,4096,256] (atomics)', 'scatterAdd', 1, 4096, 16384, 256, true),
  oneHotBench('class map [2,32768] → [2,32768,4]', 2 * 32768, 4),
  oneHotBench('class map [4,1003520] → [4,1003520,2]', 4 * 1003520, 2, true),
];
