import type { ConvGeometry } from '../geometry.js';
import { emitAccumulators, emitChannelMajorStore, emitConvGemmEntry, emitTileProduct } from './gemm-tile.js';
import { epilogueKey, kSplits, limitsOf, noEpilogue, runTiled, type Conv3dPlan, type Epilogue, type PlanContext } from './plan.js';

/**
 * The implicit-GEMM kernel for stride-1 convolutions (any kernel size, padding and dilation): conv3d's forward
 * and, by an index mapping, its gradient w.r.t. the input. Neither the im2col matrix nor a transposed weight
 * copy is materialised.
 *
 *   forward:         y[n, co, o] = bias[co] + Σ_{ci, t} x[n, ci, o − p + t·dil] · w[co, ci, t]
 *   input gradient:  gx[n, ci, i] = Σ_{co, t} gy[n, co, i + p − t·dil] · w[co, ci, t]
 *
 * (o, i: voxels, t: taps, all 3-vectors; reads outside the tensor read are zero). Both are one GEMM
 * C[m, c] = Σ_kk A[m, kk] · B[kk, c] over M = N·(voxels written), N = channels written, K = taps × channels
 * read, with A[m, (t, r)] = src[n, r, v(m) + base + t·step] gathered on the fly (zero outside src) and
 * B[(t, r), c] = w[c·wOut + r·wIn + t] read from w as stored: the forward reads x with base −p, step dil,
 * wIn = kd·kh·kw (ci), wOut = Ci·kd·kh·kw (co); the input gradient reads gy with base p, step −dil (the flipped
 * kernel), wIn = Ci·kd·kh·kw (co) and wOut = kd·kh·kw (ci) (the swapped channel axes).
 *
 * K is walked in chunks of `tg` consecutive taps × `cc` consecutive read channels (tap-major), BK = tg·cc:
 * wide layers take one tap and up to 16 channels per chunk, a layer with few channels several taps of all of
 * them (one input channel: 16 taps per chunk). For a tap the validity and the address of a gathered row
 * depend only on the row, so a loader does three compares and one add per (row, tap) and then one load per
 * channel, at a constant stride.
 *
 * Tiles: BM rows × BN columns per workgroup, T = (BM/TM)·(BN/TN) invocations, each TM × TN outputs
 * (TN/4 vec4 accumulators per row), BM a multiple of T: invocation tid gathers rows m0 + tid + q·T, and
 * neighbouring invocations neighbouring voxels, so every load of a warp reads one contiguous span of src (a
 * voxel row of it). A is staged in workgroup memory as [k][m] (one word per element, written by consecutive
 * invocations), B as [k][c/4] vec4 with a one-vec4 pad per k row (its loaders walk k fastest). Per k step an
 * invocation does TM scalar A loads (conflict-free, interleaved rows) and TN/4 broadcast vec4 B loads for
 * TM·TN FMAs. The output is written once, coalesced along the voxels of each channel, the epilogue (bias, an
 * evaluation-mode batch norm, ReLU) fused. Split-K (grid y = column tiles × splits) gives each split a range of
 * chunks and its own copy of the output; a second pass sums them and applies the epilogue. Grid x (and z past 65535) counts the row tiles.
 */

export interface GemmProblem {
  n: number;
  /** channels read (with the taps: the GEMM's K) */
  cin: number;
  /** channels written: the GEMM's N */
  cout: number;
  /** spatial size of the tensor read (x or gy) and of the tensor written (y or gx) */
  src: [number, number, number];
  dst: [number, number, number];
  k: [number, number, number];
  /** written voxel v reads src at v + base + t·step along each axis, tap t < k */
  base: [number, number, number];
  step: [number, number, number];
  /** element strides of w for a read channel and for a written channel */
  wIn: number;
  wOut: number;
  /** what the store applies (the sum pass with split-K) */
  epilogue: Epilogue;
}

/** A tile shape (what the tuner varies); the chunking and the splits follow from it and the problem. */
export interface GemmShape { bm: number; bn: number; bk: number; tm: number; tn: number }

