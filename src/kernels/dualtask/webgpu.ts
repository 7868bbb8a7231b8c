import type { Backend, PseudoLabelParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { unaryF32 } from '../elementwise/webgpu.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex, wgslType } from '../webgpu/runtime.js';
import { checkPseudoLabel, checkScaledSigmoid } from './checks.js';

/**
 * DBiSL's elementwise maps of the two heads, one pass each instead of a chain of elementwise ops: σ(a·x) and its
 * gradient, and the pseudo-label with the uncertainty weight. Every step is the composed ops' own WGSL expression,
 * in their order, with their constants passed as they pass them (uniforms, so that x·a + 0 stays as written), so the
 * results are the composed ops' floats.
 */

const WG = 256;

/** WGSL: the elementwise family's sigmoid of the expression `x` */
const sigmoidOf = (x: string): string => `let x = ${x};\n  let y = ${unaryF32.sigmoid};`;

function scaledSigmoidSource(scaled: boolean): string {
  return /* wgsl */ `
struct Params { n: u32, offset: u32, a: f32, zero: f32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  ${sigmoidOf(scaled ? 'P.a * src[P.offset + i] + P.zero' : 'src[P.offset + i]')}
  dst[i] = y;
}`;
}

function scaledSigmoidBackwardSource(scaled: boolean): string {
  return /* wgsl */ `
struct Params { n: u32, offset: u32, a: f32, zero: f32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let yi = y[i];
  let gx = g[i] * (yi * (-1.0 * yi + 1.0));
  dst[i] = ${scaled ? 'P.a * gx + P.zero' : 'gx'};
}`;
}

const sigmoidParams = (n: number, offset: number, a: number) => new Params().u32(n, offset).f32(a, 0).done();

export function scaledSigmoid(rt: GpuRuntime, x: Storage, offset: number, n: number, a: number): GpuStorage {
  checkScaledSigmoid('scaledSigmoid', x, offset, n, a);
  wgslType(x.dtype);
  const out = rt.alloc(n, 'float32');
  if (n === 0) return out;
  const scaled = a !== 1;
  const kernel = rt.kernel(`dualtask:sigmoid${scaled ? ':scaled' : ''}`, () => scaledSigmoidSource(scaled), 2);
  rt.dispatch(kernel, [gpuBuffer(x), out.buffer], sigmoidParams(n, offset, a), grid1d(n, WG));
  return out;
}

export function scaledSigmoidBackward(rt: GpuRuntime, y: Storage, g: Storage, n: number, a: number): GpuStorage {
  checkScaledSigmoid('scaledSigmoidBackward', y, 0, n, a, g);
  wgslType(y.dtype);
  const out = rt.alloc(n, 'float32');
  if (n === 0) return out;
  const scaled = a !== 1;
  const kernel = rt.kernel(`dualtask:sigmoid-bwd${scaled ? ':scaled' : ''}`, () => scaledSigmoidBackwardSource(scaled), 3);
  rt.dispatch(kernel, [gpuBuffer(y), gpuBuffer(g), out.buffer], sigmoidParams(n, 0, a), grid1d(n, WG));
  return out;
}

/** weighting: null, 'exp' (exp(c·d + 0), c = −γ) or 'mask' (1[−d + c > 0], c = τ) */
function pseudoLabelSource(weighting: 'exp' | 'mask' | null): string {
  const weight = weighting === 'exp' ? 'exp(P.c * d + P.zero)' : 'select(0.0, 1.0, -1.0 * d + P.c > 0.0)';
  return /* wgsl */ `
struct Params { n: u32, offset: u32, lead: u32, c: f32, zero: f32 }
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> pseudo: array<f32>;
${weighting ? `@group(0) @binding(3) var<storage, read_write> disagreement: array<f32>;
@group(0) @binding(4) var<storage, read_write> weight: array<f32>;` : ''}
@group(0) @binding(${weighting ? 5 : 3}) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let a = p[P.offset + i];
  let b = q[P.offset + i];
  pseudo[P.lead + i] = select(0.0, 1.0, a + b > 1.0);
  ${weighting ? `let d = abs(a - b);
  disagreement[i] = d;
  weight[i] = ${weight};` : ''}
}`;
}

export function pseudoLabel(rt: GpuRuntime, p: Storage, q: Storage, params: PseudoLabelParams):
  { pseudo: GpuStorage; disagreement?: GpuStorage; weight?: GpuStorage } {
  checkPseudoLabel(p, q, params);
  wgslType(p.dtype);
  const { offset, n, lead, weighting } = params;
  const pseudo = rt.alloc(lead + n, 'float32');
  const out = weighting ? { pseudo, disagreement: rt.alloc(n, 'float32'), weight: rt.alloc(n, 'float32') } : { pseudo };
  if (n === 0) return out;
  const kind = weighting?.kind ?? null;
  const c = !weighting ? 0 : weighting.kind === 'exp' ? -weighting.gamma : weighting.tau;
  const buffers = [gpuBuffer(p), gpuBuffer(q), ...Object.values(out).map((s) => s.buffer)];
  const kernel = rt.kernel(`dualtask:pseudo:${kind ?? 'plain'}`, () => pseudoLabelSource(kind), buffers.length);
  rt.dispatch(kernel, buffers, new Params().u32(n, offset, lead).f32(c, 0).done(), grid1d(n, WG));
  return out;
}

// ------------------------------------------------------------------------------------------ benchmarks

function mapsBench(name: string, n: number, large: boolean, run: (backend: Backend, x: Storage, y: Storage) => Storage[]): KernelBenchmark {
  return {
    group: 'dualtask', name, flops: 8 * n, bytes: 12 * n, large,
    setup(backend: Backend) {
      const x = backend.fill(n, 0.25, 'float32'), y = backend.fill(n, 0.5, 'float32');
      return {
        run() { for (const s of run(backend, x, y)) backend.free(s); },
        dispose() { backend.free(x); backend.free(y); },
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  mapsBench('T_r2s forward and backward [4·32³]', 4 * 32 ** 3, false,
    (b, x, g) => { const y = b.scaledSigmoid(x, 0, x.length, -1500); return [y, b.scaledSigmoidBackward(y, g, x.length, -1500)]; }),
  mapsBench('pseudo-label and exp weight [2·112·112·80]', 2 * 112 * 112 * 80, true,
    (b, p, q) => Object.values(b.pseudoLabel(p, q, { offset: 0, n: p.length, lead: 0, weighting: { kind: 'exp', gamma: 5 } }))),
];
