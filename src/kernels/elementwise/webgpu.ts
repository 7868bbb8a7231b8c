import type { BinaryOp, DType, UnaryOp, View } from '../backend.js';
import { collapseDims, sizeOf } from '../layout.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { checkInto } from './checks.js';
import { GpuStorage, Params, SMI_MASK, gpuBuffer, grid1d, mixHash, wgslFlatIndex, wgslType, type Kernel } from '../webgpu/runtime.js';

/**
 * Elementwise kernels over strided views: unary, binary, where, copy, copyInto, addInto, cast and fill. Shapes are
 * collapsed first; a kernel whose operands are all plain contiguous arrays skips the index arithmetic.
 */

const MAX_RANK = 8;
const WG = 256;

export const unaryF32: Record<UnaryOp, string> = {
  neg: '-x', exp: 'exp(x)', log: 'log(x)', sqrt: 'sqrt(x)', rsqrt: 'inverseSqrt(x)', abs: 'abs(x)',
  sign: 'sign(x)', square: 'x * x', reciprocal: '1.0 / x', relu: 'select(max(x, 0.0), x, is_nan(x))',
  sigmoid: 'select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0)',
  tanh: 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))',
  softplus: 'max(x, 0.0) + log(1.0 + exp(-abs(x)))', erf: 'erf_f32(x)',
  powScalar: 'pow_signed(x, P.a0)', clamp: 'select(min(max(x, P.a0), P.a1), x, is_nan(x))', leakyRelu: 'select(P.a0 * x, x, x > 0.0)',
  affine: 'P.a0 * x + P.a1', step: 'select(0.0, 1.0, x > P.a0)', inRange: 'select(1.0, 0.0, x < P.a0 || x > P.a1 || is_nan(x))',
  roundToFloat16: 'round_to_f16(x)', round: 'round(x)', floor: 'floor(x)', ceil: 'ceil(x)', trunc: 'trunc(x)',
};

const unaryI32: Partial<Record<UnaryOp, string>> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', square: 'x * x', relu: 'max(x, 0)',
  clamp: 'min(max(x, i32(P.a0)), i32(P.a1))', affine: 'i32(P.a0) * x + i32(P.a1)', step: 'select(0, 1, f32(x) > P.a0)',
  inRange: 'select(1, 0, f32(x) < P.a0 || f32(x) > P.a1)', round: 'x', floor: 'x', ceil: 'x', trunc: 'x',
};

const binaryExpr: Record<BinaryOp, (t: string) => string> = {
  add: () => 'a + b', sub: () => 'a - b', mul: () => 'a * b', div: () => 'a / b',
  max: (t) => (t === 'f32' ? 'nan_or(a, b, max(a, b))' : 'max(a, b)'),
  min: (t) => (t === 'f32' ? 'nan_or(a, b, min(a, b))' : 'min(a, b)'),
  pow: (t) => (t === 'f32' ? 'pow_signed(a, b)' : 'pow_int(a, b)'),
  eq: (t) => `select(${t}(0), ${t}(1), a == b)`, ne: (t) => `select(${t}(0), ${t}(1), a != b)`,
  lt: (t) => `select(${t}(0), ${t}(1), a < b)`, le: (t) => `select(${t}(0), ${t}(1), a <= b)`,
  gt: (t) => `select(${t}(0), ${t}(1), a > b)`, ge: (t) => `select(${t}(0), ${t}(1), a >= b)`,
  reluBackward: (t) => `select(a, ${t}(0), b <= ${t}(0))`,
};

/**
 * x^y as PyTorch defines it for negative bases with integral exponents and for 0^negative (+inf); exact
 * integer powers; NaN-propagating max/min (WGSL leaves NaN in max/min undefined; the bit test survives
 * fast-math).
 */
