import type { Backend, LossTotal, RowLoss, RowLossInputs, RowOperand, Storage, WeightedGroup, WeightedTerm } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { channelChunks } from '../norm/webgpu.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, SMI_MASK, gpuBuffer, grid1d, mixNumbers, wgslFlatIndex, wgslType } from '../webgpu/runtime.js';
import { MAX_GROUPS, checkLossTotal, checkLossTotalGradients, checkRowLoss, checkRowLossBackward, checkWeightedSum, checkWeightedSumBackward, checkWeightedSums } from './checks.js';

/**
 * The fused row losses (see RowLoss in backend.ts). Forward: workgroup (row, chunk) walks its chunk of the row
 * with 256 lanes 256 elements apart, four elements per step, each lane accumulating all three sums of the
 * element terms at once (one read of every operand); a tree in workgroup memory combines the lanes. Rows are
 * split into chunks as the normalisations' statistics are (norm's channelChunks: long rows, few of them); an
 * unsplit row is finished by its one workgroup (one dispatch), a split one by a finishing dispatch that adds its
 * chunks' partial sums. Either way the dispatch that finishes a row writes its three sums (for the backward) and its loss.
 * Backward: one elementwise pass from the sums writes every wanted gradient.
 * The summation order (lanes, then the tree, then the chunks) differs from the composed ops' reductions, the
 * formulas do not.
 */

const WG = 256;

/** the WGSL of one kind: the terms of an element (va, vb, vw in scope), the loss of sums s, the gradients */
interface KindSource {
  terms: string;
  finish: (weighted: boolean) => string;
  /** lets the gradients share (s, gr in scope) */
  prelude: (weighted: boolean) => string;
  gradients: (weighted: boolean) => [string, string, string];
}

const KINDS: Record<RowLoss['kind'], KindSource> = {
  dice: {
    terms: 'vec3f(vw * va * vb, vw * va * va, vw * vb * vb)',
    finish: () => '1.0 - (2.0 * s.x + P.c0) / (s.y + s.z + P.c0)',
    // L = 1 − N/D, N = 2I + s, D = P + Y + s (derivation in cpu.ts)
    prelude: () => 'let d = s.y + s.z + P.c0;\n  let q = (2.0 * s.x + P.c0) / d;',
    gradients: () => ['gr * (2.0 * vw / d) * (q * va - vb)', 'gr * (2.0 * vw / d) * (q * vb - va)',
      'gr * (q * (va * va + vb * vb) - 2.0 * va * vb) / d'],
  },
  bce: {
    terms: 'vec3f(vb * softplus(-va) + (1.0 - vb) * softplus(va), 0.0, 0.0)',
    finish: () => 's.x * P.c0',
    prelude: () => '',
    gradients: () => ['(sigmoid(va) - vb) * gr * P.c0', '-va * gr * P.c0', '0.0'],
  },
  mse: {
    terms: 'vec3f(vw * (va - vb) * (va - vb), vw, 0.0)',
    finish: (weighted) => (weighted ? 's.x / (s.y + P.c1)' : 's.x * P.c0'),
    prelude: (weighted) => (weighted
      ? 'let z = s.y + P.c1;\n  let ga = 2.0 * vw * (va - vb) / z * gr;'
      : 'let ga = (va - vb) * (2.0 * P.c0 * gr);'),
    gradients: (weighted) => ['ga', '-ga', weighted ? '((va - vb) * (va - vb) - s.x / z) / z * gr' : '0.0'],
  },
  l1: {
    terms: 'vec3f(abs(va - vb), 0.0, 0.0)',
    finish: () => 's.x * P.c0',
    prelude: () => 'let ga = sign(va - vb) * gr * P.c0;',
    gradients: () => ['ga', '-ga', '0.0'],
  },
};

const HELPERS = /* wgsl */ `
fn softplus(x: f32) -> f32 { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
fn sigmoid(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }`;

const PARAMS = 'struct Params { rows: u32, n: u32, chunks: u32, chunkLen: u32, off0: u32, off1: u32, off2: u32, rs0: u32, rs1: u32, rs2: u32, c0: f32, c1: f32 }';

const operandBindings = (weighted: boolean) => ['op0', 'op1', ...(weighted ? ['op2'] : [])]
  .map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`);

/** WGSL lets va, vb, vw: element i of row r of each operand (vw 1 without a weight) */
const loads = (weighted: boolean) => `let va = op0[P.off0 + r * P.rs0 + i];
  let vb = op1[P.off1 + r * P.rs1 + i];
  let vw = ${weighted ? 'op2[P.off2 + r * P.rs2 + i]' : '1.0'};`;

/** direct: the rows → sums and losses; partial: chunks → partial sums; finish: partial sums → sums and losses */
type Stage = 'direct' | 'partial' | 'finish';

function reductionSource(kind: RowLoss['kind'], weighted: boolean, stage: Stage): string {
  const k = KINDS[kind];
  const inputs = stage === 'finish' ? ['@group(0) @binding(0) var<storage, read> part: array<vec4f>;'] : operandBindings(weighted);
  const outputs = stage === 'partial' ? ['part: array<vec4f>'] : ['sums: array<f32>', 'loss: array<f32>'];
  const bindings = [...inputs, ...outputs.map((o, b) => `@group(0) @binding(${inputs.length + b}) var<storage, read_write> ${o};`)];
  const walk = stage === 'finish'
    ? `for (var c = t; c < P.chunks; c += ${WG}u) { acc += part[r * P.chunks + c].xyz; }`
    : `let end = min(P.n, (chunk + 1u) * P.chunkLen);
    var i = chunk * P.chunkLen + t;
    while (i + ${3 * WG}u < end) {
      acc += (term(r, i) + term(r, i + ${WG}u)) + (term(r, i + ${2 * WG}u) + term(r, i + ${3 * WG}u));
      i += ${4 * WG}u;
    }
    for (; i < end; i += ${WG}u) { acc += term(r, i); }`;
  const write = stage === 'partial'
    ? 'part[w] = vec4f(sh[0], 0.0);'
    : `let s = sh[0];
    sums[3u * r] = s.x;
    sums[3u * r + 1u] = s.y;
    sums[3u * r + 2u] = s.z;
    loss[r] = ${k.finish(weighted)};`;
  return /* wgsl */ `
