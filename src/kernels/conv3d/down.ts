import type { ConvGeometry } from '../geometry.js';
import { emitAccumulators, emitChannelMajorStore, emitConvGemmEntry, emitTileProduct } from './gemm-tile.js';
import { epilogueKey, kSplits, limitsOf, noEpilogue, runTiled, type Conv3dPlan, type Epilogue, type PlanContext } from './plan.js';

/**
 * conv3d's forward when the kernel equals the stride, without padding or dilation (the V-Net's 2³/2 down
 * convolutions, and the input gradient of its transposed 2³/2 "up" convolutions). The receptive fields are then
 * disjoint boxes, so every input voxel feeds at most one output voxel (exactly one when the input size is a
 * multiple of the stride; the trailing voxels of the floor division are never read):
 *
 *   y[n, co, j] = bias[co] + Σ_{ci, r} x[n, ci, j·s + r] · w[co, ci, r]        (j: output voxel, r: tap)
 *
 * which is one plain GEMM  C[m, co] = Σ_kk A[m, kk] · B[kk, co]  with M = N·Do·Ho·Wo coarse voxels,
 * K = Ci·kd·kh·kw ordered (ci, rd, rh, rw) like the weights, N = Co, A[m, kk] = x[n, ci, j·s + r] (each x element
 * belongs to at most one (m, kk)) and B = w as stored ([Co, Ci·k³] row-major, i.e. B transposed). The output is
 * written once, coalesced along j for each co.
 *
 * A is gathered by kernel rows: a row (ci, rd, rh) holds the kw contiguous w-taps x[n, ci, jd·kd + rd,
 * jh·kh + rh, jw·kw … jw·kw + kw − 1], and neighbouring m (neighbouring jw) have neighbouring rows. Invocation
 * tid loads GEMM row m0 + tid, one kernel row at a time as kw/V vector loads (x bound as vecV<f32>, V = 4 or 2
 * when it divides both kw and W, so every row starts V-aligned): the lanes of a warp read one contiguous span.
 *
 * Tiles: BM = 128 rows × BN columns (64, or 32/16 when Co is small), BK = rows·kw with rows = ⌊16/kw⌋ kernel rows
 * per chunk (at most Ci·kd·kh), 128 invocations, each TM × TN outputs (8 × 8 with BN = 64); x is read once per
 * BN-wide co tile. A kw so wide that one kernel row per chunk does not fit the workgroup memory gets no tiles
 * (the caller falls back to the direct kernel). A is staged in workgroup memory as
 * [k][m] (one word per tap, written by consecutive invocations), B as [k][n/4] vec4 with a one-vec4 pad per k
 * row (its loaders walk k fastest, which reads w along its rows, and the pad spreads their stores over the
 * banks). Per k step an invocation does TM scalar A loads (conflict-free, interleaved rows) and TN/4 broadcast
 * vec4 B loads for TM·TN FMAs. Split-K (grid y = co tiles × splits) gives each split a range of chunks and
 * its own copy of the output; a second pass sums them and applies the epilogue (the bias, an evaluation-mode batch
 * norm, a ReLU; without splits it is fused in the store).
 */

/** The convolution's shapes (kernel = stride; x may extend past out·k, the remainder is not read): the GEMM's
 * K is ci·k³, its N co. */
export type DownProblem = Pick<ConvGeometry, 'n' | 'ci' | 'co' | 'in' | 'out' | 'k'> & { epilogue: Epilogue };

export interface DownTiles {
  bm: number;
  bn: number;
  /** kernel rows (ci, rd, rh) per K chunk: BK = rows·kw */
  rows: number;
  tm: number;
  tn: number;
  /** K splits; > 1 writes partial outputs summed by a second pass */
  splits: number;
  /** chunks per split */
  perSplit: number;
}

export interface DownLayout {
  bk: number;
  /** K chunks: ⌈Ci·kd·kh / rows⌉ */
  chunks: number;
  mTiles: number;
  coTiles: number;
  /** width of the x loads (floats) */
  vec: number;
  sharedBytes: number;
}

export const DOWN_THREADS = 128;

export function downLayout(p: DownProblem, t: DownTiles): DownLayout {
  const [OD, OH, OW] = p.out, [KD, KH, KW] = p.k;
  const bk = t.rows * KW;
  const vec = [4, 2, 1].find((v) => KW % v === 0 && p.in[2] % v === 0) ?? 1;
  return {
    bk,
    chunks: Math.ceil((p.ci * KD * KH) / t.rows),
    mTiles: Math.ceil((p.n * OD * OH * OW) / t.bm),
    coTiles: Math.ceil(p.co / t.bn),
    vec,
    sharedBytes: 4 * bk * t.bm + 16 * bk * (t.bn / 4 + 1),
  };
}

/** The tiles for a problem (one split), or null when even one kernel row per chunk exceeds `sharedBytes`. */
export function downTiles(p: DownProblem, sharedBytes: number): DownTiles | null {
  const bn = p.co >= 64 ? 64 : p.co > 16 ? 32 : 16;
  const tn = bn === 16 ? 4 : 8;
  const bm = 128;
  // (bm / tm) · (bn / tn) = DOWN_THREADS
  const tm = (bm * bn) / (tn * DOWN_THREADS);
  const kernelRows = p.ci * p.k[0] * p.k[1];
  const rows = Math.min(Math.max(1, Math.floor(16 / p.k[2])), kernelRows);
  const t: DownTiles = { bm, bn, rows, tm, tn, splits: 1, perSplit: Math.ceil(kernelRows / rows) };
  return downLayout(p, t).sharedBytes <= sharedBytes ? t : null;
}

