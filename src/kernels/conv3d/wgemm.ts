import type { ConvGeometry } from '../geometry.js';
import { emitAccumulators, emitChannelMajorStore, emitConvGemmEntry, emitTileProduct, type TileShape } from './gemm-tile.js';
import { baseTile, tallTile, type GemmShape, type GemmTiles } from './gemm.js';
import { kSplits, limitsOf, noEpilogue, runTiled, type Conv3dPlan, type PlanContext } from './plan.js';

/**
 * The implicit-GEMM kernel for conv3d's gradient w.r.t. the weight (any stride, padding, dilation and kernel
 * size; groups = 1):
 *
 *   gw[co, ci, t] = Σ_{n, v} x[n, ci, v·s − p + t·dil] · gy[n, co, v]        (v: output voxel, t: tap)
 *
 * is one GEMM C[r, co] = Σ_k A[r, k] · B[k, co] with M = Ci·kd·kh·kw rows r = (ci, t) (the weight's inner
 * axes, in its order), N = Co, and a long K = N·Do·Ho·Wo over k = (n, v): A[r, k] = x gathered on the fly (zero
 * outside x), B[k, co] = gy[n, co, v] as stored. C is gw viewed as [Co][rows], so the output is written
 * channel-major like a forward's output of one sample whose "voxels" are the rows.
 *
 * K is walked in chunks of BK consecutive k (output voxels, a chunk may straddle two samples). K's axis is the
 * contiguous one of both gy and x (for stride 1), so the loaders put VL = 8 neighbouring invocations on
 * neighbouring voxels: each of them decomposes its BK/VL voxels once per chunk into the input origin
 * v·s − p and the sample's base address, and then gathers its rows with three compares and one add each (a
 * row's tap offsets and channel address are computed once, before the K loop). Every load of VL lanes reads a
 * contiguous 32-byte span of x (stride 1) and of gy.
 *
 * Tiles: BM rows × BN output channels per workgroup, (BM/TM)·(BN/TN) invocations each holding TM × TN outputs;
 * A is staged as [k][r] with a row stride ≡ 32/VL (mod 32) words so that the loaders' stores (VL voxels ×
 * 32/VL rows per warp) hit distinct banks, B as [k][co/4] vec4 with a one-vec4 pad; the product, the entry and
 * the store are gemm-tile.ts's. Split-K (grid y = co tiles × splits, grid x and z the row tiles) gives each
 * split a contiguous range of chunks and its own copy of gw; a second pass sums them (plan.ts runTiled).
 */

/** neighbouring invocations that load neighbouring voxels (one 32-byte sector of float32) */
const VL = 8;

export interface WgemmLayout {
  threads: number;
  /** the GEMM's rows: Ci·kd·kh·kw */
  rows: number;
  /** As row stride (words) and Bs row stride (vec4) */
  aStride: number;
  bStride: number;
  /** K chunks of BK voxels over N·Do·Ho·Wo */
  chunks: number;
  mTiles: number;
  coTiles: number;
  sharedBytes: number;
}

export function wgemmLayout(g: ConvGeometry, t: GemmShape): WgemmLayout {
  const kv = g.k[0] * g.k[1] * g.k[2];
  const rows = g.ci * kv;
  const aStride = t.bm + ((((32 / VL - t.bm) % 32) + 32) % 32);
  const bStride = t.bn / 4 + 1;
  return {
    threads: (t.bm / t.tm) * (t.bn / t.tn),
    rows, aStride, bStride,
    chunks: Math.ceil((g.n * g.out[0] * g.out[1] * g.out[2]) / t.bk),
    mTiles: Math.ceil(rows / t.bm),
    coTiles: Math.ceil(g.co / t.bn),
    sharedBytes: 4 * t.bk * aStride + 16 * t.bk * bStride,
  };
}

/** Whether a tile shape is well formed for this kernel and fits the device (workgroup memory and invocations). */
export function wgemmFits(t: GemmShape, sharedBytes: number, maxThreads: number, g: ConvGeometry): boolean {
  const threads = (t.bm / t.tm) * (t.bn / t.tn);
  return t.tn % 4 === 0 && t.bn % t.tn === 0 && t.bm % t.tm === 0 && Number.isInteger(threads) && threads % VL === 0
    && t.bk % VL === 0 && threads <= maxThreads && wgemmLayout(g, t).sharedBytes <= sharedBytes;
}

