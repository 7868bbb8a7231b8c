import type { ConvGeometry } from '../geometry.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { grid1d } from '../webgpu/runtime.js';
import {
  bankWays, cachedTiles, epilogueBindings, kernelBuffers, epilogueChannel, epilogueDeclarations, epilogueKey, epilogueStore, limitsOf, maxSplitParts,
  noEpilogue, withSplitK, type Conv3dPlan, type Epilogue, type Limits, type PlanContext, type SplitOutput,
} from './plan.js';

/**
 * The direct (halo-tiled) implicit-GEMM convolution kernel, used for conv3d's forward and, one dispatch per
 * stride phase, for its gradient w.r.t. the input.
 *
 * GEMM view: M = output voxels, N = output channels, K = input channels × taps. A workgroup owns a block of
 * BD×BH×BW output voxels of one sample and BN = TN·CG output channels. Instead of gathering the im2col
 * matrix (27 loads per input voxel for a 3³ kernel), each K chunk of CC input channels stages the block's
 * input *halo* (the input box every output voxel of the block reads, zero outside the volume) and the CC×taps×BN
 * weights in workgroup memory; the im2col row of output voxel v for tap t is then the halo element at a fixed
 * offset, hb(v) + off(t). So the gather costs about one global load per input voxel per chunk (≈2× for a 3³
 * kernel on 1024-voxel blocks) and the inner loop is pure workgroup-memory reads and FMAs.
 *
 * Register blocking: every invocation accumulates TM voxels × TN channels (TN/4 vec4 accumulators per voxel).
 * Its voxels are interleaved (v = tv + i·VT) so that neighbouring lanes read neighbouring halo words (no bank
 * conflicts for stride 1) and write neighbouring output words; its channels are contiguous so that the
 * weights are read as vec4 broadcasts (every lane of a warp shares them). Per (channel, tap) an invocation
 * does TM + TN/4 workgroup loads for TM·TN FMAs. The w-axis taps are unrolled, the d/h taps and channels
 * loop.
 *
 * Every size, tap offset and stride is a WGSL constant (the pipeline is specialised per shape), so the
 * index arithmetic of the staging loops divides by constants only. Each axis is described by a list of taps
 * in arithmetic progression (weight index w0 + q·wStep, input offset off0 + q·offStep relative to the
 * voxel's origin o·inStride + inBase), which expresses both the forward (taps 0…k−1 at q·dil) and a stride
 * phase of the input gradient (only the taps that hit that phase, at offsets (r + p − t·dil)/s).
 *
 * Split-K: when the grid has few workgroups (deep layers: 7×7×5 voxels, 256 channels), grid z also splits
 * the input channels; each split writes its own copy of the output and a small pass sums them (and applies
 * the epilogue: the bias, an evaluation-mode batch norm, a ReLU; without splits the store applies it).
 */

export interface DirectAxis {
  /** size of the grid of output voxels this dispatch computes along the axis */
  out: number;
  /** where grid coordinate o lands in the output tensor: o·outStride + outPhase, of outFull */
  outStride: number;
  outPhase: number;
  outFull: number;
  /** input extent along the axis, and the origin o·inStride + inBase of voxel o's receptive field */
  inSize: number;
  inStride: number;
  inBase: number;
  /** taps along the axis: weight index w0 + q·wStep and input offset off0 + q·offStep, q < taps */
  taps: number;
  w0: number;
  wStep: number;
  off0: number;
  offStep: number;
  /** kernel extent along this axis in the weight tensor */
  k: number;
}

export interface DirectProblem {
  n: number;
  /** channels read (conv input channels for the forward, output-gradient channels for backward-input) */
  cin: number;
  /** channels written */
  cout: number;
  axes: [DirectAxis, DirectAxis, DirectAxis];
  /** element strides of the weight tensor for a written channel and a read channel */
  wOut: number;
  wIn: number;
}

export interface DirectTiles {
  /** voxels per invocation */
  tm: number;
  /** channels per invocation (a multiple of 4) */
  tn: number;
  /** channel groups per workgroup: BN = tn·cg */
  cg: number;
  block: [number, number, number];
  /** input channels staged per K chunk */
  cc: number;
  /** K splits (grid z); > 1 writes partial outputs summed by a second pass */
  splits: number;
  /** input channels per split (a multiple of cc) */
  perSplit: number;
}

