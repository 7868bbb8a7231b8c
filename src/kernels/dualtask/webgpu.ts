import type { Backend, PseudoLabelParams, SigmoidPart, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { unaryF32 } from '../elementwise/webgpu.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex, wgslType } from '../webgpu/runtime.js';
import { checkPseudoLabel, checkScaledSigmoid, checkScaledSigmoidBackward } from './checks.js';

/**
 * DBiSL's elementwise maps of the two heads, one pass each instead of a chain of elementwise ops: σ(a·x) and its
 * gradient, and the pseudo-label with the uncertainty weight. Every step is the composed ops' own WGSL expression,
 * in their order, with their constants passed as they pass them (uniforms, so that x·a + 0 stays as written), so the
 * results are the composed ops' floats.
 */

const WG = 256;

/** the parts' ends, offsets and scales (one lane per part), then zeros (the + 0 of a scaling) */
const SIGMOID_PARAMS = 'struct Params { ends: vec4u, offsets: vec4u, scales: vec4f, zero: vec4f }';
const LANES = 'xyzw';

/** σ(a·x) of each part: x from its own binding; a part with a = 1 (`units`) is σ(x), with no product */
function scaledSigmoidSource(units: readonly boolean[]): string {
  const last = LANES[units.length - 1];
  const branches = units.map((unit, k) => {
    const l = LANES[k];
    const start = k === 0 ? '0u' : `P.ends.${LANES[k - 1]}`;
    const x = `x${k}[P.offsets.${l} + i - ${start}]`;
    return `if (i < P.ends.${l}) { y = sigmoid_f32(${unit ? x : `P.scales.${l} * ${x} + P.zero.x`}); }`;
  });
  return /* wgsl */ `
${SIGMOID_PARAMS}
${units.map((_, k) => `@group(0) @binding(${k}) var<storage, read> x${k}: array<f32>;`).join('\n')}
@group(0) @binding(${units.length}) var<storage, read_write> dst: array<f32>;
@group(0) @binding(${units.length + 1}) var<uniform> P: Params;

fn sigmoid_f32(x: f32) -> f32 { return ${unaryF32.sigmoid}; }

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.ends.${last}) { return; }
  var y: f32;
  ${branches.join(' else ')}
  dst[i] = y;
}`;
}

/**
 * `added`: + addend[i] after the gradient. Unscaled, the gradient is multiplied by the uniform 1 first (exact), so that
 * no compiler contracts g·(…) + addend into one rounding: either way each step rounds as the composed ops' do.
 */
function scaledSigmoidBackwardSource(scaled: boolean, added: boolean): string {
  const gradient = scaled ? 'P.scales.x * gx + P.zero.x' : added ? 'gx * P.scales.x' : 'gx';
  return /* wgsl */ `
${SIGMOID_PARAMS}
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
${added ? '@group(0) @binding(2) var<storage, read> addend: array<f32>;\n' : ''}@group(0) @binding(${added ? 3 : 2}) var<storage, read_write> dst: array<f32>;
@group(0) @binding(${added ? 4 : 3}) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.ends.x) { return; }
  let yi = y[P.offsets.x + i];
  let gx = g[i] * (yi * (-1.0 * yi + 1.0));
  dst[i] = ${added ? `(${gradient}) + addend[i]` : gradient};
}`;
}

function sigmoidParams(parts: readonly { offset: number; n: number; a: number }[]): ArrayBuffer {
  let end = 0;
  const ends = parts.map((q) => (end += q.n));
  const lanes = (values: number[]) => [...values, 0, 0, 0, 0].slice(0, 4);
  return new Params().u32(...lanes(ends), ...lanes(parts.map((q) => q.offset))).f32(...lanes(parts.map((q) => q.a)), 0, 0, 0, 0).done();
}

/** the kernels' keys, made once (a key built per call is a new string to hash per call) */
const SIGMOID_KEYS = new Map<number, string>();
function sigmoidKey(units: readonly boolean[]): string {
  const code = units.reduce((c, unit, k) => c | (unit ? 1 << k : 0), 1 << units.length);
  let key = SIGMOID_KEYS.get(code);
  if (key === undefined) SIGMOID_KEYS.set(code, key = `dualtask:sigmoid:${units.map(Number).join('')}`);
  return key;
}
const PSEUDO_KEYS = Object.fromEntries((['plain', 'exp', 'mask'] as const).map((kind) => [kind, [`dualtask:pseudo:${kind}`, `dualtask:pseudo:${kind}:head`]]));

export function scaledSigmoid(rt: GpuRuntime, parts: readonly SigmoidPart[]): GpuStorage {
  checkScaledSigmoid(parts);
  wgslType(parts[0].x.dtype);
  const total = parts.reduce((s, q) => s + q.n, 0);
  const out = rt.alloc(total, 'float32');
  if (total === 0) return out;
  const units = parts.map((q) => q.a === 1);
  const kernel = rt.kernel(sigmoidKey(units), () => scaledSigmoidSource(units), parts.length + 1);
  rt.dispatch(kernel, [...parts.map((q) => gpuBuffer(q.x)), out.buffer], sigmoidParams(parts), grid1d(total, WG));
  return out;
}

export function scaledSigmoidBackward(rt: GpuRuntime, y: Storage, yOffset: number, g: Storage, n: number, a: number, addend?: Storage): GpuStorage {
  checkScaledSigmoidBackward(y, yOffset, g, n, a, addend);
  wgslType(y.dtype);
  const out = rt.alloc(n, 'float32');
  if (n === 0) return out;
  const scaled = a !== 1;
  const key = `dualtask:sigmoid-bwd${scaled ? ':scaled' : ''}${addend ? ':added' : ''}`;
  const kernel = rt.kernel(key, () => scaledSigmoidBackwardSource(scaled, addend !== undefined), addend ? 4 : 3);
  const buffers = addend ? [gpuBuffer(y), gpuBuffer(g), gpuBuffer(addend), out.buffer] : [gpuBuffer(y), gpuBuffer(g), out.buffer];
  rt.dispatch(kernel, buffers, sigmoidParams([{ offset: yOffset, n, a }]), grid1d(n, WG));
  return out;
}

/** weighting: null, 'exp' (exp(c·d + 0), c = −γ) or 'mask' (1[−d + c > 0], c = τ); with a head, its copy first */
function pseudoLabelSource(weighting: 'exp' | 'mask' | null, withHead: boolean): string {
  const weight = weighting === 'exp' ? 'exp(P.c * d + P.zero)' : 'select(0.0, 1.0, -1.0 * d + P.c > 0.0)';
  const bindings = ['p: array<f32>', 'q: array<f32>', ...(withHead ? ['head: array<f32>'] : [])].map((b, k) => `@group(0) @binding(${k}) var<storage, read> ${b};`);
  const outputs = ['pseudo', ...(weighting ? ['weight'] : [])].map((b, k) => `@group(0) @binding(${bindings.length + k}) var<storage, read_write> ${b}: array<f32>;`);
  return /* wgsl */ `
struct Params { n: u32, pOffset: u32, qOffset: u32, h: u32, hOffset: u32, c: f32, zero: f32 }
${[...bindings, ...outputs].join('\n')}
@group(0) @binding(${bindings.length + outputs.length}) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = ${wgslFlatIndex(WG)};
  ${withHead ? `if (e < P.h) {
    pseudo[e] = head[P.hOffset + e];
    return;
  }` : ''}
  let i = e - P.h;
  if (i >= P.n) { return; }
  let a = p[P.pOffset + i];
  let b = q[P.qOffset + i];
  pseudo[e] = select(0.0, 1.0, a + b > 1.0);
  ${weighting ? `let d = abs(a - b);
  weight[i] = ${weight};` : ''}
}`;
}

export function pseudoLabel(rt: GpuRuntime, p: Storage, q: Storage, params: PseudoLabelParams): { pseudo: GpuStorage; weight?: GpuStorage } {
  checkPseudoLabel(p, q, params);
  wgslType(p.dtype);
  const { pOffset, qOffset, n, head, weighting } = params;
  const h = head?.n ?? 0;
  const pseudo = rt.alloc(h + n, 'float32');
  const out = weighting ? { pseudo, weight: rt.alloc(n, 'float32') } : { pseudo };
  if (h + n === 0) return out;
  const kind = weighting?.kind ?? null;
  const c = !weighting ? 0 : weighting.kind === 'exp' ? -weighting.gamma : weighting.tau;
  const buffers = [gpuBuffer(p), gpuBuffer(q), ...(head ? [gpuBuffer(head.storage)] : []), ...Object.values(out).map((s) => s.buffer)];
  const kernel = rt.kernel(PSEUDO_KEYS[kind ?? 'plain'][head ? 1 : 0], () => pseudoLabelSource(kind, head !== null), buffers.length);
  rt.dispatch(kernel, buffers, new Params().u32(n, pOffset, qOffset, h, head?.offset ?? 0).f32(c, 0).done(), grid1d(h + n, WG));
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
    (b, x, g) => { const y = b.scaledSigmoid([{ x, offset: 0, n: x.length, a: -1500 }]); return [y, b.scaledSigmoidBackward(y, 0, g, x.length, -1500)]; }),
  mapsBench('pseudo-label and exp weight [2·112·112·80]', 2 * 112 * 112 * 80, true,
    (b, p, q) => Object.values(b.pseudoLabel(p, q, { pOffset: 0, qOffset: 0, n: p.length, head: null, weighting: { kind: 'exp', gamma: 5 } }))),
];
