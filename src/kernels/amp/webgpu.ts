import type { AmpScaleUpdate, Backend, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { MULTI_TENSOR_WG, SEGMENT_ROWS, chunks, multiParamSource, segmentsPerDispatch } from '../webgpu/multi-tensor.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d } from '../webgpu/runtime.js';
import { checkScaleUpdate, checkUnscale } from './checks.js';

/**
 * The loss scaler's kernels (PyTorch's _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_): the
 * scale, the growth tracker and the found-inf flags stay on the device, so that the host never reads them to go on.
 * WGSL may assume that float arithmetic sees no NaN or Inf, so a value is tested by its bits.
 */

/** WGSL: whether the f32 `v` is NaN or ±Inf (all exponent bits set) */
const nonFinite = (v: string) => `((bitcast<u32>(${v}) & 0x7f800000u) == 0x7f800000u)`;

/** the bits of 1.0f, the flag's "found" value */
const ONE_BITS = '0x3f800000u';

/**
 * g<k> ← g<k> × (1 / scale) for `count` gradients (multiParamSource); any non-finite incoming value sets found_inf
 * (PyTorch's rule; a loaded value's bits are also safer to test than a product's, which a compiler may assume finite)
 */
function unscaleSource(count: number): string {
  return multiParamSource(`struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32, ends: array<vec4<u32>, ${SEGMENT_ROWS}> }`, 1, count,
    (k) => `@group(0) @binding(${k}) var<storage, read_write> g${k}: array<f32>;`,
    (k) => `let x = g${k}[j];
    if (${nonFinite('x')}) { atomicStore(&found_inf[0], ${ONE_BITS}); }
    g${k}[j] = x * inverse;`,
    {
      declarations: ['var<storage, read_write> found_inf: array<atomic<u32>>;', 'var<storage, read> scale: array<f32>;'],
      prologue: '  let inverse = 1.0 / scale[0];',
    });
}

export function ampNonFiniteCheckAndUnscale(rt: GpuRuntime, grads: readonly Storage[], foundInf: Storage, scale: Storage): void {
  checkUnscale('webgpu ampNonFiniteCheckAndUnscale', grads, foundInf, scale);
  for (const batch of chunks(grads.filter((g) => g.length > 0), segmentsPerDispatch(rt, 1, 2))) {
    const kernel = rt.kernel(`amp-unscale:${batch.length}`, () => unscaleSource(batch.length), batch.length + 2);
    const ends: number[] = [];
    let n = 0;
    for (const g of batch) ends.push(n += g.length);
    const params = new Params().u32(n, 0, 0, 0).vec4s(ends, SEGMENT_ROWS).done();
    rt.dispatch(kernel, [...batch.map(gpuBuffer), gpuBuffer(foundInf), gpuBuffer(scale)], params, grid1d(n, MULTI_TENSOR_WG));
  }
}

/** one invocation: the scale and tracker updated from `flags` found-inf flags (the cpu oracle's rule) */
function updateScaleSource(flags: number): string {
  const found = Array.from({ length: flags }, (_, k) => `found${k}[0] != 0u`).join(' || ');
  return /* wgsl */ `
struct Params { growth: f32, backoff: f32, interval: i32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> scale: array<f32>;
@group(0) @binding(1) var<storage, read_write> tracker: array<i32>;
${Array.from({ length: flags }, (_, k) => `@group(0) @binding(${k + 2}) var<storage, read> found${k}: array<u32>;`).join('\n')}
@group(0) @binding(${flags + 2}) var<uniform> P: Params;
@compute @workgroup_size(1)
fn main() {
  if (${found}) {
    scale[0] = scale[0] * P.backoff;
    tracker[0] = 0;
    return;
  }
  let successful = tracker[0] + 1;
  if (successful >= P.interval) {
    let grown = scale[0] * P.growth;
    if (!${nonFinite('grown')}) { scale[0] = grown; }
    tracker[0] = 0;
  } else {
    tracker[0] = successful;
  }
}`;
}

export function ampUpdateScale(rt: GpuRuntime, scale: Storage, growthTracker: Storage, foundInf: readonly Storage[], p: AmpScaleUpdate): void {
  checkScaleUpdate('webgpu ampUpdateScale', scale, growthTracker, foundInf, p);
  if (foundInf.length === 0) throw new Error('webgpu ampUpdateScale: no found-inf flag');
  const most = rt.limits.maxStorageBuffersPerShaderStage - 2;
  if (foundInf.length > most) throw new Error(`webgpu ampUpdateScale: ${foundInf.length} found-inf flags (optimizers), this adapter binds at most ${most}`);
  const kernel = rt.kernel(`amp-update-scale:${foundInf.length}`, () => updateScaleSource(foundInf.length), foundInf.length + 2);
  const params = new Params().f32(p.growthFactor, p.backoffFactor).i32(p.growthInterval, 0).done();
  rt.dispatch(kernel, [gpuBuffer(scale), gpuBuffer(growthTracker), ...foundInf.map(gpuBuffer)], params, [1]);
}

export const benchmarks: KernelBenchmark[] = [{
  group: 'amp', name: 'unscale 64 × 16K', flops: 64 << 14, bytes: 8 * (64 << 14), large: false,
  setup(backend: Backend) {
    const grads = Array.from({ length: 64 }, () => backend.fill(1 << 14, 0.5, 'float32'));
    const flag = backend.fill(1, 0, 'float32'), scale = backend.fill(1, 1, 'float32');
    return {
      run() { backend.ampNonFiniteCheckAndUnscale(grads, flag, scale); },
      dispose() { for (const s of [...grads, flag, scale]) backend.free(s); },
    };
  },
}];