const powSigned = /* wgsl */ `
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn nan_or(a: f32, b: f32, r: f32) -> f32 { return select(select(r, b, is_nan(b)), a, is_nan(a)); }
fn pow_int(a: i32, b: i32) -> i32 {
  if (b < 0) { if (a == 1) { return 1; } if (a == -1) { return select(-1, 1, (b & 1) == 0); } return 0; }
  var r = 1; var base = a; var e = u32(b);
  loop { if (e == 0u) { break; } if ((e & 1u) == 1u) { r = r * base; } base = base * base; e = e >> 1u; }
  return r;
}
// erf: the Maclaurin series to x¹¹ below |x| = 0.5 (relative error < 1e-7, where 1 − … would cancel), else
// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7)
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let z = x * x;
    return 1.1283791670955126 * x * (1.0 + z * (-0.3333333333333333 + z * (0.1 + z * (-0.023809523809523808 + z * (0.004629629629629629 - z * 0.0007575757575757576)))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}
// x rounded to the nearest f16 value (ties to even) by integer operations on its bits: quantizeToF16 and
// pack2x16float leave overflow and subnormals indeterminate. |x| ≥ 65520 (0x477ff000) → ±Inf; NaN kept.
fn round_to_f16(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let sign = bits & 0x80000000u;
  let magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) { return x; }
  if (magnitude >= 0x477ff000u) { return bitcast<f32>(sign | 0x7f800000u); }
  let e = magnitude >> 23u;
  if (e >= 113u) {
    // an f16 normal (≥ 2^-14): 13 fraction bits dropped, rounding up carries into the exponent
    let odd = (magnitude >> 13u) & 1u;
    return bitcast<f32>(sign | ((magnitude + 0xfffu + odd) & 0xffffe000u));
  }
  // an f16 subnormal: the significand (implicit 1 included) in units of 2^-24, then back to an f32
  if (e < 102u) { return bitcast<f32>(sign); }
  let significand = (magnitude & 0x7fffffu) | 0x800000u;
  let shift = 126u - e;
  let units = (significand + (1u << (shift - 1u)) - 1u + ((significand >> shift) & 1u)) >> shift;
  if (units == 0u) { return bitcast<f32>(sign); }
  let top = firstLeadingBit(units);
  return bitcast<f32>(sign | ((top + 103u) << 23u) | ((units << (23u - top)) & 0x7fffffu));
}
fn pow_signed(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { var inf_bits = 0x7f800000u; return select(0.0, bitcast<f32>(inf_bits), y < 0.0); }
  let r = pow(abs(x), y);
  if (x >= 0.0) { return r; }
  var nan_bits = 0x7fc00000u;
  if (fract(y) != 0.0) { return bitcast<f32>(nan_bits); }
  return select(r, -r, fract(y * 0.5) != 0.0);
}
`;

interface Operand { name: string; type: 'f32' | 'i32'; access: 'read' | 'read_write' }

/** WGSL for `out[i] = body` over operands given as strided views (or plain arrays when contiguous). */
function elementwiseSource(operands: readonly Operand[], body: string, contiguous: boolean): string {
  const bindings = operands.map((o, k) => `@group(0) @binding(${k}) var<storage, ${o.access}> b_${o.name}: array<${o.type}>;`).join('\n');
  const strideFields = operands.map((o) => `s_${o.name}: array<vec4<u32>, 2>,`).join('\n  ');
  const offsetFields = operands.map((o) => `o_${o.name}: u32,`).join(' ');
  const index = contiguous
    ? operands.map((o) => `  let at_${o.name} = i + P.o_${o.name};`).join('\n')
    : `  var rest = i;\n${operands.map((o) => `  var at_${o.name} = P.o_${o.name};`).join('\n')}
  for (var d = i32(P.rank) - 1; d >= 0; d--) {
    let extent = P.shape[d / 4][d % 4];
    let c = rest % extent;
    rest = rest / extent;
${operands.map((o) => `    at_${o.name} += c * P.s_${o.name}[d / 4][d % 4];`).join('\n')}
  }`;
  return /* wgsl */ `
struct Params { n: u32, rank: u32, a0: f32, a1: f32, ${offsetFields}
  shape: array<vec4<u32>, 2>,
  ${strideFields}
}
${bindings}
@group(0) @binding(${operands.length}) var<uniform> P: Params;
${powSigned}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${index}
${body}
}`;
}

/**
 * One elementwise kernel: its pipeline keys (strided, plain), operands and body, made once per variant (so that a
 * call builds no key, body or operand list).
 */
interface Spec { id: number; keys: readonly [string, string]; sources: readonly [() => string, () => string]; operands: readonly Operand[] }

let specCount = 0;

function spec(key: string, operands: readonly Operand[], body: string): Spec {
  return {
    id: specCount++,
    keys: [`ew:${key}:s`, `ew:${key}:c`],
    sources: [() => elementwiseSource(operands, body, false), () => elementwiseSource(operands, body, true)],
    operands,
  };
}

/** the specs of a kind by two of its parameters (dtypes, ops), made on first use */
function specTable<A extends string, B extends string>(make: (a: A, b: B) => Spec): (a: A, b: B) => Spec {
  const made = new Map<A, Map<B, Spec>>();
  return (a, b) => {
    let row = made.get(a);
    if (!row) { row = new Map(); made.set(a, row); }
    let s = row.get(b);
    if (!s) { s = make(a, b); row.set(b, s); }
    return s;
  };
}