${PARAMS}
${bindings.join('\n')}
@group(0) @binding(${bindings.length}) var<uniform> P: Params;
${HELPERS}
${stage === 'finish' ? '' : `fn term(r: u32, i: u32) -> vec3f {
  ${loads(weighted)}
  return ${k.terms};
}`}
var<workgroup> sh: array<vec3f, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  let t = lid.x;
  let r = ${stage === 'finish' ? 'w' : 'w / P.chunks'};
  let chunk = w % P.chunks;
  var acc = vec3f();
  if (r < P.rows) {
    ${walk}
  }
  sh[t] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (t < h) { sh[t] += sh[t + h]; }
    workgroupBarrier();
  }
  if (t == 0u && r < P.rows) {
    ${write}
  }
}`;
}

/** wanted: bit k set when operand k's gradient is written */
function backwardSource(kind: RowLoss['kind'], weighted: boolean, wanted: number): string {
  const k = KINDS[kind];
  const names = [0, 1, 2].filter((j) => wanted & (1 << j));
  const inputs = [...operandBindings(weighted), 'sums', 'g'].map((b, j) => (b.startsWith('@') ? b
    : `@group(0) @binding(${j}) var<storage, read> ${b}: array<f32>;`));
  const outputs = names.map((j, b) => `@group(0) @binding(${inputs.length + b}) var<storage, read_write> grad${j}: array<f32>;`);
  const gradients = k.gradients(weighted);
  return /* wgsl */ `
${PARAMS}
${[...inputs, ...outputs].join('\n')}
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> P: Params;
${HELPERS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = ${wgslFlatIndex(WG)};
  if (e >= P.rows * P.n) { return; }
  let r = e / P.n;
  let i = e - r * P.n;
  ${loads(weighted)}
  let s = vec3f(sums[3u * r], sums[3u * r + 1u], sums[3u * r + 2u]);
  let gr = g[r];
  ${k.prelude(weighted)}
  ${names.map((j) => `grad${j}[e] = ${gradients[j]};`).join('\n  ')}
}`;
}

function params(loss: RowLoss, inputs: RowLossInputs, chunks: number, chunkLen: number): ArrayBuffer {
  const [a, b, w] = inputs.operands;
  const c0 = loss.kind === 'dice' ? loss.smooth : loss.scale, c1 = loss.kind === 'mse' ? loss.eps : 0;
  return new Params().u32(inputs.rows, inputs.n, chunks, chunkLen, a.offset, b.offset, w?.offset ?? 0, a.rowStride, b.rowStride,
    w?.rowStride ?? 0).f32(c0, c1).done();
}

const operandBuffers = (operands: readonly (RowOperand | null)[]): GPUBuffer[] =>
  operands.filter((o): o is RowOperand => o !== null).map((o) => gpuBuffer(o.storage));

export function rowLoss(rt: GpuRuntime, loss: RowLoss, inputs: RowLossInputs): { loss: GpuStorage; sums: GpuStorage } {
  wgslType(checkRowLoss('rowLoss', loss, inputs)[0].dtype);
  const { rows, n } = inputs, weighted = inputs.operands[2] !== null;
  const out = { loss: rt.alloc(rows, 'float32'), sums: rt.alloc(3 * rows, 'float32') };
  if (rows === 0) return out;
  const { chunks, chunkLen } = channelChunks(rows, n);
  const p = params(loss, inputs, chunks, chunkLen);
  const data = operandBuffers(inputs.operands), results = [out.sums.buffer, out.loss.buffer];
  const run = (stage: Stage, buffers: GPUBuffer[], workgroups: number) => {
    const kernel = rt.kernel(`loss:${loss.kind}:${weighted ? 'w' : ''}:${stage}`, () => reductionSource(loss.kind, weighted, stage), buffers.length);
    rt.dispatch(kernel, buffers, p, grid1d(workgroups, 1));
  };
  if (chunks === 1) {
    run('direct', [...data, ...results], rows);
    return out;
  }
  const part = rt.alloc(4 * rows * chunks, 'float32');
  run('partial', [...data, part.buffer], rows * chunks);
  run('finish', [part.buffer, ...results], rows);
  rt.free(part);
  return out;
}

export function rowLossBackward(rt: GpuRuntime, loss: RowLoss, inputs: RowLossInputs, sums: Storage, g: Storage,
  wanted: readonly [boolean, boolean, boolean]): GpuStorage[] {
  checkRowLossBackward(loss, inputs, sums, g, wanted);
  wgslType(g.dtype);
  const total = inputs.rows * inputs.n, weighted = inputs.operands[2] !== null;
  const grads = wanted.filter((want) => want).map(() => rt.alloc(total, 'float32'));
  const mask = wanted.reduce((m, want, j) => m | (want ? 1 << j : 0), 0);
  if (total === 0 || mask === 0) return grads;
  const buffers = [...operandBuffers(inputs.operands), gpuBuffer(sums), gpuBuffer(g), ...grads.map((s) => s.buffer)];
  const kernel = rt.kernel(`loss:${loss.kind}:${weighted ? 'w' : ''}:backward${mask}`, () => backwardSource(loss.kind, weighted, mask), buffers.length);
  rt.dispatch(kernel, buffers, params(loss, inputs, 1, inputs.n), grid1d(total, WG));
  return grads;
}

// ------------------------------------------------------------------------------------------ weighted sums

/*
 * The weighted sum of scalar terms: one invocation walks the elements in order. An element's storage binding is in
 * the kernel's source (its key), its offset and weight in the parameters, so a changing weight (λ(t) during the ramp-up)
 * does not make a new kernel; which weights are 1 (no product) is in the key too. Each product is `w * x + 0` as the
 * affine kernel writes it. At most MAX_INPUTS storages and MAX_WEIGHTS weights per dispatch: beyond that the first
 * elements' sum becomes the first term of the next (a sum continued from its partial value, the same order), a term
 * split where a dispatch ends (its later elements a term of the same storage at a later offset).
 */

const MAX_INPUTS = MAX_GROUPS;
/**
 * The weights one dispatch's parameters hold (weightParams: ⌈m/4⌉ rows of offsets and as many of weights, 16 bytes
 * each, and the zero row): 32·⌈m/4⌉ + 16 ≤ the runtime's 256-byte parameter block, m ≤ 28.
 */
const MAX_WEIGHTS = 28;
const lane = (j: number) => `[${j >> 2}].${'xyzw'[j & 3]}`;

/** offsets as array<vec4u>, then the weights as array<vec4f>, each of ⌈m/4⌉ rows, then a row of zeros (the + 0) */
function weightParams(offsets: readonly number[], weights: readonly number[]): ArrayBuffer {
  const rows = Math.max(1, Math.ceil(weights.length / 4));
  return new Params().vec4s(offsets, rows).f32(...weights, ...new Array<number>(4 * rows - weights.length + 4).fill(0)).done();
}

const weightStruct = (rows: number) => `struct Params { offsets: array<vec4u, ${rows}>, weights: array<vec4f, ${rows}>, zero: vec4f }`;
const product = (j: number, x: string, w: number) => (w === 1 ? x : `P.weights${lane(j)} * ${x} + P.zero.x`);

/**
 * The elements' weighted sum left to right (`sizes` null: into out[0]); or per group of sizes[k] elements, each group's
 * into out[k], then those sums' with the groups' weights (the weights after the elements') into out[m].
 */
function weightedSumSource(bindings: readonly number[], units: readonly boolean[], inputs: number, sizes: readonly number[] | null): string {
  const rows = Math.max(1, Math.ceil(units.length / 4));
  const terms = bindings.map((b, j) => product(j, `t${b}[P.offsets${lane(j)}]`, units[j] ? 1 : 0));
  const chain = (acc: string, parts: readonly string[]) => [`var ${acc} = ${parts[0]};`, ...parts.slice(1).map((t) => `${acc} = ${acc} + ${t};`)];
  let body: string[];
  if (!sizes) body = [...chain('acc', terms), 'out[0] = acc;'];
  else {
    let first = 0;
    body = sizes.flatMap((size, k) => { first += size; return [...chain(`s${k}`, terms.slice(first - size, first)), `out[${k}] = s${k};`]; });
    body.push(...chain('acc', sizes.map((_, k) => product(bindings.length + k, `s${k}`, units[bindings.length + k] ? 1 : 0))), `out[${sizes.length}] = acc;`);
  }
  return /* wgsl */ `
