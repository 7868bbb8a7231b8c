import type { Backend, DType } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { sizeOf } from '../layout.js';
import { wgslRandom } from '../random.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, grid1d, wgslFlatIndex, wgslType } from '../webgpu/runtime.js';

/**
 * Dropout keep-mask scaled by 1/(1 − p), one invocation per element, bit-identical to the cpu oracle: the
 * draw is uniform_at(seed, counter) with counter = the flat index (or the flat (n, c) index with
 * `channelwise`, one draw per channel of a sample). The draw u = h / 2²⁴ is exact in f32, and u ≥ p is
 * evaluated as h ≥ ⌈p·2²⁴⌉ with the threshold computed in float64 on the host, so no rounding of p to f32
 * can flip an element. The scale is rounded on the host to the output dtype as the oracle's typed array does.
 */

const WG = 256;

function source(t: 'f32' | 'i32'): string {
  return /* wgsl */ `
struct Params { total: u32, per_draw: u32, seed: u32, threshold: f32, scale_f: f32, scale_i: i32 }
@group(0) @binding(0) var<storage, read_write> out: array<${t}>;
@group(0) @binding(1) var<uniform> P: Params;
${wgslRandom}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.total) { return; }
  let u = uniform_at(P.seed, i / P.per_draw);
  out[i] = select(${t}(0), ${t === 'f32' ? 'P.scale_f' : 'P.scale_i'}, u * 16777216.0 >= P.threshold);
}`;
}

export function dropoutMask(rt: GpuRuntime, shape: readonly number[], p: number, seed: number, channelwise: boolean,
  dtype: DType): GpuStorage {
  const t = wgslType(dtype);
  const total = sizeOf(shape);
  const out = rt.alloc(total, dtype);
  if (total === 0) return out;
  const perDraw = channelwise ? sizeOf(shape.slice(2)) : 1;
  const scale = p < 1 ? 1 / (1 - p) : 0;
  // u = h/2²⁴ ≥ p  ⇔  h ≥ ⌈p·2²⁴⌉ (h an integer < 2²⁴; the product is exact in float64)
  const threshold = Math.min(Math.max(Math.ceil(p * 16777216), 0), 16777216);
  const kernel = rt.kernel(`dropout:${t}`, () => source(t), 1);
  const params = new Params().u32(total, Math.max(perDraw, 1), seed >>> 0).f32(threshold, scale)
    .i32(new Int32Array([scale])[0]).done();
  rt.dispatch(kernel, [out.buffer], params, grid1d(total, WG));
  return out;
}

function dropoutBench(name: string, shape: number[], channelwise: boolean, large = false): KernelBenchmark {
  const n = sizeOf(shape);
  return {
    group: 'dropout', name, flops: 0, bytes: 4 * n, large,
    setup(backend: Backend) {
      let seed = 1;
      return {
        run() { backend.free(backend.dropoutMask(shape, 0.5, seed++, channelwise, 'float32')); },
        dispose() {},
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  dropoutBench('mask [2,16,32,32,32]', [2, 16, 32, 32, 32], false),
  dropoutBench('mask [4,16,112,112,80]', [4, 16, 112, 112, 80], false, true),
  dropoutBench('channel mask [4,256,14,14,10]', [4, 256, 14, 14, 10], true),
];
