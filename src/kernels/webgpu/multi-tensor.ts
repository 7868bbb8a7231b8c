import type { GpuRuntime } from './runtime.js';
import { wgslFlatIndex } from './runtime.js';

/**
 * Multi-tensor kernels (PyTorch's foreach / fused style): one dispatch walks several tensors one after the other,
 * each bound as its own buffers. The optimizer steps and the loss scaler's unscale chunk their tensors this way.
 */

/** the workgroup size of multiParamSource's kernels */
export const MULTI_TENSOR_WG = 256;
/** the most tensors one dispatch updates (their per-tensor fields fill vec4 arrays) */
export const MAX_SEGMENTS = 8;
export const SEGMENT_ROWS = MAX_SEGMENTS / 4;

/**
 * how many tensors of `perParam` storage buffers each fit one dispatch beside `shared` buffers bound once (WebGPU
 * guarantees at least 4 storage buffers per stage, so at least one tensor fits)
 */
export function segmentsPerDispatch(rt: GpuRuntime, perParam: number, shared = 0): number {
  return Math.max(1, Math.min(MAX_SEGMENTS, Math.floor((rt.limits.maxStorageBuffersPerShaderStage - shared) / perParam)));
}

/** `list` in consecutive chunks of at most `size` */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < list.length; at += size) out.push(list.slice(at, at + size));
  return out;
}

/** P.<name>[k] of a per-parameter array packed as vec4s in the parameters */
export const field = (name: string, k: number): string => `P.${name}[${k >> 2}][${k & 3}]`;

/** storage buffers bound once per dispatch after the tensors' (their declarations without @group/@binding), and WGSL run before the segments */
export interface SharedBindings { declarations: readonly string[]; prologue: string }

/**
 * A kernel that updates `count` tensors in one dispatch: the flat index walks them one after the other (P.ends:
 * where each one's elements end), each bound as its own `perParam` buffers (`bindings(k)`), and `update(k)` updates
 * element j of tensor k. `shared` buffers follow the tensors' bindings; the parameters come last.
 */
export function multiParamSource(params: string, perParam: number, count: number, bindings: (k: number) => string,
  update: (k: number) => string, shared?: SharedBindings): string {
  const segments = Array.from({ length: count }, (_, k) => `  if (i < ${field('ends', k)}) {
    let j = i${k === 0 ? '' : ` - ${field('ends', k - 1)}`};
    ${update(k)}
    return;
  }`).join('\n');
  const declarations = shared?.declarations ?? [];
  return /* wgsl */ `
${params}
${Array.from({ length: count }, (_, k) => bindings(k)).join('\n')}
${declarations.map((d, s) => `@group(0) @binding(${perParam * count + s}) ${d}\n`).join('')}@group(0) @binding(${perParam * count + declarations.length}) var<uniform> P: Params;
@compute @workgroup_size(${MULTI_TENSOR_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(MULTI_TENSOR_WG)};
  if (i >= P.n) { return; }
${shared ? `${shared.prologue}\n` : ''}${segments}
}`;
}