${weightStruct(rows)}
${Array.from({ length: inputs }, (_, b) => `@group(0) @binding(${b}) var<storage, read> t${b}: array<f32>;`).join('\n')}
@group(0) @binding(${inputs}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${inputs + 1}) var<uniform> P: Params;

@compute @workgroup_size(1)
fn main() {
  ${body.join('\n  ')}
}`;
}

interface SumLayout { storages: Storage[]; bindings: number[]; offsets: number[]; weights: number[]; rest: WeightedTerm[] }

/**
 * The leading elements one dispatch binds (at most MAX_INPUTS storages and `budget` weights): their bindings (an index
 * into `storages`), offsets and weights; `rest` the terms after them, the first of them a split term's later elements.
 * A term of no elements binds nothing.
 */
function layoutOf(terms: readonly WeightedTerm[], budget: number): SumLayout {
  const layout: SumLayout = { storages: [], bindings: [], offsets: [], weights: [], rest: [] };
  for (let i = 0; i < terms.length; i++) {
    const { storage, offset, weights } = terms[i], room = budget - layout.weights.length;
    let b = weights.length === 0 ? 0 : layout.storages.indexOf(storage);
    if (weights.length > 0 && (room === 0 || (b < 0 && layout.storages.length === MAX_INPUTS))) {
      layout.rest = terms.slice(i);
      break;
    }
    if (b < 0) b = layout.storages.push(storage) - 1;
    const taken = Math.min(weights.length, room);
    for (let j = 0; j < taken; j++) { layout.bindings.push(b); layout.offsets.push(offset + j); layout.weights.push(weights[j]); }
    if (taken < weights.length) {
      layout.rest = [{ storage, offset: offset + taken, weights: weights.slice(taken) }, ...terms.slice(i + 1)];
      break;
    }
  }
  return layout;
}

function runWeightedSum(rt: GpuRuntime, layout: SumLayout, sizes: readonly number[] | null, groupWeights: readonly number[]): GpuStorage {
  const out = rt.alloc(sizes ? sizes.length + 1 : 1, 'float32');
  const weights = [...layout.weights, ...groupWeights], units = weights.map((w) => w === 1), inputs = layout.storages.length;
  const key = `loss:weighted-sum:${layout.bindings.join(',')}:${sizes ? `${sizes.join(',')}:` : ''}${units.map(Number).join('')}`;
  const kernel = rt.kernel(key, () => weightedSumSource(layout.bindings, units, inputs, sizes), inputs + 1);
  rt.dispatch(kernel, [...layout.storages.map(gpuBuffer), out.buffer], weightParams(layout.offsets, weights), [1]);
  return out;
}

export function weightedSum(rt: GpuRuntime, terms: readonly WeightedTerm[]): GpuStorage {
  wgslType(checkWeightedSum(terms));
  // a term of no elements binds nothing: a dispatch of such terms alone would have no first element to sum
  let rest: readonly WeightedTerm[] = terms.filter((t) => t.weights.length > 0), partial: GpuStorage | null = null;
  // each dispatch's sum is the first term of the next (a sum continued from its partial value, the same order), which
  // takes one of its storages and one of its weights: at least one more element fits
  do {
    const layout = layoutOf(partial ? [{ storage: partial, offset: 0, weights: [1] }, ...rest] : rest, MAX_WEIGHTS);
    const out = runWeightedSum(rt, layout, null, []);
    if (partial) rt.free(partial);
    partial = out;
    rest = layout.rest;
  } while (rest.length > 0);
  return partial;
}

export function weightedSums(rt: GpuRuntime, groups: readonly WeightedGroup[]): GpuStorage {
  wgslType(checkWeightedSums(groups));
  // the groups' weights follow the elements' in the parameters
  const all = groups.flatMap((g) => g.terms), layout = layoutOf(all, MAX_WEIGHTS - groups.length), weights = groups.map((g) => g.weight);
  if (layout.rest.length === 0) return runWeightedSum(rt, layout, groups.map((g) => g.terms.reduce((n, t) => n + t.weights.length, 0)), weights);
  // more storages or weights than one dispatch holds: each group's sum first (the same floats), then the groups of one
  // term each (at most MAX_GROUPS storages and 2·MAX_GROUPS weights: one dispatch)
  const sums = groups.map((g) => weightedSum(rt, g.terms));
  const out = weightedSums(rt, sums.map((s, k) => ({ terms: [{ storage: s, offset: 0, weights: [1] }], weight: weights[k] })));
  for (const s of sums) rt.free(s);
  return out;
}

/** the elements [first, first + count) of a term's gradient */
interface GradientPiece { term: number; first: number; count: number }

/**
 * weightedSumBackward's dispatches: each writes at most MAX_INPUTS gradients and holds at most MAX_WEIGHTS weights, a
 * scale per gradient among them where `scaled`. A term that fits no dispatch of its own is written in pieces (disjoint
 * elements), each filling the room left in its dispatch; any other term starts a dispatch where it does not fit the current one.
 */
function gradientPieces(weights: readonly (readonly number[])[], scaled: boolean): GradientPiece[][] {
  const dispatches: GradientPiece[][] = [], scaleWeights = scaled ? 1 : 0;
  let pieces: GradientPiece[] = [], used = 0;
  const fits = (count: number) => pieces.length < MAX_INPUTS && used + count + scaleWeights <= MAX_WEIGHTS;
  weights.forEach((w, term) => {
    for (let first = 0; first < w.length;) {
      const rest = w.length - first;
      if (!fits(rest) && (rest + scaleWeights <= MAX_WEIGHTS || !fits(1))) {
        dispatches.push(pieces);
        pieces = [];
        used = 0;
      }
      const count = Math.min(rest, MAX_WEIGHTS - scaleWeights - used);
      pieces.push({ term, first, count });
      used += count + scaleWeights;
      first += count;
    }
  });
  dispatches.push(pieces);
  return dispatches;
}

function weightedSumBackwardSource(pieces: readonly GradientPiece[], units: readonly boolean[], scaleUnits: readonly boolean[] | null): string {
  const rows = Math.max(1, Math.ceil((units.length + (scaleUnits?.length ?? 0)) / 4));
  let j = 0;
  const scaled = (k: number) => (scaleUnits ? product(units.length + k, 'g[0]', scaleUnits[k] ? 1 : 0) : 'g[0]');
  const scales = scaleUnits ? scaleUnits.map((_, k) => `let g${k} = ${scaled(k)};`) : [];
  const writes = pieces.flatMap(({ first, count }, k) => Array.from({ length: count },
    (_, e) => `grad${k}[${first + e}] = ${product(j, scaleUnits ? `g${k}` : 'g[0]', units[j++] ? 1 : 0)};`));
  return /* wgsl */ `