export interface DirectLayout {
  bv: number;
  vt: number;
  threads: number;
  halo: [number, number, number];
  minOff: [number, number, number];
  nb: [number, number, number];
  blocks: number;
  coTiles: number;
  taps: number;
  sharedBytes: number;
}

export function directLayout(p: DirectProblem, t: DirectTiles): DirectLayout {
  const bv = t.block[0] * t.block[1] * t.block[2];
  const vt = Math.ceil(bv / t.tm);
  const minOff = p.axes.map((a) => (a.taps === 0 ? 0 : Math.min(a.off0, a.off0 + (a.taps - 1) * a.offStep))) as [number, number, number];
  const halo = p.axes.map((a, i) => (a.taps === 0 ? 0 : (t.block[i] - 1) * a.inStride + Math.abs(a.offStep) * (a.taps - 1) + 1)) as [number, number, number];
  const nb = p.axes.map((a, i) => Math.ceil(a.out / t.block[i])) as [number, number, number];
  const taps = p.axes[0].taps * p.axes[1].taps * p.axes[2].taps;
  const bn = t.tn * t.cg;
  const sharedBytes = taps === 0 ? 0 : 4 * t.cc * (halo[0] * halo[1] * halo[2] + taps * bn);
  return {
    bv, vt, threads: vt * t.cg, halo, minOff, nb, blocks: p.n * nb[0] * nb[1] * nb[2],
    coTiles: Math.ceil(p.cout / bn), taps, sharedBytes,
  };
}

/** WGSL source of one direct convolution pipeline applying `epilogue` in its store (split-K: the summing pass
 * applies it). Bindings: x, w, [the epilogue's], out. */