const read = (name: string, type: 'f32' | 'i32'): Operand => ({ name, type, access: 'read' });
const written = (type: 'f32' | 'i32'): Operand => ({ name: 'out', type, access: 'read_write' });

/** One call's dispatch: its kernel, parameters and workgroups (a pure function of the spec, the views' shape,
 * strides and offsets, and the scalars). */
interface Recipe { kernel: Kernel; params: ArrayBuffer; groups: [number, number] }

/** a cached recipe, the key it was made for (see run) and the next one whose key has the same hash */
interface CachedRecipe { key: readonly number[]; recipe: Recipe; next: CachedRecipe | null }

/** per runtime: the recipes of the calls seen (a training step repeats its own), by the hash of their keys */
const recipes = new WeakMap<GpuRuntime, { byHash: Map<number, CachedRecipe>; count: number }>();
/** the recipe cache starts over past this many (shapes that keep changing would grow it) */
const MAX_RECIPES = 4096;
/** the key of the call being run, in its first entries (reused: no array per call) */
const callKey: number[] = [];

/** Runs a spec's body over views of one shape (the last operand is the output, written at at_out). */
function run(rt: GpuRuntime, s: Spec, views: View[], a0 = 0, a1 = 0): void {
  const shape = views[0].shape;
  const n = sizeOf(shape);
  if (n === 0) return;
  // the key: spec, scalars, shape, each view's offset and strides (collapsing the dims and packing the parameters
  // cost more than hashing it)
  let k = 0;
  callKey[k++] = s.id; callKey[k++] = a0; callKey[k++] = a1; callKey[k++] = shape.length;
  for (let d = 0; d < shape.length; d++) callKey[k++] = shape[d]!;
  for (const v of views) { callKey[k++] = v.offset; for (let d = 0; d < v.strides.length; d++) callKey[k++] = v.strides[d]!; }
  let hash = mixHash(0, k);
  for (let i = 0; i < k; i++) hash = mixHash(hash, callKey[i]! | 0);
  hash &= SMI_MASK;
  let cache = recipes.get(rt);
  if (!cache) { cache = { byHash: new Map(), count: 0 }; recipes.set(rt, cache); }
  let e = cache.byHash.get(hash) ?? null;
  while (e && !sameKey(e.key, callKey, k)) e = e.next;
  let r = e?.recipe;
  if (!r) {
    r = recipe(rt, s, views, n, a0, a1);
    if (cache.count >= MAX_RECIPES) { cache.byHash.clear(); cache.count = 0; }
    cache.byHash.set(hash, { key: callKey.slice(0, k), recipe: r, next: cache.byHash.get(hash) ?? null });
    cache.count++;
  }
  const buffers: GPUBuffer[] = [];
  for (const v of views) buffers.push(gpuBuffer(v.storage));
  rt.dispatch(r.kernel, buffers, r.params, r.groups);
}

/** whether `key` is the first n numbers of `call` (as Object.is: a fill of −0 is not one of +0, NaN is NaN) */
function sameKey(key: readonly number[], call: readonly number[], n: number): boolean {
  if (key.length !== n) return false;
  for (let i = 0; i < n; i++) if (!Object.is(key[i], call[i])) return false;
  return true;
}

function recipe(rt: GpuRuntime, s: Spec, views: readonly View[], n: number, a0: number, a1: number): Recipe {
  const collapsed = collapseDims(views[0].shape, views.map((v) => v.strides));
  const rank = collapsed.shape.length;
  if (rank > MAX_RANK) throw new Error(`webgpu: views of rank ${rank} exceed ${MAX_RANK} after merging dimensions`);
  const contiguous = rank <= 1 && collapsed.strides.every((st) => st.length === 0 || st[0] === 1);
  const variant = contiguous ? 1 : 0;
  const kernel = rt.kernel(s.keys[variant], s.sources[variant], s.operands.length);
  const params = new Params().u32(n, rank).f32(a0, a1);
  for (const v of views) params.u32(v.offset);
  params.vec4s(collapsed.shape, 2);
  for (const st of collapsed.strides) params.vec4s(st, 2);
  return { kernel, params: params.done(), groups: grid1d(n, WG) };
}

function outputView(s: GpuStorage, shape: readonly number[]): View {
  const strides: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { strides[d] = acc; acc *= shape[d]; }
  return { storage: s, shape, strides, offset: 0 };
}