${weightStruct(rows)}
@group(0) @binding(0) var<storage, read> g: array<f32>;
${pieces.map((_, k) => `@group(0) @binding(${k + 1}) var<storage, read_write> grad${k}: array<f32>;`).join('\n')}
@group(0) @binding(${pieces.length + 1}) var<uniform> P: Params;

@compute @workgroup_size(1)
fn main() {
  ${[...scales, ...writes].join('\n  ')}
}`;
}

export function weightedSumBackward(rt: GpuRuntime, weights: readonly (readonly number[])[], g: Storage, scales?: readonly number[]): GpuStorage[] {
  checkWeightedSumBackward(weights, g, scales);
  wgslType(g.dtype);
  const grads = weights.map((w) => rt.alloc(w.length, 'float32'));
  for (const pieces of gradientPieces(weights, scales !== undefined)) {
    const flat = pieces.flatMap((p) => weights[p.term].slice(p.first, p.first + p.count)), units = flat.map((w) => w === 1);
    const pieceScales = scales ? pieces.map((p) => scales[p.term]) : [], scaleUnits = scales ? pieceScales.map((s) => s === 1) : null;
    const key = `loss:weighted-sum-bwd:${pieces.map((p) => `${p.first}+${p.count}`).join(',')}:${units.map(Number).join('')}${scaleUnits ? `:${scaleUnits.map(Number).join('')}` : ''}`;
    const kernel = rt.kernel(key, () => weightedSumBackwardSource(pieces, units, scaleUnits), pieces.length + 1);
    rt.dispatch(kernel, [gpuBuffer(g), ...pieces.map((p) => grads[p.term].buffer)], weightParams([], [...flat, ...pieceScales]), [1]);
  }
  return grads;
}

// ------------------------------------------------------------------------------------------ a loss's total

/*
 * lossTotal: every item's rows in one reduction. The layout (each operand's binding, offset and row stride, the
 * constants, the chunks, the rows' groups) is in the kernels' source and key, the rows' and groups' weights in the
 * parameters (λ(t) changes without a new kernel). Pass 1: workgroup w walks one chunk of one row of one item as
 * rowLoss's does and writes its partial sums; pass 2 (one workgroup) adds each row's chunks, writes its sums and loss,
 * then the groups' sums and the total. Backward: one elementwise pass over the inputs wanted, each element's gradient
 * the sum, in item order, of the items' gradients at it (gradients accumulated in the kernel, not by the autograd).
 */

const f32Bits = new Uint32Array(1), f32View = new Float32Array(f32Bits.buffer);
/** an f32 constant in WGSL, bit for bit (∞ included) */
function f32Literal(v: number): string {
  f32View[0] = v;
  return `bitcast<f32>(${f32Bits[0]}u)`;
}

interface TotalLayout {
  /** the distinct storages read, in binding order */
  storages: Storage[];
  items: { kind: RowLoss['kind']; weighted: boolean; rows: number; n: number; chunks: number; chunkLen: number; base: number; first: number;
    c0: string; c1: string; operands: ({ binding: number; at: number; rowStride: number; input: number; offset: number } | null)[] }[];
  workgroups: number;
  key: string;
}

function totalLayout(total: LossTotal): TotalLayout {
  const storages: Storage[] = [];
  let base = 0, first = 0;
  const items = total.items.map((item) => {
    const { chunks, chunkLen } = channelChunks(item.rows, item.n);
    const operands = item.operands.map((o) => {
      if (!o) return null;
      const input = total.inputs[o.input];
      let binding = storages.indexOf(input.storage);
      if (binding < 0) binding = storages.push(input.storage) - 1;
      return { binding, at: input.offset + o.offset, rowStride: o.rowStride, input: o.input, offset: o.offset };
    });
    const c0 = item.loss.kind === 'dice' ? item.loss.smooth : item.loss.scale, c1 = item.loss.kind === 'mse' ? item.loss.eps : 0;
    const out = { kind: item.loss.kind, weighted: operands[2] !== null, rows: item.rows, n: item.n, chunks, chunkLen, base, first, c0: f32Literal(c0), c1: f32Literal(c1), operands };
    base += item.rows * chunks;
    first += item.rows;
    return out;
  });
  const key = `${items.map((i) => `${i.kind}${i.weighted ? 'w' : ''}:${i.rows}x${i.n}/${i.chunks}x${i.chunkLen}:${i.c0},${i.c1}:${i.operands.map((o) => (o ? `${o.binding}@${o.at}+${o.rowStride}` : '-')).join(',')}`).join(';')}|${total.group.join(',')}|${total.groupWeights.length}`;
  return { storages, items, workgroups: base, key };
}

/** the KINDS source of an item, its constants in place of the parameters */
const withConstants = (source: string, item: TotalLayout['items'][number]) => source.replaceAll('P.c0', item.c0).replaceAll('P.c1', item.c1);

/** WGSL lets va, vb, vw of an item at row r, element i */
function itemLoads(item: TotalLayout['items'][number]): string {
  const [a, b, w] = item.operands.map((o) => o && `in${o.binding}[${o.at}u + r * ${o.rowStride}u + i]`);
  return `let va = ${a!};\n  let vb = ${b!};\n  let vw = ${w ?? '1.0'};`;
}

const readBindings = (layout: TotalLayout) => layout.storages.map((_, b) => `@group(0) @binding(${b}) var<storage, read> in${b}: array<f32>;`);
const totalParams = (entries: number) => `struct Params { w: array<vec4f, ${Math.max(1, Math.ceil(entries / 4))}>, zero: vec4f }
fn weighted(j: u32, x: f32) -> f32 {
  let w = P.w[j >> 2u][j & 3u];
  if (w == 1.0) { return x; }
  return w * x + P.zero.x;
}`;

/** pass 1: workgroup w → (item, row, chunk): the chunk's partial sums */
function totalPartialSource(layout: TotalLayout): string {
  const reads = readBindings(layout);
  const terms = layout.items.map((item, k) => `fn term${k}(r: u32, i: u32) -> vec3f {
  ${itemLoads(item)}
  return ${KINDS[item.kind].terms};
}`);
  const walks = layout.items.map((item, k) => `if (w >= ${item.base}u && w < ${item.base + item.rows * item.chunks}u) {
    let l = w - ${item.base}u;
    let r = l / ${item.chunks}u;
    let chunk = l % ${item.chunks}u;
    let end = min(${item.n}u, (chunk + 1u) * ${item.chunkLen}u);
    var i = chunk * ${item.chunkLen}u + t;
    while (i + ${3 * WG}u < end) {
      acc += (term${k}(r, i) + term${k}(r, i + ${WG}u)) + (term${k}(r, i + ${2 * WG}u) + term${k}(r, i + ${3 * WG}u));
      i += ${4 * WG}u;
    }
    for (; i < end; i += ${WG}u) { acc += term${k}(r, i); }
  }`);
  return /* wgsl */ `