/** WGSL source of one down-GEMM pipeline. Bindings: x, w, [the epilogue's], y (or the split-K partials). */
export function downSource(p: DownProblem, t: DownTiles): string {
  const L = downLayout(p, t);
  const [OD, OH, OW] = p.out, [KD, KH, KW] = p.k, [D, H, W] = p.in;
  const OV = OD * OH * OW, M = p.n * OV;
  const R = p.ci * KD * KH, K = R * KW;
  const MT = t.bm / t.tm, NT = t.bn / t.tn, BS = t.bn / 4 + 1;
  const V = L.vec, XT = V === 1 ? 'f32' : `vec${V}<f32>`;
  const e = t.splits === 1 ? p.epilogue : noEpilogue;
  const tile = { bm: t.bm, bk: L.bk, tm: t.tm, tn: t.tn, bStride: BS };
  if (MT * NT !== DOWN_THREADS) throw new Error(`conv3d down: tiles ${JSON.stringify(t)} do not give ${DOWN_THREADS} invocations`);
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };
  emitConvGemmEntry(emit, tile, { srcType: XT, epilogue: e, threads: DOWN_THREADS, rows: M, bn: t.bn, columnTiles: L.coTiles });
  // A loader: invocation tid gathers row m0 + tid; its receptive field's origin, in units of V floats
  emit(`  let lm = m0 + tid;`);
  emit(`  let lok = lm < ${M}u;`);
  emit(`  let lj = lm % ${OV}u;`);
  emit(`  let abase = (lm / ${OV}u) * ${(p.ci * D * H * W) / V}u + (lj / ${OH * OW}u) * ${(KD * H * W) / V}u + ((lj / ${OW}u) % ${OH}u) * ${(KH * W) / V}u + (lj % ${OW}u) * ${KW / V}u;`);
  emitAccumulators(emit, t);
  emit(`  let c0 = split * ${t.perSplit}u;`);
  emit(`  let c1 = min(c0 + ${t.perSplit}u, ${L.chunks}u);`);
  emit(`  for (var c = c0; c < c1; c++) {`);
  for (let i = 0; i < t.rows; i++) {
    emit(`    {`);
    emit(`      let g = c * ${t.rows}u + ${i}u;`);
    emit(`      let ok = lok && g < ${R}u;`);
    emit(`      let xo = abase + (g / ${KD * KH}u) * ${(D * H * W) / V}u + ((g / ${KH}u) % ${KD}u) * ${(H * W) / V}u + (g % ${KH}u) * ${W / V}u;`);
    for (let u = 0; u < KW / V; u++) {
      emit(`      var a${u} = ${XT}(0.0);`);
      emit(`      if (ok) { a${u} = X[xo + ${u}u]; }`);
      for (let e = 0; e < V; e++) emit(`      As[${(i * KW + u * V + e) * t.bm}u + tid] = a${u}${V === 1 ? '' : `[${e}]`};`);
    }
    emit(`    }`);
  }
  // B loader: k fastest, so that a warp reads runs of w along its rows
  emit(`    for (var e = tid; e < ${L.bk * (t.bn / 4)}u; e += ${DOWN_THREADS}u) {`);
  emit(`      let kk = e % ${L.bk}u; let c4 = e / ${L.bk}u;`);
  emit(`      let k = c * ${L.bk}u + kk; let co = n0 + c4 * 4u;`);
  emit(`      var b = vec4<f32>(0.0);`);
  emit(`      if (k < ${K}u) {`);
  for (let q = 0; q < 4; q++) emit(`        if (co + ${q}u < ${p.co}u) { b[${q}] = Wt[(co + ${q}u) * ${K}u + k]; }`);
  emit(`      }`);
  emit(`      Bs[kk * ${BS}u + c4] = b;`);
  emit(`    }`);
  emitTileProduct(emit, tile);
  emit(`  }`);
  // write: row m = (n, j) goes to y[n, co, j]
  emitChannelMajorStore(emit, tile, { rows: M, channels: p.co, voxels: OV, splitCopies: t.splits > 1, epilogue: e });
  emit(`}`);
  return lines.join('\n');
}

/** The down GEMM's plan for a forward (split-K plus a summing pass when the grid would be too small), or null
 * where it does not apply (kernel = stride, no padding, no dilation) or its tiles do not fit. */
export function downPlan(ctx: PlanContext, g: ConvGeometry, e: Epilogue): Conv3dPlan | null {
  if (![0, 1, 2].every((a) => g.k[a] === g.s[a] && g.p[a] === 0 && g.dil[a] === 1)) return null;
  const p: DownProblem = { n: g.n, ci: g.ci, co: g.co, in: g.in, out: g.out, k: g.k, epilogue: e };
  const tiles = downTiles(p, limitsOf(ctx.rt).shared);
  if (!tiles) return null;
  const inner = p.out[0] * p.out[1] * p.out[2];
  const o = { len: p.n * p.co * inner, inner, channels: p.co };
  const first = downLayout(p, tiles);
  const t: DownTiles = { ...tiles, ...kSplits(ctx, first.chunks, first.bk, first.mTiles, first.coTiles, o.len) };
  const L = downLayout(p, t);
  const key = `conv3d:down:${JSON.stringify({ ...p, epilogue: epilogueKey(e) })}:${JSON.stringify(t)}`;
  return {
    describe: () => `down GEMM: ${t.bm}×${t.bn}×${L.bk} tiles (${t.rows} kernel rows, x as ${L.vec}-float loads), ${t.tm}×${t.tn} per invocation, ${DOWN_THREADS} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`,
    run: (rt, x, w, operands, out) => runTiled(rt, key, () => downSource(p, t), L.mTiles, L.coTiles, t.splits, x, w, e, operands, out, o),
  };
}