const unarySpec = specTable((t: 'f32' | 'i32', op: UnaryOp) => spec(`u:${op}:${t}`, [read('x', t), written(t)],
  `  let x = b_x[at_x];\n  b_out[at_out] = ${(t === 'f32' ? unaryF32[op] : unaryI32[op])!};`));

export function unary(rt: GpuRuntime, op: UnaryOp, x: View, params: readonly number[] = []): GpuStorage {
  const t = wgslType(x.storage.dtype);
  const expr = t === 'f32' ? unaryF32[op] : unaryI32[op];
  if (!expr) throw new Error(`webgpu: unary '${op}' is not defined for int32`);
  const out = rt.alloc(sizeOf(x.shape), x.storage.dtype);
  run(rt, unarySpec(t, op), [x, outputView(out, x.shape)], params[0] ?? 0, params[1] ?? 0);
  return out;
}

const binarySpec = specTable((t: 'f32' | 'i32', op: BinaryOp) => spec(`b:${op}:${t}`, [read('a', t), read('b', t), written(t)],
  `  let a = b_a[at_a];\n  let b = b_b[at_b];\n  b_out[at_out] = ${binaryExpr[op](t)};`));

export function binary(rt: GpuRuntime, op: BinaryOp, a: View, b: View): GpuStorage {
  const t = wgslType(a.storage.dtype);
  const out = rt.alloc(sizeOf(a.shape), a.storage.dtype);
  run(rt, binarySpec(t, op), [a, b, outputView(out, a.shape)]);
  return out;
}

const whereSpec = specTable((tc: 'f32' | 'i32', t: 'f32' | 'i32') => spec(`w:${tc}:${t}`,
  [read('c', tc), read('a', t), read('b', t), written(t)], `  b_out[at_out] = select(b_b[at_b], b_a[at_a], b_c[at_c] != ${tc}(0));`));

export function where(rt: GpuRuntime, cond: View, a: View, b: View): GpuStorage {
  const tc = wgslType(cond.storage.dtype), t = wgslType(a.storage.dtype);
  const out = rt.alloc(sizeOf(a.shape), a.storage.dtype);
  run(rt, whereSpec(tc, t), [cond, a, b, outputView(out, a.shape)]);
  return out;
}

const castSpec = specTable((from: 'f32' | 'i32', to: 'f32' | 'i32') => spec(`cast:${from}:${to}`, [read('x', from), written(to)],
  `  b_out[at_out] = ${to}(b_x[at_x]);`));

export function cast(rt: GpuRuntime, x: View, dtype: DType): GpuStorage {
  const from = wgslType(x.storage.dtype), to = wgslType(dtype);
  const out = rt.alloc(sizeOf(x.shape), dtype);
  run(rt, castSpec(from, to), [x, outputView(out, x.shape)]);
  return out;
}

export function copy(rt: GpuRuntime, x: View): GpuStorage {
  return cast(rt, x, x.storage.dtype);
}

/** dst ← f(dst, src) elementwise over two views of different storages (copyInto, addInto), per dtype */
interface IntoSpecs { name: string; f32: Spec; i32: Spec }

function intoSpecs(name: string, statement: string): IntoSpecs {
  const of = (t: 'f32' | 'i32') => spec(`${name}:${t}`, [read('x', t), written(t)], statement);
  return { name, f32: of('f32'), i32: of('i32') };
}

function runInto(rt: GpuRuntime, specs: IntoSpecs, dst: View, src: View): void {
  checkInto(specs.name, dst, src);
  run(rt, specs[wgslType(src.storage.dtype)], [src, dst]);
}

const copyIntoSpecs = intoSpecs('copyInto', '  b_out[at_out] = b_x[at_x];');
export function copyInto(rt: GpuRuntime, dst: View, src: View): void { runInto(rt, copyIntoSpecs, dst, src); }

const addIntoSpecs = intoSpecs('addInto', '  b_out[at_out] = b_out[at_out] + b_x[at_x];');
export function addInto(rt: GpuRuntime, dst: View, src: View): void { runInto(rt, addIntoSpecs, dst, src); }

const fillSpecs = { f32: fillSpec('f32'), i32: fillSpec('i32') };
function fillSpec(t: 'f32' | 'i32'): Spec { return spec(`fill:${t}`, [written(t)], `  b_out[at_out] = ${t}(P.a0);`); }

export function fill(rt: GpuRuntime, length: number, value: number, dtype: DType): GpuStorage {
  const t = wgslType(dtype);
  const out = rt.alloc(length, dtype);
  run(rt, fillSpecs[t], [outputView(out, [length])], value);
  return out;
}