${reads.join('\n')}
@group(0) @binding(${reads.length}) var<storage, read_write> part: array<vec4f>;
${HELPERS}
${terms.join('\n')}
var<workgroup> sh: array<vec3f, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  let t = lid.x;
  var acc = vec3f();
  ${walks.join(' else ')}
  sh[t] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (t < h) { sh[t] += sh[t + h]; }
    workgroupBarrier();
  }
  if (t == 0u && w < ${layout.workgroups}u) { part[w] = vec4f(sh[0], 0.0); }
}`;
}

/** pass 2, one workgroup: each row's chunks → its sums and loss; then the groups' sums and the total (thread 0) */
function totalFinishSource(layout: TotalLayout, group: readonly number[], groups: number): string {
  const rows = layout.items.flatMap((item) => Array.from({ length: item.rows }, (_, r) => ({ item, r, j: item.first + r })));
  const perRow = rows.map(({ item, r, j }) => `acc = vec3f();
  for (var c = t; c < ${item.chunks}u; c += ${WG}u) { acc += part[${item.base + r * item.chunks}u + c].xyz; }
  sh[t] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (t < h) { sh[t] += sh[t + h]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    let s = sh[0];
    sums[${3 * j}u] = s.x;
    sums[${3 * j + 1}u] = s.y;
    sums[${3 * j + 2}u] = s.z;
    losses[${j}] = ${withConstants(KINDS[item.kind].finish(item.weighted), item)};
    values[${j}u] = losses[${j}];
  }
  workgroupBarrier();`);
  const chain = (acc: string, parts: readonly string[]) => [`var ${acc} = ${parts[0]};`, ...parts.slice(1).map((x) => `${acc} = ${acc} + ${x};`)];
  const sumsOfGroups = Array.from({ length: groups }, (_, g) => [...chain(`g${g}`, group.flatMap((k, j) => (k === g ? [`weighted(${j}u, losses[${j}])`] : []))),
    `values[${rows.length + g}u] = g${g};`]).flat();
  const totalSum = [...chain('total', Array.from({ length: groups }, (_, g) => `weighted(${rows.length + g}u, g${g})`)), `values[${rows.length + groups}u] = total;`];
  return /* wgsl */ `
