import type { Backend, CdtParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { randomArray } from '../random.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, wgslType } from '../webgpu/runtime.js';
import { cdtVolume, checkCdtParams, checkCdtSignedParams } from './checks.js';

/**
 * The convolutional distance transform (shared/spec/dbisl.md §2) and its gradient as one WGSL kernel each.
 *
 * The log-sum-exp of the spec is evaluated as the equivalent convolution
 *
 *   D(v) = −h · ln S(v),   S(v) = Σ_{o ∈ [−ρ, ρ]³, v+o inside} max(p(v+o), ε) · K(o),   K(o) = exp(−‖o‖/h),
 *
 * i.e. a log-sum-exp shifted by 0 instead of by its max. That is safe in float32 because every term is at
 * most max(p)·1 (no overflow for p ≤ 1) and the sum is at least its centre term max(p(v), ε)·K(0) ≥ ε, so
 * terms that underflow (below 1e-38) are negligible next to the sum and the sum itself never underflows
 * (ε must be a normal float32, ≥ 1e-30 say). One multiply-add per tap instead of a subtract, an exp and a
 * running max. The cpu oracle computes the literal two-pass log-sum-exp in float64.
 *
 * The gradient is the same convolution of another field (K is symmetric):
 *
 *   grad_p(q) = −h · [p(q) > ε] · Σ_{o, q+o inside} G(q+o) · K(o),   G(v) = gOut(v) · exp(out(v)/h) = gOut(v)/S(v),
 *
 * since ∂D(v)/∂p(q) = −h·K(v−q)/S(v) where p(q) > ε and 0 where max(p, ε) clamps (its gradient is 0 below ε;
 * at p = ε exactly we also take 0). One pass, each q gathers over its own window: deterministic.
 *
 * Kernel layout (both directions): a workgroup owns a TX×TY×TZ block of outputs; an invocation owns RX
 * consecutive x-outputs in one y-row for all TZ z-planes (RX·TZ accumulators in registers). The workgroup
 * streams the input planes z0−ρ … z0+TZ−1+ρ: each plane's (TY+2ρ)×(TX+2ρ) slab (transformed on load:
 * max(p, ε) forward, G backward; zero outside the volume, which leaves those taps out) goes to workgroup
 * memory (single-buffered with two barriers per plane, or double-buffered with one; single measured
 * faster); K sits in workgroup memory as rows of vec4 indexed by (|oz|, |oy|), read as broadcasts. Per plane and per oy an invocation reads its RX+2ρ row values
 * once and, for every z-output k whose oz = plane − (z0+k) lies in the window, does RX·(2ρ+1) multiply-adds
 * against one K row: all k, r and ox loops are unrolled so the accumulators stay in registers.
 *
 * The signed pair (DBiSL's T_s2r) runs the same loop on two fields at once, slab and accumulators of vec2f: forward
 * (max(p, ε), max(1 − p, ε)), each voxel's two sums giving D[p] and D[1 − p] and the signed map
 * (clamp(D[p], 0, ρ) − clamp(D[1 − p], 0, ρ))·(1/ρ); backward the two G fields of the two distances, the clamps'
 * masks and the 1/ρ folded into the load and d(1 − p)/dp = −1 into the store. Every per-voxel step is the
 * composed ops' own expression in the same order (the sums too), so the results are the composed ops' floats.
 */

export interface Tile { tx: number; ty: number; tz: number; rx: number; buffers: 1 | 2 }

/**
 * Tile configurations, best first; the first that fits the device's workgroup memory is used. Measured on an
 * H200 (Vulkan) for ρ = 8 on [4, 1, 112, 112, 80], forward / backward: 16×16×8 RX 2 single-buffered 1.63 /
 * 1.66 ms (24 TFLOP/s counting 2 per tap), 16×16×16 single 1.68 / 1.71, 16×16×8 double-buffered 1.73 /
 * 1.82, 16×16×16 double 1.79 / 1.86, 32×16×8 RX 4 double 1.78 / 1.91, 16×8×16 double 2.7 / 2.8, RX 1 2.3 /
 * 2.6 ms. A second slab buffer saves a barrier per plane but costs occupancy.
 */
export const CDT_TILES: readonly Tile[] = [
  { tx: 16, ty: 16, tz: 8, rx: 2, buffers: 1 },
  { tx: 16, ty: 8, tz: 8, rx: 2, buffers: 1 },
  { tx: 8, ty: 8, tz: 4, rx: 1, buffers: 1 },
];

/**
 * What one kernel computes: the fields streamed through the slab (1: f32, 2: vec2f), the storage bindings before
 * `res` and after it, how a voxel's slab value `v` is loaded from `at`, and the store of the accumulators `acc`.
 */
interface Variant {
  name: string;
  fields: 1 | 2;
  inputs: readonly string[];
  extraOutputs: readonly string[];
  load: string;
  store: string;
}

const VARIANTS = {
  cdt: {
    name: 'fwd', fields: 1, inputs: ['p'], extraOutputs: [],
    load: 'v = max(p[at], P.eps);',
    store: 'res[at] = -P.h * log(max(acc, 1.0e-37));',
  },
  cdtBackward: {
    name: 'bwd', fields: 1, inputs: ['g_out', 'out', 'p'], extraOutputs: [],
    load: 'v = g_out[at] * exp(out[at] / P.h);',
    store: 'res[at] = select(0.0, -P.h * acc, p[at] > P.eps);',
  },
  cdtSigned: signedForward(false),
  cdtSignedKeep: signedForward(true),
  cdtSignedBackward: signedBackward(false),
  cdtSignedBackwardAdded: signedBackward(true),
} as const satisfies Record<string, Variant>;

/** the signed backward; `added`: + addend[at] after the gradient (an add after it, folded into the store) */
function signedBackward(added: boolean): Variant {
  return {
    name: added ? 'signed-bwd-added' : 'signed-bwd', fields: 2, inputs: ['g_out', 'dist', 'p', ...(added ? ['addend'] : [])], extraOutputs: [],
    // the G of cdtBackward for D[p] and D[1 − p], whose output gradients are gs·inRange and (−gs)·inRange
    load: `let d = vec2f(dist[at], dist[P.total + at]);
        let gs = P.invRadius * g_out[at];
        v = vec2f(gs, -gs) * select(vec2f(1.0), vec2f(0.0), (d < vec2f(0.0)) | (d > vec2f(P.radius))) * exp(d / P.h);`,
    // cdtBackward of both, the second times −1 (an accumulator that is zero is +0, so h·acc is what −1·(−h·acc) + 0 is)
    store: `res[at] = ${added ? '(' : ''}select(0.0, -P.h * acc.x, p[at] > P.eps) + select(0.0, P.h * acc.y, 1.0 - p[at] > P.eps)${added ? ') + addend[at]' : ''};`,
  };
}

/** the signed forward; `keep`: also D[p] and D[1 − p] as the two planes of `dist` */
function signedForward(keep: boolean): Variant {
  return {
    name: keep ? 'signed-keep' : 'signed', fields: 2, inputs: ['p'], extraOutputs: keep ? ['dist'] : [],
    load: 'v = max(vec2f(p[at], 1.0 - p[at]), vec2f(P.eps));',
    // the composed clamp (NaN kept) and affine (a·x + 0: −0 becomes +0, reached where D[p] = −0 and max(−0, 0)
    // returns the −0, which SPIR-V's FMax leaves open)
    store: `let d = -P.h * log(max(acc, vec2f(1.0e-37)));
    let c = select(min(max(d, vec2f(0.0)), vec2f(P.radius)), d, is_nan(d));
    let r = (c.x - c.y) * P.invRadius;
    res[at] = select(r, 0.0, r == 0.0);${keep ? '\n    dist[at] = d.x;\n    dist[P.total + at] = d.y;' : ''}`,
  };
}

type VariantName = keyof typeof VARIANTS;

interface Layout extends Tile {
  radius: number;
  fields: 1 | 2;
  /** slab row length in workgroup memory (TX + 2ρ, made odd against bank conflicts), rows, real width */
  sw: number; sh: number; swReal: number;
  /** vec4s per K row, K rows */
  kw4: number; krows: number;
  bytes: number;
}

function layout(radius: number, t: Tile, fields: 1 | 2): Layout {
  const swReal = t.tx + 2 * radius;
  const sw = swReal % 2 === 0 ? swReal + 1 : swReal;
  const sh = t.ty + 2 * radius;
  const kw4 = Math.ceil((2 * radius + 1) / 4), krows = (radius + 1) * (radius + 1);
  return { ...t, radius, fields, sw, sh, swReal, kw4, krows, bytes: 4 * (fields * t.buffers * sw * sh + 4 * kw4 * krows) };
}

function chooseLayout(rt: GpuRuntime, radius: number, fields: 1 | 2): Layout {
  const limit = rt.limits.maxComputeWorkgroupStorageSize;
  const maxThreads = rt.limits.maxComputeInvocationsPerWorkgroup;
  for (const t of CDT_TILES) {
    const l = layout(radius, t, fields);
    if (l.bytes <= limit && (t.tx / t.rx) * t.ty <= maxThreads) return l;
  }
  throw new Error(`webgpu: cdt radius ${radius} needs ${layout(radius, CDT_TILES[CDT_TILES.length - 1], fields).bytes} bytes of workgroup memory; the device has ${limit}`);
}

function source(l: Layout, variant: Variant): string {
  const R = l.radius, taps = 2 * R + 1, ntx = l.tx / l.rx, threads = ntx * l.ty;
  const slab = l.sw * l.sh;
  const type = l.fields === 2 ? 'vec2f' : 'f32';
  const buffers = [...variant.inputs.map((b) => `var<storage, read> ${b}`), 'var<storage, read_write> res',
    ...variant.extraOutputs.map((b) => `var<storage, read_write> ${b}`)];
  const bindings = [...buffers.map((b, i) => `@group(0) @binding(${i}) ${b}: array<f32>;`),
    `@group(0) @binding(${buffers.length}) var<uniform> P: Params;`].join('\n');

  const lines: string[] = [];
  const acc = (k: number, r: number): string => `a${k}_${r}`;
  for (let k = 0; k < l.tz; k++) for (let r = 0; r < l.rx; r++) lines.push(`  var ${acc(k, r)} = ${type}(0.0);`);
  const decl = lines.join('\n');

  const rowLoads: string[] = [];
  for (let j = 0; j < l.rx + 2 * R; j++) rowLoads.push(`      let s${j} = slab[rb + ${j}u];`);
  const comp = ['x', 'y', 'z', 'w'];
  const perK: string[] = [];
  for (let k = 0; k < l.tz; k++) {
    const body: string[] = [];
    body.push(`        let kb = (u32(abs(dz - ${k})) * ${R + 1}u + ay) * ${l.kw4}u;`);
    for (let q = 0; q < l.kw4; q++) body.push(`        let k${q} = ktab[kb + ${q}u];`);
    for (let r = 0; r < l.rx; r++) {
      const terms: string[] = [];
      for (let j = 0; j < taps; j++) terms.push(`s${r + j} * k${j >> 2}.${comp[j & 3]}`);
      // a chain of multiply-adds acc + t0 + t1 + … (each contracts into an FMA)
      body.push(`        ${acc(k, r)} = ${acc(k, r)} + ${terms.join(' + ')};`);
    }
    perK.push(`      if (abs(dz - ${k}) <= ${R}) {\n${body.join('\n')}\n      }`);
  }

  const stores: string[] = [];
  for (let k = 0; k < l.tz; k++) for (let r = 0; r < l.rx; r++) {
    stores.push(`  if (z0 + ${k} < P.D && x + ${r} < P.W && y < P.H) {
    let at = base + u32(((z0 + ${k}) * P.H + y) * P.W + x + ${r});
    let acc = ${acc(k, r)};
    ${variant.store}
  }`);
  }

  return /* wgsl */ `
struct Params { D: i32, H: i32, W: i32, tilesZ: u32, h: f32, eps: f32, radius: f32, invRadius: f32, total: u32, }
${bindings}
${l.fields === 2 ? 'fn is_nan(v: vec2f) -> vec2<bool> { return (bitcast<vec2u>(v) & vec2u(0x7fffffffu)) > vec2u(0x7f800000u); }\n' : ''}
var<workgroup> slab: array<${type}, ${l.buffers * slab}>;
var<workgroup> ktab: array<vec4f, ${l.kw4 * l.krows}>;

@compute @workgroup_size(${ntx}, ${l.ty}, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32) {
  // K rows: row (|oz|, |oy|) holds exp(−‖(oz, oy, ox)‖/h) for ox = −ρ … ρ, zero padded to whole vec4s
  for (var e = li; e < ${l.kw4 * l.krows}u; e += ${threads}u) {
    let row = e / ${l.kw4}u;
    let az = i32(row / ${R + 1}u);
    let ay = i32(row % ${R + 1}u);
    let j0 = i32((e % ${l.kw4}u) * 4u) - ${R};
    var v = vec4f(0.0);
    for (var c = 0; c < 4; c++) {
      let ox = j0 + c;
      if (ox <= ${R}) { v[c] = exp(-sqrt(f32(az * az + ay * ay + ox * ox)) / P.h); }
    }
    ktab[e] = v;
  }
  let n = wid.z / P.tilesZ;
  let z0 = i32(wid.z % P.tilesZ) * ${l.tz};
  let y0 = i32(wid.y) * ${l.ty};
  let x0 = i32(wid.x) * ${l.tx};
  let base = n * u32(P.D * P.H * P.W);
${decl}
  let zlo = max(z0 - ${R}, 0);
  let zhi = min(z0 + ${l.tz - 1 + R}, P.D - 1);
  for (var zi = zlo; zi <= zhi; zi++) {
    let buf = ${l.buffers === 2 ? `u32(zi & 1) * ${slab}u` : '0u'};
    ${l.buffers === 2 ? '' : 'workgroupBarrier();'}
    for (var e = li; e < ${l.sh * l.swReal}u; e += ${threads}u) {
      let sy = i32(e / ${l.swReal}u);
      let sx = i32(e % ${l.swReal}u);
      let gy = y0 - ${R} + sy;
      let gx = x0 - ${R} + sx;
      var v = ${type}(0.0);
      if (gy >= 0 && gy < P.H && gx >= 0 && gx < P.W) {
        let at = base + u32((zi * P.H + gy) * P.W + gx);
        ${variant.load}
      }
      slab[buf + u32(sy * ${l.sw} + sx)] = v;
    }
    workgroupBarrier();
    let dz = zi - z0;
    for (var oy = 0; oy < ${taps}; oy++) {
      let rb = buf + (lid.y + u32(oy)) * ${l.sw}u + lid.x * ${l.rx}u;
      let ay = u32(abs(oy - ${R}));
${rowLoads.join('\n')}
${perK.join('\n')}
    }
  }
  let y = y0 + i32(lid.y);
  let x = x0 + i32(lid.x) * ${l.rx};
${stores.join('\n')}
}`;
}

const configuration = (variant: Variant, l: Layout) => ({ l, key: `cdt:${variant.name}:r${l.radius}:${l.tx}x${l.ty}x${l.tz}:${l.rx}:${l.buffers}` });

/**
 * chooseLayout's answer and its kernel key per runtime, variant and ρ (worked out on every call, they took about 4 % of
 * the DBiSL loss's host time; keyed by objects and numbers, not a string made per call)
 */
const chosenConfigurations = new WeakMap<GpuRuntime, Map<Variant, Map<number, { l: Layout; key: string }>>>();

function chosenConfiguration(rt: GpuRuntime, variant: Variant, radius: number): { l: Layout; key: string } {
  let byVariant = chosenConfigurations.get(rt);
  if (!byVariant) chosenConfigurations.set(rt, byVariant = new Map());
  let byRadius = byVariant.get(variant);
  if (!byRadius) byVariant.set(variant, byRadius = new Map());
  let chosen = byRadius.get(radius);
  if (!chosen) {
    chosen = configuration(variant, chooseLayout(rt, radius, variant.fields));
    if (byRadius.size >= 64) byRadius.clear();
    byRadius.set(radius, chosen);
  }
  return chosen;
}

/** Runs one variant on `inputs` (in the variant's order): `res`, then the variant's extra outputs (two planes each). */
function run(rt: GpuRuntime, name: VariantName, inputs: Storage[], shape: readonly number[], params: CdtParams, tile?: Tile): Storage[] {
  const variant: Variant = VARIANTS[name];
  const what = name === 'cdtSignedKeep' ? 'cdtSigned' : name === 'cdtSignedBackwardAdded' ? 'cdtSignedBackward' : name;
  if (variant.fields === 2) checkCdtSignedParams(params, what); else checkCdtParams(params, what);
  for (const s of inputs) if (wgslType(s.dtype) !== 'f32') throw new Error(`webgpu: ${what} takes float32, got ${s.dtype}`);
  const { batch, D, H, W } = cdtVolume(shape, what);
  const n = batch * D * H * W;
  inputs.forEach((s, i) => {
    const needed = variant.inputs[i] === 'dist' ? 2 * n : n;
    if (s.length < needed) throw new Error(`webgpu: ${what}: a storage of ${s.length} elements for ${variant.inputs[i]} of shape [${shape.join(', ')}]`);
  });
  const outputs = [rt.alloc(n, 'float32'), ...variant.extraOutputs.map(() => rt.alloc(2 * n, 'float32'))];
  if (n === 0) return outputs;
  const { l, key } = tile ? configuration(variant, layout(params.radius, tile, variant.fields)) : chosenConfiguration(rt, variant, params.radius);
  const kernel = rt.kernel(key, () => source(l, variant), inputs.length + outputs.length);
  const tilesZ = Math.ceil(D / l.tz);
  rt.dispatch(kernel, [...inputs.map(gpuBuffer), ...outputs.map((o) => o.buffer)],
    new Params().i32(D, H, W).u32(tilesZ).f32(params.h, params.eps, params.radius, 1 / params.radius).u32(n).done(),
    [Math.ceil(W / l.tx), Math.ceil(H / l.ty), tilesZ * batch]);
  return outputs;
}

export function cdt(rt: GpuRuntime, p: Storage, shape: readonly number[], params: CdtParams): Storage {
  return run(rt, 'cdt', [p], shape, params)[0];
}

export function cdtBackward(rt: GpuRuntime, p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): Storage {
  return run(rt, 'cdtBackward', [gOut, out, p], shape, params)[0];
}

export function cdtSigned(rt: GpuRuntime, p: Storage, shape: readonly number[], params: CdtParams, keepDistances: boolean):
  { signed: Storage; distances?: Storage } {
  const [signed, distances] = run(rt, keepDistances ? 'cdtSignedKeep' : 'cdtSigned', [p], shape, params);
  return distances ? { signed, distances } : { signed };
}

export function cdtSignedBackward(rt: GpuRuntime, p: Storage, distances: Storage, gOut: Storage, shape: readonly number[], params: CdtParams,
  addend?: Storage): Storage {
  return addend ? run(rt, 'cdtSignedBackwardAdded', [gOut, distances, p, addend], shape, params)[0]
    : run(rt, 'cdtSignedBackward', [gOut, distances, p], shape, params)[0];
}

/**
 * One kernel with a given tile, for tests and benchmarks: cdt (inputs [p]), cdtBackward ([gOut, out, p]),
 * cdtSigned / cdtSignedKeep ([p]; outputs signed, then the distances), cdtSignedBackward ([gOut, distances, p]) or
 * cdtSignedBackwardAdded ([gOut, distances, p, addend]).
 */
export function cdtWithTile(rt: GpuRuntime, tile: Tile, name: VariantName, inputs: Storage[], shape: readonly number[], params: CdtParams): Storage[] {
  return run(rt, name, inputs, shape, params, tile);
}

/** WGSL source of one configuration, for inspection and tests. */
export function cdtSource(radius: number, tile: Tile, name: VariantName): string {
  const variant: Variant = VARIANTS[name];
  return source(layout(radius, tile, variant.fields), variant);
}

// ---------------------------------------------------------------------------------------------------------
// microbenchmarks

// the benchmarks' problem, not a default (the kernels take their parameters): DBiSL's ρ and h, a fixed ε
const defaultCdtParams: CdtParams = { radius: 8, h: 0.35, eps: 1e-6 };

/** benchmark probabilities in [0.001, 1) */
const probabilities = (n: number, seed: number): Float32Array => randomArray(n, seed, 0.001, 1);

function cases(shape: number[], large: boolean): KernelBenchmark[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const taps = (2 * defaultCdtParams.radius + 1) ** 3;
  const label = `ρ ${defaultCdtParams.radius} [${shape.join(',')}]`;
  const opt = large ? { large: true } : {};
  return [
    {
      // one multiply-add per tap
      group: 'cdt', name: `fwd ${label}`, flops: 2 * n * taps, bytes: 8 * n, ...opt,
      setup(b: Backend) {
        const p = b.upload(probabilities(n, 7), 'float32');
        return { run() { b.free(b.cdt(p, shape, defaultCdtParams)); }, dispose() { b.free(p); } };
      },
    },
    {
      group: 'cdt', name: `bwd ${label}`, flops: 2 * n * taps, bytes: 16 * n, ...opt,
      setup(b: Backend) {
        const p = b.upload(probabilities(n, 8), 'float32');
        const g = b.upload(probabilities(n, 9), 'float32');
        const out = b.cdt(p, shape, defaultCdtParams);
        return {
          run() { b.free(b.cdtBackward(p, out, g, shape, defaultCdtParams)); },
          dispose() { b.free(p); b.free(g); b.free(out); },
        };
      },
    },
    {
      // both distances (two multiply-adds per tap), keeping them for backward as training does
      group: 'cdt', name: `signed fwd ${label}`, flops: 4 * n * taps, bytes: 16 * n, ...opt,
      setup(b: Backend) {
        const p = b.upload(probabilities(n, 10), 'float32');
        return {
          run() { const { signed, distances } = b.cdtSigned(p, shape, defaultCdtParams, true); b.free(signed); if (distances) b.free(distances); },
          dispose() { b.free(p); },
        };
      },
    },
    {
      group: 'cdt', name: `signed bwd ${label}`, flops: 4 * n * taps, bytes: 20 * n, ...opt,
      setup(b: Backend) {
        const p = b.upload(probabilities(n, 11), 'float32');
        const g = b.upload(probabilities(n, 12), 'float32');
        const { signed, distances } = b.cdtSigned(p, shape, defaultCdtParams, true);
        b.free(signed);
        if (!distances) throw new Error('cdtSigned: no distances kept');
        return {
          run() { b.free(b.cdtSignedBackward(p, distances, g, shape, defaultCdtParams)); },
          dispose() { b.free(p); b.free(g); b.free(distances); },
        };
      },
    },
  ];
}

export const benchmarks: KernelBenchmark[] = [...cases([4, 1, 112, 112, 80], true), ...cases([1, 1, 32, 32, 32], false)];