export interface GemmTiles extends GemmShape {
  /** K splits; > 1 writes partial outputs summed by a second pass */
  splits: number;
  /** chunks per split */
  perSplit: number;
}

export interface GemmLayout {
  threads: number;
  /** read channels and taps per K chunk, and the chunk's depth BK = tg·cc */
  cc: number;
  tg: number;
  bk: number;
  ciChunks: number;
  /** K chunks: ⌈taps / tg⌉ · ⌈cin / cc⌉, tap-major */
  chunks: number;
  mTiles: number;
  coTiles: number;
  sharedBytes: number;
}

export function gemmLayout(p: GemmProblem, t: GemmShape): GemmLayout {
  const kv = p.k[0] * p.k[1] * p.k[2];
  const ciChunks = Math.ceil(p.cin / t.bk);
  const cc = Math.ceil(p.cin / ciChunks);
  const tg = Math.min(kv, Math.max(1, Math.floor(t.bk / cc)));
  const bk = tg * cc;
  const m = p.n * p.dst[0] * p.dst[1] * p.dst[2];
  return {
    threads: (t.bm / t.tm) * (t.bn / t.tn),
    cc, tg, bk, ciChunks,
    chunks: Math.ceil(kv / tg) * ciChunks,
    mTiles: Math.ceil(m / t.bm),
    coTiles: Math.ceil(p.cout / t.bn),
    sharedBytes: 4 * bk * t.bm + 16 * bk * (t.bn / 4 + 1),
  };
}

/** 128 rows × BN columns by the GEMM's columns (64, or 32/16 when fewer), BK 16, 128 invocations of TM × TN. */
export function baseTile(columns: number): GemmShape {
  const bn = columns >= 64 ? 64 : columns > 16 ? 32 : 16;
  const tn = bn === 16 ? 4 : 8;
  return { bm: 128, bn, bk: 16, tm: bn / tn, tn };
}

/** The same tile with 256 rows: TM doubled while the block per invocation stays within 8×8, else 256 invocations. */
export function tallTile(t: GemmShape): GemmShape {
  return { ...t, bm: 256, tm: t.tm * t.tn <= 32 ? 2 * t.tm : t.tm };
}

/** Whether a tile shape is well formed and fits the device (workgroup memory and invocations). */
export function gemmFits(t: GemmShape, sharedBytes: number, maxThreads: number, p: GemmProblem): boolean {
  const threads = (t.bm / t.tm) * (t.bn / t.tn);
  return t.tn % 4 === 0 && t.bn % t.tn === 0 && t.bm % t.tm === 0 && Number.isInteger(threads) && t.bm % threads === 0
    && threads <= maxThreads && gemmLayout(p, t).sharedBytes <= sharedBytes;
}

/**
 * The tile shapes worth trying for a problem, the default first: BN by the written channels (64, or 32/16
 * when fewer), 128 rows and 128 invocations; then 64×64 tiles of 64 invocations (more workgroups for deep
 * layers), 256 rows (TM doubled up to 8×8 per invocation, else 256 invocations), and BK 32 (half the
 * barriers). Those that do not fit the device are left out.
 */
export function gemmShapes(p: GemmProblem, sharedBytes: number, maxThreads: number): GemmShape[] {
  const base = baseTile(p.cout), tall = tallTile(base);
  // the first is the default: on an H200 the 256-row tile won every 64- to 256-channel V-Net layer, the
  // 128-row one every 16- and 32-channel layer
  const shapes: GemmShape[] = [
    ...(base.bn === 64 ? [tall] : []),
    base,
    ...(p.cout > 32 ? [{ bm: 64, bn: 64, bk: 16, tm: 8, tn: 8 }] : []),
    ...(base.bn === 64 ? [] : [tall]),
    { ...base, bk: 32 },
  ];
  return shapes.filter((s) => gemmFits(s, sharedBytes, maxThreads, p));
}