${totalParams(rows.length + groups)}
@group(0) @binding(0) var<storage, read> part: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;
var<workgroup> sh: array<vec3f, ${WG}>;
var<workgroup> losses: array<f32, ${rows.length}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u) {
  let t = lid.x;
  var acc = vec3f();
  ${perRow.join('\n  ')}
  if (t == 0u) {
    ${[...sumsOfGroups, ...totalSum].join('\n    ')}
  }
}`;
}

function totalWeights(total: LossTotal): ArrayBuffer {
  const all = [...total.weights, ...total.groupWeights];
  return new Params().f32(...all, ...new Array<number>(4 * Math.max(1, Math.ceil(all.length / 4)) - all.length + 4).fill(0)).done();
}

/** a backward dispatch: the inputs whose gradients it writes, the storages it binds (layout indices), its kernel's key */
interface BackwardPass { inputs: number[]; bindings: number[]; key: string }

/** what a layout's dispatches need beyond it, made once per layout (its key): the kernels' keys, the backward's passes */
interface TotalPlan { partialKey: string; finishKey: string; passes: Map<string, BackwardPass[]> }
const plans = new Map<string, TotalPlan>();

function planOf(layout: TotalLayout): TotalPlan {
  let plan = plans.get(layout.key);
  if (!plan) {
    if (plans.size >= 64) plans.clear();
    plan = { partialKey: `loss:total:partial:${layout.key}`, finishKey: `loss:total:finish:${layout.key}`, passes: new Map() };
    plans.set(layout.key, plan);
  }
  return plan;
}

/** a checked LossTotal's rows, layout, plan and weights' parameter block */
interface PreparedTotal { rows: number; layout: TotalLayout; plan: TotalPlan; weights: ArrayBuffer }

/**
 * lossTotal's checks, layout, plan and parameters of each LossTotal object, for its backward: the autograd hands the
 * forward's object (never changed after) to lossTotalBackward, which then checks only its own arguments.
 */
const preparedTotals = new WeakMap<LossTotal, PreparedTotal>();

/** a signature that passed the checks, and what they and totalLayout gave for it (all but the storages) */
interface KnownSignature { signature: number[]; rows: number; layout: Omit<TotalLayout, 'storages'>; plan: TotalPlan; next: KnownSignature | null }
const knownSignatures = new Map<number, KnownSignature>();
let knownSignatureCount = 0;
const KINDS_CODE: Record<string, number> = { dice: 0, bce: 1, mse: 2, l1: 3 };
const DTYPE_CODE: Record<string, number> = { float32: 0, int32: 1, float64: 2 };

/**
 * Every number that checkLossTotal and totalLayout read, all but the weights' values (λ(t) changes them every step;
 * they are checked each call): the counts, each input's offset, length, storage length and dtype, each item's kind,
 * constants, rows, n and operands, each operand's storage binding (in totalLayout's order), the groups. Equal
 * signatures (Object.is on every number) give the same checks and layout. `storages` receives the distinct storages the
 * operands read, in binding order. Null when something is not as the checks expect (they then say what).
 */
function signatureOf(total: LossTotal, storages: Storage[]): number[] | null {
  const { inputs, items, group } = total;
  const words = [inputs.length, items.length, group.length, total.weights.length, total.groupWeights.length];
  for (const t of inputs) {
    const dtype = DTYPE_CODE[t.storage.dtype];
    if (dtype === undefined) return null;
    words.push(t.offset, t.length, t.storage.length, dtype);
  }
  for (const item of items) {
    const loss = item.loss, kind = KINDS_CODE[loss.kind];
    if (kind === undefined || item.operands.length !== 3) return null;
    words.push(kind, loss.kind === 'dice' ? loss.smooth : loss.scale, loss.kind === 'mse' ? loss.eps : 0, item.rows, item.n);
    for (const o of item.operands) {
      if (!o) { words.push(-1); continue; }
      const input = inputs[o.input];
      if (!input) return null;
      let binding = storages.indexOf(input.storage);
      if (binding < 0) binding = storages.push(input.storage) - 1;
      words.push(binding, o.input, o.offset, o.rowStride);
    }
  }
  for (const k of group) words.push(k);
  return words;
}

function sameSignature(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * checkLossTotal, totalLayout and planOf of `total`, or of an earlier LossTotal with the same signature (a training
 * loop's losses differ in their storages and weights only): these took about 45 µs of each DBiSL step's host time.
 */
function prepare(what: string, total: LossTotal): PreparedTotal {
  const storages: Storage[] = [];
  const signature = signatureOf(total, storages);
  const hash = signature ? mixNumbers(0, signature) & SMI_MASK : 0;
  let known = signature ? knownSignatures.get(hash) : undefined;
  while (known && !sameSignature(known.signature, signature!)) known = known.next ?? undefined;
  let prepared: PreparedTotal;
  if (known) {
    if (!total.weights.every(Number.isFinite) || !total.groupWeights.every(Number.isFinite)) throw new Error(`${what}: the weights must be finite`);
    prepared = { rows: known.rows, layout: { ...known.layout, storages }, plan: known.plan, weights: totalWeights(total) };
  } else {
    const { rows, dtype } = checkLossTotal(what, total);
    wgslType(dtype);
    const layout = totalLayout(total);
    prepared = { rows, layout, plan: planOf(layout), weights: totalWeights(total) };
    if (signature) {
      if (knownSignatureCount >= 64) { knownSignatures.clear(); knownSignatureCount = 0; }
      // not the storages: the cache keeps no storage alive
      const structure = { items: layout.items, workgroups: layout.workgroups, key: layout.key };
      knownSignatures.set(hash, { signature, rows, layout: structure, plan: prepared.plan, next: knownSignatures.get(hash) ?? null });
      knownSignatureCount++;
    }
  }
  preparedTotals.set(total, prepared);
  return prepared;
}

export function lossTotal(rt: GpuRuntime, total: LossTotal): { values: GpuStorage; sums: GpuStorage } {
  const { rows, layout, plan, weights } = prepare('lossTotal', total);
  if (layout.storages.length + 1 > rt.limits.maxStorageBuffersPerShaderStage) {
    throw new Error(`lossTotal: ${layout.storages.length} storages to read exceed the device's ${rt.limits.maxStorageBuffersPerShaderStage} storage buffers per stage`);
  }
  const out = { values: rt.alloc(rows + total.groupWeights.length + 1, 'float32'), sums: rt.alloc(3 * rows, 'float32') };
  const part = rt.alloc(4 * Math.max(1, layout.workgroups), 'float32');
  const partial = rt.kernel(plan.partialKey, () => totalPartialSource(layout), layout.storages.length + 1);
  rt.dispatch(partial, [...layout.storages.map(gpuBuffer), part.buffer], null, grid1d(layout.workgroups, 1));
  const finish = rt.kernel(plan.finishKey, () => totalFinishSource(layout, total.group, total.groupWeights.length), 3);
  rt.dispatch(finish, [part.buffer, out.sums.buffer, out.values.buffer], weights, [1]);
  rt.free(part);
  return out;
}