/**
 * The tile shapes worth trying, the first the default: BN by the output channels (64, or 32/16 when fewer) and
 * 128 rows of 128 invocations (a 32-row tile first when the weight has at most 64 rows per output channel, e.g.
 * one input channel); then 256 rows (TM doubled up to 8×8 per invocation), 64×64 tiles for wide layers, and
 * BK 32 (half the barriers). Those that do not fit the device are left out.
 */
export function wgemmShapes(g: ConvGeometry, sharedBytes: number, maxThreads: number): GemmShape[] {
  const rows = g.ci * g.k[0] * g.k[1] * g.k[2];
  const base = baseTile(g.co);
  const shapes: GemmShape[] = [
    ...(rows <= 64 ? [{ bm: 32, bn: base.bn, bk: 32, tm: 2, tn: 4 }] : []),
    base,
    tallTile(base),
    ...(g.co > 32 ? [{ bm: 64, bn: 64, bk: 16, tm: 8, tn: 8 }] : []),
    { ...base, bk: 32 },
  ];
  return shapes.filter((s) => wgemmFits(s, sharedBytes, maxThreads, g));
}

/** WGSL source of one weight-gradient GEMM pipeline. Bindings: x, gy, gw (or the split-K partials). */
export function wgemmSource(g: ConvGeometry, t: GemmTiles): string {
  const L = wgemmLayout(g, t);
  const [D, H, W] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const XV = D * H * W, OV = OD * OH * OW, KV = KD * KH * KW;
  const K = g.n * OV;
  const T = L.threads, RG = T / VL; // loader row groups: invocation tid loads voxels tid % VL (+ VL·j), rows tid / VL (+ RG·j)
  const tile: TileShape = { bm: t.bm, aStride: L.aStride, bk: t.bk, tm: t.tm, tn: t.tn, bStride: L.bStride };
  const aRows = Math.ceil(t.bm / RG), bGroups = Math.ceil(t.bn / 4 / RG);
  const kTail = K % t.bk !== 0, rowTail = L.rows % t.bm !== 0, coTail = g.co % t.bn !== 0;
  const lines: string[] = [];
  const emit = (s: string): void => { lines.push(s); };
  emitConvGemmEntry(emit, tile, { srcType: 'f32', bName: 'GY', epilogue: noEpilogue, threads: T, rows: L.rows, bn: t.bn, columnTiles: L.coTiles });
  emit(`  let vl = tid % ${VL}u; let lr = tid / ${VL}u;`);
  // the rows r = (ci, t) this invocation gathers: tap offsets and the channel's address, fixed for the K loop
  for (let j = 0; j < aRows; j++) {
    emit(`  let r${j} = m0 + lr + ${j * RG}u;`);
    emit(`  let tap${j} = r${j} % ${KV}u;`);
    emit(`  let dd${j} = i32(tap${j} / ${KH * KW}u) * ${g.dil[0]}; let dh${j} = i32((tap${j} / ${KW}u) % ${KH}u) * ${g.dil[1]}; let dw${j} = i32(tap${j} % ${KW}u) * ${g.dil[2]};`);
    emit(`  let xo${j} = i32((r${j} / ${KV}u) * ${XV}u) + (dd${j} * ${H} + dh${j}) * ${W} + dw${j};`);
  }
  emitAccumulators(emit, t);
  emit(`  let c0 = split * ${t.perSplit}u;`);
  emit(`  let c1 = min(c0 + ${t.perSplit}u, ${L.chunks}u);`);
  emit(`  for (var c = c0; c < c1; c++) {`);
  for (let jv = 0; jv < t.bk / VL; jv++) {
    const kl = `vl + ${jv * VL}u`; // the voxel's place in the chunk
    emit(`    let k${jv} = c * ${t.bk}u + ${kl};`);
    if (kTail) emit(`    let kok${jv} = k${jv} < ${K}u;`);
    emit(`    let smp${jv} = k${jv} / ${OV}u; let v${jv} = k${jv} % ${OV}u;`); // (n0 is the tile's first channel)
    emit(`    let id${jv} = i32((v${jv} / ${OH * OW}u) * ${g.s[0]}u) - ${g.p[0]}; let ih${jv} = i32(((v${jv} / ${OW}u) % ${OH}u) * ${g.s[1]}u) - ${g.p[1]}; let iw${jv} = i32((v${jv} % ${OW}u) * ${g.s[2]}u) - ${g.p[2]};`);
    emit(`    let xb${jv} = i32(smp${jv} * ${g.ci * XV}u) + (id${jv} * ${H} + ih${jv}) * ${W} + iw${jv};`);
    emit(`    let gb${jv} = smp${jv} * ${g.co * OV}u + v${jv};`);
    // A: x gathered (zero outside x, past the rows and past K)
    for (let j = 0; j < aRows; j++) {
      const m = `lr + ${j * RG}u`;
      const conds = [...(kTail ? [`kok${jv}`] : []), ...(rowTail ? [`r${j} < ${L.rows}u`] : []),
        `u32(id${jv} + dd${j}) < ${D}u`, `u32(ih${jv} + dh${j}) < ${H}u`, `u32(iw${jv} + dw${j}) < ${W}u`];
      const store = `{ var a = 0.0; if (${conds.join(' && ')}) { a = X[u32(xb${jv} + xo${j})]; } As[(${kl}) * ${L.aStride}u + ${m}] = a; }`;
      emit(aRows * RG > t.bm ? `    if (${m} < ${t.bm}u) ${store}` : `    ${store}`);
    }
    // B: gy of four neighbouring output channels (zero past Co and past K; stale data may follow gy)
    for (let j = 0; j < bGroups; j++) {
      const c4 = `lr + ${j * RG}u`;
      emit(bGroups * RG > t.bn / 4 ? `    if (${c4} < ${t.bn / 4}u) {` : `    {`);
      emit(`      let co = n0 + (${c4}) * 4u;`);
      emit(`      var b = vec4<f32>(0.0);`);
      for (let q = 0; q < 4; q++) {
        const conds = [...(kTail ? [`kok${jv}`] : []), ...(coTail ? [`co + ${q}u < ${g.co}u`] : [])];
        const load = `b[${q}] = GY[gb${jv} + (co + ${q}u) * ${OV}u];`;
        emit(conds.length ? `      if (${conds.join(' && ')}) { ${load} }` : `      ${load}`);
      }
      emit(`      Bs[(${kl}) * ${L.bStride}u + ${c4}] = b;`);
      emit(`    }`);
    }
  }
  emitTileProduct(emit, tile);
  emit(`  }`);
  // gw[co, r]: channel-major with one "sample" of L.rows "voxels"
  emitChannelMajorStore(emit, tile, { rows: L.rows, channels: g.co, voxels: L.rows, splitCopies: t.splits > 1, epilogue: noEpilogue });
  emit(`}`);
  return lines.join('\n');
}