/** WGSL source of one implicit-GEMM pipeline. Bindings: src, w, [the epilogue's], dst (or the split-K partials). */
export function gemmSource(p: GemmProblem, t: GemmTiles): string {
  const L = gemmLayout(p, t);
  const [SD, SH, SW] = p.src, [DD, DH, DW] = p.dst, [KD, KH, KW] = p.k;
  const SV = SD * SH * SW, DV = DD * DH * DW, KV = KD * KH * KW;
  const M = p.n * DV;
  const T = L.threads, BS = t.bn / 4 + 1, LR = t.bm / T;
  const e = t.splits === 1 ? p.epilogue : noEpilogue;
  const tile = { bm: t.bm, bk: L.bk, tm: t.tm, tn: t.tn, bStride: BS };
  const tapTail = L.tg * Math.ceil(KV / L.tg) !== KV, ciTail = L.cc * L.ciChunks !== p.cin;
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };
  emitConvGemmEntry(emit, tile, { srcType: 'f32', epilogue: e, threads: T, rows: M, bn: t.bn, columnTiles: L.coTiles });
  // A loader rows: the voxel's coordinates in src before the tap offset, and its linear address there
  for (let q = 0; q < LR; q++) {
    emit(`  let lm${q} = m0 + tid + ${q * T}u;`);
    emit(`  let lok${q} = lm${q} < ${M}u;`);
    emit(`  let lj${q} = lm${q} % ${DV}u;`);
    emit(`  let zd${q} = i32(lj${q} / ${DH * DW}u) + ${p.base[0]}; let zh${q} = i32((lj${q} / ${DW}u) % ${DH}u) + ${p.base[1]}; let zw${q} = i32(lj${q} % ${DW}u) + ${p.base[2]};`);
    emit(`  let lin${q} = i32((lm${q} / ${DV}u) * ${p.cin * SV}u) + (zd${q} * ${SH} + zh${q}) * ${SW} + zw${q};`);
  }
  emitAccumulators(emit, t);
  emit(`  let c0 = split * ${t.perSplit}u;`);
  emit(`  let c1 = min(c0 + ${t.perSplit}u, ${L.chunks}u);`);
  emit(`  for (var c = c0; c < c1; c++) {`);
  emit(`    let tc = c / ${L.ciChunks}u; let cc0 = (c % ${L.ciChunks}u) * ${L.cc}u;`);
  for (let j = 0; j < L.tg; j++) {
    emit(`    {`);
    emit(`      let t = tc * ${L.tg}u + ${j}u;`);
    emit(`      let dd = ${p.step[0]} * i32(t / ${KH * KW}u); let dh = ${p.step[1]} * i32((t / ${KW}u) % ${KH}u); let dw = ${p.step[2]} * i32(t % ${KW}u);`);
    emit(`      let off = (dd * ${SH} + dh) * ${SW} + dw + i32(cc0 * ${SV}u);`);
    for (let q = 0; q < LR; q++) {
      const conds = [`lok${q}`, ...(tapTail ? [`t < ${KV}u`] : []),
        `u32(zd${q} + dd) < ${SD}u`, `u32(zh${q} + dh) < ${SH}u`, `u32(zw${q} + dw) < ${SW}u`];
      emit(`      let ok${q} = ${conds.join(' && ')};`);
      emit(`      let xo${q} = u32(lin${q} + off);`);
      for (let cl = 0; cl < L.cc; cl++) {
        const ok = ciTail ? `ok${q} && cc0 + ${cl}u < ${p.cin}u` : `ok${q}`;
        emit(`      { var a = 0.0; if (${ok}) { a = X[xo${q} + ${cl * SV}u]; } As[${(j * L.cc + cl) * t.bm}u + tid + ${q * T}u] = a; }`);
      }
    }
    emit(`    }`);
  }
  // B loader: k fastest; zero past the taps, the read channels and the written channels (stale data may follow w)
  emit(`    for (var e = tid; e < ${L.bk * (t.bn / 4)}u; e += ${T}u) {`);
  emit(`      let kk = e % ${L.bk}u; let c4 = e / ${L.bk}u;`);
  emit(`      let t = tc * ${L.tg}u + kk / ${L.cc}u; let ci = cc0 + kk % ${L.cc}u; let co = n0 + c4 * 4u;`);
  emit(`      var b = vec4<f32>(0.0);`);
  const kOk = [...(tapTail ? [`t < ${KV}u`] : []), ...(ciTail ? [`ci < ${p.cin}u`] : [])];
  emit(kOk.length ? `      if (${kOk.join(' && ')}) {` : `      {`);
  emit(`        let wb = ci * ${p.wIn}u + t;`);
  for (let q = 0; q < 4; q++) emit(`        if (co + ${q}u < ${p.cout}u) { b[${q}] = Wt[(co + ${q}u) * ${p.wOut}u + wb]; }`);
  emit(`      }`);
  emit(`      Bs[kk * ${BS}u + c4] = b;`);
  emit(`    }`);
  emitTileProduct(emit, tile);
  emit(`  }`);
  // write: row m = (n, v) goes to dst[n, c, v]
  emitChannelMajorStore(emit, tile, { rows: M, channels: p.cout, voxels: DV, splitCopies: t.splits > 1, epilogue: e });
  emit(`}`);
  return lines.join('\n');
}