/** the backward pass writing the gradients of `inputs` (indices into total.inputs) */
function totalBackwardSource(layout: TotalLayout, total: LossTotal, inputs: readonly number[]): string {
  const reads = readBindings(layout), rows = total.weights.length;
  const grads = inputs.map((input, q) => {
    const contributions = layout.items.flatMap((item, k) => item.operands.flatMap((o, j) => {
      if (!o || o.input !== input || total.group.slice(item.first, item.first + item.rows).every((g) => g < 0)) return [];
      const prelude = withConstants(KINDS[item.kind].prelude(item.weighted), item), gradient = withConstants(KINDS[item.kind].gradients(item.weighted)[j], item);
      const rowOf = o.rowStride === 0 ? '0u' : `rel / ${o.rowStride}u`;
      return [`if (e >= ${o.offset}u) { // item ${k}, operand ${j}
      let rel = e - ${o.offset}u;
      let r = ${rowOf};
      let i = rel - r * ${o.rowStride}u;
      let row = ${item.first}u + r;
      if (r < ${item.rows}u && i < ${item.n}u && groupOf[row] >= 0) {
        ${itemLoads(item)}
        let s = vec3f(sums[3u * row], sums[3u * row + 1u], sums[3u * row + 2u]);
        let gr = weighted(row, weighted(${rows}u + u32(groupOf[row]), g[0]));
        ${prelude}
        acc += ${gradient};
      }
    }`];
    }));
    return `if (e < ${total.inputs[input].length}u) {
    var acc = 0.0;
    ${contributions.join('\n    ')}
    grad${q}[e] = acc;
  }`;
  });
  const lengths = inputs.map((i) => total.inputs[i].length);
  return /* wgsl */ `
${totalParams(rows + total.groupWeights.length)}
${reads.join('\n')}
@group(0) @binding(${reads.length}) var<storage, read> sums: array<f32>;
@group(0) @binding(${reads.length + 1}) var<storage, read> g: array<f32>;
${inputs.map((_, q) => `@group(0) @binding(${reads.length + 2 + q}) var<storage, read_write> grad${q}: array<f32>;`).join('\n')}
@group(0) @binding(${reads.length + 2 + inputs.length}) var<uniform> P: Params;
${HELPERS}
const groupOf = array<i32, ${rows}>(${total.group.join(', ')});

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = ${wgslFlatIndex(WG)};
  if (e >= ${Math.max(...lengths)}u) { return; }
  ${grads.join('\n  ')}
}`;
}