/** The weight GEMM's tile shapes that fit the device (the default first). */
export function wgemmShapesFor(ctx: PlanContext, g: ConvGeometry): GemmShape[] {
  const lim = limitsOf(ctx.rt);
  return wgemmShapes(g, lim.shared, lim.threads);
}

/** The weight GEMM's plan for a tile shape (split-K plus a summing pass), or null where the shape does not fit
 * the device. */
export function wgemmPlan(ctx: PlanContext, g: ConvGeometry, shape: GemmShape): Conv3dPlan | null {
  const lim = limitsOf(ctx.rt);
  if (!wgemmFits(shape, lim.shared, lim.threads, g)) return null;
  const first = wgemmLayout(g, shape);
  const o = { len: g.co * first.rows, inner: 1, channels: 1 };
  const t: GemmTiles = { ...shape, ...kSplits(ctx, first.chunks, shape.bk, first.mTiles, first.coTiles, o.len) };
  const L = wgemmLayout(g, t);
  const key = `conv3d:wgemm:${JSON.stringify(g)}:${JSON.stringify(t)}`;
  return {
    describe: () => `weight GEMM: ${t.bm}×${t.bn}×${t.bk} tiles (${L.rows} rows, ${L.chunks} chunks of ${t.bk} voxels), ${t.tm}×${t.tn} per invocation, ${L.threads} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`,
    run: (rt, x, gy, _epilogue, out) => runTiled(rt, key, () => wgemmSource(g, t), L.mTiles, L.coTiles, t.splits, x, gy, noEpilogue, [], out, o),
  };
}