/** The implicit GEMM's problem for a stride-1 forward (reads x) or input gradient (reads gy: the kernel flipped
 * and the channel axes swapped by the index mapping, no weight copy). */
function gemmProblem(g: ConvGeometry, op: 'forward' | 'backwardInput', epilogue: Epilogue): GemmProblem {
  const kv = g.k[0] * g.k[1] * g.k[2];
  return op === 'forward'
    ? { n: g.n, cin: g.ci, cout: g.co, src: g.in, dst: g.out, k: g.k, base: [-g.p[0], -g.p[1], -g.p[2]], step: g.dil, wIn: kv, wOut: g.ci * kv, epilogue }
    : { n: g.n, cin: g.co, cout: g.ci, src: g.out, dst: g.in, k: g.k, base: g.p, step: [-g.dil[0], -g.dil[1], -g.dil[2]], wIn: g.ci * kv, wOut: kv, epilogue };
}

/** The implicit GEMM's tile shapes for a convolution that fit the device (the default first; none unless stride 1). */
export function gemmShapesFor(ctx: PlanContext, op: 'forward' | 'backwardInput', g: ConvGeometry): GemmShape[] {
  const lim = limitsOf(ctx.rt);
  return g.s.every((s) => s === 1) ? gemmShapes(gemmProblem(g, op, noEpilogue), lim.shared, lim.threads) : [];
}

/** The implicit GEMM's plan for a tile shape (split-K plus a summing pass when the grid would be too small), or
 * null where the convolution is not stride 1 or the shape does not fit the device. */
export function gemmPlan(ctx: PlanContext, op: 'forward' | 'backwardInput', g: ConvGeometry, e: Epilogue, shape: GemmShape): Conv3dPlan | null {
  const p = gemmProblem(g, op, e);
  const lim = limitsOf(ctx.rt);
  if (!g.s.every((s) => s === 1) || !gemmFits(shape, lim.shared, lim.threads, p)) return null;
  const inner = p.dst[0] * p.dst[1] * p.dst[2];
  const o = { len: p.n * p.cout * inner, inner, channels: p.cout };
  const first = gemmLayout(p, shape);
  const t: GemmTiles = { ...shape, ...kSplits(ctx, first.chunks, first.bk, first.mTiles, first.coTiles, o.len) };
  const L = gemmLayout(p, t);
  const key = `conv3d:gemm:${JSON.stringify({ ...p, epilogue: epilogueKey(e) })}:${JSON.stringify(t)}`;
  return {
    describe: () => `implicit GEMM: ${t.bm}×${t.bn}×${L.bk} tiles (${L.tg} taps × ${L.cc} channels per chunk), ${t.tm}×${t.tn} per invocation, ${L.threads} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`,
    run: (rt, src, w, operands, out) => runTiled(rt, key, () => gemmSource(p, t), L.mTiles, L.coTiles, t.splits, src, w, e, operands, out, o),
  };
}