/**
 * lossTotalBackward's dispatches: the wanted inputs in order, packed while a dispatch's bindings fit `limit` storage
 * buffers: the storages its gradients' items read (`bindings`, indices into the layout's storages), the sums, g and
 * its gradients.
 */
export function backwardPasses(total: LossTotal, inputs: readonly number[], limit: number): { inputs: number[]; bindings: number[] }[] {
  return passesOf(totalLayout(total), total.group, inputs, limit).map(({ inputs: written, bindings }) => ({ inputs: written, bindings }));
}

function passesOf(layout: TotalLayout, group: readonly number[], inputs: readonly number[], limit: number): BackwardPass[] {
  const readBy = (input: number) => new Set(layout.items.flatMap((item) => (item.operands.some((o) => o?.input === input)
    && group.slice(item.first, item.first + item.rows).some((g) => g >= 0) ? item.operands.flatMap((o) => (o ? [o.binding] : [])) : [])));
  const passes: BackwardPass[] = [];
  for (const input of inputs) {
    const own = readBy(input), last = passes.at(-1);
    const fits = (p: BackwardPass) => new Set([...p.bindings, ...own]).size + 2 + p.inputs.length + 1 <= limit;
    if (last && fits(last)) {
      last.inputs.push(input);
      last.bindings = [...new Set([...last.bindings, ...own])].sort((x, y) => x - y);
    } else {
      if (own.size + 3 > limit) throw new Error(`lossTotalBackward: the gradient of input ${input} reads ${own.size} storages, more than the device's ${limit} storage buffers per stage allow`);
      passes.push({ inputs: [input], bindings: [...own].sort((x, y) => x - y), key: '' });
    }
  }
  for (const pass of passes) pass.key = `loss:total:backward:${pass.inputs.join(',')}:${pass.bindings.join(',')}:${layout.key}`;
  return passes;
}

export function lossTotalBackward(rt: GpuRuntime, total: LossTotal, sums: Storage, g: Storage, wanted: readonly boolean[]): GpuStorage[] {
  const { rows, layout, plan, weights } = preparedTotals.get(total) ?? prepare('lossTotalBackward', total);
  checkLossTotalGradients(total, rows, sums, g, wanted);
  wgslType(g.dtype);
  const limit = rt.limits.maxStorageBuffersPerShaderStage;
  const inputs = wanted.flatMap((want, i) => (want ? [i] : []));
  const passesKey = `${limit}:${inputs.join(',')}`;
  let passes = plan.passes.get(passesKey);
  if (!passes) plan.passes.set(passesKey, passes = passesOf(layout, total.group, inputs, limit));
  const grads = new Map(inputs.map((i) => [i, rt.alloc(total.inputs[i].length, 'float32')]));
  for (const pass of passes) {
    const length = Math.max(...pass.inputs.map((i) => total.inputs[i].length));
    if (length === 0) continue;
    // the pass's storages bound in order: the items' operands renumbered into them
    const kernel = rt.kernel(pass.key, () => totalBackwardSource({ ...layout, storages: pass.bindings.map((b) => layout.storages[b]),
      items: layout.items.map((item) => ({ ...item, operands: item.operands.map((o) => o && { ...o, binding: pass.bindings.indexOf(o.binding) }) })) },
    total, pass.inputs), pass.bindings.length + 2 + pass.inputs.length);
    rt.dispatch(kernel, [...pass.bindings.map((b) => gpuBuffer(layout.storages[b])), gpuBuffer(sums), gpuBuffer(g), ...pass.inputs.map((i) => grads.get(i)!.buffer)],
      weights, grid1d(length, WG));
  }
  return [...grads.values()];
}

// ------------------------------------------------------------------------------------------ benchmarks

/** the weighted Dice of DBiSL's L_pse and the pair of Dice losses of its supervision, forward and backward */
function lossBench(name: string, loss: RowLoss, rows: number, n: number, weighted: boolean, shared: boolean, large: boolean): KernelBenchmark {
  const reads = weighted ? 3 : 2;
  return {
    group: 'loss', name, flops: 20 * rows * n, bytes: 4 * rows * n * (2 * reads + 1), large,
    setup(backend: Backend) {
      const a = backend.fill(rows * n, 0.25, 'float32'), b = backend.fill(shared ? n : rows * n, 1, 'float32');
      const w = weighted ? backend.fill(rows * n, 0.5, 'float32') : null;
      const inputs: RowLossInputs = {
        rows, n, operands: [{ storage: a, offset: 0, rowStride: n }, { storage: b, offset: 0, rowStride: shared ? 0 : n },
          w && { storage: w, offset: 0, rowStride: n }],
      };
      const g = backend.fill(rows, 1, 'float32');
      return {
        run() {
          const f = backend.rowLoss(loss, inputs);
          const grads = backend.rowLossBackward(loss, inputs, f.sums, g, [true, false, false]);
          for (const s of [f.loss, f.sums, ...grads]) backend.free(s);
        },
        dispose() { for (const s of [a, b, w, g]) if (s) backend.free(s); },
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  lossBench('dice weighted [1, 2·32³]', { kind: 'dice', smooth: 1e-5 }, 1, 2 * 32 ** 3, true, false, false),
  lossBench('dice pair, shared label [2, 32³]', { kind: 'dice', smooth: 1e-5 }, 2, 32 ** 3, false, true, false),
  lossBench('dice weighted [1, 2·112·112·80]', { kind: 'dice', smooth: 1e-5 }, 1, 2 * 112 * 112 * 80, true, false, true),
  lossBench('bce [1, 2·112·112·80]', { kind: 'bce', scale: 1 / (2 * 112 * 112 * 80) }, 1, 2 * 112 * 112 * 80, false, false, true),
];