export function directSource(p: DirectProblem, t: DirectTiles, epilogue: Epilogue): string {
  const L = directLayout(p, t);
  const [ad, ah, aw] = p.axes;
  const [BD, BH, BW] = t.block;
  const [ED, EH, EW] = L.halo;
  const HALO = ED * EH * EW;
  const TN4 = t.tn / 4, BN = t.tn * t.cg, BN4 = BN / 4;
  const e = t.splits === 1 ? epilogue : noEpilogue;
  const outVox = ad.outFull * ah.outFull * aw.outFull;
  const inVox = ad.inSize * ah.inSize * aw.inSize;
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };

  emit(`@group(0) @binding(0) var<storage, read> X: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> Wt: array<f32>;`);
  for (const d of epilogueDeclarations(e, 2)) emit(d);
  emit(`@group(0) @binding(${2 + epilogueBindings(e)}) var<storage, read_write> Y: array<f32>;`);
  if (L.taps > 0) {
    emit(`var<workgroup> xs: array<f32, ${t.cc * HALO}>;`);
    emit(`var<workgroup> ws: array<vec4<f32>, ${t.cc * L.taps * BN4}>;`);
  }
  emit(`@compute @workgroup_size(${L.threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let blk = wg.x + wg.y * nwg.x;`);
  emit(`  if (blk >= ${L.blocks}u) { return; }`);
  emit(`  let bw = blk % ${L.nb[2]}u; let bh = (blk / ${L.nb[2]}u) % ${L.nb[1]}u;`);
  emit(`  let bd = (blk / ${L.nb[2] * L.nb[1]}u) % ${L.nb[0]}u; let n = blk / ${L.nb[2] * L.nb[1] * L.nb[0]}u;`);
  emit(`  let coTile = wg.z % ${L.coTiles}u; let split = wg.z / ${L.coTiles}u;`);
  emit(`  let coBase = coTile * ${BN}u;`);
  emit(`  let tv = tid % ${L.vt}u; let cg = tid / ${L.vt}u;`);
  // per-voxel precomputation: halo base address, validity, output address
  for (let i = 0; i < t.tm; i++) {
    emit(`  let v${i} = tv + ${i * L.vt}u;`);
    emit(`  let vd${i} = v${i} / ${BH * BW}u; let vh${i} = (v${i} / ${BW}u) % ${BH}u; let vw${i} = v${i} % ${BW}u;`);
    emit(`  let od${i} = bd * ${BD}u + vd${i}; let oh${i} = bh * ${BH}u + vh${i}; let ow${i} = bw * ${BW}u + vw${i};`);
    emit(`  let ok${i} = v${i} < ${L.bv}u && od${i} < ${ad.out}u && oh${i} < ${ah.out}u && ow${i} < ${aw.out}u;`);
    emit(`  let ob${i} = ((od${i} * ${ad.outStride}u + ${ad.outPhase}u) * ${ah.outFull}u + oh${i} * ${ah.outStride}u + ${ah.outPhase}u) * ${aw.outFull}u + ow${i} * ${aw.outStride}u + ${aw.outPhase}u;`);
    if (L.taps > 0) {
      emit(`  let hb${i} = select(0u, (vd${i} * ${ad.inStride * EH}u + vh${i} * ${ah.inStride}u) * ${EW}u + vw${i} * ${aw.inStride}u, v${i} < ${L.bv}u);`);
    }
    for (let j = 0; j < TN4; j++) emit(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  }
  if (L.taps > 0) {
    const perSplit = t.perSplit;
    // halo origin in input coordinates
    emit(`  let orgD = i32(bd * ${BD * ad.inStride}u) + ${ad.inBase + L.minOff[0]};`);
    emit(`  let orgH = i32(bh * ${BH * ah.inStride}u) + ${ah.inBase + L.minOff[1]};`);
    emit(`  let orgW = i32(bw * ${BW * aw.inStride}u) + ${aw.inBase + L.minOff[2]};`);
    emit(`  let ciStart = split * ${perSplit}u;`);
    emit(`  let ciEnd = min(${p.cin}u, ciStart + ${perSplit}u);`);
    emit(`  let xn = n * ${p.cin * inVox}u;`);
    emit(`  for (var c0 = ciStart; c0 < ciEnd; c0 += ${t.cc}u) {`);
    // stage the input halo
    emit(`    for (var e = tid; e < ${t.cc * HALO}u; e += ${L.threads}u) {`);
    emit(`      let cl = e / ${HALO}u; let r = e % ${HALO}u;`);
    emit(`      let id = orgD + i32(r / ${EH * EW}u); let ih = orgH + i32((r / ${EW}u) % ${EH}u); let iw = orgW + i32(r % ${EW}u);`);
    emit(`      let ci = c0 + cl;`);
    emit(`      var val = 0.0;`);
    emit(`      if (ci < ciEnd && u32(id) < ${ad.inSize}u && u32(ih) < ${ah.inSize}u && u32(iw) < ${aw.inSize}u) {`);
    emit(`        val = X[xn + ci * ${inVox}u + (u32(id) * ${ah.inSize}u + u32(ih)) * ${aw.inSize}u + u32(iw)];`);
    emit(`      }`);
    emit(`      xs[e] = val;`);
    emit(`    }`);
    // stage the weights: ws[(cl·T + tap)·BN4 + col4] holds 4 consecutive written channels
    const T = L.taps, NTH = ah.taps, NTW = aw.taps;
    emit(`    for (var e = tid; e < ${t.cc * T * BN4}u; e += ${L.threads}u) {`);
    emit(`      let col4 = e % ${BN4}u; let rt = e / ${BN4}u; let tap = rt % ${T}u; let cl = rt / ${T}u;`);
    emit(`      let td = tap / ${NTH * NTW}u; let th = (tap / ${NTW}u) % ${NTH}u; let tw = tap % ${NTW}u;`);
    emit(`      let widx = (${ad.w0} + i32(td) * ${ad.wStep}) * ${ah.k * aw.k} + (${ah.w0} + i32(th) * ${ah.wStep}) * ${aw.k} + ${aw.w0} + i32(tw) * ${aw.wStep};`);
    emit(`      let ci = c0 + cl;`);
    emit(`      var val = vec4<f32>(0.0);`);
    emit(`      if (ci < ciEnd) {`);
    emit(`        let co = coBase + col4 * 4u;`);
    emit(`        let wb = ci * ${p.wIn}u + u32(widx);`);
    for (let c = 0; c < 4; c++) {
      emit(`        if (co + ${c}u < ${p.cout}u) { val[${c}] = Wt[(co + ${c}u) * ${p.wOut}u + wb]; }`);
    }
    emit(`      }`);
    emit(`      ws[e] = val;`);
    emit(`    }`);
    emit(`    workgroupBarrier();`);
    // compute
    const relD = ad.off0 - L.minOff[0], relH = ah.off0 - L.minOff[1], relW = aw.off0 - L.minOff[2];
    emit(`    let ccN = min(${t.cc}u, ciEnd - c0);`);
    emit(`    for (var cl = 0u; cl < ccN; cl++) {`);
    emit(`      for (var td = 0u; td < ${ad.taps}u; td++) {`);
    emit(`        let rowD = cl * ${HALO}u + u32(${relD} + i32(td) * ${ad.offStep}) * ${EH * EW}u;`);
    emit(`        for (var th = 0u; th < ${ah.taps}u; th++) {`);
    emit(`          let row = rowD + u32(${relH} + i32(th) * ${ah.offStep}) * ${EW}u;`);
    emit(`          let wrow = ((cl * ${ad.taps}u + td) * ${ah.taps}u + th) * ${aw.taps * BN4}u + cg * ${TN4}u;`);
    for (let tw = 0; tw < aw.taps; tw++) {
      const off = relW + tw * aw.offStep;
      for (let j = 0; j < TN4; j++) emit(`          let w${tw}_${j} = ws[wrow + ${tw * BN4 + j}u];`);
      for (let i = 0; i < t.tm; i++) {
        emit(`          let x${tw}_${i} = xs[hb${i} + row + ${off}u];`);
        for (let j = 0; j < TN4; j++) emit(`          acc${i}_${j} += x${tw}_${i} * w${tw}_${j};`);
      }
    }
    emit(`        }`);
    emit(`      }`);
    emit(`    }`);
    emit(`    workgroupBarrier();`);
    emit(`  }`);
  }
  if (L.taps === 0) emit(`  _ = X[0]; _ = Wt[0];`); // no tap reaches this phase: zeros, but keep the bindings
  // write out
  const partOff = t.splits > 1 ? `split * ${p.n * p.cout * outVox}u + ` : '';
  for (let j = 0; j < TN4; j++) {
    for (let c = 0; c < 4; c++) {
      const col = `coBase + cg * ${t.tn}u + ${4 * j + c}u`;
      emit(`  { let co = ${col};`);
      emit(`    if (co < ${p.cout}u) {`);
      emit(`      let cb = ${partOff}(n * ${p.cout}u + co) * ${outVox}u;`);
      for (const line of epilogueChannel(e, 'co')) emit(`      ${line}`);
      for (let i = 0; i < t.tm; i++) {
        emit(`      if (ok${i}) { ${epilogueStore(e, `Y[cb + ob${i}]`, `acc${i}_${j}[${c}]`)} }`);
      }
      emit(`    }`);
      emit(`  }`);
    }
  }
  emit(`}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// tiles and plans

/** The cost model's channels per invocation for a direct problem writing `cout` channels. */
export const modelTn = (cout: number): number => (cout <= 4 ? 4 : cout <= 8 ? 8 : 16);

/** Per-thread tile (`tn` channels per invocation, default the model's) and the best block shape for a direct
 * problem (splits left at 1). */
function chooseDirect(p: DirectProblem, lim: Limits, maxChunkChannels: number, tn = modelTn(p.cout)): DirectTiles {
  const cg = Math.min(4, Math.ceil(p.cout / tn));
  const tm = tn === 16 ? 4 : 8;
  const bn = tn * cg;
  const bvMax = Math.floor(lim.threads / cg) * tm;
  const [ad, ah, aw] = p.axes;
  const taps = ad.taps * ah.taps * aw.taps;
  const base: DirectTiles = { tm, tn, cg, block: [1, 1, 1], cc: 1, splits: 1, perSplit: p.cin };
  let best: DirectTiles | null = null, bestCost = Infinity;
  for (let bw = 1; bw <= Math.min(aw.out, bvMax); bw++) {
    for (let bh = 1; bh <= Math.min(ah.out, Math.floor(bvMax / bw)); bh++) {
      for (let bd = 1; bd <= Math.min(ad.out, Math.floor(bvMax / (bw * bh))); bd++) {
        const t: DirectTiles = { ...base, block: [bd, bh, bw] };
        const L = directLayout(p, t);
        if (L.sharedBytes > lim.shared) continue;
        const warps = Math.ceil(L.threads / 32);
        // halo words the first warp reads for one tap (lane = voxel tv)
        const lanes: number[] = [];
        for (let v = 0; v < Math.min(32, L.vt); v++) {
          const vd = Math.floor(v / (bh * bw)), vh = Math.floor(v / bw) % bh, vw = v % bw;
          if (v < L.bv) lanes.push((vd * ad.inStride * L.halo[1] + vh * ah.inStride) * L.halo[2] + vw * aw.inStride);
        }
        const compute = warps * 32 * taps * (tm * bankWays(lanes) + tn / 4 + (tm * tn) / 4);
        const staging = 12 * (L.halo[0] * L.halo[1] * L.halo[2] + (taps * bn) / 4) + 400;
        const cost = L.blocks * (compute + staging + warps * 32 * tm);
        if (cost < bestCost || (cost === bestCost && best !== null && L.bv > directLayout(p, best).bv)) { best = t; bestCost = cost; }
      }
    }
  }
  if (!best) throw new Error(`webgpu conv3d: no tile of ${JSON.stringify(p.axes.map((a) => a.taps))} taps fits ${lim.shared} bytes of workgroup memory`);
  let cc = 1;
  while (cc < Math.min(maxChunkChannels, p.cin) && directLayout(p, { ...best, cc: cc + 1 }).sharedBytes <= lim.shared) cc++;
  return { ...best, cc, perSplit: Math.ceil(p.cin / cc) * cc };
}

/** Splits for a set of direct dispatches writing one output of `outLen` elements. */
function directSplits(ctx: PlanContext, problems: DirectProblem[], tiles: DirectTiles[], outLen: number): number {
  let wgs = 0, chunks = Infinity;
  problems.forEach((p, i) => {
    const L = directLayout(p, tiles[i]);
    wgs += L.blocks * L.coTiles;
    if (L.taps > 0) chunks = Math.min(chunks, Math.ceil(p.cin / tiles[i].cc));
  });
  if (!Number.isFinite(chunks)) return 1;
  const s = Math.min(chunks, Math.ceil(ctx.knobs.targetWorkgroups / Math.max(1, wgs)));
  return Math.max(1, Math.min(s, maxSplitParts(ctx, outLen), Math.floor(65535 / Math.max(1, ...tiles.map((t, i) => directLayout(problems[i], t).coTiles)))));
}

function withSplits(p: DirectProblem, t: DirectTiles, splits: number): DirectTiles {
  if (splits === 1) return { ...t, splits: 1, perSplit: Math.ceil(p.cin / t.cc) * t.cc };
  const perSplit = Math.ceil(Math.ceil(p.cin / t.cc) / splits) * t.cc;
  return { ...t, splits, perSplit };
}

/** The tiles (with a common split count) of direct problems that all write one output of `outLen` elements. */
function directTiles(ctx: PlanContext, problems: DirectProblem[], tn: number | undefined, outLen: number): DirectTiles[] {
  const lim = limitsOf(ctx.rt);
  if (tn !== undefined && ![4, 8, 16].includes(tn)) throw new Error(`webgpu conv3d: the direct kernel takes 4, 8 or 16 channels per invocation, not ${tn}`);
  const { maxChunkChannels } = ctx.knobs;
  const tiles = problems.map((p) => cachedTiles(`direct:${JSON.stringify(p)}:${JSON.stringify(lim)}:${maxChunkChannels}:${tn}`, () => chooseDirect(p, lim, maxChunkChannels, tn)));
  const splits = directSplits(ctx, problems, tiles, outLen);
  return problems.map((p, i) => withSplits(p, tiles[i], splits));
}

/** The stride phases of the input gradient along one axis: for each r < s, the taps that reach i ≡ r. */
function phaseAxis(g: ConvGeometry, a: number, r: number): DirectAxis {
  const s = g.s[a], p = g.p[a], dil = g.dil[a], k = g.k[a];
  const hits: number[] = [];
  for (let t = 0; t < k; t++) if ((((r + p - t * dil) % s) + s) % s === 0) hits.push(t);
  const out = r < g.in[a] ? Math.ceil((g.in[a] - r) / s) : 0;
  // hitting taps repeat with period s / gcd(s, dil); their offsets then step by −dil / gcd(s, dil)
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const step = s / gcd(s, dil);
  return {
    out, outStride: s, outPhase: r, outFull: g.in[a],
    inSize: g.out[a], inStride: 1, inBase: 0,
    taps: hits.length, w0: hits[0] ?? 0, wStep: step,
    off0: hits.length ? (r + p - hits[0] * dil) / s : 0, offStep: (-step * dil) / s, k,
  };
}

/** The direct problem of a forward. */
function forwardProblem(g: ConvGeometry): DirectProblem {
  const axes = [0, 1, 2].map((a): DirectAxis => ({
    out: g.out[a], outStride: 1, outPhase: 0, outFull: g.out[a],
    inSize: g.in[a], inStride: g.s[a], inBase: -g.p[a],
    taps: g.k[a], w0: 0, wStep: 1, off0: 0, offStep: g.dil[a], k: g.k[a],
  })) as [DirectAxis, DirectAxis, DirectAxis];
  const kv = g.k[0] * g.k[1] * g.k[2];
  return { n: g.n, cin: g.ci, cout: g.co, axes, wOut: g.ci * kv, wIn: kv };
}

/**
 * The direct problems of an input gradient, one per stride phase r ∈ [0, s)³ (gy → gx, weights transposed and
 * flipped): the input voxels i ≡ r (mod s) are reached by the same taps t (those with t·dil ≡ r + p mod s), from
 * gy at j + (r + p − t·dil)/s, so each phase is a dense stride-1 convolution over only the taps that hit (stride
 * 1: one phase, all taps, flipped).
 */
function phaseProblems(g: ConvGeometry): DirectProblem[] {
  const kv = g.k[0] * g.k[1] * g.k[2];
  const problems: DirectProblem[] = [];
  for (let rd = 0; rd < g.s[0]; rd++) {
    for (let rh = 0; rh < g.s[1]; rh++) {
      for (let rw = 0; rw < g.s[2]; rw++) {
        const axes = [phaseAxis(g, 0, rd), phaseAxis(g, 1, rh), phaseAxis(g, 2, rw)] as [DirectAxis, DirectAxis, DirectAxis];
        if (axes.some((a) => a.out === 0)) continue;
        problems.push({ n: g.n, cin: g.co, cout: g.ci, axes, wOut: kv, wIn: g.ci * kv });
      }
    }
  }
  return problems;
}

/** `operands`: the epilogue's (none with split-K) */
function runDirect(rt: GpuRuntime, key: string, p: DirectProblem, t: DirectTiles, e: Epilogue, x: GPUBuffer, w: GPUBuffer,
  operands: readonly GPUBuffer[], out: GPUBuffer): void {
  const L = directLayout(p, t);
  if (L.blocks === 0) return;
  const kernel = rt.kernel(key, () => directSource(p, t, e), 3 + operands.length);
  const [gx, gy] = grid1d(L.blocks, 1);
  rt.dispatch(kernel, kernelBuffers(x, w, operands, out), null, [gx, gy, L.coTiles * t.splits]);
}

/** The direct kernel's plan for a forward (one dispatch) or an input gradient (one per stride phase), `tn`
 * channels per invocation (default: the cost model's); split-K over the read channels plus a summing pass when
 * the grid would be too small to fill the GPU. */
export function directPlan(ctx: PlanContext, op: 'forward' | 'backwardInput', g: ConvGeometry, e: Epilogue, tn?: number): Conv3dPlan {
  const problems = op === 'forward' ? [forwardProblem(g)] : phaseProblems(g);
  const [channels, size] = op === 'forward' ? [g.co, g.out] : [g.ci, g.in];
  const inner = size[0] * size[1] * size[2];
  const o: SplitOutput = { len: g.n * channels * inner, inner, channels };
  const tiles = directTiles(ctx, problems, tn, o.len);
  const fused = tiles[0].splits === 1 ? epilogueKey(e) : '';
  const keys = problems.map((p, i) => `conv3d:direct:${JSON.stringify(p)}:${JSON.stringify(tiles[i])}${fused && `:${fused}`}`);
  return {
    describe: () => problems.map((q, i) => {
      const t = tiles[i], L = directLayout(q, t);
      return `direct: ${t.tm} vox × ${t.tn} ch per invocation, cg ${t.cg}, ${L.threads} invocations, block ${t.block.join('×')} halo ${L.halo.join('×')}, cc ${t.cc}, ${L.blocks * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`;
    }).join('\n'),
    run: (rt, src, w, operands, out) => withSplitK(rt, tiles[0].splits, o, out, e, operands,
      (dst, fused) => problems.forEach((p, i) => runDirect(rt, keys[i], p, tiles[i], e, src, w, fused, dst))),
  };
}
